/* SPDX-License-Identifier: MIT */
/* transform.c -- compile a job's "transform" object against a contract and
 * map raw records into batch rows.
 *
 * Per record: bind CSV columns when a new header starts (never per row),
 * run each field's function chain (fn.c) on a value read straight from the
 * record, coerce the result to the field's contract type, check it with
 * the checks derived from the contract at compile time (required, type,
 * enum, flat tags), apply the PII policy, and append either one row per
 * item or one reject carrying every reason. Text made along the way lives
 * in a scratch arena reset per record, so a steady stream of good records
 * allocates only in the batch arena. Contracts using schema keywords the
 * fast checks do not cover are also validated row by row with the full
 * JSON Schema validator. See docs/internals/transform.md. */
#include "transform/transform.h"

#include "core/codec.h"
#include "core/jschema.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/mem.h"
#include "transform/fn.h"
#include "transform/pii.h"

#include <float.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* PII policies, ordered by strength: when one source column feeds fields
 * with different policies, the raw text of a reject gets the strongest. */
enum { PII_KEEP = 0, PII_HASH, PII_ENCRYPT, PII_DROP };

struct xf_field {
  const char *name;          /* borrowed from the contract */
  int         type;          /* enum cairn_ftype */
  int         required;
  int         mapped;
  long        from;          /* interned "from" source, or -1 */
  struct cairn__fn_call *calls; /* the chain (owned) */
  size_t      n_calls;
  int         tolerant;      /* a missing source reads as null */
  char      **enums;         /* allowed strings (owned), n_enum of them */
  size_t     *enum_len;
  size_t      n_enum;
  int         enum_null;     /* null is one of the enum's values */
  int         flat_only;     /* object members must be scalars */
  int         pii;           /* PII_* */
  int         redact;        /* reasons never quote values: the field
                                has a policy, or reads a source that a
                                field with a policy reads */
  unsigned char key[CAIRN_PII_KEY_LEN]; /* encrypt key */
  char       *key_id;        /* encrypt key id (owned) */
  size_t     *refs;          /* sources the chain reads (owned) */
  size_t      n_refs;
  /* A chain that reads nothing of the record (no "from", no function
   * that reads columns: a "header" or a constant, then functions of that)
   * has one value per page: it is mapped once per page metadata and
   * reused (memo_page). */
  int         per_page;
  const json_t *memo_meta;   /* the metadata memo was made for (a
                                reference, so that no later page's can
                                take its address), or NULL */
  struct cairn_xv memo;      /* its value; texts in memo_text */
  struct cairn_buf memo_text;
};

struct cairn_transform {
  const struct cairn_contract *c;  /* borrowed */
  json_t               *cfg;        /* what it was compiled from (a ref) */
  int                   quiet;      /* a clone: the original warns */
  struct xf_field      *f;          /* one per contract field, in order */
  struct cairn__srcs    srcs;
  struct cairn__scratch scratch;
  struct cairn__fctx    cx;
  double                max_reject_ratio;
  long                  explode;    /* interned pointer, or -1 */
  int                   full_validate;
  cairn_schema         *schema;     /* only when full_validate */
  unsigned char         hmac_key[CAIRN_PII_KEY_LEN];
  int                   has_hmac;
  int                   raw_rewrite; /* some source feeds a PII policy */
  int                  *src_policy;  /* per source: strongest PII_* */
  size_t               *src_field;   /* per source: field of that policy */
  struct cairn_xv      *vals;       /* rows being mapped (items x fields) */
  size_t                cap_vals;
  struct cairn_buf      reasons;    /* "field: why; ..." */
  int                   key_bad;    /* a reason names a key field (or
                                       the whole record) */
  struct cairn_buf      key;        /* a reject's key (reject_key) */
  struct cairn_buf      enc;        /* encryption output */
  long                  span_field; /* the first partition field taken by
                                       its date, or -1 */
  char                  span_from[11]; /* the period (set_span), empty:
                                          none */
  char                  span_to[11];
  char                  span_what[64]; /* how rejects name the period */
};

/* ---- compile ---------------------------------------------------------- */

struct cctx {
  cairn_transform *t;
  char           **ptr_out;
  cairn_err       *err;
};

static int fail(struct cctx *cc, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct cctx *cc, const char *ptr, const char *fmt, ...)
{
  char msg[CAIRN_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (cc->ptr_out && !*cc->ptr_out)
    *cc->ptr_out = cairn_xstrdup(ptr);
  return CAIRN_RAISE(cc->err, CAIRN_EUSAGE, 0, "%s", msg);
}

/* Pointer "base/token" (token escaped) into b; returns b->data. */
static const char *ptr_join(struct cairn_buf *b, const char *base,
                            const char *token)
{
  b->len = 0;
  cairn_buf_puts(b, base);
  cairn_json_pointer_append(b, token);
  return b->data;
}

static char *field_names(const struct cairn_contract *c)
{
  struct cairn_buf b = {0};
  for (size_t i = 0; i < c->n_fields; i++)
    cairn_buf_printf(&b, "%s%s", i ? ", " : "", c->fields[i].name);
  return cairn_buf_take(&b);
}

static long lookup_field(struct cctx *cc, const char *name, const char *ptr)
{
  const struct cairn_contract *c = cc->t->c;
  long idx = cairn_contract_field(c, name);
  if (idx < 0) {
    char *have = field_names(c);
    fail(cc, ptr, "unknown field \"%s\" in contract %s (have: %s)", name,
         c->name, have);
    free(have);
  }
  return idx;
}

static void add_ref(struct xf_field *f, size_t ref)
{
  for (size_t i = 0; i < f->n_refs; i++)
    if (f->refs[i] == ref)
      return;
  f->refs = cairn_xrealloc(f->refs, (f->n_refs + 1) * sizeof *f->refs);
  f->refs[f->n_refs++] = ref;
}

static int compile_field(struct cctx *cc, const char *key,
                         const json_t *spec)
{
  cairn_transform *t = cc->t;
  struct cairn_buf pb = {0}, sub = {0};
  const json_t *from = NULL, *fns = NULL;
  struct xf_field *f;
  char msg[512], sptr[256];
  long idx;
  int rc = CAIRN_OK;

  ptr_join(&pb, "/fields", key);
  idx = lookup_field(cc, key, pb.data);
  if (idx < 0) {
    rc = CAIRN_EUSAGE;
    goto done;
  }
  f = &t->f[idx];
  f->mapped = 1;
  if (json_is_string(spec)) {
    from = spec;
  } else if (json_is_object(spec)) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)spec, k, v) {
      if (strcmp(k, "from") != 0 && strcmp(k, "fn") != 0) {
        rc = fail(cc, ptr_join(&sub, pb.data, k), "unknown key \"%s\" in the "
                  "mapping of \"%s\" (have: from, fn)", k, key);
        goto done;
      }
    }
    from = json_object_get(spec, "from");
    fns = json_object_get(spec, "fn");
  } else {
    rc = fail(cc, pb.data, "the mapping of \"%s\" is a source name or "
              "{\"from\": ..., \"fn\": [...]}", key);
    goto done;
  }
  if (from) {
    const char *fp = json_is_string(spec) ? pb.data
                                          : ptr_join(&sub, pb.data, "from");
    if (!json_is_string(from)) {
      rc = fail(cc, fp, "\"from\" is a column name or a JSON pointer");
      goto done;
    }
    if (cairn__src_check(json_string_value(from), msg, sizeof msg) < 0) {
      rc = fail(cc, fp, "%s", msg);
      goto done;
    }
    f->from = (long)cairn__src_intern(&t->srcs, json_string_value(from));
    add_ref(f, (size_t)f->from);
  }
  if (fns && !json_is_array(fns)) {
    rc = fail(cc, ptr_join(&sub, pb.data, "fn"), "\"fn\" is a list of "
              "functions");
    goto done;
  }
  if (!from && json_array_size(fns) == 0) {
    rc = fail(cc, pb.data, "field \"%s\" needs \"from\" or \"fn\"", key);
    goto done;
  }
  f->calls = cairn_xcalloc(json_array_size(fns) + 1, sizeof *f->calls);
  for (size_t i = 0; i < json_array_size(fns); i++) {
    struct cairn__fn_call *call = &f->calls[i];
    size_t refs[64], n;
    sub.len = 0;
    cairn_buf_printf(&sub, "%s/fn/%zu", pb.data, i);
    if (cairn__fn_compile(json_array_get(fns, i), &t->srcs, call, msg,
                          sizeof msg, sptr, sizeof sptr) < 0) {
      cairn__fn_call_clear(call);
      cairn_buf_puts(&sub, sptr);
      rc = fail(cc, sub.data, "%s", msg);
      goto done;
    }
    f->n_calls++;
    if (i == 0 && from && (cairn__fn_flags(call) & CAIRN__FN_SOURCE)) {
      rc = fail(cc, sub.data, "function \"%s\" ignores its input: remove "
                "\"from\" from \"%s\"", cairn__fn_name(call), key);
      goto done;
    }
    if (cairn__fn_flags(call) & CAIRN__FN_TOLERANT)
      f->tolerant = 1;
    n = cairn__fn_refs(call, refs, sizeof refs / sizeof refs[0]);
    for (size_t r = 0; r < n; r++)
      add_ref(f, refs[r]);
  }
