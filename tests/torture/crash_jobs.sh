#!/usr/bin/env bash
# Crash torture of every shipped job that runs offline (crash_demo.sh
# covers jobs/demo-cost.json in depth): each HTTP connector replayed from
# its recording (fixtures/<job>.har, the params of
# tests/data/connectors/<job>.env), the ServiceNow jobs against a loopback
# Table API serving their recordings' records (a sorted watermark's resume
# asks what no recording holds), the cost exports over their local run
# folders and from Azure Storage (tests/cli/blob_server.py, in pieces),
# demo-policy, the signed evidence export of three month windows, the
# Cost Management Query backfills of two month and three day windows;
# second rounds: Entra users (delta link), ServiceNow CMDB (watermark),
# and four jobs run again (a new attempt takes their windows over); the
# DLQ (Entra users refusing two departments, kept rejects in its delta
# round; demo-policy over malformed records; a ServiceNow record rejected
# at the mark), an evidence bundle beside the warehouse, the sink's
# append mode. Each is run once uninterrupted; then, from the same
# starting point, killed with SIGKILL at the kill points
# (CAIRN_TEST_KILL_AT, docs/internals/runner.md#test-hooks) of the first
# two chunks and the last of every window, and at seeded random instants,
# and run again until it ends. Every time the warehouse (.dump), the
# state (chunks loaded exactly once, windows, the incremental state in
# kv, the DLQ), the outputs the runs' records name, the spool (nothing
# left) and the evidence bundles (bytes) must equal the uninterrupted
# run's.
source "$(dirname "$0")/../lib.sh"
# Some 1,000 runs: on tmpfs, where the syncs that end each window cost
# nothing (a SIGKILL loses nothing the kernel was given either way), when
# there is one. lib.sh's cleanup removes $T whichever it is.
if shm=$(mktemp -d /dev/shm/cairn-test.XXXXXX 2>/dev/null); then rmdir "$T"; T=$shm; fi
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export CAIRN_TEST_FAST_RETRY=1   # recorded 429s are accounted, not slept

openssl genpkey -algorithm ed25519 -out "$T/key.pem" 2>/dev/null
KEY=$(cat "$T/key.pem")

# What must not change with kills: the warehouse, the state store's
# chunks, windows, kv and DLQ (not its run records or attempt numbers),
# every bundle's name and bytes.
# With ROWS set (a sorted watermark's resume asks its query again from
# the largest mark loaded, so its pages are not the uninterrupted run's),
# the contract's rows, each chunk loaded once, and the windows' status.
snap() { # DIR
  local d=$1 f
  if [ -n "${ROWS:-}" ]; then
    sqlite3 "$d/out/warehouse.db" "SELECT * FROM $(jq -r .transform.contract "${A[0]}")" | sort
    sqlite3 "$d/state/cairn.db" \
      "SELECT 'chunks', min(stage), min(load_count), max(load_count) FROM chunks;
       SELECT 'window', job, window, status FROM windows ORDER BY 2, 3;"
  else
    [ -f "$d/out/warehouse.db" ] && sqlite3 "$d/out/warehouse.db" .dump
    sqlite3 "$d/state/cairn.db" \
      "SELECT 'chunk', job, window, seq, stage, records, rejects, load_count, digest, contract FROM chunks ORDER BY 2, 3, 4;
       SELECT 'window', job, window, status, n_chunks, records, rejects, pending, logical_time FROM windows ORDER BY 2, 3;"
  fi
  # the audit trail: each window loaded, with its digest, in a run's outputs
  # (a run killed after it finished its attempt, before its record ended,
  # has them in its windows' rows, as cairn status shows them: the next
  # run would mark it killed and copy them into its record)
  local out="o.value->>'window', o.value->>'chunks', o.value->>'chunk_digest'"
  [ -z "${ROWS:-}" ] || out="o.value->>'window'"
  sqlite3 "$d/state/cairn.db" "SELECT DISTINCT 'output', $out FROM runs, json_each(coalesce(runs.outputs,
    (SELECT json_group_array(json(output)) FROM windows w WHERE w.job=runs.job
     AND w.run_id=runs.run_id AND output IS NOT NULL))) o ORDER BY 2"
  # (a resume that asks again from the mark meets its rejects in other
  # chunks: with ROWS, the DLQ's records, not their chunks)
  local at="seq, position,"
  [ -z "${ROWS:-}" ] || at=""
  sqlite3 "$d/state/cairn.db" \
    "SELECT 'kv', job, key, value FROM kv ORDER BY 2, 3;
     SELECT 'dlq', job, window, $at reasons, raw, key FROM quarantine ORDER BY 2, 3, 4, 5, 6;
     SELECT 'kept', job, window, seq, position, reasons, raw, key FROM quarantine_kept ORDER BY 2, 3, 4, 5;"
  # no spooled page left behind (unless kept). (A kill between the mark
  # of a cost export's window and the deletion of its downloads leaves
  # them to the export's next run: docs/internals/cost-export.md.)
  (cd "$d/state" && find spool -type f 2>/dev/null | sort | sed 's/^/left /')
  if [ -d "$d/out/evidence" ]; then
    (cd "$d/out/evidence" && find . -type f | sort | while read -r f; do echo "$f $(sha256sum < "$f")"; done)
  fi
}

