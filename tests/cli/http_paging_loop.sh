#!/usr/bin/env bash
# Paging loops end the run (exit 3) instead of fetching forever, and a
# rerun fails the same way at once without adding a chunk (loading a
# record twice): continuation tokens that cycle A -> B -> A (the requests
# the window made before the restart are remembered from its checkpointed
# cursors), and a server that ignores the offset parameter and serves the
# same full page forever (identical consecutive pages).
source "$(dirname "$0")/../lib.sh"
D=tests/data/http-jobs F=fixtures/http-source

chunks() { sqlite3 "$T/$1/state/cairn.db" "SELECT count(*) FROM chunks"; }
run() {   # NAME JOB HAR: replay JOB into $T/NAME; sets rc
  rc=0
  timeout 60 "$CAIRN" run "$D/$2.json" --state "$T/$1/state" --out "$T/$1/out" \
    --param endpoint=https://h.example --replay "$F/$3.har" >"$T/$1.out" 2>"$T/$1.log" || rc=$?
}

for spec in token-cycle:token-cycle:2:"page 3 gives the same continuation token as page 1 already did;" \
            offset-ignored:offset-ignored:1:'page 2 is identical to page 1'; do
  IFS=: read -r job har n want <<<"$spec"
  run "$job" "$job" "$har"
  expect_eq "$rc" 3 "$job: first run"
  grep -qF "paging loop: $want" "$T/$job.out" || fail "$job: $(cat "$T/$job.out")"
  expect_eq "$(chunks "$job")" "$n" "$job: chunks before the loop"
  loaded=$(sqlite3 "$T/$job/out/warehouse.db" 'SELECT count(*) FROM incident_link')
  for again in 1 2; do
    run "$job" "$job" "$har"
    expect_eq "$rc" 3 "$job: rerun $again"
    grep -qF "paging loop: $want" "$T/$job.out" || fail "$job rerun: $(cat "$T/$job.out")"
    expect_eq "$(chunks "$job")" "$n" "$job: chunks after rerun $again"
    expect_eq "$(sqlite3 "$T/$job/out/warehouse.db" 'SELECT count(*) FROM incident_link')" "$loaded" "$job: rows after rerun $again"
  done
done
# A loop the checks above cannot see (a server that ignores the position
# and changes the body each time) ends at max_pages (default 100000): the
# pages within the limit are loaded, the run stops resumably with a message
# that names the setting, and a rerun adds nothing.
export CAIRN_SECRET_JIRA_API_TOKEN=jira-token-33f8d2
jq '.name = "http-max-pages" | .source.paging.max_pages = 2' "$D/jira.json" >"$T/max-pages.json"
for again in 0 1; do
  rc=0
  timeout 60 "$CAIRN" run "$T/max-pages.json" --state "$T/mp/state" --out "$T/mp/out" \
    --param endpoint=https://h.example --replay "$F/jira.har" >"$T/mp.out" 2>"$T/mp.log" || rc=$?
  expect_eq "$rc" 3 "max_pages: run $again"
  grep -qF 'paging: more than max_pages (2) pages in this window; stopping' "$T/mp.out" ||
    fail "max_pages: $(cat "$T/mp.out")"
  grep -qF 'raise source.paging.max_pages' "$T/mp.out" || fail "max_pages hint: $(cat "$T/mp.out")"
  expect_eq "$(sqlite3 "$T/mp/out/warehouse.db" 'SELECT count(*) FROM incident_link')" 4 "max_pages: the 2 pages' rows, run $again"
done
echo "paging loops: token cycle and ignored offset end with exit 3; reruns add nothing; max_pages ends the rest"
