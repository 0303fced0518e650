/* SPDX-License-Identifier: MIT */
/* cli.h -- the subcommands, one file each (cmd_<name>.c), listed in one
 * table in main.c. Each entry point takes the arguments after the
 * subcommand name (argv[0] is the subcommand) and returns the exit code. */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include "state/state.h"

int cairn_cmd_run(int argc, char **argv);
int cairn_cmd_validate(int argc, char **argv);
int cairn_cmd_status(int argc, char **argv);
int cairn_cmd_dlq(int argc, char **argv);
int cairn_cmd_verify(int argc, char **argv);
int cairn_cmd_mock(int argc, char **argv);
int cairn_cmd_decrypt(int argc, char **argv);

/* Shared option helpers. */
/* --state/--out resolution: flag, then $CAIRN_STATE/$CAIRN_OUT, then
 * "state"/"out". Borrowed results. */
const char *cairn_cli_state_dir(const char *flag);
const char *cairn_cli_out_dir(const char *flag);
/* Open the state store of --state (resolved as above) for a command that
 * reads it (`cmd` names it in messages). Returns the exit code: 0 with *st
 * open (the caller closes it); 2 when the directory holds no state store
 * (none is created); 3 when it cannot be opened. Messages go to stderr. */
int cairn_cli_state_read(const char *flag, const char *cmd, cairn_state **st);
/* Set up logging from --log-format/--log-level values (NULL: from
 * $CAIRN_LOG_FORMAT/$CAIRN_LOG_LEVEL, then json/info). An unknown value is
 * said on stderr and returns -1: the caller exits 2. */
int cairn_cli_log_setup(const char *format, const char *level);
/* The job a status/dlq argument names: a job file's "name" when it is
 * one, else the argument without its directory and ".json". New string. */
char *cairn_cli_job_name(const char *arg);
/* Does the state know the job a status/dlq argument names? 0 when it has
 * a run or a window of it, or when arg is a job file (a job that has not
 * run yet); else 2, after saying on stderr which jobs it does know (a
 * mistyped name would otherwise look like a healthy job with no runs). */
int cairn_cli_job_known(cairn_state *st, const char *arg, const char *job,
                        const char *cmd, const char *state_flag);
/* A whole decimal integer in [lo, hi] into *out: 0, or -1 (the caller
 * names the option in its message). */
int cairn_cli_num(const char *s, long long lo, long long hi, long long *out);
/* An option that takes one value: value into *slot, or, when *slot holds
 * another one already (the option was given twice: which one is meant is
 * not for cairn to guess), -1 after saying so on stderr (the caller exits
 * 2). The same value again is no conflict. */
int cairn_cli_once(const char *cmd, const char *opt, const char **slot,
                   const char *value);
/* A command's --help: text on stdout, flushed; 0, or 3 when it could not
 * be written (main then says so on stderr). */
int cairn_cli_help(const char *text);

#define CAIRN_VERSION "0.1.0"

#endif
