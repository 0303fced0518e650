/* SPDX-License-Identifier: MIT */
/* src_cost_export.c -- one Azure Cost Management export run, read through
 * its manifest.
 *
 * The source's "path" is an export run folder (or the manifest file in
 * it). The manifest (manifest.json, or the legacy _manifest.json) is the
 * only list of data files: its blobs are read in manifest order, plain CSV
 * (mapped), gzip (inflated by ISA-L's igzip, members in sequence) or zip
 * (libarchive, first regular entry), always streamed, never unpacked to
 * disk; a manifest that lists a blob twice, or a blobName with a ".."
 * part, is refused. A chunk is up to chunk_rows records or chunk_bytes
 * bytes of one blob. The cursor is
 * {"blob","offset","line","rows","before","export","size","mtime"}: the byte
 * offset in the blob's uncompressed stream, the physical line there, the
 * data rows of this blob before it, the rows of all earlier blobs, a
 * digest of the manifest so a cursor never applies to a different export,
 * and the size and modification time of the blob's file (inside a blob; the
 * time for a local export only) so it never applies to a different file
 * either. Row counts
 * are checked against the manifest when a blob (and the export) ends; a
 * mismatch fails the chunk that ends the blob, resumably. A record larger
 * than CAIRN_CSV_RECORD_MAX is read past, never held whole: a chunk of
 * its own, quarantined by decode (page meta "big"). Export metadata
 * rides in page meta "headers" for the mapping's `header` function. Design
 * notes: docs/internals/cost-export.md. */
#include "source/source.h"
#include "source/csv.h"
#include "source/cx_remote.h"
#include "core/clock.h"
#include "core/codec.h"
#include "core/cpu.h"
#include "core/fsx.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/mem.h"

#include <archive.h>
#include <archive_entry.h>
#include <isa-l/igzip_lib.h>
#include <ctype.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_BLOCK (1 << 20)
#define READ_AHEAD (32u << 20) /* a mapped blob's pages asked for ahead */

enum { KIND_PLAIN, KIND_GZIP, KIND_ZIP };

struct blob {
  char      *name;      /* blobName as in the manifest, trimmed */
  char      *path;      /* local file it resolved to (remote: once
                           downloaded, by rd_open) */
  long long  rows;      /* manifest dataRowCount, -1 when absent */
  long long  bytes;     /* manifest byteCount, -1 when absent */
  struct cairn_fs_stamp file; /* its file (compressed, for gzip and zip)
                           when rd_open last opened it; mtime_ns -1 for a
                           downloaded copy (remote: the ETag pins it) */
  long long  data_off;  /* uncompressed offset of the first data record;
                           valid once the header is read */
  long       data_line; /* line number of that record */
  int        open_quote; /* it ended inside a quoted field (its last row
                           took in every line after the quote) */
};

/* A compressed blob is decompressed ahead, on a thread of its own, into
 * AHEAD_SLOTS blocks of AHEAD_BLOCK bytes: inflating is about a quarter of
 * the producer's work on a gzip blob, and the loader's core has time to
 * spare while the producer is the slower side. The thread alone calls
 * libarchive or igzip while it runs; the reader takes the filled blocks in order
 * and gives each back at its next fill. */
enum { AHEAD_SLOTS = 4, AHEAD_BLOCK = 256 << 10 };

struct ahead {
  pthread_t       thread;
  pthread_mutex_t mu;
  pthread_cond_t  cv;
  int             running;  /* the thread exists (not yet joined) */
  int             stop;     /* asked to end */
  int             end;      /* it has ended: 1 at the end of the stream,
                               else ar_next's AR_FAIL or AR_SPARSE */
  long long       sparse_off, sparse_want; /* for AR_SPARSE */
  char           *slot[AHEAD_SLOTS];
  size_t          len[AHEAD_SLOTS];
  unsigned        head, tail; /* filled: [tail, head), modulo AHEAD_SLOTS */
  int             holding;  /* the reader holds slot tail */
};

/* The open blob: one stream, plain or decompressed. A plain file is
 * mapped (no copy through a read buffer); a zip is read in libarchive's
 * own blocks (no copy either), a gzip through struct gz, either through
 * struct ahead when there is a second core; fread is the fallback when a
 * plain file cannot be mapped. */
struct reader {
  size_t          blob;  /* index of the open blob; (size_t)-1: none */
  int             kind;  /* KIND_* */
  FILE           *fp;    /* plain, not mapped */
  char           *map;   /* plain, mapped: the whole file */
  size_t          map_len;
  int             map_fd;  /* the mapped file, to notice it shrinking */
  size_t          dropped; /* bytes of map released from our RSS */
  size_t          asked;   /* bytes of map asked for ahead (WILLNEED) */
  size_t          keep;    /* mapped: the offset of the chunk handed out
                              in place, not to be released before the next
                              chunk is read (SIZE_MAX: none) */
  struct archive *ar;    /* zip */
  struct gz      *gz;    /* gzip */
  const char     *data;  /* the current block: buf, map + pos, or
                            libarchive's buffer (valid until the next fill) */
  long long       pos;   /* uncompressed offset of data[0] */
  size_t          len;   /* valid bytes at data */
  size_t          at;    /* consumed bytes of data */
  int             eof;
  char           *buf;   /* READ_BLOCK bytes for fread and for gzip
                            without the thread (rd_buf) */
  struct ahead    ahead; /* rd->ar or rd->gz's thread, when running */
};

struct cx_src {
  cairn_source         base;        /* first */
  long                 chunk_rows;
  long                 chunk_bytes;
  int                  raw_used;    /* pages have held copied chunks since
                                       the last mapped one */
  char                *manifest;    /* path (or URL without its query) of
                                       the manifest read */
  struct cairn__cx_remote *remote;  /* the export is at a URL; else NULL */
  char                 ident[17];   /* 16 hex of the manifest's SHA-256 */
  struct blob         *blobs;
  size_t               n_blobs;
  long long            total_rows;  /* top-level dataRowCount, -1 absent */
  json_t              *meta;        /* page meta template: "date",
                                       "headers" (owned) */
  struct cairn_header *headers;     /* per blob; written by extract only */
  size_t               kept_from;   /* headers before this are freed */
  size_t               released;    /* downloads before this are deleted */
  struct reader        rd;          /* extract only */
  struct cairn_buf     hdr_rec;     /* extract only: header scratch */
  /* extract only: a record that straddled two reads and would have taken
   * a chunk past chunk_bytes; it starts the next chunk (kept, because a
   * compressed blob cannot seek back to it) */
  struct cairn_buf     carry;
  size_t               carry_blob;
  long long            carry_off;   /* where it starts in the blob */
  long                 carry_lines;
  long long            carry_bytes; /* its size, when it was too large
                                       to hold (carry holds its first
                                       CAIRN_CSV_KEEP bytes); else 0 */
  int                  carry_ended; /* it ends with a newline */
  int                  has_carry;
  /* extract only: the chunk just read is one record too large to hold
   * (its size; else 0) and its lines, for the page's meta */
  long long            big_bytes;
  long                 big_lines;   /* lines it is on */
  /* decode only (may run on another thread than extract, never at the
   * same time: a page is decoded before the next extract) */
  struct cairn__csv_cols cols;
};

/* ---- config ------------------------------------------------------------ */

static int cx_check(const json_t *cfg, const char **ptr_out, cairn_err *err)
{
  if (!json_is_string(json_object_get(cfg, "path"))) {
    *ptr_out = "/path";
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0,
                       "cost_export needs a path (the export run folder)");
  }
  CAIRN_TRY(cairn__cx_remote_check(cfg, ptr_out, err)); /* "auth" */
  return cairn__cfg_check_chunks(cfg, ptr_out, err);
}

/* ---- manifest ----------------------------------------------------------- */

static int is_dir(const char *p)
{
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* A count from the manifest: integer, or a string of digits; -1 absent. */
static long long json_count(const json_t *v)
{
  if (json_is_integer(v))
    return (long long)json_integer_value(v);
  if (json_is_string(v)) {
    char *end;
    long long n = strtoll(json_string_value(v), &end, 10);
    if (end != json_string_value(v) && *end == '\0')
      return n;
  }
  return -1;
}

/* Trim ASCII white space (the docs' own example has stray spaces). */
static char *trim_dup(const char *s)
{
  size_t n;
  while (*s && isspace((unsigned char)*s))
    s++;
  n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1]))
    n--;
  return cairn_xstrndup(s, n);
}

/* A blobName (trimmed) must name something inside the container: not
 * empty, and no ".." part, for a local export (it would resolve outside
 * the manifest's folder) as for a URL one (curl removes dot segments, so
 * the request, with the SAS token or bearer, would leave the container).
 * Checked for every blob before anything is resolved or fetched. */
static int check_blob_name(const char *manifest, size_t i, const char *name,
                           cairn_err *err)
{
  if (!*name)
    return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s: blobs[%zu] has an empty "
                       "blobName", manifest, i);
  for (const char *q = name; *q;) {
    size_t k = strcspn(q, "/\\");
    if (k == 2 && q[0] == '.' && q[1] == '.')
      return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s: blob \"%s\" "
                         "(blobs[%zu]): \"..\" is not allowed in a blobName "
                         "(a manifest never points outside its container); "
                         "nothing was read", manifest, name, i);
    q += k;
    q += *q != '\0';
  }
  return CAIRN_OK;
}

/* name as the blob's identity: its '/'-separated parts without empty and
 * "." ones ("/a//./b" is "a/b"), which name the same file locally and the
 * same blob once curl has normalised the request path. New string. */
static char *blob_key(const char *name)
{
  char *k = cairn_xstrdup(name), *o = k;
  for (const char *p = name; *p;) {
    size_t n = strcspn(p, "/");
    if (n && !(n == 1 && *p == '.')) {
      if (o != k)
        *o++ = '/';
      memmove(o, p, n);
      o += n;
    }
    p += n;
    p += *p == '/';
  }
  *o = '\0';
  return k;
}

/* A name (or path) of blob i, for check_duplicates' sorted lists. */
struct dup_ent {
  const char *text;
  size_t      i;
};

