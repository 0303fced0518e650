#!/usr/bin/env bash
# Issue #2 acceptance 4: concurrent runs of one job are refused; a lock
# left by a dead process is taken over, with a log line saying so.
source "$(dirname "$0")/../lib.sh"
S=(--state "$T/state" --out "$T/out")
mkdir -p "$T/state/locks"
L="$T/state/locks/demo-cost.lock"

# run_locked PID: run the job while a process holds the flock, the file
# naming PID (self: the holder's own); sets rc, err and holder.
run_locked() {
  ( pid=$1; [ "$pid" = self ] && pid=$BASHPID
    echo "$pid 1700000000" > "$L"; exec flock -o "$L" sleep 10 ) &
  holder=$!
  for _ in $(seq 50); do flock -n "$L" true 2>/dev/null || break; sleep 0.1; done
  set +e; err=$("$CAIRN" run jobs/demo-cost.json "${S[@]}" 2>&1 >/dev/null); rc=$?; set -e
  kill $holder; wait $holder 2>/dev/null || true
}

# A live holder: a process holding the flock, its pid in the file.
run_locked self
expect_eq "$rc" 2 "exit code while locked"
[[ "$err" == *"job demo-cost is running (pid $holder, since 2023-11-14T22:13:20Z)"* ]] || fail "message: $err"
[ ! -e "$T/out/warehouse.db" ] || fail "the refused run wrote output"

# A holder that has not written its pid yet (between its flock and its
# write), the file still naming the last holder, dead: the refusal does not
# name that pid as running.
run_locked 999999
expect_eq "$rc" 2 "exit code while locked by a holder without its pid"
[[ "$err" != *"pid 999999"* ]] || fail "a dead pid named as running: $err"
[[ "$err" == *"job demo-cost is running (another process holds its lock"*"has not written its pid"* ]] || fail "message: $err"

# A stale lock: the file names a process that is gone.
echo "999999 1700000000" > "$L"
"$CAIRN" run jobs/demo-cost.json "${S[@]}" >/dev/null 2>"$T/log" || fail "stale lock not taken over"
grep -q 'taking over stale lock of pid 999999' "$T/log" || fail "no takeover log line: $(cat "$T/log")"
expect_eq "$(sqlite3 "$T/out/warehouse.db" 'SELECT count(*) FROM cost_record')" 2000 rows

# Two jobs may run at once on one state directory and one warehouse. Both
# starting together on new ones used to fail one of them ("database is
# locked": both switch the new files to WAL; 11 of 40 tries): each run's
# setup now waits its turn.
jq '.name = "demo-a"' jobs/demo-cost.json >"$T/demo-a.json"
jq '.name = "demo-b"' jobs/demo-cost.json >"$T/demo-b.json"
PI=(--param "input=$ROOT/fixtures/demo/cost.csv")
for i in $(seq 15); do
  C=(--state "$T/c$i/state" --out "$T/c$i/out")
  CAIRN_SINKS="$ROOT/sinks" "$CAIRN" run "$T/demo-a.json" "${C[@]}" "${PI[@]}" >/dev/null 2>"$T/ca.log" &
  a=$!
  rb=0; CAIRN_SINKS="$ROOT/sinks" "$CAIRN" run "$T/demo-b.json" "${C[@]}" "${PI[@]}" >/dev/null 2>"$T/cb.log" || rb=$?
  ra=0; wait $a || ra=$?
  [ $ra -eq 0 ] && [ $rb -eq 0 ] || fail "two jobs at once, try $i: exits $ra/$rb: $(grep -h '"error"' "$T/ca.log" "$T/cb.log")"
  expect_eq "$(sqlite3 "$T/c$i/out/warehouse.db" "SELECT count(DISTINCT job) FROM _cairn_chunks")" 2 "both jobs loaded, try $i"
done
