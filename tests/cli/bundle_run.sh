#!/usr/bin/env bash
# End to end through `cairn run`: the demo CSV loaded into a bundle sink
# gives a signed bundle that cairn verify and stock tools accept; a second
# run, and runs killed at chunk boundaries or at random instants (some
# inside finish_window) then resumed, give the same bytes, also when the
# resumed run has a key the killed one had not (re-signed); without the
# signing secret the bundle is unsigned and still verifies, but a rerun
# without it does not replace a signed bundle; a key that is not one stops
# the run, and --dry-run, with exit 2.
source "$(dirname "$0")/../lib.sh"

mkdir -p "$T/jobs" "$T/sinks"
cat > "$T/sinks/evidence.json" <<'EOF'
{ "name": "evidence", "type": "bundle", "dir": "evidence", "level": 3 }
EOF
jq --arg csv "$ROOT/fixtures/demo/cost.csv" \
   '.name = "demo-bundle" | .sinks = ["evidence"] | .source.path = $csv' \
   jobs/demo-cost.json > "$T/jobs/demo-bundle.json"
JOB="$T/jobs/demo-bundle.json"
openssl genpkey -algorithm ed25519 -out "$T/key.pem" 2>/dev/null
openssl pkey -in "$T/key.pem" -pubout -out "$T/pub.pem"
FPR=$(openssl pkey -pubin -in "$T/pub.pem" -outform DER | sha256sum | cut -d' ' -f1)
export CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$(cat "$T/key.pem")"

run() { "$CAIRN" run "$JOB" --param chunk_rows=400 --log-level warn \
          --state "$1/state" --out "$1/out" >/dev/null 2>>"$1/log"; }
# (the job has no logical_time: its bundle is named by 1970-01-01)
bundle() { echo "$1/out/evidence/demo-bundle/demo-bundle-all-19700101T000000Z.tar"; }

mkdir -p "$T/ref"
run "$T/ref" || fail "reference run failed: $(tail -n 3 "$T/ref/log")"
REF=$(bundle "$T/ref")
[ -f "$REF" ] || fail "no bundle at $REF"
[ ! -e "$T/ref/out/evidence/demo-bundle/.staging" ] || fail "staging left behind"
"$CAIRN" verify "$REF" --pubkey "$T/pub.pem" > "$T/summary"
grep -qx "parts:        5" "$T/summary" || fail "parts: $(cat "$T/summary")"
grep -qx "records:      2000" "$T/summary" || fail "records: $(cat "$T/summary")"
grep -qx "signature:    valid, ed25519 key $FPR" "$T/summary" || fail "key"

# Stock tools: tar, sha256sum, zstdcat | jq, openssl.
mkdir "$T/x" && tar -xf "$REF" -C "$T/x"
(
  cd "$T/x"
  total=0
  for p in $(jq -r '.parts[].path' manifest.json); do
    m=$(jq -c --arg p "$p" '.parts[] | select(.path == $p)' manifest.json)
    expect_eq "$(sha256sum "$p" | cut -d' ' -f1)" "$(jq -r .sha256 <<<"$m")" "$p sha256"
    n=$(zstdcat "$p" | jq -c . | wc -l)
    expect_eq "$n" "$(jq -r .records <<<"$m")" "$p records"
    total=$((total + n))
  done
  expect_eq "$total" "$(jq -r .totals.records manifest.json)" "total records"
  openssl pkeyutl -verify -pubin -inkey "$T/pub.pem" -rawin -in manifest.json \
    -sigfile manifest.sig >/dev/null || fail "openssl does not verify manifest.sig"
  expect_eq "$(jq -r .job manifest.json)" "demo-bundle" "manifest job"
  expect_eq "$(jq -r .contract.name manifest.json)" "cost_record" "manifest contract"
)

# Same inputs, same bytes.
mkdir -p "$T/again"
run "$T/again" || fail "second run failed"
cmp -s "$REF" "$(bundle "$T/again")" || fail "second run's bundle differs"

