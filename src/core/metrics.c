/* SPDX-License-Identifier: MIT */
/* metrics.c -- the metrics registry, its Prometheus text exposition, the
 * carry-over of run gauges between runs, and the periodic writer thread.
 *
 * A registry is a list of families (name, type, help, buckets), each a
 * list of series keyed by a label set kept sorted by label name. Volumes
 * are tiny (tens of series), so lookups are linear and one mutex guards
 * everything; formatting sorts a snapshot so output is deterministic. */
#include "core/metrics.h"
#include "core/clock.h"
#include "core/cpu.h"
#include "core/fsx.h"
#include "core/log.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- data ----------------------------------------------------------------- */

struct label {
  char *name;
  char *value;
};

struct series {
  struct label labels[CAIRN_METRICS_MAX_LABELS]; /* sorted by name */
  int          n_labels;
  double       value;                            /* counter or gauge */
  uint64_t     bucket[CAIRN_METRICS_MAX_BUCKETS + 1]; /* per bucket, not
                                                        cumulative; last
                                                        is +Inf */
  uint64_t     count;                            /* histogram */
  double       sum;                              /* histogram */
};

struct family {
  char          *name;
  char          *help;
  int            type;                /* enum cairn_metric_type */
  double         bounds[CAIRN_METRICS_MAX_BUCKETS]; /* ascending, finite */
  size_t         n_bounds;
  struct series *series;
  size_t         n_series, cap_series;
};

struct cairn_metrics {
  pthread_mutex_t lock;       /* guards families and series */
  pthread_mutex_t write_lock; /* serialises file writes (one temp name) */
  struct family  *fam;
  size_t          n_fam, cap_fam;
};

static const double default_bounds[] = {
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
};
#define N_DEFAULT_BOUNDS (sizeof default_bounds / sizeof default_bounds[0])

#define HW_NAME  "cairn_sync_high_water_timestamp_seconds"
#define LAG_NAME "cairn_sync_lag_seconds"

/* The standard families of the global registry. To add a metric: one line
 * here (name, type, help), a convenience call in metrics.h if the HTTP
 * layer or runner needs one, and a line in docs/operations.md. */
static const struct {
  const char *name;
  int         type;
  const char *help;
} standard[] = {
  { "cairn_chunks_total", CAIRN_METRIC_COUNTER,
    "Chunks of the current or last run, by stage (loaded, redone)." },
  { "cairn_circuit_open", CAIRN_METRIC_GAUGE,
    "1 while the HTTP circuit breaker is open (requests are not sent)." },
  { "cairn_dlq_depth", CAIRN_METRIC_GAUGE,
    "Quarantined records of the job (cairn dlq JOB lists them)." },
  { "cairn_http_delta_expired_total", CAIRN_METRIC_COUNTER,
    "Delta tokens the source rejected as expired (a full sync followed)." },
  { "cairn_http_not_modified_total", CAIRN_METRIC_COUNTER,
    "Conditional requests answered 304 Not Modified (ETag unchanged)." },
  { "cairn_http_request_duration_seconds", CAIRN_METRIC_HISTOGRAM,
    "Duration of HTTP exchanges, retries included one by one." },
  { "cairn_http_requests_total", CAIRN_METRIC_COUNTER,
    "HTTP exchanges of the current or last run, by status code "
    "(\"error\": no response)." },
  { "cairn_http_retries_total", CAIRN_METRIC_COUNTER,
    "HTTP retries of the current or last run, by reason." },
  { "cairn_last_run_timestamp_seconds", CAIRN_METRIC_GAUGE,
    "When the last run finished, successful or not (Unix time)." },
  { "cairn_last_success_timestamp_seconds", CAIRN_METRIC_GAUGE,
    "When the last successful run finished (Unix time)." },
  { "cairn_records_total", CAIRN_METRIC_COUNTER,
    "Records of the current or last run, by stage (extracted, loaded, "
    "quarantined)." },
  { "cairn_run_duration_seconds", CAIRN_METRIC_GAUGE,
    "Wall-clock duration of the last finished run." },
  { "cairn_run_exit_code", CAIRN_METRIC_GAUGE,
    "Exit code of the last finished run: 0 done, 2 usage or invalid job, "
    "3 failed but resumable." },
  { "cairn_run_in_progress", CAIRN_METRIC_GAUGE,
    "1 while a run of the job is in progress." },
  { "cairn_run_start_timestamp_seconds", CAIRN_METRIC_GAUGE,
    "When the current or last run started (Unix time)." },
  { "cairn_run_success", CAIRN_METRIC_GAUGE,
    "1 when the last finished run succeeded, 0 when it failed." },
  { HW_NAME, CAIRN_METRIC_GAUGE,
    "Newest loaded high-water mark: time the loaded data reaches "
    "(Unix time)." },
  { LAG_NAME, CAIRN_METRIC_GAUGE,
    "Now minus the newest loaded high-water mark." },
};

