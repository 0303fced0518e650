/* SPDX-License-Identifier: MIT */
/* http_paging.c -- the paging styles of the http source. Each style says
 * where the next page is and how the end of the data shows:
 *
 *   next_link     a URL in the body (/nextLink, /@odata.nextLink,
 *                 /properties/nextLink); end: missing, null or empty
 *   link_header   RFC 8288 Link rel="next"; end: no such link
 *   offset        limit/offset query parameters; end: an empty or short
 *                 page, or the offset reaching the total (a header such
 *                 as X-Total-Count or a body field)
 *   body_token    a token from the body written into the request body
 *                 (Resource Graph $skipToken); end: no token
 *   cursor_param  a token from the body sent as a query parameter (Jira
 *                 nextPageToken); end: no token
 *
 * Any style may name a "last" pointer (true = last page) and a "truncated"
 * pointer: a truncated result without a continuation is an error with the
 * job's message, never a silent end of data; so is a round that ends with
 * fewer records than the "truncated" "total" its last page announces. The source detects repeated
 * tokens (src_http.c). This file only decides; it sends nothing. */
#include "source/src_http.h"
#include "core/jsonx.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- config -------------------------------------------------------------- */

static const struct {
  const char *name;
  int         style;
  const char *keys;   /* keys that apply (style, last, truncated and
                         max_pages apply to every style) */
} styles[] = {
  { "next_link",    CAIRN__HS_PAGE_NEXT_LINK,    " pointer repost " },
  { "link_header",  CAIRN__HS_PAGE_LINK_HEADER,  " " },
  { "offset",       CAIRN__HS_PAGE_OFFSET,
    " limit_param offset_param limit start total " },
  { "body_token",   CAIRN__HS_PAGE_BODY_TOKEN,   " token body_pointer " },
  { "cursor_param", CAIRN__HS_PAGE_CURSOR_PARAM, " token param " },
};

const char *cairn__hs_paging_style_name(int style)
{
  for (size_t i = 0; i < sizeof styles / sizeof styles[0]; i++)
    if (styles[i].style == style)
      return styles[i].name;
  return "none";
}

static char *str_dup(const json_t *o, const char *key)
{
  const char *s = json_string_value(json_object_get(o, key));
  return s && *s ? cairn_xstrdup(s) : NULL;
}

/* An integer given as a JSON integer or as decimal text (a ${param}). */
static int int_of(const json_t *v, long *out)
{
  char *end;
  long n;
  if (json_is_integer(v)) {
    *out = (long)json_integer_value(v);
    return 0;
  }
  if (!json_is_string(v))
    return -1;
  errno = 0;
  n = strtol(json_string_value(v), &end, 10);
  if (errno || end == json_string_value(v) || *end)
    return -1;
  *out = n;
  return 0;
}

static int need_pointer(const char *p, const char *at, const char **ptr_out,
                        cairn_err *err)
{
  if (p && (p[0] != '/' || !cairn_json_pointer_valid(p))) {
    *ptr_out = at;
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "\"%s\" is not a JSON pointer "
                       "(it starts with '/', e.g. /nextLink)", p);
  }
  return CAIRN_OK;
}

