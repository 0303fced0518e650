/* SPDX-License-Identifier: MIT */
/* http.c -- the transport-independent half of http.h: response helpers,
 * the perform/destroy wrappers every caller goes through, and the small
 * codecs (base64, percent-decoding, HTTP dates) the HAR code shares. */
#include "http/http.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "http/har.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- responses ----------------------------------------------------------- */

void cairn_http_resp_free(struct cairn_http_resp *r)
{
  if (!r)
    return;
  for (size_t i = 0; i < r->n_headers; i++) {
    free(r->headers[i].name);
    free(r->headers[i].value);
  }
  free(r->headers);
  cairn_buf_free(&r->body);
  memset(r, 0, sizeof *r);
}

const char *cairn__header_find(const struct cairn_http_header *h, size_t n,
                               const char *name)
{
  const char *found = NULL;
  if (!h || !name)
    return NULL;
  for (size_t i = 0; i < n; i++)
    if (h[i].name && strcasecmp(h[i].name, name) == 0)
      found = h[i].value;
  return found;
}

int cairn_http_too_big(const cairn_err *err)
{
  return err && err->code == CAIRN_EHTTP &&
         strstr(err->msg, "response body exceeds") != NULL;
}

const char *cairn_http_resp_header(const struct cairn_http_resp *r,
                                   const char *name)
{
  return r ? cairn__header_find(r->headers, r->n_headers, name) : NULL;
}

const char *cairn_http_reason(long status)
{
  switch (status) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 203: return "Non-Authoritative Information";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 412: return "Precondition Failed";
  case 413: return "Content Too Large";
  case 415: return "Unsupported Media Type";
  case 422: return "Unprocessable Content";
  case 429: return "Too Many Requests";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  }
  return "";
}

/* ---- the seam ------------------------------------------------------------ */

int cairn_http_perform(cairn_http_transport *t,
                       const struct cairn_http_req *req,
                       struct cairn_http_resp *resp, cairn_err *err)
{
  int64_t t0;
  int rc;

  CAIRN_FAIL_IF(!t || !t->perform || !req || !resp, err, CAIRN_EUSAGE, 0,
                "http: perform needs a transport, a request and a response");
  cairn_http_resp_free(resp);
  CAIRN_FAIL_IF(!req->method || !*req->method || !req->url || !*req->url,
                err, CAIRN_EUSAGE, 0, "http: request without method or URL");
  CAIRN_FAIL_IF(req->body_len && !req->body, err, CAIRN_EUSAGE, 0,
                "http: body_len %zu with a NULL body", req->body_len);
  t0 = cairn_clock_mono_ms();
  rc = t->perform(t, req, resp, err);
  /* One place counts every exchange of every transport (code 0: no
   * response at all). */
  cairn_metrics_http(rc == CAIRN_OK ? resp->status : 0,
                     resp->elapsed_s > 0
                         ? resp->elapsed_s
                         : (double)(cairn_clock_mono_ms() - t0) / 1000.0);
  if (rc != CAIRN_OK) {
    cairn_http_resp_free(resp);
    return rc < 0 ? rc : CAIRN_RAISE(err, CAIRN_EINTERNAL, rc,
                                     "http: %s transport returned %d",
                                     t->name, rc);
  }
  return CAIRN_OK;
}

void cairn_http_transport_destroy(cairn_http_transport *t)
{
  if (t && t->destroy)
    t->destroy(t);
}

/* ---- codecs -------------------------------------------------------------- */


static const char *const wkday[] = { "Sun", "Mon", "Tue", "Wed",
                                     "Thu", "Fri", "Sat" };
static const char *const month[] = { "Jan", "Feb", "Mar", "Apr",
                                     "May", "Jun", "Jul", "Aug",
                                     "Sep", "Oct", "Nov", "Dec" };

int cairn__http_date_parse(const char *s, int64_t *out)
{
  char wd[8], mon[8];
  int d, y, hh, mm, ss, m = -1;
  struct tm tm;

  /* IMF-fixdate only: what every current server sends. */
  if (!s || sscanf(s, "%3s, %d %3s %d %d:%d:%d GMT", wd, &d, mon, &y, &hh,
                   &mm, &ss) != 7)
    return -1;
  for (int i = 0; i < 12; i++)
    if (strcmp(mon, month[i]) == 0)
      m = i;
  if (m < 0 || d < 1 || d > 31 || y < 1970 || hh > 23 || mm > 59 || ss > 60)
    return -1;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = y - 1900;
  tm.tm_mon = m;
  tm.tm_mday = d;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  *out = (int64_t)timegm(&tm);
  return 0;
}

void cairn__http_date_fmt(int64_t t, char *out, size_t n)
{
  time_t tt = (time_t)t;
  struct tm tm;

  gmtime_r(&tt, &tm);
  snprintf(out, n, "%s, %02d %s %04d %02d:%02d:%02d GMT", wkday[tm.tm_wday],
           tm.tm_mday, month[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
           tm.tm_min, tm.tm_sec);
}

void cairn__req_label(const char *method, const char *url, int with_query,
                      char *out, size_t max)
{
  /* Registered secrets masked before the cut: one in the path across it
   * would leave its first bytes otherwise. */
  char *masked = cairn_xstrdup(url ? url : "");
  const char *p = masked;
  const char *scheme;
  size_t len;

  cairn_log_mask(masked);
  scheme = strstr(p, "://");
  if (scheme) {
    const char *path = strchr(scheme + 3, '/');
    p = path ? path : "/";
  }
  snprintf(out, max, "%s %.*s", method ? method : "?",
           (int)(with_query ? strcspn(p, "#") : strcspn(p, "?#")), p);
  len = strlen(out);
  if (len + 1 == max && max > 4)
    memcpy(out + max - 4, "...", 4);
  free(masked);
}
