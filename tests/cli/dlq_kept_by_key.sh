#!/usr/bin/env bash
# A delta job's kept rejects (quarantine_kept) are matched by their
# record's contract key (identity_user's userId), or by their raw text
# when the key fields did not map cleanly, through `cairn run` against
# `cairn mock`:
#  - a record rejected again, changed (another raw text): listed once, the
#    newer reject;
#  - a record fixed at the source and loaded by a later round: its reject
#    goes, from `cairn dlq`, `cairn status` and cairn_dlq_depth alike;
#  - a record whose key is bad (no id): matched by its raw text only
#    (the same text again: once; changed: both, nothing to tell them by);
#  - the round that resolves kept rejects killed between chunks and
#    resumed: a reject goes exactly when the chunk loading its record is
#    checkpointed, the rest when the window is loaded;
#  - a state store of the previous layout (no key column) keeps working:
#    its rejects have no key and are matched by their raw text.
# And an attempt's own rejects, by key too: a record rejected and then
# loaded later in the same round (later in the page or in a later one;
# Graph delta may return a user twice) leaves no reject, also when the
# round is killed between the two chunks and resumed; one loaded and then
# rejected keeps its reject.
source "$(dirname "$0")/../lib.sh"
export CAIRN_SECRET_GRAPH_CLIENT_SECRET=graph-secret-9a2e44
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
TENANT=8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d

# Three rounds of Graph users delta, each of two pages or one:
#  1 (full): Lidia (Marketing), Adele, Ghost (no id) | Megan (Marketing),
#    Diego, Phantom (no id);
#  2 (delta): Lidia, her mail changed, still Marketing; Ghost as it was;
#    Phantom changed | Megan moved to HR (fixed);
#  3 (delta): nothing changed.
# The job's department lookup refuses "Marketing"; a user without an id
# is refused for that (userId is the contract key).
# A second recording ($T/same.har) holds one user twice in a delta round,
# for an attempt's own rejects:
#  1 (full): Adele;
#  2 (delta): Megan (Marketing), Diego (Marketing), Diego (HR, fixed) |
#    Megan (HR, fixed): bad then good, in the same page and the next;
#  3 (delta): Lidia (HR), Patti (HR), Patti (Marketing) | Lidia
#    (Marketing): good then bad, the latest version rejected.
har() {   # OUT SCENARIO: the Graph users recording of SCENARIO
python3 - fixtures/http-source/graph-users.har "$1" "$2" <<'EOF'
import copy, json, sys
har = json.load(open(sys.argv[1]))
token, page = har["log"]["entries"][0], har["log"]["entries"][1]
base = "https://graph.microsoft.com/v1.0/users/delta"
def user(name, uid, dept, mail=None):
    u = {"displayName": name, "department": dept, "accountEnabled": True,
         "mail": mail or name.split()[0] + "@contoso.example"}
    if uid:
        u["id"] = uid
    return u
lidia = user("Lidia Holloway", "25dcffff-959e-4ece-9973-e5d9b800e8cc", "Marketing")
lidia2 = user("Lidia Holloway", "25dcffff-959e-4ece-9973-e5d9b800e8cc", "Marketing", "lidia.h@contoso.example")
adele = user("Adele Vance", "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "Retail")
megan = user("Megan Bowen", "5bde3e51-d13b-4db1-9948-fe4b109d11a7", "Marketing")
megan2 = user("Megan Bowen", "5bde3e51-d13b-4db1-9948-fe4b109d11a7", "HR")
diego = user("Diego Siciliani", "e8e2a0c7-1f3b-4b6a-9d2c-7a5e4f3b2c1d", "HR")
ghost = user("Ghost", None, "Retail")
phantom, phantom2 = user("Phantom", None, "HR"), user("Phantom", None, "Retail")
diego_bad = user("Diego Siciliani", "e8e2a0c7-1f3b-4b6a-9d2c-7a5e4f3b2c1d", "Marketing")
lidia_hr = user("Lidia Holloway", "25dcffff-959e-4ece-9973-e5d9b800e8cc", "HR")
patti = user("Patti Fernandez", "a1b2c3d4-0000-4e5f-8a9b-0c1d2e3f4a5b", "HR")
patti_bad = user("Patti Fernandez", "a1b2c3d4-0000-4e5f-8a9b-0c1d2e3f4a5b", "Marketing")
full = "$select=displayName,userPrincipalName,mail,accountEnabled,department"
pages = {  # (query of the request, users, next or delta link)
  "kept": [
    (full, [lidia, adele, ghost], ("@odata.nextLink", "$skiptoken=s1")),
    ("$skiptoken=s1", [megan, diego, phantom], ("@odata.deltaLink", "$deltatoken=d1")),
    ("$deltatoken=d1", [lidia2, ghost, phantom2], ("@odata.nextLink", "$skiptoken=s2")),
    ("$skiptoken=s2", [megan2], ("@odata.deltaLink", "$deltatoken=d2")),
    ("$deltatoken=d2", [], ("@odata.deltaLink", "$deltatoken=d3")),
  ],
  "same": [
    (full, [adele], ("@odata.deltaLink", "$deltatoken=d1")),
    ("$deltatoken=d1", [megan, diego_bad, diego], ("@odata.nextLink", "$skiptoken=s2")),
    ("$skiptoken=s2", [megan2], ("@odata.deltaLink", "$deltatoken=d2")),
    ("$deltatoken=d2", [lidia_hr, patti, patti_bad], ("@odata.nextLink", "$skiptoken=s3")),
    ("$skiptoken=s3", [lidia], ("@odata.deltaLink", "$deltatoken=d3")),
  ],
}[sys.argv[3]]
entries = [token]
for query, users, (link, q) in pages:
    e = copy.deepcopy(page)
    e["request"]["url"] = base + "?" + query
    name, value = query.split("=", 1)
    e["request"]["queryString"] = [{"name": name, "value": value}]
    body = json.dumps({link: base + "?" + q, "value": users})
    e["response"]["content"] = {"size": len(body), "mimeType": "application/json", "text": body}
    e["response"]["bodySize"] = len(body)
    entries.append(e)
har["log"]["entries"] = entries
json.dump(har, open(sys.argv[2], "w"), indent=1)
EOF
}
har "$T/users.har" kept
har "$T/same.har" same
jq '.name = "kept-by-key" | .transform.fields.department = {"from": "department",
  "fn": [{"lookup": {"Retail": "Retail", "HR": "HR"}}]}' \
  tests/data/http-jobs/graph-users.json >"$T/kept-by-key.json"
