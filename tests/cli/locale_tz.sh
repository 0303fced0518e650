#!/usr/bin/env bash
# The host's time zone and locale change nothing cairn writes. A few
# representative jobs run under TZ=UTC LC_ALL=C, then under hostile
# settings: New York across the end of DST with a German locale (decimal
# comma), UTC+14 with a Turkish one (tolower('I') is not 'i'), UTC-11 with
# a mix of LANG and LC_* variables. Each must leave byte-identical
# warehouse dumps and evidence bundles, the same `cairn status`, `cairn dlq`
# and metrics, a summary line with a decimal point, and log timestamps in
# UTC ('Z', within the run's wall-clock time).
#
# The jobs: a day job on the demo export run as two scheduled nights
# (CAIRN_TEST_NOW) chosen so that a local date would pick another window
# than the UTC one in every zone here; the Cost Management Query connector
# replayed from its recording (month windows --from/--to, decimals in an
# HTTP JSON answer); the FOCUS cost export (plain, gzip and zip partitions).
#
# The time zones are POSIX TZ strings, so no tzdata is needed; the locales
# are generated into $T when the system lacks them (localedef, from the
# Debian package locales, which `make deps` installs).
source "$(dirname "$0")/../lib.sh"
export CAIRN_TEST_FAST_RETRY=1

# ---- locales ------------------------------------------------------------
have_locale() { locale -a 2>/dev/null | has -ix "${1}.utf-\?8"; }
if ! have_locale de_DE || ! have_locale tr_TR; then
  command -v localedef >/dev/null && [ -d /usr/share/i18n/locales ] ||
    fail "de_DE.UTF-8 and tr_TR.UTF-8 are missing and cannot be generated: install the Debian package locales (make deps)"
  mkdir -p "$T/locale"
  for l in de_DE tr_TR; do
    localedef -i "$l" -f UTF-8 "$T/locale/$l.UTF-8" >/dev/null 2>&1 ||
      [ -d "$T/locale/$l.UTF-8" ] || fail "localedef $l.UTF-8 failed"
  done
  export LOCPATH="$T/locale"
fi
# The settings must really be in effect, or the comparison proves nothing.
[ "$(env LC_ALL=de_DE.UTF-8 locale decimal_point 2>/dev/null)" = "," ] ||
  fail "LC_ALL=de_DE.UTF-8 has no decimal comma here"
[ "$(env LC_ALL=tr_TR.UTF-8 bash -c 'x=I; printf %s "${x,,}"' 2>/dev/null)" = "ı" ] ||
  fail "LC_ALL=tr_TR.UTF-8 does not lowercase I to dotless i here"

# NAME -> settings (env assignments). The first is the reference.
ENVS=(utc kiritimati_tr newyork_de pagopago_mixed)
declare -A SET=(
  [utc]="TZ=UTC LC_ALL=C"
  [newyork_de]="TZ=EST5EDT,M3.2.0,M11.1.0 LC_ALL=de_DE.UTF-8"
  [kiritimati_tr]="TZ=<+14>-14 LC_ALL=tr_TR.UTF-8"
  [pagopago_mixed]="TZ=<-11>11 LANG=de_DE.UTF-8 LC_NUMERIC=de_DE.UTF-8 LC_CTYPE=tr_TR.UTF-8 LC_TIME=tr_TR.UTF-8"
)
for e in newyork_de kiritimati_tr; do
  tz=${SET[$e]%% *}
  [ "$(env "$tz" date -d @1793588400 +%H)" != 03 ] || fail "$tz has no effect on date(1)"
done
# in_env NAME CMD...: CMD with the settings of NAME and no other locale or
# time zone variable from the caller's environment.
in_env() {
  local e=$1; shift
  local -a clean=()
  for v in $(compgen -e); do
    case $v in LANG|LANGUAGE|TZ|LC_*) clean+=(-u "$v") ;; esac
  done
  # shellcheck disable=SC2086  # the settings are words
  env "${clean[@]}" ${SET[$e]} "$@"
}

# ---- the jobs -------------------------------------------------------------
# The demo export (2000 rows on 2026-11-01, the day DST ends in New York)
# spread over 31 Oct, 1 and 2 Nov, its header in capitals: the job's
# columns (BillingAccountId) are matched case-insensitively, where a
# Turkish strcasecmp would not match I and i.
python3 - fixtures/demo/cost.csv "$T/days.csv" <<'EOF'
import csv, sys
with open(sys.argv[1], newline='') as f, open(sys.argv[2], 'w', newline='') as o:
    r = csv.reader(f); w = csv.writer(o, lineterminator='\n')
    head = next(r); w.writerow([h.upper() for h in head])
    for i, row in enumerate(r):
        day = ('2026-11-01T', '2026-11-02T', '2026-10-31T')[i % 3]
        for c in ('ChargePeriodStart', 'ChargePeriodEnd'):
            k = head.index(c)
            row[k] = row[k].replace('2026-11-01T', day)
        w.writerow(row)
EOF
jq '.name = "tz-day" | .window = "day" | .transform.max_reject_ratio = 1
    | .sinks = [{"name": "warehouse", "mode": "replace_partition"}, "evidence"]' \
  jobs/demo-cost.json > "$T/tz-day.json"
