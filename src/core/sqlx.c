/* SPDX-License-Identifier: MIT */
/* sqlx.c -- see sqlx.h. */
#define _POSIX_C_SOURCE 200809L
#include "core/sqlx.h"
#include "core/clock.h"
#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

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

int cairn_sqlite_has_column(sqlite3 *db, const char *tbl, const char *name,
                            int *has)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM pragma_table_info(?1)"
                                  " WHERE name=?2 COLLATE NOCASE", -1, &st,
                              NULL);
  *has = 0;
  if (rc != SQLITE_OK)
    return rc;
  sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *has = sqlite3_column_int(st, 0) > 0;
    rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  return rc;
}

int cairn_sqlite_add_column(sqlite3 *db, const char *tbl, const char *name,
                            const char *decl, int ms, int *added)
{
  char *sql;
  int has, rc = cairn_sqlite_has_column(db, tbl, name, &has);

  if (added)
    *added = 0;
  if (rc != SQLITE_OK || has)
    return rc;
  rc = cairn_sqlite_setup(db, "BEGIN IMMEDIATE", ms);
  if (rc != SQLITE_OK)
    return rc;
  rc = cairn_sqlite_has_column(db, tbl, name, &has);
  if (rc == SQLITE_OK && !has) {
    sql = sqlite3_mprintf("ALTER TABLE \"%w\" ADD COLUMN \"%w\"%s", tbl,
                          name, decl);
    rc = sql ? sqlite3_exec(db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
  }
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  if (rc == SQLITE_OK && added)
    *added = !has;
  return rc;
}

/* Why the database file cannot be written, when it cannot: the errno of
 * opening it for writing (not access(2): a file system an error made
 * read-only, such as ext4's errors=remount-ro, refuses the open but not
 * the access check), or of access(2) on its directory (where the journal
 * and WAL are made), or ENOSPC with *inodes set when that directory's file
 * system has no free inode left to make them (SQLite then reports the
 * ENOENT of its read-only retry); 0 when none of these. */
static int unwritable_why(const char *file, int *inodes)
{
  struct statvfs vfs;
  char *copy;
  const char *dir;
  int fd, why = 0;

  *inodes = 0;
  if (!file || !*file)
    return 0;
  /* O_NONBLOCK: a FIFO at the path answers ENXIO instead of blocking */
  fd = open(file, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0 && errno != ENOENT)
    return errno;
  if (fd >= 0)
    close(fd);
  copy = cairn_xstrdup(file);
  dir = dirname(copy);
  if (access(dir, W_OK | X_OK) != 0) {
    why = errno;
  } else if (statvfs(dir, &vfs) == 0 && vfs.f_files > 0 &&
             vfs.f_favail == 0) {
    *inodes = 1;
    why = ENOSPC;
  }
  free(copy);
  return why;
}

const char *cairn_sqlite_why(sqlite3 *db)
{
  return cairn_sqlite_why_at(db, NULL);
}

const char *cairn_sqlite_why_at(sqlite3 *db, const char *path)
{
  static _Thread_local char buf[320];
  int sys, code, probed, inodes = 0;
  if (!db)
    return "out of memory";
  sys = sqlite3_system_errno(db);
  code = sqlite3_errcode(db);
  /* The OS error of the last failed call, which is behind an I/O, "full"
   * or "cannot open" error only. SQLite takes it from errno when the
   * error reaches the connection, after calls that may have changed it: a
   * write refused by a file system gone read-only shows none, a file that
   * could not be made for want of inodes the ENOENT of a read-only retry.
   * Then the file or its directory not being writable is the likely
   * cause, and the one behind "attempt to write a readonly database"
   * (SQLite opens a file it may not write read-only, and fails at the
   * first write). */
  switch (code) {
  case SQLITE_IOERR: case SQLITE_FULL: case SQLITE_CANTOPEN:
  case SQLITE_READONLY:
    if (sys <= 0 || sys == ENOENT || code == SQLITE_READONLY) {
      probed = unwritable_why(path ? path : sqlite3_db_filename(db, "main"),
                              &inodes);
      if (probed > 0)
        sys = probed;
    }
    if (sys > 0) {
      snprintf(buf, sizeof buf, "%s: %s%s", sqlite3_errmsg(db),
               strerror(sys), inodes ? " (no free inodes)" : "");
      return buf;
    }
    break;
  case SQLITE_BUSY:
    /* Every connection of cairn waits 10 s for a lock (the window's
     * final checkpoint, which gives up quietly, excepted): so long is
     * another program's write, or a write transaction left open. */
    snprintf(buf, sizeof buf, "%s: another connection held it for more "
             "than the 10 s cairn waits (a VACUUM, a restore, a sqlite3 "
             "session with an open write transaction)", sqlite3_errmsg(db));
    return buf;
  default:
    break;
  }
  return sqlite3_errmsg(db);
}
