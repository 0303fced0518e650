#!/usr/bin/env bash
# `make install PREFIX=...` installs the binary, schemas, jobs and sinks, and
# the installed binary (and the built one) finds its schemas from anywhere; every subcommand has
# --help; unknown log levels and formats are refused.
source "$(dirname "$0")/../lib.sh"
make -s -o "$CAIRN" install PREFIX="$T/prefix" BIN="$CAIRN" >/dev/null
for f in bin/cairn share/cairn/schemas/job.schema.json \
         share/cairn/schemas/contracts/cost_record.schema.json \
         share/cairn/jobs/demo-cost.json share/cairn/sinks/warehouse.json; do
  [ -e "$T/prefix/$f" ] || fail "not installed: $f"
done
( cd "$T" && ./prefix/bin/cairn validate prefix/share/cairn/jobs/demo-cost.json \
    prefix/share/cairn/sinks/warehouse.json ) >/dev/null || fail "installed validate"
# Built and not installed, run from elsewhere: <tree>/bin/cairn finds
# <tree>/schemas beside it (CAIRN_SCHEMAS unset, no ./schemas there).
if [ "$(dirname "$(readlink -f "$CAIRN")")" = "$ROOT/bin" ]; then
  cp jobs/demo-cost.json "$T/mine.json"
  cp -r sinks "$T/sinks"
  ( cd "$T" && env -u CAIRN_SCHEMAS "$CAIRN" validate mine.json ) >/dev/null ||
    fail "a built binary run from another folder does not find its schemas"
fi
out=$("$CAIRN" --help)
for c in run status validate verify mock dlq decrypt; do
  grep -q "^  $c " <<<"$out" || fail "--help lacks $c"
  help=$("$CAIRN" $c --help) || fail "$c --help exit"
  [[ "$help" == usage:\ cairn\ $c* ]] || fail "$c --help: ${help:0:60}"
  # `cairn help CMD` is CMD's --help (it printed the general usage)
  expect_eq "$("$CAIRN" help $c)" "$help" "cairn help $c"
done
# `cairn help` alone: the general usage, on stdout, exit 0; an unknown
# COMMAND, or two: a usage error.
expect_eq "$("$CAIRN" help)" "$out" "cairn help"
set +e; err=$("$CAIRN" help nonsense 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "cairn help nonsense: exit"
[[ "$err" == 'cairn help: unknown command "nonsense"'* ]] || fail "help nonsense: $err"
expect_exit 2 "$CAIRN" help run status 2>/dev/null
# Whatever a command writes on stdout (its --help, --version, validate's
# "ok" lines), a write that fails (a full disk) is exit 3, not 0.
for cmd in "--help" "help" "--version" "help run" "run --help" "validate --help" \
           "validate jobs/demo-cost.json" "mock --help"; do
  set +e; err=$("$CAIRN" $cmd 2>&1 >/dev/full); rc=$?; set -e
  expect_eq "$rc" 3 "$cmd to a full disk: exit"
  [[ "$err" == *"cannot write standard output: No space left on device"* ]] || fail "$cmd to a full disk: $err"
done
expect_exit 2 "$CAIRN" nonsense 2>/dev/null
# no command at all is a usage error: the usage goes to stderr, as for an
# unknown command, not to stdout (where a script would take it for output)
set +e; out=$("$CAIRN" 2>"$T/usage"); rc=$?; set -e
expect_eq "$rc:$out" "2:" "cairn without a command: exit and stdout"
has '^usage: cairn <command>' "$T/usage" || fail "cairn without a command: no usage on stderr"
expect_exit 2 "$CAIRN" run 2>/dev/null
# An unknown log level or format is refused (exit 2, nothing run), from the
# flag or the environment, naming where it came from and what is accepted.
set +e
err=$("$CAIRN" run jobs/demo-cost.json --log-level loud --state "$T/s" \
      --out "$T/o" 2>&1 >/dev/null); rc=$?
set -e
expect_eq "$rc" 2 "--log-level loud: exit"
expect_eq "$err" 'cairn: --log-level: "loud" is not one of debug, info, warn, error' "bad level"
err=$("$CAIRN" run jobs/demo-cost.json --log-format xml --state "$T/s" \
      --out "$T/o" 2>&1 >/dev/null) && fail "--log-format xml ran"
expect_eq "$err" 'cairn: --log-format: "xml" is not one of json, text' "bad format"
[ ! -e "$T/s" ] && [ ! -e "$T/o" ] || fail "a refused run touched state or out"
err=$(CAIRN_LOG_LEVEL=warning "$CAIRN" status --state "$T/s" 2>&1) && fail "CAIRN_LOG_LEVEL=warning"
expect_eq "$err" 'cairn: CAIRN_LOG_LEVEL: "warning" is not one of debug, info, warn, error' "bad env level"
CAIRN_LOG_LEVEL=warn CAIRN_LOG_FORMAT=text "$CAIRN" run jobs/demo-cost.json \
  --state "$T/s" --out "$T/o" >/dev/null 2>"$T/log" || fail "warn/text run"
grep -q '"level"' "$T/log" && fail "CAIRN_LOG_FORMAT=text still wrote JSON"
grep -q ' info ' "$T/log" && fail "CAIRN_LOG_LEVEL=warn still logged info"
grep -q ' warn ' "$T/log" || fail "no warn line in text format: $(cat "$T/log")"
# status and dlq read the state; pointed at a directory without one (a
# mistyped --state) they say so and exit 2, and create nothing there.
for c in status dlq; do
  set +e; err=$("$CAIRN" $c demo-cost --state "$T/nostate" 2>&1 >/dev/null); rc=$?; set -e
  expect_eq "$rc" 2 "$c without state: exit"
  [[ "$err" == "cairn $c: no state in $T/nostate ("*"nothing has run with this state directory"* ]] ||
    fail "$c without state: [$err]"
  [ ! -e "$T/nostate" ] || fail "$c created $T/nostate"
done
"$CAIRN" status demo-cost --state "$T/s" | has "demo-cost .*done" || fail "status of the run above"
set +e; err=$("$CAIRN" status --runs abc --state "$T/s" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc $err" "2 cairn status: bad --runs 'abc' (a count from 1)" "status --runs abc"
expect_eq "$("$CAIRN" status --runs 1 --json --state "$T/s" | jq '.runs | length')" 1 "status --runs 1"
set +e; err=$("$CAIRN" status demo-cost other --state "$T/s" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc $err" "2 cairn status: one JOB at most (got 'demo-cost' and 'other')" "status with two jobs"
# status and dlq take a job file whose file name is not its name.
cp jobs/demo-cost.json "$T/nightly-costs.json"
"$CAIRN" status "$T/nightly-costs.json" --state "$T/s" | has "demo-cost .*done" ||
  fail "status of a job file named otherwise"
expect_eq "$("$CAIRN" dlq "$T/nightly-costs.json" --state "$T/s" | sed -n 1p)" \
  "0 quarantined records for demo-cost" "dlq of a job file named otherwise"
