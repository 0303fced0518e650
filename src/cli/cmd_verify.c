/* SPDX-License-Identifier: MIT */
/* cmd_verify.c -- `cairn verify BUNDLE.tar [--pubkey PEM]`.
 *
 * Checks an evidence bundle through sink/verify.h and reports: a summary
 * on stdout and exit 0 when everything matches, one line per problem on
 * stderr and exit 4 when anything differs (main() also exits 4 when the
 * summary could not be written), exit 2 on usage errors (bad
 * arguments, unreadable bundle file or public key). */
#include "cli/cli.h"
#include "sink/verify.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EXIT_VERIFIED 0
#define EXIT_USAGE    2
#define EXIT_MISMATCH 4

static const char usage_text[] =
  "usage: cairn verify BUNDLE.tar [--pubkey PEM]\n"
  "\n"
  "Check an evidence bundle written by the bundle sink: every part's\n"
  "SHA-256, size and record count against manifest.json, that the tar\n"
  "holds exactly the entries the manifest lists, that a bundle's file\n"
  "name (JOB-WINDOW.tar, JOB-all-TIME.tar) names the manifest's job,\n"
  "window and logical time, and, with --pubkey, the Ed25519 signature in\n"
  "manifest.sig over manifest.json.\n"
  "\n"
  "  --pubkey PEM  public key to check the signature with (PEM, e.g.\n"
  "                from openssl pkey -in key.pem -pubout -out pub.pem);\n"
  "                without it a signed bundle's signature is not checked\n"
  "  -h, --help    show this help\n"
  "\n"
  "Exit status: 0 verified, 4 verification failed (or the report could not\n"
  "be written), 2 usage error.\n";

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
  va_list ap;

  fputs("cairn verify: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\nusage: cairn verify BUNDLE.tar [--pubkey PEM] (see --help)\n",
        stderr);
  return EXIT_USAGE;
}

static void print_summary(const char *path,
                          const struct cairn_verify_report *r)
{
  printf("bundle:       %s\n", path);
  printf("job:          %s\n", r->job ? r->job : "?");
  if (r->window_start && r->window_end)
    printf("window:       %s [%s, %s)\n", r->window ? r->window : "?",
           r->window_start, r->window_end);
  else
    printf("window:       %s\n", r->window ? r->window : "?");
  printf("contract:     %s\n", r->contract ? r->contract : "?");
  printf("logical time: %s\n", r->logical_time ? r->logical_time : "?");
  printf("parts:        %ld\n", r->n_parts);
  printf("records:      %llu\n", (unsigned long long)r->records);
  printf("bytes:        %llu\n", (unsigned long long)r->bytes);
  if (r->recording_sha256)
    printf("recording:    sha256 %s\n", r->recording_sha256);
  if (!r->is_signed)
    printf("signature:    none (unsigned bundle)\n");
  else if (r->sig_checked)
    printf("signature:    valid, ed25519 key %s\n", r->key_fingerprint);
  else
    printf("signature:    not checked (no --pubkey), manifest names key "
           "%s\n", r->key_fingerprint);
  printf("OK\n");
}

/* argv[0] is the subcommand name ("verify"); options may come before or
 * after the bundle path. */
int cairn_cmd_verify(int argc, char **argv)
{
  const char *bundle = NULL, *pubkey = NULL;
  struct cairn_verify_report rep;
  cairn_err err = {0};
  int only_paths = 0, rc;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!only_paths && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
      return cairn_cli_help(usage_text);
    }
    if (!only_paths && strcmp(a, "--") == 0) {
      only_paths = 1;
    } else if (!only_paths && strcmp(a, "--pubkey") == 0) {
      if (i + 1 >= argc)
        return usage_error("%s needs a file argument", a);
      if (cairn_cli_once("verify", a, &pubkey, argv[++i]) < 0)
        return EXIT_USAGE;
    } else if (!only_paths && strncmp(a, "--pubkey=", 9) == 0) {
      if (cairn_cli_once("verify", "--pubkey", &pubkey, a + 9) < 0)
        return EXIT_USAGE;
    } else if (!only_paths && a[0] == '-' && a[1] != '\0') {
      return usage_error("unknown option %s", a);
    } else if (bundle) {
      return usage_error("unexpected argument %s (one bundle at a time)", a);
    } else {
      bundle = a;
    }
  }
  if (!bundle)
    return usage_error("missing BUNDLE.tar");
  if (pubkey && !pubkey[0])
    return usage_error("--pubkey needs a file argument");

  rc = cairn_bundle_verify(bundle, pubkey, &rep, &err);
  if (rc == CAIRN_OK) {
    print_summary(bundle, &rep);
  } else if (rc == CAIRN_EVERIFY) {
    for (size_t i = 0; i < rep.n_problems; i++)
      fprintf(stderr, "cairn verify: %s\n", rep.problems[i]);
    fprintf(stderr, "cairn verify: %s: verification FAILED (%zu problem%s)\n",
            bundle, rep.n_problems, rep.n_problems == 1 ? "" : "s");
  } else {
    fprintf(stderr, "cairn verify: %s\n", err.msg);
  }
  cairn_verify_report_free(&rep);
  if (rc == CAIRN_OK)
    return EXIT_VERIFIED;
  return rc == CAIRN_EVERIFY ? EXIT_MISMATCH : EXIT_USAGE;
}
