/* SPDX-License-Identifier: MIT */
/* test_http_json.c -- the http source's page parser (source/http_json.c)
 * against jansson's json_loadb, which it must agree with exactly: the same
 * texts accepted, the same trees (values, types and key order), and NULL
 * wherever jansson fails. Fixed cases for each rule, the record-array skip
 * and cairn_json_fast_each, then a seeded differential fuzz over generated
 * and mutated documents. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "core/json_fast.h"

/* Same acceptance; same tree, key order included (dumps without sorting). */
static void agree(const char *text, size_t len)
{
  json_error_t je;
  json_t *want = json_loadb(text, len, 0, &je);
  json_t *got = cairn_json_fast_load(text, len, NULL);
  if (!want) {
    cr_assert_null(got, "accepted what jansson rejects (%s): %.*s", je.text,
                   (int)(len > 200 ? 200 : len), text);
    return;
  }
  cr_assert_not_null(got, "rejected what jansson accepts: %.*s",
                     (int)(len > 200 ? 200 : len), text);
  cr_assert(json_equal(want, got), "trees differ: %.*s",
            (int)(len > 200 ? 200 : len), text);
  {
    char *a = json_dumps(want, JSON_ENCODE_ANY);
    char *b = json_dumps(got, JSON_ENCODE_ANY);
    cr_assert_str_eq(b, a);
    free(a);
    free(b);
  }
  json_decref(want);
  json_decref(got);
}

static void agree_s(const char *text) { agree(text, strlen(text)); }

Test(http_json, accepts_what_jansson_accepts)
{
  static const char *ok[] = {
    "{}", "[]", " \t\r\n{ } \n", "[1]", "[-0]", "[0]", "[-1,2,-3]",
    "[9223372036854775807]", "[-9223372036854775808]",
    "[123456789012345678]", "[1234567890123456789]",
    "[1.5]", "[-0.0]", "[1e3]", "[1E+3]", "[1e-3]", "[2.5e-320]",
    "[1.7976931348623157e308]", "[0.1e1]", "[1" "0000000000000000000000.5]",
    "[true,false,null]", "{\"a\":{\"b\":[{\"c\":\"d\"}]}}",
    "[\"\"]", "[\"abc\"]", "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]",
    "[\"\\u0041\\u00e9\\u20ac\\ud83d\\ude00\"]", "[\"\\uD834\\uDD1E\"]",
    "[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]",
    "{\"k\\u00e9y\":1,\"a\\/b\":2}",
    "{\"a\":1,\"b\":2,\"a\":3}",            /* last wins, first's place */
    "{\"a\":{\"x\":1},\"a\":{\"y\":2}}",
    "[\"0123456789abcdef0123456789abcdef\\n0123456789abcdef\"]",
    "[\"0123456789abcde\\\"\"]", "[\"0123456789abcdef\\\\\"]",
    "[\"0123456789abcd\xc3\xa9\"]", "[\"0123456789abcdefghijklmnopqrstuv\"]",
    "{\"data\":[{\"id\":\"/subscriptions/x\",\"tags\":null,\"n\":1.25}],"
    "\"$skipToken\":\"ew0=\"}",
  };
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    json_t *j = json_loads(ok[i], 0, NULL);
    cr_assert_not_null(j, "case %zu is not valid JSON for jansson", i);
    json_decref(j);
    agree_s(ok[i]);
  }
}

