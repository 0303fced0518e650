#!/usr/bin/env bash
# `--keep-raw` keeps the raw pages a source spools; a source that reads its
# input again instead (a file, a cost export) spools none, and the flag was
# accepted and silently did nothing. It is still accepted (one set of flags
# may serve every job of a scheduler), with a one-line warning at start
# naming the job and its source; the run is otherwise the same (exit 0).
source "$(dirname "$0")/../lib.sh"
"$CAIRN" run jobs/demo-cost.json --keep-raw --state "$T/s" --out "$T/o" >/dev/null 2>"$T/log" ||
  fail "run with --keep-raw: $(tail -n 3 "$T/log")"
expect_eq "$(grep -c -- '--keep-raw' "$T/log")" 1 "one warning: $(cat "$T/log")"
grep -qF "\"level\":\"warn\",\"msg\":\"--keep-raw: job demo-cost's file source reads its input again rather than spooling raw pages, so there are none to keep; the flag does nothing for it\"" "$T/log" ||
  fail "warning: $(grep -- --keep-raw "$T/log")"
[ ! -e "$T/s/spool" ] || fail "a file source spooled"
# Without the flag, no warning.
"$CAIRN" run jobs/demo-cost.json --fresh --state "$T/s" --out "$T/o" >/dev/null 2>"$T/log2" || fail "run"
grep -q -- '--keep-raw' "$T/log2" && fail "warned without --keep-raw"
echo ok
