/* SPDX-License-Identifier: MIT */
/* sink_bundle.c -- the evidence bundle sink ("type": "bundle").
 *
 * Each chunk becomes a zstd-compressed NDJSON part in a per-window staging
 * directory, written to a temp name and renamed (no fsync: a power loss is
 * caught by checking the parts of an earlier boot, see staging_count), so
 * the longest run of whole parts 1..N is the sink's durable seq.
 * finish_window() hashes and counts the parts, writes a canonical
 * manifest.json, signs it with Ed25519 when a key is configured, and packs
 * manifest, signature and parts into one deterministic tar; then the
 * window's staging goes away and the tar's manifest answers durable_seq.
 * A window finished again with no staging is a no-op, unless its tar is
 * not signed with the current key: then it is re-signed from its own
 * parts (unpack_parts). A day or month has one bundle, replaced when the
 * window is loaded again; the window "all", loaded again by every run,
 * has one per run, named by the run's logical time (choose_tar), and a
 * file in the job dir names the one its attempt finished (mark_latest).
 * Layout, recovery rules and the manifest format:
 * docs/internals/bundle.md; the auditor's view: docs/evidence.md. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* strnlen, fsync, O_DIRECTORY */
#endif
#include "sink/sink.h"
#include "sink/verify.h"
#include "core/clock.h"
#include "core/codec.h"
#include "core/fsx.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <zstd.h>

#define SIGNING_SECRET "EVIDENCE_SIGNING_KEY"
#define PART_SUFFIX    ".ndjson.zst"
#define DEFAULT_LEVEL  1 /* docs/internals/bundle.md: fastest and smallest here */

/* Size, digest and record count of a part, known from writing it. */
struct part_meta {
  int      valid;
  uint64_t bytes;
  uint64_t records;
  char     sha[65];
};

struct bundle_sink {
  cairn_sink       base;        /* first: cairn_sink * casts back */
  char            *root;        /* resolved "dir" */
  char            *job_dir;     /* root/<job>: finished bundles */
  char            *staging;     /* job_dir/.staging: one dir per window */
  int              level;       /* zstd level, fixed for the sink's life */
  EVP_PKEY        *key;         /* Ed25519 signing key; NULL = unsigned */
  char             key_fpr[65]; /* hex SHA-256 of the key's DER SPKI */
  size_t          *order;       /* contract fields sorted by name */
  char           **keys;        /* per sorted field: '{' or ',', the
                                   escaped name, ':' (owned) */
  size_t          *key_len;
  ZSTD_CCtx       *cctx;        /* fixed parameters, reused for each part */
  struct cairn_buf ndjson;      /* NDJSON rows not yet compressed */
  unsigned char   *clean;       /* per row of the chunk: no escapes */
  size_t           clean_cap;
  char            *zout;        /* compressed bytes not yet written */
  size_t           zout_cap;
  /* What this process knows of the parts it wrote itself (window
   * meta_key, index seq - 1), so finish need not read them back. Parts
   * left by an earlier process are not here and are read at finish. */
  char             meta_key[sizeof ((struct cairn_window *)0)->key];
  /* The window whose staging this process marked as written in this boot
   * (BOOT_FILE), or "". */
  char             boot_key[sizeof ((struct cairn_window *)0)->key];
  struct part_meta *meta;
  size_t           n_meta;      /* entries 0..n_meta-1 may be valid */
};

struct bundle_cfg {
  const char *dir;         /* borrowed from the cfg */
  int         level;
  int         require_sig;
};

/* ---- configuration ---------------------------------------------------- */

static int parse_cfg(const json_t *cfg, struct bundle_cfg *out,
                     const char **ptr_out, cairn_err *err)
{
  const json_t *dir, *path, *level, *req;
  const char *dir_ptr = "/dir";

  out->dir = CAIRN_SINK_BUNDLE_DIR;
  out->level = DEFAULT_LEVEL;
  out->require_sig = 0;
  if (ptr_out)
    *ptr_out = NULL;
  if (!cfg)
    return CAIRN_OK;
  if (!json_is_object(cfg)) {
    if (ptr_out)
      *ptr_out = "";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                       "bundle sink: definition must be an object");
  }
  dir = json_object_get(cfg, "dir");
  path = json_object_get(cfg, "path");
  if (dir && path) {
    if (ptr_out)
      *ptr_out = "/path";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                       "bundle sink: give \"dir\" or its alias \"path\", "
                       "not both");
  }
  if (!dir) {
    dir = path;
    dir_ptr = "/path";
  }
  if (dir) {
    if (!json_is_string(dir) || json_string_length(dir) == 0) {
      if (ptr_out)
        *ptr_out = dir_ptr;
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                         "bundle sink: \"%s\" must be a non-empty string",
                         dir_ptr + 1);
    }
    out->dir = json_string_value(dir);
  }
  level = json_object_get(cfg, "level");
  if (level) {
    /* A string is allowed so "${param:level:-1}" works. */
    long v = -1;
    if (json_is_integer(level)) {
      v = (long)json_integer_value(level);
    } else if (json_is_string(level)) {
      const char *t = json_string_value(level);
      char *end = NULL;
      v = strtol(t, &end, 10);
      if (end == t || *end != '\0')
        v = -1;
    }
    if (v < 1 || v > ZSTD_maxCLevel()) {
      if (ptr_out)
        *ptr_out = "/level";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                         "bundle sink: \"level\" must be an integer "
                         "from 1 to %d", ZSTD_maxCLevel());
    }
    out->level = (int)v;
  }
  req = json_object_get(cfg, "require_signature");
  if (req) {
    if (!json_is_boolean(req)) {
      if (ptr_out)
        *ptr_out = "/require_signature";
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                         "bundle sink: \"require_signature\" must be "
                         "true or false");
    }
    out->require_sig = json_is_true(req);
  }
  return CAIRN_OK;
}

static int bundle_check(const json_t *cfg,
                        const struct cairn_contract *contract,
                        const char **ptr_out, cairn_err *err)
{
  struct bundle_cfg c;
  (void)contract; /* a bundle holds any contract's records */
  return parse_cfg(cfg, &c, ptr_out, err);
}

static const char *bundle_required_secret(const json_t *cfg)
{
  return json_is_true(json_object_get(cfg, "require_signature"))
             ? SIGNING_SECRET
             : NULL;
}

/* Job names and window keys become file names: keep them boring. */
static int safe_name(const char *s, size_t max)
{
  size_t n = strnlen(s, max);
  if (n == 0 || n == max || s[0] == '.')
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
      return 0;
  }
  return 1;
}

static int check_window(const struct cairn_window *w, cairn_err *err)
{
  /* No dots: "<key>.trash" must never name another window. */
  CAIRN_FAIL_IF(!safe_name(w->key, sizeof w->key) || strchr(w->key, '.'),
                err, CAIRN_EINTERNAL, 0,
                "bundle sink: window key \"%.16s\" is not usable as a "
                "file name", w->key);
  return CAIRN_OK;
}

/* ---- paths ------------------------------------------------------------ */

static char *window_dir(const struct bundle_sink *s,
                        const struct cairn_window *w)
{
  return cairn_strfmt("%s/%s", s->staging, w->key);
}

static char *part_path(const char *wdir, long seq)
{
  return cairn_strfmt("%s/%ld" PART_SUFFIX, wdir, seq);
}

/* The bundle of a day or month window: one per window, replaced when the
 * window is loaded again. Also the name a bundle of the window "all" had
 * before bundles were named per run (read back, never written). */
static char *tar_path(const struct bundle_sink *s,
                      const struct cairn_window *w)
{
  return cairn_strfmt("%s/%s-%s.tar", s->job_dir, s->base.ctx->job, w->key);
}

/* A window without an end (the window "all" of a job without windows) is
 * loaded again by every run: each run's bundle is a file of its own, named
 * by the run's logical time, rather than replacing the previous run's. */
static int per_run(const struct cairn_window *w)
{
  return !w->end[0];
}

/* The k-th name (k >= 1) of the bundle of per-run window w at logical time
 * t: <job>-<window>-YYYYMMDDTHHMMSSZ.tar (ISO 8601 basic format, UTC),
 * then <...Z>-2.tar, -3, ... for other records at the same time. */
static char *run_tar_path(const struct bundle_sink *s,
                          const struct cairn_window *w, int64_t t, long k)
{
  char stamp[CAIRN_BUNDLE_STAMP_MAX];
  char *path;

  cairn__bundle_stamp(t, stamp);
  if (k > 1)
    path = cairn_strfmt("%s/%s-%s-%s-%ld.tar", s->job_dir, s->base.ctx->job,
                        w->key, stamp, k);
  else
    path = cairn_strfmt("%s/%s-%s-%s.tar", s->job_dir, s->base.ctx->job,
                        w->key, stamp);
  return path;
}

