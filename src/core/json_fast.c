/* SPDX-License-Identifier: MIT */
/* json_fast.c -- JSON pages into jansson trees, without jansson's reader.
 *
 * A recursive-descent parser over the buffer. It follows jansson's lexer
 * rule for rule (RFC 8259 numbers with integers as json_int_t, escapes
 * with UTF-16 surrogate pairs, no control characters in strings, valid
 * UTF-8 only, at most 2048 levels) and builds with json_stringn_nocheck /
 * json_object_setn_new_nocheck, which are safe because it has validated
 * what they would check. Where jansson's answer is an error that carries
 * a message worth keeping (a NUL escape, a number out of range, too deep)
 * it gives up and the caller asks jansson. Strings are scanned 16 bytes at
 * a time (SSE2, part of every x86-64; other targets take the byte loop)
 * and built from the input directly unless they hold escapes. */
#include "core/json_fast.h"
#include "core/jsonx.h"
#include "core/mem.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#define HJ_SSE2 1
#endif

#define HJ_MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */
#define HJ_MAX_SEGS  16   /* skip pointers deeper than this never skip */

typedef const unsigned char *cptr;

struct hj {
  cptr             start;      /* the text */
  cptr             p, end;     /* the unread input */
  int              depth;      /* open containers */
  struct cairn_buf str;        /* a decoded string that had escapes */
  /* The skip pointer, split into unescaped member names. */
  int              n_seg;      /* -1: no skip pointer */
  const char      *seg[HJ_MAX_SEGS];
  size_t           seg_len[HJ_MAX_SEGS];
  struct cairn_buf segs;       /* storage of seg[] */
  /* Skipped arrays in the order they were made: which one is in the
   * finished tree is only known at the end (duplicate keys). */
  struct skipped { json_t *arr; size_t at; } *skipped;
  size_t           n_skipped, cap_skipped;
};

static int value(struct hj *j, int level, int build, json_t **out);

/* ---- lexing ------------------------------------------------------------ */

static inline cptr ws(cptr p, cptr end)
{
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
    p++;
  return p;
}

/* First byte at or after p that a string cannot copy as is: '"', '\\',
 * a control character or a non-ASCII byte; end if none. */
static inline __attribute__((always_inline)) cptr scan_plain(cptr p,
                                                             cptr end)
{
#ifdef HJ_SSE2
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(' ');
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    /* Signed compare: bytes >= 0x80 are negative, so below ' ' too. */
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                          _mm_cmpeq_epi8(v, bslash)),
                             _mm_cmplt_epi8(v, space));
    unsigned bits = (unsigned)_mm_movemask_epi8(m);
    if (bits)
      return p + __builtin_ctz(bits);
    p += 16;
  }
#endif
  while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
    p++;
  return p;
}

/* The rest of a string from its first backslash at p, decoded into
 * j->str. */
static int str_escaped(struct hj *j, cptr start, cptr p, const char **s,
                       size_t *n)
{
  cptr end = j->end;
  struct cairn_buf *b = &j->str;

  b->len = 0;
  cairn_buf_append(b, start, (size_t)(p - start));
  for (;;) {
    cptr q = scan_plain(p, end);
    unsigned c;
    char u[4];
    size_t k, un = 0;
    if (q > p)
      cairn_buf_append(b, p, (size_t)(q - p));
    p = q;
    if (p >= end)
      return -1;
    c = *p;
    if (c == '"') {
      cairn_buf_putc(b, '\0');
      b->len--;
      *s = b->data;
      *n = b->len;
      j->p = p + 1;
      return 0;
    }
    if (c < 0x20)
      return -1;
    if (c >= 0x80) {
      k = cairn_utf8_len(p, end);
      if (!k)
        return -1;
      cairn_buf_append(b, p, k);
      p += k;
      continue;
    }
    /* c == '\\' */
    if (end - p < 2)
      return -1;
    c = p[1];
    p += 2;
    switch (c) {
    case '"': case '\\': case '/':
      cairn_buf_putc(b, (char)c);
      continue;
    case 'b': cairn_buf_putc(b, '\b'); continue;
    case 'f': cairn_buf_putc(b, '\f'); continue;
    case 'n': cairn_buf_putc(b, '\n'); continue;
    case 'r': cairn_buf_putc(b, '\r'); continue;
    case 't': cairn_buf_putc(b, '\t'); continue;
    case 'u':
      break;
    default:
      return -1;
    }
    k = cairn_json_unescape_u((const char *)p, (const char *)end, u, &un);
    if (!k)
      return -1; /* as jansson: bad hex, a lone surrogate or \u0000 */
    p += k;
    cairn_buf_append(b, u, un);
  }
}

