#!/usr/bin/env bash
# HTTP extraction acceptance 3 and 4: a run recorded against `cairn mock`
# replays offline (mock stopped) to the same sqlite3 .dump; the recording
# passes har-validator; none of the secrets (client secret, password,
# the access token, its Basic form) is in the recording, the logs or
# state/. The OAuth2 token endpoint is called once per run, and once
# more after a forced 401 -- never per page.
source "$(dirname "$0")/../lib.sh"
umask 022
export CAIRN_TEST_FAST_RETRY=1
ARM_SECRET=arm-Secret-7f3a9c1e55
SNOW_PASS=snow-Pass-0c81d9e2aa
export CAIRN_SECRET_ARM_CLIENT_SECRET=$ARM_SECRET CAIRN_SECRET_SNOW_PASSWORD=$SNOW_PASS
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
TENANT=8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d
# The token the fixture's endpoint hands out, and the Basic credential.
TOKEN=$(jq -r '.log.entries[0].response.content.text | fromjson | .access_token' fixtures/http-source/arg.har)
BASIC=$(printf '%s' "cairn.integration:$SNOW_PASS" | base64 -w0)

run() {   # JOB NAME ARGS...: run into $T/NAME, logs in $T/NAME.log
  local job=$1 name=$2; shift 2
  local tok   # the Azure job's token endpoint (ServiceNow has none)
  mapfile -t tok < <(uses "tests/data/http-jobs/$job.json" token_url="$MOCK_URL/$TENANT/oauth2/v2.0/token")
  "$CAIRN" run "tests/data/http-jobs/$job.json" --state "$T/$name/state" --out "$T/$name/out" \
    --keep-raw "${tok[@]}" \
    "$@" >"$T/$name.out" 2>"$T/$name.log" || fail "$name: exit $? ($(tail -n 2 "$T/$name.log"))"
}
token_calls() { grep -c '/oauth2/v2.0/token' "$1" || true; }

for spec in arg:arg servicenow:servicenow-cmdb; do
  IFS=: read -r job har <<<"$spec"
  start_mock "fixtures/http-source/$har.har" "$T/$job.mock.log"
  run "$job" "$job-rec" --param endpoint="$MOCK_URL" --record "$T/$job.har"
  stop_mock
  [ -s "$T/$job.har" ] || fail "$job: no recording written"
  # It holds the responses, personal data included (no PII policy applies
  # to it): the service user's alone, as the spool is, whatever the umask.
  expect_eq "$(stat -c %a "$T/$job.har")" 600 "$job: the recording's mode"
  # Offline: the mock is gone (same parameters as recorded, so the
  # recorded next links stay on an allowed host); replay answers.
  run "$job" "$job-replay" --param endpoint="$MOCK_URL" --replay "$T/$job.har"
  a=$(sqlite3 "$T/$job-rec/out/warehouse.db" .dump)
  b=$(sqlite3 "$T/$job-replay/out/warehouse.db" .dump)
  [ -n "$a" ] && [ "$a" == "$b" ] || fail "$job: replay differs from the recorded run"
  # No secret anywhere: recording, logs, state (spools decompressed too).
  for f in "$T/$job.har" "$T/$job-rec.log" "$T/$job-replay.log" "$T/$job-rec.out" "$T/$job-replay.out"; do
    for s in "$ARM_SECRET" "$SNOW_PASS" "$TOKEN" "$BASIC"; do
      grep -qaF -- "$s" "$f" && fail "$job: secret ${s:0:6}... found in $f"
    done
  done
  for d in "$T/$job-rec/state" "$T/$job-replay/state"; do
    for s in "$ARM_SECRET" "$SNOW_PASS" "$TOKEN" "$BASIC"; do
      grep -rqaF -- "$s" "$d" && fail "$job: secret ${s:0:6}... found in $d"
      find "$d" -name '*.zst' -exec zstd -dcq {} + | has -aF -- "$s" && fail "$job: secret in a spool of $d"
    done
  done
  [ -n "$(find "$T/$job-rec/state" -name '*.zst')" ] || fail "$job: no spool kept to inspect"
done
grep -q '"client_secret=REDACTED\|client_secret=REDACTED' "$T/arg.har" || fail "client_secret not redacted in the recording"

# har-validator accepts the recordings (as test_http_mock.c checks). make
# test installs node and har-validator (nodejs, node-har-validator in the
# Makefile's DEBS): missing, they fail the test instead of skipping the check.
command -v node >/dev/null || fail "node missing (make deps installs nodejs)"
[ -e /usr/share/nodejs/har-validator ] || fail "har-validator missing (make deps installs node-har-validator)"
NODE_PATH=/usr/share/nodejs node -e '
    const hv = require("har-validator"), fs = require("fs");
    Promise.all(process.argv.slice(1).map((f) =>
      hv.har(JSON.parse(fs.readFileSync(f, "utf8"))).catch((e) => {
        throw new Error(f + ": " + JSON.stringify(e.errors || e.message)); })))
      .then(() => process.exit(0))
      .catch((e) => { console.error(e.message); process.exit(1); });' \
    "$T/arg.har" "$T/servicenow.har" fixtures/http-source/*.har || fail "har-validator rejects a recording"

# Acceptance 4: one token per run (3 pages); a forced 401 on page 2 (the
# 3rd request) costs exactly one more.
expect_eq "$(token_calls "$T/arg.mock.log")" 1 "token requests of a 3-page run"
start_mock fixtures/http-source/arg.har "$T/arg-401.mock.log" 401@3
run arg arg-401 --param endpoint="$MOCK_URL"
stop_mock
expect_eq "$(token_calls "$T/arg-401.mock.log")" 2 "token requests with a 401 in the middle"
expect_eq "$(jq -r .status "$T/arg-401.mock.log" | tr '\n' ' ')" "200 200 401 200 200 200 " "requests of the 401 run"
expect_eq "$(sqlite3 "$T/arg-401/out/warehouse.db" .dump)" "$(sqlite3 "$T/arg-rec/out/warehouse.db" .dump)" "401 run data"
# A recording that cannot be written (a missing folder, a directory) is
# refused before the run (exit 2, nothing run), not found out after it.
for bad in "$T/missing/x.har" "$T"; do
  set +e
  "$CAIRN" run tests/data/http-jobs/arg.json --state "$T/bad/state" --out "$T/bad/out" \
    --param token_url=http://127.0.0.1:9/t --param endpoint=http://127.0.0.1:9 \
    --record "$bad" >"$T/bad.out" 2>"$T/bad.log"
  rc=$?; set -e
  expect_eq "$rc" 2 "--record $bad"
  grep -qF -- "--record $bad: cannot write the recording there" "$T/bad.out" "$T/bad.log" || fail "--record $bad: $(cat "$T/bad.out" "$T/bad.log")"
  [ ! -e "$T/bad/out" ] && [ -z "$(sqlite3 "$T/bad/state/cairn.db" 'SELECT * FROM runs' 2>/dev/null)" ] || fail "--record $bad: the run ran"
done
echo "record/replay equal, no secrets in HAR/logs/state, tokens: 1 per run (+1 after 401)"
