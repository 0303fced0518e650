/* SPDX-License-Identifier: MIT */
/* src_file.c -- local CSV (RFC 4180) and NDJSON files, one file or a glob.
 *
 * A chunk is up to chunk_rows records (or chunk_bytes bytes) of one file.
 * The cursor is {"file":i,"files":digest,"line":n,"offset":bytes} and,
 * inside a file, its "size" and "mtime"; "files" is a digest of the names
 * of files 0..i. A resumed run seeks straight to the offset (only the
 * header record is read again), so the source is REREADABLE and the
 * runner does not spool it. A glob matches files anew each run: a resume
 * whose glob matches other files up to file i (one removed or added
 * before it), or whose file was rewritten since (another size or
 * modification time), is refused (CAIRN_ECHANGED, "run again with
 * --fresh") instead of skipping or repeating records. extract() finds
 * record boundaries (newlines outside quotes) and copies the raw bytes;
 * decode() splits fields. Quoted fields may hold commas, doubled quotes
 * and newlines; CRLF and a UTF-8 BOM are accepted. A record extract does
 * not read whole (larger than CAIRN_CSV_RECORD_MAX, or one whose quote
 * never closes, cut after its first line) is a chunk of its own, whose
 * page meta "bad" tells decode to quarantine it. */
#include "core/fsx.h"
#include "core/hash.h"
#include "core/jsonx.h"
#include "source/source.h"
#include "source/csv.h"
#include "core/log.h"
#include "core/mem.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FMT_CSV, FMT_NDJSON };

#define READ_BLOCK (1 << 20)

struct file_src {
  cairn_source  base;          /* first */
  int           peek;          /* opened by peek_header: the run warns */
  int           format;
  long          chunk_rows;
  long          chunk_bytes;
  char        **files;
  size_t        n_files;
  struct cairn_header *headers; /* per file, parsed on first use */
  size_t        digest_of;     /* files_digest's last index (+1; 0: none) */
  char          digest[17];    /* and its value */
  struct cairn_sha256 names;   /* over the names of files 0..names_of-1 */
  size_t        names_of;      /* (names.md NULL: not started) */
  size_t        kept_from;     /* headers of files before this are freed */
  /* reader state */
  FILE         *fp;
  size_t        fp_index;      /* file fp reads */
  long long     pos;           /* file offset of buf[0] */
  char         *buf;
  size_t        len, at;       /* valid bytes, consumed bytes */
  int           eof;
  /* decode scratch */
  struct cairn_buf rec;
  struct cairn__csv_cols cols;
};

/* ---- config ------------------------------------------------------------ */

static int file_check(const json_t *cfg, const char **ptr_out, cairn_err *err)
{
  const char *fmt = json_string_value(json_object_get(cfg, "format"));
  if (fmt && strcmp(fmt, "csv") && strcmp(fmt, "ndjson")) {
    *ptr_out = "/format";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                       "\"%s\" is not one of csv, ndjson", fmt);
  }
  return cairn__cfg_check_chunks(cfg, ptr_out, err);
}

