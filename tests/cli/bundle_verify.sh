#!/usr/bin/env bash
# cairn verify against a bundle built here with stock tools only (zstd, jq,
# openssl, GNU tar), following docs/evidence.md: it verifies, also when
# re-packed by GNU tar or Python's tarfile; each kind of tampering gives
# exit 4 and a message naming the entry (or, for another bundle's file
# name, what the name says), including tar blocks that another
# tar reader would read differently than libarchive (built with python3,
# tests/cli/tar_tamper.py); usage errors give exit 2. Needs only the
# verify subcommand of $CAIRN.
source "$(dirname "$0")/../lib.sh"

B="$T/b"
mkdir -p "$B/parts/all"
openssl genpkey -algorithm ed25519 -out "$T/key.pem" 2>/dev/null
openssl pkey -in "$T/key.pem" -pubout -out "$T/pub.pem"
FPR=$(openssl pkey -pubin -in "$T/pub.pem" -outform DER | sha256sum | cut -d' ' -f1)
openssl genpkey -algorithm ed25519 2>/dev/null | openssl pkey -pubout -out "$T/other.pem"
OFPR=$(openssl pkey -pubin -in "$T/other.pem" -outform DER | sha256sum | cut -d' ' -f1)

printf '{"a":1}\n{"a":2}\n' | zstd -q -o "$B/parts/all/1.ndjson.zst"
printf '{"a":3}\n' | zstd -q -o "$B/parts/all/2.ndjson.zst"

part() { # seq records
  local f="$B/parts/all/$1.ndjson.zst"
  jq -n --arg p "parts/all/$1.ndjson.zst" --argjson seq "$1" --argjson r "$2" \
    --argjson b "$(stat -c %s "$f")" --arg s "$(sha256sum < "$f" | cut -d' ' -f1)" \
    '{path: $p, seq: $seq, records: $r, bytes: $b, sha256: $s}'
}
manifest() { # signature-json
  jq -S -n --argjson p1 "$(part 1 2)" --argjson p2 "$(part 2 1)" --argjson sig "$1" '{
    format: "cairn-evidence-bundle/1", job: "handmade", connector_version: null,
    contract: {name: "demo", version: "1.0.0", id: null},
    window: {key: "all", start: null, end: null},
    logical_time: "2024-06-01T00:00:00Z",
    compression: {algorithm: "zstd", level: 3},
    parts: [$p1, $p2],
    totals: {parts: 2, records: 3, bytes: ($p1.bytes + $p2.bytes)},
    recording_sha256: null, signature: $sig}'
}
pack() { # out.tar dir entries...
  local out=$1 dir=$2; shift 2
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1717200000 \
      -cf "$out" -C "$dir" "$@"
}
sign() { openssl pkeyutl -sign -inkey "$T/key.pem" -rawin -in "$1/manifest.json" -out "$1/manifest.sig"; }

manifest "{\"algorithm\": \"ed25519\", \"public_key_sha256\": \"$FPR\", \"file\": \"manifest.sig\"}" > "$B/manifest.json"
sign "$B"
ENTRIES=(manifest.json manifest.sig parts/all/1.ndjson.zst parts/all/2.ndjson.zst)
pack "$T/good.tar" "$B" "${ENTRIES[@]}"

# expect_fail tar want [--pubkey ...]: exit 4 and a stderr line with want.
expect_fail() {
  local tarf=$1 want=$2; shift 2
  set +e; "$CAIRN" verify "$tarf" "$@" >"$T/out" 2>"$T/err"; local rc=$?; set -e
  [ $rc -eq 4 ] || fail "verify $tarf: exit $rc, want 4: $(cat "$T/err")"
  grep -qF -- "$want" "$T/err" || fail "verify $tarf: no [$want] in: $(cat "$T/err")"
  grep -qF "verification FAILED" "$T/err" || fail "no FAILED line"
}

