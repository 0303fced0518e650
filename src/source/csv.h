/* SPDX-License-Identifier: MIT */
/* csv.h -- RFC 4180 record scanning and field splitting, internal to
 * source/ and shared by the sources that read CSV text (src_file.c,
 * src_cost_export.c).
 *
 * Two steps, as the sources use them: cairn__csv_scan finds where a record
 * ends (a newline outside quotes) in a byte stream that may arrive in
 * pieces, and cairn__csv_split cuts one record into fields (pointers and
 * lengths, mostly into the record itself). Quotes are counted anywhere in
 * a record (a lone quote inside an unquoted field therefore opens a quoted
 * run, as RFC 4180 readers that scan by quote parity do). Pure functions;
 * thread-safe. */
#ifndef CAIRN_CSV_H
#define CAIRN_CSV_H

#include <stddef.h>

/* The largest record the sources that read CSV (and NDJSON lines) hold
 * whole: a row of more bytes, its quoted line breaks and terminator
 * included, is read past without being held, and quarantined with its
 * first CAIRN_CSV_KEEP bytes as its raw text (cairn__csv_too_large says
 * why), in a chunk of its own. So a giant field, or a quote that never
 * closes in a large file, costs no more memory than a chunk. */
#define CAIRN_CSV_RECORD_MAX ((size_t)4 << 20)
#define CAIRN_CSV_KEEP       ((size_t)64 << 10)

struct cairn_buf;

/* Append seg (p[0..seg)), the next bytes of a record being read, to out,
 * which holds the record from offset 'before' on, 'bytes' bytes of it read
 * so far: whole while the record is at most CAIRN_CSV_RECORD_MAX bytes,
 * then only its first CAIRN_CSV_KEEP bytes (cut back the moment it
 * passes the bound). 0, or -1 when out cannot grow. */
int cairn__csv_keep(struct cairn_buf *out, size_t before,
                    unsigned long long bytes, const char *p, size_t seg);

/* The length of p[0..n) without its line terminator (LF, CRLF, any CRs
 * before it): a record's raw text as the quarantine keeps it. */
static inline size_t cairn__csv_trim_eol(const char *p, size_t n)
{
  while (n && (p[n - 1] == '\n' || p[n - 1] == '\r'))
    n--;
  return n;
}

/* The reject reason of a record of 'bytes' bytes on 'lines' lines that
 * is larger than CAIRN_CSV_RECORD_MAX; open_quote: it ran to
 * the end of its file inside quotes. New string. */
char *cairn__csv_too_large(long long bytes, long lines, int open_quote);

/* Scan p[0..n) for the end of the current record, starting in quote state
 * *quoted (0 at a record start) and updating it. Returns the number of
 * bytes consumed: up to and including the newline that ends the record
 * (then *done = 1), or n when the record continues past p + n (*done = 0;
 * call again with the next bytes). *lines is increased by the newlines
 * consumed, quoted ones included. */
size_t cairn__csv_scan(const char *p, size_t n, int *quoted, long *lines,
                       int *done);

/* 1 when the record text p[0..n) (terminator included) is a blank line:
 * it carries no record and is skipped. */
int cairn__csv_blank(const char *p, size_t n);

/* Why the header record p[0..n) (its terminator included, a UTF-8 BOM
 * stripped) cannot start a CSV file cairn reads, as a static message to
 * follow the file's name, or NULL: UTF-16 text (a byte order mark FF FE
 * or FE FF, or NUL bytes), whose every row would be rejected as ragged
 * with names no mapping finds; or lone CR line ends (a CR outside quotes
 * that no LF follows), with which the whole file reads as one header
 * line and no row. */
const char *cairn__csv_header_problem(const char *p, size_t n);

/* Field arrays reused from record to record (owned, grown on demand). */
struct cairn__csv_cols {
  const char **cols;   /* field texts, NOT NUL-terminated: into the record
                          that was split, or into esc */
  size_t      *lens;   /* byte length of each field */
  size_t       cap;    /* allocated entries of both arrays */
  char        *esc;    /* quoted fields with doubled quotes, undoubled */
  size_t       esc_cap;
};

/* Split the record p[0..len) without changing it: its LF or CRLF
 * terminator is dropped, quotes are removed and doubled quotes undoubled.
 * A field is read where it lies in p unless it had doubled quotes (or text
 * after its closing quote), then from out->esc. Returns the number of
 * fields (at least 1); out->cols[i] / out->lens[i] describe them until the
 * next split or until p changes. Text after a closing quote up to the next
 * comma is kept as-is. */
size_t cairn__csv_split(const char *p, size_t len, struct cairn__csv_cols *out);

/* Release the arrays; NULL-safe, leaves *c zeroed. */
void cairn__csv_cols_free(struct cairn__csv_cols *c);

#endif
