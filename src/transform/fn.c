/* SPDX-License-Identifier: MIT */
/* fn.c -- the mapping functions of the transform and the value model they
 * share: source references, the per-record scratch arena, conversions to
 * contract types, and a canonical JSON encoder.
 *
 * To add a function: write fn_<name>_compile (checks the argument once)
 * and fn_<name> (applies it to one value, no malloc), add one row to
 * fn_table below, add tests to tests/unit/test_fn.c and a section to
 * docs/mapping.md. Keep the table sorted by name (it is the "have:" list). */
/* record_id hashes every row. OpenSSL 3.0's EVP_DigestInit_ex frees and
 * re-creates its provider context on each call (one malloc per row); the
 * low-level SHA256_* calls run the same assembly on a stack context. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "transform/fn.h"

#include "core/clock.h"
#include "core/codec.h"
#include "core/jsonx.h"

#include <openssl/sha.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- scratch arena ---------------------------------------------------- */

#define SCRATCH_BLOCK (64 * 1024)

struct cairn__scratch_block {
  struct cairn__scratch_block *next;
  size_t used, cap;
  _Alignas(16) char data[];
};

char *cairn__scratch_alloc(struct cairn__scratch *s, size_t n)
{
  struct cairn__scratch_block *b = s->cur;
  size_t need = (n + 15) & ~(size_t)15;

  if (b && b->used + need <= b->cap)
    goto take;
  /* After a reset the blocks behind 'cur' are empty: reuse one if big
   * enough, else put a new block right after 'cur'. */
  if (b && b->next && b->next->cap >= need) {
    b = b->next;
    goto take;
  }
  {
    size_t cap = need > SCRATCH_BLOCK ? need : SCRATCH_BLOCK;
    struct cairn__scratch_block *nb = cairn_xmalloc(sizeof *nb + cap);
    nb->used = 0;
    nb->cap = cap;
    if (b) {
      nb->next = b->next;
      b->next = nb;
    } else {
      nb->next = s->head;
      s->head = nb;
    }
    b = nb;
  }
take:
  s->cur = b;
  b->used += need;
  return b->data + b->used - need;
}

char *cairn__scratch_dup(struct cairn__scratch *s, const char *p, size_t n)
{
  char *d = cairn__scratch_alloc(s, n + 1);
  if (n)
    memcpy(d, p, n);
  d[n] = '\0';
  return d;
}

void cairn__scratch_reset(struct cairn__scratch *s)
{
  for (struct cairn__scratch_block *b = s->head; b; b = b->next)
    b->used = 0;
  s->cur = s->head;
}

void cairn__scratch_free(struct cairn__scratch *s)
{
  struct cairn__scratch_block *b = s->head, *next;
  for (; b; b = next) {
    next = b->next;
    free(b);
  }
  s->head = s->cur = NULL;
}

/* ---- reasons ---------------------------------------------------------- */

int cairn__why(struct cairn__fctx *cx, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cx->why, sizeof cx->why, fmt, ap);
  va_end(ap);
  return -1;
}

/* Quote s as a JSON-ish string literal, at most ~48 bytes of it, cut on a
 * UTF-8 boundary. */
static void quote_into(char *out, size_t size, const char *s, size_t n)
{
  size_t o = 0, i = 0, lim = 48;
  if (size < 8)
    return;
  out[o++] = '"';
  for (; i < n && i < lim && o + 8 < size; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c == '\n') {
      out[o++] = '\\';
      out[o++] = 'n';
    } else if (c < 0x20) {
      o += (size_t)snprintf(out + o, size - o, "\\u%04X", c);
    } else {
      out[o++] = (char)c;
    }
  }
  if (i < n) {
    while (o > 1 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
      o--; /* drop a cut multi-byte sequence */
    if (o > 1 && ((unsigned char)out[o - 1] & 0xC0) == 0xC0)
      o--;
    if (o + 5 < size) {
      memcpy(out + o, "...", 3);
      o += 3;
    }
  }
  out[o++] = '"';
  out[o] = '\0';
}

int cairn__why_value(struct cairn__fctx *cx, const char *s, size_t n,
                     const char *what)
{
  char q[128];
  if (cx->redact)
    return cairn__why(cx, "value %s", what);
  quote_into(q, sizeof q, s, n);
  return cairn__why(cx, "%s %s", q, what);
}

static const char *json_kind(const struct cairn_xv *v)
{
  if (v->j)
    return json_is_array(v->j) ? "an array" : "an object";
  return v->s && v->n && v->s[0] == '[' ? "an array" : "an object";
}

/* "<value> <what>" for any non-null value. */
static int why_xv(struct cairn__fctx *cx, const struct cairn_xv *v,
                  const char *what)
{
  char num[32];
  switch (v->type) {
  case CAIRN_V_STR:
  case CAIRN_V_NUM:
    return cairn__why_value(cx, v->s, v->n, what);
  case CAIRN_V_INT:
    snprintf(num, sizeof num, "%" PRId64, v->i);
    return cx->redact ? cairn__why(cx, "value %s", what)
                      : cairn__why(cx, "%s %s", num, what);
  case CAIRN_V_BOOL:
    return cx->redact ? cairn__why(cx, "value %s", what)
                      : cairn__why(cx, "%s %s", v->i ? "true" : "false", what);
  case CAIRN_V_JSON:
    return cairn__why(cx, "%s %s", json_kind(v), what);
  default:
    return cairn__why(cx, "null %s", what);
  }
}

/* ---- canonical JSON --------------------------------------------------- */

/* The escapes jansson's json_dumps uses (without JSON_ENSURE_ASCII), so
 * text encoded here matches cairn_json_canonical byte for byte. */
#if defined(__SSE2__)
/* Bytes of b that a JSON string cannot hold as they are, or that need a
 * closer look: < 0x20, >= 0x80 (signed compare), '"' and '\\'. */
static inline unsigned json_special(__m128i b)
{
  __m128i m = _mm_or_si128(_mm_cmplt_epi8(b, _mm_set1_epi8(0x20)),
                           _mm_or_si128(_mm_cmpeq_epi8(b, _mm_set1_epi8('"')),
                                        _mm_cmpeq_epi8(b,
                                                       _mm_set1_epi8('\\'))));
  return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* Writes at most n * 6 + 2 bytes at p; returns the end. As jansson. */
static char *enc_string_to(char *p, const char *s, size_t n)
{
  return cairn_json_str_to(p, s, n, 1);
}

static void enc_string(struct cairn_buf *out, const char *s, size_t n)
{
  char *p = cairn_buf_reserve(out, n * 6 + 2);
  char *end = enc_string_to(p, s, n);
  out->len += (size_t)(end - p);
  out->data[out->len] = '\0';
}

void cairn__real_text(double d, char *out, size_t n)
{
  /* Any decimal of at most 15 significant digits survives a double, so
   * the 15-digit form is the shortest when it round-trips; otherwise 16
   * or 17 digits are needed. %g drops trailing zeros. */
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(out, n, "%.*g", prec, d);
    if (strtod(out, NULL) == d)
      return;
  }
}

struct member {
  const char   *key;
  size_t        klen;
  const json_t *val;
};

static int cmp_member(const void *a, const void *b)
{
  const struct member *x = a, *y = b;
  size_t n = x->klen < y->klen ? x->klen : y->klen;
  int c = memcmp(x->key, y->key, n);
  if (c)
    return c;
  return x->klen < y->klen ? -1 : x->klen > y->klen;
}

void cairn__json_encode(struct cairn_buf *out, const json_t *v, int *flat)
{
  char num[40];
  if (flat)
    *flat = 0;
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    struct member stack[32], *m = stack;
    size_t n = json_object_size(v), k = 0;
    const char *key;
    json_t *val;
    int is_flat = 1;
    if (n > 32)
      m = cairn_xmalloc(n * sizeof *m);
    json_object_foreach((json_t *)v, key, val) {
      m[k].key = key;
      m[k].klen = strlen(key);
      m[k].val = val;
      if (json_is_object(val) || json_is_array(val))
        is_flat = 0;
      k++;
    }
    qsort(m, k, sizeof *m, cmp_member);
    cairn_buf_putc(out, '{');
    for (size_t i = 0; i < k; i++) {
      if (i)
        cairn_buf_putc(out, ',');
      enc_string(out, m[i].key, m[i].klen);
      cairn_buf_putc(out, ':');
      cairn__json_encode(out, m[i].val, NULL);
    }
    cairn_buf_putc(out, '}');
    if (m != stack)
      free(m);
    if (flat)
      *flat = is_flat;
    break;
  }
  case JSON_ARRAY:
    cairn_buf_putc(out, '[');
    for (size_t i = 0; i < json_array_size(v); i++) {
      if (i)
        cairn_buf_putc(out, ',');
      cairn__json_encode(out, json_array_get(v, i), NULL);
    }
    cairn_buf_putc(out, ']');
    break;
  case JSON_STRING:
    enc_string(out, json_string_value(v), json_string_length(v));
    break;
  case JSON_INTEGER:
    snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    cairn_buf_puts(out, num);
    break;
  case JSON_REAL:
    cairn__real_text(json_real_value(v), num, sizeof num);
    cairn_buf_puts(out, num);
    break;
  case JSON_TRUE:
    cairn_buf_puts(out, "true");
    break;
  case JSON_FALSE:
    cairn_buf_puts(out, "false");
    break;
  default:
    cairn_buf_puts(out, "null");
  }
}

void cairn__xv_json_text(struct cairn__fctx *cx, struct cairn_xv *v)
{
  int flat = 0;
  if (v->type != CAIRN_V_JSON || v->s)
    return;
  cx->tmp.len = 0;
  cairn__json_encode(&cx->tmp, v->j, &flat);
  v->s = cairn__scratch_dup(cx->scratch, cx->tmp.data, cx->tmp.len);
  v->n = cx->tmp.len;
  v->flags = flat ? CAIRN__XV_FLAT : 0;
}

/* ---- source references ------------------------------------------------ */

