/*
 * The table of backends: ref (built in, slot 0), then one slot per backend module.
 *
 * Modules are shared objects libmedkern-<name>.so. The fixed list (cuda, opencl,
 * threads, in that order, so device indices do not move between builds) always has a
 * slot, loaded or not; then every other libmedkern-<name>.so found in the directories
 * searched, by name. The directories: each of MEDKERN_BACKEND_PATH (colon-separated) in
 * order, then the directory libmedkern itself was loaded from (dladdr); a name is loaded
 * from the first directory that has it.
 *
 * A module is loaded with dlopen(RTLD_NOW | RTLD_LOCAL) and checked: the entry point
 * mk_backend_module_init exists, returns a table for this MK_BACKEND_ABI_VERSION whose
 * abi_version and name match, every required hook is set, and every kernel names this
 * backend, a valid op, a "<name>." variant name and both functions. A module that fails
 * any check is dlclose'd, contributes no device, and its slot says why in one line.
 * A module that passes stays loaded until the process ends (never dlclose'd): kernel
 * tables, contexts and driver state of the process point into it.
 *
 * Everything is done once, under pthread_once, at the first use of the table (device
 * enumeration or the kernel registry); the table is read-only afterwards. A module's
 * entry point and device_count must not enumerate devices (that would wait on this once).
 * No host allocation: the slots are static.
 */
#define _GNU_SOURCE /* dladdr */
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "ref/ref_backend.h"

#define MK_MAX_BACKENDS 16
#define MK_MAX_DIRS 16
#define MK_MAX_MODULE_KERNELS 1024
#define MK_DIR_LEN 448 /* a directory and "/libmedkern-<name>.so" fit mk_backend_info.path */

typedef struct {
    const mk_backend *be; /* NULL: not loaded */
    void *handle;         /* kept open while be is set */
    mk_backend_info info;
} mk_slot;

static mk_slot mk_slots[MK_MAX_BACKENDS];
static int mk_nslots;
static pthread_once_t mk_slots_once = PTHREAD_ONCE_INIT;

static char mk_dirs[MK_MAX_DIRS][MK_DIR_LEN];
static int mk_ndirs;

static const char *const mk_fixed_modules[] = {"cuda", "opencl", "threads"};
enum { MK_NUM_FIXED = sizeof mk_fixed_modules / sizeof mk_fixed_modules[0] };

/* ---- the directories searched */

static void add_dir(const char *d, size_t len) {
    if (len == 0 || len >= MK_DIR_LEN || mk_ndirs == MK_MAX_DIRS) return;
    for (int i = 0; i < mk_ndirs; i++)
        if (strlen(mk_dirs[i]) == len && !strncmp(mk_dirs[i], d, len)) return;
    memcpy(mk_dirs[mk_ndirs], d, len);
    mk_dirs[mk_ndirs++][len] = 0;
}

