/* SPDX-License-Identifier: MIT */
/* pii.c -- HMAC hashing and deterministic AES-256-GCM for PII fields.
 * The format and the nonce derivation are described in pii.h; the policy
 * that picks keep/drop/hash/encrypt per field lives in transform.c. */
#include "transform/pii.h"
#include "core/codec.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONCE_LEN 12
#define TAG_LEN   16
#define PREFIX    "enc:v1:"

/* Base64 (either alphabet) into out, at most cap bytes; the byte count, or
 * -1 when s is not base64 or decodes to more than cap bytes. */
static long b64_decode(const char *s, size_t n, unsigned char *out,
                       size_t cap)
{
  char *dec = NULL;
  size_t len = 0;
  long rc = -1;
  if (cairn_base64_decode(s, n, &dec, &len) == 0 && len <= cap) {
    memcpy(out, dec, len);
    rc = (long)len;
  }
  if (dec)
    OPENSSL_cleanse(dec, len);
  free(dec);
  return rc;
}

/* ---- keys ------------------------------------------------------------- */

int cairn_pii_key_parse(const char *material,
                        unsigned char key[CAIRN_PII_KEY_LEN], char *msg,
                        size_t msg_size)
{
  size_t n = material ? strlen(material) : 0;
  unsigned char tmp[64];
  long got;

  if (n == 2 * CAIRN_PII_KEY_LEN) {
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++)
      ok = (material[i] >= '0' && material[i] <= '9') ||
           (material[i] >= 'a' && material[i] <= 'f') ||
           (material[i] >= 'A' && material[i] <= 'F');
    if (ok) {
      for (size_t i = 0; i < CAIRN_PII_KEY_LEN; i++) {
        char h[3] = { material[2 * i], material[2 * i + 1], 0 };
        key[i] = (unsigned char)strtoul(h, NULL, 16);
      }
      return 0;
    }
  }
  if (n >= 42 && n <= 44) {
    got = b64_decode(material, n, tmp, sizeof tmp);
    if (got == CAIRN_PII_KEY_LEN) {
      memcpy(key, tmp, CAIRN_PII_KEY_LEN);
      OPENSSL_cleanse(tmp, sizeof tmp);
      return 0;
    }
  }
  OPENSSL_cleanse(tmp, sizeof tmp);
  if (n >= 3 && material[0] == '$' && material[1] == '{')
    snprintf(msg, msg_size, "key was not expanded (a ${secret:NAME} "
             "variable is expected)");
  else
    snprintf(msg, msg_size, "key must be 32 bytes written as 64 hex digits "
             "or base64 (got %zu characters)", n);
  return -1;
}

