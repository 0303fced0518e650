/* SPDX-License-Identifier: MIT */
/* test_state.c -- the checkpoint store: attempts, windows, chunk stages,
 * staged incremental state, quarantine idempotency, spool, lock. */
#include <criterion/criterion.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fsx.h"
#include "core/mem.h"
#include "state/state.h"

static char dir[64];
static cairn_state *st;
static const struct cairn_window w1 = { "2024-05-01", "2024-05-01T00:00:00Z",
                                        "2024-05-02T00:00:00Z", "2024-05-01",
                                        "2024-05-02" };
static const struct cairn_window w2 = { "2024-05-02", "2024-05-02T00:00:00Z",
                                        "2024-05-03T00:00:00Z", "2024-05-02",
                                        "2024-05-03" };

static void setup(void)
{
  cairn_err err = {0};
  snprintf(dir, sizeof dir, "/tmp/cairn_state_%d", (int)getpid());
  cairn_fs_remove_tree(dir, NULL);
  cr_assert_eq(cairn_state_open(dir, &st, &err), CAIRN_OK, "%s", err.msg);
}

static void teardown(void)
{
  cairn_state_close(st);
  cairn_fs_remove_tree(dir, NULL);
}

TestSuite(state, .init = setup, .fini = teardown);

Test(state, attempt_resumes_until_done_then_starts_a_new_one)
{
  long a, d;
  int resumed;
  cairn_err err = {0};
  cr_assert_eq(cairn_state_attempt_begin(st, "j", "", 0, &a, &resumed, &d,
                                         &err), CAIRN_OK);
  cr_assert_eq(a, 1);
  cr_assert_eq(resumed, 0);
  cr_assert_eq(cairn_state_attempt_begin(st, "j", "", 0, &a, &resumed, &d,
                                         &err), CAIRN_OK);
  cr_assert_eq(a, 1, "an open attempt is resumed");
  cr_assert_eq(resumed, 1);
  /* A backfill spec is its own attempt, numbered per job: windows keep
   * only the number, so two specs must never share one. */
  cr_assert_eq(cairn_state_attempt_begin(st, "j", "2024-05-01..2024-05-03", 0,
                                         &a, &resumed, &d, &err), CAIRN_OK);
  cr_assert_eq(a, 2);
  cr_assert_eq(resumed, 0);
  cr_assert_eq(cairn_state_attempt_done(st, "j", "", &err), CAIRN_OK);
  cr_assert_eq(cairn_state_attempt_begin(st, "j", "", 0, &a, &resumed, &d,
                                         &err), CAIRN_OK);
  cr_assert_eq(a, 3, "after done, a new attempt");
  cr_assert_eq(resumed, 0);
  /* Another job counts on its own. */
  cr_assert_eq(cairn_state_attempt_begin(st, "k", "", 0, &a, &resumed, &d,
                                         &err), CAIRN_OK);
  cr_assert_eq(a, 1);
}

Test(state, fresh_discards_the_open_attempts_chunks)
{
  long a, d;
  int resumed;
  cairn_err err = {0};
  struct cairn_window_row row;
  cairn_state_attempt_begin(st, "j", "", 0, &a, &resumed, &d, &err);
  cairn_state_window_claim(st, "j", &w1, a, CAIRN_CLAIM_REDO, &err);
  cairn_state_chunk_extracted(st, "j", &w1, 1, NULL, "{}", 0, NULL, NULL, 10,
                              &err);
  cairn_state_chunk_extracted(st, "j", &w1, 2, "{}", NULL, 1, NULL, NULL, 10,
                              &err);
  cr_assert_eq(cairn_state_attempt_begin(st, "j", "", 1, &a, &resumed, &d,
                                         &err), CAIRN_OK);
  cr_assert_eq(a, 2);
  cr_assert_eq(d, 2, "two chunk checkpoints discarded");
  cairn_state_window_get(st, "j", &w1, &row, &err);
  cr_assert_neq(row.attempt, a, "the window must be reclaimed");
  cairn_window_row_clear(&row);
}

Test(state, chunk_stages_advance_and_count_loads)
{
  cairn_err err = {0};
  struct cairn_chunk_row row;
  struct cairn_batch *b = cairn_batch_create(1);
  long seq;
  cairn_state_window_claim(st, "j", &w1, 1, CAIRN_CLAIM_REDO, &err);
  cr_assert_eq(cairn_state_chunk_extracted(st, "j", &w1, 1, NULL,
                                           "{\"o\":5}", 0, NULL, "{}", 42,
                                           &err), CAIRN_OK);
  cairn_state_chunk_get(st, "j", &w1, 1, &row, &err);
  cr_assert_eq(row.stage, CAIRN_STAGE_EXTRACTED);
  cr_assert_null(row.cursor_in);
  cr_assert_str_eq(row.cursor_out, "{\"o\":5}");
  cr_assert_eq(row.raw_bytes, 42);
  cairn_chunk_row_clear(&row);
  cairn_batch_add_row(b);
  cairn_batch_reject(b, "f.csv:3", "x: bad", "raw", 3, NULL);
  cr_assert_eq(cairn_state_chunk_transformed(st, "j", &w1, 1, b, "1.0.0", NULL, &err),
               CAIRN_OK);
  cairn_state_loaded_seq(st, "j", &w1, &seq, &err);
  cr_assert_eq(seq, 0);
  cr_assert_eq(cairn_state_chunk_loaded(st, "j", &w1, 1, "abc", NULL, &err),
               CAIRN_OK);
  cr_assert_eq(cairn_state_chunk_loaded(st, "j", &w1, 1, "xyz", NULL, &err),
               CAIRN_OK);
  cairn_state_chunk_get(st, "j", &w1, 1, &row, &err);
  cr_assert_eq(row.stage, CAIRN_STAGE_LOADED);
  cr_assert_eq(row.records, 1);
  cr_assert_eq(row.rejects, 1);
  cr_assert_str_eq(row.digest, "abc", "a second 'loaded' keeps the digest");
  cr_assert_eq(row.load_count, 1, "a second 'loaded' does not count again");
  cairn_chunk_row_clear(&row);
  cairn_state_loaded_seq(st, "j", &w1, &seq, &err);
  cr_assert_eq(seq, 1);
  cairn_batch_free(b);
}

Test(state, chunks_record_the_contract_version_they_were_made_under)
{
  struct cairn_contract_other o;
  struct cairn_batch *b = cairn_batch_create(1);
  cairn_err err = {0};
  cairn_state_window_claim(st, "j", &w1, 1, CAIRN_CLAIM_REDO, &err);
  for (long k = 1; k <= 3; k++) {
    cr_assert_eq(cairn_state_chunk_extracted(st, "j", &w1, k, NULL, NULL, 0,
                                             NULL, NULL, 0, &err), CAIRN_OK);
    if (k < 3) /* chunk 3: extracted only, not made under any version */
      cr_assert_eq(cairn_state_chunk_transformed(st, "j", &w1, k, b,
                                                 k == 1 ? "1.0.0" : "1.1.0", NULL, &err), CAIRN_OK, "%s",
                   err.msg);
  }
  cr_assert_eq(cairn_state_contract_other(st, "j", &w1, "1.1.0", &o, &err),
               CAIRN_OK, "%s", err.msg);
  cr_assert_eq(o.n, 1);
  cr_assert_eq(o.first, 1);
  cr_assert_eq(o.of, 3);
  cr_assert_str_eq(o.contract, "1.0.0");
  free(o.contract);
  cr_assert_eq(cairn_state_contract_other(st, "j", &w2, "1.1.0", &o, &err),
               CAIRN_OK);
  cr_assert_eq(o.n, 0, "another window");
  cr_assert_null(o.contract);
  cairn_batch_free(b);
}

