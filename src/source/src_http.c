/* SPDX-License-Identifier: MIT */
/* src_http.c -- the http source: one HTTP page is one chunk.
 *
 * extract(cursor) makes exactly one page request (with retries) through
 * the runner's transport (live, record or replay) and hands back the body
 * as the raw page plus JSON metadata (status, lower-cased headers, the
 * Date as RFC 3339, the URL without credentials); the runner spools both,
 * so decode() works from a spooled page alone and a resumed run never asks
 * for a page twice. The cursor is the next request to make, as JSON:
 * {"page":N, "url":..., "token":..., "offset":..., "hwm":...}.
 *
 * Around that: the paging styles (http_paging.c), retries and the circuit
 * breaker (http_retry.c), credentials (http_auth.c), trace context
 * (http_trace.c), the host allow-list (http_url.c), and incremental state
 * through the runner's kv: conditional requests (ETag), delta links
 * (Graph @odata.deltaLink) with a fallback to a full sync when they
 * expire, and high-water marks of a record field. docs/jobs-http.md is the
 * job author's reference; docs/internals/http-source.md the design. */
#include "source/source.h"
#include "source/src_http.h"
#include "core/json_fast.h"
#include "core/codec.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/metrics.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WATERMARK_VAR "{{watermark}}"
#define MAX_REQ_HEADERS 48

/* How marks compare, by the job's watermark.initial: a number (JSON, or
 * text that is one) numerically; a date-time (RFC 3339, or "YYYY-MM-DD
 * HH:MM:SS" as ServiceNow writes it) by the second it names, whatever its
 * form (".5Z" and "+02:00" do not sort as text does); anything else as
 * text. A record's value that does not fit the kind ("not a date" where
 * the initial is a date-time) never becomes the mark: as text it would
 * sort above every later time, and no record could pass it again. */
enum wm_kind { WM_TEXT, WM_NUMBER, WM_TIME };

struct http_src {
  cairn_source  base;           /* first */
  const struct cairn_source_ctx *ctx;
  /* The configured first request ({{watermark}} substituted). */
  char         *method;         /* "GET" or "POST" */
  char         *url;            /* request.url with request.query added */
  json_t       *headers;        /* {"Name": "value"} */
  json_t       *body;           /* NULL: no body */
  char         *records;        /* pointer to the record array; "" = root */
  int           warned_records; /* a page without records was said */
  char         *columns;        /* rows_as_objects: pointer to the columns */
  struct cairn__hs_paging paging;
  struct cairn__hs_retry  retry;
  struct cairn__hs_auth   auth;
  /* Where requests and credentials may go. */
  json_t       *allow;          /* ["host:port" | "host" | "*.suffix"] */
  json_t       *cred_hosts;     /* same forms: where Authorization goes */
  int           https_only;     /* request.url is https: no downgrade */
  /* Guards handed to the transport. */
  long          connect_ms, timeout_ms, low_bytes, low_secs;
  size_t        max_body;
  char         *corr_header;    /* NULL: no correlation id header */
  json_t       *redact;         /* response header names kept out of meta */
  /* Incremental state. */
  int           conditional;    /* send If-None-Match with the saved ETag */
  char         *delta_link;     /* pointer to the delta link (last page) */
  int           delta_fail;     /* on_expired "fail" (else full sync) */
  json_t       *expired_status; /* [410] */
  char         *expired_pointer;/* error body pointer, e.g. /error/code */
  json_t       *expired_codes;  /* values there that mean "expired" */
  char         *wm_field;       /* watermark: record field (pointer/name) */
  char         *wm_value;       /* the watermark this run starts from */
  int           wm_saved;       /* wm_value is the mark a run saved */
  int           wm_sorted;      /* watermark.sorted: records come in
                                   ascending order of the mark */
  enum wm_kind  wm_kind;        /* from watermark.initial */
  int           use_state;      /* !backfill and kv available */
  json_t       *creds;          /* the credentials in url, to put back into
                                   URLs kept in their safe form */
  /* Per window. */
  json_t       *seen;           /* sha256(request key) -> the page that
                                   gave that continuation (loop checks) */
  int           seen_masked;    /* seen holds a link or token by its safe
                                   form */
  char         *kept_safe;      /* the next link or token of the last */
  char         *kept_raw;       /* cursor_out as kept (safe form) and as
                                   received */
  int           extracted;      /* this instance extracted a page */
  const char   *circuit_key;    /* the connector: the job name */
  struct checked *checked;      /* the last page extract() checked */
};

/* ---- small config helpers ------------------------------------------------ */

static const char *cfg_str(const json_t *o, const char *key)
{
  const char *s = json_string_value(json_object_get(o, key));
  return s && *s ? s : NULL;
}

/* A number of seconds/bytes/tries given as a JSON number or as text (a
 * ${param}). 1 = absent (out untouched), 0 = ok, -1 = malformed. */
static int cfg_num(const json_t *o, const char *key, double *out)
{
  const json_t *v = json_object_get(o, key);
  char *end;
  double d;
  if (!v)
    return 1;
  if (json_is_number(v)) {
    d = json_number_value(v);
  } else if (json_is_string(v)) {
    errno = 0;
    d = strtod(json_string_value(v), &end);
    if (errno || end == json_string_value(v) || *end)
      return -1;
  } else {
    return -1;
  }
  if (d < 0 || d != d)
    return -1;
  *out = d;
  return 0;
}

static int num_key(const json_t *o, const char *key, const char *at,
                   double *out, int positive, const char **ptr_out,
                   cairn_err *err)
{
  int r = cfg_num(o, key, out);
  if (r < 0 || (r == 0 && positive && *out <= 0)) {
    *ptr_out = at;
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s must be a %s number", key,
                       positive ? "positive" : "non-negative");
  }
  return CAIRN_OK;
}

static int is_http_url(const char *u)
{
  struct cairn__hs_url p;
  return cairn__hs_url_parse(u, &p) == 0;
}

/* Replace every {{watermark}} in s (URL-encoded when 'encode'). */
static char *subst(const char *s, const char *wm, int encode)
{
  struct cairn_buf b = {0};
  const char *p = s, *hit;
  if (!wm || !strstr(s, WATERMARK_VAR))
    return cairn_xstrdup(s);
  while ((hit = strstr(p, WATERMARK_VAR))) {
    cairn_buf_append(&b, p, (size_t)(hit - p));
    if (encode)
      cairn__hs_url_encode(&b, wm);
    else
      cairn_buf_puts(&b, wm);
    p = hit + strlen(WATERMARK_VAR);
  }
  cairn_buf_puts(&b, p);
  return cairn_buf_take(&b);
}

static char *subst_string(const char *s, void *wm)
{
  return strstr(s, WATERMARK_VAR) ? subst(s, wm, 0) : NULL;
}

/* Text of a scalar JSON value (query values, watermarks). New string. */
static char *scalar_text(const json_t *v)
{
  if (json_is_string(v))
    return cairn_xstrdup(json_string_value(v));
  if (json_is_integer(v))
    return cairn_strfmt("%" JSON_INTEGER_FORMAT, json_integer_value(v));
  if (json_is_real(v))
    return cairn_strfmt("%.17g", json_real_value(v));
  if (json_is_boolean(v))
    return cairn_xstrdup(json_is_true(v) ? "true" : "false");
  return NULL;
}

/* Add "host:port" of url to the set. */
static void add_origin(json_t *set, const char *url)
{
  struct cairn__hs_url u;
  if (cairn__hs_url_parse(url, &u) == 0) {
    char *a = cairn_strfmt("%s:%d", u.host, u.port);
    json_array_append_new(set, json_string(a));
    free(a);
  }
}

static int host_entry_ok(const char *h)
{
  if (!*h)
    return 0;
  for (const char *p = h; *p; p++)
    if (*p == '/' || *p == '@' || *p == ' ' || (unsigned char)*p < ' ')
      return 0;
  return 1;
}

/* Does url's origin match an entry: "host:port" exactly, "host" on any
 * port, "*.suffix" any subdomain (any port)? */
static int host_in(const json_t *set, const struct cairn__hs_url *u)
{
  char hp[300];
  size_t i;
  json_t *e;
  snprintf(hp, sizeof hp, "%s:%d", u->host, u->port);
  json_array_foreach(set, i, e) {
    const char *s = json_string_value(e);
    size_t sl, hl = strlen(u->host);
    if (!s)
      continue;
    if (strcasecmp(s, hp) == 0 || strcasecmp(s, u->host) == 0)
      return 1;
    sl = strlen(s);
    if (sl > 2 && s[0] == '*' && s[1] == '.' && hl > sl - 1 &&
        strcasecmp(u->host + hl - (sl - 1), s + 1) == 0)
      return 1;
  }
  return 0;
}

/* Human list of a host set for messages. */
static void hosts_text(const json_t *set, char *out, size_t n)
{
  size_t i, len = 0;
  json_t *e;
  out[0] = '\0';
  json_array_foreach(set, i, e) {
    const char *s = json_string_value(e);
    char tmp[300];
    size_t j;
    int w;
    /* Once each: the job's URLs often share a host (endpoint, token). */
    for (j = 0; j < i; j++)
      if (json_equal(json_array_get(set, j), e))
        break;
    if (j < i)
      continue;
    /* Default ports read better without the port. */
    snprintf(tmp, sizeof tmp, "%s", s);
    if (strlen(tmp) > 4 && (strcmp(tmp + strlen(tmp) - 4, ":443") == 0))
      tmp[strlen(tmp) - 4] = '\0';
    w = snprintf(out + len, n - len, "%s%s", len ? ", " : "", tmp);
    if (w < 0 || (size_t)w >= n - len)
      break;
    len += (size_t)w;
  }
}

/* ---- configuration ------------------------------------------------------- */

static void src_clear(struct http_src *s)
{
  free(s->method);
  free(s->url);
  json_decref(s->headers);
  json_decref(s->body);
  free(s->records);
  free(s->columns);
  cairn__hs_paging_clear(&s->paging);
  cairn__hs_auth_clear(&s->auth);
  json_decref(s->allow);
  json_decref(s->cred_hosts);
  free(s->corr_header);
  json_decref(s->redact);
  free(s->delta_link);
  json_decref(s->expired_status);
  free(s->expired_pointer);
  json_decref(s->expired_codes);
  free(s->wm_field);
  free(s->wm_value);
  json_decref(s->creds);
  json_decref(s->seen);
  free(s->kept_safe);
  free(s->kept_raw);
}

static int pointer_ok(const char *p)
{
  return p && (p[0] == '\0' || p[0] == '/') && cairn_json_pointer_valid(p);
}

/* The configured first request, with {{watermark}} = 'wm': s->url
 * (request.url plus request.query, in the order given), s->headers and
 * s->body, replacing what they held. */
static int request_build(struct http_src *s, const json_t *req,
                         const char *wm, const char **ptr_out,
                         cairn_err *err)
{
  const char *k;
  const json_t *v;
  char *u = subst(cfg_str(req, "url"), wm, 1);

  json_decref(s->headers);
  json_decref(s->body);
  s->body = NULL;
  s->headers = json_object();
  json_object_foreach((json_t *)json_object_get(req, "query"), k, v) {
    char *text = scalar_text(v), *vs, *next;
    if (!text) {
      static char at[112];
      snprintf(at, sizeof at, "/request/query/%.80s", k);
      *ptr_out = at;
      free(u);
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "query values must be "
                         "strings, numbers or booleans");
    }
    vs = subst(text, wm, 0);
    next = cairn__hs_url_set_param(u, k, vs);
    free(u);
    free(text);
    free(vs);
    u = next;
  }
  free(s->url);
  s->url = u;
  json_object_foreach(json_object_get(req, "headers"), k, v) {
    char *hv;
    if (!json_is_string(v) || strpbrk(json_string_value(v), "\r\n") ||
        strpbrk(k, " :\r\n") || !*k) {
      static char at[112];
      snprintf(at, sizeof at, "/request/headers/%.80s", k);
      *ptr_out = at;
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "a header needs a token name "
                         "and a one-line string value");
    }
    hv = subst(json_string_value(v), wm, 0);
    json_object_set_new(s->headers, k, json_string(hv));
    free(hv);
  }
  v = json_object_get(req, "body");
  if (v && !json_is_null(v)) {
    s->body = json_deep_copy(v);
    cairn_json_map_strings(s->body, subst_string, (void *)wm);
  }
  return CAIRN_OK;
}

