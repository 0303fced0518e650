/* SPDX-License-Identifier: MIT */
/* test_src_file.c -- the file source: every RFC 4180 corner, BOM, ragged
 * rows, NDJSON, chunking and resume from a byte-offset cursor. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/mem.h"
#include "source/csv.h"
#include "source/source.h"

struct got {
  int    n;
  char   rows[16][8][64];   /* [record][col] */
  size_t ncols[16];
  size_t raw_len[16];
  int    ragged[16];
  char   pos[16][128];
  char   err[16][512];
  char   raw[16][128];
};

static int collect(void *ud, const struct cairn_record *rec)
{
  struct got *g = ud;
  int i = g->n++;
  cr_assert_lt(i, 16);
  g->ncols[i] = rec->n_cols;
  g->ragged[i] = rec->ragged;
  snprintf(g->pos[i], sizeof g->pos[i], "%s", rec->position);
  snprintf(g->err[i], sizeof g->err[i], "%s", rec->error ? rec->error : "");
  g->raw_len[i] = rec->raw_len;
  snprintf(g->raw[i], sizeof g->raw[i], "%.*s", (int)rec->raw_len, rec->raw);
  for (size_t c = 0; c < rec->n_cols && c < 8; c++) {
    snprintf(g->rows[i][c], 64, "%.*s", (int)rec->col_lens[c], rec->cols[c]);
  }
  return 0;
}

static cairn_source *open_src(const char *path, const char *fmt, int rows,
                              json_t **cfg_out, struct cairn_source_ctx *ctx)
{
  cairn_source *s = NULL;
  cairn_err err = {0};
  *cfg_out = json_pack("{s:s,s:s,s:s,s:i}", "type", "file", "path", path,
                       "format", fmt, "chunk_rows", rows);
  memset(ctx, 0, sizeof *ctx);
  ctx->job = "t";
  ctx->cfg = *cfg_out;
  cr_assert_eq(cairn_source_open(cairn_source_find("file"), ctx, &s, &err),
               CAIRN_OK, "%s", err.msg);
  return s;
}

/* Extract + decode everything, returning the number of chunks. */
/* Extract and decode everything from cursor on, each record to fn(ud);
 * with cursors, the cursor each chunk started from (owned). No page holds
 * more than a record's bound: a larger record is read past, not held.
 * Returns the chunks. */
static int drain_to(cairn_source *s, cairn_record_fn fn, void *ud,
                    const char *cursor, char **cursors)
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
    cr_assert_leq(page.raw.len, CAIRN_CSV_RECORD_MAX + 64,
                  "a page holds %zu bytes", page.raw.len);
    cr_assert_eq(s->ops->decode(s, chunks + 1, &page, fn, ud, &err),
                 CAIRN_OK, "%s", err.msg);
    if (cursors)
      cursors[chunks] = cur ? strdup(cur) : NULL;
    chunks++;
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

static int drain(cairn_source *s, struct got *g, const char *cursor)
{
  return drain_to(s, collect, g, cursor, NULL);
}

/* Write text to path, then drain it as fmt in chunks of 100 rows into g
 * and remove the file. Returns the chunks. */
static int drain_text(const char *path, const char *fmt, const char *text,
                      struct got *g)
{
  struct cairn_source_ctx ctx;
  json_t *cfg;
  cairn_source *s;
  int chunks;
  FILE *fp = fopen(path, "w");
  cr_assert_not_null(fp, "%s", path);
  fputs(text, fp);
  fclose(fp);
  memset(g, 0, sizeof *g);
  s = open_src(path, fmt, 100, &cfg, &ctx);
  chunks = drain(s, g, NULL);
  cairn_source_close(s);
  json_decref(cfg);
  remove(path);
  return chunks;
}