Test(state, quarantine_is_idempotent)
{
  cairn_err err = {0};
  struct cairn_batch *b = cairn_batch_create(1);
  int64_t n;
  cairn_state_window_claim(st, "j", &w1, 1, CAIRN_CLAIM_REDO, &err);
  cairn_state_chunk_extracted(st, "j", &w1, 1, NULL, NULL, 1, NULL, NULL, 1,
                              &err);
  cairn_batch_reject(b, "f.csv:3", "a: bad", "r1", 2, NULL);
  cairn_batch_reject(b, "f.csv:4", "b: bad", "r2", 2, NULL);
  cairn_state_chunk_transformed(st, "j", &w1, 1, b, "1.0.0", NULL, &err);
  cairn_state_chunk_transformed(st, "j", &w1, 1, b, "1.0.0", NULL, &err);
  cairn_state_quarantine_count(st, "j", &n, &err);
  cr_assert_eq(n, 2);
  json_t *q;
  cairn_state_quarantine(st, "j", &q, &err);
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(q, 0),
                                                     "reasons")), "a: bad");
  json_decref(q);
  cairn_batch_free(b);
}

/* One loaded attempt of w1 with one reject of raw text `raw` (NULL:
 * none) and contract key `key` (NULL: none), whose chunk loaded rows of
 * the keys `loaded` (a JSON array, as cairn_batch_keys makes; NULL when
 * the runner passes none). */
static void load_keyed(long attempt, enum cairn_claim claim, const char *raw,
                       const char *key, const char *loaded)
{
  cairn_err err = {0};
  struct cairn_batch *b = cairn_batch_create(1);
  cr_assert_eq(cairn_state_window_claim(st, "j", &w1, attempt, claim, &err),
               CAIRN_OK, "%s", err.msg);
  cairn_state_chunk_extracted(st, "j", &w1, 1, NULL, NULL, 1, NULL, NULL, 1,
                              &err);
  if (raw)
    cairn_batch_reject(b, "page 1 #2", "department: not in the lookup", raw,
                       strlen(raw), key);
  cairn_state_chunk_transformed(st, "j", &w1, 1, b, "1.0.0", NULL, &err);
  cr_assert_eq(cairn_state_chunk_loaded(st, "j", &w1, 1, "d", loaded, &err),
               CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_state_window_loaded(st, "j", &w1, 1, NULL, &err), CAIRN_OK,
               "%s", err.msg);
  cairn_batch_free(b);
}

/* The same with a reject without a key and no loaded keys. */
static void load_with_reject(long attempt, enum cairn_claim claim,
                             const char *raw)
{
  load_keyed(attempt, claim, raw, NULL, NULL);
}

static void expect_dlq(const char *want)
{
  cairn_err err = {0};
  struct cairn_buf got = {0};
  json_t *q = NULL, *r;
  size_t i;
  int64_t n;
  cr_assert_eq(cairn_state_quarantine(st, "j", &q, &err), CAIRN_OK, "%s",
               err.msg);
  json_array_foreach(q, i, r) {
    json_t *k = json_object_get(r, "kept_from_attempt");
    cairn_buf_printf(&got, "%s%s@%lld", i ? " " : "",
                     json_string_value(json_object_get(r, "raw")),
                     k ? (long long)json_integer_value(k) : 0LL);
  }
  cr_assert_str_eq(got.data ? got.data : "", want);
  cairn_state_quarantine_count(st, "j", &n, &err);
  cr_assert_eq((size_t)n, json_array_size(q), "the count is of both");
  cairn_buf_free(&got);
  json_decref(q);
}

Test(state, claims_keep_the_rejects_an_incremental_source_will_not_resend)
{
  cairn_err err = {0};
  load_with_reject(1, CAIRN_CLAIM_REDO, "megan");
  expect_dlq("megan@0");
  /* The next delta round does not send her again: kept, with attempt 1. */
  load_with_reject(2, CAIRN_CLAIM_KEEP, "diego");
  expect_dlq("diego@0 megan@1");
  /* A redo of a round (its attempt failed) drops that round's rejects
   * only: it meets them again. */
  cairn_state_window_claim(st, "j", &w1, 3, CAIRN_CLAIM_REDO, &err);
  expect_dlq("megan@1");
  load_with_reject(4, CAIRN_CLAIM_KEEP, NULL);
  expect_dlq("megan@1");
  /* A round that sends her again lists her once, as its own. */
  load_with_reject(5, CAIRN_CLAIM_KEEP, "megan");
  expect_dlq("megan@0");
  load_with_reject(6, CAIRN_CLAIM_KEEP, NULL);
  expect_dlq("megan@5");
  /* A full extraction supersedes everything the window had: its first
   * chunk drops what was kept. */
  cairn_state_window_claim(st, "j", &w1, 7, CAIRN_CLAIM_KEEP, &err);
  expect_dlq("megan@5");
  cr_assert_eq(cairn_state_window_kept_drop(st, "j", &w1, &err), CAIRN_OK);
  expect_dlq("");
}

static int kept_keyed(void)
{
  cairn_err err = {0};
  int keyed = -1;
  cr_assert_eq(cairn_state_window_kept_keyed(st, "j", &w1, &keyed, &err),
               CAIRN_OK, "%s", err.msg);
  return keyed;
}

static int own_keyed(void)
{
  cairn_err err = {0};
  int keyed = -1;
  cr_assert_eq(cairn_state_window_rejects_keyed(st, "j", &w1, &keyed, &err),
               CAIRN_OK, "%s", err.msg);
  return keyed;
}

/* One attempt's own rejects: a row of the record loaded after a reject
 * (a later chunk, or later in the same one) drops it with that chunk's
 * checkpoint; a row before it (the latest version is the rejected one)
 * does not, nor does a chunk that loads before the reject's. */