done:
  cairn_buf_free(&pb);
  cairn_buf_free(&sub);
  return rc;
}

static int parse_key(struct cctx *cc, const json_t *v, const char *ptr,
                     unsigned char key[CAIRN_PII_KEY_LEN])
{
  char msg[256];
  if (!json_is_string(v))
    return fail(cc, ptr, "a key is a string (64 hex digits or base64), "
                "usually \"${secret:NAME}\"");
  if (cairn_pii_key_parse(json_string_value(v), key, msg, sizeof msg) < 0)
    return fail(cc, ptr, "%s", msg);
  return CAIRN_OK;
}

static int compile_pii(struct cctx *cc, const json_t *pii)
{
  cairn_transform *t = cc->t;
  const struct cairn_contract *c = t->c;
  struct cairn_buf pb = {0}, sub = {0};
  const json_t *hk, *v;
  const char *k;
  int rc = CAIRN_OK;
  char *named = cairn_xcalloc(c->n_fields + 1, 1);

  if (pii && !json_is_object(pii)) {
    rc = fail(cc, "/pii", "\"pii\" is an object: {\"field\": \"keep\" | "
              "\"drop\" | \"hash\" | {\"encrypt\": {...}}, \"hmac_key\": "
              "...}");
    goto done;
  }
  hk = pii ? json_object_get(pii, "hmac_key") : NULL;
  if (hk) {
    rc = parse_key(cc, hk, "/pii/hmac_key", t->hmac_key);
    if (rc < 0)
      goto done;
    t->has_hmac = 1;
  }
  json_object_foreach((json_t *)pii, k, v) {
    struct xf_field *f;
    long idx;
    if (strcmp(k, "hmac_key") == 0)
      continue;
    ptr_join(&pb, "/pii", k);
    idx = lookup_field(cc, k, pb.data);
    if (idx < 0) {
      rc = CAIRN_EUSAGE;
      goto done;
    }
    f = &t->f[idx];
    named[idx] = 1;
    if (json_is_string(v) && strcmp(json_string_value(v), "keep") == 0) {
      f->pii = PII_KEEP;
    } else if (json_is_string(v) &&
               strcmp(json_string_value(v), "drop") == 0) {
      if (f->required) {
        rc = fail(cc, pb.data, "cannot drop \"%s\": contract %s requires it",
                  k, c->name);
        goto done;
      }
      f->pii = PII_DROP;
    } else if (json_is_string(v) &&
               strcmp(json_string_value(v), "hash") == 0) {
      if (!t->has_hmac) {
        rc = fail(cc, pb.data, "\"hash\" needs \"hmac_key\" in \"pii\"");
        goto done;
      }
      f->pii = PII_HASH;
    } else if (json_is_object(v) && json_object_size(v) == 1 &&
               json_is_object(json_object_get(v, "encrypt"))) {
      const json_t *e = json_object_get(v, "encrypt");
      const json_t *id = json_object_get(e, "key_id");
      const char *ek;
      json_t *ev;
      json_object_foreach((json_t *)e, ek, ev) {
        if (strcmp(ek, "key") != 0 && strcmp(ek, "key_id") != 0) {
          sub.len = 0;
          cairn_buf_printf(&sub, "%s/encrypt", pb.data);
          rc = fail(cc, ptr_join(&sub, sub.data, ek), "unknown key \"%s\" "
                    "in \"encrypt\" (have: key, key_id)", ek);
          goto done;
        }
      }
      sub.len = 0;
      cairn_buf_printf(&sub, "%s/encrypt/key", pb.data);
      rc = parse_key(cc, json_object_get(e, "key"), sub.data, f->key);
      if (rc < 0)
        goto done;
      if (!cairn_pii_key_id_valid(json_string_value(id))) {
        sub.len = 0;
        cairn_buf_printf(&sub, "%s/encrypt/key_id", pb.data);
        rc = fail(cc, sub.data, "\"key_id\" is 1-64 characters of "
                  "A-Z a-z 0-9 . _ -");
        goto done;
      }
      f->key_id = cairn_xstrdup(json_string_value(id));
      f->pii = PII_ENCRYPT;
    } else {
      rc = fail(cc, pb.data, "a PII policy is \"keep\", \"drop\", \"hash\" "
                "or {\"encrypt\": {\"key\": ..., \"key_id\": ...}}");
      goto done;
    }
    if ((f->pii == PII_HASH || f->pii == PII_ENCRYPT) &&
        f->type != CAIRN_F_STRING) {
      rc = fail(cc, pb.data, "only string fields can be hashed or "
                "encrypted (\"%s\" is not)", k);
      goto done;
    }
  }
  for (size_t i = 0; i < c->n_fields && !t->quiet; i++)
    if (c->fields[i].pii && !named[i] && t->f[i].mapped)
      cairn_warn("transform: %s.%s is personal data (x-cairn-pii) and is "
                 "kept in clear; say so with \"pii\": {\"%s\": \"keep\"} "
                 "or choose drop, hash or encrypt", c->name,
                 c->fields[i].name, c->fields[i].name);
done:
  free(named);
  cairn_buf_free(&pb);
  cairn_buf_free(&sub);
  return rc;
}

/* Keywords the per-field checks fully cover. Anything else in a property
 * (pattern, minLength, $ref, ...) or at the root makes the transform run
 * the full validator on every row too. */
