/* SPDX-License-Identifier: MIT */
/* test_sink_bundle.c -- the evidence bundle sink and cairn_bundle_verify:
 * deterministic parts, the chunk protocol after crashes, idempotent
 * finish, stock-tool acceptance, tampering and unsigned bundles. The
 * contract and batches are built by hand; keys are generated per test. */
#include <criterion/criterion.h>

#include "core/fsx.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/mem.h"
#include "sink/sink.h"
#include "sink/verify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

extern const cairn_sink_ops cairn_sink_bundle_ops;

static char tmp[64];
static char *pem;          /* private key PEM handed out as the secret */
static char *pub_path;     /* its public key */
static char fpr[65];       /* its fingerprint */

static const struct cairn_window win = {
  "2024-05", "2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z", "2024-05-01",
  "2024-06-01"
};
static const char *lt = "2024-06-01T00:00:00Z";

/* ---- fixtures --------------------------------------------------------- */

static struct cairn_field fields[] = {
  { "when", CAIRN_F_DATETIME, 1, 0 },
  { "id", CAIRN_F_STRING, 1, 0 },
  { "amount", CAIRN_F_NUMBER, 0, 0 },
  { "tags", CAIRN_F_OBJECT, 0, 0 },
  { "count", CAIRN_F_INTEGER, 0, 0 },
  { "ok", CAIRN_F_BOOLEAN, 0, 0 },
};

static struct cairn_contract contract = {
  "cost_record", "https://cairn.dev/contracts/cost_record", "1.2.0",
  6, fields, 0, NULL, 0, NULL, NULL, NULL
};

static char *strf(const char *fmt, ...)
{
  va_list ap;
  char *s;
  va_start(ap, fmt);
  s = cairn_vstrfmt(fmt, ap);
  va_end(ap);
  return s;
}

static int sh(const char *fmt, ...)
{
  va_list ap;
  char *cmd;
  int rc;
  va_start(ap, fmt);
  cmd = cairn_vstrfmt(fmt, ap);
  va_end(ap);
  rc = system(cmd);
  free(cmd);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *slurp(const char *path, size_t *n)
{
  struct cairn_buf b = {0};
  cairn_err err = {0};
  cr_assert_eq(cairn_fs_read_all(path, &b, &err), CAIRN_OK, "%s", err.msg);
  if (n)
    *n = b.len;
  return cairn_buf_take(&b);
}

static void spit(const char *path, const char *text)
{
  FILE *fp = fopen(path, "wb");
  cr_assert_not_null(fp);
  fputs(text, fp);
  fclose(fp);
}

static int same_file(const char *a, const char *b)
{
  size_t na, nb;
  char *x = slurp(a, &na), *y = slurp(b, &nb);
  int same = na == nb && memcmp(x, y, na) == 0;
  free(x);
  free(y);
  return same;
}

/* Rows that exercise every value type, escapes and non-ASCII text. */
static struct cairn_batch *make_batch(long seq, size_t n_rows)
{
  struct cairn_batch *b = cairn_batch_create(6);
  for (size_t r = 0; r < n_rows; r++) {
    struct cairn_value *v = cairn_batch_add_row(b);
    char id[64], amt[32];
    snprintf(id, sizeof id, "rec-%ld-%zu \"q\" \xc3\xa9\t", seq, r);
    snprintf(amt, sizeof amt, "%zu.50", r * 10 + (size_t)seq);
    cairn_value_set_text(b, &v[0], CAIRN_V_STR, "2024-05-03T00:00:00Z", 20);
    cairn_value_set_text(b, &v[1], CAIRN_V_STR, id, strlen(id));
    cairn_value_set_text(b, &v[2], CAIRN_V_NUM, amt, strlen(amt));
    if (r % 2)
      cairn_value_set_text(b, &v[3], CAIRN_V_JSON, "{\"a\":\"b\"}", 9);
    v[4].type = CAIRN_V_INT;
    v[4].i = (int64_t)r - 2;
    v[5].type = CAIRN_V_BOOL;
    v[5].i = (int64_t)(r % 2);
  }
  return b;
}

static const char *secret_fn(void *ud, const char *name)
{
  return strcmp(name, "EVIDENCE_SIGNING_KEY") == 0 ? ud : NULL;
}

struct harness {
  struct cairn_sink_ctx ctx;
  json_t *cfg;
  char   *out_dir;
  cairn_sink *sink;
};

/* A sink over <tmp>/<sub> ("dir": "evidence"); signed unless !key. */
static void open_sink(struct harness *h, const char *sub, const char *key)
{
  cairn_err err = {0};
  memset(h, 0, sizeof *h);
  h->out_dir = strf("%s/%s", tmp, sub);
  h->cfg = json_pack("{s:s, s:s}", "type", "bundle", "dir", "evidence");
  h->ctx.job = "demo";
  h->ctx.sink_name = "evidence";
  h->ctx.cfg = h->cfg;
  h->ctx.out_dir = h->out_dir;
  h->ctx.contract = &contract;
  h->ctx.connector_version = "2.0.1";
  h->ctx.secret = secret_fn;
  h->ctx.secret_ud = (void *)key;
  cr_assert_eq(cairn_sink_open(&cairn_sink_bundle_ops, &h->ctx, &h->sink,
                               &err), CAIRN_OK, "%s", err.msg);
}

static void close_sink(struct harness *h)
{
  cairn_sink_close(h->sink);
  json_decref(h->cfg);
  free(h->out_dir);
}

static void load_in(struct harness *h, const struct cairn_window *w,
                    long seq, size_t n_rows)
{
  cairn_err err = {0};
  struct cairn_batch *b = make_batch(seq, n_rows);
  cr_assert_eq(cairn_sink_load(h->sink, w, seq, b, &err), CAIRN_OK,
               "%s", err.msg);
  cairn_batch_free(b);
}

static long durable_in(struct harness *h, const struct cairn_window *w)
{
  cairn_err err = {0};
  long seq = -1;
  cr_assert_eq(cairn_sink_durable_seq(h->sink, w, &seq, &err), CAIRN_OK,
               "%s", err.msg);
  return seq;
}

static void finish_in(struct harness *h, const struct cairn_window *w,
                      long n, const char *at)
{
  cairn_err err = {0};
  cr_assert_eq(cairn_sink_finish_window(h->sink, w, n, at, &err),
               CAIRN_OK, "%s", err.msg);
}

static void load(struct harness *h, long seq, size_t n_rows)
{
  load_in(h, &win, seq, n_rows);
}

static long durable(struct harness *h)
{
  return durable_in(h, &win);
}

static void finish(struct harness *h, long n)
{
  finish_in(h, &win, n, lt);
}

static char *tar_of(const char *sub)
{
  return strf("%s/%s/evidence/demo/demo-2024-05.tar", tmp, sub);
}

static char *staged(const char *sub, const char *name)
{
  return strf("%s/%s/evidence/demo/.staging/2024-05/%s", tmp, sub, name);
}

/* A finished, signed window of three chunks (3, 0 and 5 rows). */
static char *make_bundle(const char *sub, const char *key)
{
  struct harness h;
  open_sink(&h, sub, key);
  load(&h, 1, 3);
  load(&h, 2, 0);
  load(&h, 3, 5);
  finish(&h, 3);
  close_sink(&h);
  return tar_of(sub);
}

static char *write_pubkey(EVP_PKEY *k, const char *name, char out_fpr[65])
{
  char *path = strf("%s/%s", tmp, name);
  BIO *bio = BIO_new_file(path, "w");
  cr_assert_not_null(bio);
  cr_assert_eq(PEM_write_bio_PUBKEY(bio, k), 1);
  BIO_free(bio);
  if (out_fpr)
    cr_assert_eq(cairn__pkey_fingerprint(k, out_fpr), 0);
  return path;
}

static void setup(void)
{
  EVP_PKEY *k;
  BIO *bio;
  char *data;
  long n;

  cairn_log_init(1, CAIRN_LOG_ERROR, NULL);
  snprintf(tmp, sizeof tmp, "/tmp/cairn-bundle-XXXXXX");
  cr_assert_not_null(mkdtemp(tmp));
  k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  cr_assert_not_null(k);
  bio = BIO_new(BIO_s_mem());
  cr_assert_eq(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL),
               1);
  n = BIO_get_mem_data(bio, &data);
  /* Without its final newline, as $CREDENTIALS_DIRECTORY files and
   * $(cat key.pem) deliver it. */
  pem = cairn_xstrndup(data, (size_t)n - 1);
  BIO_free(bio);
  pub_path = write_pubkey(k, "pub.pem", fpr);
  EVP_PKEY_free(k);
}

static void teardown(void)
{
  cairn_err err = {0};
  cairn_fs_remove_tree(tmp, &err);
  free(pem);
  free(pub_path);
}

TestSuite(sink_bundle, .init = setup, .fini = teardown);

/* ---- tamper helper: copy a tar, changing one entry -------------------- */

enum { T_DROP, T_FLIP, T_ADD, T_REPLACE };