int cairn__src_check(const char *ref, char *msg, size_t msg_size)
{
  if (!ref[0]) {
    snprintf(msg, msg_size, "empty source reference");
    return -1;
  }
  if (ref[0] == '$') {
    if (strcmp(ref, "$position") == 0 || strcmp(ref, "$item") == 0)
      return 0;
    snprintf(msg, msg_size, "unknown source \"%s\" (have: $item, $position)",
             ref);
    return -1;
  }
  if (ref[0] == '/') {
    for (const char *p = ref; *p; p++)
      if (*p == '~' && p[1] != '0' && p[1] != '1') {
        snprintf(msg, msg_size, "invalid JSON pointer \"%s\" (~ must be "
                 "followed by 0 or 1)", ref);
        return -1;
      }
  }
  return 0;
}

size_t cairn__src_intern(struct cairn__srcs *t, const char *ref)
{
  struct cairn__src *s;
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->v[i].ref, ref) == 0)
      return i;
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 16;
    t->v = cairn_xrealloc(t->v, t->cap * sizeof *t->v);
  }
  s = &t->v[t->n];
  s->ref = cairn_xstrdup(ref);
  s->col = -1;
  if (ref[0] == '/')
    s->kind = CAIRN__SRC_PTR;
  else if (strcmp(ref, "$position") == 0)
    s->kind = CAIRN__SRC_POSITION;
  else if (strcmp(ref, "$item") == 0)
    s->kind = CAIRN__SRC_ITEM;
  else
    s->kind = CAIRN__SRC_NAME;
  return t->n++;
}

size_t cairn__srcs_bind(struct cairn__srcs *t, const struct cairn_header *h)
{
  size_t missing = 0;
  for (size_t i = 0; i < t->n; i++) {
    struct cairn__src *s = &t->v[i];
    if (s->kind != CAIRN__SRC_NAME)
      continue;
    s->col = -1;
    for (size_t c = 0; c < h->n_cols; c++)
      if (h->names[c] && strcasecmp(h->names[c], s->ref) == 0) {
        s->col = (long)c;
        break;
      }
    if (s->col < 0)
      missing++;
  }
  t->bound = 1;
  t->header_id = h->id;
  t->header = h;
  return missing;
}

void cairn__srcs_free(struct cairn__srcs *t)
{
  for (size_t i = 0; i < t->n; i++)
    free(t->v[i].ref);
  free(t->v);
  memset(t, 0, sizeof *t);
}

/* ---- apply context ---------------------------------------------------- */

void cairn__fctx_init(struct cairn__fctx *cx, struct cairn__scratch *s)
{
  memset(cx, 0, sizeof *cx);
  cx->scratch = s;
  cx->empty_is_null = 1;
}

void cairn__fctx_free(struct cairn__fctx *cx)
{
  cairn_buf_free(&cx->tmp);
}

static void xv_from_json(struct cairn__fctx *cx, const json_t *j,
                         struct cairn_xv *out)
{
  char num[40];
  memset(out, 0, sizeof *out);
  if (!j)
    return;
  switch (json_typeof(j)) {
  case JSON_STRING:
    out->n = json_string_length(j);
    if (out->n || !cx->empty_is_null) {
      out->type = CAIRN_V_STR;
      out->s = json_string_value(j);
    }
    break;
  case JSON_INTEGER:
    out->type = CAIRN_V_INT;
    out->i = json_integer_value(j);
    break;
  case JSON_REAL:
    cairn__real_text(json_real_value(j), num, sizeof num);
    out->type = CAIRN_V_NUM;
    out->n = strlen(num);
    out->s = cairn__scratch_dup(cx->scratch, num, out->n);
    break;
  case JSON_TRUE:
  case JSON_FALSE:
    out->type = CAIRN_V_BOOL;
    out->i = json_is_true(j);
    break;
  case JSON_OBJECT:
  case JSON_ARRAY:
    out->type = CAIRN_V_JSON;
    out->j = j;
    break;
  default:
    break;
  }
}

int cairn__src_get(struct cairn__fctx *cx, size_t i, struct cairn_xv *out)
{
  const struct cairn__src *s = &cx->srcs->v[i];
  const struct cairn_record *rec = cx->rec;

  memset(out, 0, sizeof *out);
  switch (s->kind) {
  case CAIRN__SRC_POSITION:
    if (rec->position) {
      out->type = CAIRN_V_STR;
      out->s = rec->position;
      out->n = strlen(rec->position);
    }
    return 0;
  case CAIRN__SRC_ITEM:
    xv_from_json(cx, cx->item, out);
    return 0;
  case CAIRN__SRC_PTR:
    if (!rec->json)
      return cairn__why(cx, "\"%s\" is a JSON pointer but the record is CSV",
                        s->ref);
    xv_from_json(cx, cairn_json_pointer_get(rec->json, s->ref), out);
    return 0;
  default:
    break;
  }
  if (rec->header) {
    size_t c;
    if (s->col < 0)
      return cairn__why(cx, "column \"%s\" is not in the header", s->ref);
    c = (size_t)s->col;
    if (c >= rec->n_cols)
      return 0;
    out->n = rec->col_lens ? rec->col_lens[c] : strlen(rec->cols[c]);
    if (out->n || !cx->empty_is_null) {
      out->type = CAIRN_V_STR;
      out->s = rec->cols[c];
    }
    return 0;
  }
  if (rec->json && json_is_object(rec->json))
    xv_from_json(cx, json_object_get(rec->json, s->ref), out);
  return 0;
}

/* ---- text helpers ----------------------------------------------------- */

static int is_space(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
         c == '\f';
}

static void trim_slice(const char **s, size_t *n)
{
  const char *p = *s;
  size_t len = *n;
  while (len && is_space(*p)) {
    p++;
    len--;
  }
  while (len && is_space(p[len - 1]))
    len--;
  *s = p;
  *n = len;
}

static int is_digit(char c)
{
  return c >= '0' && c <= '9';
}

/* Text form of a scalar (NUM, INT, BOOL, STR). JSON values are encoded. */
static void xv_text(struct cairn__fctx *cx, struct cairn_xv *v,
                    const char **s, size_t *n)
{
  char num[32];
  switch (v->type) {
  case CAIRN_V_INT:
    snprintf(num, sizeof num, "%" PRId64, v->i);
    *n = strlen(num);
    *s = cairn__scratch_dup(cx->scratch, num, *n);
    return;
  case CAIRN_V_BOOL:
    *s = v->i ? "true" : "false";
    *n = v->i ? 4 : 5;
    return;
  case CAIRN_V_JSON:
    cairn__xv_json_text(cx, v);
    break;
  default:
    break;
  }
  *s = v->s ? v->s : "";
  *n = v->s ? v->n : 0;
}

static void set_str(struct cairn_xv *v, const char *s, size_t n)
{
  memset(v, 0, sizeof *v);
  v->type = CAIRN_V_STR;
  v->s = s;
  v->n = n;
}

/* ---- conversions ------------------------------------------------------ */

int cairn__to_string(struct cairn__fctx *cx, struct cairn_xv *v)
{
  const char *s;
  size_t n;
  switch (v->type) {
  case CAIRN_V_NULL:
  case CAIRN_V_STR:
    return 0;
  case CAIRN_V_JSON:
    return why_xv(cx, v, "is not a string");
  default:
    xv_text(cx, v, &s, &n);
    set_str(v, s, n);
    return 0;
  }
}

/* Number text in a forgiving grammar (leading '+', '.5', '5.', leading
 * zeros), rewritten minimally into the JSON grammar. Digits are never
 * changed, so the decimal stays exact. */
static int normalise_number(struct cairn__fctx *cx, const char *s, size_t n,
                            const char **out, size_t *out_n)
{
  size_t i = 0, ib, ie, fb, fe, eb = 0;
  int neg = 0;
  char *d, *p;

  if (i < n && (s[i] == '+' || s[i] == '-'))
    neg = s[i++] == '-';
  ib = i;
  while (i < n && is_digit(s[i]))
    i++;
  ie = i;
  fb = fe = i;
  if (i < n && s[i] == '.') {
    fb = ++i;
    while (i < n && is_digit(s[i]))
      i++;
    fe = i;
  }
  if (ie == ib && fe == fb)
    return -1;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    eb = i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      i++;
    if (i == n || !is_digit(s[i]))
      return -1;
    while (i < n && is_digit(s[i]))
      i++;
  }
  if (i != n)
    return -1;
  while (ib + 1 < ie && s[ib] == '0')
    ib++; /* leading zeros */
  d = p = cairn__scratch_alloc(cx->scratch, n + 3);
  if (neg)
    *p++ = '-';
  if (ie == ib) {
    *p++ = '0';
  } else {
    memcpy(p, s + ib, ie - ib);
    p += ie - ib;
  }
  if (fe > fb) {
    *p++ = '.';
    memcpy(p, s + fb, fe - fb);
    p += fe - fb;
  }
  if (eb) {
    memcpy(p, s + eb, n - eb);
    p += n - eb;
  }
  *p = '\0';
  *out = d;
  *out_n = (size_t)(p - d);
  return cairn_json_is_number(d, *out_n) ? 0 : -1;
}

int cairn__to_number(struct cairn__fctx *cx, struct cairn_xv *v)
{
  const char *s;
  size_t n;
  switch (v->type) {
  case CAIRN_V_NULL:
  case CAIRN_V_NUM:
    return 0;
  case CAIRN_V_INT:
    xv_text(cx, v, &s, &n);
    break;
  case CAIRN_V_STR:
    s = v->s;
    n = v->n;
    trim_slice(&s, &n);
    if (!n) {
      memset(v, 0, sizeof *v);
      return 0;
    }
    if (!cairn_json_is_number(s, n) &&
        normalise_number(cx, s, n, &s, &n) < 0)
      return cairn__why_value(cx, v->s, v->n, "is not a number");
    break;
  default:
    return why_xv(cx, v, "is not a number");
  }
  memset(v, 0, sizeof *v);
  v->type = CAIRN_V_NUM;
  v->s = s;
  v->n = n;
  return 0;
}

