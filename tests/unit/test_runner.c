/* SPDX-License-Identifier: MIT */
/* test_runner.c -- the runner's resume decisions: after a failure at each
 * seam (extract, sink load, state update) the next run starts at the right
 * chunk, never refetches or reloads what is durable, and ends with every
 * chunk loaded exactly once. Faults are injected with CAIRN_TEST_FAULT. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsx.h"
#include "core/log.h"
#include "job/runner.h"

static char dir[64], state_dir[96], out_dir[96];

static void setup(void)
{
  snprintf(dir, sizeof dir, "/tmp/cairn_runner_%d", (int)getpid());
  snprintf(state_dir, sizeof state_dir, "%s/state", dir);
  snprintf(out_dir, sizeof out_dir, "%s/out", dir);
  cairn_fs_remove_tree(dir, NULL);
  cairn_log_init(1, CAIRN_LOG_ERROR, stderr);
  unsetenv("CAIRN_TEST_FAULT");
  unsetenv("CAIRN_TEST_KILL_AT");
}

static void teardown(void)
{
  unsetenv("CAIRN_TEST_FAULT");
  cairn_fs_remove_tree(dir, NULL);
}

TestSuite(runner, .init = setup, .fini = teardown);

/* Run the demo job over the 10-row fixture in chunks of 2 (5 chunks). */
static int run_demo(const char *fault, const char *ratio_input)
{
  const char *params[] = { "chunk_rows=2",
                           ratio_input ? ratio_input
                                       : "input=" CAIRN_TEST_DATA
                                         "/csv/cost10.csv",
                           NULL };
  struct cairn_job_opts jo = { params, CAIRN_SCHEMAS, "sinks", 0, 0, 0, NULL };
  struct cairn_run_opts ro = {0};
  struct cairn_job *job = NULL;
  struct cairn_diag d = {0};
  cairn_err err = {0};
  int rc;

  if (fault)
    setenv("CAIRN_TEST_FAULT", fault, 1);
  else
    unsetenv("CAIRN_TEST_FAULT");
  cr_assert_eq(cairn_job_load("jobs/demo-cost.json", &jo, &job, &d, &err),
               CAIRN_OK, "%s", d.text.data ? d.text.data : err.msg);
  cairn_diag_free(&d);
  ro.state_dir = state_dir;
  ro.out_dir = out_dir;
  rc = cairn_runner_run(job, &ro);
  cairn_job_free(job);
  return rc;
}

static long long q(const char *db_rel, const char *sql)
{
  char *path = cairn_strfmt("%s/%s", dir, db_rel);
  sqlite3 *db;
  sqlite3_stmt *st;
  long long v = -1;
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s",
               sql, sqlite3_errmsg(db));
  if (sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  free(path);
  return v;
}

#define STATE(sql) q("state/cairn.db", sql)
#define WAREHOUSE(sql) q("out/warehouse.db", sql)

static void expect_complete(void)
{
  cr_assert_eq(STATE("SELECT count(*) FROM chunks WHERE stage=3"), 5);
  cr_assert_eq(STATE("SELECT max(load_count) FROM chunks"), 1,
               "no chunk loaded twice");
  cr_assert_eq(STATE("SELECT count(*) FROM windows WHERE status='loaded'"), 1);
  cr_assert_eq(WAREHOUSE("SELECT count(*) FROM cost_record"), 10);
  cr_assert_eq(WAREHOUSE("SELECT count(*) FROM _cairn_chunks"), 5);
}

Test(runner, uninterrupted_run_loads_five_chunks)
{
  cr_assert_eq(run_demo(NULL, NULL), CAIRN_EXIT_OK);
  expect_complete();
  cr_assert_eq(STATE("SELECT chunks_redone FROM runs"), 0);
}

