#!/usr/bin/env bash
# HTTP extraction acceptance 3 and 4: a run recorded against `cairn mock`
# replays offline (mock stopped) to the same sqlite3 .dump; the recording
# passes har-validator; none of the secrets (client secret, password,
# the access token, its Basic form) is in the recording, the logs or
# state/. The OAuth2 token endpoint is called once per run, and once
# more after a forced 401 -- never per page.
source "$(dirname "$0")/../lib.sh"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$T"' EXIT
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
  "$CAIRN" run "tests/data/http-jobs/$job.json" --state "$T/$name/state" --out "$T/$name/out" \
    --keep-raw --param token_url="$MOCK_URL/$TENANT/oauth2/v2.0/token" \
    "$@" >"$T/$name.out" 2>"$T/$name.log" || fail "$name: exit $? ($(tail -n 2 "$T/$name.log"))"
}
token_calls() { grep -c '/oauth2/v2.0/token' "$1" || true; }

for spec in arg:arg servicenow:servicenow-cmdb; do
  IFS=: read -r job har <<<"$spec"
  start_mock "fixtures/http-source/$har.har" "$T/$job.mock.log"
  run "$job" "$job-rec" --param endpoint="$MOCK_URL" --record "$T/$job.har"
  stop_mock
  [ -s "$T/$job.har" ] || fail "$job: no recording written"
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
      find "$d" -name '*.zst' -exec zstd -dcq {} + | grep -qaF -- "$s" && fail "$job: secret in a spool of $d"
    done
  done
  [ -n "$(find "$T/$job-rec/state" -name '*.zst')" ] || fail "$job: no spool kept to inspect"
done
grep -q '"client_secret=REDACTED\|client_secret=REDACTED' "$T/arg.har" || fail "client_secret not redacted in the recording"

# har-validator accepts the recordings (as test_http_mock.c checks).
if command -v node >/dev/null && [ -e /usr/share/nodejs/har-validator ]; then
  NODE_PATH=/usr/share/nodejs node -e '
    const hv = require("har-validator"), fs = require("fs");
    Promise.all(process.argv.slice(1).map((f) =>
      hv.har(JSON.parse(fs.readFileSync(f, "utf8"))).catch((e) => {
        throw new Error(f + ": " + JSON.stringify(e.errors || e.message)); })))
      .then(() => process.exit(0))
      .catch((e) => { console.error(e.message); process.exit(1); });' \
    "$T/arg.har" "$T/servicenow.har" fixtures/http-source/*.har || fail "har-validator rejects a recording"
else
  echo "skipped har-validator: node or node-har-validator missing"
fi

# Acceptance 4: one token per run (3 pages); a forced 401 on page 2 (the
# 3rd request) costs exactly one more.
expect_eq "$(token_calls "$T/arg.mock.log")" 1 "token requests of a 3-page run"
start_mock fixtures/http-source/arg.har "$T/arg-401.mock.log" 401@3
run arg arg-401 --param endpoint="$MOCK_URL"
stop_mock
expect_eq "$(token_calls "$T/arg-401.mock.log")" 2 "token requests with a 401 in the middle"
expect_eq "$(jq -r .status "$T/arg-401.mock.log" | tr '\n' ' ')" "200 200 401 200 200 200 " "requests of the 401 run"
expect_eq "$(sqlite3 "$T/arg-401/out/warehouse.db" .dump)" "$(sqlite3 "$T/arg-rec/out/warehouse.db" .dump)" "401 run data"
echo "record/replay equal, no secrets in HAR/logs/state, tokens: 1 per run (+1 after 401)"
