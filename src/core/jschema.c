/* SPDX-License-Identifier: MIT */
/* jschema.c -- JSON Schema (2020-12 subset) compiler and validator.
 *
 * Compilation walks the schema document once and turns every subschema into
 * a struct node holding pre-parsed keyword values (regexes compiled, counts
 * converted, $ref resolved to a node), so validation never re-reads keyword
 * JSON. Unknown keywords are refused rather than skipped. Validation is a
 * recursive walk that keeps the instance JSON pointer in a buffer and runs
 * subschemas "quietly" (first failure wins, nothing reported) where only a
 * yes/no answer is needed: anyOf, oneOf, not, if, contains. */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "core/jschema.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>

#include "core/clock.h"
#include "core/codec.h"
#include "core/mem.h"

/* Bound on schema nesting at compile time and on evaluation nesting at
 * validation time. Between two $ref hops the evaluation stack only walks
 * down the schema tree, so stack use is at most MAX_NEST frames whatever
 * the instance; CAIRN_SCHEMA_MAX_REF_DEPTH bounds the hops themselves. */
#define MAX_NEST 512
/* Values quoted in messages are cut to this many bytes. */
#define RENDER_MAX 80

/* ------------------------------------------------------------------ */
/* Compiled form                                                       */
/* ------------------------------------------------------------------ */

enum {
  TY_NULL    = 1u << 0,
  TY_BOOLEAN = 1u << 1,
  TY_OBJECT  = 1u << 2,
  TY_ARRAY   = 1u << 3,
  TY_NUMBER  = 1u << 4,
  TY_STRING  = 1u << 5,
  TY_INTEGER = 1u << 6,
  TY_COUNT   = 7
};

static const char *const type_names[TY_COUNT] = {
  "null", "boolean", "object", "array", "number", "string", "integer",
};

/* One member of properties, patternProperties or dependentSchemas. */
struct prop {
  const char  *name;   /* key or pattern source; borrowed from the doc */
  pcre2_code  *re;     /* patternProperties only; owned */
  struct node *schema;
};

/* One member of dependentRequired (or array-valued "dependencies"). */
struct dep_req {
  const char   *name;  /* borrowed */
  const json_t *keys;  /* array of strings, borrowed */
};

struct node {
  const json_t *src;            /* the subschema, borrowed from the doc */
  char         *ptr;            /* its JSON pointer in the doc; owned */
  int           is_bool;        /* true/false schema; bool_val says which */
  int           bool_val;

  unsigned char types[TY_COUNT]; /* type indexes in schema order */
  int           n_types;        /* 0 = no "type" keyword */
  unsigned      type_mask;      /* TY_* bits of types[] */
  const json_t *enum_vals;      /* array, borrowed; NULL if absent */
  const json_t *const_val;      /* borrowed; NULL if absent */
  const char   *ref_str;        /* "$ref" value, borrowed; NULL if absent */
  struct node  *ref;            /* resolved target, set after the walk */

  /* numbers: borrowed JSON numbers, NULL when absent */
  const json_t *minimum, *maximum, *ex_minimum, *ex_maximum, *multiple_of;

  /* strings: counts are -1 when absent; lengths in code points */
  long long     min_length, max_length;
  pcre2_code   *pattern;        /* owned */
  const char   *pattern_src;    /* borrowed */
  int           date_time;      /* format "date-time" asserted */

  /* arrays: prefix[] applies position-wise, rest to the items after it */
  struct node **prefix;         /* owned array of n_prefix */
  size_t        n_prefix;
  struct node  *rest;           /* items (2020-12) or additionalItems */
  long long     min_items, max_items;
  int           unique_items;
  struct node  *contains;
  long long     min_contains, max_contains;

  /* objects */
  const json_t  *properties;    /* object, borrowed, for key lookup */
  struct prop   *props;         /* owned array of n_props */
  size_t         n_props;
  struct prop   *pprops;        /* patternProperties; owned */
  size_t         n_pprops;
  struct node   *additional;
  struct node   *property_names;
  const json_t  *required;      /* array of strings, borrowed */
  long long      min_props, max_props;
  struct dep_req *dep_req;      /* owned array of n_dep_req */
  size_t         n_dep_req;
  struct prop   *dep_schemas;   /* owned array of n_dep_schemas */
  size_t         n_dep_schemas;

  /* applicators */
  struct node **all_of, **any_of, **one_of; /* owned arrays */
  size_t        n_all_of, n_any_of, n_one_of;
  struct node  *not_, *if_, *then_, *else_;
};

struct cairn_schema {
  json_t       *doc;      /* owned reference */
  struct node **nodes;    /* every node, owned; nodes[0] is the root */
  size_t        n_nodes;
  size_t        cap_nodes;
  char         *base_id;  /* root "$id" without fragment; owned, or NULL */
};

static void node_free(struct node *n)
{
  size_t i;

  if (!n)
    return;
  free(n->ptr);
  pcre2_code_free(n->pattern);
  for (i = 0; i < n->n_pprops; i++)
    pcre2_code_free(n->pprops[i].re);
  free(n->prefix);
  free(n->props);
  free(n->pprops);
  free(n->dep_req);
  free(n->dep_schemas);
  free(n->all_of);
  free(n->any_of);
  free(n->one_of);
  free(n);
}

void cairn_schema_free(cairn_schema *s)
{
  size_t i;

  if (!s)
    return;
  for (i = 0; i < s->n_nodes; i++)
    node_free(s->nodes[i]);
  free(s->nodes);
  free(s->base_id);
  json_decref(s->doc);
  free(s);
}

/* ------------------------------------------------------------------ */
/* JSON helpers: equality, numbers, rendering                          */
/* ------------------------------------------------------------------ */

/* Like floor(), without needing libm: |r| >= 2^52 is already integral. */
static double floor_d(double r)
{
  double t;

  if (!(fabs(r) < 4503599627370496.0))
    return r;
  t = (double)(long long)r;
  return t > r ? t - 1 : t;
}

static int is_integral(double r)
{
  return isfinite(r) && floor_d(r) == r;
}

/* Exact comparison of an integer with a double (no rounding of i). */
static int cmp_int_real(json_int_t i, double r)
{
  double fl;
  json_int_t li;

  if (r >= 9223372036854775808.0)
    return -1;
  if (r < -9223372036854775808.0)
    return 1;
  fl = floor_d(r);
  li = (json_int_t)fl;
  if (i < li)
    return -1;
  if (i > li)
    return 1;
  return r > fl ? -1 : 0;
}

/* Both arguments are numbers. Returns <0, 0, >0. */
static int num_cmp(const json_t *a, const json_t *b)
{
  if (json_is_integer(a) && json_is_integer(b)) {
    json_int_t x = json_integer_value(a), y = json_integer_value(b);
    return (x > y) - (x < y);
  }
  if (json_is_integer(a))
    return cmp_int_real(json_integer_value(a), json_real_value(b));
  if (json_is_integer(b))
    return -cmp_int_real(json_integer_value(b), json_real_value(a));
  return (json_real_value(a) > json_real_value(b)) -
         (json_real_value(a) < json_real_value(b));
}

/* JSON equality as JSON Schema defines it: 1 and 1.0 are equal, object
 * member order does not matter. */
static int json_same(const json_t *a, const json_t *b)
{
  size_t i;
  const char *key;
  json_t *va;

  if (json_is_number(a) && json_is_number(b))
    return num_cmp(a, b) == 0;
  if (json_typeof(a) != json_typeof(b))
    return 0;
  switch (json_typeof(a)) {
  case JSON_OBJECT:
    if (json_object_size(a) != json_object_size(b))
      return 0;
    json_object_foreach((json_t *)a, key, va) {
      const json_t *vb = json_object_get(b, key);
      if (!vb || !json_same(va, vb))
        return 0;
    }
    return 1;
  case JSON_ARRAY:
    if (json_array_size(a) != json_array_size(b))
      return 0;
    for (i = 0; i < json_array_size(a); i++)
      if (!json_same(json_array_get(a, i), json_array_get(b, i)))
        return 0;
    return 1;
  case JSON_STRING:
    return json_string_length(a) == json_string_length(b) &&
           memcmp(json_string_value(a), json_string_value(b),
                  json_string_length(a)) == 0;
  default: /* true, false, null: same type is enough */
    return 1;
  }
}

