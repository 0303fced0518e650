#!/usr/bin/env bash
# Runs every test: the Criterion unit binary, the fuzz targets over their
# corpus, then each shell test under
# tests/cli and tests/torture (a script passes when it exits 0). Prints a
# closing "N passed, N failed" line; exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.."
export CAIRN_BIN="$(realpath "${CAIRN_BIN:-bin/cairn}")"
UNIT="${CAIRN_UNIT:-build/unit}"
pass=0; fail=0; failed=()

echo "== unit tests ($UNIT)"
if "$UNIT" --jobs 2; then pass=$((pass+1)); else fail=$((fail+1)); failed+=("unit"); fi

# The fuzz targets, built with replay.c, over their corpus: the seeds and
# every input a fuzzer once failed on (tests/fuzz/README.md).
FUZZ="${CAIRN_FUZZ:-build/fuzz}"
for c in tests/fuzz/corpus/*/; do
  f="$FUZZ/$(basename "$c")"
  name="fuzz/$(basename "$c") corpus"
  if [ ! -x "$f" ]; then
    fail=$((fail+1)); failed+=("$name"); echo "FAIL $name: $f not built"
  elif out=$("$f" "$c" 2>&1); then
    pass=$((pass+1)); echo "PASS $name (${out##*: })"
  else
    fail=$((fail+1)); failed+=("$name"); echo "FAIL $name"; echo "$out" | tail -n 40 | sed 's/^/    /'
  fi
done

for t in tests/cli/*.sh tests/torture/*.sh; do
  [ -e "$t" ] || continue
  name="${t#tests/}"
  start=$(date +%s)
  # a hung test fails after 10 minutes instead of holding CI (the longest
  # takes under a minute)
  if out=$(timeout --kill-after=10 600 bash "$t" 2>&1); then
    pass=$((pass+1)); echo "PASS $name ($(( $(date +%s) - start ))s)"
  else
    fail=$((fail+1)); failed+=("$name"); echo "FAIL $name"; echo "$out" | tail -n 40 | sed 's/^/    /'
  fi
done
[ ${#failed[@]} -eq 0 ] || echo "failed: ${failed[*]}"
echo "tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
