/* SPDX-License-Identifier: MIT */
/* log.c -- JSON-lines (or text) logging with secret masking. */
#include "core/log.h"
#include "core/clock.h"
#include "core/codec.h"
#include "core/mem.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>
#include <unistd.h>


static struct {
  int   json;
  int   min_level;
  FILE *out;
  char *run_id;
  char *job;
  char *window;
  char **secrets;   /* longest first; each secret in up to 5 forms */
  int    n_secrets, cap_secrets;
} g = { 1, CAIRN_LOG_INFO, NULL, NULL, NULL, NULL, NULL, 0, 0 };

static _Thread_local long t_seq;
static void (*g_hook)(int before);
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void stop_prepare_locked(void);

void cairn_log_set_hook(void (*hook)(int before))
{
  pthread_mutex_lock(&lock);
  g_hook = hook;
  stop_prepare_locked();
  pthread_mutex_unlock(&lock);
}

void cairn_log_init(int json, int min_level, FILE *out)
{
  pthread_mutex_lock(&lock);
  g.json = json;
  g.min_level = min_level;
  g.out = out;
  stop_prepare_locked();
  pthread_mutex_unlock(&lock);
}

static void set_str(char **slot, const char *v)
{
  free(*slot);
  *slot = cairn_xstrdup(v);
}

void cairn_log_set_run(const char *run_id, const char *job)
{
  pthread_mutex_lock(&lock);
  set_str(&g.run_id, run_id);
  set_str(&g.job, job);
  stop_prepare_locked();
  pthread_mutex_unlock(&lock);
}

void cairn_log_set_window(const char *window)
{
  pthread_mutex_lock(&lock);
  set_str(&g.window, window);
  pthread_mutex_unlock(&lock);
}

void cairn_log_set_seq(long seq)
{
  t_seq = seq;
}

/* Caller holds the lock. Longest first: mask_locked must replace a
 * secret before any shorter one inside it (a user name within a
 * password), which would otherwise cut it apart and leave the rest. */
static void add_locked(char *value)
{
  size_t n = strlen(value);
  int at;

  for (int i = 0; i < g.n_secrets; i++)
    if (strcmp(g.secrets[i], value) == 0) {
      free(value);
      return;
    }
  /* No cap: a secret left out would go unmasked (a long run registers
   * each refreshed token). */
  if (g.n_secrets == g.cap_secrets) {
    g.cap_secrets = g.cap_secrets ? 2 * g.cap_secrets : 64;
    g.secrets = cairn_xrealloc(g.secrets,
                               (size_t)g.cap_secrets * sizeof *g.secrets);
  }
  for (at = g.n_secrets; at > 0 && strlen(g.secrets[at - 1]) < n; at--)
    g.secrets[at] = g.secrets[at - 1];
  g.secrets[at] = value;
  g.n_secrets++;
}

/* value percent-encoded as a URL query value (RFC 3986 unreserved bytes
 * kept), with upper- or lower-case hex. New string. */
static char *pct_encoded(const char *value, int upper)
{
  const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char *out = cairn_xmalloc(strlen(value) * 3 + 1), *o = out;
  for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
        (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
        *p == '~') {
      *o++ = (char)*p;
    } else {
      *o++ = '%';
      *o++ = hex[*p >> 4];
      *o++ = hex[*p & 15];
    }
  }
  *o = '\0';
  return out;
}

/* s as it reads inside a JSON string, as jansson writes it (the codec's
 * encoder, without the quotes). New string. */
static char *json_escaped(const char *s)
{
  size_t n = strlen(s);
  char *out = cairn_xmalloc(6 * n + 2);
  char *end = cairn_json_str_to(out, s, n, 1);
  memmove(out, out + 1, (size_t)(end - out) - 2);
  out[end - out - 2] = '\0';
  return out;
}

void cairn_log_add_secret(const char *value)
{
  char *esc, *one;
  if (!value || strlen(value) < 4)
    return;
  one = cairn_oneline(value); /* bytes that are not UTF-8 as \xNN */
  /* In JSON: the value escaped or, when it is not UTF-8 (JSON cannot hold
   * it), its one-line form escaped, as the JSON log writes it. */
  esc = json_escaped(cairn_utf8_valid(value, strlen(value)) ? value : one);
  pthread_mutex_lock(&lock);
  add_locked(cairn_xstrdup(value));
  /* A secret sent in a URL query is percent-encoded there (a base64 key's
   * '+', '/' and '='): that form is the same secret. So are its forms in
   * a JSON log line or document and in one-line text (the summary, text
   * logs, the runs table), masked after encoding. */
  add_locked(pct_encoded(value, 1));
  add_locked(pct_encoded(value, 0));
  add_locked(esc);
  add_locked(one);
  pthread_mutex_unlock(&lock);
}

