#!/usr/bin/env bash
# A resume re-reads the chunks that were read but not loaded from their
# checkpointed cursors. If the input changed in between so that a chunk now
# ends elsewhere, loading it would load rows twice (or skip some): the run
# refuses with exit 3, names the chunk and both positions, and loads none
# of it (the chunks before it load as usual).
source "$(dirname "$0")/../lib.sh"
S=(--state "$T/state" --out "$T/out")
cp fixtures/demo/cost.csv "$T/cost.csv"
P=(--param input="$T/cost.csv" --param chunk_rows=100)

# Killed once chunk 3 is extracted but before it is loaded.
set +e; CAIRN_TEST_KILL_AT=extracted:3 "$CAIRN" run jobs/demo-cost.json "${S[@]}" "${P[@]}" >/dev/null 2>&1; rc=$?; set -e
expect_eq "$rc" 137 "killed"

# The file loses a line inside chunk 3's rows: re-read from its cursor, the
# chunk now ends one line later.
python3 - "$T/cost.csv" <<'PY'
import sys
p = sys.argv[1]
lines = open(p, newline='').read().split('\n')
del lines[250]
open(p, 'w', newline='').write('\n'.join(lines))
PY
# The file source's checkpoint records the file's size and modification
# time: it refuses before reading anything.
set +e; err=$("$CAIRN" run jobs/demo-cost.json "${S[@]}" "${P[@]}" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 3 "exit code"
[[ "$err" == *"cost.csv was rewritten after it was read up to offset"*"run again with --fresh"* ]] || fail "message: $err"
# (chunk 2 may or may not have been loaded before the kill; nothing more)
case "$(sqlite3 "$T/out/warehouse.db" 'SELECT count(*), count(DISTINCT recordId) FROM cost_record')" in
  "100|100"|"200|200") ;;
  *) fail "rows loaded before the kill only" ;;
esac

