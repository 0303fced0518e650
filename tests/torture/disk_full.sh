#!/usr/bin/env bash
# Disk full (ENOSPC) at every stage of a run. The demo-cost job (40 chunks
# into a SQLite warehouse and an evidence bundle) runs with its outputs on a
# tmpfs too small for them, at sizes stepped so that the disk fills while
# the schema is made, in chunk loads, in a bundle part and at the window's
# finish; then with its state store on one, filling at the checkpoints and
# the run record; then an HTTP job replayed from its recording, whose state
# also holds the spooled pages. Each time the run must exit 3 with a
# message naming the full file and leave the warehouse intact
# (integrity_check); so must a rerun on the still-full disk, unless what
# the failed run freed (its WAL) makes room. Once the tmpfs is grown,
# `cairn run` must complete it: the warehouse dump, every chunk loaded once
# and the bundle's bytes equal to an uninterrupted run's.
# The tmpfs mounts live in a private mount namespace (lib.sh), which ends
# with the script.
CAIRN_TEST_MOUNTS=1
source "$(dirname "$0")/../lib.sh"
export CAIRN_TEST_FAST_RETRY=1   # the recording's 429 waits are accounted, not slept
FULL='database or disk is full|No space left on device'

# case DIR: the job's run into DIR/state and DIR/out
demo() { "$CAIRN" run jobs/demo-cost.json --param chunk_rows=50 --log-level warn \
           --state "$1/state" --out "$1/out" >/dev/null 2>>"$1/log"; }
source tests/data/connectors/azure-resource-graph.env
graph() { "$CAIRN" run jobs/azure-resource-graph.json "${PARAMS[@]}" \
            --replay fixtures/azure-resource-graph.har --log-level warn \
            --state "$1/state" --out "$1/out" >/dev/null 2>>"$1/log"; }
dump() { sqlite3 "$1/out/warehouse.db" .dump; }
tar_sum() { [ ! -e "$1/out/evidence" ] || sha256sum < "$1/out/evidence/demo-cost/demo-cost-all-19700101T000000Z.tar"; }
loads() { sqlite3 "$1/state/cairn.db" "SELECT count(*), min(load_count), max(load_count)
                                       FROM chunks WHERE job='$2'"; }

# full JOB NAME WHERE KB [FILL]: run JOB (demo or graph) with DIR/WHERE on
# a tmpfs of KB KiB (FILL bytes of it taken by a file first). If the disk
# fills, the run must fail for it, twice, then complete once the tmpfs has
# room; if it fits, the run must complete, and full returns 1.
full() {
  local job=$1 name=$2 where=$3 kb=$4 fill=${5:-0} d="$T/${3//\//-}-$4" rc msg file fits=0
  mkdir -p "$d/out" "$d/state" "$d/$where"
  mount -t tmpfs -o "size=${kb}k" tmpfs "$d/$where" || fail "cannot mount a tmpfs"
  head -c "$fill" /dev/zero > "$d/$where/.filler"
  for attempt in first again; do
    set +e; "$job" "$d"; rc=$?; set -e
    # the failed run may have freed what it took (its WAL): the rerun on
    # the same disk may complete
    if [ $rc -eq 0 ]; then [ $attempt = again ] || fits=1; break; fi
    [ $rc -eq 3 ] || fail "$name $where ${kb}k ($attempt): exit $rc, want 3: $(tail -n 2 "$d/log")"
    msg=$(jq -r 'select(.level == "error") | .msg' "$d/log" | tail -n 1)
    grep -Eq "$FULL" <<<"$msg" || fail "$name $where ${kb}k: not a disk-full failure: $msg"
    file=$(grep -oE "$d/$where/[^ :]+" <<<"$msg" | sed -n 1p) ||
      fail "$name $where ${kb}k: the message does not name the file: $msg"
    [ ! -s "$d/out/warehouse.db" ] ||
      expect_eq "$(sqlite3 "$d/out/warehouse.db" 'PRAGMA integrity_check')" ok "$name $where ${kb}k: warehouse integrity"
  done
  if [ $fits -eq 0 ]; then
    stages[$(sed 's/[0-9][0-9]*/N/g' <<<"${file#"$d"/}")]=1
  fi
  if [ $rc -ne 0 ]; then
    mount -o remount,size=64m "$d/$where"
    "$job" "$d" || fail "$name $where ${kb}k: the rerun with room failed: $(tail -n 2 "$d/log")"
  fi
  [ "$(dump "$d")" == "${ref_dump[$name]}" ] ||
    { diff <(dump "$d") <(echo "${ref_dump[$name]}") | head; fail "$name $where ${kb}k: dump differs"; }
  expect_eq "$(loads "$d" "$name")" "${ref_loads[$name]}" "$name $where ${kb}k: chunks loaded once"
  expect_eq "$(tar_sum "$d")" "${ref_tar[$name]}" "$name $where ${kb}k: bundle bytes"
  umount "$d/$where"; rm -rf "$d"
  cases=$((cases+1))
  return $fits
}
# sweep JOB NAME WHERE FROM STEP: full at FROM KiB, then STEP KiB or an
# eighth more each time, whichever is more, up to the first size the run
# fits in (its WAL, the warehouse's or the state's, takes the most).
sweep() {
  local kb=$4 n=0
  while full "$1" "$2" "$3" "$kb"; do
    kb=$((kb + (kb / 8 > $5 ? kb / 8 : $5))); n=$((n + 1))
    [ $n -lt 100 ] || fail "$2 $3: still full at ${kb}k"
  done
  [ $n -ge 5 ] || fail "$2 $3: fits in ${kb}k, after only $n sizes too small"
}

declare -A ref_dump ref_loads ref_tar stages
for name in demo-cost azure-resource-graph; do
  job=demo; [ $name = demo-cost ] || job=graph
  d="$T/ref-$name"; mkdir -p "$d"
  "$job" "$d" || fail "$name: reference run failed: $(tail -n 2 "$d/log")"
  ref_dump[$name]=$(dump "$d"); ref_loads[$name]=$(loads "$d" $name); ref_tar[$name]=$(tar_sum "$d")
done
expect_eq "${ref_loads[demo-cost]}" "40|1|1" "reference chunks"
[ -n "${ref_tar[demo-cost]}" ] || fail "reference: no bundle"

cases=0
# The warehouse needs ~1.3 MB for its schema (64 KiB pages, in the WAL and
# then the file) and its WAL grows to ~10 MB over this run's 40 commits;
# the state's WAL to ~1 MB.
sweep demo demo-cost out 100 200
sweep demo demo-cost out/evidence 20 20
sweep demo demo-cost state 8 8
sweep graph azure-resource-graph state 8 8
# the spool alone, with no byte free (its compressed pages take under 4 KiB,
# a tmpfs's smallest size)
full graph azure-resource-graph state/spool 4 4096
# where the disks filled: each sweep must have reached every kind of file
# (digits read N: the bundle is demo-cost-all-19700101T000000Z.tar)
for s in out/warehouse.db out/evidence/demo-cost/.staging/ out/evidence/demo-cost/demo-cost-all-NTNZ.tar state/cairn.db state/spool/; do
  printf '%s\n' "${!stages[@]}" | has "^$s" || fail "no case filled the disk at $s (${!stages[*]})"
done
echo "disk full: $cases cases, full at: ${!stages[*]}; all identical to the uninterrupted run once the disk had room"
