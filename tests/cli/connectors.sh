#!/usr/bin/env bash
# Issue #7 acceptance 1: every shipped HTTP connector job is replayed from
# its recording (fixtures/<job>.har) and run once against `cairn mock` of
# that recording over real HTTP on 127.0.0.1; both must load exactly the
# golden rows (tests/data/golden/connectors/<job>.tsv).
#
# Per job, tests/data/connectors/<job>.env (optional) is sourced first: it
# sets secrets (CAIRN_SECRET_*) and PARAMS=(--param k=v ...) for both runs;
# MOCK_PARAMS=(...) are added for the mock run, in place of a PARAMS
# entry of the same name (a --param given twice is refused), where the
# string @URL@ is replaced by the mock's base URL (e.g. --param
# endpoint=@URL@). QUERY may
# override the golden query (default: every row of the contract's table in
# load order).
source "$(dirname "$0")/../lib.sh"
n=0
for har in fixtures/*.har; do
  name=$(basename "$har" .har)
  job="jobs/$name.json"
  [ -f "$job" ] || continue
  golden="tests/data/golden/connectors/$name.tsv"
  [ -f "$golden" ] || fail "$name: no golden file $golden"
  table=$(jq -r .transform.contract "$job")
  PARAMS=(); MOCK_PARAMS=(); QUERY="SELECT * FROM $table ORDER BY rowid"
  envf="tests/data/connectors/$name.env"
  [ -f "$envf" ] && source "$envf"
  q() { sqlite3 -separator $'\t' "$1/out/warehouse.db" "$QUERY"; }

  # 1. offline replay
  d="$T/$name-replay"
  "$CAIRN" run "$job" --replay "$har" "${PARAMS[@]}" --state "$d/state" --out "$d/out" \
    >"$d.stdout" 2>"$d.log" || fail "$name replay: $(tail -n 3 "$d.log")"
  diff <(q "$d") "$golden" >/dev/null || { diff <(q "$d") "$golden" | head; fail "$name replay differs from golden"; }

  # 2. real HTTP against the mock of the same recording
  d="$T/$name-mock"; mkdir -p "$d"
  "$CAIRN" mock "$har" --listen 127.0.0.1:0 --log "$d/mock.log" --idle-exit 30 >"$d/mock.out" 2>"$d/mock.err" &
  mock=$!
  wait_for "$mock" grep -q '^listening ' "$d/mock.out" || true
  url=$(sed -n 's/^listening //p' "$d/mock.out")
  [ -n "$url" ] || fail "$name: mock did not start: $(cat "$d/mock.err")"
  args=() mocked=" "
  for ((i = 0; i < ${#MOCK_PARAMS[@]}; i += 2)); do
    args+=("${MOCK_PARAMS[i]}" "${MOCK_PARAMS[i+1]//@URL@/$url}")
    mocked+="${MOCK_PARAMS[i]} ${MOCK_PARAMS[i+1]%%=*} "
  done
  base=()
  for ((i = 0; i < ${#PARAMS[@]}; i++)); do
    a=${PARAMS[i]}
    if [ "$a" = --param ] && [[ "$mocked" == *" --param ${PARAMS[i+1]%%=*} "* ]]; then
      i=$((i + 1))
    else
      base+=("$a")
    fi
  done
  set +e
  "$CAIRN" run "$job" "${base[@]}" "${args[@]}" --state "$d/state" --out "$d/out" >"$d.stdout" 2>"$d.log"
  rc=$?
  set -e
  kill $mock 2>/dev/null; wait $mock 2>/dev/null || true
  [ $rc -eq 0 ] || fail "$name mock: exit $rc: $(tail -n 3 "$d.log")"
  diff <(q "$d") "$golden" >/dev/null || { diff <(q "$d") "$golden" | head; fail "$name mock run differs from golden"; }
  [ -s "$d/mock.log" ] || fail "$name: the mock saw no request"
  n=$((n+1))
done
[ $n -gt 0 ] || fail "no connector recordings found"
echo "$n connectors replayed and run against cairn mock"