/* Shortest text that reads back as the same number ("0.1", "1e+308"). */
static void fmt_num(char *out, size_t cap, const json_t *v)
{
  double r;
  int p;

  if (json_is_integer(v)) {
    snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return;
  }
  r = json_real_value(v);
  for (p = 1; p < 17; p++) {
    snprintf(out, cap, "%.*g", p, r);
    if (strtod(out, NULL) == r)
      break;
  }
  if (p == 17)
    snprintf(out, cap, "%.17g", r);
  if (strspn(out, "-0123456789") == strlen(out) && strlen(out) + 2 < cap)
    strcat(out, ".0"); /* keep reals recognisable, as jansson prints them */
}

/* Compact JSON of v for messages; strings unquoted when 'bare'. */
static void render(struct cairn_buf *b, const json_t *v, int bare)
{
  char num[40];
  char *s;

  if (json_is_number(v)) {
    fmt_num(num, sizeof num, v);
    (void)cairn_buf_puts(b, num);
    return;
  }
  if (bare && json_is_string(v)) {
    cairn_put_cut(b, json_string_value(v), json_string_length(v), RENDER_MAX);
    return;
  }
  s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
  if (!s)
    return;
  cairn_put_cut(b, s, strlen(s), RENDER_MAX);
  free(s);
}

/* Quoted, escaped key for messages: "foo". */
static void render_key(struct cairn_buf *b, const char *key)
{
  json_t *s = json_string(key);

  if (s) {
    render(b, s, 0);
    json_decref(s);
  } else {
    (void)cairn_buf_printf(b, "\"%s\"", key);
  }
}

/* Number of Unicode code points in valid UTF-8. */
static size_t utf8_len(const char *s, size_t n)
{
  size_t i, count = 0;

  for (i = 0; i < n; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80)
      count++;
  return count;
}

/* Append RFC 6901 segment "/seg" with ~ and / escaped. */
static void ptr_push(struct cairn_buf *b, const char *seg)
{
  (void)cairn_buf_putc(b, '/');
  for (; *seg; seg++) {
    if (*seg == '~')
      (void)cairn_buf_puts(b, "~0");
    else if (*seg == '/')
      (void)cairn_buf_puts(b, "~1");
    else
      (void)cairn_buf_putc(b, *seg);
  }
}

static char *ptr_join(const char *base, const char *seg)
{
  struct cairn_buf b = {0};

  (void)cairn_buf_puts(&b, base);
  ptr_push(&b, seg);
  return cairn_buf_take(&b);
}

static const char *ptr_show(const char *ptr)
{
  return *ptr ? ptr : "the document root";
}

/* ------------------------------------------------------------------ */
/* multipleOf in decimal                                               */
/* ------------------------------------------------------------------ */

/* |v| = m * 10^e using the shortest decimal that reads back as v, with m
 * free of trailing zeros. This is the number as written in the JSON text,
 * so 0.0075 is 75e-4 exactly and no binary rounding leaks into the test. */
static void dec_parts(const json_t *v, uint64_t *m, int *e)
{
  char buf[48];
  const char *c;
  int p, exp10;
  double r;

  *m = 0;
  *e = 0;
  if (json_is_integer(v)) {
    json_int_t i = json_integer_value(v);
    *m = i < 0 ? (uint64_t)(-(i + 1)) + 1 : (uint64_t)i;
  } else {
    r = fabs(json_real_value(v));
    for (p = 0; p < 16; p++) {
      snprintf(buf, sizeof buf, "%.*e", p, r);
      if (strtod(buf, NULL) == r)
        break;
    }
    snprintf(buf, sizeof buf, "%.*e", p, r); /* p == 16 always reads back */
    for (c = buf; *c && *c != 'e' && *c != 'E'; c++)
      if (*c >= '0' && *c <= '9')
        *m = *m * 10 + (uint64_t)(*c - '0');
    exp10 = *c ? atoi(c + 1) : 0;
    *e = exp10 - p;
  }
  while (*m && *m % 10 == 0) {
    *m /= 10;
    (*e)++;
  }
}

/* (a + b) mod m for a, b < m < 2^63. */
static uint64_t addmod(uint64_t a, uint64_t b, uint64_t m)
{
  uint64_t s = a + b;

  return s >= m ? s - m : s;
}

static uint64_t mulmod(uint64_t a, uint64_t b, uint64_t m)
{
  uint64_t r = 0;

  a %= m;
  while (b) {
    if (b & 1)
      r = addmod(r, a, m);
    a = addmod(a, a, m);
    b >>= 1;
  }
  return r;
}

/* Is x an integer multiple of d (d > 0)? With x = mx*10^ex, d = md*10^ed
 * and trailing zeros stripped: if ex < ed, x has a nonzero digit below d's
 * last digit, so no; otherwise test mx * 10^(ex-ed) mod md == 0. */
static int is_multiple(const json_t *x, const json_t *d)
{
  uint64_t mx, md, acc;
  int ex, ed, k;

  if (json_is_integer(x) && json_is_integer(d))
    return json_integer_value(x) % json_integer_value(d) == 0;
  dec_parts(x, &mx, &ex);
  dec_parts(d, &md, &ed);
  if (mx == 0)
    return 1;
  if (md == 0 || ex < ed)
    return 0;
  acc = mx % md;
  for (k = 0; k < ex - ed && acc; k++)
    acc = mulmod(acc, 10 % md, md);
  return acc == 0;
}

/* ------------------------------------------------------------------ */
/* Compiler                                                            */
/* ------------------------------------------------------------------ */

struct compiler {
  cairn_schema          *s;
  cairn_err             *err;
  pcre2_compile_context *cctx;
};

/* Raise CAIRN_ESCHEMA as "<what> at <ptr>/<kw>". */
static int bad(struct compiler *cc, const char *ptr, const char *kw,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int bad(struct compiler *cc, const char *ptr, const char *kw,
               const char *fmt, ...)
{
  va_list ap;
  char *what, *where;
  int rc;

  va_start(ap, fmt);
  what = cairn_vstrfmt(fmt, ap);
  va_end(ap);
  where = kw ? ptr_join(ptr, kw) : cairn_xstrdup(ptr);
  rc = CAIRN_RAISE(cc->err, CAIRN_ESCHEMA, 0, "%s at %s", what,
                   ptr_show(where));
  free(where);
  free(what);
  return rc;
}

static int compile_node(struct compiler *cc, const json_t *j,
                        const char *ptr, int depth, struct node **out);

static int is_annotation(const char *kw)
{
  static const char *const names[] = {
    "$schema", "$comment", "$anchor", "$vocabulary", "title",
    "description", "default", "examples", "deprecated", "readOnly",
    "writeOnly", "contentMediaType", "contentEncoding", "contentSchema",
  };
  size_t i;

  if (strncmp(kw, "x-", 2) == 0)
    return 1;
  for (i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(kw, names[i]) == 0)
      return 1;
  return 0;
}

/* Compile the subschema at <ptr>/<kw>[/<sub>]. */
static int compile_sub(struct compiler *cc, const json_t *j, const char *ptr,
                       const char *kw, const char *sub, int depth,
                       struct node **out)
{
  char *p1 = ptr_join(ptr, kw);
  char *p2 = sub ? ptr_join(p1, sub) : NULL;
  int rc = compile_node(cc, j, p2 ? p2 : p1, depth + 1, out);

  free(p2);
  free(p1);
  return rc;
}

static int get_count(struct compiler *cc, const struct node *n,
                     const char *kw, const json_t *v, long long *out)
{
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *out = (long long)json_integer_value(v);
    return CAIRN_OK;
  }
  if (json_is_real(v) && is_integral(json_real_value(v)) &&
      json_real_value(v) >= 0 && json_real_value(v) < 9.2e18) {
    *out = (long long)json_real_value(v);
    return CAIRN_OK;
  }
  return bad(cc, n->ptr, kw, "%s must be a non-negative integer", kw);
}

static int get_number(struct compiler *cc, const struct node *n,
                      const char *kw, const json_t *v, const json_t **out)
{
  if (!json_is_number(v))
    return bad(cc, n->ptr, kw, "%s must be a number", kw);
  *out = v;
  return CAIRN_OK;
}

/* A non-empty (unless allow_empty) array of subschemas. */
static int get_schema_list(struct compiler *cc, const struct node *n,
                           const char *kw, const json_t *v, int depth,
                           int allow_empty, struct node ***out, size_t *n_out)
{
  size_t i, count;
  char idx[32];
  int rc;

  if (!json_is_array(v) || (!allow_empty && json_array_size(v) == 0))
    return bad(cc, n->ptr, kw, "%s must be a non-empty array of schemas", kw);
  count = json_array_size(v);
  *out = cairn_xcalloc(count, sizeof **out);
  *n_out = count;
  for (i = 0; i < count; i++) {
    snprintf(idx, sizeof idx, "%zu", i);
    rc = compile_sub(cc, json_array_get(v, i), n->ptr, kw, idx, depth,
                     &(*out)[i]);
    if (rc < 0)
      return rc;
  }
  return CAIRN_OK;
}

