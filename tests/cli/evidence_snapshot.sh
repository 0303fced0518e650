#!/usr/bin/env bash
# The evidence export (sqlite source -> signed bundle) reads one snapshot
# of the warehouse per window, checked with the stock sqlite3, tar,
# zstdcat and jq:
# 1. a reload of the exported month (delete the month's rows, insert them
#    again with new rowids and another status, in two transactions, as a
#    replace_partition reload does chunk by chunk) while the export is
#    stopped between its chunks: the bundle holds exactly the month as it
#    was when the export read its first chunk, never a mix of the two;
# 2. a run killed between its chunks and resumed after such a reload is
#    refused (exit 3, "rerun with --fresh"), and --fresh then exports the
#    month as it is now;
# 3. a run killed between its chunks and resumed with the month unchanged
#    (a row of another month changed meanwhile) finishes the same bundle
#    bytes as an uninterrupted run.
source "$(dirname "$0")/../lib.sh"

"$CAIRN" run jobs/demo-policy.json --log-level warn --state "$T/state" \
  --out "$T/out" >/dev/null 2>"$T/load.log" \
  || fail "demo-policy load failed: $(tail -n 3 "$T/load.log")"
WH0="$T/out/warehouse.db"
openssl genpkey -algorithm ed25519 -out "$T/key.pem" 2>/dev/null
BUNDLE_REL=out/evidence/evidence-export/evidence-export-2024-05.tar
MAY="evaluatedAtUtc >= '2024-05-01T00:00:00Z' AND evaluatedAtUtc < '2024-06-01T00:00:00Z'"
COLS="policyId, requirementId, status, evidenceRef, evaluatedAtUtc, resourceId"

# export_may DIR WAREHOUSE [extra args]: May in chunks of 4 rows (14 rows:
# 4 chunks), state and output under DIR. With EXEC=1 (in a subshell), the
# subshell becomes the run, so that its pid is the run's.
export_may() {
  local d=$1 wh=$2; shift 2
  mkdir -p "$d"
  export CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$(cat "$T/key.pem")"
  ${EXEC:+exec} "$CAIRN" run jobs/evidence-export.json --from 2024-05 --to 2024-06 \
    --param warehouse="$wh" --param chunk_rows=4 --state "$d/state" \
    --out "$d/out" --log-level warn "$@" >>"$d/stdout" 2>>"$d/log"
}
# table WAREHOUSE: May's rows as they are now, in rowid order, as the
# bundle's records are (keys sorted).
table() {
  sqlite3 -json "$1" "SELECT $COLS FROM policy_posture WHERE $MAY ORDER BY rowid" |
    jq -c '.[] | to_entries | sort_by(.key) | from_entries'
}
# records BUNDLE: its records, in part order.
records() {
  local x; x=$(mktemp -d "$T/x.XXXXXX")
  tar -xf "$1" -C "$x"
  [ "$(jq -r .totals.parts "$x/manifest.json")" = 0 ] ||
    for ((i = 1; i <= $(jq -r .totals.parts "$x/manifest.json"); i++)); do
      zstdcat "$x/parts/2024-05/$i.ndjson.zst"
    done | jq -c 'to_entries | sort_by(.key) | from_entries'
}
# reload WAREHOUSE: May's rows deleted and inserted again, with new rowids
# and every Compliant row now NonCompliant, in two transactions.
reload() {
  sqlite3 "$1" ".timeout 20000" \
    "CREATE TEMP TABLE v2 AS SELECT $COLS FROM policy_posture WHERE $MAY ORDER BY rowid" \
    "UPDATE v2 SET status = 'NonCompliant' WHERE status = 'Compliant'" \
    "BEGIN" "DELETE FROM policy_posture WHERE $MAY" \
    "INSERT INTO policy_posture($COLS) SELECT $COLS FROM v2 WHERE rowid <= 7 ORDER BY rowid" \
    "COMMIT" \
    "INSERT INTO policy_posture($COLS) SELECT $COLS FROM v2 WHERE rowid > 7 ORDER BY rowid"
}
copy() { sqlite3 "$WH0" ".backup '$1'"; }

# The uninterrupted reference, and the month after a reload.
copy "$T/ref.db"
export_may "$T/ref" "$T/ref.db" || fail "reference export: $(tail -n 3 "$T/ref/log")"
REF="$T/ref/$BUNDLE_REL"
BEFORE=$(table "$T/ref.db")
[ "$(records "$REF")" = "$BEFORE" ] || fail "reference bundle vs the table"
expect_eq "$(echo "$BEFORE" | wc -l)" 14 "May rows"
copy "$T/after.db"; reload "$T/after.db"
AFTER=$(table "$T/after.db")
expect_eq "$(echo "$AFTER" | wc -l)" 14 "May rows after the reload"
[ "$AFTER" != "$BEFORE" ] || fail "the reload changed nothing"