static int cmp_dup_ent(const void *a, const void *b)
{
  const struct dup_ent *x = a, *y = b;
  int c = strcmp(x->text, y->text);
  return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* Sort e[0..n) and set first[i], for each blob i in it, to the first blob
 * with the same text when that is another (else it is left as is). */
static void first_equal(struct dup_ent *e, size_t n, size_t *first)
{
  qsort(e, n, sizeof *e, cmp_dup_ent);
  for (size_t k = 0, g = 0; k < n; k++) {
    if (k == 0 || strcmp(e[k].text, e[g].text) != 0)
      g = k;
    else
      first[e[k].i] = e[g].i;
  }
}

/* Refuse a manifest that lists one blob twice (its rows would be loaded
 * twice): the same name (blob_key), or, for a local export, two names that
 * resolve to the same path (a flattened copy: "dir/a.csv" and "a.csv"
 * both find a.csv). Links are names of their own: a copy may point its
 * files anywhere (make bench lists one partition five times that way).
 * The first blob that repeats an earlier one is named, with the first
 * it repeats. Names and paths are sorted, not compared pairwise: a
 * manifest of 50,000 blobs took 12 s that way, and would take hours at a
 * million. */
static int check_duplicates(const struct cx_src *s, cairn_err *err)
{
  size_t n = s->n_blobs, n_paths = 0;
  struct dup_ent *keys = cairn_xcalloc(n ? n : 1, sizeof *keys);
  struct dup_ent *paths = cairn_xcalloc(n ? n : 1, sizeof *paths);
  size_t *same_key = cairn_xcalloc(n ? n : 1, sizeof *same_key);
  size_t *same_path = cairn_xcalloc(n ? n : 1, sizeof *same_path);
  int rc = CAIRN_OK;

  for (size_t i = 0; i < n; i++) {
    keys[i].text = blob_key(s->blobs[i].name);
    keys[i].i = i;
    same_key[i] = same_path[i] = SIZE_MAX;
    if (s->blobs[i].path) {
      paths[n_paths].text = s->blobs[i].path;
      paths[n_paths++].i = i;
    }
  }
  first_equal(keys, n, same_key);
  first_equal(paths, n_paths, same_path);
  for (size_t i = 0; i < n; i++) {
    const struct blob *b = &s->blobs[i];
    size_t j = same_key[i] <= same_path[i] ? same_key[i] : same_path[i];
    if (j == SIZE_MAX)
      continue;
    if (j == same_key[i])
      rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s: blob \"%s\" is listed "
                       "twice (blobs[%zu] and blobs[%zu]): its rows would "
                       "be loaded twice; nothing was read", s->manifest,
                       b->name, j, i);
    else
      rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s: blobs[%zu] \"%s\" and "
                       "blobs[%zu] \"%s\" are the same file (%s): its "
                       "rows would be loaded twice; nothing was read",
                       s->manifest, j, s->blobs[j].name, i, b->name,
                       b->path);
    break;
  }
  for (size_t i = 0; i < n; i++)
    free((char *)keys[i].text);
  free(keys);
  free(paths);
  free(same_key);
  free(same_path);
  return rc;
}

/* Whether the file at path, links followed, lies inside the folder whose
 * real path is real_dir. */
static int inside(const char *path, const char *real_dir)
{
  char *real = realpath(path, NULL);
  size_t n = strlen(real_dir);
  int in = real && strncmp(real, real_dir, n) == 0 &&
           (real[n] == '/' || (n == 1 && real_dir[0] == '/'));
  free(real);
  return in;
}

/* Resolve a container-relative blobName against the manifest's folder:
 * the whole name first, then ever shorter suffixes down to the base name
 * (a local copy of one run folder holds the files without the container's
 * directory prefix). The name was checked (check_blob_name): it has no
 * ".." part; and a symbolic link that leads out of the folder (real_dir:
 * its real path) is refused, so this never reads outside it: whoever can
 * write an export folder could otherwise have any file cairn may read
 * (a key, /etc/shadow) copied into the quarantine and the audit trail. */
static int resolve_blob(const char *dir, const char *real_dir,
                        const char *name, char **out, cairn_err *err)
{
  const char *p = name;

  *out = NULL;
  while (*p == '/')
    p++;
  while (*p) {
    char *cand = cairn_path_join(dir, p);
    if (is_file(cand)) {
      if (!inside(cand, real_dir)) {
        int rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "blob \"%s\": %s is a "
                             "link that leads out of the export folder %s; "
                             "refused, nothing was read (copy the file "
                             "into the folder, or hard-link it)", name,
                             cand, dir);
        free(cand);
        return rc;
      }
      *out = cand;
      return CAIRN_OK;
    }
    free(cand);
    p += strcspn(p, "/");
    while (*p == '/')
      p++;
  }
  return CAIRN_RAISE(err, CAIRN_EIO, ENOENT, "blob \"%s\" listed in the "
                     "manifest is not in %s (neither at that path nor by "
                     "base name)", name, dir);
}

/* RFC 3339 with Z for the manifest's dates: "2025-03-01T00:00:00" has no
 * zone (treated as UTC, as finops-toolkit does), fractions are dropped. */
static char *norm_date(const char *s)
{
  int y, mo, d, h = 0, mi = 0, se = 0;
  if (!s || sscanf(s, "%4d-%2d-%2d", &y, &mo, &d) != 3)
    return NULL;
  if (strlen(s) > 10 && (s[10] == 'T' || s[10] == ' ') &&
      sscanf(s + 11, "%2d:%2d:%2d", &h, &mi, &se) < 2)
    return NULL;
  return cairn_strfmt("%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, se);
}

/* The run's period as the window's span (struct cairn_source): from
 * startDate's day to the day after endDate's (endDate names the last day
 * the run holds: "2024-05-31T00:00:00Z" for May), so replace_partition
 * replaces those days of the scope and dataset, not the whole months they
 * fall in. A manifest without both dates (a legacy _manifest.json; null
 * counts as missing) declares nothing: whole months are replaced then. A
 * date that is there but not a date, one date without the other, or a
 * start after the end, is refused: replacing whole months for an export
 * of some days would drop the month's other days. */
static int declare_span(struct cx_src *s, const json_t *ri, const char *ps,
                        const char *pe, cairn_err *err)
{
  static const char *const keys[] = {"startDate", "endDate"};
  const char *norm[] = {ps, pe};
  int64_t t;
  char to[24];

  for (int i = 0; i < 2; i++) {
    const json_t *v = json_object_get(ri, keys[i]);
    if (v && !json_is_null(v) &&
        (!norm[i] || cairn_clock_parse(norm[i], &t) < 0)) {
      char *txt = json_is_string(v) ? cairn_onelinef("\"%.40s\"",
                                                     json_string_value(v))
                                    : cairn_xstrdup("not a string");
      int rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s: runInfo.%s %s is not "
                           "a date, so the days this export replaces are "
                           "unknown; not loaded (wait for a complete "
                           "export, or fix the manifest)", s->manifest,
                           keys[i], txt);
      free(txt);
      return rc;
    }
  }
  if (!ps && !pe)
    return CAIRN_OK;
  if (!ps || !pe)
    return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s: runInfo.%s is missing "
                       "while %s is there, so the days this export "
                       "replaces are unknown; not loaded (wait for a "
                       "complete export, or fix the manifest)", s->manifest,
                       keys[!pe], keys[!ps]);
  cairn_clock_parse(pe, &t);
  cairn_clock_fmt((t / 86400 + 1) * 86400, to, sizeof to);
  if (strncmp(ps, to, 10) >= 0)
    return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s: runInfo.startDate %.10s "
                       "is after its endDate %.10s, so the days this export "
                       "replaces are unknown; not loaded (wait for a "
                       "complete export, or fix the manifest)", s->manifest,
                       ps, pe);
  snprintf(s->base.span_from, sizeof s->base.span_from, "%.10s", ps);
  snprintf(s->base.span_to, sizeof s->base.span_to, "%.10s", to);
  return CAIRN_OK;
}

static void put_header(json_t *h, const char *key, const char *val)
{
  if (val && *val)
    json_object_set_new(h, key, json_string(val));
}

/* The export metadata every page carries (see the table in
 * docs/internals/cost-export.md). */
static int build_meta(struct cx_src *s, const json_t *m, cairn_err *err)
{
  const json_t *ec = json_object_get(m, "exportConfig");
  const json_t *ri = json_object_get(m, "runInfo");
  const json_t *dc = json_object_get(m, "deliveryConfig");
  const char *rid = json_string_value(json_object_get(ec, "resourceId"));
  const char *sub = json_string_value(json_object_get(ri, "submittedTime"));
  json_t *h = json_object();
  char *ps = norm_date(json_string_value(json_object_get(ri, "startDate")));
  char *pe = norm_date(json_string_value(json_object_get(ri, "endDate")));
  char *scope = NULL, *date = norm_date(sub);
  int rc = declare_span(s, ri, ps, pe, err);

  if (rid) {
    /* The scope is the export's resource id without its
     * /providers/Microsoft.CostManagement/exports/<name> suffix. */
    const char *cut = NULL;
    static const char marker[] = "/providers/microsoft.costmanagement/exports/";
    for (const char *q = rid; *q; q++)
      if (strncasecmp(q, marker, sizeof marker - 1) == 0)
        cut = q;
    scope = cut ? cairn_xstrndup(rid, (size_t)(cut - rid)) : cairn_xstrdup(rid);
  }
  put_header(h, "x-export-name",
             json_string_value(json_object_get(ec, "exportName")));
  put_header(h, "x-export-type",
             json_string_value(json_object_get(ec, "type")));
  put_header(h, "x-export-data-version",
             json_string_value(json_object_get(ec, "dataVersion")));
  put_header(h, "x-export-time-frame",
             json_string_value(json_object_get(ec, "timeFrame")));
  put_header(h, "x-export-scope", scope);
  put_header(h, "x-export-resource-id", rid);
  put_header(h, "x-export-run-id",
             json_string_value(json_object_get(ri, "runId")));
  put_header(h, "x-export-execution-type",
             json_string_value(json_object_get(ri, "executionType")));
  put_header(h, "x-export-submitted-time", date);
  put_header(h, "x-export-period-start", ps);
  put_header(h, "x-export-period-end", pe);
  put_header(h, "x-export-format",
             json_string_value(json_object_get(dc, "fileFormat")));
  put_header(h, "x-export-compression",
             json_string_value(json_object_get(dc, "compressionMode")));
  put_header(h, "x-export-manifest-version",
             json_string_value(json_object_get(m, "manifestVersion")));
  put_header(h, "x-export-manifest-id", s->ident);
  s->meta = json_pack("{s:o}", "headers", h);
  if (date)
    json_object_set_new(s->meta, "date", json_string(date));
  free(scope);
  free(ps);
  free(pe);
  free(date);
  return rc;
}

