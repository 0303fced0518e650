/* SPDX-License-Identifier: MIT */
/* test_http.c -- the transport seam without a network: response helpers,
 * the replay transport over fixtures/http/basic.har (matching rules,
 * REDACTED wildcard, recorded order, mismatch messages), redaction (also
 * what the record transport writes) and the small codecs. Live traffic
 * against the mock is in test_http_mock.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/fsx.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/har.h"
#include "http/http.h"
#include "http/mock.h"

#ifndef CAIRN_FIXTURES
#define CAIRN_FIXTURES "fixtures"
#endif
#define BASIC_HAR CAIRN_FIXTURES "/http/basic.har"

static cairn_http_transport *rp;

static void open_replay(void)
{
  cairn_err err = { 0 };
  int rc = cairn_http_replay_open(BASIC_HAR, &rp, &err);
  cr_assert_eq(rc, CAIRN_OK, "replay_open: %s", err.msg);
}

static void close_replay(void)
{
  cairn_http_transport_destroy(rp);
  rp = NULL;
}

TestSuite(http, .init = open_replay, .fini = close_replay, .timeout = 20);

static int rsend(const char *method, const char *url, const char *ctype,
                 const char *body, struct cairn_http_resp *resp,
                cairn_err *err)
{
  struct cairn_http_header h = { "Content-Type", (char *)ctype };
  struct cairn_http_req req;

  memset(&req, 0, sizeof req);
  req.method = method;
  req.url = url;
  req.headers = ctype ? &h : NULL;
  req.n_headers = ctype ? 1 : 0;
  req.body = body;
  req.body_len = body ? strlen(body) : 0;
  return cairn_http_perform(rp, &req, resp, err);
}

/* ---- response helpers ---------------------------------------------------- */

Test(http, resp_header_is_case_insensitive_and_last_wins)
{
  struct cairn_http_header h[] = { { "Retry-After", "1" },
                                   { "content-type", "text/plain" },
                                   { "RETRY-AFTER", "7" } };
  struct cairn_http_resp r;

  memset(&r, 0, sizeof r);
  r.headers = h;
  r.n_headers = 3;
  cr_assert_str_eq(cairn_http_resp_header(&r, "retry-after"), "7");
  cr_assert_str_eq(cairn_http_resp_header(&r, "Content-Type"), "text/plain");
  cr_assert_null(cairn_http_resp_header(&r, "Location"));
  cr_assert_null(cairn_http_resp_header(NULL, "Location"));
}

Test(http, resp_free_resets_to_empty_and_accepts_null)
{
  struct cairn_http_resp r;

  memset(&r, 0, sizeof r);
  cairn_http_resp_free(NULL);
  r.status = 200;
  r.headers = cairn_xcalloc(1, sizeof *r.headers);
  r.headers[0].name = cairn_xstrdup("A");
  r.headers[0].value = cairn_xstrdup("b");
  r.n_headers = 1;
  cairn_buf_puts(&r.body, "hello");
  cairn_http_resp_free(&r);
  cr_assert_eq(r.status, 0);
  cr_assert_null(r.headers);
  cr_assert_null(r.body.data);
  cairn_http_resp_free(&r);
}

Test(http, perform_rejects_missing_arguments)
{
  struct cairn_http_resp resp;
  struct cairn_http_req req;
  cairn_err err = { 0 };

  memset(&resp, 0, sizeof resp);
  memset(&req, 0, sizeof req);
  cr_assert_eq(cairn_http_perform(NULL, &req, &resp, &err), CAIRN_EUSAGE);
  cairn_err_clear(&err);
  cr_assert_eq(cairn_http_perform(rp, &req, &resp, &err), CAIRN_EUSAGE);
  cr_assert(strstr(err.msg, "method") != NULL, "%s", err.msg);
  cairn_http_transport_destroy(NULL);
}

/* ---- replay -------------------------------------------------------------- */

