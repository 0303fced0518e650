/* SPDX-License-Identifier: MIT */
/* cmd_validate.c -- `cairn validate FILE...`: job and sink files. */
#include "cli/cli.h"
#include "core/jsonx.h"
#include "core/mem.h"
#include "job/spec.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
  "usage: cairn validate [--param K=V]... FILE...\n"
  "\n"
  "Checks job files (against schemas/job.schema.json, including that the\n"
  "sinks and the contract they name exist and that every variable is\n"
  "defined) and sink files (schemas/sink.schema.json). Problems are printed\n"
  "as file:line:col: message; the exit code is 2 when any file is invalid.\n"
  "Parameters a job needs can be given with --param K=V. Secrets are not\n"
  "needed to validate: an unset one is noted, not an error.\n";

/* A file is a sink file when it has "type" but no "source". */
static int is_sink_file(const char *path)
{
  json_t *doc = NULL;
  int sink;
  if (cairn_json_load_file(path, &doc, NULL, NULL) < 0)
    return 0;
  sink = json_object_get(doc, "type") && !json_object_get(doc, "source");
  json_decref(doc);
  return sink;
}

int cairn_cmd_validate(int argc, char **argv)
{
  static const struct option opts[] = {
    { "param", required_argument, NULL, 'p' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char **params = cairn_xcalloc((size_t)argc + 1, sizeof *params);
  size_t n_params = 0;
  int bad = 0, help = -1, c;

  optind = 1;
  while (help < 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
    if (c == 'p')
      params[n_params++] = optarg;
    else
      help = c == 'h' ? 0 : 2; /* --help, or a bad option */
  if (help < 0 && optind >= argc) {
    fputs("cairn validate: missing FILE\n", stderr);
    help = 2;
  }
  if (help >= 0) {
    if (help)
      fputs(usage_text, stderr);
    else
      help = cairn_cli_help(usage_text);
    free(params);
    return help;
  }
  for (int i = optind; i < argc; i++) {
    struct cairn_diag d = {0};
    struct cairn_job_opts jo = { params, NULL, NULL, 1, 0, 0,
                                 cairn_cli_out_dir(NULL) };
    cairn_err err = {0};
    int rc;
    if (is_sink_file(argv[i])) {
      rc = cairn_sink_file_check(argv[i], &jo, &d);
    } else {
      struct cairn_job *job = NULL;
      rc = cairn_job_load(argv[i], &jo, &job, &d, &err);
      cairn_job_free(job);
    }
    if (rc < 0) {
      fputs(d.text.data ? d.text.data : err.msg, stderr);
      bad++;
    } else {
      printf("%s: ok\n", argv[i]);
    }
    cairn_diag_free(&d);
  }
  free(params);
  return bad ? 2 : 0;
}
