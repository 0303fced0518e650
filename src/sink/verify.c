/* SPDX-License-Identifier: MIT */
/* verify.c -- check an evidence bundle against its manifest and signature.
 *
 * One streaming pass over the tar collects, per entry, its size, SHA-256
 * and (for parts) the record count from decompressing it; manifest.json
 * and manifest.sig are kept in memory. The comparison with the manifest
 * happens afterwards, so entry order inside the tar does not matter and a
 * bundle re-packed with stock tar still verifies. See docs/evidence.md.
 *
 * libarchive is one tar reader among several, and they do not all read
 * the same bytes the same way (libarchive ignores a pax global header,
 * which GNU tar and Python's tarfile apply). So alongside libarchive the
 * scan reads the tar's own blocks, from the same descriptor (check_group,
 * and the end in scan_archive): before each entry only per-entry
 * extension headers (x, L, K, each at most once), the entry a regular
 * file or a directory whose header size is what libarchive read, zero
 * bytes in every padding and after the end of the archive. Then a tar
 * reader that follows the format sees the entries libarchive saw, and
 * nothing else. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* stat, fsync (no -D_GNU_SOURCE) */
#endif
#include "sink/verify.h"
#include "core/clock.h"
#include "core/codec.h"
#include "core/hash.h"
#include "core/jsonx.h"
#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <zstd.h>

#define SIG_READ_MAX 4096 /* manifest.sig bytes kept; more is a problem */

/* ---- shared helpers --------------------------------------------------- */

void cairn__zcount_init(struct cairn__zcount *z)
{
  memset(z, 0, sizeof *z);
  z->dctx = ZSTD_createDCtx();
  if (!z->dctx)
    abort(); /* allocation only */
}

static void count_lines(struct cairn__zcount *z, const char *p, size_t n)
{
  const char *end = p + n;
  const char *nl = NULL;
  const char *q = p;

  while (q < end) {
    const char *hit = memchr(q, '\n', (size_t)(end - q));
    if (!hit)
      break;
    z->lines++;
    nl = hit;
    q = hit + 1;
  }
  if (nl)
    z->partial = nl + 1 < end;
  else if (n)
    z->partial = 1;
}

int cairn__zcount_update(struct cairn__zcount *z, const void *p, size_t n)
{
  char out[65536];
  ZSTD_inBuffer in = { p, n, 0 };

  if (z->error[0])
    return -1;
  if (n)
    z->seen = 1;
  for (;;) {
    ZSTD_outBuffer o = { out, sizeof out, 0 };
    size_t r = ZSTD_decompressStream(z->dctx, &o, &in);
    if (ZSTD_isError(r)) {
      snprintf(z->error, sizeof z->error, "%s", ZSTD_getErrorName(r));
      return -1;
    }
    count_lines(z, out, o.pos);
    z->hint = r;
    if (in.pos == in.size && o.pos < o.size)
      break;
  }
  return 0;
}

int cairn__zcount_final(struct cairn__zcount *z, uint64_t *records_out)
{
  int rc = 0;

  *records_out = 0;
  if (!z->error[0] && !z->seen)
    snprintf(z->error, sizeof z->error, "empty, no zstd frame");
  else if (!z->error[0] && z->hint != 0)
    snprintf(z->error, sizeof z->error, "truncated zstd frame");
  if (z->error[0])
    rc = -1;
  else
    *records_out = z->lines + (z->partial ? 1 : 0);
  ZSTD_freeDCtx(z->dctx);
  z->dctx = NULL;
  return rc;
}

int cairn__pkey_fingerprint(struct evp_pkey_st *pkey, char out[65])
{
  unsigned char *der = NULL;
  int n = i2d_PUBKEY(pkey, &der);

  out[0] = '\0';
  if (n <= 0)
    return -1;
  cairn_sha256_hex(der, (size_t)n, out);
  OPENSSL_free(der);
  return 0;
}

/* Entry names as written by other tools may carry "./" in front. */
static const char *norm_name(const char *name)
{
  while (name[0] == '.' && name[1] == '/')
    name += 2;
  return name;
}

/* Open path as a plain tar, read through *fd_out (the caller closes it;
 * -1 on failure), so that the raw blocks checked beside libarchive are
 * the bytes libarchive reads. NULL with *errno_out set when the file
 * cannot be opened at all; *why names an archive-level failure (the file
 * is not a tar) with the handle already released. */
static struct archive *open_tar(const char *path, int *fd_out,
                                int *errno_out, char *why, size_t why_len)
{
  struct archive *a;
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  *fd_out = -1;
  *errno_out = 0;
  why[0] = '\0';
  if (fd < 0) {
    *errno_out = errno ? errno : EIO;
    return NULL;
  }
  /* A directory opens read-only; reading it fails later with EISDIR,
   * which libarchive reports as a bare "Error reading fd". A pipe
   * (/dev/stdin, <(curl ...)) reads once, but the blocks checked beside
   * libarchive are read again with pread, which fails on it: every
   * entry looked damaged, and a good bundle "FAILED". */
  if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
    close(fd);
    *errno_out = S_ISDIR(st.st_mode) ? EISDIR : ESPIPE;
    return NULL;
  }
  a = archive_read_new();
  if (!a)
    abort();
  archive_read_support_format_tar(a);
  if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
    snprintf(why, why_len, "%s", archive_error_string(a));
    archive_read_free(a);
    close(fd);
    return NULL;
  }
  *fd_out = fd;
  return a;
}

