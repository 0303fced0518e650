/* SPDX-License-Identifier: MIT */
/* test_metrics.c -- the metrics registry: counter, gauge and histogram
 * arithmetic, the exact exposition text, label and help escaping, the
 * atomic file write, carry-over of run gauges between runs, thread safety;
 * and the progress line's text. Criterion forks per test, so each test
 * starts with a fresh global registry. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fsx.h"
#include "core/metrics.h"
#include "job/progress.h"

static char dir[64];

static void setup(void)
{
  snprintf(dir, sizeof dir, "/tmp/cairn_metrics_%d", (int)getpid());
  cairn_fs_remove_tree(dir, NULL);
  setenv("CAIRN_TEST_NOW", "1700000000", 1);
  unsetenv("CAIRN_METRICS_DIR");
}

static void teardown(void)
{
  cairn_fs_remove_tree(dir, NULL);
}

TestSuite(metrics, .init = setup, .fini = teardown);

static char *format(cairn_metrics *m, const char *job)
{
  struct cairn_buf b = {0};
  cairn_metrics_format(m, job, &b);
  return cairn_buf_take(&b);
}

static char *slurp(const char *path)
{
  struct cairn_buf b = {0};
  cairn_err err = {0};
  cr_assert_eq(cairn_fs_read_all(path, &b, &err), CAIRN_OK, "%s", err.msg);
  return cairn_buf_take(&b);
}

Test(metrics, counters_add_per_label_set_and_refuse_negative_steps)
{
  cairn_metrics *m = cairn_metrics_create();
  cr_assert_eq(cairn_metrics_counter_add(m, "x_total", 2, "code", "200",
                                         NULL), CAIRN_OK);
  cairn_metrics_counter_add(m, "x_total", 3, "code", "200", NULL);
  cairn_metrics_counter_add(m, "x_total", 1, "code", "429", NULL);
  cr_assert_eq(cairn_metrics_counter_add(m, "x_total", -1, "code", "200",
                                         NULL), CAIRN_EUSAGE);
  cr_assert_float_eq(cairn_metrics_value(m, "x_total", "code", "200", NULL),
                     5.0, 1e-12);
  cr_assert_float_eq(cairn_metrics_value(m, "x_total", "code", "429", NULL),
                     1.0, 1e-12);
  cr_assert_float_eq(cairn_metrics_sum(m, "x_total"), 6.0, 1e-12);
  cr_assert_float_eq(cairn_metrics_value(m, "x_total", "code", "500", NULL),
                     0.0, 1e-12, "absent series reads 0");
  /* Label order in the call does not matter: the set is the key. */
  cairn_metrics_counter_add(m, "y_total", 1, "b", "2", "a", "1", NULL);
  cairn_metrics_counter_add(m, "y_total", 1, "a", "1", "b", "2", NULL);
  cr_assert_float_eq(cairn_metrics_value(m, "y_total", "a", "1", "b", "2",
                                         NULL), 2.0, 1e-12);
  cairn_metrics_free(m);
}

Test(metrics, gauges_set_and_max_and_types_do_not_mix)
{
  cairn_metrics *m = cairn_metrics_create();
  cairn_metrics_gauge_set(m, "g", 5, NULL);
  cairn_metrics_gauge_set(m, "g", 3, NULL);
  cr_assert_float_eq(cairn_metrics_value(m, "g", NULL), 3.0, 1e-12);
  cairn_metrics_gauge_max(m, "g", 2, NULL);
  cr_assert_float_eq(cairn_metrics_value(m, "g", NULL), 3.0, 1e-12);
  cairn_metrics_gauge_max(m, "g", 9, NULL);
  cr_assert_float_eq(cairn_metrics_value(m, "g", NULL), 9.0, 1e-12);
  cairn_metrics_gauge_max(m, "h", -4, NULL);
  cr_assert_float_eq(cairn_metrics_value(m, "h", NULL), -4.0, 1e-12,
                     "an unset gauge takes the first max");
  cr_assert_eq(cairn_metrics_counter_add(m, "g", 1, NULL), CAIRN_EUSAGE);
  cr_assert_eq(cairn_metrics_define(m, "g", CAIRN_METRIC_COUNTER, "x", NULL,
                                    0), CAIRN_EUSAGE);
  cairn_metrics_free(m);
}

