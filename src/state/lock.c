/* SPDX-License-Identifier: MIT */
/* lock.c -- one run per job: an flock()ed file holding "pid since".
 *
 * The kernel drops an flock when its process dies, even by SIGKILL, so a
 * lock can never be held by a dead process; the pid and time written in
 * the file only serve the messages ("job X is running (pid N, since T)",
 * "taking over stale lock of pid N"). */
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

int cairn_lock_take(const char *state_dir, const char *job, cairn_lock **out,
                    long *stale_pid, cairn_err *err)
{
  char *dir = cairn_path_join(state_dir, "locks");
  char *path = cairn_strfmt("%s/%s.lock", dir, job);
  char buf[128] = "";
  char stamp[32];
  long pid = 0;
  long long since = 0;
  ssize_t n;
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
  n = pread(fd, buf, sizeof buf - 1, 0);
  if (n > 0) {
    buf[n] = '\0';
    sscanf(buf, "%ld %lld", &pid, &since);
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    /* Re-read: the holder may have written its pid after our first read. */
    n = pread(fd, buf, sizeof buf - 1, 0);
    if (n > 0) {
      buf[n] = '\0';
      sscanf(buf, "%ld %lld", &pid, &since);
    }
    cairn_clock_fmt(since, stamp, sizeof stamp);
    rc = CAIRN_RAISE(err, CAIRN_ELOCKED, pid,
                     "job %s is running (pid %ld, since %s)", job, pid, stamp);
    goto done;
  }
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