Test(http, replay_matches_query_in_any_order_and_ignores_origin)
{
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  /* Recorded as https://api.example.com/v1/items?b=2&a=1 */
  int rc = rsend("GET", "http://127.0.0.1:9/v1/items?a=1&b=2", NULL, NULL,
                 &resp, &err);

  cr_assert_eq(rc, CAIRN_OK, "%s", err.msg);
  cr_assert_eq(resp.status, 200);
  cr_assert(strstr(resp.body.data, "\"nextLink\":\"https://api.example.com/"
                                   "v1/items?a=1&b=2&$skiptoken=abc\"") !=
                NULL,
            "replay must not rewrite bodies: %s", resp.body.data);
  cr_assert_str_eq(cairn_http_resp_header(&resp, "content-type"),
                   "application/json");
  cr_assert_eq(resp.elapsed_s, 0.0);
  cairn_http_resp_free(&resp);
}

Test(http, replay_redacted_form_value_matches_anything)
{
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  /* Different parameter order and a real secret where REDACTED was. */
  int rc = rsend("POST", "https://login.example.com/tenant/oauth2/v2.0/token",
                 "application/x-www-form-urlencoded",
                 "client_id=app&grant_type=client_credentials&client_secret="
                 "s3cr3t-value&scope=https%3A%2F%2Fapi.example.com%2F.default",
                 &resp, &err);

  cr_assert_eq(rc, CAIRN_OK, "%s", err.msg);
  cr_assert_eq(resp.status, 200);
  cr_assert(strstr(resp.body.data, "Bearer") != NULL);
  cairn_http_resp_free(&resp);

  /* Any other difference still misses. */
  cairn_err_clear(&err);
  rc = rsend("POST", "https://login.example.com/tenant/oauth2/v2.0/token",
             "application/x-www-form-urlencoded",
             "client_id=other&grant_type=client_credentials&client_secret=x"
             "&scope=https%3A%2F%2Fapi.example.com%2F.default",
             &resp, &err);
  cr_assert_eq(rc, CAIRN_EREPLAY);
  cr_assert(strstr(err.msg, "body differs") != NULL, "%s", err.msg);
}

Test(http, replay_compares_json_bodies_canonically_with_wildcards)
{
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  int rc = rsend("POST", "https://api.example.com/v1/query",
                 "application/json",
                 "{ \"subscriptions\": [\"s1\"], \"apiKey\": 42,\n"
                 "  \"options\": {\"skipToken\": null, \"top\": 2},\n"
                 "  \"query\": \"Resources | limit 2\" }",
                 &resp, &err);

  cr_assert_eq(rc, CAIRN_OK, "%s", err.msg);
  cr_assert(strstr(resp.body.data, "totalRecords") != NULL);
  cairn_http_resp_free(&resp);

  cairn_err_clear(&err);
  rc = rsend("POST", "https://api.example.com/v1/query", "application/json",
             "{\"query\":\"Resources | limit 2\",\"options\":{\"top\":3,"
             "\"skipToken\":null},\"subscriptions\":[\"s1\"],\"apiKey\":\"k\"}",
             &resp, &err);
  cr_assert_eq(rc, CAIRN_EREPLAY, "top differs, must not match");
}

Test(http, replay_answers_identical_requests_in_recorded_order)
{
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  const char *url = "https://api.example.com/v1/jobs/7";

  cr_assert_eq(rsend("GET", url, NULL, NULL, &resp, &err), CAIRN_OK);
  cr_assert_eq(resp.status, 202);
  cr_assert(strstr(resp.body.data, "running") != NULL);
  cr_assert_eq(rsend("GET", url, NULL, NULL, &resp, &err), CAIRN_OK);
  cr_assert_eq(resp.status, 200);
  cr_assert(strstr(resp.body.data, "succeeded") != NULL);
  /* Exhausted: the last one answers again (a resumed run re-asks). */
  cr_assert_eq(rsend("GET", url, NULL, NULL, &resp, &err), CAIRN_OK);
  cr_assert(strstr(resp.body.data, "succeeded") != NULL);
  cairn_http_resp_free(&resp);
}