static int cmp_path(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int file_open(cairn_source *base, const struct cairn_source_ctx *ctx,
                     cairn_err *err)
{
  struct file_src *s = (struct file_src *)base;
  const char *path = json_string_value(json_object_get(ctx->cfg, "path"));
  const char *fmt = json_string_value(json_object_get(ctx->cfg, "format"));
  glob_t g;
  int grc;

  s->format = fmt && strcmp(fmt, "ndjson") == 0 ? FMT_NDJSON : FMT_CSV;
  s->chunk_rows = cairn__cfg_count(ctx->cfg, "chunk_rows", 50000);
  s->chunk_bytes = cairn__cfg_count(ctx->cfg, "chunk_bytes", 64L << 20);
  if (!path)
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "file source needs a path");
  grc = glob(path, GLOB_NOSORT, NULL, &g);
  if (grc == GLOB_NOMATCH)
    /* a typo in a --param, or a file still to come (resumable, exit 3) */
    return CAIRN_RAISE(err, CAIRN_EIO, ENOENT, "%s: no such file: check the "
                       "source's path (and the --param that sets it, if "
                       "any); a file still to come: run again once it is "
                       "there", path);
  if (grc != 0)
    return CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: cannot list", path);
  /* glob sorts with the locale; sort bytewise for a stable order. */
  s->n_files = g.gl_pathc;
  s->files = cairn_xcalloc(s->n_files, sizeof *s->files);
  for (size_t i = 0; i < s->n_files; i++)
    s->files[i] = cairn_xstrdup(g.gl_pathv[i]);
  globfree(&g);
  qsort(s->files, s->n_files, sizeof *s->files, cmp_path);
  s->headers = cairn_xcalloc(s->n_files, sizeof *s->headers);
  s->buf = cairn_xmalloc(READ_BLOCK);
  s->fp_index = (size_t)-1;
  return CAIRN_OK;
}

/* ---- reading records ---------------------------------------------------- */

static int seek_to(struct file_src *s, size_t index, long long offset,
                   cairn_err *err)
{
  if (s->fp && s->fp_index == index && s->pos + (long long)s->at == offset)
    return CAIRN_OK;
  if (!s->fp || s->fp_index != index) {
    if (s->fp)
      fclose(s->fp);
    s->fp = fopen(s->files[index], "rb");
    if (!s->fp)
      return CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: %s", s->files[index],
                         strerror(errno));
    s->fp_index = index;
  }
  if (fseeko(s->fp, offset, SEEK_SET) != 0)
    return CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: seek: %s",
                       s->files[index], strerror(errno));
  s->pos = offset;
  s->len = s->at = 0;
  s->eof = 0;
  return CAIRN_OK;
}

/* Make at least one unconsumed byte available; 0 at EOF. */
static int fill(struct file_src *s, cairn_err *err)
{
  size_t n;
  if (s->at < s->len)
    return 1;
  if (s->eof)
    return 0;
  s->pos += (long long)s->len;
  s->len = s->at = 0;
  n = fread(s->buf, 1, READ_BLOCK, s->fp);
  if (n == 0) {
    if (ferror(s->fp))
      return CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: read: %s",
                         s->files[s->fp_index], strerror(errno));
    s->eof = 1;
    return 0;
  }
  s->len = n;
  return 1;
}

/* How next_record read a record (struct rec_read). */
enum { REC_WHOLE, REC_TOO_LARGE, REC_UNTERMINATED, REC_MERGED };

struct rec_read {
  int       kind;   /* REC_*: whole (out holds it), larger than
                       CAIRN_CSV_RECORD_MAX (out holds its first
                       CAIRN_CSV_KEEP bytes), or a CSV record the file
                       ends inside quotes (out holds up to
                       CAIRN_CSV_RECORD_MAX bytes of it); REC_MERGED is
                       set by file_extract */
  long long bytes;  /* its size in the file */
  long      lines;  /* the newlines in it (quoted ones included) */
  int       ended;  /* it ends with a newline (not the file's end) */
  size_t    fields; /* REC_MERGED: the fields it had before the cut */
  int       fields_kept; /* REC_MERGED: counted in its first
                            CAIRN_CSV_KEEP bytes only (it was larger than
                            CAIRN_CSV_RECORD_MAX) */
};

/* Append the next record (with its terminator) to out, holding no more
 * than CAIRN_CSV_RECORD_MAX bytes of it (r says what was read). Returns 1
 * when a record was read, 0 at EOF, <0 on error. */
static int next_record(struct file_src *s, struct cairn_buf *out,
                       struct rec_read *r, cairn_err *err)
{
  int quoted = 0, got = 0, done = 0, rc;
  size_t before = out->len;