int cairn__to_integer(struct cairn__fctx *cx, struct cairn_xv *v)
{
  const char *s;
  size_t n, i = 0;
  int neg = 0;
  uint64_t acc = 0, lim;

  switch (v->type) {
  case CAIRN_V_NULL:
  case CAIRN_V_INT:
    return 0;
  case CAIRN_V_STR:
  case CAIRN_V_NUM:
    break;
  default:
    return why_xv(cx, v, "is not an integer");
  }
  s = v->s;
  n = v->n;
  trim_slice(&s, &n);
  if (!n) {
    memset(v, 0, sizeof *v);
    return 0;
  }
  if (s[0] == '+' || s[0] == '-')
    neg = s[i++] == '-';
  if (i == n || !is_digit(s[i]))
    goto bad;
  lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; i < n && is_digit(s[i]); i++) {
    unsigned d = (unsigned)(s[i] - '0');
    if (acc > (lim - d) / 10)
      goto bad;
    acc = acc * 10 + d;
  }
  if (i < n && s[i] == '.') { /* "3.0" and "3." are integers, "3.5" not */
    for (i++; i < n && s[i] == '0'; i++)
      ;
  }
  if (i != n)
    goto bad;
  memset(v, 0, sizeof *v);
  v->type = CAIRN_V_INT;
  v->i = neg ? (int64_t)(0 - acc) : (int64_t)acc;
  return 0;
bad:
  return cairn__why_value(cx, v->s, v->n, "is not an integer");
}

int cairn__to_bool(struct cairn__fctx *cx, struct cairn_xv *v)
{
  static const struct { const char *t; int v; } words[] = {
    { "true", 1 }, { "false", 0 }, { "1", 1 }, { "0", 0 },
    { "yes", 1 }, { "no", 0 },
  };
  const char *s;
  size_t n;

  switch (v->type) {
  case CAIRN_V_NULL:
  case CAIRN_V_BOOL:
    return 0;
  case CAIRN_V_INT:
    if (v->i != 0 && v->i != 1)
      return why_xv(cx, v, "is not a boolean");
    v->type = CAIRN_V_BOOL;
    return 0;
  case CAIRN_V_STR:
  case CAIRN_V_NUM:
    break;
  default:
    return why_xv(cx, v, "is not a boolean");
  }
  s = v->s;
  n = v->n;
  trim_slice(&s, &n);
  if (!n) {
    memset(v, 0, sizeof *v);
    return 0;
  }
  for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
    if (strlen(words[k].t) == n && strncasecmp(words[k].t, s, n) == 0) {
      memset(v, 0, sizeof *v);
      v->type = CAIRN_V_BOOL;
      v->i = words[k].v;
      return 0;
    }
  return cairn__why_value(cx, v->s, v->n, "is not a boolean");
}

/* ---- date-times ------------------------------------------------------- */

static int valid_date(int y, int m, int d)
{
  static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                               31 };
  if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
    return 0;
  if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
    return 0;
  return 1;
}

/* Read 1..max digits; returns the count read (0: none). */
static size_t read_int(const char *s, size_t n, size_t max, int *out)
{
  size_t i = 0;
  int v = 0;
  while (i < n && i < max && is_digit(s[i]))
    v = v * 10 + (s[i++] - '0');
  *out = v;
  return i;
}

static int64_t epoch_of(int y, int m, int d, int hh, int mi, int ss)
{
  return cairn_days_from_civil(y, (unsigned)m, (unsigned)d) * 86400 +
         hh * 3600 + mi * 60 + ss;
}

/* "HH:mm[:ss]" (24-hour); returns 0 on success. */
static int parse_hms(const char *s, size_t n, int *hh, int *mi, int *ss)
{
  size_t i = 0, k;
  *ss = 0;
  k = read_int(s, n, 2, hh);
  if (k == 0)
    return -1;
  i += k;
  if (i >= n || s[i++] != ':' || read_int(s + i, n - i, 2, mi) != 2)
    return -1;
  i += 2;
  if (i < n && s[i] == ':') {
    i++;
    if (read_int(s + i, n - i, 2, ss) != 2)
      return -1;
    i += 2;
  }
  if (i != n || *hh > 23 || *mi > 59 || *ss > 60)
    return -1;
  if (*ss == 60) { /* a leap second ends a UTC day: clamped, as epochs */
    if (*hh != 23 || *mi != 59)
      return -1;
    *ss = 59;
  }
  return 0;
}

static int utc_rfc3339(const char *s, size_t n, int64_t *t)
{
  char buf[64];
  if (n >= sizeof buf)
    return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return cairn_clock_parse(buf, t);
}

/* M/d/yyyy, optionally followed by " HH:mm[:ss]". */
static int utc_us_date(const char *s, size_t n, int64_t *t)
{
  int m, d, y, hh = 0, mi = 0, ss = 0;
  size_t i = 0, k;
  k = read_int(s, n, 2, &m);
  if (k == 0 || k >= n || s[k] != '/')
    return -1;
  i = k + 1;
  k = read_int(s + i, n - i, 2, &d);
  if (k == 0)
    return -1;
  i += k;
  if (i >= n || s[i++] != '/' || read_int(s + i, n - i, 4, &y) != 4)
    return -1;
  i += 4;
  if (i < n) {
    if (s[i] != ' ' || parse_hms(s + i + 1, n - i - 1, &hh, &mi, &ss) < 0)
      return -1;
  }
  if (!valid_date(y, m, d))
    return -1;
  *t = epoch_of(y, m, d, hh, mi, ss);
  return 0;
}

static int utc_ymd(const char *s, size_t n, int64_t *t)
{
  int y, m, d;
  if (n != 8 || read_int(s, 4, 4, &y) != 4 || read_int(s + 4, 2, 2, &m) != 2 ||
      read_int(s + 6, 2, 2, &d) != 2 || !valid_date(y, m, d))
    return -1;
  *t = epoch_of(y, m, d, 0, 0, 0);
  return 0;
}

