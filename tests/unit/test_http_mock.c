/* SPDX-License-Identifier: MIT */
/* test_http_mock.c -- real libcurl (the live transport) against the real
 * mock server on 127.0.0.1, started in-process: every fault as the live
 * transport reports it, origin rewriting, the request log, and the
 * record -> replay round trip with redaction and HAR validation.
 * Never touches anything but loopback. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <jansson.h>

#include "core/clock.h"
#include "core/fsx.h"
#include "http/har.h"
#include "http/http.h"
#include "http/mock.h"

#ifndef CAIRN_FIXTURES
#define CAIRN_FIXTURES "fixtures"
#endif
#define BASIC_HAR CAIRN_FIXTURES "/http/basic.har"

static char dir[64];
static FILE *quiet;              /* mock request log when not inspected */
static cairn_http_transport *live;

static void setup(void)
{
  cairn_err err = { 0 };

  /* Loopback must never go through a proxy from the environment. */
  unsetenv("http_proxy");
  unsetenv("HTTP_PROXY");
  unsetenv("https_proxy");
  unsetenv("HTTPS_PROXY");
  unsetenv("all_proxy");
  unsetenv("ALL_PROXY");
  strcpy(dir, "/tmp/cairn_test_mock_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  quiet = fopen("/dev/null", "w");
  cr_assert_not_null(quiet);
  cr_assert_eq(cairn_http_live_open(NULL, &live, &err), CAIRN_OK, "%s",
               err.msg);
}

static void teardown(void)
{
  cairn_err err = { 0 };

  cairn_http_transport_destroy(live);
  live = NULL;
  if (quiet)
    fclose(quiet);
  cairn_fs_remove_tree(dir, &err);
}

TestSuite(http_mock, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers ------------------------------------------------------------- */

static cairn_mock *start(const char *const *faults, uint64_t seed,
                         const char *log_path)
{
  struct cairn_mock_opts o;
  cairn_mock *m = NULL;
  cairn_err err = { 0 };

  memset(&o, 0, sizeof o);
  o.har_path = BASIC_HAR;
  o.faults = faults;
  o.seed = seed;
  o.log_path = log_path;
  o.log_fp = quiet;
  cr_assert_eq(cairn_mock_start(&o, &m, &err), CAIRN_OK, "%s", err.msg);
  cr_assert_gt(cairn_mock_port(m), 0);
  return m;
}

struct call {
  const char *method;
  const char *path;            /* appended to the mock URL */
  const char *body;
  const struct cairn_http_header *headers;
  size_t n_headers;
  long timeout_ms;
  size_t max_body;
};

static int call(cairn_http_transport *t, cairn_mock *m, struct call c,
                struct cairn_http_resp *resp, cairn_err *err)
{
  struct cairn_http_req req;
  char *url = strncmp(c.path, "http", 4) == 0
                  ? cairn_xstrdup(c.path)
                  : cairn_strfmt("%s%s", cairn_mock_url(m), c.path);
  int rc;

  memset(&req, 0, sizeof req);
  req.method = c.method ? c.method : "GET";
  req.url = url;
  req.headers = c.headers;
  req.n_headers = c.n_headers;
  req.body = c.body;
  req.body_len = c.body ? strlen(c.body) : 0;
  req.timeout_ms = c.timeout_ms;
  req.max_body = c.max_body;
  rc = cairn_http_perform(t, &req, resp, err);
  free(url);
  return rc;
}

static long get_status(cairn_mock *m, const char *path)
{
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  int rc = call(live, m, (struct call){ .path = path }, &resp, &err);
  long status;

  cr_assert_eq(rc, CAIRN_OK, "GET %s: %s", path, err.msg);
  status = resp.status;
  cairn_http_resp_free(&resp);
  return status;
}

static json_t *log_lines(const char *path)
{
  json_t *arr = json_array();
  FILE *f = fopen(path, "r");
  char line[8192];

  cr_assert_not_null(f, "no log at %s", path);
  while (fgets(line, sizeof line, f)) {
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    cr_assert_not_null(o, "log line is not JSON: %s (%s)", line, je.text);
    json_array_append_new(arr, o);
  }
  fclose(f);
  return arr;
}

/* ---- serving ------------------------------------------------------------- */

Test(http_mock, live_gets_recorded_response_with_origins_rewritten)
{
  cairn_mock *m = start(NULL, 1, NULL);
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  char *want, *esc;
  int rc;

  /* Recorded as ?b=2&a=1: parameter order does not matter. */
  rc = call(live, m, (struct call){ .path = "/v1/items?a=1&b=2" }, &resp,
            &err);
  cr_assert_eq(rc, CAIRN_OK, "%s", err.msg);
  cr_assert_eq(resp.status, 200);
  want = cairn_strfmt("\"nextLink\":\"%s/v1/items?a=1&b=2&$skiptoken=abc\"",
                      cairn_mock_url(m));
  cr_assert(strstr(resp.body.data, want) != NULL, "%s", resp.body.data);
  free(want);
  want = cairn_strfmt("<%s/v1/items?a=1&b=2&$skiptoken=abc>; rel=\"next\"",
                      cairn_mock_url(m));
  cr_assert_str_eq(cairn_http_resp_header(&resp, "link"), want);
  free(want);
  /* The recorded Date comes back, and only it (deterministic runs). */
  cr_assert_str_eq(cairn_http_resp_header(&resp, "Date"),
                   "Tue, 03 Mar 2026 10:00:00 GMT");
  {
    size_t n_date = 0;
    for (size_t i = 0; i < resp.n_headers; i++)
      n_date += strcasecmp(resp.headers[i].name, "Date") == 0;
    cr_assert_eq(n_date, 1);
  }

  /* Follow the rewritten next link: it leads back to the mock. */
  want = cairn_strfmt("%s/v1/items?a=1&b=2&$skiptoken=abc", cairn_mock_url(m));
  rc = call(live, m, (struct call){ .path = want }, &resp, &err);
  free(want);
  cr_assert_eq(rc, CAIRN_OK, "%s", err.msg);
  esc = cairn_strfmt("%s", cairn_mock_url(m));
  {
    /* JSON-escaped slashes are rewritten in kind; other hosts are not. */
    struct cairn_buf b = { 0 };
    for (const char *p = esc; *p; p++) {
      if (*p == '/')
        cairn_buf_putc(&b, '\\');
      cairn_buf_putc(&b, *p);
    }
    cr_assert(strstr(resp.body.data, b.data) != NULL, "%s", resp.body.data);
    cairn_buf_free(&b);
  }
  free(esc);
  cr_assert(strstr(resp.body.data, "https://api.example.com.evil/x") != NULL,
            "%s", resp.body.data);

  /* An origin with an explicit port, in a text body. */
  rc = call(live, m, (struct call){ .path = "/v2/ping" }, &resp, &err);
  cr_assert_eq(rc, CAIRN_OK, "%s", err.msg);
  want = cairn_strfmt("pong from %s/v2/ping", cairn_mock_url(m));
  cr_assert_str_eq(resp.body.data, want);
  free(want);

  /* Location headers too; Content-Encoding/Length are not replayed. */
  cr_assert_eq(get_status(m, "/v1/jobs/7"), 202);
  rc = call(live, m, (struct call){ .path = "/v1/jobs/7" }, &resp, &err);
  cr_assert_eq(rc, CAIRN_OK, "%s", err.msg);
  want = cairn_strfmt("%s/v1/jobs/7/result", cairn_mock_url(m));
  cr_assert_str_eq(cairn_http_resp_header(&resp, "Location"), want);
  free(want);
  cairn_http_resp_free(&resp);
  cairn_mock_stop(m);
}

Test(http_mock, base64_content_is_served_decoded)
{
  cairn_mock *m = start(NULL, 1, NULL);
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  static const char want[] = "\x00\x01\x02\xff" "cairn\x80";

  cr_assert_eq(call(live, m, (struct call){ .path = "/export/part-1.bin" },
                    &resp, &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(resp.body.len, sizeof want - 1);
  cr_assert_eq(memcmp(resp.body.data, want, sizeof want - 1), 0);
  cairn_http_resp_free(&resp);
  cairn_mock_stop(m);
}

Test(http_mock, unmatched_request_gets_404_naming_the_closest)
{
  cairn_mock *m = start(NULL, 1, NULL);
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };

  cr_assert_eq(call(live, m, (struct call){ .path = "/v1/itemz?a=1&b=2" },
                    &resp, &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(resp.status, 404);
  cr_assert(strstr(resp.body.data, "CairnMockUnmatched") != NULL);
  cr_assert(strstr(resp.body.data, "closest is entry 0: GET /v1/items?b=2&a=1")
                != NULL, "%s", resp.body.data);
  cairn_http_resp_free(&resp);
  cairn_mock_stop(m);
}

Test(http_mock, identical_requests_are_answered_in_recorded_order)
{
  cairn_mock *m = start(NULL, 1, NULL);

  cr_assert_eq(get_status(m, "/v1/jobs/7"), 202);
  cr_assert_eq(get_status(m, "/v1/jobs/7"), 200);
  cr_assert_eq(get_status(m, "/v1/jobs/7"), 200);
  cr_assert_eq(cairn_mock_request_count(m), 3);
  cairn_mock_stop(m);
}

/* ---- faults -------------------------------------------------------------- */

Test(http_mock, fault_429_with_retry_after_does_not_consume_the_entry)
{
  const char *const faults[] = { "429:retry-after=1@1", NULL };
  char *log = cairn_path_join(dir, "mock.log");
  cairn_mock *m = start(faults, 1, log);
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  json_t *lines;

  cr_assert_eq(call(live, m, (struct call){ .path = "/v1/jobs/7" }, &resp,
                    &err), CAIRN_OK, "a 429 is a response: %s", err.msg);
  cr_assert_eq(resp.status, 429);
  cr_assert_str_eq(cairn_http_resp_header(&resp, "Retry-After"), "1");
  /* The retry gets the first recorded answer, not the second. */
  cr_assert_eq(call(live, m, (struct call){ .path = "/v1/jobs/7" }, &resp,
                    &err), CAIRN_OK);
  cr_assert_eq(resp.status, 202);
  cairn_http_resp_free(&resp);
  cairn_mock_stop(m);

  lines = log_lines(log);
  cr_assert_eq(json_array_size(lines), 2);
  cr_assert_str_eq(json_string_value(json_object_get(
                       json_array_get(lines, 0), "fault")),
                   "429:retry-after=1@1");
  cr_assert_eq(json_integer_value(json_object_get(json_array_get(lines, 0),
                                                  "status")), 429);
  cr_assert_eq(json_integer_value(json_object_get(json_array_get(lines, 1),
                                                  "entry")), 4);
  cr_assert(json_is_null(json_object_get(json_array_get(lines, 1),
                                         "fault")));
  json_decref(lines);
  free(log);
}

Test(http_mock, fault_429_retry_after_date_is_an_http_date_soon)
{
  const char *const faults[] = { "429:retry-after=date", NULL };
  cairn_mock *m = start(faults, 1, NULL);
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  int64_t when, now = cairn_clock_now();

  cr_assert_eq(call(live, m, (struct call){ .path = "/v1/jobs/7" }, &resp,
                    &err), CAIRN_OK);
  cr_assert_eq(resp.status, 429);
  cr_assert_eq(cairn__http_date_parse(
                   cairn_http_resp_header(&resp, "Retry-After"), &when), 0,
               "%s", cairn_http_resp_header(&resp, "Retry-After"));
  cr_assert(when >= now + 1 && when <= now + 3, "when %lld now %lld",
            (long long)when, (long long)now);
  cairn_http_resp_free(&resp);
  cairn_mock_stop(m);
}

Test(http_mock, fault_503_every_second_request)
{
  const char *const faults[] = { "503@every=2", NULL };
  cairn_mock *m = start(faults, 1, NULL);

  cr_assert_eq(get_status(m, "/v2/ping"), 200);
  cr_assert_eq(get_status(m, "/v2/ping"), 503);
  cr_assert_eq(get_status(m, "/v2/ping"), 200);
  cr_assert_eq(get_status(m, "/v2/ping"), 503);
  cairn_mock_stop(m);
}

Test(http_mock, fault_from_nth_request_on)
{
  const char *const faults[] = { "500@3+", NULL };
  cairn_mock *m = start(faults, 1, NULL);

  cr_assert_eq(get_status(m, "/v2/ping"), 200);
  cr_assert_eq(get_status(m, "/v2/ping"), 200);
  cr_assert_eq(get_status(m, "/v2/ping"), 500);
  cr_assert_eq(get_status(m, "/v2/ping"), 500);
  cairn_mock_stop(m);
}

Test(http_mock, fault_reset_is_a_transport_error)
{
  const char *const faults[] = { "reset@1", NULL };
  cairn_mock *m = start(faults, 1, NULL);
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };

  cr_assert_eq(call(live, m, (struct call){ .path = "/v2/ping" }, &resp,
                    &err), CAIRN_EHTTP);
  cr_assert(strstr(err.msg, "connection reset") != NULL, "%s", err.msg);
  cr_assert_eq(err.cause, 56 /* CURLE_RECV_ERROR */, "%s", err.msg);
  cr_assert_null(resp.body.data);
  /* Not consumed: the retry gets the answer. */
  cr_assert_eq(get_status(m, "/v2/ping"), 200);
  cairn_mock_stop(m);
}

Test(http_mock, fault_truncate_reports_how_much_arrived)
{
  const char *const faults[] = { "truncate@1", NULL };
  cairn_mock *m = start(faults, 1, NULL);
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  char want[96];
  /* Entry 0's body with the origin rewritten: known length. */
  size_t full = strlen("{\"value\":[{\"id\":1},{\"id\":2}],\"nextLink\":\""
                       "/v1/items?a=1&b=2&$skiptoken=abc\"}") +
                strlen(cairn_mock_url(m));

  cr_assert_eq(call(live, m, (struct call){ .path = "/v1/items?a=1&b=2" },
                    &resp, &err), CAIRN_EHTTP);
  snprintf(want, sizeof want, "truncated body: got %zu of %zu bytes",
           full / 2, full);
  cr_assert(strstr(err.msg, want) != NULL, "want '%s' in: %s", want,
            err.msg);
  cr_assert(err.cause == 18 /* CURLE_PARTIAL_FILE */ || err.cause == 56,
            "cause %ld", err.cause);
  cr_assert_eq(get_status(m, "/v1/items?a=1&b=2"), 200);
  cairn_mock_stop(m);
}

Test(http_mock, fault_slow_past_the_timeout_is_a_timeout)
{
  const char *const faults[] = { "slow:2000@1", NULL };
  cairn_mock *m = start(faults, 1, NULL);
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  int64_t t0 = cairn_clock_mono_ms();

  cr_assert_eq(call(live, m, (struct call){ .path = "/v2/ping",
                                            .timeout_ms = 300 },
                    &resp, &err), CAIRN_EHTTP);
  cr_assert(strstr(err.msg, "timeout") != NULL, "%s", err.msg);
  cr_assert_eq(err.cause, 28 /* CURLE_OPERATION_TIMEDOUT */);
  cr_assert_lt(cairn_clock_mono_ms() - t0, 1500);
  cr_assert_eq(get_status(m, "/v2/ping"), 200);
  cairn_mock_stop(m); /* must not wait out the delayed answer */
}

Test(http_mock, fault_slow_delays_the_real_answer)
{
  const char *const faults[] = { "slow:250", NULL };
  cairn_mock *m = start(faults, 1, NULL);
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };

  cr_assert_eq(call(live, m, (struct call){ .path = "/v2/ping" }, &resp,
                    &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(resp.status, 200);
  cr_assert_geq(resp.elapsed_s, 0.24, "elapsed %f", resp.elapsed_s);
  cairn_http_resp_free(&resp);
  cairn_mock_stop(m);
}

Test(http_mock, low_speed_limit_aborts_a_stalled_exchange)
{
  const char *const faults[] = { "slow:3000@1", NULL };
  cairn_mock *m = start(faults, 1, NULL);
  struct cairn_http_resp resp = { 0 };
  struct cairn_http_req req;
  cairn_err err = { 0 };
  char *url = cairn_strfmt("%s/v2/ping", cairn_mock_url(m));

  memset(&req, 0, sizeof req);
  req.method = "GET";
  req.url = url;
  req.low_speed_bytes = 100;
  req.low_speed_secs = 1;
  cr_assert_eq(cairn_http_perform(live, &req, &resp, &err), CAIRN_EHTTP);
  cr_assert(strstr(err.msg, "timeout: slower than 100 bytes/s for 1 s") !=
                NULL, "%s", err.msg);
  free(url);
  cairn_mock_stop(m);
}

static void rate_pattern(uint64_t seed, char *out, size_t n)
{
  const char *const faults[] = { "429@rate=0.5", NULL };
  cairn_mock *m = start(faults, seed, NULL);

  for (size_t i = 0; i + 1 < n; i++)
    out[i] = get_status(m, "/v2/ping") == 429 ? 'x' : '.';
  out[n - 1] = '\0';
  cairn_mock_stop(m);
}

Test(http_mock, fault_rate_is_deterministic_per_seed)
{
  char a[25], b[25], c[25];

  rate_pattern(7, a, sizeof a);
  rate_pattern(7, b, sizeof b);
  rate_pattern(8, c, sizeof c);
  cr_assert_str_eq(a, b);
  cr_assert_str_neq(a, c, "seeds 7 and 8 gave the same pattern %s", a);
  cr_assert(strchr(a, 'x') && strchr(a, '.'), "%s", a);
}

/* ---- live transport failures not from the mock --------------------------- */

Test(http_mock, live_body_over_max_body_fails)
{
  cairn_mock *m = start(NULL, 1, NULL);
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };

  cr_assert_eq(call(live, m, (struct call){ .path = "/v1/items?a=1&b=2",
                                            .max_body = 10 },
                    &resp, &err), CAIRN_EHTTP);
  cr_assert(strstr(err.msg, "response body exceeds 10 bytes") != NULL, "%s",
            err.msg);
  cr_assert_null(resp.body.data);
  cairn_mock_stop(m);
}

Test(http_mock, live_connection_refused)
{
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  char url[64];

  /* A port that was free a moment ago and has no listener. */
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  close(fd);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/x", ntohs(sa.sin_port));
  cr_assert_eq(call(live, NULL, (struct call){ .path = url }, &resp, &err),
               CAIRN_EHTTP);
  cr_assert(strstr(err.msg, "connection refused") != NULL, "%s", err.msg);
  cr_assert_eq(err.cause, 7 /* CURLE_COULDNT_CONNECT */);
}

Test(http_mock, live_refuses_other_protocols)
{
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };

  /* refused as the job's fault (exit 2, never retried) */
  cr_assert_eq(call(live, NULL, (struct call){ .path = "file:///etc/passwd" },
                    &resp, &err), CAIRN_EUSAGE);
  cr_assert(strstr(err.msg, "unsupported protocol") != NULL, "%s", err.msg);
  memset(&err, 0, sizeof err);
  cr_assert_eq(call(live, NULL, (struct call){ .path = "http://127.0.0.1:9/a b" },
                    &resp, &err), CAIRN_EUSAGE);
  cr_assert(strstr(err.msg, "malformed URL") != NULL, "%s", err.msg);
}

/* ---- the request log and lifecycle --------------------------------------- */

Test(http_mock, log_has_one_json_line_per_request)
{
  char *log = cairn_path_join(dir, "req.log");
  cairn_mock *m = start(NULL, 1, log);
  const struct cairn_http_header h[] = {
    { "traceparent",
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
    { "Authorization", "Bearer tok-in-log-1234" },
    { "Content-Type", "application/x-www-form-urlencoded" },
  };
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  json_t *lines, *first, *hdrs;
  char *text;

  cr_assert_eq(call(live, m,
                    (struct call){ .method = "POST",
                                   .path = "/tenant/oauth2/v2.0/token",
                                   .body = "grant_type=client_credentials&"
                                           "client_id=app&client_secret=cs-"
                                           "in-log-5678&scope=https%3A%2F%2F"
                                           "api.example.com%2F.default",
                                   .headers = h, .n_headers = 3 },
                    &resp, &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(resp.status, 200);
  cr_assert_eq(get_status(m, "/nope?sig=sig-in-log-9012&x=1"), 404);
  cairn_http_resp_free(&resp);
  cairn_mock_stop(m);

  lines = log_lines(log);
  cr_assert_eq(json_array_size(lines), 2);
  first = json_array_get(lines, 0);
  cr_assert_eq(json_integer_value(json_object_get(first, "seq")), 1);
  cr_assert_str_eq(json_string_value(json_object_get(first, "method")),
                   "POST");
  cr_assert_str_eq(json_string_value(json_object_get(first, "url")),
                   "/tenant/oauth2/v2.0/token");
  cr_assert_eq(json_integer_value(json_object_get(first, "entry")), 2);
  cr_assert_eq(json_integer_value(json_object_get(first, "status")), 200);
  hdrs = json_object_get(first, "headers");
  cr_assert_str_eq(json_string_value(json_object_get(hdrs, "traceparent")),
                   "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  cr_assert_str_eq(json_string_value(json_object_get(hdrs, "User-Agent")),
                   "cairn/0.1.0");
  cr_assert(strstr(json_string_value(json_object_get(first, "body")),
                   "client_secret=REDACTED") != NULL);
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(lines, 1),
                                                     "entry")),
                   "unmatched");
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(lines, 1),
                                                     "url")),
                   "/nope?sig=REDACTED&x=1");
  text = json_dumps(lines, 0);
  cr_assert(strstr(text, "tok-in-log-1234") == NULL, "%s", text);
  cr_assert(strstr(text, "cs-in-log-5678") == NULL, "%s", text);
  cr_assert(strstr(text, "sig-in-log-9012") == NULL, "%s", text);
  free(text);
  json_decref(lines);
  free(log);
}