static char *wm_seen(const char *s, void *found)
{
  if (strstr(s, WATERMARK_VAR))
    *(int *)found = 1;
  return NULL;
}

/* Whether {{watermark}} is somewhere request_build replaces it: the url,
 * a query value, a header value or a string of the body. */
static int request_uses_wm(const json_t *req)
{
  const char *k;
  const json_t *v;
  int found = strstr(cfg_str(req, "url"), WATERMARK_VAR) != NULL;
  json_t *body;

  json_object_foreach((json_t *)json_object_get(req, "query"), k, v)
    found |= json_is_string(v) && strstr(json_string_value(v),
                                         WATERMARK_VAR);
  json_object_foreach((json_t *)json_object_get(req, "headers"), k, v)
    found |= json_is_string(v) && strstr(json_string_value(v),
                                         WATERMARK_VAR);
  body = json_deep_copy(json_object_get(req, "body"));
  if (body)
    cairn_json_map_strings(body, wm_seen, &found);
  json_decref(body);
  return found;
}

/* Read cfg into s. 'wm' is the watermark the requests start from (NULL
 * when the job has none or when only checking). */
static int load_cfg(struct http_src *s, const json_t *cfg, const char *wm,
                    const char **ptr_out, cairn_err *err)
{
  const json_t *req = json_object_get(cfg, "request"), *v, *o;
  const char *url, *method;
  double d;
  int rc;

  *ptr_out = "";
  if (!json_is_object(req)) {
    *ptr_out = "/request";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "http source needs a request "
                       "object with at least a url");
  }
  url = cfg_str(req, "url");
  if (!url || !is_http_url(url)) {
    *ptr_out = "/request/url";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "request.url must be an absolute "
                       "http(s) URL, got \"%s\" (pass --param endpoint=URL?)",
                       url ? url : "");
  }
  method = cfg_str(req, "method");
  if (!method)
    method = json_object_get(req, "body") ? "POST" : "GET";
  if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
    *ptr_out = "/request/method";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "request.method must be GET or "
                       "POST");
  }
  s->method = cairn_xstrdup(method);
  rc = request_build(s, req, wm, ptr_out, err);
  if (rc < 0)
    return rc;

  v = json_object_get(cfg, "records");
  s->records = cairn_xstrdup(v ? json_string_value(v) : "");
  if (!pointer_ok(s->records)) {
    *ptr_out = "/records";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "records must be a JSON pointer "
                       "to the record array (e.g. /value, /data, /result, "
                       "/Resources), or \"\" for the whole body");
  }
  v = json_object_get(cfg, "rows_as_objects");
  if (json_is_true(v)) {
    /* The columns sit beside the rows: /properties/rows ->
     * /properties/columns. */
    const char *slash = strrchr(s->records, '/');
    if (!slash) {
      *ptr_out = "/rows_as_objects";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "rows_as_objects: true needs "
                         "records pointing at the rows (e.g. "
                         "/properties/rows)");
    }
    s->columns = cairn_strfmt("%.*s/columns", (int)(slash - s->records),
                              s->records);
  } else if (json_is_string(v)) {
    s->columns = cairn_xstrdup(json_string_value(v));
    if (!pointer_ok(s->columns) || !*s->columns) {
      *ptr_out = "/rows_as_objects";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "rows_as_objects is true or a "
                         "JSON pointer to the columns (e.g. "
                         "/properties/columns)");
    }
  }

  rc = cairn__hs_paging_load(cfg, &s->paging, ptr_out, err);
  if (rc < 0)
    return rc;
  if (s->paging.style == CAIRN__HS_PAGE_BODY_TOKEN &&
      (!s->body || !json_is_object(s->body))) {
    *ptr_out = "/request/body";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "paging style body_token needs "
                       "a JSON object request body");
  }
  rc = cairn__hs_auth_load(cfg, &s->auth, ptr_out, err);
  if (rc < 0)
    return rc;

  /* Retry policy. */
  o = json_object_get(cfg, "retry");
  d = 8;
  if (num_key(o, "attempts", "/retry/attempts", &d, 1, ptr_out, err) < 0)
    return CAIRN_EUSAGE;
  s->retry.attempts = (long)d;
  d = 1;
  if (num_key(o, "base_delay_s", "/retry/base_delay_s", &d, 0, ptr_out, err)
      < 0)
    return CAIRN_EUSAGE;
  s->retry.base_ms = (int64_t)(d * 1000);
  d = 1;
  if (num_key(o, "min_delay_s", "/retry/min_delay_s", &d, 0, ptr_out, err) < 0)
    return CAIRN_EUSAGE;
  s->retry.min_delay_ms = (int64_t)(d * 1000);
  d = 300;
  if (num_key(o, "max_delay_s", "/retry/max_delay_s", &d, 1, ptr_out, err) < 0)
    return CAIRN_EUSAGE;
  s->retry.max_delay_ms = (int64_t)(d * 1000);
  d = 900;
  if (num_key(o, "budget_s", "/retry/budget_s", &d, 0, ptr_out, err) < 0)
    return CAIRN_EUSAGE;
  s->retry.budget_ms = (int64_t)(d * 1000);
  s->retry.retry_post = json_is_true(json_object_get(o, "retry_post"));
  o = json_object_get(cfg, "circuit");
  d = 5;
  if (num_key(o, "failures", "/circuit/failures", &d, 1, ptr_out, err) < 0)
    return CAIRN_EUSAGE;
  s->retry.circuit_failures = (long)d;
  d = 60;
  if (num_key(o, "cooldown_s", "/circuit/cooldown_s", &d, 0, ptr_out, err) < 0)
    return CAIRN_EUSAGE;
  s->retry.circuit_cooldown_ms = (int64_t)(d * 1000);

  /* Guards. */
  d = 10;
  if (num_key(cfg, "connect_timeout_s", "/connect_timeout_s", &d, 1, ptr_out,
              err) < 0)
    return CAIRN_EUSAGE;
  s->connect_ms = (long)(d * 1000);
  d = 120;
  if (num_key(cfg, "timeout_s", "/timeout_s", &d, 1, ptr_out, err) < 0)
    return CAIRN_EUSAGE;
  s->timeout_ms = (long)(d * 1000);
  d = 0;
  if (num_key(cfg, "low_speed_bytes", "/low_speed_bytes", &d, 0, ptr_out, err)
      < 0)
    return CAIRN_EUSAGE;
  s->low_bytes = (long)d;
  d = s->low_bytes ? 30 : 0;
  if (num_key(cfg, "low_speed_s", "/low_speed_s", &d, 0, ptr_out, err) < 0)
    return CAIRN_EUSAGE;
  s->low_secs = (long)d;
  d = (double)CAIRN_HTTP_MAX_BODY;
  if (num_key(cfg, "max_body_bytes", "/max_body_bytes", &d, 1, ptr_out, err)
      < 0)
    return CAIRN_EUSAGE;
  s->max_body = (size_t)d;
  v = json_object_get(cfg, "correlation_header");
  if (!v)
    s->corr_header = cairn_xstrdup("x-ms-client-request-id");
  else if (json_string_length(v) > 0)
    s->corr_header = cairn_xstrdup(json_string_value(v));

  /* Hosts. */
  s->allow = json_array();
  s->cred_hosts = json_array();
  add_origin(s->allow, url);
  add_origin(s->cred_hosts, url);
  if (s->auth.token_url)
    add_origin(s->allow, s->auth.token_url);
  s->https_only = strncasecmp(url, "https:", 6) == 0;
  {
    size_t i;
    json_array_foreach(json_object_get(cfg, "allow_hosts"), i, v) {
      if (!json_is_string(v) || !host_entry_ok(json_string_value(v))) {
        static char at[48];
        snprintf(at, sizeof at, "/allow_hosts/%zu", i);
        *ptr_out = at;
        return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "allow_hosts entries are "
                           "\"host\", \"host:port\" or \"*.domain\"");
      }
      json_array_append_new(s->allow, json_string(json_string_value(v)));
    }
    json_array_foreach(json_object_get(json_object_get(cfg, "auth"), "hosts"),
                       i, v) {
      if (!json_is_string(v) || !host_entry_ok(json_string_value(v))) {
        static char at[48];
        snprintf(at, sizeof at, "/auth/hosts/%zu", i);
        *ptr_out = at;
        return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "auth.hosts entries are "
                           "\"host\", \"host:port\" or \"*.domain\"");
      }
      json_array_append_new(s->cred_hosts, json_string(json_string_value(v)));
      json_array_append_new(s->allow, json_string(json_string_value(v)));
    }
  }
  s->redact = json_array();
  {
    size_t i;
    json_array_foreach(json_object_get(cfg, "redact"), i, v)
      if (json_is_string(v))
        json_array_append_new(s->redact, json_string(json_string_value(v)));
  }

  /* Incremental state. */
  s->conditional = json_is_true(json_object_get(cfg, "conditional"));
  if (s->conditional && strcmp(s->method, "GET") != 0) {
    *ptr_out = "/conditional";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "conditional requests (ETag) "
                       "need a GET request");
  }
  o = json_object_get(cfg, "delta");
  if (o) {
    const char *oe = cfg_str(o, "on_expired");
    s->delta_link = cairn_xstrdup(cfg_str(o, "link"));
    if (!s->delta_link || s->delta_link[0] != '/' ||
        !cairn_json_pointer_valid(s->delta_link)) {
      *ptr_out = "/delta/link";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "delta needs link, a JSON "
                         "pointer to the delta link of the last page (e.g. "
                         "/@odata.deltaLink)");
    }
    if (oe && strcmp(oe, "full") != 0 && strcmp(oe, "fail") != 0) {
      *ptr_out = "/delta/on_expired";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "on_expired is \"full\" (sync "
                         "everything again, with a warning) or \"fail\"");
    }
    s->delta_fail = oe && strcmp(oe, "fail") == 0;
    v = json_object_get(o, "expired_status");
    s->expired_status = v ? json_deep_copy(v) : json_pack("[i]", 410);
    s->expired_pointer = cairn_xstrdup(cfg_str(o, "expired_pointer"));
    v = json_object_get(o, "expired_codes");
    s->expired_codes = v ? json_deep_copy(v) : json_array();
    if (s->expired_pointer && !pointer_ok(s->expired_pointer)) {
      *ptr_out = "/delta/expired_pointer";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "expired_pointer must be a "
                         "JSON pointer (e.g. /error/code)");
    }
    if (s->paging.style != CAIRN__HS_PAGE_NEXT_LINK &&
        s->paging.style != CAIRN__HS_PAGE_NONE) {
      *ptr_out = "/delta";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "delta links go with paging "
                         "style next_link");
    }
  }
  o = json_object_get(cfg, "watermark");
  if (o) {
    s->wm_field = cairn_xstrdup(cfg_str(o, "field"));
    s->wm_sorted = json_is_true(json_object_get(o, "sorted"));
    if (!s->wm_field) {
      *ptr_out = "/watermark/field";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "watermark needs field, the "
                         "record field whose largest value is kept (e.g. "
                         "sys_updated_on)");
    }
    const json_t *init = json_object_get(o, "initial");
    if (!json_is_string(init) && !json_is_number(init)) {
      *ptr_out = "/watermark/initial";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "watermark needs initial, the "
                         "value {{watermark}} has on the first run (e.g. "
                         "\"1970-01-01 00:00:00\")");
    }
    if (!request_uses_wm(req)) {
      *ptr_out = "/watermark";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "the request never sends the "
                         "watermark: put {{watermark}} in its url, query, "
                         "headers or body (e.g. \"sys_updated_on>="
                         "{{watermark}}\"), or every run reads everything");
    }
  }
  return CAIRN_OK;
}