Test(runner, failed_sink_load_resumes_at_that_chunk)
{
  cr_assert_eq(run_demo("sink_load:3", NULL), CAIRN_EXIT_RESUMABLE);
  cr_assert_eq(STATE("SELECT max(seq) FROM chunks WHERE stage=3"), 2,
               "checkpoint did not advance past the failed load");
  cr_assert_eq(STATE("SELECT stage FROM chunks WHERE seq=3"), 2,
               "chunk 3 stays transformed");
  cr_assert_eq(WAREHOUSE("SELECT max(seq) FROM _cairn_chunks"), 2);
  cr_assert_eq(STATE("SELECT exit_code FROM runs"), 3);
  cr_assert_eq(run_demo(NULL, NULL), CAIRN_EXIT_OK);
  expect_complete();
  /* Chunk 3, plus chunk 4 if the producer had already read and mapped it
   * on the other core when the load failed. */
  long long redone = STATE("SELECT chunks_redone FROM runs WHERE resumed=1");
  cr_assert(redone >= 1 && redone <= 2, "redone %lld chunks", redone);
}

Test(runner, sink_ahead_of_state_is_skipped_not_reloaded)
{
  /* The sink commits chunk 2, then the state update fails. */
  cr_assert_eq(run_demo("state_loaded:2", NULL), CAIRN_EXIT_RESUMABLE);
  cr_assert_eq(STATE("SELECT max(seq) FROM chunks WHERE stage=3"), 1);
  cr_assert_eq(WAREHOUSE("SELECT max(seq) FROM _cairn_chunks"), 2,
               "the sink holds chunk 2");
  cr_assert_eq(run_demo(NULL, NULL), CAIRN_EXIT_OK);
  expect_complete();
  cr_assert_eq(WAREHOUSE("SELECT count(*) FROM _cairn_chunks WHERE seq=2"), 1);
}

Test(runner, state_ahead_of_a_sink_reloads_that_sink_only)
{
  /* A power loss before the window ended can take chunks a sink had
   * (bundle parts are not fsynced) while the state kept them: here parts
   * 2 and 3 of the evidence staging go. The rerun starts after chunk 1,
   * loads 2 and 3 into the bundle only, and both outputs end complete. */
  char *p2 = cairn_strfmt("%s/evidence/demo-cost/.staging/all/2.ndjson.zst",
                          out_dir);
  char *p3 = cairn_strfmt("%s/evidence/demo-cost/.staging/all/3.ndjson.zst",
                          out_dir);
  char *tar = cairn_strfmt("%s/evidence/demo-cost/"
                           "demo-cost-all-19700101T000000Z.tar", out_dir);
  char *cmd = cairn_strfmt("tar -xOf %s --wildcards 'parts/*' | zstd -dc | "
                           "wc -l | grep -qx 10", tar);
  cr_assert_eq(run_demo("sink_load:4", NULL), CAIRN_EXIT_RESUMABLE);
  cr_assert_eq(STATE("SELECT max(seq) FROM chunks WHERE stage=3"), 3);
  cr_assert(cairn_fs_exists(p3), "%s", p3);
  cr_assert_eq(unlink(p3), 0);
  cr_assert_eq(unlink(p2), 0);
  cr_assert_eq(run_demo(NULL, NULL), CAIRN_EXIT_OK);
  expect_complete();
  {
    long long redone = STATE("SELECT chunks_redone FROM runs WHERE "
                             "resumed=1");
    /* 2 and 3, and 4 (failed), and 5 if the producer had mapped it */
    cr_assert(redone >= 3 && redone <= 4, "redone %lld chunks", redone);
  }
  cr_assert_eq(WAREHOUSE("SELECT count(*) FROM _cairn_chunks WHERE seq IN "
                         "(2, 3)"), 2, "the warehouse skipped what it held");
  cr_assert_eq(system(cmd), 0, "the bundle holds the 10 rows");
  free(p2);
  free(p3);
  free(tar);
  free(cmd);
}

