/* SPDX-License-Identifier: MIT */
/* progress.h -- the live progress line of `cairn run` on a terminal.
 *
 * When stderr is a TTY (and $CAIRN_PROGRESS is not "0", $TERM is not
 * "dumb"), one line is redrawn in place with \r, at most four times a
 * second:
 *     demo-cost  12,345 records  13 chunks  4,567 rec/s  2 retries  ETA 0:42
 * (ETA only when a total is known) and cleared at the end, so the summary
 * and log lines are not mixed with it. Otherwise every call does nothing,
 * so the runner may call it unconditionally. Process-global, thread-safe.
 *
 * Log lines also go to stderr: the logger's hook is cairn_progress_hold,
 * which erases the line and holds off redraws while a log line is written
 * (the next update redraws it). */
#ifndef CAIRN_PROGRESS_H
#define CAIRN_PROGRESS_H

#include <stdint.h>

/* Begin a progress line for job (copied). A running one is ended first. */
void cairn_progress_start(const char *job);
/* Current totals of the run; total is the expected number of records, or
 * -1 when unknown. Redraws when 250 ms have passed since the last draw. */
void cairn_progress_update(int64_t records, int64_t chunks, int64_t retries,
                           int64_t total);
/* before 1: erase the line and hold off every redraw until hold(0) (the
 * logger's hook around each line it writes: cairn_log_set_hook). */
void cairn_progress_hold(int before);
/* Erase the line and stop; later updates do nothing until the next start. */
void cairn_progress_end(void);

/* Test seam: render the line for these figures into out (n bytes) as the
 * TTY would show it, without escape codes. elapsed_ms is the time since
 * start. Returns out. */
char *cairn_progress_render(const char *job, int64_t records, int64_t chunks,
                            int64_t retries, int64_t total,
                            int64_t elapsed_ms, char *out, unsigned n);

#endif
