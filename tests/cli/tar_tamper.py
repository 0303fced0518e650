"""tar_tamper.py MODE IN OUT: copy the tar IN to OUT with its raw blocks
changed so that some tar reader sees something libarchive does not (used
by tests/cli/bundle_verify.sh; cairn verify must refuse every OUT).

  global    a pax global header (type 'g') before the last entry that
            enlarges it over a second zstd frame (a record of its own)
            placed in the entry's padding: GNU tar and tarfile extract
            the extra frame as part of the entry, libarchive ignores 'g'
  padding   the same frame in the padding, without the 'g' header
  trailer   a whole entry after the end-of-archive blocks (tar -i reads it)
  two-x     two pax 'x' headers before the last entry
  two-L     two GNU long-name headers before the last entry: tarfile
            names the entry after the first, GNU tar after the second
  hardlink  a hard link entry at the end
"""
import subprocess
import sys
import tarfile

mode, src, dst = sys.argv[1:4]
data = bytearray(open(src, 'rb').read())


def entries():
    """(offset, size, name) of each header, and the end-of-archive offset."""
    off, out = 0, []
    while off + 512 <= len(data) and any(data[off:off + 512]):
        field = data[off + 124:off + 136].split(b'\0')[0].strip()
        size = int(field or b'0', 8)
        out.append((off, size, data[off:off + 100].split(b'\0')[0].decode()))
        off += 512 + (size + 511) // 512 * 512
    return out, off


def member(name, typeflag, body=b'', linkname=''):
    ti = tarfile.TarInfo(name)
    ti.type, ti.size, ti.linkname = typeflag, len(body), linkname
    pad = (512 - len(body) % 512) % 512
    return ti.tobuf(tarfile.USTAR_FORMAT) + body + b'\0' * pad


def pax(records, typeflag=tarfile.XHDTYPE):
    return tarfile.TarInfo._create_pax_generic_header(records, typeflag,
                                                      'utf-8')


ents, end = entries()
hoff, size, name = ents[-1]
frame = subprocess.run(['zstd', '-q', '-c'], input=b'{"injected":true}\n',
                       capture_output=True, check=True).stdout
if mode in ('global', 'padding'):
    room = (size + 511) // 512 * 512 - size
    assert len(frame) <= room, (len(frame), room)
    at = hoff + 512 + size
    data[at:at + len(frame)] = frame
    if mode == 'global':
        data[hoff:hoff] = pax({'size': str(size + len(frame))},
                              tarfile.XGLTYPE)
elif mode == 'trailer':
    data[end + 1024:end + 1024] = member('extra.txt', tarfile.REGTYPE,
                                         b'hello\n')
elif mode == 'two-x':
    data[hoff:hoff] = pax({'size': str(size)}) + pax({'comment': 'hi'})
elif mode == 'two-L':
    data[hoff:hoff] = (
        member('././@LongLink', tarfile.GNUTYPE_LONGNAME, b'extra.txt\0') +
        member('././@LongLink', tarfile.GNUTYPE_LONGNAME,
               name.encode() + b'\0'))
elif mode == 'hardlink':
    data[end:end] = member('link.txt', tarfile.LNKTYPE, linkname=name)
else:
    sys.exit('tar_tamper.py: unknown mode ' + mode)
open(dst, 'wb').write(bytes(data))
