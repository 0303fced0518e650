#!/usr/bin/env bash
# Azure cost exports end to end (jobs/azure-cost-export*.json over the
# fixtures in fixtures/cost-export/): FOCUS and EA/MCA mappings against
# golden rows; replace_partition idempotency (the same export loaded twice,
# then a corrected re-export: per-subscription totals equal the last
# export's to the last digit, computed independently from the CSVs with
# Python's decimal module); a dataRowCount mismatch ends the run resumably
# (exit 3) naming the blob; a run killed mid-way resumes to the same rows.
# CAIRN_GOLDEN_UPDATE=1 rewrites the goldens (review the diff).
source "$(dirname "$0")/../lib.sh"

G=tests/data/golden
run_dir() { ls -d fixtures/cost-export/"$1"/*/*/*; }
FOCUS=$(run_dir focus)
CORRECTED=$(run_dir focus-corrected)
EA=$(run_dir ea)
MCA=$(run_dir mca)
MISMATCH=$(run_dir mismatch)

# cairn run JOB INPUT DIR [more args]
load() {
  local job=$1 input=$2 dir=$3; shift 3
  "$CAIRN" run "jobs/$job.json" --param input="$input" --state "$dir/state" \
    --out "$dir/out" "$@" >>"$dir/stdout" 2>>"$dir/log"
}

golden() { # golden NAME ACTUAL
  if [ "${CAIRN_GOLDEN_UPDATE:-}" = 1 ]; then
    printf '%s\n' "$2" > "$G/$1"
  fi
  expect_eq "$2" "$(cat "$G/$1")" "golden $1"
}

COLS='recordId, billingAccountId, costScope, costDataset, subscriptionId, resourceId, resourceName,
      resourceType, serviceName, serviceCategory, region, chargeCategory,
      chargePeriodStartUtc, chargePeriodEndUtc, billedCost, effectiveCost,
      listCost, currency, consumedQuantity, consumedUnit, skuPriceId, tags'
# Rows as sqlite3 -json lays them out, decimals as text: as SQLite prints
# them (15 significant digits: exactly as given, for a decimal that has no
# more), or, for a longer one, the shortest text that reads back as the
# stored double (Python's repr), which is the source's own digits
# (0.4838709677419368); sqlite3 -json would print 3.6 as
# 3.6000000000000000888.
rows_json() { python3 tests/cli/cost_runs.py rows "$1/out/warehouse.db" "$COLS"; }

# ---- FOCUS: three partitions (plain, gzip, zip) -> golden rows -----------
mkdir -p "$T/focus"
load azure-cost-export "$FOCUS" "$T/focus" ||
  fail "focus run: $(tail -n 3 "$T/focus/log")"
grep -q "12 records loaded, 0 rejected" "$T/focus/stdout" ||
  fail "focus summary: $(cat "$T/focus/stdout")"
golden cost_export_focus.json "$(rows_json "$T/focus")"

# ---- EA (BOM, MM/dd/yyyy, brace-less tags) and MCA (camelCase, gzip) -----
mkdir -p "$T/ea" "$T/mca"
load azure-cost-export-ea "$EA" "$T/ea" || fail "ea run: $(tail -n 3 "$T/ea/log")"
grep -q "11 records loaded, 0 rejected" "$T/ea/stdout" || fail "ea: $(cat "$T/ea/stdout")"
golden cost_export_ea.json "$(rows_json "$T/ea")"
load azure-cost-export-ea "$MCA" "$T/mca" || fail "mca run: $(tail -n 3 "$T/mca/log")"
grep -q "3 records loaded, 0 rejected" "$T/mca/stdout" || fail "mca: $(cat "$T/mca/stdout")"
golden cost_export_mca.json "$(rows_json "$T/mca")"

# ---- replace_partition: twice the same export, then a corrected one ------
# Expected totals straight from the export's files (through its manifest,
# tests/cli/cost_runs.py), with exact decimals: sum of BilledCost and
# EffectiveCost per subscription.
expected() { python3 tests/cli/cost_runs.py totals "$@"; }
# The same sums from the warehouse, each stored value taken as its exact
# text (tests/cli/cost_runs.py stored_text).
actual() { python3 tests/cli/cost_runs.py stored "$1/out/warehouse.db"; }
mkdir -p "$T/idem"
load azure-cost-export "$FOCUS" "$T/idem" || fail "idem run 1"
first=$(sqlite3 "$T/idem/out/warehouse.db" "SELECT $COLS FROM cost_record ORDER BY recordId")
expect_eq "$(actual "$T/idem")" "$(expected "$FOCUS")" "totals after one load"
load azure-cost-export "$FOCUS" "$T/idem" || fail "idem run 2"
expect_eq "$(sqlite3 "$T/idem/out/warehouse.db" 'SELECT count(*) FROM cost_record')" 12 \
  "the same export loaded twice keeps 12 rows"
expect_eq "$(sqlite3 "$T/idem/out/warehouse.db" "SELECT $COLS FROM cost_record ORDER BY recordId")" \
  "$first" "second load of the same export changes nothing"
expect_eq "$(actual "$T/idem")" "$(expected "$FOCUS")" "totals after loading twice"
load azure-cost-export "$CORRECTED" "$T/idem" || fail "corrected run"
expect_eq "$(actual "$T/idem")" "$(expected "$CORRECTED")" "totals = the corrected export's"
[ "$(expected "$CORRECTED")" != "$(expected "$FOCUS")" ] || fail "corrected fixture changes nothing"
expect_eq "$(sqlite3 "$T/idem/out/warehouse.db" 'SELECT count(*) FROM cost_record')" 12 \
  "corrected export: one line dropped, one added"
# Loaded twice more, in the order corrected -> corrected: still exact.
load azure-cost-export "$CORRECTED" "$T/idem" || fail "corrected run 2"
expect_eq "$(actual "$T/idem")" "$(expected "$CORRECTED")" "corrected, loaded again"

