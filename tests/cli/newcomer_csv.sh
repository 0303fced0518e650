#!/usr/bin/env bash
# A newcomer's own CSV job, kept outside cairn's tree (docs/quickstart.md
# "A job of your own"): its sinks are found beside its directory when run
# from that directory, a missing sink directory or file says where cairn
# looked and what to do, and a mapping naming a column the CSV lacks (or a
# JSON pointer, which CSV rows do not have) is an invalid job, exit 2 at
# file:line:col with nothing run, not a run that ends "done" with every
# record rejected. The job itself (US dates, "$1,234.50" amounts, an empty
# value, one key twice) loads as docs/mapping.md says.
source "$(dirname "$0")/../lib.sh"
# Run outside the tree, a cairn finds its schemas beside its binary only
# when that is bin/cairn (make asan runs build/asan/cairn): name them.
export CAIRN_SCHEMAS="$ROOT/schemas"
D=tests/data/newcomer
M="$T/mine"
mkdir -p "$M/jobs"
cp "$D/saas-invoices.json" "$D/saas-invoices.csv" "$M/jobs/"
S=(--state "$T/state" --out "$T/out")
untouched() { [ ! -e "$T/state" ] && [ ! -e "$T/out" ] || fail "$1: state or out touched"; }
# in DIR, run cairn ARGS...: sets rc and err (stderr)
in_dir() {
  local dir=$1; shift
  set +e; err=$(cd "$dir" && "$CAIRN" "$@" 2>&1 >/dev/null); rc=$?; set -e
}

# No sink directory anywhere: the message says where cairn looked and how
# to give it one.
in_dir "$M/jobs" validate saas-invoices.json
expect_eq "$rc" 2 "no sink directory"
[[ "$err" == 'saas-invoices.json:27:'*': /sinks/0: unknown sink "warehouse": there is no sink directory (looked for sinks/ beside the job'"'"'s directory, then ./sinks): make one holding warehouse.json'*'or set CAIRN_SINKS to the directory of your sink files' ]] ||
  fail "no sink directory: $err"
in_dir "$M/jobs" run saas-invoices.json "${S[@]}"
expect_eq "$rc" 2 "run without a sink directory"
untouched "no sink directory"
set +e; err=$(CAIRN_SINKS="$T/nope" "$CAIRN" validate "$M/jobs/saas-invoices.json" 2>&1); rc=$?; set -e
expect_eq "$rc" 2 "CAIRN_SINKS missing"
[[ "$err" == *"unknown sink \"warehouse\": the sink directory \$CAIRN_SINKS=$T/nope does not exist"* ]] || fail "CAIRN_SINKS: $err"

# The sinks beside the jobs directory, as in cairn's own tree: found from
# the job's own directory too (a bare file name's directory is ".").
mkdir "$M/sinks"
cp sinks/warehouse.json "$M/sinks/"
in_dir "$M/jobs" validate saas-invoices.json
expect_eq "$rc" 0 "validate from the job's directory ($err)"
in_dir "$M" validate jobs/saas-invoices.json
expect_eq "$rc" 0 "validate from above ($err)"
# A sink file that is not there: the directory's sinks are listed.
jq '.sinks += ["evidnce"]' "$D/saas-invoices.json" >"$M/jobs/typo-sink.json"
in_dir "$M/jobs" validate typo-sink.json
expect_eq "$rc" 2 "sink typo"
[[ "$err" == *'/sinks/1: unknown sink "evidnce": no ../sinks/evidnce.json (the sink directory has: warehouse)' ]] || fail "sink typo: $err"

# Columns the CSV does not have: refused, by validate, --dry-run and run
# alike, each at its place in the job file. validate and --dry-run touch
# nothing; run refuses after taking the job's lock, so that the metrics
# file says so (exit code 2: CairnJobFailed fires, as for a missing
# --replay file), with no run record and no output.
jq '.transform.fields.resourceName = "Prodcut"
    | .transform.fields.recordId.fn[0].record_id = ["Invoice No", "Lien"]
    | .transform.fields.region = {"fn": [{"coalesce": ["Region", "Area"]}]}
    | .transform.fields.subscriptionId = "/account/id"
    | .transform.fields.resourceType = {"from": "Type", "fn": [{"default": "saas"}]}
    | .transform.fields.skuPriceId = {"fn": [{"coalesce": ["Sku", "Product"]}]}' \
  "$D/saas-invoices.json" >"$M/jobs/bad-columns.json"
