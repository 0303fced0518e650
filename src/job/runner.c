/* SPDX-License-Identifier: MIT */
/* runner.c -- the chunk protocol. The order of writes is the whole design:
 *
 *   extract   raw page spooled (unless the source is rereadable; not
 *             fsynced: a page lost to a power loss is fetched again, see
 *             state.c), then the chunk row with cursor_in/cursor_out
 *                                                            -> "extracted"
 *   transform decode + map; counts, digest and quarantine rows in one
 *             state transaction                              -> "transformed"
 *   load      each sink makes the chunk durable atomically with its own
 *             record of (job, window, seq); then the state row -> "loaded"
 *   window    sinks finish the window (idempotent), the spool is dropped,
 *             then one transaction marks it loaded and commits its
 *             incremental state.
 * On resume every sink and the state store report their durable seq; the
 * runner restarts at the smallest and a sink skips what it holds. A kill
 * between any two of these writes is harmless. */
#include "job/runner.h"
#include "core/clock.h"
#include "core/codec.h"
#include "core/cpu.h"
#include "core/fsx.h"
#include "core/hash.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "http/http.h"
#include "job/progress.h"
#include "state/state.h"
#include "transform/transform.h"

#include <errno.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct run {
  struct cairn_job          *job;
  const struct cairn_run_opts *o;
  cairn_state               *st;
  cairn_transform           *xf;
  cairn_sink               **sinks;
  struct cairn_sink_ctx     *sink_ctx;
  cairn_http_transport      *http;
  char                      *work_dir;   /* <state>/work/<job>, for the
                                            source (cairn_source_ctx) */
  char                       recording_sha[65];
  int                        tls_insecure; /* the live transport verifies
                                              no certificate */
  long                       attempt;
  struct cairn_window       *w;      /* window being run (its span set
                                        from the source's when it has none) */
  int                        kept_keyed; /* w has kept rejects with a key
                                            (cairn_state_window_kept_keyed):
                                            loaded rows' keys may drop them */
  int                        own_keyed;  /* this attempt rejected a record
                                            of w with a key (so far, up to
                                            the chunk last transformed): a
                                            later row of it drops that */
  struct cairn_batch        *batches[2]; /* filled by the producer in turn */
  struct cairn_batch        *batch;      /* the one being filled */
  /* The mapper: a second thread mapping part of each chunk (see
   * transform_chunk); created on first use. */
  cairn_transform           *xf_side;    /* its clone of xf */
  struct cairn_batch        *side;       /* its part, absorbed into batch */
  cairn_state               *load_st;    /* the loader's own connection */
  char                       run_id[33];
  char                       trace_id[33];
  /* totals for the summary and the run record */
  int64_t extracted, loaded, rejected, chunks, redone, windows_done;
  int64_t windows_skipped;
  char   *metrics_dir;  /* NULL until the lock is held */
  json_t *outputs;      /* per loaded window: digests and sink outputs */
  /* Where the time goes (ms), logged at debug level per window. */
  int64_t ms_extract, ms_transform, ms_wait_batch, ms_load, ms_wait_item;
  int64_t ms_finish;
};

/* ---- test hooks -------------------------------------------------------------
 * CAIRN_TEST_KILL_AT=<point>:<seq>[:<window>] raises SIGKILL at a chunk
 * boundary (points: extracted, transformed, sink_loaded, loaded, window,
 * window_loaded; the last two take the window's chunk count as seq) so
 * the crash-torture test can stop a run exactly between two writes.
 * CAIRN_TEST_FAULT=<point>:<seq>[:<window>] fails there with an injected
 * error instead (with a window, only in that window).
 * Both are inert unless set. CAIRN_TEST_KILL_SIGNAL=TERM makes the kill a
 * SIGTERM (what systemd, Kubernetes and timeout send) instead,
 * TERM,INT a SIGTERM then a SIGINT (a stop, then Ctrl-C), and STOP a
 * SIGSTOP (once), after which the run goes on when continued: the file-system
 * fault test changes the disk under a run stopped between two writes. */

static int hook_matches(const char *env, const char *point, long seq,
                        const char *window)
{
  const char *v = getenv(env);
  size_t n = strlen(point);
  char *end;
  if (!v || strncmp(v, point, n) != 0 || v[n] != ':')
    return 0;
  if (strtol(v + n + 1, &end, 10) != seq)
    return 0;
  /* <point>:<seq>:<window>: only in that window (a backfill's second) */
  return *end != ':' || strcmp(end + 1, window) == 0;
}

static void kill_point(const char *point, long seq, const char *window)
{
  const char *how = getenv("CAIRN_TEST_KILL_SIGNAL");
  static atomic_int fired;
  if (!hook_matches("CAIRN_TEST_KILL_AT", point, seq, window))
    return;
  /* Once: sink_loaded is met by every sink of the chunk, on their own
   * threads; a second stop after the test's SIGCONT would never be
   * continued, and a second SIGTERM ends the process at once. */
  if (atomic_exchange(&fired, 1))
    return;
  if (how && strcmp(how, "STOP") == 0) {
    raise(SIGSTOP);
    return;
  }
  if (!how || strncmp(how, "TERM", 4) != 0)
    raise(SIGKILL);
  raise(SIGTERM);
  if (strcmp(how, "TERM,INT") == 0)
    raise(SIGINT);
}

/* ---- stopping on SIGTERM or SIGINT ------------------------------------------
 * systemctl stop, a Kubernetes eviction, timeout(1) or Ctrl-C: the handler
 * notes the first signal (cairn_stop_note) and logs its arrival
 * (cairn_log_stop_write, so that a run killed later, systemd's stop
 * timeout, still leaves the stop in its log); the run stops before its
 * next chunk or window, with the chunks before it loaded and checkpointed,
 * or sooner where it waits on a server (an HTTP transfer, a retry's wait:
 * the chunk being read is read again by the rerun), and ends as any
 * failed run does: run record, metrics and summary, exit 3. A second
 * signal, of either kind, ends the process at once (the checkpoints
 * survive that too). */
static void on_stop_signal(int sig)
{
  if (cairn_stop_signal()) {
    /* async-signal-safe: signal() and raise() */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    raise(sig);
    return;
  }
  cairn_stop_note(sig);
  cairn_log_stop_write(sig); /* async-signal-safe: one write(2) */
}

void cairn_runner_catch_signals(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
}

static int stop_point(const char *before, long n, cairn_err *err)
{
  if (!cairn_stop_signal())
    return CAIRN_OK;
  return CAIRN_RAISE(err, CAIRN_ESTOPPED, 0, "stopped by %s before %s %ld "
                     "(what came before it is loaded and checkpointed)",
                     cairn_stop_name(), before, n);
}

static int fault_point(const char *point, long seq, const char *window,
                       cairn_err *err)
{
  if (hook_matches("CAIRN_TEST_FAULT", point, seq, window))
    return CAIRN_RAISE(err, CAIRN_EIO, 0, "injected fault at %s of chunk %ld",
                       point, seq);
  return CAIRN_OK;
}

/* What to do after a failure with exit code 3 ("" for any other exit
 * code): most resume as they are; two need --fresh, because the
 * checkpoint no longer fits (the input changed under it) or a plain resume
 * would stop at the same guard (the records rejected so far count again,
 * and they are only in the DLQ); a host refusal needs the job (or the
 * saved delta link) changed first, a damaged state store restoring or
 * moving aside; input that cannot be read (CAIRN_EPARSE: a file in
 * UTF-16, a manifest's refused blob, a server's answer that is not JSON)
 * is read again by a rerun, so it needs fixing first unless the fault
 * has passed; a paging loop (CAIRN_ELOOP) is met again by any rerun of
 * the checkpoint, fixed job or not. */
static const char *resume_advice(int exit_code, const cairn_err *err)
{
  if (exit_code != CAIRN_EXIT_RESUMABLE || !err)
    return "";
  if (cairn_state_damaged(err))
    return "a rerun fails the same way until the state store is restored "
           "or moved aside: see the message";
  switch (err->code) {
  case CAIRN_ECHANGED:
    return "the checkpoint no longer fits the input (it changed since, or "
           "the position cannot be resumed): rerun with --fresh to load it "
           "as it is now";
  case CAIRN_EREJECTS:
    return "once the mapping or input is fixed, rerun with --fresh, which "
           "reloads the window with the records rejected so far (a plain "
           "rerun counts them again)";
  case CAIRN_ECIRCUIT:
  case CAIRN_ERETRY:
    return "run again later, when the source answers again, to resume";
  case CAIRN_EREPLAY:
    return "a rerun with this recording misses the same way: replay the "
           "recording this job made, or record it again with --record";
  case CAIRN_EHOST:
    return "a rerun is refused the same way until the job allows the host "
           "or, for a saved delta link, the link is deleted: see the "
           "message";
  case CAIRN_EPARSE:
    return "once what the message names is fixed, run again to resume "
           "(a rerun reads it again)";
  case CAIRN_ELOOP:
    return "fix the job's paging (or have the API's owner fix the server), "
           "then rerun with --fresh: a plain rerun asks again for the pages "
           "its checkpoint holds and stops the same way";
  default:
    return "run again to resume";
  }
}

int cairn_exit_code_for(int rc)
{
  switch (rc) {
  case CAIRN_OK:
  case CAIRN_DONE:
    return CAIRN_EXIT_OK;
  case CAIRN_EUSAGE:
  case CAIRN_ELOCKED:
  case CAIRN_ESCHEMA:
    return CAIRN_EXIT_USAGE;
  case CAIRN_EVERIFY:
    return CAIRN_EXIT_VERIFY;
  default:
    return CAIRN_EXIT_RESUMABLE;
  }
}

/* ---- incremental state seen by sources -------------------------------------- */

struct kv_ctx {
  struct run *r;
  json_t     *cache;   /* committed values read so far */
  int         rc;      /* the first failure to read or stage a value */
  cairn_err   err;     /* (the source cannot be told: kv_failed) */
  int         none;    /* read nothing saved: a sink lost the window's
                          rows (sinks_lost), so it is extracted in full */
};

/* Note the first failure of the state behind kv_get or kv_put. */
static void kv_fail(struct kv_ctx *k, int rc, const cairn_err *e)
{
  if (k->rc == CAIRN_OK) {
    k->rc = rc;
    k->err = *e;
  }
}

/* rc, or the failure kv_get or kv_put met while the source was opened or
 * extracted a page (rc not an error): a value read as absent, or a
 * delta link or watermark not staged, would go unseen (a full sync; the
 * old link or mark committed with the window, its pages read again by
 * the next run), so the chunk fails before its checkpoint and a resume
 * extracts it again. */
static int kv_failed(struct kv_ctx *k, int rc, cairn_err *err)
{
  if (rc < 0 || k->rc == CAIRN_OK)
    return rc;
  *err = k->err;
  return k->rc;
}

/* Does the cursor a chunk re-read ends at (redo) stand for the one it was
 * checkpointed with (kept)? The same text, or, for JSON objects, every
 * member of kept in redo with the same value: a newer version's source
 * may record more of the position (a file's size) than the checkpoint of
 * an earlier one did. */
