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
set +e; err=$("$CAIRN" run jobs/demo-cost.json "${S[@]}" "${P[@]}" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 3 "exit code"
[[ "$err" == *"chunk 3: re-read from its checkpoint, the source ends it at"*"refusing to load it"* ]] || fail "message: $err"
expect_eq "$(sqlite3 "$T/out/warehouse.db" 'SELECT count(*), count(DISTINCT recordId) FROM cost_record')" "200|200" "rows of chunks 1-2 only, none twice"
echo "ok"
