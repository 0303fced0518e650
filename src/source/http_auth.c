/* SPDX-License-Identifier: MIT */
/* http_auth.c -- credentials of the http source: OAuth2 client
 * credentials (Microsoft Entra ID v2 token endpoint), HTTP basic
 * (ServiceNow user/password, Jira e-mail/API token) and a static bearer
 * token. OAuth2 tokens are cached process-wide per (token URL, client id,
 * scope) until shortly before they expire, so one run asks the token
 * endpoint once however many pages and windows it pulls; after a 401 the
 * source drops the token and asks again, once. The token request goes
 * through the source's own transport (so it is recorded and replayed, with
 * client_secret and access_token redacted by the recorder) and every token
 * received is registered as a log secret so no log line can show it.
 * Certificate (client assertion) credentials are not implemented: see
 * docs/internals/http-source.md. */
#include "source/src_http.h"
#include "core/clock.h"
#include "core/codec.h"
#include "core/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- config -------------------------------------------------------------- */

static char *str_dup(const json_t *o, const char *key)
{
  const char *s = json_string_value(json_object_get(o, key));
  return s && *s ? cairn_xstrdup(s) : NULL;
}

int cairn__hs_auth_load(const json_t *cfg, struct cairn__hs_auth *a,
                        const char **ptr_out, cairn_err *err)
{
  const json_t *o = json_object_get(cfg, "auth");
  const char *type;

  memset(a, 0, sizeof *a);
  if (!o)
    return CAIRN_OK;
  type = json_string_value(json_object_get(o, "type"));
  if (!type) {
    *ptr_out = "/auth/type";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "auth needs a type (oauth2, "
                       "basic or bearer)");
  }
  if (strcmp(type, "oauth2") == 0) {
    a->type = CAIRN__HS_AUTH_OAUTH2;
    a->token_url = str_dup(o, "token_url");
    a->client_id = str_dup(o, "client_id");
    a->client_secret = str_dup(o, "client_secret");
    a->scope = str_dup(o, "scope");
    if (!a->token_url) {
      *ptr_out = "/auth/token_url";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "oauth2 auth needs token_url "
                         "(e.g. https://login.microsoftonline.com/TENANT/"
                         "oauth2/v2.0/token)");
    }
    if (strncmp(a->token_url, "https://", 8) != 0 &&
        strncmp(a->token_url, "http://", 7) != 0) {
      *ptr_out = "/auth/token_url";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "token_url must be an http(s) "
                         "URL");
    }
    if (!a->client_id) {
      *ptr_out = "/auth/client_id";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "oauth2 auth needs client_id");
    }
    if (!a->client_secret) {
      *ptr_out = "/auth/client_secret";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "oauth2 auth needs "
                         "client_secret (use ${secret:NAME})");
    }
  } else if (strcmp(type, "basic") == 0) {
    a->type = CAIRN__HS_AUTH_BASIC;
    a->username = str_dup(o, "username");
    a->password = str_dup(o, "password");
    if (!a->username || !a->password) {
      *ptr_out = a->username ? "/auth/password" : "/auth/username";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "basic auth needs username "
                         "and password (use ${secret:NAME})");
    }
  } else if (strcmp(type, "bearer") == 0) {
    a->type = CAIRN__HS_AUTH_BEARER;
    a->token = str_dup(o, "token");
    if (!a->token) {
      *ptr_out = "/auth/token";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "bearer auth needs a token "
                         "(use ${secret:NAME})");
    }
  } else {
    *ptr_out = "/auth/type";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "unknown auth type \"%s\" (have: "
                       "oauth2, basic, bearer)", type);
  }
  return CAIRN_OK;
}

void cairn__hs_auth_clear(struct cairn__hs_auth *a)
{
  free(a->token_url);
  free(a->client_id);
  free(a->client_secret);
  free(a->scope);
  free(a->username);
  free(a->password);
  free(a->token);
  memset(a, 0, sizeof *a);
}

/* ---- the token cache ----------------------------------------------------- */

struct tok {
  char   *key;          /* token_url \n client_id \n scope */
  char   *value;        /* "Bearer ..." */
  int64_t refresh_at;   /* vclock ms: ask again from then on */
};

#define MAX_TOKENS 16
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tok toks[MAX_TOKENS];
static long n_token_requests;

