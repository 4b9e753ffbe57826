/*
 * medkern conform: every op and every kernel variant that applies on a device, against
 * the reference (the engine is tools/conform; docs/conformance.md says what it checks).
 * Prints the summary table; --json writes the report for a vendor (schema
 * docs/conform.schema.json). Exit 0 when every case passed, 1 when one failed, 2 on bad
 * usage (unknown device or op, bad seed).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conform.h"

static void usage(FILE *f) {
    fprintf(f, "usage: medkern conform --device D [--quick|--full] [--seed S] [--op OP] [--json FILE]\n\n"
               "Runs every op x every kernel variant that applies on device D (\"ref\", \"opencl:0\",\n"
               "\"cuda:0\", \"auto\", ...) on random shapes and dtypes against the scalar reference:\n"
               "error bounds of docs/numerics.md, guard bytes, poisoned outputs, NaN/Inf inputs\n"
               "where the result is defined, two runs with identical bits. Ops that no variant\n"
               "of the device supports are listed as unsupported (not failures).\n\n"
               "  --quick       a small case set per op (default)\n"
               "  --full        many more shapes (DESIGN.md section 4's sets)\n"
               "  --seed S      seed of every case's data (default 1); the same seed gives the\n"
               "                same cases\n"
               "  --op OP       one op only (attention_prefill, ..., add)\n"
               "  --json FILE   write the report as JSON (schema docs/conform.schema.json)\n\n"
               "exit: 0 every case passed, 1 a case failed, 2 bad usage\n");
}

int cmd_conform(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return MK_EXIT_OK;
    }
    mkcf_options o = {NULL, MKCF_QUICK, 1, -1, 16, stderr};
    const char *json = NULL, *op_name = NULL, *seed = NULL;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = cli_opt(argc, argv, &i, "--device", &bad))) o.device = v;
        else if ((v = cli_opt(argc, argv, &i, "--seed", &bad))) seed = v;
        else if ((v = cli_opt(argc, argv, &i, "--op", &bad))) op_name = v;
        else if ((v = cli_opt(argc, argv, &i, "--json", &bad))) json = v;
        else if (!bad && !strcmp(argv[i], "--quick")) o.mode = MKCF_QUICK;
        else if (!bad && !strcmp(argv[i], "--full")) o.mode = MKCF_FULL;
        else if (!bad) {
            fprintf(stderr, "medkern conform: unknown option \"%s\"\n", argv[i]);
            usage(stderr);
            return MK_EXIT_USAGE;
        }
        if (bad) return MK_EXIT_USAGE;
    }
    if (!o.device) {
        fprintf(stderr, "medkern conform: --device is required (e.g. ref, opencl:0)\n");
        return MK_EXIT_USAGE;
    }
    if (seed) {
        char *end = NULL;
        errno = 0;
        unsigned long long s = strtoull(seed, &end, 0);
        if (!*seed || *end || errno || seed[0] == '-') {
            fprintf(stderr, "medkern conform: --seed \"%s\" is not a non-negative integer\n", seed);
            return MK_EXIT_USAGE;
        }
        o.seed = s;
    }
    if (op_name) {
        mk_op op;
        if (mk_op_from_name(op_name, &op) != MK_OK) {
            fprintf(stderr, "medkern conform: --op: %s (ops: ", mk_last_error());
            for (int i = 0; i < MK_OP_COUNT; i++) fprintf(stderr, "%s%s", i ? ", " : "", mk_op_name((mk_op)i));
            fprintf(stderr, ")\n");
            return MK_EXIT_USAGE;
        }
        o.op = (int)op;
    }
    if (json) { /* fail early, not after the run */
        FILE *f = fopen(json, "w");
        if (!f) {
            fprintf(stderr, "medkern conform: --json: cannot write %s: %s\n", json, strerror(errno));
            return MK_EXIT_USAGE;
        }
        fclose(f);
    }
    mkcf_report *r = malloc(sizeof *r);
    if (!r) {
        fprintf(stderr, "medkern conform: out of memory\n");
        return MK_EXIT_FAIL;
    }
    mk_status s = mkcf_run(&o, r);
    if (s != MK_OK) {
        fprintf(stderr, "medkern conform: --device %s: %s\n", o.device, mk_last_error());
        free(r);
        return s == MK_ERR_NOT_FOUND || s == MK_ERR_INVALID_ARGUMENT ? MK_EXIT_USAGE : MK_EXIT_FAIL;
    }
    mkcf_report_print(r, stdout);
    int rc = r->passed ? MK_EXIT_OK : MK_EXIT_FAIL;
    if (json) {
        char why[256];
        if (mkcf_report_write(r, json, why, sizeof why) != MK_OK) {
            fprintf(stderr, "medkern conform: --json: %s\n", why);
            rc = MK_EXIT_FAIL;
        }
    }
    free(r);
    return rc;
}
