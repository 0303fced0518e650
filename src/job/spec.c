/* SPDX-License-Identifier: MIT */
/* spec.c -- job and sink files: parse, validate against the JSON Schemas,
 * expand variables, resolve sinks and the contract. Every problem becomes a
 * "file:line:col: /pointer: message" diagnostic; nothing runs on error. */
#include "job/spec.h"
#include "core/codec.h"
#include "core/clock.h"
#include "core/fsx.h"
#include "core/hash.h"
#include "core/jschema.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/mem.h"
#include "transform/transform.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CAIRN_DATADIR
#define CAIRN_DATADIR "/usr/local/share/cairn"
#endif

void cairn_diag_free(struct cairn_diag *d)
{
  cairn_buf_free(&d->text);
  d->n = 0;
}

/* One loaded JSON file with its text, for positions. */
struct src_file {
  const char      *path;
  struct cairn_buf text;
  json_t          *doc;
};

static void diag_at(struct cairn_diag *d, const struct src_file *f,
                    const char *ptr, int want_key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* One diagnostic that carries its own position (a parse error's
 * "path:line:col: ...") or has none to give (an I/O error, --param). */
static void diag_text(struct cairn_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void diag_text(struct cairn_diag *d, const char *fmt, ...)
{
  va_list ap;
  char *line;
  va_start(ap, fmt);
  line = cairn_vonelinef(fmt, ap);
  va_end(ap);
  cairn_buf_puts(&d->text, line);
  cairn_buf_putc(&d->text, '\n');
  d->n++;
  free(line);
}

static void diag_at(struct cairn_diag *d, const struct src_file *f,
                    const char *ptr, int want_key, const char *fmt, ...)
{
  va_list ap;
  char *msg;
  int line = 1, col = 1;

  va_start(ap, fmt);
  msg = cairn_vstrfmt(fmt, ap);
  va_end(ap);
  if (f->text.data)
    cairn_json_locate(f->text.data, ptr, want_key, &line, &col);
  cairn_log_mask(msg);
  cairn_buf_printf(&d->text, "%s:%d:%d: ", f->path, line, col);
  cairn_put_oneline(&d->text, ptr);
  cairn_buf_puts(&d->text, *ptr ? ": " : "");
  cairn_put_oneline(&d->text, msg);
  cairn_buf_putc(&d->text, '\n');
  d->n++;
  free(msg);
}

static int load_src(struct src_file *f, const char *path, struct cairn_diag *d)
{
  cairn_err e = {0};
  memset(f, 0, sizeof *f);
  f->path = path;
  if (cairn_json_load_file(path, &f->doc, &f->text, &e) < 0) {
    /* Parse errors already read "path:line:col: msg"; I/O errors name
     * the path too. */
    diag_text(d, "%s", e.msg);
    return CAIRN_EUSAGE;
  }
  if (!json_is_object(f->doc)) {
    diag_at(d, f, "", 0, "expected a JSON object");
    return CAIRN_EUSAGE;
  }
  return CAIRN_OK;
}

static void src_free(struct src_file *f)
{
  cairn_buf_free(&f->text);
  json_decref(f->doc);
  f->doc = NULL;
}

char *cairn_schemas_dir(const char *override)
{
  const char *env = getenv("CAIRN_SCHEMAS");
  char exe[4096];
  ssize_t n;

  if (override)
    return cairn_xstrdup(override);
  if (env && *env)
    return cairn_xstrdup(env);
  if (cairn_fs_exists("schemas/job.schema.json"))
    return cairn_xstrdup("schemas");
  /* Installed: <prefix>/bin/cairn next to <prefix>/share/cairn/schemas;
   * built, not installed: <tree>/bin/cairn next to <tree>/schemas. */
  n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    static const char *const beside[] = {"../share/cairn/schemas",
                                         "../schemas"};
    char *slash = (exe[n] = '\0', strrchr(exe, '/'));
    for (size_t i = 0; slash && i < sizeof beside / sizeof *beside; i++) {
      char *dir = cairn_strfmt("%.*s/%s", (int)(slash - exe), exe, beside[i]);
      char *probe = cairn_strfmt("%s/job.schema.json", dir);
      int found = cairn_fs_exists(probe);
      free(probe);
      if (found)
        return dir;
      free(dir);
    }
  }
  return cairn_xstrdup(CAIRN_DATADIR "/schemas");
}

/* ---- schema validation --------------------------------------------------- */

struct vctx {
  struct cairn_diag     *d;
  const struct src_file *f;
  const char            *prefix;  /* pointer prefix of the validated part */
};

static void on_schema_error(void *ud, const char *ptr, const char *msg)
{
  struct vctx *v = ud;
  char *full = cairn_strfmt("%s%s", v->prefix, ptr);
  diag_at(v->d, v->f, full, strncmp(msg, "unknown key", 11) == 0, "%s", msg);
  free(full);
}

/* Validate inst against schema doc (or against doc's $defs/<def> when def
 * is given); diagnostics point into f with prefix. Returns #errors, or -1
 * when the schema itself cannot be used. */
static int validate_part(json_t *schema_doc, const char *def,
                         const json_t *inst, const struct src_file *f,
                         const char *prefix, struct cairn_diag *d)
{
  cairn_schema *s = NULL;
  cairn_err e = {0};
  json_t *wrapper = NULL;
  struct vctx v = { d, f, prefix };
  int n;

  if (def) {
    char *ref = cairn_strfmt("#/$defs/%s", def);
    wrapper = json_pack("{s:O,s:s}", "$defs",
                        json_object_get(schema_doc, "$defs"), "$ref", ref);
    free(ref);
    schema_doc = wrapper;
  }
  if (cairn_schema_compile(schema_doc, &s, &e) < 0) {
    diag_text(d, "schema: %s", e.msg);
    json_decref(wrapper);
    return -1;
  }
  n = cairn_schema_validate(s, inst, on_schema_error, &v, 50);
  cairn_schema_free(s);
  json_decref(wrapper);
  return n;
}

static json_t *load_schema(const char *dir, const char *file,
                           struct cairn_diag *d)
{
  char *path = cairn_path_join(dir, file);
  cairn_err e = {0};
  json_t *doc = NULL;
  if (cairn_json_load_file(path, &doc, NULL, &e) < 0) {
    diag_text(d, "%s (set CAIRN_SCHEMAS to the schemas directory)", e.msg);
  }
  free(path);
  return doc;
}

/* ---- variables -------------------------------------------------------------- */

/* Defaults may nest (${param:a:-${param:b:-x}}) this many levels deep. */
#define CAIRN_VAR_DEPTH_MAX 16

/* A parameter, environment variable or secret the job lacks: said once,
 * at its first reference, with where else the job uses it, after the
 * whole job was read, so that one refusal names all there are. */
struct lack {
  char            *key;     /* "param:NAME", "env:NAME", "secret:NAME" */
  char            *ptr;     /* the first reference */
  char            *last;    /* the latest one */
  char            *msg;
  char            *listed;  /* a dry run's secret: NULL, or what it lists
                               ("secret NAME is not set") */
  struct cairn_buf also;    /* "line:col, ..." of the later references */
};

struct xctx {
  json_t               *params;   /* {"K": "V"} from --param */
  json_t               *used;     /* params used, for the run record */
  json_t               *secrets;  /* {"NAME": value} */
  int                   has_window;
  int                   secrets_optional; /* validate: check, don't run */
  int                   list_secrets; /* run --dry-run: list, don't fail */
  struct lack          *lacks;
  size_t                n_lacks, n_unlisted;
  const json_t         *declared;  /* the job's "params" declarations */
  struct cairn_diag    *d;
  const struct src_file *f;
  /* Per string: */
  int                   templ;     /* a window template: '$' doubled,
                                      ${window.*} kept for the run */
  int                   map_templ; /* a mapping "template" argument: '$'
                                      doubled in the values brought in */
  int                   n_window;  /* ${window.*} references kept */
  int                   n_secret;  /* secrets read */
};

/* A secret name becomes a file name under $CREDENTIALS_DIRECTORY: no
 * path separators, no "." or "..", not empty. */
static int secret_name_ok(const char *name)
{
  return *name && !strchr(name, '/') && strcmp(name, ".") != 0 &&
         strcmp(name, "..") != 0;
}

/* A secret's value, registered for masking. cairn_log_add_secret does not
 * mask one shorter than 4 bytes (it would mask ordinary words): say so, or
 * such a secret shows wherever its value does. */
static void add_secret(const char *name, const char *value)
{
  size_t n = strlen(value);
  if (n > 0 && n < 4)
    cairn_warn("secret \"%s\" is %zu character%s long: too short to be "
               "masked in logs, recordings and state (4 or more are)", name,
               n, n == 1 ? "" : "s");
  cairn_log_add_secret(value);
}

int cairn_secret_find(const char *name, char **value, cairn_err *err)
{
  const char *dir = getenv("CREDENTIALS_DIRECTORY");
  struct cairn_buf b = {0};
  cairn_err rerr = {0};
  char *envname, *path;
  const char *v;
  int cause = 0;

  if (value)
    *value = NULL;
  if (!secret_name_ok(name))
    return 0;
  envname = cairn_strfmt("CAIRN_SECRET_%s", name);
  v = getenv(envname);
  free(envname);
  if (v) {
    if (value)
      *value = cairn_xstrdup(v);
    return 1;
  }
  if (!dir || !*dir)
    return 0;
  path = cairn_path_join(dir, name);
  if (value) {
    if (cairn_fs_read_all(path, &b, &rerr) == 0) {
      while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
        b.data[--b.len] = '\0';
      *value = cairn_buf_take(&b);
    } else {
      /* rerr.msg names the path already, after "read " when the open
       * worked but the read did not (a directory): said once. */
      cause = rerr.cause ? rerr.cause : EIO;
    }
  } else {
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    cause = fd < 0                ? errno
            : fstat(fd, &st) < 0  ? errno
            : S_ISDIR(st.st_mode) ? EISDIR
                                  : 0;
    if (fd >= 0)
      close(fd);
  }
  if (cause && cause != ENOENT)
    CAIRN_RAISE(err, CAIRN_EIO, cause, "secret \"%s\": cannot read %s: %s",
                name, path, rerr.code && !rerr.cause ? rerr.msg
                                                     : strerror(cause));
  cairn_buf_free(&b);
  free(path);
  return !cause ? 1 : cause == ENOENT ? 0 : -1;
}

static void lack_at(struct xctx *x, const char *ptr, const char *kind,
                    const char *name, char *listed, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* The job lacks kind:name, referenced at ptr; fmt says so. listed
 * (taken): NULL, or, for a dry run, what it lists instead of refusing. A
 * later reference of the same one adds its position to the first's. */
static void lack_at(struct xctx *x, const char *ptr, const char *kind,
                    const char *name, char *listed, const char *fmt, ...)
{
  char *key = cairn_strfmt("%s:%s", kind, name);
  struct lack *l = NULL;
  va_list ap;

  for (size_t i = 0; i < x->n_lacks && !l; i++)
    if (strcmp(x->lacks[i].key, key) == 0)
      l = &x->lacks[i];
  if (l) {
    int line = 1, col = 1;
    if (strcmp(ptr, l->last) != 0) {
      if (x->f->text.data)
        cairn_json_locate(x->f->text.data, ptr, 0, &line, &col);
      cairn_buf_printf(&l->also, "%s%d:%d", l->also.len ? ", " : "", line,
                       col);
      free(l->last);
      l->last = cairn_xstrdup(ptr);
    }
    free(key);
    free(listed);
    return;
  }
  x->lacks = cairn_xrealloc(x->lacks, (x->n_lacks + 1) * sizeof *x->lacks);
  l = &x->lacks[x->n_lacks++];
  memset(l, 0, sizeof *l);
  l->key = key;
  l->ptr = cairn_xstrdup(ptr);
  l->last = cairn_xstrdup(ptr);
  va_start(ap, fmt);
  l->msg = cairn_vstrfmt(fmt, ap);
  va_end(ap);
  l->listed = listed;
  x->n_unlisted += !listed;
}

/* The job lacks the secret name at ptr: it is not set (e NULL), or it is
 * there but cannot be read (e says why). sink: NULL, or the sink that
 * cannot open without it. A dry run lists it: the run would stop. */
static void lack_secret(struct xctx *x, const char *ptr, const char *name,
                        const cairn_err *e, const char *sink)
{
  char *what = e                 ? cairn_xstrdup(e->msg)
               : x->list_secrets ? cairn_strfmt("secret \"%s\" is not set",
                                                name)
                                 : cairn_strfmt("undefined secret \"%s\"",
                                                name);
  char *how = e ? cairn_xstrdup("it must be readable by the user cairn "
                                "runs as")
                : cairn_strfmt("set CAIRN_SECRET_%s or put it in "
                               "$CREDENTIALS_DIRECTORY/%s", name, name);
  char *listed = x->list_secrets
                     ? cairn_strfmt("secret %s %s", name,
                                    e ? "cannot be read" : "is not set")
                     : NULL;

  lack_at(x, ptr, "secret", name, listed, "%s%s (%s%s%s%s)", what,
          listed ? ": a real run would stop here (exit 2)" : "",
          sink ? "sink \"" : "", sink ? sink : "",
          sink ? "\" needs it; " : "", how);
  free(what);
  free(how);
}

/* validate checks a job where it does not run: a secret it lacks (as
 * lack_secret) is noted on stderr, not a problem. */
static void note_secret(const struct xctx *x, const char *ptr,
                        const char *name, const cairn_err *e,
                        const char *sink)
{
  if (e)
    fprintf(stderr, "%s: note: %s: %s", x->f->path, ptr, e->msg);
  else
    fprintf(stderr, "%s: note: %s: secret \"%s\" is not set here "
            "(CAIRN_SECRET_%s or $CREDENTIALS_DIRECTORY/%s)", x->f->path,
            ptr, name, name, name);
  fprintf(stderr, "%s%s%s\n", sink ? " (sink \"" : "", sink ? sink : "",
          sink ? "\" needs it)" : "");
}

/* Say each lack once, with where else the job uses it: a problem in d,
 * or a dry run's listed secret, a line of listed and an entry of names. */
static void lacks_flush(struct xctx *x, struct cairn_diag *d,
                        struct cairn_diag *listed, json_t *names)
{
  for (size_t i = 0; i < x->n_lacks; i++) {
    struct lack *l = &x->lacks[i];
    diag_at(l->listed ? listed : d, x->f, l->ptr, 0, "%s%s%s%s", l->msg,
            l->also.len ? " (also used at " : "",
            l->also.len ? l->also.data : "", l->also.len ? ")" : "");
    if (l->listed)
      json_array_append_new(names, json_string(l->listed));
    free(l->key);
    free(l->ptr);
    free(l->last);
    free(l->msg);
    free(l->listed);
    cairn_buf_free(&l->also);
  }
  free(x->lacks);
  x->lacks = NULL;
  x->n_lacks = x->n_unlisted = 0;
}

/* The '}' closing the "${" at open, skipping nested ${...}, before end;
 * NULL if none. */
static const char *match_brace(const char *open, const char *end)
{
  int depth = 0;
  for (const char *q = open; q < end; q++) {
    if (q + 1 < end && q[0] == '$' && q[1] == '{') {
      depth++;
      q++;
    } else if (*q == '}' && --depth == 0) {
      return q;
    }
  }
  return NULL;
}

static const char *find_in(const char *s, const char *end, const char *pat)
{
  size_t n = strlen(pat);
  for (const char *q = s; q + n <= end; q++)
    if (memcmp(q, pat, n) == 0)
      return q;
  return NULL;
}

/* Where ${window.*} is expanded: under "source", except its settings that
 * hold for the whole run (the runner reads them once, not per window). */
static const char *const run_wide[] = {"tls", "redact",
                                       "correlation_header"};

/* Is the source member named by key[0..n) one of run_wide? */
static int is_run_wide(const char *key, size_t n)
{
  for (size_t i = 0; i < sizeof run_wide / sizeof *run_wide; i++)
    if (strlen(run_wide[i]) == n && strncmp(key, run_wide[i], n) == 0)
      return 1;
  return 0;
}

static int window_path(const char *ptr)
{
  if (strncmp(ptr, "/source/", 8) != 0)
    return 0;
  return !is_run_wide(ptr + 8, strcspn(ptr + 8, "/"));
}

/* Text into the expansion: in a window template every '$' is doubled, so
 * the run's window pass never reads substituted text as a variable. */
static void put_text(const struct xctx *x, struct cairn_buf *out,
                     const char *s, size_t n)
{
  if (!x->templ) {
    cairn_buf_append(out, s, n);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '$')
      cairn_buf_putc(out, '$');
    cairn_buf_putc(out, s[i]);
  }
}

/* A value a variable brings in (a --param, an environment variable, a
 * secret). In a mapping "template" argument, where "$$" is '$' and ${ref}
 * reads the record, its '$' are doubled: the value is text, never
 * template syntax. */
static void put_value(const struct xctx *x, struct cairn_buf *out,
                      const char *s, size_t n)
{
  if (!x->map_templ) {
    put_text(x, out, s, n);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '$')
      cairn_buf_putc(out, '$');
    cairn_buf_putc(out, s[i]);
  }
}