Test(http, replay_mismatch_names_the_request_and_the_closest_entry)
{
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  int rc = rsend("GET", "https://api.example.com/v1/itemz?b=2&a=1&sig=SeCrEt",
                 NULL, NULL, &resp, &err);

  cr_assert_eq(rc, CAIRN_EREPLAY);
  cr_assert_str_eq(cairn_errname(err.code), "CAIRN_EREPLAY");
  cr_assert(strstr(err.msg, "GET /v1/itemz?b=2&a=1") != NULL, "%s", err.msg);
  cr_assert(strstr(err.msg, "closest is entry 0: GET /v1/items?b=2&a=1") !=
                NULL, "%s", err.msg);
  cr_assert(strstr(err.msg, "path") != NULL, "%s", err.msg);
  cr_assert(strstr(err.msg, "SeCrEt") == NULL, "signature leaked: %s",
            err.msg);
  cr_assert_eq(resp.status, 0, "resp stays empty on error");
  cr_assert_null(resp.body.data);
}

/* A query that differs past the 200 bytes a label keeps (an OData filter
 * with a moved watermark): the message names the parameter and both
 * values, secrets still hidden. */
Test(http, replay_mismatch_names_the_query_parameter_that_differs)
{
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  char url[600];
  int rc;

  snprintf(url, sizeof url, "https://api.example.com/v1/items?b=2&a=1"
           "&pad=%0300d&sig=SeCrEt", 7);
  rc = rsend("GET", url, NULL, NULL, &resp, &err);
  cr_assert_eq(rc, CAIRN_EREPLAY);
  cr_assert(strstr(err.msg, "(query differs)") != NULL, "%s", err.msg);
  cr_assert(strstr(err.msg, "; query parameter \"pad\" is \"0000") != NULL &&
            strstr(err.msg, "\" here and absent in the recording") != NULL,
            "%s", err.msg);
  cr_assert(strstr(err.msg, "SeCrEt") == NULL, "signature leaked: %s",
            err.msg);
}

Test(http, replay_mismatch_hides_credentials_and_registered_secrets)
{
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  int rc;

  /* An API key by name (code), and a registered secret in a parameter of
   * any name, sent percent-encoded as a query carries it. */
  cairn_log_add_secret("fake+Key/Sec=ret0");
  rc = rsend("GET", "https://api.example.com/v1/itemz?code=fake-Code-0042&"
             "x=fake%2BKey%2FSec%3Dret0&b=2", NULL, NULL, &resp, &err);
  cr_assert_eq(rc, CAIRN_EREPLAY);
  cr_assert(strstr(err.msg, "GET /v1/itemz?code=REDACTED&x=REDACTED&b=2"),
            "%s", err.msg);
  cr_assert_null(strstr(err.msg, "fake-Code"), "%s", err.msg);
  cr_assert_null(strstr(err.msg, "Sec"), "%s", err.msg);
}

/* A request's label is cut (to the size of its buffer): a registered
 * secret in the URL's path across the cut is masked before it, not left
 * with its first bytes. */
Test(http, replay_mismatch_masks_a_secret_in_the_path_before_the_cut)
{
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  char url[400];
  int rc;

  cairn_log_add_secret("fake-Path-Secret-0077");
  snprintf(url, sizeof url, "https://api.example.com/v1/%0180d/"
           "fake-Path-Secret-0077/items", 0);
  rc = rsend("GET", url, NULL, NULL, &resp, &err);
  cr_assert_eq(rc, CAIRN_EREPLAY);
  cr_assert(strstr(err.msg, "no recorded response for GET /v1/000"), "%s",
            err.msg);
  cr_assert_null(strstr(err.msg, "fake-Pa"), "%s", err.msg);
}

Test(http, replay_mismatch_on_method_names_method)
{
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  int rc = rsend("DELETE", "https://api.example.com/v1/jobs/7", NULL, NULL,
                 &resp, &err);

  cr_assert_eq(rc, CAIRN_EREPLAY);
  cr_assert(strstr(err.msg, "GET /v1/jobs/7 (method differs)") != NULL, "%s",
            err.msg);
}

