#!/usr/bin/env bash
# The demo job end to end: rows land in a SQLite file the stock sqlite3
# opens; a second run leaves the warehouse exactly as it was; status, dlq
# and the --json summary report it.
source "$(dirname "$0")/../lib.sh"
S=(--state "$T/state" --out "$T/out")
out=$("$CAIRN" run jobs/demo-cost.json "${S[@]}" 2>"$T/log")
[[ "$out" == "demo-cost: done. 2000 records loaded, 0 rejected"* ]] || fail "summary: $out"
expect_eq "$(sqlite3 "$T/out/warehouse.db" 'SELECT count(*) FROM cost_record')" 2000 rows
expect_eq "$(sqlite3 "$T/out/warehouse.db" "SELECT count(*) FROM cost_record WHERE resourceId <> lower(resourceId)")" 0 "lower-cased ids"
expect_eq "$(sqlite3 "$T/out/warehouse.db" "SELECT chargePeriodStartUtc FROM cost_record LIMIT 1")" "2026-11-01T00:00:00Z" timestamp
# Exact decimals: the CSV text and the stored value agree for every row.
csv_sum=$(python3 -c "
import csv,decimal
print(sum(decimal.Decimal(r['BilledCost']) for r in csv.DictReader(open('fixtures/demo/cost.csv'))))")
db_sum=$(sqlite3 "$T/out/warehouse.db" "SELECT group_concat(billedCost, ' ') FROM cost_record" | python3 -c "
import sys,decimal
print(sum(decimal.Decimal(x) for x in sys.stdin.read().split()))")
expect_eq "$db_sum" "$csv_sum" "billedCost sum"
grep -q '"msg":"run started' "$T/log" || fail "no JSON log line"
grep -q '"msg":"window loaded: 1 chunk"' "$T/log" || fail "window loaded line: $(grep 'window loaded' "$T/log")"
first=$(sqlite3 "$T/out/warehouse.db" .dump)
sqlite3 "$T/out/warehouse.db" ".backup $T/out/warehouse.db.first"

json=$("$CAIRN" run jobs/demo-cost.json "${S[@]}" --json 2>/dev/null)
expect_eq "$(jq -r '.records_loaded, .exit_code, .status' <<<"$json" | tr '\n' ' ')" "2000 0 done " "json summary"
expect_eq "$(sqlite3 "$T/out/warehouse.db" .dump)" "$first" "second run leaves the warehouse as it was"

status=$("$CAIRN" status demo-cost --state "$T/state")
grep -q "demo-cost .*done" <<<"$status" || fail "status: $status"
grep -q "last_seq=1 records=2000" <<<"$status" || fail "status windows: $status"
expect_eq "$("$CAIRN" status demo-cost --state "$T/state" --json | jq '.runs | length')" 2 "two runs"
expect_eq "$("$CAIRN" dlq demo-cost --state "$T/state" --json | jq length)" 0 "empty dlq"

# chunk_rows is honoured, and a --fresh rerun says what it discards.
"$CAIRN" run jobs/demo-cost.json "${S[@]}" --param chunk_rows=300 >/dev/null 2>&1
expect_eq "$(sqlite3 "$T/state/cairn.db" "SELECT count(*) FROM chunks")" 7 "2000 rows / 300"
set +e; CAIRN_TEST_KILL_AT=loaded:3 "$CAIRN" run jobs/demo-cost.json "${S[@]}" --param chunk_rows=300 >/dev/null 2>&1; set -e
# A refused run (exit 2: here a recording, which a file job cannot
# replay) changes no state, even with --fresh: the interrupted attempt
# keeps its checkpoints and no run is recorded.
before=$(sqlite3 "$T/state/cairn.db" "SELECT (SELECT group_concat(attempt || status) FROM attempts),
  (SELECT count(*) FROM chunks), (SELECT count(*) FROM runs), (SELECT group_concat(attempt) FROM windows)")
set +e
"$CAIRN" run jobs/demo-cost.json "${S[@]}" --param chunk_rows=300 --fresh \
  --replay "$T/no-such.har" >/dev/null 2>"$T/refused.log"; rc=$?
set -e
expect_eq "$rc" 2 "refused run: exit"
# ... and says why
grep -q -- "--replay $T/no-such.har: job demo-cost reads its file source without HTTP" "$T/refused.log" ||
  fail "refused run: $(cat "$T/refused.log")"
expect_eq "$(sqlite3 "$T/state/cairn.db" "SELECT (SELECT group_concat(attempt || status) FROM attempts),
  (SELECT count(*) FROM chunks), (SELECT count(*) FROM runs), (SELECT group_concat(attempt) FROM windows)")" \
  "$before" "refused run: state unchanged"
"$CAIRN" run jobs/demo-cost.json "${S[@]}" --param chunk_rows=300 --fresh 2>"$T/fresh.log" >/dev/null
grep -Eq 'discarded [345] chunk checkpoints' "$T/fresh.log" || fail "fresh: $(cat "$T/fresh.log")"
rows_now=$(sqlite3 "$T/out/warehouse.db" 'SELECT * FROM cost_record ORDER BY rowid')
expect_eq "$rows_now" "$(sqlite3 "$T/out/warehouse.db.first" 'SELECT * FROM cost_record ORDER BY rowid' 2>/dev/null || true)" "after --fresh"

# --fresh with no chunk checkpoint says so (not "discarded 0 ...").
"$CAIRN" run jobs/demo-cost.json "${S[@]}" --param chunk_rows=300 --fresh 2>"$T/fresh2.log" >/dev/null
grep -q -- '--fresh: starting over (no chunk checkpoint to discard)' "$T/fresh2.log" || fail "fresh again: $(cat "$T/fresh2.log")"

# --dry-run touches nothing.
"$CAIRN" run jobs/demo-cost.json --state "$T/dry" --out "$T/dry" --dry-run | has "nothing run" || fail dry-run
[ ! -e "$T/dry" ] || fail "dry-run created files"
# Disabled by environment: says so and exits 0.
CAIRN_DISABLE=other,demo-cost "$CAIRN" run jobs/demo-cost.json "${S[@]}" | has disabled || fail "CAIRN_DISABLE"
# A list written with blanks after its commas pauses every job it names.
CAIRN_DISABLE="other, demo-cost" "$CAIRN" run jobs/demo-cost.json "${S[@]}" 2>/dev/null | has disabled ||
  fail "CAIRN_DISABLE with a blank after the comma"
# --json prints one JSON object on every path, also when nothing ran.
expect_eq "$(CAIRN_DISABLE=demo-cost "$CAIRN" run jobs/demo-cost.json "${S[@]}" --json 2>/dev/null | jq -r '.status, .exit_code' | tr '\n' ' ')" \
  "disabled 0 " "--json when disabled"
expect_eq "$("$CAIRN" run jobs/demo-cost.json --state "$T/dry" --out "$T/dry" --dry-run --json | jq -r '.status, .exit_code' | tr '\n' ' ')" \
  "dry_run 0 " "--json on a dry run"
mkdir -p "$T/bad-state" && echo "not a database" > "$T/bad-state/cairn.db"
set +e
out=$("$CAIRN" run jobs/demo-cost.json --state "$T/bad-state" --out "$T/bad-out" --json 2>/dev/null); rc=$?
set -e
expect_eq "$rc $(jq -r '.status, .exit_code' <<<"$out" | tr '\n' ' ')" "3 failed 3 " "--json when the state cannot be opened"

# SQLite failures name their reason, and the operating system's where
# there is one, before the statement (cut): the message's bound used to
# cut a long CREATE TABLE before the reason.
touch "$T/a-file"
set +e
out=$("$CAIRN" run jobs/demo-cost.json --state "$T/nd-state" --out "$T/a-file" --log-level error 2>/dev/null); rc=$?
set -e
expect_eq "$rc" 3 "--out is a file: exit"
[[ "$out" == *"warehouse: $T/a-file/warehouse.db: unable to open database file: Not a directory (open)"* ]] || fail "--out is a file: $out"
set +e
out=$(trap '' XFSZ; ulimit -f 256; "$CAIRN" run jobs/demo-cost.json --state "$T/fz-state" --out "$T/fz-out" --log-level error 2>/dev/null); rc=$?
set -e
expect_eq "$rc" 3 "file size limit: exit"
[[ "$out" == *"warehouse: $T/fz-out/warehouse.db: disk I/O error (CREATE TABLE IF NOT EXISTS \"cost_record\"("*'...)' ]] || fail "file size limit: $out"