/* An object whose values are subschemas (properties, $defs, ...). With
 * 'res' non-NULL also keep them as prop entries. */
static int get_schema_map(struct compiler *cc, const struct node *n,
                          const char *kw, const json_t *v, int depth,
                          struct prop **res, size_t *n_res)
{
  const char *key;
  json_t *sub;
  struct node *child;
  size_t i = 0;
  int rc;

  if (!json_is_object(v))
    return bad(cc, n->ptr, kw, "%s must be an object of schemas", kw);
  if (res) {
    *res = cairn_xcalloc(json_object_size(v), sizeof **res);
    *n_res = 0;
  }
  json_object_foreach((json_t *)v, key, sub) {
    rc = compile_sub(cc, sub, n->ptr, kw, key, depth, &child);
    if (rc < 0)
      return rc;
    if (res) {
      (*res)[i].name = key;
      (*res)[i].schema = child;
      *n_res = ++i;
    }
  }
  return CAIRN_OK;
}

static int is_string_array(const json_t *v)
{
  size_t i;

  if (!json_is_array(v))
    return 0;
  for (i = 0; i < json_array_size(v); i++)
    if (!json_is_string(json_array_get(v, i)))
      return 0;
  return 1;
}

/* ECMA-262's \s: WhiteSpace and LineTerminator, beyond ASCII (U+00A0,
 * U+FEFF, the Zs space separators, U+2028, U+2029), as a class body. */
#define ECMA_SPACE "\\t\\n\\x0b\\f\\r \\u00a0\\u1680\\u2000-\\u200a" \
                   "\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"

/* src with \s (and \S outside a class) spelled as ECMA-262 means them:
 * without PCRE2_UCP, PCRE2's are ASCII. New string; *n its length. A \S
 * inside a class stays PCRE2's (a negated set cannot join a class). */
static char *ecma_spaces(const char *src, size_t len, size_t *n)
{
  struct cairn_buf b = {0};
  int in_class = 0;
  for (size_t i = 0; i < len; i++) {
    char c = src[i];
    if (c == '\\' && i + 1 < len) {
      char e = src[i + 1];
      if (e == 's')
        cairn_buf_puts(&b, in_class ? ECMA_SPACE : "[" ECMA_SPACE "]");
      else if (e == 'S' && !in_class)
        cairn_buf_puts(&b, "[^" ECMA_SPACE "]");
      else
        cairn_buf_append(&b, src + i, 2);
      i++;
      continue;
    }
    if (c == '[' && !in_class)
      in_class = 1;
    else if (c == ']' && in_class)
      in_class = 0;
    cairn_buf_putc(&b, c);
  }
  *n = b.len;
  if (!b.data)
    return cairn_xstrdup("");
  return cairn_buf_take(&b);
}

static int compile_regex(struct compiler *cc, const char *ptr,
                         const char *kw, const char *sub, const char *src,
                         size_t len, pcre2_code **out)
{
  /* ECMA-262 with the "u" flag: code points, $ only at the very end,
   * \uXXXX and \u{X...} escapes, [] and [^] as in JavaScript, unset
   * back-references match empty; \d \w \b stay ASCII (no PCRE2_UCP),
   * \s is ECMA's (ecma_spaces). */
  const uint32_t opts = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX |
                        PCRE2_ALLOW_EMPTY_CLASS | PCRE2_MATCH_UNSET_BACKREF |
                        PCRE2_NEVER_BACKSLASH_C;
  PCRE2_UCHAR text[256];
  PCRE2_SIZE off;
  int errcode, rc;
  char *where;
  size_t n;
  char *ecma = ecma_spaces(src, len, &n);

  *out = pcre2_compile((PCRE2_SPTR)ecma, n, opts, &errcode, &off, cc->cctx);
  free(ecma);
  if (*out)
    return CAIRN_OK;
  /* The error and its offset as the pattern was written. */
  {
    pcre2_code *again = pcre2_compile((PCRE2_SPTR)src, len, opts, &errcode,
                                      &off, cc->cctx);
    pcre2_code_free(again);
  }
  pcre2_get_error_message(errcode, text, sizeof text);
  where = sub ? ptr_join(ptr, kw) : cairn_xstrdup(ptr);
  rc = bad(cc, where, sub ? sub : kw, "invalid pattern \"%s\": %s (offset %zu)",
           src, (const char *)text, (size_t)off);
  free(where);
  return rc;
}

static int compile_type(struct compiler *cc, struct node *n, const json_t *v)
{
  const json_t *one;
  size_t i, count;
  int t;

  count = json_is_array(v) ? json_array_size(v) : 1;
  if (count == 0 || (!json_is_string(v) && !is_string_array(v)))
    return bad(cc, n->ptr, "type",
               "type must be a type name or a non-empty array of them");
  for (i = 0; i < count; i++) {
    one = json_is_array(v) ? json_array_get(v, i) : v;
    for (t = 0; t < TY_COUNT; t++)
      if (strcmp(json_string_value(one), type_names[t]) == 0)
        break;
    if (t == TY_COUNT)
      return bad(cc, n->ptr, "type", "unknown type \"%s\"",
                 json_string_value(one));
    if (n->type_mask & (1u << t))
      return bad(cc, n->ptr, "type", "duplicate type \"%s\"", type_names[t]);
    n->type_mask |= 1u << t;
    n->types[n->n_types++] = (unsigned char)t;
  }
  return CAIRN_OK;
}

static int compile_pattern_props(struct compiler *cc, struct node *n,
                                 const json_t *v, int depth)
{
  size_t i;
  int rc;

  rc = get_schema_map(cc, n, "patternProperties", v, depth, &n->pprops,
                      &n->n_pprops);
  if (rc < 0)
    return rc;
  for (i = 0; i < n->n_pprops; i++) {
    rc = compile_regex(cc, n->ptr, "patternProperties", n->pprops[i].name,
                       n->pprops[i].name, strlen(n->pprops[i].name),
                       &n->pprops[i].re);
    if (rc < 0)
      return rc;
  }
  return CAIRN_OK;
}

/* dependentRequired (arrays only), dependentSchemas (schemas only) or the
 * draft 7 "dependencies" (either, per member). */
static int compile_deps(struct compiler *cc, struct node *n, const char *kw,
                        const json_t *v, int depth, int arrays, int schemas)
{
  const char *key;
  json_t *sub;
  size_t size;
  int rc;

  if (!json_is_object(v))
    return bad(cc, n->ptr, kw, "%s must be an object", kw);
  /* dependencies may add to what dependentRequired/-Schemas gave */
  size = json_object_size(v);
  if (arrays)
    n->dep_req = cairn_xrealloc(n->dep_req,
                                (n->n_dep_req + size) * sizeof *n->dep_req);
  if (schemas)
    n->dep_schemas = cairn_xrealloc(
        n->dep_schemas, (n->n_dep_schemas + size) * sizeof *n->dep_schemas);
  json_object_foreach((json_t *)v, key, sub) {
    if (arrays && is_string_array(sub)) {
      n->dep_req[n->n_dep_req].name = key;
      n->dep_req[n->n_dep_req++].keys = sub;
    } else if (schemas && (json_is_object(sub) || json_is_boolean(sub))) {
      struct prop *p = &n->dep_schemas[n->n_dep_schemas++];
      p->name = key;
      rc = compile_sub(cc, sub, n->ptr, kw, key, depth, &p->schema);
      if (rc < 0)
        return rc;
    } else {
      char *where = ptr_join(n->ptr, kw);
      rc = bad(cc, where, key, "%s member must be %s", kw,
               !schemas   ? "an array of strings"
               : !arrays  ? "a schema"
                          : "an array of strings or a schema");
      free(where);
      return rc;
    }
  }
  return CAIRN_OK;
}

/* Keywords that need each other: items / prefixItems / additionalItems. */
struct pending {
  const json_t *items, *prefix_items, *additional_items;
};

