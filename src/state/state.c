/* SPDX-License-Identifier: MIT */
/* state.c -- the SQLite checkpoint store. See state.h for the model and
 * docs/internals/checkpoints.md for why each write is where it is. */
#include "state/state.h"
#include "core/codec.h"
#include "core/fsx.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/sqlx.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

struct cairn_state {
  sqlite3   *db;
  char      *dir;
  ZSTD_CCtx *zc;   /* the spool's compressor, made on first use and reused */
  char      *run_id; /* the run whose record the chunk and window commits
                        count in (cairn_state_count_for), or NULL */
};

static const char *schema_sql =
  "PRAGMA journal_mode=WAL;"
  /* NORMAL: a commit survives a killed process (the WAL is written before
   * COMMIT returns) but may be lost with the machine's power, as a sink's
   * chunks may before its window is finished: resume starts after the
   * smallest durable seq of the state and the sinks, and each sink skips
   * what it holds (docs/internals/checkpoints.md). */
  "PRAGMA synchronous=NORMAL;"
  /* One transaction: `cairn status` and `cairn dlq` during a first run
   * see no table or every one, never a store with some (they said
   * "prepare: no such table: runs", exit 3, while it was being made). */
  "BEGIN IMMEDIATE;"
  "CREATE TABLE IF NOT EXISTS attempts("
  "  job TEXT NOT NULL, spec TEXT NOT NULL, attempt INTEGER NOT NULL,"
  "  status TEXT NOT NULL, PRIMARY KEY(job, spec));"
  "CREATE TABLE IF NOT EXISTS windows("
  "  job TEXT NOT NULL, window TEXT NOT NULL, attempt INTEGER NOT NULL,"
  "  status TEXT NOT NULL, wstart TEXT, wend TEXT,"
  "  n_chunks INTEGER NOT NULL DEFAULT 0, records INTEGER NOT NULL DEFAULT 0,"
  "  rejects INTEGER NOT NULL DEFAULT 0, pending TEXT, logical_time TEXT,"
  "  PRIMARY KEY(job, window));"
  "CREATE TABLE IF NOT EXISTS chunks("
  "  job TEXT NOT NULL, window TEXT NOT NULL, seq INTEGER NOT NULL,"
  "  stage INTEGER NOT NULL, cursor_in TEXT, cursor_out TEXT,"
  "  last INTEGER NOT NULL DEFAULT 0, spool TEXT, meta TEXT,"
  "  raw_bytes INTEGER NOT NULL DEFAULT 0, records INTEGER NOT NULL DEFAULT 0,"
  "  rejects INTEGER NOT NULL DEFAULT 0, digest TEXT,"
  "  load_count INTEGER NOT NULL DEFAULT 0, contract TEXT,"
  "  PRIMARY KEY(job, window, seq));"
  "CREATE TABLE IF NOT EXISTS kv("
  "  job TEXT NOT NULL, key TEXT NOT NULL, value TEXT,"
  "  PRIMARY KEY(job, key));"
  /* key: the record's contract key (cairn_batch_key), NULL when its key
   * fields did not map cleanly or the reject is from before the column;
   * rows_before: the rows of its chunk before it in source order
   * (cairn_reject.row), NULL in a reject from before that column */
  "CREATE TABLE IF NOT EXISTS quarantine("
  "  job TEXT NOT NULL, window TEXT NOT NULL, seq INTEGER NOT NULL,"
  "  position TEXT NOT NULL, reasons TEXT NOT NULL, raw TEXT, key TEXT,"
  "  rows_before INTEGER, PRIMARY KEY(job, window, seq, position));"
  /* Rejects of attempts that loaded their window, kept when a later
   * attempt extracts only what changed since (CAIRN_CLAIM_KEEP). */
  "CREATE TABLE IF NOT EXISTS quarantine_kept("
  "  job TEXT NOT NULL, window TEXT NOT NULL, attempt INTEGER NOT NULL,"
  "  seq INTEGER NOT NULL, position TEXT NOT NULL, reasons TEXT NOT NULL,"
  "  raw TEXT, key TEXT, PRIMARY KEY(job, window, attempt, seq, position));"
  "CREATE TABLE IF NOT EXISTS runs("
  "  run_id TEXT PRIMARY KEY, job TEXT NOT NULL, spec TEXT, started INTEGER,"
  "  ended INTEGER, status TEXT, exit_code INTEGER, user TEXT, host TEXT,"
  "  job_sha256 TEXT, connector_version TEXT, params TEXT, trace_id TEXT,"
  "  resumed INTEGER, extracted INTEGER, loaded INTEGER, rejected INTEGER,"
  "  chunks INTEGER, chunks_redone INTEGER, message TEXT, outputs TEXT);"
  /* The runs table keeps every run (the audit trail): a year of an hourly
   * job is 8760 rows. These keep what each run and `cairn status` ask of
   * it independent of its length: a job's last runs, everyone's last runs,
   * a job's runs left "running" (to mark them killed), the jobs it names.
   * (Made once, the first time a newer cairn opens an older store.) */
  "CREATE INDEX IF NOT EXISTS runs_job_started ON runs(job, started);"
  "CREATE INDEX IF NOT EXISTS runs_started ON runs(started);"
  "CREATE INDEX IF NOT EXISTS runs_running ON runs(job)"
  "  WHERE status='running';"
  "COMMIT;";

/* What to do about a store SQLite finds damaged (a rerun fails the same
 * way), said where the error is: by `cairn run`, `status` and `dlq`. */
static const char *damaged_hint(int rc)
{
  switch (rc & 0xff) {
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return " (the state store is damaged: restore it from a backup, or move"
           " it and its -wal and -shm files aside to start the state over;"
           " see docs/operations.md)";
  default:
    return "";
  }
}

int cairn_state_damaged(const cairn_err *err)
{
  return err && err->code == CAIRN_ESTATE && *damaged_hint((int)err->cause);
}

/* "state PATH: WHAT: why": the file, so that "database or disk is full"
 * says which disk. */
static int db_fail(cairn_state *st, cairn_err *err, int rc, const char *what)
{
  const char *path = sqlite3_db_filename(st->db, "main");
  return CAIRN_RAISE(err, CAIRN_ESTATE, rc, "state %s: %s: %s%s",
                     path && *path ? path : st->dir, what,
                     cairn_sqlite_why(st->db), damaged_hint(rc));
}

/* Run fixed SQL (no parameters). */
static int exec_sql(cairn_state *st, const char *sql, cairn_err *err)
{
  int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? CAIRN_OK : db_fail(st, err, rc, sql);
}

static int prep(cairn_state *st, const char *sql, sqlite3_stmt **out,
                cairn_err *err)
{
  int rc = sqlite3_prepare_v2(st->db, sql, -1, out, NULL);
  if (rc != SQLITE_OK)
    return db_fail(st, err, rc, "prepare");
  return CAIRN_OK;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
  if (v)
    sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(s, i);
}

static char *col_dup(sqlite3_stmt *s, int i)
{
  const unsigned char *t = sqlite3_column_text(s, i);
  return t ? cairn_xstrdup((const char *)t) : NULL;
}

/* Step a statement expected to finish (no rows), then finalize. */
static int step_done(cairn_state *st, sqlite3_stmt *s, cairn_err *err)
{
  int rc = sqlite3_step(s);
  int out = CAIRN_OK;
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    out = db_fail(st, err, rc, "write");
  sqlite3_finalize(s);
  return out;
}

/* Run sql, a statement that returns no rows, with its parameters ?1, ?2,
 * ... bound from the arguments as 'types' says, one letter each: 't' a
 * const char * (NULL binds NULL), 'i' an int64_t. The one prepare, bind
 * and step of every write below. */
static int exec_args(cairn_state *st, cairn_err *err, const char *sql,
                     const char *types, ...)
{
  sqlite3_stmt *s;
  va_list ap;
  int rc = prep(st, sql, &s, err);
  if (rc < 0)
    return rc;
  assert((int)strlen(types) == sqlite3_bind_parameter_count(s));
  va_start(ap, types);
  for (int i = 0; types[i]; i++) {
    assert(types[i] == 't' || types[i] == 'i');
    if (types[i] == 't')
      bind_text(s, i + 1, va_arg(ap, const char *));
    else
      sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
  }
  va_end(ap);
  return step_done(st, s, err);
}

