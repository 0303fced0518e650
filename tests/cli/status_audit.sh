#!/usr/bin/env bash
# Issue #8 acceptance 3: `cairn status --runs` shows the audit fields of a
# finished, a failed and a resumed run: user, host, job SHA-256, connector
# version, parameters (secrets masked), start and end, outcome and exit
# code, counts, output digests.
source "$(dirname "$0")/../lib.sh"
S=(--state "$T/state" --out "$T/out")
export CAIRN_SECRET_AUDIT_TOKEN="s3cr3t-audit-value"
job="$T/audit-job.json"
# A job whose path parameter comes with a secret-bearing param alongside.
jq '.name="audit-demo" | .source.path="${param:input:-fixtures/demo/cost.csv}" | .description="token ${secret:AUDIT_TOKEN}"' \
  jobs/demo-cost.json > "$job"
mkdir -p "$T/sinks"; cp sinks/*.json "$T/sinks/"
export CAIRN_SINKS="$T/sinks"
"$CAIRN" run "$job" "${S[@]}" --param chunk_rows=500 >/dev/null 2>&1 || fail "finished run"
set +e
CAIRN_TEST_FAULT=sink_load:2 "$CAIRN" run "$job" "${S[@]}" --param chunk_rows=500 --fresh >/dev/null 2>&1
rc=$?
set -e
expect_eq "$rc" 3 "failed run exit"
"$CAIRN" run "$job" "${S[@]}" --param chunk_rows=500 >/dev/null 2>&1 || fail "resumed run"
json=$("$CAIRN" status audit-demo --runs 3 --json "${S[@]}")
expect_eq "$(jq '.runs | length' <<<"$json")" 3 "three runs"
expect_eq "$(jq -r '[.runs[] | "\(.status):\(.exit_code):\(.resumed)"] | join(" ")' <<<"$json")" \
  "done:0:1 failed:3:0 done:0:0" "outcome, exit code, resumed (newest first)"
sha=$(sha256sum < "$job" | cut -d' ' -f1)
expect_eq "$(jq -r '[.runs[].job_sha256] | unique | join(",")' <<<"$json")" "$sha" "job file digest"
expect_eq "$(jq -r '.runs[0].connector_version' <<<"$json")" "1.0.0" "connector version"
expect_eq "$(jq -r '.runs[0].user' <<<"$json")" "$(id -un)" "user"
expect_eq "$(jq -r '.runs[0].host' <<<"$json")" "$(hostname)" "host"
expect_eq "$(jq -c '.runs[0].params' <<<"$json")" '{"chunk_rows":"500","input":"fixtures/demo/cost.csv"}' "params (an object)"
expect_eq "$(jq '[.runs[] | select(.ended >= .started and .started > 0)] | length' <<<"$json")" 3 "start and end"
expect_eq "$(jq -r '.runs[1].message' <<<"$json")" "injected fault at sink_load of chunk 2" "failure message"
expect_eq "$(jq '.runs[0].loaded + .runs[1].loaded' <<<"$json")" 2000 "loaded across failed + resumed"
# the bundle of the window all is named by the run's logical time (the
# job has none: 1970-01-01); the failed run wrote none
BUNDLE=$T/out/evidence/audit-demo/audit-demo-all-19700101T000000Z.tar
expect_eq "$(jq -r '[.runs[] | .outputs | .[0].sinks.evidence.bundle // "none"] | join(" ")' <<<"$json")" \
  "$BUNDLE none $BUNDLE" "bundle paths"
expect_eq "$(jq -r '.runs[0].outputs | .[0].sinks.evidence.sha256' <<<"$json")" \
  "$(sha256sum < "$BUNDLE" | cut -d' ' -f1)" "bundle digest"
[ "$(jq -r '.runs[2].outputs | .[0].chunk_digest' <<<"$json")" != null ] || fail "chunk digest"
text=$("$CAIRN" status audit-demo --runs 3 "${S[@]}")
for want in "failed  exit=3" "(resumed)" "job_sha256=$sha" "connector=1.0.0" "output all: chunk_digest=" "evidence=$BUNDLE evidence.sha256="; do
  grep -qF -- "$want" <<<"$text" || fail "status text lacks [$want]"
done
! grep -rqa "s3cr3t-audit-value" "$T/state" || fail "secret in state"
! grep -qa "s3cr3t-audit-value" <<<"$json$text" || fail "secret in status"
# A failure message quoting outside text (here a path with a newline) is
# one line in the summary, the runs table and the status.
bad=$'no\nsuch-export'
set +e
out=$("$CAIRN" run jobs/azure-cost-export.json --param input="$T/$bad" \
      --state "$T/nl-state" --out "$T/nl-out" 2>/dev/null); rc=$?
set -e
expect_eq "$rc" 3 "missing export exit"
expect_eq "$(grep -c . <<<"$out")" 1 "summary lines"
[[ "$out" == *'no\nsuch-export: No such file or directory'* ]] || fail "summary: [$out]"
json=$("$CAIRN" status azure-cost-export --state "$T/nl-state" --json)
expect_eq "$(jq -r '.runs[0].message' <<<"$json")" "$T/no\\nsuch-export: No such file or directory" "stored message"
# A parameter that is not UTF-8 cannot go into a job (JSON): said so, exit 2.
set +e
err=$("$CAIRN" run jobs/azure-cost-export.json --param input=$'x\xff' \
      --state "$T/nl-state" --out "$T/nl-out" 2>&1 >/dev/null); rc=$?
set -e
expect_eq "$rc" 2 "non-UTF-8 param exit"
expect_eq "$(head -n 1 <<<"$err")" '--param input=x\xff: not valid UTF-8' "non-UTF-8 param"
# A killed run never ends its row: the next run of the job (which holds the
# lock, so nothing else runs) marks it "killed"; status shows no exit code
# for it (exit=-), not 0, and the counts of what it committed before the
# kill (tests/cli/counts_across_kills.sh); until then it shows the run
# "gone" (tests/cli/status_alive.sh).
set +e
CAIRN_TEST_KILL_AT=loaded:1 "$CAIRN" run jobs/demo-cost.json --state "$T/k-state" \
  --out "$T/k-out" >/dev/null 2>&1
set -e
expect_eq "$("$CAIRN" status demo-cost --state "$T/k-state" --json | jq -r '.runs[0].status')" \
  running "killed run before the next"
"$CAIRN" status demo-cost --state "$T/k-state" | has "loaded=2000 rejected=0 chunks=1 redone=0 " ||
  fail "a killed run's counts: $("$CAIRN" status demo-cost --state "$T/k-state" | sed -n 3p)"
"$CAIRN" status demo-cost --state "$T/k-state" | has "gone    exit=- " ||
  fail "no exit code shows as -: $("$CAIRN" status demo-cost --state "$T/k-state" | head -n 2)"
"$CAIRN" run jobs/demo-cost.json --state "$T/k-state" --out "$T/k-out" >/dev/null 2>&1 || fail "resume"
expect_eq "$("$CAIRN" status demo-cost --state "$T/k-state" --json | jq -r '[.runs[].status] | join(" ")')" \
  "done killed" "runs after the resume"

# status and dlq only read the state: a user who may not write it (the
# state belongs to the service's user) reads it all the same, and nothing
# is left behind in it (no -wal/-shm files of the reader's). As root,
# through setpriv, when there is one; skipped otherwise.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  chmod -R go+rX "$T/k-state"; chmod go+rx "$T"
  install -m 755 "$CAIRN" "$T/cairn-ro"
  before=$(ls "$T/k-state")
  nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
  st=$(nobody "$T/cairn-ro" status demo-cost --state "$T/k-state" --json 2>"$T/ro.err") || fail "status as nobody: $(cat "$T/ro.err")"
  expect_eq "$(jq -r '[.runs[].status] | join(" ")' <<<"$st")" "done killed" "status as nobody"
  grep -q "note: no write access to $T/k-state" "$T/ro.err" || fail "no note: $(cat "$T/ro.err")"
  nobody "$T/cairn-ro" dlq demo-cost --state "$T/k-state" >/dev/null 2>"$T/ro.err" || fail "dlq as nobody: $(cat "$T/ro.err")"
  "$CAIRN" status demo-cost --state "$T/k-state" >/dev/null || fail "status as root"
  expect_eq "$(ls "$T/k-state")" "$before" "readers leave no files in the state"
fi

# A job name the state does not know (a typo) is refused, naming the jobs
# it does know, rather than shown as a job with no runs; a job file that
# has not run yet is simply empty.
for cmd in status dlq; do
  set +e; out=$("$CAIRN" $cmd demo-cst --state "$T/k-state" 2>&1); rc=$?; set -e
  expect_eq "$rc" 2 "$cmd of an unknown job: exit"
  expect_eq "$out" "cairn $cmd: no job \"demo-cst\" in the state in $T/k-state: no run of it has started there (a run refused with exit 2 leaves no record); it has runs of: demo-cost" "$cmd of an unknown job"
done
"$CAIRN" status jobs/evidence-export.json --state "$T/k-state" >/dev/null || fail "status of a job file not run yet"
"$CAIRN" dlq jobs/evidence-export.json --state "$T/k-state" >/dev/null || fail "dlq of a job file not run yet"
# A report that cannot be written (a full disk) is a failure, not exit 0.
for cmd in "status demo-cost" "status demo-cost --json" "dlq demo-cost --json"; do
  set +e; err=$("$CAIRN" $cmd --state "$T/k-state" 2>&1 >/dev/full); rc=$?; set -e
  expect_eq "$rc" 3 "$cmd to a full disk: exit"
  [[ "$err" == *"cannot write standard output: No space left on device"* ]] || fail "$cmd to a full disk: $err"
done

# A DLQ depth the store cannot count (its quarantine table unreadable,
# here gone) fails the report naming why, as the runs and windows do; it
# used to print "DLQ depth: 0" and exit 0.
cp -r "$T/state" "$T/q-state"
sqlite3 "$T/q-state/cairn.db" 'DROP TABLE quarantine'
for cmd in "status audit-demo" "status audit-demo --json"; do
  set +e; err=$("$CAIRN" $cmd --state "$T/q-state" 2>&1 >/dev/null); rc=$?; set -e
  expect_eq "$rc" 3 "$cmd, quarantine unreadable: exit"
  [[ "$err" == *"no such table: quarantine"* ]] || fail "$cmd, quarantine unreadable: $err"
done
