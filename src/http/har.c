/* SPDX-License-Identifier: MIT */
/* har.c -- HAR 1.2 recordings loaded for matching, and the matcher that
 * both the replay transport and `cairn mock` use (one piece of code, so a
 * recording that replays also serves, and vice versa).
 *
 * A request matches an entry on method, path, query parameters (as a
 * multiset: order-insensitive) and body; scheme, host and port are ignored
 * so a job pointed at another endpoint (--param endpoint=..., the mock's
 * loopback address) still matches. A recorded "REDACTED" value matches
 * anything. Identical requests take entries in recorded order; the last
 * one answers again once all are used (a resumed run re-asks). */
#include "http/har.h"
#include "core/codec.h"
#include "core/log.h"
#include "core/fsx.h"
#include "core/json_fast.h"
#include "core/jsonx.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- URLs ---------------------------------------------------------------- */

static void parse_pairs(const char *s, size_t len, struct cairn__qparam **out,
                        size_t *n_out)
{
  struct cairn__qparam *q = NULL;
  size_t n = 0;
  struct cairn_pair p;

  for (const char *at = s; cairn_pair_next(&at, s + len, &p);) {
    if (p.end == p.at)
      continue;
    q = cairn_xrealloc(q, (n + 1) * sizeof *q);
    q[n].name = cairn_pair_name(&p);
    q[n].value = cairn_pair_value(&p);
    n++;
  }
  /* Stable insertion sort by name: small n, and equal names keep their
   * order (?a=1&a=2 differs from ?a=2&a=1). */
  for (size_t k = 1; k < n; k++) {
    struct cairn__qparam t = q[k];
    size_t j = k;
    while (j > 0 && strcmp(q[j - 1].name, t.name) > 0) {
      q[j] = q[j - 1];
      j--;
    }
    q[j] = t;
  }
  *out = q;
  *n_out = n;
}

static void free_pairs(struct cairn__qparam *q, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    free(q[i].name);
    free(q[i].value);
  }
  free(q);
}

void cairn__url_parse(const char *url, struct cairn__url *out)
{
  const char *p = url ? url : "";
  const char *sep = strstr(p, "://");
  const char *path_end, *q_end;

  memset(out, 0, sizeof *out);
  if (sep && (size_t)(sep - p) == strcspn(p, ":/?#")) {
    const char *auth = sep + 3;
    const char *auth_end = auth + strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', (size_t)(auth_end - auth));
    struct cairn_buf b = { 0 };
    size_t host_len;
    if (at)
      auth = at + 1;
    cairn_buf_append(&b, p, (size_t)(sep - p) + 3);
    cairn_buf_append(&b, auth, (size_t)(auth_end - auth));
    for (size_t i = 0; i < b.len; i++)
      b.data[i] = (char)tolower((unsigned char)b.data[i]);
    /* Drop the default port so https://h and https://h:443 agree. */
    host_len = b.len;
    if (host_len > 4 && strncmp(b.data, "http://", 7) == 0 &&
        strcmp(b.data + host_len - 3, ":80") == 0)
      b.data[b.len -= 3] = '\0';
    else if (host_len > 4 && strncmp(b.data, "https://", 8) == 0 &&
             strcmp(b.data + host_len - 4, ":443") == 0)
      b.data[b.len -= 4] = '\0';
    out->origin = cairn_buf_take(&b);
    p = auth_end;
  } else {
    out->origin = cairn_xstrdup("");
  }
  path_end = p + strcspn(p, "?#");
  out->path = path_end > p ? cairn_pct_decode(p, (size_t)(path_end - p), 0)
                           : cairn_xstrdup("/");
  if (*path_end == '?') {
    q_end = path_end + 1 + strcspn(path_end + 1, "#");
    parse_pairs(path_end + 1, (size_t)(q_end - path_end - 1), &out->q,
                &out->n_q);
  }
}

void cairn__url_free(struct cairn__url *u)
{
  if (!u)
    return;
  free(u->origin);
  free(u->path);
  free_pairs(u->q, u->n_q);
  memset(u, 0, sizeof *u);
}

/* ---- loading ------------------------------------------------------------- */

static void entry_free(struct cairn__har_entry *e)
{
  free(e->method);
  free(e->url);
  cairn__url_free(&e->key);
  free(e->req_mime);
  free(e->req_body);
  json_decref(e->req_json);
  for (size_t i = 0; i < e->n_resp_headers; i++) {
    free(e->resp_headers[i].name);
    free(e->resp_headers[i].value);
  }
  free(e->resp_headers);
  free(e->resp_body);
}