/* Run sql, which changes the rows of job (?1) and window (?2). */
static int exec_window(cairn_state *st, const char *sql, const char *job,
                       const char *window, cairn_err *err)
{
  return exec_args(st, err, sql, "tt", job, window);
}

/* A single integer from a query binding up to two text parameters (b may
 * be NULL when the query has one); 0 when there is no row. */
static int query_int(cairn_state *st, const char *sql, const char *a,
                     const char *b, int64_t *out, cairn_err *err)
{
  sqlite3_stmt *s;
  int rc = prep(st, sql, &s, err);
  *out = 0;
  if (rc < 0)
    return rc;
  bind_text(s, 1, a);
  if (b)
    bind_text(s, 2, b);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    *out = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? CAIRN_OK
                                               : db_fail(st, err, rc, "query");
}

/* Columns added after the store's first version, for a store an earlier
 * cairn made (each nullable: the rows it holds read as NULL), each added
 * as cairn_sqlite_add_column does (another process may be adding it too).
 * A failure leaves its transaction to the caller's sqlite3_close, which
 * rolls it back. */
static const struct { const char *table, *column, *type; } added[] = {
  { "chunks", "contract", " TEXT" }, { "quarantine", "key", " TEXT" },
  { "quarantine_kept", "key", " TEXT" },
  { "quarantine", "rows_before", " INTEGER" },
  { "runs", "tls_insecure", " INTEGER" },
  /* the run that loaded the window, and its outputs in that run's record
   * (cairn_state_window_loaded) */
  { "windows", "run_id", " TEXT" }, { "windows", "output", " TEXT" },
  /* a sink lost the window: its next load extracts it in full */
  { "windows", "full", " INTEGER" },
};

static int add_columns(sqlite3 *db)
{
  int rc = SQLITE_OK;
  for (size_t i = 0; rc == SQLITE_OK && i < sizeof added / sizeof added[0];
       i++)
    rc = cairn_sqlite_add_column(db, added[i].table, added[i].column,
                                 added[i].type, 10000, NULL);
  return rc;
}

int cairn_state_open(const char *dir, cairn_state **out, cairn_err *err)
{
  cairn_state *st = cairn_xcalloc(1, sizeof *st);
  char *path = NULL;
  int rc, sr; /* a CAIRN_* code, a SQLite one */

  *out = NULL;
  st->dir = cairn_xstrdup(dir);
  rc = cairn_fs_mkdirs(dir, err);
  if (rc < 0)
    goto done;
  path = cairn_path_join(dir, "cairn.db");
  /* One connection per thread (the loader opens its own): no mutexes. */
  if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
                      SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL)
      != SQLITE_OK) {
    sr = st->db ? sqlite3_errcode(st->db) : SQLITE_NOMEM;
    rc = CAIRN_RAISE(err, CAIRN_ESTATE, sr, "state: cannot open %s: %s%s",
                     path, cairn_sqlite_why_at(st->db, path),
                     damaged_hint(sr));
    goto done;
  }
  sqlite3_busy_timeout(st->db, 10000);
  sr = cairn_sqlite_setup(st->db, schema_sql, 10000);
  if (sr == SQLITE_OK)
    sr = add_columns(st->db);
  if (sr != SQLITE_OK)
    rc = CAIRN_RAISE(err, CAIRN_ESTATE, sr, "state: %s: %s%s", path,
                     cairn_sqlite_why(st->db), damaged_hint(sr));
done:
  free(path);
  if (rc < 0) {
    cairn_state_close(st);
    return rc;
  }
  *out = st;
  return CAIRN_OK;
}

/* path as a file: URI with the parameter q (?, # and % escaped). */
static char *file_uri(const char *path, const char *q)
{
  struct cairn_buf b = {0};
  cairn_buf_puts(&b, "file:");
  for (const char *p = path; *p; p++) {
    if (*p == '?' || *p == '#' || *p == '%')
      cairn_buf_printf(&b, "%%%02X", (unsigned char)*p);
    else
      cairn_buf_putc(&b, *p);
  }
  cairn_buf_printf(&b, "?%s", q);
  return cairn_buf_take(&b);
}