Test(http, replay_decodes_base64_content)
{
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  static const char want[] = "\x00\x01\x02\xff" "cairn\x80";

  cr_assert_eq(rsend("GET", "https://files.example.net/export/part-1.bin",
                     NULL, NULL, &resp, &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(resp.body.len, sizeof want - 1);
  cr_assert_eq(memcmp(resp.body.data, want, sizeof want - 1), 0);
  cairn_http_resp_free(&resp);
}

Test(http, replay_enforces_max_body)
{
  struct cairn_http_resp resp = { 0 };
  struct cairn_http_req req;
  cairn_err err = { 0 };

  memset(&req, 0, sizeof req);
  req.method = "GET";
  req.url = "https://api.example.com/v1/jobs/7";
  req.max_body = 5;
  cr_assert_eq(cairn_http_perform(rp, &req, &resp, &err), CAIRN_EHTTP);
  cr_assert(strstr(err.msg, "response body exceeds 5 bytes") != NULL, "%s",
            err.msg);
}

Test(http, replay_open_reports_missing_and_malformed_files)
{
  cairn_http_transport *t = (cairn_http_transport *)1;
  cairn_err err = { 0 };
  char path[] = "/tmp/cairn_test_har_XXXXXX";
  int fd;

  cr_assert_eq(cairn_http_replay_open("/nonexistent/x.har", &t, &err),
               CAIRN_EIO);
  cr_assert_null(t);
  fd = mkstemp(path);
  cr_assert(fd >= 0);
  cr_assert_eq(write(fd, "{\"log\":{}}", 10), 10);
  close(fd);
  cairn_err_clear(&err);
  cr_assert_eq(cairn_http_replay_open(path, &t, &err), CAIRN_EPARSE);
  cr_assert(strstr(err.msg, "log.entries") != NULL, "%s", err.msg);
  unlink(path);
}

/* ---- matching internals -------------------------------------------------- */

Test(http, url_parse_normalises_origin_and_sorts_query)
{
  struct cairn__url u;

  cairn__url_parse("HTTPS://user:pw@API.Example.com:443/a%20b?z=1&a=2&a=1"
                   "&x+y=%2F#frag", &u);
  cr_assert_str_eq(u.origin, "https://api.example.com");
  cr_assert_str_eq(u.path, "/a b");
  cr_assert_eq(u.n_q, 4);
  cr_assert_str_eq(u.q[0].name, "a");
  cr_assert_str_eq(u.q[0].value, "2", "equal names keep their order");
  cr_assert_str_eq(u.q[1].value, "1");
  cr_assert_str_eq(u.q[2].name, "x y");
  cr_assert_str_eq(u.q[2].value, "/");
  cr_assert_str_eq(u.q[3].name, "z");
  cairn__url_free(&u);

  cairn__url_parse("/only/path", &u);
  cr_assert_str_eq(u.origin, "");
  cr_assert_str_eq(u.path, "/only/path");
  cr_assert_eq(u.n_q, 0);
  cairn__url_free(&u);
}

/* ---- redaction ----------------------------------------------------------- */

Test(http, api_key_headers_are_credentials)
{
  static const char *const secret[] = {
    "Authorization", "cookie", "X-API-Key", "x-api-key", "api-key",
    "Ocp-Apim-Subscription-Key", "X-Functions-Key", "x-goog-api-key",
    "X-Amz-Security-Token", "X-Auth-Token", "Private-Token",
  };
  static const char *const data[] = {
    "Content-Type", "X-Request-Id", "x-ms-continuation", "ETag", "Link",
  };
  const char *const extra[] = { "X-Tenant-Secret", NULL };
  for (size_t i = 0; i < sizeof secret / sizeof *secret; i++)
    cr_assert(cairn__redact_header(secret[i], NULL), "%s", secret[i]);
  for (size_t i = 0; i < sizeof data / sizeof *data; i++)
    cr_assert(!cairn__redact_header(data[i], NULL), "%s", data[i]);
  cr_assert(cairn__redact_header("x-tenant-secret", extra));
}

Test(http, redact_json_form_and_url)
{
  const char *const extra[] = { "apiKey", NULL };
  const char *json = "{\"a\":{\"access_token\":\"AT1\",\"list\":[{\"Refresh_"
                     "Token\":\"RT1\"}]},\"apiKey\":7,\"keep\":\"v\"}";
  const char *form = "grant_type=password&username=u&password=PW1&"
                     "client_secret=CS1";
  char *out;
  size_t len;

  cairn__redact_body(json, strlen(json), "application/json", extra, &out,
                     &len);
  cr_assert_not_null(out);
  cr_assert(!strstr(out, "AT1") && !strstr(out, "RT1") && !strstr(out, "7"),
            "%s", out);
  cr_assert(strstr(out, "\"keep\":\"v\"") != NULL, "%s", out);
  free(out);

  cairn__redact_body(form, strlen(form), NULL, NULL, &out, &len);
  cr_assert_str_eq(out, "grant_type=password&username=u&password=REDACTED&"
                        "client_secret=REDACTED");
  free(out);

  /* Nothing to hide: NULL, the caller keeps the original bytes. */
  cairn__redact_body("{\"x\":1}", 7, NULL, NULL, &out, &len);
  cr_assert_null(out);

  /* JSON jansson refuses (huge integer) is patched textually. */
  json = "{\"n\":123456789012345678901234567890,\"id_token\":\"IT1\"}";
  cairn__redact_body(json, strlen(json), NULL, NULL, &out, &len);
  cr_assert_str_eq(out, "{\"n\":123456789012345678901234567890,\"id_token\":"
                        "\"REDACTED\"}");
  free(out);

  out = cairn_http_url_safe("https://u:p@blob.example.net/c/f?sv=1&sig=SIG1"
                          "&access_token=AT2#x", NULL);
  cr_assert_str_eq(out, "https://REDACTED@blob.example.net/c/f?sv=1&"
                        "sig=REDACTED&access_token=REDACTED#x");
  free(out);
}

/* ---- codecs -------------------------------------------------------------- */

Test(http, base64_and_http_dates_round_trip)
{
  static const char bin[] = "\x00\xff\x10 cairn!";
  char *enc, *dec, date[40];
  size_t len;
  int64_t t;

  for (size_t n = 0; n < sizeof bin; n++) {
    enc = cairn_base64_encode(bin, n);
    cr_assert_eq(cairn_base64_decode(enc, strlen(enc), &dec, &len), 0);
    cr_assert_eq(len, n);
    cr_assert_eq(memcmp(dec, bin, n), 0);
    free(enc);
    free(dec);
  }
  cr_assert_eq(cairn_base64_decode("a$b=", 4, &dec, &len), -1);

  cr_assert_eq(cairn__http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t),
               0);
  cr_assert_eq(t, 784111777);
  cairn__http_date_fmt(t, date, sizeof date);
  cr_assert_str_eq(date, "Sun, 06 Nov 1994 08:49:37 GMT");
  cr_assert_eq(cairn__http_date_parse("yesterday", &t), -1);
  cr_assert(cairn_utf8_valid("h\xc3\xa9", 3));
  cr_assert(!cairn_utf8_valid("\xc3(", 2));
  cr_assert(!cairn_utf8_valid("\xed\xa0\x80", 3), "surrogates are invalid");
}

Test(http, query_pairs_split_and_decode)
{
  /* empty pairs are pairs too; a trailing '&' ends the walk */
  static const char q[] = "a=1&&b%20c+d=x%3Dy+z&e&=v&bad=%4&";
  static const char *const want[][2] = {
    {"a", "1"}, {"", ""}, {"b c d", "x=y z"}, {"e", ""}, {"", "v"},
    {"bad", "%4"},
  };
  const char *at = q, *end = q + strlen(q);
  struct cairn_pair p;
  size_t i = 0;

  while (cairn_pair_next(&at, end, &p)) {
    char *name = cairn_pair_name(&p), *value = cairn_pair_value(&p);
    cr_assert_lt(i, sizeof want / sizeof *want);
    cr_assert_str_eq(name, want[i][0], "pair %zu", i);
    cr_assert_str_eq(value, want[i][1], "pair %zu", i);
    cr_assert_eq(p.eq == NULL, i == 1 || i == 3, "pair %zu", i);
    free(name);
    free(value);
    i++;
  }
  cr_assert_eq(i, sizeof want / sizeof *want);
  cr_assert_eq(p.end + 1, end, "the last pair ends at the trailing '&'");
  at = end;
  cr_assert_eq(cairn_pair_next(&at, end, &p), 0);
  at = "sig=REDACTED";
  cr_assert(cairn_pair_next(&at, at + 12, &p));
  cr_assert(cairn_pair_value_is(&p, "REDACTED"));
  cr_assert(!cairn_pair_value_is(&p, "REDACTE"));
  {
    char *d = cairn_pct_decode("%41%zz%4a+", 10, 0);
    cr_assert_str_eq(d, "A%zzJ+");
    free(d);
  }
  cr_assert_eq(cairn_hexval('F'), 15);
  cr_assert_eq(cairn_hexval('g'), -1);
}

Test(http, oneline_escapes_control_characters_and_bytes_that_are_not_utf8)
{
  struct cairn_buf b = {0};
  cairn_put_oneline(&b, "k\ney\r\t\x01\x7f Z\xc3\xbcrich \xff\xc3(");
  cr_assert_str_eq(b.data, "k\\ney\\r\\t\\u0001\\u007f Z\xc3\xbcrich "
                           "\\xff\\xc3(");
  cr_assert(cairn_utf8_valid(b.data, b.len));
  b.len = 0;
  cairn_put_oneline(&b, "");
  cr_assert_eq(b.len, 0);
  cairn_buf_free(&b);
}

Test(http, reason_phrases)
{
  cr_assert_str_eq(cairn_http_reason(429), "Too Many Requests");
  cr_assert_str_eq(cairn_http_reason(799), "");
}

/* ---- mock fault grammar -------------------------------------------------- */

Test(http, fault_specs_parse_or_explain)
{
  static const char *const good[] = {
    "429", "429:retry-after=2", "429:retry-after=date", "503", "500@3",
    "reset", "truncate@6", "slow:250", "reset@4+", "503@every=3",
    "429@rate=0.3", "504:retry-after=0@1", NULL
  };
  static const char *const bad[] = {
    "", "42", "600", "200", "429:retry=1", "429:retry-after=", "slow",
    "slow:-1", "reset@0", "reset@x", "reset@every=0", "429@rate=1.5",
    "truncate@", "boom", "429@3++", NULL
  };
  cairn_err err = { 0 };

  for (const char *const *s = good; *s; s++)
    cr_assert_eq(cairn_mock_fault_check(*s, &err), CAIRN_OK, "%s: %s", *s,
                 err.msg);
  for (const char *const *s = bad; *s; s++) {
    cairn_err_clear(&err);
    cr_assert_eq(cairn_mock_fault_check(*s, &err), CAIRN_EUSAGE,
                 "'%s' accepted", *s);
    cr_assert(strstr(err.msg, "bad fault") != NULL);
  }
}

/* The one JSON string escaper (core/codec.c) against jansson, which is what
 * every JSON cairn writes must equal: each ASCII byte value, at each
 * position of a 40-byte string (so both the 16-byte scan and the tail see
 * it), in both hex cases; bytes >= 0x80 (UTF-8, checked elsewhere) pass
 * through; and the length agrees with what is written. */
Test(http, json_string_escaping_matches_jansson)
{
  char in[41], out[6 * 40 + 2];
  for (int c = 1; c < 256; c++) {
    for (int at = 0; at < 40; at += 3) {
      char *ref, *lower;
      json_t *j;
      size_t n;
      memset(in, 'a', 40);
      in[at] = (char)c;
      in[40] = '\0';
      if (c >= 0x80) {
        n = (size_t)(cairn_json_str_to(out, in, 40, 0) - out);
        cr_assert(n == 42 && out[1 + at] == (char)c, "byte %d at %d", c, at);
        cr_assert_eq(cairn_json_str_len(in, 40), 42);
        continue;
      }
      j = json_stringn_nocheck(in, 40);
      ref = json_dumps(j, JSON_ENCODE_ANY);
      json_decref(j);
      n = (size_t)(cairn_json_str_to(out, in, 40, 1) - out);
      cr_assert_eq(n, strlen(ref), "byte %d at %d", c, at);
      cr_assert(memcmp(out, ref, n) == 0, "byte %d at %d: %.*s vs %s", c,
                at, (int)n, out, ref);
      cr_assert_eq(cairn_json_str_len(in, 40), n);
      /* lower case: the same but for the \u00XX hex digits */
      lower = strdup(ref);
      for (char *q = strstr(lower, "\\u00"); q; q = strstr(q + 1, "\\u00"))
        for (int k = 4; k < 6; k++)
          if (q[k] >= 'A' && q[k] <= 'F')
            q[k] = (char)(q[k] - 'A' + 'a');
      n = (size_t)(cairn_json_str_to(out, in, 40, 0) - out);
      cr_assert(n == strlen(lower) && memcmp(out, lower, n) == 0,
                "lower, byte %d at %d", c, at);
      free(lower);
      free(ref);
    }
  }
  cr_assert_eq(cairn_json_str_len("", 0), 2);
  cr_assert_eq(cairn_json_str_to(out, "", 0, 0) - out, 2);
}

/* The parameter a mismatch names is one that really differs: a recorded
 * REDACTED value matches anything, as in matching. */
Test(http, replay_mismatch_skips_redacted_recorded_values)
{
  const char *path = "/tmp/cairn_test_wild.har";
  FILE *f = fopen(path, "w");
  cairn_http_transport *t = NULL;
  struct cairn_http_req req;
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };

  cr_assert(f);
  fputs("{\"log\": {\"version\": \"1.2\", \"creator\": {\"name\": \"t\", "
        "\"version\": \"1\"}, \"entries\": [{\"request\": {\"method\": "
        "\"GET\", \"url\": \"https://api.example.com/v1/q?account=REDACTED"
        "&page=1\", \"headers\": []}, \"response\": {\"status\": 200, "
        "\"headers\": [], \"content\": {\"text\": \"{}\"}}}]}}\n", f);
  fclose(f);
  cr_assert_eq(cairn_http_replay_open(path, &t, &err), CAIRN_OK, "%s",
               err.msg);
  memset(&req, 0, sizeof req);
  req.method = "GET";
  req.url = "https://api.example.com/v1/q?account=ACCT-42&page=2";
  cr_assert_eq(cairn_http_perform(t, &req, &resp, &err), CAIRN_EREPLAY);
  cr_assert(strstr(err.msg, "; query parameter \"page\" is \"2\" here and "
                            "\"1\" in the recording") != NULL, "%s", err.msg);
  cairn_http_resp_free(&resp);
  cairn_http_transport_destroy(t);
  remove(path);
}

