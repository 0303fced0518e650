/* SPDX-License-Identifier: MIT */
/* cmd_status.c -- `cairn status [JOB] [--json] [--runs N]`. */
#include "cli/cli.h"
#include "core/clock.h"
#include "core/log.h"
#include "state/state.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
  "usage: cairn status [JOB] [--runs N] [--windows N|all] [--json]\n"
  "                    [--state DIR]\n"
  "\n"
  "Shows the last runs (with their audit fields), the windows of each job\n"
  "with their last loaded seq, records loaded and rejected, and the DLQ\n"
  "depth. A run recorded as running whose process is gone (killed: SIGKILL,\n"
  "the OOM killer) shows as gone until the next run marks it killed.\n"
  "JOB is a job name or a job file path. --runs N: the last N runs\n"
  "(default 5). --windows N: every window not loaded and the newest N\n"
  "loaded ones of each job (default 10; all with --json), a line saying\n"
  "how many older ones are left out; --windows all lists every window.\n"
  "--out DIR is accepted and ignored, so a run's own flags can be passed\n"
  "as they are.\n";

/* "jobs/demo-cost.json" -> "demo-cost": accept a path for convenience. */
static const char *js(const json_t *o, const char *k)
{
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : "-";
}

/* A run's params and outputs are JSON texts in the state: given as the
 * JSON they hold (the text as it is if it is none). */
static void parse_json_texts(json_t *runs)
{
  static const char *const keys[] = { "params", "outputs" };
  for (size_t i = 0; i < json_array_size(runs); i++)
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
      json_t *r = json_array_get(runs, i);
      const char *t = json_string_value(json_object_get(r, keys[k]));
      json_t *v = t ? json_loads(t, JSON_DECODE_ANY, NULL) : NULL;
      if (v)
        json_object_set_new(r, keys[k], v);
    }
}

static long long ji(const json_t *o, const char *k)
{
  return (long long)json_integer_value(json_object_get(o, k));
}

/* Each run recorded as "running" gets "alive": whether its process still
 * runs, that is holds the job's lock for it (cairn_lock_holder, which
 * takes nothing), the record left as it is. A lock held for another run
 * is a later run's (starting, about to mark this one killed). null, with
 * "alive_error", when the lock cannot tell. */
static void note_alive(json_t *runs, const char *state_dir)
{
  for (size_t i = 0; i < json_array_size(runs); i++) {
    json_t *r = json_array_get(runs, i);
    cairn_err err = {0};
    char *holder = NULL;
    if (strcmp(js(r, "status"), "running") != 0)
      continue;
    if (cairn_lock_holder(state_dir, js(r, "job"), &holder, &err) < 0) {
      json_object_set_new(r, "alive", json_null());
      json_object_set_new(r, "alive_error", json_string(err.msg));
    } else {
      json_object_set_new(r, "alive", json_boolean(
                            holder && strcmp(holder, js(r, "run_id")) == 0));
    }
    free(holder);
  }
}

