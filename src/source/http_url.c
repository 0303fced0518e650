/* SPDX-License-Identifier: MIT */
/* http_url.c -- the URL handling of the http source: the origin of a URL
 * (for the host allow-list and for deciding where credentials may go),
 * resolving next links against the request URL, setting query parameters
 * (offset and cursor paging), and a redacted form for logs and state.
 * Only absolute http and https URLs are accepted: anything else is refused
 * before a request is made. */
#include "source/src_http.h"
#include "core/codec.h"
#include "core/log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int scheme_len(const char *url)
{
  if (strncasecmp(url, "https://", 8) == 0)
    return 5;
  if (strncasecmp(url, "http://", 7) == 0)
    return 4;
  return -1;
}

int cairn__hs_url_parse(const char *url, struct cairn__hs_url *out)
{
  const char *a, *end, *at, *host, *hend, *colon = NULL;
  int sl;
  size_t hn;

  memset(out, 0, sizeof *out);
  if (!url)
    return -1;
  sl = scheme_len(url);
  if (sl < 0)
    return -1;
  for (int i = 0; i < sl; i++)
    out->scheme[i] = (char)tolower((unsigned char)url[i]);
  a = url + sl + 3;
  end = a + strcspn(a, "/?#");
  at = memchr(a, '@', (size_t)(end - a));
  host = at ? at + 1 : a;
  if (*host == '[') {
    hend = memchr(host, ']', (size_t)(end - host));
    if (!hend)
      return -1;
    hend++;
    if (hend < end && *hend == ':')
      colon = hend;
    else if (hend != end)
      return -1;
  } else {
    colon = memchr(host, ':', (size_t)(end - host));
    hend = colon ? colon : end;
  }
  hn = (size_t)(hend - host);
  if (hn == 0 || hn >= sizeof out->host)
    return -1;
  for (size_t i = 0; i < hn; i++) {
    unsigned char c = (unsigned char)host[i];
    if (c <= ' ' || c == '%' || c == '\\')
      return -1;
    out->host[i] = (char)tolower(c);
  }
  out->port = strcmp(out->scheme, "https") == 0 ? 443 : 80;
  if (colon && colon + 1 < end) {
    long p = 0;
    for (const char *q = colon + 1; q < end; q++) {
      if (!isdigit((unsigned char)*q))
        return -1;
      p = p * 10 + (*q - '0');
      if (p > 65535)
        return -1;
    }
    if (p == 0)
      return -1;
    out->port = (int)p;
  }
  return 0;
}

int cairn__hs_url_creds_ok(const struct cairn__hs_url *u)
{
  const char *h = u->host;
  if (strcmp(u->scheme, "https") == 0 || strcmp(h, "localhost") == 0 ||
      strcmp(h, "[::1]") == 0)
    return 1;
  if (strncmp(h, "127.", 4) != 0)
    return 0;
  for (h += 4; *h; h++)
    if (!isdigit((unsigned char)*h) && *h != '.')
      return 0;
  return 1;
}

void cairn__hs_url_authority(const struct cairn__hs_url *u, char *out,
                             size_t n)
{
  int dflt = strcmp(u->scheme, "https") == 0 ? 443 : 80;
  if (u->port == dflt)
    snprintf(out, n, "%s", u->host);
  else
    snprintf(out, n, "%s:%d", u->host, u->port);
}

/* ---- resolving a reference (RFC 3986 section 5.2) ------------------------ */

/* One component of a URI reference: [at, at + n); 'has' tells an empty
 * component from an absent one (authority, query, fragment). */
struct uri_part {
  const char *at;
  size_t      n;
  int         has;
};

struct uri_ref {
  struct uri_part scheme, auth, path, query, frag;
};

static int scheme_char(char c, int first)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (!first && ((c >= '0' && c <= '9') || c == '+' || c == '-' ||
                     c == '.'));
}

/* Split s into its components as the regular expression of RFC 3986
 * appendix B does. -1 when s is no URI reference: text before a ':' that
 * comes before any '/', '?' or '#' is not a scheme (3.1: a letter, then
 * letters, digits, '+', '-', '.'), and a relative reference's first
 * segment holds no ':' (4.2). Nothing else is checked: the bytes are
 * taken as they are. */
static int uri_split(const char *s, struct uri_ref *r)
{
  size_t n = strcspn(s, ":/?#");

  memset(r, 0, sizeof *r);
  if (s[n] == ':') {
    if (n == 0)
      return -1;
    for (size_t i = 0; i < n; i++)
      if (!scheme_char(s[i], i == 0))
        return -1;
    r->scheme = (struct uri_part){ s, n, 1 };
    s += n + 1;
  }
  if (s[0] == '/' && s[1] == '/') {
    n = strcspn(s + 2, "/?#");
    r->auth = (struct uri_part){ s + 2, n, 1 };
    s += 2 + n;
  }
  n = strcspn(s, "?#");
  r->path = (struct uri_part){ s, n, 1 };
  s += n;
  if (*s == '?') {
    n = strcspn(s + 1, "#");
    r->query = (struct uri_part){ s + 1, n, 1 };
    s += 1 + n;
  }
  if (*s == '#')
    r->frag = (struct uri_part){ s + 1, strlen(s + 1), 1 };
  return 0;
}

