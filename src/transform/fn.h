/* SPDX-License-Identifier: MIT */
/* fn.h -- the mapping function library, internal to transform/.
 *
 * A field's mapping is a chain of functions applied to one value, the
 * cairn_xv below. Each function is compiled once from the job file (its
 * arguments checked, its source references interned) and applied per record
 * without allocating: text produced while mapping lives in a scratch arena
 * that the transform resets for every record. The whole library is one
 * table in fn.c; docs/mapping.md is its user-facing reference.
 *
 * Everything here is internal (cairn__ prefix) and not thread-safe: one
 * transform owns its sources, scratch and calls. */
#ifndef CAIRN_FN_H
#define CAIRN_FN_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "core/batch.h"
#include "core/mem.h"

/* ---- values ----------------------------------------------------------- */

#define CAIRN__XV_UTC  0x1u /* STR in canonical "YYYY-MM-DDTHH:MM:SSZ" */
#define CAIRN__XV_FLAT 0x2u /* JSON object text with scalar members only */

/* One value in a chain. 'type' is an enum cairn_vtype so a final value is
 * stored as it is. Text (STR, NUM, and JSON once encoded) is s/n, not
 * necessarily NUL-terminated, borrowed from the record, the compiled
 * transform or the scratch arena. A JSON value taken from a JSON record
 * has j set and s NULL until it is encoded (cairn__xv_json_text). */
struct cairn_xv {
  int           type;   /* enum cairn_vtype */
  unsigned      flags;  /* CAIRN__XV_* */
  const char   *s;
  size_t        n;
  int64_t       i;      /* INT value; BOOL 0 or 1 */
  const json_t *j;      /* JSON only: borrowed jansson value, or NULL */
};

/* ---- scratch arena ---------------------------------------------------- */

struct cairn__scratch_block;

/* Bump allocator reset per record; blocks are kept for reuse, so a steady
 * stream of records allocates nothing. */
struct cairn__scratch {
  struct cairn__scratch_block *head; /* first block (owned list) */
  struct cairn__scratch_block *cur;  /* block being filled */
};

/* n bytes (aborts on OOM); valid until the next reset. */
char *cairn__scratch_alloc(struct cairn__scratch *s, size_t n);
/* Copy s[0..n) plus a NUL. */
char *cairn__scratch_dup(struct cairn__scratch *s, const char *p, size_t n);
void  cairn__scratch_reset(struct cairn__scratch *s);
void  cairn__scratch_free(struct cairn__scratch *s);

/* ---- source references ------------------------------------------------ */

/* What a "from", a coalesce/record_id item or a template ${...} names. */
enum cairn__src_kind {
  CAIRN__SRC_NAME = 0, /* CSV column (case-insensitive) / top-level member */
  CAIRN__SRC_PTR,      /* JSON pointer "/a/b" (JSON records only) */
  CAIRN__SRC_POSITION, /* "$position": the record's position text */
  CAIRN__SRC_ITEM,     /* "$item": the current element of "explode" */
};

struct cairn__src {
  char *ref;    /* as written in the job file (owned) */
  int   kind;   /* enum cairn__src_kind */
  long  col;    /* NAME on CSV: column index in the bound header, or -1 */
};

/* The interned references of one transform. Columns are resolved once per
 * CSV header (cairn__srcs_bind), never per record. */
struct cairn__srcs {
  struct cairn__src *v;     /* owned */
  size_t   n, cap;
  int      bound;           /* a header has been bound */
  uint64_t header_id;       /* id of the bound header */
  const struct cairn_header *header; /* the bound header (borrowed) */
};

/* Check the syntax of a reference; 0, or -1 with msg filled. */
int    cairn__src_check(const char *ref, char *msg, size_t msg_size);
/* Index of ref in t, adding it when new. ref must pass cairn__src_check. */
size_t cairn__src_intern(struct cairn__srcs *t, const char *ref);
/* Resolve every NAME against h. Returns the number of names h lacks. */
size_t cairn__srcs_bind(struct cairn__srcs *t, const struct cairn_header *h);
void   cairn__srcs_free(struct cairn__srcs *t);

/* ---- apply context ---------------------------------------------------- */

#define CAIRN__WHY_MAX 320

/* Per-transform state handed to every function application. */
struct cairn__fctx {
  const struct cairn_record *rec;     /* the record being mapped */
  const struct cairn__srcs  *srcs;    /* bound references */
  const json_t              *item;    /* explode element (NULL: none) */
  struct cairn__scratch     *scratch; /* per-record text */
  struct cairn_buf           tmp;     /* encoder workspace (owned) */
  int                        empty_is_null; /* "" reads as null */
  int                        redact;  /* never quote values in reasons */
  char                       why[CAIRN__WHY_MAX]; /* reason of a failure */
};

void cairn__fctx_init(struct cairn__fctx *cx, struct cairn__scratch *s);
void cairn__fctx_free(struct cairn__fctx *cx);

/* Read source i of cx->srcs for the current record into out. Returns 0, or
 * -1 with cx->why set (a CSV column the header lacks, a pointer on a CSV
 * record). A present but empty/absent value is CAIRN_V_NULL, not an error. */
int cairn__src_get(struct cairn__fctx *cx, size_t i, struct cairn_xv *out);

