/* SPDX-License-Identifier: MIT */
/* jsonx.h -- jansson helpers: load a file with file:line:col errors, find
 * where a JSON pointer sits in the source text (so validation errors can
 * name a line and column), and JSON pointer get/set (RFC 6901). */
#ifndef CAIRN_JSONX_H
#define CAIRN_JSONX_H

#include <jansson.h>
#include "core/err.h"
#include "core/mem.h"

/* Parse the file at path. On success *out is a new reference and, when
 * text is not NULL, the file's bytes are appended to it (for locate). On
 * a syntax error the message is "path:line:col: message" (CAIRN_EPARSE).
 * A leading UTF-8 byte order mark is dropped (from text too). */
int cairn_json_load_file(const char *path, json_t **out, struct cairn_buf *text,
                         cairn_err *err);

/* Drop a UTF-8 byte order mark (EF BB BF) at b->data + start, as RFC 8259
 * section 8.1 allows a parser to (Windows tools write one). 1 when one
 * was dropped, else 0. */
int cairn_json_drop_bom(struct cairn_buf *b, size_t start);

/* Find the 1-based line and column of the value at 'ptr' in 'text'. With
 * want_key and a pointer ending in an object member, the position of the
 * member's key is returned instead. When the pointer does not resolve, the
 * position of its deepest existing ancestor is returned. */
void cairn_json_locate(const char *text, const char *ptr, int want_key,
                       int *line, int *col);

/* jansson's message for je without the text it quotes (" near '...'"),
 * for records, whose text may hold PII: the column tells where. Returns
 * out (JSON_ERROR_TEXT_LENGTH bytes). */
const char *cairn_json_error_what(const json_error_t *je,
                                  char out[JSON_ERROR_TEXT_LENGTH]);
/* Every string of v, at any depth, replaced by fn's result when fn
 * returns a new string (NULL: kept as it is). */
void cairn_json_map_strings(json_t *v, char *(*fn)(const char *s, void *ud),
                            void *ud);
/* Borrowed value at an RFC 6901 pointer, or NULL. "" is the root. */
json_t *cairn_json_pointer_get(const json_t *root, const char *ptr);
/* Set the value at ptr (stealing 'value'), creating intermediate objects;
 * an array on the way is indexed as cairn_json_pointer_get does (its
 * element must exist). Returns 0, or -1 when the path runs through
 * another kind of value or past an array's end. */
int cairn_json_pointer_set(json_t *root, const char *ptr, json_t *value);
/* Is ptr syntactically a JSON pointer ("" or starting with '/')? */
int cairn_json_pointer_valid(const char *ptr);
/* The first reference token of pointer ptr, decoded (~0 -> ~, ~1 -> /)
 * into buf (cut to n - 1 bytes); returns the rest of ptr, or NULL when
 * ptr does not start with '/'. */
const char *cairn_json_pointer_token(const char *ptr, char *buf, size_t n);
/* Append the escaped form of one reference token (~ -> ~0, / -> ~1). */
void cairn_json_pointer_append(struct cairn_buf *b, const char *token);

/* Length of the one valid UTF-8 sequence at p (1 for ASCII), or 0 when the
 * bytes there are not valid UTF-8 (overlong forms, surrogates, > U+10FFFF,
 * or cut off by end). p < end. */
size_t cairn_utf8_len(const unsigned char *p, const unsigned char *end);

/* The \uXXXX escape whose hex digits start at p (just past "\u"), with
 * the low half of a surrogate pair when one must follow, decoded to UTF-8
 * in out (*out_n bytes). Returns the bytes read from p (4 or 10), or 0 when
 * malformed: not 4 hex digits, a lone surrogate, or U+0000 (which jansson
 * refuses and a C string cannot hold). */
size_t cairn_json_unescape_u(const char *p, const char *end, char out[4],
                             size_t *out_n);

/* Compact JSON with sorted keys: the canonical form used for digests,
 * request matching and NDJSON. New string (free()). */
char *cairn_json_canonical(const json_t *v);

#endif
