/* SPDX-License-Identifier: MIT */
/* jschema.h -- JSON Schema (2020-12 subset) validation over jansson.
 *
 * A schema document is compiled once into an immutable cairn_schema, then
 * used to validate any number of instances (job files, records). Compiling
 * refuses every keyword it does not implement instead of ignoring it, so a
 * typo such as "requred" is an error, not a silently weaker schema. See
 * docs/internals/jschema.md for the supported keywords and the regex engine.
 *
 * Ownership: pointer parameters are borrowed; the schema takes its own
 * reference to the document it was compiled from. Thread-safety: a compiled
 * schema is read-only, so several threads may validate against it at once;
 * compile and free are not synchronised with validation. */
#ifndef CAIRN_JSCHEMA_H
#define CAIRN_JSCHEMA_H

#include <jansson.h>

#include "core/err.h"

/* $ref chains nested deeper than this while validating (a recursive schema
 * applied to a deep instance, or a $ref cycle that never descends into the
 * instance) stop validation with one error instead of exhausting the stack. */
#define CAIRN_SCHEMA_MAX_REF_DEPTH 64

typedef struct cairn_schema cairn_schema;

/* Compile the schema document 'doc' (borrowed; the schema keeps its own
 * reference via json_incref, so the caller may json_decref it at once but
 * must not modify it while the schema lives).
 *
 * Returns CAIRN_OK and sets *out (free with cairn_schema_free), or
 * CAIRN_ESCHEMA with *out = NULL and err->msg naming the offending keyword
 * and its JSON pointer, e.g.
 *   unsupported keyword "requred" at /properties/name/requred
 * Refused: keywords the module does not implement (unevaluated*, $dynamic*,
 * ...), ill-typed keyword values, invalid regular expressions, $ref that is
 * not a local JSON pointer ("http://...", "other.json#/x", "#anchor"),
 * unresolvable $ref, and $id below the root. Accepted without effect:
 * annotations ($schema, $id at the root, $comment, $anchor, title,
 * description, default, examples, deprecated, readOnly, writeOnly,
 * content*, $vocabulary, formats other than "date-time") and any keyword
 * beginning with "x-" (project extensions such as x-cairn-key). */
int cairn_schema_compile(json_t *doc, cairn_schema **out, cairn_err *err);

/* Release a compiled schema and its reference to the document. NULL ok. */
void cairn_schema_free(cairn_schema *s);

/* Called once per validation error. 'ptr' is the JSON pointer (RFC 6901, not
 * URI-encoded) of the failing instance location: "" for the root,
 * "/source/paging/style" below it. 'msg' is a short human message such as
 *   expected string, got integer
 *   unknown key "foo"
 * Both strings are valid only during the call. */
typedef void (*cairn_schema_error_fn)(void *ud, const char *ptr,
                                      const char *msg);

/* Validate 'inst' (borrowed) against 's'. Returns the number of errors
 * reported (0 = valid) and calls fn(ud, ...) for each one; fn may be NULL
 * to only count. Validation stops once max_errors errors have been reported
 * (0 or negative = unlimited), so the result never exceeds a positive
 * max_errors. 's' must not be NULL.
 * Never fails otherwise: engine trouble (a regex hitting its match limit,
 * $ref recursion beyond CAIRN_SCHEMA_MAX_REF_DEPTH) is reported as an error
 * at the instance location where it happened. */
int cairn_schema_validate(const cairn_schema *s, const json_t *inst,
                          cairn_schema_error_fn fn, void *ud, int max_errors);

/* Whether the value at JSON pointer 'ptr' (as for cairn_schema_error_fn)
 * may not be quoted in a message: 1 and the message says "value" where it
 * would quote it ("value does not match pattern ^x", "value is less than
 * minimum 0"). */
typedef int (*cairn_schema_hide_fn)(void *ud, const char *ptr);

/* cairn_schema_validate, with hide (NULL: none) asked before a message
 * quotes the failing value; fn and hide both get ud. */
int cairn_schema_validate_hiding(const cairn_schema *s, const json_t *inst,
                                 cairn_schema_error_fn fn,
                                 cairn_schema_hide_fn hide, void *ud,
                                 int max_errors);

#endif
