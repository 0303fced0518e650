/* SPDX-License-Identifier: MIT */
/* runner.h -- runs a loaded job: the chunk protocol.
 *
 * For each window: claim it for the current attempt, ask the state store
 * and every sink for their durable seq, resume from the smallest, and for
 * each chunk record extracted -> transformed -> loaded; when the window's
 * last chunk is loaded, let the sinks finish the window, commit the
 * window's incremental state and drop its spool. A crash at any instant
 * leaves a checkpoint from which the next run continues with nothing lost
 * and nothing applied twice. See docs/internals/runner.md. */
#ifndef CAIRN_RUNNER_H
#define CAIRN_RUNNER_H

#include "job/spec.h"

/* Exit codes of `cairn run` (documented in docs/operations.md). */
enum {
  CAIRN_EXIT_OK = 0,
  CAIRN_EXIT_USAGE = 2,      /* usage, invalid job, or already running */
  CAIRN_EXIT_RESUMABLE = 3,  /* failed; checkpoint kept; rerun resumes */
  CAIRN_EXIT_VERIFY = 4,     /* cairn verify found a mismatch */
};

struct cairn_run_opts {     /* all strings borrowed */
  const char *state_dir;    /* resolved: --state, $CAIRN_STATE, "state" */
  const char *out_dir;      /* resolved: --out, $CAIRN_OUT, "out" */
  const char *from, *to;    /* backfill range or NULL */
  const char *record_har;   /* --record FILE */
  const char *replay_har;   /* --replay FILE */
  const char *metrics_dir;  /* NULL: <state>/metrics */
  int         fresh;
  int         dry_run;
  int         keep_raw;
  int         json;         /* summary as one JSON object */
};

/* Run the job; returns an exit code (CAIRN_EXIT_*). Messages go to the log
 * and the summary to stdout. */
int cairn_runner_run(struct cairn_job *job, const struct cairn_run_opts *o);

/* The one summary line of a run that never started (disabled, a dry run,
 * refused, its state could not be opened, or its job file did not load):
 * the text to stdout (NULL: none, the message went to stderr), or with
 * o->json one object of job (null when unknown), status, exit_code and
 * message, like a full summary's. */
void cairn_runner_print_short(const struct cairn_run_opts *o, const char *job,
                              const char *status, int exit_code,
                              const char *text);

/* Map an error code to the exit code of a failed run. */
int cairn_exit_code_for(int rc);

/* Make SIGTERM and SIGINT stop a run between chunks (exit 3, resumable)
 * instead of killing it: for `cairn run`, once, before cairn_runner_run. */
void cairn_runner_catch_signals(void);

#endif
