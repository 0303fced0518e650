/* SPDX-License-Identifier: MIT */
/* state.h -- the checkpoint store, the run lock and the raw-page spool.
 *
 * SQLite (WAL) at <state>/cairn.db. It records, per job:
 *   attempts  one open-or-done attempt per (job, spec); spec is the window
 *             range ("" for the default run, "2024-05-01..2024-06-01" for a
 *             backfill), so a backfill never disturbs the nightly run;
 *   windows   per window: the attempt that owns it, open/loaded, counts,
 *             incremental state staged until the window is loaded;
 *   chunks    per (window, seq): stage extracted/transformed/loaded,
 *             cursors, record/reject counts, content digest, load count;
 *   kv        committed incremental state (delta tokens, watermarks);
 *   quarantine rejected records, keyed so a rerun adds nothing, each with
 *             its record's contract key when it has one;
 *   runs      the audit trail of every run.
 * Every write is one SQLite transaction: never a half-written state.
 * One store per process; not thread-safe (the runner calls it from one
 * thread). Strings passed in are borrowed; strings returned are new. */
#ifndef CAIRN_STATE_H
#define CAIRN_STATE_H

#include <stdint.h>
#include <jansson.h>
#include "core/batch.h"
#include "core/err.h"

typedef struct cairn_state cairn_state;

/* Open (creating dir and schema). *out NULL on failure. */
int  cairn_state_open(const char *dir, cairn_state **out, cairn_err *err);
/* Open an existing state to read it only (cairn status, cairn dlq): no
 * directory, schema or file is created, so a user without write access
 * (the state belongs to the service's user) can read it. When SQLite
 * cannot open it read-only either (a WAL database with no -shm file to
 * share, in a directory the user cannot write), the file is read as it
 * is on disk, without locks (*on_disk set): exact when no run is in
 * progress, since the last connection to close folds the WAL in.
 * CAIRN_DONE (*out NULL) when the file holds no state yet: a first run
 * has made it but not yet committed its tables. */
int  cairn_state_open_read(const char *dir, cairn_state **out, int *on_disk,
                           cairn_err *err);
void cairn_state_close(cairn_state *st);   /* NULL ok */
/* 1 when err is the state store found damaged (not a database, or
 * malformed): a rerun fails the same way until it is restored or moved
 * aside, which the message says. */
int  cairn_state_damaged(const cairn_err *err);
const char *cairn_state_dir(const cairn_state *st);

/* ---- attempts ------------------------------------------------------ */

/* Begin or resume the attempt of (job, spec). When an open attempt exists
 * and !fresh it is resumed (*resumed = 1). With fresh, an open attempt is
 * discarded first: its windows not loaded go back to no attempt (the
 * takeover of whichever attempt reaches one drops its chunk rows), their
 * spools are deleted, and *discarded tells how many chunk checkpoints
 * they held. */
int cairn_state_attempt_begin(cairn_state *st, const char *job,
                              const char *spec, int fresh, long *attempt,
                              int *resumed, long *discarded, cairn_err *err);
/* The interrupted attempt of (job, spec), the one a run would resume;
 * *attempt 0 when none is (attempts are numbered from 1). Reads only. */
int cairn_state_open_attempt(cairn_state *st, const char *job,
                             const char *spec, long *attempt, cairn_err *err);
/* Whether (job, spec) has had an attempt, open or done (*had 1). */
int cairn_state_attempt_had(cairn_state *st, const char *job,
                            const char *spec, int *had, cairn_err *err);
int cairn_state_attempt_done(cairn_state *st, const char *job,
                             const char *spec, cairn_err *err);

/* ---- windows ------------------------------------------------------- */

struct cairn_window_row {
  long    attempt;      /* owning attempt, 0 when no row */
  int     loaded;       /* 1 when every chunk is loaded and state committed */
  long    n_chunks;
  int64_t records, rejects;
  char   *logical_time; /* new string or NULL */
  int     full;         /* 1: a sink lost the window (cairn_state_window_full):
                           extract it in full, whatever kv holds */
};
void cairn_window_row_clear(struct cairn_window_row *r);

