/* SPDX-License-Identifier: MIT */
/* mock.c -- `cairn mock`: a libmicrohttpd server answering from a HAR
 * recording through the same matcher as the replay transport (har.c),
 * with faults injected by request number (mock.h has the grammar).
 *
 * One thread per connection (MHD_USE_THREAD_PER_CONNECTION), so a slow
 * fault delays only its own connection. The recording, the counters and
 * the request log are shared and guarded by one mutex. Faults that must
 * misbehave below HTTP use the socket: 'reset' aborts the TCP connection
 * (an RST, not a FIN) and refuses the request; 'truncate'
 * declares the full Content-Length and ends the body halfway. */
#include "http/mock.h"
#include "http/har.h"
#include "http/http.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define MOCK_MAX_REQ_BODY ((size_t)16 << 20) /* 413 beyond this */
#define MOCK_LOG_BODY_MAX 4096               /* larger: logged as sha256 */

/* ---- faults -------------------------------------------------------------- */

enum fault_kind { F_STATUS, F_RESET, F_TRUNCATE, F_SLOW };
enum fault_sel { SEL_ALL, SEL_NTH, SEL_FROM, SEL_EVERY, SEL_RATE };

struct fault {
  char           *spec;        /* as given, for the log */
  enum fault_kind kind;
  long            status;      /* F_STATUS */
  long            retry_after; /* seconds; -1 = no header */
  int             retry_date;  /* Retry-After as an HTTP-date */
  long            slow_ms;     /* F_SLOW */
  enum fault_sel  sel;
  long            n;           /* SEL_NTH, SEL_FROM, SEL_EVERY */
  double          rate;        /* SEL_RATE */
};

static int parse_long(const char *s, size_t len, long lo, long hi, long *out)
{
  char buf[24], *end;
  long v;

  if (len == 0 || len >= sizeof buf)
    return -1;
  memcpy(buf, s, len);
  buf[len] = '\0';
  errno = 0;
  v = strtol(buf, &end, 10);
  if (errno || *end || v < lo || v > hi || buf[0] == '-' || buf[0] == '+')
    return -1;
  *out = v;
  return 0;
}

static int parse_fault(const char *spec, struct fault *f, cairn_err *err)
{
  const char *at = strchr(spec, '@');
  size_t alen = at ? (size_t)(at - spec) : strlen(spec);

  memset(f, 0, sizeof *f);
  f->retry_after = -1;
  if (alen == 5 && strncmp(spec, "reset", 5) == 0) {
    f->kind = F_RESET;
  } else if (alen == 8 && strncmp(spec, "truncate", 8) == 0) {
    f->kind = F_TRUNCATE;
  } else if (alen > 5 && strncmp(spec, "slow:", 5) == 0) {
    f->kind = F_SLOW;
    if (parse_long(spec + 5, alen - 5, 0, 600000, &f->slow_ms) < 0)
      goto bad;
  } else {
    const char *colon = memchr(spec, ':', alen);
    size_t slen = colon ? (size_t)(colon - spec) : alen;
    f->kind = F_STATUS;
    if (parse_long(spec, slen, 400, 599, &f->status) < 0)
      goto bad;
    if (colon) {
      const char *opt = colon + 1;
      size_t olen = alen - slen - 1;
      if (olen < 12 || strncmp(opt, "retry-after=", 12) != 0)
        goto bad;
      if (olen == 16 && strncmp(opt + 12, "date", 4) == 0)
        f->retry_date = 1;
      else if (parse_long(opt + 12, olen - 12, 0, 86400, &f->retry_after) < 0)
        goto bad;
    }
  }
  if (!at) {
    f->sel = SEL_ALL;
  } else {
    const char *s = at + 1;
    size_t slen = strlen(s);
    if (slen > 6 && strncmp(s, "every=", 6) == 0) {
      f->sel = SEL_EVERY;
      if (parse_long(s + 6, slen - 6, 1, 1000000000L, &f->n) < 0)
        goto bad;
    } else if (slen > 5 && strncmp(s, "rate=", 5) == 0) {
      char *end;
      f->sel = SEL_RATE;
      errno = 0;
      f->rate = strtod(s + 5, &end);
      if (errno || *end || !(f->rate >= 0.0 && f->rate <= 1.0))
        goto bad;
    } else if (slen > 1 && s[slen - 1] == '+') {
      f->sel = SEL_FROM;
      if (parse_long(s, slen - 1, 1, 1000000000L, &f->n) < 0)
        goto bad;
    } else {
      f->sel = SEL_NTH;
      if (parse_long(s, slen, 1, 1000000000L, &f->n) < 0)
        goto bad;
    }
  }
  f->spec = cairn_xstrdup(spec);
  return CAIRN_OK;

bad:
  return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                     "bad fault '%s': expected STATUS[:retry-after=SECS|date]"
                     ", reset, truncate or slow:MS, then optionally @N, @N+, "
                     "@every=K or @rate=P", spec);
}