/* <job_dir>/.<window>.latest: the file name of the bundle the per-run
 * window's current attempt finished, for durable_seq, a repeated finish and
 * outputs once its staging is gone. Window keys hold no dot and job names
 * do not start with one, so it names no bundle and no staging. */
static char *latest_path(const struct bundle_sink *s,
                         const struct cairn_window *w)
{
  return cairn_strfmt("%s/.%s.latest", s->job_dir, w->key);
}

/* "<seq>.ndjson.zst" with seq >= 1 and no leading zero. */
static int parse_part_name(const char *name, long *seq)
{
  long v = 0;
  const char *p = name;

  if (*p < '1' || *p > '9')
    return 0;
  while (*p >= '0' && *p <= '9') {
    if (v > 100000000L)
      return 0;
    v = v * 10 + (*p++ - '0');
  }
  if (strcmp(p, PART_SUFFIX) != 0)
    return 0;
  *seq = v;
  return 1;
}

/* Create the window's staging dir and make its entry durable. */
static int ensure_dir(const struct bundle_sink *s, const char *wdir,
                      cairn_err *err)
{
  int rc;

  if (cairn_fs_exists(wdir))
    return CAIRN_OK;
  rc = cairn_fs_mkdirs(wdir, err);
  if (rc == CAIRN_OK)
    rc = cairn_fs_fsync_path(s->staging, err);
  if (rc == CAIRN_OK)
    rc = cairn_fs_fsync_path(s->job_dir, err);
  if (rc == CAIRN_OK)
    rc = cairn_fs_fsync_path(s->root, err);
  return rc;
}

/* ---- staging ---------------------------------------------------------- */

/* Remove temp files (a crash mid-write) and parts above 'keep' (beyond a
 * gap, or left by an attempt that was reset): none of them is durable. */
static int staging_prune(const char *wdir, long keep, cairn_err *err)
{
  DIR *d = opendir(wdir);
  struct dirent *de;
  int removed = 0, rc = CAIRN_OK;

  if (!d)
    return CAIRN_RAISE(err, CAIRN_EIO, errno, "opendir %s: %s", wdir,
                       strerror(errno));
  while ((de = readdir(d)) != NULL) {
    long seq;
    char *p;
    if (!strstr(de->d_name, ".tmp") &&
        !(parse_part_name(de->d_name, &seq) && seq > keep))
      continue;
    p = cairn_path_join(wdir, de->d_name);
    if (unlink(p) != 0 && errno != ENOENT) {
      rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "unlink %s: %s", p,
                       strerror(errno));
      free(p);
      break;
    }
    free(p);
    removed++;
  }
  closedir(d);
  if (rc == CAIRN_OK && removed)
    rc = cairn_fs_fsync_path(wdir, err);
  return rc;
}

/* The staging dir is renamed away in one step, so a crash while deleting
 * it never leaves a window that looks half-loaded. */
static int drop_staging(const struct bundle_sink *s, const char *wdir,
                        const struct cairn_window *w, cairn_err *err)
{
  char *trash = cairn_strfmt("%s/%s.trash", s->staging, w->key);
  int rc = cairn_fs_remove_tree(trash, err);

  if (rc < 0)
    goto done;
  if (rename(wdir, trash) != 0) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "rename %s -> %s: %s", wdir,
                     trash, strerror(errno));
    goto done;
  }
  rc = cairn_fs_fsync_path(s->staging, err);
  if (rc == CAIRN_OK)
    rc = cairn_fs_remove_tree(trash, err);
  if (rc == CAIRN_OK && rmdir(s->staging) == 0)
    rc = cairn_fs_fsync_path(s->job_dir, err);
done:
  free(trash);
  return rc;
}

/* Leftovers of a crash: temp tars in the job dir, trash in staging. */
static int clean_dir(const char *dir, const char *suffix, int tree,
                     cairn_err *err)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  size_t n_suffix = strlen(suffix);
  int rc = CAIRN_OK;

  if (!d)
    return CAIRN_OK; /* nothing written yet */
  while (rc == CAIRN_OK && (de = readdir(d)) != NULL) {
    size_t n = strlen(de->d_name);
    char *p;
    if (n <= n_suffix || strcmp(de->d_name + n - n_suffix, suffix) != 0)
      continue;
    p = cairn_path_join(dir, de->d_name);
    if (tree)
      rc = cairn_fs_remove_tree(p, err);
    else if (unlink(p) != 0 && errno != ENOENT)
      rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "unlink %s: %s", p,
                       strerror(errno));
    free(p);
  }
  closedir(d);
  return rc;
}

/* ---- NDJSON encoding -------------------------------------------------- */

/* The bytes are exactly cairn_batch_row_json's (tests compare them): keys
 * in sorted order, strings escaped the same way, one '\n' per row. This
 * copy exists for speed: key texts are escaped once at open, clean runs
 * of a string are found 16 bytes at a time and copied whole, integers are
 * formatted without printf, and the exact length is known beforehand. */

