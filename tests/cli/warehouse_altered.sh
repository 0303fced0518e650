#!/usr/bin/env bash
# A warehouse table altered by hand. A unique index of one's own, or a
# trigger that raises, that refuses a row: the run stops with exit 2
# saying a constraint cairn does not make was added. Before, the unique
# index was blamed on an upsert job's "cost_record_key" (which did not
# exist; "DROP INDEX cost_record_key" was the advice), and a trigger's
# refusal was a resumable sink error (exit 3) that every rerun met again.
# A dropped column comes back, and a plain index of one's own is kept
# and maintained.
source "$(dirname "$0")/../lib.sh"
S=(--state "$T/state" --out "$T/out")
DB="$T/out/warehouse.db"
J="$T/append.json"
jq --arg csv "$ROOT/fixtures/demo/cost.csv" '.source.path = $csv | .sinks = [{"name": "warehouse", "mode": "append"}]' \
  jobs/demo-cost.json >"$J"
export CAIRN_SINKS="$ROOT/sinks"
"$CAIRN" run "$J" "${S[@]}" >/dev/null 2>&1 || fail "first run"

sqlite3 "$DB" 'CREATE UNIQUE INDEX my_unique ON cost_record(resourceId, chargePeriodStartUtc, skuPriceId, chargeCategory)'
set +e; out=$("$CAIRN" run "$J" "${S[@]}" 2>/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "a unique index of one's own"
[[ "$out" == *"UNIQUE constraint failed: cost_record.resourceId, "*": table cost_record refused a row contract cost_record 1.1.0 allows: a unique index, trigger or constraint cairn does not make was added to it"* ]] ||
  fail "message: $out"
[[ "$out" == *cost_record_key* ]] && fail "blamed the upsert's index: $out"
sqlite3 "$DB" 'DROP INDEX my_unique'

sqlite3 "$DB" "CREATE TRIGGER no_more BEFORE INSERT ON cost_record BEGIN SELECT RAISE(ABORT, 'closed for loads'); END"
set +e; out=$("$CAIRN" run "$J" "${S[@]}" 2>/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "a trigger that raises"
[[ "$out" == *"closed for loads: table cost_record refused a row"* ]] || fail "message: $out"
sqlite3 "$DB" 'DROP TRIGGER no_more'

sqlite3 "$DB" 'ALTER TABLE cost_record DROP COLUMN tags; CREATE INDEX my_service ON cost_record(serviceName)'
"$CAIRN" run "$J" "${S[@]}" --fresh >/dev/null 2>"$T/log" || fail "run after the column went: $(tail -n 2 "$T/log")"
has 'added column tags' "$T/log" || fail "column not added back"
expect_eq "$(sqlite3 "$DB" 'SELECT count(*) FROM cost_record WHERE tags IS NOT NULL')" 2000 "rows with tags"
expect_eq "$(sqlite3 "$DB" "SELECT count(*) FROM cost_record INDEXED BY my_service WHERE serviceName >= ''")" \
  "$(sqlite3 "$DB" 'SELECT count(*) FROM cost_record')" "own index maintained"
echo "ok: a table altered by hand is said so, or taken as it is"
