/* SPDX-License-Identifier: MIT */
/* source.h -- where records come from: the source vtable and registry.
 *
 * A source splits one window into chunks. extract() produces one chunk's
 * raw bytes from a cursor (an opaque JSON text the source alone
 * interprets) and the cursor of the next chunk; decode() turns raw bytes
 * into records. Keeping the two apart is what lets the runner spool a raw
 * page at the "extracted" stage and, after a crash, decode it again without
 * fetching it again. A source whose extract() is a pure function of the
 * cursor (a local file) sets CAIRN_SOURCE_REREADABLE and is not spooled.
 *
 * Lifecycle: open -> (extract -> decode)* -> close. Not thread-safe, but
 * decode() of one page may run on another thread than the next extract()
 * as long as calls do not overlap: a page is decoded before the next
 * extract, which may end what the page borrows from the source (a view's
 * bytes: see cairn_page; the cost export's header of the page's blob).
 * A source with decode_part() lets parts of one page be decoded at once. */
#ifndef CAIRN_SOURCE_H
#define CAIRN_SOURCE_H

#include <jansson.h>
#include "core/batch.h"
#include "core/err.h"
#include "core/mem.h"

struct cairn_http_transport;

#define CAIRN_SOURCE_ABI 1
#define CAIRN_SOURCE_REREADABLE 0x1u /* extract(cursor) is repeatable */

/* Everything a source may use; borrowed for the source's whole life. */
struct cairn_source_ctx {
  const char                *job;        /* job name */
  const json_t              *cfg;        /* the job's "source" object, with
                                            ${param/env/secret} expanded */
  const struct cairn_window *window;     /* the window being extracted */
  const char                *job_dir;    /* dir of the job file (relative
                                            paths in cfg resolve from cwd) */
  struct cairn_http_transport *http;     /* NULL unless the job uses HTTP */
  const char                *work_dir;   /* a directory the source may keep
                                            files in across runs (created
                                            by the source when it needs it;
                                            <state>/work/<job>) */
  int                        backfill;   /* --from/--to run: don't read or
                                            write incremental state */
  const char                *trace_id;   /* the run's W3C trace id (32 hex)
                                            for traceparent, or NULL */
  /* Incremental state: get returns the committed value (borrowed, NULL if
   * none); put stages a value that is committed only after the window is
   * loaded (the runner's promise). */
  const char *(*kv_get)(void *ud, const char *key);
  void        (*kv_put)(void *ud, const char *key, const char *value);
  void        *kv_ud;
};

/* One extracted chunk. extract() fills it; the runner releases it with
 * cairn_page_clear(). */
struct cairn_page {
  struct cairn_buf raw;        /* the raw bytes (owned), unless view is set */
  const char      *view;       /* set by a source that hands a chunk out in
                                  place (the cost export, from a mapped
                                  plain blob): the page's bytes are then
                                  view[0..view_len), valid until that
                                  source's next extract or close, and raw
                                  is empty. Only a rereadable source may
                                  set it (nothing is spooled from a view).
                                  Read the bytes with cairn_page_bytes */
  size_t           view_len;
  char            *cursor_out; /* cursor of the next chunk; NULL = this is
                                  the window's last chunk (owned) */
  char            *meta;       /* JSON text: response status/headers, file
                                  name and first line; may be NULL (owned) */
  long             n_hint;     /* records expected, -1 when unknown */
  int              narrowed;   /* set on a window's first chunk when the
                                  job's committed incremental state
                                  narrowed what was asked for (a saved
                                  delta link, a saved watermark, a
                                  conditional request answered 304): the
                                  source sends only what changed since.
                                  0, the default, is a full extraction,
                                  after which the rejects earlier attempts
                                  kept for the window go
                                  (cairn_state_window_kept_drop) */
  int              resynced;   /* set on a later chunk where the source
                                  gave up the window's incremental
                                  extraction for a full one (a delta
                                  round's next link that lapsed): the
                                  rejects earlier attempts kept go then,
                                  as after a full first chunk */
  struct cairn_buf index;      /* optional record index from extract: per
                                  record of raw (blank lines included), a
                                  uint32_t pair {bytes, newlines}, so
                                  decode need not scan again; empty when
                                  unknown (e.g. a spooled page). Only the
                                  source that wrote it reads it, and only
                                  after checking it covers raw exactly.
                                  Emptied by reset (owned) */
};
void cairn_page_clear(struct cairn_page *p);
/* The page's bytes (view or raw) and, in *len, their count. */
static inline const char *cairn_page_bytes(const struct cairn_page *p,
                                           size_t *len)
{
  *len = p->view ? p->view_len : p->raw.len;
  return p->view ? p->view : p->raw.data;
}
/* Empty the page for the next chunk but keep raw's memory. */
void cairn_page_reset(struct cairn_page *p);

typedef struct cairn_source cairn_source;

