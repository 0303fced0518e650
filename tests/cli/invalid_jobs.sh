#!/usr/bin/env bash
# Issue #2 acceptance 3: broken job and sink files each give
# "file:line:col: message" and exit 2, with state/ and out/ untouched.
source "$(dirname "$0")/../lib.sh"
D=tests/data/badjobs
declare -A want=(
  [01-syntax]=":8:21: string or '}' expected near ','"
  [02-unknown-key]=':5:3: /schedule: unknown key "schedule"'
  [03-bad-enum]=':5:13: /window: "weekly" is not one of none, day, month'
  [04-missing-sinks]=':1:1: missing required key "sinks"'
  [05-wrong-type]=':9:19: /source/chunk_rows: expected integer or string, got boolean'
  [06-unknown-source-type]=':6:13: /source/type: "ftp" is not one of file, http, cost_export, sqlite'
  [07-unknown-sink]=':37:26: /sinks/1: unknown sink "lake"'
  [08-undefined-param]=':7:13: /source/path: undefined parameter "input" (pass --param input=VALUE)'
  [09-undefined-secret]=':7:13: /source/path: undefined secret "NOPE_KEY"'
  [10-unknown-contract]=':12:17: /transform/contract: unknown contract "cost_recrd"'
  [11-window-without-window]=':7:13: /source/path: ${window.start} used but the job has no "window"'
  [12-bad-name]=':2:11: /name: "Bad Job" does not match pattern'
  [13-unknown-function]=':27:52: /transform/fields/billedCost/fn/0: unknown function "numbr"'
  [14-unknown-source-key]=':9:5: /source/delimiter: unknown key "delimiter"'
  [15-bad-sink-override]=':37:44: /sinks/0/mode: "merge" is not one of append, upsert, replace_partition'
  [16-bad-variable]=':7:13: /source/path: unknown variable kind "vault"'
  [17-bad-chunk-rows]=':9:19: /source/chunk_rows: chunk_rows must be a positive integer'
  # a key with a newline (found by tests/fuzz/fuzz_job.c): escaped, so the
  # diagnostic stays one line
  [18-control-char-key]=':5:3: /sched\nule: unknown key "sched\nule"'
  # a secret name is a file name under $CREDENTIALS_DIRECTORY, never a path
  [19-secret-path]=':7:13: /source/path: secret name "../../etc/passwd" is not a file name'
  # ${window.*} is expanded per window in the source only
  [20-window-outside-source]=':38:44: /sinks/0/path: ${window.start} is only expanded under "source"'
  # what `cairn run` would refuse later (exit 3, every time) is refused here
  [21-bad-logical-time]=':5:19: /logical_time: "last tuesday" is not an RFC 3339 date-time'
  [22-empty-sink-path]=':37:44: /sinks/0/path: length 0 is less than minLength 1'
  [23-duplicate-sink]=':37:26: /sinks/1: sink "warehouse" is already /sinks/0'
  [24-sink-name-path]=':37:13: /sinks/0: "../jobs/demo-cost" does not match pattern'
  # validate checks a declared parameter with its example: one is required
  [25-param-without-example]=':5:23: /params/rows: missing required key "example"'
  # settings read once per run are never window templates
  # SemVer 2.0, no spaces or control characters (it goes into run records)
  [27-bad-connector-version]=':4:24: /connector_version: "1.0.0-beta 1\u001B[2J" does not match pattern'
  # keys written with \u escapes (a surrogate pair too) are found where
  # they are, not reported at 1:1
  [28-escaped-keys]=':9:49: /source/😀: unknown key "😀"'
  # a mapping that gives every record a value the contract refuses
  [29-const-outside-contract]=':24:25: /transform/fields/chargeCategory: the mapping gives every record the same value, which the contract refuses, so every record would be rejected: chargeCategory: "Refund" is not one of Usage, Purchase, Tax, Credit, Adjustment'
  # a sink mode the contract cannot serve (policy_posture has no
  # x-cairn-partition): refused as the job loads, not once the run opened
  # its sinks, when validate and --dry-run had said it was fine
  [30-mode-without-partition]=':44:15: /sinks/0/mode: mode replace_partition needs x-cairn-partition in the contract, and contract policy_posture has none'
  [26-window-in-redact]=':60:7: /source/redact/0: ${window.start} is only expanded under "source" (not in its tls'
)
n=0
for f in "$D"/[0-9]*.json; do
  name=$(basename "$f" .json)
  [ -n "${want[$name]:-}" ] || fail "no expectation for $name"
  cmds="run validate"
  # validate runs where secrets may not exist: an unset secret is a note
  # there, and an error (exit 2, nothing run) only for `cairn run`.
  [ "$name" != 09-undefined-secret ] || cmds=run
  for cmd in $cmds; do
    set +e
    a=(); [ $cmd = validate ] || a=(--state "$T/state" --out "$T/out")
    err=$("$CAIRN" $cmd "$f" "${a[@]}" 2>&1 >/dev/null)
    rc=$?
    set -e
    [ $rc -eq 2 ] || fail "$cmd $name: exit $rc, want 2 ($err)"
    first=${err%%$'\n'*}
    [[ "$first" == "$f:"[0-9]*:[0-9]*": "* ]] || fail "$cmd $name: not file:line:col: [$first]"
    [[ "$first" == *"${want[$name]}"* ]] || fail "$cmd $name: [$first] lacks [${want[$name]}]"
    # every line of run's refusal is a diagnostic with its position
    while [ "$cmd" = run ] && IFS= read -r l; do
      [[ "$l" == "$f:"[0-9]*:[0-9]*": "* ]] || fail "$cmd $name: not file:line:col: [$l]"
    done <<<"$err"
    [ ! -e "$T/state" ] && [ ! -e "$T/out" ] || fail "$cmd $name: state or out touched"
  done
  n=$((n+1))
