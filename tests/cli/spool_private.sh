#!/usr/bin/env bash
# The spool holds an HTTP source's raw pages, personal data a PII policy
# hashes or drops included (the policy applies after them): under the
# usual umask 022 they were world-readable (0644 files in 0755
# directories) beside a state store that status/dlq readers are meant to
# read, whenever a run stopped resumable (exit 3) or kept them
# (--keep-raw). They are the service user's alone now.
source "$(dirname "$0")/../lib.sh"
source tests/data/connectors/entra-users.env
umask 022
"$CAIRN" run jobs/entra-users.json --replay fixtures/entra-users.har "${PARAMS[@]}" \
  --state "$T/state" --out "$T/out" --keep-raw >"$T/stdout" 2>"$T/log" || fail "run: $(tail -3 "$T/log")"
pages="$T/state/spool/entra-users/all/pages.zst"
[ -f "$pages" ] || fail "no spool: $(find "$T/state")"
zstdcat "$pages" | has -F 'AdeleV@contoso.example' || fail "the spool is not what this test thinks"
expect_eq "$(stat -c %a "$pages")" 600 "spooled pages' mode"
for d in spool spool/entra-users spool/entra-users/all; do
  expect_eq "$(stat -c %a "$T/state/$d")" 700 "mode of $d"
done
# The state store stays readable for status and dlq readers.
expect_eq "$(stat -c %a "$T/state")" 755 "state directory's mode"
echo "ok: spooled pages are private"
