/* SPDX-License-Identifier: MIT */
/* src_sqlite.c -- rows of a SQLite table or query, chunked by rowid.
 *
 * Reads a SQLite file (typically the warehouse) read-only: a "table" with
 * an optional "where" condition, or a full "query" that exposes the rowid
 * as a column named _rowid. A chunk is up to chunk_rows rows (or about
 * chunk_bytes bytes) in rowid order after the cursor {"after_rowid":N};
 * extract() serialises them as NDJSON (column names as keys) and decode()
 * parses each line back. The table may change between runs, so the source
 * is not REREADABLE and the runner spools its pages. Keyset paging on
 * the rowid keeps every chunk one indexed range scan, however deep into
 * the table the cursor is.
 *
 * One window reads one snapshot: the first extract opens a read
 * transaction on the source's own connection and keeps it until the
 * window's last chunk is read, so loads committed meanwhile (in WAL mode
 * they go on beside it) are not seen part-way. A resumed run has lost
 * that snapshot, so the first extract of every run of a window also takes
 * the window's identity -- its rows (the table's with the where, or the
 * query's), its largest rowid and the SHA-256 of its rows as extract
 * writes them -- and every cursor carries it ("snapshot"). A run that
 * resumes from a cursor takes it again and refuses (CAIRN_ECHANGED, rerun
 * with --fresh) when the rows differ: the chunks read before and after
 * would be two versions of the window. */
#include "source/source.h"
#include "core/sqlx.h"
#include "core/codec.h"
#include "core/hash.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_CHUNK_ROWS  10000
#define DEFAULT_CHUNK_BYTES (64L << 20)
#define BUSY_TIMEOUT_MS     10000

struct sqlite_src {
  cairn_source  base;          /* first */
  sqlite3      *db;
  sqlite3_stmt *select;        /* ?1 = after rowid, ?2 = row limit */
  char         *path;
  char         *label;         /* table name, or "query": for positions */
  long          chunk_rows;    /* > 0 */
  long          chunk_bytes;   /* > 0; a chunk ends once raw passes it */
  int           n_cols;
  int           rowid_col;     /* index of _rowid in the result */
  char        **keys;          /* per column: its name as a JSON string */
  int           in_txn;        /* the window's read transaction is open */
  json_t       *snap;          /* the window's identity in that snapshot:
                                  {"max_rowid","rows","sha256"}; NULL
                                  before the first extract */
};

/* ---- config ------------------------------------------------------------ */

static const char *cfg_str(const json_t *cfg, const char *key)
{
  const char *s = json_string_value(json_object_get(cfg, key));
  return s && *s ? s : NULL;
}

static int sqlite_check(const json_t *cfg, const char **ptr_out,
                        cairn_err *err)
{
  const char *table = cfg_str(cfg, "table"), *query = cfg_str(cfg, "query");

  if (!cfg_str(cfg, "path")) {
    *ptr_out = "/path";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                       "sqlite source needs a path (the SQLite file)");
  }
  if (!table && !query) {
    *ptr_out = "";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                       "sqlite source needs either \"table\" or \"query\"");
  }
  if (table && query) {
    *ptr_out = "/query";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                       "give either \"table\" or \"query\", not both");
  }
  if (query && json_object_get(cfg, "where")) {
    *ptr_out = "/where";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "\"where\" goes with \"table\"; "
                       "put the condition inside the query");
  }
  return cairn__cfg_check_chunks(cfg, ptr_out, err);
}

/* ---- JSON text ----------------------------------------------------------- */

/* Append s[0..n) as a JSON string. Bytes >= 0x80 pass through untouched:
 * valid UTF-8 stays as it is, and invalid UTF-8 makes decode() reject the
 * record with jansson's reason rather than being silently altered. */
static void put_json_str(struct cairn_buf *b, const char *s, size_t n)
{
  static const char hex[] = "0123456789abcdef";
  size_t run = 0;

  cairn_buf_putc(b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[7];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    cairn_buf_append(b, s + run, i - run);
    run = i + 1;
    switch (c) {
    case '"':  cairn_buf_puts(b, "\\\""); break;
    case '\\': cairn_buf_puts(b, "\\\\"); break;
    case '\n': cairn_buf_puts(b, "\\n"); break;
    case '\r': cairn_buf_puts(b, "\\r"); break;
    case '\t': cairn_buf_puts(b, "\\t"); break;
    case '\b': cairn_buf_puts(b, "\\b"); break;
    case '\f': cairn_buf_puts(b, "\\f"); break;
    default:
      memcpy(esc, "\\u00", 4);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      cairn_buf_append(b, esc, 6);
    }
  }
  cairn_buf_append(b, s + run, n - run);
  cairn_buf_putc(b, '"');
}

