/* SPDX-License-Identifier: MIT */
/* err.c -- error codes to text and the first-error-wins error record. */
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cairn_err_set(cairn_err *e, int code, long cause, const char *file,
                  int line, const char *fmt, ...)
{
  va_list ap;
  char *full;

  if (!e || e->code != 0)
    return code;
  e->code = code;
  e->cause = cause;
  e->file = file;
  e->line = line;
  va_start(ap, fmt);
  full = cairn_vstrfmt(fmt, ap);
  va_end(ap);
  /* Masked whole, before the cut: a secret that a quoted reply carries
   * across the cut would leave its first bytes otherwise. */
  cairn_log_mask(full);
  snprintf(e->msg, sizeof e->msg, "%s", full);
  free(full);
  return code;
}

void cairn_err_clear(cairn_err *e)
{
  if (e)
    memset(e, 0, sizeof *e);
}

const char *cairn_strerror(int rc)
{
  switch (rc) {
  case CAIRN_OK: return "success";
  case CAIRN_DONE: return "done";
#define CAIRN_X_(name, val, text) case val: return text;
  CAIRN_ERR_MAP(CAIRN_X_)
#undef CAIRN_X_
  }
  return "unknown error";
}

const char *cairn_errname(int rc)
{
  switch (rc) {
  case CAIRN_OK: return "CAIRN_OK";
  case CAIRN_DONE: return "CAIRN_DONE";
#define CAIRN_X_(name, val, text) case val: return "CAIRN_E" #name;
  CAIRN_ERR_MAP(CAIRN_X_)
#undef CAIRN_X_
  }
  return "CAIRN_E?";
}
