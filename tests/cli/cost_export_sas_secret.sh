#!/usr/bin/env bash
# A cost export read from Azure Storage takes its SAS token from the secret
# STORAGE_SAS (the source's "sas"), so that it is not on the command line:
# a --param input='https://...?sv=...&sig=...' (the only way the docs gave)
# is readable by every local user in /proc/PID/cmdline (ps) and sits in
# the systemd recipe's 0644 /etc/cairn/<job>.env. The token is sent on
# every request and written nowhere.
source "$(dirname "$0")/../lib.sh"
FOCUS=$(ls -d fixtures/cost-export/focus/*/*/*)
RUN_PATH=$(python3 -c 'import json, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
print("/cost/" + m["blobs"][0]["blobName"].strip().rsplit("/", 1)[0])' "$FOCUS")
SAS='sv=2022-11-02&ss=b&srt=co&sp=rl&se=2030-01-01T00:00:00Z&spr=https&sig=s3cr3tS1gnature%3D'
COLS="recordId, billedCost, effectiveCost, chargePeriodStartUtc"
rows() { sqlite3 "$1/out/warehouse.db" "SELECT $COLS FROM cost_record ORDER BY recordId"; }
load() { # load INPUT DIR [more args]
  local input=$1 dir=$2; shift 2
  mkdir -p "$dir"
  "$CAIRN" run jobs/azure-cost-export.json --param input="$input" --state "$dir/state" \
    --out "$dir/out" "$@" >"$dir/stdout" 2>"$dir/log"
}
no_secret() { ! grep -rqa 's3cr3tS1gnature' "$1" || fail "SAS signature written under $1: $(grep -rla 's3cr3tS1gnature' "$1")"; }

load "$FOCUS" "$T/local" || fail "local: $(tail -n 3 "$T/local/log")"
want=$(rows "$T/local")

python3 tests/cli/blob_server.py "$FOCUS" cost "$T/bs.log" --require-query "$SAS" > "$T/bs.out" &
bs=$!
wait_for "$bs" test -s "$T/bs.out" || true
url=$(awk 'NR==1{print $2}' "$T/bs.out")
[ -n "$url" ] || fail "blob server did not start"
# Without the token: refused (403, resumable).
expect_exit 3 load "$url$RUN_PATH" "$T/none"
has -F 'HTTP 403' "$T/none/stdout" || fail "403: $(tail -n 1 "$T/none/stdout")"
# From the secret, with or without its leading '?'.
CAIRN_SECRET_STORAGE_SAS="$SAS" load "$url$RUN_PATH" "$T/env" || fail "sas secret: $(tail -n 3 "$T/env/log")"
expect_eq "$(rows "$T/env")" "$want" "SAS from CAIRN_SECRET_STORAGE_SAS"
no_secret "$T/env"
mkdir -p "$T/creds"; printf '?%s\n' "$SAS" > "$T/creds/STORAGE_SAS"
CREDENTIALS_DIRECTORY="$T/creds" load "$url$RUN_PATH" "$T/file" --log-level debug ||
  fail "sas credential file: $(tail -n 3 "$T/file/log")"
expect_eq "$(rows "$T/file")" "$want" "SAS from \$CREDENTIALS_DIRECTORY/STORAGE_SAS"
no_secret "$T/file"
# The URL's own query and the secret both: refused, nothing sent.
n=$(wc -l < "$T/bs.log")
CAIRN_SECRET_STORAGE_SAS="$SAS" expect_exit 2 load "$url$RUN_PATH?$SAS" "$T/both"
has -F 'give the SAS token once' "$T/both/stdout" || fail "both: $(tail -n 1 "$T/both/stdout")"
expect_eq "$(wc -l < "$T/bs.log")" "$n" "requests sent with the token twice"
kill "$bs"; wait "$bs" 2>/dev/null || true
echo "ok: the SAS token comes from a secret"
