/* SPDX-License-Identifier: MIT */
/* fuzz_har.c -- HAR recordings for --replay and `cairn mock`: whatever
 * the file holds, cairn_http_replay_open loads it or refuses it with
 * CAIRN_EIO / CAIRN_EPARSE and a message; asked for each request it
 * recorded (method, URL, body as recorded), a loaded recording answers
 * with a response or fails with a message (CAIRN_EREPLAY when nothing
 * matches). */
#include "fuzz.h"
#include "core/log.h"
#include "http/http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *path;
  cairn_http_transport *t = NULL;
  cairn_err err = {0};
  json_t *har;
  const json_t *entries;
  int rc;

  path = fuzz_input_file("har", ".har", data, size);
  rc = cairn_http_replay_open(path, &t, &err);
  if (rc < 0) {
    CHECK((rc == CAIRN_EIO || rc == CAIRN_EPARSE) && err.msg[0] && !t);
    unlink(path);
    return 0;
  }
  CHECK(rc == CAIRN_OK && t);
  /* ask for what it recorded (the harness reads the entries itself) */
  har = json_loadb((const char *)data, size, 0, NULL);
  entries = json_object_get(json_object_get(har, "log"), "entries");
  for (size_t i = 0; i < json_array_size(entries) && i < 32; i++) {
    const json_t *q = json_object_get(json_array_get(entries, i), "request");
    const char *method = json_string_value(json_object_get(q, "method"));
    const char *url = json_string_value(json_object_get(q, "url"));
    const char *body = json_string_value(json_object_get(
        json_object_get(q, "postData"), "text"));
    struct cairn_http_req req = {0};
    struct cairn_http_resp resp = {0};
    cairn_err e = {0};
    if (!method || !url)
      continue;
    req.method = method;
    req.url = url;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    rc = cairn_http_perform(t, &req, &resp, &e);
    CHECK(rc == CAIRN_OK || (rc < 0 && e.msg[0]));
    if (rc == CAIRN_OK)
      CHECK(resp.body.len == 0 || resp.body.data);
    cairn_http_resp_free(&resp);
  }
  json_decref(har);
  cairn_http_transport_destroy(t);
  unlink(path);
  return 0;
}
