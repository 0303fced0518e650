/* SPDX-License-Identifier: MIT */
/* pii.h -- the PII policy primitives: keyed hashing and deterministic
 * encryption of field values (OpenSSL EVP), and decryption for the
 * `cairn decrypt` command.
 *
 * Key material is 32 bytes written as 64 hex digits or as base64 (standard
 * or URL-safe alphabet, padding optional). It normally arrives through a
 * ${secret:NAME} job variable; no function here ever puts key material in
 * an error message.
 *
 * Stored form of an encrypted value:
 *   enc:v1:<key_id>:<base64(nonce[12] | ciphertext | tag[16])>
 * AES-256-GCM with the additional data "enc:v1:<key_id>", so a value cannot
 * be moved under another key id. The nonce is derived, not random:
 * HMAC-SHA256(HMAC-SHA256(key, "cairn-pii-nonce-v1"), key_id 0x00 plain),
 * truncated to 12 bytes. Equal plaintexts under one key therefore encrypt
 * to equal text (replays stay byte-identical and the column still joins),
 * which reveals equality, as any deterministic scheme does; see
 * docs/mapping.md. Functions are thread-safe (no shared state). */
#ifndef CAIRN_PII_H
#define CAIRN_PII_H

#include <stddef.h>

#include "core/err.h"
#include "core/mem.h"

#define CAIRN_PII_KEY_LEN 32

/* Decode key material into key. Returns 0, or -1 with a message (never
 * quoting the material) in msg. */
int cairn_pii_key_parse(const char *material,
                        unsigned char key[CAIRN_PII_KEY_LEN], char *msg,
                        size_t msg_size);

/* Is key_id usable in the stored form (1-64 of [A-Za-z0-9._-])? */
int cairn_pii_key_id_valid(const char *key_id);

/* Lower-case hex HMAC-SHA256 of p[0..n) under key, into out. */
void cairn_pii_hash_hex(const unsigned char key[CAIRN_PII_KEY_LEN],
                        const void *p, size_t n, char out[65]);

/* Append the stored form of p[0..n) to out. CAIRN_OK, or CAIRN_ECRYPTO
 * when OpenSSL fails. */
int cairn_pii_encrypt(const unsigned char key[CAIRN_PII_KEY_LEN],
                      const char *key_id, const void *p, size_t n,
                      struct cairn_buf *out, cairn_err *err);

/* Decrypt a stored value with key material (hex or base64, as above). On
 * success *plain_out is a new NUL-terminated string (free()). Malformed
 * material: CAIRN_EUSAGE. Not a stored value, a wrong key or a damaged
 * value: CAIRN_ECRYPTO. On failure *plain_out is NULL. */
int cairn_pii_decrypt(const char *stored, const char *key_material,
                      char **plain_out, cairn_err *err);

#endif
