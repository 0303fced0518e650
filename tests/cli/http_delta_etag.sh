#!/usr/bin/env bash
# HTTP extraction acceptance 6, end to end through `cairn run`:
#  - conditional GET: the first run saves the ETag, the second sends
#    If-None-Match, gets 304, loads nothing and counts it;
#  - delta: the first Graph users run is full and saves @odata.deltaLink,
#    the second pulls only the changes from it, the third finds it
#    expired (410) and falls back to a full sync with a warning.
source "$(dirname "$0")/../lib.sh"
export CAIRN_SECRET_GRAPH_CLIENT_SECRET=graph-secret-9a2e44 CAIRN_SECRET_BLOB_SAS_SIG=sas-sig-Zx81Qm
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
TENANT=8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d

run() {   # JOB N [DIR]: run number N of JOB (same state and output every
          # time: those of DIR, by default JOB)
  local p j="tests/data/http-jobs/$1.json" d=${3:-$1}
  [ -e "$j" ] || j="$T/$1.json" # made by this test
  mapfile -t p < <(uses "$j" endpoint="$MOCK_URL" \
    token_url="$MOCK_URL/$TENANT/oauth2/v2.0/token")
  "$CAIRN" run "$j" --state "$T/$d/state" --out "$T/$d/out" "${p[@]}" \
    >"$T/$1.$2.out" 2>"$T/$1.$2.log" || fail "$1 run $2: exit $? ($(tail -n 2 "$T/$1.$2.log"))"
}
q() { sqlite3 "$T/$1/out/warehouse.db" "$2"; }

# ---- ETag ----------------------------------------------------------------
start_mock fixtures/http-source/blob-etag.har "$T/blob.mock.log"
run blob-etag 1
expect_eq "$(q blob-etag 'SELECT count(*) FROM cmdb_ci')" 3 "blob rows"
etag=$(sqlite3 "$T/blob-etag/state/cairn.db" "SELECT value FROM kv WHERE key LIKE 'etag:%'")
expect_eq "$etag" '"0x8DC3C8B2F1A4E21"' "saved ETag"
sqlite3 "$T/blob-etag/state/cairn.db" "SELECT key FROM kv" | has 'sas-sig' && fail "SAS signature in a state key"
before=$(q blob-etag .dump)
run blob-etag 2
stop_mock
expect_eq "$(jq -r '.headers["If-None-Match"] // "-"' "$T/blob.mock.log" | tr '\n' ' ')" '- "0x8DC3C8B2F1A4E21" ' "If-None-Match sent on the second run"
expect_eq "$(jq -r .status "$T/blob.mock.log" | tr '\n' ' ')" "200 304 " "statuses"
grep -q '0 records loaded' "$T/blob-etag.2.out" || fail "304 run: $(cat "$T/blob-etag.2.out")"
grep -q 'not modified (HTTP 304' "$T/blob-etag.2.log" || fail "304 not logged"
grep -q '^cairn_http_not_modified_total{job="http-blob-etag"} 1$' "$T/blob-etag/state/metrics/http-blob-etag.prom" ||
  fail "304 not counted: $(grep not_modified "$T/blob-etag/state/metrics/http-blob-etag.prom")"
expect_eq "$(q blob-etag 'SELECT count(*) FROM cmdb_ci')" 3 "rows after 304"
grep -q 'sas-sig-Zx81Qm' "$T"/blob-etag.*.log && fail "SAS signature in a log"

# ---- delta ---------------------------------------------------------------
start_mock fixtures/http-source/graph-users.har "$T/graph.mock.log"
run graph-users 1
expect_eq "$(q graph-users 'SELECT count(*) FROM identity_user')" 4 "full round rows"
expect_eq "$(q graph-users "SELECT deleted FROM identity_user WHERE userId='86462606-fde0-4fc4-9e0c-a20eb73e54c6'")" 1 "@removed is deleted"
delta=$(sqlite3 "$T/graph-users/state/cairn.db" "SELECT value FROM kv WHERE key='delta'")
[[ "$delta" == "$MOCK_URL/v1.0/users/delta?\$deltatoken=oEcOySpF"* ]] || fail "saved delta link: $delta"