Test(metrics, invalid_names_and_labels_are_refused)
{
  cairn_metrics *m = cairn_metrics_create();
  cr_assert_eq(cairn_metrics_gauge_set(m, "1bad", 1, NULL), CAIRN_EUSAGE);
  cr_assert_eq(cairn_metrics_gauge_set(m, "bad-name", 1, NULL), CAIRN_EUSAGE);
  cr_assert_eq(cairn_metrics_gauge_set(m, "ok", 1, "bad-label", "v", NULL),
               CAIRN_EUSAGE);
  cr_assert_eq(cairn_metrics_gauge_set(m, "ok", 1, "__reserved", "v", NULL),
               CAIRN_EUSAGE);
  cr_assert_eq(cairn_metrics_gauge_set(m, "ok", 1, "a", "1", "a", "2", NULL),
               CAIRN_EUSAGE, "duplicate label");
  cr_assert_eq(cairn_metrics_observe_in(m, "hist", 1, "le", "5", NULL),
               CAIRN_EUSAGE, "le is the histogram's own label");
  {
    double unsorted[] = { 1, 0.5 };
    cr_assert_eq(cairn_metrics_define(m, "h2", CAIRN_METRIC_HISTOGRAM, "h",
                                      unsorted, 2), CAIRN_EUSAGE);
  }
  cr_assert_eq(cairn_metrics_gauge_set(m, "ok:colon_name", 1, NULL), CAIRN_OK);
  cairn_metrics_free(m);
}

Test(metrics, histogram_buckets_are_cumulative_and_inclusive)
{
  cairn_metrics *m = cairn_metrics_create();
  double b[] = { 0.1, 1, 10 };
  char *text;

  cr_assert_eq(cairn_metrics_define(m, "lat_seconds", CAIRN_METRIC_HISTOGRAM,
                                    "Latency.", b, 3), CAIRN_OK);
  cairn_metrics_observe_in(m, "lat_seconds", 0.05, NULL);
  cairn_metrics_observe_in(m, "lat_seconds", 0.1, NULL);  /* le is <= */
  cairn_metrics_observe_in(m, "lat_seconds", 0.5, NULL);
  cairn_metrics_observe_in(m, "lat_seconds", 10, NULL);
  cairn_metrics_observe_in(m, "lat_seconds", 99, NULL);
  text = format(m, NULL);
  cr_assert_str_eq(text,
                   "# HELP lat_seconds Latency.\n"
                   "# TYPE lat_seconds histogram\n"
                   "lat_seconds_bucket{le=\"0.1\"} 2\n"
                   "lat_seconds_bucket{le=\"1\"} 3\n"
                   "lat_seconds_bucket{le=\"10\"} 4\n"
                   "lat_seconds_bucket{le=\"+Inf\"} 5\n"
                   "lat_seconds_sum 109.65\n"
                   "lat_seconds_count 5\n");
  cr_assert_float_eq(cairn_metrics_value(m, "lat_seconds", NULL), 5.0, 1e-12);
  free(text);
  cairn_metrics_free(m);
}

