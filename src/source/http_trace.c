/* SPDX-License-Identifier: MIT */
/* http_trace.c -- W3C Trace Context for the http source: one trace id per
 * process (a run is one process), a fresh span id per outbound request,
 * the traceparent header built from them, and a validator of the rules a
 * sent header must follow (used by the tests, also on the mock's log).
 * Ids come from OpenSSL's RAND_bytes; an all-zero id is never returned. */
#include "source/src_http.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void random_bytes(unsigned char *buf, size_t n)
{
  if (RAND_bytes(buf, (int)n) != 1) {
    /* Only if the CSPRNG fails: ids need uniqueness, not secrecy. */
    static unsigned long ctr;
    unsigned long x = (unsigned long)time(NULL) ^
                      ((unsigned long)getpid() << 16) ^ ++ctr;
    for (size_t i = 0; i < n; i++) {
      x = x * 6364136223846793005UL + 1442695040888963407UL;
      buf[i] = (unsigned char)(x >> 56);
    }
  }
}

/* n random bytes as 2n lower-case hex digits, never all zero. */
static void random_hex(char *out, size_t n)
{
  static const char hex[] = "0123456789abcdef";
  unsigned char buf[16];
  int nonzero;

  do {
    random_bytes(buf, n);
    nonzero = 0;
    for (size_t i = 0; i < n; i++)
      nonzero |= buf[i];
  } while (!nonzero);
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hex[buf[i] >> 4];
    out[2 * i + 1] = hex[buf[i] & 15];
  }
  out[2 * n] = '\0';
}

static pthread_once_t trace_once = PTHREAD_ONCE_INIT;
static char trace_id[33];

static void make_trace_id(void)
{
  random_hex(trace_id, 16);
}

const char *cairn__hs_trace_id(void)
{
  pthread_once(&trace_once, make_trace_id);
  return trace_id;
}

void cairn__hs_span_id(char out[17])
{
  random_hex(out, 8);
}

void cairn__hs_traceparent(const char *tid, const char *span, char out[56])
{
  snprintf(out, 56, "00-%.32s-%.16s-01", tid, span);
}

static int lower_hex(const char *s, size_t n)
{
  int nonzero = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return -1;
    nonzero |= c != '0';
  }
  return nonzero;
}

int cairn__hs_traceparent_valid(const char *s)
{
  /* 00-<32 hex>-<16 hex>-<2 hex>: 55 characters exactly for version 00. */
  if (!s || strlen(s) != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-')
    return 0;
  if (strncmp(s, "00", 2) != 0)
    return 0;
  if (lower_hex(s + 3, 32) != 1 || lower_hex(s + 36, 16) != 1)
    return 0;
  if (lower_hex(s + 53, 2) < 0)
    return 0;
  /* Only the sampled bit is defined; the others must be sent as 0. */
  return strtol(s + 53, NULL, 16) <= 1;
}

void cairn__hs_uuid(char out[37])
{
  static const char hex[] = "0123456789abcdef";
  unsigned char b[16];
  int j = 0;

  random_bytes(b, sizeof b);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out[j++] = '-';
    out[j++] = hex[b[i] >> 4];
    out[j++] = hex[b[i] & 15];
  }
  out[j] = '\0';
}

uint64_t cairn__hs_random(void)
{
  uint64_t v;
  random_bytes((unsigned char *)&v, sizeof v);
  return v;
}
