#!/usr/bin/env bash
# A continuation kept by the checkpoint can lapse before the resume (a
# Resource Graph $skipToken, a Cost Management or Policy nextLink, Jira's
# nextPageToken live minutes to hours). The Resource Graph job is killed
# after chunk 1, then resumed days later against a server that answers its
# kept $skipToken with 400: the run used to fail "resumable" (exit 3, "run
# again to resume"), and every rerun sent the dead token again. Now the
# message says the server refused the continuation the checkpoint kept and
# to rerun with --fresh, and what that does to the rows (still exit 3,
# checkpoint kept; the summary says --fresh too); the --fresh run loads the
# golden rows.
# Everything runs against `cairn mock` on 127.0.0.1.
source "$(dirname "$0")/../lib.sh"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export CAIRN_TEST_FAST_RETRY=1
source tests/data/connectors/azure-resource-graph.env
golden=tests/data/golden/connectors/azure-resource-graph.tsv
d="$T/arg"
run() {   # [env...]: run the job against the mock; sets rc
  set +e
  env "$@" "$CAIRN" run jobs/azure-resource-graph.json "${PARAMS[@]}" \
    --param endpoint="$MOCK_URL" --param login_endpoint="$MOCK_URL" \
    --state "$d/state" --out "$d/out" >"$d.out" 2>"$d.log"
  rc=$?
  set -e
}

# The recording whose later pages answer 400: their tokens lapsed.
jq '(.log.entries[] | select((.request.postData.text // "") | test("skipToken"))).response |=
      (.status = 400 | .statusText = "Bad Request" |
       .content.text = "{\"error\":{\"code\":\"BadRequest\",\"message\":\"Invalid $skipToken: it has expired\"}}" |
       .content.size = (.content.text | length))' \
  fixtures/azure-resource-graph.har >"$T/lapsed.har"

mkdir -p "$d"
start_mock fixtures/azure-resource-graph.har "$T/mock1.log"
run CAIRN_TEST_KILL_AT=loaded:1 2>/dev/null
stop_mock
expect_eq "$rc" 137 "killed after chunk 1"

start_mock "$T/lapsed.har" "$T/mock2.log"
run
stop_mock
expect_eq "$rc" 3 "resume on a lapsed token: $(tail -n 2 "$d.log")"
err=$(cat "$d.log" "$d.out")
has -E "the server refused the continuation token of page [0-9]+ kept by the checkpoint \\(most likely expired since" <<<"$err" || fail "message: $err"
has -F 'rerun with --fresh, which starts the window over and loads its' <<<"$err" || fail "no --fresh advice: $err"
has -F 'append sinks add them twice' <<<"$err" || fail "append sinks not warned: $err"
has -F 'Invalid $skipToken: it has expired' <<<"$err" || fail "the server's words: $err"
has -F 'rerun with --fresh' <<<"$(cat "$d.out")" || fail "summary: $(cat "$d.out")"
expect_eq "$(sqlite3 "$d/out/warehouse.db" "SELECT max(seq) FROM _cairn_chunks")" 1 "the checkpoint kept"

# A plain rerun meets the same refusal; --fresh loads the snapshot.
start_mock fixtures/azure-resource-graph.har "$T/mock3.log"
set +e
"$CAIRN" run jobs/azure-resource-graph.json "${PARAMS[@]}" --param endpoint="$MOCK_URL" \
  --param login_endpoint="$MOCK_URL" --state "$d/state" --out "$d/out" --fresh >"$d.out" 2>"$d.log"
rc=$?
set -e
stop_mock
expect_eq "$rc" 0 "--fresh run: $(tail -n 2 "$d.log")"
diff <(sqlite3 -separator $'\t' "$d/out/warehouse.db" "SELECT * FROM cmdb_ci ORDER BY rowid") "$golden" >/dev/null \
  || fail "--fresh run differs from $golden"
echo "a lapsed continuation on resume says to rerun with --fresh (exit 3); --fresh loads the golden rows"