/* The manifest of an export run on local disk: path is the run folder
 * (its manifest.json, or the legacy _manifest.json) or the manifest file
 * itself. On CAIRN_OK *manifest is its path and *dir the folder its
 * blobs are named from (both new); otherwise the error a run stops on,
 * which --dry-run names too (peek_header). */
static int local_manifest(const char *path, char **manifest, char **dir,
                          cairn_err *err)
{
  struct stat st;
  const char *slash;

  *manifest = *dir = NULL;
  if (is_dir(path)) {
    *manifest = cairn_path_join(path, "manifest.json");
    if (!is_file(*manifest)) {
      free(*manifest);
      *manifest = cairn_path_join(path, "_manifest.json");
    }
    if (!is_file(*manifest)) {
      free(*manifest);
      *manifest = NULL;
      return CAIRN_RAISE(err, CAIRN_EIO, ENOENT, "%s: no manifest.json (or "
                         "legacy _manifest.json): the export run is not "
                         "complete, or this is not an export run folder",
                         path);
    }
    *dir = cairn_xstrdup(path);
    return CAIRN_OK;
  }
  if (stat(path, &st) != 0)
    return CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: %s", path,
                       strerror(errno));
  slash = strrchr(path, '/');
  *manifest = cairn_xstrdup(path);
  *dir = slash ? cairn_xstrndup(path, (size_t)(slash - path))
               : cairn_xstrdup(".");
  return CAIRN_OK;
}

static int load_manifest(struct cx_src *s, const struct cairn_source_ctx *ctx,
                         const char *path, cairn_err *err)
{
  struct cairn_buf text = {0};
  json_t *m = NULL;
  const json_t *blobs;
  const char *fmt;
  json_error_t je;
  char *dir = NULL, *real_dir = NULL, hex[CAIRN_SHA256_HEX];
  long long blob_count, sum = 0;
  int have_all = 1, rc = CAIRN_OK;

  if (cairn_source_is_url(path)) {
    rc = cairn__cx_remote_open(ctx, path, &s->remote, &text, &s->manifest,
                               err);
    if (rc < 0)
      goto done;
  } else {
    rc = local_manifest(path, &s->manifest, &dir, err);
    if (rc < 0)
      goto done;
    rc = cairn_fs_read_all(s->manifest, &text, err);
    if (rc == CAIRN_OK && !(real_dir = realpath(*dir ? dir : "/", NULL)))
      rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: %s", dir, strerror(errno));
  }
  if (rc < 0)
    goto done;
  cairn_sha256_hex(text.data, text.len, hex);
  memcpy(s->ident, hex, 16);
  s->ident[16] = '\0';
  m = json_loadb(text.data, text.len, 0, &je);
  if (!m || !json_is_object(m)) {
    rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s:%d:%d: %s", s->manifest,
                     m ? 1 : je.line, m ? 1 : je.column,
                     m ? "manifest is not a JSON object" : je.text);
    goto done;
  }
  blobs = json_object_get(m, "blobs");
  if (json_is_null(blobs))
    blobs = NULL;
  if (blobs && !json_is_array(blobs)) {
    rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s: \"blobs\" is not an array",
                     s->manifest);
    goto done;
  }
  if (!blobs && json_count(json_object_get(m, "blobCount")) != 0 &&
      json_count(json_object_get(m, "dataRowCount")) != 0) {
    /* Not an export that says it has no data (blobCount or dataRowCount
     * 0): a JSON file of something else, or a manifest format this does
     * not know, would otherwise load nothing and end done. */
    rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s: no \"blobs\" list, and no "
                     "blobCount or dataRowCount of 0: not a cost export "
                     "manifest, or one of a format cairn does not read; "
                     "nothing was read", s->manifest);
    goto done;
  }
  fmt = json_string_value(json_object_get(json_object_get(m,
                                                          "deliveryConfig"),
                                          "fileFormat"));
  if (fmt && strcasecmp(fmt, "Csv") != 0) {
    /* Parquet (finops-toolkit's advice for hubs) would otherwise be read
     * as CSV and refused as "not UTF-8 text". */
    rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s: deliveryConfig.fileFormat "
                     "is \"%.40s\": only CSV exports are read (compression "
                     "None or Gzip); set the export's file format to CSV; "
                     "nothing was read", s->manifest, fmt);
    goto done;
  }
  blob_count = json_count(json_object_get(m, "blobCount"));
  if (blob_count >= 0 && (size_t)blob_count != json_array_size(blobs)) {
    rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s: blobCount is %lld but %zu "
                     "blobs are listed", s->manifest, blob_count,
                     json_array_size(blobs));
    goto done;
  }
  s->total_rows = json_count(json_object_get(m, "dataRowCount"));
  /* n_blobs is set with the arrays, so close() can always walk them. */
  s->n_blobs = json_array_size(blobs);
  s->blobs = cairn_xcalloc(s->n_blobs ? s->n_blobs : 1, sizeof *s->blobs);
  s->headers = cairn_xcalloc(s->n_blobs ? s->n_blobs : 1, sizeof *s->headers);
  for (size_t i = 0; i < s->n_blobs; i++) {
    const json_t *b = json_array_get(blobs, i);
    const char *name = json_string_value(json_object_get(b, "blobName"));
    struct blob *bl = &s->blobs[i];
    if (!name) {
      rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s: blobs[%zu] has no "
                       "blobName", s->manifest, i);
      goto done;
    }
    bl->name = trim_dup(name);
    rc = check_blob_name(s->manifest, i, bl->name, err);
    if (rc < 0)
      goto done;
    bl->rows = json_count(json_object_get(b, "dataRowCount"));
    bl->bytes = json_count(json_object_get(b, "byteCount"));
    bl->data_off = -1;
    if (bl->rows < 0) {
      have_all = 0;
    } else if (bl->rows > LLONG_MAX - sum) {
      rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s: the blobs' dataRowCount "
                       "add up past %lld", s->manifest, LLONG_MAX);
      goto done;
    } else {
      sum += bl->rows;
    }
    if (!s->remote)
      rc = resolve_blob(dir, real_dir, bl->name, &bl->path, err);
    if (rc < 0)
      goto done;
  }
  rc = check_duplicates(s, err);
  if (rc < 0)
    goto done;
  if (s->total_rows >= 0 && have_all && s->n_blobs && sum != s->total_rows) {
    rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s: dataRowCount is %lld but "
                     "the blobs' dataRowCount add up to %lld", s->manifest,
                     s->total_rows, sum);
    goto done;
  }
  if (s->total_rows < 0 && have_all)
    s->total_rows = sum;
  rc = build_meta(s, m, err);
done:
  json_decref(m);
  cairn_buf_free(&text);
  free(dir);
  free(real_dir);
  return rc;
}

static int cx_open(cairn_source *base, const struct cairn_source_ctx *ctx,
                   cairn_err *err)
{
  struct cx_src *s = (struct cx_src *)base;
  const char *path = json_string_value(json_object_get(ctx->cfg, "path"));
  int rc;

  s->rd.blob = (size_t)-1;
  s->chunk_rows = cairn__cfg_count(ctx->cfg, "chunk_rows", 50000);
  s->chunk_bytes = cairn__cfg_count(ctx->cfg, "chunk_bytes", 64L << 20);
  if (!path || !*path)
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "cost_export source needs a "
                       "path (the export run folder)");
  rc = load_manifest(s, ctx, path, err);
  if (rc < 0)
    return rc;
  cairn_info("cost export %s: %zu blob(s), %lld data rows expected",
             s->manifest, s->n_blobs, s->total_rows);
  return CAIRN_OK;
}

/* ---- reading one blob ---------------------------------------------------- */

enum { AR_FAIL = -1, AR_SPARSE = -2 };

/* A gzip blob is inflated by ISA-L's igzip rather than through libarchive
 * (zlib): 0.15 s instead of ≈ 0.6 s of CPU for the bench's 227 MB
 * partition, on the core the producer and the loader share. Members that
 * follow each other are one stream (as `gzip -d` reads a concatenation);
 * each member's header, CRC-32 and length are checked by igzip. */
enum { GZ_IN = 1 << 16 };

struct gz {
  int                  fd;
  int                  in_eof;  /* read() returned 0 */
  struct inflate_state st;
  unsigned char       *in;      /* GZ_IN bytes of compressed input */
  char                 why[96]; /* the failure, for the message */
};

static struct gz *gz_open(const char *path)
{
  struct gz *g;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  /* The compressed file whole into the page cache, read ahead of the
   * inflating (a tenth or less of what it inflates to). */
  posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
  g = cairn_xcalloc(1, sizeof *g);
  g->fd = fd;
  g->in = cairn_xmalloc(GZ_IN);
  isal_inflate_init(&g->st);
  g->st.crc_flag = ISAL_GZIP;
  return g;
}

static void gz_close(struct gz *g)
{
  if (!g)
    return;
  close(g->fd);
  free(g->in);
  free(g);
}

static const char *gz_what(int rc)
{
  switch (rc) {
  case ISAL_INVALID_WRAPPER: return "not a gzip member";
  case ISAL_UNSUPPORTED_METHOD: return "unsupported compression method";
  case ISAL_INCORRECT_CHECKSUM: return "CRC-32 or length mismatch";
  default: return "invalid deflate data";
  }
}

/* Inflate up to cap bytes into dst: the bytes, 0 at the end of the last
 * member, AR_FAIL (g->why says why). */
static long gz_read(struct gz *g, char *dst, size_t cap)
{
  g->st.next_out = (uint8_t *)dst;
  g->st.avail_out = (uint32_t)cap;
  while (g->st.avail_out > 0) {
    int rc;
    if (g->st.avail_in == 0 && !g->in_eof) {
      ssize_t r;
      do
        r = read(g->fd, g->in, GZ_IN);
      while (r < 0 && errno == EINTR);
      if (r < 0) {
        snprintf(g->why, sizeof g->why, "read: %s", strerror(errno));
        return AR_FAIL;
      }
      g->in_eof = r == 0;
      g->st.next_in = g->in;
      g->st.avail_in = (uint32_t)r;
    }
    if (g->st.block_state == ISAL_BLOCK_FINISH) {
      uint8_t *in = g->st.next_in, *out = g->st.next_out;
      uint32_t avail_in = g->st.avail_in, avail_out = g->st.avail_out;
      if (avail_in == 0) {
        if (g->in_eof)
          break; /* the last member ended */
        continue;
      }
      isal_inflate_reset(&g->st); /* another member follows */
      g->st.crc_flag = ISAL_GZIP;
      g->st.next_in = in;
      g->st.avail_in = avail_in;
      g->st.next_out = out;
      g->st.avail_out = avail_out;
    }
    if (g->st.avail_in == 0) {
      snprintf(g->why, sizeof g->why, "unexpected end of data");
      return AR_FAIL;
    }
    rc = isal_inflate(&g->st);
    if (rc < 0) {
      snprintf(g->why, sizeof g->why, "%s", gz_what(rc));
      return AR_FAIL;
    }
  }
  return (long)(cap - g->st.avail_out);
}

