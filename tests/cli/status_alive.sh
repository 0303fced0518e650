#!/usr/bin/env bash
# `cairn status` tells a run whose process is gone from one that runs. A
# run killed by SIGKILL (the OOM killer, a lost node) used to show as
# `running` until the next run of the job marked it killed: an operator
# looking after an incident was told it still ran. Now status asks the
# job's lock, without taking it, whether a process holds it: a killed run
# shows `gone` ("alive": false), a live one (stopped at a kill point)
# `running` ("alive": true), also to a status in another pid namespace (a
# container), and the record stays as it is until the next run.
source "$(dirname "$0")/../lib.sh"
A=(jobs/demo-cost.json --param chunk_rows=100 --state "$T/state" --out "$T/out")
DB=$T/state/cairn.db
L=$T/state/locks/demo-cost.lock
status() { "$CAIRN" status demo-cost --state "$T/state" "$@"; }
# each run's status and "alive" ("-" when it has none)
alive() { status --json | jq -c '[.runs[] | [.status, (if has("alive") then .alive else "-" end)]]'; }

# Killed (SIGKILL) after its third chunk.
expect_exit 137 env CAIRN_TEST_KILL_AT=loaded:3 "$CAIRN" run "${A[@]}" >/dev/null 2>&1
expect_eq "$(alive)" '[["running",false]]' "the killed run"
out=$(status)
[[ "$out" == *" demo-cost            gone    exit=- "* ]] || fail "killed run not shown gone: $out"
[[ "$out" == *"gone: recorded as running, but its process holds the job's lock no more"* ]] || fail "no explanation: $out"
expect_eq "$(sqlite3 "$DB" 'SELECT status FROM runs')" running "the record left as it is"
run=$(sqlite3 "$DB" 'SELECT run_id FROM runs')

# A process holding the lock, the file naming the run it holds it for: the
# run's own process; a later run (starting, about to mark the killed one)
# when it names another.
hold() { # RUN_ID: sets HOLDER
  python3 - "$L" "$1" "$T/held" <<'PY' &
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
os.ftruncate(fd, 0)
os.pwrite(fd, b"%d 1700000000 %s\n" % (os.getpid(), sys.argv[2].encode()), 0)
fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0))
open(sys.argv[3], "w").close()
time.sleep(120)
PY
  HOLDER=$!
  wait_for $HOLDER test -e "$T/held" || fail "the holder did not take the lock"
}
unhold() { kill $HOLDER; wait $HOLDER 2>/dev/null || true; rm -f "$T/held"; }
hold "$run"
expect_eq "$(alive)" '[["running",true]]' "held for the run"
unhold
hold 0123456789abcdef
expect_eq "$(alive)" '[["running",false]]' "held for a later run"
unhold

# A lock that cannot be asked: alive unknown (null), said why.
mv "$L" "$L.real"
ln -s "$L.real" "$L"
expect_eq "$(status --json | jq -c '.runs[0] | [.alive, (.alive_error | test("symbolic links"))]')" \
  '[null,true]' "a lock that cannot be asked"
out=$(status)
[[ "$out" == *" demo-cost            running exit=- "* ]] || fail "unknown shown as other than running: $out"
[[ "$out" == *"alive: unknown (lock $L: "* ]] || fail "no reason: $out"
rm "$L"
mv "$L.real" "$L"

# A live run, stopped after its fifth chunk: running, the killed one killed.
(export CAIRN_TEST_KILL_SIGNAL=STOP CAIRN_TEST_KILL_AT=loaded:5
 exec "$CAIRN" run "${A[@]}" >"$T/live.out" 2>"$T/live.log") &
p=$!
wait_stopped $p "the run did not stop after chunk 5"
expect_eq "$(alive)" '[["running",true],["killed","-"]]' "the live run"
out=$(status)
[[ "$out" == *" demo-cost            running exit=- "* ]] || fail "live run not shown running: $out"
[[ "$out" != *"gone"* ]] || fail "live run shown gone: $out"
# from another pid namespace, where /proc/locks hides the run's flock
if [ "$(id -u)" -eq 0 ]; then ns=(); else ns=(--map-root-user); fi
ino=$(stat -c %i "$L")
[ -z "$(unshare "${ns[@]}" --pid --fork --mount-proc grep " FLOCK .*:$ino " /proc/locks)" ] ||
  fail "the other pid namespace sees the run's flock: the case is not tested"
expect_eq "$(unshare "${ns[@]}" --pid --fork --mount-proc "$CAIRN" status demo-cost --state "$T/state" --json |
  jq -c '.runs[0] | [.status, .alive]')" '["running",true]' "the live run, from another pid namespace"
# status took nothing: a second run is refused naming the live one at once
set +e; err=$("$CAIRN" run "${A[@]}" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "a second run while the first runs"
[[ "$err" == *"job demo-cost is running (pid $p, since "* ]] || fail "refusal: $err"
kill -CONT $p
rc=0; wait $p || rc=$?
expect_eq "$rc" 0 "the live run, continued"
expect_eq "$(alive)" '[["done","-"],["killed","-"]]' "after the run"
expect_eq "$(sqlite3 "$T/out/warehouse.db" 'SELECT count(*) FROM cost_record')" 2000 rows