Test(metrics, exposition_text_is_sorted_and_exact)
{
  cairn_metrics *m = cairn_metrics_global();
  char *text;

  cairn_metrics_http(200, 0.2);
  cairn_metrics_http(200, 0.3);
  cairn_metrics_http(429, 0.01);
  cairn_metrics_http(0, 30);
  cairn_metrics_retry("429");
  cairn_metrics_retry("timeout");
  cairn_metrics_records("loaded", 90);
  cairn_metrics_records("extracted", 100);
  cairn_metrics_records("quarantined", 10);
  cairn_metrics_circuit(1);
  cairn_metrics_high_water(1699999000);
  cairn_metrics_high_water(1699990000);   /* older: the max stays */
  text = format(m, "demo-cost");
  cr_assert_str_eq(text,
    "# HELP cairn_circuit_open 1 while the HTTP circuit breaker is open "
    "(requests are not sent).\n"
    "# TYPE cairn_circuit_open gauge\n"
    "cairn_circuit_open{job=\"demo-cost\"} 1\n"
    "# HELP cairn_http_request_duration_seconds Duration of HTTP exchanges, "
    "retries included one by one.\n"
    "# TYPE cairn_http_request_duration_seconds histogram\n"
    "cairn_http_request_duration_seconds_bucket{job=\"demo-cost\","
    "le=\"0.005\"} 0\n"
    "cairn_http_request_duration_seconds_bucket{job=\"demo-cost\","
    "le=\"0.01\"} 1\n"
    "cairn_http_request_duration_seconds_bucket{job=\"demo-cost\","
    "le=\"0.025\"} 1\n"
    "cairn_http_request_duration_seconds_bucket{job=\"demo-cost\","
    "le=\"0.05\"} 1\n"
    "cairn_http_request_duration_seconds_bucket{job=\"demo-cost\","
    "le=\"0.1\"} 1\n"
    "cairn_http_request_duration_seconds_bucket{job=\"demo-cost\","
    "le=\"0.25\"} 2\n"
    "cairn_http_request_duration_seconds_bucket{job=\"demo-cost\","
    "le=\"0.5\"} 3\n"
    "cairn_http_request_duration_seconds_bucket{job=\"demo-cost\","
    "le=\"1\"} 3\n"
    "cairn_http_request_duration_seconds_bucket{job=\"demo-cost\","
    "le=\"2.5\"} 3\n"
    "cairn_http_request_duration_seconds_bucket{job=\"demo-cost\","
    "le=\"5\"} 3\n"
    "cairn_http_request_duration_seconds_bucket{job=\"demo-cost\","
    "le=\"10\"} 3\n"
    "cairn_http_request_duration_seconds_bucket{job=\"demo-cost\","
    "le=\"30\"} 4\n"
    "cairn_http_request_duration_seconds_bucket{job=\"demo-cost\","
    "le=\"60\"} 4\n"
    "cairn_http_request_duration_seconds_bucket{job=\"demo-cost\","
    "le=\"120\"} 4\n"
    "cairn_http_request_duration_seconds_bucket{job=\"demo-cost\","
    "le=\"+Inf\"} 4\n"
    "cairn_http_request_duration_seconds_sum{job=\"demo-cost\"} 30.51\n"
    "cairn_http_request_duration_seconds_count{job=\"demo-cost\"} 4\n"
    "# HELP cairn_http_requests_total HTTP exchanges of the current or last "
    "run, by status code (\"error\": no response).\n"
    "# TYPE cairn_http_requests_total counter\n"
    "cairn_http_requests_total{code=\"200\",job=\"demo-cost\"} 2\n"
    "cairn_http_requests_total{code=\"429\",job=\"demo-cost\"} 1\n"
    "cairn_http_requests_total{code=\"error\",job=\"demo-cost\"} 1\n"
    "# HELP cairn_http_retries_total HTTP retries of the current or last "
    "run, by reason.\n"
    "# TYPE cairn_http_retries_total counter\n"
    "cairn_http_retries_total{job=\"demo-cost\",reason=\"429\"} 1\n"
    "cairn_http_retries_total{job=\"demo-cost\",reason=\"timeout\"} 1\n"
    "# HELP cairn_records_total Records of the current or last run, by "
    "stage (extracted, loaded, quarantined).\n"
    "# TYPE cairn_records_total counter\n"
    "cairn_records_total{job=\"demo-cost\",stage=\"extracted\"} 100\n"
    "cairn_records_total{job=\"demo-cost\",stage=\"loaded\"} 90\n"
    "cairn_records_total{job=\"demo-cost\",stage=\"quarantined\"} 10\n"
    "# HELP cairn_sync_high_water_timestamp_seconds Newest loaded high-water "
    "mark: time the loaded data reaches (Unix time).\n"
    "# TYPE cairn_sync_high_water_timestamp_seconds gauge\n"
    "cairn_sync_high_water_timestamp_seconds{job=\"demo-cost\"} 1699999000\n"
    "# HELP cairn_sync_lag_seconds Now minus the newest loaded high-water "
    "mark.\n"
    "# TYPE cairn_sync_lag_seconds gauge\n"
    "cairn_sync_lag_seconds{job=\"demo-cost\"} 1000\n");
  free(text);
}