/* The next non-empty block of ar's entry, which must begin at uncompressed
 * offset pos: its size (*blk: its bytes, libarchive's, valid until the
 * next call), 0 at the end, AR_FAIL on libarchive's error, AR_SPARSE when
 * it begins elsewhere (*off: where). */
static long ar_next(struct archive *ar, long long pos, const void **blk,
                    long long *off)
{
  for (;;) {
    size_t size;
    la_int64_t o;
    int r = archive_read_data_block(ar, blk, &size, &o);
    if (r == ARCHIVE_EOF)
      return 0;
    if (r < ARCHIVE_WARN)
      return AR_FAIL;
    if (o != pos) {
      *off = (long long)o;
      return AR_SPARSE;
    }
    if (size)
      return (long)size;
  }
}

/* The next block of ar into dst (up to AHEAD_BLOCK bytes, several of
 * libarchive's blocks or part of one: pend and pend_len keep the rest).
 * *pos counts the bytes handed out. Returns the bytes, 0 at the end, or
 * ar_next's error. */
static long ahead_block(struct ahead *a, struct archive *ar, char *dst,
                        const void **pend, size_t *pend_len, long long *pos)
{
  size_t n = 0;
  while (n < AHEAD_BLOCK) {
    size_t k;
    if (!*pend_len) {
      long got = ar_next(ar, *pos, pend, &a->sparse_off);
      if (got == 0)
        break;
      if (got < 0) {
        a->sparse_want = *pos;
        return got;
      }
      *pend_len = (size_t)got;
    }
    k = *pend_len < AHEAD_BLOCK - n ? *pend_len : AHEAD_BLOCK - n;
    memcpy(dst + n, *pend, k);
    n += k;
    *pend = (const char *)*pend + k;
    *pend_len -= k;
    *pos += (long long)k;
  }
  return (long)n;
}

static void *ahead_main(void *arg)
{
  struct reader *rd = arg;
  struct ahead *a = &rd->ahead;
  const void *pend = NULL;
  size_t pend_len = 0;
  long long pos = 0;
  long n;

  cairn_thread_name("cairn-inflate");
  pthread_mutex_lock(&a->mu);
  for (;;) {
    unsigned at;
    while (!a->stop && a->head - a->tail == AHEAD_SLOTS)
      pthread_cond_wait(&a->cv, &a->mu);
    if (a->stop)
      break;
    at = a->head % AHEAD_SLOTS;
    pthread_mutex_unlock(&a->mu);
    n = rd->gz ? gz_read(rd->gz, a->slot[at], AHEAD_BLOCK)
               : ahead_block(a, rd->ar, a->slot[at], &pend, &pend_len, &pos);
    pthread_mutex_lock(&a->mu);
    if (n > 0) {
      a->len[at] = (size_t)n;
      a->head++;
    } else {
      a->end = n == 0 ? 1 : (int)n; /* AR_FAIL, AR_SPARSE */
    }
    pthread_cond_broadcast(&a->cv);
    if (n <= 0)
      break;
  }
  pthread_mutex_unlock(&a->mu);
  return NULL;
}

/* Start decompressing rd->ar or rd->gz ahead; without a thread the reader
 * reads their blocks itself. */
static void ahead_start(struct reader *rd)
{
  struct ahead *a = &rd->ahead;
  if (!cairn_cpu_second_core())
    return;
  if (!a->slot[0])
    for (int k = 0; k < AHEAD_SLOTS; k++)
      a->slot[k] = cairn_xmalloc(AHEAD_BLOCK);
  a->stop = a->end = a->holding = 0;
  a->head = a->tail = 0;
  pthread_mutex_init(&a->mu, NULL);
  pthread_cond_init(&a->cv, NULL);
  if (pthread_create(&a->thread, NULL, ahead_main, rd) != 0) {
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    return;
  }
  a->running = 1;
}

static void ahead_stop(struct ahead *a)
{
  if (!a->running)
    return;
  pthread_mutex_lock(&a->mu);
  a->stop = 1;
  pthread_cond_broadcast(&a->cv);
  pthread_mutex_unlock(&a->mu);
  pthread_join(a->thread, NULL);
  pthread_mutex_destroy(&a->mu);
  pthread_cond_destroy(&a->cv);
  a->running = 0;
}

/* The next decompressed block: its bytes (*data valid until the next
 * call), 0 at the end, or the thread's AR_FAIL or AR_SPARSE. */
static long ahead_next(struct ahead *a, const char **data)
{
  long n;
  pthread_mutex_lock(&a->mu);
  if (a->holding) {
    a->tail++;
    a->holding = 0;
    pthread_cond_broadcast(&a->cv);
  }
  while (a->head == a->tail && !a->end)
    pthread_cond_wait(&a->cv, &a->mu);
  if (a->head != a->tail) {
    *data = a->slot[a->tail % AHEAD_SLOTS];
    n = (long)a->len[a->tail % AHEAD_SLOTS];
    a->holding = 1;
  } else {
    n = a->end > 0 ? 0 : a->end;
  }
  pthread_mutex_unlock(&a->mu);
  return n;
}

static void rd_close(struct reader *rd)
{
  ahead_stop(&rd->ahead);
  if (rd->fp)
    fclose(rd->fp);
  if (rd->ar)
    archive_read_free(rd->ar);
  gz_close(rd->gz);
  rd->gz = NULL;
  if (rd->map) {
    munmap(rd->map, rd->map_len);
    close(rd->map_fd);
  }
  rd->fp = NULL;
  rd->ar = NULL;
  rd->map = NULL;
  rd->map_len = rd->dropped = rd->asked = 0;
  rd->keep = SIZE_MAX;
  rd->data = NULL;
  rd->blob = (size_t)-1;
}

static int ar_fail(struct cx_src *s, const struct blob *b, const char *what,
                   cairn_err *err)
{
  if (s->rd.gz)
    return CAIRN_RAISE(err, CAIRN_EIO, 0, "blob \"%s\" (%s): %s: %s",
                       b->name, b->path, what, s->rd.gz->why);
  return CAIRN_RAISE(err, CAIRN_EIO, archive_errno(s->rd.ar), "blob \"%s\" "
                     "(%s): %s: %s", b->name, b->path, what,
                     archive_error_string(s->rd.ar)
                         ? archive_error_string(s->rd.ar) : "unknown error");
}

/* The error of blob b that ar_next's code stands for (want: the offset
 * the block should have begun at). */
static int ar_raise(struct cx_src *s, const struct blob *b, long code,
                    long long off, long long want, cairn_err *err)
{
  if (code == AR_SPARSE)
    return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "blob \"%s\": sparse archive "
                       "entry (offset %lld, expected %lld)", b->name, off,
                       want);
  return ar_fail(s, b, "decompress", err);
}

/* A zip blob must hold one file: cairn reads its first regular entry, so
 * the rows of any other would be left out without a word (a manifest
 * without dataRowCount checks nothing). Its entries are listed from the
 * central directory by a handle of their own (no data is decompressed),
 * before anything of the blob is read. Folders do not count. */
static int zip_check_one_file(const struct blob *b, cairn_err *err)
{
  struct archive *ar = archive_read_new();
  struct archive_entry *e;
  char *first = NULL;
  int r, rc = CAIRN_OK;

  archive_read_support_format_zip(ar);
  if (archive_read_open_filename(ar, b->path, 1 << 16) != ARCHIVE_OK)
    goto done; /* rd_open's own open reports it */
  while ((r = archive_read_next_header(ar, &e)) == ARCHIVE_OK ||
         r == ARCHIVE_WARN) {
    const char *name = archive_entry_pathname(e);
    if (archive_entry_filetype(e) != AE_IFREG)
      continue;
    if (!first) {
      first = cairn_xstrdup(name ? name : "");
      continue;
    }
    rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "blob \"%s\" (%s): the zip holds "
                     "more than one file (\"%.100s\", \"%.100s\", ...): an "
                     "export's zip holds one CSV, and only one would be "
                     "read; nothing of this blob was loaded", b->name,
                     b->path, first, name ? name : "");
    break;
  }
done:
  free(first);
  archive_read_free(ar);
  return rc;
}

/* Open blob i at uncompressed offset 0; the kind comes from the magic
 * bytes, not the name (Azure's naming may change; a .gz is gzip anyway). */
