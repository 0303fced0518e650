/* SPDX-License-Identifier: MIT */
/* test_http_record.c -- the record transport over a canned inner
 * transport (no network): a value registered as a secret must not reach
 * the recording in any form a reader can turn back into it, whatever body
 * it hides in. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/fsx.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/http.h"

static char dir[64];

static void setup(void)
{
  snprintf(dir, sizeof dir, "/tmp/cairn-rec.XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
  cairn_err err = { 0 };
  cairn_fs_remove_tree(dir, &err);
}

TestSuite(http_record, .init = setup, .fini = teardown, .timeout = 20);

/* ---- a transport that answers every request with one canned body ------ */

struct canned {
  cairn_http_transport base;
  const char *ctype;
  const char *body;
  size_t      len;
};

static int canned_perform(cairn_http_transport *t,
                          const struct cairn_http_req *req,
                          struct cairn_http_resp *resp, cairn_err *err)
{
  struct canned *c = (struct canned *)t;
  (void)req;
  (void)err;
  resp->status = 200;
  resp->headers = cairn_xcalloc(1, sizeof *resp->headers);
  resp->headers[0].name = cairn_xstrdup("Content-Type");
  resp->headers[0].value = cairn_xstrdup(c->ctype);
  resp->n_headers = 1;
  cairn_buf_append(&resp->body, c->body, c->len);
  return CAIRN_OK;
}

static void canned_destroy(cairn_http_transport *t)
{
  free(t);
}

/* Record one GET answered with body[0..len) and return the recording. */
static char *record_one(const char *ctype, const char *body, size_t len,
                        const char *req_body, size_t req_len)
{
  struct canned *c = cairn_xcalloc(1, sizeof *c);
  cairn_http_transport *rec = NULL;
  struct cairn_http_resp resp = { 0 };
  struct cairn_http_header h = { "Content-Type", "text/plain" };
  struct cairn_http_req req;
  struct cairn_buf text = { 0 };
  cairn_err err = { 0 };
  char *har = cairn_strfmt("%s/rec.har", dir);

  c->base.name = "canned";
  c->base.perform = canned_perform;
  c->base.destroy = canned_destroy;
  c->ctype = ctype;
  c->body = body;
  c->len = len;
  cr_assert_eq(cairn_http_record_open(&c->base, har, NULL, &rec, &err),
               CAIRN_OK, "%s", err.msg);
  memset(&req, 0, sizeof req);
  req.method = req_body ? "POST" : "GET";
  req.url = "https://api.example.com/v1/items";
  req.headers = &h;
  req.n_headers = req_body ? 1 : 0;
  req.body = req_body;
  req.body_len = req_len;
  cr_assert_eq(cairn_http_perform(rec, &req, &resp, &err), CAIRN_OK, "%s",
               err.msg);
  cairn_http_resp_free(&resp);
  cairn_http_transport_destroy(rec); /* writes the recording */
  cr_assert_eq(cairn_fs_read_all(har, &text, &err), CAIRN_OK, "%s", err.msg);
  free(har);
  return cairn_buf_take(&text);
}

/* Every content text / postData text of the recording, base64 decoded
 * where the recording says it is, joined: what a reader of the file can
 * get back. */
static char *readable(const char *har_text, size_t *n)
{
  json_t *har = json_loads(har_text, JSON_ALLOW_NUL, NULL);
  json_t *e = json_array_get(json_object_get(json_object_get(har, "log"),
                                             "entries"), 0);
  json_t *content = json_object_get(json_object_get(e, "response"),
                                    "content");
  json_t *post = json_object_get(json_object_get(e, "request"), "postData");
  struct cairn_buf b = { 0 };
  json_t *texts[2] = { content, post };

  cr_assert_not_null(e, "%s", har_text);
  for (int i = 0; i < 2; i++) {
    const json_t *tv = json_object_get(texts[i], "text");
    const char *t = json_string_value(tv);
    int b64 = json_object_get(texts[i], "encoding") ||
              json_object_get(texts[i], "_encoding");
    if (!t)
      continue;
    if (b64) {
      char *raw;
      size_t len;
      cr_assert_eq(cairn_base64_decode(t, strlen(t), &raw, &len), 0);
      cairn_buf_append(&b, raw, len);
      free(raw);
    } else {
      cairn_buf_append(&b, t, json_string_length(tv));
    }
    cairn_buf_putc(&b, '\n');
  }
  json_decref(har);
  *n = b.len;
  return cairn_buf_take(&b);
}

static int holds(const char *p, size_t n, const char *needle)
{
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(p + i, needle, k) == 0)
      return 1;
  return 0;
}

/* A body that is not UTF-8 (a Latin-1 error page quoting the key) is
 * stored as base64: the secret must be gone before it is encoded. */
Test(http_record, a_secret_in_a_body_that_is_not_utf8_is_masked)
{
  static const char body[] =
      "<p>Cl\xe9 refus\xe9" "e: fakeApiKey-0123456789</p>";
  static const char post[] = "\xff\x01key fakeApiKey-0123456789 \xfe";
  char *har, *text;
  size_t n;

  cairn_log_add_secret("fakeApiKey-0123456789");
  har = record_one("text/html; charset=iso-8859-1", body, sizeof body - 1,
                   post, sizeof post - 1);
  cr_assert(strstr(har, "\"encoding\": \"base64\""), "%s", har);
  cr_assert(strstr(har, "\"_encoding\": \"base64\""), "%s", har);
  text = readable(har, &n);
  cr_assert(!holds(text, n, "fakeApiKey"), "secret in: %s", har);
  cr_assert(holds(text, n, "Cl\xe9 refus\xe9" "e: ***</p>"),
            "the rest of the body is kept: %s", har);
  free(text);
  free(har);
}

/* A secret with a quote and a backslash, in a JSON array (where no field
 * name says it is one): escaped once in the body, twice in the file. */
Test(http_record, a_secret_escaped_in_a_json_body_is_masked)
{
  static const char body[] = "{\"keys\":[\"pa\\\"ss\\\\word-77\"],\"n\":1}";
  static const char nul[] = "a\0b fakeApiKey-0123456789 c\0d";
  char *har, *text;
  size_t n;

  cairn_log_add_secret("pa\"ss\\word-77");
  cairn_log_add_secret("fakeApiKey-0123456789");
  har = record_one("application/json", body, sizeof body - 1, NULL, 0);
  text = readable(har, &n);
  cr_assert(!holds(text, n, "word-77"), "secret in: %s", har);
  cr_assert(!holds(har, strlen(har), "word-77"), "secret in: %s", har);
  free(text);
  free(har);
  /* a body with NUL bytes: masked on both sides of them */
  har = record_one("application/octet-stream", nul, sizeof nul - 1, NULL, 0);
  text = readable(har, &n);
  cr_assert(!holds(text, n, "fakeApiKey"), "secret in: %s", har);
  cr_assert(n == sizeof "a\0b *** c\0d\n" - 1 &&
                memcmp(text, "a\0b *** c\0d\n", n) == 0,
            "body around the secret kept: %s", har);
  free(text);
  free(har);
}