Test(state, own_rejects_go_when_a_later_row_of_their_record_is_loaded)
{
  cairn_err err = {0};
  struct cairn_batch *b1 = cairn_batch_create(1), *b2 = cairn_batch_create(1);
  cr_assert_eq(cairn_state_window_claim(st, "j", &w1, 1, CAIRN_CLAIM_REDO,
                                        &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(own_keyed(), 0);
  /* chunk 1: a (rejected), a, b, b (rejected), c (rejected), ghost (no
   * key, rejected) */
  cairn_state_chunk_extracted(st, "j", &w1, 1, NULL, NULL, 0, NULL, NULL, 1,
                              &err);
  cairn_batch_reject(b1, "page 1 #1", "x: bad", "a v1", 4, "a");
  cairn_batch_add_row(b1);
  cairn_batch_add_row(b1);
  cairn_batch_reject(b1, "page 1 #4", "x: bad", "b v2", 4, "b");
  cairn_batch_reject(b1, "page 1 #5", "x: bad", "c v1", 4, "c");
  cairn_batch_reject(b1, "page 1 #6", "x: bad", "ghost", 5, NULL);
  cr_assert_eq(cairn_state_chunk_transformed(st, "j", &w1, 1, b1, "1.0.0", NULL, &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(own_keyed(), 1);
  /* chunk 2, transformed before chunk 1 is loaded: a rejected again,
   * which replaces a's reject of chunk 1 */
  cairn_state_chunk_extracted(st, "j", &w1, 2, NULL, NULL, 1, NULL, NULL, 1,
                              &err);
  cairn_batch_reject(b2, "page 2 #1", "x: bad", "a v3", 4, "a");
  cairn_batch_add_row(b2);
  cr_assert_eq(cairn_state_chunk_transformed(st, "j", &w1, 2, b2, "1.0.0", NULL, &err), CAIRN_OK, "%s", err.msg);
  expect_dlq("b v2@0 c v1@0 ghost@0 a v3@0");
  /* chunk 1 loads rows a and b: a's reject came before its row, b's after */
  cr_assert_eq(cairn_state_chunk_loaded(st, "j", &w1, 1, "d",
                                        "[\"a\",\"b\"]", &err),
               CAIRN_OK, "%s", err.msg);
  expect_dlq("b v2@0 c v1@0 ghost@0 a v3@0");
  /* chunk 2 loads c (and a row without a key): c's reject of chunk 1
   * goes; a's of chunk 2 stays, no row of a after it */
  cr_assert_eq(cairn_state_chunk_loaded(st, "j", &w1, 2, "d",
                                        "[null,\"c\"]", &err),
               CAIRN_OK, "%s", err.msg);
  expect_dlq("b v2@0 ghost@0 a v3@0");
  cr_assert_eq(cairn_state_window_loaded(st, "j", &w1, 2, NULL, &err), CAIRN_OK,
               "%s", err.msg);
  expect_dlq("b v2@0 ghost@0 a v3@0");
  cairn_batch_free(b1);
  cairn_batch_free(b2);
}

/* A record rejected again by a later chunk of the window (a sorted
 * watermark's resume asks again from the mark it loaded and meets the
 * records at the mark once more): listed and counted once, as its latest
 * reject, also when that chunk is transformed again by a resume. */
Test(state, a_record_rejected_again_is_listed_and_counted_once)
{
  cairn_err err = {0};
  struct cairn_batch *b1 = cairn_batch_create(1), *b2 = cairn_batch_create(1);
  struct cairn_run_info ri = { .run_id = "r1", .job = "j", .spec = "",
                               .started = 100 };
  long replaced = -1;
  int64_t n;
  json_t *runs;
  cr_assert_eq(cairn_state_run_begin(st, &ri, &err), CAIRN_OK, "%s", err.msg);
  cairn_state_count_for(st, "r1");
  cairn_state_window_claim(st, "j", &w1, 1, CAIRN_CLAIM_REDO, &err);
  cairn_state_chunk_extracted(st, "j", &w1, 1, NULL, NULL, 0, NULL, NULL, 1,
                              &err);
  cairn_batch_add_row(b1);
  cairn_batch_reject(b1, "page 1 #2", "x: bad", "a v1", 4, "[\"a\"]");
  cairn_batch_reject(b1, "page 1 #3", "x: bad", "ghost", 5, NULL);
  cr_assert_eq(cairn_state_chunk_transformed(st, "j", &w1, 1, b1, "1.0.0",
                                             &replaced, &err), CAIRN_OK,
               "%s", err.msg);
  cr_assert_eq(replaced, 0);
  cairn_state_chunk_loaded(st, "j", &w1, 1, "d", NULL, &err);
  /* chunk 2, after a resume: a again (the same text), then b */
  cairn_state_chunk_extracted(st, "j", &w1, 2, NULL, NULL, 1, NULL, NULL, 1,
                              &err);
  cairn_batch_reject(b2, "page 1 #1", "x: bad", "a v1", 4, "[\"a\"]");
  cairn_batch_reject(b2, "page 1 #2", "x: bad", "b v1", 4, "[\"b\"]");
  cr_assert_eq(cairn_state_chunk_transformed(st, "j", &w1, 2, b2, "1.0.0",
                                             &replaced, &err), CAIRN_OK,
               "%s", err.msg);
  cr_assert_eq(replaced, 1);
  expect_dlq("ghost@0 a v1@0 b v1@0");
  cairn_state_quarantine_count(st, "j", &n, &err);
  cr_assert_eq(n, 3);
  /* the run record counts it once too: its sum is the DLQ's */
  cr_assert_eq(cairn_state_runs(st, "j", 1, &runs, &err), CAIRN_OK);
  cr_assert_eq(json_integer_value(json_object_get(json_array_get(runs, 0),
                                                  "rejected")), 3);
  json_decref(runs);
  /* transformed again (a resume from a chunk at stage transformed): nothing
   * more goes */
  cr_assert_eq(cairn_state_chunk_transformed(st, "j", &w1, 2, b2, "1.0.0",
                                             &replaced, &err), CAIRN_OK);
  cr_assert_eq(replaced, 0);
  cairn_state_chunk_loaded(st, "j", &w1, 2, "d", NULL, &err);
  cr_assert_eq(cairn_state_window_loaded(st, "j", &w1, 2, NULL, &err),
               CAIRN_OK, "%s", err.msg);
  {
    struct cairn_window_row row = {0};
    cairn_state_window_get(st, "j", &w1, &row, &err);
    cr_assert_eq(row.rejects, 3, "rejects counted once each: %lld",
                 (long long)row.rejects);
    cairn_window_row_clear(&row);
  }
  cairn_batch_free(b1);
  cairn_batch_free(b2);
}

Test(state, kept_rejects_go_when_their_record_is_rejected_again_or_loaded)
{
  /* Rejected again, changed: the same key, another raw text. */
  load_keyed(1, CAIRN_CLAIM_REDO, "megan v1", "[\"m\"]", NULL);
  load_keyed(2, CAIRN_CLAIM_KEEP, "megan v2", "[\"m\"]", NULL);
  expect_dlq("megan v2@0");
  load_keyed(3, CAIRN_CLAIM_KEEP, "ghost", NULL, "[]");
  expect_dlq("ghost@0 megan v2@2");
  /* Claimed by a later attempt: megan's reject has a key to resolve it
   * by, the ghost's none. A row of another key leaves both. */
  load_keyed(4, CAIRN_CLAIM_KEEP, NULL, NULL, "[\"[\\\"x\\\"]\"]");
  expect_dlq("megan v2@2 ghost@3");
  cairn_state_window_claim(st, "j", &w1, 5, CAIRN_CLAIM_KEEP, NULL);
  cr_assert_eq(kept_keyed(), 1);
  /* Her record loaded (fixed at the source): her reject goes with the
   * chunk that loaded it, before the window is. */
  cairn_state_chunk_extracted(st, "j", &w1, 1, NULL, NULL, 1, NULL, NULL, 1,
                              NULL);
  cr_assert_eq(cairn_state_chunk_loaded(st, "j", &w1, 1, "d",
                                        "[\"[\\\"x\\\"]\", "
                                        "\"[\\\"m\\\"]\"]", NULL),
               CAIRN_OK);
  expect_dlq("ghost@3");
  cr_assert_eq(kept_keyed(), 0, "the ghost has no key to match");
  cairn_state_window_loaded(st, "j", &w1, 1, NULL, NULL);
  /* A reject without a key is matched by its raw text: the same record
   * rejected again is listed once; another one without a key is not
   * taken for it. */
  load_keyed(6, CAIRN_CLAIM_KEEP, "ghost", NULL, NULL);
  expect_dlq("ghost@0");
  load_keyed(7, CAIRN_CLAIM_KEEP, "ghost 2", NULL, NULL);
  expect_dlq("ghost 2@0 ghost@6");
  /* Nor is one without a key taken for a keyed reject, or for a loaded
   * row. */
  load_keyed(8, CAIRN_CLAIM_KEEP, "ghost 3", "[\"g\"]", NULL);
  expect_dlq("ghost 3@0 ghost@6 ghost 2@7");
  load_keyed(9, CAIRN_CLAIM_KEEP, NULL, NULL, "[\"[\\\"g\\\"]\"]");
  expect_dlq("ghost@6 ghost 2@7");
}

Test(state, loaded_keys_drop_only_that_windows_kept_rejects)
{
  cairn_err err = {0};
  struct cairn_batch *b = cairn_batch_create(1);
  const char *m = "[\"[\\\"m\\\"]\"]";
  int64_t n;
  int keyed = 0;
  /* megan rejected in w1 and w2 of job j, and in w1 of job k: all kept */
  cairn_batch_reject(b, "page 1 #2", "department: bad", "megan", 5, "[\"m\"]");
  for (int i = 0; i < 3; i++) {
    const char *job = i == 2 ? "k" : "j";
    const struct cairn_window *w = i == 1 ? &w2 : &w1;
    cairn_state_window_claim(st, job, w, 1, CAIRN_CLAIM_REDO, &err);
    cairn_state_chunk_extracted(st, job, w, 1, NULL, NULL, 1, NULL, NULL, 1,
                                &err);
    cairn_state_chunk_transformed(st, job, w, 1, b, "1.0.0", NULL, &err);
    cairn_state_chunk_loaded(st, job, w, 1, "d", NULL, &err);
    cairn_state_window_loaded(st, job, w, 1, NULL, &err);
    cairn_state_window_claim(st, job, w, 2, CAIRN_CLAIM_KEEP, &err);
  }
  /* Without keys (a window with nothing kept to resolve) nothing goes. */
  cairn_state_chunk_extracted(st, "j", &w1, 1, NULL, NULL, 0, NULL, NULL, 1,
                              &err);
  cr_assert_eq(cairn_state_chunk_loaded(st, "j", &w1, 1, "d", NULL, &err),
               CAIRN_OK, "%s", err.msg);
  cairn_state_quarantine_count(st, "j", &n, &err);
  cr_assert_eq(n, 2);
  cairn_state_chunk_extracted(st, "j", &w1, 2, NULL, NULL, 1, NULL, NULL, 1,
                              &err);
  cr_assert_eq(cairn_state_chunk_loaded(st, "j", &w1, 2, "d", m, &err),
               CAIRN_OK, "%s", err.msg);
  cairn_state_quarantine_count(st, "j", &n, &err);
  cr_assert_eq(n, 1, "w2's stays");
  cairn_state_quarantine_count(st, "k", &n, &err);
  cr_assert_eq(n, 1, "job k's stays");
  cairn_state_window_kept_keyed(st, "j", &w2, &keyed, &err);
  cr_assert_eq(keyed, 1);
  cairn_batch_free(b);
}

/* A store an earlier cairn made, without the key columns: read as it is
 * (cairn status, cairn dlq, without the right to change it), and given
 * the columns when opened to run; its rejects then have no key and are
 * matched by their raw text. */
Test(state, a_store_of_the_previous_layout_keeps_working)
{
  cairn_err err = {0};
  cairn_state *ro;
  sqlite3 *db;
  char *path = cairn_strfmt("%s/cairn.db", dir);
  json_t *q = NULL;
  int64_t n = 0;
  int on_disk, keyed = -1;

  load_with_reject(1, CAIRN_CLAIM_REDO, "megan");
  cairn_state_window_claim(st, "j", &w1, 2, CAIRN_CLAIM_KEEP, &err);
  cairn_state_close(st);
  st = NULL;
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(db, "ALTER TABLE quarantine DROP COLUMN key;"
                            "ALTER TABLE quarantine_kept DROP COLUMN key;",
                            NULL, NULL, NULL), SQLITE_OK, "%s",
               sqlite3_errmsg(db));
  sqlite3_close(db);
  cr_assert_eq(cairn_state_open_read(dir, &ro, &on_disk, &err), CAIRN_OK,
               "%s", err.msg);
  cr_assert_eq(cairn_state_quarantine(ro, "j", &q, &err), CAIRN_OK, "%s",
               err.msg);
  cr_assert_eq(json_array_size(q), 1);
  cr_assert_eq(cairn_state_quarantine_count(ro, "j", &n, &err), CAIRN_OK);
  cr_assert_eq(n, 1);
  json_decref(q);
  cairn_state_close(ro);
  cr_assert_eq(cairn_state_open(dir, &st, &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_state_window_kept_keyed(st, "j", &w1, &keyed, &err),
               CAIRN_OK, "%s", err.msg);
  cr_assert_eq(keyed, 0, "a reject from before the column has no key");
  expect_dlq("megan@1");
  /* the attempt under way finishes, meeting her again, changed */
  cairn_state_chunk_extracted(st, "j", &w1, 1, NULL, NULL, 1, NULL, NULL, 1,
                              &err);
  {
    struct cairn_batch *b = cairn_batch_create(1);
    cairn_batch_reject(b, "page 1 #2", "department: bad", "megan v2", 8,
                       "[\"m\"]");
    cr_assert_eq(cairn_state_chunk_transformed(st, "j", &w1, 1, b, "1.0.0", NULL, &err), CAIRN_OK, "%s",
                 err.msg);
    cairn_batch_free(b);
  }
  cairn_state_chunk_loaded(st, "j", &w1, 1, "d", NULL, &err);
  cr_assert_eq(cairn_state_window_loaded(st, "j", &w1, 1, NULL, &err), CAIRN_OK,
               "%s", err.msg);
  expect_dlq("megan v2@0 megan@1");
  /* her next reject, by key, replaces the one made with the column */
  load_keyed(3, CAIRN_CLAIM_KEEP, "megan v3", "[\"m\"]", NULL);
  expect_dlq("megan v3@0 megan@1");
  free(path);
}

Test(state, incremental_state_commits_only_when_window_loads)
{
  cairn_err err = {0};
  char *v = NULL;
  cairn_state_kv_put(st, "j", "delta", "old", &err);
  cairn_state_window_claim(st, "j", &w1, 1, CAIRN_CLAIM_REDO, &err);
  cr_assert_eq(cairn_state_window_stage_kv(st, "j", &w1, "delta", "new", &err),
               CAIRN_OK, "%s", err.msg);
  cairn_state_kv_get(st, "j", "delta", &v, &err);
  cr_assert_str_eq(v, "old", "staged state is not visible before loading");
  free(v);
  cr_assert_eq(cairn_state_window_loaded(st, "j", &w1, 0, NULL, &err), CAIRN_OK,
               "%s", err.msg);
  cairn_state_kv_get(st, "j", "delta", &v, &err);
  cr_assert_str_eq(v, "new");
  free(v);
  /* A new claim of the window forgets anything staged. */
  cairn_state_window_claim(st, "j", &w1, 2, CAIRN_CLAIM_REDO, &err);
  cairn_state_window_stage_kv(st, "j", &w1, "delta", "abandoned", &err);
  cairn_state_window_claim(st, "j", &w1, 3, CAIRN_CLAIM_REDO, &err);
  cairn_state_window_loaded(st, "j", &w1, 0, NULL, &err);
  cairn_state_kv_get(st, "j", "delta", &v, &err);
  cr_assert_str_eq(v, "new");
  free(v);
}

Test(state, window_claim_by_another_attempt_drops_chunks)
{
  cairn_err err = {0};
  struct cairn_window_row row;
  long seq;
  cairn_state_window_claim(st, "j", &w1, 1, CAIRN_CLAIM_REDO, &err);
  cairn_state_chunk_extracted(st, "j", &w1, 1, NULL, NULL, 1, NULL, NULL, 1,
                              &err);
  cairn_state_chunk_loaded(st, "j", &w1, 1, "d", NULL, &err);
  cairn_state_window_loaded(st, "j", &w1, 1, NULL, &err);
  cairn_state_window_get(st, "j", &w1, &row, &err);
  cr_assert_eq(row.loaded, 1);
  cr_assert_eq(row.attempt, 1);
  cairn_window_row_clear(&row);
  /* Its rejects go with it: a fixed input reloaded by a new attempt must
   * not keep the old DLQ, nor an old reason at a reused position. */
  {
    struct cairn_batch *b = cairn_batch_create(1);
    json_t *q;
    int64_t n;
    cairn_batch_reject(b, "f.csv:3", "a: bad", "r1", 2, NULL);
    cairn_state_chunk_transformed(st, "j", &w1, 1, b, "1.0.0", NULL, &err);
    cairn_state_window_claim(st, "j", &w2, 1, CAIRN_CLAIM_REDO, &err);
    cairn_state_chunk_extracted(st, "j", &w2, 1, NULL, NULL, 1, NULL, NULL, 1,
                                &err);
    cairn_state_chunk_transformed(st, "j", &w2, 1, b, "1.0.0", NULL, &err);
    cairn_state_quarantine_count(st, "j", &n, &err);
    cr_assert_eq(n, 2);
    cairn_state_window_claim(st, "j", &w1, 2, CAIRN_CLAIM_REDO, &err);
    cairn_state_quarantine_count(st, "j", &n, &err);
    cr_assert_eq(n, 1, "only the claimed window's rejects go");
    cairn_state_quarantine(st, "j", &q, &err);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(q, 0),
                                                       "window")), w2.key);
    json_decref(q);
    cairn_batch_free(b);
  }
  cairn_state_window_get(st, "j", &w1, &row, &err);
  cr_assert_eq(row.loaded, 0);
  cr_assert_eq(row.attempt, 2);
  cairn_window_row_clear(&row);
  cairn_state_loaded_seq(st, "j", &w1, &seq, &err);
  cr_assert_eq(seq, 0);
}

static const struct cairn_window w4 = { "2024-05-04", "2024-05-04T00:00:00Z",
                                        "2024-05-05T00:00:00Z", "2024-05-04",
                                        "2024-05-05" };

Test(state, catch_up_bounds_come_from_the_windows)
{
  cairn_err err = {0};
  char *s = NULL;
  long a, d;
  int had = 1, resumed;

  cr_assert_eq(cairn_state_attempt_had(st, "j", "", &had, &err), CAIRN_OK);
  cr_assert_eq(had, 0, "no attempt yet");
  cr_assert_eq(cairn_state_loaded_before(st, "j", w4.start, &s, &err),
               CAIRN_OK);
  cr_assert_null(s, "nothing loaded yet");
  /* A backfill attempt is not a scheduled one. */
  cairn_state_attempt_begin(st, "j", "2024-05-01..2024-05-02", 0, &a,
                            &resumed, &d, &err);
  cairn_state_attempt_had(st, "j", "", &had, &err);
  cr_assert_eq(had, 0);
  cairn_state_attempt_begin(st, "j", "", 0, &a, &resumed, &d, &err);
  cairn_state_attempt_had(st, "j", "", &had, &err);
  cr_assert_eq(had, 1);
  /* w1 loaded, w2 open in attempt a, w4 loaded later */
  cairn_state_window_claim(st, "j", &w1, 1, CAIRN_CLAIM_REDO, &err);
  cairn_state_window_loaded(st, "j", &w1, 0, NULL, &err);
  cairn_state_window_claim(st, "j", &w2, a, CAIRN_CLAIM_REDO, &err);
  cairn_state_window_claim(st, "j", &w4, a, CAIRN_CLAIM_REDO, &err);
  cairn_state_window_loaded(st, "j", &w4, 0, NULL, &err);
  cr_assert_eq(cairn_state_attempt_first(st, "j", a, &s, &err), CAIRN_OK);
  cr_assert_str_eq(s, w2.start);
  free(s);
  cairn_state_attempt_first(st, "j", a + 5, &s, &err);
  cr_assert_null(s, "an attempt with no window");
  cairn_state_loaded_before(st, "j", w4.start, &s, &err);
  cr_assert_str_eq(s, w1.end, "the newest loaded window before w4: w1");
  free(s);
  cairn_state_loaded_before(st, "j", "2024-06-01T00:00:00Z", &s, &err);
  cr_assert_str_eq(s, w4.end);
  free(s);
  cairn_state_loaded_before(st, "other", "2024-06-01T00:00:00Z", &s, &err);
  cr_assert_null(s, "another job's windows");
}

/* The EXPLAIN QUERY PLAN of a statement on the store's file, one line. */
static void plan_of(const char *sql, char *out, size_t n)
{
  char path[128];
  sqlite3 *db;
  sqlite3_stmt *s;
  char *q = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
  size_t len = 0;

  snprintf(path, sizeof path, "%s/cairn.db", dir);
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK, "%s",
               sqlite3_errmsg(db));
  out[0] = '\0';
  while (sqlite3_step(s) == SQLITE_ROW && len + 1 < n)
    len += (size_t)snprintf(out + len, n - len, "%s;",
                            (const char *)sqlite3_column_text(s, 3));
  sqlite3_finalize(s);
  sqlite3_free(q);
  sqlite3_close(db);
}