static int same_cursor(const char *redo, const char *kept)
{
  json_t *r, *k;
  const char *key;
  json_t *v;
  int same;

  if (!redo || !kept)
    return redo == kept;
  if (strcmp(redo, kept) == 0)
    return 1;
  r = json_loads(redo, 0, NULL);
  k = json_loads(kept, 0, NULL);
  same = json_is_object(r) && json_is_object(k);
  json_object_foreach(same ? k : NULL, key, v)
    if (!json_equal(v, json_object_get(r, key)))
      same = 0;
  json_decref(r);
  json_decref(k);
  return same;
}

static const char *kv_get(void *ud, const char *key)
{
  struct kv_ctx *k = ud;
  json_t *v = json_object_get(k->cache, key);
  char *val = NULL;
  cairn_err e = {0};
  int rc;
  if (k->none)
    return NULL;
  if (v)
    return json_string_value(v);
  rc = cairn_state_kv_get(k->r->st, k->r->job->name, key, &val, &e);
  if (rc < 0)
    kv_fail(k, rc, &e);
  if (rc < 0 || !val)
    return NULL;
  json_object_set_new(k->cache, key, json_string(val));
  free(val);
  return json_string_value(json_object_get(k->cache, key));
}

static void kv_put(void *ud, const char *key, const char *value)
{
  struct kv_ctx *k = ud;
  cairn_err e = {0};
  int rc = cairn_state_window_stage_kv(k->r->st, k->r->job->name, k->r->w,
                                       key, value, &e);
  if (rc < 0)
    kv_fail(k, rc, &e);
}

/* ---- one chunk ----------------------------------------------------------------- */

struct emit_ctx {
  cairn_transform    *xf;
  struct cairn_batch *batch;
  cairn_err          *err;
};

static int emit_record(void *ud, const struct cairn_record *rec)
{
  struct emit_ctx *e = ud;
  int rc = cairn_transform_apply(e->xf, rec, e->batch, e->err);
  return rc < 0 ? rc : 0;
}

/* ---- transform: one chunk, on one or two threads ----------------------------
 * Decoding and mapping are most of a chunk's CPU time. When the source can
 * decode a page in parts (decode_part), the producer maps the first half
 * of the chunk while a mapper thread maps the second half with its own
 * transform and batch; then the producer's batch absorbs the mapper's, so
 * the chunk's rows (and rejects) are in source order, exactly as one
 * thread makes them. This pays where the loader has a core to spare (JSON
 * pages); a source whose loader is as busy as its producer (the CSV cost
 * export) does not offer decode_part: see docs/performance.md. */

struct mapper {
  cairn_source            *src;
  long                     seq;
  const struct cairn_page *page;
  struct emit_ctx          e;
  cairn_err                err;
  int                      rc;
};

static void *mapper_main(void *arg)
{
  struct mapper *m = arg;
  cairn_thread_name("cairn-map");
  cairn_log_set_seq(m->seq);
  m->rc = m->src->ops->decode_part(m->src, m->seq, m->page, 1, 2,
                                   emit_record, &m->e, &m->err);
  return NULL;
}

/* Decode and map page into r->batch (reset first); split: on two threads
 * (the caller checked that the source has decode_part). */
static int transform_chunk(struct run *r, cairn_source *src, long seq,
                           const struct cairn_page *page, int split,
                           cairn_err *err)
{
  struct emit_ctx e = { r->xf, r->batch, err };
  struct mapper m = { src, seq, page, { 0 }, { 0 }, CAIRN_OK };
  pthread_t th;
  int rc;

  cairn_batch_reset(r->batch);
  if (split) {
    if (!r->xf_side) {
      rc = cairn_transform_clone(r->xf, &r->xf_side, err);
      if (rc < 0)
        return rc;
      r->side = cairn_batch_create(r->batch->n_fields);
    }
    cairn_batch_reset(r->side);
    m.e = (struct emit_ctx){ r->xf_side, r->side, &m.err };
  }
  if (!split || pthread_create(&th, NULL, mapper_main, &m) != 0)
    return src->ops->decode(src, seq, page, emit_record, &e, err);
  rc = src->ops->decode_part(src, seq, page, 0, 2, emit_record, &e, err);
  pthread_join(th, NULL);
  if (rc >= 0 && m.rc < 0) {
    *err = m.err;
    rc = m.rc;
  }
  if (rc >= 0)
    cairn_batch_absorb(r->batch, r->side);
  return rc;
}

/* Reject-ratio guard over the whole window so far. Judged on the whole
 * window once it is complete, and earlier once enough records were seen
 * for the share to mean something (a changed upstream format shows in the
 * first thousand records; a few bad rows at the start of a good file must
 * not stop it). A window that ends with fewer may reject one record more
 * than its share (unless the ratio is 0, or it rejected every record): a
 * bad record in a small nightly delta is quarantined, not a stop of every
 * night's run until the source is fixed. */
#define REJECT_SAMPLE 1000

static int check_rejects(struct run *r, long seq, int64_t recs, int64_t rejs,
                         int window_done, cairn_err *err)
{
  const struct cairn_batch *b = r->batch;
  double max = cairn_transform_max_reject_ratio(r->xf);
  double ratio;
  struct cairn_buf eg = {0};
  int rc;

  if (recs + rejs == 0 || max >= 1.0)
    return CAIRN_OK;
  if (!window_done && recs + rejs < REJECT_SAMPLE)
    return CAIRN_OK;
  ratio = (double)rejs / (double)(recs + rejs);
  if (ratio <= max || (max > 0 && recs > 0 && recs + rejs < REJECT_SAMPLE &&
                       (double)(rejs - 1) <= max * (double)(recs + rejs)))
    return CAIRN_OK;
  if (b->n_rejects) {
    /* The chunk's first reject, its reasons cut near 200 bytes, says at a
     * glance what went wrong (last, so that a message cut at
     * CAIRN_ERRMSG_MAX loses only its end). */
    const struct cairn_reject *j = &b->rejects[0];
    cairn_buf_printf(&eg, ". The first in this chunk: %s: ", j->position);
    cairn_put_cut(&eg, j->reasons, strlen(j->reasons), 200);
  } else {
    /* The chunk that crossed the limit has none (the bad records came
     * before it, maybe before a resume): the window's first, from the
     * quarantine, which holds every chunk's up to this one. */
    char *pos = NULL, *why = NULL;
    if (cairn_state_first_reject(r->st, r->job->name, r->w, seq, &pos, &why,
                                 NULL) == CAIRN_OK && pos && why) {
      cairn_buf_printf(&eg, ". The first in this window: %s: ", pos);
      cairn_put_cut(&eg, why, strlen(why), 200);
    }
    free(pos);
    free(why);
  }
  rc = CAIRN_RAISE(err, CAIRN_EREJECTS, 0,
                   "window %s: %lld of %lld records rejected (%.1f%% > "
                   "max_reject_ratio %.1f%%); see `cairn dlq %s`. Fix the "
                   "mapping (the upstream format may have changed) or the "
                   "input, then rerun with --fresh%s", r->w->key, (long long)rejs,
                   (long long)(recs + rejs), ratio * 100, max * 100,
                   r->job->name, eg.data ? eg.data : "");
  cairn_buf_free(&eg);
  return rc;
}

static const char *page_date(const char *meta, char *out, size_t n)
{
  json_t *m = meta ? json_loads(meta, 0, NULL) : NULL;
  const char *d = json_string_value(json_object_get(m, "date"));
  int64_t t;
  const char *res = NULL;
  if (d && cairn_clock_parse(d, &t) == 0) {
    cairn_clock_fmt(t, out, n);
    res = out;
  }
  json_decref(m);
  return res;
}

/* ---- the loader ------------------------------------------------------------
 * Chunks are extracted and transformed by the producer (the run's thread)
 * and loaded by a loader thread, joined by a one-slot handoff and two
 * batches: while chunk k is being written to the sinks, chunk k+1 is being
 * read and mapped on the other core. The protocol is unchanged: the loader
 * takes chunks strictly in seq order, and a chunk is loaded into every sink
 * before the state says "loaded". The loader has its own state connection
 * (SQLite connections are not shared between threads). CAIRN_PIPELINE=0
 * loads inline on one thread. */

struct load_item {
  long                seq;
  int                 stage;  /* the chunk's stage before this run */
  int                 slot;   /* index into r->batches */
  int                 keyed;  /* a loaded row's key may drop a reject:
                                 kept_keyed or own_keyed when pushed */
};

struct loader {
  struct run     *r;
  long           *durable;    /* per sink: highest seq it holds */
  int             threaded;
  pthread_t       thread;
  pthread_mutex_t mu;
  pthread_cond_t  cv;
  struct load_item item;
  int             has_item;   /* item is waiting for the loader */
  int             stop;       /* the producer has no more chunks */
  int             busy[2];    /* batch i is queued or being loaded */
  int             rc;         /* first loader error, 0 if none */
  cairn_err       err;
  /* The content digest of the chunk in batch i, made by whichever thread
   * gets to it first: the producer while it waits for that batch to be
   * free (loader_acquire), or the loader once its sinks are writing. */
  int             dg_state[2]; /* DG_* */
  char            dg[2][65];
  struct cairn_buf keys;      /* a chunk's keys, when item.keyed */
};

enum { DG_TODO, DG_BUSY, DG_DONE };

/* One sink's part of loading a chunk (b set) or of finishing a window
 * (logical set). */
struct sink_task {
  struct run    *r;
  size_t         sink;
  long           seq;     /* the chunk, or the window's chunk count */
  const struct cairn_batch *b;
  const char    *logical; /* finish: the window's logical time */
  int            skip;    /* the sink has nothing to do */
  int            rc;
  cairn_err      err;
  pthread_t      thread;
  int            spawned;
};

static void sink_work(struct sink_task *t)
{
  struct run *r = t->r;
  if (!t->b) {
    t->rc = cairn_sink_finish_window(r->sinks[t->sink], r->w, t->seq,
                                     t->logical, &t->err);
    return;
  }
  t->rc = fault_point("sink_load", t->seq, r->w->key, &t->err);
  if (t->rc == CAIRN_OK)
    t->rc = cairn_sink_load(r->sinks[t->sink], r->w, t->seq, t->b, &t->err);
  if (t->rc == CAIRN_OK)
    kill_point("sink_loaded", t->seq, r->w->key);
}

static void *sink_main(void *arg)
{
  struct sink_task *t = arg;
  cairn_thread_name("cairn-sink");
  cairn_log_set_seq(t->b ? t->seq : 0);
  sink_work(t);
  return NULL;
}

/* One task per sink of the job, for chunk seq of batch b, or (b NULL) for
 * finishing the window after seq chunks at logical time logical; the
 * caller frees it. */
static struct sink_task *sink_tasks(struct run *r, long seq,
                                    const struct cairn_batch *b,
                                    const char *logical)
{
  size_t n = r->job->n_sinks;
  struct sink_task *tasks = cairn_xcalloc(n, sizeof *tasks);
  for (size_t i = 0; i < n; i++) {
    tasks[i].r = r;
    tasks[i].sink = i;
    tasks[i].seq = seq;
    tasks[i].b = b;
    tasks[i].logical = logical;
  }
  return tasks;
}