static int rd_open(struct cx_src *s, size_t i, cairn_err *err)
{
  struct reader *rd = &s->rd;
  struct blob *b = &s->blobs[i];
  unsigned char magic[4] = { 0 };
  struct stat st;
  size_t got;

  rd_close(rd);
  if (!b->path)
    CAIRN_TRY(cairn__cx_remote_blob(s->remote, s->ident, i, b->name, &b->path,
                                    err));
  rd->pos = 0;
  rd->len = rd->at = 0;
  rd->eof = 0;
  rd->fp = fopen(b->path, "rb");
  if (!rd->fp || fstat(fileno(rd->fp), &st) != 0)
    return CAIRN_RAISE(err, CAIRN_EIO, errno, "blob \"%s\" (%s): %s", b->name,
                       b->path, strerror(errno));
  cairn_fs_stamp_of(&st, &b->file);
  if (s->remote)
    b->file.mtime_ns = -1;
  got = fread(magic, 1, sizeof magic, rd->fp);
  if (got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)
    rd->kind = KIND_GZIP;
  else if (got == 4 && memcmp(magic, "PK\x03\x04", 4) == 0)
    rd->kind = KIND_ZIP;
  else
    rd->kind = KIND_PLAIN;
  if (rd->kind == KIND_PLAIN && b->bytes >= 0 && st.st_size > 0 &&
      (long long)st.st_size < b->bytes &&
      (pread(fileno(rd->fp), magic, 1, st.st_size - 1) != 1 ||
       magic[0] != '\n')) {
    /* A plain blob shorter than its byteCount whose last row has no line
     * end: a copy cut off mid-row, whose cut row still counts against
     * dataRowCount. (Cut at a line end, the rows fall short of
     * dataRowCount; a blob converted on purpose, from UTF-16 or CR line
     * ends as read_header's messages advise, still ends with one; a
     * compressed blob cut short fails as it is read.) */
    int rc = CAIRN_RAISE(err, CAIRN_EIO, 0, "blob \"%s\" (%s) is %lld "
                         "bytes, not the %lld of its manifest's byteCount, "
                         "and ends inside a row: the copy was cut short; "
                         "nothing of it was read (run again once it is "
                         "complete)", b->name,
                         s->remote ? "downloaded" : b->path,
                         (long long)st.st_size, b->bytes);
    if (s->remote) {
      /* Downloaded again by the rerun, not kept as it is. */
      unlink(b->path);
      free(b->path);
      b->path = NULL;
    }
    return rc;
  }
  if (rd->kind == KIND_PLAIN) {
    if (S_ISREG(st.st_mode) && st.st_size > 0 &&
        (unsigned long long)st.st_size <= SIZE_MAX) {
      void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
                     fileno(rd->fp), 0);
      int fd = m != MAP_FAILED ? dup(fileno(rd->fp)) : -1;
      if (m != MAP_FAILED && fd < 0)
        munmap(m, (size_t)st.st_size);
      if (fd >= 0) {
        madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
        rd->map = m;
        rd->map_len = (size_t)st.st_size;
        rd->map_fd = fd;
        fclose(rd->fp);
        rd->fp = NULL;
        rd->blob = i;
        return CAIRN_OK;
      }
    }
    if (fseeko(rd->fp, 0, SEEK_SET) != 0)
      return CAIRN_RAISE(err, CAIRN_EIO, errno, "blob \"%s\": seek: %s",
                         b->name, strerror(errno));
    rd->blob = i;
    return CAIRN_OK;
  }
  fclose(rd->fp);
  rd->fp = NULL;
  if (rd->kind == KIND_GZIP) {
    rd->gz = gz_open(b->path);
    if (!rd->gz)
      return CAIRN_RAISE(err, CAIRN_EIO, errno, "blob \"%s\" (%s): %s",
                         b->name, b->path, strerror(errno));
    rd->blob = i;
    ahead_start(rd);
    return CAIRN_OK;
  }
  CAIRN_TRY(zip_check_one_file(b, err));
  rd->ar = archive_read_new();
  archive_read_support_format_zip(rd->ar);
  if (archive_read_open_filename(rd->ar, b->path, 1 << 16) != ARCHIVE_OK)
    return ar_fail(s, b, "open", err);
  for (;;) {
    struct archive_entry *e;
    int r = archive_read_next_header(rd->ar, &e);
    if (r == ARCHIVE_EOF)
      return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "blob \"%s\" (%s): the zip "
                         "holds no file", b->name, b->path);
    if (r < ARCHIVE_WARN)
      return ar_fail(s, b, "read header", err);
    /* A zip holds the CSV as its first regular entry (folders skipped). */
    if (archive_entry_filetype(e) == AE_IFREG)
      break;
  }
  rd->blob = i;
  ahead_start(rd);
  return CAIRN_OK;
}

/* Give the whole pages of the mapping below offset upto back
 * (MADV_DONTNEED; the page cache keeps them): they are read again only if
 * the reader goes back, and then fault in from the page cache. */
static void rd_release(struct reader *rd, size_t upto)
{
  size_t want;
  upto &= ~((size_t)sysconf(_SC_PAGESIZE) - 1);
  if (upto > rd->dropped) {
    madvise(rd->map + rd->dropped, upto - rd->dropped, MADV_DONTNEED);
    rd->dropped = upto;
  }
  /* Keep READ_AHEAD bytes past upto on their way into the page cache,
   * asked for in steps of half of it: the kernel's own read-ahead of a
   * mapping follows the faults, so pages the cache had evicted (a copy
   * made a while ago) stopped the producer on the disk, ~0.9 s of a
   * 5 s run with all of them evicted. */
  want = upto + READ_AHEAD < rd->map_len ? upto + READ_AHEAD : rd->map_len;
  if (rd->asked < upto)
    rd->asked = upto;
  if (want > rd->asked && (want - rd->asked >= READ_AHEAD / 2 ||
                           want == rd->map_len)) {
    madvise(rd->map + rd->asked, want - rd->asked, MADV_WILLNEED);
    rd->asked = want;
  }
}

/* The reader's READ_BLOCK-byte buffer, allocated on first use. */
static char *rd_buf(struct reader *rd)
{
  if (!rd->buf)
    rd->buf = cairn_xmalloc(READ_BLOCK);
  return rd->buf;
}

/* Make at least one unconsumed byte available: 1, 0 at end of blob, <0. */
static int rd_fill(struct cx_src *s, cairn_err *err)
{
  struct reader *rd = &s->rd;
  const struct blob *b = &s->blobs[rd->blob];
  size_t n = 0;

  if (rd->at < rd->len)
    return 1;
  if (rd->eof)
    return 0;
  rd->pos += (long long)rd->len;
  rd->len = rd->at = 0;
  if (rd->map) {
    /* Hand out the mapping a block at a time and give the blocks already
     * consumed back, so the resident size stays at a chunk whatever the
     * file size; but not the chunk last handed out in place, which is
     * decoded after this. */
    rd_release(rd, (size_t)rd->pos < rd->keep ? (size_t)rd->pos : rd->keep);
    if ((unsigned long long)rd->pos < rd->map_len) {
      rd->data = rd->map + rd->pos;
      n = rd->map_len - (size_t)rd->pos;
      if (n > READ_BLOCK)
        n = READ_BLOCK;
    }
  } else if (rd->fp) {
    n = fread(rd_buf(rd), 1, READ_BLOCK, rd->fp);
    if (n == 0 && ferror(rd->fp))
      return CAIRN_RAISE(err, CAIRN_EIO, errno, "blob \"%s\" (%s): read: %s",
                         b->name, b->path, strerror(errno));
    rd->data = rd->buf;
  } else if (rd->ahead.running) {
    long got = ahead_next(&rd->ahead, &rd->data);
    if (got < 0) {
      ahead_stop(&rd->ahead); /* it has ended: rd->ar is ours again */
      return ar_raise(s, b, got, rd->ahead.sparse_off, rd->ahead.sparse_want,
                      err);
    }
    n = (size_t)got;
  } else {
    /* libarchive's block (no copy), or gzip inflated into the read buffer */
    const void *blk = rd->gz ? rd_buf(rd) : NULL;
    long long off = 0;
    long got = rd->gz ? gz_read(rd->gz, rd->buf, READ_BLOCK)
                      : ar_next(rd->ar, rd->pos, &blk, &off);
    if (got < 0)
      return ar_raise(s, b, got, off, rd->pos, err);
    rd->data = blk;
    n = (size_t)got;
  }
  if (n == 0) {
    rd->eof = 1;
    return 0;
  }
  rd->len = n;
  return 1;
}

/* The end of the messages for a checkpoint its blob no longer fits. */
#define CHANGED_SINCE ": the export changed since this window's checkpoint, " \
  "so its positions no longer apply; nothing from the checkpoint on was " \
  "loaded (run again with --fresh to load the export as it is now)"

/* A file of unknown size and modification time (-1: not recorded). */
static const struct cairn_fs_stamp unknown_file = { -1, -1 };

/* Position the reader at uncompressed offset 'off' of blob i. Plain files
 * seek; a compressed stream cannot, so going back reopens it and going
 * forward decompresses and discards (cost: the bytes skipped, at the
 * decompressor's speed). was is the size and modification time of the
 * blob's file the offset was taken in (a cursor's "size" and "mtime"; -1:
 * not known): a file of another size, or rewritten since, is another file, and an offset past the end of the blob cannot have been
 * taken in it either. Both are CAIRN_ECHANGED: read on, the run would
 * load a different export than it started (or skip the rest of the
 * blob, as if it had ended) without a word. */
static int rd_seek(struct cx_src *s, size_t i, long long off,
                   const struct cairn_fs_stamp *was, cairn_err *err)
{
  struct reader *rd = &s->rd;
  const struct blob *b = &s->blobs[i];
  long long skipped;
  int rc;

  if (rd->blob != i || (rd->kind != KIND_PLAIN &&
                        off < rd->pos + (long long)rd->at)) {
    rc = rd_open(s, i, err);
    if (rc < 0)
      return rc;
  }
  if (was->size >= 0 && b->file.size != was->size)
    return CAIRN_RAISE(err, CAIRN_ECHANGED, 0, "blob \"%s\" (%s) is %lld "
                       "bytes, not the %lld it was when read up to offset "
                       "%lld" CHANGED_SINCE, b->name, b->path, b->file.size, was->size,
                       off);
  if (was->mtime_ns >= 0 && b->file.mtime_ns >= 0 &&
      b->file.mtime_ns != was->mtime_ns)
    return CAIRN_RAISE(err, CAIRN_ECHANGED, 0, "blob \"%s\" (%s) was modified "
                       "after it was read up to offset %lld (same size, "
                       "another modification time)" CHANGED_SINCE, b->name,
                       b->path, off);
  if (rd->pos + (long long)rd->at == off)
    return CAIRN_OK;
  if (rd->kind == KIND_PLAIN) {
    if (off > b->file.size)
      return CAIRN_RAISE(err, CAIRN_ECHANGED, 0, "blob \"%s\" (%s) ends at "
                         "%lld bytes, before the checkpointed offset %lld"
                         CHANGED_SINCE, b->name, b->path, b->file.size, off);
    if (rd->fp && fseeko(rd->fp, off, SEEK_SET) != 0)
      return CAIRN_RAISE(err, CAIRN_EIO, errno, "blob \"%s\": seek: %s",
                         s->blobs[i].name, strerror(errno));
    rd->pos = off;
    rd->len = rd->at = 0;
    rd->eof = 0;
    return CAIRN_OK;
  }
  skipped = off - (rd->pos + (long long)rd->at);
  if (skipped > READ_BLOCK)
    cairn_info("blob \"%s\": decompressing %lld bytes to reach offset %lld "
               "(a compressed blob cannot seek)", s->blobs[i].name, skipped,
               off);
  for (;;) {
    if (off < rd->pos + (long long)rd->len) {
      rd->at = (size_t)(off - rd->pos);
      return CAIRN_OK;
    }
    rd->at = rd->len;
    rc = rd_fill(s, err);
    if (rc < 0)
      return rc;
    if (rc == 0) {
      if (off == rd->pos + (long long)rd->len)
        return CAIRN_OK;
      return CAIRN_RAISE(err, CAIRN_ECHANGED, 0, "blob \"%s\" (%s) ends at "
                         "%lld bytes (uncompressed), before the checkpointed "
                         "offset %lld" CHANGED_SINCE, b->name, b->path,
                         rd->pos + (long long)rd->len, off);
    }
  }
}

