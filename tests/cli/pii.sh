#!/usr/bin/env bash
# Issue #4 acceptance 4 (and #8's log check): with "hash" equal inputs give
# equal outputs and no raw PII value appears anywhere in out/, state/ or the
# logs (bundle parts decompressed, SQLite files read as bytes); with
# "encrypt" values round-trip through `cairn decrypt` with the key and fail
# cleanly with a wrong one.
source "$(dirname "$0")/../lib.sh"
export CAIRN_SECRET_PII_KEY=$(openssl rand -hex 32)
export CAIRN_SECRET_PII_HMAC_KEY=$(openssl rand -hex 32)
S=(--state "$T/state" --out "$T/out")
"$CAIRN" run tests/data/pii/pii-users.json "${S[@]}" --log-level debug >"$T/stdout" 2>"$T/log" || fail "run: $(tail -3 "$T/log")"
db="$T/out/warehouse.db"
expect_eq "$(sqlite3 "$db" 'SELECT count(*) FROM identity_user')" 4 "good users"
expect_eq "$(sqlite3 "$db" "SELECT count(DISTINCT mail) FROM identity_user WHERE userId IN ('u-001','u-006')")" 1 "equal mails hash equal"
expect_eq "$(sqlite3 "$db" "SELECT length(mail) FROM identity_user WHERE userId='u-001'")" 64 "HMAC-SHA256 hex"
expect_eq "$(sqlite3 "$db" "SELECT count(*) FROM identity_user WHERE userPrincipalName IS NOT NULL")" 0 "dropped"
expect_eq "$(sqlite3 "$db" "SELECT deleted FROM identity_user WHERE userId='u-005'")" 1 "@removed"

# Nothing readable anywhere: unpack bundles, decompress parts, scan bytes.
mkdir -p "$T/scan"
for tar in "$T"/out/evidence/*/*.tar; do tar -xf "$tar" -C "$T/scan"; done
find "$T/scan" -name '*.zst' -exec sh -c 'zstdcat "$1" > "$1.txt"' _ {} \;
for needle in piivalue Piiperson "$CAIRN_SECRET_PII_KEY" "$CAIRN_SECRET_PII_HMAC_KEY"; do
  if grep -r -a -l -- "$needle" "$T/out" "$T/state" "$T/scan" "$T/log" "$T/stdout"; then
    fail "found [$needle] in the files above"
  fi
done
# Also the status and dlq output.
"$CAIRN" dlq pii-users "${S[@]}" > "$T/dlq.txt"
"$CAIRN" status pii-users "${S[@]}" --json > "$T/status.json"
! grep -a -e piivalue -e Piiperson "$T/dlq.txt" "$T/status.json" || fail "PII in dlq/status"
grep -q "userId: required but missing" "$T/dlq.txt" || fail "dlq reasons"
# a line cut short is a reject with the parser's reason, its raw text withheld
grep -q "not valid JSON" "$T/dlq.txt" || fail "dlq: no reject for the cut line"
grep -q "raw record withheld" "$T/dlq.txt" || fail "dlq: cut line not withheld"

# encrypt round-trips with the key, and fails cleanly with another.
enc=$(sqlite3 "$db" "SELECT displayName FROM identity_user WHERE userId='u-001'")
[[ "$enc" == enc:v1:k1:* ]] || fail "stored format: $enc"
expect_eq "$("$CAIRN" decrypt --key-secret PII_KEY "$enc")" "Alice Piiperson" "decrypt"
expect_eq "$(sqlite3 "$db" "SELECT displayName FROM identity_user ORDER BY userId" | "$CAIRN" decrypt --key-secret PII_KEY | tr '\n' '|')" \
  "Alice Piiperson|Bob Piiperson||Erin Piiperson|" "decrypt from stdin (a NULL name stays an empty line: rows stay in step)"
# A value longer than any line buffer (a 100,000-byte name) decrypts whole
# from stdin.
python3 -c 'import json; print(json.dumps({"id": "u-big", "displayName": "N" * 100000, "accountEnabled": True}))' > "$T/big.ndjson"
jq --arg p "$T/big.ndjson" '.name = "pii-big" | .source.path = $p' tests/data/pii/pii-users.json > "$T/big.json"
"$CAIRN" run "$T/big.json" --state "$T/big-state" --out "$T/big-out" >/dev/null 2>&1 || fail "big run"
expect_eq "$(sqlite3 "$T/big-out/warehouse.db" "SELECT displayName FROM identity_user" |
  "$CAIRN" decrypt --key-secret PII_KEY | wc -c)" 100001 "a 100,000-byte value from stdin"
# Plaintexts that cannot be written (a full disk) are a failure, not exit 0
# with nothing written: from arguments and from stdin.
set +e; err=$("$CAIRN" decrypt --key-secret PII_KEY "$enc" 2>&1 >/dev/full); rc=$?; set -e
expect_eq "$rc" 4 "decrypt to a full disk: exit"
[[ "$err" == *"cannot write standard output: No space left on device"* ]] || fail "full disk message: $err"
set +e; printf '%s\n\n' "$enc" | "$CAIRN" decrypt --key-secret PII_KEY >/dev/full 2>/dev/null; rc=$?; set -e
expect_eq "$rc" 4 "decrypt from stdin to a full disk: exit"
openssl rand -hex 32 > "$T/wrong.key"
set +e; err=$("$CAIRN" decrypt --key-file "$T/wrong.key" "$enc" 2>&1); rc=$?; set -e
expect_eq "$rc" 4 "wrong key exit"
[[ "$err" == *"decryption failed: wrong key or damaged value"* ]] || fail "wrong key message: $err"
# A key that cannot be read is said so, not taken for an empty key ("key
# must be 32 bytes ... (got 0 characters)" hid the read error).
set +e; err=$("$CAIRN" decrypt --key-file "$T" "$enc" 2>&1); rc=$?; set -e
expect_eq "$rc" 2 "key file that is a directory: exit"
[[ "$err" == *"cannot read the key: read $T: Is a directory"* ]] || fail "key file read error: $err"
mkdir -p "$T/creds/PII_DIR_KEY"
set +e; err=$(CREDENTIALS_DIRECTORY="$T/creds" "$CAIRN" decrypt --key-secret PII_DIR_KEY "$enc" 2>&1); rc=$?; set -e
expect_eq "$rc" 2 "key secret that is a directory: exit"
[[ "$err" == *"cannot read $T/creds/PII_DIR_KEY: Is a directory"* ]] || fail "key secret read error: $err"
set +e; err=$("$CAIRN" decrypt --key-secret PII_UNSET_KEY "$enc" 2>&1); rc=$?; set -e
expect_eq "$rc" 2 "unset key secret: exit"
[[ "$err" == *"secret PII_UNSET_KEY is not set"* ]] || fail "unset key secret: $err"
# Deterministic: a second run gives the same ciphertext and hashes.
"$CAIRN" run tests/data/pii/pii-users.json "${S[@]}" >/dev/null 2>&1
expect_eq "$(sqlite3 "$db" "SELECT displayName FROM identity_user WHERE userId='u-001'")" "$enc" "deterministic encrypt"
