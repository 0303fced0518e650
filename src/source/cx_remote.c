/* SPDX-License-Identifier: MIT */
/* cx_remote.c -- the cost export source's blobs over HTTP (Azure Blob
 * Storage); see cx_remote.h. Requests go through the run's transport (so
 * --record/--replay and `cairn mock` work as for the http source) and the
 * http source's retry loop with its defaults. */
#include "source/cx_remote.h"
#include "source/src_http.h"
#include "core/fsx.h"
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

/* Azure Storage needs a service version with OAuth; SAS URLs carry their
 * own (sv=), and the header does not change what they may do. */
#define MS_VERSION "2021-08-06"
#define PIECE ((long long)8 << 20) /* bytes per ranged GET */
#define RESTARTS 3 /* downloads of one blob started over, at most */

struct cairn__cx_remote {
  cairn_http_transport *http;  /* borrowed */
  const char   *job;           /* borrowed: circuit key, work dir */
  char         *origin;        /* "https://account.blob.core.windows.net" */
  char         *folder;        /* "/container/dir/.../runid" */
  char         *container;     /* "/container" */
  char         *query;         /* "?sv=...&sig=..." or "" */
  char         *work;          /* <work_dir>: where blobs are downloaded */
  long long     piece;         /* bytes per ranged GET */
  struct cairn__hs_auth auth;
  struct cairn__hs_retry retry;
};

/* One GET (or the token POST) as cairn__hs_perform builds it. */
struct call {
  struct cairn__cx_remote *r;
  const char *method, *url, *body, *range;
  const char *if_match;        /* the ETag of the version being downloaded */
  char *auth_value;
  struct cairn_http_header hdr[5];
};

int cairn__cx_remote_check(const json_t *cfg, const char **ptr_out,
                           cairn_err *err)
{
  struct cairn__hs_auth a = {0};
  int rc = cairn__hs_auth_load(cfg, &a, ptr_out, err);
  cairn__hs_auth_clear(&a);
  return rc;
}

static int build(void *ud, struct cairn_http_req *req, cairn_err *err)
{
  struct call *c = ud;
  size_t n = 0;
  (void)err;
  c->hdr[n++] = (struct cairn_http_header){ "x-ms-version", MS_VERSION };
  if (c->range)
    c->hdr[n++] = (struct cairn_http_header){ "Range", (char *)c->range };
  if (c->if_match)
    c->hdr[n++] = (struct cairn_http_header){ "If-Match",
                                              (char *)c->if_match };
  if (c->auth_value)
    c->hdr[n++] = (struct cairn_http_header){ "Authorization",
                                              c->auth_value };
  if (c->body)
    c->hdr[n++] = (struct cairn_http_header){
        "Content-Type", "application/x-www-form-urlencoded" };
  memset(req, 0, sizeof *req);
  req->method = c->method;
  req->url = c->url;
  req->headers = c->hdr;
  req->n_headers = n;
  req->body = c->body;
  req->body_len = c->body ? strlen(c->body) : 0;
  req->low_speed_bytes = 1;  /* a stalled transfer: retried */
  req->low_speed_secs = 60;
  req->timeout_ms = 600000;
  req->max_body = c->range ? (size_t)c->r->piece + 4096 : 0; /* 0: 64 MiB */
  /* A blob's pieces are its stored bytes: a blob with a Content-Encoding
   * property (a .csv.gz uploaded with "gzip") would otherwise be decoded
   * piece by piece, and its Range offsets would no longer match. */
  req->raw_body = c->range != NULL;
  return CAIRN_OK;
}

static void logged(void *ud, const struct cairn_http_req *req, int rc,
                   const cairn_err *e, const struct cairn_http_resp *resp,
                   long attempt, double secs)
{
  const struct call *c = ud;
  char *url = cairn__hs_url_safe(req->url);
  if (rc == CAIRN_OK)
    cairn_info("%s %s%s%s -> %ld (attempt %ld, %.2f s)", req->method, url,
               c->range ? " " : "", c->range ? c->range : "", resp->status,
               attempt, secs);
  else
    cairn_info("%s %s -> %s (attempt %ld)", req->method, url, e->msg,
               attempt);
  free(url);
}

