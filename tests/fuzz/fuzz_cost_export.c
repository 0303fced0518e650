/* SPDX-License-Identifier: MIT */
/* fuzz_cost_export.c -- the cost_export source over arbitrary blobs (and
 * manifests): plain CSV, gzip (ISA-L) or zip (libarchive), read in small
 * chunks.
 *
 * Input: byte 0 picks the blob's kind (bits 0-1: .csv, .csv.gz, .zip)
 * and whether the manifest comes from the input too (bit 2: then the
 * input is "manifest NUL blob"; otherwise the harness writes a manifest
 * that lists the blob, with dataRowCount = byte 1 when bit 3 is set).
 * Whatever the bytes:
 *   - open, extract and decode end in CAIRN_OK / CAIRN_DONE or in an
 *     error code with a message, never a crash or a hang;
 *   - a read that ends without error under a manifest that gives
 *     dataRowCount has emitted exactly that many rows;
 *   - a second source resumed from the cursor of any chunk emits exactly
 *     the rows the first emitted after that chunk (chunks are resumable
 *     by their cursor). */
#include "fuzz.h"
#include "core/log.h"
#include "source/source.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_CHUNKS = 4096 };

static char dir[64];

static void put(const char *name, const uint8_t *p, size_t n)
{
  char path[128];
  FILE *fp;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  fp = fopen(path, "wb");
  CHECK(fp && fwrite(p, 1, n, fp) == n && fclose(fp) == 0);
}

static int count(void *ud, const struct cairn_record *rec)
{
  (void)rec;
  (*(long *)ud)++;
  return 0;
}

/* Read from cursor (NULL: the start) to the end. rows[k] gets the rows of
 * chunk k, cursors[k] its cursor_out (owned). Returns the chunk count;
 * *rc_out the first error (or CAIRN_OK). */
static int drain(const char *cursor, long *rows, char **cursors, int *rc_out)
{
  json_t *cfg = json_pack("{s:s, s:s, s:i, s:i}", "type", "cost_export",
                          "path", dir, "chunk_rows", 7, "chunk_bytes", 2048);
  struct cairn_source_ctx ctx = {0};
  struct cairn_page page = {0};
  cairn_source *s = NULL;
  cairn_err err = {0};
  char *cur = cursor ? strdup(cursor) : NULL;
  int n = 0, rc;

  ctx.job = "fuzz";
  ctx.cfg = cfg;
  rc = cairn_source_open(cairn_source_find("cost_export"), &ctx, &s, &err);
  while (rc == CAIRN_OK) {
    long got = 0;
    rc = s->ops->extract(s, cur, &page, &err);
    if (rc == CAIRN_DONE) {
      rc = CAIRN_OK;
      break;
    }
    if (rc == CAIRN_OK)
      rc = s->ops->decode(s, n + 1, &page, count, &got, &err);
    if (rc < 0)
      break;
    CHECK(n < MAX_CHUNKS);
    rows[n] = got;
    cursors[n] = page.cursor_out ? strdup(page.cursor_out) : NULL;
    free(cur);
    cur = cursors[n] ? strdup(cursors[n]) : NULL;
    n++;
    cairn_page_reset(&page);
    if (!cur)
      break;
  }
  CHECK(rc == CAIRN_OK || (rc < 0 && err.msg[0]));
  free(cur);
  cairn_page_clear(&page);
  cairn_source_close(s);
  json_decref(cfg);
  *rc_out = rc;
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *names[] = { "part_0_0001.csv", "part_0_0001.csv.gz",
                                 "part_0_0001.zip", "part_0_0001.csv" };
  static long rows[MAX_CHUNKS], rows2[MAX_CHUNKS];
  static char *cursors[MAX_CHUNKS], *cursors2[MAX_CHUNKS];
  const char *name;
  long want = -1, total = 0;
  int n, n2, rc, rc2;

  if (!dir[0]) {
    cairn_log_init(0, CAIRN_LOG_ERROR + 1, stderr);
    snprintf(dir, sizeof dir, "/tmp/cairn-fuzz-cx-%ld", (long)getpid());
    mkdir(dir, 0700);
  }
  if (size < 2)
    return 0;
  name = names[data[0] & 3];
  if (data[0] & 4) {
    const uint8_t *nul = memchr(data + 1, 0, size - 1);
    if (!nul)
      return 0;
    put("manifest.json", data + 1, (size_t)(nul - data - 1));
    put(name, nul + 1, size - (size_t)(nul + 1 - data));
  } else {
    char m[512], drc[32] = "";
    if (data[0] & 8) {
      want = data[1];
      snprintf(drc, sizeof drc, ",\"dataRowCount\":%ld", want);
    }
    snprintf(m, sizeof m,
             "{\"manifestVersion\":\"2024-04-01\",\"blobCount\":1,"
             "\"exportConfig\":{\"exportName\":\"f\",\"type\":\"FocusCost\","
             "\"resourceId\":\"/subscriptions/0/providers/Microsoft."
             "CostManagement/exports/f\"},\"runInfo\":{\"runId\":\"r\","
             "\"startDate\":\"2024-05-01T00:00:00\","
             "\"endDate\":\"2024-05-31T00:00:00Z\"},\"blobs\":[{\"blobName\":"
             "\"x/%s\"%s}]}", name, drc);
    put("manifest.json", (const uint8_t *)m, strlen(m));
    put(name, data + 2, size - 2);
  }
  n = drain(NULL, rows, cursors, &rc);
  for (int k = 0; k < n; k++)
    total += rows[k];
  if (getenv("CAIRN_FUZZ_VERBOSE"))
    fprintf(stderr, "rc %d, %d chunk(s), %ld row(s), manifest says %ld\n",
            rc, n, total, want);
  if (rc == CAIRN_OK && want >= 0)
    CHECK(total == want);
  if (rc == CAIRN_OK && n > 1) {
    /* resume after chunk k (the middle one): the same rows follow */
    int k = n / 2 - 1;
    n2 = drain(cursors[k], rows2, cursors2, &rc2);
    CHECK(rc2 == CAIRN_OK && n2 == n - k - 1);
    for (int i = 0; i < n2; i++) {
      CHECK(rows2[i] == rows[k + 1 + i]);
      free(cursors2[i]);
    }
  }
  for (int k = 0; k < n; k++)
    free(cursors[k]);
  return 0;
}
