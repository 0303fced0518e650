/* SPDX-License-Identifier: MIT */
/* verify.h -- checking an evidence bundle (the tar the bundle sink writes).
 *
 * cairn_bundle_verify() reads a bundle once, streaming: it hashes and sizes
 * every entry, decompresses each part to count its records, then compares
 * all of it with manifest.json and, given a public key, checks the Ed25519
 * signature in manifest.sig over the manifest's exact bytes. Beside
 * libarchive it reads the tar's headers, paddings and end as raw blocks,
 * so that a bundle another tar program would read differently (a pax
 * global header, bytes hidden in a padding) fails. Every mismatch
 * is reported, not just the first, each as "<entry>: <what differs>".
 * The layout and the manifest format are described in docs/evidence.md and
 * docs/internals/bundle.md.
 *
 * Ownership: every pointer parameter is borrowed; the report owns its
 * strings until cairn_verify_report_free(). Not thread-safe per report;
 * separate reports may be built concurrently. */
#ifndef CAIRN_VERIFY_H
#define CAIRN_VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include "core/err.h"
#include "core/mem.h"

/* The manifest's "format" value; bumped on an incompatible layout change. */
#define CAIRN_BUNDLE_FORMAT "cairn-evidence-bundle/1"
/* Entry names inside a bundle. */
#define CAIRN_BUNDLE_MANIFEST "manifest.json"
#define CAIRN_BUNDLE_SIG      "manifest.sig"
/* Raw Ed25519 signature size in manifest.sig. */
#define CAIRN_BUNDLE_SIG_LEN  64
/* Largest manifest.json a reader accepts (bytes). */
#define CAIRN_BUNDLE_MANIFEST_MAX (64u * 1024 * 1024)

struct cairn_verify_report {
  char    *job;               /* manifest's job, NULL if unreadable */
  char    *window;            /* window key ("all", "2024-05") or NULL */
  char    *window_start;      /* RFC 3339 or NULL ("all") */
  char    *window_end;
  char    *logical_time;      /* manifest's logical time or NULL */
  char    *contract;          /* "name version" or NULL */
  char    *recording_sha256;  /* replayed runs only, else NULL */
  long     n_parts;           /* parts listed in the manifest */
  uint64_t records;           /* records counted in the bundle's parts */
  uint64_t bytes;             /* compressed bytes of those parts */
  int      is_signed;         /* manifest declares a signature */
  int      sig_checked;       /* 1: signature verified with the given key */
  char     key_fingerprint[65]; /* manifest's key (hex SHA-256 of the DER
                                   SubjectPublicKeyInfo), "" if unsigned */
  size_t   n_problems;
  char   **problems;          /* "entry: what differs", in report order:
                                 archive, manifest, signature, parts in
                                 manifest order, then unlisted entries */
};

/* Verify the bundle at tar_path. pubkey_pem_path (NULL: do not check the
 * signature) names a PEM public key (openssl pkey -pubout).
 *
 * Returns CAIRN_OK when everything matches; CAIRN_EVERIFY when at least one
 * problem was found (all of them are in out->problems, the first also in
 * err); CAIRN_EIO when tar_path cannot be opened; CAIRN_EUSAGE when the
 * public key cannot be read or is not Ed25519. A signed bundle checked
 * without a key is CAIRN_OK with out->sig_checked == 0; an unsigned bundle
 * checked with a key is a problem. 'out' is always initialised (free it
 * with cairn_verify_report_free even on failure). */
int cairn_bundle_verify(const char *tar_path, const char *pubkey_pem_path,
                        struct cairn_verify_report *out, cairn_err *err);

/* Release the report's strings; the struct itself is the caller's. NULL ok. */
void cairn_verify_report_free(struct cairn_verify_report *r);

/* ---- shared with sink_bundle.c (module-internal) ---------------------- */

/* Streaming record counter over a zstd-compressed NDJSON part: counts
 * newline-terminated lines, plus a final line without newline. */
struct cairn__zcount {
  void    *dctx;       /* ZSTD_DCtx, owned */
  uint64_t lines;      /* lines counted so far */
  int      partial;    /* bytes seen after the last newline */
  size_t   hint;       /* last ZSTD_decompressStream result; 0 = frame end */
  int      seen;       /* any input at all */
  char     error[128]; /* first decode error, "" while fine */
};

void cairn__zcount_init(struct cairn__zcount *z);
/* Feed compressed bytes. Returns 0, or -1 once the stream is invalid
 * (z->error says why; later calls keep returning -1). */
int  cairn__zcount_update(struct cairn__zcount *z, const void *p, size_t n);
/* End of input: *records_out is the count. Returns 0 or -1 (truncated or
 * invalid stream, z->error). Releases the context either way. */
int  cairn__zcount_final(struct cairn__zcount *z, uint64_t *records_out);

/* Hex SHA-256 of the DER SubjectPublicKeyInfo of an OpenSSL EVP_PKEY. */
struct evp_pkey_st;
int  cairn__pkey_fingerprint(struct evp_pkey_st *pkey, char out[65]);

/* The logical time t (epoch seconds) as bundle file names give it: UTC in
 * ISO 8601's basic format, to the second ("20240601T040000Z"). */
#define CAIRN_BUNDLE_STAMP_MAX 32
void cairn__bundle_stamp(int64_t t, char out[CAIRN_BUNDLE_STAMP_MAX]);

/* Append the bytes of the manifest.json entry of the tar at path to out.
 * CAIRN_EIO when the file cannot be read as a tar, CAIRN_EVERIFY when it
 * holds no manifest.json. */
int  cairn__bundle_read_manifest(const char *path, struct cairn_buf *out,
                                 cairn_err *err);

#endif