static int perform(struct cairn__cx_remote *r, struct call *c,
                   struct cairn_http_resp *resp, cairn_err *err);

static int token_post(void *ud, const char *url, const char *form,
                      struct cairn_http_resp *resp, cairn_err *err)
{
  struct call c = { .r = ud, .method = "POST", .url = url, .body = form };
  return perform(ud, &c, resp, err);
}

static int refresh(void *ud, cairn_err *err)
{
  struct call *c = ud;
  return cairn__hs_auth_renew(&c->r->auth, token_post, c->r, &c->auth_value,
                              err);
}

static int perform(struct cairn__cx_remote *r, struct call *c,
                   struct cairn_http_resp *resp, cairn_err *err)
{
  struct cairn__hs_call hc = { build, refresh, logged, c, 0 };
  cairn_http_resp_free(resp);
  if (!c->body && !c->auth_value) /* not the token request itself */
    CAIRN_TRY(cairn__hs_auth_value(&r->auth, token_post, r, &c->auth_value,
                                   err));
  return cairn__hs_perform(r->http, &r->retry, r->job, &hc, resp, err);
}

/* GET origin + path + query, with range and if_match (NULL: none). */
static int get(struct cairn__cx_remote *r, const char *path,
               const char *range, const char *if_match,
               struct cairn_http_resp *resp, cairn_err *err)
{
  char *url = cairn_strfmt("%s%s%s", r->origin, path, r->query);
  struct call c = { .r = r, .method = "GET", .url = url, .range = range,
                    .if_match = if_match };
  int rc = perform(r, &c, resp, err);
  free(c.auth_value);
  free(url);
  return rc;
}

static int http_fail(const struct cairn__cx_remote *r, const char *path,
                     const struct cairn_http_resp *resp, cairn_err *err)
{
  const char *code = cairn_http_resp_header(resp, "x-ms-error-code");
  return CAIRN_RAISE(err, CAIRN_EHTTP, 0, "%s%s: HTTP %ld %s%s%s%s",
                     r->origin, path, resp->status,
                     cairn_http_reason(resp->status), code ? " (" : "",
                     code ? code : "", code ? ")" : "");
}