static int is_annotation(const char *k)
{
  static const char *const ann[] = {
    "description", "title", "$comment", "examples", "default",
    "deprecated", "readOnly", "writeOnly",
  };
  if (strncmp(k, "x-", 2) == 0)
    return 1;
  for (size_t i = 0; i < sizeof ann / sizeof ann[0]; i++)
    if (strcmp(k, ann[i]) == 0)
      return 1;
  return 0;
}

/* {"type": [a subset of string/number/integer/boolean/null that has
 * string, number, boolean and null]}: "members are scalars". */
static int is_scalar_members(const json_t *ap)
{
  const json_t *type = json_object_get(ap, "type");
  int seen = 0;
  if (!json_is_object(ap) || json_object_size(ap) != 1 ||
      !json_is_array(type))
    return 0;
  for (size_t i = 0; i < json_array_size(type); i++) {
    const char *s = json_string_value(json_array_get(type, i));
    if (!s)
      return 0;
    if (strcmp(s, "string") == 0)
      seen |= 1;
    else if (strcmp(s, "number") == 0)
      seen |= 2;
    else if (strcmp(s, "boolean") == 0)
      seen |= 4;
    else if (strcmp(s, "null") == 0)
      seen |= 8;
    else if (strcmp(s, "integer") != 0)
      return 0;
  }
  return seen == 15;
}

static void derive_checks(cairn_transform *t)
{
  const json_t *doc = t->c->schema;
  const json_t *props = json_object_get(doc, "properties");
  const char *k;
  json_t *v;

  json_object_foreach((json_t *)doc, k, v) {
    if (!is_annotation(k) && strcmp(k, "$schema") && strcmp(k, "$id") &&
        strcmp(k, "type") && strcmp(k, "properties") &&
        strcmp(k, "required") && strcmp(k, "additionalProperties"))
      t->full_validate = 1;
  }
  for (size_t i = 0; i < t->c->n_fields; i++) {
    struct xf_field *f = &t->f[i];
    const json_t *prop = json_object_get(props, f->name);
    json_object_foreach((json_t *)prop, k, v) {
      if (is_annotation(k) || strcmp(k, "type") == 0 ||
          strcmp(k, "format") == 0)
        continue;
      if (strcmp(k, "additionalProperties") == 0 &&
          f->type == CAIRN_F_OBJECT && is_scalar_members(v)) {
        f->flat_only = 1;
        continue;
      }
      if (strcmp(k, "enum") == 0 && json_is_array(v) &&
          f->type == CAIRN_F_STRING) {
        int ok = 1;
        for (size_t e = 0; e < json_array_size(v); e++)
          ok &= json_is_string(json_array_get(v, e)) ||
                json_is_null(json_array_get(v, e));
        if (ok) {
          f->enums = cairn_xcalloc(json_array_size(v) + 1, sizeof *f->enums);
          f->enum_len = cairn_xcalloc(json_array_size(v) + 1,
                                      sizeof *f->enum_len);
          for (size_t e = 0; e < json_array_size(v); e++) {
            const json_t *ev = json_array_get(v, e);
            if (!json_is_string(ev)) {
              f->enum_null = 1;
              continue;
            }
            f->enum_len[f->n_enum] = json_string_length(ev);
            f->enums[f->n_enum++] = cairn_xstrndup(json_string_value(ev),
                                                   json_string_length(ev));
          }
          continue;
        }
      }
      t->full_validate = 1;
    }
  }
}

/* Source s as a JSON pointer into the record, into b: a name is the
 * top-level member, $item the explode array ("" when there is none). */
static const char *src_pointer(const cairn_transform *t, size_t s,
                               struct cairn_buf *b)
{
  const struct cairn__src *src = &t->srcs.v[s];
  if (src->kind == CAIRN__SRC_NAME)
    return ptr_join(b, "", src->ref);
  b->len = 0;
  if (src->kind == CAIRN__SRC_PTR)
    cairn_buf_puts(b, src->ref);
  else if (src->kind == CAIRN__SRC_ITEM && t->explode >= 0)
    cairn_buf_puts(b, t->srcs.v[t->explode].ref);
  cairn_buf_putc(b, '\0');
  b->len--;
  return b->data;
}

/* Whether sources a and b can read the same value: the same reference, two
 * names equal but for case (one CSV column: names match case-insensitively),
 * or pointers one of which lies within the other ("/contact" and
 * "/contact/mail"; $item within its explode array). */
static int srcs_overlap(const cairn_transform *t, size_t a, size_t b)
{
  const struct cairn__src *x = &t->srcs.v[a], *y = &t->srcs.v[b];
  struct cairn_buf pa = {0}, pb = {0};
  const char *p, *q;
  size_t n;
  int rc;

  if (a == b)
    return 1;
  if (x->kind == CAIRN__SRC_POSITION || y->kind == CAIRN__SRC_POSITION)
    return 0;
  if (x->kind == CAIRN__SRC_NAME && y->kind == CAIRN__SRC_NAME &&
      strcasecmp(x->ref, y->ref) == 0)
    return 1;
  p = src_pointer(t, a, &pa);
  q = src_pointer(t, b, &pb);
  if (strlen(p) > strlen(q)) {
    const char *tmp = p;
    p = q;
    q = tmp;
  }
  n = strlen(p);
  rc = *p && strncmp(p, q, n) == 0 && (q[n] == '\0' || q[n] == '/');
  cairn_buf_free(&pa);
  cairn_buf_free(&pb);
  return rc;
}

/* Per source, the strongest PII policy of the fields reading it. */
static void derive_raw_policy(cairn_transform *t)
{
  t->src_policy = cairn_xcalloc(t->srcs.n + 1, sizeof *t->src_policy);
  t->src_field = cairn_xcalloc(t->srcs.n + 1, sizeof *t->src_field);
  for (size_t i = 0; i < t->c->n_fields; i++) {
    struct xf_field *f = &t->f[i];
    if (f->pii == PII_KEEP)
      continue;
    for (size_t r = 0; r < f->n_refs; r++) {
      size_t s = f->refs[r];
      if (t->srcs.v[s].kind != CAIRN__SRC_NAME &&
          t->srcs.v[s].kind != CAIRN__SRC_PTR &&
          t->srcs.v[s].kind != CAIRN__SRC_ITEM)
        continue;
      if (f->pii > t->src_policy[s]) {
        t->src_policy[s] = f->pii;
        t->src_field[s] = i;
      }
      t->raw_rewrite = 1;
    }
  }
  /* A field that reads what a policy protects (say a lookup on "/mail"
   * next to "mail": "hash") must not quote it in its reasons either: the
   * reasons go to the DLQ, the logs and `cairn dlq` next to the raw text
   * that hides it. */
  for (size_t i = 0; i < t->c->n_fields; i++) {
    struct xf_field *f = &t->f[i];
    f->redact = f->pii != PII_KEEP;
    for (size_t r = 0; r < f->n_refs && !f->redact; r++)
      for (size_t s = 0; s < t->srcs.n && !f->redact; s++)
        f->redact = t->src_policy[s] != PII_KEEP &&
                    srcs_overlap(t, f->refs[r], s);
  }
}

static int check_constant_fields(struct cctx *cc);

static const char *const cfg_keys[] = {
  "contract", "empty_is_null", "explode", "fields", "max_reject_ratio",
  "pii", "validate",
};

