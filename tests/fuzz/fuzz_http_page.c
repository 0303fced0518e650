/* SPDX-License-Identifier: MIT */
/* fuzz_http_page.c -- the http source over arbitrary responses: paging
 * (next links, @odata.nextLink, ServiceNow's Link header, offsets with a
 * total, Resource Graph's $skipToken, Jira's nextPageToken), delta links,
 * ETags, watermarks and the page-to-records path, without network.
 *
 * Input: two config bytes, then the responses, one after the other,
 * separated by a line "%%". Each response is a status line, header lines
 * ("Name: value") up to an empty line, then the body (raw HTTP without
 * the version). Byte 0: bits 0-2 the paging style, bits 3-5 where the
 * records are, bit 6 a watermark, bit 7 delta links; byte 1: bit 0 a
 * truncated pointer, bit 1 conditional requests, bit 2 state saved by an
 * earlier run (delta link, watermark, ETag), bit 3 three attempts instead
 * of one, bit 4 a numeric watermark, bit 5 a backfill, bit 6 max_pages 3,
 * bit 7 allow_hosts *.example.net.
 *
 * The k-th request the source sends is answered with the k-th response,
 * through the replay transport: a one-entry HAR recording of that very
 * request is written for it. Whatever the bytes:
 *   - every request goes to an allowed host (api.example.com, or
 *     *.example.net when allowed), https, and its URL holds no space or
 *     control character; it carries the job's bearer token exactly when
 *     it goes to the job's own origin; the HAR recorded from it matches
 *     it;
 *   - the token (a registered secret, as the job loader registers them)
 *     never shows in page metadata, cursors, errors or staged state;
 *   - every extract ends in a page or an error with a message; a page's
 *     cursor_out is a JSON object whose link, if any, is clean too, and
 *     a delta link staged for the next run is clean;
 *   - a page extract() accepted decodes without error into exactly
 *     n_hint records, numbered "page <seq> #1".."#n", the same on the
 *     instance that extracted it (which kept the checked page), on
 *     another instance (a spooled page), and in 2 or 3 parts;
 *   - the same input pulled twice gives the same requests, pages,
 *     records, cursors, staged state and outcome;
 *   - a new source resumed from the cursor of any page (told the cursors
 *     before it, as the runner does after a restart) sends the request
 *     the first pull sent for the next page and, given the same response,
 *     gives the same page, or fails as the first pull did; or refuses a
 *     link or token kept in another form than the one sent (a credential
 *     or secret masked, or a link that holds the mask's text itself,
 *     which a cairn from before the "lossy" flag left in such links) that
 *     it cannot give back (CAIRN_ECHANGED); or,
 *     when a link before it was kept in such a form, stops at a paging
 *     loop (CAIRN_ELOOP: a restart compares that link by its safe form,
 *     so a next link that differs from it only in what is masked is
 *     taken for it). */
#include "fuzz.h"
#include "core/codec.h"
#include "core/hash.h"
#include "core/log.h"
#include "http/http.h"
#include "source/source.h"
#include "source/src_http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum { MAX_RESPONSES = 12, MAX_PAGES = 16 };

#define ORIGIN "https://api.example.com"
/* The job's bearer token, registered as a secret as the job loader does. */
#define SECRET "fz-Secret-Token-0042"
#define SEP "\n%%\n"

struct response {
  long        status;
  json_t     *headers;   /* HAR headers: [{"name":..,"value":..}] */
  const char *body;      /* into the input */
  size_t      body_len;
};

/* The transport: each request answered with the next response, replayed
 * from a HAR recording of that request. */
struct pager {
  cairn_http_transport base;     /* first */
  struct response     *resp;
  size_t               n_resp, next;
  int                  allow_net;/* *.example.net allowed */
  json_t              *log;      /* [{"m","u","b","r"}] per request: method,
                                    URL, body, response index (-1: none) */
};

static char har_path[96];

static int url_clean(const char *u)
{
  for (; *u; u++)
    if ((unsigned char)*u <= 0x20 || (unsigned char)*u == 0x7f)
      return 0;
  return 1;
}