/* Whether job has a window that is not loaded (an attempt claimed it, or
 * --fresh gave it back): *any 1, also on error. Reads only. */
int cairn_state_window_open_any(cairn_state *st, const char *job,
                                int *any, cairn_err *err);
int cairn_state_window_get(cairn_state *st, const char *job,
                           const struct cairn_window *w,
                           struct cairn_window_row *out, cairn_err *err);
/* The start of the first window attempt owns (by start), and the end of
 * the job's newest loaded window that starts before `before` (an RFC 3339
 * window start): new strings, NULL when there is none. Windows without a
 * start (`all`, of a job that has had no window kind) do not count. Read
 * only; what a scheduled run's catch-up starts from. */
int cairn_state_attempt_first(cairn_state *st, const char *job,
                              long attempt, char **start, cairn_err *err);
int cairn_state_loaded_before(cairn_state *st, const char *job,
                              const char *before, char **end, cairn_err *err);
/* Mark window w to be extracted in full (no delta link, watermark or ETag
 * read) until it is loaded again: a sink lost its rows. Kept by the
 * claims that follow, so a run killed or failed before it loads the
 * window leaves the next one the same full extraction; cleared by
 * cairn_state_window_loaded. */
int cairn_state_window_full(cairn_state *st, const char *job,
                            const struct cairn_window *w, cairn_err *err);
/* What becomes of the rejects of the attempt that owned the window. */
enum cairn_claim {
  /* That attempt did not load the window: the new one extracts again what
   * it did (from the same incremental state) and meets them again. */
  CAIRN_CLAIM_REDO = 0,
  /* That attempt loaded the window: its rejects move aside
   * (quarantine_kept, with the attempt they came from), as a new one that
   * extracts only what changed since (a delta link, a watermark, an ETag)
   * does not meet them again. A full extraction drops them with its first
   * chunk (cairn_state_window_kept_drop); a later attempt that loads
   * their record drops each with the chunk that loads it
   * (cairn_state_chunk_loaded), and one that rejects it again when the
   * window is loaded (cairn_state_window_loaded). */
  CAIRN_CLAIM_KEEP,
};
/* Give window w to attempt, status open, dropping the chunk rows the
 * window had and its rejects as `claim` says (the runner claims a window
 * only when another attempt owned it, or none did). */
int cairn_state_window_claim(cairn_state *st, const char *job,
                             const struct cairn_window *w, long attempt,
                             enum cairn_claim claim, cairn_err *err);
/* Drop the rejects earlier attempts kept for window w (CAIRN_CLAIM_KEEP):
 * its extraction turned out to be a full one (its first chunk's
 * cairn_page.narrowed 0, or no chunk at all), which meets them again, or
 * they were mended. */
int cairn_state_window_kept_drop(cairn_state *st, const char *job,
                                 const struct cairn_window *w,
                                 cairn_err *err);
/* Whether earlier attempts kept rejects for window w that carry a
 * contract key (*keyed 1): only then can a loaded row resolve one, and
 * does the runner hand cairn_state_chunk_loaded its chunks' keys. Kept
 * rejects appear only when a window is claimed, so once per window is
 * enough. Reads only. */
int cairn_state_window_kept_keyed(cairn_state *st, const char *job,
                                  const struct cairn_window *w, int *keyed,
                                  cairn_err *err);
/* Whether this attempt's own rejects of window w (quarantine) include one
 * with a contract key (*keyed 1): a later row of its record, loaded in
 * the same attempt, drops it (cairn_state_chunk_loaded). Asked once per
 * window, when it is begun or resumed; the runner notes the keyed rejects
 * of the chunks it transforms after that itself. Reads only. */
int cairn_state_window_rejects_keyed(cairn_state *st, const char *job,
                                     const struct cairn_window *w,
                                     int *keyed, cairn_err *err);

