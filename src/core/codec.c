/* SPDX-License-Identifier: MIT */
/* codec.c -- base64 (RFC 4648) and UTF-8 validation, shared by the HAR
 * recorder, the http source's basic auth, the sqlite source's BLOBs and
 * the PII policy; JSON string escaping, shared by the batch's row JSON,
 * the bundle's NDJSON and the mapping functions' canonical JSON; one-line
 * text for diagnostics and log lines. */
#include "core/codec.h"
#include "core/jsonx.h"
#include "core/mem.h"

#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *cairn_base64_encode(const void *p, size_t n)
{
  const unsigned char *s = p;
  char *out = cairn_xmalloc((n + 2) / 3 * 4 + 1);
  char *o = out;
  size_t i;

  for (i = 0; i + 2 < n; i += 3) {
    unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
    *o++ = b64[v >> 18 & 63];
    *o++ = b64[v >> 12 & 63];
    *o++ = b64[v >> 6 & 63];
    *o++ = b64[v & 63];
  }
  if (i < n) {
    unsigned v = (unsigned)s[i] << 16;
    if (i + 1 < n)
      v |= (unsigned)s[i + 1] << 8;
    *o++ = b64[v >> 18 & 63];
    *o++ = b64[v >> 12 & 63];
    *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
    *o++ = '=';
  }
  *o = '\0';
  return out;
}

static int b64_val(int c)
{
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;   /* '-' '_': base64url, tolerated */
  if (c == '/' || c == '_') return 63;
  return -1;
}

int cairn_base64_decode(const char *s, size_t n, char **out, size_t *out_len)
{
  char *buf = cairn_xmalloc(n / 4 * 3 + 4);
  size_t len = 0;
  unsigned acc = 0;
  int bits = 0, pad = 0;

  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)s[i], v;
    if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
      continue;
    if (c == '=') {
      pad++;
      continue;
    }
    v = b64_val(c);
    if (v < 0 || pad) {
      free(buf);
      return -1;
    }
    acc = (acc << 6 | (unsigned)v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[len++] = (char)(acc >> bits & 0xff);
    }
  }
  buf[len] = '\0';
  *out = buf;
  *out_len = len;
  return 0;
}

int cairn_hexval(int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  c |= 0x20; /* 'A' -> 'a' */
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

char *cairn_pct_decode(const char *s, size_t n, int plus)
{
  char *out = cairn_xmalloc(n + 1);
  size_t j = 0;

  for (size_t i = 0; i < n; i++) {
    int hi, lo;
    if (s[i] == '%' && i + 2 < n && (hi = cairn_hexval(s[i + 1])) >= 0 &&
        (lo = cairn_hexval(s[i + 2])) >= 0) {
      out[j++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      out[j++] = plus && s[i] == '+' ? ' ' : s[i];
    }
  }
  out[j] = '\0';
  return out;
}

int cairn_pair_next(const char **s, const char *end, struct cairn_pair *p)
{
  const char *amp;

  if (*s >= end)
    return 0;
  p->at = *s;
  amp = memchr(p->at, '&', (size_t)(end - p->at));
  p->end = amp ? amp : end;
  p->eq = memchr(p->at, '=', (size_t)(p->end - p->at));
  *s = amp ? amp + 1 : end;
  return 1;
}

char *cairn_pair_name(const struct cairn_pair *p)
{
  return cairn_pct_decode(p->at, (size_t)((p->eq ? p->eq : p->end) - p->at),
                          1);
}

char *cairn_pair_value(const struct cairn_pair *p)
{
  return p->eq ? cairn_pct_decode(p->eq + 1, (size_t)(p->end - p->eq - 1), 1)
               : cairn_xstrdup("");
}

int cairn_pair_value_is(const struct cairn_pair *p, const char *v)
{
  size_t n = strlen(v);
  return p->eq && (size_t)(p->end - p->eq - 1) == n &&
         memcmp(p->eq + 1, v, n) == 0;
}

/* 1 when s[0..n) is all ASCII. Whole blocks, then one block that ends
 * at the end (overlapping the last one), so short and odd lengths take
 * no byte loop. */
static int ascii_only(const unsigned char *s, size_t n)
{
  uint64_t a, b;
  uint32_t x, y;
  if (n >= 16) {
#if defined(__SSE2__)
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
      if (_mm_movemask_epi8(
              _mm_loadu_si128((const __m128i *)(const void *)(s + i))))
        return 0;
    return !_mm_movemask_epi8(
        _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16)));
#else
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      memcpy(&a, s + i, 8);
      if (a & 0x8080808080808080ULL)
        return 0;
    }
    memcpy(&a, s + n - 8, 8);
    return !(a & 0x8080808080808080ULL);
#endif
  }
  if (n >= 8) {
    memcpy(&a, s, 8);
    memcpy(&b, s + n - 8, 8);
    return !((a | b) & 0x8080808080808080ULL);
  }
  if (n >= 4) {
    memcpy(&x, s, 4);
    memcpy(&y, s + n - 4, 4);
    return !((x | y) & 0x80808080u);
  }
  for (size_t i = 0; i < n; i++)
    if (s[i] >= 0x80)
      return 0;
  return 1;
}

