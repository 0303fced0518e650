/* SPDX-License-Identifier: MIT */
/* err.h -- the one list of error codes and the error record.
 *
 * Every fallible function in cairn returns int: CAIRN_OK (0) on success,
 * CAIRN_DONE (1) when an iterator is exhausted, or a negative CAIRN_E* code.
 * Details go into a caller-supplied cairn_err; raising never allocates and
 * the first error wins (later raises leave the record untouched). */
#ifndef CAIRN_ERR_H
#define CAIRN_ERR_H

#include <stddef.h>

/* Codes are stable: they appear in logs and state. Append, never renumber. */
#define CAIRN_ERR_MAP(X)                                              \
  X(NOMEM,    -1,  "out of memory")                                   \
  X(IO,       -2,  "file or stream I/O failed")                       \
  X(HTTP,     -3,  "HTTP transfer failed")                            \
  X(PARSE,    -4,  "input could not be parsed")                       \
  X(CONTRACT, -5,  "record violates its canonical contract")          \
  X(SINK,     -6,  "sink failed or refused the batch")                \
  X(STATE,    -7,  "checkpoint store failure")                        \
  X(REPLAY,   -8,  "no recorded response matches the request")        \
  X(USAGE,    -9,  "invalid usage or job definition")                 \
  X(LOCKED,   -10, "job is already running")                          \
  X(SCHEMA,   -11, "schema is invalid or unsupported")                \
  X(VERIFY,   -12, "verification failed")                             \
  X(RETRY,    -13, "retry budget exhausted")                          \
  X(CIRCUIT,  -14, "circuit breaker open")                            \
  X(REJECTS,  -15, "too many records rejected")                       \
  X(CRYPTO,   -16, "cryptographic operation failed")                  \
  X(HOST,     -17, "request to a host the job does not allow")        \
  X(INTERNAL, -18, "internal error")                                  \
  X(CHANGED,  -19, "the checkpoint no longer fits the input")          \
  X(STOPPED,  -20, "stopped by a signal")                            \
  X(LOOP,     -21, "the source pages in a loop")

enum {
  CAIRN_OK   = 0,
  CAIRN_DONE = 1, /* iterator exhausted: not an error */
#define CAIRN_X_(name, val, text) CAIRN_E##name = val,
  CAIRN_ERR_MAP(CAIRN_X_)
#undef CAIRN_X_
};

#define CAIRN_ERRMSG_MAX 512

typedef struct cairn_err {
  int         code;                  /* first CAIRN_E* raised; 0 if none */
  long        cause;                 /* CURLcode, sqlite rc, errno, HTTP status */
  const char *file;                  /* where it was raised (static string) */
  int         line;
  char        msg[CAIRN_ERRMSG_MAX]; /* fixed: raising never allocates */
} cairn_err;

/* Record the error unless one is already set; returns 'code' either way so
 * callers can write `return CAIRN_RAISE(...)`. 'e' may be NULL. */
int cairn_err_set(cairn_err *e, int code, long cause, const char *file,
                  int line, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Forget a recorded error (used when an error was handled, e.g. retried). */
void cairn_err_clear(cairn_err *e);

/* Static text for a code ("out of memory"); never NULL. */
const char *cairn_strerror(int rc);
/* Static symbolic name for a code ("CAIRN_EIO"); never NULL. */
const char *cairn_errname(int rc);

#define CAIRN_RAISE(e, code, cause, ...) \
  cairn_err_set((e), (code), (cause), __FILE__, __LINE__, __VA_ARGS__)

/* For functions that hold no resources only. */
#define CAIRN_FAIL_IF(cond, e, code, cause, ...)                  \
  do {                                                            \
    if (cond)                                                     \
      return CAIRN_RAISE((e), (code), (cause), __VA_ARGS__);      \
  } while (0)

#define CAIRN_TRY(expr)                                           \
  do {                                                            \
    int cairn_rc_ = (expr);                                       \
    if (cairn_rc_ < 0)                                            \
      return cairn_rc_; /* callee already filled the cairn_err */ \
  } while (0)

#endif