int cairn_state_window_set_time(cairn_state *st, const char *job,
                                const struct cairn_window *w,
                                const char *logical_time, cairn_err *err);
/* Stage incremental state for w (committed by window_loaded). */
int cairn_state_window_stage_kv(cairn_state *st, const char *job,
                                const struct cairn_window *w, const char *key,
                                const char *value, cairn_err *err);
/* One transaction: window loaded, counts, staged kv -> kv, and the
 * rejects kept for w (CAIRN_CLAIM_KEEP) of records this attempt rejected
 * again dropped: those with the contract key of one of its rejects, or
 * (a reject without a key: its key fields did not map cleanly, or it was
 * made before the store kept keys) with the same raw text. */
/* output: NULL, or a JSON object (the window's digests and sink outputs):
 * kept with the window's row, with the run the store counts for
 * (cairn_state_count_for), as that run's output for the window until its
 * end, or until the next run marks it killed (cairn_state_run_begin). */
int cairn_state_window_loaded(cairn_state *st, const char *job,
                              const struct cairn_window *w, long n_chunks,
                              const char *output, cairn_err *err);

/* ---- chunks -------------------------------------------------------- */

enum cairn_stage {
  CAIRN_STAGE_NONE = 0,
  CAIRN_STAGE_EXTRACTED = 1,
  CAIRN_STAGE_TRANSFORMED = 2,
  CAIRN_STAGE_LOADED = 3,
};

struct cairn_chunk_row {
  int     stage;        /* enum cairn_stage; NONE when no row */
  char   *cursor_in;    /* new strings or NULL */
  char   *cursor_out;
  int     last;         /* the window's final chunk */
  char   *spool;        /* spool file path, NULL when not spooled */
  char   *meta;
  int64_t raw_bytes, records, rejects;
  char    digest[65];
  long    load_count;   /* times this chunk reached "loaded" */
};
void cairn_chunk_row_clear(struct cairn_chunk_row *r);

int cairn_state_chunk_get(cairn_state *st, const char *job,
                          const struct cairn_window *w, long seq,
                          struct cairn_chunk_row *out, cairn_err *err);
/* Highest seq at stage loaded (0 = none). */
int cairn_state_loaded_seq(cairn_state *st, const char *job,
                           const struct cairn_window *w, long *seq,
                           cairn_err *err);
int cairn_state_chunk_extracted(cairn_state *st, const char *job,
                                const struct cairn_window *w, long seq,
                                const char *cursor_in, const char *cursor_out,
                                int last, const char *spool, const char *meta,
                                int64_t raw_bytes, cairn_err *err);
/* Counts and the batch's rejects (quarantine) in one transaction, and
 * the version of the contract the batch was made under (NULL: none). A
 * reject with the contract key of a reject of an earlier chunk of w
 * replaces it (its record rejected again), which no longer counts in its
 * chunk's rejects; *replaced (may be NULL): how many it replaced. */
int cairn_state_chunk_transformed(cairn_state *st, const char *job,
                                  const struct cairn_window *w, long seq,
                                  const struct cairn_batch *b,
                                  const char *contract, long *replaced,
                                  cairn_err *err);
/* The chunks of w transformed under another contract version than
 * `contract` (a cairn from before an upgrade was killed in the window):
 * n of them (0: none, and the rest is zero), the first, the highest seq of
 * the window, and that version of the first (a new string, the caller
 * frees it). Chunks of a cairn from before the store recorded versions
 * (NULL) are not counted: the SQLite sink's own record covers those. */
struct cairn_contract_other {
  int64_t n, first, of;
  char   *contract;
};
int cairn_state_contract_other(cairn_state *st, const char *job,
                               const struct cairn_window *w,
                               const char *contract,
                               struct cairn_contract_other *out,
                               cairn_err *err);