/* Why open_tar could not open a file at all. */
static const char *open_error(int eno)
{
  return eno == ESPIPE ? "not a regular file (a pipe?): save the bundle "
                         "to a file and verify that"
                       : strerror(eno);
}

int cairn__bundle_read_manifest(const char *path, struct cairn_buf *out,
                                cairn_err *err)
{
  struct archive_entry *ae;
  char buf[65536], why[256];
  int rc = CAIRN_OK, eno, fd;
  struct archive *a = open_tar(path, &fd, &eno, why, sizeof why);

  if (!a)
    return CAIRN_RAISE(err, CAIRN_EIO, eno, "%s: %s", path,
                       eno ? open_error(eno) : why);
  for (;;) {
    int r = archive_read_next_header(a, &ae);
    const char *name;
    if (r == ARCHIVE_EOF) {
      rc = CAIRN_RAISE(err, CAIRN_EVERIFY, 0, "%s: holds no %s", path,
                       CAIRN_BUNDLE_MANIFEST);
      goto done;
    }
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) { /* RETRY: damaged header */
      rc = CAIRN_RAISE(err, CAIRN_EIO, archive_errno(a), "%s: %s", path,
                       archive_error_string(a));
      goto done;
    }
    name = archive_entry_pathname(ae);
    if (name && strcmp(norm_name(name), CAIRN_BUNDLE_MANIFEST) == 0 &&
        archive_entry_filetype(ae) == AE_IFREG)
      break;
  }
  for (;;) {
    la_ssize_t n = archive_read_data(a, buf, sizeof buf);
    if (n < 0) {
      rc = CAIRN_RAISE(err, CAIRN_EIO, archive_errno(a), "%s: %s", path,
                       archive_error_string(a));
      goto done;
    }
    if (n == 0)
      break;
    if (out->len + (size_t)n > CAIRN_BUNDLE_MANIFEST_MAX) {
      rc = CAIRN_RAISE(err, CAIRN_EVERIFY, 0, "%s: %s is too large", path,
                       CAIRN_BUNDLE_MANIFEST);
      goto done;
    }
    cairn_buf_append(out, buf, (size_t)n);
  }
  if (!out->data)
    cairn_buf_append(out, "", 0);
done:
  archive_read_free(a);
  close(fd);
  return rc;
}

/* ---- the archive scan ------------------------------------------------- */

struct entry {
  char    *name;        /* normalised entry name */
  int      type;        /* AE_IFREG, AE_IFDIR, ... */
  uint64_t size;        /* bytes read */
  int64_t  declared;    /* size libarchive gives the entry */
  char     sha[65];
  int      counted;     /* decompressed (not manifest.json / .sig) */
  int      zok;         /* zstd stream valid */
  uint64_t records;
  char     zerr[128];
  int      listed;      /* referenced by the manifest */
  int      dup;         /* a later entry with the same name */
};

struct scan {
  struct entry   *v;       /* in archive order */
  size_t          n, cap;
  struct entry  **sorted;  /* by name, for lookups */
  struct cairn_buf manifest;
  int             have_manifest;
  struct cairn_buf sig;
  uint64_t        sig_size;
  int             have_sig;
};

