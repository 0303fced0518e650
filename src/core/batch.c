/* SPDX-License-Identifier: MIT */
/* batch.c -- rows of typed values in an arena, rejects, digests and the
 * canonical NDJSON form of a row. */
#include "core/batch.h"
#include "core/codec.h"
#include "core/hash.h"
#include "core/mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK (256 * 1024)

struct cairn_arena_block {
  struct cairn_arena_block *next;
  size_t used, cap;
  char   data[];
};

long cairn_contract_field(const struct cairn_contract *c, const char *name)
{
  for (size_t i = 0; i < c->n_fields; i++)
    if (strcmp(c->fields[i].name, name) == 0)
      return (long)i;
  return -1;
}

int cairn_contract_mixed(cairn_err *err, const struct cairn_contract *c,
                         const char *where, const char *window, long long n,
                         long long of, long long first, const char *was)
{
  const char *now = c->version ? c->version : "";
  return CAIRN_RAISE(err, CAIRN_ECHANGED, 0, "%s: window %s holds %lld of "
                     "its %lld chunks (the first: chunk %lld) made under "
                     "contract %s %s, by a cairn from before an upgrade, and "
                     "this run loads %s %s: resuming would leave the window "
                     "half in each; rerun with --fresh to load it again "
                     "under %s", where, window, n, of, first, c->name,
                     was ? was : "(unrecorded)", c->name, now, now);
}

uint64_t cairn_header_new_id(void)
{
  static atomic_uint_fast64_t next;
  return (uint64_t)atomic_fetch_add(&next, 1) + 1;
}

void cairn_header_clear(struct cairn_header *h)
{
  for (size_t k = 0; k < h->n_cols; k++)
    free(h->names[k]);
  free(h->names);
  h->names = NULL;
  h->n_cols = 0;
}

unsigned cairn_contract_part_cut(const struct cairn_contract *c, size_t k)
{
  if (c->partition_cut)
    return c->partition_cut[k];
  return c->fields[c->partition[k]].type == CAIRN_F_DATETIME ? CAIRN_PART_DAY
                                                             : 0;
}

struct cairn_batch *cairn_batch_create(size_t n_fields)
{
  struct cairn_batch *b = cairn_xcalloc(1, sizeof *b);
  b->n_fields = n_fields;
  return b;
}

static void free_rejects(struct cairn_batch *b)
{
  for (size_t i = 0; i < b->n_rejects; i++) {
    free(b->rejects[i].position);
    free(b->rejects[i].reasons);
    free(b->rejects[i].raw);
    free(b->rejects[i].key);
  }
  b->n_rejects = 0;
}

void cairn_batch_free(struct cairn_batch *b)
{
  struct cairn_arena_block *blk, *next;
  if (!b)
    return;
  free_rejects(b);
  free(b->rejects);
  for (blk = b->arena; blk; blk = next) {
    next = blk->next;
    free(blk);
  }
  free(b->vals);
  free(b);
}

void cairn_batch_reset(struct cairn_batch *b)
{
  struct cairn_arena_block *blk;
  b->n_rows = 0;
  free_rejects(b);
  /* Keep every block: the next chunk is about as large, and reusing the
   * memory keeps the footprint flat without page-fault churn. */
  for (blk = b->arena; blk; blk = blk->next)
    blk->used = 0;
  b->cur = b->arena;
  b->arena_bytes = 0;
}

/* arr (*cap elements of size bytes) with room for n: doubled as needed,
 * from 'first' elements. */
static void *reserve(void *arr, size_t *cap, size_t n, size_t first,
                     size_t size)
{
  if (n <= *cap)
    return arr;
  while (*cap < n)
    *cap = *cap ? *cap * 2 : first;
  return cairn_xrealloc(arr, *cap * size);
}

static void reserve_rows(struct cairn_batch *b, size_t n)
{
  b->vals = reserve(b->vals, &b->cap_rows, n, 1024,
                    b->n_fields * sizeof *b->vals);
}

static void reserve_rejects(struct cairn_batch *b, size_t n)
{
  b->rejects = reserve(b->rejects, &b->cap_rejects, n, 16,
                       sizeof *b->rejects);
}

struct cairn_value *cairn_batch_add_row(struct cairn_batch *b)
{
  struct cairn_value *row;
  reserve_rows(b, b->n_rows + 1);
  row = b->vals + b->n_rows * b->n_fields;
  memset(row, 0, b->n_fields * sizeof *row);
  b->n_rows++;
  return row;
}

void cairn_batch_drop_row(struct cairn_batch *b)
{
  if (b->n_rows)
    b->n_rows--;
}

/* Append blk to the list whose ends are *head and *tail. */
static void block_push(struct cairn_arena_block **head,
                       struct cairn_arena_block **tail,
                       struct cairn_arena_block *blk)
{
  blk->next = NULL;
  if (*tail)
    (*tail)->next = blk;
  else
    *head = blk;
  *tail = blk;
}