Test(metrics, label_values_and_help_are_escaped)
{
  cairn_metrics *m = cairn_metrics_create();
  char *text;

  cairn_metrics_define(m, "odd", CAIRN_METRIC_GAUGE,
                       "back\\slash and\nnewline \"quoted\"", NULL, 0);
  cairn_metrics_gauge_set(m, "odd", 0.25, "path", "C:\\dir\n\"x\"", NULL);
  text = format(m, "j\"b");
  cr_assert_str_eq(text,
                   "# HELP odd back\\\\slash and\\nnewline \"quoted\"\n"
                   "# TYPE odd gauge\n"
                   "odd{job=\"j\\\"b\",path=\"C:\\\\dir\\n\\\"x\\\"\"} 0.25\n");
  free(text);
  cairn_metrics_free(m);
}

Test(metrics, values_print_shortest_round_trip_and_specials)
{
  cairn_metrics *m = cairn_metrics_create();
  char *text;
  cairn_metrics_gauge_set(m, "a", 0.1, NULL);
  cairn_metrics_gauge_set(m, "b", 1.0 / 3.0, NULL);
  cairn_metrics_gauge_set(m, "c", 1e300, NULL);
  cairn_metrics_gauge_set(m, "d", -1.0 / 0.0, NULL);
  cairn_metrics_gauge_set(m, "e", 0.0 / 0.0, NULL);
  cairn_metrics_gauge_set(m, "f", 1700000000, NULL);
  text = format(m, NULL);
  cr_assert(strstr(text, "\na 0.1\n"), "%s", text);
  cr_assert(strstr(text, "\nb 0.33333333333333331\n"), "%s", text);
  cr_assert(strstr(text, "\nc 1e+300\n"), "%s", text);
  cr_assert(strstr(text, "\nd -Inf\n"), "%s", text);
  cr_assert(strstr(text, "\ne NaN\n"), "%s", text);
  cr_assert(strstr(text, "\nf 1700000000\n"), "%s", text);
  free(text);
  cairn_metrics_free(m);
}

Test(metrics, write_is_atomic_and_leaves_no_temp_file)
{
  cairn_err err = {0};
  char path[128], *text;
  struct stat st1, st2;
  DIR *d;
  struct dirent *e;
  int n_files = 0;

  cairn_metrics_set("cairn_run_success", 1, NULL);
  /* Into a directory that does not exist yet: it is created. */
  snprintf(path, sizeof path, "%s/m", dir);
  cr_assert_eq(cairn_metrics_write(path, "demo-cost", &err), CAIRN_OK, "%s",
               err.msg);
  snprintf(path, sizeof path, "%s/m/demo-cost.prom", dir);
  cr_assert_eq(stat(path, &st1), 0);
  cairn_metrics_set("cairn_run_success", 0, NULL);
  snprintf(path, sizeof path, "%s/m", dir);
  cr_assert_eq(cairn_metrics_write(path, "demo-cost", &err), CAIRN_OK);
  snprintf(path, sizeof path, "%s/m/demo-cost.prom", dir);
  cr_assert_eq(stat(path, &st2), 0);
  cr_assert_neq(st1.st_ino, st2.st_ino, "replaced by rename, not rewritten");
  text = slurp(path);
  cr_assert(strstr(text, "cairn_run_success{job=\"demo-cost\"} 0\n"), "%s",
            text);
  free(text);
  snprintf(path, sizeof path, "%s/m", dir);
  d = opendir(path);
  cr_assert_not_null(d);
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') {
      n_files++;
      cr_assert_str_eq(e->d_name, "demo-cost.prom");
    }
  closedir(d);
  cr_assert_eq(n_files, 1);
  /* Bad job names never reach the file system. */
  cr_assert_eq(cairn_metrics_write(path, "../x", &err), CAIRN_EUSAGE);
  cr_assert_eq(cairn_metrics_write(path, "", NULL), CAIRN_EUSAGE);
}