static void problem(struct cairn_verify_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The report quotes what the bundle holds (entry names, manifest values):
 * each string is kept to one line of valid UTF-8 (cairn_oneline), so that
 * `cairn verify`, which prints one line per problem and per summary field,
 * cannot be made to print a line of the bundle's choosing ("OK"). */
static void problem(struct cairn_verify_report *r, const char *fmt, ...)
{
  va_list ap;
  r->problems = cairn_xrealloc(r->problems,
                               (r->n_problems + 1) * sizeof *r->problems);
  va_start(ap, fmt);
  r->problems[r->n_problems++] = cairn_vonelinef(fmt, ap);
  va_end(ap);
}

/* Read e's data. -1 with *why set when the archive ends or is damaged
 * inside it, or when libarchive hands back data that is not the stored
 * bytes in order (a sparse entry, its holes filled in). */
static int read_entry(struct archive *a, struct scan *sc, struct entry *e,
                      char *why, size_t why_len)
{
  struct cairn_sha256 h;
  struct cairn__zcount z;
  /* A repeated manifest.json or manifest.sig is only flagged as a
   * duplicate; the first one is the one compared. */
  int is_manifest = strcmp(e->name, CAIRN_BUNDLE_MANIFEST) == 0 &&
                    !sc->have_manifest;
  int is_sig = strcmp(e->name, CAIRN_BUNDLE_SIG) == 0 && !sc->have_sig;
  int rc = 0;

  e->counted = !is_manifest && !is_sig;
  cairn_sha256_init(&h);
  if (e->counted)
    cairn__zcount_init(&z);
  for (;;) {
    const void *buf;
    size_t n;
    la_int64_t off;
    int r = archive_read_data_block(a, &buf, &n, &off);
    if (r == ARCHIVE_EOF)
      break;
    if (r != ARCHIVE_OK) {
      snprintf(why, why_len, "%s", archive_error_string(a));
      rc = -1;
      break;
    }
    if (off != (la_int64_t)e->size) {
      snprintf(why, why_len, "data at offset %lld, expected %llu: a sparse "
               "entry", (long long)off, (unsigned long long)e->size);
      rc = -1;
      break;
    }
    cairn_sha256_update(&h, buf, n);
    e->size += (uint64_t)n;
    if (e->counted)
      cairn__zcount_update(&z, buf, n);
    else if (is_manifest && sc->manifest.len < CAIRN_BUNDLE_MANIFEST_MAX)
      cairn_buf_append(&sc->manifest, buf, n);
    else if (is_sig && sc->sig.len < SIG_READ_MAX)
      cairn_buf_append(&sc->sig, buf, n);
  }
  cairn_sha256_final_hex(&h, e->sha);
  if (e->counted) {
    e->zok = cairn__zcount_final(&z, &e->records) == 0;
    snprintf(e->zerr, sizeof e->zerr, "%s", z.error);
  }
  if (is_manifest)
    sc->have_manifest = 1;
  if (is_sig) {
    sc->have_sig = 1;
    sc->sig_size = e->size;
  }
  return rc;
}

static int cmp_entry_ptr(const void *a, const void *b)
{
  const struct entry *x = *(const struct entry *const *)a;
  const struct entry *y = *(const struct entry *const *)b;
  int c = strcmp(x->name, y->name);
  if (c)
    return c;
  return x < y ? -1 : x > y;  /* archive order among equal names */
}

static struct entry *find_entry(struct scan *sc, const char *name)
{
  size_t lo = 0, hi = sc->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(sc->sorted[mid]->name, name);
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < sc->n && strcmp(sc->sorted[lo]->name, name) == 0)
    return sc->sorted[lo];
  return NULL;
}

/* ---- the tar's own blocks -------------------------------------------- */

#define BLOCK 512

static uint64_t round_block(uint64_t n)
{
  return (n + BLOCK - 1) / BLOCK * BLOCK;
}

/* n bytes at off, all of them, or -1. */
static int read_at(int fd, void *buf, size_t n, uint64_t off)
{
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, (char *)buf + got, n - got,
                      (off_t)(off + got));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    got += (size_t)r;
  }
  return 0;
}

/* Whether the bytes in [from, to) (to == UINT64_MAX: to the end of the
 * file) are all zero; *at is the first that is not, or from on a read
 * error. */
static int zero_bytes(int fd, uint64_t from, uint64_t to, uint64_t *at)
{
  unsigned char buf[65536];
  uint64_t off = from;

  while (off < to) {
    size_t want = to - off < sizeof buf ? (size_t)(to - off) : sizeof buf;
    ssize_t r = pread(fd, buf, want, (off_t)off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r == 0 && to == UINT64_MAX)
      return 1;
    if (r <= 0) {
      *at = from;
      return 0;
    }
    for (ssize_t i = 0; i < r; i++)
      if (buf[i]) {
        *at = off + (uint64_t)i;
        return 0;
      }
    off += (uint64_t)r;
  }
  return 1;
}

/* A header's size field: octal digits between optional spaces and
 * NULs, or base-256 (first byte 0x80), as tar writes it; -1 otherwise. */
static int64_t header_size(const unsigned char *h)
{
  const unsigned char *p = h + 124;
  size_t i = 0, n = 12, digits;
  int64_t v = 0;

  if (p[0] == 0x80) {
    for (i = 1; i < n; i++) {
      if (v > (INT64_MAX >> 8))
        return -1;
      v = (v << 8) | p[i];
    }
    return v;
  }
  while (i < n && p[i] == ' ')
    i++;
  for (digits = i; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
    if (v > (INT64_MAX >> 3))
      return -1;
    v = v * 8 + (p[i] - '0');
  }
  if (i == digits)
    return -1;
  while (i < n && (p[i] == ' ' || p[i] == '\0'))
    i++;
  return i == n ? v : -1;
}

/* The blocks [start, end) that libarchive read for entry e (from one
 * header position to the next): at most one each of the per-entry
 * extension headers x (pax), L and K (GNU long names) with their data,
 * then e's own header (a regular file or a directory) whose size field is
 * the size libarchive gave and read, then e's data and zero padding up to
 * end. Anything else could be read differently by another tar. */
static void check_group(int fd, const char *tar_path, const struct entry *e,
                        uint64_t start, uint64_t end,
                        struct cairn_verify_report *r)
{
  unsigned char h[BLOCK];
  char ext[4] = ""; /* extension headers seen */
  uint64_t off = start, at;

