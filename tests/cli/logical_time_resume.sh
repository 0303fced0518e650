#!/usr/bin/env bash
# A job without windows takes its logical time from its first page's date
# (an HTTP Date, a cost export's submittedTime): its bundle is named by
# it and its manifest says it (docs/evidence.md). The time was written
# after chunk 1's checkpoint, so a run stopped between the two (killed,
# or that write failing) resumed chunk 1 from its checkpoint without the
# time: the bundle came out as ...-19700101T000000Z.tar, logical_time
# 1970-01-01, beside the 2024-03-07 an uninterrupted run writes. The
# write that fails here is real: a trigger refuses it once.
source "$(dirname "$0")/../lib.sh"
source tests/data/connectors/entra-users.env
export CAIRN_TEST_FAST_RETRY=1
jq '.sinks = ["warehouse", "evidence"]' jobs/entra-users.json >"$T/job.json"
run() { # DIR
  "$CAIRN" run "$T/job.json" --replay fixtures/entra-users.har "${PARAMS[@]}" \
    --state "$1/state" --out "$1/out" >>"$1/stdout" 2>>"$1/log"
}
TAR=out/evidence/entra-users/entra-users-all-20240307T020000Z.tar

mkdir -p "$T/ref"
run "$T/ref" || fail "reference run: $(tail -n 3 "$T/ref/log")"
[ -f "$T/ref/$TAR" ] || fail "the reference bundle is not $TAR: $(ls -R "$T/ref/out/evidence")"

d="$T/resumed"; mkdir -p "$d"
"$CAIRN" run jobs/demo-cost.json --state "$d/state" --out "$d/demo" >/dev/null 2>&1 || fail "demo run"
sqlite3 "$d/state/cairn.db" "CREATE TRIGGER no_time BEFORE UPDATE OF logical_time ON windows WHEN NEW.logical_time IS NOT NULL BEGIN SELECT RAISE(ABORT, 'disk I/O error (injected)'); END"
rc=0; run "$d" || rc=$?
expect_eq "$rc" 3 "exit code when the logical time cannot be written"
sqlite3 "$d/state/cairn.db" "DROP TRIGGER no_time"
run "$d" || fail "rerun: $(tail -n 3 "$d/log")"
expect_eq "$(ls "$d/out/evidence/entra-users")" "$(basename "$TAR")" "bundles of the resumed run"
expect_eq "$(sha256sum <"$d/$TAR")" "$(sha256sum <"$T/ref/$TAR")" "bundle bytes"
expect_eq "$(sqlite3 "$d/state/cairn.db" "SELECT logical_time FROM windows WHERE job='entra-users'")" \
  "$(sqlite3 "$T/ref/state/cairn.db" "SELECT logical_time FROM windows WHERE job='entra-users'")" "window's logical time"
echo "ok: a resumed window keeps its first page's logical time"
