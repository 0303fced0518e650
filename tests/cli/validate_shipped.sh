#!/usr/bin/env bash
# Issue #7 acceptance 2: every shipped job and sink file validates, with no
# secret set and no --param (declared params are checked with their
# examples).
source "$(dirname "$0")/../lib.sh"
unset $(env | sed -n 's/^\(CAIRN_SECRET_[A-Z0-9_]*\)=.*/\1/p') CREDENTIALS_DIRECTORY
out=$("$CAIRN" validate jobs/*.json sinks/*.json 2>"$T/err") || fail "validate: $(grep -v note: "$T/err")"
n=$(ls jobs/*.json sinks/*.json | wc -l)
expect_eq "$(grep -c ': ok$' <<<"$out")" "$n" "every file ok"
! grep -v ': note: ' "$T/err" | has . || fail "unexpected stderr: $(cat "$T/err")"