Test(src_file, rfc4180_quotes_commas_newlines_crlf)
{
  struct cairn_source_ctx ctx;
  json_t *cfg;
  struct got g = {0};
  cairn_source *s = open_src(CAIRN_TEST_DATA "/csv/rfc4180.csv", "csv", 100,
                             &cfg, &ctx);
  cr_assert_eq(drain(s, &g, NULL), 1);
  cr_assert_eq(g.n, 4, "blank line skipped, 4 records");
  cr_assert_str_eq(g.rows[0][0], "1");
  cr_assert_str_eq(g.rows[0][1], "x,y");
  cr_assert_str_eq(g.rows[0][2], "3");
  cr_assert_str_eq(g.rows[1][0], "multi\nline");
  cr_assert_str_eq(g.rows[1][1], "say \"hi\"");
  cr_assert_str_eq(g.rows[1][2], "", "trailing empty field before CRLF");
  cr_assert_eq(g.ncols[1], 3);
  cr_assert_eq(g.ragged[2], 1, "4,5 has 2 fields, header has 3");
  cr_assert_eq(g.ncols[2], 2);
  cr_assert_str_eq(g.rows[3][2], "9", "last record without a newline");
  cr_assert_str_eq(g.pos[0], CAIRN_TEST_DATA "/csv/rfc4180.csv:2");
  cr_assert_str_eq(g.pos[1], CAIRN_TEST_DATA "/csv/rfc4180.csv:3");
  cr_assert_str_eq(g.pos[2], CAIRN_TEST_DATA "/csv/rfc4180.csv:6",
                   "line numbers count quoted newlines and blank lines");
  cr_assert_str_eq(g.raw[2], "4,5", "raw record kept without terminator");
  cairn_source_close(s);
  json_decref(cfg);
}

static int header_name(void *ud, const struct cairn_record *rec)
{
  snprintf(ud, 64, "%s", rec->header->names[0]);
  return 0;
}

Test(src_file, utf8_bom_is_stripped_from_header)
{
  struct cairn_source_ctx ctx;
  json_t *cfg;
  struct cairn_page page = {0};
  cairn_err err = {0};
  char name[64] = "";
  cairn_source *s = open_src(CAIRN_TEST_DATA "/csv/bom.csv", "csv", 10, &cfg,
                             &ctx);
  cr_assert_eq(s->ops->extract(s, NULL, &page, &err), CAIRN_OK);
  cr_assert_eq(s->ops->decode(s, 1, &page, header_name, name, &err), CAIRN_OK);
  cr_assert_str_eq(name, "Name");
  cairn_page_clear(&page);
  cairn_source_close(s);
  json_decref(cfg);
}

/* Two BOMs (a tool that adds one to text that has one) go as one does:
 * the first name is not "\uFEFFName", which no mapping finds. */
Test(src_file, a_doubled_bom_is_stripped_from_header)
{
  struct cairn_source_ctx ctx;
  json_t *cfg;
  struct cairn_page page = {0};
  cairn_err err = {0};
  char name[64] = "";
  FILE *fp = fopen("/tmp/cairn_test_bom2.csv", "w");
  fputs("\xEF\xBB\xBF\xEF\xBB\xBFName,x\na,1\n", fp);
  fclose(fp);
  cairn_source *s = open_src("/tmp/cairn_test_bom2.csv", "csv", 10, &cfg,
                             &ctx);
  cr_assert_eq(s->ops->extract(s, NULL, &page, &err), CAIRN_OK);
  cr_assert_eq(s->ops->decode(s, 1, &page, header_name, name, &err), CAIRN_OK);
  cr_assert_str_eq(name, "Name");
  cairn_page_clear(&page);
  cairn_source_close(s);
  json_decref(cfg);
  remove("/tmp/cairn_test_bom2.csv");
}

Test(src_file, chunks_by_rows_and_resumes_from_byte_offset)
{
  struct cairn_source_ctx ctx;
  json_t *cfg;
  struct got all = {0}, tail = {0};
  struct cairn_page page = {0};
  cairn_err err = {0};
  cairn_source *s = open_src(CAIRN_TEST_DATA "/csv/rfc4180.csv", "csv", 1,
                             &cfg, &ctx);
  cr_assert_eq(drain(s, &all, NULL), 4, "one record per chunk");
  cairn_source_close(s);
  json_decref(cfg);

  /* Take the cursor after chunk 2 and resume in a fresh source. */
  s = open_src(CAIRN_TEST_DATA "/csv/rfc4180.csv", "csv", 1, &cfg, &ctx);
  cr_assert_eq(s->ops->extract(s, NULL, &page, &err), CAIRN_OK);
  char *c1 = strdup(page.cursor_out);
  cairn_page_clear(&page);
  cr_assert_eq(s->ops->extract(s, c1, &page, &err), CAIRN_OK);
  char *c2 = strdup(page.cursor_out);
  cairn_page_clear(&page);
  cairn_source_close(s);
  json_decref(cfg);
  cr_assert(strstr(c2, "\"offset\":") != NULL);

  s = open_src(CAIRN_TEST_DATA "/csv/rfc4180.csv", "csv", 1, &cfg, &ctx);
  cr_assert_eq(drain(s, &tail, c2), 2);
  cr_assert_eq(tail.n, 2);
  cr_assert_str_eq(tail.rows[0][0], "4");
  cr_assert_str_eq(tail.pos[0], all.pos[2], "line numbers survive resume");
  cr_assert_str_eq(tail.rows[1][2], "9");
  free(c1);
  free(c2);
  cairn_source_close(s);
  json_decref(cfg);
}