static int create(const json_t *cfg, const struct cairn_contract *c,
                  int quiet, cairn_transform **out, char **ptr_out,
                  cairn_err *err)
{
  cairn_transform *t = cairn_xcalloc(1, sizeof *t);
  struct cctx cc = { t, ptr_out, err };
  struct cairn_buf pb = {0};
  const json_t *fields, *v;
  const char *k;
  int rc = CAIRN_OK;

  *out = NULL;
  if (ptr_out)
    *ptr_out = NULL;
  t->c = c;
  t->cfg = json_incref((json_t *)cfg);
  t->quiet = quiet;
  t->max_reject_ratio = 1.0;
  t->explode = -1;
  t->span_field = -1;
  for (size_t p = 0; p < c->n_partition && t->span_field < 0; p++)
    if (cairn_contract_part_cut(c, p))
      t->span_field = (long)c->partition[p];
  t->f = cairn_xcalloc(c->n_fields + 1, sizeof *t->f);
  for (size_t i = 0; i < c->n_fields; i++) {
    t->f[i].name = c->fields[i].name;
    t->f[i].type = c->fields[i].type;
    t->f[i].required = c->fields[i].required;
    t->f[i].from = -1;
  }
  cairn__fctx_init(&t->cx, &t->scratch);
  t->cx.srcs = &t->srcs;

  if (!json_is_object(cfg)) {
    rc = fail(&cc, "", "\"transform\" is an object with \"contract\" and "
              "\"fields\"");
    goto done;
  }
  json_object_foreach((json_t *)cfg, k, v) {
    size_t i = 0;
    for (; i < sizeof cfg_keys / sizeof cfg_keys[0]; i++)
      if (strcmp(k, cfg_keys[i]) == 0)
        break;
    if (i == sizeof cfg_keys / sizeof cfg_keys[0]) {
      rc = fail(&cc, ptr_join(&pb, "", k), "unknown key \"%s\" in "
                "\"transform\" (have: contract, empty_is_null, explode, "
                "fields, max_reject_ratio, pii, validate)", k);
      goto done;
    }
  }
  v = json_object_get(cfg, "contract");
  if (v && (!json_is_string(v) || strcmp(json_string_value(v), c->name))) {
    rc = fail(&cc, "/contract", "\"contract\" must be \"%s\" here",
              c->name);
    goto done;
  }
  v = json_object_get(cfg, "max_reject_ratio");
  if (v) {
    if (!json_is_number(v) || json_number_value(v) < 0 ||
        json_number_value(v) > 1) {
      rc = fail(&cc, "/max_reject_ratio", "\"max_reject_ratio\" is a number "
                "from 0 to 1");
      goto done;
    }
    t->max_reject_ratio = json_number_value(v);
  }
  v = json_object_get(cfg, "empty_is_null");
  if (v) {
    if (!json_is_boolean(v)) {
      rc = fail(&cc, "/empty_is_null", "\"empty_is_null\" is true or false");
      goto done;
    }
    t->cx.empty_is_null = json_is_true(v);
  }
  v = json_object_get(cfg, "validate");
  if (v) {
    if (!json_is_string(v) || (strcmp(json_string_value(v), "fast") &&
                               strcmp(json_string_value(v), "full"))) {
      rc = fail(&cc, "/validate", "\"validate\" is \"fast\" or \"full\"");
      goto done;
    }
    t->full_validate = strcmp(json_string_value(v), "full") == 0;
  }
  v = json_object_get(cfg, "explode");
  if (v) {
    if (!json_is_string(v) || json_string_value(v)[0] != '/') {
      rc = fail(&cc, "/explode", "\"explode\" is a JSON pointer to an array");
      goto done;
    }
    t->explode = (long)cairn__src_intern(&t->srcs, json_string_value(v));
  }
  fields = json_object_get(cfg, "fields");
  if (!json_is_object(fields)) {
    rc = fail(&cc, fields ? "/fields" : "", "\"transform\" needs \"fields\": "
              "{\"<contract field>\": mapping, ...}");
    goto done;
  }
  json_object_foreach((json_t *)fields, k, v) {
    rc = compile_field(&cc, k, v);
    if (rc < 0)
      goto done;
  }
  pb.len = 0;
  for (size_t i = 0; i < c->n_fields; i++)
    if (c->fields[i].required && !t->f[i].mapped)
      cairn_buf_printf(&pb, "%s%s", pb.len ? ", " : "", c->fields[i].name);
  if (pb.len) {
    rc = fail(&cc, "/fields", "required fields of contract %s are not "
              "mapped: %s", c->name, pb.data);
    goto done;
  }
  rc = compile_pii(&cc, json_object_get(cfg, "pii"));
  if (rc < 0)
    goto done;
  for (size_t i = 0; i < c->n_fields; i++) {
    struct xf_field *f = &t->f[i];
    f->per_page = f->mapped && f->from < 0 && f->n_calls > 0 &&
                  f->pii == PII_KEEP;
    for (size_t j = 0; j < f->n_calls && f->per_page; j++)
      f->per_page = !cairn__fn_reads_record(&f->calls[j]);
  }
  derive_checks(t);
  derive_raw_policy(t);
  rc = check_constant_fields(&cc);
  if (rc < 0)
    goto done;
  if (t->full_validate) {
    rc = cairn_schema_compile(c->schema, &t->schema, err);
    if (rc < 0)
      goto done;
  }
  *out = t;
  t = NULL;
done:
  cairn_buf_free(&pb);
  cairn_transform_free(t);
  return rc;
}

int cairn_transform_create(const json_t *cfg, const struct cairn_contract *c,
                           cairn_transform **out, char **ptr_out,
                           cairn_err *err)
{
  return create(cfg, c, 0, out, ptr_out, err);
}

int cairn_transform_clone(const cairn_transform *t, cairn_transform **out,
                          cairn_err *err)
{
  int rc = create(t->cfg, t->c, 1, out, NULL, err);
  if (rc == CAIRN_OK)
    cairn_transform_set_span(*out, t->span_from[0] ? t->span_from : NULL,
                             t->span_to, t->span_what);
  return rc;
}

void cairn_transform_set_span(cairn_transform *t, const char *from,
                              const char *to, const char *what)
{
  t->span_from[0] = t->span_to[0] = t->span_what[0] = '\0';
  if (from && to && t->span_field >= 0) {
    snprintf(t->span_from, sizeof t->span_from, "%s", from);
    snprintf(t->span_to, sizeof t->span_to, "%s", to);
    snprintf(t->span_what, sizeof t->span_what, "%s", what ? what
             : "the period");
  }
}

void cairn_transform_free(cairn_transform *t)
{
  if (!t)
    return;
  for (size_t i = 0; t->f && i < t->c->n_fields; i++) {
    struct xf_field *f = &t->f[i];
    for (size_t j = 0; j < f->n_calls; j++)
      cairn__fn_call_clear(&f->calls[j]);
    free(f->calls);
    for (size_t e = 0; e < f->n_enum; e++)
      free(f->enums[e]);
    free(f->enums);
    free(f->enum_len);
    free(f->refs);
    free(f->key_id);
    OPENSSL_cleanse(f->key, sizeof f->key);
    json_decref((json_t *)f->memo_meta);
    cairn_buf_free(&f->memo_text);
  }
  free(t->f);
  json_decref(t->cfg);
  cairn__srcs_free(&t->srcs);
  cairn__fctx_free(&t->cx);
  cairn__scratch_free(&t->scratch);
  cairn_schema_free(t->schema);
  OPENSSL_cleanse(t->hmac_key, sizeof t->hmac_key);
  free(t->src_policy);
  free(t->src_field);
  free(t->vals);
  cairn_buf_free(&t->reasons);
  cairn_buf_free(&t->key);
  cairn_buf_free(&t->enc);
  free(t);
}