/* Integer seconds (or ms with div 1000), an optional fraction dropped. */
static int utc_epoch(const char *s, size_t n, int64_t div, int64_t *t)
{
  size_t i = 0;
  int neg = 0;
  int64_t v = 0;
  if (i < n && (s[i] == '-' || s[i] == '+'))
    neg = s[i++] == '-';
  if (i == n || !is_digit(s[i]))
    return -1;
  for (; i < n && is_digit(s[i]); i++) {
    if (v > 100000000000000LL)
      return -1; /* far beyond year 9999 even in ms */
    v = v * 10 + (s[i] - '0');
  }
  if (i < n && s[i] == '.') {
    size_t f = ++i;
    int nonzero = 0;
    while (i < n && is_digit(s[i]))
      nonzero |= s[i++] != '0';
    if (i == f)
      return -1;
    if (neg && nonzero)
      v += 1; /* -1.5 floors to -2 */
  }
  if (i != n)
    return -1;
  if (neg)
    v = -v;
  /* floor division */
  *t = v >= 0 ? v / div : -((-v + div - 1) / div);
  return 0;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (the HTTP Date header). */
static int utc_http(const char *s, size_t n, int64_t *t)
{
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  int d, y, m = 0, hh, mi, ss;
  size_t i = 0;
  while (i < n && s[i] != ',')
    i++;
  if (i + 2 >= n || s[i + 1] != ' ')
    return -1;
  i += 2;
  if (read_int(s + i, n - i, 2, &d) != 2 || i + 2 >= n || s[i + 2] != ' ')
    return -1;
  i += 3;
  if (i + 4 > n)
    return -1;
  for (int k = 0; k < 12; k++)
    if (strncmp(months + 3 * k, s + i, 3) == 0)
      m = k + 1;
  if (!m || s[i + 3] != ' ')
    return -1;
  i += 4;
  if (read_int(s + i, n - i, 4, &y) != 4 || i + 4 >= n || s[i + 4] != ' ')
    return -1;
  i += 5;
  if (n < i + 12 || memcmp(s + n - 4, " GMT", 4) != 0 ||
      parse_hms(s + i, n - i - 4, &hh, &mi, &ss) < 0 || !valid_date(y, m, d))
    return -1;
  *t = epoch_of(y, m, d, hh, mi, ss);
  return 0;
}

/* "YYYY-MM-DDTHH:MM:SSZ" for years 1..9999, like cairn_clock_fmt but
 * without printf (this runs for every date of every row). */
static void fmt_utc(int64_t t, char out[21])
{
  int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
  int secs = (int)(t - days * 86400), y;
  unsigned m, d;
  int parts[5];

  cairn_civil_from_days(days, &y, &m, &d);
  out[0] = (char)('0' + y / 1000);
  out[1] = (char)('0' + y / 100 % 10);
  out[2] = (char)('0' + y / 10 % 10);
  out[3] = (char)('0' + y % 10);
  parts[0] = (int)m;
  parts[1] = (int)d;
  parts[2] = secs / 3600;
  parts[3] = secs / 60 % 60;
  parts[4] = secs % 60;
  for (int i = 0; i < 5; i++) {
    out[5 + 3 * i] = (char)('0' + parts[i] / 10);
    out[6 + 3 * i] = (char)('0' + parts[i] % 10);
  }
  out[4] = out[7] = '-';
  out[10] = 'T';
  out[13] = out[16] = ':';
  out[19] = 'Z';
  out[20] = '\0';
}

static int utc_auto(const char *s, size_t n, int64_t *t)
{
  size_t i = 0;
  int ymd;
  if (n >= 10 && s[4] == '-')
    return utc_rfc3339(s, n, t);
  if (memchr(s, '/', n))
    return utc_us_date(s, n, t);
  if (memchr(s, ',', n))
    return utc_http(s, n, t);
  if (n && (s[0] == '-' || s[0] == '+'))
    i++;
  if (i == n)
    return -1;
  /* Eight digits are yyyyMMdd (Cost Management's UsageDate), and must
   * form a valid date: "20230229" read as seconds loaded 1970-08-23 in
   * place of a reject. Any other integer is epoch seconds ({"utc":
   * "epoch"} reads eight digits as seconds too). */
  if (n == 8 && i == 0 && read_int(s, n, 8, &ymd) == 8)
    return utc_ymd(s, n, t);
  return utc_epoch(s, n, 1, t);
}

/* 1 when s[0..20) is already the canonical "YYYY-MM-DDTHH:MM:SSZ" of a
 * valid instant in years 0001..9999 (seconds 00..59): parsing and
 * printing it would give back the same 20 bytes. Exports carry their
 * dates this way, so most values skip the parse and the print. */
static int utc_canonical(const char *s)
{
  static const unsigned char shape[20] = "dddd-dd-ddTdd:dd:ddZ";
  int y, mo, d;
  for (int i = 0; i < 20; i++) {
    if (shape[i] == 'd') {
      if (!is_digit(s[i]))
        return 0;
    } else if ((unsigned char)s[i] != shape[i]) {
      return 0;
    }
  }
  y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
      (s[3] - '0');
  mo = (s[5] - '0') * 10 + (s[6] - '0');
  d = (s[8] - '0') * 10 + (s[9] - '0');
  return valid_date(y, mo, d) && (s[11] - '0') * 10 + (s[12] - '0') <= 23 &&
         s[14] <= '5' && s[17] <= '5';
}

int cairn__to_utc(struct cairn__fctx *cx, struct cairn_xv *v, int fmt)
{
  const char *s;
  size_t n;
  int64_t t = 0;
  int rc;
  char *out;

  switch (v->type) {
  case CAIRN_V_NULL:
    return 0;
  case CAIRN_V_STR:
    if ((v->flags & CAIRN__XV_UTC) && fmt == CAIRN__UTC_AUTO)
      return 0;
    /* fall through */
  case CAIRN_V_NUM:
  case CAIRN_V_INT:
    xv_text(cx, v, &s, &n);
    break;
  default:
    return why_xv(cx, v, "is not a date-time");
  }
  trim_slice(&s, &n);
  if (!n) {
    memset(v, 0, sizeof *v);
    return 0;
  }
  if (n == 20 && (fmt == CAIRN__UTC_AUTO || fmt == CAIRN__UTC_RFC3339) &&
      utc_canonical(s)) {
    set_str(v, s, 20);
    v->flags = CAIRN__XV_UTC;
    return 0;
  }
  switch (fmt) {
  case CAIRN__UTC_RFC3339: rc = utc_rfc3339(s, n, &t); break;
  case CAIRN__UTC_US_DATE: rc = utc_us_date(s, n, &t); break;
  case CAIRN__UTC_YMD: rc = utc_ymd(s, n, &t); break;
  case CAIRN__UTC_EPOCH: rc = utc_epoch(s, n, 1, &t); break;
  case CAIRN__UTC_EPOCH_MS: rc = utc_epoch(s, n, 1000, &t); break;
  case CAIRN__UTC_HTTP: rc = utc_http(s, n, &t); break;
  default: rc = utc_auto(s, n, &t); break;
  }
  /* Years 0001..9999 only: the output has four year digits. */
  if (rc < 0 || t < -62135596800LL || t > 253402300799LL)
    return cairn__why_value(cx, s, n, "is not a date-time");
  out = cairn__scratch_alloc(cx->scratch, 24);
  fmt_utc(t, out);
  set_str(v, out, 20);
  v->flags = CAIRN__XV_UTC;
  return 0;
}

/* ---- JSON objects and arrays ----------------------------------------- */

static int to_json_kind(struct cairn__fctx *cx, struct cairn_xv *v,
                        int want_object)
{
  const char *what = want_object ? "is not a JSON object"
                                 : "is not a JSON array";
  switch (v->type) {
  case CAIRN_V_NULL:
    return 0;
  case CAIRN_V_JSON:
    cairn__xv_json_text(cx, v);
    if ((v->s[0] == '{') != want_object)
      return why_xv(cx, v, want_object ? "is not an object"
                                       : "is not an array");
    return 0;
  case CAIRN_V_STR: {
    const char *s = v->s;
    size_t n = v->n;
    json_t *j;
    struct cairn_xv tmp;
    trim_slice(&s, &n);
    if (!n) {
      memset(v, 0, sizeof *v);
      return 0;
    }
    j = json_loadb(s, n, JSON_DECODE_ANY, NULL);
    if (!j || (want_object ? !json_is_object(j) : !json_is_array(j))) {
      json_decref(j);
      return cairn__why_value(cx, v->s, v->n, what);
    }
    memset(&tmp, 0, sizeof tmp);
    tmp.type = CAIRN_V_JSON;
    tmp.j = j;
    cairn__xv_json_text(cx, &tmp);
    json_decref(j);
    tmp.j = NULL;
    *v = tmp;
    return 0;
  }
  default:
    return why_xv(cx, v, what);
  }
}

int cairn__to_object(struct cairn__fctx *cx, struct cairn_xv *v)
{
  return to_json_kind(cx, v, 1);
}

int cairn__to_array(struct cairn__fctx *cx, struct cairn_xv *v)
{
  return to_json_kind(cx, v, 0);
}

/* ---- tags ------------------------------------------------------------- */

/* Parsing a flat JSON object by hand keeps tag numbers exact (jansson would
 * read them as doubles), accepts the brace-less form of EA exports
 * ("k": "v","k2": "v2") and avoids a tree per row. */

struct tag {
  const char *k, *v;    /* decoded key; value (decoded string or literal) */
  size_t      kn, vn;
  int         vstr;     /* value is a string */
  size_t      ord;      /* position, so the last duplicate wins */
};

static int cmp_tag(const void *a, const void *b)
{
  const struct tag *x = a, *y = b;
  size_t n = x->kn < y->kn ? x->kn : y->kn;
  int c = memcmp(x->k, y->k, n);
  if (c)
    return c;
  if (x->kn != y->kn)
    return x->kn < y->kn ? -1 : 1;
  return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* Parse the JSON string at *pp (just past its opening quote). Returns 0
 * and the decoded text (a slice of the input when it has no escapes). */
static int read_jstring(struct cairn__fctx *cx, const char **pp,
                        const char *end, const char **out, size_t *out_n)
{
  const char *p = *pp, *start = p;
  int esc = 0;
  char *d, *o;

  while (p < end) {
    unsigned char c;
#if defined(__SSE2__)
    if (end - p >= 16) {
      unsigned m = json_special(
          _mm_loadu_si128((const __m128i *)(const void *)p));
      if (!m) {
        p += 16;
        continue;
      }
      p += __builtin_ctz(m);
    }
#endif
    c = (unsigned char)*p;
    if (c == '"')
      break;
    if (c < 0x20)
      return -1;
    if (c == '\\') {
      if (end - p < 2)
        return -1;
      esc = 1;
      p += 2;
    } else if (c >= 0x80) {
      size_t k = cairn_utf8_len((const unsigned char *)p,
                          (const unsigned char *)end);
      if (!k)
        return -1;
      p += k;
    } else {
      p++;
    }
  }
  if (p >= end)
    return -1;
  if (!esc) {
    *pp = p + 1;
    *out = start;
    *out_n = (size_t)(p - start);
    return 0;
  }
  d = o = cairn__scratch_alloc(cx->scratch, (size_t)(p - start) + 1);
  for (const char *q = start; q < p;) {
    size_t k, un;
    if (*q != '\\') {
      *o++ = *q++;
      continue;
    }
    q++;
    switch (*q++) {
    case '"': *o++ = '"'; continue;
    case '\\': *o++ = '\\'; continue;
    case '/': *o++ = '/'; continue;
    case 'b': *o++ = '\b'; continue;
    case 'f': *o++ = '\f'; continue;
    case 'n': *o++ = '\n'; continue;
    case 'r': *o++ = '\r'; continue;
    case 't': *o++ = '\t'; continue;
    case 'u': break;
    default: return -1;
    }
    k = cairn_json_unescape_u(q, p, o, &un);
    if (!k)
      return -1; /* bad hex, a lone surrogate, or NUL (no C string holds it) */
    q += k;
    o += un;
  }
  *o = '\0';
  *pp = p + 1;
  *out = d;
  *out_n = (size_t)(o - d);
  return 0;
}

static const char *skip_ws(const char *p, const char *end)
{
  while (p < end && is_space(*p))
    p++;
  return p;
}

static int tags_fail(struct cairn__fctx *cx, const struct cairn_xv *v,
                     const char *p, const char *what)
{
  char q[128];
  if (cx->redact)
    return cairn__why(cx, "value is not a tag object (%s at byte %zu)", what,
                      (size_t)(p - v->s));
  quote_into(q, sizeof q, v->s, v->n);
  return cairn__why(cx, "%s is not a tag object (%s at byte %zu)", q, what,
                    (size_t)(p - v->s));
}

static int tags_from_text(struct cairn__fctx *cx, struct cairn_xv *v)
{
  const char *p = v->s, *end = v->s + v->n;
  size_t cap = 1, n = 0;
  struct tag *tags;
  int braced;

  p = skip_ws(p, end);
  if (p == end)
    goto empty;
  braced = *p == '{';
  if (braced)
    p = skip_ws(p + 1, end);
  {
    const char *q = p;
#if defined(__SSE2__)
    /* Counted bit by bit: without -mpopcnt, __builtin_popcount is a
     * libgcc call, and a tag list has few colons per 16 bytes. */
    for (; end - q >= 16; q += 16) {
      unsigned m = (unsigned)_mm_movemask_epi8(
          _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)q),
                         _mm_set1_epi8(':')));
      for (; m; m &= m - 1)
        cap++;
    }
#endif
    for (; q < end; q++)
      cap += *q == ':';
  }
  tags = (struct tag *)cairn__scratch_alloc(cx->scratch, cap * sizeof *tags);
  if (braced && p < end && *p == '}') {
    p++;
    goto done;
  }
  if (!braced && p == end)
    goto empty;
  for (;;) {
    struct tag *t = &tags[n];
    if (p >= end || *p != '"')
      return tags_fail(cx, v, p, "expected a quoted key");
    p++;
    if (read_jstring(cx, &p, end, &t->k, &t->kn) < 0)
      return tags_fail(cx, v, p, "bad key string");
    p = skip_ws(p, end);
    if (p >= end || *p != ':')
      return tags_fail(cx, v, p, "expected ':'");
    p = skip_ws(p + 1, end);
    if (p >= end)
      return tags_fail(cx, v, p, "expected a value");
    t->vstr = 0;
    if (*p == '"') {
      p++;
      t->vstr = 1;
      if (read_jstring(cx, &p, end, &t->v, &t->vn) < 0)
        return tags_fail(cx, v, p, "bad string");
    } else if (*p == '{' || *p == '[') {
      return tags_fail(cx, v, p, "nested value");
    } else {
      const char *b = p;
      while (p < end && *p != ',' && *p != '}' && !is_space(*p))
        p++;
      t->v = b;
      t->vn = (size_t)(p - b);
      if (!(t->vn == 4 && memcmp(b, "true", 4) == 0) &&
          !(t->vn == 5 && memcmp(b, "false", 5) == 0) &&
          !(t->vn == 4 && memcmp(b, "null", 4) == 0) &&
          !cairn_json_is_number(b, t->vn))
        return tags_fail(cx, v, b, "bad value");
    }
    t->ord = n++;
    p = skip_ws(p, end);
    if (p < end && *p == ',') {
      p = skip_ws(p + 1, end);
      if (n == cap)
        return tags_fail(cx, v, p, "too many members");
      continue;
    }
    if (braced) {
      if (p >= end || *p != '}')
        return tags_fail(cx, v, p, "expected ',' or '}'");
      p++;
    }
    break;
  }