/* The shortest of %.15g..%.17g that reads back to the same double, kept a
 * JSON real (a ".0" is added to integral values so decode sees a real). */
static void put_real(struct cairn_buf *b, double d)
{
  char num[40];
  if (d != d) {              /* SQLite stores NaN as NULL; be safe anyway */
    cairn_buf_puts(b, "null");
    return;
  }
  if (d > 1.7976931348623157e308 || d < -1.7976931348623157e308) {
    /* JSON has no infinity: keep the value as text. */
    cairn_buf_puts(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(num, sizeof num, "%.*g", prec, d);
    if (strtod(num, NULL) == d)
      break;
  }
  cairn_buf_puts(b, num);
  if (!strpbrk(num, ".eE"))
    cairn_buf_puts(b, ".0");
}

/* Standard base64 with padding (RFC 4648 section 4), as a JSON string. */
static void put_base64(struct cairn_buf *b, const unsigned char *p, size_t n)
{
  char *enc = cairn_base64_encode(p, n);
  cairn_buf_putc(b, '"');
  cairn_buf_puts(b, enc);
  cairn_buf_putc(b, '"');
  free(enc);
}

/* ---- open ---------------------------------------------------------------- */

static int is_io_rc(int rc)
{
  rc &= 0xff;
  return rc == SQLITE_BUSY || rc == SQLITE_LOCKED || rc == SQLITE_IOERR ||
         rc == SQLITE_CANTOPEN || rc == SQLITE_CORRUPT ||
         rc == SQLITE_NOTADB || rc == SQLITE_PROTOCOL || rc == SQLITE_FULL;
}

/* Build the chunk query. A table is read with its rowid; a query is
 * wrapped so the same keyset paging (rowid > ?1, LIMIT ?2) applies. */
static char *build_sql(const json_t *cfg)
{
  const char *table = cfg_str(cfg, "table");
  const char *where = cfg_str(cfg, "where");
  struct cairn_buf b = {0};

  if (table) {
    cairn_buf_puts(&b, "SELECT rowid AS _rowid, * FROM \"");
    for (const char *p = table; *p; p++) {
      if (*p == '"')
        cairn_buf_putc(&b, '"');
      cairn_buf_putc(&b, *p);
    }
    cairn_buf_puts(&b, "\" WHERE rowid > ?1");
    if (where)
      cairn_buf_printf(&b, " AND (%s)", where);
    cairn_buf_puts(&b, " ORDER BY rowid LIMIT ?2");
  } else {
    const char *q = cfg_str(cfg, "query");
    size_t n = strlen(q);
    /* A trailing ";" would end the subquery early. */
    while (n && (q[n - 1] == ';' || q[n - 1] == ' ' || q[n - 1] == '\n' ||
                 q[n - 1] == '\t' || q[n - 1] == '\r'))
      n--;
    cairn_buf_printf(&b, "SELECT * FROM (%.*s) WHERE _rowid > ?1 "
                     "ORDER BY _rowid LIMIT ?2", (int)n, q);
  }
  return cairn_buf_take(&b);
}

/* SQLITE_OPEN_READONLY does not create a file, but say which file is
 * missing rather than SQLite's "unable to open database file". */
static int input_there(const char *path, cairn_err *err)
{
  struct stat st;
  if (stat(path, &st) != 0)
    return CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: %s (the SQLite file of "
                       "the sqlite source)", path, strerror(errno));
  return CAIRN_OK;
}

static int sqlite_open(cairn_source *base, const struct cairn_source_ctx *ctx,
                       cairn_err *err)
{
  struct sqlite_src *s = (struct sqlite_src *)base;
  const char *ptr = NULL;
  char *sql = NULL;
  int rc, src;

  rc = sqlite_check(ctx->cfg, &ptr, err);
  if (rc < 0)
    return rc;
  s->path = cairn_xstrdup(cfg_str(ctx->cfg, "path"));
  s->label = cairn_xstrdup(cfg_str(ctx->cfg, "table") ? cfg_str(ctx->cfg,
                                                                "table")
                                                      : "query");
  s->chunk_rows = cairn__cfg_count(ctx->cfg, "chunk_rows", DEFAULT_CHUNK_ROWS);
  s->chunk_bytes = cairn__cfg_count(ctx->cfg, "chunk_bytes", DEFAULT_CHUNK_BYTES);
  rc = input_there(s->path, err);
  if (rc < 0)
    return rc;
  src = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READONLY, NULL);
  if (src != SQLITE_OK)
    return CAIRN_RAISE(err, CAIRN_EIO, src, "%s: %s", s->path,
                       s->db ? cairn_sqlite_why(s->db) : sqlite3_errstr(src));
  sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
  sql = build_sql(ctx->cfg);
  src = sqlite3_prepare_v2(s->db, sql, -1, &s->select, NULL);
  if (src != SQLITE_OK) {
    rc = CAIRN_RAISE(err, is_io_rc(src) ? CAIRN_EIO : CAIRN_EUSAGE, src,
                     "%s: %s: %s", s->path, s->label, cairn_sqlite_why(s->db));
    goto done;
  }
  s->n_cols = sqlite3_column_count(s->select);
  s->rowid_col = -1;
  s->keys = cairn_xcalloc((size_t)s->n_cols, sizeof *s->keys);
  for (int i = 0; i < s->n_cols; i++) {
    const char *name = sqlite3_column_name(s->select, i);
    struct cairn_buf k = {0};
    if (!name)
      name = "";
    if (s->rowid_col < 0 && strcmp(name, "_rowid") == 0)
      s->rowid_col = i;
    put_json_str(&k, name, strlen(name));
    cairn_buf_putc(&k, ':');
    s->keys[i] = cairn_buf_take(&k);
  }
  if (s->rowid_col < 0)
    rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s: the query must select the "
                     "rowid as a column named _rowid (SELECT rowid AS _rowid, "
                     "...)", s->path);
