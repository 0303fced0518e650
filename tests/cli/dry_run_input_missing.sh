#!/usr/bin/env bash
# `cairn run --dry-run` catches an input that is not there, the setup
# mistake a real run would stop on (exit 3, "no such file"): it used to
# print its plan and exit 0, the header check ignoring an input it cannot
# open. Now it names the first window whose input is missing, how many
# more lack theirs, and exits 3 as the run would (a file source, a local
# cost export, a sqlite database); a --replay recording, or a --record
# file that cannot be written, likewise (exit 2 or 3, the real run's); a
# secret that is also
# missing still wins (exit 2: the real run stops there first). It runs
# nothing and writes nothing.
source "$(dirname "$0")/../lib.sh"
S=(--state "$T/s" --out "$T/o" --metrics-dir "$T/m")
dry() {  # JOB ARGS...: sets rc, out (stdout) and err (stderr)
  local job=$1; shift
  set +e; out=$("$CAIRN" run "$job" --dry-run "${S[@]}" "$@" 2>"$T/err"); rc=$?; set -e
  err=$(cat "$T/err")
}
# The reason a real run's log gives for failing, without its advice.
run_failed() {
  jq -r 'select(.level == "error") | .msg | select(startswith("run failed: "))' "$1" |
    sed 's/^run failed: //; s/ (checkpoint kept.*//'
}
MISS="/nope/x.csv: no such file: check the source's path (and the --param that sets it, if any); a file still to come: run again once it is there"

# A file source whose path matches no file: the real run's message.
dry jobs/demo-cost.json --param input=/nope/x.csv
expect_eq "$rc" 3 "missing file: exit"
expect_eq "$out" "demo-cost: would run 1 window (all .. all) from file source into warehouse(sqlite) evidence(bundle) as cost_record; nothing run. A real run would stop (exit 3): $MISS." "missing file: summary"
[[ "$err" == *"$MISS"* ]] || fail "missing file: stderr [$err]"
dry jobs/demo-cost.json --param input=/nope/x.csv --json
expect_eq "$(jq -r '.status, .exit_code' <<<"$out" | tr '\n' ' ')" "dry_run 3 " "--json"
# The same job with its input there: 0, as before.
dry jobs/demo-cost.json
expect_eq "$rc" 0 "input there: exit"

# A day-windowed file job: each window's own path; one of three there.
mkdir -p "$T/in/2024-05-02T00:00:00Z"
cp tests/data/newcomer/saas-invoices.csv "$T/in/2024-05-02T00:00:00Z/x.csv"
jq --arg in "$T/in" '.name = "invoices-daily" | .window = "day" |
    .source.path = $in + "/${window.start}/x.csv"' \
  tests/data/newcomer/saas-invoices.json > "$T/job.json"
dry "$T/job.json" --from 2024-05-01 --to 2024-05-04
expect_eq "$rc" 3 "windowed: exit"
[[ "$out" == *"would stop (exit 3): $T/in/2024-05-01T00:00:00Z/x.csv: no such file"*"(and the input of 1 more window)." ]] ||
  fail "windowed: summary [$out]"
dry "$T/job.json" --from 2024-05-02 --to 2024-05-03
expect_eq "$rc" 0 "windowed, its file there: exit"

# A cost export whose local run folder is not there, or holds no manifest:
# the real run stops on either (exit 3), so its preview says so; one that
# is there previews 0, and a remote one is not asked (no server contacted).
for in in "$T/no-export" tests; do
  dry jobs/azure-cost-export.json --param input="$in"
  expect_eq "$rc" 3 "cost export $in: exit"
  set +e; "$CAIRN" run jobs/azure-cost-export.json --param input="$in" \
    --state "$T/real" --out "$T/real" >/dev/null 2>"$T/real.err"; real=$?; set -e
  expect_eq "$real" 3 "cost export $in: the real run's exit"
  why=$(run_failed "$T/real.err")
  [ -n "$why" ] && [[ "$out" == *"A real run would stop (exit 3): $why." ]] ||
    fail "cost export $in: summary [$out], the run said [$why]"