/* Caller holds the lock. */
static void mask_locked(char *s)
{
  for (int i = 0; i < g.n_secrets; i++) {
    size_t n = strlen(g.secrets[i]);
    char *p;
    while ((p = strstr(s, g.secrets[i])) != NULL) {
      memcpy(p, "***", 3);
      memmove(p + 3, p + n, strlen(p + n) + 1);
    }
  }
}

void cairn_log_mask(char *s)
{
  pthread_mutex_lock(&lock);
  mask_locked(s);
  pthread_mutex_unlock(&lock);
}

size_t cairn_log_mask_n(char *s, size_t n)
{
  size_t in = 0, out = 0;

  pthread_mutex_lock(&lock);
  for (;;) {
    size_t k = strlen(s + in), m; /* s[n] is NUL: stays within s */
    mask_locked(s + in);          /* only ever shortens the run */
    m = strlen(s + in);
    memmove(s + out, s + in, m);
    out += m;
    in += k;
    if (in >= n)
      break;
    s[out++] = '\0'; /* the NUL that ended the run */
    in++;
  }
  s[out] = '\0';
  pthread_mutex_unlock(&lock);
  return out;
}

int cairn_log_has_secret(const char *s)
{
  int found = 0;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < g.n_secrets && !found; i++)
    found = strstr(s, g.secrets[i]) != NULL;
  pthread_mutex_unlock(&lock);
  return found;
}

static const char *level_name(int level)
{
  static const char *names[] = { "debug", "info", "warn", "error" };
  return level >= 0 && level <= 3 ? names[level] : "info";
}

/* One log line (no newline) of level with msg, fields and timestamp ts,
 * in the log's format, masked. Caller holds the lock. New string or NULL. */
static char *line_locked(int level, const json_t *fields, const char *msg,
                         const char *ts)
{
  char *line;

  if (g.json) {
    json_t *o = json_object();
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "level", json_string(level_name(level)));
    if (g.run_id)
      json_object_set_new(o, "run_id", json_string(g.run_id));
    if (g.job)
      json_object_set_new(o, "job", json_string(g.job));
    if (g.window)
      json_object_set_new(o, "window", json_string(g.window));
    if (t_seq > 0)
      json_object_set_new(o, "seq", json_integer(t_seq));
    json_object_set_new(o, "msg", json_string(msg));
    if (fields)
      json_object_update_missing(o, (json_t *)fields);
    line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
  } else {
    char *extra = fields && json_object_size(fields)
                      ? json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS)
                      : NULL;
    char seqbuf[24] = "";
    if (t_seq > 0)
      snprintf(seqbuf, sizeof seqbuf, " #%ld", t_seq);
    line = cairn_strfmt("%s %-5s %s%s%s%s %s%s%s", ts, level_name(level),
                        g.job ? g.job : "cairn", g.window ? " " : "",
                        g.window ? g.window : "", seqbuf, msg,
                        extra ? " " : "", extra ? extra : "");
    free(extra);
  }
  if (line)
    mask_locked(line);
  return line;
}

static void emit(int level, const json_t *fields, const char *fmt, va_list ap)
{
  char *msg, *line;
  char ts[96];
  struct timeval tv;
  struct tm tm;
  FILE *out = g.out ? g.out : stderr;
  int always = level & CAIRN_LOG_ALWAYS;

  level &= ~CAIRN_LOG_ALWAYS;
  if (level < g.min_level && !always)
    return;
  msg = cairn_vstrfmt(fmt, ap);
  /* A message may quote text from outside (a server's reply, a file
   * name): one line of valid UTF-8 in text logs, and valid UTF-8 for
   * json_string (which refuses anything else) in JSON logs, where the
   * encoder escapes control characters itself. */
  if (!g.json || !cairn_utf8_valid(msg, strlen(msg))) {
    char *one = cairn_oneline(msg);
    free(msg);
    msg = one;
  }
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
           tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000));
  pthread_mutex_lock(&lock);
  line = line_locked(level, fields, msg, ts);
  if (line) {
    if (g_hook)
      g_hook(1);
    fputs(line, out);
    fputc('\n', out);
    fflush(out);
    if (g_hook)
      g_hook(0);
  }
  pthread_mutex_unlock(&lock);
  free(line);
  free(msg);
}

