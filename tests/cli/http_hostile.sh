#!/usr/bin/env bash
# Hostile and broken HTTP servers: the shipped Entra users job
# (jobs/entra-users.json, its timeouts and retries shortened) against
# tests/cli/hostile_server.py on 127.0.0.1 (4 pages of 3 users, @odata
# nextLink paging), which breaks one page in one way per case. Each run
# ends as the house rules say: retried where a retry can help, else exit 3
# with a message that names the cause, the pages before the fault loaded
# and checkpointed, and a rerun once the server is healthy ends with
# exactly the rows of an uninterrupted run, each chunk loaded once.
#
# - an empty 200 (Content-Length 0; headers then a close; a chunked reply
#   with no chunk) is retried like a truncated body, never taken for a
#   last page: it used to end the window "done" with the later pages
#   missing (exit 0);
# - Retry-After of a day, a date in 2100 or an absurd number of seconds
#   ends the run at once (max_delay_s); the absurd number used to count as
#   no header at all (backoff, and hammering on until the budget ran out);
# - a gzip bomb stops at max_body_bytes (counted inflated), naming it;
# - a stalled body times out, is retried, then exit 3;
# - a 302 says where it leads (redirects are not followed);
# - a next link with CR LF: exit 3 before anything is sent (it used to be
#   libcurl's "malformed URL", exit 2: "fix the job");
# - a quota spent for longer than max_delay_s ends the run before the
#   next request (it used to wait for as long as the header said);
# - SIGTERM while a page waits to be retried (Retry-After 200 s) or
#   while its transfer stalls (timeout_s 120) stops the run within
#   seconds, exit 3, the rerun resuming (it used to sit out the wait or
#   the timeout, and the next attempts);
# - a token with CR LF in it is refused (it used to add the endpoint's
#   header to every request); expires_in 2^63-1 asks for one token (its
#   overflow asked for one per request).
source "$(dirname "$0")/../lib.sh"
source tests/data/connectors/entra-users.env
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export CAIRN_TEST_FAST_RETRY=1   # waits on a virtual clock: same decisions, no sleeping
TENANT=8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d
JOB="$T/entra-users.json"
jq '.source.timeout_s = 1 | .source.max_body_bytes = 1048576 |
    .source.retry = {"attempts": 3, "max_delay_s": 300, "budget_s": 900}' \
  jobs/entra-users.json >"$JOB"

serve() {   # NAME [server args]: a server logging to $T/NAME.req; sets URL
  local name=$1; shift
  python3 tests/cli/hostile_server.py "$T/$name.req" --heal "$T/$name.heal" "$@" \
    >"$T/$name.srv" 2>"$T/$name.srverr" &
  SRV=$!
  wait_for "$SRV" test -s "$T/$name.srv" || true
  URL=$(awk 'NR==1{print $2}' "$T/$name.srv")
  [ -n "$URL" ] || fail "$name: server did not start: $(cat "$T/$name.srverr")"
}
run() {     # NAME: run the job into $T/NAME against $URL; sets rc
  rc=0
  timeout 60 "$CAIRN" run "$JOB" "${PARAMS[@]}" --param endpoint="$URL" \
    --param token_url="$URL/$TENANT/oauth2/v2.0/token" \
    --state "$T/$1/state" --out "$T/$1/out" >"$T/$1.out" 2>"$T/$1.log" || rc=$?
}
rows() { sqlite3 "$T/$1/out/warehouse.db" 'SELECT * FROM identity_user ORDER BY userId'; }
count() { sqlite3 "$T/$1/out/warehouse.db" 'SELECT count(*) FROM identity_user'; }
said() { grep -qF -- "$2" "$T/$1.out" || fail "$1: expected \"$2\" in: $(tail -n 1 "$T/$1.out")"; }
# page N requested how often
asked() { grep -c "skiptoken=p$2 " "$T/$1.req" || true; }
# NAME: heal the server, rerun; the rows of the clean run, each chunk once
rerun_heals() {
  touch "$T/$1.heal"
  run "$1"
  expect_eq "$rc" 0 "$1: rerun against the healed server ($(tail -n 1 "$T/$1.out"))"
  expect_eq "$(rows "$1")" "$want" "$1: rows after the rerun"
  expect_eq "$(sqlite3 "$T/$1/state/cairn.db" 'SELECT count(*) FROM chunks WHERE load_count <> 1')" 0 \
    "$1: chunks loaded other than once"
}
stop() { kill "$SRV" 2>/dev/null || true; wait "$SRV" 2>/dev/null || true; }