Test(src_file, ndjson_records_and_bad_lines)
{
  struct got g;
  /* a line of only whitespace is blank, as an empty one (JSON allows
   * whitespace around a value, and there is none) */
  cr_assert_eq(drain_text("/tmp/cairn_test_src.ndjson", "ndjson",
                          "{\"a\":1}\n{bad json}\n \t \r\n[1,2]\n{\"a\":2}",
                          &g), 1);
  cr_assert_eq(g.n, 4);
  cr_assert_str_eq(g.err[0], "");
  cr_assert(strstr(g.err[1], "not valid JSON") != NULL, "%s", g.err[1]);
  cr_assert_str_eq(g.err[2], "not a JSON object");
  cr_assert_str_eq(g.pos[3], "/tmp/cairn_test_src.ndjson:5");
}

/* A quote that never closes takes the row to the end of the file: where
 * it should have closed cannot be known, so the row is cut after its first
 * line and quarantined in a chunk of its own, and the lines after it are
 * read as rows of their own (they used to go into the DLQ as that one
 * row: half a file counted as one reject). */
Test(src_file, unterminated_quote_cuts_the_row_at_its_first_line)
{
  const char *path = "/tmp/cairn_test_unterm.csv";
  struct got g;
  cr_assert_eq(drain_text(path, "csv", "id,name,note\n1,a,fine\n2,b,\"oops\n"
                          "3,c,d\n4,e,f\n", &g),
               3, "the row before, the cut row, the rest");
  cr_assert_eq(g.n, 4);
  cr_assert_str_eq(g.err[0], "");
  cr_assert(strstr(g.err[1], "unterminated quoted field") != NULL, "%s",
            g.err[1]);
  cr_assert_eq(g.ragged[1], 1);
  cr_assert_str_eq(g.raw[1], "2,b,\"oops");
  cr_assert_str_eq(g.pos[1], "/tmp/cairn_test_unterm.csv:3");
  cr_assert_str_eq(g.err[2], "");
  cr_assert_str_eq(g.rows[2][0], "3");
  cr_assert_str_eq(g.rows[2][2], "d");
  cr_assert_str_eq(g.pos[2], "/tmp/cairn_test_unterm.csv:4");
  cr_assert_str_eq(g.rows[3][0], "4");
  cr_assert_str_eq(g.pos[3], "/tmp/cairn_test_unterm.csv:5");

  /* Quoted line breaks before it, quotes after it: the rows around the
   * cut row read as written, and so does the last row, without a
   * newline and with a quoted field. */
  cr_assert_eq(drain_text(path, "csv", "id,name,note\n1,\"a\nb\",x\n"
                          "2,\"oops,y\n3,\"q,r\",z\n4,\"s\",t", &g), 3);
  cr_assert_eq(g.n, 4);
  cr_assert_str_eq(g.rows[0][1], "a\nb");
  cr_assert(strstr(g.err[1], "unterminated quoted field") != NULL, "%s",
            g.err[1]);
  cr_assert_str_eq(g.raw[1], "2,\"oops,y");
  cr_assert_str_eq(g.pos[1], "/tmp/cairn_test_unterm.csv:4");
  cr_assert_str_eq(g.rows[2][1], "q,r");
  cr_assert_str_eq(g.pos[2], "/tmp/cairn_test_unterm.csv:5");
  cr_assert_str_eq(g.rows[3][1], "s");
  cr_assert_eq(g.ragged[3], 0);

  /* Two stray quotes (an inch mark in an unquoted field, twice): the
   * first opens a quoted run and the second closes it, taking the rows in
   * between into one row of more fields than the header. Cut there too:
   * the two rows with a stray quote are rejected, the others load. */
  cr_assert_eq(drain_text(path, "csv", "id,name,note\n1,a,5\" x\n2,b,c\n"
                          "3,c,7\" y\n4,e,f\n", &g), 4);
  cr_assert_eq(g.n, 4);
  cr_assert(strstr(g.err[0], "stray quote: a quote in this row is not "
                             "closed on its line") != NULL, "%s", g.err[0]);
  cr_assert(strstr(g.err[0], "(7 fields, the header has 3)") != NULL, "%s",
            g.err[0]);
  cr_assert_str_eq(g.raw[0], "1,a,5\" x");
  cr_assert_str_eq(g.err[1], "");
  cr_assert_str_eq(g.rows[1][0], "2");
  cr_assert_str_eq(g.pos[1], "/tmp/cairn_test_unterm.csv:3");
  cr_assert(strstr(g.err[2], "unterminated quoted field") != NULL, "%s",
            g.err[2]);
  cr_assert_str_eq(g.raw[2], "3,c,7\" y");
  cr_assert_str_eq(g.rows[3][0], "4");
  cr_assert_str_eq(g.pos[3], "/tmp/cairn_test_unterm.csv:5");

  /* The last row alone, without a newline. */
  cr_assert_eq(drain_text(path, "csv", "id,name,note\n1,a,b\n2,\"oops,y",
                          &g), 2);
  cr_assert_eq(g.n, 2);
  cr_assert(strstr(g.err[1], "unterminated quoted field") != NULL, "%s",
            g.err[1]);
  cr_assert_str_eq(g.raw[1], "2,\"oops,y");
}

