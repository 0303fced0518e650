/* SPDX-License-Identifier: MIT */
/* fsx.c -- durable file operations. */

#include "core/fsx.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int mkdirs_mode(const char *path, mode_t mode, cairn_err *err)
{
  char *p = cairn_xstrdup(path);
  int rc = CAIRN_OK;

  /* "" (the directory of "/x", an empty --state) is there already; the
   * scan starts after the first byte, which it must not skip over. */
  if (!*p) {
    free(p);
    return CAIRN_OK;
  }
  for (char *s = p + 1; ; s++) {
    if (*s == '/' || *s == '\0') {
      char c = *s;
      *s = '\0';
      if (mkdir(p, mode) != 0 && errno != EEXIST) {
        rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "mkdir %s: %s", p,
                         strerror(errno));
        break;
      }
      *s = c;
      if (c == '\0')
        break;
    }
  }
  free(p);
  return rc;
}

int cairn_fs_mkdirs(const char *path, cairn_err *err)
{
  return mkdirs_mode(path, 0755, err);
}

int cairn_fs_mkdirs_private(const char *path, cairn_err *err)
{
  return mkdirs_mode(path, 0700, err);
}

int cairn_fs_fsync_parent(const char *path, cairn_err *err)
{
  char *copy = cairn_xstrdup(path);
  int rc = cairn_fs_fsync_path(dirname(copy), err);
  free(copy);
  return rc;
}

int cairn_fs_write_all(int fd, const void *p, size_t n, const char *path,
                       cairn_err *err)
{
  const char *c = p;
  while (n > 0) {
    ssize_t k = write(fd, c, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0)
      return CAIRN_RAISE(err, CAIRN_EIO, errno, "write %s: %s", path,
                         strerror(errno));
    c += k;
    n -= (size_t)k;
  }
  return CAIRN_OK;
}

int cairn_fs_rename_tmp(int *fd, const char *tmp, const char *path,
                        cairn_err *err)
{
  int rc = CAIRN_OK;
  if (close(*fd) != 0)
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "close %s: %s", tmp,
                     strerror(errno));
  *fd = -1;
  if (rc == CAIRN_OK && rename(tmp, path) != 0)
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "rename %s -> %s: %s", tmp, path,
                     strerror(errno));
  return rc;
}

int cairn_fs_commit_tmp(int *fd, const char *tmp, const char *path,
                        cairn_err *err)
{
  int rc;
  if (fsync(*fd) != 0) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "fsync %s: %s", tmp,
                     strerror(errno));
    close(*fd);
    *fd = -1;
    return rc;
  }
  rc = cairn_fs_rename_tmp(fd, tmp, path, err);
  if (rc == CAIRN_OK)
    rc = cairn_fs_fsync_parent(path, err);
  return rc;
}

static int tmp_open(const char *tmp, int *fd, mode_t mode, cairn_err *err);

int cairn_fs_tmp_open(const char *tmp, int *fd, cairn_err *err)
{
  return tmp_open(tmp, fd, 0644, err);
}

static int tmp_open(const char *tmp, int *fd, mode_t mode, cairn_err *err)
{
  /* A temp name is predictable (path.tmp, path.tmp.PID) and may lie in a
   * directory others can write (a node_exporter textfile directory, a
   * shared evidence folder): whatever is there already, a file left by a
   * crash or a symbolic link planted to make cairn truncate and overwrite
   * its target, is removed, and the file is made anew; a name that comes
   * back between the two fails the write instead of being followed. */
  if (unlink(tmp) != 0 && errno != ENOENT) {
    /* left to open() to report */
  }
  *fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
             mode);
  if (*fd < 0)
    return CAIRN_RAISE(err, CAIRN_EIO, errno, "open %s: %s", tmp,
                       strerror(errno));
  return CAIRN_OK;
}

void cairn_fs_tmp_end(int fd, char *tmp, int rc)
{
  if (fd >= 0)
    close(fd);
  if (rc < 0)
    unlink(tmp);
  free(tmp);
}

/* The temp file an atomic write of path goes through. */
static char *tmp_name(const char *path)
{
  return cairn_strfmt("%s.tmp.%ld", path, (long)getpid());
}

static int write_atomic(const char *path, const void *data, size_t len,
                        mode_t mode, cairn_err *err)
{
  char *tmp = tmp_name(path);
  int fd, rc = tmp_open(tmp, &fd, mode, err);

  if (rc == CAIRN_OK)
    rc = cairn_fs_write_all(fd, data, len, tmp, err);
  if (rc == CAIRN_OK)
    rc = cairn_fs_commit_tmp(&fd, tmp, path, err);
  cairn_fs_tmp_end(fd, tmp, rc);
  return rc;
}

int cairn_fs_write_atomic(const char *path, const void *data, size_t len,
                          cairn_err *err)
{
  return write_atomic(path, data, len, 0644, err);
}

int cairn_fs_write_atomic_private(const char *path, const void *data,
                                  size_t len, cairn_err *err)
{
  return write_atomic(path, data, len, 0600, err);
}