static int http_check(const json_t *cfg, const char **ptr_out, cairn_err *err)
{
  struct http_src s;
  const char *wm;
  char *init = NULL;
  int rc;
  memset(&s, 0, sizeof s);
  init = scalar_text(json_object_get(json_object_get(cfg, "watermark"),
                                     "initial"));
  wm = init ? init : NULL;
  rc = load_cfg(&s, cfg, wm, ptr_out, err);
  src_clear(&s);
  free(init);
  return rc;
}

static enum wm_kind wm_kind_of(const json_t *initial);
static int wm_fits(enum wm_kind k, const json_t *v);

static int http_open(cairn_source *base, const struct cairn_source_ctx *ctx,
                     cairn_err *err)
{
  struct http_src *s = (struct http_src *)base;
  const json_t *wmc = json_object_get(ctx->cfg, "watermark");
  const char *ptr = "";
  const char *saved = NULL;
  int rc;

  s->ctx = ctx;
  s->circuit_key = ctx->job ? ctx->job : "http";
  s->use_state = !ctx->backfill && ctx->kv_get && ctx->kv_put;
  s->seen = json_object();
  if (wmc) {
    const json_t *initial = json_object_get(wmc, "initial");
    s->wm_kind = wm_kind_of(initial);
    saved = s->use_state ? ctx->kv_get(ctx->kv_ud, "watermark") : NULL;
    if (saved) {
      json_t *sv = json_string(saved);
      if (sv && !wm_fits(s->wm_kind, sv)) {
        /* A mark an earlier version took from a malformed record. */
        char *ex = cairn_onelinef("%.80s", saved);
        cairn_warn("watermark: the saved mark \"%s\" is not a %s like the "
                   "initial value; starting from the initial value instead "
                   "(a full read: the upsert keeps each row once)", ex,
                   s->wm_kind == WM_TIME ? "date-time" : "number");
        free(ex);
        saved = NULL;
      }
      json_decref(sv);
    }
    s->wm_value = saved ? cairn_xstrdup(saved) : scalar_text(initial);
    s->wm_saved = saved != NULL;
  }
  rc = load_cfg(s, ctx->cfg, s->wm_value, &ptr, err);
  if (rc < 0)
    return rc;
  s->creds = cairn__hs_url_creds(s->url);
  if (!ctx->http)
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "http source without a "
                       "transport (the runner opens one when the source has "
                       "a request)");
  if (wmc)
    cairn_info("watermark: requests start from %s%s", s->wm_value,
               saved ? " (saved by the last run)" : " (initial)");
  return CAIRN_OK;
}

static void checked_free(struct checked *c);

static void http_close(cairn_source *base)
{
  struct http_src *s = (struct http_src *)base;
  checked_free(s->checked);
  s->checked = NULL;
  src_clear(s);
}

/* ---- sending one request ------------------------------------------------- */

struct spec {
  const char *method;
  const char *url;
  const char *body;          /* NULL: none */
  const char *content_type;
  const char *if_none_match; /* NULL: unconditional */
  int         token_request; /* the OAuth2 token POST */
  int         saved_delta;   /* the delta link an earlier run saved */
};

/* One logical request: its headers are rebuilt for every attempt. */
struct call {
  struct http_src   *s;
  const struct spec *sp;
  int                creds;        /* may carry credentials to this host */
  char              *auth_value;   /* Authorization, or NULL */
  char               corr[37];     /* correlation id: same for retries */
  char               span[17];     /* span id of the current attempt */
  char               traceparent[56];
  struct cairn_http_header hdr[MAX_REQ_HEADERS];
  size_t             n_hdr;
};

static void add_hdr(struct call *c, const char *name, const char *value)
{
  if (c->n_hdr < MAX_REQ_HEADERS) {
    c->hdr[c->n_hdr].name = (char *)name;
    c->hdr[c->n_hdr].value = (char *)value;
    c->n_hdr++;
  }
}

static int has_hdr(const json_t *h, const char *name)
{
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)h, k, v)
    if (strcasecmp(k, name) == 0)
      return 1;
  return 0;
}

/* The run's trace id when the runner gives a valid one, so the run record,
 * the summary and every request agree; else one per process. */
static const char *run_trace_id(const struct http_src *s)
{
  const char *t = s->base.ctx->trace_id;
  if (t && strlen(t) == 32 && strspn(t, "0123456789abcdef") == 32 &&
      strspn(t, "0") != 32)
    return t;
  return cairn__hs_trace_id();
}

static int call_build(void *ud, struct cairn_http_req *req, cairn_err *err)
{
  struct call *c = ud;
  struct http_src *s = c->s;
  const struct spec *sp = c->sp;
  const char *k;
  json_t *v;

  (void)err;
  c->n_hdr = 0;
  cairn__hs_span_id(c->span);
  cairn__hs_traceparent(run_trace_id(s), c->span, c->traceparent);
  add_hdr(c, "traceparent", c->traceparent);
  if (s->corr_header)
    add_hdr(c, s->corr_header, c->corr);
  if (sp->token_request) {
    add_hdr(c, "Accept", "application/json");
  } else {
    if (!has_hdr(s->headers, "Accept"))
      add_hdr(c, "Accept", "application/json");
    if (!has_hdr(s->headers, "User-Agent"))
      add_hdr(c, "User-Agent", CAIRN_HTTP_USER_AGENT);
    json_object_foreach(s->headers, k, v) {
      /* A header carrying a secret (an API key) is a credential too. */
      if (!c->creds && cairn_log_has_secret(json_string_value(v)))
        continue;
      if (sp->body == NULL && strcasecmp(k, "Content-Type") == 0)
        continue;
      add_hdr(c, k, json_string_value(v));
    }
    if (sp->if_none_match && *sp->if_none_match) /* "": none kept */
      add_hdr(c, "If-None-Match", sp->if_none_match);
    if (c->auth_value)
      add_hdr(c, "Authorization", c->auth_value);
  }
  if (sp->body && sp->content_type &&
      (sp->token_request || !has_hdr(s->headers, "Content-Type")))
    add_hdr(c, "Content-Type", sp->content_type);
  memset(req, 0, sizeof *req);
  req->method = sp->method;
  req->url = sp->url;
  req->headers = c->hdr;
  req->n_headers = c->n_hdr;
  req->body = sp->body;
  req->body_len = sp->body ? strlen(sp->body) : 0;
  req->connect_timeout_ms = s->connect_ms;
  req->timeout_ms = s->timeout_ms;
  req->low_speed_bytes = s->low_bytes;
  req->low_speed_secs = s->low_secs;
  req->max_body = s->max_body;
  return CAIRN_OK;
}

static const char *request_id(const struct cairn_http_resp *r)
{
  static const char *const names[] = {
    "x-ms-request-id", "request-id", "x-request-id",
    "x-ms-correlation-request-id", NULL
  };
  for (int i = 0; names[i]; i++) {
    const char *v = cairn_http_resp_header(r, names[i]);
    if (v)
      return v;
  }
  return NULL;
}

static void call_logged(void *ud, const struct cairn_http_req *req, int rc,
                        const cairn_err *e, const struct cairn_http_resp *resp,
                        long attempt, double secs)
{
  struct call *c = ud;
  char *url = cairn__hs_url_safe(req->url);
  json_t *f = json_pack("{s:s,s:s,s:s,s:s,s:I,s:f}", "method", req->method,
                        "url", url, "trace_id", run_trace_id(c->s),
                        "span_id", c->span, "attempt", (json_int_t)attempt,
                        "elapsed_s", secs);
  const char *rid = rc == CAIRN_OK ? request_id(resp) : NULL;

  if (c->s->corr_header)
    json_object_set_new(f, "correlation_id", json_string(c->corr));
  if (rc == CAIRN_OK)
    json_object_set_new(f, "status", json_integer(resp->status));
  else
    json_object_set_new(f, "error", json_string(e->msg));
  if (rid)
    json_object_set_new(f, "request_id", json_string(rid));
  if (rc == CAIRN_OK)
    cairn_logj(CAIRN_LOG_INFO, f, "%s %s -> %ld", req->method, url,
               resp->status);
  else
    cairn_logj(CAIRN_LOG_INFO, f, "%s %s -> %s", req->method, url, e->msg);
  free(url);
}

/* Does a request with credentials carry any: auth, or a header holding
 * a secret (an API key)? */
static int has_creds(const struct http_src *s)
{
  const char *k;
  json_t *v;
  if (s->auth.type != CAIRN__HS_AUTH_NONE)
    return 1;
  json_object_foreach(s->headers, k, v)
    if (cairn_log_has_secret(json_string_value(v)))
      return 1;
  return 0;
}

static int send_req(struct http_src *s, const struct spec *sp,
                    struct cairn_http_resp *resp, cairn_err *err);

static int token_post(void *ud, const char *url, const char *form,
                      struct cairn_http_resp *resp, cairn_err *err)
{
  struct spec sp = { "POST", url, form, "application/x-www-form-urlencoded",
                     NULL, 1, 0 };
  return send_req(ud, &sp, resp, err);
}

static int call_refresh(void *ud, cairn_err *err)
{
  struct call *c = ud;
  if (!c->creds)
    return 0;
  return cairn__hs_auth_renew(&c->s->auth, token_post, c->s, &c->auth_value,
                              err);
}

/* Refuse a URL whose host the job does not allow (before anything is
 * sent), and a downgrade from https to http. A saved delta link names the
 * host of the run that saved it: the job's endpoint changed since. */
static int check_host(struct http_src *s, const char *url, int saved_delta,
                      const char *what, cairn_err *err)
{
  struct cairn__hs_url u;
  char allowed[512], *safe;
  int rc;
  if (cairn__hs_url_parse(url, &u) < 0) {
    safe = cairn__hs_url_safe(url);
    rc = CAIRN_RAISE(err, CAIRN_EHOST, 0, "%s %s is not an absolute http(s) "
                     "URL; refused", what, safe);
    free(safe);
    return rc;
  }
  if (host_in(s->allow, &u) && !(s->https_only &&
                                 strcmp(u.scheme, "http") == 0))
    return CAIRN_OK;
  hosts_text(s->allow, allowed, sizeof allowed);
  if (host_in(s->allow, &u))
    return CAIRN_RAISE(err, CAIRN_EHOST, 0, "%s points to http://%s, a "
                       "downgrade from https; refused, nothing was sent",
                       what, u.host);
  {
    char auth[300];
    cairn__hs_url_authority(&u, auth, sizeof auth);
    if (saved_delta)
      return CAIRN_RAISE(err, CAIRN_EHOST, 0, "%s points to host %s, which "
                         "the job does not allow (allowed: %s): the job's "
                         "endpoint changed since an earlier run saved it. "
                         "Delete it for a full sync (state key \"delta\" of "
                         "job %s), or add the host to source.allow_hosts; "
                         "refused, nothing was sent to it", what, auth,
                         allowed, s->ctx->job ? s->ctx->job : "?");
    /* A replay matches requests whatever their host, while the recorded
     * answers name the host the recording was made against: a replay
     * given another endpoint meets that host in the first next link. */
    return CAIRN_RAISE(err, CAIRN_EHOST, 0, "%s points to host %s, which the "
                       "job does not allow (allowed: %s; add it to "
                       "source.allow_hosts if it is expected%s); refused, "
                       "nothing was sent to it", what, auth, allowed,
                       s->ctx->http && s->ctx->http->name &&
                               strcmp(s->ctx->http->name, "replay") == 0
                           ? ", or, if the recording was made against it, "
                             "replay with the --param values it was made "
                             "with"
                           : "");
  }
}