/* Reason helper: cx->why = "<quoted value> <what>" (value redacted when
 * cx->redact). Returns -1 so callers can `return cairn__why_value(...)`. */
int cairn__why_value(struct cairn__fctx *cx, const char *s, size_t n,
                     const char *what);
/* cx->why = formatted text. Returns -1. */
int cairn__why(struct cairn__fctx *cx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- conversions (the functions of the same name, also used for the
 * implicit coercion of a chain's result to its contract type). Each
 * takes v in place; null stays null; returns 0 or -1 with cx->why. ---- */

int cairn__to_string(struct cairn__fctx *cx, struct cairn_xv *v);
int cairn__to_number(struct cairn__fctx *cx, struct cairn_xv *v);
int cairn__to_integer(struct cairn__fctx *cx, struct cairn_xv *v);
int cairn__to_bool(struct cairn__fctx *cx, struct cairn_xv *v);
/* fmt: a CAIRN__UTC_* value; CAIRN__UTC_AUTO tries every form. */
int cairn__to_utc(struct cairn__fctx *cx, struct cairn_xv *v, int fmt);
/* JSON object / array (text parsed with jansson when needed). */
int cairn__to_object(struct cairn__fctx *cx, struct cairn_xv *v);
int cairn__to_array(struct cairn__fctx *cx, struct cairn_xv *v);
/* Make sure a JSON value has canonical text (s/n) and flags. */
void cairn__xv_json_text(struct cairn__fctx *cx, struct cairn_xv *v);

enum {
  CAIRN__UTC_AUTO = 0,
  CAIRN__UTC_RFC3339,  /* also "yyyy-MM-dd" and "yyyy-MM-dd HH:mm:ss" */
  CAIRN__UTC_US_DATE,  /* "MM/dd/yyyy" */
  CAIRN__UTC_YMD,      /* "yyyyMMdd" */
  CAIRN__UTC_EPOCH,    /* seconds */
  CAIRN__UTC_EPOCH_MS, /* milliseconds */
  CAIRN__UTC_HTTP,     /* IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" */
};

/* Canonical JSON of v (keys sorted by bytes, compact, jansson's string
 * escapes, reals in their shortest round-trip form) appended to out.
 * *flat (may be NULL) is set when v is an object whose members are all
 * scalars. */
void cairn__json_encode(struct cairn_buf *out, const json_t *v, int *flat);
/* Shortest "%.Ng" text of d that reads back as d, JSON grammar. */
void cairn__real_text(double d, char *out, size_t n);

/* ---- functions -------------------------------------------------------- */

#define CAIRN__FN_SOURCE   0x1u /* makes a value; ignores its input */
#define CAIRN__FN_TOLERANT 0x2u /* copes with a "from" column that the
                                   header lacks (sees null) */

struct cairn__fn_def;
struct cairn__tpl_part;

/* One compiled function of a chain. Which members are used depends on
 * the function (see fn.c); everything is owned by the call. */
struct cairn__fn_call {
  const struct cairn__fn_def *def;
  json_t  *arg;          /* lookup table / const or default value */
  char    *str;          /* separator, prefix, text of a constant */
  size_t   str_len;
  char    *str2;         /* replacement text */
  size_t   str2_len;
  int      opt;          /* utc format; split trim flag; lookup nocase */
  struct cairn_xv cval;  /* precomputed const/default/lookup default */
  int      has_cval;
  size_t  *srcs;         /* interned references (coalesce, record_id) */
  size_t   n_srcs;
  struct cairn__tpl_part *parts; /* template pieces */
  size_t   n_parts;
};

/* Compile one element of a "fn" array. On failure returns -1 with msg
 * filled and sub_ptr set to the failing part relative to the element
 * ("" or "/lookup/3"). */
int  cairn__fn_compile(const json_t *spec, struct cairn__srcs *srcs,
                       struct cairn__fn_call *out, char *msg,
                       size_t msg_size, char *sub_ptr, size_t sub_size);
void cairn__fn_call_clear(struct cairn__fn_call *c);
/* Apply; 0, or -1 with cx->why. */
int  cairn__fn_apply(const struct cairn__fn_call *c, struct cairn__fctx *cx,
                     struct cairn_xv *v);
unsigned    cairn__fn_flags(const struct cairn__fn_call *c);
const char *cairn__fn_name(const struct cairn__fn_call *c);
/* Whether the call reads columns or members of the record (besides its
 * input): record_id, coalesce, a template with references. "header" reads
 * only the page's metadata. */
int    cairn__fn_reads_record(const struct cairn__fn_call *c);
/* Source references the call reads (for the PII rewrite of raw text). */
/* With srcs bound to a CSV header: the source of c that makes c fail on
 * every record under that header (a column the header lacks, a JSON
 * pointer; for coalesce, the first when all of them do), or -1. */
long   cairn__fn_failing_src(const struct cairn__fn_call *c,
                             const struct cairn__srcs *srcs);
/* Whether source i fails on every record under the bound CSV header. */
int    cairn__src_fails_on_header(const struct cairn__srcs *srcs, size_t i);
size_t cairn__fn_refs(const struct cairn__fn_call *c, size_t *out,
                      size_t max);
/* "bool, coalesce, ..." (static storage, per thread). */
const char *cairn__fn_names(void);

#endif