/* Run the n tasks not skipped: the first on this thread, the others (when
 * threaded) on a thread each -- sinks share nothing but the batch, which
 * they only read. The caller may work while they run, then sinks_join. */
static void sinks_start(struct sink_task *tasks, size_t n, int threaded)
{
  struct sink_task *first = NULL;
  for (size_t i = 0; i < n; i++) {
    struct sink_task *t = &tasks[i];
    if (t->skip)
      continue;
    if (!first)
      first = t;
    else if (threaded && pthread_create(&t->thread, NULL, sink_main, t) == 0)
      t->spawned = 1;
    else
      sink_work(t);
  }
  if (first)
    sink_work(first);
}

/* Wait for the tasks; the first failure in sink order is the result. */
static int sinks_join(struct sink_task *tasks, size_t n, cairn_err *err)
{
  int rc = CAIRN_OK;
  for (size_t i = 0; i < n; i++) {
    struct sink_task *t = &tasks[i];
    if (t->spawned)
      pthread_join(t->thread, NULL);
    if (!t->skip && t->rc < 0 && rc == CAIRN_OK) {
      rc = t->rc;
      *err = t->err;
    }
  }
  return rc;
}

/* Compute the digest of batch slot unless the other thread has taken it
 * on; call with L->mu held (threaded). */
static void digest_claimed(struct loader *L, int slot)
{
  if (L->dg_state[slot] != DG_TODO)
    return;
  L->dg_state[slot] = DG_BUSY;
  pthread_mutex_unlock(&L->mu);
  cairn_batch_digest(L->r->batches[slot], L->dg[slot]);
  pthread_mutex_lock(&L->mu);
  L->dg_state[slot] = DG_DONE;
  pthread_cond_broadcast(&L->cv);
}

/* The loader's side: the digest of slot's chunk, computed now or waited
 * for. */
static void chunk_digest(struct loader *L, int slot, char out[65])
{
  if (!L->threaded) {
    cairn_batch_digest(L->r->batches[slot], out);
    return;
  }
  pthread_mutex_lock(&L->mu);
  digest_claimed(L, slot);
  while (L->dg_state[slot] != DG_DONE)
    pthread_cond_wait(&L->cv, &L->mu);
  pthread_mutex_unlock(&L->mu);
  memcpy(out, L->dg[slot], 65);
}

/* Load a chunk into every sink that does not hold it yet, then mark it
 * loaded. With several sinks each writes on its own thread (they share
 * nothing but the batch, which they only read), joined before the state
 * says "loaded": the protocol only needs every sink to hold the chunk by
 * then, in any order. */
static int load_chunk(struct loader *L, const struct load_item *it,
                      cairn_err *err)
{
  struct run *r = L->r;
  struct cairn_job *job = r->job;
  const struct cairn_batch *b = r->batches[it->slot];
  long seq = it->seq;
  struct sink_task *tasks = sink_tasks(r, seq, b, NULL);
  char digest[65];
  int rc;

  cairn_log_set_seq(seq);
  for (size_t i = 0; i < job->n_sinks; i++)
    tasks[i].skip = L->durable[i] >= seq; /* the sink holds it already */
  sinks_start(tasks, job->n_sinks, L->threaded);
  if (it->stage < CAIRN_STAGE_LOADED)
    chunk_digest(L, it->slot, digest); /* while the other sinks write */
  rc = sinks_join(tasks, job->n_sinks, err);
  for (size_t i = 0; i < job->n_sinks; i++)
    if (!tasks[i].skip && tasks[i].rc == CAIRN_OK)
      L->durable[i] = seq;
  free(tasks);
  if (rc < 0)
    return rc;
  if (it->stage < CAIRN_STAGE_LOADED) {
    const char *keys = NULL;
    if (it->keyed) {
      /* Only for a window with keyed rejects to resolve, kept or this
       * attempt's own (most never have any): the records this chunk
       * loads, by contract key. */
      L->keys.len = 0;
      if (cairn_batch_keys(b, job->contract, &L->keys))
        keys = L->keys.data;
    }
    rc = fault_point("state_loaded", seq, r->w->key, err);
    if (rc == CAIRN_OK)
      rc = cairn_state_chunk_loaded(r->load_st, job->name, r->w, seq, digest,
                                    keys, err);
    if (rc < 0)
      return rc;
    r->loaded += (int64_t)b->n_rows;
    r->chunks++;
    cairn_metrics_records("loaded", (int64_t)b->n_rows);
    cairn_metrics_add("cairn_chunks_total", 1, "stage", "loaded", NULL);
    cairn_progress_update(r->loaded, r->chunks,
                          (int64_t)cairn_metrics_sum(cairn_metrics_global(),
                              "cairn_http_retries_total"), -1);
    kill_point("loaded", seq, r->w->key);
  }
  return CAIRN_OK;
}

static void *loader_main(void *arg)
{
  struct loader *L = arg;
  cairn_thread_name("cairn-load");
  pthread_mutex_lock(&L->mu);
  for (;;) {
    struct load_item it;
    cairn_err e = {0};
    int rc;
    int64_t t0 = cairn_clock_mono_ms();
    while (!L->has_item && !L->stop)
      pthread_cond_wait(&L->cv, &L->mu);
    L->r->ms_wait_item += cairn_clock_mono_ms() - t0;
    if (!L->has_item)
      break;
    it = L->item;
    L->has_item = 0;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
    t0 = cairn_clock_mono_ms();
    rc = load_chunk(L, &it, &e);
    L->r->ms_load += cairn_clock_mono_ms() - t0;
    pthread_mutex_lock(&L->mu);
    L->busy[it.slot] = 0;
    if (rc < 0) {
      L->rc = rc;
      L->err = e;
    }
    pthread_cond_broadcast(&L->cv);
    if (rc < 0)
      break;
  }
  pthread_mutex_unlock(&L->mu);
  return NULL;
}

static int loader_start(struct loader *L, struct run *r, long *durable)
{
  memset(L, 0, sizeof *L);
  L->r = r;
  L->durable = durable;
  pthread_mutex_init(&L->mu, NULL);
  pthread_cond_init(&L->cv, NULL);
  L->threaded = cairn_cpu_threads();
  if (L->threaded && pthread_create(&L->thread, NULL, loader_main, L) != 0)
    L->threaded = 0;
  return CAIRN_OK;
}

/* Wait until batch slot i may be refilled; meanwhile compute the digest
 * of the chunk in it, if the loader has not begun to (wait_batch_ms counts
 * that time too). */
static int loader_acquire(struct loader *L, int slot, cairn_err *err)
{
  int64_t t0 = cairn_clock_mono_ms();
  int rc;
  if (!L->threaded)
    return CAIRN_OK;
  pthread_mutex_lock(&L->mu);
  while (L->busy[slot] && !L->rc) {
    if (L->dg_state[slot] == DG_TODO) {
      digest_claimed(L, slot); /* instead of idling */
      continue;
    }
    pthread_cond_wait(&L->cv, &L->mu);
  }
  L->r->ms_wait_batch += cairn_clock_mono_ms() - t0;
  rc = L->rc;
  if (rc < 0)
    *err = L->err;
  pthread_mutex_unlock(&L->mu);
  return rc;
}

/* Hand a transformed chunk to the loader (or load it now). */
static int loader_push(struct loader *L, const struct load_item *it,
                       cairn_err *err)
{
  int rc;
  if (!L->threaded)
    return load_chunk(L, it, err);
  pthread_mutex_lock(&L->mu);
  while (L->has_item && !L->rc)
    pthread_cond_wait(&L->cv, &L->mu);
  rc = L->rc;
  if (rc < 0) {
    *err = L->err;
  } else {
    L->item = *it;
    L->has_item = 1;
    L->busy[it->slot] = 1;
    /* a chunk loaded before needs no digest */
    L->dg_state[it->slot] = it->stage < CAIRN_STAGE_LOADED ? DG_TODO
                                                           : DG_DONE;
    pthread_cond_broadcast(&L->cv);
  }
  pthread_mutex_unlock(&L->mu);
  return rc;
}

/* Let the loader drain and stop; returns its error if it had one and the
 * producer had none, or only a stop (SIGTERM): the stop's "what came
 * before it is loaded and checkpointed" would hide the chunk that failed
 * to load as the loader drained. */
static int loader_finish(struct loader *L, int rc, cairn_err *err)
{
  if (L->threaded) {
    pthread_mutex_lock(&L->mu);
    L->stop = 1;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
    pthread_join(L->thread, NULL);
    if ((rc >= 0 || rc == CAIRN_ESTOPPED) && L->rc < 0) {
      *err = L->err;
      rc = L->rc;
    }
  }
  pthread_mutex_destroy(&L->mu);
  pthread_cond_destroy(&L->cv);
  cairn_buf_free(&L->keys);
  return rc;
}

/* Extract chunk seq (its checkpoint row) again from its cursor_in into
 * page: the chunk read again must be the chunk checkpointed, or its
 * neighbours would overlap (rows loaded twice) or leave a gap. */
static int reread_chunk(cairn_source *src, long seq,
                        const struct cairn_chunk_row *row,
                        struct cairn_page *page, cairn_err *err)
{
  int rc = src->ops->extract(src, row->cursor_in, page, err);
  if (rc == CAIRN_DONE)
    return CAIRN_RAISE(err, CAIRN_ESTATE, 0, "chunk %ld: source has no "
                       "data at its checkpointed cursor", seq);
  if (rc == CAIRN_OK && !same_cursor(page->cursor_out, row->cursor_out))
    rc = CAIRN_RAISE(err, CAIRN_ECHANGED, 0, "chunk %ld: re-read from "
                     "its checkpoint, the source ends it at %s, not "
                     "at the checkpointed %s; refusing to load it "
                     "(if the input changed since the checkpoint, or "
                     "the checkpoint was made by another cairn "
                     "version, rerun with --fresh; otherwise the "
                     "source does not chunk deterministically, a bug "
                     "to report)", seq,
                     page->cursor_out ? page->cursor_out : "the end",
                     row->cursor_out ? row->cursor_out : "the end");
  return rc;
}

/* ---- one window ------------------------------------------------------------------ */


/* Refuse to resume a window a cairn from before an upgrade began under
 * another version of the contract: whatever the sinks (a bundle keeps no
 * version of its own), the window would end half in each. The SQLite
 * sink checks its own record too, for a store from before the state
 * recorded versions. */
static int check_contract(struct run *r, cairn_err *err)
{
  const struct cairn_contract *c = r->job->contract;
  struct cairn_contract_other o;
  char *where;
  int rc = cairn_state_contract_other(r->st, r->job->name, r->w, c->version,
                                      &o, err);
  if (rc < 0 || o.n == 0)
    return rc;
  where = cairn_strfmt("state %s", cairn_state_dir(r->st));
  rc = cairn_contract_mixed(err, c, where, r->w->key, o.n, o.of, o.first,
                            o.contract);
  free(where);
  free(o.contract);
  return rc;
}