# ---- replace_partition replaces that month of that scope and dataset ----
# (costScope, costDataset, month of chargePeriodStartUtc; runs derived from
# the fixtures by tests/cli/cost_runs.py.)
derive() { python3 tests/cli/cost_runs.py derive "$@"; }
SUB_A=1caaa5a3-2b66-438e-8ab4-bce37d518c5d
SUB_B=$(sqlite3 "$T/idem/out/warehouse.db" "SELECT DISTINCT subscriptionId
  FROM cost_record WHERE subscriptionId <> '$SUB_A'")
[ -n "$SUB_B" ] && [ "$(wc -l <<<"$SUB_B")" = 1 ] || fail "two subscriptions: $SUB_B"
derive "$FOCUS" "$T/runs/sub-a" --scope "/subscriptions/$SUB_A" --sub "$SUB_A"
derive "$FOCUS" "$T/runs/sub-b" --scope "/subscriptions/$SUB_B" --sub "$SUB_B"
derive "$FOCUS" "$T/runs/sub-b2" --scope "/subscriptions/$SUB_B" --sub "$SUB_B" --scale 1.5
# Two subscription-scoped exports of one billing account, same days: each
# keeps its rows, and a re-export of one replaces only its own.
mkdir -p "$T/scope"
load azure-cost-export "$T/runs/sub-a" "$T/scope" || fail "sub-a: $(tail -n 3 "$T/scope/log")"
load azure-cost-export "$T/runs/sub-b" "$T/scope" || fail "sub-b: $(tail -n 3 "$T/scope/log")"
expect_eq "$(actual "$T/scope")" \
  "$( (expected "$T/runs/sub-a"; expected "$T/runs/sub-b") | sort)" \
  "two subscription-scoped exports side by side"
load azure-cost-export "$T/runs/sub-b2" "$T/scope" || fail "sub-b2"
expect_eq "$(actual "$T/scope")" \
  "$( (expected "$T/runs/sub-a"; expected "$T/runs/sub-b2") | sort)" \
  "a re-export of subscription B replaces B's rows only"
expect_eq "$(sqlite3 "$T/scope/out/warehouse.db" "SELECT costScope, count(*)
  FROM cost_record GROUP BY 1 ORDER BY 1")" \
  "$(for r in sub-a sub-b2; do python3 -c 'import json, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
print(m["exportConfig"]["resourceId"].split("/providers/")[0] + "|%d" % m["dataRowCount"])' "$T/runs/$r"; done)" \
  "rows per scope"
# A corrected export that no longer has a whole day: that day's rows go.
derive "$CORRECTED" "$T/runs/no-day" --drop-day 2024-05-02
[ "$(expected "$T/runs/no-day")" != "$(expected "$CORRECTED")" ] || fail "no-day drops nothing"
load azure-cost-export "$T/runs/no-day" "$T/idem" || fail "no-day: $(tail -n 3 "$T/idem/log")"
expect_eq "$(actual "$T/idem")" "$(expected "$T/runs/no-day")" "totals = the export without 2024-05-02"
expect_eq "$(sqlite3 "$T/idem/out/warehouse.db" "SELECT count(*) FROM cost_record
  WHERE chargePeriodStartUtc LIKE '2024-05-02%'")" 0 "the dropped day's rows are gone"
# A one-time export of part of a month (runInfo from 2024-05-02) replaces
# only its days: May 1 keeps what the whole-month export loaded.
derive "$FOCUS" "$T/runs/mid-month" --drop-day 2024-05-01 --start 2024-05-02T00:00:00 --scale 1.5
derive "$FOCUS" "$T/runs/may-1" --only-day 2024-05-01
mkdir -p "$T/mid"
load azure-cost-export "$FOCUS" "$T/mid" || fail "whole May before mid-month"
load azure-cost-export "$T/runs/mid-month" "$T/mid" || fail "mid-month run"
expect_eq "$(actual "$T/mid")" "$(expected "$T/runs/may-1" "$T/runs/mid-month")" \
  "totals = May 1 of the whole month + May 2-31 of the partial export"
expect_eq "$(sqlite3 "$T/mid/out/warehouse.db" "SELECT count(*) FROM cost_record")" 12 \
  "12 rows: 5 of May 1, 7 of the partial export"
grep -q 'declares the days 2024-05-02 to 2024-06-01' "$T/mid/log" ||
  fail "mid-month span not logged: $(grep span "$T/mid/log")"
# A whole-month export after it replaces both loads' rows.
load azure-cost-export "$FOCUS" "$T/mid" || fail "whole May after mid-month"
expect_eq "$(actual "$T/mid")" "$(expected "$FOCUS")" "whole May replaces both"
# Rows dated outside the period the manifest declares (runInfo from
# 2024-05-02, May 1's 5 rows still in the file): a re-run would not
# replace them, so each goes to the DLQ with the reason. The job as
# shipped (max_reject_ratio 1 %) stops, resumably (5 of 12 rejected); a
# job that allows them loads the rest, twice without a dollar twice.
derive "$FOCUS" "$T/runs/late-start" --start 2024-05-02T00:00:00
mkdir -p "$T/late"
expect_exit 3 load azure-cost-export "$T/runs/late-start" "$T/late"
grep -q '5 of 12 records rejected.*The first in this chunk: derived/part_0_0001.csv:2: chargePeriodStartUtc: 2024-05-01 is outside the period' \
  "$T/late/log" || fail "reject guard: $(tail -n 2 "$T/late/log")"
expect_eq "$("$CAIRN" dlq azure-cost-export --state "$T/late/state" --json |
  jq -r '[.[] | .reasons | test("^chargePeriodStartUtc: 2024-05-01 is outside the period its source declares \\(2024-05-02 up to 2024-06-01, exclusive\\)")] | "\(length) \(all)"')" \
  "5 true" "each May 1 row in the DLQ, with the reason"
jq '.transform.max_reject_ratio = 0.5' jobs/azure-cost-export.json > "$T/late-job.json"
for i in 1 2; do
  "$CAIRN" run "$T/late-job.json" --param input="$T/runs/late-start" --state "$T/late2/state" \
    --out "$T/late2/out" >>"$T/late2.stdout" 2>>"$T/late2.log" || fail "lenient run $i: $(tail -n 2 "$T/late2.log")"
done
derive "$FOCUS" "$T/runs/may-2-on" --drop-day 2024-05-01
expect_eq "$(actual "$T/late2")" "$(expected "$T/runs/may-2-on")" \
  "loaded twice: totals = the export's days of its period, once"