/* ---- the record transport over a canned inner transport ---------------
 * A value registered as a secret must not reach the recording in any form
 * a reader can turn back into it, whatever body it hides in. */

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
  char dir[64] = "/tmp/cairn-rec.XXXXXX";
  char *har;

  cr_assert_not_null(mkdtemp(dir));
  har = cairn_strfmt("%s/rec.har", dir);

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
  cairn_fs_remove_tree(dir, &err);
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

  cr_assert_not_null(e, "%.200s", har_text);
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
Test(http, record_a_secret_in_a_body_that_is_not_utf8_is_masked)
{
  static const char body[] =
      "<p>Cl\xe9 refus\xe9" "e: fakeApiKey-0123456789</p>";
  static const char post[] = "\xff\x01key fakeApiKey-0123456789 \xfe";
  char *har, *text;
  size_t n;

  cairn_log_add_secret("fakeApiKey-0123456789");
  har = record_one("text/html; charset=iso-8859-1", body, sizeof body - 1,
                   post, sizeof post - 1);
  cr_assert(strstr(har, "\"encoding\": \"base64\""), "%.200s", har);
  cr_assert(strstr(har, "\"_encoding\": \"base64\""), "%.200s", har);
  text = readable(har, &n);
  cr_assert(!holds(text, n, "fakeApiKey"), "secret kept: %.200s", har);
  cr_assert(holds(text, n, "Cl\xe9 refus\xe9" "e: ***</p>"),
            "the rest of the body is kept: %.200s", har);
  free(text);
  free(har);
}

