#!/usr/bin/env bash
# Issue #8 acceptance 1: runs over fixtures with known retries, quarantined
# records and times, then each metric's value in the written .prom file,
# which `promtool check metrics` must accept.
source "$(dirname "$0")/../lib.sh"
command -v promtool >/dev/null || fail "promtool missing (make deps installs prometheus)"
export CAIRN_TEST_FAST_RETRY=1 CAIRN_SECRET_SCIM_TOKEN=scim-token-0be917
export CAIRN_TEST_NOW=1800000000
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

# 1. HTTP: a 429 (Retry-After 1 s) on request 2 and a 503 on request 3.
start_mock fixtures/http-source/scim-users.har "$T/mock.log" 429:retry-after=1@2 503@3
url=$MOCK_URL
"$CAIRN" run tests/data/http-jobs/scim.json --param endpoint="$url" --state "$T/s1" --out "$T/o1" \
  --metrics-dir "$T/m" >/dev/null 2>&1 || fail "http run"
P="$T/m/http-scim.prom"
out=$(promtool check metrics < "$P" 2>&1) || fail "promtool: $out"
[ -z "$out" ] || fail "promtool lint: $out"
m() { sed -n "s/^$1 //p" "$P"; }
requests=$(wc -l < "$T/mock.log")
expect_eq "$requests" 5 "requests the mock saw"
expect_eq "$(m 'cairn_http_requests_total{code="200",job="http-scim"}')" 3 "200s"
expect_eq "$(m 'cairn_http_requests_total{code="429",job="http-scim"}')" 1 "429s"
expect_eq "$(m 'cairn_http_requests_total{code="503",job="http-scim"}')" 1 "503s"
expect_eq "$(m 'cairn_http_retries_total{job="http-scim",reason="429"}')" 1 "retries 429"
expect_eq "$(m 'cairn_http_retries_total{job="http-scim",reason="5xx"}')" 1 "retries 5xx"
expect_eq "$(m 'cairn_http_request_duration_seconds_count{job="http-scim"}')" "$requests" "histogram count"
expect_eq "$(m 'cairn_http_request_duration_seconds_bucket{job="http-scim",le="+Inf"}')" "$requests" "+Inf bucket"
awk -v s="$(m 'cairn_http_request_duration_seconds_sum{job="http-scim"}')" 'BEGIN { exit !(s > 0) }' || fail "duration sum"
expect_eq "$(m 'cairn_records_total{job="http-scim",stage="loaded"}')" \
  "$(sqlite3 "$T/o1/warehouse.db" 'SELECT count(*) FROM identity_user')" "records loaded"
expect_eq "$(m 'cairn_run_success{job="http-scim"}')" 1 "success"
expect_eq "$(m 'cairn_last_success_timestamp_seconds{job="http-scim"}')" 1800000000 "last success"
expect_eq "$(m 'cairn_circuit_open{job="http-scim"}')" 0 "circuit"
hw=$(m 'cairn_sync_high_water_timestamp_seconds{job="http-scim"}')
expect_eq "$(m 'cairn_sync_lag_seconds{job="http-scim"}')" "$((1800000000 - hw))" "lag = now - high water"
awk -v s="$(m 'cairn_run_duration_seconds{job="http-scim"}')" 'BEGIN { exit !(s > 0) }' || fail "run duration"

# 2. A file with 12 bad records of 300: extracted, loaded, quarantined, DLQ.
"$CAIRN" run jobs/demo-cost.json --param input=tests/data/quarantine/cost-bad.csv --state "$T/s2" \
  --out "$T/o2" --metrics-dir "$T/m" >/dev/null 2>&1 || fail "quarantine run"
P="$T/m/demo-cost.prom"
promtool check metrics < "$P" >/dev/null 2>&1 || fail "promtool demo-cost"
expect_eq "$(m 'cairn_records_total{job="demo-cost",stage="extracted"}')" 300 extracted
expect_eq "$(m 'cairn_records_total{job="demo-cost",stage="loaded"}')" 288 loaded
expect_eq "$(m 'cairn_records_total{job="demo-cost",stage="quarantined"}')" 12 quarantined
expect_eq "$(m 'cairn_dlq_depth{job="demo-cost"}')" 12 "dlq depth"
expect_eq "$(m 'cairn_http_requests_total{code="200",job="demo-cost"}')" "" "no HTTP series for a file job"

# 3. A run whose breaker opened and that failed: at its end no run is in
# progress and no breaker is open (it used to stay 1 until the next run).
stop_mock
start_mock fixtures/http-source/scim-users.har "$T/mock3.log" 503@2+
jq '.source.retry = {"attempts": 10} | .source.circuit = {"failures": 2, "cooldown_s": 1}' \
  tests/data/http-jobs/scim.json > "$T/scim-circuit.json"
set +e
"$CAIRN" run "$T/scim-circuit.json" --param endpoint="$MOCK_URL" --state "$T/s3" \
  --out "$T/o3" --metrics-dir "$T/m" >/dev/null 2>"$T/s3.log"; rc=$?
set -e
expect_eq "$rc" 3 "breaker run exit: $(tail -n 2 "$T/s3.log")"
P="$T/m/http-scim.prom"
grep -q "circuit" "$T/s3.log" || fail "the breaker did not open: $(tail -n 3 "$T/s3.log")"
# The advice is said once, by the runner (the message used to carry its own
# "checkpoint kept: run again later to resume" too).
grep -q 'run failed: circuit breaker of .*(checkpoint kept; run again later, when the source answers again, to resume)' "$T/s3.log" ||
  fail "breaker advice: $(grep 'run failed' "$T/s3.log")"
[ "$(grep 'run failed' "$T/s3.log" | grep -o 'checkpoint kept' | wc -l)" -eq 1 ] ||
  fail "advice given twice: $(grep 'run failed' "$T/s3.log")"
expect_eq "$(m 'cairn_circuit_open{job="http-scim"}')" 0 "circuit after the run"
expect_eq "$(m 'cairn_run_in_progress{job="http-scim"}')" 0 "in progress after the run"

# 4. A run killed in its first seconds (before the periodic write) leaves
# in_progress 1 behind, not the previous run's outcome.
P="$T/m/demo-cost.prom"
set +e
CAIRN_TEST_KILL_AT=loaded:1 "$CAIRN" run jobs/demo-cost.json --state "$T/s2" \
  --out "$T/o2" --metrics-dir "$T/m" --fresh >/dev/null 2>&1
set -e
expect_eq "$(m 'cairn_run_in_progress{job="demo-cost"}')" 1 "in progress after a kill"
promtool check metrics < "$P" >/dev/null 2>&1 || fail "promtool after a kill"
