/* SPDX-License-Identifier: MIT */
/* fuzz.h -- shared by the fuzz targets (header-only: each target is linked
 * alone, with replay.c or with libFuzzer). */
#ifndef CAIRN_FUZZ_H
#define CAIRN_FUZZ_H
#include "core/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A property that does not hold: abort, which both drivers report. */
#define CHECK(c) do { if (!(c)) abort(); } while (0)

/* Write the input to this process's scratch file for the code under test,
 * which reads files: /tmp/cairn-fuzz-<what>-<pid><ext>. The first call
 * also quietens the log. Returns the path (static). */
static inline const char *fuzz_input_file(const char *what, const char *ext,
                                          const uint8_t *data, size_t size)
{
  static char path[96];
  FILE *fp;
  if (!path[0]) {
    cairn_log_init(0, CAIRN_LOG_ERROR + 1, stderr);
    snprintf(path, sizeof path, "/tmp/cairn-fuzz-%s-%ld%s", what,
             (long)getpid(), ext);
  }
  fp = fopen(path, "wb");
  CHECK(fp && fwrite(data, 1, size, fp) == size && fclose(fp) == 0);
  return path;
}

#endif