/* A record larger than CAIRN_CSV_RECORD_MAX is read past, not held: it is
 * quarantined, with its first CAIRN_CSV_KEEP bytes, in a chunk of its own,
 * and the line numbers and a resume from its cursor stay right. A CSV
 * row of one line, one of many quoted lines, and an NDJSON line. */
Test(src_file, a_record_larger_than_the_bound_is_quarantined_not_held)
{
  static const char *const path[] = {"/tmp/cairn_test_big.csv",
                                     "/tmp/cairn_test_big.csv",
                                     "/tmp/cairn_test_big.ndjson"};
  static const char *const fmt[] = {"csv", "csv", "ndjson"};
  const size_t big = CAIRN_CSV_RECORD_MAX + 1000;
  for (int k = 0; k < 3; k++) {
    struct cairn_source_ctx ctx;
    json_t *cfg;
    struct got g = {0}, again = {0};
    char *cursors[8] = {0}, want[160];
    FILE *fp = fopen(path[k], "w");
    long lines = k == 1 ? 1 + (long)(big / 100) : 1;
    cr_assert_not_null(fp);
    if (k < 2)
      fputs("id,note\n1,a\n2,\"", fp);
    else
      fputs("{\"id\":1}\n{\"id\":2,\"note\":\"", fp);
    for (size_t i = 0; i < big; i++)
      fputc(k == 1 && i % 100 == 99 ? '\n' : 'x', fp);
    fputs(k < 2 ? "\"\n3,c\n" : "\"}\n{\"id\":3}\n", fp);
    fclose(fp);

    cairn_source *s = open_src(path[k], fmt[k], 100, &cfg, &ctx);
    cr_assert_eq(drain_to(s, collect, &g, NULL, cursors), 3, "case %d",
                 k);
    cr_assert_eq(g.n, 3);
    cr_assert_str_eq(g.err[0], "");
    snprintf(want, sizeof want, "record too large: %zu bytes on %ld line%s, "
             "more than the 4 MiB a record may have",
             big + (k < 2 ? 5 : 19), lines, lines == 1 ? "" : "s");
    cr_assert(strstr(g.err[1], want) != NULL, "case %d: %s\nwant %s", k,
              g.err[1], want);
    cr_assert_eq(g.raw_len[1], CAIRN_CSV_KEEP, "case %d", k);
    cr_assert_eq(strncmp(g.raw[1], k < 2 ? "2,\"xxxxxxxxxxxx"
                                         : "{\"id\":2,\"note\":", 15), 0,
                 "case %d: %.15s", k, g.raw[1]);
    cr_assert_str_eq(g.err[2], "");
    snprintf(want, sizeof want, "%s:%ld", path[k], (k < 2 ? 4 : 3) + lines - 1);
    cr_assert_str_eq(g.pos[2], want, "case %d: line numbers go on", k);
    cairn_source_close(s);
    json_decref(cfg);

    /* Resumed from the big record's cursor: the same two chunks. */
    s = open_src(path[k], fmt[k], 100, &cfg, &ctx);
    cr_assert_eq(drain_to(s, collect, &again, cursors[1], NULL), 2);
    cr_assert_str_eq(again.err[0], g.err[1]);
    cr_assert_str_eq(again.pos[0], g.pos[1]);
    cr_assert_str_eq(again.pos[1], g.pos[2]);
    cairn_source_close(s);
    json_decref(cfg);
    for (int i = 0; i < 8; i++)
      free(cursors[i]);
    remove(path[k]);
  }
}

