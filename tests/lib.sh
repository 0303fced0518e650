# Shared helpers for shell tests: source it, then use $CAIRN, $T (a fresh
# temp dir removed on exit by cleanup), fail/expect_eq/expect_exit.
#
# A test that mounts file systems under $T sets CAIRN_TEST_MOUNTS=1 before
# sourcing this: it is started again in a private mount namespace
# (unshare; a user namespace too when not root), whose mounts end with it,
# and cleanup unmounts what is left under $T first.
if [ -n "${CAIRN_TEST_MOUNTS:-}" ] && [ -z "${CAIRN_IN_MOUNT_NS:-}" ]; then
  if [ "$(id -u)" -eq 0 ]; then ns=(--mount); else ns=(--map-root-user --mount); fi
  CAIRN_IN_MOUNT_NS=1 exec unshare "${ns[@]}" --propagation private bash "$0" "$@"
fi
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CAIRN="${CAIRN_BIN:-$ROOT/bin/cairn}"
T="$(mktemp -d /tmp/cairn-test.XXXXXX)"
# (set -e holds in an EXIT trap too: each step must succeed or be excused)
cleanup() {
  # servers and runs a failed check left running in the background
  kill $(jobs -p) 2>/dev/null || true
  [ -z "${CAIRN_TEST_MOUNTS:-}" ] || umount -q "$T"/*/* "$T"/*/*/* 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
export CAIRN_LOG_FORMAT=json
unset CAIRN_STATE CAIRN_OUT CAIRN_DISABLE CAIRN_TEST_KILL_AT CAIRN_TEST_FAULT

fail() { echo "FAIL: $*" >&2; exit 1; }
# ... | has [GREP-OPTIONS] PATTERN: grep -q that reads its input to the end.
# grep -q exits at the first match, and the command before it then dies
# of SIGPIPE if it writes more, which pipefail counts as the pipeline
# failing: a check that fails now and then, on timing alone. (For the
# same reason a pipeline takes its first line with sed -n 1p, not head.)
has() { grep "$@" >/dev/null; }
# uses JOBFILE K=V...: the --param flags for those K the job file names
# (a job refuses a --param it has none of), one per line for mapfile.
uses() {
  local j=$1 kv; shift
  for kv in "$@"; do
    if grep -qF "\${param:${kv%%=*}" "$j"; then printf -- '--param\n%s\n' "$kv"; fi
  done
}
# n_tars DIR: how many bundles (*.tar) DIR holds.
n_tars() { find "$1" -maxdepth 1 -name '*.tar' | wc -l; }
expect_eq() { [ "$1" == "$2" ] || fail "${3:-values differ}: expected [$2], got [$1]"; }
# expect_exit CODE cmd...: run cmd, require its exit code.
expect_exit() {
  local want=$1; shift
  set +e; "$@"; local got=$?; set -e
  [ "$got" -eq "$want" ] || fail "exit $got (want $want): $*"
}

# wait_for PID CMD...: wait until CMD succeeds, as long as process PID
# lives, for up to 120 s (a started server or run is usually ready in
# milliseconds; a machine busy with I/O has taken over 30 s to start
# python3). Fails only by what the caller checks next.
wait_for() {
  local pid=$1 i; shift
  for ((i = 0; i < 6000; i++)); do
    "$@" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.02
  done
  return 1
}

# wait_stopped PID WHAT: wait until process PID is stopped (a run with
# CAIRN_TEST_KILL_SIGNAL=STOP at its CAIRN_TEST_KILL_AT point), for up to
# 120 s; fails the test, saying WHAT, if it ends or never stops.
wait_stopped() {
  local i
  for ((i = 0; i < 6000; i++)); do
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != T ] || return 0
    kill -0 "$1" 2>/dev/null || break
    sleep 0.02
  done
  fail "$2"
}
# hold_read DB TABLE: another process holding a read transaction on the
# SQLite database DB (a dashboard), begun by reading TABLE, for up to 120 s
# or until killed; sets READER to its pid once the transaction is open.
hold_read() {
  local ready
  ready=$(mktemp -u "$T/read.XXXXXX")
  python3 - "$1" "$2" "$ready" <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN")
db.execute('SELECT count(*) FROM "%s"' % sys.argv[2]).fetchone()
open(sys.argv[3], "w").close()
time.sleep(120)
PY
  READER=$!
  wait_for "$READER" test -e "$ready" || true
  [ -e "$ready" ] || fail "reader did not start"
}
# start_mock HAR LOG [FAULT...]: serve a recording with `cairn mock` on
# ${MOCK_LISTEN:-127.0.0.1:0}, one --fault per FAULT, logging requests to
# LOG; sets MOCK_URL and MOCK_PID. stop_mock ends it.
start_mock() {
  local har=$1 log=$2 out f=(); shift 2
  out=$(mktemp "$T/mock.XXXXXX") # empty: wait_for reads no earlier mock's line
  for x in "$@"; do f+=(--fault "$x"); done
  "$CAIRN" mock "$har" --listen "${MOCK_LISTEN:-127.0.0.1:0}" --log "$log" "${f[@]}" >"$out" 2>/dev/null &
  MOCK_PID=$!
  wait_for "$MOCK_PID" test -s "$out" || true
  MOCK_URL=$(awk 'NR==1{print $2}' "$out")
  [ -n "$MOCK_URL" ] || { kill "$MOCK_PID" 2>/dev/null; fail "mock for $har did not start"; }
}
stop_mock() { kill "$MOCK_PID"; wait "$MOCK_PID" 2>/dev/null || true; }
# cost_daily FROM TO [ARGS]: a day job of the Cost Management Query
# connector ($T/daily.json, named cost-daily) replayed from a generated
# recording of the days FROM up to TO ($T/day.har; ARGS go to
# tests/data/backfill/cost_query_har.py); sets P to the flags each of its
# runs takes (state, out and metrics under $T).
cost_daily() {
  local from=$1 to=$2; shift 2
  export CAIRN_SECRET_CLIENT_SECRET=s
  python3 tests/data/backfill/cost_query_har.py day "$from" "$to" "$T/day.har" "$@"
  jq '.name = "cost-daily" | .window = "day"' jobs/azure-cost-query.json >"$T/daily.json"
  P=(--param tenant_id=8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d
     --param client_id=6731de76-14a6-49ae-97bc-6eba6914391e
     --param scope=subscriptions/cfbbd179-59d2-4052-aa06-9270a38aa9d6
     --state "$T/state" --out "$T/out" --metrics-dir "$T/metrics" --replay "$T/day.har")
}
