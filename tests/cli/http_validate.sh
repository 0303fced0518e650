#!/usr/bin/env bash
# The http source's job checks: `cairn validate` and `cairn run` report a
# wrong paging style from the schema enum, and the source's own checks
# (a watermark the request never sends, too), as file:line:col: /pointer:
# message with exit 2 and nothing run (--dry-run too).
source "$(dirname "$0")/../lib.sh"
D=tests/data/http-jobs/invalid
declare -A want=(
  [bad-style]=':7:26: /source/paging/style: "nextlink" is not one of next_link, link_header, offset, body_token, cursor_param'
  [no-pointer]=':7:15: /source/paging: paging style next_link needs "pointer" (e.g. /nextLink, /@odata.nextLink, /properties/nextLink)'
  [wrong-key]=':7:52: /source/paging/pointer: "pointer" does not apply to paging style link_header'
  [relative-url]=':5:25: /source/request/url: request.url must be an absolute http(s) URL, got "/v1.0/users" (pass --param endpoint=URL?)'
  [watermark-unused]=':7:18: /source/watermark: the request never sends the watermark: put {{watermark}} in its url, query, headers or body (e.g. "sys_updated_on>={{watermark}}"), or every run reads everything'
)
for name in "${!want[@]}"; do
  for cmd in validate run dry-run; do
    set +e
    a=(); [ $cmd = validate ] || a=(--state "$T/state" --out "$T/out")
    [ $cmd = dry-run ] && a+=(--dry-run)
    err=$("$CAIRN" ${cmd#dry-} "$D/$name.json" "${a[@]}" 2>&1 >/dev/null)
    rc=$?
    set -e
    expect_eq "$rc" 2 "$cmd $name: exit"
    first=$(head -n 1 <<<"$err")
    [[ "$first" == "$D/$name.json${want[$name]}" ]] || fail "$cmd $name: [$first]"
    [ ! -e "$T/state" ] && [ ! -e "$T/out" ] || fail "$cmd $name: state or out touched"
  done
done
# Every shipped test job validates.
for f in tests/data/http-jobs/*.json; do
  mapfile -t p < <(uses "$f" endpoint=https://h.example token_url=https://login.example/t)
  CAIRN_SECRET_ARM_CLIENT_SECRET=x CAIRN_SECRET_GRAPH_CLIENT_SECRET=x CAIRN_SECRET_SNOW_PASSWORD=x \
  CAIRN_SECRET_SCIM_TOKEN=x CAIRN_SECRET_JIRA_API_TOKEN=x CAIRN_SECRET_BLOB_SAS_SIG=x \
  CAIRN_SECRET_FAKE_FN_KEY=x \
    "$CAIRN" validate "$f" "${p[@]}" >/dev/null ||
    fail "$f does not validate"
done
echo "${#want[@]} broken http jobs rejected with file:line:col"
