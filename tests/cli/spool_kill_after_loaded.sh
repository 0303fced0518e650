#!/usr/bin/env bash
# The spooled raw pages (the source's data before a PII policy: mails,
# names) go once their window is loaded. They were dropped after the
# commit that marks the window loaded, so a run killed between the two
# left them for good: the rerun skips a window loaded in its attempt, and
# a loaded day or month window is never claimed again. They go before
# that commit now (a resume in between finishes the window without
# them). Pages kept with --keep-raw stay, also through a rerun without it.
source "$(dirname "$0")/../lib.sh"
source tests/data/connectors/entra-users.env
export CAIRN_TEST_FAST_RETRY=1
run() { # DIR [ARGS...]
  local d=$1; shift
  "$CAIRN" run jobs/entra-users.json --replay fixtures/entra-users.har "${PARAMS[@]}" \
    --state "$d/state" --out "$d/out" "$@" >>"$d/stdout" 2>>"$d/log"
}
rows() { sqlite3 "$1/out/warehouse.db" 'SELECT count(*), count(DISTINCT userId) FROM identity_user'; }
for keep in "" --keep-raw; do
  d="$T/run${keep}"; mkdir -p "$d"
  pages="$d/state/spool/entra-users/all/pages.zst"
  rc=0; CAIRN_TEST_KILL_AT=window_loaded:3 run "$d" $keep || rc=$?
  expect_eq "$rc" 137 "killed after the window was marked loaded"
  expect_eq "$(sqlite3 "$d/state/cairn.db" "SELECT status FROM windows")" loaded "window after the kill"
  if [ -z "$keep" ]; then
    [ ! -e "$pages" ] || fail "the raw pages outlived the window's loaded mark: $(ls -l "$(dirname "$pages")")"
  else
    [ -f "$pages" ] || fail "--keep-raw: no kept pages"
  fi
  run "$d" || fail "rerun: $(tail -n 3 "$d/log")"
  has -F 'already loaded in this attempt' "$d/log" || fail "the rerun did not resume the attempt"
  expect_eq "$(rows "$d")" "7|7" "rows after the rerun"
  if [ -n "$keep" ]; then
    [ -f "$pages" ] || fail "a rerun without --keep-raw dropped the pages --keep-raw kept"
  fi
done
# Killed between the drop and the mark: the state of a kill after the
# sinks finished the window, its spool then dropped. The rerun finishes
# the window without the pages, nothing loaded twice.
d="$T/window"; mkdir -p "$d"
rc=0; CAIRN_TEST_KILL_AT=window:3 run "$d" || rc=$?
expect_eq "$rc" 137 "killed after the sinks finished the window"
[ -f "$d/state/spool/entra-users/all/pages.zst" ] || fail "no spool before the drop"
rm -r "$d/state/spool/entra-users/all"
run "$d" || fail "rerun after the window's finish: $(tail -n 3 "$d/log")"
expect_eq "$(sqlite3 "$d/state/cairn.db" "SELECT status, n_chunks FROM windows")" "loaded|3" "window after the rerun"
expect_eq "$(sqlite3 "$d/state/cairn.db" "SELECT min(load_count), max(load_count) FROM chunks")" "1|1" "chunks loaded once"
expect_eq "$(rows "$d")" "7|7" "rows after the rerun"
[ ! -e "$d/state/spool/entra-users/all" ] || fail "spool after the rerun"
echo "ok: a window's raw pages go before its loaded mark, kept ones stay"