/* Drop the last segment of out and the '/' before it (never a byte
 * before 'floor', where the path starts). */
static void pop_segment(struct cairn_buf *out, size_t floor)
{
  size_t i = out->len;
  while (i > floor && out->data[i - 1] != '/')
    i--;
  out->len = i > floor ? i - 1 : floor;
  if (out->data)
    out->data[out->len] = '\0';
}

/* RFC 3986 5.2.4 remove_dot_segments: path (n bytes) without its "." and
 * ".." segments, appended to out, whose bytes before 'floor' it keeps. */
static void remove_dots(struct cairn_buf *out, size_t floor, const char *path,
                        size_t n)
{
  const char *p = path, *end = path + n;

  while (p < end) {
    size_t left = (size_t)(end - p);
    if (left >= 3 && memcmp(p, "../", 3) == 0) {          /* A */
      p += 3;
    } else if (left >= 2 && memcmp(p, "./", 2) == 0) {    /* A */
      p += 2;
    } else if (left >= 3 && memcmp(p, "/./", 3) == 0) {   /* B */
      p += 2;
    } else if (left == 2 && memcmp(p, "/.", 2) == 0) {    /* B, then E */
      cairn_buf_putc(out, '/');
      p = end;
    } else if (left >= 4 && memcmp(p, "/../", 4) == 0) {  /* C */
      pop_segment(out, floor);
      p += 3;
    } else if (left == 3 && memcmp(p, "/..", 3) == 0) {   /* C, then E */
      pop_segment(out, floor);
      cairn_buf_putc(out, '/');
      p = end;
    } else if ((left == 1 && p[0] == '.') ||
               (left == 2 && memcmp(p, "..", 2) == 0)) {  /* D */
      p = end;
    } else {                                              /* E */
      const char *slash = memchr(p + 1, '/', left - 1);
      size_t seg = slash ? (size_t)(slash - p) : left;
      cairn_buf_append(out, p, seg);
      p += seg;
    }
  }
}

char *cairn__hs_url_resolve(const char *base, const char *ref)
{
  struct uri_ref B, R;
  const struct uri_part *scheme, *auth, *query = &R.query;
  struct cairn_buf b = {0};
  size_t floor;

  if (!base || !ref || scheme_len(base) < 0 || uri_split(base, &B) < 0 ||
      uri_split(ref, &R) < 0)
    return NULL;
  /* 5.2.2, strict: a reference with a scheme is taken whole (its own
   * dot-segments removed), even when the scheme is the base's. */
  scheme = R.scheme.has ? &R.scheme : &B.scheme;
  auth = R.scheme.has || R.auth.has ? &R.auth : &B.auth;
  cairn_buf_append(&b, scheme->at, scheme->n);
  cairn_buf_putc(&b, ':');
  if (auth->has) {
    cairn_buf_puts(&b, "//");
    cairn_buf_append(&b, auth->at, auth->n);
  }
  floor = b.len;
  if (R.scheme.has || R.auth.has || (R.path.n && R.path.at[0] == '/')) {
    remove_dots(&b, floor, R.path.at, R.path.n);
  } else if (R.path.n == 0) {
    cairn_buf_append(&b, B.path.at, B.path.n);
    if (!R.query.has)
      query = &B.query;
  } else {
    /* 5.2.3 merge: the base path up to its last '/' ("/" when the base
     * has an authority and an empty path), then the reference's. */
    struct cairn_buf m = {0};
    const char *slash = NULL;
    for (size_t i = 0; i < B.path.n; i++)
      if (B.path.at[i] == '/')
        slash = B.path.at + i;
    if (B.auth.has && B.path.n == 0)
      cairn_buf_putc(&m, '/');
    else if (slash)
      cairn_buf_append(&m, B.path.at, (size_t)(slash - B.path.at) + 1);
    cairn_buf_append(&m, R.path.at, R.path.n);
    remove_dots(&b, floor, m.data, m.len);
    cairn_buf_free(&m);
  }
  if (query->has) {
    cairn_buf_putc(&b, '?');
    cairn_buf_append(&b, query->at, query->n);
  }
  /* 5.3 recomposition, without the fragment: it is the client's, never
   * sent to a server. */
  return cairn_buf_take(&b);
}

void cairn__hs_url_encode(struct cairn_buf *b, const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
      cairn_buf_putc(b, (char)*p);
    } else {
      char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
      cairn_buf_append(b, e, 3);
    }
  }
}

