#!/usr/bin/env bash
# One warehouse for every job: the demo job upserts cost_record, which
# needs a unique index on its key (recordId), and the EA jobs replace
# partitions of it, where an actual and an amortized export of the same
# usage hold the same recordIds side by side. The amortized export then
# broke the index: "UNIQUE constraint failed: cost_record.recordId", exit
# 3, "resumable", and every rerun failed the same way. It now stops with
# exit 2, saying why and what to do; done as it says, a rerun resumes.
source "$(dirname "$0")/../lib.sh"
S=(--state "$T/state" --out "$T/out")
EA=$(ls -d fixtures/cost-export/ea/*/*/*)
python3 tests/cli/cost_runs.py derive "$EA" "$T/AM" --type AmortizedCost
"$CAIRN" run jobs/demo-cost.json "${S[@]}" >/dev/null 2>&1 || fail "demo"
"$CAIRN" run jobs/azure-cost-export-ea.json --param input="$EA" "${S[@]}" >/dev/null 2>&1 || fail "EA actual"
set +e
"$CAIRN" run jobs/azure-cost-export-ea.json --param input="$T/AM" "${S[@]}" >"$T/am.out" 2>"$T/am.log"
rc=$?
set -e
expect_eq "$rc" 2 "EA amortized beside the upsert job's index"
has -F 'table cost_record has a unique index on its key ("cost_record_key", made by a job that upserts it), but replace_partition mode puts one key in several partitions' "$T/am.out" ||
  fail "summary: $(cat "$T/am.out")"
has -F 'drop the index (DROP INDEX "cost_record_key") if no job upserts the table, then run again' "$T/am.out" ||
  fail "no way out said: $(cat "$T/am.out")"
"$CAIRN" status azure-cost-export-ea "${S[@]}" | has 'failed  exit=2' || fail "status"
# Done as it says: the rerun resumes and loads both datasets side by side.
sqlite3 "$T/out/warehouse.db" 'DROP INDEX "cost_record_key"'
"$CAIRN" run jobs/azure-cost-export-ea.json --param input="$T/AM" "${S[@]}" >"$T/am2.out" 2>&1 || fail "rerun: $(cat "$T/am2.out")"
expect_eq "$(sqlite3 "$T/out/warehouse.db" "SELECT costDataset, count(*), count(DISTINCT recordId) FROM cost_record GROUP BY 1 ORDER BY 1")" \
  "$(printf 'ActualCost|11|11\nAmortizedCost|11|11\nFocusCost|2000|2000')" "rows"
# The upsert job cannot have its index back over those rows: it says so
# (exit 2; it said "UNIQUE constraint failed ... (CREATE TABLE ...)", exit
# 3), and loads into a warehouse of its own.
set +e
"$CAIRN" run jobs/demo-cost.json "${S[@]}" >"$T/demo.out" 2>&1
rc=$?
set -e
expect_eq "$rc" 2 "the upsert job after the index was dropped"
has -F 'upsert mode needs a unique index on the key of table cost_record, which holds rows with one key in several partitions' "$T/demo.out" ||
  fail "demo: $(cat "$T/demo.out")"
jq '.sinks[0] = {"name": "warehouse", "path": "demo.db"}' jobs/demo-cost.json >"$T/demo-own.json"
CAIRN_SINKS="$ROOT/sinks" "$CAIRN" run "$T/demo-own.json" --param input="$ROOT/fixtures/demo/cost.csv" "${S[@]}" >/dev/null 2>&1 ||
  fail "demo into a warehouse of its own"
expect_eq "$(sqlite3 "$T/out/demo.db" 'SELECT count(*) FROM cost_record')" 2000 "demo's own warehouse"
expect_eq "$(sqlite3 "$T/out/warehouse.db" 'PRAGMA integrity_check')" ok "integrity"
echo ok
