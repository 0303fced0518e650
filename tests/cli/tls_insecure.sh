#!/usr/bin/env bash
# A job with "tls": {"insecure": true} says that TLS verification is off
# whatever --log-level hides (a quiet cron job's --log-level error used to
# hide the only warning), and its runs say so in `cairn status` (text and
# --json), against tests/cli/assets_server.py over https with a throwaway
# self-signed certificate the job does not trust.
source "$(dirname "$0")/../lib.sh"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
TOKEN=acme-token-5be1c2
export CAIRN_SECRET_ACME_TOKEN=$TOKEN
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
jq '.source.tls = {insecure: true}' tests/data/newcomer/acme-assets.json >"$T/job.json"

python3 tests/cli/assets_server.py "$TOKEN" --tls "$T/cert.pem" "$T/key.pem" --resets 0 >"$T/srv.out" &
SRV=$!
wait_for "$SRV" test -s "$T/srv.out" || true
URL=$(awk 'NR==1{print $2}' "$T/srv.out")
[[ "$URL" == https://* ]] || fail "assets server did not start"
S=(--state "$T/state" --out "$T/out")

set +e
"$CAIRN" run "$T/job.json" --param endpoint="$URL" "${S[@]}" --log-level error >/dev/null 2>"$T/run.log"
rc=$?
set -e
kill $SRV; wait $SRV 2>/dev/null || true
expect_eq "$rc" 0 "insecure run: $(tail -n 2 "$T/run.log")"
expect_eq "$(grep -c 'TLS certificate and host verification is DISABLED' "$T/run.log")" 1 \
  "the warning, once, under --log-level error: $(cat "$T/run.log")"
expect_eq "$(jq -r 'select(.msg | test("DISABLED")) | .level' "$T/run.log")" warn "its level"

status=$("$CAIRN" status acme-assets "${S[@]}")
has -F 'tls: VERIFICATION OFF (source.tls.insecure' <<<"$status" || fail "status: $status"
expect_eq "$("$CAIRN" status acme-assets "${S[@]}" --json | jq '.runs[0].tls_insecure')" 1 "status --json"
echo "tls.insecure: said under --log-level error, and recorded in the run (cairn status)"
