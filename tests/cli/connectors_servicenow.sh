#!/usr/bin/env bash
# jobs/servicenow-cmdb.json over real HTTP against `cairn mock` of
# fixtures/servicenow-cmdb.har (two recorded nightly runs):
#  1. run 1 pulls from the initial mark; page 2 is throttled (429) and
#     repeats the last CI of page 1, which ends up once in the warehouse
#     (upsert on the cmdb_ci key (source, ciId = sys_id));
#  2. run 2 with the same state is incremental: it asks for
#     sys_updated_on>=<largest sys_updated_on of run 1>, gets the CIs at the
#     mark again (still once each) and the one that changed (updated in
#     place), and ends on an empty page;
#  3. the mark moved after run 2: a third run asks from run 2's largest
#     sys_updated_on (not recorded, so that run fails; only its request
#     matters here).
source "$(dirname "$0")/../lib.sh"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export CAIRN_TEST_FAST_RETRY=1   # the 429 wait is accounted, not slept
export CAIRN_SECRET_SN_USER=cairn.integration CAIRN_SECRET_SN_PASSWORD=test-only-sn-password
JOB=jobs/servicenow-cmdb.json
DUP=2e63c4ef1b4f0d10a6b2ea0ee54bcb33      # win-build-07: page 1 and page 2

"$CAIRN" mock fixtures/servicenow-cmdb.har --listen 127.0.0.1:0 --log "$T/mock.log" \
  --idle-exit 60 >"$T/mock.out" 2>"$T/mock.err" &
wait_for $! grep -q '^listening ' "$T/mock.out" || true
URL=$(sed -n 's/^listening //p' "$T/mock.out")
[ -n "$URL" ] || fail "mock did not start: $(cat "$T/mock.err")"

run() {   # run N: one run of the job into the shared state and output
  "$CAIRN" run "$JOB" --param instance_url="$URL" --param page_size=3 \
    --state "$T/state" --out "$T/out" >"$T/run$1.out" 2>"$T/run$1.log"
}
db() { sqlite3 -separator $'\t' "$T/out/warehouse.db" "$1"; }
# marks LOG: the distinct decoded sysparm_query values of the requests in LOG.
marks() {
  jq -r '.url' "$1" | python3 -c '
import sys, urllib.parse
qs = {urllib.parse.parse_qs(urllib.parse.urlsplit(l.strip()).query)["sysparm_query"][0] for l in sys.stdin}
print("|".join(sorted(qs)))'
}
Q='^ORDERBYsys_updated_on^ORDERBYsys_id'

# 1. first run: from the initial mark, a 429, a duplicate across pages.
run 1 || fail "run 1: exit $? ($(tail -n 3 "$T/run1.log"))"
expect_eq "$(jq -s 'map(select(.status == 429)) | length' "$T/mock.log")" 1 "429s served in run 1"
grep -q 'HTTP 429' "$T/run1.log" || fail "run 1 did not log the throttled retry"
grep -q '8 records loaded' "$T/run1.out" || fail "run 1 should load 8 records: $(cat "$T/run1.out")"
expect_eq "$(db 'SELECT count(*) FROM cmdb_ci')" 7 "rows after run 1"
expect_eq "$(db "SELECT count(*) FROM cmdb_ci WHERE ciId = '$DUP'")" 1 "duplicate across the page boundary"
expect_eq "$(marks "$T/mock.log")" "sys_updated_on>=1970-01-01 00:00:00$Q" "run 1 query"
n1=$(wc -l <"$T/mock.log")

# 2. second run: incremental from the saved mark.
run 2 || fail "run 2: exit $? ($(tail -n 3 "$T/run2.log"))"
tail -n +"$((n1 + 1))" "$T/mock.log" >"$T/mock2.log"
expect_eq "$(marks "$T/mock2.log")" "sys_updated_on>=2024-06-01 12:00:00$Q" "run 2 query (the mark of run 1)"
expect_eq "$(jq -s 'map(select(.entry == "unmatched")) | length' "$T/mock2.log")" 0 "unmatched requests in run 2"
expect_eq "$(wc -l <"$T/mock2.log" | tr -d ' ')" 2 "requests in run 2 (a page and the empty page)"
grep -q '3 records loaded' "$T/run2.out" || fail "run 2 should load 3 records: $(cat "$T/run2.out")"
expect_eq "$(db 'SELECT count(*) FROM cmdb_ci')" 7 "rows after run 2"
expect_eq "$(db 'SELECT count(*) FROM (SELECT ciId FROM cmdb_ci GROUP BY source, ciId HAVING count(*) > 1)')" 0 "duplicate keys"
expect_eq "$(db "SELECT owner, env, lastSeenUtc FROM cmdb_ci WHERE ciId = '$DUP'")" \
  "Release Engineering	prod	2024-06-03T10:22:31Z" "changed CI after run 2"
expect_eq "$(db "SELECT name, lastSeenUtc FROM cmdb_ci WHERE ciId = '5b93f4ef1b4f0d10a6b2ea0ee54bcb66'")" \
  "payments-api	2024-06-01T12:00:00Z" "CI at the mark after run 2"

# 3. the mark moved to run 2's largest sys_updated_on.
n2=$(wc -l <"$T/mock.log")
set +e; run 3; rc=$?; set -e
[ $rc -ne 0 ] || fail "run 3 should fail: its request is not in the recording"
tail -n +"$((n2 + 1))" "$T/mock.log" >"$T/mock3.log"
expect_eq "$(marks "$T/mock3.log")" "sys_updated_on>=2024-06-03 10:22:31$Q" "run 3 query (the mark of run 2)"
expect_eq "$(db 'SELECT count(*) FROM cmdb_ci')" 7 "rows after the failed run 3"
echo "servicenow-cmdb: incremental from the saved mark, duplicates collapse on (source, ciId)"
