#!/usr/bin/env bash
# A day job with a month of history (docs/operations.md, "History over
# time"): `cairn status` lists the windows not loaded and the newest 10
# loaded ones, saying how many it left out (--windows N|all; --json lists
# every window unless given --windows); then the pruning lines of the
# docs, run as written there, delete the old runs, chunk rows and rejects
# and nothing else: status shows every window as before, and the next
# night resumes the failed one and loads its own.
source "$(dirname "$0")/../lib.sh"
cost_daily 2027-01-01 2027-02-10 --pages
DB="$T/state/cairn.db"
run() { # run DATE-TIME [ARGS]
  local t=$1; shift
  CAIRN_TEST_NOW=$(date -u -d "$t" +%s) "$CAIRN" run "$T/daily.json" "${P[@]}" "$@" >/dev/null 2>>"$T/log"
}
status() { "$CAIRN" status cost-daily --state "$T/state" "$@"; }
wins() { sed -n '/^WINDOWS/,/^DLQ/p' | sed '1d;$d'; }

# 1 to 24 Jan by a backfill, 25 to 28 Jan by four nights; the night of
# 30 Jan fails in 29 Jan (exit 3, the window left open).
run "2027-01-19 12:00" --from 2027-01-01 --to 2027-01-25 || fail "backfill: $(tail -n 2 "$T/log")"
for d in 2027-01-26 2027-01-27 2027-01-28 2027-01-29; do
  run "$d 02:30" || fail "night $d: $(tail -n 2 "$T/log")"
done
CAIRN_TEST_FAULT=extract:1 expect_exit 3 run "2027-01-30 02:30"

status >"$T/st.txt"
expect_eq "$(wins <"$T/st.txt" | sed -n 1p | tr -s ' ')" \
  " cost-daily (18 older loaded windows not shown: --windows all)" "the line of windows left out"
expect_eq "$(wins <"$T/st.txt" | sed 1d | awk '{print $2 ":" $3}' | tr '\n' ' ')" \
  "2027-01-19:loaded 2027-01-20:loaded 2027-01-21:loaded 2027-01-22:loaded 2027-01-23:loaded 2027-01-24:loaded 2027-01-25:loaded 2027-01-26:loaded 2027-01-27:loaded 2027-01-28:loaded 2027-01-29:open " \
  "status: the newest 10 loaded windows and the open one"
expect_eq "$(status --windows 0 | wins | awk '{print $2}' | tr '\n' ' ')" "(28 2027-01-29 " "--windows 0"
expect_eq "$(status --windows all | wins | wc -l)" 29 "--windows all"
status --windows all | wins | has 'not shown' && fail "--windows all left windows out"
expect_eq "$(status --json | jq -c '[(.windows | length), .windows_omitted]')" "[29,null]" "--json"
expect_eq "$(status --json --windows 3 | jq -c '[(.windows | map(.window)), .windows_omitted]')" \
  '[["2027-01-26","2027-01-27","2027-01-28","2027-01-29"],[{"job":"cost-daily","n":25}]]' "--json --windows 3"
expect_eq "$("$CAIRN" status --state "$T/state" --windows 1 | sed -n '/^WINDOWS/,$p' | sed 1d | wc -l)" 3 \
  "all jobs, --windows 1"
expect_exit 2 "$CAIRN" status cost-daily --state "$T/state" --windows -1 2>/dev/null
expect_exit 2 "$CAIRN" status cost-daily --state "$T/state" --windows some 2>/dev/null

# Two rejects, in an old window and in a recent one (the recording has
# none): the pruning keeps the recent one.
sqlite3 "$DB" "INSERT INTO quarantine(job, window, seq, position, reasons, raw) VALUES('cost-daily', '2027-01-05', 1, 'row 1', 'x: bad', '{}');
  INSERT INTO quarantine(job, window, seq, position, reasons, raw) VALUES('cost-daily', '2027-01-27', 1, 'row 1', 'x: bad', '{}')"
