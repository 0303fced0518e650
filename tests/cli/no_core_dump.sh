#!/usr/bin/env bash
# A crashing cairn leaves no core file: one held every secret the run had
# read, a $CREDENTIALS_DIRECTORY file's included (which operations.md
# recommends over the environment because environment variables end up in
# crash reports). The core size limit is 0 whatever ulimit -c says, and the
# process is not dumpable; CAIRN_CORE_DUMPS=1 keeps core files for
# debugging.
source "$(dirname "$0")/../lib.sh"
# Under make asan, AddressSanitizer sets the core limit to 0 itself
# (disable_coredump); it leaves the limit to cairn here.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}disable_coredump=0"
mkdir -p "$T/creds" "$T/cwd"
openssl rand -hex 32 > "$T/creds/K"
# A run that blocks: its input is a FIFO no one writes yet.
mkfifo "$T/in.ndjson"
jq --arg p "$T/in.ndjson" '.name = "core-test" | .source.path = $p |
  .transform.pii = {"mail": "hash", "hmac_key": "${secret:K}"}' \
  tests/data/pii/pii-users.json > "$T/job.json"
# start_run DIR [env...]: a blocked run in DIR, its pid in $PID
start_run() {
  local dir=$1; shift
  ( cd "$dir"; ulimit -c unlimited
    exec env CREDENTIALS_DIRECTORY="$T/creds" CAIRN_SCHEMAS="$ROOT/schemas" \
      CAIRN_SINKS="$ROOT/sinks" "$@" "$CAIRN" run "$T/job.json" \
      --state "$dir/state" --out "$dir/out" >"$dir/stdout" 2>"$dir/log" ) &
  PID=$!
  wait_for "$PID" test -e "$dir/state/locks/core-test.lock" || true
}
max_core() { awk '/^Max core file size/ {print $5}' "/proc/$1/limits"; }

start_run "$T/cwd"
expect_eq "$(max_core "$PID")" 0 "the run's core size limit"
kill -SEGV "$PID"; wait "$PID" 2>/dev/null || true
[ -z "$(ls "$T/cwd" | grep '^core')" ] || fail "a core file was written: $(ls "$T/cwd")"

mkdir -p "$T/keep"
start_run "$T/keep" CAIRN_CORE_DUMPS=1
expect_eq "$(max_core "$PID")" unlimited "CAIRN_CORE_DUMPS=1 keeps the limit"
# SIGKILL, which leaves no core: a SIGTERM stops a run blocked opening the
# FIFO only once a writer comes, and one that came and went before the run
# reached the open left it blocked for good (seen once under load).
kill -KILL "$PID"
wait "$PID" 2>/dev/null || true
echo "ok: no core file"
