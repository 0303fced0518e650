/* SPDX-License-Identifier: MIT */
/* hash.h -- SHA-256 (OpenSSL EVP) for record ids, chunk digests and
 * bundle manifests. Hex output is lower case, 64 chars + NUL. */
#ifndef CAIRN_HASH_H
#define CAIRN_HASH_H

#include <stddef.h>

#define CAIRN_SHA256_HEX 65

struct cairn_sha256 { void *md; /* EVP_MD_CTX, owned */ };

void cairn_sha256_init(struct cairn_sha256 *h);
void cairn_sha256_update(struct cairn_sha256 *h, const void *p, size_t n);
/* dst: a context of its own holding what src has taken so far (src goes
 * on), for the digest of a prefix of a longer input. */
void cairn_sha256_copy(struct cairn_sha256 *dst,
                       const struct cairn_sha256 *src);
/* Writes the hex digest and releases the context. */
void cairn_sha256_final_hex(struct cairn_sha256 *h, char out[CAIRN_SHA256_HEX]);
void cairn_sha256_hex(const void *p, size_t n, char out[CAIRN_SHA256_HEX]);
/* Hex digest of a whole file; returns 0 or -1 (errno set). */
int  cairn_sha256_file_hex(const char *path, char out[CAIRN_SHA256_HEX]);

#endif
