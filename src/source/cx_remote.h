/* SPDX-License-Identifier: MIT */
/* cx_remote.h -- the cost export source's blobs over HTTP (Azure Blob
 * Storage), for src_cost_export.c.
 *
 * The source's path may be the URL (cairn_source_is_url) of an export run folder (or of its
 * manifest) in a storage container, e.g.
 *   https://ACCOUNT.blob.core.windows.net/CONTAINER/DIR/EXPORT/RANGE/RUNID
 * with a SAS token as its query string (appended to every request, and
 * never logged: messages show the URL without its query) or in the
 * source's "sas" (a ${secret:...}, off the command line), or without one
 * and "auth" (OAuth2 client credentials for https://storage.azure.com) as
 * the http source reads it. The manifest is fetched into memory; a blob
 * (its blobName is relative to the container) is downloaded once, when the
 * reader first opens it, into the source's work directory in ranged
 * pieces of 8 MiB through the http source's retry loop
 * (429/5xx/timeouts, Retry-After, circuit breaker), continuing a partial
 * download where it stopped, every piece after the first with If-Match
 * (the first answer's ETag: a blob changed meanwhile is downloaded again
 * from its start, never spliced), and then read as a local file. Only the
 * current export's downloads are kept.
 *
 * Ownership: a remote handle is created by open and freed by close; the
 * transport and ctx it was given are borrowed for its lifetime. Called by
 * one thread at a time (the source's extract). */
#ifndef CAIRN_CX_REMOTE_H
#define CAIRN_CX_REMOTE_H

#include "source/source.h"

struct cairn__cx_remote;

/* Check cfg's "auth" for the job file's validation (a remote path only
 * uses it); CAIRN_EUSAGE with *ptr_out set. */
int cairn__cx_remote_check(const json_t *cfg, const char **ptr_out,
                           cairn_err *err);

/* Parse the URL and fetch the run's manifest (manifest.json, else the
 * legacy _manifest.json) into text; *display (new string) names it in
 * messages, without the query. */
int cairn__cx_remote_open(const struct cairn_source_ctx *ctx, const char *url,
                          struct cairn__cx_remote **out, struct cairn_buf *text,
                          char **display, cairn_err *err);

/* The local file of blob number i named name (manifest blobName, trimmed)
 * of the export whose manifest digest is ident: downloaded first unless
 * it is complete already. *path_out is a new string. */
int cairn__cx_remote_blob(struct cairn__cx_remote *r, const char *ident,
                          size_t i, const char *name, char **path_out,
                          cairn_err *err);

/* Delete the download of blob number i named name (with its .part and
 * .etag, if a kill left them), once no run can read it again; with name
 * NULL, every download of the export ident (its folder). */
void cairn__cx_remote_drop(const struct cairn__cx_remote *r,
                           const char *ident, size_t i, const char *name);

void cairn__cx_remote_close(struct cairn__cx_remote *r); /* NULL ok */

#endif