static void rewrite_tar(const char *src, const char *dst, int op,
                        const char *target, const char *text)
{
  struct archive *in = archive_read_new(), *out = archive_write_new();
  struct archive_entry *ae;
  static char data[1 << 20];

  archive_read_support_format_tar(in);
  cr_assert_eq(archive_read_open_filename(in, src, 10240), ARCHIVE_OK);
  archive_write_set_format_ustar(out);
  cr_assert_eq(archive_write_open_filename(out, dst), ARCHIVE_OK);
  while (archive_read_next_header(in, &ae) == ARCHIVE_OK) {
    const char *name = archive_entry_pathname(ae);
    la_ssize_t n = archive_read_data(in, data, sizeof data);
    cr_assert_geq(n, 0);
    if (strcmp(name, target) == 0) {
      if (op == T_DROP)
        continue;
      if (op == T_FLIP)
        data[n / 2] ^= 0x01;
      if (op == T_REPLACE) {
        n = (la_ssize_t)strlen(text);
        memcpy(data, text, (size_t)n);
        archive_entry_set_size(ae, n);
      }
    }
    cr_assert_eq(archive_write_header(out, ae), ARCHIVE_OK);
    cr_assert_eq(archive_write_data(out, data, (size_t)n), n);
  }
  if (op == T_ADD) {
    ae = archive_entry_new();
    archive_entry_set_pathname(ae, target);
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_perm(ae, 0644);
    archive_entry_set_size(ae, (la_int64_t)strlen(text));
    cr_assert_eq(archive_write_header(out, ae), ARCHIVE_OK);
    archive_write_data(out, text, strlen(text));
    archive_entry_free(ae);
  }
  archive_read_free(in);
  cr_assert_eq(archive_write_close(out), ARCHIVE_OK);
  archive_write_free(out);
}

static int has_problem(const struct cairn_verify_report *r, const char *s)
{
  for (size_t i = 0; i < r->n_problems; i++)
    if (strstr(r->problems[i], s))
      return 1;
  return 0;
}

static void dump_problems(const struct cairn_verify_report *r)
{
  for (size_t i = 0; i < r->n_problems; i++)
    cr_log_info("problem: %s", r->problems[i]);
}

/* Verify a tampered copy; expect failure naming 'want'. */
static void expect_tamper(const char *tarp, int op, const char *target,
                          const char *text, const char *pub,
                          const char *want)
{
  char *bad = strf("%s/bad.tar", tmp);
  struct cairn_verify_report rep;
  cairn_err err = {0};
  int rc;

  rewrite_tar(tarp, bad, op, target, text);
  rc = cairn_bundle_verify(bad, pub, &rep, &err);
  dump_problems(&rep);
  cr_assert_eq(rc, CAIRN_EVERIFY, "rc %d: %s", rc, err.msg);
  cr_assert(has_problem(&rep, want), "no problem \"%s\"; first: %s", want,
            rep.n_problems ? rep.problems[0] : "(none)");
  cairn_verify_report_free(&rep);
  unlink(bad);
  free(bad);
}

/* ---- parts ------------------------------------------------------------ */

Test(sink_bundle, is_registered_as_bundle)
{
  cr_assert_eq(cairn_sink_find("bundle"), &cairn_sink_bundle_ops);
}

Test(sink_bundle, part_is_deterministic)
{
  struct harness a, b;
  char *pa = staged("a", "1.ndjson.zst"), *pb = staged("b", "1.ndjson.zst");
  char *copy = strf("%s/copy.zst", tmp);
  cairn_err err = {0};

  open_sink(&a, "a", pem);
  open_sink(&b, "b", NULL);
  load(&a, 1, 7);
  load(&b, 1, 7);
  cr_assert(same_file(pa, pb), "same batch, different bytes");
  /* A rewrite of the same chunk (after a reset) gives the same bytes. */
  cr_assert_eq(sh("cp %s %s", pa, copy), 0);
  cr_assert_eq(cairn_sink_reset_window(a.sink, &win, &err), CAIRN_OK);
  cr_assert_eq(durable(&a), 0);
  load(&a, 1, 7);
  cr_assert(same_file(pa, copy));
  close_sink(&a);
  close_sink(&b);
  free(pa);
  free(pb);
  free(copy);
}

Test(sink_bundle, part_is_sorted_ndjson_readable_by_zstdcat)
{
  struct harness h;
  char *part = staged("a", "1.ndjson.zst");
  char *out = strf("%s/lines.ndjson", tmp);
  char *text;

  open_sink(&h, "a", pem);
  load(&h, 1, 2);
  cr_assert_eq(sh("zstd -tq %s", part), 0);
  cr_assert_eq(sh("zstdcat %s > %s", part, out), 0);
  text = slurp(out, NULL);
  cr_assert_str_eq(text,
    "{\"amount\":1.50,\"count\":-2,\"id\":\"rec-1-0 \\\"q\\\" \xc3\xa9\\t\","
    "\"ok\":false,\"tags\":null,\"when\":\"2024-05-03T00:00:00Z\"}\n"
    "{\"amount\":11.50,\"count\":-1,\"id\":\"rec-1-1 \\\"q\\\" \xc3\xa9\\t\","
    "\"ok\":true,\"tags\":{\"a\":\"b\"},\"when\":\"2024-05-03T00:00:00Z\"}\n");
  cr_assert_eq(sh("zstdcat %s | jq -ce . > /dev/null", part), 0);
  free(text);
  free(out);
  free(part);
  close_sink(&h);
}

/* ---- crash safety ----------------------------------------------------- */

Test(sink_bundle, durable_seq_ignores_temp_files_and_gaps)
{
  struct harness h;
  char *t1 = staged("a", "3.ndjson.zst.tmp.4242");
  char *t2 = staged("a", "3.ndjson.zst.tmp");
  char *gap = staged("a", "5.ndjson.zst");
  char *p2 = staged("a", "2.ndjson.zst");

  open_sink(&h, "a", pem);
  cr_assert_eq(durable(&h), 0);
  load(&h, 1, 2);
  load(&h, 2, 2);
  /* A crash while writing part 3, and a part left beyond a gap. */
  spit(t1, "half a frame");
  spit(t2, "");
  cr_assert_eq(sh("cp %s %s", p2, gap), 0);
  cr_assert_eq(durable(&h), 2);
  cr_assert(!cairn_fs_exists(t1) && !cairn_fs_exists(t2));
  cr_assert(!cairn_fs_exists(gap));
  load(&h, 3, 1);
  cr_assert_eq(durable(&h), 3);
  close_sink(&h);
  free(t1);
  free(t2);
  free(gap);
  free(p2);
}

/* Parts are renamed into place without an fsync. A part written in an
 * earlier boot may have lost its tail to a power loss: durable_seq reads
 * every such part and counts up to the first that is not whole; the parts
 * of this boot are trusted (a killed process loses nothing), and a damaged
 * one is then caught when finish reads it. */
static void cut_in_half(const char *path)
{
  struct stat st;
  cr_assert_eq(stat(path, &st), 0);
  cr_assert_eq(truncate(path, st.st_size / 2), 0);
}

/* Parts 1..3 (3, 40 and 5 rows) staged in <tmp>/a by a closed sink. */
static void stage_three(void)
{
  struct harness h;
  open_sink(&h, "a", pem);
  load(&h, 1, 3);
  load(&h, 2, 40);
  load(&h, 3, 5);
  close_sink(&h);
}

Test(sink_bundle, parts_of_an_earlier_boot_count_up_to_the_first_damaged)
{
  struct harness h;
  char *boot = staged("a", "boot"), *p3 = staged("a", "3.ndjson.zst");
  char *p2 = staged("a", "2.ndjson.zst"), *now;
  cairn_err err = {0};

  stage_three();
  now = slurp(boot, NULL);
  cr_assert_eq(strlen(now), 36, "the staging names this boot: %s", now);

  /* This boot: part 2 cut short is not noticed by durable_seq ... */
  cut_in_half(p2);
  open_sink(&h, "a", pem);
  cr_assert_eq(durable(&h), 3);
  /* ... but finish reads it and refuses to pack it. */
  cr_assert_neq(cairn_sink_finish_window(h.sink, &win, 3, lt, &err),
                CAIRN_OK);
  cr_assert(strstr(err.msg, "is damaged"), "%s", err.msg);
  close_sink(&h);

  /* An earlier boot: the parts are read, and counted up to part 2. */
  spit(boot, "00000000-0000-0000-0000-000000000000");
  open_sink(&h, "a", pem);
  cr_assert_eq(durable(&h), 1);
  cr_assert(!cairn_fs_exists(p2) && !cairn_fs_exists(p3));
  {
    char *again = slurp(boot, NULL);
    cr_assert_str_eq(again, now, "checked parts are this boot's now");
    free(again);
  }
  load(&h, 2, 40);
  load(&h, 3, 5);
  finish(&h, 3);
  close_sink(&h);
  {
    char *tarp = tar_of("a");
    cr_assert_eq(sh("tar -xOf %s --wildcards 'parts/*' | zstd -dc | wc -l | "
                    "grep -qx 48", tarp), 0, "the bundle holds 3+40+5 rows");
    free(tarp);
  }
  free(now);
  free(boot);
  free(p2);
  free(p3);
}