Test(src_file, glob_reads_files_in_byte_order)
{
  system("mkdir -p /tmp/cairn_glob && printf 'h\\n2\\n' > /tmp/cairn_glob/b.csv"
         " && printf 'h\\n1\\n' > /tmp/cairn_glob/a.csv"
         " && printf 'h\\n' > /tmp/cairn_glob/c.csv");
  struct cairn_source_ctx ctx;
  json_t *cfg;
  struct got g = {0};
  cairn_source *s = open_src("/tmp/cairn_glob/*.csv", "csv", 100, &cfg, &ctx);
  drain(s, &g, NULL);
  cr_assert_eq(g.n, 2);
  cr_assert_str_eq(g.rows[0][0], "1");
  cr_assert_str_eq(g.rows[1][0], "2");
  cairn_source_close(s);
  json_decref(cfg);
  system("rm -rf /tmp/cairn_glob");
}

Test(src_file, missing_file_is_an_error)
{
  json_t *cfg = json_pack("{s:s,s:s}", "type", "file", "path", "/nonexistent/x.csv");
  struct cairn_source_ctx ctx = { .job = "t", .cfg = cfg };
  cairn_source *s = NULL;
  cairn_err err = {0};
  cr_assert_eq(cairn_source_open(cairn_source_find("file"), &ctx, &s, &err),
               CAIRN_EIO);
  cr_assert_null(s);
  cr_assert(strstr(err.msg, "no such file") != NULL, "%s", err.msg);
  json_decref(cfg);
}

/* An NDJSON file may start with a UTF-8 BOM (Windows tools write one): it
 * is not part of the first record, in a chunk or after a resume. */
Test(src_file, ndjson_bom_is_not_part_of_the_first_record)
{
  FILE *fp = fopen("/tmp/cairn_test_bom.ndjson", "w");
  fputs("\xEF\xBB\xBF{\"a\":1}\n{\"a\":2}\n", fp);
  fclose(fp);
  struct cairn_source_ctx ctx;
  json_t *cfg;
  struct got g = {0};
  cairn_source *s = open_src("/tmp/cairn_test_bom.ndjson", "ndjson", 1, &cfg,
                             &ctx);
  cr_assert_eq(drain(s, &g, NULL), 2);
  cr_assert_eq(g.n, 2);
  cr_assert_str_eq(g.err[0], "");
  cr_assert_str_eq(g.err[1], "");
  cr_assert_str_eq(g.pos[0], "/tmp/cairn_test_bom.ndjson:1");
  cr_assert_str_eq(g.raw[0], "{\"a\":1}");
  cairn_source_close(s);
  json_decref(cfg);
  remove("/tmp/cairn_test_bom.ndjson");
}

static int count_rec(void *ud, const struct cairn_record *rec)
{
  cr_assert_null(rec->error, "%s: %s", rec->position, rec->error);
  cr_assert_eq(rec->n_cols, 2, "%s", rec->position);
  (*(int *)ud)++;
  return 0;
}

/* A glob of many files: the digest of the names up to a file, in every
 * cursor, now runs on from the previous file's (it was hashed again from
 * the first name for each file: 40,000 files, 32 GB of SHA-256, about
 * 20 s). The cursors stay what they were: the last one is checked against
 * a digest of all the names made here. Each file's rows decode with its
 * header, the headers of earlier files being let go. 20,000 files; how
 * long it takes is not asserted (speed belongs to benchmarks). */
