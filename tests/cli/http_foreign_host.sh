#!/usr/bin/env bash
# HTTP extraction acceptance 7: a response whose nextLink points to a host
# the job does not allow stops the run with an error naming that host, and
# no request -- with or without credentials -- reaches it. Live against
# `cairn mock` (the foreign host is a second mock on 127.0.0.2 that logs
# every request), and offline from the recording.
source "$(dirname "$0")/../lib.sh"
export CAIRN_SECRET_ARM_CLIENT_SECRET=arm-secret-5d1f07
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
TENANT=8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d
JOB=tests/data/http-jobs/foreign.json


# The foreign host: any loopback address other than the job's.
touch "$T/evil.log"
MOCK_LISTEN=127.0.0.2:0 start_mock fixtures/http-source/foreign-nextlink.har "$T/evil.log"
EVIL_URL=$MOCK_URL EVIL_PID=$MOCK_PID
EVIL_HOST=${EVIL_URL#http://}
sed "s|https://attacker.example.net|$EVIL_URL|g" fixtures/http-source/foreign-nextlink.har >"$T/foreign.har"
start_mock "$T/foreign.har" "$T/api.log"

set +e
"$CAIRN" run "$JOB" --state "$T/state" --out "$T/out" --param endpoint="$MOCK_URL" \
  --param token_url="$MOCK_URL/$TENANT/oauth2/v2.0/token" >"$T/run.out" 2>"$T/run.log"
rc=$?
set -e
kill "$MOCK_PID" "$EVIL_PID"; wait 2>/dev/null || true
expect_eq "$rc" 3 "exit code"
grep -q "next link points to host $EVIL_HOST, which the job does not allow" "$T/run.out" ||
  fail "error does not name the host: $(cat "$T/run.out")"
grep -q '"error":"CAIRN_EHOST"' "$T/run.log" || fail "not logged as CAIRN_EHOST"
expect_eq "$(wc -l <"$T/evil.log")" 0 "requests that reached the foreign host"
expect_eq "$(jq -r .url "$T/api.log" | grep -c alerts)" 1 "requests to the API"
grep -q "$EVIL_HOST" "$T/api.log" && fail "the foreign host was contacted through the API mock"

# Offline: the recording as it is (attacker.example.net); replay would
# answer anything, so only the host check stands in the way.
set +e
"$CAIRN" run "$JOB" --state "$T/state2" --out "$T/out2" --replay fixtures/http-source/foreign-nextlink.har \
  --param endpoint=https://management.azure.com \
  --param token_url=https://login.microsoftonline.com/$TENANT/oauth2/v2.0/token >"$T/run2.out" 2>"$T/run2.log"
rc=$?
set -e
expect_eq "$rc" 3 "exit code on replay"
grep -q 'next link points to host attacker.example.net, which the job does not allow (allowed: management.azure.com, login.microsoftonline.com' "$T/run2.out" ||
  fail "replay error: $(cat "$T/run2.out")"
echo "foreign next link refused, nothing sent to $EVIL_HOST"
