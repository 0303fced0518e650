/* SPDX-License-Identifier: MIT */
/* source.c -- the source registry.
 *
 * To add a source: create src_<name>.c defining cairn_source_<name>_ops,
 * declare it below, add one line to source_table, and add
 * tests/unit/test_src_<name>.c. Names must be unique. */
#include "source/source.h"
#include "source/csv.h"
#include "source/src_http.h"
#include "core/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

extern const cairn_source_ops cairn_source_file_ops;
extern const cairn_source_ops cairn_source_cost_export_ops;
extern const cairn_source_ops cairn_source_sqlite_ops;
extern const cairn_source_ops cairn_source_http_ops;

static const cairn_source_ops *const source_table[] = {
  &cairn_source_file_ops,
  &cairn_source_cost_export_ops,
  &cairn_source_sqlite_ops,
  &cairn_source_http_ops,
};

#define N_SOURCES (sizeof source_table / sizeof source_table[0])

int cairn_source_is_url(const char *s)
{
  return s && (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0);
}

char *cairn_source_safe_param(const char *value)
{
  return cairn_source_is_url(value) ? cairn__hs_url_safe(value)
                                    : cairn_xstrdup(value);
}

int cairn_source_wants_http(const json_t *cfg)
{
  return json_object_get(cfg, "request") != NULL ||
         cairn_source_is_url(json_string_value(json_object_get(cfg, "path")));
}

const cairn_source_ops *cairn_source_find(const char *name)
{
  for (size_t i = 0; i < N_SOURCES; i++)
    if (strcmp(source_table[i]->name, name) == 0)
      return source_table[i];
  return NULL;
}

const char *cairn_source_names(void)
{
  static char names[256];
  if (!names[0])
    for (size_t i = 0; i < N_SOURCES; i++) {
      if (i)
        strcat(names, ", ");
      strcat(names, source_table[i]->name);
    }
  return names;
}

long cairn__cfg_count(const json_t *cfg, const char *key, long def)
{
  const json_t *v = json_object_get(cfg, key);
  if (json_is_integer(v))
    return (long)json_integer_value(v);
  if (json_is_string(v))
    return strtol(json_string_value(v), NULL, 10);
  return def;
}

static int count_ok(const json_t *v)
{
  char *end;
  if (!v)
    return 1;
  if (json_is_integer(v))
    return json_integer_value(v) > 0;
  if (!json_is_string(v))
    return 0;
  errno = 0;
  return strtol(json_string_value(v), &end, 10) > 0 && *end == '\0' &&
         errno == 0;
}

int cairn__cfg_check_chunks(const json_t *cfg, const char **ptr_out,
                            cairn_err *err)
{
  static const char *const keys[] = { "chunk_rows", "chunk_bytes" };
  static const char *const ptrs[] = { "/chunk_rows", "/chunk_bytes" };
  for (size_t i = 0; i < 2; i++)
    if (!count_ok(json_object_get(cfg, keys[i]))) {
      *ptr_out = ptrs[i];
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                         "%s must be a positive integer", keys[i]);
    }
  return CAIRN_OK;
}

void cairn__put_line(char *out, size_t prefix, long line)
{
  char tmp[24], *q = tmp + sizeof tmp;
  unsigned long v = line > 0 ? (unsigned long)line : 0;
  do {
    *--q = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  memcpy(out + prefix, q, (size_t)(tmp + sizeof tmp - q));
  out[prefix + (size_t)(tmp + sizeof tmp - q)] = '\0';
}

int cairn__emit_reject(cairn_record_fn emit, void *ud,
                       const struct cairn_header *h, const json_t *meta,
                       const char *pos, const char *p, size_t n,
                       const char *why)
{
  struct cairn_record rec;
  memset(&rec, 0, sizeof rec);
  rec.header = h;
  rec.ragged = 1; /* its cells are not the header's */
  rec.meta = meta;
  rec.position = pos;
  rec.raw = p;
  rec.raw_len = cairn__csv_trim_eol(p, n);
  rec.error = why;
  return emit(ud, &rec);
}

void cairn_page_clear(struct cairn_page *p)
{
  cairn_buf_free(&p->raw);
  cairn_buf_free(&p->index);
  cairn_page_reset(p);
}

void cairn_page_reset(struct cairn_page *p)
{
  cairn_buf_reset(&p->raw);
  cairn_buf_reset(&p->index);
  free(p->cursor_out);
  free(p->meta);
  p->cursor_out = NULL;
  p->meta = NULL;
  p->n_hint = -1;
  p->narrowed = 0;
  p->resynced = 0;
  p->view = NULL;
  p->view_len = 0;
}

int cairn_source_open(const cairn_source_ops *ops,
                      const struct cairn_source_ctx *ctx, cairn_source **out,
                      cairn_err *err)
{
  cairn_source *s = cairn_xcalloc(1, ops->size);
  int rc;

  s->ops = ops;
  s->ctx = ctx;
  rc = ops->open(s, ctx, err);
  if (rc < 0) {
    ops->close(s);
    free(s);
    *out = NULL;
    return rc;
  }
  *out = s;
  return CAIRN_OK;
}

void cairn_source_close(cairn_source *s)
{
  if (!s)
    return;
  s->ops->close(s);
  free(s);
}
