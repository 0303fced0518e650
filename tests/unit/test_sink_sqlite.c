/* SPDX-License-Identifier: MIT */
/* test_sink_sqlite.c -- the warehouse sink: table from the contract, each
 * write mode, durable seq in the chunk's transaction, exact decimals. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fsx.h"
#include "core/log.h"
#include "sink/sink.h"

static char dir[64];
static struct cairn_field fields[] = {
  { "id", CAIRN_F_STRING, 1, 0 },
  { "part", CAIRN_F_STRING, 1, 0 },
  { "amount", CAIRN_F_NUMBER, 0, 0 },
  { "n", CAIRN_F_INTEGER, 0, 0 },
  { "ok", CAIRN_F_BOOLEAN, 0, 0 },
  { "tags", CAIRN_F_OBJECT, 0, 0 },
  { "scope", CAIRN_F_STRING, 0, 0 }, /* only in v2_contract */
};
static size_t key[] = { 0 };
static size_t partition[] = { 1 };
static struct cairn_contract contract = {
  "thing", "urn:thing", "1.0.0", 6, fields, 1, key, 1, partition, NULL, NULL,
};
static const struct cairn_window w1 = { "all", "", "", "", "" };

static void setup(void)
{
  snprintf(dir, sizeof dir, "/tmp/cairn_sqlite_%d", (int)getpid());
  cairn_fs_remove_tree(dir, NULL);
}

static void teardown(void)
{
  cairn_fs_remove_tree(dir, NULL);
}

TestSuite(sink_sqlite, .init = setup, .fini = teardown);

static cairn_sink *open_sink_for(const struct cairn_contract *c,
                                 const char *mode, json_t **cfg,
                                 struct cairn_sink_ctx *ctx)
{
  cairn_sink *s = NULL;
  cairn_err err = {0};
  *cfg = json_pack("{s:s,s:s,s:s}", "type", "sqlite", "path", "w.db", "mode",
                   mode);
  memset(ctx, 0, sizeof *ctx);
  ctx->job = "j";
  ctx->sink_name = "warehouse";
  ctx->cfg = *cfg;
  ctx->out_dir = dir;
  ctx->contract = c;
  cr_assert_eq(cairn_sink_open(cairn_sink_find("sqlite"), ctx, &s, &err),
               CAIRN_OK, "%s", err.msg);
  return s;
}

static cairn_sink *open_sink(const char *mode, json_t **cfg,
                             struct cairn_sink_ctx *ctx)
{
  return open_sink_for(&contract, mode, cfg, ctx);
}

/* A row whose first three values are the texts id, part, amount (the
 * last a number); the rest NULL. */
static struct cairn_value *add3(struct cairn_batch *b, const char *id,
                                const char *part, const char *amount)
{
  struct cairn_value *row = cairn_batch_add_row(b);
  cairn_value_set_text(b, &row[0], CAIRN_V_STR, id, strlen(id));
  cairn_value_set_text(b, &row[1], CAIRN_V_STR, part, strlen(part));
  cairn_value_set_text(b, &row[2], CAIRN_V_NUM, amount, strlen(amount));
  return row;
}

static void add(struct cairn_batch *b, const char *id, const char *part,
                const char *amount)
{
  struct cairn_value *row = add3(b, id, part, amount);
  row[3].type = CAIRN_V_INT;
  row[3].i = 7;
  row[4].type = CAIRN_V_BOOL;
  row[4].i = 1;
  cairn_value_set_text(b, &row[5], CAIRN_V_JSON, "{\"a\":\"b\"}", 9);
}

static char *query(const char *sql)
{
  char *path = cairn_strfmt("%s/w.db", dir);
  sqlite3 *db;
  sqlite3_stmt *st;
  struct cairn_buf out = {0};
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s",
               sqlite3_errmsg(db));
  while (sqlite3_step(st) == SQLITE_ROW) {
    for (int i = 0; i < sqlite3_column_count(st); i++) {
      const unsigned char *t = sqlite3_column_text(st, i);
      cairn_buf_printf(&out, "%s%s", i ? "|" : "", t ? (const char *)t : "NULL");
    }
    cairn_buf_putc(&out, ';');
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  free(path);
  return cairn_buf_take(&out);
}

/* Assert that sql gives the rows want (as query prints them). */
static void expect_rows(const char *sql, const char *want, const char *why)
{
  char *got = query(sql);
  cr_assert_str_eq(got, want, "%s (got %s)", why, got);
  free(got);
}

Test(sink_sqlite, creates_table_from_contract_and_records_durable_seq)
{
  json_t *cfg;
  struct cairn_sink_ctx ctx;
  cairn_err err = {0};
  long seq = -1;
  cairn_sink *s = open_sink("append", &cfg, &ctx);
  struct cairn_batch *b = cairn_batch_create(6);
  cr_assert_eq(cairn_sink_durable_seq(s, &w1, &seq, &err), CAIRN_OK);
  cr_assert_eq(seq, 0);
  add(b, "a", "p1", "0.0000000001");
  add(b, "b", "p1", "1e-7");
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_sink_durable_seq(s, &w1, &seq, &err), CAIRN_OK);
  cr_assert_eq(seq, 1);
  cairn_sink_close(s);
  char *schema = query("SELECT sql FROM sqlite_master WHERE name='thing'");
  cr_assert_str_eq(schema, "CREATE TABLE \"thing\"(\"id\" TEXT NOT NULL, "
                   "\"part\" TEXT NOT NULL, \"amount\", \"n\" INTEGER, "
                   "\"ok\" INTEGER, \"tags\" TEXT);");
  char *rows = query("SELECT id, amount, typeof(amount), n, ok, tags FROM thing");
  cr_assert_str_eq(rows, "a|1.0e-10|real|7|1|{\"a\":\"b\"};"
                         "b|1.0e-07|real|7|1|{\"a\":\"b\"};");
  char *marks = query("SELECT job, window, seq, rows, contract FROM _cairn_chunks");
  cr_assert_str_eq(marks, "j|all|1|2|1.0.0;");
  free(schema);
  free(rows);
  free(marks);
  cairn_batch_free(b);
  json_decref(cfg);
}

/* Every decimal a double can hold is stored as a number: INTEGER when
 * integral (up to 18 digits), else REAL, the double strtod makes of the
 * text. A longer one used to be TEXT, and a TEXT value sorts above every
 * number in SQLite: "amount < 0" missed the credits written with 16 or 17
 * digits and max() returned one of them. Only a value no double holds
 * (past its range, or subnormal) stays TEXT, as written. */