static int send_req(struct http_src *s, const struct spec *sp,
                    struct cairn_http_resp *resp, cairn_err *err)
{
  struct call c;
  struct cairn__hs_call cb;
  struct cairn__hs_retry pol = s->retry;
  struct cairn__hs_url u;
  int rc;

  memset(&c, 0, sizeof c);
  c.s = s;
  c.sp = sp;
  rc = check_host(s, sp->url, sp->saved_delta,
                  sp->token_request ? "the token URL"
                  : sp->saved_delta ? "the saved delta link"
                                    : "the request URL", err);
  if (rc < 0)
    return rc;
  cairn__hs_url_parse(sp->url, &u);
  c.creds = !sp->token_request && host_in(s->cred_hosts, &u);
  if ((sp->token_request || (c.creds && has_creds(s))) &&
      !cairn__hs_url_creds_ok(&u)) {
    char auth[300];
    cairn__hs_url_authority(&u, auth, sizeof auth);
    return CAIRN_RAISE(err, CAIRN_EHOST, 0, "%s is plain http://%s: the "
                       "job's credentials would cross the network in clear "
                       "text (and through any http_proxy); use https, or "
                       "plain http to this machine only (localhost, "
                       "127.0.0.0/8, [::1]); refused, nothing was sent",
                       sp->token_request ? "the token URL"
                       : sp->saved_delta ? "the saved delta link"
                                         : "the request URL", auth);
  }
  cairn__hs_uuid(c.corr);
  if (c.creds && s->auth.type != CAIRN__HS_AUTH_NONE) {
    rc = cairn__hs_auth_value(&s->auth, token_post, s, &c.auth_value, err);
    if (rc < 0)
      return rc;
  }
  if (sp->token_request)
    pol.retry_post = 1;   /* asking for a token again changes nothing */
  cb.build = call_build;
  cb.refresh = call_refresh;
  cb.logged = call_logged;
  cb.ud = &c;
  cb.need_body = strcmp(sp->method, "HEAD") != 0;
  rc = cairn__hs_perform(s->ctx->http, &pol, s->circuit_key, &cb, resp, err);
  if (rc == CAIRN_EHTTP && cairn_http_too_big(err)) {
    /* Not retried, and a rerun meets the same page: say what limits it. */
    char was[CAIRN_ERRMSG_MAX];
    long cause = err->cause;
    snprintf(was, sizeof was, "%s", err->msg);
    cairn_err_clear(err);
    rc = CAIRN_RAISE(err, CAIRN_EHTTP, cause, "%s; that is source."
                     "max_body_bytes, counted after decompression: ask for "
                     "smaller pages, or raise it if the page is genuine "
                     "(a rerun meets the same page)", was);
  }
  free(c.auth_value);
  return rc;
}

/* ---- cursors ------------------------------------------------------------- */

/* URLs kept in state (a cursor's next link, the saved delta link) are kept
 * in their safe form (cairn__hs_url_safe), never with credentials. The URL
 * to send for one: the link as received when it is the one this instance
 * just handed out, else the safe form with the job's own credential values
 * put back. CAIRN_ECHANGED when it had a credential the job does not hold
 * (a server's own signature), or (lossy, see gives_back) a secret that the
 * job's URL has no value to put back for: that link cannot be followed
 * after a restart. A mask left in the link once the values are put back
 * says the same of a link a cairn from before "lossy" kept (2026-11-27
 * 19:52 to 2026-11-28 09:16): its cursor or saved delta link does not
 * say so, and following it would send the literal mask. */
static int kept_url(const struct http_src *s, const char *kept, int lossy,
                    char **out, cairn_err *err)
{
  char missing[64];
  if (s->kept_safe && strcmp(kept, s->kept_safe) == 0) {
    *out = cairn_xstrdup(s->kept_raw);
    return CAIRN_OK;
  }
  if (cairn__hs_url_restore(kept, s->creds, out, missing, sizeof missing) < 0)
    return CAIRN_RAISE(err, CAIRN_ECHANGED, 0, "the checkpointed link %s "
                       "carried a credential (%s) that is not the job's "
                       "own, so it was not kept and cannot be followed "
                       "after a restart; rerun with --fresh", kept, missing);
  if (lossy || strstr(*out, CAIRN_HTTP_REDACTED)) {
    free(*out);
    *out = NULL;
    return CAIRN_RAISE(err, CAIRN_ECHANGED, 0, "the checkpointed link %s "
                       "carried a secret that was masked when it was kept "
                       "and that the job's URL has no value for, so it "
                       "cannot be followed after a restart; rerun with "
                       "--fresh", kept);
  }
  return CAIRN_OK;
}

/* Does the safe form kept of raw give raw back (kept_url after a
 * restart)? 1 yes; 0 it gives another URL: a registered secret masked in
 * a parameter that is not a credential by name (put back as the literal
 * REDACTED) or in the path, where the job's URL has none of it; -1 it
 * cannot be restored at all (kept_url says which credential). */
static int gives_back(const struct http_src *s, const char *kept,
                      const char *raw)
{
  char missing[64], *back = NULL;
  int same;
  if (cairn__hs_url_restore(kept, s->creds, &back, missing,
                            sizeof missing) < 0)
    return -1;
  same = strcmp(back, raw) == 0;
  free(back);
  return same;
}

struct cursor {
  long       page;     /* 1-based number of the page this cursor asks for */
  char      *url;      /* link styles: the next URL */
  char      *token;    /* token styles */
  long long  offset;   /* offset style; with a truncated total, any
                          style: the records of the round before */
  json_t    *hwm;      /* watermark so far (a copy) or NULL */
  char      *prev;     /* digest of the page before (page_digest) */
  int        lossy;    /* url does not give the link back (gives_back),
                          or token was kept masked (token_safe) */
  int        delta;    /* a page of a round that started from a saved
                          delta link (its metadata says "sync": "delta") */
};

static void cursor_clear(struct cursor *c)
{
  free(c->url);
  free(c->token);
  free(c->prev);
  json_decref(c->hwm);
  memset(c, 0, sizeof *c);
}

static int cursor_parse(const char *text, struct cursor *c, cairn_err *err)
{
  json_t *j;
  memset(c, 0, sizeof *c);
  c->page = 1;
  if (!text)
    return CAIRN_OK;
  j = json_loads(text, 0, NULL);
  if (!json_is_object(j)) {
    json_decref(j);
    return CAIRN_RAISE(err, CAIRN_ESTATE, 0, "bad http cursor: %.100s", text);
  }
  c->page = json_is_integer(json_object_get(j, "page"))
                ? (long)json_integer_value(json_object_get(j, "page")) : 1;
  c->url = cairn_xstrdup(json_string_value(json_object_get(j, "url")));
  c->token = cairn_xstrdup(json_string_value(json_object_get(j, "token")));
  c->offset = json_integer_value(json_object_get(j, "offset"));
  c->prev = cairn_xstrdup(json_string_value(json_object_get(j, "prev")));
  c->lossy = json_is_true(json_object_get(j, "lossy"));
  c->delta = json_is_true(json_object_get(j, "delta"));
  if (json_object_get(j, "hwm"))
    c->hwm = json_deep_copy(json_object_get(j, "hwm"));
  json_decref(j);
  return CAIRN_OK;
}

static char *cursor_text(const struct cursor *c)
{
  json_t *j = json_pack("{s:I}", "page", (json_int_t)c->page);
  char *out;
  if (c->url)
    json_object_set_new(j, "url", json_string(c->url));
  if (c->token)
    json_object_set_new(j, "token", json_string(c->token));
  if (c->offset)
    json_object_set_new(j, "offset", json_integer((json_int_t)c->offset));
  if (c->hwm)
    json_object_set(j, "hwm", c->hwm);
  if (c->prev)
    json_object_set_new(j, "prev", json_string(c->prev));
  if (c->lossy)
    json_object_set_new(j, "lossy", json_true());
  if (c->delta)
    json_object_set_new(j, "delta", json_true());
  out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(j);
  return out;
}

/* ---- records ------------------------------------------------------------- */

typedef int (*record_cb)(void *ud, const json_t *rec, size_t i,
                         const char *error);

/* One record to cb: the row itself, or with cols (rows_as_objects) the
 * row zipped with the column names into an object. */
static int one_record(const json_t *cols, json_t *row, size_t i,
                      record_cb cb, void *ud)
{
  json_t *obj;
  const char *why = NULL;
  int rc;

  if (!cols)
    return cb(ud, row, i, NULL);
  obj = json_object();
  if (!json_is_array(row)) {
    why = "row is not an array";
  } else if (json_array_size(row) != json_array_size(cols)) {
    why = "row and columns differ in length";
  } else {
    for (size_t k = 0; k < json_array_size(cols); k++) {
      const json_t *c = json_array_get(cols, k);
      const json_t *nm = json_is_string(c) ? c : json_object_get(c, "name");
      const char *name = json_string_value(nm);
      if (!name) {
        why = "a column has no name";
        break;
      }
      json_object_set(obj, name, json_array_get(row, k));
    }
  }
  rc = cb(ud, why ? row : obj, i, why);
  json_decref(obj);
  return rc;
}

/* The records of a parsed page: *arr_out the array at the records pointer,
 * or *one_out the object there (one record); both NULL when there are
 * none. *cols_out: the columns for rows_as_objects. */
static int find_records(const struct http_src *s, const json_t *doc,
                        json_t **arr_out, json_t **one_out,
                        const json_t **cols_out, cairn_err *err)
{
  json_t *arr = cairn_json_pointer_get(doc, s->records);
  const json_t *cols = NULL;

  *arr_out = *one_out = NULL;
  *cols_out = NULL;
  if (!arr || json_is_null(arr))
    return CAIRN_OK;
  if (json_is_object(arr) && !s->columns) {
    *one_out = arr;
    return CAIRN_OK;
  }
  if (!json_is_array(arr))
    return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "records pointer \"%s\" holds "
                       "no array in the response", s->records);
  if (s->columns) {
    cols = cairn_json_pointer_get(doc, s->columns);
    if (!json_is_array(cols) && json_array_size(arr) > 0)
      return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "rows_as_objects: no column "
                         "array at \"%s\" in the response", s->columns);
  }
  *arr_out = arr;
  *cols_out = cols;
  return CAIRN_OK;
}

/* Call cb for each record of a parsed page: the elements of the array at
 * the records pointer (zipped with the columns for rows_as_objects), or
 * the object there as one record. Missing or null: none. cb NULL: only
 * count them. */
static int each_record(const struct http_src *s, const json_t *doc,
                       record_cb cb, void *ud, size_t *n_out, cairn_err *err)
{
  json_t *arr, *one, *row;
  const json_t *cols;
  size_t i;
  int rc;

  *n_out = 0;
  rc = find_records(s, doc, &arr, &one, &cols, err);
  if (rc < 0)
    return rc;
  if (one) {
    *n_out = 1;
    return cb ? cb(ud, one, 0, NULL) : CAIRN_OK;
  }
  *n_out = json_array_size(arr);
  if (!cb)
    return CAIRN_OK;
  json_array_foreach(arr, i, row) {
    rc = one_record(cols, row, i, cb, ud);
    if (rc != 0)
      break;
  }
  return rc;
}

/* A style other than link_header on a response that says, in a Link
 * header, where its next page is: the API pages that way, and the job
 * does not follow it. "" when the response has no such link. */
static const char *link_next_hint(const struct http_src *s,
                                  const struct cairn_http_resp *resp,
                                  const char *url)
{
  char *field, *next;
  int found;
  if (s->paging.style == CAIRN__HS_PAGE_LINK_HEADER)
    return "";
  field = cairn__hs_link_field(resp);
  next = field ? cairn__hs_link_next(field, url) : NULL;
  found = next != NULL;
  free(field);
  free(next);
  return found ? "; the response has a Link header with rel=\"next\": the "
                "API pages by Link headers, \"paging\": {\"style\": "
                "\"link_header\"}"
              : "";
}