char *cairn_batch_alloc(struct cairn_batch *b, size_t n)
{
  struct cairn_arena_block *blk = b->cur;
  char *p;

  /* Fill blocks in list order; after a reset, the kept blocks are reused
   * before any new one is allocated. */
  while (blk && blk->used + n > blk->cap)
    blk = blk->next;
  if (!blk) {
    size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
    blk = cairn_xmalloc(sizeof *blk + cap);
    blk->used = 0;
    blk->cap = cap;
    block_push(&b->arena, &b->tail, blk);
  }
  b->cur = blk;
  p = blk->data + blk->used;
  blk->used += n;
  b->arena_bytes += n;
  return p;
}

void cairn_batch_absorb(struct cairn_batch *dst, struct cairn_batch *src)
{
  struct cairn_arena_block *used = NULL, *used_tail = NULL;
  struct cairn_arena_block *spare = NULL, *spare_tail = NULL;
  struct cairn_arena_block *lists[2] = { dst->arena, src->arena };
  size_t base = dst->n_rows; /* src's rows come after dst's */

  reserve_rows(dst, dst->n_rows + src->n_rows);
  if (src->n_rows)
    memcpy(dst->vals + dst->n_rows * dst->n_fields, src->vals,
           src->n_rows * src->n_fields * sizeof *src->vals);
  dst->n_rows += src->n_rows;
  src->n_rows = 0;
  reserve_rejects(dst, dst->n_rejects + src->n_rejects);
  if (src->n_rejects) /* the strings move with them */
    memcpy(dst->rejects + dst->n_rejects, src->rejects,
           src->n_rejects * sizeof *src->rejects);
  for (size_t i = 0; i < src->n_rejects; i++)
    dst->rejects[dst->n_rejects + i].row += base;
  dst->n_rejects += src->n_rejects;
  src->n_rejects = 0;
  /* Blocks in use (dst's first, in order, then src's) stay or go to dst;
   * empty ones go to src. */
  for (int k = 0; k < 2; k++) {
    struct cairn_arena_block *blk = lists[k], *next;
    for (; blk; blk = next) {
      next = blk->next;
      if (blk->used)
        block_push(&used, &used_tail, blk);
      else
        block_push(&spare, &spare_tail, blk);
    }
  }
  dst->arena = used;
  dst->tail = used_tail;
  dst->cur = used_tail;
  dst->arena_bytes += src->arena_bytes;
  src->arena = spare;
  src->tail = spare_tail;
  src->cur = spare;
  src->arena_bytes = 0;
}

