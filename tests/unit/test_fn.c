/* SPDX-License-Identifier: MIT */
/* test_fn.c -- the mapping functions one by one: good inputs, bad inputs
 * and their exact reasons, and compile errors with their pointers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/codec.h"
#include "core/jsonx.h"
#include "transform/fn.h"
#include "core/hash.h"

static struct cairn__scratch scr;
static struct cairn__srcs srcs;
static struct cairn__fctx cx;
static char out[2048];

static void setup(void)
{
  memset(&scr, 0, sizeof scr);
  memset(&srcs, 0, sizeof srcs);
  cairn__fctx_init(&cx, &scr);
  cx.srcs = &srcs;
}

static void teardown(void)
{
  cairn__fctx_free(&cx);
  cairn__srcs_free(&srcs);
  cairn__scratch_free(&scr);
}

TestSuite(fn, .init = setup, .fini = teardown);

/* "str:x", "num:x", "int:5", "bool:true", "json:{}", "null", or
 * "err:<reason>" / "compile:<message>@<pointer>". */
static const char *describe(const struct cairn_xv *v)
{
  switch (v->type) {
  case CAIRN_V_STR:
    snprintf(out, sizeof out, "str:%.*s", (int)v->n, v->s);
    break;
  case CAIRN_V_NUM:
    snprintf(out, sizeof out, "num:%.*s", (int)v->n, v->s);
    break;
  case CAIRN_V_INT:
    snprintf(out, sizeof out, "int:%lld", (long long)v->i);
    break;
  case CAIRN_V_BOOL:
    snprintf(out, sizeof out, "bool:%s", v->i ? "true" : "false");
    break;
  case CAIRN_V_JSON: {
    struct cairn_xv c = *v;
    cairn__xv_json_text(&cx, &c);
    snprintf(out, sizeof out, "json:%.*s", (int)c.n, c.s);
    break;
  }
  default:
    snprintf(out, sizeof out, "null");
  }
  return out;
}

/* Compile 'chain' (a JSON array), read source 'from' of rec, apply. */
static const char *eval(const char *chain, const char *from,
                        const struct cairn_record *rec)
{
  json_error_t je;
  json_t *c = json_loads(chain, 0, &je);
  struct cairn__fn_call calls[8];
  struct cairn_xv v;
  char msg[512], sub[128];
  size_t n = 0, src = 0;
  int rc = 0;

  cr_assert_not_null(c, "bad test chain %s: %s", chain, je.text);
  cairn__scratch_reset(&scr);
  cx.rec = rec;
  if (from)
    src = cairn__src_intern(&srcs, from);
  for (; n < json_array_size(c); n++) {
    if (cairn__fn_compile(json_array_get(c, n), &srcs, &calls[n], msg,
                          sizeof msg, sub, sizeof sub) < 0) {
      snprintf(out, sizeof out, "compile:%s@%s", msg, sub);
      cairn__fn_call_clear(&calls[n]);
      goto done;
    }
  }
  if (rec->header)
    cairn__srcs_bind(&srcs, rec->header);
  memset(&v, 0, sizeof v);
  if (from && cairn__src_get(&cx, src, &v) < 0) {
    snprintf(out, sizeof out, "err:%s", cx.why);
    goto done;
  }
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = cairn__fn_apply(&calls[i], &cx, &v);
  if (rc < 0)
    snprintf(out, sizeof out, "err:%s", cx.why);
  else
    describe(&v);
done:
  for (size_t i = 0; i < n; i++)
    cairn__fn_call_clear(&calls[i]);
  json_decref(c);
  cairn__srcs_free(&srcs);
  return out;
}

static uint64_t header_ids = 100;

/* A CSV record with columns named by 'names' ("a,b,c") and cell texts. */
static const char *csv(const char *chain, const char *from,
                       const char *names, const char *const *cells)
{
  char buf[256], *save = NULL, *tok;
  char *name_v[16];
  const char *col_v[16];
  size_t len_v[16], n = 0;
  struct cairn_header h = {0};
  struct cairn_record rec = {0};
  static char res[2048];

  snprintf(buf, sizeof buf, "%s", names);
  for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
    name_v[n++] = tok;
  for (size_t i = 0; i < n; i++) {
    col_v[i] = cells[i] ? cells[i] : "";
    len_v[i] = strlen(col_v[i]);
  }
  h.n_cols = n;
  h.names = name_v;
  h.id = ++header_ids;
  rec.header = &h;
  rec.n_cols = n;
  rec.cols = col_v;
  rec.col_lens = len_v;
  rec.position = "t.csv:2";
  snprintf(res, sizeof res, "%s", eval(chain, from, &rec));
  return res;
}

static const char *csv1(const char *chain, const char *text)
{
  const char *cells[1] = { text };
  return csv(chain, "v", "v", cells);
}

/* A JSON record {"v": <value_json>} (NULL: {}), read through "/v". */
static const char *json1(const char *chain, const char *value_json)
{
  char doc[1024];
  static char res[2048];
  struct cairn_record rec = {0};
  json_t *j;
  if (value_json)
    snprintf(doc, sizeof doc, "{\"v\": %s}", value_json);
  else
    snprintf(doc, sizeof doc, "{}");
  j = json_loads(doc, 0, NULL);
  cr_assert_not_null(j, "bad test doc %s", doc);
  rec.json = j;
  rec.position = "page 1 #1";
  snprintf(res, sizeof res, "%s", eval(chain, "/v", &rec));
  json_decref(j);
  return res;
}