  for (;;) {
    int64_t size;
    char t;
    if (off + BLOCK > end || read_at(fd, h, BLOCK, off) != 0) {
      problem(r, "%s: %s: tar headers at offset %llu do not match the "
              "entry read", tar_path, e->name, (unsigned long long)start);
      return;
    }
    t = (char)h[156];
    size = header_size(h);
    if (t == 'g') {
      problem(r, "%s: %s: pax global header (type 'g') at offset %llu: "
              "not allowed in a bundle", tar_path, e->name,
              (unsigned long long)off);
      return;
    }
    if (size < 0) {
      problem(r, "%s: %s: tar header at offset %llu has no valid size",
              tar_path, e->name, (unsigned long long)off);
      return;
    }
    if (t == 'x' || t == 'L' || t == 'K') {
      if (strchr(ext, t)) {
        problem(r, "%s: %s: second '%c' header at offset %llu: not allowed "
                "in a bundle", tar_path, e->name, t,
                (unsigned long long)off);
        return;
      }
      ext[strlen(ext)] = t;
      off += BLOCK + round_block((uint64_t)size);
      continue;
    }
    if (!((t == '0' || t == '\0') && e->type == AE_IFREG) &&
        !(t == '5' && e->type == AE_IFDIR)) {
      problem(r, "%s: %s: tar header of type '%c' at offset %llu: not "
              "allowed in a bundle", tar_path, e->name, t ? t : '0',
              (unsigned long long)off);
      return;
    }
    if ((uint64_t)size != e->size || e->declared != size) {
      problem(r, "%s: %s: tar header at offset %llu gives size %lld, "
              "read %llu", tar_path, e->name, (unsigned long long)off,
              (long long)size, (unsigned long long)e->size);
      return;
    }
    break;
  }
  off += BLOCK;
  if (off + round_block(e->size) != end) {
    problem(r, "%s: %s: tar headers at offset %llu do not match the entry "
            "read", tar_path, e->name, (unsigned long long)start);
    return;
  }
  if (!zero_bytes(fd, off + e->size, end, &at))
    problem(r, "%s: %s: padding after its data is not zero (offset %llu)",
            tar_path, e->name, (unsigned long long)at);
}

/* Read every entry. Archive-level damage becomes a problem; what was read
 * before it is still compared. The blocks of each entry are checked once
 * the next header (or the end) says where they end. */
static void scan_archive(struct archive *a, int fd, const char *tar_path,
                         struct scan *sc, struct cairn_verify_report *r)
{
  struct archive_entry *ae;
  uint64_t start = 0, at;

  for (;;) {
    int rc = archive_read_next_header(a, &ae);
    uint64_t pos = (uint64_t)archive_read_header_position(a);
    const char *name;
    struct entry *e;
    char why[256];
    if (rc == ARCHIVE_OK || rc == ARCHIVE_EOF) {
      if (sc->n)
        check_group(fd, tar_path, &sc->v[sc->n - 1], start, pos, r);
      start = pos;
    }
    if (rc == ARCHIVE_EOF) {
      struct stat st;
      /* The archive ends with two zero blocks. libarchive (and GNU tar)
       * also take the end of the file for the end of the archive, so a
       * bundle cut short in its last 1024 bytes (a copy that ran out of
       * room) read whole: it is not the file that was written. */
      if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < pos + 2 * BLOCK)
        problem(r, "%s: truncated: the end-of-archive marker (two zero "
                "blocks from offset %llu) is missing or cut short",
                tar_path, (unsigned long long)pos);
      /* tar -i reads on past the end-of-archive blocks */
      else if (!zero_bytes(fd, pos, UINT64_MAX, &at))
        problem(r, "%s: bytes after the end of the archive are not zero "
                "(offset %llu)", tar_path, (unsigned long long)at);
      break;
    }
    if (rc != ARCHIVE_OK) {
      /* ARCHIVE_RETRY is a damaged header; a warning, a header that
       * libarchive read only in part */
      problem(r, "%s: not a readable tar archive (%s)", tar_path,
              archive_error_string(a));
      break;
    }
    name = archive_entry_pathname(ae);
    if (sc->n == sc->cap) {
      sc->cap = sc->cap ? sc->cap * 2 : 16;
      sc->v = cairn_xrealloc(sc->v, sc->cap * sizeof *sc->v);
    }
    e = &sc->v[sc->n++];
    memset(e, 0, sizeof *e);
    e->name = cairn_xstrdup(norm_name(name ? name : ""));
    e->type = (int)archive_entry_filetype(ae);
    e->declared = archive_entry_size(ae);
    if (archive_entry_sparse_count(ae) > 0) {
      problem(r, "%s: %s: sparse entry: not allowed in a bundle", tar_path,
              e->name);
      break;
    }
    if (e->type == AE_IFREG &&
        read_entry(a, sc, e, why, sizeof why) != 0) {
      problem(r, "%s: %s: truncated or unreadable (%s)", tar_path, e->name,
              why);
      break;
    }
  }
  sc->sorted = cairn_xmalloc((sc->n ? sc->n : 1) * sizeof *sc->sorted);
  for (size_t i = 0; i < sc->n; i++)
    sc->sorted[i] = &sc->v[i];
  qsort(sc->sorted, sc->n, sizeof *sc->sorted, cmp_entry_ptr);
  for (size_t i = 1; i < sc->n; i++)
    if (strcmp(sc->sorted[i - 1]->name, sc->sorted[i]->name) == 0)
      sc->sorted[i]->dup = 1;
}

