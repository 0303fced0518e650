/* SPDX-License-Identifier: MIT */
/* log.h -- structured logging: JSON lines on stderr (or text for people).
 *
 * Each line carries ts, level, run_id, job, window, seq and msg, plus any
 * extra fields given. Registered secret values are masked ("***") in every
 * line before it is written, whatever the caller passed in. The log context
 * (run id, job, window, seq) is process-global; seq is per thread so the
 * loader thread of a pipeline can log its own chunk. */
#ifndef CAIRN_LOG_H
#define CAIRN_LOG_H

#include <stdio.h>
#include <jansson.h>

enum cairn_log_level {
  CAIRN_LOG_DEBUG = 0,
  CAIRN_LOG_INFO  = 1,
  CAIRN_LOG_WARN  = 2,
  CAIRN_LOG_ERROR = 3,
};

/* json: 1 for JSON lines, 0 for text. out: borrowed, default stderr. */
void cairn_log_init(int json, int min_level, FILE *out);
/* Strings are copied. NULL clears a field. seq <= 0 clears seq. */
void cairn_log_set_run(const char *run_id, const char *job);
void cairn_log_set_window(const char *window);
void cairn_log_set_seq(long seq);
/* Remember a secret value (copied) so no log line ever shows it, nor its
 * percent-encoded form (as a URL query carries it; hex in either case).
 * Values shorter than 4 bytes are ignored (they would mask too much). */
void cairn_log_add_secret(const char *value);
/* Replace every registered secret in s (in place when it fits, which it
 * always does because the mask is shorter). Used by other writers too. */
void cairn_log_mask(char *s);
/* The same for the n bytes at s, which may hold NUL bytes (s[n] must be
 * NUL): each run between NULs is masked on its own, as no secret holds a
 * NUL. Returns the new length (s[new length] is NUL). */
size_t cairn_log_mask_n(char *s, size_t n);
/* Does s contain a registered secret? */
int  cairn_log_has_secret(const char *s);

/* Call hook(1) before each line is written and hook(0) after it (e.g. to
 * clear a live progress line on the terminal and keep it from being
 * redrawn in between); NULL removes it. */
void cairn_log_set_hook(void (*hook)(int before));

/* OR'd into a level: the line is written whatever the minimum level
 * (--log-level error does not hide it). For what a run must never keep
 * quiet, such as TLS verification turned off. */
#define CAIRN_LOG_ALWAYS 0x100

void cairn_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Like cairn_log with extra fields. 'fields' is stolen (so a json_pack()
 * result can be passed directly) and may be NULL. */
void cairn_logj(int level, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write the stop line of signal sig (SIGTERM or SIGINT): a warning that
 * the signal arrived and the run is stopping, in the log's format (JSON or
 * text, with run id and job), to the log's output, whatever the minimum
 * level. Async-signal-safe: for a signal handler (one write(2) of a line
 * made beforehand, its timestamp filled in), so that a run killed before
 * it reaches its next chunk still leaves the stop in its log. */
void cairn_log_stop_write(int sig);

#define cairn_debug(...) cairn_log(CAIRN_LOG_DEBUG, __VA_ARGS__)
#define cairn_info(...)  cairn_log(CAIRN_LOG_INFO, __VA_ARGS__)
#define cairn_warn(...)  cairn_log(CAIRN_LOG_WARN, __VA_ARGS__)
#define cairn_error(...) cairn_log(CAIRN_LOG_ERROR, __VA_ARGS__)

#endif