static char *cache_key(const struct cairn__hs_auth *a)
{
  return cairn_strfmt("%s\n%s\n%s", a->token_url, a->client_id,
                      a->scope ? a->scope : "");
}

/* Called with lock held. */
static struct tok *tok_find(const char *key)
{
  for (int i = 0; i < MAX_TOKENS; i++)
    if (toks[i].key && strcmp(toks[i].key, key) == 0)
      return &toks[i];
  return NULL;
}

static void tok_drop(struct tok *t)
{
  free(t->key);
  free(t->value);
  memset(t, 0, sizeof *t);
}

void cairn__hs_auth_reset_cache(void)
{
  pthread_mutex_lock(&lock);
  for (int i = 0; i < MAX_TOKENS; i++)
    tok_drop(&toks[i]);
  n_token_requests = 0;
  pthread_mutex_unlock(&lock);
}

long cairn__hs_auth_token_requests(void)
{
  long n;
  pthread_mutex_lock(&lock);
  n = n_token_requests;
  pthread_mutex_unlock(&lock);
  return n;
}

int cairn__hs_auth_invalidate(const struct cairn__hs_auth *a)
{
  char *key;
  if (a->type != CAIRN__HS_AUTH_OAUTH2)
    return 0;
  key = cache_key(a);
  pthread_mutex_lock(&lock);
  struct tok *t = tok_find(key);
  if (t)
    tok_drop(t);
  pthread_mutex_unlock(&lock);
  free(key);
  return 1;
}

int cairn__hs_auth_renew(const struct cairn__hs_auth *a,
                         cairn__hs_post_fn post, void *ud, char **value,
                         cairn_err *err)
{
  if (!*value || !cairn__hs_auth_invalidate(a))
    return 0;
  free(*value);
  *value = NULL;
  CAIRN_TRY(cairn__hs_auth_value(a, post, ud, value, err));
  return 1;
}

static void form_pair(struct cairn_buf *b, const char *k, const char *v)
{
  if (b->len)
    cairn_buf_putc(b, '&');
  cairn_buf_puts(b, k);
  cairn_buf_putc(b, '=');
  cairn__hs_url_encode(b, v);
}

/* The endpoint's error: OAuth2 error + description, and Entra's trace and
 * correlation ids (worth logging, never secret). The request body is never
 * logged. */
static int token_error(const struct cairn__hs_auth *a,
                       const struct cairn_http_resp *r, cairn_err *err)
{
  json_t *doc = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0,
                           NULL);
  const char *code = json_string_value(json_object_get(doc, "error"));
  const char *desc = json_string_value(json_object_get(doc,
                                                       "error_description"));
  const char *tid = json_string_value(json_object_get(doc, "trace_id"));
  const char *cid = json_string_value(json_object_get(doc, "correlation_id"));
  char *url = cairn__hs_url_safe(a->token_url), *said;
  char msg[CAIRN_ERRMSG_MAX];
  int rc;

  /* The endpoint's words masked whole before they are cut to 200 bytes. */
  said = cairn_xstrdup(desc ? desc : "");
  cairn_log_mask(said);
  snprintf(msg, sizeof msg, "token request to %s: HTTP %ld%s%s%s%.200s%s%s%s%s"
           "%s", url, r->status, code ? ": " : "", code ? code : "",
           desc ? ": " : "", said, tid ? " (trace_id " : "",
           tid ? tid : "", cid ? ", correlation_id " : "", cid ? cid : "",
           tid ? ")" : "");
  free(said);
  cairn_log_mask(msg);
  rc = CAIRN_RAISE(err, CAIRN_EHTTP, r->status, "%s", msg);
  free(url);
  json_decref(doc);
  return rc;
}

/* An access token fit for a header line: printable ASCII, no space
 * (RFC 6750's b64token is narrower still). */
static int token_ok(const char *t)
{
  for (; *t; t++)
    if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
      return 0;
  return 1;
}