Test(state, runs_are_read_from_the_newest_back_whatever_their_number)
{
  cairn_err err = {0};
  char plan[1024];
  json_t *r;
  /* Three runs of two jobs, two started in the same second: newest first,
   * the later-recorded first among equals. */
  static const struct { const char *id, *job; int64_t t; } runs[] = {
    { "r1", "a", 100 }, { "r2", "b", 200 }, { "r3", "a", 200 },
  };
  for (size_t i = 0; i < 3; i++) {
    struct cairn_run_info ri = { .run_id = runs[i].id, .job = runs[i].job,
                                 .spec = "", .started = runs[i].t };
    struct cairn_run_result rr = { .ended = runs[i].t + 1, .status = "done" };
    cr_assert_eq(cairn_state_run_begin(st, &ri, &err), CAIRN_OK, "%s",
                 err.msg);
    cairn_state_run_end(st, runs[i].id, &rr, &err);
  }
  cairn_state_window_claim(st, "c", &w1, 1, CAIRN_CLAIM_REDO, &err); /* a job with no run */
  cr_assert_eq(cairn_state_runs(st, NULL, 2, &r, &err), CAIRN_OK);
  cr_assert_eq(json_array_size(r), 2);
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(r, 0),
                                                     "run_id")), "r3");
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(r, 1),
                                                     "run_id")), "r2");
  json_decref(r);
  cairn_state_runs(st, "a", 5, &r, &err);
  cr_assert_eq(json_array_size(r), 2);
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(r, 1),
                                                     "run_id")), "r1");
  json_decref(r);
  cr_assert_eq(cairn_state_jobs(st, &r, &err), CAIRN_OK, "%s", err.msg);
  {
    char *s = json_dumps(r, JSON_COMPACT);
    cr_assert_str_eq(s, "[{\"job\":\"a\"},{\"job\":\"b\"},{\"job\":\"c\"}]");
    free(s);
  }
  json_decref(r);
  /* What each run and `cairn status` ask of the runs table reads an index
   * from one end, not every run (a year of an hourly job is 8760): the
   * same statements' shapes as state.c's. */
  plan_of("SELECT * FROM runs WHERE job='a' ORDER BY started DESC,"
          " rowid DESC LIMIT 5", plan, sizeof plan);
  cr_assert(strstr(plan, "USING INDEX") && !strstr(plan, "TEMP B-TREE"),
            "a job's last runs: %s", plan);
  plan_of("SELECT * FROM runs ORDER BY started DESC, rowid DESC LIMIT 5",
          plan, sizeof plan);
  cr_assert(strstr(plan, "USING INDEX") && !strstr(plan, "TEMP B-TREE"),
            "the last runs: %s", plan);
  plan_of("UPDATE runs SET status='killed' WHERE job='a' AND"
          " status='running'", plan, sizeof plan);
  cr_assert(strstr(plan, "runs_running"), "the killed runs: %s", plan);
}