static int host_allowed(const struct pager *p, const char *url)
{
  struct cairn__hs_url u;
  size_t n;
  if (cairn__hs_url_parse(url, &u) < 0 || strcmp(u.scheme, "https") != 0)
    return 0;
  if (strcmp(u.host, "api.example.com") == 0)
    return 1;
  n = strlen(u.host);
  return p->allow_net && n > 12 &&
         strcasecmp(u.host + n - 12, ".example.net") == 0;
}

static const char *req_header(const struct cairn_http_req *req,
                              const char *name)
{
  for (size_t i = 0; i < req->n_headers; i++)
    if (strcasecmp(req->headers[i].name, name) == 0)
      return req->headers[i].value;
  return NULL;
}

static int pager_perform(cairn_http_transport *t,
                         const struct cairn_http_req *req,
                         struct cairn_http_resp *resp, cairn_err *err)
{
  struct pager *p = (struct pager *)t;
  const struct response *r;
  cairn_http_transport *replay = NULL;
  json_t *har, *request, *content;
  const char *ctype = req_header(req, "Content-Type");
  char *b64;
  int rc;

  CHECK(req->url && url_clean(req->url) && host_allowed(p, req->url));
  /* Credentials go to the job's own origin only, and always there. */
  {
    const char *auth = req_header(req, "Authorization");
    struct cairn__hs_url u;
    int own = cairn__hs_url_parse(req->url, &u) == 0 &&
              strcmp(u.host, "api.example.com") == 0 && u.port == 443;
    CHECK(own ? auth && strcmp(auth, "Bearer " SECRET) == 0 : !auth);
  }
  {
    /* Not json_pack: a URL need not be UTF-8; the body by its digest. */
    json_t *e = json_object();
    char hex[65];
    cairn_sha256_hex(req->body ? req->body : "", req->body_len, hex);
    json_object_set_new(e, "m", json_string(req->method));
    json_object_set_new(e, "u", json_stringn_nocheck(req->url,
                                                     strlen(req->url)));
    json_object_set_new(e, "b", json_string(hex));
    json_object_set_new(e, "r", json_integer(p->next < p->n_resp
                                                 ? (json_int_t)p->next : -1));
    json_array_append_new(p->log, e);
  }
  if (p->next >= p->n_resp)
    return CAIRN_RAISE(err, CAIRN_EREPLAY, 0, "fuzz: no response left");
  r = &p->resp[p->next++];
  request = json_pack("{s:s,s:s}", "method", req->method, "url", req->url);
  CHECK(request);
  if (req->body) {
    json_t *text = json_stringn(req->body, req->body_len);
    json_t *post = json_pack("{s:s}", "mimeType", ctype ? ctype : "");
    if (!text) {
      char *enc = cairn_base64_encode(req->body, req->body_len);
      text = json_string(enc);
      json_object_set_new(post, "_encoding", json_string("base64"));
      free(enc);
    }
    json_object_set_new(post, "text", text);
    json_object_set_new(request, "postData", post);
  }
  b64 = cairn_base64_encode(r->body, r->body_len);
  content = json_pack("{s:s,s:s}", "text", b64, "encoding", "base64");
  free(b64);
  har = json_pack("{s:{s:s,s:[{s:o,s:{s:I,s:O,s:o}}]}}", "log", "version",
                  "1.2", "entries", "request", request, "response",
                  "status", (json_int_t)r->status, "headers", r->headers,
                  "content", content);
  CHECK(har && json_dump_file(har, har_path, JSON_COMPACT) == 0);
  json_decref(har);
  rc = cairn_http_replay_open(har_path, &replay, err);
  CHECK(rc == CAIRN_OK);
  rc = cairn_http_perform(replay, req, resp, err);
  /* A recording of this very request answers it. */
  CHECK(rc == CAIRN_OK || (rc == CAIRN_EHTTP && cairn_http_too_big(err)));
  cairn_http_transport_destroy(replay);
  return rc;
}

static void pager_destroy(cairn_http_transport *t)
{
  (void)t;
}

/* ---- the input ----------------------------------------------------------- */

