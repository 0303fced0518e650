#!/usr/bin/env bash
# --record and --replay with a job whose source makes no HTTP request (a
# file, a local cost export, sqlite) are refused (exit 2, nothing run,
# dry run too): --replay used to run from the files and stamp the bundle
# with the recording's SHA-256, as though its rows came from it, and
# --record wrote an empty recording. A missing --replay file of an HTTP
# job is still refused after the lock, saying it cannot be read.
source "$(dirname "$0")/../lib.sh"
S=(--state "$T/state" --out "$T/out")
cp fixtures/azure-cost-query.har "$T/rec.har"
for flag in --record --replay; do
  for dry in "" --dry-run; do
    set +e
    out=$("$CAIRN" run jobs/demo-cost.json "${S[@]}" $flag "$T/rec.har" $dry --json 2>"$T/err"); rc=$?
    set -e
    expect_eq "$rc" 2 "$flag $dry: exit"
    want="$flag $T/rec.har: job demo-cost reads its file source without HTTP, so there is nothing to ${flag#--}; run it without $flag"
    expect_eq "$(jq -r '.status + " " + .message' <<<"$out")" "refused $want" "$flag $dry: summary"
    grep -qF -- "$want" "$T/err" || fail "$flag $dry: stderr: $(cat "$T/err")"
  done
done
[ ! -e "$T/state" ] && [ ! -e "$T/out" ] || fail "a refused run touched state or out"
# the recording is left as it was
cmp -s fixtures/azure-cost-query.har "$T/rec.har" || fail "the recording was written"
source tests/data/connectors/azure-cost-query.env
set +e
"$CAIRN" run jobs/azure-cost-query.json "${PARAMS[@]}" "${S[@]}" --replay "$T/no-such.har" >/dev/null 2>"$T/err"; rc=$?
set -e
expect_eq "$rc" 2 "missing --replay file: exit"
grep -qF -- "--replay $T/no-such.har: cannot read: No such file or directory" "$T/err" || fail "missing --replay: $(cat "$T/err")"
echo ok