# Killed at chunk boundaries, then resumed: same bytes.
for point in sink_loaded:2 loaded:3 sink_loaded:5 window:5; do
  d="$T/kill-${point/:/-}"; mkdir -p "$d"
  set +e; CAIRN_TEST_KILL_AT="$point" run "$d"; rc=$?; set -e
  [ $rc -eq 137 ] || fail "$point: expected SIGKILL (137), got $rc"
  run "$d" || fail "$point: resume failed: $(tail -n 3 "$d/log")"
  cmp -s "$REF" "$(bundle "$d")" || fail "$point: resumed bundle differs"
  expect_eq "$(n_tars "$(dirname "$(bundle "$d")")")" 1 "$point: bundles"
done

# Killed once the tar was written but before the window was recorded
# (window:5), by a run without the key (the sink then sets
# require_signature) or with another one (the key was rotated), then
# resumed with the key: the bundle is re-signed from its own parts, the
# same bytes as the reference, not handed out unsigned or with the old key.
jq '.sinks = [{"name": "evidence", "require_signature": true}]' "$JOB" \
  > "$T/jobs/demo-bundle-required.json"
openssl genpkey -algorithm ed25519 -out "$T/old-key.pem" 2>/dev/null
for first in none old-key; do
  d="$T/resign-$first"; mkdir -p "$d"
  set +e
  if [ "$first" = none ]; then
    (unset CAIRN_SECRET_EVIDENCE_SIGNING_KEY; CAIRN_TEST_KILL_AT=window:5 run "$d")
  else
    CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$(cat "$T/old-key.pem")" CAIRN_TEST_KILL_AT=window:5 run "$d"
  fi
  rc=$?; set -e
  [ $rc -eq 137 ] || fail "$first: expected SIGKILL (137), got $rc"
  JOB="$T/jobs/demo-bundle-required.json" run "$d" \
    || fail "$first: resume failed: $(tail -n 3 "$d/log")"
  "$CAIRN" verify "$(bundle "$d")" --pubkey "$T/pub.pem" > "$d/verify" 2>&1 \
    || fail "$first: resumed bundle does not verify with the key: $(cat "$d/verify")"
  cmp -s "$REF" "$(bundle "$d")" || fail "$first: re-signed bundle differs"
  [ ! -e "$(dirname "$(bundle "$d")")/.staging" ] || fail "$first: staging left behind"
done

# Killed at random instants (some inside finish_window), then resumed.
t0=$(date +%s%N); mkdir -p "$T/timing"; run "$T/timing"; t1=$(date +%s%N)
span_us=$(( (t1 - t0) / 1000 ))
RANDOM=11
for i in $(seq 1 10); do
  d="$T/random-$i"; mkdir -p "$d"
  "$CAIRN" run "$JOB" --param chunk_rows=400 --log-level warn \
    --state "$d/state" --out "$d/out" >/dev/null 2>>"$d/log" &
  pid=$!
  delay=$(( (RANDOM * 32768 + RANDOM) % span_us ))
  sleep "$(awk -v us="$delay" 'BEGIN { printf "%.6f", us / 1e6 }')"
  kill -9 $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  run "$d" || fail "random $i: resume failed: $(tail -n 3 "$d/log")"
  cmp -s "$REF" "$(bundle "$d")" || fail "random $i (${delay}us): bundle differs"
  expect_eq "$(n_tars "$(dirname "$(bundle "$d")")")" 1 "random $i: bundles"
  rm -rf "$d"
done

# No secret: an unsigned bundle, a warning, and verify without a key.
mkdir -p "$T/unsigned"
(unset CAIRN_SECRET_EVIDENCE_SIGNING_KEY; run "$T/unsigned") || fail "unsigned run failed"
grep -q "will be unsigned" "$T/unsigned/log" || fail "no unsigned warning"
"$CAIRN" verify "$(bundle "$T/unsigned")" | has -x "signature:    none (unsigned bundle)" \
  || fail "unsigned summary"
expect_exit 4 "$CAIRN" verify "$(bundle "$T/unsigned")" --pubkey "$T/pub.pem" 2>/dev/null