/* Is ptr the argument of a mapping "template" function
 * (/transform/fields/NAME/fn/N/template)? */
static int map_template_path(const char *ptr)
{
  size_t n = strlen(ptr), k;
  const char *suffix = "/template";

  if (strncmp(ptr, "/transform/fields/", 18) != 0 || n < 9 ||
      strcmp(ptr + n - 9, suffix) != 0)
    return 0;
  k = n - 9;
  while (k > 0 && ptr[k - 1] >= '0' && ptr[k - 1] <= '9')
    k--;
  return k >= 4 && k < n - 9 && strncmp(ptr + k - 4, "/fn/", 4) == 0;
}

/* Which ${window.*} variable the name [s, s + n) is: 0 start, 1 end,
 * 2 last; -1 none. */
static int window_ref(const char *s, size_t n)
{
  static const char *const names[] = { "window.start", "window.end",
                                       "window.last" };
  for (int i = 0; i < 3; i++)
    if (strlen(names[i]) == n && memcmp(s, names[i], n) == 0)
      return i;
  return -1;
}

/* The window pass over a template (see cairn_expand_window): "$$" is '$',
 * ${window.start|end|last} the window's bounds (kept as written when w is
 * NULL), anything else itself. */
static char *window_pass(const char *s, const struct cairn_window *w)
{
  struct cairn_buf out = {0};

  cairn_buf_puts(&out, "");
  for (const char *p = s; *p;) {
    const char *close = w && p[0] == '$' && p[1] == '{' ? strchr(p, '}')
                                                       : NULL;
    int i = close ? window_ref(p + 2, (size_t)(close - p - 2)) : -1;
    if (p[0] == '$' && p[1] == '$') {
      cairn_buf_putc(&out, '$');
      p += 2;
      continue;
    }
    if (i >= 0) {
      if (i == 2) {
        /* the window's last second, for APIs whose end is inclusive */
        int64_t t = 0;
        char last[32];
        cairn_clock_parse(w->end, &t);
        cairn_clock_fmt(t - 1, last, sizeof last);
        cairn_buf_puts(&out, last);
      } else {
        cairn_buf_puts(&out, i == 0 ? w->start : w->end);
      }
      p = close + 1;
      continue;
    }
    cairn_buf_putc(&out, *p++);
  }
  return cairn_buf_take(&out);
}

