/* SPDX-License-Identifier: MIT */
/* json_fast.h -- a fast JSON parser: text straight into a jansson tree.
 * Used for HTTP pages (src_http.c) and for loading HAR recordings.
 *
 * json_loadb reads through a character stream and builds every value with
 * the checking setters; on Resource-Graph-sized pages that made parsing
 * most of a run's CPU. This parser scans the buffer directly (strings 16
 * bytes at a time), validates UTF-8 and escapes itself and builds with
 * jansson's _nocheck setters, so the tree is the one json_loadb would
 * build. It can also leave the record array of a page unbuilt, for the
 * extract step that only counts records. docs/performance.md ("The JSON
 * path") has the measurements. Pure functions; thread-safe. */
#ifndef CAIRN_JSON_FAST_H
#define CAIRN_JSON_FAST_H

#include <stddef.h>
#include <jansson.h>

#define CAIRN_JSON_NOWHERE ((size_t)-1)

/* The record array a parse may leave unbuilt. */
struct cairn_json_skip {
  const char *ptr;  /* in: a JSON pointer through object members ("/data";
                       "" is the root); pointers through arrays never skip */
  size_t      at;   /* out: byte offset of the '[' of the skipped array that
                       is in the returned tree, or CAIRN_JSON_NOWHERE */
};

/* Parse text[0..len): an object or an array with nothing but whitespace
 * after it, exactly the texts json_loadb(text, len, 0, ...) accepts, into
 * the tree json_loadb would return (duplicate keys: the last wins, in the
 * first one's place; integers as json_int_t, other numbers as reals).
 *
 * skip: NULL, or an array at skip->ptr is checked by every rule above
 * but its elements are not built: it comes back as an array of as many
 * nulls, and skip->at says where its text starts (for
 * cairn_json_fast_each).
 *
 * Returns a new reference, or NULL when the text is not JSON -- or uses a
 * form this parser leaves to jansson: \u0000, an integer or real out of
 * range, nesting deeper than 2048. On NULL call json_loadb for the
 * verdict and its error message (it may also succeed: treat its tree as
 * fully built). */
json_t *cairn_json_fast_load(const char *text, size_t len,
                            struct cairn_json_skip *skip);

/* Called with each element of an array, in order; el is borrowed (it is
 * released after the call: json_incref to keep it). 0 goes on, anything
 * else stops. */
typedef int (*cairn_json_fast_each_fn)(void *ud, json_t *el, size_t i);

/* Build the elements [from, to) of the array whose '[' is at text[at] one
 * at a time and pass each to 'each' (with its index in the array), so
 * that only one element exists at a time; the elements before 'from' are
 * scanned, not built (to = SIZE_MAX: up to the end). Parts of one array
 * may be read this way on several threads at once. Meant for an offset
 * that cairn_json_fast_load reported for the same text (which has then
 * been checked). Returns 0 when the array was read to its ']' or to 'to',
 * or 'each' stopped it (*each_rc: its non-zero return, else 0), -1 when
 * the text there is not a JSON array. */
int cairn_json_fast_each(const char *text, size_t len, size_t at,
                        size_t from, size_t to, cairn_json_fast_each_fn each,
                        void *ud, int *each_rc);

#endif