int cairn_state_open_read(const char *dir, cairn_state **out, int *on_disk,
                          cairn_err *err)
{
  cairn_state *st = cairn_xcalloc(1, sizeof *st);
  char *path = cairn_path_join(dir, "cairn.db"), *uri = NULL;
  int rc = CAIRN_OK;

  *out = NULL;
  *on_disk = 0;
  st->dir = cairn_xstrdup(dir);
  /* Read-write first (without creating anything) where allowed: such a
   * connection, the last to close, folds the WAL in and removes the -wal
   * and -shm files, where a read-only one would leave them behind, owned
   * by this user, for the service's next run to trip on. */
  static const char *const modes[] = { "mode=rw", "mode=ro", "immutable=1" };
  for (int pass = 0; pass < 3; pass++) {
    int sr;
    uri = file_uri(path, modes[pass]);
    sr = sqlite3_open_v2(uri, &st->db, (pass ? SQLITE_OPEN_READONLY
                                             : SQLITE_OPEN_READWRITE) |
                         SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    if (sr == SQLITE_OK) {
      sqlite3_busy_timeout(st->db, 10000);
      /* opening is lazy: the first read finds out */
      sr = sqlite3_exec(st->db, "SELECT count(*) FROM sqlite_master", NULL,
                        NULL, NULL);
    }
    free(uri);
    if (sr == SQLITE_OK) {
      *on_disk = pass == 2;
      rc = CAIRN_OK;
      break;
    }
    rc = CAIRN_RAISE(err, CAIRN_ESTATE, sr, "state: cannot read %s: %s%s",
                     path, cairn_sqlite_why_at(st->db, path),
                     damaged_hint(sr));
    sqlite3_close(st->db);
    st->db = NULL;
    if ((sr & 0xff) != SQLITE_READONLY && (sr & 0xff) != SQLITE_CANTOPEN)
      break;
  }
  if (rc == CAIRN_OK) {
    /* A store a first run is making (its file exists, its tables are not
     * committed yet) holds no state yet: said so, not "no such table". */
    int64_t made = 0;
    rc = query_int(st, "SELECT count(*) FROM sqlite_master WHERE"
                       " type='table' AND name='runs'", NULL, NULL, &made,
                   err);
    if (rc == CAIRN_OK && !made)
      rc = CAIRN_DONE;
  }
  free(path);
  if (rc != CAIRN_OK) {
    cairn_state_close(st);
    return rc;
  }
  *out = st;
  return CAIRN_OK;
}

void cairn_state_close(cairn_state *st)
{
  if (!st)
    return;
  sqlite3_close(st->db);
  ZSTD_freeCCtx(st->zc);
  free(st->dir);
  free(st->run_id);
  free(st);
}

const char *cairn_state_dir(const cairn_state *st)
{
  return st->dir;
}

static int begin(cairn_state *st, cairn_err *err)
{
  return exec_sql(st, "BEGIN IMMEDIATE", err);
}

static int commit(cairn_state *st, cairn_err *err)
{
  return exec_sql(st, "COMMIT", err);
}

static void rollback(cairn_state *st)
{
  sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- attempts ---------------------------------------------------------- */

static char *window_spool_dir(cairn_state *st, const char *job,
                              const char *window)
{
  return cairn_strfmt("%s/spool/%s/%s", st->dir, job, window);
}

/* Remove the spooled pages of (job, window). */
static int drop_spool(cairn_state *st, const char *job, const char *window,
                      cairn_err *err)
{
  char *dir = window_spool_dir(st, job, window);
  int rc = cairn_fs_remove_tree(dir, err);
  free(dir);
  return rc;
}

int cairn_state_open_attempt(cairn_state *st, const char *job,
                             const char *spec, long *attempt, cairn_err *err)
{
  int64_t a;
  int rc = query_int(st, "SELECT attempt FROM attempts WHERE job=? AND"
                         " spec=? AND status='open'", job, spec, &a, err);
  *attempt = (long)a;
  return rc;
}

int cairn_state_attempt_had(cairn_state *st, const char *job,
                            const char *spec, int *had, cairn_err *err)
{
  int64_t n;
  int rc = query_int(st, "SELECT count(*) FROM attempts WHERE job=? AND"
                         " spec=?", job, spec, &n, err);
  *had = n > 0;
  return rc;
}

int cairn_state_window_open_any(cairn_state *st, const char *job,
                                int *any, cairn_err *err)
{
  int64_t n;
  int rc = query_int(st, "SELECT count(*) FROM windows WHERE job=? AND"
                         " status<>'loaded'", job, NULL, &n, err);
  *any = rc < 0 || n > 0;
  return rc;
}

static int query_json(cairn_state *st, const char *sql, const char *job,
                      int limit, json_t **out, cairn_err *err);

int cairn_state_attempt_begin(cairn_state *st, const char *job,
                              const char *spec, int fresh, long *attempt,
                              int *resumed, long *discarded, cairn_err *err)
{
  sqlite3_stmt *s = NULL;
  json_t *dropped = NULL; /* the windows whose spool goes (fresh) */
  long cur = 0;
  int open, rc;

  *attempt = 0;
  *resumed = 0;
  *discarded = 0;
  rc = begin(st, err);
  if (rc < 0)
    return rc;
  /* (a finished attempt's number is counted by the max below) */
  rc = cairn_state_open_attempt(st, job, spec, &cur, err);
  if (rc < 0)
    goto fail;
  open = cur > 0;
  if (open && !fresh) {
    *attempt = cur;
    *resumed = 1;
    return commit(st, err);
  }
  if (open && fresh) {
    /* Drop the open attempt's checkpoints: its windows go back to nobody
     * (attempt 0), so the new attempt reclaims and resets them. */
    rc = prep(st,
              "SELECT count(*) FROM chunks c JOIN windows w ON"
              " c.job=w.job AND c.window=w.window WHERE w.job=? AND"
              " w.attempt=? AND w.status='open'", &s, err);
    if (rc < 0)
      goto fail;
    bind_text(s, 1, job);
    sqlite3_bind_int64(s, 2, cur);
    if (sqlite3_step(s) == SQLITE_ROW)
      *discarded = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    /* Their spooled pages (the source's raw data) go too: a window this
     * run does not reach (a day job's --fresh runs its own day) would
     * keep them until a backfill claimed it. */
    rc = query_json(st, "SELECT window FROM windows WHERE job=?1 AND"
                        " attempt=?2 AND status='open'", job, (int)cur,
                    &dropped, err);
    if (rc < 0)
      goto fail;
    rc = exec_args(st, err, "UPDATE windows SET attempt=0 WHERE job=? AND"
                            " attempt=? AND status='open'", "ti", job,
                   (int64_t)cur);
    if (rc < 0)
      goto fail;
  }
  /* Numbered per job, not per spec: windows remember only the number of
   * the attempt that loaded them, so a backfill's attempt must never share
   * one with the nightly run's or another range's, or it would take their
   * windows for its own and skip them. */
  rc = prep(st, "SELECT max(m) FROM (SELECT max(attempt) AS m FROM attempts"
                " WHERE job=?1 UNION ALL SELECT max(attempt) FROM windows"
                " WHERE job=?1)", &s, err);
  if (rc < 0)
    goto fail;
  bind_text(s, 1, job);
  if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int64(s, 0) > cur)
    cur = (long)sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  s = NULL;
  rc = exec_args(st, err, "INSERT INTO attempts(job, spec, attempt, status)"
                          " VALUES(?, ?, ?, 'open') ON CONFLICT(job, spec)"
                          " DO UPDATE SET attempt=excluded.attempt,"
                          " status='open'", "tti", job, spec,
                 (int64_t)cur + 1);
  if (rc < 0)
    goto fail;
  *attempt = cur + 1;
  rc = commit(st, err);
  for (size_t i = 0; rc == CAIRN_OK && i < json_array_size(dropped); i++) {
    const char *w = json_string_value(
        json_object_get(json_array_get(dropped, i), "window"));
    if (w)
      drop_spool(st, job, w, NULL);
  }
  json_decref(dropped);
  return rc;
fail:
  sqlite3_finalize(s);
  json_decref(dropped);
  rollback(st);
  return rc;
}

int cairn_state_attempt_done(cairn_state *st, const char *job,
                             const char *spec, cairn_err *err)
{
  return exec_args(st, err, "UPDATE attempts SET status='done' WHERE job=?"
                            " AND spec=?", "tt", job, spec);
}

/* ---- windows ----------------------------------------------------------- */

void cairn_window_row_clear(struct cairn_window_row *r)
{
  free(r->logical_time);
  memset(r, 0, sizeof *r);
}

int cairn_state_window_get(cairn_state *st, const char *job,
                           const struct cairn_window *w,
                           struct cairn_window_row *out, cairn_err *err)
{
  sqlite3_stmt *s;
  int rc;

  memset(out, 0, sizeof *out);
  rc = prep(st, "SELECT attempt, status, n_chunks, records, rejects,"
                " logical_time, full FROM windows WHERE job=? AND window=?", &s,
            err);
  if (rc < 0)
    return rc;
  bind_text(s, 1, job);
  bind_text(s, 2, w->key);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    out->attempt = sqlite3_column_int(s, 0);
    out->loaded = strcmp((const char *)sqlite3_column_text(s, 1), "loaded")
                  == 0;
    out->n_chunks = sqlite3_column_int(s, 2);
    out->records = sqlite3_column_int64(s, 3);
    out->rejects = sqlite3_column_int64(s, 4);
    out->logical_time = col_dup(s, 5);
    out->full = sqlite3_column_int(s, 6);
    rc = CAIRN_OK;
  } else if (rc == SQLITE_DONE) {
    rc = CAIRN_OK;
  } else {
    rc = db_fail(st, err, rc, "read window");
  }
  sqlite3_finalize(s);
  return rc;
}

/* One text value from a query of job (?1), a text (?2) and, when it has
 * ?3, an integer; *out NULL when there is no row or the value is NULL. */
static int query_text(cairn_state *st, const char *sql, const char *job,
                      const char *t, int64_t i, char **out, cairn_err *err)
{
  sqlite3_stmt *s;
  int rc = prep(st, sql, &s, err);

  *out = NULL;
  if (rc < 0)
    return rc;
  bind_text(s, 1, job);
  bind_text(s, 2, t);
  if (sqlite3_bind_parameter_count(s) >= 3)
    sqlite3_bind_int64(s, 3, i);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    *out = col_dup(s, 0);
  sqlite3_finalize(s);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? CAIRN_OK
                                               : db_fail(st, err, rc, "query");
}

int cairn_state_attempt_first(cairn_state *st, const char *job,
                              long attempt, char **start, cairn_err *err)
{
  /* (wstart > '': the window `all` has no start; a job given a window
   * kind since has had one) */
  return query_text(st, "SELECT min(wstart) FROM windows WHERE job=?1 AND"
                        " attempt=?3 AND wstart > ''", job, NULL, attempt,
                    start, err);
}

int cairn_state_loaded_before(cairn_state *st, const char *job,
                              const char *before, char **end, cairn_err *err)
{
  return query_text(st, "SELECT wend FROM windows WHERE job=?1 AND"
                        " status='loaded' AND wstart > '' AND wend > '' AND"
                        " wstart < ?2 ORDER BY wstart DESC LIMIT 1", job,
                    before, 0, end, err);
}

int cairn_state_window_kept_drop(cairn_state *st, const char *job,
                                 const struct cairn_window *w,
                                 cairn_err *err)
{
  return exec_window(st, "DELETE FROM quarantine_kept WHERE job=?1 AND"
                         " window=?2", job, w->key, err);
}

/* Whether sql (job ?1, window ?2; an EXISTS) finds a row: *keyed. */
static int window_keyed(cairn_state *st, const char *sql, const char *job,
                        const struct cairn_window *w, int *keyed,
                        cairn_err *err)
{
  int64_t n;
  int rc = query_int(st, sql, job, w->key, &n, err);
  *keyed = n > 0;
  return rc;
}