Test(http_json, rejects_what_jansson_rejects)
{
  static const char *bad[] = {
    "", " ", "1", "\"a\"", "null", "true", "[", "]", "{", "[1,]", "[,1]",
    "{\"a\":1,}", "{,}", "[1 2]", "{\"a\" 1}", "{\"a\":}", "{1:2}",
    "[01]", "[1.]", "[.5]", "[-]", "[+1]", "[1e]", "[1e+]", "[0x10]",
    "[nul]", "[truex]", "[True]", "[NaN]", "[Infinity]",
    "[\"a]", "[\"\\x\"]", "[\"\\u12\"]", "[\"\\u12G4\"]", "[\"\\u0000\"]",
    "[\"\\ud800\"]", "[\"\\udc00\"]", "[\"\\ud800\\u0041\"]",
    "[\"\\ud800x\"]", "[\"tab\there\"]", "[\"nl\nhere\"]",
    "[\"\xc0\x80\"]", "[\"\xed\xa0\x80\"]", "[\"\xf5\x80\x80\x80\"]",
    "[\"\xc3\"]", "[\"\xe2\x82\"]", "[\"\x80\"]", "[\"\xff\"]",
    "\xef\xbb\xbf[1]", "[1] x", "[1]]", "{}{}", "[9223372036854775808]",
    "[-9223372036854775809]", "[1e400]", "[-1e400]",
    "[99999999999999999999999999999]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    json_t *j = json_loads(bad[i], 0, NULL);
    cr_assert_null(j, "case %zu is valid JSON for jansson", i);
    agree_s(bad[i]);
  }
  /* A NUL byte in the text, and nesting deeper than jansson allows. */
  agree("[\"a\0b\"]", 6);
  agree("[1]\0", 4);
  {
    size_t depth = 2100, n = 0;
    char *t = malloc(2 * depth + 1);
    for (size_t i = 0; i < depth; i++)
      t[n++] = '[';
    for (size_t i = 0; i < depth; i++)
      t[n++] = ']';
    agree(t, n);
    agree(t + 100, n - 200); /* 2000 levels: fine */
    free(t);
  }
}

Test(http_json, skips_the_record_array_and_says_where_it_is)
{
  const char *t = "{\"count\":3,\"data\":[{\"a\":1},[2],\"x\"],\"next\":\"n\"}";
  struct cairn_json_skip sk = { "/data", 0 };
  json_t *doc = cairn_json_fast_load(t, strlen(t), &sk);
  json_t *arr = json_object_get(doc, "data");
  cr_assert_not_null(doc);
  cr_assert_eq(json_array_size(arr), 3);
  cr_assert(json_is_null(json_array_get(arr, 0)));
  cr_assert_eq(json_integer_value(json_object_get(doc, "count")), 3);
  cr_assert_str_eq(json_string_value(json_object_get(doc, "next")), "n");
  cr_assert_eq(sk.at, (size_t)(strchr(t, '[') - t));
  json_decref(doc);

  /* The elements are still checked. */
  t = "{\"data\":[{\"a\":01}]}";
  cr_assert_null(cairn_json_fast_load(t, strlen(t), &sk));

  /* Duplicate keys: the array that survives is the one reported. */
  t = "{\"data\":[1,2],\"x\":0,\"data\":[3]}";
  doc = cairn_json_fast_load(t, strlen(t), &sk);
  cr_assert_eq(json_array_size(json_object_get(doc, "data")), 1);
  cr_assert_eq(sk.at, (size_t)(strrchr(t, '[') - t));
  json_decref(doc);
  t = "{\"p\":{\"rows\":[1]},\"p\":{\"other\":1}}";
  sk.ptr = "/p/rows";
  doc = cairn_json_fast_load(t, strlen(t), &sk);
  cr_assert_eq(sk.at, CAIRN_JSON_NOWHERE);
  json_decref(doc);

  /* Escaped pointer tokens, the root, an object there, a path through an
   * array (never skipped). */
  t = "{\"a/b\":{\"c~d\":[1,2]}}";
  sk.ptr = "/a~1b/c~0d";
  doc = cairn_json_fast_load(t, strlen(t), &sk);
  cr_assert_neq(sk.at, CAIRN_JSON_NOWHERE);
  cr_assert(json_is_null(json_array_get(
      json_object_get(json_object_get(doc, "a/b"), "c~d"), 1)));
  json_decref(doc);
  t = " [1,[2]]";
  sk.ptr = "";
  doc = cairn_json_fast_load(t, strlen(t), &sk);
  cr_assert_eq(sk.at, 1);
  cr_assert_eq(json_array_size(doc), 2);
  json_decref(doc);
  t = "{\"data\":{\"a\":1}}";
  sk.ptr = "/data";
  doc = cairn_json_fast_load(t, strlen(t), &sk);
  cr_assert_eq(sk.at, CAIRN_JSON_NOWHERE);
  cr_assert_eq(json_integer_value(json_object_get(json_object_get(doc,
                                                                  "data"),
                                                  "a")), 1);
  json_decref(doc);
  t = "{\"v\":[{\"rows\":[1]}]}";
  sk.ptr = "/v/0/rows";
  doc = cairn_json_fast_load(t, strlen(t), &sk);
  cr_assert_eq(sk.at, CAIRN_JSON_NOWHERE);
  cr_assert_eq(json_array_size(json_object_get(json_array_get(
                   json_object_get(doc, "v"), 0), "rows")), 1);
  json_decref(doc);
}

