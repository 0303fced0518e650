#!/usr/bin/env bash
# A warehouse an older cairn loaded (tests/data/upgrade/warehouse-e4691c9.sql:
# FOCUS and EA amortized cost exports of May 2024, by the version before
# money of 16 to 19 digits was stored as REAL) upgraded by the next night's
# loads: a re-export of the FOCUS month and the EA actual export.
#  - the amortized rows nobody reloads are numbers too, each the double
#    nearest the text the old version stored (what a reload stores), so an
#    analyst's "billedCost < 0" finds every credit (it found 0 of the 2
#    among them before: TEXT sorts above every number);
#  - the re-export replaces the old version's FOCUS rows (nothing doubled);
#  - the conversion is done once, logged, and not again on the next run.
source "$(dirname "$0")/../lib.sh"
DB=$T/out/warehouse.db
mkdir -p "$T/out"
sqlite3 "$DB" < tests/data/upgrade/warehouse-e4691c9.sql
MONEY="billedCost, effectiveCost, listCost, consumedQuantity"
# rowid and the text of every money value the old version stored as TEXT
python3 - "$DB" "$MONEY" > "$T/texts.json" <<'EOF'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
cols = [c.strip() for c in sys.argv[2].split(",")]
print(json.dumps([[r[0], c, r[1]] for c in cols for r in db.execute(
    "SELECT rowid, %s FROM cost_record WHERE typeof(%s) = 'text'" % (c, c))]))
EOF
[ "$(jq length "$T/texts.json")" -gt 50 ] || fail "the fixture holds no text money"
credits() { # credits DATASET: how many billedCost < 0, by SQLite and exactly
  sqlite3 "$DB" "SELECT count(*) FROM cost_record WHERE costDataset = '$1' AND billedCost < 0"
}
expect_eq "$(credits AmortizedCost)" 0 "credits the old warehouse shows"

python3 tests/cli/cost_runs.py month "$T/may2" --seed 2 --run 2 --rows 30
load() { # load JOB RUN
  "$CAIRN" run "jobs/$1.json" --param input="$2" --state "$T/state" --out "$T/out" \
    >>"$T/stdout" 2>"$T/log" || fail "$1 $2: $(tail -n 3 "$T/log")"
}
load azure-cost-export "$T/may2/focus"
cp "$T/log" "$T/first.log"
load azure-cost-export-ea "$T/may2/ea-actual"

expect_eq "$(sqlite3 "$DB" "SELECT costDataset, count(*) FROM cost_record GROUP BY 1 ORDER BY 1")" \
  "ActualCost|30
AmortizedCost|40
FocusCost|30" "rows per dataset (the re-export replaced the old FOCUS rows)"
expect_eq "$(sqlite3 "$DB" "SELECT count(*) FROM cost_record WHERE typeof(billedCost) = 'text'
  OR typeof(effectiveCost) = 'text' OR typeof(listCost) = 'text' OR typeof(consumedQuantity) = 'text'")" 0 \
  "money stored as text"
# Each value the old version stored as text is now the double nearest it
# (Python's float() rounds correctly), and the credits among them count.
python3 - "$DB" "$T/texts.json" <<'EOF' || fail "converted values"
import decimal, json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
texts = json.load(open(sys.argv[2]))
left = 0
for rowid, col, text in texts:
    row = db.execute("SELECT %s, costDataset FROM cost_record WHERE rowid = ?" % col, (rowid,)).fetchone()
    if row is None or row[1] != "AmortizedCost":
        continue  # a FOCUS row the re-export replaced
    left += 1
    if type(row[0]) is not float or row[0] != float(text):
        sys.exit("rowid %d %s: %r stored for %r" % (rowid, col, row[0], text))
neg = sum(1 for rowid, col, text in texts if col == "billedCost" and decimal.Decimal(text) < 0)
if left < 20 or neg == 0:
    sys.exit("the fixture's amortized rows: %d text values, %d credits" % (left, neg))
EOF
want=$(sqlite3 "$DB" "SELECT count(*) FROM cost_record WHERE costDataset = 'AmortizedCost'
  AND CAST(billedCost AS TEXT) LIKE '-%' AND billedCost <> 0")
[ "$want" -gt 0 ] || fail "no credits among the amortized rows"
expect_eq "$(credits AmortizedCost)" "$want" "credits after the upgrade"
has -E 'cost_record: [0-9]+ rows held decimals a cairn from before 2026-11-28 stored as text; they are stored as numbers now' "$T/first.log" ||
  fail "no conversion logged: $(grep -v '"info"' "$T/first.log" | head -n 3)"
has 'stored as numbers now' "$T/log" && fail "converted a second time"
echo "ok: $(jq length "$T/texts.json") money values an older cairn stored as text are numbers after the upgrade; $want amortized credits found by billedCost < 0"
