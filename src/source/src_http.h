/* SPDX-License-Identifier: MIT */
/* src_http.h -- internals of the http source, shared by its files:
 *
 *   src_http.c     the source (config, extract/decode, incremental state)
 *   http_url.c     URL parsing, resolution, query edits, redaction, hosts
 *   http_paging.c  the paging styles and the RFC 8288 Link parser
 *   http_retry.c   retry policy: delays, Retry-After, vendor headers,
 *                  backoff with full jitter, time budget, circuit breaker,
 *                  the injectable (virtual) clock
 *   http_auth.c    OAuth2 client credentials (token cache), basic, bearer
 *   http_trace.c   W3C traceparent ids and correlation ids
 *
 * Not a public API: only these files include it (names use the
 * cairn__hs_ prefix). Ownership follows the project rule: pointers passed
 * in are borrowed, returned char * are owned by the caller (free()).
 * docs/internals/http-source.md explains the design. */
#ifndef CAIRN_SRC_HTTP_H
#define CAIRN_SRC_HTTP_H

#include <stdint.h>
#include <jansson.h>
#include "core/err.h"
#include "core/mem.h"
#include "http/http.h"

/* ---- URLs (http_url.c) --------------------------------------------------- */

struct cairn__hs_url {
  char scheme[8];    /* "http" or "https", lower case */
  char host[256];    /* lower case; IPv6 keeps its brackets */
  int  port;         /* effective port (80/443 when not given) */
};

/* Parse an absolute http(s) URL's origin. 0, or -1 when it is not one. */
int cairn__hs_url_parse(const char *url, struct cairn__hs_url *out);
/* May credentials go to u: https, or plain http to this machine
 * (localhost, 127.0.0.0/8, [::1]: a loopback mock)? */
int cairn__hs_url_creds_ok(const struct cairn__hs_url *u);

/* "host" or "host:port" (the port only when it is not the default). */
void cairn__hs_url_authority(const struct cairn__hs_url *u, char *out,
                             size_t n);

/* Resolve the URI reference ref (a next link, a Location, a delta link)
 * against base as RFC 3986 section 5.2 does (strict: a reference with a
 * scheme is taken whole), dot-segments removed, every other byte as it
 * is (no percent-encoding added or decoded: tokens are opaque). The
 * fragment is dropped: it is never sent to a server. The result may have
 * another scheme or host than base ("mailto:x", "//other/p"): callers
 * check it (cairn__hs_url_parse, the allowed hosts). New string; NULL
 * when base is not an absolute http(s) URL, or ref is no URI reference
 * (text before its first ':' that is not a scheme, e.g. "1a:b"). */
char *cairn__hs_url_resolve(const char *base, const char *ref);

/* Percent-encode s for a query value (everything but RFC 3986
 * unreserved characters). */
void cairn__hs_url_encode(struct cairn_buf *b, const char *s);

/* A copy of url with query parameter 'name' set to 'value' (encoded):
 * the first occurrence is replaced, others removed; appended when absent.
 * value NULL removes the parameter. New string. */
char *cairn__hs_url_set_param(const char *url, const char *name,
                              const char *value);

/* A copy of url safe for logs and state: cairn_http_url_safe (userinfo
 * and the values of credential query parameters -- sig, token, code, key,
 * password, client_secret, X-Amz-*, ..., or any value holding a
 * registered secret -- replaced by REDACTED), then any registered log
 * secret left elsewhere masked. New string. */
char *cairn__hs_url_safe(const char *url);

/* The credentials of url that its safe form replaces: {"name": value as
 * written in the URL} per query parameter, "@" for the userinfo. The
 * job's own, to put back into URLs kept in their safe form. New object. */
json_t *cairn__hs_url_creds(const char *url);

/* The URL to send for one kept in its safe form: every REDACTED query
 * value (and REDACTED userinfo) replaced by the value of that name in
 * creds (cairn__hs_url_creds), every other byte as it is. 0 and a new *out; -1 when a credential
 * parameter has no value in creds (its name in missing). */
int cairn__hs_url_restore(const char *kept, const json_t *creds, char **out,
                          char *missing, size_t n);