# and a job without windows, its window all loaded with a reject: kept.
sqlite3 "$DB" "INSERT INTO windows(job, window, attempt, status, wstart, wend) VALUES('nowin', 'all', 1, 'loaded', '', '');
  INSERT INTO chunks(job, window, seq, stage) VALUES('nowin', 'all', 1, 3);
  INSERT INTO quarantine(job, window, seq, position, reasons, raw) VALUES('nowin', 'all', 1, 'row 1', 'x: bad', '{}')"
before=$(status --json --windows all | jq -c .windows)
runs_before=$(sqlite3 "$DB" "SELECT count(*) FROM runs")

# The pruning lines of docs/operations.md, as they are written there.
sed -n '/^\*\*Pruning\.\*\*/,/^```$/p' docs/operations.md | sed -n '/^```sh$/,/^```$/p' | sed '1d;$d' >"$T/prune.sh"
[ "$(grep -c '^sqlite3 ' "$T/prune.sh")" -ge 4 ] || fail "no pruning lines in docs/operations.md: $(cat "$T/prune.sh")"
sed -i -e "s|^DB=.*|DB=\"$DB\"|" -e 's|^CUTOFF=[^ ]*|CUTOFF=2027-01-20|' -e 's|\bJOB\b|cost-daily|g' \
  -e "s|^cairn |\"$CAIRN\" |" "$T/prune.sh"
(cd "$T" && bash -e prune.sh) || fail "the pruning lines: $(cat "$T/prune.sh")"
expect_eq "$(jq -c 'map(.window)' "$T/dlq-cost-daily-before-2027-01-20.json")" '["2027-01-05","2027-01-27"]' \
  "the DLQ saved first"
expect_eq "$(sqlite3 "$DB" "SELECT count(*) FROM runs")" "$((runs_before - 1))" "runs pruned: the backfill's"
expect_eq "$(sqlite3 "$DB" "SELECT count(*), min(window) FROM chunks WHERE job='cost-daily'")" "18|2027-01-20" \
  "chunk rows pruned: those of windows ending on 20 Jan or before"
expect_eq "$("$CAIRN" dlq cost-daily --state "$T/state" --json | jq -c 'map(.window)')" '["2027-01-27"]' \
  "the DLQ pruned"
expect_eq "$(status --json --windows all | jq -c .windows)" "$before" "status of the windows after pruning"
expect_eq "$(sqlite3 "$DB" "SELECT (SELECT count(*) FROM chunks WHERE job='nowin'),
  (SELECT count(*) FROM quarantine WHERE job='nowin')")" "1|1" "the window all pruned"

# The next night resumes the failed attempt: 29 Jan, then its own day.
expect_eq "$(CAIRN_TEST_NOW=$(date -u -d "2027-01-31 02:30" +%s) "$CAIRN" run "$T/daily.json" "${P[@]}" --json \
  2>>"$T/log" | jq -c '[.status, .windows]')" '["done",2]' "the night after pruning"
# Every window loaded now: --windows 0 leaves them all out, and says so
# for each job, the last one listed too (not "none").
expect_eq "$("$CAIRN" status --state "$T/state" --windows 0 | sed -n "/^WINDOWS/,\$p" | sed 1d | tr -s ' ')" \
  " cost-daily (30 older loaded windows not shown: --windows all)
 nowin (1 older loaded windows not shown: --windows all)" "all jobs, --windows 0, every window loaded"
python3 - "$T/day.har.expected" >"$T/want" <<'EOF'
import sys
sys.stdout.writelines(l for l in open(sys.argv[1]) if l.split('\t')[0] < '2027-01-31')
EOF
diff <(sqlite3 -separator $'\t' "$T/out/warehouse.db" "SELECT substr(chargePeriodStartUtc, 1, 10),
  resourceId, billedCost FROM cost_record ORDER BY 1, 2, 3") "$T/want" >/dev/null || fail "the warehouse"
echo "status_history: ok"
