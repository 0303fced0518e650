#!/usr/bin/env bash
# An attempt killed by an earlier cairn, whose contract was older (its
# chunks in the warehouse say cost_record 1.0.0, its table lacks the
# columns 1.1.0 added), is not resumed by this one: finishing the window
# under 1.1.0 would leave its first chunks' rows (and bundle parts) without
# the new fields and the rest with them, the bundle's manifest claiming
# 1.1.0 for all, and nothing said. The run refuses with exit 3 and says to
# rerun with --fresh, which loads the window again, all under 1.1.0: rows
# and bundle as an uninterrupted run's. A job whose only sink is the
# bundle (which records no version of its own) is refused the same way,
# from the versions the state store records; a store from before it
# recorded them gains the column and resumes.
source "$(dirname "$0")/../lib.sh"
P=(--param input=fixtures/demo/cost.csv --param chunk_rows=100)
TAR=out/evidence/demo-cost/demo-cost-all-19700101T000000Z.tar
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
[[ "$out" == *"rerun with --fresh"*"window all holds $n of its $n chunks (the first: chunk 1) made under contract cost_record 1.0.0"*"this run loads cost_record 1.1.0"* ]] ||
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

# The bundle alone: the state's chunks say 1.0.0.
mkdir -p "$T/jobs" "$T/sinks"
cp sinks/evidence.json "$T/sinks/"
jq --arg csv "$ROOT/fixtures/demo/cost.csv" '.name = "demo-bundle" | .sinks = ["evidence"] | .source.path = $csv' \
  jobs/demo-cost.json > "$T/jobs/demo-bundle.json"
B=(run "$T/jobs/demo-bundle.json" --param chunk_rows=100)
BTAR=out/evidence/demo-bundle/demo-bundle-all-19700101T000000Z.tar
"$CAIRN" "${B[@]}" --state "$T/bref/state" --out "$T/bref/out" >/dev/null 2>&1 || fail "uninterrupted bundle run"
S=(--state "$T/bup/state" --out "$T/bup/out")
set +e; CAIRN_TEST_KILL_AT=loaded:5 "$CAIRN" "${B[@]}" "${S[@]}" >/dev/null 2>&1; rc=$?; set -e
expect_eq "$rc" 137 "bundle job killed"
expect_eq "$(sqlite3 "$T/bup/state/cairn.db" "SELECT DISTINCT contract FROM chunks WHERE stage >= 2")" 1.1.0 \
  "version the state records"
sqlite3 "$T/bup/state/cairn.db" "UPDATE chunks SET contract = '1.0.0' WHERE contract IS NOT NULL"
set +e; out=$("$CAIRN" "${B[@]}" "${S[@]}" 2>/dev/null); rc=$?; set -e
expect_eq "$rc" 3 "bundle job resumed across the contract upgrade"
[[ "$out" == *"state $T/bup/state: window all holds "[56]" of its "[56]" chunks (the first: chunk 1) made under contract cost_record 1.0.0"*"rerun with --fresh"* ]] ||
  fail "bundle job message: $out"
[ ! -e "$T/bup/$BTAR" ] || fail "the refused run finished the bundle"
"$CAIRN" "${B[@]}" "${S[@]}" --fresh >/dev/null 2>&1 || fail "bundle job --fresh"
cmp -s "$T/bup/$BTAR" "$T/bref/$BTAR" || fail "bundle job's bundle after --fresh differs from an uninterrupted run's"

# A state store from before the versions were recorded: no column, no
# check (nothing to go by), the resume ends as an uninterrupted run.
S=(--state "$T/old/state" --out "$T/old/out")
set +e; CAIRN_TEST_KILL_AT=loaded:5 "$CAIRN" "${B[@]}" "${S[@]}" >/dev/null 2>&1; rc=$?; set -e
expect_eq "$rc" 137 "bundle job killed (old store)"
sqlite3 "$T/old/state/cairn.db" "ALTER TABLE chunks DROP COLUMN contract"
"$CAIRN" "${B[@]}" "${S[@]}" >/dev/null 2>&1 || fail "resume on a store without chunks.contract"
expect_eq "$(sqlite3 "$T/old/state/cairn.db" "SELECT count(*) FROM pragma_table_info('chunks') WHERE name = 'contract'")" 1 \
  "column added to the old store"
cmp -s "$T/old/$BTAR" "$T/bref/$BTAR" || fail "bundle after resuming on an old store differs"
echo "ok: $n chunks of cost_record 1.0.0 refused (warehouse and state), --fresh loaded the window as an uninterrupted run; an old store resumes"