/* Whether a sink lost window w, which the state says was loaded in
 * n_chunks chunks: it holds fewer (its database or bundle was deleted,
 * damaged, replaced by an older copy or moved since, its table emptied
 * or renamed by hand, or the sink is new to the job). Skipping the
 * window, or loading only what a delta or watermark says changed since,
 * would then report it loaded with its rows missing from that sink;
 * instead the window is loaded again, in full, into every sink. */
static int sinks_lost(struct run *r, const struct cairn_window *w,
                      long n_chunks, int *lost, cairn_err *err)
{
  *lost = 0;
  for (size_t i = 0; i < r->job->n_sinks; i++) {
    long held = 0;
    char *where;
    int rc = cairn_sink_held_seq(r->sinks[i], w, &held, err);
    if (rc < 0)
      return rc;
    if (held >= n_chunks)
      continue;
    where = cairn_path_join(r->o->out_dir,
                            cairn_sink_output(r->job->sinks[i].cfg));
    cairn_warn("sink %s (%s) holds %ld of the %ld chunks window %s was "
               "loaded in (was it deleted, emptied, or replaced by an "
               "older copy?): loading the window again, in full",
               r->job->sinks[i].name, where, held, n_chunks, w->key);
    free(where);
    *lost = 1;
  }
  return CAIRN_OK;
}

/* The logical time of the window r->w whose row is wrow (new string):
 * its end, or the data's (the first page's date), or the job's
 * logical_time, or the epoch. */
static char *window_logical(const struct run *r,
                            const struct cairn_window_row *wrow)
{
  const char *lt = r->job->window_kind != CAIRN_WINDOW_NONE ? r->w->end
                                                             : NULL;
  if (!lt)
    lt = wrow->logical_time;
  if (!lt)
    lt = json_string_value(json_object_get(r->job->doc, "logical_time"));
  return cairn_xstrdup(lt ? lt : "1970-01-01T00:00:00Z");
}

/* A loaded window's high-water mark for the metrics: its logical time;
 * never in the future, and the run's own time when it is not known. */
static void note_high_water(const char *logical)
{
  int64_t hw, now = cairn_clock_now();
  if (cairn_clock_parse(logical, &hw) < 0 || hw <= 0 || hw > now)
    hw = now;
  cairn_metrics_high_water(hw);
}

static int run_window(struct run *r, cairn_err *err)
{
  struct cairn_job *job = r->job;
  struct cairn_window *w = r->w;
  struct cairn_window_row wrow = {0};
  struct cairn_chunk_row prev = {0}, row = {0};
  struct cairn_page page = {0};
  struct cairn_source_ctx sctx = {0};
  struct kv_ctx kv = { r, json_object(), CAIRN_OK, { 0 }, 0 };
  cairn_source *src = NULL;
  json_t *scfg = NULL;
  long *durable = cairn_xcalloc(job->n_sinks + 1, sizeof *durable);
  long state_seq = 0, start, seq, n_chunks = 0;
  int64_t w_recs = 0, w_rejs = 0;
  char *cursor = NULL, *logical = NULL;
  char *in_slot[2] = { NULL, NULL }; /* cursor_in of the chunk in batch i */
  char datebuf[32];
  struct loader L;
  int loader_on = 0, split, declared;
  int64_t t_finish;
  int rc;

  cairn_log_set_window(w->key);
  rc = cairn_state_window_get(r->st, job->name, w, &wrow, err);
  if (rc < 0)
    goto done;
  if (wrow.loaded) {
    rc = sinks_lost(r, w, wrow.n_chunks, &kv.none, err);
    if (rc == CAIRN_OK && kv.none) /* before the takeover: see its doc */
      rc = cairn_state_window_full(r->st, job->name, w, err);
    if (rc < 0)
      goto done;
  }
  kv.none |= wrow.full; /* a run before this one found the window lost */
  if (wrow.attempt == r->attempt && wrow.loaded && !kv.none) {
    cairn_info("window already loaded in this attempt; skipping");
    r->windows_skipped++;
    /* (loaded by a run killed before its end, whose mark the metrics
     * file may never have got) */
    logical = window_logical(r, &wrow);
    note_high_water(logical);
    goto done;
  }
  if (wrow.attempt != r->attempt || kv.none) {
    /* A new attempt takes the window over: sinks forget it first, so a
     * crash in between just repeats the takeover. */
    for (size_t i = 0; i < job->n_sinks; i++) {
      rc = cairn_sink_reset_window(r->sinks[i], w, err);
      if (rc < 0)
        goto done;
    }
    rc = cairn_state_window_claim(r->st, job->name, w, r->attempt,
                                  wrow.loaded ? CAIRN_CLAIM_KEEP
                                              : CAIRN_CLAIM_REDO, err);
    if (rc < 0)
      goto done;
  }
  rc = check_contract(r, err);
  if (rc < 0)
    goto done;
  rc = cairn_state_window_kept_keyed(r->st, job->name, w, &r->kept_keyed,
                                     err);
  if (rc < 0)
    goto done;
  rc = cairn_state_window_rejects_keyed(r->st, job->name, w, &r->own_keyed,
                                        err);
  if (rc < 0)
    goto done;

  /* Resume point: the smallest durable seq of the state and every sink. */
  rc = cairn_state_loaded_seq(r->st, job->name, w, &state_seq, err);
  if (rc < 0)
    goto done;
  start = state_seq;
  for (size_t i = 0; i < job->n_sinks; i++) {
    rc = cairn_sink_durable_seq(r->sinks[i], w, &durable[i], err);
    if (rc < 0)
      goto done;
    if (durable[i] < start)
      start = durable[i];
  }
  if (state_seq > 0 || start > 0)
    cairn_info("resuming window at chunk %ld (state holds %ld)", start + 1,
               state_seq);
  /* Counts of the chunks before the resume point, for the reject guard. */
  for (long k = 1; k <= start; k++) {
    rc = cairn_state_chunk_get(r->st, job->name, w, k, &row, err);
    if (rc < 0)
      goto done;
    w_recs += row.records;
    w_rejs += row.rejects;
    cairn_chunk_row_clear(&row);
  }
  if (start > 0) {
    rc = cairn_state_chunk_get(r->st, job->name, w, start, &prev, err);
    if (rc < 0)
      goto done;
    cursor = cairn_xstrdup(prev.cursor_out);
    if (prev.last) {
      n_chunks = start;
      /* Every chunk is loaded: only the window's finish is left. A source
       * that is read again (a file, an export) still checks that the input
       * is the one the chunks were loaded from, as a resume at any other
       * chunk does: finishing the window would otherwise report a changed
       * input (another file, a re-export) loaded, none of it read. */
      if (!(job->source_ops->flags & CAIRN_SOURCE_REREADABLE))
        goto finish;
    }
  }

  scfg = job->window_kind != CAIRN_WINDOW_NONE
             ? cairn_expand_window(job->source_cfg, w)
             : json_incref((json_t *)job->source_cfg);
  sctx.job = job->name;
  sctx.cfg = scfg;
  sctx.window = w;
  sctx.http = r->http;
  sctx.work_dir = r->work_dir;
  sctx.backfill = r->o->from != NULL;
  sctx.trace_id = r->trace_id;
  sctx.kv_get = kv_get;
  sctx.kv_put = kv_put;
  sctx.kv_ud = &kv;
  rc = cairn_source_open(job->source_ops, &sctx, &src, err);
  if (rc < 0)
    goto done;
  for (long k = 1; src->ops->checkpointed; k++) {
    /* What the source already asked for in this window. */
    rc = cairn_state_chunk_get(r->st, job->name, w, k, &row, err);
    if (rc < 0)
      goto done;
    if (row.stage == CAIRN_STAGE_NONE)
      break;
    src->ops->checkpointed(src, row.cursor_in);
    cairn_chunk_row_clear(&row);
  }
  /* (what the source read of its saved state as it opened, or as it was
   * told its checkpoints) */
  rc = kv_failed(&kv, CAIRN_OK, err);
  if (rc < 0)
    goto done;
  declared = !w->span_from[0] && src->span_from[0] && src->span_to[0];
  if (declared) {
    /* A window without days of its own covers what its source declares
     * (the sinks' replace_partition replaces only those days, and the
     * transform rejects rows dated outside them). */
    memcpy(w->span_from, src->span_from, sizeof w->span_from);
    memcpy(w->span_to, src->span_to, sizeof w->span_to);
    cairn_info("the source declares the days %s to %s (exclusive) as its "
               "period", w->span_from, w->span_to);
  }
  {
    /* Rows dated outside the window's days (its own, or declared) are
     * rejects: the sinks would not replace them on a re-run. */
    const char *from = w->span_from[0] ? w->span_from : NULL;
    char what[64] = "the period its source declares";
    if (!declared)
      snprintf(what, sizeof what, "window %s", w->key);
    cairn_transform_set_span(r->xf, from, w->span_to, what);
    if (r->xf_side) /* a clone made for an earlier window */
      cairn_transform_set_span(r->xf_side, from, w->span_to, what);
  }

  if (prev.last) {
    rc = reread_chunk(src, start, &prev, &page, err);
    if (rc < 0)
      goto done;
    goto finish;
  }

  loader_start(&L, r, durable);
  loader_on = 1;
  /* Map on two threads when the loader has its own and there are two
   * cores to share. */
  split = L.threaded && src->ops->decode_part && cairn_cpu_second_core();
  for (seq = start + 1;; seq++) {
    struct load_item it;
    int last, slot = (int)(seq & 1);
    const char *cursor_out;

    cairn_log_set_seq(seq);
    rc = stop_point("chunk", seq, err);
    if (rc < 0)
      goto done;
    /* Wait for the batch the loader is not using before reading anything:
     * at most one chunk is read ahead of the one being loaded. */
    rc = loader_acquire(&L, slot, err);
    if (rc < 0)
      goto done;
    if (in_slot[slot] && src->ops->released) {
      /* The chunk that had the batch (seq - 2) is loaded: no resume reads
       * the input before it again. */
      src->ops->released(src, in_slot[slot]);
    }
    free(in_slot[slot]);
    in_slot[slot] = NULL;
    rc = cairn_state_chunk_get(r->st, job->name, w, seq, &row, err);
    if (rc < 0)
      goto done;
    cairn_page_reset(&page);
    if (row.stage >= CAIRN_STAGE_EXTRACTED && row.spool) {
      rc = cairn_state_spool_get(r->st, row.spool, &page.raw, err);
      if (rc == CAIRN_DONE) {
        /* The spooled page was lost (a power loss: spool files are not
         * fsynced, see state.c). Forget this chunk and the later ones, as
         * if the state had lost their commits, which resume handles: the
         * page is fetched again from `cursor`, this chunk's cursor_in. */
        rc = cairn_state_chunks_forget(r->st, job->name, w, seq, err);
        cairn_chunk_row_clear(&row);
        cairn_page_reset(&page);
      }
      if (rc < 0)
        goto done;
    }
    if (row.stage >= CAIRN_STAGE_EXTRACTED) {
      /* Redo from the checkpoint: never fetch a spooled page again. */
      if (row.spool) {
        page.meta = cairn_xstrdup(row.meta);
      } else {
        rc = reread_chunk(src, seq, &row, &page, err);
      }
      if (rc < 0)
        goto done;
      last = row.last;
      cursor_out = row.cursor_out;
      rc = cairn_state_run_redone(r->st, err);
      if (rc < 0)
        goto done;
      r->redone++;
      cairn_metrics_add("cairn_chunks_total", 1, "stage", "redone", NULL);
    } else {
      int64_t t0 = cairn_clock_mono_ms();
      rc = fault_point("extract", seq, w->key, err);
      if (rc == CAIRN_OK)
        rc = src->ops->extract(src, cursor, &page, err);
      rc = kv_failed(&kv, rc, err);
      r->ms_extract += cairn_clock_mono_ms() - t0;
      if ((seq == 1 && (rc == CAIRN_DONE || (rc == CAIRN_OK &&
                                             !page.narrowed))) ||
          (rc == CAIRN_OK && page.resynced)) {
        /* A full extraction (one the job's incremental state did not
         * narrow, a backfill, a source without such state), or one the
         * source fell back to at a later chunk: the rejects earlier
         * attempts kept for the window (CAIRN_CLAIM_KEEP) are met again
         * or were mended. Before the chunk's checkpoint: a resume that
         * extracts it again decides again. */
        int drc = cairn_state_window_kept_drop(r->st, job->name, w, err);
        if (drc < 0)
          rc = drc;
        else
          r->kept_keyed = 0; /* (before this chunk is pushed) */
      }
      if (rc == CAIRN_DONE) {
        n_chunks = seq - 1;
        break;
      }
      if (rc < 0)
        goto done;
      last = page.cursor_out == NULL;
      cursor_out = page.cursor_out;
      /* The window's logical time (the first page's date) before the
       * chunk's checkpoint: a resume redoes a checkpointed chunk 1 from
       * it, without setting the time again. */
      if (seq == 1 && page_date(page.meta, datebuf, sizeof datebuf)) {
        rc = cairn_state_window_set_time(r->st, job->name, w, datebuf, err);
        if (rc < 0)
          goto done;
      }
      {
        char *spool = NULL;
        size_t len;
        const char *bytes = cairn_page_bytes(&page, &len);
        if (!(src->ops->flags & CAIRN_SOURCE_REREADABLE)) {
          rc = cairn_state_spool_put(r->st, job->name, w, seq, bytes, len,
                                     &spool, err);
          if (rc < 0)
            goto done;
        }
        rc = cairn_state_chunk_extracted(r->st, job->name, w, seq, cursor,
                                         page.cursor_out, last, spool,
                                         page.meta, (int64_t)len, err);
        free(spool);
        if (rc < 0)
          goto done;
      }
      kill_point("extracted", seq, w->key);
    }

    /* transform, into the batch the loader is not using */
    r->batch = r->batches[slot];
    int64_t t_xf = cairn_clock_mono_ms();
    rc = transform_chunk(r, src, seq, &page, split, err);
    r->ms_transform += cairn_clock_mono_ms() - t_xf;
    if (rc < 0)
      goto done;
    w_recs += (int64_t)r->batch->n_rows;
    w_rejs += (int64_t)r->batch->n_rejects;
    if (row.stage < CAIRN_STAGE_TRANSFORMED) {
      long replaced = 0;
      rc = cairn_state_chunk_transformed(r->st, job->name, w, seq, r->batch,
                                         job->contract->version, &replaced,
                                         err);
      if (rc < 0)
        goto done;
      w_rejs -= replaced; /* records rejected again count once */
      r->extracted += (int64_t)(r->batch->n_rows + r->batch->n_rejects);
      r->rejected += (int64_t)r->batch->n_rejects;
      cairn_metrics_records("extracted",
                            (int64_t)(r->batch->n_rows + r->batch->n_rejects));
      cairn_metrics_records("quarantined", (int64_t)r->batch->n_rejects);
      kill_point("transformed", seq, w->key);
    }
    rc = check_rejects(r, seq, w_recs, w_rejs, last, err);
    if (rc < 0)
      goto done;
    /* Until the attempt has a reject with a key, nothing a row loads can
     * resolve: the loader collects no keys (one look at the rejects). */
    for (size_t i = 0; !r->own_keyed && i < r->batch->n_rejects; i++)
      r->own_keyed = r->batch->rejects[i].key != NULL;

    /* load: in order, on the loader */
    it.seq = seq;
    it.stage = row.stage;
    it.slot = slot;
    it.keyed = r->kept_keyed || r->own_keyed;
    rc = loader_push(&L, &it, err);
    if (rc < 0)
      goto done;
    in_slot[slot] = cursor;
    cursor = cairn_xstrdup(cursor_out);
    cairn_chunk_row_clear(&row);
    if (last) {
      n_chunks = seq;
      break;
    }
  }
  loader_on = 0;
  rc = loader_finish(&L, CAIRN_OK, err);
  if (rc < 0)
    goto done;

finish:
  cairn_log_set_seq(0);
  cairn_window_row_clear(&wrow);
  rc = cairn_state_window_get(r->st, job->name, w, &wrow, err);
  if (rc < 0)
    goto done;
  logical = window_logical(r, &wrow);
  t_finish = cairn_clock_mono_ms();
  {
    /* The sinks finish at once too (the bundle's tar and the warehouse's
     * final checkpoint overlap). */
    struct sink_task *tasks = sink_tasks(r, n_chunks, NULL, logical);
    sinks_start(tasks, job->n_sinks, cairn_cpu_threads());
    rc = sinks_join(tasks, job->n_sinks, err);
    free(tasks);
    if (rc < 0)
      goto done;
  }
  r->ms_finish += cairn_clock_mono_ms() - t_finish;
  kill_point("window", n_chunks, w->key);
  /* The raw pages, before the window is marked loaded: kept ones made
   * durable, once; else dropped. Dropped after the mark, a kill in
   * between left them for good (a loaded window is never claimed again);
   * a resume between drop and mark finishes the window without them
   * (every chunk is loaded and every sink has finished it; a page found
   * missing is fetched again anyway). */
  if (r->o->keep_raw)
    rc = cairn_state_spool_sync(r->st, job->name, w, err);
  else
    cairn_state_spool_drop(r->st, job->name, w, NULL);
  if (rc < 0)
    goto done;
  {
    /* The audit trail: what this window's outputs are, by digest, in the
     * run's record with the window's mark (a run killed after it still
     * lists them; its resume skips the window). */
    char digest[65], *text;
    json_t *o = json_object(), *sinks = json_object();
    if (cairn_state_window_digest(r->st, job->name, w, digest, NULL) == 0)
      json_object_set_new(o, "chunk_digest", json_string(digest));
    json_object_set_new(o, "window", json_string(w->key));
    json_object_set_new(o, "chunks", json_integer(n_chunks));
    for (size_t i = 0; i < job->n_sinks; i++) {
      json_t *so = json_object();
      cairn_sink_outputs(r->sinks[i], w, so);
      json_object_set_new(sinks, job->sinks[i].name, so);
    }
    json_object_set_new(o, "sinks", sinks);
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    rc = cairn_state_window_loaded(r->st, job->name, w, n_chunks, text, err);
    free(text);
    if (rc == CAIRN_OK)
      json_array_append_new(r->outputs, o);
    else
      json_decref(o);
  }
  if (rc < 0)
    goto done;
  kill_point("window_loaded", n_chunks, w->key);
  if (src && src->ops->released)
    src->ops->released(src, NULL); /* nothing of the window is read again */
  r->windows_done++;
  note_high_water(logical);
  cairn_info("window loaded: %ld chunk%s", n_chunks, n_chunks == 1 ? "" : "s");
  cairn_logj(CAIRN_LOG_DEBUG,
             json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "extract_ms",
                       (json_int_t)r->ms_extract, "transform_ms",
                       (json_int_t)r->ms_transform, "wait_batch_ms",
                       (json_int_t)r->ms_wait_batch, "load_ms",
                       (json_int_t)r->ms_load, "loader_idle_ms",
                       (json_int_t)r->ms_wait_item, "finish_ms",
                       (json_int_t)r->ms_finish),
             "stage timings so far (producer: extract, transform, waiting "
             "for a free batch; loader: load, idle; sinks finishing "
             "windows)");
