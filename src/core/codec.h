/* SPDX-License-Identifier: MIT */
/* codec.h -- small codecs: base64 (RFC 4648 standard alphabet, padded;
 * decoding also accepts base64url's '-' and '_' and skips whitespace) and
 * UTF-8 validation. Pure functions; thread-safe. */
#ifndef CAIRN_CODEC_H
#define CAIRN_CODEC_H

#include <stddef.h>

/* New NUL-terminated string (free()). */
char *cairn_base64_encode(const void *p, size_t n);
/* 0 and a new NUL-terminated buffer of *out_len bytes, or -1 (nothing
 * allocated) when s[0..n) is not base64. */
int   cairn_base64_decode(const char *s, size_t n, char **out,
                          size_t *out_len);
/* 1 when s[0..n) is valid UTF-8 (no overlong forms, no surrogates). */
int   cairn_utf8_valid(const char *s, size_t n);

#endif