static int expand_span(struct xctx *x, const char *s, const char *end,
                       const char *whole, const char *ptr, int depth,
                       struct cairn_buf *out);

/* Expand a default [s, end) into a new string (in the string's mode). */
static char *expand_default(struct xctx *x, const char *s, const char *end,
                            const char *whole, const char *ptr, int depth)
{
  struct cairn_buf b = {0};
  if (depth >= CAIRN_VAR_DEPTH_MAX) {
    diag_at(x->d, x->f, ptr, 0, "variable defaults nested more than %d "
            "levels deep", CAIRN_VAR_DEPTH_MAX);
    return NULL;
  }
  cairn_buf_puts(&b, "");
  if (expand_span(x, s, end, whole, ptr, depth + 1, &b) != 0) {
    cairn_buf_free(&b);
    return NULL;
  }
  return cairn_buf_take(&b);
}

/* The default as the value it stands for (templates unescaped). */
static char *plain_of(const struct xctx *x, const char *s)
{
  return x->templ ? window_pass(s, NULL) : cairn_xstrdup(s);
}

/* One ${...} reference [open, close]: its value goes to out. */
static int expand_ref(struct xctx *x, const char *open, const char *close,
                      const char *whole, const char *ptr, int depth,
                      struct cairn_buf *out)
{
  const char *rs = open + 2, *colon, *dd, *ds = NULL;
  size_t rlen = (size_t)(close - rs);
  int shown = rlen > 200 ? 200 : (int)rlen;
  char *kind = NULL, *name = NULL, *dflt = NULL, *owned = NULL;
  cairn_err serr = {0};
  int rc = -1, found;