  memset(r, 0, sizeof *r);
  for (;;) {
    const char *p, *nl;
    size_t n, seg;
    rc = fill(s, err);
    if (rc < 0)
      return rc;
    if (rc == 0)
      break;
    p = s->buf + s->at;
    n = s->len - s->at;
    if (s->format == FMT_CSV) {
      seg = cairn__csv_scan(p, n, &quoted, &r->lines, &done);
    } else {
      nl = memchr(p, '\n', n);
      seg = nl ? (size_t)(nl - p) + 1 : n;
      done = nl != NULL;
      r->lines += done;
    }
    if (cairn__csv_keep(out, before, (unsigned long long)r->bytes, p,
                        seg) != 0)
      return CAIRN_RAISE(err, CAIRN_EIO, 0, "record too large");
    s->at += seg;
    r->bytes += (long long)seg;
    got = 1;
    if (done)
      break;
  }
  if (got && !done && quoted && s->format == FMT_CSV)
    r->kind = REC_UNTERMINATED;
  else if ((unsigned long long)r->bytes > CAIRN_CSV_RECORD_MAX)
    r->kind = REC_TOO_LARGE;
  r->ended = done;
  return got;
}

/* The record at offset start ran to the end of the file inside quotes: a
 * quote in it never closes, and where it should have closed cannot be
 * known. Or it ran over lines into more fields than the header has: a
 * stray quote in its first line was closed by one in a later row, and the
 * rows between were taken into it (REC_MERGED). The record is cut after
 * its first line, and reading goes on from the next: one row goes to the
 * quarantine, not every line after it. (A record runs past its first line
 * only when that line holds an odd number of quotes, the one it is cut
 * at; reading goes on as if that line had been right.) out gets the
 * cut record from 'before' on (its first CAIRN_CSV_KEEP bytes when it is
 * larger than CAIRN_CSV_RECORD_MAX), r its size and newlines; the reader
 * is left after it. */
static int cut_unterminated(struct file_src *s, struct cairn_buf *out,
                            size_t before, long long start,
                            struct rec_read *r, cairn_err *err)
{
  int rc;

  out->len = before;
  out->data[before] = '\0';
  r->bytes = 0;
  r->lines = 0;
  r->ended = 0;
  rc = seek_to(s, s->fp_index, start, err);
  if (rc < 0)
    return rc;
  while (!r->ended && (rc = fill(s, err)) > 0) {
    const char *p = s->buf + s->at;
    size_t n = s->len - s->at;
    const char *nl = memchr(p, '\n', n);
    if (nl) {
      n = (size_t)(nl - p) + 1;
      r->lines = 1;
      r->ended = 1;
    }
    if (cairn__csv_keep(out, before, (unsigned long long)r->bytes, p, n) != 0)
      return CAIRN_RAISE(err, CAIRN_EIO, 0, "record too large");
    s->at += n;
    r->bytes += (long long)n;
  }
  return rc < 0 ? rc : CAIRN_OK;
}

/* ---- blank lines ------------------------------------------------------- */

/* A line that carries no record: empty, or (NDJSON, where whitespace
 * around a value is JSON's own) only whitespace. */
static int blank_line(const struct file_src *s, const char *p, size_t n)
{
  if (s->format == FMT_NDJSON) {
    while (n && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
      p++;
      n--;
    }
    return n == 0;
  }
  return n == 0 || (n <= 2 && (*p == '\n' || *p == '\r'));
}