# Actual and amortized exports of one enrollment in one warehouse: both
# stay, each replaced only by its own dataset.
derive "$EA" "$T/runs/ea-amortized" --type AmortizedCost --scale 0.75
mkdir -p "$T/views"
load azure-cost-export-ea "$EA" "$T/views" || fail "ea actual"
ea_actual=$(sqlite3 "$T/views/out/warehouse.db" "SELECT $COLS FROM cost_record ORDER BY recordId")
load azure-cost-export-ea "$T/runs/ea-amortized" "$T/views" || fail "ea amortized: $(tail -n 3 "$T/views/log")"
load azure-cost-export-ea "$T/runs/ea-amortized" "$T/views" || fail "ea amortized again"
expect_eq "$(sqlite3 "$T/views/out/warehouse.db" "SELECT costDataset, count(*),
  printf('%.4f', sum(billedCost)) FROM cost_record GROUP BY 1 ORDER BY 1")" \
  "$(sqlite3 "$T/views/out/warehouse.db" "SELECT 'ActualCost', count(*),
     printf('%.4f', sum(billedCost)) FROM cost_record WHERE costDataset='ActualCost'
     UNION ALL SELECT 'AmortizedCost', count(*), printf('%.4f', sum(billedCost) * 0.75)
     FROM cost_record WHERE costDataset='ActualCost'")" \
  "amortized rows (3/4 of the actual cost) beside the actual ones, loaded once"
expect_eq "$(sqlite3 "$T/views/out/warehouse.db" "SELECT $COLS FROM cost_record
  WHERE costDataset='ActualCost' ORDER BY recordId")" "$ea_actual" \
  "the actual rows are untouched by the amortized export"

# ---- a warehouse from cost_record 1.0.0 (no costScope/costDataset) ------
# Its rows cannot be found under the new partition: the load stops before
# anything is loaded (exit 2, what to do); the documented way out (empty
# the table, load again) then works.
mkdir -p "$T/v1"
load azure-cost-export "$FOCUS" "$T/v1" || fail "v1 seed"
sqlite3 "$T/v1/out/warehouse.db" "ALTER TABLE cost_record DROP COLUMN costScope;
  ALTER TABLE cost_record DROP COLUMN costDataset; DELETE FROM _cairn_zones;
  DELETE FROM _cairn_part_rules; INSERT INTO _cairn_part_rules(tbl, day_fields)
  VALUES ('cost_record', 2)"
v1_rows=$(sqlite3 "$T/v1/out/warehouse.db" "SELECT * FROM cost_record ORDER BY rowid")
expect_exit 2 load azure-cost-export "$CORRECTED" "$T/v1"
grep -q "table cost_record holds rows partitioned by other fields than contract cost_record 1.1.0 partitions by (billingAccountId,costScope,costDataset,chargePeriodStartUtc:month)" "$T/v1/stdout" ||
  fail "upgrade refusal: $(tail -n 1 "$T/v1/stdout")"
expect_eq "$(sqlite3 "$T/v1/out/warehouse.db" "SELECT * FROM cost_record ORDER BY rowid")" \
  "$(sed 's/$/||/' <<<"$v1_rows")" "refused: old rows kept (two new empty columns), nothing loaded"
sqlite3 "$T/v1/out/warehouse.db" "DELETE FROM cost_record"
load azure-cost-export "$CORRECTED" "$T/v1" || fail "after emptying: $(tail -n 3 "$T/v1/log")"
expect_eq "$(actual "$T/v1")" "$(expected "$CORRECTED")" "emptied table reloaded under 1.1.0"

