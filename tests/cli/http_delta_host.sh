#!/usr/bin/env bash
# The saved @odata.deltaLink names the host of the run that saved it. When
# the job's endpoint changes later (entra-users.md), the next run is refused
# before anything is sent, and the message must say it is the saved delta
# link (not "the request URL"), list each allowed host once, and tell how
# to get going again (delete the link: a full sync); once deleted, the run
# does a full round. A delta link that a round's last page gives to a host
# the job does not allow is not kept: the link saved before stays, and the
# warning says the next run starts from it (it did, while the warning said
# the next run would sync everything).
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

# The second round's delta link points elsewhere: not kept, the first
# round's stays and the third round starts from it again.
jq '(.log.entries[] | select(.request.url | contains("skiptoken=Z2xv")) | .response.content.text) |= sub("https://graph.microsoft.com/v1.0/users/delta[?][$]deltatoken=lGZ2"; "https://evil.example.net/v1.0/users/delta?$deltatoken=lGZ2")' \
  fixtures/entra-users.har > "$T/elsewhere.har"
grep -q 'evil.example.net' "$T/elsewhere.har" || fail "the recording was not changed"
rm -rf "$T/state" "$T/out"; : > "$T/log"
start_mock "$T/elsewhere.har" "$T/mock3.log"
run >/dev/null || fail "full round: $(tail -n 3 "$T/log")"
saved=$(sqlite3 "$T/state/cairn.db" "SELECT value FROM kv WHERE job='entra-users' AND key='delta'")
case "$saved" in *deltatoken=oEcOy*) ;; *) fail "first round saved $saved" ;; esac
run >/dev/null || fail "delta round: $(tail -n 3 "$T/log")"
grep -q 'the delta link points to .*evil.example.net.*not kept, the next run starts again from the delta link saved before' "$T/log" \
  || fail "warning: $(grep -i 'not kept' "$T/log")"
expect_eq "$(sqlite3 "$T/state/cairn.db" "SELECT value FROM kv WHERE job='entra-users' AND key='delta'")" "$saved" "delta link after a round whose link was not kept"
run >/dev/null || fail "third round: $(tail -n 3 "$T/log")"
expect_eq "$(grep -c 'deltatoken=oEcOy' "$T/mock3.log")" 2 "rounds started from the first round's link"
stop_mock