/* A load into the staging of an earlier boot checks its parts first, even
 * when durable_seq was not asked: a chunk after a damaged part is refused,
 * not written after a gap. */
Test(sink_bundle, a_load_checks_the_parts_of_an_earlier_boot)
{
  struct harness h;
  char *boot = staged("a", "boot"), *p2 = staged("a", "2.ndjson.zst");
  struct cairn_batch *b = make_batch(4, 2);
  cairn_err err = {0};

  stage_three();
  cut_in_half(p2);
  spit(boot, "00000000-0000-0000-0000-000000000000");
  open_sink(&h, "a", pem);
  cr_assert_neq(cairn_sink_load(h.sink, &win, 4, b, &err), CAIRN_OK);
  cr_assert(strstr(err.msg, "after parts 1..1 only"), "%s", err.msg);
  close_sink(&h);
  open_sink(&h, "a", pem);
  cr_assert_eq(durable(&h), 1);
  close_sink(&h);
  cairn_batch_free(b);
  free(boot);
  free(p2);
}

Test(sink_bundle, load_drops_parts_of_an_earlier_attempt)
{
  struct harness h;
  char *p2 = staged("a", "2.ndjson.zst"), *p3 = staged("a", "3.ndjson.zst");

  open_sink(&h, "a", pem);
  load(&h, 1, 1);
  load(&h, 2, 1);
  load(&h, 3, 1);
  /* The runner restarts at 2 (say its own state said 1). */
  load(&h, 2, 4);
  cr_assert(cairn_fs_exists(p2));
  cr_assert(!cairn_fs_exists(p3));
  cr_assert_eq(durable(&h), 2);
  close_sink(&h);
  free(p2);
  free(p3);
}

Test(sink_bundle, finish_after_crash_rebuilds_the_same_bytes)
{
  struct harness h;
  char *tarp = tar_of("a"), *first = strf("%s/first.tar", tmp);
  char *stg = strf("%s/a/evidence/demo/.staging", tmp);
  char *saved = strf("%s/saved-staging", tmp);
  char *ttmp = strf("%s.tmp", tarp);

  open_sink(&h, "a", pem);
  load(&h, 1, 3);
  load(&h, 2, 4);
  cr_assert_eq(sh("cp -a %s %s", stg, saved), 0);
  finish(&h, 2);
  cr_assert(!cairn_fs_exists(stg), "staging kept after finish");
  cr_assert_eq(durable(&h), 2);
  cr_assert_eq(sh("cp %s %s", tarp, first), 0);
  close_sink(&h);

  /* Crash after the tar's rename, before the staging was dropped, with
   * a half-written temp tar and a half-deleted trash dir around. */
  cr_assert_eq(sh("cp -a %s %s && mkdir %s/2024-05.trash && "
                  "echo junk > %s", saved, stg, stg, ttmp), 0);
  open_sink(&h, "a", pem);
  cr_assert(!cairn_fs_exists(ttmp));
  cr_assert_eq(durable(&h), 2);
  finish(&h, 2);
  cr_assert(same_file(tarp, first), "rebuilt tar differs");
  cr_assert_eq(durable(&h), 2);
  /* Again, with the staging gone: a no-op. */
  finish(&h, 2);
  cr_assert(same_file(tarp, first));
  close_sink(&h);
  free(tarp);
  free(first);
  free(stg);
  free(saved);
  free(ttmp);
}

/* Killed while the trash of the last staged window (or of a re-signed
 * bundle's unpacked parts) was being deleted: the next open deletes the
 * trash, and .staging/ with it when no window is staged, as a finish
 * does; it used to stay behind, empty, for good. */
Test(sink_bundle, open_after_a_crash_in_the_trash_leaves_no_staging)
{
  struct harness h;
  char *tarp = make_bundle("a", pem);
  char *stg = strf("%s/a/evidence/demo/.staging", tmp);

  cr_assert(!cairn_fs_exists(stg));
  cr_assert_eq(sh("mkdir -p %s/2024-05.trash && echo x > "
                  "%s/2024-05.trash/1.ndjson.zst", stg, stg), 0);
  open_sink(&h, "a", pem);
  cr_assert(!cairn_fs_exists(stg), ".staging left behind");
  cr_assert_eq(durable(&h), 3);
  close_sink(&h);
  /* another window still staged: only the trash goes */
  cr_assert_eq(sh("mkdir -p %s/2024-05.trash %s/2024-06", stg, stg), 0);
  open_sink(&h, "a", pem);
  cr_assert(cairn_fs_exists(stg));
  cr_assert_eq(sh("test -d %s/2024-06 && test ! -e %s/2024-05.trash", stg,
                  stg), 0);
  close_sink(&h);
  free(stg);
  free(tarp);
}

Test(sink_bundle, finish_refuses_a_different_window_shape)
{
  struct harness h;
  cairn_err err = {0};

  open_sink(&h, "a", pem);
  load(&h, 1, 3);
  cr_assert_eq(cairn_sink_finish_window(h.sink, &win, 2, lt, &err),
               CAIRN_ESINK);
  cr_assert(strstr(err.msg, "parts 1..1 are staged"), "%s", err.msg);
  close_sink(&h);

  open_sink(&h, "a", pem);
  finish(&h, 1);
  memset(&err, 0, sizeof err);
  cr_assert_eq(cairn_sink_finish_window(h.sink, &win, 1,
                                        "2024-07-01T00:00:00Z", &err),
               CAIRN_ESINK);
  cr_assert(strstr(err.msg, "needs a reset"), "%s", err.msg);
  close_sink(&h);

  open_sink(&h, "a", pem);
  memset(&err, 0, sizeof err);
  cr_assert_eq(cairn_sink_finish_window(h.sink, &win, 1, "yesterday", &err),
               CAIRN_ESINK);
  close_sink(&h);
}

Test(sink_bundle, reset_forgets_a_finished_window)
{
  struct harness h;
  char *tarp = make_bundle("a", pem);
  struct cairn_verify_report rep;
  cairn_err err = {0};

  open_sink(&h, "a", pem);
  cr_assert_eq(durable(&h), 3);
  cr_assert_eq(cairn_sink_reset_window(h.sink, &win, &err), CAIRN_OK);
  cr_assert_eq(durable(&h), 0);
  load(&h, 1, 2);
  finish(&h, 1);
  cr_assert_eq(durable(&h), 1);
  close_sink(&h);
  cr_assert_eq(cairn_bundle_verify(tarp, pub_path, &rep, &err), CAIRN_OK,
               "%s", err.msg);
  cr_assert_eq(rep.n_parts, 1);
  cr_assert_eq(rep.records, 2);
  cairn_verify_report_free(&rep);
  free(tarp);
}

/* ---- finish ----------------------------------------------------------- */

Test(sink_bundle, two_runs_give_the_same_tar)
{
  char *a = make_bundle("a", pem), *b = make_bundle("b", pem);
  char ha[65], hb[65];

  cr_assert_eq(cairn_sha256_file_hex(a, ha), 0);
  cr_assert_eq(cairn_sha256_file_hex(b, hb), 0);
  cr_assert_str_eq(ha, hb);
  free(a);
  free(b);
}

Test(sink_bundle, manifest_describes_the_window)
{
  char *tarp = make_bundle("a", pem);
  struct cairn_buf text = {0};
  cairn_err err = {0};
  json_t *m, *p;

  cr_assert_eq(cairn__bundle_read_manifest(tarp, &text, &err), CAIRN_OK);
  cr_assert_eq(text.data[text.len - 1], '\n');
  m = json_loads(text.data, 0, NULL);
  cr_assert_not_null(m);
  cr_assert_str_eq(json_string_value(json_object_get(m, "format")),
                   CAIRN_BUNDLE_FORMAT);
  cr_assert_str_eq(json_string_value(json_object_get(m, "job")), "demo");
  cr_assert_str_eq(json_string_value(json_object_get(m,
                   "connector_version")), "2.0.1");
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(m,
                   "window"), "start")), "2024-05-01T00:00:00Z");
  cr_assert_str_eq(json_string_value(json_object_get(m, "logical_time")),
                   lt);
  p = json_array_get(json_object_get(m, "parts"), 2);
  cr_assert_str_eq(json_string_value(json_object_get(p, "path")),
                   "parts/2024-05/3.ndjson.zst");
  cr_assert_eq(json_integer_value(json_object_get(p, "records")), 5);
  cr_assert_eq(json_integer_value(json_object_get(json_object_get(m,
               "totals"), "records")), 8);
  cr_assert(json_is_null(json_object_get(m, "recording_sha256")));
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(m,
                   "signature"), "public_key_sha256")), fpr);
  json_decref(m);
  cairn_buf_free(&text);
  free(tarp);
}