/* A secret with a quote and a backslash, in a JSON array (where no field
 * name says it is one): escaped once in the body, twice in the file. */
Test(http, record_a_secret_escaped_in_a_json_body_is_masked)
{
  static const char body[] = "{\"keys\":[\"pa\\\"ss\\\\word-77\"],\"n\":1}";
  static const char nul[] = "a\0b fakeApiKey-0123456789 c\0d";
  char *har, *text;
  size_t n;

  cairn_log_add_secret("pa\"ss\\word-77");
  cairn_log_add_secret("fakeApiKey-0123456789");
  har = record_one("application/json", body, sizeof body - 1, NULL, 0);
  text = readable(har, &n);
  cr_assert(!holds(text, n, "word-77"), "secret kept: %.200s", har);
  cr_assert(!holds(har, strlen(har), "word-77"), "secret kept: %.200s", har);
  free(text);
  free(har);
  /* a body with NUL bytes: masked on both sides of them */
  har = record_one("application/octet-stream", nul, sizeof nul - 1, NULL, 0);
  text = readable(har, &n);
  cr_assert(!holds(text, n, "fakeApiKey"), "secret kept: %.200s", har);
  cr_assert(n == sizeof "a\0b *** c\0d\n" - 1 &&
                memcmp(text, "a\0b *** c\0d\n", n) == 0,
            "body around the secret kept: %.200s", har);
  free(text);
  free(har);
}

