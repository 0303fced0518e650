#!/usr/bin/env bash
# The windows a --from/--to backfill (and the nightly run without them)
# plans, as `--dry-run` previews them (docs/operations.md, "Backfill after
# an outage"): --to is exclusive, a monthly job covers every month the
# range touches, and an empty or reversed range is refused (exit 2) for
# day and month jobs alike, also when both dates fall in one month.
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
