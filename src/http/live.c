/* SPDX-License-Identifier: MIT */
/* live.c -- the live transport: one libcurl easy handle per transport,
 * reset before every exchange (connections and TLS sessions are kept).
 *
 * Any HTTP response, whatever its status, is CAIRN_OK; everything else is
 * CAIRN_EHTTP with the CURLcode as cause and a message that says what
 * kind of failure it was, because the caller's retry policy depends on it
 * (a reset is worth retrying, a TLS failure is not). */
#include "http/http.h"
#include "http/har.h"
#include "core/clock.h"
#include "core/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct live {
  cairn_http_transport base;   /* first: lets the vtable cast back */
  CURL *curl;
  char *ca_file;
  char *client_cert;
  char *client_key;
  char *user_agent;
  int   insecure;
  char  errbuf[CURL_ERROR_SIZE];
};

/* State of one exchange, seen by the curl callbacks. */
struct xfer {
  struct cairn_http_resp *resp;
  size_t max_body;
  int    too_big;             /* body hit max_body */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
  global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- callbacks ----------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
  struct xfer *x = ud;

  if (cairn_buf_append(&x->resp->body, p, size * n) != 0) {
    x->too_big = 1;
    return 0; /* CURLE_WRITE_ERROR */
  }
  return size * n;
}

static void clear_headers(struct cairn_http_resp *r)
{
  for (size_t i = 0; i < r->n_headers; i++) {
    free(r->headers[i].name);
    free(r->headers[i].value);
  }
  free(r->headers);
  r->headers = NULL;
  r->n_headers = 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
  struct xfer *x = ud;
  struct cairn_http_resp *r = x->resp;
  size_t len = size * n, end = len;
  const char *colon;

  while (end > 0 && (p[end - 1] == '\r' || p[end - 1] == '\n'))
    end--;
  if (end == 0)
    return len;
  /* A status line starts a new header block (1xx interim responses). */
  if (end >= 5 && strncmp(p, "HTTP/", 5) == 0) {
    clear_headers(r);
    return len;
  }
  /* obs-fold continuation: append to the previous value. */
  if ((p[0] == ' ' || p[0] == '\t') && r->n_headers > 0) {
    struct cairn_http_header *h = &r->headers[r->n_headers - 1];
    size_t s = 0;
    char *v;
    while (s < end && (p[s] == ' ' || p[s] == '\t'))
      s++;
    v = cairn_strfmt("%s %.*s", h->value, (int)(end - s), p + s);
    free(h->value);
    h->value = v;
    return len;
  }
  colon = memchr(p, ':', end);
  if (!colon)
    return len;
  {
    size_t nlen = (size_t)(colon - p), vs = nlen + 1, ve = end;
    struct cairn_http_header *h;
    while (vs < ve && (p[vs] == ' ' || p[vs] == '\t'))
      vs++;
    while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
      ve--;
    r->headers = cairn_xrealloc(r->headers,
                                (r->n_headers + 1) * sizeof *r->headers);
    h = &r->headers[r->n_headers++];
    h->name = cairn_xstrndup(p, nlen);
    h->value = cairn_xstrndup(p + vs, ve - vs);
  }
  return len;
}

/* A stop (SIGTERM, SIGINT: cairn_stop_note) ends the transfer: libcurl
 * calls this at least once a second, a stalled one included. */
static int on_progress(void *ud, curl_off_t dl_total, curl_off_t dl_now,
                       curl_off_t ul_total, curl_off_t ul_now)
{
  (void)ud;
  (void)dl_total;
  (void)dl_now;
  (void)ul_total;
  (void)ul_now;
  return cairn_stop_signal() != 0;
}

/* ---- failures ------------------------------------------------------------ */