done
rm -rf "$T/real" "$T/real.err"
dry jobs/azure-cost-export.json --param input=fixtures/cost-export/focus/cairn-focus/20240501-20240531/8c0a5d5e-4d1b-4b0e-9a51-6a1f0e3c2b01
expect_eq "$rc" 0 "cost export there: exit"
dry jobs/azure-cost-export.json --param input=https://127.0.0.1:9/cost/run1
expect_eq "$rc" 0 "remote cost export: exit"

# A --replay recording that is not there (exit 2) or not a HAR (exit 3):
# the real run stops on it as it opens the transport, so the preview says
# so with the real run's code; the shipped recording previews 0.
export CAIRN_SECRET_CLIENT_SECRET=any-value
RG=(--param tenant_id=8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d --param client_id=6731de76-14a6-49ae-97bc-6eba6914391e)
echo 'not a recording' >"$T/bad.har"
for har in "$T/none.har" "$T/bad.har"; do
  set +e; "$CAIRN" run jobs/azure-resource-graph.json "${RG[@]}" --replay "$har" \
    --state "$T/real" --out "$T/real" >/dev/null 2>"$T/real.err"; real=$?; set -e
  why=$(run_failed "$T/real.err")
  dry jobs/azure-resource-graph.json "${RG[@]}" --replay "$har"
  expect_eq "$rc" "$real" "--replay $har: the dry run's exit, the real run's"
  [ -n "$why" ] && [[ "$out" == *"A real run would stop (exit $real): $why." ]] ||
    fail "--replay $har: summary [$out], the run said [$why]"
done
rm -rf "$T/real" "$T/real.err"
dry jobs/azure-resource-graph.json "${RG[@]}" --replay fixtures/azure-resource-graph.har
expect_eq "$rc" 0 "--replay of the shipped recording: exit"
# A --record file whose directory is not there: the real run stops as it
# opens the transport (exit 2), before any request (the endpoints are a
# closed loopback port all the same); the preview says so and leaves no
# file. One it can write previews 0.
LOOP=(--param endpoint=http://127.0.0.1:9 --param token_url=http://127.0.0.1:9/token)
set +e; "$CAIRN" run jobs/azure-resource-graph.json "${RG[@]}" "${LOOP[@]}" --record "$T/no-dir/x.har" \
  --state "$T/real" --out "$T/real" >/dev/null 2>"$T/real.err"; real=$?; set -e
why=$(run_failed "$T/real.err")
dry jobs/azure-resource-graph.json "${RG[@]}" "${LOOP[@]}" --record "$T/no-dir/x.har"
expect_eq "$rc:$real" "2:2" "--record into a missing directory: the dry run's exit, the real run's"
[[ "$why" == "--record $T/no-dir/x.har: cannot write the recording there ("* &&
   "$out" == *"A real run would stop (exit 2): ${why%%(*}("* ]] ||
  fail "--record: summary [$out], the run said [$why]"
rm -rf "$T/real" "$T/real.err"
mkdir "$T/rec"
dry jobs/azure-resource-graph.json "${RG[@]}" "${LOOP[@]}" --record "$T/rec/x.har"
expect_eq "$rc:$(ls -A "$T/rec")" "0:" "--record that can be written: exit, and no file left"
unset CAIRN_SECRET_CLIENT_SECRET

# A sqlite source whose database is not there; with its signing key set.
openssl genpkey -algorithm ed25519 -out "$T/key.pem" 2>/dev/null
export CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$(cat "$T/key.pem")"
dry jobs/evidence-export.json --param warehouse="$T/none.db" --from 2024-01 --to 2024-03
expect_eq "$rc" 3 "sqlite: exit"
[[ "$out" == *"would stop (exit 3): $T/none.db: No such file or directory (the SQLite file of the sqlite source) (and the input of 1 more window)." ]] ||
  fail "sqlite: summary [$out]"
# Without the key as well: the secret is what the run stops on first.
unset CAIRN_SECRET_EVIDENCE_SIGNING_KEY
dry jobs/evidence-export.json --param warehouse="$T/none.db" --from 2024-01 --to 2024-03
expect_eq "$rc" 2 "secret and input missing: exit"
[[ "$out" == *"A real run would stop (exit 2): secret EVIDENCE_SIGNING_KEY is not set." ]] ||
  fail "secret first: [$out]"
[ ! -e "$T/s" ] && [ ! -e "$T/o" ] && [ ! -e "$T/m" ] || fail "a dry run wrote files"
echo ok