/* Gauges that describe the job rather than this process: read back from
 * the previous file when a run starts, so a failed run still reports the
 * last success time and the newest high-water mark. */
static const char *const carry[] = {
  "cairn_dlq_depth",
  "cairn_last_run_timestamp_seconds",
  "cairn_last_success_timestamp_seconds",
  "cairn_run_duration_seconds",
  "cairn_run_exit_code",
  "cairn_run_success",
  HW_NAME,
};

/* ---- names and label sets ------------------------------------------------- */

static int valid_metric_name(const char *s)
{
  if (!s || !*s || !(*s == '_' || *s == ':' || (*s >= 'a' && *s <= 'z') ||
                     (*s >= 'A' && *s <= 'Z')))
    return 0;
  for (s++; *s; s++)
    if (!(*s == '_' || *s == ':' || (*s >= 'a' && *s <= 'z') ||
          (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
      return 0;
  return 1;
}

static int valid_label_name(const char *s)
{
  if (!valid_metric_name(s) || strchr(s, ':'))
    return 0;
  return !(s[0] == '_' && s[1] == '_'); /* "__" is reserved */
}

/* Borrowed label set of one call, sorted by name. */
struct lset {
  const char *name[CAIRN_METRICS_MAX_LABELS];
  const char *value[CAIRN_METRICS_MAX_LABELS];
  int         n;
};

static int lset_add(struct lset *ls, const char *name, const char *value)
{
  int i;
  if (!valid_label_name(name) || !value || ls->n == CAIRN_METRICS_MAX_LABELS)
    return -1;
  for (i = ls->n; i > 0; i--) {       /* insertion keeps it sorted */
    int c = strcmp(ls->name[i - 1], name);
    if (c == 0)
      return -1;                      /* duplicate label */
    if (c < 0)
      break;
    ls->name[i] = ls->name[i - 1];
    ls->value[i] = ls->value[i - 1];
  }
  ls->name[i] = name;
  ls->value[i] = value;
  ls->n++;
  return 0;
}

/* Read name, value, ..., NULL from ap. */
static int lset_from_va(struct lset *ls, va_list ap)
{
  const char *name;
  ls->n = 0;
  while ((name = va_arg(ap, const char *)) != NULL) {
    const char *value = va_arg(ap, const char *);
    if (lset_add(ls, name, value) < 0)
      return -1;
  }
  return 0;
}

static int series_matches(const struct series *s, const struct lset *ls)
{
  if (s->n_labels != ls->n)
    return 0;
  for (int i = 0; i < ls->n; i++)
    if (strcmp(s->labels[i].name, ls->name[i]) != 0 ||
        strcmp(s->labels[i].value, ls->value[i]) != 0)
      return 0;
  return 1;
}

/* ---- registry (callers hold m->lock) ------------------------------------- */

static struct family *find_family(cairn_metrics *m, const char *name)
{
  for (size_t i = 0; i < m->n_fam; i++)
    if (strcmp(m->fam[i].name, name) == 0)
      return &m->fam[i];
  return NULL;
}

static void set_bounds(struct family *f, const double *b, size_t n)
{
  if (!b || n == 0) {
    b = default_bounds;
    n = N_DEFAULT_BOUNDS;
  }
  memcpy(f->bounds, b, n * sizeof *b);
  f->n_bounds = n;
}

static int valid_bounds(const double *b, size_t n)
{
  if (n > CAIRN_METRICS_MAX_BUCKETS)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isfinite(b[i]) || (i > 0 && b[i] <= b[i - 1]))
      return 0;
  return 1;
}

static int define_locked(cairn_metrics *m, const char *name, int type,
                         const char *help, const double *buckets,
                         size_t n_buckets, struct family **out)
{
  struct family *f;

  if (!valid_metric_name(name) || type < CAIRN_METRIC_COUNTER ||
      type > CAIRN_METRIC_HISTOGRAM || !valid_bounds(buckets, n_buckets))
    return CAIRN_EUSAGE;
  f = find_family(m, name);
  if (f) {
    if (f->type != type)
      return CAIRN_EUSAGE;
    if (help) {
      free(f->help);
      f->help = cairn_xstrdup(help);
    }
    if (type == CAIRN_METRIC_HISTOGRAM && buckets && f->n_series == 0)
      set_bounds(f, buckets, n_buckets);
    *out = f;
    return CAIRN_OK;
  }
  if (m->n_fam == m->cap_fam) {
    m->cap_fam = m->cap_fam ? 2 * m->cap_fam : 16;
    m->fam = cairn_xrealloc(m->fam, m->cap_fam * sizeof *m->fam);
  }
  f = &m->fam[m->n_fam++];
  memset(f, 0, sizeof *f);
  f->name = cairn_xstrdup(name);
  f->help = cairn_xstrdup(help ? help : name);
  f->type = type;
  if (type == CAIRN_METRIC_HISTOGRAM)
    set_bounds(f, buckets, n_buckets);
  *out = f;
  return CAIRN_OK;
}

/* The series of f with label set ls, created (zero) when create is set. */
static struct series *get_series(struct family *f, const struct lset *ls,
                                 int create)
{
  struct series *s;
  for (size_t i = 0; i < f->n_series; i++)
    if (series_matches(&f->series[i], ls))
      return &f->series[i];
  if (!create)
    return NULL;
  if (f->type == CAIRN_METRIC_HISTOGRAM)
    for (int i = 0; i < ls->n; i++)
      if (strcmp(ls->name[i], "le") == 0)
        return NULL;                  /* "le" belongs to the buckets */
  if (f->n_series == f->cap_series) {
    f->cap_series = f->cap_series ? 2 * f->cap_series : 4;
    f->series = cairn_xrealloc(f->series, f->cap_series * sizeof *f->series);
  }
  s = &f->series[f->n_series++];
  memset(s, 0, sizeof *s);
  for (int i = 0; i < ls->n; i++) {
    s->labels[i].name = cairn_xstrdup(ls->name[i]);
    s->labels[i].value = cairn_xstrdup(ls->value[i]);
  }
  s->n_labels = ls->n;
  return s;
}

enum { OP_ADD, OP_SET, OP_MAX, OP_OBSERVE };

static int update_locked(cairn_metrics *m, int op, const char *name,
                         double v, const struct lset *ls)
{
  int type = op == OP_ADD ? CAIRN_METRIC_COUNTER
           : op == OP_OBSERVE ? CAIRN_METRIC_HISTOGRAM : CAIRN_METRIC_GAUGE;
  struct family *f = find_family(m, name);
  struct series *s;
  int created;

  if (!f && define_locked(m, name, type, NULL, NULL, 0, &f) < 0)
    return CAIRN_EUSAGE;
  if (f->type != type || (op == OP_ADD && !(v >= 0)))
    return CAIRN_EUSAGE;
  created = get_series(f, ls, 0) == NULL;
  s = get_series(f, ls, 1);
  if (!s)
    return CAIRN_EUSAGE;
  switch (op) {
  case OP_ADD:
    s->value += v;
    break;
  case OP_SET:
    s->value = v;
    break;
  case OP_MAX:
    if (created || v > s->value)
      s->value = v;
    break;
  default: {
    size_t b = 0;
    while (b < f->n_bounds && v > f->bounds[b])
      b++;                            /* le is inclusive: v <= bound */
    s->bucket[b]++;
    s->count++;
    s->sum += v;
  }
  }
  return CAIRN_OK;
}

static void free_series(struct series *s)
{
  for (int i = 0; i < s->n_labels; i++) {
    free(s->labels[i].name);
    free(s->labels[i].value);
  }
}

cairn_metrics *cairn_metrics_create(void)
{
  cairn_metrics *m = cairn_xcalloc(1, sizeof *m);
  pthread_mutex_init(&m->lock, NULL);
  pthread_mutex_init(&m->write_lock, NULL);
  return m;
}

void cairn_metrics_reset(cairn_metrics *m)
{
  pthread_mutex_lock(&m->lock);
  for (size_t i = 0; i < m->n_fam; i++) {
    for (size_t j = 0; j < m->fam[i].n_series; j++)
      free_series(&m->fam[i].series[j]);
    m->fam[i].n_series = 0;
  }
  pthread_mutex_unlock(&m->lock);
}

void cairn_metrics_free(cairn_metrics *m)
{
  if (!m)
    return;
  cairn_metrics_reset(m);
  for (size_t i = 0; i < m->n_fam; i++) {
    free(m->fam[i].name);
    free(m->fam[i].help);
    free(m->fam[i].series);
  }
  free(m->fam);
  pthread_mutex_destroy(&m->lock);
  pthread_mutex_destroy(&m->write_lock);
  free(m);
}

int cairn_metrics_define(cairn_metrics *m, const char *name, int type,
                         const char *help, const double *buckets,
                         size_t n_buckets)
{
  struct family *f;
  int rc;
  pthread_mutex_lock(&m->lock);
  rc = define_locked(m, name, type, help, buckets, n_buckets, &f);
  pthread_mutex_unlock(&m->lock);
  return rc;
}

static int vupdate(cairn_metrics *m, int op, const char *name, double v,
                   va_list ap)
{
  struct lset ls;
  int rc;
  if (lset_from_va(&ls, ap) < 0)
    return CAIRN_EUSAGE;
  pthread_mutex_lock(&m->lock);
  rc = update_locked(m, op, name, v, &ls);
  pthread_mutex_unlock(&m->lock);
  return rc;
}

int cairn_metrics_vupdate(cairn_metrics *m, int type, const char *name,
                          double v, va_list labels)
{
  int op = type == CAIRN_METRIC_COUNTER ? OP_ADD
         : type == CAIRN_METRIC_GAUGE ? OP_SET
         : type == CAIRN_METRIC_HISTOGRAM ? OP_OBSERVE : -1;
  if (op < 0)
    return CAIRN_EUSAGE;
  return vupdate(m, op, name, v, labels);
}

#define VA_UPDATE(m, op, name, v)                     \
  do {                                                \
    va_list ap_;                                      \
    int rc_;                                          \
    va_start(ap_, v);                                 \
    rc_ = vupdate((m), (op), (name), (v), ap_);       \
    va_end(ap_);                                      \
    return rc_;                                       \
  } while (0)

int cairn_metrics_counter_add(cairn_metrics *m, const char *name, double v,
                              ...)
{
  VA_UPDATE(m, OP_ADD, name, v);
}

int cairn_metrics_gauge_set(cairn_metrics *m, const char *name, double v, ...)
{
  VA_UPDATE(m, OP_SET, name, v);
}

int cairn_metrics_gauge_max(cairn_metrics *m, const char *name, double v, ...)
{
  VA_UPDATE(m, OP_MAX, name, v);
}

int cairn_metrics_observe_in(cairn_metrics *m, const char *name, double v,
                             ...)
{
  VA_UPDATE(m, OP_OBSERVE, name, v);
}

double cairn_metrics_value(cairn_metrics *m, const char *name, ...)
{
  struct lset ls;
  struct family *f;
  struct series *s = NULL;
  double v = 0;
  va_list ap;
  int bad;

  va_start(ap, name);
  bad = lset_from_va(&ls, ap) < 0;
  va_end(ap);
  if (bad)
    return 0;
  pthread_mutex_lock(&m->lock);
  f = find_family(m, name);
  if (f)
    s = get_series(f, &ls, 0);
  if (s)
    v = f->type == CAIRN_METRIC_HISTOGRAM ? (double)s->count : s->value;
  pthread_mutex_unlock(&m->lock);
  return v;
}

double cairn_metrics_sum(cairn_metrics *m, const char *name)
{
  struct family *f;
  double v = 0;
  pthread_mutex_lock(&m->lock);
  f = find_family(m, name);
  for (size_t i = 0; f && i < f->n_series; i++)
    v += f->type == CAIRN_METRIC_HISTOGRAM ? (double)f->series[i].count
                                           : f->series[i].value;
  pthread_mutex_unlock(&m->lock);
  return v;
}

/* ---- exposition ------------------------------------------------------------ */

/* Shortest text that reads back as v; Prometheus spellings for the
 * specials. Integral values (counts, Unix times) print without exponent. */
static void fmt_value(double v, char *out, size_t n)
{
  if (isnan(v)) {
    snprintf(out, n, "NaN");
  } else if (isinf(v)) {
    snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
  } else if (v > -1e15 && v < 1e15 && v == (double)(long long)v) {
    snprintf(out, n, "%.0f", v);
  } else {
    snprintf(out, n, "%.15g", v);
    if (strtod(out, NULL) != v)
      snprintf(out, n, "%.17g", v);
  }
}

static void put_escaped(struct cairn_buf *b, const char *s, int quote)
{
  for (; *s; s++) {
    if (*s == '\\')
      cairn_buf_puts(b, "\\\\");
    else if (*s == '\n')
      cairn_buf_puts(b, "\\n");
    else if (*s == '"' && quote)
      cairn_buf_puts(b, "\\\"");
    else
      cairn_buf_putc(b, *s);
  }
}

/* 'name="value",...' of s plus job (merged in name order unless s has its
 * own job label). No braces. */
static char *render_labels(const struct series *s, const char *job)
{
  struct cairn_buf b = {0};
  int job_done = !job;
  for (int i = 0; i < s->n_labels; i++)
    if (strcmp(s->labels[i].name, "job") == 0)
      job_done = 1;
  for (int i = 0; i <= s->n_labels; i++) {
    if (!job_done && (i == s->n_labels ||
                      strcmp(s->labels[i].name, "job") > 0)) {
      if (b.len)
        cairn_buf_putc(&b, ',');
      cairn_buf_puts(&b, "job=\"");
      put_escaped(&b, job, 1);
      cairn_buf_putc(&b, '"');
      job_done = 1;
    }
    if (i == s->n_labels)
      break;
    if (b.len)
      cairn_buf_putc(&b, ',');
    cairn_buf_printf(&b, "%s=\"", s->labels[i].name);
    put_escaped(&b, s->labels[i].value, 1);
    cairn_buf_putc(&b, '"');
  }
  return cairn_buf_take(&b);
}

struct rendered {
  char                *labels;
  const struct series *s;
};

static int cmp_rendered(const void *a, const void *b)
{
  return strcmp(((const struct rendered *)a)->labels,
                ((const struct rendered *)b)->labels);
}

static int cmp_family(const void *a, const void *b)
{
  return strcmp((*(const struct family *const *)a)->name,
                (*(const struct family *const *)b)->name);
}

static void put_sample(struct cairn_buf *out, const char *name,
                       const char *suffix, const char *labels,
                       const char *extra, double v)
{
  char num[40];
  fmt_value(v, num, sizeof num);
  cairn_buf_printf(out, "%s%s", name, suffix);
  if (*labels || extra) {
    cairn_buf_putc(out, '{');
    cairn_buf_puts(out, labels);
    if (extra)
      cairn_buf_printf(out, "%s%s", *labels ? "," : "", extra);
    cairn_buf_putc(out, '}');
  }
  cairn_buf_printf(out, " %s\n", num);
}

static void format_family(const struct family *f, const char *job,
                          struct cairn_buf *out)
{
  static const char *types[] = { "", "counter", "gauge", "histogram" };
  struct rendered *r;

  if (f->n_series == 0)
    return;                           /* nothing to say: no HELP either */
  r = cairn_xcalloc(f->n_series, sizeof *r);
  for (size_t i = 0; i < f->n_series; i++) {
    r[i].labels = render_labels(&f->series[i], job);
    r[i].s = &f->series[i];
  }
  qsort(r, f->n_series, sizeof *r, cmp_rendered);
  cairn_buf_printf(out, "# HELP %s ", f->name);
  put_escaped(out, f->help, 0);
  cairn_buf_printf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
  for (size_t i = 0; i < f->n_series; i++) {
    const struct series *s = r[i].s;
    if (f->type != CAIRN_METRIC_HISTOGRAM) {
      put_sample(out, f->name, "", r[i].labels, NULL, s->value);
    } else {
      uint64_t cum = 0;
      char le[64], num[40];
      for (size_t b = 0; b <= f->n_bounds; b++) {
        cum += s->bucket[b];
        if (b < f->n_bounds)
          fmt_value(f->bounds[b], num, sizeof num);
        snprintf(le, sizeof le, "le=\"%s\"", b < f->n_bounds ? num : "+Inf");
        put_sample(out, f->name, "_bucket", r[i].labels, le, (double)cum);
      }
      put_sample(out, f->name, "_sum", r[i].labels, NULL, s->sum);
      put_sample(out, f->name, "_count", r[i].labels, NULL,
                 (double)s->count);
    }
    free(r[i].labels);
  }
  free(r);
}

/* cairn_sync_lag_seconds = now - mark, for each high-water series. */
static void update_lag_locked(cairn_metrics *m)
{
  struct family *hw = find_family(m, HW_NAME);
  int64_t now;

  if (!hw || hw->n_series == 0)
    return;
  now = cairn_clock_now();
  for (size_t i = 0; i < hw->n_series; i++) {
    const struct series *s = &hw->series[i];
    struct lset ls = { .n = s->n_labels };
    double lag = (double)now - s->value;
    for (int k = 0; k < s->n_labels; k++) {
      ls.name[k] = s->labels[k].name;
      ls.value[k] = s->labels[k].value;
    }
    /* May grow another family's array: hw->series itself stays put. */
    update_locked(m, OP_SET, LAG_NAME, lag > 0 ? lag : 0, &ls);
    hw = find_family(m, HW_NAME);     /* m->fam may have moved */
  }
}

void cairn_metrics_format(cairn_metrics *m, const char *job,
                          struct cairn_buf *out)
{
  struct family **order;

  pthread_mutex_lock(&m->lock);
  update_lag_locked(m);
  order = cairn_xcalloc(m->n_fam + 1, sizeof *order);
  for (size_t i = 0; i < m->n_fam; i++)
    order[i] = &m->fam[i];
  qsort(order, m->n_fam, sizeof *order, cmp_family);
  for (size_t i = 0; i < m->n_fam; i++)
    format_family(order[i], job, out);
  pthread_mutex_unlock(&m->lock);
  free(order);
  if (!out->data)
    cairn_buf_append(out, "", 0);
}

/* ---- reading an earlier exposition back ---------------------------------- */

static int is_carried(const char *name, size_t n)
{
  for (size_t i = 0; i < sizeof carry / sizeof carry[0]; i++)
    if (strlen(carry[i]) == n && strncmp(carry[i], name, n) == 0)
      return 1;
  return 0;
}

/* Parse one sample line 'name{k="v",...} value' into owned strings.
 * Returns 0, or -1 when the line is not one we understand. */
static int parse_sample(const char *p, const char *end, char **name_out,
                        struct label *labels, int *n_labels, double *value)
{
  const char *q = p;
  char *num, *stop;

  *n_labels = 0;
  while (q < end && *q != '{' && *q != ' ' && *q != '\t')
    q++;
  *name_out = cairn_xstrndup(p, (size_t)(q - p));
  if (q < end && *q == '{') {
    q++;
    while (q < end && *q != '}') {
      const char *ln = q;
      struct cairn_buf v = {0};
      while (q < end && *q != '=')
        q++;
      if (q + 1 >= end || q[1] != '"' || *n_labels == CAIRN_METRICS_MAX_LABELS)
        goto bad;
      labels[*n_labels].name = cairn_xstrndup(ln, (size_t)(q - ln));
      for (q += 2; q < end && *q != '"'; q++) {
        if (*q == '\\' && q + 1 < end) {
          q++;
          cairn_buf_putc(&v, *q == 'n' ? '\n' : *q);
        } else {
          cairn_buf_putc(&v, *q);
        }
      }
      labels[*n_labels].value = cairn_buf_take(&v);
      (*n_labels)++;
      if (q >= end)
        goto bad;
      q++;                            /* closing quote */
      if (q < end && *q == ',')
        q++;
    }
    if (q >= end)
      goto bad;
    q++;                              /* '}' */
  }
  while (q < end && (*q == ' ' || *q == '\t'))
    q++;
  num = cairn_xstrndup(q, (size_t)(end - q));
  *value = strtod(num, &stop);
  if (stop == num || (*stop && *stop != ' ')) {
    free(num);
    goto bad;
  }
  free(num);
  return 0;
bad:
  for (int i = 0; i < *n_labels; i++) {
    free(labels[i].name);
    free(labels[i].value);
  }
  *n_labels = 0;
  free(*name_out);
  *name_out = NULL;
  return -1;
}

int cairn_metrics_load(cairn_metrics *m, const char *text)
{
  int taken = 0;
  const char *p = text;

  while (p && *p) {
    const char *end = strchr(p, '\n');
    const char *next;
    size_t n;
    if (!end)
      end = p + strlen(p);
    next = *end ? end + 1 : end;
    n = strcspn(p, "{ \t\n");
    if (*p != '#' && is_carried(p, n)) {
      char *name = NULL;
      struct label labels[CAIRN_METRICS_MAX_LABELS];
      int n_labels = 0;
      double v;
      if (parse_sample(p, end, &name, labels, &n_labels, &v) == 0) {
        struct lset ls = { .n = 0 };
        int ok = 1;
        for (int i = 0; i < n_labels; i++)
          if (strcmp(labels[i].name, "job") != 0)
            ok = ok && lset_add(&ls, labels[i].name, labels[i].value) == 0;
        pthread_mutex_lock(&m->lock);
        {
          struct family *f = find_family(m, name);
          if (ok && !(f && get_series(f, &ls, 0)) &&
              update_locked(m, OP_SET, name, v, &ls) == CAIRN_OK)
            taken++;
        }
        pthread_mutex_unlock(&m->lock);
        for (int i = 0; i < n_labels; i++) {
          free(labels[i].name);
          free(labels[i].value);
        }
        free(name);
      }
    }
    p = next;
  }
  return taken;
}

/* ---- writing --------------------------------------------------------------- */

static char *prom_path(const char *dir, const char *job)
{
  char *file = cairn_strfmt("%s.prom", job);
  char *path = cairn_path_join(dir, file);
  free(file);
  return path;
}

int cairn_metrics_write_to(cairn_metrics *m, const char *dir, const char *job,
                           cairn_err *err)
{
  struct cairn_buf text = {0};
  char *path;
  int rc;

  if (!dir || !*dir || !job || !*job || strchr(job, '/'))
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "metrics: bad directory or job "
                       "name \"%s\"", job ? job : "");
  path = prom_path(dir, job);
  pthread_mutex_lock(&m->write_lock);
  cairn_metrics_format(m, job, &text);
  rc = cairn_fs_mkdirs(dir, err);
  if (rc == CAIRN_OK)
    rc = cairn_fs_write_atomic(path, text.data, text.len, err);
  pthread_mutex_unlock(&m->write_lock);
  cairn_buf_free(&text);
  free(path);
  return rc;
}

char *cairn_metrics_dir(const char *flag, const char *state_dir)
{
  const char *env = getenv("CAIRN_METRICS_DIR");
  if (flag && *flag)
    return cairn_xstrdup(flag);
  if (env && *env)
    return cairn_xstrdup(env);
  return cairn_path_join(state_dir && *state_dir ? state_dir : "state",
                         "metrics");
}

/* ---- the global registry --------------------------------------------------- */

static cairn_metrics *global;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
  struct family *f;
  global = cairn_metrics_create();
  for (size_t i = 0; i < sizeof standard / sizeof standard[0]; i++)
    define_locked(global, standard[i].name, standard[i].type,
                  standard[i].help, NULL, 0, &f);
}

