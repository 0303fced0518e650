/* SPDX-License-Identifier: MIT */
/* sqlx.c -- see sqlx.h. */
#define _POSIX_C_SOURCE 200809L
#include "core/sqlx.h"
#include "core/clock.h"

#include <stdint.h>
#include <time.h>

int cairn_sqlite_setup(sqlite3 *db, const char *sql, int ms)
{
  int64_t until = cairn_clock_mono_ms() + ms;
  unsigned jitter = (unsigned)(uintptr_t)db;
  int rc;

  for (;;) {
    struct timespec ts = { 0, 0 };
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if ((rc & 0xff) != SQLITE_BUSY || cairn_clock_mono_ms() >= until)
      return rc;
    /* 5..20 ms apart, so that two processes do not retry in step */
    jitter = jitter * 1103515245u + 12345u;
    ts.tv_nsec = (long)(5 + (jitter >> 16) % 16) * 1000000L;
    nanosleep(&ts, NULL);
  }
}
