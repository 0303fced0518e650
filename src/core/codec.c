/* SPDX-License-Identifier: MIT */
/* codec.c -- base64 (RFC 4648) and UTF-8 validation, shared by the HAR
 * recorder, the http source's basic auth, the sqlite source's BLOBs and
 * the PII policy. */
#include "core/codec.h"
#include "core/jsonx.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

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

int cairn_utf8_valid(const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str, *end = s + n;
  while (s < end) {
    size_t k = cairn_utf8_len(s, end);
    if (!k)
      return 0;
    s += k;
  }
  return 1;
}
