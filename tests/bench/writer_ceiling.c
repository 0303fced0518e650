/* SPDX-License-Identifier: MIT */
/* writer_ceiling.c -- what one SQLite writer alone does with the rows cairn
 * loaded: the ceiling of the CSV -> SQLite path on this machine (issue #6:
 * "the single SQLite writer is the limit; aim for 70 % of it end to end").
 *
 * usage: writer_ceiling SRC.db TABLE DST.db [TXN_ROWS]
 *
 * Reads every row of TABLE from SRC.db into memory first (untimed), then
 * times, on one thread: a fresh DST.db with the sink's settings (64 KiB
 * pages, WAL, synchronous=NORMAL, 16 MiB cache), the same CREATE TABLE,
 * one prepared single-row INSERT per row with the values bound as they
 * are stored (texts SQLITE_STATIC), a COMMIT every TXN_ROWS rows (default
 * 50000) and the WAL checkpointed and truncated at the end, as the sink
 * does when a window ends. No parsing, mapping, hashing, checkpointing or
 * second thread: only SQLite's own work, which is why cairn cannot be
 * faster than this. Prints "rows N seconds S cpu C" on stdout (C: user +
 * system seconds of the timed part). */
#define _POSIX_C_SOURCE 200809L
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

struct val {
  int type;            /* SQLITE_INTEGER, _FLOAT, _TEXT, _BLOB, _NULL */
  int len;
  union {
    sqlite3_int64 i;
    double        d;
    size_t        off; /* text and blob: into the arena */
  } u;
};

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
  if (need <= *cap)
    return p;
  while (*cap < need)
    *cap = *cap ? *cap * 2 : 1024;
  p = realloc(p, *cap * size);
  if (!p) {
    fputs("writer_ceiling: out of memory\n", stderr);
    exit(1);
  }
  return p;
}

static int exec(sqlite3 *db, const char *sql)
{
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    fprintf(stderr, "writer_ceiling: %s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    return -1;
  }
  return 0;
}

