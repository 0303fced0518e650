#!/usr/bin/env bash
# A contract version with another x-cairn-key, upserted into a warehouse
# an earlier version made. The table's unique index (cost_record_key) was
# on the old key, CREATE UNIQUE INDEX IF NOT EXISTS kept it, and SQLite
# refused every upsert by the new key: "ON CONFLICT clause does not match
# any PRIMARY KEY or UNIQUE constraint (prepare)", exit 3, "run again to
# resume", which never helped. Now the index moves to the new key (logged)
# and the load goes on; a key its rows do not hold unique is refused with
# exit 2, saying why, and the old index is kept.
source "$(dirname "$0")/../lib.sh"
S=(--state "$T/state" --out "$T/out")
DB="$T/out/warehouse.db"
# schemas DIR VERSION KEY: a copy of the schemas whose cost_record has
# version VERSION and key KEY (comma-separated fields)
schemas() {
  cp -r schemas "$1"
  jq --arg v "$2" --arg k "$3" '."x-cairn-version" = $v | ."$id" |= sub("/[^/]*$"; "/" + $v)
      | ."x-cairn-key" = ($k | split(","))' schemas/contracts/cost_record.schema.json \
    >"$1/contracts/cost_record.schema.json"
}
index_sql() { sqlite3 "$DB" "SELECT sql FROM sqlite_master WHERE name = 'cost_record_key'"; }
"$CAIRN" run jobs/demo-cost.json "${S[@]}" >/dev/null 2>&1 || fail "first run"
expect_eq "$(index_sql)" 'CREATE UNIQUE INDEX "cost_record_key" ON "cost_record"("recordId")' "index of 1.1.0"

# a finer key: every row is unique under it, the index moves
schemas "$T/wide" 1.2.0 recordId,currency
set +e; CAIRN_SCHEMAS="$T/wide" "$CAIRN" run jobs/demo-cost.json "${S[@]}" >"$T/wide.out" 2>"$T/wide.log"; rc=$?; set -e
expect_eq "$rc" 0 "upsert under the new key ($(cat "$T/wide.out"))"
has -F 'key index cost_record_key moved from (recordId) to (recordId, currency), the key of contract cost_record 1.2.0' "$T/wide.log" ||
  fail "not logged: $(cat "$T/wide.log")"
expect_eq "$(index_sql)" 'CREATE UNIQUE INDEX "cost_record_key" ON "cost_record"("recordId", "currency")' "index of 1.2.0"
expect_eq "$(sqlite3 "$DB" 'SELECT count(*) FROM cost_record')" 2000 "rows (upserted, none added)"
CAIRN_SCHEMAS="$T/wide" "$CAIRN" run jobs/demo-cost.json "${S[@]}" >/dev/null 2>"$T/wide2.log" || fail "second run under 1.2.0"
has 'moved from' "$T/wide2.log" && fail "moved again"

# a coarser key the rows share: refused, the index as it was
schemas "$T/coarse" 1.3.0 currency
set +e; out=$(CAIRN_SCHEMAS="$T/coarse" "$CAIRN" run jobs/demo-cost.json "${S[@]}" 2>/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "upsert under a key the rows share"
[[ "$out" == *"table cost_record was upserted by the key (recordId, currency) of an earlier version of its contract, and holds rows that share a key of contract cost_record 1.3.0 (currency)"* ]] ||
  fail "message: $out"
expect_eq "$(index_sql)" 'CREATE UNIQUE INDEX "cost_record_key" ON "cost_record"("recordId", "currency")' "index kept"
echo "ok: upsert follows a contract's new key, or says why it cannot"
