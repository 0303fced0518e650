/* SPDX-License-Identifier: MIT */
/* sink_sqlite.c -- the warehouse: one SQLite table per contract.
 *
 * The table is generated from the contract (columns verbatim, NOT NULL
 * from "required", a rowid table); fields a later contract version adds
 * become nullable columns of an existing table (upgrade_tables). Each
 * chunk is loaded in one transaction together with its row in
 * _cairn_chunks(job, window, seq), which is how the sink knows its
 * durable position. Write modes:
 *   append             plain INSERT;
 *   upsert             INSERT ... ON CONFLICT(key) DO UPDATE (unique index
 *                      on the contract key);
 *   replace_partition  the first time a window meets a partition value (the
 *                      contract's x-cairn-partition columns; a date-time
 *                      one by its day or month, see part_rule) its old
 *                      rows are deleted, found through _cairn_zones (see
 *                      "partitions and their zones"); _cairn_partitions
 *                      remembers which values this window already
 *                      replaced, in the same transaction.
 * Rows go in 32 per statement. Durability: see sqlite_finish (NORMAL per
 * chunk, checkpoints on a background thread, a full checkpoint per
 * window). Decimals: bound as INTEGER when written without a point or an
 * exponent (up to 18 significant digits), otherwise as REAL (the
 * double nearest the decimal; SQLite prints one of at most 15 significant
 * digits back exactly), so a money column holds numbers only and compares,
 * sorts and sums as numbers; only a value no double can hold (1e400, a
 * subnormal) is kept as TEXT. Decimal columns carry no declared type (no
 * affinity) so SQLite stores exactly what was bound. See classify_decimal. */
#include "sink/sink.h"
#include "core/clock.h"
#include "core/codec.h"
#include "core/cpu.h"
#include "core/fsx.h"
#include "core/sqlx.h"
#include "core/log.h"
#include "core/mem.h"

#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum { MODE_APPEND, MODE_UPSERT, MODE_REPLACE };
enum { INSERT_ROWS = 32 };
/* How long a statement waits for another connection's lock; the window's
 * final checkpoint waits less (see sqlite_finish). */
enum { BUSY_MS = 10000, FINISH_BUSY_MS = 1000 };

/* A set of partition keys; in a chunk's set each key also has the first
 * and last row index (then rowid) where the chunk holds that partition.
 * Entries stay at their index (ents[]); the hash table holds indexes. */
struct part_ent {
  char   *key;               /* owned */
  int64_t lo, hi;
  int64_t claim;             /* the window's claim of it (see "loads of
                                one partition at once"); 0: none known */
  int     fresh;             /* first met by this window in this chunk */
  int     warned;            /* a later load's claim was logged */
};

struct part_set {
  struct part_ent *ents;     /* n used, in insertion order */
  size_t           n, cap;
  uint32_t        *slots;    /* index + 1, 0 = empty; nslots a power of 2 */
  size_t           nslots;
};

struct sqlite_sink {
  cairn_sink    base;        /* first */
  sqlite3      *db;
  sqlite3_stmt *insert;      /* one row */
  sqlite3_stmt *insert_many; /* 'many' rows, NULL if many == 1 */
  size_t        many;
  sqlite3_stmt *max_seq;
  sqlite3_stmt *mark;
  sqlite3_stmt *part_delete;
  sqlite3_stmt *part_mark;   /* claim a partition, returning the claim */
  sqlite3_stmt *part_seen;
  sqlite3_stmt *part_later;  /* claims of a partition after one */
  sqlite3_stmt *zone_take;   /* delete a value's zones, returning them */
  sqlite3_stmt *zone_list;   /* a value's zones, kept: only some of its
                                days are replaced (the window's span) */
  sqlite3_stmt *zone_add;
  sqlite3_stmt *zone_forget; /* drop a table's zones */
  sqlite3_stmt *zone_current; /* whether the zones still match the rows */
  sqlite3_stmt *zone_mark;   /* record what they match (_cairn_zone_marks) */
  sqlite3_stmt *zone_stale;  /* append/upsert: they may no longer match */
  int           mode;
  char          window[16];  /* window whose partitions are in 'parts' */
  struct part_set parts;     /* partitions this window already replaced */
  const struct part_set *deleting; /* read by cairn_part_fresh() */
  struct cairn_buf fn_key;   /* cairn_part_fresh()'s scratch */
  unsigned char part_cut[64]; /* the table's partition rule (part_rule):
                               cairn_contract_part_cut for each field */
  long          span_k;      /* the partition field taken by its day or
                                month (the first), that a window's span
                                limits; -1: none */
  char         *path;
  struct ckpt  *ckpt;        /* background checkpointer, NULL if none */
};

/* ---- partition key set ------------------------------------------------- */

/* FNV-1a: h folded with n bytes at p. Start from FNV_BASIS. */
#define FNV_BASIS 14695981039346656037ull
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ c[i]) * 1099511628211ull;
  return h;
}

static uint64_t hash_str(const char *s)
{
  return fnv(FNV_BASIS, s, strlen(s));
}

static void set_clear(struct part_set *ps)
{
  for (size_t i = 0; i < ps->n; i++)
    free(ps->ents[i].key);
  free(ps->ents);
  free(ps->slots);
  memset(ps, 0, sizeof *ps);
}

/* Index of k in ps, or -1. */
static long set_find(const struct part_set *ps, const char *k)
{
  if (!ps->nslots)
    return -1;
  for (size_t i = hash_str(k) & (ps->nslots - 1); ps->slots[i];
       i = (i + 1) & (ps->nslots - 1))
    if (strcmp(ps->ents[ps->slots[i] - 1].key, k) == 0)
      return (long)ps->slots[i] - 1;
  return -1;
}

static void set_slot(struct part_set *ps, size_t idx)
{
  size_t i = hash_str(ps->ents[idx].key) & (ps->nslots - 1);
  while (ps->slots[i])
    i = (i + 1) & (ps->nslots - 1);
  ps->slots[i] = (uint32_t)idx + 1;
}

/* The index of k, added (lo = hi = -1, not fresh) if it was not there. */
static size_t set_add(struct part_set *ps, const char *k)
{
  long found = set_find(ps, k);
  if (found >= 0)
    return (size_t)found;
  if (ps->n == ps->cap) {
    ps->cap = ps->cap ? ps->cap * 2 : 32;
    ps->ents = cairn_xrealloc(ps->ents, ps->cap * sizeof *ps->ents);
  }
  ps->ents[ps->n] = (struct part_ent){ .key = cairn_xstrdup(k), .lo = -1,
                                       .hi = -1 };
  ps->n++;
  if (ps->n * 2 > ps->nslots) {
    free(ps->slots);
    ps->nslots = ps->nslots ? ps->nslots * 2 : 64;
    ps->slots = cairn_xcalloc(ps->nslots, sizeof *ps->slots);
    for (size_t j = 0; j < ps->n; j++)
      set_slot(ps, j);
  } else {
    set_slot(ps, ps->n - 1);
  }
  return ps->n - 1;
}

/* ---- helpers ----------------------------------------------------------- */

/* "what" is a step ("insert") or the SQL that failed, cut so that the
 * reason, said before it, is never what the message's bound cuts off. */
