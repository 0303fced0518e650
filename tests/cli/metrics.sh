#!/usr/bin/env bash
# Metrics: the .prom files cairn writes pass `promtool check metrics`, the
# alerting rules pass `promtool check rules` and fire when they should
# (`promtool test rules`): a file from the registry's unit test and the
# file of a real `cairn run`.
source "$(dirname "$0")/../lib.sh"
unset CAIRN_METRICS_DIR CAIRN_TEST_NOW
RULES=docs/alerts/cairn.rules.yml

# make test installs promtool (make deps: the Debian package prometheus);
# without it this test fails rather than passing without checking anything.
command -v promtool >/dev/null || fail "promtool missing (make deps installs prometheus)"

check_metrics() {   # check_metrics FILE: promtool clean, no lint findings
  local out
  out=$(promtool check metrics < "$1" 2>&1) || fail "promtool check metrics $1: $out"
  [ -z "$out" ] || fail "promtool lint findings for $1: $out"
}

# 1. A file written by the registry itself (a unit test writes it).
UNIT="${CAIRN_UNIT:-$ROOT/build/unit}"
if [ -x "$UNIT" ]; then
  CAIRN_METRICS_SAMPLE="$T/sample/x" "$UNIT" \
    --filter 'metrics/sample_file_for_promtool' >/dev/null 2>&1 \
    || fail "unit binary could not write the sample"
  [ -s "$T/sample/sample-job.prom" ] || fail "no sample .prom written"
  check_metrics "$T/sample/sample-job.prom"
  grep -q '^cairn_http_request_duration_seconds_bucket{job="sample-job",le="+Inf"} 3$' \
    "$T/sample/sample-job.prom" || fail "histogram missing: $(cat "$T/sample/sample-job.prom")"
else
  echo "note: $UNIT not built; registry sample not checked"
fi

# 2. A real run.
S=(--state "$T/state" --out "$T/out")
"$CAIRN" run jobs/demo-cost.json "${S[@]}" --metrics-dir "$T/m" >/dev/null 2>&1 \
  || fail "demo run failed"
P="$T/m/demo-cost.prom"
[ -e "$P" ] || fail "cairn run wrote no $P"
check_metrics "$P"
grep -q '^cairn_run_success{job="demo-cost"} 1$' "$P" || fail "run_success: $(cat "$P")"
grep -q '^cairn_records_total{job="demo-cost",stage="loaded"} 2000$' "$P" \
  || fail "records loaded: $(cat "$P")"
grep -q '^cairn_run_in_progress{job="demo-cost"} 0$' "$P" || fail "in_progress"
ls "$T/m" | has -v '\.prom$' && fail "temp file left: $(ls "$T/m")"
ok_ts=$(sed -n 's/^cairn_last_success_timestamp_seconds{job="demo-cost"} //p' "$P")
[ -n "$ok_ts" ] || fail "no last success time"

# A failed run (fresh attempt, injected sink fault) reports failure but
# keeps the previous success time.
expect_exit 3 env CAIRN_METRICS_DIR="$T/m" CAIRN_TEST_FAULT=sink_load:1 \
  CAIRN_TEST_NOW=$((ok_ts + 3600)) \
  "$CAIRN" run jobs/demo-cost.json "${S[@]}" --fresh >/dev/null 2>&1
check_metrics "$P"
grep -q '^cairn_run_success{job="demo-cost"} 0$' "$P" || fail "failed run: $(cat "$P")"
grep -q '^cairn_run_exit_code{job="demo-cost"} 3$' "$P" || fail "exit code"
grep -q "^cairn_last_success_timestamp_seconds{job=\"demo-cost\"} $ok_ts\$" "$P" \
  || fail "last success time lost by a failed run: $(cat "$P")"