int cairn_mock_fault_check(const char *spec, cairn_err *err)
{
  struct fault f;
  int rc;

  CAIRN_FAIL_IF(!spec, err, CAIRN_EUSAGE, 0, "fault spec is NULL");
  rc = parse_fault(spec, &f, err);
  free(f.spec);
  return rc;
}

/* splitmix64: a pure function of (seed, fault, request), so a rate fault
 * picks the same requests on every run whatever the thread timing. */
static uint64_t mix(uint64_t x)
{
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static int fault_picks(const struct fault *f, size_t fi, uint64_t seed,
                       long seq)
{
  switch (f->sel) {
  case SEL_ALL: return 1;
  case SEL_NTH: return seq == f->n;
  case SEL_FROM: return seq >= f->n;
  case SEL_EVERY: return seq % f->n == 0;
  case SEL_RATE: {
    uint64_t x = mix(mix(mix(seed) ^ (uint64_t)fi) ^ (uint64_t)seq);
    return (double)(x >> 11) * 0x1.0p-53 < f->rate;
  }
  }
  return 0;
}

/* ---- the server ---------------------------------------------------------- */

struct cairn_mock {
  struct MHD_Daemon *daemon;
  struct cairn__har *har;      /* guarded by mu */
  struct fault      *faults;
  size_t             n_faults;
  uint64_t           seed;
  FILE              *log;
  int                own_log;
  pthread_mutex_t    mu;
  pthread_cond_t     cv;       /* signalled when a request completes */
  long               n_started;   /* requests seen (URI parsed) */
  long               n_requests;  /* requests handled (numbered) */
  long               n_completed; /* requests finished, any outcome */
  int64_t            last_ms;     /* monotonic time of last activity */
  long               max_requests;
  long               idle_exit_ms;
  atomic_int         stopping;
  int                port;
  char               host[INET_ADDRSTRLEN];
  char               url[64];
};

/* Per-request state, created by the URI callback, freed on completion. */
struct mreq {
  char            *uri;        /* raw request target, "/path?query" */
  struct cairn_buf body;
  int              started;
  int              too_big;
};

struct header_list {
  struct cairn_http_header *h;
  size_t n;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind,
                                      const char *key, const char *value)
{
  struct header_list *l = cls;

  (void)kind;
  l->h = cairn_xrealloc(l->h, (l->n + 1) * sizeof *l->h);
  l->h[l->n].name = cairn_xstrdup(key);
  l->h[l->n].value = cairn_xstrdup(value ? value : "");
  l->n++;
  return MHD_YES;
}

static void free_headers(struct header_list *l)
{
  for (size_t i = 0; i < l->n; i++) {
    free(l->h[i].name);
    free(l->h[i].value);
  }
  free(l->h);
}

/* Replace every recorded origin in s with the mock's own, also in the
 * JSON-escaped form ("https:\/\/host"). An occurrence counts only when
 * it ends the authority (https://h does not match https://h.evil or
 * https://h:8443). New buffer in *out. */
static int origin_boundary(char c)
{
  return !(c == '.' || c == '-' || c == ':' || c == '_' ||
           (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z'));
}

static void rewrite_origins(const struct cairn_mock *m, const char *s,
                            size_t len, struct cairn_buf *out)
{
  size_t i = 0, copied = 0;
  char esc_self[80];

  /* The escaped form of our own origin, for the escaped matches. */
  {
    size_t k = 0;
    for (const char *p = m->url; *p && k + 2 < sizeof esc_self; p++) {
      if (*p == '/')
        esc_self[k++] = '\\';
      esc_self[k++] = *p;
    }
    esc_self[k] = '\0';
  }
  while (i < len) {
    size_t hit = 0;
    int escaped = 0;
    if (s[i] == 'h' || s[i] == 'H') {
      for (size_t o = 0; o < m->har->n_origins && !hit; o++) {
        const char *org = m->har->origins[o];
        size_t k = 0, j = i;
        /* Compare, letting "\/" in s stand for "/" in org. */
        int esc = 0;
        while (org[k] && j < len) {
          if (org[k] == '/' && s[j] == '\\' && j + 1 < len &&
              s[j + 1] == '/') {
            esc = 1;
            j += 2;
            k++;
          } else if (s[j] == org[k]) {
            j++;
            k++;
          } else {
            break;
          }
        }
        if (!org[k] && (j == len || origin_boundary(s[j]))) {
          hit = j - i;
          escaped = esc;
        }
      }
    }
    if (hit) {
      cairn_buf_append(out, s + copied, i - copied);
      cairn_buf_puts(out, escaped ? esc_self : m->url);
      i += hit;
      copied = i;
    } else {
      i++;
    }
  }
  cairn_buf_append(out, s + copied, len - copied);
  if (!out->data)
    cairn_buf_puts(out, "");
}

static int is_hop_header(const char *name)
{
  static const char *const hop[] = { "Content-Length", "Transfer-Encoding",
                                     "Connection", "Content-Encoding",
                                     "Keep-Alive", NULL };
  for (const char *const *p = hop; *p; p++)
    if (strcasecmp(name, *p) == 0)
      return 1;
  return 0;
}

static int is_link_header(const char *name)
{
  return strcasecmp(name, "Link") == 0 || strcasecmp(name, "Location") == 0 ||
         strcasecmp(name, "Content-Location") == 0;
}

/* A truncated body: the first 'sent' bytes of data, then an error that
 * makes libmicrohttpd close the connection mid-body. */
struct trunc_body {
  char  *data;
  size_t sent;
};

static ssize_t trunc_read(void *cls, uint64_t pos, char *buf, size_t max)
{
  struct trunc_body *t = cls;
  size_t n;

  if (pos >= t->sent)
    return MHD_CONTENT_READER_END_WITH_ERROR;
  n = t->sent - (size_t)pos;
  if (n > max)
    n = max;
  memcpy(buf, t->data + pos, n);
  return (ssize_t)n;
}

static void trunc_free(void *cls)
{
  struct trunc_body *t = cls;

  free(t->data);
  free(t);
}

static struct MHD_Response *make_response(struct cairn_buf *body,
                                          int truncate)
{
  struct MHD_Response *r;

  if (truncate) {
    struct trunc_body *t = cairn_xcalloc(1, sizeof *t);
    size_t declared = body->len;
    /* Send half; an empty body still promises bytes it never sends. */
    t->sent = body->len / 2;
    if (declared < 2)
      declared = body->len + 64;
    t->data = cairn_buf_take(body);
    r = MHD_create_response_from_callback(declared, 4096, trunc_read, t,
                                          trunc_free);
    if (!r)
      trunc_free(t);
    return r;
  }
  r = MHD_create_response_from_buffer(body->len, body->data,
                                      MHD_RESPMEM_MUST_COPY);
  return r;
}

static void log_request(struct cairn_mock *m, long seq, const char *method,
                        const struct mreq *q, const struct header_list *hl,
                        long entry, int repeat, long status,
                        const struct fault *f)
{
  json_t *o = json_object(), *hdrs = json_object();
  char *line, *url, *safe = NULL;
  size_t safe_len = 0;
  const char *body = q->body.data ? q->body.data : "";
  size_t body_len = q->body.len;
  const char *ctype = cairn__header_find(hl->h, hl->n, "Content-Type");

  for (size_t i = 0; i < hl->n; i++)
    json_object_set_new(hdrs, hl->h[i].name,
                        json_string(cairn__redact_header(hl->h[i].name, NULL)
                                        ? CAIRN_HTTP_REDACTED
                                        : hl->h[i].value));
  cairn__redact_body(body, body_len, ctype, NULL, &safe, &safe_len);
  if (safe) {
    body = safe;
    body_len = safe_len;
  }
  json_object_set_new(o, "seq", json_integer(seq));
  json_object_set_new(o, "method", json_string(method));
  url = cairn_http_url_safe(q->uri, NULL); /* credentials in the query */
  json_object_set_new(o, "url", json_string(url));
  free(url);
  json_object_set_new(o, "headers", hdrs);
  if (body_len <= MOCK_LOG_BODY_MAX && cairn_utf8_valid(body, body_len)) {
    json_object_set_new(o, "body", json_stringn(body, body_len));
  } else {
    char hex[CAIRN_SHA256_HEX];
    cairn_sha256_hex(body, body_len, hex);
    json_object_set_new(o, "body_sha256", json_string(hex));
    json_object_set_new(o, "body_len", json_integer((json_int_t)body_len));
  }
  json_object_set_new(o, "entry", entry >= 0 ? json_integer(entry)
                                              : json_string("unmatched"));
  json_object_set_new(o, "repeat", json_boolean(repeat));
  json_object_set_new(o, "status", status > 0 ? json_integer(status)
                                               : json_null());
  json_object_set_new(o, "fault", f ? json_string(f->spec) : json_null());
  line = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  free(safe);
  if (line) {
    cairn_log_mask(line);
    pthread_mutex_lock(&m->mu);
    fputs(line, m->log);
    fputc('\n', m->log);
    fflush(m->log);
    pthread_mutex_unlock(&m->mu);
    free(line);
  }
}

static void error_body(struct cairn_buf *b, const char *code,
                       const char *message)
{
  json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
                        message);
  char *text = json_dumps(o, JSON_COMPACT);

  cairn_buf_puts(b, text ? text : "{}");
  free(text);
  json_decref(o);
}

static void sleep_unless_stopping(struct cairn_mock *m, long ms)
{
  int64_t end = cairn_clock_mono_ms() + ms;

  while (!atomic_load(&m->stopping)) {
    int64_t left = end - cairn_clock_mono_ms();
    if (left <= 0)
      break;
    cairn_clock_sleep_ms(left < 10 ? left : 10);
  }
}

/* Answer one fully received request. */
static enum MHD_Result serve(struct cairn_mock *m, struct MHD_Connection *con,
                             const char *method, struct mreq *q)
{
  struct header_list hl = { NULL, 0 };
  struct cairn_http_req req;
  struct cairn_buf body = { 0 };
  const struct fault *f = NULL;
  struct MHD_Response *r = NULL;
  cairn_err merr = { 0 };
  size_t idx = 0;
  int repeat = 0, matched, take;
  long seq, status = 0;
  enum MHD_Result ret = MHD_NO;

  MHD_get_connection_values(con, MHD_HEADER_KIND, collect_header, &hl);
  pthread_mutex_lock(&m->mu);
  seq = ++m->n_requests;
  m->last_ms = cairn_clock_mono_ms();
  pthread_mutex_unlock(&m->mu);
  for (size_t i = 0; i < m->n_faults && !f; i++)
    if (fault_picks(&m->faults[i], i, m->seed, seq))
      f = &m->faults[i];

  if (f && f->kind == F_RESET) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct linger lg = { 1, 0 };
    struct sockaddr unspec;
    if (ci) {
      /* Abort the connection with an RST now: on Linux, connect() to
       * AF_UNSPEC disconnects a TCP socket (tcp_disconnect sends a reset
       * for an established one) and leaves the fd valid for
       * libmicrohttpd to close. SO_LINGER {1, 0} makes that close abort
       * too, should the disconnect be refused. */
      setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      memset(&unspec, 0, sizeof unspec);
      unspec.sa_family = AF_UNSPEC;
      (void)connect(ci->connect_fd, &unspec, sizeof unspec);
    }
    log_request(m, seq, method, q, &hl, -1, 0, 0, f);
    goto done; /* MHD_NO: no answer, the connection is dropped */
  }

  memset(&req, 0, sizeof req);
  req.method = method;
  req.url = q->uri;
  req.headers = hl.h;
  req.n_headers = hl.n;
  req.body = q->body.data;
  req.body_len = q->body.len;
  /* Faulted requests leave the entry for the retry; slow is a real
   * answer, just late. */
  take = !f || f->kind == F_SLOW;
  pthread_mutex_lock(&m->mu);
  matched = cairn__har_match(m->har, &req, take, &idx, &repeat, &merr) == 0;
  pthread_mutex_unlock(&m->mu);

  if (q->too_big) {
    status = 413;
    error_body(&body, "CairnMockTooLarge", "request body too large");
  } else if (f && f->kind == F_STATUS) {
    char msg[96];
    status = f->status;
    snprintf(msg, sizeof msg, "fault %s injected by cairn mock", f->spec);
    error_body(&body, "CairnMockFault", msg);
  } else if (matched) {
    const struct cairn__har_entry *e = &m->har->entries[idx];
    status = e->status;
    rewrite_origins(m, e->resp_body, e->resp_body_len, &body);
  } else {
    status = 404;
    error_body(&body, "CairnMockUnmatched", merr.msg);
  }

  if (f && f->kind == F_SLOW)
    sleep_unless_stopping(m, f->slow_ms);

  r = make_response(&body, f && f->kind == F_TRUNCATE);
  if (!r)
    goto done;
  if (matched && !q->too_big && !(f && f->kind == F_STATUS)) {
    const struct cairn__har_entry *e = &m->har->entries[idx];
    for (size_t i = 0; i < e->n_resp_headers; i++) {
      const struct cairn_http_header *h = &e->resp_headers[i];
      if (is_hop_header(h->name))
        continue;
      if (is_link_header(h->name)) {
        struct cairn_buf v = { 0 };
        rewrite_origins(m, h->value, strlen(h->value), &v);
        MHD_add_response_header(r, h->name, v.data);
        cairn_buf_free(&v);
      } else {
        MHD_add_response_header(r, h->name, h->value);
      }
    }
  } else {
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (f && f->kind == F_STATUS && f->retry_date) {
      char date[40];
      cairn__http_date_fmt(cairn_clock_now() + 2, date, sizeof date);
      MHD_add_response_header(r, "Retry-After", date);
    } else if (f && f->kind == F_STATUS && f->retry_after >= 0) {
      char secs[24];
      snprintf(secs, sizeof secs, "%ld", f->retry_after);
      MHD_add_response_header(r, "Retry-After", secs);
    }
  }
  log_request(m, seq, method, q, &hl, matched ? (long)idx : -1, repeat,
              status, f);
  ret = MHD_queue_response(con, (unsigned int)status, r);

done:
  if (r)
    MHD_destroy_response(r);
  cairn_buf_free(&body);
  free_headers(&hl);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con,
                                  const char *url, const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
  struct cairn_mock *m = cls;
  struct mreq *q = *con_cls;

  (void)url;
  (void)version;
  if (!q)
    return MHD_NO; /* the URI callback always sets it */
  if (!q->started) {
    q->started = 1;
    return MHD_YES;
  }
  if (*upload_data_size) {
    if (q->body.len + *upload_data_size > MOCK_MAX_REQ_BODY)
      q->too_big = 1;
    else
      cairn_buf_append(&q->body, upload_data, *upload_data_size);
    *upload_data_size = 0;
    return MHD_YES;
  }
  return serve(m, con, method, q);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con)
{
  struct cairn_mock *m = cls;
  struct mreq *q = cairn_xcalloc(1, sizeof *q);

  (void)con;
  q->uri = cairn_xstrdup(uri);
  pthread_mutex_lock(&m->mu);
  m->n_started++;
  m->last_ms = cairn_clock_mono_ms();
  pthread_mutex_unlock(&m->mu);
  return q;
}

static void on_completed(void *cls, struct MHD_Connection *con,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
  struct cairn_mock *m = cls;
  struct mreq *q = *con_cls;

  (void)con;
  (void)toe;
  if (!q)
    return;
  free(q->uri);
  cairn_buf_free(&q->body);
  free(q);
  *con_cls = NULL;
  pthread_mutex_lock(&m->mu);
  m->n_completed++;
  m->last_ms = cairn_clock_mono_ms();
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->mu);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
  char buf[256];
  size_t n;

  (void)cls;
  vsnprintf(buf, sizeof buf, fmt, ap);
  n = strlen(buf);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = '\0';
  cairn_debug("mock: libmicrohttpd: %s", buf);
}

