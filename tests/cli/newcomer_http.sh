#!/usr/bin/env bash
# A newcomer's own REST job (docs/jobs-http.md) against a made-up paged API
# on loopback (tests/cli/assets_server.py: Link-header paging, a bearer
# token): it loads, records and replays offline to the same warehouse and
# bundle parts, and its bundle verifies with cairn and the stock tools of
# docs/evidence.md. Then the paging mistakes a newcomer makes: no paging
# or next_link on a Link-header API warn that pages were left behind
# instead of ending "done" in silence, offset paging stops at the loop
# naming link_header and --fresh (a plain rerun, fixed job or not, stops
# again), a misspelt records pointer warns naming the page's members, and
# a misspelt member's rejects say the record has no such member.
# A missing secret or parameter stops the run before anything runs.
source "$(dirname "$0")/../lib.sh"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
J=tests/data/newcomer/acme-assets.json
TOKEN=acme-token-5be1c2
export CAIRN_SECRET_ACME_TOKEN=$TOKEN

start_server() {   # sets SRV and URL
  rm -f "$T/srv.out"
  python3 tests/cli/assets_server.py "$TOKEN" >"$T/srv.out" &
  SRV=$!
  wait_for "$SRV" test -s "$T/srv.out" || true
  URL=$(awk 'NR==1{print $2}' "$T/srv.out")
  [ -n "$URL" ] || fail "assets server did not start"
}
start_server

# run NAME JOB [ARGS...]: into $T/NAME; sets rc, out (stdout), log (stderr)
run() {
  local name=$1 job=$2; shift 2
  set +e
  out=$("$CAIRN" run "$job" --param endpoint="$URL" --state "$T/$name/state" --out "$T/$name/out" "$@" 2>"$T/$name.log")
  rc=$?
  set -e
  log=$(cat "$T/$name.log")
}
rows() { sqlite3 "$T/$1/out/warehouse.db" 'SELECT count(*) FROM cmdb_ci'; }
warned() { jq -r 'select(.level == "warn") | .msg' "$T/$1.log"; }

# Nothing runs without the secret or the parameter.
set +e
err=$(env -u CAIRN_SECRET_ACME_TOKEN "$CAIRN" run "$J" --param endpoint="$URL" --state "$T/x/state" --out "$T/x/out" 2>&1 >/dev/null); rc=$?
set -e
expect_eq "$rc" 2 "no secret"
[[ "$err" == "$J:"*': /source/auth/token: undefined secret "ACME_TOKEN" (set CAIRN_SECRET_ACME_TOKEN or put it in $CREDENTIALS_DIRECTORY/ACME_TOKEN)' ]] || fail "no secret: $err"
set +e; err=$("$CAIRN" run "$J" --state "$T/x/state" --out "$T/x/out" 2>&1 >/dev/null); rc=$?; set -e
expect_eq "$rc" 2 "no endpoint"
[[ "$err" == *'parameter "endpoint" is required: Base URL of the Acme Assets API (pass --param endpoint=VALUE, e.g. https://assets.acme.example)' ]] || fail "no endpoint: $err"
[ ! -e "$T/x" ] || fail "a refused run touched state or out"

# The job as written, recorded: all seven assets over three pages.
run rec "$J" --record "$T/acme.har"
expect_eq "$rc" 0 "recorded run: $out $log"
expect_eq "$(rows rec)" 7 "recorded rows"
expect_eq "$(sqlite3 "$T/rec/out/warehouse.db" "SELECT name, owner, env, tags, lastSeenUtc, coalesce(location, '-') FROM cmdb_ci WHERE ciId IN ('AST-0005', 'AST-0006') ORDER BY ciId")" \
  'db01.acme.internal|platform|dev|{"env":"dev","tier":2}|2024-05-05T13:00:00Z|eu-west-2
web06.acme.internal|payments|dev|{"env":"dev","tier":0}|2024-05-06T14:00:00Z|-' "mapped rows"
expect_eq "$(jq '.log.entries | length' "$T/acme.har")" 3 "recorded requests"
if grep -qF "$TOKEN" "$T/acme.har"; then fail "the token is in the recording"; fi
[ -z "$(warned rec | grep -v EVIDENCE_SIGNING_KEY)" ] || fail "warnings on a good run: $(warned rec)"

