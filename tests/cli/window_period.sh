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

# A scheduled run (no --from/--to) first loads the windows earlier runs
# left open: the night of 2026-11-01 failed and nobody reran it that day;
# the next night loads it before its own day, instead of moving on and
# leaving a gap only `cairn status` showed.
jq '.name = "nightly" | .window = "day" | .transform.max_reject_ratio = 1
    | .sinks = [{"name": "warehouse", "mode": "replace_partition"}]' \
  jobs/demo-cost.json > "$T/nightly.json"
N=(--state "$T/n-state" --out "$T/n-out")
at() { date -u -d "$1" +%s; }
expect_exit 3 env CAIRN_TEST_NOW="$(at 2026-11-02T03:00:00Z)" CAIRN_TEST_FAULT=sink_load:1 \
  "$CAIRN" run "$T/nightly.json" "${N[@]}" --log-level warn >/dev/null 2>&1
CAIRN_TEST_NOW="$(at 2026-11-03T03:00:00Z)" "$CAIRN" run "$T/nightly.json" "${N[@]}" \
  >/dev/null 2>"$T/n.log" || fail "next night: $(tail -n 3 "$T/n.log")"
grep -q 'window 2026-11-01 was missed by an earlier run: loading it first' "$T/n.log" ||
  fail "no catch-up: $(grep msg "$T/n.log" | head -5)"
expect_eq "$(sqlite3 "$T/n-out/warehouse.db" "SELECT substr(chargePeriodStartUtc, 1, 10), count(*) FROM cost_record GROUP BY 1")" \
  "2026-11-01|2000" "the missed day loaded by the next night"
expect_eq "$("$CAIRN" status nightly --json --state "$T/n-state" | jq -r '[.windows[] | .window + "=" + .status] | join(" ")')" \
  "2026-11-01=loaded 2026-11-02=loaded" "windows after the catch-up"
CAIRN_TEST_NOW="$(at 2026-11-04T03:00:00Z)" "$CAIRN" run "$T/nightly.json" "${N[@]}" \
  >/dev/null 2>"$T/n3.log" || fail "third night"
! grep -q "missed by an earlier run" "$T/n3.log" || fail "a loaded window caught up again"