int cairn__cx_remote_open(const struct cairn_source_ctx *ctx, const char *url,
                          struct cairn__cx_remote **out, struct cairn_buf *text,
                          char **display, cairn_err *err)
{
  struct cairn__cx_remote *r = cairn_xcalloc(1, sizeof *r);
  struct cairn_http_resp resp = {0};
  const char *ptr = NULL, *host = strstr(url, "://") + 3;
  const char *sas = json_string_value(json_object_get(ctx->cfg, "sas"));
  const char *path = host + strcspn(host, "/?#");
  size_t plen = strcspn(path, "?#");
  char *mpath = NULL;
  int rc;

  *out = NULL;
  *display = NULL;
  r->http = ctx->http;
  r->job = ctx->job;
  r->retry = (struct cairn__hs_retry){ 8, 1000, 1000, 300000, 900000, 0, 5,
                                       60000 };
  r->origin = cairn_xstrndup(url, (size_t)(path - url));
  r->folder = cairn_xstrndup(path, plen);
  r->query = cairn_xstrdup(path[plen] == '?' ? path + plen : "");
  r->query[strcspn(r->query, "#")] = '\0';
  if (sas && *sas) {
    /* The SAS token from a secret: a URL on the command line (--param) is
     * there for every local user to read in /proc/PID/cmdline. */
    if (*r->query) {
      rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "the URL has a query and the "
                       "source a \"sas\" too: give the SAS token once");
      goto done;
    }
    free(r->query);
    r->query = cairn_strfmt("?%s", sas + (*sas == '?'));
  }
  while (*r->folder && r->folder[strlen(r->folder) - 1] == '/')
    r->folder[strlen(r->folder) - 1] = '\0';
  *display = cairn_strfmt("%s%s", r->origin, r->folder);
  if (!r->http) {
    rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s: no HTTP transport for a "
                     "URL path", *display);
    goto done;
  }
  if (!ctx->work_dir || r->folder[0] != '/' ||
      strchr(r->folder + 1, '/') == NULL) {
    rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s: a URL path must name a "
                     "container and the export run folder in it",
                     *display);
    goto done;
  }
  r->container = cairn_xstrndup(r->folder,
                                (size_t)(strchr(r->folder + 1, '/') -
                                         r->folder));
  r->work = cairn_xstrdup(ctx->work_dir);
  r->piece = PIECE;
  if (getenv("CAIRN_TEST_PIECE_BYTES")) /* tests: many pieces of a small blob */
    r->piece = atoll(getenv("CAIRN_TEST_PIECE_BYTES"));
  if (r->piece < 1)
    r->piece = PIECE;
  rc = cairn__hs_auth_load(ctx->cfg, &r->auth, &ptr, err);
  if (rc < 0)
    goto done;
  if (*r->query || r->auth.type != CAIRN__HS_AUTH_NONE) {
    struct cairn__hs_url u;
    if (cairn__hs_url_parse(url, &u) == 0 && !cairn__hs_url_creds_ok(&u)) {
      rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s is plain http: its SAS "
                       "token or credentials would cross the network in "
                       "clear text; use https (plain http is for this "
                       "machine only: localhost, 127.0.0.0/8, [::1])",
                       *display);
      goto done;
    }
  }

  /* The folder, or the manifest itself. */
  if (plen > 5 && strcmp(r->folder + strlen(r->folder) - 5, ".json") == 0) {
    mpath = cairn_xstrdup(r->folder);
    *strrchr(r->folder, '/') = '\0';
    rc = get(r, mpath, NULL, NULL, &resp, err);
  } else {
    mpath = cairn_strfmt("%s/manifest.json", r->folder);
    rc = get(r, mpath, NULL, NULL, &resp, err);
    if (rc == CAIRN_OK && resp.status == 404) {
      free(mpath);
      mpath = cairn_strfmt("%s/_manifest.json", r->folder);
      rc = get(r, mpath, NULL, NULL, &resp, err);
    }
  }
  if (rc < 0)
    goto done;
  if (resp.status == 404) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, ENOENT, "%s: no manifest.json (or "
                     "legacy _manifest.json): the export run is not complete, "
                     "or this is not an export run folder", *display);
    goto done;
  }
  if (resp.status != 200) {
    rc = http_fail(r, mpath, &resp, err);
    goto done;
  }
  free(*display);
  *display = cairn_strfmt("%s%s", r->origin, mpath);
  cairn_buf_reset(text);
  cairn_buf_append(text, resp.body.data, resp.body.len);
  *out = r;
  r = NULL;
done:
  cairn_http_resp_free(&resp);
  free(mpath);
  cairn__cx_remote_close(r);
  return rc;
}

/* "bytes FIRST-LAST/TOTAL", or "bytes * /TOTAL" (no space): TOTAL, and
 * FIRST (-1 for the second form). -1 when malformed. */
static long long content_range(const char *v, long long *first)
{
  long long a = -1, b = -1, total = -1;
  if (!v || strncmp(v, "bytes ", 6) != 0)
    return -1;
  v += 6;
  if (*v == '*') {
    if (sscanf(v, "*/%lld", &total) != 1)
      return -1;
  } else if (sscanf(v, "%lld-%lld/%lld", &a, &b, &total) != 3 || b < a) {
    return -1;
  }
  *first = a;
  return total;
}

/* The request path of blob name: the container, then each segment of the
 * name percent-encoded (a name may hold spaces or '#'). New string. */
static char *blob_path(const struct cairn__cx_remote *r, const char *name)
{
  struct cairn_buf b = {0};
  cairn_buf_puts(&b, r->container);
  while (*name == '/')
    name++;
  while (*name) {
    size_t n = strcspn(name, "/");
    char *seg = cairn_xstrndup(name, n);
    cairn_buf_putc(&b, '/');
    cairn__hs_url_encode(&b, seg);
    free(seg);
    name += n;
    name += *name == '/';
  }
  return cairn_buf_take(&b);
}

/* Keep only ident's downloads in the work dir: earlier exports' go. */
static void prune(const struct cairn__cx_remote *r, const char *ident)
{
  DIR *d = opendir(r->work);
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL) {
    char *p;
    if (e->d_name[0] == '.' || strcmp(e->d_name, ident) == 0)
      continue;
    p = cairn_path_join(r->work, e->d_name);
    cairn_fs_remove_tree(p, NULL);
    free(p);
  }
  if (d)
    closedir(d);
}

