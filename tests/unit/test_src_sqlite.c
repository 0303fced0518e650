/* SPDX-License-Identifier: MIT */
/* test_src_sqlite.c -- the sqlite source: chunking by rowid, resume from a
 * cursor, where clauses, queries, every SQLite type through NDJSON and
 * back, and the config and missing-file errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "source/source.h"

/* Criterion runs tests in parallel processes: one database per process. */
static char DB[64];

static void exec_sql(const char *sql)
{
  sqlite3 *db = NULL;
  char *msg = NULL;
  cr_assert_eq(sqlite3_open(DB, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s",
               sql, msg ? msg : "");
  sqlite3_close(db);
}

static void setup(void)
{
  snprintf(DB, sizeof DB, "/tmp/cairn_test_src_sqlite.%ld.db",
           (long)getpid());
  unlink(DB);
  /* Ten rows; k runs a..j, month alternates May/June. */
  exec_sql("CREATE TABLE t(k TEXT, at TEXT, n INTEGER);"
           "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c"
           " WHERE i < 10) INSERT INTO t SELECT char(96+i), CASE i % 2"
           " WHEN 1 THEN printf('2024-05-%02dT00:00:00Z', i) ELSE"
           " printf('2024-06-%02dT00:00:00Z', i) END, i FROM c;");
}

static void teardown(void)
{
  char side[80];
  unlink(DB);
  snprintf(side, sizeof side, "%s-journal", DB);
  unlink(side);
  snprintf(side, sizeof side, "%s-wal", DB);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", DB);
  unlink(side);
}

TestSuite(src_sqlite, .init = setup, .fini = teardown);

/* ---- helpers ------------------------------------------------------------ */

struct got {
  int     n;
  json_t *recs;             /* array of copies of rec.json (or null) */
  char    pos[64][64];
  char    err[64][160];
};

static int collect(void *ud, const struct cairn_record *rec)
{
  struct got *g = ud;
  int i = g->n++;
  cr_assert_lt(i, 64);
  if (!g->recs)
    g->recs = json_array();
  json_array_append_new(g->recs, rec->json ? json_deep_copy(rec->json)
                                           : json_null());
  snprintf(g->pos[i], sizeof g->pos[i], "%s", rec->position);
  snprintf(g->err[i], sizeof g->err[i], "%s", rec->error ? rec->error : "");
  return 0;
}

static void got_free(struct got *g)
{
  json_decref(g->recs);
  g->recs = NULL;
}

static cairn_source *open_cfg(json_t *cfg, struct cairn_source_ctx *ctx,
                              int *rc_out, cairn_err *err)
{
  cairn_source *s = NULL;
  memset(ctx, 0, sizeof *ctx);
  ctx->job = "t";
  ctx->cfg = cfg;
  *rc_out = cairn_source_open(cairn_source_find("sqlite"), ctx, &s, err);
  return s;
}

static cairn_source *open_ok(json_t *cfg, struct cairn_source_ctx *ctx)
{
  cairn_err err = {0};
  int rc;
  cairn_source *s = open_cfg(cfg, ctx, &rc, &err);
  cr_assert_eq(rc, CAIRN_OK, "%s", err.msg);
  cr_assert_not_null(s);
  return s;
}

/* Extract + decode from cursor to the end. Returns the number of chunks;
 * the cursors handed out are appended to 'cursors' (a JSON array). */
static int drain(cairn_source *s, const char *cursor, struct got *g,
                 json_t *cursors)
{
  struct cairn_page page = {0};
  cairn_err err = {0};
  char *cur = cursor ? strdup(cursor) : NULL;
  int chunks = 0, rc;
  for (;;) {
    rc = s->ops->extract(s, cur, &page, &err);
    if (rc == CAIRN_DONE)
      break;
    cr_assert_eq(rc, CAIRN_OK, "%s", err.msg);
    chunks++;
    cr_assert_eq(s->ops->decode(s, chunks, &page, collect, g, &err),
                 CAIRN_OK);
    if (cursors)
      json_array_append_new(cursors, page.cursor_out
                                         ? json_string(page.cursor_out)
                                         : json_null());
    free(cur);
    cur = page.cursor_out ? strdup(page.cursor_out) : NULL;
    cairn_page_clear(&page);
    if (!cur)
      break;
  }
  free(cur);
  cairn_page_clear(&page);
  return chunks;
}

/* The after_rowid of a cursor (a JSON string in cursors), -1 if none. */
static json_int_t after_of(const json_t *cursor)
{
  json_t *c = json_loads(json_string_value(cursor), 0, NULL);
  json_t *v = json_object_get(c, "after_rowid");
  json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;
  json_decref(c);
  return n;
}

/* A checkpointed cursor at rowid after, as a run of cfg that read the
 * window's first chunk now would have written it (with the snapshot it
 * read). New string. */
static char *cursor_at(json_t *cfg, json_int_t after)
{
  struct cairn_source_ctx ctx;
  struct cairn_page page = {0};
  cairn_err err = {0};
  cairn_source *s = open_ok(cfg, &ctx);
  json_t *c;
  char *out;

  cr_assert_eq(s->ops->extract(s, NULL, &page, &err), CAIRN_OK, "%s",
               err.msg);
  cr_assert_not_null(page.cursor_out, "the window has a second chunk");
  c = json_loads(page.cursor_out, 0, NULL);
  json_object_set_new(c, "after_rowid", json_integer(after));
  out = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(c);
  cairn_page_clear(&page);
  cairn_source_close(s);
  return out;
}

static const char *rec_str(struct got *g, size_t i, const char *key)
{
  return json_string_value(json_object_get(json_array_get(g->recs, i), key));
}

static json_int_t rec_int(struct got *g, size_t i, const char *key)
{
  return json_integer_value(json_object_get(json_array_get(g->recs, i), key));
}

/* ---- tests -------------------------------------------------------------- */

Test(src_sqlite, chunks_by_rowid_with_cursor_of_last_rowid)
{
  struct cairn_source_ctx ctx;
  json_t *cfg = json_pack("{s:s,s:s,s:s,s:i}", "type", "sqlite", "path", DB,
                          "table", "t", "chunk_rows", 3);
  json_t *cursors = json_array();
  struct got g = {0};
  cairn_source *s = open_ok(cfg, &ctx);

  cr_assert_eq(drain(s, NULL, &g, cursors), 4, "3+3+3+1 rows");
  cr_assert_eq(g.n, 10);
  cr_assert_eq(after_of(json_array_get(cursors, 0)), 3);
  cr_assert_eq(after_of(json_array_get(cursors, 2)), 9);
  cr_assert(json_is_null(json_array_get(cursors, 3)), "last chunk: NULL");
  for (int i = 0; i < 10; i++) {
    char want[16];
    snprintf(want, sizeof want, "t#%d", i + 1);
    cr_assert_str_eq(g.pos[i], want);
    cr_assert_eq(rec_int(&g, (size_t)i, "n"), i + 1, "source order");
  }
  cr_assert_null(json_object_get(json_array_get(g.recs, 0), "_rowid"),
                 "the rowid is the position, not a column");
  got_free(&g);
  cairn_source_close(s);
  json_decref(cursors);
  json_decref(cfg);
}

Test(src_sqlite, exact_multiple_ends_without_an_empty_chunk)
{
  struct cairn_source_ctx ctx;
  json_t *cfg = json_pack("{s:s,s:s,s:s,s:s}", "type", "sqlite", "path", DB,
                          "table", "t", "chunk_rows", "5");
  json_t *cursors = json_array();
  struct got g = {0};
  cairn_source *s = open_ok(cfg, &ctx);
  cr_assert_eq(drain(s, NULL, &g, cursors), 2, "chunk_rows as a string");
  cr_assert_eq(after_of(json_array_get(cursors, 0)), 5);
  cr_assert(json_is_null(json_array_get(cursors, 1)),
            "the 10th row is the last: no trailing empty chunk");
  got_free(&g);
  cairn_source_close(s);
  json_decref(cursors);
  json_decref(cfg);
}

Test(src_sqlite, resumes_from_cursor_across_rowid_gaps)
{
  struct cairn_source_ctx ctx;
  json_t *cfg = json_pack("{s:s,s:s,s:s,s:i}", "type", "sqlite", "path", DB,
                          "table", "t", "chunk_rows", 2);
  struct got g = {0};
  cairn_source *s;

  exec_sql("DELETE FROM t WHERE rowid IN (7, 8)");
  char *at6 = cursor_at(cfg, 6), *at10 = cursor_at(cfg, 10);
  s = open_ok(cfg, &ctx);
  /* A fresh source resumes from a checkpointed cursor. */
  cr_assert_eq(drain(s, at6, &g, NULL), 1);
  cr_assert_eq(g.n, 2);
  cr_assert_str_eq(g.pos[0], "t#9");
  cr_assert_str_eq(g.pos[1], "t#10");
  got_free(&g);

  struct cairn_page page = {0};
  cairn_err err = {0};
  cr_assert_eq(s->ops->extract(s, at10, &page, &err),
               CAIRN_DONE, "nothing after the last rowid");
  cr_assert_eq(s->ops->extract(s, "{\"file\":1}", &page, &err), CAIRN_ESTATE);
  cairn_page_clear(&page);
  free(at6);
  free(at10);
  cairn_source_close(s);
  json_decref(cfg);
}

Test(src_sqlite, where_clause_filters_and_chunks_count_matches)
{
  struct cairn_source_ctx ctx;
  json_t *cfg = json_pack("{s:s,s:s,s:s,s:s,s:i}", "type", "sqlite", "path",
                          DB, "table", "t", "where",
                          "at >= '2024-05-01T00:00:00Z' AND "
                          "at < '2024-06-01T00:00:00Z'", "chunk_rows", 2);
  json_t *cursors = json_array();
  struct got g = {0};
  cairn_source *s = open_ok(cfg, &ctx);

  cr_assert_eq(drain(s, NULL, &g, cursors), 3, "5 May rows: 2+2+1");
  cr_assert_eq(g.n, 5);
  cr_assert_str_eq(rec_str(&g, 0, "k"), "a");
  cr_assert_str_eq(rec_str(&g, 4, "k"), "i");
  cr_assert_str_eq(g.pos[1], "t#3");
  cr_assert_eq(after_of(json_array_get(cursors, 0)), 3,
               "cursor is the last matching rowid");
  got_free(&g);
  cairn_source_close(s);
  json_decref(cursors);
  json_decref(cfg);

  /* A window with no rows: the first extract says DONE. */
  cfg = json_pack("{s:s,s:s,s:s,s:s}", "type", "sqlite", "path", DB, "table",
                  "t", "where", "at >= '2024-07-01T00:00:00Z'");
  memset(&g, 0, sizeof g);
  s = open_ok(cfg, &ctx);
  cr_assert_eq(drain(s, NULL, &g, NULL), 0);
  cr_assert_eq(g.n, 0);
  cairn_source_close(s);
  json_decref(cfg);
}

Test(src_sqlite, types_round_trip_through_ndjson)
{
  struct cairn_source_ctx ctx;
  json_t *cfg = json_pack("{s:s,s:s,s:s}", "type", "sqlite", "path", DB,
                          "table", "ty");
  struct got g = {0};
  cairn_source *s;
  json_t *r;

  exec_sql("CREATE TABLE ty(i, big, neg, r1, r2, r3, r4, s, u, b, e, nul);"
           "INSERT INTO ty VALUES (42, 9007199254740993, -7, 0.1, 5.0,"
           " 1e300, -2.5, 'a \"q\" \\ tab\t nl\n' || char(1) || ' end',"
           " 'Zürich €', x'00ff10', x'', NULL);");
  s = open_ok(cfg, &ctx);
  cr_assert_eq(drain(s, NULL, &g, NULL), 1);
  cr_assert_eq(g.n, 1);
  cr_assert_str_eq(g.err[0], "", "every line is valid JSON");
  r = json_array_get(g.recs, 0);
  cr_assert(json_is_integer(json_object_get(r, "i")));
  cr_assert_eq(json_integer_value(json_object_get(r, "i")), 42);
  cr_assert_eq(json_integer_value(json_object_get(r, "big")),
               9007199254740993LL, "64-bit integers stay exact");
  cr_assert_eq(json_integer_value(json_object_get(r, "neg")), -7);
  cr_assert(json_is_real(json_object_get(r, "r1")));
  cr_assert_eq(json_real_value(json_object_get(r, "r1")), 0.1);
  cr_assert(json_is_real(json_object_get(r, "r2")), "5.0 stays a real");
  cr_assert_eq(json_real_value(json_object_get(r, "r2")), 5.0);
  cr_assert_eq(json_real_value(json_object_get(r, "r3")), 1e300);
  cr_assert_eq(json_real_value(json_object_get(r, "r4")), -2.5);
  cr_assert_str_eq(json_string_value(json_object_get(r, "s")),
                   "a \"q\" \\ tab\t nl\n\x01 end");
  cr_assert_str_eq(json_string_value(json_object_get(r, "u")), "Zürich €");
  cr_assert_str_eq(json_string_value(json_object_get(r, "b")), "AP8Q",
                   "BLOB as base64");
  cr_assert_str_eq(json_string_value(json_object_get(r, "e")), "");
  cr_assert(json_is_null(json_object_get(r, "nul")), "NULL is null");
  cr_assert_not_null(json_object_get(r, "nul"), "NULL key is present");
  cr_assert_eq(json_object_size(r), 12, "all columns, no _rowid");
  got_free(&g);
  cairn_source_close(s);
  json_decref(cfg);
}

Test(src_sqlite, reals_are_printed_shortest)
{
  struct cairn_source_ctx ctx;
  json_t *cfg = json_pack("{s:s,s:s,s:s}", "type", "sqlite", "path", DB,
                          "table", "re");
  struct cairn_page page = {0};
  cairn_err err = {0};
  cairn_source *s;

  exec_sql("CREATE TABLE re(a, b, c); INSERT INTO re VALUES"
           " (0.1, 12.5, 0.30000000000000004);");
  s = open_ok(cfg, &ctx);
  cr_assert_eq(s->ops->extract(s, NULL, &page, &err), CAIRN_OK, "%s",
               err.msg);
  cr_assert_str_eq(page.raw.data,
                   "{\"_rowid\":1,\"a\":0.1,\"b\":12.5,"
                   "\"c\":0.30000000000000004}\n");
  cr_assert_eq(page.n_hint, 1);
  cairn_page_clear(&page);
  cairn_source_close(s);
  json_decref(cfg);
}

Test(src_sqlite, spooled_page_decodes_without_the_database)
{
  struct cairn_source_ctx ctx;
  json_t *cfg = json_pack("{s:s,s:s,s:s,s:i}", "type", "sqlite", "path", DB,
                          "table", "t", "chunk_rows", 4);
  struct cairn_page page = {0}, copy = {0};
  cairn_err err = {0};
  struct got g = {0};
  cairn_source *s;
  char *at2;

  /* WAL, as the warehouse is: the source keeps its read transaction
   * until the window's last chunk, which does not keep the UPDATE below
   * from committing. */
  exec_sql("PRAGMA journal_mode=WAL");
  at2 = cursor_at(cfg, 2);
  s = open_ok(cfg, &ctx);
  cr_assert_eq(s->ops->extract(s, at2, &page, &err), CAIRN_OK, "%s", err.msg);
  free(at2);
  cairn_buf_append(&copy.raw, page.raw.data, page.raw.len);
  copy.meta = strdup(page.meta);
  cairn_page_clear(&page);
  /* The table changes after the page was spooled: decode still yields
   * exactly what was extracted. */
  exec_sql("UPDATE t SET k = 'changed'");
  cr_assert_eq(s->ops->decode(s, 1, &copy, collect, &g, &err), CAIRN_OK);
  cr_assert_eq(g.n, 4);
  cr_assert_str_eq(g.pos[0], "t#3");
  cr_assert_str_eq(rec_str(&g, 0, "k"), "c");
  got_free(&g);
  cairn_page_clear(&copy);
  cairn_source_close(s);
  json_decref(cfg);
}

Test(src_sqlite, query_with_rowid_column)
{
  struct cairn_source_ctx ctx;
  json_t *cfg = json_pack("{s:s,s:s,s:s,s:i}", "type", "sqlite", "path", DB,
                          "query",
                          "SELECT rowid AS _rowid, k, n * 10 AS tens FROM t "
                          "WHERE n > 4;\n", "chunk_rows", 4);
  struct got g = {0};
  cairn_source *s = open_ok(cfg, &ctx);
  cr_assert_eq(drain(s, NULL, &g, NULL), 2, "6 rows: 4+2");
  cr_assert_eq(g.n, 6);
  cr_assert_str_eq(g.pos[0], "query#5");
  cr_assert_eq(rec_int(&g, 0, "tens"), 50);
  cr_assert_str_eq(rec_str(&g, 5, "k"), "j");
  got_free(&g);
  cairn_source_close(s);
  json_decref(cfg);
}

Test(src_sqlite, query_without_rowid_column_is_refused)
{
  struct cairn_source_ctx ctx;
  cairn_err err = {0};
  int rc;
  json_t *cfg = json_pack("{s:s,s:s,s:s}", "type", "sqlite", "path", DB,
                          "query", "SELECT k FROM t");
  cairn_source *s = open_cfg(cfg, &ctx, &rc, &err);
  cr_assert_eq(rc, CAIRN_EUSAGE);
  cr_assert_null(s);
  cr_assert(strstr(err.msg, "_rowid") != NULL, "%s", err.msg);
  json_decref(cfg);
}

Test(src_sqlite, bad_table_or_where_is_a_usage_error)
{
  struct cairn_source_ctx ctx;
  cairn_err err = {0};
  int rc;
  json_t *cfg = json_pack("{s:s,s:s,s:s}", "type", "sqlite", "path", DB,
                          "table", "nope");
  cairn_source *s = open_cfg(cfg, &ctx, &rc, &err);
  cr_assert_eq(rc, CAIRN_EUSAGE);
  cr_assert_null(s);
  cr_assert(strstr(err.msg, "no such table") != NULL, "%s", err.msg);
  json_decref(cfg);

  memset(&err, 0, sizeof err);
  cfg = json_pack("{s:s,s:s,s:s,s:s}", "type", "sqlite", "path", DB, "table",
                  "t", "where", "nosuchcol = 1");
  s = open_cfg(cfg, &ctx, &rc, &err);
  cr_assert_eq(rc, CAIRN_EUSAGE);
  cr_assert(strstr(err.msg, "nosuchcol") != NULL, "%s", err.msg);
  json_decref(cfg);
}

Test(src_sqlite, missing_database_names_the_path)
{
  struct cairn_source_ctx ctx;
  cairn_err err = {0};
  int rc;
  json_t *cfg = json_pack("{s:s,s:s,s:s}", "type", "sqlite", "path",
                          "/tmp/cairn_no_such_dir/warehouse.db", "table", "t");
  cairn_source *s = open_cfg(cfg, &ctx, &rc, &err);
  cr_assert_eq(rc, CAIRN_EIO);
  cr_assert_null(s);
  cr_assert(strstr(err.msg, "/tmp/cairn_no_such_dir/warehouse.db") != NULL,
            "%s", err.msg);
  cr_assert_eq(access("/tmp/cairn_no_such_dir", F_OK), -1,
               "read-only open creates nothing");
  json_decref(cfg);
}

Test(src_sqlite, a_second_statement_in_a_query_is_refused)
{
  struct cairn_source_ctx ctx;
  cairn_err err = {0};
  int rc, n;
  json_t *cfg = json_pack("{s:s,s:s,s:s}", "type", "sqlite", "path", DB,
                          "query",
                          "SELECT rowid AS _rowid, k FROM t; DELETE FROM t");
  cairn_source *s = open_cfg(cfg, &ctx, &rc, &err);
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;

  cr_assert_eq(rc, CAIRN_EUSAGE, "%s", err.msg);
  cr_assert_null(s);
  json_decref(cfg);
  cr_assert_eq(sqlite3_open_v2(DB, &db, SQLITE_OPEN_READONLY, NULL),
               SQLITE_OK);
  sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL);
  cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
  n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  cr_assert_eq(n, 10, "nothing was deleted");
}