struct collect {
  json_t *all;
  size_t  stop_at;
};

static int collect(void *ud, json_t *el, size_t i)
{
  struct collect *c = ud;
  cr_assert_eq(i, json_array_size(c->all));
  json_array_append(c->all, el);
  return i + 1 == c->stop_at ? 42 : 0;
}

Test(http_json, each_builds_the_elements_one_by_one)
{
  const char *t = "{\"data\": [ {\"a\":\"\\u00e9\"} , [1,2.5] ,null,\"s\" ] }";
  struct cairn_json_skip sk = { "/data", 0 };
  json_t *doc = cairn_json_fast_load(t, strlen(t), &sk);
  json_t *want = json_loads(t, 0, NULL);
  struct collect c = { json_array(), 0 };
  int each_rc = -1;

  cr_assert_eq(cairn_json_fast_each(t, strlen(t), sk.at, 0, SIZE_MAX,
                                    collect, &c, &each_rc), 0);
  cr_assert_eq(each_rc, 0);
  cr_assert(json_equal(c.all, json_object_get(want, "data")));

  json_array_clear(c.all);
  c.stop_at = 2;
  cr_assert_eq(cairn_json_fast_each(t, strlen(t), sk.at, 0, SIZE_MAX,
                                    collect, &c, &each_rc), 0);
  cr_assert_eq(each_rc, 42);
  cr_assert_eq(json_array_size(c.all), 2);

  cr_assert_eq(cairn_json_fast_each(t, strlen(t), 0, 0, SIZE_MAX, collect,
                                    &c, &each_rc), -1);
  cr_assert_eq(cairn_json_fast_each("[]", 2, 0, 0, SIZE_MAX, collect, &c,
                                    &each_rc), 0);
  json_array_clear(c.all);
  c.stop_at = 0;
  cr_assert_eq(cairn_json_fast_each("[1,", 3, 0, 0, SIZE_MAX, collect, &c,
                                    &each_rc), -1);
  json_decref(c.all);
  json_decref(doc);
  json_decref(want);
}

struct ranged {
  json_t *all;
  size_t  first;
};

static int collect_from(void *ud, json_t *el, size_t i)
{
  struct ranged *r = ud;
  cr_assert_eq(i, r->first + json_array_size(r->all));
  json_array_append(r->all, el);
  return 0;
}

/* The parts of one array that threads decode separately: every range
 * [from, to) gives exactly those elements, with their indexes, and the
 * ones before are scanned past correctly (brackets and commas inside
 * strings, nesting). */
