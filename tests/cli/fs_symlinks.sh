#!/usr/bin/env bash
# Files cairn writes by way of a temp name (path.tmp.PID: the metrics file,
# a HAR recording; path.tmp: a bundle) never follow a symbolic link planted
# at that name: in a directory others may write (a node_exporter textfile
# directory), it made cairn truncate and overwrite the link's target (its
# own warehouse, say) with the file's text.
source "$(dirname "$0")/../lib.sh"
mkdir -p "$T/metrics"
echo "precious" > "$T/victim"
# The temp name carries the pid: exec keeps the subshell's.
(
  ln -s "$T/victim" "$T/metrics/demo-cost.prom.tmp.$BASHPID"
  exec "$CAIRN" run jobs/demo-cost.json --state "$T/state" --out "$T/out" \
    --metrics-dir "$T/metrics" >"$T/stdout" 2>"$T/log"
) || fail "run: $(tail -3 "$T/log")"
expect_eq "$(cat "$T/victim")" "precious" "the metrics file's temp name followed a link"
[ -f "$T/metrics/demo-cost.prom" ] && [ ! -L "$T/metrics/demo-cost.prom" ] || fail "no metrics file"
has '^cairn_run_exit_code' "$T/metrics/demo-cost.prom" || fail "metrics file: $(cat "$T/metrics/demo-cost.prom")"

# A recording of an HTTP job, run against `cairn mock` of its fixture.
source tests/data/connectors/entra-users.env
"$CAIRN" mock fixtures/entra-users.har --listen 127.0.0.1:0 --idle-exit 30 >"$T/mock.out" 2>"$T/mock.err" &
mock=$!
wait_for "$mock" grep -q '^listening ' "$T/mock.out" || true
url=$(sed -n 's/^listening //p' "$T/mock.out")
[ -n "$url" ] || fail "mock did not start: $(cat "$T/mock.err")"
tenant=8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d
(
  ln -s "$T/victim" "$T/rec.har.tmp.$BASHPID"
  exec "$CAIRN" run jobs/entra-users.json --record "$T/rec.har" "${PARAMS[@]}" \
    --param endpoint="$url" --param token_url="$url/$tenant/oauth2/v2.0/token" \
    --state "$T/s2" --out "$T/o2" >"$T/stdout2" 2>"$T/log2"
) || fail "recorded run: $(tail -3 "$T/log2")"
kill $mock 2>/dev/null; wait $mock 2>/dev/null || true
expect_eq "$(cat "$T/victim")" "precious" "the recording's temp name followed a link"
[ -f "$T/rec.har" ] && [ ! -L "$T/rec.har" ] || fail "no recording"
has -F '"entries"' "$T/rec.har" || fail "recording without entries"
# Nor does the job's lock file (it is truncated and rewritten with the
# pid): a link there fails the run instead.
mkdir -p "$T/s3/locks"
ln -s "$T/victim" "$T/s3/locks/demo-cost.lock"
lock_run() { "$CAIRN" run jobs/demo-cost.json --state "$T/s3" --out "$T/o3" >"$T/stdout3" 2>"$T/log3"; }
expect_exit 3 lock_run
has -F 'demo-cost.lock: Too many levels of symbolic links' "$T/log3" || fail "lock message: $(tail -n 1 "$T/log3")"
expect_eq "$(cat "$T/victim")" "precious" "the lock followed a link"
echo "ok: no temp name follows a planted link"
