/* SPDX-License-Identifier: MIT */
/* metrics.h -- a small metrics registry and its Prometheus text exposition.
 *
 * Counters, gauges and histograms (fixed buckets), each series keyed by a
 * label set. One process-global registry collects what a run does (the
 * HTTP layer counts requests and retries, the runner counts records); the
 * runner writes it to <dir>/<job>.prom by temp file + rename for the
 * node_exporter textfile collector, at the end of the run and every few
 * seconds while it runs. Every series gets a job="<job>" label at write
 * time, so callers that do not know the job (HTTP) need not pass it.
 *
 * Output is deterministic: families sorted by name, series by label text,
 * labels by name (histogram "le" last), no timestamps. Values that must
 * outlive a failed run (the last success time, the newest loaded
 * high-water mark, the last run's outcome) are read back from the previous
 * file when a run starts (cairn_metrics_run_start), so a failed or still
 * running run keeps reporting them.
 *
 * Labels are passed as a NULL-terminated list of name, value pairs:
 *     cairn_metrics_add("cairn_records_total", n, "stage", "loaded", NULL);
 * Every call is thread-safe (one mutex per registry). Strings are borrowed
 * and copied. Calls with an invalid metric or label name, or a type that
 * contradicts the family's, do nothing and return CAIRN_EUSAGE. */
#ifndef CAIRN_METRICS_H
#define CAIRN_METRICS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "core/err.h"
#include "core/mem.h"

typedef struct cairn_metrics cairn_metrics;

enum cairn_metric_type {
  CAIRN_METRIC_COUNTER = 1,
  CAIRN_METRIC_GAUGE = 2,
  CAIRN_METRIC_HISTOGRAM = 3,
};

/* The label lists below end with NULL; the compiler checks each call. */
#define CAIRN_SENTINEL __attribute__((sentinel))

/* Most labels one series may carry (job included). */
#define CAIRN_METRICS_MAX_LABELS 8
/* Most finite buckets a histogram may have (+Inf is implied). */
#define CAIRN_METRICS_MAX_BUCKETS 24
/* Seconds between writes during a run: $CAIRN_METRICS_INTERVAL or this. */
#define CAIRN_METRICS_INTERVAL_S 15

/* ---- registry ------------------------------------------------------- */

/* New empty registry; free with cairn_metrics_free() (NULL ok). */
cairn_metrics *cairn_metrics_create(void);
void cairn_metrics_free(cairn_metrics *m);

/* The process-global registry, created on first use with every standard
 * cairn_* family defined (HELP text, type, buckets) but no series. Never
 * NULL; lives until exit. */
cairn_metrics *cairn_metrics_global(void);

/* Drop every series (families and their definitions stay). */
void cairn_metrics_reset(cairn_metrics *m);

/* Define a family. 'buckets' (ascending, finite, at most
 * CAIRN_METRICS_MAX_BUCKETS) only for histograms; NULL there means the
 * default latency buckets (5 ms .. 120 s). Redefining with the same type
 * updates the help text; another type is CAIRN_EUSAGE. A family used
 * before being defined is defined implicitly with its name as help and
 * the default buckets. */
int cairn_metrics_define(cairn_metrics *m, const char *name, int type,
                         const char *help, const double *buckets,
                         size_t n_buckets);

/* Counter += v (v >= 0, else CAIRN_EUSAGE). Labels: name, value, ..., NULL. */
int cairn_metrics_counter_add(cairn_metrics *m, const char *name, double v,
                              ...) CAIRN_SENTINEL;
/* Gauge = v. */
int cairn_metrics_gauge_set(cairn_metrics *m, const char *name, double v,
                            ...) CAIRN_SENTINEL;
/* Gauge = max(gauge, v); an unset gauge becomes v. */
int cairn_metrics_gauge_max(cairn_metrics *m, const char *name, double v,
                            ...) CAIRN_SENTINEL;
/* Histogram observation. */
int cairn_metrics_observe_in(cairn_metrics *m, const char *name, double v,
                             ...) CAIRN_SENTINEL;
/* va_list forms of the three above; 'type' picks the operation:
 * COUNTER adds, GAUGE sets, HISTOGRAM observes. */
int cairn_metrics_vupdate(cairn_metrics *m, int type, const char *name,
                          double v, va_list labels);

/* Value of one counter or gauge series (exact label set, job excluded),
 * or the observation count of a histogram series; 0 when absent. */
double cairn_metrics_value(cairn_metrics *m, const char *name, ...);
/* Sum of a counter/gauge family over all its series (histograms: total
 * count); 0 when absent. E.g. every retry: cairn_metrics_sum(m,
 * "cairn_http_retries_total"). */
double cairn_metrics_sum(cairn_metrics *m, const char *name);

/* ---- exposition ----------------------------------------------------- */

