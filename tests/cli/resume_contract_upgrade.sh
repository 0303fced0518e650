#!/usr/bin/env bash
# An attempt killed by an earlier cairn, whose contract was older (its
# chunks in the warehouse say cost_record 1.0.0, its table lacks the
# columns 1.1.0 added), is not resumed by this one: finishing the window
# under 1.1.0 would leave its first chunks' rows (and bundle parts) without
# the new fields and the rest with them, the bundle's manifest claiming
# 1.1.0 for all, and nothing said. The run refuses with exit 3 and says to
# rerun with --fresh, which loads the window again, all under 1.1.0: rows
# and bundle as an uninterrupted run's.
source "$(dirname "$0")/../lib.sh"
P=(--param input=fixtures/demo/cost.csv --param chunk_rows=100)
TAR=out/evidence/demo-cost/demo-cost-all.tar
"$CAIRN" run jobs/demo-cost.json --state "$T/ref/state" --out "$T/ref/out" "${P[@]}" >/dev/null 2>&1 ||
  fail "uninterrupted run"

S=(--state "$T/up/state" --out "$T/up/out")
set +e; CAIRN_TEST_KILL_AT=loaded:5 "$CAIRN" run jobs/demo-cost.json "${S[@]}" "${P[@]}" >/dev/null 2>&1; rc=$?; set -e
expect_eq "$rc" 137 "killed"
# The warehouse as cost_record 1.0.0's cairn left it: no costScope or
# costDataset column, its chunks marked with that version.
sqlite3 "$T/up/out/warehouse.db" "ALTER TABLE cost_record DROP COLUMN costScope;
  ALTER TABLE cost_record DROP COLUMN costDataset;
  UPDATE _cairn_chunks SET contract = '1.0.0' WHERE job = 'demo-cost'"
n=$(sqlite3 "$T/up/out/warehouse.db" "SELECT count(*) FROM _cairn_chunks")

set +e; out=$("$CAIRN" run jobs/demo-cost.json "${S[@]}" "${P[@]}" 2>/dev/null); rc=$?; set -e
expect_eq "$rc" 3 "resume across the contract upgrade"
[[ "$out" == *"rerun with --fresh"*"window all holds $n of its $n chunks (the first: chunk 1) loaded under contract cost_record 1.0.0"*"this run loads cost_record 1.1.0"* ]] ||
  fail "message: $out"
expect_eq "$(sqlite3 "$T/up/out/warehouse.db" "SELECT count(*) FROM _cairn_chunks WHERE contract = '1.1.0'")" 0 \
  "chunks loaded by the refused run"

"$CAIRN" run jobs/demo-cost.json "${S[@]}" "${P[@]}" --fresh >/dev/null 2>&1 || fail "--fresh"
cols=$(sqlite3 "$T/ref/out/warehouse.db" "SELECT group_concat(quote(name), ',') FROM pragma_table_info('cost_record')")
rows() { sqlite3 "$1/out/warehouse.db" "SELECT $cols FROM cost_record ORDER BY recordId" | sha256sum; }
expect_eq "$(rows "$T/up")" "$(rows "$T/ref")" "rows after --fresh"
expect_eq "$(sqlite3 "$T/up/out/warehouse.db" "SELECT count(*) FROM cost_record WHERE costDataset IS NULL")" 0 \
  "rows without the 1.1.0 field"
cmp -s "$T/up/$TAR" "$T/ref/$TAR" || fail "bundle after --fresh differs from an uninterrupted run's"
echo "ok: $n chunks of cost_record 1.0.0 refused, --fresh loaded the window as an uninterrupted run"