/* How rd_record read a record. */
struct rec_read {
  long      lines;  /* its newlines (quoted ones included) */
  long long bytes;  /* its size in the blob's stream */
  int       ended;  /* it ends with a newline (not the blob's end) */
};

/* Append the next record (terminator included) to out, but no more than
 * CAIRN_CSV_RECORD_MAX bytes of it: of a larger one (r->bytes says so),
 * its first CAIRN_CSV_KEEP bytes; the rest is read past. 1, 0 at end, <0. */
static int rd_record(struct cx_src *s, struct cairn_buf *out,
                     struct rec_read *r, cairn_err *err)
{
  struct reader *rd = &s->rd;
  size_t before = out->len;
  int quoted = 0, got = 0, done = 0, rc;

  memset(r, 0, sizeof *r);
  for (;;) {
    size_t seg;
    rc = rd_fill(s, err);
    if (rc == 0 && got && quoted)
      s->blobs[rd->blob].open_quote = 1;
    if (rc <= 0)
      return rc < 0 ? rc : got;
    seg = cairn__csv_scan(rd->data + rd->at, rd->len - rd->at, &quoted,
                          &r->lines, &done);
    if (cairn__csv_keep(out, before, (unsigned long long)r->bytes,
                        rd->data + rd->at, seg) != 0)
      return CAIRN_RAISE(err, CAIRN_EIO, 0, "record too large");
    rd->at += seg;
    r->bytes += (long long)seg;
    r->ended = done;
    got = 1;
    if (done)
      return 1;
  }
}

/* Read blob i's header (once per blob per source): names with the BOM
 * stripped, and where its data starts. */
static int read_header(struct cx_src *s, size_t i, cairn_err *err)
{
  struct blob *b = &s->blobs[i];
  struct cairn_header *h = &s->headers[i];
  struct cairn__csv_cols cols = { 0 };
  struct rec_read r = { 0, 0, 0 };
  const char *why;
  int rc;

  if (h->names)
    return CAIRN_OK;
  rc = rd_seek(s, i, 0, &unknown_file, err);
  if (rc < 0)
    return rc;
  cairn_buf_reset(&s->hdr_rec);
  rc = rd_record(s, &s->hdr_rec, &r, err);
  if (rc < 0)
    return rc;
  b->data_off = s->rd.pos + (long long)s->rd.at;
  b->data_line = 1 + r.lines;
  if (rc == 0) {
    /* An empty blob: no header, no rows. */
    h->names = cairn_xcalloc(1, sizeof *h->names);
    h->id = cairn_header_new_id();
    return CAIRN_OK;
  }
  /* a UTF-8 BOM, or two (as the file source) */
  while (s->hdr_rec.len >= 3 &&
         memcmp(s->hdr_rec.data, "\xEF\xBB\xBF", 3) == 0) {
    memmove(s->hdr_rec.data, s->hdr_rec.data + 3, s->hdr_rec.len - 2);
    s->hdr_rec.len -= 3;
  }
  why = cairn__csv_header_problem(s->hdr_rec.data, s->hdr_rec.len);
  if (why)
    return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "blob \"%s\" (%s)%s; nothing "
                       "of this blob was loaded", b->name, b->path, why);
  if ((unsigned long long)r.bytes > CAIRN_CSV_RECORD_MAX)
    return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "blob \"%s\" (%s): its header "
                       "line is %lld bytes, more than the %zu MiB a record "
                       "may have; nothing of this blob was loaded", b->name,
                       b->path, r.bytes, CAIRN_CSV_RECORD_MAX >> 20);
  h->n_cols = cairn__csv_split(s->hdr_rec.data, s->hdr_rec.len, &cols);
  h->names = cairn_xcalloc(h->n_cols, sizeof *h->names);
  for (size_t k = 0; k < h->n_cols; k++)
    h->names[k] = cairn_xstrndup(cols.cols[k], cols.lens[k]);
  h->id = cairn_header_new_id();
  cairn__csv_cols_free(&cols);
  return CAIRN_OK;
}

/* Free the headers of the blobs before blob i - 1 (and up to it): their
 * pages are decoded by now (a page is decoded before the next extract),
 * so a manifest of many blobs holds two headers, not one per blob (of
 * the 42 names of a FOCUS header: 132 MB of RSS for 50,000 blobs). A
 * blob read again, as a chunk redone is, reads its header again. */
static void drop_headers(struct cx_src *s, size_t i)
{
  for (; s->kept_from + 1 < i; s->kept_from++)
    cairn_header_clear(&s->headers[s->kept_from]);
}

/* Note one record (its bytes and newlines) in the page's index; a record
 * beyond 32 bits makes the index unusable (*ok = 0). */
static void index_add(struct cairn_buf *ix, size_t bytes, long lines, int *ok)
{
  uint32_t e[2];
  if (!*ok)
    return;
  if (bytes > UINT32_MAX || lines < 0 || (unsigned long)lines > UINT32_MAX) {
    *ok = 0;
    return;
  }
  e[0] = (uint32_t)bytes;
  e[1] = (uint32_t)lines;
  if (ix->cap - ix->len < sizeof e + 1)
    cairn_buf_reserve(ix, 4096 * sizeof e); /* grows geometrically */
  memcpy(ix->data + ix->len, e, sizeof e);
  ix->len += sizeof e;
  ix->data[ix->len] = '\0';
}

/* The whole records at the start of p[0..n) that the chunk takes, the one
 * rule of both read paths: while it has fewer than chunk_rows records, and
 * each keeps it within chunk_bytes counting the used bytes it has before p
 * (its first record is always taken: a chunk always makes progress; *full
 * when a record was left for the next chunk). A record that runs past
 * p + n is taken only when p + n is the end of the blob (last). Counts
 * the records (blank lines excluded) in *rows and their newlines in *line,
 * and indexes them (index_add); sets *open_quote when the blob ends inside
 * a quoted field. A record larger than CAIRN_CSV_RECORD_MAX (found by
 * scanning no further than that) is never taken here: it ends the chunk
 * before it (*full), or, first in the chunk, is left to rd_record (*big),
 * which reads past it; it makes a chunk of its own. Returns the bytes
 * taken. */
static size_t take_records(const struct cx_src *s, const char *p, size_t n,
                           size_t used, int last, long *rows, long *line,
                           struct cairn_buf *ix, int *ix_ok, int *full,
                           int *big, int *open_quote)
{
  size_t span = 0;
  while (*rows < s->chunk_rows && span < n) {
    int quoted = 0, done;
    long lines = 0;
    size_t avail = n - span;
    size_t lim = avail > CAIRN_CSV_RECORD_MAX ? CAIRN_CSV_RECORD_MAX + 1
                                              : avail;
    size_t k = cairn__csv_scan(p + span, lim, &quoted, &lines, &done);
    /* Over the bound, ended or not: one that runs on past lim, or the
     * blob's last, unterminated, of exactly CAIRN_CSV_RECORD_MAX + 1
     * bytes (rd_record's rule: more than the bound) */
    if (k > CAIRN_CSV_RECORD_MAX) {
      if (used + span > 0)
        *full = 1;
      else
        *big = 1;
      break;
    }
    if (!done && !last)
      break; /* straddles the end of the buffer */
    if (!done && quoted)
      *open_quote = 1; /* the blob ends inside a quoted field */
    if (*rows > 0 && used + span + k > (size_t)s->chunk_bytes) {
      *full = 1;
      break;
    }
    if (!cairn__csv_blank(p + span, k))
      (*rows)++;
    *line += lines;
    span += k;
    index_add(ix, k, lines, ix_ok);
  }
  return span;
}

/* Append the records of one chunk to raw: at most chunk_rows records, and
 * no record that would take raw past chunk_bytes (unless it is the first:
 * a chunk always makes progress). Records lying wholly in the read buffer
 * are scanned there and copied in one span per buffer; a record that
 * straddles two reads is assembled piecewise and, if it goes past the
 * bound, kept for the next chunk (s->carry). The same rule on both paths
 * makes a chunk's end depend only on the records, not on where the reads
 * fall: a resume that re-reads a chunk from its cursor must get the same
 * chunk. A record too large to hold is a chunk of its own, of its first
 * CAIRN_CSV_KEEP bytes (s->big_bytes, s->big_lines). *rows gets the
 * records (blank lines excluded), *line the line after the last one; ix,
 * each record's bytes and newlines. */
