/* SPDX-License-Identifier: MIT */
/* csv.c -- RFC 4180 scanning and splitting shared by the CSV sources.
 *
 * Both loops look at 16 bytes at a time (SSE2, part of every x86-64; other
 * targets take the byte loop): the scanner turns each block into bit masks
 * of quotes and newlines and walks only the set bits, flipping the quote
 * state on a quote and ending the record at a newline outside quotes; the
 * splitter finds the next comma or quote the same way. Cost exports have
 * ~20 quotes and ~40 commas in a 700-byte row, so a library call per
 * delimiter (memchr) cost more than the scanning itself. */
#include "source/csv.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#define CSV_SSE2 1
#endif

/* First c in [p, end), or NULL. */
static inline const char *find_byte(const char *p, const char *end,
                                    char c)
{
#ifdef CSV_SSE2
  const __m128i v = _mm_set1_epi8(c);
  while (end - p >= 16) {
    unsigned m = (unsigned)_mm_movemask_epi8(
        _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), v));
    if (m)
      return p + __builtin_ctz(m);
    p += 16;
  }
#endif
  for (; p < end; p++)
    if (*p == c)
      return p;
  return NULL;
}

size_t cairn__csv_scan(const char *p, size_t n, int *quoted, long *lines,
                       int *done)
{
  size_t i = 0;
  int q = *quoted;

  *done = 0;
#ifdef CSV_SSE2
  {
    const __m128i vq = _mm_set1_epi8('"'), vn = _mm_set1_epi8('\n');
    for (; i + 16 <= n; i += 16) {
      __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
      unsigned mq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, vq));
      unsigned mn = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, vn));
      unsigned m = mq | mn;
      if (!mn) {
        /* No newline: only the parity of the quotes matters (folded by
         * hand: without -mpopcnt, __builtin_popcount is a libgcc call). */
        mq ^= mq >> 8;
        mq ^= mq >> 4;
        mq ^= mq >> 2;
        mq ^= mq >> 1;
        q ^= (int)(mq & 1);
        continue;
      }
      while (m) {
        unsigned bit = (unsigned)__builtin_ctz(m);
        m &= m - 1;
        if (mq >> bit & 1) {
          q = !q;
        } else {
          (*lines)++;
          if (!q) {
            *quoted = q;
            *done = 1;
            return i + bit + 1;
          }
        }
      }
    }
  }
#endif
  for (; i < n; i++) {
    if (p[i] == '"') {
      q = !q;
    } else if (p[i] == '\n') {
      (*lines)++;
      if (!q) {
        *quoted = q;
        *done = 1;
        return i + 1;
      }
    }
  }
  *quoted = q;
  return n;
}

int cairn__csv_blank(const char *p, size_t n)
{
  return n == 0 || (n <= 2 && (p[0] == '\n' || p[0] == '\r'));
}

int cairn__csv_keep(struct cairn_buf *out, size_t before,
                    unsigned long long bytes, const char *p, size_t seg)
{
  if (bytes + seg > CAIRN_CSV_RECORD_MAX) {
    size_t room;
    if (out->len - before > CAIRN_CSV_KEEP) {
      out->len = before + CAIRN_CSV_KEEP;
      out->data[out->len] = '\0';
    }
    room = CAIRN_CSV_KEEP - (out->len - before);
    if (seg > room)
      seg = room;
  }
  return seg && cairn_buf_append(out, p, seg) != 0 ? -1 : 0;
}

char *cairn__csv_too_large(long long bytes, long lines, int open_quote)
{
  return cairn_strfmt("record too large: %lld bytes on %ld line%s, more "
                      "than the %zu MiB a record may have; not loaded (its "
                      "first %zu KiB are kept here)%s", bytes, lines,
                      lines == 1 ? "" : "s", CAIRN_CSV_RECORD_MAX >> 20,
                      CAIRN_CSV_KEEP >> 10,
                      open_quote ? "; it runs to the end of the file inside "
                                   "quotes: a quote in it is never closed"
                                 : "");
}

const char *cairn__csv_header_problem(const char *p, size_t n)
{
  int q = 0;

  if (n >= 2 && ((p[0] == '\xFF' && p[1] == '\xFE') ||
                 (p[0] == '\xFE' && p[1] == '\xFF')))
    return " is UTF-16 text (it starts with a UTF-16 byte order mark); CSV "
           "is read as UTF-8: convert it first (iconv -f UTF-16 -t UTF-8)";
  if (memchr(p, '\0', n))
    return " has NUL bytes in its header line, so it is not UTF-8 text "
           "(UTF-16 without a byte order mark?); CSV is read as UTF-8: "
           "convert it first (iconv -f UTF-16 -t UTF-8)";
  for (size_t i = 0; i + 1 < n; i++) {
    if (p[i] == '"')
      q = !q;
    else if (p[i] == '\r' && !q && p[i + 1] != '\n')
      return " has lone CR line ends (a carriage return without a line "
             "feed ends its first line), so the whole file would read as "
             "one header line and no row; lines must end with LF or CRLF: "
             "convert it first (tr '\\r' '\\n')";
  }
  return NULL;
}

size_t cairn__csv_split(const char *p, size_t len, struct cairn__csv_cols *out)
{
  const char *end = p + len;
  char *w;
  size_t n = 0;

  /* Drop the terminator: LF or CRLF. */
  if (end > p && end[-1] == '\n')
    end--;
  if (end > p && end[-1] == '\r')
    end--;
  /* Unescaped text never outgrows the record: sized once, it does not move
   * while fields point into it. */
  if (out->esc_cap < len + 1) {
    out->esc_cap = len + 1 > 2 * out->esc_cap ? len + 1 : 2 * out->esc_cap;
    out->esc = cairn_xrealloc(out->esc, out->esc_cap);
  }
  w = out->esc;
  for (;;) {
    const char *field, *fend;
    if (n == out->cap) {
      out->cap = out->cap ? out->cap * 2 : 64;
      out->cols = cairn_xrealloc(out->cols, out->cap * sizeof *out->cols);
      out->lens = cairn_xrealloc(out->lens, out->cap * sizeof *out->lens);
    }
    if (p < end && *p == '"') {
      const char *start = ++p, *qt = find_byte(p, end, '"');
      if (!qt || qt + 1 == end || qt[1] == ',') {
        /* No doubled quote and nothing after the closing one: in place. */
        field = start;
        fend = qt ? qt : end;
        p = qt ? qt + 1 : end;
      } else {
        /* Undouble the quotes into esc. */
        char *f = w;
        for (;;) {
          size_t k = (size_t)((qt ? qt : end) - p);
          memcpy(w, p, k);
          w += k;
          p += k;
          if (!qt)
            break;
          if (p + 1 < end && p[1] == '"') {
            *w++ = '"';
            p += 2;
            qt = find_byte(p, end, '"');
            continue;
          }
          p++; /* the closing quote */
          break;
        }
        /* Anything after the closing quote up to the comma is kept. */
        while (p < end && *p != ',')
          *w++ = *p++;
        field = f;
        fend = w;
      }
    } else {
      const char *comma = find_byte(p, end, ',');
      field = p;
      p = fend = comma ? comma : end;
    }
    out->cols[n] = field;
    out->lens[n] = (size_t)(fend - field);
    n++;
    if (p < end && *p == ',') {
      p++;
      continue;
    }
    return n;
  }
}

void cairn__csv_cols_free(struct cairn__csv_cols *c)
{
  if (!c)
    return;
  free(c->cols);
  free(c->lens);
  free(c->esc);
  memset(c, 0, sizeof *c);
}
