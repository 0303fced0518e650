# Shared helpers for shell tests: source it, then use $CAIRN, $T (a fresh
# temp dir removed on exit), fail/expect_eq/expect_exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CAIRN="${CAIRN_BIN:-$ROOT/bin/cairn}"
T="$(mktemp -d /tmp/cairn-test.XXXXXX)"
trap 'rm -rf "$T"' EXIT
export CAIRN_LOG_FORMAT=json
unset CAIRN_STATE CAIRN_OUT CAIRN_DISABLE CAIRN_TEST_KILL_AT CAIRN_TEST_FAULT

fail() { echo "FAIL: $*" >&2; exit 1; }
expect_eq() { [ "$1" == "$2" ] || fail "${3:-values differ}: expected [$2], got [$1]"; }
# expect_exit CODE cmd...: run cmd, require its exit code.
expect_exit() {
  local want=$1; shift
  set +e; "$@"; local got=$?; set -e
  [ "$got" -eq "$want" ] || fail "exit $got (want $want): $*"
}