void cairn_log(int level, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  emit(level, NULL, fmt, ap);
  va_end(ap);
}

void cairn_logj(int level, json_t *fields, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  emit(level, fields, fmt, ap);
  va_end(ap);
  json_decref((json_t *)fields);
}

/* ---- the stop line ---------------------------------------------------------
 * What cairn_log_stop_write writes from a signal handler, formatted
 * beforehand (whenever the format, the output, the run or the progress
 * hook changes) with a placeholder timestamp that the handler fills in
 * with arithmetic alone: nothing in the handler allocates, locks or uses
 * stdio. Two copies, so that a handler reads a whole one while the next
 * is made. The line carries no window or chunk, which change too often. */
#define STOP_TS "0000-00-00T00:00:00.000Z"

struct stop_lines {
  char   text[2][1024]; /* the line for SIGTERM, for SIGINT, with '\n' */
  size_t len[2];        /* 0: none (too long to keep) */
  size_t ts_at[2];      /* offset of STOP_TS in text */
  int    fd;            /* the log's */
};
static struct stop_lines stop_lines[2];
static volatile sig_atomic_t stop_cur;

static void stop_prepare_locked(void)
{
  static const int sigs[2] = { SIGTERM, SIGINT };
  struct stop_lines *l = &stop_lines[!stop_cur];
  char *window = g.window;
  long seq = t_seq;

  g.window = NULL;
  t_seq = 0;
  l->fd = fileno(g.out ? g.out : stderr);
  for (int i = 0; i < 2; i++) {
    const char *name = sigs[i] == SIGINT ? "SIGINT" : "SIGTERM";
    char *msg = cairn_strfmt("%s received: the run stops before its next "
                             "chunk, or at once where it waits on a "
                             "server (a second signal ends it at once)",
                             name);
    char *line = line_locked(CAIRN_LOG_WARN, NULL, msg, STOP_TS);
    /* over the progress line, if one is drawn */
    const char *clear = g_hook && isatty(l->fd) ? "\r\033[K" : "";
    char *ts = line ? strstr(line, STOP_TS) : NULL;
    int n = ts ? snprintf(l->text[i], sizeof l->text[i], "%s%s\n", clear,
                          line)
               : -1;

    l->len[i] = n > 0 && (size_t)n < sizeof l->text[i] ? (size_t)n : 0;
    l->ts_at[i] = ts ? strlen(clear) + (size_t)(ts - line) : 0;
    free(line);
    free(msg);
  }
  g.window = window;
  t_seq = seq;
  stop_cur = !stop_cur;
}

static void put_digits(char *p, long v, int n)
{
  while (n-- > 0) {
    p[n] = (char)('0' + v % 10);
    v /= 10;
  }
}

void cairn_log_stop_write(int sig)
{
  const struct stop_lines *l = &stop_lines[stop_cur];
  int i = sig == SIGINT, saved = errno;
  char buf[sizeof l->text[0]];
  struct timespec now;
  size_t n = l->len[i];

  if (!n)
    return;
  memcpy(buf, l->text[i], n);
  if (clock_gettime(CLOCK_REALTIME, &now) == 0 && now.tv_sec >= 0) {
    char *p = buf + l->ts_at[i];
    long sec = (long)(now.tv_sec % 86400);
    int y;
    unsigned m, d;
    cairn_civil_from_days(now.tv_sec / 86400, &y, &m, &d);
    put_digits(p, y, 4);
    put_digits(p + 5, (long)m, 2);
    put_digits(p + 8, (long)d, 2);
    put_digits(p + 11, sec / 3600, 2);
    put_digits(p + 14, sec / 60 % 60, 2);
    put_digits(p + 17, sec % 60, 2);
    put_digits(p + 20, now.tv_nsec / 1000000, 3);
  }
  if (write(l->fd, buf, n) < 0) {
    /* nowhere to say it */
  }
  errno = saved;
}