done
# Broken sink files, checked on their own.
for f in "$D"/sinks/*.json; do
  set +e; err=$("$CAIRN" validate "$f" 2>&1 >/dev/null); rc=$?; set -e
  [ $rc -eq 2 ] || fail "validate $f: exit $rc"
  [[ "$err" == "$f:"[0-9]*:[0-9]*": "* ]] || fail "validate $f: [$err]"
  n=$((n+1))
done
# With --json a job file that does not load still prints its one summary
# object (a scheduler reading stdout gets status and exit code), the first
# problem as its message; the problems themselves stay on stderr.
set +e
js=$("$CAIRN" run "$D/03-bad-enum.json" --json --state "$T/state" \
     --out "$T/out" 2>"$T/json.err"); rc=$?
set -e
expect_eq "$rc" 2 "--json on an invalid job: exit"
expect_eq "$(jq -c . <<<"$js")" \
  '{"exit_code":2,"job":null,"message":"'"$D"'/03-bad-enum.json:5:13: /window: \"weekly\" is not one of none, day, month","status":"invalid"}' \
  "--json on an invalid job"
grep -q ':5:13: /window:' "$T/json.err" || fail "--json: the problem left stderr"
[ ! -e "$T/state" ] || fail "--json on an invalid job touched the state"
expect_eq "$(grep -c . <<<"$("$CAIRN" validate "$D/ok.json")")" 1 "ok.json validates"
# A UTF-8 byte order mark (Windows editors write one) is dropped:
# positions count from after it, as editors show them.
printf '\xef\xbb\xbf' | cat - "$D/ok.json" >"$T/bom-ok.json"
"$CAIRN" validate "$T/bom-ok.json" >/dev/null || fail "a job file with a BOM"
printf '\xef\xbb\xbf' | cat - "$D/03-bad-enum.json" >"$T/bom-bad.json"
set +e; err=$("$CAIRN" validate "$T/bom-bad.json" 2>&1 >/dev/null); rc=$?; set -e
[ $rc -eq 2 ] && [[ "$err" == "$T/bom-bad.json${want[03-bad-enum]}"* ]] ||
  fail "BOM shifts positions: exit $rc [$err]"
note=$("$CAIRN" validate "$D/09-undefined-secret.json" 2>&1 >/dev/null) || fail "validate with an unset secret"
[[ "$note" == *'note: /source/path: secret "NOPE_KEY" is not set here'* ]] || fail "secret note: $note"
# --dry-run refuses a sink mode the contract cannot serve, as the run does.
set +e; err=$("$CAIRN" run "$D/30-mode-without-partition.json" --dry-run \
  --state "$T/state" --out "$T/out" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "--dry-run, replace_partition into policy_posture: exit"
[[ "$err" == *"${want[30-mode-without-partition]}"* ]] || fail "--dry-run: [$err]"
[ ! -e "$T/state" ] && [ ! -e "$T/out" ] || fail "--dry-run touched state or out"
# One validate lists every schema problem: a misspelt key of the source
# (its keys are checked by the schema of its type) beside one at the top
# (the source's used to be checked only once the rest of the file passed).
jq '.schedule = "nightly" | .source.delimiter = ";"' "$D/ok.json" >"$T/two.json"
set +e; err=$("$CAIRN" validate "$T/two.json" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "two schema problems: exit"
[[ "$err" == *'/schedule: unknown key "schedule"'* && "$err" == *'/source/delimiter: unknown key "delimiter"'* ]] ||
  fail "two schema problems, not both named: [$err]"
echo "$n broken files rejected with file:line:col"
