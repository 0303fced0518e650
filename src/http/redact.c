/* SPDX-License-Identifier: MIT */
/* redact.c -- what the recorder must never write to disk, and how it is
 * replaced. Credentials become the string "REDACTED", which the matcher
 * (har.c) treats as a wildcard, so a redacted recording still replays.
 *
 * Bodies are judged by content: JSON (parsed, any depth; text that looks
 * like JSON but does not parse is patched textually), form-encoded (by
 * content type, else by shape), anything else is left alone. */
#include "http/har.h"
#include "core/codec.h"
#include "core/log.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Credential headers: the standard ones, and the API-key headers of
 * well-known services (Azure API Management and Functions, Google, AWS
 * session tokens, GitLab, Vault, and the generic X-API-Key family), so a
 * key given as ${env:...} or written in the job does not reach a
 * recording, the mock's log or page metadata. A job's own are in its
 * `redact` list. */
static const char *const secret_headers[] = {
  "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie",
  "X-API-Key", "Api-Key", "ApiKey", "X-ApiKey", "Ocp-Apim-Subscription-Key",
  "X-Functions-Key", "X-Goog-Api-Key", "X-Amz-Security-Token",
  "X-Auth-Token", "X-Access-Token", "Private-Token", "X-Vault-Token", NULL
};
static const char *const secret_fields[] = {
  "client_secret", "client_assertion", "access_token", "refresh_token",
  "id_token", "password", NULL
};
/* Query parameters whose values are credentials: the fields above plus
 * API keys, codes and signed-URL parameters (Azure SAS, AWS and GCS
 * presigned URLs); names ending in "secret" too. The one list behind
 * recordings, replay messages, the mock's log and the http source's logs,
 * state and page metadata. Paging tokens ($skiptoken, nextPageToken,
 * $deltatoken) are data, not credentials. */
static const char *const secret_query[] = {
  "sig", "signature", "code", "key", "apikey", "api_key", "api-key",
  "passwd", "pwd", "token", "auth", "subscription-key", "X-Amz-Signature",
  "X-Amz-Security-Token", "X-Amz-Credential", "X-Goog-Signature",
  "X-Goog-Credential", NULL
};

static int in_list(const char *name, const char *const *list)
{
  for (; list && *list; list++)
    if (strcasecmp(name, *list) == 0)
      return 1;
  return 0;
}

int cairn_http_secret_param(const char *name)
{
  size_t n = name ? strlen(name) : 0;
  return name && (in_list(name, secret_fields) || in_list(name, secret_query) ||
                  (n >= 6 && strcasecmp(name + n - 6, "secret") == 0));
}

int cairn_http_param_redacted(const char *name, const char *value,
                              const char *const *extra)
{
  return (name && (cairn_http_secret_param(name) || in_list(name, extra))) ||
         (value && cairn_log_has_secret(value));
}

int cairn_http_secret_header(const char *name)
{
  return name && in_list(name, secret_headers);
}

int cairn__redact_header(const char *name, const char *const *extra)
{
  return name && (cairn_http_secret_header(name) || in_list(name, extra));
}

int cairn__redact_field(const char *name, int query,
                        const char *const *extra)
{
  return name && (in_list(name, secret_fields) || in_list(name, extra) ||
                  (query && cairn_http_secret_param(name)));
}

/* ---- form-encoded -------------------------------------------------------- */

int cairn__is_form(const char *body, size_t len, const char *ctype)
{
  if (ctype && *ctype)
    return strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0;
  if (!body || len == 0 || !memchr(body, '=', len))
    return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)body[i];
    if (c <= ' ' || c >= 0x7f || c == '"' || c == '{' || c == '<' ||
        c == '\\')
      return 0;
  }
  return 1;
}

/* Must the value v[0..n) (as written, encoded) of the pair named name
 * be replaced? A query parameter by cairn_http_param_redacted, a form
 * field by the field names; either when it holds a registered secret. */