Test(sink_bundle, tar_has_fixed_headers_in_fixed_order)
{
  char *tarp = make_bundle("a", pem);
  char *list = strf("%s/list.txt", tmp);
  char *text;

  cr_assert_eq(sh("tar --utc --full-time -tvf %s > %s", tarp, list), 0);
  text = slurp(list, NULL);
  cr_assert(strstr(text, "-rw-r--r-- root/root"), "%s", text);
  cr_assert(strstr(text, "2024-06-01 00:00:00 manifest.json\n"), "%s", text);
  cr_assert(strstr(text, "manifest.json\n") < strstr(text, "manifest.sig\n"));
  cr_assert(strstr(text, "manifest.sig\n") <
            strstr(text, "parts/2024-05/1.ndjson.zst\n"));
  cr_assert(strstr(text, "parts/2024-05/2.ndjson.zst\n") <
            strstr(text, "parts/2024-05/3.ndjson.zst\n"));
  free(text);
  free(list);
  free(tarp);
}

/* ---- stock tools ------------------------------------------------------ */

Test(sink_bundle, stock_tools_accept_the_bundle)
{
  char *tarp = make_bundle("a", pem);
  char *x = strf("%s/x", tmp);

  cr_assert_eq(sh("mkdir %s && tar -xf %s -C %s", x, tarp, x), 0);
  /* Every part: sha256sum, size and zstdcat | jq line count match. */
  cr_assert_eq(sh(
    "cd %s && n=0 && for p in $(jq -r '.parts[].path' manifest.json); do "
    "  m=$(jq -c --arg p \"$p\" '.parts[] | select(.path == $p)' "
    "     manifest.json) && "
    "  test \"$(sha256sum \"$p\" | cut -d' ' -f1)\" = "
    "       \"$(echo \"$m\" | jq -r .sha256)\" && "
    "  test \"$(stat -c %%s \"$p\")\" = \"$(echo \"$m\" | jq -r .bytes)\" && "
    "  test \"$(zstdcat \"$p\" | jq -c . | wc -l)\" = "
    "       \"$(echo \"$m\" | jq -r .records)\" && n=$((n+1)) || exit 1; "
    "done; test $n = 3", x), 0);
  cr_assert_eq(sh("cd %s && openssl pkeyutl -verify -pubin -inkey %s "
                  "-rawin -in manifest.json -sigfile manifest.sig "
                  ">/dev/null", x, pub_path), 0);
  cr_assert_eq(sh("cd %s && test \"$(openssl pkey -pubin -in %s -outform DER"
                  " | sha256sum | cut -d' ' -f1)\" = "
                  "\"$(jq -r .signature.public_key_sha256 manifest.json)\"",
                  x, pub_path), 0);
  /* And the signature does not hold for other bytes. */
  cr_assert_neq(sh("cd %s && echo >> manifest.json && openssl pkeyutl "
                   "-verify -pubin -inkey %s -rawin -in manifest.json "
                   "-sigfile manifest.sig >/dev/null 2>&1", x, pub_path), 0);
  free(x);
  free(tarp);
}

/* ---- verify ----------------------------------------------------------- */

Test(sink_bundle, verify_accepts_a_good_bundle)
{
  char *tarp = make_bundle("a", pem);
  struct cairn_verify_report rep;
  cairn_err err = {0};

  cr_assert_eq(cairn_bundle_verify(tarp, pub_path, &rep, &err), CAIRN_OK,
               "%s", err.msg);
  cr_assert_str_eq(rep.job, "demo");
  cr_assert_str_eq(rep.window, "2024-05");
  cr_assert_str_eq(rep.contract, "cost_record 1.2.0");
  cr_assert_eq(rep.n_parts, 3);
  cr_assert_eq(rep.records, 8);
  cr_assert(rep.is_signed && rep.sig_checked);
  cr_assert_str_eq(rep.key_fingerprint, fpr);
  cairn_verify_report_free(&rep);

  /* Without a key: digests checked, signature not. */
  cr_assert_eq(cairn_bundle_verify(tarp, NULL, &rep, &err), CAIRN_OK);
  cr_assert(rep.is_signed && !rep.sig_checked);
  cairn_verify_report_free(&rep);
  free(tarp);
}

Test(sink_bundle, verify_accepts_a_bundle_repacked_by_stock_tar)
{
  char *tarp = make_bundle("a", pem);
  char *x = strf("%s/x", tmp), *re = strf("%s/re.tar", tmp);
  struct cairn_verify_report rep;
  cairn_err err = {0};

  cr_assert_eq(sh("mkdir %s && tar -xf %s -C %s && tar -cf %s -C %s .",
                  x, tarp, x, re, x), 0);
  cr_assert_eq(cairn_bundle_verify(re, pub_path, &rep, &err), CAIRN_OK,
               "%s", err.msg);
  cairn_verify_report_free(&rep);
  /* pax format: an 'x' header (atime, ctime) before every entry */
  cr_assert_eq(sh("tar --format=posix -cf %s -C %s . && "
                  "grep -qa PaxHeaders %s", re, x, re), 0);
  cr_assert_eq(cairn_bundle_verify(re, pub_path, &rep, &err), CAIRN_OK,
               "%s", err.msg);
  cairn_verify_report_free(&rep);
  free(x);
  free(re);
  free(tarp);
}

Test(sink_bundle, verify_names_a_flipped_byte)
{
  char *tarp = make_bundle("a", pem);
  expect_tamper(tarp, T_FLIP, "parts/2024-05/3.ndjson.zst", NULL, pub_path,
                "parts/2024-05/3.ndjson.zst: sha256 mismatch (manifest ");
  free(tarp);
}

Test(sink_bundle, verify_names_a_removed_part)
{
  char *tarp = make_bundle("a", pem);
  expect_tamper(tarp, T_DROP, "parts/2024-05/2.ndjson.zst", NULL, pub_path,
                "parts/2024-05/2.ndjson.zst: listed in manifest but missing "
                "from bundle");
  free(tarp);
}

Test(sink_bundle, verify_names_an_added_file)
{
  char *tarp = make_bundle("a", pem);
  expect_tamper(tarp, T_ADD, "extra.txt", "hello\n", pub_path,
                "extra.txt: not listed in manifest");
  /* A part appended twice: extraction would take the second copy. */
  expect_tamper(tarp, T_ADD, "parts/2024-05/1.ndjson.zst", "x", NULL,
                "parts/2024-05/1.ndjson.zst: appears more than once");
  free(tarp);
}

Test(sink_bundle, verify_names_an_edited_manifest)
{
  char *tarp = make_bundle("a", pem);
  struct cairn_buf text = {0};
  cairn_err err = {0};
  char *p, *want;

  cr_assert_eq(cairn__bundle_read_manifest(tarp, &text, &err), CAIRN_OK);
  p = strstr(text.data, "\"records\": 3");
  cr_assert_not_null(p);
  p[11] = '4';
  want = strf("manifest.sig: signature does not verify with key %s", fpr);
  expect_tamper(tarp, T_REPLACE, "manifest.json", text.data, pub_path, want);
  expect_tamper(tarp, T_REPLACE, "manifest.json", text.data, NULL,
                "parts/2024-05/1.ndjson.zst: record count mismatch "
                "(manifest 4, actual 3)");
  expect_tamper(tarp, T_REPLACE, "manifest.json", "{\"job\": ", NULL,
                "manifest.json: not valid JSON");
  expect_tamper(tarp, T_DROP, "manifest.json", NULL, NULL,
                "manifest.json: missing from bundle");
  expect_tamper(tarp, T_DROP, "manifest.sig", NULL, pub_path,
                "manifest.sig: listed in manifest but missing from bundle");
  free(want);
  cairn_buf_free(&text);
  free(tarp);
}

/* A flipped byte in a part's tar header breaks the header's checksum:
 * libarchive says "Damaged tar archive" (ARCHIVE_RETRY). That is the
 * archive-level problem, not an entry with an empty name. */
Test(sink_bundle, verify_names_a_damaged_tar_header)
{
  char *tarp = make_bundle("a", pem), *bad = strf("%s/bad.tar", tmp);
  struct cairn_verify_report rep;
  cairn_err err = {0};
  size_t n, at;
  char *data = slurp(tarp, &n);
  FILE *fp;

  for (at = 0; at < n; at += 512)
    if (strncmp(data + at, "parts/2024-05/2.ndjson.zst", 26) == 0)
      break;
  cr_assert_lt(at, n, "no header of part 2");
  data[at + 3] ^= 0x01;
  fp = fopen(bad, "wb");
  cr_assert_not_null(fp);
  cr_assert_eq(fwrite(data, 1, n, fp), n);
  fclose(fp);
  cr_assert_eq(cairn_bundle_verify(bad, pub_path, &rep, &err),
               CAIRN_EVERIFY);
  dump_problems(&rep);
  cr_assert(has_problem(&rep, "bad.tar: not a readable tar archive "
                        "(Damaged tar archive)"), "%s", err.msg);
  for (size_t i = 0; i < rep.n_problems; i++)
    cr_assert_neq(rep.problems[i][0], ':', "empty entry name: %s",
                  rep.problems[i]);
  cairn_verify_report_free(&rep);
  free(data);
  free(bad);
  free(tarp);
}