Test(http_mock, empty_post_carries_no_content_type)
{
  /* Policy states' queryResults is a POST without a body. libcurl would
   * label the empty body application/x-www-form-urlencoded; ARM answers
   * a media type other than JSON with 415 UnsupportedMediaType, and
   * Azure's SDKs send no Content-Type there at all. So does cairn. */
  char *log = cairn_path_join(dir, "empty-post.log");
  cairn_mock *m = start(NULL, 1, log);
  struct cairn_http_resp resp = { 0 };
  cairn_err err = { 0 };
  json_t *lines, *hdrs;
  const char *k;
  json_t *v;

  cr_assert_eq(call(live, m, (struct call){ .method = "POST",
                                            .path = "/v1/queryResults" },
                    &resp, &err), CAIRN_OK, "%s", err.msg);
  cairn_http_resp_free(&resp);
  cairn_mock_stop(m);
  lines = log_lines(log);
  cr_assert_eq(json_array_size(lines), 1);
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(lines, 0),
                                                     "method")), "POST");
  hdrs = json_object_get(json_array_get(lines, 0), "headers");
  json_object_foreach(hdrs, k, v) {
    cr_assert(strcasecmp(k, "Content-Type") != 0, "an empty POST sent "
              "Content-Type: %s", json_string_value(v));
    if (strcasecmp(k, "Content-Length") == 0)
      cr_assert_str_eq(json_string_value(v), "0");
  }
  json_decref(lines);
  free(log);
}

