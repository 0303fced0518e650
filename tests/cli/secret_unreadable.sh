#!/usr/bin/env bash
# A secret file in $CREDENTIALS_DIRECTORY that is there but cannot be read
# (a root-only directory such as the systemd recipe's /etc/cairn/credentials,
# read by the cairn user from cron; not a file) is reported as such, naming
# the file and the reason, not as an undefined secret "to put in
# $CREDENTIALS_DIRECTORY/NAME", where it already is. A signing key that
# cannot be read is named in a warning before the bundles go unsigned. A
# secret too short to be masked (under 4 characters) is warned of.
source "$(dirname "$0")/../lib.sh"
P=(--param tenant_id=t --param client_id=c --param scope=subscriptions/s)
J=jobs/azure-cost-query.json
unset CAIRN_SECRET_CLIENT_SECRET CAIRN_SECRET_EVIDENCE_SIGNING_KEY

# 1. Not a file: a directory of that name.
mkdir -p "$T/creds/CLIENT_SECRET"
set +e
CREDENTIALS_DIRECTORY="$T/creds" "$CAIRN" run "$J" "${P[@]}" --state "$T/s" \
  --dry-run >"$T/out" 2>"$T/err"
rc=$?; set -e
expect_eq "$rc" 2 "exit code for an unreadable secret file"
grep -qF "secret \"CLIENT_SECRET\": cannot read $T/creds/CLIENT_SECRET: Is a directory" "$T/err" ||
  fail "message: $(cat "$T/err")"
grep -q 'undefined secret' "$T/err" && fail "called undefined: $(cat "$T/err")"
# validate only notes it, with the reason.
CREDENTIALS_DIRECTORY="$T/creds" "$CAIRN" validate "$J" >/dev/null 2>"$T/err" ||
  fail "validate: $(cat "$T/err")"
grep -q "note: .*cannot read $T/creds/CLIENT_SECRET: Is a directory" "$T/err" || fail "validate note: $(cat "$T/err")"

# 2. A readable file is used.
rmdir "$T/creds/CLIENT_SECRET"; echo 'x' >"$T/creds/CLIENT_SECRET"
CREDENTIALS_DIRECTORY="$T/creds" "$CAIRN" run "$J" "${P[@]}" --state "$T/s" \
  --dry-run >/dev/null 2>"$T/err" || fail "dry run with the file: $(cat "$T/err")"
# ... but a value of 1 to 3 characters cannot be masked: a warning says so.
grep -qF 'secret \"CLIENT_SECRET\" is 1 character long: too short to be masked in logs, recordings and state (4 or more are)' "$T/err" ||
  fail "no warning for a 1-character secret: $(grep -v '"info"' "$T/err")"
echo 'long-enough' >"$T/creds/CLIENT_SECRET"
CREDENTIALS_DIRECTORY="$T/creds" "$CAIRN" run "$J" "${P[@]}" --state "$T/s" \
  --dry-run >/dev/null 2>"$T/err" || fail "dry run with a longer secret: $(cat "$T/err")"
grep -q 'too short to be masked' "$T/err" && fail "warned of a secret long enough"

# 3. The signing key of the evidence sink: a warning names the cause.
mkdir "$T/creds/EVIDENCE_SIGNING_KEY"
CREDENTIALS_DIRECTORY="$T/creds" "$CAIRN" run jobs/demo-cost.json \
  --state "$T/d" --out "$T/d" >/dev/null 2>"$T/err" || fail "demo run: $(cat "$T/err")"
grep -qF "secret \\\"EVIDENCE_SIGNING_KEY\\\": cannot read $T/creds/EVIDENCE_SIGNING_KEY: Is a directory" "$T/err" ||
  fail "no warning for the signing key: $(grep -v '"info"' "$T/err")"

# 4. Permission denied, as another user (root only, with setpriv).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  rmdir "$T/creds/EVIDENCE_SIGNING_KEY"
  chmod 0700 "$T/creds"; chmod go+rx "$T"
  install -m 755 "$CAIRN" "$T/cairn-u"
  set +e
  CREDENTIALS_DIRECTORY="$T/creds" setpriv --reuid=65534 --regid=65534 \
    --clear-groups "$T/cairn-u" run "$J" "${P[@]}" --state "$T/u" --dry-run \
    >/dev/null 2>"$T/err"
  rc=$?; set -e
  expect_eq "$rc" 2 "exit code as another user"
  grep -q "cannot read .*CLIENT_SECRET: Permission denied" "$T/err" ||
    fail "as another user: $(cat "$T/err")"
fi
echo "secret_unreadable: ok"
