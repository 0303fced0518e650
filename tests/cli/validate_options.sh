#!/usr/bin/env bash
# cairn validate parses its options as run does: --param K=V and
# --param=K=V, options before or after the files, and an unknown option is
# refused as one, not looked for as a file ("--bogus: No such file or
# directory").
source "$(dirname "$0")/../lib.sh"
J=tests/data/params/declared.json
expect_eq "$("$CAIRN" validate --param=input=tests/data/csv/cost10.csv "$J")" "$J: ok" "--param=K=V"
expect_eq "$("$CAIRN" validate "$J" --param input=tests/data/csv/cost10.csv)" "$J: ok" "--param after the file"
set +e; err=$("$CAIRN" validate --bogus "$J" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "unknown option: exit"
[[ "$err" == *"unrecognized option '--bogus'"*"usage: cairn validate"* ]] || fail "unknown option: [$err]"
[[ "$err" != *"No such file"* ]] || fail "unknown option read as a file: [$err]"
# --param=K=V takes the value as given (it was read as a file name)
set +e; err=$("$CAIRN" validate "--param=inptu=x" "$J" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "--param=inptu=x: exit"
[[ "$err" == *'--param inptu: the job has no parameter "inptu"'* ]] || fail "--param=inptu=x: [$err]"
set +e; err=$("$CAIRN" validate --param 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "--param without a value"
set +e; err=$("$CAIRN" validate --param input=x 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "no file"
[[ "$err" == "cairn validate: missing FILE"* ]] || fail "no file: [$err]"
"$CAIRN" validate --help | has "^usage: cairn validate" || fail "--help"
echo ok