static double cpu(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
  sqlite3 *src = NULL, *dst = NULL;
  sqlite3_stmt *st = NULL;
  struct val *vals = NULL;
  char *arena = NULL, *create = NULL, *sql = NULL;
  size_t n_vals = 0, cap_vals = 0, used = 0, cap_arena = 0, rows = 0;
  long txn = argc > 4 ? atol(argv[4]) : 50000;
  int ncol = 0, rc = 1;
  double t0, t1, c0;

  if (argc < 4 || txn <= 0) {
    fputs("usage: writer_ceiling SRC.db TABLE DST.db [TXN_ROWS]\n", stderr);
    return 2;
  }
  /* The rows, into memory. */
  if (sqlite3_open_v2(argv[1], &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    goto fail;
  sql = sqlite3_mprintf("SELECT sql FROM sqlite_master WHERE type = 'table' "
                        "AND name = %Q", argv[2]);
  if (sqlite3_prepare_v2(src, sql, -1, &st, NULL) != SQLITE_OK)
    goto fail;
  if (sqlite3_step(st) != SQLITE_ROW) {
    fprintf(stderr, "writer_ceiling: no table %s in %s\n", argv[2], argv[1]);
    goto done;
  }
  create = strdup((const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_free(sql);
  sql = sqlite3_mprintf("SELECT * FROM \"%w\" ORDER BY rowid", argv[2]);
  if (sqlite3_prepare_v2(src, sql, -1, &st, NULL) != SQLITE_OK)
    goto fail;
  ncol = sqlite3_column_count(st);
  while (sqlite3_step(st) == SQLITE_ROW) {
    vals = grow(vals, &cap_vals, n_vals + (size_t)ncol, sizeof *vals);
    for (int c = 0; c < ncol; c++) {
      struct val *v = &vals[n_vals++];
      v->type = sqlite3_column_type(st, c);
      v->len = 0;
      if (v->type == SQLITE_INTEGER) {
        v->u.i = sqlite3_column_int64(st, c);
      } else if (v->type == SQLITE_FLOAT) {
        v->u.d = sqlite3_column_double(st, c);
      } else if (v->type != SQLITE_NULL) {
        const void *p = v->type == SQLITE_TEXT
                            ? (const void *)sqlite3_column_text(st, c)
                            : sqlite3_column_blob(st, c);
        v->len = sqlite3_column_bytes(st, c);
        arena = grow(arena, &cap_arena, used + (size_t)v->len + 1, 1);
        memcpy(arena + used, p, (size_t)v->len);
        arena[used + (size_t)v->len] = '\0';
        v->u.off = used;
        used += (size_t)v->len + 1;
      }
    }
    rows++;
  }
  sqlite3_finalize(st);
  st = NULL;
  sqlite3_close(src);
  src = NULL;

  /* Timed: SQLite alone. */
  t0 = now();
  c0 = cpu();
  if (sqlite3_open_v2(argv[3], &dst,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                          SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
      exec(dst, "PRAGMA page_size=65536; PRAGMA journal_mode=WAL;"
                " PRAGMA synchronous=NORMAL; PRAGMA cache_size=-16384;") ||
      exec(dst, create))
    goto done;
  sqlite3_free(sql);
  sql = sqlite3_mprintf("INSERT INTO \"%w\" VALUES (?", argv[2]);
  for (int c = 1; c < ncol; c++) {
    char *s = sqlite3_mprintf("%s, ?", sql);
    sqlite3_free(sql);
    sql = s;
  }
  {
    char *s = sqlite3_mprintf("%s)", sql);
    sqlite3_free(sql);
    sql = s;
  }
  if (sqlite3_prepare_v2(dst, sql, -1, &st, NULL) != SQLITE_OK ||
      exec(dst, "BEGIN"))
    goto fail_dst;
  for (size_t r = 0; r < rows; r++) {
    const struct val *row = &vals[r * (size_t)ncol];
    for (int c = 0; c < ncol; c++) {
      const struct val *v = &row[c];
      switch (v->type) {
      case SQLITE_INTEGER: sqlite3_bind_int64(st, c + 1, v->u.i); break;
      case SQLITE_FLOAT: sqlite3_bind_double(st, c + 1, v->u.d); break;
      case SQLITE_TEXT:
        sqlite3_bind_text(st, c + 1, arena + v->u.off, v->len, SQLITE_STATIC);
        break;
      case SQLITE_BLOB:
        sqlite3_bind_blob(st, c + 1, arena + v->u.off, v->len, SQLITE_STATIC);
        break;
      default: sqlite3_bind_null(st, c + 1); break;
      }
    }
    if (sqlite3_step(st) != SQLITE_DONE)
      goto fail_dst;
    sqlite3_reset(st);
    if ((r + 1) % (size_t)txn == 0 && (exec(dst, "COMMIT") || exec(dst, "BEGIN")))
      goto done;
  }
  if (exec(dst, "COMMIT") || exec(dst, "PRAGMA wal_checkpoint(TRUNCATE)"))
    goto done;
  sqlite3_finalize(st);
  st = NULL;
  if (sqlite3_close(dst) != SQLITE_OK)
    goto fail_dst;
  dst = NULL;
  t1 = now();
  printf("rows %zu seconds %.3f cpu %.3f\n", rows, t1 - t0, cpu() - c0);
  rc = 0;
  goto done;
fail:
  fprintf(stderr, "writer_ceiling: %s: %s\n", argv[1], sqlite3_errmsg(src));
  goto done;
fail_dst:
  fprintf(stderr, "writer_ceiling: %s: %s\n", argv[3], sqlite3_errmsg(dst));
done:
  sqlite3_finalize(st);
  sqlite3_close(src);
  sqlite3_close(dst);
  sqlite3_free(sql);
  free(create);
  free(vals);
  free(arena);
  return rc;
}