done:
  p = skip_ws(p, end);
  if (p != end)
    return tags_fail(cx, v, p, "trailing text");
  /* Insertion sort: a row has a handful of tags, and qsort's indirect
   * calls (and merge buffer) cost more than the sorting. Keys compare by
   * bytes, then by position, so the order is total and stable. */
  for (size_t i = 1; i < n; i++) {
    struct tag t = tags[i];
    size_t j = i;
    while (j > 0 && cmp_tag(&tags[j - 1], &t) > 0) {
      tags[j] = tags[j - 1];
      j--;
    }
    tags[j] = t;
  }
  /* Encoded straight into the scratch, sized for the worst case. */
  {
    size_t need = 2;
    char *d, *o;
    for (size_t i = 0; i < n; i++)
      need += (tags[i].kn + tags[i].vn) * 6 + 6;
    d = o = cairn__scratch_alloc(cx->scratch, need + 1);
    *o++ = '{';
    for (size_t i = 0, w = 0; i < n; i++) {
      /* equal keys sort by position: keep only the last one */
      if (i + 1 < n && tags[i].kn == tags[i + 1].kn &&
          memcmp(tags[i].k, tags[i + 1].k, tags[i].kn) == 0)
        continue;
      if (w++)
        *o++ = ',';
      o = enc_string_to(o, tags[i].k, tags[i].kn);
      *o++ = ':';
      if (tags[i].vstr) {
        o = enc_string_to(o, tags[i].v, tags[i].vn);
      } else {
        memcpy(o, tags[i].v, tags[i].vn);
        o += tags[i].vn;
      }
    }
    *o++ = '}';
    *o = '\0';
    memset(v, 0, sizeof *v);
    v->type = CAIRN_V_JSON;
    v->s = d;
    v->n = (size_t)(o - d);
  }
  v->flags = CAIRN__XV_FLAT;
  return 0;
empty:
  memset(v, 0, sizeof *v);
  v->type = CAIRN_V_JSON;
  v->s = "{}";
  v->n = 2;
  v->flags = CAIRN__XV_FLAT;
  return 0;
}

static int fn_tags(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                   struct cairn_xv *v)
{
  (void)c;
  switch (v->type) {
  case CAIRN_V_NULL:
    set_str(v, "{}", 2);
    v->type = CAIRN_V_JSON;
    v->flags = CAIRN__XV_FLAT;
    return 0;
  case CAIRN_V_STR:
    return tags_from_text(cx, v);
  case CAIRN_V_JSON:
    cairn__xv_json_text(cx, v);
    if (v->s[0] != '{')
      return why_xv(cx, v, "is not a tag object");
    if (!(v->flags & CAIRN__XV_FLAT))
      return cairn__why(cx, "tag values must be strings, numbers, booleans "
                        "or null, not objects or arrays");
    return 0;
  default:
    return why_xv(cx, v, "is not a tag object");
  }
}

/* ---- function implementations ---------------------------------------- */

/* Compile-time error reporting shared by every fn_*_compile. */
struct cc {
  char  *msg;
  size_t msg_size;
  char  *ptr;
  size_t ptr_size;
  const char *name;      /* the function being compiled */
  struct cairn__srcs *srcs;
};

static int bad(struct cc *cc, const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct cc *cc, const char *sub, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cc->msg, cc->msg_size, fmt, ap);
  va_end(ap);
  snprintf(cc->ptr, cc->ptr_size, "%s", sub ? sub : "");
  return -1;
}

static int no_arg(struct cc *cc, const json_t *arg)
{
  if (!arg || json_is_true(arg) || json_is_null(arg) ||
      (json_is_object(arg) && json_object_size(arg) == 0))
    return 0;
  char sub[64];
  snprintf(sub, sizeof sub, "/%s", cc->name);
  return bad(cc, sub, "function \"%s\" takes no argument", cc->name);
}

static int need_string(struct cc *cc, const json_t *arg, const char *sub,
                       int allow_empty)
{
  if (!json_is_string(arg))
    return bad(cc, sub, "function \"%s\" needs a string here", cc->name);
  if (!allow_empty && json_string_length(arg) == 0)
    return bad(cc, sub, "function \"%s\" needs a non-empty string here",
               cc->name);
  return 0;
}

static int intern_ref(struct cc *cc, const char *ref, const char *sub,
                      size_t *out)
{
  char msg[256];
  if (cairn__src_check(ref, msg, sizeof msg) < 0)
    return bad(cc, sub, "%s", msg);
  *out = cairn__src_intern(cc->srcs, ref);
  return 0;
}

/* A constant (const, default, lookup default) as a ready value. Text is
 * kept in the call (str) or in the jansson value (arg), both owned. */
static int const_value(struct cc *cc, struct cairn__fn_call *c,
                       const json_t *j, const char *sub)
{
  char num[40];
  struct cairn_buf b = {0};
  int flat = 0;

  memset(&c->cval, 0, sizeof c->cval);
  c->has_cval = 1;
  switch (json_typeof(j)) {
  case JSON_STRING:
    /* A copy: 'j' may belong to the job document, not to the call. */
    c->str_len = json_string_length(j);
    c->str = cairn_xmalloc(c->str_len + 1);
    memcpy(c->str, json_string_value(j), c->str_len + 1);
    c->cval.type = CAIRN_V_STR;
    c->cval.s = c->str;
    c->cval.n = c->str_len;
    break;
  case JSON_INTEGER:
    c->cval.type = CAIRN_V_INT;
    c->cval.i = json_integer_value(j);
    break;
  case JSON_REAL:
    cairn__real_text(json_real_value(j), num, sizeof num);
    c->str = cairn_xstrdup(num);
    c->str_len = strlen(num);
    c->cval.type = CAIRN_V_NUM;
    c->cval.s = c->str;
    c->cval.n = c->str_len;
    break;
  case JSON_TRUE:
  case JSON_FALSE:
    c->cval.type = CAIRN_V_BOOL;
    c->cval.i = json_is_true(j);
    break;
  case JSON_NULL:
    break;
  default:
    if (strcmp(cc->name, "lookup") == 0)
      return bad(cc, sub, "function \"%s\" needs a string, number, boolean "
                 "or null", cc->name);
    cairn__json_encode(&b, j, &flat);
    c->str = cairn_buf_take(&b);
    c->str_len = strlen(c->str);
    c->cval.type = CAIRN_V_JSON;
    c->cval.s = c->str;
    c->cval.n = c->str_len;
    c->cval.flags = flat ? CAIRN__XV_FLAT : 0;
  }
  return 0;
}

/* lower, upper ---------------------------------------------------------- */

static int text_input(struct cairn__fctx *cx, struct cairn_xv *v)
{
  if (v->type == CAIRN_V_JSON)
    return why_xv(cx, v, "is not text");
  return cairn__to_string(cx, v);
}

/* ASCII case mapping, 16 bytes at a time where SSE2 exists (every
 * x86-64): 'lo' is 'A' (lower-casing) or 'a' (upper-casing). */
#if defined(__SSE2__)
/* Bytes of b in [lo, lo + 25] as a 0xFF mask (unsigned range check done
 * as a signed compare after a bias). */
static inline __m128i case_mask(__m128i b, char lo)
{
  return _mm_cmplt_epi8(_mm_add_epi8(b, _mm_set1_epi8((char)(0x80 - lo))),
                        _mm_set1_epi8((char)(0x80 + 26)));
}
#endif

/* Index of the first byte of s[0..n) in [lo, lo + 25], or n. */
static size_t case_find(const char *s, size_t n, char lo)
{
  size_t i = 0;
#if defined(__SSE2__)
  for (; i + 16 <= n; i += 16) {
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
    unsigned m = (unsigned)_mm_movemask_epi8(case_mask(b, lo));
    if (m)
      return i + (unsigned)__builtin_ctz(m);
  }
#endif
  for (; i < n; i++)
    if ((unsigned char)(s[i] - lo) < 26)
      break;
  return i;
}

/* d[i] = s[i] with [lo, lo + 25] flipped by 0x20 (the other case). */
static void case_copy(char *d, const char *s, size_t n, char lo)
{
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i flip = _mm_set1_epi8(0x20);
  for (; i + 16 <= n; i += 16) {
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
    b = _mm_xor_si128(b, _mm_and_si128(case_mask(b, lo), flip));
    _mm_storeu_si128((__m128i *)(void *)(d + i), b);
  }
#endif
  for (; i < n; i++)
    d[i] = (unsigned char)(s[i] - lo) < 26 ? (char)(s[i] ^ 0x20) : s[i];
}

static int change_case(struct cairn__fctx *cx, struct cairn_xv *v, int up)
{
  const char lo = up ? 'a' : 'A';
  size_t i;
  char *d;
  if (v->type == CAIRN_V_NULL)
    return 0;
  if (text_input(cx, v) < 0)
    return -1;
  i = case_find(v->s, v->n, lo);
  if (i == v->n)
    return 0; /* nothing to change: keep the slice */
  d = cairn__scratch_alloc(cx->scratch, v->n + 1);
  memcpy(d, v->s, i);
  case_copy(d + i, v->s + i, v->n - i, lo);
  d[v->n] = '\0';
  v->s = d;
  v->flags = 0;
  return 0;
}

static int fn_lower(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                    struct cairn_xv *v)
{
  (void)c;
  return change_case(cx, v, 0);
}

static int fn_upper(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                    struct cairn_xv *v)
{
  (void)c;
  return change_case(cx, v, 1);
}

static int fn_trim(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                   struct cairn_xv *v)
{
  (void)c;
  if (v->type == CAIRN_V_NULL)
    return 0;
  if (text_input(cx, v) < 0)
    return -1;
  trim_slice(&v->s, &v->n);
  if (!v->n && cx->empty_is_null)
    memset(v, 0, sizeof *v);
  return 0;
}

