#!/usr/bin/env bash
# A run killed (SIGKILL) and resumed: the audit trail counts every record
# once. A killed run's record used to keep no counts and no outputs (only
# the run's end wrote them), so `cairn status` summed 193 loaded where the
# warehouse held 288, 6 rejected where the DLQ held 12, and a window the
# killed run loaded had its bundle digest in no run's record at all. Now
# each chunk's and window's commit adds to its run's record in the same
# transaction: at every kill point, with the loader on its own thread or
# not, and killed twice, the runs add up to what the warehouse and the DLQ
# hold, the windows list says the same, the last run's metrics are its
# record's, and the window's outputs are in exactly one run's record.
source "$(dirname "$0")/../lib.sh"
command -v promtool >/dev/null || fail "promtool missing (make deps installs prometheus)"
# 300 records, 12 of them bad, in 15 chunks of 20
A=(jobs/demo-cost.json --param input=tests/data/quarantine/cost-bad.csv --param chunk_rows=20)
run() { # dir [VAR=VALUE...]: a run of A in dir; its exit code
  local d=$1; shift
  env "$@" "$CAIRN" run "${A[@]}" --state "$d/s" --out "$d/o" --metrics-dir "$d/m" \
    --json >"$d/out" 2>>"$d/log"
}
check() { # dir label runs [STATUS]: STATUS (killed) of the runs before the last
  local d=$1 label=$2 n=$3 st sum
  st=$("$CAIRN" status demo-cost --state "$d/s" --json)
  expect_eq "$(jq -r '[.runs[].status] | join(" ")' <<<"$st")" \
    "done$(printf " ${4:-killed}%.0s" $(seq 2 "$n"))" "$label: runs"
  sum=$(jq -r '[([.runs[].extracted] | add), ([.runs[].loaded] | add),
                ([.runs[].rejected] | add), ([.runs[].chunks] | add),
                ([.runs[].outputs | length] | add)] | join(" ")' <<<"$st")
  expect_eq "$sum" "300 $(sqlite3 "$d/o/warehouse.db" 'SELECT count(*) FROM cost_record') $(
    sqlite3 "$d/s/cairn.db" 'SELECT count(*) FROM quarantine') 15 1" \
    "$label: extracted, loaded, rejected, chunks and outputs over the runs"
  expect_eq "$sum" "300 288 12 15 1" "$label: the counts"
  expect_eq "$(jq -r '.windows[0] | "\(.records) \(.rejects)"' <<<"$st")" "288 12" "$label: the window"
  expect_eq "$(jq -r '.dlq_depth' <<<"$st")" 12 "$label: DLQ depth"
  # the window's bundle, in the record of the run that loaded it
  expect_eq "$(jq -r '[.runs[].outputs[].sinks.evidence.sha256] | join(" ")' <<<"$st")" \
    "$(sha256sum < "$d/o/evidence/demo-cost/demo-cost-all-19700101T000000Z.tar" | cut -d' ' -f1)" \
    "$label: the bundle's digest"
  # the last run: its summary, its record and its metrics say the same
  local P=$d/m/demo-cost.prom
  m() { sed -n "s/^$1 //p" "$P"; }
  promtool check metrics <"$P" >/dev/null 2>&1 || fail "$label: promtool"
  expect_eq "$(m 'cairn_records_total{job="demo-cost",stage="extracted"}') $(
    m 'cairn_records_total{job="demo-cost",stage="loaded"}') $(
    m 'cairn_records_total{job="demo-cost",stage="quarantined"}') $(
    m 'cairn_dlq_depth{job="demo-cost"}') $(m 'cairn_run_in_progress{job="demo-cost"}')" \
    "$(jq -r '.runs[0] | "\(.extracted) \(.loaded) \(.rejected)"' <<<"$st") 12 0" \
    "$label: the last run's metrics"
  expect_eq "$(jq -r '"\(.records_extracted) \(.records_loaded) \(.records_rejected) \(.chunks)"' "$d/out")" \
    "$(jq -r '.runs[0] | "\(.extracted) \(.loaded) \(.rejected) \(.chunks)"' <<<"$st")" \
    "$label: the last run's summary"
  [ -n "$(m 'cairn_sync_high_water_timestamp_seconds{job="demo-cost"}')" ] ||
    fail "$label: no high-water mark"
  # and its last log line ("run done" used to carry no exit code or counts)
  expect_eq "$(tail -n 1 "$d/log" | jq -r '"\(.msg) \(.exit_code) \(.records_extracted) \(.records_loaded) \(.records_rejected) \(.chunks)"')" \
    "run done 0 $(jq -r '.runs[0] | "\(.extracted) \(.loaded) \(.rejected) \(.chunks)"' <<<"$st")" \
    "$label: the last run's last log line"
}

