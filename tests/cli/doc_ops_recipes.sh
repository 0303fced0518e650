#!/usr/bin/env bash
# The operations recipes work as docs/operations.md gives them:
# - the runbook's jq filters over a journal (stdout and stderr of several
#   runs, the non-JSON summary lines among the JSON log lines) show the
#   error of every run, not only of the runs before the first summary;
# - the cron line's loop runs cairn three times at most (two retries of
#   exit 3), sleeps only between attempts, and stops at any other code;
# - the cron section creates the log directory its line appends to;
# - each message the runbook quotes for exit 3 is one cairn says (a C
#   string of src/, its placeholders aside), and the metrics table lists
#   the metrics cairn writes, each with its type.
source "$(dirname "$0")/../lib.sh"
DOC=docs/operations.md

# 1. jq filters: two failed runs (a missing input: exit 3) in one journal.
for _ in 1 2; do
  "$CAIRN" run jobs/demo-cost.json --state "$T/s" --out "$T/o" \
    --param input="$T/missing.csv" >>"$T/journal" 2>&1 && fail "run succeeded"
done
grep -q '^demo-cost: FAILED' "$T/journal" || fail "no summary line in the journal"
n=0
while IFS= read -r filter; do
  n=$((n + 1))
  runs=$(bash -c "$filter" <"$T/journal" 2>"$T/jq.err" | jq -r .run_id | sort -u | wc -l) ||
    fail "jq filter '$filter': $(cat "$T/jq.err")"
  expect_eq "$runs" 2 "runs whose errors '$filter' shows ($(cat "$T/jq.err"))"
done < <(grep -o 'journalctl -u cairn@[^|]*| jq .*' "$DOC" | sed 's/^[^|]*| //')
[ "$n" -ge 2 ] || fail "found $n journalctl | jq recipes in $DOC"

# 2. The cron line's retry loop, with cairn and sleep stubbed.
line=$(grep -m1 '^30 2 \* \* \* cairn ' "$DOC") || fail "no cron line in $DOC"
cmd=${line#30 2 \* \* \* cairn }
log=$(sed -E 's/.*>>([^ ]+) 2>&1$/\1/' <<<"$cmd")
grep -q "install -d .*$(dirname "$log")" "$DOC" ||
  fail "the cron section does not create $(dirname "$log")"
cmd=${cmd//\/usr\/local\/bin\/cairn/stub_cairn}
cmd=${cmd//$log/$T/cron.log}
for want in "3:3:2" "0:1:0" "2:1:0" "4:1:0"; do
  code=${want%%:*}
  : >"$T/calls"
  RC=$code T=$T bash -c "stub_cairn() { echo run >>\"\$T/calls\"; return \$RC; }
    sleep() { echo sleep >>\"\$T/calls\"; }
    $cmd"
  expect_eq "$code:$(grep -c run "$T/calls"):$(grep -c sleep "$T/calls" || true)" \
    "$want" "cron loop for exit $code (code:runs:sleeps)"
done
# 3. README's Resource Graph replay, with the recording's params: the
#    golden rows, and a bundle only if the README's comment promises one.
line=$(grep -m1 'azure-resource-graph.json .*--replay' README.md) || fail "no replay line in README.md"
source tests/data/connectors/azure-resource-graph.env
"$CAIRN" run jobs/azure-resource-graph.json "${PARAMS[@]}" --replay fixtures/azure-resource-graph.har \
  --state "$T/rg/s" --out "$T/rg/o" >/dev/null 2>&1 || fail "README replay: exit $?"
diff <(sqlite3 -separator $'\t' "$T/rg/o/warehouse.db" 'SELECT * FROM cmdb_ci ORDER BY rowid') \
  tests/data/golden/connectors/azure-resource-graph.tsv >/dev/null || fail "README replay: rows differ from golden"
bundles=$(find "$T/rg/o" -name '*.tar' | wc -l)
if has -i bundle <<<"${line#*#}"; then
  [ "$bundles" -ge 1 ] || fail "README says the replay writes bundle parts; it wrote no bundle"
else
  expect_eq "$bundles" 0 "bundles of the Resource Graph replay"
fi
# 4. The runbook's exit-3 messages, found in src/ (a rewritten message
#    must be rewritten in the runbook too).
python3 - <<'PY' || fail "the runbook quotes messages cairn does not say (above)"
import glob, re, sys
sec = open('docs/operations.md').read()
sec = re.sub(r'\s+', ' ', sec[sec.index('3. **Exit 3**'):sec.index('4. **Rerun.**')])
strings = []   # cairn's C string literals, a message's pieces joined
for f in glob.glob('src/**/*.c', recursive=True):
    t = re.sub(r'/\*.*?\*/', ' ', open(f, encoding='utf-8', errors='replace').read(), flags=re.S)
    t = re.sub(r'"\s*"', '', t)
    strings += [s.replace('\\"', '"') for s in re.findall(r'"((?:[^"\\\n]|\\.)*)"', t)]
# said by the OS or SQLite, or no message ("401/403", "token")
external = {'Read-only file system', 'Permission denied', 'file is not a database',
            'database disk image is malformed', '401/403', 'token', 'sink', 'I/O',
            'state …/cairn.db: …'}
# the runbook's placeholders, and text a message takes from another (%s)
ph = (r'\b(?:Ns|N|M|JOB|W|position|reasons)\b|…|\.\.\.|cost_record \d\.\d\.\d'
      r'|database is locked|the period its source declares')
quoted = re.findall(r'(?<![*\w])\*([^*]+)\*(?![*\w])', sec) + re.findall(r'"([^"]+)"', sec)
bad = n = 0
for q in quoted:
    if q in external:
        continue
    n += 1
    frags = [f for f in (f.strip(' ,:(') for f in re.split(ph, q)) if len(f) >= 3]
    def in_order(s):
        at = 0
        for f in frags:
            at = s.find(f, at)
            if at < 0:
                return False
            at += len(f)
        return True
    if not any(in_order(s) for s in strings):
        print(f'no message in src/ reads {q!r} (pieces {frags})', file=sys.stderr)
        bad += 1
sys.exit(1 if bad or n < 10 else 0)
PY
# 5. The metrics table: the families of src/core/metrics.c, with their types.
diff <(sed -n 's/^| `\(cairn_[a-z_]*\)` | \([a-z]*\) |.*/\1 \2/p' "$DOC" | sort) \
  <(grep -o '{ *\(HW_NAME\|LAG_NAME\|"cairn_[a-z_]*"\), CAIRN_METRIC_[A-Z]*' src/core/metrics.c |
    sed 's/HW_NAME/"cairn_sync_high_water_timestamp_seconds"/; s/LAG_NAME/"cairn_sync_lag_seconds"/' |
    sed 's/[{" ]//g; s/,CAIRN_METRIC_/ /' | tr 'A-Z' 'a-z' | sort) >"$T/metrics.diff" ||
  fail "docs/operations.md's metrics table (<) differs from src/core/metrics.c (>): $(cat "$T/metrics.diff")"
echo "doc_ops_recipes: ok"