/* A bundle cut short in its last 1024 bytes (the end-of-archive marker)
 * holds every entry whole, and libarchive, like GNU tar, takes the end of
 * the file for the end of the archive: it is still not the file that was
 * written (its sha256 is not the run's), and verify says so. (A cut inside
 * the first zero block is libarchive's "Truncated tar archive".) */
Test(sink_bundle, verify_names_a_tar_cut_in_its_end_marker)
{
  char *tarp = make_bundle("a", pem), *cut = strf("%s/cut.tar", tmp);
  struct cairn_verify_report rep;
  cairn_err err = {0};
  size_t n;
  char *data = slurp(tarp, &n);
  const size_t keep[] = { n - 1024, n - 512, n - 300, n - 1 };

  cr_assert_eq(memcmp(data + n - 1024, (char[1024]){0}, 1024), 0,
               "the bundle does not end with two zero blocks");
  for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
    FILE *fp = fopen(cut, "wb");
    cr_assert_not_null(fp);
    cr_assert_eq(fwrite(data, 1, keep[i], fp), keep[i]);
    fclose(fp);
    cr_assert_eq(cairn_bundle_verify(cut, pub_path, &rep, &err),
                 CAIRN_EVERIFY, "cut to %zu of %zu bytes verifies", keep[i],
                 n);
    cr_assert_eq(rep.n_problems, 1);
    cr_assert(has_problem(&rep, "cut.tar: truncated: the end-of-archive "
                          "marker (two zero blocks from offset "),
              "%s", rep.problems[0]);
    cairn_verify_report_free(&rep);
  }
  free(data);
  free(cut);
  free(tarp);
}

Test(sink_bundle, verify_names_a_wrong_public_key)
{
  char *tarp = make_bundle("a", pem);
  EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  char other_fpr[65], *want, *other_pub;
  struct cairn_verify_report rep;
  cairn_err err = {0};

  other_pub = write_pubkey(other, "other.pem", other_fpr);
  EVP_PKEY_free(other);
  want = strf("manifest.sig: signature does not verify with key %s "
              "(manifest names key %s)", other_fpr, fpr);
  cr_assert_eq(cairn_bundle_verify(tarp, other_pub, &rep, &err),
               CAIRN_EVERIFY);
  cr_assert(has_problem(&rep, want), "%s", err.msg);
  cr_assert_eq(rep.n_problems, 1);
  cairn_verify_report_free(&rep);
  free(want);
  free(other_pub);
  free(tarp);
}

Test(sink_bundle, verify_reports_usage_problems)
{
  char *tarp = make_bundle("a", pem);
  char *junk = strf("%s/junk.tar", tmp), *nokey = strf("%s/nokey", tmp);
  struct cairn_verify_report rep;
  cairn_err err = {0};

  cr_assert_eq(cairn_bundle_verify("/nonexistent.tar", NULL, &rep, &err),
               CAIRN_EIO);
  cairn_verify_report_free(&rep);
  spit(nokey, "not a key\n");
  memset(&err, 0, sizeof err);
  cr_assert_eq(cairn_bundle_verify(tarp, nokey, &rep, &err), CAIRN_EUSAGE);
  cairn_verify_report_free(&rep);
  spit(junk, "this is not a tar archive at all\n");
  memset(&err, 0, sizeof err);
  cr_assert_eq(cairn_bundle_verify(junk, NULL, &rep, &err), CAIRN_EVERIFY);
  cr_assert(has_problem(&rep, "not a readable tar archive"), "%s", err.msg);
  cairn_verify_report_free(&rep);
  free(junk);
  free(nokey);
  free(tarp);
}

/* ---- unsigned, replayed and empty bundles ----------------------------- */

Test(sink_bundle, unsigned_bundle_verifies_without_a_key_only)
{
  char *tarp = make_bundle("a", NULL);
  struct cairn_buf text = {0};
  struct cairn_verify_report rep;
  cairn_err err = {0};
  json_t *m;

  cr_assert_eq(cairn__bundle_read_manifest(tarp, &text, &err), CAIRN_OK);
  m = json_loads(text.data, 0, NULL);
  cr_assert(json_is_null(json_object_get(m, "signature")));
  json_decref(m);
  cr_assert_neq(sh("tar -tf %s | grep -q manifest.sig", tarp), 0);
  cr_assert_eq(cairn_bundle_verify(tarp, NULL, &rep, &err), CAIRN_OK,
               "%s", err.msg);
  cr_assert(!rep.is_signed);
  cr_assert_str_eq(rep.key_fingerprint, "");
  cairn_verify_report_free(&rep);
  cr_assert_eq(cairn_bundle_verify(tarp, pub_path, &rep, &err),
               CAIRN_EVERIFY);
  cr_assert(has_problem(&rep, "manifest.json: bundle is unsigned"));
  cairn_verify_report_free(&rep);
  /* An unsigned bundle with a signature file slipped in. */
  expect_tamper(tarp, T_ADD, "manifest.sig", "0123456789", NULL,
                "manifest.sig: not listed in manifest");
  cairn_buf_free(&text);
  free(tarp);
}

Test(sink_bundle, require_signature_refuses_to_open_without_a_key)
{
  struct cairn_sink_ctx ctx = {0};
  cairn_sink *s = NULL;
  cairn_err err = {0};
  json_t *cfg = json_pack("{s:s, s:b}", "type", "bundle",
                          "require_signature", 1);

  ctx.job = "demo";
  ctx.sink_name = "evidence";
  ctx.cfg = cfg;
  ctx.out_dir = tmp;
  ctx.contract = &contract;
  cr_assert_eq(cairn_sink_open(&cairn_sink_bundle_ops, &ctx, &s, &err),
               CAIRN_EUSAGE);
  cr_assert_null(s);
  cr_assert(strstr(err.msg, "EVIDENCE_SIGNING_KEY is not"), "%s", err.msg);
  /* Set but empty (CAIRN_SECRET_EVIDENCE_SIGNING_KEY="$(cat key.pem)" of
   * a file the user cannot read): refused too, saying so rather than
   * that it is not set. */
  ctx.secret = secret_fn;
  ctx.secret_ud = (void *)"";
  memset(&err, 0, sizeof err);
  cr_assert_eq(cairn_sink_open(&cairn_sink_bundle_ops, &ctx, &s, &err),
               CAIRN_EUSAGE);
  cr_assert(strstr(err.msg, "the secret EVIDENCE_SIGNING_KEY is empty"),
            "%s", err.msg);
  /* A secret that is not an Ed25519 PEM key: a configuration error too
   * (retrying cannot help). */
  ctx.secret = secret_fn;
  ctx.secret_ud = (void *)"-----BEGIN PRIVATE KEY-----\nAAAA\n";
  memset(&err, 0, sizeof err);
  cr_assert_eq(cairn_sink_open(&cairn_sink_bundle_ops, &ctx, &s, &err),
               CAIRN_EUSAGE);
  cr_assert(strstr(err.msg, "-----") == NULL, "key text in: %s", err.msg);
  json_decref(cfg);
}

Test(sink_bundle, replayed_run_names_the_recording)
{
  struct harness h;
  char *tarp;
  struct cairn_verify_report rep;
  cairn_err err = {0};
  const char *rec =
      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

  open_sink(&h, "a", pem);
  h.ctx.recording_sha256 = rec;
  load(&h, 1, 1);
  finish(&h, 1);
  close_sink(&h);
  tarp = tar_of("a");
  cr_assert_eq(cairn_bundle_verify(tarp, pub_path, &rep, &err), CAIRN_OK);
  cr_assert_str_eq(rep.recording_sha256, rec);
  cairn_verify_report_free(&rep);
  free(tarp);
}

Test(sink_bundle, empty_window_gets_an_empty_bundle)
{
  struct harness h;
  char *tarp;
  struct cairn_verify_report rep;
  cairn_err err = {0};

  open_sink(&h, "a", pem);
  cr_assert_eq(durable(&h), 0);
  finish(&h, 0);
  finish(&h, 0);
  cr_assert_eq(durable(&h), 0);
  close_sink(&h);
  tarp = tar_of("a");
  cr_assert_eq(cairn_bundle_verify(tarp, pub_path, &rep, &err), CAIRN_OK,
               "%s", err.msg);
  cr_assert_eq(rep.n_parts, 0);
  cairn_verify_report_free(&rep);
  free(tarp);
}

/* ---- configuration ---------------------------------------------------- */

