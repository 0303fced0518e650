#!/usr/bin/env bash
# HTTP extraction acceptance 1 and 5: every paging style, through the real
# libcurl transport against `cairn mock` on loopback, loads exactly the
# same rows with 429s (both Retry-After forms), 503/502s, a reset and a
# truncated body injected as without faults; every request carries a
# valid W3C traceparent, one trace id per run and a new span id each.
source "$(dirname "$0")/../lib.sh"
export CAIRN_TEST_FAST_RETRY=1
export CAIRN_SECRET_ARM_CLIENT_SECRET=arm-secret-5d1f07 CAIRN_SECRET_GRAPH_CLIENT_SECRET=graph-secret-9a2e44
export CAIRN_SECRET_SNOW_PASSWORD=snow-pass-71c3aa CAIRN_SECRET_SCIM_TOKEN=scim-token-0be917
export CAIRN_SECRET_JIRA_API_TOKEN=jira-token-33f8d2
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
TENANT=8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d
FAULTS=(429:retry-after=1@2 429:retry-after=date@3 503@4 reset@5 truncate@6 502@8)


# run_job JOB HAR NAME [FAULT...]: one run into $T/NAME; prints the dump.
run_job() {
  local job=$1 har=$2 name=$3; shift 3
  start_mock "$har" "$T/$name.mock.log" "$@"
  local p; mapfile -t p < <(uses "tests/data/http-jobs/$job.json" endpoint="$MOCK_URL" \
    token_url="$MOCK_URL/$TENANT/oauth2/v2.0/token")
  "$CAIRN" run "tests/data/http-jobs/$job.json" --state "$T/$name/state" --out "$T/$name/out" "${p[@]}" \
    >"$T/$name.out" 2>"$T/$name.log" || fail "$name: exit $? ($(tail -n 3 "$T/$name.log"))"
  stop_mock
}

check_traceparents() {   # LOG: one trace id, valid and distinct spans
  local log=$1 n bad traces spans
  n=$(wc -l <"$log")
  bad=$(jq -r '.headers.traceparent // "missing"' "$log" |
        grep -Evc '^00-[0-9a-f]{32}-[0-9a-f]{16}-01$' || true)
  expect_eq "$bad" 0 "$log: malformed traceparents"
  jq -r '.headers.traceparent' "$log" | grep -Eq '^00-0{32}-|-0{16}-' && fail "$log: all-zero id"
  traces=$(jq -r '.headers.traceparent[3:35]' "$log" | sort -u | wc -l)
  expect_eq "$traces" 1 "$log: trace ids in one run"
  # A new span per request. A request whose reused keep-alive connection
  # was reset before any answer (status null) is resent by libcurl itself,
  # same bytes: count only requests that got an answer.
  n=$(jq -r 'select(.status != null) | .headers.traceparent' "$log" | wc -l)
  spans=$(jq -r 'select(.status != null) | .headers.traceparent[36:52]' "$log" | sort -u | wc -l)
  expect_eq "$spans" "$n" "$log: span ids unique per request"
}

for spec in arg:arg:cmdb_ci:5 policy:policy:policy_posture:5 graph-users:graph-users:identity_user:4 \
            servicenow:servicenow-cmdb:cmdb_ci:9 scim:scim-users:identity_user:5 jira:jira:incident_link:5; do
  IFS=: read -r job har table rows <<<"$spec"
  run_job "$job" "fixtures/http-source/$har.har" "$job-clean"
  run_job "$job" "fixtures/http-source/$har.har" "$job-faulted" "${FAULTS[@]}"
  clean=$(sqlite3 "$T/$job-clean/out/warehouse.db" .dump)
  faulted=$(sqlite3 "$T/$job-faulted/out/warehouse.db" .dump)
  expect_eq "$(sqlite3 "$T/$job-clean/out/warehouse.db" "SELECT count(*) FROM $table")" "$rows" "$job rows"
  [ "$clean" == "$faulted" ] || fail "$job: the faulted run loaded different data"
  # The faults really happened, and were retried.
  for st in 429 503 502; do
    grep -q "\"status\":$st," "$T/$job-faulted.mock.log" || fail "$job: no $st served"
  done
  grep -q '"retry_reason":"truncated"' "$T/$job-faulted.log" || fail "$job: truncated body not retried"
  grep -q '"retry_reason":"429"' "$T/$job-faulted.log" || fail "$job: 429 not retried"
  check_traceparents "$T/$job-clean.mock.log"
  check_traceparents "$T/$job-faulted.mock.log"
  # The traceparent in our own request log names the same trace.
  tid=$(jq -r '.headers.traceparent[3:35]' "$T/$job-faulted.mock.log" | sed -n 1p)
  grep -q "\"trace_id\":\"$tid\"" "$T/$job-faulted.log" || fail "$job: trace id not logged"
done
echo "6 jobs x 5 paging styles: faulted runs equal clean runs"