Test(src_sqlite, chunk_bytes_bounds_a_chunk)
{
  struct cairn_source_ctx ctx;
  json_t *cfg = json_pack("{s:s,s:s,s:s,s:i}", "type", "sqlite", "path", DB,
                          "table", "t", "chunk_bytes", 100);
  json_t *cursors = json_array();
  struct got g = {0};
  cairn_source *s = open_ok(cfg, &ctx);
  int chunks = drain(s, NULL, &g, cursors);
  cr_assert_gt(chunks, 2, "rows are ~55 bytes: two per chunk");
  cr_assert_eq(g.n, 10, "no row lost or repeated");
  for (int i = 0; i < 10; i++)
    cr_assert_eq(rec_int(&g, (size_t)i, "n"), i + 1);
  got_free(&g);
  cairn_source_close(s);
  json_decref(cursors);
  json_decref(cfg);
}

Test(src_sqlite, check_rejects_bad_configs)
{
  const cairn_source_ops *ops = cairn_source_find("sqlite");
  struct {
    const char *json, *ptr;
  } bad[] = {
    { "{\"type\":\"sqlite\",\"path\":\"x.db\"}", "" },
    { "{\"type\":\"sqlite\",\"path\":\"x.db\",\"table\":\"t\",\"query\":\"q\"}",
      "/query" },
    { "{\"type\":\"sqlite\",\"path\":\"x.db\",\"query\":\"q\",\"where\":\"1\"}",
      "/where" },
    { "{\"type\":\"sqlite\",\"path\":\"x.db\",\"table\":\"t\","
      "\"chunk_rows\":0}", "/chunk_rows" },
    { "{\"type\":\"sqlite\",\"path\":\"x.db\",\"table\":\"t\","
      "\"chunk_rows\":\"10k\"}", "/chunk_rows" },
    { "{\"type\":\"sqlite\",\"table\":\"t\"}", "/path" },
  };
  cr_assert_not_null(ops);
  cr_assert_eq(ops->flags & CAIRN_SOURCE_REREADABLE, 0u,
               "tables change: pages must be spooled");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    json_t *cfg = json_loads(bad[i].json, 0, NULL);
    const char *ptr = NULL;
    cairn_err err = {0};
    cr_assert_eq(ops->check(cfg, &ptr, &err), CAIRN_EUSAGE, "%s", bad[i].json);
    cr_assert_str_eq(ptr, bad[i].ptr, "%s", bad[i].json);
    json_decref(cfg);
  }
  {
    json_t *cfg = json_loads("{\"type\":\"sqlite\",\"path\":\"x.db\","
                             "\"table\":\"t\",\"where\":\"a = 1\","
                             "\"chunk_rows\":\"500\"}", 0, NULL);
    const char *ptr = NULL;
    cairn_err err = {0};
    cr_assert_eq(ops->check(cfg, &ptr, &err), CAIRN_OK, "%s", err.msg);
    json_decref(cfg);
  }
}

