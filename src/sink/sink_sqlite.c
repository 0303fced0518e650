/* SPDX-License-Identifier: MIT */
/* sink_sqlite.c -- the warehouse: one SQLite table per contract.
 *
 * The table is generated from the contract (columns verbatim, NOT NULL
 * from "required", a rowid table). Each chunk is loaded in one transaction
 * together with its row in _cairn_chunks(job, window, seq), which is how
 * the sink knows its durable position. Write modes:
 *   append             plain INSERT;
 *   upsert             INSERT ... ON CONFLICT(key) DO UPDATE (unique index
 *                      on the contract key);
 *   replace_partition  the first time a window meets a partition value (the
 *                      contract's x-cairn-partition columns) its old rows
 *                      are deleted; _cairn_partitions remembers which values
 *                      this window already replaced, in the same transaction.
 * Durability: see sqlite_finish (NORMAL per chunk, a full checkpoint per
 * window). Decimals: bound as REAL when they have at most 15 significant digits
 * (SQLite prints those back exactly), as INTEGER when integral, otherwise
 * as TEXT, so no digit is ever lost; decimal columns carry no declared type
 * (no affinity) so SQLite stores exactly what was bound. */
#include "sink/sink.h"
#include "core/fsx.h"
#include "core/log.h"
#include "core/mem.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

enum { MODE_APPEND, MODE_UPSERT, MODE_REPLACE };

struct part_set {            /* open-addressing set of partition keys */
  char  **keys;
  size_t  cap, n;
};

struct sqlite_sink {
  cairn_sink    base;        /* first */
  sqlite3      *db;
  sqlite3_stmt *insert;
  sqlite3_stmt *max_seq;
  sqlite3_stmt *mark;
  sqlite3_stmt *part_delete;
  sqlite3_stmt *part_mark;
  sqlite3_stmt *part_seen;
  int           mode;
  char          window[16];  /* window whose partitions are in 'parts' */
  struct part_set parts;
  char         *path;
};

/* ---- partition key set ------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static void set_clear(struct part_set *ps)
{
  for (size_t i = 0; i < ps->cap; i++)
    free(ps->keys[i]);
  free(ps->keys);
  memset(ps, 0, sizeof *ps);
}

static int set_has(const struct part_set *ps, const char *k)
{
  if (!ps->cap)
    return 0;
  for (size_t i = hash_str(k) & (ps->cap - 1); ps->keys[i];
       i = (i + 1) & (ps->cap - 1))
    if (strcmp(ps->keys[i], k) == 0)
      return 1;
  return 0;
}

static void set_add(struct part_set *ps, const char *k)
{
  size_t i;
  if ((ps->n + 1) * 2 > ps->cap) {
    struct part_set big = { NULL, ps->cap ? ps->cap * 2 : 64, 0 };
    big.keys = cairn_xcalloc(big.cap, sizeof *big.keys);
    for (size_t j = 0; j < ps->cap; j++)
      if (ps->keys[j]) {
        for (i = hash_str(ps->keys[j]) & (big.cap - 1); big.keys[i];
             i = (i + 1) & (big.cap - 1))
          ;
        big.keys[i] = ps->keys[j];
        big.n++;
      }
    free(ps->keys);
    *ps = big;
  }
  for (i = hash_str(k) & (ps->cap - 1); ps->keys[i]; i = (i + 1) & (ps->cap - 1))
    if (strcmp(ps->keys[i], k) == 0)
      return;
  ps->keys[i] = cairn_xstrdup(k);
  ps->n++;
}

/* ---- helpers ----------------------------------------------------------- */

static int fail(struct sqlite_sink *s, cairn_err *err, int rc, const char *what)
{
  return CAIRN_RAISE(err, CAIRN_ESINK, rc, "%s: %s %s: %s",
                     s->base.ctx->sink_name, s->path, what,
                     sqlite3_errmsg(s->db));
}

static int exec(struct sqlite_sink *s, const char *sql, cairn_err *err)
{
  int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? CAIRN_OK : fail(s, err, rc, sql);
}

static int prep(struct sqlite_sink *s, const char *sql, sqlite3_stmt **st,
                cairn_err *err)
{
  int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
  return rc == SQLITE_OK ? CAIRN_OK : fail(s, err, rc, "prepare");
}

