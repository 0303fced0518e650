/* SPDX-License-Identifier: MIT */
/* cmd_dlq.c -- `cairn dlq JOB [--json]`: quarantined records and reasons. */
#include "cli/cli.h"
#include "core/codec.h"
#include "core/log.h"
#include "core/mem.h"
#include "state/state.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
  "usage: cairn dlq JOB [--json] [--state DIR]\n"
  "\n"
  "Lists the records of JOB that failed mapping or contract validation,\n"
  "with window, chunk, source position, every reason and the raw record\n"
  "(PII policy applied). A job that extracts only what changed since its\n"
  "last run (a delta link, a watermark, an ETag) keeps the rejects of its\n"
  "earlier runs, marked with their attempt (\"kept_from_attempt\" in\n"
  "--json), until a later run loads their record (the same contract key)\n"
  "or rejects it again (the same key, or the same raw text), or extracts\n"
  "everything again. --json prints one JSON array.\n"
  "--out DIR is accepted and ignored, so a run's own flags can be passed as\n"
  "they are.\n";

static const char *field(const json_t *o, const char *k)
{
  return json_string_value(json_object_get(o, k));
}

int cairn_cmd_dlq(int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "state", required_argument, NULL, 's' },
    { "out", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *state = NULL;
  int json = 0, c, rc = 0;
  cairn_state *st = NULL;
  cairn_err err = {0};
  json_t *q = NULL;
  char *job;

  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'j': json = 1; break;
    case 's':
      if (cairn_cli_once("dlq", "--state", &state, optarg) < 0)
        return 2;
      break;
    case 'o': break;
    case 'h': return cairn_cli_help(usage_text);
    default: fputs(usage_text, stderr); return 2;
    }
  }
  if (optind != argc - 1) {
    if (optind >= argc)
      fputs("cairn dlq: missing JOB\n", stderr);
    else
      fprintf(stderr, "cairn dlq: one JOB at a time (got '%s' and '%s')\n",
              argv[optind], argv[optind + 1]);
    fputs(usage_text, stderr);
    return 2;
  }
  job = cairn_cli_job_name(argv[optind]);
  rc = cairn_cli_state_read(state, "dlq", &st);
  if (rc == 0)
    rc = cairn_cli_job_known(st, argv[optind], job, "dlq", state);
  if (rc)
    goto done;
  if (cairn_state_quarantine(st, job, &q, &err) < 0) {
    fprintf(stderr, "cairn dlq: %s\n", err.msg);
    rc = 3;
    goto done;
  }
  if (json) {
    char *s = json_dumps(q, JSON_INDENT(2) | JSON_SORT_KEYS);
    cairn_log_mask(s);
    printf("%s\n", s);
    free(s);
  } else {
    printf("%zu quarantined record%s for %s\n", json_array_size(q),
           json_array_size(q) == 1 ? "" : "s", job);
    /* One line per record and one for its raw text, whatever they hold
     * (a record spanning lines, bytes that are not UTF-8: escaped, as
     * cairn_put_oneline does; --json has the text, and raw_base64 the
     * exact bytes of a record that is not UTF-8). */
    struct cairn_buf line = {0};
    for (size_t i = 0; i < json_array_size(q); i++) {
      json_t *r = json_array_get(q, i);
      const char *raw = field(r, "raw");
      line.len = 0;
      json_t *kept = json_object_get(r, "kept_from_attempt");
      cairn_buf_printf(&line, "%s #%" JSON_INTEGER_FORMAT " ",
                       field(r, "window"),
                       json_integer_value(json_object_get(r, "seq")));
      if (kept)
        cairn_buf_printf(&line, "(attempt %" JSON_INTEGER_FORMAT ", kept: "
                         "the source sends only what changed since) ",
                         json_integer_value(kept));
      cairn_put_oneline(&line, field(r, "position"));
      cairn_buf_puts(&line, ": ");
      cairn_put_oneline(&line, field(r, "reasons"));
      if (raw) {
        cairn_buf_puts(&line, "\n    raw: ");
        cairn_put_oneline(&line, raw);
      }
      cairn_log_mask(line.data);
      printf("%s\n", line.data);
    }
    cairn_buf_free(&line);
  }
done:
  json_decref(q);
  cairn_state_close(st);
  free(job);
  return rc;
}
