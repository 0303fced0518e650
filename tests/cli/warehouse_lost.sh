#!/usr/bin/env bash
# A warehouse deleted (or replaced by an older copy) while the state store
# still says windows were loaded into it. Before, the rows were silently
# missing and the run said done, exit 0:
#  - a backfill killed in its second day and resumed after the warehouse
#    was deleted skipped the first day as "already loaded in this
#    attempt": the new warehouse had no row of it;
#  - a delta job's next run after the warehouse was deleted loaded only
#    what changed since the saved delta link: 3 of the 5 users (and so
#    did one after its table was renamed, or emptied, by hand).
# Now a window whose sink holds fewer chunks than the state says it was
# loaded in is loaded again, in full (its saved delta link not used),
# with a warning naming the sink; a damaged bundle counts as lost.
source "$(dirname "$0")/../lib.sh"

# ---- a backfill resumed after the warehouse went ------------------------
cost_daily 2024-05-01 2024-05-04
B=(run "$T/daily.json" "${P[@]}" --from 2024-05-01 --to 2024-05-04)
R=("${B[@]/#$T\/state/$T/ref/state}"); R=("${R[@]/#$T\/out/$T/ref/out}")
"$CAIRN" "${R[@]}" >/dev/null 2>&1 || fail "uninterrupted backfill"
set +e; CAIRN_TEST_KILL_AT=loaded:1:2024-05-02 "$CAIRN" "${B[@]}" >/dev/null 2>&1; rc=$?; set -e
expect_eq "$rc" 137 "killed in the second day"
rm -f "$T/out/warehouse.db" "$T/out/warehouse.db-wal" "$T/out/warehouse.db-shm"
"$CAIRN" "${B[@]}" >"$T/b.out" 2>"$T/b.log" || fail "resume: exit $? ($(tail -n 2 "$T/b.log"))"
grep '"level":"warn"' "$T/b.log" | has "sink warehouse ($T/out/warehouse.db) holds 0 of the 1 chunks window 2024-05-01 was loaded in" ||
  fail "no warning: $(cat "$T/b.log")"
rows() { sqlite3 "$1" "SELECT * FROM cost_record ORDER BY recordId" | sha256sum; }
expect_eq "$(sqlite3 "$T/out/warehouse.db" "SELECT group_concat(DISTINCT window) FROM _cairn_chunks ORDER BY 1")" \
  "2024-05-01,2024-05-02,2024-05-03" "windows the resumed warehouse holds"
expect_eq "$(rows "$T/out/warehouse.db")" "$(rows "$T/ref/out/warehouse.db")" "rows after the resume"
# with the warehouse in place, a rerun (a new attempt) warns of nothing
"$CAIRN" "${B[@]}" >/dev/null 2>"$T/b2.log" || fail "rerun"
grep -q 'holds [0-9]* of' "$T/b2.log" && fail "warned with the warehouse in place"

# ---- a delta job after the warehouse went --------------------------------
export CAIRN_SECRET_GRAPH_CLIENT_SECRET=graph-secret-9a2e44
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
TENANT=8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d
start_mock fixtures/http-source/graph-users.har "$T/graph.mock.log"
G=(run tests/data/http-jobs/graph-users.json --param endpoint="$MOCK_URL"
   --param token_url="$MOCK_URL/$TENANT/oauth2/v2.0/token" --state "$T/g/state" --out "$T/g/out")
"$CAIRN" "${G[@]}" >/dev/null 2>&1 || fail "first delta run"
expect_eq "$(sqlite3 "$T/g/out/warehouse.db" 'SELECT count(*) FROM identity_user')" 4 "full round rows"
rm -f "$T/g/out/warehouse.db" "$T/g/out/warehouse.db-wal" "$T/g/out/warehouse.db-shm"
"$CAIRN" "${G[@]}" >/dev/null 2>"$T/g.log" || fail "second delta run: exit $? ($(tail -n 2 "$T/g.log"))"
has 'sink warehouse .* holds 0 of the 2 chunks window all was loaded in' "$T/g.log" || fail "no warning: $(cat "$T/g.log")"
expect_eq "$(sqlite3 "$T/g/out/warehouse.db" 'SELECT count(*) FROM identity_user')" 4 "rows of the new warehouse"
expect_eq "$(jq -r 'select(.path != null) | .path' "$T/graph.mock.log" | grep -c deltatoken || true)" 0 \
  "saved delta link used"