int cairn_state_window_kept_keyed(cairn_state *st, const char *job,
                                  const struct cairn_window *w, int *keyed,
                                  cairn_err *err)
{
  return window_keyed(st, "SELECT EXISTS (SELECT 1 FROM quarantine_kept"
                          " WHERE job=?1 AND window=?2 AND key IS NOT NULL)",
                      job, w, keyed, err);
}

int cairn_state_window_rejects_keyed(cairn_state *st, const char *job,
                                     const struct cairn_window *w,
                                     int *keyed, cairn_err *err)
{
  return window_keyed(st, "SELECT EXISTS (SELECT 1 FROM quarantine"
                          " WHERE job=?1 AND window=?2 AND key IS NOT NULL)",
                      job, w, keyed, err);
}

int cairn_state_window_full(cairn_state *st, const char *job,
                            const struct cairn_window *w, cairn_err *err)
{
  return exec_window(st, "UPDATE windows SET full=1 WHERE job=?1 AND"
                         " window=?2", job, w->key, err);
}

int cairn_state_window_claim(cairn_state *st, const char *job,
                             const struct cairn_window *w, long attempt,
                             enum cairn_claim claim, cairn_err *err)
{
  /* The chunks and the rejects of the attempt that owned it: the DLQ
   * lists what the loaded data lacks, and a reject left from before would
   * hide a new one at the same position (INSERT OR IGNORE). Rejects the
   * source will not send again move aside first. */
  int rc = begin(st, err);
  if (rc < 0)
    return rc;
  if (claim == CAIRN_CLAIM_KEEP)
    rc = exec_window(st, "INSERT OR IGNORE INTO quarantine_kept(job, window,"
                         " attempt, seq, position, reasons, raw, key) SELECT"
                         " q.job, q.window, w.attempt, q.seq, q.position,"
                         " q.reasons, q.raw, q.key FROM quarantine q JOIN"
                         " windows w ON w.job=q.job AND w.window=q.window"
                         " WHERE q.job=?1 AND q.window=?2", job, w->key, err);
  if (rc == CAIRN_OK)
    rc = exec_window(st, "DELETE FROM chunks WHERE job=?1 AND window=?2",
                     job, w->key, err);
  if (rc == CAIRN_OK)
    rc = exec_window(st, "DELETE FROM quarantine WHERE job=?1 AND"
                         " window=?2", job, w->key, err);
  if (rc < 0)
    goto fail;
  rc = exec_args(st, err, "INSERT INTO windows(job, window, attempt, status,"
                          " wstart, wend) VALUES(?, ?, ?, 'open', ?, ?) ON"
                          " CONFLICT(job, window) DO UPDATE SET"
                          " attempt=excluded.attempt, status='open',"
                          " n_chunks=0, records=0, rejects=0, pending=NULL,"
                          " logical_time=NULL", "ttitt", job, w->key,
                 (int64_t)attempt, w->start, w->end);
  if (rc < 0)
    goto fail;
  rc = commit(st, err);
  if (rc == CAIRN_OK)
    drop_spool(st, job, w->key, NULL);
  return rc;
fail:
  rollback(st);
  return rc;
}

int cairn_state_window_set_time(cairn_state *st, const char *job,
                                const struct cairn_window *w,
                                const char *logical_time, cairn_err *err)
{
  return exec_args(st, err, "UPDATE windows SET logical_time=? WHERE job=?"
                            " AND window=?", "ttt", logical_time, job,
                   w->key);
}

int cairn_state_window_stage_kv(cairn_state *st, const char *job,
                                const struct cairn_window *w, const char *key,
                                const char *value, cairn_err *err)
{
  return exec_args(st, err, "UPDATE windows SET pending=json_set(coalesce("
                            "pending, '{}'), '$.' || json_quote(?), ?) WHERE"
                            " job=? AND window=?", "tttt", key, value, job,
                   w->key);
}

int cairn_state_window_loaded(cairn_state *st, const char *job,
                              const struct cairn_window *w, long n_chunks,
                              const char *output, cairn_err *err)
{
  int rc = begin(st, err);
  if (rc < 0)
    return rc;
  rc = exec_window(st, "INSERT INTO kv(job, key, value) SELECT ?1, j.key,"
                       " j.value FROM windows, json_each(windows.pending) AS"
                       " j WHERE windows.job=?1 AND windows.window=?2 AND"
                       " pending IS NOT NULL ON CONFLICT(job, key) DO UPDATE"
                       " SET value=excluded.value", job, w->key, err);
  if (rc < 0)
    goto fail;
  rc = exec_args(st, err, "UPDATE windows SET status='loaded', pending=NULL,"
                          " full=NULL, n_chunks=?1, records=(SELECT"
                          " coalesce(sum(records),0) FROM chunks WHERE"
                          " job=?2 AND window=?3), rejects=(SELECT"
                          " coalesce(sum(rejects),0) FROM chunks WHERE"
                          " job=?2 AND window=?3), run_id=?4, output=?5"
                          " WHERE job=?2 AND window=?3",
                 "ittt" "t", (int64_t)n_chunks, job, w->key, st->run_id,
                 output);
  if (rc < 0)
    goto fail;
  /* A kept reject of a record this attempt rejected again (the source
   * sent it again, changed or not, or fell back to a full sync): listed
   * once, as this one's. The same record: the same contract key, or, for
   * a reject without one (its key fields did not map cleanly, or it is
   * from before the column), the same raw text. */
  rc = exec_window(st, "DELETE FROM quarantine_kept WHERE job=?1 AND"
                       " window=?2 AND (raw IN (SELECT raw FROM quarantine"
                       " WHERE job=?1 AND window=?2) OR key IN (SELECT key"
                       " FROM quarantine WHERE job=?1 AND window=?2 AND key"
                       " IS NOT NULL))", job, w->key, err);
  if (rc < 0)
    goto fail;
  return commit(st, err);
fail:
  rollback(st);
  return rc;
}

/* ---- chunks ------------------------------------------------------------ */

void cairn_chunk_row_clear(struct cairn_chunk_row *r)
{
  free(r->cursor_in);
  free(r->cursor_out);
  free(r->spool);
  free(r->meta);
  memset(r, 0, sizeof *r);
}

int cairn_state_chunk_get(cairn_state *st, const char *job,
                          const struct cairn_window *w, long seq,
                          struct cairn_chunk_row *out, cairn_err *err)
{
  sqlite3_stmt *s;
  int rc;

  memset(out, 0, sizeof *out);
  rc = prep(st, "SELECT stage, cursor_in, cursor_out, last, spool, meta,"
                " raw_bytes, records, rejects, digest, load_count FROM chunks"
                " WHERE job=? AND window=? AND seq=?", &s, err);
  if (rc < 0)
    return rc;
  bind_text(s, 1, job);
  bind_text(s, 2, w->key);
  sqlite3_bind_int64(s, 3, seq);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    const unsigned char *d;
    out->stage = sqlite3_column_int(s, 0);
    out->cursor_in = col_dup(s, 1);
    out->cursor_out = col_dup(s, 2);
    out->last = sqlite3_column_int(s, 3);
    out->spool = col_dup(s, 4);
    out->meta = col_dup(s, 5);
    out->raw_bytes = sqlite3_column_int64(s, 6);
    out->records = sqlite3_column_int64(s, 7);
    out->rejects = sqlite3_column_int64(s, 8);
    d = sqlite3_column_text(s, 9);
    if (d)
      snprintf(out->digest, sizeof out->digest, "%s", (const char *)d);
    out->load_count = sqlite3_column_int(s, 10);
    rc = CAIRN_OK;
  } else if (rc == SQLITE_DONE) {
    rc = CAIRN_OK;
  } else {
    rc = db_fail(st, err, rc, "read chunk");
  }
  sqlite3_finalize(s);
  return rc;
}

int cairn_state_loaded_seq(cairn_state *st, const char *job,
                           const struct cairn_window *w, long *seq,
                           cairn_err *err)
{
  int64_t v;
  int rc = query_int(st, "SELECT coalesce(max(seq), 0) FROM chunks WHERE"
                         " job=? AND window=? AND stage=3", job, w->key, &v,
                     err);
  *seq = (long)v;
  return rc;
}