# ---- the same export read from Azure Blob Storage over HTTP -------------
# A SAS URL of the run folder: the manifest, then each blob downloaded
# (ranged GETs) into <state>/work/<job>/ and read from there. Recording in
# fixtures/cost-export/blob.har (make_blob_har.py); the SAS signature must
# never reach a log, the output or the state.
BLOB_HAR=fixtures/cost-export/blob.har
RUN_PATH=$(python3 -c 'import json, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
print("/cost/" + m["blobs"][0]["blobName"].strip().rsplit("/", 1)[0])' "$FOCUS")
SAS='sv=2022-11-02&ss=b&srt=co&sp=rl&se=2030-01-01T00:00:00Z&spr=https&sig=s3cr3tS1gnature%3D'
by_id() { sqlite3 "$1/out/warehouse.db" "SELECT $COLS FROM cost_record ORDER BY recordId"; }
no_secret() { ! grep -rqa 's3cr3tS1gnature' "$1" || fail "SAS signature written under $1: $(grep -rla 's3cr3tS1gnature' "$1")"; }
mkdir -p "$T/blob" "$T/blob2" "$T/blob3" "$T/blob4"
load azure-cost-export "https://stfinops.blob.core.windows.net$RUN_PATH?$SAS" "$T/blob" \
  --replay "$BLOB_HAR" || fail "blob replay: $(tail -n 3 "$T/blob/log")"
expect_eq "$(by_id "$T/blob")" "$first" "blob export (replayed) = the local run folder"
[ -z "$(ls -A "$T/blob/state/work/azure-cost-export/")" ] ||
  fail "downloads left after the window was loaded: $(ls -R "$T/blob/state/work")"
no_secret "$T/blob"
# Real HTTP against cairn mock: a 503 on the manifest, a reset connection
# and a truncated body on blobs are retried.
start_mock "$BLOB_HAR" "$T/blob2-mock.log" 503@1 reset@3 truncate@5
CAIRN_TEST_FAST_RETRY=1 load azure-cost-export "$MOCK_URL$RUN_PATH?$SAS" "$T/blob2" ||
  fail "blob over HTTP: $(tail -n 3 "$T/blob2/log")"
stop_mock
expect_eq "$(by_id "$T/blob2")" "$first" "blob export over HTTP with faults = the local run folder"
expect_eq "$(wc -l < "$T/blob2-mock.log")" 7 "4 requests + 3 retries"
no_secret "$T/blob2"
# Killed after chunk 2 of 12: a resume reads the blob it had downloaded
# from disk (one GET of part_0 over both runs) and fetches the rest.
start_mock "$BLOB_HAR" "$T/blob3-mock.log"
(CAIRN_TEST_KILL_AT=loaded:2 load azure-cost-export "$MOCK_URL$RUN_PATH?$SAS" "$T/blob3" \
   --param chunk_rows=1) 2>/dev/null && fail "the kill hook did not fire"
load azure-cost-export "$MOCK_URL$RUN_PATH?$SAS" "$T/blob3" --param chunk_rows=1 ||
  fail "blob resume: $(tail -n 3 "$T/blob3/log")"
stop_mock
expect_eq "$(by_id "$T/blob3")" "$first" "blob export killed + resumed = uninterrupted"
expect_eq "$(grep -c 'part_0_0001.csv' "$T/blob3-mock.log")" 1 "part_0 downloaded once"
# A refused SAS (403): a resumable failure naming the URL, not the token.
start_mock "$BLOB_HAR" "$T/blob4-mock.log" 403@1+
expect_exit 3 load azure-cost-export "$MOCK_URL$RUN_PATH?$SAS" "$T/blob4"
stop_mock
grep -q "$RUN_PATH/manifest.json: HTTP 403 Forbidden" "$T/blob4/stdout" ||
  fail "403 message: $(tail -n 1 "$T/blob4/stdout")"
no_secret "$T/blob4"

# Pieces: a server that honours Range (tests/cli/blob_server.py) and
# 1000-byte pieces; a partial download a kill left behind is continued
# where it stopped. Then a server that ignores Range: its 200 with the
# whole blob is taken when the blob fits in one piece (8 MiB).
blob_server() { # blob_server LOG [--ignore-range]: sets BS_URL, BS_PID
  rm -f "$T/bs.out" # the previous server's, until the new one truncates it
  python3 tests/cli/blob_server.py "${BS_RUN:-$FOCUS}" cost "$@" > "$T/bs.out" &
  BS_PID=$!
  wait_for "$BS_PID" test -s "$T/bs.out" || true
  BS_URL=$(awk 'NR==1{print $2}' "$T/bs.out")
  [ -n "$BS_URL" ] || { kill "$BS_PID" 2>/dev/null; fail "blob server did not start"; }
}
# until_window DIR URL N: a run in 1000-byte pieces killed after its last
# chunk (of N) is loaded, before the window is marked loaded, which
# deletes the downloads: they are still there to compare. A resume
# finishes it from them.
until_window() {
  (CAIRN_TEST_KILL_AT=window:$3 CAIRN_TEST_PIECE_BYTES=1000 load azure-cost-export \
     "$2" "$T/$1") 2>/dev/null && fail "$1: the kill hook did not fire" || true
}
# window_open DIR URL: a run that reads the manifest and fails before any
# blob (CAIRN_TEST_FAULT=extract:1), its window left open, as a kill
# during a download leaves it: the .part a test then puts in the work
# directory is kept for the resume, as one a kill left is (a run finding
# no window open removes the directory).
window_open() {
  mkdir -p "$T/$1"
  (CAIRN_TEST_FAULT=extract:1 load azure-cost-export "$2" "$T/$1") 2>/dev/null &&
    fail "$1: the fault did not fire" || true
}
ident=$(sha256sum "$FOCUS/manifest.json" | cut -c1-16)
blob_server "$T/blob5-server.log"
window_open blob5 "$BS_URL$RUN_PATH?$SAS"
mkdir -p "$T/blob5/state/work/azure-cost-export/$ident"
head -c 700 "$FOCUS/part_1_0001.csv.gz" \
  > "$T/blob5/state/work/azure-cost-export/$ident/1-part_1_0001.csv.gz.part"
until_window blob5 "$BS_URL$RUN_PATH?$SAS" 3
cmp "$T/blob5/state/work/azure-cost-export/$ident/1-part_1_0001.csv.gz" \
  "$FOCUS/part_1_0001.csv.gz" || fail "downloaded gzip differs"
CAIRN_TEST_PIECE_BYTES=1000 load azure-cost-export "$BS_URL$RUN_PATH?$SAS" "$T/blob5" ||
  fail "blob in pieces: $(tail -n 3 "$T/blob5/log")"
kill "$BS_PID"; wait "$BS_PID" 2>/dev/null || true
expect_eq "$(by_id "$T/blob5")" "$first" "blob export in 1000-byte pieces = the local run folder"
expect_eq "$(grep -c 'part_0_0001.csv bytes=' "$T/blob5-server.log")" 7 "6966 bytes in 7 pieces"
expect_eq "$(grep 'part_1_0001.csv.gz' "$T/blob5-server.log" | sed -n 1p | awk '{print $3}')" \
  "bytes=700-1699" "the partial download continues at byte 700"
grep -q 'continuing its download at byte 700' "$T/blob5/log" || fail "no continue message"
mkdir -p "$T/blob6"
blob_server "$T/blob6-server.log" --ignore-range
load azure-cost-export "$BS_URL$RUN_PATH?$SAS" "$T/blob6" ||
  fail "blob without ranges: $(tail -n 3 "$T/blob6/log")"
kill "$BS_PID"; wait "$BS_PID" 2>/dev/null || true
expect_eq "$(by_id "$T/blob6")" "$first" "a server that ignores Range: whole blobs"
# A .csv.gz blob whose Content-Encoding property is gzip (Azure answers
# with that header): its pieces are its stored bytes, never decoded one
# by one (the first 1000 bytes used to come out as 2581 bytes of CSV,
# taken for the whole 1585-byte blob: 1 row of 4, exit 3 on every rerun).
mkdir -p "$T/blob15"
blob_server "$T/blob15-server.log" --content-encoding
until_window blob15 "$BS_URL$RUN_PATH?$SAS" 3
cmp "$T/blob15/state/work/azure-cost-export/$ident/1-part_1_0001.csv.gz" \
  "$FOCUS/part_1_0001.csv.gz" || fail "Content-Encoding gzip: the download is not the stored blob"
CAIRN_TEST_PIECE_BYTES=1000 load azure-cost-export "$BS_URL$RUN_PATH?$SAS" "$T/blob15" ||
  fail "Content-Encoding gzip: $(tail -n 3 "$T/blob15/log")"
kill "$BS_PID"; wait "$BS_PID" 2>/dev/null || true
expect_eq "$(by_id "$T/blob15")" "$first" "a blob with Content-Encoding gzip, in 1000-byte pieces"
no_secret "$T/blob5"; no_secret "$T/blob6"; no_secret "$T/blob15"
# The downloads go as the run passes them (a month's export is many 1 GB
# partitions): a blob before the one where a loaded chunk starts is read
# by no resume, so it is deleted; the rest when the window is loaded.
# Killed after each write of each of the 12 chunks (blobs of 5, 4 and 3
# rows): the resume loads the same rows, and asks for no blob the killed
# run had downloaded whole (kept or deleted) again; only one whose
# download the kill cut short is continued.
w=$T/blob16/state/work/azure-cost-export/$ident
for point in extracted loaded; do
  for k in $(seq 1 12); do
    rm -rf "$T/blob16" "$T/blob16-server.log"; mkdir -p "$T/blob16"
    blob_server "$T/blob16-server.log"
    (CAIRN_TEST_KILL_AT=$point:$k load azure-cost-export "$BS_URL$RUN_PATH?$SAS" "$T/blob16" \
       --param chunk_rows=1) 2>/dev/null && fail "$point:$k: the kill hook did not fire"
    if [ "$point:$k" = loaded:8 ]; then # chunk 6, the first of blob 1, is loaded
      [ ! -e "$w/0-part_0_0001.csv" ] || fail "loaded:8: blob 0 still on disk"
      [ -e "$w/1-part_1_0001.csv.gz" ] || fail "loaded:8: blob 1 deleted"
    elif [ "$point:$k" = loaded:12 ]; then # chunk 10, the first of blob 2
      expect_eq "$(ls "$w")" 2-part_2_0001.zip "loaded:12: the last blob only"
    fi
    whole=$(grep -v manifest "$T/blob16-server.log" | awk '{print $2}' | sort -u |
      while read -r b; do
        ls "$w"/*-"${b##*/}".part >/dev/null 2>&1 || echo "$b"
      done)
    n=$(wc -l < "$T/blob16-server.log")
    load azure-cost-export "$BS_URL$RUN_PATH?$SAS" "$T/blob16" --param chunk_rows=1 ||
      fail "$point:$k resumed: $(tail -n 3 "$T/blob16/log")"
    kill "$BS_PID"; wait "$BS_PID" 2>/dev/null || true
    expect_eq "$(by_id "$T/blob16")" "$first" "$point:$k: killed + resumed = uninterrupted"
    for b in $whole; do
      ! tail -n +$((n + 1)) "$T/blob16-server.log" | grep -q " $b " ||
        fail "$point:$k: $b downloaded again by the resume"
    done
    [ -z "$(ls -A "$T/blob16/state/work/azure-cost-export/")" ] ||
      fail "$point:$k: downloads left after the window was loaded"
  done
