/* SPDX-License-Identifier: MIT */
/* mock.h -- `cairn mock`: serve a HAR recording over real HTTP on
 * loopback, with injectable faults, so the live transport, retries and
 * resume can be tested end to end without the internet.
 *
 * Requests are matched exactly as the replay transport matches them (the
 * same code, har.c): method + path + query (order-insensitive) + body,
 * ignoring scheme/host/port; recorded "REDACTED" values match anything.
 * Every recorded origin (scheme://host[:port]) found in a served body or
 * in a Link / Location / Content-Location header is replaced by the
 * mock's own http://HOST:PORT, so next links come back to the mock.
 * An unmatched request gets 404 with a JSON error naming the closest
 * recorded request.
 *
 * Fault SPEC grammar (docs/internals/http.md has examples):
 *   SPEC     := ACTION [ '@' SELECTOR ]
 *   ACTION   := STATUS [ ':retry-after=' ( SECONDS | 'date' ) ]
 *             | 'reset' | 'truncate' | 'slow:' MILLISECONDS
 *   STATUS   := an HTTP status 400..599 (429, 500, 502, 503, 504, ...)
 *   SELECTOR := N      only the Nth request (1-based, all requests count)
 *             | N '+'  every request from the Nth on
 *             | 'every=' K   every Kth request (K, 2K, ...)
 *             | 'rate=' P    each request with probability P (0..1),
 *                            decided by (seed, fault, request number)
 *   No selector: every request. The first fault (in the order given)
 *   whose selector picks a request applies. A status, reset or truncate
 *   fault does not consume the recorded entry, so the retry gets the real
 *   answer; slow delays the real answer (and consumes it).
 *
 * Thread-safety: the server runs its own threads; the functions below
 * may be called from any one controlling thread. */
#ifndef CAIRN_MOCK_H
#define CAIRN_MOCK_H

#include <stdint.h>
#include <stdio.h>
#include "core/err.h"

typedef struct cairn_mock cairn_mock;

struct cairn_mock_opts {         /* all borrowed; copied by start */
  const char *har_path;          /* recording to serve (required) */
  const char *listen;            /* "IPv4:PORT"; NULL = "127.0.0.1:0";
                                    port 0 = any free port */
  const char *const *faults;     /* SPECs, NULL-terminated; may be NULL */
  uint64_t    seed;              /* for rate= selectors (CLI default 1) */
  const char *log_path;          /* request log, appended; NULL = log_fp */
  FILE       *log_fp;            /* borrowed; both NULL = stderr */
  long        max_requests;      /* finished after N requests; 0 = never */
  long        idle_exit_ms;      /* finished after this long without a
                                    request; 0 = never */
};

/* Check one fault SPEC; CAIRN_EUSAGE with a message if malformed. */
int cairn_mock_fault_check(const char *spec, cairn_err *err);

/* Load the recording, bind and start serving. On success *out is running
 * and must be released with cairn_mock_stop(). CAIRN_EUSAGE (bad listen
 * address or fault), CAIRN_EIO/CAIRN_EPARSE (recording), CAIRN_EIO
 * (cannot bind or open the log). On failure *out is NULL. */
int cairn_mock_start(const struct cairn_mock_opts *o, cairn_mock **out,
                     cairn_err *err);

/* The port actually bound (useful with port 0). */
int cairn_mock_port(const cairn_mock *m);

/* "http://HOST:PORT", borrowed from m. */
const char *cairn_mock_url(const cairn_mock *m);

/* Requests that reached the handler so far (faulted ones included). */
long cairn_mock_request_count(cairn_mock *m);

/* Wait up to timeout_ms for the server to be finished (max_requests
 * completed, or idle for idle_exit_ms). Returns 1 when finished, 0 when
 * the time ran out. */
int cairn_mock_wait(cairn_mock *m, long timeout_ms);

/* Stop serving (closing open connections, waking delayed responses) and
 * free everything. NULL is a no-op. */
void cairn_mock_stop(cairn_mock *m);

#endif