done:
  if (loader_on)
    rc = loader_finish(&L, rc, err);
  cairn_log_set_seq(0);
  cairn_source_close(src);
  json_decref(scfg);
  json_decref(kv.cache);
  cairn_page_clear(&page);
  cairn_chunk_row_clear(&row);
  cairn_chunk_row_clear(&prev);
  cairn_window_row_clear(&wrow);
  free(durable);
  free(cursor);
  free(in_slot[0]);
  free(in_slot[1]);
  free(logical);
  return rc;
}

/* ---- the run ------------------------------------------------------------------ */

static void random_hex(char *out, size_t bytes)
{
  unsigned char buf[32];
  static const char hex[] = "0123456789abcdef";
  if (RAND_bytes(buf, (int)bytes) != 1)
    for (size_t i = 0; i < bytes; i++)
      buf[i] = (unsigned char)(rand() ^ getpid());
  for (size_t i = 0; i < bytes; i++) {
    out[2 * i] = hex[buf[i] >> 4];
    out[2 * i + 1] = hex[buf[i] & 15];
  }
  out[2 * bytes] = '\0';
}

/* CAIRN_DISABLE: job names separated by commas, blanks around each
 * ignored ("a, b" pauses b too: a job name holds no blank). */
static int disabled_by_env(const char *name)
{
  const char *v = getenv("CAIRN_DISABLE");
  size_t n = strlen(name);
  while (v && *v) {
    const char *comma = strchr(v, ',');
    size_t len = comma ? (size_t)(comma - v) : strlen(v);
    while (len && (*v == ' ' || *v == '\t')) {
      v++;
      len--;
    }
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
      len--;
    if (len == n && strncmp(v, name, n) == 0)
      return 1;
    v = comma ? comma + 1 : NULL;
  }
  return 0;
}

/* The recording a --replay run answers from, har: its SHA-256 into sha
 * (the bundles' recording_sha256) and the transport into *out. A file
 * that cannot be read is CAIRN_EUSAGE (exit 2), one that is not a HAR
 * CAIRN_EPARSE (exit 3). Also a dry run's check of it. */
static int open_replay(const char *har, char sha[CAIRN_SHA256_HEX],
                       cairn_http_transport **out, cairn_err *err)
{
  *out = NULL;
  if (cairn_sha256_file_hex(har, sha) < 0)
    return CAIRN_RAISE(err, CAIRN_EUSAGE, errno, "--replay %s: cannot "
                       "read: %s", har, strerror(errno));
  return cairn_http_replay_open(har, out, err);
}

