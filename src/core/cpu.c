/* SPDX-License-Identifier: MIT */
/* cpu.c -- whether work may go to threads of its own. */
#include "core/cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cairn_cpu_threads(void)
{
  const char *env = getenv("CAIRN_PIPELINE");
  return !(env && strcmp(env, "0") == 0);
}

int cairn_cpu_second_core(void)
{
  return cairn_cpu_threads() && sysconf(_SC_NPROCESSORS_ONLN) >= 2;
}

void cairn_thread_name(const char *name)
{
  char n[16];
  snprintf(n, sizeof n, "%s", name);
  pthread_setname_np(pthread_self(), n);
}