#define EQ(got, want) cr_assert_str_eq((got), (want))

/* ---- text ------------------------------------------------------------- */

Test(fn, lower_upper_every_byte)
{
  /* Every non-NUL byte at every offset of the 16-byte blocks. */
  static char in[600], want_lo[620], want_up[620];
  for (size_t i = 0; i < 599; i++)
    in[i] = (char)(1 + (i * 7) % 255);
  strcpy(want_lo, "str:");
  strcpy(want_up, "str:");
  for (size_t i = 0; i < 599; i++) {
    unsigned char c = (unsigned char)in[i];
    want_lo[4 + i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    want_up[4 + i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
  }
  EQ(csv1("[\"lower\"]", in), want_lo);
  EQ(csv1("[\"upper\"]", in), want_up);
  EQ(csv1("[\"upper\"]", "0123456789abcdeXyz"), "str:0123456789ABCDEXYZ");
  EQ(csv1("[\"lower\"]", "0123456789abcdefghijklmnopqrstuvwxyZ"),
     "str:0123456789abcdefghijklmnopqrstuvwxyz");
}

Test(fn, lower_upper_trim)
{
  EQ(csv1("[\"lower\"]", "/Subscriptions/ABC/ResourceGroups/RG"),
     "str:/subscriptions/abc/resourcegroups/rg");
  EQ(csv1("[\"upper\"]", "usd"), "str:USD");
  EQ(csv1("[\"lower\"]", "Ünïcode É"), "str:Ünïcode É"); /* ASCII only */
  EQ(csv1("[\"trim\"]", " \t x y \r\n"), "str:x y");
  EQ(csv1("[\"trim\"]", "   "), "null");
  EQ(json1("[\"lower\"]", "42"), "str:42");
  EQ(json1("[\"lower\"]", "{\"a\":1}"), "err:an object is not text");
  EQ(csv1("[\"lower\"]", NULL), "null");
}

Test(fn, replace_and_strip_prefix)
{
  EQ(csv1("[{\"replace\": [\"-\", \"_\"]}]", "a-b-c"), "str:a_b_c");
  EQ(csv1("[{\"replace\": [\"ab\", \"\"]}]", "xabyab"), "str:xy");
  EQ(csv1("[{\"strip_prefix\": \"/subscriptions/\"}]",
          "/Subscriptions/1caaa5a3-2b66"), "str:1caaa5a3-2b66");
  EQ(csv1("[{\"strip_prefix\": \"/subscriptions/\"}]", "1caaa5a3"),
     "str:1caaa5a3");
  /* what is left of a date-time is no longer one: utc reads it again */
  EQ(csv1("[\"utc\", {\"strip_prefix\": \"2024-\"}, \"utc\"]",
          "2024-05-01"), "err:\"05-01T00:00:00Z\" is not a date-time");
  EQ(csv1("[{\"replace\": [\"\", \"x\"]}]", "a"),
     "compile:function \"replace\" needs a non-empty string here"
     "@/replace/0");
}

/* ---- numbers ---------------------------------------------------------- */

Test(fn, number_keeps_exact_decimals)
{
  EQ(csv1("[\"number\"]", "0.0000000001"), "num:0.0000000001");
  EQ(csv1("[\"number\"]", "1e-7"), "num:1e-7");
  EQ(csv1("[\"number\"]", "-3"), "num:-3");
  EQ(csv1("[\"number\"]", "12.50"), "num:12.50");
  EQ(csv1("[\"number\"]", "19.545363672276512345678"),
     "num:19.545363672276512345678");
  EQ(csv1("[\"number\"]", "  0.52 "), "num:0.52");
  EQ(csv1("[\"number\"]", "1E+21"), "num:1E+21");
}

Test(fn, number_normalises_minimally)
{
  EQ(csv1("[\"number\"]", "+5"), "num:5");
  EQ(csv1("[\"number\"]", ".5"), "num:0.5");
  EQ(csv1("[\"number\"]", "-.25"), "num:-0.25");
  EQ(csv1("[\"number\"]", "5."), "num:5");
  EQ(csv1("[\"number\"]", "007.10"), "num:7.10");
  EQ(csv1("[\"number\"]", "+.5e3"), "num:0.5e3");
  EQ(csv1("[\"number\"]", "-0"), "num:-0");
}

Test(fn, number_rejects_non_numbers)
{
  EQ(csv1("[\"number\"]", "abc"), "err:\"abc\" is not a number");
  EQ(csv1("[\"number\"]", "1,234.5"), "err:\"1,234.5\" is not a number");
  EQ(csv1("[\"number\"]", "NaN"), "err:\"NaN\" is not a number");
  EQ(csv1("[\"number\"]", "Infinity"), "err:\"Infinity\" is not a number");
  EQ(csv1("[\"number\"]", "0x1F"), "err:\"0x1F\" is not a number");
  EQ(csv1("[\"number\"]", "1e"), "err:\"1e\" is not a number");
  EQ(csv1("[\"number\"]", "."), "err:\".\" is not a number");
  EQ(csv1("[\"number\"]", "- 1"), "err:\"- 1\" is not a number");
  EQ(csv1("[\"number\"]", ""), "null");
  EQ(json1("[\"number\"]", "true"), "err:true is not a number");
  EQ(json1("[\"number\"]", "[1]"), "err:an array is not a number");
}

Test(fn, number_from_json_values)
{
  EQ(json1("[\"number\"]", "42"), "num:42");
  EQ(json1("[\"number\"]", "0.1"), "num:0.1");
  EQ(json1("[\"number\"]", "1e-7"), "num:1e-07");
  EQ(json1("[\"number\"]", "19.545363672276512"), "num:19.545363672276512");
  EQ(json1("[\"number\"]", "\"0.0000000001\""), "num:0.0000000001");
  EQ(json1("[\"number\"]", "null"), "null");
  EQ(json1("[\"number\"]", NULL), "null");
}

Test(fn, long_values_are_cut_in_reasons)
{
  EQ(csv1("[\"number\"]",
          "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"),
     "err:\"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuv...\" is not a "
     "number");
  EQ(csv1("[\"number\"]", "a\"b\n"), "err:\"a\\\"b\\n\" is not a number");
}

Test(fn, integer)
{
  EQ(csv1("[\"integer\"]", "42"), "int:42");
  EQ(csv1("[\"integer\"]", " -7 "), "int:-7");
  EQ(csv1("[\"integer\"]", "+8"), "int:8");
  EQ(csv1("[\"integer\"]", "3.00"), "int:3");
  EQ(csv1("[\"integer\"]", "9223372036854775807"),
     "int:9223372036854775807");
  EQ(csv1("[\"integer\"]", "-9223372036854775808"),
     "int:-9223372036854775808");
  EQ(csv1("[\"integer\"]", "9223372036854775808"),
     "err:\"9223372036854775808\" is not an integer");
  EQ(csv1("[\"integer\"]", "3.5"), "err:\"3.5\" is not an integer");
  EQ(csv1("[\"integer\"]", "1e3"), "err:\"1e3\" is not an integer");
  EQ(csv1("[\"integer\"]", "x"), "err:\"x\" is not an integer");
  EQ(json1("[\"integer\"]", "12"), "int:12");
  EQ(json1("[\"integer\"]", "12.0"), "int:12");
  EQ(json1("[\"integer\"]", "false"), "err:false is not an integer");
}

Test(fn, bool)
{
  EQ(csv1("[\"bool\"]", "true"), "bool:true");
  EQ(csv1("[\"bool\"]", "False"), "bool:false");
  EQ(csv1("[\"bool\"]", "TRUE"), "bool:true");
  EQ(csv1("[\"bool\"]", "1"), "bool:true");
  EQ(csv1("[\"bool\"]", "0"), "bool:false");
  EQ(csv1("[\"bool\"]", "yes"), "bool:true");
  EQ(csv1("[\"bool\"]", "No"), "bool:false");
  EQ(csv1("[\"bool\"]", "maybe"), "err:\"maybe\" is not a boolean");
  EQ(csv1("[\"bool\"]", "2"), "err:\"2\" is not a boolean");
  EQ(json1("[\"bool\"]", "true"), "bool:true");
  EQ(json1("[\"bool\"]", "0"), "bool:false");
  EQ(json1("[\"bool\"]", "7"), "err:7 is not a boolean");
  EQ(json1("[\"bool\"]", "\"yes\""), "bool:true");
}

/* ---- date-times ------------------------------------------------------- */

/* add_days: the date-time N whole days later, from what utc accepts; an
 * exclusive end from a usage day; across months, leap days and years. */
Test(fn, add_days_shifts_by_whole_days)
{
  EQ(csv1("[\"utc\", {\"add_days\": 1}]", "2024-05-31"),
     "str:2024-06-01T00:00:00Z");
  EQ(csv1("[{\"add_days\": 1}]", "02/28/2024"), "str:2024-02-29T00:00:00Z");
  EQ(csv1("[{\"add_days\": 1}]", "2023-12-31T23:30:00+01:00"),
     "str:2024-01-01T22:30:00Z");
  EQ(csv1("[{\"add_days\": -1}]", "2024-03-01T00:00:00Z"),
     "str:2024-02-29T00:00:00Z");
  EQ(csv1("[{\"add_days\": 1}]", ""), "null");
  EQ(csv1("[{\"add_days\": 1}]", "9999-12-31"),
     "err:\"9999-12-31T00:00:00Z\" plus the days is out of the years 1 to "
     "9999");
  EQ(csv1("[{\"add_days\": 1}]", "soon"), "err:\"soon\" is not a date-time");
  EQ(csv1("[{\"add_days\": \"1\"}]", "2024-05-01"),
     "compile:function \"add_days\" needs a whole number of days: "
     "{\"add_days\": 1}@/add_days");
}

Test(fn, utc_rfc3339_any_offset)
{
  EQ(csv1("[\"utc\"]", "2024-05-01T00:00:00Z"), "str:2024-05-01T00:00:00Z");
  EQ(csv1("[\"utc\"]", "2024-05-01T02:30:00+02:00"),
     "str:2024-05-01T00:30:00Z");
  EQ(csv1("[\"utc\"]", "2024-04-30T22:00:00-05:00"),
     "str:2024-05-01T03:00:00Z");
  EQ(csv1("[\"utc\"]", "2020-02-23T13:47:58.0000000Z"),
     "str:2020-02-23T13:47:58Z"); /* Defender: fraction dropped */
  EQ(csv1("[\"utc\"]", "2025-03-01T00:00:00"),
     "str:2025-03-01T00:00:00Z"); /* no zone: UTC */
}

Test(fn, utc_canonical_input_matches_parse)
{
  /* Canonical-looking text takes a shortcut; with a ".0" fraction it is
   * parsed and printed. Both must agree (errors by kind only). */
  static const char *const ymd[] = {
    "0000-01-01", "0001-01-01", "9999-12-31", "2024-02-29", "2023-02-29",
    "1900-02-29", "2000-02-29", "2024-00-10", "2024-13-01", "2024-04-31",
    "2024-04-00", "2024-12-32", "2024-06-30",
  };
  static const char *const hms[] = {
    "00:00:00", "23:59:59", "24:00:00", "23:60:00", "23:59:60", "12:00:61",
    "09:05:07",
  };
  for (size_t i = 0; i < sizeof ymd / sizeof ymd[0]; i++)
    for (size_t k = 0; k < sizeof hms / sizeof hms[0]; k++) {
      char a[40], b[40], ra[2048];
      snprintf(a, sizeof a, "%sT%sZ", ymd[i], hms[k]);
      snprintf(b, sizeof b, "%sT%s.0Z", ymd[i], hms[k]);
      snprintf(ra, sizeof ra, "%s", csv1("[\"utc\"]", a));
      if (strncmp(ra, "err:", 4) == 0)
        cr_assert(strncmp(csv1("[\"utc\"]", b), "err:", 4) == 0, "%s", a);
      else
        cr_assert_str_eq(ra, csv1("[\"utc\"]", b), "%s", a);
    }
  /* A leap second ends a UTC day: clamped there, refused elsewhere. */
  EQ(csv1("[\"utc\"]", "2016-12-31T23:59:60Z"), "str:2016-12-31T23:59:59Z");
  EQ(csv1("[\"utc\"]", "2017-01-01T05:29:60+05:30"),
     "str:2016-12-31T23:59:59Z");
  EQ(csv1("[\"utc\"]", "2024-01-01T12:34:60Z"),
     "err:\"2024-01-01T12:34:60Z\" is not a date-time");
  EQ(csv1("[\"utc\"]", "12/31/2016 23:59:60"), "str:2016-12-31T23:59:59Z");
  EQ(csv1("[\"utc\"]", "12/31/2016 12:34:60"),
     "err:\"12/31/2016 12:34:60\" is not a date-time");
  EQ(csv1("[\"utc\"]", "2024-05-01t00:00:00z"), "str:2024-05-01T00:00:00Z");
  EQ(csv1("[\"utc\"]", " 2024-05-01T00:00:00Z "), "str:2024-05-01T00:00:00Z");
  EQ(csv1("[{\"utc\": \"rfc3339\"}]", "2024-05-01T00:00:00Z"),
     "str:2024-05-01T00:00:00Z");
}

Test(fn, utc_source_specific_forms)
{
  EQ(csv1("[\"utc\"]", "2024-01-01T00:00Z"), "str:2024-01-01T00:00:00Z");
  EQ(csv1("[\"utc\"]", "09/21/2023"), "str:2023-09-21T00:00:00Z");
  EQ(csv1("[\"utc\"]", "9/1/2023"), "str:2023-09-01T00:00:00Z");
  EQ(csv1("[\"utc\"]", "2024-05-01"), "str:2024-05-01T00:00:00Z");
  EQ(csv1("[\"utc\"]", "2020-09-24 19:54:48"), "str:2020-09-24T19:54:48Z");
  EQ(csv1("[\"utc\"]", "20201101"), "str:2020-11-01T00:00:00Z");
  EQ(json1("[\"utc\"]", "20201101"), "str:2020-11-01T00:00:00Z");
  EQ(csv1("[\"utc\"]", "1714521600"), "str:2024-05-01T00:00:00Z");
  EQ(json1("[\"utc\"]", "1714521600"), "str:2024-05-01T00:00:00Z");
  EQ(csv1("[\"utc\"]", "Sun, 06 Nov 1994 08:49:37 GMT"),
     "str:1994-11-06T08:49:37Z");
  EQ(csv1("[\"utc\"]", "2024-02-29"), "str:2024-02-29T00:00:00Z");
}

Test(fn, utc_explicit_formats)
{
  EQ(csv1("[{\"utc\": \"epoch_ms\"}]", "1714521600999"),
     "str:2024-05-01T00:00:00Z");
  EQ(csv1("[{\"utc\": \"epoch\"}]", "20201101"),
     "str:1970-08-22T19:25:01Z"); /* forced: not read as yyyyMMdd */
  EQ(csv1("[{\"utc\": \"epoch\"}]", "-1.5"), "str:1969-12-31T23:59:58Z");
  EQ(csv1("[{\"utc\": \"MM/dd/yyyy\"}]", "2024-05-01"),
     "err:\"2024-05-01\" is not a date-time");
  EQ(csv1("[{\"utc\": \"http\"}]", "Sun, 06 Nov 1994 08:49:37 GMT"),
     "str:1994-11-06T08:49:37Z");
  EQ(csv1("[{\"utc\": \"yyyyMMdd\"}]", "20240230"),
     "err:\"20240230\" is not a date-time");
  EQ(csv1("[{\"utc\": \"yyyy-MM-dd HH:mm:ss\"}]", "2020-09-24 19:54:48"),
     "str:2020-09-24T19:54:48Z");
  cr_assert(strncmp(csv1("[{\"utc\": \"dd.MM.yyyy\"}]", "x"),
                    "compile:unknown date format for \"utc\"", 37) == 0);
  cr_assert(strstr(out, "@/utc") != NULL);
}

Test(fn, utc_rejects_bad_dates)
{
  EQ(csv1("[\"utc\"]", "13/45/2024"), "err:\"13/45/2024\" is not a date-time");
  EQ(csv1("[\"utc\"]", "2023-02-29"), "err:\"2023-02-29\" is not a date-time");
  EQ(csv1("[\"utc\"]", "2024-05-01T25:00:00Z"),
     "err:\"2024-05-01T25:00:00Z\" is not a date-time");
  EQ(csv1("[\"utc\"]", "yesterday"), "err:\"yesterday\" is not a date-time");
  EQ(csv1("[\"utc\"]", "99999999999999"),
     "err:\"99999999999999\" is not a date-time");
  /* eight digits are yyyyMMdd, never seconds of 1970-1973 */
  EQ(csv1("[\"utc\"]", "20230229"), "err:\"20230229\" is not a date-time");
  EQ(json1("[\"utc\"]", "20231301"), "err:\"20231301\" is not a date-time");
  EQ(csv1("[\"utc\"]", "00000000"), "err:\"00000000\" is not a date-time");
  EQ(csv1("[\"utc\"]", "+20230229"), "str:1970-08-23T03:30:29Z");
  EQ(json1("[\"utc\"]", "true"), "err:true is not a date-time");
  EQ(csv1("[\"utc\"]", ""), "null");
}

/* ---- constants and tables ---------------------------------------------- */

Test(fn, default_and_const)
{
  EQ(csv1("[{\"default\": \"Other\"}]", ""), "str:Other");
  EQ(csv1("[{\"default\": \"Other\"}]", "Compute"), "str:Compute");
  EQ(json1("[{\"default\": 0}]", "null"), "int:0");
  EQ(json1("[{\"default\": 0.25}]", NULL), "num:0.25");
  EQ(json1("[{\"default\": false}]", NULL), "bool:false");
  EQ(csv1("[{\"const\": \"servicenow\"}]", "x"), "str:servicenow");
  EQ(csv1("[{\"const\": {\"b\": 1, \"a\": [true, null]}}]", "x"),
     "json:{\"a\":[true,null],\"b\":1}");
  EQ(csv1("[{\"const\": null}]", "x"), "null");
  EQ(csv1("[{\"default\": null}]", "x"),
     "compile:a null default does nothing@/default");
  EQ(csv1("[{\"default\": [1]}]", ""), "json:[1]");
  EQ(json1("[{\"default\": {\"b\": 2, \"a\": 1}}]", NULL),
     "json:{\"a\":1,\"b\":2}");
  EQ(csv1("[\"default\"]", "x"),
     "compile:function \"default\" needs a value: {\"default\": ...}@");
}

Test(fn, lookup)
{
  const char *tbl = "[{\"lookup\": {\"1\": \"New\", \"2\": \"In Progress\", "
                    "\"7\": \"Closed\"}, \"default\": \"Unknown\"}]";
  const char *strict = "[{\"lookup\": {\"1\": \"New\", \"7\": \"Closed\"}}]";
  EQ(csv1(tbl, "7"), "str:Closed");
  EQ(csv1(tbl, "9"), "str:Unknown");
  EQ(csv1(tbl, ""), "null"); /* null passes; add a default after it */
  EQ(json1(tbl, "2"), "str:In Progress");
  EQ(csv1(strict, "9"), "err:\"9\" is not in the lookup table");
  EQ(json1("[{\"lookup\": {\"true\": \"Compliant\", \"false\": "
           "\"NonCompliant\"}}]", "false"), "str:NonCompliant");
  EQ(json1("[{\"lookup\": {\"a\": 1.5}}]", "\"a\""), "num:1.5");
  EQ(json1("[{\"lookup\": {\"a\": 1}}]", "{}"),
     "err:an object cannot be looked up");
  EQ(csv1("[{\"lookup\": {\"a\": {\"x\": 1}}}]", "a"),
     "compile:lookup values must be strings, numbers, booleans or null"
     "@/lookup/a");
  EQ(csv1("[{\"lookup\": [1]}]", "a"),
     "compile:function \"lookup\" needs a table: {\"lookup\": {\"from\": "
     "\"to\", ...}}@/lookup");
}

/* ---- tags ------------------------------------------------------------- */

Test(fn, tags_json_object_sorted)
{
  EQ(csv1("[\"tags\"]", "{\"env\":\"prod\",\"cost-center\":\"CC-0001\","
          "\"Owner\":\"team-1\"}"),
     "json:{\"Owner\":\"team-1\",\"cost-center\":\"CC-0001\","
     "\"env\":\"prod\"}");
  EQ(csv1("[\"tags\"]", "{ \"b\" : 1.10 , \"a\" : true, \"c\": null }"),
     "json:{\"a\":true,\"b\":1.10,\"c\":null}");
  EQ(csv1("[\"tags\"]", "{\"note\":\"migrated, \\\"legacy\\\"\"}"),
     "json:{\"note\":\"migrated, \\\"legacy\\\"\"}");
}

Test(fn, tags_ea_braceless_and_empty)
{
  EQ(csv1("[\"tags\"]", "\"CostCenter\": \"1234\",\"env\": \"prod\","
          "\"org\": \"trey\",\"application\": \"databricks\","
          "\"databricks-environment\": \"true\""),
     "json:{\"CostCenter\":\"1234\",\"application\":\"databricks\","
     "\"databricks-environment\":\"true\",\"env\":\"prod\","
     "\"org\":\"trey\"}");
  EQ(csv1("[\"tags\"]", ""), "json:{}");
  EQ(csv1("[\"tags\"]", "  "), "json:{}");
  EQ(csv1("[\"tags\"]", "{}"), "json:{}");
  EQ(json1("[\"tags\"]", "null"), "json:{}");
}

Test(fn, tags_escapes_and_duplicates)
{
  EQ(csv1("[\"tags\"]", "{\"k\\u00e9\":\"v\\n\\u0001\",\"k\\u00e9\":\"2\"}"),
     "json:{\"k\xc3\xa9\":\"2\"}");
  EQ(csv1("[\"tags\"]", "{\"a\":\"\\ud83d\\ude00\"}"),
     "json:{\"a\":\"\xf0\x9f\x98\x80\"}");
  EQ(csv1("[\"tags\"]", "{\"a\":\"x\\ty\\u001f\"}"),
     "json:{\"a\":\"x\\ty\\u001F\"}");
}

Test(fn, tags_long_strings_match_jansson)
{
  /* Keys and values long enough to cross 16-byte blocks, with escapes
   * and UTF-8 at every offset: the canonical text equals jansson's
   * sorted compact dump of the same object. */
  static const char *const bits[] = { "a", "Z", "\"", "\\", "\n", "\x01",
                                      "\xc3\xa9", "\xf0\x9f\x98\x80", "-", " " };
  unsigned seed = 7;
  for (int round = 0; round < 300; round++) {
    json_t *o = json_object();
    char *text, *want, full[4096];
    int members = 1 + round % 5;
    for (int m = 0; m < members; m++) {
      char k[256] = "k", v[256] = "";
      int kl = round % 37, vl = (round * 7 + m) % 53;
      for (int i = 0; i < kl; i++) {
        seed = seed * 1103515245u + 12345u;
        strcat(k, bits[(seed >> 16) % 10]);
      }
      for (int i = 0; i < vl; i++) {
        seed = seed * 1103515245u + 12345u;
        strcat(v, bits[(seed >> 16) % 10]);
      }
      json_object_set_new(o, k, json_string(v));
    }
    text = json_dumps(o, JSON_COMPACT);
    want = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(full, sizeof full, "json:%s", want);
    EQ(csv1("[\"tags\"]", text), full);
    free(text);
    free(want);
    json_decref(o);
  }
}

Test(fn, tags_from_json_records)
{
  EQ(json1("[\"tags\"]", "{\"z\": \"1\", \"a\": 2}"),
     "json:{\"a\":2,\"z\":\"1\"}");
  EQ(json1("[\"tags\"]", "{\"a\": {\"b\": 1}}"),
     "err:tag values must be strings, numbers, booleans or null, not "
     "objects or arrays");
  EQ(json1("[\"tags\"]", "[1]"), "err:an array is not a tag object");
  EQ(json1("[\"tags\"]", "5"), "err:5 is not a tag object");
}

Test(fn, tags_rejects_malformed_text)
{
  EQ(csv1("[\"tags\"]", "{\"a\" \"b\"}"),
     "err:\"{\\\"a\\\" \\\"b\\\"}\" is not a tag object (expected ':' at "
     "byte 5)");
  EQ(csv1("[\"tags\"]", "{\"a\": {\"b\": 1}}"),
     "err:\"{\\\"a\\\": {\\\"b\\\": 1}}\" is not a tag object (nested "
     "value at byte 6)");
  EQ(csv1("[\"tags\"]", "env=prod"),
     "err:\"env=prod\" is not a tag object (expected a quoted key at byte "
     "0)");
  EQ(csv1("[\"tags\"]", "{\"a\": 01}"),
     "err:\"{\\\"a\\\": 01}\" is not a tag object (bad value at byte 6)");
  EQ(csv1("[\"tags\"]", "{\"a\": \"b\"} x"),
     "err:\"{\\\"a\\\": \\\"b\\\"} x\" is not a tag object (trailing text "
     "at byte 11)");
  EQ(csv1("[\"tags\"]", "{\"a\": \"\\x\"}"),
     "err:\"{\\\"a\\\": \\\"\\\\x\\\"}\" is not a tag object (bad string at "
     "byte 7)");
  EQ(csv1("[\"tags\"]", "{\"a\": \"\xff\"}"),
     "err:\"{\\\"a\\\": \\\"\xff\\\"}\" is not a tag object (bad string at "
     "byte 7)");
  EQ(csv1("[\"tags\"]", "{\"a\": 1,}"),
     "err:\"{\\\"a\\\": 1,}\" is not a tag object (expected a quoted key at "
     "byte 8)");
}

/* ---- sources ---------------------------------------------------------- */

/* RFC 6901 array indexes are "0" or digits without a leading zero: "01",
 * "+1", " 1" and "-0" name no element (they used to read as 1, 1, 1, 0). */
Test(fn, pointer_array_index_is_strict)
{
  EQ(json1("[{\"coalesce\": [\"/v/1\"]}]", "[10, 20]"), "int:20");
  EQ(json1("[{\"coalesce\": [\"/v/0\"]}]", "[10, 20]"), "int:10");
  EQ(json1("[{\"coalesce\": [\"/v/01\"]}]", "[10, 20]"), "null");
  EQ(json1("[{\"coalesce\": [\"/v/+1\"]}]", "[10, 20]"), "null");
  EQ(json1("[{\"coalesce\": [\"/v/ 1\"]}]", "[10, 20]"), "null");
  EQ(json1("[{\"coalesce\": [\"/v/-0\"]}]", "[10, 20]"), "null");
  EQ(json1("[{\"coalesce\": [\"/v/00\"]}]", "[10, 20]"), "null");
  EQ(json1("[{\"coalesce\": [\"/v/-\"]}]", "[10, 20]"), "null");
  EQ(json1("[{\"coalesce\": [\"/v/99999999999999999999999\"]}]",
           "[10, 20]"), "null");
  /* an object member named "01" is still found */
  EQ(json1("[{\"coalesce\": [\"/v/01\"]}]", "{\"01\": 7}"), "int:7");
}

Test(fn, coalesce_first_non_empty)
{
  const char *cells[] = { "", "12.5", "9" };
  EQ(csv("[{\"coalesce\": [\"A\", \"b\", \"C\"]}]", NULL, "a,b,c", cells),
     "str:12.5");
  /* EA schema versions: a column one file lacks is skipped */
  EQ(csv("[{\"coalesce\": [\"CostInBillingCurrency\", \"c\"]}]", NULL,
         "a,b,c", cells), "str:9");
  EQ(csv("[{\"coalesce\": [\"x\", \"y\"]}]", NULL, "a,b,c", cells),
     "err:none of the coalesce sources is in the header");
  EQ(json1("[{\"coalesce\": [\"/w\", \"/v/x\"]}]", "{\"x\": 3}"), "int:3");
  EQ(json1("[{\"coalesce\": [\"/w\"]}]", "1"), "null");
  EQ(csv1("[{\"coalesce\": []}]", "x"),
     "compile:function \"coalesce\" needs a list of sources: "
     "{\"coalesce\": [\"ColumnA\", \"/json/pointer\"]}@/coalesce");
  EQ(csv1("[{\"coalesce\": [\"$row\"]}]", "x"),
     "compile:unknown source \"$row\" (have: $item, $position)"
     "@/coalesce/0");
}

Test(fn, template_joins_sources)
{
  const char *cells[] = { "inst", "46cebb88", "x" };
  EQ(csv("[{\"template\": \"https://${a}.service-now.com/nav_to.do?uri="
         "incident.do?sys_id=${B}\"}]", NULL, "a,b,c", cells),
     "str:https://inst.service-now.com/nav_to.do?uri=incident.do?sys_id="
     "46cebb88");
  EQ(csv("[\"upper\", {\"template\": \"<${.}|${c}>\"}]", "b", "a,b,c",
         cells), "str:<46CEBB88|x>");
  EQ(csv("[{\"template\": \"$${a} costs $$5\"}]", NULL, "a,b,c", cells),
     "str:${a} costs $5");
  EQ(csv("[{\"template\": \"${$position}\"}]", NULL, "a,b,c", cells),
     "str:t.csv:2");
  EQ(json1("[{\"template\": \"id=${/v/n}/${/v/missing}\"}]", "{\"n\": 1}"),
     "null");
  EQ(json1("[{\"template\": \"id=${/v/n}\"}]", "{\"n\": 1.5}"),
     "str:id=1.5");
  EQ(csv1("[{\"template\": \"a${b\"}]", "x"),
     "compile:unterminated \"${\" in template@/template");
  EQ(csv1("[{\"template\": \"${secret:TOKEN}\"}]", "x"),
     "compile:\"${secret:TOKEN}\" was not expanded (job variables are "
     "expanded before the transform is compiled)@/template");
  EQ(csv("[{\"template\": \"${zz}\"}]", NULL, "a,b,c", cells),
     "err:column \"zz\" is not in the header");
}

Test(fn, record_id_is_unambiguous)
{
  const char *c1[] = { "ab", "c", "" };
  const char *c2[] = { "a", "bc", "" };
  char id1[80], id2[80];
  const char *rid = "[{\"record_id\": [\"a\", \"b\", \"c\"]}]";
  snprintf(id1, sizeof id1, "%s", csv(rid, NULL, "a,b,c", c1));
  snprintf(id2, sizeof id2, "%s", csv(rid, NULL, "a,b,c", c2));
  /* sha256("2:ab;1:c;~;") */
  EQ(id1, "str:"
     "85f90bf1725ca5f9075170d954ffb8270facadb266ecede46d002516bdc1654d");
  cr_assert_str_neq(id1, id2);
  EQ(csv(rid, NULL, "a,b,c", c1), id1); /* deterministic */
  EQ(csv("[{\"record_id\": [\"a\", \"zz\"]}]", NULL, "a,b,c", c1),
     "err:column \"zz\" is not in the header");
}

Test(fn, record_id_of_long_parts)
{
  /* Parts longer than the id's stack buffer take the incremental path;
   * the id is still sha256 of "<len>:<text>;" per part. */
  static char big[3001], mid[901];
  const char *cells[] = { big, mid, "" };
  const char *rid = "[{\"record_id\": [\"a\", \"b\", \"c\", \"b\"]}]";
  struct cairn_buf msg = {0};
  char hex[CAIRN_SHA256_HEX], want[80];
  memset(big, 'x', 3000);
  memset(mid, 'y', 900);
  cairn_buf_printf(&msg, "3000:%s;900:%s;~;900:%s;", big, mid, mid);
  cairn_sha256_hex(msg.data, msg.len, hex);
  snprintf(want, sizeof want, "str:%s", hex);
  EQ(csv(rid, NULL, "a,b,c", cells), want);
  cairn_buf_free(&msg);
}

Test(fn, header_reads_response_headers)
{
  struct cairn_record rec = {0};
  json_t *doc = json_loads("{\"v\": 1}", 0, NULL);
  json_t *meta = json_loads("{\"headers\": {\"date\": \"Sun, 06 Nov 1994 "
                            "08:49:37 GMT\"}, \"status\": 200}", 0, NULL);
  rec.json = doc;
  rec.meta = meta;
  EQ(eval("[{\"header\": \"Date\"}, \"utc\"]", NULL, &rec),
     "str:1994-11-06T08:49:37Z");
  EQ(eval("[{\"header\": \"X-Missing\"}]", NULL, &rec), "null");
  rec.meta = NULL;
  EQ(eval("[{\"header\": \"Date\"}]", NULL, &rec), "null");
  json_decref(doc);
  json_decref(meta);
}

Test(fn, exists)
{
  EQ(json1("[\"exists\"]", "{\"reason\": \"deleted\"}"), "bool:true");
  EQ(json1("[\"exists\"]", NULL), "bool:false");
  EQ(csv1("[\"exists\"]", ""), "bool:false");
}

Test(fn, split_and_join)
{
  EQ(csv1("[{\"split\": \",\"}]", "a, b,,c"),
     "json:[\"a\",\" b\",\"\",\"c\"]");
  EQ(csv1("[{\"split\": {\"sep\": \",\", \"trim\": true}}]", "a, b,,c "),
     "json:[\"a\",\"b\",\"c\"]");
  EQ(csv1("[{\"split\": \", \"}, {\"join\": \"|\"}]", "x, y"), "str:x|y");
  EQ(json1("[{\"join\": \", \"}]", "[\"g1\", 2, true, null]"),
     "str:g1, 2, true, ");
  EQ(json1("[{\"join\": \",\"}]", "[[1]]"),
     "err:array element 0 is not a scalar");
  EQ(csv1("[{\"join\": \",\"}]", "a"), "err:\"a\" is not an array");
  EQ(csv1("[{\"split\": {\"sep\": \",\", \"x\": 1}}]", "a"),
     "compile:unknown option \"x\" for \"split\" (have: sep, trim)@/split");
}

/* ---- compile errors ---------------------------------------------------- */

Test(fn, unknown_function_lists_the_table)
{
  EQ(csv1("[\"numbr\"]", "1"),
     "compile:unknown function \"numbr\" (have: add_days, bool, coalesce, "
     "const, "
     "default, exists, header, integer, join, lookup, lower, number, "
     "record_id, replace, split, strip_prefix, tags, template, trim, upper, "
     "utc)@");
  EQ(csv1("[{\"numbr\": 1}]", "1"),
     "compile:unknown function \"numbr\" (have: add_days, bool, coalesce, "
     "const, "
     "default, exists, header, integer, join, lookup, lower, number, "
     "record_id, replace, split, strip_prefix, tags, template, trim, upper, "
     "utc)@");
}

Test(fn, function_shapes)
{
  EQ(csv1("[{\"lower\": \"x\"}]", "A"),
     "compile:function \"lower\" takes no argument@/lower");
  EQ(csv1("[{\"lower\": true}]", "A"), "str:a");
  EQ(csv1("[{\"default\": \"a\", \"const\": \"b\"}]", "A"),
     "compile:a function object names one function (and its option, e.g. "
     "{\"lookup\": {...}, \"default\": \"x\"})@");
  EQ(csv1("[42]", "A"),
     "compile:a function is a name (\"lower\") or an object "
     "({\"default\": \"x\"})@");
  EQ(csv1("[\"lookup\"]", "A"),
     "compile:function \"lookup\" needs a table: {\"lookup\": {\"from\": "
     "\"to\", ...}}@");
}

/* ---- encoder ---------------------------------------------------------- */

Test(fn, canonical_encoder_matches_jansson)
{
  const char *docs[] = {
    "{\"b\": [1, \"x\\u0001\\u007f\\n/\"], \"a\": {\"d\": null, \"c\": "
    "false}, \"\\u00e9\": -5}",
    "[\"\\\"\\\\\\b\\f\\r\\t\", {}, []]",
  };
  for (size_t i = 0; i < 2; i++) {
    json_t *j = json_loads(docs[i], 0, NULL);
    struct cairn_buf b = {0};
    char *want = cairn_json_canonical(j);
    cairn__json_encode(&b, j, NULL);
    cr_assert_str_eq(b.data, want);
    free(want);
    cairn_buf_free(&b);
    json_decref(j);
  }
}

Test(fn, shortest_reals)
{
  char s[40];
  cairn__real_text(0.1, s, sizeof s);
  cr_assert_str_eq(s, "0.1");
  cairn__real_text(1.0 / 3, s, sizeof s);
  cr_assert_str_eq(s, "0.3333333333333333");
  cairn__real_text(1e21, s, sizeof s);
  cr_assert_str_eq(s, "1e+21");
  cairn__real_text(173.41979241290323, s, sizeof s);
  cr_assert_str_eq(s, "173.41979241290323");
}

Test(fn, json_number_grammar)
{
  cr_assert(cairn_json_is_number("0", 1));
  cr_assert(cairn_json_is_number("-0.5e+10", 8));
  cr_assert(!cairn_json_is_number("01", 2));
  cr_assert(!cairn_json_is_number("1.", 2));
  cr_assert(!cairn_json_is_number("+1", 2));
  cr_assert(!cairn_json_is_number("", 0));
}

Test(fn, scratch_survives_many_and_large_allocations)
{
  char *big = cairn__scratch_alloc(&scr, 200000);
  memset(big, 'x', 200000);
  for (int i = 0; i < 10000; i++) {
    char *p = cairn__scratch_dup(&scr, "hello", 5);
    cr_assert_str_eq(p, "hello");
  }
  cr_assert_eq(big[199999], 'x');
  cairn__scratch_reset(&scr);
  cr_assert_not_null(cairn__scratch_alloc(&scr, 300000));
}