static int fail(struct sqlite_sink *s, cairn_err *err, int rc, const char *what)
{
  return CAIRN_RAISE(err, CAIRN_ESINK, rc, "%s: %s: %s (%.80s%s)",
                     s->base.ctx->sink_name, s->path,
                     cairn_sqlite_why_at(s->db, s->path), what,
                     strlen(what) > 80 ? "..." : "");
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

/* Step a statement that returns no row, then reset it. */
static int run_stmt(struct sqlite_sink *s, sqlite3_stmt *st, const char *what,
                    cairn_err *err)
{
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? CAIRN_OK : fail(s, err, rc, what);
}

/* Run a query of at most one row whose first column is an integer, with
 * tbl bound to its one parameter (NULL: it has none): 1 with *out set when
 * it returns a row, 0 when it returns none, CAIRN_ESINK when the read
 * fails (a corrupt page, an I/O error: never taken for "no row"). */
static int query_int(struct sqlite_sink *s, const char *sql, const char *tbl,
                     int64_t *out, cairn_err *err)
{
  sqlite3_stmt *st = NULL;
  int rc = prep(s, sql, &st, err);
  if (rc < 0)
    return rc;
  if (tbl)
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *out = sqlite3_column_int64(st, 0);
  rc = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : fail(s, err, rc, sql);
  sqlite3_finalize(st);
  return rc;
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

/* How much of partition field k's text is its partition value under the
 * table's rule cut (see part_rule): the first cut[k] bytes of a date-time
 * (its day or month, so an hourly export replaces whole days, as a daily
 * one does), or all of it when cut[k] is 0. */
static size_t part_len(const unsigned char *cut, size_t k, size_t len)
{
  return cut[k] && len > cut[k] ? cut[k] : len;
}

/* Partition field k as SQL: the column, or its day or month (part_len). */
static void put_part_col(struct cairn_buf *b, const struct cairn_contract *c,
                         const unsigned char *cut, size_t k)
{
  if (cut[k])
    cairn_buf_puts(b, "substr(");
  put_ident(b, c->fields[c->partition[k]].name);
  if (cut[k])
    cairn_buf_printf(b, ", 1, %u)", cut[k]);
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

/* What mode needs of contract c that c lacks ("x-cairn-key" for upsert,
 * "x-cairn-partition" for replace_partition), or NULL when c serves it. */
static const char *mode_lacks(int mode, const struct cairn_contract *c)
{
  if (mode == MODE_REPLACE && c->n_partition == 0)
    return "x-cairn-partition";
  if (mode == MODE_UPSERT && c->n_key == 0)
    return "x-cairn-key";
  return NULL;
}

static int sqlite_check(const json_t *cfg, const struct cairn_contract *c,
                        const char **ptr_out, cairn_err *err)
{
  const char *mode = json_string_value(json_object_get(cfg, "mode"));
  const char *lacks;
  if (mode && parse_mode(mode) < 0) {
    *ptr_out = "/mode";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                       "\"%s\" is not one of append, upsert, replace_partition",
                       mode);
  }
  lacks = c ? mode_lacks(parse_mode(mode), c) : NULL;
  if (lacks) {
    *ptr_out = "/mode";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "mode %s needs %s in the "
                       "contract, and contract %s has none", mode, lacks,
                       c->name);
  }
  return CAIRN_OK;
}

/* INSERT of n rows, with the upsert clause in that mode. OR FAIL: a row
 * that breaks a constraint fails the statement without undoing the rows
 * before it, which is all the same to us (the chunk's transaction is then
 * rolled back) and spares SQLite a statement journal per multi-row
 * statement (spilled to temp files, it cost more than the statements
 * saved). */
static void insert_sql(struct sqlite_sink *s, size_t n, struct cairn_buf *b)
{
  const struct cairn_contract *c = s->base.ctx->contract;
  cairn_buf_reset(b);
  cairn_buf_puts(b, "INSERT OR FAIL INTO ");
  put_ident(b, c->name);
  for (size_t i = 0; i < c->n_fields; i++) { /* by name: see upgrade_tables */
    cairn_buf_puts(b, i ? ", " : "(");
    put_ident(b, c->fields[i].name);
  }
  cairn_buf_puts(b, ") VALUES");
  for (size_t r = 0; r < n; r++) {
    cairn_buf_puts(b, r ? ",(" : "(");
    for (size_t i = 0; i < c->n_fields; i++)
      cairn_buf_puts(b, i ? ",?" : "?");
    cairn_buf_putc(b, ')');
  }
  if (s->mode == MODE_UPSERT) {
    int first = 1;
    cairn_buf_puts(b, " ON CONFLICT(");
    for (size_t i = 0; i < c->n_key; i++) {
      if (i)
        cairn_buf_puts(b, ", ");
      put_ident(b, c->fields[c->key[i]].name);
    }
    cairn_buf_puts(b, ") DO UPDATE SET ");
    for (size_t i = 0; i < c->n_fields; i++) {
      int is_key = 0;
      for (size_t k = 0; k < c->n_key; k++)
        is_key |= c->key[k] == i;
      if (is_key)
        continue;
      if (!first)
        cairn_buf_puts(b, ", ");
      first = 0;
      put_ident(b, c->fields[i].name);
      cairn_buf_puts(b, "=excluded.");
      put_ident(b, c->fields[i].name);
    }
    if (first) /* every column is a key column */
      cairn_buf_puts(b, "rowid=rowid");
  }
}

/* A partition rule as text, as _cairn_part_rules keeps it and messages
 * show it: the partition fields in order, a date-time one taken by its day
 * or month as "name:day" or "name:month". */
static void rule_text(const struct cairn_contract *c, const unsigned char *cut,
                      struct cairn_buf *b)
{
  cairn_buf_reset(b);
  cairn_buf_puts(b, "");
  for (size_t k = 0; k < c->n_partition; k++) {
    if (k)
      cairn_buf_putc(b, ',');
    cairn_buf_puts(b, c->fields[c->partition[k]].name);
    if (cut[k])
      cairn_buf_puts(b, cut[k] == CAIRN_PART_MONTH ? ":month" : ":day");
  }
}

/* The cut of each of the contract's partition fields from rule text t
 * (rule_text); -1 when t names other fields. */
static int rule_parse(const struct cairn_contract *c, const char *t,
                      unsigned char *cut)
{
  for (size_t k = 0; k < c->n_partition; k++) {
    const char *name = c->fields[c->partition[k]].name;
    size_t n = strlen(name);
    if ((k && *t++ != ',') || strncmp(t, name, n) != 0)
      return -1;
    t += n;
    cut[k] = 0;
    if (strncmp(t, ":day", 4) == 0 && (t[4] == ',' || !t[4])) {
      cut[k] = CAIRN_PART_DAY;
      t += 4;
    } else if (strncmp(t, ":month", 6) == 0 && (t[6] == ',' || !t[6])) {
      cut[k] = CAIRN_PART_MONTH;
      t += 6;
    }
  }
  return *t ? -1 : 0;
}

/* The table's partition rule (s->part_cut), kept per table in
 * _cairn_part_rules. A table with no rows takes the contract's
 * (cairn_contract_part_cut). A table with rows keeps the rule they were
 * written by, since its zones and every window's replaced partitions are
 * keyed by it, so an upgrade changes nothing in an existing warehouse:
 *   - the rule recorded in spec;
 *   - from before spec: day_fields (bit k: partition field k by day), or,
 *     from before any rule, every value whole;
 *   - unknown when one of its partition fields is a column this open
 *     added (added_part): the rows were partitioned by other fields, and
 *     replace_partition refuses, as it could not find the rows to replace
 *     (docs/jobs.md, "Changing a contract's partition").
 * An unknown rule is recorded as "", so it stays unknown until the table
 * is emptied. */
static int part_rule(struct sqlite_sink *s, int added_part, cairn_err *err)
{
  const struct cairn_contract *c = s->base.ctx->contract;
  struct cairn_buf sql = {0}, want = {0}, have = {0}, kept = {0};
  sqlite3_stmt *st = NULL;
  unsigned char cut[64];
  int64_t v = 0, day_fields = 0;
  int rows, has_rule = 0, recorded = 0, known = 1, rc;

  for (size_t k = 0; k < c->n_partition; k++)
    s->part_cut[k] = cut[k] = (unsigned char)cairn_contract_part_cut(c, k);
  rule_text(c, cut, &want);
  cairn_buf_puts(&sql, "SELECT 1 FROM ");
  put_ident(&sql, c->name);
  cairn_buf_puts(&sql, " LIMIT 1");
  rc = rows = query_int(s, sql.data, NULL, &v, err);
  if (rc < 0)
    goto done;
  rc = prep(s, "SELECT day_fields, spec FROM _cairn_part_rules WHERE tbl=?",
            &st, err);
  if (rc < 0)
    goto done;
  sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    rc = fail(s, err, rc, "read the partition rule");
    goto done;
  }
  if (rc == SQLITE_ROW) {
    has_rule = 1;
    day_fields = sqlite3_column_int64(st, 0);
    if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
      recorded = 1;
      cairn_buf_puts(&have, (const char *)sqlite3_column_text(st, 1));
    }
  }
  sqlite3_finalize(st);
  st = NULL;

  if (rows && recorded)
    known = rule_parse(c, have.data, cut) == 0;
  else if (rows && added_part)
    known = 0;
  else if (rows)
    for (size_t k = 0; k < c->n_partition; k++)
      cut[k] = has_rule && k < 64 && (day_fields >> k & 1) ? CAIRN_PART_DAY
                                                           : 0;
  cairn_buf_puts(&kept, ""); /* an unknown rule is kept as "" */
  if (known) {
    memcpy(s->part_cut, cut, c->n_partition);
    rule_text(c, s->part_cut, &kept);
  }
  if (!recorded || strcmp(have.data, kept.data) != 0) {
    int64_t bits = 0;
    for (size_t k = 0; k < c->n_partition && k < 63 && known; k++)
      if (s->part_cut[k] == CAIRN_PART_DAY)
        bits |= (int64_t)1 << k;
    rc = prep(s, "INSERT OR REPLACE INTO _cairn_part_rules(tbl, day_fields,"
                 " spec) VALUES (?, ?, ?)", &st, err);
    if (rc < 0)
      goto done;
    sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, bits);
    sqlite3_bind_text(st, 3, kept.data, -1, SQLITE_STATIC);
    rc = run_stmt(s, st, "record the partition rule", err);
    if (rc < 0)
      goto done;
    if (!rows) { /* zones of rows deleted by hand, keyed by the old rule */
      sqlite3_bind_text(s->zone_forget, 1, c->name, -1, SQLITE_STATIC);
      rc = run_stmt(s, s->zone_forget, "drop zones", err);
      if (rc < 0)
        goto done;
    }
  }
  rc = CAIRN_OK;
  if (s->mode == MODE_REPLACE && !known) {
    rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s: %s: table %s holds rows "
                     "partitioned by other fields than contract %s %s "
                     "partitions by (%s), so replace_partition could not "
                     "find the rows it replaces; load into a new warehouse, "
                     "or delete the table's rows and load its sources again "
                     "(docs/jobs.md, \"Changing a contract's partition\")",
                     s->base.ctx->sink_name, s->path, c->name, c->name,
                     c->version, want.data);
  } else if (s->mode == MODE_REPLACE && strcmp(kept.data, want.data) != 0) {
    cairn_warn("%s: table %s keeps the partition rule its rows were written "
               "by (%s), not contract %s %s's (%s): see docs/jobs.md, "
               "\"Changing a contract's partition\"", s->base.ctx->sink_name,
               c->name, kept.data, c->name, c->version, want.data);
  }
done:
  sqlite3_finalize(st);
  cairn_buf_free(&sql);
  cairn_buf_free(&want);
  cairn_buf_free(&have);
  cairn_buf_free(&kept);
  return rc;
}

/* Add column name (type decl) to table tbl unless it has one by that
 * name; *added set when it did. Columns are added nullable: SQLite cannot
 * add a NOT NULL column without a default, and the rows already there
 * have no value for it. In a write transaction, so that two jobs opening
 * the same warehouse after an upgrade do not both add it (see
 * cairn_sqlite_add_column). */
static int ensure_column(struct sqlite_sink *s, const char *tbl,
                         const char *name, const char *decl, int *added,
                         cairn_err *err)
{
  int rc = cairn_sqlite_add_column(s->db, tbl, name, decl, BUSY_MS, added);
  char *what;
  if (rc == SQLITE_OK)
    return CAIRN_OK;
  what = cairn_strfmt("add column %s to %s", name, tbl);
  rc = fail(s, err, rc, what);
  free(what);
  if (!sqlite3_get_autocommit(s->db))
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

static const struct { const char *table, *column, *type; } later_cols[] = {
  { "_cairn_part_rules", "spec", " TEXT" },
  { "_cairn_partitions", "tbl", " TEXT" },
  { "_cairn_partitions", "claim", " INTEGER" },
  { "_cairn_partitions", "span_from", " TEXT" },
  { "_cairn_partitions", "span_to", " TEXT" },
};

/* Columns for the contract's fields a table created by an earlier version
 * of the contract lacks, and the later_cols; *added_part set when
 * a partition field's column was added. */
static int upgrade_tables(struct sqlite_sink *s, int *added_part,
                          cairn_err *err)
{
  const struct cairn_contract *c = s->base.ctx->contract;
  int added = 0, rc;

  *added_part = 0;
  for (size_t i = 0; i < c->n_fields; i++) {
    rc = ensure_column(s, c->name, c->fields[i].name,
                       column_type(c->fields[i].type), &added, err);
    if (rc < 0)
      return rc;
    if (added)
      cairn_info("%s: %s: added column %s (contract %s %s)",
                 s->base.ctx->sink_name, c->name, c->fields[i].name, c->name,
                 c->version);
    for (size_t k = 0; k < c->n_partition && added; k++)
      *added_part |= c->partition[k] == i;
  }
  /* Bookkeeping columns added since: _cairn_part_rules.spec, and the
   * claims (see "loads of one partition at once") of a warehouse from
   * before them: its windows' rows have none, so no later load's claim
   * is missed and none of theirs is taken for one. */
  rc = CAIRN_OK;
  for (size_t i = 0; i < sizeof later_cols / sizeof later_cols[0] &&
                     rc == CAIRN_OK; i++)
    rc = ensure_column(s, later_cols[i].table, later_cols[i].column,
                       later_cols[i].type, &added, err);
  if (rc == CAIRN_OK) {
    rc = cairn_sqlite_setup(s->db, "CREATE INDEX IF NOT EXISTS"
                            " _cairn_partitions_claims ON"
                            " _cairn_partitions(tbl, part, claim)", BUSY_MS);
    rc = rc == SQLITE_OK ? CAIRN_OK : fail(s, err, rc, "index the claims");
  }
  return rc;
}

/* Refuse a table of the contract's name that another application made,
 * before anything is written: in a database without _cairn_chunks (made
 * with the table, so every warehouse has it), a table with a column the
 * contract does not have. Adding the contract's columns to it would alter
 * that application's table and mix its rows with the loaded ones. A table
 * cairn made, then stopped before _cairn_chunks, has only the contract's
 * columns. */
static int check_foreign(struct sqlite_sink *s, cairn_err *err)
{
  const struct cairn_contract *c = s->base.ctx->contract;
  struct cairn_buf extra = {0};
  sqlite3_stmt *st = NULL;
  int rc = prep(s, "SELECT name FROM pragma_table_info(?1) WHERE NOT EXISTS"
                   "(SELECT 1 FROM sqlite_master WHERE name='_cairn_chunks')",
                &st, err);
  if (rc < 0)
    return rc;
  sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *col = (const char *)sqlite3_column_text(st, 0);
    size_t i = 0;
    while (i < c->n_fields && strcasecmp(col, c->fields[i].name) != 0)
      i++;
    if (i == c->n_fields)
      cairn_buf_printf(&extra, "%s%s", extra.len ? ", " : "", col);
  }
  if (rc != SQLITE_DONE)
    rc = fail(s, err, rc, "read the schema");
  else if (extra.len)
    rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s: %s: table %s has columns "
                     "contract %s does not (%.120s) and the database was not "
                     "made by cairn (it has no _cairn_chunks table): it is "
                     "another application's; point the sink's \"path\" at a "
                     "file of its own", s->base.ctx->sink_name, s->path,
                     c->name, c->name, extra.data);
  else
    rc = CAIRN_OK;
  sqlite3_finalize(st);
  cairn_buf_free(&extra);
  return rc;
}

static int number_texts(struct sqlite_sink *s, cairn_err *err);
static char *key_index(struct sqlite_sink *s);

/* Whether index name of the contract's table exists (*has) and is on
 * exactly the contract key's columns, in any order (*fits). */
static int key_index_fits(struct sqlite_sink *s, const char *name, int *has,
                          int *fits, struct cairn_buf *cols, cairn_err *err)
{
  const struct cairn_contract *c = s->base.ctx->contract;
  sqlite3_stmt *st = NULL;
  size_t n = 0, matched = 0;
  int rc = prep(s, "SELECT i.name FROM sqlite_master AS m,"
                   " pragma_index_info(m.name) AS i WHERE m.type='index'"
                   " AND m.name=?1 COLLATE NOCASE AND m.tbl_name=?2"
                   " COLLATE NOCASE ORDER BY i.seqno", &st, err);
  *has = *fits = 0;
  cairn_buf_reset(cols);
  if (rc < 0)
    return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, c->name, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *col = (const char *)sqlite3_column_text(st, 0);
    cairn_buf_printf(cols, "%s%s", n++ ? ", " : "", col ? col : "?");
    for (size_t k = 0; col && k < c->n_key; k++)
      matched += strcasecmp(col, c->fields[c->key[k]].name) == 0;
  }
  rc = rc == SQLITE_DONE ? CAIRN_OK : fail(s, err, rc, "read the key index");
  sqlite3_finalize(st);
  *has = n > 0;
  *fits = n == c->n_key && matched == c->n_key;
  return rc;
}

