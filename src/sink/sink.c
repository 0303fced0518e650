/* SPDX-License-Identifier: MIT */
/* sink.c -- the sink registry and the policy wrappers (sticky failure).
 *
 * To add a sink: create sink_<name>.c defining cairn_sink_<name>_ops,
 * declare it below, add one line to sink_table, and add
 * tests/unit/test_sink_<name>.c. Names must be unique. */
#include "sink/sink.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

extern const cairn_sink_ops cairn_sink_sqlite_ops;
extern const cairn_sink_ops cairn_sink_bundle_ops;

static const cairn_sink_ops *const sink_table[] = {
  &cairn_sink_sqlite_ops,
  &cairn_sink_bundle_ops,
};

#define N_SINKS (sizeof sink_table / sizeof sink_table[0])

const cairn_sink_ops *cairn_sink_find(const char *name)
{
  for (size_t i = 0; i < N_SINKS; i++)
    if (strcmp(sink_table[i]->name, name) == 0)
      return sink_table[i];
  return NULL;
}

const char *cairn_sink_names(void)
{
  static char names[256];
  if (!names[0])
    for (size_t i = 0; i < N_SINKS; i++) {
      if (i)
        strcat(names, ", ");
      strcat(names, sink_table[i]->name);
    }
  return names;
}

const char *cairn_sink_output(const json_t *cfg)
{
  const char *type = json_string_value(json_object_get(cfg, "type"));
  const char *path = json_string_value(json_object_get(cfg, "path"));
  const char *dir = json_string_value(json_object_get(cfg, "dir"));

  if (type && strcmp(type, "bundle") == 0)
    return dir ? dir : path ? path : CAIRN_SINK_BUNDLE_DIR;
  return path ? path : CAIRN_SINK_SQLITE_PATH;
}

int cairn_sink_open(const cairn_sink_ops *ops, const struct cairn_sink_ctx *ctx,
                    cairn_sink **out, cairn_err *err)
{
  cairn_sink *s = cairn_xcalloc(1, ops->size);
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

static int refused(cairn_sink *s, cairn_err *err)
{
  return CAIRN_RAISE(err, CAIRN_ESINK, 0, "%s: refused after earlier failure",
                     s->ctx->sink_name);
}

static int track(cairn_sink *s, int rc)
{
  if (rc < 0)
    s->failed = 1;
  return rc;
}

int cairn_sink_durable_seq(cairn_sink *s, const struct cairn_window *w,
                           long *seq_out, cairn_err *err)
{
  *seq_out = 0;
  if (s->failed)
    return refused(s, err);
  return track(s, s->ops->durable_seq(s, w, seq_out, err));
}

int cairn_sink_held_seq(cairn_sink *s, const struct cairn_window *w,
                        long *seq_out, cairn_err *err)
{
  *seq_out = 0;
  if (s->failed)
    return refused(s, err);
  return track(s, (s->ops->held_seq ? s->ops->held_seq
                                    : s->ops->durable_seq)(s, w, seq_out,
                                                           err));
}

int cairn_sink_load(cairn_sink *s, const struct cairn_window *w, long seq,
                    const struct cairn_batch *b, cairn_err *err)
{
  int rc;
  if (s->failed)
    return refused(s, err);
  rc = track(s, s->ops->load(s, w, seq, b, err));
  if (rc == CAIRN_OK)
    s->rows += b->n_rows;
  return rc;
}

int cairn_sink_finish_window(cairn_sink *s, const struct cairn_window *w,
                             long n_seq, const char *logical_time,
                             cairn_err *err)
{
  if (s->failed)
    return refused(s, err);
  if (!s->ops->finish_window)
    return CAIRN_OK;
  return track(s, s->ops->finish_window(s, w, n_seq, logical_time, err));
}

int cairn_sink_reset_window(cairn_sink *s, const struct cairn_window *w,
                            cairn_err *err)
{
  if (s->failed)
    return refused(s, err);
  return track(s, s->ops->reset_window(s, w, err));
}

void cairn_sink_outputs(cairn_sink *s, const struct cairn_window *w,
                        json_t *out)
{
  cairn_err err = {0};
  if (!s->failed && s->ops->outputs)
    s->ops->outputs(s, w, out, &err);
}

void cairn_sink_close(cairn_sink *s)
{
  if (!s)
    return;
  s->ops->close(s);
  free(s);
}
