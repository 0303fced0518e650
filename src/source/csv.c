/* SPDX-License-Identifier: MIT */
/* csv.c -- RFC 4180 scanning and splitting shared by the CSV sources.
 *
 * The scanner works line by line: memchr finds the next newline, then the
 * quotes in that line flip the quote state (memchr again, so both passes
 * run at vector speed on the long unquoted stretches of cost exports). A
 * newline reached in the unquoted state ends the record. */
#include "source/csv.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

size_t cairn__csv_scan(const char *p, size_t n, int *quoted, long *lines,
                       int *done)
{
  const char *at = p, *end = p + n;
  int q = *quoted;

  *done = 0;
  while (at < end) {
    const char *nl = memchr(at, '\n', (size_t)(end - at));
    const char *seg_end = nl ? nl + 1 : end;
    for (const char *c = at; (c = memchr(c, '"', (size_t)(seg_end - c)));
         c++)
      q = !q;
    at = seg_end;
    if (!nl)
      break;
    (*lines)++;
    if (!q) {
      *done = 1;
      break;
    }
  }
  *quoted = q;
  return (size_t)(at - p);
}

int cairn__csv_blank(const char *p, size_t n)
{
  return n == 0 || (n <= 2 && (p[0] == '\n' || p[0] == '\r'));
}

size_t cairn__csv_split(char *p, size_t len, struct cairn__csv_cols *out)
{
  char *end = p + len, *w;
  size_t n = 0;

  /* Drop the terminator: LF or CRLF. */
  if (end > p && end[-1] == '\n')
    end--;
  if (end > p && end[-1] == '\r')
    end--;
  for (;;) {
    char *start;
    if (n == out->cap) {
      out->cap = out->cap ? out->cap * 2 : 64;
      out->cols = cairn_xrealloc(out->cols, out->cap * sizeof *out->cols);
      out->lens = cairn_xrealloc(out->lens, out->cap * sizeof *out->lens);
    }
    start = w = p;
    if (p < end && *p == '"') {
      p++;
      for (;;) {
        /* Copy up to the next quote in one go. */
        char *qt = memchr(p, '"', (size_t)(end - p));
        size_t k = qt ? (size_t)(qt - p) : (size_t)(end - p);
        if (w != p)
          memmove(w, p, k);
        w += k;
        p += k;
        if (!qt)
          break;
        if (p + 1 < end && p[1] == '"') {
          *w++ = '"';
          p += 2;
          continue;
        }
        p++; /* the closing quote */
        break;
      }
      /* Anything after the closing quote up to the comma is kept as-is. */
      while (p < end && *p != ',')
        *w++ = *p++;
    } else {
      char *comma = memchr(p, ',', (size_t)(end - p));
      p = comma ? comma : end;
      w = p;
    }
    out->cols[n] = start;
    out->lens[n] = (size_t)(w - start);
    n++;
    if (p < end && *p == ',') {
      *w = '\0';
      p++;
      continue;
    }
    *w = '\0';
    return n;
  }
}

void cairn__csv_cols_free(struct cairn__csv_cols *c)
{
  if (!c)
    return;
  free(c->cols);
  free(c->lens);
  memset(c, 0, sizeof *c);
}
