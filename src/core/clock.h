/* SPDX-License-Identifier: MIT */
/* clock.h -- injectable time.
 *
 * Wall-clock time never reaches an output (see docs/internals/determinism.md);
 * it is used for logs, run records, lock stamps, and retry timing. Tests pin
 * it with CAIRN_TEST_NOW=<epoch seconds>. */
#ifndef CAIRN_CLOCK_H
#define CAIRN_CLOCK_H

#include <stdint.h>
#include <stddef.h>

/* Seconds since the epoch (CAIRN_TEST_NOW when set). */
int64_t cairn_clock_now(void);
/* Monotonic milliseconds, for durations and deadlines. */
int64_t cairn_clock_mono_ms(void);
/* Sleep for ms milliseconds (restarts on EINTR). */
void    cairn_clock_sleep_ms(int64_t ms);

/* Stopping. The first SIGTERM or SIGINT of a run, noted by the runner's
 * handler with cairn_stop_note (async-signal-safe); cairn_stop_signal
 * says which (0: none yet). The waits that can be long (a retry's
 * backoff, a server's Retry-After, a quota reset) sleep with
 * cairn_clock_nap_ms, and HTTP transfers poll it, so a stop is answered
 * within a fraction of a second wherever the run is, not after them. */
void        cairn_stop_note(int sig);
int         cairn_stop_signal(void);
/* "SIGTERM" or "SIGINT" for the noted signal. */
const char *cairn_stop_name(void);
/* Sleep for ms milliseconds unless a stop is noted first, or meanwhile:
 * 0 when the whole time was slept, else the stop's signal. */
int         cairn_clock_nap_ms(int64_t ms);
/* Format epoch seconds as RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ" into out
 * (at least 21 bytes). */
void    cairn_clock_fmt(int64_t t, char *out, size_t n);
/* Parse "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS][.frac](Z|+hh:mm)", returning
 * epoch seconds in *out (fractions dropped). The 'T' may be 't' or a
 * space, and a time without Z or an offset (as ServiceNow writes them) is
 * taken as UTC, never as local time. Returns 0 or -1 when malformed. */
int     cairn_clock_parse(const char *s, int64_t *out);
/* Whether s[0..len) is an RFC 3339 date-time exactly (section 5.6:
 * full-date "T" full-time with seconds and Z or an offset; T and Z
 * case-insensitive; a leap second ":60" only in the last minute of a UTC
 * day), as JSON Schema's format "date-time" asserts. */
int     cairn_clock_is_date_time(const char *s, size_t len);
/* Days from civil date (proleptic Gregorian), and back. */
int64_t cairn_days_from_civil(int y, unsigned m, unsigned d);
void    cairn_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d);

#endif