done
# Killed after the window was marked loaded, before the source deleted
# its downloads: the resume found the window loaded and skipped it, never
# opening the source, and the downloads stayed until that export's next
# new attempt read them (or another export's pruned them): gigabytes for
# a month's export. A run of the job that finds no window open (here that
# resume) removes them before it starts: no resume can read them.
mkdir -p "$T/blob18"
blob_server "$T/blob18-server.log"
(CAIRN_TEST_KILL_AT=window_loaded:12 load azure-cost-export "$BS_URL$RUN_PATH?$SAS" "$T/blob18" \
   --param chunk_rows=1) 2>/dev/null && fail "window_loaded:12: the kill hook did not fire"
kill "$BS_PID"; wait "$BS_PID" 2>/dev/null || true
[ -n "$(ls -A "$T/blob18/state/work/azure-cost-export/")" ] ||
  fail "window_loaded:12: no download left behind to remove"
load azure-cost-export "$BS_URL$RUN_PATH?$SAS" "$T/blob18" ||
  fail "resume after window_loaded:12: $(tail -n 3 "$T/blob18/log")"
expect_eq "$(by_id "$T/blob18")" "$first" "killed after the window was loaded, resumed"
[ ! -e "$T/blob18/state/work/azure-cost-export" ] ||
  fail "downloads of the loaded window left: $(ls -R "$T/blob18/state/work")"
grep -q 'removed .*/work/azure-cost-export: what the source kept of windows now loaded' "$T/blob18/log" ||
  fail "no word of the removal: $(tail -n 3 "$T/blob18/log")"
# A blobName with a space and a '#' is percent-encoded in the request. So
# is a '%': a manifest's blobName is the blob's name as it is, not a URL
# (a name holding "%20" is asked for as %2520).
derive "$FOCUS" "$T/runs/odd" --blob-name "exports/odd/part 0#1%20.csv"
mkdir -p "$T/blob8"
BS_RUN="$T/runs/odd" blob_server "$T/blob8-server.log"
load azure-cost-export "$BS_URL/cost/exports/odd?$SAS" "$T/blob8" ||
  fail "odd blob name: $(tail -n 3 "$T/blob8/log")"
kill "$BS_PID"; wait "$BS_PID" 2>/dev/null || true
expect_eq "$(actual "$T/blob8")" "$(expected "$T/runs/odd")" "blob 'part 0#1%20.csv' read"
grep -q 'part%200%231%2520.csv' "$T/blob8/log" || fail "blob name not percent-encoded"
# A blobName with ".." would leave the container once curl removes the dot
# segments (with the SAS token attached): refused when the manifest is
# read, before any blob is asked for.
mkdir -p "$T/runs"; cp -r "$FOCUS" "$T/runs/dotdot"
jq '.blobs[1].blobName |= sub("/part_1"; "/../../../../../other/part_1")' \
  "$FOCUS/manifest.json" > "$T/runs/dotdot/manifest.json"
mkdir -p "$T/blob9"
BS_RUN="$T/runs/dotdot" blob_server "$T/blob9-server.log"
set +e; load azure-cost-export "$BS_URL$RUN_PATH?$SAS" "$T/blob9"; rc=$?; set -e
kill "$BS_PID"; wait "$BS_PID" 2>/dev/null || true
expect_eq "$rc" 3 "'..' in a blobName: exit"
grep -q '(blobs\[1\]): ".." is not allowed in a blobName' "$T/blob9/stdout" ||
  fail "'..' message: $(tail -n 1 "$T/blob9/stdout")"
expect_eq "$(cat "$T/blob9-server.log")" "GET $RUN_PATH/manifest.json " \
  "the manifest only: no blob requested"
