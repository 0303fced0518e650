/* SPDX-License-Identifier: MIT */
/* fuzz_cost_map.c -- the shipped cost-export mappings over arbitrary rows.
 *
 * The first input byte picks the job (FOCUS: jobs/azure-cost-export.json,
 * EA/MCA: jobs/azure-cost-export-ea.json); the rest is CSV text read under
 * that export's header (its fixture's first line), each record split as
 * the cost export source splits it and mapped as it maps it, with the page
 * metadata the source gives; the first byte's second bit sets the period
 * its manifest declares (the fixture's month). Whatever the bytes: every
 * record ends as a row or a reject, the rows encode (chunk digest, NDJSON
 * line), and with a period every row's chargePeriodStartUtc lies in it.
 * Run from the repository root (jobs/, schemas/, fixtures/). */
#include "fuzz.h"
#include "core/batch.h"
#include "core/log.h"
#include "core/mem.h"
#include "source/csv.h"
#include "transform/transform.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *job, *csv, *from, *to;
} specs[] = {
  { "jobs/azure-cost-export.json",
    "fixtures/cost-export/focus/cairn-focus/20240501-20240531/"
    "8c0a5d5e-4d1b-4b0e-9a51-6a1f0e3c2b01/part_0_0001.csv",
    "2024-05-01", "2024-06-01" },
  { "jobs/azure-cost-export-ea.json",
    "fixtures/cost-export/ea/cairn-ea-actual/20230901-20230930/"
    "3f2e1d0c-9b8a-4765-8432-10fedcba9804/part_0_0001.csv",
    "2023-09-01", "2023-10-01" },
};
#define N_SPECS (sizeof specs / sizeof specs[0])

static struct mapping {
  struct cairn_contract *c;
  cairn_transform       *t;
  struct cairn_batch    *b;
  size_t                *order;
  struct cairn_header    h;
  json_t                *meta;
  long                   start;   /* chargePeriodStartUtc */
} maps[N_SPECS];

static void die(const char *what, const char *why)
{
  fprintf(stderr, "fuzz_cost_map: %s: %s (run from the repository root)\n",
          what, why);
  exit(1);
}

/* The header line of a fixture CSV, BOM stripped, split into names. */
static void read_header(const char *path, struct cairn_header *h)
{
  char line[8192];
  struct cairn__csv_cols cols = {0};
  FILE *fp = fopen(path, "r");
  char *p = line;
  size_t n;
  if (!fp || !fgets(line, sizeof line, fp))
    die(path, "cannot read its header");
  fclose(fp);
  if (memcmp(p, "\xef\xbb\xbf", 3) == 0)
    p += 3;
  h->n_cols = cairn__csv_split(p, strlen(p), &cols);
  h->names = cairn_xcalloc(h->n_cols, sizeof *h->names);
  for (n = 0; n < h->n_cols; n++)
    h->names[n] = cairn_xstrndup(cols.cols[n], cols.lens[n]);
  h->id = 1;
  cairn__csv_cols_free(&cols);
}

static void setup(void)
{
  static int done;
  if (done)
    return;
  done = 1;
  cairn_log_init(0, CAIRN_LOG_ERROR + 1, stderr);
  for (size_t i = 0; i < N_SPECS; i++) {
    struct mapping *m = &maps[i];
    json_error_t je;
    json_t *job = json_load_file(specs[i].job, 0, &je);
    const json_t *xf = json_object_get(job, "transform");
    cairn_err err = {0};
    if (!job)
      die(specs[i].job, je.text);
    if (cairn_contract_load("schemas", json_string_value(json_object_get(
                                xf, "contract")), &m->c, &err) != CAIRN_OK ||
        cairn_transform_create(xf, m->c, &m->t, NULL, &err) != CAIRN_OK)
      die(specs[i].job, err.msg);
    json_decref(job);
    m->b = cairn_batch_create(m->c->n_fields);
    m->order = cairn_contract_sorted_order(m->c);
    m->start = cairn_contract_field(m->c, "chargePeriodStartUtc");
    if (m->start < 0)
      die(specs[i].job, "no chargePeriodStartUtc");
    read_header(specs[i].csv, &m->h);
    m->meta = json_pack(
        "{s:{s:s, s:s, s:s}, s:i}", "headers",
        "x-export-scope", "/subscriptions/00000000-0000-0000-0000-000000000000",
        "x-export-type", i ? "ActualCost" : "FocusCost",
        "x-export-blob", "part_0_0001.csv", "status", 200);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct cairn__csv_cols cols = {0};
  struct cairn_buf line = {0};
  struct mapping *m;
  const char *text;
  size_t n, at = 0, records = 0, k;
  char digest[65];
  int span;

  setup();
  if (size < 1)
    return 0;
  k = data[0] % N_SPECS;
  m = &maps[k];
  span = data[0] >> 1 & 1;
  cairn_transform_set_span(m->t, span ? specs[k].from : NULL, specs[k].to,
                           "the period its source declares");
  text = (const char *)data + 1;
  n = size - 1;
  cairn_batch_reset(m->b);
  while (at < n) {
    long lines = 0;
    int quoted = 0, done = 0;
    size_t len = cairn__csv_scan(text + at, n - at, &quoted, &lines, &done);
    struct cairn_record rec = {0};
    cairn_err err = {0};
    if (!cairn__csv_blank(text + at, len)) {
      rec.header = &m->h;
      rec.n_cols = cairn__csv_split(text + at, len, &cols);
      rec.cols = cols.cols;
      rec.col_lens = cols.lens;
      rec.meta = m->meta;
      rec.position = "fuzz:1";
      rec.raw = text + at;
      rec.raw_len = len;
      rec.ragged = rec.n_cols != m->h.n_cols;
      CHECK(cairn_transform_apply(m->t, &rec, m->b, &err) == CAIRN_OK);
      records++;
    }
    at += len;
  }
  CHECK(m->b->n_rows + m->b->n_rejects == records);
  cairn_batch_digest(m->b, digest);
  for (size_t r = 0; r < m->b->n_rows; r++) {
    const struct cairn_value *v = &m->b->vals[r * m->b->n_fields + m->start];
    CHECK(!span || v->type != CAIRN_V_STR ||
          (v->len >= 10 && memcmp(v->s, specs[k].from, 10) >= 0 &&
           memcmp(v->s, specs[k].to, 10) < 0));
    line.len = 0;
    cairn_batch_row_json(m->b, m->c, m->order, r, &line);
    CHECK(line.len > 2 && line.data[0] == '{');
  }
  cairn_buf_free(&line);
  cairn__csv_cols_free(&cols);
  return 0;
}