int cairn__hs_paging_load(const json_t *cfg, struct cairn__hs_paging *p,
                          const char **ptr_out, cairn_err *err)
{
  const json_t *o = json_object_get(cfg, "paging"), *v;
  const char *style, *k, *keys = NULL;
  size_t i;

  memset(p, 0, sizeof *p);
  p->max_pages = CAIRN__HS_MAX_PAGES;
  if (!o)
    return CAIRN_OK;
  style = json_string_value(json_object_get(o, "style"));
  for (i = 0; style && i < sizeof styles / sizeof styles[0]; i++)
    if (strcmp(style, styles[i].name) == 0) {
      p->style = styles[i].style;
      keys = styles[i].keys;
    }
  if (!keys) {
    /* The job schema's enum normally says this first. */
    *ptr_out = "/paging/style";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "\"%s\" is not one of next_link, "
                       "link_header, offset, body_token, cursor_param",
                       style ? style : "");
  }
  json_object_foreach((json_t *)o, k, v) {
    char word[48];
    if (strcmp(k, "style") == 0 || strcmp(k, "last") == 0 ||
        strcmp(k, "truncated") == 0 || strcmp(k, "max_pages") == 0)
      continue;
    snprintf(word, sizeof word, " %s ", k);
    if (!strstr(keys, word)) {
      static char at[64];
      snprintf(at, sizeof at, "/paging/%s", k);
      *ptr_out = at;
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "\"%s\" does not apply to "
                         "paging style %s", k, style);
    }
  }
  p->pointer = str_dup(o, "pointer");
  p->repost = json_is_true(json_object_get(o, "repost"));
  p->limit_param = str_dup(o, "limit_param");
  p->offset_param = str_dup(o, "offset_param");
  p->token = str_dup(o, "token");
  p->body_pointer = str_dup(o, "body_pointer");
  p->param = str_dup(o, "param");
  p->last = str_dup(o, "last");
  if (need_pointer(p->pointer, "/paging/pointer", ptr_out, err) < 0 ||
      need_pointer(p->token, "/paging/token", ptr_out, err) < 0 ||
      need_pointer(p->body_pointer, "/paging/body_pointer", ptr_out, err) < 0 ||
      need_pointer(p->last, "/paging/last", ptr_out, err) < 0)
    return CAIRN_EUSAGE;
  v = json_object_get(o, "truncated");
  if (v) {
    p->trunc_pointer = str_dup(v, "pointer");
    p->trunc_total = str_dup(v, "total");
    p->trunc_error = str_dup(v, "error");
    if (!p->trunc_pointer && !p->trunc_total) {
      *ptr_out = "/paging/truncated";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "truncated needs a pointer "
                         "(e.g. /resultTruncated) or a total (e.g. "
                         "/totalRecords)");
    }
    if (need_pointer(p->trunc_pointer, "/paging/truncated/pointer", ptr_out,
                     err) < 0 ||
        need_pointer(p->trunc_total, "/paging/truncated/total", ptr_out,
                     err) < 0)
      return CAIRN_EUSAGE;
  }
  v = json_object_get(o, "max_pages");
  if (v && (int_of(v, &p->max_pages) < 0 || p->max_pages <= 0)) {
    *ptr_out = "/paging/max_pages";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "max_pages must be a positive "
                       "integer");
  }
  switch (p->style) {
  case CAIRN__HS_PAGE_NEXT_LINK:
    if (!p->pointer) {
      *ptr_out = "/paging";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "paging style next_link needs "
                         "\"pointer\" (e.g. /nextLink, /@odata.nextLink, "
                         "/properties/nextLink)");
    }
    break;
  case CAIRN__HS_PAGE_OFFSET:
    if (!p->offset_param || !p->limit_param) {
      *ptr_out = "/paging";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "paging style offset needs "
                         "\"offset_param\" and \"limit_param\" (e.g. "
                         "sysparm_offset, sysparm_limit)");
    }
    if (int_of(json_object_get(o, "limit"), &p->limit) < 0 || p->limit <= 0) {
      *ptr_out = "/paging/limit";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "paging style offset needs "
                         "\"limit\", a positive integer (the page size)");
    }
    v = json_object_get(o, "start");
    if (v && (int_of(v, &p->start) < 0 || p->start < 0)) {
      *ptr_out = "/paging/start";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "start must be an integer >= 0 "
                         "(the first offset: 0, or 1 for SCIM startIndex)");
    }
    v = json_object_get(o, "total");
    if (v) {
      p->total_header = str_dup(v, "header");
      p->total_pointer = str_dup(v, "pointer");
      if (!p->total_header == !p->total_pointer) {
        *ptr_out = "/paging/total";
        return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "total takes either "
                           "\"header\" (e.g. X-Total-Count) or \"pointer\" "
                           "(e.g. /totalResults)");
      }
      if (need_pointer(p->total_pointer, "/paging/total/pointer", ptr_out,
                       err) < 0)
        return CAIRN_EUSAGE;
    }
    break;
  case CAIRN__HS_PAGE_BODY_TOKEN:
    if (!p->token || !p->body_pointer) {
      *ptr_out = "/paging";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "paging style body_token needs "
                         "\"token\" (where the response has it, e.g. "
                         "/$skipToken) and \"body_pointer\" (where it goes in "
                         "the request body, e.g. /options/$skipToken)");
    }
    break;
  case CAIRN__HS_PAGE_CURSOR_PARAM:
    if (!p->token || !p->param) {
      *ptr_out = "/paging";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "paging style cursor_param "
                         "needs \"token\" (e.g. /nextPageToken) and \"param\" "
                         "(the query parameter, e.g. nextPageToken)");
    }
    break;
  default:
    break;
  }
  return CAIRN_OK;
}

void cairn__hs_paging_clear(struct cairn__hs_paging *p)
{
  free(p->pointer);
  free(p->limit_param);
  free(p->offset_param);
  free(p->total_header);
  free(p->total_pointer);
  free(p->token);
  free(p->body_pointer);
  free(p->param);
  free(p->last);
  free(p->trunc_pointer);
  free(p->trunc_total);
  free(p->trunc_error);
  memset(p, 0, sizeof *p);
}