/* The records pointer that finds nothing in a page that is an object:
 * most often a misspelt pointer, which would load no record and end
 * "done". Said once per run, with the members the page has (an API that
 * leaves the array out of an empty page is told apart by them). */
static void warn_records_missing(struct http_src *s, const json_t *doc,
                                 long page)
{
  struct cairn_buf have = {0};
  const char *k;
  json_t *v;
  size_t n = 0;

  if (s->warned_records || !*s->records || !json_is_object(doc) ||
      cairn_json_pointer_get(doc, s->records))
    return;
  s->warned_records = 1;
  json_object_foreach((json_t *)doc, k, v) {
    if (n++ == 12) {
      cairn_buf_puts(&have, ", ...");
      break;
    }
    cairn_buf_printf(&have, "%s%s", have.len ? ", " : "", k);
  }
  cairn_warn("page %ld has nothing at the records pointer \"%s\" (source."
             "records), so no record is taken from it; its top-level members "
             "are: %s", page, s->records, have.len ? have.data : "none");
  cairn_buf_free(&have);
}

/* Parse a page body with the fast parser (core/json_fast.h), or with jansson
 * for its verdict on what the fast one leaves to it (then nothing was
 * skipped, and sk->at says so). */
static json_t *page_parse(const char *data, size_t len,
                          struct cairn_json_skip *sk, json_error_t *je)
{
  json_t *doc = cairn_json_fast_load(data ? data : "", len, sk);
  return doc ? doc : json_loadb(data ? data : "", len, 0, je);
}

/* A URL from a response that can be sent as it is: no space, no control
 * character (libcurl refuses those as a malformed URL). */
static int url_clean(const char *u)
{
  for (; *u; u++)
    if ((unsigned char)*u <= 0x20 || (unsigned char)*u == 0x7f)
      return 0;
  return 1;
}

static int under(const char *ptr, const char *prefix)
{
  size_t n = strlen(prefix);
  return ptr && strncmp(ptr, prefix, n) == 0 && ptr[n] == '/';
}

/* The records pointer when the parser may leave the record array unbuilt,
 * else NULL: when a pointer the caller reads lies inside the records (or,
 * for extract, a watermark reads every record). extract() only counts the
 * records; decode() then builds them one at a time. */
static const char *skippable(const struct http_src *s, int for_extract)
{
  const struct cairn__hs_paging *pg = &s->paging;
  const char *r = s->records;
  if (under(s->columns, r))
    return NULL;
  if (for_extract &&
      (s->wm_field || under(pg->pointer, r) || under(pg->total_pointer, r) ||
       under(pg->token, r) || under(pg->last, r) ||
       under(pg->trunc_pointer, r) || under(s->delta_link, r)))
    return NULL;
  return r;
}

/* ---- the page extract() checked ---------------------------------------------
 * extract() has to check a whole page before it is spooled; it parses it
 * with the record array left unbuilt (core/json_fast.h) and keeps the result
 * with the body. decode() of that very page (same bytes: the runner
 * decodes right after extracting) then starts from it and only builds
 * the records, one at a time; a spooled page after a resume, or a decode
 * by another instance, is parsed again. */

struct checked {
  char   *body;   /* the response body (owned) */
  size_t  len;
  size_t  at;     /* offset of the record array's '[' in body */
  json_t *skel;   /* the page parsed without the array's elements (owned) */
};

static void checked_free(struct checked *c)
{
  if (!c)
    return;
  free(c->body);
  json_decref(c->skel);
  free(c);
}

/* Keep a checked page: body and skel are taken over (then *body is empty
 * and *skel NULL). */
static void checked_keep(struct http_src *s, struct cairn_buf *body,
                         json_t **skel, size_t at)
{
  struct checked *c = cairn_xcalloc(1, sizeof *c);
  checked_free(s->checked);
  c->body = body->data;
  c->len = body->len;
  c->at = at;
  c->skel = *skel;
  memset(body, 0, sizeof *body);
  *skel = NULL;
  s->checked = c;
}

/* Is c the check of page pg? */
static int checked_is(const struct checked *c, const struct cairn_page *pg)
{
  return c && c->len == pg->raw.len &&
         memcmp(c->body, pg->raw.data, c->len) == 0;
}

/* The checked page if it is this one (taken out of s), else NULL. */
static struct checked *checked_take(struct http_src *s,
                                    const struct cairn_page *pg)
{
  struct checked *c = s->checked;
  s->checked = NULL;
  if (c && !checked_is(c, pg)) {
    checked_free(c);
    c = NULL;
  }
  return c;
}

/* ---- watermarks ---------------------------------------------------------- */

static const json_t *field_of(const json_t *rec, const char *f)
{
  return f[0] == '/' ? cairn_json_pointer_get(rec, f)
                     : json_object_get(rec, f);
}

/* v as a number of kind k (seconds for WM_TIME): 0, or -1 when it is not
 * one. */
static int wm_num(enum wm_kind k, const json_t *v, double *out)
{
  const char *t = json_string_value(v);
  char *end;
  int64_t secs;

  if (k == WM_NUMBER && json_is_number(v)) {
    *out = json_number_value(v);
    return 0;
  }
  if (!t || !*t || isspace((unsigned char)*t))
    return -1;
  if (k == WM_TIME) {
    if (cairn_clock_parse(t, &secs) < 0)
      return -1;
    *out = (double)secs;
    return 0;
  }
  errno = 0;
  *out = strtod(t, &end);
  return errno || *end || !isfinite(*out) ? -1 : 0;
}

static enum wm_kind wm_kind_of(const json_t *initial)
{
  double d;
  if (wm_num(WM_NUMBER, initial, &d) == 0)
    return WM_NUMBER;
  return wm_num(WM_TIME, initial, &d) == 0 ? WM_TIME : WM_TEXT;
}

static int wm_fits(enum wm_kind k, const json_t *v)
{
  double d;
  if (k != WM_TEXT)
    return wm_num(k, v, &d) == 0;
  return json_is_number(v) || json_is_boolean(v) ||
         (json_is_string(v) && *json_string_value(v));
}

/* Is a greater than b (NULL: no mark yet)? Both fit k. */
static int wm_greater(enum wm_kind k, const json_t *a, const json_t *b)
{
  char *ta, *tb;
  double x, y;
  int gt;

  if (!b)
    return 1;
  if (k != WM_TEXT)
    return wm_num(k, a, &x) == 0 && wm_num(k, b, &y) == 0 && x > y;
  if (json_is_number(a) && json_is_number(b))
    return json_number_value(a) > json_number_value(b);
  ta = scalar_text(a);
  tb = scalar_text(b);
  gt = ta && tb && strcmp(ta, tb) > 0;
  free(ta);
  free(tb);
  return gt;
}

/* The mark this run started from (text) as a value to compare with like,
 * a mark of a page: a number when like is one and the text is a number,
 * so that with marks compared as text a saved "9" still sorts below a
 * record's 12 as it does among records. New reference or NULL. */
static json_t *wm_saved(const char *text, const json_t *like)
{
  char *end;
  double d;
  if (!text)
    return NULL;
  if (json_is_number(like) && *text) {
    errno = 0;
    d = strtod(text, &end);
    if (!errno && !*end)
      return json_real(d);
  }
  return json_string(text);
}

struct wm_ctx {
  const char   *field;
  enum wm_kind  kind;
  json_t       *max;      /* borrowed from the page or the cursor */
  double        max_num;  /* max as wm_num reads it (kind != WM_TEXT) */
  long          unfit;    /* values that do not fit the kind */
  char         *example;  /* the first of them */
};

static int wm_cb(void *ud, const json_t *rec, size_t i, const char *error)
{
  struct wm_ctx *w = ud;
  const json_t *v = error ? NULL : field_of(rec, w->field);
  (void)i;
  if (!v || json_is_null(v) || json_is_object(v) || json_is_array(v) ||
      (json_is_string(v) && !*json_string_value(v)))
    return 0;
  if (w->kind != WM_TEXT) {
    /* One read of each value (a date-time parse); the max's is kept. */
    double k;
    if (wm_num(w->kind, v, &k) < 0) {
      if (w->unfit++ == 0)
        w->example = scalar_text(v);
      return 0;
    }
    if (w->max && k <= w->max_num)
      return 0;
    w->max_num = k;
  } else if (!wm_greater(WM_TEXT, v, w->max)) {
    return 0; /* any scalar left here fits text */
  }
  json_decref(w->max);
  w->max = json_deep_copy(v);
  return 0;
}

/* ---- one page ------------------------------------------------------------ */