# 3. The alerting rules: syntax, then behaviour on synthetic series.
promtool check rules "$RULES" >/dev/null || fail "promtool check rules $RULES"
cp "$RULES" "$T/cairn.rules.yml"
cat > "$T/rules.test.yml" <<'YAML'
rule_files: [cairn.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'cairn_run_success{instance="h",job="nightly"}'
        values: '1 1 0 0 0 0 0'
      - series: 'cairn_run_in_progress{instance="h",job="nightly"}'
        values: '0 0 0 0 1 0 0'
      - series: 'cairn_circuit_open{instance="h",job="nightly"}'
        values: '0x30 1 0x30'
      - series: 'cairn_dlq_depth{instance="h",job="nightly"}'
        values: '5 5 5 15 15'
    alert_rule_test:
      - eval_time: 1m
        alertname: CairnJobFailed
        exp_alerts: []
      - eval_time: 3m
        alertname: CairnJobFailed
        exp_alerts:
          - exp_labels: {severity: warning, instance: h, job: nightly}
            exp_annotations:
              summary: "cairn job nightly failed on h"
              description: "The last run of nightly failed. Exit code 3 means the checkpoint was kept: see `cairn status nightly`, fix the cause, run it again and it resumes. Runbook: \"A run failed at 3 a.m.\" in docs/operations.md."
      - eval_time: 4m
        alertname: CairnJobFailed
        exp_alerts: []
      - eval_time: 30m
        alertname: CairnCircuitOpen
        exp_alerts: []
      - eval_time: 50m
        alertname: CairnCircuitOpen
        exp_alerts: []
      - eval_time: 35m
        alertname: CairnCircuitOpen
        exp_alerts:
          - exp_labels: {severity: warning, instance: h, job: nightly}
            exp_annotations:
              summary: "cairn job nightly: HTTP circuit breaker open"
              description: "nightly stopped calling its source after repeated failures. Check the source's status page and credentials; the run exits 3 and the next run resumes from its checkpoint."
      - eval_time: 2m
        alertname: CairnDLQGrowing
        exp_alerts: []
      - eval_time: 5m
        alertname: CairnDLQGrowing
        exp_alerts:
          - exp_labels: {severity: warning, instance: h, job: nightly}
            exp_annotations:
              summary: "cairn job nightly quarantined 10 more records in the last day"
              description: "Records of nightly were rejected by the contract and quarantined. `cairn dlq nightly` lists them with the reasons; usually the upstream format changed and the mapping needs a fix."
  - interval: 1m
    input_series:
      - series: 'cairn_last_success_timestamp_seconds{instance="h",job="stale"}'
        values: '0x3100'
      - series: 'cairn_sync_high_water_timestamp_seconds{instance="h",job="stale"}'
        values: '0x3100'
      - series: 'cairn_run_start_timestamp_seconds{instance="h",job="stale"}'
        values: '0x3100'
      - series: 'cairn_run_in_progress{instance="h",job="stale"}'
        values: '0x300 1x2800'
    alert_rule_test:
      - eval_time: 25h
        alertname: CairnNoRecentSuccess
        exp_alerts: []
      - eval_time: 28h
        alertname: CairnNoRecentSuccess
        exp_alerts:
          - exp_labels: {severity: critical, instance: h, job: stale}
            exp_annotations:
              summary: "cairn job stale has not succeeded for 1d 4h 0m 0s"
              description: "No successful run of stale on h for over 26 hours. Check the scheduler (systemctl list-timers, kubectl get cronjob) and `cairn status stale`."
      - eval_time: 47h
        alertname: CairnSyncLagHigh
        exp_alerts: []
      - eval_time: 50h
        alertname: CairnSyncLagHigh
        exp_alerts:
          - exp_labels: {severity: warning, instance: h, job: stale}
            exp_annotations:
              summary: "cairn job stale data is 2d 2h 0m 0s behind"
              description: "The newest data stale has loaded is older than two days. If the source was down, backfill the gap with `cairn run JOB --from DATE --to DATE` (runbook \"Backfill after an outage\")."
      - eval_time: 4h
        alertname: CairnRunStuck
        exp_alerts: []
      - eval_time: 7h
        alertname: CairnRunStuck
        exp_alerts:
          - exp_labels: {severity: warning, instance: h, job: stale}
            exp_annotations:
              summary: "cairn job stale has been running for 7h 0m 0s"
              description: "A run of stale started over six hours ago and has not finished, or it died without writing its final metrics. `cairn status stale` tells which: the run is `running` while its process lives, `gone` once it was killed (also `systemctl status`, `kubectl get pods`); a killed run resumes when run again."
  - interval: 1m
    input_series:
      # failed from its first run on; "fixed" succeeds at 29 h
      - series: 'cairn_run_success{instance="h",job="new"}'
        values: '0x2000'
      - series: 'cairn_run_success{instance="h",job="fixed"}'
        values: '0x1740 1x300'
      - series: 'cairn_last_success_timestamp_seconds{instance="h",job="fixed"}'
        values: '_x1740 104400x300'
    alert_rule_test:
      - eval_time: 25h
        alertname: CairnNeverSucceeded
        exp_alerts: []
      - eval_time: 27h
        alertname: CairnNeverSucceeded
        exp_alerts:
          - exp_labels: {severity: critical, instance: h, job: new}
            exp_annotations:
              summary: "cairn job new has never succeeded"
              description: "Every run of new on h has failed for over 26 hours, and none has ever succeeded. A new job usually lacks a credential, a parameter or network access: see `cairn status new` and the last run's message."
          - exp_labels: {severity: critical, instance: h, job: fixed}
            exp_annotations:
              summary: "cairn job fixed has never succeeded"
              description: "Every run of fixed on h has failed for over 26 hours, and none has ever succeeded. A new job usually lacks a credential, a parameter or network access: see `cairn status fixed` and the last run's message."
      - eval_time: 31h
        alertname: CairnNeverSucceeded
        exp_alerts:
          - exp_labels: {severity: critical, instance: h, job: new}
            exp_annotations:
              summary: "cairn job new has never succeeded"
              description: "Every run of new on h has failed for over 26 hours, and none has ever succeeded. A new job usually lacks a credential, a parameter or network access: see `cairn status new` and the last run's message."
YAML
out=$(cd "$T" && promtool test rules rules.test.yml 2>&1) || fail "promtool test rules: $out"
echo "metrics: ok"