int cairn_state_contract_other(cairn_state *st, const char *job,
                               const struct cairn_window *w,
                               const char *contract,
                               struct cairn_contract_other *out,
                               cairn_err *err)
{
  sqlite3_stmt *s;
  int rc = prep(st, "SELECT o.n, (SELECT max(seq) FROM chunks WHERE job=?1"
                    " AND window=?2), o.first, o.contract FROM (SELECT"
                    " count(*) AS n, min(seq) AS first, contract FROM chunks"
                    " WHERE job=?1 AND window=?2 AND contract IS NOT NULL AND"
                    " contract IS NOT ?3 HAVING n > 0) AS o", &s, err);
  memset(out, 0, sizeof *out);
  if (rc < 0)
    return rc;
  bind_text(s, 1, job);
  bind_text(s, 2, w->key);
  bind_text(s, 3, contract);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    out->n = sqlite3_column_int64(s, 0);
    out->of = sqlite3_column_int64(s, 1);
    out->first = sqlite3_column_int64(s, 2);
    out->contract = col_dup(s, 3);
  }
  sqlite3_finalize(s);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? CAIRN_OK
                                               : db_fail(st, err, rc, "query");
}

int cairn_state_chunk_extracted(cairn_state *st, const char *job,
                                const struct cairn_window *w, long seq,
                                const char *cursor_in, const char *cursor_out,
                                int last, const char *spool, const char *meta,
                                int64_t raw_bytes, cairn_err *err)
{
  return exec_args(st, err, "INSERT OR REPLACE INTO chunks(job, window, seq,"
                            " stage, cursor_in, cursor_out, last, spool,"
                            " meta, raw_bytes) VALUES(?, ?, ?, 1, ?, ?, ?,"
                            " ?, ?, ?)", "ttittitti", job, w->key,
                   (int64_t)seq, cursor_in, cursor_out, (int64_t)last, spool,
                   meta, raw_bytes);
}

/* The rejects of earlier chunks of w with the contract key of one of b's
 * (the same record, rejected again: a sorted watermark's resume asks
 * again from the mark, Graph delta may send a user twice) go, each
 * uncounted from its chunk: the record is listed and counted once, as
 * its latest reject. *replaced: how many went. */
static int rejects_replace(cairn_state *st, const char *job,
                           const struct cairn_window *w, long seq,
                           const struct cairn_batch *b, long *replaced,
                           cairn_err *err)
{
  json_t *keys = json_array();
  char *text;
  int rc = CAIRN_OK;

  for (size_t i = 0; i < b->n_rejects; i++)
    if (b->rejects[i].key)
      json_array_append_new(keys, json_string(b->rejects[i].key));
  if (json_array_size(keys) == 0) {
    json_decref(keys);
    return CAIRN_OK;
  }
  text = json_dumps(keys, JSON_COMPACT);
  json_decref(keys);
  rc = exec_args(st, err, "UPDATE chunks SET rejects=rejects-(SELECT"
                          " count(*) FROM quarantine q WHERE q.job=?1 AND"
                          " q.window=?2 AND q.seq=chunks.seq AND q.key IN"
                          " (SELECT value FROM json_each(?4))) WHERE job=?1"
                          " AND window=?2 AND seq<?3", "ttit", job, w->key,
                 (int64_t)seq, text);
  if (rc == CAIRN_OK)
    rc = exec_args(st, err, "DELETE FROM quarantine WHERE job=?1 AND"
                            " window=?2 AND seq<?3 AND key IN (SELECT value"
                            " FROM json_each(?4))", "ttit", job, w->key,
                   (int64_t)seq, text);
  if (rc == CAIRN_OK)
    *replaced = (long)sqlite3_changes(st->db);
  free(text);
  return rc;
}

int cairn_state_chunk_transformed(cairn_state *st, const char *job,
                                  const struct cairn_window *w, long seq,
                                  const struct cairn_batch *b,
                                  const char *contract, long *replaced,
                                  cairn_err *err)
{
  sqlite3_stmt *s = NULL;
  long n = 0;
  int rc = begin(st, err);
  if (rc < 0)
    return rc;
  rc = exec_args(st, err, "UPDATE chunks SET stage=max(stage, 2),"
                          " records=?, rejects=?, contract=? WHERE job=? AND"
                          " window=? AND seq=?", "iittti",
                 (int64_t)b->n_rows, (int64_t)b->n_rejects, contract, job,
                 w->key, (int64_t)seq);
  if (rc == CAIRN_OK && b->n_rejects)
    rc = rejects_replace(st, job, w, seq, b, &n, err);
  /* a record rejected again is one reject in the run records' sum, as in
   * the DLQ (the run that rejected it first counted it) */
  if (rc == CAIRN_OK && st->run_id)
    rc = exec_args(st, err, "UPDATE runs SET extracted=extracted+?,"
                            " rejected=rejected+? WHERE run_id=?", "iit",
                   (int64_t)(b->n_rows + b->n_rejects),
                   (int64_t)b->n_rejects - n, st->run_id);
  if (rc < 0)
    goto fail;
  if (b->n_rejects) {
    rc = prep(st, "INSERT OR IGNORE INTO quarantine(job, window, seq,"
                  " position, reasons, raw, key, rows_before)"
                  " VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
              &s, err);
    if (rc < 0)
      goto fail;
    for (size_t i = 0; i < b->n_rejects; i++) {
      sqlite3_reset(s);
      bind_text(s, 1, job);
      bind_text(s, 2, w->key);
      sqlite3_bind_int64(s, 3, seq);
      bind_text(s, 4, b->rejects[i].position);
      bind_text(s, 5, b->rejects[i].reasons);
      /* its length: a raw record may hold NUL bytes */
      sqlite3_bind_text(s, 6, b->rejects[i].raw, (int)b->rejects[i].raw_len,
                        SQLITE_STATIC);
      bind_text(s, 7, b->rejects[i].key);
      sqlite3_bind_int64(s, 8, (sqlite3_int64)b->rejects[i].row);
      rc = sqlite3_step(s);
      if (rc != SQLITE_DONE) {
        rc = db_fail(st, err, rc, "quarantine");
        goto fail;
      }
    }
    sqlite3_finalize(s);
    s = NULL;
  }
  rc = commit(st, err);
  if (rc == CAIRN_OK && replaced)
    *replaced = n;
  return rc;
fail:
  sqlite3_finalize(s);
  rollback(st);
  return rc < 0 ? rc : CAIRN_ESTATE;
}

int cairn_state_chunk_loaded(cairn_state *st, const char *job,
                             const struct cairn_window *w, long seq,
                             const char *digest, const char *keys,
                             cairn_err *err)
{
  int rc;

  if (keys || st->run_id) {
    rc = begin(st, err);
    if (rc < 0)
      return rc;
  }
  rc = exec_args(st, err, "UPDATE chunks SET stage=3,"
                          " load_count=load_count+1, digest=? WHERE job=? AND"
                          " window=? AND seq=? AND stage<3", "ttti", digest,
                 job, w->key, (int64_t)seq);
  if (rc == CAIRN_OK && st->run_id && sqlite3_changes(st->db) > 0)
    rc = exec_args(st, err, "UPDATE runs SET chunks=chunks+1, loaded=loaded+"
                            "(SELECT records FROM chunks WHERE job=? AND"
                            " window=? AND seq=?) WHERE run_id=?", "ttit",
                   job, w->key, (int64_t)seq, st->run_id);
  if (!keys && !st->run_id)
    return rc;
  /* The rejects kept for w of records this chunk loaded: in the chunk's
   * transaction, so that they go exactly when it counts as loaded. */
  if (rc == CAIRN_OK && keys)
    rc = exec_args(st, err, "DELETE FROM quarantine_kept WHERE job=?1 AND"
                            " window=?2 AND key IN (SELECT value FROM"
                            " json_each(?3))", "ttt", job, w->key, keys);
  /* This attempt's own rejects (quarantine) of records loaded after them
   * in source order: in an earlier chunk, or earlier in this one (fewer
   * rows before the reject than the index of a row with its key; keys is
   * row-aligned). A reject of a later chunk, or one after the row, stands:
   * the record's latest version is the rejected one. Rejects whose
   * rows_before is NULL (made before the column) only match from earlier
   * chunks. */
  if (rc == CAIRN_OK && keys)
    rc = exec_args(st, err, "DELETE FROM quarantine WHERE job=?1 AND"
                            " window=?2 AND seq<=?4 AND key IN (SELECT value"
                            " FROM json_each(?3)) AND (seq<?4 OR EXISTS"
                            " (SELECT 1 FROM json_each(?3) j WHERE"
                            " j.value=quarantine.key AND"
                            " j.key>=quarantine.rows_before))", "ttti", job,
                   w->key, keys, (int64_t)seq);
  if (rc < 0) {
    rollback(st);
    return rc;
  }
  return commit(st, err);
}

