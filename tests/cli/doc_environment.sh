#!/usr/bin/env bash
# The Environment table of docs/operations.md lists exactly the variables
# cairn reads (getenv in src/, the test hooks CAIRN_TEST_* aside, and
# CAIRN_SECRET_<NAME>, which is read by name).
source "$(dirname "$0")/../lib.sh"
DOC=docs/operations.md
table=$(sed -n '/^## Environment/,/^## /p' "$DOC" | grep '^| `')
read_vars=$(grep -rhoE 'getenv\("[A-Z_]+"\)' src | sed -E 's/getenv\("([A-Z_]+)"\)/\1/' |
            grep -v '^CAIRN_TEST_' | sort -u)
doc_vars=$(sed -E 's/^\| `([A-Z_]+)[`<].*/\1/' <<<"$table" | sort -u)
[ -n "$read_vars" ] && [ -n "$doc_vars" ] || fail "found no variables"
for v in $read_vars; do
  grep -qx "$v" <<<"$doc_vars" || fail "cairn reads \$$v, the Environment table of $DOC does not list it"
done
for v in $doc_vars; do
  [ "$v" = CAIRN_SECRET_ ] && continue
  grep -qx "$v" <<<"$read_vars" || fail "$DOC lists \$$v, which cairn does not read"
done
grep -q '"CAIRN_SECRET_' src/job/spec.c || fail "CAIRN_SECRET_<NAME> is no longer how secrets are read"
echo ok
