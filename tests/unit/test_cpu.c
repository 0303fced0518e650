/* SPDX-License-Identifier: MIT */
/* test_cpu.c -- core/cpu.h: the CAIRN_PIPELINE switch and thread names. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"

Test(cpu, cairn_pipeline_0_keeps_work_on_the_calling_thread)
{
  cr_assert_eq(setenv("CAIRN_PIPELINE", "0", 1), 0);
  cr_assert_eq(cairn_cpu_threads(), 0);
  cr_assert_eq(cairn_cpu_second_core(), 0);
  cr_assert_eq(setenv("CAIRN_PIPELINE", "1", 1), 0);
  cr_assert_eq(cairn_cpu_threads(), 1);
  cr_assert_eq(unsetenv("CAIRN_PIPELINE"), 0);
  cr_assert_eq(cairn_cpu_threads(), 1);
}

static void *named(void *arg)
{
  char *got = arg;
  cairn_thread_name("cairn-a-name-longer-than-fifteen");
  pthread_getname_np(pthread_self(), got, 16);
  return NULL;
}

/* The kernel keeps 15 bytes of a thread's name; a longer one is cut, not
 * refused (pthread_setname_np fails with ERANGE on it). */
Test(cpu, a_thread_names_itself_cut_to_fifteen_bytes)
{
  pthread_t th;
  char got[16] = "";
  cr_assert_eq(pthread_create(&th, NULL, named, got), 0);
  cr_assert_eq(pthread_join(th, NULL), 0);
  cr_assert_str_eq(got, "cairn-a-name-lo");
}