static int compile_items(struct compiler *cc, struct node *n,
                         const struct pending *pd, int depth)
{
  int rc;

  if (pd->prefix_items) {
    if (pd->items && json_is_array(pd->items))
      return bad(cc, n->ptr, "items",
                 "array-form items cannot be combined with prefixItems");
    if (pd->additional_items)
      return bad(cc, n->ptr, "additionalItems",
                 "additionalItems cannot be combined with prefixItems "
                 "(use items)");
    rc = get_schema_list(cc, n, "prefixItems", pd->prefix_items, depth, 0,
                         &n->prefix, &n->n_prefix);
    if (rc < 0)
      return rc;
  }
  if (pd->items && json_is_array(pd->items)) {
    /* draft 7: items as a tuple, additionalItems for the rest */
    rc = get_schema_list(cc, n, "items", pd->items, depth, 1, &n->prefix,
                         &n->n_prefix);
    if (rc < 0)
      return rc;
    if (pd->additional_items)
      return compile_sub(cc, pd->additional_items, n->ptr, "additionalItems",
                         NULL, depth, &n->rest);
    return CAIRN_OK;
  }
  if (pd->items) {
    rc = compile_sub(cc, pd->items, n->ptr, "items", NULL, depth, &n->rest);
    if (rc < 0)
      return rc;
  }
  if (pd->additional_items) {
    /* draft 7: without tuple items, additionalItems has no effect; still
     * compile it so a broken subschema is reported */
    struct node *unused;
    return compile_sub(cc, pd->additional_items, n->ptr, "additionalItems",
                       NULL, depth, &unused);
  }
  return CAIRN_OK;
}

static int compile_keyword(struct compiler *cc, struct node *n,
                           const char *kw, const json_t *v, int depth,
                           struct pending *pd)
{
  if (strcmp(kw, "type") == 0)
    return compile_type(cc, n, v);
  if (strcmp(kw, "enum") == 0) {
    if (!json_is_array(v))
      return bad(cc, n->ptr, kw, "enum must be an array");
    n->enum_vals = v;
    return CAIRN_OK;
  }
  if (strcmp(kw, "const") == 0) {
    n->const_val = v;
    return CAIRN_OK;
  }
  if (strcmp(kw, "$ref") == 0) {
    if (!json_is_string(v))
      return bad(cc, n->ptr, kw, "$ref must be a string");
    n->ref_str = json_string_value(v);
    return CAIRN_OK;
  }
  if (strcmp(kw, "$id") == 0) {
    if (!json_is_string(v))
      return bad(cc, n->ptr, kw, "$id must be a string");
    if (n->src != cc->s->doc)
      return bad(cc, n->ptr, kw,
                 "$id below the document root is not supported");
    /* the root $id only names the document: refs may use it as base */
    cc->s->base_id = cairn_xstrndup(json_string_value(v),
                                    strcspn(json_string_value(v), "#"));
    return CAIRN_OK;
  }
  if (strcmp(kw, "$defs") == 0 || strcmp(kw, "definitions") == 0)
    return get_schema_map(cc, n, kw, v, depth, NULL, NULL);

  /* numbers */
  if (strcmp(kw, "minimum") == 0)
    return get_number(cc, n, kw, v, &n->minimum);
  if (strcmp(kw, "maximum") == 0)
    return get_number(cc, n, kw, v, &n->maximum);
  if (strcmp(kw, "exclusiveMinimum") == 0)
    return get_number(cc, n, kw, v, &n->ex_minimum);
  if (strcmp(kw, "exclusiveMaximum") == 0)
    return get_number(cc, n, kw, v, &n->ex_maximum);
  if (strcmp(kw, "multipleOf") == 0) {
    if (!json_is_number(v) || json_number_value(v) <= 0)
      return bad(cc, n->ptr, kw, "multipleOf must be a number above 0");
    n->multiple_of = v;
    return CAIRN_OK;
  }

  /* strings */
  if (strcmp(kw, "minLength") == 0)
    return get_count(cc, n, kw, v, &n->min_length);
  if (strcmp(kw, "maxLength") == 0)
    return get_count(cc, n, kw, v, &n->max_length);
  if (strcmp(kw, "pattern") == 0) {
    if (!json_is_string(v))
      return bad(cc, n->ptr, kw, "pattern must be a string");
    n->pattern_src = json_string_value(v);
    return compile_regex(cc, n->ptr, kw, NULL, n->pattern_src,
                         json_string_length(v), &n->pattern);
  }
  if (strcmp(kw, "format") == 0) {
    if (!json_is_string(v))
      return bad(cc, n->ptr, kw, "format must be a string");
    /* other formats are annotations (2020-12 format-annotation) */
    n->date_time = strcmp(json_string_value(v), "date-time") == 0;
    return CAIRN_OK;
  }

  /* arrays */
  if (strcmp(kw, "items") == 0) {
    pd->items = v;
    return CAIRN_OK;
  }
  if (strcmp(kw, "prefixItems") == 0) {
    pd->prefix_items = v;
    return CAIRN_OK;
  }
  if (strcmp(kw, "additionalItems") == 0) {
    pd->additional_items = v;
    return CAIRN_OK;
  }
  if (strcmp(kw, "minItems") == 0)
    return get_count(cc, n, kw, v, &n->min_items);
  if (strcmp(kw, "maxItems") == 0)
    return get_count(cc, n, kw, v, &n->max_items);
  if (strcmp(kw, "uniqueItems") == 0) {
    if (!json_is_boolean(v))
      return bad(cc, n->ptr, kw, "uniqueItems must be a boolean");
    n->unique_items = json_is_true(v);
    return CAIRN_OK;
  }
  if (strcmp(kw, "contains") == 0)
    return compile_sub(cc, v, n->ptr, kw, NULL, depth, &n->contains);
  if (strcmp(kw, "minContains") == 0)
    return get_count(cc, n, kw, v, &n->min_contains);
  if (strcmp(kw, "maxContains") == 0)
    return get_count(cc, n, kw, v, &n->max_contains);

  /* objects */
  if (strcmp(kw, "properties") == 0) {
    n->properties = v;
    return get_schema_map(cc, n, kw, v, depth, &n->props, &n->n_props);
  }
  if (strcmp(kw, "patternProperties") == 0)
    return compile_pattern_props(cc, n, v, depth);
  if (strcmp(kw, "additionalProperties") == 0)
    return compile_sub(cc, v, n->ptr, kw, NULL, depth, &n->additional);
  if (strcmp(kw, "propertyNames") == 0)
    return compile_sub(cc, v, n->ptr, kw, NULL, depth, &n->property_names);
  if (strcmp(kw, "required") == 0) {
    if (!is_string_array(v))
      return bad(cc, n->ptr, kw, "required must be an array of strings");
    n->required = v;
    return CAIRN_OK;
  }
  if (strcmp(kw, "minProperties") == 0)
    return get_count(cc, n, kw, v, &n->min_props);
  if (strcmp(kw, "maxProperties") == 0)
    return get_count(cc, n, kw, v, &n->max_props);
  if (strcmp(kw, "dependentRequired") == 0)
    return compile_deps(cc, n, kw, v, depth, 1, 0);
  if (strcmp(kw, "dependentSchemas") == 0)
    return compile_deps(cc, n, kw, v, depth, 0, 1);
  if (strcmp(kw, "dependencies") == 0)
    return compile_deps(cc, n, kw, v, depth, 1, 1);

  /* applicators */
  if (strcmp(kw, "allOf") == 0)
    return get_schema_list(cc, n, kw, v, depth, 0, &n->all_of, &n->n_all_of);
  if (strcmp(kw, "anyOf") == 0)
    return get_schema_list(cc, n, kw, v, depth, 0, &n->any_of, &n->n_any_of);
  if (strcmp(kw, "oneOf") == 0)
    return get_schema_list(cc, n, kw, v, depth, 0, &n->one_of, &n->n_one_of);
  if (strcmp(kw, "not") == 0)
    return compile_sub(cc, v, n->ptr, kw, NULL, depth, &n->not_);
  if (strcmp(kw, "if") == 0)
    return compile_sub(cc, v, n->ptr, kw, NULL, depth, &n->if_);
  if (strcmp(kw, "then") == 0)
    return compile_sub(cc, v, n->ptr, kw, NULL, depth, &n->then_);
  if (strcmp(kw, "else") == 0)
    return compile_sub(cc, v, n->ptr, kw, NULL, depth, &n->else_);

  if (is_annotation(kw))
    return CAIRN_OK;
  return bad(cc, n->ptr, kw, "unsupported keyword \"%s\"", kw);
}

static struct node *node_new(cairn_schema *s, const json_t *j,
                             const char *ptr)
{
  struct node *n = cairn_xcalloc(1, sizeof *n);

  n->src = j;
  n->ptr = cairn_xstrdup(ptr);
  n->min_length = n->max_length = -1;
  n->min_items = n->max_items = -1;
  n->min_contains = n->max_contains = -1;
  n->min_props = n->max_props = -1;
  if (s->n_nodes == s->cap_nodes) {
    s->cap_nodes = s->cap_nodes ? s->cap_nodes * 2 : 32;
    s->nodes = cairn_xrealloc(s->nodes, s->cap_nodes * sizeof *s->nodes);
  }
  s->nodes[s->n_nodes++] = n;
  return n;
}