typedef struct cairn_source_ops {
  int         abi;    /* CAIRN_SOURCE_ABI */
  const char *name;   /* the job's source "type" */
  size_t      size;   /* instance size; the instance embeds cairn_source */
  unsigned    flags;  /* CAIRN_SOURCE_* */
  /* Check a source config without running anything (for validate); may be
   * NULL. Report problems with the config pointer in 'ptr_out' (static or
   * NULL) so the caller can name a line and column. */
  int  (*check)(const json_t *cfg, const char **ptr_out, cairn_err *err);
  int  (*open)(cairn_source *s, const struct cairn_source_ctx *ctx,
               cairn_err *err);
  /* Extract the chunk that starts at cursor_in (NULL: window start) into
   * page. Returns CAIRN_OK, CAIRN_DONE when no chunk starts at this cursor
   * (window exhausted), or an error. A network failure that may succeed
   * later returns CAIRN_EHTTP (or RETRY/CIRCUIT): the run is resumable. */
  int  (*extract)(cairn_source *s, const char *cursor_in,
                  struct cairn_page *page, cairn_err *err);
  /* Call emit for each record in page, in source order. seq is the
   * chunk number (for positions). A non-zero return of emit stops
   * decoding and is returned. */
  int  (*decode)(cairn_source *s, long seq, const struct cairn_page *page,
                 cairn_record_fn emit, void *ud, cairn_err *err);
  void (*close)(cairn_source *s);  /* must tolerate a failed open */
  /* Optional (NULL: a page is decoded whole, on one thread). Decode part
   * k of n_parts of page: the parts are contiguous runs of its records in
   * source order, so parts 0 .. n_parts-1 one after the other emit
   * exactly what decode() emits. Calls for different parts of one page
   * may run at the same time on different threads, each with its own
   * emit and ud; nothing else of the source runs meanwhile. A page the
   * source cannot split is emitted whole by part 0. */
  int  (*decode_part)(cairn_source *s, long seq, const struct cairn_page *page,
                      unsigned part, unsigned n_parts, cairn_record_fn emit,
                      void *ud, cairn_err *err);
  /* Optional (NULL: not told). Right after open, before any extract, the
   * runner passes the cursor_in of every chunk the window already holds
   * from an interrupted run, in seq order, so a source can remember what
   * it asked for before the restart (the http source: its paging-loop
   * detection). */
  void (*checkpointed)(cairn_source *s, const char *cursor_in);
  /* Optional (NULL: none). The header of the first file cfg (the job's
   * "source", variables expanded) reads, without opening the source for a
   * run: the job's mapping is checked against it before anything runs, so
   * a misspelt column is an invalid job rather than a run that rejects
   * every record. On CAIRN_OK *out is new (cairn_header_clear, then
   * free) and *file_out the file's path (new). CAIRN_DONE when there is
   * no header to check now (NDJSON, a source without headers, or one the
   * run will refuse, naming why). <0 with err set when the input is not
   * there at all (no file matches the path): the error the run's open
   * would stop on, which --dry-run reports. */
  int  (*peek_header)(const json_t *cfg, struct cairn_header **out,
                      char **file_out, cairn_err *err);
  /* Optional (NULL: not told). The chunk that starts at cursor_in is
   * loaded and checkpointed, so neither this run nor a resume of the
   * window reads the input before cursor_in again (a resume starts at
   * the chunk after the last one loaded, or re-reads that one when it
   * was the window's last); cursor_in NULL: the window is loaded, and
   * nothing of its input is read again. A source that keeps a copy of
   * its input (the cost export's downloads) deletes what it no longer
   * needs. */
  void (*released)(cairn_source *s, const char *cursor_in);
} cairn_source_ops;

struct cairn_source {             /* embedded first by each implementation */
  const cairn_source_ops        *ops;
  const struct cairn_source_ctx *ctx;
  /* Set by open() when the source knows the period its data covers in a
   * window without bounds of its own ("all"): [span_from, span_to) as
   * "YYYY-MM-DD", span_to exclusive; left empty otherwise. The runner
   * hands it to the sinks as the window's span (struct cairn_window). */
  char span_from[11];
  char span_to[11];
};

/* ---- shared by the sources (internal) -------------------------------- */

/* A count given as a JSON integer or a numeric string ("${param:n:-50}");
 * def when absent. */
long cairn__cfg_count(const json_t *cfg, const char *key, long def);
/* Check that chunk_rows and chunk_bytes, when present, are positive
 * counts; on failure *ptr_out names the key. */
int  cairn__cfg_check_chunks(const json_t *cfg, const char **ptr_out,
                             cairn_err *err);

/* Write the decimal line number at out + prefix (NUL-terminated): record
 * positions "file:line" without a printf per record. out needs prefix + 21
 * bytes. */
void cairn__put_line(char *out, size_t prefix, long line);

/* Hand the transform, as a reject for reason why, one record a source
 * could not read as a record (larger than CAIRN_CSV_RECORD_MAX, a quote
 * never closed): at position pos, with the page's meta (may be NULL) and
 * raw p[0..n), its line terminator dropped, as the quarantine's raw
 * text. Returns what emit does. */
int cairn__emit_reject(cairn_record_fn emit, void *ud,
                       const struct cairn_header *h, const json_t *meta,
                       const char *pos, const char *p, size_t n,
                       const char *why);

/* Registry. NULL when no source has that name. */
const cairn_source_ops *cairn_source_find(const char *name);

/* Whether s is an http(s) URL. */
int cairn_source_is_url(const char *s);

/* Whether a source with this config fetches over HTTP (an http source's
 * "request", or a path that is a URL, as a cost export's may be): the
 * runner then opens a transport for it. */
int cairn_source_wants_http(const json_t *cfg);

/* A job parameter's value as it may be kept in state and shown by
 * `cairn status`: an http(s) URL with the values of its credential-like
 * query parameters (a SAS token's sig, token, key, ...) REDACTED, any
 * other text as it is. New string. */
char *cairn_source_safe_param(const char *value);
/* Comma-separated list of registered names (static). */
const char *cairn_source_names(void);

/* Create and open a source of the ops' type. On failure *out is NULL. */
int  cairn_source_open(const cairn_source_ops *ops,
                       const struct cairn_source_ctx *ctx, cairn_source **out,
                       cairn_err *err);
void cairn_source_close(cairn_source *s);  /* NULL ok */

#endif
