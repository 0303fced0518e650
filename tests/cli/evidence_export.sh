#!/usr/bin/env bash
# The monthly evidence recipe end to end: load the policy fixture into a
# warehouse (jobs/demo-policy.json), export May 2024 with
# jobs/evidence-export.json (sqlite source -> signed bundle), and check the
# bundle with stock tools (tar, zstdcat, jq, sqlite3, openssl) and with
# cairn verify; a rerun, in the same state dir or a fresh one, gives a
# byte-identical tar; a missing warehouse or signing key fails cleanly;
# docs/evidence.md shows the shipped sink definition and contract.
source "$(dirname "$0")/../lib.sh"

WH="$T/out/warehouse.db"
"$CAIRN" run jobs/demo-policy.json --log-level warn --state "$T/state" \
  --out "$T/out" >/dev/null 2>"$T/load.log" \
  || fail "demo-policy load failed: $(tail -n 3 "$T/load.log")"
[ -f "$WH" ] || fail "no warehouse at $WH"
expect_eq "$(sqlite3 "$WH" 'SELECT count(*) FROM policy_posture')" 28 \
  "warehouse rows (30 evaluations, 2 keys re-evaluated in June)"

openssl genpkey -algorithm ed25519 -out "$T/key.pem" 2>/dev/null
openssl pkey -in "$T/key.pem" -pubout -out "$T/pub.pem"
FPR=$(openssl pkey -pubin -in "$T/pub.pem" -outform DER | sha256sum | cut -d' ' -f1)

# export DIR [extra args]: the recipe's command, state and output under DIR.
export_may() {
  local d=$1; shift
  CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$(cat "$T/key.pem")" \
    "$CAIRN" run jobs/evidence-export.json --from 2024-05 --to 2024-06 \
      --param warehouse="$WH" --state "$d/state" --out "$d/out" \
      --log-level warn "$@" >"$d/stdout" 2>>"$d/log"
}
BUNDLE_REL=out/evidence/evidence-export/evidence-export-2024-05.tar

mkdir -p "$T/a"
export_may "$T/a" || fail "export failed: $(tail -n 3 "$T/a/log")"
B="$T/a/$BUNDLE_REL"
[ -f "$B" ] || fail "no bundle at $B"
[ "$(ls "$T/a/out/evidence/evidence-export")" = "evidence-export-2024-05.tar" ] \
  || fail "one month, one bundle: $(ls "$T/a/out/evidence/evidence-export")"

# Stock tools: the listing, the records, the count against the warehouse.
expect_eq "$(tar -tf "$B" | tr '\n' ' ')" \
  "manifest.json manifest.sig parts/2024-05/1.ndjson.zst " "tar listing"