static int read_header(struct file_src *s, size_t index, long long *offset,
                       cairn_err *err)
{
  struct cairn_header *h = &s->headers[index];
  struct rec_read r;
  const char *why;
  int rc;

  rc = seek_to(s, index, 0, err);
  if (rc < 0)
    return rc;
  cairn_buf_reset(&s->rec);
  rc = next_record(s, &s->rec, &r, err);
  if (rc < 0)
    return rc;
  *offset = s->pos + (long long)s->at;
  if (rc == 0 || h->names)
    return CAIRN_OK;
  /* A UTF-8 BOM, or two (a tool that adds one to text that has one: the
   * first name would read as "\uFEFFBilledCost", and no mapping would
   * find it) */
  while (s->rec.len >= 3 && memcmp(s->rec.data, "\xEF\xBB\xBF", 3) == 0) {
    memmove(s->rec.data, s->rec.data + 3, s->rec.len - 2);
    s->rec.len -= 3;
  }
  if (blank_line(s, s->rec.data, s->rec.len) && !s->peek) /* BOM, newline */
    cairn_warn("%s has no header (its first line is empty)", s->files[index]);
  why = cairn__csv_header_problem(s->rec.data, s->rec.len);
  if (why)
    return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s%s; nothing of it was loaded",
                       s->files[index], why);
  if (r.kind == REC_TOO_LARGE)
    return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s: its header line is %lld "
                       "bytes, more than the %zu MiB a record may have; "
                       "nothing of it was loaded", s->files[index], r.bytes,
                       CAIRN_CSV_RECORD_MAX >> 20);
  if (r.kind == REC_UNTERMINATED)
    return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s: a quote in its header line "
                       "is never closed, so the whole file would read as "
                       "its header; nothing of it was loaded",
                       s->files[index]);
  h->n_cols = cairn__csv_split(s->rec.data, s->rec.len, &s->cols);
  h->names = cairn_xcalloc(h->n_cols, sizeof *h->names);
  for (size_t i = 0; i < h->n_cols; i++)
    h->names[i] = cairn_xstrndup(s->cols.cols[i], s->cols.lens[i]);
  h->id = cairn_header_new_id();
  return CAIRN_OK;
}

/* Free the headers of the files before file index - 1: their pages are
 * decoded by now (and decode reads a header again when it must), so a
 * glob of many files holds two headers, not one per file. */
static void drop_headers(struct file_src *s, size_t index)
{
  for (; s->kept_from + 1 < index; s->kept_from++)
    cairn_header_clear(&s->headers[s->kept_from]);
}

/* ---- extract -------------------------------------------------------------- */

#define FILES_CHANGED ": the input changed since this window's checkpoint, " \
  "so its positions no longer apply; nothing from the checkpoint on was " \
  "loaded (run again with --fresh to load the files as they are now)"

/* The files the glob matches up to file index: the first 16 hex digits
 * of a SHA-256 over their names (any bytes, each NUL-terminated). Kept for
 * the last index asked: every chunk of a file asks for the same one. The
 * hash runs on over the names as the index grows (a run reads the files
 * in order), so a glob of n files costs n names hashed, not n * n / 2
 * (10,000 files: 1.25 GB of SHA-256). */
static const char *files_digest(struct file_src *s, size_t index)
{
  struct cairn_sha256 h;
  char hex[CAIRN_SHA256_HEX];

  if (s->digest_of == index + 1)
    return s->digest;
  if (s->names.md && s->names_of > index + 1) { /* went back: again */
    cairn_sha256_final_hex(&s->names, hex);
    s->names_of = 0;
  }
  if (!s->names.md)
    cairn_sha256_init(&s->names);
  for (; s->names_of <= index && s->names_of < s->n_files; s->names_of++)
    cairn_sha256_update(&s->names, s->files[s->names_of],
                        strlen(s->files[s->names_of]) + 1);
  cairn_sha256_copy(&h, &s->names);
  cairn_sha256_final_hex(&h, hex);
  memcpy(s->digest, hex, 16);
  s->digest[16] = '\0';
  s->digest_of = index + 1;
  return s->digest;
}

/* The checkpoint c must still describe the files: the glob matches the
 * same files up to file index (none removed or added before it, however
 * many), and when c points inside that file, it is unchanged since. */