# -- the good bundle
"$CAIRN" verify "$T/good.tar" --pubkey "$T/pub.pem" > "$T/out"
grep -qx "job:          handmade" "$T/out" || fail "summary job: $(cat "$T/out")"
grep -qx "records:      3" "$T/out" || fail "summary records"
grep -qx "parts:        2" "$T/out" || fail "summary parts"
grep -qx "signature:    valid, ed25519 key $FPR" "$T/out" || fail "summary key"
grep -qx "OK" "$T/out" || fail "summary OK"
"$CAIRN" verify --pubkey="$T/pub.pem" "$T/good.tar" > /dev/null
"$CAIRN" verify "$T/good.tar" > "$T/out"
grep -qF "signature:    not checked (no --pubkey), manifest names key $FPR" "$T/out" \
  || fail "unchecked signature: $(cat "$T/out")"

# -- a flipped byte in a part
cp -a "$B" "$T/flip"
printf '\x00' | dd of="$T/flip/parts/all/2.ndjson.zst" bs=1 seek=6 conv=notrunc status=none
pack "$T/flip.tar" "$T/flip" "${ENTRIES[@]}"
expect_fail "$T/flip.tar" "parts/all/2.ndjson.zst: sha256 mismatch (manifest " --pubkey "$T/pub.pem"

# -- a removed part
pack "$T/removed.tar" "$B" manifest.json manifest.sig parts/all/1.ndjson.zst
expect_fail "$T/removed.tar" "parts/all/2.ndjson.zst: listed in manifest but missing from bundle"

# -- an added file
echo hello > "$B/extra.txt"
pack "$T/added.tar" "$B" "${ENTRIES[@]}" extra.txt
expect_fail "$T/added.tar" "extra.txt: not listed in manifest" --pubkey "$T/pub.pem"
rm "$B/extra.txt"

# -- an edited manifest: the signature breaks, and without a key the
#    count no longer matches the part
cp -a "$B" "$T/edit"
jq -S '.parts[0].records = 5 | .totals.records = 6' "$B/manifest.json" > "$T/edit/manifest.json"
pack "$T/edit.tar" "$T/edit" "${ENTRIES[@]}"
expect_fail "$T/edit.tar" "manifest.sig: signature does not verify with key $FPR" --pubkey "$T/pub.pem"
expect_fail "$T/edit.tar" "parts/all/1.ndjson.zst: record count mismatch (manifest 5, actual 2)"

# -- the wrong public key
expect_fail "$T/good.tar" "manifest.sig: signature does not verify with key $OFPR (manifest names key $FPR)" \
  --pubkey "$T/other.pem"

# -- an unsigned bundle: fine without a key, a failure with one
cp -a "$B" "$T/unsigned"
rm "$T/unsigned/manifest.sig"
manifest null > "$T/unsigned/manifest.json"
pack "$T/unsigned.tar" "$T/unsigned" manifest.json parts/all/1.ndjson.zst parts/all/2.ndjson.zst
"$CAIRN" verify "$T/unsigned.tar" | has -x "signature:    none (unsigned bundle)" || fail "unsigned summary"
expect_fail "$T/unsigned.tar" "manifest.json: bundle is unsigned" --pubkey "$T/pub.pem"

# -- a bundle that names things with newlines cannot print lines of its own
# (found by tests/fuzz/fuzz_verify.c): an extra entry "x<LF>OK", and an
# unsigned manifest whose job holds "<LF>signature: ok"
cp -a "$T/unsigned" "$T/forged"
jq '.job = "handmade\nsignature:    ok"' "$T/unsigned/manifest.json" > "$T/forged/manifest.json"
printf x > "$T/forged/parts/all/3.ndjson.zst"
mv "$T/forged/parts/all/3.ndjson.zst" "$T/forged/parts/all/3.ndjson.zst"$'\n''OK'
pack "$T/forged.tar" "$T/forged" manifest.json parts/all/1.ndjson.zst parts/all/2.ndjson.zst \
  "parts/all/3.ndjson.zst"$'\n''OK'