int cairn_state_window_digest(cairn_state *st, const char *job,
                              const struct cairn_window *w, char out[65],
                              cairn_err *err)
{
  struct cairn_sha256 h;
  sqlite3_stmt *s;
  int rc = prep(st, "SELECT digest FROM chunks WHERE job=? AND window=?"
                    " ORDER BY seq", &s, err);
  if (rc < 0)
    return rc;
  bind_text(s, 1, job);
  bind_text(s, 2, w->key);
  cairn_sha256_init(&h);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const unsigned char *d = sqlite3_column_text(s, 0);
    if (d)
      cairn_sha256_update(&h, d, strlen((const char *)d));
  }
  sqlite3_finalize(s);
  cairn_sha256_final_hex(&h, out);
  return rc == SQLITE_DONE ? CAIRN_OK : db_fail(st, err, rc, "digest");
}

/* ---- spool -------------------------------------------------------------
 *
 * A window's pages go into one file, <state>/spool/<job>/<window>/pages.zst,
 * one zstd frame (with its content checksum) per page, appended; the chunk
 * row's spool column says where: "<file>#<offset>,<length>". (One file per
 * page cost an inode allocation each, a noticeable part of a run on ext4;
 * rows written before this layout hold a plain path to a whole-file frame,
 * and are still read.)
 *
 * Why there is no fsync. The spool keeps a raw page so that a resumed run
 * does not fetch an extracted page again. When the process is killed, even
 * by SIGKILL, the kernel keeps everything it had been given: a frame whose
 * write() returned is there and whole, and a frame cut short by the kill is
 * at the end of the file where no row refers to it (the row is committed
 * only after the write, and the next append goes after it). So no fsync is
 * needed for "kill at any instant". One only matters for a power loss or
 * an OS crash, and there the state store itself (synchronous=NORMAL) may
 * already lose its newest commits: the protocol is built to resume from a
 * state that is *behind* (a missing chunk row is fetched again from the
 * previous chunk's cursor_out, and a sink skips the seqs it holds). A
 * spooled page lost the same way -- file missing or too short, frame
 * empty, damaged or failing its checksum -- is treated as exactly that:
 * spool_get says CAIRN_DONE, and the runner forgets that chunk and every
 * later one of the window (rows and quarantine, cairn_state_chunks_forget)
 * and fetches the page again from the checkpointed cursor_in, a state the
 * store could have been left in anyway. Each page used to be fsynced twice
 * (file and directory): 400 fsyncs for a 200-page window. */

#define SPOOL_FILE "pages.zst"

/* Split a spool reference "<path>#<offset>,<length>" (1) or a plain path to
 * a whole file (0); *path is new either way. */
static int spool_ref(const char *ref, char **path, uint64_t *off,
                     uint64_t *len)
{
  const char *h = strrchr(ref, '#');
  char *end;
  if (h && h[1] >= '0' && h[1] <= '9') {
    unsigned long long o = strtoull(h + 1, &end, 10), n;
    if (*end == ',' && end[1] >= '0' && end[1] <= '9') {
      n = strtoull(end + 1, &end, 10);
      if (*end == '\0') {
        *path = cairn_xstrndup(ref, (size_t)(h - ref));
        *off = o;
        *len = n;
        return 1;
      }
    }
  }
  *path = cairn_xstrdup(ref);
  *off = *len = 0;
  return 0;
}

int cairn_state_spool_put(cairn_state *st, const char *job,
                          const struct cairn_window *w, long seq,
                          const void *data, size_t len, char **path_out,
                          cairn_err *err)
{
  char *dir = window_spool_dir(st, job, w->key);
  char *path = cairn_strfmt("%s/" SPOOL_FILE, dir);
  size_t bound = ZSTD_compressBound(len), n;
  char *z = cairn_xmalloc(bound);
  off_t off = -1;
  int fd = -1, rc;

  (void)seq; /* the row that refers to the frame carries the seq */
  *path_out = NULL;
  if (!st->zc) {
    st->zc = ZSTD_createCCtx();
    if (!st->zc) {
      rc = CAIRN_RAISE(err, CAIRN_ENOMEM, 0, "spool: no zstd context");
      goto done;
    }
  }
  ZSTD_CCtx_reset(st->zc, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(st->zc, ZSTD_c_compressionLevel, 1);
  ZSTD_CCtx_setParameter(st->zc, ZSTD_c_checksumFlag, 1);
  n = ZSTD_compress2(st->zc, z, bound, data, len);
  if (ZSTD_isError(n)) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, 0, "spool compress: %s",
                     ZSTD_getErrorName(n));
    goto done;
  }
  /* The pages are the source's own bytes, personal data a PII policy
   * hashes or drops included (it applies after them): readable by the
   * user cairn runs as only, whatever the umask, though status and dlq
   * readers may read the state store beside them. st->dir holds the
   * store, so only spool/<job>/<window> are made here. */
  rc = cairn_fs_mkdirs_private(dir, err);
  if (rc < 0)
    goto done;
  /* Appended after whatever the file holds, a frame cut short by a kill
   * included; one writer (the run holds the job's lock). No fsync: see
   * above. */
  fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
            0600);
  if (fd >= 0)
    off = lseek(fd, 0, SEEK_END);
  if (fd < 0 || off < 0) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "spool %s: %s", path,
                     strerror(errno));
    goto done;
  }
  rc = cairn_fs_write_all(fd, z, n, path, err);
  if (rc < 0) {
    if (ftruncate(fd, off) != 0) { /* best effort; unreferenced anyway */
    }
    goto done;
  }
  *path_out = cairn_strfmt("%s#%lld,%zu", path, (long long)off, n);
done:
  if (fd >= 0)
    close(fd);
  free(z);
  free(path);
  free(dir);
  return rc;
}

/* Read len bytes at off of path into out (appends); 1 when the file is
 * missing or shorter, 0 when read, or an error. */
static int read_at(const char *path, uint64_t off, uint64_t len,
                   struct cairn_buf *out, cairn_err *err)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  char *dst;
  uint64_t got = 0;
  int rc = 0;

  if (fd < 0)
    return errno == ENOENT ? 1 : CAIRN_RAISE(err, CAIRN_EIO, errno,
                                             "spool %s: %s", path,
                                             strerror(errno));
  dst = cairn_buf_reserve(out, (size_t)len);
  while (got < len) {
    ssize_t k = pread(fd, dst + got, (size_t)(len - got), (off_t)(off + got));
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0) {
      rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "spool read %s: %s", path,
                       strerror(errno));
      break;
    }
    if (k == 0) {
      rc = 1; /* short: the file lost its end */
      break;
    }
    got += (uint64_t)k;
  }
  close(fd);
  if (rc == 0)
    out->len += (size_t)len;
  return rc;
}

int cairn_state_spool_get(cairn_state *st, const char *ref,
                          struct cairn_buf *out, cairn_err *err)
{
  struct cairn_buf z = {0};
  unsigned long long size;
  uint64_t off, len;
  const char *why = NULL;
  char *path = NULL, *dst;
  size_t n;
  int rc;

