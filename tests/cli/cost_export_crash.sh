#!/usr/bin/env bash
# replace_partition under SIGKILL: an export A is loaded, then a re-export
# B of the same billing account and hours (other rows, other amounts) is
# loaded and killed after each write of several chunks, then resumed.
# Every time the warehouse must equal an uninterrupted A-then-B load: B's
# rows only, each once. The deletes go through the partition zones
# (_cairn_zones), which commit in the same transaction as the rows.
source "$(dirname "$0")/../lib.sh"
gen() { python3 tests/bench/gen_cost.py 3000 "$T/$1" --partitions 2 --gzip 1 --seed "$2" >/dev/null; }
gen A 7
gen B 8
run() { # run DIR INPUT [env...]: one cairn run of the FOCUS job
  local d=$1 in=$2; shift 2
  env "$@" "$CAIRN" run jobs/azure-cost-export.json --param input="$T/$in" \
    --param chunk_rows=250 --state "$d/state" --out "$d/out" >/dev/null 2>&1
}
dump() { sqlite3 "$1/out/warehouse.db" "SELECT recordId, billingAccountId, chargePeriodStartUtc, billedCost FROM cost_record ORDER BY recordId" | sha256sum; }

run "$T/ref" A || fail "reference A"
run "$T/ref" B || fail "reference B"
want=$(dump "$T/ref")
nb=$(sqlite3 "$T/ref/out/warehouse.db" 'SELECT count(*) FROM cost_record')
expect_eq "$nb" 3000 "rows after the re-export (B's only)"
[ "$(sqlite3 "$T/ref/out/warehouse.db" "SELECT count(*) FROM _cairn_zones")" -gt 0 ] || fail "no zones"
chunks=$(sqlite3 "$T/ref/state/cairn.db" "SELECT max(seq) FROM chunks")
[ "$chunks" -ge 12 ] || fail "only $chunks chunks"

n=0
for point in extracted transformed sink_loaded loaded; do
  for k in 1 2 7 "$chunks"; do
    d="$T/k$n"; n=$((n + 1))
    run "$d" A || fail "A before $point:$k"
    set +e; run "$d" B CAIRN_TEST_KILL_AT="$point:$k"; rc=$?; set -e
    expect_eq "$rc" 137 "B killed at $point:$k"
    run "$d" B || fail "resume after $point:$k"
    expect_eq "$(dump "$d")" "$want" "warehouse after a kill at $point:$k"
    rm -rf "$d"
  done
done
# B killed once every chunk is loaded (only the window's finish left),
# then the original export A is loaded again: the resume must not finish
# B's window as if it were A's (exit 0, A never read); it refuses, and
# --fresh loads A, replacing B's rows.
run "$T/aba" A || fail "A before B"
set +e; run "$T/aba" B CAIRN_TEST_KILL_AT="loaded:$chunks"; rc=$?; set -e
expect_eq "$rc" 137 "B killed after its last chunk"
set +e; run "$T/aba" A; rc=$?; set -e
expect_eq "$rc" 3 "A after B's killed attempt: refused, not finished as B"
"$CAIRN" run jobs/azure-cost-export.json --param input="$T/A" --param chunk_rows=250 \
  --state "$T/aba/state" --out "$T/aba/out" --fresh >/dev/null 2>&1 || fail "A --fresh"
run "$T/refa" A || fail "reference A"
expect_eq "$(dump "$T/aba")" "$(dump "$T/refa")" "A loaded again after a killed B"
echo "ok: $n kills"