/* "%lld" of v at p (room for 20 bytes); returns the end. */
static char *put_int(char *p, int64_t v)
{
  char tmp[24];
  char *t = tmp + sizeof tmp;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  size_t n;

  do {
    *--t = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    *--t = '-';
  n = (size_t)(tmp + sizeof tmp - t);
  memcpy(p, t, n);
  return p + n;
}

static size_t int_len(int64_t v)
{
  char tmp[24];
  return (size_t)(put_int(tmp, v) - tmp);
}

/* Key texts: k == 0 opens the object. */
static void build_keys(struct bundle_sink *s, const struct cairn_contract *c)
{
  s->keys = cairn_xmalloc((c->n_fields ? c->n_fields : 1) * sizeof *s->keys);
  s->key_len = cairn_xmalloc((c->n_fields ? c->n_fields : 1) *
                             sizeof *s->key_len);
  for (size_t k = 0; k < c->n_fields; k++) {
    const char *name = c->fields[s->order[k]].name;
    size_t n = strlen(name);
    char *t = cairn_xmalloc(6 * n + 4), *p = t;
    *p++ = k ? ',' : '{';
    p = cairn_json_str_to(p, name, n, 0);
    *p++ = ':';
    *p = '\0';
    s->keys[k] = t;
    s->key_len[k] = (size_t)(p - t);
  }
}

/* NDJSON length of row r, '\n' included: exact, or when exact is 0 a
 * cheap upper bound (no scan of the strings). With exact, *clean (may be
 * NULL) says whether no string of the row needs escaping. */
static size_t row_len(const struct bundle_sink *s, const struct cairn_batch *b,
                      size_t r, int exact, unsigned char *clean)
{
  const struct cairn_value *row = b->vals + r * b->n_fields;
  size_t len = b->n_fields ? 2 : 3; /* "}\n", or "{}\n" */
  unsigned char all_clean = 1;

  for (size_t k = 0; k < b->n_fields; k++) {
    const struct cairn_value *v = &row[s->order[k]];
    size_t n;
    len += s->key_len[k];
    switch (v->type) {
    case CAIRN_V_STR:
      if (!exact) {
        len += 6 * (size_t)v->len + 2;
        break;
      }
      n = cairn_json_str_len(v->s, v->len);
      all_clean &= n == (size_t)v->len + 2;
      len += n;
      break;
    case CAIRN_V_NUM:
    case CAIRN_V_JSON:
      len += v->len;
      break;
    case CAIRN_V_INT:
      len += exact ? int_len(v->i) : 20;
      break;
    case CAIRN_V_BOOL:
      len += v->i ? 4 : 5;
      break;
    default:
      len += 4;
    }
  }
  if (clean)
    *clean = all_clean;
  return len;
}

/* Encode row r at p (room for row_len(.., 0) bytes); returns the end.
 * 'clean' from row_len: no string needs escaping, copy them as they are. */
static char *put_row(const struct bundle_sink *s, const struct cairn_batch *b,
                     size_t r, int clean, char *p)
{
  const struct cairn_value *row = b->vals + r * b->n_fields;

  if (!b->n_fields)
    *p++ = '{';
  for (size_t k = 0; k < b->n_fields; k++) {
    const struct cairn_value *v = &row[s->order[k]];
    memcpy(p, s->keys[k], s->key_len[k]);
    p += s->key_len[k];
    switch (v->type) {
    case CAIRN_V_STR:
      if (!clean) {
        p = cairn_json_str_to(p, v->s, v->len, 0);
        break;
      }
      *p++ = '"';
      if (v->len)
        memcpy(p, v->s, v->len);
      p += v->len;
      *p++ = '"';
      break;
    case CAIRN_V_NUM:
    case CAIRN_V_JSON:
      if (v->len)
        memcpy(p, v->s, v->len);
      p += v->len;
      break;
    case CAIRN_V_INT:
      p = put_int(p, v->i);
      break;
    case CAIRN_V_BOOL:
      memcpy(p, v->i ? "true" : "false", v->i ? 4 : 5);
      p += v->i ? 4 : 5;
      break;
    default:
      memcpy(p, "null", 4);
      p += 4;
    }
  }
  *p++ = '}';
  *p++ = '\n';
  return p;
}

/* ---- writing a part --------------------------------------------------- */

/* Forget what is known of parts seq.. of w (all of them for another
 * window). */
static void meta_forget(struct bundle_sink *s, const struct cairn_window *w,
                        long seq)
{
  if (strcmp(s->meta_key, w->key) != 0) {
    snprintf(s->meta_key, sizeof s->meta_key, "%s", w->key);
    seq = 1;
  }
  for (size_t i = seq > 0 ? (size_t)seq - 1 : 0; i < s->n_meta; i++)
    s->meta[i].valid = 0;
}

static void meta_put(struct bundle_sink *s, const struct cairn_window *w,
                     long seq, const struct part_meta *m)
{
  size_t i = (size_t)seq - 1;

  if (strcmp(s->meta_key, w->key) != 0)
    meta_forget(s, w, 1);
  if (i >= s->n_meta) {
    size_t n = i + 1 > 2 * s->n_meta ? i + 1 : 2 * s->n_meta;
    s->meta = cairn_xrealloc(s->meta, n * sizeof *s->meta);
    memset(s->meta + s->n_meta, 0, (n - s->n_meta) * sizeof *s->meta);
    s->n_meta = n;
  }
  s->meta[i] = *m;
  s->meta[i].valid = 1;
}

static const struct part_meta *meta_get(const struct bundle_sink *s,
                                        const struct cairn_window *w,
                                        long seq)
{
  size_t i = (size_t)seq - 1;

  if (strcmp(s->meta_key, w->key) != 0 || seq < 1 || i >= s->n_meta ||
      !s->meta[i].valid)
    return NULL;
  return &s->meta[i];
}

/* Compress n bytes of NDJSON (mode ZSTD_e_continue, or ZSTD_e_end to close
 * the frame) and write what zstd hands back to fd, hashing it. */
static int feed(struct bundle_sink *s, const char *p, size_t n,
                ZSTD_EndDirective mode, int fd, const char *path,
                struct cairn_sha256 *h, uint64_t *bytes, cairn_err *err)
{
  ZSTD_inBuffer in = { p, n, 0 };
  size_t left;

  do {
    ZSTD_outBuffer out = { s->zout, s->zout_cap, 0 };
    left = ZSTD_compressStream2(s->cctx, &out, &in, mode);
    if (ZSTD_isError(left))
      return CAIRN_RAISE(err, CAIRN_ESINK, 0, "zstd: %s",
                         ZSTD_getErrorName(left));
    if (out.pos) {
      CAIRN_TRY(cairn_fs_write_all(fd, s->zout, out.pos, path, err));
      cairn_sha256_update(h, s->zout, out.pos);
      *bytes += out.pos;
    }
  } while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
  return CAIRN_OK;
}

/* NDJSON handed to zstd at a time: one zstd block. */
#define FEED_BYTES ((size_t)128 * 1024)

/* Write the batch as part 'path' (temp name, then rename; no fsync of the
 * file or the directory: a power loss is caught by staging_count) and
 * describe it in *m. The chunk never exists whole as
 * NDJSON: rows are encoded into a small buffer and streamed through zstd
 * into the file. The exact NDJSON length is computed first and pledged,
 * so the frame header carries the content size as a one-shot compression
 * of the same bytes would. */
static int write_part(struct bundle_sink *s, const struct cairn_batch *b,
                      const char *path, struct part_meta *m, cairn_err *err)
{
  char *tmp = cairn_strfmt("%s.tmp.%ld", path, (long)getpid());
  struct cairn_sha256 h;
  uint64_t total = 0;
  int fd, rc;

  memset(m, 0, sizeof *m);
  cairn_sha256_init(&h);
  rc = cairn_fs_tmp_open(tmp, &fd, err);
  if (rc < 0)
    goto done;
  if (b->n_rows > s->clean_cap) {
    s->clean_cap = b->n_rows;
    s->clean = cairn_xrealloc(s->clean, s->clean_cap);
  }
  for (size_t r = 0; r < b->n_rows; r++)
    total += row_len(s, b, r, 1, &s->clean[r]);
  if (ZSTD_isError(ZSTD_CCtx_reset(s->cctx, ZSTD_reset_session_only)) ||
      ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(s->cctx, total))) {
    rc = CAIRN_RAISE(err, CAIRN_EINTERNAL, 0, "zstd: cannot start a frame");
    goto done;
  }
  cairn_buf_reset(&s->ndjson);
  rc = CAIRN_OK;
  for (size_t r = 0; rc == CAIRN_OK && r < b->n_rows; r++) {
    char *p = cairn_buf_reserve(&s->ndjson, row_len(s, b, r, 0, NULL));
    s->ndjson.len += (size_t)(put_row(s, b, r, s->clean[r], p) - p);
    if (s->ndjson.len >= FEED_BYTES) {
      rc = feed(s, s->ndjson.data, s->ndjson.len, ZSTD_e_continue, fd, tmp,
                &h, &m->bytes, err);
      cairn_buf_reset(&s->ndjson);
    }
  }
  /* zstd also checks the pledged size: a mismatch is an error there. */
  if (rc == CAIRN_OK)
    rc = feed(s, s->ndjson.data ? s->ndjson.data : "", s->ndjson.len,
              ZSTD_e_end, fd, tmp, &h, &m->bytes, err);
  cairn_buf_reset(&s->ndjson);
  if (rc < 0)
    goto done;
  rc = cairn_fs_rename_tmp(&fd, tmp, path, err); /* no fsync: staging_count */
  if (rc < 0)
    goto done;
  /* Every row is one line: strings are escaped, so none holds a '\n'. */
  m->records = b->n_rows;
done:
  cairn_sha256_final_hex(&h, m->sha);
  cairn_fs_tmp_end(fd, tmp, rc);
  return rc;
}

/* ---- finished bundles ------------------------------------------------- */

/* Read a finished bundle's manifest: its part count, logical time
 * (*lt_out, new string, may be NULL), the fingerprint of the key that
 * signed it (fpr_out, may be NULL: "" when unsigned) and its parts
 * (*parts_out, a new reference, may be NULL). */
static int read_finished(const struct bundle_sink *s,
                         const struct cairn_window *w, const char *tarp,
                         long *n_out, char **lt_out, char *fpr_out,
                         json_t **parts_out, cairn_err *err)
{
  struct cairn_buf text = {0};
  json_t *m = NULL;
  const char *job, *key, *lt;
  const json_t *parts;
  int rc;

  rc = cairn__bundle_read_manifest(tarp, &text, err);
  if (rc < 0)
    goto done;
  m = json_loadb(text.data, text.len, 0, NULL);
  job = json_string_value(json_object_get(m, "job"));
  key = json_string_value(
      json_object_get(json_object_get(m, "window"), "key"));
  lt = json_string_value(json_object_get(m, "logical_time"));
  parts = json_object_get(m, "parts");
  if (!job || !key || !lt || !json_is_array(parts)) {
    rc = CAIRN_RAISE(err, CAIRN_ESINK, 0, "%s: manifest is not readable",
                     tarp);
    goto done;
  }
  if (strcmp(job, s->base.ctx->job) != 0 || strcmp(key, w->key) != 0) {
    rc = CAIRN_RAISE(err, CAIRN_ESINK, 0,
                     "%s: bundle of job %s window %s, expected %s %s", tarp,
                     job, key, s->base.ctx->job, w->key);
    goto done;
  }
  *n_out = (long)json_array_size(parts);
  if (lt_out)
    *lt_out = cairn_xstrdup(lt);
  if (fpr_out) {
    const json_t *sig = json_object_get(m, "signature");
    const char *f = json_string_value(json_object_get(sig,
                                                      "public_key_sha256"));
    /* "?" matches no key: a malformed signature field is re-signed */
    snprintf(fpr_out, 65, "%s", !sig || json_is_null(sig) ? ""
                                : f ? f : "?");
  }
  if (parts_out)
    *parts_out = json_incref((json_t *)parts);
done:
  json_decref(m);
  cairn_buf_free(&text);
  return rc;
}

/* A signature is never dropped: an unsigned bundle does not replace a
 * signed one at tarp (a rerun of the window, or of the same input at the
 * same logical time, by a run without the key). The window stays staged,
 * so a rerun with the key finishes it signed. A bundle whose manifest
 * cannot be read is replaced as before. */