static int redacted_pair(const char *name, const char *v, size_t n, int query,
                         const char *const *extra)
{
  char *value = cairn_xstrndup(v, n);
  int hit = query ? cairn_http_param_redacted(name, value, extra)
                  : cairn__redact_field(name, 0, extra) ||
                        cairn_log_has_secret(value);
  free(value);
  return hit;
}

/* Rewrite "a=1&b=2" with the values of credential names, and values that
 * hold a registered secret, replaced.
 * Returns 1 when something changed. */
static int redact_pairs(const char *s, size_t len, int query,
                        const char *const *extra, struct cairn_buf *out)
{
  struct cairn_pair p;
  int changed = 0;

  for (const char *at = s; cairn_pair_next(&at, s + len, &p);) {
    char *name = cairn_pair_name(&p);
    if (p.eq &&
        redacted_pair(name, p.eq + 1, (size_t)(p.end - p.eq - 1), query,
                      extra) &&
        !cairn_pair_value_is(&p, CAIRN_HTTP_REDACTED)) {
      cairn_buf_append(out, p.at, (size_t)(p.eq + 1 - p.at));
      cairn_buf_puts(out, CAIRN_HTTP_REDACTED);
      changed = 1;
    } else {
      cairn_buf_append(out, p.at, (size_t)(p.end - p.at));
    }
    free(name);
    if (p.end < s + len)
      cairn_buf_putc(out, '&');
  }
  return changed;
}

/* ---- JSON ---------------------------------------------------------------- */

static int redact_json(json_t *v, const char *const *extra)
{
  int changed = 0;

  if (json_is_object(v)) {
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
      if (cairn__redact_field(key, 0, extra) ||
          (json_is_string(val) &&
           cairn_log_has_secret(json_string_value(val)))) {
        if (!json_is_string(val) ||
            strcmp(json_string_value(val), CAIRN_HTTP_REDACTED) != 0) {
          json_object_set_new(v, key, json_string(CAIRN_HTTP_REDACTED));
          changed = 1;
        }
      } else {
        changed |= redact_json(val, extra);
      }
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *val;
    json_array_foreach(v, i, val)
      changed |= redact_json(val, extra);
  }
  return changed;
}

/* For JSON-looking text jansson refuses (e.g. integers beyond 64 bits):
 * replace the string value after every "name": whose name is a credential.
 * Non-string values of such names are left; the parse path handles them. */
static int redact_json_text(const char *s, size_t len,
                            const char *const *extra, struct cairn_buf *out)
{
  size_t i = 0, copied = 0;
  int changed = 0;

  while (i < len) {
    size_t k, ke, j;
    char *name;
    int hit;
    if (s[i] != '"') {
      i++;
      continue;
    }
    /* A string token: find its end. */
    k = i + 1;
    while (k < len && s[k] != '"')
      k += s[k] == '\\' ? 2 : 1;
    if (k >= len)
      break;
    ke = k;
    j = k + 1;
    while (j < len && isspace((unsigned char)s[j]))
      j++;
    if (j >= len || s[j] != ':') {
      i = k + 1;
      continue;
    }
    j++;
    while (j < len && isspace((unsigned char)s[j]))
      j++;
    name = cairn_xstrndup(s + i + 1, ke - i - 1);
    hit = cairn__redact_field(name, 0, extra);
    free(name);
    if (hit && j < len && s[j] == '"') {
      size_t ve = j + 1;
      while (ve < len && s[ve] != '"')
        ve += s[ve] == '\\' ? 2 : 1;
      if (ve >= len)
        break;
      cairn_buf_append(out, s + copied, j + 1 - copied);
      cairn_buf_puts(out, CAIRN_HTTP_REDACTED);
      copied = ve;
      changed |= ve - j - 1 != strlen(CAIRN_HTTP_REDACTED) ||
                 memcmp(s + j + 1, CAIRN_HTTP_REDACTED, ve - j - 1) != 0;
      i = ve + 1;
    } else {
      i = j;
    }
  }
  cairn_buf_append(out, s + copied, len - copied);
  return changed;
}

