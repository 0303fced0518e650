/* SPDX-License-Identifier: MIT */
/* cmd_mock.c -- `cairn mock HAR [options]`: serve a recording over HTTP on
 * loopback with injectable faults (src/http/mock.h has the fault grammar).
 *
 * The first line on stdout is "listening http://HOST:PORT" (flushed), so
 * scripts can start it with port 0 and read the address. It runs until
 * SIGINT/SIGTERM, --max-requests or --idle-exit, and exits 0; 2 for bad
 * usage, an unreadable recording or a bad fault; 3 when it cannot listen
 * (port taken: a retry may succeed). */
#include "cli/cli.h"
#include "http/mock.h"
#include "core/fsx.h"
#include "core/mem.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: cairn mock HAR [--listen 127.0.0.1:PORT] [--fault SPEC]...\n"
    "                      [--seed N] [--log FILE] [--max-requests N]\n"
    "                      [--idle-exit SECONDS]\n"
    "\n"
    "Serve the HAR recording over HTTP (port 0 = any free port; the first\n"
    "stdout line is 'listening http://HOST:PORT'; --listen 0.0.0.0:PORT\n"
    "binds every interface, and that line and the links the recording\n"
    "points back at then name 127.0.0.1, an address clients can reach).\n"
    "Requests match on method, path, query (any order) and body; unmatched\n"
    "ones get 404.\n"
    "One JSON line per request goes to --log FILE (appended) or stderr,\n"
    "with credentials (Authorization, secret query and form fields) shown\n"
    "as REDACTED.\n"
    "\n"
    "SPEC: ACTION[@SELECTOR]\n"
    "  ACTION   429 | 503 | any 400..599, optionally :retry-after=SECS or\n"
    "           :retry-after=date; reset; truncate; slow:MS\n"
    "  SELECTOR N (the Nth request) | N+ (from the Nth on) | every=K |\n"
    "           rate=P (with --seed, default 1); none = every request\n"
    "  e.g. --fault 429:retry-after=1@2 --fault reset@4 --fault truncate@6\n";

static int bad_usage(const char *fmt, const char *arg)
{
  fprintf(stderr, "cairn mock: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n%s", usage);
  return 2;
}

/* "--name VALUE" or "--name=VALUE": returns the value and advances *i,
 * or NULL when argv[*i] is not this option. *missing is set when the
 * option is there but its value is not. */
static const char *opt_value(int argc, char **argv, int *i, const char *name,
                             int *missing)
{
  size_t n = strlen(name);
  const char *a = argv[*i];

  if (strncmp(a, name, n) != 0)
    return NULL;
  if (a[n] == '=')
    return a + n + 1;
  if (a[n] != '\0')
    return NULL;
  if (*i + 1 >= argc) {
    *missing = 1;
    return NULL;
  }
  return argv[++*i];
}

/* An option given once (cairn_cli_once): 0, or 2 when given twice. */
static int once(const char *opt, const char **slot, const char *value)
{
  return cairn_cli_once("mock", opt, slot, value) < 0 ? 2 : 0;
}

int cairn_cmd_mock(int argc, char **argv)
{
  struct cairn_mock_opts o;
  const char **faults = cairn_xcalloc((size_t)argc + 1, sizeof *faults);
  size_t n_faults = 0;
  const char *seed_arg = NULL, *max_arg = NULL, *idle_arg = NULL;
  cairn_mock *m = NULL;
  cairn_err err = { 0 };
  sigset_t set, old;
  int rc = 0;

  memset(&o, 0, sizeof o);
  o.seed = 1;
  /* argv[0] is the subcommand name. */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    long long num = 0;
    int missing = 0;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      rc = cairn_cli_help(usage);
      goto out;
    }
    if ((v = opt_value(argc, argv, &i, "--listen", &missing))) {
      rc = once("--listen", &o.listen, v);
    } else if ((v = opt_value(argc, argv, &i, "--fault", &missing))) {
      if (cairn_mock_fault_check(v, &err) < 0) {
        fprintf(stderr, "cairn mock: %s\n", err.msg);
        rc = 2;
        goto out;
      }
      faults[n_faults++] = v;
    } else if ((v = opt_value(argc, argv, &i, "--log", &missing))) {
      rc = once("--log", &o.log_path, v);
    } else if ((v = opt_value(argc, argv, &i, "--seed", &missing))) {
      rc = once("--seed", &seed_arg, v);
      if (!rc && cairn_cli_num(v, 0, INT64_MAX, &num) < 0)
        rc = bad_usage("bad --seed '%s'", v);
      o.seed = (uint64_t)num;
    } else if ((v = opt_value(argc, argv, &i, "--max-requests", &missing))) {
      rc = once("--max-requests", &max_arg, v);
      if (!rc && cairn_cli_num(v, 1, 1000000000LL, &num) < 0)
        rc = bad_usage("bad --max-requests '%s'", v);
      o.max_requests = (long)num;
    } else if ((v = opt_value(argc, argv, &i, "--idle-exit", &missing))) {
      rc = once("--idle-exit", &idle_arg, v);
      if (!rc && cairn_cli_num(v, 1, 86400 * 7, &num) < 0)
        rc = bad_usage("bad --idle-exit '%s' (seconds)", v);
      o.idle_exit_ms = (long)num * 1000;
    } else if (missing) {
      rc = bad_usage("%s needs a value", a);
      goto out;
    } else if (a[0] == '-' && a[1] != '\0') {
      rc = bad_usage("unknown option '%s'", a);
      goto out;
    } else if (o.har_path) {
      rc = bad_usage("more than one recording given ('%s')", a);
      goto out;
    } else {
      o.har_path = a;
    }
    if (rc)
      goto out;
  }
  if (!o.har_path) {
    rc = bad_usage("%s", "no recording given");
    goto out;
  }
  if (!cairn_fs_exists(o.har_path)) {
    rc = bad_usage("no such recording '%s'", o.har_path);
    goto out;
  }
  o.faults = faults;

  /* Signals are taken synchronously below; block them before the server
   * starts so its threads inherit the mask. */
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  if (cairn_mock_start(&o, &m, &err) < 0) {
    fprintf(stderr, "cairn mock: %s\n",
            strncmp(err.msg, "mock: ", 6) == 0 ? err.msg + 6 : err.msg);
    rc = err.code == CAIRN_EIO && strstr(err.msg, "cannot listen") ? 3 : 2;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    goto out;
  }
  printf("listening %s\n", cairn_mock_url(m));
  fflush(stdout);
  for (;;) {
    struct timespec ts = { 0, 100 * 1000000L };
    int sig = sigtimedwait(&set, NULL, &ts);
    if (sig == SIGINT || sig == SIGTERM)
      break;
    if (cairn_mock_wait(m, 0))
      break;
  }
  cairn_mock_stop(m);
  pthread_sigmask(SIG_SETMASK, &old, NULL);

out:
  free(faults);
  return rc;
}
