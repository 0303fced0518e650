#!/usr/bin/env bash
# Another program holds the state store's write lock (a sqlite3 session
# with an open write transaction, as a pruning script might leave) past
# cairn's 10 s busy timeout, from the middle of a run on. The run stops
# resumable (exit 3), saying what held it and what to do (it said only
# "database is locked"), with its checkpoint intact; released, the rerun
# resumes and the warehouse equals an uninterrupted load's.
source "$(dirname "$0")/../lib.sh"
python3 tests/bench/gen_cost.py 3000 "$T/A" --partitions 2 --gzip 1 --seed 7 >/dev/null
run() { # DIR [env...]
  local d=$1; shift
  env "$@" "$CAIRN" run jobs/azure-cost-export.json --param input="$T/A" --param chunk_rows=250 \
    --state "$d/state" --out "$d/out" >"$d/out.log" 2>"$d/err.log"
}
dump() { sqlite3 "$1/out/warehouse.db" "SELECT recordId, billedCost FROM cost_record ORDER BY recordId" | sha256sum; }
mkdir -p "$T/ref" "$T/busy"
run "$T/ref" || fail "reference"

# Stopped (SIGSTOP, one thread: no transaction of its own open) after
# chunk 4; the holder takes the lock, then the run goes on.
d="$T/busy"
(export CAIRN_PIPELINE=0 CAIRN_TEST_KILL_SIGNAL=STOP CAIRN_TEST_KILL_AT=sink_loaded:4
 exec "$CAIRN" run jobs/azure-cost-export.json --param input="$T/A" --param chunk_rows=250 \
   --state "$d/state" --out "$d/out" >"$d/out.log" 2>"$d/err.log") &
p=$!
wait_stopped $p "the run did not stop after chunk 4"
sqlite3 "$d/state/cairn.db" ".timeout 20000" "BEGIN IMMEDIATE" "SELECT 1" ".shell touch $T/held" ".shell sleep 11" "COMMIT" >/dev/null &
holder=$!
wait_for $holder test -e "$T/held" || fail "the holder did not take the lock"
kill -CONT $p
rc=0; wait $p || rc=$?
expect_eq "$rc" 3 "the run while the state store is held"
has -F "state $d/state/cairn.db: " "$d/out.log" || fail "summary: $(tail -n 1 "$d/out.log")"
has -F 'database is locked: another connection held it for more than the 10 s cairn waits' "$d/out.log" ||
  fail "summary: $(tail -n 1 "$d/out.log")"
has -F 'FAILED (resumable: run again to resume)' "$d/out.log" || fail "summary: $(tail -n 1 "$d/out.log")"
wait $holder
expect_eq "$(sqlite3 "$d/state/cairn.db" 'PRAGMA integrity_check')" ok "state integrity"
loaded=$(sqlite3 "$d/state/cairn.db" "SELECT count(*) FROM chunks WHERE stage = 3")
[ "$loaded" -ge 3 ] || fail "the checkpoint lost chunks: $loaded loaded"
run "$d" || fail "rerun: $(tail -n 2 "$d/err.log")"
has -F '(resumed)' <("$CAIRN" status azure-cost-export --state "$d/state") || fail "the rerun did not resume"
expect_eq "$(dump "$d")" "$(dump "$T/ref")" "rows after the rerun"
expect_eq "$(sqlite3 "$d/out/warehouse.db" 'PRAGMA integrity_check')" ok "warehouse integrity"
echo ok
