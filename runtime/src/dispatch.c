/*
 * The dispatcher: the registry of kernel variants of every backend loaded
 * (backend_loader.c), and the choice of one variant per call.
 *
 * Choice: the variant forced on the context (mk_set_kernel or MEDKERN_KERNELS) if any,
 * else the tuned choice (the variant the device's tuning file names for the op, through
 * the backend's optional tuned_variant hook) when it is a variant of the context's
 * backend for the op and its supports() says yes (otherwise it is ignored, and
 * mk_explain says why), else the highest-priority variant of the context's backend
 * whose supports() says yes.
 * There is no fallback to another device: when nothing supports a call it fails with
 * MK_ERR_UNSUPPORTED and every variant's reason.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const mk_op_names[MK_OP_COUNT] = {
    "attention_prefill", "attention_decode", "kv_append", "kv_copy_blocks", "qgemm", "gemm",
    "rmsnorm", "layernorm", "rope", "silu_mul", "gelu_mul", "add"};

const char *mk_op_name(mk_op op) { return (unsigned)op < MK_OP_COUNT ? mk_op_names[op] : NULL; }

mk_status mk_op_from_name(const char *name, mk_op *out) {
    if (!name) return mk__fail(MK_ERR_INVALID_ARGUMENT, "name is NULL");
    if (!out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out is NULL");
    for (int i = 0; i < MK_OP_COUNT; i++)
        if (strcmp(name, mk_op_names[i]) == 0) {
            *out = (mk_op)i;
            return MK_OK;
        }
    return mk__fail(MK_ERR_NOT_FOUND, "no op named \"%s\"", name);
}

/* ---- registry: built once, read-only afterwards */

#define MK_MAX_KERNELS 512
static const mk_kernel *mk_registry[MK_MAX_KERNELS];
static int mk_registry_count;
static pthread_once_t mk_registry_once = PTHREAD_ONCE_INIT;

static void mk_registry_add(const mk_backend *be) {
    int n = 0;
    const mk_kernel *const *list = be->kernels(&n);
    for (int i = 0; i < n && mk_registry_count < MK_MAX_KERNELS; i++)
        mk_registry[mk_registry_count++] = list[i];
}

/* Every loaded backend's variants, in the table's order (the loader has checked them). */
static void mk_registry_build(void) {
    for (int b = 0, n = mk__backend_count(); b < n; b++) {
        const mk_backend *be = mk__backend_at(b, NULL);
        if (be) mk_registry_add(be);
    }
}

static void mk_registry_get(const mk_kernel *const **list, int *n) {
    pthread_once(&mk_registry_once, mk_registry_build);
    *list = mk_registry;
    *n = mk_registry_count;
}

static const mk_kernel *mk_find_kernel(mk_op op, const char *name) {
    const mk_kernel *const *list;
    int n;
    mk_registry_get(&list, &n);
    for (int i = 0; i < n; i++)
        if (list[i]->op == op && strcmp(list[i]->name, name) == 0) return list[i];
    return NULL;
}

mk_status mk_kernel_list(mk_op op, mk_kernel_info *out, int cap, int *count) {
    if (!count) return mk__fail(MK_ERR_INVALID_ARGUMENT, "count is NULL");
    if ((unsigned)op > MK_OP_COUNT) return mk__fail(MK_ERR_INVALID_ARGUMENT, "op (%d) is not a valid mk_op", (int)op);
    if (cap < 0 || (cap > 0 && !out)) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out is NULL or cap is negative");
    const mk_kernel *const *list;
    int n, total = 0;
    mk_registry_get(&list, &n);
    for (int i = 0; i < n; i++) {
        if (op != MK_OP_COUNT && list[i]->op != op) continue;
        if (total < cap)
            out[total] = (mk_kernel_info){list[i]->op, list[i]->name, list[i]->backend,
                                          list[i]->priority, list[i]->summary};
        total++;
    }
    *count = total;
    return MK_OK;
}

/* ---- choice */

static int mk_same_backend(const mk_context *ctx, const mk_kernel *k) {
    return strcmp(k->backend, ctx->backend->name) == 0;
}

/* The tuned choice for op (args may be NULL) on ctx: the variant the backend's tuning
   hook names, when that is a variant of ctx's backend for op whose supports() accepts
   args. Otherwise NULL, with note[0..nn) saying why the named one was ignored ("" when
   nothing is named). src[0..ns) gets where the name came from. */
static const mk_kernel *mk_tuned(const mk_context *ctx, mk_op op, const mk_op_args *args, char *src,
                                 size_t ns, char *note, size_t nn) {
    note[0] = src[0] = 0;
    if (!ctx->backend->tuned_variant) return NULL;
    const char *name = ctx->backend->tuned_variant(ctx, op, args, src, ns);
    if (!name) return NULL;
    const mk_kernel *k = mk_find_kernel(op, name);
    char reason[256] = "";
    if (!k)
        snprintf(note, nn, "tuned variant \"%.64s\" (from %s) ignored: no %s variant has that name", name,
                 src, mk_op_name(op));
    else if (!mk_same_backend(ctx, k))
        snprintf(note, nn, "tuned variant %s (from %s) ignored: it is for backend %s", name, src, k->backend);
    else if (!k->supports(ctx, args, reason, sizeof reason))
        snprintf(note, nn, "tuned variant %s (from %s) ignored: %s", name, src, reason);
    else
        return k;
    return NULL;
}