/* Rewrite the May rows (odd i) of t as a replace_partition reload does:
 * delete them, insert them again with new rowids and n + 100. */
static void reload_may(void)
{
  exec_sql("CREATE TEMP TABLE v2 AS SELECT k, at, n + 100 AS n FROM t"
           " WHERE at < '2024-06-01' ORDER BY rowid;"
           "DELETE FROM t WHERE at < '2024-06-01';"
           "INSERT INTO t SELECT * FROM v2 ORDER BY rowid;");
}

/* The May rows of t (5: rowids 1, 3, 5, 7, 9) in chunks of 2. */
static json_t *may_cfg(void)
{
  return json_pack("{s:s,s:s,s:s,s:s,s:i}", "type", "sqlite", "path", DB,
                   "table", "t", "where", "at < '2024-06-01T00:00:00Z'",
                   "chunk_rows", 2);
}

Test(src_sqlite, a_window_reads_one_snapshot)
{
  struct cairn_source_ctx ctx;
  json_t *cfg = may_cfg();
  struct cairn_page page = {0};
  cairn_err err = {0};
  struct got g = {0};
  cairn_source *s;
  sqlite3 *db;
  int log = -1, done = -1;

  exec_sql("PRAGMA journal_mode=WAL");
  s = open_ok(cfg, &ctx);
  cr_assert_eq(s->ops->extract(s, NULL, &page, &err), CAIRN_OK, "%s",
               err.msg);
  cr_assert_eq(s->ops->decode(s, 1, &page, collect, &g, &err), CAIRN_OK);
  /* A load rewrites the window between its chunks: the rest of the window
   * is still read from the snapshot of the first chunk. */
  reload_may();
  char *cur = strdup(page.cursor_out);
  cairn_page_clear(&page);
  cr_assert_eq(drain(s, cur, &g, NULL), 2, "2+2+1 rows");
  free(cur);
  cr_assert_eq(g.n, 5, "the window's 5 rows, not 2 old and 5 new");
  for (int i = 0; i < 5; i++)
    cr_assert_eq(rec_int(&g, (size_t)i, "n"), 2 * i + 1, "row %d", i);
  got_free(&g);
  /* After the window's last chunk the snapshot is let go: a checkpoint
   * copies the whole WAL. */
  cr_assert_eq(sqlite3_open(DB, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(db, "SELECT count(*) FROM t", NULL, NULL, NULL),
               SQLITE_OK, "(a connection opens the WAL when it first reads)");
  cr_assert_eq(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                         &log, &done), SQLITE_OK);
  cr_assert(log > 0 && log == done, "the WAL holds %d frames, %d copied",
            log, done);
  sqlite3_close(db);
  cairn_source_close(s);
  /* The next run sees the reload. */
  memset(&g, 0, sizeof g);
  s = open_ok(cfg, &ctx);
  cr_assert_eq(drain(s, NULL, &g, NULL), 3);
  cr_assert_eq(g.n, 5);
  cr_assert_eq(rec_int(&g, 0, "n"), 101);
  got_free(&g);
  cairn_source_close(s);
  json_decref(cfg);
}

