/* SPDX-License-Identifier: MIT */
/* http_url.c -- the URL handling of the http source: the origin of a URL
 * (for the host allow-list and for deciding where credentials may go),
 * resolving next links against the request URL, setting query parameters
 * (offset and cursor paging), and a redacted form for logs and state.
 * Only absolute http and https URLs are accepted: anything else is refused
 * before a request is made. */
#include "source/src_http.h"
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

void cairn__hs_url_authority(const struct cairn__hs_url *u, char *out,
                             size_t n)
{
  int dflt = strcmp(u->scheme, "https") == 0 ? 443 : 80;
  if (u->port == dflt)
    snprintf(out, n, "%s", u->host);
  else
    snprintf(out, n, "%s:%d", u->host, u->port);
}

/* Length of "scheme://authority" of an absolute URL. */
static size_t origin_len(const char *url)
{
  int sl = scheme_len(url);
  const char *a = url + sl + 3;
  return (size_t)(a - url) + strcspn(a, "/?#");
}

/* Remove "." and ".." segments from an absolute path (RFC 3986 5.2.4),
 * leaving query and fragment alone. */
static void remove_dots(struct cairn_buf *out, const char *path)
{
  size_t qpos = strcspn(path, "?#");
  char *p = cairn_xstrndup(path, qpos);
  char **segs = cairn_xcalloc(strlen(p) + 2, sizeof *segs);
  size_t n = 0;
  char *save = NULL, *tok;
  int trailing = qpos > 0 && (p[qpos - 1] == '/' ||
                              (qpos >= 2 && strcmp(p + qpos - 2, "/.") == 0) ||
                              (qpos >= 3 && strcmp(p + qpos - 3, "/..") == 0));

  for (tok = strtok_r(p, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
    if (strcmp(tok, ".") == 0)
      continue;
    if (strcmp(tok, "..") == 0) {
      if (n)
        n--;
      continue;
    }
    segs[n++] = tok;
  }
  for (size_t i = 0; i < n; i++) {
    cairn_buf_putc(out, '/');
    cairn_buf_puts(out, segs[i]);
  }
  if (n == 0 || trailing)
    cairn_buf_putc(out, '/');
  cairn_buf_puts(out, path + qpos);
  free(segs);
  free(p);
}

char *cairn__hs_url_resolve(const char *base, const char *ref)
{
  struct cairn_buf b = {0};
  size_t ol;

  if (!base || !ref || scheme_len(base) < 0)
    return NULL;
  while (*ref == ' ' || *ref == '\t')
    ref++;
  if (strstr(ref, "://") && strcspn(ref, ":") < strcspn(ref, "/?#"))
    return cairn_xstrdup(ref);   /* absolute (any scheme: checked later) */
  ol = origin_len(base);
  if (ref[0] == '/' && ref[1] == '/') {
    cairn_buf_append(&b, base, (size_t)scheme_len(base) + 1);
    cairn_buf_puts(&b, ref);
    return cairn_buf_take(&b);
  }
  cairn_buf_append(&b, base, ol);
  if (ref[0] == '/') {
    remove_dots(&b, ref);
  } else if (ref[0] == '?') {
    const char *path = base + ol;
    cairn_buf_append(&b, path, strcspn(path, "?#"));
    cairn_buf_puts(&b, ref);
  } else if (ref[0] == '\0') {
    cairn_buf_puts(&b, base + ol);
  } else {
    /* Merge: the base path up to its last '/', then ref. */
    const char *path = base + ol;
    size_t pl = strcspn(path, "?#");
    const char *slash = NULL;
    struct cairn_buf m = {0};
    for (size_t i = 0; i < pl; i++)
      if (path[i] == '/')
        slash = path + i;
    if (slash)
      cairn_buf_append(&m, path, (size_t)(slash - path) + 1);
    else
      cairn_buf_putc(&m, '/');
    cairn_buf_puts(&m, ref);
    remove_dots(&b, m.data);
    cairn_buf_free(&m);
  }
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

/* Decode %XX and '+' of a query name for comparison. New string. */
static char *qdecode(const char *s, size_t n)
{
  char *out = cairn_xmalloc(n + 1);
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
        isxdigit((unsigned char)s[i + 2])) {
      char h[3] = { s[i + 1], s[i + 2], 0 };
      out[j++] = (char)strtol(h, NULL, 16);
      i += 2;
    } else if (s[i] == '+') {
      out[j++] = ' ';
    } else {
      out[j++] = s[i];
    }
  }
  out[j] = '\0';
  return out;
}

