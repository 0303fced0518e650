#!/usr/bin/env bash
# make bench: cairn against the baselines, side by side, on the same files.
#
# usage: tests/bench/run.sh [BIN]        (from anywhere; BIN default bin/cairn)
# env:   BENCH_ROWS=N      rows of the generated export (default 1000000)
#        BENCH_BIG=K       the memory run reads K times the rows (default 5)
#        BENCH_PY_ROWS=N   rows for the Python baselines (default 200000, or
#                          BENCH_ROWS if smaller): Python is linear in rows,
#                          so its rows/s from a smaller export compares fairly
#                          and saves minutes; 0 skips it
#        BENCH_REPEAT=N    rounds of the timed cases: each round runs cairn,
#                          cairn+bundle, sqlite3 and Python once, and each
#                          case's fastest run counts (default 2; the VM is
#                          shared)
#        BENCH_RG_PAGES=N  pages (of 1000 rows, ~0.5 MB) of the JSON path's
#                          Resource Graph recording (default 200; 0 skips it);
#                          cairn and Python alternate, at least 3 runs each
#
# Generates (once, cached under build/bench/data/) a FOCUS-shaped Azure
# cost export of BENCH_ROWS rows in 3 partitions, the middle one gzipped
# (tests/bench/gen_cost.py: the rows of ../shared/bench/gen_cost.py), then
# times, on that export folder:
#   cairn       jobs/azure-cost-export.json -> SQLite (replace_partition)
#   cairn+bund  the same job with the evidence bundle sink added
#   sqlite3     .import --csv of the same three files (gzip via a pipe)
#   python      tests/bench/py_etl.py: the same mapping with the stdlib,
#               -> SQLite, and -> SQLite + NDJSON
#   writer      tests/bench/writer_ceiling.c: the rows cairn loaded, read
#               into memory, inserted by one thread doing nothing else
#               (the sink's PRAGMAs, 50,000-row transactions): the single
#               SQLite writer the issue says to reach 70 % of end to end
#   json path   a Resource-Graph-shaped HAR (tests/bench/gen_rg_har.py)
#               replayed into cmdb_ci by jobs/azure-resource-graph.json, and
#               tests/bench/py_rg_etl.py (json + sqlite3) on the same pages
#   checkpoints chunk_rows=50000 vs one huge chunk per partition
#   resume      killed after the loaded stage of the chunk at 90 %, rerun
#   memory      peak RSS at BENCH_ROWS and at BENCH_BIG x BENCH_ROWS
# and prints rows/s, MB/s (uncompressed CSV), peak RSS and the ratios,
# also into build/bench/results.txt. docs/performance.md has the figures.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
CAIRN="$(realpath "${1:-bin/cairn}")"
ROWS=${BENCH_ROWS:-1000000}
BIG=${BENCH_BIG:-5}
PYROWS=${BENCH_PY_ROWS:-200000}
[ "$PYROWS" -le "$ROWS" ] || PYROWS=$ROWS
REPEAT=${BENCH_REPEAT:-2}
RGPAGES=${BENCH_RG_PAGES:-200}
W="$ROOT/build/bench"
DATA="$W/data/focus-$ROWS"
RES="$W/results.txt"
TIME=/usr/bin/time
JOB=jobs/azure-cost-export.json
[ -x "$TIME" ] || { echo "bench: $TIME missing (Debian package 'time')" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "bench: sqlite3 missing" >&2; exit 2; }
# Outputs of earlier runs go; only the generated inputs are cached.
rm -rf "$W/runs"
mkdir -p "$W/data" "$W/runs"
export CAIRN_LOG_FORMAT=json
unset CAIRN_STATE CAIRN_OUT CAIRN_DISABLE CAIRN_TEST_KILL_AT CAIRN_TEST_FAULT