Test(src_sqlite, a_resume_after_the_window_changed_is_refused)
{
  struct cairn_source_ctx ctx;
  json_t *cfg = may_cfg();
  struct cairn_page page = {0};
  cairn_err err = {0};
  struct got g = {0};
  cairn_source *s;
  char *at3 = cursor_at(cfg, 3);

  /* A row outside the window changes: the resume reads on. */
  exec_sql("UPDATE t SET n = 0 WHERE k = 'b'");
  s = open_ok(cfg, &ctx);
  cr_assert_eq(drain(s, at3, &g, NULL), 2);
  cr_assert_eq(g.n, 3);
  got_free(&g);
  cairn_source_close(s);
  /* A row of the window changes, the same count and rowids: refused. */
  exec_sql("UPDATE t SET n = 0 WHERE k = 'e'");
  s = open_ok(cfg, &ctx);
  cr_assert_eq(s->ops->extract(s, at3, &page, &err), CAIRN_ECHANGED);
  cr_assert(strstr(err.msg, "t changed since this window's first chunk was "
                   "read (5 rows up to rowid 9 then and now, but other "
                   "contents)"), "%s", err.msg);
  cr_assert(strstr(err.msg, "rerun with --fresh"), "%s", err.msg);
  cairn_source_close(s);
  /* Reloaded: other rowids. */
  free(at3);
  at3 = cursor_at(cfg, 3);
  reload_may();
  cairn_err_clear(&err);
  s = open_ok(cfg, &ctx);
  cr_assert_eq(s->ops->extract(s, at3, &page, &err), CAIRN_ECHANGED);
  cr_assert(strstr(err.msg, "(then 5 rows up to rowid 9, now 5 up to rowid "
                   "15)"), "%s", err.msg);
  cairn_source_close(s);
  /* A cursor without the snapshot (an earlier cairn's checkpoint) cannot
   * be checked: refused too. */
  cairn_err_clear(&err);
  s = open_ok(cfg, &ctx);
  cr_assert_eq(s->ops->extract(s, "{\"after_rowid\":3}", &page, &err),
               CAIRN_ECHANGED);
  cr_assert(strstr(err.msg, "does not say which version"), "%s", err.msg);
  cairn_source_close(s);
  cairn_page_clear(&page);
  free(at3);
  json_decref(cfg);
}
