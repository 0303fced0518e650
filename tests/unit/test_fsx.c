/* SPDX-License-Identifier: MIT */
/* test_fsx.c -- file-system helpers: path joining and mkdir -p at their
 * edges (an empty directory is the current one, never the root). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsx.h"

static char dir[64];

static void setup(void)
{
  snprintf(dir, sizeof dir, "/tmp/cairn-fsx.XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
  cairn_err err = { 0 };
  cairn_fs_remove_tree(dir, &err);
}

TestSuite(fsx, .init = setup, .fini = teardown, .timeout = 20);

static void expect_join(const char *a, const char *b, const char *want)
{
  char *got = cairn_path_join(a, b);
  cr_assert_str_eq(got, want, "join(\"%s\", \"%s\")", a, b);
  free(got);
}

/* `--out ""` or `--state ""`: the outputs and the state go to the current
 * directory (as the bundle sink already took it), not to "/warehouse.db"
 * and "/cairn.db". */
Test(fsx, joining_to_an_empty_directory_stays_relative)
{
  expect_join("", "warehouse.db", "warehouse.db");
  expect_join("", "/abs/x", "/abs/x");
  expect_join("out", "warehouse.db", "out/warehouse.db");
  expect_join("out/", "warehouse.db", "out/warehouse.db");
  expect_join("/", "x", "/x");
  expect_join("out", "/abs/x", "/abs/x");
}

/* mkdir -p of "" (the directory part of "/x.db", or an empty --state)
 * read past the end of its copy of the path and failed with "mkdir :". */
Test(fsx, mkdirs_of_nothing_or_the_root_succeeds)
{
  cairn_err err = { 0 };
  char *deep = cairn_strfmt("%s/a/b//c/", dir);
  struct stat st;

  cr_assert_eq(cairn_fs_mkdirs("", &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_fs_mkdirs("/", &err), CAIRN_OK, "%s", err.msg);
  cr_assert_eq(cairn_fs_mkdirs(deep, &err), CAIRN_OK, "%s", err.msg);
  cr_assert(stat(deep, &st) == 0 && S_ISDIR(st.st_mode));
  free(deep);
}
