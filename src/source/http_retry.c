/* SPDX-License-Identifier: MIT */
/* http_retry.c -- how the http source survives throttling and outages.
 *
 * One loop (cairn__hs_perform) sends a request, and on a retryable result
 * (429, 408, 5xx, timeouts, resets, truncated bodies) waits and sends it
 * again. The wait is the largest delay the server asks for (Retry-After in
 * both forms and the vendor headers), floored so that "Retry-After: 0"
 * cannot burn every attempt at once, or else exponential backoff with full
 * jitter. Limits: attempts per request (failures; throttling answers do
 * not use them up), a cap on one wait (a server asking for more ends the
 * run as resumable instead of being hammered early), and a time budget
 * over every retry wait of the run. A circuit breaker per connector opens
 * after N consecutive failures, waits a cool-down, lets one probe through,
 * and ends the run as resumable when the probe fails too.
 *
 * Time: every wait and deadline uses a virtual clock (monotonic time plus
 * the time fast test sleeps skipped), so CAIRN_TEST_FAST_RETRY=1 makes
 * tests fast without changing any decision. See
 * docs/internals/http-source.md. */
#include "source/src_http.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The least wait after a 429, whatever min_delay_s and base_delay_s say:
 * throttling answers do not use up attempts, so without it "Retry-After:
 * 0" (or none) with both at 0 would repeat the request in a busy loop
 * that only the budget -- never charged -- could end. */
#define THROTTLE_FLOOR_MS 250

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- the virtual clock --------------------------------------------------- */

static int64_t skipped_ms;   /* sleep time fast mode did not really sleep */

static long fast_divisor(void)
{
  const char *v = getenv("CAIRN_TEST_FAST_RETRY");
  long d;
  if (!v || !*v || strcmp(v, "0") == 0)
    return 1;
  d = strtol(v, NULL, 10);
  return d > 1 ? d : 1000;
}

int64_t cairn__hs_vclock_ms(void)
{
  int64_t s;
  pthread_mutex_lock(&lock);
  s = skipped_ms;
  pthread_mutex_unlock(&lock);
  return cairn_clock_mono_ms() + s;
}

int cairn__hs_vsleep_ms(int64_t ms)
{
  long div = fast_divisor();
  int64_t real;
  if (ms <= 0)
    return cairn_stop_signal();
  real = ms / div;
  pthread_mutex_lock(&lock);
  skipped_ms += ms - real;
  pthread_mutex_unlock(&lock);
  return cairn_clock_nap_ms(real);
}

/* The wait for "what" ended by a stop (SIGTERM, SIGINT). */
static int stopped(const char *what, int64_t ms, cairn_err *err)
{
  return CAIRN_RAISE(err, CAIRN_ESTOPPED, 0, "stopped by %s while waiting "
                     "%.1fs %s (the rerun makes the request again)",
                     cairn_stop_name(), (double)ms / 1000.0, what);
}

/* ---- HTTP dates ---------------------------------------------------------- */

