/* SPDX-License-Identifier: MIT */
/* fuzz_csv.c -- the CSV scanner and splitter (16 bytes at a time) against
 * byte-at-a-time references written from csv.h's contract.
 *
 * Input: the first byte picks where the text is cut in two for the
 * scanner (a record arriving in pieces), the rest is the text. Each record
 * the references find is split and compared field by field. */
#include "fuzz.h"
#include "source/csv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Where the record starting at p ends: bytes up to and including the
 * first newline outside quotes, or n. */
static size_t ref_scan(const char *p, size_t n, int *done, long *lines)
{
  int q = 0;
  *done = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '"')
      q = !q;
    if (p[i] == '\n') {
      (*lines)++;
      if (!q) {
        *done = 1;
        return i + 1;
      }
    }
  }
  return n;
}

/* The fields of the record p[0..len) (terminator dropped, quotes
 * removed, doubled quotes undoubled, text after a closing quote kept),
 * back to back in out, field i at out + off[i], lens[i] bytes. Returns
 * the number of fields. out holds len bytes, off and lens len + 1. */
static size_t ref_split(const char *p, size_t len, char *out, size_t *off,
                        size_t *lens)
{
  const char *end = p + len;
  size_t n = 0, o = 0;
  if (end > p && end[-1] == '\n')
    end--;
  if (end > p && end[-1] == '\r')
    end--;
  for (;;) {
    off[n] = o;
    if (p < end && *p == '"') {
      p++;
      while (p < end) {
        if (*p == '"') {
          if (p + 1 < end && p[1] == '"') {
            out[o++] = '"';
            p += 2;
            continue;
          }
          p++;
          break;
        }
        out[o++] = *p++;
      }
    }
    while (p < end && *p != ',')
      out[o++] = *p++;
    lens[n] = o - off[n];
    n++;
    if (p < end && *p == ',') {
      p++;
      continue;
    }
    return n;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct cairn__csv_cols cols = {0};
  const char *text;
  size_t n, cut, at = 0, *off, *lens;
  char *field;

  if (size < 1)
    return 0;
  text = (const char *)data + 1;
  n = size - 1;
  cut = n ? data[0] % (n + 1) : 0;
  field = malloc(n + 1);
  off = malloc((n + 1) * sizeof *off);
  lens = malloc((n + 1) * sizeof *lens);
  while (at < n) {
    long lines = 0, ref_lines = 0;
    int quoted = 0, done = 0, ref_done;
    size_t want = ref_scan(text + at, n - at, &ref_done, &ref_lines);
    size_t got, nf;
    /* in one piece */
    got = cairn__csv_scan(text + at, n - at, &quoted, &lines, &done);
    CHECK(got == want && done == ref_done && lines == ref_lines);
    /* in two pieces, cut where the first byte says (if inside) */
    if (cut > at && cut < at + want) {
      quoted = 0;
      lines = 0;
      got = cairn__csv_scan(text + at, cut - at, &quoted, &lines, &done);
      CHECK(got == cut - at && !done);
      got += cairn__csv_scan(text + cut, n - cut, &quoted, &lines, &done);
      CHECK(got == want && done == ref_done && lines == ref_lines);
    }
    /* split, compared field by field */
    nf = cairn__csv_split(text + at, want, &cols);
    CHECK(nf == ref_split(text + at, want, field, off, lens));
    for (size_t k = 0; k < nf; k++) {
      const char *f = cols.cols[k];
      CHECK(cols.lens[k] == lens[k]);
      CHECK(lens[k] == 0 || memcmp(f, field + off[k], lens[k]) == 0);
      /* a field lies in the record or in esc */
      CHECK((f >= text + at && f + lens[k] <= text + at + want) ||
            (f >= cols.esc && f + lens[k] <= cols.esc + cols.esc_cap));
    }
    at += want;
  }
  free(field);
  free(off);
  free(lens);
  cairn__csv_cols_free(&cols);
  return 0;
}
