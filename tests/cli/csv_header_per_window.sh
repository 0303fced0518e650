#!/usr/bin/env bash
# Each window's CSV is mapped by its own header. A day-windowed file job
# whose files changed column order from one day to the next (a vendor's
# export adding or moving a column) used to load the second day's rows
# through the first day's column positions, silently: each window opens
# its source anew, whose first file's header had the same id as the last
# window's (its index + 1), so the run's transform kept its binding.
source "$(dirname "$0")/../lib.sh"
IN=tests/data/newcomer/saas-invoices.csv
mkdir -p "$T/in/2024-05-01T00:00:00Z" "$T/in/2024-05-02T00:00:00Z"
# Day 1 as shipped; day 2 with Vendor and Product swapped, and a date of
# its own (rows outside the window are rejects).
python3 - "$IN" "$T/in" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
h = rows[0]
v, p, b, e = (h.index(c) for c in ("Vendor", "Product", "Billing Date", "Period End"))
for day, row, swap in (("01", rows[1], False), ("02", rows[2], True)):
    hh, rr = list(h), list(row)
    rr[b] = rr[e] = "05/%s/2024" % day
    if swap:
        for x in (hh, rr):
            x[v], x[p] = x[p], x[v]
    w = csv.writer(open("%s/2024-05-%sT00:00:00Z/x.csv" % (sys.argv[2], day), "w", newline=""))
    w.writerow(hh)
    w.writerow(rr)
PY
jq --arg in "$T/in" '.name = "invoices-daily" | .window = "day" |
    .source.path = $in + "/${window.start}/x.csv"' \
  tests/data/newcomer/saas-invoices.json > "$T/job.json"
"$CAIRN" run "$T/job.json" --from 2024-05-01 --to 2024-05-03 --state "$T/state" \
  --out "$T/out" >/dev/null 2>"$T/log" || fail "run: $(tail -n 3 "$T/log")"
expect_eq "$(sqlite3 "$T/out/warehouse.db" \
  'SELECT billingAccountId, serviceName FROM cost_record ORDER BY chargePeriodStartUtc')" \
  "Atlassian|Jira Software
Atlassian|Confluence" "each day's columns by its own header"
