#!/usr/bin/env bash
# The quickstart's "Your own CSV" command, copied as written, names a file
# that is not there: the run fails resumable (exit 3: a file may be still
# to come) and its message says what to check, not only "no such file"
# followed by "run again to resume", which a typo never gets past.
source "$(dirname "$0")/../lib.sh"
set +e
out=$("$CAIRN" run jobs/demo-cost.json --param input=/path/to/focus-export.csv \
      --state "$T/state" --out "$T/out" 2>"$T/err"); rc=$?
set -e
expect_eq "$rc" 3 "missing input: exit"
want="/path/to/focus-export.csv: no such file: check the source's path (and the --param that sets it, if any); a file still to come: run again once it is there"
[[ "$out" == *"$want" ]] || fail "summary: [$out]"
grep -qF "$want" "$T/err" || fail "log: $(cat "$T/err")"
grep -qF -- 'bin/cairn run jobs/demo-cost.json --param input=/path/to/focus-export.csv' docs/quickstart.md ||
  fail "the quickstart's command changed: update this test"
echo ok