static char *body_text(const json_t *body)
{
  return body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

/* The key a request is remembered by for loop detection. */
static void seen_key(const char *kind, const char *v, char out[65])
{
  struct cairn_sha256 h;
  cairn_sha256_init(&h);
  cairn_sha256_update(&h, kind, strlen(kind));
  cairn_sha256_update(&h, "\n", 1);
  cairn_sha256_update(&h, v, strlen(v));
  cairn_sha256_final_hex(&h, out);
}

/* The first 16 hex digits of the SHA-256 of a response body: enough to
 * tell one page from the next, small enough for every cursor. */
static void page_digest(const struct cairn_http_resp *r, char out[17])
{
  char hex[65];
  cairn_sha256_hex(r->body.data ? r->body.data : "", r->body.len, hex);
  memcpy(out, hex, 16);
  out[16] = '\0';
}

/* Remember the request cursor c stands for (loop detection): its token,
 * or 'sent', the URL sent for it (the window's first request: the saved
 * delta link, or the configured URL, also when a lapsed delta link fell
 * back to it). A link is remembered as received,
 * not by its safe form: two next links that differ only in a masked
 * value (a token rotated per page) are two pages. Only a digest of it is
 * kept, in memory: it may carry a secret. A checkpointed link that a
 * restart cannot give back (sent NULL; kept_url) is remembered by its
 * safe form, and a next link's safe form is then looked up too: two such
 * links may be taken for one, a loop is never missed. The value kept is
 * the page whose response gave that continuation (c->page - 1; 0 for the
 * window's first request), which a repeat of it names. Offsets always
 * advance and are not remembered. */
static void remember_request(struct http_src *s, const struct cursor *c,
                             const char *sent)
{
  char key[65];
  if (s->paging.style == CAIRN__HS_PAGE_OFFSET)
    return;
  if (s->paging.style == CAIRN__HS_PAGE_BODY_TOKEN ||
      s->paging.style == CAIRN__HS_PAGE_CURSOR_PARAM) {
    seen_key(c->lossy ? "safe token" : "token", c->token ? c->token : "",
             key);
    s->seen_masked |= c->lossy;
  } else if (sent) {
    seen_key("url", sent, key);
  } else {
    seen_key("safe", c->url ? c->url : "", key);
    s->seen_masked = 1;
  }
  json_object_set_new(s->seen, key, json_integer(c->page - 1));
}

/* The page that gave next link 'raw' (safe form 'kept') before, when it
 * is one this window has requested: a loop. NULL when it is new. */
static const json_t *seen_link(const struct http_src *s, const char *raw,
                               const char *kept)
{
  char key[65];
  const json_t *prev;
  seen_key("url", raw, key);
  prev = json_object_get(s->seen, key);
  if (!prev && s->seen_masked) {
    seen_key("safe", kept, key);
    prev = json_object_get(s->seen, key);
  }
  return prev;
}

/* Remember the continuation the next cursor_out asks for as received
 * (raw) and as kept (safe), both taken, so that the next extract of this
 * instance sends it as received (kept_url, and a lossy token); returns a
 * new copy of the kept form for the cursor. */
static char *keep_continuation(struct http_src *s, char *raw, char *safe)
{
  free(s->kept_raw);
  free(s->kept_safe);
  s->kept_raw = raw;
  s->kept_safe = safe;
  return cairn_xstrdup(safe);
}

/* A continuation token as a cursor keeps it: NULL when it holds no
 * registered secret (kept as received), else a new copy with the
 * secrets masked, which a restart cannot send (the cursor is lossy). */
static char *token_safe(const char *token)
{
  char *safe;
  if (!cairn_log_has_secret(token))
    return NULL;
  safe = cairn_xstrdup(token);
  cairn_log_mask(safe);
  return safe;
}

/* As seen_link, for a continuation token. */
static const json_t *seen_token(const struct http_src *s, const char *raw)
{
  char key[65], *safe;
  const json_t *prev;
  seen_key("token", raw, key);
  prev = json_object_get(s->seen, key);
  if (!prev && s->seen_masked && (safe = token_safe(raw))) {
    seen_key("safe token", safe, key);
    prev = json_object_get(s->seen, key);
    free(safe);
  }
  return prev;
}

/* Lower-cased response headers for the page metadata: repeated ones as
 * arrays, credential headers (cairn_http_secret_header, WWW-Authenticate)
 * and redacted names left out, URLs (Link, Location,
 * Content-Location) in their safe form, registered secrets masked. */
static json_t *meta_headers(const struct http_src *s,
                            const struct cairn_http_resp *r)
{
  json_t *h = json_object();
  for (size_t i = 0; i < r->n_headers; i++) {
    char name[128], *value;
    size_t j, n = strlen(r->headers[i].name);
    json_t *old, *e;
    int skip = 0;
    if (n >= sizeof name)
      continue;
    for (j = 0; j <= n; j++)
      name[j] = (char)tolower((unsigned char)r->headers[i].name[j]);
    if (cairn_http_secret_header(name) ||
        strcmp(name, "www-authenticate") == 0)
      continue;
    json_array_foreach(s->redact, j, e)
      if (strcasecmp(json_string_value(e), name) == 0)
        skip = 1;
    if (skip)
      continue;
    value = cairn_http_header_safe(name, r->headers[i].value, NULL);
    if (!value)
      value = cairn_xstrdup(r->headers[i].value);
    cairn_log_mask(value);
    old = json_object_get(h, name);
    if (!old) {
      json_object_set_new(h, name, json_string(value));
    } else if (json_is_array(old)) {
      json_array_append_new(old, json_string(value));
    } else {
      json_object_set_new(h, name, json_pack("[O,s]", old, value));
    }
    free(value);
  }
  return h;
}

/* A final HTTP error, with what the body says (ARM/Graph error envelope,
 * ServiceNow error, OAuth2 error, Jira errorMessages). */
static int http_error(const struct spec *sp, const struct cairn_http_resp *r,
                      cairn_err *err)
{
  json_t *doc = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0,
                           NULL);
  const json_t *e = json_object_get(doc, "error");
  const char *code = json_is_string(e) ? json_string_value(e)
                                       : json_string_value(
                                             json_object_get(e, "code"));
  const char *msg = json_string_value(json_object_get(e, "message"));
  const char *rid = request_id(r);
  const char *loc = cairn_http_resp_header(r, "Location");
  char *url = cairn__hs_url_safe(sp->url), text[CAIRN_ERRMSG_MAX], *said;
  char *to = NULL;
  int rc;

  if (!msg)
    msg = json_string_value(json_object_get(doc, "error_description"));
  if (!msg)
    msg = json_string_value(json_array_get(json_object_get(doc,
                                                           "errorMessages"),
                                           0));
  /* A redirect says where to (safe form, no query): the transport
   * follows none, so that the job's host checks see every request. */
  if (r->status >= 300 && r->status <= 399 && loc && *loc) {
    char *abs = cairn__hs_url_resolve(sp->url, loc);
    to = cairn__hs_url_safe(abs ? abs : loc);
    to[strcspn(to, "?")] = '\0';
    free(abs);
  }
  url[strcspn(url, "?")] = '\0';
  /* The server's words masked whole before they are cut to 200 bytes. */
  said = cairn_xstrdup(msg ? msg : "");
  cairn_log_mask(said);
  snprintf(text, sizeof text, "%s %s: HTTP %ld %s%s%s%s%.200s%s%s%s%s%.200s%s",
           sp->method, url, r->status, cairn_http_reason(r->status),
           code ? ": " : "", code ? code : "", msg ? ": " : "", said,
           rid ? " (request id " : "", rid ? rid : "", rid ? ")" : "",
           to ? ", a redirect to " : "", to ? to : "",
           to ? ", which cairn does not follow: give the job the URL it "
                "leads to (request.url or the endpoint parameter)" : "");
  free(said);
  free(to);
  cairn_log_mask(text);
  rc = CAIRN_RAISE(err, CAIRN_EHTTP, r->status, "%s", text);
  free(url);
  json_decref(doc);
  return rc;
}

/* A 4xx that is not about credentials (401, 403, 407) or pace (408, 429)
 * answering a continuation (a token, a next link) the checkpoint kept
 * from an earlier run: the server no longer takes it, most likely because
 * it lapsed while the window waited (Resource Graph $skipToken, Cost
 * Management and Policy nextLink, Sentinel, Defender, Jira tokens live
 * minutes to hours). A plain rerun would send it again and fail the same
 * way, so it is CAIRN_ECHANGED, whose summary says to rerun with --fresh;
 * the message says what --fresh does to the data. Other answers are
 * http_error's. */
static int lapsed_continuation(const struct spec *sp,
                               const struct cairn_http_resp *r,
                               const struct cursor *cur, cairn_err *err)
{
  cairn_err said = { 0 };
  long st = r->status;
  if (st < 400 || st > 499 || st == 401 || st == 403 || st == 407 ||
      st == 408 || st == 429)
    return http_error(sp, r, err);
  http_error(sp, r, &said);
  return CAIRN_RAISE(err, CAIRN_ECHANGED, st, "the server refused the %s "
                     "of page %ld kept by the checkpoint (most likely "
                     "expired since; a plain rerun sends it again): rerun "
                     "with --fresh, which starts the window over and loads "
                     "its %ld page%s before again (upsert and "
                     "replace_partition sinks replace their rows, append "
                     "sinks add them twice: delete the window's rows "
                     "first). %s", cur->token ? "continuation token"
                                              : "next link",
                     cur->page, cur->page - 1, cur->page == 2 ? "" : "s",
                     said.msg);
}

static int delta_expired(const struct http_src *s,
                         const struct cairn_http_resp *r)
{
  size_t i;
  json_t *v;
  int hit = 0;
  if (r->status < 400)
    return 0;
  json_array_foreach(s->expired_status, i, v)
    if (json_integer_value(v) == r->status)
      return 1;
  if (s->expired_pointer && json_array_size(s->expired_codes)) {
    json_t *doc = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0,
                             NULL);
    const char *code = json_string_value(
        cairn_json_pointer_get(doc, s->expired_pointer));
    json_array_foreach(s->expired_codes, i, v)
      if (code && json_string_value(v) && strcmp(code,
                                                 json_string_value(v)) == 0)
        hit = 1;
    json_decref(doc);
  }
  return hit;
}

static char *kv_etag_key(const char *url)
{
  /* The URL names the key unless it holds a credential (its safe form
   * differs): state never does. */
  char *safe = cairn__hs_url_safe(url), *key;
  if (strcmp(safe, url) != 0) {
    char hex[65];
    cairn_sha256_hex(url, strlen(url), hex);
    key = cairn_strfmt("etag:sha256:%s", hex);
  } else {
    key = cairn_strfmt("etag:%s", url);
  }
  free(safe);
  return key;
}

/* The saved delta link to start from (new string), or NULL for a full sync
 * when it cannot be followed (it carried a credential that is not the
 * job's own, so it was kept without it). */
static char *saved_delta(const struct http_src *s, const char *kept)
{
  cairn_err e = { 0 };
  char *u = NULL;
  if (kept_url(s, kept, 0, &u, &e) < 0) {
    cairn_warn("%s: a full sync instead", e.msg);
    return NULL;
  }
  return u;
}

/* Where the next round starts when this one keeps no delta link: from
 * the link saved before, which stays in the state (its changes are a
 * superset of this round's), else with a full sync. */
static const char *next_round(const struct http_src *s)
{
  return s->use_state && s->ctx->kv_get(s->ctx->kv_ud, "delta")
             ? "the next run starts again from the delta link saved before"
             : "the next run syncs everything again";
}

/* A window resumed from its checkpoint (this instance's first extract
 * has a cursor) of a job whose records come sorted by the mark
 * (watermark.sorted): its query is asked again from the largest mark the
 * window loaded (or the run's start, if none is larger), at the first
 * page's position, instead of at the checkpointed one. Records changed
 * since the checkpoint moved to the end of the order, shifting the rest
 * towards the start: followed, that position would skip as many records
 * as moved (an outage of some nights moves many). The records at the
 * mark come again and replace themselves in the upsert (a reject of one
 * replaces its earlier one: cairn_state_chunk_transformed). Loop checks
 * start over with the new pass: an earlier pass from the same mark (a resume
 * before this one) made the requests it makes again. */
static int restart_from_mark(struct http_src *s, struct cursor *c,
                             cairn_err *err)
{
  json_t *start = wm_saved(s->wm_value, c->hwm);
  const char *ptr;
  char *mark = c->hwm && wm_greater(s->wm_kind, c->hwm, start)
                   ? scalar_text(c->hwm) : NULL;
  int rc;

  json_decref(start);
  if (!mark)
    mark = cairn_xstrdup(s->wm_value);
  rc = request_build(s, json_object_get(s->ctx->cfg, "request"), mark, &ptr,
                     err);
  if (rc == CAIRN_OK) {
    cairn_info("watermark: the resumed window asks again from the largest "
               "mark it loaded, %s, from the first page's position (not "
               "page %ld's: records changed since the checkpoint may have "
               "moved it)", mark, c->page);
    free(c->url);
    free(c->token);
    free(c->prev);
    c->url = c->token = c->prev = NULL;
    c->lossy = 0;
    c->offset = s->paging.start;
    json_object_clear(s->seen);
    s->seen_masked = 0;
  }
  free(mark);
  return rc;
}

static int http_extract(cairn_source *base, const char *cursor_in,
                        struct cairn_page *page, cairn_err *err)
{
  struct http_src *s = (struct http_src *)base;
  const struct cairn_source_ctx *ctx = s->ctx;
  struct cursor cur = {0}, nxt = {0};
  struct cairn__hs_next next = {0};
  struct cairn_http_resp resp = {0};
  struct spec sp = {0};
  char *url = NULL, *body = NULL, *etag_key = NULL, *delta = NULL;
  char *next_kept = NULL, nxt_prev[17];
  json_t *doc = NULL, *bodyj = NULL, *meta = NULL;
  struct cairn_json_skip sk = { NULL, CAIRN_JSON_NOWHERE };
  const char *sync = NULL;
  size_t n_records = 0;
  long long offset = 0;
  int rc, first = cursor_in == NULL, kept_cont = 0;

