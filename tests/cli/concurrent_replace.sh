#!/usr/bin/env bash
# replace_partition by several jobs on one warehouse at once (one state
# directory, one out directory), checked with the stock sqlite3 tool.
# Two jobs loading exports of the same scope, dataset and month (one
# partition) end with exactly the rows of the load that claimed the
# partition last, as if they had run one after the other: job A is
# stopped (SIGSTOP, or killed with SIGKILL and resumed) after its third
# chunk while job B loads the partition; A's later chunks used to go in
# beside B's rows (6,000 rows of 3,000). Jobs of other scopes, datasets
# and modes sharing the table lose no row to each other.
source "$(dirname "$0")/../lib.sh"
export CAIRN_SINKS="$ROOT/sinks"
gen() { python3 tests/bench/gen_cost.py 3000 "$T/$1" --partitions 2 --gzip 1 --seed "$2" >/dev/null; }
gen A 7
gen B 8
for j in a b c; do jq ".name = \"focus-$j\"" jobs/azure-cost-export.json >"$T/focus-$j.json"; done
run() { # run DIR JOB INPUT [env...]: one run of a FOCUS export job
  local d=$1 j=$2 in=$3; shift 3
  env "$@" "$CAIRN" run "$T/focus-$j.json" --param input="$T/$in" --param chunk_rows=250 \
    --state "$d/state" --out "$d/out" >>"$d/out.log" 2>>"$d/err.log"
}
dump() { sqlite3 "$1/out/warehouse.db" "SELECT recordId, billingAccountId, costScope, costDataset,
  chargePeriodStartUtc, billedCost FROM cost_record ORDER BY recordId" | sha256sum; }
count() { sqlite3 "$1/out/warehouse.db" 'SELECT count(*) FROM cost_record'; }
checked() { # DIR: both databases pass integrity_check
  expect_eq "$(sqlite3 "$1/out/warehouse.db" 'PRAGMA integrity_check')" ok "$1 warehouse integrity"
  expect_eq "$(sqlite3 "$1/state/cairn.db" 'PRAGMA integrity_check')" ok "$1 state integrity"
}
mkdir -p "$T/refa" "$T/refb" "$T/refc"
run "$T/refa" a A || fail "reference A"
run "$T/refb" b B || fail "reference B"
WANT_A=$(dump "$T/refa"); WANT_B=$(dump "$T/refb")
expect_eq "$(count "$T/refb")" 3000 "reference rows"
[ "$WANT_A" != "$WANT_B" ] || fail "the two exports load the same rows"

# 1. A stopped after its third chunk (one thread: no state transaction is
#    open while it is stopped), B loads the partition, A goes on.
d="$T/stop"; mkdir -p "$d"
(export CAIRN_PIPELINE=0 CAIRN_TEST_KILL_SIGNAL=STOP CAIRN_TEST_KILL_AT=sink_loaded:3
 exec "$CAIRN" run "$T/focus-a.json" --param input="$T/A" --param chunk_rows=250 \
   --state "$d/state" --out "$d/out" >>"$d/out.log" 2>>"$d/err.log") &
pa=$!
wait_stopped $pa "A did not stop after chunk 3"
run "$d" b B || fail "B while A is stopped: $(tail -n 2 "$d/err.log")"
kill -CONT $pa
rc=0; wait $pa || rc=$?
expect_eq "$rc" 0 "A after B"
expect_eq "$(count "$d")" 3000 "rows after A and B at once"
expect_eq "$(dump "$d")" "$WANT_B" "the partition holds B's rows only"
grep -q 'job focus-b (window all) claimed partition (acct-001, /providers/microsoft.billing/billingaccounts/acct-001, FocusCost, 2026-11) for the days 2026-11-01 up to 2026-11-02 (exclusive) after window all of this job did' "$d/err.log" ||
  fail "A did not say why it left its rows out: $(grep '"warn"' "$d/err.log")"
checked "$d"
sqlite3 "$d/state/cairn.db" "SELECT job, window, status, records FROM windows ORDER BY job" >"$d/windows"
expect_eq "$(cat "$d/windows")" "$(printf 'focus-a|all|loaded|3000\nfocus-b|all|loaded|3000')" "windows"

# 2. The same with A killed (SIGKILL) after chunk 3 and resumed after B;
#    then A run again: a new load, which claims the partition last.
d="$T/kill"; mkdir -p "$d"
rc=0; run "$d" a A CAIRN_TEST_KILL_AT=sink_loaded:3 || rc=$?
expect_eq "$rc" 137 "A killed"
run "$d" b B || fail "B after A was killed"
run "$d" a A || fail "A resumed"
expect_eq "$(dump "$d")" "$WANT_B" "A's resume leaves the partition to B"
expect_eq "$(sqlite3 "$d/state/cairn.db" "SELECT group_concat(status || '/' || resumed, ' ') FROM (SELECT * FROM runs WHERE job = 'focus-a' ORDER BY started, rowid)")" \
  "killed/0 done/1" "A's runs"
run "$d" a A || fail "A again"
expect_eq "$(dump "$d")" "$WANT_A" "A run again: A's rows only"
checked "$d"

# 3. Free-running: A and B at once, then the other way round; whichever
#    claimed last, the partition holds one load's rows, each once.
for order in "a b" "b a"; do
  d="$T/free-${order// /}"; mkdir -p "$d"
  set -- $order
  run "$d" "$1" "${1^^}" & p=$!
  run "$d" "$2" "${2^^}" || fail "$2 alongside $1"
  wait $p || fail "$1 alongside $2"
  got=$(dump "$d")
  [ "$got" = "$WANT_A" ] || [ "$got" = "$WANT_B" ] || fail "$order at once: a mix of both loads ($(count "$d") rows)"
  checked "$d"
done

# 4. Other partitions of the same table at once: an export of another
#    subscription's scope (job focus-c), the EA export (another account and
#    dataset) and the demo job (upsert, no scope): each keeps every row.
#    Meanwhile cairn status and dlq (exit 0, or 2 before the first run has
#    made the store: never 3), a dashboard's read transaction, a backup.
gen C0 9
python3 tests/cli/cost_runs.py derive "$T/C0" "$T/C" --scope /subscriptions/0c0c0c0c-0000-4000-8000-000000000001
run "$T/refc" c C || fail "reference C"
d="$T/others"; mkdir -p "$d"
EA=$(ls -d fixtures/cost-export/ea/*/*/*)
run "$d" a A & p1=$!
run "$d" c C & p2=$!
"$CAIRN" run jobs/azure-cost-export-ea.json --param input="$EA" --state "$d/state" --out "$d/out" >/dev/null 2>>"$d/err.log" & p3=$!
"$CAIRN" run jobs/demo-cost.json --param chunk_rows=100 --state "$d/state" --out "$d/out" >/dev/null 2>>"$d/err.log" & p4=$!
for i in 1 2 3; do
  for cmd in status "dlq focus-a"; do
    rc=0; "$CAIRN" $cmd --state "$d/state" >/dev/null 2>"$d/reader.err" || rc=$?
    [ $rc -eq 0 ] || [ $rc -eq 2 ] || fail "cairn $cmd during the loads: exit $rc: $(cat "$d/reader.err")"
  done
done
if [ -e "$d/out/warehouse.db" ]; then
  sqlite3 "$d/out/warehouse.db" ".timeout 20000" "BEGIN" "SELECT count(*) FROM cost_record" ".shell sleep 0.5" \
    "SELECT count(*) FROM cost_record" "COMMIT" >"$d/dash.out" || fail "dashboard"
  expect_eq "$(sort -u "$d/dash.out" | wc -l)" 1 "one snapshot for the dashboard's read transaction"
  sqlite3 "$d/out/warehouse.db" ".timeout 20000" ".backup $d/backup.db" || fail "backup during the loads"
  expect_eq "$(sqlite3 "$d/backup.db" 'PRAGMA integrity_check')" ok "backup integrity"
fi
for p in $p1 $p2 $p3 $p4; do wait $p || fail "a job of four at once: $(grep '"error"' "$d/err.log")"; done
expect_eq "$(sqlite3 "$d/out/warehouse.db" "SELECT costDataset, coalesce(costScope, '-'), count(*), count(DISTINCT recordId)
  FROM cost_record GROUP BY 1, 2 ORDER BY 1, 2")" "$(printf '%s\n' \
  'ActualCost|/providers/microsoft.billing/billingaccounts/8611537|11|11' \
  'FocusCost|-|2000|2000' \
  'FocusCost|/providers/microsoft.billing/billingaccounts/acct-001|3000|3000' \
  'FocusCost|/subscriptions/0c0c0c0c-0000-4000-8000-000000000001|3000|3000')" "rows of four jobs at once"
for x in "a acct-001" "c /subscriptions/"; do
  set -- $x
  expect_eq "$(sqlite3 "$d/out/warehouse.db" "SELECT printf('%.10f', sum(billedCost)) FROM cost_record WHERE costScope LIKE '%$2%'")" \
    "$(sqlite3 "$T/ref$1/out/warehouse.db" "SELECT printf('%.10f', sum(billedCost)) FROM cost_record")" "total of focus-$1"
done
! grep -q 'claimed partition' "$d/err.log" || fail "jobs of different partitions claimed each other's"
checked "$d"
echo "ok"
