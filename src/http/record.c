/* SPDX-License-Identifier: MIT */
/* record.c -- the record transport: passes each request to the wrapped
 * transport and keeps the exchange as a HAR 1.2 entry, redacted
 * (redact.c) before it is stored. The file is rewritten atomically on
 * flush and on destroy.
 *
 * Recordings are deterministic: no wall clock (startedDateTime comes from
 * the response Date header, timings are 0), no per-run request headers
 * (traceparent, tracestate), a fixed creator version and a fixed key
 * order, so recording the same traffic twice gives the same bytes. */
#include "http/http.h"
#include "http/har.h"
#include "core/codec.h"
#include "core/fsx.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct record {
  cairn_http_transport  base;  /* first: lets the vtable cast back */
  cairn_http_transport *inner; /* owned */
  char   *path;
  char  **redact;              /* owned copy, NULL-terminated */
  json_t *entries;             /* HAR entries so far */
};

/* ---- JSON building ------------------------------------------------------- */

/* JSON strings must be UTF-8: anything else is shown with '?' bytes. */
static json_t *jstr(const char *s, size_t n)
{
  char *copy;
  json_t *v;

  if (!s)
    return json_string("");
  if (cairn_utf8_valid(s, n))
    return json_stringn(s, n);
  copy = cairn_xstrndup(s, n);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)copy[i] >= 0x80)
      copy[i] = '?';
  v = json_stringn(copy, n);
  free(copy);
  return v;
}

static json_t *nv(const char *name, json_t *value)
{
  json_t *o = json_object();

  json_object_set_new(o, "name", jstr(name, strlen(name)));
  json_object_set_new(o, "value", value);
  return o;
}

static json_t *headers_json(const struct cairn_http_header *h, size_t n,
                            int request, char **extra)
{
  json_t *arr = json_array();

  for (size_t i = 0; i < n; i++) {
    const char *name = h[i].name, *value = h[i].value ? h[i].value : "";
    json_t *v;
    if (!name)
      continue;
    if (request && (strcasecmp(name, "traceparent") == 0 ||
                    strcasecmp(name, "tracestate") == 0))
      continue;
    char *safe = NULL;
    if (cairn__redact_header(name, (const char *const *)extra)) {
      v = json_string(CAIRN_HTTP_REDACTED);
    } else if ((safe = cairn_http_header_safe(name, value,
                                              (const char *const *)extra))) {
      v = jstr(safe, strlen(safe));
      free(safe);
    } else {
      v = jstr(value, strlen(value));
    }
    json_array_append_new(arr, nv(name, v));
  }
  return arr;
}

/* HAR queryString: the (already redacted) URL's parameters, in order. */
static json_t *query_json(const char *url)
{
  json_t *arr = json_array();
  const char *q = strchr(url, '?'), *end;
  struct cairn_pair p;

  if (!q)
    return arr;
  q++;
  end = q + strcspn(q, "#");
  while (cairn_pair_next(&q, end, &p)) {
    char *name, *value;
    if (p.end == p.at)
      continue;
    name = cairn_pair_name(&p);
    value = cairn_pair_value(&p);
    json_array_append_new(arr, nv(name, jstr(value, strlen(value))));
    free(name);
    free(value);
  }
  return arr;
}

/* Redacted copy of a body: *text (owned) and its length. Registered
 * secrets are masked here, in the body's own bytes, and not only in the
 * serialised file (write_har): there a body that is not UTF-8 is base64,
 * and a secret escaped in a JSON body is escaped a second time, forms the
 * last line of defence does not know. */
static void safe_body(const char *body, size_t len, const char *ctype,
                      char **extra, char **text, size_t *text_len)
{
  cairn__redact_body(body, len, ctype, (const char *const *)extra, text,
                     text_len);
  if (!*text) {
    *text = cairn_xstrndup(body ? body : "", len);
    *text_len = len;
  }
  *text_len = cairn_log_mask_n(*text, *text_len);
}

/* A body's text into o's "text": as it is when it is UTF-8 without a NUL
 * byte, else as base64 with enc_key ("encoding", HAR's field for a
 * response; "_encoding", a custom one for a request, which HAR has none
 * for) set to "base64". A NUL is valid UTF-8, but a JSON string holds it
 * only as \u0000, which json_loadb refuses: the recording would not load
 * for replay. */