static void scan_free(struct scan *sc)
{
  for (size_t i = 0; i < sc->n; i++)
    free(sc->v[i].name);
  free(sc->v);
  free(sc->sorted);
  cairn_buf_free(&sc->manifest);
  cairn_buf_free(&sc->sig);
}

/* ---- manifest checks -------------------------------------------------- */

static char *dup_str(const json_t *v)
{
  return json_is_string(v) ? cairn_oneline(json_string_value(v)) : NULL;
}

static int is_hex64(const char *s)
{
  size_t i;
  for (i = 0; s[i]; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return i == 64;
}

static int get_count(const json_t *o, const char *key, uint64_t *out)
{
  const json_t *v = json_object_get(o, key);
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return -1;
  *out = (uint64_t)json_integer_value(v);
  return 0;
}

static void fill_summary(const json_t *m, struct cairn_verify_report *r)
{
  const json_t *w = json_object_get(m, "window");
  const json_t *c = json_object_get(m, "contract");

  r->job = dup_str(json_object_get(m, "job"));
  r->window = dup_str(json_object_get(w, "key"));
  r->window_start = dup_str(json_object_get(w, "start"));
  r->window_end = dup_str(json_object_get(w, "end"));
  r->logical_time = dup_str(json_object_get(m, "logical_time"));
  r->recording_sha256 = dup_str(json_object_get(m, "recording_sha256"));
  if (json_is_string(json_object_get(c, "name")))
    r->contract = cairn_onelinef(
        "%s %s", json_string_value(json_object_get(c, "name")),
        json_is_string(json_object_get(c, "version"))
            ? json_string_value(json_object_get(c, "version")) : "?");
}

static void check_header(const json_t *m, struct cairn_verify_report *r)
{
  const json_t *fmt = json_object_get(m, "format");
  const json_t *w = json_object_get(m, "window");

  if (!json_is_string(fmt))
    problem(r, "%s: field \"format\" is missing", CAIRN_BUNDLE_MANIFEST);
  else if (strcmp(json_string_value(fmt), CAIRN_BUNDLE_FORMAT) != 0)
    problem(r, "%s: unsupported format \"%s\" (expected \"%s\")",
            CAIRN_BUNDLE_MANIFEST, json_string_value(fmt),
            CAIRN_BUNDLE_FORMAT);
  if (!json_is_string(json_object_get(m, "job")))
    problem(r, "%s: field \"job\" is missing or not a string",
            CAIRN_BUNDLE_MANIFEST);
  if (!json_is_object(w) || !json_is_string(json_object_get(w, "key")))
    problem(r, "%s: field \"window\" is missing or has no \"key\"",
            CAIRN_BUNDLE_MANIFEST);
  if (!json_is_string(json_object_get(m, "logical_time")))
    problem(r, "%s: field \"logical_time\" is missing or not a string",
            CAIRN_BUNDLE_MANIFEST);
}

/* ---- the file name ---------------------------------------------------- */

void cairn__bundle_stamp(int64_t t, char out[CAIRN_BUNDLE_STAMP_MAX])
{
  char iso[CAIRN_BUNDLE_STAMP_MAX], *q = out;

  cairn_clock_fmt(t, iso, sizeof iso);
  for (const char *p = iso; *p; p++)
    if (*p != '-' && *p != ':')
      *q++ = *p;
  *q = '\0';
}

/* Whether s[0..n) matches pat, where '9' stands for any digit. */
static int shaped(const char *s, size_t n, const char *pat)
{
  if (strlen(pat) != n)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (pat[i] == '9' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pat[i])
      return 0;
  return 1;
}

/* What a file name stem (no ".tar") says when it is a name the bundle sink
 * gives (docs/evidence.md#file-names): <job>-<YYYY-MM-DD or YYYY-MM>,
 * <job>-all-<YYYYMMDDTHHMMSSZ>[-<k>] (k >= 2), or <job>-all (from before
 * per-run names). Cuts stem into *job, *window and *stamp ("" when the
 * name has none); 0 when it is no such name. */
static int parse_bundle_name(char *stem, const char **job,
                             const char **window, const char **stamp)
{
  size_t n = strlen(stem), m = n;
  const char *k = strrchr(stem, '-');

  *stamp = "";
  /* per run: -all-<stamp>, then maybe -<k> */
  if (k && k[1] >= '1' && k[1] <= '9' && strspn(k + 1, "0123456789") ==
      strlen(k + 1) && strcmp(k + 1, "1") != 0)
    m = (size_t)(k - stem);
  if (m > 21 && shaped(stem + m - 21, 21, "-all-99999999T999999Z")) {
    stem[m] = '\0';
    stem[m - 21] = '\0';
    *job = stem;
    *window = "all";
    *stamp = stem + m - 16;
    return 1;
  }
  if (n > 4 && strcmp(stem + n - 4, "-all") == 0) {
    stem[n - 4] = '\0';
    *window = "all";
  } else if (n > 11 && shaped(stem + n - 11, 11, "-9999-99-99")) {
    stem[n - 11] = '\0';
    *window = stem + n - 10;
  } else if (n > 8 && shaped(stem + n - 8, 8, "-9999-99")) {
    stem[n - 8] = '\0';
    *window = stem + n - 7;
  } else {
    return 0;
  }
  *job = stem;
  return 1;
}

/* The file name is not signed, and a copy under a name of its own (not
 * one the sink gives) is not checked. But a name the sink gives says
 * which job, window and (the window all's) logical time the bundle is of:
 * a bundle of another window or run renamed to it is a problem, since
 * `cairn verify azure-cost-2024-05.tar` saying OK reads as "May's
 * bundle is fine". */
static void check_name(const char *tar_path, const json_t *m,
                       struct cairn_verify_report *r)
{
  const char *base = strrchr(tar_path, '/');
  const char *mjob = json_string_value(json_object_get(m, "job"));
  const char *mwin = json_string_value(
      json_object_get(json_object_get(m, "window"), "key"));
  const char *lt = json_string_value(json_object_get(m, "logical_time"));
  const char *job, *window, *stamp;
  char have[CAIRN_BUNDLE_STAMP_MAX] = "", *stem;
  size_t n;
  int64_t t;

  base = base ? base + 1 : tar_path;
  n = strlen(base);
  if (!mjob || !mwin || n <= 4 || strcmp(base + n - 4, ".tar") != 0)
    return; /* a manifest without them is a problem already */
  stem = cairn_strfmt("%.*s", (int)(n - 4), base);
  if (lt && cairn_clock_parse(lt, &t) == 0)
    cairn__bundle_stamp(t, have);
  if (parse_bundle_name(stem, &job, &window, &stamp) &&
      (strcmp(job, mjob) != 0 || strcmp(window, mwin) != 0 ||
       (stamp[0] && strcmp(stamp, have) != 0)))
    problem(r, "%s: its name is that of the bundle of job %s, window %s%s%s,"
            " but its manifest is of job %s, window %s, logical time %s "
            "(a bundle of another window or run, renamed?)", tar_path, job,
            window, stamp[0] ? ", logical time " : "", stamp, mjob, mwin,
            lt ? lt : "?");
  free(stem);
}

static EVP_PKEY *load_pubkey(const char *path, cairn_err *err)
{
  BIO *bio = BIO_new_file(path, "r");
  EVP_PKEY *pk = NULL;

  if (!bio) {
    CAIRN_RAISE(err, CAIRN_EUSAGE, errno, "public key %s: %s", path,
                strerror(errno));
    goto done;
  }
  pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
  if (!pk) {
    CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                "public key %s: not a PEM public key (expected the output "
                "of openssl pkey -pubout)", path);
    goto done;
  }
  if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_ED25519) {
    CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "public key %s: not an Ed25519 key",
                path);
    EVP_PKEY_free(pk);
    pk = NULL;
  }
