/* SPDX-License-Identifier: MIT */
/* batch.h -- the data that flows between stages.
 *
 *   source --(raw records: cairn_record)--> transform --(cairn_batch)--> sinks
 *
 * A cairn_contract describes a canonical contract's columns (loaded from
 * schemas/contracts/ by transform/contract.c; sinks only read it). A
 * cairn_batch holds one chunk's mapped rows as typed values in an arena,
 * plus the chunk's rejects. The runner owns each batch; the transform fills
 * it; sinks borrow it for the duration of load(). Not thread-safe; a batch
 * may be handed from one thread to another as a whole. */
#ifndef CAIRN_BATCH_H
#define CAIRN_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "core/err.h"

/* ---- contracts ------------------------------------------------------- */

enum cairn_ftype {
  CAIRN_F_STRING = 0,
  CAIRN_F_NUMBER,   /* exact decimal, stored as its text */
  CAIRN_F_INTEGER,
  CAIRN_F_BOOLEAN,
  CAIRN_F_OBJECT,   /* JSON object, stored as canonical JSON text */
  CAIRN_F_ARRAY,    /* JSON array, stored as canonical JSON text */
  CAIRN_F_DATETIME, /* string, RFC 3339 UTC with Z */
};

struct cairn_field {
  char *name;      /* verbatim column name */
  int   type;      /* enum cairn_ftype */
  int   required;  /* listed in the schema's "required": NOT NULL */
  int   pii;       /* listed in x-cairn-pii */
};

struct cairn_contract {
  char   *name;         /* "cost_record"; also the SQLite table name */
  char   *id;           /* the schema's $id */
  char   *version;      /* semver from $id / x-cairn-version */
  size_t  n_fields;
  struct cairn_field *fields;   /* in schema "properties" order */
  size_t  n_key;
  size_t *key;          /* field indexes of x-cairn-key */
  size_t  n_partition;
  size_t *partition;    /* field indexes of x-cairn-partition */
  json_t *schema;       /* the whole schema document (owned reference) */
  unsigned char *partition_cut; /* per partition field, see below; NULL:
                                   each field's default */
};

/* How much of partition field k's canonical text is its partition value:
 * CAIRN_PART_DAY or CAIRN_PART_MONTH leading bytes of a date-time
 * ("YYYY-MM-DDTHH:MM:SSZ"; x-cairn-partition-grain "day" or "month", day
 * by default), 0 for the whole value (any other type). */
enum { CAIRN_PART_MONTH = 7, CAIRN_PART_DAY = 10 };
unsigned cairn_contract_part_cut(const struct cairn_contract *c, size_t k);

/* Index of a field by name, or -1. */
long cairn_contract_field(const struct cairn_contract *c, const char *name);

/* The refusal (CAIRN_ECHANGED) of a resume into window `window`, which
 * holds n of its `of` chunks (the first: chunk `first`) loaded under
 * version `was` of c by a cairn from before an upgrade: finishing it under
 * c would leave the window, and every sink's copy, half in each. `where`
 * names what holds them (a sink and its file, or the state store). */
int cairn_contract_mixed(cairn_err *err, const struct cairn_contract *c,
                         const char *where, const char *window, long long n,
                         long long of, long long first, const char *was);

/* ---- windows ---------------------------------------------------------- */

/* A window is the checkpointed unit of a run: a day, a month, or the one
 * window "all" of a job without windows. Times are RFC 3339 UTC; start is
 * inclusive, end exclusive; both empty for "all". */
struct cairn_window {
  char key[16];    /* "all", "2024-05-01", "2024-05" */
  char start[24];
  char end[24];
  /* The days the window's data covers, [span_from, span_to) as
   * "YYYY-MM-DD" (span_to exclusive): the window's own days, or for "all"
   * the period its source declares (cairn_source.span_from, e.g. a cost
   * export's runInfo dates); both empty when nothing says. A
   * replace_partition sink replaces only these days of a partition taken
   * by its date (docs/jobs.md). */
  char span_from[11];
  char span_to[11];
};

/* ---- values and batches ---------------------------------------------- */

enum cairn_vtype {
  CAIRN_V_NULL = 0,
  CAIRN_V_STR,  /* s/len: UTF-8 text */
  CAIRN_V_NUM,  /* s/len: decimal in JSON number grammar, exact as given */
  CAIRN_V_INT,  /* i */
  CAIRN_V_BOOL, /* i: 0 or 1 */
  CAIRN_V_JSON, /* s/len: compact JSON (object or array), keys sorted */
};

struct cairn_value {          /* 16 bytes: a batch holds millions */
  union {
    const char *s;    /* STR, NUM, JSON: points into the batch arena */
    int64_t     i;    /* INT, BOOL */
  };
  uint32_t    len;    /* bytes at s */
  uint8_t     type;   /* enum cairn_vtype */
};

struct cairn_arena_block;

struct cairn_reject {
  char *position;   /* "file.csv:17" or "page 3 #5" */
  char *reasons;    /* "; "-separated, each "field: why" */
  char *raw;        /* the raw record text, PII policy applied */
  size_t raw_len;   /* its bytes (a record may hold NUL bytes) */
  char *key;        /* the record's contract key (cairn_batch_key), or
                       NULL when its key fields did not map cleanly */
  size_t row;       /* its place among the batch's rows: how many rows
                       came before it in source order (rows i >= row came
                       after it) */
};

struct cairn_batch {
  size_t              n_fields;  /* values per row */
  size_t              n_rows;
  size_t              cap_rows;
  struct cairn_value *vals;      /* row r, field f: vals[r * n_fields + f] */
  size_t              n_rejects;
  size_t              cap_rejects;
  struct cairn_reject *rejects;
  struct cairn_arena_block *arena; /* string storage for vals: a list */
  struct cairn_arena_block *cur;   /* block being filled */
  struct cairn_arena_block *tail;  /* last block of the list */
  size_t              arena_bytes;  /* bytes handed out since reset */
};