static int keep_signed(const struct bundle_sink *s,
                       const struct cairn_window *w, const char *tarp,
                       cairn_err *err)
{
  cairn_err e = {0};
  char fpr[65] = "";
  long n;

  if (!cairn_fs_exists(tarp) ||
      read_finished(s, w, tarp, &n, NULL, fpr, NULL, &e) < 0 || !fpr[0])
    return CAIRN_OK;
  return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                     "bundle sink %s: %s is signed (key %s) and this run "
                     "has no signing key: set the secret %s and rerun to "
                     "finish window %s signed (it resumes), or move the "
                     "bundle aside to replace it unsigned",
                     s->base.ctx->sink_name, tarp, fpr, SIGNING_SECRET,
                     w->key);
}

/* The finished bundle of window w (new string) as far as the job dir
 * says, whether or not it exists: <job>-<window>.tar for a day or month;
 * for a per-run window the one its latest file names, else the name a
 * bundle of it had before bundles were named per run. */
static int finished_tar(const struct bundle_sink *s,
                        const struct cairn_window *w, char **out,
                        cairn_err *err)
{
  struct cairn_buf text = {0};
  char *latest = per_run(w) ? latest_path(s, w) : NULL, *prefix;
  size_t n;
  int rc;

  *out = NULL;
  if (!latest || !cairn_fs_exists(latest)) {
    free(latest);
    *out = tar_path(s, w);
    return CAIRN_OK;
  }
  prefix = cairn_strfmt("%s-%s", s->base.ctx->job, w->key);
  rc = cairn_fs_read_all(latest, &text, err);
  if (rc == CAIRN_OK) {
    cairn_buf_putc(&text, '\0');
    n = strcspn(text.data, "\n");
    text.data[n] = '\0';
    /* <job>-<window>...tar (<job>-all.tar too: a bundle from before
     * per-run names, re-signed), a plain name in the job dir */
    if (safe_name(text.data, n + 1) && n >= strlen(prefix) + 4 &&
        strncmp(text.data, prefix, strlen(prefix)) == 0 &&
        strcmp(text.data + n - 4, ".tar") == 0)
      *out = cairn_path_join(s->job_dir, text.data);
    else
      rc = CAIRN_RAISE(err, CAIRN_ESINK, 0, "%s: names no bundle of %s",
                       latest, prefix);
  }
  cairn_buf_free(&text);
  free(prefix);
  free(latest);
  return rc;
}

/* Record tarp as the bundle the per-run window w's attempt finished:
 * written whole and made durable before the staging goes away. */
static int mark_latest(const struct bundle_sink *s,
                       const struct cairn_window *w, const char *tarp,
                       cairn_err *err)
{
  char *path = latest_path(s, w), *tmp = cairn_strfmt("%s.tmp", path);
  const char *name = strrchr(tarp, '/');
  int fd = -1, rc;

  name = name ? name + 1 : tarp;
  rc = cairn_fs_tmp_open(tmp, &fd, err);
  if (rc == CAIRN_OK)
    rc = cairn_fs_write_all(fd, name, strlen(name), tmp, err);
  if (rc == CAIRN_OK)
    rc = cairn_fs_write_all(fd, "\n", 1, tmp, err);
  if (rc == CAIRN_OK)
    rc = cairn_fs_commit_tmp(&fd, tmp, path, err);
  cairn_fs_tmp_end(fd, tmp, rc); /* frees tmp */
  free(path);
  return rc;
}

/* Whether the bundle at path holds the records 'parts' at logical time
 * lt (a bundle of it that cannot be read does not, said once). */
static int holds_same(const struct bundle_sink *s,
                      const struct cairn_window *w, const char *path,
                      const char *lt, const json_t *parts)
{
  cairn_err e = {0};
  json_t *had = NULL;
  char *had_lt = NULL;
  long n = 0;
  int same = read_finished(s, w, path, &n, &had_lt, NULL, &had, &e) ==
                 CAIRN_OK && lt && strcmp(had_lt, lt) == 0 &&
             json_equal(had, parts);
  if (!same && e.msg[0])
    cairn_warn("bundle sink: %s is not replaced: %s", path, e.msg);
  json_decref(had);
  free(had_lt);
  return same;
}

/* Where the bundle of per-run window w just built ('manifest') goes: the
 * first of its names at logical time t (run_tar_path) that is free or
 * holds a bundle of the same records at the same logical time -- the same
 * input loaded again, or this attempt's own tar after a crash -- which is
 * then replaced. A bundle of that name with other records (two inputs
 * with one logical time: a file source without logical_time always has
 * 1970-01-01) is never replaced: the new one takes the next number.
 * Before them comes the name a cairn from before per-run names gave the
 * window's bundle (<job>-all.tar), when no later bundle of the window is
 * recorded (.all.latest) and it holds these records at this time: such a
 * cairn killed after its tar and before its staging went left both, and
 * the resumed attempt finishes there, not in a second bundle beside it. */
static char *choose_tar(const struct bundle_sink *s,
                        const struct cairn_window *w, int64_t t,
                        const struct cairn_buf *manifest)
{
  json_t *m = json_loadb(manifest->data, manifest->len, 0, NULL);
  const json_t *parts = json_object_get(m, "parts");
  const char *lt = json_string_value(json_object_get(m, "logical_time"));
  char *first = run_tar_path(s, w, t, 1), *latest = latest_path(s, w);
  char *path = tar_path(s, w);

  if (cairn_fs_exists(latest) || !cairn_fs_exists(path) ||
      !holds_same(s, w, path, lt, parts)) {
    free(path);
    for (long k = 1;; k++) {
      path = run_tar_path(s, w, t, k);
      if (!cairn_fs_exists(path)) {
        if (k > 1)
          cairn_warn("bundle sink: %s already holds other records at the "
                     "logical time %s; this run's bundle is %s (give the "
                     "job a logical_time that tells its inputs apart)",
                     first, lt, path);
        break;
      }
      if (holds_same(s, w, path, lt, parts))
        break;
      free(path);
    }
  }
  free(first);
  free(latest);
  json_decref(m);
  return path;
}

/* ---- manifest --------------------------------------------------------- */

/* Size, SHA-256 and record count of one staged part. */
static int digest_part(const char *path, uint64_t *bytes, char sha[65],
                       uint64_t *records, cairn_err *err)
{
  FILE *fp = fopen(path, "rb");
  struct cairn_sha256 h;
  struct cairn__zcount z;
  char buf[65536];
  size_t n;
  int rc = CAIRN_OK, bad;

  if (!fp)
    return CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: %s", path,
                       strerror(errno));
  *bytes = 0;
  cairn_sha256_init(&h);
  cairn__zcount_init(&z);
  while ((n = fread(buf, 1, sizeof buf, fp)) > 0) {
    cairn_sha256_update(&h, buf, n);
    cairn__zcount_update(&z, buf, n);
    *bytes += n;
  }
  cairn_sha256_final_hex(&h, sha);
  bad = cairn__zcount_final(&z, records) != 0;
  if (ferror(fp))
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "read %s: %s", path,
                     strerror(errno));
  else if (bad)
    rc = CAIRN_RAISE(err, CAIRN_ESINK, 0, "staged part %s is damaged: %s",
                     path, z.error);
  fclose(fp);
  return rc;
}

/* ---- parts written since the machine booted -------------------------
 *
 * A part is renamed into place without an fsync (cairn_fs_rename_tmp): a
 * killed process loses nothing, since the kernel holds the file whole, and
 * the window's tar is fsynced when it is written, as the SQLite sink syncs
 * only at its window's end. Only a power loss or an OS crash can leave a
 * part missing, short or empty, and either ends the boot. So the staging
 * dir names the boot its parts were written in (BOOT_FILE: the kernel's
 * boot_id), and staging_count trusts the parts of this boot but reads
 * those of another or unknown boot through zstd, whose frame checksum
 * covers every byte, and counts only up to the first that is not whole.
 * Two fsyncs per chunk had cost the bundle case about a tenth of its
 * time (docs/performance.md, item 25). */
#define BOOT_FILE "boot"

/* The first line of the file at path (without its newline), "" when it
 * cannot be read. A boot id is 36 characters. */
static void first_line(const char *path, char out[40])
{
  FILE *fp = fopen(path, "r");
  out[0] = '\0';
  if (fp) {
    if (!fgets(out, 40, fp))
      out[0] = '\0';
    fclose(fp);
  }
  out[strcspn(out, "\n")] = '\0';
}

/* This boot's id, or "" where the kernel has none. */
static void boot_id(char out[40])
{
  first_line("/proc/sys/kernel/random/boot_id", out);
}

/* Whether wdir's parts were written in this boot. */
static int boot_same(const char *wdir)
{
  char now[40], was[40];
  char *p = cairn_path_join(wdir, BOOT_FILE);
  first_line(p, was);
  free(p);
  boot_id(now);
  return now[0] && strcmp(now, was) == 0;
}