# A server that ignores Range, and a blob larger than a piece: the run
# fails saying so (not "response body exceeds N bytes"), without retrying.
mkdir -p "$T/blob10"
blob_server "$T/blob10-server.log" --ignore-range
set +e; CAIRN_TEST_PIECE_BYTES=1000 load azure-cost-export "$BS_URL$RUN_PATH?$SAS" "$T/blob10"; rc=$?; set -e
kill "$BS_PID"; wait "$BS_PID" 2>/dev/null || true
expect_eq "$rc" 3 "Range ignored: exit"
grep -q 'part_0_0001.csv: the server ignored the Range request (bytes=0-999) and sent more than a piece: the whole blob, larger than the 1000 bytes' "$T/blob10/stdout" ||
  fail "Range ignored message: $(tail -n 1 "$T/blob10/stdout")"
expect_eq "$(wc -l < "$T/blob10-server.log")" 2 "the manifest and one GET, not retried"
# A blob rewritten between two pieces of its download (--swap-after):
# the pieces after the first carry If-Match with its ETag, the 412 starts
# the download over, and the file is the new version whole, not a splice.
# Then a .part a kill left with the ETag of a version the server no
# longer has: the same.
derive "$FOCUS" "$T/runs/swap"
derive "$FOCUS" "$T/runs/swap2" --scale 3
cp "$T/runs/swap2/part_0_0001.csv" "$T/runs/swap/part_0_0001.csv.swap"
SWAP_PATH=/cost/$(jq -r '.blobs[0].blobName' "$T/runs/swap/manifest.json" | sed 's|/[^/]*$||')
swap_ident=$(sha256sum "$T/runs/swap/manifest.json" | cut -c1-16)
mkdir -p "$T/blob11"
BS_RUN="$T/runs/swap" blob_server "$T/blob11-server.log" --swap-after 3
until_window blob11 "$BS_URL$SWAP_PATH?$SAS" 1
cmp "$T/blob11/state/work/azure-cost-export/$swap_ident/0-part_0_0001.csv" \
  "$T/runs/swap2/part_0_0001.csv" || fail "the download is not the new version whole"
[ ! -e "$T/blob11/state/work/azure-cost-export/$swap_ident/0-part_0_0001.csv.etag" ] ||
  fail "ETag file left behind"
set +e; CAIRN_TEST_PIECE_BYTES=1000 load azure-cost-export "$BS_URL$SWAP_PATH?$SAS" "$T/blob11"; rc=$?; set -e
kill "$BS_PID"; wait "$BS_PID" 2>/dev/null || true
expect_eq "$rc" 0 "blob replaced between pieces: $(tail -n 3 "$T/blob11/log")"
expect_eq "$(actual "$T/blob11")" "$(expected "$T/runs/swap2")" "rows of the new version"
grep -q 'changed on the server while it was downloaded (HTTP 412' "$T/blob11/log" ||
  fail "no restart warning"
expect_eq "$(sed -n 3p "$T/blob11-server.log" | grep -c 'bytes=1000-1999 if-match="0x')" 1 \
  "the second piece asks for the first one's ETag"
BS_RUN="$T/runs/swap" blob_server "$T/blob12-server.log"
window_open blob12 "$BS_URL$SWAP_PATH?$SAS"
mkdir -p "$T/blob12/state/work/azure-cost-export/$swap_ident"
head -c 700 "$T/runs/swap/part_0_0001.csv" \
  > "$T/blob12/state/work/azure-cost-export/$swap_ident/0-part_0_0001.csv.part"
printf '"0xSTALE"' > "$T/blob12/state/work/azure-cost-export/$swap_ident/0-part_0_0001.csv.etag"
until_window blob12 "$BS_URL$SWAP_PATH?$SAS" 1
cmp "$T/blob12/state/work/azure-cost-export/$swap_ident/0-part_0_0001.csv" \
  "$T/runs/swap2/part_0_0001.csv" || fail "stale .part: not the new version whole"
set +e; CAIRN_TEST_PIECE_BYTES=1000 load azure-cost-export "$BS_URL$SWAP_PATH?$SAS" "$T/blob12"; rc=$?; set -e
kill "$BS_PID"; wait "$BS_PID" 2>/dev/null || true
expect_eq "$rc" 0 "stale .part: $(tail -n 3 "$T/blob12/log")"
expect_eq "$(sed -n 3p "$T/blob12-server.log")" \
  "GET $SWAP_PATH/part_0_0001.csv bytes=700-1699 if-match=\"0xSTALE\"" "continued with If-Match"
# A .part without an ETag file (left by an earlier version): continued
# without If-Match, and the pieces after that ask for the ETag of the
# first continued one.
BS_RUN="$T/runs/swap" blob_server "$T/blob13-server.log"
window_open blob13 "$BS_URL$SWAP_PATH?$SAS"
mkdir -p "$T/blob13/state/work/azure-cost-export/$swap_ident"
head -c 700 "$T/runs/swap/part_0_0001.csv" \
  > "$T/blob13/state/work/azure-cost-export/$swap_ident/0-part_0_0001.csv.part"
until_window blob13 "$BS_URL$SWAP_PATH?$SAS" 1
cmp "$T/blob13/state/work/azure-cost-export/$swap_ident/0-part_0_0001.csv" \
  "$T/runs/swap2/part_0_0001.csv" || fail ".part without an ETag: download differs"
set +e; CAIRN_TEST_PIECE_BYTES=1000 load azure-cost-export "$BS_URL$SWAP_PATH?$SAS" "$T/blob13"; rc=$?; set -e
kill "$BS_PID"; wait "$BS_PID" 2>/dev/null || true
expect_eq "$rc" 0 ".part without an ETag: $(tail -n 3 "$T/blob13/log")"
expect_eq "$(sed -n '3,4p' "$T/blob13-server.log" | cut -d' ' -f3- | cut -c1-26 | tr '\n' '|')" \
  'bytes=700-1699|bytes=1700-2699 if-match="|' "If-Match from the first continued piece on"