static int fn_number(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                     struct cairn_xv *v)
{
  (void)c;
  return cairn__to_number(cx, v);
}

static int fn_integer(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                      struct cairn_xv *v)
{
  (void)c;
  return cairn__to_integer(cx, v);
}

static int fn_bool(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                   struct cairn_xv *v)
{
  (void)c;
  return cairn__to_bool(cx, v);
}

/* utc ------------------------------------------------------------------- */

static const struct { const char *name; int fmt; } utc_formats[] = {
  { "auto", CAIRN__UTC_AUTO },
  { "rfc3339", CAIRN__UTC_RFC3339 },
  { "yyyy-MM-dd", CAIRN__UTC_RFC3339 },
  { "yyyy-MM-dd HH:mm:ss", CAIRN__UTC_RFC3339 },
  { "MM/dd/yyyy", CAIRN__UTC_US_DATE },
  { "yyyyMMdd", CAIRN__UTC_YMD },
  { "epoch", CAIRN__UTC_EPOCH },
  { "epoch_ms", CAIRN__UTC_EPOCH_MS },
  { "http", CAIRN__UTC_HTTP },
};

static int fn_utc_compile(struct cc *cc, struct cairn__fn_call *c,
                          const json_t *arg, const json_t *spec)
{
  (void)spec;
  c->opt = CAIRN__UTC_AUTO;
  if (!arg || json_is_null(arg) || json_is_true(arg))
    return 0;
  if (json_is_string(arg))
    for (size_t i = 0; i < sizeof utc_formats / sizeof utc_formats[0]; i++)
      if (strcmp(utc_formats[i].name, json_string_value(arg)) == 0) {
        c->opt = utc_formats[i].fmt;
        return 0;
      }
  return bad(cc, "/utc", "unknown date format for \"utc\" (have: auto, "
             "rfc3339, yyyy-MM-dd, yyyy-MM-dd HH:mm:ss, MM/dd/yyyy, "
             "yyyyMMdd, epoch, epoch_ms, http)");
}

static int fn_utc(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                  struct cairn_xv *v)
{
  return cairn__to_utc(cx, v, c->opt);
}

/* add_days ------------------------------------------------------------- */

/* {"add_days": N}: a date-time N days later (earlier when negative), as
 * canonical UTC; the input is read as "utc" reads it. For an exclusive end
 * from a day's date: ["utc", {"add_days": 1}]. */
static int fn_add_days_compile(struct cc *cc, struct cairn__fn_call *c,
                               const json_t *arg, const json_t *spec)
{
  (void)spec;
  if (!json_is_integer(arg) || json_integer_value(arg) < -3660000 ||
      json_integer_value(arg) > 3660000)
    return bad(cc, arg ? "/add_days" : "", "function \"add_days\" needs a "
               "whole number of days: {\"add_days\": 1}");
  c->opt = (int)json_integer_value(arg);
  return 0;
}

static int fn_add_days(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                       struct cairn_xv *v)
{
  int64_t t;
  char *out;

  if (cairn__to_utc(cx, v, CAIRN__UTC_AUTO) < 0)
    return -1;
  if (v->type == CAIRN_V_NULL)
    return 0;
  if (utc_rfc3339(v->s, v->n, &t) < 0)
    return why_xv(cx, v, "is not a date-time");
  t += (int64_t)c->opt * 86400;
  if (t < -62135596800LL || t > 253402300799LL)
    return why_xv(cx, v, "plus the days is out of the years 1 to 9999");
  out = cairn__scratch_alloc(cx->scratch, 24);
  fmt_utc(t, out);
  set_str(v, out, 20);
  v->flags = CAIRN__XV_UTC;
  return 0;
}

/* default, const -------------------------------------------------------- */

static int fn_const_compile(struct cc *cc, struct cairn__fn_call *c,
                            const json_t *arg, const json_t *spec)
{
  char sub[64];
  (void)spec;
  snprintf(sub, sizeof sub, "/%s", cc->name);
  if (!arg)
    return bad(cc, "", "function \"%s\" needs a value: {\"%s\": ...}",
               cc->name, cc->name);
  if (strcmp(cc->name, "default") == 0 && json_is_null(arg))
    return bad(cc, sub, "a null default does nothing");
  c->arg = json_incref((json_t *)arg);
  return const_value(cc, c, c->arg, sub);
}

static int fn_default(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                      struct cairn_xv *v)
{
  (void)cx;
  if (v->type == CAIRN_V_NULL || (v->type == CAIRN_V_STR && v->n == 0))
    *v = c->cval;
  return 0;
}

static int fn_const(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                    struct cairn_xv *v)
{
  (void)cx;
  *v = c->cval;
  return 0;
}

/* template -------------------------------------------------------------- */

struct cairn__tpl_part {
  char  *lit;    /* literal text (owned), or NULL for a reference */
  size_t len;
  long   src;    /* interned reference, or -1 for "${.}" (the input) */
};

static void tpl_add(struct cairn__fn_call *c, const char *lit, size_t len,
                    long src)
{
  struct cairn__tpl_part *p;
  c->parts = cairn_xrealloc(c->parts, (c->n_parts + 1) * sizeof *c->parts);
  p = &c->parts[c->n_parts++];
  p->lit = lit ? cairn_xstrndup(lit, len) : NULL;
  p->len = len;
  p->src = src;
}

static int fn_template_compile(struct cc *cc, struct cairn__fn_call *c,
                               const json_t *arg, const json_t *spec)
{
  const char *s, *lit;
  struct cairn_buf b = {0};
  int rc = 0;

  (void)spec;
  if (!arg)
    return bad(cc, "", "function \"template\" needs a text: "
               "{\"template\": \"...${name}...\"}");
  if (need_string(cc, arg, "/template", 0) < 0)
    return -1;
  s = json_string_value(arg);
  while (*s) {
    if (s[0] == '$' && s[1] == '$') {
      cairn_buf_putc(&b, '$');
      s += 2;
      continue;
    }
    if (s[0] == '$' && s[1] == '{') {
      const char *end = strchr(s + 2, '}');
      char *ref;
      size_t idx = 0;
      if (!end) {
        rc = bad(cc, "/template", "unterminated \"${\" in template");
        goto done;
      }
      if (b.len) {
        tpl_add(c, b.data, b.len, 0);
        b.len = 0;
      }
      ref = cairn_xstrndup(s + 2, (size_t)(end - s - 2));
      if (strchr(ref, ':') && ref[0] != '/') {
        rc = bad(cc, "/template", "\"${%s}\" was not expanded (job variables "
                 "are expanded before the transform is compiled)", ref);
        free(ref);
        goto done;
      }
      if (strcmp(ref, ".") == 0) {
        tpl_add(c, NULL, 0, -1);
      } else if (intern_ref(cc, ref, "/template", &idx) < 0) {
        free(ref);
        rc = -1;
        goto done;
      } else {
        tpl_add(c, NULL, 0, (long)idx);
      }
      free(ref);
      s = end + 1;
      continue;
    }
    lit = s;
    cairn_buf_putc(&b, *lit);
    s++;
  }
  if (b.len)
    tpl_add(c, b.data, b.len, 0);
done:
  cairn_buf_free(&b);
  return rc;
}

static int fn_template(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                       struct cairn_xv *v)
{
  /* Parts are gathered first: reading a source may use cx->tmp. */
  struct { const char *s; size_t n; } stack[16], *pv = stack;
  size_t total = 0;
  char *d, *o;
  int rc = 0;

  if (c->n_parts > 16)
    pv = (void *)cairn__scratch_alloc(cx->scratch, c->n_parts * sizeof *pv);
  for (size_t i = 0; i < c->n_parts; i++) {
    const struct cairn__tpl_part *p = &c->parts[i];
    struct cairn_xv sv;
    if (p->lit) {
      pv[i].s = p->lit;
      pv[i].n = p->len;
    } else {
      if (p->src < 0)
        sv = *v;
      else if (cairn__src_get(cx, (size_t)p->src, &sv) < 0)
        return -1;
      if (sv.type == CAIRN_V_NULL) {
        memset(v, 0, sizeof *v); /* a missing part makes the whole null */
        return 0;
      }
      xv_text(cx, &sv, &pv[i].s, &pv[i].n);
    }
    total += pv[i].n;
  }
  d = o = cairn__scratch_alloc(cx->scratch, total + 1);
  for (size_t i = 0; i < c->n_parts; i++) {
    memcpy(o, pv[i].s, pv[i].n);
    o += pv[i].n;
  }
  *o = '\0';
  set_str(v, d, total);
  return rc;
}

/* lookup ---------------------------------------------------------------- */

static int fn_lookup_compile(struct cc *cc, struct cairn__fn_call *c,
                             const json_t *arg, const json_t *spec)
{
  const char *key;
  json_t *val;
  const json_t *dflt = json_is_object(spec) ? json_object_get(spec, "default")
                                            : NULL;
  if (!json_is_object(arg))
    return bad(cc, arg ? "/lookup" : "", "function \"lookup\" needs a table: "
               "{\"lookup\": {\"from\": \"to\", ...}}");
  json_object_foreach((json_t *)arg, key, val) {
    if (json_is_object(val) || json_is_array(val)) {
      char sub[256];
      struct cairn_buf b = {0};
      cairn_buf_puts(&b, "/lookup");
      cairn_json_pointer_append(&b, key);
      snprintf(sub, sizeof sub, "%s", b.data);
      cairn_buf_free(&b);
      return bad(cc, sub, "lookup values must be strings, numbers, booleans "
                 "or null");
    }
  }
  c->arg = json_incref((json_t *)arg);
  if (dflt) {
    struct cc sub = *cc;
    sub.name = "lookup";
    if (const_value(&sub, c, dflt, "/default") < 0)
      return -1;
  }
  return 0;
}

static int fn_lookup(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                     struct cairn_xv *v)
{
  const char *s;
  size_t n;
  const json_t *hit;

  if (v->type == CAIRN_V_NULL)
    return 0;
  if (v->type == CAIRN_V_JSON)
    return why_xv(cx, v, "cannot be looked up");
  xv_text(cx, v, &s, &n);
  hit = json_object_getn(c->arg, s, n);
  if (hit) {
    xv_from_json(cx, hit, v);
    return 0;
  }
  if (c->has_cval) {
    *v = c->cval;
    return 0;
  }
  return cairn__why_value(cx, s, n, "is not in the lookup table");
}