cairn_metrics *cairn_metrics_global(void)
{
  pthread_once(&global_once, global_init);
  return global;
}

int cairn_metrics_write(const char *dir, const char *job, cairn_err *err)
{
  return cairn_metrics_write_to(cairn_metrics_global(), dir, job, err);
}

void cairn_metrics_add(const char *name, double v, ...)
{
  va_list ap;
  va_start(ap, v);
  vupdate(cairn_metrics_global(), OP_ADD, name, v, ap);
  va_end(ap);
}

void cairn_metrics_set(const char *name, double v, ...)
{
  va_list ap;
  va_start(ap, v);
  vupdate(cairn_metrics_global(), OP_SET, name, v, ap);
  va_end(ap);
}

void cairn_metrics_observe(const char *name, double v, ...)
{
  va_list ap;
  va_start(ap, v);
  vupdate(cairn_metrics_global(), OP_OBSERVE, name, v, ap);
  va_end(ap);
}

void cairn_metrics_http(long code, double seconds)
{
  char buf[24];
  if (code > 0)
    snprintf(buf, sizeof buf, "%ld", code);
  else
    snprintf(buf, sizeof buf, "error");
  cairn_metrics_add("cairn_http_requests_total", 1, "code", buf, NULL);
  cairn_metrics_observe("cairn_http_request_duration_seconds",
                        seconds > 0 ? seconds : 0, NULL);
}

