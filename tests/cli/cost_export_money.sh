#!/usr/bin/env bash
# A FinOps month in the warehouse and the bundle, checked against the CSVs
# with exact decimals (tests/cli/cost_money.py): May 2024 written the way
# Azure writes costs (doubles in full, 9E-06 and 1.234E-7, credits, 0 /
# 0.00 / -0, reservation rows, huge quantities, two currencies: cost_runs.py
# month) as a FOCUS export and as EA actual and amortized exports of the
# same charges, loaded by the shipped jobs (plus the evidence sink), then a
# re-export of the month by both.
#  - every money value in the warehouse is a number (INTEGER or REAL) and
#    is the CSV's value; credits (billedCost < 0), max() and ORDER BY see
#    them all (a value of 16 or 17 digits used to be TEXT, which SQLite
#    sorts above every number);
#  - the bundle holds each cost as the CSV's text;
#  - the SQL of docs/connectors/azure-cost-export.md runs as written and
#    answers as the CSVs do;
#  - EA actual = FOCUS billed and EA amortized = FOCUS effective, per
#    subscription, exactly; after the re-export, each dataset's totals are
#    the re-export's.
source "$(dirname "$0")/../lib.sh"
runs() { python3 tests/cli/cost_runs.py "$@"; }
money() { python3 tests/cli/cost_money.py "$@" || fail "$1"; }
runs month "$T/may"
runs month "$T/may2" --seed 2 --run 2 --rows 2900
mkdir -p "$T/jobs" && cp -r sinks "$T/"
for j in azure-cost-export azure-cost-export-ea; do
  jq '.sinks += ["evidence"]' "jobs/$j.json" > "$T/jobs/$j.json"
done
load() { # load JOB RUN
  "$CAIRN" run "$T/jobs/$1.json" --param input="$2" --state "$T/state" --out "$T/out" \
    >>"$T/stdout" 2>>"$T/log" || fail "$1 $2: $(tail -n 3 "$T/log")"
}
DB=$T/out/warehouse.db
ndjson() { # ndjson JOB: the records of the job's bundle (its only one), in order
  tar -xOf "$T/out/evidence/$1/$1-all-"*.tar --wildcards 'parts/*' | zstd -dc
}

load azure-cost-export "$T/may/focus"
money stored "$DB" "$T/may/focus" FocusCost
money compare "$DB" "$T/may/focus" FocusCost
ndjson azure-cost-export > "$T/focus.ndjson"
money bundle "$T/focus.ndjson" "$T/may/focus"
# The docs' command for the exact total of the bundle, run as written
# (from the directory that holds out/): the CSV's exact total.
doc_cmd=$(python3 -c 'import re, sys
s = open("docs/connectors/azure-cost-export.md").read()
s = s[s.index("## Money questions in SQL"):]
print(re.search(r"```sh\n(.*?)```", s, re.S).group(1))' | sed 's/^  //')
expect_eq "$(cd "$T" && bash -c "set -o pipefail; $doc_cmd")" \
  "$(python3 -c 'import decimal, sys; sys.path.insert(0, "tests/cli"); sys.dont_write_bytecode = True
from cost_runs import read_run
print(sum(decimal.Decimal(r["BilledCost"]) for r in read_run(sys.argv[1])[2]))' "$T/may/focus")" \
  "the docs' exact total of the bundle"
load azure-cost-export-ea "$T/may/ea-actual"
money stored "$DB" "$T/may/ea-actual" ActualCost
money compare "$DB" "$T/may/ea-actual" ActualCost
load azure-cost-export-ea "$T/may/ea-amortized"
money stored "$DB" "$T/may/ea-amortized" AmortizedCost
expect_eq "$(sqlite3 "$DB" "SELECT DISTINCT typeof(billedCost) FROM cost_record
  UNION SELECT typeof(effectiveCost) FROM cost_record ORDER BY 1")" "integer
real" "money columns hold numbers only"
money docs "$DB" docs/connectors/azure-cost-export.md "$T/may/focus" "$T/may/ea-actual" \
  "$T/may/ea-amortized"
# The same charges through EA and FOCUS: per subscription, to the last digit.
both=$(sqlite3 "$DB" "WITH t AS (SELECT costDataset d, subscriptionId s,
    decimal_sum(billedCost) b, decimal_sum(effectiveCost) e FROM cost_record GROUP BY 1, 2)
  SELECT count(*), sum(f.b = a.b), sum(f.e = m.e) FROM t f
  JOIN t a ON a.s = f.s AND a.d = 'ActualCost' JOIN t m ON m.s = f.s AND m.d = 'AmortizedCost'
  WHERE f.d = 'FocusCost'")
expect_eq "$both" "8|8|8" "EA actual = FOCUS billed, EA amortized = FOCUS effective"

# The month re-exported (other amounts, fewer rows): each dataset's totals
# are the re-export's, exactly.
load azure-cost-export "$T/may2/focus"
load azure-cost-export-ea "$T/may2/ea-actual"
load azure-cost-export-ea "$T/may2/ea-amortized"
money totals "$DB" FocusCost "$T/may2/focus"
money totals "$DB" ActualCost "$T/may2/ea-actual"
money totals "$DB" AmortizedCost "$T/may2/ea-amortized"
expect_eq "$(sqlite3 "$DB" "SELECT costDataset, count(*) FROM cost_record GROUP BY 1 ORDER BY 1")" \
  "ActualCost|2900
AmortizedCost|2900
FocusCost|2900" "the re-export's rows only"
money stored "$DB" "$T/may2/focus" FocusCost