# A scenario sets A, the job file and arguments of the run under torture
# (state and output directories aside), and the secrets it needs.
connector() { # NAME: the job NAME with its connector params, replayed
  local PARAMS=()
  source "tests/data/connectors/$1.env"
  A=("jobs/$1.json" --replay "fixtures/$1.har" "${PARAMS[@]}")
}
COST_RUN=$(ls -d fixtures/cost-export/focus/*/*/*)
EA_RUN=$(ls -d fixtures/cost-export/ea/*/*/*)
BLOB_PATH=$(python3 -c 'import json, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
print("/cost/" + m["blobs"][0]["blobName"].strip().rsplit("/", 1)[0])' "$COST_RUN")
SAS='sv=2022-11-02&ss=b&srt=co&sp=rl&se=2030-01-01T00:00:00Z&spr=https&sig=s3cr3tS1gnature%3D'
cost_local() { A=(jobs/azure-cost-export.json --param input="$COST_RUN" --param chunk_rows=2); }
cost_ea() { A=(jobs/azure-cost-export-ea.json --param input="$EA_RUN" --param chunk_rows=3); }
# The same export in Azure Storage (tests/cli/blob_server.py honours Range
# as Azure does: a download killed part way continues where it stopped),
# downloaded in 1000-byte pieces.
python3 tests/cli/blob_server.py "$COST_RUN" cost /dev/null >"$T/blob.out" 2>/dev/null &
wait_for $! grep -q '^listening ' "$T/blob.out" || true
BLOB_URL=$(sed -n 's/^listening //p' "$T/blob.out")
[ -n "$BLOB_URL" ] || fail "blob_server.py did not start"
cost_blob() {
  export CAIRN_TEST_PIECE_BYTES=1000
  A=(jobs/azure-cost-export.json --param chunk_rows=3 --param input="$BLOB_URL$BLOB_PATH?$SAS")
}
policy() { A=(jobs/demo-policy.json --param chunk_rows=7); }
# A backfill of three day windows of two pages each (the Cost Management
# Query job made daily, tests/data/backfill/cost_query_har.py)
python3 tests/data/backfill/cost_query_har.py day 2024-05-01 2024-05-04 "$T/days.har" --pages
jq '.window = "day"' jobs/azure-cost-query.json >"$T/cost-days.json"
cost_days() {
  connector azure-cost-query
  A=("$T/cost-days.json" --replay "$T/days.har" "${A[@]:3:6}" --from 2024-05-01 --to 2024-05-04)
}
evidence() {
  export CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$KEY"
  A=(jobs/evidence-export.json --from 2024-04 --to 2024-07 --param warehouse="$T/policy-wh.db"
     --param chunk_rows=5)
}
# The sink's append mode (no shipped job uses it): a resume must not
# insert a chunk the warehouse holds again.
jq '.sinks = [{"name": "warehouse", "mode": "append"}]' jobs/azure-policy-states.json >"$T/policy-append.json"
policy_append() { connector azure-policy-states; A[0]=$T/policy-append.json; }
# The DLQ under kills: the Entra users job refusing two departments
# (rejects in the full round, some dropped by the delta round's rows of
# the same users, new ones in it) and demo-policy over an input with
# malformed records.
jq '.transform.fields.department = {"from": "/department", "fn": [{"lookup":
      {"Product Operations": "Product Operations", "Retail": "Retail", "IT": "IT",
       "Retail Leadership": "Retail Leadership"}}]}' jobs/entra-users.json >"$T/entra-rejects.json"