Test(sink_sqlite, decimals_are_numbers_unless_no_double_holds_them)
{
  static const char *longs[] = {
    "19.545363672276512", "12345678901234567890", "0.4838709677419368",
    "-0.4838709677419368", "-12.345678901234567", "9.0000000000000006E-06",
    "1.2345678901234567e-26", "123456789012.59848", "9007199254740993.5",
    "0.30000000000000004", "1.00000000000000011102230246251565404236",
    "2.5e-300", "-1.7976931348623157e308", "0E-25", "-0.0e26", "1e-27",
  };
  json_t *cfg;
  struct cairn_sink_ctx ctx;
  cairn_err err = {0};
  cairn_sink *s = open_sink("append", &cfg, &ctx);
  struct cairn_batch *b = cairn_batch_create(6);
  add(b, "a", "p", "19.545363672276512");
  add(b, "b", "p", "12345678901234567890");
  add(b, "c", "p", "42");
  /* past a double's range: kept as written, not inf, 0 or a subnormal */
  add(b, "d", "p", "1E+400");
  add(b, "e", "p", "-1e400");
  add(b, "f", "p", "1e-400");
  add(b, "g", "p", "1e-320");
  add(b, "h", "p", "1e99999999999");
  add(b, "i", "p", "1.5e300");
  for (size_t k = 0; k < sizeof longs / sizeof *longs; k++)
    add(b, "long", "p", longs[k]);
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK);
  cairn_sink_close(s);
  expect_rows("SELECT amount, typeof(amount) FROM thing WHERE id <> 'long'",
              "19.5453636722765|real;1.23456789012346e+19|real;"
              "42|integer;1E+400|text;-1e400|text;1e-400|text;"
              "1e-320|text;1e99999999999|text;1.5e+300|real;",
              "numbers, TEXT only past a double");
  /* each long one is the double nearest its text, to the last bit */
  char *path = cairn_strfmt("%s/w.db", dir);
  sqlite3 *db;
  sqlite3_stmt *st;
  size_t k = 0;
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_prepare_v2(db, "SELECT amount, typeof(amount) FROM "
                                  "thing WHERE id = 'long' ORDER BY rowid",
                                  -1, &st, NULL), SQLITE_OK);
  for (; sqlite3_step(st) == SQLITE_ROW; k++) {
    double want = strtod(longs[k], NULL), got = sqlite3_column_double(st, 0);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 1), "real",
                     "%s", longs[k]);
    cr_assert(memcmp(&got, &want, sizeof got) == 0, "%s: %.17g, not %.17g",
              longs[k], got, want);
  }
  cr_assert_eq(k, sizeof longs / sizeof *longs);
  sqlite3_finalize(st);
  sqlite3_close(db);
  free(path);
  /* so they compare and sort as numbers */
  expect_rows("SELECT count(*) FROM thing WHERE id = 'long' AND amount < 0",
              "3;", "the three negative ones are below 0");
  expect_rows("SELECT count(*) FROM thing WHERE id = 'long' AND amount = 0",
              "2;", "0E-25 and -0.0e26 are 0");
  expect_rows("SELECT id, amount FROM thing WHERE typeof(amount) <> 'text' "
              "ORDER BY amount DESC LIMIT 2",
              "i|1.5e+300;b|1.23456789012346e+19;", "ORDER BY sorts by value");
  expect_rows("SELECT min(amount) FROM thing WHERE id = 'long'",
              "-1.79769313486232e+308;", "min() is the smallest number");
  cairn_batch_free(b);
  json_decref(cfg);
}

Test(sink_sqlite, upsert_replaces_on_the_contract_key)
{
  json_t *cfg;
  struct cairn_sink_ctx ctx;
  cairn_err err = {0};
  cairn_sink *s = open_sink("upsert", &cfg, &ctx);
  struct cairn_batch *b = cairn_batch_create(6);
  add(b, "a", "p1", "1");
  add(b, "b", "p1", "2");
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_batch_reset(b);
  add(b, "a", "p1", "10");
  cr_assert_eq(cairn_sink_load(s, &w1, 2, b, &err), CAIRN_OK);
  cairn_sink_close(s);
  char *rows = query("SELECT rowid, id, amount FROM thing ORDER BY rowid");
  cr_assert_str_eq(rows, "1|a|10;2|b|2;", "updated in place, rowid kept");
  free(rows);
  cairn_batch_free(b);
  json_decref(cfg);
}

Test(sink_sqlite, replace_partition_replaces_each_partition_once_per_window)
{
  json_t *cfg;
  struct cairn_sink_ctx ctx;
  cairn_err err = {0};
  cairn_sink *s = open_sink("replace_partition", &cfg, &ctx);
  struct cairn_batch *b = cairn_batch_create(6);
  /* First export: p1 and p2 over two chunks. */
  add(b, "a", "p1", "1");
  add(b, "b", "p2", "2");
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_batch_reset(b);
  add(b, "c", "p1", "3");
  cr_assert_eq(cairn_sink_load(s, &w1, 2, b, &err), CAIRN_OK);
  cairn_sink_close(s);
  char *sum = query("SELECT part, sum(amount), count(*) FROM thing GROUP BY 1");
  cr_assert_str_eq(sum, "p1|4|2;p2|2|1;",
                   "chunk 2 must not delete chunk 1's rows of p1");
  free(sum);

  /* A corrected re-export of p1 only, as a new attempt of the window. */
  json_decref(cfg);
  s = open_sink("replace_partition", &cfg, &ctx);
  cr_assert_eq(cairn_sink_reset_window(s, &w1, &err), CAIRN_OK);
  cairn_batch_reset(b);
  add(b, "a", "p1", "5");
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK);
  cairn_sink_close(s);
  expect_rows("SELECT part, sum(amount), count(*) FROM thing GROUP BY 1",
              "p1|5|1;p2|2|1;",
              "p1 replaced, p2 untouched");
  cairn_batch_free(b);
  json_decref(cfg);
}

Test(sink_sqlite, reloading_a_held_seq_fails_and_rolls_back)
{
  json_t *cfg;
  struct cairn_sink_ctx ctx;
  cairn_err err = {0};
  cairn_sink *s = open_sink("append", &cfg, &ctx);
  struct cairn_batch *b = cairn_batch_create(6);
  add(b, "a", "p", "1");
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK);
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_ESINK);
  cr_assert(strstr(err.msg, "already loaded") != NULL, "%s", err.msg);
  /* Sticky: the sink refuses further work. */
  cairn_err err2 = {0};
  cr_assert_eq(cairn_sink_load(s, &w1, 2, b, &err2), CAIRN_ESINK);
  cr_assert(strstr(err2.msg, "refused after earlier failure") != NULL);
  cairn_sink_close(s);
  char *n = query("SELECT count(*) FROM thing");
  cr_assert_str_eq(n, "1;", "the failed chunk left no rows");
  free(n);
  cairn_batch_free(b);
  json_decref(cfg);
}

Test(sink_sqlite, bad_mode_is_reported_with_its_pointer)
{
  json_t *cfg = json_pack("{s:s,s:s}", "type", "sqlite", "mode", "merge");
  const char *ptr = NULL;
  cairn_err err = {0};
  cr_assert_eq(cairn_sink_find("sqlite")->check(cfg, &ptr, &err), CAIRN_EUSAGE);
  cr_assert_str_eq(ptr, "/mode");
  cr_assert_str_eq(err.msg, "\"merge\" is not one of append, upsert, "
                   "replace_partition");
  json_decref(cfg);
}

