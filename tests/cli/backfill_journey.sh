#!/usr/bin/env bash
# The runbook "Backfill after an outage" (docs/operations.md) on a day job
# of the Cost Management Query connector served by `cairn mock`: nightly
# runs, an outage (the source answers 503) whose missed nights the first
# good night loads (its --dry-run names them), a backfill that overlaps
# loaded days, killed and resumed with the same command, a nightly run
# refused while the backfill holds the lock, --fresh on one day. The
# warehouse then holds every day of the recording exactly once. Also: a
# reload whose source now answers nothing keeps the earlier rows
# (docs/jobs.md, replace_partition).
source "$(dirname "$0")/../lib.sh"
export CAIRN_SECRET_CLIENT_SECRET=s
python3 tests/data/backfill/cost_query_har.py day 2024-02-25 2024-03-04 "$T/day.har" --pages
jq '.name = "cost-daily" | .window = "day"
    | .source.retry = {"retry_post": true, "attempts": 2, "min_delay_s": 0, "base_delay_s": 0}' \
  jobs/azure-cost-query.json > "$T/daily.json"
P=(--param tenant_id=8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d
   --param client_id=6731de76-14a6-49ae-97bc-6eba6914391e
   --param scope=subscriptions/cfbbd179-59d2-4052-aa06-9270a38aa9d6
   --state "$T/state" --out "$T/out" --metrics-dir "$T/metrics")
WH="$T/out/warehouse.db"
rows() { sqlite3 -separator $'\t' "$WH" "SELECT substr(chargePeriodStartUtc, 1, 10),
  resourceId, billedCost FROM cost_record ORDER BY 1, 2, 3"; }
run() { "$CAIRN" run "$T/daily.json" "${P[@]}" --param endpoint="$MOCK_URL" \
  --param login_endpoint="$MOCK_URL" "$@"; }
nightly() { # nightly DATE [ARGS]: the run of DATE at 02:30 UTC
  local d=$1; shift
  CAIRN_TEST_NOW=$(date -u -d "${d}T02:30:00Z" +%s) run "$@"
}

# Nights of 26 to 28 Feb load 25 to 27 Feb; the source is down for three
# nights (28 Feb to 1 Mar are missed: exit 3), then back for 2 and 3 Mar.
start_mock "$T/day.har" "$T/mock.log"
for d in 2024-02-26 2024-02-27 2024-02-28; do
  nightly $d >/dev/null 2>>"$T/log" || fail "night $d: $(tail -n 2 "$T/log")"
done
stop_mock
start_mock "$T/day.har" "$T/mock.log" 503
for d in 2024-02-29 2024-03-01 2024-03-02; do
  expect_exit 3 nightly $d >/dev/null 2>>"$T/log"
done
stop_mock
# The preview of the next night names the nights it would load first, and
# changes nothing.
before=$(sqlite3 "$T/state/cairn.db" .dump)
expect_eq "$(nightly 2024-03-03 --dry-run --json 2>>"$T/log" | jq -r .message)" \
  "would run 4 windows (2024-02-28 .. 2024-03-02; the first 3 missed by an earlier run) from http source into warehouse(sqlite) as cost_record; nothing run." \
  "dry run of the night after the outage"
expect_eq "$(sqlite3 "$T/state/cairn.db" .dump)" "$before" "the dry run changed the state"
expect_eq "$(nightly 2024-03-03 --dry-run --fresh --json 2>>"$T/log" | jq -r .message)" \
  "would run 1 window (2024-03-02 .. 2024-03-02) from http source into warehouse(sqlite) as cost_record; nothing run." \
  "dry run with --fresh: the missed nights forgotten"
start_mock "$T/day.har" "$T/mock.log"
for d in 2024-03-03 2024-03-04; do
  nightly $d >/dev/null 2>>"$T/log" || fail "night $d: $(tail -n 2 "$T/log")"
done
# The first good night (3 Mar) loads the nights the outage missed before
# its own day: 28 Feb (started and failed), 29 Feb and 1 Mar (failed
# before they were reached); no gap is left for the backfill to close.
expect_eq "$(rows | cut -f1 | sort -u | tr '\n' ' ')" \
  "2024-02-25 2024-02-26 2024-02-27 2024-02-28 2024-02-29 2024-03-01 2024-03-02 2024-03-03 " "no gap"
grep -q 'window 2024-02-29 was missed by an earlier run: loading it first' "$T/log" ||
  fail "the catch-up is not in the log"
expect_eq "$("$CAIRN" status cost-daily --state "$T/state" --json |
  jq -r '[.windows[] | select(.status != "loaded") | .window] | join(" ")')" \
  "" "status: no open window"
stop_mock