  (void)st;
  if (spool_ref(ref, &path, &off, &len)) {
    rc = read_at(path, off, len, &z, err);
  } else if (!cairn_fs_exists(path)) {
    rc = 1;
  } else {
    rc = cairn_fs_read_all(path, &z, err); /* a page file of the old layout */
  }
  if (rc < 0)
    goto done;
  if (rc == 1) {
    why = "missing or cut short";
    goto done;
  }
  size = ZSTD_getFrameContentSize(z.data, z.len);
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    why = z.len ? "not a zstd frame" : "empty";
    goto done;
  }
  dst = cairn_buf_reserve(out, (size_t)size);
  n = ZSTD_decompress(dst, (size_t)size, z.data, z.len);
  if (ZSTD_isError(n) || n != size) {
    why = ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short";
    goto done;
  }
  out->len += n;
  out->data[out->len] = '\0';
done:
  if (why) {
    cairn_warn("spooled page %s is lost (%s): its chunk counts as not "
               "extracted", ref, why);
    rc = CAIRN_DONE;
  }
  cairn_buf_free(&z);
  free(path);
  return rc;
}

int cairn_state_chunks_forget(cairn_state *st, const char *job,
                              const struct cairn_window *w, long from_seq,
                              cairn_err *err)
{
  /* Their frames stay in the window's spool file, unreferenced, until the
   * window's spool directory goes. */
  static const char *const del[] = {
    "DELETE FROM quarantine WHERE job=? AND window=? AND seq>=?",
    "DELETE FROM chunks WHERE job=? AND window=? AND seq>=?",
  };
  int rc = begin(st, err);

  if (rc < 0)
    return rc;
  for (size_t i = 0; i < sizeof del / sizeof del[0]; i++) {
    rc = exec_args(st, err, del[i], "tti", job, w->key, (int64_t)from_seq);
    if (rc < 0)
      break;
  }
  if (rc < 0) {
    rollback(st);
    return rc;
  }
  return commit(st, err);
}

int cairn_state_spool_sync(cairn_state *st, const char *job,
                           const struct cairn_window *w, cairn_err *err)
{
  char *dir = window_spool_dir(st, job, w->key);
  struct dirent *de;
  DIR *d = opendir(dir);
  int rc = CAIRN_OK;

  if (!d) {
    if (errno != ENOENT)
      rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "spool %s: %s", dir,
                       strerror(errno));
    goto done;
  }
  while (rc == CAIRN_OK && (de = readdir(d)) != NULL) {
    char *p;
    if (de->d_name[0] == '.')
      continue;
    p = cairn_path_join(dir, de->d_name);
    rc = cairn_fs_fsync_path(p, err);
    free(p);
  }
  closedir(d);
  if (rc == CAIRN_OK)
    rc = cairn_fs_fsync_path(dir, err);
done:
  free(dir);
  return rc;
}

int cairn_state_spool_drop(cairn_state *st, const char *job,
                           const struct cairn_window *w, cairn_err *err)
{
  return drop_spool(st, job, w->key, err);
}

/* ---- kv ---------------------------------------------------------------- */

int cairn_state_kv_get(cairn_state *st, const char *job, const char *key,
                       char **value_out, cairn_err *err)
{
  /* (a failed read is an error, not "no value": that would be a full
   * sync, or a watermark from the start) */
  return query_text(st, "SELECT value FROM kv WHERE job=?1 AND key=?2", job,
                    key, 0, value_out, err);
}

int cairn_state_kv_put(cairn_state *st, const char *job, const char *key,
                       const char *value, cairn_err *err)
{
  return exec_args(st, err, "INSERT INTO kv(job, key, value) VALUES(?, ?, ?)"
                            " ON CONFLICT(job, key) DO UPDATE SET"
                            " value=excluded.value", "ttt", job, key, value);
}

/* ---- runs -------------------------------------------------------------- */

/* The outputs of the windows a run not ended (running, or killed) loaded,
 * as its record's outputs array: each window's row names the run that
 * loaded it, with them (cairn_state_window_loaded), in O(1) a window. A
 * run's end writes its own; a killed run gets these when the next run of
 * the job marks it killed, before that run loads anything. */
#define RUN_WINDOW_OUTPUTS                                                 \
  "(SELECT json_group_array(json(output)) FROM (SELECT output FROM"         \
  " windows WHERE windows.job=runs.job AND windows.run_id=runs.run_id"      \
  " AND output IS NOT NULL ORDER BY windows.window))"

int cairn_state_run_begin(cairn_state *st, const struct cairn_run_info *ri,
                          cairn_err *err)
{
  /* The caller holds the job's lock, so a run of it still "running" is one
   * that was killed: it never ended, and never will. */
  /* Its outputs are those of the windows it loaded (no later run of the
   * job has loaded any yet), kept in its record from now on. */
  int rc = exec_args(st, err, "UPDATE runs SET status='killed', outputs="
                              "coalesce(outputs, " RUN_WINDOW_OUTPUTS ")"
                              " WHERE job=? AND status='running'", "t",
                     ri->job);
  if (rc < 0)
    return rc;
  /* Counts from 0, which each chunk's commit adds to once the run is
   * counted for (cairn_state_count_for): a killed run's record holds what
   * it committed. */
  return exec_args(st, err, "INSERT OR REPLACE INTO runs(run_id, job, spec,"
                            " started, status, user, host, job_sha256,"
                            " connector_version, params, trace_id, resumed,"
                            " tls_insecure, extracted, loaded, rejected,"
                            " chunks, chunks_redone) VALUES(?, ?, ?, ?,"
                            " 'running', ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0,"
                            " 0)", "tttittttttii", ri->run_id, ri->job,
                   ri->spec, (int64_t)ri->started, ri->user, ri->host,
                   ri->job_sha256, ri->connector_version, ri->params_json,
                   ri->trace_id, (int64_t)ri->resumed,
                   (int64_t)ri->tls_insecure);
}

void cairn_state_count_for(cairn_state *st, const char *run_id)
{
  free(st->run_id);
  st->run_id = run_id ? cairn_xstrdup(run_id) : NULL;
}

int cairn_state_run_redone(cairn_state *st, cairn_err *err)
{
  if (!st->run_id)
    return CAIRN_OK;
  return exec_args(st, err, "UPDATE runs SET chunks_redone=chunks_redone+1"
                            " WHERE run_id=?", "t", st->run_id);
}

int cairn_state_run_end(cairn_state *st, const char *run_id,
                        const struct cairn_run_result *rr, cairn_err *err)
{
  return exec_args(st, err, "UPDATE runs SET ended=?, status=?, exit_code=?,"
                            " extracted=?, loaded=?, rejected=?, chunks=?,"
                            " chunks_redone=?, message=?, outputs=? WHERE"
                            " run_id=?", "itiiiiiittt", (int64_t)rr->ended,
                   rr->status, (int64_t)rr->exit_code,
                   (int64_t)rr->extracted, (int64_t)rr->loaded,
                   (int64_t)rr->rejected, (int64_t)rr->chunks,
                   (int64_t)rr->chunks_redone, rr->message, rr->outputs_json,
                   run_id);
}

/* Rows of a query as a JSON array of objects keyed by column name. */
static int query_json(cairn_state *st, const char *sql, const char *job,
                      int limit, json_t **out, cairn_err *err)
{
  sqlite3_stmt *s;
  json_t *arr;
  int rc = prep(st, sql, &s, err);

  *out = NULL;
  if (rc < 0)
    return rc;
  bind_text(s, 1, job);
  sqlite3_bind_int(s, 2, limit);
  arr = json_array();
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    json_t *o = json_object();
    for (int i = 0; i < sqlite3_column_count(s); i++) {
      const char *name = sqlite3_column_name(s, i);
      switch (sqlite3_column_type(s, i)) {
      case SQLITE_INTEGER:
        json_object_set_new(o, name, json_integer(sqlite3_column_int64(s, i)));
        break;
      case SQLITE_FLOAT:
        json_object_set_new(o, name, json_real(sqlite3_column_double(s, i)));
        break;
      case SQLITE_NULL:
        json_object_set_new(o, name, json_null());
        break;
      default: {
        const char *t = (const char *)sqlite3_column_text(s, i);
        size_t n = (size_t)sqlite3_column_bytes(s, i);
        json_t *v = json_stringn(t, n);
        if (!v) {
          /* Not UTF-8 (a record quarantined for that): readable with the
           * bytes escaped, and exact in <name>_base64. */
          char *one = cairn_oneline(t), *b64 = cairn_base64_encode(t, n);
          char *key = cairn_strfmt("%s_base64", name);
          v = json_string(one);
          json_object_set_new(o, key, json_string(b64));
          free(key);
          free(b64);
          free(one);
        }
        json_object_set_new(o, name, v);
      }
      }
    }
    json_array_append_new(arr, o);
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) {
    json_decref(arr);
    return db_fail(st, err, rc, "query");
  }
  *out = arr;
  return CAIRN_OK;
}