const char *cairn_batch_strdup(struct cairn_batch *b, const char *s, size_t n)
{
  char *p = cairn_batch_alloc(b, n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

void cairn_batch_reject(struct cairn_batch *b, const char *position,
                        const char *reasons, const char *raw,
                        size_t raw_len, const char *key)
{
  struct cairn_reject *r;
  reserve_rejects(b, b->n_rejects + 1);
  r = &b->rejects[b->n_rejects++];
  r->position = cairn_xstrdup(position ? position : "");
  r->reasons = cairn_xstrdup(reasons ? reasons : "");
  r->raw_len = raw ? raw_len : 0;
  r->raw = cairn_xmalloc(r->raw_len + 1);
  if (r->raw_len)
    memcpy(r->raw, raw, r->raw_len);
  r->raw[r->raw_len] = '\0';
  r->key = key ? cairn_xstrdup(key) : NULL;
  r->row = b->n_rows;
}

void cairn_value_set_text(struct cairn_batch *b, struct cairn_value *v,
                          int type, const char *s, size_t n)
{
  v->type = (uint8_t)type;
  v->s = cairn_batch_strdup(b, s, n);
  v->len = (uint32_t)n;
}

/* Two streams, hashed separately and then together:
 *   framing: per value its type byte, then the length (STR, NUM, JSON;
 *            LEB128, one byte below 128) or the 64-bit integer (INT,
 *            BOOL; little-endian);
 *   text:    per STR/NUM/JSON value its bytes and one NUL.
 * The text of a row's values (and of consecutive rows) lies back to back
 * in the arena, NULs included, so the text stream is hashed straight
 * from the arena in runs as long as the memory is contiguous: no copy,
 * and a few large updates instead of one per value. The framing makes
 * the pair injective (a text may hold NUL bytes). */
void cairn_batch_digest(const struct cairn_batch *b, char out[65])
{
  enum { BLOCK = 16384 };
  struct cairn_sha256 hf, ht;
  unsigned char *buf = cairn_xmalloc(BLOCK);
  size_t used = 0;
  const char *run = NULL, *run_end = NULL;
  char hex[2 * CAIRN_SHA256_HEX];

  cairn_sha256_init(&hf);
  cairn_sha256_init(&ht);
  for (size_t k = 0; k < b->n_rows * b->n_fields; k++) {
    const struct cairn_value *v = &b->vals[k];
    if (used + 9 > BLOCK) {
      cairn_sha256_update(&hf, buf, used);
      used = 0;
    }
    buf[used++] = v->type;
    if (v->type == CAIRN_V_INT || v->type == CAIRN_V_BOOL) {
      uint64_t x = (uint64_t)v->i;
      for (int i = 0; i < 8; i++)
        buf[used++] = (unsigned char)(x >> (8 * i));
    } else if (v->type != CAIRN_V_NULL) {
      uint32_t n = v->len, x = n;
      while (x >= 0x80) {          /* LEB128: one byte below 128 */
        buf[used++] = (unsigned char)(x | 0x80);
        x >>= 7;
      }
      buf[used++] = (unsigned char)x;
      if (v->s[n] == '\0') {
        /* the usual case: arena text with its NUL */
        if (v->s != run_end) {
          if (run)
            cairn_sha256_update(&ht, run, (size_t)(run_end - run));
          run = v->s;
        }
        run_end = v->s + n + 1;
      } else {
        if (run)
          cairn_sha256_update(&ht, run, (size_t)(run_end - run));
        run = run_end = NULL;
        cairn_sha256_update(&ht, v->s, n);
        cairn_sha256_update(&ht, "", 1);
      }
    }
  }
  if (run)
    cairn_sha256_update(&ht, run, (size_t)(run_end - run));
  cairn_sha256_update(&hf, buf, used);
  cairn_sha256_final_hex(&hf, hex);
  cairn_sha256_final_hex(&ht, hex + 64);
  cairn_sha256_hex(hex, 128, out);
  free(buf);
}

static const struct cairn_contract *sort_contract;

static int cmp_field(const void *a, const void *b)
{
  const size_t *x = a, *y = b;
  return strcmp(sort_contract->fields[*x].name,
                sort_contract->fields[*y].name);
}

size_t *cairn_contract_sorted_order(const struct cairn_contract *c)
{
  size_t *order = cairn_xmalloc(c->n_fields * sizeof *order);
  for (size_t i = 0; i < c->n_fields; i++)
    order[i] = i;
  /* Contracts are loaded once at start-up, single-threaded. */
  sort_contract = c;
  qsort(order, c->n_fields, sizeof *order, cmp_field);
  sort_contract = NULL;
  return order;
}

static void put_json_string(struct cairn_buf *out, const char *s, size_t n)
{
  char *p = cairn_buf_reserve(out, n * 6 + 2);
  out->len += (size_t)(cairn_json_str_to(p, s, n, 0) - p);
  out->data[out->len] = '\0';
}

/* v as a JSON value (a NULL as null). */
static void put_json_value(struct cairn_buf *out, const struct cairn_value *v)
{
  switch (v->type) {
  case CAIRN_V_STR:
    put_json_string(out, v->s, v->len);
    break;
  case CAIRN_V_NUM:
  case CAIRN_V_JSON:
    cairn_buf_append(out, v->s, v->len);
    break;
  case CAIRN_V_INT:
    cairn_buf_printf(out, "%lld", (long long)v->i);
    break;
  case CAIRN_V_BOOL:
    cairn_buf_puts(out, v->i ? "true" : "false");
    break;
  default:
    cairn_buf_puts(out, "null");
  }
}

void cairn_batch_row_json(const struct cairn_batch *b,
                          const struct cairn_contract *c, const size_t *order,
                          size_t r, struct cairn_buf *out)
{
  const struct cairn_value *row = b->vals + r * b->n_fields;
  cairn_buf_putc(out, '{');
  for (size_t k = 0; k < c->n_fields; k++) {
    size_t f = order[k];
    const char *name = c->fields[f].name;
    if (k)
      cairn_buf_putc(out, ',');
    put_json_string(out, name, strlen(name));
    cairn_buf_putc(out, ':');
    put_json_value(out, &row[f]);
  }
  cairn_buf_putc(out, '}');
}

int cairn_batch_key(const struct cairn_contract *c,
                    const struct cairn_value *row, struct cairn_buf *out)
{
  if (!c->n_key)
    return -1;
  for (size_t k = 0; k < c->n_key; k++)
    if (row[c->key[k]].type == CAIRN_V_NULL)
      return -1;
  cairn_buf_putc(out, '[');
  for (size_t k = 0; k < c->n_key; k++) {
    if (k)
      cairn_buf_putc(out, ',');
    put_json_value(out, &row[c->key[k]]);
  }
  cairn_buf_putc(out, ']');
  return 0;
}

size_t cairn_batch_keys(const struct cairn_batch *b,
                        const struct cairn_contract *c,
                        struct cairn_buf *out)
{
  struct cairn_buf key = {0};
  size_t n = 0;
  cairn_buf_putc(out, '[');
  for (size_t r = 0; r < b->n_rows; r++) {
    key.len = 0;
    if (r)
      cairn_buf_putc(out, ',');
    if (cairn_batch_key(c, b->vals + r * b->n_fields, &key) < 0) {
      cairn_buf_puts(out, "null");
      continue;
    }
    n++;
    put_json_string(out, key.data, key.len);
  }
  cairn_buf_putc(out, ']');
  cairn_buf_free(&key);
  return n;
}