run graph-users 2
grep -q '3 records loaded' "$T/graph-users.2.out" || fail "incremental run: $(cat "$T/graph-users.2.out")"
expect_eq "$(q graph-users "SELECT department FROM identity_user WHERE displayName='Adele Vance'")" "Retail Leadership" "changed user"
expect_eq "$(q graph-users "SELECT deleted FROM identity_user WHERE userId='5bde3e51-d13b-4db1-9948-fe4b109d11a7'")" 1 "soft-deleted user"
expect_eq "$(q graph-users 'SELECT count(*) FROM identity_user')" 5 "rows after the delta"
delta=$(sqlite3 "$T/graph-users/state/cairn.db" "SELECT value FROM kv WHERE key='delta'")
[[ "$delta" == *'$deltatoken=lGZ2yxG3'* ]] || fail "second delta link: $delta"

run graph-users 3
grep -q '"level":"warn".*saved delta link expired (HTTP 410 Gone): falling back to a full sync' "$T/graph-users.3.log" ||
  fail "no fallback warning: $(grep warn "$T/graph-users.3.log")"
grep -q '4 records loaded' "$T/graph-users.3.out" || fail "full run after expiry: $(cat "$T/graph-users.3.out")"
stop_mock
# What each run asked for: full pages, the saved link, the expired link
# then the full pages again.
expect_eq "$(jq -r '.url as $u | ($u | sub("[?].*"; "")) + " " + (($u | capture("(?<t>[$](skip|delta)token=.{6})") | .t) // "first")' "$T/graph.mock.log" | grep -v oauth2 | tr '\n' '|')" \
  "/v1.0/users/delta first|/v1.0/users/delta \$skiptoken=pqwSUj|/v1.0/users/delta \$deltatoken=oEcOyS|/v1.0/users/delta \$deltatoken=lGZ2yx|/v1.0/users/delta first|/v1.0/users/delta \$skiptoken=pqwSUj|" \
  "requests of the three runs"
expect_eq "$(jq -r .status "$T/graph.mock.log" | grep -c 410)" 1 "one 410"
delta=$(sqlite3 "$T/graph-users/state/cairn.db" "SELECT value FROM kv WHERE key='delta'")
[[ "$delta" == *'$deltatoken=oEcOySpF'* ]] || fail "delta link after the full resync: $delta"

# ---- a delta job's rejects outlive the run that met them -----------------
# The same rounds under a mapping that rejects Lidia Holloway's and Megan
# Bowen's departments ("Product Operations", "Marketing"): the full round
# rejects both; the delta round does not send Lidia again, so she must
# stay in the DLQ (kept from the first attempt), but sends Megan again,
# removed, and loads that (her record is now the removal): her reject goes
# (tests/cli/dlq_kept_by_key.sh has more of that). The full resync after
# the 410 meets both again: each listed once, as its own.
strict='.transform.fields.department = {"from": "department", "fn": [{"lookup":
  {"Retail": "Retail", "Retail Leadership": "Retail Leadership", "HR": "HR"}}]}'
jq ".name = \"http-graph-users-strict\" | $strict" \
  tests/data/http-jobs/graph-users.json >"$T/graph-users-strict.json"
