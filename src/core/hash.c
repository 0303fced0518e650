/* SPDX-License-Identifier: MIT */
/* hash.c -- SHA-256 through OpenSSL's EVP interface. */
#include "core/hash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/evp.h>

void cairn_sha256_init(struct cairn_sha256 *h)
{
  h->md = EVP_MD_CTX_new();
  if (!h->md || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1)
    abort(); /* only fails on OOM */
}

void cairn_sha256_update(struct cairn_sha256 *h, const void *p, size_t n)
{
  EVP_DigestUpdate(h->md, p, n);
}

void cairn_sha256_copy(struct cairn_sha256 *dst,
                       const struct cairn_sha256 *src)
{
  dst->md = EVP_MD_CTX_new();
  if (!dst->md || EVP_MD_CTX_copy_ex(dst->md, src->md) != 1)
    abort(); /* only fails on OOM */
}

void cairn_sha256_final_hex(struct cairn_sha256 *h, char out[CAIRN_SHA256_HEX])
{
  unsigned char md[32];
  unsigned int n = 0;
  static const char hex[] = "0123456789abcdef";

  EVP_DigestFinal_ex(h->md, md, &n);
  for (unsigned i = 0; i < 32; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[64] = '\0';
  EVP_MD_CTX_free(h->md);
  h->md = NULL;
}

void cairn_sha256_hex(const void *p, size_t n, char out[CAIRN_SHA256_HEX])
{
  struct cairn_sha256 h;
  cairn_sha256_init(&h);
  cairn_sha256_update(&h, p, n);
  cairn_sha256_final_hex(&h, out);
}

int cairn_sha256_file_hex(const char *path, char out[CAIRN_SHA256_HEX])
{
  struct cairn_sha256 h;
  char buf[65536];
  size_t n;
  FILE *fp = fopen(path, "rb");

  if (!fp)
    return -1;
  cairn_sha256_init(&h);
  while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
    cairn_sha256_update(&h, buf, n);
  cairn_sha256_final_hex(&h, out);
  if (ferror(fp)) {
    int e = errno ? errno : EIO; /* fclose must not clobber it */
    fclose(fp);
    errno = e;
    return -1;
  }
  fclose(fp);
  return 0;
}