Test(sink_sqlite, decimals_bind_to_the_correctly_rounded_double)
{
  /* The sink converts decimal text itself (a fast path for up to 15
   * significant digits); every value must equal glibc's strtod, which is
   * correctly rounded, bit for bit. */
  json_t *cfg;
  struct cairn_sink_ctx ctx;
  cairn_err err = {0};
  cairn_sink *s = open_sink("append", &cfg, &ctx);
  struct cairn_batch *b = cairn_batch_create(6);
  char texts[4000][80];
  unsigned seed = 12345;
  for (int k = 0; k < 4000; k++) {
    unsigned long long m;
    int digits, scale;
    seed = seed * 1103515245u + 12345u;
    digits = 1 + (int)(seed >> 16) % 15;
    seed = seed * 1103515245u + 12345u;
    scale = (int)(seed >> 16) % 20 - 4;
    m = 0;
    for (int d = 0; d < digits; d++) {
      seed = seed * 1103515245u + 12345u;
      m = m * 10 + (d == 0 ? 1 + (seed >> 16) % 9 : (seed >> 16) % 10);
    }
    {
      /* "<digits>e<exp>", or "<int>.<frac>" from the digits and scale. */
      char digs[32];
      const char *sign = k % 5 ? "" : "-";
      int n = snprintf(digs, sizeof digs, "%llu", m);
      if (k % 3 == 0)
        snprintf(texts[k], sizeof texts[k], "%s%se%d", sign, digs, -scale);
      else if (scale <= 0)
        snprintf(texts[k], sizeof texts[k], "%s%s", sign, digs);
      else if (scale < n)
        snprintf(texts[k], sizeof texts[k], "%s%.*s.%s", sign, n - scale,
                 digs, digs + n - scale);
      else
        snprintf(texts[k], sizeof texts[k], "%s0.%.*s%s", sign, scale - n,
                 "0000000000000000000000000", digs);
    }
    add(b, texts[k], "p", texts[k]);
  }
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_sink_close(s);
  {
    char *path = cairn_strfmt("%s/w.db", dir);
    sqlite3 *db;
    sqlite3_stmt *st;
    int n = 0;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_prepare_v2(db, "SELECT id, amount, typeof(amount) FROM thing", -1,
                       &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
      const char *t = (const char *)sqlite3_column_text(st, 0);
      const char *type = (const char *)sqlite3_column_text(st, 2);
      if (strcmp(type, "real") == 0) {
        double want = strtod(t, NULL), got = sqlite3_column_double(st, 1);
        cr_assert(memcmp(&want, &got, sizeof want) == 0 ||
                  (want == 0 && got == 0), "%s: %.17g != %.17g", t, got, want);
      } else {
        cr_assert_str_eq(type, "integer", "%s", t);
        cr_assert_eq(sqlite3_column_int64(st, 1), strtoll(t, NULL, 10));
      }
      n++;
    }
    cr_assert_eq(n, 4000);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(path);
  }
  cairn_batch_free(b);
  json_decref(cfg);
}

/* replace_partition against a model: windows of rows with random partition
 * values, in random order (interleaved, sorted, reversed), split into random
 * chunks, some windows loaded twice (a rerun or a corrected re-export as a
 * new attempt). After every window the table must hold, for each partition,
 * exactly the rows of the last window that met it. The zones that find old
 * rows are the thing under test: interleaved loads make wide zones, sorted
 * ones tight zones, and reloads reuse rowids. */
Test(sink_sqlite, replace_partition_matches_a_model_over_many_exports)
{
  enum { NPART = 7, MAXROWS = 400 };
  json_t *cfg;
  struct cairn_sink_ctx ctx;
  cairn_err err = {0};
  struct cairn_batch *b = cairn_batch_create(6);
  long want_rows[NPART] = {0}, want_sum[NPART] = {0};
  unsigned seed = 777;
#define RND(n) ((seed = seed * 1103515245u + 12345u), (int)((seed >> 16) % (n)))

  for (int win = 0; win < 24; win++) {
    struct cairn_window w = { "", "", "", "", "" };
    int parts[MAXROWS], amounts[MAXROWS], n = 1 + RND(MAXROWS), order = RND(3);
    int used = 1 + RND(NPART), first = RND(NPART);
    long rows[NPART] = {0}, sum[NPART] = {0};
    snprintf(w.key, sizeof w.key, "w%d", win % 9); /* windows come back */
    for (int i = 0; i < n; i++) {
      parts[i] = (first + RND(used)) % NPART;
      amounts[i] = 1 + RND(1000);
    }
    if (order) { /* sorted by partition, ascending or descending */
      for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && (order == 1 ? parts[j - 1] > parts[j]
                                             : parts[j - 1] < parts[j]); j--) {
          int t = parts[j];
          parts[j] = parts[j - 1];
          parts[j - 1] = t;
        }
    }
    for (int attempt = 0; attempt < 1 + (win % 4 == 3); attempt++) {
      cairn_sink *s = open_sink("replace_partition", &cfg, &ctx);
      long seq = 0;
      cr_assert_eq(cairn_sink_reset_window(s, &w, &err), CAIRN_OK, "%s",
                   err.msg);
      for (int i = 0; i < n;) {
        int m = 1 + RND(120);
        cairn_batch_reset(b);
        for (int k = 0; k < m && i < n; k++, i++) {
          char id[32], p[8], a[16];
          snprintf(id, sizeof id, "w%d-%d", win, i);
          snprintf(p, sizeof p, "p%d", parts[i]);
          snprintf(a, sizeof a, "%d", amounts[i]);
          add(b, id, p, a);
        }
        cr_assert_eq(cairn_sink_load(s, &w, ++seq, b, &err), CAIRN_OK, "%s",
                     err.msg);
      }
      cairn_sink_close(s);
      json_decref(cfg);
    }
    for (int i = 0; i < n; i++) {
      rows[parts[i]]++;
      sum[parts[i]] += amounts[i];
    }
    for (int p = 0; p < NPART; p++)
      if (rows[p]) {
        want_rows[p] = rows[p];
        want_sum[p] = sum[p];
      }
    {
      struct cairn_buf want = {0};
      char *got = query("SELECT part, sum(amount), count(*) FROM thing "
                        "GROUP BY 1 ORDER BY 1");
      for (int p = 0; p < NPART; p++)
        if (want_rows[p])
          cairn_buf_printf(&want, "p%d|%ld|%ld;", p, want_sum[p],
                           want_rows[p]);
      cr_assert_str_eq(got, want.data, "after window %d (order %d)", win,
                       order);
      free(got);
      cairn_buf_free(&want);
    }
  }
#undef RND
  cairn_batch_free(b);
}