/* upsert's unique index on the contract key (key_index names it). A
 * table made under a contract version with another x-cairn-key has one
 * on that key's columns, and SQLite refused every upsert by the new key
 * ("ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE
 * constraint"): the index moves to the new key, in one write
 * transaction, logged. Rows that share a value of the key (loaded in
 * another mode, or upserted by an older, finer key) leave no unique
 * index to make: refused (exit 2), the old index kept (the rollback). */
static int make_key_index(struct sqlite_sink *s, cairn_err *err)
{
  const struct cairn_contract *c = s->base.ctx->contract;
  struct cairn_buf sql = {0}, cols = {0}, had = {0}, want = {0};
  char *name = key_index(s);
  int has = 0, fits = 0, rc;

  rc = key_index_fits(s, name, &has, &fits, &had, err);
  if (rc < 0 || fits)
    goto done;
  rc = cairn_sqlite_setup(s->db, "BEGIN IMMEDIATE", BUSY_MS);
  if (rc != SQLITE_OK) {
    rc = fail(s, err, rc, "begin");
    goto done;
  }
  /* again in the write transaction: another job may have made it */
  rc = key_index_fits(s, name, &has, &fits, &had, err);
  for (size_t i = 0; i < c->n_key; i++) { /* as SQL, and as said */
    cairn_buf_puts(&cols, i ? ", " : "(");
    put_ident(&cols, c->fields[c->key[i]].name);
    cairn_buf_printf(&want, "%s%s", i ? ", " : "",
                     c->fields[c->key[i]].name);
  }
  cairn_buf_putc(&cols, ')');
  if (rc == CAIRN_OK && !fits) {
    if (has) {
      cairn_buf_puts(&sql, "DROP INDEX ");
      put_ident(&sql, name);
      cairn_buf_puts(&sql, "; ");
    }
    cairn_buf_puts(&sql, "CREATE UNIQUE INDEX ");
    put_ident(&sql, name);
    cairn_buf_puts(&sql, " ON ");
    put_ident(&sql, c->name);
    cairn_buf_append(&sql, cols.data, cols.len);
    rc = sqlite3_exec(s->db, sql.data, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
      rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK && has &&
        sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_UNIQUE)
      rc = CAIRN_RAISE(err, CAIRN_EUSAGE, SQLITE_CONSTRAINT_UNIQUE, "%s: "
                       "%s: %s: table %s was upserted by the key (%s) of an "
                       "earlier version of its contract, and holds rows that "
                       "share a key of contract %s %s (%s), which upsert "
                       "mode needs a unique index on: load into a new "
                       "warehouse, or delete the table's rows and load its "
                       "sources again (docs/jobs.md, \"Columns and the "
                       "partition rule of an existing table\")",
                       s->base.ctx->sink_name, s->path,
                       sqlite3_errmsg(s->db), c->name, had.data, c->name,
                       c->version, want.data);
    else if (rc != SQLITE_OK &&
             sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_UNIQUE)
      /* the key index over rows other modes loaded (see insert_failed) */
      rc = CAIRN_RAISE(err, CAIRN_EUSAGE, SQLITE_CONSTRAINT_UNIQUE, "%s: "
                       "%s: %s: upsert mode needs a unique index on the key "
                       "of table %s, which holds rows with one key in "
                       "several partitions (loaded in replace_partition or "
                       "append mode): give this job a warehouse of its own "
                       "(its sink's \"path\") (docs/operations.md, "
                       "\"Running jobs at once\")", s->base.ctx->sink_name,
                       s->path, sqlite3_errmsg(s->db), c->name);
    else if (rc != SQLITE_OK)
      rc = fail(s, err, rc, sql.data);
    else if (has)
      cairn_info("%s: %s: key index %s moved from (%s) to (%s), the key of "
                 "contract %s %s", s->base.ctx->sink_name, c->name, name,
                 had.data, want.data, c->name, c->version);
  } else if (rc == CAIRN_OK) {
    rc = exec(s, "COMMIT", err);
  }
  if (!sqlite3_get_autocommit(s->db))
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
done:
  free(name);
  cairn_buf_free(&sql);
  cairn_buf_free(&cols);
  cairn_buf_free(&had);
  cairn_buf_free(&want);
  return rc;
}

/* The name of upsert's unique index on the contract key (new string):
 * "<table>_key", unless an index of another table has that name: a table
 * renamed by hand (ALTER TABLE cost_record RENAME TO cost_record_old, to
 * keep its rows beside a new one) keeps its indexes and their names, and
 * CREATE INDEX IF NOT EXISTS of that name then made none on the new
 * table, whose upserts SQLite refused ("ON CONFLICT clause does not
 * match any PRIMARY KEY or UNIQUE constraint") on every run. Then
 * "<table>_key2", "<table>_key3", ...: the first no other table's index
 * has. */
static char *key_index(struct sqlite_sink *s)
{
  const char *tbl = s->base.ctx->contract->name;
  sqlite3_stmt *st = NULL;
  char *name = cairn_strfmt("%s_key", tbl);

  if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM sqlite_master WHERE"
                         " type='index' AND name=?1 COLLATE NOCASE AND"
                         " tbl_name<>?2 COLLATE NOCASE", -1, &st, NULL)
      != SQLITE_OK)
    return name; /* the CREATE INDEX fails as well, and says why */
  for (int n = 2; ; n++) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, tbl, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW)
      break;
    sqlite3_reset(st);
    free(name);
    name = cairn_strfmt("%s_key%d", tbl, n);
  }
  sqlite3_finalize(st);
  return name;
}

/* CREATE TABLE, indexes and the insert statement from the contract. */
static int build_schema(struct sqlite_sink *s, cairn_err *err)
{
  const struct cairn_contract *c = s->base.ctx->contract;
  struct cairn_buf b = {0};
  const char *lacks;
  int added_part = 0, rc;

  s->span_k = -1;
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
      " window TEXT NOT NULL, part TEXT NOT NULL, tbl TEXT, claim INTEGER,"
      " span_from TEXT, span_to TEXT,"
      " PRIMARY KEY(job, window, part)) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS _cairn_zones(tbl TEXT NOT NULL,"
      " part TEXT NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL,"
      " PRIMARY KEY(tbl, part, lo)) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS _cairn_part_rules(tbl TEXT NOT NULL"
      " PRIMARY KEY, day_fields INTEGER NOT NULL, spec TEXT) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS _cairn_zone_marks(tbl TEXT NOT NULL"
      " PRIMARY KEY, max_rowid INTEGER NOT NULL, schema_version INTEGER"
      " NOT NULL) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS _cairn_numbers(tbl TEXT NOT NULL"
      " PRIMARY KEY) WITHOUT ROWID;");
  if (c->n_partition > sizeof s->part_cut) {
    rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s: contract %s has more than "
                     "64 partition fields", s->base.ctx->sink_name, c->name);
    goto done;
  }
  lacks = mode_lacks(s->mode, c);
  if (lacks) {
    rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s: contract %s has no %s",
                     s->base.ctx->sink_name, c->name, lacks);
    goto done;
  }
  rc = cairn_sqlite_setup(s->db, b.data, BUSY_MS);
  rc = rc == SQLITE_OK ? CAIRN_OK : fail(s, err, rc, b.data);
  if (rc == CAIRN_OK)
    rc = upgrade_tables(s, &added_part, err);
  if (rc == CAIRN_OK && s->mode == MODE_UPSERT)
    rc = make_key_index(s, err); /* its columns may be new (upgrade_tables) */
  if (rc == CAIRN_OK)
    rc = number_texts(s, err);
  if (rc == CAIRN_OK)
    rc = prep(s, "DELETE FROM _cairn_zones WHERE tbl=?", &s->zone_forget,
              err);
  if (rc == CAIRN_OK)
    rc = prep(s, "DELETE FROM _cairn_zone_marks WHERE tbl=?", &s->zone_stale,
              err);
  if (rc == CAIRN_OK && c->n_partition)
    rc = part_rule(s, added_part, err);
  if (rc < 0)
    goto done;

  /* The inserts: one row, and INSERT_ROWS rows per statement (fewer
   * statement executions per row: ~10% of the loader's time). */
  s->many = INSERT_ROWS;
  if (s->many * c->n_fields > 999) /* SQLite's historic parameter limit */
    s->many = 999 / c->n_fields;
  if (s->many < 2)
    s->many = 1;
  insert_sql(s, 1, &b);
  rc = prep(s, b.data, &s->insert, err);
  if (rc == CAIRN_OK && s->many > 1) {
    insert_sql(s, s->many, &b);
    rc = prep(s, b.data, &s->insert_many, err);
  }
  if (rc < 0)
    goto done;

  if (c->n_partition) {
    /* Replacing a partition deletes its old rows inside the row ranges its
     * zones name; cairn_part_fresh() tells whether a row's partition is
     * one being replaced. */
    cairn_buf_reset(&b);
    cairn_buf_puts(&b, "DELETE FROM ");
    put_ident(&b, c->name);
    cairn_buf_puts(&b, " WHERE rowid BETWEEN ?1 AND ?2 AND cairn_part_fresh(");
    for (size_t i = 0; i < c->n_partition; i++) {
      if (i)
        cairn_buf_puts(&b, ", ");
      put_part_col(&b, c, s->part_cut, i);
    }
    cairn_buf_putc(&b, ')');
    for (size_t i = 0; i < c->n_partition && s->span_k < 0; i++)
      if (s->part_cut[i])
        s->span_k = (long)i;
    if (s->span_k >= 0) {
      /* The window's span (?3, ?4: days; both NULL when it has none)
       * limits what goes of a partition taken by its date. */
      struct cairn_buf g = {0};
      put_ident(&g, c->fields[c->partition[s->span_k]].name);
      cairn_buf_printf(&b, " AND (?3 IS NULL OR %s IS NULL OR"
                       " substr(%s, 1, 10) >= ?3 AND substr(%s, 1, 10) < ?4)",
                       g.data, g.data, g.data);
      cairn_buf_free(&g);
    }
    rc = prep(s, b.data, &s->part_delete, err);
    if (rc < 0)
      goto done;

    /* What the zones were built against (see "partitions and their
     * zones"): the table's largest rowid and the schema cookie, which
     * VACUUM changes. */
    cairn_buf_reset(&b);
    cairn_buf_puts(&b, "SELECT EXISTS(SELECT 1 FROM _cairn_zone_marks WHERE"
                   " tbl=?1 AND max_rowid=(SELECT coalesce(max(rowid), 0)"
                   " FROM ");
    put_ident(&b, c->name);
    cairn_buf_puts(&b, ") AND schema_version=(SELECT schema_version FROM"
                   " pragma_schema_version)) AND (EXISTS(SELECT 1 FROM"
                   " _cairn_zones WHERE tbl=?1) OR NOT EXISTS(SELECT 1 FROM ");
    put_ident(&b, c->name);
    cairn_buf_puts(&b, "))");
    rc = prep(s, b.data, &s->zone_current, err);
    if (rc < 0)
      goto done;
    cairn_buf_reset(&b);
    cairn_buf_puts(&b, "INSERT OR REPLACE INTO _cairn_zone_marks(tbl,"
                   " max_rowid, schema_version) SELECT ?1, coalesce(max(rowid),"
                   " 0), (SELECT schema_version FROM pragma_schema_version)"
                   " FROM ");
    put_ident(&b, c->name);
    rc = prep(s, b.data, &s->zone_mark, err);
    if (rc < 0)
      goto done;
  }
  /* The window's last chunk, and the first chunk (and how many) loaded
   * under another version of the contract than this run's. */
  rc = prep(s, "SELECT coalesce(max(c.seq), 0), o.seq, o.contract, o.n"
               " FROM _cairn_chunks AS c LEFT JOIN (SELECT min(seq) AS seq,"
               " contract, count(*) AS n FROM _cairn_chunks WHERE job=?1 AND"
               " window=?2 AND contract IS NOT ?3 HAVING n > 0) AS o WHERE"
               " c.job=?1 AND c.window=?2", &s->max_seq, err);
  if (rc == CAIRN_OK)
    rc = prep(s, "INSERT INTO _cairn_chunks(job, window, seq, rows, contract)"
                 " VALUES(?, ?, ?, ?, ?)", &s->mark, err);
  if (rc == CAIRN_OK)
    rc = prep(s, "INSERT OR IGNORE INTO _cairn_partitions(job, window, part,"
                 " tbl, claim, span_from, span_to) VALUES(?1, ?2, ?3, ?4,"
                 " (SELECT coalesce(max(claim), 0) + 1 FROM _cairn_partitions"
                 " WHERE tbl=?4 AND part=?3), ?5, ?6) RETURNING claim",
              &s->part_mark, err);
  if (rc == CAIRN_OK)
    rc = prep(s, "SELECT part, coalesce(claim, 0) FROM _cairn_partitions"
                 " WHERE job=? AND window=?", &s->part_seen, err);
  if (rc == CAIRN_OK)
    rc = prep(s, "SELECT job, window, span_from, span_to FROM"
                 " _cairn_partitions WHERE tbl=?1 AND part=?2 AND claim > ?3"
                 " ORDER BY claim", &s->part_later, err);
  if (rc == CAIRN_OK)
    rc = prep(s, "DELETE FROM _cairn_zones WHERE tbl=? AND part=?"
                 " RETURNING lo, hi", &s->zone_take, err);
  if (rc == CAIRN_OK)
    rc = prep(s, "SELECT lo, hi FROM _cairn_zones WHERE tbl=? AND part=?",
              &s->zone_list, err);
  if (rc == CAIRN_OK)
    rc = prep(s, "INSERT INTO _cairn_zones(tbl, part, lo, hi)"
                 " VALUES(?, ?, ?, ?) ON CONFLICT(tbl, part, lo) DO UPDATE"
                 " SET hi=max(hi, excluded.hi)", &s->zone_add, err);
