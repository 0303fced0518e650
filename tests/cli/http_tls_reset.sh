#!/usr/bin/env bash
# A connection reset during the TLS handshake (a load balancer or proxy
# dropping a fresh connection: curl 35, "Recv failure: Connection reset by
# peer") is a broken network, retried like a reset after it, not a TLS
# failure that ends the run: against tests/cli/assets_server.py over https
# (a throwaway self-signed certificate for 127.0.0.1, given as tls.ca_file)
# whose first two connections are reset after their ClientHello, the
# newcomer's job loads its seven assets with two retries. So is an HTTP/2
# stream reset (libcurl speaks HTTP/2 to https servers that offer it:
# RST_STREAM INTERNAL_ERROR, curl 92, then the connection's GOAWAY, curl
# 16). A certificate the job does not trust still ends the run at once
# (not retried).
source "$(dirname "$0")/../lib.sh"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
TOKEN=acme-token-5be1c2
export CAIRN_SECRET_ACME_TOKEN=$TOKEN CAIRN_TEST_FAST_RETRY=1
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
jq --arg ca "$T/cert.pem" '.source.tls = {ca_file: $ca}' tests/data/newcomer/acme-assets.json >"$T/job.json"
jq '.source.tls = {}' "$T/job.json" >"$T/untrusting.json"

start_server() {   # RESETS [H2_RESETS]: sets SRV and URL
  rm -f "$T/srv.out"
  python3 tests/cli/assets_server.py "$TOKEN" --tls "$T/cert.pem" "$T/key.pem" --resets "$1" --h2-resets "${2:-0}" >"$T/srv.out" &
  SRV=$!
  wait_for "$SRV" test -s "$T/srv.out" || true
  URL=$(awk 'NR==1{print $2}' "$T/srv.out")
  [[ "$URL" == https://* ]] || fail "assets server did not start"
}
run() {   # NAME JOB: sets rc and log
  set +e
  "$CAIRN" run "$2" --param endpoint="$URL" --state "$T/$1/state" --out "$T/$1/out" >"$T/$1.out" 2>"$T/$1.log"
  rc=$?
  set -e
  log=$(cat "$T/$1.log")
}

start_server 2
run reset "$T/job.json"
expect_eq "$rc" 0 "run through two handshake resets: $(tail -n 2 "$T/reset.log")"
expect_eq "$(sqlite3 "$T/reset/out/warehouse.db" 'SELECT count(*) FROM cmdb_ci')" 7 "assets loaded"
expect_eq "$(jq -r 'select(.retry_reason) | .retry_reason' "$T/reset.log" | sort | uniq -c | awk '{print $1, $2}')" "2 connection" "retries"
has -F 'connection reset during the TLS handshake' <<<"$log" || fail "retry not named: $log"
kill $SRV; wait $SRV 2>/dev/null || true

# An HTTP/2 stream reset, then the connection ended under the retry.
start_server 0 1
run h2 "$T/job.json"
expect_eq "$rc" 0 "run through an HTTP/2 stream reset: $(tail -n 2 "$T/h2.log")"
expect_eq "$(sqlite3 "$T/h2/out/warehouse.db" 'SELECT count(*) FROM cmdb_ci')" 7 "assets loaded after the stream reset"
expect_eq "$(jq -r 'select(.retry_reason) | .retry_reason' "$T/h2.log" | sort -u)" "connection" "retries of the stream reset"
has -F 'connection reset (HTTP/2 stream error) (curl 92' <<<"$log" || fail "stream reset not named: $log"
kill $SRV; wait $SRV 2>/dev/null || true

# A certificate the job does not trust is no network fault: not retried.
start_server 0
run untrusted "$T/untrusting.json"
expect_eq "$rc" 3 "untrusted certificate"
expect_eq "$(jq -r 'select(.retry_reason) | .retry_reason' "$T/untrusted.log" | wc -l)" 0 "retries of an untrusted certificate"
has -F 'TLS failure' <<<"$log" || fail "untrusted certificate: $log"
echo "TLS handshake resets and HTTP/2 stream resets are retried; an untrusted certificate is not"
