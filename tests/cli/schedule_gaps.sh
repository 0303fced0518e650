#!/usr/bin/env bash
# Nights with no run at all leave no gap (docs/jobs.md, `window`): a day
# job of the Cost Management Query connector, replayed, scheduled by a
# cron in Europe/Berlin at 01:30 local time. Its run loads the last
# complete UTC day, which is the day before yesterday in summer time
# (23:30 UTC) and yesterday in winter time (00:30 UTC): the night the
# clocks go back (31 Oct 2027) skips a UTC day, which the next night loads
# first. So do the nights after the host was off across New Year and
# across 29 Feb 2028, and the night after a job paused by CAIRN_DISABLE;
# --dry-run names them first. A scheduled run with --fresh loads only its
# own day, and a job whose only loads were backfills does not catch up
# from them. The warehouse ends with every day once.
source "$(dirname "$0")/../lib.sh"
cost_daily 2027-06-01 2028-03-10
WH="$T/out/warehouse.db"
# nightly DATE [ARGS]: the cron run of DATE at 01:30 in Berlin
nightly() {
  local d=$1; shift
  CAIRN_TEST_NOW=$(TZ=Europe/Berlin date -d "$d 01:30" +%s) \
    "$CAIRN" run "$T/daily.json" "${P[@]}" "$@" 2>>"$T/log"
}
loaded() { # the loaded days from FROM to TO (inclusive) that are missing
  local d=$1 miss=""
  while [[ ! "$d" > "$2" ]]; do
    [ "$(sqlite3 "$T/state/cairn.db" "SELECT status FROM windows WHERE
      job='cost-daily' AND window='$d'")" = loaded ] || miss+="$d "
    d=$(date -u -d "$d + 1 day" +%F)
  done
  echo "$miss"
}

# A backfill long before the schedule starts is not caught up from.
"$CAIRN" run "$T/daily.json" "${P[@]}" --from 2027-06-01 --to 2027-06-03 >/dev/null 2>>"$T/log" ||
  fail "backfill: $(tail -n 2 "$T/log")"
expect_eq "$(nightly 2027-10-20 --json | jq -c '[.windows, .windows_skipped]')" "[1,0]" \
  "the first scheduled run after an old backfill"

# The autumn clock change: 30 Oct is no night's "yesterday".
for d in 2027-10-21 2027-10-22 2027-10-23 2027-10-24 2027-10-25 2027-10-26 \
         2027-10-27 2027-10-28 2027-10-29 2027-10-30 2027-10-31 2027-11-01; do
  nightly $d >/dev/null || fail "night $d: $(tail -n 2 "$T/log")"
done
grep -q 'window 2027-10-30 was missed by an earlier run: loading it first' "$T/log" ||
  fail "the day the clocks went back: $(tail -n 3 "$T/log")"
expect_eq "$(loaded 2027-10-18 2027-10-31)" "" "days missing around the clock change"

# The host off from 31 Dec to 2 Jan: the night of 3 Jan loads 30 Dec to 1 Jan
# before its own day (2 Jan); its preview says so and changes nothing.
for d in 2027-12-28 2027-12-29 2027-12-30; do
  nightly $d >/dev/null || fail "night $d: $(tail -n 2 "$T/log")"
done
before=$(sqlite3 "$T/state/cairn.db" .dump)
expect_eq "$(nightly 2028-01-03 --dry-run --json | jq -r .message)" \
  "would run 4 windows (2027-12-30 .. 2028-01-02; the first 3 missed by an earlier run) from http source into warehouse(sqlite) as cost_record; nothing run." \
  "dry run after the host was off"
expect_eq "$(sqlite3 "$T/state/cairn.db" .dump)" "$before" "the dry run changed the state"
expect_eq "$(nightly 2028-01-03 --json | jq -c '[.status, .windows]')" '["done",4]' "night after New Year"
# (1 Nov to 26 Dec had no scheduled run either: the gap is loaded by the
# first night after it, 28 Dec)
expect_eq "$(loaded 2027-10-18 2028-01-01)" "" "days missing across New Year"

# Paused with CAIRN_DISABLE over 29 Feb, then a night with --fresh, which
# loads its own day only: 27 Feb to 1 Mar are left to a backfill.
nightly 2028-02-27 >/dev/null || fail "night 2028-02-27: $(tail -n 2 "$T/log")"
for d in 2028-02-28 2028-02-29 2028-03-01 2028-03-02; do
  CAIRN_DISABLE=cost-daily nightly $d >/dev/null || fail "disabled night $d"
done
expect_eq "$(nightly 2028-03-03 --fresh --json | jq -c '[.windows]')" '[1]' "--fresh: its own day"
expect_eq "$(loaded 2028-02-25 2028-03-02)" "2028-02-27 2028-02-28 2028-02-29 2028-03-01 " \
  "days --fresh left"
expect_eq "$(nightly 2028-03-04 --json | jq -c '[.status, .windows]')" '["done",1]' \
  "the night after --fresh (its newest loaded day is the day before its own)"
expect_eq "$(loaded 2028-02-25 2028-03-03)" "2028-02-27 2028-02-28 2028-02-29 2028-03-01 " \
  "a gap before the newest loaded day is left to a backfill"
"$CAIRN" run "$T/daily.json" "${P[@]}" --from 2028-02-27 --to 2028-03-02 >/dev/null 2>>"$T/log" ||
  fail "backfill: $(tail -n 2 "$T/log")"
expect_eq "$(loaded 2027-10-18 2028-03-03)" "" "days missing at the end"

# Every day once, with the recording's rows.
python3 - "$T/day.har.expected" > "$T/want" <<'EOF'
import sys
for line in open(sys.argv[1]):
    d = line.split('\t')[0]
    if '2027-06-01' <= d < '2027-06-03' or '2027-10-18' <= d <= '2028-03-03':
        sys.stdout.write(line)
EOF
diff <(sqlite3 -separator $'\t' "$WH" "SELECT substr(chargePeriodStartUtc, 1, 10), resourceId,
  billedCost FROM cost_record ORDER BY 1, 2, 3") "$T/want" >/dev/null ||
  fail "the warehouse: $(diff <(sqlite3 -separator $'\t' "$WH" "SELECT substr(chargePeriodStartUtc, 1, 10),
    resourceId, billedCost FROM cost_record ORDER BY 1, 2, 3") "$T/want" | head -5)"
echo "schedule_gaps: ok"
