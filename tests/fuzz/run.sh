#!/usr/bin/env bash
# make fuzz: each libFuzzer target in DIR for SECONDS, from its corpus.
#
# usage: tests/fuzz/run.sh DIR [SECONDS]    (from anywhere)
# The working corpus grows under build/libfuzzer/corpus/NAME, seeded from
# tests/fuzz/corpus/NAME (left unchanged). An input that fails is written
# to build/libfuzzer/crash-NAME-*; once fixed, copy it into
# tests/fuzz/corpus/NAME so that `make test` replays it from then on.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="$(realpath "$1")"; SECS="${2:-120}"
cd "$ROOT"   # fuzz_cost_map reads jobs/, schemas/ and fixtures/
fail=0
for f in "$DIR"/fuzz_*; do
  name=$(basename "$f")
  work="build/libfuzzer/corpus/$name"
  mkdir -p "$work"
  echo "== $name: ${SECS}s"
  if "$f" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
       -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="build/libfuzzer/crash-$name-" \
       "$work" "tests/fuzz/corpus/$name" 2>"build/libfuzzer/$name.log"; then
    grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' \
      "build/libfuzzer/$name.log" | tr '\n' ' '; echo
  else
    fail=1
    echo "FAIL $name (log: build/libfuzzer/$name.log):"
    grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' "build/libfuzzer/$name.log" | head -n 20
  fi
done
exit $fail