/* Picks the variant for args on ctx; on failure fills why with every reason. */
const mk_kernel *mk__choose(const mk_context *ctx, const mk_op_args *args, char *why, size_t n) {
    const mk_kernel *forced = ctx->core->forced[args->op];
    char reason[256];
    if (forced) {
        reason[0] = 0;
        if (forced->supports(ctx, args, reason, sizeof reason)) return forced;
        snprintf(why, n, "forced variant %s does not support this call: %s", forced->name, reason);
        return NULL;
    }
    char src[512], note[1024];
    const mk_kernel *tuned = mk_tuned(ctx, args->op, args, src, sizeof src, note, sizeof note);
    if (tuned) return tuned;
    const mk_kernel *const *list;
    int count;
    mk_registry_get(&list, &count);
    const mk_kernel *best = NULL;
    int own = 0; /* variants of the context's backend for this op */
    size_t used = (size_t)snprintf(why, n, "no %s variant supports this call on %s:",
                                   mk_op_name(args->op), ctx->info.id);
    for (int i = 0; i < count; i++) {
        const mk_kernel *k = list[i];
        if (k->op != args->op || !mk_same_backend(ctx, k)) continue;
        own++;
        if (best && k->priority <= best->priority) continue;
        reason[0] = 0;
        if (k->supports(ctx, args, reason, sizeof reason))
            best = k;
        else if (used < n)
            used += (size_t)snprintf(why + used, n - used, " [%s: %s]", k->name, reason);
    }
    if (!own && used < n)
        snprintf(why + used, n - used, " the %s backend implements no %s variant", ctx->backend->name,
                 mk_op_name(args->op));
    return best;
}

static int mk_takes_plan(mk_op op) {
    return op == MK_OP_ATTENTION_PREFILL || op == MK_OP_ATTENTION_DECODE || op == MK_OP_ROPE ||
           op == MK_OP_KV_APPEND || op == MK_OP_KV_COPY_BLOCKS;
}

mk_status mk__run(mk_context *ctx, const mk_op_args *args) {
    mk_status s = ctx ? mk__alive(ctx) : MK_OK; /* a lost device: not even index reads */
    if (s != MK_OK) return s;
    mk_op_args a = *args;
    mk__apply_defaults(&a);
    if ((s = mk__validate(ctx, &a)) != MK_OK) return s;
    mk_plan oneshot;
    const mk_plan *plan = mk__args_plan(&a);
    if (!plan && mk_takes_plan(a.op)) {
        if ((s = mk__device_result(ctx, mk__plan_oneshot(ctx, &a, &oneshot))) != MK_OK) return s;
        mk__args_use_plan(&a, &oneshot);
        plan = &oneshot;
    }
    char why[1024];
    const mk_kernel *k = mk__choose(ctx, &a, why, sizeof why);
    if (!k) return mk__fail(MK_ERR_UNSUPPORTED, "%s", why);
    if (plan == &oneshot) {
        if ((s = mk__device_result(ctx, mk__plan_work(ctx, k, &a, &oneshot, 0))) != MK_OK) return s;
    } else if (plan && plan->variant && plan->variant != k) {
        return mk__fail(MK_ERR_INVALID_ARGUMENT,
                        "plan was made for variant %s, but this call would run %s (a kernel was forced or "
                        "tuned after the plan was made, or q's layout differs): make the plan again",
                        plan->variant->name, k->name);
    }
    s = mk__device_result(ctx, k->run(ctx, &a));
    if (s == MK_OK) ctx->core->last[a.op] = k;
    return s;
}