serve clean
run clean
stop
expect_eq "$rc" 0 "clean run ($(tail -n 1 "$T/clean.out"))"
want=$(rows clean)
expect_eq "$(count clean)" 12 "rows of the clean run"

# An empty 200 once: retried, the run goes on to the end.
for f in empty closeheaders emptychunked; do
  serve "$f" --fault "$f" --at 2 --times 1
  run "$f"
  stop
  expect_eq "$rc" 0 "$f once: exit ($(tail -n 1 "$T/$f.out"))"
  expect_eq "$(rows "$f")" "$want" "$f once: rows"
  expect_eq "$(asked "$f" 2)" 2 "$f once: page 2 asked for"
done
# ... and every time: exit 3 after the attempts, pages 1-2 kept; a rerun
# once it answers again resumes at page 3.
serve empty-always --fault closeheaders --at 3
run empty-always
expect_eq "$rc" 3 "empty-always: exit"
said empty-always "gave up after 3 attempts (source.retry.attempts): GET /v1.0/users/delta: HTTP 200 OK with an empty body"
expect_eq "$(count empty-always)" 6 "empty-always: rows of pages 1-2"
rerun_heals empty-always
stop
echo "empty 200: retried; every time: exit 3, 6 rows kept, the rerun ends with the clean run's 12"

# Retry-After far beyond max_delay_s (300 s): the run ends at once.
n=0
for ra in 86400 "Fri, 01 Jan 2100 00:00:00 GMT" 99999999999999999999; do
  n=$((n + 1))
  serve "ra$n" --fault "status=429,Retry-After: $ra" --at 2
  run "ra$n"
  expect_eq "$rc" 3 "Retry-After $ra: exit"
  said "ra$n" "HTTP 429 Too Many Requests: the server asks to wait"
  said "ra$n" "more than source.retry.max_delay_s (300s)"
  expect_eq "$(asked "ra$n" 2)" 1 "Retry-After $ra: page 2 asked for"
  rerun_heals "ra$n"
  stop
done
echo "Retry-After of a day, in 2100, of 1e20 s: exit 3 at once, rerun ends with the clean run's rows"

# A gzip bomb: 32 KiB that inflate to 32 MiB, over max_body_bytes (1 MiB).
serve bomb --fault gzipbomb=32 --at 2
run bomb
expect_eq "$rc" 3 "bomb: exit"
said bomb "response body exceeds 1048576 bytes"
said bomb "that is source.max_body_bytes, counted after decompression"
expect_eq "$(asked bomb 2)" 1 "bomb: page 2 asked for (not retried)"
rerun_heals bomb
stop
echo "gzip bomb: stopped at max_body_bytes, exit 3"

# Headers, then nothing: a timeout per attempt (timeout_s 1), exit 3.
serve stall --fault stall --at 2
run stall
expect_eq "$rc" 3 "stall: exit"
said stall "gave up after 3 attempts (source.retry.attempts): GET /v1.0/users/delta: timeout"
expect_eq "$(asked stall 2)" 3 "stall: attempts at page 2"
rerun_heals stall
stop
echo "stalled body: 3 attempts timed out, exit 3"

# A redirect elsewhere is not followed, and the message says where to.
serve redirect --fault "redirect=http://127.0.0.2:9/moved?sig=s3cr3t" --at 2
run redirect
expect_eq "$rc" 3 "redirect: exit"
said redirect "HTTP 302 Found, a redirect to http://127.0.0.2:9/moved, which cairn does not follow"
grep -q s3cr3t "$T/redirect.out" && fail "redirect: the Location's query is in the message"
rerun_heals redirect
stop

