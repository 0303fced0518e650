/* SPDX-License-Identifier: MIT */
/* test_mem.c -- core/mem.h: the growable buffer's idle state. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/mem.h"

/* An idled buffer is empty, keeps its allocation, and takes appends again:
 * its pages read as zero when touched, which nothing may rely on but the
 * buffer's own bookkeeping (the NUL at data[0] stays). */
Test(mem, an_idle_buffer_keeps_its_allocation_and_fills_again)
{
  struct cairn_buf b = { 0 };
  char *first;
  char chunk[4096];

  memset(chunk, 'x', sizeof chunk);
  for (int i = 0; i < 512; i++) /* 2 MiB */
    cr_assert_eq(cairn_buf_append(&b, chunk, sizeof chunk), 0);
  first = b.data;
  cairn_buf_idle(&b);
  cr_assert_eq(b.len, 0);
  cr_assert_eq(b.data, first);
  cr_assert_str_eq(b.data, "");
  for (int i = 0; i < 512; i++)
    cr_assert_eq(cairn_buf_append(&b, chunk, sizeof chunk), 0);
  cr_assert_eq(b.data, first, "grew although the capacity was kept");
  cr_assert_eq(b.len, 512 * sizeof chunk);
  for (size_t k = 0; k < b.len; k += 1000)
    cr_assert_eq(b.data[k], 'x', "byte %zu", k);
  cr_assert_eq(b.data[b.len], '\0');
  cairn_buf_idle(&b); /* and on an empty one, then freed as usual */
  cairn_buf_idle(&b);
  cairn_buf_free(&b);
  cairn_buf_idle(&b); /* never allocated: nothing to do */
}
