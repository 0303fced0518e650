#!/usr/bin/env bash
# Issue #2 acceptance 4: concurrent runs of one job are refused; a lock
# left by a dead process is taken over, with a log line saying so.
source "$(dirname "$0")/../lib.sh"
S=(--state "$T/state" --out "$T/out")
mkdir -p "$T/state/locks"
L="$T/state/locks/demo-cost.lock"

# A live holder: a process holding the flock, its pid in the file.
( echo "$BASHPID 1700000000" > "$L"; exec flock -o "$L" sleep 5 ) &
holder=$!
for _ in $(seq 50); do flock -n "$L" true 2>/dev/null || break; sleep 0.1; done
set +e; err=$("$CAIRN" run jobs/demo-cost.json "${S[@]}" 2>&1 >/dev/null); rc=$?; set -e
kill $holder; wait $holder 2>/dev/null || true
expect_eq "$rc" 2 "exit code while locked"
[[ "$err" == *"job demo-cost is running (pid $holder, since 2023-11-14T22:13:20Z)"* ]] || fail "message: $err"
[ ! -e "$T/out/warehouse.db" ] || fail "the refused run wrote output"

# A stale lock: the file names a process that is gone.
echo "999999 1700000000" > "$L"
"$CAIRN" run jobs/demo-cost.json "${S[@]}" >/dev/null 2>"$T/log" || fail "stale lock not taken over"
grep -q 'taking over stale lock of pid 999999' "$T/log" || fail "no takeover log line: $(cat "$T/log")"
expect_eq "$(sqlite3 "$T/out/warehouse.db" 'SELECT count(*) FROM cost_record')" 2000 rows