done:
  free(sql);
  return rc;
}

/* ---- extract ------------------------------------------------------------- */

/* Append the current row as one NDJSON line. */
static void put_row(struct sqlite_src *s, struct cairn_buf *out)
{
  sqlite3_stmt *st = s->select;
  char num[32];

  cairn_buf_putc(out, '{');
  for (int i = 0; i < s->n_cols; i++) {
    if (i)
      cairn_buf_putc(out, ',');
    cairn_buf_puts(out, s->keys[i]);
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
      snprintf(num, sizeof num, "%" PRId64,
               (int64_t)sqlite3_column_int64(st, i));
      cairn_buf_puts(out, num);
      break;
    case SQLITE_FLOAT:
      put_real(out, sqlite3_column_double(st, i));
      break;
    case SQLITE_TEXT: {
      const char *t = (const char *)sqlite3_column_text(st, i);
      put_json_str(out, t ? t : "", (size_t)sqlite3_column_bytes(st, i));
      break;
    }
    case SQLITE_BLOB: {
      const void *p = sqlite3_column_blob(st, i);
      put_base64(out, p, p ? (size_t)sqlite3_column_bytes(st, i) : 0);
      break;
    }
    default:
      cairn_buf_puts(out, "null");
    }
  }
  cairn_buf_puts(out, "}\n");
}

/* ---- the window's snapshot ---------------------------------------------- */

static void end_snapshot(struct sqlite_src *s)
{
  if (s->in_txn)
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
  s->in_txn = 0;
}

/* Read the whole window in the open transaction: its rows, largest rowid
 * and the SHA-256 of its NDJSON lines, into s->snap. */
static int take_identity(struct sqlite_src *s, cairn_err *err)
{
  sqlite3_stmt *st = s->select;
  struct cairn_sha256 h;
  struct cairn_buf line = {0};
  char hex[CAIRN_SHA256_HEX];
  int64_t rows = 0, max_rowid = 0;
  int src;

  cairn_sha256_init(&h);
  sqlite3_bind_int64(st, 1, 0);
  sqlite3_bind_int64(st, 2, -1); /* no limit */
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    cairn_buf_reset(&line);
    put_row(s, &line);
    cairn_sha256_update(&h, line.data, line.len);
    max_rowid = (int64_t)sqlite3_column_int64(st, s->rowid_col);
    rows++;
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  cairn_buf_free(&line);
  cairn_sha256_final_hex(&h, hex);
  if (src != SQLITE_DONE)
    return CAIRN_RAISE(err, CAIRN_EIO, src, "%s: %s: %s", s->path, s->label,
                       cairn_sqlite_why(s->db));
  json_decref(s->snap);
  s->snap = json_pack("{s:I,s:I,s:s}", "max_rowid", (json_int_t)max_rowid,
                      "rows", (json_int_t)rows, "sha256", hex);
  return CAIRN_OK;
}