/* ---- lifecycle ----------------------------------------------------------- */

static int parse_listen(const char *listen, struct sockaddr_in *sa,
                        char *host, size_t host_n, cairn_err *err)
{
  const char *colon = strrchr(listen, ':');
  char h[64];
  long port;

  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  CAIRN_FAIL_IF(!colon || (size_t)(colon - listen) >= sizeof h, err,
                CAIRN_EUSAGE, 0, "bad listen address '%s': want IPv4:PORT",
                listen);
  memcpy(h, listen, (size_t)(colon - listen));
  h[colon - listen] = '\0';
  if (!*h || strcmp(h, "localhost") == 0)
    strcpy(h, "127.0.0.1");
  CAIRN_FAIL_IF(parse_long(colon + 1, strlen(colon + 1), 0, 65535, &port) < 0,
                err, CAIRN_EUSAGE, 0, "bad port in listen address '%s'",
                listen);
  CAIRN_FAIL_IF(inet_pton(AF_INET, h, &sa->sin_addr) != 1, err, CAIRN_EUSAGE,
                0, "bad listen address '%s': host must be an IPv4 address",
                listen);
  sa->sin_port = htons((uint16_t)port);
  /* Links point back at an address clients can reach. */
  snprintf(host, host_n, "%.15s",
           strcmp(h, "0.0.0.0") == 0 ? "127.0.0.1" : h);
  return CAIRN_OK;
}

