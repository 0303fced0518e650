/* SPDX-License-Identifier: MIT */
/* fsx.h -- file-system helpers that keep the crash guarantees: atomic
 * replace (temp + fsync + rename + fsync dir), recursive mkdir, whole-file
 * reads. All paths are borrowed. */
#ifndef CAIRN_FSX_H
#define CAIRN_FSX_H

#include <stddef.h>
#include "core/err.h"
#include "core/mem.h"

/* mkdir -p ("" is the current directory: nothing to make); 0 or
 * CAIRN_EIO. */
int cairn_fs_mkdirs(const char *path, cairn_err *err);
/* The same, making the missing directories 0700 (for data no one but the
 * user cairn runs as may read: raw pages, downloads). */
int cairn_fs_mkdirs_private(const char *path, cairn_err *err);
/* Write data to path atomically: after a crash the file is either the old
 * one or the complete new one. */
int cairn_fs_write_atomic(const char *path, const void *data, size_t len,
                          cairn_err *err);
/* The same, the file made 0600 whatever the umask (data no one but the
 * user cairn runs as may read: an HTTP recording). */
int cairn_fs_write_atomic_private(const char *path, const void *data,
                                  size_t len, cairn_err *err);
/* An atomic write goes through a temp file: open it (mode 0644; made
 * anew: whatever is at that name, a symbolic link included, is removed
 * first and never followed) into *fd, write it, commit it, and end it. */
int cairn_fs_tmp_open(const char *tmp, int *fd, cairn_err *err);
/* Commit: fsync and close *fd (always closed, *fd set to -1), rename tmp
 * to path, fsync path's directory. */
int cairn_fs_commit_tmp(int *fd, const char *tmp, const char *path,
                        cairn_err *err);
/* The same without either fsync: path then holds the whole new file for
 * as long as the machine runs (a killed process loses nothing), but a
 * power loss or OS crash may leave it missing, short or empty. For data
 * that is checked when it is read again after a reboot. */
int cairn_fs_rename_tmp(int *fd, const char *tmp, const char *path,
                        cairn_err *err);
/* End: close fd unless it is -1 (committed), remove tmp unless rc says
 * the write succeeded (rc >= 0), free tmp. */
void cairn_fs_tmp_end(int fd, char *tmp, int rc);
/* Could cairn_fs_write_atomic(path) work (its temp file be made there,
 * path not a directory)? For output written at the end of a long run:
 * find out before it. 0 or CAIRN_EIO. */
int cairn_fs_can_write_atomic(const char *path, cairn_err *err);
/* write() all n bytes (retrying short writes and EINTR); path names the
 * file in the error. */
int cairn_fs_write_all(int fd, const void *p, size_t n, const char *path,
                       cairn_err *err);
/* fsync a file or a directory by path. */
int cairn_fs_fsync_path(const char *path, cairn_err *err);
/* fsync the directory containing path (makes a rename durable). */
int cairn_fs_fsync_parent(const char *path, cairn_err *err);
/* Read a whole file into out (appends). */
int cairn_fs_read_all(const char *path, struct cairn_buf *out, cairn_err *err);
int cairn_fs_exists(const char *path);
/* The names of the files in dir that end in suffix, without it, sorted
 * and joined as "a, b, c" ("none" when there are none): for messages that
 * say what a directory holds. NULL when dir cannot be read. New string. */
char *cairn_fs_list_names(const char *dir, const char *suffix);
/* What a checkpoint taken inside an input file records of it: its size
 * and modification time (ns). A file rewritten since has another (unless
 * copied with its times kept). fd >= 0: that open file, else path. 0, or
 * -1 with errno. */
struct cairn_fs_stamp {
  long long size;
  long long mtime_ns;
};
int cairn_fs_stamp(int fd, const char *path, struct cairn_fs_stamp *out);
struct stat;
void cairn_fs_stamp_of(const struct stat *st, struct cairn_fs_stamp *out);
/* rm -rf; missing path is fine. */
int cairn_fs_remove_tree(const char *path, cairn_err *err);
/* Join two path parts with one '/' (b alone when it is absolute or a is
 * "", the current directory); new string. */
char *cairn_path_join(const char *a, const char *b);
/* path as one spelling of the file it names, for telling whether two
 * paths name the same file (new string): its parent directory resolved
 * (symlinks, "..") when it exists, plus the base name; else the path
 * with "." parts and repeated or trailing '/' dropped. */
char *cairn_fs_canonical(const char *path);

#endif