expect_fail "$T/forged.tar" 'parts/all/3.ndjson.zst\nOK: not listed in manifest'
while IFS= read -r l; do
  [[ "$l" == "cairn verify: "* ]] || fail "verify printed a line of the bundle's: [$l]"
done < "$T/err"
rm "$T/forged/parts/all/3.ndjson.zst"$'\n''OK'
pack "$T/forged.tar" "$T/forged" manifest.json parts/all/1.ndjson.zst parts/all/2.ndjson.zst
# (an unsigned manifest is not protected: it verifies, as it says)
"$CAIRN" verify "$T/forged.tar" > "$T/out"
grep -qxF 'job:          handmade\nsignature:    ok' "$T/out" || fail "forged job: $(cat "$T/out")"
! grep -qx "signature:    ok" "$T/out" || fail "forged summary line"

# -- parts named outside the directory a bundle is extracted into: tar -xf
#    strips a leading "/" and "../" (and Python's tarfile before 3.12
#    writes where they point), so the auditor's checks by the manifest's
#    paths would read other files than the ones verified
for bad in ../2.ndjson.zst /tmp/2.ndjson.zst parts/all/../../2.ndjson.zst \
           parts/./all/2.ndjson.zst parts//all/2.ndjson.zst; do
  rm -rf "$T/escape" && cp -a "$T/unsigned" "$T/escape"
  jq --arg p "$bad" '.parts[1].path = $p' "$T/unsigned/manifest.json" > "$T/escape/manifest.json"
  python3 - "$T/escape.tar" "$T/escape" "$bad" <<'EOF'
import io, sys, tarfile
out, d, bad = sys.argv[1:4]
with tarfile.open(out, 'w', format=tarfile.USTAR_FORMAT) as t:
    for arc, f in (('manifest.json', 'manifest.json'),
                   ('parts/all/1.ndjson.zst', 'parts/all/1.ndjson.zst'),
                   (bad, 'parts/all/2.ndjson.zst')):
        body = open(d + '/' + f, 'rb').read()
        ti = tarfile.TarInfo(arc)  # as given: add() would strip a "/"
        ti.size = len(body)
        t.addfile(ti, io.BytesIO(body))
EOF
  expect_eq "$(python3 -c 'import sys, tarfile; print(tarfile.open(sys.argv[1]).getnames()[-1])' \
    "$T/escape.tar")" "$bad" "the escaping entry's name"
  expect_fail "$T/escape.tar" "$bad: unsafe path in manifest (absolute, or with an empty, \".\" or \"..\" segment)"
done

# -- a part left out of both the tar and the manifest (totals mended): the
#    parts are numbered from 1, in order, so a gap is a missing chunk
rm -rf "$T/gap" && cp -a "$T/unsigned" "$T/gap"
jq '.parts = [.parts[1]] | .totals = {parts: 1, records: .parts[0].records, bytes: .parts[0].bytes}' \
  "$T/unsigned/manifest.json" > "$T/gap/manifest.json"
pack "$T/gap.tar" "$T/gap" manifest.json parts/all/2.ndjson.zst
expect_fail "$T/gap.tar" "manifest.json: parts[0] has seq 2, expected 1 (parts are numbered from 1 in order: one is missing or out of place)"
jq '.parts[1].seq = "2"' "$T/unsigned/manifest.json" > "$T/gap/manifest.json"
pack "$T/gap.tar" "$T/gap" manifest.json parts/all/1.ndjson.zst parts/all/2.ndjson.zst
expect_fail "$T/gap.tar" "manifest.json: parts[1] has seq \"2\", expected 2"

# -- renamed: a name of its own verifies, another bundle's name does not
cp "$T/good.tar" "$T/handmade-all-20240601T000000Z.tar"
"$CAIRN" verify "$T/handmade-all-20240601T000000Z.tar" --pubkey "$T/pub.pem" >/dev/null \
  || fail "the bundle under its own name"