# 1. Stopped after its second chunk while the month is reloaded, then
#    continued: the month as it was at the first chunk.
for point in extracted:1 extracted:2 sink_loaded:3; do
  d="$T/stop-${point/:/-}"; wh="$d.db"; copy "$wh"
  (export CAIRN_TEST_KILL_SIGNAL=STOP CAIRN_TEST_KILL_AT=$point; EXEC=1 export_may "$d" "$wh") &
  p=$!
  wait_stopped $p "the export did not stop at $point"
  reload "$wh" || { kill -CONT $p; fail "$point: reload beside the stopped export"; }
  [ "$(table "$wh")" = "$AFTER" ] || fail "$point: the table after the reload"
  kill -CONT $p
  rc=0; wait $p || rc=$?
  expect_eq "$rc" 0 "$point: export after the reload: $(tail -n 3 "$d/log")"
  got=$(records "$d/$BUNDLE_REL")
  [ "$got" = "$AFTER" ] && fail "$point: the bundle has the reload, read after the first chunk"
  [ "$got" = "$BEFORE" ] || fail "$point: the bundle is a mix of the two versions: $(echo "$got" | wc -l) records, $(echo "$got" | grep -c '"status":"Compliant"') Compliant (before the reload: 14 and $(echo "$BEFORE" | grep -c '"status":"Compliant"'), after: 14 and 0)"
  expect_eq "$(sha256sum < "$d/$BUNDLE_REL")" "$(sha256sum < "$REF")" "$point: bundle bytes"
done

# 2. Killed after its second chunk, the month reloaded, resumed: refused,
#    resumable only with --fresh; nothing written. --fresh exports the
#    month as it is now.
d="$T/changed"; wh="$d.db"; copy "$wh"
rc=0; CAIRN_TEST_KILL_AT=extracted:2 export_may "$d" "$wh" || rc=$?
expect_eq "$rc" 137 "changed: killed"
reload "$wh"
rc=0; export_may "$d" "$wh" || rc=$?
expect_eq "$rc" 3 "changed: resume after the reload"
has -- '--fresh' "$d/stdout" || fail "changed: no --fresh advice: $(cat "$d/stdout")"
has "policy_posture changed since this window.s first chunk was read (then 14 rows up to rowid 16, now 14 up to rowid 42)" "$d/log" ||
  fail "changed: the error does not say the table changed: $(tail -n 3 "$d/log")"
[ ! -e "$d/$BUNDLE_REL" ] || fail "changed: a bundle was written"
rc=0; export_may "$d" "$wh" || rc=$?
expect_eq "$rc" 3 "changed: refused again"
export_may "$d" "$wh" --fresh || fail "changed: --fresh: $(tail -n 3 "$d/log")"
[ "$(records "$d/$BUNDLE_REL")" = "$AFTER" ] || fail "changed: --fresh bundle records are not the table's"
copy "$T/after2.db"; reload "$T/after2.db"
export_may "$T/after-ref" "$T/after2.db" || fail "after-ref export"
expect_eq "$(sha256sum < "$d/$BUNDLE_REL")" "$(sha256sum < "$T/after-ref/$BUNDLE_REL")" \
  "changed: --fresh bundle bytes"

# 3. Killed between chunks and resumed with May unchanged: a June row
#    changed meanwhile, which is not in the window. The same bytes as the
#    uninterrupted run.
for point in extracted:1 extracted:2 transformed:3 sink_loaded:2; do
  d="$T/same-${point/:/-}"; wh="$d.db"; copy "$wh"
  rc=0; CAIRN_TEST_KILL_AT=$point export_may "$d" "$wh" || rc=$?
  expect_eq "$rc" 137 "$point: killed"
  sqlite3 "$wh" "UPDATE policy_posture SET status = 'Unknown' WHERE evaluatedAtUtc = '2024-06-02T08:00:58Z'"
  export_may "$d" "$wh" || fail "$point: resume with May unchanged: $(tail -n 3 "$d/log")"
  expect_eq "$(sha256sum < "$d/$BUNDLE_REL")" "$(sha256sum < "$REF")" "$point: resumed bundle bytes"
done
echo "evidence_snapshot: ok"