static int check_cursor(struct file_src *s, const json_t *c,
                        size_t index, long long offset, cairn_err *err)
{
  const char *files = json_string_value(json_object_get(c, "files"));
  const json_t *size = json_object_get(c, "size");
  const json_t *mtime = json_object_get(c, "mtime");
  struct cairn_fs_stamp now;

  if (!files) /* a checkpoint of an earlier version */
    return CAIRN_OK;
  if (index >= s->n_files || strcmp(files, files_digest(s, index)) != 0)
    return CAIRN_RAISE(err, CAIRN_ECHANGED, 0, "the glob matched other "
                       "files up to the checkpoint's (file %zu, now %s): "
                       "files were added or removed before it"
                       FILES_CHANGED, index + 1,
                       index < s->n_files ? s->files[index] : "no file");
  if (offset == 0 || !json_is_integer(size) || !json_is_integer(mtime))
    return CAIRN_OK;
  if (cairn_fs_stamp(-1, s->files[index], &now) != 0)
    return CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: %s", s->files[index],
                       strerror(errno));
  if (now.size != json_integer_value(size) ||
      now.mtime_ns != json_integer_value(mtime))
    return CAIRN_RAISE(err, CAIRN_ECHANGED, 0, "%s was rewritten after it was "
                       "read up to offset %lld (%lld bytes then, %lld now)"
                       FILES_CHANGED, s->files[index], offset,
                       (long long)json_integer_value(size), now.size);
  return CAIRN_OK;
}

/* The cursor of file index at offset (inside it: with its stamp). Names
 * only by digest: a file name need not be UTF-8, which JSON text is. */
static char *fmt_cursor(struct file_src *s, size_t index, long line,
                        long long offset)
{
  json_t *c = json_pack("{s:I,s:s,s:I,s:I}", "file", (json_int_t)index,
                        "files", files_digest(s, index), "line",
                        (json_int_t)line, "offset", (json_int_t)offset);
  struct cairn_fs_stamp st;
  char *text;

  if (offset > 0 && s->fp && s->fp_index == index &&
      cairn_fs_stamp(fileno(s->fp), NULL, &st) == 0) {
    json_object_set_new(c, "size", json_integer(st.size));
    json_object_set_new(c, "mtime", json_integer(st.mtime_ns));
  }
  text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(c);
  return text;
}

static int file_extract(cairn_source *base, const char *cursor_in,
                        struct cairn_page *page, cairn_err *err)
{
  struct file_src *s = (struct file_src *)base;
  size_t index = 0;
  long long offset = 0;
  long line = 1, rows = 0;
  struct rec_read r, bad = { REC_WHOLE, 0, 0, 0, 0, 0 };
  int rc;

