/* SPDX-License-Identifier: MIT */
/* progress.c -- one live status line on a terminal, redrawn with "\r" and
 * cleared with "\r\033[K" (erase to end of line). Rate-limited to one draw
 * per 250 ms so a fast file run does not spend its time on the terminal;
 * the rate is averaged over the whole run, which is steadier than a
 * per-redraw rate when chunks arrive in bursts. */
#include "job/progress.h"
#include "core/clock.h"
#include "core/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REDRAW_MS 250

static struct {
  pthread_mutex_t lock;
  int             active;     /* started on a TTY, not yet ended */
  int             shown;      /* a line is on the screen */
  char           *job;
  int64_t         t0_ms;      /* monotonic start */
  int64_t         last_ms;    /* monotonic time of the last draw */
} g = { PTHREAD_MUTEX_INITIALIZER, 0, 0, NULL, 0, 0 };

static int enabled(void)
{
  const char *env = getenv("CAIRN_PROGRESS");
  const char *term = getenv("TERM");
  if (env && strcmp(env, "0") == 0)
    return 0;
  if (term && strcmp(term, "dumb") == 0)
    return 0;
  return isatty(fileno(stderr));
}

/* 1234567 -> "1,234,567". */
static void grouped(int64_t v, char *out, size_t n)
{
  char digits[32];
  size_t len, o = 0;
  int neg = v < 0;

  snprintf(digits, sizeof digits, "%lld", (long long)(neg ? -v : v));
  len = strlen(digits);
  if (neg && o + 1 < n)
    out[o++] = '-';
  for (size_t i = 0; i < len && o + 1 < n; i++) {
    if (i > 0 && (len - i) % 3 == 0 && o + 2 < n)
      out[o++] = ',';
    out[o++] = digits[i];
  }
  out[o] = '\0';
}

static void duration(int64_t s, char *out, size_t n)
{
  if (s >= 3600)
    snprintf(out, n, "%lld:%02lld:%02lld", (long long)(s / 3600),
             (long long)(s / 60 % 60), (long long)(s % 60));
  else
    snprintf(out, n, "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
}

char *cairn_progress_render(const char *job, int64_t records, int64_t chunks,
                            int64_t retries, int64_t total,
                            int64_t elapsed_ms, char *out, unsigned n)
{
  char recs[32], rate_s[32], tot[32], eta[32] = "";
  double secs = (double)elapsed_ms / 1000.0;
  double rate = secs > 0 ? (double)records / secs : 0;
  int len;

  grouped(records, recs, sizeof recs);
  grouped((int64_t)(rate + 0.5), rate_s, sizeof rate_s);
  if (total >= 0) {
    grouped(total, tot, sizeof tot);
    if (rate > 0 && total > records) {
      char d[24];
      duration((int64_t)((double)(total - records) / rate + 0.5), d, sizeof d);
      snprintf(eta, sizeof eta, "  ETA %s", d);
    }
  }
  len = snprintf(out, n, "%s  %s%s%s records  %lld chunk%s  %s rec/s",
                 job ? job : "cairn", recs, total >= 0 ? "/" : "",
                 total >= 0 ? tot : "", (long long)chunks,
                 chunks == 1 ? "" : "s", rate_s);
  if (len > 0 && (unsigned)len < n && retries > 0)
    len += snprintf(out + len, n - (unsigned)len, "  %lld retr%s",
                    (long long)retries, retries == 1 ? "y" : "ies");
  if (len > 0 && (unsigned)len < n)
    snprintf(out + len, n - (unsigned)len, "%s", eta);
  return out;
}

/* Caller holds the lock. */
static void erase_locked(void)
{
  if (g.shown) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
    g.shown = 0;
  }
}

void cairn_progress_start(const char *job)
{
  cairn_progress_end();
  if (!enabled())
    return;
  pthread_mutex_lock(&g.lock);
  g.job = cairn_xstrdup(job);
  g.t0_ms = cairn_clock_mono_ms();
  g.last_ms = 0;
  g.active = 1;
  pthread_mutex_unlock(&g.lock);
}

void cairn_progress_update(int64_t records, int64_t chunks, int64_t retries,
                           int64_t total)
{
  char line[256];
  int64_t now;

  pthread_mutex_lock(&g.lock);
  if (!g.active)
    goto done;
  now = cairn_clock_mono_ms();
  if (g.shown && now - g.last_ms < REDRAW_MS)
    goto done;
  g.last_ms = now;
  cairn_progress_render(g.job, records, chunks, retries, total,
                        now - g.t0_ms, line, sizeof line);
  /* \033[K removes what an earlier, longer line left. The cursor goes
   * back to column 0 afterwards, so a log line written meanwhile
   * overwrites the progress text instead of being appended to it. */
  fprintf(stderr, "\r%s\033[K\r", line);
  fflush(stderr);
  g.shown = 1;
done:
  pthread_mutex_unlock(&g.lock);
}

void cairn_progress_hold(int before)
{
  /* The lock is held from before the log line to after it, so an update on
   * another thread cannot draw in the middle of it. */
  if (before) {
    pthread_mutex_lock(&g.lock);
    erase_locked();
  } else {
    pthread_mutex_unlock(&g.lock);
  }
}

void cairn_progress_end(void)
{
  pthread_mutex_lock(&g.lock);
  erase_locked();
  g.active = 0;
  free(g.job);
  g.job = NULL;
  pthread_mutex_unlock(&g.lock);
}