static void put_ident(struct cairn_buf *b, const char *name)
{
  cairn_buf_putc(b, '"');
  for (; *name; name++) {
    if (*name == '"')
      cairn_buf_putc(b, '"');
    cairn_buf_putc(b, *name);
  }
  cairn_buf_putc(b, '"');
}

static const char *column_type(int ftype)
{
  switch (ftype) {
  case CAIRN_F_INTEGER:
  case CAIRN_F_BOOLEAN:
    return " INTEGER";
  case CAIRN_F_NUMBER:
    return ""; /* no affinity: REAL, INTEGER or exact TEXT as bound */
  default:
    return " TEXT";
  }
}

static int parse_mode(const char *m)
{
  if (!m || strcmp(m, "append") == 0)
    return MODE_APPEND;
  if (strcmp(m, "upsert") == 0)
    return MODE_UPSERT;
  if (strcmp(m, "replace_partition") == 0)
    return MODE_REPLACE;
  return -1;
}

static int sqlite_check(const json_t *cfg, const char **ptr_out, cairn_err *err)
{
  const char *mode = json_string_value(json_object_get(cfg, "mode"));
  if (mode && parse_mode(mode) < 0) {
    *ptr_out = "/mode";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                       "\"%s\" is not one of append, upsert, replace_partition",
                       mode);
  }
  return CAIRN_OK;
}

/* CREATE TABLE, indexes and the insert statement from the contract. */
static int build_schema(struct sqlite_sink *s, cairn_err *err)
{
  const struct cairn_contract *c = s->base.ctx->contract;
  struct cairn_buf b = {0};
  int rc;

  cairn_buf_puts(&b, "CREATE TABLE IF NOT EXISTS ");
  put_ident(&b, c->name);
  cairn_buf_putc(&b, '(');
  for (size_t i = 0; i < c->n_fields; i++) {
    if (i)
      cairn_buf_puts(&b, ", ");
    put_ident(&b, c->fields[i].name);
    cairn_buf_puts(&b, column_type(c->fields[i].type));
    if (c->fields[i].required)
      cairn_buf_puts(&b, " NOT NULL");
  }
  cairn_buf_puts(&b, ");"
      "CREATE TABLE IF NOT EXISTS _cairn_chunks(job TEXT NOT NULL,"
      " window TEXT NOT NULL, seq INTEGER NOT NULL, rows INTEGER NOT NULL,"
      " contract TEXT NOT NULL, PRIMARY KEY(job, window, seq)) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS _cairn_partitions(job TEXT NOT NULL,"
      " window TEXT NOT NULL, part TEXT NOT NULL,"
      " PRIMARY KEY(job, window, part)) WITHOUT ROWID;");
  if (s->mode == MODE_UPSERT || s->mode == MODE_REPLACE) {
    size_t n = s->mode == MODE_UPSERT ? c->n_key : c->n_partition;
    const size_t *cols = s->mode == MODE_UPSERT ? c->key : c->partition;
    if (n == 0) {
      rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s: contract %s has no %s",
                       s->base.ctx->sink_name, c->name,
                       s->mode == MODE_UPSERT ? "x-cairn-key"
                                              : "x-cairn-partition");
      goto done;
    }
    cairn_buf_printf(&b, "CREATE %sINDEX IF NOT EXISTS ",
                     s->mode == MODE_UPSERT ? "UNIQUE " : "");
    {
      char *iname = cairn_strfmt("%s_%s", c->name,
                                 s->mode == MODE_UPSERT ? "key" : "part");
      put_ident(&b, iname);
      free(iname);
    }
    cairn_buf_puts(&b, " ON ");
    put_ident(&b, c->name);
    cairn_buf_putc(&b, '(');
    for (size_t i = 0; i < n; i++) {
      if (i)
        cairn_buf_puts(&b, ", ");
      put_ident(&b, c->fields[cols[i]].name);
    }
    cairn_buf_puts(&b, ");");
  }
  rc = exec(s, b.data, err);
  if (rc < 0)
    goto done;

  /* The insert. */
  cairn_buf_reset(&b);
  cairn_buf_puts(&b, "INSERT INTO ");
  put_ident(&b, c->name);
  cairn_buf_puts(&b, " VALUES(");
  for (size_t i = 0; i < c->n_fields; i++)
    cairn_buf_puts(&b, i ? ", ?" : "?");
  cairn_buf_putc(&b, ')');
  if (s->mode == MODE_UPSERT) {
    int first = 1;
    cairn_buf_puts(&b, " ON CONFLICT(");
    for (size_t i = 0; i < c->n_key; i++) {
      if (i)
        cairn_buf_puts(&b, ", ");
      put_ident(&b, c->fields[c->key[i]].name);
    }
    cairn_buf_puts(&b, ") DO UPDATE SET ");
    for (size_t i = 0; i < c->n_fields; i++) {
      int is_key = 0;
      for (size_t k = 0; k < c->n_key; k++)
        is_key |= c->key[k] == i;
      if (is_key)
        continue;
      if (!first)
        cairn_buf_puts(&b, ", ");
      first = 0;
      put_ident(&b, c->fields[i].name);
      cairn_buf_puts(&b, "=excluded.");
      put_ident(&b, c->fields[i].name);
    }
    if (first) /* every column is a key column */
      cairn_buf_puts(&b, "rowid=rowid");
  }
  rc = prep(s, b.data, &s->insert, err);
  if (rc < 0)
    goto done;

  if (s->mode == MODE_REPLACE) {
    cairn_buf_reset(&b);
    cairn_buf_puts(&b, "DELETE FROM ");
    put_ident(&b, c->name);
    cairn_buf_puts(&b, " WHERE ");
    for (size_t i = 0; i < c->n_partition; i++) {
      if (i)
        cairn_buf_puts(&b, " AND ");
      put_ident(&b, c->fields[c->partition[i]].name);
      cairn_buf_puts(&b, " IS ?");
    }
    rc = prep(s, b.data, &s->part_delete, err);
    if (rc < 0)
      goto done;
  }
  rc = prep(s, "SELECT coalesce(max(seq), 0) FROM _cairn_chunks WHERE"
               " job=? AND window=?", &s->max_seq, err);
  if (rc == CAIRN_OK)
    rc = prep(s, "INSERT INTO _cairn_chunks(job, window, seq, rows, contract)"
                 " VALUES(?, ?, ?, ?, ?)", &s->mark, err);
  if (rc == CAIRN_OK)
    rc = prep(s, "INSERT OR IGNORE INTO _cairn_partitions(job, window, part)"
                 " VALUES(?, ?, ?)", &s->part_mark, err);
  if (rc == CAIRN_OK)
    rc = prep(s, "SELECT part FROM _cairn_partitions WHERE job=? AND"
                 " window=?", &s->part_seen, err);
