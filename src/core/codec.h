/* SPDX-License-Identifier: MIT */
/* codec.h -- small codecs: base64 (RFC 4648 standard alphabet, padded;
 * decoding also accepts base64url's '-' and '_' and skips whitespace),
 * UTF-8 validation, JSON string escaping, percent-decoding and the pairs
 * of a query or form ("a=1&b=2"). Pure functions; thread-safe. */
#ifndef CAIRN_CODEC_H
#define CAIRN_CODEC_H

#include <stdarg.h>
#include <stddef.h>

/* New NUL-terminated string (free()). */
char *cairn_base64_encode(const void *p, size_t n);
/* 0 and a new NUL-terminated buffer of *out_len bytes, or -1 (nothing
 * allocated) when s[0..n) is not base64. */
int   cairn_base64_decode(const char *s, size_t n, char **out,
                          size_t *out_len);
/* 1 when s[0..n) is valid UTF-8 (no overlong forms, no surrogates). */
int   cairn_utf8_valid(const char *s, size_t n);
/* n when s[0..n) is valid UTF-8, else the offset of the first byte that
 * does not start a valid sequence. ASCII is checked 16 bytes at a time. */
size_t cairn_utf8_check(const char *s, size_t n);

/* s[0..n) as a JSON string, quotes included: '"' and '\\' escaped, \b \f
 * \n \r \t, other bytes below 0x20 as \u00XX (hex digits upper case when
 * upper, as jansson prints them, else lower case), every other byte as is
 * (UTF-8 passes through). cairn_json_str_to writes it at p, which has room
 * for 6n + 2 bytes, and returns the end; cairn_json_str_len is its exact
 * length. Clean runs are found 16 bytes at a time. */
char  *cairn_json_str_to(char *p, const char *s, size_t n, int upper);
/* Whether s[0..n) is a number in JSON's grammar (RFC 8259 section 6:
 * -?(0|[1-9]digits)(.digits)?([eE][+-]?digits)?): the exact decimals the
 * contracts' "number" takes. */
int    cairn_json_is_number(const char *s, size_t n);
size_t cairn_json_str_len(const char *s, size_t n);

/* The value of the hex digit c (either case), or -1. */
int   cairn_hexval(int c);
/* Percent-decode s[0..n) ('+' as space when plus): a new string. A '%'
 * not followed by two hex digits stays as it is. */
char *cairn_pct_decode(const char *s, size_t n, int plus);

/* One pair of a query or form "a=1&b=2": [at, end), its '=' at eq (NULL
 * when it has none). end is the '&' after it, or the string's end. */
struct cairn_pair {
  const char *at, *eq, *end;
};
/* The pair at *s before end, empty ones too ("a&&b" has three); moves *s
 * past it and its '&'. Returns 0, p untouched, when *s reached end. */
int   cairn_pair_next(const char **s, const char *end, struct cairn_pair *p);
/* A pair's name and value, percent-decoded with '+' as space (a pair with
 * no '=' has the value ""): new strings. */
char *cairn_pair_name(const struct cairn_pair *p);
char *cairn_pair_value(const struct cairn_pair *p);
/* 1 when the pair has a value written exactly as v (not decoded). */
int   cairn_pair_value_is(const struct cairn_pair *p, const char *v);

/* Append the NUL-terminated s to b as one line of valid UTF-8, for
 * diagnostics and log lines that quote text from outside (a job file's
 * key, a server's reply): control characters escaped as in JSON (\n \r
 * \t, others \u00XX), bytes that do not begin valid UTF-8 as \xNN,
 * everything else as is. */
struct cairn_buf;
void cairn_put_oneline(struct cairn_buf *b, const char *s);
/* The same as a new string (free it). */
char *cairn_oneline(const char *s);
/* printf-style, then cairn_oneline: a new one-line string (free it). */
char *cairn_onelinef(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
char *cairn_vonelinef(const char *fmt, va_list ap);

/* Append the len bytes of s to b, or, when len > max, its first max bytes
 * or fewer (cut before a UTF-8 continuation byte) and "...": a quote of
 * outside text in a message. */
void cairn_put_cut(struct cairn_buf *b, const char *s, size_t len,
                   size_t max);

#endif
