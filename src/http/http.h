/* SPDX-License-Identifier: MIT */
/* http.h -- the HTTP transport seam: request/response types and one
 * interface with three implementations.
 *
 *   live    libcurl, TLS always verified (unless 'insecure', logged loudly)
 *   record  wraps another transport and writes every exchange to a HAR 1.2
 *           file, credentials replaced by "REDACTED" before reaching disk
 *   replay  answers from a HAR recording, never touches the network
 *
 * Sources receive a cairn_http_transport and never call libcurl. The
 * transport only moves bytes: it does not retry, follow redirects or check
 * hosts; callers decide on 429/5xx, Retry-After and Location.
 *
 * Ownership: pointers passed in are borrowed for the duration of the call
 * unless a comment says otherwise; a response is owned by the caller and
 * released with cairn_http_resp_free(). A transport handle is used by one
 * thread at a time (it is not thread-safe); different handles are
 * independent. See docs/internals/http.md. */
#ifndef CAIRN_HTTP_H
#define CAIRN_HTTP_H

#include <stddef.h>
#include "core/err.h"
#include "core/mem.h"

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "0.1.0"
#endif
/* Default User-Agent: fixed so recordings stay deterministic. */
#define CAIRN_HTTP_USER_AGENT "cairn/" CAIRN_VERSION

#define CAIRN_HTTP_CONNECT_TIMEOUT_MS 10000L     /* req.connect_timeout_ms 0 */
#define CAIRN_HTTP_TIMEOUT_MS         120000L    /* req.timeout_ms 0 */
#define CAIRN_HTTP_MAX_BODY           ((size_t)64 << 20) /* req.max_body 0 */

/* The value every redacted credential becomes in a recording; in a
 * recorded request it also matches any value on replay. */
#define CAIRN_HTTP_REDACTED "REDACTED"

/* Is 'name' a query parameter whose value is a credential (sig, code,
 * key, api_key, token, password, client_secret, access_token, X-Amz-*,
 * X-Goog-*, ..., any name ending in "secret"; case-insensitive)? The one
 * list behind every redacted URL (recordings, replay messages, logs,
 * state). */
int cairn_http_secret_param(const char *name);

/* Is 'name' a header whose value is a credential (Authorization, Cookie,
 * Set-Cookie, X-API-Key, X-Auth-Token, ...; case-insensitive)? Kept out of
 * recordings, the mock's log and page metadata. */
int cairn_http_secret_header(const char *name);

/* Must the value of a query parameter be REDACTED in a safe URL: a
 * credential name (cairn_http_secret_param, or one of extra), or a value
 * (as written in the URL; may be NULL) holding a registered log secret,
 * raw or percent-encoded? */
int cairn_http_param_redacted(const char *name, const char *value,
                              const char *const *extra);

/* A copy of url fit to keep (a recording, a log line, state): userinfo
 * and the values of credential query parameters (cairn_http_secret_param,
 * the names in extra, NULL-terminated or NULL) and of parameters holding
 * a registered log secret, raw or percent-encoded, become REDACTED, which
 * replay matches as a wildcard. New string. */
char *cairn_http_url_safe(const char *url, const char *const *extra);

/* The value of a URL-valued response header made safe the same way:
 * Location and Content-Location as a URL, every <target> of a Link.
 * New string, or NULL when 'name' is not such a header. */
char *cairn_http_header_safe(const char *name, const char *value,
                             const char *const *extra);

struct cairn_http_header {
  char *name;                  /* as sent / received (case preserved) */
  char *value;                 /* surrounding whitespace trimmed */
};

struct cairn_http_req {        /* all borrowed */
  const char *method;          /* "GET", "POST", ... (upper case) */
  const char *url;             /* absolute http(s) URL */
  const struct cairn_http_header *headers;
  size_t      n_headers;
  const char *body;            /* may be NULL */
  size_t      body_len;        /* bytes in body; 0 = no body */
  long        connect_timeout_ms; /* 0 = CAIRN_HTTP_CONNECT_TIMEOUT_MS */
  long        timeout_ms;      /* whole exchange; 0 = CAIRN_HTTP_TIMEOUT_MS */
  long        low_speed_bytes; /* abort when slower than this many bytes/s */
  long        low_speed_secs;  /* ... for this many seconds; 0 = off */
  size_t      max_body;        /* cap on the response body; 0 = 64 MiB */
  int         raw_body;        /* the body's bytes as the server sends
                                  them: no Accept-Encoding, a
                                  Content-Encoding not decoded (ranges of
                                  a stored object) */
};

struct cairn_http_resp {       /* filled by perform; owned by the caller */
  long   status;               /* HTTP status, e.g. 200, 429 */
  struct cairn_http_header *headers; /* owned; order and names as received */
  size_t n_headers;
  struct cairn_buf body;       /* owned; NUL-terminated, may hold NULs */
  double elapsed_s;            /* wall time of the exchange; 0 on replay */
};

/* Release everything a response holds and reset it to empty (all zero),
 * so it can be passed to perform again. NULL is a no-op. */
void cairn_http_resp_free(struct cairn_http_resp *r);

/* Value of header 'name' (ASCII case-insensitive), borrowed from r; the
 * last one wins when a header repeats. NULL when absent or r is NULL. */
const char *cairn_http_resp_header(const struct cairn_http_resp *r,
                                   const char *name);

/* Standard reason phrase for a status ("Too Many Requests"); static, never
 * NULL ("" for unknown codes). */