done:
  cairn_buf_free(&b);
  return rc;
}

static int sqlite_open(cairn_sink *base, const struct cairn_sink_ctx *ctx,
                       cairn_err *err)
{
  struct sqlite_sink *s = (struct sqlite_sink *)base;
  const json_t *cfg = ctx->cfg;
  const char *rel = json_string_value(json_object_get(cfg, "path"));
  json_int_t page = json_integer_value(json_object_get(cfg, "page_size"));
  char *dir = NULL, *sql;
  const char *slash;
  int rc;

  s->mode = parse_mode(json_string_value(json_object_get(cfg, "mode")));
  if (s->mode < 0)
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s: bad mode", ctx->sink_name);
  s->path = cairn_path_join(ctx->out_dir, rel ? rel : "warehouse.db");
  slash = strrchr(s->path, '/');
  if (slash) {
    dir = cairn_xstrndup(s->path, (size_t)(slash - s->path));
    rc = cairn_fs_mkdirs(dir, err);
    free(dir);
    if (rc < 0)
      return rc;
  }
  /* Used by one thread at a time (the loader): no connection mutex. */
  if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE |
                      SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL)
      != SQLITE_OK)
    return fail(s, err, 0, "open");
  sqlite3_busy_timeout(s->db, 10000);
  sql = cairn_strfmt("PRAGMA page_size=%lld; PRAGMA journal_mode=WAL;"
                     " PRAGMA synchronous=NORMAL; PRAGMA cache_size=-16384;"
                     " PRAGMA wal_autocheckpoint=4000;",
                     (long long)(page > 0 ? page : 65536));
  rc = exec(s, sql, err);
  free(sql);
  if (rc < 0)
    return rc;
  return build_schema(s, err);
}

