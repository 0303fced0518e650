#!/usr/bin/env bash
# make tsan: the runner's threads under ThreadSanitizer. Criterion's own
# runner does not run under TSan, so this drives the threaded paths through
# the CLI instead, with a binary built with -fsanitize=thread:
#   - a cost export into SQLite and the evidence bundle (loader thread, one
#     thread per extra sink, the digest shared with the producer, the
#     SQLite checkpointer and its WAL restart: 150,000 generated rows make
#     a WAL past 64 MiB);
#   - the Resource Graph recording replayed (each page decoded and mapped
#     on two threads);
#   - the demo job;
#   - a cost export read from Azure Storage (replayed), its blobs
#     downloaded on the producer's thread while the loader loads;
#   - a run stopped by SIGTERM at a chunk boundary.
# Any report fails the run (halt_on_error). usage: tests/tsan.sh BIN
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BIN="$(realpath "${1:?usage: tests/tsan.sh BIN}")"
T="$(mktemp -d /tmp/cairn-tsan.XXXXXX)"
trap 'rm -rf "$T"' EXIT
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}"
export CAIRN_LOG_FORMAT=json
unset CAIRN_STATE CAIRN_OUT CAIRN_DISABLE CAIRN_TEST_KILL_AT CAIRN_TEST_FAULT

run() { # run NAME ARGS...: a fresh state and output dir per case
  local name=$1 rc=0; shift
  "$BIN" run "$@" --state "$T/$name/state" --out "$T/$name/out" \
    --log-level warn >"$T/$name.out" 2>"$T/$name.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "tsan: $name: exit $rc" >&2
    grep -A 30 -m 1 'ThreadSanitizer' "$T/$name.err" >&2 || tail -n 5 "$T/$name.err" >&2
    exit 1
  fi
  echo "tsan: $name: no race ($(tail -n 1 "$T/$name.out" | cut -c1-90)...)"
}

DATA="build/tsan/data/focus-150000"
if [ ! -f "$DATA/manifest.json" ]; then
  rm -rf "$DATA"
  python3 tests/bench/gen_cost.py 150000 "$DATA" --partitions 3 --gzip 1 >/dev/null
fi
jq '.name = "tsan-cost-both" | .sinks += ["evidence"]' \
  jobs/azure-cost-export.json >"$T/cost-both.json"
run cost-both "$T/cost-both.json" --param input="$DATA"

set -a
source tests/data/connectors/azure-resource-graph.env
set +a
run resource-graph jobs/azure-resource-graph.json \
  --replay fixtures/azure-resource-graph.har "${PARAMS[@]}"

run demo jobs/demo-cost.json

# The focus/ export from Azure Storage (replayed): blobs downloaded on the
# producer's thread while the loader loads.
RUN_URL=$(python3 fixtures/cost-export/make_blob_har.py --print-url)
run blob jobs/azure-cost-export.json \
  --param input="$RUN_URL" --param chunk_rows=2 \
  --replay fixtures/cost-export/blob.har
# A stop by SIGTERM at a chunk boundary (the handler runs on the loader's
# thread, the producer reads the flag): exit 3, and no race.
rc=0
CAIRN_TEST_KILL_SIGNAL=TERM CAIRN_TEST_KILL_AT=loaded:2 "$BIN" run jobs/demo-cost.json \
  --param chunk_rows=100 --state "$T/sig/state" --out "$T/sig/out" \
  --log-level warn >"$T/sig.out" 2>"$T/sig.err" || rc=$?
if [ "$rc" -ne 3 ] || grep -q ThreadSanitizer "$T/sig.err"; then
  echo "tsan: sigterm: exit $rc" >&2
  grep -A 30 -m 1 'ThreadSanitizer' "$T/sig.err" >&2 || tail -n 5 "$T/sig.err" >&2
  exit 1
fi
echo "tsan: sigterm: no race (exit 3: $(grep -o 'stopped by SIGTERM before chunk [0-9]*' "$T/sig.out"))"
echo "tsan: all clean"