done:
  ERR_clear_error();
  BIO_free(bio);
  return pk;
}

static void check_signature(const json_t *m, struct scan *sc, EVP_PKEY *pk,
                            struct cairn_verify_report *r)
{
  const json_t *s = json_object_get(m, "signature");
  const json_t *alg, *fpr;
  struct entry *e;
  char given[65];
  EVP_MD_CTX *md;
  int ok;

  if (!s || json_is_null(s)) {
    if (pk)
      problem(r, "%s: bundle is unsigned (\"signature\": null), cannot "
              "check it with the given public key", CAIRN_BUNDLE_MANIFEST);
    return;
  }
  alg = json_object_get(s, "algorithm");
  fpr = json_object_get(s, "public_key_sha256");
  if (!json_is_object(s) || !json_is_string(alg) ||
      strcmp(json_string_value(alg), "ed25519") != 0 ||
      !json_is_string(fpr) || !is_hex64(json_string_value(fpr))) {
    problem(r, "%s: field \"signature\" must be null or {\"algorithm\": "
            "\"ed25519\", \"public_key_sha256\": <hex>, ...}",
            CAIRN_BUNDLE_MANIFEST);
    return;
  }
  r->is_signed = 1;
  snprintf(r->key_fingerprint, sizeof r->key_fingerprint, "%s",
           json_string_value(fpr));
  e = find_entry(sc, CAIRN_BUNDLE_SIG);
  if (!e || !sc->have_sig) {
    problem(r, "%s: listed in manifest but missing from bundle",
            CAIRN_BUNDLE_SIG);
    return;
  }
  e->listed = 1;
  if (sc->sig_size != CAIRN_BUNDLE_SIG_LEN) {
    problem(r, "%s: size mismatch (expected %d bytes, actual %llu bytes)",
            CAIRN_BUNDLE_SIG, CAIRN_BUNDLE_SIG_LEN,
            (unsigned long long)sc->sig_size);
    return;
  }
  if (!pk)
    return;
  if (cairn__pkey_fingerprint(pk, given) != 0)
    snprintf(given, sizeof given, "(unknown)");
  md = EVP_MD_CTX_new();
  if (!md)
    abort();
  ok = EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1 &&
       EVP_DigestVerify(md, (const unsigned char *)sc->sig.data,
                        CAIRN_BUNDLE_SIG_LEN,
                        (const unsigned char *)sc->manifest.data,
                        sc->manifest.len) == 1;
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  if (!ok) {
    if (strcmp(given, r->key_fingerprint) != 0)
      problem(r, "%s: signature does not verify with key %s (manifest "
              "names key %s)", CAIRN_BUNDLE_SIG, given, r->key_fingerprint);
    else
      problem(r, "%s: signature does not verify with key %s",
              CAIRN_BUNDLE_SIG, given);
    return;
  }
  if (strcmp(given, r->key_fingerprint) != 0) {
    problem(r, "%s: names key %s but was signed with key %s",
            CAIRN_BUNDLE_MANIFEST, r->key_fingerprint, given);
    return;
  }
  r->sig_checked = 1;
}