static int month_of(const char *s)
{
  static const char *const m[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
  for (int i = 0; i < 12; i++)
    if (strncmp(s, m[i], 3) == 0)
      return i + 1;
  return 0;
}

static int to_epoch(int y, int mon, int d, int hh, int mm, int ss,
                    int64_t *out)
{
  if (mon < 1 || mon > 12 || d < 1 || d > 31 || hh > 23 || mm > 59 ||
      ss > 60 || hh < 0 || mm < 0 || ss < 0)
    return -1;
  *out = cairn_days_from_civil(y, (unsigned)mon, (unsigned)d) * 86400 +
         hh * 3600 + mm * 60 + ss;
  return 0;
}

int cairn__hs_http_date(const char *s, int64_t *out)
{
  char wk[16], mon[4], tz[4];
  int d, y, hh, mm, ss, n = 0;

  if (!s)
    return -1;
  while (*s == ' ')
    s++;
  /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
  if (sscanf(s, "%3[A-Za-z], %2d %3s %4d %2d:%2d:%2d %3s%n", wk, &d, mon, &y,
             &hh, &mm, &ss, tz, &n) == 8 && strcmp(tz, "GMT") == 0)
    return to_epoch(y, month_of(mon), d, hh, mm, ss, out);
  /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (two-digit year: RFC 9110
   * says a year more than 50 years ahead is in the past; 1970..2069). */
  if (sscanf(s, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d %3s%n", wk, &d, mon, &y,
             &hh, &mm, &ss, tz, &n) == 8 && strcmp(tz, "GMT") == 0)
    return to_epoch(y < 70 ? 2000 + y : 1900 + y, month_of(mon), d, hh, mm,
                    ss, out);
  /* asctime: Sun Nov  6 08:49:37 1994 */
  if (sscanf(s, "%3[A-Za-z] %3s %d %2d:%2d:%2d %4d%n", wk, mon, &d, &hh, &mm,
             &ss, &y, &n) == 7)
    return to_epoch(y, month_of(mon), d, hh, mm, ss, out);
  return -1;
}

/* ---- what the server asks for -------------------------------------------- */

/* Non-negative decimal seconds (digits, optional fraction) in ms; -1.
 * More than 1e11 s (3,000 years) counts as 1e11: a server asking for
 * longer than that still asks for longer than any max_delay_s, and must
 * end the run, not be taken for one that asked for nothing. */
static int64_t seconds_ms(const char *v)
{
  char *end;
  double d;
  if (!v)
    return -1;
  while (*v == ' ')
    v++;
  if (!isdigit((unsigned char)*v))
    return -1;
  d = strtod(v, &end);
  while (*end == ' ')
    end++;
  if (*end || d < 0)
    return -1;
  if (d > 1e11)
    d = 1e11;
  return (int64_t)(d * 1000.0 + 0.5);
}

/* hh:mm:ss (ARG x-ms-user-quota-resets-after) in ms; -1. */
static int64_t hms_ms(const char *v)
{
  int h, m, s, n = 0;
  if (!v || sscanf(v, "%d:%2d:%2d%n", &h, &m, &s, &n) != 3 || v[n] ||
      h < 0 || m < 0 || s < 0 || m > 59 || s > 59)
    return -1;
  return ((int64_t)h * 3600 + m * 60 + s) * 1000;
}

static void take_max(int64_t *best, int64_t v)
{
  if (v > *best)
    *best = v;
}

int64_t cairn__hs_server_delay(const struct cairn_http_resp *r, int64_t now_s)
{
  int64_t best = -1, t, date;
  const char *v;

  if (!r)
    return -1;
  /* "Now" for an HTTP-date is the server's own Date when it sent one, so
   * skewed clocks do not matter (RFC 9110 10.2.3). */
  if (cairn__hs_http_date(cairn_http_resp_header(r, "Date"), &date) == 0)
    now_s = date;
  v = cairn_http_resp_header(r, "Retry-After");
  if (v) {
    int64_t ms = seconds_ms(v);
    if (ms < 0 && cairn__hs_http_date(v, &t) == 0)
      ms = t > now_s ? (t - now_s) * 1000 : 0;  /* past: retry now */
    take_max(&best, ms);
  }
  /* Azure SDKs also honour these two, in milliseconds. */
  for (int i = 0; i < 2; i++) {
    int64_t ms = seconds_ms(cairn_http_resp_header(
        r, i ? "x-ms-retry-after-ms" : "retry-after-ms"));
    if (ms >= 0)
      take_max(&best, ms / 1000);
  }
  /* Cost Management and the whole x-ms-ratelimit-<provider>-*-retry-after
   * family (qpu, entity, tenant, client, consumption): seconds. */
  for (size_t i = 0; i < r->n_headers; i++) {
    const char *n = r->headers[i].name;
    size_t len = strlen(n);
    if (strncasecmp(n, "x-ms-ratelimit-", 15) == 0 && len > 12 &&
        strcasecmp(n + len - 12, "-retry-after") == 0)
      take_max(&best, seconds_ms(r->headers[i].value));
  }
  if (r->status == 429) {
    /* ARG: the quota window resets after hh:mm:ss. */
    v = cairn_http_resp_header(r, "x-ms-user-quota-resets-after");
    take_max(&best, hms_ms(v));
    /* ServiceNow: epoch seconds when the hourly rate-limit window resets. */
    v = cairn_http_resp_header(r, "X-RateLimit-Reset");
    if (v) {
      int64_t ms = seconds_ms(v);
      if (ms >= 0 && ms / 1000 > 100000000) {  /* an epoch, not a delay */
        t = ms / 1000;
        take_max(&best, t > now_s ? (t - now_s) * 1000 : 0);
      }
    }
  }
  return best;
}

int64_t cairn__hs_quota_pause(const struct cairn_http_resp *r)
{
  const char *rem = cairn_http_resp_header(r, "x-ms-user-quota-remaining");
  int64_t ms;
  if (!rem || strtol(rem, NULL, 10) > 0 || !isdigit((unsigned char)*rem))
    return 0;
  ms = hms_ms(cairn_http_resp_header(r, "x-ms-user-quota-resets-after"));
  return ms > 0 ? ms : 0;
}

/* ---- classification ------------------------------------------------------ */

const char *cairn__hs_retry_reason(int rc, const cairn_err *err, long status,
                                   int *unsent)
{
  const char *m = err ? err->msg : "";
  *unsent = 0;
  if (rc == CAIRN_OK) {
    if (status == 429)
      return "429";
    if (status == 408)
      return "timeout";
    if (status >= 500 && status <= 599 && status != 501 && status != 505)
      return "5xx";
    return NULL;
  }
  if (rc != CAIRN_EHTTP)
    return NULL;
  if (strstr(m, "connection refused") || strstr(m, "host unreachable") ||
      strstr(m, "cannot connect") || strstr(m, "cannot resolve host") ||
      strstr(m, "timeout while connecting") ||
      strstr(m, "during the TLS handshake")) {
    *unsent = 1;
    return "connection";
  }
  if (strstr(m, "truncated body"))
    return "truncated";
  if (strstr(m, "timeout"))
    return "timeout";
  if (strstr(m, "connection reset") || strstr(m, "without a response") ||
      strstr(m, "receive failed") || strstr(m, "send failed"))
    return "connection";
  return NULL;    /* TLS, body too large, bad URL: retrying cannot help */
}

int64_t cairn__hs_backoff_ms(const struct cairn__hs_retry *p, long n)
{
  int64_t ceiling = p->base_ms;
  int64_t d;
  for (long i = 1; i < n && ceiling < p->max_delay_ms; i++)
    ceiling *= 2;
  if (ceiling > p->max_delay_ms)
    ceiling = p->max_delay_ms;
  d = ceiling > 0 ? (int64_t)(cairn__hs_random() % (uint64_t)(ceiling + 1))
                  : 0;
  return d < p->min_delay_ms ? p->min_delay_ms : d;
}

/* ---- connectors: breaker, budget, pacing --------------------------------- */

enum { CLOSED = 0, OPEN, HALF_OPEN };

struct conn {
  char    key[128];
  long    consecutive;   /* failures since the last success */
  int     state;
  int64_t open_until;    /* vclock ms; OPEN only */
  int64_t waited_ms;     /* every retry wait of this run so far */
  int64_t pace_until;    /* vclock ms before which no request goes */
};

#define MAX_CONNS 32
static struct conn conns[MAX_CONNS];
static int n_conns;

/* Called with lock held. */
static struct conn *conn_get(const char *key)
{
  for (int i = 0; i < n_conns; i++)
    if (strcmp(conns[i].key, key) == 0)
      return &conns[i];
  if (n_conns == MAX_CONNS)
    n_conns = 0;     /* many connectors in one process: reuse slots */
  memset(&conns[n_conns], 0, sizeof conns[n_conns]);
  snprintf(conns[n_conns].key, sizeof conns[n_conns].key, "%s", key);
  return &conns[n_conns++];
}

int cairn__hs_circuit_allow(const char *key, const struct cairn__hs_retry *p,
                            cairn_err *err)
{
  int64_t now = cairn__hs_vclock_ms();
  struct conn *c;
  int rc = CAIRN_OK;
  pthread_mutex_lock(&lock);
  c = conn_get(key);
  if (c->state == OPEN) {
    if (now >= c->open_until)
      c->state = HALF_OPEN;         /* this request is the probe */
    else
      rc = CAIRN_RAISE(err, CAIRN_ECIRCUIT, 0, "circuit breaker of %s is "
                       "open after %ld consecutive failures; next probe in "
                       "%.0fs",
                       key, c->consecutive,
                       (double)(c->open_until - now) / 1000.0);
  }
  pthread_mutex_unlock(&lock);
  (void)p;
  return rc;
}

void cairn__hs_circuit_success(const char *key)
{
  int was;
  pthread_mutex_lock(&lock);
  struct conn *c = conn_get(key);
  was = c->state;
  c->state = CLOSED;
  c->consecutive = 0;
  pthread_mutex_unlock(&lock);
  if (was != CLOSED) {
    cairn_metrics_circuit(0);
    cairn_info("circuit breaker of %s closed: the probe succeeded", key);
  }
}

int cairn__hs_circuit_failure(const char *key, const struct cairn__hs_retry *p)
{
  int64_t now = cairn__hs_vclock_ms();
  int res = 0;
  pthread_mutex_lock(&lock);
  struct conn *c = conn_get(key);
  c->consecutive++;
  if (c->state == HALF_OPEN) {
    c->state = OPEN;
    c->open_until = now + p->circuit_cooldown_ms;
    res = 2;
  } else if (c->state == CLOSED && p->circuit_failures > 0 &&
             c->consecutive >= p->circuit_failures) {
    c->state = OPEN;
    c->open_until = now + p->circuit_cooldown_ms;
    res = 1;
  }
  pthread_mutex_unlock(&lock);
  if (res == 1)
    cairn_metrics_circuit(1);
  return res;
}

void cairn__hs_reset_globals(void)
{
  pthread_mutex_lock(&lock);
  memset(conns, 0, sizeof conns);
  n_conns = 0;
  pthread_mutex_unlock(&lock);
  cairn__hs_auth_reset_cache();
}

static int64_t budget_left(const char *key, const struct cairn__hs_retry *p)
{
  int64_t left;
  pthread_mutex_lock(&lock);
  left = p->budget_ms - conn_get(key)->waited_ms;
  pthread_mutex_unlock(&lock);
  return left;
}

static void spend(const char *key, int64_t ms)
{
  pthread_mutex_lock(&lock);
  conn_get(key)->waited_ms += ms;
  pthread_mutex_unlock(&lock);
}

/* Wait for an exhausted quota to reset before the next request; a reset
 * further off than max_delay_s ends the run, as a server's Retry-After
 * that long does. */
static int pace(const char *key, const struct cairn__hs_retry *p,
                cairn_err *err)
{
  int64_t until, now = cairn__hs_vclock_ms();
  pthread_mutex_lock(&lock);
  until = conn_get(key)->pace_until;
  pthread_mutex_unlock(&lock);
  if (until - now > p->max_delay_ms)
    return CAIRN_RAISE(err, CAIRN_ERETRY, 0, "the quota is exhausted "
                       "(x-ms-user-quota-remaining: 0) and resets in "
                       "%.0fs, more than source.retry.max_delay_s (%.0fs)",
                       (double)(until - now) / 1000.0,
                       (double)p->max_delay_ms / 1000.0);
  if (until > now) {
    cairn_info("quota exhausted (x-ms-user-quota-remaining: 0): waiting "
               "%.1fs for it to reset", (double)(until - now) / 1000.0);
    if (cairn__hs_vsleep_ms(until - now))
      return stopped("for the quota to reset", until - now, err);
  }
  return CAIRN_OK;
}

static void set_pace(const char *key, int64_t ms)
{
  int64_t now = cairn__hs_vclock_ms();
  pthread_mutex_lock(&lock);
  conn_get(key)->pace_until = ms > 0 ? now + ms : 0;
  pthread_mutex_unlock(&lock);
}

/* ---- the loop ------------------------------------------------------------ */

/* "METHOD /path" for messages: no host, no query (it may hold secrets). */
static void label_of(const struct cairn_http_req *req, char *out, size_t n)
{
  const char *u = req->url, *path = strstr(u, "://");
  path = path ? path + 3 + strcspn(path + 3, "/?#") : u;
  snprintf(out, n, "%s %.*s", req->method, (int)strcspn(path, "?#"),
           *path ? path : "/");
}

int cairn__hs_perform(cairn_http_transport *t, const struct cairn__hs_retry *p,
                      const char *key, const struct cairn__hs_call *c,
                      struct cairn_http_resp *resp, cairn_err *err)
{
  long attempt = 0, failures = 0, throttles = 0;
  int refreshed = 0, rc;
  char label[160], what[CAIRN_ERRMSG_MAX];

  for (;;) {
    struct cairn_http_req req;
    cairn_err e = {0};
    int64_t t0, delay, server = -1;
    int unsent = 0, opened = 0, throttle, empty;
    const char *why;

    rc = cairn__hs_circuit_allow(key, p, err);
    if (rc < 0)
      return rc;
    rc = pace(key, p, err);
    if (rc < 0)
      return rc;
    memset(&req, 0, sizeof req);
    rc = c->build(c->ud, &req, err);
    if (rc < 0)
      return rc;
    attempt++;
    label_of(&req, label, sizeof label);
    t0 = cairn_clock_mono_ms();
    rc = cairn_http_perform(t, &req, resp, &e);
    if (c->logged)
      c->logged(c->ud, &req, rc, &e, resp, attempt,
                (double)(cairn_clock_mono_ms() - t0) / 1000.0);
    if (rc != CAIRN_OK && rc != CAIRN_EHTTP) {
      cairn_err_set(err, e.code ? e.code : rc, e.cause, e.file, e.line, "%s",
                    e.msg);
      return rc;
    }
    why = cairn__hs_retry_reason(rc, &e, rc == CAIRN_OK ? resp->status : 0,
                                 &unsent);
    empty = !why && rc == CAIRN_OK && c->need_body && resp->body.len == 0 &&
            resp->status >= 200 && resp->status <= 299 && resp->status != 204;
    if (empty)
      why = "truncated";
    if (!why) {
      if (rc != CAIRN_OK) {
        cairn__hs_circuit_failure(key, p);
        return cairn_err_set(err, CAIRN_EHTTP, e.cause, e.file, e.line, "%s",
                             e.msg);
      }
      if (resp->status == 401 && !refreshed && c->refresh) {
        int r = c->refresh(c->ud, err);
        if (r < 0)
          return r;
        if (r == 1) {
          refreshed = 1;
          cairn_metrics_retry("auth");
          cairn_info("%s: HTTP 401: token refreshed, repeating the request",
                     label);
          continue;
        }
      }
      cairn__hs_circuit_success(key);
      set_pace(key, cairn__hs_quota_pause(resp));
      return CAIRN_OK;
    }

    /* Retryable. Describe it once for the log and any final error. */
    if (rc == CAIRN_OK)
      snprintf(what, sizeof what, "%s: HTTP %ld %s%s", label, resp->status,
               cairn_http_reason(resp->status),
               empty ? " with an empty body" : "");
    else
      snprintf(what, sizeof what, "%s", e.msg);
    throttle = rc == CAIRN_OK && resp->status == 429;
    if (rc == CAIRN_OK)
      server = cairn__hs_server_delay(resp, cairn_clock_now());
    if (strcmp(req.method, "GET") != 0 && strcmp(req.method, "HEAD") != 0 &&
        !p->retry_post && !unsent) {
      cairn_http_resp_free(resp);
      return CAIRN_RAISE(err, CAIRN_EHTTP, rc == CAIRN_OK ? 0 : e.cause,
                         "%s; not retried: a %s is repeated only when the job "
                         "says it is safe (source.retry.retry_post: true)",
                         what, req.method);
    }
    if (throttle) {
      throttles++;
    } else {
      failures++;
      opened = cairn__hs_circuit_failure(key, p);
    }
    if (opened == 2) {
      cairn_http_resp_free(resp);
      return CAIRN_RAISE(err, CAIRN_ECIRCUIT, 0, "circuit breaker of %s "
                         "open: the probe after the %.0fs cool-down failed "
                         "too (%s)", key,
                         (double)p->circuit_cooldown_ms / 1000.0, what);
    }
    if (opened == 1) {
      cairn_warn("circuit breaker of %s opened after %ld consecutive "
                 "failures (%s); probing again in %.0fs", key,
                 p->circuit_failures, what,
                 (double)p->circuit_cooldown_ms / 1000.0);
      delay = p->circuit_cooldown_ms;
      if (delay > budget_left(key, p)) {
        cairn_http_resp_free(resp);
        return CAIRN_RAISE(err, CAIRN_ECIRCUIT, 0, "circuit breaker of %s "
                           "open after %ld consecutive failures (%s), and "
                           "the cool-down exceeds what is left of the retry "
                           "budget", key, p->circuit_failures, what);
      }
    } else {
      if (!throttle && failures >= p->attempts) {
        cairn_http_resp_free(resp);
        return CAIRN_RAISE(err, CAIRN_ERETRY, 0, "gave up after %ld attempts "
                           "(source.retry.attempts): %s", attempt, what);
      }
      if (server > p->max_delay_ms) {
        cairn_http_resp_free(resp);
        return CAIRN_RAISE(err, CAIRN_ERETRY, 0, "%s: the server asks to wait "
                           "%.0fs, more than source.retry.max_delay_s "
                           "(%.0fs)", what, (double)server / 1000.0,
                           (double)p->max_delay_ms / 1000.0);
      }
      if (server >= 0) {
        /* Honour the server, never below the floor, plus a little jitter
         * so parallel workers do not come back in lock step. */
        int64_t j = p->base_ms < 1000 ? p->base_ms : 1000;
        delay = server < p->min_delay_ms ? p->min_delay_ms : server;
        if (j > 0)
          delay += (int64_t)(cairn__hs_random() % (uint64_t)j);
      } else {
        delay = cairn__hs_backoff_ms(p, throttle ? throttles : failures);
      }
    }
    if (throttle && delay < THROTTLE_FLOOR_MS)
      delay = THROTTLE_FLOOR_MS;   /* 429s are bounded by the budget only */
    if (delay > budget_left(key, p)) {
      cairn_http_resp_free(resp);
      return CAIRN_RAISE(err, CAIRN_ERETRY, 0, "retry budget of %.0fs "
                         "(source.retry.budget_s) spent; last: %s",
                         (double)p->budget_ms / 1000.0, what);
    }
    cairn_metrics_retry(why);
    cairn_logj(CAIRN_LOG_WARN,
               json_pack("{s:s,s:I,s:f}", "retry_reason", why,
                         "attempt", (json_int_t)attempt, "delay_s",
                         (double)delay / 1000.0),
               "%s; retrying in %.1fs (attempt %ld)", what,
               (double)delay / 1000.0, attempt + 1);
    cairn_http_resp_free(resp);
    spend(key, delay);
    if (cairn__hs_vsleep_ms(delay)) {
      char to[CAIRN_ERRMSG_MAX + 16];
      snprintf(to, sizeof to, "to retry %s", what);
      return stopped(to, delay, err);
    }
  }
}