  if (window_ref(rs, rlen) >= 0) {
    if (!x->has_window) {
      diag_at(x->d, x->f, ptr, 0, "${%.*s} used but the job has no \"window\"",
              (int)rlen, rs);
      return -1;
    }
    if (!window_path(ptr)) {
      diag_at(x->d, x->f, ptr, 0,
              "${%.*s} is only expanded under \"source\" (not in its tls, "
              "redact or correlation_header, which hold for the whole run)",
              (int)rlen, rs);
      return -1;
    }
    /* kept for the run, which expands it per window */
    cairn_buf_append(out, open, (size_t)(close - open + 1));
    x->n_window++;
    return 0;
  }
  colon = memchr(rs, ':', rlen);
  if (!colon && strncmp(ptr, "/transform/", 11) == 0) {
    /* ${field} in a mapping "template" names a record field: the
     * transform expands it per record. */
    put_text(x, out, open, (size_t)(close - open + 1));
    return 0;
  }
  if (!colon) {
    diag_at(x->d, x->f, ptr, 0, "unknown variable ${%.*s} (use param:, env:, "
            "secret:, window.start, window.end or window.last)", shown, rs);
    return -1;
  }
  dd = find_in(colon + 1, close, ":-");
  if (dd)
    ds = dd + 2;
  kind = cairn_xstrndup(rs, (size_t)(colon - rs));
  name = cairn_xstrndup(colon + 1, (size_t)((dd ? dd : close) - colon - 1));
  /* A default may itself use variables
   * (${param:token_url:-${param:login}/${param:tenant_id}/...}); it is
   * expanded only when the variable is unset. */
  if (strcmp(kind, "param") == 0) {
    const char *given = json_string_value(json_object_get(x->params, name));
    const json_t *decl = json_object_get(x->declared, name);
    if (given) {
      put_value(x, out, given, strlen(given));
      json_object_set_new(x->used, name, json_string(given));
    } else if (ds) {
      int n_secret = x->n_secret;
      char *plain;
      dflt = expand_default(x, ds, close, whole, ptr, depth);
      if (!dflt)
        goto done;
      cairn_buf_puts(out, dflt);
      /* The run record keeps what the parameter was, but never a secret
       * its default read. */
      plain = plain_of(x, dflt);
      json_object_set_new(x->used, name, json_string(
                              x->n_secret > n_secret ? "***" : plain));
      free(plain);
    } else if (decl) {
      const char *ex = json_string_value(json_object_get(decl, "example"));
      if (!x->secrets_optional) {
        lack_at(x, ptr, "param", name, NULL, "parameter \"%s\" is required: "
                "%s (pass --param %s=VALUE%s%s)", name,
                json_string_value(json_object_get(decl, "description")),
                name, ex ? ", e.g. " : "", ex ? ex : "");
        goto done;
      }
      /* validate: check the job as it would run with the example (the
       * schema requires one). */
      put_value(x, out, ex ? ex : "", ex ? strlen(ex) : 0);
      json_object_set_new(x->used, name, json_string(ex ? ex : ""));
    } else {
      lack_at(x, ptr, "param", name, NULL, "undefined parameter \"%s\" (pass "
              "--param %s=VALUE)", name, name);
      goto done;
    }
  } else if (strcmp(kind, "env") == 0) {
    const char *val = getenv(name);
    if (val) {
      put_value(x, out, val, strlen(val));
    } else if (ds) {
      dflt = expand_default(x, ds, close, whole, ptr, depth);
      if (!dflt)
        goto done;
      cairn_buf_puts(out, dflt);
    } else {
      lack_at(x, ptr, "env", name, NULL, "undefined environment variable "
              "\"%s\"", name);
      goto done;
    }
  } else if (strcmp(kind, "secret") == 0) {
    if (!secret_name_ok(name)) {
      diag_at(x->d, x->f, ptr, 0, "secret name \"%s\" is not a file name "
              "(no '/', not \".\" or \"..\", not empty)", name);
      goto done;
    }
    found = cairn_secret_find(name, &owned, &serr);
    if (!found && ds) {
      dflt = expand_default(x, ds, close, whole, ptr, depth);
      if (!dflt)
        goto done;
      owned = plain_of(x, dflt);
    }
    if (!owned) {
      /* not set (found 0, no default) or unreadable (found < 0, serr) */
      if (x->secrets_optional) {
        note_secret(x, ptr, name, found < 0 ? &serr : NULL, NULL);
      } else {
        lack_secret(x, ptr, name, found < 0 ? &serr : NULL, NULL);
        if (!x->list_secrets)
          goto done;
      }
      /* validate, or a dry run: go on with a stand-in that passes format
       * checks (64 hex digits), never taken for the secret. */
      owned = cairn_strfmt("%064d", 0);
    } else {
      add_secret(name, owned);
      if (found > 0 || !x->secrets_optional)
        json_object_set_new(x->secrets, name, json_string(owned));
    }
    x->n_secret++;
    if (dflt && x->map_templ) /* its values are escaped already */
      cairn_buf_puts(out, dflt);
    else
      put_value(x, out, owned, strlen(owned));
  } else {
    diag_at(x->d, x->f, ptr, 0, "unknown variable kind \"%s\" in ${%.*s}",
            kind, shown, rs);
    goto done;
  }
  rc = 0;
done:
  free(kind);
  free(name);
  free(dflt);
  free(owned);
  return rc;
}

/* Expand [s, end) of the string whole into out: 0, or -1 after a
 * diagnostic. A reference that fails does not stop the references after
 * it from being looked at: a refusal names every one the job lacks. */
static int expand_span(struct xctx *x, const char *s, const char *end,
                       const char *whole, const char *ptr, int depth,
                       struct cairn_buf *out)
{
  const char *p = s;
  int rc = 0;

  while (p < end) {
    const char *open = find_in(p, end, "${"), *close;
    if (!open) {
      put_text(x, out, p, (size_t)(end - p));
      break;
    }
    put_text(x, out, p, (size_t)(open - p));
    close = match_brace(open, end);
    if (!close) {
      diag_at(x->d, x->f, ptr, 0, "unterminated ${ in \"%.200s\"", whole);
      return -1;
    }
    if (expand_ref(x, open, close, whole, ptr, depth, out) != 0)
      rc = -1;
    p = close + 1;
  }
  return rc;
}

/* Expand one string. Returns a new string, or NULL after a diagnostic. In
 * a windowed job's source, a string that keeps ${window.*} references (or
 * that the window pass would change) is stored as a template. */
static char *expand_str(struct xctx *x, const char *s, const char *ptr)
{
  struct cairn_buf out = {0};
  char *plain;

  x->templ = x->has_window && window_path(ptr);
  x->map_templ = map_template_path(ptr);
  x->n_window = 0;
  cairn_buf_puts(&out, "");
  if (expand_span(x, s, s + strlen(s), s, ptr, 0, &out) != 0) {
    cairn_buf_free(&out);
    return NULL;
  }
  if (!x->templ || x->n_window)
    return cairn_buf_take(&out);
  plain = window_pass(out.data, NULL);
  if (strstr(plain, "$$") || strstr(plain, "${window.")) {
    free(plain);
    return cairn_buf_take(&out);
  }
  cairn_buf_free(&out);
  return plain;
}