/* ---- tracing (http_trace.c) ---------------------------------------------- */

/* The process's trace id (32 lower-case hex, never all zero), generated
 * once on first use: one trace id per run. Static storage. */
const char *cairn__hs_trace_id(void);
/* A fresh random span (parent) id: 16 lower-case hex, never all zero. */
void cairn__hs_span_id(char out[17]);
/* "00-<trace>-<span>-01" into out (56 bytes). */
void cairn__hs_traceparent(const char *trace_id, const char *span_id,
                           char out[56]);
/* Does s follow the W3C trace-context rules for a traceparent we may send
 * (version 00, lower-case hex, ids not all zero, flags with only bit 0
 * possibly set)? 1 or 0. */
int  cairn__hs_traceparent_valid(const char *s);
/* A random RFC 4122 version 4 UUID, lower case (37 bytes with NUL). */
void cairn__hs_uuid(char out[37]);
/* Uniform random 64-bit value (not for secrets: jitter only). */
uint64_t cairn__hs_random(void);

/* ---- retry (http_retry.c) ---------------------------------------------- */

struct cairn__hs_retry {
  long    attempts;        /* tries per request for failures (>= 1) */
  int64_t base_ms;         /* first backoff ceiling */
  int64_t min_delay_ms;    /* floor of every wait (Retry-After: 0 too) */
  int64_t max_delay_ms;    /* cap of one wait; a server asking for more
                              ends the run as resumable */
  int64_t budget_ms;       /* total waiting + retried time per request */
  int     retry_post;      /* POST may be repeated (job says it's safe) */
  long    circuit_failures;/* consecutive failures that open the breaker */
  int64_t circuit_cooldown_ms; /* open -> one probe after this long */
};

/* The virtual clock: monotonic ms plus every ms a fast test sleep skipped,
 * so budgets and cool-downs behave as in production while tests run fast.
 * CAIRN_TEST_FAST_RETRY=1 divides real sleeps by 1000 (=N: by N). */
int64_t cairn__hs_vclock_ms(void);
int     cairn__hs_vsleep_ms(int64_t ms);  /* 0, or the stop that cut it short */

/* Parse an HTTP-date: IMF-fixdate, RFC 850 or asctime. 0 or -1. */
int cairn__hs_http_date(const char *s, int64_t *out);

/* The delay (ms) the response asks for: the largest of Retry-After
 * (delta-seconds or HTTP-date, converted with the response's Date header
 * when present, else now_s), retry-after-ms, x-ms-retry-after-ms, every
 * x-ms-ratelimit-*-retry-after (seconds), x-ms-user-quota-resets-after
 * (hh:mm:ss, when x-ms-user-quota-remaining is 0 or on a 429) and
 * X-RateLimit-Reset (epoch seconds; on a 429). -1 when none says. A date
 * in the past gives 0. */
int64_t cairn__hs_server_delay(const struct cairn_http_resp *r, int64_t now_s);

/* Pacing: on a successful response whose x-ms-user-quota-remaining is 0,
 * the ms to wait before the next request (resets-after); else 0. */
int64_t cairn__hs_quota_pause(const struct cairn_http_resp *r);

/* Why a result is worth retrying ("429", "5xx", "timeout", "connection",
 * "truncated"), or NULL when it is final. rc/err from cairn_http_perform;
 * status used when rc is CAIRN_OK. *unsent is set when the request surely
 * never reached the server (connect failures). */
const char *cairn__hs_retry_reason(int rc, const cairn_err *err, long status,
                                   int *unsent);

/* Full-jitter backoff for the n-th failure (1-based): uniform in
 * [0, min(max_delay, base * 2^(n-1))], at least min_delay. */
int64_t cairn__hs_backoff_ms(const struct cairn__hs_retry *p, long n);

/* Circuit breaker per connector key (the job name), process-wide.
 * allow: CAIRN_OK (closed, or half-open: this call is the probe) or
 * CAIRN_ECIRCUIT while open. success closes it. failure counts one;
 * returns 1 when the breaker is now open (it just opened, or a probe
 * failed). */
int  cairn__hs_circuit_allow(const char *key, const struct cairn__hs_retry *p,
                             cairn_err *err);