  rc = cursor_parse(cursor_in, &cur, err);
  if (rc < 0)
    goto done;
  if (cur.page > s->paging.max_pages) {
    rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "paging: more than max_pages "
                     "(%ld) pages in this window; stopping (a server that "
                     "ignores the page position? if the source really has "
                     "more, raise source.paging.max_pages)",
                     s->paging.max_pages);
    goto done;
  }

  if (cursor_in && !s->extracted && s->wm_sorted && s->wm_value &&
      (rc = restart_from_mark(s, &cur, err)) < 0)
    goto done;
  /* The first request of a resumed window, from a continuation an earlier
   * run received (it may have lapsed since: see lapsed_continuation). */
  kept_cont = cursor_in && !s->extracted && (cur.token || cur.url);
  s->extracted = 1;
  /* The offset asked for; with a truncated total, the records before. */
  offset = cursor_in ? cur.offset : s->paging.start;

  /* The request this cursor stands for. */
  sp.method = s->method;
  sp.content_type = "application/json";
  if (first && s->delta_link && s->use_state &&
      ctx->kv_get(ctx->kv_ud, "delta") &&
      (delta = saved_delta(s, ctx->kv_get(ctx->kv_ud, "delta")))) {
    url = cairn_xstrdup(delta);
    sp.method = "GET";
    sp.saved_delta = 1;
    sync = "delta";
  } else {
    /* The later pages of a round are "delta" as its first was. */
    if (s->delta_link)
      sync = cur.delta ? "delta" : "full";
    if (cur.token && cur.lossy) {
      /* A token kept masked: only the instance that handed it out still
       * holds it as received. */
      if (!s->kept_safe || strcmp(cur.token, s->kept_safe) != 0) {
        rc = CAIRN_RAISE(err, CAIRN_ECHANGED, 0, "the checkpointed "
                         "continuation token of page %ld carried a secret "
                         "that was masked when it was kept, so it cannot "
                         "be sent after a restart; rerun with --fresh",
                         cur.page);
        goto done;
      }
      free(cur.token);
      cur.token = cairn_xstrdup(s->kept_raw);
      cur.lossy = 0;
    }
    switch (s->paging.style) {
    case CAIRN__HS_PAGE_NEXT_LINK:
    case CAIRN__HS_PAGE_LINK_HEADER:
      if (!cur.url)
        url = cairn_xstrdup(s->url);
      else if ((rc = kept_url(s, cur.url, cur.lossy, &url, err)) < 0)
        goto done;
      if (!cur.url || s->paging.repost)
        body = body_text(s->body);
      else
        sp.method = "GET";
      break;
    case CAIRN__HS_PAGE_OFFSET: {
      char num[32], *u1;
      snprintf(num, sizeof num, "%ld", s->paging.limit);
      u1 = cairn__hs_url_set_param(s->url, s->paging.limit_param, num);
      snprintf(num, sizeof num, "%lld", offset);
      url = cairn__hs_url_set_param(u1, s->paging.offset_param, num);
      free(u1);
      body = body_text(s->body);
      break;
    }
    case CAIRN__HS_PAGE_BODY_TOKEN:
      url = cairn_xstrdup(s->url);
      bodyj = json_deep_copy(s->body);
      if (cur.token &&
          cairn_json_pointer_set(bodyj, s->paging.body_pointer,
                                 json_string(cur.token)) < 0) {
        rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "paging: cannot set %s in the "
                         "request body", s->paging.body_pointer);
        goto done;
      }
      body = body_text(bodyj);
      break;
    case CAIRN__HS_PAGE_CURSOR_PARAM:
      url = cur.token ? cairn__hs_url_set_param(s->url, s->paging.param,
                                                cur.token)
                      : cairn_xstrdup(s->url);
      body = body_text(s->body);
      break;
    default:
      url = cairn_xstrdup(s->url);
      body = body_text(s->body);
      break;
    }
  }
  sp.url = url;
  sp.body = body;
  if (s->conditional && first && s->use_state && !delta) {
    etag_key = kv_etag_key(url);
    sp.if_none_match = ctx->kv_get(ctx->kv_ud, etag_key);
  }

  rc = send_req(s, &sp, &resp, err);
  if (rc < 0)
    goto done;
  /* The saved delta link, or a later page of the round (a next link that
   * lapsed while the round was interrupted: Graph answers its $skiptoken
   * with 410 too), answers "expired": the round cannot go on from there.
   * A later page falls back to a full sync at this page of the window:
   * the pages loaded before it are older than what the full sync loads
   * after them. */
  if ((delta || (s->delta_link && !first)) && delta_expired(s, &resp)) {
    char what[64], *safe = cairn__hs_url_safe(url);
    if (delta)
      snprintf(what, sizeof what, "the saved delta link");
    else
      snprintf(what, sizeof what, "the next link of page %ld", cur.page);
    if (s->delta_fail) {
      /* A rerun would resume at the same lapsed page: --fresh starts
       * over from the saved delta link. */
      rc = CAIRN_RAISE(err, delta ? CAIRN_EHTTP : CAIRN_ECHANGED, resp.status,
                       "%s expired (HTTP %ld) and source.delta.on_expired "
                       "is \"fail\"%s", what, resp.status,
                       delta ? "" : "; rerun with --fresh to start the round "
                                    "over from the saved delta link");
      free(safe);
      goto done;
    }
    cairn_logj(CAIRN_LOG_WARN, json_pack("{s:s,s:i}", "delta_link", safe,
                                         "status", (int)resp.status),
               "%s expired (HTTP %ld %s): falling back to a full sync, as "
               "the job declares (delta.on_expired: full)", what,
               resp.status, cairn_http_reason(resp.status));
    cairn_metrics_add("cairn_http_delta_expired_total", 1, NULL);
    free(safe);
    free(url);
    url = cairn_xstrdup(s->url);
    free(body);
    body = body_text(s->body);
    sp.method = s->method;
    sp.url = url;
    sp.body = body;
    sp.saved_delta = 0;
    sync = "full";
    page->resynced = !delta;
    rc = send_req(s, &sp, &resp, err);
    if (rc < 0)
      goto done;
  }
  if (resp.status == 304) {
    cairn_metrics_add("cairn_http_not_modified_total", 1, NULL);
    cairn_info("not modified (HTTP 304, ETag %s): no records",
               sp.if_none_match ? sp.if_none_match : "?");
  } else if (resp.status < 200 || resp.status > 299) {
    rc = kept_cont ? lapsed_continuation(&sp, &resp, &cur, err)
                   : http_error(&sp, &resp, err);
    goto done;
  } else if (resp.body.len > 0) {
    json_error_t je;
    /* The page is spooled (and decoded) without it. */
    cairn_json_drop_bom(&resp.body, 0);
    sk.ptr = skippable(s, 1);
    doc = page_parse(resp.body.data, resp.body.len, &sk, &je);
    if (!doc) {
      char *safe = cairn__hs_url_safe(url);
      /* The body's head masked before it is cut to 60 bytes: a secret the
       * reply echoes across the cut would leave its first bytes otherwise
       * (cairn_err_set masks only what is left after the cut). 64 KiB of
       * it, not all of a page of up to 64 MiB: no secret is that long. */
      char *said = cairn_xstrndup(resp.body.data, resp.body.len < 65536
                                                      ? resp.body.len
                                                      : 65536);
      cairn_log_mask(said);
      safe[strcspn(safe, "?")] = '\0';
      rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s %s: HTTP %ld but the body is "
                       "not JSON (%s at byte %d): %.60s", sp.method, safe,
                       resp.status, je.text, je.position, said);
      free(said);
      free(safe);
      goto done;
    }
  }

  /* Records (their count drives offset paging and the hint). */
  if (doc)
    warn_records_missing(s, doc, cur.page);
  if (doc) {
    /* A cursor's mark of the wrong kind (an earlier version's) is not
     * carried: no record could pass it. */
    struct wm_ctx w = { s->wm_field, s->wm_kind, NULL, 0, 0, NULL };
    if (cur.hwm && (w.kind == WM_TEXT ||
                    wm_num(w.kind, cur.hwm, &w.max_num) == 0))
      w.max = json_incref(cur.hwm);
    rc = each_record(s, doc, s->wm_field ? wm_cb : NULL, &w, &n_records, err);
    if (w.unfit) {
      char *ex = cairn_onelinef("%.80s", w.example ? w.example : "");
      cairn_warn("watermark: %ld record(s) of page %ld have a %s that is "
                 "not a %s like the initial value (e.g. \"%s\"); they do "
                 "not move the mark", w.unfit, cur.page, s->wm_field,
                 s->wm_kind == WM_TIME ? "date-time" : "number", ex);
      free(ex);
      free(w.example);
    }
    if (rc < 0) {
      json_decref(w.max);
      goto done;
    }
    nxt.hwm = w.max;
  } else if (cur.hwm) {
    nxt.hwm = json_incref(cur.hwm);
  }

  /* Where the next page is. A 304 or an empty body (a 204: another empty
   * 2xx was retried as a truncated reply) ends the window. */
  if (doc && resp.status != 304) {
    rc = cairn__hs_paging_next(&s->paging, url, offset, doc, &resp, n_records,
                               &next, err);
    if (rc < 0)
      goto done;
    if (!next.more && *link_next_hint(s, &resp, url))
      cairn_warn("page %ld ends the window by the job's paging (%s), but "
                 "its response has a Link header with rel=\"next\": the "
                 "pages after it are not loaded. If the API pages by Link "
                 "headers, give the job \"paging\": {\"style\": "
                 "\"link_header\"}", cur.page,
                 s->paging.style == CAIRN__HS_PAGE_NONE
                     ? "none: one page"
                     : cairn__hs_paging_style_name(s->paging.style));
  }
  remember_request(s, &cur, url); /* the job's URL after a lapsed delta */
  if (next.more && next.url && !url_clean(next.url)) {
    /* libcurl refuses it (a malformed URL, which would read as the job's
     * fault), and a checkpointed cursor would hold it for every rerun. */
    rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "paging: the next link of page %ld "
                     "holds spaces or control characters; refused, "
                     "nothing was sent to it", cur.page);
    goto done;
  }
  if (next.url)
    next_kept = cairn__hs_url_safe(next.url);
  if (next.more && (next.token || next.url)) {
    /* Offsets always advance; tokens and links may repeat. */
    int tok = next.token != NULL;
    const json_t *prev;
    if (tok) {
      prev = seen_token(s, next.token);
    } else {
      prev = seen_link(s, next.url, next_kept);
    }
    if (prev) {
      /* Named: this page, and the one that gave the continuation first
       * (not the page that was then requested with it). */
      char gave[96];
      if (json_integer_value(prev) > 0)
        snprintf(gave, sizeof gave, "the same %s as page %"
                 JSON_INTEGER_FORMAT " already did",
                 tok ? "continuation token" : "next link",
                 json_integer_value(prev));
      else
        snprintf(gave, sizeof gave, "as its next link the URL of page 1");
      rc = CAIRN_RAISE(err, CAIRN_ELOOP, 0, "paging loop: page %ld gives %s; "
                       "stopping instead of fetching forever (the server "
                       "repeats itself: check the query's order and "
                       "filters)", cur.page, gave);
      goto done;
    }
    if (next.url) {
      /* Refuse a foreign next link now, before it becomes a cursor. */
      rc = check_host(s, next.url, 0, "the next link", err);
      if (rc < 0)
        goto done;
    }
  }
  if (next.more) {
    /* A page identical to the one before it: the server ignores what
     * asks for the next page (an offset parameter it does not know, a
     * page number in a next link), and would serve it forever. Not a
     * page without records: ServiceNow drops the rows its ACLs hide
     * after cutting the page, so {"result":[]} can come twice in a row
     * at two offsets, each with its Link rel="next" (a continuation
     * that repeats is caught above). */
    page_digest(&resp, nxt_prev);
    if (cur.prev && n_records > 0 && strcmp(cur.prev, nxt_prev) == 0) {
      rc = CAIRN_RAISE(err, CAIRN_ELOOP, 0, "paging loop: page %ld is "
                       "identical to page %ld; stopping instead of fetching "
                       "forever (the server ignores %s%s%s)%s", cur.page,
                       cur.page - 1,
                       s->paging.style == CAIRN__HS_PAGE_OFFSET
                           ? "the offset: check offset_param \""
                           : "the continuation",
                       s->paging.style == CAIRN__HS_PAGE_OFFSET
                           ? s->paging.offset_param : "",
                       s->paging.style == CAIRN__HS_PAGE_OFFSET ? "\"" : "",
                       link_next_hint(s, &resp, url));
      goto done;
    }
  }

  /* Incremental state, staged until the window is loaded. */
  if (s->use_state) {
    if (etag_key && resp.status >= 200 && resp.status <= 299) {
      const char *etag = cairn_http_resp_header(&resp, "ETag");
      /* An ETag holding a secret is not kept (the state holds no
       * secret, and a masked one would never match): the one saved
       * before is cleared too, and the next run fetches the page whole. */
      if (etag && cairn_log_has_secret(etag)) {
        cairn_warn("the page's ETag holds a secret and is not kept: the "
                   "next run fetches the page whole");
        etag = "";
      }
      if (etag)
        ctx->kv_put(ctx->kv_ud, etag_key, etag);
    }
    if (nxt.hwm && s->wm_field) {
      /* Never move the mark back below where this run started. */
      json_t *start = wm_saved(s->wm_value, nxt.hwm);
      char *t = scalar_text(nxt.hwm);
      if (t && !wm_greater(s->wm_kind, start, nxt.hwm))
        ctx->kv_put(ctx->kv_ud, "watermark", t);
      free(t);
      json_decref(start);
    }
    if (!next.more && s->delta_link && doc) {
      const json_t *dl = cairn_json_pointer_get(doc, s->delta_link);
      if (json_is_string(dl) && !url_clean(json_string_value(dl))) {
        cairn_warn("the delta link at %s holds spaces or control "
                   "characters: not kept, %s", s->delta_link, next_round(s));
      } else if (json_is_string(dl) && *json_string_value(dl)) {
        char *abs = cairn__hs_url_resolve(url, json_string_value(dl));
        char *safe = NULL;
        cairn_err he = { 0 };
        /* A link the next run would refuse (a host the job does not
         * allow, a downgrade to http) is not kept: kept, it would fail
         * every later run, blaming a changed endpoint. */
        if (!abs)
          cairn_warn("the delta link at %s is not a URI reference (RFC "
                     "3986: the text before its first ':' is not a "
                     "scheme); not kept, %s", s->delta_link, next_round(s));
        else if (check_host(s, abs, 0, "the delta link", &he) < 0)
          cairn_warn("%s; not kept, %s", he.msg, next_round(s));
        else
          safe = cairn__hs_url_safe(abs);
        if (safe && gives_back(s, safe, abs) == 0) {
          /* The next run would send another URL (see gives_back). */
          cairn_warn("the delta link at %s holds a secret that state keeps "
                     "masked and the job's URL has no value for: not kept, "
                     "%s", s->delta_link, next_round(s));
          free(safe);
          safe = NULL;
        }
        if (safe)
          ctx->kv_put(ctx->kv_ud, "delta", safe);
        free(safe);
        free(abs);
      } else if (resp.status != 304) {
        cairn_warn("the last page has no delta link at %s: %s",
                   s->delta_link, next_round(s));
      }
    }
  }

  /* The page: body and metadata; the cursor of the next page. */
  meta = json_pack("{s:i,s:o,s:I}", "status", (int)resp.status, "headers",
                   meta_headers(s, &resp), "page", (json_int_t)cur.page);
  {
    char *safe = cairn__hs_url_safe(url);
    int64_t t;
    json_object_set_new(meta, "url", json_string(safe));
    free(safe);
    if (cairn__hs_http_date(cairn_http_resp_header(&resp, "Date"), &t) == 0) {
      char iso[32];
      cairn_clock_fmt(t, iso, sizeof iso);
      json_object_set_new(meta, "date", json_string(iso));
    }
    if (sync)
      json_object_set_new(meta, "sync", json_string(sync));
  }
  page->meta = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
  cairn_buf_reset(&page->raw);
  if (resp.status != 304 && resp.body.len)
    cairn_buf_append(&page->raw, resp.body.data, resp.body.len);
  page->n_hint = (long)n_records;
  /* (an expired delta link's fallback to a full sync, and a conditional
   * request answered with the whole resource, are full extractions) */
  page->narrowed = first && (sp.saved_delta || resp.status == 304 ||
                             s->wm_saved);
  if (next.more) {
    nxt.page = cur.page + 1;
    nxt.prev = cairn_xstrdup(nxt_prev);
    if (next.url) {
      /* Kept without credentials; a restart can follow it only if the
       * kept form gives it back. */
      nxt.lossy = gives_back(s, next_kept, next.url) == 0;
      nxt.url = keep_continuation(s, next.url, next_kept);
      next.url = next_kept = NULL;
    } else if (next.token && (next_kept = token_safe(next.token))) {
      nxt.lossy = 1; /* kept masked, as a link is */
      next.token = keep_continuation(s, next.token, next_kept);
      next_kept = NULL;
    }
    nxt.token = next.token;
    nxt.offset = next.offset;
    nxt.delta = sync && strcmp(sync, "delta") == 0;
    next.url = next.token = NULL;
    page->cursor_out = cursor_text(&nxt);
  }
  if (doc && resp.status != 304 && sk.at != CAIRN_JSON_NOWHERE)
    checked_keep(s, &resp.body, &doc, sk.at);