Test(sink_bundle, check_points_at_the_bad_key)
{
  const char *ptr = NULL;
  cairn_err err = {0};
  json_t *cfg = json_pack("{s:s, s:i}", "type", "bundle", "level", 0);

  cr_assert_eq(cairn_sink_bundle_ops.check(cfg, NULL, &ptr, &err),
               CAIRN_EUSAGE);
  cr_assert_str_eq(ptr, "/level");
  json_decref(cfg);
  cfg = json_pack("{s:s, s:s}", "dir", "a", "path", "b");
  memset(&err, 0, sizeof err);
  cr_assert_eq(cairn_sink_bundle_ops.check(cfg, NULL, &ptr, &err),
               CAIRN_EUSAGE);
  cr_assert_str_eq(ptr, "/path");
  json_decref(cfg);
  cfg = json_pack("{s:s, s:i, s:b}", "dir", "/abs", "level", 19,
                  "require_signature", 0);
  cr_assert_eq(cairn_sink_bundle_ops.check(cfg, NULL, &ptr, &err), CAIRN_OK);
  json_decref(cfg);
  cfg = json_pack("{s:s}", "level", "7");
  cr_assert_eq(cairn_sink_bundle_ops.check(cfg, NULL, &ptr, &err), CAIRN_OK);
  json_decref(cfg);
  cfg = json_pack("{s:s}", "level", "7x");
  cr_assert_eq(cairn_sink_bundle_ops.check(cfg, NULL, &ptr, &err),
               CAIRN_EUSAGE);
  json_decref(cfg);
}

Test(sink_bundle, level_changes_the_bytes_but_not_the_records)
{
  struct harness a, b;
  char *pa = staged("a", "1.ndjson.zst"), *pb = staged("b", "1.ndjson.zst");

  open_sink(&a, "a", NULL);
  /* Same data at level 19 through the "path" alias. */
  memset(&b, 0, sizeof b);
  b.out_dir = strf("%s/b", tmp);
  b.cfg = json_pack("{s:s, s:i}", "path", "evidence", "level", 19);
  b.ctx = a.ctx;
  b.ctx.cfg = b.cfg;
  b.ctx.out_dir = b.out_dir;
  {
    cairn_err err = {0};
    cr_assert_eq(cairn_sink_open(&cairn_sink_bundle_ops, &b.ctx, &b.sink,
                                 &err), CAIRN_OK, "%s", err.msg);
  }
  load(&a, 1, 200);
  load(&b, 1, 200);
  cr_assert_eq(sh("cmp -s %s %s", pa, pb), 1);
  cr_assert_eq(sh("test \"$(zstdcat %s | sha256sum)\" = "
                  "\"$(zstdcat %s | sha256sum)\"", pa, pb), 0);
  close_sink(&a);
  close_sink(&b);
  free(pa);
  free(pb);
}

Test(sink_bundle, refuses_unsafe_names_and_bad_text)
{
  struct harness h;
  struct cairn_window bad = { "../x", "", "", "", "" };
  struct cairn_contract c2 = contract;
  cairn_err err = {0};
  long seq;

  open_sink(&h, "a", pem);
  cr_assert_eq(cairn_sink_durable_seq(h.sink, &bad, &seq, &err),
               CAIRN_EINTERNAL);
  close_sink(&h);

  /* A contract name that is not UTF-8 cannot go into the manifest. */
  c2.name = "cost\xff";
  open_sink(&h, "a", pem);
  h.ctx.contract = &c2;
  load(&h, 1, 1);
  memset(&err, 0, sizeof err);
  cr_assert_eq(cairn_sink_finish_window(h.sink, &win, 1, lt, &err),
               CAIRN_ESINK);
  cr_assert(strstr(err.msg, "UTF-8"), "%s", err.msg);
  close_sink(&h);
}

/* ---- the NDJSON encoder ---------------------------------------------- */

/* The sink's own encoder must give exactly cairn_batch_row_json's bytes:
 * every value type, every byte value in strings (escapes at every offset
 * of the 16-byte scan), extreme integers, empty and NULL values, and a
 * field name that needs escaping. */
Test(sink_bundle, parts_hold_exactly_cairn_batch_row_json)
{
  static struct cairn_field f2[] = {
    { "s", CAIRN_F_STRING, 0, 0 },
    { "a\"b\\c\x01", CAIRN_F_STRING, 0, 0 },
    { "n", CAIRN_F_NUMBER, 0, 0 },
    { "i", CAIRN_F_INTEGER, 0, 0 },
    { "B", CAIRN_F_BOOLEAN, 0, 0 },
    { "j", CAIRN_F_OBJECT, 0, 0 },
    { "z", CAIRN_F_STRING, 0, 0 },
  };
  static const int64_t ints[] = { 0, -1, 9, 10, -10, INT64_MAX, INT64_MIN,
                                  1234567890123LL };
  struct cairn_contract c2 = contract;
  struct cairn_batch *b = cairn_batch_create(7);
  struct cairn_buf want = {0};
  struct harness h;
  size_t *order;
  char *part = staged("a", "1.ndjson.zst"), *out = strf("%s/x.ndjson", tmp);
  char *got;
  size_t n_got;
  unsigned seed = 12345;
  cairn_err err = {0};

  c2.n_fields = 7;
  c2.fields = f2;
  for (size_t r = 0; r < 600; r++) {
    struct cairn_value *v = cairn_batch_add_row(b);
    char text[200];
    size_t n = r % 150;
    for (size_t i = 0; i < n; i++) {
      seed = seed * 1103515245u + 12345u;
      /* mostly plain text, some of every byte value */
      text[i] = (seed >> 16) % 7 ? (char)('a' + (seed >> 8) % 26)
                                 : (char)((seed >> 20) & 0xff);
    }
    cairn_value_set_text(b, &v[0], CAIRN_V_STR, text, n);
    if (r % 3)
      cairn_value_set_text(b, &v[1], CAIRN_V_STR, text + n / 2, n - n / 2);
    if (r % 4)
      cairn_value_set_text(b, &v[2], CAIRN_V_NUM, "-12.5e3", 7);
    v[3].type = CAIRN_V_INT;
    v[3].i = ints[r % 8];
    v[4].type = r % 5 ? CAIRN_V_BOOL : CAIRN_V_NULL;
    v[4].i = (int64_t)(r % 2);
    if (r % 2)
      cairn_value_set_text(b, &v[5], CAIRN_V_JSON, "[1,{\"k\":null}]", 14);
    cairn_value_set_text(b, &v[6], CAIRN_V_STR, "", 0);
  }
  order = cairn_contract_sorted_order(&c2);
  for (size_t r = 0; r < b->n_rows; r++) {
    cairn_batch_row_json(b, &c2, order, r, &want);
    cairn_buf_putc(&want, '\n');
  }

  /* The harness opens with its own contract: reopen with this one. */
  open_sink(&h, "a", pem);
  cairn_sink_close(h.sink);
  h.ctx.contract = &c2;
  cr_assert_eq(cairn_sink_open(&cairn_sink_bundle_ops, &h.ctx, &h.sink,
                               &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_sink_load(h.sink, &win, 1, b, &err), CAIRN_OK, "%s",
               err.msg);
  cr_assert_eq(sh("zstd -dq -o %s %s", out, part), 0);
  got = slurp(out, &n_got);
  cr_assert_eq(n_got, want.len);
  cr_assert(memcmp(got, want.data, want.len) == 0, "encoders differ");
  free(got);
  close_sink(&h);
  cairn_buf_free(&want);
  cairn_batch_free(b);
  free(order);
  free(part);
  free(out);
}

/* ---- part descriptions: from memory or read back ----------------------- */

/* A window loaded partly by one process and finished by another (parts
 * read back and parts described from memory) gives the same tar as one
 * process doing it all. */
Test(sink_bundle, resumed_window_gives_the_same_tar)
{
  struct harness h;
  char *a = tar_of("a"), *b = tar_of("b");

  open_sink(&h, "a", pem);
  load(&h, 1, 3);
  load(&h, 2, 0);
  load(&h, 3, 5);
  finish(&h, 3);
  close_sink(&h);

  open_sink(&h, "b", pem);
  load(&h, 1, 3);
  load(&h, 2, 7); /* replaced below, after a "crash" */
  close_sink(&h);
  open_sink(&h, "b", pem);
  cr_assert_eq(durable(&h), 2);
  {
    cairn_err err = {0};
    cr_assert_eq(cairn_sink_reset_window(h.sink, &win, &err), CAIRN_OK);
  }
  load(&h, 1, 3);
  close_sink(&h);
  open_sink(&h, "b", pem);
  cr_assert_eq(durable(&h), 1);
  load(&h, 2, 0);
  load(&h, 3, 5);
  finish(&h, 3);
  close_sink(&h);
  cr_assert(same_file(a, b), "resumed window differs");
  free(a);
  free(b);
}

/* A staged part changed on disk after it was written (same size) is not
 * packed under the digest recorded while writing it. */
Test(sink_bundle, finish_refuses_a_part_damaged_after_writing)
{
  struct harness h;
  char *part = staged("a", "1.ndjson.zst"), *tarp = tar_of("a");
  cairn_err err = {0};

  open_sink(&h, "a", pem);
  load(&h, 1, 3);
  cr_assert_eq(sh("printf 'X' | dd of=%s bs=1 seek=20 conv=notrunc "
                  "status=none", part), 0);
  cr_assert_eq(cairn_sink_finish_window(h.sink, &win, 1, lt, &err),
               CAIRN_ESINK);
  cr_assert(strstr(err.msg, "damaged"), "%s", err.msg);
  cr_assert(!cairn_fs_exists(tarp), "a tar was written");
  close_sink(&h);
  free(part);
  free(tarp);
}

/* A private key as the PEM secret, and its public key file. */
static char *new_key(const char *pub_name, char **pub_out)
{
  EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  BIO *bio = BIO_new(BIO_s_mem());
  char *data, *out;
  long n;

  cr_assert_not_null(k);
  cr_assert_eq(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL),
               1);
  n = BIO_get_mem_data(bio, &data);
  out = cairn_xstrndup(data, (size_t)n);
  BIO_free(bio);
  *pub_out = write_pubkey(k, pub_name, NULL);
  EVP_PKEY_free(k);
  return out;
}