/* Append the text exposition of m to out, adding job="<job>" to every
 * series (job may be NULL: no job label). When the family
 * cairn_sync_high_water_timestamp_seconds has a series,
 * cairn_sync_lag_seconds = now - that mark is added for it. */
void cairn_metrics_format(cairn_metrics *m, const char *job,
                          struct cairn_buf *out);

/* Read back the carried-over gauges (cairn_run_success,
 * cairn_run_exit_code, cairn_run_duration_seconds,
 * cairn_last_run_timestamp_seconds, cairn_last_success_timestamp_seconds,
 * cairn_sync_high_water_timestamp_seconds, cairn_dlq_depth) from the text
 * of an earlier exposition; the job label is dropped, series this registry
 * already holds are kept. Other lines are ignored; returns the number of
 * series taken. */
int cairn_metrics_load(cairn_metrics *m, const char *text);

/* Write m to <dir>/<job>.prom atomically (temp "<job>.prom.tmp.<pid>",
 * fsync, rename: the textfile collector ignores names not ending in
 * .prom), creating dir. CAIRN_EUSAGE for an empty job or one with '/',
 * CAIRN_EIO on failure (the previous file is then untouched). Writes to
 * one registry are serialised. */
int cairn_metrics_write_to(cairn_metrics *m, const char *dir, const char *job,
                           cairn_err *err);

/* Resolve the metrics directory: flag (--metrics-dir), else
 * $CAIRN_METRICS_DIR, else <state_dir>/metrics. New string. */
char *cairn_metrics_dir(const char *flag, const char *state_dir);

/* ---- the global registry: what the runner and HTTP layer call ------- */

/* The global registry's cairn_metrics_write_to(). */
int cairn_metrics_write(const char *dir, const char *job, cairn_err *err);

/* Counter add / gauge set / histogram observe on the global registry.
 * Labels: name, value, ..., NULL. Errors are ignored (metrics never fail
 * a run). */
void cairn_metrics_add(const char *name, double v, ...) CAIRN_SENTINEL;
void cairn_metrics_set(const char *name, double v, ...) CAIRN_SENTINEL;
void cairn_metrics_observe(const char *name, double v, ...) CAIRN_SENTINEL;

/* One HTTP exchange: cairn_http_requests_total{code} += 1 and
 * cairn_http_request_duration_seconds observes 'seconds'. code is the
 * HTTP status, or 0 for a transport failure (label code="error"). */
void cairn_metrics_http(long code, double seconds);
/* One retry: cairn_http_retries_total{reason} += 1. reason is a short
 * fixed word: "429", "5xx", "timeout", "connection", "auth", ... */
void cairn_metrics_retry(const char *reason);
/* cairn_circuit_open = open (0/1). */
void cairn_metrics_circuit(int open);
/* Records through a stage: cairn_records_total{stage} += n; stage is
 * "extracted", "loaded" or "quarantined". */
void cairn_metrics_records(const char *stage, int64_t n);
/* A loaded high-water mark (epoch seconds of the newest data made
 * durable): cairn_sync_high_water_timestamp_seconds = max(itself, t). The
 * lag, cairn_sync_lag_seconds = now - that mark, is computed at write. */
void cairn_metrics_high_water(int64_t t);

/* Beginning of a run: reset the global registry, load the carried-over
 * gauges from <dir>/<job>.prom when it exists, and set
 * cairn_run_in_progress = 1, cairn_circuit_open = 0 and
 * cairn_run_start_timestamp_seconds = now (cairn_clock_now()). */
void cairn_metrics_run_start(const char *dir, const char *job);
/* End of a run: cairn_run_in_progress = 0, cairn_run_success (1 when
 * exit_code is 0), cairn_run_exit_code, cairn_run_duration_seconds,
 * cairn_last_run_timestamp_seconds = now (the run's end, the same time the
 * state's runs table records), cairn_dlq_depth (when >= 0) and, on
 * success, cairn_last_success_timestamp_seconds = now. On failure
 * last_success (> 0: from the state's runs table) sets the last success
 * time when it is newer than the carried-over one. Does not write. */
void cairn_metrics_run_end(int exit_code, double seconds, int64_t dlq_depth,
                           int64_t last_success, int64_t now);

/* Start / stop a background thread that writes the global registry to
 * <dir>/<job>.prom every interval_s seconds (<= 0: $CAIRN_METRICS_INTERVAL
 * or CAIRN_METRICS_INTERVAL_S). One at a time; start while running is
 * CAIRN_EUSAGE. stop joins the thread (no-op when none) and does not
 * write: the caller writes the final state itself. */
int  cairn_metrics_flusher_start(const char *dir, const char *job,
                                 int interval_s, cairn_err *err);
void cairn_metrics_flusher_stop(void);

#endif