void cairn_metrics_retry(const char *reason)
{
  cairn_metrics_add("cairn_http_retries_total", 1, "reason",
                    reason && *reason ? reason : "other", NULL);
}

void cairn_metrics_circuit(int open)
{
  cairn_metrics_set("cairn_circuit_open", open ? 1 : 0, NULL);
}

void cairn_metrics_records(const char *stage, int64_t n)
{
  if (n >= 0)
    cairn_metrics_add("cairn_records_total", (double)n, "stage", stage, NULL);
}

void cairn_metrics_high_water(int64_t t)
{
  cairn_metrics_gauge_max(cairn_metrics_global(), HW_NAME, (double)t, NULL);
}

void cairn_metrics_run_start(const char *dir, const char *job)
{
  cairn_metrics *m = cairn_metrics_global();
  cairn_metrics_reset(m);
  if (dir && job) {
    char *path = prom_path(dir, job);
    struct cairn_buf prev = {0};
    if (cairn_fs_exists(path) && cairn_fs_read_all(path, &prev, NULL) == 0)
      cairn_metrics_load(m, prev.data);
    cairn_buf_free(&prev);
    free(path);
  }
  cairn_metrics_set("cairn_run_in_progress", 1, NULL);
  cairn_metrics_set("cairn_circuit_open", 0, NULL);
  cairn_metrics_set("cairn_run_start_timestamp_seconds",
                    (double)cairn_clock_now(), NULL);
  /* Zero series so a run with no traffic still exposes the counters. */
  cairn_metrics_add("cairn_records_total", 0, "stage", "extracted", NULL);
  cairn_metrics_add("cairn_records_total", 0, "stage", "loaded", NULL);
  cairn_metrics_add("cairn_records_total", 0, "stage", "quarantined", NULL);
}

