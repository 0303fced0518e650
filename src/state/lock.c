/* SPDX-License-Identifier: MIT */
/* lock.c -- one run per job: an flock()ed file holding "pid since run".
 *
 * The kernel drops an flock when its process dies, even by SIGKILL, so a
 * lock can never be held by a dead process; the pid and time written in
 * the file only serve the messages ("job X is running (pid N, since T)",
 * "taking over stale lock of pid N"), the run id cairn status (below). The pid is written just after the
 * flock is taken and the file emptied just before it is let go, so a
 * refused run that reads no live pid looks again for a moment (the flock
 * asked for each time: it may have been let go) before it names one.
 *
 * The holder also takes an open file description (OFD) write lock on the
 * file, once its pid is written, and lets it go before emptying the file.
 * It excludes nothing (the flock does); it is what `cairn status` asks
 * about to tell a live run from one that was killed: F_OFD_GETLK reports
 * a lock without taking one, so a run starting at that instant is never
 * refused or delayed by the question (a flock can only be tested by
 * taking it), and it sees the lock whatever pid namespace the holder is
 * in (/proc/locks hides the flocks of processes outside the reader's:
 * another container's run). The run id in the file says which run holds
 * it (a run about to begin holds it before its record exists). An older
 * cairn takes the flock alone and writes no run id; its runs show as
 * gone (docs/operations.md#upgrading says not to mix versions). */
#include "state/state.h"
#include "core/clock.h"
#include "core/fsx.h"
#include "core/log.h"
#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

struct cairn_lock {
  int   fd;
  char *path;
};

/* <state>/locks/<job>.lock; *dir (new) its directory, when asked. */
static char *lock_path(const char *state_dir, const char *job, char **dir)
{
  char *d = cairn_path_join(state_dir, "locks");
  char *path = cairn_strfmt("%s/%s.lock", d, job);
  if (dir)
    *dir = d;
  else
    free(d);
  return path;
}

/* An OFD write lock on the whole file: taken (F_WRLCK), let go
 * (F_UNLCK) or asked about (F_OFD_GETLK, which sets l_type to F_UNLCK
 * when no other open file holds one). */
static int ofd_lock(int fd, int cmd, short type, struct flock *fl)
{
  memset(fl, 0, sizeof *fl);
  fl->l_type = type;
  fl->l_whence = SEEK_SET; /* l_start 0, l_len 0: the whole file */
  return fcntl(fd, cmd, fl);
}

/* Looks at a lock whose holder has not written a live pid: about 1 s. */
#define HOLDER_LOOKS 20
#define HOLDER_LOOK_MS 50

#define RUN_ID_MAX 64 /* a run id and its NUL (the runner's: 16 hex digits) */

/* The pid, start time and run id the lock file holds (0, 0 and "" when
 * it holds none: empty, or written by an older cairn); run may be NULL. */
static void read_holder(int fd, long *pid, long long *since, char *run)
{
  char buf[128], id[RUN_ID_MAX] = "";
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  *pid = 0;
  *since = 0;
  if (n > 0) {
    buf[n] = '\0';
    sscanf(buf, "%ld %lld %63s", pid, since, id);
  }
  if (run)
    memcpy(run, id, sizeof id);
}

static int alive(long pid)
{
  return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* Try the flock; when another process holds it, read its pid until it is
 * one of a live process (a holder between its flock and its write, or
 * between emptying the file and letting go, shows the last holder's pid
 * or none). 0 when taken, -1 when held, *pid and *since the holder's, 0
 * if it never showed. */
static int try_flock(int fd, long *pid, long long *since)
{
  for (int look = 0;; look++) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
      return 0;
    read_holder(fd, pid, since, NULL);
    if (alive(*pid))
      return -1;
    if (look == HOLDER_LOOKS) {
      *pid = 0;
      *since = 0;
      return -1;
    }
    cairn_clock_sleep_ms(HOLDER_LOOK_MS);
  }
}

