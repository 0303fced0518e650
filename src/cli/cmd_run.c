/* SPDX-License-Identifier: MIT */
/* cmd_run.c -- `cairn run JOB ...`: load, validate, run. */
#include "cli/cli.h"
#include "core/log.h"
#include "core/mem.h"
#include "job/runner.h"
#include "job/spec.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
  "usage: cairn run JOB [--param K=V]... [--from DATE --to DATE]\n"
  "                 [--state DIR] [--out DIR] [--metrics-dir DIR]\n"
  "                 [--record HAR | --replay HAR]\n"
  "                 [--fresh] [--dry-run] [--keep-raw] [--json]\n"
  "                 [--log-format json|text] [--log-level LEVEL]\n"
  "\n"
  "Runs JOB chunk by chunk, checkpointing every stage. Running it again\n"
  "after an interruption resumes it; --fresh discards the interrupted\n"
  "attempt and starts over. --from/--to (YYYY-MM-DD or YYYY-MM, --to\n"
  "exclusive) backfill those windows without touching the job's\n"
  "incremental state.\n"
  "\n"
  "  --param K=V     set ${param:K} (repeatable, once per K)\n"
  "  --state DIR     checkpoint store (default $CAIRN_STATE or ./state)\n"
  "  --out DIR       output root for sinks (default $CAIRN_OUT or ./out)\n"
  "  --metrics-dir DIR\n"
  "                  where <job>.prom goes (default $CAIRN_METRICS_DIR or\n"
  "                  <state>/metrics)\n"
  "  --record HAR    record every HTTP exchange (credentials redacted)\n"
  "  --replay HAR    answer HTTP from a recording, no network (both: a job\n"
  "                  whose source makes HTTP requests)\n"
  "  --dry-run       validate and show the plan; nothing runs, no server\n"
  "                  is contacted, and no secret is needed: the missing\n"
  "                  ones are listed, and the exit code is then 2; an\n"
  "                  input that is not there (no file matches the\n"
  "                  source's path) is named, and the exit code is 3\n"
  "  --keep-raw      keep spooled raw pages after a window is loaded (a\n"
  "                  file or cost export source spools none: warned)\n"
  "  --json          print the end-of-run summary as one JSON object\n"
  "  --log-format json|text, --log-level debug|info|warn|error\n"
  "                  the log lines on stderr (default $CAIRN_LOG_FORMAT or\n"
  "                  json, $CAIRN_LOG_LEVEL or info)\n"
  "\n"
  "A job that lacks parameters or secrets is refused naming all of them.\n"
  "\n"
  "Exit codes: 0 done; 2 usage, invalid job or already running (nothing\n"
  "ran), or a job error found once the run started (a source query the\n"
  "server or SQLite refuses: fix the job; the checkpoint is kept); 3\n"
  "failed but resumable (checkpoint kept). A dry run exits 2 or 3 as the\n"
  "real run would stop (a secret, the --replay or --record file, an\n"
  "input missing), else 0.\n";

int cairn_cmd_run(int argc, char **argv)
{
  static const struct option opts[] = {
    { "param", required_argument, NULL, 'p' },
    { "from", required_argument, NULL, 'f' },
    { "to", required_argument, NULL, 't' },
    { "state", required_argument, NULL, 's' },
    { "out", required_argument, NULL, 'o' },
    { "record", required_argument, NULL, 'r' },
    { "replay", required_argument, NULL, 'R' },
    { "fresh", no_argument, NULL, 'F' },
    { "dry-run", no_argument, NULL, 'n' },
    { "keep-raw", no_argument, NULL, 'k' },
    { "json", no_argument, NULL, 'j' },
    { "log-format", required_argument, NULL, 'L' },
    { "log-level", required_argument, NULL, 'l' },
    { "metrics-dir", required_argument, NULL, 'm' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct cairn_run_opts ro = {0};
  struct cairn_job_opts jo = {0};
  struct cairn_job *job = NULL;
  struct cairn_diag diag = {0};
  cairn_err err = {0};
  const char **params = cairn_xcalloc((size_t)argc + 1, sizeof *params);
  const char *state = NULL, *out = NULL, *log_format = NULL, *log_level = NULL;
  size_t n_params = 0;
  int c, rc, once = 0;

  optind = 1;
  while (once == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'p': params[n_params++] = optarg; break;
    case 'f': once = cairn_cli_once("run", "--from", &ro.from, optarg); break;
    case 't': once = cairn_cli_once("run", "--to", &ro.to, optarg); break;
    case 's': once = cairn_cli_once("run", "--state", &state, optarg); break;
    case 'o': once = cairn_cli_once("run", "--out", &out, optarg); break;
    case 'r':
      once = cairn_cli_once("run", "--record", &ro.record_har, optarg);
      break;
    case 'R':
      once = cairn_cli_once("run", "--replay", &ro.replay_har, optarg);
      break;
    case 'F': ro.fresh = 1; break;
    case 'n': ro.dry_run = 1; break;
    case 'k': ro.keep_raw = 1; break;
    case 'j': ro.json = 1; break;
    case 'L':
      once = cairn_cli_once("run", "--log-format", &log_format, optarg);
      break;
    case 'l':
      once = cairn_cli_once("run", "--log-level", &log_level, optarg);
      break;
    case 'm':
      once = cairn_cli_once("run", "--metrics-dir", &ro.metrics_dir, optarg);
      break;
    case 'h':
      free(params);
      return cairn_cli_help(usage_text);
    default:
      fputs(usage_text, stderr);
      free(params);
      return 2;
    }
  }
  if (once < 0) {
    free(params);
    return 2;
  }
  if (optind != argc - 1) {
    fputs(optind >= argc ? "cairn run: missing JOB\n"
                         : "cairn run: exactly one JOB\n", stderr);
    fputs(usage_text, stderr);
    free(params);
    return 2;
  }
  if (ro.record_har && ro.replay_har) {
    fputs("cairn run: --record and --replay exclude each other\n", stderr);
    free(params);
    return 2;
  }
  if (cairn_cli_log_setup(log_format, log_level) < 0) {
    free(params);
    return 2;
  }
  ro.state_dir = cairn_cli_state_dir(state);
  ro.out_dir = cairn_cli_out_dir(out);
  jo.params = params;
  jo.out_dir = ro.out_dir;
  jo.defer_input_check = !ro.dry_run;
  jo.list_missing_secrets = ro.dry_run;
  rc = cairn_job_load(argv[optind], &jo, &job, &diag, &err);
  if (rc < 0) {
    const char *why = diag.text.data ? diag.text.data : err.msg;
    fputs(why, stderr);
    if (ro.json) {
      /* the first problem, and how many more there are */
      char *msg = diag.n > 1 ? cairn_strfmt("%.*s (and %d more problem%s "
                                            "on stderr)",
                                            (int)strcspn(why, "\n"), why,
                                            diag.n - 1, diag.n > 2 ? "s" : "")
                             : cairn_xstrndup(why, strcspn(why, "\n"));
      cairn_runner_print_short(&ro, NULL, "invalid", CAIRN_EXIT_USAGE, msg);
      free(msg);
    }
    cairn_diag_free(&diag);
    free(params);
    return 2;
  }
  cairn_diag_free(&diag);
  cairn_runner_catch_signals();
  rc = cairn_runner_run(job, &ro);
  cairn_job_free(job);
  free(params);
  return rc;
}