mkdir "$T/x" && tar -xf "$B" -C "$T/x"
WANT=$(sqlite3 "$WH" "SELECT count(*) FROM policy_posture WHERE
  evaluatedAtUtc >= '2024-05-01T00:00:00Z' AND evaluatedAtUtc < '2024-06-01T00:00:00Z'")
expect_eq "$WANT" 14 "May rows in the warehouse"
(
  cd "$T/x"
  zstdcat parts/2024-05/*.ndjson.zst | jq -c . > records.ndjson \
    || fail "parts are not zstd NDJSON"
  expect_eq "$(wc -l < records.ndjson)" "$WANT" "bundle records vs sqlite3 count"
  expect_eq "$(jq -r .totals.records manifest.json)" "$WANT" "manifest total"
  expect_eq "$(jq -r '.window.key, .contract.name, .job, .logical_time' \
                 manifest.json | tr '\n' ' ')" \
    "2024-05 policy_posture evidence-export 2024-06-01T00:00:00Z " "manifest"
  expect_eq "$(jq -r .signature.public_key_sha256 manifest.json)" "$FPR" "key"
  # Every record is in May, has exactly the contract's keys, no _rowid.
  expect_eq "$(jq -r 'select(.evaluatedAtUtc < "2024-05-01T00:00:00Z"
                      or .evaluatedAtUtc >= "2024-06-01T00:00:00Z")' \
                 records.ndjson)" "" "records outside May"
  expect_eq "$(jq -c 'keys' records.ndjson | sort -u)" \
    '["evaluatedAtUtc","evidenceRef","policyId","requirementId","resourceId","status"]' \
    "record keys"
  # Same rows as the warehouse, in rowid order, NULL evidenceRef as null.
  sqlite3 -json "$WH" "SELECT policyId, requirementId, status, evidenceRef,
      evaluatedAtUtc, resourceId FROM policy_posture
      WHERE evaluatedAtUtc >= '2024-05-01T00:00:00Z'
        AND evaluatedAtUtc < '2024-06-01T00:00:00Z' ORDER BY rowid" |
    jq -c '.[] | to_entries | sort_by(.key) | from_entries' > want.ndjson
  jq -c 'to_entries | sort_by(.key) | from_entries' records.ndjson > got.ndjson
  cmp -s want.ndjson got.ndjson || fail "records differ from the warehouse: $(diff want.ndjson got.ndjson | head -5)"
  [ "$(jq -r 'select(.evidenceRef == null) | .status' records.ndjson | sort -u | tr '\n' ' ')" \
    = "Exempt Unknown " ] || fail "null evidenceRef rows"
  openssl pkeyutl -verify -pubin -inkey "$T/pub.pem" -rawin -in manifest.json \
    -sigfile manifest.sig >/dev/null || fail "openssl does not verify manifest.sig"
)
"$CAIRN" verify "$B" --pubkey "$T/pub.pem" > "$T/summary" \
  || fail "cairn verify failed: $(cat "$T/summary")"
grep -qx "records:      $WANT" "$T/summary" || fail "verify records: $(cat "$T/summary")"

# Reruns give the same bytes: a fresh state and output dir, the same state
# dir again (a new attempt rewrites the window), and small chunks (more
# parts, same records).
SUM=$(sha256sum < "$B")
mkdir -p "$T/b"
export_may "$T/b" || fail "fresh rerun failed: $(tail -n 3 "$T/b/log")"
expect_eq "$(sha256sum < "$T/b/$BUNDLE_REL")" "$SUM" "fresh rerun tar sha256"
export_may "$T/a" || fail "rerun in place failed: $(tail -n 3 "$T/a/log")"
expect_eq "$(sha256sum < "$B")" "$SUM" "rerun-in-place tar sha256"
mkdir -p "$T/c"
export_may "$T/c" --param chunk_rows=4 || fail "chunked export failed: $(tail -n 3 "$T/c/log")"
"$CAIRN" verify "$T/c/$BUNDLE_REL" --pubkey "$T/pub.pem" > "$T/summary.c" \
  || fail "chunked bundle does not verify"
grep -qx "parts:        4" "$T/summary.c" || fail "chunked parts: $(cat "$T/summary.c")"
expect_eq "$(tar -xOf "$T/c/$BUNDLE_REL" --wildcards 'parts/*' | zstdcat | jq -c . | sha256sum)" \
  "$(sha256sum < "$T/x/records.ndjson")" "chunked records"

# Killed after chunk 2 was extracted (its page spooled) and after it was
# loaded, then resumed: the same bytes as the 4-part reference.
CSUM=$(sha256sum < "$T/c/$BUNDLE_REL")
for point in extracted:2 sink_loaded:2 loaded:3; do
  d="$T/kill-${point/:/-}"; mkdir -p "$d"
  set +e; CAIRN_TEST_KILL_AT="$point" export_may "$d" --param chunk_rows=4; rc=$?; set -e
  [ $rc -eq 137 ] || fail "$point: expected SIGKILL (137), got $rc"
  export_may "$d" --param chunk_rows=4 || fail "$point: resume failed: $(tail -n 3 "$d/log")"
  expect_eq "$(sha256sum < "$d/$BUNDLE_REL")" "$CSUM" "$point: resumed tar"
done

# The table may change under a killed run: a chunk already extracted is
# decoded from its spooled page, never read again, and the resume checks
# that the month's rows are still the ones its first chunk was read from
# (tests/cli/evidence_snapshot.sh has more). Chunk 2 (rowids 5, 7, 8, 9)
# is spooled, then a June row (rowid 6) changes: the resumed bundle is the
# uninterrupted run's. Then, killed again, row 7 of May changes: the
# resume is refused (exit 3, --fresh), and --fresh exports the new value.
WH2="$T/wh2.db"
sqlite3 "$WH" ".backup '$WH2'"
spool_run() { # spool_run DIR [args]: May of $WH2 in chunks of 4
  local d=$1; shift
  CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$(cat "$T/key.pem")" \
    "$CAIRN" run jobs/evidence-export.json --from 2024-05 --to 2024-06 \
    --param warehouse="$WH2" --param chunk_rows=4 --state "$d/state" \
    --out "$d/out" --log-level warn "$@" >"$d/stdout" 2>>"$d/log"
}
d="$T/spool"; mkdir -p "$d"
rc=0; CAIRN_TEST_KILL_AT=extracted:2 spool_run "$d" || rc=$?
[ $rc -eq 137 ] || fail "spool: expected SIGKILL (137), got $rc"
sqlite3 "$WH2" "UPDATE policy_posture SET status = 'NonCompliant' WHERE rowid = 6"
spool_run "$d" || fail "spool: resume failed: $(tail -n 3 "$d/log")"
expect_eq "$(sha256sum < "$d/$BUNDLE_REL")" "$CSUM" "spool: resumed tar"
rc=0; CAIRN_TEST_KILL_AT=extracted:2 spool_run "$d" || rc=$?
[ $rc -eq 137 ] || fail "spool: expected SIGKILL (137) again, got $rc"
sqlite3 "$WH2" "UPDATE policy_posture SET status = 'NonCompliant' WHERE rowid = 7"
rc=0; spool_run "$d" || rc=$?
expect_eq "$rc" 3 "spool: resume after a May row changed"
has -- "--fresh" "$d/stdout" || fail "spool: no --fresh advice: $(cat "$d/stdout")"
spool_run "$d" --fresh || fail "spool: --fresh: $(tail -n 3 "$d/log")"
expect_eq "$(tar -xOf "$d/$BUNDLE_REL" --wildcards 'parts/*' | zstdcat | jq -r 'select(.evaluatedAtUtc == "2024-05-07T22:15:09Z" and .status != "Exempt") | .status')" \
  NonCompliant "spool: --fresh exports the changed row"

# Another range is another backfill: exporting April..May after May alone
# re-exports May (attempts are numbered per job, so the second range's
# attempt never passes for the one that loaded May, which it once skipped
# as "already loaded in this attempt").
WH3="$T/wh3.db"
sqlite3 "$WH" ".backup '$WH3'"
d="$T/ranges"; mkdir -p "$d"
CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$(cat "$T/key.pem")" \
  "$CAIRN" run jobs/evidence-export.json --from 2024-05 --to 2024-06 \
  --param warehouse="$WH3" --state "$d/state" --out "$d/out" \
  --log-level warn >/dev/null 2>>"$d/log" || fail "ranges: May: $(tail -n 3 "$d/log")"
expect_eq "$(sha256sum < "$d/$BUNDLE_REL")" "$SUM" "ranges: May alone"
sqlite3 "$WH3" "UPDATE policy_posture SET status = 'NonCompliant' WHERE rowid = 7"
CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$(cat "$T/key.pem")" \
  "$CAIRN" run jobs/evidence-export.json --from 2024-04 --to 2024-06 \
  --param warehouse="$WH3" --state "$d/state" --out "$d/out" \
  --log-level info >/dev/null 2>>"$d/log" || fail "ranges: April..May: $(tail -n 3 "$d/log")"
grep -q "already loaded in this attempt" "$d/log" && fail "ranges: May skipped"
[ "$(sha256sum < "$d/$BUNDLE_REL")" != "$SUM" ] || fail "ranges: May not re-exported"
expect_eq "$(tar -xOf "$d/$BUNDLE_REL" parts/2024-05/1.ndjson.zst | zstdcat | grep -c NonCompliant)" \
  "$(sqlite3 "$WH3" "SELECT count(*) FROM policy_posture WHERE status='NonCompliant' AND
     evaluatedAtUtc >= '2024-05-01T00:00:00Z' AND evaluatedAtUtc < '2024-06-01T00:00:00Z'")" \
  "ranges: May's bundle has the changed row"
# Days inside months: the run covers the whole of each month they touch,
# and says so.
CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$(cat "$T/key.pem")" \
  "$CAIRN" run jobs/evidence-export.json --from 2024-05-10 --to 2024-05-20 \
  --param warehouse="$WH3" --state "$d/state" --out "$d/out" \
  --log-level info >/dev/null 2>"$d/mid.log" || fail "ranges: mid-May: $(tail -n 3 "$d/mid.log")"
grep -q -- '--from 2024-05-10 --to 2024-05-20: a monthly job loads whole months' "$d/mid.log" || fail "ranges: no note on whole months"
grep -q '"window":"2024-05"' "$d/mid.log" || fail "ranges: mid-May did not run the window 2024-05"

# Failures: a missing warehouse is an I/O error naming the file (exit 3,
# resumable); without the signing key the job refuses to run (exit 2:
# the evidence job sets require_signature).
mkdir -p "$T/nowh"
set +e
CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$(cat "$T/key.pem")" \
  "$CAIRN" run jobs/evidence-export.json --from 2024-05 --to 2024-06 \
  --param warehouse="$T/nope/warehouse.db" --state "$T/nowh/state" \
  --out "$T/nowh/out" >/dev/null 2>"$T/nowh/log"
rc=$?
set -e
expect_eq "$rc" 3 "missing warehouse exit code"
grep -q "$T/nope/warehouse.db" "$T/nowh/log" || fail "error does not name the warehouse: $(cat "$T/nowh/log")"
[ ! -e "$T/nope" ] || fail "read-only source created something"
mkdir -p "$T/nokey"
set +e
(unset CAIRN_SECRET_EVIDENCE_SIGNING_KEY
 "$CAIRN" run jobs/evidence-export.json --from 2024-05 --to 2024-06 \
   --param warehouse="$WH" --state "$T/nokey/state" --out "$T/nokey/out" \
   >/dev/null 2>"$T/nokey/log")
rc=$?
set -e
expect_eq "$rc" 2 "no signing key: exit code"
grep -q "EVIDENCE_SIGNING_KEY" "$T/nokey/log" || fail "no-key error: $(cat "$T/nokey/log")"
[ ! -e "$T/nokey/$BUNDLE_REL" ] || fail "unsigned bundle written"
# The stock-tool checks of docs/evidence.md ("Do the parts match the
# manifest?" and the zstd -t hint), run as written: silent and exit 0 on
# May's bundle and on April's, which has no parts (a month with nothing
# recorded), and they name a part whose bytes were changed.
doc_step3() { # the shell block of step 3, as docs/evidence.md prints it
  sed -n '/^3\. \*\*Do the parts match the manifest/,/^4\. /{/^   ```sh$/,/^   ```$/p}' \
    docs/evidence.md | sed '1d;$d;s/^   //'
}
doc_zstd_t() { # the command in "(`...` also checks each part's built-in checksum"
  grep -o '(`[^`]*` also checks' docs/evidence.md | sed 's/^(`//;s/` also.*//'
}
STEP3=$(doc_step3); ZSTD_T=$(doc_zstd_t)
[ -n "$STEP3" ] && [ -n "$ZSTD_T" ] || fail "docs/evidence.md: step 3 not found"
mkdir -p "$T/april"
CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$(cat "$T/key.pem")" \
  "$CAIRN" run jobs/evidence-export.json --from 2024-04 --to 2024-05 \
    --param warehouse="$WH" --state "$T/april/state" --out "$T/april/out" \
    --log-level warn >/dev/null 2>"$T/april/log" || fail "April: $(tail -n 3 "$T/april/log")"
mkdir "$T/april/x"
tar -xf "$T/april/out/evidence/evidence-export/evidence-export-2024-04.tar" -C "$T/april/x"
expect_eq "$(jq -r .totals.parts "$T/april/x/manifest.json")" 0 "April: no parts"
for x in "$T/april/x" "$T/x"; do
  out=$(cd "$x" && bash -c "$STEP3" 2>&1) || fail "docs step 3 fails in $x: $out"
  expect_eq "$out" "" "docs step 3 output in $x"
  out=$(cd "$x" && bash -c "$ZSTD_T" 2>&1) || fail "docs zstd -t fails in $x: $out"
done
cp -r "$T/x" "$T/x-bad"
printf 'x' | dd of="$T/x-bad/parts/2024-05/1.ndjson.zst" bs=1 seek=20 conv=notrunc 2>/dev/null
out=$(cd "$T/x-bad" && bash -c "$STEP3" 2>&1) || true
case "$out" in *"parts/2024-05/1.ndjson.zst: sha256 differs"*) ;;
  *) fail "docs step 3 does not name the changed part: $out" ;; esac
