#!/usr/bin/env bash
# Two jobs started together on a warehouse an older contract made (a
# column the contract has since added is missing): both add the column
# when they open the sink. The second ALTER TABLE used to fail its run
# ("duplicate column name: listCost", exit 3; 15 of 20 tries); the column
# is now checked for again inside a write transaction, so both load.
source "$(dirname "$0")/../lib.sh"
"$CAIRN" run jobs/demo-cost.json --state "$T/s0" --out "$T/o0" >/dev/null 2>&1 || fail "first load"
# The table as an older contract made it: without two of today's columns.
sqlite3 "$T/o0/warehouse.db" "ALTER TABLE cost_record DROP COLUMN tags; ALTER TABLE cost_record DROP COLUMN listCost"
jq '.name = "demo-a"' jobs/demo-cost.json >"$T/demo-a.json"
jq '.name = "demo-b"' jobs/demo-cost.json >"$T/demo-b.json"
export CAIRN_SINKS="$ROOT/sinks"
PI=(--param "input=$ROOT/fixtures/demo/cost.csv")
for i in $(seq 20); do
  d="$T/t$i"; mkdir -p "$d"; cp -r "$T/o0" "$d/out"
  C=(--state "$d/state" --out "$d/out")
  "$CAIRN" run "$T/demo-a.json" "${C[@]}" "${PI[@]}" >/dev/null 2>"$d/a.log" &
  a=$!
  rb=0; "$CAIRN" run "$T/demo-b.json" "${C[@]}" "${PI[@]}" >/dev/null 2>"$d/b.log" || rb=$?
  ra=0; wait $a || ra=$?
  [ $ra -eq 0 ] && [ $rb -eq 0 ] || fail "try $i: exits $ra/$rb: $(grep -h '"error"' "$d/a.log" "$d/b.log")"
  expect_eq "$(sqlite3 "$d/out/warehouse.db" "SELECT count(*) FROM pragma_table_info('cost_record') WHERE name IN ('tags', 'listCost')")" 2 "columns, try $i"
  grep -q 'added column listCost' "$d/a.log" "$d/b.log" || fail "try $i: no 'added column' line"
  expect_eq "$(sqlite3 "$d/out/warehouse.db" "SELECT count(*), count(listCost) FROM cost_record")" "2000|2000" "rows, try $i"
  rm -rf "$d"
done
echo "ok: 20 pairs of jobs upgraded one warehouse together"