#define MANYF "/tmp/cairn_test_many_files"
Test(src_file, a_glob_of_many_files_reads_in_linear_time)
{
  enum { N = 20000 };
  struct cairn_source_ctx ctx;
  struct cairn_page page = {0};
  struct cairn_sha256 h;
  cairn_err err = {0};
  json_t *cfg;
  char path[128], hex[CAIRN_SHA256_HEX], *cur = NULL, *last = NULL;
  int rows = 0, chunks = 0;
  FILE *fp;

  cr_assert_eq(system("rm -rf " MANYF " && mkdir -p " MANYF), 0);
  fp = fopen(MANYF "/f00000.csv", "w");
  fputs("a,b\n1,2\n", fp);
  fclose(fp);
  cairn_sha256_init(&h);
  for (int i = 0; i < N; i++) {
    snprintf(path, sizeof path, MANYF "/f%05d.csv", i);
    if (i)
      cr_assert_eq(link(MANYF "/f00000.csv", path), 0, "%s", path);
    cairn_sha256_update(&h, path, strlen(path) + 1);
  }
  cairn_sha256_final_hex(&h, hex);
  cairn_source *s = open_src(MANYF "/*.csv", "csv", 100, &cfg, &ctx);
  for (;;) {
    int rc = s->ops->extract(s, cur, &page, &err);
    if (rc == CAIRN_DONE)
      break;
    cr_assert_eq(rc, CAIRN_OK, "%s", err.msg);
    chunks++;
    cr_assert_eq(s->ops->decode(s, chunks, &page, count_rec, &rows, &err),
                 CAIRN_OK, "%s", err.msg);
    free(last);
    last = cur;
    cur = page.cursor_out ? strdup(page.cursor_out) : NULL;
    cairn_page_clear(&page);
    if (!cur)
      break;
  }
  cr_assert_eq(chunks, N);
  cr_assert_eq(rows, N);
  snprintf(path, sizeof path, "\"files\":\"%.16s\"", hex);
  cr_assert(last && strstr(last, path), "%s, want %s", last, path);
  free(last);
  free(cur);
  cairn_source_close(s);
  json_decref(cfg);
  cr_assert_eq(system("rm -rf " MANYF), 0);
}

/* Counts the records of a file and keeps the first reasons. */
struct count_got {
  long n, rejects;
  char err[4][512];
  char pos[4][128];
};

static int count_collect(void *ud, const struct cairn_record *rec)
{
  struct count_got *g = ud;
  g->n++;
  if (rec->error || rec->ragged) {
    if (g->rejects < 4) {
      snprintf(g->err[g->rejects], sizeof g->err[0], "%s",
               rec->error ? rec->error : "ragged");
      snprintf(g->pos[g->rejects], sizeof g->pos[0], "%s", rec->position);
    }
    g->rejects++;
  }
  return 0;
}

/* Two stray quotes more than CAIRN_CSV_RECORD_MAX apart: the rows between
 * them are one record too large to hold, and one with more fields than
 * the header. It is cut after its first line as when they are closer:
 * the two rows with a stray quote are rejected, the rows between load. */
Test(src_file, stray_quotes_far_apart_cost_two_rows)
{
  const char *path = "/tmp/cairn_test_stray_far.csv";
  enum { ROWS = 200000 };
  struct cairn_source_ctx ctx;
  struct count_got g = {0};
  json_t *cfg;
  FILE *fp = fopen(path, "w");

  cr_assert_not_null(fp);
  fputs("id,name,note\n1,a,5\" x\n", fp);
  for (int i = 0; i < ROWS; i++)
    fprintf(fp, "%d,bbbbbbbbbb,cccccccccc\n", i + 2);
  fputs("0,c,7\" y\n9,e,f\n", fp);
  fclose(fp);
  cairn_source *s = open_src(path, "csv", 50000, &cfg, &ctx);
  drain_to(s, count_collect, &g, NULL, NULL);
  cairn_source_close(s);
  json_decref(cfg);
  cr_assert_eq(g.rejects, 2, "%ld rejects: %s", g.rejects, g.err[0]);
  cr_assert(strstr(g.err[0], "stray quote: a quote in this row is not "
                             "closed on its line") != NULL, "%s", g.err[0]);
  cr_assert(strstr(g.err[0], "fields in its first 64 KiB, of more than 4 "
                             "MiB, the header has 3)") != NULL, "%s",
            g.err[0]);
  cr_assert(strstr(g.pos[0], ":2") != NULL, "%s", g.pos[0]);
  cr_assert(strstr(g.err[1], "unterminated quoted field") != NULL, "%s",
            g.err[1]);
  cr_assert_eq(g.n, ROWS + 3, "%ld records", g.n);
  remove(path);
}