static int fetch_token(const struct cairn__hs_auth *a, cairn__hs_post_fn post,
                       void *ud, char **out, cairn_err *err)
{
  struct cairn_buf body = {0};
  struct cairn_http_resp resp = {0};
  json_t *doc = NULL;
  const char *tok;
  const json_t *exp;
  int64_t life_s = 3600, margin_s;
  char *key = NULL;
  int rc;

  form_pair(&body, "grant_type", "client_credentials");
  form_pair(&body, "client_id", a->client_id);
  form_pair(&body, "client_secret", a->client_secret);
  if (a->scope)
    form_pair(&body, "scope", a->scope);
  pthread_mutex_lock(&lock);
  n_token_requests++;
  pthread_mutex_unlock(&lock);
  rc = post(ud, a->token_url, body.data, &resp, err);
  if (rc < 0)
    goto done;
  if (resp.status != 200) {
    rc = token_error(a, &resp, err);
    goto done;
  }
  doc = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0,
                   NULL);
  tok = json_string_value(json_object_get(doc, "access_token"));
  if (!tok || !*tok) {
    char *url = cairn__hs_url_safe(a->token_url);
    const char *ct = cairn_http_resp_header(&resp, "Content-Type");
    rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "token response from %s has no "
                     "access_token (%s%s%.60s)", url,
                     doc ? "a JSON body without one" : "the body is not JSON",
                     ct ? ", Content-Type " : "", ct ? ct : "");
    free(url);
    goto done;
  }
  if (!token_ok(tok)) {
    /* It becomes a header line: CR or LF in it would add headers of the
     * endpoint's choosing to every request. */
    char *url = cairn__hs_url_safe(a->token_url);
    rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "token response from %s has an "
                     "access_token with control characters or spaces; "
                     "refused", url);
    free(url);
    goto done;
  }
  /* Mask the token in every log line; a replayed recording's token is
   * the placeholder itself, which must stay matchable. */
  if (strcmp(tok, CAIRN_HTTP_REDACTED) != 0)
    cairn_log_add_secret(tok);
  exp = json_object_get(doc, "expires_in");
  if (json_is_integer(exp))
    life_s = (int64_t)json_integer_value(exp);
  else if (json_is_string(exp))
    life_s = strtoll(json_string_value(exp), NULL, 10);
  if (life_s <= 0)
    life_s = 60;
  /* Ten years at most: a larger lifetime overflowed the refresh time in
   * milliseconds, which made every request ask for a new token. */
  if (life_s > 315360000)
    life_s = 315360000;
  /* Refresh shortly before expiry: at 80% of the lifetime, and never
   * later than five minutes before the end. */
  margin_s = life_s / 5;
  if (margin_s > 300)
    margin_s = 300;
  *out = cairn_strfmt("Bearer %s", tok);
  key = cache_key(a);
  pthread_mutex_lock(&lock);
  {
    struct tok *t = tok_find(key);
    if (!t)
      for (int i = 0; i < MAX_TOKENS && !t; i++)
        if (!toks[i].key)
          t = &toks[i];
    if (!t)
      t = &toks[0];
    tok_drop(t);
    t->key = key;
    key = NULL;
    t->value = cairn_xstrdup(*out);
    t->refresh_at = cairn__hs_vclock_ms() + (life_s - margin_s) * 1000;
  }
  pthread_mutex_unlock(&lock);
done:
  free(key);
  json_decref(doc);
  cairn_http_resp_free(&resp);
  /* The form held the client secret: wipe it before freeing. */
  if (body.data)
    memset(body.data, 0, body.len);
  cairn_buf_free(&body);
  return rc;
}

int cairn__hs_auth_value(const struct cairn__hs_auth *a, cairn__hs_post_fn post,
                         void *ud, char **out, cairn_err *err)
{
  *out = NULL;
  switch (a->type) {
  case CAIRN__HS_AUTH_BASIC: {
    char *pair = cairn_strfmt("%s:%s", a->username, a->password);
    char *enc = cairn_base64_encode(pair, strlen(pair));
    cairn_log_add_secret(enc);
    *out = cairn_strfmt("Basic %s", enc);
    memset(pair, 0, strlen(pair));
    free(pair);
    free(enc);
    return CAIRN_OK;
  }
  case CAIRN__HS_AUTH_BEARER:
    *out = cairn_strfmt("Bearer %s", a->token);
    return CAIRN_OK;
  case CAIRN__HS_AUTH_OAUTH2: {
    char *key = cache_key(a);
    pthread_mutex_lock(&lock);
    struct tok *t = tok_find(key);
    if (t && cairn__hs_vclock_ms() < t->refresh_at)
      *out = cairn_xstrdup(t->value);
    pthread_mutex_unlock(&lock);
    free(key);
    if (*out)
      return CAIRN_OK;
    return fetch_token(a, post, ud, out, err);
  }
  default:
    return CAIRN_OK;
  }
}
