#!/usr/bin/env bash
# Edges of a scheduled run's catch-up (docs/jobs.md, `window`):
#  - a job that ran without windows (its window `all` loaded) and is then
#    given "window": "day": its first scheduled day run fails, and the
#    next night must still load that day before its own. The loaded `all`
#    window has no start or end, so it is no place to catch up from: a
#    catch-up that took it for the newest loaded window found nothing to
#    load, and the failed night stayed a gap only `cairn status` showed;
#  - a clock far ahead: the catch-up is skipped with a warning that says
#    so, not with a backfill's message.
source "$(dirname "$0")/../lib.sh"
cost_daily 2027-03-01 2027-03-10
nightly() { # nightly DATE [ARGS]: the run at 02:30 UTC of DATE
  local d=$1; shift
  CAIRN_TEST_NOW=$(date -u -d "$d 02:30" +%s) "$CAIRN" run "$T/daily.json" "${P[@]}" "$@" 2>>"$T/log"
}
status_of() { sqlite3 "$T/state/cairn.db" "SELECT status FROM windows WHERE job='cost-daily' AND window='$1'"; }

# The state as the job left it when it had no window: one scheduled
# attempt, done, that loaded `all` (a window without start or end). A
# failed run makes the store; its rows are then replaced by those.
CAIRN_TEST_FAULT=extract:1 expect_exit 3 nightly 2027-03-03 >/dev/null
sqlite3 "$T/state/cairn.db" "DELETE FROM windows; DELETE FROM chunks; DELETE FROM attempts;
  INSERT INTO attempts(job, spec, attempt, status) VALUES('cost-daily', '', 1, 'done');
  INSERT INTO windows(job, window, attempt, status, wstart, wend) VALUES('cost-daily', 'all', 1, 'loaded', '', '')"

# The first night with windows fails in its own day (2 Mar)...
CAIRN_TEST_FAULT=extract:1 expect_exit 3 nightly 2027-03-03 >/dev/null
expect_eq "$(status_of 2027-03-02)" open "the failed night's window"
# ...and the next one loads it before its own (3 Mar).
expect_eq "$(nightly 2027-03-04 --json | jq -c '[.status, .windows]')" '["done",2]' "the night after"
grep -q 'window 2027-03-02 was missed by an earlier run: loading it first' "$T/log" ||
  fail "no catch-up: $(grep -c missed "$T/log")"
expect_eq "$(status_of 2027-03-02) $(status_of 2027-03-03)" "loaded loaded" "both days loaded"
# A clock far ahead (a bad RTC): the windows after the newest loaded one
# are more than a run may have. The catch-up is skipped with a warning
# that blames the clock; a scheduled run was given no --from/--to, so the
# backfill's "--from X --to Y covers more than 100000 windows: split the
# backfill" misled.
CAIRN_LOG_FORMAT=text nightly 2400-03-03 --dry-run >/dev/null
grep 'scheduled runs missed' "$T/log" | has 'more than 100000 windows after the newest loaded one (up to 2400-03-02, by this machine.s clock: is it right?' ||
  fail "far-future clock: $(grep 'scheduled runs missed' "$T/log")"
grep 'scheduled runs missed' "$T/log" | has -e 'covers more than' -e 'split the backfill' &&
  fail "far-future clock, a backfill's message: $(grep 'scheduled runs missed' "$T/log")"
echo "schedule_catch_up_edges: ok"