/* Stage loaded, with the content digest of the loaded batch
 * (cairn_batch_digest; computed by the loader, off the producer's path).
 * keys: NULL, or the contract keys of the chunk's rows (cairn_batch_keys,
 * a JSON array with element i row i's key or null), in the same
 * transaction dropping, their records loaded:
 *  - the rejects kept for w with one of them;
 *  - this attempt's own rejects of w with one of them that come before
 *    the row in source order: of an earlier chunk, or of this chunk with
 *    fewer rows before them (rows_before, cairn_reject.row) than that
 *    row's index. A reject after the last row of its key stays: the
 *    record's latest version is the rejected one. */
int cairn_state_chunk_loaded(cairn_state *st, const char *job,
                             const struct cairn_window *w, long seq,
                             const char *digest, const char *keys,
                             cairn_err *err);

/* SHA-256 over the content digests of w's chunks in seq order: one digest
 * that changes if any loaded record of the window does. */
int cairn_state_window_digest(cairn_state *st, const char *job,
                              const struct cairn_window *w, char out[65],
                              cairn_err *err);

/* ---- spool ----------------------------------------------------------- */

/* Append raw bytes as one zstd frame (with a content checksum) to the
 * window's spool file <state>/spool/<job>/<window>/pages.zst, without
 * fsync: a power loss may lose it (state.c says why that is safe).
 * *path_out is new: the reference to store, "<file>#<offset>,<length>". */
int cairn_state_spool_put(cairn_state *st, const char *job,
                          const struct cairn_window *w, long seq,
                          const void *data, size_t len, char **path_out,
                          cairn_err *err);
/* Read a spooled page back by its reference (appends to out); a plain
 * path (rows of the old one-file-per-page layout) is read whole.
 * CAIRN_DONE (a warning logged, out unchanged) when the page is lost: the
 * file is missing or too short, or the frame is empty, damaged or fails
 * its checksum; the caller must then treat its chunk as never extracted
 * (cairn_state_chunks_forget) and fetch the page again. */
int cairn_state_spool_get(cairn_state *st, const char *ref,
                          struct cairn_buf *out, cairn_err *err);
/* Forget chunks from_seq.. of w as if they had never been extracted: their
 * rows and quarantine records, in one transaction. */
int cairn_state_chunks_forget(cairn_state *st, const char *job,
                              const struct cairn_window *w, long from_seq,
                              cairn_err *err);
/* fsync every spooled page of w and its directory (for --keep-raw: the kept
 * pages are made durable once, before the window is marked loaded). */
int cairn_state_spool_sync(cairn_state *st, const char *job,
                           const struct cairn_window *w, cairn_err *err);
/* Remove the spool directory of a window. */
int cairn_state_spool_drop(cairn_state *st, const char *job,
                           const struct cairn_window *w, cairn_err *err);

/* ---- incremental key/value ----------------------------------------- */

/* *value_out new or NULL. */
int cairn_state_kv_get(cairn_state *st, const char *job, const char *key,
                       char **value_out, cairn_err *err);
int cairn_state_kv_put(cairn_state *st, const char *job, const char *key,
                       const char *value, cairn_err *err);

/* ---- runs (audit trail) --------------------------------------------- */

struct cairn_run_info {
  const char *run_id, *job, *spec, *user, *host, *job_sha256;
  const char *connector_version, *params_json, *trace_id;
  int64_t     started;
  int         resumed;
  int         tls_insecure; /* TLS verification off (source.tls.insecure) */
};
/* Record a run as "running", its counts 0; the caller holds the job's
 * lock, so the job's runs still "running" (killed ones) become "killed"
 * first, with the outputs of the windows they loaded. */
int cairn_state_run_begin(cairn_state *st, const struct cairn_run_info *ri,
                          cairn_err *err);
/* Count what this connection commits for run run_id (NULL: for none, the
 * default): each chunk transformed adds its records and rejects to the
 * run's extracted and rejected, each chunk loaded its records and 1 to
 * loaded and chunks, in the commit's own transaction, and each window
 * loaded names the run (its output is the run's: cairn_state_runs). So
 * the record of a run killed at any instant holds exactly what it
 * committed. */
