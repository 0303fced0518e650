/* SPDX-License-Identifier: MIT */
/* clock.c -- wall and monotonic time, with a test override; sleeps a
 * stop cuts short; and the civil date arithmetic (Howard Hinnant's
 * algorithms) used for windows. */
#include "core/clock.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t cairn_clock_now(void)
{
  const char *fixed = getenv("CAIRN_TEST_NOW");
  if (fixed && *fixed)
    return strtoll(fixed, NULL, 10);
  return (int64_t)time(NULL);
}

int64_t cairn_clock_mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cairn_clock_sleep_ms(int64_t ms)
{
  struct timespec ts, rem;
  if (ms <= 0)
    return;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000;
  while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
    ts = rem;
}

static volatile sig_atomic_t stop_sig;

void cairn_stop_note(int sig)
{
  if (!stop_sig)
    stop_sig = sig;
}

int cairn_stop_signal(void)
{
  return stop_sig;
}

const char *cairn_stop_name(void)
{
  return stop_sig == SIGINT ? "SIGINT" : "SIGTERM";
}

int cairn_clock_nap_ms(int64_t ms)
{
  /* In slices: the signal may be delivered to another thread, whose
   * handler notes it without interrupting this one's sleep. */
  while (ms > 0 && !stop_sig) {
    int64_t slice = ms < 100 ? ms : 100;
    cairn_clock_sleep_ms(slice);
    ms -= slice;
  }
  return stop_sig;
}

int64_t cairn_days_from_civil(int y, unsigned m, unsigned d)
{
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

void cairn_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = (unsigned)(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = (int64_t)yoe + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int)(yy + (*m <= 2));
}

void cairn_clock_fmt(int64_t t, char *out, size_t n)
{
  int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
  int64_t secs = t - days * 86400;
  int y;
  unsigned m, d;

  cairn_civil_from_days(days, &y, &m, &d);
  snprintf(out, n, "%04d-%02u-%02uT%02d:%02d:%02dZ", y, m, d,
           (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
}

static int digits(const char *s, int n, int *out)
{
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

static int days_in_month(int y, int m)
{
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                               31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

  return m == 2 && leap ? 29 : days[m - 1];
}

int cairn_clock_parse(const char *s, int64_t *out)
{
  int y, mo, d, hh = 0, mm = 0, ss = 0, oh = 0, om = 0, sign = 0, leap;
  const char *p;

  if (strlen(s) < 10 || digits(s, 4, &y) || s[4] != '-' ||
      digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d))
    return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
    return -1;
  p = s + 10;
  if (*p == 'T' || *p == 't' || *p == ' ') {
    if (digits(p + 1, 2, &hh) || p[3] != ':' || digits(p + 4, 2, &mm))
      return -1;
    p += 6;
    if (*p == ':') {
      if (digits(p + 1, 2, &ss))
        return -1;
      p += 3;
      if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
          return -1;
        while (*p >= '0' && *p <= '9')
          p++;
      }
    }
    if (hh > 23 || mm > 59 || ss > 60)
      return -1;
    if (*p == 'Z' || *p == 'z') {
      p++;
    } else if (*p == '+' || *p == '-') {
      sign = *p == '+' ? 1 : -1;
      if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
        return -1;
      if (oh > 23 || om > 59)
        return -1;
      p += 6;
    }
  }
  if (*p != '\0')
    return -1;
  leap = ss == 60;
  if (leap)
    ss = 59; /* leap second: clamp, epoch time cannot represent it */
  *out = cairn_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
         hh * 3600 + mm * 60 + ss - sign * (oh * 3600 + om * 60);
  /* A leap second is the last of a UTC day (23:59:60Z, 05:29:60+05:30):
   * :60 in any other minute is not a time. */
  if (leap && ((*out % 86400) + 86400) % 86400 != 86399)
    return -1;
  return 0;
}

/* ---- RFC 3339 date-time, strictly (JSON Schema format "date-time") ---- */

int cairn_clock_is_date_time(const char *s, size_t len)
{
  int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0, utc;
  size_t i, start;

  if (len < 20)
    return 0;
  if (digits(s, 4, &y) || s[4] != '-' ||
      digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
      (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
      s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
      digits(s + 17, 2, &sec))
    return 0;
  i = 19;
  if (s[i] == '.') {
    start = ++i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
      i++;
    if (i == start)
      return 0;
  }
  if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
    i++;
  } else if (i < len && (s[i] == '+' || s[i] == '-')) {
    sign = s[i] == '+' ? 1 : -1;
    if (len - i < 6 || digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
        digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
      return 0;
    i += 6;
  } else {
    return 0;
  }
  if (i != len)
    return 0;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
    return 0;
  if (h > 23 || mi > 59 || sec > 60)
    return 0;
  if (sec == 60) {
    utc = h * 60 + mi - sign * (oh * 60 + om);
    utc = ((utc % 1440) + 1440) % 1440;
    if (utc != 23 * 60 + 59)
      return 0;
  }
  return 1;
}
