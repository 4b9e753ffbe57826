/* medkern: the command line. One file per command (cmd_*.c); this one dispatches. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"info", cmd_info, "devices, features, host topology, build features"},
    {"kernels", cmd_kernels, "kernel registry and why each variant applies on a device"},
    {"run-model", cmd_run_model, "run the reference decoder model on a device and print tokens/s"},
    {"compare", cmd_compare, "compare two Google Benchmark JSON files (Mann-Whitney U, geomean)"},
    {"calibrate", cmd_calibrate, "measure a device's copy bandwidth and GEMM rate (cached)"},
    {"profile", cmd_profile, "profile a medical LLM's layers on a device (TTFT, TPOT, per-kernel roofline)"},
    {"tune", cmd_tune, "search a device's kernel parameters and write its tuning file"},
    {"conform", cmd_conform, "every op and variant on a device against the reference (pass/fail, JSON)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: medkern <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`medkern <command> --help` for a command's options.\n"
               "exit codes: 0 ok, 1 failure, 2 bad usage or input\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return MK_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return MK_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("medkern %s (%s)\n", mk_version(), MEDKERN_GIT_COMMIT);
        return MK_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "medkern: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return MK_EXIT_USAGE;
}