static int sqlite_durable_seq(cairn_sink *base, const struct cairn_window *w,
                              long *seq_out, cairn_err *err)
{
  struct sqlite_sink *s = (struct sqlite_sink *)base;
  int rc;

  sqlite3_reset(s->max_seq);
  sqlite3_bind_text(s->max_seq, 1, base->ctx->job, -1, SQLITE_STATIC);
  sqlite3_bind_text(s->max_seq, 2, w->key, -1, SQLITE_STATIC);
  rc = sqlite3_step(s->max_seq);
  if (rc != SQLITE_ROW)
    return fail(s, err, rc, "read durable seq");
  *seq_out = (long)sqlite3_column_int64(s->max_seq, 0);
  sqlite3_reset(s->max_seq);
  return CAIRN_OK;
}

/* How a decimal (JSON number grammar, exact text) is bound. One pass over
 * the text finds the significant digits and the decimal exponent:
 *   integral and at most 18 digits      -> INTEGER;
 *   at most 15 significant digits       -> REAL (SQLite prints it back
 *                                          exactly); computed here as
 *                                          mantissa * / 10^k, correctly
 *                                          rounded when both are exact
 *                                          doubles (Clinger's fast path),
 *                                          else by strtod;
 *   longer                              -> TEXT, so no digit is lost. */
enum { NUM_INT, NUM_REAL, NUM_TEXT };

static int classify_decimal(const char *p, size_t n, int64_t *ival,
                            double *dval)
{
  static const double pow10[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
  };
  uint64_t mant = 0;
  int digits = 0, frac_digits = 0, in_frac = 0, neg = 0, exp10 = 0;
  size_t i = 0;

  if (i < n && (p[i] == '-' || p[i] == '+'))
    neg = p[i++] == '-';
  for (; i < n; i++) {
    char c = p[i];
    if (c == '.') {
      in_frac = 1;
      continue;
    }
    if (c == 'e' || c == 'E') {
      exp10 = (int)strtol(p + i + 1, NULL, 10);
      break;
    }
    if (c < '0' || c > '9')
      return NUM_TEXT;
    if (in_frac)
      frac_digits++;
    if (digits == 0 && c == '0')
      continue; /* leading zeros are not significant */
    if (digits < 19)
      mant = mant * 10 + (uint64_t)(c - '0');
    digits++;
  }
  if (!in_frac && exp10 == 0 && digits <= 18) {
    *ival = neg ? -(int64_t)mant : (int64_t)mant;
    return NUM_INT;
  }
  if (digits > 15)
    return NUM_TEXT;
  exp10 -= frac_digits;
  if (exp10 >= -22 && exp10 <= 22) {
    double d = (double)mant; /* exact: < 10^15 < 2^53 */
    d = exp10 < 0 ? d / pow10[-exp10] : d * pow10[exp10];
    *dval = neg ? -d : d;
  } else {
    *dval = strtod(p, NULL);
  }
  return NUM_REAL;
}

static void bind_value(sqlite3_stmt *st, int i, const struct cairn_value *v)
{
  switch (v->type) {
  case CAIRN_V_STR:
  case CAIRN_V_JSON:
    sqlite3_bind_text(st, i, v->s, (int)v->len, SQLITE_STATIC);
    break;
  case CAIRN_V_NUM: {
    int64_t iv = 0;
    double dv = 0;
    switch (classify_decimal(v->s, v->len, &iv, &dv)) {
    case NUM_INT:
      sqlite3_bind_int64(st, i, iv);
      break;
    case NUM_REAL:
      sqlite3_bind_double(st, i, dv);
      break;
    default:
      sqlite3_bind_text(st, i, v->s, (int)v->len, SQLITE_STATIC);
    }
    break;
  }
  case CAIRN_V_INT:
  case CAIRN_V_BOOL:
    sqlite3_bind_int64(st, i, v->i);
    break;
  default:
    sqlite3_bind_null(st, i);
  }
}

/* The partition key of a row as one string (values joined by 0x1f). */
static void part_key(const struct cairn_contract *c,
                     const struct cairn_value *row, struct cairn_buf *out)
{
  cairn_buf_reset(out);
  for (size_t k = 0; k < c->n_partition; k++) {
    const struct cairn_value *v = &row[c->partition[k]];
    if (k)
      cairn_buf_putc(out, '\x1f');
    if (v->type == CAIRN_V_NULL)
      cairn_buf_puts(out, "\x1e");
    else if (v->type == CAIRN_V_INT || v->type == CAIRN_V_BOOL)
      cairn_buf_printf(out, "%lld", (long long)v->i);
    else
      cairn_buf_append(out, v->s, v->len);
  }
}

