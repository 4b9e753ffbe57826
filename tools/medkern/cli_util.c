/* Option parsing helpers shared by the commands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

const char *cli_opt(int argc, char **argv, int *i, const char *name, int *bad) {
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] != 0) return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "medkern: option %s needs a value\n", name);
        *bad = 1;
        return NULL;
    }
    return argv[++*i];
}