for pipe in 1 0; do
  for at in extracted:3 transformed:3 sink_loaded:3 loaded:5 loaded:15 window:15 window_loaded:15; do
    d="$T/$pipe-$at"; mkdir -p "$d"
    rc=0; run "$d" CAIRN_PIPELINE=$pipe CAIRN_TEST_KILL_AT=$at || rc=$?
    expect_eq "$rc" 137 "$at: killed"
    run "$d" CAIRN_PIPELINE=$pipe || fail "$at: resume: $(tail -n 3 "$d/log")"
    check "$d" "pipeline=$pipe $at" 2
  done
done

# Stopped by SIGTERM (exit 3, a failed run of its own): the same, at
# every point that leaves chunks to do. (At sink_loaded, met by both
# sinks, the test hook used to send two SIGTERMs: the second ends a run
# at once.)
for at in extracted:3 transformed:3 sink_loaded:3 loaded:5; do
  d="$T/term-$at"; mkdir -p "$d"
  rc=0; run "$d" CAIRN_TEST_KILL_SIGNAL=TERM CAIRN_TEST_KILL_AT=$at || rc=$?
  expect_eq "$rc" 3 "$at: stopped by SIGTERM"
  tail -n 1 "$d/log" | has -F '"msg":"run failed: stopped by SIGTERM' || fail "$at: last line: $(tail -n 1 "$d/log")"
  has -F 'cairn_run_exit_code{job="demo-cost"} 3' "$d/m/demo-cost.prom" || fail "$at: metrics exit code"
  run "$d" || fail "$at: rerun after SIGTERM: $(tail -n 3 "$d/log")"
  check "$d" "SIGTERM $at" 2 failed
done

# Killed twice, then done: three runs add up all the same.
d="$T/twice"; mkdir -p "$d"
rc=0; run "$d" CAIRN_TEST_KILL_AT=transformed:4 || rc=$?
expect_eq "$rc" 137 "first kill"
rc=0; run "$d" CAIRN_TEST_KILL_AT=loaded:9 || rc=$?
expect_eq "$rc" 137 "second kill"
run "$d" || fail "resume after two kills"
check "$d" "killed twice" 3

# A killed run's counts are what it committed, in the status text too
# (they used to show as "-").
d="$T/text"; mkdir -p "$d"
rc=0; run "$d" CAIRN_PIPELINE=0 CAIRN_TEST_KILL_AT=loaded:5 || rc=$?
expect_eq "$rc" 137 "killed at loaded:5"
"$CAIRN" status demo-cost --state "$d/s" | has -F "gone    exit=- " || fail "status: not gone"
"$CAIRN" status demo-cost --state "$d/s" | has -F "loaded=95 rejected=5 chunks=5 redone=0 " ||
  fail "a killed run's counts: $("$CAIRN" status demo-cost --state "$d/s" | sed -n 3p)"
# A resume that only finds the window loaded (the run was killed after
# marking it) says so in its summary, not just "0 records loaded".
d="$T/skipped"; mkdir -p "$d"
rc=0; run "$d" CAIRN_TEST_KILL_AT=window_loaded:15 || rc=$?
expect_eq "$rc" 137 "killed at window_loaded:15"
"$CAIRN" run "${A[@]}" --state "$d/s" --out "$d/o" 2>/dev/null |
  has -F "0 chunks in 0 windows (0 redone from checkpoints; 1 window loaded already, by the interrupted run)" ||
  fail "summary of a resume that skipped the window"
echo "ok: the runs count every record once across kills"
