/* SPDX-License-Identifier: MIT */
/* fuzz_verify.c -- `cairn verify` over arbitrary files: a tampered or
 * truncated evidence bundle (tar, zstd parts, manifest.json) is reported,
 * never crashes the verifier. The report agrees with the return code
 * (CAIRN_OK: no problems; CAIRN_EVERIFY: at least one, the first also in
 * the error), and every problem is one line of valid UTF-8 however the
 * archive names its entries: `cairn verify` prints one problem per line,
 * and a bundle must not be able to print lines of its own. */
#include "core/codec.h"
#include "fuzz.h"
#include "core/log.h"
#include "sink/verify.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *path;
  struct cairn_verify_report rep;
  cairn_err err = {0};
  int rc;

  path = fuzz_input_file("verify", ".tar", data, size);
  rc = cairn_bundle_verify(path, NULL, &rep, &err);
  if (rc == CAIRN_OK) {
    CHECK(rep.n_problems == 0);
  } else {
    CHECK(rc == CAIRN_EVERIFY && rep.n_problems >= 1 && err.msg[0]);
    for (size_t i = 0; i < rep.n_problems; i++) {
      const char *p = rep.problems[i];
      CHECK(p && p[0] && cairn_utf8_valid(p, strlen(p)));
      for (; *p; p++)
        CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
    }
  }
  cairn_verify_report_free(&rep);
  unlink(path);
  return 0;
}