/* New empty batch for rows of n_fields values. Free with cairn_batch_free. */
struct cairn_batch *cairn_batch_create(size_t n_fields);
void cairn_batch_free(struct cairn_batch *b);          /* NULL ok */
/* Drop all rows and rejects; keeps memory for reuse. */
void cairn_batch_reset(struct cairn_batch *b);
/* Append a row of NULL values; returns it (valid until the next add). */
struct cairn_value *cairn_batch_add_row(struct cairn_batch *b);
/* Remove the last row (a record that turned out to be rejected). */
void cairn_batch_drop_row(struct cairn_batch *b);
/* Copy n bytes into the arena (NUL-terminated); valid until reset/free. */
const char *cairn_batch_strdup(struct cairn_batch *b, const char *s, size_t n);
/* n contiguous bytes of arena space for the caller to fill (e.g. all the
 * NUL-terminated texts of one row, copied at once); valid until
 * reset/free. */
char *cairn_batch_alloc(struct cairn_batch *b, size_t n);
/* Record a reject; strings are copied (raw: raw_len bytes, which may
 * include NULs; NULL is ""; key: NULL when the record has none). */
void cairn_batch_reject(struct cairn_batch *b, const char *position,
                        const char *reasons, const char *raw,
                        size_t raw_len, const char *key);
/* Move src's rows and rejects to the end of dst, in order, and leave src
 * empty (as after a reset): a chunk mapped in parts on several threads
 * becomes one batch without copying its texts. The arena blocks holding
 * src's texts move to dst; dst's unused blocks move to src, so each keeps
 * about its footprint from chunk to chunk. Both must have the same
 * n_fields. */
void cairn_batch_absorb(struct cairn_batch *dst, struct cairn_batch *src);
/* Set v to a copy of text with the given type (STR, NUM or JSON). */
void cairn_value_set_text(struct cairn_batch *b, struct cairn_value *v,
                          int type, const char *s, size_t n);

/* SHA-256 digest of the rows' values, hex into out: a deterministic
 * function of the values (types, lengths, bytes, in row order), not of
 * where they are stored. The chunk's content digest recorded at the
 * transformed stage, compared between attempts of one version only (its
 * exact construction is not a format: see batch.c). */
void cairn_batch_digest(const struct cairn_batch *b, char out[65]);

/* Append row r as one JSON object with keys sorted by field name (the
 * NDJSON line, without newline). 'order' is the field permutation that
 * sorts c's names (from cairn_contract_sorted_order). */
struct cairn_buf;
void cairn_batch_row_json(const struct cairn_batch *b,
                          const struct cairn_contract *c, const size_t *order,
                          size_t r, struct cairn_buf *out);
/* The contract key of a row (row: c->n_fields values): the values of c's
 * x-cairn-key fields, in that order, as a JSON array (strings escaped as
 * cairn_batch_row_json does, numbers as their text: `["5bde3e51"]`,
 * `["servicenow","CI0042"]`), appended to out. What the state store
 * matches a kept reject by (its record loaded, or rejected again). -1,
 * out unchanged, when c has no key or a key value is null. */
int cairn_batch_key(const struct cairn_contract *c,
                    const struct cairn_value *row, struct cairn_buf *out);
/* A JSON array, for each row of b in row order its key (cairn_batch_key)
 * as a string, or null when it has none (so element i is row i's),
 * appended to out; returns how many rows have a key. */
size_t cairn_batch_keys(const struct cairn_batch *b,
                        const struct cairn_contract *c,
                        struct cairn_buf *out);

/* Field indexes of c sorted by name (byte order); new array (free()). */
size_t *cairn_contract_sorted_order(const struct cairn_contract *c);

/* ---- raw records (source -> transform) --------------------------------- */

/* A CSV header shared by every record of one file. */
struct cairn_header {
  size_t  n_cols;
  char  **names;    /* as in the file, BOM stripped */
  uint64_t id;      /* changes whenever a new header is read:
                       cairn_header_new_id() */
};
/* Free h's names (h itself is the caller's): no names, no columns. */
void cairn_header_clear(struct cairn_header *h);
/* An id no header of this process had: the transform maps a record's
 * columns through the header it last bound while the id stays the same,
 * so an id reused by another source instance (the next window's, whose
 * first file is another file) would map its rows by the wrong columns. */
uint64_t cairn_header_new_id(void);

/* One raw record handed from a source's decode() to the transform. All
 * pointers are borrowed and valid only during the callback. */
struct cairn_record {
  /* CSV records: */
  const struct cairn_header *header;  /* NULL for JSON records */
  size_t        n_cols;
  const char  **cols;        /* field texts, col_lens[i] bytes each and
                                not NUL-terminated (the CSV sources point
                                into the page); NUL-terminated only when
                                col_lens is NULL */
  const size_t *col_lens;
  /* JSON records: */
  const json_t *json;
  /* Both: */
  const json_t *meta;        /* page metadata: {"headers":{lowercased:..},
                                "status":200}, or NULL */
  const char   *position;    /* "demo.csv:17", "page 3 #5" */
  const char   *raw;         /* raw text of the record (CSV line(s)) or NULL */
  size_t        raw_len;
  int           ragged;      /* CSV: column count differs from header */
  const char   *error;       /* non-NULL: the source could not parse this
                                record (e.g. bad NDJSON line); the
                                transform rejects it with this reason */
};

typedef int (*cairn_record_fn)(void *ud, const struct cairn_record *rec);

#endif