/* One response from text[0..n): "status\nName: value\n...\n\nbody". */
static void parse_response(const char *text, size_t n, struct response *r)
{
  const char *p = text, *end = text + n;
  const char *nl = memchr(p, '\n', n);
  long st = 0;

  r->headers = json_array();
  for (const char *q = p; q < (nl ? nl : end) && *q >= '0' && *q <= '9'; q++)
    st = st < 1000 ? st * 10 + (*q - '0') : st;
  r->status = st >= 100 && st <= 599 ? st : 200;
  p = nl ? nl + 1 : end;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = eol ? eol : end, *colon;
    if (line_end == p || (line_end == p + 1 && *p == '\r')) {
      p = eol ? eol + 1 : end;
      break;
    }
    colon = memchr(p, ':', (size_t)(line_end - p));
    if (colon && colon > p) {
      const char *v = colon + 1, *ve = line_end;
      json_t *name, *value;
      while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
      name = json_stringn(p, (size_t)(colon - p));
      value = json_stringn(v, (size_t)(ve - v));
      /* A header libcurl would hand over: no NUL, valid UTF-8 for HAR. */
      if (name && value && !memchr(p, '\0', (size_t)(line_end - p)))
        json_array_append_new(r->headers,
                              json_pack("{s:o,s:o}", "name", name, "value",
                                        value));
      else {
        json_decref(name);
        json_decref(value);
      }
    }
    p = eol ? eol + 1 : end;
  }
  r->body = p;
  r->body_len = (size_t)(end - p);
}

static size_t parse_responses(const char *text, size_t n, struct response *r)
{
  size_t k = 0, sep = strlen(SEP);
  while (k < MAX_RESPONSES) {
    const char *hit = memmem(text, n, SEP, sep);
    size_t len = hit ? (size_t)(hit - text) : n;
    parse_response(text, len, &r[k++]);
    if (!hit)
      break;
    text = hit + sep;
    n -= len + sep;
  }
  return k;
}

/* The job's source object for config bytes c0, c1. */
static json_t *job_cfg(uint8_t c0, uint8_t c1)
{
  static const char *const records[] = {
    "/value", "/result", "/data", "", "/properties/rows", "/Resources",
    "/issues", "/value/items"
  };
  int style = c0 & 7, delta = (c0 & 0x80) && style <= 2;
  const char *rec = records[(c0 >> 3) & 7];
  json_t *cfg = json_pack("{s:s,s:s}", "type", "http", "records", rec);
  json_t *req = json_pack("{s:s,s:{s:s}}", "url",
                          ORIGIN "/v1/items?api-version=2024-01-01", "query",
                          "$top", "2");
  json_t *paging = NULL;

  json_object_set_new(cfg, "request", req);
  if (((c0 >> 3) & 7) == 4)
    json_object_set_new(cfg, "rows_as_objects", json_true());
  switch (style) {
  case 1:
    paging = json_pack("{s:s,s:s}", "style", "next_link", "pointer",
                       "/@odata.nextLink");
    break;
  case 2:
    paging = json_pack("{s:s,s:s,s:b}", "style", "next_link", "pointer",
                       "/nextLink", "repost", 1);
    json_object_set_new(req, "body", json_pack("{s:s}", "query", "q"));
    break;
  case 3:
    paging = json_pack("{s:s}", "style", "link_header");
    break;
  case 4:
    paging = json_pack("{s:s,s:s,s:s,s:i,s:{s:s}}", "style", "offset",
                       "offset_param", "sysparm_offset", "limit_param",
                       "sysparm_limit", "limit", 2, "total", "header",
                       "X-Total-Count");
    break;
  case 5:
    paging = json_pack("{s:s,s:s,s:s,s:i,s:i,s:{s:s}}", "style", "offset",
                       "offset_param", "startIndex", "limit_param", "count",
                       "limit", 2, "start", 1, "total", "pointer",
                       "/totalResults");
    break;
  case 6:
    paging = json_pack("{s:s,s:s,s:s}", "style", "body_token", "token",
                       "/$skipToken", "body_pointer", "/options/$skipToken");
    json_object_set_new(req, "body",
                        json_pack("{s:s,s:{s:i}}", "query", "Resources",
                                  "options", "$top", 2));
    break;
  case 7:
    paging = json_pack("{s:s,s:s,s:s,s:s}", "style", "cursor_param", "token",
                       "/nextPageToken", "param", "nextPageToken", "last",
                       "/isLast");
    break;
  default:
    break;
  }
  if (paging && (c1 & 1))
    json_object_set_new(paging, "truncated",
                        json_pack("{s:s}", "pointer", "/resultTruncated"));
  if (paging && (c1 & 0x40))
    json_object_set_new(paging, "max_pages", json_integer(3));
  if (paging)
    json_object_set_new(cfg, "paging", paging);
  if (c0 & 0x40) {
    json_object_set_new(json_object_get(req, "query"), "sysparm_query",
                        json_string("sys_updated_on>={{watermark}}"));
    json_object_set_new(cfg, "watermark",
                        (c1 & 0x10)
                            ? json_pack("{s:s,s:i}", "field", "/seq",
                                        "initial", 0)
                            : json_pack("{s:s,s:s}", "field",
                                        "sys_updated_on", "initial",
                                        "1970-01-01 00:00:00"));
  }
  if (delta)
    json_object_set_new(cfg, "delta",
                        json_pack("{s:s,s:s,s:[s]}", "link",
                                  "/@odata.deltaLink", "expired_pointer",
                                  "/error/code", "expired_codes",
                                  "resyncRequired"));
  if ((c1 & 2) && !json_object_get(req, "body"))
    json_object_set_new(cfg, "conditional", json_true());
  json_object_set_new(cfg, "retry",
                      json_pack("{s:i,s:i,s:i,s:i,s:i,s:b}", "attempts",
                                (c1 & 8) ? 3 : 1, "base_delay_s", 0,
                                "min_delay_s", 0, "max_delay_s", 2,
                                "budget_s", 1000000, "retry_post", 1));
  json_object_set_new(cfg, "circuit",
                      json_pack("{s:i,s:i}", "failures", 3, "cooldown_s", 1));
  if (c1 & 0x80)
    json_object_set_new(cfg, "allow_hosts", json_pack("[s]", "*.example.net"));
  json_object_set_new(cfg, "auth",
                      json_pack("{s:s,s:s}", "type", "bearer", "token",
                                SECRET));
  return cfg;
}

