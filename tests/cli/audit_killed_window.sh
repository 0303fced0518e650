#!/usr/bin/env bash
# The audit trail names every window's outputs, also of a window whose run
# was killed right after the window was marked loaded (the next run does
# not load it again): the monthly evidence export of three months, killed
# once May is loaded, then resumed. `cairn status --json` lists each
# month's bundle, with its sha256, in a run's outputs (the killed run's
# for April and May), as after an uninterrupted export.
source "$(dirname "$0")/../lib.sh"
"$CAIRN" run jobs/demo-policy.json --log-level warn --state "$T/wh/state" --out "$T/wh/out" \
  >/dev/null 2>"$T/wh.log" || fail "demo-policy: $(tail -n 3 "$T/wh.log")"
openssl genpkey -algorithm ed25519 -out "$T/key.pem" 2>/dev/null
export CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$(cat "$T/key.pem")"
export_months() { # DIR [env...]
  local d=$1; shift
  env "$@" "$CAIRN" run jobs/evidence-export.json --from 2024-04 --to 2024-07 \
    --param warehouse="$T/wh/out/warehouse.db" --state "$d/state" --out "$d/out" \
    --log-level warn >>"$d.out" 2>>"$d.log"
}
# DIR: "window bundle sha256" of every output the runs' records name
audit() {
  "$CAIRN" status evidence-export --state "$1/state" --json |
    jq -r '.runs[].outputs[]? | "\(.window) \(.sinks.evidence.bundle | sub(".*/"; "")) \(.sinks.evidence.sha256)"' | sort
}
export_months "$T/a" || fail "uninterrupted export: $(tail -n 3 "$T/a.log")"
want=$(audit "$T/a")
expect_eq "$(wc -l <<<"$want")" 3 "outputs of the uninterrupted export"

rc=0; export_months "$T/b" CAIRN_TEST_KILL_AT=window_loaded:1:2024-05 2>/dev/null || rc=$?
expect_eq "$rc" 137 "killed once May was loaded"
expect_eq "$(sqlite3 "$T/b/state/cairn.db" "SELECT group_concat(window || ':' || status) FROM windows")" \
  "2024-04:loaded,2024-05:loaded" "windows loaded by the killed run"
expect_eq "$("$CAIRN" status evidence-export --state "$T/b/state" --json |
  jq -r '.runs[0].outputs | map(.window) | join(" ")')" "2024-04 2024-05" "the killed run's outputs"
export_months "$T/b" || fail "resume: $(tail -n 3 "$T/b.log")"
expect_eq "$(audit "$T/b")" "$want" "outputs named by the runs of the killed and resumed export"
echo "ok: every month's bundle is in the audit trail after a kill"