/* Where blob number i named name of export ident is downloaded to. New
 * string. */
static char *blob_file(const struct cairn__cx_remote *r, const char *ident,
                       size_t i, const char *name)
{
  const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
  return cairn_strfmt("%s/%s/%zu-%s", r->work, ident, i, base);
}

void cairn__cx_remote_drop(const struct cairn__cx_remote *r,
                           const char *ident, size_t i, const char *name)
{
  static const char *const ext[] = { "", ".part", ".etag" };
  char *p;

  if (!name) { /* the export's whole folder */
    p = cairn_path_join(r->work, ident);
    cairn_fs_remove_tree(p, NULL);
    free(p);
    return;
  }
  p = blob_file(r, ident, i, name);
  for (size_t k = 0; k < sizeof ext / sizeof *ext; k++) {
    char *f = cairn_strfmt("%s%s", p, ext[k]);
    unlink(f);
    free(f);
  }
  free(p);
}

/* The ETag of the version of a blob its .part holds, from etag_path (the
 * file beside it; NULL when there is none). New string. */
static char *etag_load(const char *etag_path)
{
  struct cairn_buf b = {0};
  if (!cairn_fs_exists(etag_path) ||
      cairn_fs_read_all(etag_path, &b, NULL) < 0 || !b.len) {
    cairn_buf_free(&b);
    return NULL;
  }
  return cairn_buf_take(&b);
}

/* Download blob i in pieces into <file>.part, then rename it to file.
 *
 * The first answer's ETag is kept beside the .part (<file>.etag) and sent
 * as If-Match with every later piece, in this run or in the run that
 * continues the download after a kill: a blob replaced in between is
 * answered 412 instead of being spliced from two versions. A 412, another
 * ETag, another total in Content-Range, or a 416 below what the .part
 * holds all mean the blob changed: its download starts over (a warning
 * says why), at most RESTARTS times, so that the file is one version of
 * the blob, as it is when the change came before the first piece. */
