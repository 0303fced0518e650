/* SPDX-License-Identifier: MIT */
/* transform.h -- raw records become canonical contract rows.
 *
 * A contract is a JSON Schema (schemas/contracts/<name>.schema.json) that
 * also names its key, partition and PII fields (x-cairn-key,
 * x-cairn-partition, x-cairn-pii). A transform is the job's "transform"
 * object compiled against a contract: one mapping chain per contract field,
 * the PII policy, and contract validation. apply() appends either a valid
 * row or a reject (with every reason) to the batch: a bad record is never
 * an error and never a crash. Not thread-safe: one thread applies at a
 * time (clones let several threads map at once). Inputs are borrowed. */
#ifndef CAIRN_TRANSFORM_H
#define CAIRN_TRANSFORM_H

#include <jansson.h>
#include "core/batch.h"
#include "core/err.h"

/* Load and compile schemas_dir/contracts/<name>.schema.json. On success *out
 * is new (cairn_contract_free). Unknown name: CAIRN_EUSAGE "unknown
 * contract "x" (have: a, b)". A schema using an unsupported keyword:
 * CAIRN_ESCHEMA. */
int  cairn_contract_load(const char *schemas_dir, const char *name,
                         struct cairn_contract **out, cairn_err *err);
void cairn_contract_free(struct cairn_contract *c);   /* NULL ok */

typedef struct cairn_transform cairn_transform;

/* Compile 'cfg' (the job's "transform" object, variables expanded) for
 * contract c (borrowed; must outlive the transform). On failure *out is
 * NULL, err says why and *ptr_out (when not NULL) receives a new string
 * holding the JSON pointer of the offending part relative to cfg
 * ("/fields/billedCost/fn/0"), for file:line:col messages. */
int  cairn_transform_create(const json_t *cfg, const struct cairn_contract *c,
                            cairn_transform **out, char **ptr_out,
                            cairn_err *err);
void cairn_transform_free(cairn_transform *t);        /* NULL ok */

/* A second instance of t (compiled again from the same config) for
 * another thread: each thread applies its own. The clone maps exactly as
 * t does but leaves warnings (PII in clear, a header lacking columns) to
 * t, so a record seen by both does not warn twice. Only t's contract
 * must outlive the clone. */
int  cairn_transform_clone(const cairn_transform *t, cairn_transform **out,
                           cairn_err *err);

/* The period of the window being mapped, as "YYYY-MM-DD" days, to
 * exclusive: a day or month window's own days, or what its source declares
 * (a cost export's runInfo dates); from NULL: none (the default). While one
 * is set, a row whose first partition field taken by its date
 * (cost_record's chargePeriodStartUtc) lies outside it is a reject, its
 * reason naming the period as `what` ("the period its source declares"):
 * replace_partition replaces only the period's days, so a re-run would
 * load such a row twice. No effect on a contract without such a field. A
 * clone starts with t's period. */
void cairn_transform_set_span(cairn_transform *t, const char *from,
                              const char *to, const char *what);

/* Map one raw record into b (a new row, or a reject). CAIRN_OK unless an
 * internal failure happened. */
int  cairn_transform_apply(cairn_transform *t, const struct cairn_record *rec,
                           struct cairn_batch *b, cairn_err *err);

/* Check the mapping against a CSV header before any record is read: for
 * each field whose chain would reject every record under h (it reads a
 * column h lacks, outside "default" and "exists"; every source of a
 * "coalesce"; a JSON pointer, which CSV rows do not have; "explode",
 * which needs JSON records: ptr "/explode"), call bad with
 * the JSON pointer of the reference relative to the transform object
 * ("/fields/region/from") and why ("column \"RegionId\" is not in the
 * header"). One call per field at most. Returns the number of calls.
 * t is left bound to no header (h may be freed after). */
size_t cairn_transform_check_header(cairn_transform *t,
                                    const struct cairn_header *h,
                                    void (*bad)(void *ud, const char *ptr,
                                                const char *why),
                                    void *ud);

/* The job's max_reject_ratio (default 1.0: never stop). */
double cairn_transform_max_reject_ratio(const cairn_transform *t);

#endif