Test(state, spool_round_trips_compressed_pages)
{
  cairn_err err = {0};
  char *path = NULL, *path2 = NULL;
  struct cairn_buf out = {0};
  const char page[] = "{\"value\":[1,2,3]}", page2[] = "{\"value\":[]}";
  cr_assert_eq(cairn_state_spool_put(st, "j", &w1, 3, page, strlen(page),
                                     &path, &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_state_spool_put(st, "j", &w1, 4, page2, strlen(page2),
                                     &path2, &err), CAIRN_OK, "%s", err.msg);
  /* one file per window, the frames appended */
  cr_assert(strstr(path, "/spool/j/2024-05-01/pages.zst#0,") != NULL, "%s",
            path);
  cr_assert(strstr(path2, "/spool/j/2024-05-01/pages.zst#") != NULL);
  cr_assert(strstr(path2, "#0,") == NULL, "%s", path2);
  cr_assert_eq(cairn_state_spool_get(st, path2, &out, &err), CAIRN_OK);
  cr_assert_str_eq(out.data, page2);
  out.len = 0;
  cr_assert_eq(cairn_state_spool_get(st, path, &out, &err), CAIRN_OK);
  cr_assert_str_eq(out.data, page);
  cairn_state_spool_drop(st, "j", &w1, &err);
  out.len = 0;
  cr_assert_eq(cairn_state_spool_get(st, path, &out, &err), CAIRN_DONE);
  cairn_buf_free(&out);
  free(path);
  free(path2);
}

/* Rows of the one-file-per-page layout hold a plain path: still read. */
Test(state, spool_reads_a_page_file_of_the_old_layout)
{
  cairn_err err = {0};
  char *path = NULL, *file;
  struct cairn_buf out = {0}, z = {0};
  const char page[] = "{\"old\":true}";
  cr_assert_eq(cairn_state_spool_put(st, "j", &w1, 1, page, strlen(page),
                                     &path, &err), CAIRN_OK, "%s", err.msg);
  file = cairn_strfmt("%s/old-3.zst", dir);
  *strrchr(path, '#') = '\0';
  cr_assert_eq(cairn_fs_read_all(path, &z, &err), CAIRN_OK);
  cr_assert_eq(cairn_fs_write_atomic(file, z.data, z.len, &err), CAIRN_OK);
  cr_assert_eq(cairn_state_spool_get(st, file, &out, &err), CAIRN_OK);
  cr_assert_str_eq(out.data, page);
  cairn_buf_free(&out);
  cairn_buf_free(&z);
  free(file);
  free(path);
}

/* What a power loss can leave of a spool file that was never fsynced:
 * nothing, less of it, or damaged blocks; each is "lost" (CAIRN_DONE),
 * never a wrong page, and the frames before stay readable. */
Test(state, spool_reports_a_missing_cut_or_damaged_page_as_lost)
{
  cairn_err err = {0};
  char *ref1 = NULL, *ref2 = NULL, *file;
  struct cairn_buf out = {0}, z = {0};
  char page[4096];
  for (size_t i = 0; i < sizeof page - 1; i++)
    page[i] = (char)('a' + (i * 7919 % 26));
  page[sizeof page - 1] = '\0';
  cr_assert_eq(cairn_state_spool_put(st, "j", &w1, 1, "first", 5, &ref1,
                                     &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_state_spool_put(st, "j", &w1, 2, page, strlen(page),
                                     &ref2, &err), CAIRN_OK, "%s", err.msg);
  file = cairn_xstrdup(ref2);
  *strrchr(file, '#') = '\0';
  cr_assert_eq(cairn_fs_read_all(file, &z, &err), CAIRN_OK);
  /* a flipped byte in the second frame */
  z.data[z.len - 40] ^= 0x20;
  cr_assert_eq(cairn_fs_write_atomic(file, z.data, z.len, &err), CAIRN_OK);
  cr_assert_eq(cairn_state_spool_get(st, ref2, &out, &err), CAIRN_DONE);
  z.data[z.len - 40] ^= 0x20;
  /* the file cut short */
  cr_assert_eq(cairn_fs_write_atomic(file, z.data, z.len - 3, &err), CAIRN_OK);
  cr_assert_eq(cairn_state_spool_get(st, ref2, &out, &err), CAIRN_DONE);
  /* zeros where the frame was (blocks never written) */
  {
    struct cairn_buf zz = {0};
    cairn_buf_append(&zz, z.data, z.len);
    memset(zz.data + z.len / 2, 0, z.len - z.len / 2);
    cr_assert_eq(cairn_fs_write_atomic(file, zz.data, zz.len, &err), CAIRN_OK);
    cairn_buf_free(&zz);
  }
  cr_assert_eq(cairn_state_spool_get(st, ref2, &out, &err), CAIRN_DONE);
  /* an empty file, then none */
  cr_assert_eq(cairn_fs_write_atomic(file, "", 0, &err), CAIRN_OK);
  cr_assert_eq(cairn_state_spool_get(st, ref1, &out, &err), CAIRN_DONE);
  unlink(file);
  cr_assert_eq(cairn_state_spool_get(st, ref1, &out, &err), CAIRN_DONE);
  cr_assert_eq(out.len, 0);
  cr_assert_eq(err.code, 0, "lost is not an error: %s", err.msg);
  /* the intact file reads back */
  cr_assert_eq(cairn_fs_write_atomic(file, z.data, z.len, &err), CAIRN_OK);
  cr_assert_eq(cairn_state_spool_get(st, ref2, &out, &err), CAIRN_OK);
  cr_assert_str_eq(out.data, page);
  out.len = 0;
  cr_assert_eq(cairn_state_spool_get(st, ref1, &out, &err), CAIRN_OK);
  cr_assert_str_eq(out.data, "first");
  cairn_buf_free(&out);
  cairn_buf_free(&z);
  free(file);
  free(ref1);
  free(ref2);
}

/* A frame cut short by a kill is at the end of the file, referred to by no
 * row; the next page goes after it. */
Test(state, spool_appends_after_a_frame_cut_short)
{
  cairn_err err = {0};
  char *ref1 = NULL, *ref2 = NULL, *file;
  struct cairn_buf out = {0};
  FILE *fp;
  cr_assert_eq(cairn_state_spool_put(st, "j", &w1, 1, "one", 3, &ref1, &err),
               CAIRN_OK, "%s", err.msg);
  file = cairn_xstrdup(ref1);
  *strrchr(file, '#') = '\0';
  fp = fopen(file, "ab");
  fwrite("\x28\xb5\x2f\xfd\x24", 1, 5, fp); /* half a frame */
  fclose(fp);
  cr_assert_eq(cairn_state_spool_put(st, "j", &w1, 2, "two", 3, &ref2, &err),
               CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_state_spool_get(st, ref2, &out, &err), CAIRN_OK);
  cr_assert_str_eq(out.data, "two");
  out.len = 0;
  cr_assert_eq(cairn_state_spool_get(st, ref1, &out, &err), CAIRN_OK);
  cr_assert_str_eq(out.data, "one");
  cairn_buf_free(&out);
  free(file);
  free(ref1);
  free(ref2);
}

Test(state, forgetting_chunks_drops_their_rows_and_quarantine)
{
  cairn_err err = {0};
  struct cairn_chunk_row row = {0};
  struct cairn_batch *b = cairn_batch_create(1);
  struct cairn_buf out = {0};
  char *paths[4] = {0};
  int64_t nq;
  long a, d, seq;
  int resumed;
  cr_assert_eq(cairn_state_attempt_begin(st, "j", "", 0, &a, &resumed, &d,
                                         &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_state_window_claim(st, "j", &w1, a, CAIRN_CLAIM_REDO, &err), CAIRN_OK);
  cairn_batch_reject(b, "$[0]", "[\"bad\"]", "{}", 2, NULL);
  for (long k = 1; k <= 3; k++) {
    char cin[32], cout[32];
    snprintf(cin, sizeof cin, "c%ld", k - 1);
    snprintf(cout, sizeof cout, "c%ld", k);
    cr_assert_eq(cairn_state_spool_put(st, "j", &w1, k, cout, strlen(cout),
                                       &paths[k], &err), CAIRN_OK, "%s",
                 err.msg);
    cr_assert_eq(cairn_state_chunk_extracted(st, "j", &w1, k, cin, cout, 0,
                                             paths[k], "{}", 1, &err),
                 CAIRN_OK, "%s", err.msg);
    cr_assert_eq(cairn_state_chunk_transformed(st, "j", &w1, k, b, "1.0.0", NULL, &err),
                 CAIRN_OK, "%s", err.msg);
  }
  cr_assert_eq(cairn_state_chunk_loaded(st, "j", &w1, 1, "d", NULL, &err),
               CAIRN_OK);
  cr_assert_eq(cairn_state_chunks_forget(st, "j", &w1, 2, &err), CAIRN_OK,
               "%s", err.msg);
  cairn_state_chunk_get(st, "j", &w1, 1, &row, &err);
  cr_assert_eq(row.stage, CAIRN_STAGE_LOADED);
  cr_assert_eq(cairn_state_spool_get(st, row.spool, &out, &err), CAIRN_OK);
  cr_assert_str_eq(out.data, "c1");
  cairn_chunk_row_clear(&row);
  for (long k = 2; k <= 3; k++) {
    cairn_state_chunk_get(st, "j", &w1, k, &row, &err);
    cr_assert_eq(row.stage, CAIRN_STAGE_NONE, "chunk %ld", k);
    cairn_chunk_row_clear(&row);
  }
  cr_assert_eq(cairn_state_quarantine_count(st, "j", &nq, &err), CAIRN_OK);
  cr_assert_eq(nq, 1, "only chunk 1's reject is left");
  cairn_state_loaded_seq(st, "j", &w1, &seq, &err);
  cr_assert_eq(seq, 1);
  for (int k = 1; k <= 3; k++)
    free(paths[k]);
  cairn_buf_free(&out);
  cairn_batch_free(b);
}

/* A child takes the lock of job and dies without releasing it (as by
 * SIGKILL); its pid. */
static pid_t take_lock_and_die(const char *job)
{
  pid_t child = fork();
  if (child == 0) {
    cairn_lock *cl = NULL;
    cairn_err ce = {0};
    long s;
    _exit(cairn_lock_take(dir, job, "r0", &cl, &s, &ce) == CAIRN_OK ? 0 : 1);
  }
  waitpid(child, NULL, 0);
  return child;
}

Test(state, lock_refuses_a_live_holder_and_takes_over_a_dead_one)
{
  cairn_lock *l = NULL, *l2 = NULL;
  cairn_err err = {0};
  long stale = 0;
  int fds[2];
  pid_t child;

  child = take_lock_and_die("j");
  cr_assert_eq(cairn_lock_take(dir, "j", "r1", &l, &stale, &err), CAIRN_OK);
  cr_assert_eq(stale, (long)child, "the dead holder's pid is reported");

  /* While we hold it, a second process is refused with a clear message. */
  cr_assert_eq(pipe(fds), 0);
  child = fork();
  if (child == 0) {
    cairn_lock *cl = NULL;
    cairn_err ce = {0};
    long s;
    int rc = cairn_lock_take(dir, "j", "r2", &cl, &s, &ce);
    if (write(fds[1], ce.msg, strlen(ce.msg) + 1) < 0)
      _exit(2);
    _exit(rc == CAIRN_ELOCKED ? 0 : 1);
  }
  int status;
  char msg[256] = "";
  waitpid(child, &status, 0);
  cr_assert_gt(read(fds[0], msg, sizeof msg - 1), 0);
  cr_assert_eq(WEXITSTATUS(status), 0);
  char want[64];
  snprintf(want, sizeof want, "job j is running (pid %d, since ", (int)getpid());
  cr_assert(strncmp(msg, want, strlen(want)) == 0, "%s", msg);
  cairn_lock_release(l);
  cr_assert_eq(cairn_lock_take(dir, "j", "r3", &l2, &stale, &err), CAIRN_OK);
  cr_assert_eq(stale, 0, "a cleanly released lock is not stale");
  cairn_lock_release(l2);
  close(fds[0]);
  close(fds[1]);
}

/* What cairn status asks: the run a live holder holds the lock for, none
 * for one that died holding it (SIGKILL: no release), nor once let go;
 * asking creates no lock file. */
Test(state, lock_holder_tells_a_live_holder_from_a_dead_one)
{
  cairn_lock *l = NULL;
  cairn_err err = {0};
  char *run = (char *)"?";
  long stale;
  char path[96];

  cr_assert_eq(cairn_lock_holder(dir, "j", &run, &err), CAIRN_OK, "%s",
               err.msg);
  cr_assert_null(run, "no lock file: no holder");
  snprintf(path, sizeof path, "%s/locks/j.lock", dir);
  cr_assert_eq(access(path, F_OK), -1, "asking made no lock file");
  take_lock_and_die("j");
  cr_assert_eq(cairn_lock_holder(dir, "j", &run, &err), CAIRN_OK, "%s",
               err.msg);
  cr_assert_null(run, "a holder that died holding it is not a holder");
  cr_assert_eq(cairn_lock_take(dir, "j", "r1", &l, &stale, &err), CAIRN_OK);
  cr_assert_eq(cairn_lock_holder(dir, "j", &run, &err), CAIRN_OK, "%s",
               err.msg);
  cr_assert_str_eq(run, "r1", "a live holder, and its run");
  free(run);
  cairn_lock_release(l);
  cr_assert_eq(cairn_lock_holder(dir, "j", &run, &err), CAIRN_OK, "%s",
               err.msg);
  cr_assert_null(run, "let go");
}

/* The run a connection counts for gets each commit's counts in that
 * commit: a run killed after it holds what it committed (a run's end
 * wrote them all, and a killed run had none). */
Test(state, a_run_record_counts_what_each_commit_commits)
{
  cairn_err err = {0};
  struct cairn_run_info ri = { .run_id = "r1", .job = "j", .spec = "",
                               .started = 100 };
  struct cairn_batch *b = cairn_batch_create(1);
  json_t *runs, *r;

  cr_assert_eq(cairn_state_run_begin(st, &ri, &err), CAIRN_OK, "%s", err.msg);
  cairn_state_window_claim(st, "j", &w1, 1, CAIRN_CLAIM_REDO, &err);
  cairn_batch_add_row(b);
  cairn_batch_add_row(b);
  cairn_batch_reject(b, "f.csv:3", "x: bad", "raw", 3, NULL);
  /* not counted for any run yet: chunk 1 counts in no record */
  cairn_state_chunk_extracted(st, "j", &w1, 1, NULL, "{\"o\":1}", 0, NULL,
                              "{}", 1, &err);
  cairn_state_chunk_transformed(st, "j", &w1, 1, b, "1.0.0", NULL, &err);
  cairn_state_chunk_loaded(st, "j", &w1, 1, "d", NULL, &err);
  cairn_state_count_for(st, "r1");
  cr_assert_eq(cairn_state_chunk_extracted(st, "j", &w1, 2, "{\"o\":1}",
                                           NULL, 1, NULL, "{}", 1, &err),
               CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_state_chunk_transformed(st, "j", &w1, 2, b, "1.0.0",
                                             NULL, &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_state_run_redone(st, &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_state_chunk_loaded(st, "j", &w1, 2, "d", NULL, &err),
               CAIRN_OK, "%s", err.msg);
  /* loaded again (a sink caught up): not counted twice */
  cr_assert_eq(cairn_state_chunk_loaded(st, "j", &w1, 2, "d", NULL, &err),
               CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_state_window_loaded(st, "j", &w1, 2,
                                         "{\"window\":\"2024-05-01\"}", &err),
               CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_state_runs(st, "j", 1, &runs, &err), CAIRN_OK);
  r = json_array_get(runs, 0);
  cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "running");
  cr_assert_eq(json_integer_value(json_object_get(r, "extracted")), 3);
  cr_assert_eq(json_integer_value(json_object_get(r, "rejected")), 1);
  cr_assert_eq(json_integer_value(json_object_get(r, "loaded")), 2);
  cr_assert_eq(json_integer_value(json_object_get(r, "chunks")), 1);
  cr_assert_eq(json_integer_value(json_object_get(r, "chunks_redone")), 1);
  cr_assert_str_eq(json_string_value(json_object_get(r, "outputs")),
                   "[{\"window\":\"2024-05-01\"}]");
  json_decref(runs);
  /* r1 was killed: the next run marks it so, its outputs kept in its
   * record, however the window is loaded again later. */
  ri.run_id = "r2";
  ri.started = 200;
  cr_assert_eq(cairn_state_run_begin(st, &ri, &err), CAIRN_OK, "%s", err.msg);
  cairn_state_count_for(st, "r2");
  cairn_state_window_claim(st, "j", &w1, 2, CAIRN_CLAIM_REDO, &err);
  cr_assert_eq(cairn_state_window_loaded(st, "j", &w1, 0, "{\"n\":2}", &err),
               CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_state_runs(st, "j", 2, &runs, &err), CAIRN_OK);
  r = json_array_get(runs, 1);
  cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "killed");
  cr_assert_str_eq(json_string_value(json_object_get(r, "outputs")),
                   "[{\"window\":\"2024-05-01\"}]");
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(runs, 0),
                                                     "outputs")),
                   "[{\"n\":2}]");
  json_decref(runs);
  cairn_batch_free(b);
}
