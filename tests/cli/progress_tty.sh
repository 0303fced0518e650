#!/usr/bin/env bash
# Issue #8: on a terminal, one live progress line (records, chunks,
# records/s) redrawn in place with \r; nothing of it when stderr is not a
# terminal. `script` gives the run a pseudo-terminal.
source "$(dirname "$0")/../lib.sh"
cmd="$CAIRN run jobs/demo-cost.json --param chunk_rows=100 --state $T/s1 --out $T/o1 --log-level warn"
script -qec "$cmd" "$T/tty.out" >/dev/null 2>&1 || fail "run on a pty"
lines=$(tr '\r' '\n' < "$T/tty.out" | grep -a 'demo-cost  [0-9,]* records  [0-9]* chunks\?  [0-9,]* rec/s' | wc -l)
[ "$lines" -ge 1 ] || fail "no progress line on a terminal: $(tr '\r' '\n' < "$T/tty.out" | head -5)"
grep -aq $'\r' "$T/tty.out" || fail "progress not redrawn with \\r"
# Not a terminal: no progress text at all.
"$CAIRN" run jobs/demo-cost.json --param chunk_rows=100 \
  --state "$T/s2" --out "$T/o2" --log-level warn >"$T/out" 2>"$T/err" || fail "run"
! grep -aq 'rec/s' "$T/out" "$T/err" || fail "progress printed without a terminal"
! grep -aq $'\r' "$T/err" || fail "carriage return without a terminal"
