#!/usr/bin/env bash
# Declared parameters: `cairn run` without one stops before anything runs
# and names it with its description; `cairn validate` checks the job with
# the declared example; with the parameter given, the job runs.
source "$(dirname "$0")/../lib.sh"
J=tests/data/params/declared.json
S=(--state "$T/state" --out "$T/out")
set +e; err=$("$CAIRN" run "$J" "${S[@]}" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "run without a required param"
[[ "$err" == "$J:"*": /source/path: parameter \"input\" is required: the FOCUS CSV to load (pass --param input=VALUE, e.g. fixtures/demo/cost.csv)" ]] || fail "message: $err"
[ ! -e "$T/state" ] || fail "state touched"
expect_eq "$("$CAIRN" validate "$J")" "$J: ok" "validate uses the example"
"$CAIRN" run "$J" "${S[@]}" --param input=tests/data/csv/cost10.csv >/dev/null 2>&1 || fail "run with the param"
expect_eq "$(sqlite3 "$T/out/warehouse.db" 'SELECT count(*) FROM cost_record')" 10 rows

# A default may itself use variables (the Azure jobs' token_url defaults to
# ${param:login_endpoint:-…}/${param:tenant_id}/oauth2/v2.0/token).
N=tests/data/params/nested.json
"$CAIRN" run "$N" --state "$T/n1" --out "$T/n1" --param dir=tests/data/csv --param file=cost10.csv >/dev/null 2>&1 || fail "nested default"
expect_eq "$(sqlite3 "$T/n1/warehouse.db" 'SELECT count(*) FROM cost_record')" 10 "nested default rows"
"$CAIRN" run "$N" --state "$T/n2" --out "$T/n2" --param input=tests/data/csv/cost10.csv --param dir=/nonexistent >/dev/null 2>&1 || fail "outer param wins"
expect_eq "$(sqlite3 "$T/n2/warehouse.db" 'SELECT count(*) FROM cost_record')" 10 "outer param rows"
set +e; err=$("$CAIRN" run "$N" --state "$T/n3" --out "$T/n3" --param dir=tests/data/csv 2>&1 >/dev/null); set -e
[[ "$err" == *"tests/data/csv/cost.csv: no such file"* ]] || fail "nested default not expanded: $err"
