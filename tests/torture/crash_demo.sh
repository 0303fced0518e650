#!/usr/bin/env bash
# Crash torture (issue #2 acceptance 2): a demo-cost run of 40 chunks is
# killed with SIGKILL between every two writes of every chunk (extracted,
# transformed, sink loaded, loaded, window finished) and at random instants,
# some inside SQLite transactions; after each kill `cairn run` completes it.
# Every time the warehouse dump must equal an uninterrupted run's, and the
# state store must show every chunk loaded exactly once; the evidence
# bundle must be byte-identical too.
source "$(dirname "$0")/../lib.sh"
JOB=jobs/demo-cost.json
ARGS=(--param chunk_rows=50 --log-level warn)
CHUNKS=40

# the demo has no logical_time: its one window's bundle is named 1970-01-01
BUNDLE=out/evidence/demo-cost/demo-cost-all-19700101T000000Z.tar

run() { "$CAIRN" run "$JOB" "${ARGS[@]}" --state "$1/state" --out "$1/out" >/dev/null 2>>"$1/log"; }
dump() { sqlite3 "$1/out/warehouse.db" .dump; }
check() { # dir label
  local d=$1 label=$2
  [ "$(dump "$d")" == "$REF" ] || { diff <(dump "$d") <(echo "$REF") | head; fail "$label: dump differs"; }
  local q="SELECT count(*), coalesce(min(load_count),0), coalesce(max(load_count),0) FROM chunks WHERE job='demo-cost'"
  expect_eq "$(sqlite3 "$d/state/cairn.db" "$q")" "$CHUNKS|1|1" "$label: chunks loaded once"
  expect_eq "$(sqlite3 "$d/state/cairn.db" "SELECT status FROM windows")" "loaded" "$label: window"
  # the runs' records (killed ones too) count every record once: as many
  # times 2000 as the window was loaded (a record's outputs), which a
  # random kill after a run's last write makes twice (the next run loads
  # the job again)
  local q="SELECT sum(extracted) = 2000 * sum(json_array_length(outputs)) AND
    sum(loaded) = 2000 * sum(json_array_length(outputs)) AND
    sum(chunks) = $CHUNKS * sum(json_array_length(outputs)) FROM runs"
  expect_eq "$(sqlite3 "$d/state/cairn.db" "$q")" 1 \
    "$label: the runs' counts: $(sqlite3 "$d/state/cairn.db" 'SELECT status, extracted, loaded, chunks, outputs IS NOT NULL FROM runs')"
  expect_eq "$(sha256sum < "$d/$BUNDLE")" "$REF_TAR" "$label: bundle bytes"
  expect_eq "$(n_tars "$(dirname "$d/$BUNDLE")")" 1 "$label: one bundle"
}

mkdir -p "$T/ref"
run "$T/ref" || fail "reference run failed"
REF="$(dump "$T/ref")"
REF_TAR="$(sha256sum < "$T/ref/$BUNDLE")"
expect_eq "$(sqlite3 "$T/ref/out/warehouse.db" 'SELECT count(*) FROM cost_record')" 2000 "reference rows"
check "$T/ref" reference

kills=0
for point in extracted transformed sink_loaded loaded; do
  for seq in $(seq 1 $CHUNKS); do
    d="$T/$point-$seq"; mkdir -p "$d"
    set +e; CAIRN_TEST_KILL_AT="$point:$seq" run "$d"; rc=$?; set -e
    [ $rc -eq 137 ] || fail "$point:$seq: expected SIGKILL (137), got $rc"
    run "$d" || fail "$point:$seq: resume failed: $(tail -n 3 "$d/log")"
    check "$d" "$point:$seq"
    rm -rf "$d"; kills=$((kills+1))
  done
done
d="$T/window"; mkdir -p "$d"
set +e; CAIRN_TEST_KILL_AT="window:$CHUNKS" run "$d"; rc=$?; set -e
[ $rc -eq 137 ] || fail "window: expected SIGKILL, got $rc"
run "$d" || fail "window: resume failed"; check "$d" window; kills=$((kills+1))

# Random instants: measure an uninterrupted run, then kill at random times
# within it (some land inside SQLite transactions), sometimes twice.
t0=$(date +%s%N); mkdir -p "$T/timing"; run "$T/timing"; t1=$(date +%s%N)
span_us=$(( (t1 - t0) / 1000 ))
RANDOM=7
for i in $(seq 1 24); do
  d="$T/random-$i"; mkdir -p "$d"
  for round in 1 2; do
    [ $round -eq 2 ] && [ $((i % 3)) -ne 0 ] && break
    "$CAIRN" run "$JOB" "${ARGS[@]}" --state "$d/state" --out "$d/out" >/dev/null 2>>"$d/log" &
    pid=$!
    delay=$(( (RANDOM * 32768 + RANDOM) % span_us ))
    sleep "$(awk -v us="$delay" 'BEGIN { printf "%.6f", us / 1e6 }')"
    kill -9 $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
  done
  run "$d" || fail "random $i: resume failed: $(tail -n 3 "$d/log")"
  check "$d" "random $i (${delay}us)"
  rm -rf "$d"; kills=$((kills+1))
done
echo "crash torture: $kills kill scenarios, all identical to the uninterrupted run"