# A checkpoint without them (an earlier version's, or a source that cannot
# tell) is caught by the runner: re-read from its cursor, chunk 3 now ends
# one line later.
sqlite3 "$T/state/cairn.db" "UPDATE chunks SET cursor_in = json_remove(cursor_in, '\$.files', '\$.size', '\$.mtime'), cursor_out = json_remove(cursor_out, '\$.files', '\$.size', '\$.mtime') WHERE job = 'demo-cost'"
set +e; err=$("$CAIRN" run jobs/demo-cost.json "${S[@]}" "${P[@]}" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 3 "exit code, the runner's check"
[[ "$err" == *"chunk 3: re-read from its checkpoint, the source ends it at"*"refusing to load it"* ]] || fail "message: $err"
expect_eq "$(sqlite3 "$T/out/warehouse.db" 'SELECT count(*), count(DISTINCT recordId) FROM cost_record')" "200|200" "rows of chunks 1-2 only, none twice"
"$CAIRN" run jobs/demo-cost.json "${S[@]}" "${P[@]}" --fresh >/dev/null 2>&1 || fail "--fresh"
expect_eq "$(sqlite3 "$T/out/warehouse.db" 'SELECT count(*) FROM cost_record')" 1999 "--fresh loads the file as it is"

# A glob matches its files anew each run. The checkpoint names its file:
# a file removed before it (retention) or added before it (a late
# arrival) moves the others, and the resume would skip or repeat a file's
# rows; it is refused instead, and --fresh loads the files there are.
G="$T/glob"; mkdir -p "$G"
slice() { # slice N FILE: the fixture's header and its lines N*100..N*100+99
  { head -n 1 fixtures/demo/cost.csv; sed -n "$((10#$1 * 100)),$((10#$1 * 100 + 99))p" fixtures/demo/cost.csv; } >"$2"
}
GS=(--state "$T/gstate" --out "$T/gout")
GP=(--param "input=$G/*.csv" --param chunk_rows=50)
# (swapped: one removed and one added, so the checkpoint's index names a
# file of the same position.)
for change in removed added swapped; do
  rm -rf "$T/gstate" "$T/gout" "$G"/*.csv
  for n in 03 04 05 06; do slice $n "$G/b$n.csv"; done
  set +e; CAIRN_TEST_KILL_AT=loaded:5 "$CAIRN" run jobs/demo-cost.json "${GS[@]}" "${GP[@]}" >/dev/null 2>&1; rc=$?; set -e
  expect_eq "$rc" 137 "glob: killed ($change)"
  case $change in
    removed) rm "$G/b03.csv" ;;
    added)   slice 01 "$G/a01.csv" ;;
    swapped) rm "$G/b03.csv"; slice 01 "$G/a01.csv" ;;
  esac
  set +e; err=$("$CAIRN" run jobs/demo-cost.json "${GS[@]}" "${GP[@]}" 2>&1 >/dev/null); rc=$?; set -e
  expect_eq "$rc" 3 "glob: a file $change"
  [[ "$err" == *"the glob matched other files up to the checkpoint's (file 3, now $G/b0"*".csv): files were added or removed before it"*"--fresh"* ]] || fail "glob ($change): $err"
  expect_eq "$(sqlite3 "$T/gout/warehouse.db" 'SELECT count(*) FROM cost_record')" 250 "glob ($change): nothing after the checkpoint"
  "$CAIRN" run jobs/demo-cost.json "${GS[@]}" "${GP[@]}" --fresh >/dev/null 2>&1 || fail "glob ($change): --fresh"
  # every record of the files there are now, none twice (rows of a month
  # no file carries any more stay: replace_partition replaces what it gets)
  rm -rf "$T/gref"
  "$CAIRN" run jobs/demo-cost.json --state "$T/gref" --out "$T/gref" "${GP[@]}" >/dev/null 2>&1 || fail "glob: reference run"
  expect_eq "$(sqlite3 "$T/gout/warehouse.db" "ATTACH '$T/gref/warehouse.db' AS r; SELECT (SELECT count(*) FROM r.cost_record WHERE recordId NOT IN (SELECT recordId FROM main.cost_record)), (SELECT count(*) - count(DISTINCT recordId) FROM main.cost_record), (SELECT count(*) FROM r.cost_record) > 250")" "0|0|1" "glob ($change): --fresh loads every file once"
done
# A file name need not be UTF-8 (JSON text is): the checkpoint names files
# by digest, so such a name neither ends the run early nor breaks a resume.
mkdir -p "$T/latin1"
cp fixtures/demo/cost.csv "$T/latin1/co$(printf '\xe9')t.csv"
L=(--param "input=$T/latin1/*.csv" --param chunk_rows=500 --state "$T/l/state" --out "$T/l/out")
set +e; CAIRN_TEST_KILL_AT=loaded:2 "$CAIRN" run jobs/demo-cost.json "${L[@]}" >/dev/null 2>&1; set -e
"$CAIRN" run jobs/demo-cost.json "${L[@]}" >/dev/null 2>"$T/l.log" || fail "a non-UTF-8 file name: $(tail -n 2 "$T/l.log")"
expect_eq "$(sqlite3 "$T/l/out/warehouse.db" 'SELECT count(*), count(DISTINCT recordId) FROM cost_record')" "2000|2000" "a non-UTF-8 file name: every row once"
# Killed once every chunk is loaded (after the last chunk, or after the
# sinks finished the window), then the file is corrected (another value,
# the same size): only the window's finish is left, and finishing it would
# report the corrected file loaded without reading it. The resume checks
# the input as a resume at any other chunk does, and --fresh loads it.
for at in loaded:20 window:20; do
  F=(--state "$T/f/state" --out "$T/f/out" --param input="$T/f.csv" --param chunk_rows=100)
  rm -rf "$T/f"; cp fixtures/demo/cost.csv "$T/f.csv"
  set +e; CAIRN_TEST_KILL_AT=$at "$CAIRN" run jobs/demo-cost.json "${F[@]}" >/dev/null 2>&1; rc=$?; set -e
  expect_eq "$rc" 137 "killed at $at"
  sed -i '2s/^0\.0004274741,/0.0004274742,/' "$T/f.csv"
  touch -d '+1 minute' "$T/f.csv"
  set +e; err=$("$CAIRN" run jobs/demo-cost.json "${F[@]}" 2>&1 >/dev/null); rc=$?; set -e
  expect_eq "$rc" 3 "killed at $at, the file corrected: the resume refuses"
  [[ "$err" == *"--fresh"* ]] || fail "$at: message: $err"
  "$CAIRN" run jobs/demo-cost.json "${F[@]}" --fresh >/dev/null 2>&1 || fail "$at: --fresh"
  expect_eq "$(sqlite3 "$T/f/out/warehouse.db" "SELECT count(*), sum(billedCost = 0.0004274742) FROM cost_record")" "2000|1" "$at: --fresh loads the corrected file"
done
echo "ok"