/* ---- one pull ------------------------------------------------------------ */

struct kv {
  json_t *committed;
  json_t *staged;
};

static const char *kv_get(void *ud, const char *key)
{
  struct kv *k = ud;
  return json_string_value(json_object_get(k->committed, key));
}

static void kv_put(void *ud, const char *key, const char *value)
{
  struct kv *k = ud;
  CHECK(value);
  json_object_set_new(k->staged, key, json_string(value));
}

static int collect(void *ud, const struct cairn_record *rec)
{
  json_t *arr = ud;
  CHECK(rec->position && !rec->header);
  json_array_append_new(arr, json_pack("[s,O,s?]", rec->position,
                                       rec->json ? rec->json : json_null(),
                                       rec->error));
  return 0;
}

/* Decode page seq of src in n_parts parts, one after the other. */
static json_t *decode_parts(cairn_source *src, long seq,
                            const struct cairn_page *page, unsigned n_parts)
{
  json_t *recs = json_array();
  for (unsigned k = 0; k < n_parts; k++) {
    cairn_err e = {0};
    int rc = src->ops->decode_part(src, seq, page, k, n_parts, collect, recs,
                                   &e);
    CHECK(rc == CAIRN_OK);
  }
  return recs;
}

static int open_pair(const json_t *cfg, struct pager *tp, struct kv *kv,
                     int backfill, struct cairn_source_ctx *ctx,
                     cairn_source **src, cairn_source **dec, cairn_err *err)
{
  static const struct cairn_window w = { "all", "", "", "", "" };
  const cairn_source_ops *ops = cairn_source_find("http");
  int rc;

  memset(ctx, 0, sizeof *ctx);
  ctx->job = "fuzz";
  ctx->cfg = cfg;
  ctx->window = &w;
  ctx->http = &tp->base;
  ctx->backfill = backfill;
  ctx->kv_get = kv_get;
  ctx->kv_put = kv_put;
  ctx->kv_ud = kv;
  rc = cairn_source_open(ops, ctx, src, err);
  if (rc == CAIRN_OK && dec)
    rc = cairn_source_open(ops, ctx, dec, err);
  CHECK(rc == CAIRN_OK || (rc < 0 && err->msg[0]));
  return rc;
}