/* Record this boot as the one wdir's parts from now on are written in. */
static int boot_mark(const char *wdir, cairn_err *err)
{
  char id[40];
  char *path, *tmp;
  int fd = -1, rc;

  boot_id(id);
  if (!id[0])
    return CAIRN_OK; /* every part is checked then */
  path = cairn_path_join(wdir, BOOT_FILE);
  tmp = cairn_strfmt("%s.tmp.%ld", path, (long)getpid());
  rc = cairn_fs_tmp_open(tmp, &fd, err);
  if (rc == CAIRN_OK)
    rc = cairn_fs_write_all(fd, id, strlen(id), tmp, err);
  if (rc == CAIRN_OK)
    rc = cairn_fs_rename_tmp(&fd, tmp, path, err);
  cairn_fs_tmp_end(fd, tmp, rc);
  free(path);
  return rc;
}

/* Durable seq of a staged window: parts 1..N all present and, unless
 * this process wrote them or they were written in this boot, whole (their
 * sizes, digests and counts are kept for finish). Temp files and parts
 * above N are removed, and the staging is marked as this boot's (boot_key
 * remembers that this process has done so for window w). */
static int staging_count(struct bundle_sink *s, const struct cairn_window *w,
                         const char *wdir, long *n_out, cairn_err *err)
{
  int trust = boot_same(wdir), rc = CAIRN_OK;
  long n = 0;

  for (;;) {
    char *p = part_path(wdir, n + 1);
    int present = cairn_fs_exists(p);
    if (present && !trust && !meta_get(s, w, n + 1)) {
      struct part_meta m = {0};
      cairn_err e = {0};
      rc = digest_part(p, &m.bytes, m.sha, &m.records, &e);
      if (rc == CAIRN_OK) {
        meta_put(s, w, n + 1, &m);
      } else if (e.code == CAIRN_ESINK) {
        cairn_warn("bundle sink: %s, written before the machine restarted, "
                   "is not whole (%s): the window is loaded again from "
                   "chunk %ld", p, e.msg, n + 1);
        present = 0;
        rc = CAIRN_OK;
      } else {
        *err = e;
      }
    }
    free(p);
    if (rc < 0)
      return rc;
    if (!present)
      break;
    n++;
  }
  *n_out = n;
  rc = staging_prune(wdir, n, err);
  if (rc == CAIRN_OK && !trust)
    rc = boot_mark(wdir, err);
  if (rc == CAIRN_OK)
    snprintf(s->boot_key, sizeof s->boot_key, "%s", w->key);
  return rc;
}

static const char *or_null(const char *s)
{
  return s && *s ? s : NULL;
}

/* The manifest as canonical bytes: keys sorted, 2-space indent, final
 * newline. Everything in it is a pure function of the parts and the
 * run's inputs, so a rebuild yields the same bytes. */
static int build_manifest(const struct bundle_sink *s,
                          const struct cairn_window *w, const char *wdir,
                          long n, const char *logical_time,
                          struct cairn_buf *out, char (*shas)[65],
                          cairn_err *err)
{
  const struct cairn_sink_ctx *ctx = s->base.ctx;
  const struct cairn_contract *c = ctx->contract;
  json_t *parts = json_array(), *sig, *m = NULL;
  uint64_t tot_records = 0, tot_bytes = 0;
  char *text = NULL;
  int rc = CAIRN_OK;

  for (long seq = 1; seq <= n; seq++) {
    char *path = part_path(wdir, seq);
    char *name = cairn_strfmt("parts/%s/%ld" PART_SUFFIX, w->key, seq);
    uint64_t bytes = 0, records = 0;
    char *sha = shas[seq - 1];
    const struct part_meta *pm = meta_get(s, w, seq);
    struct stat st;
    /* A part this process wrote is described from memory (its size is
     * checked here, its digest again when it is packed); any other is
     * read back. Both give the same numbers for the same bytes. */
    if (pm && stat(path, &st) == 0 && (uint64_t)st.st_size == pm->bytes) {
      bytes = pm->bytes;
      records = pm->records;
      memcpy(sha, pm->sha, 65);
    } else {
      rc = digest_part(path, &bytes, sha, &records, err);
    }
    if (rc == CAIRN_OK)
      json_array_append_new(parts, json_pack(
          "{s:s, s:I, s:I, s:I, s:s}", "path", name, "seq", (json_int_t)seq,
          "records", (json_int_t)records, "bytes", (json_int_t)bytes,
          "sha256", sha));
    tot_records += records;
    tot_bytes += bytes;
    free(path);
    free(name);
    if (rc < 0) {
      json_decref(parts);
      goto done;
    }
  }
  if (s->key)
    sig = json_pack("{s:s, s:s, s:s}", "algorithm", "ed25519",
                    "public_key_sha256", s->key_fpr,
                    "file", CAIRN_BUNDLE_SIG);
  else
    sig = json_null();
  /* json_pack steals 'parts' and 'sig' even when it fails. */
  m = json_pack("{s:s, s:s, s:s?, s:{s:s, s:s?, s:s?},"
                " s:{s:s, s:s?, s:s?}, s:s, s:{s:s, s:i}, s:o,"
                " s:{s:I, s:I, s:I}, s:s?, s:o}",
                "format", CAIRN_BUNDLE_FORMAT,
                "job", ctx->job,
                "connector_version", or_null(ctx->connector_version),
                "contract", "name", c->name, "version", or_null(c->version),
                "id", or_null(c->id),
                "window", "key", w->key, "start", or_null(w->start),
                "end", or_null(w->end),
                "logical_time", logical_time,
                "compression", "algorithm", "zstd", "level", s->level,
                "parts", parts,
                "totals", "parts", (json_int_t)n,
                "records", (json_int_t)tot_records,
                "bytes", (json_int_t)tot_bytes,
                "recording_sha256", or_null(ctx->recording_sha256),
                "signature", sig);
  if (!m) {
    rc = CAIRN_RAISE(err, CAIRN_ESINK, 0,
                     "bundle manifest of %s window %s: a name is not valid "
                     "UTF-8", ctx->job, w->key);
    goto done;
  }
  text = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS);
  if (!text)
    abort(); /* allocation only */
  cairn_buf_puts(out, text);
  cairn_buf_putc(out, '\n');
done:
  free(text);
  json_decref(m);
  return rc;
}

static int sign_manifest(EVP_PKEY *key, const struct cairn_buf *manifest,
                         unsigned char sig[CAIRN_BUNDLE_SIG_LEN],
                         cairn_err *err)
{
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  size_t n = CAIRN_BUNDLE_SIG_LEN;
  int rc = CAIRN_OK;

  if (!md)
    abort();
  /* Ed25519 is "pure": no digest (NULL md), one-shot over the bytes. */
  if (EVP_DigestSignInit(md, NULL, NULL, NULL, key) != 1 ||
      EVP_DigestSign(md, sig, &n, (const unsigned char *)manifest->data,
                     manifest->len) != 1 || n != CAIRN_BUNDLE_SIG_LEN)
    rc = CAIRN_RAISE(err, CAIRN_ECRYPTO, (long)ERR_peek_last_error(),
                     "signing the bundle manifest failed");
  ERR_clear_error();
  EVP_MD_CTX_free(md);
  return rc;
}

/* ---- the tar ---------------------------------------------------------- */

/* Every header field is fixed or derived from the content: same inputs,
 * same bytes. */
static int put_header(struct archive *a, const char *name, int64_t size,
                      int64_t mtime, const char *tarp, cairn_err *err)
{
  struct archive_entry *ae = archive_entry_new();
  int rc = CAIRN_OK;

  if (!ae)
    abort();
  archive_entry_set_pathname(ae, name);
  archive_entry_set_filetype(ae, AE_IFREG);
  archive_entry_set_perm(ae, 0644);
  archive_entry_set_size(ae, size);
  archive_entry_set_uid(ae, 0);
  archive_entry_set_gid(ae, 0);
  archive_entry_set_uname(ae, "root");
  archive_entry_set_gname(ae, "root");
  archive_entry_set_mtime(ae, (time_t)mtime, 0);
  if (archive_write_header(a, ae) != ARCHIVE_OK)
    rc = CAIRN_RAISE(err, CAIRN_EIO, archive_errno(a), "%s: %s: %s", tarp,
                     name, archive_error_string(a));
  archive_entry_free(ae);
  return rc;
}

static int put_data(struct archive *a, const void *p, size_t n,
                    const char *tarp, cairn_err *err)
{
  la_ssize_t w = archive_write_data(a, p, n);
  if (w < 0 || (size_t)w != n)
    return CAIRN_RAISE(err, CAIRN_EIO, archive_errno(a), "%s: %s", tarp,
                       archive_error_string(a));
  return CAIRN_OK;
}

static int put_mem(struct archive *a, const char *name, const void *p,
                   size_t n, int64_t mtime, const char *tarp, cairn_err *err)
{
  CAIRN_TRY(put_header(a, name, (int64_t)n, mtime, tarp, err));
  return put_data(a, p, n, tarp, err);
}

