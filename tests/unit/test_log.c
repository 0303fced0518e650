/* SPDX-License-Identifier: MIT */
/* test_log.c -- log lines: one line each, whatever the message quotes
 * (a server's reply with newlines, bytes that are not UTF-8), in text and
 * in JSON form. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"

/* Log one warning quoting 'quoted' in the given form; returns the lines
 * written (owned). */
static char *log_one(int json, const char *quoted)
{
  char *text = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(&text, &len);
  cr_assert_not_null(fp);
  cairn_log_init(json, CAIRN_LOG_INFO, fp);
  cairn_warn("server said: %s", quoted);
  cairn_log_init(0, CAIRN_LOG_ERROR, stderr);
  fclose(fp);
  return text;
}

Test(log, a_text_line_stays_one_line_of_utf8)
{
  char *text = log_one(0, "line one\nWARN  forged \xff");
  cr_assert_eq(strchr(text, '\n'), text + strlen(text) - 1, "[%s]", text);
  cr_assert(strstr(text, "server said: line one\\nWARN  forged \\xff\n"),
            "[%s]", text);
  cr_assert(cairn_utf8_valid(text, strlen(text)));
  free(text);
}

/* The line is one JSON object whose msg is want; frees text. */
static void expect_json_msg(char *text, const char *want)
{
  json_error_t je;
  json_t *o;
  cr_assert_eq(strchr(text, '\n'), text + strlen(text) - 1, "[%s]", text);
  o = json_loads(text, 0, &je);
  cr_assert_not_null(o, "%s: [%s]", je.text, text);
  cr_assert_str_eq(json_string_value(json_object_get(o, "msg")), want);
  json_decref(o);
  free(text);
}

Test(log, a_json_line_keeps_a_message_that_is_not_utf8)
{
  expect_json_msg(log_one(1, "bad \xc3( byte\nnext"),
                  "server said: bad \\xc3( byte\\nnext");
  /* valid UTF-8 is left to the JSON encoder, which escapes the newline */
  expect_json_msg(log_one(1, "Z\xc3\xbcrich\nnext"),
                  "server said: Z\xc3\xbcrich\nnext");
}

Test(log, a_secret_is_masked_raw_and_percent_encoded)
{
  char s[] = "a=fake+Log/Key=00 b=fake%2BLog%2FKey%3D00 c=fake%2bLog%2fKey%3d00";
  cairn_log_add_secret("fake+Log/Key=00");
  cr_assert(cairn_log_has_secret("q=fake%2BLog%2FKey%3D00"));
  cairn_log_mask(s);
  cr_assert_str_eq(s, "a=*** b=*** c=***");
}

/* A secret with a quote or a backslash is escaped in a JSON log line
 * before the line is masked: that escaped form is masked too, in JSON
 * and in text lines alike. */
Test(log, a_secret_is_masked_in_its_json_escaped_form)
{
  cairn_log_add_secret("ab\"cd\\ef-fake-secret");
  expect_json_msg(log_one(1, "fixtures/ab\"cd\\ef-fake-secret.csv"),
                  "server said: fixtures/***.csv");
  {
    char *text = log_one(0, "fixtures/ab\"cd\\ef-fake-secret.csv");
    cr_assert(strstr(text, "fake-secret") == NULL, "[%s]", text);
    free(text);
  }
}

/* An error message is masked whole before it is cut to its record's size:
 * a secret a quoted reply carries across the cut leaves nothing. */
Test(log, an_error_is_masked_before_it_is_cut)
{
  cairn_err err = {0};
  char pad[600];
  const char *secret = "fake-token-0123456789abcdefghij";
  size_t n = sizeof err.msg - 20;
  memset(pad, 'x', n);
  pad[n] = '\0';
  cairn_log_add_secret(secret);
  CAIRN_RAISE(&err, CAIRN_EHTTP, 0, "%s token %s rejected", pad, secret);
  cr_assert(strstr(err.msg, "fake-tok") == NULL, "[%s]",
            err.msg + strlen(err.msg) - 30);
  cr_assert(strstr(err.msg, "token ***") != NULL, "[%s]",
            err.msg + strlen(err.msg) - 30);
}

/* A secret that is not valid UTF-8 (a byte shown as \\xNN on one line)
 * is masked in that form, which JSON cannot hold. */
Test(log, a_secret_is_masked_in_its_one_line_form)
{
  char *text;
  cairn_log_add_secret("Pass\xffword-fake-9");
  text = log_one(0, "fixtures/Pass\xffword-fake-9/cost.csv");
  cr_assert(strstr(text, "word-fake") == NULL, "[%s]", text);
  free(text);
  expect_json_msg(log_one(1, "fixtures/Pass\xffword-fake-9/cost.csv"),
                  "server said: fixtures/***/cost.csv");
}

/* A secret inside a longer one (a user name within a password, a key
 * within a connection string) is masked after it, whatever the order
 * they were registered in: masked first, the short one would cut the
 * long one apart and leave the rest of it in clear. */
Test(log, a_secret_within_a_longer_one_does_not_unmask_it)
{
  char s[] = "login fake-usr-7 with fake-usr-7-Pa55word-tail";
  cairn_log_add_secret("fake-usr-7");
  cairn_log_add_secret("fake-usr-7-Pa55word-tail");
  cairn_log_mask(s);
  cr_assert_str_eq(s, "login *** with ***");
}

Test(log, every_secret_is_masked_however_many_are_registered)
{
  /* A long run registers each refreshed token (5 forms each): the 400th
   * is masked like the first (a fixed table of 256 forms dropped it). */
  char s[64], first[32];
  for (int i = 0; i < 400; i++) {
    snprintf(s, sizeof s, "tok-%04d-fake-refreshed", i);
    cairn_log_add_secret(s);
  }
  snprintf(first, sizeof first, "a tok-0000-fake-refreshed b");
  cairn_log_mask(first);
  cr_assert_str_eq(first, "a *** b");
  snprintf(s, sizeof s, "a tok-0399-fake-refreshed b");
  cairn_log_mask(s);
  cr_assert_str_eq(s, "a *** b");
  cr_assert(cairn_log_has_secret("x tok-0399-fake-refreshed"));
}