/* Extract one page and decode it every way (the checks above); NULL when
 * extract fails (rc in *rc_out), else [meta, cursor_out (parsed),
 * records], and the cursor text in *cursor_out. */
static json_t *one_page(cairn_source *src, cairn_source *dec,
                        const char *cursor, long seq, char **cursor_out,
                        int *rc_out, cairn_err *err)
{
  const cairn_source_ops *ops = src->ops;
  struct cairn_page page;
  json_t *recs, *other, *meta, *cur = NULL, *p2, *p3, *d2;
  cairn_err e = {0};
  int rc;

  memset(&page, 0, sizeof page);
  page.n_hint = -1;
  *cursor_out = NULL;
  rc = ops->extract(src, cursor, &page, err);
  CHECK(rc == CAIRN_OK || rc == CAIRN_DONE || (rc < 0 && err->msg[0]));
  CHECK(!strstr(err->msg, SECRET));
  *rc_out = rc;
  if (rc != CAIRN_OK) {
    cairn_page_clear(&page);
    return NULL;
  }
  CHECK(page.meta && page.n_hint >= 0 && !strstr(page.meta, SECRET));
  CHECK(!page.cursor_out || !strstr(page.cursor_out, SECRET));
  meta = json_loads(page.meta, 0, NULL);
  CHECK(json_is_object(meta));
  if (page.cursor_out) {
    const char *u;
    cur = json_loads(page.cursor_out, 0, NULL);
    CHECK(json_is_object(cur));
    u = json_string_value(json_object_get(cur, "url"));
    CHECK(!u || url_clean(u));
  }
  /* The instance that extracted it, in parts, then whole (which takes
   * the checked page); another instance, whole and in parts. */
  p2 = decode_parts(src, seq, &page, 2);
  p3 = decode_parts(src, seq, &page, 3);
  recs = json_array();
  CHECK(ops->decode(src, seq, &page, collect, recs, &e) == CAIRN_OK);
  other = json_array();
  CHECK(ops->decode(dec, seq, &page, collect, other, &e) == CAIRN_OK);
  d2 = decode_parts(dec, seq, &page, 2);
  CHECK(json_equal(recs, other) && json_equal(recs, p2) &&
        json_equal(recs, p3) && json_equal(recs, d2));
  json_decref(p2);
  json_decref(p3);
  json_decref(d2);
  json_decref(other);
  CHECK(json_array_size(recs) == (size_t)page.n_hint);
  for (size_t i = 0; i < json_array_size(recs); i++) {
    char want[64];
    snprintf(want, sizeof want, "page %ld #%zu", seq, i + 1);
    CHECK(strcmp(json_string_value(json_array_get(json_array_get(recs, i),
                                                  0)), want) == 0);
  }
  *cursor_out = page.cursor_out ? cairn_xstrdup(page.cursor_out) : NULL;
  cairn_page_clear(&page);
  return json_pack("[o,o,o]", meta, cur ? cur : json_null(), recs);
}

/* Everything a pull shows: "pages" [[meta, cursor_out, records]...],
 * "cursors" (their text), "starts" (the request log's length when each
 * extract began), "log" (the requests), the outcome and the staged
 * state. */
static json_t *pull(const json_t *cfg, struct pager *tp, const json_t *saved,
                    int backfill)
{
  struct cairn_source_ctx ctx;
  struct kv kv = { json_deep_copy(saved), json_object() };
  cairn_source *src = NULL, *dec = NULL;
  cairn_err err = {0};
  char *cursor = NULL;
  json_t *pages = json_array(), *cursors = json_array();
  json_t *starts = json_array(), *out;
  long seq = 0;
  int rc;

  cairn__hs_reset_globals();
  tp->next = 0;
  json_array_clear(tp->log);
  rc = open_pair(cfg, tp, &kv, backfill, &ctx, &src, &dec, &err);
  while (rc == CAIRN_OK) {
    char *next = NULL;
    json_t *pg;
    json_array_append_new(starts, json_integer(
                                      (json_int_t)json_array_size(tp->log)));
    pg = one_page(src, dec, cursor, seq + 1, &next, &rc, &err);
    if (!pg)
      break;
    seq++;
    CHECK(seq <= MAX_PAGES);
    json_array_append_new(pages, pg);
    json_array_append_new(cursors, next ? json_string(next) : json_null());
    free(cursor);
    cursor = next;
    if (!cursor)
      break;
  }
  {
    const char *d = json_string_value(json_object_get(kv.staged, "delta"));
    const char *k;
    json_t *v;
    CHECK(!d || (url_clean(d) && host_allowed(tp, d)));
    json_object_foreach(kv.staged, k, v)
      CHECK(!strstr(k, SECRET) && !strstr(json_string_value(v), SECRET));
  }
  /* the requests as they are now: tp->log is cleared by the next pull
   * and by each resume */
  out = json_pack("{s:o,s:o,s:o,s:o,s:i,s:o}", "pages", pages, "cursors",
                  cursors, "starts", starts, "log", json_deep_copy(tp->log),
                  "rc", rc, "staged", kv.staged);
  if (rc < 0)
    json_object_set_new(out, "error", json_string(err.msg));
  free(cursor);
  cairn_source_close(src);
  cairn_source_close(dec);
  json_decref(kv.committed);
  return out;
}