FOCUS=$(ls -d fixtures/cost-export/focus/*/*/*)
at() { date -u -d "$1" +%s; }

# run_all NAME: every job under the settings NAME into $T/NAME; then what
# is compared, run under NAME too, into $T/NAME/cmp.
run_all() {
  local e=$1 d="$T/$1" rc
  mkdir -p "$d/cmp"
  date -u +%s > "$d/t0"
  # cr RUN ARGS...: one `cairn run` into $d/RUN, its summary and log kept
  cr() {
    local n=$1; shift
    set +e
    in_env "$e" "$CAIRN" run "$@" --state "$d/$n/state" --out "$d/$n/out" \
      --metrics-dir "$d/$n/metrics" >>"$d/$n.stdout" 2>>"$d/$n.log"
    rc=$?
    set -e
    [ $rc -eq 0 ] || fail "$e: $n: exit $rc: $(tail -n 3 "$d/$n.log")"
  }
  # Nights at 2026-11-02 03:00Z (22:00 the day before in New York and
  # Pago Pago) and 2026-11-03 12:00Z (the next day, 02:00, in Kiritimati):
  # windows 2026-11-01 and 2026-11-02 by the UTC date, in every zone.
  CAIRN_TEST_NOW=$(at 2026-11-02T03:00:00Z) cr day "$T/tz-day.json" --param input="$T/days.csv"
  CAIRN_TEST_NOW=$(at 2026-11-03T12:00:00Z) cr day "$T/tz-day.json" --param input="$T/days.csv"
  (
    PARAMS=()
    source tests/data/connectors/azure-cost-query.env
    CAIRN_TEST_NOW=$(at 2026-11-02T03:00:00Z) cr query jobs/azure-cost-query.json \
      --replay fixtures/azure-cost-query.har "${PARAMS[@]}"
  )
  CAIRN_TEST_NOW=$(at 2026-11-02T03:00:00Z) cr export jobs/azure-cost-export.json --param input="$FOCUS"
  date -u +%s > "$d/t1"

  local n job
  for n in day query export; do
    job=$(sqlite3 "$d/$n/state/cairn.db" 'SELECT DISTINCT job FROM runs')
    LC_ALL=C TZ=UTC sqlite3 "$d/$n/out/warehouse.db" .dump > "$d/cmp/$n.dump"
    (cd "$d/$n/out" && find . -type f ! -name 'warehouse.db*' | LC_ALL=C sort |
       xargs -r sha256sum) > "$d/cmp/$n.files"
    in_env "$e" "$CAIRN" status "$job" --state "$d/$n/state" --json --runs 10 > "$d/cmp/$n.status.json"
    in_env "$e" "$CAIRN" status "$job" --state "$d/$n/state" --runs 10 > "$d/cmp/$n.status.txt"
    in_env "$e" "$CAIRN" dlq "$job" --state "$d/$n/state" --json > "$d/cmp/$n.dlq.json"
    in_env "$e" "$CAIRN" dlq "$job" --state "$d/$n/state" > "$d/cmp/$n.dlq.txt"
    grep -v 'duration_seconds' "$d/$n/metrics/$job.prom" > "$d/cmp/$n.prom"
    cp "$d/$n.stdout" "$d/cmp/$n.stdout"
    # Logs: UTC timestamps within the run's wall-clock time (a local
    # time would be hours off in every zone here).
    jq -r .ts "$d/$n.log" | while read -r ts; do
      [[ $ts =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]] ||
        fail "$e: $n: log timestamp $ts"
      s=$(date -u -d "$ts" +%s)
      [ "$s" -ge $(($(cat "$d/t0") - 2)) ] && [ "$s" -le $(($(cat "$d/t1") + 2)) ] ||
        fail "$e: $n: log timestamp $ts is not the time of the run (UTC)"
    done
    [ -s "$d/$n.log" ] || fail "$e: $n: no log"
  done
  # The summary line's duration has a decimal point ("in 0.04s").
  grep -qE ' in [0-9]+\.[0-9]{2}s\.' "$d/cmp/query.stdout" ||
    fail "$e: summary: $(tail -n 1 "$d/cmp/query.stdout")"
  # What differs from run to run: paths, run and trace ids, durations.
  sed -E -i -e "s#$d/#D/#g" -e 's/\b[0-9a-f]{16}\b/RUN/g' -e 's/\b[0-9a-f]{32}\b/TRACE/g' \
    -e 's/ in [0-9]+\.[0-9]+s\b/ in Ns/g' "$d/cmp/"*
}

for e in "${ENVS[@]}"; do run_all "$e"; done
# The runs must have loaded something of each kind.
grep -q "INSERT INTO cost_record" "$T/utc/cmp/query.dump" || fail "query loaded nothing"
expect_eq "$(grep -c '\.tar$' "$T/utc/cmp/day.files")" 2 "day: one bundle per window"
expect_eq "$(jq length "$T/utc/cmp/day.dlq.json")" 2666 "day: rows of other days quarantined"
for e in "${ENVS[@]:1}"; do
  diff -r "$T/utc/cmp" "$T/$e/cmp" > "$T/$e.diff" ||
    fail "$e (${SET[$e]}) differs from TZ=UTC LC_ALL=C: $(head -c 1500 "$T/$e.diff")"
done
echo "locale_tz: ${#ENVS[@]} environments, byte-identical outputs"