/* Pack the file at path; its SHA-256 must still be 'sha', the digest the
 * manifest gives for it. */
static int put_file(struct archive *a, const char *name, const char *path,
                    const char *sha, int64_t mtime, const char *tarp,
                    cairn_err *err)
{
  FILE *fp = fopen(path, "rb");
  struct cairn_sha256 h;
  char got[65];
  struct stat st;
  char buf[65536];
  size_t n;
  int64_t left;
  int rc;

  if (!fp || fstat(fileno(fp), &st) != 0) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: %s", path, strerror(errno));
    goto done;
  }
  rc = put_header(a, name, (int64_t)st.st_size, mtime, tarp, err);
  left = (int64_t)st.st_size;
  cairn_sha256_init(&h);
  while (rc == CAIRN_OK && (n = fread(buf, 1, sizeof buf, fp)) > 0) {
    if ((int64_t)n > left)
      break;
    cairn_sha256_update(&h, buf, n);
    rc = put_data(a, buf, n, tarp, err);
    left -= (int64_t)n;
  }
  cairn_sha256_final_hex(&h, got);
  if (rc == CAIRN_OK && (ferror(fp) || left != 0 || fgetc(fp) != EOF))
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "%s changed while packing it",
                     path);
  else if (rc == CAIRN_OK && strcmp(got, sha) != 0)
    rc = CAIRN_RAISE(err, CAIRN_ESINK, 0, "staged part %s is damaged: "
                     "sha256 %s, written as %s", path, got, sha);
done:
  if (fp)
    fclose(fp);
  return rc;
}

/* The tar's output: written as libarchive hands it over, and the disk
 * write of each TAR_KICK_BYTES started at once (sync_file_range with
 * SYNC_FILE_RANGE_WRITE: it queues the pages and returns, making nothing
 * durable), so the commit's fsync finds most of the archive written
 * instead of all of it (≈ 100 MB per 1M cost rows, 0.2 s of waiting at the
 * end of the run). */
enum { TAR_BLOCK = 1 << 20, TAR_KICK_BYTES = 8 << 20 };

struct tar_out {
  int   fd;
  off_t written, kicked;
};

static la_ssize_t tar_write(struct archive *a, void *ud, const void *p,
                            size_t n)
{
  struct tar_out *o = ud;
  cairn_err e = {0};
  /* write_tar names the file around libarchive's message */
  if (cairn_fs_write_all(o->fd, p, n, "the archive", &e) < 0) {
    archive_set_error(a, (int)e.cause, "%s", e.msg);
    return -1;
  }
  o->written += (off_t)n;
#ifdef SYNC_FILE_RANGE_WRITE
  if (o->written - o->kicked >= TAR_KICK_BYTES) {
    /* a hint: a failure only means no head start */
    (void)sync_file_range(o->fd, o->kicked, o->written - o->kicked,
                          SYNC_FILE_RANGE_WRITE);
    o->kicked = o->written;
  }
#endif
  return (la_ssize_t)n;
}

static int write_tar(const struct bundle_sink *s,
                     const struct cairn_window *w, const char *tarp,
                     const char *wdir, long n, int64_t mtime,
                     const struct cairn_buf *manifest,
                     const unsigned char *sig, char (*shas)[65],
                     cairn_err *err)
{
  char *tmp = cairn_strfmt("%s.tmp", tarp);
  struct archive *a = NULL;
  struct tar_out out = { -1, 0, 0 };
  int fd = -1, rc;

  rc = cairn_fs_mkdirs(s->job_dir, err);
  if (rc < 0)
    goto done;
  rc = cairn_fs_tmp_open(tmp, &fd, err);
  if (rc < 0)
    goto done;
  a = archive_write_new();
  if (!a)
    abort();
  /* ustar: no extended headers (no atime/ctime), readable everywhere. The
   * last block is not padded, so the bytes do not depend on the block
   * size: written 1 MiB at a time (GNU tar's 10240 bytes took 9,000
   * writes per 1M cost rows). */
  out.fd = fd;
  if (archive_write_set_format_ustar(a) != ARCHIVE_OK ||
      archive_write_add_filter_none(a) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(a, TAR_BLOCK) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
      archive_write_open2(a, &out, NULL, tar_write, NULL, NULL)
          != ARCHIVE_OK) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, archive_errno(a), "%s: %s", tmp,
                     archive_error_string(a));
    goto done;
  }
  /* Entry order: manifest.json, manifest.sig, then parts by seq, so
   * extracting the parts in archive order replays the source order. */
  rc = put_mem(a, CAIRN_BUNDLE_MANIFEST, manifest->data, manifest->len,
               mtime, tmp, err);
  if (rc == CAIRN_OK && sig)
    rc = put_mem(a, CAIRN_BUNDLE_SIG, sig, CAIRN_BUNDLE_SIG_LEN, mtime, tmp,
                 err);
  for (long seq = 1; rc == CAIRN_OK && seq <= n; seq++) {
    char *path = part_path(wdir, seq);
    char *name = cairn_strfmt("parts/%s/%ld" PART_SUFFIX, w->key, seq);
    rc = put_file(a, name, path, shas[seq - 1], mtime, tmp, err);
    free(path);
    free(name);
  }
  if (rc < 0)
    goto done;
  if (archive_write_close(a) != ARCHIVE_OK) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, archive_errno(a), "%s: %s", tmp,
                     archive_error_string(a));
    goto done;
  }
  rc = cairn_fs_commit_tmp(&fd, tmp, tarp, err);
done:
  if (a)
    archive_write_free(a);
  cairn_fs_tmp_end(fd, tmp, rc);
  return rc;
}

/* Unpack the n parts of the finished bundle tarp into dir, to re-sign
 * it. The bundle must verify first (every part as its manifest describes
 * it), so the new signature covers exactly the records that were loaded;
 * write_tar then checks each part against its digest once more. */
static int unpack_parts(const struct cairn_window *w, const char *tarp,
                        long n, const char *dir, cairn_err *err)
{
  struct cairn_verify_report rep;
  cairn_err verr = {0};
  struct archive *a = NULL;
  struct archive_entry *ae;
  char *prefix = cairn_strfmt("parts/%s/", w->key);
  size_t n_prefix = strlen(prefix);
  long got = 0;
  int rc, r;

  rc = cairn_bundle_verify(tarp, NULL, &rep, &verr);
  cairn_verify_report_free(&rep);
  if (rc != CAIRN_OK) {
    rc = CAIRN_RAISE(err, CAIRN_ESINK, 0, "%s cannot be re-signed: it does "
                     "not verify (%s)", tarp, verr.msg);
    goto done;
  }
  rc = cairn_fs_mkdirs(dir, err);
  if (rc < 0)
    goto done;
  a = archive_read_new();
  if (!a)
    abort();
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, tarp, 65536) != ARCHIVE_OK) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, archive_errno(a), "%s: %s", tarp,
                     archive_error_string(a));
    goto done;
  }
  while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
    const char *name = archive_entry_pathname(ae);
    char *path;
    long seq;
    int fd;
    if (!name || strncmp(name, prefix, n_prefix) != 0 ||
        !parse_part_name(name + n_prefix, &seq) || seq > n)
      continue;
    path = part_path(dir, seq);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
              0644);
    if (fd < 0)
      rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: %s", path,
                       strerror(errno));
    else if (archive_read_data_into_fd(a, fd) != ARCHIVE_OK)
      rc = CAIRN_RAISE(err, CAIRN_EIO, archive_errno(a), "%s: %s: %s", tarp,
                       name, archive_error_string(a));
    if (fd >= 0 && close(fd) != 0 && rc == CAIRN_OK)
      rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: %s", path,
                       strerror(errno));
    free(path);
    if (rc < 0)
      goto done;
    got++;
  }
  if (r != ARCHIVE_EOF)
    rc = CAIRN_RAISE(err, CAIRN_EIO, archive_errno(a), "%s: %s", tarp,
                     archive_error_string(a));
  else if (got != n)
    rc = CAIRN_RAISE(err, CAIRN_ESINK, 0, "%s: %ld of its %ld parts found",
                     tarp, got, n);
done:
  if (a)
    archive_read_free(a);
  free(prefix);
  return rc;
}

/* ---- the vtable ------------------------------------------------------- */

static int no_passphrase(char *buf, int size, int rwflag, void *ud)
{
  (void)buf;
  (void)size;
  (void)rwflag;
  (void)ud;
  return -1; /* never prompt on a terminal */
}