/* A run killed after the tar was written but before the window was
 * recorded finishes the window again. If it now has a key (require_
 * signature was set) or another key (rotated), the tar is re-signed from
 * its own parts: the same bytes as a run with that key from the start. */
Test(sink_bundle, finish_again_resigns_with_the_current_key)
{
  struct harness h;
  char *tarp = make_bundle("a", NULL), *pub2, *pem2 = new_key("pub2.pem",
                                                              &pub2);
  char *ref = make_bundle("ref", pem), *ref2 = make_bundle("ref2", pem2);
  char *stg = strf("%s/a/evidence/demo/.staging", tmp);
  struct cairn_verify_report rep;
  cairn_err err = {0};

  /* unsigned, finished again with a key */
  open_sink(&h, "a", pem);
  cr_assert_eq(durable(&h), 3);
  finish(&h, 3);
  close_sink(&h);
  cr_assert(same_file(tarp, ref), "re-signed tar differs from a signed run");
  cr_assert(!cairn_fs_exists(stg), "unpacked parts left behind");
  cr_assert_eq(cairn_bundle_verify(tarp, pub_path, &rep, &err), CAIRN_OK,
               "%s", err.msg);
  cairn_verify_report_free(&rep);

  /* the key rotated */
  open_sink(&h, "a", pem2);
  finish(&h, 3);
  close_sink(&h);
  cr_assert(same_file(tarp, ref2), "tar re-signed after a rotation differs");
  cr_assert_eq(cairn_bundle_verify(tarp, pub2, &rep, &err), CAIRN_OK,
               "%s", err.msg);
  cairn_verify_report_free(&rep);

  /* the same key again, or none: a no-op (a signature is never dropped) */
  open_sink(&h, "a", pem2);
  finish(&h, 3);
  close_sink(&h);
  open_sink(&h, "a", NULL);
  finish(&h, 3);
  close_sink(&h);
  cr_assert(same_file(tarp, ref2), "finishing again changed the tar");
  free(tarp);
  free(ref);
  free(ref2);
  free(stg);
  free(pem2);
  free(pub2);
}

/* A finished bundle is re-signed only when it verifies: a part damaged
 * inside the tar is refused, and the tar stays as it was. */
Test(sink_bundle, resigning_refuses_a_damaged_bundle)
{
  struct harness h;
  char *tarp = make_bundle("a", NULL), *copy = strf("%s/copy.tar", tmp);
  cairn_err err = {0};
  size_t n, at;
  char *data = slurp(tarp, &n);

  for (at = 0; at < n; at += 512)
    if (strncmp(data + at, "parts/2024-05/3.ndjson.zst", 26) == 0)
      break;
  cr_assert_lt(at, n);
  free(data);
  cr_assert_eq(sh("printf 'X' | dd of=%s bs=1 seek=%zu conv=notrunc "
                  "status=none && cp %s %s", tarp, at + 512 + 20, tarp,
                  copy), 0);
  open_sink(&h, "a", pem);
  cr_assert_eq(cairn_sink_finish_window(h.sink, &win, 3, lt, &err),
               CAIRN_ESINK);
  cr_assert(strstr(err.msg, "cannot be re-signed: it does not verify "
                   "(parts/2024-05/3.ndjson.zst: sha256 mismatch"),
            "%s", err.msg);
  close_sink(&h);
  cr_assert(same_file(tarp, copy), "a damaged bundle was rewritten");
  free(tarp);
  free(copy);
}

/* ---- the window "all": one bundle per run ----------------------------- */

static const struct cairn_window win_all = { "all", "", "", "", "" };

/* Paths the tests below make, freed together at their end. */
static char *owned[16];
static size_t n_owned;

static void free_owned(void)
{
  while (n_owned)
    free(owned[--n_owned]);
}

static char *own(char *p)
{
  cr_assert_lt(n_owned, sizeof owned / sizeof *owned);
  return owned[n_owned++] = p;
}

/* <tmp>/<sub>/evidence/demo/<name>, an owned path */
static char *in_job_dir(const char *sub, const char *name)
{
  return own(strf("%s/%s/evidence/demo/%s", tmp, sub, name));
}

/* The window "all" loaded again (a new attempt: reset first) with one
 * chunk of n_rows rows, finished at logical time at. */
static void run_all(struct harness *h, size_t n_rows, const char *at)
{
  cairn_err err = {0};
  cr_assert_eq(cairn_sink_reset_window(h->sink, &win_all, &err), CAIRN_OK,
               "%s", err.msg);
  cr_assert_eq(durable_in(h, &win_all), 0);
  load_in(h, &win_all, 1, n_rows);
  finish_in(h, &win_all, 1, at);
}

/* How many bundles the job dir holds. */
static int n_tars(const char *sub)
{
  return sh("exit $(ls %s/%s/evidence/demo | grep -c '\\.tar$')", tmp, sub);
}

static void expect_output(struct harness *h, const char *tarp)
{
  json_t *o = json_object();
  cairn_sink_outputs(h->sink, &win_all, o);
  cr_assert_str_eq(json_string_value(json_object_get(o, "bundle")), tarp);
  json_decref(o);
}

Test(sink_bundle, window_all_gets_a_bundle_per_logical_time)
{
  struct harness h;
  char *a = in_job_dir("a", "demo-all-20240601T040000Z.tar");
  char *b = in_job_dir("a", "demo-all-20240602T020000Z.tar");
  char *old = in_job_dir("a", "demo-all.tar"), *a1 = own(strf("%s/a1", tmp));
  struct cairn_verify_report rep;
  cairn_err err = {0};

  open_sink(&h, "a", pem);
  run_all(&h, 3, "2024-06-01T04:00:00Z");
  cr_assert(cairn_fs_exists(a), "%s", a);
  cr_assert(!cairn_fs_exists(old));
  cr_assert_eq(sh("cp %s %s", a, a1), 0);
  /* finished: the bundle answers, and finishing again is a no-op */
  cr_assert_eq(durable_in(&h, &win_all), 1);
  finish_in(&h, &win_all, 1, "2024-06-01T04:00:00Z");
  expect_output(&h, a);
  close_sink(&h);

  /* the next run, other records at another time (an offset: named in
   * UTC): a second bundle, the first one kept */
  open_sink(&h, "a", pem);
  cr_assert_eq(durable_in(&h, &win_all), 1);
  run_all(&h, 5, "2024-06-02T04:00:00+02:00");
  cr_assert(cairn_fs_exists(b), "%s", b);
  cr_assert(same_file(a, a1), "the first run's bundle changed");
  cr_assert_eq(durable_in(&h, &win_all), 1);
  expect_output(&h, b);
  cr_assert_eq(cairn_bundle_verify(b, pub_path, &rep, &err), CAIRN_OK,
               "%s", err.msg);
  cr_assert_eq(rep.records, 5);
  cr_assert_str_eq(rep.logical_time, "2024-06-02T04:00:00+02:00");
  cairn_verify_report_free(&rep);

  /* the first input again: the same file, not a third */
  run_all(&h, 3, "2024-06-01T04:00:00Z");
  cr_assert(same_file(a, a1), "a rerun of the same input differs");
  expect_output(&h, a);
  cr_assert_eq(n_tars("a"), 2);
  close_sink(&h);
  free_owned();
}

/* Two inputs with one logical time (a file source without logical_time
 * always has 1970-01-01): the second bundle takes the next number and
 * never replaces the first; each input keeps finding its own. */
