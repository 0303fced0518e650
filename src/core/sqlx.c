/* SPDX-License-Identifier: MIT */
/* sqlx.c -- see sqlx.h. */
#define _POSIX_C_SOURCE 200809L
#include "core/sqlx.h"
#include "core/clock.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
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

const char *cairn_sqlite_why(sqlite3 *db)
{
  static _Thread_local char buf[320];
  int sys;
  if (!db)
    return "out of memory";
  sys = sqlite3_system_errno(db);
  /* The OS error of the last failed call, which is behind an I/O, "full"
   * or "cannot open" error only. */
  switch (sqlite3_errcode(db)) {
  case SQLITE_IOERR: case SQLITE_FULL: case SQLITE_CANTOPEN:
    if (sys > 0) {
      snprintf(buf, sizeof buf, "%s: %s", sqlite3_errmsg(db),
               strerror(sys));
      return buf;
    }
    break;
  default:
    break;
  }
  return sqlite3_errmsg(db);
}