static int same_value(const struct cairn_value *a, const struct cairn_value *b)
{
  if (a->type != b->type)
    return 0;
  if (a->type == CAIRN_V_INT || a->type == CAIRN_V_BOOL)
    return a->i == b->i;
  if (a->type == CAIRN_V_NULL)
    return 1;
  return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

static int same_partition(const struct cairn_contract *c,
                          const struct cairn_value *a,
                          const struct cairn_value *b)
{
  for (size_t k = 0; k < c->n_partition; k++)
    if (!same_value(&a[c->partition[k]], &b[c->partition[k]]))
      return 0;
  return 1;
}

static int load_seen_parts(struct sqlite_sink *s, const struct cairn_window *w,
                           cairn_err *err)
{
  int rc;
  if (strcmp(s->window, w->key) == 0)
    return CAIRN_OK;
  set_clear(&s->parts);
  snprintf(s->window, sizeof s->window, "%s", w->key);
  sqlite3_reset(s->part_seen);
  sqlite3_bind_text(s->part_seen, 1, s->base.ctx->job, -1, SQLITE_STATIC);
  sqlite3_bind_text(s->part_seen, 2, w->key, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(s->part_seen)) == SQLITE_ROW)
    set_add(&s->parts, (const char *)sqlite3_column_text(s->part_seen, 0));
  sqlite3_reset(s->part_seen);
  return rc == SQLITE_DONE ? CAIRN_OK : fail(s, err, rc, "read partitions");
}

/* Delete the old rows of every partition this window meets for the first
 * time in batch b, remembering them in _cairn_partitions. Inside the
 * chunk's transaction. */
static int replace_partitions(struct sqlite_sink *s,
                              const struct cairn_window *w,
                              const struct cairn_batch *b,
                              struct part_set *fresh, cairn_err *err)
{
  const struct cairn_contract *c = s->base.ctx->contract;
  struct cairn_buf key = {0};
  int rc = CAIRN_OK;

  const struct cairn_value *prev = NULL;

  for (size_t r = 0; r < b->n_rows && rc == CAIRN_OK; r++) {
    const struct cairn_value *row = b->vals + r * b->n_fields;
    /* Exports come sorted or clustered: most rows share the previous
     * row's partition, which is then known to be handled. */
    if (prev && same_partition(c, prev, row))
      continue;
    prev = row;
    part_key(c, row, &key);
    if (set_has(&s->parts, key.data) || set_has(fresh, key.data))
      continue;
    set_add(fresh, key.data);
    sqlite3_reset(s->part_delete);
    for (size_t k = 0; k < c->n_partition; k++)
      bind_value(s->part_delete, (int)k + 1, &row[c->partition[k]]);
    if (sqlite3_step(s->part_delete) != SQLITE_DONE) {
      rc = fail(s, err, 0, "delete partition");
      break;
    }
    sqlite3_reset(s->part_mark);
    sqlite3_bind_text(s->part_mark, 1, s->base.ctx->job, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->part_mark, 2, w->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->part_mark, 3, key.data, (int)key.len,
                      SQLITE_TRANSIENT);
    if (sqlite3_step(s->part_mark) != SQLITE_DONE)
      rc = fail(s, err, 0, "mark partition");
  }
  sqlite3_reset(s->part_delete);
  sqlite3_reset(s->part_mark);
  cairn_buf_free(&key);
  return rc;
}