static int open_transport(struct run *r, cairn_err *err)
{
  const struct cairn_run_opts *o = r->o;
  int rc;

  if (o->replay_har)
    return open_replay(o->replay_har, r->recording_sha, &r->http, err);
  {
    struct cairn_http_live_opts lo = {0};
    const json_t *tls = json_object_get(r->job->source_cfg, "tls");
    lo.ca_file = json_string_value(json_object_get(tls, "ca_file"));
    lo.client_cert = json_string_value(json_object_get(tls, "client_cert"));
    lo.client_key = json_string_value(json_object_get(tls, "client_key"));
    lo.insecure = json_is_true(json_object_get(tls, "insecure"));
    r->tls_insecure = lo.insecure;
    rc = cairn_http_live_open(&lo, &r->http, err);
    if (rc < 0)
      return rc;
  }
  if (o->record_har) {
    cairn_http_transport *rec = NULL;
    const json_t *list = json_object_get(r->job->source_cfg, "redact");
    const json_t *corr = json_object_get(r->job->source_cfg,
                                         "correlation_header");
    const char **names = cairn_xcalloc(json_array_size(list) + 2,
                                       sizeof *names);
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(list); i++)
      names[n++] = json_string_value(json_array_get(list, i));
    /* The per-request correlation id is random: redact it so recording
     * the same traffic twice gives the same bytes (replay treats the
     * redacted value as a wildcard). */
    names[n] = corr ? json_string_value(corr) : "x-ms-client-request-id";
    if (names[n] && *names[n])
      n++;
    names[n] = NULL;
    rc = cairn_http_record_open(r->http, o->record_har, names, &rec, err);
    free(names);
    if (rc < 0) {
      r->http = NULL; /* the record transport took ownership */
      return rc;
    }
    r->http = rec;
  }
  return CAIRN_OK;
}

/* Open what the run needs besides its state: the HTTP transport (when
 * the source or --record/--replay use it), the transform, the batches,
 * the loader's state connection and the sinks, into r (out: frees them).
 * Returns the first failure. */

/* What sink i of job is told by the run and by a dry run alike: its
 * names, configuration, contract and how it reads secrets. */
static void sink_ctx_init(struct cairn_sink_ctx *c,
                          const struct cairn_job *job, size_t i)
{
  memset(c, 0, sizeof *c);
  c->job = job->name;
  c->sink_name = job->sinks[i].name;
  c->cfg = job->sinks[i].cfg;
  c->contract = job->contract;
  c->secret = cairn_job_secret;
  c->secret_ud = (void *)job;
}

static int open_run(struct run *r, cairn_err *err)
{
  struct cairn_job *job = r->job;
  const struct cairn_run_opts *o = r->o;
  int rc;

  /* The mapping reads a column the input's header lacks (an upstream
   * rename): every record would be rejected. Refused here, after the
   * lock, so that the metrics say so, as `cairn validate` would. */
  if (job->input_problem) {
    fputs(job->input_problem, stderr);
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%.*s",
                       (int)strcspn(job->input_problem, "\n"),
                       job->input_problem);
  }
  if (o->replay_har || o->record_har ||
      cairn_source_wants_http(job->source_cfg)) {
    rc = open_transport(r, err);
    if (rc < 0)
      return rc;
  }
  rc = cairn_transform_create(job->transform_cfg, job->contract, &r->xf, NULL,
                              err);
  if (rc < 0)
    return rc;
  r->batches[0] = cairn_batch_create(job->contract->n_fields);
  r->batches[1] = cairn_batch_create(job->contract->n_fields);
  rc = cairn_state_open(o->state_dir, &r->load_st, err);
  if (rc < 0)
    return rc;
  r->sinks = cairn_xcalloc(job->n_sinks, sizeof *r->sinks);
  r->sink_ctx = cairn_xcalloc(job->n_sinks, sizeof *r->sink_ctx);
  for (size_t i = 0; i < job->n_sinks && rc == CAIRN_OK; i++) {
    struct cairn_sink_ctx *c = &r->sink_ctx[i];
    sink_ctx_init(c, job, i);
    c->out_dir = o->out_dir;
    c->connector_version = job->connector_version;
    c->recording_sha256 = o->replay_har ? r->recording_sha : NULL;
    rc = cairn_sink_open(job->sinks[i].ops, c, &r->sinks[i], err);
  }
  return rc;
}

void cairn_runner_print_short(const struct cairn_run_opts *o,
                              const char *job, const char *status,
                              int exit_code, const char *text)
{
  if (o->json) {
    json_t *j = json_pack("{s:s?,s:s,s:i}", "job", job, "status", status,
                          "exit_code", exit_code);
    char *s;
    if (text)
      json_object_set_new(j, "message", json_string(text));
    s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    cairn_log_mask(s);
    printf("%s\n", s);
    free(s);
    json_decref(j);
  } else if (text && (exit_code == CAIRN_EXIT_OK ||
                      strcmp(status, "dry_run") == 0 ||
                      strcmp(status, "disabled") == 0)) {
    printf("%s: %s\n", job, text);
  }
}

/* The fields of the run's last log line ("run done", "run failed: ..."):
 * its exit code and counts, as the summary and its run record say. */
static json_t *end_fields(const struct run *r, int exit_code)
{
  return json_pack("{s:i,s:I,s:I,s:I,s:I,s:I}", "exit_code", exit_code,
                   "records_extracted", (json_int_t)r->extracted,
                   "records_loaded", (json_int_t)r->loaded,
                   "records_rejected", (json_int_t)r->rejected,
                   "chunks", (json_int_t)r->chunks,
                   "chunks_redone", (json_int_t)r->redone);
}

/* dlq: the DLQ depth, or -1 when it could not be counted (dlq_err says
 * why): the summary says so rather than showing 0. */
static void print_summary(struct run *r, int exit_code, const cairn_err *err,
                          const char *message, int64_t dlq,
                          const cairn_err *dlq_err, double secs)
{
  struct cairn_job *job = r->job;
  char depth[CAIRN_ERRMSG_MAX + 32], skipped[96] = "";
  /* A resume that found windows loaded by the run it resumes (killed
   * after loading them) says so: "0 records loaded" alone reads as if
   * nothing was. */
  if (r->windows_skipped)
    snprintf(skipped, sizeof skipped, "; %lld window%s loaded already, by "
             "the interrupted run", (long long)r->windows_skipped,
             r->windows_skipped == 1 ? "" : "s");
  if (dlq >= 0)
    snprintf(depth, sizeof depth, "dlq depth %lld", (long long)dlq);
  else
    snprintf(depth, sizeof depth, "dlq depth unknown: %s", dlq_err->msg);
  if (r->o->json) {
    json_t *o = json_pack("{s:s,s:s,s:i,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}",
                          "job", job->name, "run_id", r->run_id,
                          "exit_code", exit_code,
                          "status", exit_code == 0 ? "done" : "failed",
                          "records_extracted", (json_int_t)r->extracted,
                          "records_loaded", (json_int_t)r->loaded,
                          "records_rejected", (json_int_t)r->rejected,
                          "chunks", (json_int_t)r->chunks,
                          "chunks_redone", (json_int_t)r->redone,
                          "windows", (json_int_t)r->windows_done,
                          "dlq_depth", (json_int_t)dlq, "seconds",
                          (double)(long long)(secs * 1000 + 0.5) / 1000.0);
    if (dlq < 0) { /* not counted: null, and why */
      json_object_set_new(o, "dlq_depth", json_null());
      json_object_set_new(o, "dlq_error", json_string(dlq_err->msg));
    }
    json_object_set_new(o, "trace_id", json_string(r->trace_id));
    json_object_set_new(o, "windows_skipped",
                        json_integer((json_int_t)r->windows_skipped));
    json_t *outs = json_array();
    for (size_t i = 0; i < job->n_sinks; i++)
      json_array_append_new(outs, json_pack("{s:s,s:s}", "sink",
                                            job->sinks[i].name, "type",
                                            job->sinks[i].ops->name));
    json_object_set_new(o, "sinks", outs);
    if (message)
      json_object_set_new(o, "message", json_string(message));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS |
                                JSON_REAL_PRECISION(9));
    cairn_log_mask(s);
    printf("%s\n", s);
    free(s);
    json_decref(o);
  } else {
    printf("%s: %s%s%s. %lld records loaded, %lld rejected (%s), "
           "%lld chunk%s in %lld window%s (%lld redone from checkpoints%s) "
           "in %.2fs.", job->name, exit_code == CAIRN_EXIT_OK ? "done"
                      : exit_code == CAIRN_EXIT_RESUMABLE ? "FAILED (resumable: "
                      : "FAILED (fix the job or its setup, then rerun)",
           resume_advice(exit_code, err),
           exit_code == CAIRN_EXIT_RESUMABLE ? ")" : "",
           (long long)r->loaded, (long long)r->rejected, depth,
           (long long)r->chunks, r->chunks == 1 ? "" : "s",
           (long long)r->windows_done, r->windows_done == 1 ? "" : "s",
           (long long)r->redone, skipped, secs);
    for (size_t i = 0; i < job->n_sinks; i++) {
      /* A run of one window names the bundle it wrote (one per run of a
       * window "all"); else the sink's output. */
      json_t *so = json_array_size(r->outputs) == 1
                       ? json_object_get(json_object_get(
                             json_array_get(r->outputs, 0), "sinks"),
                                         job->sinks[i].name)
                       : NULL;
      const char *bundle = json_string_value(json_object_get(so, "bundle"));
      if (bundle)
        printf(" %s %s -> %s.", i ? "Also" : "Output:", job->sinks[i].name,
               bundle);
      else {
        /* where the sink writes: absolute, or under the output root */
        char *where = cairn_path_join(r->o->out_dir,
                                      cairn_sink_output(job->sinks[i].cfg));
        printf(" %s %s -> %s.", i ? "Also" : "Output:", job->sinks[i].name,
               where);
        free(where);
      }
    }
    if (message)
      printf(" %s", message);
    printf("\n");
  }
  fflush(stdout);
}

/* A scheduled run (no --from/--to, no --fresh) first loads the windows
 * the scheduled runs missed, oldest first, before its own:
 *   - when it resumes their interrupted attempt (a night failed, and
 *     nobody reran it that day), every window from that attempt's first
 *     up to its own that is not loaded, whether a night started it and
 *     failed or failed before reaching it;
 *   - when the job has had scheduled runs (had), every window after the
 *     newest one loaded, up to its own: nights with no run at all (the
 *     host was off, the job disabled or refused, a scheduler in local
 *     time that skips a UTC day when its clock goes back an hour).
 * Without this the next good night loaded only its own window, succeeded,
 * cleared the alert, and the missed days stayed a gap that only `cairn
 * status` showed. Windows a backfill loaded meanwhile are not loaded
 * again. Errors of the state are warned about: the run goes on with its
 * own windows. Returns how many it added; preview: for --dry-run, which
 * says so in the log. */
static size_t catch_up(cairn_state *st, const struct cairn_job *job,
                       long attempt, int had, int preview,
                       struct cairn_window **windows, size_t *n)
{
  cairn_err err = {0};
  struct cairn_window *missed = NULL, *all;
  char *first = NULL, *after = NULL;
  const char *from;
  size_t n_missed = 0, k = 0;