/* Expand every string in v (in place). Returns the number of problems. */
static int expand_tree(struct xctx *x, json_t *v, struct cairn_buf *ptr)
{
  int bad = 0;
  size_t mark = ptr->len;

  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (strchr(s, '$')) { /* a template doubles even a lone '$' */
      const char *at = ptr->data ? ptr->data : "";
      char *e = expand_str(x, s, at);
      if (!e)
        return 1;
      if (json_string_set(v, e) != 0) {
        /* an environment variable or secret that is not UTF-8 text */
        diag_at(x->d, x->f, at, 0, "the expanded value is not valid UTF-8");
        bad++;
      }
      free(e);
    }
  } else if (json_is_object(v)) {
    const char *k;
    json_t *child;
    json_object_foreach(v, k, child) {
      cairn_json_pointer_append(ptr, k);
      bad += expand_tree(x, child, ptr);
      ptr->len = mark;
      ptr->data[mark] = '\0';
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *child;
    json_array_foreach(v, i, child) {
      cairn_buf_printf(ptr, "/%zu", i);
      bad += expand_tree(x, child, ptr);
      ptr->len = mark;
      ptr->data[mark] = '\0';
    }
  }
  return bad;
}

/* The window pass over one string of a copy of cfg (cairn_json_map_strings). */
static char *window_string(const char *s, void *w)
{
  return strchr(s, '$') ? window_pass(s, w) : NULL;
}

json_t *cairn_expand_window(const json_t *cfg, const struct cairn_window *w)
{
  json_t *copy = json_deep_copy(cfg), *v;
  const char *k;

  json_object_foreach(copy, k, v)
    if (!is_run_wide(k, strlen(k))) /* stored as they are: no template */
      cairn_json_map_strings(v, window_string, (void *)w);
  return copy;
}

const char *cairn_job_secret(void *ud, const char *name)
{
  struct cairn_job *job = ud;
  const char *v = json_string_value(json_object_get(job->secrets, name));
  cairn_err err = {0};
  char *fresh;
  if (v)
    return v;
  if (cairn_secret_find(name, &fresh, &err) <= 0) {
    if (err.code)
      cairn_warn("%s", err.msg);
    return NULL;
  }
  add_secret(name, fresh);
  json_object_set_new(job->secrets, name, json_string(fresh));
  free(fresh);
  return json_string_value(json_object_get(job->secrets, name));
}

/* ---- sinks ------------------------------------------------------------------ */

/* The sink directory: the override, $CAIRN_SINKS, the job's own
 * <dir>/../sinks (a bare file name's dir is ".", so a job run from its
 * own directory finds its sinks too), else ./sinks. */
static char *sinks_dir_for(const char *job_path, const char *override)
{
  const char *env = getenv("CAIRN_SINKS");
  const char *slash;
  char *dir;
  if (override)
    return cairn_xstrdup(override);
  if (env && *env)
    return cairn_xstrdup(env);
  slash = strrchr(job_path, '/');
  dir = slash ? cairn_strfmt("%.*s/../sinks", (int)(slash - job_path),
                             job_path)
              : cairn_xstrdup("../sinks");
  if (cairn_fs_exists(dir))
    return dir;
  free(dir);
  return cairn_xstrdup("sinks");
}

/* A sink the job names has no file in dir: say where cairn looked and
 * what to do, as the name alone leaves a newcomer guessing. */
static void diag_unknown_sink(struct cairn_diag *d, const struct src_file *f,
                              const char *ptr, const char *name,
                              const char *dir, const char *override)
{
  const char *env = getenv("CAIRN_SINKS");
  char *have = cairn_fs_list_names(dir, ".json");

  if (have)
    diag_at(d, f, ptr, 0, "unknown sink \"%s\": no %s/%s.json (the sink "
            "directory has: %s)", name, dir, name, have);
  else if (override || (env && *env))
    diag_at(d, f, ptr, 0, "unknown sink \"%s\": the sink directory %s%s "
            "does not exist (point it at the directory of the sink files)",
            name, override ? "" : "$CAIRN_SINKS=", dir);
  else
    diag_at(d, f, ptr, 0, "unknown sink \"%s\": there is no sink directory "
            "(looked for sinks/ beside the job's directory, then ./sinks): "
            "make one holding %s.json (copy it from cairn's own sinks/, "
            "share/cairn/sinks when installed; docs/jobs.md#sink-files), or "
            "set CAIRN_SINKS to the directory of your sink files", name,
            name);
  free(have);
}

/* Validate one sink file; returns its document (new ref) or NULL. */
static json_t *load_sink_file(const char *path, json_t *sink_schema,
                              struct cairn_diag *d)
{
  struct src_file f;
  json_t *doc = NULL;
  const cairn_sink_ops *ops;

  if (load_src(&f, path, d) < 0)
    goto done;
  if (validate_part(sink_schema, NULL, f.doc, &f, "", d) != 0)
    goto done;
  ops = cairn_sink_find(json_string_value(json_object_get(f.doc, "type")));
  if (ops && ops->check) {
    const char *ptr = "";
    cairn_err e = {0};
    if (ops->check(f.doc, NULL, &ptr, &e) < 0) {
      diag_at(d, &f, ptr ? ptr : "", 0, "%s", e.msg);
      goto done;
    }
  }
  doc = json_incref(f.doc);
done:
  src_free(&f);
  return doc;
}

int cairn_sink_file_check(const char *path, const struct cairn_job_opts *opts,
                          struct cairn_diag *d)
{
  char *dir = cairn_schemas_dir(opts ? opts->schemas_dir : NULL);
  json_t *schema = load_schema(dir, "sink.schema.json", d);
  json_t *doc = schema ? load_sink_file(path, schema, d) : NULL;
  int rc = doc ? CAIRN_OK : CAIRN_EUSAGE;
  json_decref(doc);
  json_decref(schema);
  free(dir);
  return rc;
}

/* Two sinks of one type write the same output when they name the same
 * file or directory, a default spelled out or left out alike
 * ("path": "warehouse.db" and no "path"; a bundle's "dir" and its alias
 * "path"), however spelt ("./warehouse.db", a path through a symlinked
 * directory; out_dir: where relative ones are, NULL: here). */
static int same_output(const json_t *a, const json_t *b, const char *out_dir)
{
  const char *ta = json_string_value(json_object_get(a, "type"));
  const char *tb = json_string_value(json_object_get(b, "type"));
  char *pa, *pb, *ca, *cb;
  int same;

  if (!ta || !tb || strcmp(ta, tb) != 0)
    return 0;
  pa = cairn_path_join(out_dir ? out_dir : "", cairn_sink_output(a));
  pb = cairn_path_join(out_dir ? out_dir : "", cairn_sink_output(b));
  ca = cairn_fs_canonical(pa);
  cb = cairn_fs_canonical(pb);
  same = strcmp(ca, cb) == 0;
  free(pa);
  free(pb);
  free(ca);
  free(cb);
  return same;
}

static int resolve_sinks(struct cairn_job *job, const struct src_file *f,
                         const struct cairn_job_opts *opts, json_t *schema,
                         struct cairn_diag *d)
{
  json_t *list = json_object_get(job->doc, "sinks");
  char *dir = sinks_dir_for(job->path, opts->sinks_dir);
  size_t i;
  json_t *entry;
  int bad = 0;