static int sqlite_load(cairn_sink *base, const struct cairn_window *w, long seq,
                       const struct cairn_batch *b, cairn_err *err)
{
  struct sqlite_sink *s = (struct sqlite_sink *)base;
  const struct cairn_contract *c = base->ctx->contract;
  struct part_set fresh = {0};
  int rc;

  if (s->mode == MODE_REPLACE) {
    rc = load_seen_parts(s, w, err);
    if (rc < 0)
      return rc;
  }
  rc = exec(s, "BEGIN IMMEDIATE", err);
  if (rc < 0)
    return rc;
  if (s->mode == MODE_REPLACE) {
    rc = replace_partitions(s, w, b, &fresh, err);
    if (rc < 0)
      goto fail;
  }
  for (size_t r = 0; r < b->n_rows; r++) {
    const struct cairn_value *row = b->vals + r * b->n_fields;
    for (size_t f = 0; f < c->n_fields; f++)
      bind_value(s->insert, (int)f + 1, &row[f]);
    if (sqlite3_step(s->insert) != SQLITE_DONE) {
      rc = fail(s, err, 0, "insert");
      sqlite3_reset(s->insert);
      goto fail;
    }
    sqlite3_reset(s->insert);
  }
  sqlite3_clear_bindings(s->insert);
  sqlite3_reset(s->mark);
  sqlite3_bind_text(s->mark, 1, base->ctx->job, -1, SQLITE_STATIC);
  sqlite3_bind_text(s->mark, 2, w->key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s->mark, 3, seq);
  sqlite3_bind_int64(s->mark, 4, (sqlite3_int64)b->n_rows);
  sqlite3_bind_text(s->mark, 5, c->version ? c->version : "", -1,
                    SQLITE_STATIC);
  if (sqlite3_step(s->mark) != SQLITE_DONE) {
    rc = fail(s, err, 0, "record seq (already loaded?)");
    goto fail;
  }
  rc = exec(s, "COMMIT", err);
  if (rc < 0)
    goto fail;
  for (size_t i = 0; i < fresh.cap; i++)
    if (fresh.keys[i])
      set_add(&s->parts, fresh.keys[i]);
  set_clear(&fresh);
  return CAIRN_OK;
fail:
  sqlite3_reset(s->mark);
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  set_clear(&fresh);
  return rc;
}

/* The durability barrier of a window. Chunks commit with
 * synchronous=NORMAL: a commit survives the process being killed (the WAL
 * is written before COMMIT returns) but not necessarily a power loss. That
 * is safe while the window is open -- the runner resumes from the smallest
 * durable seq of the state and the sinks, and the spool still holds the
 * pages -- so only before the window is marked loaded (and its spool
 * dropped) must everything be on disk: a full checkpoint syncs the WAL and
 * the database file. */
static int sqlite_finish(cairn_sink *base, const struct cairn_window *w,
                         long n_seq, const char *logical_time, cairn_err *err)
{
  struct sqlite_sink *s = (struct sqlite_sink *)base;
  int rc;
  (void)w;
  (void)n_seq;
  (void)logical_time;
  rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                 NULL, NULL);
  return rc == SQLITE_OK ? CAIRN_OK : fail(s, err, rc, "checkpoint");
}

static int sqlite_reset_window(cairn_sink *base, const struct cairn_window *w,
                               cairn_err *err)
{
  struct sqlite_sink *s = (struct sqlite_sink *)base;
  char *sql;
  int rc;
  char *job = sqlite3_mprintf("%Q", base->ctx->job);
  char *win = sqlite3_mprintf("%Q", w->key);

  sql = cairn_strfmt("BEGIN IMMEDIATE;"
                     "DELETE FROM _cairn_chunks WHERE job=%s AND window=%s;"
                     "DELETE FROM _cairn_partitions WHERE job=%s AND window=%s;"
                     "COMMIT;", job, win, job, win);
  rc = exec(s, sql, err);
  if (rc < 0)
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  if (strcmp(s->window, w->key) == 0) {
    set_clear(&s->parts);
    s->window[0] = '\0';
  }
  free(sql);
  sqlite3_free(job);
  sqlite3_free(win);
  return rc;
}

static void sqlite_close(cairn_sink *base)
{
  struct sqlite_sink *s = (struct sqlite_sink *)base;
  sqlite3_finalize(s->insert);
  sqlite3_finalize(s->max_seq);
  sqlite3_finalize(s->mark);
  sqlite3_finalize(s->part_delete);
  sqlite3_finalize(s->part_mark);
  sqlite3_finalize(s->part_seen);
  if (s->db)
    sqlite3_close(s->db);
  set_clear(&s->parts);
  free(s->path);
}

static int sqlite_outputs(cairn_sink *base, const struct cairn_window *w,
                          json_t *out, cairn_err *err)
{
  struct sqlite_sink *s = (struct sqlite_sink *)base;
  long seq = 0;
  int rc = sqlite_durable_seq(base, w, &seq, err);
  json_object_set_new(out, "db", json_string(s->path));
  json_object_set_new(out, "table", json_string(base->ctx->contract->name));
  json_object_set_new(out, "chunks", json_integer(seq));
  return rc;
}

const cairn_sink_ops cairn_sink_sqlite_ops = {
  CAIRN_SINK_ABI, "sqlite", sizeof(struct sqlite_sink),
  sqlite_check, sqlite_open, sqlite_durable_seq, sqlite_load, sqlite_finish,
  sqlite_reset_window, sqlite_close, sqlite_outputs,
};