/* coalesce, record_id --------------------------------------------------- */

static int refs_compile(struct cc *cc, struct cairn__fn_call *c,
                        const json_t *arg)
{
  char sub[64];
  snprintf(sub, sizeof sub, "/%s", cc->name);
  if (!json_is_array(arg) || json_array_size(arg) == 0)
    return bad(cc, arg ? sub : "", "function \"%s\" needs a list of sources: "
               "{\"%s\": [\"ColumnA\", \"/json/pointer\"]}", cc->name,
               cc->name);
  c->srcs = cairn_xcalloc(json_array_size(arg), sizeof *c->srcs);
  for (size_t i = 0; i < json_array_size(arg); i++) {
    const json_t *r = json_array_get(arg, i);
    snprintf(sub, sizeof sub, "/%s/%zu", cc->name, i);
    if (need_string(cc, r, sub, 0) < 0 ||
        intern_ref(cc, json_string_value(r), sub, &c->srcs[i]) < 0)
      return -1;
    c->n_srcs++;
  }
  return 0;
}

static int fn_refs_compile(struct cc *cc, struct cairn__fn_call *c,
                           const json_t *arg, const json_t *spec)
{
  (void)spec;
  return refs_compile(cc, c, arg);
}

static int fn_coalesce(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                       struct cairn_xv *v)
{
  size_t present = 0;
  for (size_t i = 0; i < c->n_srcs; i++) {
    struct cairn_xv sv;
    if (cairn__src_get(cx, c->srcs[i], &sv) < 0)
      continue; /* a column this file lacks: try the next one */
    present++;
    if (sv.type != CAIRN_V_NULL && !(sv.type == CAIRN_V_STR && sv.n == 0)) {
      *v = sv;
      return 0;
    }
  }
  if (!present)
    return cairn__why(cx, "none of the coalesce sources is in the header");
  memset(v, 0, sizeof *v);
  return 0;
}

/* Hash the bytes buffered in m (and flush them), used when one row's
 * message outgrows the stack buffer of fn_record_id. */
static void rid_flush(SHA256_CTX *h, int *started, char *m, size_t *used)
{
  if (!*started) {
    SHA256_Init(h);
    *started = 1;
  }
  SHA256_Update(h, m, *used);
  *used = 0;
}

static int fn_record_id(const struct cairn__fn_call *c,
                        struct cairn__fctx *cx, struct cairn_xv *v)
{
  static const char hex[] = "0123456789abcdef";
  SHA256_CTX h;
  unsigned char md[32];
  /* The message is assembled here and hashed with one call: a row's ids
   * are ~200 bytes, and per-call overhead (three calls per part) cost
   * more than the hashing. Longer messages are flushed in pieces. */
  char m[1024];
  size_t used = 0;
  int started = 0;
  char *out;

  for (size_t i = 0; i < c->n_srcs; i++) {
    struct cairn_xv sv;
    const char *s;
    size_t n;
    char len[24];
    if (cairn__src_get(cx, c->srcs[i], &sv) < 0)
      return -1;
    /* Each part is "<byte length>:<text>;", a null part "~;": no two
     * different lists of values give the same byte string. */
    if (sv.type == CAIRN_V_NULL) {
      if (used + 2 > sizeof m)
        rid_flush(&h, &started, m, &used);
      memcpy(m + used, "~;", 2);
      used += 2;
      continue;
    }
    xv_text(cx, &sv, &s, &n);
    {
      /* "%zu:" without printf: this runs for every part of every row. */
      char *e = len + sizeof len, *q = e;
      size_t k = n, ln;
      *--q = ':';
      do {
        *--q = (char)('0' + k % 10);
        k /= 10;
      } while (k);
      ln = (size_t)(e - q);
      if (used + ln + n + 1 > sizeof m) {
        rid_flush(&h, &started, m, &used);
        if (ln + n + 1 > sizeof m) {
          SHA256_Update(&h, q, ln);
          SHA256_Update(&h, s, n);
          SHA256_Update(&h, ";", 1);
          continue;
        }
      }
      memcpy(m + used, q, ln);
      used += ln;
    }
    memcpy(m + used, s, n);
    used += n;
    m[used++] = ';';
  }
  /* Not SHA256(): in OpenSSL 3 the one-shot fetches the algorithm
   * through EVP on every call. */
  if (!started)
    SHA256_Init(&h);
  SHA256_Update(&h, m, used);
  SHA256_Final(md, &h);
  out = cairn__scratch_alloc(cx->scratch, 65);
  for (int i = 0; i < 32; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[64] = '\0';
  set_str(v, out, 64);
  return 0;
}

/* header ---------------------------------------------------------------- */

static int fn_header_compile(struct cc *cc, struct cairn__fn_call *c,
                             const json_t *arg, const json_t *spec)
{
  (void)spec;
  if (!arg)
    return bad(cc, "", "function \"header\" needs a header name: "
               "{\"header\": \"Date\"}");
  if (need_string(cc, arg, "/header", 0) < 0)
    return -1;
  c->str = cairn_xstrdup(json_string_value(arg));
  c->str_len = strlen(c->str);
  for (char *p = c->str; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p - 'A' + 'a');
  return 0;
}

static int fn_header(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                     struct cairn_xv *v)
{
  const json_t *h = cx->rec->meta ? json_object_get(cx->rec->meta, "headers")
                                  : NULL;
  const json_t *j = h ? json_object_get(h, c->str) : NULL;
  if (json_is_array(j))
    j = json_array_get(j, 0); /* a repeated header: its first value */
  xv_from_json(cx, j, v);
  return 0;
}

/* exists ---------------------------------------------------------------- */

static int fn_exists(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                     struct cairn_xv *v)
{
  int present = v->type != CAIRN_V_NULL;
  (void)c;
  (void)cx;
  memset(v, 0, sizeof *v);
  v->type = CAIRN_V_BOOL;
  v->i = present;
  return 0;
}

/* split, join ----------------------------------------------------------- */

static int fn_split_compile(struct cc *cc, struct cairn__fn_call *c,
                            const json_t *arg, const json_t *spec)
{
  const json_t *sep = arg, *trim = NULL;
  (void)spec;
  if (!arg)
    return bad(cc, "", "function \"split\" needs a separator: "
               "{\"split\": \",\"}");
  if (json_is_object(arg)) {
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)arg, k, val) {
      if (strcmp(k, "sep") != 0 && strcmp(k, "trim") != 0)
        return bad(cc, "/split", "unknown option \"%s\" for \"split\" (have: "
                   "sep, trim)", k);
    }
    sep = json_object_get(arg, "sep");
    trim = json_object_get(arg, "trim");
    if (trim && !json_is_boolean(trim))
      return bad(cc, "/split/trim", "\"trim\" is true or false");
    if (!sep)
      return bad(cc, "/split", "\"split\" needs \"sep\"");
    if (need_string(cc, sep, "/split/sep", 0) < 0)
      return -1;
  } else if (need_string(cc, sep, "/split", 0) < 0) {
    return -1;
  }
  c->str = cairn_xstrdup(json_string_value(sep));
  c->str_len = strlen(c->str);
  c->opt = json_is_true(trim);
  return 0;
}

static int fn_split(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                    struct cairn_xv *v)
{
  struct cairn_buf *out = &cx->tmp;
  const char *p, *end;
  size_t w = 0;

  if (v->type == CAIRN_V_NULL)
    return 0;
  if (text_input(cx, v) < 0)
    return -1;
  p = v->s;
  end = v->s + v->n;
  out->len = 0;
  cairn_buf_putc(out, '[');
  for (;;) {
    const char *q = p, *hit = NULL;
    const char *s;
    size_t n;
    for (; q + c->str_len <= end; q++)
      if (memcmp(q, c->str, c->str_len) == 0) {
        hit = q;
        break;
      }
    s = p;
    n = (size_t)((hit ? hit : end) - p);
    if (c->opt)
      trim_slice(&s, &n);
    if (!c->opt || n) {
      if (w++)
        cairn_buf_putc(out, ',');
      enc_string(out, s, n);
    }
    if (!hit)
      break;
    p = hit + c->str_len;
  }
  cairn_buf_putc(out, ']');
  memset(v, 0, sizeof *v);
  v->type = CAIRN_V_JSON;
  v->s = cairn__scratch_dup(cx->scratch, out->data, out->len);
  v->n = out->len;
  return 0;
}

static int fn_sep_compile(struct cc *cc, struct cairn__fn_call *c,
                          const json_t *arg, const json_t *spec)
{
  char sub[64];
  (void)spec;
  snprintf(sub, sizeof sub, "/%s", cc->name);
  if (!arg)
    return bad(cc, "", "function \"%s\" needs a text: {\"%s\": \"...\"}",
               cc->name, cc->name);
  if (need_string(cc, arg, sub, strcmp(cc->name, "join") == 0) < 0)
    return -1;
  c->str = cairn_xstrdup(json_string_value(arg));
  c->str_len = strlen(c->str);
  return 0;
}

static int fn_join(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                   struct cairn_xv *v)
{
  json_t *owned = NULL;
  const json_t *arr;
  struct cairn_buf *out;
  int rc = 0;

  if (v->type == CAIRN_V_NULL)
    return 0;
  if (v->type != CAIRN_V_JSON)
    return why_xv(cx, v, "is not an array");
  arr = v->j;
  if (!arr) {
    owned = json_loadb(v->s, v->n, 0, NULL);
    arr = owned;
  }
  if (!json_is_array(arr)) {
    rc = why_xv(cx, v, "is not an array");
    goto done;
  }
  /* Element texts first (they may use cx->tmp), then the joined text. */
  {
    size_t n = json_array_size(arr), total = 0;
    struct { const char *s; size_t n; } *pv =
        (void *)cairn__scratch_alloc(cx->scratch, (n ? n : 1) * sizeof *pv);
    for (size_t i = 0; i < n; i++) {
      struct cairn_xv ev;
      xv_from_json(cx, json_array_get(arr, i), &ev);
      if (ev.type == CAIRN_V_JSON) {
        rc = cairn__why(cx, "array element %zu is not a scalar", i);
        goto done;
      }
      if (ev.type == CAIRN_V_NULL) {
        pv[i].s = "";
        pv[i].n = 0;
      } else {
        xv_text(cx, &ev, &pv[i].s, &pv[i].n);
        if (owned) /* texts of 'owned' die with it: copy */
          pv[i].s = cairn__scratch_dup(cx->scratch, pv[i].s, pv[i].n);
      }
      total += pv[i].n + c->str_len;
    }
    out = &cx->tmp;
    out->len = 0;
    for (size_t i = 0; i < n; i++) {
      if (i)
        cairn_buf_append(out, c->str, c->str_len);
      cairn_buf_append(out, pv[i].s, pv[i].n);
    }
    (void)total;
    set_str(v, cairn__scratch_dup(cx->scratch, out->data ? out->data : "",
                                  out->len), out->len);
  }
done:
  json_decref(owned);
  return rc;
}