Test(metrics, failed_write_keeps_the_previous_file)
{
  cairn_err err = {0};
  char mdir[128], path[160], tmp[200], *before, *after;

  snprintf(mdir, sizeof mdir, "%s/m", dir);
  snprintf(path, sizeof path, "%s/j.prom", mdir);
  cairn_metrics_set("cairn_run_success", 1, NULL);
  cr_assert_eq(cairn_metrics_write(mdir, "j", &err), CAIRN_OK, "%s", err.msg);
  before = slurp(path);
  /* A directory squatting on the temp name makes the write fail even for
   * root (permissions would not). */
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  cr_assert_eq(mkdir(tmp, 0755), 0);
  cairn_metrics_set("cairn_run_success", 0, NULL);
  cr_assert_eq(cairn_metrics_write(mdir, "j", &err), CAIRN_EIO);
  cr_assert(strstr(err.msg, ".tmp."), "%s", err.msg);
  rmdir(tmp);
  after = slurp(path);
  cr_assert_str_eq(after, before);
  free(before);
  free(after);
}

Test(metrics, failed_run_keeps_the_previous_success_time)
{
  char mdir[128], path[160], *text;
  cairn_err err = {0};

  snprintf(mdir, sizeof mdir, "%s/m", dir);
  snprintf(path, sizeof path, "%s/nightly.prom", mdir);
  /* Run 1 succeeds at t = 1700000000. */
  cairn_metrics_run_start(mdir, "nightly");
  cairn_metrics_high_water(1699990000);
  cairn_metrics_run_end(0, 12.5, 3, 0, cairn_clock_now());
  cr_assert_eq(cairn_metrics_write(mdir, "nightly", &err), CAIRN_OK);
  /* Run 2, a day later, fails. */
  setenv("CAIRN_TEST_NOW", "1700086400", 1);
  cairn_metrics_run_start(mdir, "nightly");
  text = format(cairn_metrics_global(), "nightly");
  cr_assert(strstr(text, "cairn_run_in_progress{job=\"nightly\"} 1\n"));
  cr_assert(strstr(text, "cairn_run_success{job=\"nightly\"} 1\n"),
            "the last finished run is still reported while running: %s",
            text);
  cr_assert(strstr(text, "cairn_records_total{job=\"nightly\","
                         "stage=\"loaded\"} 0\n"));
  free(text);
  cairn_metrics_run_end(3, 1.5, 4, 0, cairn_clock_now());
  cr_assert_eq(cairn_metrics_write(mdir, "nightly", &err), CAIRN_OK);
  text = slurp(path);
  cr_assert(strstr(text, "cairn_run_success{job=\"nightly\"} 0\n"), "%s",
            text);
  cr_assert(strstr(text, "cairn_run_exit_code{job=\"nightly\"} 3\n"));
  cr_assert(strstr(text, "cairn_last_success_timestamp_seconds{job="
                         "\"nightly\"} 1700000000\n"), "%s", text);
  cr_assert(strstr(text, "cairn_last_run_timestamp_seconds{job=\"nightly\"} "
                         "1700086400\n"));
  cr_assert(strstr(text, "cairn_sync_high_water_timestamp_seconds{job="
                         "\"nightly\"} 1699990000\n"), "%s", text);
  cr_assert(strstr(text, "cairn_sync_lag_seconds{job=\"nightly\"} 96400\n"),
            "%s", text);
  cr_assert(strstr(text, "cairn_dlq_depth{job=\"nightly\"} 4\n"));
  cr_assert(strstr(text, "cairn_run_in_progress{job=\"nightly\"} 0\n"));
  free(text);
}

