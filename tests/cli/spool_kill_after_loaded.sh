#!/usr/bin/env bash
# The spooled raw pages (the source's data before a PII policy: mails,
# names) go once their window is loaded. A run killed between the commit
# that marks the window loaded and the removal of its spool left them
# behind for good: the rerun resumed the attempt, skipped the window
# ("already loaded in this attempt") and never looked at its spool, and a
# loaded day or month window is not claimed again. The rerun drops them
# now, loads nothing twice, and --keep-raw still keeps them.
source "$(dirname "$0")/../lib.sh"
source tests/data/connectors/entra-users.env
export CAIRN_TEST_FAST_RETRY=1
run() { # DIR [ARGS...]
  local d=$1; shift
  "$CAIRN" run jobs/entra-users.json --replay fixtures/entra-users.har "${PARAMS[@]}" \
    --state "$d/state" --out "$d/out" "$@" >>"$d/stdout" 2>>"$d/log"
}
for keep in "" --keep-raw; do
  d="$T/run${keep}"; mkdir -p "$d"
  pages="$d/state/spool/entra-users/all/pages.zst"
  rc=0; CAIRN_TEST_KILL_AT=window_loaded:3 run "$d" $keep || rc=$?
  expect_eq "$rc" 137 "killed after the window was marked loaded"
  expect_eq "$(sqlite3 "$d/state/cairn.db" "SELECT status FROM windows")" loaded "window after the kill"
  [ -f "$pages" ] || fail "the kill came after the spool was dropped: $(find "$d/state/spool")"
  run "$d" $keep || fail "rerun: $(tail -n 3 "$d/log")"
  has -F 'already loaded in this attempt' "$d/log" || fail "the rerun did not resume the attempt"
  expect_eq "$(sqlite3 "$d/out/warehouse.db" 'SELECT count(*) FROM identity_user')" 7 "rows after the rerun"
  if [ -z "$keep" ]; then
    [ ! -e "$pages" ] || fail "the raw pages stayed after the rerun: $(ls -l "$(dirname "$pages")")"
  else
    [ -f "$pages" ] || fail "--keep-raw: the rerun dropped the kept pages"
  fi
done
echo "ok: a window's raw pages go after a kill between its loaded mark and their removal"