static int read_chunk(struct cx_src *s, struct cairn_buf *raw,
                      struct cairn_buf *ix, long *rows, long *line,
                      cairn_err *err)
{
  struct reader *rd = &s->rd;
  size_t limit = (size_t)s->chunk_bytes;
  int rc, ix_ok = 1;

  cairn_buf_reset(raw);
  cairn_buf_reset(ix);
  /* Size the page once instead of doubling up to twice the bound. */
  if (limit <= (1u << 30) && raw->cap < limit + 1) {
    raw->data = cairn_xrealloc(raw->data, limit + 1);
    raw->cap = limit + 1;
    raw->data[0] = '\0';
  }
  *rows = 0;
  s->big_bytes = 0;
  if (s->has_carry) { /* cx_extract checked it starts this chunk */
    if (cairn_buf_append(raw, s->carry.data, s->carry.len) != 0)
      return CAIRN_RAISE(err, CAIRN_EIO, 0, "chunk too large");
    if (!cairn__csv_blank(s->carry.data, s->carry.len))
      (*rows)++;
    *line += s->carry_lines;
    index_add(ix, s->carry.len, s->carry_lines, &ix_ok);
    s->has_carry = 0;
    if (s->carry_bytes) { /* too large to hold: a chunk of its own */
      s->big_bytes = s->carry_bytes;
      s->big_lines = s->carry_lines + !s->carry_ended;
      return CAIRN_OK;
    }
  }
  while (*rows < s->chunk_rows && !s->big_bytes) {
    const char *p;
    size_t n, span;
    int full = 0, big = 0;

    rc = rd_fill(s, err);
    if (rc < 0)
      return rc;
    if (rc == 0)
      break;
    p = rd->data + rd->at;
    n = rd->len - rd->at;
    span = take_records(s, p, n, raw->len, 0, rows, line, ix, &ix_ok, &full,
                        &big, &s->blobs[rd->blob].open_quote);
    if (span && cairn_buf_append(raw, p, span) != 0)
      return CAIRN_RAISE(err, CAIRN_EIO, 0, "chunk too large");
    rd->at += span;
    if (full || *rows >= s->chunk_rows)
      break;
    if (rd->at < rd->len) {
      /* One record across reads (or the last one, without a newline). */
      size_t before = raw->len;
      long long off = rd->pos + (long long)rd->at;
      struct rec_read r;
      int too_large;
      if (*rows > 0 && raw->len >= limit)
        break;
      rc = rd_record(s, raw, &r, err);
      if (rc < 0)
        return rc;
      if (rc == 0)
        break;
      too_large = (unsigned long long)r.bytes > CAIRN_CSV_RECORD_MAX;
      if (too_large ? before > 0 : *rows > 0 && raw->len > limit) {
        cairn_buf_reset(&s->carry);
        cairn_buf_append(&s->carry, raw->data + before, raw->len - before);
        s->carry_blob = rd->blob;
        s->carry_off = off;
        s->carry_lines = r.lines;
        s->carry_ended = r.ended;
        s->carry_bytes = too_large ? r.bytes : 0;
        s->has_carry = 1;
        raw->len = before;
        raw->data[before] = '\0';
        break;
      }
      if (too_large) {
        s->big_bytes = r.bytes;
        s->big_lines = r.lines + !r.ended;
      }
      if (!cairn__csv_blank(raw->data + before, raw->len - before))
        (*rows)++;
      *line += r.lines;
      index_add(ix, raw->len - before, r.lines, &ix_ok);
    }
  }
  if (!ix_ok)
    cairn_buf_reset(ix);
  return CAIRN_OK;
}

/* read_chunk for a mapped plain blob, without the copy: the chunk is the
 * span of the mapping its records lie in, handed out as page->view (kept
 * mapped until the next chunk is read, see rd_fill). Its records are
 * chosen by take_records, as read_chunk's are, so a chunk's end does not
 * depend on the path. */
static int read_chunk_mapped(struct cx_src *s, struct cairn_page *page,
                             long *rows, long *line, cairn_err *err)
{
  struct reader *rd = &s->rd;
  const struct blob *b = &s->blobs[rd->blob];
  size_t start = (size_t)rd->pos + rd->at, len;
  struct stat st;
  int ix_ok = 1, full = 0, big = 0;

  /* Reading a page of the mapping that the file no longer has would kill
   * the run (SIGBUS): a blob cut short since it was mapped (an export
   * rewritten in place, a copy still being made) fails the chunk instead,
   * before any of it is read. */
  if (fstat(rd->map_fd, &st) != 0)
    return CAIRN_RAISE(err, CAIRN_EIO, errno, "blob \"%s\" (%s): stat: %s",
                       b->name, b->path, strerror(errno));
  if ((unsigned long long)st.st_size < rd->map_len)
    return CAIRN_RAISE(err, CAIRN_EIO, 0, "blob \"%s\" (%s) shrank from %zu "
                       "to %lld bytes while it was read: the export changed "
                       "under the run; nothing from this chunk on was loaded "
                       "(rerun when the export is complete)", b->name,
                       b->path, rd->map_len, (long long)st.st_size);

  /* The chunk before this one is decoded by now: release it first, so
   * that one chunk of the file is resident, not two. */
  rd_release(rd, start);
  if (s->raw_used) {
    /* raw held the chunks of a compressed blob: idle while this one is
     * mapped, and not resident beside it */
    cairn_buf_idle(&page->raw);
    s->raw_used = 0;
  }
  cairn_buf_reset(&page->index);
  *rows = 0;
  s->big_bytes = 0;
  len = take_records(s, rd->map + start, rd->map_len - start, 0, 1, rows,
                     line, &page->index, &ix_ok, &full, &big,
                     &s->blobs[rd->blob].open_quote);
  if (big) {
    /* A record too large to hold starts the chunk: read past it a block
     * at a time, as read_chunk reads a compressed blob, giving the blocks
     * behind back (nothing of the mapping is handed out in place now),
     * so it is never resident whole. */
    rd->keep = SIZE_MAX;
    s->raw_used = 1;
    return read_chunk(s, &page->raw, &page->index, rows, line, err);
  }
  if (!ix_ok)
    cairn_buf_reset(&page->index);
  page->view = rd->map + start;
  page->view_len = len;
  rd->keep = start;
  rd->pos = (long long)(start + len);
  rd->len = rd->at = 0;
  return CAIRN_OK;
}

/* ---- row counts ------------------------------------------------------------ */

static int check_blob(const struct cx_src *s, size_t i, long long rows,
                      cairn_err *err)
{
  const struct blob *b = &s->blobs[i];
  if (b->rows >= 0 && rows != b->rows && b->open_quote)
    return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "blob \"%s\" ends inside a "
                       "quoted field: a quote in its last row is never "
                       "closed, so every line after the quote was read "
                       "into that row (%lld data rows, its manifest says "
                       "dataRowCount %lld); the blob is malformed: nothing "
                       "from the end of this blob on was loaded", b->name,
                       rows, b->rows);
  if (b->rows >= 0 && rows != b->rows)
    return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "blob \"%s\" has %lld data "
                       "rows but its manifest says dataRowCount %lld: the "
                       "export is incomplete or changed while it was read; "
                       "nothing from the end of this blob on was loaded "
                       "(rerun when the export is complete)", b->name,
                       rows, b->rows);
  return CAIRN_OK;
}

static int check_total(const struct cx_src *s, long long rows, cairn_err *err)
{
  if (s->total_rows >= 0 && rows != s->total_rows && !s->n_blobs)
    return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "the export lists no blobs but "
                       "its manifest says dataRowCount %lld: the export is "
                       "incomplete", s->total_rows);
  if (s->total_rows >= 0 && rows != s->total_rows)
    return CAIRN_RAISE(err, CAIRN_EPARSE, 0, "the export's %zu blob(s) hold "
                       "%lld data rows but its manifest says dataRowCount "
                       "%lld (last blob \"%s\"): the export is incomplete "
                       "or changed while it was read", s->n_blobs, rows,
                       s->total_rows, s->blobs[s->n_blobs - 1].name);
  return CAIRN_OK;
}

/* ---- extract ------------------------------------------------------------------ */

struct cursor {
  size_t    blob;
  long long offset;  /* 0: at the blob's start (before its header) */
  long      line;
  long long rows;    /* data rows of this blob before offset */
  long long before;  /* data rows of all earlier blobs */
  struct cairn_fs_stamp file; /* the blob's file offset was taken in;
                        -1: not recorded (at a blob's start, or a
                        checkpoint of an earlier version; mtime_ns also
                        for a remote export) */
};

static int parse_cursor(const struct cx_src *s, const char *text,
                        struct cursor *c, cairn_err *err)
{
  json_t *j = json_loads(text, 0, NULL);
  const char *id = json_string_value(json_object_get(j, "export"));
  if (!json_is_object(j)) {
    json_decref(j);
    return CAIRN_RAISE(err, CAIRN_ESTATE, 0, "bad cost_export cursor: %s",
                       text);
  }
  c->blob = (size_t)json_integer_value(json_object_get(j, "blob"));
  c->offset = json_integer_value(json_object_get(j, "offset"));
  c->line = (long)json_integer_value(json_object_get(j, "line"));
  c->rows = json_integer_value(json_object_get(j, "rows"));
  c->before = json_integer_value(json_object_get(j, "before"));
  c->file.size = json_is_integer(json_object_get(j, "size"))
                     ? json_integer_value(json_object_get(j, "size")) : -1;
  c->file.mtime_ns = json_is_integer(json_object_get(j, "mtime"))
                         ? json_integer_value(json_object_get(j, "mtime"))
                         : -1;
  if (id && strcmp(id, s->ident) != 0) {
    int rc = CAIRN_RAISE(err, CAIRN_ECHANGED, 0, "the export at %s changed "
                         "since this window started (manifest %s, "
                         "checkpoint made for %s): its positions no longer "
                         "apply; run again with --fresh to load the new "
                         "export", s->manifest, s->ident, id);
    json_decref(j);
    return rc;
  }
  json_decref(j);
  if (c->blob > s->n_blobs || c->offset < 0 || c->rows < 0 || c->before < 0)
    return CAIRN_RAISE(err, CAIRN_ESTATE, 0, "cost_export cursor out of "
                       "range: %s", text);
  return CAIRN_OK;
}

static char *fmt_cursor(const struct cx_src *s, const struct cursor *c)
{
  char size[64] = "";
  if (c->file.size >= 0 && c->file.mtime_ns >= 0)
    snprintf(size, sizeof size, ",\"size\":%lld,\"mtime\":%lld",
             c->file.size, c->file.mtime_ns);
  else if (c->file.size >= 0)
    snprintf(size, sizeof size, ",\"size\":%lld", c->file.size);
  return cairn_strfmt("{\"before\":%lld,\"blob\":%zu,\"export\":\"%s\","
                      "\"line\":%ld,\"offset\":%lld,\"rows\":%lld%s}",
                      c->before, c->blob, s->ident, c->line, c->offset,
                      c->rows, size);
}

static int cx_extract(cairn_source *base, const char *cursor_in,
                      struct cairn_page *page, cairn_err *err)
{
  struct cx_src *s = (struct cx_src *)base;
  struct reader *rd = &s->rd;
  struct cursor c = { 0, 0, 1, 0, 0, { -1, -1 } }, next;
  long rows = 0, line_end;
  int rc;