double cairn_transform_max_reject_ratio(const cairn_transform *t)
{
  return t->max_reject_ratio;
}

/* ---- apply ------------------------------------------------------------ */

/* Whether a reason about `field` (a contract field's name, or a JSON
 * pointer into the row without its leading '/': "tags/env") is about one
 * of the key fields. */
static int names_key(const cairn_transform *t, const char *field)
{
  for (size_t k = 0; k < t->c->n_key; k++) {
    const char *name = t->c->fields[t->c->key[k]].name;
    size_t n = strlen(name);
    if (strncmp(field, name, n) == 0 && (field[n] == '\0' || field[n] == '/'))
      return 1;
  }
  return 0;
}

static void reason(cairn_transform *t, const char *field, long item,
                   const char *why)
{
  struct cairn_buf *r = &t->reasons;
  if (!field || names_key(t, field))
    t->key_bad = 1;
  if (r->len)
    cairn_buf_puts(r, "; ");
  if (field)
    cairn_buf_printf(r, "%s: ", field);
  cairn_buf_puts(r, why);
  if (item >= 0)
    cairn_buf_printf(r, " (item %ld)", item);
}

static int coerce(struct cairn__fctx *cx, int type, struct cairn_xv *v)
{
  switch (type) {
  case CAIRN_F_NUMBER: return cairn__to_number(cx, v);
  case CAIRN_F_INTEGER: return cairn__to_integer(cx, v);
  case CAIRN_F_BOOLEAN: return cairn__to_bool(cx, v);
  case CAIRN_F_DATETIME: return cairn__to_utc(cx, v, CAIRN__UTC_AUTO);
  case CAIRN_F_OBJECT: return cairn__to_object(cx, v);
  case CAIRN_F_ARRAY: return cairn__to_array(cx, v);
  default: return cairn__to_string(cx, v);
  }
}

static void enum_reason(cairn_transform *t, const struct xf_field *f,
                        const struct cairn_xv *v, long item)
{
  struct cairn_buf b = {0};
  for (size_t e = 0; e < f->n_enum; e++)
    cairn_buf_printf(&b, "%s%s", e ? ", " : "", f->enums[e]);
  t->cx.redact = f->redact;
  if (v->type == CAIRN_V_NULL)
    snprintf(t->cx.why, sizeof t->cx.why, "null ");
  else
    cairn__why_value(&t->cx, v->s, v->n, "");
  /* why is "<value> ": complete it */
  {
    char why[CAIRN__WHY_MAX + 64];
    snprintf(why, sizeof why, "%sis not one of %s", t->cx.why,
             b.data ? b.data : "");
    reason(t, f->name, item, why);
  }
  cairn_buf_free(&b);
}

/* Keep v, the value of per-page field f mapped without a reason, as the
 * value of every record of the page whose metadata is meta. */
static void memo_page(struct xf_field *f, const json_t *meta,
                      const struct cairn_xv *v)
{
  json_decref((json_t *)f->memo_meta);
  f->memo_meta = json_incref((json_t *)meta);
  f->memo = *v;
  if (v->type == CAIRN_V_STR || v->type == CAIRN_V_NUM ||
      v->type == CAIRN_V_JSON) {
    f->memo_text.len = 0;
    cairn_buf_append(&f->memo_text, v->s, v->n);
    f->memo.s = f->memo_text.data;
  }
}

/* A required field that came out null. When it reads a member or pointer
 * that the JSON record does not have at all (not one that is null), say
 * so: a misspelt name ("assetId" for "asset_id") reads as absent on every
 * record, which "required but missing" alone leaves looking like the
 * source's fault. */
static void missing_reason(cairn_transform *t, const struct xf_field *f,
                           const struct cairn_record *rec, long item)
{
  const struct cairn__src *s = f->from >= 0 ? &t->srcs.v[f->from] : NULL;
  char why[160];

  if (!rec->json || !s ||
      (s->kind != CAIRN__SRC_NAME && s->kind != CAIRN__SRC_PTR) ||
      (s->kind == CAIRN__SRC_NAME ? json_object_get(rec->json, s->ref)
                                  : cairn_json_pointer_get(rec->json, s->ref))) {
    reason(t, f->name, item, "required but missing");
    return;
  }
  snprintf(why, sizeof why, "required but missing (the record has %s "
           "\"%.80s\")", s->kind == CAIRN__SRC_NAME ? "no member"
                                                     : "nothing at",
           s->ref);
  reason(t, f->name, item, why);
}

/* Map field i of the record (with cx->item set) into v; reasons are
 * appended. Inlined into map_row, the per-record loop (a call per field
 * cost 0.5 % of the cost export's instructions). */
static inline __attribute__((always_inline)) void
map_field(cairn_transform *t, size_t i, struct cairn_xv *v, long item)
{
  struct cairn__fctx *cx = &t->cx;
  struct xf_field *f = &t->f[i];
  size_t bad_at = 0, j;

  memset(v, 0, sizeof *v);
  if (!f->mapped)
    return;
  if (f->per_page && cx->rec->meta && f->memo_meta == cx->rec->meta) {
    *v = f->memo;
    return;
  }
  cx->redact = f->redact;
  if (f->from >= 0 && cairn__src_get(cx, (size_t)f->from, v) < 0) {
    if (!f->tolerant) {
      reason(t, f->name, item, cx->why);
      return;
    }
    memset(v, 0, sizeof *v);
  }
  for (j = 0; j < f->n_calls; j++)
    if (cairn__fn_apply(&f->calls[j], cx, v) < 0)
      break;
  if (j < f->n_calls || coerce(cx, f->type, v) < 0) {
    reason(t, f->name, item, cx->why);
    memset(v, 0, sizeof *v);
    return;
  }
  if (v->type == CAIRN_V_NULL) {
    if (f->required)
      missing_reason(t, f, cx->rec, item);
    else if (f->n_enum && !f->enum_null) /* as the schema's enum says */
      enum_reason(t, f, v, item);
    return;
  }
  if (f->n_enum) {
    size_t e = 0;
    for (; e < f->n_enum; e++)
      if (f->enum_len[e] == v->n && memcmp(f->enums[e], v->s, v->n) == 0)
        break;
    if (e == f->n_enum) {
      enum_reason(t, f, v, item);
      return;
    }
  }
  if (f->flat_only && !(v->flags & CAIRN__XV_FLAT)) {
    reason(t, f->name, item, "members must be strings, numbers, booleans "
           "or null, not objects or arrays");
    return;
  }
  if (v->type == CAIRN_V_STR &&
      (bad_at = cairn_utf8_check(v->s, v->n)) < v->n) {
    char why[64];
    snprintf(why, sizeof why, "not valid UTF-8 (byte %zu)", bad_at);
    reason(t, f->name, item, why);
    return;
  }
  switch (f->pii) {
  case PII_DROP:
    memset(v, 0, sizeof *v);
    break;
  case PII_HASH: {
    char *h = cairn__scratch_alloc(&t->scratch, 65);
    cairn_pii_hash_hex(t->hmac_key, v->s, v->n, h);
    v->s = h;
    v->n = 64;
    v->flags = 0;
    break;
  }
  case PII_ENCRYPT: {
    cairn_err e = {0};
    t->enc.len = 0;
    if (cairn_pii_encrypt(f->key, f->key_id, v->s, v->n, &t->enc, &e) < 0) {
      reason(t, f->name, item, e.msg);
      return;
    }
    v->s = cairn__scratch_dup(&t->scratch, t->enc.data, t->enc.len);
    v->n = t->enc.len;
    v->flags = 0;
    break;
  }
  default:
    break;
  }
  if (f->per_page && cx->rec->meta)
    memo_page(f, cx->rec->meta, v);
}

