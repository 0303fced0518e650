#!/usr/bin/env bash
# Credentials never cross the network in clear text: a job whose request
# URL (or token URL) is plain http:// to another machine (a mistyped
# --param endpoint=http://...) sent its bearer token, basic password or
# OAuth client secret unencrypted (and through any http_proxy). Refused
# before anything is sent (exit 3, as for a host the job does not allow);
# plain http to this machine (127.0.0.0/8, localhost, [::1]: a loopback
# mock) stays allowed. The same for a cost export's SAS token.
source "$(dirname "$0")/../lib.sh"
export CAIRN_SECRET_ACME_TOKEN=acme-cleartext-token-5c1e
J=tests/data/newcomer/acme-assets.json
# This machine's own non-loopback address: not 127.x, so to cairn another
# host, but nothing leaves the machine.
ip=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9.]+$' | grep -v '^127\.' | sed -n 1p)
ip=${ip:-0.0.0.0}
cat > "$T/srv.py" <<'PY'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[1], "a") as f:
            f.write("%s %s\n" % (self.path, self.headers.get("Authorization")))
        body = json.dumps({"items": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("0.0.0.0", 0), H)
print("listening %d" % s.server_port, flush=True)
s.serve_forever()
PY
python3 "$T/srv.py" "$T/seen.log" > "$T/srv.out" &
srv=$!
wait_for "$srv" grep -q '^listening ' "$T/srv.out" || true
port=$(sed -n 's/^listening //p' "$T/srv.out")
[ -n "$port" ] || fail "server did not start"
touch "$T/seen.log"

run() { # run DIR ENDPOINT
  "$CAIRN" run "$J" --param endpoint="$2" --state "$T/$1/state" --out "$T/$1/out" \
    >"$T/$1.stdout" 2>"$T/$1.log"
}
expect_exit 3 run remote "http://$ip:$port"
has -F "the request URL is plain http://$ip:$port: the job's credentials would cross the network in clear text" \
  "$T/remote.stdout" || fail "message: $(tail -n 1 "$T/remote.stdout")"
expect_eq "$(wc -l < "$T/seen.log")" 0 "requests that reached the server"
# The same server through loopback: allowed, with the token.
run local "http://127.0.0.1:$port" || fail "loopback: $(tail -n 3 "$T/local.log")"
has -F "Bearer $CAIRN_SECRET_ACME_TOKEN" "$T/seen.log" || fail "loopback request without the token: $(cat "$T/seen.log")"
kill "$srv"; wait "$srv" 2>/dev/null || true

# A cost export's SAS token over plain http to another machine: refused
# (exit 2), nothing sent (nothing listens there now: the run would fail
# to connect, exit 3, if it tried).
FOCUS=$(ls -d fixtures/cost-export/focus/*/*/*)
sas_run() {
  CAIRN_SECRET_STORAGE_SAS='sv=2022-11-02&sp=rl&sig=cleartextSig' "$CAIRN" run jobs/azure-cost-export.json \
    --param input="http://$ip:$port/cost/exports/x/20240501-20240531/run" \
    --state "$T/sas/state" --out "$T/sas/out" >"$T/sas.stdout" 2>"$T/sas.log"
}
expect_exit 2 sas_run
has -F "is plain http: its SAS token or credentials would cross the network in clear text" "$T/sas.stdout" ||
  fail "message: $(tail -n 1 "$T/sas.stdout")"
echo "ok: no credentials in clear text"