  if (cursor_in) {
    json_error_t je;
    json_t *c = json_loads(cursor_in, 0, &je);
    if (!c)
      return CAIRN_RAISE(err, CAIRN_ESTATE, 0, "bad file cursor: %s",
                         cursor_in);
    index = (size_t)json_integer_value(json_object_get(c, "file"));
    offset = json_integer_value(json_object_get(c, "offset"));
    line = (long)json_integer_value(json_object_get(c, "line"));
    rc = check_cursor(s, c, index, offset, err);
    json_decref(c);
    if (rc < 0)
      return rc;
  }
  for (;;) {
    if (index >= s->n_files)
      return CAIRN_DONE;
    drop_headers(s, index);
    if (offset == 0) {
      if (s->format == FMT_CSV) {
        rc = read_header(s, index, &offset, err);
        if (rc < 0)
          return rc;
        line = 2;
      } else {
        line = 1;
      }
    } else if (s->format == FMT_CSV && !s->headers[index].names) {
      long long dummy;
      rc = read_header(s, index, &dummy, err);
      if (rc < 0)
        return rc;
    }
    rc = seek_to(s, index, offset, err);
    if (rc < 0)
      return rc;
    rc = fill(s, err);
    if (rc < 0)
      return rc;
    if (rc > 0 && offset == 0 && s->format == FMT_NDJSON &&
        s->len - s->at >= 3 && memcmp(s->buf + s->at, "\xEF\xBB\xBF", 3) == 0) {
      /* A UTF-8 BOM (Windows tools write one) starts the file, not its
       * first record: the records start after it, and so do cursors. */
      offset = 3;
      rc = seek_to(s, index, offset, err);
      if (rc == CAIRN_OK)
        rc = fill(s, err);
      if (rc < 0)
        return rc;
    }
    if (rc > 0)
      break;
    if (offset == 0) /* an export that wrote nothing is worth a look */
      cairn_warn("%s is empty: no %srecords", s->files[index],
                 s->format == FMT_CSV ? "header, no " : "");
    index++; /* this file is exhausted: continue with the next */
    offset = 0;
  }
  long line_end = line;
  cairn_buf_reset(&page->raw);
  while (rows < s->chunk_rows && (long)page->raw.len < s->chunk_bytes) {
    size_t before = page->raw.len;
    long long at = s->pos + (long long)s->at;
    rc = next_record(s, &page->raw, &r, err);
    /* A row over lines with more fields than the header: rows taken in
     * between two stray quotes. Of one too large to hold, the fields of
     * what is kept of it count (more than the header's there, more in
     * all): stray quotes far apart cost two rows too, not every row
     * between them. */
    if (rc == 1 && (r.kind == REC_WHOLE || r.kind == REC_TOO_LARGE) &&
        s->format == FMT_CSV && (r.lines > 1 || (r.lines == 1 && !r.ended))) {
      r.fields = cairn__csv_split(page->raw.data + before,
                                  page->raw.len - before, &s->cols);
      if (r.fields > s->headers[index].n_cols) {
        r.fields_kept = r.kind == REC_TOO_LARGE;
        r.kind = REC_MERGED;
      }
    }
    if (rc == 1 && (r.kind == REC_UNTERMINATED || r.kind == REC_MERGED) &&
        (rc = cut_unterminated(s, &page->raw, before, at, &r, err)) == 0)
      rc = 1;
    if (rc < 0)
      return rc;
    if (rc == 0)
      break;
    if (r.kind != REC_WHOLE) {
      /* Not read whole (too large, or a quote never closes): a chunk of
       * its own, so decode finds it by the page's "bad" alone. */
      if (before > 0) {
        page->raw.len = before;
        page->raw.data[before] = '\0';
        rc = seek_to(s, index, at, err);
        if (rc < 0)
          return rc;
        break;
      }
      bad = r;
      rows = 1;
      line_end += r.lines;
      break;
    }
    /* A blank line rides along with the chunk but is not a record. */
    if (!blank_line(s, page->raw.data + before, page->raw.len - before))
      rows++;
    line_end += r.lines;
  }
  page->n_hint = rows;
  if (bad.kind != REC_WHOLE)
    page->meta = cairn_strfmt("{\"bad\":{\"bytes\":%lld,\"fields\":%zu,"
                              "\"fields_kept\":%d,\"kind\":%d,"
                              "\"lines\":%ld},\"file\":%zu,\"line\":%ld}",
                              bad.bytes, bad.fields, bad.fields_kept,
                              bad.kind, bad.lines + !bad.ended, index, line);
  else
    page->meta = cairn_strfmt("{\"file\":%zu,\"line\":%ld}", index, line);
  rc = fill(s, err);
  if (rc < 0)
    return rc;
  if (rc > 0) {
    page->cursor_out = fmt_cursor(s, index, line_end,
                                  s->pos + (long long)s->at);
  } else if (index + 1 < s->n_files) {
    page->cursor_out = fmt_cursor(s, index + 1, 1, 0);
  } else {
    page->cursor_out = NULL;
  }
  return CAIRN_OK;
}

/* ---- decode ------------------------------------------------------------------ */