/* Whether the cursor of page j kept its continuation in another form
 * than the one sent: a link whose kept form is not what was sent, or a
 * token kept masked (the cursor says "lossy"); or may have, for all a
 * restart can tell: a link holding the mask's text (kept_url in
 * src_http.c). */
static int kept_masked(const json_t *run, size_t j)
{
  const json_t *u = json_object_get(json_array_get(
      json_array_get(json_object_get(run, "pages"), j), 1), "url");
  const json_t *sent = json_array_get(
      json_object_get(run, "log"),
      (size_t)json_integer_value(
          json_array_get(json_object_get(run, "starts"), j + 1)));
  const char *ct = json_string_value(json_array_get(
      json_object_get(run, "cursors"), j));
  json_t *c = ct ? json_loads(ct, 0, NULL) : NULL;
  int lossy = json_is_true(json_object_get(c, "lossy")) ||
              (json_string_value(json_object_get(c, "url")) &&
               strstr(json_string_value(json_object_get(c, "url")),
                      CAIRN_HTTP_REDACTED));
  json_decref(c);
  return lossy || (json_is_string(u) && sent &&
                   !json_equal(u, json_object_get(sent, "u")));
}

static int masked_before(const json_t *run, size_t k)
{
  for (size_t j = 0; j + 1 < k; j++)
    if (kept_masked(run, j))
      return 1;
  return 0;
}

/* A run interrupted after page k resumes from its cursor, as the runner
 * does it: a new source told the cursors of the pages before (their
 * requests were made), then extract from page k's cursor_out. It sends
 * what the first run sent for page k + 1 and, given the same response,
 * gives the same page (or fails the same way); or it refuses a link whose
 * credential is not the job's own (CAIRN_ECHANGED: kept without it). */