static void mock_free(struct cairn_mock *m)
{
  if (!m)
    return;
  cairn__har_free(m->har);
  for (size_t i = 0; i < m->n_faults; i++)
    free(m->faults[i].spec);
  free(m->faults);
  if (m->own_log && m->log)
    fclose(m->log);
  pthread_cond_destroy(&m->cv);
  pthread_mutex_destroy(&m->mu);
  free(m);
}

int cairn_mock_start(const struct cairn_mock_opts *o, cairn_mock **out,
                     cairn_err *err)
{
  struct cairn_mock *m = NULL;
  struct sockaddr_in sa;
  pthread_condattr_t ca;
  const union MHD_DaemonInfo *di;
  int rc;

  CAIRN_FAIL_IF(!out, err, CAIRN_EUSAGE, 0, "mock: out is NULL");
  *out = NULL;
  CAIRN_FAIL_IF(!o || !o->har_path, err, CAIRN_EUSAGE, 0,
                "mock: no recording given");
  m = cairn_xcalloc(1, sizeof *m);
  pthread_mutex_init(&m->mu, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&m->cv, &ca);
  pthread_condattr_destroy(&ca);
  atomic_init(&m->stopping, 0);
  m->seed = o->seed;
  m->max_requests = o->max_requests;
  m->idle_exit_ms = o->idle_exit_ms;
  m->last_ms = cairn_clock_mono_ms();

  rc = parse_listen(o->listen ? o->listen : "127.0.0.1:0", &sa, m->host,
                    sizeof m->host, err);
  if (rc < 0)
    goto done;
  for (const char *const *s = o->faults; s && *s; s++) {
    m->faults = cairn_xrealloc(m->faults,
                               (m->n_faults + 1) * sizeof *m->faults);
    rc = parse_fault(*s, &m->faults[m->n_faults], err);
    if (rc < 0)
      goto done;
    m->n_faults++;
  }
  rc = cairn__har_load(o->har_path, &m->har, err);
  if (rc < 0)
    goto done;
  if (o->log_path) {
    m->log = fopen(o->log_path, "a");
    if (!m->log) {
      rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "mock: open log %s: %s",
                       o->log_path, strerror(errno));
      goto done;
    }
    m->own_log = 1;
  } else {
    m->log = o->log_fp ? o->log_fp : stderr;
  }

  m->daemon = MHD_start_daemon(
      MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
          MHD_USE_SUPPRESS_DATE_NO_CLOCK | MHD_USE_ERROR_LOG,
      0, NULL, NULL, on_request, m,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
      MHD_OPTION_URI_LOG_CALLBACK, on_uri, m,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, m,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
      MHD_OPTION_END);
  if (!m->daemon) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "mock: cannot listen on %s: %s",
                     o->listen ? o->listen : "127.0.0.1:0",
                     errno ? strerror(errno) : "libmicrohttpd refused");
    goto done;
  }
  di = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
  m->port = di ? di->port : ntohs(sa.sin_port);
  snprintf(m->url, sizeof m->url, "http://%s:%d", m->host, m->port);
  cairn_debug("mock: serving %s (%zu entries) on %s", o->har_path,
              m->har->n_entries, m->url);
  *out = m;
  m = NULL;
  rc = CAIRN_OK;