Test(runner, failed_extract_resumes_from_the_previous_cursor)
{
  cr_assert_eq(run_demo("extract:4", NULL), CAIRN_EXIT_RESUMABLE);
  cr_assert_eq(STATE("SELECT count(*) FROM chunks"), 3,
               "chunk 4 was never extracted");
  cr_assert_eq(run_demo(NULL, NULL), CAIRN_EXIT_OK);
  expect_complete();
  cr_assert_eq(STATE("SELECT chunks_redone FROM runs WHERE resumed=1"), 0,
               "nothing before chunk 4 is redone");
}

Test(runner, completed_run_starts_a_new_attempt_with_same_result)
{
  cr_assert_eq(run_demo(NULL, NULL), CAIRN_EXIT_OK);
  cr_assert_eq(run_demo(NULL, NULL), CAIRN_EXIT_OK);
  expect_complete();
  cr_assert_eq(STATE("SELECT attempt FROM attempts"), 2);
  cr_assert_eq(STATE("SELECT count(*) FROM runs WHERE resumed=1"), 0);
}

Test(runner, too_many_rejects_stop_the_run_resumably)
{
  /* Every row of this file is rejected: it has the demo's header (a
   * header without the mapped columns is refused before the run) and
   * rows of empty fields, so every required field is missing. */
  char header[4096];
  FILE *in = fopen("fixtures/demo/cost.csv", "r");
  FILE *fp = fopen("/tmp/cairn_runner_bad.csv", "w");
  cr_assert(in && fp);
  cr_assert(fgets(header, sizeof header, in));
  fclose(in);
  fputs(header, fp);
  for (int row = 0; row < 2; row++) {
    for (const char *p = header; *p; p++)
      if (*p == ',')
        fputc(',', fp);
    fputc('\n', fp);
  }
  fclose(fp);
  cr_assert_eq(run_demo(NULL, "input=/tmp/cairn_runner_bad.csv"),
               CAIRN_EXIT_RESUMABLE);
  cr_assert_eq(STATE("SELECT count(*) FROM quarantine"), 2);
  cr_assert_eq(STATE("SELECT count(*) FROM chunks WHERE stage=3"), 0,
               "nothing loaded past the guard");
  /* The message says how many, and quotes the first reject, cut short. */
  cr_assert_eq(STATE("SELECT instr(message, 'window all: 2 of 2 records "
                     "rejected (100.0% > max_reject_ratio 5.0%)') > 0 AND "
                     "instr(message, '. The first in this chunk: "
                     "/tmp/cairn_runner_bad.csv:2: billingAccountId: required "
                     "but missing; ') > 0 "
                     "AND message LIKE '%...' FROM runs"), 1);
  remove("/tmp/cairn_runner_bad.csv");
}

/* A window of fewer than 1,000 records may reject one record more than
 * its share: 1 bad row beside 10 good ones (9 %, over the demo's 5 %) is
 * quarantined and the run succeeds; 2 of 12 stop it (all of 2 stop it:
 * too_many_rejects_stop_the_run_resumably). */
Test(runner, few_rejects_in_a_small_window_do_not_stop_the_run)
{
  static const struct { int good, bad, exit_code; } cases[] = {
    { 10, 1, CAIRN_EXIT_OK }, { 10, 2, CAIRN_EXIT_RESUMABLE },
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char line[4096];
    FILE *in = fopen("fixtures/demo/cost.csv", "r");
    FILE *fp = fopen("/tmp/cairn_runner_few.csv", "w");
    cr_assert(in && fp);
    cr_assert(fgets(line, sizeof line, in));
    fputs(line, fp);
    for (int row = 0; row < cases[c].bad; row++) {
      for (const char *p = line; *p; p++)
        if (*p == ',')
          fputc(',', fp);
      fputc('\n', fp);
    }
    for (int row = 0; row < cases[c].good; row++) {
      cr_assert(fgets(line, sizeof line, in));
      fputs(line, fp);
    }
    fclose(in);
    fclose(fp);
    cr_assert_eq(run_demo(NULL, "input=/tmp/cairn_runner_few.csv"),
                 cases[c].exit_code, "%d good, %d bad", cases[c].good,
                 cases[c].bad);
    cr_assert_eq(STATE("SELECT count(*) FROM quarantine"), cases[c].bad);
    if (cases[c].exit_code == CAIRN_EXIT_OK)
      cr_assert_eq(WAREHOUSE("SELECT count(*) FROM cost_record"),
                   cases[c].good);
    else
      cr_assert_eq(STATE("SELECT count(*) FROM windows WHERE "
                         "status='loaded'"), 0, "the window is not done");
    cairn_fs_remove_tree(dir, NULL);
  }
  remove("/tmp/cairn_runner_few.csv");
}