static void resume_check(const json_t *cfg, struct pager *tp,
                         const json_t *saved, int backfill, const json_t *run)
{
  const json_t *pages = json_object_get(run, "pages");
  const json_t *cursors = json_object_get(run, "cursors");
  const json_t *starts = json_object_get(run, "starts");
  json_t *log = json_deep_copy(json_object_get(run, "log"));
  size_t n = json_array_size(pages);

  for (size_t k = 1; k < json_array_size(starts); k++) {
    struct cairn_source_ctx ctx;
    struct kv kv = { json_deep_copy(saved), json_object() };
    cairn_source *src = NULL, *dec = NULL;
    cairn_err err = {0};
    size_t at = (size_t)json_integer_value(json_array_get(starts, k));
    const json_t *sent = json_array_get(log, at);
    char *next = NULL;
    json_t *pg;
    int rc;

    cairn__hs_reset_globals();
    json_array_clear(tp->log);
    /* The response the first run's first request for page k + 1 had. */
    tp->next = sent ? (size_t)json_integer_value(json_object_get(sent, "r"))
                    : tp->n_resp;
    if (tp->next > tp->n_resp)
      tp->next = tp->n_resp;
    CHECK(open_pair(cfg, tp, &kv, backfill, &ctx, &src, &dec, &err) ==
          CAIRN_OK);
    for (size_t j = 0; j < k; j++)
      src->ops->checkpointed(src, j ? json_string_value(json_array_get(
                                          cursors, j - 1))
                                    : NULL);
    pg = one_page(src, dec, json_string_value(json_array_get(cursors, k - 1)),
                  (long)k + 1, &next, &rc, &err);
    if (rc == CAIRN_ECHANGED) {
      /* only for a continuation kept in another form than the one sent */
      CHECK(kept_masked(run, k - 1));
    } else if (rc == CAIRN_ELOOP && masked_before(run, k)) {
      /* compared by its safe form: see the list at the top */
    } else if (k < n) {
      const json_t *again = json_array_get(tp->log, 0);
      json_t *nx = next ? json_string(next) : json_null();
      CHECK(sent && again &&
            json_equal(json_object_get(sent, "m"),
                       json_object_get(again, "m")) &&
            json_equal(json_object_get(sent, "u"),
                       json_object_get(again, "u")) &&
            json_equal(json_object_get(sent, "b"),
                       json_object_get(again, "b")));
      CHECK(pg && json_equal(pg, json_array_get(pages, k)) &&
            json_equal(json_array_get(cursors, k), nx));
      json_decref(nx);
    } else {
      /* Failed the first time: the same way, unless it was the retry
       * policy's process-wide state (a quota pause, the breaker), which
       * a restart does not keep. */
      int was = (int)json_integer_value(json_object_get(run, "rc"));
      if (was != CAIRN_ERETRY && was != CAIRN_ECIRCUIT)
        CHECK(!pg && rc == was);
    }
    json_decref(pg);
    free(next);
    cairn_source_close(src);
    cairn_source_close(dec);
    json_decref(kv.committed);
    json_decref(kv.staged);
  }
  json_decref(log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct response resp[MAX_RESPONSES];
  struct pager tp;
  json_t *cfg, *saved, *a, *b;
  size_t n;

  if (!har_path[0]) {
    cairn_log_init(0, CAIRN_LOG_ERROR + 1, stderr);
    /* Retry waits skipped (all are at most a few seconds), a fixed now
     * for Retry-After dates: the same input gives the same pull. */
    setenv("CAIRN_TEST_FAST_RETRY", "1000000", 1);
    setenv("CAIRN_TEST_NOW", "1709618400", 1);
    cairn_log_add_secret(SECRET);
    snprintf(har_path, sizeof har_path, "/tmp/cairn-fuzz-http-%ld.har",
             (long)getpid());
  }
  if (size < 2)
    return 0;
  n = parse_responses((const char *)data + 2, size - 2, resp);
  memset(&tp, 0, sizeof tp);
  tp.base.name = "fuzz";
  tp.base.perform = pager_perform;
  tp.base.destroy = pager_destroy;
  tp.resp = resp;
  tp.n_resp = n;
  tp.allow_net = (data[1] & 0x80) != 0;
  tp.log = json_array();
  cfg = job_cfg(data[0], data[1]);
  saved = json_object();
  if (data[1] & 4) {
    json_object_set_new(saved, "delta",
                        json_string(ORIGIN "/v1/items/delta?$deltatoken=d0"));
    json_object_set_new(saved, "watermark",
                        json_string((data[1] & 0x10) ? "5"
                                                     : "2024-03-01 00:00:00"));
    json_object_set_new(saved, "etag:" ORIGIN "/v1/items?api-version="
                        "2024-01-01&%24top=2", json_string("\"e0\""));
  }
  a = pull(cfg, &tp, saved, (data[1] & 0x20) != 0);
  b = pull(cfg, &tp, saved, (data[1] & 0x20) != 0);
  if (getenv("CAIRN_FUZZ_VERBOSE")) {
    char *t = json_dumps(a, JSON_COMPACT);
    fprintf(stderr, "%s\n", t);
    free(t);
    if (!json_equal(a, b)) {
      t = json_dumps(b, JSON_COMPACT);
      fprintf(stderr, "second pull: %s\n", t);
      free(t);
    }
  }
  CHECK(json_equal(a, b));
  resume_check(cfg, &tp, saved, (data[1] & 0x20) != 0, a);
  json_decref(a);
  json_decref(b);
  json_decref(cfg);
  json_decref(saved);
  json_decref(tp.log);
  for (size_t k = 0; k < n; k++)
    json_decref(resp[k].headers);
  unlink(har_path);
  return 0;
}