done:
  mock_free(m);
  return rc;
}

int cairn_mock_port(const cairn_mock *m)
{
  return m ? m->port : 0;
}

const char *cairn_mock_url(const cairn_mock *m)
{
  return m ? m->url : "";
}

long cairn_mock_request_count(cairn_mock *m)
{
  long n;

  pthread_mutex_lock(&m->mu);
  n = m->n_requests;
  pthread_mutex_unlock(&m->mu);
  return n;
}

/* Caller holds mu. */
static int finished_locked(const struct cairn_mock *m, int64_t now)
{
  if (m->max_requests > 0 && m->n_completed >= m->max_requests)
    return 1;
  return m->idle_exit_ms > 0 && m->n_started == m->n_completed &&
         now - m->last_ms >= m->idle_exit_ms;
}

int cairn_mock_wait(cairn_mock *m, long timeout_ms)
{
  int64_t deadline = cairn_clock_mono_ms() + timeout_ms;
  int done;

  pthread_mutex_lock(&m->mu);
  for (;;) {
    int64_t now = cairn_clock_mono_ms(), wake = deadline;
    struct timespec ts;
    done = finished_locked(m, now);
    if (done || now >= deadline)
      break;
    if (m->idle_exit_ms > 0 && m->last_ms + m->idle_exit_ms < wake)
      wake = m->last_ms + m->idle_exit_ms;
    if (wake <= now)
      wake = now + 10; /* idle but a request is in flight: poll */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (wake - now) / 1000;
    ts.tv_nsec += (long)((wake - now) % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&m->cv, &m->mu, &ts);
  }
  pthread_mutex_unlock(&m->mu);
  return done;
}

void cairn_mock_stop(cairn_mock *m)
{
  if (!m)
    return;
  atomic_store(&m->stopping, 1);
  if (m->daemon)
    MHD_stop_daemon(m->daemon);
  m->daemon = NULL;
  mock_free(m);
}