void cairn_metrics_run_end(int exit_code, double seconds, int64_t dlq_depth,
                           int64_t last_success, int64_t ended)
{
  cairn_metrics *m = cairn_metrics_global();
  double now = (double)ended;

  cairn_metrics_set("cairn_run_in_progress", 0, NULL);
  cairn_metrics_set("cairn_circuit_open", 0, NULL); /* no run, no breaker */
  cairn_metrics_set("cairn_run_success", exit_code == 0 ? 1 : 0, NULL);
  cairn_metrics_set("cairn_run_exit_code", exit_code, NULL);
  cairn_metrics_set("cairn_run_duration_seconds", seconds, NULL);
  cairn_metrics_set("cairn_last_run_timestamp_seconds", now, NULL);
  if (dlq_depth >= 0)
    cairn_metrics_set("cairn_dlq_depth", (double)dlq_depth, NULL);
  if (exit_code == 0)
    cairn_metrics_set("cairn_last_success_timestamp_seconds", now, NULL);
  else if (last_success > 0)
    cairn_metrics_gauge_max(m, "cairn_last_success_timestamp_seconds",
                            (double)last_success, NULL);
}

/* ---- periodic writer --------------------------------------------------------- */

static struct {
  pthread_mutex_t lock;
  pthread_cond_t  cond;
  int             cond_ready;
  pthread_t       thread;
  int             running;
  int             stop;
  char           *dir, *job;
  int             interval_s;
} fl = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0,
         NULL, NULL, 0 };