#define FRESH_ADVICE ": the chunks read before and those still to read " \
  "would not be one snapshot of it; rerun with --fresh to read the window " \
  "as it is now"

/* Open the window's read transaction and take its identity. A run that
 * resumes from a cursor (resumed; was: its snapshot member, NULL in a
 * cursor of an earlier cairn) must find the window as it was. */
static int begin_snapshot(struct sqlite_src *s, int resumed, const json_t *was,
                          cairn_err *err)
{
  const char *sum = json_string_value(json_object_get(was, "sha256"));
  int src = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
  json_int_t rows, max_rowid, now_rows, now_max;
  int rc;

  if (src != SQLITE_OK)
    return CAIRN_RAISE(err, CAIRN_EIO, src, "%s: %s", s->path,
                       cairn_sqlite_why(s->db));
  s->in_txn = 1;
  rc = take_identity(s, err);
  if (rc < 0 || !resumed)
    return rc;
  if (!sum)
    return CAIRN_RAISE(err, CAIRN_ECHANGED, 0, "%s: %s: the checkpoint "
                       "(from an earlier cairn) does not say which version "
                       "of the rows its chunks were read from" FRESH_ADVICE,
                       s->path, s->label);
  if (strcmp(sum, json_string_value(json_object_get(s->snap, "sha256"))) == 0)
    return CAIRN_OK;
  rows = json_integer_value(json_object_get(was, "rows"));
  max_rowid = json_integer_value(json_object_get(was, "max_rowid"));
  now_rows = json_integer_value(json_object_get(s->snap, "rows"));
  now_max = json_integer_value(json_object_get(s->snap, "max_rowid"));
  if (rows == now_rows && max_rowid == now_max)
    return CAIRN_RAISE(err, CAIRN_ECHANGED, 0, "%s: %s changed since this "
                       "window's first chunk was read (%" JSON_INTEGER_FORMAT
                       " rows up to rowid %" JSON_INTEGER_FORMAT " then and "
                       "now, but other contents)" FRESH_ADVICE, s->path,
                       s->label, rows, max_rowid);
  return CAIRN_RAISE(err, CAIRN_ECHANGED, 0, "%s: %s changed since this "
                     "window's first chunk was read (then %" JSON_INTEGER_FORMAT
                     " rows up to rowid %" JSON_INTEGER_FORMAT ", now %"
                     JSON_INTEGER_FORMAT " up to rowid %" JSON_INTEGER_FORMAT
                     ")" FRESH_ADVICE, s->path, s->label, rows, max_rowid,
                     now_rows, now_max);
}

static int sqlite_extract(cairn_source *base, const char *cursor_in,
                          struct cairn_page *page, cairn_err *err)
{
  struct sqlite_src *s = (struct sqlite_src *)base;
  sqlite3_stmt *st = s->select;
  int64_t after = 0, last = 0;
  long rows = 0;
  int src, more = 0, rc = CAIRN_OK;

  if (cursor_in) {
    json_t *c = json_loads(cursor_in, 0, NULL);
    json_t *v = json_object_get(c, "after_rowid");
    if (!json_is_integer(v)) {
      json_decref(c);
      return CAIRN_RAISE(err, CAIRN_ESTATE, 0, "bad sqlite cursor: %s",
                         cursor_in);
    }
    after = (int64_t)json_integer_value(v);
    if (!s->in_txn)
      rc = begin_snapshot(s, 1, json_object_get(c, "snapshot"), err);
    json_decref(c);
  } else if (!s->in_txn) {
    rc = begin_snapshot(s, 0, NULL, err);
  }
  if (rc < 0)
    return rc;
  /* One row more than a chunk tells whether another chunk follows, so the
   * last chunk says so itself and no empty chunk trails the window. */
  sqlite3_bind_int64(st, 1, after);
  sqlite3_bind_int64(st, 2, (int64_t)s->chunk_rows + 1);
  cairn_buf_reset(&page->raw);
  for (;;) {
    src = sqlite3_step(st);
    if (src == SQLITE_DONE)
      break;
    if (src != SQLITE_ROW) {
      rc = CAIRN_RAISE(err, CAIRN_EIO, src, "%s: %s: %s", s->path, s->label,
                       cairn_sqlite_why(s->db));
      goto done;
    }
    if (rows == s->chunk_rows || (long)page->raw.len >= s->chunk_bytes) {
      more = 1;
      break;
    }
    if (sqlite3_column_type(st, s->rowid_col) != SQLITE_INTEGER) {
      rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s: %s: _rowid is not an "
                       "integer (after rowid %" PRId64 ")", s->path, s->label,
                       last ? last : after);
      goto done;
    }
    last = (int64_t)sqlite3_column_int64(st, s->rowid_col);
    if (rows && last <= after) {
      rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s: %s: _rowid does not "
                       "increase", s->path, s->label);
      goto done;
    }
    after = last;
    put_row(s, &page->raw);
    rows++;
  }
  if (rows == 0) {
    rc = CAIRN_DONE;
    goto done;
  }
  page->n_hint = rows;
  {
    /* decode() names positions after the table kept here, so a spooled
     * page decodes the same after a restart. */
    json_t *m = json_pack("{s:s,s:I}", "table", s->label, "rows",
                          (json_int_t)rows);
    page->meta = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(m);
  }
  if (more) {
    json_t *c = json_pack("{s:I,s:O}", "after_rowid", (json_int_t)last,
                          "snapshot", s->snap);
    page->cursor_out = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(c);
  }
