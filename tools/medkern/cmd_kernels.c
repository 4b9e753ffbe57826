/* medkern kernels: the registry, and on a device why each variant applies or not. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_kernels(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: medkern kernels [--device D] [--op OP]\n\n"
               "Without --device: every registered kernel variant per op (name, backend,\n"
               "priority). With --device (\"ref\", \"opencl:0\", \"cuda:0\", \"auto\"): for each\n"
               "op, whether each variant applies on that device and why not, and which one\n"
               "the dispatcher would choose (\"(tuned: from FILE, entry ...)\" when the\n"
               "device's tuning file names it, or why a tuned name is ignored), then the\n"
               "device's tunable kernel parameters with where each value comes from\n"
               "(tuning file, default, override). Shape-class entries of the tuning file\n"
               "(\"gemm:m<=8\") apply to calls and show in mk_explain with call arguments.\n"
               "MEDKERN_KERNELS=op=name,... forces variants.\n");
        return MK_EXIT_OK;
    }
    const char *device = NULL, *op_name = NULL;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = cli_opt(argc, argv, &i, "--device", &bad))) device = v;
        else if ((v = cli_opt(argc, argv, &i, "--op", &bad))) op_name = v;
        else if (!bad) {
            fprintf(stderr, "medkern kernels: unknown option \"%s\"\n", argv[i]);
            return MK_EXIT_USAGE;
        }
        if (bad) return MK_EXIT_USAGE;
    }
    int first = 0, last = MK_OP_COUNT - 1;
    if (op_name) {
        mk_op op;
        if (mk_op_from_name(op_name, &op) != MK_OK) {
            fprintf(stderr, "medkern kernels: %s\n", mk_last_error());
            return MK_EXIT_USAGE;
        }
        first = last = (int)op;
    }
    if (!device) {
        for (int op = first; op <= last; op++) {
            mk_kernel_info list[64];
            int n = 0;
            mk_kernel_list((mk_op)op, list, 64, &n);
            printf("%s\n", mk_op_name((mk_op)op));
            for (int i = 0; i < n && i < 64; i++)
                printf("  %-28s backend %-7s prio %3d  %s\n", list[i].name, list[i].backend,
                       list[i].priority, list[i].summary);
        }
        return MK_EXIT_OK;
    }
    mk_context *ctx = NULL;
    mk_status s = mk_context_create(device, &ctx);
    if (s != MK_OK) {
        fprintf(stderr, "medkern kernels: %s\n", mk_last_error());
        return s == MK_ERR_NOT_FOUND || s == MK_ERR_INVALID_ARGUMENT ? MK_EXIT_USAGE : MK_EXIT_FAIL;
    }
    char text[8192];
    for (int op = first; op <= last; op++) {
        if (mk_explain(ctx, (mk_op)op, NULL, text, sizeof text) == MK_OK) printf("%s\n", text);
    }
    mk_param_info params[128];
    int np = 0;
    if (mk_param_list(ctx, params, 128, &np) == MK_OK && np > 0) {
        char file[1024] = "";
        mk_tuning_file(ctx, file, sizeof file);
        printf("parameters on %s (tuning file: %s)\n", device, file[0] ? file : "none");
        for (int i = 0; i < np && i < 128; i++)
            if (!op_name || !strncmp(params[i].op, op_name, strlen(params[i].op)))
                printf("  %-18s %-12s %6d  %s\n", params[i].op, params[i].name, params[i].value,
                       params[i].source);
    }
    mk_context_destroy(ctx);
    return MK_EXIT_OK;
}