/* A body with a NUL byte is valid UTF-8, but a JSON string holding it
 * (\u0000) is one that json_loadb refuses: the whole recording could not
 * be loaded for --replay or `cairn mock`. */
Test(http, record_a_body_with_nul_bytes_replays_whole)
{
  static const char body[] = "ab\0cd";
  static const char post[] = "k=v\0w";
  char path[] = "/tmp/cairn-nul.XXXXXX";
  int fd = mkstemp(path);
  char *har = record_one("application/octet-stream", body, sizeof body - 1,
                         post, sizeof post - 1);
  struct cairn_http_header h = { "Content-Type", "text/plain" };
  struct cairn_http_resp resp = { 0 };
  struct cairn_http_req req;
  cairn_http_transport *t = NULL;
  cairn_err err = { 0 };
  int rc;

  cr_assert(fd >= 0);
  cr_assert_eq(write(fd, har, strlen(har)), (ssize_t)strlen(har));
  close(fd);
  rc = cairn_http_replay_open(path, &t, &err);
  unlink(path);
  cr_assert_eq(rc, CAIRN_OK, "%s", err.msg);
  memset(&req, 0, sizeof req);
  req.method = "POST";
  req.url = "https://api.example.com/v1/items";
  req.headers = &h;
  req.n_headers = 1;
  req.body = post;
  req.body_len = sizeof post - 1;
  rc = cairn_http_perform(t, &req, &resp, &err);
  cr_assert_eq(rc, CAIRN_OK, "%s", err.msg);
  cr_assert(resp.body.len == sizeof body - 1 &&
            memcmp(resp.body.data, body, sizeof body - 1) == 0);
  cairn_http_resp_free(&resp);
  cairn_http_transport_destroy(t);
  free(har);
}