H='of saas-invoices.csv (it has: Invoice No, Line, Vendor, Product, Billing Date, Period End, Amount, List Price, Currency, Seats, Cost Center, Notes), so every record would be rejected'
for cmd in validate dry run; do
  case $cmd in
    validate) in_dir "$M/jobs" validate bad-columns.json ;;
    dry) in_dir "$M/jobs" run bad-columns.json --dry-run "${S[@]}" ;;
    run) in_dir "$M/jobs" run bad-columns.json "${S[@]}" ;;
  esac
  expect_eq "$rc" 2 "$cmd: bad columns"
  for want in \
    ':15:11: /transform/fields/recordId/fn/0: column "Lien" is not in the header '"$H" \
    ': /transform/fields/resourceName: column "Prodcut" is not in the header '"$H" \
    ': /transform/fields/region/fn/0: none of the coalesce sources is in the header '"$H" \
    ': /transform/fields/subscriptionId: "/account/id" is a JSON pointer, but the records are CSV rows: name a column '"$H"; do
    has -F "bad-columns.json:" <<<"$err" || fail "$cmd: no file name: $err"
    has -F -- "$want" <<<"$err" || fail "$cmd: missing [$want] in: $err"
  done
  # a default (and a coalesce with one column there) reads a missing column as null
  expect_eq "$(grep -c '^bad-columns.json:.*would be rejected' <<<"$err")" 4 "$cmd: problems"
  [ "$cmd" = run ] || untouched "bad columns, $cmd"
done
grep -qx 'cairn_run_exit_code{job="saas-invoices"} 2' "$T/state/metrics/saas-invoices.prom" ||
  fail "bad columns: metrics: $(cat "$T/state/metrics/saas-invoices.prom" 2>&1)"
expect_eq "$(sqlite3 "$T/state/cairn.db" "SELECT count(*) FROM runs")" 0 \
  "bad columns: run records"
[ ! -e "$T/out" ] || fail "bad columns: output written"
rm -rf "$T/state"
# "explode" (a JSON pointer to an array in each record) over CSV rows
# would reject every record too.
jq '.transform.explode = "/lines"' "$D/saas-invoices.json" >"$M/jobs/explode.json"
in_dir "$M/jobs" validate explode.json
expect_eq "$rc" 2 "validate: explode over CSV"
has -F -- ': /transform/explode: "explode" needs JSON records, but the records are CSV rows of saas-invoices.csv (it has: ' <<<"$err" ||
  fail "explode over CSV: $err"

# The job as written loads: "$1,234.50" -> 1234.5, 05/31/2024 -> the next
# day (exclusive end), the empty cost center -> {}, and the corrected line
# (the same key, later in the file) replaces the first one.
in_dir "$M/jobs" run saas-invoices.json "${S[@]}"
expect_eq "$rc" 0 "run ($err)"
got=$(sqlite3 -separator ' ' "$T/out/warehouse.db" "SELECT billingAccountId, serviceName, chargePeriodStartUtc, chargePeriodEndUtc, billedCost, listCost, consumedQuantity, tags FROM cost_record ORDER BY billedCost")
expect_eq "$got" 'Atlassian Confluence 2024-05-01T00:00:00Z 2024-06-01T00:00:00Z 598.0 700.0 150 {"costCenter":"CC-42"}
Atlassian Jira Software 2024-05-01T00:00:00Z 2024-06-01T00:00:00Z 1234.5 1500.0 150 {"costCenter":"CC-42"}
Slack Slack Pro 2024-05-03T00:00:00Z 2024-06-03T00:00:00Z 8750.25 9000.0 1200 {}
GitHub Enterprise 2024-05-10T00:00:00Z 2024-06-10T00:00:00Z 21000.0 21000.0 1000 {"costCenter":"CC-42"}' "loaded rows"
echo "newcomer CSV job: sinks found from the job's directory, missing columns refused at file:line:col, the job loads"
