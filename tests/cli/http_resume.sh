#!/usr/bin/env bash
# HTTP extraction acceptance 2: a paged pull (ServiceNow CMDB, 5 pages,
# Link rel=next) killed with SIGKILL mid-run and run again re-requests no
# page that was already spooled, and ends with the same sqlite3 .dump as
# an uninterrupted run. Counted from the mock's request log.
source "$(dirname "$0")/../lib.sh"
export CAIRN_SECRET_SNOW_PASSWORD=snow-pass-71c3aa
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
JOB=tests/data/http-jobs/servicenow.json
HAR=fixtures/http-source/servicenow-cmdb.har

run() {   # NAME [env...]: run the job into $T/NAME, returns its exit code
  local name=$1; shift
  env "$@" "$CAIRN" run "$JOB" --state "$T/$name/state" --out "$T/$name/out" \
    --param endpoint="$MOCK_URL" >>"$T/$name.out" 2>>"$T/$name.log"
}

start_mock "$HAR" "$T/clean.mock.log"
run clean || fail "clean run failed: $(tail -n 3 "$T/clean.log")"
stop_mock
want=$(sqlite3 "$T/clean/out/warehouse.db" .dump)
expect_eq "$(wc -l <"$T/clean.mock.log")" 5 "pages of an uninterrupted run"

# Killed right after chunk 2 was loaded (the pipeline may be fetching
# chunk 3 then); then right after chunk 3's page was spooled (extracted,
# not yet loaded); each time run again to the end.
offset_of() { sed -n 's/.*sysparm_offset=\([0-9]*\).*/\1/p'; }
for point in loaded:2 extracted:3; do
  name="kill-${point/:/-}"
  start_mock "$HAR" "$T/$name.mock.log"
  rc=0
  run "$name" CAIRN_TEST_KILL_AT="$point" 2>/dev/null || rc=$?
  expect_eq "$rc" 137 "$point: killed by SIGKILL"
  # The pages the killed run spooled (page k asks for offset 2(k-1)).
  spooled=$(sqlite3 "$T/$name/state/cairn.db" \
    "SELECT (seq - 1) * 2 FROM chunks WHERE spool IS NOT NULL ORDER BY seq")
  [ -n "$spooled" ] || fail "$point: nothing spooled before the kill"
  before=$(wc -l <"$T/$name.mock.log")
  run "$name" || fail "$point: resume failed: $(tail -n 3 "$T/$name.log")"
  stop_mock
  grep -q 'resuming' "$T/$name.log" || fail "$point: the second run did not resume"
  expect_eq "$(sqlite3 "$T/$name/out/warehouse.db" .dump)" "$want" "$point: dump after resume"
  # No spooled page was asked for again; every page was asked for.
  resumed=$(tail -n +"$((before + 1))" "$T/$name.mock.log" | jq -r .url | offset_of)
  for off in $spooled; do
    grep -qx "$off" <<<"$resumed" && fail "$point: spooled page at offset $off fetched again"
  done
  expect_eq "$(jq -r .url "$T/$name.mock.log" | offset_of | sort -un | tr '\n' ' ')" "0 2 4 6 8 " "$point: pages fetched"
  echo "$point: spooled offsets $(tr '\n' ' ' <<<"$spooled")not refetched; $(wc -l <"$T/$name.mock.log") requests in all"
done

# A spooled page lost to a power loss (spool files are not fsynced): here
# the file lost its end. The resumed run treats that chunk and the later
# ones as never extracted, fetches their pages again from the checkpointed
# cursor, and ends with the same dump.
name=lost-spool
start_mock "$HAR" "$T/$name.mock.log"
rc=0
run "$name" CAIRN_TEST_KILL_AT=extracted:3 2>/dev/null || rc=$?
expect_eq "$rc" 137 "lost spool: killed by SIGKILL"
# The spool column is "<window's spool file>#<offset>,<length>": cut the
# file 10 bytes into chunk 3's frame.
spool3=$(sqlite3 "$T/$name/state/cairn.db" "SELECT spool FROM chunks WHERE seq = 3")
file=${spool3%#*}; at=${spool3##*#}; at=${at%,*}
[ -f "$file" ] || fail "lost spool: chunk 3 has no spool file ($spool3)"
truncate -s $((at + 10)) "$file"
before=$(wc -l <"$T/$name.mock.log")
run "$name" || fail "lost spool: resume failed: $(tail -n 3 "$T/$name.log")"
stop_mock
grep -q 'is lost' "$T/$name.log" || fail "lost spool: no warning about the lost page"
expect_eq "$(sqlite3 "$T/$name/out/warehouse.db" .dump)" "$want" "lost spool: dump after resume"
resumed=$(tail -n +"$((before + 1))" "$T/$name.mock.log" | jq -r .url | offset_of | tr '\n' ' ')
expect_eq "$resumed" "4 6 8 " "lost spool: pages fetched again"
expect_eq "$(sqlite3 "$T/$name/state/cairn.db" "SELECT group_concat(load_count) FROM (SELECT load_count FROM chunks ORDER BY seq)")" \
  "1,1,1,1,1" "lost spool: each chunk loaded once"
echo "lost spool: chunk 3 fetched again, same dump"