const char *cairn_http_reason(long status);

/* ---- the transport interface --------------------------------------------- */

typedef struct cairn_http_transport cairn_http_transport;
struct cairn_http_transport {
  const char *name;            /* "live", "record", "replay" */
  int  (*perform)(cairn_http_transport *t, const struct cairn_http_req *req,
                  struct cairn_http_resp *resp, cairn_err *err);
  void (*destroy)(cairn_http_transport *t);
};

/* Run one exchange. 'resp' must be zeroed or hold an earlier response,
 * which is released first.
 *
 * CAIRN_OK whenever an HTTP response was received, whatever its status
 * (429 and 5xx included: retrying is the caller's decision).
 * CAIRN_EHTTP for transport failures, err->cause = CURLcode, err->msg
 * naming the kind: "connection refused", "connection reset", "connection
 * closed without a response", "timeout", "truncated body: got N of M
 * bytes", "response body exceeds N bytes", "TLS failure", ...
 * CAIRN_EREPLAY (replay) when no recorded exchange matches.
 * CAIRN_EUSAGE for a NULL transport/request/response or missing method/url.
 * On any error 'resp' is left empty. Messages name the request by method
 * and URL without its query string (queries may carry signatures). */
int  cairn_http_perform(cairn_http_transport *t,
                        const struct cairn_http_req *req,
                        struct cairn_http_resp *resp, cairn_err *err);

/* Whether err is cairn_http_perform's "response body exceeds N bytes"
 * (live or replayed): the body passed req.max_body. */
int  cairn_http_too_big(const cairn_err *err);

/* Close a transport and whatever it wraps. NULL is a no-op. */
void cairn_http_transport_destroy(cairn_http_transport *t);

/* ---- live (libcurl) ------------------------------------------------------ */

/* All borrowed and copied by open; NULL members mean the default. */
struct cairn_http_live_opts {
  const char *ca_file;         /* PEM bundle; NULL = system store */
  const char *client_cert;     /* PEM client certificate (mutual TLS) */
  const char *client_key;      /* PEM key for client_cert */
  int         insecure;        /* 1 = skip TLS verification (warned) */
  const char *user_agent;      /* NULL = CAIRN_HTTP_USER_AGENT */
};

/* New live transport; 'o' may be NULL for defaults. Only http and https
 * are allowed, redirects are not followed, compressed bodies are decoded,
 * keep-alive connections are reused between calls. On failure *out is NULL.
 * Release with cairn_http_transport_destroy(). */
int cairn_http_live_open(const struct cairn_http_live_opts *o,
                         cairn_http_transport **out, cairn_err *err);

/* ---- record -------------------------------------------------------------- */

/* Wrap 'inner' (ownership is taken, also on failure) and keep every
 * exchange that produced a response; the HAR 1.2 file at har_path is
 * written atomically by cairn_http_record_flush() and on destroy.
 * Exchanges that failed in transport are not recorded.
 *
 * Redacted before anything reaches disk (value becomes "REDACTED"):
 * headers Authorization, Proxy-Authorization, Cookie, Set-Cookie; fields
 * client_secret, client_assertion, access_token, refresh_token, id_token,
 * password in form-encoded and JSON bodies (request and response, any
 * depth); URLs (request, Location, Content-Location, Link targets) as
 * cairn_http_url_safe makes them; any value holding a registered log
 * secret, raw or percent-encoded; plus every name in 'redact' (NULL-terminated, may be NULL; matched
 * case-insensitively against header names, JSON/form field names and
 * query parameter names). traceparent/tracestate request headers are
 * dropped (they differ on every run), timings are 0 and startedDateTime
 * comes from the response Date header, so the same traffic gives the same
 * bytes. Registered log secrets (cairn_log_add_secret) are masked too.
 * The recording is held in memory until written: meant for fixtures, not
 * bulk traffic. */
int cairn_http_record_open(cairn_http_transport *inner, const char *har_path,
                           const char *const *redact,
                           cairn_http_transport **out, cairn_err *err);

/* Whether a recording can be written at har_path when the run ends (its
 * directory is there and writable: a temp file is made and removed; a
 * directory at har_path is refused): CAIRN_OK, or CAIRN_EUSAGE saying
 * why. cairn_http_record_open checks this first; a dry run asks it. */
int cairn_http_record_check(const char *har_path, cairn_err *err);

/* Write the recording so far (atomic replace). CAIRN_EUSAGE if t is not a
 * record transport, CAIRN_EIO on write failure. */
int cairn_http_record_flush(cairn_http_transport *t, cairn_err *err);

/* ---- replay -------------------------------------------------------------- */

/* Load the HAR file at har_path (CAIRN_EIO unreadable, CAIRN_EPARSE not a
 * HAR) and answer from it without network. A request matches an entry on
 * method + path + query (parameter order-insensitive) + body (compared as
 * JSON when both parse as JSON, as form fields when either side is
 * form-encoded, else byte for byte), ignoring scheme, host and port; a
 * recorded "REDACTED" value (query, form field or JSON value) matches
 * anything. Identical requests get the matching entries in recorded
 * order; once all are used the last one is answered again. No match:
 * CAIRN_EREPLAY naming the request and the closest recorded one. The body
 * cap (max_body) applies as on live. The same matching serves
 * `cairn mock` (mock.h). */
int cairn_http_replay_open(const char *har_path, cairn_http_transport **out,
                           cairn_err *err);

#endif