  job->n_sinks = json_array_size(list);
  job->sinks = cairn_xcalloc(job->n_sinks, sizeof *job->sinks);
  json_array_foreach(list, i, entry) {
    const char *name = json_is_string(entry)
                           ? json_string_value(entry)
                           : json_string_value(json_object_get(entry, "name"));
    char *path = cairn_strfmt("%s/%s.json", dir, name);
    char ptr[32];
    json_t *def;

    snprintf(ptr, sizeof ptr, "/sinks/%zu", i);
    if (!cairn_fs_exists(path)) {
      diag_unknown_sink(d, f, ptr, name, dir, opts->sinks_dir);
      free(path);
      bad++;
      continue;
    }
    def = load_sink_file(path, schema, d);
    free(path);
    if (!def) {
      bad++;
      continue;
    }
    if (json_is_object(entry)) {
      const char *k;
      json_t *v;
      json_object_foreach(entry, k, v)
        if (strcmp(k, "name") != 0)
          json_object_set(def, k, v);
    }
    for (size_t j = 0; j < i; j++) {
      const json_t *o = job->sinks[j].cfg;
      if (!o)
        continue;
      if (strcmp(job->sinks[j].name, name) == 0) {
        diag_at(d, f, ptr, 0, "sink \"%s\" is already /sinks/%zu", name, j);
        bad++;
      } else if (same_output(o, def, opts->out_dir)) {
        diag_at(d, f, ptr, 0, "sink \"%s\" writes where /sinks/%zu (\"%s\") "
                "does", name, j, job->sinks[j].name);
        bad++;
      }
    }
    job->sinks[i].name = cairn_xstrdup(name);
    job->sinks[i].cfg = def;
    job->sinks[i].ops = cairn_sink_find(
        json_string_value(json_object_get(def, "type")));
    if (job->sinks[i].ops && job->sinks[i].ops->check) {
      const char *sptr = "";
      cairn_err e = {0};
      if (job->sinks[i].ops->check(def, job->contract, &sptr, &e) < 0) {
        /* At the key where the job sets it, else at the sink's name: the
         * value came from its sink file. */
        int here = sptr && *sptr &&
                   json_object_get(entry, sptr + 1) != NULL;
        char *full = cairn_strfmt("%s%s", ptr, here ? sptr : "");
        diag_at(d, f, full, 0, "%s%s%s%s", e.msg, here ? "" : " (sink file ",
                here ? "" : name, here ? "" : ".json)");
        free(full);
        bad++;
      }
    }
  }
  free(dir);
  return bad;
}

/* The secrets the job's sinks cannot open without (a bundle sink's signing
 * key under require_signature). A run looks for them when it opens its
 * sinks, after it took the lock; here they are only looked for, never
 * read: a dry run lists those missing, validate notes them, and a load
 * refused anyway (failing) names them with the rest. Sinks not resolved
 * yet (the variables failed) are resolved for this alone. */
static void sink_lacks(struct cairn_job *job, const struct src_file *f,
                       const struct cairn_job_opts *opts, json_t *schema,
                       struct xctx *x, int failing)
{
  if (!job->sinks) {
    struct cairn_diag quiet = {0};
    resolve_sinks(job, f, opts, schema, &quiet);
    cairn_diag_free(&quiet);
  }
  for (size_t i = 0; i < job->n_sinks; i++) {
    const struct cairn_job_sink *js = &job->sinks[i];
    const char *name = js->cfg && js->ops && js->ops->required_secret
                           ? js->ops->required_secret(js->cfg)
                           : NULL;
    cairn_err e = {0};
    char ptr[32];
    int found = name ? cairn_secret_find(name, NULL, &e) : 1;

    snprintf(ptr, sizeof ptr, "/sinks/%zu", i);
    if (found > 0)
      continue;
    if (x->secrets_optional)
      note_secret(x, ptr, name, found ? &e : NULL, js->name);
    else if (x->list_secrets || failing)
      lack_secret(x, ptr, name, found ? &e : NULL, js->name);
  }
}

/* ---- job -------------------------------------------------------------------- */

void cairn_job_free(struct cairn_job *job)
{
  if (!job)
    return;
  free(job->path);
  free(job->name);
  free(job->connector_version);
  json_decref(job->doc);
  cairn_contract_free(job->contract);
  for (size_t i = 0; i < job->n_sinks; i++) {
    free(job->sinks[i].name);
    json_decref(job->sinks[i].cfg);
  }
  free(job->sinks);
  json_decref(job->params);
  json_decref(job->secrets);
  free(job->schemas_dir);
  free(job->input_problem);
  free(job->missing_secrets);
  json_decref(job->missing_names);
  free(job);
}

static json_t *parse_params(const char *const *params, struct cairn_diag *d)
{
  json_t *o = json_object();
  for (size_t i = 0; params && params[i]; i++) {
    const char *eq = strchr(params[i], '=');
    char *k;
    if (!eq || eq == params[i]) {
      diag_text(d, "--param %s: expected NAME=VALUE", params[i]);
      continue;
    }
    if (!cairn_utf8_valid(params[i], strlen(params[i]))) {
      /* a job is a JSON document: its values are UTF-8 text */
      diag_text(d, "--param %s: not valid UTF-8", params[i]);
      continue;
    }
    k = cairn_xstrndup(params[i], (size_t)(eq - params[i]));
    if (json_object_get(o, k) &&
        strcmp(json_string_value(json_object_get(o, k)), eq + 1) != 0)
      /* which one was meant is not for cairn to guess */
      diag_text(d, "--param %s given twice with different values "
                "(\"%s\", then \"%s\"): give one", k,
                json_string_value(json_object_get(o, k)), eq + 1);
    else
      json_object_set_new(o, k, json_string(eq + 1));
    free(k);
  }
  return o;
}

/* The next ${param:NAME...} at or after *p in text, read syntactically
 * (also inside a default that expansion would not reach): NAME's start,
 * its length in *n, and *p moved past it; NULL when there is none. */
static const char *next_param_ref(const char **p, size_t *n)
{
  const char *at = *p ? strstr(*p, "${param:") : NULL;
  if (!at)
    return NULL;
  at += 8;
  *n = strcspn(at, ":}\"");
  *p = at + *n;
  return at;
}

/* Add to names every parameter the job names or declares. */
static void param_names(const json_t *doc, json_t *names)
{
  char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
  const json_t *decl = json_object_get(doc, "params");
  const char *k, *p = text;
  json_t *v;
  size_t n;

  while ((k = next_param_ref(&p, &n)))
    json_object_setn_nocheck(names, k, n, json_true());
  json_object_foreach((json_t *)decl, k, v)
    json_object_set(names, k, json_true());
  free(text);
}

/* When the job's own text at ptr takes its value from a --param that was
 * given, say so (a problem reported at the job's line may be the
 * parameter's value): " (from --param NAME)", else "". Static buffer. */