# A plain blob on the server cut off in its last row (shorter than its
# manifest's byteCount, the cut row still counted by dataRowCount):
# refused before any of it is loaded (exit 3), and the download is not
# kept: the rerun downloads it again, and loads it once it is whole.
derive "$FOCUS" "$T/runs/size"
size_bytes=$(stat -c %s "$T/runs/size/part_0_0001.csv")
cp "$T/runs/size/part_0_0001.csv" "$T/size.csv"
head -c $((size_bytes - 3)) "$T/size.csv" > "$T/runs/size/part_0_0001.csv"
SIZE_PATH=/cost/$(jq -r '.blobs[0].blobName' "$T/runs/size/manifest.json" | sed 's|/[^/]*$||')
size_ident=$(sha256sum "$T/runs/size/manifest.json" | cut -c1-16)
mkdir -p "$T/blob14"
BS_RUN="$T/runs/size" blob_server "$T/blob14-server.log"
expect_exit 3 load azure-cost-export "$BS_URL$SIZE_PATH?$SAS" "$T/blob14"
grep -q "is $((size_bytes - 3)) bytes, not the $size_bytes of its manifest's byteCount, and ends inside a row" \
  "$T/blob14/stdout" || fail "cut blob: $(tail -n 1 "$T/blob14/stdout")"
expect_eq "$(sqlite3 "$T/blob14/out/warehouse.db" 'SELECT count(*) FROM cost_record' 2>/dev/null || echo 0)" 0 \
  "nothing of it loaded"
[ -z "$(ls -A "$T/blob14/state/work/azure-cost-export/$size_ident")" ] ||
  fail "the cut download was kept: $(ls "$T/blob14/state/work/azure-cost-export/$size_ident")"
cp "$T/size.csv" "$T/runs/size/part_0_0001.csv"
load azure-cost-export "$BS_URL$SIZE_PATH?$SAS" "$T/blob14" || fail "rerun: $(tail -n 3 "$T/blob14/log")"
kill "$BS_PID"; wait "$BS_PID" 2>/dev/null || true
expect_eq "$(grep -c ' bytes=0-' "$T/blob14-server.log")" 2 "downloaded again by the rerun"
expect_eq "$(actual "$T/blob14")" "$(expected "$T/runs/size")" "the whole blob's rows"
# A download that meets a full disk says why. Here a file size limit
# (ulimit -f, SIGXFSZ ignored) of 12 MiB and a 14.7 MB blob: its second
# 8 MiB piece is written in part, a short write that sets no errno, which
# used to end the run with "….part: Success". A rerun with room
# continues the download where it stopped.
python3 tests/cli/cost_runs.py month "$T/runs/big" --rows 30000
BIG_PATH=/cost/$(jq -r '.blobs[0].blobName' "$T/runs/big/focus/manifest.json" | sed 's|^ *||; s|/[^/]*$||')
mkdir -p "$T/blob17"
BS_RUN="$T/runs/big/focus" blob_server "$T/blob17-server.log"
set +e
(trap '' XFSZ; ulimit -f 12288; load azure-cost-export "$BS_URL$BIG_PATH?$SAS" "$T/blob17"); rc=$?
set -e
expect_eq "$rc" 3 "download on a full disk: exit"
grep -q 'write .*/0-part_0_0001.csv.part: File too large' "$T/blob17/stdout" ||
  fail "download on a full disk: $(tail -n 1 "$T/blob17/stdout")"
load azure-cost-export "$BS_URL$BIG_PATH?$SAS" "$T/blob17" || fail "rerun with room: $(tail -n 3 "$T/blob17/log")"
kill "$BS_PID"; wait "$BS_PID" 2>/dev/null || true
grep -q 'continuing its download at byte 12582912' "$T/blob17/log" || fail "no continued download"
expect_eq "$(sqlite3 "$T/blob17/out/warehouse.db" 'SELECT count(*) FROM cost_record')" 30000 "every row, once"
no_secret "$T/blob9"; no_secret "$T/blob10"; no_secret "$T/blob11"; no_secret "$T/blob12"
no_secret "$T/blob13"; no_secret "$T/blob14"; no_secret "$T/blob17"

# OAuth instead of a SAS token: the job's source gets an "auth" block (as
# docs/connectors/azure-cost-export.md shows); against cairn mock, recorded
# with --record: every GET carries the bearer token and x-ms-version, and a
# 401 (an expired token) gets a new token, once.
jq '.source.auth = {"type": "oauth2",
      "token_url": "${param:login:-https://login.microsoftonline.com}/${param:tenant_id}/oauth2/v2.0/token",
      "client_id": "${param:client_id}", "client_secret": "${secret:CLIENT_SECRET}",
      "scope": "https://storage.azure.com/.default"}
    | .params.tenant_id = {"description": "Entra tenant", "example": "00000000-0000-0000-0000-000000000000"}
    | .params.client_id = {"description": "app (client) id", "example": "00000000-0000-0000-0000-000000000000"}
    | .params.login = {"description": "token endpoint origin", "example": "https://login.microsoftonline.com"}' \
  jobs/azure-cost-export.json > "$T/oauth-job.json"
mkdir -p "$T/blob7"
start_mock fixtures/cost-export/blob-oauth.har "$T/blob7-mock.log" 401@3
CAIRN_SECRET_CLIENT_SECRET=t0pS3cretClientValue "$CAIRN" run "$T/oauth-job.json" \
  --param input="$MOCK_URL$RUN_PATH" --param login="$MOCK_URL" \
  --param tenant_id=8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d \
  --param client_id=6731de76-14a6-49ae-97bc-6eba6914391e \
  --record "$T/blob7.har" --state "$T/blob7/state" --out "$T/blob7/out" \
  >"$T/blob7/stdout" 2>"$T/blob7/log" || fail "blob with OAuth: $(tail -n 3 "$T/blob7/log")"
stop_mock
expect_eq "$(by_id "$T/blob7")" "$first" "blob export with OAuth = the local run folder"
expect_eq "$(jq -r '[.log.entries[] | select(.request.method == "GET") | .request.headers
    | (map(select(.name == "Authorization"))[0].value) + " " + (map(select(.name == "x-ms-version"))[0].value)]
    | unique | join(",")' "$T/blob7.har")" "REDACTED 2021-08-06" \
  "every GET sent the token (recorded as REDACTED) and x-ms-version"
expect_eq "$(jq -r '[.log.entries[] | .request.method + " " + (.response.status | tostring)]
    | join(",")' "$T/blob7.har")" "POST 200,GET 200,GET 401,POST 200,GET 206,GET 206,GET 206" \
  "a token, the manifest, a 401 answered by a new token, the blobs"