# ---- input (cached; regenerated when the generator changes) --------------
stamp="$(sha256sum tests/bench/gen_cost.py | cut -c1-16)-$ROWS"
if [ "$(cat "$DATA/.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "bench: generating $ROWS rows into $DATA (cached for later runs)"
  rm -rf "$DATA"
  python3 tests/bench/gen_cost.py "$ROWS" "$DATA" --partitions 3 --gzip 1
  echo "$stamp" > "$DATA/.stamp"
fi
PYDATA="$W/data/focus-$PYROWS"
pystamp="$(sha256sum tests/bench/gen_cost.py | cut -c1-16)-$PYROWS"
if [ "$PYROWS" -gt 0 ] && [ "$(cat "$PYDATA/.stamp" 2>/dev/null)" != "$pystamp" ]; then
  rm -rf "$PYDATA"
  python3 tests/bench/gen_cost.py "$PYROWS" "$PYDATA" --partitions 3 --gzip 1
  echo "$pystamp" > "$PYDATA/.stamp"
fi
BIGDATA="$W/data/focus-$ROWS-x$BIG"
if [ "$(cat "$BIGDATA/.stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$BIGDATA"
  python3 tests/bench/gen_cost.py --replicate "$BIG" "$DATA" "$BIGDATA"
  echo "$stamp" > "$BIGDATA/.stamp"
fi
# Uncompressed CSV bytes of the export (what MB/s is measured against).
csv_bytes() { python3 -c '
import gzip, json, os, sys
d = sys.argv[1]; n = 0
for b in json.load(open(os.path.join(d, "manifest.json")))["blobs"]:
    p = os.path.join(d, os.path.basename(b["blobName"]))
    if p.endswith(".gz"):
        with gzip.open(p) as f:
            while True:
                k = len(f.read(1 << 20))
                if not k: break
                n += k
    else:
        n += os.path.getsize(p)
print(n)' "$1"; }
BYTES=$(csv_bytes "$DATA")
[ "$PYROWS" -eq 0 ] || PYBYTES=$(csv_bytes "$PYDATA")
PARTS=()
while read -r p; do PARTS+=("$DATA/$p"); done < <(jq -r '.blobs[].blobName | split("/") | last' "$DATA/manifest.json")

# ---- helpers -----------------------------------------------------------
declare -A SECS RSS ROWSOF BYTESOF
# measure NAME ROWS CMD...: time CMD (its output to runs/NAME.log), keep
# elapsed seconds and peak RSS (the fastest of repeated measurements of the
# same NAME wins; RSS is the largest seen); a non-zero exit is fatal unless
# NAME ends in "-killed".
measure() {
  local name=$1 rows=$2; shift 2
  local log="$W/runs/$name.log" tf="$W/runs/$name.time" rc=0 s m
  "$TIME" -f "%e %M" -o "$tf" "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ] && [[ "$name" != *-killed ]]; then
    echo "bench: $name failed (exit $rc):" >&2; tail -n 5 "$log" >&2; exit 1
  fi
  read -r s m < <(grep -E '^[0-9.]+ [0-9]+$' "$tf" | tail -n 1)
  if [ -z "${SECS[$name]:-}" ] || python3 -c "import sys; sys.exit(not $s < ${SECS[$name]})"; then
    SECS[$name]=$s
  fi
  [ "${RSS[$name]:-0}" -ge "$m" ] || RSS[$name]=$m
  ROWSOF[$name]=$rows
  BYTESOF[$name]=$(python3 -c "print(${CUR_BYTES:-$BYTES} * $rows / ${CUR_ROWS:-$ROWS})")
}
# fresh NAME: an empty run folder for NAME. The previous run's output is
# deleted and then synced: the disk is mounted with online discard, so a
# deleted 0.5-0.7 GB database is trimmed at the next journal commit, which
# otherwise falls inside the next timed case (measured: cairn 5.0-5.5 s
# with its own previous output deleted just before, 4.9-5.0 s after a sync).
fresh() { rm -rf "$W/runs/$1"; sync; mkdir -p "$W/runs/$1"; echo "$W/runs/$1"; }
cairn_run() { # cairn_run NAME JOBFILE DATA ROWS [args]: REPEAT fresh runs
  local name=$1 job=$2 data=$3 rows=$4 k d; shift 4
  for ((k = 0; k < REPEAT; k++)); do
    d=$(fresh "$name")
    measure "$name" "$rows" "$CAIRN" run "$job" --param input="$data" \
      --state "$d/state" --out "$d/out" --log-level warn "$@"
  done
}
# ratio A B: rows/s of run A over rows/s of run B
ratio() { python3 -c "print('%.2f' % ((${ROWSOF[$1]} / ${SECS[$1]}) / (${ROWSOF[$2]} / ${SECS[$2]})))"; }

: > "$RES"
out() { echo "$*" | tee -a "$RES"; }
out "cairn bench -- $(date -u +%Y-%m-%dT%H:%M:%SZ)"
out "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GB RAM", $2/1048576}' /proc/meminfo)"
out "input: $ROWS rows, 3 partitions (1 gzipped), $(python3 -c "print('%.0f' % ($BYTES/1e6))") MB of CSV; $(sqlite3 --version | cut -d' ' -f1) sqlite3, $(python3 --version)"
out ""

# ---- 1.-3. cairn (SQLite; SQLite + bundle), sqlite3 .import, Python -----------
# Each round runs every case once, so that every case sees the same
# weather on a shared machine (the fastest of REPEAT rounds counts); before
# 2026-11-27 each case ran REPEAT times in a row, and a slow spell could
# fall on one case's runs only.
jq '.name = "bench-cost-both" | .sinks += ["evidence"]' "$JOB" > "$W/cost-both.json"
imp=()
for p in "${PARTS[@]}"; do
  skip=""; [ ${#imp[@]} -eq 0 ] || skip="--skip 1 "
  if [[ "$p" == *.gz ]]; then imp+=(".import --csv ${skip}'|gzip -dc $p' cost")
  else imp+=(".import --csv ${skip}$p cost"); fi
done
CEIL="$W/writer_ceiling"
${CC:-cc} -std=c11 -O2 -Wall -Wextra -o "$CEIL" tests/bench/writer_ceiling.c -lsqlite3
for ((round = 0; round < REPEAT; round++)); do
  REPEAT=1 cairn_run cairn "$JOB" "$DATA" "$ROWS"
  # The writer alone, on what cairn just loaded (its time is the inserts
  # and the final checkpoint, not reading the rows into memory).
  d=$(fresh writer)
  "$CEIL" "$W/runs/cairn/out/warehouse.db" cost_record "$d/w.db" >"$W/runs/writer.log"
  s=$(awk '/^rows/ {print $4}' "$W/runs/writer.log")
  if [ -z "${SECS[writer]:-}" ] || python3 -c "import sys; sys.exit(not $s < ${SECS[writer]})"; then
    SECS[writer]=$s
  fi
  rm -rf "$d"
  REPEAT=1 cairn_run cairn-bundle "$W/cost-both.json" "$DATA" "$ROWS"
  d=$(fresh sqlite3)
  measure sqlite3 "$ROWS" sqlite3 "$d/import.db" "${imp[@]}"
  if [ "$PYROWS" -gt 0 ]; then
    CUR_ROWS=$PYROWS CUR_BYTES=$PYBYTES
    d=$(fresh python)
    measure python "$PYROWS" python3 tests/bench/py_etl.py "$PYDATA" "$d/py.db"
    d=$(fresh python-ndjson)
    measure python-ndjson "$PYROWS" python3 tests/bench/py_etl.py "$PYDATA" "$d/py.db" "$d/py.ndjson"
    unset CUR_ROWS CUR_BYTES
  fi
done
ROWSOF[writer]=$ROWS; BYTESOF[writer]=$BYTES; RSS[writer]=0
loaded=$(sqlite3 "$W/runs/cairn/out/warehouse.db" 'SELECT count(*) FROM cost_record')
[ "$loaded" = "$ROWS" ] || { echo "bench: cairn loaded $loaded rows, not $ROWS" >&2; exit 1; }
if [ "$PYROWS" -gt 0 ]; then
  # Same mapping: cairn on the Python input gives the same record ids.
  d=$(fresh cairn-py-input)
  "$CAIRN" run "$JOB" --param input="$PYDATA" --state "$d/state" --out "$d/out" \
    --log-level warn >/dev/null 2>&1
  a=$(sqlite3 "$d/out/warehouse.db" "SELECT count(*), count(DISTINCT recordId), sum(length(tags)), sum(length(resourceId)) FROM cost_record")
  b=$(sqlite3 "$W/runs/python/py.db" "SELECT count(*), count(DISTINCT recordId), sum(length(tags)), sum(length(resourceId)) FROM cost_record")
  [ "$a" = "$b" ] || { echo "bench: cairn ($a) and python ($b) disagree" >&2; exit 1; }
fi

# ---- 4. the JSON path ----------------------------------------------------------
# A Resource-Graph-shaped recording of RGPAGES pages of 1000 rows (about
# 0.5 MB each; tests/bench/gen_rg_har.py, cached) replayed into cmdb_ci by
# jobs/azure-resource-graph.json, next to tests/bench/py_rg_etl.py (json +
# sqlite3). Both are timed without reading the recording: Python prints the
# time of its parse + map + insert loop (and final checkpoint); for cairn it
# is the time from its first request (the replay transport has loaded the
# HAR by then) to "run done" in its JSON log. The whole cairn process
# (HAR load included) is shown too.
if [ "$RGPAGES" -gt 0 ]; then
  RGHAR="$W/data/rg-$RGPAGES.har"
  rgstamp="$(sha256sum tests/bench/gen_rg_har.py | cut -c1-16)-$RGPAGES"
  if [ "$(cat "$RGHAR.stamp" 2>/dev/null)" != "$rgstamp" ]; then
    echo "bench: generating a $RGPAGES-page Resource Graph recording into $RGHAR (cached)"
    python3 tests/bench/gen_rg_har.py "$RGPAGES" "$RGHAR"
    python3 -c '
import json, sys
n = sum(len(e["response"]["content"]["text"].encode()) for e in json.load(open(sys.argv[1]))["log"]["entries"]
        if "ResourceGraph" in e["request"]["url"] and e["response"]["status"] == 200)
print(n)' "$RGHAR" > "$RGHAR.bytes"
    echo "$rgstamp" > "$RGHAR.stamp"
  fi
  RGBYTES=$(cat "$RGHAR.bytes")
  RGROWS=$((RGPAGES * 1000))
  # The job's tenant, client id and secret, as its connector test uses them.
  RGPARAMS=(--param tenant_id=8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d
            --param client_id=6731de76-14a6-49ae-97bc-6eba6914391e)
  # pipe_secs LOG: seconds from the first request line to "run done".
  pipe_secs() { python3 -c '
import datetime, json, sys
ts = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
first = done = None
for line in open(sys.argv[1]):
    if not line.startswith("{"):
        continue
    j = json.loads(line)
    if first is None and "method" in j:
        first = ts(j["ts"])
    if j.get("msg") == "run done":
        done = ts(j["ts"])
print("%.3f" % (done - first))' "$1"; }
  # The cases above leave GBs of dirty pages; the SQLite syncs (the sink's
  # window checkpoint, Python's commits) would wait for that writeback on
  # ext4: start each run clean. (cairn no longer fsyncs spooled pages.) cairn and Python take turns (at least 3 each, the fastest
  # counts), so that both see the same weather on this shared VM.
  export CAIRN_SECRET_CLIENT_SECRET=arm-secret-test-4b1e
  CUR_ROWS=$RGROWS CUR_BYTES=$RGBYTES
  for ((k = 0; k < (REPEAT > 3 ? REPEAT : 3); k++)); do
    d=$(fresh rg-cairn)
    sync
    measure rg-cairn "$RGROWS" \
      "$CAIRN" run jobs/azure-resource-graph.json --replay "$RGHAR" "${RGPARAMS[@]}" \
      --state "$d/state" --out "$d/out" --log-level info
    s=$(pipe_secs "$W/runs/rg-cairn.log")
    if [ -z "${SECS[rg-cairn-pipe]:-}" ] || python3 -c "import sys; sys.exit(not $s < ${SECS[rg-cairn-pipe]})"; then
      SECS[rg-cairn-pipe]=$s
    fi
    d=$(fresh rg-python)
    sync
    measure rg-python-proc "$RGROWS" python3 tests/bench/py_rg_etl.py "$RGHAR" "$d/py.db"
    s=$(awk '/^records/ {print $NF}' "$W/runs/rg-python-proc.log")
    if [ -z "${SECS[rg-python]:-}" ] || python3 -c "import sys; sys.exit(not $s < ${SECS[rg-python]})"; then
      SECS[rg-python]=$s
    fi
  done
  ROWSOF[writer]=$ROWS; BYTESOF[writer]=$BYTES; RSS[writer]=0
for n in rg-cairn-pipe rg-python; do
    ROWSOF[$n]=$RGROWS; BYTESOF[$n]=$RGBYTES
  done
  RSS[rg-cairn-pipe]=${RSS[rg-cairn]}; RSS[rg-python]=${RSS[rg-python-proc]}
  unset CUR_ROWS CUR_BYTES CAIRN_SECRET_CLIENT_SECRET
  # Same rows on both sides.
  q="SELECT count(*), count(DISTINCT ciId), count(owner), count(env), sum(length(tags)), min(lastSeenUtc), max(lastSeenUtc) FROM cmdb_ci"
  a=$(sqlite3 "$W/runs/rg-cairn/out/warehouse.db" "$q")
  b=$(sqlite3 "$W/runs/rg-python/py.db" "$q")
  [ "$a" = "$b" ] || { echo "bench: cairn ($a) and python ($b) disagree on cmdb_ci" >&2; exit 1; }
  [ "${a%%|*}" = "$RGROWS" ] || { echo "bench: cairn loaded ${a%%|*} rows, not $RGROWS" >&2; exit 1; }
fi

# ---- 5. checkpoint overhead: 50,000-row chunks vs one chunk per partition ----
HUGE=1000000000000
cairn_run chunks-50k "$JOB" "$DATA" "$ROWS" --param chunk_rows=50000 --param chunk_bytes=$HUGE
cairn_run chunks-huge "$JOB" "$DATA" "$ROWS" --param chunk_rows=100000000 --param chunk_bytes=$HUGE
N=$(jq '.windows[0].last_seq' <<<"$("$CAIRN" status azure-cost-export --state "$W/runs/chunks-50k/state" --json)")

# ---- 6. resume after a kill at 90 % ----------------------------------------------
K=$(( (N * 9 + 9) / 10 ))
d=$(fresh resume)
export CAIRN_TEST_KILL_AT=loaded:$K
measure resume-killed "$ROWS" "$CAIRN" run "$JOB" \
  --param input="$DATA" --param chunk_rows=50000 --param chunk_bytes=$HUGE \
  --state "$d/state" --out "$d/out" --log-level warn
unset CAIRN_TEST_KILL_AT
measure resume "$ROWS" "$CAIRN" run "$JOB" --param input="$DATA" \
  --param chunk_rows=50000 --param chunk_bytes=$HUGE \
  --state "$d/state" --out "$d/out" --log-level warn
REDONE=$(jq '.runs[0].chunks_redone' <<<"$("$CAIRN" status azure-cost-export --state "$d/state" --json)")
after=$(sqlite3 "$d/out/warehouse.db" 'SELECT count(*) FROM cost_record')
[ "$after" = "$ROWS" ] || { echo "bench: resumed run has $after rows, not $ROWS" >&2; exit 1; }

# ---- 7. memory: the same job on BIG times the rows ---------------------------
REPEAT=1 cairn_run cairn-x$BIG "$JOB" "$BIGDATA" $((ROWS * BIG))

# The outputs (several GB at 1M rows) are not needed any more: keep the
# logs and timings only.
find "$W/runs" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +

# ---- report ----------------------------------------------------------------------
row() { # row NAME LABEL
  local s=${SECS[$1]} r=${ROWSOF[$1]}
  python3 -c '
import sys
name, label, s, rows, rss, mb = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
rss = "%7.1f MB peak RSS" % (rss / 1024) if rss else "      (rows held in memory)"
print("%-44s %8.2f s %10.0f rows/s %7.1f MB/s %s" % (label, s, rows / s, mb / s, rss))
' "$1" "$2" "$s" "$r" "${RSS[$1]}" "$(python3 -c "print(${BYTESOF[$1]} / 1e6)")" | tee -a "$RES"
}
[ -z "${SECS[rg-python]:-}" ] || out "json path: $RGPAGES Resource Graph pages x 1000 rows, $(python3 -c "print('%.0f' % ($RGBYTES/1e6))") MB of response bodies (MB/s below: of those)"
out "run                                             time        rows/s       MB/s        peak RSS"
row cairn "cairn -> SQLite"
row cairn-bundle "cairn -> SQLite + bundle"
row sqlite3 "sqlite3 .import (CSV -> SQLite)"
row writer "SQLite writer alone (C, same rows)"
if [ -n "${SECS[python]:-}" ]; then
  row python "python stdlib -> SQLite ($PYROWS rows)"
  row python-ndjson "python stdlib -> SQLite + NDJSON ($PYROWS)"
fi
row chunks-50k "cairn, chunk_rows=50000 ($N chunks)"
row chunks-huge "cairn, one chunk per partition"
row cairn-x$BIG "cairn -> SQLite, ${BIG}x rows"
if [ -n "${SECS[rg-python]:-}" ]; then
  row rg-cairn "cairn JSON -> SQLite (whole process)"
  row rg-cairn-pipe "cairn JSON -> SQLite (1st request to done)"
  row rg-python "python stdlib JSON -> SQLite"
fi
out ""
out "ratios of rows/s (higher is better for cairn; the issue's targets in brackets)"
out "  cairn vs sqlite3 .import            $(ratio cairn sqlite3)x  [>= 4x]"
out "  cairn+bundle vs sqlite3 .import     $(ratio cairn-bundle sqlite3)x  [>= 2.5x]"
out "  cairn vs the SQLite writer alone    $(ratio cairn writer)x  [aim: >= 0.7x]"
if [ -n "${SECS[python]:-}" ]; then
  out "  cairn vs python                     $(ratio cairn python)x  [>= 25x]"
  out "  cairn+bundle vs python+ndjson       $(ratio cairn-bundle python-ndjson)x  [>= 15x]"
fi
if [ -n "${SECS[rg-python]:-}" ]; then
  out "  cairn JSON vs python JSON           $(ratio rg-cairn-pipe rg-python)x  [>= 3x]  (whole process incl. loading the HAR: $(ratio rg-cairn rg-python)x)"
fi
over=$(python3 -c "print('%.1f' % ((${SECS[chunks-50k]} / ${SECS[chunks-huge]} - 1) * 100))")
out "  checkpoint overhead (50k vs huge)   ${over} %  [<= 5 %]"
out "  resume: killed after chunk $K of $N (loaded), rerun redid $REDONE chunk(s)  [<= 1]; killed ${SECS[resume-killed]} s + resumed ${SECS[resume]} s vs ${SECS[chunks-50k]} s uninterrupted"
out "  peak RSS: $(python3 -c "print('%.1f' % (${RSS[cairn]}/1024))") MB at $ROWS rows, $(python3 -c "print('%.1f' % (${RSS[cairn-x$BIG]}/1024))") MB at $((ROWS * BIG)) rows  [<= 64 MB, flat]"
out ""
out "command: make bench   (BENCH_ROWS=$ROWS BENCH_BIG=$BIG BENCH_PY_ROWS=$PYROWS BENCH_REPEAT=$REPEAT BENCH_RG_PAGES=$RGPAGES tests/bench/run.sh ${1:-bin/cairn})"
echo "bench: results in $RES"