Test(http_mock, max_requests_and_idle_exit_finish_the_server)
{
  struct cairn_mock_opts o;
  cairn_mock *m = NULL;
  cairn_err err = { 0 };
  int64_t t0;

  memset(&o, 0, sizeof o);
  o.har_path = BASIC_HAR;
  o.log_fp = quiet;
  o.max_requests = 2;
  cr_assert_eq(cairn_mock_start(&o, &m, &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_mock_wait(m, 50), 0);
  get_status(m, "/v2/ping");
  cr_assert_eq(cairn_mock_wait(m, 50), 0);
  get_status(m, "/v2/ping");
  cr_assert_eq(cairn_mock_wait(m, 2000), 1);
  cairn_mock_stop(m);

  o.max_requests = 0;
  o.idle_exit_ms = 200;
  cr_assert_eq(cairn_mock_start(&o, &m, &err), CAIRN_OK, "%s", err.msg);
  get_status(m, "/v2/ping");
  t0 = cairn_clock_mono_ms();
  cr_assert_eq(cairn_mock_wait(m, 5000), 1);
  cr_assert_lt(cairn_clock_mono_ms() - t0, 1000);
  cairn_mock_stop(m);
}

Test(http_mock, start_rejects_bad_listen_and_faults)
{
  struct cairn_mock_opts o;
  const char *const faults[] = { "429@never", NULL };
  cairn_mock *m = (cairn_mock *)1;
  cairn_err err = { 0 };

  memset(&o, 0, sizeof o);
  o.har_path = BASIC_HAR;
  o.listen = "example.com:80";
  cr_assert_eq(cairn_mock_start(&o, &m, &err), CAIRN_EUSAGE);
  cr_assert_null(m);
  o.listen = NULL;
  o.faults = faults;
  cairn_err_clear(&err);
  cr_assert_eq(cairn_mock_start(&o, &m, &err), CAIRN_EUSAGE);
  cr_assert(strstr(err.msg, "429@never") != NULL, "%s", err.msg);
  cairn_mock_stop(NULL);
}

/* ---- record -> replay ---------------------------------------------------- */

/* The exchanges a "job" makes; run once live (recorded), once replayed. */
static void run_job(cairn_http_transport *t, cairn_mock *m,
                    struct cairn_http_resp out[5])
{
  const struct cairn_http_header auth[] = {
    { "Authorization", "Bearer tok-abc-123456" },
    { "Content-Type", "application/json" },
    { "traceparent",
      "00-11111111111111111111111111111111-2222222222222222-01" },
  };
  const struct cairn_http_header form[] = {
    { "Content-Type", "application/x-www-form-urlencoded" },
  };
  static const char query_body[] =
      "{\"query\":\"Resources | limit 2\",\"options\":{\"top\":2,"
      "\"skipToken\":null},\"subscriptions\":[\"s1\"],"
      "\"apiKey\":\"key-xyz-789\"}";
  const char *base = m ? cairn_mock_url(m) : "https://api.example.com";
  char *u[5];
  cairn_err err = { 0 };

  u[0] = cairn_strfmt("%s/tenant/oauth2/v2.0/token", base);
  u[1] = cairn_strfmt("%s/v1/items?b=2&a=1", base);
  u[2] = cairn_strfmt("%s/v1/query", base);
  u[3] = cairn_strfmt("%s/v1/session", base);
  u[4] = cairn_strfmt("%s/export/part-1.bin", base);
  cr_assert_eq(call(t, m, (struct call){ .method = "POST", .path = u[0],
                                         .headers = form, .n_headers = 1,
                                         .body = "grant_type=client_credentials"
                                                 "&client_id=app&client_secret="
                                                 "supersecret-123&scope=https"
                                                 "%3A%2F%2Fapi.example.com%2F"
                                                 ".default" },
                    &out[0], &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(call(t, m, (struct call){ .path = u[1], .headers = auth,
                                         .n_headers = 3 },
                    &out[1], &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(call(t, m, (struct call){ .method = "POST", .path = u[2],
                                         .headers = auth, .n_headers = 3,
                                         .body = query_body },
                    &out[2], &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(call(t, m, (struct call){ .path = u[3], .headers = auth,
                                         .n_headers = 3 },
                    &out[3], &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(call(t, m, (struct call){ .path = u[4] }, &out[4], &err),
               CAIRN_OK, "%s", err.msg);
  for (int i = 0; i < 5; i++)
    free(u[i]);
}

static char *record_job(const char *name, struct cairn_http_resp out[5])
{
  const char *const redact[] = { "apiKey", NULL };
  char *har = cairn_path_join(dir, name);
  cairn_mock *m = start(NULL, 1, NULL);
  cairn_http_transport *inner = NULL, *rec = NULL;
  cairn_err err = { 0 };

  cr_assert_eq(cairn_http_live_open(NULL, &inner, &err), CAIRN_OK);
  cr_assert_eq(cairn_http_record_open(inner, har, redact, &rec, &err),
               CAIRN_OK, "%s", err.msg);
  cr_assert_str_eq(rec->name, "record");
  run_job(rec, m, out);
  cr_assert_eq(cairn_http_record_flush(rec, &err), CAIRN_OK, "%s", err.msg);
  cairn_http_transport_destroy(rec);
  cairn_mock_stop(m);
  return har;
}

Test(http_mock, record_then_replay_round_trip_without_secrets)
{
  struct cairn_http_resp live_resp[5], replay_resp[5];
  cairn_http_transport *rp = NULL;
  struct cairn_buf text = { 0 };
  cairn_err err = { 0 };
  char *har;

  memset(live_resp, 0, sizeof live_resp);
  memset(replay_resp, 0, sizeof replay_resp);
  har = record_job("rec.har", live_resp);
  cr_assert(strstr(live_resp[3].body.data, "at-live-0001") != NULL,
            "the live answer carries the token");

  cr_assert_eq(cairn_fs_read_all(har, &text, &err), CAIRN_OK, "%s", err.msg);
  {
    static const char *const secrets[] = {
      "supersecret-123", "tok-abc-123456", "key-xyz-789", "at-live-0001",
      "rt-live-0002", "cookie-val-0003", "traceparent",
      "11111111111111111111111111111111", NULL
    };
    for (const char *const *s = secrets; *s; s++)
      cr_assert(strstr(text.data, *s) == NULL, "'%s' reached the HAR", *s);
  }
  cr_assert(strstr(text.data, "\"startedDateTime\": \"2026-03-03T10:00:00"
                              ".000Z\"") != NULL);
  cr_assert(strstr(text.data, "\"encoding\": \"base64\"") != NULL);

  /* Replay from another origin: same statuses and bodies, no network. */
  cr_assert_eq(cairn_http_replay_open(har, &rp, &err), CAIRN_OK, "%s",
               err.msg);
  run_job(rp, NULL, replay_resp);
  for (int i = 0; i < 5; i++) {
    cr_assert_eq(replay_resp[i].status, live_resp[i].status, "exchange %d",
                 i);
    if (i == 3)
      continue; /* its tokens were redacted on purpose */
    cr_assert_eq(replay_resp[i].body.len, live_resp[i].body.len,
                 "exchange %d", i);
    cr_assert_eq(memcmp(replay_resp[i].body.data, live_resp[i].body.data,
                        live_resp[i].body.len), 0, "exchange %d", i);
  }
  cr_assert(strstr(replay_resp[3].body.data, "\"access_token\":\"REDACTED\"")
                != NULL, "%s", replay_resp[3].body.data);
  cr_assert_str_eq(cairn_http_resp_header(&replay_resp[1], "Content-Type"),
                   "application/json");
  for (int i = 0; i < 5; i++) {
    cairn_http_resp_free(&live_resp[i]);
    cairn_http_resp_free(&replay_resp[i]);
  }
  cairn_http_transport_destroy(rp);
  cairn_buf_free(&text);
  free(har);
}

Test(http_mock, recording_is_deterministic)
{
  struct cairn_http_resp r1[5], r2[5];
  struct cairn_buf a = { 0 }, b = { 0 };
  cairn_err err = { 0 };
  char *h1, *h2;

  memset(r1, 0, sizeof r1);
  memset(r2, 0, sizeof r2);
  h1 = record_job("one.har", r1);
  h2 = record_job("two.har", r2);
  cr_assert_eq(cairn_fs_read_all(h1, &a, &err), CAIRN_OK);
  cr_assert_eq(cairn_fs_read_all(h2, &b, &err), CAIRN_OK);
  /* The mock's port differs between the runs; nothing else may. */
  {
    struct cairn__har *x = NULL, *y = NULL;
    cr_assert_eq(cairn__har_load(h1, &x, &err), CAIRN_OK, "%s", err.msg);
    cr_assert_eq(cairn__har_load(h2, &y, &err), CAIRN_OK, "%s", err.msg);
    cr_assert_eq(x->n_entries, y->n_entries);
    cairn__har_free(x);
    cairn__har_free(y);
  }
  {
    /* Strip "127.0.0.1:PORT" and compare the rest byte for byte. */
    struct cairn_buf *bufs[2] = { &a, &b };
    for (int k = 0; k < 2; k++) {
      char *p;
      while ((p = strstr(bufs[k]->data, "127.0.0.1:")) != NULL) {
        char *e = p + 10;
        while (*e >= '0' && *e <= '9')
          e++;
        memmove(p, "HOST", 4);
        memmove(p + 4, e, strlen(e) + 1);
      }
      bufs[k]->len = strlen(bufs[k]->data);
    }
  }
  cr_assert_str_eq(a.data, b.data);
  for (int i = 0; i < 5; i++) {
    cairn_http_resp_free(&r1[i]);
    cairn_http_resp_free(&r2[i]);
  }
  cairn_buf_free(&a);
  cairn_buf_free(&b);
  free(h1);
  free(h2);
}

Test(http_mock, recorded_har_passes_har_validator)
{
  struct cairn_http_resp r[5];
  char *har, *cmd;
  int rc;

  /* make test installs both (nodejs, node-har-validator in the Makefile's
   * DEBS): missing, the check fails instead of being skipped. */
  cr_assert_eq(system("command -v node >/dev/null 2>&1"), 0,
               "node is not installed: cannot run har-validator "
               "(make deps installs nodejs node-har-validator)");
  cr_assert_eq(access("/usr/share/nodejs/har-validator", F_OK), 0,
               "node-har-validator is not installed "
               "(make deps installs node-har-validator)");
  memset(r, 0, sizeof r);
  har = record_job("valid.har", r);
  cmd = cairn_strfmt(
      "NODE_PATH=/usr/share/nodejs node -e '"
      "require(\"har-validator\").har(JSON.parse(require(\"fs\")"
      ".readFileSync(process.argv[1], \"utf8\")))"
      ".then(() => process.exit(0))"
      ".catch((e) => { console.error(JSON.stringify(e.errors || e.message));"
      " process.exit(1); })' '%s' && "
      "NODE_PATH=/usr/share/nodejs node -e '"
      "require(\"har-validator\").har(JSON.parse(require(\"fs\")"
      ".readFileSync(process.argv[1], \"utf8\")))"
      ".then(() => process.exit(0))"
      ".catch((e) => { console.error(JSON.stringify(e.errors || e.message));"
      " process.exit(1); })' '%s'",
      har, BASIC_HAR);
  rc = system(cmd);
  cr_assert_eq(rc, 0, "har-validator rejected %s or the fixture", har);
  for (int i = 0; i < 5; i++)
    cairn_http_resp_free(&r[i]);
  free(cmd);
  free(har);
}
