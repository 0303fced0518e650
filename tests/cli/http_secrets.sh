#!/usr/bin/env bash
# A ${secret:} in request.query is sent percent-encoded (a base64 key's
# '+', '/', '='): no form of it may reach state (chunk cursors, page
# metadata, the ETag key), a recording, or a failed run's message (text
# and JSON summary, stderr, the runs table). Cursors keep the next link
# without the key and the job's key is put back when the link is followed,
# also after a restart; a recording redacts it to REDACTED and replays.
source "$(dirname "$0")/../lib.sh"
export CAIRN_TEST_FAST_RETRY=1
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
KEY='fake+Key/Sec=ret0'                  # obviously fake
export CAIRN_SECRET_FAKE_FN_KEY=$KEY
FORMS=("$KEY" 'fake%2BKey%2FSec%3Dret0' 'fake%2bKey%2fSec%3dret0' FakeServerSig0)
JOB=tests/data/http-jobs/secret-query.json
HAR=fixtures/http-source/secret-query.har

run() {   # NAME ARGS...: run the job into $T/NAME; sets rc
  local name=$1; shift
  rc=0
  "$CAIRN" run "$JOB" --state "$T/$name/state" --out "$T/$name/out" "$@" \
    >>"$T/$name.out" 2>>"$T/$name.log" || rc=$?
}
clean() {  # FILE-OR-DIR...: no form of the key (nor the server's signature)
  for f in "$@"; do
    for s in "${FORMS[@]}"; do
      if [ -d "$f" ]; then
        grep -rqaF -- "$s" "$f" && fail "${s:0:8}... found under $f"
        find "$f" -name '*.db' -exec sqlite3 {} .dump \; | has -aF -- "$s" &&
          fail "${s:0:8}... found in a database under $f"
      else
        grep -qaF -- "$s" "$f" && fail "${s:0:8}... found in $f"
      fi
    done
  done
  return 0
}

# 1. Page 2 fails (exit 3, resumable): chunk 1 is checkpointed with the
#    next link as its cursor.
start_mock "$HAR" "$T/a.mock.log" 503@2
run a --param endpoint="$MOCK_URL"
expect_eq "$rc" 3 "run with page 2 failing"
cur=$(sqlite3 "$T/a/state/cairn.db" "SELECT cursor_out FROM chunks WHERE seq = 1")
case $cur in *code=REDACTED*page=2*) ;; *) fail "cursor: $cur" ;; esac
meta=$(sqlite3 "$T/a/state/cairn.db" "SELECT meta FROM chunks WHERE seq = 1")
case $meta in *code=REDACTED*sig=REDACTED*) ;; *) fail "meta: $meta" ;; esac
clean "$T/a" "$T/a.out" "$T/a.log"

# 2. The rerun follows the checkpointed link with the job's key put back:
#    the mock answers page 2 only for the right key.
run a --param endpoint="$MOCK_URL"
stop_mock
expect_eq "$rc" 0 "resumed run ($(tail -n 2 "$T/a.log"))"
expect_eq "$(jq -r "[.entry, .status] | @tsv" "$T/a.mock.log" | tr "\t\n" ":,")" "0:200,1:503,1:200," "requests of both runs"
expect_eq "$(sqlite3 "$T/a/out/warehouse.db" 'SELECT count(*) FROM incident_link')" 2 "records"
key=$(sqlite3 "$T/a/state/cairn.db" "SELECT key FROM kv WHERE key LIKE 'etag:%'")
case $key in etag:sha256:*) ;; *) fail "ETag key: $key" ;; esac
clean "$T/a" "$T/a.out" "$T/a.log"

# 3. Recorded: the key is REDACTED (as are the server's signatures in
#    Link), and the recording replays offline to the same data.
start_mock "$HAR" "$T/c.mock.log"
run rec --param endpoint="$MOCK_URL" --record "$T/rec.har"
stop_mock
expect_eq "$rc" 0 "recorded run ($(tail -n 2 "$T/rec.log"))"
grep -qF 'code=REDACTED' "$T/rec.har" || fail "the key is not REDACTED in the recording"
clean "$T/rec.har" "$T/rec" "$T/rec.log"
run replay --param endpoint="$MOCK_URL" --replay "$T/rec.har"
expect_eq "$rc" 0 "replay of the recording ($(tail -n 2 "$T/replay.log"))"
expect_eq "$(sqlite3 "$T/replay/out/warehouse.db" .dump)" "$(sqlite3 "$T/rec/out/warehouse.db" .dump)" "replayed data"

# 4. A request the recording does not hold: the mismatch message names
#    the request without the key, everywhere it goes.
run miss --param endpoint=https://h.example --replay fixtures/http-source/jira.har
expect_eq "$rc" 3 "replay mismatch"
grep -qF 'no recorded response for GET /items?code=REDACTED' "$T/miss.out" || fail "message: $(cat "$T/miss.out")"
# Deterministic: the summary does not advise a plain rerun.
grep -qF 'FAILED (resumable: a rerun with this recording misses the same way' "$T/miss.out" || fail "advice: $(cat "$T/miss.out")"
run missj --json --param endpoint=https://h.example --replay fixtures/http-source/jira.har
expect_eq "$rc" 3 "replay mismatch (--json)"
clean "$T/miss" "$T/miss.out" "$T/miss.log" "$T/missj" "$T/missj.out" "$T/missj.log"

# 5. A server that echoes the key in a reply that is not JSON: the run's
#    message quotes the reply with the key masked.
start_mock "$HAR" "$T/e.mock.log"
run echo --param endpoint="$MOCK_URL/echo"
stop_mock
expect_eq "$rc" 3 "non-JSON reply"
grep -qF 'invalid key ***' "$T/echo.out" || fail "message: $(cat "$T/echo.out")"
clean "$T/echo" "$T/echo.out" "$T/echo.log"

# 6. The same with the key across the 60th byte, where the message cuts
#    the reply: no first bytes of the key either (masked before the cut).
jq '(.log.entries[] | select(.request.url | test("/echo/")) | .response.content.text) |=
    "rejected: the app has no subscription for it; key fake+Key/Sec=ret0 is invalid"' \
  "$HAR" >"$T/cut.har"
start_mock "$T/cut.har" "$T/f.mock.log"
run cut --param endpoint="$MOCK_URL/echo"
stop_mock
expect_eq "$rc" 3 "non-JSON reply, key at the cut"
grep -qF 'subscription for it; key ***' "$T/cut.out" || fail "message: $(cat "$T/cut.out")"
FORMS+=('fake+Key/S')
clean "$T/cut" "$T/cut.out" "$T/cut.log"
echo "secret query key: kept out of cursors, metadata, ETag keys, recordings and messages; resume and replay work"