J=kept-by-key

run() {   # DIR N [ENV...]: run N of the job with state and output in $T/DIR
  local d=$1 n=$2 p; shift 2
  mapfile -t p < <(uses "$T/$J.json" endpoint="$MOCK_URL" \
    token_url="$MOCK_URL/$TENANT/oauth2/v2.0/token")
  env "$@" "$CAIRN" run "$T/$J.json" --state "$T/$d/state" --out "$T/$d/out" "${p[@]}" \
    >"$T/$d.$n.out" 2>"$T/$d.$n.log"
}
# DIR: "name mail kept-from" of each DLQ entry, as `cairn dlq --json` lists them
names() { "$CAIRN" dlq $J --state "$T/$1/state" --json | jq -r '[.[] | (.raw | fromjson |
  .displayName + " " + .mail) + " " + (.kept_from_attempt // "-" | tostring)] | join(", ")'; }
# DIR N: the depth that `cairn dlq`, `cairn status` and run N's metrics
# and summary give, which must agree
depth() {
  local n
  n=$("$CAIRN" dlq $J --state "$T/$1/state" --json | jq length)
  "$CAIRN" dlq $J --state "$T/$1/state" | has -x "$n quarantined records\? for $J" ||
    fail "cairn dlq's count is not $n: $("$CAIRN" dlq $J --state "$T/$1/state" | sed -n 1p)"
  expect_eq "$("$CAIRN" status $J --state "$T/$1/state" --json | jq '.. | .dlq_depth? // empty')" "$n" "cairn status DLQ depth"
  expect_eq "$(sed -n "s/^cairn_dlq_depth{job=\"$J\"} //p" "$T/$1/state/metrics/$J.prom")" "$n" "cairn_dlq_depth"
  has -F "(dlq depth $n)" "$T/$1.$2.out" || fail "run $1.$2's summary: $(cat "$T/$1.$2.out")"
  echo "$n"
}

start_mock "$T/users.har" "$T/mock.log"

# ---- uninterrupted ---------------------------------------------------------
run a 1 || fail "round 1: $(tail -n 2 "$T/a.1.log")"
expect_eq "$(names a)" "Lidia Holloway Lidia@contoso.example -, Ghost Ghost@contoso.example -, Megan Bowen Megan@contoso.example -, Phantom Phantom@contoso.example -" "DLQ after the full round"
run a 2 || fail "round 2: $(tail -n 2 "$T/a.2.log")"
grep -q '1 records\? loaded, 3 rejected' "$T/a.2.out" || fail "round 2: $(cat "$T/a.2.out")"
expect_eq "$(sqlite3 "$T/a/out/warehouse.db" "SELECT department FROM identity_user WHERE displayName='Megan Bowen'")" HR "Megan loaded"
# Lidia once (her newer reject, the new mail); Megan gone (loaded); Ghost
# once (the same raw text); Phantom twice (no key, and changed).
expect_eq "$(names a)" "Lidia Holloway lidia.h@contoso.example -, Ghost Ghost@contoso.example -, Phantom Phantom@contoso.example -, Phantom Phantom@contoso.example 1" "DLQ after the delta round"
expect_eq "$("$CAIRN" dlq $J --state "$T/a/state" --json | jq -r '.[3].raw | fromjson | .department')" HR "the kept Phantom is the first round's"
expect_eq "$(depth a 2)" 4 "DLQ depth after the delta round"
run a 3 || fail "round 3: $(tail -n 2 "$T/a.3.log")"
expect_eq "$(names a)" "Phantom Phantom@contoso.example 1, Lidia Holloway lidia.h@contoso.example 2, Ghost Ghost@contoso.example 2, Phantom Phantom@contoso.example 2" "DLQ after a quiet round: all kept"
expect_eq "$(depth a 3)" 4 "DLQ depth after a quiet round"
want=$(names a)

# ---- the resolving round killed between chunks, then resumed -------------
run b 1 || fail "b round 1: $(tail -n 2 "$T/b.1.log")"
# Killed once chunk 2 (Megan fixed) is transformed, before it is loaded:
# nothing resolved yet, Megan's reject still listed.
rc=0; run b 2 CAIRN_TEST_KILL_AT=transformed:2 2>/dev/null || rc=$?
expect_eq "$rc" 137 "killed after chunk 2 was transformed"
expect_eq "$(names b)" "Lidia Holloway lidia.h@contoso.example -, Ghost Ghost@contoso.example -, Phantom Phantom@contoso.example -, Lidia Holloway Lidia@contoso.example 1, Ghost Ghost@contoso.example 1, Megan Bowen Megan@contoso.example 1, Phantom Phantom@contoso.example 1" \
  "DLQ with chunk 2 not loaded"
# Resumed, and killed right after chunk 2's checkpoint: Megan's reject went
# with it; the rest waits for the window to be loaded.
rc=0; run b 2r CAIRN_TEST_KILL_AT=loaded:2 2>/dev/null || rc=$?
expect_eq "$rc" 137 "killed after chunk 2 was loaded"
grep -q resuming "$T/b.2r.log" || fail "the second run of round 2 did not resume"
expect_eq "$(sqlite3 "$T/b/state/cairn.db" "SELECT stage FROM chunks WHERE seq=2")" 3 "chunk 2 checkpointed loaded"
expect_eq "$(names b)" "Lidia Holloway lidia.h@contoso.example -, Ghost Ghost@contoso.example -, Phantom Phantom@contoso.example -, Lidia Holloway Lidia@contoso.example 1, Ghost Ghost@contoso.example 1, Phantom Phantom@contoso.example 1" \
  "DLQ with chunk 2 loaded, the window not"
run b 2rr || fail "round 2, resumed again: $(tail -n 2 "$T/b.2rr.log")"
expect_eq "$(names b)" "Lidia Holloway lidia.h@contoso.example -, Ghost Ghost@contoso.example -, Phantom Phantom@contoso.example -, Phantom Phantom@contoso.example 1" "DLQ after the resumed delta round"
expect_eq "$(depth b 2rr)" 4 "DLQ depth after the resumed delta round"
run b 3 || fail "b round 3: $(tail -n 2 "$T/b.3.log")"
expect_eq "$(names b)" "$want" "DLQ after a quiet round, as without the kills"

# ---- a store of the previous layout -------------------------------------
# Round 1 made by a cairn whose store had no key column: its rejects have
# no key, so only Ghost (the same raw text) is matched by round 2; the
# store gets the column, and round 2's rejects have keys again.
run c 1 || fail "c round 1: $(tail -n 2 "$T/c.1.log")"
sqlite3 "$T/c/state/cairn.db" "ALTER TABLE quarantine DROP COLUMN key; ALTER TABLE quarantine_kept DROP COLUMN key"
expect_eq "$(names c)" "Lidia Holloway Lidia@contoso.example -, Ghost Ghost@contoso.example -, Megan Bowen Megan@contoso.example -, Phantom Phantom@contoso.example -" "DLQ of the old store"
run c 2 || fail "c round 2 (old store): $(tail -n 2 "$T/c.2.log")"
expect_eq "$(sqlite3 "$T/c/state/cairn.db" "SELECT count(*) FROM pragma_table_info('quarantine_kept') WHERE name='key'")" 1 "key column added"
expect_eq "$(names c)" "Lidia Holloway lidia.h@contoso.example -, Ghost Ghost@contoso.example -, Phantom Phantom@contoso.example -, Lidia Holloway Lidia@contoso.example 1, Megan Bowen Megan@contoso.example 1, Phantom Phantom@contoso.example 1" \
  "DLQ of the old store after the delta round: its rejects matched by raw text only"
expect_eq "$(depth c 2)" 6 "DLQ depth of the old store after the delta round"
stop_mock

# ---- one user twice in a round: the attempt's own rejects --------------------
start_mock "$T/same.har" "$T/mock-same.log"
run d 1 || fail "d round 1: $(tail -n 2 "$T/d.1.log")"
expect_eq "$(depth d 1)" 0 "DLQ depth after the full round"
# Bad then good: Diego's reject goes with his later row in the same page,
# Megan's with hers in the next.
run d 2 || fail "d round 2: $(tail -n 2 "$T/d.2.log")"
grep -q '2 records\? loaded, 2 rejected' "$T/d.2.out" || fail "d round 2: $(cat "$T/d.2.out")"
expect_eq "$(names d)" "" "DLQ after bad-then-good"
expect_eq "$(depth d 2)" 0 "DLQ depth after bad-then-good"
# Good then bad: the latest version is the rejected one, and stays.
run d 3 || fail "d round 3: $(tail -n 2 "$T/d.3.log")"
expect_eq "$(names d)" "Patti Fernandez Patti@contoso.example -, Lidia Holloway Lidia@contoso.example -" "DLQ after good-then-bad"
expect_eq "$(depth d 3)" 2 "DLQ depth after good-then-bad"

# Round 2 killed between its chunks: Diego's reject went with chunk 1's
# checkpoint, Megan's (her good row is in chunk 2) is still listed;
# resumed, it goes too.
run e 1 || fail "e round 1: $(tail -n 2 "$T/e.1.log")"
rc=0; run e 2 CAIRN_TEST_KILL_AT=loaded:1 2>/dev/null || rc=$?
expect_eq "$rc" 137 "killed after chunk 1 was loaded"
expect_eq "$(sqlite3 "$T/e/state/cairn.db" "SELECT group_concat(seq) FROM chunks WHERE stage=3")" "1" "chunk 1 checkpointed loaded, chunk 2 not"
expect_eq "$(names e)" "Megan Bowen Megan@contoso.example -" "DLQ between the chunks"
run e 2r || fail "e round 2, resumed: $(tail -n 2 "$T/e.2r.log")"
grep -q resuming "$T/e.2r.log" || fail "the second run of round 2 did not resume"
expect_eq "$(names e)" "" "DLQ after the resumed round"
expect_eq "$(depth e 2r)" 0 "DLQ depth after the resumed round"
stop_mock
echo "kept rejects: matched by contract key (rejected again, changed: once; loaded: gone), by raw text without one; resolved with the chunk's checkpoint across kills; an old store keeps working; an attempt's own reject goes with a later row of its record, not an earlier one"
