/* SPDX-License-Identifier: MIT */
/* cpu.h -- whether work may go to threads of its own.
 *
 * One answer for every component that starts helper threads (the runner's
 * loader and mapper, the cost export's decompressor), so CAIRN_PIPELINE=0
 * keeps a whole run on the calling thread, for debugging and for measuring
 * what the threads gain; and the names those threads go by. */
#ifndef CAIRN_CPU_H
#define CAIRN_CPU_H

/* 0 when CAIRN_PIPELINE is "0", else 1. */
int cairn_cpu_threads(void);
/* 1 when threads are allowed and a second core is online: for a helper
 * that only pays when it does not take the core of the thread it helps. */
int cairn_cpu_second_core(void);
/* Name the calling thread (at most 15 bytes are kept), so top -H, perf
 * and /proc/PID/task/TID/comm tell the helpers apart. */
void cairn_thread_name(const char *name);

#endif