int cairn_cmd_status(int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "runs", required_argument, NULL, 'r' },
    { "windows", required_argument, NULL, 'w' },
    { "state", required_argument, NULL, 's' },
    { "out", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *state = NULL, *runs_arg = NULL, *windows_arg = NULL;
  char *job = NULL;
  int json = 0, runs = 5, c, rc = 0;
  long long n, loaded = -2; /* -2: the default, -1: all */
  cairn_state *st = NULL;
  cairn_err err = {0};
  json_t *jr = NULL, *jw = NULL, *jo = NULL;
  int64_t dlq = 0;

  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'j': json = 1; break;
    case 'r':
      if (cairn_cli_once("status", "--runs", &runs_arg, optarg) < 0)
        return 2;
      if (cairn_cli_num(optarg, 1, 1000000, &n) < 0) {
        fprintf(stderr, "cairn status: bad --runs '%s' (a count from 1)\n",
                optarg);
        return 2;
      }
      runs = (int)n;
      break;
    case 'w':
      if (cairn_cli_once("status", "--windows", &windows_arg, optarg) < 0)
        return 2;
      if (strcmp(optarg, "all") == 0) {
        loaded = -1;
      } else if (cairn_cli_num(optarg, 0, 1000000, &n) < 0) {
        fprintf(stderr, "cairn status: bad --windows '%s' (a count from 0, "
                "or all)\n", optarg);
        return 2;
      } else {
        loaded = n;
      }
      break;
    case 's':
      if (cairn_cli_once("status", "--state", &state, optarg) < 0)
        return 2;
      break;
    case 'o': break;
    case 'h': return cairn_cli_help(usage_text);
    default: fputs(usage_text, stderr); return 2;
    }
  }
  if (argc - optind > 1) {
    fprintf(stderr, "cairn status: one JOB at most (got '%s' and '%s')\n",
            argv[optind], argv[optind + 1]);
    return 2;
  }
  if (optind < argc)
    job = cairn_cli_job_name(argv[optind]);
  rc = cairn_cli_state_read(state, "status", &st);
  if (rc == 0 && job)
    rc = cairn_cli_job_known(st, argv[optind], job, "status", state);
  if (rc)
    goto done;
  /* A DLQ depth that cannot be counted is not shown as 0. */
  if (cairn_state_runs(st, job, runs, &jr, &err) < 0 ||
      cairn_state_windows(st, job,
                          loaded != -2 ? (long)loaded : json ? -1 : 10,
                          &jw, &jo, &err) < 0 ||
      (job && cairn_state_quarantine_count(st, job, &dlq, &err) < 0)) {
    fprintf(stderr, "cairn status: %s\n", err.msg);
    rc = 3;
    goto done;
  }
  parse_json_texts(jr);
  note_alive(jr, cairn_state_dir(st));
  if (json) {
    json_t *o = json_pack("{s:O,s:O}", "runs", jr, "windows", jw);
    if (job)
      json_object_set_new(o, "dlq_depth", json_integer(dlq));
    if (json_array_size(jo)) /* loaded windows left out by --windows */
      json_object_set(o, "windows_omitted", jo);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    cairn_log_mask(s);
    printf("%s\n", s);
    free(s);
    json_decref(o);
    goto done;
  }
  printf("RUNS (newest first)\n");
  if (json_array_size(jr) == 0)
    printf("  none\n");
  for (size_t i = 0; i < json_array_size(jr); i++) {
    json_t *r = json_array_get(jr, i);
    char started[32] = "-", ended[32] = "-";
    cairn_clock_fmt(ji(r, "started"), started, sizeof started);
    if (json_integer_value(json_object_get(r, "ended")))
      cairn_clock_fmt(ji(r, "ended"), ended, sizeof ended);
    {
      char code[24] = "-"; /* none: running, or killed */
      /* a run recorded as running whose process is gone: "gone" */
      int gone = json_is_false(json_object_get(r, "alive"));
      if (json_is_integer(json_object_get(r, "exit_code")))
        snprintf(code, sizeof code, "%lld", ji(r, "exit_code"));
      printf("  %s %-20s %-7s exit=%s %s..%s%s\n", js(r, "run_id"),
             js(r, "job"), gone ? "gone" : js(r, "status"), code, started,
             ended, ji(r, "resumed") ? " (resumed)" : "");
      if (gone)
        printf("      gone: recorded as running, but its process holds the "
               "job's lock no more: killed (SIGKILL, the OOM killer, a lost "
               "node) or unable to record its end; the next run of the job "
               "marks it killed and resumes where it stopped\n");
      else if (json_is_string(json_object_get(r, "alive_error")))
        printf("      alive: unknown (%s)\n", js(r, "alive_error"));
    }
    {
      /* Counts grow as a run commits (a killed run keeps what it
       * committed); a run killed under an older cairn, which counted only
       * at a run's end, has none: "-", not 0. */
      static const char *const counts[] = { "loaded", "rejected", "chunks",
                                            "chunks_redone" };
      char v[4][24];
      for (int k = 0; k < 4; k++) {
        if (json_is_integer(json_object_get(r, counts[k])))
          snprintf(v[k], sizeof v[k], "%lld", ji(r, counts[k]));
        else
          strcpy(v[k], "-");
      }
      printf("      loaded=%s rejected=%s chunks=%s redone=%s user=%s "
             "host=%s connector=%s\n", v[0], v[1], v[2], v[3],
             js(r, "user"), js(r, "host"), js(r, "connector_version"));
    }
    {
      char *params = json_dumps(json_object_get(r, "params"),
                                JSON_COMPACT | JSON_ENCODE_ANY);
      printf("      job_sha256=%s params=%s trace=%s\n", js(r, "job_sha256"),
             params ? params : "-", js(r, "trace_id"));
      free(params);
    }
    if (ji(r, "tls_insecure"))
      printf("      tls: VERIFICATION OFF (source.tls.insecure: the "
             "server was not authenticated)\n");
    if (json_string_value(json_object_get(r, "message")))
      printf("      message: %s\n", js(r, "message"));
    {
      /* Output digests: per window, the chunk digest and each sink's. */
      json_t *outs = json_object_get(r, "outputs");
      for (size_t k = 0; k < json_array_size(outs); k++) {
        json_t *w = json_array_get(outs, k), *sinks = json_object_get(w,
                                                                      "sinks");
        const char *sname;
        json_t *so;
        printf("      output %s: chunk_digest=%s", js(w, "window"),
               js(w, "chunk_digest"));
        json_object_foreach(sinks, sname, so) {
          /* a bundle's file (one per run of a window "all") */
          if (json_string_value(json_object_get(so, "bundle")))
            printf(" %s=%s", sname, js(so, "bundle"));
          if (json_object_get(so, "sha256"))
            printf(" %s.sha256=%s", sname, js(so, "sha256"));
        }
        printf("\n");
      }
    }
  }
  printf("WINDOWS\n");
  if (json_array_size(jw) == 0 && json_array_size(jo) == 0)
    printf("  none\n");
  /* A job's left-out count goes before its first window listed; a job
   * whose windows are all left out (or the last such) gets it still. */
  for (size_t i = 0, k = 0; i <= json_array_size(jw); i++) {
    json_t *w = json_array_get(jw, i); /* NULL: past the last */
    for (; k < json_array_size(jo) &&
           (!w || strcmp(js(json_array_get(jo, k), "job"), js(w, "job")) <= 0);
         k++)
      printf("  %-20s (%lld older loaded windows not shown: --windows all)"
             "\n", js(json_array_get(jo, k), "job"),
             ji(json_array_get(jo, k), "n"));
    if (w)
      printf("  %-20s %-12s %-7s last_seq=%lld records=%lld rejected=%lld\n",
             js(w, "job"), js(w, "window"), js(w, "status"),
             ji(w, "last_seq"), ji(w, "records"), ji(w, "rejects"));
  }
  if (job)
    printf("DLQ depth: %lld\n", (long long)dlq);
done:
  json_decref(jr);
  json_decref(jw);
  json_decref(jo);
  cairn_state_close(st);
  free(job);
  return rc;
}