static int compile_node(struct compiler *cc, const json_t *j,
                        const char *ptr, int depth, struct node **out)
{
  struct pending pd = {0};
  struct node *n;
  const char *kw;
  json_t *v;
  int rc;

  *out = NULL;
  if (depth > MAX_NEST)
    return bad(cc, ptr, NULL, "schema nested deeper than %d levels",
               MAX_NEST);
  if (!json_is_object(j) && !json_is_boolean(j))
    return bad(cc, ptr, NULL, "schema must be an object or a boolean");
  n = node_new(cc->s, j, ptr);
  *out = n;
  if (json_is_boolean(j)) {
    n->is_bool = 1;
    n->bool_val = json_is_true(j);
    return CAIRN_OK;
  }
  json_object_foreach((json_t *)j, kw, v) {
    rc = compile_keyword(cc, n, kw, v, depth, &pd);
    if (rc < 0)
      return rc;
  }
  return compile_items(cc, n, &pd, depth);
}

static int hexval(char ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* Decode %XX escapes of a URI fragment; NULL on a bad escape or %00. */
static char *percent_decode(const char *s)
{
  char *out = cairn_xmalloc(strlen(s) + 1), *o = out;
  int hi, lo;

  for (; *s; s++) {
    if (*s != '%') {
      *o++ = *s;
      continue;
    }
    hi = hexval(s[1]);
    lo = hi < 0 ? -1 : hexval(s[2]);
    if (lo < 0 || (hi == 0 && lo == 0)) {
      free(out);
      return NULL;
    }
    *o++ = (char)(hi * 16 + lo);
    s += 2;
  }
  *o = '\0';
  return out;
}

/* Walk an RFC 6901 pointer from 'root'; NULL if it does not resolve. */
static const json_t *pointer_get(const json_t *root, const char *ptr)
{
  const json_t *cur = root;
  char *seg = cairn_xmalloc(strlen(ptr) + 1);
  const char *p = ptr;
  char *o, *end;
  unsigned long long idx;

  while (cur && *p == '/') {
    p++;
    o = seg;
    while (*p && *p != '/') {
      if (*p == '~' && (p[1] == '0' || p[1] == '1')) {
        *o++ = p[1] == '0' ? '~' : '/';
        p += 2;
      } else if (*p == '~') {
        cur = NULL;
        break;
      } else {
        *o++ = *p++;
      }
    }
    *o = '\0';
    if (!cur)
      break;
    if (json_is_object(cur)) {
      cur = json_object_get(cur, seg);
    } else if (json_is_array(cur) && seg[0] >= '0' && seg[0] <= '9' &&
               (seg[0] != '0' || seg[1] == '\0')) {
      idx = strtoull(seg, &end, 10);
      cur = *end ? NULL : json_array_get(cur, (size_t)idx);
    } else {
      cur = NULL;
    }
  }
  free(seg);
  return *p ? NULL : cur;
}

static struct node *find_node(const cairn_schema *s, const json_t *j)
{
  size_t i;

  for (i = 0; i < s->n_nodes; i++)
    if (s->nodes[i]->src == j && !s->nodes[i]->is_bool)
      return s->nodes[i];
  return NULL;
}

/* Point n->ref at the node for its "$ref", compiling the target when it
 * lies outside the places the walk visited (e.g. "#/x-shared/a"). */
static int resolve_ref(struct compiler *cc, struct node *n)
{
  const char *ref = n->ref_str;
  const json_t *target;
  char *frag;
  size_t blen;

  blen = cc->s->base_id ? strlen(cc->s->base_id) : 0;
  if (blen && strncmp(ref, cc->s->base_id, blen) == 0 &&
      (ref[blen] == '#' || ref[blen] == '\0'))
    ref += blen; /* absolute URI of this very document */
  if (*ref == '\0')
    ref = "#";
  if (*ref != '#')
    return bad(cc, n->ptr, "$ref",
               "remote $ref \"%s\" is not supported (local \"#/...\" only)",
               n->ref_str);
  frag = percent_decode(ref + 1);
  if (!frag)
    return bad(cc, n->ptr, "$ref", "$ref \"%s\" has a bad %%-escape",
               n->ref_str);
  if (frag[0] != '\0' && frag[0] != '/') {
    free(frag);
    return bad(cc, n->ptr, "$ref",
               "$ref \"%s\" is not a JSON pointer (anchors are not supported)",
               n->ref_str);
  }
  target = pointer_get(cc->s->doc, frag);
  if (!target) {
    free(frag);
    return bad(cc, n->ptr, "$ref", "$ref \"%s\" does not resolve",
               n->ref_str);
  }
  n->ref = find_node(cc->s, target);
  if (!n->ref) {
    int rc = compile_node(cc, target, frag, 0, &n->ref);
    if (rc < 0) {
      free(frag);
      return rc;
    }
  }
  free(frag);
  return CAIRN_OK;
}

int cairn_schema_compile(json_t *doc, cairn_schema **out, cairn_err *err)
{
  struct compiler cc = {0};
  struct node *root;
  size_t i;
  int rc;

  *out = NULL;
  cc.err = err;
  cc.s = cairn_xcalloc(1, sizeof *cc.s);
  cc.s->doc = json_incref(doc);
  cc.cctx = pcre2_compile_context_create(NULL);
  if (!cc.cctx) {
    rc = CAIRN_RAISE(err, CAIRN_ENOMEM, 0, "pcre2 compile context");
    goto done;
  }
  pcre2_set_compile_extra_options(cc.cctx, PCRE2_EXTRA_ALT_BSUX);
  rc = compile_node(&cc, doc, "", 0, &root);
  if (rc < 0)
    goto done;
  /* nodes[] grows while refs compile new targets; index, not pointer */
  for (i = 0; i < cc.s->n_nodes; i++) {
    if (!cc.s->nodes[i]->ref_str)
      continue;
    rc = resolve_ref(&cc, cc.s->nodes[i]);
    if (rc < 0)
      goto done;
  }
  *out = cc.s;
  cc.s = NULL;
  rc = CAIRN_OK;
done:
  pcre2_compile_context_free(cc.cctx);
  cairn_schema_free(cc.s);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Validator                                                           */
/* ------------------------------------------------------------------ */

struct vctx {
  cairn_schema_error_fn fn;
  void             *ud;
  int               max_errors;  /* 0 = unlimited */
  int               n_reported;
  int               halted;      /* max_errors reached */
  int               quiet;       /* >0: yes/no only, stop at first error */
  int               nest;        /* evaluation nesting, <= MAX_NEST */
  int               ref_depth;   /* $ref hops on the stack */
  int               abort;       /* engine trouble: stop everything */
  char             *abort_msg;   /* owned */
  char             *abort_ptr;   /* owned */
  struct cairn_buf  ptr;         /* JSON pointer of the current instance */
  pcre2_match_data *md;
  cairn_schema_hide_fn hide;     /* NULL: every value may be quoted */
};

#define STOP(c, nerr) \
  ((c)->abort || ((c)->quiet ? (nerr) > 0 : (c)->halted))

typedef int (*check_fn)(const struct node *, const json_t *, struct vctx *);

static const char *cur_ptr(const struct vctx *c)
{
  return c->ptr.data ? c->ptr.data : "";
}

/* Report one error at the current pointer; returns 1 (one error). */
static int report(struct vctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Does the caller hide what is at this location from messages? */
static int hidden(struct vctx *c)
{
  return c->hide && c->hide(c->ud, cur_ptr(c));
}

/* The failing instance as a message quotes it: "value" where hidden. */
static void render_inst(struct cairn_buf *b, const json_t *inst,
                        struct vctx *c)
{
  if (hidden(c))
    (void)cairn_buf_puts(b, "value");
  else
    render(b, inst, 0);
}

static int report(struct vctx *c, const char *fmt, ...)
{
  va_list ap;
  char *msg;

  if (c->quiet || c->halted || c->abort)
    return 1;
  va_start(ap, fmt);
  msg = cairn_vstrfmt(fmt, ap);
  va_end(ap);
  if (c->fn)
    c->fn(c->ud, cur_ptr(c), msg);
  free(msg);
  c->n_reported++;
  if (c->max_errors > 0 && c->n_reported >= c->max_errors)
    c->halted = 1;
  return 1;
}

/* Stop the whole validation; the message is delivered at the end. */
static int fail_hard(struct vctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail_hard(struct vctx *c, const char *fmt, ...)
{
  va_list ap;

  if (c->abort)
    return 1;
  c->abort = 1;
  va_start(ap, fmt);
  c->abort_msg = cairn_vstrfmt(fmt, ap);
  va_end(ap);
  c->abort_ptr = cairn_xstrdup(cur_ptr(c));
  return 1;
}

/* 1 match, 0 no match; engine errors (match limit) stop validation. */
static int re_search(struct vctx *c, pcre2_code *re, const char *s,
                     size_t len)
{
  PCRE2_UCHAR text[256];
  int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, c->md, NULL);

  if (rc >= 0)
    return 1;
  if (rc == PCRE2_ERROR_NOMATCH)
    return 0;
  pcre2_get_error_message(rc, text, sizeof text);
  fail_hard(c, "regular expression failed: %s", (const char *)text);
  return 0;
}

static size_t ptr_enter_key(struct vctx *c, const char *key)
{
  size_t saved = c->ptr.len;

  ptr_push(&c->ptr, key);
  return saved;
}

static size_t ptr_enter_index(struct vctx *c, size_t i)
{
  size_t saved = c->ptr.len;

  (void)cairn_buf_printf(&c->ptr, "/%zu", i);
  return saved;
}

static void ptr_leave(struct vctx *c, size_t saved)
{
  c->ptr.len = saved;
  if (c->ptr.data)
    c->ptr.data[saved] = '\0';
}

static int validate(const struct node *n, const json_t *inst,
                    struct vctx *c);

/* Does inst satisfy n? Runs quietly: nothing is reported. */
static int matches(const struct node *n, const json_t *inst, struct vctx *c)
{
  int saved = c->quiet, nerr;

  c->quiet = 1;
  nerr = validate(n, inst, c);
  c->quiet = saved;
  return nerr == 0 && !c->abort;
}

static int validate_at_key(const struct node *n, const json_t *inst,
                           const char *key, struct vctx *c)
{
  size_t saved = ptr_enter_key(c, key);
  int nerr = validate(n, inst, c);

  ptr_leave(c, saved);
  return nerr;
}

/* --- generic --------------------------------------------------------- */

static int type_ok(unsigned mask, const json_t *v)
{
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return (mask & TY_OBJECT) != 0;
  case JSON_ARRAY:
    return (mask & TY_ARRAY) != 0;
  case JSON_STRING:
    return (mask & TY_STRING) != 0;
  case JSON_INTEGER:
    return (mask & (TY_INTEGER | TY_NUMBER)) != 0;
  case JSON_REAL:
    return (mask & TY_NUMBER) != 0 ||
           ((mask & TY_INTEGER) && is_integral(json_real_value(v)));
  case JSON_TRUE:
  case JSON_FALSE:
    return (mask & TY_BOOLEAN) != 0;
  default:
    return (mask & TY_NULL) != 0;
  }
}

static const char *type_of(const json_t *v)
{
  switch (json_typeof(v)) {
  case JSON_OBJECT:  return "object";
  case JSON_ARRAY:   return "array";
  case JSON_STRING:  return "string";
  case JSON_INTEGER: return "integer";
  case JSON_REAL:    return "number";
  case JSON_TRUE:
  case JSON_FALSE:   return "boolean";
  default:           return "null";
  }
}

static int check_type(const struct node *n, const json_t *inst,
                      struct vctx *c)
{
  struct cairn_buf b = {0};
  int i, nerr;

  if (!n->n_types || type_ok(n->type_mask, inst))
    return 0;
  if (c->quiet)
    return 1;
  for (i = 0; i < n->n_types; i++) {
    if (i > 0)
      (void)cairn_buf_puts(&b, i == n->n_types - 1 ? " or " : ", ");
    (void)cairn_buf_puts(&b, type_names[n->types[i]]);
  }
  nerr = report(c, "expected %s, got %s", b.data, type_of(inst));
  cairn_buf_free(&b);
  return nerr;
}

static int check_ref(const struct node *n, const json_t *inst,
                     struct vctx *c)
{
  int nerr;

  if (!n->ref)
    return 0;
  if (c->ref_depth >= CAIRN_SCHEMA_MAX_REF_DEPTH)
    return fail_hard(c, "schema recursion deeper than %d $ref levels",
                     CAIRN_SCHEMA_MAX_REF_DEPTH);
  c->ref_depth++;
  nerr = validate(n->ref, inst, c);
  c->ref_depth--;
  return nerr;
}

static int check_enum(const struct node *n, const json_t *inst,
                      struct vctx *c)
{
  struct cairn_buf b = {0};
  size_t i;
  int nerr;

  if (!n->enum_vals)
    return 0;
  for (i = 0; i < json_array_size(n->enum_vals); i++)
    if (json_same(inst, json_array_get(n->enum_vals, i)))
      return 0;
  if (c->quiet)
    return 1;
  render_inst(&b, inst, c);
  (void)cairn_buf_puts(&b, " is not one of ");
  for (i = 0; i < json_array_size(n->enum_vals); i++) {
    if (i > 0)
      (void)cairn_buf_puts(&b, ", ");
    render(&b, json_array_get(n->enum_vals, i), 1);
  }
  nerr = report(c, "%s", b.data);
  cairn_buf_free(&b);
  return nerr;
}

static int check_const(const struct node *n, const json_t *inst,
                       struct vctx *c)
{
  struct cairn_buf b = {0};
  int nerr;

  if (!n->const_val || json_same(inst, n->const_val))
    return 0;
  if (c->quiet)
    return 1;
  render(&b, n->const_val, 0);
  nerr = report(c, "must be %s", b.data);
  cairn_buf_free(&b);
  return nerr;
}

/* --- strings --------------------------------------------------------- */

static int check_string(const struct node *n, const json_t *inst,
                        struct vctx *c)
{
  const char *s;
  size_t len, count;
  struct cairn_buf b = {0};
  int nerr = 0;

  if (!json_is_string(inst))
    return 0;
  s = json_string_value(inst);
  len = json_string_length(inst);
  if (n->min_length >= 0 || n->max_length >= 0) {
    count = utf8_len(s, len);
    if (n->min_length >= 0 && count < (unsigned long long)n->min_length)
      nerr += report(c, "length %zu is less than minLength %lld", count,
                     n->min_length);
    if (n->max_length >= 0 && count > (unsigned long long)n->max_length)
      nerr += report(c, "length %zu is greater than maxLength %lld", count,
                     n->max_length);
    if (STOP(c, nerr))
      return nerr;
  }
  if (n->pattern && !re_search(c, n->pattern, s, len) && !c->abort) {
    if (c->quiet)
      return 1;
    render_inst(&b, inst, c);
    nerr += report(c, "%s does not match pattern %s", b.data, n->pattern_src);
    cairn_buf_reset(&b);
    if (STOP(c, nerr))
      goto done;
  }
  if (n->date_time && !cairn_clock_is_date_time(s, len)) {
    if (c->quiet) {
      nerr++;
      goto done;
    }
    render_inst(&b, inst, c);
    nerr += report(c, "%s is not a valid date-time", b.data);
  }
done:
  cairn_buf_free(&b);
  return nerr;
}

/* --- numbers --------------------------------------------------------- */

static int check_number(const struct node *n, const json_t *inst,
                        struct vctx *c)
{
  char a[40], b[40];
  int nerr = 0;

  if (!json_is_number(inst))
    return 0;
  if (hidden(c))
    snprintf(a, sizeof a, "value");
  else
    fmt_num(a, sizeof a, inst);
  if (n->minimum && num_cmp(inst, n->minimum) < 0) {
    fmt_num(b, sizeof b, n->minimum);
    nerr += report(c, "%s is less than minimum %s", a, b);
  }
  if (n->maximum && num_cmp(inst, n->maximum) > 0 && !STOP(c, nerr)) {
    fmt_num(b, sizeof b, n->maximum);
    nerr += report(c, "%s is greater than maximum %s", a, b);
  }
  if (n->ex_minimum && num_cmp(inst, n->ex_minimum) <= 0 &&
      !STOP(c, nerr)) {
    fmt_num(b, sizeof b, n->ex_minimum);
    nerr += report(c, "%s is less than or equal to exclusiveMinimum %s", a,
                   b);
  }
  if (n->ex_maximum && num_cmp(inst, n->ex_maximum) >= 0 &&
      !STOP(c, nerr)) {
    fmt_num(b, sizeof b, n->ex_maximum);
    nerr += report(c, "%s is greater than or equal to exclusiveMaximum %s",
                   a, b);
  }
  if (n->multiple_of && !STOP(c, nerr) &&
      !is_multiple(inst, n->multiple_of)) {
    fmt_num(b, sizeof b, n->multiple_of);
    nerr += report(c, "%s is not a multiple of %s", a, b);
  }
  return nerr;
}

/* --- arrays ---------------------------------------------------------- */

static int check_array(const struct node *n, const json_t *inst,
                       struct vctx *c)
{
  size_t size, i, j, saved, hits = 0;
  long long lo, hi;
  int nerr = 0;

  if (!json_is_array(inst))
    return 0;
  size = json_array_size(inst);
  if (n->min_items >= 0 && size < (unsigned long long)n->min_items)
    nerr += report(c, "item count %zu is less than minItems %lld", size,
                   n->min_items);
  if (n->max_items >= 0 && size > (unsigned long long)n->max_items)
    nerr += report(c, "item count %zu is greater than maxItems %lld", size,
                   n->max_items);
  if (STOP(c, nerr))
    return nerr;
  if (n->unique_items) {
    for (j = 1; j < size; j++) {
      for (i = 0; i < j; i++)
        if (json_same(json_array_get(inst, i), json_array_get(inst, j)))
          break;
      if (i < j) {
        nerr += report(c, "items %zu and %zu are equal", i, j);
        break;
      }
    }
    if (STOP(c, nerr))
      return nerr;
  }
  for (i = 0; i < size && i < n->n_prefix; i++) {
    saved = ptr_enter_index(c, i);
    nerr += validate(n->prefix[i], json_array_get(inst, i), c);
    ptr_leave(c, saved);
    if (STOP(c, nerr))
      return nerr;
  }
  if (n->rest && n->rest->is_bool && !n->rest->bool_val && size > i) {
    saved = ptr_enter_index(c, i);
    nerr += report(c, "unexpected item: at most %zu item%s allowed",
                   n->n_prefix, n->n_prefix == 1 ? "" : "s");
    ptr_leave(c, saved);
  } else if (n->rest) {
    for (; i < size; i++) {
      saved = ptr_enter_index(c, i);
      nerr += validate(n->rest, json_array_get(inst, i), c);
      ptr_leave(c, saved);
      if (STOP(c, nerr))
        return nerr;
    }
  }
  if (STOP(c, nerr) || !n->contains)
    return nerr;
  lo = n->min_contains >= 0 ? n->min_contains : 1;
  hi = n->max_contains;
  for (i = 0; i < size; i++) {
    hits += (size_t)matches(n->contains, json_array_get(inst, i), c);
    if (c->abort)
      return nerr + 1;
  }
  if ((long long)hits < lo) {
    if (hits == 0 && lo == 1)
      nerr += report(c, "no item matches \"contains\" schema");
    else
      nerr += report(c, "%zu items match \"contains\" schema, fewer than "
                        "minContains %lld", hits, lo);
  } else if (hi >= 0 && (long long)hits > hi) {
    nerr += report(c, "%zu items match \"contains\" schema, more than "
                      "maxContains %lld", hits, hi);
  }
  return nerr;
}

/* --- objects --------------------------------------------------------- */

static void capture_first(void *ud, const char *ptr, const char *msg)
{
  char **out = ud;

  (void)ptr;
  if (!*out)
    *out = cairn_xstrdup(msg);
}

/* propertyNames: each key, as a string, must match. One error per bad key
 * at that member's pointer, with the first reason. */
static int check_key_name(const struct node *n, const char *key,
                          struct vctx *c)
{
  struct vctx sub;
  json_t *name = json_string(key);
  char *why = NULL;
  size_t saved;
  int nerr = 0;

  if (!name)
    return 0; /* jansson keys are valid UTF-8; cannot happen */
  if (c->quiet) {
    nerr = !matches(n, name, c);
    json_decref(name);
    return nerr;
  }
  sub = *c;
  sub.fn = capture_first;
  sub.ud = &why;
  sub.max_errors = 1;
  sub.n_reported = 0;
  sub.halted = 0;
  sub.ptr.data = NULL;
  sub.ptr.len = sub.ptr.cap = 0;
  sub.abort_msg = sub.abort_ptr = NULL;
  (void)validate(n, name, &sub);
  cairn_buf_free(&sub.ptr);
  json_decref(name);
  if (sub.abort) {
    c->abort = 1;
    c->abort_msg = sub.abort_msg;
    c->abort_ptr = cairn_xstrdup(cur_ptr(c));
    free(sub.abort_ptr);
    free(why);
    return 1;
  }
  if (sub.n_reported > 0) {
    saved = ptr_enter_key(c, key);
    nerr = report(c, "invalid key: %s", why ? why : "rejected");
    ptr_leave(c, saved);
  }
  free(why);
  return nerr;
}

static int report_key(struct vctx *c, const char *key, const char *what)
{
  struct cairn_buf b = {0};
  size_t saved = ptr_enter_key(c, key);
  int nerr;

  render_key(&b, key);
  nerr = report(c, "%s key %s", what, b.data);
  ptr_leave(c, saved);
  cairn_buf_free(&b);
  return nerr;
}

static int cmp_name(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A key additionalProperties: false refuses, with the keys the object may
 * have: a misspelt key ("record" for "records") then shows its fix. */
static int report_unknown_key(const struct node *n, const char *key,
                              struct vctx *c)
{
  struct cairn_buf b = {0}, have = {0};
  const char **names;
  size_t saved;
  int nerr;

  if (c->quiet || c->halted || c->abort || !n->n_props)
    return report_key(c, key, "unknown");
  names = cairn_xcalloc(n->n_props, sizeof *names);
  for (size_t i = 0; i < n->n_props; i++)
    names[i] = n->props[i].name;
  qsort(names, n->n_props, sizeof *names, cmp_name);
  for (size_t i = 0; i < n->n_props; i++) {
    cairn_buf_puts(&have, i ? ", " : "");
    cairn_buf_puts(&have, names[i]); /* the schema's own names */
  }
  free(names);
  saved = ptr_enter_key(c, key);
  render_key(&b, key);
  nerr = report(c, "unknown key %s (have: %s)", b.data, have.data);
  ptr_leave(c, saved);
  cairn_buf_free(&b);
  cairn_buf_free(&have);
  return nerr;
}

/* properties, patternProperties, additionalProperties, propertyNames */
static int check_members(const struct node *n, const json_t *inst,
                         struct vctx *c)
{
  const char *key;
  json_t *v;
  size_t i;
  int nerr = 0, covered;

  for (i = 0; i < n->n_props; i++) {
    v = json_object_get(inst, n->props[i].name);
    if (!v)
      continue;
    if (n->props[i].schema->is_bool && !n->props[i].schema->bool_val)
      nerr += report_key(c, n->props[i].name, "forbidden");
    else
      nerr += validate_at_key(n->props[i].schema, v, n->props[i].name, c);
    if (STOP(c, nerr))
      return nerr;
  }
  if (!n->n_pprops && !n->additional && !n->property_names)
    return nerr;
  json_object_foreach((json_t *)inst, key, v) {
    if (n->property_names) {
      nerr += check_key_name(n->property_names, key, c);
      if (STOP(c, nerr))
        return nerr;
    }
    covered = n->properties && json_object_get(n->properties, key);
    for (i = 0; i < n->n_pprops; i++) {
      if (!re_search(c, n->pprops[i].re, key, strlen(key))) {
        if (c->abort)
          return nerr + 1;
        continue;
      }
      covered = 1;
      if (n->pprops[i].schema->is_bool && !n->pprops[i].schema->bool_val)
        nerr += report_key(c, key, "forbidden");
      else
        nerr += validate_at_key(n->pprops[i].schema, v, key, c);
      if (STOP(c, nerr))
        return nerr;
    }
    if (covered || !n->additional)
      continue;
    if (n->additional->is_bool && !n->additional->bool_val)
      nerr += report_unknown_key(n, key, c);
    else
      nerr += validate_at_key(n->additional, v, key, c);
    if (STOP(c, nerr))
      return nerr;
  }
  return nerr;
}

static int check_object(const struct node *n, const json_t *inst,
                        struct vctx *c)
{
  struct cairn_buf b = {0};
  size_t size, i, j;
  const char *name;
  int nerr = 0;

  if (!json_is_object(inst))
    return 0;
  size = json_object_size(inst);
  if (n->min_props >= 0 && size < (unsigned long long)n->min_props)
    nerr += report(c, "property count %zu is less than minProperties %lld",
                   size, n->min_props);
  if (n->max_props >= 0 && size > (unsigned long long)n->max_props)
    nerr += report(c,
                   "property count %zu is greater than maxProperties %lld",
                   size, n->max_props);
  for (i = 0; n->required && i < json_array_size(n->required); i++) {
    if (STOP(c, nerr))
      goto done;
    name = json_string_value(json_array_get(n->required, i));
    if (json_object_get(inst, name))
      continue;
    cairn_buf_reset(&b);
    render_key(&b, name);
    nerr += report(c, "missing required key %s", b.data);
  }
  for (i = 0; i < n->n_dep_req; i++) {
    if (!json_object_get(inst, n->dep_req[i].name))
      continue;
    for (j = 0; j < json_array_size(n->dep_req[i].keys); j++) {
      if (STOP(c, nerr))
        goto done;
      name = json_string_value(json_array_get(n->dep_req[i].keys, j));
      if (json_object_get(inst, name))
        continue;
      cairn_buf_reset(&b);
      render_key(&b, n->dep_req[i].name);
      (void)cairn_buf_puts(&b, " requires key ");
      render_key(&b, name);
      nerr += report(c, "key %s", b.data);
    }
  }
  for (i = 0; i < n->n_dep_schemas; i++) {
    if (STOP(c, nerr))
      goto done;
    if (json_object_get(inst, n->dep_schemas[i].name))
      nerr += validate(n->dep_schemas[i].schema, inst, c);
  }
  if (!STOP(c, nerr))
    nerr += check_members(n, inst, c);
done:
  cairn_buf_free(&b);
  return nerr;
}

/* --- applicators ----------------------------------------------------- */

/* The value a schema pins down with const or a one-member enum. */
static const json_t *pinned_value(const struct node *n)
{
  int hops;

  for (hops = 0; n && hops < 8; hops++, n = n->ref) {
    if (n->const_val)
      return n->const_val;
    if (n->enum_vals && json_array_size(n->enum_vals) == 1)
      return json_array_get(n->enum_vals, 0);
  }
  return NULL;
}

/* Does branch b carry a discriminator (a property pinned by const) and does
 * inst agree with all of them? Returns 1 agree, 0 disagree, -1 none. */
static int discriminates(const struct node *b, const json_t *inst,
                         const char **key, const json_t **want)
{
  int hops, verdict = -1;
  size_t i;
  const json_t *w, *v;

  *key = NULL;
  *want = NULL;
  if (!json_is_object(inst))
    return -1;
  for (hops = 0; b && hops < 8; hops++, b = b->ref) {
    for (i = 0; i < b->n_props; i++) {
      w = pinned_value(b->props[i].schema);
      if (!w)
        continue;
      if (!*key) {
        *key = b->props[i].name;
        *want = w;
      }
      v = json_object_get(inst, b->props[i].name);
      if (!v || !json_same(v, w))
        return 0;
      verdict = 1;
    }
  }
  return verdict;
}

/* anyOf/oneOf matched nothing. If exactly one branch is selected by its
 * discriminator, report that branch's own errors; if every branch has a
 * discriminator on the same key and none fits, report that key like an
 * enum; else one summary error. */
static int report_no_branch(struct node *const *br, size_t n_br,
                            const json_t *inst, const char *kw,
                            struct vctx *c)
{
  struct cairn_buf b = {0};
  const char *key, *common = NULL;
  const json_t *want;
  size_t i, picked = 0, n_agree = 0, n_same_key = 0, saved;
  int nerr, d;

  if (c->quiet)
    return 1;
  for (i = 0; i < n_br; i++) {
    d = discriminates(br[i], inst, &key, &want);
    if (d == 1) {
      n_agree++;
      picked = i;
    }
    if (key && (!common || strcmp(key, common) == 0)) {
      common = key;
      n_same_key++;
    }
  }
  if (n_agree == 1) {
    nerr = validate(br[picked], inst, c);
    if (nerr > 0 || c->abort)
      return nerr > 0 ? nerr : 1;
  }
  if (n_agree == 0 && common && n_same_key == n_br &&
      json_object_get(inst, common)) {
    render(&b, json_object_get(inst, common), 0);
    (void)cairn_buf_puts(&b, " is not one of ");
    for (i = 0; i < n_br; i++) {
      (void)discriminates(br[i], inst, &key, &want);
      if (i > 0)
        (void)cairn_buf_puts(&b, ", ");
      render(&b, want, 1);
    }
    saved = ptr_enter_key(c, common);
    nerr = report(c, "%s", b.data);
    ptr_leave(c, saved);
    cairn_buf_free(&b);
    return nerr;
  }
  return report(c, "matches none of %s", kw);
}

static int check_applicators(const struct node *n, const json_t *inst,
                             struct vctx *c)
{
  size_t i, hits;
  int nerr = 0;

  for (i = 0; i < n->n_all_of; i++) {
    nerr += validate(n->all_of[i], inst, c);
    if (STOP(c, nerr))
      return nerr;
  }
  if (n->n_any_of) {
    for (i = 0; i < n->n_any_of; i++)
      if (matches(n->any_of[i], inst, c) || c->abort)
        break;
    if (c->abort)
      return nerr + 1;
    if (i == n->n_any_of)
      nerr += report_no_branch(n->any_of, n->n_any_of, inst, "anyOf", c);
    if (STOP(c, nerr))
      return nerr;
  }
  if (n->n_one_of) {
    hits = 0;
    for (i = 0; i < n->n_one_of && !c->abort; i++)
      hits += (size_t)matches(n->one_of[i], inst, c);
    if (c->abort)
      return nerr + 1;
    if (hits == 0)
      nerr += report_no_branch(n->one_of, n->n_one_of, inst, "oneOf", c);
    else if (hits > 1)
      nerr += report(c, "matches %zu schemas of oneOf, expected exactly 1",
                     hits);
    if (STOP(c, nerr))
      return nerr;
  }
  if (n->not_) {
    if (matches(n->not_, inst, c))
      nerr += report(c, "must not match \"not\" schema");
    else if (c->abort)
      return nerr + 1;
    if (STOP(c, nerr))
      return nerr;
  }
  if (n->if_ && (n->then_ || n->else_)) {
    if (matches(n->if_, inst, c)) {
      if (n->then_)
        nerr += validate(n->then_, inst, c);
    } else if (c->abort) {
      return nerr + 1;
    } else if (n->else_) {
      nerr += validate(n->else_, inst, c);
    }
  }
  return nerr;
}

/* Order matters only for messages: a wrong type ends the node's checks,
 * since every other keyword would just restate it. */
static const check_fn checks[] = {
  check_ref, check_enum, check_const, check_string, check_number,
  check_array, check_object, check_applicators,
};

static int validate(const struct node *n, const json_t *inst, struct vctx *c)
{
  size_t i;
  int nerr;

  if (n->is_bool)
    return n->bool_val ? 0 : report(c, "value is not allowed");
  if (c->nest >= MAX_NEST)
    return fail_hard(c, "schema evaluation nested deeper than %d levels",
                     MAX_NEST);
  c->nest++;
  nerr = check_type(n, inst, c);
  for (i = 0; !nerr && i < sizeof checks / sizeof checks[0]; i++) {
    nerr += checks[i](n, inst, c);
    if (STOP(c, nerr))
      break;
  }
  c->nest--;
  return nerr;
}

int cairn_schema_validate(const cairn_schema *s, const json_t *inst,
                          cairn_schema_error_fn fn, void *ud, int max_errors)
{
  return cairn_schema_validate_hiding(s, inst, fn, NULL, ud, max_errors);
}

int cairn_schema_validate_hiding(const cairn_schema *s, const json_t *inst,
                                 cairn_schema_error_fn fn,
                                 cairn_schema_hide_fn hide, void *ud,
                                 int max_errors)
{
  struct vctx c;

  memset(&c, 0, sizeof c);
  c.fn = fn;
  c.hide = hide;
  c.ud = ud;
  c.max_errors = max_errors > 0 ? max_errors : 0;
  c.md = pcre2_match_data_create(1, NULL);
  if (!c.md) {
    fprintf(stderr, "cairn: out of memory allocating pcre2 match data\n");
    abort();
  }
  (void)cairn_buf_puts(&c.ptr, "");
  (void)validate(s->nodes[0], inst, &c);
  if (c.abort && !c.halted) {
    if (c.fn)
      c.fn(c.ud, c.abort_ptr, c.abort_msg);
    c.n_reported++;
  }
  free(c.abort_msg);
  free(c.abort_ptr);
  cairn_buf_free(&c.ptr);
  pcre2_match_data_free(c.md);
  return c.n_reported;
}
