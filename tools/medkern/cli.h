/* Shared declarations of the medkern command line. */
#ifndef MEDKERN_TOOLS_CLI_H
#define MEDKERN_TOOLS_CLI_H

#include "medkern/medkern.h"

enum { MK_EXIT_OK = 0, MK_EXIT_FAIL = 1, MK_EXIT_USAGE = 2 };

int cmd_info(int argc, char **argv);
int cmd_kernels(int argc, char **argv);
int cmd_run_model(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_conform(int argc, char **argv);

/* 1 when argv[i] is --help or -h. */
int cli_wants_help(int argc, char **argv);
/* Value of an option "--name V" or "--name=V" at argv[*i] (advances *i); NULL if argv[*i]
   is not that option. Prints an error and sets *bad when the value is missing. */
const char *cli_opt(int argc, char **argv, int *i, const char *name, int *bad);

#endif
