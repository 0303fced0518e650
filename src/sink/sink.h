/* SPDX-License-Identifier: MIT */
/* sink.h -- where records land: the sink vtable and registry.
 *
 * Sinks know their own durable position. load() makes one chunk durable
 * together with the sink's record of (job, window, seq) -- one SQLite
 * transaction, or a part file written to a temp name, fsynced and renamed
 * under a deterministic name -- so after a crash durable_seq() tells the
 * runner exactly which chunks the sink holds and a chunk is never applied
 * twice. finish_window() runs once every chunk of a window is loaded and
 * must be idempotent (it may run again after a crash).
 *
 * Lifecycle: open -> (durable_seq, load*, finish_window)* -> close.
 * Sticky failure: after any error the wrappers refuse further work. */
#ifndef CAIRN_SINK_H
#define CAIRN_SINK_H

#include <jansson.h>
#include "core/batch.h"
#include "core/err.h"

#define CAIRN_SINK_ABI 1

/* Where a sink writes, relative to the output root, when its definition
 * does not say: a sqlite sink's "path", a bundle sink's "dir". */
#define CAIRN_SINK_SQLITE_PATH "warehouse.db"
#define CAIRN_SINK_BUNDLE_DIR  "evidence"

/* What the runner tells a sink; borrowed for the sink's whole life. */
struct cairn_sink_ctx {
  const char *job;                     /* job name */
  const char *sink_name;               /* "warehouse" */
  const json_t *cfg;                   /* sink definition merged with the
                                          job's overrides (type, path, mode,
                                          ...), variables expanded */
  const char *out_dir;                 /* resolved output root */
  const struct cairn_contract *contract;
  const char *connector_version;       /* job's connector_version or "" */
  const char *recording_sha256;        /* replay runs: HAR digest, else NULL */
  const char *(*secret)(void *ud, const char *name); /* borrowed or NULL */
  void       *secret_ud;
};

typedef struct cairn_sink cairn_sink;

typedef struct cairn_sink_ops {
  int         abi;    /* CAIRN_SINK_ABI */
  const char *name;   /* the sink "type": "sqlite", "bundle" */
  size_t      size;   /* instance size; the instance embeds cairn_sink */
  /* Validate a sink config; NULL ok. ptr_out as in cairn_source_ops. c is
   * the contract the job loads through the sink, or NULL (a sink file
   * checked on its own): a config that cannot serve it (a write mode
   * whose key the contract lacks) is refused when the job loads, as open
   * would refuse it. */
  int  (*check)(const json_t *cfg, const struct cairn_contract *c,
                const char **ptr_out, cairn_err *err);
  int  (*open)(cairn_sink *s, const struct cairn_sink_ctx *ctx,
               cairn_err *err);
  /* Highest seq of window w this sink holds durably (0 = none). */
  int  (*durable_seq)(cairn_sink *s, const struct cairn_window *w,
                      long *seq_out, cairn_err *err);
  /* Make chunk seq of w durable, atomically with the sink's own record of
   * it. Called with seq = durable_seq + 1 only. 'b' is borrowed. */
  int  (*load)(cairn_sink *s, const struct cairn_window *w, long seq,
               const struct cairn_batch *b, cairn_err *err);
  /* All chunks 1..n_seq of w are loaded. logical_time is RFC 3339 (window
   * end or the first response's Date). Idempotent. NULL ok. */
  int  (*finish_window)(cairn_sink *s, const struct cairn_window *w,
                        long n_seq, const char *logical_time, cairn_err *err);
  /* Forget the sink's record of window w (a new attempt starts over). The
   * data already loaded stays; write modes make reloading it harmless. */
  int  (*reset_window)(cairn_sink *s, const struct cairn_window *w,
                       cairn_err *err);
  void (*close)(cairn_sink *s);  /* must tolerate a failed open */
  /* Describe what the sink wrote for window w (after finish_window) into
   * the object 'out' for the run's audit record: paths and digests. NULL
   * ok. */
  int  (*outputs)(cairn_sink *s, const struct cairn_window *w, json_t *out,
                  cairn_err *err);
  /* The secret the sink cannot open without under cfg (a bundle sink's
   * signing key when require_signature is set), or NULL; NULL ok. Asked
   * when the job loads, without opening the sink: a dry run names it, and
   * a refused job names it with the other secrets it lacks. */
  const char *(*required_secret)(const json_t *cfg);
  /* Highest seq of window w the sink holds, for a window the state says
   * loaded (is it still there, or was the sink's file deleted or
   * replaced?): as durable_seq, but without refusing what durable_seq
   * refuses to resume (the SQLite sink's chunks of another contract
   * version). NULL: durable_seq answers. */
  int  (*held_seq)(cairn_sink *s, const struct cairn_window *w,
                   long *seq_out, cairn_err *err);
  /* Read the secrets open would read through ctx (job, sink_name, cfg,
   * secret, secret_ud are set) and fail as open would on them (a bundle
   * sink's signing key that is empty or not an unencrypted Ed25519 PEM
   * key), without opening the sink or writing anything: what a dry run
   * asks. NULL ok. */
  int  (*check_secrets)(const struct cairn_sink_ctx *ctx, cairn_err *err);
} cairn_sink_ops;

struct cairn_sink {                 /* embedded first by each implementation */
  const cairn_sink_ops        *ops;
  const struct cairn_sink_ctx *ctx;
  int                          failed;  /* sticky after any error */
  uint64_t                     rows;    /* rows loaded through this handle */
};

const cairn_sink_ops *cairn_sink_find(const char *name);
const char *cairn_sink_names(void);
/* What the sink definition cfg writes, relative to the output root: a
 * bundle sink's "dir" (or its alias "path"), another sink's "path", else
 * the type's default. Borrowed from cfg, or static. */
const char *cairn_sink_output(const json_t *cfg);

int  cairn_sink_open(const cairn_sink_ops *ops, const struct cairn_sink_ctx *ctx,
                     cairn_sink **out, cairn_err *err);
int  cairn_sink_durable_seq(cairn_sink *s, const struct cairn_window *w,
                            long *seq_out, cairn_err *err);
int  cairn_sink_held_seq(cairn_sink *s, const struct cairn_window *w,
                         long *seq_out, cairn_err *err);
int  cairn_sink_load(cairn_sink *s, const struct cairn_window *w, long seq,
                     const struct cairn_batch *b, cairn_err *err);
int  cairn_sink_finish_window(cairn_sink *s, const struct cairn_window *w,
                              long n_seq, const char *logical_time,
                              cairn_err *err);
int  cairn_sink_reset_window(cairn_sink *s, const struct cairn_window *w,
                             cairn_err *err);
/* Fills out (an object) when the sink describes its outputs; else leaves
 * it empty. Never fails the run: an error only leaves out partial. */
void cairn_sink_outputs(cairn_sink *s, const struct cairn_window *w,
                        json_t *out);
void cairn_sink_close(cairn_sink *s);  /* NULL ok */

#endif