dlq() { "$CAIRN" dlq "$1" --state "$T/$2/state" "${@:3}"; }
# JOB DIR: "name attempt-kept-from" of each DLQ entry
dlq_names() { dlq "$1" "$2" --json | jq -r '[.[] | (.raw | fromjson | .displayName) + " " +
  (.kept_from_attempt // "-" | tostring)] | join(",")'; }
depth() { sed -n "s/^cairn_dlq_depth{job=\"$1\"} //p" "$T/$2/state/metrics/$1.prom"; }
S=(http-graph-users-strict graph-users-strict)
start_mock fixtures/http-source/graph-users.har "$T/strict.mock.log"
run graph-users-strict 1
expect_eq "$(dlq_names "${S[@]}")" "Lidia Holloway -,Megan Bowen -" "DLQ after the full round"
run graph-users-strict 2
grep -q '3 records loaded, 0 rejected' "$T/graph-users-strict.2.out" ||
  fail "delta round: $(cat "$T/graph-users-strict.2.out")"
expect_eq "$(dlq_names "${S[@]}")" "Lidia Holloway 1" "DLQ after the delta round: the first round's reject is kept, Megan's loaded removal resolves hers"
dlq "${S[@]}" | grep -q '^1 quarantined record for http-graph-users-strict$' || fail "dlq text: $(dlq "${S[@]}")"
dlq "${S[@]}" | grep -q '^all #[0-9]* (attempt 1, kept: the source sends only what changed since) ' ||
  fail "dlq text: $(dlq "${S[@]}")"
expect_eq "$(depth "${S[@]}")" 1 "cairn_dlq_depth after the delta round"
run graph-users-strict 3
grep -q '2 records loaded, 2 rejected' "$T/graph-users-strict.3.out" ||
  fail "full resync: $(cat "$T/graph-users-strict.3.out")"
expect_eq "$(dlq_names "${S[@]}")" "Lidia Holloway -,Megan Bowen -" "DLQ after the full resync: met again, listed once"
expect_eq "$(depth "${S[@]}")" 2 "cairn_dlq_depth after the full resync"
stop_mock

# The mapping fixed before the full resync: it loads Lidia Holloway, so
# her reject kept from the first round goes with the rest of what a full
# extraction replaces, as it would without a delta link saved.
jq ".name = \"http-graph-users-fixed\" | $strict" \
  tests/data/http-jobs/graph-users.json >"$T/graph-users-fixed.json"
jq '.name = "http-graph-users-fixed"' tests/data/http-jobs/graph-users.json >"$T/graph-users-fixed2.json"
F=(http-graph-users-fixed graph-users-fixed)
start_mock fixtures/http-source/graph-users.har "$T/fixed.mock.log"
run graph-users-fixed 1
run graph-users-fixed 2
expect_eq "$(dlq_names "${F[@]}")" "Lidia Holloway 1" "DLQ after the delta round (the fix's job)"
run graph-users-fixed2 3 graph-users-fixed
grep -q '4 records loaded, 0 rejected' "$T/graph-users-fixed2.3.out" ||
  fail "full resync of the fixed job: $(cat "$T/graph-users-fixed2.3.out")"
expect_eq "$(dlq_names "${F[@]}")" "" "DLQ after the full resync of the fixed job"
expect_eq "$(depth "${F[@]}")" 0 "cairn_dlq_depth after the full resync of the fixed job"
stop_mock
# Likewise an ETag job: a 304 sends nothing, so the first round's reject
# (srv-0003, whose env "dev" the strict mapping refuses) is kept; a 200
# (the blob changed: a new ETag) sends the whole blob, a full extraction,
# which the fixed mapping loads whole: the kept reject goes.
jq '.log.entries += [.log.entries[0] | .response.headers |= map(if .name == "ETag"
      then .value = "\"0x8DC3C8B2F1A4E99\"" else . end)]' \
  fixtures/http-source/blob-etag.har >"$T/blob-etag-3.har"
jq '.name = "http-blob-etag-fixed"' tests/data/http-jobs/blob-etag.json >"$T/blob-etag-fixed2.json"
jq '.name = "http-blob-etag-fixed" | .transform.fields.env = {"from": "env", "fn": [{"lookup":
  {"prod": "prod"}}]}' tests/data/http-jobs/blob-etag.json >"$T/blob-etag-fixed.json"
B=(http-blob-etag-fixed blob-etag-fixed)
ids() { "$CAIRN" dlq "${B[0]}" --state "$T/${B[1]}/state" --json |
  jq -r '[.[] | (.raw | fromjson | .id) + " " + (.kept_from_attempt // "-" | tostring)] | join(",")'; }
start_mock "$T/blob-etag-3.har" "$T/blob3.mock.log"
run blob-etag-fixed 1
expect_eq "$(ids)" "srv-0003 -" "ETag job: DLQ after the first round"
run blob-etag-fixed 2
expect_eq "$(ids)" "srv-0003 1" "ETag job: DLQ after the 304"
run blob-etag-fixed2 3 blob-etag-fixed
stop_mock
expect_eq "$(jq -r .status "$T/blob3.mock.log" | tr '\n' ' ')" "200 304 200 " "ETag job: statuses"
grep -q '3 records loaded, 0 rejected' "$T/blob-etag-fixed2.3.out" ||
  fail "ETag job, the blob changed: $(cat "$T/blob-etag-fixed2.3.out")"
expect_eq "$(ids)" "" "ETag job: DLQ after the changed blob's full read"
echo "ETag: 200 then 304 (nothing loaded); delta: full, incremental, expired -> full; a delta job's reject is kept until its record is loaded or met again, or a full sync"