/* Map the record (with cx->item set) into vals; reasons are appended. */
static void map_row(cairn_transform *t, struct cairn_xv *vals, long item)
{
  for (size_t i = 0; i < t->c->n_fields; i++)
    map_field(t, i, &vals[i], item);
}

/* A field whose chain reads nothing of the record or its page (a "const",
 * or functions of no input) has one value for every record. When the
 * contract refuses that value (a const outside the field's enum, a const
 * null on a required field, text where a number goes), every record would
 * be rejected: the job is wrong, and is refused before anything runs. */
static int check_constant_fields(struct cctx *cc)
{
  cairn_transform *t = cc->t;
  struct cairn_record none = {0};
  struct cairn_buf pb = {0};
  int rc = CAIRN_OK;

  none.position = "";
  t->cx.rec = &none;
  for (size_t i = 0; i < t->c->n_fields && rc == CAIRN_OK; i++) {
    struct xf_field *f = &t->f[i];
    struct cairn_xv v;
    int constant = f->per_page;
    for (size_t j = 0; j < f->n_calls && constant; j++)
      constant = strcmp(cairn__fn_name(&f->calls[j]), "header") != 0;
    if (!constant)
      continue;
    t->reasons.len = 0;
    map_field(t, i, &v, -1);
    if (t->reasons.len)
      rc = fail(cc, ptr_join(&pb, "/fields", f->name), "the mapping gives "
                "every record the same value, which the contract refuses, "
                "so every record would be rejected: %s", t->reasons.data);
  }
  t->cx.rec = NULL;
  t->reasons.len = 0;
  t->key_bad = 0;
  cairn__scratch_reset(&t->scratch);
  cairn_buf_free(&pb);
  return rc;
}

/* Full JSON Schema validation of one mapped row. */
struct full_ud {
  cairn_transform *t;
  long item;
};

static void full_error(void *ud, const char *ptr, const char *msg)
{
  struct full_ud *u = ud;
  reason(u->t, *ptr ? ptr + 1 : "record", u->item, msg);
}

/* The validator's messages hide a value where the field's own reasons
 * would (f->redact: a PII policy, or a source one protects): the field
 * is the pointer's first token ("/mail/0": "mail"); the record itself
 * ("") when any field is. */
static int full_hide(void *ud, const char *ptr)
{
  const struct full_ud *u = ud;
  const cairn_transform *t = u->t;
  char *name = cairn_xmalloc(strlen(ptr) + 1);
  int hide = 0;

  *name = '\0'; /* the record itself: "" */
  cairn_json_pointer_token(ptr, name, strlen(ptr) + 1);
  for (size_t i = 0; i < t->c->n_fields && !hide; i++)
    hide = t->f[i].redact &&
           (!*name || strcmp(t->c->fields[i].name, name) == 0);
  free(name);
  return hide;
}

static void full_check(cairn_transform *t, const struct cairn_xv *vals,
                       long item)
{
  json_t *row = json_object();
  struct full_ud u = { t, item };
  for (size_t i = 0; i < t->c->n_fields; i++) {
    const struct cairn_xv *v = &vals[i];
    json_t *j = NULL;
    switch (v->type) {
    case CAIRN_V_STR: j = json_stringn_nocheck(v->s, v->n); break;
    case CAIRN_V_NUM: {
      char *s = cairn_xstrndup(v->s, v->n);
      double d = strtod(s, NULL);
      free(s);
      /* A decimal past a double's range (1e400, loaded as its text) is
       * the largest double of its sign to the validator: a number, above
       * (or below) every bound a schema can write. jansson holds no
       * infinity, and null made "expected number, got null" of it. */
      j = json_real(isfinite(d) ? d : copysign(DBL_MAX, d));
      break;
    }
    case CAIRN_V_INT: j = json_integer(v->i); break;
    case CAIRN_V_BOOL: j = json_boolean(v->i); break;
    case CAIRN_V_JSON:
      j = json_loadb(v->s, v->n, 0, NULL);
      if (!j) { /* only a number past a double's range fails to load */
        reason(t, t->c->fields[i].name, item, "holds a number past a "
               "double's range, which \"validate\": \"full\" cannot check");
        json_decref(row);
        return;
      }
      break;
    default: j = json_null(); break;
    }
    json_object_set_new(row, t->c->fields[i].name, j ? j : json_null());
  }
  cairn_schema_validate_hiding(t->schema, row, full_error, full_hide, &u, 0);
  json_decref(row);
}

static void csv_put(struct cairn_buf *b, const char *s, size_t n)
{
  if (!memchr(s, ',', n) && !memchr(s, '"', n) && !memchr(s, '\n', n) &&
      !memchr(s, '\r', n)) {
    cairn_buf_append(b, s, n);
    return;
  }
  cairn_buf_putc(b, '"');
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"')
      cairn_buf_putc(b, '"');
    cairn_buf_putc(b, s[i]);
  }
  cairn_buf_putc(b, '"');
}

/* The PII policy of source s applied to one raw text, into out. Returns
 * 0, or 1 when the value is dropped. */
static int raw_policy(cairn_transform *t, size_t s, const char *p, size_t n,
                      struct cairn_buf *out)
{
  const struct xf_field *f = &t->f[t->src_field[s]];
  char hex[65];
  cairn_err e = {0};
  switch (t->src_policy[s]) {
  case PII_HASH:
    cairn_pii_hash_hex(t->hmac_key, p, n, hex);
    cairn_buf_append(out, hex, 64);
    return 0;
  case PII_ENCRYPT:
    if (cairn_pii_encrypt(f->key, f->key_id, p, n, out, &e) == 0)
      return 0;
    return 1;
  default:
    return 1;
  }
}

/* v with source s's PII policy applied to its text (a string's, or the
 * canonical JSON of anything else): a new reference, JSON null when the
 * policy drops it. */
static json_t *policy_json(cairn_transform *t, size_t s, const json_t *v)
{
  struct cairn_buf in = {0}, o = {0};
  json_t *nv;
  if (json_is_string(v)) {
    cairn_buf_append(&in, json_string_value(v), json_string_length(v));
  } else {
    char *txt = cairn_json_canonical(v);
    cairn_buf_puts(&in, txt);
    free(txt);
  }
  nv = raw_policy(t, s, in.data, in.len, &o) == 0 ? json_stringn(o.data,
                                                                 o.len)
                                                  : NULL;
  cairn_buf_free(&in);
  cairn_buf_free(&o);
  return nv ? nv : json_null();
}