/* Whether a part's path would be extracted somewhere else than it says,
 * or not at all: an absolute path (tar -xf strips the "/"), an empty
 * segment, "." or ".." (tar -xf strips a leading "../"; Python's tarfile
 * before 3.12 writes outside the directory). The auditor's checks go by
 * the manifest's paths (docs/evidence.md), so such a part would not be
 * the file they read. */
static int unsafe_path(const char *path)
{
  const char *s = path;

  if (*s == '/')
    return 1;
  for (;;) {
    size_t n = strcspn(s, "/");
    if (n == 0 || (n == 1 && s[0] == '.') ||
        (n == 2 && s[0] == '.' && s[1] == '.'))
      return 1;
    if (!s[n])
      return 0;
    s += n + 1;
  }
}

static void check_parts(const json_t *m, struct scan *sc,
                        struct cairn_verify_report *r)
{
  const json_t *parts = json_object_get(m, "parts");
  const json_t *totals = json_object_get(m, "totals");
  uint64_t sum_records = 0, sum_bytes = 0, t;
  size_t i;
  const json_t *p;

  if (!json_is_array(parts)) {
    problem(r, "%s: field \"parts\" is missing or not an array",
            CAIRN_BUNDLE_MANIFEST);
    return;
  }
  r->n_parts = (long)json_array_size(parts);
  json_array_foreach(parts, i, p) {
    const char *path = json_string_value(json_object_get(p, "path"));
    const char *sha = json_string_value(json_object_get(p, "sha256"));
    const json_t *seq = json_object_get(p, "seq");
    uint64_t records, bytes;
    struct entry *e;

    if (!path || !sha || get_count(p, "records", &records) != 0 ||
        get_count(p, "bytes", &bytes) != 0) {
      problem(r, "%s: parts[%zu] is malformed (needs path, records, bytes, "
              "sha256)", CAIRN_BUNDLE_MANIFEST, i);
      continue;
    }
    /* The chunks of the window, numbered from 1 in order: a gap is a part
     * left out of the bundle together with its line in the manifest. */
    if (!json_is_integer(seq) ||
        json_integer_value(seq) != (json_int_t)i + 1) {
      char *had = seq ? cairn_json_canonical(seq) : cairn_xstrdup("none");
      problem(r, "%s: parts[%zu] has seq %s, expected %zu (parts are "
              "numbered from 1 in order: one is missing or out of place)",
              CAIRN_BUNDLE_MANIFEST, i, had, i + 1);
      free(had);
    }
    sum_records += records;
    sum_bytes += bytes;
    if (strcmp(path, CAIRN_BUNDLE_MANIFEST) == 0 ||
        strcmp(path, CAIRN_BUNDLE_SIG) == 0) {
      problem(r, "%s: parts[%zu] uses the reserved name %s",
              CAIRN_BUNDLE_MANIFEST, i, path);
      continue;
    }
    if (unsafe_path(path)) {
      problem(r, "%s: unsafe path in manifest (absolute, or with an empty, "
              "\".\" or \"..\" segment)", path);
      continue;
    }
    e = find_entry(sc, path);
    if (!e) {
      problem(r, "%s: listed in manifest but missing from bundle", path);
      continue;
    }
    if (e->listed) {
      problem(r, "%s: listed more than once in manifest", path);
      continue;
    }
    e->listed = 1;
    if (e->type != AE_IFREG) {
      problem(r, "%s: not a regular file in bundle", path);
      continue;
    }
    r->records += e->records;
    r->bytes += e->size;
    if (e->size != bytes)
      problem(r, "%s: size mismatch (manifest %llu bytes, actual %llu "
              "bytes)", path, (unsigned long long)bytes,
              (unsigned long long)e->size);
    if (strcmp(e->sha, sha) != 0)
      problem(r, "%s: sha256 mismatch (manifest %s, actual %s)", path, sha,
              e->sha);
    if (!e->zok)
      problem(r, "%s: not a valid zstd stream (%s)", path, e->zerr);
    else if (e->records != records)
      problem(r, "%s: record count mismatch (manifest %llu, actual %llu)",
              path, (unsigned long long)records,
              (unsigned long long)e->records);
  }
  if (!json_is_object(totals)) {
    problem(r, "%s: field \"totals\" is missing", CAIRN_BUNDLE_MANIFEST);
    return;
  }
  if (get_count(totals, "parts", &t) != 0 || t != json_array_size(parts))
    problem(r, "%s: totals.parts does not match the %zu parts listed",
            CAIRN_BUNDLE_MANIFEST, json_array_size(parts));
  if (get_count(totals, "records", &t) != 0 || t != sum_records)
    problem(r, "%s: totals.records does not match the parts' sum %llu",
            CAIRN_BUNDLE_MANIFEST, (unsigned long long)sum_records);
  if (get_count(totals, "bytes", &t) != 0 || t != sum_bytes)
    problem(r, "%s: totals.bytes does not match the parts' sum %llu",
            CAIRN_BUNDLE_MANIFEST, (unsigned long long)sum_bytes);
}