static int raise_curl(struct live *l, const struct cairn_http_req *req,
                      CURLcode cc, const struct xfer *x, cairn_err *err)
{
  char label[160], kind[128], msg[CAIRN_ERRMSG_MAX];
  const char *detail = l->errbuf[0] ? l->errbuf : curl_easy_strerror(cc);
  curl_off_t got = 0, want = -1;
  long os_errno = 0;

  cairn__req_label(req->method, req->url, 0, label, sizeof label);
  if (cc == CURLE_ABORTED_BY_CALLBACK && cairn_stop_signal())
    return CAIRN_RAISE(err, CAIRN_ESTOPPED, (long)cc, "stopped by %s during "
                       "%s (the rerun makes the request again)",
                       cairn_stop_name(), label);
  curl_easy_getinfo(l->curl, CURLINFO_SIZE_DOWNLOAD_T, &got);
  curl_easy_getinfo(l->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &want);
  curl_easy_getinfo(l->curl, CURLINFO_OS_ERRNO, &os_errno);
  switch (cc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    snprintf(kind, sizeof kind, "cannot resolve host");
    break;
  case CURLE_COULDNT_CONNECT:
    snprintf(kind, sizeof kind, "%s",
             os_errno == ECONNREFUSED || strstr(detail, "refused")
                 ? "connection refused"
             : os_errno == EHOSTUNREACH || os_errno == ENETUNREACH
                 ? "host unreachable"
             : os_errno == ETIMEDOUT ? "timeout while connecting"
                                     : "cannot connect");
    break;
  case CURLE_OPERATION_TIMEDOUT:
    if (strstr(detail, "too slow"))
      snprintf(kind, sizeof kind, "timeout: slower than %ld bytes/s for %ld s",
               req->low_speed_bytes, req->low_speed_secs);
    else if (strstr(detail, "onnect"))
      snprintf(kind, sizeof kind, "timeout while connecting");
    else
      snprintf(kind, sizeof kind, "timeout");
    break;
  case CURLE_PARTIAL_FILE:
    if (want >= 0)
      snprintf(kind, sizeof kind, "truncated body: got %" CURL_FORMAT_CURL_OFF_T
               " of %" CURL_FORMAT_CURL_OFF_T " bytes", got, want);
    else
      snprintf(kind, sizeof kind, "truncated body: got %" CURL_FORMAT_CURL_OFF_T
               " bytes before the connection closed", got);
    break;
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
    if (want >= 0 && got < want)
      snprintf(kind, sizeof kind, "truncated body: got %" CURL_FORMAT_CURL_OFF_T
               " of %" CURL_FORMAT_CURL_OFF_T " bytes (connection reset)",
               got, want);
    else if (os_errno == ECONNRESET || os_errno == EPIPE ||
             strstr(detail, "reset") || strstr(detail, "Broken pipe"))
      snprintf(kind, sizeof kind, "connection reset");
    else
      snprintf(kind, sizeof kind, "%s failed",
               cc == CURLE_RECV_ERROR ? "receive" : "send");
    break;
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    /* HTTP/2 over TLS (ALPN) is libcurl's default: a front end under load
     * resets a stream (RST_STREAM INTERNAL_ERROR) or the connection's
     * framing fails -- a reset of that exchange, as on HTTP/1.1. */
    snprintf(kind, sizeof kind, "connection reset (HTTP/2 stream error)");
    break;
  case CURLE_GOT_NOTHING:
    snprintf(kind, sizeof kind, "connection closed without a response");
    break;
  case CURLE_WRITE_ERROR:
  case CURLE_FILESIZE_EXCEEDED:
    if (x->too_big || cc == CURLE_FILESIZE_EXCEEDED)
      snprintf(kind, sizeof kind, "response body exceeds %zu bytes",
               x->max_body);
    else
      snprintf(kind, sizeof kind, "write failed");
    break;
  case CURLE_UNSUPPORTED_PROTOCOL:
    snprintf(kind, sizeof kind, "unsupported protocol (only http, https)");
    break;
  case CURLE_URL_MALFORMAT:
    snprintf(kind, sizeof kind, "malformed URL");
    break;
  case CURLE_SSL_CONNECT_ERROR:
    /* The connection reset or closed under the handshake (a load
     * balancer dropping a fresh connection) is the network's failure,
     * not TLS's: nothing was sent, and retrying is right. */
    if (os_errno == ECONNRESET || os_errno == EPIPE ||
        strstr(detail, "reset by peer") || strstr(detail, "SSL_ERROR_SYSCALL") ||
        strstr(detail, "unexpected eof")) {
      snprintf(kind, sizeof kind, "connection reset during the TLS handshake");
      break;
    }
    /* fall through */
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_CRL_BADFILE:
    snprintf(kind, sizeof kind, "TLS failure");
    break;
  default:
    snprintf(kind, sizeof kind, "%s", curl_easy_strerror(cc));
    break;
  }
  snprintf(msg, sizeof msg, "%s: %s (curl %d: %.200s)", label, kind, (int)cc,
           detail);
  cairn_log_mask(msg);
  /* A URL that cannot be sent is the job's (or its parameter's) fault:
   * no retry, and exit 2, since running again cannot help. */
  return CAIRN_RAISE(err, cc == CURLE_URL_MALFORMAT ||
                              cc == CURLE_UNSUPPORTED_PROTOCOL
                          ? CAIRN_EUSAGE : CAIRN_EHTTP,
                     (long)cc, "%s", msg);
}

/* ---- perform ------------------------------------------------------------- */

static struct curl_slist *build_headers(const struct cairn_http_req *req)
{
  struct curl_slist *list = NULL, *next;
  int typed = 0;

  for (size_t i = 0; i < req->n_headers; i++) {
    const struct cairn_http_header *h = &req->headers[i];
    char *line;
    if (!h->name || !*h->name)
      continue;
    typed |= strcasecmp(h->name, "Content-Type") == 0;
    /* "Name;" is curl's way to send a header with an empty value. */
    line = h->value && *h->value ? cairn_strfmt("%s: %s", h->name, h->value)
                                 : cairn_strfmt("%s;", h->name);
    next = curl_slist_append(list, line);
    free(line);
    if (!next)
      abort(); /* OOM policy: see core/mem.h */
    list = next;
  }
  /* No "Expect: 100-continue" round trip for request bodies. */
  next = curl_slist_append(list, "Expect:");
  if (!next)
    abort();
  /* An empty POST (Policy states' queryResults) goes without the
   * application/x-www-form-urlencoded libcurl would label it with: ARM
   * refuses media types other than JSON (415), and there is nothing to
   * label. */
  if (!typed && req->body_len == 0 && strcmp(req->method, "GET") != 0 &&
      strcmp(req->method, "HEAD") != 0) {
    list = next;
    next = curl_slist_append(list, "Content-Type:");
    if (!next)
      abort();
  }
  return next;
}