void cairn__hs_circuit_success(const char *key);
int  cairn__hs_circuit_failure(const char *key,
                               const struct cairn__hs_retry *p);
/* Forget every breaker and cached token (tests). */
void cairn__hs_reset_globals(void);

/* One request as the retry loop sees it. build() is called before every
 * attempt and fills req (fresh span id, current credentials); the memory
 * it points to is the builder's until the next build(). refresh() is
 * called once after a 401 and returns 1 when new credentials were
 * obtained (repeat the request), 0 when none can be, <0 on error.
 * logged() is told about every finished attempt. */
struct cairn__hs_call {
  int  (*build)(void *ud, struct cairn_http_req *req, cairn_err *err);
  int  (*refresh)(void *ud, cairn_err *err);
  void (*logged)(void *ud, const struct cairn_http_req *req, int rc,
                 const cairn_err *err, const struct cairn_http_resp *resp,
                 long attempt, double secs);
  void *ud;
  /* 1: a 2xx other than 204 must carry a body. An empty one is what a
   * connection closed right after the headers leaves (no Content-Length,
   * or chunked with no chunk), which libcurl takes for a complete reply:
   * it is retried like a truncated body instead of reaching the caller as
   * a page without records, which would end the paging early. */
  int   need_body;
};

/* Perform with retries. CAIRN_OK with *resp holding the final response
 * (any status that is not retried, e.g. 200, 304, 404, or the 401 left
 * after one refresh); CAIRN_ERETRY when the attempts, the time budget or
 * the server's demanded wait run out; CAIRN_ECIRCUIT when the breaker is
 * open; CAIRN_EHTTP for a final transport failure (or a POST that may
 * not be repeated); build/refresh errors as they come. Each retry calls
 * cairn_metrics_retry(reason); the breaker calls cairn_metrics_circuit. */
int cairn__hs_perform(cairn_http_transport *t, const struct cairn__hs_retry *p,
                      const char *circuit_key, const struct cairn__hs_call *c,
                      struct cairn_http_resp *resp, cairn_err *err);

/* ---- auth (http_auth.c) -------------------------------------------------- */

enum { CAIRN__HS_AUTH_NONE = 0, CAIRN__HS_AUTH_OAUTH2, CAIRN__HS_AUTH_BASIC,
       CAIRN__HS_AUTH_BEARER };

struct cairn__hs_auth {
  int    type;              /* CAIRN__HS_AUTH_* */
  char  *token_url;         /* oauth2 */
  char  *client_id;
  char  *client_secret;
  char  *scope;
  char  *username;          /* basic */
  char  *password;
  char  *token;             /* bearer */
};

/* Sends the token request for http_auth.c: a POST of a form body to url
 * through the source's transport, retry policy, host check and logging. */
typedef int (*cairn__hs_post_fn)(void *ud, const char *url,
                                 const char *form_body,
                                 struct cairn_http_resp *resp, cairn_err *err);

/* Read cfg "auth" into a (strings copied). CAIRN_EUSAGE with *ptr_out set
 * on a bad config. A missing "auth" is type NONE. */
int  cairn__hs_auth_load(const json_t *cfg, struct cairn__hs_auth *a,
                         const char **ptr_out, cairn_err *err);
void cairn__hs_auth_clear(struct cairn__hs_auth *a);

/* The Authorization header value for the next request (new string; NULL
 * for NONE). OAuth2 uses the process-wide token cache and calls post()
 * only when no fresh token is cached. */
int  cairn__hs_auth_value(const struct cairn__hs_auth *a,
                          cairn__hs_post_fn post, void *ud, char **out,
                          cairn_err *err);

/* Drop the cached token (after a 401). Returns 1 when a refresh can help
 * (OAuth2), else 0. */
int  cairn__hs_auth_invalidate(const struct cairn__hs_auth *a);

/* The refresh step of a call after a 401 (struct cairn__hs_call's
 * refresh): when the call sent credentials (*value set) that a new token
 * can replace, drop the cached token, put a fresh Authorization value in
 * *value and return 1; else 0 (the 401 stands); <0 on error. */
