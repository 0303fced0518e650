#!/usr/bin/env bash
# The windows a --from/--to backfill (and the nightly run without them)
# plans, as `--dry-run` previews them (docs/operations.md, "Backfill after
# an outage"): --to is exclusive, a monthly job covers every month the
# range touches, and an empty or reversed range is refused (exit 2) for
# day and month jobs alike, also when both dates fall in one month, as
# are dates before 1970-01-01.
source "$(dirname "$0")/../lib.sh"
export CAIRN_SECRET_CLIENT_SECRET=s
P=(--param tenant_id=t --param client_id=c --param scope=subscriptions/x
   --state "$T/state" --out "$T/out")
jq '.name = "cost-daily" | .window = "day"' jobs/azure-cost-query.json > "$T/daily.json"
# plan JOB FROM TO: "N FIRST LAST" of the dry run, or "exit N"
plan() {
  local j=$1 out rc; shift
  set +e
  out=$("$CAIRN" run "$j" "${P[@]}" --from "$1" --to "$2" --dry-run --json 2>/dev/null)
  rc=$?
  set -e
  [ $rc -eq 0 ] || { echo "exit $rc"; return; }
  jq -r .message <<<"$out" | sed -E 's/^would run ([0-9]+) windows? \(([^ ]+) \.\. ([^ )]+)\).*/\1 \2 \3/'
}
M=jobs/azure-cost-query.json D="$T/daily.json"
expect_eq "$(plan $M 2024-05 2024-06)" "1 2024-05 2024-05" "runbook: May"
expect_eq "$(plan $M 2024-03 2024-05)" "2 2024-03 2024-04" "runbook: March and April"
expect_eq "$(plan $D 2024-05-01 2024-05-08)" "7 2024-05-01 2024-05-07" "runbook: 1 to 7 May"
expect_eq "$(plan $M 2023-11 2024-03)" "4 2023-11 2024-02" "across the new year"
expect_eq "$(plan $D 2024-02-28 2024-03-02)" "3 2024-02-28 2024-03-01" "Feb 29"
expect_eq "$(plan $D 2023-12-31 2024-01-01)" "1 2023-12-31 2023-12-31" "year's last day"
expect_eq "$(plan $M 2024-01 2024-03-01)" "2 2024-01 2024-02" "a first day as --to"
expect_eq "$(plan $M 2024-01-31 2024-03-02)" "3 2024-01 2024-03" "months touched"
expect_eq "$(plan $M 2024-02-10 2024-02-20)" "1 2024-02 2024-02" "days in one month"
expect_eq "$(plan $D 2024-02-30 2024-03-01)" "exit 2" "no Feb 30"
expect_eq "$(plan $D 2023-02-29 2023-03-01)" "exit 2" "no Feb 29 in 2023"
expect_eq "$(plan $D 2024-05 2024-06)" "exit 2" "months for a day job"
# Dates before 1970 (times are seconds since 1970-01-01 UTC), or with a
# sign: refused, for day and month jobs alike. They were planned as windows
# "0000-01-01" or "-001-05", run and recorded.
expect_eq "$(plan $D 0000-01-01 0000-01-03)" "exit 2" "day: year 0"
expect_eq "$(plan $M 0000-01-01 0000-01-03)" "exit 2" "month: year 0"
expect_eq "$(plan $D 1969-12-31 1970-01-02)" "exit 2" "day: 1969"
expect_eq "$(plan $M 1969-12 1970-02)" "exit 2" "month: 1969"
expect_eq "$(plan $M -001-05 0000-01)" "exit 2" "month: a negative year"
expect_eq "$(plan $M 2024-+5 2024-07)" "exit 2" "month: a signed month"
expect_eq "$(plan $D 1970-01-01 1970-01-02)" "1 1970-01-01 1970-01-01" "day: the first there is"
expect_eq "$(plan $M 1970-01 1970-02)" "1 1970-01 1970-01" "month: the first there is"
"$CAIRN" run $D "${P[@]}" --from 0000-01-01 --to 0000-01-03 --dry-run \
  >/dev/null 2>"$T/err" && fail "year 0 ran"
has -F -- '--from 0000-01-01: windows start on 1970-01-01 or later' "$T/err" \
  || fail "year 0: $(cat "$T/err")"
# Empty or reversed ranges: refused, whatever the job's windows.
expect_eq "$(plan $D 2024-05-08 2024-05-01)" "exit 2" "day: --from after --to"
expect_eq "$(plan $D 2024-05-01 2024-05-01)" "exit 2" "day: --from = --to"
expect_eq "$(plan $M 2024-06 2024-05)" "exit 2" "month: --from after --to"
expect_eq "$(plan $M 2024-05 2024-05)" "exit 2" "month: --from = --to"
expect_eq "$(plan $M 2024-05-20 2024-05-10)" "exit 2" "month: --from after --to, one month"
expect_eq "$(plan $M 2024-05-15 2024-05-15)" "exit 2" "month: --from = --to, one month"
expect_eq "$(plan $M 2024-05-15 2024-05)" "exit 2" "month: --to the month --from is in"
"$CAIRN" run $M "${P[@]}" --from 2024-05-20 --to 2024-05-10 --dry-run \
  >/dev/null 2>"$T/err" && fail "reversed range ran"
grep -q -- '--to 2024-05-10 must be after --from 2024-05-20 (--to is exclusive)' "$T/err" \
  || fail "reversed range: $(cat "$T/err")"
# Without --from/--to: the last complete UTC day or month.
night() {
  CAIRN_TEST_NOW=$(date -u -d "$2" +%s) "$CAIRN" run "$1" "${P[@]}" --dry-run --json \
    | jq -r .message | sed -E 's/^would run 1 window \(([^ ]+) .*/\1/'
}
expect_eq "$(night $D 2024-03-01T00:00:00Z)" "2024-02-29" "nightly: leap day"
expect_eq "$(night $D 2024-01-01T02:30:00Z)" "2023-12-31" "nightly: new year"
expect_eq "$(night $M 2024-03-01T00:00:00Z)" "2024-02" "nightly: February"
expect_eq "$(night $M 2024-02-29T23:59:59Z)" "2024-01" "nightly: month not over"
expect_eq "$(night $M 2024-01-01T00:30:00Z)" "2023-12" "nightly: December"
[ ! -e "$T/state" ] || fail "a dry run left state"
echo "backfill_range: ok"