static void put_text(json_t *o, const char *text, size_t len,
                     const char *enc_key)
{
  if (cairn_utf8_valid(text, len) && !memchr(text, '\0', len)) {
    json_object_set_new(o, "text", json_stringn(text, len));
  } else {
    char *b64 = cairn_base64_encode(text, len);
    json_object_set_new(o, "text", json_string(b64));
    json_object_set_new(o, enc_key, json_string("base64"));
    free(b64);
  }
}

static void started_at(const struct cairn_http_resp *resp, char *out,
                       size_t n)
{
  int64_t t;
  time_t tt;
  struct tm tm;

  if (cairn__http_date_parse(cairn_http_resp_header(resp, "Date"), &t) != 0) {
    snprintf(out, n, "1970-01-01T00:00:00.000Z");
    return;
  }
  tt = (time_t)t;
  gmtime_r(&tt, &tm);
  snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.000Z", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static json_t *request_json(const struct cairn_http_req *req, char **extra)
{
  json_t *o = json_object();
  char *url = cairn_http_url_safe(req->url, (const char *const *)extra);
  size_t body_len = req->body ? req->body_len : 0;

  json_object_set_new(o, "method", json_string(req->method));
  json_object_set_new(o, "url", jstr(url, strlen(url)));
  json_object_set_new(o, "httpVersion", json_string("HTTP/1.1"));
  json_object_set_new(o, "cookies", json_array());
  json_object_set_new(o, "headers", headers_json(req->headers,
                                                 req->n_headers, 1, extra));
  json_object_set_new(o, "queryString", query_json(url));
  json_object_set_new(o, "headersSize", json_integer(-1));
  if (body_len) {
    const char *ctype = cairn__header_find(req->headers, req->n_headers,
                                           "Content-Type");
    json_t *post = json_object();
    char *text;
    size_t text_len;
    /* libcurl labels an unlabelled request body as a form. */
    if (!ctype)
      ctype = "application/x-www-form-urlencoded";
    safe_body(req->body, body_len, ctype, extra, &text, &text_len);
    json_object_set_new(o, "bodySize", json_integer((json_int_t)text_len));
    json_object_set_new(post, "mimeType", json_string(ctype));
    put_text(post, text, text_len, "_encoding");
    json_object_set_new(o, "postData", post);
    free(text);
  } else {
    json_object_set_new(o, "bodySize", json_integer(0));
  }
  free(url);
  return o;
}

static json_t *response_json(const struct cairn_http_resp *resp,
                             char **extra)
{
  json_t *o = json_object(), *content = json_object();
  const char *ctype = cairn_http_resp_header(resp, "Content-Type");
  const char *loc = cairn_http_resp_header(resp, "Location");
  char *text, *redirect;
  size_t text_len;

  safe_body(resp->body.data, resp->body.len, ctype, extra, &text, &text_len);
  redirect = cairn_http_url_safe(loc ? loc : "", (const char *const *)extra);
  json_object_set_new(o, "status", json_integer(resp->status));
  json_object_set_new(o, "statusText",
                      json_string(cairn_http_reason(resp->status)));
  json_object_set_new(o, "httpVersion", json_string("HTTP/1.1"));
  json_object_set_new(o, "cookies", json_array());
  json_object_set_new(o, "headers", headers_json(resp->headers,
                                                 resp->n_headers, 0, extra));
  json_object_set_new(content, "size", json_integer((json_int_t)text_len));
  json_object_set_new(content, "mimeType",
                      jstr(ctype ? ctype : "application/octet-stream",
                           strlen(ctype ? ctype
                                        : "application/octet-stream")));
  put_text(content, text, text_len, "encoding");
  json_object_set_new(o, "content", content);
  json_object_set_new(o, "redirectURL", jstr(redirect, strlen(redirect)));
  json_object_set_new(o, "headersSize", json_integer(-1));
  json_object_set_new(o, "bodySize", json_integer((json_int_t)text_len));
  free(text);
  free(redirect);
  return o;
}

static json_t *entry_json(const struct cairn_http_req *req,
                          const struct cairn_http_resp *resp, char **extra)
{
  json_t *e = json_object(), *timings = json_object();
  char started[80];

  started_at(resp, started, sizeof started);
  json_object_set_new(e, "startedDateTime", json_string(started));
  json_object_set_new(e, "time", json_integer(0));
  json_object_set_new(e, "request", request_json(req, extra));
  json_object_set_new(e, "response", response_json(resp, extra));
  json_object_set_new(e, "cache", json_object());
  json_object_set_new(timings, "send", json_integer(0));
  json_object_set_new(timings, "wait", json_integer(0));
  json_object_set_new(timings, "receive", json_integer(0));
  json_object_set_new(e, "timings", timings);
  return e;
}

/* ---- transport ----------------------------------------------------------- */

static int record_perform(cairn_http_transport *t,
                          const struct cairn_http_req *req,
                          struct cairn_http_resp *resp, cairn_err *err)
{
  struct record *r = (struct record *)t;
  int rc = cairn_http_perform(r->inner, req, resp, err);

  if (rc == CAIRN_OK)
    json_array_append_new(r->entries, entry_json(req, resp, r->redact));
  return rc;
}

static int write_har(struct record *r, cairn_err *err)
{
  json_t *root = json_object(), *log = json_object(),
         *creator = json_object();
  char *text;
  int rc;

  json_object_set_new(creator, "name", json_string("cairn"));
  json_object_set_new(creator, "version", json_string(CAIRN_VERSION));
  json_object_set_new(log, "version", json_string("1.2"));
  json_object_set_new(log, "creator", creator);
  json_object_set(log, "entries", r->entries);
  json_object_set_new(root, "log", log);
  text = json_dumps(root, JSON_INDENT(2));
  json_decref(root);
  if (!text)
    return CAIRN_RAISE(err, CAIRN_EINTERNAL, 0,
                       "record: cannot serialise %s", r->path);
  /* Last line of defence: values registered as secrets never reach disk,
   * whatever field they hid in. */
  cairn_log_mask(text);
  rc = cairn_fs_write_atomic_private(r->path, text, strlen(text), err);
  free(text);
  return rc;
}

int cairn_http_record_flush(cairn_http_transport *t, cairn_err *err)
{
  CAIRN_FAIL_IF(!t || strcmp(t->name, "record") != 0, err, CAIRN_EUSAGE, 0,
                "record: flush needs a record transport");
  return write_har((struct record *)t, err);
}

static void record_destroy(cairn_http_transport *t)
{
  struct record *r = (struct record *)t;
  cairn_err err = { 0 };

  if (write_har(r, &err) < 0)
    cairn_error("record: recording lost: %s", err.msg);
  cairn_http_transport_destroy(r->inner);
  json_decref(r->entries);
  for (char **p = r->redact; p && *p; p++)
    free(*p);
  free(r->redact);
  free(r->path);
  free(r);
}

int cairn_http_record_check(const char *har_path, cairn_err *err)
{
  cairn_err why = {0};

  if (cairn_fs_can_write_atomic(har_path, &why) < 0)
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "--record %s: cannot write "
                       "the recording there (%s)", har_path, why.msg);
  return CAIRN_OK;
}

int cairn_http_record_open(cairn_http_transport *inner, const char *har_path,
                           const char *const *redact,
                           cairn_http_transport **out, cairn_err *err)
{
  struct record *r;
  size_t n = 0;

  if (out)
    *out = NULL;
  if (!inner || !har_path || !*har_path || !out) {
    cairn_http_transport_destroy(inner);
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                       "record: needs an inner transport, a path and out");
  }
  /* Written when the run ends: find out now, not after the whole run,
   * that it cannot be. */
  if (cairn_http_record_check(har_path, err) < 0) {
    cairn_http_transport_destroy(inner);
    return CAIRN_EUSAGE;
  }
  r = cairn_xcalloc(1, sizeof *r);
  r->base.name = "record";
  r->base.perform = record_perform;
  r->base.destroy = record_destroy;
  r->inner = inner;
  r->path = cairn_xstrdup(har_path);
  while (redact && redact[n])
    n++;
  r->redact = cairn_xcalloc(n + 1, sizeof *r->redact);
  for (size_t i = 0; i < n; i++)
    r->redact[i] = cairn_xstrdup(redact[i]);
  r->entries = json_array();
  *out = &r->base;
  return CAIRN_OK;
}
