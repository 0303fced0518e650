/* SPDX-License-Identifier: MIT */
/* http_json.h -- the http source's page parser: JSON text straight into a
 * jansson tree, internal to source/ (src_http.c).
 *
 * json_loadb reads through a character stream and builds every value with
 * the checking setters; on Resource-Graph-sized pages that made parsing
 * most of a run's CPU. This parser scans the buffer directly (strings 16
 * bytes at a time), validates UTF-8 and escapes itself and builds with
 * jansson's _nocheck setters, so the tree is the one json_loadb would
 * build. It can also leave the record array of a page unbuilt, for the
 * extract step that only counts records. docs/internals/http-source.md
 * has the measurements. Pure function; thread-safe. */
#ifndef CAIRN_HTTP_JSON_H
#define CAIRN_HTTP_JSON_H

#include <stddef.h>
#include <jansson.h>

/* Parse text[0..len): an object or an array with nothing but whitespace
 * after it, exactly the texts json_loadb(text, len, 0, ...) accepts, into
 * the tree json_loadb would return (duplicate keys: the last wins, in the
 * first one's place; integers as json_int_t, other numbers as reals).
 *
 * skip: NULL, or a JSON pointer through object members ("/data", "" for
 * the root). An array found at that pointer is checked by every rule
 * above but its elements are not built: it comes back as an array of as
 * many nulls. Pointers through arrays never skip.
 *
 * Returns a new reference, or NULL when the text is not JSON -- or uses a
 * form this parser leaves to jansson: \u0000, an integer or real out of
 * range, nesting deeper than 2048. On NULL call json_loadb for the
 * verdict and its error message (it may also succeed: treat its tree as
 * fully built). */
json_t *cairn__hs_json_load(const char *text, size_t len, const char *skip);

#endif
