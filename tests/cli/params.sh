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
# A --param the job neither declares nor uses is a typo: refused, by run
# (nothing touched) and by validate, naming the parameters there are.
for cmd in run validate; do
  a=(); [ $cmd = validate ] || a=("${S[@]}")
  set +e; err=$("$CAIRN" $cmd "$J" "${a[@]}" --param input=tests/data/csv/cost10.csv --param inptu=x 2>&1 >/dev/null); rc=$?; set -e
  expect_eq "$rc" 2 "$cmd with an unknown param"
  [[ "$err" == *'--param inptu: the job has no parameter "inptu" (it has: '*input* ]] || fail "$cmd: unknown param: $err"
done
[ ! -e "$T/state" ] || fail "state touched by an unknown param"
# validate reads every --param however many there are (it stopped at 63).
many=(); for i in $(seq 70); do many+=(--param input=tests/data/csv/cost10.csv); done
set +e; err=$("$CAIRN" validate "$J" "${many[@]}" --param inptu=x 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "validate with an unknown 71st param"
[[ "$err" == *'--param inptu: the job has no parameter "inptu"'* ]] || fail "validate: 71st param: $err"
# A bad value reported at the job's line names the --param it came from.
set +e; err=$("$CAIRN" run jobs/demo-cost.json "${S[@]}" --param chunk_rows=0 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "chunk_rows=0"
[[ "$err" == "jobs/demo-cost.json:"*": /source/chunk_rows: chunk_rows must be a positive integer (from --param chunk_rows)" ]] || fail "chunk_rows=0: $err"
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

# A job that lacks a parameter and secrets is refused naming every one at
# once, each on a line of its own with its place in the job and how to
# provide it, and once however often the job uses it: a secret in the
# same string as the parameter, a secret file that cannot be read, and the
# signing key a sink cannot open without (alone, a run finds that one only
# once it took the lock). Given the parameter, every secret is named yet.
mkdir -p "$T/creds/NOPE_ROWS"
jq '.name = "lacks"
  | .source.path = "${param:input}${secret:NOPE_SUFFIX}"
  | .source.chunk_rows = "${secret:NOPE_ROWS}"
  | .transform.fields.billingAccountId = {fn: [{const: "${param:input}"}]}
  | .sinks = ["warehouse", {name: "evidence", require_signature: true}]' "$J" >"$T/lacks.json"
lacks() {  # ARGS...: run the job; sets rc, err (stderr, positions cut)
  set +e
  err=$(CAIRN_SINKS=sinks CREDENTIALS_DIRECTORY="$T/creds" "$CAIRN" run "$T/lacks.json" \
    --state "$T/l" --out "$T/l" --metrics-dir "$T/l" "$@" 2>&1 >/dev/null)
  rc=$?
  set -e
  while IFS= read -r l; do
    [[ "$l" == "$T/lacks.json:"[0-9]*:[0-9]*": /"* ]] || fail "not file:line:col: [$l]"
  done <<<"$err"
  err=$(sed -E "s|^$T/lacks.json:[0-9]+:[0-9]+: ||; s/\(also used at [0-9]+:[0-9]+\)/(also used at L:C)/" <<<"$err")
}
lacks
expect_eq "$rc" 2 "a job lacking a parameter and secrets"
expect_eq "$err" '/source/path: parameter "input" is required: the FOCUS CSV to load (pass --param input=VALUE, e.g. fixtures/demo/cost.csv) (also used at L:C)
/source/path: undefined secret "NOPE_SUFFIX" (set CAIRN_SECRET_NOPE_SUFFIX or put it in $CREDENTIALS_DIRECTORY/NOPE_SUFFIX)
/source/chunk_rows: secret "NOPE_ROWS": cannot read '"$T"'/creds/NOPE_ROWS: Is a directory (it must be readable by the user cairn runs as)
/sinks/1: undefined secret "EVIDENCE_SIGNING_KEY" (sink "evidence" needs it; set CAIRN_SECRET_EVIDENCE_SIGNING_KEY or put it in $CREDENTIALS_DIRECTORY/EVIDENCE_SIGNING_KEY)' \
  "every parameter and secret the job lacks"
lacks --param input=tests/data/csv/cost10.csv
expect_eq "$rc" 2 "a job lacking secrets"
expect_eq "$(cut -d: -f1 <<<"$err" | tr '\n' ' ')" "/source/path /source/chunk_rows /sinks/1 " "every secret the job lacks"
[ ! -e "$T/l" ] || fail "a refused job touched state, output or metrics"
# --json: the first problem, and how many more stderr has.
set +e; js=$(CAIRN_SINKS=sinks "$CAIRN" run "$T/lacks.json" --json --state "$T/l" 2>/dev/null); set -e
[[ "$(jq -r .message <<<"$js")" == *'parameter "input" is required: '*' (and 3 more problems on stderr)' ]] || fail "--json: $js"

# A default is expanded only when its variable is unset: the default's
# undefined secret does not matter when --param input is given. A default
# that read a secret is recorded as *** in the runs table.
D=tests/data/params/secret-default.json
CAIRN_SECRET_ROWS=7 "$CAIRN" run "$D" --state "$T/d1" --out "$T/d1" --param input=tests/data/csv/cost10.csv >/dev/null 2>"$T/d1.err" || fail "lazy default: $(cat "$T/d1.err")"
expect_eq "$(sqlite3 "$T/d1/warehouse.db" 'SELECT count(*) FROM cost_record')" 10 "lazy default rows"
st=$("$CAIRN" status secret-default --state "$T/d1")
[[ "$st" == *'params={"input":"tests/data/csv/cost10.csv","rows":"***"}'* ]] || fail "secret default recorded: $st"

# A windowed job expands its variables once: text a parameter brings in is
# never read as a variable again (${env:…} stays literal, "$$" stays "$$",
# an unknown ${b} does not stop ${window.start} from being expanded).
W=tests/data/params/window-template.json
dir="$T/p\$\$q\${env:INPATH}\${b}"
mkdir -p "$dir"
cp tests/data/csv/cost10.csv "$dir/w-2026-11-01T00:00:00Z.csv"
INPATH=/nonexistent "$CAIRN" run "$W" --state "$T/w1" --out "$T/w1" --param "dir=$dir" --from 2026-11-01 --to 2026-11-02 >/dev/null 2>"$T/w1.err" || fail "window template: $(cat "$T/w1.err")"
expect_eq "$(sqlite3 "$T/w1/warehouse.db" 'SELECT count(*) FROM cost_record')" 10 "window template rows"

# Defaults nest at most 16 levels; a deeper (or huge) nesting is refused
# at once, in bounded memory.
nest() { # nest N OUT: the declared job with a path nested N defaults deep
  python3 - "$J" "$1" "$2" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); n = int(sys.argv[2])
j["name"] = "nest"; del j["params"]
j["source"]["path"] = "${param:a:-" * n + "x" + "}" * n
json.dump(j, open(sys.argv[3], "w"))
PY
}
# The memory bound (1 GB of address space) cannot apply under ASan, which
# reserves terabytes of shadow memory up front (make asan).
limit="ulimit -v 1000000"
ldd "$CAIRN" 2>/dev/null | has libasan && limit=:
for n in 17 100000; do
  nest $n "$T/nest.json"
  set +e; err=$($limit; "$CAIRN" validate "$T/nest.json" 2>&1 >/dev/null); rc=$?; set -e
  expect_eq "$rc" 2 "nesting $n"
  [[ "$err" == "$T/nest.json:"*": /source/path: variable defaults nested more than 16 levels deep" ]] || fail "nesting $n: ${err:0:300}"
done
nest 16 "$T/nest.json"
# (accepted: its path, "x", is not there, which the dry run finds: exit 3)
set +e; out=$("$CAIRN" run "$T/nest.json" --dry-run --state "$T/n16" --out "$T/n16" 2>/dev/null); rc=$?; set -e
expect_eq "$rc" 3 "16 levels"
[[ "$out" == *"would stop (exit 3): x: no such file"* ]] || fail "16 levels: $out"

# Two sinks writing the same output are refused at load.
mkdir "$T/sinks"
cp sinks/warehouse.json "$T/sinks/"
jq '.name="other"' sinks/warehouse.json >"$T/sinks/other.json"
jq '.sinks=["warehouse","other"]' "$J" >"$T/two.json"
set +e; err=$(CAIRN_SINKS="$T/sinks" "$CAIRN" validate "$T/two.json" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "two sinks, one output"
[[ "$err" == "$T/two.json:"*': /sinks/1: sink "other" writes where /sinks/0 ("warehouse") does' ]] || fail "same output: $err"
# The same when one spells out the default the other leaves out
# ("path": "warehouse.db"), or names a bundle's directory by its alias
# "path"; a sink of its own file passes.
cp sinks/evidence.json "$T/sinks/"
jq -n '{name: "implicit", type: "sqlite"}' >"$T/sinks/implicit.json"
jq -n '{name: "alias", type: "bundle", path: "evidence"}' >"$T/sinks/alias.json"
jq -n '{name: "own", type: "sqlite", path: "own.db"}' >"$T/sinks/own.json"
for pair in warehouse:implicit evidence:alias; do
  a=${pair%%:*} b=${pair#*:}
  jq --arg a "$a" --arg b "$b" '.sinks=[$a, $b]' "$J" >"$T/pair.json"
  set +e; err=$(CAIRN_SINKS="$T/sinks" "$CAIRN" validate "$T/pair.json" 2>&1 >/dev/null); rc=$?; set -e
  expect_eq "$rc" 2 "$a and $b, one output"
  [[ "$err" == "$T/pair.json:"*": /sinks/1: sink \"$b\" writes where /sinks/0 (\"$a\") does" ]] || fail "same output ($pair): $err"
done
# The same file spelt another way: "./warehouse.db", "out//./x.db", or
# through a symlinked directory (in the --out dir, or $CAIRN_OUT for
# validate): compared by canonical path, not by string.
jq -n '{name: "dotted", type: "sqlite", path: "./warehouse.db"}' >"$T/sinks/dotted.json"
jq -n '{name: "real", type: "sqlite", path: "real/x.db"}' >"$T/sinks/real.json"
jq -n '{name: "linked", type: "sqlite", path: "link//./x.db"}' >"$T/sinks/linked.json"
jq -n --arg p "$T/lo/real/x.db" '{name: "abs", type: "sqlite", path: $p}' >"$T/sinks/abs.json"
mkdir -p "$T/lo/real"
ln -s real "$T/lo/link"
for pair in warehouse:dotted implicit:dotted real:linked abs:linked; do
  a=${pair%%:*} b=${pair#*:}
  jq --arg a "$a" --arg b "$b" '.sinks=[$a, $b]' "$J" >"$T/pair.json"
  set +e; err=$(CAIRN_OUT="$T/lo" CAIRN_SINKS="$T/sinks" "$CAIRN" validate "$T/pair.json" 2>&1 >/dev/null); rc=$?; set -e
  expect_eq "$rc" 2 "$a and $b, one output"
  [[ "$err" == "$T/pair.json:"*": /sinks/1: sink \"$b\" writes where /sinks/0 (\"$a\") does" ]] || fail "same output ($pair): $err"
  set +e; err=$(CAIRN_SINKS="$T/sinks" "$CAIRN" run "$T/pair.json" --param input=fixtures/demo/cost.csv \
    --state "$T/lo/s" --out "$T/lo" 2>&1 >/dev/null); rc=$?; set -e
  expect_eq "$rc" 2 "$a and $b, one output: run"
  [[ "$err" == "$T/pair.json:"*": /sinks/1: sink \"$b\" writes where /sinks/0 (\"$a\") does" ]] || fail "same output, run ($pair): $err"
done
jq '.sinks=["warehouse", "own", "evidence"]' "$J" >"$T/own.json"
CAIRN_SINKS="$T/sinks" "$CAIRN" validate "$T/own.json" >/dev/null 2>"$T/err" || fail "sinks of their own: $(cat "$T/err")"
# The run's summary names each sink's output, a default left out too: a
# run of one window names its bundle.
jq '.sinks=["implicit", "alias"]' "$J" >"$T/defaults.json"
out=$(CAIRN_SINKS="$T/sinks" "$CAIRN" run "$T/defaults.json" --param input=fixtures/demo/cost.csv \
  --state "$T/d" --out "$T/d" 2>/dev/null) || fail "run with default outputs: $out"
[[ "$out" == *" Output: implicit -> $T/d/warehouse.db. Also alias -> $T/d/evidence/params-demo/params-demo-all-19700101T000000Z.tar."* ]] || fail "summary outputs: $out"

# A backfill longer than 100000 windows is refused, not cut short.
jq '.window="day"' "$J" >"$T/day.json"
set +e; err=$("$CAIRN" run "$T/day.json" --param input=x --from 1970-01-01 --to 2300-01-01 --dry-run --state "$T/b" --out "$T/b" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "too many windows"
[[ "$err" == *"--from 1970-01-01 --to 2300-01-01 covers more than 100000 windows"* ]] || fail "too many windows: $err"