char *cairn__hs_url_set_param(const char *url, const char *name,
                              const char *value)
{
  struct cairn_buf b = {0};
  size_t qpos = strcspn(url, "?#");
  const char *q = url[qpos] == '?' ? url + qpos + 1 : NULL;
  const char *frag = strchr(url, '#');
  const char *qend = frag ? frag : url + strlen(url);
  int done = 0, any = 0;

  cairn_buf_append(&b, url, qpos);
  while (q && q < qend) {
    const char *amp = memchr(q, '&', (size_t)(qend - q));
    const char *pe = amp ? amp : qend;
    const char *eq = memchr(q, '=', (size_t)(pe - q));
    char *pname = qdecode(q, (size_t)((eq ? eq : pe) - q));
    int match = strcmp(pname, name) == 0;
    free(pname);
    if (pe > q && (!match || (!done && value))) {
      cairn_buf_putc(&b, any ? '&' : '?');
      any = 1;
      if (match) {
        cairn__hs_url_encode(&b, name);
        cairn_buf_putc(&b, '=');
        cairn__hs_url_encode(&b, value);
        done = 1;
      } else {
        cairn_buf_append(&b, q, (size_t)(pe - q));
      }
    }
    q = amp ? amp + 1 : qend;
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

/* Query parameters whose values are credentials. Matched on the decoded
 * name, case-insensitively; names ending in "secret" too. Paging tokens
 * ($skiptoken, nextPageToken, $deltatoken) are data, not credentials. */
static int secret_param(const char *name)
{
  static const char *const exact[] = {
    "sig", "signature", "code", "key", "apikey", "api_key", "api-key",
    "password", "passwd", "pwd", "client_secret", "client_assertion",
    "access_token", "refresh_token", "id_token", "token", "auth",
    "subscription-key", "x-amz-signature", "x-amz-security-token",
    "x-amz-credential", "x-goog-signature", "x-goog-credential", NULL
  };
  size_t n = strlen(name);
  for (int i = 0; exact[i]; i++)
    if (strcasecmp(name, exact[i]) == 0)
      return 1;
  if (n >= 6 && strcasecmp(name + n - 6, "secret") == 0)
    return 1;
  return 0;
}

char *cairn__hs_url_safe(const char *url)
{
  struct cairn_buf b = {0};
  const char *q, *qend, *frag;
  char *out;
  size_t qpos;

  if (!url)
    return cairn_xstrdup("");
  if (scheme_len(url) >= 0) {
    /* Drop userinfo. */
    const char *a = url + scheme_len(url) + 3;
    const char *end = a + strcspn(a, "/?#");
    const char *at = memchr(a, '@', (size_t)(end - a));
    cairn_buf_append(&b, url, (size_t)(a - url));
    url = at ? at + 1 : a;
  }
  qpos = strcspn(url, "?#");
  cairn_buf_append(&b, url, qpos);
  q = url[qpos] == '?' ? url + qpos + 1 : NULL;
  frag = strchr(url + qpos, '#');
  qend = frag ? frag : url + strlen(url);
  if (q) {
    int first = 1;
    while (q <= qend) {
      const char *amp = memchr(q, '&', (size_t)(qend - q));
      const char *pe = amp ? amp : qend;
      const char *eq = memchr(q, '=', (size_t)(pe - q));
      char *pname = qdecode(q, (size_t)((eq ? eq : pe) - q));
      cairn_buf_putc(&b, first ? '?' : '&');
      first = 0;
      if (eq && secret_param(pname)) {
        cairn_buf_append(&b, q, (size_t)(eq - q) + 1);
        cairn_buf_puts(&b, CAIRN_HTTP_REDACTED);
      } else {
        cairn_buf_append(&b, q, (size_t)(pe - q));
      }
      free(pname);
      if (!amp)
        break;
      q = amp + 1;
    }
  }
  out = cairn_buf_take(&b);
  cairn_log_mask(out);
  return out;
}
