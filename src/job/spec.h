/* SPDX-License-Identifier: MIT */
/* spec.h -- job and sink files: loading, validation, variable expansion.
 *
 * A job file is JSON validated against schemas/job.schema.json (source keys
 * against $defs/source_<type>); the sinks it names are files
 * sinks/<name>.json validated against schemas/sink.schema.json, merged with
 * the job's per-sink overrides. Variables -- ${param:N}, ${param:N:-dflt},
 * ${env:N}, ${secret:N} -- are expanded once, after validation (a default
 * only when its variable is unset); a reference to something undefined is
 * an error, each one said once (at its first use, with its others) and
 * all in one refusal. ${window.start|end|last} may only appear under
 * "source" and is expanded per window (cairn_expand_window). Every
 * problem is reported as "file:line:col: /json/pointer: message" through
 * the diagnostics list, and nothing runs. Secret values are registered with
 * the logger so no log line shows them. */
#ifndef CAIRN_SPEC_H
#define CAIRN_SPEC_H

#include <jansson.h>
#include "core/batch.h"
#include "core/err.h"
#include "core/mem.h"
#include "sink/sink.h"
#include "source/source.h"

enum cairn_window_kind { CAIRN_WINDOW_NONE = 0, CAIRN_WINDOW_DAY, CAIRN_WINDOW_MONTH };

struct cairn_job_sink {
  char                 *name;   /* sink name */
  json_t               *cfg;    /* definition merged with job overrides */
  const cairn_sink_ops *ops;
};

struct cairn_job {
  char   *path;               /* job file path as given */
  char   *name;
  char   *connector_version;  /* "" when absent */
  int     enabled;
  int     window_kind;        /* enum cairn_window_kind */
  json_t *doc;                /* expanded job document (owned) */
  const json_t *source_cfg;   /* borrowed from doc */
  const json_t *transform_cfg;
  const cairn_source_ops *source_ops;
  struct cairn_contract *contract;  /* owned */
  size_t  n_sinks;
  struct cairn_job_sink *sinks;
  char    sha256[65];          /* of the job file's bytes */
  json_t *params;              /* {"name": value} as used, secrets masked */
  char   *schemas_dir;
  json_t *secrets;             /* {"NAME": value} referenced (owned) */
  char   *input_problem;       /* defer_input_check: NULL, or the mapping's
                                  misfit with the input's header, one
                                  "file:line:col: message" per line (owned);
                                  the runner refuses the run with it */
  char   *missing_secrets;     /* list_missing_secrets: NULL, or one
                                  "file:line:col: message" line per secret
                                  a real run would stop without (owned) */
  json_t *missing_names;       /* the same, one "secret NAME is not set"
                                  (or "... cannot be read") each (owned) */
};

/* Where to find things, and the --param values. All borrowed. */
struct cairn_job_opts {
  const char *const *params;   /* "K=V" strings, NULL-terminated or NULL */
  const char *schemas_dir;     /* NULL: $CAIRN_SCHEMAS, ./schemas, install */
  const char *sinks_dir;       /* NULL: $CAIRN_SINKS, <jobdir>/../sinks, ./sinks */
  int         secrets_optional; /* validate: an unset secret is a warning
                                   (secrets exist where the job runs) */
  int         defer_input_check; /* run: a mapping that does not fit the
                                    input's header does not fail the load
                                    but goes into job->input_problem, for
                                    the runner to refuse the run after it
                                    took the lock (the metrics see it) */
  int         list_missing_secrets; /* run --dry-run: a secret that is not
                                    set or cannot be read does not fail the
                                    load but is listed in
                                    job->missing_secrets, a stand-in in its
                                    place; so is a secret a sink cannot
                                    open without, which is looked for, not
                                    read. A load that fails for another
                                    reason lists them with its problems */
  const char *out_dir;         /* where sinks' relative paths are (--out),
                                  to tell two sinks writing one file
                                  apart; NULL: the current directory */
};

/* Diagnostics collected while loading: one "file:line:col: msg" per line. */
struct cairn_diag {
  struct cairn_buf text;
  int              n;
};
void cairn_diag_free(struct cairn_diag *d);

/* Load, validate and expand a job file. On failure *out is NULL, every
 * problem is in d, and the return is CAIRN_EUSAGE. */
int  cairn_job_load(const char *path, const struct cairn_job_opts *opts,
                    struct cairn_job **out, struct cairn_diag *d,
                    cairn_err *err);
void cairn_job_free(struct cairn_job *job);      /* NULL ok */

/* Validate a sink file on its own (cairn validate). */
int  cairn_sink_file_check(const char *path, const struct cairn_job_opts *opts,
                           struct cairn_diag *d);

/* The secret NAME: $CAIRN_SECRET_<NAME>, else the file
 * $CREDENTIALS_DIRECTORY/NAME (trailing newlines removed). 1 when it is
 * set, with its value in *value (new string); value NULL looks for it
 * without reading it (the file is opened, to see that it can be, and
 * closed). 0 when it is not set. -1 when the file is there but cannot be
 * read (a directory this user may not enter, a file of another owner, a
 * directory of that name): err (may be NULL) says why. */
int cairn_secret_find(const char *name, char **value, cairn_err *err);

/* Look up a secret referenced by the job (borrowed, NULL if none). */
const char *cairn_job_secret(void *job, const char *name);

/* Resolve the schemas directory (new string). */
char *cairn_schemas_dir(const char *override);

/* A windowed job's source for one window: a copy of cfg (new reference)
 * with ${window.start}, ${window.end} and ${window.last} expanded. Loading
 * stores a source string that keeps such references as a template, in
 * which every other '$' is doubled ("$$"), so that text substituted at
 * load (a parameter, an environment variable, a secret) is never read as
 * a variable here; this pass turns "$$" back into '$'. The source's
 * run-wide settings (tls, redact, correlation_header) are never templates:
 * ${window.*} is refused there, and the runner reads them as they are. */
json_t *cairn_expand_window(const json_t *cfg, const struct cairn_window *w);

/* ---- windows ------------------------------------------------------------ */

/* The windows a run covers. from/to: "YYYY-MM-DD" or "YYYY-MM" (to is
 * exclusive) or NULL for the default (the window "all" for a job without
 * windows, else the last complete day/month before now). *out is a new
 * array of *n windows. Bad dates: CAIRN_EUSAGE. */
#define CAIRN_WINDOWS_MAX 100000  /* windows one run may cover */
int cairn_windows_plan(int kind, const char *from, const char *to,
                       struct cairn_window **out, size_t *n, cairn_err *err);

#endif
