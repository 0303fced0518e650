#!/usr/bin/env bash
# A job without windows (the one window "all") writes one evidence bundle
# per run, named by the run's logical time (docs/evidence.md#file-names),
# instead of one file every run replaced:
#  - a delta job (Graph users through `cairn mock`): the full round and the
#    delta round leave two bundles, each verifying with cairn verify and
#    with stock tools; the third round (the delta link expired: a full sync
#    of the first round's users at its Date) rewrites the first bundle byte
#    for byte, no third file;
#  - a cost export: May's export, then its corrected re-export killed at
#    chunk boundaries and once its tar was written, then resumed: exactly
#    one more bundle, named by the re-export's submittedTime, the bytes of
#    an uninterrupted run, May's untouched, and the run's audit record
#    names it; the same export loaded again adds no file;
#  - a file source without logical_time (1970-01-01 on every run): another
#    input takes the next number and never replaces the first bundle.
source "$(dirname "$0")/../lib.sh"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
openssl genpkey -algorithm ed25519 -out "$T/key.pem" 2>/dev/null
openssl pkey -in "$T/key.pem" -pubout -out "$T/pub.pem"
export CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$(cat "$T/key.pem")"
export CAIRN_SECRET_GRAPH_CLIENT_SECRET=graph-secret-9a2e44

# stock TAR: the checks of docs/evidence.md with tar, sha256sum, zstdcat,
# jq and openssl only; prints the bundle's logical time and record count.
stock() {
  local x
  x=$(mktemp -d "$T/x.XXXXXX")
  tar -xf "$1" -C "$x"
  (
    cd "$x"
    openssl pkeyutl -verify -pubin -inkey "$T/pub.pem" -rawin -in manifest.json \
      -sigfile manifest.sig >/dev/null || fail "$1: openssl does not verify manifest.sig"
    jq -r '.parts[] | "\(.sha256) \(.bytes) \(.records) \(.path)"' manifest.json |
      while read -r s b n p; do
        expect_eq "$(sha256sum <"$p" | cut -d' ' -f1) $(stat -c %s "$p") $(zstdcat "$p" | wc -l)" \
          "$s $b $n" "$1: $p"
      done
    diff <(tar -tf "$1" | sort) \
         <( (echo manifest.json; jq -r 'if .signature then "manifest.sig" else empty end, .parts[].path' manifest.json) | sort) \
      || fail "$1: entries other than the manifest's"
    echo "$(jq -r .logical_time manifest.json) $(for p in $(jq -r '.parts[].path' manifest.json); do zstdcat "$p"; done | wc -l)"
  )
  rm -rf "$x"
}
verified() { "$CAIRN" verify "$1" --pubkey "$T/pub.pem" >/dev/null || fail "cairn verify $1"; }