int cairn__cx_remote_blob(struct cairn__cx_remote *r, const char *ident,
                          size_t i, const char *name, char **path_out,
                          cairn_err *err)
{
  struct cairn_http_resp resp = {0};
  char *dir = cairn_path_join(r->work, ident);
  char *file = blob_file(r, ident, i, name);
  char *part = cairn_strfmt("%s.part", file);
  char *etag_path = cairn_strfmt("%s.etag", file);
  char *path = blob_path(r, name);
  char *shown = cairn_strfmt("%s%s", r->origin, path); /* for messages */
  char *etag = NULL;
  long long off = 0, total = -1;
  struct stat st;
  int fd = -1, restarts = 0, rc = CAIRN_OK;

  *path_out = NULL;
  if (stat(file, &st) == 0)
    goto done; /* downloaded before */
  prune(r, ident);
  rc = cairn_fs_mkdirs_private(dir, err);
  if (rc < 0)
    goto done;
  fd = open(part, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || fstat(fd, &st) < 0) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: %s", part, strerror(errno));
    goto done;
  }
  off = st.st_size; /* a download a kill interrupted goes on from here */
  if (off) {
    etag = etag_load(etag_path);
    cairn_info("blob \"%s\": continuing its download at byte %lld%s%s",
               name, off, etag ? ", If-Match " : "", etag ? etag : "");
  }
  while (total < 0 || off < total) {
    char range[64];
    const char *why = NULL, *tag;
    long long first = -1, t = -1;
    snprintf(range, sizeof range, "bytes=%lld-%lld", off,
             off + r->piece - 1);
    rc = get(r, path, range, off ? etag : NULL, &resp, err);
    if (rc == CAIRN_EHTTP && cairn_http_too_big(err)) {
      /* Only an answer that is not the piece asked for can be larger. */
      cairn_err_clear(err);
      rc = CAIRN_RAISE(err, CAIRN_EHTTP, 0, "%s: the server ignored the "
                       "Range request (%s) and sent more than a piece: "
                       "the whole blob, larger than the %lld bytes a blob "
                       "may have to be taken whole from such a server; a "
                       "rerun fails the same way (serve the export from "
                       "storage that honours Range, as Azure Storage does)",
                       shown, range, r->piece);
    }
    if (rc < 0)
      goto done;
    tag = cairn_http_resp_header(&resp, "ETag");
    if (resp.status == 206 || resp.status == 416)
      t = content_range(cairn_http_resp_header(&resp, "Content-Range"),
                        &first);
    if (resp.status == 412 && off && etag)
      why = "HTTP 412: its ETag is no longer the one of the bytes we have";
    else if (resp.status == 206 && etag && off && tag && strcmp(tag, etag))
      why = "another ETag";
    else if (resp.status == 206 && total >= 0 && t >= 0 && t != total)
      why = "another size in Content-Range";
    else if (resp.status == 416 && t != off && off > 0)
      why = "HTTP 416: its size is not the bytes we have";
    if (why) {
      if (++restarts > RESTARTS) {
        rc = CAIRN_RAISE(err, CAIRN_EHTTP, 0, "%s: the blob changed on the "
                         "server %d times while it was downloaded (%s); "
                         "run again when the export is no longer being "
                         "written", shown, restarts, why);
        goto done;
      }
      cairn_warn("blob \"%s\" changed on the server while it was "
                 "downloaded (%s): starting its download over", name, why);
      free(etag);
      etag = NULL;
      unlink(etag_path);
      off = 0;
      total = -1;
      continue;
    }
    if (resp.status == 416 && t == off) {
      break; /* asked past the end: we have it all (or it is empty) */
    } else if (resp.status == 200) {
      off = 0; /* the whole blob (a server that ignores Range) */
      total = (long long)resp.body.len;
    } else if (resp.status == 206) {
      if (t < 0 || first != off) {
        rc = CAIRN_RAISE(err, CAIRN_EHTTP, 0, "%s: HTTP 206 without the "
                         "Content-Range asked for (%s)", shown, range);
        goto done;
      }
      total = t;
      if (!etag && tag) {
        /* Before the piece reaches the .part: a continued download must
         * never send an ETag newer than its bytes. (A .part without one,
         * left by an earlier version, is trusted up to here, as before.) */
        etag = cairn_xstrdup(tag);
        rc = cairn_fs_write_atomic(etag_path, etag, strlen(etag), err);
        if (rc < 0)
          goto done;
      }
    } else {
      rc = http_fail(r, path, &resp, err);
      goto done;
    }
    if (ftruncate(fd, off) < 0 || lseek(fd, off, SEEK_SET) < 0) {
      rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: %s", part, strerror(errno));
      goto done;
    }
    /* Short writes retried: a full disk (or a file size limit) first
     * writes what fits, leaving errno as it was; the next write says
     * why (ENOSPC). */
    rc = cairn_fs_write_all(fd, resp.body.data, resp.body.len, part, err);
    if (rc < 0)
      goto done;
    off += (long long)resp.body.len;
    if (resp.status == 206 && resp.body.len == 0 && off < total) {
      rc = CAIRN_RAISE(err, CAIRN_EHTTP, 0, "%s: empty piece at byte %lld",
                       shown, off);
      goto done;
    }
  }
  if (ftruncate(fd, off) < 0 || fsync(fd) < 0 || rename(part, file) < 0) {
    rc = CAIRN_RAISE(err, CAIRN_EIO, errno, "%s: %s", file, strerror(errno));
    goto done;
  }
  unlink(etag_path);
  cairn_info("blob \"%s\": downloaded %lld bytes from %s", name, off, shown);
done:
  if (fd >= 0)
    close(fd);
  cairn_http_resp_free(&resp);
  if (rc == CAIRN_OK) {
    *path_out = file;
    file = NULL;
  }
  free(etag);
  free(file);
  free(part);
  free(etag_path);
  free(path);
  free(shown);
  free(dir);
  return rc;
}

void cairn__cx_remote_close(struct cairn__cx_remote *r)
{
  if (!r)
    return;
  cairn__hs_auth_clear(&r->auth);
  free(r->origin);
  free(r->folder);
  free(r->container);
  free(r->query);
  free(r->work);
  free(r);
}
