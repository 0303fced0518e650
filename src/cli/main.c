/* SPDX-License-Identifier: MIT */
/* main.c -- `cairn <subcommand>`: the one table of subcommands. */
#include "cli/cli.h"
#include "core/fsx.h"
#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <jansson.h>
#include <curl/curl.h>
#include <sqlite3.h>

struct subcommand {
  const char *name;
  int       (*fn)(int argc, char **argv);
  const char *summary;
  int         lost_exit; /* exit code when what it wrote to stdout (its
                            product) could not be written; 0: a summary
                            only, the command's work is done anyway (its
                            --help, written by cairn_cli_help, exits 3) */
};

static const struct subcommand commands[] = {
  { "run", cairn_cmd_run, "run a job (resumes an interrupted run)", 0 },
  { "status", cairn_cmd_status, "last runs, windows, seq, DLQ depth", 3 },
  { "validate", cairn_cmd_validate, "check job and sink files", 3 },
  { "verify", cairn_cmd_verify, "verify an evidence bundle", 4 },
  { "mock", cairn_cmd_mock, "serve a HAR recording on loopback", 3 },
  { "dlq", cairn_cmd_dlq, "list quarantined records of a job", 3 },
  { "decrypt", cairn_cmd_decrypt, "decrypt PII values with the job's key", 4 },
};

/* A report that did not reach its reader (a full disk, an I/O error, a
 * closed pipe when SIGPIPE is ignored, as under systemd; otherwise SIGPIPE
 * ends the process first) is not a success: stdout is flushed and checked
 * before exit 0. */
static int output_lost(const char *name, int lost_exit, int rc)
{
  if (fflush(stdout) == 0 && !ferror(stdout))
    return rc;
  fprintf(stderr, "cairn%s%s: cannot write standard output: %s\n",
          name ? " " : "", name ? name : "", strerror(errno));
  return rc == 0 && lost_exit ? lost_exit : rc;
}

int cairn_cli_help(const char *text)
{
  fputs(text, stdout);
  return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 3;
}

static void usage(FILE *out)
{
  fprintf(out, "usage: cairn <command> [options]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\n`cairn <command> --help` (or `cairn help <command>`) "
               "describes a command.\n"
               "Exit codes: 0 done, 2 usage/invalid job/already running, "
               "3 failed but resumable, 4 verify failed (or decrypt "
               "could not).\n");
}

const char *cairn_cli_state_dir(const char *flag)
{
  const char *env = getenv("CAIRN_STATE");
  return flag ? flag : env && *env ? env : "state";
}

char *cairn_cli_job_name(const char *arg)
{
  const char *base = strrchr(arg, '/');
  struct stat sb;
  size_t n;

  /* A job file: its "name", which need not be its file name. */
  if (stat(arg, &sb) == 0 && S_ISREG(sb.st_mode)) {
    json_t *doc = json_load_file(arg, 0, NULL);
    const char *name = json_string_value(json_object_get(doc, "name"));
    char *out = name ? strdup(name) : NULL;
    json_decref(doc);
    if (out)
      return out;
  }
  base = base ? base + 1 : arg;
  n = strlen(base);
  if (n > 5 && strcmp(base + n - 5, ".json") == 0)
    n -= 5;
  return strndup(base, n);
}

int cairn_cli_job_known(cairn_state *st, const char *arg, const char *job,
                        const char *cmd, const char *state_flag)
{
  struct stat sb;
  json_t *jobs = NULL, *e;
  cairn_err err = {0};
  struct cairn_buf names = {0};
  size_t i;
  int rc = 0;

  if (stat(arg, &sb) == 0 && S_ISREG(sb.st_mode))
    return 0;
  if (cairn_state_jobs(st, &jobs, &err) < 0)
    return 0; /* the caller's own query reports a broken state */
  json_array_foreach(jobs, i, e) {
    const char *name = json_string_value(json_object_get(e, "job"));
    if (name && strcmp(name, job) == 0)
      goto done;
    cairn_buf_printf(&names, "%s%s", i ? ", " : "", name ? name : "?");
  }
  fprintf(stderr, "cairn %s: no job \"%s\" in the state in %s: no run of "
          "it has started there (a run refused with exit 2 leaves no "
          "record); %s%s\n", cmd, job, cairn_cli_state_dir(state_flag),
          names.len ? "it has runs of: " : "it has no runs yet",
          names.len ? names.data : "");
  rc = 2;
done:
  cairn_buf_free(&names);
  json_decref(jobs);
  return rc;
}