size_t cairn_utf8_check(const char *s, size_t n)
{
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  if (ascii_only(p, n))
    return n;
  while (p < end) {
    unsigned c = *p;
    size_t k;
    if (c < 0x80) {
      /* ASCII fast path, 16 (SSE2) then 8 bytes at a time. */
      uint64_t w;
#if defined(__SSE2__)
      while ((size_t)(end - p) >= 16 &&
             !_mm_movemask_epi8(
                 _mm_loadu_si128((const __m128i *)(const void *)p)))
        p += 16;
#endif
      while ((size_t)(end - p) >= 8) {
        memcpy(&w, p, 8);
        if (w & 0x8080808080808080ULL)
          break;
        p += 8;
      }
      while (p < end && *p < 0x80)
        p++;
      continue;
    }
    k = cairn_utf8_len(p, end);
    if (!k)
      return (size_t)(p - (const unsigned char *)s);
    p += k;
  }
  return n;
}

int cairn_utf8_valid(const char *s, size_t n)
{
  return cairn_utf8_check(s, n) == n;
}

/* ---- JSON strings ------------------------------------------------------ */

/* Bytes a string byte adds when escaped: 0, 1 (\" \\ \n ...), 5 (\u00XX). */
static const unsigned char esc_extra[256] = {
  5, 5, 5, 5, 5, 5, 5, 5, 1, 1, 1, 5, 1, 1, 5, 5,
  5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
  0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
};

/* Length of the prefix of s[0..n) that needs no escaping. */
static size_t clean_run(const unsigned char *s, size_t n)
{
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
  const __m128i ctl = _mm_set1_epi8(0x1f);
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
    __m128i m = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
        _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v)); /* v <= 0x1f */
    int bits = _mm_movemask_epi8(m);
    if (bits)
      return i + (size_t)__builtin_ctz((unsigned)bits);
  }
#endif
  while (i < n && !esc_extra[s[i]])
    i++;
  return i;
}

size_t cairn_json_str_len(const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;
  size_t len = n + 2, i;

  if (n == 0)
    return len;
  i = clean_run(s, n);
  while (i < n) {
    len += esc_extra[s[i]];
    i++;
    i += clean_run(s + i, n - i);
  }
  return len;
}

char *cairn_json_str_to(char *p, const char *str, size_t n, int upper)
{
  const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;

  *p++ = '"';
  while (n) {
    size_t run = clean_run(s + i, n - i);
    memcpy(p, s + i, run);
    p += run;
    i += run;
    if (i >= n)
      break;
    unsigned char c = s[i++];
    *p++ = '\\';
    switch (c) {
    case '"':  *p++ = '"'; break;
    case '\\': *p++ = '\\'; break;
    case '\n': *p++ = 'n'; break;
    case '\r': *p++ = 'r'; break;
    case '\t': *p++ = 't'; break;
    case '\b': *p++ = 'b'; break;
    case '\f': *p++ = 'f'; break;
    default:
      *p++ = 'u'; *p++ = '0'; *p++ = '0';
      *p++ = hex[c >> 4]; *p++ = hex[c & 15];
    }
  }
  *p++ = '"';
  return p;
}

void cairn_put_oneline(struct cairn_buf *b, const char *s)
{
  const unsigned char *p = (const unsigned char *)s, *run = p, *end;
  end = p + strlen(s);
  while (p < end) {
    size_t k = *p >= 0x20 && *p < 0x7f ? 1
               : *p >= 0x80          ? cairn_utf8_len(p, end) : 0;
    if (k) {
      p += k;
      continue;
    }
    cairn_buf_append(b, run, (size_t)(p - run));
    if (*p == '\n')
      cairn_buf_puts(b, "\\n");
    else if (*p == '\r')
      cairn_buf_puts(b, "\\r");
    else if (*p == '\t')
      cairn_buf_puts(b, "\\t");
    else if (*p < 0x80)
      cairn_buf_printf(b, "\\u%04x", *p);
    else
      cairn_buf_printf(b, "\\x%02x", *p);
    run = ++p;
  }
  cairn_buf_append(b, run, (size_t)(p - run));
}

char *cairn_oneline(const char *s)
{
  struct cairn_buf b = {0};
  cairn_put_oneline(&b, s);
  return b.data ? b.data : cairn_xstrdup("");
}

char *cairn_vonelinef(const char *fmt, va_list ap)
{
  char *text = cairn_vstrfmt(fmt, ap), *one = cairn_oneline(text);
  free(text);
  return one;
}

char *cairn_onelinef(const char *fmt, ...)
{
  va_list ap;
  char *one;
  va_start(ap, fmt);
  one = cairn_vonelinef(fmt, ap);
  va_end(ap);
  return one;
}

void cairn_put_cut(struct cairn_buf *b, const char *s, size_t len,
                   size_t max)
{
  size_t n = len;

  if (len > max) {
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
      n--;
  }
  cairn_buf_append(b, s, n);
  if (n < len)
    cairn_buf_puts(b, "...");
}

/* Past the decimal digits of s from i (up to n). */
static size_t skip_digits(const char *s, size_t n, size_t i)
{
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++;
  return i;
}

int cairn_json_is_number(const char *s, size_t n)
{
  size_t i = 0, j;
  if (i < n && s[i] == '-')
    i++;
  j = skip_digits(s, n, i);
  if (j == i || (s[i] == '0' && j > i + 1)) /* none, or a leading 0 */
    return 0;
  i = j;
  if (i < n && s[i] == '.') {
    j = skip_digits(s, n, ++i);
    if (j == i)
      return 0;
    i = j;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      i++;
    j = skip_digits(s, n, i);
    if (j == i)
      return 0;
    i = j;
  }
  return i == n;
}
