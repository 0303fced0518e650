#!/usr/bin/env bash
# Another program switched the warehouse out of WAL mode between runs
# (PRAGMA journal_mode=DELETE) and holds a read transaction on it. Out of
# WAL mode that reader keeps cairn from switching the database back: the
# run waits its 10 s and stops with exit 3. Before, the message blamed a
# write transaction ("another connection held it for more than the 10 s
# cairn waits (a VACUUM, a restore, a sqlite3 session with an open write
# transaction)"), which nobody held; now it says the database is in
# journal mode delete and a reader holds off writers. Once the reader is
# done, a run switches the database back to WAL and loads.
source "$(dirname "$0")/../lib.sh"
S=(--state "$T/state" --out "$T/out")
DB="$T/out/warehouse.db"
"$CAIRN" run jobs/demo-cost.json "${S[@]}" >/dev/null 2>&1 || fail "first run"
expect_eq "$(sqlite3 "$DB" 'PRAGMA journal_mode=DELETE')" delete "switched out of WAL"
hold_read "$DB" cost_record
set +e; out=$("$CAIRN" run jobs/demo-cost.json "${S[@]}" --fresh 2>/dev/null); rc=$?; set -e
expect_eq "$rc" 3 "exit code"
[[ "$out" == *"warehouse: $DB: the database is in journal mode delete, not WAL (another program switched it)"*"a reader's open read transaction"*"holds off every writer"* ]] ||
  fail "message: $out"
kill "$READER"; wait "$READER" 2>/dev/null || true
"$CAIRN" run jobs/demo-cost.json "${S[@]}" >/dev/null 2>&1 || fail "run after the reader"
expect_eq "$(sqlite3 "$DB" 'PRAGMA journal_mode')" wal "journal mode after the run"
expect_eq "$(sqlite3 "$DB" 'SELECT count(*) FROM cost_record')" 2000 rows
echo "ok: a warehouse switched out of WAL under a reader is said so"