  if (cursor_in) {
    rc = parse_cursor(s, cursor_in, &c, err);
    if (rc < 0)
      return rc;
  }
  /* Find the first blob with data at or after the cursor, checking the
   * counts of the blobs that turn out to be exhausted on the way. */
  for (;;) {
    if (c.blob >= s->n_blobs) {
      rc = check_total(s, c.before, err);
      return rc < 0 ? rc : CAIRN_DONE;
    }
    drop_headers(s, c.blob);
    rc = read_header(s, c.blob, err);
    if (rc < 0)
      return rc;
    if (c.offset == 0) {
      c.offset = s->blobs[c.blob].data_off;
      c.line = s->blobs[c.blob].data_line;
    }
    if (s->has_carry && s->carry_blob == c.blob && s->carry_off == c.offset)
      break; /* the chunk starts with the record the last one kept */
    s->has_carry = 0;
    rc = rd_seek(s, c.blob, c.offset, &c.file, err);
    if (rc < 0)
      return rc;
    rc = rd_fill(s, err);
    if (rc < 0)
      return rc;
    if (rc > 0)
      break;
    rc = check_blob(s, c.blob, c.rows, err);
    if (rc < 0)
      return rc;
    c.before += c.rows;
    c.blob++;
    c.offset = 0;
    c.line = 1;
    c.rows = 0;
    c.file = unknown_file;
  }

  /* One chunk: whole records of this blob, never more than one blob. */
  line_end = c.line;
  if (rd->map && !s->has_carry) {
    rc = read_chunk_mapped(s, page, &rows, &line_end, err);
  } else {
    rc = read_chunk(s, &page->raw, &page->index, &rows, &line_end, err);
    s->raw_used = 1;
  }
  if (rc < 0)
    return rc;
  page->n_hint = rows;
  next = c;
  next.rows += rows;
  next.line = line_end;
  rc = s->has_carry ? 1 : rd_fill(s, err);
  if (rc < 0)
    return rc;
  if (rc > 0) {
    next.offset = s->has_carry ? s->carry_off : rd->pos + (long long)rd->at;
    next.file = s->blobs[c.blob].file;
    page->cursor_out = fmt_cursor(s, &next);
  } else {
    /* The blob ends with this chunk: its count must match before the
     * chunk (and so the blob) can count as extracted. */
    rc = check_blob(s, c.blob, next.rows, err);
    if (rc < 0)
      return rc;
    next.before += next.rows;
    next.rows = 0;
    next.blob++;
    next.offset = 0;
    next.line = 1;
    next.file = unknown_file;
    if (next.blob < s->n_blobs) {
      page->cursor_out = fmt_cursor(s, &next);
    } else {
      rc = check_total(s, next.before, err);
      if (rc < 0)
        return rc;
      page->cursor_out = NULL;
    }
  }
  {
    json_t *m = json_deep_copy(s->meta);
    json_object_set_new(m, "blob", json_integer((json_int_t)c.blob));
    json_object_set_new(m, "blobName", json_string(s->blobs[c.blob].name));
    json_object_set_new(m, "line", json_integer(c.line));
    json_object_set_new(json_object_get(m, "headers"), "x-export-blob",
                        json_string(s->blobs[c.blob].name));
    if (s->big_bytes) /* the chunk is one record too large to hold */
      json_object_set_new(m, "big", json_pack("{s:I,s:I,s:b}", "bytes",
                          (json_int_t)s->big_bytes, "lines",
                          (json_int_t)s->big_lines, "open_quote",
                          next.blob != c.blob /* it ends the blob */
                              ? s->blobs[c.blob].open_quote : 0));
    page->meta = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(m);
  }
  return CAIRN_OK;
}

/* ---- decode ------------------------------------------------------------------ */

/* Extract scanned the whole chunk (up to chunk_bytes) before decode reads
 * its first record, so each record has left the core's caches by the time
 * it is split, and the split's first loads waited for memory. Asking for
 * the next record's lines while this one is split and transformed hides
 * that wait. */
static inline void prefetch_record(const char *p, size_t n)
{
  for (size_t k = 0; k < n; k += 64)
    __builtin_prefetch(p + k);
}

/* "name:" then the line number, without printf (runs for every record). */
static int cx_decode(cairn_source *base, long seq, const struct cairn_page *page,
                     cairn_record_fn emit, void *ud, cairn_err *err)
{
  struct cx_src *s = (struct cx_src *)base;
  size_t len;
  const char *p = cairn_page_bytes(page, &len), *end = p + len;
  json_t *meta = json_loads(page->meta ? page->meta : "{}", 0, NULL);
  size_t blob = (size_t)json_integer_value(json_object_get(meta, "blob"));
  long line = (long)json_integer_value(json_object_get(meta, "line"));
  const struct cairn_header *h;
  const json_t *big;
  struct cairn_record rec;
  char pos[1024];
  size_t prefix, n_ix = 0, at_ix = 0;
  const uint32_t *ix = NULL;
  int rc = CAIRN_OK;

  (void)seq;
  if (!meta || blob >= s->n_blobs || !s->headers[blob].names) {
    json_decref(meta);
    return CAIRN_RAISE(err, CAIRN_EINTERNAL, 0, "cost_export: page of an "
                       "unknown blob, or decoded before it was extracted");
  }
  h = &s->headers[blob];
  prefix = (size_t)snprintf(pos, sizeof pos - 24, "%s:", s->blobs[blob].name);
  if (prefix >= sizeof pos - 24)
    prefix = sizeof pos - 25;
  big = json_object_get(meta, "big");
  if (big) {
    /* One record too large to hold: quarantined with what extract kept
     * of it. */
    char *why = cairn__csv_too_large(
        json_integer_value(json_object_get(big, "bytes")),
        (long)json_integer_value(json_object_get(big, "lines")),
        json_is_true(json_object_get(big, "open_quote")));
    cairn__put_line(pos, prefix, line);
    rc = cairn__emit_reject(emit, ud, h, meta, pos, p, len, why);
    free(why);
    json_decref(meta);
    return rc;
  }
  /* The record boundaries extract found, when they cover this raw text
   * exactly; otherwise each record is scanned for here. */
  {
    size_t sum = 0;
    ix = (const uint32_t *)(const void *)page->index.data;
    n_ix = page->index.len / (2 * sizeof *ix);
    for (size_t k = 0; k < n_ix; k++)
      sum += ix[2 * k];
    if (!n_ix || page->index.len % (2 * sizeof *ix) || sum != len)
      ix = NULL, n_ix = 0;
  }
  while (p < end && rc == CAIRN_OK) {
    int quoted = 0, done;
    long lines = 0;
    size_t n = 0;

    if (at_ix < n_ix) {
      n = ix[2 * at_ix];
      lines = (long)ix[2 * at_ix + 1];
      at_ix++;
      if (!n || (p + n != end && p[n - 1] != '\n')) {
        n_ix = 0; /* not a record end: stop trusting the index */
        n = 0;
        lines = 0;
      }
    }
    if (!n)
      n = cairn__csv_scan(p, (size_t)(end - p), &quoted, &lines, &done);
    else if (at_ix < n_ix && ix[2 * at_ix] <= (size_t)(end - p) - n)
      prefetch_record(p + n, ix[2 * at_ix]);

    if (cairn__csv_blank(p, n)) {
      line += lines;
      p += n;
      continue;
    }
    memset(&rec, 0, sizeof rec);
    cairn__put_line(pos, prefix, line);
    rec.n_cols = cairn__csv_split(p, n, &s->cols); /* read in place */
    rec.cols = s->cols.cols;
    rec.col_lens = s->cols.lens;
    rec.header = h;
    rec.ragged = rec.n_cols != h->n_cols;
    rec.meta = meta;
    rec.position = pos;
    rec.raw = p;
    rec.raw_len = cairn__csv_trim_eol(p, n);
    rc = emit(ud, &rec);
    line += lines;
    p += n;
  }
  json_decref(meta);
  return rc;
}

/* A remote export's downloads go once no resume can read them (a blob
 * before the one of a loaded chunk's cursor_in), the rest when the window
 * is loaded: the disk holds about the blobs being read, not the export. */
static void cx_released(cairn_source *base, const char *cursor_in)
{
  struct cx_src *s = (struct cx_src *)base;
  struct cursor c = { 0, 0, 1, 0, 0, { -1, -1 } };
  cairn_err e = { 0 };
  size_t upto = s->n_blobs;

  if (!s->remote)
    return;
  if (cursor_in) {
    if (parse_cursor(s, cursor_in, &c, &e) < 0) {
      cairn_err_clear(&e);
      return; /* not ours to judge: the resume says what is wrong */
    }
    upto = c.blob < s->n_blobs ? c.blob : s->n_blobs;
  }
  for (; s->released < upto; s->released++) {
    struct blob *b = &s->blobs[s->released];
    cairn__cx_remote_drop(s->remote, s->ident, s->released, b->name);
    free(b->path);
    b->path = NULL; /* downloaded again if ever read again */
  }
  if (!cursor_in)
    cairn__cx_remote_drop(s->remote, s->ident, 0, NULL);
}

static void cx_close(cairn_source *base)
{
  struct cx_src *s = (struct cx_src *)base;
  for (size_t i = 0; i < s->n_blobs; i++) {
    free(s->blobs[i].name);
    free(s->blobs[i].path);
    if (s->headers)
      cairn_header_clear(&s->headers[i]);
  }
  free(s->blobs);
  free(s->headers);
  free(s->manifest);
  cairn__cx_remote_close(s->remote);
  json_decref(s->meta);
  rd_close(&s->rd);
  free(s->rd.buf);
  for (int k = 0; k < AHEAD_SLOTS; k++)
    free(s->rd.ahead.slot[k]);
  cairn_buf_free(&s->hdr_rec);
  cairn_buf_free(&s->carry);
  cairn__csv_cols_free(&s->cols);
}

/* No header checked ahead (an export's columns vary by schema version,
 * which coalesce absorbs); only whether a local export run is there, for
 * --dry-run. A remote one is not asked: a dry run contacts no server. */
static int cx_peek_header(const json_t *cfg, struct cairn_header **out,
                          char **file_out, cairn_err *err)
{
  const char *path = json_string_value(json_object_get(cfg, "path"));
  char *manifest = NULL, *dir = NULL;
  int rc = CAIRN_OK;

  *out = NULL;
  *file_out = NULL;
  if (path && *path && !cairn_source_is_url(path))
    rc = local_manifest(path, &manifest, &dir, err);
  free(manifest);
  free(dir);
  return rc < 0 ? rc : CAIRN_DONE;
}

const cairn_source_ops cairn_source_cost_export_ops = {
  CAIRN_SOURCE_ABI, "cost_export", sizeof(struct cx_src),
  CAIRN_SOURCE_REREADABLE,
  cx_check, cx_open, cx_extract, cx_decode, cx_close, NULL, NULL,
  cx_peek_header, cx_released,
};