done:
  cairn_buf_free(&b);
  return rc;
}

/* The highest seq of w the table holds. With refuse_mixed (durable_seq,
 * for a window to resume), chunks of w loaded under another
 * version of the contract (an earlier cairn, before an upgrade, was killed
 * in the window) refuse the resume: finishing the window under this
 * version would leave one window, and the bundle beside it, half in each
 * (a field the new version adds or maps NULL in the old chunks only), with
 * nothing said. --fresh forgets the window (reset_window) and loads it
 * again, all under this version. */
static int window_seq(cairn_sink *base, const struct cairn_window *w,
                      long *seq_out, int refuse_mixed, cairn_err *err)
{
  struct sqlite_sink *s = (struct sqlite_sink *)base;
  const struct cairn_contract *c = base->ctx->contract;
  const char *version = c->version ? c->version : "";
  int rc;

  sqlite3_reset(s->max_seq);
  sqlite3_bind_text(s->max_seq, 1, base->ctx->job, -1, SQLITE_STATIC);
  sqlite3_bind_text(s->max_seq, 2, w->key, -1, SQLITE_STATIC);
  sqlite3_bind_text(s->max_seq, 3, version, -1, SQLITE_STATIC);
  rc = sqlite3_step(s->max_seq);
  if (rc != SQLITE_ROW)
    return fail(s, err, rc, "read durable seq");
  *seq_out = (long)sqlite3_column_int64(s->max_seq, 0);
  rc = CAIRN_OK;
  if (refuse_mixed && sqlite3_column_type(s->max_seq, 1) != SQLITE_NULL) {
    char *where = cairn_strfmt("%s: %s", base->ctx->sink_name, s->path);
    rc = cairn_contract_mixed(err, c, where, w->key,
                              sqlite3_column_int64(s->max_seq, 3), *seq_out,
                              sqlite3_column_int64(s->max_seq, 1),
                              (const char *)sqlite3_column_text(s->max_seq,
                                                                2));
    free(where);
  }
  sqlite3_reset(s->max_seq);
  return rc;
}

static int sqlite_durable_seq(cairn_sink *base, const struct cairn_window *w,
                              long *seq_out, cairn_err *err)
{
  return window_seq(base, w, seq_out, 1, err);
}

/* What the table holds of a window the state says loaded, whatever
 * version of the contract its chunks were loaded under: none when the
 * window loaded rows and the table has none (emptied by hand, or renamed
 * and made again by this open), though _cairn_chunks lists its chunks. No
 * load of this sink empties a table: a replacement leaves the rows of the
 * load that replaced. */