! grep -rqa 't0pS3cretClientValue' "$T/blob7" "$T/blob7.har" || fail "client secret written"

# ---- dataRowCount mismatch: resumable failure that names the blob --------
mkdir -p "$T/mm"
expect_exit 3 load azure-cost-export "$MISMATCH" "$T/mm"
grep -q 'blob \\"exports/cairn-focus/.*/part_1_0001.csv.gz\\" has 4 data rows but its manifest says dataRowCount 5' "$T/mm/log" ||
  fail "mismatch message: $(tail -n 2 "$T/mm/log")"
expect_exit 3 load azure-cost-export "$MISMATCH" "$T/mm"   # never silently done
expect_eq "$(sqlite3 "$T/mm/state/cairn.db" "SELECT status FROM windows")" open "window stays open"

# ---- killed after chunk 5 of 12 (inside the gzip blob), then resumed -----
mkdir -p "$T/kill"
(CAIRN_TEST_KILL_AT=loaded:5 load azure-cost-export "$FOCUS" "$T/kill" \
   --param chunk_rows=1) 2>/dev/null && fail "the kill hook did not fire"
load azure-cost-export "$FOCUS" "$T/kill" --param chunk_rows=1 ||
  fail "resume: $(tail -n 3 "$T/kill/log")"
expect_eq "$(sqlite3 "$T/kill/out/warehouse.db" "SELECT $COLS FROM cost_record ORDER BY recordId")" \
  "$first" "killed + resumed = uninterrupted"
expect_eq "$(sqlite3 "$T/kill/out/warehouse.db" 'SELECT count(*), sum(rows) FROM _cairn_chunks')" \
  "12|12" "every chunk loaded exactly once"

# ---- a plain partition cut short between a kill and the resume ----------
# Without dataRowCount nothing else would notice: the checkpointed offset
# lies past the new end, and the run used to take that for "the blob
# ended", go on with the next one and end done with rows missing. Killed
# after chunk 2 is loaded, with chunk 3 read ahead (the default) and not
# (CAIRN_PIPELINE=0): either way the resume refuses with the source's
# message (not the runner's "re-read from its checkpoint"), and --fresh
# loads the export as it is now.
python3 tests/bench/gen_cost.py 110 "$T/cut-src" --partitions 2 --gzip 1 >/dev/null
jq 'del(.dataRowCount) | .blobs[] |= del(.dataRowCount)' "$T/cut-src/manifest.json" > "$T/cut-src/m"
mv "$T/cut-src/m" "$T/cut-src/manifest.json"
# changed NAME PIPELINE CHANGE MESSAGE ROWS: a copy of the export, a run
# killed once chunk 2 is loaded, CHANGE (a function) applied to the plain
# partition; the resume refuses with MESSAGE, the source's (not the
# runner's "re-read from its checkpoint"), loading nothing more, and
# --fresh loads the ROWS there are now.
changed() {
  local name=$1 pipe=$2 change=$3 msg=$4 rows=$5 d="$T/$1"
  rm -rf "$d.run"; cp -r "$T/cut-src" "$d.run"; mkdir -p "$d"
  (CAIRN_PIPELINE=$pipe CAIRN_TEST_KILL_AT=loaded:2 load azure-cost-export "$d.run" "$d" \
     --param chunk_rows=20) 2>/dev/null && fail "the kill hook did not fire"
  "$change" "$d.run/part_0_0001.csv"
  expect_exit 3 load azure-cost-export "$d.run" "$d" --param chunk_rows=20
  grep -q "$msg" "$d/log" || fail "$name: message: $(tail -n 1 "$d/stdout")"
  ! grep -q 're-read from its checkpoint' "$d/log" || fail "$name: the runner's message"
  expect_eq "$(sqlite3 "$d/out/warehouse.db" 'SELECT count(*) FROM cost_record')" 40 \
    "$name: the two chunks loaded before the kill, nothing after"
  load azure-cost-export "$d.run" "$d" --param chunk_rows=20 --fresh ||
    fail "$name: --fresh: $(tail -n 3 "$d/log")"
  expect_eq "$(sqlite3 "$d/out/warehouse.db" 'SELECT count(*) FROM cost_record')" "$rows" \
    "$name: --fresh loads the export as it is now"
}
cut_short() { head -n 31 "$1" > "$1.p" && mv "$1.p" "$1"; }
# A plain partition rewritten in place at the same size (a corrected
# value): its modification time tells, so the resume refuses instead of
# splicing the old rows before the checkpoint to new ones after.
same_size() {
  local size0; size0=$(stat -c %s "$1")
  python3 - "$1" <<'PY'
import sys
p = sys.argv[1]; lines = open(p, newline="").read().split("\n")
i = len(lines) - 2                      # the last record, past the checkpoint
lines[i] = lines[i].replace("0", "1", 1)  # one digit: the same size
open(p, "w", newline="").write("\n".join(lines))
PY
  expect_eq "$(stat -c %s "$1")" "$size0" "rewritten at the same size"
}
for pipe in 1 0; do
  # --fresh: the 30 + 55 rows there are now
  changed "cut$pipe" $pipe cut_short 'part_0_0001.csv\\" (.*) is [0-9]* bytes, not the [0-9]* it was when read up to offset [0-9]*: the export changed since this window.s checkpoint' 85
done
changed same 1 same_size 'part_0_0001.csv\\" (.*) was modified after it was read up to offset [0-9]* (same size, another modification time): the export changed since' 110

# An input URL that cannot be sent (a space pasted from a blobName) is the
# job's fault: exit 2 at once, no retries, not a resumable exit 3.
mkdir -p "$T/badurl"
expect_exit 2 load azure-cost-export 'http://127.0.0.1:9/cost/ exports/run1?sig=a' "$T/badurl"
grep -q 'malformed URL' "$T/badurl/stdout" || fail "bad URL: $(tail -n 1 "$T/badurl/stdout")"
# Each request is logged as "... (attempt N)" (a message, not a JSON
# "attempt" field): one request, none repeated.
expect_eq "$(grep -cE ' \(attempt [0-9]+\)"' "$T/badurl/log" || true)" 1 "bad URL: one request, not retried"