void cairn_state_count_for(cairn_state *st, const char *run_id);
/* chunks_redone += 1 for the run counted for (nothing when none). */
int cairn_state_run_redone(cairn_state *st, cairn_err *err);
struct cairn_run_result {
  int64_t     ended;
  const char *status;      /* "done", "failed", "running" */
  int         exit_code;
  int64_t     extracted, loaded, rejected, chunks, chunks_redone;
  const char *message;     /* may be NULL */
  const char *outputs_json;/* output digests, may be NULL */
};
int cairn_state_run_end(cairn_state *st, const char *run_id,
                        const struct cairn_run_result *rr, cairn_err *err);

/* End time of the job's newest successful run (0 when none). */
int cairn_state_last_success(cairn_state *st, const char *job, int64_t *t,
                             cairn_err *err);

/* JSON array (new reference) of the last 'limit' runs of job (all jobs
 * when job is NULL), newest first; a run not ended has as its outputs
 * those of the windows it has loaded so far. */
int cairn_state_runs(cairn_state *st, const char *job, int limit,
                     json_t **out, cairn_err *err);
/* JSON array of {"job": NAME}, one per job the state has a run or a
 * window of, by name. */
int cairn_state_jobs(cairn_state *st, json_t **out, cairn_err *err);
/* JSON array of the windows of job (all jobs when NULL) with counts and
 * last seq, by job and window: every window not loaded, and the newest
 * `loaded` loaded ones of each job (all when loaded < 0). omitted (NULL:
 * not asked) gets a JSON array of {"job", "n"}: the loaded windows of
 * each job left out. */
int cairn_state_windows(cairn_state *st, const char *job, long loaded,
                        json_t **out, json_t **omitted, cairn_err *err);
/* JSON array of quarantined records of job: the rejects of each window's
 * attempt, then those kept from earlier attempts (CAIRN_CLAIM_KEEP), which
 * carry "kept_from_attempt". The count is of both. */
int cairn_state_quarantine(cairn_state *st, const char *job, json_t **out,
                           cairn_err *err);
int cairn_state_quarantine_count(cairn_state *st, const char *job,
                                 int64_t *n, cairn_err *err);
/* The first record quarantined in chunks 1..max_seq of window w (by seq,
 * then as it was met): its position and reasons (new strings), or both
 * NULL when there is none. */
int cairn_state_first_reject(cairn_state *st, const char *job,
                             const struct cairn_window *w, long max_seq,
                             char **position, char **reasons, cairn_err *err);

/* ---- run lock ---------------------------------------------------------- */

typedef struct cairn_lock cairn_lock;
/* Take <state>/locks/<job>.lock for the run run_id (named in it, for
 * cairn_lock_holder). Held by a live process: CAIRN_ELOCKED
 * with "job X is running (pid N, since T)", N a live process's pid (or,
 * when the holder shows none within about a second, a message that says
 * so). A lock left by a dead process is taken over and *stale_pid tells
 * whose it was (0 otherwise). */
int  cairn_lock_take(const char *state_dir, const char *job,
                     const char *run_id, cairn_lock **out, long *stale_pid,
                     cairn_err *err);
void cairn_lock_release(cairn_lock *l);   /* NULL ok */
/* The run a live process holds the job's lock for: *run_id its id (new
 * string; "" when the file names none), NULL when no process holds it or
 * there is no lock file. Takes and creates nothing, so a run starting
 * meanwhile is neither refused nor delayed. Sees holders in any pid
 * namespace (containers); not those of an older cairn, which took no OFD lock. CAIRN_EIO when it cannot tell (the
 * file cannot be opened, or the kernel has no OFD locks). For `cairn
 * status`: a run recorded as "running" whose process is gone. */
int  cairn_lock_holder(const char *state_dir, const char *job, char **run_id,
                       cairn_err *err);

#endif