/* A string at j->p (its opening quote). *s points into the input when it
 * has no escapes, else into j->str (valid until the next string). */
static int str(struct hj *j, const char **s, size_t *n)
{
  cptr start = j->p + 1, p = start, end = j->end;
  for (;;) {
    p = scan_plain(p, end);
    if (p >= end)
      return -1;
    if (*p == '"') {
      *s = (const char *)start;
      *n = (size_t)(p - start);
      j->p = p + 1;
      return 0;
    }
    if (*p == '\\')
      return str_escaped(j, start, p, s, n);
    if (*p < 0x20)
      return -1;
    {
      size_t k = cairn_utf8_len(p, end);
      if (!k)
        return -1;
      p += k;
    }
  }
}

static int is_digit(cptr p, cptr end)
{
  return p < end && *p >= '0' && *p <= '9';
}

static int number(struct hj *j, int build, json_t **out)
{
  cptr p = j->p, start = p, end = j->end;
  int neg = 0, real = 0;
  size_t len;
  char small[64], *txt;

  if (*p == '-') {
    neg = 1;
    p++;
  }
  if (p < end && *p == '0') {
    p++;
    if (is_digit(p, end))
      return -1; /* leading zero */
  } else if (is_digit(p, end)) {
    while (is_digit(p, end))
      p++;
  } else {
    return -1;
  }
  if (p < end && *p == '.') {
    real = 1;
    p++;
    if (!is_digit(p, end))
      return -1;
    while (is_digit(p, end))
      p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    real = 1;
    p++;
    if (p < end && (*p == '+' || *p == '-'))
      p++;
    if (!is_digit(p, end))
      return -1;
    while (is_digit(p, end))
      p++;
  }
  j->p = p;
  len = (size_t)(p - start);
  if (!real && len - (size_t)neg <= 18) {
    /* Fits in 63 bits: no overflow possible. */
    uint64_t v = 0;
    for (cptr d = start + neg; d < p; d++)
      v = v * 10 + (uint64_t)(*d - '0');
    if (build)
      *out = json_integer(neg ? -(json_int_t)v : (json_int_t)v);
    return 0;
  }
  if (len < sizeof small) {
    memcpy(small, start, len);
    small[len] = '\0';
    txt = small;
  } else {
    j->str.len = 0;
    cairn_buf_append(&j->str, start, len);
    cairn_buf_putc(&j->str, '\0');
    txt = j->str.data;
  }
  errno = 0;
  if (!real) {
    long long v = strtoll(txt, NULL, 10);
    if (errno == ERANGE)
      return -1; /* jansson: "too big integer" */
    if (build)
      *out = json_integer((json_int_t)v);
  } else {
    double d = strtod(txt, NULL);
    if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE)
      return -1; /* jansson: "real number overflow" */
    if (build)
      *out = json_real(d);
  }
  return 0;
}

static int literal(struct hj *j, const char *word, size_t n)
{
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
    return -1;
  j->p += n;
  return 0;
}

/* ---- values ------------------------------------------------------------ */

/* Does the member name k[0..n) continue the skip pointer at 'level'
 * (segments matched so far, -1 when off it)? The new level or -1. */
static int member_level(const struct hj *j, int level, const char *k,
                        size_t n)
{
  if (level < 0 || level >= j->n_seg || j->seg_len[level] != n ||
      memcmp(j->seg[level], k, n) != 0)
    return -1;
  return level + 1;
}