static int file_decode(cairn_source *base, long seq, const struct cairn_page *page,
                       cairn_record_fn emit, void *ud, cairn_err *err)
{
  struct file_src *s = (struct file_src *)base;
  const char *p = page->raw.data, *end = page->raw.data + page->raw.len;
  struct cairn_record rec;
  json_t *meta = json_loads(page->meta ? page->meta : "{}", 0, NULL);
  size_t index = (size_t)json_integer_value(json_object_get(meta, "file"));
  long line = (long)json_integer_value(json_object_get(meta, "line"));
  const json_t *bad = json_object_get(meta, "bad");
  int bad_kind = (int)json_integer_value(json_object_get(bad, "kind"));
  long long bad_bytes = json_integer_value(json_object_get(bad, "bytes"));
  long bad_lines = (long)json_integer_value(json_object_get(bad, "lines"));
  size_t bad_fields =
      (size_t)json_integer_value(json_object_get(bad, "fields"));
  int bad_fields_kept =
      json_integer_value(json_object_get(bad, "fields_kept")) != 0;
  const struct cairn_header *h;
  char pos[512];
  size_t prefix;
  int rc = CAIRN_OK;

  (void)seq;
  json_decref(meta);
  if (index >= s->n_files)
    return CAIRN_RAISE(err, CAIRN_EINTERNAL, 0, "page of unknown file");
  h = s->format == FMT_CSV ? &s->headers[index] : NULL;
  prefix = (size_t)snprintf(pos, sizeof pos - 24, "%s:", s->files[index]);
  if (prefix >= sizeof pos - 24)
    prefix = sizeof pos - 25;
  if (h && !h->names) {
    long long dummy;
    rc = read_header(s, index, &dummy, err);
    if (rc < 0)
      return rc;
  }
  if (bad_kind != REC_WHOLE) {
    /* The page is one record extract could not read whole: quarantined
     * with what it kept of it. */
    char large[160] = "", kept[96] = "", *why;
    if ((unsigned long long)bad_bytes > CAIRN_CSV_RECORD_MAX)
      snprintf(large, sizeof large, "; that line is %lld bytes, more than "
               "the %zu MiB a record may have: its first %zu KiB are kept "
               "here", bad_bytes, CAIRN_CSV_RECORD_MAX >> 20,
               CAIRN_CSV_KEEP >> 10);
    if (bad_fields_kept)
      snprintf(kept, sizeof kept, " in its first %zu KiB, of more than %zu "
               "MiB", CAIRN_CSV_KEEP >> 10, CAIRN_CSV_RECORD_MAX >> 20);
    if (bad_kind == REC_TOO_LARGE)
      why = cairn__csv_too_large(bad_bytes, bad_lines, 0);
    else if (bad_kind == REC_MERGED)
      why = cairn_strfmt("stray quote: a quote in this row is not closed "
                         "on its line, so the lines after it up to the next "
                         "quote were read into it (%zu fields%s, the header "
                         "has %zu); the row was cut at the end of its first "
                         "line and the lines after it were read as rows of "
                         "their own%s", bad_fields, kept,
                         h ? h->n_cols : 0, large);
    else
      why = cairn_strfmt("unterminated quoted field: a quote in this row is "
                         "never closed (the file ends inside it), so the row "
                         "was cut at the end of its first line and the "
                         "lines after it were read as rows of their own%s",
                         large);
    cairn__put_line(pos, prefix, line);
    rc = cairn__emit_reject(emit, ud, h, NULL, pos, p, (size_t)(end - p),
                            why);
    free(why);
    return rc;
  }
  while (p < end && rc == CAIRN_OK) {
    /* One record: up to a newline outside quotes. */
    const char *q;
    int quoted = 0, done;
    long lines = 0;
    json_t *obj = NULL;
    json_error_t je;
    char *errmsg = NULL;

    if (s->format == FMT_CSV) {
      q = p + cairn__csv_scan(p, (size_t)(end - p), &quoted, &lines, &done);
    } else {
      q = memchr(p, '\n', (size_t)(end - p));
      q = q ? q + 1 : end;
      lines = q[-1] == '\n';
    }
    memset(&rec, 0, sizeof rec);
    cairn__put_line(pos, prefix, line);
    rec.position = pos;
    rec.raw = p;
    rec.raw_len = (size_t)(q - p);
    /* Skip blank lines: they carry no record in either format. */
    if (blank_line(s, p, rec.raw_len)) {
      line += lines;
      p = q;
      continue;
    }
    /* raw without the terminator, for quarantine */
    rec.raw_len = cairn__csv_trim_eol(p, rec.raw_len);
    if (s->format == FMT_CSV) {
      rec.n_cols = cairn__csv_split(p, (size_t)(q - p), &s->cols); /* in place */
      rec.cols = s->cols.cols;
      rec.col_lens = s->cols.lens;
      rec.header = h;
      rec.ragged = rec.n_cols != h->n_cols;
    } else {
      obj = json_loadb(p, rec.raw_len, 0, &je);
      if (!obj) {
        char what[JSON_ERROR_TEXT_LENGTH];
        errmsg = cairn_strfmt("not valid JSON: %s (column %d)",
                              cairn_json_error_what(&je, what), je.column);
      }
      else if (!json_is_object(obj))
        errmsg = cairn_xstrdup("not a JSON object");
      rec.json = obj;
      rec.error = errmsg;
    }
    rc = emit(ud, &rec);
    json_decref(obj);
    free(errmsg);
    line += lines;
    p = q;
  }
  return rc;
}