int  cairn__hs_auth_renew(const struct cairn__hs_auth *a,
                          cairn__hs_post_fn post, void *ud, char **value,
                          cairn_err *err);

/* Forget every cached token (cairn__hs_reset_globals calls it). */
void cairn__hs_auth_reset_cache(void);

/* Number of token requests sent by this process (tests). */
long cairn__hs_auth_token_requests(void);

/* ---- paging (http_paging.c) ---------------------------------------------- */

enum { CAIRN__HS_PAGE_NONE = 0, CAIRN__HS_PAGE_NEXT_LINK,
       CAIRN__HS_PAGE_LINK_HEADER, CAIRN__HS_PAGE_OFFSET,
       CAIRN__HS_PAGE_BODY_TOKEN, CAIRN__HS_PAGE_CURSOR_PARAM };

struct cairn__hs_paging {
  int   style;            /* CAIRN__HS_PAGE_* */
  char *pointer;          /* next_link: where the URL is in the body */
  int   repost;           /* next_link: same method and body, not GET */
  char *limit_param;      /* offset */
  char *offset_param;
  long  limit;            /* > 0 */
  long  start;            /* first offset (SCIM startIndex: 1) */
  char *total_header;     /* offset: total count header, e.g. X-Total-Count */
  char *total_pointer;    /* ... or body pointer, e.g. /totalResults */
  char *token;            /* body_token / cursor_param: response pointer */
  char *body_pointer;     /* body_token: where the token goes in the body */
  char *param;            /* cursor_param: query parameter name */
  char *last;             /* pointer whose true value marks the last page */
  char *trunc_pointer;    /* "true"/true there without a token: error */
  char *trunc_total;      /* records the round holds (Resource Graph
                             /totalRecords): ending short of it is an
                             error */
  char *trunc_error;
  long  max_pages;        /* pages a window may take; more is an error */
};
/* The default max_pages: a server that ignores the page position but
 * changes the body each time (a timestamp in it) is not caught by the
 * loop check; this ends it. 100,000 pages is 10M records at 100 a page. */
#define CAIRN__HS_MAX_PAGES 100000L

/* Read cfg "paging" (CAIRN_EUSAGE with *ptr_out on a bad config). */
int  cairn__hs_paging_load(const json_t *cfg, struct cairn__hs_paging *p,
                           const char **ptr_out, cairn_err *err);
void cairn__hs_paging_clear(struct cairn__hs_paging *p);

/* Where the next page is. */
struct cairn__hs_next {
  int    more;            /* 0: this was the last page */
  char  *url;             /* link styles: absolute URL of the next page */
  char  *token;           /* token styles */
  long long offset;       /* offset style; with a truncated total, any
                             style: the records of the round so far
                             (after paging.start) */
};
void cairn__hs_next_clear(struct cairn__hs_next *n);

/* Decide the next page from one response. req_url is the URL that was
 * requested (relative links resolve against it), offset the offset it
 * asked for (any style with a truncated total: the records of the round
 * before this page, after paging.start), doc the parsed body (may be
 * NULL), n_records the records it held. CAIRN_EUSAGE for a truncated
 * result (with the job's message); CAIRN_EPARSE for a round that ends
 * with fewer records than its truncated total. */
/* The job file's name of a CAIRN__HS_PAGE_* style ("none" for none). */
const char *cairn__hs_paging_style_name(int style);
int  cairn__hs_paging_next(const struct cairn__hs_paging *p,
                           const char *req_url, long long offset,
                           const json_t *doc,
                           const struct cairn_http_resp *resp,
                           size_t n_records, struct cairn__hs_next *out,
                           cairn_err *err);

/* The target of the first link with relation "next" in a Link field
 * value (RFC 8288: commas inside <...> and quoted strings do not split;
 * rel may hold several space-separated types, case-insensitive; only the
 * first rel parameter counts), resolved against base. New string or
 * NULL. */
char *cairn__hs_link_next(const char *field, const char *base);

/* A response's Link headers joined with ", " (several lines are one
 * list). New string, NULL when none. */
char *cairn__hs_link_field(const struct cairn_http_resp *r);

#endif
