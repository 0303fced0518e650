/* SPDX-License-Identifier: MIT */
/* test_csv.c -- cairn__csv_split against a byte-at-a-time reference. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "source/csv.h"

/* The splitter's rules, one byte at a time: LF or CRLF terminator
 * dropped; a field starting with a quote runs to the closing quote ("" is
 * a quote), and text after it up to the comma is kept; other fields run
 * to the comma. Fields are written to out, NUL-separated. */
static size_t ref_split(const char *p, size_t len, char *out, size_t *lens)
{
  const char *end = p + len;
  size_t n = 0;
  if (end > p && end[-1] == '\n')
    end--;
  if (end > p && end[-1] == '\r')
    end--;
  for (;;) {
    char *f = out;
    if (p < end && *p == '"') {
      p++;
      while (p < end) {
        if (*p == '"') {
          if (p + 1 < end && p[1] == '"') {
            *out++ = '"';
            p += 2;
            continue;
          }
          p++;
          break;
        }
        *out++ = *p++;
      }
      while (p < end && *p != ',')
        *out++ = *p++;
    } else {
      while (p < end && *p != ',')
        *out++ = *p++;
    }
    lens[n++] = (size_t)(out - f);
    *out++ = '\0';
    if (p < end && *p == ',') {
      p++;
      continue;
    }
    return n;
  }
}

Test(csv, split_matches_reference_on_random_records)
{
  static const char alpha[] = "abcdefgh,,,\"\r\n ";
  struct cairn__csv_cols c = { 0 };
  unsigned seed = 99;
  for (int round = 0; round < 20000; round++) {
    size_t len = (size_t)(round % 700);
    char *rec = malloc(len + 1), *ref = malloc(2 * len + 2), *orig;
    size_t lens[800], nf, nr, at = 0;
    for (size_t i = 0; i < len; i++) {
      seed = seed * 1103515245u + 12345u;
      /* mostly long plain runs, so fields cross 16-byte blocks */
      rec[i] = (seed >> 16) % 4 ? alpha[(seed >> 8) % 8]
                                : alpha[(seed >> 20) % (sizeof alpha - 1)];
    }
    rec[len] = '\0';
    orig = strdup(rec);
    nr = ref_split(rec, len, ref, lens);
    nf = cairn__csv_split(rec, len, &c);
    cr_assert_eq(nf, nr, "round %d: %zu fields vs %zu", round, nf, nr);
    for (size_t i = 0; i < nf; i++) {
      cr_assert_eq(c.lens[i], lens[i], "round %d field %zu", round, i);
      cr_assert(memcmp(c.cols[i], ref + at, lens[i]) == 0,
                "round %d field %zu", round, i);
      at += lens[i] + 1;
    }
    cr_assert_str_eq(rec, orig, "round %d: the record is left as it was",
                     round);
    free(orig);
    free(rec);
    free(ref);
  }
  cairn__csv_cols_free(&c);
}

/* cairn__csv_scan against a byte loop: a record ends at the first newline
 * outside quotes (every quote flips), fed in pieces of random sizes. */
Test(csv, scan_matches_reference_in_pieces)
{
  static const char alpha[] = "ab,\"\n";
  unsigned seed = 7;
  for (int round = 0; round < 5000; round++) {
    char rec[600];
    size_t len = 1 + (size_t)(round % 599), want = len, at = 0, got = 0;
    int q = 0, quoted = 0, done = 0;
    long lines = 0, want_lines = 0;
    for (size_t i = 0; i < len; i++) {
      seed = seed * 1103515245u + 12345u;
      /* long runs without newline or quote, so whole 16-byte blocks pass */
      rec[i] = (seed >> 16) % 8 ? alpha[(seed >> 8) % 2]
                                : alpha[(seed >> 20) % (sizeof alpha - 1)];
    }
    for (size_t i = 0; i < len; i++) {
      if (rec[i] == '"')
        q = !q;
      else if (rec[i] == '\n') {
        want_lines++;
        if (!q) {
          want = i + 1;
          break;
        }
      }
    }
    while (at < len && !done) {
      size_t piece;
      seed = seed * 1103515245u + 12345u;
      piece = 1 + (seed >> 16) % 97;
      if (piece > len - at)
        piece = len - at;
      got = cairn__csv_scan(rec + at, piece, &quoted, &lines, &done);
      at += got;
    }
    cr_assert_eq(done ? at : len, want, "round %d", round);
    cr_assert_eq(lines, want_lines, "round %d: lines", round);
  }
}

/* A header line that shows the file cannot be read as cairn reads CSV:
 * UTF-16 (with or without its byte order mark) or lone CR line ends. A CR
 * before the LF, and a CR inside quotes, are fine. */
Test(csv, header_problem_names_utf16_and_lone_cr)
{
  static const struct {
    const char *text;
    size_t      len;
    const char *want; /* in the message; NULL: no problem */
  } cases[] = {
    { "a,b\n", 4, NULL },
    { "a,b\r\n", 5, NULL },
    { "\"x\ry\",b\r\n", 9, NULL },
    { "a,b\r", 4, NULL }, /* the last byte: nothing follows it */
    { "\xFF\xFE" "a\0,\0b\0\n", 9, "UTF-16 byte order mark" },
    { "\xFE\xFF\0a\0,\0b\n", 9, "UTF-16 byte order mark" },
    { "a\0,\0b\0\n", 7, "NUL bytes" },
    { "a,b\r1,2\r3,4\r", 12, "lone CR line ends" },
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    const char *why = cairn__csv_header_problem(cases[k].text, cases[k].len);
    if (!cases[k].want)
      cr_assert_null(why, "case %zu: %s", k, why);
    else
      cr_assert(why && strstr(why, cases[k].want), "case %zu: %s", k,
                why ? why : "(none)");
  }
}
