/* SPDX-License-Identifier: MIT */
/* har.h -- internal to src/http: HAR recordings loaded for matching, the
 * one request matcher shared by the replay transport and `cairn mock`,
 * and the redaction rules the recorder applies.
 *
 * Not a public interface: only files in src/http/ include it. Nothing here
 * is thread-safe; the mock serialises calls with its own mutex. */
#ifndef CAIRN_HAR_H
#define CAIRN_HAR_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "http/http.h"
#include "core/codec.h"

/* ---- URLs as the matcher sees them --------------------------------------- */

struct cairn__qparam {
  char *name;                  /* percent-decoded, '+' = space */
  char *value;                 /* percent-decoded; "" when no '=' */
};

/* An absolute URL ("https://h:1/p?q") or an origin-form target ("/p?q"),
 * split for matching. */
struct cairn__url {
  char *origin;                /* "https://host[:port]" lower case; "" for
                                  origin-form */
  char *path;                  /* percent-decoded, "/" when empty */
  struct cairn__qparam *q;     /* sorted by name, stable (order of equal
                                  names kept) */
  size_t n_q;
};

void cairn__url_parse(const char *url, struct cairn__url *out);
void cairn__url_free(struct cairn__url *u);

/* ---- loaded recordings --------------------------------------------------- */

struct cairn__har_entry {
  char  *method;
  char  *url;                  /* as recorded */
  struct cairn__url key;       /* url split for matching */
  char  *req_mime;             /* postData.mimeType, "" if none */
  char  *req_body;             /* postData.text, NULL if none */
  size_t req_body_len;
  json_t *req_json;            /* req_body parsed as JSON, or NULL */
  long   status;
  struct cairn_http_header *resp_headers;
  size_t n_resp_headers;
  char  *resp_body;            /* decoded (base64 undone), NUL-terminated */
  size_t resp_body_len;
  int    used;                 /* answered already */
};

struct cairn__har {
  char  *path;
  struct cairn__har_entry *entries;
  size_t n_entries;
  char **origins;              /* distinct recorded origins, for the mock */
  size_t n_origins;
};

/* Load a HAR 1.2 file. CAIRN_EIO / CAIRN_EPARSE; on failure *out = NULL. */
int  cairn__har_load(const char *path, struct cairn__har **out,
                     cairn_err *err);
void cairn__har_free(struct cairn__har *h);

/* Find the entry answering req: the first unused matching entry in
 * recorded order, or, when all matching entries are used, the last of
 * them (*repeat = 1). With take, the entry is marked used. CAIRN_OK and
 * *idx, or CAIRN_EREPLAY with a message naming the request and the
 * closest entry. */
int  cairn__har_match(struct cairn__har *h, const struct cairn_http_req *req,
                      int take, size_t *idx, int *repeat, cairn_err *err);

/* ---- redaction ----------------------------------------------------------- */

/* Is 'name' a header whose value must not be recorded? */
int   cairn__redact_header(const char *name, const char *const *extra);
/* Is 'name' a body field / query parameter whose value must not be
 * recorded? query = 1 adds the query names of cairn_http_secret_param. */
int   cairn__redact_field(const char *name, int query,
                          const char *const *extra);
/* Body with credentials replaced: JSON (any depth) or form-encoded
 * (judged by content type, else by shape). New string in *out (length in
 * *out_len) or NULL when nothing had to change. */
void  cairn__redact_body(const char *body, size_t len, const char *ctype,
                         const char *const *extra, char **out,
                         size_t *out_len);

/* ---- small codecs -------------------------------------------------------- */

int   cairn__is_form(const char *body, size_t len, const char *ctype);
/* "Sun, 06 Nov 1994 08:49:37 GMT" -> epoch seconds; 0 or -1. */
int   cairn__http_date_parse(const char *s, int64_t *out);
/* Epoch seconds -> IMF-fixdate into out (at least 30 bytes). */
void  cairn__http_date_fmt(int64_t t, char *out, size_t n);
/* Case-insensitive header lookup over an array; last one wins. */
const char *cairn__header_find(const struct cairn_http_header *h, size_t n,
                               const char *name);
/* Request line for messages: "GET /path" (origin stripped; "?query" kept
 * only with with_query), registered secrets masked, truncated to 'max'
 * bytes with "..." into out. */
void  cairn__req_label(const char *method, const char *url, int with_query,
                       char *out, size_t max);

#endif