mk_status mk_explain(mk_context *ctx, mk_op op, const mk_op_args *args, char *buf, size_t n) {
    if (!ctx) return mk__fail(MK_ERR_INVALID_ARGUMENT, "ctx is NULL");
    if ((unsigned)op >= MK_OP_COUNT) return mk__fail(MK_ERR_INVALID_ARGUMENT, "op (%d) is not a valid mk_op", (int)op);
    if (!buf || n == 0) return mk__fail(MK_ERR_INVALID_ARGUMENT, "buf is NULL or n is 0");
    if (args && args->op != op) return mk__fail(MK_ERR_INVALID_ARGUMENT, "args->op differs from op");
    if (args) {
        mk_status s = mk__validate(ctx, args);
        if (s != MK_OK) return s;
    }
    const mk_kernel *const *list;
    int count;
    mk_registry_get(&list, &count);
    size_t used = 0;
#define OUT(...) do { if (used < n) used += (size_t)snprintf(buf + used, n - used, __VA_ARGS__); } while (0)
    const mk_kernel *chosen = NULL, *forced = ctx->core->forced[op];
    int own = 0; /* variants of the context's backend for op */
    char reason[256], src[512], note[1024];
    const mk_kernel *tuned = mk_tuned(ctx, op, args, src, sizeof src, note, sizeof note);
    OUT("%s on %s (%s)%s\n", mk_op_name(op), ctx->info.id, ctx->info.name,
        args ? "" : " [no call arguments: device-level reasons only]");
    for (int i = 0; i < count; i++) {
        const mk_kernel *k = list[i];
        if (k->op != op) continue;
        if (!mk_same_backend(ctx, k)) {
            OUT("  %-28s no  (backend %s, context is on %s)\n", k->name, k->backend, ctx->backend->name);
            continue;
        }
        own++;
        reason[0] = 0;
        int ok = k->supports(ctx, args, reason, sizeof reason);
        if (ok && forced && k != forced) {
            OUT("  %-28s yes (prio %d) but %s is forced\n", k->name, k->priority, forced->name);
            continue;
        }
        OUT("  %-28s %s (prio %d)%s%s\n", k->name, ok ? "yes" : "no ", k->priority,
            ok ? "" : ": ", ok ? "" : reason);
        if (ok && (!chosen || k->priority > chosen->priority)) chosen = k;
    }
    if (!own) OUT("  (the %s backend implements no %s variant)\n", ctx->backend->name, mk_op_name(op));
    if (note[0]) OUT("  %s\n", note);
    if (tuned && forced)
        OUT("  tuned variant %s (from %s) not used: %s is forced\n", tuned->name, src, forced->name);
    if (tuned && !forced)
        OUT("chosen: %s (tuned: from %s)\n", tuned->name, src);
    else if (chosen)
        OUT("chosen: %s%s\n", chosen->name, forced ? " (forced)" : "");
    else
        OUT("chosen: none (the call would fail with MK_ERR_UNSUPPORTED)\n");
#undef OUT
    return MK_OK;
}

mk_status mk_set_kernel(mk_context *ctx, mk_op op, const char *name) {
    if (!ctx) return mk__fail(MK_ERR_INVALID_ARGUMENT, "ctx is NULL");
    if ((unsigned)op >= MK_OP_COUNT) return mk__fail(MK_ERR_INVALID_ARGUMENT, "op (%d) is not a valid mk_op", (int)op);
    if (!name) {
        ctx->core->forced[op] = NULL;
        return MK_OK;
    }
    const mk_kernel *k = mk_find_kernel(op, name);
    if (!k) return mk__fail(MK_ERR_NOT_FOUND, "no %s variant named \"%s\"", mk_op_name(op), name);
    if (!mk_same_backend(ctx, k))
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "name: variant %s is for backend %s, the context is on %s",
                        name, k->backend, ctx->backend->name);
    ctx->core->forced[op] = k;
    return MK_OK;
}

const char *mk_last_kernel(const mk_context *ctx, mk_op op) {
    if (!ctx || (unsigned)op >= MK_OP_COUNT || !ctx->core->last[op]) return NULL;
    return ctx->core->last[op]->name;
}

/* 1 when the backend named by a variant's prefix ("cuda" of "cuda.fa2") is loaded. */
static int mk_backend_compiled(const char *variant) {
    const mk_kernel *const *list;
    int n;
    size_t len = strcspn(variant, ".");
    mk_registry_get(&list, &n);
    for (int i = 0; i < n; i++)
        if (strlen(list[i]->backend) == len && strncmp(list[i]->backend, variant, len) == 0) return 1;
    return 0;
}

/* MEDKERN_KERNELS="op=name,op=name". Entries for another backend than the context's, or
   for a backend that is not loaded, are ignored (one setting can serve several builds and
   devices); a malformed entry, an unknown op or an unknown variant of a backend that is
   loaded fails context creation. */
mk_status mk__apply_env_overrides(mk_context *ctx) {
    const char *env = getenv("MEDKERN_KERNELS");
    if (!env || !*env) return MK_OK;
    char spec[1024];
    snprintf(spec, sizeof spec, "%s", env);
    char *save = NULL;
    for (char *item = strtok_r(spec, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq) return mk__fail(MK_ERR_INVALID_ARGUMENT, "MEDKERN_KERNELS: \"%s\" is not op=name", item);
        *eq = 0;
        mk_op op;
        if (mk_op_from_name(item, &op) != MK_OK)
            return mk__fail(MK_ERR_INVALID_ARGUMENT, "MEDKERN_KERNELS: unknown op \"%s\"", item);
        const char *dot = strchr(eq + 1, '.');
        if (!dot || dot == eq + 1 || !dot[1]) /* "add=" or "add=scalar" would pass as a missing backend */
            return mk__fail(MK_ERR_INVALID_ARGUMENT, "MEDKERN_KERNELS: \"%s=%s\" is not op=backend.variant",
                            item, eq + 1);
        const mk_kernel *k = mk_find_kernel(op, eq + 1);
        if (!k && mk_backend_compiled(eq + 1))
            return mk__fail(MK_ERR_INVALID_ARGUMENT, "MEDKERN_KERNELS: no %s variant named \"%s\"", item, eq + 1);
        if (k && mk_same_backend(ctx, k)) ctx->core->forced[op] = k;
    }
    return MK_OK;
}
