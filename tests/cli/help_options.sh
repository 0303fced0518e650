#!/usr/bin/env bash
# Every option a command accepts (the long options its source parses) is
# named in its --help and in the Commands table of docs/operations.md, and
# every option its --help names is one it accepts: neither may drift from
# the parser when an option is added or removed.
source "$(dirname "$0")/../lib.sh"
DOC=docs/operations.md
table=$(sed -n '/^## Commands/,/^## Scheduling/p' "$DOC")
[ -n "$table" ] || fail "no Commands section in $DOC"
for c in run status validate verify mock dlq decrypt; do
  src=src/cli/cmd_$c.c
  # getopt_long tables ({ "name", ...) and hand-written parsers ("--name")
  accepted=$( (grep -oE '\{ "[a-z-]+", (required|no)_argument' "$src" |
                 grep -oE '"[a-z-]+"' | tr -d '"' || true
               grep -oE 'opt_value\([^"]*"--[a-z-]+"|strn?cmp\(a, "--[a-z-]+' "$src" |
                 grep -oE -- '--[a-z-]+' | sed 's/^--//' || true) |
             sort -u | grep -vx help || true)
  [ -n "$accepted" ] || fail "$c: found no options in $src"
  help=$("$CAIRN" "$c" --help)
  # the command's rows of the table: from its own row to the next command's
  rows=$(awk -v c="| \`cairn $c" 'index($0, c) == 1 {on = 1; print; next}
           on && index($0, "| `cairn ") == 1 {on = 0} on' <<<"$table")
  [ -n "$rows" ] || fail "$c: no row in the Commands table of $DOC"
  for o in $accepted; do
    grep -qe "--$o\b" <<<"$help" || fail "$c accepts --$o, its --help does not name it"
    grep -qe "--$o\b" <<<"$rows" || fail "$c accepts --$o, $DOC (Commands) does not name it"
  done
  for o in $(grep -oE -- '--[a-z][a-z-]*' <<<"$help" | sed 's/^--//' | sort -u); do
    [ "$o" = help ] || grep -qx -- "$o" <<<"$accepted" ||
      fail "$c --help names --$o, which $c does not accept"
  done
done
echo ok