static int live_perform(cairn_http_transport *t,
                        const struct cairn_http_req *req,
                        struct cairn_http_resp *resp, cairn_err *err)
{
  struct live *l = (struct live *)t;
  CURL *c = l->curl;
  struct curl_slist *hdrs = build_headers(req);
  struct xfer x;
  CURLcode cc;
  long status = 0;
  double total = 0;
  int rc = CAIRN_OK;

  x.resp = resp;
  x.max_body = req->max_body ? req->max_body : CAIRN_HTTP_MAX_BODY;
  x.too_big = 0;
  resp->body.cap_max = x.max_body;
  l->errbuf[0] = '\0';

  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, l->errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_URL, req->url);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, l->user_agent);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  if (req->raw_body) /* offsets are into the stored bytes */
    curl_easy_setopt(c, CURLOPT_HTTP_CONTENT_DECODING, 0L);
  else
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   req->connect_timeout_ms > 0 ? req->connect_timeout_ms
                                               : CAIRN_HTTP_CONNECT_TIMEOUT_MS);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                   req->timeout_ms > 0 ? req->timeout_ms
                                       : CAIRN_HTTP_TIMEOUT_MS);
  if (req->low_speed_bytes > 0 && req->low_speed_secs > 0) {
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, req->low_speed_bytes);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, req->low_speed_secs);
  }
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x.max_body);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  if (l->ca_file)
    curl_easy_setopt(c, CURLOPT_CAINFO, l->ca_file);
  if (l->client_cert)
    curl_easy_setopt(c, CURLOPT_SSLCERT, l->client_cert);
  if (l->client_key)
    curl_easy_setopt(c, CURLOPT_SSLKEY, l->client_key);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, l->insecure ? 0L : 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, l->insecure ? 0L : 2L);

  if (strcmp(req->method, "HEAD") == 0) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (req->body_len == 0 && strcmp(req->method, "POST") != 0 &&
             strcmp(req->method, "PUT") != 0 &&
             strcmp(req->method, "PATCH") != 0) {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    if (strcmp(req->method, "GET") != 0)
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
  } else {
    /* A body (possibly empty for POST/PUT/PATCH), sent as given. */
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)req->body_len);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
    if (strcmp(req->method, "POST") != 0)
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
  }

  cc = curl_easy_perform(c);
  if (cc != CURLE_OK) {
    rc = raise_curl(l, req, cc, &x, err);
    goto done;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &total);
  resp->status = status;
  resp->elapsed_s = total;
  resp->body.cap_max = 0;
  if (!resp->body.data)
    cairn_buf_puts(&resp->body, "");

done:
  curl_slist_free_all(hdrs);
  /* Never leave the callbacks pointing at this stack frame. */
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, NULL);
  return rc;
}

static void live_destroy(cairn_http_transport *t)
{
  struct live *l = (struct live *)t;

  curl_easy_cleanup(l->curl);
  free(l->ca_file);
  free(l->client_cert);
  free(l->client_key);
  free(l->user_agent);
  free(l);
}

int cairn_http_live_open(const struct cairn_http_live_opts *o,
                         cairn_http_transport **out, cairn_err *err)
{
  static const struct cairn_http_live_opts defaults;
  struct live *l;
  CURL *c;

  CAIRN_FAIL_IF(!out, err, CAIRN_EUSAGE, 0, "live: out is NULL");
  *out = NULL;
  if (!o)
    o = &defaults;
  pthread_once(&global_once, global_init);
  CAIRN_FAIL_IF(global_rc != CURLE_OK, err, CAIRN_EHTTP, (long)global_rc,
                "live: curl_global_init: %s", curl_easy_strerror(global_rc));
  c = curl_easy_init();
  CAIRN_FAIL_IF(!c, err, CAIRN_EHTTP, 0, "live: curl_easy_init failed");
  l = cairn_xcalloc(1, sizeof *l);
  l->base.name = "live";
  l->base.perform = live_perform;
  l->base.destroy = live_destroy;
  l->curl = c;
  l->ca_file = cairn_xstrdup(o->ca_file);
  l->client_cert = cairn_xstrdup(o->client_cert);
  l->client_key = cairn_xstrdup(o->client_key);
  l->user_agent = cairn_xstrdup(o->user_agent ? o->user_agent
                                              : CAIRN_HTTP_USER_AGENT);
  l->insecure = o->insecure;
  if (l->insecure)
    cairn_log(CAIRN_LOG_WARN | CAIRN_LOG_ALWAYS, "http: TLS certificate and "
              "host verification is DISABLED (source.tls.insecure); "
              "traffic can be intercepted");
  *out = &l->base;
  return CAIRN_OK;
}
