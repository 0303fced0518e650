#!/usr/bin/env bash
# A reader holding a read transaction on the warehouse (a dashboard) does
# not fail a run: the window's checkpoint cannot truncate the WAL, so the
# sink syncs the WAL instead, warns, and the run exits 0. Before, every
# run failed with "checkpoint: database is locked" (exit 3) while the
# reader stayed.
source "$(dirname "$0")/../lib.sh"
S=(--state "$T/state" --out "$T/out")
"$CAIRN" run jobs/demo-cost.json "${S[@]}" >/dev/null 2>&1 || fail "first run"
hold_read "$T/out/warehouse.db" cost_record
start=$(date +%s)
set +e; "$CAIRN" run jobs/demo-cost.json "${S[@]}" --fresh 2>"$T/log" >/dev/null; rc=$?; set -e
expect_eq "$rc" 0 "exit code ($(tail -n 1 "$T/log"))"
[ $(($(date +%s) - start)) -lt 8 ] || fail "the run waited for the reader"
grep -q 'could not truncate it; synced the WAL instead' "$T/log" || fail "no warning: $(cat "$T/log")"
[ -s "$T/out/warehouse.db-wal" ] || fail "the WAL was truncated under the reader"
kill $READER; wait $READER 2>/dev/null || true
expect_eq "$(sqlite3 "$T/out/warehouse.db" 'SELECT count(*) FROM cost_record')" 2000 rows
"$CAIRN" run jobs/demo-cost.json "${S[@]}" --fresh 2>"$T/log" >/dev/null || fail "run without a reader"
grep -q 'synced the WAL instead' "$T/log" && fail "warned without a reader"
echo "ok: a reader does not fail a run"