int cairn_lock_take(const char *state_dir, const char *job,
                    const char *run_id, cairn_lock **out, long *stale_pid,
                    cairn_err *err)
{
  char *dir;
  char *path = lock_path(state_dir, job, &dir);
  struct flock fl;
  char buf[128];
  char stamp[32];
  long pid = 0;
  long long since = 0;
  int fd = -1, rc;

  *out = NULL;
  *stale_pid = 0;
  rc = cairn_fs_mkdirs(dir, err);
  if (rc < 0)
    goto done;
  fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "lock %s: %s", path,
                     strerror(errno));
    goto done;
  }
  if (try_flock(fd, &pid, &since) != 0) {
    cairn_clock_fmt(since, stamp, sizeof stamp);
    if (pid > 0)
      rc = CAIRN_RAISE(err, CAIRN_ELOCKED, pid, "job %s is running (pid %ld, "
                       "since %s)", job, pid, stamp);
    else
      rc = CAIRN_RAISE(err, CAIRN_ELOCKED, 0, "job %s is running (another "
                       "process holds its lock %s and has not written its "
                       "pid: a run starting or ending)", job, path);
    goto done;
  }
  read_holder(fd, &pid, &since, NULL); /* under the flock: one now gone */
  if (pid > 0 && pid != (long)getpid())
    *stale_pid = pid; /* the file was left by a process that is gone */
  snprintf(buf, sizeof buf, "%ld %lld %s\n", (long)getpid(),
           (long long)cairn_clock_now(), run_id);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, strlen(buf), 0) < 0) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "lock %s: %s", path,
                     strerror(errno));
    goto done;
  }
  /* After the pid: a holder cairn status sees always names its run. It
   * fails only where the kernel has no OFD locks (before Linux 3.15), where
   * cairn status cannot ask either and says it cannot tell. */
  if (ofd_lock(fd, F_OFD_SETLK, F_WRLCK, &fl) != 0)
    cairn_warn("lock %s: no liveness lock (%s): cairn status cannot tell "
               "whether this run is alive", path, strerror(errno));
  *out = cairn_xcalloc(1, sizeof **out);
  (*out)->fd = fd;
  (*out)->path = path;
  fd = -1;
  path = NULL;
done:
  if (fd >= 0)
    close(fd);
  free(path);
  free(dir);
  return rc;
}

void cairn_lock_release(cairn_lock *l)
{
  struct flock fl;
  if (!l)
    return;
  /* The OFD lock first, before the file is emptied (a holder cairn status
   * sees names its run) and before the flock is let go: the next run
   * takes its own once it has the flock, and this one must not be in its
   * way then. */
  ofd_lock(l->fd, F_OFD_SETLK, F_UNLCK, &fl);
  /* Empty the file before unlocking so the next run sees a clean lock. */
  if (ftruncate(l->fd, 0) != 0) {
    /* nothing to do: the flock is what matters */
  }
  flock(l->fd, LOCK_UN);
  close(l->fd);
  free(l->path);
  free(l);
}

int cairn_lock_holder(const char *state_dir, const char *job, char **run_id,
                      cairn_err *err)
{
  char *path = lock_path(state_dir, job, NULL);
  char run[RUN_ID_MAX];
  struct flock fl;
  long pid;
  long long since;
  int fd, rc = CAIRN_OK;

  *run_id = NULL;
  /* Read only: never created, never locked (the reader may not write). */
  fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) /* none: no run ever took it */
      rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "lock %s: %s", path,
                       strerror(errno));
    goto done;
  }
  if (ofd_lock(fd, F_OFD_GETLK, F_WRLCK, &fl) != 0) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "lock %s: F_OFD_GETLK: %s", path,
                     strerror(errno));
    goto done;
  }
  if (fl.l_type != F_UNLCK) {
    read_holder(fd, &pid, &since, run);
    *run_id = cairn_xstrdup(run);
  }
done:
  if (fd >= 0)
    close(fd);
  free(path);
  return rc;
}