static int object(struct hj *j, int level, int build, json_t **out)
{
  json_t *obj = build ? json_object() : NULL;
  int rc = -1;

  j->p++; /* '{' */
  j->p = ws(j->p, j->end);
  if (j->p < j->end && *j->p == '}') {
    j->p++;
    *out = obj;
    return 0;
  }
  for (;;) {
    const char *k;
    char *kcopy = NULL;
    size_t kn;
    json_t *v = NULL;
    int kl;

    if (j->p >= j->end || *j->p != '"' || str(j, &k, &kn) < 0)
      goto fail;
    if (k == j->str.data) /* decoded: the value's strings reuse j->str */
      k = kcopy = cairn_xstrndup(k, kn);
    kl = member_level(j, level, k, kn);
    j->p = ws(j->p, j->end);
    if (j->p >= j->end || *j->p != ':') {
      free(kcopy);
      goto fail;
    }
    j->p = ws(j->p + 1, j->end);
    if (value(j, kl, build, &v) < 0) {
      free(kcopy);
      goto fail;
    }
    if (build && json_object_setn_new_nocheck(obj, k, kn, v) < 0) {
      free(kcopy);
      goto fail;
    }
    free(kcopy);
    j->p = ws(j->p, j->end);
    if (j->p < j->end && *j->p == ',') {
      j->p = ws(j->p + 1, j->end);
      continue;
    }
    if (j->p < j->end && *j->p == '}') {
      j->p++;
      break;
    }
    goto fail;
  }
  *out = obj;
  obj = NULL;
  rc = 0;
fail:
  json_decref(obj);
  return rc;
}

/* An array; 'skip' checks its elements without building them and gives
 * an array of as many nulls. */
static int array(struct hj *j, int build, int skip, json_t **out)
{
  json_t *arr = build ? json_array() : NULL;
  int build_el = build && !skip;
  size_t n = 0, at = (size_t)(j->p - j->start);

  j->p++; /* '[' */
  j->p = ws(j->p, j->end);
  if (j->p < j->end && *j->p == ']') {
    j->p++;
    *out = arr;
    return 0;
  }
  for (;;) {
    json_t *v = NULL;
    if (value(j, -1, build_el, &v) < 0)
      goto fail;
    n++;
    if (build_el && json_array_append_new(arr, v) < 0)
      goto fail;
    j->p = ws(j->p, j->end);
    if (j->p < j->end && *j->p == ',') {
      j->p = ws(j->p + 1, j->end);
      continue;
    }
    if (j->p < j->end && *j->p == ']') {
      j->p++;
      break;
    }
    goto fail;
  }
  if (build && skip) {
    for (size_t i = 0; i < n; i++)
      json_array_append_new(arr, json_null());
    if (j->n_skipped == j->cap_skipped) {
      j->cap_skipped = j->cap_skipped ? 2 * j->cap_skipped : 4;
      j->skipped = cairn_xrealloc(j->skipped,
                                  j->cap_skipped * sizeof *j->skipped);
    }
    j->skipped[j->n_skipped].arr = arr;
    j->skipped[j->n_skipped].at = at;
    j->n_skipped++;
  }
  *out = arr;
  return 0;
fail:
  json_decref(arr);
  return -1;
}

/* The value at j->p (no leading whitespace). level: skip-pointer segments
 * the path to this value matches, -1 when off the pointer. With build 0
 * the value is only checked and *out is left alone. */
static int value(struct hj *j, int level, int build, json_t **out)
{
  int rc;
  if (j->p >= j->end)
    return -1;
  switch (*j->p) {
  case '{':
  case '[':
    if (++j->depth > HJ_MAX_DEPTH)
      return -1; /* jansson: "maximum parsing depth reached" */
    rc = *j->p == '{'
             ? object(j, level, build, out)
             : array(j, build, level >= 0 && level == j->n_seg, out);
    j->depth--;
    return rc;
  case '"': {
    const char *s;
    size_t n;
    if (str(j, &s, &n) < 0)
      return -1;
    if (build)
      *out = json_stringn_nocheck(s, n);
    return 0;
  }
  case 't':
    if (literal(j, "true", 4) < 0)
      return -1;
    if (build)
      *out = json_true();
    return 0;
  case 'f':
    if (literal(j, "false", 5) < 0)
      return -1;
    if (build)
      *out = json_false();
    return 0;
  case 'n':
    if (literal(j, "null", 4) < 0)
      return -1;
    if (build)
      *out = json_null();
    return 0;
  default:
    return number(j, build, out);
  }
}