cp "$T/good.tar" "$T/handmade-all-20240701T000000Z.tar"
expect_fail "$T/handmade-all-20240701T000000Z.tar" \
  "handmade-all-20240701T000000Z.tar: its name is that of the bundle of job handmade, window all, logical time 20240701T000000Z, but its manifest is of job handmade, window all, logical time 2024-06-01T00:00:00Z" \
  --pubkey "$T/pub.pem"
cp "$T/good.tar" "$T/handmade-2024-05.tar"
expect_fail "$T/handmade-2024-05.tar" "its name is that of the bundle of job handmade, window 2024-05, but"

# -- a copy cut short in its end-of-archive marker: tar still lists every
#    entry, verify does not pass it, and the stock check of
#    docs/evidence.md step 4 (the last 1024 bytes are zero) tells it too
#    (GNU tar pads the archive to 10 KiB: cut it at its last entry's end)
end=$(python3 -c 'import sys, tarfile
m = tarfile.open(sys.argv[1]).getmembers()[-1]; print(m.offset_data + (m.size + 511) // 512 * 512)' "$T/good.tar")
head -c "$end" "$T/good.tar" > "$T/cut.tar"
tar -tf "$T/cut.tar" > /dev/null || fail "tar refuses the cut bundle (the case is moot)"
expect_fail "$T/cut.tar" "cut.tar: truncated: the end-of-archive marker (two zero blocks from offset " --pubkey "$T/pub.pem"
expect_eq "$(tail -c 1024 "$T/good.tar" | tr -d '\0' | wc -c)" 0 "stock check of the end: good bundle"
[ "$(tail -c 1024 "$T/cut.tar" | tr -d '\0' | wc -c)" != 0 ] || fail "stock check of the end: cut bundle"

# -- not a tar at all
echo "not a tar" > "$T/junk.tar"
expect_fail "$T/junk.tar" "not a readable tar archive"

# -- a damaged tar header (a flipped byte in a part's name): libarchive's
#    "Damaged tar archive", not a list of entries with empty names
python3 - "$T/good.tar" "$T/damaged.tar" <<'EOF'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
at = next(o for o in range(0, len(d), 512) if d[o:o + 11] == b'parts/all/1')
d[at + 3] ^= 1
open(sys.argv[2], 'wb').write(bytes(d))
EOF
expect_fail "$T/damaged.tar" "$T/damaged.tar: not a readable tar archive (Damaged tar archive)" \
  --pubkey "$T/pub.pem"
! grep -q '^cairn verify: : ' "$T/err" || fail "damaged header: empty names: $(cat "$T/err")"

# -- the tar's own blocks: what another tar reader would read differently
#    than libarchive (tests/cli/tar_tamper.py). A pax global header, which
#    GNU tar and Python's tarfile apply and libarchive ignores, stretches
#    the last part over a second zstd frame in its padding: tar -xf
#    extracts a record the manifest never signed.
tamper() { python3 tests/cli/tar_tamper.py "$1" "$T/good.tar" "$T/$1.tar"; }
tamper global
mkdir "$T/g" && tar -xf "$T/global.tar" -C "$T/g"
zstdcat "$T/g/parts/all/2.ndjson.zst" | has -F '"injected"' \
  || fail "tar -xf does not see the injected record"
expect_eq "$(python3 -c 'import sys, tarfile
t = tarfile.open(sys.argv[1]); m = t.getmembers()[-1]
print(m.name, t.extractfile(m).read() != open(sys.argv[2], "rb").read())' \
  "$T/global.tar" "$B/parts/all/2.ndjson.zst")" "parts/all/2.ndjson.zst True" \
  "tarfile reads the stretched part"
expect_fail "$T/global.tar" \
  "global.tar: parts/all/2.ndjson.zst: pax global header (type 'g') at offset " --pubkey "$T/pub.pem"
tamper padding
expect_fail "$T/padding.tar" "padding.tar: parts/all/2.ndjson.zst: padding after its data is not zero"
tamper trailer
tar -itf "$T/trailer.tar" | has -x extra.txt || fail "tar -i does not see the trailer"
expect_fail "$T/trailer.tar" "trailer.tar: bytes after the end of the archive are not zero"
tamper two-L
expect_eq "$(python3 -c 'import sys, tarfile; print(tarfile.open(sys.argv[1]).getnames()[-1])' \
  "$T/two-L.tar")" extra.txt "tarfile's name of the doubly named entry"
expect_fail "$T/two-L.tar" "two-L.tar: parts/all/2.ndjson.zst: second 'L' header at offset "
tamper two-x
expect_fail "$T/two-x.tar" "two-x.tar: not a readable tar archive ("
tamper hardlink
expect_fail "$T/hardlink.tar" "hardlink.tar: link.txt: tar header of type '1' at offset "

# -- re-packed by stock tools (GNU tar, GNU tar's pax format, Python's
#    tarfile): directories, "./" and per-entry pax headers verify
mkdir "$T/re" && tar -xf "$T/good.tar" -C "$T/re"
tar -cf "$T/re-gnu.tar" -C "$T/re" .
tar --format=posix -cf "$T/re-posix.tar" -C "$T/re" .
grep -qa PaxHeaders "$T/re-posix.tar" || fail "posix re-pack has no pax headers"
python3 -c 'import sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t: t.add(sys.argv[2], arcname=".")' \
  "$T/re-py.tar" "$T/re"
for f in re-gnu re-posix re-py; do
  "$CAIRN" verify "$T/$f.tar" --pubkey "$T/pub.pem" > "$T/out" 2>&1 \
    || fail "$f: re-packed bundle does not verify: $(cat "$T/out")"
done

# -- usage
expect_exit 0 "$CAIRN" verify --help >/dev/null
expect_exit 2 "$CAIRN" verify 2>/dev/null
expect_exit 2 "$CAIRN" verify "$T/good.tar" --pubkey 2>/dev/null
expect_exit 2 "$CAIRN" verify "$T/good.tar" --frobnicate 2>/dev/null
expect_exit 2 "$CAIRN" verify "$T/good.tar" "$T/good.tar" 2>/dev/null
expect_exit 2 "$CAIRN" verify "$T/missing.tar" 2>/dev/null
expect_exit 2 "$CAIRN" verify "$T/good.tar" --pubkey "$T/junk.tar" 2>/dev/null
# A directory given as the bundle (a mistyped path, an unpacked bundle) is
# a usage error naming it, not a "verification FAILED" with libarchive's
# read error on the descriptor.
mkdir -p "$T/unpacked"
set +e; msg=$("$CAIRN" verify "$T/unpacked" 2>&1); rc=$?; set -e
expect_eq "$rc" 2 "cairn verify DIR exit code"
expect_eq "$msg" "cairn verify: $T/unpacked: Is a directory" "cairn verify DIR message"
# A bundle read from a pipe (curl ... | cairn verify /dev/stdin, or
# <(...)): a usage error saying to save it first, not a good bundle
# "FAILED" because its blocks cannot be read twice.
set +e; msg=$(cat "$T/good.tar" | "$CAIRN" verify /dev/stdin --pubkey "$T/pub.pem" 2>&1); rc=$?; set -e
expect_eq "$rc" 2 "cairn verify of a pipe: exit code"
expect_eq "$msg" "cairn verify: /dev/stdin: not a regular file (a pipe?): save the bundle to a file and verify that" \
  "cairn verify of a pipe: message"
"$CAIRN" verify /dev/stdin --pubkey "$T/pub.pem" < "$T/good.tar" >/dev/null || fail "/dev/stdin of a file"
# A verdict that cannot be written (a full disk) is not a pass.
set +e; err=$("$CAIRN" verify "$T/good.tar" --pubkey "$T/pub.pem" 2>&1 >/dev/full); rc=$?; set -e
expect_eq "$rc" 4 "verify to a full disk: exit"
[[ "$err" == *"cairn verify: cannot write standard output"* ]] || fail "verify to a full disk: $err"
echo "bundle_verify: ok"