entra_rejects() { connector entra-users; A[0]=$T/entra-rejects.json; }
# and with an evidence bundle beside the warehouse (signed, as a delta
# job's evidence is)
jq '.sinks += ["evidence"]' "$T/entra-rejects.json" >"$T/entra-bundle.json"
entra_bundle() { connector entra-users; A[0]=$T/entra-bundle.json; export CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$KEY"; }
sed -e '3s/.*/{"policyId": "broken/' -e '8s/"status":"[A-Za-z]*"/"status":7/' \
    -e '17s/"evaluatedAtUtc":"[^"]*"/"evaluatedAtUtc":"yesterday"/' \
    fixtures/policy/policy-states.ndjson >"$T/policy-rejects.ndjson"
jq '.transform.max_reject_ratio = 0.2' jobs/demo-policy.json >"$T/policy-rejects.json"
policy_rejects() { A=("$T/policy-rejects.json" --param chunk_rows=7 --param input="$T/policy-rejects.ndjson"); }
# go DIR [env...]: one run of A into DIR. With EXEC set (a run in the
# background), the run replaces the subshell, so that its pid is cairn's.
go() {
  local d=$1; shift
  # shellcheck disable=SC2086 # CRASH_ARGS: more options, by hand
  ${EXEC:+exec} env "$@" "$CAIRN" run "${A[@]}" ${CRASH_ARGS:-} --state "$d/state" --out "$d/out" \
    --log-level warn >>"$d/stdout" 2>>"$d/log"
}

# The ServiceNow jobs (watermark.sorted) run against a loopback Table API
# (tests/cli/servicenow_server.py) serving the records of their
# recordings: the resumed window's requests are not recorded ones.
# servicenow-cmdb's second run finds the records of the recording's
# second run changed or added.
sn_data() { # HAR OUT [MARK]: the records of HAR's pages asked from MARK (all: none)
  python3 - "$@" <<'PY'
import json, sys, urllib.parse
har, out, mark = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None
recs, table = {}, None
for e in json.load(open(har))["log"]["entries"]:
    u = urllib.parse.urlsplit(e["request"]["url"])
    q = urllib.parse.parse_qs(u.query).get("sysparm_query", [""])[0]
    if e["response"]["status"] != 200 or (mark and not q.startswith("sys_updated_on>=" + mark)):
        continue
    table = u.path.rsplit("/", 1)[-1]
    for r in json.loads(e["response"]["content"]["text"])["result"]:
        recs[r["sys_id"]] = r
json.dump({table: list(recs.values())}, open(out, "w"))
PY
}
sn_server() { # DATA: sets SN_URL
  python3 tests/cli/servicenow_server.py "$1" /dev/null >"$1.out" 2>/dev/null &
  wait_for $! grep -q '^listening ' "$1.out" || true
  SN_URL=$(sed -n 's/^listening //p' "$1.out")
  [ -n "$SN_URL" ] || fail "servicenow_server.py did not start"
}
sn_data fixtures/servicenow-incidents.har "$T/sn-incidents.json"
sn_data fixtures/servicenow-cmdb.har "$T/sn-cmdb1.json" "1970-01-01 00:00:00"
sn_data fixtures/servicenow-cmdb.har "$T/sn-cmdb2.json"
sn_server "$T/sn-incidents.json"; SN_INCIDENTS=$SN_URL
# and with a record the mapping rejects, the last of page 1: at the mark
# the resume asks again from, so met again
jq '.incident |= map(if .sys_id | startswith("68e1dd") then .sys_class_name = {"bad": 1} else . end)' \
  "$T/sn-incidents.json" >"$T/sn-rejects.json"
sn_server "$T/sn-rejects.json"; SN_REJECTS=$SN_URL
sn_server "$T/sn-cmdb1.json"; SN_CMDB1=$SN_URL
sn_server "$T/sn-cmdb2.json"; SN_CMDB2=$SN_URL
servicenow() { # JOB URL
  export CAIRN_SECRET_SN_USER=cairn.integration CAIRN_SECRET_SN_PASSWORD=test-only-sn-password ROWS=1
  A=("jobs/$1.json" --param instance_url="$2" --param page_size=3)
}

# the evidence export reads a warehouse of its own, never written again
mkdir -p "$T/policy-src"
policy; go "$T/policy-src" || fail "demo-policy for the evidence export: $(tail -n 3 "$T/policy-src/log")"
cp "$T/policy-src/out/warehouse.db" "$T/policy-wh.db"

# The incremental rounds start from the state of a first round.
mkdir -p "$T/entra-round1" "$T/entra-rejects1" "$T/entra-bundle1" "$T/cmdb-round1"
connector entra-users; go "$T/entra-round1" || fail "entra-users first round"
entra_rejects; go "$T/entra-rejects1" || fail "entra-users first round with rejects"
entra_bundle; go "$T/entra-bundle1" || fail "entra-users first round with a bundle"
servicenow servicenow-cmdb "$SN_CMDB1"; go "$T/cmdb-round1" || fail "servicenow-cmdb first run"

SCENARIOS=()
for har in fixtures/*.har; do
  name=$(basename "$har" .har)
  case $name in servicenow-*) continue ;; esac
  [ -f "jobs/$name.json" ] && SCENARIOS+=("$name|connector $name|")
done
SCENARIOS+=("entra-users-delta|connector entra-users|$T/entra-round1"
            "entra-users-rejects|entra_rejects|"
            "entra-users-rejects-delta|entra_rejects|$T/entra-rejects1"
            "entra-users-bundle|entra_bundle|"
            "entra-users-bundle-delta|entra_bundle|$T/entra-bundle1"
            "demo-policy-rejects|policy_rejects|"
            "servicenow-incidents|servicenow servicenow-incidents $SN_INCIDENTS|"
            "servicenow-incidents-rejects|servicenow servicenow-incidents $SN_REJECTS|"
            "servicenow-cmdb|servicenow servicenow-cmdb $SN_CMDB1|"
            "servicenow-cmdb-run2|servicenow servicenow-cmdb $SN_CMDB2|$T/cmdb-round1"
            "cost-query-days|cost_days|"
            "azure-policy-states-append|policy_append|"
            "cost-export-focus|cost_local|" "cost-export-ea|cost_ea|"
            "cost-export-blob|cost_blob|" "demo-policy|policy|"
            "evidence-export|evidence|")
# The same runs again, from the state the first left: a new attempt
# takes over each window the last one loaded (every sink forgets it first).
# (A backfill into replace_partition, an upsert over HTTP, a file, bundles.)
SCENARIOS+=("azure-cost-query-again|connector azure-cost-query|$T/azure-cost-query-ref"
            "jira-issues-again|connector jira-issues|$T/jira-issues-ref"
            "demo-policy-again|policy|$T/demo-policy-ref"
            "evidence-export-again|evidence|$T/evidence-export-ref")

start() { # DIR FROM: a fresh run directory, holding FROM's state and output
  rm -rf "$1"; mkdir -p "$1"
  if [ -n "$2" ]; then cp -a "$2/state" "$2/out" "$1/"; fi
}

# finished DIR BEFORE: has a run finished an attempt that BEFORE (the
# output of done_attempts) did not list? (A run ends its attempt after its
# last window; the next run of the spec starts the next attempt.)
done_attempts() {
  [ -f "$1/state/cairn.db" ] || return 0
  sqlite3 -readonly "$1/state/cairn.db" "SELECT spec, attempt FROM attempts WHERE status='done' ORDER BY 1" 2>/dev/null || true
}
finished() { [ -n "$(comm -13 <(echo "$2") <(done_attempts "$1"))" ]; }

# By hand, a wider search: CRASH_SEED, CRASH_RANDOM (random kills per
# job), CRASH_DOUBLE=1 (each resume killed again at the next point),
# CRASH_SIGNAL=TERM (a stop instead of a kill), CRASH_FAULT=1 (an
# injected failure, CAIRN_TEST_FAULT, at each chunk instead), CRASH_ARGS (more options
# for every run, e.g. --keep-raw), ONLY="LABEL..." (those scenarios)
RANDOM=${CRASH_SEED:-11}
RANDOM_KILLS=${CRASH_RANDOM:-2}
HOOK=CAIRN_TEST_KILL_AT KILLS="extracted transformed sink_loaded loaded"
[ -z "${CRASH_FAULT:-}" ] || HOOK=CAIRN_TEST_FAULT KILLS="extract sink_load state_loaded"
kills=0
for sc in "${SCENARIOS[@]}"; do
  IFS='|' read -r label setup from <<<"$sc"
  [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $label "* ]] || continue
  unset ROWS CAIRN_TEST_PIECE_BYTES
  $setup
  ref="$T/$label-ref"; start "$ref" "$from"
  t0=$(date +%s%N)
  go "$ref" || fail "$label: uninterrupted run: $(tail -n 3 "$ref/log")"
  span_us=$(( ($(date +%s%N) - t0) / 1000 ))
  want=$(snap "$ref")
  # every chunk loaded once, every window loaded
  job=$(sqlite3 "$ref/state/cairn.db" "SELECT job FROM runs ORDER BY started DESC LIMIT 1")
  expect_eq "$(sqlite3 "$ref/state/cairn.db" "SELECT count(*) FROM windows WHERE job='$job' AND status != 'loaded'")" 0 "$label: windows loaded"
  points=()
  while IFS='|' read -r w n; do
    for seq in $(seq 1 "$n"); do
      # the first two chunks and the last of a window (every chunk with
      # CRASH_ALL=1): a chunk's batch is taken back for the one after next
      [ -n "${CRASH_ALL:-}" ] || [ "$seq" -le 2 ] || [ "$seq" -eq "$n" ] || continue
      for p in $KILLS; do points+=("$p:$seq:$w"); done
    done
    [ -n "${CRASH_FAULT:-}" ] || points+=("window:$n:$w" "window_loaded:$n:$w")
  done < <(sqlite3 "$ref/state/cairn.db" "SELECT window, n_chunks FROM windows WHERE job='$job' ORDER BY window")
  for ((k = 0; k < ${#points[@]}; k++)); do
    kp=${points[k]}
    d="$T/$label-kill"; start "$d" "$from"
    set +e; go "$d" "$HOOK=$kp" CAIRN_TEST_KILL_SIGNAL="${CRASH_SIGNAL:-KILL}" 2>/dev/null; rc=$?; set -e
    # (a stop, CRASH_SIGNAL=TERM, ends the run before its next chunk, when
    # it has one; an injected fault, CRASH_FAULT=1, fails it: exit 3)
    [ $rc -eq 137 ] || [ -n "${CRASH_SIGNAL:-}" -a \( $rc -eq 3 -o $rc -eq 0 \) ] ||
      [ -n "${CRASH_FAULT:-}" -a $rc -eq 3 ] || fail "$label $kp: expected SIGKILL (137), got $rc: $(tail -n 3 "$d/log")"
    if [ -n "${CRASH_DOUBLE:-}" ] && [ $((k + 1)) -lt ${#points[@]} ]; then
      set +e; go "$d" CAIRN_TEST_KILL_AT="${points[k+1]}" 2>/dev/null; rc=$?; set -e
      [ $rc -eq 137 ] || [ $rc -eq 0 ] || fail "$label $kp, then ${points[k+1]}: exit $rc: $(tail -n 3 "$d/log")"
      kp="$kp, then ${points[k+1]}"
    fi
    [ $rc -eq 0 ] || go "$d" || fail "$label $kp: resume failed: $(tail -n 3 "$d/log")"
    got=$(snap "$d")
    [ "$got" == "$want" ] || { diff <(echo "$want") <(echo "$got") | head -n 20 || true; fail "$label: killed at $kp, then resumed: differs from the uninterrupted run"; }
    kills=$((kills + 1))
  done
  # random instants (every second run killed twice), then the resume
  for i in $(seq 1 "$RANDOM_KILLS"); do
    d="$T/$label-random"; start "$d" "$from"
    before=$(done_attempts "$d")
    for round in $(seq 1 $((1 + (i + 1) % 2))); do
      delay=$(( (RANDOM * 32768 + RANDOM) % span_us ))
      EXEC=1 go "$d" &
      pid=$!
      sleep "$(awk -v us="$delay" 'BEGIN { printf "%.6f", us / 1e6 }')"
      kill -9 $pid 2>/dev/null || true
      wait $pid 2>/dev/null || true
      # killed after it had finished its attempt: another run would be
      # the job's next round, which the uninterrupted run did not make
      ! finished "$d" "$before" || break
    done
    finished "$d" "$before" || go "$d" || fail "$label: resume after a kill at ${delay}us failed: $(tail -n 3 "$d/log")"
    got=$(snap "$d")
    [ "$got" == "$want" ] || { diff <(echo "$want") <(echo "$got") | head -n 20 || true; fail "$label: killed at random (${delay}us), then resumed: differs from the uninterrupted run"; }
    kills=$((kills + 1))
  done
  echo "$label: ${#points[@]} kill points + $RANDOM_KILLS random kills, each resumed to the uninterrupted run ($(grep -c '^dlq|' <<<"$want" || true) rejects, $(grep -c '^kept|' <<<"$want" || true) kept)"
done
echo "crash torture of the shipped jobs: $kills kill scenarios"