# ---- a delta job -----------------------------------------------------------
TENANT=8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d
jq '.sinks = ["warehouse", "evidence"]' tests/data/http-jobs/graph-users.json >"$T/graph.json"
G=$T/graph/out/evidence/http-graph-users
start_mock fixtures/http-source/graph-users.har "$T/graph.mock.log"
graph() {
  "$CAIRN" run "$T/graph.json" --param endpoint="$MOCK_URL" \
    --param token_url="$MOCK_URL/$TENANT/oauth2/v2.0/token" \
    --state "$T/graph/state" --out "$T/graph/out" >/dev/null 2>>"$T/graph.log" ||
    fail "graph run: $(tail -n 2 "$T/graph.log")"
}
graph
cp "$G/http-graph-users-all-20240307T020000Z.tar" "$T/round1.tar"
graph
expect_eq "$(cd "$G" && ls)" "http-graph-users-all-20240307T020000Z.tar
http-graph-users-all-20240308T020000Z.tar" "a bundle per round"
cmp -s "$T/round1.tar" "$G/http-graph-users-all-20240307T020000Z.tar" || fail "the delta round changed the first bundle"
expect_eq "$(stock "$G/http-graph-users-all-20240307T020000Z.tar")" "2024-03-07T02:00:00Z 4" "full round"
expect_eq "$(stock "$G/http-graph-users-all-20240308T020000Z.tar")" "2024-03-08T02:00:00Z 3" "delta round"
for b in "$G"/*.tar; do verified "$b"; done
graph # the delta link expired: a full sync, the first round's users again
grep -q 'falling back to a full sync' "$T/graph.log" || fail "no full sync: $(tail -n 2 "$T/graph.log")"
expect_eq "$(n_tars "$G")" 2 "bundles after the full sync"
cmp -s "$T/round1.tar" "$G/http-graph-users-all-20240307T020000Z.tar" || fail "the same users at the same time: other bytes"
stop_mock

# ---- a cost export, killed and resumed -------------------------------------
jq '.sinks += ["evidence"]' jobs/azure-cost-export.json >"$T/cost.json"
EXPORTS=fixtures/cost-export
MAY=$EXPORTS/focus/cairn-focus/20240501-20240531/8c0a5d5e-4d1b-4b0e-9a51-6a1f0e3c2b01
FIX=$EXPORTS/focus-corrected/cairn-focus/20240501-20240531/b7e2f3a4-1c9d-4e7f-8a2b-3c4d5e6f7a02
MAY_TAR=azure-cost-export-all-20240601T041209Z.tar   # submittedTime 2024-06-01T04:12:09.5234447Z
FIX_TAR=azure-cost-export-all-20240603T041051Z.tar
cost() { # cost DIR EXPORT
  "$CAIRN" run "$T/cost.json" --param input="$2" --param chunk_rows=4 \
    --state "$1/state" --out "$1/out" >/dev/null 2>>"$1/log"
}
C=out/evidence/azure-cost-export
mkdir -p "$T/ref"
cost "$T/ref" "$MAY" || fail "May: $(tail -n 2 "$T/ref/log")"
cost "$T/ref" "$FIX" || fail "re-export: $(tail -n 2 "$T/ref/log")"
expect_eq "$(cd "$T/ref/$C" && ls)" "$MAY_TAR
$FIX_TAR" "May's export and its re-export"
expect_eq "$(stock "$T/ref/$C/$MAY_TAR")" "2024-06-01T04:12:09Z 12" "May's bundle"
expect_eq "$(stock "$T/ref/$C/$FIX_TAR")" "2024-06-03T04:10:51Z 12" "re-export's bundle"
cp "$T/ref/$C/$MAY_TAR" "$T/may.tar"
cost "$T/ref" "$MAY" || fail "May again"
expect_eq "$(n_tars "$T/ref/$C")" 2 "bundles after loading May's export again"
cmp -s "$T/may.tar" "$T/ref/$C/$MAY_TAR" || fail "May's export loaded again: other bytes"
chunks=$(sqlite3 "$T/ref/state/cairn.db" "SELECT count(*) FROM chunks")
[ "$chunks" -ge 3 ] || fail "the export makes $chunks chunks"

for point in extracted:1 sink_loaded:2 loaded:$((chunks - 1)) window:$chunks; do
  d="$T/kill-${point/:/-}"; mkdir -p "$d"
  cost "$d" "$MAY" || fail "$point: May"
  set +e; CAIRN_TEST_KILL_AT=$point cost "$d" "$FIX"; rc=$?; set -e
  expect_eq "$rc" 137 "$point: killed"
  cost "$d" "$FIX" || fail "$point: resume: $(tail -n 2 "$d/log")"
  expect_eq "$(cd "$d/$C" && ls)" "$MAY_TAR
$FIX_TAR" "$point: bundles"
  cmp -s "$T/may.tar" "$d/$C/$MAY_TAR" || fail "$point: May's bundle changed"
  cmp -s "$T/ref/$C/$FIX_TAR" "$d/$C/$FIX_TAR" || fail "$point: the resumed bundle differs"
  verified "$d/$C/$FIX_TAR"
  [ ! -e "$d/$C/.staging" ] || fail "$point: staging left behind"
  expect_eq "$("$CAIRN" status azure-cost-export --state "$d/state" --json |
               jq -r '.runs[0] | "\(.resumed) \(.outputs | .[0].sinks.evidence.bundle)"')" \
    "1 $d/$C/$FIX_TAR" "$point: the resumed run's bundle"
done

# ---- a file source without logical_time ------------------------------------
jq --arg csv "$T/cost.csv" '.name = "csv-bundle" | .sinks = ["evidence"] | .source.path = $csv' \
  jobs/demo-cost.json >"$T/csv.json"
F=$T/csv/out/evidence/csv-bundle
csv() { # csv ROWS: the first ROWS rows of the demo CSV
  head -n $(($1 + 1)) fixtures/demo/cost.csv >"$T/cost.csv"
  "$CAIRN" run "$T/csv.json" --state "$T/csv/state" --out "$T/csv/out" >/dev/null 2>>"$T/csv.log" ||
    fail "csv $1: $(tail -n 2 "$T/csv.log")"
}
csv 100
cp "$F/csv-bundle-all-19700101T000000Z.tar" "$T/csv100.tar"
csv 50
expect_eq "$(cd "$F" && ls)" "csv-bundle-all-19700101T000000Z-2.tar
csv-bundle-all-19700101T000000Z.tar" "two inputs at 1970-01-01"
grep -q 'csv-bundle-all-19700101T000000Z.tar already holds other records at the logical time 1970-01-01T00:00:00Z' \
  "$T/csv.log" || fail "no warning: $(tail -n 2 "$T/csv.log")"
expect_eq "$(stock "$F/csv-bundle-all-19700101T000000Z-2.tar")" "1970-01-01T00:00:00Z 50" "second input"
csv 100
expect_eq "$(n_tars "$F")" 2 "the first input again"
cmp -s "$T/csv100.tar" "$F/csv-bundle-all-19700101T000000Z.tar" || fail "the first input again: other bytes"
echo "bundle_per_run: ok"