int cairn_cli_num(const char *s, long long lo, long long hi, long long *out)
{
  char *end;
  long long v;

  if (!s || !*s)
    return -1;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno || *end || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

int cairn_cli_state_read(const char *flag, const char *cmd, cairn_state **st)
{
  const char *dir = cairn_cli_state_dir(flag);
  char *path = cairn_path_join(dir, "cairn.db");
  cairn_err err = {0};
  int rc = 0, gone = 0;

  *st = NULL;
  if (access(path, F_OK) != 0)
    gone = errno;
  if (gone && gone != ENOENT && gone != ENOTDIR) {
    /* There may be a store, but it cannot be reached (a directory this
     * user may not search): not "nothing has run". */
    fprintf(stderr, "cairn %s: cannot read the state in %s (%s: %s); run "
            "it as a user who may read that directory, or fix its "
            "permissions\n", cmd, dir, path, strerror(gone));
    rc = 3;
  } else if (gone) {
    /* Opening would create it: a mistyped --state must not look empty. */
    fprintf(stderr, "cairn %s: no state in %s (%s: %s); nothing has run with "
            "this state directory (--state, $CAIRN_STATE)\n", cmd, dir, path,
            strerror(gone));
    rc = 2;
  } else {
    int on_disk = 0, r = cairn_state_open_read(dir, st, &on_disk, &err);
    if (r == CAIRN_DONE) {
      fprintf(stderr, "cairn %s: no state in %s yet: %s holds none (a first "
              "run is making it, or stopped before it had); nothing has run "
              "with this state directory to show\n", cmd, dir, path);
      rc = 2;
    } else if (r < 0) {
      fprintf(stderr, "cairn %s: %s\n", cmd, err.msg);
      rc = 3;
    } else if (on_disk) {
      fprintf(stderr, "cairn %s: note: no write access to %s, so %s is read "
              "as it is on disk: a run in progress may have committed more\n",
              cmd, dir, path);
    }
  }
  free(path);
  return rc;
}

const char *cairn_cli_out_dir(const char *flag)
{
  const char *env = getenv("CAIRN_OUT");
  return flag ? flag : env && *env ? env : "out";
}

/* One of names (NULL-terminated), or -1 after saying what is accepted. */
static int pick(const char *what, const char *v, const char *const *names)
{
  for (int i = 0; names[i]; i++)
    if (strcmp(v, names[i]) == 0)
      return i;
  fprintf(stderr, "cairn: %s: \"%s\" is not one of", what, v);
  for (int i = 0; names[i]; i++)
    fprintf(stderr, "%s %s", i ? "," : "", names[i]);
  fputc('\n', stderr);
  return -1;
}

int cairn_cli_log_setup(const char *format, const char *level)
{
  static const char *const formats[] = { "json", "text", NULL };
  static const char *const levels[] = { "debug", "info", "warn", "error",
                                        NULL };
  static const int level_of[] = { CAIRN_LOG_DEBUG, CAIRN_LOG_INFO,
                                  CAIRN_LOG_WARN, CAIRN_LOG_ERROR };
  const char *fmt_from = format ? "--log-format" : "CAIRN_LOG_FORMAT";
  const char *lvl_from = level ? "--log-level" : "CAIRN_LOG_LEVEL";
  int f = 0, l = 1;

  if (!format)
    format = getenv("CAIRN_LOG_FORMAT");
  if (!level)
    level = getenv("CAIRN_LOG_LEVEL");
  if (format && *format && (f = pick(fmt_from, format, formats)) < 0)
    return -1;
  if (level && *level && (l = pick(lvl_from, level, levels)) < 0)
    return -1;
  cairn_log_init(f == 0, level_of[l], stderr);
  return 0;
}

int cairn_cli_once(const char *cmd, const char *opt, const char **slot,
                   const char *value)
{
  if (*slot && strcmp(*slot, value) != 0) {
    fprintf(stderr, "cairn %s: %s given twice with different values "
            "(\"%s\", then \"%s\"): give one\n", cmd, opt, *slot, value);
    return -1;
  }
  *slot = value;
  return 0;
}

/* No core file: it would hold every secret the process read (client
 * secrets and PII keys from $CREDENTIALS_DIRECTORY files included, which
 * the docs call safer than the environment because it ends up in crash
 * reports), the tokens it received and the data it was loading. Not
 * dumpable also keeps other processes of the same user from reading its
 * memory (ptrace, /proc/PID/mem, /proc/PID/environ). CAIRN_CORE_DUMPS=1
 * keeps both for debugging a crash. */
static void no_core_dumps(void)
{
  const char *keep = getenv("CAIRN_CORE_DUMPS");
  struct rlimit none = { 0, 0 };

  if (keep && strcmp(keep, "1") == 0)
    return;
  if (setrlimit(RLIMIT_CORE, &none) != 0 ||
      prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    /* nothing more to do: both only narrow what the process allows */
  }
}

static const struct subcommand *find_command(const char *name)
{
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(name, commands[i].name) == 0)
      return &commands[i];
  return NULL;
}

int main(int argc, char **argv)
{
  const struct subcommand *c;
  int rc;
  no_core_dumps();
  /* SQLite keeps allocation statistics behind a process-wide mutex unless
   * told not to; cairn never reads them, and every thread's connections
   * (loader, checkpointer, state store) would share that mutex. Must come
   * before the first sqlite3_open. */
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  /* No setlocale(): the process stays in the "C" locale whatever LANG and
   * LC_* say, which the strtod, printf and strcasecmp calls on data rely
   * on (a decimal comma, a Turkish I). tests/cli/locale_tz.sh checks it. */
  if (argc < 2) { /* no command at all: a usage error */
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "help") == 0 && argc == 3 &&
      strcmp(argv[2], "--help") != 0 && strcmp(argv[2], "-h") != 0) {
    /* `cairn help CMD`: CMD's --help */
    static char help_flag[] = "--help";
    char *help_argv[] = { argv[2], help_flag, NULL };
    if (!(c = find_command(argv[2]))) {
      fprintf(stderr, "cairn help: unknown command \"%s\"\n\n", argv[2]);
      usage(stderr);
      return 2;
    }
    return output_lost(c->name, 3, c->fn(2, help_argv));
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    if (argc > 3 && strcmp(argv[1], "help") == 0) {
      fputs("cairn help: one COMMAND at most\n\n", stderr);
      usage(stderr);
      return 2;
    }
    usage(stdout); /* asked for: stdout, exit 0 */
    return output_lost(NULL, 3, 0);
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("cairn %s\n", CAIRN_VERSION);
    return output_lost(NULL, 3, 0);
  }
  if (cairn_cli_log_setup(NULL, NULL) < 0)
    return 2;
  if ((c = find_command(argv[1]))) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = c->fn(argc - 1, argv + 1);
    curl_global_cleanup();
    return output_lost(c->name, c->lost_exit, rc);
  }
  fprintf(stderr, "cairn: unknown command \"%s\"\n\n", argv[1]);
  usage(stderr);
  return 2;
}