void cairn__redact_body(const char *body, size_t len, const char *ctype,
                        const char *const *extra, char **out,
                        size_t *out_len)
{
  struct cairn_buf b = { 0 };
  json_t *doc;
  size_t i = 0;

  *out = NULL;
  *out_len = 0;
  if (!body || len == 0)
    return;
  doc = json_loadb(body, len, 0, NULL);
  if (doc) {
    if (redact_json(doc, extra)) {
      *out = json_dumps(doc, JSON_COMPACT);
      *out_len = *out ? strlen(*out) : 0;
    }
    json_decref(doc);
    return;
  }
  while (i < len && isspace((unsigned char)body[i]))
    i++;
  if (i < len && (body[i] == '{' || body[i] == '[')) {
    if (redact_json_text(body, len, extra, &b)) {
      *out_len = b.len;
      *out = cairn_buf_take(&b);
    }
  } else if (cairn__is_form(body, len, ctype)) {
    if (redact_pairs(body, len, 0, extra, &b)) {
      *out_len = b.len;
      *out = cairn_buf_take(&b);
    }
  }
  cairn_buf_free(&b);
}

char *cairn_http_url_safe(const char *url, const char *const *extra)
{
  struct cairn_buf b = { 0 };
  const char *scheme = url ? strstr(url, "://") : NULL;
  const char *auth = scheme ? scheme + 3 : url;
  const char *auth_end, *at, *q, *frag;

  if (!url)
    return cairn_xstrdup("");
  auth_end = auth + strcspn(auth, "/?#");
  at = memchr(auth, '@', (size_t)(auth_end - auth));
  if (at && scheme) {
    cairn_buf_append(&b, url, (size_t)(auth - url));
    cairn_buf_puts(&b, CAIRN_HTTP_REDACTED);
    cairn_buf_puts(&b, at);
  } else {
    cairn_buf_puts(&b, url);
  }
  if (!b.data)
    return cairn_xstrdup("");
  /* The authority ends before any '?', so the first '?' starts the query. */
  q = strchr(b.data, '?');
  if (q) {
    struct cairn_buf nb = { 0 };
    size_t qoff = (size_t)(q - b.data) + 1, qend;
    frag = strchr(b.data + qoff, '#');
    qend = frag ? (size_t)(frag - b.data) : b.len;
    cairn_buf_append(&nb, b.data, qoff);
    redact_pairs(b.data + qoff, qend - qoff, 1, extra, &nb);
    cairn_buf_append(&nb, b.data + qend, b.len - qend);
    cairn_buf_free(&b);
    b = nb;
  }
  return cairn_buf_take(&b);
}

char *cairn_http_header_safe(const char *name, const char *value,
                             const char *const *extra)
{
  struct cairn_buf b = { 0 };
  const char *p;

  if (!name || !value)
    return NULL;
  if (strcasecmp(name, "Location") == 0 ||
      strcasecmp(name, "Content-Location") == 0)
    return cairn_http_url_safe(value, extra);
  if (strcasecmp(name, "Link") != 0)
    return NULL;
  /* RFC 8288: every <target> is a URL; parameters are left as they are. */
  for (p = value; *p;) {
    const char *lt = strchr(p, '<'), *gt;
    char *target, *safe;
    if (!lt || !(gt = strchr(lt + 1, '>')))
      break;
    cairn_buf_append(&b, p, (size_t)(lt - p) + 1);
    target = cairn_xstrndup(lt + 1, (size_t)(gt - lt - 1));
    safe = cairn_http_url_safe(target, extra);
    cairn_buf_puts(&b, safe);
    free(safe);
    free(target);
    p = gt;   /* the '>' is copied with what follows */
    cairn_buf_putc(&b, '>');
    p++;
  }
  cairn_buf_puts(&b, p);
  return b.data ? cairn_buf_take(&b) : cairn_xstrdup("");
}