static int load_key(struct bundle_sink *s, const char *pem, cairn_err *err)
{
  BIO *bio = BIO_new_mem_buf(pem, -1);
  int rc = CAIRN_OK;

  if (!bio)
    abort();
  s->key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
  if (!s->key) {
    rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                     "secret %s: not an unencrypted PEM private key "
                     "(make one with openssl genpkey -algorithm ed25519)",
                     SIGNING_SECRET);
    goto done;
  }
  if (EVP_PKEY_get_base_id(s->key) != EVP_PKEY_ED25519) {
    rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                     "secret %s: not an Ed25519 key", SIGNING_SECRET);
    goto done;
  }
  if (cairn__pkey_fingerprint(s->key, s->key_fpr) != 0)
    rc = CAIRN_RAISE(err, CAIRN_ECRYPTO, 0,
                     "secret %s: cannot encode the public key",
                     SIGNING_SECRET);
done:
  ERR_clear_error();
  BIO_free(bio);
  return rc;
}

/* The signing key of a sink opened with cfg and ctx into s->key (NULL:
 * bundles unsigned, with a warning), or the error that stops the run. */
static int open_key(struct bundle_sink *s, const struct bundle_cfg *cfg,
                    const struct cairn_sink_ctx *ctx, cairn_err *err)
{
  const char *pem = NULL;

  if (ctx->secret)
    pem = ctx->secret(ctx->secret_ud, SIGNING_SECRET);
  /* Set but empty: CAIRN_SECRET_...="$(cat key.pem)" of a file the
   * user cannot read, an empty credential file. */
  if (pem && pem[0])
    return load_key(s, pem, err);
  if (cfg->require_sig)
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                       "bundle sink %s: require_signature is set but the "
                       "secret %s %s", ctx->sink_name, SIGNING_SECRET,
                       pem ? "is empty" : "is not");
  cairn_warn("bundle sink %s: secret %s is %s; the bundles of job "
             "%s will be unsigned", ctx->sink_name, SIGNING_SECRET,
             pem ? "empty" : "not set", ctx->job);
  return CAIRN_OK;
}

/* A dry run's look at the signing key: read and parsed as open does. */
static int bundle_check_secrets(const struct cairn_sink_ctx *ctx,
                                cairn_err *err)
{
  struct bundle_sink s;
  struct bundle_cfg cfg;
  int rc;

  memset(&s, 0, sizeof s);
  rc = parse_cfg(ctx->cfg, &cfg, NULL, err);
  if (rc == CAIRN_OK)
    rc = open_key(&s, &cfg, ctx, err);
  EVP_PKEY_free(s.key);
  return rc;
}

static int bundle_open(cairn_sink *base, const struct cairn_sink_ctx *ctx,
                       cairn_err *err)
{
  struct bundle_sink *s = (struct bundle_sink *)base;
  struct bundle_cfg cfg;
  int rc;

  /* Everything acquired here is released by bundle_close(), which also
   * runs after a failed open. */
  CAIRN_TRY(parse_cfg(ctx->cfg, &cfg, NULL, err));
  CAIRN_FAIL_IF(!ctx->contract, err, CAIRN_EINTERNAL, 0,
                "bundle sink %s: no contract", ctx->sink_name);
  CAIRN_FAIL_IF(!ctx->job || !safe_name(ctx->job, 256), err, CAIRN_EUSAGE,
                0, "bundle sink %s: job name \"%s\" cannot name a file",
                ctx->sink_name, ctx->job ? ctx->job : "");
  s->level = cfg.level;
  if (cfg.dir[0] == '/' || !ctx->out_dir || !ctx->out_dir[0])
    s->root = cairn_xstrdup(cfg.dir);
  else
    s->root = cairn_path_join(ctx->out_dir, cfg.dir);
  s->job_dir = cairn_path_join(s->root, ctx->job);
  s->staging = cairn_path_join(s->job_dir, ".staging");
  s->order = cairn_contract_sorted_order(ctx->contract);
  build_keys(s, ctx->contract);

  s->cctx = ZSTD_createCCtx();
  if (!s->cctx)
    abort();
  s->zout_cap = ZSTD_CStreamOutSize();
  s->zout = cairn_xmalloc(s->zout_cap);
  /* Fixed parameters, single-threaded: the frame is a pure function of
   * the NDJSON bytes (for a given libzstd version). The checksum lets
   * zstd -t catch a damaged part. */
  if (ZSTD_isError(ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_compressionLevel,
                                          s->level)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_checksumFlag, 1)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_contentSizeFlag,
                                          1)))
    return CAIRN_RAISE(err, CAIRN_EINTERNAL, 0, "zstd parameters refused");

  CAIRN_TRY(open_key(s, &cfg, ctx, err));

  rc = clean_dir(s->job_dir, ".tmp", 0, err);
  if (rc == CAIRN_OK)
    rc = clean_dir(s->staging, ".trash", 1, err);
  if (rc == CAIRN_OK)
    (void)rmdir(s->staging); /* as finish would have, when no window is
                                staged (else it fails, ENOTEMPTY) */
  return rc;
}

static int bundle_durable_seq(cairn_sink *base, const struct cairn_window *w,
                              long *seq_out, cairn_err *err)
{
  struct bundle_sink *s = (struct bundle_sink *)base;
  char *wdir = NULL, *tarp = NULL;
  int rc;

  *seq_out = 0;
  rc = check_window(w, err);
  if (rc < 0)
    goto done;
  wdir = window_dir(s, w);
  /* A staging dir (even an empty one, after reset) is the window's
   * current attempt; otherwise a finished tar answers for it. */
  if (cairn_fs_exists(wdir)) {
    rc = staging_count(s, w, wdir, seq_out, err);
    meta_forget(s, w, *seq_out + 1); /* anything above was pruned */
  } else {
    rc = finished_tar(s, w, &tarp, err);
    if (rc == CAIRN_OK && cairn_fs_exists(tarp))
      rc = read_finished(s, w, tarp, seq_out, NULL, NULL, NULL, err);
  }
done:
  free(wdir);
  free(tarp);
  return rc;
}

/* What the sink holds of a window the state says loaded: as durable_seq,
 * but a finished bundle that cannot be read (cut short, damaged) holds
 * nothing, as a missing one does: the window is loaded again and the
 * bundle made anew (which a new attempt's takeover, resetting the window
 * first, always did), instead of the run stopping on it. */
static int bundle_held_seq(cairn_sink *base, const struct cairn_window *w,
                           long *seq_out, cairn_err *err)
{
  cairn_err why = {0};
  (void)err;
  if (bundle_durable_seq(base, w, seq_out, &why) < 0) {
    cairn_warn("%s: %s", base->ctx->sink_name, why.msg);
    *seq_out = 0;
  }
  return CAIRN_OK;
}

static int bundle_load(cairn_sink *base, const struct cairn_window *w,
                       long seq, const struct cairn_batch *b, cairn_err *err)
{
  struct bundle_sink *s = (struct bundle_sink *)base;
  const struct cairn_contract *c = s->base.ctx->contract;
  char *wdir = NULL, *part = NULL, *next = NULL;
  struct part_meta m;
  int rc;

  rc = check_window(w, err);
  if (rc < 0)
    goto done;
  if (seq < 1 || b->n_fields != c->n_fields) {
    rc = CAIRN_RAISE(err, CAIRN_EINTERNAL, 0,
                     "bundle sink: bad chunk (seq %ld, %zu fields for a "
                     "contract of %zu)", seq, b->n_fields, c->n_fields);
    goto done;
  }
  /* This seq and everything above it is about to be rewritten or
   * deleted: forget it first, whatever happens below. */
  meta_forget(s, w, seq);
  wdir = window_dir(s, w);
  part = part_path(wdir, seq);
  next = part_path(wdir, seq + 1);
  rc = ensure_dir(s, wdir, err);
  if (rc == CAIRN_OK && strcmp(s->boot_key, w->key) != 0) {
    /* Unless durable_seq has (the runner asks it first), staging_count
     * checks the parts of an earlier boot once per window and marks the
     * staging as this boot's, for the parts written from here on. */
    long n = 0;
    rc = staging_count(s, w, wdir, &n, err);
    if (rc == CAIRN_OK && n < seq - 1)
      rc = CAIRN_RAISE(err, CAIRN_ESINK, 0, "bundle sink: window %s: chunk "
                       "%ld comes after parts 1..%ld only", w->key, seq, n);
  }
  if (rc < 0)
    goto done;
  /* A part above this one belongs to an earlier attempt. */
  if (cairn_fs_exists(next)) {
    rc = staging_prune(wdir, seq, err);
    if (rc < 0)
      goto done;
  }
  rc = write_part(s, b, part, &m, err);
  if (rc == CAIRN_OK)
    meta_put(s, w, seq, &m);
done:
  free(wdir);
  free(part);
  free(next);
  return rc;
}

