#!/usr/bin/env bash
# The transform at the top of docs/mapping.md, with the FOCUS additions of
# its section 8 ("see the top of this page, plus:"), is a job that loads
# the demo export: every required field mapped, its PII policy naming a
# field the contract has.
source "$(dirname "$0")/../lib.sh"
mkdir -p "$T/jobs" && cp -r sinks "$T/"
python3 - "$T/jobs/doc.json" <<'PY' || fail "could not build the job from docs/mapping.md"
import json, re, sys
blocks = re.findall(r'```json\n(.*?)```', open('docs/mapping.md').read(), re.S)
top = json.loads('{' + blocks[0] + '}')['transform']
plus = next(b for b in blocks if b.lstrip().startswith('"costScope"'))
top['fields'].update(json.loads('{' + plus.strip().rstrip(',') + '}'))
json.dump({"name": "doc-mapping", "connector_version": "1.0.0",
           "source": {"type": "file", "path": "fixtures/demo/cost.csv"},
           "transform": top, "sinks": ["warehouse"]}, open(sys.argv[1], 'w'))
PY
export CAIRN_SECRET_PII_HMAC_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
"$CAIRN" validate "$T/jobs/doc.json" >/dev/null 2>"$T/err" || fail "validate: $(cat "$T/err")"
"$CAIRN" run "$T/jobs/doc.json" --state "$T/state" --out "$T/out" >/dev/null 2>&1 || fail "run: exit $?"
expect_eq "$(sqlite3 "$T/out/warehouse.db" 'SELECT count(*) FROM cost_record')" 2000 "rows"