static void *flusher_main(void *arg)
{
  int warned = 0;
  (void)arg;
  cairn_thread_name("cairn-metrics");
  pthread_mutex_lock(&fl.lock);
  while (!fl.stop) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += fl.interval_s;
    while (!fl.stop &&
           pthread_cond_timedwait(&fl.cond, &fl.lock, &until) != ETIMEDOUT)
      ;
    if (fl.stop)
      break;
    pthread_mutex_unlock(&fl.lock);
    {
      cairn_err e = {0};
      if (cairn_metrics_write(fl.dir, fl.job, &e) < 0) {
        if (!warned)
          cairn_warn("metrics: %s (retrying every %ds)", e.msg,
                     fl.interval_s);
        warned = 1;
      } else {
        warned = 0;
      }
    }
    pthread_mutex_lock(&fl.lock);
  }
  pthread_mutex_unlock(&fl.lock);
  return NULL;
}

int cairn_metrics_flusher_start(const char *dir, const char *job,
                                int interval_s, cairn_err *err)
{
  int rc = CAIRN_OK;

  if (interval_s <= 0) {
    const char *env = getenv("CAIRN_METRICS_INTERVAL");
    interval_s = env && *env ? atoi(env) : 0;
    if (interval_s <= 0)
      interval_s = CAIRN_METRICS_INTERVAL_S;
  }
  pthread_mutex_lock(&fl.lock);
  if (fl.running) {
    rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "metrics writer already running");
    goto done;
  }
  if (!fl.cond_ready) {
    /* Wait on the monotonic clock: a wall-clock step must not stall it. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_destroy(&fl.cond);
    pthread_cond_init(&fl.cond, &ca);
    pthread_condattr_destroy(&ca);
    fl.cond_ready = 1;
  }
  fl.dir = cairn_xstrdup(dir);
  fl.job = cairn_xstrdup(job);
  fl.interval_s = interval_s;
  fl.stop = 0;
  if (pthread_create(&fl.thread, NULL, flusher_main, NULL) != 0) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "metrics writer thread");
    free(fl.dir);
    free(fl.job);
    fl.dir = fl.job = NULL;
    goto done;
  }
  fl.running = 1;
done:
  pthread_mutex_unlock(&fl.lock);
  return rc;
}

void cairn_metrics_flusher_stop(void)
{
  pthread_mutex_lock(&fl.lock);
  if (!fl.running) {
    pthread_mutex_unlock(&fl.lock);
    return;
  }
  fl.stop = 1;
  pthread_cond_signal(&fl.cond);
  pthread_mutex_unlock(&fl.lock);
  pthread_join(fl.thread, NULL);
  pthread_mutex_lock(&fl.lock);
  fl.running = 0;
  free(fl.dir);
  free(fl.job);
  fl.dir = fl.job = NULL;
  pthread_mutex_unlock(&fl.lock);
}