Test(http_json, each_reads_a_range_of_the_elements)
{
  const char *t = "{\"data\": [ {\"a\":[1,{\"b\":\"]\"}]} , [1,2.5] ,null,"
                  "\"s,]\\\"[\" , 7 ], \"n\": 1 }";
  struct cairn_json_skip sk = { "/data", 0 };
  json_t *doc = cairn_json_fast_load(t, strlen(t), &sk);
  json_t *wdoc = json_loads(t, 0, NULL);
  json_t *want = json_object_get(wdoc, "data");

  cr_assert_not_null(doc);
  cr_assert_eq(json_array_size(want), 5);
  for (size_t from = 0; from <= 6; from++)
    for (size_t to = from; to <= 7; to++) {
      struct ranged r = { json_array(), from };
      json_t *exp = json_array();
      int each_rc = -1;
      for (size_t k = from; k < to && k < 5; k++)
        json_array_append(exp, json_array_get(want, k));
      cr_assert_eq(cairn_json_fast_each(t, strlen(t), sk.at, from,
                                        to == 7 ? SIZE_MAX : to,
                                        collect_from, &r, &each_rc), 0);
      cr_assert_eq(each_rc, 0);
      cr_assert(json_equal(r.all, exp), "range [%zu, %zu)", from, to);
      json_decref(r.all);
      json_decref(exp);
    }
  json_decref(doc);
  json_decref(wdoc);
}

/* ---- differential fuzz ---------------------------------------------------- */

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;

static unsigned rnd(unsigned n)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (unsigned)(rng_state % n);
}

static json_t *gen(int depth)
{
  static const char *words[] = {
    "id", "name", "tags", "x", "caf\xc3\xa9", "\xf0\x9f\x98\x80", "a\"b",
    "back\\slash", "tab\t", "line\nfeed",
    ("/subscriptions/abc/resourceGroups"
     "/rg-long-enough-to-cross-sixteen-bytes"), "\x01\x1f", "",
  };
  switch (depth > 3 ? rnd(5) : rnd(7)) {
  case 0: return json_integer((json_int_t)rnd(1000000) - 500000);
  case 1: return json_real((double)rnd(100000) / 7.0 - 1000.0);
  case 2: return json_string(words[rnd(sizeof words / sizeof *words)]);
  case 3: return rnd(2) ? json_true() : json_null();
  case 4: return json_integer(rnd(2) ? INT64_MAX : INT64_MIN);
  case 5: {
    json_t *o = json_object();
    for (unsigned i = rnd(6); i > 0; i--)
      json_object_set_new(o, words[rnd(sizeof words / sizeof *words)],
                          gen(depth + 1));
    return o;
  }
  default: {
    json_t *a = json_array();
    for (unsigned i = rnd(6); i > 0; i--)
      json_array_append_new(a, gen(depth + 1));
    return a;
  }
  }
}

Test(http_json, agrees_with_jansson_on_generated_and_mutated_texts)
{
  static const char noise[] = "{}[],:\"\\u0e-+.1 9tfn\x80\xc3\xff";
  for (int it = 0; it < 3000; it++) {
    json_t *v = json_object();
    char *t;
    size_t n;
    json_object_set_new(v, "data", gen(1));
    json_object_set_new(v, "more", gen(2));
    t = json_dumps(v, rnd(2) ? JSON_INDENT(rnd(3)) : JSON_COMPACT);
    n = strlen(t);
    agree(t, n);
    /* Mutations: a byte replaced, one dropped, the text cut short. */
    for (int m = 0; m < 4 && n > 1; m++) {
      char *u = malloc(n + 1);
      size_t at = rnd((unsigned)n), un = n;
      memcpy(u, t, n + 1);
      switch (rnd(3)) {
      case 0: u[at] = noise[rnd(sizeof noise - 1)]; break;
      case 1: memmove(u + at, u + at + 1, n - at); un--; break;
      default: un = at; break;
      }
      agree(u, un);
      {
        struct cairn_json_skip sk = { "/data", 0 };
        json_t *a = json_loadb(u, un, 0, NULL);
        json_t *b = cairn_json_fast_load(u, un, &sk);
        cr_assert_eq(a == NULL, b == NULL);
        json_decref(a);
        json_decref(b);
      }
      free(u);
    }
    free(t);
    json_decref(v);
  }
}