char *cairn__hs_url_set_param(const char *url, const char *name,
                              const char *value)
{
  struct cairn_buf b = {0};
  size_t qpos = strcspn(url, "?#");
  const char *q = url[qpos] == '?' ? url + qpos + 1 : NULL;
  const char *frag = strchr(url, '#');
  const char *qend = frag ? frag : url + strlen(url);
  struct cairn_pair p;
  int done = 0, any = 0;

  cairn_buf_append(&b, url, qpos);
  while (q && cairn_pair_next(&q, qend, &p)) {
    char *pname = cairn_pair_name(&p);
    int match = strcmp(pname, name) == 0;
    free(pname);
    if (p.end > p.at && (!match || (!done && value))) {
      cairn_buf_putc(&b, any ? '&' : '?');
      any = 1;
      if (match) {
        cairn__hs_url_encode(&b, name);
        cairn_buf_putc(&b, '=');
        cairn__hs_url_encode(&b, value);
        done = 1;
      } else {
        cairn_buf_append(&b, p.at, (size_t)(p.end - p.at));
      }
    }
  }
  if (!done && value) {
    cairn_buf_putc(&b, any ? '&' : '?');
    cairn__hs_url_encode(&b, name);
    cairn_buf_putc(&b, '=');
    cairn__hs_url_encode(&b, value);
  }
  if (frag)
    cairn_buf_puts(&b, frag);
  return cairn_buf_take(&b);
}

char *cairn__hs_url_safe(const char *url)
{
  /* The recorder's rules (one list of credential names: src/http/redact.c),
   * then every registered secret masked wherever else it shows. */
  char *out = cairn_http_url_safe(url, NULL);
  cairn_log_mask(out);
  return out;
}

/* Userinfo of an absolute URL: [*at, *len) or 0 when there is none. */
static int userinfo_of(const char *url, size_t *at, size_t *len)
{
  int sl = scheme_len(url);
  const char *a, *end, *m;
  if (sl < 0)
    return 0;
  a = url + sl + 3;
  end = a + strcspn(a, "/?#");
  m = memchr(a, '@', (size_t)(end - a));
  if (!m)
    return 0;
  *at = (size_t)(a - url);
  *len = (size_t)(m - a);
  return 1;
}

json_t *cairn__hs_url_creds(const char *url)
{
  json_t *creds = json_object();
  size_t qpos = strcspn(url, "?#"), at, len;
  const char *q = url[qpos] == '?' ? url + qpos + 1 : NULL;
  const char *qend = q ? q + strcspn(q, "#") : NULL;
  struct cairn_pair p;

  if (userinfo_of(url, &at, &len)) {
    char *ui = cairn_xstrndup(url + at, len);
    json_object_set_new(creds, "@", json_string(ui));
    free(ui);
  }
  while (q && cairn_pair_next(&q, qend, &p)) {
    if (p.eq) {
      char *name = cairn_pair_name(&p);
      char *value = cairn_xstrndup(p.eq + 1, (size_t)(p.end - p.eq - 1));
      if (cairn_http_param_redacted(name, value, NULL) &&
          !json_object_get(creds, name))
        json_object_set_new(creds, name, json_string(value));
      free(name);
      free(value);
    }
  }
  return creds;
}

int cairn__hs_url_restore(const char *kept, const json_t *creds, char **out,
                          char *missing, size_t n)
{
  static const char red[] = CAIRN_HTTP_REDACTED;
  struct cairn_buf b = { 0 };
  size_t qpos = strcspn(kept, "?#"), at, len;
  const char *q = kept[qpos] == '?' ? kept + qpos + 1 : NULL;
  const char *qend = q ? q + strcspn(q, "#") : NULL;
  const char *ui = json_string_value(json_object_get(creds, "@"));
  const char *rest = kept + qpos; /* copied as it is from here on */
  struct cairn_pair p;

  *out = NULL;
  missing[0] = '\0';
  if (userinfo_of(kept, &at, &len) && len == strlen(red) &&
      memcmp(kept + at, red, len) == 0) {
    if (!ui) {
      snprintf(missing, n, "userinfo");
      return -1;
    }
    cairn_buf_append(&b, kept, at);
    cairn_buf_puts(&b, ui);
    cairn_buf_append(&b, kept + at + len, qpos - at - len);
  } else {
    cairn_buf_append(&b, kept, qpos);
  }
  /* Only REDACTED values change: everything between them (separators,
   * empty pairs, a bare '?' or a trailing '&', the fragment) is kept. */
  while (q && cairn_pair_next(&q, qend, &p)) {
    char *name;
    const char *v;
    if (!cairn_pair_value_is(&p, red))
      continue;
    name = cairn_pair_name(&p);
    v = json_string_value(json_object_get(creds, name));
    if (!v && cairn_http_secret_param(name)) {
      snprintf(missing, n, "%s", name);
      free(name);
      cairn_buf_free(&b);
      return -1;
    }
    cairn_buf_append(&b, rest, (size_t)(p.eq + 1 - rest));
    cairn_buf_puts(&b, v ? v : red);
    rest = p.end;
    free(name);
  }
  cairn_buf_puts(&b, rest);
  *out = cairn_buf_take(&b);
  return 0;
}