int cairn_fs_can_write_atomic(const char *path, cairn_err *err)
{
  char *tmp = tmp_name(path);
  struct stat st;
  int fd = -1, rc;

  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    rc = CAIRN_RAISE(err, CAIRN_EIO, EISDIR, "%s: is a directory", path);
  else
    rc = cairn_fs_tmp_open(tmp, &fd, err);
  if (fd >= 0) {
    close(fd);
    unlink(tmp);
  }
  free(tmp);
  return rc;
}

int cairn_fs_fsync_path(const char *path, cairn_err *err)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  int rc = CAIRN_OK;

  if (fd < 0 || fsync(fd) != 0)
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "fsync %s: %s", path,
                     strerror(errno));
  if (fd >= 0)
    close(fd);
  return rc;
}

int cairn_fs_read_all(const char *path, struct cairn_buf *out, cairn_err *err)
{
  char chunk[65536];
  size_t n;
  FILE *fp = fopen(path, "rb");

  if (!fp)
    return CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: %s", path, strerror(errno));
  while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
    if (cairn_buf_append(out, chunk, n) != 0) {
      fclose(fp);
      return CAIRN_RAISE(err, CAIRN_EIO, 0, "%s: file too large", path);
    }
  }
  if (ferror(fp)) {
    int e = errno;
    fclose(fp);
    return CAIRN_RAISE(err, CAIRN_EIO, e, "read %s: %s", path, strerror(e));
  }
  fclose(fp);
  if (!out->data)
    cairn_buf_append(out, "", 0);
  return CAIRN_OK;
}

int cairn_fs_exists(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

char *cairn_fs_list_names(const char *dir, const char *suffix)
{
  const size_t slen = strlen(suffix);
  struct cairn_buf b = {0};
  char **names = NULL;
  size_t n = 0, cap = 0;
  DIR *d = opendir(dir);
  struct dirent *e;

  if (!d)
    return NULL;
  for (e = readdir(d); e; e = readdir(d)) {
    size_t len = strlen(e->d_name);
    if (len <= slen || strcmp(e->d_name + len - slen, suffix) != 0)
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 8;
      names = cairn_xrealloc(names, cap * sizeof *names);
    }
    names[n++] = cairn_xstrndup(e->d_name, len - slen);
  }
  closedir(d);
  if (n)
    qsort(names, n, sizeof *names, cmp_str);
  for (size_t i = 0; i < n; i++) {
    cairn_buf_printf(&b, "%s%s", i ? ", " : "", names[i]);
    free(names[i]);
  }
  free(names);
  if (!n)
    cairn_buf_puts(&b, "none");
  return cairn_buf_take(&b);
}

void cairn_fs_stamp_of(const struct stat *st, struct cairn_fs_stamp *out)
{
  out->size = (long long)st->st_size;
  out->mtime_ns = (long long)st->st_mtim.tv_sec * 1000000000LL +
                  st->st_mtim.tv_nsec;
}

int cairn_fs_stamp(int fd, const char *path, struct cairn_fs_stamp *out)
{
  struct stat st;
  if ((fd >= 0 ? fstat(fd, &st) : stat(path, &st)) != 0)
    return -1;
  cairn_fs_stamp_of(&st, out);
  return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag,
                  struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(p);
}

int cairn_fs_remove_tree(const char *path, cairn_err *err)
{
  if (!cairn_fs_exists(path))
    return CAIRN_OK;
  if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
    return CAIRN_RAISE(err, CAIRN_EIO, errno, "remove %s: %s", path,
                       strerror(errno));
  return CAIRN_OK;
}

char *cairn_fs_canonical(const char *path)
{
  struct cairn_buf b = {0};
  char *clean, *slash, *real;
  const char *p = path;

  /* lexically: "a//./b/" is "a/b" */
  if (*p == '/')
    cairn_buf_putc(&b, '/');
  while (*p) {
    size_t n = strcspn(p, "/");
    if (n && !(n == 1 && p[0] == '.')) {
      if (b.len && b.data[b.len - 1] != '/')
        cairn_buf_putc(&b, '/');
      cairn_buf_append(&b, p, n);
    }
    p += n + (p[n] == '/');
  }
  if (!b.len)
    cairn_buf_putc(&b, '.');
  clean = cairn_buf_take(&b);
  slash = strrchr(clean, '/');
  if (slash == clean) /* a file in the root */
    return clean;
  if (slash)
    *slash = '\0';
  real = realpath(slash ? clean : ".", NULL);
  if (slash)
    *slash = '/';
  if (real) {
    char *out = cairn_path_join(real, slash ? slash + 1 : clean);
    free(real);
    free(clean);
    return out;
  }
  return clean;
}

char *cairn_path_join(const char *a, const char *b)
{
  size_t n = strlen(a);
  /* An empty directory is the current one (as "--out ''" means), not
   * the root that "/b" would name. */
  if (b[0] == '/' || n == 0)
    return cairn_xstrdup(b);
  if (n && a[n - 1] == '/')
    return cairn_strfmt("%s%s", a, b);
  return cairn_strfmt("%s/%s", a, b);
}
