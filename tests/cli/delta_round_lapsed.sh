#!/usr/bin/env bash
# A Graph delta round whose next link lapses (410 resyncRequired on a
# $skiptoken page, not on the saved delta link) falls back to a full sync,
# as the job declares (delta.on_expired: full), instead of failing every
# rerun with "run again to resume": jobs/entra-users.json against
# `cairn mock` of a generated recording (tests/data/nights/graph_rounds_har.py):
#  1. a full round (A, B | C) saves its delta link;
#  2. the delta round from it loads its first page (A changed) and is
#     killed (SIGKILL right after chunk 1 is loaded);
#  3. the rerun resumes at the round's second page, whose $skiptoken has
#     lapsed meanwhile (410): it warns, syncs in full (A changed again, C |
#     D new), ends done and saves the full round's delta link, and the
#     reject the first round kept (x, deleted meanwhile) goes, as after a
#     full first page. Without the
#     fallback every rerun asked for the lapsed page again and exited 3.
#     User b, deleted meanwhile, is not in the full sync: the recipe of
#     docs/connectors/entra-users.md marks it deleted.
# With delta.on_expired "fail" the lapsed page fails the run saying to
# rerun with --fresh (a plain rerun would ask for it again), which starts
# over from the saved delta link.
source "$(dirname "$0")/../lib.sh"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export CAIRN_SECRET_CLIENT_SECRET=s CAIRN_SECRET_PII_HMAC_KEY=$(printf '0%.0s' {1..64})
u() { # u ID DEPARTMENT: a user of the recording
  printf '{"id": "%s", "displayName": "User %s", "userPrincipalName": "%s@contoso.example", "mail": null, "accountEnabled": true, "department": "%s"}' "$1" "$1" "$1" "$2"
}
python3 tests/data/nights/graph_rounds_har.py "[
  {\"start\": \"full\", \"pages\": [[$(u a Sales), $(u b Sales)], [$(u c Sales), $(u x Sales | sed 's/true/"maybe"/')]]},
  {\"start\": \"r1d\", \"pages\": [[$(u a Ops)], \"410\"]},
  {\"start\": \"full\", \"pages\": [[$(u a Legal), $(u c Sales)], [$(u d Sales)]]}]" "$T/graph.har"

run() { # run DIR [ENV...]: one night of jobs/entra-users.json (or $JOB) into DIR
  local d=$1; shift
  env "$@" "$CAIRN" run "${JOB:-jobs/entra-users.json}" --param tenant_id=8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d \
    --param client_id=6731de76-14a6-49ae-97bc-6eba6914391e --param pii_policy=keep \
    --param endpoint="$MOCK_URL" --param login_endpoint="$MOCK_URL" \
    --state "$T/$d/state" --out "$T/$d/out" >>"$T/$d.out" 2>>"$T/$d.log"
}
rows() { sqlite3 "$T/$1/out/warehouse.db" "SELECT userId || ':' || department FROM identity_user ORDER BY 1" | tr '\n' ' '; }
delta() { sqlite3 "$T/$1/state/cairn.db" "SELECT value FROM kv WHERE key='delta'"; }

start_mock "$T/graph.har" "$T/mock.log"
expect_exit 0 run a
expect_eq "$(rows a)" "a:Sales b:Sales c:Sales " "after the full round"
expect_eq "$("$CAIRN" dlq entra-users --json --state "$T/a/state" | jq -r '.[].raw | fromjson | .id')" x "rejected in the full round"
expect_eq "$(delta a)" "$MOCK_URL/v1.0/users/delta?\$deltatoken=r1d" "first delta link"
rc=0; run a CAIRN_TEST_KILL_AT=loaded:1 2>/dev/null || rc=$?
expect_eq "$rc" 137 "the killed delta round"
expect_eq "$(rows a)" "a:Ops b:Sales c:Sales " "after the killed delta round's first page"
expect_exit 0 run a
grep -q '"level":"warn".*the next link of page 2 expired (HTTP 410 Gone): falling back to a full sync' "$T/a.log" ||
  fail "no fallback warning: $(grep -v '"level":"info"' "$T/a.log" | tail -n 3)"
expect_eq "$(rows a)" "a:Legal b:Sales c:Sales d:Sales " "after the full sync"
expect_eq "$(delta a)" "$MOCK_URL/v1.0/users/delta?\$deltatoken=r3d" "delta link of the full sync"
# x (rejected, kept from the first round's attempt) was deleted meanwhile:
# the full sync does not meet it, and drops the kept rejects as a full
# first page does.
expect_eq "$("$CAIRN" dlq entra-users --json --state "$T/a/state" | jq length)" 0 "DLQ after the full sync"
# (the killed run may have asked for page 2 already, ahead of loading)
reqs=$(jq -r 'select(.url | test("oauth2") | not) | .url | sub(".*delta[?]"; "") | sub("^%24select=.*"; "full")' "$T/mock.log" | tr '\n' ' ')
[[ "$reqs" == "full \$skiptoken=r1p2 \$deltatoken=r1d "*"\$skiptoken=r2p2 full \$skiptoken=r3p2 " ]] ||
  fail "requests: $reqs"
# b was deleted while the round had lapsed: the full sync does not say so,
# and docs/connectors/entra-users.md's recipe marks it (its full round
# into a state and output of their own, then the UPDATE it gives).
expect_eq "$(sqlite3 "$T/a/out/warehouse.db" "SELECT deleted FROM identity_user WHERE userId='b'")" 0 "b before the recipe"
expect_exit 0 run full
sql=$(sed -n '/^sqlite3 out\/warehouse.db "ATTACH/,/"$/p' docs/connectors/entra-users.md |
  sed -e 's/^sqlite3 out\/warehouse.db "//' -e 's/"$//' -e "s|/tmp/entra-full|$T/full/out|")
[ -n "$sql" ] || fail "no recipe in docs/connectors/entra-users.md"
sqlite3 "$T/a/out/warehouse.db" "$sql" || fail "recipe: $sql"
expect_eq "$(sqlite3 "$T/a/out/warehouse.db" "SELECT userId, deleted, quote(displayName), quote(department) FROM identity_user ORDER BY 1" | tr '\n' ' ')" \
  "a|0|'User a'|'Legal' b|1|NULL|NULL c|0|'User c'|'Sales' d|0|'User d'|'Sales' " "after the recipe"
stop_mock

# on_expired "fail": the lapsed page stops the run, which says --fresh.
jq '.source.delta.on_expired = "fail"' jobs/entra-users.json >"$T/fail.json"
JOB=$T/fail.json
start_mock "$T/graph.har" "$T/mock2.log"
expect_exit 0 run b
rc=0; run b CAIRN_TEST_KILL_AT=loaded:1 2>/dev/null || rc=$?
expect_eq "$rc" 137 "the killed delta round (fail)"
expect_exit 3 run b
grep -q 'the next link of page 2 expired (HTTP 410) and source.delta.on_expired is "fail"' "$T/b.out" ||
  fail "fail message: $(tail -n 1 "$T/b.out")"
grep -q 'rerun with --fresh' "$T/b.out" || fail "no --fresh advice: $(tail -n 1 "$T/b.out")"
stop_mock
