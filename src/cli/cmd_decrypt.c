/* SPDX-License-Identifier: MIT */
/* cmd_decrypt.c -- `cairn decrypt`: reverse the PII "encrypt" policy for an
 * authorised holder of the key. */
#include "cli/cli.h"
#include "core/fsx.h"
#include "core/mem.h"
#include "job/spec.h"
#include "transform/pii.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static const char usage_text[] =
  "usage: cairn decrypt (--key-secret NAME | --key-file FILE) [VALUE...]\n"
  "\n"
  "Decrypts values written by the PII policy \"encrypt\"\n"
  "(enc:v1:<key_id>:<base64>), one per argument or, without arguments, one\n"
  "per line of standard input, and prints the plaintexts in order (an\n"
  "empty line, such as a NULL column, gives an empty line). The key\n"
  "(32 bytes as 64 hex digits or base64) is read from the secret NAME\n"
  "($CAIRN_SECRET_<NAME> or $CREDENTIALS_DIRECTORY/<NAME>) or from FILE.\n"
  "A wrong key, a damaged value or output that cannot be written fails\n"
  "with exit 4; usage errors exit 2.\n";

/* The key (new string), or NULL with err saying why: an unset secret, or
 * a file that cannot be read (a read error is not an empty key). */
static char *read_key(const char *secret, const char *file, cairn_err *err)
{
  struct cairn_buf b = {0};
  char *key = NULL;
  int found;

  if (secret) {
    found = cairn_secret_find(secret, &key, err);
    if (found == 0)
      CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "secret %s is not set "
                  "($CAIRN_SECRET_%s or $CREDENTIALS_DIRECTORY/%s)", secret,
                  secret, secret);
    return found > 0 ? key : NULL;
  }
  if (cairn_fs_read_all(file, &b, err) < 0) {
    cairn_buf_free(&b);
    return NULL;
  }
  while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
    b.data[--b.len] = '\0';
  return cairn_buf_take(&b);
}

static int decrypt_one(const char *value, const char *key)
{
  cairn_err err = {0};
  char *plain = NULL;
  int rc = cairn_pii_decrypt(value, key, &plain, &err), out;
  if (rc < 0) {
    fprintf(stderr, "cairn decrypt: %s\n", err.msg);
    return rc == CAIRN_EUSAGE ? 2 : 4;
  }
  out = printf("%s\n", plain);
  OPENSSL_cleanse(plain, strlen(plain));
  free(plain);
  /* a plaintext not written: main() says so and keeps the 4 */
  return out < 0 ? 4 : 0;
}

int cairn_cmd_decrypt(int argc, char **argv)
{
  static const struct option opts[] = {
    { "key-secret", required_argument, NULL, 's' },
    { "key-file", required_argument, NULL, 'f' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *secret = NULL, *file = NULL;
  cairn_err err = {0};
  char *key;
  int c, rc = 0;

  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 's':
      if (cairn_cli_once("decrypt", "--key-secret", &secret, optarg) < 0)
        return 2;
      break;
    case 'f':
      if (cairn_cli_once("decrypt", "--key-file", &file, optarg) < 0)
        return 2;
      break;
    case 'h': return cairn_cli_help(usage_text);
    default: fputs(usage_text, stderr); return 2;
    }
  }
  if (!secret == !file) {
    fputs(secret ? "cairn decrypt: --key-secret and --key-file exclude each "
                   "other: give one\n"
                 : "cairn decrypt: missing the key: --key-secret NAME or "
                   "--key-file FILE\n", stderr);
    fputs(usage_text, stderr);
    return 2;
  }
  key = read_key(secret, file, &err);
  if (!key) {
    fprintf(stderr, "cairn decrypt: cannot read the key: %s\n", err.msg);
    return 2;
  }
  if (optind < argc) {
    for (int i = optind; i < argc && rc == 0; i++)
      rc = decrypt_one(argv[i], key);
  } else {
    char *line = NULL; /* any length: a value is one line */
    size_t cap = 0;
    while (rc == 0 && getline(&line, &cap, stdin) >= 0) {
      line[strcspn(line, "\r\n")] = '\0';
      if (*line)
        rc = decrypt_one(line, key);
      else if (putchar('\n') == EOF) /* a NULL column: lines stay in step */
        rc = 4;
    }
    free(line);
  }
  memset(key, 0, strlen(key));
  free(key);
  return rc;
}