Test(sink_sqlite, replace_partition_finds_rows_another_mode_wrote)
{
  json_t *cfg;
  struct cairn_sink_ctx ctx;
  cairn_err err = {0};
  const struct cairn_window w2 = { "w2", "", "", "", "" };
  struct cairn_batch *b = cairn_batch_create(6);
  cairn_sink *s = open_sink("replace_partition", &cfg, &ctx);
  add(b, "a", "p1", "1");
  add(b, "b", "p2", "2");
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_sink_close(s);
  json_decref(cfg);
  /* Appended rows have no zone: the append drops the table's zones... */
  s = open_sink("append", &cfg, &ctx);
  cairn_batch_reset(b);
  add(b, "c", "p1", "4");
  add(b, "d", "p3", "8");
  cr_assert_eq(cairn_sink_load(s, &w2, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_sink_close(s);
  json_decref(cfg);
  expect_rows("SELECT count(*) FROM _cairn_zone_marks", "0;",
              "the append marks the table's zones stale");
  /* ...and replace mode rebuilds them from the rows in its first load,
   * before replacing p1 and p3, so the appended rows go too. */
  s = open_sink("replace_partition", &cfg, &ctx);
  cr_assert_eq(cairn_sink_reset_window(s, &w1, &err), CAIRN_OK); /* rerun */
  cairn_batch_reset(b);
  add(b, "e", "p1", "16");
  add(b, "f", "p3", "32");
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_sink_close(s);
  json_decref(cfg);
  expect_rows("SELECT id, part, amount FROM thing ORDER BY id",
              "b|p2|2;e|p1|16;f|p3|32;", "");
  expect_rows("SELECT part, lo, hi FROM _cairn_zones ORDER BY 1, 2",
              "p1|3|3;p2|2|2;p3|4|4;",
              "rebuilt (p2), taken with their rows (p1, p3), added");
  expect_rows("SELECT tbl, max_rowid FROM _cairn_zone_marks", "thing|4;", "");
  cairn_batch_free(b);
}

/* Replace and upsert jobs share a table (as azure-resource-graph and
 * servicenow-cmdb share cmdb_ci): an upsert chunk between two chunks of a
 * replace run moves a row to another partition (the key, id, does not
 * hold the partition) and adds one. The replace run's next chunk must
 * still find the moved row, and its next run the rows of its first
 * chunk: the upsert used to drop every zone, and the replace run re-added
 * zones for its later chunks only. */
Test(sink_sqlite, zones_survive_an_upsert_between_replace_chunks)
{
  json_t *rcfg, *ucfg;
  struct cairn_sink_ctx rctx, uctx;
  cairn_err err = {0};
  const struct cairn_window wu = { "u1", "", "", "", "" };
  struct cairn_batch *b = cairn_batch_create(6);
  cairn_sink *r = open_sink("replace_partition", &rcfg, &rctx);
  cairn_sink *u = open_sink("upsert", &ucfg, &uctx);
  add(b, "a", "p1", "1");
  add(b, "b", "p1", "2");
  cr_assert_eq(cairn_sink_load(r, &w1, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_batch_reset(b);
  add(b, "c", "p1", "4");
  add(b, "b", "p2", "8"); /* moves b into p2 */
  cr_assert_eq(cairn_sink_load(u, &wu, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_sink_close(u);
  json_decref(ucfg);
  cairn_batch_reset(b);
  add(b, "d", "p2", "16"); /* p2 is new to the window: b goes */
  cr_assert_eq(cairn_sink_load(r, &w1, 2, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_sink_close(r);
  json_decref(rcfg);
  expect_rows("SELECT id, part, amount FROM thing ORDER BY id",
              "a|p1|1;c|p1|4;d|p2|16;",
              "the row the upsert moved into p2 was replaced with p2");

  /* The replace job's next run replaces p1 and p2 again: the rows of its
   * first chunk and the upserted c go (a left behind would also break
   * the upsert's unique index on id). */
  r = open_sink("replace_partition", &rcfg, &rctx);
  cr_assert_eq(cairn_sink_reset_window(r, &w1, &err), CAIRN_OK);
  cairn_batch_reset(b);
  add(b, "a", "p1", "32");
  cr_assert_eq(cairn_sink_load(r, &w1, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_batch_reset(b);
  add(b, "d", "p2", "64");
  cr_assert_eq(cairn_sink_load(r, &w1, 2, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_sink_close(r);
  json_decref(rcfg);
  expect_rows("SELECT id, part, amount FROM thing ORDER BY id",
              "a|p1|32;d|p2|64;", "each partition replaced once");
  cairn_batch_free(b);
}

/* VACUUM renumbers the rowids of a table without an INTEGER PRIMARY KEY
 * (closing the gaps replacements left), and zones are rowid ranges: the
 * next replacement must not go by the old numbers. Exports A and B hold
 * partition p1, C holds p2; B replaced A. */
static void load_export(const char *ids, const char *part, const char *amount)
{
  json_t *cfg;
  struct cairn_sink_ctx ctx;
  cairn_err err = {0};
  struct cairn_batch *b = cairn_batch_create(6);
  cairn_sink *s = open_sink("replace_partition", &cfg, &ctx);
  cr_assert_eq(cairn_sink_reset_window(s, &w1, &err), CAIRN_OK);
  for (const char *p = ids; *p; p++) {
    char id[2] = { *p, '\0' };
    add(b, id, part, amount);
  }
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_sink_finish_window(s, &w1, 1, "2024-01-01T00:00:00Z",
                                        &err), CAIRN_OK, "%s", err.msg);
  cairn_sink_close(s);
  json_decref(cfg);
  cairn_batch_free(b);
}

Test(sink_sqlite, replace_partition_after_vacuum_replaces_the_right_rows)
{
  load_export("ab", "p1", "1"); /* A */
  load_export("c", "p2", "2");  /* C */
  load_export("de", "p1", "4"); /* B replaces A: rowids 1-2 are free */
  free(query("VACUUM"));
  expect_rows("SELECT rowid, id FROM thing ORDER BY rowid", "1|c;2|d;3|e;",
              "VACUUM renumbered the rows");
  load_export("ab", "p1", "1"); /* A again */
  expect_rows("SELECT id, part FROM thing ORDER BY id", "a|p1;b|p1;c|p2;",
              "A replaced B, C stays");
}

/* A long load keeps the WAL bounded: without the restart it held every
 * page written since the window began (here 14 chunks of ~8 MB). How large
 * it gets before a restart depends on how far the checkpointer lags (when
 * it keeps up, SQLite restarts the WAL by itself), so the test checks the
 * bound, and that the load wrote more than the bound through the WAL. */

/* b := chunk seq's 2000 rows of ~4 KB each (text: 4001 bytes of scratch),
 * distinct text so nothing compresses or repeats: ~8 MB through the WAL. */
static void fill_big(struct cairn_batch *b, long seq, char *text)
{
  cairn_batch_reset(b);
  for (int r = 0; r < 2000; r++) {
    char id[48];
    snprintf(id, sizeof id, "%ld-%d", seq, r);
    for (int i = 0; i < 4000; i++)
      text[i] = (char)('a' + (seq * 7919 + r * 31 + i * 13) % 26);
    text[4000] = '\0';
    add(b, id, text, "1.5");
  }
}

Test(sink_sqlite, the_wal_restarts_during_a_long_load)
{
  json_t *cfg;
  struct cairn_sink_ctx ctx;
  cairn_err err = {0};
  struct cairn_batch *b = cairn_batch_create(6);
  cairn_sink *s = open_sink("append", &cfg, &ctx);
  char *wal = cairn_strfmt("%s/w.db-wal", dir);
  char *text = malloc(4001);
  long long most = 0;

  for (long seq = 1; seq <= 14; seq++) {
    struct stat sb;
    fill_big(b, seq, text);
    cr_assert_eq(cairn_sink_load(s, &w1, seq, b, &err), CAIRN_OK, "%s",
                 err.msg);
    cr_assert_eq(stat(wal, &sb), 0);
    if (sb.st_size > most)
      most = sb.st_size; /* its file keeps its largest size */
  }
  cr_assert_eq(cairn_sink_finish_window(s, &w1, 14, "2024-01-01T00:00:00Z",
                                        &err), CAIRN_OK, "%s", err.msg);
  cairn_sink_close(s);
  cr_assert_lt(most, 96LL << 20, "the WAL grew to %lld bytes", most);
  {
    /* every page went through the WAL: more than the bound in all */
    struct stat db;
    char *path = cairn_strfmt("%s/w.db", dir);
    cr_assert_eq(stat(path, &db), 0);
    cr_assert_gt(db.st_size, 100LL << 20, "the load wrote %lld bytes",
                 (long long)db.st_size);
    free(path);
  }
  char *count = query("SELECT count(*), count(DISTINCT id) FROM thing");
  cr_assert_str_eq(count, "28000|28000;");
  free(count);
  free(text);
  free(wal);
  cairn_batch_free(b);
  json_decref(cfg);
}

/* A VFS over the default one that counts syncs of -wal files, so a test
 * can see that a window was made durable. Registered as the default while
 * a test runs, so the sink's connections use it. */
struct count_file {
  sqlite3_file base;
  sqlite3_file *real; /* follows this struct */
  int is_wal;
};
static sqlite3_vfs *real_vfs;
static int wal_syncs; /* atomic: the checkpointer thread syncs too */

#define REAL(f) (((struct count_file *)(f))->real)
#define M(f) REAL(f)->pMethods
static int c_close(sqlite3_file *f)
{
  return M(f)->xClose(REAL(f));
}
static int c_read(sqlite3_file *f, void *p, int n, sqlite3_int64 o)
{
  return M(f)->xRead(REAL(f), p, n, o);
}
static int c_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 o)
{
  return M(f)->xWrite(REAL(f), p, n, o);
}
static int c_truncate(sqlite3_file *f, sqlite3_int64 n)
{
  return M(f)->xTruncate(REAL(f), n);
}
static int c_sync(sqlite3_file *f, int flags)
{
  if (((struct count_file *)f)->is_wal)
    __atomic_add_fetch(&wal_syncs, 1, __ATOMIC_SEQ_CST);
  return M(f)->xSync(REAL(f), flags);
}
static int c_size(sqlite3_file *f, sqlite3_int64 *n)
{
  return M(f)->xFileSize(REAL(f), n);
}
static int c_lock(sqlite3_file *f, int l)
{
  return M(f)->xLock(REAL(f), l);
}
static int c_unlock(sqlite3_file *f, int l)
{
  return M(f)->xUnlock(REAL(f), l);
}
static int c_reserved(sqlite3_file *f, int *r)
{
  return M(f)->xCheckReservedLock(REAL(f), r);
}
static int c_fcntl(sqlite3_file *f, int op, void *a)
{
  return M(f)->xFileControl(REAL(f), op, a);
}
static int c_sector(sqlite3_file *f)
{
  return M(f)->xSectorSize(REAL(f));
}
static int c_dev(sqlite3_file *f)
{
  return M(f)->xDeviceCharacteristics(REAL(f));
}
static int c_shm_map(sqlite3_file *f, int i, int sz, int ext,
                     void volatile **p)
{
  return M(f)->xShmMap(REAL(f), i, sz, ext, p);
}
static int c_shm_lock(sqlite3_file *f, int o, int n, int fl)
{
  return M(f)->xShmLock(REAL(f), o, n, fl);
}
static void c_shm_barrier(sqlite3_file *f)
{
  M(f)->xShmBarrier(REAL(f));
}
static int c_shm_unmap(sqlite3_file *f, int del)
{
  return M(f)->xShmUnmap(REAL(f), del);
}
static const sqlite3_io_methods count_io = {
  2, c_close, c_read, c_write, c_truncate, c_sync, c_size, c_lock, c_unlock,
  c_reserved, c_fcntl, c_sector, c_dev, c_shm_map, c_shm_lock, c_shm_barrier,
  c_shm_unmap, NULL, NULL,
};
#undef M
#undef REAL

static int c_open(sqlite3_vfs *v, const char *name, sqlite3_file *f,
                  int flags, int *out)
{
  struct count_file *cf = (struct count_file *)f;
  int rc;
  (void)v;
  cf->real = (sqlite3_file *)(cf + 1);
  cf->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
  rc = real_vfs->xOpen(real_vfs, name, cf->real, flags, out);
  f->pMethods = cf->real->pMethods ? &count_io : NULL;
  return rc;
}

static sqlite3_vfs count_vfs;

static void count_wal_syncs(void)
{
  real_vfs = sqlite3_vfs_find(NULL);
  count_vfs = *real_vfs;
  count_vfs.zName = "count-wal-syncs";
  count_vfs.szOsFile = (int)sizeof(struct count_file) + real_vfs->szOsFile;
  count_vfs.xOpen = c_open;
  cr_assert_eq(sqlite3_vfs_register(&count_vfs, 1), SQLITE_OK);
}

/* A dashboard holds a read transaction on the warehouse while windows
 * load: the load goes on (the WAL cannot restart, so it grows past the
 * checkpointer's restart point), and the window's checkpoint, which cannot
 * truncate the WAL, makes the window durable by syncing it instead of
 * failing with "database is locked" after the busy timeout. Once the
 * reader is done, the next window's checkpoint truncates the WAL again. */
Test(sink_sqlite, a_long_reader_neither_fails_nor_undoes_a_window)
{
  json_t *cfg;
  struct cairn_sink_ctx ctx;
  cairn_err err = {0};
  const struct cairn_window w2 = { "w2", "", "", "", "" };
  struct cairn_batch *b = cairn_batch_create(6);
  char *path = cairn_strfmt("%s/w.db", dir);
  char *wal = cairn_strfmt("%s/w.db-wal", dir);
  char *text = malloc(4001);
  sqlite3 *reader;
  struct stat sb;
  int64_t t0;
  int before;
  cairn_sink *s;

  count_wal_syncs();
  s = open_sink("append", &cfg, &ctx);
  add(b, "first", "p", "1");
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_sink_finish_window(s, &w1, 1, "2024-01-01T00:00:00Z",
                                        &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(sqlite3_open(path, &reader), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM thing",
                            NULL, NULL, NULL), SQLITE_OK);

  for (long seq = 1; seq <= 10; seq++) { /* ~80 MB through the WAL */
    fill_big(b, seq, text);
    cr_assert_eq(cairn_sink_load(s, &w2, seq, b, &err), CAIRN_OK, "%s",
                 err.msg);
  }
  cr_assert_eq(stat(wal, &sb), 0);
  cr_assert_gt(sb.st_size, 64LL << 20, "the WAL could not restart: %lld",
               (long long)sb.st_size);
  before = __atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST);
  t0 = cairn_clock_mono_ms();
  cr_assert_eq(cairn_sink_finish_window(s, &w2, 10, "2024-01-01T00:00:00Z",
                                        &err), CAIRN_OK, "%s", err.msg);
  cr_assert_lt(cairn_clock_mono_ms() - t0, 5000, "finish waited too long");
  cr_assert_gt(__atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST), before,
               "the WAL was synced after the last commit");
  cr_assert_gt(stat(wal, &sb) == 0 ? sb.st_size : 0, 0, "WAL kept");
  expect_rows("SELECT count(*) FROM thing", "20001;", "a new reader sees all");

  sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL);
  sqlite3_close(reader);
  cairn_batch_reset(b);
  add(b, "last", "p", "1");
  cr_assert_eq(cairn_sink_load(s, &w1, 2, b, &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_sink_finish_window(s, &w1, 2, "2024-01-01T00:00:00Z",
                                        &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(stat(wal, &sb), 0);
  cr_assert_eq(sb.st_size, 0, "the reader gone, the WAL is truncated");
  cairn_sink_close(s);
  sqlite3_vfs_unregister(&count_vfs);
  expect_rows("SELECT count(*) FROM thing", "20002;", "");
  free(text);
  free(wal);
  free(path);
  cairn_batch_free(b);
  json_decref(cfg);
}

/* A contract partitioned by a date-time field: replace_partition takes its
 * day. */
static struct cairn_field dt_fields[] = {
  { "id", CAIRN_F_STRING, 1, 0 },
  { "at", CAIRN_F_DATETIME, 1, 0 },
  { "amount", CAIRN_F_NUMBER, 0, 0 },
};
static size_t dt_partition[] = { 1 };
static struct cairn_contract dt_contract = {
  "hourly", "urn:hourly", "1.0.0", 3, dt_fields, 1, key, 1, dt_partition,
  NULL, NULL,
};

static cairn_sink *open_hourly(json_t **cfg, struct cairn_sink_ctx *ctx)
{
  return open_sink_for(&dt_contract, "replace_partition", cfg, ctx);
}


/* Load an hourly export of two days, then a corrected one that has only
 * one of the first day's hours, as a new attempt of the window. */
static void hourly_exports(void)
{
  json_t *cfg;
  struct cairn_sink_ctx ctx;
  cairn_err err = {0};
  cairn_sink *s = open_hourly(&cfg, &ctx);
  struct cairn_batch *b = cairn_batch_create(3);
  add3(b, "a", "2026-05-01T00:00:00Z", "1");
  add3(b, "b", "2026-05-01T01:00:00Z", "2");
  add3(b, "c", "2026-05-02T00:00:00Z", "4");
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_batch_reset(b);
  add3(b, "d", "2026-05-01T02:00:00Z", "8");
  cr_assert_eq(cairn_sink_load(s, &w1, 2, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_sink_close(s);
  json_decref(cfg);
  if (getenv("CAIRN_TEST_OLD_RULE")) {
    /* A warehouse from before the rule: no rule row, and zones keyed by
     * whole values (dropped here: the sink rebuilds them by its rule). */
    free(query("DELETE FROM _cairn_part_rules"));
    free(query("DELETE FROM _cairn_zones"));
  }

  s = open_hourly(&cfg, &ctx);
  cr_assert_eq(cairn_sink_reset_window(s, &w1, &err), CAIRN_OK);
  cairn_batch_reset(b);
  add3(b, "a", "2026-05-01T00:00:00Z", "16");
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_sink_close(s);
  json_decref(cfg);
  cairn_batch_free(b);
}

Test(sink_sqlite, replace_partition_replaces_whole_days_of_an_hourly_export)
{
  hourly_exports();
  expect_rows("SELECT substr(at, 1, 10), sum(amount), count(*) FROM hourly"
              " GROUP BY 1",
              "2026-05-01|16|1;2026-05-02|4|1;",
              "the corrected export's day replaces every hour of that "
              "day, the other day stays");
  expect_rows("SELECT part FROM _cairn_zones ORDER BY 1",
              "2026-05-01;2026-05-02;",
              "zones are keyed by day");
  expect_rows("SELECT tbl, day_fields FROM _cairn_part_rules",
              "hourly|1;",
              "");
}

Test(sink_sqlite, a_warehouse_from_before_the_day_rule_keeps_whole_values)
{
  setenv("CAIRN_TEST_OLD_RULE", "1", 1);
  hourly_exports();
  unsetenv("CAIRN_TEST_OLD_RULE");
  expect_rows("SELECT at, sum(amount) FROM hourly GROUP BY 1 ORDER BY 1",
              "2026-05-01T00:00:00Z|16;2026-05-01T01:00:00Z|2;"
              "2026-05-01T02:00:00Z|8;2026-05-02T00:00:00Z|4;",
              "a table that had rows and no rule keeps replacing whole "
              "values, as the cairn that wrote it did");
  expect_rows("SELECT tbl, day_fields FROM _cairn_part_rules",
              "hourly|0;",
              "");
}

/* The same table under the month grain (x-cairn-partition-grain): a
 * corrected export of May replaces every row of May, including a day it no
 * longer has; June stays. */
Test(sink_sqlite, replace_partition_by_month_replaces_days_the_export_lost)
{
  static unsigned char month[] = { CAIRN_PART_MONTH };
  struct cairn_contract mc = dt_contract;
  json_t *cfg;
  struct cairn_sink_ctx ctx;
  cairn_err err = {0};
  cairn_sink *s;
  struct cairn_batch *b = cairn_batch_create(3);

  mc.partition_cut = month;
  s = open_sink_for(&mc, "replace_partition", &cfg, &ctx);
  add3(b, "a", "2026-05-01T00:00:00Z", "1");
  add3(b, "b", "2026-05-31T23:00:00Z", "2");
  add3(b, "c", "2026-06-01T00:00:00Z", "4");
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_sink_close(s);
  json_decref(cfg);

  s = open_sink_for(&mc, "replace_partition", &cfg, &ctx);
  cr_assert_eq(cairn_sink_reset_window(s, &w1, &err), CAIRN_OK);
  cairn_batch_reset(b);
  add3(b, "a", "2026-05-01T00:00:00Z", "8");
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_sink_close(s);
  json_decref(cfg);
  cairn_batch_free(b);

  expect_rows("SELECT id, at, amount FROM hourly ORDER BY id",
              "a|2026-05-01T00:00:00Z|8;c|2026-06-01T00:00:00Z|4;",
              "May is replaced as a whole, June stays");
  expect_rows("SELECT part FROM _cairn_zones ORDER BY 1",
              "2026-05;2026-06;",
              "zones are keyed by month");
  expect_rows("SELECT tbl, day_fields, spec FROM _cairn_part_rules",
              "hourly|0|at:month;",
              "");
}

/* A window's span (a cost export's declared days, or a day or month
 * window) limits what a month partition loses to those days: a one-time
 * export of the second half of May replaces that half and keeps the
 * first, whose zones still find it when a whole-May export replaces both;
 * a window without a span replaces whole months. */
static void load_span(const struct cairn_contract *c, const char *wkey,
                      const char *from, const char *to, const char *rows)
{
  struct cairn_window w = { "", "", "", "", "" };
  struct cairn_batch *b = cairn_batch_create(3);
  struct cairn_sink_ctx ctx;
  cairn_err err = {0};
  json_t *cfg;
  cairn_sink *s = open_sink_for(c, "replace_partition", &cfg, &ctx);
  char id[8], at[24], amount[8];
  int used;

  snprintf(w.key, sizeof w.key, "%s", wkey);
  snprintf(w.span_from, sizeof w.span_from, "%s", from);
  snprintf(w.span_to, sizeof w.span_to, "%s", to);
  /* rows: "id@YYYY-MM-DD=amount ..." */
  for (const char *p = rows; sscanf(p, " %7[^@]@%10s=%7s%n", id, at, amount,
                                    &used) == 3; p += used) {
    strcat(at, "T00:00:00Z");
    add3(b, id, at, amount);
  }
  cr_assert_eq(cairn_sink_load(s, &w, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_sink_close(s);
  json_decref(cfg);
  cairn_batch_free(b);
}

Test(sink_sqlite, a_window_span_replaces_only_its_days_of_a_month)
{
  static unsigned char month[] = { CAIRN_PART_MONTH };
  static const char rows[] = "SELECT id, amount FROM hourly ORDER BY id";
  static const char zones[] = "SELECT part, count(*) FROM _cairn_zones"
                              " GROUP BY 1 ORDER BY 1";
  struct cairn_contract mc = dt_contract;

  mc.partition_cut = month;
  load_span(&mc, "may", "2026-05-01", "2026-06-01",
            "a@2026-05-01=1 b@2026-05-10=2 c@2026-05-20=4 x@2026-04-30=32");
  load_span(&mc, "second-half", "2026-05-15", "2026-06-01",
            "c@2026-05-20=8 e@2026-05-25=64");
  expect_rows(rows, "a|1;b|2;c|8;e|64;x|32;",
              "May 15-31 replaced, May 1-14 and April kept");
  expect_rows(zones, "2026-04|1;2026-05|2;", "May's old zone is kept");

  load_span(&mc, "may-again", "2026-05-01", "2026-06-01", "a@2026-05-01=128");
  expect_rows(rows, "a|128;x|32;", "a whole-May span replaces both loads");
  expect_rows(zones, "2026-04|1;2026-05|1;", "and drops May's old zones");

  load_span(&mc, "no-span", "", "", "x@2026-04-02=256 a@2026-05-31=512");
  expect_rows(rows, "a|512;x|256;", "no span: whole months");
}

/* Version 1.1.0 of "thing" adds a nullable column "scope" (the last of
 * fields[]) and partitions by (part, scope). */
static size_t v2_partition[] = { 1, 6 };
static struct cairn_contract v2_contract = {
  "thing", "urn:thing", "1.1.0", 7, fields, 1, key, 2, v2_partition, NULL,
  NULL,
};

static void load_v2(cairn_sink *s, long seq, const char *id, const char *scope,
                    const char *amount)
{
  cairn_err err = {0};
  struct cairn_batch *b = cairn_batch_create(7);
  struct cairn_value *row = add3(b, id, "p1", amount);
  cairn_value_set_text(b, &row[6], CAIRN_V_STR, scope, strlen(scope));
  cr_assert_eq(cairn_sink_load(s, &w1, seq, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_batch_free(b);
}

Test(sink_sqlite, a_new_partition_column_is_added_and_replace_refuses_old_rows)
{
  json_t *cfg;
  struct cairn_sink_ctx ctx;
  cairn_err err = {0};
  cairn_sink *s = open_sink("replace_partition", &cfg, &ctx);
  struct cairn_batch *b = cairn_batch_create(6);

  add(b, "a", "p1", "1");
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_sink_close(s);
  json_decref(cfg);
  cairn_batch_free(b);
  expect_rows("SELECT spec FROM _cairn_part_rules", "part;", "");

  /* Appending under 1.1.0 adds the column (nullable) and names columns in
   * its inserts, so it works on the old table. */
  s = open_sink_for(&v2_contract, "append", &cfg, &ctx);
  load_v2(s, 2, "b", "s1", "2");
  cairn_sink_close(s);
  json_decref(cfg);
  expect_rows("SELECT id, part, amount, scope FROM thing ORDER BY id",
              "a|p1|1|NULL;b|p1|2|s1;",
              "");
  expect_rows("SELECT spec FROM _cairn_part_rules",
              ";",
              "the rows' rule is now unknown: recorded as ''");

  /* Replacing under the new partition could not find row a (its scope is
   * NULL): refused before anything is loaded, with what to do. */
  cr_assert_eq(cairn_sink_open(cairn_sink_find("sqlite"),
                               &(struct cairn_sink_ctx){ .job = "j",
                                 .sink_name = "warehouse", .out_dir = dir,
                                 .contract = &v2_contract,
                                 .cfg = cfg = json_pack("{s:s,s:s,s:s}",
                                   "type", "sqlite", "path", "w.db", "mode",
                                   "replace_partition") }, &s, &err),
               CAIRN_EUSAGE);
  cr_assert(strstr(err.msg, "table thing holds rows partitioned by other "
                   "fields than contract thing 1.1.0 partitions by "
                   "(part,scope)") != NULL, "%s", err.msg);
  cr_assert(strstr(err.msg, "Changing a contract's partition") != NULL);
  cairn_err_clear(&err);
  json_decref(cfg);

  /* Once the table is emptied, it takes the contract's rule. */
  free(query("DELETE FROM thing"));
  s = open_sink_for(&v2_contract, "replace_partition", &cfg, &ctx);
  cr_assert_eq(cairn_sink_reset_window(s, &w1, &err), CAIRN_OK);
  load_v2(s, 1, "c", "s1", "3");
  load_v2(s, 2, "d", "s2", "4");
  cairn_sink_close(s);
  json_decref(cfg);
  s = open_sink_for(&v2_contract, "replace_partition", &cfg, &ctx);
  cr_assert_eq(cairn_sink_reset_window(s, &w1, &err), CAIRN_OK);
  load_v2(s, 1, "e", "s2", "5");
  cairn_sink_close(s);
  json_decref(cfg);
  expect_rows("SELECT id, scope, amount FROM thing ORDER BY id",
              "c|s1|3;e|s2|5;",
              "scope s2 replaced, s1 stays");
  expect_rows("SELECT spec FROM _cairn_part_rules", "part,scope;", "");
}

/* The 16 to 19 digit decimals that take the 128-bit path (a mantissa past
 * 2^53, or an exponent past 10^22) are the double strtod makes of them,
 * to the last bit, where rounding is hardest: a decimal exactly halfway
 * between two doubles (ties to even), one a hair above or below halfway
 * whose hair only the division's remainder holds (exponents -25 to -27),
 * a round-up that carries into the next power of two, and a spread of
 * mantissas and exponents -27..27. The few values of the test above never
 * told a wrong tie or a lost remainder from the right double. */
Test(sink_sqlite, long_decimals_round_as_strtod_does)
{
  static const char *fixed[] = {
    /* exact ties: to even, down and up */
    "865530395486551.8125", "619019414573216.0625", "636928639741121.8125",
    "9007199254740993.0", "9007199254740995.0", "18014398509481985.0",
    "2.2517998136852485e0", "9007199254740993e5", "3.6028797018963971e17",
    /* a hair off halfway, seen only by the remainder */
    "7772625534762621016e-27", "6196760979936624559e-27",
    "8621721422768766987e-26", "793069747368453720e-27",
    "7812921876292430541e-27", "4737676419036669257e-25",
    "0.000000007772625534762621016", "-5.940678612222176477e-9",
    "2126694533534907e-27", "2897933830205965327e-27",
    "136491353530653809e-27", "59050829994714626e-27",
    /* carries into the next binade */
    "9007199254740991.9", "18014398509481983.9", "9.999999999999999999e22",
    "1.8446744073709551615e19", "9999999999999999999e-27",
  };
  enum { SPREAD = 3000 };
  json_t *cfg;
  struct cairn_sink_ctx ctx;
  cairn_err err = {0};
  cairn_sink *s = open_sink("append", &cfg, &ctx);
  struct cairn_batch *b = cairn_batch_create(6);
  size_t n_fixed = sizeof fixed / sizeof *fixed, k = 0;
  char (*texts)[40] = calloc(n_fixed + SPREAD, sizeof *texts);
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  char *path;
  sqlite3 *db;
  sqlite3_stmt *st;

  for (size_t i = 0; i < n_fixed; i++)
    snprintf(texts[i], sizeof texts[i], "%s", fixed[i]);
  for (size_t i = 0; i < SPREAD; i++) {
    uint64_t lo = 1000000000000000ULL, m; /* 16 to 19 digits (".0":
                                                  not an integer) */
    int digits = 16 + (int)(i % 4), e = -27 + (int)(i / 4 % 55);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    for (int d = 16; d < digits; d++)
      lo *= 10;
    m = lo + x % (digits == 19 ? 10000000000000000000ULL - lo : 9 * lo);
    snprintf(texts[n_fixed + i], sizeof texts[0], "%s%llu%se%d",
             i % 3 ? "" : "-", (unsigned long long)m, e ? "" : ".0", e);
  }
  for (size_t i = 0; i < n_fixed + SPREAD; i++)
    add(b, "v", "p", texts[i]);
  cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK, "%s", err.msg);
  cairn_sink_close(s);
  path = cairn_strfmt("%s/w.db", dir);
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_prepare_v2(db, "SELECT amount, typeof(amount) FROM "
                                  "thing ORDER BY rowid", -1, &st, NULL),
               SQLITE_OK);
  for (; sqlite3_step(st) == SQLITE_ROW; k++) {
    double want = strtod(texts[k], NULL), got = sqlite3_column_double(st, 0);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 1), "real", "%s",
                     texts[k]);
    cr_assert(memcmp(&got, &want, sizeof got) == 0, "%s: %.17g, not %.17g",
              texts[k], got, want);
  }
  cr_assert_eq(k, n_fixed + SPREAD);
  sqlite3_finalize(st);
  sqlite3_close(db);
  free(path);
  free(texts);
  cairn_batch_free(b);
  json_decref(cfg);
}

/* Two loads of one partition at once (two jobs of one export, or a window
 * resumed after another job loaded the partition): the partition ends
 * with exactly the rows of the load that claimed it last, as if the loads
 * had run one after the other. Load B's first chunk used to delete load
 * A's first chunk, and A's second chunk then went in beside B's rows. */
struct job_sink {
  cairn_sink *s;
  json_t *cfg;
  struct cairn_sink_ctx ctx;
};

static void open_job(struct job_sink *js, const struct cairn_contract *c,
                     const char *job)
{
  cairn_err err = {0};
  js->cfg = json_pack("{s:s,s:s,s:s}", "type", "sqlite", "path", "w.db",
                      "mode", "replace_partition");
  js->ctx = (struct cairn_sink_ctx){ .job = job, .sink_name = "warehouse",
                                     .cfg = js->cfg, .out_dir = dir,
                                     .contract = c };
  cr_assert_eq(cairn_sink_open(cairn_sink_find("sqlite"), &js->ctx, &js->s,
                               &err), CAIRN_OK, "%s", err.msg);
}

static void close_job(struct job_sink *js)
{
  cairn_sink_close(js->s);
  json_decref(js->cfg);
}

/* Load chunk seq of w: rows "id@part=amount ..." (part: a text, or for a
 * date-time partition field a day, made a date-time). */
static void load_rows(struct job_sink *js, const struct cairn_window *w,
                      long seq, const char *rows)
{
  struct cairn_batch *b = cairn_batch_create(js->ctx.contract->n_fields);
  cairn_err err = {0};
  char id[8], part[24], amount[8];
  int used;
  for (const char *p = rows; sscanf(p, " %7[^@]@%10[^=]=%7s%n", id, part,
                                    amount, &used) == 3; p += used) {
    if (js->ctx.contract->fields[1].type == CAIRN_F_DATETIME)
      strcat(part, "T00:00:00Z");
    add3(b, id, part, amount);
  }
  cr_assert_eq(cairn_sink_load(js->s, w, seq, b, &err), CAIRN_OK, "%s",
               err.msg);
  cairn_batch_free(b);
}

Test(sink_sqlite, two_loads_of_one_partition_end_with_the_later_ones)
{
  struct job_sink a, b;
  cairn_err err = {0};
  static const char rows[] = "SELECT id, part FROM thing ORDER BY id";

  open_job(&a, &contract, "a");
  open_job(&b, &contract, "b");
  load_rows(&a, &w1, 1, "a1@p1=1 a2@p2=2");
  load_rows(&b, &w1, 1, "b1@p1=4");
  load_rows(&a, &w1, 2, "a3@p1=8 a4@p2=16");
  load_rows(&b, &w1, 2, "b2@p1=32");
  expect_rows(rows, "a2|p2;a4|p2;b1|p1;b2|p1;",
              "p1 is b's, the later claim; p2, which b did not load, a's");
  expect_rows("SELECT job, part, claim FROM _cairn_partitions ORDER BY 2, 3",
              "a|p1|1;b|p1|2;a|p2|1;", "");
  close_job(&a);

  /* A resumed later (another process: the claims are read back) still
   * leaves p1 to b. */
  open_job(&a, &contract, "a");
  load_rows(&a, &w1, 3, "a5@p1=64 a6@p2=128");
  expect_rows(rows, "a2|p2;a4|p2;a6|p2;b1|p1;b2|p1;", "resumed: still b's");
  /* A new attempt of a's window claims again: now the later load. */
  cr_assert_eq(cairn_sink_reset_window(a.s, &w1, &err), CAIRN_OK);
  load_rows(&a, &w1, 1, "a7@p1=256");
  load_rows(&b, &w1, 3, "b3@p1=512");
  expect_rows(rows, "a2|p2;a4|p2;a6|p2;a7|p1;", "a's again, b left out");
  close_job(&a);
  close_job(&b);
}

/* With spans (a cost export's declared days, day windows) the later load
 * takes its days of a month partition only: the earlier load keeps its
 * rows of the other days. */
Test(sink_sqlite, a_later_load_of_some_days_takes_those_days_only)
{
  static unsigned char month[] = { CAIRN_PART_MONTH };
  struct cairn_contract mc = dt_contract;
  struct cairn_window may = { "may", "", "", "2026-05-01", "2026-06-01" };
  struct cairn_window half = { "half", "", "", "2026-05-15", "2026-06-01" };
  struct job_sink a, b;

  mc.partition_cut = month;
  open_job(&a, &mc, "a");
  open_job(&b, &mc, "b");
  load_rows(&a, &may, 1, "a@2026-05-01=1 b@2026-05-20=2");
  load_rows(&b, &half, 1, "c@2026-05-20=4");
  /* a's rows leave out what b took, and say so once, when a chunk first
   * leaves some out: not for a chunk b's days take nothing of. */
  {
    char *logged = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&logged, &len);
    cairn_log_init(0, CAIRN_LOG_WARN, fp);
    load_rows(&a, &may, 2, "d@2026-05-10=8");
    fflush(fp);
    cr_expect_eq(len, 0, "nothing left out, nothing said: %s", logged);
    load_rows(&a, &may, 3, "e@2026-05-25=16 f@2026-05-26=32");
    load_rows(&a, &may, 4, "g@2026-05-27=64");
    cairn_log_init(0, CAIRN_LOG_ERROR, stderr);
    fclose(fp);
    {
      const char *said = strstr(logged, "claimed partition");
      cr_expect(said && strstr(logged, "job b (window half) claimed "
                               "partition") &&
                strstr(logged, "for the days 2026-05-15 up to 2026-06-01"),
                "said: %s", logged);
      cr_expect(said && !strstr(said + 1, "claimed partition"),
                "said once: %s", logged);
    }
    free(logged);
  }
  close_job(&a);
  close_job(&b);
  expect_rows("SELECT id, amount FROM hourly ORDER BY id", "a|1;c|4;d|8;",
              "May 15-31 is b's (b, e, f and g go), May 1-14 a's");
}

/* Make table tbl of the warehouse unreadable: its root page's type byte
 * set to one no b-tree page has, so that reading the table fails with
 * SQLITE_CORRUPT while its schema still prepares. */
static void corrupt_table(const char *tbl)
{
  char *path = cairn_strfmt("%s/w.db", dir);
  char *sql = cairn_strfmt("SELECT rootpage FROM sqlite_master WHERE "
                           "name='%s'", tbl);
  char *root = query(sql), *size = query("PRAGMA page_size");
  FILE *fp = fopen(path, "r+b");
  cr_assert(fp != NULL);
  cr_assert_eq(fseek(fp, (atol(root) - 1) * atol(size), SEEK_SET), 0);
  cr_assert_eq(fputc(0xff, fp), 0xff);
  cr_assert_eq(fclose(fp), 0);
  free(root);
  free(size);
  free(sql);
  free(path);
}

/* A table the sink cannot read at open is an error with SQLite's reason,
 * not an empty table: taken for empty, a warehouse's partition rule was
 * overwritten by the contract's and its zones dropped. (A corrupt rules
 * table also failed before, at the rule's rewrite into the same page; a
 * read failing where the write would not is the case its check is for.) */
Test(sink_sqlite, an_unreadable_table_at_open_is_an_error_not_empty)
{
  static const char *const tables[] = { "thing", "_cairn_part_rules" };
  for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
    json_t *cfg;
    struct cairn_sink_ctx ctx;
    cairn_err err = {0};
    cairn_sink *s = open_sink("replace_partition", &cfg, &ctx);
    struct cairn_batch *b = cairn_batch_create(6);

    add(b, "a", "p1", "1");
    cr_assert_eq(cairn_sink_load(s, &w1, 1, b, &err), CAIRN_OK, "%s",
                 err.msg);
    cairn_sink_close(s);
    cairn_batch_free(b);
    s = NULL;
    corrupt_table(tables[i]);
    cr_expect_eq(cairn_sink_open(cairn_sink_find("sqlite"), &ctx, &s, &err),
                 CAIRN_ESINK, "%s: %s", tables[i], err.msg);
    cr_expect(strstr(err.msg, "malformed") != NULL, "%s: %s", tables[i],
              err.msg);
    cairn_sink_close(s);
    json_decref(cfg);
    cairn_fs_remove_tree(dir, NULL);
  }
}