void cairn__har_free(struct cairn__har *h)
{
  if (!h)
    return;
  for (size_t i = 0; i < h->n_entries; i++)
    entry_free(&h->entries[i]);
  free(h->entries);
  for (size_t i = 0; i < h->n_origins; i++)
    free(h->origins[i]);
  free(h->origins);
  free(h->path);
  free(h);
}

static const char *str_at(const json_t *o, const char *key)
{
  const json_t *v = json_object_get(o, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The origin as written in the recorded URL (minus userinfo): what the
 * mock looks for in response bodies to point them back at itself. */
static char *raw_origin(const char *url)
{
  const char *sep = strstr(url, "://");
  const char *auth, *auth_end, *at;
  struct cairn_buf b = { 0 };

  if (!sep || (size_t)(sep - url) != strcspn(url, ":/?#"))
    return NULL;
  auth = sep + 3;
  auth_end = auth + strcspn(auth, "/?#");
  at = memchr(auth, '@', (size_t)(auth_end - auth));
  if (at)
    auth = at + 1;
  if (auth_end == auth)
    return NULL;
  cairn_buf_append(&b, url, (size_t)(sep - url) + 3);
  cairn_buf_append(&b, auth, (size_t)(auth_end - auth));
  return cairn_buf_take(&b);
}

static void add_origin(struct cairn__har *h, const char *url)
{
  char *o = raw_origin(url);

  if (!o)
    return;
  for (size_t i = 0; i < h->n_origins; i++)
    if (strcmp(h->origins[i], o) == 0) {
      free(o);
      return;
    }
  h->origins = cairn_xrealloc(h->origins,
                              (h->n_origins + 1) * sizeof *h->origins);
  h->origins[h->n_origins++] = o;
}

/* postData.params without text: rebuild the form body. */
static char *params_text(const json_t *params)
{
  struct cairn_buf b = { 0 };
  size_t i;
  json_t *p;

  json_array_foreach(params, i, p) {
    const char *name = str_at(p, "name"), *value = str_at(p, "value");
    if (!name)
      continue;
    if (b.len)
      cairn_buf_putc(&b, '&');
    cairn_buf_puts(&b, name);
    cairn_buf_putc(&b, '=');
    cairn_buf_puts(&b, value ? value : "");
  }
  return cairn_buf_take(&b);
}

static int load_entry(const char *path, size_t idx, const json_t *je,
                      struct cairn__har_entry *e, cairn_err *err)
{
  const json_t *req = json_object_get(je, "request");
  const json_t *resp = json_object_get(je, "response");
  const json_t *post, *hdrs, *content, *status;
  const char *method = str_at(req, "method"), *url = str_at(req, "url");
  const char *text, *enc;
  size_t i;
  json_t *h;

  CAIRN_FAIL_IF(!method || !url, err, CAIRN_EPARSE, 0,
                "%s: log.entries[%zu].request needs method and url", path,
                idx);
  status = json_object_get(resp, "status");
  CAIRN_FAIL_IF(!json_is_integer(status), err, CAIRN_EPARSE, 0,
                "%s: log.entries[%zu].response.status must be an integer",
                path, idx);
  e->method = cairn_xstrdup(method);
  e->url = cairn_xstrdup(url);
  cairn__url_parse(url, &e->key);
  e->status = (long)json_integer_value(status);

  post = json_object_get(req, "postData");
  e->req_mime = cairn_xstrdup(str_at(post, "mimeType") ? str_at(post,
                                                                "mimeType")
                                                        : "");
  text = str_at(post, "text");
  enc = str_at(post, "_encoding"); /* cairn's own: non-UTF-8 request body */
  if (text && enc && strcasecmp(enc, "base64") == 0) {
    if (cairn_base64_decode(text, strlen(text), &e->req_body,
                             &e->req_body_len) != 0)
      return CAIRN_RAISE(err, CAIRN_EPARSE, 0,
                         "%s: log.entries[%zu].request.postData.text is not "
                         "valid base64", path, idx);
  } else if (text) {
    e->req_body_len = json_string_length(json_object_get(post, "text"));
    e->req_body = cairn_xstrndup(text, e->req_body_len);
  } else if (json_is_array(json_object_get(post, "params"))) {
    e->req_body = params_text(json_object_get(post, "params"));
    e->req_body_len = strlen(e->req_body);
  }
  if (e->req_body && e->req_body_len)
    e->req_json = json_loadb(e->req_body, e->req_body_len, 0, NULL);

  hdrs = json_object_get(resp, "headers");
  if (json_is_array(hdrs)) {
    e->resp_headers = cairn_xcalloc(json_array_size(hdrs) + 1,
                                    sizeof *e->resp_headers);
    json_array_foreach(hdrs, i, h) {
      const char *name = str_at(h, "name"), *value = str_at(h, "value");
      if (!name)
        continue;
      e->resp_headers[e->n_resp_headers].name = cairn_xstrdup(name);
      e->resp_headers[e->n_resp_headers].value =
          cairn_xstrdup(value ? value : "");
      e->n_resp_headers++;
    }
  }

  content = json_object_get(resp, "content");
  text = str_at(content, "text");
  enc = str_at(content, "encoding");
  if (text && enc && strcasecmp(enc, "base64") == 0) {
    if (cairn_base64_decode(text, strlen(text), &e->resp_body,
                             &e->resp_body_len) != 0)
      return CAIRN_RAISE(err, CAIRN_EPARSE, 0,
                         "%s: log.entries[%zu].response.content.text is not "
                         "valid base64", path, idx);
  } else {
    e->resp_body_len = text ? json_string_length(json_object_get(content,
                                                                 "text"))
                            : 0;
    e->resp_body = text ? cairn_xstrndup(text, e->resp_body_len)
                        : cairn_xstrdup("");
  }
  return CAIRN_OK;
}

int cairn__har_load(const char *path, struct cairn__har **out,
                    cairn_err *err)
{
  struct cairn__har *h = NULL;
  json_t *doc = NULL, *entries;
  int rc;
  size_t i;
  json_t *je;

  *out = NULL;
  {
    /* Recordings can be 100 MB: parse with the fast parser, and let
     * jansson give the verdict (and file:line:col) when it declines. */
    struct cairn_buf text = {0};
    rc = cairn_fs_read_all(path, &text, err);
    if (rc == CAIRN_OK)
      doc = cairn_json_fast_load(text.data, text.len, NULL);
    cairn_buf_free(&text);
    if (rc == CAIRN_OK && !doc)
      rc = cairn_json_load_file(path, &doc, NULL, err);
    if (rc < 0)
      goto done;
  }
  entries = json_object_get(json_object_get(doc, "log"), "entries");
  if (!json_is_array(entries)) {
    rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0,
                     "%s: not a HAR file (no log.entries array)", path);
    goto done;
  }
  h = cairn_xcalloc(1, sizeof *h);
  h->path = cairn_xstrdup(path);
  h->entries = cairn_xcalloc(json_array_size(entries) + 1,
                             sizeof *h->entries);
  json_array_foreach(entries, i, je) {
    rc = load_entry(path, i, je, &h->entries[i], err);
    h->n_entries = i + 1; /* so a failed entry is freed too */
    if (rc < 0)
      goto done;
    add_origin(h, h->entries[i].url);
  }
  *out = h;
  h = NULL;
  rc = CAIRN_OK;

done:
  cairn__har_free(h);
  json_decref(doc);
  return rc;
}

/* ---- matching ------------------------------------------------------------ */

enum { DIFF_METHOD = 1, DIFF_PATH = 2, DIFF_QUERY = 4, DIFF_BODY = 8 };

static int is_wild(const char *recorded)
{
  return strcmp(recorded, CAIRN_HTTP_REDACTED) == 0;
}

static int pairs_match(const struct cairn__qparam *rec, size_t n_rec,
                       const struct cairn__qparam *act, size_t n_act)
{
  if (n_rec != n_act)
    return 0;
  for (size_t i = 0; i < n_rec; i++)
    if (strcmp(rec[i].name, act[i].name) != 0 ||
        (strcmp(rec[i].value, act[i].value) != 0 && !is_wild(rec[i].value)))
      return 0;
  return 1;
}

static int json_wild(const json_t *rec, const json_t *act)
{
  if (json_is_string(rec) && is_wild(json_string_value(rec)))
    return 1;
  if (json_is_object(rec)) {
    const char *key;
    json_t *v;
    if (!json_is_object(act) || json_object_size(rec) != json_object_size(act))
      return 0;
    json_object_foreach((json_t *)rec, key, v) {
      const json_t *a = json_object_get(act, key);
      if (!a || !json_wild(v, a))
        return 0;
    }
    return 1;
  }
  if (json_is_array(rec)) {
    if (!json_is_array(act) || json_array_size(rec) != json_array_size(act))
      return 0;
    for (size_t i = 0; i < json_array_size(rec); i++)
      if (!json_wild(json_array_get(rec, i), json_array_get(act, i)))
        return 0;
    return 1;
  }
  return json_equal((json_t *)rec, (json_t *)act);
}

/* The request being matched, prepared once. */
struct probe {
  const char *method;
  struct cairn__url key;
  const char *body;
  size_t body_len;
  json_t *json;             /* body as JSON, or NULL */
  const char *ctype;
  struct cairn__qparam *form; /* body as form pairs, parsed on demand */
  size_t n_form;
  int form_parsed;
};

static int body_matches(const struct cairn__har_entry *e, struct probe *p)
{
  if (e->req_body_len == 0 && p->body_len == 0)
    return 1;
  if (e->req_json && p->json)
    return json_wild(e->req_json, p->json);
  if (cairn__is_form(e->req_body, e->req_body_len, e->req_mime) ||
      cairn__is_form(p->body, p->body_len, p->ctype)) {
    struct cairn__qparam *rec;
    size_t n_rec;
    int ok;
    if (!p->form_parsed) {
      parse_pairs(p->body ? p->body : "", p->body_len, &p->form, &p->n_form);
      p->form_parsed = 1;
    }
    parse_pairs(e->req_body ? e->req_body : "", e->req_body_len, &rec,
                &n_rec);
    ok = pairs_match(rec, n_rec, p->form, p->n_form);
    free_pairs(rec, n_rec);
    return ok;
  }
  return e->req_body_len == p->body_len &&
         (p->body_len == 0 || memcmp(e->req_body, p->body, p->body_len) == 0);
}

static unsigned entry_diff(const struct cairn__har_entry *e, struct probe *p)
{
  unsigned d = 0;

  if (strcmp(e->method, p->method) != 0)
    d |= DIFF_METHOD;
  if (strcmp(e->key.path, p->key.path) != 0)
    d |= DIFF_PATH;
  if (!pairs_match(e->key.q, e->key.n_q, p->key.q, p->key.n_q))
    d |= DIFF_QUERY;
  if (!d && !body_matches(e, p))
    d |= DIFF_BODY;
  return d;
}

/* "METHOD /path?a=1&b=2" from the split form, for edit distances. */
static char *canon_label(const char *method, const struct cairn__url *u)
{
  struct cairn_buf b = { 0 };

  cairn_buf_printf(&b, "%s %s", method, u->path);
  for (size_t i = 0; i < u->n_q; i++)
    cairn_buf_printf(&b, "%c%s=%s", i ? '&' : '?', u->q[i].name,
                     u->q[i].value);
  return cairn_buf_take(&b);
}

/* Levenshtein distance over at most the first 256 bytes of each. */
static size_t edit_distance(const char *a, const char *b)
{
  size_t na = strlen(a), nb = strlen(b), prev[257], cur[257];

  if (na > 256)
    na = 256;
  if (nb > 256)
    nb = 256;
  for (size_t j = 0; j <= nb; j++)
    prev[j] = j;
  for (size_t i = 1; i <= na; i++) {
    cur[0] = i;
    for (size_t j = 1; j <= nb; j++) {
      size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
      size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
    }
    memcpy(prev, cur, (nb + 1) * sizeof *prev);
  }
  return prev[nb];
}

static void diff_text(unsigned d, char *out, size_t n)
{
  snprintf(out, n, "%s%s%s%s", d & DIFF_METHOD ? "method, " : "",
           d & DIFF_PATH ? "path, " : "", d & DIFF_QUERY ? "query, " : "",
           d & DIFF_BODY ? "body, " : "");
  if (strlen(out) >= 2)
    out[strlen(out) - 2] = '\0';
}

/* One parameter value in a message: cut, and REDACTED when secret. */
static void put_param(struct cairn_buf *b, const struct cairn__qparam *q)
{
  if (!q) {
    cairn_buf_puts(b, "absent");
    return;
  }
  cairn_buf_putc(b, '"');
  if (cairn_http_param_redacted(q->name, q->value, NULL))
    cairn_buf_puts(b, CAIRN_HTTP_REDACTED);
  else
    cairn_put_cut(b, q->value, strlen(q->value), 120);
  cairn_buf_putc(b, '"');
}

/* The first query parameter (by name) where the request (a) and the entry
 * (b) differ: the labels above are cut at 200 bytes, and a long query (an
 * OData $filter) would hide what differs. */
static void query_diff(const struct cairn__url *a, const struct cairn__url *b,
                       struct cairn_buf *out)
{
  size_t i = 0, j = 0;
  while (i < a->n_q || j < b->n_q) {
    const struct cairn__qparam *x = i < a->n_q ? &a->q[i] : NULL;
    const struct cairn__qparam *y = j < b->n_q ? &b->q[j] : NULL;
    int c = !x ? 1 : !y ? -1 : strcmp(x->name, y->name);
    /* a redacted recorded value matches any (as in matching) */
    if (c == 0 && (strcmp(x->value, y->value) == 0 || is_wild(y->value))) {
      i++;
      j++;
      continue;
    }
    cairn_buf_puts(out, "; query parameter \"");
    cairn_put_cut(out, c <= 0 ? x->name : y->name,
                  strlen(c <= 0 ? x->name : y->name), 60);
    cairn_buf_puts(out, "\" is ");
    put_param(out, c <= 0 ? x : NULL);
    cairn_buf_puts(out, " here and ");
    put_param(out, c >= 0 ? y : NULL);
    cairn_buf_puts(out, " in the recording");
    return;
  }
}

static int raise_unmatched(struct cairn__har *h, const struct probe *p,
                           const struct cairn_http_req *req, unsigned *diffs,
                           cairn_err *err)
{
  char want[200], have[200], why[48];
  struct cairn_buf text = { 0 };
  char *safe = cairn_http_url_safe(req->url, NULL);
  char *mine = canon_label(p->method, &p->key);
  size_t best = (size_t)-1, best_d = (size_t)-1;
  int rc;

  cairn__req_label(p->method, safe, 1, want, sizeof want);
  for (size_t i = 0; i < h->n_entries; i++) {
    char *theirs = canon_label(h->entries[i].method, &h->entries[i].key);
    size_t d = edit_distance(mine, theirs) + (diffs[i] & DIFF_BODY ? 16 : 0);
    if (d < best_d) {
      best_d = d;
      best = i;
    }
    free(theirs);
  }
  if (best == (size_t)-1) {
    cairn_buf_printf(&text, "no recorded response for %s%s: %s has no "
                     "entries", want, p->body_len ? " (with body)" : "",
                     h->path);
  } else {
    char *theirs = cairn_http_url_safe(h->entries[best].url, NULL);
    cairn__req_label(h->entries[best].method, theirs, 1, have, sizeof have);
    free(theirs);
    diff_text(diffs[best], why, sizeof why);
    cairn_buf_printf(&text, "no recorded response for %s (body %zu bytes); "
                     "closest is entry %zu: %s (%s differs) in %s", want,
                     p->body_len, best, have, why, h->path);
    if (diffs[best] & DIFF_QUERY)
      query_diff(&p->key, &h->entries[best].key, &text);
  }
  /* Credentials in neither request nor recording; registered secrets
   * (raw or percent-encoded) in no parameter at all. */
  cairn_log_mask(text.data);
  rc = CAIRN_RAISE(err, CAIRN_EREPLAY, 0, "%s", text.data);
  cairn_buf_free(&text);
  free(mine);
  free(safe);
  return rc;
}

int cairn__har_match(struct cairn__har *h, const struct cairn_http_req *req,
                     int take, size_t *idx, int *repeat, cairn_err *err)
{
  struct probe p;
  unsigned *diffs = cairn_xcalloc(h->n_entries + 1, sizeof *diffs);
  size_t first = (size_t)-1, last = (size_t)-1;
  int rc = CAIRN_OK;

  memset(&p, 0, sizeof p);
  p.method = req->method;
  cairn__url_parse(req->url, &p.key);
  p.body = req->body;
  p.body_len = req->body ? req->body_len : 0;
  if (p.body_len)
    p.json = json_loadb(p.body, p.body_len, 0, NULL);
  p.ctype = cairn__header_find(req->headers, req->n_headers, "Content-Type");

  for (size_t i = 0; i < h->n_entries; i++) {
    diffs[i] = entry_diff(&h->entries[i], &p);
    if (diffs[i])
      continue;
    if (first == (size_t)-1 && !h->entries[i].used)
      first = i;
    last = i;
  }
  if (last == (size_t)-1) {
    rc = raise_unmatched(h, &p, req, diffs, err);
    goto done;
  }
  *repeat = first == (size_t)-1;
  *idx = *repeat ? last : first;
  if (take)
    h->entries[*idx].used = 1;

done:
  free(diffs);
  cairn__url_free(&p.key);
  json_decref(p.json);
  free_pairs(p.form, p.n_form);
  return rc;
}