# A signature is never dropped: a --fresh rerun of the same input without
# the key would name the same bundle; it stops at the window's end with
# exit 2, the signed bundle untouched, and a rerun with the key resumes
# and finishes it signed, the same bytes.
cp -r "$T/again" "$T/keep"
set +e; (unset CAIRN_SECRET_EVIDENCE_SIGNING_KEY
         "$CAIRN" run "$JOB" --param chunk_rows=400 --fresh --log-level warn \
           --state "$T/keep/state" --out "$T/keep/out" >/dev/null 2>>"$T/keep/log"); rc=$?; set -e
expect_eq "$rc" 2 "unsigned rerun over a signed bundle"
grep -q "is signed (key $FPR) and this run has no signing key" "$T/keep/log" \
  || fail "no refusal: $(tail -n 2 "$T/keep/log")"
cmp -s "$REF" "$(bundle "$T/keep")" || fail "the signed bundle was replaced"
run "$T/keep" || fail "resume with the key failed: $(tail -n 3 "$T/keep/log")"
cmp -s "$REF" "$(bundle "$T/keep")" || fail "resumed with the key: bundle differs"
expect_eq "$(n_tars "$(dirname "$(bundle "$T/keep")")")" 1 "kept signed: bundles"

# A signing key that is not one (RSA, garbage) is a configuration error:
# exit 2 before the run, nothing in the state, not a resumable exit 3 a
# scheduler would retry for nothing.
openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:1024 -out "$T/rsa.pem" 2>/dev/null
for k in "$T/rsa.pem:not an Ed25519 key" "garbage:not an unencrypted PEM private key"; do
  f=${k%%:*} want=${k#*:}
  key=$([ -f "$f" ] && cat "$f" || echo "$f")
  mkdir -p "$T/badkey"
  set +e; CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$key" run "$T/badkey"; rc=$?; set -e
  expect_eq "$rc" 2 "signing key $want"
  grep -q "secret EVIDENCE_SIGNING_KEY: $want" "$T/badkey/log" || fail "key $want: $(tail -n 2 "$T/badkey/log")"
  expect_eq "$(sqlite3 "$T/badkey/state/cairn.db" 'SELECT count(*) FROM runs' 2>/dev/null || echo 0)" 0 "key $want: no run recorded"
  rm -rf "$T/badkey"
done

# --dry-run reads and parses the key as the real run does: an empty one
# under require_signature, a malformed one, another kind, or one under a
# passphrase stop it with the real run's message and exit 2 (it only
# looked for the secret, so they passed it: exit 0), writing nothing.
cat > "$T/sinks/evidence-signed.json" <<'EOF'
{ "name": "evidence-signed", "type": "bundle", "dir": "evidence", "require_signature": true }
EOF
jq '.sinks = ["evidence-signed"]' "$JOB" > "$T/jobs/demo-signed.json"
openssl genpkey -algorithm ed25519 -aes256 -pass pass:secret-pass -out "$T/enc.pem" 2>/dev/null
for k in "$T/rsa.pem:secret EVIDENCE_SIGNING_KEY: not an Ed25519 key" \
         "garbage:secret EVIDENCE_SIGNING_KEY: not an unencrypted PEM private key" \
         "$T/enc.pem:secret EVIDENCE_SIGNING_KEY: not an unencrypted PEM private key" \
         ":bundle sink evidence-signed: require_signature is set but the secret EVIDENCE_SIGNING_KEY is empty"; do
  f=${k%%:*} want=${k#*:}
  key=$([ -f "$f" ] && cat "$f" || echo "$f")
  set +e
  out=$(CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$key" "$CAIRN" run "$T/jobs/demo-signed.json" \
          --dry-run --state "$T/dry/state" --out "$T/dry/out" 2>"$T/dry.err")
  rc=$?; set -e
  expect_eq "$rc" 2 "dry run, key: $want"
  has -F "A real run would stop (exit 2): $want" <<<"$out" || fail "dry run, key $want: $out"
  has -F "$want" "$T/dry.err" || fail "dry run, key $want: $(cat "$T/dry.err")"
  [ ! -e "$T/dry" ] || fail "dry run, key $want: wrote state or output"
done
# With the key: exit 0 as before.
"$CAIRN" run "$T/jobs/demo-signed.json" --dry-run --state "$T/dry/state" \
  --out "$T/dry/out" >/dev/null 2>&1 || fail "dry run with the key"
echo "bundle_run: ok"