Test(metrics, state_success_time_fills_in_when_the_file_is_gone)
{
  char *text;
  cairn_metrics_run_start(dir, "fresh");       /* no previous file */
  cairn_metrics_run_end(3, 2, -1, 1699000000, cairn_clock_now());
  text = format(cairn_metrics_global(), "fresh");
  cr_assert(strstr(text, "cairn_last_success_timestamp_seconds{job="
                         "\"fresh\"} 1699000000\n"), "%s", text);
  cr_assert_null(strstr(text, "cairn_dlq_depth"), "unknown depth: no series");
  free(text);
}

Test(metrics, load_reads_back_only_carried_gauges)
{
  cairn_metrics *m = cairn_metrics_create();
  char *text;
  int n = cairn_metrics_load(m,
      "# HELP cairn_run_success x\n"
      "# TYPE cairn_run_success gauge\n"
      "cairn_run_success{job=\"a\"} 1\n"
      "cairn_records_total{job=\"a\",stage=\"loaded\"} 5\n"
      "cairn_last_success_timestamp_seconds{job=\"a\\\"q\"} 1.5e9\n"
      "garbage line\n"
      "cairn_dlq_depth{job=\"a\" 7\n");
  cr_assert_eq(n, 2);
  text = format(m, "a");
  cr_assert_str_eq(text,
                   "# HELP cairn_last_success_timestamp_seconds "
                   "cairn_last_success_timestamp_seconds\n"
                   "# TYPE cairn_last_success_timestamp_seconds gauge\n"
                   "cairn_last_success_timestamp_seconds{job=\"a\"} "
                   "1500000000\n"
                   "# HELP cairn_run_success cairn_run_success\n"
                   "# TYPE cairn_run_success gauge\n"
                   "cairn_run_success{job=\"a\"} 1\n");
  /* A series this run already set wins over the file. */
  cairn_metrics_gauge_set(m, "cairn_run_success", 0, NULL);
  cairn_metrics_load(m, "cairn_run_success{job=\"a\"} 1\n");
  cr_assert_float_eq(cairn_metrics_value(m, "cairn_run_success", NULL), 0.0,
                     1e-12);
  free(text);
  cairn_metrics_free(m);
}

Test(metrics, metrics_dir_resolution)
{
  char *d = cairn_metrics_dir("/flag", "st");
  cr_assert_str_eq(d, "/flag");
  free(d);
  setenv("CAIRN_METRICS_DIR", "/env", 1);
  d = cairn_metrics_dir(NULL, "st");
  cr_assert_str_eq(d, "/env");
  free(d);
  unsetenv("CAIRN_METRICS_DIR");
  d = cairn_metrics_dir(NULL, "st");
  cr_assert_str_eq(d, "st/metrics");
  free(d);
}

static void *hammer(void *arg)
{
  (void)arg;
  for (int i = 0; i < 20000; i++) {
    cairn_metrics_retry(i % 2 ? "429" : "5xx");
    cairn_metrics_http(200, 0.001);
  }
  return NULL;
}

Test(metrics, concurrent_updates_lose_nothing)
{
  pthread_t t[8];
  for (int i = 0; i < 8; i++)
    pthread_create(&t[i], NULL, hammer, NULL);
  for (int i = 0; i < 8; i++)
    pthread_join(t[i], NULL);
  cr_assert_float_eq(cairn_metrics_sum(cairn_metrics_global(),
                                       "cairn_http_retries_total"),
                     160000.0, 1e-9);
  cr_assert_float_eq(cairn_metrics_value(cairn_metrics_global(),
                                         "cairn_http_request_duration_seconds",
                                         NULL), 160000.0, 1e-9);
}