static int sqlite_held_seq(cairn_sink *base, const struct cairn_window *w,
                           long *seq_out, cairn_err *err)
{
  struct sqlite_sink *s = (struct sqlite_sink *)base;
  struct cairn_buf sql = {0};
  sqlite3_stmt *st = NULL;
  int rc = window_seq(base, w, seq_out, 0, err);

  if (rc < 0 || *seq_out == 0)
    return rc;
  cairn_buf_puts(&sql, "SELECT 1 FROM _cairn_chunks WHERE job=?1 AND"
                       " window=?2 AND rows > 0 AND NOT EXISTS(SELECT 1"
                       " FROM ");
  put_ident(&sql, base->ctx->contract->name);
  cairn_buf_puts(&sql, ") LIMIT 1");
  rc = prep(s, sql.data, &st, err);
  if (rc == CAIRN_OK) {
    sqlite3_bind_text(st, 1, base->ctx->job, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, w->key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
      *seq_out = 0;
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? CAIRN_OK
                                               : fail(s, err, rc, "read "
                                                      "what the table holds");
  }
  sqlite3_finalize(st);
  cairn_buf_free(&sql);
  return rc;
}

/* How a decimal (JSON number grammar, exact text) is bound. One pass over
 * the text finds the significant digits and the decimal exponent:
 *   no point, no exponent, at most 18
 *   significant digits                  -> INTEGER (100.0 and 1e+2 are
 *                                          REAL: the text decides, not
 *                                          the value);
 *   otherwise                           -> REAL, the double nearest the
 *                                          decimal: mantissa * or / 10^k,
 *                                          correctly rounded when both are
 *                                          exact doubles (Clinger's fast
 *                                          path: a mantissa up to 2^53),
 *                                          else by strtod. With at most 15
 *                                          significant digits SQLite prints
 *                                          it back exactly; a longer one
 *                                          (Azure writes doubles in full,
 *                                          0.4838709677419368) is the double
 *                                          it denotes, which a shortest
 *                                          round-trip printer gives back as
 *                                          written;
 *   past a double's range (1e400: inf; 1e-400: 0; 1e-320: subnormal,
 *   digits lost)                        -> TEXT, kept as written.
 * Money stays one storage class (numbers), so comparisons, ORDER BY and
 * min/max work: a TEXT value sorts above every number in SQLite, which
 * made "billedCost < 0" miss the credits written with 16 or 17 digits.
 * The text itself, every digit, is what the bundle sink writes. */
enum { NUM_INT, NUM_REAL, NUM_TEXT };

#ifdef __SIZEOF_INT128__
/* The double nearest mant * 10^e10 (0 < mant < 2^64, |e10| <= 27),
 * correctly rounded (ties to even), in 128-bit integers: 10^e10 is
 * 5^e10 * 2^e10, and 5^27 < 2^63. mant, shifted to the top of 64 bits,
 * times 5^k, or times 2^64 divided by 5^k, has at least 64 significant
 * bits; the top 53 are rounded with the rest and the remainder as the
 * guard. The 16 to 19 digits of a double written in full (Azure's
 * 0.4838709677419368) take this path: strtod cost about 1,200
 * instructions a value, this about a tenth of that. */
static double scale_pow10(uint64_t mant, int e10)
{
  static const uint64_t pow5[28] = {
    1ULL, 5ULL, 25ULL, 125ULL, 625ULL, 3125ULL, 15625ULL, 78125ULL,
    390625ULL, 1953125ULL, 9765625ULL, 48828125ULL, 244140625ULL,
    1220703125ULL, 6103515625ULL, 30517578125ULL, 152587890625ULL,
    762939453125ULL, 3814697265625ULL, 19073486328125ULL,
    95367431640625ULL, 476837158203125ULL, 2384185791015625ULL,
    11920928955078125ULL, 59604644775390625ULL, 298023223876953125ULL,
    1490116119384765625ULL, 7450580596923828125ULL,
  };
  typedef unsigned __int128 u128;
  int lz = __builtin_clzll(mant), shift, sticky = 0;
  int bexp = e10 - lz; /* value = q * 2^bexp (with the guard below) */
  u128 q, rest, half;
  uint64_t top;

  if (e10 >= 0) {
    q = (u128)(mant << lz) * pow5[e10];
  } else {
    u128 n = (u128)(mant << lz) << 64;
    q = n / pow5[-e10];
    sticky = n - q * pow5[-e10] != 0; /* one division, not two */
    bexp -= 64;
  }
  /* q >= 2^63: mant << lz is, and 5^k >= 1 (or 2^127 / 5^27 > 2^64) */
  if ((uint64_t)(q >> 64))
    shift = 128 - __builtin_clzll((uint64_t)(q >> 64)) - 53;
  else
    shift = 64 - 53;
  top = (uint64_t)(q >> shift);
  rest = q & (((u128)1 << shift) - 1);
  half = (u128)1 << (shift - 1);
  if (rest > half || (rest == half && (sticky || (top & 1)))) {
    if (++top == (uint64_t)1 << 53) {
      top >>= 1;
      shift++;
    }
  }
  /* top in [2^52, 2^53): the value is 1.f * 2^(52 + bexp + shift), a
   * normal double for |e10| <= 27, built directly (ldexp: 50
   * instructions more) */
  {
    uint64_t bits = (uint64_t)(52 + bexp + shift + 1023) << 52 |
                    (top & (((uint64_t)1 << 52) - 1));
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
  }
}
#endif

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
      long e = strtol(p + i + 1, NULL, 10);
      if (e > 100000 || e < -100000)
        return NUM_TEXT;
      exp10 = (int)e;
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
  exp10 -= frac_digits;
  if (mant == 0) { /* zero, whatever its exponent (0E-25) */
    *dval = neg ? -0.0 : 0.0;
  } else if (digits <= 19 && mant <= (uint64_t)1 << 53 && exp10 >= -22 &&
             exp10 <= 22) {
    double d = (double)mant; /* exact: at most 2^53 */
    d = exp10 < 0 ? d / pow10[-exp10] : d * pow10[exp10];
    *dval = neg ? -d : d;
#ifdef __SIZEOF_INT128__
  } else if (digits <= 19 && exp10 >= -27 && exp10 <= 27) {
    /* a mantissa past 2^53 (16 to 19 digits), or 10^23 to 10^27 */
    double d = scale_pow10(mant, exp10);
    *dval = neg ? -d : d;
#endif
  } else {
    /* p is NUL-terminated (batch texts are). Past a double's range
     * (1e400: inf; 1e-400: 0; 1e-320: subnormal, digits lost) the text
     * is kept as written. */
    double d = strtod(p, NULL);
    if (!isfinite(d) || (mant != 0 && fabs(d) < DBL_MIN))
      return NUM_TEXT;
    *dval = d;
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

/* ---- decimals an older cairn stored as text -------------------------------
 * Before 2026-11-28 a decimal of more than 15 significant digits was bound
 * as TEXT, which SQLite sorts above every number: an analyst's
 * "billedCost < 0" missed such credits, and a table that newer loads added
 * REAL rows to held both. The first open of a table by this version stores
 * those values as bind_value stores them now (the same double a reload
 * would), in one write transaction, and records the table in
 * _cairn_numbers so that later opens pay nothing. A text that is no
 * decimal, or one past a double's range, stays as it is. */

/* cairn_number(x): x as bind_value would store its text. */
static void fn_number(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
  const char *t = (const char *)sqlite3_value_text(argv[0]);
  int64_t iv = 0;
  double dv = 0;
  (void)argc;
  if (sqlite3_value_type(argv[0]) != SQLITE_TEXT || !t ||
      !cairn_json_is_number(t, strlen(t)))
    sqlite3_result_value(ctx, argv[0]);
  else switch (classify_decimal(t, strlen(t), &iv, &dv)) {
  case NUM_INT:
    sqlite3_result_int64(ctx, iv);
    break;
  case NUM_REAL:
    sqlite3_result_double(ctx, dv);
    break;
  default:
    sqlite3_result_value(ctx, argv[0]);
  }
}

static int number_texts(struct sqlite_sink *s, cairn_err *err)
{
  static const char seen[] = "SELECT 1 FROM _cairn_numbers WHERE tbl=?";
  const struct cairn_contract *c = s->base.ctx->contract;
  struct cairn_buf sql = {0}, where = {0};
  sqlite3_stmt *st = NULL;
  int64_t one = 0;
  long long changed = 0;
  size_t n_num = 0;
  int rc = query_int(s, seen, c->name, &one, err);

  if (rc != 0) /* converted already, or an error */
    return rc < 0 ? rc : CAIRN_OK;
  rc = cairn_sqlite_setup(s->db, "BEGIN IMMEDIATE", BUSY_MS);
  if (rc != SQLITE_OK)
    return fail(s, err, rc, "begin");
  /* again in the write transaction: another job may have converted the
   * table while this one waited for it */
  rc = query_int(s, seen, c->name, &one, err);
  if (rc == 0 && sqlite3_create_function(s->db, "cairn_number", 1,
                                         SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                         NULL, fn_number, NULL, NULL)
                 != SQLITE_OK)
    rc = fail(s, err, 0, "register cairn_number");
  /* One pass over the table for all its number columns (a big warehouse
   * is read once under the write lock, not once per column). */
  cairn_buf_puts(&sql, "UPDATE ");
  put_ident(&sql, c->name);
  for (size_t i = 0; i < c->n_fields; i++) {
    if (c->fields[i].type != CAIRN_F_NUMBER)
      continue;
    cairn_buf_puts(&sql, n_num ? ", " : " SET ");
    cairn_buf_puts(&where, n_num++ ? " OR typeof(" : " WHERE typeof(");
    put_ident(&sql, c->fields[i].name);
    cairn_buf_puts(&sql, "=cairn_number(");
    put_ident(&sql, c->fields[i].name);
    cairn_buf_puts(&sql, ")");
    put_ident(&where, c->fields[i].name);
    cairn_buf_puts(&where, ")='text'");
  }
  if (n_num)
    cairn_buf_append(&sql, where.data, where.len);
  if (rc == 0 && n_num) {
    rc = exec(s, sql.data, err);
    changed = sqlite3_changes64(s->db);
  }
  if (rc == 0) {
    rc = prep(s, "INSERT INTO _cairn_numbers(tbl) VALUES (?)", &st, err);
    if (rc == CAIRN_OK) {
      sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
      rc = run_stmt(s, st, "record the conversion", err);
    }
  }
  if (rc == 0)
    rc = exec(s, "COMMIT", err);
  if (rc == CAIRN_OK && changed)
    cairn_info("%s: %s: %lld rows held decimals a cairn from before "
               "2026-11-28 stored as text; they are stored as numbers now "
               "(docs/jobs.md)", s->base.ctx->sink_name, c->name, changed);
  if (rc > 0) /* converted by another job meanwhile */
    rc = exec(s, "COMMIT", err);
  if (!sqlite3_get_autocommit(s->db))
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_finalize(st);
  cairn_buf_free(&sql);
  cairn_buf_free(&where);
  return rc;
}

/* ---- partitions and their zones -----------------------------------------
 * replace_partition must find the rows earlier loads wrote for a partition
 * value. An index over every row did that but cost as much CPU as the
 * table inserts themselves, so the sink keeps zones instead: for each
 * chunk and each partition value in it, the first and last rowid of that
 * value's rows (_cairn_zones; a chunk's rows get consecutive rowids). A
 * zone is tight when an export is ordered by partition and spans the chunk
 * when values are interleaved. Replacing the values a chunk meets first
 * takes their zones out (DELETE ... RETURNING) and deletes, inside the
 * union of those zones, the rows whose value is one of them (one pass per
 * chunk that meets new values).
 * Zones only ever over-cover (a zone may still span rows that another
 * value's replacement deleted), never miss a row this sink wrote.
 * They hold only while nothing else moves rows, so each replace chunk
 * first checks, in its transaction, that they still match the table, and
 * rebuilds them all with one scan when not (check_zones). The mark it
 * checks against (_cairn_zone_marks) is written by every replace chunk in
 * its transaction: the table's max(rowid) and the schema cookie.
 *   - Another replace_partition run (another job, or the same one in
 *     another process) keeps the zones and writes the mark: nothing to do.
 *   - append and upsert chunks delete the mark (one row): their rows have
 *     no zone, and an upsert's UPDATE keeps a row's rowid while it may
 *     change its partition (cost_record's key, recordId, holds none of its
 *     partition fields; cmdb_ci's, (source, ciId), holds its one), which
 *     max(rowid) would not show. This works between two chunks of a
 *     running replace job too: its next chunk rebuilds, from the table,
 *     the zones of its earlier chunks as well.
 *   - VACUUM renumbers the rowids of a table without an INTEGER PRIMARY
 *     KEY (when it has gaps, which replacements leave) and bumps the
 *     schema cookie; a restore from .dump renumbers them 1..n, so max(rowid)
 *     differs unless the numbers are unchanged.
 *   - No mark (a warehouse from before marks, or from before zones, which
 *     had a per-row partition index), or rows but no zone: rebuild.
 * The check and the mark cost a few b-tree lookups per chunk (max(rowid)
 * is the table's last entry); a rebuild scans the table once. Rows other
 * tools insert raise max(rowid) and are found; an UPDATE of a partition
 * column by another tool is not seen (docs/jobs.md). */

static const char *key_str(const struct cairn_buf *k)
{
  return k->data ? k->data : "";
}

/* The partition key of a row as one string: values joined by 0x1f, each
 * as the sink stores it (NULL 0x1e, integers %lld, reals %.17g, text as
 * is), so a key built from a batch row and one built from the stored
 * columns (stored_key) are equal. */
static void part_key(const struct cairn_contract *c, const unsigned char *cut,
                     const struct cairn_value *row, struct cairn_buf *out)
{
  cairn_buf_reset(out);
  for (size_t k = 0; k < c->n_partition; k++) {
    const struct cairn_value *v = &row[c->partition[k]];
    int64_t iv = 0;
    double dv = 0;
    if (k)
      cairn_buf_putc(out, '\x1f');
    switch (v->type) {
    case CAIRN_V_NULL:
      cairn_buf_putc(out, '\x1e');
      break;
    case CAIRN_V_INT:
    case CAIRN_V_BOOL:
      cairn_buf_printf(out, "%lld", (long long)v->i);
      break;
    case CAIRN_V_NUM:
      switch (classify_decimal(v->s, v->len, &iv, &dv)) {
      case NUM_INT:
        cairn_buf_printf(out, "%lld", (long long)iv);
        break;
      case NUM_REAL:
        cairn_buf_printf(out, "%.17g", dv);
        break;
      default:
        cairn_buf_append(out, v->s, v->len);
      }
      break;
    default:
      cairn_buf_append(out, v->s, part_len(cut, k, v->len));
    }
  }
}

static void stored_key(sqlite3_value **vals, int n, struct cairn_buf *out)
{
  cairn_buf_reset(out);
  for (int k = 0; k < n; k++) {
    if (k)
      cairn_buf_putc(out, '\x1f');
    switch (sqlite3_value_type(vals[k])) {
    case SQLITE_NULL:
      cairn_buf_putc(out, '\x1e');
      break;
    case SQLITE_INTEGER:
      cairn_buf_printf(out, "%lld", (long long)sqlite3_value_int64(vals[k]));
      break;
    case SQLITE_FLOAT:
      cairn_buf_printf(out, "%.17g", sqlite3_value_double(vals[k]));
      break;
    default: {
      const unsigned char *t = sqlite3_value_text(vals[k]);
      cairn_buf_append(out, t, (size_t)sqlite3_value_bytes(vals[k]));
    }
    }
  }
}

/* SQL cairn_part_fresh(col...): 1 when the row's partition is one the
 * chunk being loaded replaces (s->deleting). */
static void fn_part_fresh(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
  struct sqlite_sink *s = sqlite3_user_data(ctx);
  long i = -1;
  stored_key(argv, argc, &s->fn_key);
  if (s->deleting)
    i = set_find(s->deleting, key_str(&s->fn_key));
  sqlite3_result_int(ctx, i >= 0 && s->deleting->ents[i].fresh);
}

/* The batch's texts were written by the producer, on the other core, and
 * the loader is the first to read them here: one cache miss per value,
 * which the hardware cannot see coming (the values point anywhere in the
 * arena). Asking for row r + PREFETCH_ROWS's texts while row r is worked
 * on overlaps those misses: on the 1M-row export the partition tracking
 * went from 0.38 to 0.26 s and the decimal classification from 0.33 to
 * 0.18 s of the loader's CPU (perf, four runs each). fields: the ones to
 * ask for, or NULL for all n. */
enum { PREFETCH_ROWS = 4 };

static inline void prefetch_texts(const struct cairn_value *row,
                                  const size_t *fields, size_t n)
{
  for (size_t k = 0; k < n; k++) {
    const struct cairn_value *v = &row[fields ? fields[k] : k];
    if (v->type == CAIRN_V_STR || v->type == CAIRN_V_NUM ||
        v->type == CAIRN_V_JSON)
      __builtin_prefetch(v->s);
  }
}

/* Whether a and b, values of partition field k, are the same partition. */
static int same_value(const unsigned char *cut, size_t k,
                      const struct cairn_value *a,
                      const struct cairn_value *b)
{
  size_t n;
  if (a->type != b->type)
    return 0;
  if (a->type == CAIRN_V_INT || a->type == CAIRN_V_BOOL)
    return a->i == b->i;
  if (a->type == CAIRN_V_NULL || (a->s == b->s && a->len == b->len))
    return 1; /* the transform shares a text equal to the previous row's */
  n = part_len(cut, k, a->len);
  return n == part_len(cut, k, b->len) && memcmp(a->s, b->s, n) == 0;
}

static int same_partition(const struct cairn_contract *c,
                          const unsigned char *cut,
                          const struct cairn_value *a,
                          const struct cairn_value *b)
{
  for (size_t k = 0; k < c->n_partition; k++)
    if (!same_value(cut, k, &a[c->partition[k]], &b[c->partition[k]]))
      return 0;
  return 1;
}

/* A hash of a row's partition values (equal when same_partition is). */
static uint64_t part_hash(const struct cairn_contract *c,
                          const unsigned char *cut,
                          const struct cairn_value *row)
{
  uint64_t h = FNV_BASIS;
  for (size_t k = 0; k < c->n_partition; k++) {
    const struct cairn_value *v = &row[c->partition[k]];
    unsigned char type = (unsigned char)v->type;
    h = fnv(h, &type, 1);
    if (v->type == CAIRN_V_INT || v->type == CAIRN_V_BOOL)
      h = fnv(h, &v->i, sizeof v->i);
    else if (v->type != CAIRN_V_NULL)
      h = fnv(h, v->s, part_len(cut, k, v->len));
  }
  return h ^ (h >> 29);
}

/* The partitions of batch b, each with the first and last row index that
 * holds it. Exports come sorted or clustered (most rows share the previous
 * row's partition: no hash needed) or interleave a few values: a small
 * cache by hash of the values finds those without building their key. The
 * cache compares hashes before values, against the row that last began a
 * run of its value, whose texts are still in the CPU cache (the first row
 * of each value was not, and comparing against it took a tenth of the
 * load). */
static void chunk_parts(const struct cairn_contract *c,
                        const unsigned char *cut,
                        const struct cairn_batch *b, struct part_set *out,
                        struct cairn_buf *key)
{
  struct {
    const struct cairn_value *rep;
    uint64_t hash;
    size_t idx;
  } cache[64] = {{0}};
  const struct cairn_value *prev = NULL;
  size_t idx = 0;
  for (size_t r = 0; r < b->n_rows; r++) {
    const struct cairn_value *row = b->vals + r * b->n_fields;
    struct part_ent *e;
    if (r + PREFETCH_ROWS < b->n_rows)
      prefetch_texts(row + PREFETCH_ROWS * b->n_fields, c->partition,
                     c->n_partition);
    if (!prev || !same_partition(c, cut, prev, row)) {
      uint64_t h = part_hash(c, cut, row);
      size_t slot = (size_t)h & 63;
      if (cache[slot].rep && cache[slot].hash == h &&
          same_partition(c, cut, cache[slot].rep, row)) {
        idx = cache[slot].idx;
      } else {
        part_key(c, cut, row, key);
        idx = set_add(out, key_str(key));
        cache[slot].hash = h;
        cache[slot].idx = idx;
      }
      cache[slot].rep = row;
    }
    prev = row;
    e = &out->ents[idx];
    if (e->lo < 0)
      e->lo = (int64_t)r;
    e->hi = (int64_t)r;
  }
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
  while ((rc = sqlite3_step(s->part_seen)) == SQLITE_ROW) {
    size_t i = set_add(&s->parts,
                       (const char *)sqlite3_column_text(s->part_seen, 0));
    s->parts.ents[i].claim = sqlite3_column_int64(s->part_seen, 1);
  }
  sqlite3_reset(s->part_seen);
  return rc == SQLITE_DONE ? CAIRN_OK : fail(s, err, rc, "read partitions");
}

static int cmp_range(const void *a, const void *b)
{
  const int64_t *x = a, *y = b;
  return (x[0] > y[0]) - (x[0] < y[0]);
}

/* Whether window w's span holds every day of the partition with key
 * 'key' (so all its old rows go, and its zones with them): yes when the
 * window has no span or the table no partition field taken by its date,
 * or that field is null in the key. The field's part of the key is a day
 * "YYYY-MM-DD" or a month "YYYY-MM"; the span holds it when it starts on
 * or before its first day ("-01" for a month) and ends after its last (no
 * valid day sorts between "YYYY-MM-31" and the next month's first). */
static int span_holds(const struct sqlite_sink *s,
                      const struct cairn_window *w, const char *key)
{
  const char *p = key;
  char first[11], last[11];
  size_t n;

  if (s->span_k < 0 || !w->span_from[0])
    return 1;
  for (long k = 0; k < s->span_k && p; k++) {
    p = strchr(p, '\x1f');
    p = p ? p + 1 : NULL;
  }
  if (!p)
    return 0;
  n = strcspn(p, "\x1f");
  if (n == 1 && *p == '\x1e')
    return 1;
  if (n != CAIRN_PART_MONTH && n != CAIRN_PART_DAY)
    return 0; /* not a date: keep its zones, which is always safe */
  snprintf(first, sizeof first, "%.*s%s", (int)n, p,
           n == CAIRN_PART_MONTH ? "-01" : "");
  snprintf(last, sizeof last, "%.*s%s", (int)n, p,
           n == CAIRN_PART_MONTH ? "-31" : "");
  return strcmp(w->span_from, first) <= 0 && strcmp(w->span_to, last) > 0;
}

/* Delete the old rows of every partition of the chunk (cp) this window
 * meets for the first time, remembering them in _cairn_partitions. A
 * partition taken by its date loses only the rows of the window's span;
 * its zones are dropped when the span holds all of its days, and kept
 * otherwise (they still find its other rows). Inside the chunk's
 * transaction. */
static int replace_partitions(struct sqlite_sink *s,
                              const struct cairn_window *w,
                              struct part_set *cp, cairn_err *err)
{
  const char *tbl = s->base.ctx->contract->name;
  int64_t (*rg)[2] = NULL;
  size_t n = 0, cap = 0, m = 0;
  int rc = CAIRN_OK;

  for (size_t i = 0; i < cp->n && rc == CAIRN_OK; i++) {
    struct part_ent *e = &cp->ents[i];
    sqlite3_stmt *zq;
    if (set_find(&s->parts, e->key) >= 0)
      continue;
    e->fresh = 1;
    zq = span_holds(s, w, e->key) ? s->zone_take : s->zone_list;
    sqlite3_bind_text(zq, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(zq, 2, e->key, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(zq)) == SQLITE_ROW) {
      if (n == cap) {
        cap = cap ? cap * 2 : 64;
        rg = cairn_xrealloc(rg, cap * sizeof *rg);
      }
      rg[n][0] = sqlite3_column_int64(zq, 0);
      rg[n][1] = sqlite3_column_int64(zq, 1);
      n++;
    }
    sqlite3_reset(zq);
    rc = rc == SQLITE_DONE ? CAIRN_OK : fail(s, err, rc, "read zones");
    if (rc < 0)
      break;
    sqlite3_bind_text(s->part_mark, 1, s->base.ctx->job, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->part_mark, 2, w->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->part_mark, 3, e->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->part_mark, 4, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->part_mark, 5, w->span_from[0] ? w->span_from : NULL,
                      -1, SQLITE_STATIC);
    sqlite3_bind_text(s->part_mark, 6, w->span_from[0] ? w->span_to : NULL,
                      -1, SQLITE_STATIC);
    rc = sqlite3_step(s->part_mark);
    if (rc == SQLITE_ROW) {
      e->claim = sqlite3_column_int64(s->part_mark, 0);
      rc = sqlite3_step(s->part_mark);
    }
    sqlite3_reset(s->part_mark);
    rc = rc == SQLITE_DONE ? CAIRN_OK : fail(s, err, rc, "mark partition");
  }
  if (rc == CAIRN_OK && n) {
    /* One pass over the union of the zones (sorted, merged). */
    qsort(rg, n, sizeof *rg, cmp_range);
    for (size_t i = 1; i < n; i++) {
      if (rg[m][1] == INT64_MAX || rg[i][0] <= rg[m][1] + 1) {
        if (rg[i][1] > rg[m][1])
          rg[m][1] = rg[i][1];
      } else {
        m++;
        rg[m][0] = rg[i][0];
        rg[m][1] = rg[i][1];
      }
    }
    s->deleting = cp;
    if (s->span_k >= 0) { /* a NULL text binds NULL: no span */
      int span = w->span_from[0] != '\0';
      sqlite3_bind_text(s->part_delete, 3, span ? w->span_from : NULL, -1,
                        SQLITE_STATIC);
      sqlite3_bind_text(s->part_delete, 4, span ? w->span_to : NULL, -1,
                        SQLITE_STATIC);
    }
    for (size_t i = 0; i <= m && rc == CAIRN_OK; i++) {
      sqlite3_bind_int64(s->part_delete, 1, rg[i][0]);
      sqlite3_bind_int64(s->part_delete, 2, rg[i][1]);
      rc = run_stmt(s, s->part_delete, "delete partition", err);
    }
    s->deleting = NULL;
  }
  free(rg);
  return rc;
}

/* Record the zones of chunk cp, whose row r got rowid base + r. If the
 * rowids were not consecutive (SQLite picks random ones once the largest
 * rowid is taken) the zones span every rowid. */
static int add_zones(struct sqlite_sink *s, const struct part_set *cp,
                     int64_t base, int exact, cairn_err *err)
{
  const char *tbl = s->base.ctx->contract->name;
  int rc = CAIRN_OK;
  for (size_t i = 0; i < cp->n && rc == CAIRN_OK; i++) {
    const struct part_ent *e = &cp->ents[i];
    sqlite3_bind_text(s->zone_add, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->zone_add, 2, e->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->zone_add, 3, exact ? base + e->lo : INT64_MIN);
    sqlite3_bind_int64(s->zone_add, 4, exact ? base + e->hi : INT64_MAX);
    rc = run_stmt(s, s->zone_add, "record zone", err);
  }
  return rc;
}

/* Replace mode, first thing in each chunk's transaction: when the zones
 * may not match the table's rows (zone_current says no: see "partitions
 * and their zones"), drop them and make them again with one scan, a zone
 * per partition value from its smallest to its largest rowid. */
static int check_zones(struct sqlite_sink *s, cairn_err *err)
{
  const struct cairn_contract *c = s->base.ctx->contract;
  struct cairn_buf sql = {0}, key = {0};
  struct part_set zs = {0};
  sqlite3_stmt *st = NULL;
  sqlite3_value *vals[64];
  int64_t rows = 0;
  int current, rc;

  sqlite3_bind_text(s->zone_current, 1, c->name, -1, SQLITE_STATIC);
  rc = sqlite3_step(s->zone_current);
  current = rc == SQLITE_ROW && sqlite3_column_int(s->zone_current, 0);
  sqlite3_reset(s->zone_current);
  if (rc != SQLITE_ROW)
    return fail(s, err, rc, "read the zones' mark");
  if (current)
    return CAIRN_OK;

  sqlite3_bind_text(s->zone_forget, 1, c->name, -1, SQLITE_STATIC);
  rc = run_stmt(s, s->zone_forget, "drop zones", err);
  if (rc < 0)
    goto done;
  cairn_buf_puts(&sql, "SELECT rowid");
  for (size_t k = 0; k < c->n_partition; k++) {
    cairn_buf_puts(&sql, ", ");
    put_part_col(&sql, c, s->part_cut, k);
  }
  cairn_buf_puts(&sql, " FROM ");
  put_ident(&sql, c->name);
  cairn_buf_puts(&sql, " ORDER BY rowid");
  rc = prep(s, sql.data, &st, err);
  while (rc == CAIRN_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t rid = sqlite3_column_int64(st, 0);
    struct part_ent *e;
    size_t idx;
    for (size_t k = 0; k < c->n_partition; k++)
      vals[k] = sqlite3_column_value(st, (int)k + 1);
    stored_key(vals, (int)c->n_partition, &key);
    idx = set_add(&zs, key_str(&key)); /* may move zs.ents */
    e = &zs.ents[idx];
    if (e->lo < 0)
      e->lo = rid;
    e->hi = rid;
    rows++;
    rc = CAIRN_OK;
  }
  if (rc == SQLITE_DONE)
    rc = CAIRN_OK;
  else if (rc > 0)
    rc = fail(s, err, rc, "scan partitions");
  if (rc == CAIRN_OK)
    rc = add_zones(s, &zs, 0, 1, err);
  if (rc == CAIRN_OK && rows)
    cairn_info("%s: %s: made partition zones for %lld existing rows "
               "(%zu partitions)", s->base.ctx->sink_name, c->name,
               (long long)rows, zs.n);
done:
  sqlite3_finalize(st);
  set_clear(&zs);
  cairn_buf_free(&key);
  cairn_buf_free(&sql);
  return rc;
}

/* ---- the background checkpointer ------------------------------------------
 * WAL mode writes every page twice: into the WAL at commit, then into the
 * database by a checkpoint. Left to SQLite, the checkpoint runs inside the
 * loader's commit every wal_autocheckpoint pages, and the last one in
 * sqlite_finish: on the 1M-row export each took ~2 s (copying 250 MB and
 * two fsyncs) during which nothing was loaded. Here a thread with its own
 * connection runs PASSIVE checkpoints (see ckpt_hook for when), so the
 * copying and syncing overlap the loads; PASSIVE never blocks the writer
 * (it copies only committed frames and gives up on a lock instead of
 * waiting), and restarts the WAL every CKPT_RESTART_BYTES (see ckpt_hook).
 * The durability barrier is unchanged: sqlite_finish waits for the thread
 * to be idle and runs the full TRUNCATE checkpoint on the loader's
 * connection, which by then has little left to copy (or syncs the WAL when
 * a reader keeps it from finishing).
 * A reader holding an old snapshot keeps rounds from copying past it and
 * the WAL from restarting: rounds copy what they can, the loader's wait
 * for a restart round ends when the round does, and the WAL grows until
 * the reader is done. Nothing fails.
 * Each round begins by syncing the WAL. Left to the kernel, the frames a
 * commit wrote stay dirty in the page cache until that sync (background
 * writeback starts at 10 % of RAM), so every round waited for the disk to
 * write a chunk, and a WAL restart (see ckpt_hook) for two such rounds.
 * So after each commit the hook starts the writeback of the WAL file
 * (sync_file_range with SYNC_FILE_RANGE_WRITE: it queues the dirty pages
 * and returns, it makes nothing durable); the round's sync then mostly
 * finds them written. The kick goes through a descriptor of our own,
 * read-only: SQLite holds no POSIX lock on the -wal file, so closing it
 * cannot drop one of SQLite's (which closing a descriptor of the database
 * file would). */
enum { CKPT_BYTES = 8 << 20, CKPT_RESTART_BYTES = 64 << 20 };

struct ckpt {
  sqlite3        *db;
  pthread_t       thread;
  pthread_mutex_t mu;
  pthread_cond_t  cv;
  int             frames;    /* frames per round: CKPT_BYTES / page size */
  int             restart_frames; /* CKPT_RESTART_BYTES / page size */
  int             want, busy, stop;
  int             restart;   /* the loader's next transaction waits for a
                                round that copies everything */
  int             wal_fd;    /* the -wal file, read-only, for the
                                writeback kick; -1 until it exists */
  long            rounds, restarts; /* for the debug log at the end */
  int64_t         restart_wait_ms;  /* the loader's, in ckpt_wait */
};

static void *ckpt_main(void *arg)
{
  struct ckpt *k = arg;
  cairn_thread_name("cairn-ckpt");
  pthread_mutex_lock(&k->mu);
  for (;;) {
    while (!k->want && !k->stop)
      pthread_cond_wait(&k->cv, &k->mu);
    if (k->stop)
      break;
    k->want = 0;
    k->busy = 1;
    pthread_mutex_unlock(&k->mu);
    /* SQLITE_BUSY (a reader or another checkpoint holds a lock) just
     * means later; sqlite_finish reports what really fails. */
    sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
                              NULL);
    pthread_mutex_lock(&k->mu);
    k->rounds++;
    k->busy = 0;
    pthread_cond_broadcast(&k->cv);
  }
  pthread_mutex_unlock(&k->mu);
  return NULL;
}

/* Wait for the checkpointer. for_restart: before the loader's next write
 * transaction, and only when a restart is due, for every round asked for
 * to have run (they copy every frame committed so far). Else: for the
 * running round only, and none starts until the next commit on the
 * loader's connection. */
static void ckpt_wait(struct ckpt *k, int for_restart)
{
  if (!k)
    return;
  pthread_mutex_lock(&k->mu);
  if (!for_restart)
    k->want = 0;
  if (!for_restart || k->restart) {
    int64_t t0 = cairn_clock_mono_ms();
    while (k->want || k->busy)
      pthread_cond_wait(&k->cv, &k->mu);
    if (for_restart) {
      k->restarts++;
      k->restart_wait_ms += cairn_clock_mono_ms() - t0;
    }
    k->restart = 0;
  }
  pthread_mutex_unlock(&k->mu);
}

/* sqlite3_wal_hook: after each commit on the loader's connection, with
 * the frames the WAL holds. A round starts whenever that is CKPT_BYTES or
 * more and none is running, so the part not yet copied, which the
 * window's final checkpoint must still copy and sync on the critical path,
 * stays about one chunk. (A round per 64 MiB instead left more to that
 * final checkpoint and was no faster.)
 * But the WAL only restarts from its beginning when a write transaction
 * starts with every frame already copied, and with rounds running behind a
 * steady writer that never happens: the WAL grew to the size of the whole
 * load (500 MB for the 1M-row export), the page cache held every page
 * twice, and the final checkpoint spent 0.4 s truncating it. So at
 * CKPT_RESTART_BYTES a round is due right after this commit (after the
 * running one, if any), and the loader's next transaction waits for it
 * (ckpt_wait), which then finds the WAL wholly copied and
 * restarts it. The wait is for about one chunk's copy and two syncs, less
 * whatever the loader did meanwhile. */
static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
  struct ckpt *k = arg;
  if (k->wal_fd < 0)
    k->wal_fd = open(sqlite3_filename_wal(sqlite3_db_filename(db, name)),
                     O_RDONLY | O_CLOEXEC);
#ifdef SYNC_FILE_RANGE_WRITE
  if (k->wal_fd >= 0) /* a hint: a failure only means no head start */
    (void)sync_file_range(k->wal_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
  if (frames < k->frames)
    return SQLITE_OK;
  pthread_mutex_lock(&k->mu);
  if (frames >= k->restart_frames)
    k->restart = 1;
  if (k->restart || !k->busy) {
    k->want = 1; /* for a restart: after the running round, if any */
    pthread_cond_signal(&k->cv);
  }
  pthread_mutex_unlock(&k->mu);
  return SQLITE_OK;
}

/* Start the checkpointer; on any failure SQLite's own autocheckpoint
 * stays on (slower, same guarantees). */
static void ckpt_start(struct sqlite_sink *s, long long page)
{
  struct ckpt *k = cairn_xcalloc(1, sizeof *k);
  if (sqlite3_open_v2(s->path, &k->db, SQLITE_OPEN_READWRITE |
                      SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
      sqlite3_exec(k->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL)
          != SQLITE_OK) {
    sqlite3_close(k->db);
    free(k);
    return;
  }
  k->frames = (int)(CKPT_BYTES / page);
  k->restart_frames = (int)(CKPT_RESTART_BYTES / page);
  k->wal_fd = -1;
  pthread_mutex_init(&k->mu, NULL);
  pthread_cond_init(&k->cv, NULL);
  if (pthread_create(&k->thread, NULL, ckpt_main, k) != 0) {
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    sqlite3_close(k->db);
    free(k);
    return;
  }
  s->ckpt = k;
  sqlite3_wal_autocheckpoint(s->db, 0);
  sqlite3_wal_hook(s->db, ckpt_hook, k);
}

static void ckpt_stop(struct sqlite_sink *s)
{
  struct ckpt *k = s->ckpt;
  if (!k)
    return;
  sqlite3_wal_hook(s->db, NULL, NULL);
  pthread_mutex_lock(&k->mu);
  k->stop = 1;
  pthread_cond_signal(&k->cv);
  pthread_mutex_unlock(&k->mu);
  pthread_join(k->thread, NULL);
  cairn_debug("%s: checkpointer: %ld rounds, %ld WAL restarts, loads waited "
              "%lld ms for them", s->base.ctx->sink_name, k->rounds,
              k->restarts, (long long)k->restart_wait_ms);
  pthread_mutex_destroy(&k->mu);
  pthread_cond_destroy(&k->cv);
  sqlite3_close(k->db);
  if (k->wal_fd >= 0)
    close(k->wal_fd);
  free(k);
  s->ckpt = NULL;
}

/* The setup (busy: rc) could not switch the database to WAL. When it is
 * in another journal mode, another program switched it (a tool's
 * PRAGMA journal_mode=DELETE, between runs), and out of WAL mode a reader's
 * open read transaction holds off every writer: that is what the message
 * says, not the 10 s write transaction a busy warehouse in WAL mode means
 * (cairn_sqlite_why). Returns rc when the database is in WAL mode. */
static int not_wal(struct sqlite_sink *s, int rc, cairn_err *err)
{
  sqlite3_stmt *st = NULL;
  char mode[16] = "";
  if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &st, NULL)
      == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    snprintf(mode, sizeof mode, "%s",
             (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  if (!*mode || strcasecmp(mode, "wal") == 0)
    return rc;
  return CAIRN_RAISE(err, CAIRN_ESINK, rc, "%s: %s: the database is in "
                     "journal mode %s, not WAL (another program switched "
                     "it), and another connection kept cairn from switching "
                     "it back for the %d s it waits: out of WAL mode, a "
                     "reader's open read transaction (a dashboard, sqlite3 "
                     "in BEGIN) holds off every writer; end it, then run "
                     "again", s->base.ctx->sink_name, s->path, mode,
                     BUSY_MS / 1000);
}

static int sqlite_open(cairn_sink *base, const struct cairn_sink_ctx *ctx,
                       cairn_err *err)
{
  struct sqlite_sink *s = (struct sqlite_sink *)base;
  const json_t *cfg = ctx->cfg;
  json_int_t page = json_integer_value(json_object_get(cfg, "page_size"));
  char *dir = NULL, *sql;
  const char *slash;
  int rc;

  s->mode = parse_mode(json_string_value(json_object_get(cfg, "mode")));
  if (s->mode < 0)
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s: bad mode", ctx->sink_name);
  s->path = cairn_path_join(ctx->out_dir, cairn_sink_output(cfg));
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
  sqlite3_busy_timeout(s->db, BUSY_MS);
  rc = check_foreign(s, err);
  if (rc < 0)
    return rc;
  sql = cairn_strfmt("PRAGMA page_size=%lld; PRAGMA journal_mode=WAL;"
                     " PRAGMA synchronous=NORMAL; PRAGMA cache_size=-16384;"
                     " PRAGMA wal_autocheckpoint=4000;",
                     (long long)(page > 0 ? page : 65536));
  rc = cairn_sqlite_setup(s->db, sql, BUSY_MS);
  if ((rc & 0xff) == SQLITE_BUSY)
    rc = not_wal(s, rc, err);
  rc = rc == SQLITE_OK ? CAIRN_OK : rc < 0 ? rc : fail(s, err, rc, sql);
  free(sql);
  if (rc < 0)
    return rc;
  if (ctx->contract->n_partition &&
      sqlite3_create_function(s->db, "cairn_part_fresh",
                              (int)ctx->contract->n_partition, SQLITE_UTF8,
                              s, fn_part_fresh, NULL, NULL) != SQLITE_OK)
    return fail(s, err, 0, "register cairn_part_fresh");
  rc = build_schema(s, err);
  if (rc == CAIRN_OK)
    ckpt_start(s, page > 0 ? page : 65536);
  return rc;
}

/* An insert failed. A constraint refusing a row the contract allows is
 * not one the sink made (its NOT NULLs are the contract's required
 * fields, which the transform checks; upsert's key index takes a row of
 * a key it holds as an update), and every rerun would fail the same way,
 * so it is said as such, with what to do (exit 2), not as a resumable
 * sink error:
 *   - a unique index on the contract key in a table this job loads in
 *     append or replace_partition mode is one that a job loading the
 *     table in upsert mode made (or someone by hand): it allows one row
 *     per key in the whole table, where these modes put rows with one key
 *     in different partitions side by side (an actual and an amortized
 *     cost export, two scopes of one account: cost_record's key,
 *     recordId, holds neither);
 *   - any other (a unique index on other columns, a trigger that raises)
 *     was added to the table by hand. */
static int insert_failed(struct sqlite_sink *s, cairn_err *err)
{
  const struct cairn_contract *c = s->base.ctx->contract;
  struct cairn_buf on_key = {0};
  char *index, *why;
  int xrc = sqlite3_extended_errcode(s->db), rc;
  if ((xrc & 0xff) != SQLITE_CONSTRAINT)
    return fail(s, err, 0, "insert");
  why = cairn_xstrdup(sqlite3_errmsg(s->db)); /* before key_index's query */
  /* what SQLite says when a unique index on the key's columns refuses */
  cairn_buf_puts(&on_key, "UNIQUE constraint failed: ");
  for (size_t i = 0; i < c->n_key; i++)
    cairn_buf_printf(&on_key, "%s%s.%s", i ? ", " : "", c->name,
                     c->fields[c->key[i]].name);
  index = key_index(s);
  if (s->mode != MODE_UPSERT && xrc == SQLITE_CONSTRAINT_UNIQUE &&
      c->n_key && strcmp(why, on_key.data) == 0)
    rc = CAIRN_RAISE(err, CAIRN_EUSAGE, xrc, "%s: %s: %s:"
                     " table %s has a unique index on its key (\"%s\", made"
                     " by a job that upserts it), but %s mode puts one key in"
                     " several partitions (an actual and an amortized"
                     " export). Give the upsert job a"
                     " warehouse of its own (its sink's \"path\") or drop the"
                     " index (DROP INDEX \"%s\") if no job upserts the"
                     " table, then run again (docs/operations.md, \"Running"
                     " jobs at once\")", s->base.ctx->sink_name, s->path,
                     why, c->name, index,
                     s->mode == MODE_REPLACE ? "replace_partition" : "append",
                     index);
  else
    rc = CAIRN_RAISE(err, CAIRN_EUSAGE, xrc, "%s: %s: %s: table %s refused"
                     " a row contract %s %s allows: a unique index, trigger"
                     " or constraint cairn does not make was added to it;"
                     " drop that (or give the job a warehouse of its own,"
                     " its sink's \"path\"), then run again (docs/jobs.md,"
                     " \"Sink files\")", s->base.ctx->sink_name, s->path,
                     why, c->name, c->name, c->version);
  free(index);
  free(why);
  cairn_buf_free(&on_key);
  return rc;
}

/* ---- loads of one partition at once ---------------------------------------
 * Two loads may replace one partition at the same time: two jobs of one
 * export, or a window killed after its first chunks and resumed after
 * another job loaded the partition. Each chunk commits on its own, so
 * without more, the second load's first chunk deleted the first load's
 * chunks so far and their later chunks went in beside its own: the
 * partition ended with rows of both (223,500 rows for two 120,000-row
 * exports). So each window's first meeting with a partition is a claim,
 * numbered per partition in its transaction (_cairn_partitions.claim,
 * with the window's span), and the load whose claim came last is the
 * partition's: a window that meets a partition another load claimed
 * after it leaves out its rows there (on the later load's days, when it
 * has a span), logging it once. The partition then holds exactly the
 * later load's rows, as if the loads had run one after the other. A new
 * attempt of a window (a rerun, --fresh) forgets its claims
 * (reset_window) and claims again: the latest load again. */

struct later {
  size_t ent;                /* in the chunk's part_set */
  long   own;                /* in s->parts: this window's claim */
  int    whole;              /* no span: every day of the partition */
  char   from[11], to[11];
  char  *job, *window;       /* whose claim it is (owned) */
  size_t left;               /* rows of the chunk it takes */
};

/* A partition key as a message shows it: values joined by ", ", null. */
static void key_text(const char *k, struct cairn_buf *out)
{
  cairn_buf_reset(out);
  for (; *k; k++) {
    if (*k == '\x1f')
      cairn_buf_puts(out, ", ");
    else if (*k == '\x1e')
      cairn_buf_puts(out, "null");
    else
      cairn_buf_putc(out, *k);
  }
}

/* Which of the later claims lt[0..n) of e's partition replaced row (of
 * partition entry e), plus one, or 0 when none did: the condition
 * part_delete deletes by, on the row's first partition field taken by
 * its date. */
static size_t row_later(const struct sqlite_sink *s,
                     const struct cairn_contract *c,
                     const struct cairn_value *row, size_t e,
                     const struct later *lt, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    const struct cairn_value *v;
    if (lt[i].ent != e)
      continue;
    if (lt[i].whole || s->span_k < 0)
      return i + 1;
    v = &row[c->partition[s->span_k]]; /* a date-time: text */
    if (v->type != CAIRN_V_STR || v->len < 10 ||
        (memcmp(v->s, lt[i].from, 10) >= 0 && memcmp(v->s, lt[i].to, 10) < 0))
      return i + 1;
  }
  return 0;
}

/* In the chunk's transaction, before its partitions are replaced: the
 * partitions of cp this window claimed before and another load claimed
 * since. When there are any, *kept gets the rows of b they do not take
 * (vals: new, the values borrowed from b; the caller frees it) and cp
 * is made again from them; else kept is b. */
static int drop_later_claimed(struct sqlite_sink *s,
                              const struct cairn_window *w,
                              const struct cairn_batch *b,
                              struct part_set *cp, struct cairn_batch *kept,
                              cairn_err *err)
{
  const struct cairn_contract *c = s->base.ctx->contract;
  struct later *lt = NULL;
  struct cairn_buf key = {0}, shown = {0};
  size_t n = 0, cap = 0, out = 0;
  int rc = CAIRN_OK;

  *kept = *b;
  for (size_t i = 0; i < cp->n && rc == CAIRN_OK; i++) {
    long own = set_find(&s->parts, cp->ents[i].key);
    if (own < 0)
      continue; /* met for the first time: this chunk claims it now */
    sqlite3_bind_text(s->part_later, 1, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->part_later, 2, cp->ents[i].key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->part_later, 3, s->parts.ents[own].claim);
    while ((rc = sqlite3_step(s->part_later)) == SQLITE_ROW) {
      const char *from = (const char *)sqlite3_column_text(s->part_later, 2);
      const char *to = (const char *)sqlite3_column_text(s->part_later, 3);
      if (n == cap) {
        cap = cap ? cap * 2 : 8;
        lt = cairn_xrealloc(lt, cap * sizeof *lt);
      }
      lt[n].ent = i;
      lt[n].own = own;
      lt[n].whole = !from || !*from || !to;
      snprintf(lt[n].from, sizeof lt[n].from, "%s", from ? from : "");
      snprintf(lt[n].to, sizeof lt[n].to, "%s", to ? to : "");
      lt[n].job = cairn_xstrdup(
          (const char *)sqlite3_column_text(s->part_later, 0));
      lt[n].window = cairn_xstrdup(
          (const char *)sqlite3_column_text(s->part_later, 1));
      lt[n].left = 0;
      n++;
    }
    sqlite3_reset(s->part_later);
    rc = rc == SQLITE_DONE ? CAIRN_OK : fail(s, err, rc, "read claims");
  }
  if (rc < 0 || n == 0)
    goto done;

  kept->vals = cairn_xcalloc(b->n_rows ? b->n_rows * b->n_fields : 1,
                             sizeof *kept->vals);
  for (size_t r = 0; r < b->n_rows; r++) {
    const struct cairn_value *row = b->vals + r * b->n_fields;
    size_t k;
    part_key(c, s->part_cut, row, &key);
    k = row_later(s, c, row, (size_t)set_find(cp, key_str(&key)), lt, n);
    if (k) {
      lt[k - 1].left++;
      continue;
    }
    memcpy(kept->vals + out * b->n_fields, row,
           b->n_fields * sizeof *row);
    out++;
  }
  cairn_debug("%s: chunk of window %s: %zu of its %zu rows are in "
              "partitions a later load claimed, left out",
              s->base.ctx->sink_name, w->key, b->n_rows - out, b->n_rows);
  /* Said once per partition, when a chunk first leaves rows out: a
   * later claim of other days of the month takes none of them. */
  for (size_t k = 0; k < n; k++) {
    struct part_ent *e = &s->parts.ents[lt[k].own];
    if (!lt[k].left || e->warned)
      continue;
    e->warned = 1;
    key_text(cp->ents[lt[k].ent].key, &shown);
    if (!lt[k].whole)
      cairn_buf_printf(&shown, ") for the days %s up to %s (exclusive",
                       lt[k].from, lt[k].to);
    cairn_warn("%s: %s: job %s (window %s) claimed partition (%s) after "
               "window %s of this job did: the later load's rows are the "
               "partition's, so this window leaves out its own rows there "
               "(docs/operations.md, \"Running jobs at once\")",
               s->base.ctx->sink_name, c->name, lt[k].job, lt[k].window,
               shown.data, w->key);
  }
  kept->n_rows = out;
  set_clear(cp);
  chunk_parts(c, s->part_cut, kept, cp, &key);
done:
  for (size_t k = 0; k < n; k++) {
    free(lt[k].job);
    free(lt[k].window);
  }
  free(lt);
  cairn_buf_free(&key);
  cairn_buf_free(&shown);
  return rc;
}

static int sqlite_load(cairn_sink *base, const struct cairn_window *w, long seq,
                       const struct cairn_batch *in, cairn_err *err)
{
  struct sqlite_sink *s = (struct sqlite_sink *)base;
  const struct cairn_contract *c = base->ctx->contract;
  struct part_set cp = {0};
  struct cairn_buf key = {0};
  struct cairn_batch kept = *in; /* in, less what later loads claimed */
  const struct cairn_batch *b = &kept;
  int64_t rid0 = 0;
  int exact = 1;
  int rc;

  if (s->mode == MODE_REPLACE) {
    rc = load_seen_parts(s, w, err);
    if (rc < 0)
      goto out;
    chunk_parts(c, s->part_cut, in, &cp, &key);
  }
  ckpt_wait(s->ckpt, 1);
  rc = exec(s, "BEGIN IMMEDIATE", err);
  if (rc < 0)
    goto out;
  if (s->mode == MODE_REPLACE) {
    rc = check_zones(s, err);
    if (rc == CAIRN_OK)
      rc = drop_later_claimed(s, w, in, &cp, &kept, err);
    if (rc == CAIRN_OK)
      rc = replace_partitions(s, w, &cp, err);
  } else if (c->n_partition) { /* the next replace chunk checks its zones */
    sqlite3_bind_text(s->zone_stale, 1, c->name, -1, SQLITE_STATIC);
    rc = run_stmt(s, s->zone_stale, "mark the zones stale", err);
  }
  if (rc < 0)
    goto fail;
  for (size_t r = 0; r < b->n_rows;) {
    size_t n = s->many > 1 && b->n_rows - r >= s->many ? s->many : 1;
    sqlite3_stmt *st = n > 1 ? s->insert_many : s->insert;
    int64_t last, first;
    for (size_t k = 0; k < n; k++) {
      const struct cairn_value *row = b->vals + (r + k) * b->n_fields;
      if (r + k + PREFETCH_ROWS < b->n_rows)
        prefetch_texts(row + PREFETCH_ROWS * b->n_fields, NULL, c->n_fields);
      for (size_t f = 0; f < c->n_fields; f++)
        bind_value(st, (int)(k * c->n_fields + f) + 1, &row[f]);
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
      rc = insert_failed(s, err);
      sqlite3_reset(st);
      goto fail;
    }
    sqlite3_reset(st);
    /* Rows without a rowid get max(rowid) + 1 in order: consecutive. */
    last = sqlite3_last_insert_rowid(s->db);
    first = last - (int64_t)(n - 1);
    if (r == 0)
      rid0 = first;
    else if (first != rid0 + (int64_t)r)
      exact = 0;
    r += n;
  }
  sqlite3_clear_bindings(s->insert); /* no pointers into the batch */
  if (s->insert_many)
    sqlite3_clear_bindings(s->insert_many);
  if (s->mode == MODE_REPLACE) {
    rc = add_zones(s, &cp, rid0, exact, err);
    if (rc == CAIRN_OK) {
      sqlite3_bind_text(s->zone_mark, 1, c->name, -1, SQLITE_STATIC);
      rc = run_stmt(s, s->zone_mark, "record the zones' mark", err);
    }
    if (rc < 0)
      goto fail;
  }
  sqlite3_bind_text(s->mark, 1, base->ctx->job, -1, SQLITE_STATIC);
  sqlite3_bind_text(s->mark, 2, w->key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s->mark, 3, seq);
  sqlite3_bind_int64(s->mark, 4, (sqlite3_int64)b->n_rows);
  sqlite3_bind_text(s->mark, 5, c->version ? c->version : "", -1,
                    SQLITE_STATIC);
  rc = run_stmt(s, s->mark, "record seq (already loaded?)", err);
  if (rc < 0)
    goto fail;
  rc = exec(s, "COMMIT", err);
  if (rc < 0)
    goto fail;
  for (size_t i = 0; i < cp.n; i++) {
    if (cp.ents[i].fresh) {
      size_t k = set_add(&s->parts, cp.ents[i].key); /* may move ents */
      s->parts.ents[k].claim = cp.ents[i].claim;
    }
  }
  goto out;
fail:
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out:
  if (kept.vals != in->vals)
    free(kept.vals);
  set_clear(&cp);
  cairn_buf_free(&key);
  return rc;
}

/* The durability barrier of a window. Chunks commit with
 * synchronous=NORMAL: a commit survives the process being killed (the WAL
 * is written before COMMIT returns) but not necessarily a power loss. That
 * is safe while the window is open -- the runner resumes from the smallest
 * durable seq of the state and the sinks, and the spool still holds the
 * pages -- so only before the window is marked loaded (and its spool
 * dropped) must everything be on disk: a full checkpoint syncs the WAL and
 * the database file, and truncates the WAL.
 * That checkpoint cannot finish while another connection reads a snapshot
 * that needs the WAL (a dashboard's long read transaction) or writes: it
 * waits FINISH_BUSY_MS for them, then returns SQLITE_BUSY having copied
 * what it could. The window is then made durable the way synchronous=FULL
 * makes a commit durable: by syncing the WAL, which holds every frame
 * committed since it last restarted (a restart needs every frame copied
 * into the database file and that file synced first). The sync goes
 * through SQLite's own handle of the -wal file (SQLITE_FCNTL_JOURNAL_POINTER),
 * so the VFS syncs it as it would itself. The WAL keeps its frames until a
 * later checkpoint finds no such reader; readers read through it. */
static int sqlite_finish(cairn_sink *base, const struct cairn_window *w,
                         long n_seq, const char *logical_time, cairn_err *err)
{
  struct sqlite_sink *s = (struct sqlite_sink *)base;
  sqlite3_file *wal = NULL;
  int frames = 0, copied = 0, rc;
  (void)w;
  (void)n_seq;
  (void)logical_time;
  ckpt_wait(s->ckpt, 0);
  sqlite3_busy_timeout(s->db, FINISH_BUSY_MS);
  rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                 &frames, &copied);
  sqlite3_busy_timeout(s->db, BUSY_MS);
  if (rc == SQLITE_OK)
    return CAIRN_OK;
  if (rc != SQLITE_BUSY ||
      sqlite3_file_control(s->db, "main", SQLITE_FCNTL_JOURNAL_POINTER,
                           &wal) != SQLITE_OK || !wal || !wal->pMethods)
    return fail(s, err, rc, "checkpoint");
  rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
  if (rc != SQLITE_OK)
    return CAIRN_RAISE(err, CAIRN_ESINK, rc, "%s: %s: sync the WAL: %s",
                       base->ctx->sink_name, s->path, sqlite3_errstr(rc));
  cairn_warn("%s: %s: another connection is reading (or writing) the "
             "database, so the window's checkpoint copied %d of the WAL's %d "
             "frames and could not truncate it; synced the WAL instead (the "
             "window is durable); a later checkpoint copies the rest",
             base->ctx->sink_name, s->path, copied, frames);
  return CAIRN_OK;
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
  sqlite3_finalize(s->insert_many);
  sqlite3_finalize(s->max_seq);
  sqlite3_finalize(s->mark);
  sqlite3_finalize(s->part_delete);
  sqlite3_finalize(s->part_mark);
  sqlite3_finalize(s->part_seen);
  sqlite3_finalize(s->part_later);
  sqlite3_finalize(s->zone_take);
  sqlite3_finalize(s->zone_list);
  sqlite3_finalize(s->zone_add);
  sqlite3_finalize(s->zone_forget);
  sqlite3_finalize(s->zone_current);
  sqlite3_finalize(s->zone_mark);
  sqlite3_finalize(s->zone_stale);
  ckpt_stop(s);
  if (s->db)
    sqlite3_close(s->db);
  set_clear(&s->parts);
  cairn_buf_free(&s->fn_key);
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
  sqlite_reset_window, sqlite_close, sqlite_outputs, NULL, sqlite_held_seq,
  NULL,
};
