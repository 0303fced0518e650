#!/usr/bin/env bash
# A day window in replace_partition mode replaces that day's partitions
# only, so a row dated outside the window would be loaded again by every
# rerun of the window. Such rows are quarantined with a reason naming the
# window; the rows inside it are replaced, never duplicated, however often
# the window is run again (--fresh included).
source "$(dirname "$0")/../lib.sh"
S=(--state "$T/state" --out "$T/out")
# The demo fixture (2000 rows, all on 2026-11-01), every other row moved to
# the next day.
python3 - fixtures/demo/cost.csv "$T/two-days.csv" <<'EOF'
import csv, sys
with open(sys.argv[1], newline='') as f, open(sys.argv[2], 'w', newline='') as o:
    r = csv.reader(f); w = csv.writer(o, lineterminator='\n')
    head = next(r); w.writerow(head)
    for i, row in enumerate(r):
        if i % 2:
            for c in ('ChargePeriodStart', 'ChargePeriodEnd'):
                k = head.index(c)
                row[k] = row[k].replace('2026-11-01T', '2026-11-02T')
        w.writerow(row)
EOF
jq '.name = "day-cost" | .window = "day" | .transform.max_reject_ratio = 0.6
    | .sinks = [{"name": "warehouse", "mode": "replace_partition"}]' \
  jobs/demo-cost.json > "$T/day-cost.json"
WH="$T/out/warehouse.db"
for i in 1 2 3; do
  extra=(); [ $i -lt 3 ] || extra=(--fresh)
  "$CAIRN" run "$T/day-cost.json" --param input="$T/two-days.csv" \
    --from 2026-11-01 --to 2026-11-02 "${S[@]}" "${extra[@]}" \
    >/dev/null 2>"$T/log.$i" || fail "run $i: $(tail -n 3 "$T/log.$i")"
  expect_eq "$(sqlite3 "$WH" "SELECT count(*), count(DISTINCT recordId),
      min(substr(chargePeriodStartUtc, 1, 10)),
      max(substr(chargePeriodStartUtc, 1, 10)) FROM cost_record")" \
    "1000|1000|2026-11-01|2026-11-01" "run $i: the window's rows, once"
  expect_eq "$("$CAIRN" dlq day-cost --json --state "$T/state" | jq length)" 1000 \
    "run $i: the next day's rows quarantined, once"
done
expect_eq "$("$CAIRN" dlq day-cost --json --state "$T/state" | jq -r '.[0].reasons')" \
  "chargePeriodStartUtc: 2026-11-02 is outside window 2026-11-01 (2026-11-01 up to 2026-11-02, exclusive), which a re-run would not replace" \
  "reason"
echo "window_period: ok"