Test(sink_bundle, window_all_never_replaces_other_records_of_its_time)
{
  struct harness h;
  const char *t0 = "1970-01-01T00:00:00Z";
  char *one = in_job_dir("a", "demo-all-19700101T000000Z.tar");
  char *two = in_job_dir("a", "demo-all-19700101T000000Z-2.tar");
  char *three = in_job_dir("a", "demo-all-19700101T000000Z-3.tar");
  char *one1 = own(strf("%s/one1", tmp)), *two1 = own(strf("%s/two1", tmp));
  char *three1 = own(strf("%s/three1", tmp));
  char *stg = in_job_dir("a", ".staging"), *saved = own(strf("%s/saved", tmp));
  char *latest = in_job_dir("a", ".all.latest");
  cairn_err err = {0};

  open_sink(&h, "a", NULL);
  run_all(&h, 3, t0);
  run_all(&h, 5, t0);
  cr_assert(cairn_fs_exists(two), "%s", two);
  cr_assert_eq(sh("cp %s %s && cp %s %s", one, one1, two, two1), 0);
  run_all(&h, 5, t0);
  run_all(&h, 3, t0);
  cr_assert_eq(n_tars("a"), 2);
  cr_assert(same_file(one, one1) && same_file(two, two1));
  expect_output(&h, one);

  /* A third input, killed after its tar was written but before its name
   * was recorded and the staging went: finished again under that name. */
  cr_assert_eq(cairn_sink_reset_window(h.sink, &win_all, &err), CAIRN_OK);
  load_in(&h, &win_all, 1, 4);
  cr_assert_eq(sh("cp -a %s %s", stg, saved), 0);
  finish_in(&h, &win_all, 1, t0);
  close_sink(&h);
  cr_assert_eq(sh("cp %s %s && rm %s && cp -a %s %s", three, three1, latest,
                  saved, stg), 0);
  open_sink(&h, "a", NULL);
  cr_assert_eq(durable_in(&h, &win_all), 1);
  finish_in(&h, &win_all, 1, t0);
  cr_assert(same_file(three, three1), "the resumed finish differs");
  cr_assert_eq(n_tars("a"), 3);
  expect_output(&h, three);
  close_sink(&h);
  free_owned();
}

/* A cairn from before per-run names killed between its tar's rename
 * (<job>-all.tar) and dropping the staging: the resumed attempt finishes
 * that bundle, not a second one of the same records beside it. A bundle
 * of other records under that name is left alone. */
Test(sink_bundle, window_all_legacy_tar_beside_its_staging_is_finished_there)
{
  struct harness h;
  const char *at = "2024-06-01T04:00:00Z";
  char *a = in_job_dir("a", "demo-all-20240601T040000Z.tar");
  char *old = in_job_dir("a", "demo-all.tar"), *old1 = own(strf("%s/old1", tmp));
  char *stg = in_job_dir("a", ".staging"), *saved = own(strf("%s/saved", tmp));
  char *latest = in_job_dir("a", ".all.latest");
  cairn_err err = {0};

  open_sink(&h, "a", NULL);
  cr_assert_eq(cairn_sink_reset_window(h.sink, &win_all, &err), CAIRN_OK,
               "%s", err.msg);
  load_in(&h, &win_all, 1, 3);
  cr_assert_eq(sh("cp -a %s %s", stg, saved), 0);
  finish_in(&h, &win_all, 1, at);
  close_sink(&h);
  cr_assert_eq(sh("mv %s %s && rm %s && cp -a %s %s && cp %s %s", a, old,
                  latest, saved, stg, old, old1), 0);
  open_sink(&h, "a", NULL);
  cr_assert_eq(durable_in(&h, &win_all), 1);
  finish_in(&h, &win_all, 1, at);
  cr_assert_eq(n_tars("a"), 1);
  cr_assert(!cairn_fs_exists(a), "a second bundle of the same records");
  cr_assert(same_file(old, old1), "the finished bundle differs");
  expect_output(&h, old);
  /* the next run, other records: a bundle of its own, the old one kept */
  run_all(&h, 5, at);
  cr_assert(cairn_fs_exists(a), "%s", a);
  cr_assert(same_file(old, old1), "the older bundle changed");
  cr_assert_eq(n_tars("a"), 2);
  close_sink(&h);
  free_owned();
}

/* Killed once the tar was written, resumed with a key: re-signed under
 * its own name. A bundle from before per-run names (<job>-all.tar, no
 * latest file) still answers for a window it finished. */
Test(sink_bundle, window_all_resigned_and_legacy_bundles_keep_their_names)
{
  struct harness h;
  const char *at = "2024-06-01T04:00:00Z";
  char *a = in_job_dir("a", "demo-all-20240601T040000Z.tar");
  char *ref = in_job_dir("ref", "demo-all-20240601T040000Z.tar");
  char *old = in_job_dir("a", "demo-all.tar");
  char *latest = in_job_dir("a", ".all.latest"), *pem2, *pub2;
  struct cairn_verify_report rep;
  cairn_err err = {0};

  open_sink(&h, "ref", pem);
  run_all(&h, 3, at);
  close_sink(&h);
  open_sink(&h, "a", NULL);
  run_all(&h, 3, at);
  close_sink(&h);
  open_sink(&h, "a", pem);
  cr_assert_eq(durable_in(&h, &win_all), 1);
  finish_in(&h, &win_all, 1, at);
  close_sink(&h);
  cr_assert(same_file(a, ref), "the re-signed bundle differs");
  cr_assert_eq(n_tars("a"), 1);
  cr_assert_eq(cairn_bundle_verify(a, pub_path, &rep, &err), CAIRN_OK,
               "%s", err.msg);
  cairn_verify_report_free(&rep);

  /* legacy, and re-signed there after a key rotation */
  cr_assert_eq(rename(a, old), 0);
  cr_assert_eq(unlink(latest), 0);
  open_sink(&h, "a", pem);
  cr_assert_eq(durable_in(&h, &win_all), 1);
  finish_in(&h, &win_all, 1, at);
  expect_output(&h, old);
  close_sink(&h);
  pem2 = own(new_key("pub2.pem", &pub2));
  own(pub2);
  open_sink(&h, "a", pem2);
  finish_in(&h, &win_all, 1, at);
  cr_assert_eq(durable_in(&h, &win_all), 1);
  expect_output(&h, old);
  close_sink(&h);
  cr_assert_eq(n_tars("a"), 1);
  cr_assert_eq(cairn_bundle_verify(old, pub2, &rep, &err), CAIRN_OK,
               "%s", err.msg);
  cairn_verify_report_free(&rep);
  free_owned();
}

/* ---- the file name ---------------------------------------------------- */

/* verify of the bundle at tarp copied to <tmp>/ren/<name>: CAIRN_OK, or
 * CAIRN_EVERIFY with a problem saying the name is another bundle's. */
static int verify_as(const char *tarp, const char *name)
{
  char *dir = strf("%s/ren", tmp), *to = strf("%s/%s", dir, name);
  struct cairn_verify_report rep;
  cairn_err err = {0};
  int rc;

  cr_assert_eq(sh("mkdir -p %s && cp %s '%s'", dir, tarp, to), 0);
  rc = cairn_bundle_verify(to, pub_path, &rep, &err);
  if (rc != CAIRN_OK) {
    dump_problems(&rep);
    cr_assert_eq(rc, CAIRN_EVERIFY, "%s: %s", name, err.msg);
    cr_assert_eq(rep.n_problems, 1, "%s: %s", name, err.msg);
    cr_assert(has_problem(&rep, ": its name is that of the bundle of job "),
              "%s: %s", name, rep.problems[0]);
  }
  cairn_verify_report_free(&rep);
  free(to);
  free(dir);
  return rc;
}

/* The file name is not signed, and a copy under a name of its own
 * verifies. But a name the sink gives says whose bundle it is (job,
 * window, and for the window all the logical time): another window's or
 * another run's bundle renamed to it does not verify, where it used to
 * print OK under the name of the bundle the auditor asked for. */
Test(sink_bundle, verify_names_a_bundle_renamed_to_another_ones_name)
{
  struct harness h;
  char *month = make_bundle("m", pem);
  char *run = in_job_dir("a", "demo-all-20240601T040000Z.tar");

  open_sink(&h, "a", pem);
  run_all(&h, 3, "2024-06-01T06:00:00+02:00"); /* named in UTC */
  close_sink(&h);

  /* its own name, and names the sink does not give */
  cr_assert_eq(verify_as(month, "demo-2024-05.tar"), CAIRN_OK);
  cr_assert_eq(verify_as(month, "copy.tar"), CAIRN_OK);
  cr_assert_eq(verify_as(month, "demo-2024-05 (1).tar"), CAIRN_OK);
  cr_assert_eq(verify_as(run, "demo-all-20240601T040000Z.tar"), CAIRN_OK);
  cr_assert_eq(verify_as(run, "demo-all-20240601T040000Z-3.tar"), CAIRN_OK);
  cr_assert_eq(verify_as(run, "demo-all.tar"), CAIRN_OK); /* older names */
  /* the names of other bundles */
  cr_assert_eq(verify_as(month, "demo-2024-06.tar"), CAIRN_EVERIFY);
  cr_assert_eq(verify_as(month, "demo-2024-05-01.tar"), CAIRN_EVERIFY);
  cr_assert_eq(verify_as(month, "other-2024-05.tar"), CAIRN_EVERIFY);
  cr_assert_eq(verify_as(month, "demo-all.tar"), CAIRN_EVERIFY);
  cr_assert_eq(verify_as(run, "demo-all-20240602T040000Z.tar"),
               CAIRN_EVERIFY);
  cr_assert_eq(verify_as(run, "demo-all-20240601T060000Z-2.tar"),
               CAIRN_EVERIFY);
  cr_assert_eq(verify_as(run, "demo-2024-06.tar"), CAIRN_EVERIFY);
  cr_assert_eq(verify_as(run, "demo.x-all-20240601T040000Z.tar"),
               CAIRN_EVERIFY);
  free(month);
  free_owned();
}
