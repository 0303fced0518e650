#!/usr/bin/env bash
# An option that takes one value, given twice with different values, is
# refused (exit 2, naming both) by every command: the last one used to win
# in silence (`--from 2024-01 ... --from 2024-02` ran February). So is a
# --param given twice with different values, by run and validate alike.
# The same value again is no conflict.
source "$(dirname "$0")/../lib.sh"
S=(--state "$T/state" --out "$T/out")
# refused: CMD... must exit 2 with MSG on stderr, touching nothing
refused() {
  local msg=$1 rc err; shift
  set +e; err=$("$CAIRN" "$@" 2>&1 >/dev/null); rc=$?; set -e
  expect_eq "$rc" 2 "$* : exit"
  [[ "$err" == *"$msg"* ]] || fail "$*: [$err]"
}
refused 'cairn run: --from given twice with different values ("2024-01", then "2024-02"): give one' \
  run jobs/azure-cost-query.json "${S[@]}" --from 2024-01 --from 2024-02 --to 2024-03
refused 'cairn run: --state given twice with different values' \
  run jobs/demo-cost.json --state "$T/a" --state "$T/b"
refused 'cairn run: --replay given twice with different values' \
  run jobs/demo-cost.json "${S[@]}" --replay a.har --replay=b.har
refused '--param input given twice with different values ("fixtures/demo/cost.csv", then "tests/data/csv/cost10.csv"): give one' \
  run jobs/demo-cost.json "${S[@]}" --param input=fixtures/demo/cost.csv --param input=tests/data/csv/cost10.csv
refused '--param input given twice with different values' \
  validate --param input=fixtures/demo/cost.csv --param input=tests/data/csv/cost10.csv jobs/demo-cost.json
[ ! -e "$T/state" ] && [ ! -e "$T/a" ] && [ ! -e "$T/b" ] || fail "a refused run touched a state"
"$CAIRN" run jobs/demo-cost.json "${S[@]}" --param input=fixtures/demo/cost.csv \
  --param input=fixtures/demo/cost.csv --state "$T/state" >/dev/null 2>&1 || fail "the same value twice"
refused 'cairn status: --runs given twice with different values ("1", then "2")' status --runs 1 --runs 2 "${S[@]}"
refused 'cairn status: --windows given twice' status --windows all --windows 3 "${S[@]}"
refused 'cairn status: --state given twice' status --state "$T/state" --state "$T/other"
refused 'cairn dlq: --state given twice' dlq demo-cost --state "$T/state" --state "$T/other"
refused 'cairn decrypt: --key-file given twice' decrypt --key-file a --key-file b enc:v1:x:y
refused 'cairn decrypt: --key-secret and --key-file exclude each other' decrypt --key-file a --key-secret B enc:v1:x:y
refused 'cairn decrypt: missing the key' decrypt enc:v1:x:y
refused 'cairn mock: --listen given twice' mock fixtures/azure-resource-graph.har --listen 127.0.0.1:0 --listen 127.0.0.1:1
refused 'cairn mock: --idle-exit given twice' mock fixtures/azure-resource-graph.har --idle-exit 1 --idle-exit=2
"$CAIRN" status demo-cost --runs 1 --runs 1 --state "$T/state" | has "demo-cost .*done" || fail "status --runs 1 twice"
# verify's --pubkey too (it used to refuse the same key twice, naming
# neither); the same key twice checks the signature once.
refused 'cairn verify: --pubkey given twice with different values ("a.pem", then "b.pem"): give one' \
  verify x.tar --pubkey a.pem --pubkey=b.pem
openssl genpkey -algorithm ed25519 -out "$T/key.pem" 2>/dev/null
openssl pkey -in "$T/key.pem" -pubout -out "$T/pub.pem"
CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$(cat "$T/key.pem")" "$CAIRN" run jobs/demo-cost.json \
  --state "$T/signed" --out "$T/signed" >/dev/null 2>&1 || fail "signed demo run"
"$CAIRN" verify "$T"/signed/evidence/demo-cost/*.tar --pubkey "$T/pub.pem" \
  --pubkey "$T/pub.pem" | has '^signature: *valid' || fail "verify --pubkey twice, the same key"
refused 'cairn dlq: missing JOB' dlq --state "$T/state"
refused "cairn dlq: one JOB at a time (got 'a' and 'b')" dlq a b --state "$T/state"
echo ok