int cairn_pii_key_id_valid(const char *key_id)
{
  size_t n = key_id ? strlen(key_id) : 0;
  if (n == 0 || n > 64)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = key_id[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

/* ---- hashing ---------------------------------------------------------- */

void cairn_pii_hash_hex(const unsigned char key[CAIRN_PII_KEY_LEN],
                        const void *p, size_t n, char out[65])
{
  static const char hex[] = "0123456789abcdef";
  unsigned char md[32];
  unsigned int mdn = 0;
  if (!HMAC(EVP_sha256(), key, CAIRN_PII_KEY_LEN, p, n, md, &mdn))
    abort(); /* HMAC-SHA256 over memory fails only on OOM */
  for (int i = 0; i < 32; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[64] = '\0';
}

/* ---- encryption ------------------------------------------------------- */

static void derive_nonce(const unsigned char key[CAIRN_PII_KEY_LEN],
                         const char *key_id, const void *p, size_t n,
                         unsigned char nonce[NONCE_LEN])
{
  static const char label[] = "cairn-pii-nonce-v1";
  unsigned char sub[32], md[32];
  unsigned int len = 0;
  EVP_MAC *mac = NULL;
  EVP_MAC_CTX *ctx = NULL;
  OSSL_PARAM params[2];
  size_t out_len = 0;

  if (!HMAC(EVP_sha256(), key, CAIRN_PII_KEY_LEN,
            (const unsigned char *)label, sizeof label - 1, sub, &len))
    abort();
  /* HMAC(sub, key_id 0x00 plaintext), streamed without a copy. */
  mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
  params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0);
  params[1] = OSSL_PARAM_construct_end();
  if (!ctx || EVP_MAC_init(ctx, sub, sizeof sub, params) != 1 ||
      EVP_MAC_update(ctx, (const unsigned char *)key_id,
                     strlen(key_id) + 1) != 1 ||
      EVP_MAC_update(ctx, p, n) != 1 ||
      EVP_MAC_final(ctx, md, &out_len, sizeof md) != 1)
    abort();
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  memcpy(nonce, md, NONCE_LEN);
  OPENSSL_cleanse(sub, sizeof sub);
}

int cairn_pii_encrypt(const unsigned char key[CAIRN_PII_KEY_LEN],
                      const char *key_id, const void *p, size_t n,
                      struct cairn_buf *out, cairn_err *err)
{
  unsigned char *blob = cairn_xmalloc(NONCE_LEN + n + TAG_LEN);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  struct cairn_buf aad = {0};
  int len = 0, total = 0, rc = CAIRN_OK;

  derive_nonce(key, key_id, p, n, blob);
  cairn_buf_printf(&aad, PREFIX "%s", key_id);
  if (!ctx ||
      EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
      EVP_EncryptInit_ex(ctx, NULL, NULL, key, blob) != 1 ||
      EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad.data,
                        (int)aad.len) != 1 ||
      EVP_EncryptUpdate(ctx, blob + NONCE_LEN, &len, p, (int)n) != 1) {
    rc = CAIRN_RAISE(err, CAIRN_ECRYPTO, 0, "AES-256-GCM encryption failed");
    goto done;
  }
  total = len;
  if (EVP_EncryptFinal_ex(ctx, blob + NONCE_LEN + total, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
                          blob + NONCE_LEN + total + len) != 1) {
    rc = CAIRN_RAISE(err, CAIRN_ECRYPTO, 0, "AES-256-GCM encryption failed");
    goto done;
  }
  total += len;
  cairn_buf_append(out, aad.data, aad.len);
  cairn_buf_putc(out, ':');
  {
    char *enc = cairn_base64_encode(blob, NONCE_LEN + (size_t)total + TAG_LEN);
    cairn_buf_puts(out, enc);
    free(enc);
  }
done:
  EVP_CIPHER_CTX_free(ctx);
  cairn_buf_free(&aad);
  OPENSSL_cleanse(blob, NONCE_LEN + n + TAG_LEN);
  free(blob);
  return rc;
}

int cairn_pii_decrypt(const char *stored, const char *key_material,
                      char **plain_out, cairn_err *err)
{
  unsigned char key[CAIRN_PII_KEY_LEN];
  char msg[160], key_id[72];
  const char *id, *colon, *data;
  unsigned char *blob = NULL, *plain = NULL;
  EVP_CIPHER_CTX *ctx = NULL;
  long blen;
  int len = 0, total = 0, rc = CAIRN_OK;
  size_t ct_len = 0;

  *plain_out = NULL;
  if (cairn_pii_key_parse(key_material, key, msg, sizeof msg) < 0)
    return CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "decryption key: %s", msg);
  if (!stored || strncmp(stored, PREFIX, strlen(PREFIX)) != 0) {
    rc = CAIRN_RAISE(err, CAIRN_ECRYPTO, 0, "not an encrypted value "
                     "(expected enc:v1:<key_id>:<base64>)");
    goto done;
  }
  id = stored + strlen(PREFIX);
  colon = strchr(id, ':');
  if (!colon || (size_t)(colon - id) >= sizeof key_id) {
    rc = CAIRN_RAISE(err, CAIRN_ECRYPTO, 0, "not an encrypted value "
                     "(expected enc:v1:<key_id>:<base64>)");
    goto done;
  }
  memcpy(key_id, id, (size_t)(colon - id));
  key_id[colon - id] = '\0';
  data = colon + 1;
  blob = cairn_xmalloc(strlen(data) * 3 / 4 + 4);
  blen = b64_decode(data, strlen(data), blob, strlen(data) * 3 / 4 + 4);
  if (blen < NONCE_LEN + TAG_LEN || !cairn_pii_key_id_valid(key_id)) {
    rc = CAIRN_RAISE(err, CAIRN_ECRYPTO, 0, "damaged encrypted value "
                     "(key id \"%s\")", key_id);
    goto done;
  }
  ct_len = (size_t)blen - NONCE_LEN - TAG_LEN;
  plain = cairn_xmalloc(ct_len + 1);
  ctx = EVP_CIPHER_CTX_new();
  if (!ctx ||
      EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
      EVP_DecryptInit_ex(ctx, NULL, NULL, key, blob) != 1 ||
      EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)stored,
                        (int)(colon - stored)) != 1 ||
      EVP_DecryptUpdate(ctx, plain, &len, blob + NONCE_LEN,
                        (int)ct_len) != 1) {
    rc = CAIRN_RAISE(err, CAIRN_ECRYPTO, 0, "AES-256-GCM decryption failed");
    goto done;
  }
  total = len;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
                          blob + NONCE_LEN + ct_len) != 1 ||
      EVP_DecryptFinal_ex(ctx, plain + total, &len) != 1) {
    rc = CAIRN_RAISE(err, CAIRN_ECRYPTO, 0, "decryption failed: wrong key "
                     "or damaged value (key id \"%s\")", key_id);
    goto done;
  }
  total += len;
  plain[total] = '\0';
  *plain_out = (char *)plain;
  plain = NULL;
done:
  EVP_CIPHER_CTX_free(ctx);
  OPENSSL_cleanse(key, sizeof key);
  if (plain) {
    OPENSSL_cleanse(plain, ct_len + 1);
    free(plain);
  }
  free(blob);
  return rc;
}
