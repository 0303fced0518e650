#!/usr/bin/env bash
# `cairn status` and `cairn dlq` while the first run of a new state
# directory makes its store: the file exists before its tables do. They
# used to fail with "state ...: prepare: no such table: runs" (exit 3, 4
# of 600 calls during 20 first runs); now such a store says it holds no
# state yet (exit 2, as for a directory without cairn.db), and the run
# makes its tables in one transaction, so none is seen without the rest.
source "$(dirname "$0")/../lib.sh"

# A store file without tables: what a reader finds between the run's
# open and its commit of the schema (or after a run stopped there).
mkdir -p "$T/empty"
: >"$T/empty/cairn.db"
for cmd in status "dlq demo-cost"; do
  set +e; err=$("$CAIRN" $cmd --state "$T/empty" 2>&1 >/dev/null); rc=$?; set -e
  expect_eq "$rc" 2 "cairn $cmd on a store without tables"
  [[ "$err" == *"no state in $T/empty yet"*"holds none"* ]] || fail "cairn $cmd: $err"
done
# The same with some tables but not all (a store an older cairn was
# making table by table).
mkdir -p "$T/part"
sqlite3 "$T/part/cairn.db" "CREATE TABLE attempts(job TEXT)"
set +e; err=$("$CAIRN" status --state "$T/part" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "cairn status on a store being made"
# A scheduled run's preview finds nothing missed, without a warning.
jq '.window = "day"' jobs/demo-cost.json >"$T/day.json"
CAIRN_SINKS="$ROOT/sinks" "$CAIRN" run "$T/day.json" --dry-run --state "$T/empty" >"$T/dry.out" 2>"$T/dry.log" ||
  fail "dry run: $(cat "$T/dry.log")"
! grep -q 'not looked for' "$T/dry.log" || fail "dry run warned: $(cat "$T/dry.log")"
# A run then makes the store as usual.
"$CAIRN" run jobs/demo-cost.json --state "$T/empty" --out "$T/o" >/dev/null 2>&1 || fail "run on the empty store"
"$CAIRN" status demo-cost --state "$T/empty" | has 'demo-cost .* done' || fail "status after the run"

# Status and dlq in a loop while first runs start: exit 0 or 2, never 3.
for i in $(seq 10); do
  d="$T/race$i"
  "$CAIRN" run jobs/demo-cost.json --state "$d" --out "$T/o$i" >/dev/null 2>&1 &
  p=$!
  for k in $(seq 15); do
    for cmd in status "dlq demo-cost"; do
      rc=0; "$CAIRN" $cmd --state "$d" >/dev/null 2>"$T/race.err" || rc=$?
      [ $rc -eq 0 ] || [ $rc -eq 2 ] || fail "cairn $cmd during a first run: exit $rc: $(cat "$T/race.err")"
    done
  done
  wait $p || fail "first run $i"
done
echo "ok"