# A next link with CR LF: refused before it is sent or checkpointed.
serve ctl --fault nextlink-ctl --at 2
run ctl
expect_eq "$rc" 3 "next link with CR LF: exit"
said ctl "paging: the next link of page 2 holds spaces or control characters; refused, nothing was sent to it"
expect_eq "$(count ctl)" 3 "next link with CR LF: rows of page 1"
rerun_heals ctl
stop
echo "redirect and a next link with CR LF: exit 3 with what and where"

# A quota that resets in 99 hours (x-ms-user-quota-resets-after after a
# page): the next request is not sent, exit 3 at once, the rerun resumes.
serve quota --fault quota=99:00:00 --at 2 --times 1
run quota
expect_eq "$rc" 3 "quota: exit"
said quota "the quota is exhausted (x-ms-user-quota-remaining: 0) and resets in 356400s, more than source.retry.max_delay_s (300s)"
expect_eq "$(asked quota 3)" 0 "quota: page 3 asked for"
rerun_heals quota
stop
echo "a quota spent for 99 hours: exit 3 before the next request, rerun resumes"

# SIGTERM while waiting on the server: the run stops within seconds
# instead of sitting out a 200 s Retry-After or a 120 s timeout (real
# sleeps here, not the virtual clock).
jq '.source.timeout_s = 120' "$JOB" >"$T/patient.json"
term_waits() {   # NAME FILE PATTERN: SIGTERM once FILE shows the run waiting on page 2
  local pid t0 waited=0
  ( CAIRN_TEST_FAST_RETRY=0 exec "$CAIRN" run "$T/patient.json" "${PARAMS[@]}" --param endpoint="$URL" \
      --param token_url="$URL/$TENANT/oauth2/v2.0/token" \
      --state "$T/$1/state" --out "$T/$1/out" >"$T/$1.out" 2>"$T/$1.log" ) &
  pid=$!
  wait_for "$pid" grep -q "$3" "$2" || fail "$1: the run did not get to wait ($(tail -n 2 "$T/$1.log"))"
  t0=$SECONDS
  kill -TERM "$pid"
  rc=0; wait "$pid" || rc=$?
  waited=$((SECONDS - t0))
  expect_eq "$rc" 3 "$1: exit after SIGTERM"
  [ "$waited" -lt 20 ] || fail "$1: the run took ${waited}s to stop after SIGTERM"
}
serve term-retry --fault "status=503,Retry-After: 200" --at 2
term_waits term-retry "$T/term-retry.log" "retrying in 20[0-9]"
said term-retry "stopped by SIGTERM while waiting 20"
said term-retry "s to retry GET /v1.0/users/delta: HTTP 503 Service Unavailable (the rerun makes the request again)"
expect_eq "$(count term-retry)" 3 "term-retry: rows of page 1"
rerun_heals term-retry
stop
serve term-stall --fault stall --at 2
term_waits term-stall "$T/term-stall.req" "skiptoken=p2 "
said term-stall "stopped by SIGTERM during GET /v1.0/users/delta (the rerun makes the request again)"
rerun_heals term-stall
stop
echo "SIGTERM during a 200 s Retry-After and a stalled transfer: stopped at once, exit 3, rerun resumes"

# The token endpoint: an access_token with CR LF is refused (no request
# carries the header after it); expires_in 2^63-1 is one token, not one
# per request.
serve crlf --fault token-crlf --at 0
run crlf
stop
expect_eq "$rc" 3 "token with CR LF: exit"
said crlf "has an access_token with control characters or spaces; refused"
grep -q injected-header "$T/crlf.req" && fail "a request carried the header the token endpoint put in its token"
expect_eq "$(grep -c /users/delta "$T/crlf.req" || true)" 0 "token with CR LF: data requests"
serve exphuge --fault token-exphuge --at 0
run exphuge
stop
expect_eq "$rc" 0 "expires_in 2^63-1: exit ($(tail -n 1 "$T/exphuge.out"))"
expect_eq "$(grep -c oauth2/v2.0/token "$T/exphuge.req")" 1 "expires_in 2^63-1: token requests"
echo "token with CR LF refused; expires_in 2^63-1: one token request"