done:
  cairn__hs_next_clear(&next);
  cursor_clear(&cur);
  cursor_clear(&nxt);
  cairn_http_resp_free(&resp);
  json_decref(doc);
  json_decref(bodyj);
  json_decref(meta);
  free(url);
  free(body);
  free(etag_key);
  free(delta);
  free(next_kept);
  return rc;
}

/* ---- decode -------------------------------------------------------------- */

struct dec_ctx {
  const json_t   *meta;
  cairn_record_fn emit;
  void           *ud;
  char            pos[64];    /* "page <seq> #", then the record number */
  size_t          pos_prefix; /* strlen of "page <seq> #" */
};

static int dec_cb(void *ud, const json_t *rec, size_t i, const char *error)
{
  struct dec_ctx *d = ud;
  struct cairn_record r;

  /* No raw text: the transform keeps the canonical JSON of a rejected JSON
   * record, so printing every record here was wasted work. */
  memset(&r, 0, sizeof r);
  cairn__put_line(d->pos, d->pos_prefix, (long)i + 1);
  r.json = rec;
  r.meta = d->meta;
  r.position = d->pos;
  r.error = error;
  return d->emit(d->ud, &r);
}

struct stream_ctx {
  const json_t *cols;
  record_cb     cb;
  void         *ud;
};

static int stream_cb(void *ud, json_t *row, size_t i)
{
  struct stream_ctx *c = ud;
  return one_record(c->cols, row, i, c->cb, c->ud);
}

/* The page is parsed with its record array left unbuilt (checked, though,
 * so a bad page fails before any record is emitted), then the records are
 * built, emitted and released one at a time: a page's tree never exists
 * whole, which keeps the allocator's work in cache-warm reuse.
 * In parts, each part builds its share of the array's elements and scans
 * past the ones before it; that needs the page extract() checked (left in
 * s, shared read-only by the parts, freed by the next extract), else
 * part 0 decodes the whole page. */
static int http_decode_part(cairn_source *base, long seq,
                            const struct cairn_page *page, unsigned part,
                            unsigned n_parts, cairn_record_fn emit, void *ud,
                            cairn_err *err)
{
  struct http_src *s = (struct http_src *)base;
  json_t *meta = page->meta ? json_loads(page->meta, 0, NULL) : NULL;
  json_t *doc = NULL, *arr, *one;
  const json_t *cols;
  struct dec_ctx d = { meta, emit, ud, "", 0 };
  struct cairn_json_skip sk = { skippable(s, 0), 0 };
  struct checked *chk = NULL;
  json_error_t je = { 0 };
  size_t n;
  int rc = CAIRN_OK, in_parts, split;

  if (n_parts < 1 || part >= n_parts)
    n_parts = 1, part = 0;
  /* Parts only read s->checked (another part may be reading it). */
  in_parts = n_parts > 1;
  split = in_parts && sk.ptr && checked_is(s->checked, page);
  if (page->raw.len == 0 ||
      json_integer_value(json_object_get(meta, "status")) == 304 ||
      (!split && part > 0))
    goto done;
  if (!split)
    n_parts = 1; /* part 0 decodes it all */
  snprintf(d.pos, sizeof d.pos, "page %ld #", seq);
  d.pos_prefix = strlen(d.pos);
  if (split) {
    /* borrowed, not json_incref'd: jansson's incref reads the count
     * before its atomic add, a race with the other part's */
    doc = s->checked->skel;
    sk.at = s->checked->at;
  } else {
    chk = in_parts ? NULL : checked_take(s, page);
    if (chk && sk.ptr) {
      doc = chk->skel;
      chk->skel = NULL;
      sk.at = chk->at;
    } else {
      doc = page_parse(page->raw.data, page->raw.len, &sk, &je);
    }
    checked_free(chk);
  }
  if (!doc) {
    rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "page %ld is not JSON: %s at byte "
                     "%d", seq, je.text, je.position);
    goto done;
  }
  rc = find_records(s, doc, &arr, &one, &cols, err);
  if (rc < 0)
    goto done;
  if (arr && sk.at != CAIRN_JSON_NOWHERE) {
    struct stream_ctx c = { cols, dec_cb, &d };
    size_t n_el = json_array_size(arr);
    /* rounded up: part 0 is never the empty one */
    size_t from = (n_el * part + n_parts - 1) / n_parts;
    size_t to = (n_el * (part + 1) + n_parts - 1) / n_parts;
    int cb_rc;
    if (cairn_json_fast_each(page->raw.data, page->raw.len, sk.at, from, to,
                             stream_cb, &c, &cb_rc) < 0)
      rc = CAIRN_RAISE(err, CAIRN_EINTERNAL, 0, "page %ld: the record array "
                       "no longer parses", seq);
    else
      rc = cb_rc;
    goto done;
  }
  /* not split here: a split page's record array was skipped, so it
   * streams above; part is 0 */
  rc = each_record(s, doc, dec_cb, &d, &n, err);
done:
  if (!split)
    json_decref(doc);
  json_decref(meta);
  return rc;
}

static int http_decode(cairn_source *base, long seq,
                       const struct cairn_page *page, cairn_record_fn emit,
                       void *ud, cairn_err *err)
{
  return http_decode_part(base, seq, page, 0, 1, emit, ud, err);
}

/* A resumed window's checkpointed chunk: its request was made, so a
 * continuation back to it is a loop now as it would have been before the
 * restart (a rerun fails at once and adds no chunk). */
static void http_checkpointed(cairn_source *base, const char *cursor_in)
{
  struct http_src *s = (struct http_src *)base;
  struct cursor c;
  cairn_err e = { 0 };
  char *sent = NULL;
  const char *d;
  if (cursor_parse(cursor_in, &c, &e) == CAIRN_OK) {
    /* The URL its extract sent: the kept link given back (NULL when it
     * cannot be), or the window's first: the saved delta link, or the
     * job's URL, which a delta link that had lapsed falls back to. The
     * checkpoint does not say which it was: both, then. */
    if (c.url) {
      if (kept_url(s, c.url, c.lossy, &sent, &e) < 0)
        sent = NULL;
    } else {
      d = s->delta_link && s->use_state
              ? s->ctx->kv_get(s->ctx->kv_ud, "delta") : NULL;
      if (d && kept_url(s, d, 0, &sent, &e) == 0) {
        remember_request(s, &c, sent);
        free(sent);
      }
      sent = cairn_xstrdup(s->url);
    }
    remember_request(s, &c, sent);
  }
  free(sent);
  cursor_clear(&c);
}

const cairn_source_ops cairn_source_http_ops = {
  CAIRN_SOURCE_ABI, "http", sizeof(struct http_src), 0,
  http_check, http_open, http_extract, http_decode, http_close,
  http_decode_part, http_checkpointed, NULL, NULL,
};
