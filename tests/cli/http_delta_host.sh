#!/usr/bin/env bash
# The saved @odata.deltaLink names the host of the run that saved it. When
# the job's endpoint changes later (entra-users.md), the next run is refused
# before anything is sent, and the message must say it is the saved delta
# link (not "the request URL"), list each allowed host once, and tell how
# to get going again (delete the link: a full sync); once deleted, the run
# does a full round.
source "$(dirname "$0")/../lib.sh"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export CAIRN_TEST_FAST_RETRY=1
source tests/data/connectors/entra-users.env
run() {   # run entra-users against the mock at $MOCK_URL; prints the summary
  "$CAIRN" run jobs/entra-users.json "${PARAMS[@]}" --param endpoint="$MOCK_URL" \
    --param token_url="$MOCK_URL/8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d/oauth2/v2.0/token" \
    --state "$T/state" --out "$T/out" 2>>"$T/log"
}

start_mock fixtures/entra-users.har "$T/mock1.log"
old=${MOCK_URL#http://}
run >/dev/null || fail "first round: $(tail -n 3 "$T/log")"
stop_mock
start_mock fixtures/entra-users.har "$T/mock2.log"   # another port: the endpoint changed
new=${MOCK_URL#http://}
[ "$old" != "$new" ] || fail "the second mock has the first one's port"

set +e; out=$(run); rc=$?; set -e
expect_eq "$rc" 3 "exit code of a refused saved delta link"
case "$out" in "entra-users: FAILED (resumable: a rerun is refused the same way until"*) ;; *) fail "summary says a plain rerun helps: $out" ;; esac
case "$out" in
  *"the saved delta link points to host $old, which the job does not allow (allowed: $new): "*) ;;
  *) fail "refusal does not name the saved delta link or lists a host twice: $out" ;;
esac
case "$out" in *'state key "delta" of job entra-users'*) ;; *) fail "no way out given: $out" ;; esac
[ ! -s "$T/mock2.log" ] || fail "something was sent to the new endpoint"

sqlite3 "$T/state/cairn.db" "DELETE FROM kv WHERE job='entra-users' AND key='delta'"
out=$(run) || fail "after deleting the link: $(tail -n 3 "$T/log")"
case "$out" in *"7 records loaded"*) ;; *) fail "not a full round after deleting the link: $out" ;; esac
stop_mock