# Replayed offline (the server gone), with the parameters of the recording
# (its Link headers name the recorded host) and any token: the same rows,
# the same bundle parts; the manifest adds the recording's digest.
kill "$SRV"; wait "$SRV" 2>/dev/null || true
for n in 1 2; do
  CAIRN_SECRET_ACME_TOKEN=anything run "rep$n" "$J" --replay "$T/acme.har"
  expect_eq "$rc" 0 "replay $n: $out $log"
done
# Replayed with another endpoint, the recorded Link headers lead back to
# the recorded host: the refusal says what to do under a replay.
CAIRN_SECRET_ACME_TOKEN=anything URL=http://127.0.0.1:9 run rep-other "$J" --replay "$T/acme.har"
expect_eq "$rc" 3 "replay with another endpoint"
[[ "$out" == *"the next link points to host ${URL#http://}, which the job does not allow (allowed: 127.0.0.1:9; add it to source.allow_hosts if it is expected, or, if the recording was made against it, replay with the --param values it was made with); refused, nothing was sent to it" ]] ||
  fail "replay with another endpoint: $out"
expect_eq "$(sqlite3 "$T/rep1/out/warehouse.db" .dump)" "$(sqlite3 "$T/rec/out/warehouse.db" .dump)" "replayed warehouse"
# one bundle, named by the first page's Date, the recorded one in a replay
B=$(cd "$T/rec/out" && echo evidence/acme-assets/acme-assets-all-*Z.tar)
[ -f "$T/rec/out/$B" ] || fail "recorded run's bundle: $B"
cmp -s "$T/rep1/out/$B" "$T/rep2/out/$B" || fail "two replays gave different bundles"
for d in rec rep1; do mkdir "$T/x-$d"; tar -xf "$T/$d/out/$B" -C "$T/x-$d"; done
diff -r "$T/x-rec/parts" "$T/x-rep1/parts" || fail "replayed parts differ"
expect_eq "$(jq -r .recording_sha256 "$T/x-rec/manifest.json")" null "recorded run's manifest"
expect_eq "$(jq -r .recording_sha256 "$T/x-rep1/manifest.json")" "$(sha256sum <"$T/acme.har" | cut -d' ' -f1)" "replay's manifest"
expect_eq "$(jq -S 'del(.recording_sha256)' "$T/x-rec/manifest.json")" "$(jq -S 'del(.recording_sha256)' "$T/x-rep1/manifest.json")" "manifests otherwise"

# The bundle verifies: cairn verify, and by hand as docs/evidence.md does.
"$CAIRN" verify "$T/rep1/out/$B" >"$T/verify.out" || fail "verify: $(cat "$T/verify.out")"
tail -n 1 "$T/verify.out" | has -x OK || fail "verify: $(cat "$T/verify.out")"
(
  cd "$T/x-rep1"
  jq -r '.parts[] | "\(.sha256) \(.path)"' manifest.json |
    while read -r s p; do [ "$(sha256sum <"$p" | cut -d' ' -f1)" = "$s" ] || echo "$p: sha256 differs"; done
  jq -r '.parts[] | "\(.records) \(.path)"' manifest.json |
    while read -r n p; do [ "$(zstdcat "$p" | wc -l)" = "$n" ] || echo "$p: count differs"; done
  diff <(tar -tf "$T/rep1/out/$B" | sort) \
       <( (echo manifest.json; jq -r 'if .signature then "manifest.sig" else empty end, .parts[].path' manifest.json) | sort)
) >"$T/stock.out" 2>&1 || true
[ ! -s "$T/stock.out" ] || fail "stock tools: $(cat "$T/stock.out")"
expect_eq "$(cd "$T/x-rep1" && for p in $(jq -r '.parts[].path' manifest.json); do zstdcat "$p"; done | jq -r .ciId | tr '\n' ' ')" \
  "AST-0001 AST-0002 AST-0003 AST-0004 AST-0005 AST-0006 AST-0007 " "bundle records"