static int bundle_finish(cairn_sink *base, const struct cairn_window *w,
                         long n_seq, const char *logical_time,
                         cairn_err *err)
{
  struct bundle_sink *s = (struct bundle_sink *)base;
  struct cairn_buf manifest = {0};
  unsigned char sig[CAIRN_BUNDLE_SIG_LEN];
  char *wdir = NULL, *tarp = NULL, *done_lt = NULL, *resign = NULL;
  char (*shas)[65] = NULL, done_fpr[65];
  const char *src;
  int64_t mtime = 0;
  long n = 0;
  int staged, rc;

  rc = check_window(w, err);
  if (rc < 0)
    goto done;
  if (n_seq < 0) {
    rc = CAIRN_RAISE(err, CAIRN_EINTERNAL, 0,
                     "bundle sink: window %s: negative chunk count %ld",
                     w->key, n_seq);
    goto done;
  }
  if (!logical_time || cairn_clock_parse(logical_time, &mtime) != 0 ||
      mtime < 0) {
    rc = CAIRN_RAISE(err, CAIRN_ESINK, 0,
                     "bundle sink: finishing window %s needs an RFC 3339 "
                     "logical time, got \"%s\"", w->key,
                     logical_time ? logical_time : "(none)");
    goto done;
  }
  wdir = window_dir(s, w);
  staged = cairn_fs_exists(wdir);
  if (!staged && (rc = finished_tar(s, w, &tarp, err)) < 0)
    goto done;
  if (staged) {
    rc = staging_count(s, w, wdir, &n, err);
    meta_forget(s, w, n + 1); /* anything above was pruned */
    if (rc == CAIRN_OK && n != n_seq)
      rc = CAIRN_RAISE(err, CAIRN_ESINK, 0,
                       "bundle sink: window %s has %ld chunks but parts "
                       "1..%ld are staged", w->key, n_seq, n);
    if (rc < 0)
      goto done;
  } else if (cairn_fs_exists(tarp)) {
    /* Finished before (the staging went away after the rename): the
     * same request is a no-op, anything else needs reset_window. */
    rc = read_finished(s, w, tarp, &n, &done_lt, done_fpr, NULL, err);
    if (rc == CAIRN_OK && (n != n_seq || strcmp(done_lt, logical_time)))
      rc = CAIRN_RAISE(err, CAIRN_ESINK, 0,
                       "%s: finished with %ld parts at %s; finishing it "
                       "with %ld parts at %s needs a reset first", tarp, n,
                       done_lt, n_seq, logical_time);
    /* ... unless it is not signed with this sink's key: the run that
     * wrote it had no key or another one (killed before the window was
     * recorded, resumed after the key was set or rotated). It is then
     * re-signed, from its own parts; a signature is never dropped. */
    if (rc < 0 || !s->key || strcmp(done_fpr, s->key_fpr) == 0)
      goto done;
    cairn_info("bundle %s was finished %s%s; re-signing it with key %s",
               tarp, done_fpr[0] ? "with key " : "unsigned", done_fpr,
               s->key_fpr);
    resign = cairn_strfmt("%s/%s.trash", s->staging, w->key);
    rc = cairn_fs_remove_tree(resign, err);
    if (rc == CAIRN_OK)
      rc = unpack_parts(w, tarp, n, resign, err);
    if (rc < 0)
      goto done;
    meta_forget(s, w, 1); /* describe the unpacked parts, not others */
  } else if (n_seq != 0) {
    rc = CAIRN_RAISE(err, CAIRN_ESINK, 0,
                     "bundle sink: window %s has %ld chunks but none is "
                     "staged", w->key, n_seq);
    goto done;
  }

  src = resign ? resign : wdir;
  shas = cairn_xmalloc((size_t)(n_seq ? n_seq : 1) * sizeof *shas);
  rc = build_manifest(s, w, src, n_seq, logical_time, &manifest, shas, err);
  if (rc == CAIRN_OK && !resign) {
    /* A new bundle (a re-signed one keeps its name). */
    free(tarp);
    tarp = per_run(w) ? choose_tar(s, w, mtime, &manifest) : tar_path(s, w);
    if (!s->key)
      rc = keep_signed(s, w, tarp, err);
  }
  if (rc == CAIRN_OK && s->key)
    rc = sign_manifest(s->key, &manifest, sig, err);
  if (rc == CAIRN_OK)
    rc = write_tar(s, w, tarp, src, n_seq, mtime, &manifest,
                   s->key ? sig : NULL, shas, err);
  /* Before the staging goes: from then on this names the bundle. */
  if (rc == CAIRN_OK && per_run(w))
    rc = mark_latest(s, w, tarp, err);
  if (rc == CAIRN_OK && staged) {
    meta_forget(s, w, 1); /* the staged parts go away */
    rc = drop_staging(s, wdir, w, err);
  }
  if (rc == CAIRN_OK && resign) {
    /* A leftover (a crash here) is removed by the next open. */
    rc = cairn_fs_remove_tree(resign, err);
    (void)rmdir(s->staging); /* fails while other windows are staged */
  }
  if (rc == CAIRN_OK)
    cairn_info("bundle %s: %ld parts%s", tarp, n_seq,
               s->key ? ", signed" : ", unsigned");
done:
  cairn_buf_free(&manifest);
  free(shas);
  free(resign);
  free(done_lt);
  free(wdir);
  free(tarp);
  return rc;
}

/* A per-run window's new attempt: the bundle the previous one finished
 * stays, but no longer answers for the window. The staging, made durable
 * first, outranks it anyway: a crash before the unlink changes nothing. */
static int forget_latest(const struct bundle_sink *s,
                         const struct cairn_window *w, cairn_err *err)
{
  char *latest;
  int rc = CAIRN_OK;

  if (!per_run(w))
    return CAIRN_OK;
  latest = latest_path(s, w);
  if (unlink(latest) != 0 && errno != ENOENT)
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "unlink %s: %s", latest,
                     strerror(errno));
  free(latest);
  return rc;
}

static int bundle_reset(cairn_sink *base, const struct cairn_window *w,
                        cairn_err *err)
{
  struct bundle_sink *s = (struct bundle_sink *)base;
  char *wdir = NULL, *first = NULL;
  int rc;

  rc = check_window(w, err);
  if (rc < 0)
    goto done;
  meta_forget(s, w, 1);
  wdir = window_dir(s, w);
  first = part_path(wdir, 1);
  /* An empty staging dir means "attempt in progress, nothing durable",
   * which outranks an older tar (the next finish overwrites it). Part 1
   * goes first so the answer drops to 0 in one durable step. */
  if (!cairn_fs_exists(wdir)) {
    rc = ensure_dir(s, wdir, err);
    if (rc == CAIRN_OK)
      rc = forget_latest(s, w, err);
    goto done;
  }
  if (unlink(first) != 0 && errno != ENOENT) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "unlink %s: %s", first,
                     strerror(errno));
    goto done;
  }
  rc = cairn_fs_fsync_path(wdir, err);
  if (rc == CAIRN_OK)
    rc = staging_prune(wdir, 0, err);
  if (rc == CAIRN_OK)
    rc = forget_latest(s, w, err);
done:
  free(wdir);
  free(first);
  return rc;
}

static void bundle_close(cairn_sink *base)
{
  struct bundle_sink *s = (struct bundle_sink *)base;

  free(s->root);
  free(s->job_dir);
  free(s->staging);
  if (s->keys)
    for (size_t k = 0; k < s->base.ctx->contract->n_fields; k++)
      free(s->keys[k]);
  free(s->keys);
  free(s->key_len);
  free(s->order);
  EVP_PKEY_free(s->key);
  ZSTD_freeCCtx(s->cctx);
  cairn_buf_free(&s->ndjson);
  free(s->zout);
  free(s->clean);
  free(s->meta);
}

static int bundle_outputs(cairn_sink *base, const struct cairn_window *w,
                          json_t *out, cairn_err *err)
{
  struct bundle_sink *s = (struct bundle_sink *)base;
  char *tarp = NULL;
  char hex[CAIRN_SHA256_HEX];
  int rc = finished_tar(s, w, &tarp, err);

  if (rc == CAIRN_OK && cairn_sha256_file_hex(tarp, hex) == 0) {
    json_object_set_new(out, "bundle", json_string(tarp));
    json_object_set_new(out, "sha256", json_string(hex));
  } else if (rc == CAIRN_OK) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: cannot read", tarp);
  }
  free(tarp);
  return rc;
}

const cairn_sink_ops cairn_sink_bundle_ops = {
  .abi           = CAIRN_SINK_ABI,
  .name          = "bundle",
  .outputs       = bundle_outputs,
  .size          = sizeof(struct bundle_sink),
  .check         = bundle_check,
  .open          = bundle_open,
  .durable_seq   = bundle_durable_seq,
  .held_seq      = bundle_held_seq,
  .load          = bundle_load,
  .finish_window = bundle_finish,
  .reset_window  = bundle_reset,
  .close         = bundle_close,
  .required_secret = bundle_required_secret,
  .check_secrets = bundle_check_secrets,
};