  if (job->window_kind == CAIRN_WINDOW_NONE || !*n)
    return 0;
  if ((attempt &&
       cairn_state_attempt_first(st, job->name, attempt, &first, &err) < 0) ||
      (had && cairn_state_loaded_before(st, job->name, (*windows)[0].start,
                                        &after, &err) < 0)) {
    cairn_warn("the windows the scheduled runs missed were not looked "
               "for: %s", err.msg);
    goto done;
  }
  from = first && (!after || strcmp(first, after) < 0) ? first : after;
  if (from && strlen(from) >= 10 && strcmp(from, (*windows)[0].start) < 0) {
    char a[11], b[11];
    snprintf(a, sizeof a, "%.10s", from);
    snprintf(b, sizeof b, "%.10s", (*windows)[0].start);
    /* Dates of the state's own windows: it fails only on the cap, which
     * a scheduled run meets when its clock is far ahead (the backfill's
     * message would name options it was not given). */
    if (cairn_windows_plan(job->window_kind, a, b, &missed, &n_missed,
                           &err) < 0) {
      cairn_warn("the windows the scheduled runs missed were not looked "
                 "for: there are more than %d windows after the newest "
                 "loaded one (up to %s, by this machine's clock: is it "
                 "right? a backfill with --from/--to loads a gap)",
                 CAIRN_WINDOWS_MAX, b);
      n_missed = 0;
    }
  }
  all = cairn_xcalloc(n_missed + *n, sizeof *all);
  for (size_t m = 0; m < n_missed; m++) {
    struct cairn_window_row row = {0};
    cairn_err werr = {0};
    if (cairn_state_window_get(st, job->name, &missed[m], &row, &werr) < 0)
      cairn_warn("window %s: %s", missed[m].key, werr.msg);
    if (!row.loaded) {
      all[k++] = missed[m];
      cairn_info("window %s was missed by an earlier run: %s it first",
                 missed[m].key, preview ? "a run would load" : "loading");
    }
    cairn_window_row_clear(&row);
  }
  memcpy(all + k, *windows, *n * sizeof *all);
  free(*windows);
  *windows = all;
  *n += k;
done:
  free(missed);
  free(first);
  free(after);
  return k;
}

/* What catch_up would add to a scheduled run's windows, for --dry-run:
 * the state read only (none yet: nothing was missed). */
static size_t preview_catch_up(const struct cairn_job *job,
                               const struct cairn_run_opts *o,
                               struct cairn_window **windows, size_t *n)
{
  char *path = cairn_path_join(o->state_dir, "cairn.db");
  cairn_state *st = NULL;
  cairn_err err = {0};
  long attempt = 0;
  int on_disk, had = 0;
  size_t k = 0;

  /* (a store without tables yet, CAIRN_DONE: nothing was missed) */
  if (access(path, F_OK) == 0 &&
      cairn_state_open_read(o->state_dir, &st, &on_disk, &err) != CAIRN_DONE) {
    if (!st ||
        cairn_state_open_attempt(st, job->name, "", &attempt, &err) < 0 ||
        cairn_state_attempt_had(st, job->name, "", &had, &err) < 0)
      cairn_warn("the windows the scheduled runs missed were not looked "
                 "for: %s", err.msg);
    else
      k = catch_up(st, job, attempt, had, 1, windows, n);
  }
  cairn_state_close(st);
  free(path);
  return k;
}

/* A dry run's secrets that a real run would stop without (the job's load
 * listed them; they are on stderr, one line each): said after the
 * preview in b. The exit code is 2 when there is one, as a real run's
 * would be, so that a script can gate on the preview; else 0. */
static int dry_run_missing(const struct cairn_job *job, struct cairn_buf *b)
{
  size_t i;
  json_t *v;

  if (!json_array_size(job->missing_names))
    return CAIRN_EXIT_OK;
  cairn_buf_puts(b, " A real run would stop (exit 2): ");
  json_array_foreach(job->missing_names, i, v)
    cairn_buf_printf(b, "%s%s", i ? "; " : "", json_string_value(v));
  cairn_buf_puts(b, ".");
  return CAIRN_EXIT_USAGE;
}

/* A failure e a real run would stop on, found by a dry run: logged, and
 * said after the preview in b with the real run's exit code (returned). */
static int would_stop(struct cairn_buf *b, const cairn_err *e)
{
  int code = cairn_exit_code_for(e->code);
  cairn_error("%s", e->msg);
  cairn_buf_printf(b, " A real run would stop (exit %d): %s.", code, e->msg);
  return code;
}

/* A dry run's --replay recording that a real run would stop on (not
 * there, unreadable, not a HAR), or --record file it could not write
 * (its directory missing or not writable), said after the preview in b
 * with the real run's exit code; else 0. */
static int dry_run_recording(const struct cairn_run_opts *o,
                             struct cairn_buf *b)
{
  char sha[CAIRN_SHA256_HEX];
  cairn_http_transport *t = NULL;
  cairn_err e = {0};
  int rc = CAIRN_OK;

  if (o->replay_har)
    rc = open_replay(o->replay_har, sha, &t, &e);
  else if (o->record_har)
    rc = cairn_http_record_check(o->record_har, &e);
  cairn_http_transport_destroy(t);
  return rc == CAIRN_OK ? CAIRN_EXIT_OK : would_stop(b, &e);
}

/* A dry run's sink secrets that a real run would stop on once it read
 * them (a bundle sink's signing key that is empty or no unencrypted
 * Ed25519 PEM key), said after the preview in b with the real run's exit
 * code; else 0. */
static int dry_run_sinks(const struct cairn_job *job, struct cairn_buf *b)
{
  for (size_t i = 0; i < job->n_sinks; i++) {
    struct cairn_sink_ctx c;
    cairn_err e = {0};

    if (!job->sinks[i].ops->check_secrets)
      continue;
    sink_ctx_init(&c, job, i);
    if (job->sinks[i].ops->check_secrets(&c, &e) != CAIRN_OK)
      return would_stop(b, &e);
  }
  return CAIRN_EXIT_OK;
}

/* A dry run's input that a real run would stop without: the first of
 * the windows whose input the source finds missing (a file source's path
 * that matches no file, a local cost export without its manifest, a
 * sqlite source's database that is not there),
 * said after the preview in b, with how many more windows lack theirs.
 * The exit code is then 3, as a real run's would be (a file may be still
 * to come); else 0. */
static int dry_run_input(const struct cairn_job *job,
                         const struct cairn_window *windows, size_t n,
                         struct cairn_buf *b)
{
  cairn_err first = {0};
  size_t missing = 0;

  for (size_t i = 0; job->source_ops->peek_header && i < n; i++) {
    json_t *cfg = job->window_kind != CAIRN_WINDOW_NONE
                      ? cairn_expand_window(job->source_cfg, &windows[i])
                      : json_incref((json_t *)job->source_cfg);
    struct cairn_header *hdr = NULL;
    char *file = NULL;
    cairn_err e = {0};
    if (job->source_ops->peek_header(cfg, &hdr, &file, &e) < 0 &&
        missing++ == 0) {
      cairn_error("%s", e.msg);
      first = e;
    }
    if (hdr)
      cairn_header_clear(hdr);
    free(hdr);
    free(file);
    json_decref(cfg);
  }
  if (!missing)
    return CAIRN_EXIT_OK;
  cairn_buf_printf(b, " A real run would stop (exit 3): %s", first.msg);
  if (missing > 1)
    cairn_buf_printf(b, " (and the input of %zu more window%s)",
                     missing - 1, missing > 2 ? "s" : "");
  cairn_buf_puts(b, ".");
  return CAIRN_EXIT_RESUMABLE;
}

/* The source's scratch (<state>/work/<job>: a cost export's downloads)
 * when no window of the job is open, before the attempt begins: only a
 * resume of an open window reads it again. What it holds then was left
 * by a run killed after its window was marked loaded but before the
 * source deleted it (gigabytes of blobs). */
static void drop_work(struct run *r)
{
  struct stat sb;
  cairn_err e = {0};
  int open = 1;

  if (stat(r->work_dir, &sb) != 0)
    return;
  if (cairn_state_window_open_any(r->st, r->job->name, &open, &e) < 0)
    cairn_warn("%s was not looked at: %s", r->work_dir, e.msg);
  else if (!open && cairn_fs_remove_tree(r->work_dir, &e) < 0)
    cairn_warn("%s", e.msg);
  else if (!open)
    cairn_info("removed %s: what the source kept of windows now loaded "
               "(a run was stopped before it removed it)", r->work_dir);
}

