/* SPDX-License-Identifier: MIT */
/* lock.c -- one run per job: an flock()ed file holding "pid since".
 *
 * The kernel drops an flock when its process dies, even by SIGKILL, so a
 * lock can never be held by a dead process; the pid and time written in
 * the file only serve the messages ("job X is running (pid N, since T)",
 * "taking over stale lock of pid N"). The pid is written just after the
 * flock is taken and the file emptied just before it is let go, so a
 * refused run that reads no live pid looks again for a moment (the flock
 * asked for each time: it may have been let go) before it names one. */
#include "state/state.h"
#include "core/clock.h"
#include "core/fsx.h"
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

/* Looks at a lock whose holder has not written a live pid: about 1 s. */
#define HOLDER_LOOKS 20
#define HOLDER_LOOK_MS 50

/* The pid and start time the lock file holds (0 when empty). */
static void read_holder(int fd, long *pid, long long *since)
{
  char buf[128];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  *pid = 0;
  *since = 0;
  if (n > 0) {
    buf[n] = '\0';
    sscanf(buf, "%ld %lld", pid, since);
  }
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
    read_holder(fd, pid, since);
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

int cairn_lock_take(const char *state_dir, const char *job, cairn_lock **out,
                    long *stale_pid, cairn_err *err)
{
  char *dir = cairn_path_join(state_dir, "locks");
  char *path = cairn_strfmt("%s/%s.lock", dir, job);
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
  read_holder(fd, &pid, &since); /* under the flock: a holder now gone */
  if (pid > 0 && pid != (long)getpid())
    *stale_pid = pid; /* the file was left by a process that is gone */
  snprintf(buf, sizeof buf, "%ld %lld\n", (long)getpid(),
           (long long)cairn_clock_now());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, strlen(buf), 0) < 0) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "lock %s: %s", path,
                     strerror(errno));
    goto done;
  }
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
  if (!l)
    return;
  /* Empty the file before unlocking so the next run sees a clean lock. */
  if (ftruncate(l->fd, 0) != 0) {
    /* nothing to do: the flock is what matters */
  }
  flock(l->fd, LOCK_UN);
  close(l->fd);
  free(l->path);
  free(l);
}
