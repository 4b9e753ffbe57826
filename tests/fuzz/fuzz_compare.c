/* Fuzzes `medkern compare` (tools/medkern/cmd_compare.c) end to end: the input is split at
   its first NUL byte into OLD.json and NEW.json (the same text twice when there is none),
   written to temporary files, and cmd_compare runs on them with --json and --markdown
   outputs. It must exit 0, 1 or 2 without crashing or tripping a sanitizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static char dir[64], old_path[96], new_path[96], json_path[96], md_path[96];

static void cleanup(void) {
    unlink(old_path);
    unlink(new_path);
    unlink(json_path);
    unlink(md_path);
    rmdir(dir);
}

static void setup(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/mkfuzzXXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(dir)) abort();
    snprintf(old_path, sizeof old_path, "%s/old.json", dir);
    snprintf(new_path, sizeof new_path, "%s/new.json", dir);
    snprintf(json_path, sizeof json_path, "%s/out.json", dir);
    snprintf(md_path, sizeof md_path, "%s/out.md", dir);
    atexit(cleanup);
    if (!freopen("/dev/null", "w", stdout)) abort(); /* the markdown table */
}

static void write_file(const char *path, const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) setup();
    const uint8_t *nul = memchr(data, 0, size);
    size_t n_old = nul ? (size_t)(nul - data) : size;
    write_file(old_path, data, n_old);
    if (nul) write_file(new_path, nul + 1, size - n_old - 1);
    else write_file(new_path, data, size);
    char *argv[] = {"compare", old_path, new_path, "--json", json_path, "--markdown", md_path, NULL};
    int rc = cmd_compare(7, argv);
    if (rc != MK_EXIT_OK && rc != MK_EXIT_FAIL && rc != MK_EXIT_USAGE) {
        fprintf(stderr, "fuzz_compare: cmd_compare exited %d (must be 0, 1 or 2)\n", rc);
        abort();
    }
    return 0;
}
