/* SPDX-License-Identifier: MIT */
/* replay.c -- the replay transport: answers each request from a HAR
 * recording, never touching the network. Matching lives in har.c (shared
 * with `cairn mock`); this file only turns a matched entry into a
 * response, applying the same body cap as the live transport. */
#include "http/http.h"
#include "http/har.h"
#include "core/log.h"

#include <stdlib.h>
#include <string.h>

struct replay {
  cairn_http_transport base;   /* first: lets the vtable cast back */
  struct cairn__har   *har;
};

static int replay_perform(cairn_http_transport *t,
                          const struct cairn_http_req *req,
                          struct cairn_http_resp *resp, cairn_err *err)
{
  struct replay *r = (struct replay *)t;
  const struct cairn__har_entry *e;
  size_t idx = 0, max = req->max_body ? req->max_body : CAIRN_HTTP_MAX_BODY;
  int repeat = 0, rc;
  char label[160];

  rc = cairn__har_match(r->har, req, 1, &idx, &repeat, err);
  if (rc < 0)
    return rc;
  e = &r->har->entries[idx];
  cairn__req_label(req->method, req->url, 0, label, sizeof label);
  if (e->resp_body_len > max)
    return CAIRN_RAISE(err, CAIRN_EHTTP, 0,
                       "%s: response body exceeds %zu bytes (replayed entry "
                       "%zu has %zu)", label, max, idx, e->resp_body_len);
  resp->status = e->status;
  resp->headers = cairn_xcalloc(e->n_resp_headers + 1,
                                sizeof *resp->headers);
  for (size_t i = 0; i < e->n_resp_headers; i++) {
    resp->headers[i].name = cairn_xstrdup(e->resp_headers[i].name);
    resp->headers[i].value = cairn_xstrdup(e->resp_headers[i].value);
  }
  resp->n_headers = e->n_resp_headers;
  cairn_buf_append(&resp->body, e->resp_body, e->resp_body_len);
  if (!resp->body.data)
    cairn_buf_puts(&resp->body, "");
  resp->elapsed_s = 0;
  cairn_debug("replay: %s -> entry %zu, status %ld%s", label, idx,
              e->status, repeat ? " (repeated)" : "");
  return CAIRN_OK;
}

static void replay_destroy(cairn_http_transport *t)
{
  struct replay *r = (struct replay *)t;

  cairn__har_free(r->har);
  free(r);
}

int cairn_http_replay_open(const char *har_path, cairn_http_transport **out,
                           cairn_err *err)
{
  struct replay *r;
  struct cairn__har *har = NULL;
  int rc;

  CAIRN_FAIL_IF(!out, err, CAIRN_EUSAGE, 0, "replay: out is NULL");
  *out = NULL;
  CAIRN_FAIL_IF(!har_path, err, CAIRN_EUSAGE, 0, "replay: no HAR path");
  rc = cairn__har_load(har_path, &har, err);
  if (rc < 0)
    return rc;
  r = cairn_xcalloc(1, sizeof *r);
  r->base.name = "replay";
  r->base.perform = replay_perform;
  r->base.destroy = replay_destroy;
  r->har = har;
  *out = &r->base;
  return CAIRN_OK;
}