# The backfill, 27 Feb (loaded) to 2 Mar (loaded), --to exclusive: preview,
# then run it slowly, take the nightly run while it holds the lock, kill it.
BF=(--from 2024-02-27 --to 2024-03-03)
expect_eq "$(run "${BF[@]}" --dry-run --json | jq -r .message)" \
  "would run 5 windows (2024-02-27 .. 2024-03-02) from http source into warehouse(sqlite) as cost_record; nothing run." \
  "dry run"
start_mock "$T/day.har" "$T/mock.log" slow:500
# (exec: $! is then cairn itself, not a subshell around it that kill -9
# would leave cairn running past, holding the lock the resume needs)
(exec "$CAIRN" run "$T/daily.json" "${P[@]}" --param endpoint="$MOCK_URL" \
  --param login_endpoint="$MOCK_URL" "${BF[@]}" >/dev/null 2>>"$T/log") &
bf=$!
for _ in $(seq 300); do
  # 28 Feb loaded by the backfill's own attempt (the nightly loaded it too)
  [ "$(sqlite3 "$T/state/cairn.db" "SELECT count(*) FROM windows WHERE window='2024-02-28' AND status='loaded' AND attempt=(SELECT max(attempt) FROM attempts WHERE job='cost-daily')" 2>/dev/null)" = 1 ] && break
  sleep 0.05
done
cp "$T/metrics/cost-daily.prom" "$T/before.prom"
expect_exit 2 nightly 2024-03-05 >/dev/null 2>"$T/locked.log"
grep -q 'job cost-daily is running' "$T/locked.log" || fail "locked: $(cat "$T/locked.log")"
grep -q 'cairn_run_in_progress{job="cost-daily"} 1' "$T/metrics/cost-daily.prom" \
  || fail "the backfill is not in progress in the metrics"
kill -9 $bf; wait $bf 2>/dev/null || true
stop_mock
# The same command again resumes it: loaded windows skipped.
start_mock "$T/day.har" "$T/mock.log"
run "${BF[@]}" --json >"$T/resume.json" 2>>"$T/log" || fail "resume: $(tail -n 2 "$T/log")"
expect_eq "$(jq -r '.windows + .windows_skipped' "$T/resume.json")" 5 "resume: windows"
[ "$(jq -r .windows_skipped "$T/resume.json")" -ge 1 ] || fail "resume skipped nothing"
diff <(rows) "$T/day.har.expected" >/dev/null || { diff <(rows) "$T/day.har.expected" | head; fail "backfill: rows"; }
expect_eq "$(sqlite3 "$WH" "SELECT count(*) - count(DISTINCT recordId) FROM cost_record")" 0 "no duplicates"
expect_eq "$(grep '^cairn_run_exit_code' "$T/metrics/cost-daily.prom" | awk '{print $2}')" 0 "metrics: exit code"
expect_eq "$(grep '^cairn_sync_high_water_timestamp_seconds' "$T/metrics/cost-daily.prom" | awk '{print $2}')" \
  "$(date -u -d 2024-03-04T00:00:00Z +%s)" "metrics: the backfill did not lower the high-water mark"
# An overlapping backfill and --fresh on one day: still every row once.
run --from 2024-02-25 --to 2024-02-29 >/dev/null 2>>"$T/log" || fail "overlap: $(tail -n 2 "$T/log")"
run --from 2024-02-29 --to 2024-03-01 --fresh >/dev/null 2>>"$T/log" || fail "fresh: $(tail -n 2 "$T/log")"
diff <(rows) "$T/day.har.expected" >/dev/null || { diff <(rows) "$T/day.har.expected" | head; fail "overlap: rows"; }
stop_mock
expect_eq "$("$CAIRN" status cost-daily --state "$T/state" --json |
  jq -r '[.windows[] | select(.status == "loaded")] | length')" 8 "status: every window loaded"

# Documented: a reload that meets no partition replaces nothing.
python3 - "$T/day.har" "$T/empty.har" <<'EOF'
import json, sys
h = json.load(open(sys.argv[1]))
for e in h['log']['entries']:
    t = e['response']['content']['text']
    if '"rows"' in t and '20240229' in t:
        j = json.loads(t); j['properties']['rows'] = []
        e['response']['content']['text'] = json.dumps(j)
json.dump(h, open(sys.argv[2], 'w'))
EOF
"$CAIRN" run "$T/daily.json" "${P[@]}" --replay "$T/empty.har" --from 2024-02-29 --to 2024-03-01 \
  >/dev/null 2>>"$T/log" || fail "empty reload: $(tail -n 2 "$T/log")"
expect_eq "$(sqlite3 "$WH" "SELECT count(*) FROM cost_record WHERE chargePeriodStartUtc LIKE '2024-02-29%'")" 3 \
  "an empty reload keeps the day's rows"
echo "backfill_journey: ok"