/* replace, strip_prefix ------------------------------------------------- */

static int fn_replace_compile(struct cc *cc, struct cairn__fn_call *c,
                              const json_t *arg, const json_t *spec)
{
  (void)spec;
  if (!json_is_array(arg) || json_array_size(arg) != 2)
    return bad(cc, arg ? "/replace" : "", "function \"replace\" needs "
               "[\"old\", \"new\"]");
  if (need_string(cc, json_array_get(arg, 0), "/replace/0", 0) < 0 ||
      need_string(cc, json_array_get(arg, 1), "/replace/1", 1) < 0)
    return -1;
  c->str = cairn_xstrdup(json_string_value(json_array_get(arg, 0)));
  c->str_len = strlen(c->str);
  c->str2 = cairn_xstrdup(json_string_value(json_array_get(arg, 1)));
  c->str2_len = strlen(c->str2);
  return 0;
}

static int fn_replace(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                      struct cairn_xv *v)
{
  struct cairn_buf *out = &cx->tmp;
  const char *p, *end;
  if (v->type == CAIRN_V_NULL)
    return 0;
  if (text_input(cx, v) < 0)
    return -1;
  p = v->s;
  end = v->s + v->n;
  out->len = 0;
  cairn_buf_append(out, "", 0);
  while (p < end) {
    if ((size_t)(end - p) >= c->str_len &&
        memcmp(p, c->str, c->str_len) == 0) {
      cairn_buf_append(out, c->str2, c->str2_len);
      p += c->str_len;
    } else {
      cairn_buf_putc(out, *p++);
    }
  }
  set_str(v, cairn__scratch_dup(cx->scratch, out->data, out->len), out->len);
  return 0;
}

static int fn_strip_prefix(const struct cairn__fn_call *c,
                           struct cairn__fctx *cx, struct cairn_xv *v)
{
  if (v->type == CAIRN_V_NULL)
    return 0;
  if (text_input(cx, v) < 0)
    return -1;
  if (v->n >= c->str_len && strncasecmp(v->s, c->str, c->str_len) == 0) {
    v->s += c->str_len;
    v->n -= c->str_len;
    v->flags = 0; /* no longer the canonical form it may have been */
    if (!v->n && cx->empty_is_null)
      memset(v, 0, sizeof *v);
  }
  return 0;
}

/* ---- the table -------------------------------------------------------- */

typedef int (*fn_apply_f)(const struct cairn__fn_call *c,
                          struct cairn__fctx *cx, struct cairn_xv *v);
typedef int (*fn_compile_f)(struct cc *cc, struct cairn__fn_call *c,
                            const json_t *arg, const json_t *spec);

struct cairn__fn_def {
  const char  *name;
  unsigned     flags;      /* CAIRN__FN_* */
  const char  *opt;        /* the one option key allowed beside the name */
  fn_compile_f compile;    /* NULL: takes no argument */
  fn_apply_f   apply;
};

static const struct cairn__fn_def fn_table[] = {
  { "add_days", 0, NULL, fn_add_days_compile, fn_add_days },
  { "bool", 0, NULL, NULL, fn_bool },
  { "coalesce", CAIRN__FN_SOURCE, NULL, fn_refs_compile, fn_coalesce },
  { "const", CAIRN__FN_SOURCE, NULL, fn_const_compile, fn_const },
  { "default", CAIRN__FN_TOLERANT, NULL, fn_const_compile, fn_default },
  { "exists", CAIRN__FN_TOLERANT, NULL, NULL, fn_exists },
  { "header", CAIRN__FN_SOURCE, NULL, fn_header_compile, fn_header },
  { "integer", 0, NULL, NULL, fn_integer },
  { "join", 0, NULL, fn_sep_compile, fn_join },
  { "lookup", 0, "default", fn_lookup_compile, fn_lookup },
  { "lower", 0, NULL, NULL, fn_lower },
  { "number", 0, NULL, NULL, fn_number },
  { "record_id", CAIRN__FN_SOURCE, NULL, fn_refs_compile, fn_record_id },
  { "replace", 0, NULL, fn_replace_compile, fn_replace },
  { "split", 0, NULL, fn_split_compile, fn_split },
  { "strip_prefix", 0, NULL, fn_sep_compile, fn_strip_prefix },
  { "tags", 0, NULL, NULL, fn_tags },
  { "template", 0, NULL, fn_template_compile, fn_template },
  { "trim", 0, NULL, NULL, fn_trim },
  { "upper", 0, NULL, NULL, fn_upper },
  { "utc", 0, NULL, fn_utc_compile, fn_utc },
};

#define N_FN (sizeof fn_table / sizeof fn_table[0])

const char *cairn__fn_names(void)
{
  static _Thread_local char names[512]; /* built once per thread */
  if (!names[0]) {
    size_t o = 0;
    for (size_t i = 0; i < N_FN; i++)
      o += (size_t)snprintf(names + o, sizeof names - o, "%s%s",
                            i ? ", " : "", fn_table[i].name);
  }
  return names;
}

static const struct cairn__fn_def *fn_find(const char *name)
{
  for (size_t i = 0; i < N_FN; i++)
    if (strcmp(fn_table[i].name, name) == 0)
      return &fn_table[i];
  return NULL;
}

int cairn__fn_compile(const json_t *spec, struct cairn__srcs *srcs,
                      struct cairn__fn_call *out, char *msg, size_t msg_size,
                      char *sub_ptr, size_t sub_size)
{
  struct cc cc = { msg, msg_size, sub_ptr, sub_size, "", srcs };
  const struct cairn__fn_def *def = NULL;
  const json_t *arg = NULL;
  const char *name;

  memset(out, 0, sizeof *out);
  if (json_is_string(spec)) {
    name = json_string_value(spec);
    def = fn_find(name);
    if (!def)
      return bad(&cc, "", "unknown function \"%s\" (have: %s)", name,
                 cairn__fn_names());
  } else if (json_is_object(spec) && json_object_size(spec) > 0) {
    const char *k, *fn_key = NULL;
    json_t *val;
    /* {"name": arg} plus, for some functions, one option key. */
    json_object_foreach((json_t *)spec, k, val) {
      const struct cairn__fn_def *d = fn_find(k);
      if (!d)
        continue;
      if (json_object_size(spec) == 1 ||
          (d->opt && json_object_size(spec) == 2 &&
           json_object_get(spec, d->opt))) {
        def = d;
        fn_key = k;
      }
    }
    if (!def) {
      json_object_foreach((json_t *)spec, k, val) {
        if (!fn_find(k))
          return bad(&cc, "", "unknown function \"%s\" (have: %s)", k,
                     cairn__fn_names());
      }
      return bad(&cc, "", "a function object names one function (and its "
                 "option, e.g. {\"lookup\": {...}, \"default\": \"x\"})");
    }
    arg = json_object_get(spec, fn_key);
  } else {
    return bad(&cc, "", "a function is a name (\"lower\") or an object "
               "({\"default\": \"x\"})");
  }
  out->def = def;
  cc.name = def->name;
  if (!def->compile)
    return no_arg(&cc, arg);
  return def->compile(&cc, out, arg, spec);
}

void cairn__fn_call_clear(struct cairn__fn_call *c)
{
  json_decref(c->arg);
  free(c->str);
  free(c->str2);
  free(c->srcs);
  for (size_t i = 0; i < c->n_parts; i++)
    free(c->parts[i].lit);
  free(c->parts);
  memset(c, 0, sizeof *c);
}

int cairn__fn_apply(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                    struct cairn_xv *v)
{
  return c->def->apply(c, cx, v);
}

unsigned cairn__fn_flags(const struct cairn__fn_call *c)
{
  return c->def->flags;
}

const char *cairn__fn_name(const struct cairn__fn_call *c)
{
  return c->def->name;
}

int cairn__fn_reads_record(const struct cairn__fn_call *c)
{
  return c->n_srcs > 0 || c->n_parts > 0;
}

int cairn__src_fails_on_header(const struct cairn__srcs *srcs, size_t i)
{
  const struct cairn__src *s = &srcs->v[i];
  return (s->kind == CAIRN__SRC_NAME && s->col < 0) ||
         s->kind == CAIRN__SRC_PTR;
}

long cairn__fn_failing_src(const struct cairn__fn_call *c,
                           const struct cairn__srcs *srcs)
{
  if (c->def->apply == fn_coalesce) { /* skips what fails, unless all do */
    for (size_t i = 0; i < c->n_srcs; i++)
      if (!cairn__src_fails_on_header(srcs, c->srcs[i]))
        return -1;
    return c->n_srcs ? (long)c->srcs[0] : -1;
  }
  for (size_t i = 0; i < c->n_srcs; i++)
    if (cairn__src_fails_on_header(srcs, c->srcs[i]))
      return (long)c->srcs[i];
  for (size_t i = 0; i < c->n_parts; i++)
    if (!c->parts[i].lit && c->parts[i].src >= 0 &&
        cairn__src_fails_on_header(srcs, (size_t)c->parts[i].src))
      return c->parts[i].src;
  return -1;
}

size_t cairn__fn_refs(const struct cairn__fn_call *c, size_t *out,
                      size_t max)
{
  size_t n = 0;
  /* record_id reads its sources only to hash them. */
  if (c->def->apply != fn_record_id)
    for (size_t i = 0; i < c->n_srcs && n < max; i++)
      out[n++] = c->srcs[i];
  for (size_t i = 0; i < c->n_parts && n < max; i++)
    if (!c->parts[i].lit && c->parts[i].src >= 0)
      out[n++] = (size_t)c->parts[i].src;
  return n;
}
