#!/usr/bin/env bash
# status and dlq pointed at a state directory they may not enter (the
# service's, mode 0700, read by another user) say it cannot be read and
# exit 3, as for a state store they cannot open: they used to say "no
# state ... nothing has run with this state directory" and exit 2, sending
# an operator after a typo in a path that was right. As root through
# setpriv (root may enter any directory); as another user by chmod.
source "$(dirname "$0")/../lib.sh"
"$CAIRN" run jobs/demo-cost.json --state "$T/state" --out "$T/out" >/dev/null 2>&1
chmod go+rx "$T"
install -m 755 "$CAIRN" "$T/cairn"
if [ "$(id -u)" = 0 ]; then
  command -v setpriv >/dev/null || { echo "skipped: no setpriv"; exit 0; }
  as_other() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
else
  as_other() { "$@"; }
fi
chmod 700 "$T/state"
[ "$(id -u)" = 0 ] || chmod 000 "$T/state"
for c in status dlq; do
  set +e; err=$(as_other "$T/cairn" $c demo-cost --state "$T/state" 2>&1 >/dev/null); rc=$?; set -e
  expect_eq "$rc" 3 "$c of a state directory it may not enter: exit"
  [[ "$err" == "cairn $c: cannot read the state in $T/state ($T/state/cairn.db: Permission denied); "* ]] ||
    fail "$c: [$err]"
done
chmod 755 "$T/state"
# A directory that is not there is still "no state" (exit 2).
set +e; err=$(as_other "$T/cairn" status --state "$T/none" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "status of a missing state directory"
[[ "$err" == "cairn status: no state in $T/none ("* ]] || fail "missing: [$err]"
# ... and a path under a file, too (ENOTDIR).
set +e; err=$(as_other "$T/cairn" dlq demo-cost --state "$T/cairn/state" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "dlq of a state path under a file"
echo ok