/* A windowed job's run-wide source settings (tls, redact, the correlation
 * header) are read once per run, not per window: they are stored expanded,
 * never as a window template in which '$' is doubled. */
Test(runner, run_wide_source_settings_are_not_window_templates)
{
  const char *params[] = { "ca=/etc/a$$b/${window.start}.pem", NULL };
  struct cairn_job_opts jo = { params, CAIRN_SCHEMAS, "sinks", 0, 0, 0, NULL };
  struct cairn_job *job = NULL;
  struct cairn_diag d = {0};
  cairn_err err = {0};
  char *path = cairn_strfmt("%s/tls.json", dir);
  FILE *f;
  const json_t *src;

  cr_assert_eq(cairn_fs_mkdirs(dir, NULL), 0);
  f = fopen(path, "w");
  cr_assert(f);
  fputs("{\"name\": \"tls\", \"connector_version\": \"1.0.0\","
        " \"window\": \"day\", \"source\": {\"type\": \"http\","
        " \"request\": {\"url\":"
        " \"http://127.0.0.1:1/x?d=${window.start}&k=a$b\"},"
        " \"records\": \"/value\","
        " \"redact\": [\"x-a$$b\"], \"correlation_header\": \"x-$$\","
        " \"tls\": {\"ca_file\": \"${param:ca}\"}},"
        " \"transform\": {\"contract\": \"cmdb_ci\", \"fields\": {"
        " \"ciId\": \"/id\", \"name\": \"/name\", \"tags\": \"/tags\","
        " \"lastSeenUtc\": \"/t\", \"source\": {\"fn\": [{\"const\": \"x\"}]}}},"
        " \"sinks\": [\"warehouse\"]}\n", f);
  fclose(f);
  cr_assert_eq(cairn_job_load(path, &jo, &job, &d, &err), CAIRN_OK, "%s",
               d.text.data ? d.text.data : err.msg);
  cairn_diag_free(&d);
  src = job->source_cfg;
  cr_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(src, "tls"), "ca_file")),
                   "/etc/a$$b/${window.start}.pem");
  cr_assert_str_eq(json_string_value(json_array_get(
                       json_object_get(src, "redact"), 0)), "x-a$$b");
  cr_assert_str_eq(json_string_value(json_object_get(src,
                                                     "correlation_header")),
                   "x-$$");
  /* the url is still a template, expanded per window */
  cr_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(src, "request"), "url")),
                   "http://127.0.0.1:1/x?d=${window.start}&k=a$$b");
  {
    /* the copy the source gets for a window: the url expanded, the
     * run-wide settings as the runner reads them */
    struct cairn_window *w = NULL;
    size_t n = 0;
    json_t *cfg;
    cr_assert_eq(cairn_windows_plan(CAIRN_WINDOW_DAY, "2024-05-01",
                                    "2024-05-02", &w, &n, &err), CAIRN_OK);
    cfg = cairn_expand_window(src, &w[0]);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(cfg, "request"), "url")),
                     "http://127.0.0.1:1/x?d=2024-05-01T00:00:00Z&k=a$b");
    cr_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(cfg, "redact"), 0)), "x-a$$b");
    cr_assert_str_eq(json_string_value(json_object_get(
                         cfg, "correlation_header")), "x-$$");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(cfg, "tls"), "ca_file")),
                     "/etc/a$$b/${window.start}.pem");
    json_decref(cfg);
    free(w);
  }
  cairn_job_free(job);
  free(path);
}