Test(metrics, flusher_writes_periodically_and_stops)
{
  cairn_err err = {0};
  char mdir[128], path[160];

  snprintf(mdir, sizeof mdir, "%s/m", dir);
  snprintf(path, sizeof path, "%s/long.prom", mdir);
  cairn_metrics_run_start(mdir, "long");
  cr_assert_eq(cairn_metrics_flusher_start(mdir, "long", 1, &err), CAIRN_OK);
  cr_assert_eq(cairn_metrics_flusher_start(mdir, "long", 1, &err),
               CAIRN_EUSAGE, "one at a time");
  for (int i = 0; i < 40 && !cairn_fs_exists(path); i++)
    usleep(100 * 1000);
  cairn_metrics_flusher_stop();
  cairn_metrics_flusher_stop();                 /* harmless twice */
  cr_assert(cairn_fs_exists(path), "written while the run is in progress");
}

/* Not a check: writes a realistic file for tests/cli/metrics.sh to feed to
 * `promtool check metrics` when $CAIRN_METRICS_SAMPLE names a path. */
Test(metrics, sample_file_for_promtool)
{
  const char *out = getenv("CAIRN_METRICS_SAMPLE");
  char *d, *slash;
  cairn_err err = {0};

  cairn_metrics_run_start(dir, "sample-job");
  cairn_metrics_http(200, 0.12);
  cairn_metrics_http(503, 1.2);
  cairn_metrics_http(0, 30);
  cairn_metrics_retry("5xx");
  cairn_metrics_retry("timeout");
  cairn_metrics_records("extracted", 2000);
  cairn_metrics_records("loaded", 1990);
  cairn_metrics_records("quarantined", 10);
  cairn_metrics_add("cairn_chunks_total", 4, "stage", "loaded", NULL);
  cairn_metrics_high_water(1699990000);
  cairn_metrics_run_end(0, 3.25, 10, 0, cairn_clock_now());
  if (!out || !*out)
    return;
  d = cairn_xstrdup(out);
  slash = strrchr(d, '/');
  cr_assert_not_null(slash, "CAIRN_METRICS_SAMPLE must be a path with a /");
  *slash = '\0';
  cr_assert_eq(cairn_metrics_write(d, "sample-job", &err), CAIRN_OK, "%s",
               err.msg);
  free(d);
}

/* ---- progress ----------------------------------------------------------- */

Test(progress, line_shows_rate_retries_and_eta)
{
  char line[256];
  cairn_progress_render("demo-cost", 12345, 13, 2, 50000, 2000, line,
                        sizeof line);
  cr_assert_str_eq(line, "demo-cost  12,345/50,000 records  13 chunks  "
                         "6,173 rec/s  2 retries  ETA 0:06");
  cairn_progress_render("j", 1, 1, 0, -1, 0, line, sizeof line);
  cr_assert_str_eq(line, "j  1 records  1 chunk  0 rec/s");
  cairn_progress_render("j", 100, 2, 1, 100, 1000, line, sizeof line);
  cr_assert_str_eq(line, "j  100/100 records  2 chunks  100 rec/s  1 retry");
  cairn_progress_render("j", 10, 1, 0, 36010, 1000, line, sizeof line);
  cr_assert_str_eq(line, "j  10/36,010 records  1 chunk  10 rec/s  "
                         "ETA 1:00:00");
}

Test(progress, silent_when_stderr_is_not_a_tty)
{
  char buf[64] = "";
  FILE *f = tmpfile();
  int saved = dup(2);
  dup2(fileno(f), 2);
  cairn_progress_start("x");
  cairn_progress_update(1, 1, 0, -1);
  cairn_progress_end();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  rewind(f);
  cr_assert_eq(fread(buf, 1, sizeof buf - 1, f), 0u, "wrote: %s", buf);
  fclose(f);
}
