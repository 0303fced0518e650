#!/usr/bin/env bash
# `make install PREFIX=...` installs the binary, schemas, jobs and sinks, and
# the installed binary finds its schemas from anywhere; every subcommand has
# --help.
source "$(dirname "$0")/../lib.sh"
make -s -o "$CAIRN" install PREFIX="$T/prefix" BIN="$CAIRN" >/dev/null
for f in bin/cairn share/cairn/schemas/job.schema.json \
         share/cairn/schemas/contracts/cost_record.schema.json \
         share/cairn/jobs/demo-cost.json share/cairn/sinks/warehouse.json; do
  [ -e "$T/prefix/$f" ] || fail "not installed: $f"
done
( cd "$T" && ./prefix/bin/cairn validate prefix/share/cairn/jobs/demo-cost.json \
    prefix/share/cairn/sinks/warehouse.json ) >/dev/null || fail "installed validate"
out=$("$CAIRN" --help)
for c in run status validate verify mock dlq decrypt; do
  grep -q "^  $c " <<<"$out" || fail "--help lacks $c"
  help=$("$CAIRN" $c --help) || fail "$c --help exit"
  [[ "$help" == usage:\ cairn\ $c* ]] || fail "$c --help: ${help:0:60}"
done
expect_exit 2 "$CAIRN" nonsense 2>/dev/null
expect_exit 2 "$CAIRN" run 2>/dev/null
