#!/usr/bin/env bash
# A job's incremental state (a delta link, a watermark, an ETag) read or
# staged through a state store that fails. Staging the delta link failed
# with a warning ("cannot stage incremental state") and the run still
# ended "done", exit 0, its window loaded without the link: the next run
# started a full sync, or, for a watermark, read again from the old mark
# what it had loaded (duplicates in append mode). A read that failed was
# taken for "no saved state": a full extraction. Both now fail the chunk
# before its checkpoint (exit 3), and the rerun extracts it again and
# commits the link. Real SQLite failures: a trigger refusing the staging
# write, and a kv whose read fails (a view with malformed JSON).
source "$(dirname "$0")/../lib.sh"
source tests/data/connectors/entra-users.env
export CAIRN_TEST_FAST_RETRY=1
run() { # DIR
  "$CAIRN" run jobs/entra-users.json --replay fixtures/entra-users.har "${PARAMS[@]}" \
    --state "$1/state" --out "$1/out" >>"$1/stdout" 2>>"$1/log"
}
store() { # DIR: a state store (made by another job's run)
  mkdir -p "$1"
  "$CAIRN" run jobs/demo-cost.json --state "$1/state" --out "$1/demo" >/dev/null 2>&1 ||
    fail "demo run"
}
db() { sqlite3 "$1/state/cairn.db" "$2"; }

# Staging fails (the disk was full for that one write).
d="$T/stage"; store "$d"
db "$d" "CREATE TRIGGER no_stage BEFORE UPDATE OF pending ON windows WHEN NEW.pending IS NOT NULL BEGIN SELECT RAISE(ABORT, 'database or disk is full (injected)'); END"
rc=0; run "$d" || rc=$?
expect_eq "$rc" 3 "exit code when the delta link cannot be staged"
has -F 'database or disk is full (injected)' "$d/stdout" || fail "summary: $(cat "$d/stdout")"
expect_eq "$(db "$d" "SELECT status FROM windows WHERE job='entra-users'")" open "window after the failed staging"
expect_eq "$(db "$d" "SELECT count(*) FROM kv WHERE job='entra-users'")" 0 "kv after the failed staging"
db "$d" "DROP TRIGGER no_stage"
run "$d" || fail "rerun: $(tail -n 3 "$d/log")"
db "$d" "SELECT value FROM kv WHERE job='entra-users' AND key='delta'" | has -F 'deltatoken' ||
  fail "the delta link was not committed: $(db "$d" "SELECT * FROM kv")"
expect_eq "$(sqlite3 "$d/out/warehouse.db" 'SELECT count(*), count(DISTINCT userId) FROM identity_user')" "7|7" "rows after the rerun"

# Reading the saved state fails: no full sync in its place.
d="$T/read"; store "$d"
db "$d" "DROP TABLE kv; CREATE VIEW kv(job, key, value) AS SELECT 'entra-users', 'delta', json('not json')"
rc=0; run "$d" || rc=$?
expect_eq "$rc" 3 "exit code when the saved state cannot be read"
has -F 'malformed JSON' "$d/stdout" || fail "summary: $(cat "$d/stdout")"
expect_eq "$(db "$d" "SELECT count(*) FROM chunks WHERE job='entra-users'")" 0 "chunks extracted without the saved state"
echo "ok: incremental state that cannot be read or staged fails the run, resumably"