int cairn_state_last_success(cairn_state *st, const char *job, int64_t *t,
                             cairn_err *err)
{
  return query_int(st, "SELECT coalesce(max(ended), 0) FROM runs WHERE job=?"
                       " AND status='done'", job, NULL, t, err);
}


int cairn_state_runs(cairn_state *st, const char *job, int limit,
                     json_t **out, cairn_err *err)
{
  int has_tls = 0, has_out = 0, rc;
  char *sql;
  /* Columns a store opened to read only may lack: tls_insecure (from
   * before it, read as NULL), and the windows' run and output (a run not
   * ended has its windows' outputs so far; none in such a store). Two
   * statements, not one "?1 IS NULL OR job=?1": each reads its index
   * (runs_job_started, runs_started) from the newest run back, `limit`
   * rows, where the one with the OR read and sorted every run. */
  cairn_sqlite_has_column(st->db, "runs", "tls_insecure", &has_tls);
  cairn_sqlite_has_column(st->db, "windows", "run_id", &has_out);
  sql = cairn_strfmt("SELECT run_id, job, spec, started, ended, status,"
                     " exit_code, user, host, job_sha256, connector_version,"
                     " params, trace_id, resumed, extracted, loaded, rejected,"
                     " chunks, chunks_redone, message, %s AS outputs, %s AS"
                     " tls_insecure FROM runs %s ORDER BY started DESC, rowid"
                     " DESC LIMIT ?2",
                     has_out ? "coalesce(outputs, " RUN_WINDOW_OUTPUTS ")"
                             : "outputs",
                     has_tls ? "tls_insecure" : "NULL",
                     job ? "WHERE job=?1" : ""); /* (else ?1 unused) */
  rc = query_json(st, sql, job, limit, out, err);
  free(sql);
  return rc;
}

int cairn_state_windows(cairn_state *st, const char *job, long loaded,
                        json_t **out, json_t **omitted, cairn_err *err)
{
  /* A loaded window's counts are its row's (window_loaded wrote them from
   * its chunks), so it costs no look at its chunks, and pruning the chunk
   * rows of loaded windows (docs/operations.md) changes nothing here; a
   * window not loaded yet counts its chunks loaded so far. */
  int rc = query_json(st,
      "SELECT job, window, status, attempt, start, end,"
      " CASE WHEN status='loaded' THEN n_chunks ELSE (SELECT"
      " coalesce(max(seq),0) FROM chunks c WHERE c.job=v.job AND"
      " c.window=v.window AND c.stage=3) END AS last_seq,"
      " CASE WHEN status='loaded' THEN records ELSE (SELECT"
      " coalesce(sum(records),0) FROM chunks c WHERE c.job=v.job AND"
      " c.window=v.window AND c.stage=3) END AS records,"
      " CASE WHEN status='loaded' THEN rejects ELSE (SELECT"
      " coalesce(sum(rejects),0) FROM chunks c WHERE c.job=v.job AND"
      " c.window=v.window AND c.stage=3) END AS rejects"
      " FROM (SELECT job, window, status, attempt, wstart AS start,"
      " wend AS end, n_chunks, records, rejects, row_number() OVER"
      " (PARTITION BY job, status='loaded' ORDER BY window DESC) AS k"
      " FROM windows WHERE ?1 IS NULL OR job=?1) AS v"
      " WHERE status<>'loaded' OR ?2 < 0 OR k <= ?2 ORDER BY job, window",
      job, (int)(loaded < 0 ? -1 : loaded), out, err);
  if (rc < 0 || !omitted)
    return rc;
  rc = query_json(st,
      "SELECT job, count(*) - ?2 AS n FROM windows WHERE (?1 IS NULL OR"
      " job=?1) AND status='loaded' AND ?2 >= 0 GROUP BY job HAVING"
      " count(*) > ?2 ORDER BY job", job, (int)(loaded < 0 ? -1 : loaded),
      omitted, err);
  if (rc < 0) {
    json_decref(*out);
    *out = NULL;
  }
  return rc;
}

int cairn_state_jobs(cairn_state *st, json_t **out, cairn_err *err)
{
  /* Each distinct name found by a seek for the next one in an index
   * (runs_job_started, the windows' key), not by reading every row. */
  return query_json(st,
      "WITH RECURSIVE r(job) AS (SELECT min(job) FROM runs UNION ALL"
      " SELECT (SELECT min(job) FROM runs WHERE job > r.job) FROM r WHERE"
      " r.job IS NOT NULL), w(job) AS (SELECT min(job) FROM windows UNION"
      " ALL SELECT (SELECT min(job) FROM windows WHERE job > w.job) FROM w"
      " WHERE w.job IS NOT NULL) SELECT job FROM r WHERE job IS NOT NULL"
      " UNION SELECT job FROM w WHERE job IS NOT NULL ORDER BY job",
      NULL, 1, out, err); /* binds nothing: ?1 and ?2 are unused */
}

/* A store from before quarantine_kept, opened to read only, lacks it. */
static int has_kept(cairn_state *st)
{
  int has = 0;
  cairn_sqlite_has_column(st->db, "quarantine_kept", "attempt", &has);
  return has;
}

int cairn_state_quarantine(cairn_state *st, const char *job, json_t **out,
                           cairn_err *err)
{
  json_t *kept = NULL;
  int rc = query_json(st,
      "SELECT job, window, seq, position, reasons, raw FROM quarantine"
      " WHERE (?1 IS NULL OR job=?1) AND ?2 ORDER BY job, window, seq,"
      " rowid", job, 1, out, err);
  if (rc < 0 || !has_kept(st))
    return rc;
  rc = query_json(st,
      "SELECT job, window, seq, position, reasons, raw, attempt AS"
      " kept_from_attempt FROM quarantine_kept WHERE (?1 IS NULL OR job=?1)"
      " AND ?2 ORDER BY job, window, attempt, seq, rowid", job, 1, &kept,
      err);
  if (rc < 0) {
    json_decref(*out);
    *out = NULL;
    return rc;
  }
  json_array_extend(*out, kept);
  json_decref(kept);
  return CAIRN_OK;
}

int cairn_state_quarantine_count(cairn_state *st, const char *job,
                                 int64_t *n, cairn_err *err)
{
  return query_int(st, has_kept(st)
                           ? "SELECT (SELECT count(*) FROM quarantine WHERE"
                             " job=?1) + (SELECT count(*) FROM"
                             " quarantine_kept WHERE job=?1)"
                           : "SELECT count(*) FROM quarantine WHERE job=?1",
                   job, NULL, n, err);
}

int cairn_state_first_reject(cairn_state *st, const char *job,
                             const struct cairn_window *w, long max_seq,
                             char **position, char **reasons, cairn_err *err)
{
  sqlite3_stmt *s;
  int rc;

  *position = *reasons = NULL;
  rc = prep(st, "SELECT position, reasons FROM quarantine WHERE job=? AND"
                " window=? AND seq<=? ORDER BY seq, rowid LIMIT 1", &s, err);
  if (rc < 0)
    return rc;
  bind_text(s, 1, job);
  bind_text(s, 2, w->key);
  sqlite3_bind_int64(s, 3, max_seq);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    *position = col_dup(s, 0);
    *reasons = col_dup(s, 1);
    rc = CAIRN_OK;
  } else if (rc == SQLITE_DONE) {
    rc = CAIRN_OK;
  } else {
    rc = db_fail(st, err, rc, "read quarantine");
  }
  sqlite3_finalize(s);
  return rc;
}