void cairn__hs_next_clear(struct cairn__hs_next *n)
{
  free(n->url);
  free(n->token);
  memset(n, 0, sizeof *n);
}

/* ---- RFC 8288 Link ------------------------------------------------------- */

static const char *ows(const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* Does a rel value hold relation type "next" (space-separated list,
 * case-insensitive)? */
static int rel_has_next(const char *v, size_t n)
{
  size_t i = 0;
  while (i < n) {
    size_t j;
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
      i++;
    j = i;
    while (j < n && v[j] != ' ' && v[j] != '\t')
      j++;
    if (j - i == 4 && strncasecmp(v + i, "next", 4) == 0)
      return 1;
    i = j;
  }
  return 0;
}

/* The target of the first link with relation "next", as written (new
 * string), or NULL. */
static char *link_next_target(const char *field)
{
  const char *p = field;

  if (!field)
    return NULL;
  while (*p) {
    const char *t0, *t1;
    int rel_seen = 0, is_next = 0;

    p = ows(p);
    if (*p == ',') {
      p++;
      continue;
    }
    if (*p != '<')
      return NULL;           /* malformed: stop rather than guess */
    t0 = p + 1;
    t1 = strchr(t0, '>');    /* commas inside <...> are part of the URI */
    if (!t1)
      return NULL;
    p = t1 + 1;
    /* Parameters until the comma that ends this link-value. */
    for (;;) {
      const char *n0, *n1, *v0 = NULL;
      size_t vn = 0;
      struct cairn_buf qv = {0};

      p = ows(p);
      if (*p != ';')
        break;
      p = ows(p + 1);
      n0 = p;
      while (*p && *p != '=' && *p != ';' && *p != ',' && *p != ' ' &&
             *p != '\t')
        p++;
      n1 = p;
      p = ows(p);
      if (*p == '=') {
        p = ows(p + 1);
        if (*p == '"') {
          p++;
          while (*p && *p != '"') {
            if (*p == '\\' && p[1])
              p++;
            cairn_buf_putc(&qv, *p++);
          }
          if (*p == '"')
            p++;
          v0 = qv.data ? qv.data : "";
          vn = qv.len;
        } else {
          v0 = p;
          while (*p && *p != ';' && *p != ',' && *p != ' ' && *p != '\t')
            p++;
          vn = (size_t)(p - v0);
        }
      }
      if (n1 - n0 == 3 && strncasecmp(n0, "rel", 3) == 0 && !rel_seen) {
        rel_seen = 1;                      /* only the first rel counts */
        is_next = v0 && rel_has_next(v0, vn);
      }
      cairn_buf_free(&qv);
    }
    if (is_next)
      return cairn_xstrndup(t0, (size_t)(t1 - t0));
    p = ows(p);
    if (*p && *p != ',')
      return NULL;
  }
  return NULL;
}

char *cairn__hs_link_next(const char *field, const char *base)
{
  char *target = link_next_target(field);
  char *abs = target ? cairn__hs_url_resolve(base, target) : NULL;
  free(target);
  return abs;
}

char *cairn__hs_link_field(const struct cairn_http_resp *r)
{
  struct cairn_buf b = {0};
  for (size_t i = 0; r && i < r->n_headers; i++)
    if (strcasecmp(r->headers[i].name, "Link") == 0 &&
        r->headers[i].value[0]) {
      if (b.len)
        cairn_buf_puts(&b, ", ");
      cairn_buf_puts(&b, r->headers[i].value);
    }
  return b.len ? cairn_buf_take(&b) : NULL;
}

/* ---- the next page ------------------------------------------------------- */

static int truthy(const json_t *v)
{
  return json_is_true(v) ||
         (json_is_string(v) && strcasecmp(json_string_value(v), "true") == 0);
}

/* A continuation token as text: a non-empty string, or a number. */
static char *token_text(const json_t *v)
{
  if (json_is_string(v) && *json_string_value(v))
    return cairn_xstrdup(json_string_value(v));
  if (json_is_integer(v))
    return cairn_strfmt("%" JSON_INTEGER_FORMAT, json_integer_value(v));
  return NULL;
}

/* The count at pointer ptr of doc (an integer, or decimal text): 0 with
 * *out set, or -1 when ptr is NULL or there is none. */
static int count_at(const json_t *doc, const char *ptr, long long *out)
{
  const json_t *v = ptr ? cairn_json_pointer_get(doc, ptr) : NULL;
  if (json_is_integer(v)) {
    *out = (long long)json_integer_value(v);
    return 0;
  }
  if (json_is_string(v)) {
    char *end;
    long long n = strtoll(json_string_value(v), &end, 10);
    if (end != json_string_value(v) && !*end) {
      *out = n;
      return 0;
    }
  }
  return -1;
}

static int total_of(const struct cairn__hs_paging *p, const json_t *doc,
                    const struct cairn_http_resp *resp, long long *out)
{
  if (p->total_header) {
    const char *h = cairn_http_resp_header(resp, p->total_header);
    char *end;
    long long n;
    if (!h)
      return -1;
    errno = 0;
    n = strtoll(h, &end, 10);
    if (errno || end == h)
      return -1;
    *out = n;
    return 0;
  }
  return count_at(doc, p->total_pointer, out);
}

int cairn__hs_paging_next(const struct cairn__hs_paging *p,
                          const char *req_url, long long offset,
                          const json_t *doc,
                          const struct cairn_http_resp *resp,
                          size_t n_records, struct cairn__hs_next *out,
                          cairn_err *err)
{
  char *bad = NULL;  /* a next link that resolves to nothing */

  memset(out, 0, sizeof *out);
  if (p->style == CAIRN__HS_PAGE_OFFSET || p->trunc_total)
    out->offset = offset + (long long)n_records;
  switch (p->style) {
  case CAIRN__HS_PAGE_NEXT_LINK: {
    const json_t *v = cairn_json_pointer_get(doc, p->pointer);
    if (json_is_string(v) && *json_string_value(v)) {
      out->url = cairn__hs_url_resolve(req_url, json_string_value(v));
      out->more = 1;
      if (!out->url)
        bad = cairn_xstrdup(json_string_value(v));
    }
    break;
  }
  case CAIRN__HS_PAGE_LINK_HEADER: {
    char *field = cairn__hs_link_field(resp);
    char *target = field ? link_next_target(field) : NULL;
    if (target) {
      out->url = cairn__hs_url_resolve(req_url, target);
      out->more = 1;
      if (!out->url)
        bad = cairn_xstrdup(target);
    }
    free(target);
    free(field);
    break;
  }
  case CAIRN__HS_PAGE_OFFSET: {
    long long total;
    if (n_records == 0)
      out->more = 0;
    else if (total_of(p, doc, resp, &total) == 0)
      out->more = out->offset - p->start < total;
    else
      out->more = (long long)n_records >= p->limit;
    break;
  }
  case CAIRN__HS_PAGE_BODY_TOKEN:
  case CAIRN__HS_PAGE_CURSOR_PARAM:
    out->token = token_text(cairn_json_pointer_get(doc, p->token));
    out->more = out->token != NULL;
    break;
  default:
    break;
  }
  if (out->more && p->last && truthy(cairn_json_pointer_get(doc, p->last)))
    out->more = 0;
  if (out->more && bad) {
    /* Not the end of the data: ending there would leave the window's
     * later pages unloaded without a word. */
    char *safe = cairn__hs_url_safe(bad);
    int rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "paging: the next link %s%s "
                         "(\"%.100s\") is not a URI reference (RFC 3986: "
                         "the text before its first ':' is not a scheme); "
                         "refused, nothing was sent to it",
                         p->style == CAIRN__HS_PAGE_NEXT_LINK ? "at "
                                                              : "in the ",
                         p->style == CAIRN__HS_PAGE_NEXT_LINK
                             ? p->pointer : "Link header", safe);
    free(safe);
    free(bad);
    out->more = 0;
    return rc;
  }
  free(bad);
  if (!out->more) {
    long long total, seen = out->offset - p->start;
    free(out->url);
    free(out->token);
    out->url = out->token = NULL;
    if (p->trunc_pointer &&
        truthy(cairn_json_pointer_get(doc, p->trunc_pointer)))
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s (the response says %s is "
                         "true and gives no continuation)",
                         p->trunc_error ? p->trunc_error
                                        : "the result was truncated by the "
                                          "server: narrow the query",
                         p->trunc_pointer);
    /* The total of the last page: rows that came or went while the
     * pages were read are in it, so only rows the server said it had and
     * never sent make the round short. */
    if (count_at(doc, p->trunc_total, &total) == 0 && seen < total)
      return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "paging: the server ended "
                         "the data (no continuation) after %lld records in "
                         "this window, but the total at %s of its last page "
                         "says %lld: %lld records missing, so this is not "
                         "taken for the end of the data; run again to ask "
                         "for that page again (the pages before it stay "
                         "loaded); if it ends the same way, the server "
                         "truncates the result: narrow the query or split "
                         "it", seen, p->trunc_total, total, total - seen);
  }
  return CAIRN_OK;
}