# A backfill of two months killed in the second (CAIRN_TEST_KILL_AT's
# third part names the window: chunk 1 of June, not May's chunk 1): May's
# bundle is finished and June's is resumed; both are the bytes of an
# uninterrupted run.
two() { # two DIR [args]: May and June into DIR
  local d=$1; shift
  CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$(cat "$T/key.pem")" \
    "$CAIRN" run jobs/evidence-export.json --from 2024-05 --to 2024-07 \
      --param warehouse="$WH" --param chunk_rows=4 --state "$d/state" \
      --out "$d/out" --log-level warn "$@" >/dev/null 2>>"$T/two.log"
}
two "$T/two-ref" || fail "two months: $(tail -n 3 "$T/two.log")"
BD=out/evidence/evidence-export
for point in loaded:1:2024-06 sink_loaded:2:2024-06; do
  d="$T/two-${point//:/-}"
  set +e; CAIRN_TEST_KILL_AT=$point two "$d"; rc=$?; set -e
  expect_eq "$rc" 137 "two months: killed at $point"
  [ -f "$d/$BD/evidence-export-2024-05.tar" ] || fail "$point: May is not finished: the kill was not in June"
  [ ! -f "$d/$BD/evidence-export-2024-06.tar" ] || fail "$point: June finished before the kill"
  two "$d" || fail "two months: resume after $point: $(tail -n 3 "$T/two.log")"
  for m in 05 06; do
    expect_eq "$(sha256sum < "$d/$BD/evidence-export-2024-$m.tar")" \
      "$(sha256sum < "$T/two-ref/$BD/evidence-export-2024-$m.tar")" "$point: 2024-$m tar"
  done
done
# docs/evidence.md stays true to what ships: the sink definition it shows
# is sinks/evidence.json, and its example manifest's contract is the
# cost_record schema's id and version.
expect_eq "$(sed -n '/^Sink definition (the shipped/,/^```$/p' docs/evidence.md |
             sed -n '/^{/,/^}/p' | jq -S -c .)" \
  "$(jq -S -c . sinks/evidence.json)" "docs/evidence.md: sink definition"
expect_eq "$(sed -n '/^## The manifest/,/^```$/{/^```json/,/^```$/p}' docs/evidence.md |
             sed '1d;$d' | jq -c '.contract | [.id, .version]')" \
  "$(jq -c '[."$id", ."x-cairn-version"]' schemas/contracts/cost_record.schema.json)" \
  "docs/evidence.md: example contract"
echo "evidence_export: ok"