static void find_dirs(void) {
    const char *env = getenv("MEDKERN_BACKEND_PATH");
    for (const char *p = env; p && *p;) {
        size_t len = strcspn(p, ":");
        add_dir(p, len);
        p += len + (p[len] == ':');
    }
    Dl_info dl;
    char real[4096];
    if (dladdr((const void *)&mk_backend_count, &dl) && dl.dli_fname && realpath(dl.dli_fname, real)) {
        const char *slash = strrchr(real, '/');
        if (slash) add_dir(real, slash == real ? 1 : (size_t)(slash - real));
    }
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- one module */

/* src into dst[0..n), truncated */
static void copy_str(char *dst, size_t n, const char *src) {
    size_t len = strlen(src);
    if (len >= n) len = n - 1;
    memcpy(dst, src, len);
    dst[len] = 0;
}

static void one_line(char *s) {
    for (; *s; s++)
        if (*s == '\n' || *s == '\r') *s = ' ';
}

/* 0 when the table is usable; else 1 with the reason in why. */
static int check_table(const mk_backend *be, const char *name, char *why, size_t n) {
    if (be->abi_version != MK_BACKEND_ABI_VERSION) {
        snprintf(why, n, "its table has backend ABI version %d, this libmedkern has %d", be->abi_version,
                 MK_BACKEND_ABI_VERSION);
        return 1;
    }
    if (!be->name || strcmp(be->name, name) != 0) {
        snprintf(why, n, "its table is named \"%.64s\", the file libmedkern-%s.so", be->name ? be->name : "(null)",
                 name);
        return 1;
    }
    const struct { const void *fn; const char *hook; } req[] = {
#define REQ(h) {(const void *)(uintptr_t)be->h, #h}
        REQ(device_count), REQ(device_info), REQ(context_init), REQ(context_fini), REQ(buffer_alloc),
        REQ(buffer_free), REQ(buffer_write), REQ(buffer_read), REQ(buffer_fill), REQ(buffer_copy),
        REQ(synchronize), REQ(event_create), REQ(event_destroy), REQ(event_record), REQ(event_elapsed_ms),
        REQ(qweight_create), REQ(qweight_destroy), REQ(qweight_read), REQ(kernels),
#undef REQ
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
        if (!req[i].fn) {
            snprintf(why, n, "its table has no %s hook (required)", req[i].hook);
            return 1;
        }
    int count = -1;
    const mk_kernel *const *list = be->kernels(&count);
    if (count < 0 || count > MK_MAX_MODULE_KERNELS || (count > 0 && !list)) {
        snprintf(why, n, "kernels() returned %d variants (0..%d, and a list)", count, MK_MAX_MODULE_KERNELS);
        return 1;
    }
    size_t len = strlen(name);
    for (int i = 0; i < count; i++) {
        const mk_kernel *k = list[i];
        if (!k || !k->name || !k->backend || !k->supports || !k->run) {
            snprintf(why, n, "kernel %d has no %s", i,
                     !k ? "entry" : !k->name ? "name" : !k->backend ? "backend" : !k->supports ? "supports()" : "run()");
            return 1;
        }
        if ((unsigned)k->op >= MK_OP_COUNT || strcmp(k->backend, name) != 0 || strncmp(k->name, name, len) != 0 ||
            k->name[len] != '.' || !k->name[len + 1]) {
            snprintf(why, n, "kernel %.64s: its op must be a valid mk_op, its backend \"%s\" and its name \"%s.<variant>\"",
                     k->name, name, name);
            return 1;
        }
    }
    return 0;
}

static void load_module(mk_slot *slot, const char *name, const char *path) {
    mk_backend_info *info = &slot->info;
    copy_str(info->path, sizeof info->path, path);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(info->reason, sizeof info->reason, "dlopen failed: %s", e ? e : "(no message)");
        one_line(info->reason);
        return;
    }
    mk_backend_module_init_fn init;
    void *sym = dlsym(h, MK_BACKEND_ENTRY_POINT);
    memcpy(&init, &sym, sizeof init); /* object pointer to function pointer (POSIX) */
    char why[384] = "";
    const mk_backend *be = NULL;
    if (!sym)
        snprintf(info->reason, sizeof info->reason, "no entry point %s (not a medkern backend module)",
                 MK_BACKEND_ENTRY_POINT);
    else if (!(be = init(MK_BACKEND_ABI_VERSION, why, sizeof why)))
        snprintf(info->reason, sizeof info->reason, "%s refused to load: %s", MK_BACKEND_ENTRY_POINT,
                 why[0] ? why : "(no reason given)");
    else if (check_table(be, name, why, sizeof why)) {
        snprintf(info->reason, sizeof info->reason, "rejected: %s", why);
        be = NULL;
    }
    if (!be) {
        one_line(info->reason);
        dlclose(h);
        return;
    }
    int n = be->device_count();
    slot->be = be;
    slot->handle = h;
    info->loaded = 1;
    info->devices = n > 0 ? n : 0;
}

/* The slot for module name: loaded from the first directory that has the file, or with
   the directories it was looked for in. */
static void add_module(const char *name) {
    if (mk_nslots == MK_MAX_BACKENDS) return;
    mk_slot *slot = &mk_slots[mk_nslots++];
    copy_str(slot->info.name, sizeof slot->info.name, name);
    char path[sizeof slot->info.path];
    for (int d = 0; d < mk_ndirs; d++) {
        int len = snprintf(path, sizeof path, "%.*s/libmedkern-%.31s.so", MK_DIR_LEN, mk_dirs[d], name);
        if (len > 0 && (size_t)len < sizeof path && is_file(path)) {
            load_module(slot, name, path);
            return;
        }
    }
    size_t used = (size_t)snprintf(slot->info.reason, sizeof slot->info.reason, "not found: no libmedkern-%s.so in",
                                   name);
    for (int d = 0; d < mk_ndirs && used < sizeof slot->info.reason; d++)
        used += (size_t)snprintf(slot->info.reason + used, sizeof slot->info.reason - used, "%s %s", d ? "," : "",
                                 mk_dirs[d]);
    if (!mk_ndirs) snprintf(slot->info.reason + used, sizeof slot->info.reason - used, " any directory");
}

static int have_slot(const char *name) {
    for (int i = 0; i < mk_nslots; i++)
        if (!strcmp(mk_slots[i].info.name, name)) return 1;
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

/* Every libmedkern-<name>.so of the directories that has no slot yet, by name. */
static void add_other_modules(void) {
    char names[MK_MAX_BACKENDS][32];
    int n = 0;
    for (int d = 0; d < mk_ndirs; d++) {
        DIR *dir = opendir(mk_dirs[d]);
        if (!dir) continue;
        for (struct dirent *e; (e = readdir(dir)) != NULL;) {
            size_t len = strlen(e->d_name);
            if (len <= 14 || strncmp(e->d_name, "libmedkern-", 11) || strcmp(e->d_name + len - 3, ".so")) continue;
            size_t nl = len - 14;
            if (nl >= sizeof names[0]) continue;
            char name[32];
            memcpy(name, e->d_name + 11, nl);
            name[nl] = 0;
            int dup = have_slot(name);
            for (int i = 0; i < n && !dup; i++) dup = !strcmp(names[i], name);
            if (!dup && n < MK_MAX_BACKENDS) memcpy(names[n++], name, nl + 1);
        }
        closedir(dir);
    }
    qsort(names, (size_t)n, sizeof names[0], by_name);
    for (int i = 0; i < n; i++) add_module(names[i]);
}

static void load_all(void) {
    mk_slot *ref = &mk_slots[mk_nslots++];
    ref->be = &mk_backend_ref;
    snprintf(ref->info.name, sizeof ref->info.name, "ref");
    ref->info.loaded = 1;
    ref->info.devices = mk_backend_ref.device_count();
    find_dirs();
    for (int i = 0; i < MK_NUM_FIXED; i++) add_module(mk_fixed_modules[i]);
    add_other_modules();
}

static void ensure_loaded(void) { pthread_once(&mk_slots_once, load_all); }

/* ---- the core's view */

int mk__backend_count(void) {
    ensure_loaded();
    return mk_nslots;
}

const mk_backend *mk__backend_at(int i, int *devices) {
    ensure_loaded();
    if (i < 0 || i >= mk_nslots) return NULL;
    if (devices) *devices = mk_slots[i].info.devices;
    return mk_slots[i].be;
}

/* ---- the public view */

mk_status mk_backend_count(int *n) {
    if (!n) return mk__fail(MK_ERR_INVALID_ARGUMENT, "n is NULL");
    *n = mk__backend_count();
    return MK_OK;
}

mk_status mk_backend_get_info(int index, mk_backend_info *out) {
    if (!out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out is NULL");
    int n = mk__backend_count();
    if (index < 0 || index >= n)
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "index %d out of range [0, %d)", index, n);
    *out = mk_slots[index].info;
    return MK_OK;
}
