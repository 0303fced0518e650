#!/usr/bin/env bash
# --fresh discards the interrupted attempt, "its unloaded chunks and
# spooled pages" (docs/operations.md). A day job's --fresh runs its own
# day only, so the spool of the night it abandoned (the source's raw
# pages, its data before a PII policy) stayed in state/spool until a
# backfill of that day came, if ever. It goes with the attempt now; the
# abandoned day is still loaded whole by a backfill.
source "$(dirname "$0")/../lib.sh"
cost_daily 2024-02-25 2024-03-01 --pages
nightly() { # DATE [ARGS]: the run of DATE at 02:30 UTC
  local d=$1; shift
  CAIRN_TEST_NOW=$(date -u -d "${d}T02:30:00Z" +%s) \
    "$CAIRN" run "$T/daily.json" "${P[@]}" "$@" >>"$T/out.txt" 2>>"$T/log"
}
SP="$T/state/spool/cost-daily"
"$CAIRN" run "$T/daily.json" "${P[@]}" --from 2024-02-25 --to 2024-03-01 >>"$T/out.txt" 2>>"$T/log" ||
  fail "reference run: $(tail -n 3 "$T/log")"
REF=$(sqlite3 "$T/out/warehouse.db" "SELECT * FROM cost_record ORDER BY recordId")
rm -rf "$T/state" "$T/out"

rc=0; CAIRN_TEST_KILL_AT=loaded:1 nightly 2024-02-27 || rc=$?
expect_eq "$rc" 137 "night of 27 Feb killed"
[ -d "$SP/2024-02-26" ] || fail "no spool for 26 Feb: $(find "$T/state/spool")"
nightly 2024-02-28 --fresh || fail "--fresh night: $(tail -n 3 "$T/log")"
[ ! -e "$SP/2024-02-26" ] || fail "--fresh kept the spool of the night it discarded: $(ls -R "$SP")"
[ ! -e "$SP/2024-02-27" ] || fail "the --fresh night's own spool stayed"
expect_eq "$(sqlite3 "$T/state/cairn.db" "SELECT status FROM windows WHERE window='2024-02-26'")" open "the abandoned day"
# The abandoned day, and the rest, by a backfill: the reference's rows.
"$CAIRN" run "$T/daily.json" "${P[@]}" --from 2024-02-25 --to 2024-03-01 >>"$T/out.txt" 2>>"$T/log" ||
  fail "backfill: $(tail -n 3 "$T/log")"
expect_eq "$(sqlite3 "$T/out/warehouse.db" "SELECT * FROM cost_record ORDER BY recordId")" "$REF" "rows after the backfill"
echo "ok: --fresh drops the spool of the windows it discards"