done:
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc == CAIRN_DONE || (rc == CAIRN_OK && !more))
    end_snapshot(s); /* the window's last chunk: let checkpoints go on */
  return rc;
}

/* ---- decode -------------------------------------------------------------- */

static int sqlite_decode(cairn_source *base, long seq,
                         const struct cairn_page *page, cairn_record_fn emit,
                         void *ud, cairn_err *err)
{
  struct sqlite_src *s = (struct sqlite_src *)base;
  const char *p = page->raw.data, *end = p + page->raw.len;
  json_t *meta = page->meta ? json_loads(page->meta, 0, NULL) : NULL;
  const char *label = json_string_value(json_object_get(meta, "table"));
  char *pos = NULL;
  long n = 0;
  int rc = CAIRN_OK;

  (void)err;
  if (!label)
    label = s->label;
  while (p && p < end && rc == CAIRN_OK) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *q = nl ? nl : end;
    struct cairn_record rec;
    json_error_t je;
    json_t *obj, *rowid;
    char *why = NULL;

    n++;
    memset(&rec, 0, sizeof rec);
    rec.raw = p;
    rec.raw_len = (size_t)(q - p);
    obj = json_loadb(p, rec.raw_len, 0, &je);
    rowid = json_object_get(obj, "_rowid");
    free(pos);
    if (json_is_integer(rowid))
      pos = cairn_strfmt("%s#%" JSON_INTEGER_FORMAT, label,
                         json_integer_value(rowid));
    else
      pos = cairn_strfmt("%s chunk %ld #%ld", label, seq, n);
    if (!obj) {
      char what[JSON_ERROR_TEXT_LENGTH];
      why = cairn_strfmt("row is not valid JSON: %s (column %d)",
                         cairn_json_error_what(&je, what), je.column);
    } else {
      /* The rowid is the record's position, not one of its columns. */
      json_object_del(obj, "_rowid");
    }
    rec.position = pos;
    rec.json = obj;
    rec.error = why;
    rc = emit(ud, &rec);
    json_decref(obj);
    free(why);
    p = nl ? nl + 1 : end;
  }
  free(pos);
  json_decref(meta);
  return rc;
}

static void sqlite_close(cairn_source *base)
{
  struct sqlite_src *s = (struct sqlite_src *)base;
  if (s->select)
    sqlite3_reset(s->select);
  end_snapshot(s);
  json_decref(s->snap);
  sqlite3_finalize(s->select);
  sqlite3_close(s->db);
  for (int i = 0; s->keys && i < s->n_cols; i++)
    free(s->keys[i]);
  free(s->keys);
  free(s->path);
  free(s->label);
}

/* No header to check (the columns are the table's); only whether the
 * file is there, for --dry-run. */
static int sqlite_peek_header(const json_t *cfg, struct cairn_header **out,
                              char **file_out, cairn_err *err)
{
  const char *path = cfg_str(cfg, "path");
  int rc = path ? input_there(path, err) : CAIRN_OK;

  *out = NULL;
  *file_out = NULL;
  return rc < 0 ? rc : CAIRN_DONE;
}

const cairn_source_ops cairn_source_sqlite_ops = {
  CAIRN_SOURCE_ABI, "sqlite", sizeof(struct sqlite_src), 0,
  sqlite_check, sqlite_open, sqlite_extract, sqlite_decode, sqlite_close,
  NULL, NULL, sqlite_peek_header, NULL,
};