/* What the DLQ keeps instead of a record the PII policy cannot be applied
 * to: one the source could not split into its fields (a line that is not
 * JSON or JSON that is not an object, a CSV row with too many or too few
 * fields). */
#define RAW_WITHHELD "(raw record withheld: it could not be split into " \
                     "fields, so the job's PII policy cannot be applied)"

/* The raw text of a rejected record with the PII policy applied to every
 * source a non-keep PII field reads, appended to out (it may hold NUL
 * bytes: out->len says how long it is). */
static void reject_raw(cairn_transform *t, const struct cairn_record *rec,
                       struct cairn_buf *out)
{
  struct cairn_buf val = {0};
  /* JSON that is not an object (an array record) has no fields to apply
   * the policy at: withheld below, as a line that is not JSON is. */
  if (rec->json && (json_is_object(rec->json) || !t->raw_rewrite)) {
    json_t *copy = t->raw_rewrite ? json_deep_copy(rec->json) : NULL;
    char *s;
    for (size_t i = 0; copy && i < t->srcs.n; i++) {
      const struct cairn__src *src = &t->srcs.v[i];
      const char *ptr = src->ref;
      json_t *cur;
      if (!t->src_policy[i])
        continue;
      if (src->kind == CAIRN__SRC_NAME)
        ptr = ptr_join(&val, "", src->ref);
      else if (src->kind == CAIRN__SRC_ITEM) /* every element exploded */
        ptr = t->explode >= 0 ? t->srcs.v[t->explode].ref : "";
      cur = ptr[0] ? cairn_json_pointer_get(copy, ptr) : NULL;
      if (!cur || json_is_null(cur))
        continue;
      if (src->kind == CAIRN__SRC_ITEM && json_is_array(cur)) {
        for (size_t k = 0; k < json_array_size(cur); k++)
          if (!json_is_null(json_array_get(cur, k)))
            json_array_set_new(cur, k,
                               policy_json(t, i, json_array_get(cur, k)));
        continue;
      }
      if (cairn_json_pointer_set(copy, ptr, policy_json(t, i, cur)) < 0) {
        /* never the value without its policy */
        json_decref(copy);
        cairn_buf_puts(out, RAW_WITHHELD);
        goto done;
      }
    }
    s = cairn_json_canonical(copy ? copy : rec->json);
    cairn_buf_puts(out, s);
    free(s);
    json_decref(copy);
  } else if (t->raw_rewrite && (!rec->cols || rec->ragged)) {
    cairn_buf_puts(out, RAW_WITHHELD);
  } else if (rec->cols && !rec->ragged && (t->raw_rewrite || !rec->raw)) {
    const struct cairn_header *h = rec->header;
    for (size_t c = 0; c < rec->n_cols; c++) {
      const char *p = rec->cols[c];
      size_t n = rec->col_lens ? rec->col_lens[c] : strlen(p);
      long s = -1;
      /* By name, not by the bound column: a header may name a column
       * twice, and binding finds the first (the mapping reads it), but
       * the raw text holds the second too. */
      for (size_t i = 0; i < t->srcs.n; i++)
        if (t->src_policy[i] && t->srcs.v[i].kind == CAIRN__SRC_NAME &&
            (t->srcs.v[i].col == (long)c ||
             (h && c < h->n_cols && h->names[c] &&
              strcasecmp(h->names[c], t->srcs.v[i].ref) == 0)) &&
            (s < 0 || t->src_policy[i] > t->src_policy[s]))
          s = (long)i;
      if (c)
        cairn_buf_putc(out, ',');
      if (s >= 0 && n) {
        val.len = 0;
        if (raw_policy(t, (size_t)s, p, n, &val) == 0)
          csv_put(out, val.data, val.len);
      } else {
        csv_put(out, p, n);
      }
    }
  } else if (rec->raw) { /* as read */
    cairn_buf_append(out, rec->raw, rec->raw_len);
  }
done:
  cairn_buf_free(&val);
}

static void bind_header(cairn_transform *t, const struct cairn_record *rec)
{
  size_t missing = cairn__srcs_bind(&t->srcs, rec->header);
  struct cairn_buf b = {0};
  if (!missing || t->quiet)
    return;
  for (size_t i = 0; i < t->srcs.n; i++)
    if (t->srcs.v[i].kind == CAIRN__SRC_NAME && t->srcs.v[i].col < 0)
      cairn_buf_printf(&b, "%s\"%s\"", b.len ? ", " : "", t->srcs.v[i].ref);
  cairn_warn("transform: the CSV header before %s lacks column(s) %s "
             "(fields reading them are rejected unless they have a default)",
             rec->position ? rec->position : "?", b.data);
  cairn_buf_free(&b);
}

/* Why source i fails on every record under the bound header. */
static void header_why(const cairn_transform *t, size_t i, int coalesce,
                       char *why, size_t size)
{
  const struct cairn__src *s = &t->srcs.v[i];
  if (coalesce)
    snprintf(why, size, "none of the coalesce sources is in the header");
  else if (s->kind == CAIRN__SRC_PTR)
    snprintf(why, size, "\"%.60s\" is a JSON pointer, but the records are "
             "CSV rows: name a column", s->ref);
  else
    snprintf(why, size, "column \"%.60s\" is not in the header", s->ref);
}

size_t cairn_transform_check_header(cairn_transform *t,
                                    const struct cairn_header *h,
                                    void (*bad)(void *ud, const char *ptr,
                                                const char *why),
                                    void *ud)
{
  const json_t *fields = json_object_get(t->cfg, "fields");
  size_t n_bad = 0;
  char ptr[256], why[256];

  if (t->explode >= 0) { /* apply() rejects every CSV record for it */
    bad(ud, "/explode", "\"explode\" needs JSON records, but the records "
        "are CSV rows");
    n_bad++;
  }
  cairn__srcs_bind(&t->srcs, h);
  for (size_t i = 0; i < t->c->n_fields; i++) {
    const struct xf_field *f = &t->f[i];
    int plain = json_is_string(json_object_get(fields, f->name));
    long src = -1;
    size_t j;

    if (!f->mapped)
      continue;
    if (f->from >= 0 && !f->tolerant &&
        cairn__src_fails_on_header(&t->srcs, (size_t)f->from)) {
      snprintf(ptr, sizeof ptr, "/fields/%s%s", f->name, plain ? "" : "/from");
      header_why(t, (size_t)f->from, 0, why, sizeof why);
      bad(ud, ptr, why);
      n_bad++;
      continue;
    }
    for (j = 0; j < f->n_calls && src < 0; j++)
      src = cairn__fn_failing_src(&f->calls[j], &t->srcs);
    if (src < 0)
      continue;
    snprintf(ptr, sizeof ptr, "/fields/%s/fn/%zu", f->name, j - 1);
    header_why(t, (size_t)src,
               strcmp(cairn__fn_name(&f->calls[j - 1]), "coalesce") == 0, why,
               sizeof why);
    bad(ud, ptr, why);
    n_bad++;
  }
  /* The run binds its own headers, which may share this one's id. */
  t->srcs.bound = 0;
  t->srcs.header = NULL;
  t->srcs.header_id = 0;
  return n_bad;
}

/* A row dated outside its window's period (the window's own days, or what
 * its source declares): replace_partition replaces only that period's
 * days, so a re-run of the same window would load the row again beside
 * its first copy. It goes to the DLQ instead. */
