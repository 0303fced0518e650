/* SPDX-License-Identifier: MIT */
/* fuzz_job.c -- job files: whatever the bytes, cairn_job_load either
 * loads a job or refuses with CAIRN_EUSAGE and at least one diagnostic,
 * every one of them "file:line:col: message" with line and col from 1
 * (what `cairn run` and `cairn validate` print before exiting 2).
 *
 * The input is written to a job file in a scratch directory; the sinks it
 * names come from the repository's sinks/, its contract from schemas/
 * (run from the repository root). */
#include "fuzz.h"
#include "core/log.h"
#include "job/spec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "path:LINE:COL: " with LINE, COL >= 1, at the start of each line. */
static int well_placed(const char *text)
{
  while (*text) {
    const char *nl = strchr(text, '\n'), *p = text;
    long line, col;
    char *e;
    if (!nl)
      return 0; /* every diagnostic ends its line */
    while (p < nl && *p != ':')
      p++;
    if (p == text || p == nl)
      return 0;
    line = strtol(p + 1, &e, 10);
    if (e == p + 1 || *e != ':' || line < 1)
      return 0;
    col = strtol(e + 1, &e, 10);
    if (*e != ':' || e[1] != ' ' || col < 1)
      return 0;
    text = nl + 1;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *path;
  static const char *const all[] = { "input=fixtures/demo/cost.csv",
                                      "tenant_id=t", "client_id=c" };
  const char *params[4] = { NULL };
  struct cairn_job_opts jo = { params, "schemas", "sinks", 0, 0, 0, NULL };
  struct cairn_job *job = NULL;
  struct cairn_diag d = {0};
  cairn_err err = {0};
  int rc;

  path = fuzz_input_file("job", ".json", data, size);
  /* Only the parameters the input names: an unknown one is refused. */
  for (size_t i = 0, n = 0; i < sizeof all / sizeof *all; i++) {
    char ref[32];
    snprintf(ref, sizeof ref, "${param:%.*s", (int)strcspn(all[i], "="),
             all[i]);
    if (memmem(data, size, ref, strlen(ref)))
      params[n++] = all[i];
  }
  rc = cairn_job_load(path, &jo, &job, &d, &err);
  if (rc == CAIRN_OK) {
    CHECK(job != NULL && d.n == 0);
  } else {
    CHECK(rc == CAIRN_EUSAGE && job == NULL && d.n >= 1);
    CHECK(d.text.data && well_placed(d.text.data));
  }
  cairn_job_free(job);
  cairn_diag_free(&d);
  unlink(path);
  return 0;
}
