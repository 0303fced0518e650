#!/usr/bin/env bash
# The transform at the top of docs/mapping.md, with the FOCUS additions of
# its section 8 ("see the top of this page, plus:"), is a job that loads
# the demo export: every required field mapped, its PII policy naming a
# field the contract has. Then reasons and refusals the page quotes, and
# how docs/jobs.md says the warehouse stores decimals.
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

# Section 3: numbers jansson cannot hold reject their NDJSON line with the
# reasons the page quotes.
printf '%s\n' '{"id":"1","s":123456789012345678901234567890}' '{"id":"2","s":1e400}' >"$T/big.ndjson"
jq -n --arg p "$T/big.ndjson" '{name: "doc-big", connector_version: "1.0.0",
  source: {type: "file", path: $p, format: "ndjson"},
  transform: {contract: "incident_link", fields: {system: {fn: [{const: "s"}]},
    externalId: "id", type: {fn: [{const: "t"}]}, status: "s"}},
  sinks: ["warehouse"]}' >"$T/jobs/big.json"
"$CAIRN" run "$T/jobs/big.json" --state "$T/state" --out "$T/out" >/dev/null 2>&1 || fail "big: exit $?"
reasons=$("$CAIRN" dlq doc-big --state "$T/state" --json | jq -r '.[].reasons')
for q in "not valid JSON: too big integer" "not valid JSON: real number overflow"; do
  has -F "$q" <<<"$reasons" || fail "no reject '$q' (got: $reasons)"
  has -F "\`$q\`" docs/mapping.md || fail "docs/mapping.md does not quote '$q'"
done

# Section 4, templates: a ${...} with a colon that is no job variable is
# refused as the page says, a JSON pointer too.
for ref in 'foo:bar' '/a:b'; do
  jq --arg t "\${$ref}" '.transform.fields.url = {fn: [{template: $t}]}' "$T/jobs/big.json" >"$T/jobs/tpl.json"
  err=$("$CAIRN" validate "$T/jobs/tpl.json" 2>&1 >/dev/null) && fail "template \${$ref} accepted"
  has -F "unknown variable kind \"${ref%%:*}\" in \${$ref}" <<<"$err" || fail "template \${$ref}: $err"
done
has -F 'unknown variable kind "foo" in ${foo:bar}' docs/mapping.md || fail "docs/mapping.md does not quote the template refusal"
# Section 4, trim: all-space text is null, or "" when empty_is_null is false.
printf '%s\n' '{"id":"1","v":"  "}' >"$T/space.ndjson"
for ein in true false; do
  jq --arg p "$T/space.ndjson" --argjson e $ein '.name = "doc-trim-\($e)" | .source.path = $p
    | .transform.empty_is_null = $e | .transform.fields.status = {fn: [{const: "s"}]}
    | .transform.fields.url = {from: "v", fn: ["trim"]}' \
    "$T/jobs/big.json" >"$T/jobs/trim.json"
  "$CAIRN" run "$T/jobs/trim.json" --state "$T/tstate" --out "$T/tout-$ein" >/dev/null 2>&1 || fail "trim: exit $?"
  got=$(sqlite3 "$T/tout-$ein/warehouse.db" 'SELECT quote(url) FROM incident_link')
  if [ $ein = true ]; then expect_eq "$got" NULL "trim of spaces"; else expect_eq "$got" "''" "trim of spaces, empty_is_null false"; fi
done

# docs/jobs.md, "Decimals are stored as numbers": INTEGER only when written
# without a point or exponent (up to 18 significant digits: leading zeros
# do not count), REAL otherwise (1e+2 too, whatever its value), TEXT only
# past a double's range.
python3 - "$T/dec.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open('fixtures/demo/cost.csv', newline='')))
h = rows[0]; b = h.index('BilledCost'); r = h.index('ResourceId')
w = csv.writer(open(sys.argv[1], 'w', newline='')); w.writerow(h)
for k, v in enumerate(['123456789012345678', '1234567890123456789', '1.0', '1e3', '12.50', '1e400', '1e+2', '000000000000000000000012']):
    row = list(rows[1]); row[b] = v; row[r] = 'r%d' % k; w.writerow(row)
PY
"$CAIRN" run jobs/demo-cost.json --param input="$T/dec.csv" --state "$T/dstate" --out "$T/dout" >/dev/null 2>&1 ||
  fail "decimals: exit $?"
expect_eq "$(sqlite3 "$T/dout/warehouse.db" "SELECT group_concat(typeof(billedCost) || ':' || billedCost, ' ') FROM (SELECT billedCost FROM cost_record ORDER BY resourceId)")" \
  "integer:123456789012345678 real:1.23456789012346e+18 real:1.0 real:1000.0 real:12.5 text:1e400 real:100.0 integer:12" "decimal storage classes"
echo "doc_mapping_example: ok"