static const char *given_param_hint(const struct xctx *x,
                                    const struct src_file *f, const char *ptr)
{
  static char hint[96];
  const char *p = json_string_value(cairn_json_pointer_get(f->doc, ptr));
  const char *k;
  size_t n;

  hint[0] = '\0';
  while ((k = next_param_ref(&p, &n)))
    if (json_object_getn(x->params, k, n)) {
      snprintf(hint, sizeof hint, " (from --param %.*s)",
               (int)(n < 60 ? n : 60), k);
      break;
    }
  return hint;
}

/* A --param the job neither declares nor uses is a typo (inptu=...), which
 * would otherwise run the job on its default without a word. */
static void check_params(const json_t *given, const json_t *doc,
                         const struct src_file *f, struct cairn_diag *d)
{
  json_t *names = json_object();
  const char *k;
  json_t *v;

  param_names(doc, names);
  json_object_foreach((json_t *)given, k, v) {
    struct cairn_buf have = {0};
    const char *n;
    json_t *t;
    if (json_object_get(names, k))
      continue;
    json_object_foreach(names, n, t)
      cairn_buf_printf(&have, "%s%s", have.len ? ", " : "", n);
    diag_at(d, f, json_object_get(doc, "params") ? "/params" : "", 0,
            "--param %s: the job has no parameter \"%s\" (%s%s)", k, k,
            have.len ? "it has: " : "it takes none",
            have.len ? have.data : "");
    cairn_buf_free(&have);
  }
  json_decref(names);
}

struct header_diag {
  struct cairn_diag      *d;
  const struct src_file  *f;
  char                   *file;  /* the input file the header is from */
  char                   *have;  /* its columns, "a, b, c" */
};

static void header_bad(void *ud, const char *ptr, const char *why)
{
  struct header_diag *h = ud;
  char *full = cairn_strfmt("/transform%s", ptr);
  diag_at(h->d, h->f, full, 0, "%s of %s (it has: %s), so every record "
          "would be rejected", why, h->file, h->have);
  free(full);
}

/* A file source's first header, when there is one to read now, against
 * the mapping: a column the mapping names but the input lacks would
 * reject every record of a run that otherwise ends "done" (windowed jobs
 * name their files per window, and are checked as they run). */
static void check_header(const struct cairn_job *job, cairn_transform *t,
                         const struct src_file *f, struct cairn_diag *d)
{
  struct cairn_header *hdr = NULL;
  struct header_diag h = { d, f, NULL, NULL };
  struct cairn_buf have = {0};
  cairn_err ignored = {0}; /* a missing input: the run (or dry run) says */

  if (!job->source_ops->peek_header ||
      job->source_ops->peek_header(job->source_cfg, &hdr, &h.file,
                                   &ignored) != CAIRN_OK)
    return;
  for (size_t i = 0; i < hdr->n_cols; i++)
    cairn_buf_printf(&have, "%s%s", i ? ", " : "", hdr->names[i]);
  h.have = have.data ? have.data : "no columns";
  cairn_transform_check_header(t, hdr, header_bad, &h);
  cairn_buf_free(&have);
  cairn_header_clear(hdr);
  free(hdr);
  free(h.file);
}

int cairn_job_load(const char *path, const struct cairn_job_opts *opts,
                   struct cairn_job **out, struct cairn_diag *d,
                   cairn_err *err)
{
  static const struct cairn_job_opts no_opts;
  struct cairn_job *job = cairn_xcalloc(1, sizeof *job);
  struct src_file f;
  json_t *job_schema = NULL, *sink_schema = NULL;
  struct xctx x = {0};
  struct cairn_buf ptr = {0};
  const char *type, *win;
  int n_before = d->n, n_bad;

  *out = NULL;
  if (!opts)
    opts = &no_opts;
  job->path = cairn_xstrdup(path);
  job->params = json_object();
  job->secrets = json_object();
  job->schemas_dir = cairn_schemas_dir(opts->schemas_dir);
  if (load_src(&f, path, d) < 0)
    goto done;
  cairn_sha256_hex(f.text.data, f.text.len, job->sha256);
  job_schema = load_schema(job->schemas_dir, "job.schema.json", d);
  sink_schema = load_schema(job->schemas_dir, "sink.schema.json", d);
  if (!job_schema || !sink_schema)
    goto done;
  /* The source's own keys are checked even when the rest of the file has
   * problems, so that one validate lists them all. */
  n_bad = validate_part(job_schema, NULL, f.doc, &f, "", d);
  if (n_bad < 0)
    goto done;
  type = json_string_value(json_object_get(json_object_get(f.doc, "source"),
                                           "type"));
  job->source_ops = type ? cairn_source_find(type) : NULL;
  if (!job->source_ops) {
    if (n_bad == 0) /* else the schema said what is wrong with it */
      diag_at(d, &f, "/source/type", 0, "source type \"%s\" is not built "
              "in (have: %s)", type ? type : "", cairn_source_names());
    goto done;
  }
  {
    char *def = cairn_strfmt("source_%s", type);
    if (json_object_get(json_object_get(job_schema, "$defs"), def) &&
        validate_part(job_schema, def, json_object_get(f.doc, "source"), &f,
                      "/source", d) != 0)
      n_bad = 1;
    free(def);
  }
  if (n_bad != 0)
    goto done;
  win = json_string_value(json_object_get(f.doc, "window"));
  job->window_kind = !win || strcmp(win, "none") == 0 ? CAIRN_WINDOW_NONE
                     : strcmp(win, "day") == 0        ? CAIRN_WINDOW_DAY
                                                      : CAIRN_WINDOW_MONTH;
  /* Expand variables over the whole document. */
  x.params = parse_params(opts->params, d);
  check_params(x.params, f.doc, &f, d);
  x.used = job->params;
  x.secrets = job->secrets;
  x.has_window = job->window_kind != CAIRN_WINDOW_NONE;
  x.secrets_optional = opts->secrets_optional;
  x.list_secrets = opts->list_missing_secrets && !opts->secrets_optional;
  x.declared = json_object_get(f.doc, "params");
  x.d = d;
  x.f = &f;
  job->doc = json_deep_copy(f.doc);
  if (expand_tree(&x, job->doc, &ptr) != 0 || d->n > n_before)
    goto lacks;
  job->name = cairn_xstrdup(json_string_value(json_object_get(job->doc,
                                                              "name")));
  job->connector_version = cairn_xstrdup(
      json_string_value(json_object_get(job->doc, "connector_version")));
  if (!job->connector_version)
    job->connector_version = cairn_xstrdup("");
  job->enabled = !json_is_false(json_object_get(job->doc, "enabled"));
  job->source_cfg = json_object_get(job->doc, "source");
  job->transform_cfg = json_object_get(job->doc, "transform");
  if (job->source_ops->check) {
    const char *sptr = NULL;
    cairn_err e = {0};
    if (job->source_ops->check(job->source_cfg, &sptr, &e) < 0) {
      char *full = cairn_strfmt("/source%s", sptr ? sptr : "");
      diag_at(d, &f, full, 0, "%s%s", e.msg, given_param_hint(&x, &f, full));
      free(full);
    }
  }
  {
    /* The time written into outputs: the bundle sink needs a date-time. */
    const char *lt = json_string_value(json_object_get(job->doc,
                                                       "logical_time"));
    if (lt && !cairn_clock_is_date_time(lt, strlen(lt)))
      diag_at(d, &f, "/logical_time", 0, "\"%s\" is not an RFC 3339 "
              "date-time (such as 2024-06-01T00:00:00Z)", lt);
  }
  {
    /* The contract first: a sink checks that it can serve it. */
    const char *cname = json_string_value(json_object_get(job->transform_cfg,
                                                          "contract"));
    cairn_err e = {0};
    if (cairn_contract_load(job->schemas_dir, cname, &job->contract, &e) < 0)
      diag_at(d, &f, "/transform/contract", 0, "%s", e.msg);
    resolve_sinks(job, &f, opts, sink_schema, d);
    if (job->contract) {
      cairn_transform *t = NULL;
      char *tptr = NULL;
      if (cairn_transform_create(job->transform_cfg, job->contract, &t, &tptr,
                                 &e) < 0) {
        char *full = cairn_strfmt("/transform%s", tptr ? tptr : "");
        diag_at(d, &f, full, 0, "%s", e.msg);
        free(full);
      } else if (job->window_kind == CAIRN_WINDOW_NONE) {
        struct cairn_diag later = {0};
        check_header(job, t, &f, opts->defer_input_check ? &later : d);
        job->input_problem = later.text.data; /* NULL when it fits */
      }
      free(tptr);
      cairn_transform_free(t);
    }
  }
lacks:
  sink_lacks(job, &f, opts, sink_schema, &x, d->n > n_before || x.n_unlisted);
  {
    struct cairn_diag listed = {0};
    job->missing_names = json_array();
    lacks_flush(&x, d, &listed, job->missing_names);
    if (d->n > n_before && listed.n) { /* refused anyway: said with the rest */
      cairn_buf_puts(&d->text, listed.text.data);
      d->n += listed.n;
      cairn_diag_free(&listed);
    }
    job->missing_secrets = listed.text.data; /* NULL when none */
  }
done:
  json_decref(x.params);
  cairn_buf_free(&ptr);
  json_decref(job_schema);
  json_decref(sink_schema);
  src_free(&f);
  if (d->n > n_before) {
    cairn_job_free(job);
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s: invalid job file", path);
  }
  *out = job;
  return CAIRN_OK;
}