int cairn_runner_run(struct cairn_job *job, const struct cairn_run_opts *o)
{
  struct run r = {0};
  struct cairn_window *windows = NULL;
  size_t n_windows = 0;
  cairn_lock *lock = NULL;
  cairn_err err = {0};
  char spec[64] = "";
  char user[64] = "?", host[128] = "?";
  long stale = 0, discarded = 0;
  int resumed = 0, had_scheduled = 0, rc, exit_code;
  int64_t t0 = cairn_clock_mono_ms(), ended, dlq = -1;
  cairn_err dlq_err = {0};
  const char *message = NULL;
  char *message_line = NULL; /* err.msg as one line of UTF-8 */
  char *outputs = NULL;

  r.job = job;
  r.o = o;
  if (o->dry_run && job->missing_secrets)
    fputs(job->missing_secrets, stderr);
  if (!job->enabled || disabled_by_env(job->name)) {
    struct cairn_buf b = {0};
    cairn_info("job %s is disabled (%s); nothing to do", job->name,
               job->enabled ? "CAIRN_DISABLE" : "\"enabled\": false");
    cairn_buf_puts(&b, "disabled, nothing run.");
    exit_code = dry_run_missing(job, &b);
    cairn_runner_print_short(o, job->name, "disabled", exit_code, b.data);
    cairn_buf_free(&b);
    return exit_code;
  }
  if (o->keep_raw && (job->source_ops->flags & CAIRN_SOURCE_REREADABLE))
    /* Accepted (a scheduler's flags may be shared by every job), but the
     * source reads its input again instead of spooling it. */
    cairn_warn("--keep-raw: job %s's %s source reads its input again "
               "rather than spooling raw pages, so there are none to "
               "keep; the flag does nothing for it", job->name,
               job->source_ops->name);
  if ((o->record_har || o->replay_har) &&
      !cairn_source_wants_http(job->source_cfg)) {
    /* Accepted, it would record nothing, or stamp the bundles with a
     * recording the rows never came from. */
    const char *verb = o->record_har ? "record" : "replay";
    rc = CAIRN_RAISE(&err, CAIRN_EUSAGE, 0, "--%s %s: job %s reads its %s "
                     "source without HTTP, so there is nothing to %s; run "
                     "it without --%s", verb, o->record_har ? o->record_har
                     : o->replay_har, job->name, job->source_ops->name,
                     verb, verb);
  } else
    rc = cairn_windows_plan(job->window_kind, o->from, o->to, &windows,
                            &n_windows, &err);
  if (rc < 0) {
    cairn_error("%s", err.msg);
    cairn_runner_print_short(o, job->name, "refused", CAIRN_EXIT_USAGE,
                             err.msg);
    return CAIRN_EXIT_USAGE;
  }
  if (o->from)
    snprintf(spec, sizeof spec, "%s..%s", o->from, o->to);
  if (o->dry_run) {
    struct cairn_buf b = {0};
    size_t missed = o->from || o->fresh ||
                    job->window_kind == CAIRN_WINDOW_NONE ? 0
                    : preview_catch_up(job, o, &windows, &n_windows);
    cairn_buf_printf(&b, "would run %zu window%s (%s .. %s", n_windows,
                     n_windows == 1 ? "" : "s", windows[0].key,
                     windows[n_windows - 1].key);
    if (missed)
      cairn_buf_printf(&b, "; the first %zu missed by an earlier run",
                       missed);
    cairn_buf_printf(&b, ") from %s source into", job->source_ops->name);
    for (size_t i = 0; i < job->n_sinks; i++)
      cairn_buf_printf(&b, " %s(%s)", job->sinks[i].name,
                       job->sinks[i].ops->name);
    cairn_buf_printf(&b, " as %s; nothing run.", job->contract->name);
    /* In the order a real run meets them: the secrets as the job loads,
     * the recording as it opens the transport, the sinks' keys as it
     * opens them, the input as it reads. */
    exit_code = dry_run_missing(job, &b);
    if (exit_code == CAIRN_EXIT_OK)
      exit_code = dry_run_recording(o, &b);
    if (exit_code == CAIRN_EXIT_OK)
      exit_code = dry_run_sinks(job, &b);
    if (exit_code == CAIRN_EXIT_OK)
      exit_code = dry_run_input(job, windows, n_windows, &b);
    cairn_runner_print_short(o, job->name, "dry_run", exit_code, b.data);
    cairn_buf_free(&b);
    free(windows);
    return exit_code;
  }

  random_hex(r.run_id, 8); /* named in the lock: cairn status asks it */
  rc = cairn_lock_take(o->state_dir, job->name, r.run_id, &lock, &stale,
                       &err);
  if (rc == CAIRN_ELOCKED) {
    cairn_error("%s", err.msg);
    cairn_runner_print_short(o, job->name, "refused", CAIRN_EXIT_USAGE,
                             err.msg);
    free(windows);
    return CAIRN_EXIT_USAGE;
  }
  if (rc < 0)
    goto out;
  r.outputs = json_array();
  random_hex(r.trace_id, 16);
  cairn_log_set_run(r.run_id, job->name);
  r.metrics_dir = cairn_metrics_dir(o->metrics_dir, o->state_dir);
  r.work_dir = cairn_strfmt("%s/work/%s", o->state_dir, job->name);
  cairn_metrics_run_start(r.metrics_dir, job->name);
  {
    /* Written at once, not after the first interval: a run killed in its
     * first seconds must leave cairn_run_in_progress 1 behind it, not the
     * previous run's outcome. */
    cairn_err merr = {0};
    if (cairn_metrics_write(r.metrics_dir, job->name, &merr) < 0 ||
        cairn_metrics_flusher_start(r.metrics_dir, job->name, 0, &merr) < 0)
      cairn_warn("metrics: %s", merr.msg);
  }
  cairn_progress_start(job->name);
  cairn_log_set_hook(cairn_progress_hold);
  if (stale)
    cairn_warn("taking over stale lock of pid %ld (process is gone)", stale);
  rc = cairn_state_open(o->state_dir, &r.st, &err);
  if (rc < 0)
    goto out;
  drop_work(&r);
  /* Everything that can refuse the run (a recording that is not there, a
   * sink that needs a key it lacks: exit 2) opens before the attempt
   * begins, so a refused run changes no state, --fresh included. */
  rc = open_run(&r, &err);
  /* (before the attempt begins, which makes one) */
  if (rc == CAIRN_OK && !o->from && !o->fresh &&
      job->window_kind != CAIRN_WINDOW_NONE) {
    cairn_err herr = {0}; /* a warning: the run's err stays for its own */
    if (cairn_state_attempt_had(r.st, job->name, "", &had_scheduled,
                                &herr) < 0) {
      cairn_warn("the windows the scheduled runs missed were not looked "
                 "for: %s", herr.msg);
      had_scheduled = 0;
    }
  }
  if (rc == CAIRN_OK)
    rc = cairn_state_attempt_begin(r.st, job->name, spec, o->fresh,
                                   &r.attempt, &resumed, &discarded, &err);
  /* A refused run (exit 2) leaves no trace in the state; any other failure
   * is a run of its own in the runs table. */
  if (rc < 0 && cairn_exit_code_for(rc) == CAIRN_EXIT_USAGE)
    goto out;
  if (rc == CAIRN_OK) {
    if (o->fresh && discarded)
      cairn_info("--fresh: starting over; discarded %ld chunk checkpoint%s "
                 "of the interrupted attempt", discarded,
                 discarded == 1 ? "" : "s");
    else if (o->fresh)
      cairn_info("--fresh: starting over (no chunk checkpoint to discard)");
    else if (resumed)
      cairn_info("resuming the interrupted attempt %ld", r.attempt);
    if (!o->from && !o->fresh)
      catch_up(r.st, job, resumed ? r.attempt : 0, had_scheduled, 0,
               &windows, &n_windows);
    cairn_logj(CAIRN_LOG_INFO, json_pack("{s:s}", "trace_id", r.trace_id),
               "run started: %zu window%s, trace id %s", n_windows,
               n_windows == 1 ? "" : "s", r.trace_id);
  }
  {
    struct passwd *pw = getpwuid(getuid());
    json_t *safe = json_deep_copy(job->params);
    char *params;
    struct cairn_run_info ri = {0};
    const char *k;
    json_t *v;
    json_object_foreach(safe, k, v) /* no SAS token in the runs table */
      if (json_is_string(v)) {
        char *t = cairn_source_safe_param(json_string_value(v));
        json_string_set(v, t);
        free(t);
      }
    params = cairn_json_canonical(safe);
    json_decref(safe);
    snprintf(user, sizeof user, "%s", pw ? pw->pw_name : "?");
    gethostname(host, sizeof host - 1);
    ri.run_id = r.run_id;
    ri.job = job->name;
    ri.spec = spec;
    ri.user = user;
    ri.host = host;
    ri.job_sha256 = job->sha256;
    ri.connector_version = job->connector_version;
    ri.params_json = params;
    ri.trace_id = r.trace_id;
    ri.started = cairn_clock_now();
    ri.resumed = resumed;
    ri.tls_insecure = r.tls_insecure;
    if (rc == CAIRN_OK)
      rc = cairn_state_run_begin(r.st, &ri, &err);
    else
      cairn_state_run_begin(r.st, &ri, NULL);
    free(params);
    if (rc < 0)
      goto out;
    /* What the run commits is counted in its record as it commits it. */
    cairn_state_count_for(r.st, r.run_id);
    cairn_state_count_for(r.load_st, r.run_id);
  }
  for (size_t i = 0; i < n_windows; i++) {
    r.w = &windows[i];
    rc = stop_point("window", (long)i + 1, &err);
    if (rc == CAIRN_OK)
      rc = run_window(&r, &err);
    if (rc < 0)
      break;
  }
  cairn_log_set_window(NULL);
  if (rc >= 0)
    rc = cairn_state_attempt_done(r.st, job->name, spec, &err);
out:
  cairn_log_set_hook(NULL);
  cairn_progress_end();
  exit_code = cairn_exit_code_for(rc < 0 ? rc : CAIRN_OK);
  if (rc < 0) {
    /* The summary's last line, the runs table and `cairn status` show it:
     * one line of valid UTF-8 whatever it quotes (a server's reply). */
    message = message_line = cairn_oneline(err.msg);
    /* Masked once for every place it goes (summary, stderr, runs table). */
    cairn_log_mask(message_line);
    json_t *f = end_fields(&r, exit_code);
    json_object_set_new(f, "error", json_string(cairn_errname(err.code)));
    cairn_logj(CAIRN_LOG_ERROR, f, "run failed: %s%s%s%s", message_line,
               exit_code != CAIRN_EXIT_RESUMABLE ? ""
               : cairn_state_damaged(&err) ? " (" : " (checkpoint kept; ",
               resume_advice(exit_code, &err),
               exit_code == CAIRN_EXIT_RESUMABLE ? ")" : "");
  } else {
    cairn_logj(CAIRN_LOG_INFO, end_fields(&r, exit_code), "run done");
  }
  if (r.http && o->record_har) {
    cairn_err ferr = {0};
    if (cairn_http_record_flush(r.http, &ferr) < 0)
      cairn_warn("recording %s: %s", o->record_har, ferr.msg);
  }
  /* One end time for the metrics and the state's runs table, whose last
   * success a later failed run reports again (it must read the same). */
  ended = cairn_clock_now();
  if (r.st &&
      (fault_point("dlq_count", 0, "", &dlq_err) < 0 ||
       cairn_state_quarantine_count(r.st, job->name, &dlq, &dlq_err) < 0))
    dlq = -1; /* unknown: the summary says why, the gauge keeps its value */
  if (r.metrics_dir) {
    int64_t last_ok = 0;
    cairn_err merr = {0};
    cairn_metrics_flusher_stop();
    if (r.st && rc < 0)
      cairn_state_last_success(r.st, job->name, &last_ok, NULL);
    cairn_metrics_run_end(exit_code,
                          (double)(cairn_clock_mono_ms() - t0) / 1000.0,
                          dlq, last_ok, ended);
    if (cairn_metrics_write(r.metrics_dir, job->name, &merr) < 0)
      cairn_warn("metrics: %s", merr.msg);
  }
  if (r.st) {
    struct cairn_run_result rr = {0};
    cairn_err rerr = {0};
    rr.ended = ended;
    rr.status = rc < 0 ? "failed" : "done";
    rr.exit_code = exit_code;
    rr.extracted = r.extracted;
    rr.loaded = r.loaded;
    rr.rejected = r.rejected;
    rr.chunks = r.chunks;
    rr.chunks_redone = r.redone;
    rr.message = message;
    outputs = json_dumps(r.outputs, JSON_COMPACT | JSON_SORT_KEYS);
    rr.outputs_json = outputs;
    if (cairn_state_run_end(r.st, r.run_id, &rr, &rerr) < 0)
      /* the audit trail would call the run killed, with no counts */
      cairn_warn("the run's record could not be completed: %s; cairn "
                 "status shows it gone (recorded as running) once this "
                 "process ends, then killed, whatever its outcome (exit "
                 "%d, the summary below)", rerr.msg, exit_code);
    free(outputs);
    print_summary(&r, exit_code, rc < 0 ? &err : NULL, message, dlq,
                  &dlq_err, (double)(cairn_clock_mono_ms() - t0) / 1000.0);
  } else if (message) { /* logged above ("run failed") */
    cairn_runner_print_short(o, job->name,
                             exit_code == CAIRN_EXIT_USAGE ? "refused"
                                                           : "failed",
                             exit_code, message);
  }
  for (size_t i = 0; r.sinks && i < job->n_sinks; i++)
    cairn_sink_close(r.sinks[i]);
  free(r.sinks);
  free(r.sink_ctx);
  cairn_batch_free(r.batches[0]);
  cairn_batch_free(r.batches[1]);
  cairn_state_close(r.load_st);
  cairn_batch_free(r.side);
  cairn_transform_free(r.xf_side);
  cairn_transform_free(r.xf);
  cairn_http_transport_destroy(r.http);
  cairn_state_close(r.st);
  free(r.metrics_dir);
  free(r.work_dir);
  json_decref(r.outputs);
  cairn_lock_release(lock);
  free(windows);
  free(message_line);
  return exit_code;
}