/* ---- entry point ---------------------------------------------------------- */

/* Split the skip pointer into unescaped member names (~1 is '/', ~0 is
 * '~'); n_seg -1 when there is none or it is too deep to bother. */
static void split_skip(struct hj *j, const char *skip)
{
  size_t off[HJ_MAX_SEGS];
  j->n_seg = -1;
  if (!skip || (*skip && *skip != '/'))
    return;
  j->n_seg = 0;
  while (*skip) {
    if (j->n_seg == HJ_MAX_SEGS) {
      j->n_seg = -1;
      return;
    }
    skip++; /* '/' */
    off[j->n_seg] = j->segs.len;
    while (*skip && *skip != '/') {
      char c = *skip++;
      if (c == '~' && (*skip == '0' || *skip == '1'))
        c = *skip++ == '0' ? '~' : '/';
      cairn_buf_putc(&j->segs, c);
    }
    j->seg_len[j->n_seg] = j->segs.len - off[j->n_seg];
    j->n_seg++;
  }
  for (int i = 0; i < j->n_seg; i++)
    j->seg[i] = j->segs.data + off[i];
}

static json_t *pointer_get(json_t *doc, const struct hj *j)
{
  for (int i = 0; doc && i < j->n_seg; i++)
    doc = json_object_getn(doc, j->seg[i], j->seg_len[i]);
  return doc;
}

json_t *cairn_json_fast_load(const char *text, size_t len,
                            struct cairn_json_skip *skip)
{
  struct hj j;
  json_t *doc = NULL;

  memset(&j, 0, sizeof j);
  j.start = j.p = (cptr)text;
  j.end = j.p + len;
  split_skip(&j, skip ? skip->ptr : NULL);
  if (skip)
    skip->at = CAIRN_JSON_NOWHERE;
  j.p = ws(j.p, j.end);
  if (j.p >= j.end || (*j.p != '{' && *j.p != '['))
    goto done; /* json_loadb without JSON_DECODE_ANY: '[' or '{' */
  if (value(&j, j.n_seg >= 0 ? 0 : -1, 1, &doc) < 0) {
    doc = NULL;
    goto done;
  }
  if (ws(j.p, j.end) != j.end) {
    json_decref(doc);
    doc = NULL;
    goto done;
  }
  if (skip && j.n_skipped) {
    /* The skipped array that survived, if any: a freed one's address may
     * have been reused by a later one, so the last match wins. */
    json_t *live = pointer_get(doc, &j);
    for (size_t i = j.n_skipped; i-- > 0;)
      if (j.skipped[i].arr == live) {
        skip->at = j.skipped[i].at;
        break;
      }
  }
done:
  cairn_buf_free(&j.str);
  cairn_buf_free(&j.segs);
  free(j.skipped);
  return doc;
}

int cairn_json_fast_each(const char *text, size_t len, size_t at,
                        size_t from, size_t to, cairn_json_fast_each_fn each,
                        void *ud, int *each_rc)
{
  struct hj j;
  size_t i = 0;
  int rc = -1;

  *each_rc = 0;
  memset(&j, 0, sizeof j);
  j.n_seg = -1;
  j.start = (cptr)text;
  j.p = j.start + at;
  j.end = j.start + len;
  if (at >= len || *j.p != '[')
    goto done;
  j.depth = 1;
  j.p = ws(j.p + 1, j.end);
  if (j.p < j.end && *j.p == ']') {
    rc = 0;
    goto done;
  }
  for (;;) {
    json_t *v = NULL;
    int cb = 0;
    if (i >= to) {
      rc = 0;
      goto done;
    }
    if (value(&j, -1, i >= from, &v) < 0)
      goto done;
    if (i >= from)
      cb = each(ud, v, i);
    i++;
    json_decref(v);
    if (cb != 0) {
      *each_rc = cb;
      rc = 0;
      goto done;
    }
    j.p = ws(j.p, j.end);
    if (j.p < j.end && *j.p == ',') {
      j.p = ws(j.p + 1, j.end);
      continue;
    }
    if (j.p < j.end && *j.p == ']') {
      rc = 0;
      break;
    }
    goto done;
  }
done:
  cairn_buf_free(&j.str);
  return rc;
}