# Paging mistakes, against the server again (the recording holds only the
# job's own requests).
start_server
# No paging at all, or next_link with a pointer the API does not have: one
# page, and a warning that the Link header had more.
jq '.name = "no-paging" | del(.source.paging)' "$J" >"$T/no-paging.json"
jq '.name = "next-link" | .source.paging = {"style": "next_link", "pointer": "/next"}' "$J" >"$T/next-link.json"
for job in no-paging next-link; do
  run "$job" "$T/$job.json"
  expect_eq "$rc" 0 "$job"
  expect_eq "$(rows "$job")" 3 "$job: the first page only"
  style=$([ "$job" = no-paging ] && echo "none: one page" || echo next_link)
  warned "$job" | has -F "page 1 ends the window by the job's paging ($style), but its response has a Link header with rel=\"next\": the pages after it are not loaded. If the API pages by Link headers, give the job \"paging\": {\"style\": \"link_header\"}" ||
    fail "$job: no warning: $(warned "$job")"
done
# Offset paging: the API ignores offset/limit, so page 2 is page 1 again.
jq '.name = "offset" | .source.paging = {"style": "offset", "offset_param": "offset", "limit_param": "limit", "limit": 3}' "$J" >"$T/offset.json"
run offset "$T/offset.json"
expect_eq "$rc" 3 "offset paging"
[[ "$out" == "offset: FAILED (resumable: fix the job's paging (or have the API's owner fix the server), then rerun with --fresh: a plain rerun asks again for the pages its checkpoint holds and stops the same way)."* ]] || fail "offset summary: $out"
has -F 'paging loop: page 2 is identical to page 1; stopping instead of fetching forever (the server ignores the offset: check offset_param "offset"); the response has a Link header with rel="next": the API pages by Link headers, "paging": {"style": "link_header"}' <<<"$out" ||
  fail "offset message: $out"
expect_eq "$(jq -r 'select(.error) | .error' "$T/offset.log")" CAIRN_ELOOP "offset error code"
# Fixed, a plain rerun still meets its checkpoint's loop; --fresh loads all.
jq '.source.paging = {"style": "link_header"}' "$T/offset.json" >"$T/offset.fixed" && mv "$T/offset.fixed" "$T/offset.json"
run offset "$T/offset.json"
expect_eq "$rc" 3 "plain rerun of the fixed job"
[[ "$out" == *"then rerun with --fresh"* ]] || fail "rerun summary: $out"
run offset "$T/offset.json" --fresh
expect_eq "$rc" 0 "--fresh: $out"
expect_eq "$(rows offset)" 7 "--fresh rows"
# A misspelt records pointer loads nothing, and says where it looked.
jq '.name = "records" | .source.records = "/item"' "$J" >"$T/records.json"
run records "$T/records.json"
expect_eq "$rc" 0 "records typo"
[[ "$out" == "records: done. 0 records loaded, 0 rejected"* ]] || fail "records typo summary: $out"
expect_eq "$(warned records | grep -c 'records pointer')" 1 "one warning per run"
warned records | has -Fx 'page 1 has nothing at the records pointer "/item" (source.records), so no record is taken from it; its top-level members are: items, page' ||
  fail "records warning: $(warned records)"
# A misspelt member of a required field: every record is rejected, each
# saying that the record has no such member (not only "missing").
jq '.name = "member" | .transform.fields.ciId = "assetId" | .transform.fields.lastSeenUtc.from = "/seen/at"' "$J" >"$T/member.json"
run member "$T/member.json"
expect_eq "$rc" 0 "member typo"
expect_eq "$("$CAIRN" dlq member --state "$T/member/state" --json | jq -r '.[0].reasons')" \
  'ciId: required but missing (the record has no member "assetId"); lastSeenUtc: required but missing (the record has nothing at "/seen/at")' "member typo reasons"
echo "newcomer REST job: loads, replays offline, verifies; paging and records mistakes are named"