: >"$T/graph.mock.log"
# a run that finds the warehouse gone but fails before its first chunk
# leaves the next run the same full round: the window is no longer
# "loaded", so only the state can say its sink lost it (the next run
# used the saved delta link and left the new warehouse with 3 rows)
rm -f "$T/g/out/warehouse.db" "$T/g/out/warehouse.db-wal" "$T/g/out/warehouse.db-shm"
rc=0; CAIRN_TEST_FAULT=extract:1 "$CAIRN" "${G[@]}" >/dev/null 2>"$T/g2.log" || rc=$?
expect_eq "$rc" 3 "the failed run's exit"
"$CAIRN" "${G[@]}" >/dev/null 2>"$T/g3.log" || fail "rerun after the failure: exit $? ($(tail -n 2 "$T/g3.log"))"
expect_eq "$(sqlite3 "$T/g/out/warehouse.db" 'SELECT count(*) FROM identity_user')" 4 "rows after the failed run's rerun"
expect_eq "$(jq -r 'select(.path != null) | .path' "$T/graph.mock.log" | grep -c deltatoken || true)" 0 \
  "saved delta link used by the rerun"
expect_eq "$(sqlite3 "$T/g/state/cairn.db" "SELECT count(*) FROM windows WHERE full IS NOT NULL")" 0 "full flag left"
: >"$T/graph.mock.log"
# the same for its table renamed by hand (to keep the old rows beside):
# the sink makes a new one, which the delta alone would leave with 3 rows;
# and the new table gets a unique key index of its own (the old one kept
# its name, so upserts were refused on every run: "ON CONFLICT clause
# does not match any PRIMARY KEY or UNIQUE constraint", exit 3)
sqlite3 "$T/g/out/warehouse.db" 'ALTER TABLE identity_user RENAME TO identity_user_old'
"$CAIRN" "${G[@]}" >/dev/null 2>"$T/g4.log" || fail "run after the rename: exit $? ($(tail -n 2 "$T/g4.log"))"
has 'sink warehouse .* holds 0 of the 2 chunks window all was loaded in' "$T/g4.log" || fail "no warning: $(cat "$T/g4.log")"
expect_eq "$(sqlite3 "$T/g/out/warehouse.db" 'SELECT count(*) FROM identity_user')" 4 "rows of the new table"
expect_eq "$(sqlite3 "$T/g/out/warehouse.db" "SELECT name FROM sqlite_master WHERE tbl_name = 'identity_user' AND type = 'index'")" \
  identity_user_key2 "the new table's key index"
"$CAIRN" "${G[@]}" >/dev/null 2>"$T/g5.log" || fail "a delta into the new table: exit $? ($(tail -n 2 "$T/g5.log"))"
stop_mock
expect_eq "$(sqlite3 "$T/g/out/warehouse.db" 'SELECT count(*) FROM identity_user')" 5 "rows after the delta"
# a bundle cut short counts as lost, as a missing one: the run does not
# stop on it (which asking the sinks what they hold first made it do),
# and the window is loaded again, into a bundle beside it
D=(--state "$T/d/state" --out "$T/d/out")
"$CAIRN" run jobs/demo-cost.json "${D[@]}" >/dev/null 2>&1 || fail "demo run"
TAR="$T/d/out/evidence/demo-cost/demo-cost-all-19700101T000000Z.tar"
truncate -s 1000 "$TAR"
"$CAIRN" run jobs/demo-cost.json "${D[@]}" >/dev/null 2>"$T/d.log" || fail "run after the bundle was cut: exit $? ($(tail -n 2 "$T/d.log"))"
has 'sink evidence .* holds 0 of the 1 chunks window all was loaded in' "$T/d.log" || fail "no warning: $(cat "$T/d.log")"
"$CAIRN" verify "${TAR%.tar}-2.tar" >/dev/null || fail "the new bundle"
echo "ok: windows a deleted warehouse, a renamed table or a damaged bundle lost are loaded again, in full"
