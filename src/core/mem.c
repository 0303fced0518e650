/* SPDX-License-Identifier: MIT */
/* mem.c -- aborting allocators and the growable buffer. */
#include "core/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void oom(size_t n)
{
  fprintf(stderr, "cairn: out of memory allocating %zu bytes\n", n);
  abort();
}

void *cairn_xmalloc(size_t n)
{
  void *p = malloc(n ? n : 1);
  if (!p)
    oom(n);
  return p;
}

void *cairn_xcalloc(size_t n, size_t size)
{
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p)
    oom(n * size);
  return p;
}

void *cairn_xrealloc(void *p, size_t n)
{
  void *q = realloc(p, n ? n : 1);
  if (!q)
    oom(n);
  return q;
}

char *cairn_xstrdup(const char *s)
{
  return s ? cairn_xstrndup(s, strlen(s)) : NULL;
}

char *cairn_xstrndup(const char *s, size_t n)
{
  char *p = cairn_xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

/* GCC 12 with -fsanitize at -O1 reports a false "null format string" on
 * the sizing call below; fmt is never NULL (callers pass literals). */
#if defined(__GNUC__) && !defined(__clang__) /* clang has no such warning */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
char *cairn_vstrfmt(const char *fmt, va_list ap)
{
  va_list ap2;
  char probe[1];
  int n;
  char *p;

  va_copy(ap2, ap);
  n = vsnprintf(probe, sizeof probe, fmt, ap2);
  va_end(ap2);
  if (n < 0)
    n = 0;
  p = cairn_xmalloc((size_t)n + 1);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  return p;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

char *cairn_strfmt(const char *fmt, ...)
{
  va_list ap;
  char *p;

  va_start(ap, fmt);
  p = cairn_vstrfmt(fmt, ap);
  va_end(ap);
  return p;
}

char *cairn_buf_reserve(struct cairn_buf *b, size_t n)
{
  size_t need = b->len + n + 1;

  if (b->cap_max && b->len + n > b->cap_max)
    return NULL;
  if (need > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
      cap *= 2;
    b->data = cairn_xrealloc(b->data, cap);
    b->cap = cap;
  }
  return b->data + b->len;
}

int cairn_buf_append(struct cairn_buf *b, const void *p, size_t n)
{
  char *dst = cairn_buf_reserve(b, n);

  if (!dst)
    return -1;
  if (n)
    memcpy(dst, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int cairn_buf_puts(struct cairn_buf *b, const char *s)
{
  return cairn_buf_append(b, s, strlen(s));
}

int cairn_buf_putc(struct cairn_buf *b, char c)
{
  return cairn_buf_append(b, &c, 1);
}

int cairn_buf_printf(struct cairn_buf *b, const char *fmt, ...)
{
  va_list ap;
  char *s;
  int rc;

  va_start(ap, fmt);
  s = cairn_vstrfmt(fmt, ap);
  va_end(ap);
  rc = cairn_buf_puts(b, s);
  free(s);
  return rc;
}

void cairn_buf_reset(struct cairn_buf *b)
{
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

void cairn_buf_free(struct cairn_buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void cairn_buf_idle(struct cairn_buf *b)
{
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t lo, hi;

  cairn_buf_reset(b);
  if (!b->data)
    return;
  lo = ((uintptr_t)b->data + 1 + page - 1) & ~(page - 1); /* keep the NUL */
  hi = ((uintptr_t)b->data + b->cap) & ~(page - 1);
  if (hi > lo)
    madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

char *cairn_buf_take(struct cairn_buf *b)
{
  char *p = b->data ? b->data : cairn_xstrdup("");
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}