static void file_close(cairn_source *base)
{
  struct file_src *s = (struct file_src *)base;
  for (size_t i = 0; i < s->n_files; i++) {
    free(s->files[i]);
    if (s->headers)
      cairn_header_clear(&s->headers[i]);
  }
  free(s->files);
  free(s->headers);
  if (s->names.md) {
    char hex[CAIRN_SHA256_HEX];
    cairn_sha256_final_hex(&s->names, hex); /* releases it */
  }
  if (s->fp)
    fclose(s->fp);
  free(s->buf);
  cairn_buf_free(&s->rec);
  cairn__csv_cols_free(&s->cols);
}

/* The first file's header, read by a source of its own that is closed
 * again at once. A header the run would refuse (UTF-16, too large, an
 * open quote) is CAIRN_DONE here: the run names the problem. */
static int file_peek_header(const json_t *cfg, struct cairn_header **out,
                            char **file_out, cairn_err *err)
{
  struct file_src s;
  struct cairn_source_ctx ctx;
  const char *fmt = json_string_value(json_object_get(cfg, "format"));
  cairn_err ignored = {0};
  long long offset = 0;
  int rc;

  *out = NULL;
  *file_out = NULL;
  memset(&s, 0, sizeof s);
  memset(&ctx, 0, sizeof ctx);
  ctx.cfg = cfg;
  s.base.ctx = &ctx;
  s.peek = 1;
  rc = file_open(&s.base, &ctx, err);
  if (rc < 0) {
    file_close(&s.base);
    return rc;
  }
  if (s.n_files && !(fmt && strcmp(fmt, "csv") != 0))
    rc = read_header(&s, 0, &offset, &ignored);
  else
    rc = CAIRN_DONE;
  /* A first line that is empty is no header to check (the run warns). */
  if (rc == CAIRN_OK && s.headers[0].names &&
      !(s.headers[0].n_cols == 1 && !*s.headers[0].names[0])) {
    *out = cairn_xmalloc(sizeof **out);
    **out = s.headers[0];
    memset(&s.headers[0], 0, sizeof s.headers[0]);
    *file_out = cairn_xstrdup(s.files[0]);
  } else {
    rc = CAIRN_DONE;
  }
  file_close(&s.base);
  return rc;
}

const cairn_source_ops cairn_source_file_ops = {
  CAIRN_SOURCE_ABI, "file", sizeof(struct file_src), CAIRN_SOURCE_REREADABLE,
  file_check, file_open, file_extract, file_decode, file_close, NULL, NULL,
  file_peek_header, NULL,
};