static void check_span(cairn_transform *t, const struct cairn_xv *row,
                       long item)
{
  const struct cairn_xv *v = &row[t->span_field];
  char why[240];

  if (v->type != CAIRN_V_STR || v->n < 10 ||
      (memcmp(v->s, t->span_from, 10) >= 0 &&
       memcmp(v->s, t->span_to, 10) < 0))
    return;
  snprintf(why, sizeof why, "%.10s is outside %s (%s up to %s, "
           "exclusive), which a re-run would not replace", v->s, t->span_what,
           t->span_from, t->span_to);
  reason(t, t->f[t->span_field].name, item, why);
}

/* The contract key of a rejected record (cairn_batch_key; in t->key), or
 * NULL when it has none to match it by: its key fields did not map
 * cleanly (a reason names one, or the whole record: the source could not
 * parse it), a key value is null, or it is several rows ("explode"),
 * each with a key of its own. Rejects before mapping set key_bad. Never
 * inlined: in cairn_transform_apply it cost every good record of a
 * 200,000-row cost export 76 instructions (callgrind), for a path that
 * only rejects take. */
static const char *reject_key(cairn_transform *t, size_t n_items)
    __attribute__((noinline));

static const char *reject_key(cairn_transform *t, size_t n_items)
{
  const struct cairn_contract *c = t->c;
  struct cairn_value *row;
  int rc;

  if (t->key_bad || n_items != 1 || !c->n_key)
    return NULL;
  row = cairn_xcalloc(c->n_fields, sizeof *row);
  for (size_t k = 0; k < c->n_key; k++) {
    const struct cairn_xv *v = &t->vals[c->key[k]];
    struct cairn_value *kv = &row[c->key[k]];
    kv->type = (uint8_t)v->type;
    if (v->type == CAIRN_V_INT || v->type == CAIRN_V_BOOL) {
      kv->i = v->i;
    } else {
      kv->s = v->s;
      kv->len = (uint32_t)v->n;
    }
  }
  t->key.len = 0;
  rc = cairn_batch_key(c, row, &t->key);
  free(row);
  return rc == 0 ? t->key.data : NULL;
}

int cairn_transform_apply(cairn_transform *t, const struct cairn_record *rec,
                          struct cairn_batch *b, cairn_err *err)
{
  struct cairn__fctx *cx = &t->cx;
  const size_t nf = t->c->n_fields;
  const json_t *arr = NULL;
  size_t n_items = 1;
  int exploded = 0;

  if (b->n_fields != nf)
    return CAIRN_RAISE(err, CAIRN_EINTERNAL, 0, "batch has %zu fields but "
                       "contract %s has %zu", b->n_fields, t->c->name, nf);
  cairn__scratch_reset(&t->scratch);
  t->reasons.len = 0;
  t->key_bad = 0;
  cx->rec = rec;
  cx->item = NULL;
  cx->why[0] = '\0';
  if (rec->error) { /* the source could not parse it */
    reason(t, NULL, -1, rec->error);
    goto reject;
  }
  if (rec->header &&
      (!t->srcs.bound || t->srcs.header_id != rec->header->id))
    bind_header(t, rec);
  if (rec->ragged) {
    char why[96];
    snprintf(why, sizeof why, "row has %zu fields, header has %zu",
             rec->n_cols, rec->header ? rec->header->n_cols : 0);
    reason(t, NULL, -1, why);
    goto reject;
  }
  if (t->explode >= 0) {
    if (!rec->json) {
      reason(t, NULL, -1, "\"explode\" needs JSON records");
      goto reject;
    }
    arr = cairn_json_pointer_get(rec->json, t->srcs.v[t->explode].ref);
    if (json_is_array(arr) && json_array_size(arr) > 0) {
      n_items = json_array_size(arr);
      exploded = n_items > 1;
    } else if (json_is_array(arr)) {
      arr = NULL; /* empty list: one row with $item null */
    }
  }
  if (n_items * nf > t->cap_vals) {
    t->cap_vals = n_items * nf;
    t->vals = cairn_xrealloc(t->vals, t->cap_vals * sizeof *t->vals);
  }
  for (size_t it = 0; it < n_items; it++) {
    cx->item = json_is_array(arr) ? json_array_get(arr, it) : arr;
    map_row(t, t->vals + it * nf, exploded ? (long)it : -1);
  }
  if (!t->reasons.len && t->full_validate)
    for (size_t it = 0; it < n_items; it++)
      full_check(t, t->vals + it * nf, exploded ? (long)it : -1);
  if (t->span_from[0])
    for (size_t it = 0; it < n_items; it++)
      check_span(t, t->vals + it * nf, exploded ? (long)it : -1);
  if (t->reasons.len)
    goto reject;
  for (size_t it = 0; it < n_items; it++) {
    struct cairn_value *row = cairn_batch_add_row(b);
    const struct cairn_value *prev = b->n_rows > 1 && nf <= 64 ? row - nf
                                                                : NULL;
    const struct cairn_xv *vals = t->vals + it * nf;
    uint64_t same = 0;
    size_t total = 0;
    char *p;
    /* The row's texts go into the arena with one allocation, back to
     * back (each NUL-terminated, as cairn_value_set_text would copy
     * them), which also lets the chunk digest hash them without a copy.
     * A text equal to the previous row's value of the field (the scope,
     * the account, the currency, the day of sorted exports) shares that
     * row's copy instead: less arena, and fewer distinct bytes for the
     * sinks to read on the other core. */
    for (size_t i = 0; i < nf; i++) {
      const struct cairn_xv *v = &vals[i];
      if (v->type != CAIRN_V_STR && v->type != CAIRN_V_NUM &&
          v->type != CAIRN_V_JSON)
        continue;
      /* the last byte first: inline, and where ids and amounts differ */
      if (prev && prev[i].type == v->type && prev[i].len == v->n &&
          (v->n == 0 || (prev[i].s[v->n - 1] == v->s[v->n - 1] &&
                         memcmp(prev[i].s, v->s, v->n) == 0)))
        same |= (uint64_t)1 << i;
      else
        total += v->n + 1;
    }
    p = total ? cairn_batch_alloc(b, total) : NULL;
    for (size_t i = 0; i < nf; i++) {
      const struct cairn_xv *v = &vals[i];
      if (same >> i & 1) {
        row[i] = prev[i];
        continue;
      }
      switch (v->type) {
      case CAIRN_V_STR:
      case CAIRN_V_NUM:
      case CAIRN_V_JSON:
        memcpy(p, v->s, v->n);
        p[v->n] = '\0';
        row[i].type = (uint8_t)v->type;
        row[i].s = p;
        row[i].len = (uint32_t)v->n;
        p += v->n + 1;
        break;
      case CAIRN_V_INT:
      case CAIRN_V_BOOL:
        row[i].type = (uint8_t)v->type;
        row[i].i = v->i;
        break;
      default:
        break;
      }
    }
  }
  return CAIRN_OK;
reject: {
  struct cairn_buf raw = {0};
  reject_raw(t, rec, &raw);
  cairn_batch_reject(b, rec->position, t->reasons.data, raw.data, raw.len,
                     reject_key(t, n_items));
  cairn_buf_free(&raw);
  return CAIRN_OK;
}
}