/* A directory entry is harmless when some listed entry lives under it
 * (stock tar adds "parts/" and "parts/<window>/" when re-packing). */
static int dir_of_listed(struct scan *sc, const char *dir)
{
  size_t n = strlen(dir);
  while (n && dir[n - 1] == '/')
    n--;
  if (n == 0)
    return 1; /* "./" itself */
  for (size_t i = 0; i < sc->n; i++) {
    const struct entry *e = &sc->v[i];
    if (e->listed && strncmp(e->name, dir, n) == 0 && e->name[n] == '/')
      return 1;
  }
  return 0;
}

static void check_unlisted(struct scan *sc, struct cairn_verify_report *r)
{
  for (size_t i = 0; i < sc->n; i++) {
    const struct entry *e = &sc->v[i];
    if (e->dup)
      problem(r, "%s: appears more than once in bundle", e->name);
    else if (e->listed)
      continue;
    else if (e->type == AE_IFDIR && dir_of_listed(sc, e->name))
      continue;
    else
      problem(r, "%s: not listed in manifest", e->name);
  }
}

/* ---- entry point ------------------------------------------------------ */

int cairn_bundle_verify(const char *tar_path, const char *pubkey_pem_path,
                        struct cairn_verify_report *out, cairn_err *err)
{
  struct scan sc;
  struct archive *a = NULL;
  EVP_PKEY *pk = NULL;
  json_t *m = NULL;
  json_error_t jerr;
  struct entry *me;
  char why[256];
  int rc = CAIRN_OK, eno, fd = -1;

  memset(out, 0, sizeof *out);
  memset(&sc, 0, sizeof sc);
  if (pubkey_pem_path) {
    pk = load_pubkey(pubkey_pem_path, err);
    if (!pk) {
      rc = CAIRN_EUSAGE;
      goto done;
    }
  }
  a = open_tar(tar_path, &fd, &eno, why, sizeof why);
  if (!a && eno) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, eno, "%s: %s", tar_path,
                     open_error(eno));
    goto done;
  }
  if (!a) {
    problem(out, "%s: not a readable tar archive (%s)", tar_path, why);
    goto checked;
  }
  scan_archive(a, fd, tar_path, &sc, out);
  me = find_entry(&sc, CAIRN_BUNDLE_MANIFEST);
  if (!me || !sc.have_manifest) {
    problem(out, "%s: missing from bundle", CAIRN_BUNDLE_MANIFEST);
    goto checked;
  }
  me->listed = 1;
  if (me->size > CAIRN_BUNDLE_MANIFEST_MAX) {
    problem(out, "%s: larger than %u bytes", CAIRN_BUNDLE_MANIFEST,
            CAIRN_BUNDLE_MANIFEST_MAX);
    goto checked;
  }
  m = json_loadb(sc.manifest.data ? sc.manifest.data : "", sc.manifest.len,
                 JSON_REJECT_DUPLICATES, &jerr);
  if (!m) {
    problem(out, "%s: not valid JSON (line %d, column %d: %s)",
            CAIRN_BUNDLE_MANIFEST, jerr.line, jerr.column, jerr.text);
    goto checked;
  }
  if (!json_is_object(m)) {
    problem(out, "%s: not a JSON object", CAIRN_BUNDLE_MANIFEST);
    goto checked;
  }
  fill_summary(m, out);
  check_header(m, out);
  check_name(tar_path, m, out);
  check_signature(m, &sc, pk, out);
  check_parts(m, &sc, out);
  check_unlisted(&sc, out);
checked:
  if (out->n_problems) {
    rc = CAIRN_RAISE(err, CAIRN_EVERIFY, (long)out->n_problems, "%s",
                     out->problems[0]);
  }
done:
  json_decref(m);
  if (a)
    archive_read_free(a);
  if (fd >= 0)
    close(fd);
  EVP_PKEY_free(pk);
  scan_free(&sc);
  return rc;
}

void cairn_verify_report_free(struct cairn_verify_report *r)
{
  if (!r)
    return;
  free(r->job);
  free(r->window);
  free(r->window_start);
  free(r->window_end);
  free(r->logical_time);
  free(r->contract);
  free(r->recording_sha256);
  for (size_t i = 0; i < r->n_problems; i++)
    free(r->problems[i]);
  free(r->problems);
  memset(r, 0, sizeof *r);
}
