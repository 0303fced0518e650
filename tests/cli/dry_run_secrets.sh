#!/usr/bin/env bash
# `cairn run --dry-run` previews a job on a machine where its secrets are
# not installed yet (docs/operations.md, --dry-run): it prints its whole
# plan, lists each secret a real run would stop without on a line of its
# own (file:line:col, how to provide it) and exits 2, so that a script can
# gate on it; with every secret there it exits 0 as before. Either way it
# sends no request (the mock of the job's API sees none, where a real run
# is seen), writes no state, output or metrics, and prints no secret.
source "$(dirname "$0")/../lib.sh"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
unset $(env | sed -n 's/^\(CAIRN_SECRET_[A-Z0-9_]*\)=.*/\1/p') CREDENTIALS_DIRECTORY
J=jobs/azure-cost-query.json
SECRET=arm-secret-test-4b1e   # the recording's; obviously fake
params() {  # the job's flags, its API (and token endpoint) the mock's
  P=(--param tenant_id=8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d
     --param client_id=6731de76-14a6-49ae-97bc-6eba6914391e
     --param scope=subscriptions/cfbbd179-59d2-4052-aa06-9270a38aa9d6
     --param endpoint="$MOCK_URL" --param login_endpoint="$MOCK_URL"
     --from 2024-04 --to 2024-06)
}
start_mock fixtures/azure-cost-query.har "$T/mock.log"
params
P+=(--state "$T/s" --out "$T/o" --metrics-dir "$T/m")
PLAN='azure-cost-query: would run 2 windows (2024-04 .. 2024-05) from http source into warehouse(sqlite) as cost_record; nothing run.'

dry() {  # JOB ARGS...: a dry run; sets rc, out (stdout) and err (stderr)
  local job=$1; shift
  set +e; out=$("$CAIRN" run "$job" --dry-run "$@" 2>"$T/err"); rc=$?; set -e
  err=$(cat "$T/err")
}

# 1. Without CLIENT_SECRET: the plan, the secret, exit 2.
dry "$J" "${P[@]}"
expect_eq "$rc" 2 "dry run without the secret"
expect_eq "$out" "$PLAN A real run would stop (exit 2): secret CLIENT_SECRET is not set." "plan without the secret"
expect_eq "$err" "$J:39:24: /source/auth/client_secret: secret \"CLIENT_SECRET\" is not set: a real run would stop here (exit 2) (set CAIRN_SECRET_CLIENT_SECRET or put it in \$CREDENTIALS_DIRECTORY/CLIENT_SECRET)" "the missing secret"
dry "$J" "${P[@]}" --json
expect_eq "$rc" 2 "dry run without the secret, --json"
expect_eq "$(jq -r '[.status, .exit_code, .message] | @tsv' <<<"$out")" \
  "dry_run	2	${PLAN#azure-cost-query: } A real run would stop (exit 2): secret CLIENT_SECRET is not set." "--json"

# 2. With it: exit 0 and the plan as before; its value is printed nowhere.
CAIRN_SECRET_CLIENT_SECRET=$SECRET dry "$J" "${P[@]}"
expect_eq "$rc" 0 "dry run with the secret ($err)"
expect_eq "$out" "$PLAN" "plan with the secret"
! has -F "$SECRET" <<<"$out$err" || fail "the secret was printed"

# 3. Nothing was sent to the API or its token endpoint, nothing written.
stop_mock
[ ! -s "$T/mock.log" ] || fail "a dry run sent: $(cat "$T/mock.log")"
[ ! -e "$T/s" ] && [ ! -e "$T/o" ] && [ ! -e "$T/m" ] || fail "a dry run wrote state, output or metrics"
# (the mock does log this job's requests: a real run is seen)
start_mock fixtures/azure-cost-query.har "$T/real.log"
params
CAIRN_SECRET_CLIENT_SECRET=$SECRET "$CAIRN" run "$J" "${P[@]}" --state "$T/real" \
  --out "$T/real" >/dev/null 2>"$T/real.err" ||
  fail "real run: $(tail -n 2 "$T/real.err")"
stop_mock
[ -s "$T/real.log" ] || fail "the mock saw no request of the real run"

# 4. Each missing secret on its own line, whether not set or unreadable
#    (a directory of that name), all named in the summary.
mkdir -p "$T/creds/PII_HMAC_KEY"
S=jobs/scim-users.json
CREDENTIALS_DIRECTORY="$T/creds" dry "$S" --param endpoint=https://idp.example/scim/v2 --state "$T/s"
expect_eq "$rc" 2 "two missing secrets"
[[ "$out" == *"as identity_user; nothing run. A real run would stop (exit 2): secret SCIM_TOKEN is not set; secret PII_HMAC_KEY cannot be read." ]] ||
  fail "summary of two: $out"
expect_eq "$err" "$S:23:42: /source/auth/token: secret \"SCIM_TOKEN\" is not set: a real run would stop here (exit 2) (set CAIRN_SECRET_SCIM_TOKEN or put it in \$CREDENTIALS_DIRECTORY/SCIM_TOKEN)
$S:42:19: /transform/pii/hmac_key: secret \"PII_HMAC_KEY\": cannot read $T/creds/PII_HMAC_KEY: Is a directory: a real run would stop here (exit 2) (it must be readable by the user cairn runs as)" \
  "two missing secrets, one line each"

# 5. The signing key a sink cannot open without (require_signature) is a
#    missing secret too, named where the job names the sink; a real run
#    would refuse the job (exit 2) once it took its lock.
E=jobs/evidence-export.json
dry "$E" --state "$T/s" --out "$T/o"
expect_eq "$rc" 2 "dry run without the signing key"
[[ "$out" == *"A real run would stop (exit 2): secret EVIDENCE_SIGNING_KEY is not set." ]] || fail "signing key summary: $out"
expect_eq "$err" "$E:25:13: /sinks/0: secret \"EVIDENCE_SIGNING_KEY\" is not set: a real run would stop here (exit 2) (sink \"evidence\" needs it; set CAIRN_SECRET_EVIDENCE_SIGNING_KEY or put it in \$CREDENTIALS_DIRECTORY/EVIDENCE_SIGNING_KEY)" \
  "signing key line"
openssl genpkey -algorithm ed25519 -out "$T/key.pem" 2>/dev/null
: > "$T/warehouse.db"  # the input it reads must be there (else exit 3)
CAIRN_SECRET_EVIDENCE_SIGNING_KEY=$(cat "$T/key.pem") dry "$E" --state "$T/s" --out "$T/o" --param warehouse="$T/warehouse.db"
expect_eq "$rc" 0 "dry run with the signing key ($err)"
[ ! -e "$T/s" ] && [ ! -e "$T/o" ] || fail "a dry run wrote state or output"
echo "dry runs list missing secrets (exit 2), send nothing, write nothing"