/* ---- windows ------------------------------------------------------------------ */

/* The first day of --from/--to s: 0, -1 when it is not a date of the
 * job's kind of window, -2 when it is before 1970 (times are seconds
 * since 1970-01-01 UTC: in windows, run records, logical times). */
static int parse_day(const char *s, int kind, int64_t *days)
{
  char day[11];
  int64_t t;
  size_t n = strlen(s);

  if (kind == CAIRN_WINDOW_MONTH && n == 7) {
    snprintf(day, sizeof day, "%s-01", s);
    s = day;
  } else if (n != 10) {
    return -1;
  }
  if (cairn_clock_parse(s, &t) < 0)
    return -1;
  if (t < 0)
    return -2;
  *days = t / 86400;
  return 0;
}

/* --from or --to (opt) s refused by parse_day (rc). */
static int bad_day(const char *opt, const char *s, int kind, int rc,
                   cairn_err *err)
{
  if (rc == -2)
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s %s: windows start on "
                       "1970-01-01 or later", opt, s);
  return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "%s %s: expected YYYY-MM-DD%s",
                     opt, s, kind == CAIRN_WINDOW_MONTH ? " or YYYY-MM" : "");
}

static void fill_window(struct cairn_window *w, int kind, int64_t day)
{
  int y;
  unsigned m, d;
  int64_t end;
  cairn_civil_from_days(day, &y, &m, &d);
  if (kind == CAIRN_WINDOW_DAY) {
    snprintf(w->key, sizeof w->key, "%04d-%02u-%02u", y, m, d);
    end = day + 1;
  } else {
    snprintf(w->key, sizeof w->key, "%04d-%02u", y, m);
    end = m == 12 ? cairn_days_from_civil(y + 1, 1, 1)
                  : cairn_days_from_civil(y, m + 1, 1);
  }
  cairn_clock_fmt(day * 86400, w->start, sizeof w->start);
  cairn_clock_fmt(end * 86400, w->end, sizeof w->end);
  snprintf(w->span_from, sizeof w->span_from, "%.10s", w->start);
  snprintf(w->span_to, sizeof w->span_to, "%.10s", w->end);
}

static int64_t next_start(int kind, int64_t day)
{
  int y;
  unsigned m, d;
  if (kind == CAIRN_WINDOW_DAY)
    return day + 1;
  cairn_civil_from_days(day, &y, &m, &d);
  return m == 12 ? cairn_days_from_civil(y + 1, 1, 1)
                 : cairn_days_from_civil(y, m + 1, 1);
}

static int64_t period_start(int kind, int64_t day)
{
  int y;
  unsigned m, d;
  if (kind == CAIRN_WINDOW_DAY)
    return day;
  cairn_civil_from_days(day, &y, &m, &d);
  return cairn_days_from_civil(y, m, 1);
}

int cairn_windows_plan(int kind, const char *from, const char *to,
                       struct cairn_window **out, size_t *n, cairn_err *err)
{
  int64_t a, b;
  size_t cap = 8;

  *out = NULL;
  *n = 0;
  if ((from == NULL) != (to == NULL))
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "--from and --to go together");
  if (kind == CAIRN_WINDOW_NONE) {
    if (from)
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "--from/--to need a job with "
                         "a \"window\" (day or month)");
    *out = cairn_xcalloc(1, sizeof **out);
    snprintf((*out)->key, sizeof (*out)->key, "all");
    *n = 1;
    return CAIRN_OK;
  }
  if (!from) {
    /* The last complete period before now. */
    int64_t today = cairn_clock_now() / 86400;
    b = period_start(kind, today);
    a = period_start(kind, b - 1);
  } else {
    int rc = parse_day(from, kind, &a);
    if (rc < 0)
      return bad_day("--from", from, kind, rc, err);
    rc = parse_day(to, kind, &b);
    if (rc < 0)
      return bad_day("--to", to, kind, rc, err);
    {
      int64_t a0 = a;
      /* Compared before a monthly job rounds --from down to its month:
       * --from 2024-05-20 --to 2024-05-10 is empty, not May. */
      a = period_start(kind, a);
      if (b <= a0)
        return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "--to %s must be after "
                           "--from %s (--to is exclusive)", to, from);
      if (a0 != a || period_start(kind, b) != b)
        cairn_info("--from %s --to %s: a monthly job loads whole months, so "
                   "the run covers every month they touch", from, to);
    }
  }
  *out = cairn_xcalloc(cap, sizeof **out);
  for (int64_t day = a; day < b; day = next_start(kind, day)) {
    if (*n == cap) {
      cap *= 2;
      *out = cairn_xrealloc(*out, cap * sizeof **out);
    }
    if (*n == CAIRN_WINDOWS_MAX) {
      free(*out);
      *out = NULL;
      *n = 0;
      return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "--from %s --to %s covers "
                         "more than %d windows: split the backfill", from,
                         to, CAIRN_WINDOWS_MAX);
    }
    fill_window(&(*out)[(*n)++], kind, day);
  }
  return CAIRN_OK;
}
