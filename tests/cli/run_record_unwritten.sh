#!/usr/bin/env bash
# A run whose record in the audit trail cannot be completed at its end
# (the state store's disk full for that write) said nothing: `cairn
# status` showed it "running", and after the next run "killed", with no
# counts, whatever it did. It warns now, naming the failure and the
# outcome the record lacks; the exit code stays the run's. A real SQLite
# failure: a trigger refuses the write.
source "$(dirname "$0")/../lib.sh"
S=(--state "$T/state" --out "$T/out")
"$CAIRN" run jobs/demo-cost.json "${S[@]}" >/dev/null 2>&1 || fail "first run"
sqlite3 "$T/state/cairn.db" "CREATE TRIGGER no_end BEFORE UPDATE OF ended ON runs BEGIN SELECT RAISE(ABORT, 'database or disk is full (injected)'); END"
rc=0; "$CAIRN" run jobs/demo-cost.json "${S[@]}" >"$T/stdout" 2>"$T/log" || rc=$?
expect_eq "$rc" 0 "exit code of the run"
has -F 'done. 2000 records loaded' "$T/stdout" || fail "summary: $(cat "$T/stdout")"
has -F "the run's record could not be completed: state $T/state/cairn.db: write: database or disk is full (injected)" "$T/log" ||
  fail "no warning: $(cat "$T/log")"
has -F 'whatever its outcome (exit 0' "$T/log" || fail "the warning lacks the outcome: $(cat "$T/log")"
# recorded as running, its process gone: status says so
expect_eq "$("$CAIRN" status demo-cost "${S[@]}" --json | jq -c '.runs[0] | [.status, .alive]')" \
  '["running",false]' "the run in cairn status"
echo "ok: a run record that cannot be completed is warned of"
