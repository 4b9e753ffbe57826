/*
 * The dispatcher and device enumeration through the public API: the kernel registry
 * (every op has ref.scalar), op names, mk_explain, mk_set_kernel, mk_last_kernel, the
 * MEDKERN_KERNELS override, devices ("ref" is index 0, "auto", unknown names), and the
 * first use of the library from several threads at once (the registry and the device
 * list are initialised once, thread-safely).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

/* ------------------------------------------------------------ concurrent first use */

#define NTHREADS 8

static pthread_barrier_t start_line;

typedef struct {
    int id;
    int ok;
    char why[256];
} worker;

static int run_add(mk_context *c, int id, char *why, size_t n) {
    enum { E = 96 };
    float a[E], b[E], out[E];
    for (int i = 0; i < E; i++) a[i] = (float)(i + id), b[i] = (float)(2 * i - 7 * id);
    mk_buffer *ba = NULL, *bb = NULL, *bo = NULL;
    int ok = 0;
    if (mk_buffer_alloc(c, sizeof a, &ba) != MK_OK || mk_buffer_alloc(c, sizeof b, &bb) != MK_OK ||
        mk_buffer_alloc(c, sizeof out, &bo) != MK_OK) {
        snprintf(why, n, "alloc: %s", mk_last_error());
        goto out;
    }
    mk_buffer_write(ba, 0, a, sizeof a);
    mk_buffer_write(bb, 0, b, sizeof b);
    mk_buffer_fill(bo, 0, 0xFF, sizeof out);
    int64_t shape[2] = {4, E / 4};
    mk_tensor ta = mk_tensor_make(ba, 0, MK_F32, 2, shape), tb = mk_tensor_make(bb, 0, MK_F32, 2, shape);
    mk_tensor to = mk_tensor_make(bo, 0, MK_F32, 2, shape);
    if (mk_add(c, &ta, &tb, &to) != MK_OK) {
        snprintf(why, n, "mk_add: %s", mk_last_error());
        goto out;
    }
    if (mk_buffer_read(bo, 0, out, sizeof out) != MK_OK) {
        snprintf(why, n, "read: %s", mk_last_error());
        goto out;
    }
    for (int i = 0; i < E; i++)
        if (out[i] != a[i] + b[i]) {
            snprintf(why, n, "out[%d] = %g, want %g", i, out[i], a[i] + b[i]);
            goto out;
        }
    const char *k = mk_last_kernel(c, MK_OP_ADD);
    if (!k || strcmp(k, "ref.scalar") != 0) {
        snprintf(why, n, "mk_last_kernel(add) is %s", k ? k : "NULL");
        goto out;
    }
    ok = 1;
out:
    mk_buffer_free(ba), mk_buffer_free(bb), mk_buffer_free(bo);
    return ok;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    pthread_barrier_wait(&start_line);
    int n = 0, count = 0;
    mk_context *c = NULL;
    /* half the threads start with the registry, half with the devices */
    if (w->id % 2) {
        if (mk_kernel_list(MK_OP_COUNT, NULL, 0, &count) != MK_OK || count < MK_OP_COUNT) {
            snprintf(w->why, sizeof w->why, "mk_kernel_list: count %d: %s", count, mk_last_error());
            return NULL;
        }
    }
    if (mk_device_count(&n) != MK_OK || n < 1) {
        snprintf(w->why, sizeof w->why, "mk_device_count: %d: %s", n, mk_last_error());
        return NULL;
    }
    if (mk_context_create("ref", &c) != MK_OK) {
        snprintf(w->why, sizeof w->why, "mk_context_create: %s", mk_last_error());
        return NULL;
    }
    w->ok = run_add(c, w->id, w->why, sizeof w->why);
    mk_context_destroy(c);
    return NULL;
}

static void test_concurrent_first_use(void) {
    for (int round = 0; round < 2; round++) {
        pthread_t th[NTHREADS];
        worker w[NTHREADS];
        memset(w, 0, sizeof w);
        pthread_barrier_init(&start_line, NULL, NTHREADS);
        int started = 0;
        for (int i = 0; i < NTHREADS; i++) {
            w[i].id = i;
            if (pthread_create(&th[i], NULL, worker_main, &w[i]) == 0) started++;
        }
        MKT_CHECK(started == NTHREADS, "only %d threads started", started);
        if (started != NTHREADS) exit(mkt_finish()); /* the barrier would never open */
        for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start_line);
        for (int i = 0; i < NTHREADS; i++)
            MKT_CHECK(w[i].ok, "round %d thread %d: %s", round, i, w[i].why);
    }
    /* everyone saw the same registry */
    int a = 0, b = 0;
    MKT_OK(mk_kernel_list(MK_OP_COUNT, NULL, 0, &a));
    MKT_OK(mk_kernel_list(MK_OP_COUNT, NULL, 0, &b));
    MKT_CHECK(a == b && a >= MK_OP_COUNT, "registry size %d then %d", a, b);
}

/* ------------------------------------------------------------ devices */

static void test_devices(void) {
    int n = 0;
    MKT_OK(mk_device_count(&n));
    MKT_CHECK(n >= 1, "%d devices", n);
    mk_device_info info;
    MKT_OK(mk_device_get_info(0, &info));
    MKT_CHECK(strcmp(info.id, "ref") == 0, "device 0 is \"%s\", not ref", info.id);
    MKT_CHECK(strcmp(info.backend, "ref") == 0, "device 0 backend is \"%s\"", info.backend);
    MKT_CHECK(info.type == MK_DEVICE_REF, "device 0 type %d", (int)info.type);
    MKT_CHECK(info.name[0] != 0, "device 0 has no name");
    int idx = -1;
    MKT_OK(mk_device_find("ref", &idx));
    MKT_CHECK(idx == 0, "mk_device_find(ref) = %d", idx);
    /* every device's id finds that device, and its backend name finds one of its backend */
    for (int i = 0; i < n; i++) {
        mk_device_info d;
        MKT_OK(mk_device_get_info(i, &d));
        MKT_OK(mk_device_find(d.id, &idx));
        MKT_CHECK(idx == i, "mk_device_find(%s) = %d, want %d", d.id, idx, i);
        MKT_OK(mk_device_find(d.backend, &idx));
        mk_device_info e;
        MKT_OK(mk_device_get_info(idx, &e));
        MKT_CHECK(strcmp(e.backend, d.backend) == 0, "mk_device_find(%s) gave a %s device", d.backend, e.backend);
        MKT_CHECK(strlen(d.id) < sizeof d.id && strlen(d.name) < sizeof d.name, "device %d strings", i);
    }
    /* auto: a valid device; ref only when nothing else it may pick exists (never the
       threads example backend) */
    int pickable = 0;
    for (int i = 0; i < n; i++) {
        mk_device_info d;
        MKT_OK(mk_device_get_info(i, &d));
        pickable += strcmp(d.backend, "ref") != 0 && strcmp(d.backend, "threads") != 0;
    }
    idx = -1;
    MKT_OK(mk_device_find("auto", &idx));
    MKT_CHECK(idx >= 0 && idx < n, "mk_device_find(auto) = %d", idx);
    if (pickable == 0) MKT_CHECK(idx == 0, "auto is %d with only ref (and threads) present", idx);
    if (pickable > 0) MKT_CHECK(idx != 0, "auto chose ref although %d other devices exist", pickable);
    mk_device_info picked;
    MKT_OK(mk_device_get_info(idx, &picked));
    MKT_CHECK(strcmp(picked.backend, "threads") != 0, "auto chose the example device %s", picked.id);
    mk_context *c = NULL;
    MKT_OK(mk_context_create("auto", &c));
    if (c) {
        mk_device_info d, e;
        MKT_OK(mk_context_get_device(c, &d));
        MKT_OK(mk_device_get_info(idx, &e));
        MKT_CHECK(strcmp(d.id, e.id) == 0, "context on auto is %s, mk_device_find said %s", d.id, e.id);
        mk_context_destroy(c);
    }
    /* unknown devices */
    const char *bad[] = {"nosuch", "cuda:99", "opencl:1000", "ref:1", "", "REF", "auto "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        idx = -5;
        MKT_FAILS(MK_ERR_NOT_FOUND, bad[i][0] ? bad[i] : "device", mk_device_find(bad[i], &idx));
        MKT_CHECK(idx == -5, "mk_device_find(\"%s\") wrote index on failure", bad[i]);
        c = (mk_context *)(uintptr_t)1;
        MKT_FAILS(MK_ERR_NOT_FOUND, "not found", mk_context_create(bad[i], &c));
        MKT_CHECK(c == NULL, "mk_context_create(\"%s\"): *out is not NULL after a failure", bad[i]);
    }
    c = NULL;
    MKT_OK(mk_context_create("ref", &c));
    if (c) {
        mk_device_info d;
        MKT_OK(mk_context_get_device(c, &d));
        MKT_CHECK(strcmp(d.id, "ref") == 0, "context device %s", d.id);
        MKT_OK(mk_synchronize(c));
        mk_context_destroy(c);
    }
}

/* ------------------------------------------------------------ names and registry */

static void test_names(void) {
    static const char *const names[MK_OP_COUNT] = {
        "attention_prefill", "attention_decode", "kv_append", "kv_copy_blocks", "qgemm", "gemm",
        "rmsnorm", "layernorm", "rope", "silu_mul", "gelu_mul", "add"};
    for (int i = 0; i < MK_OP_COUNT; i++) {
        const char *nm = mk_op_name((mk_op)i);
        MKT_CHECK(nm && strcmp(nm, names[i]) == 0, "mk_op_name(%d) is %s, want %s", i, nm ? nm : "NULL", names[i]);
        mk_op op = MK_OP_COUNT;
        MKT_OK(mk_op_from_name(names[i], &op));
        MKT_CHECK(op == (mk_op)i, "mk_op_from_name(%s) = %d", names[i], (int)op);
    }
    MKT_CHECK(mk_op_name(MK_OP_COUNT) == NULL, "mk_op_name(MK_OP_COUNT) is not NULL");
    const char *bad[] = {"nosuch", "", "ADD", "add ", "gemm2", "attention"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mk_op op = (mk_op)99;
        MKT_FAILS(MK_ERR_NOT_FOUND, "no op named", mk_op_from_name(bad[i], &op));
        MKT_CHECK(op == (mk_op)99, "mk_op_from_name(\"%s\") wrote out on failure", bad[i]);
    }
    MKT_CHECK(strcmp(mk_version(), "0.1.0") == 0, "mk_version is %s", mk_version());
    MKT_CHECK(strcmp(mk_status_string(MK_ERR_NOT_FOUND), "MK_ERR_NOT_FOUND") == 0, "mk_status_string");
}

static void test_kernel_list(void) {
    int total = 0, sum = 0;
    MKT_OK(mk_kernel_list(MK_OP_COUNT, NULL, 0, &total));
    mk_kernel_info *all = calloc((size_t)total + 1, sizeof *all);
    int again = 0;
    MKT_OK(mk_kernel_list(MK_OP_COUNT, all, total, &again));
    MKT_CHECK(again == total, "mk_kernel_list counts %d then %d", total, again);
    for (int op = 0; op < MK_OP_COUNT; op++) {
        mk_kernel_info list[64];
        int n = 0, refs = 0;
        MKT_OK(mk_kernel_list((mk_op)op, list, 64, &n));
        sum += n;
        for (int i = 0; i < n && i < 64; i++) {
            MKT_CHECK(list[i].op == (mk_op)op, "%s lists a variant of op %d", mk_op_name((mk_op)op), (int)list[i].op);
            MKT_CHECK(list[i].name && list[i].backend && list[i].summary && list[i].summary[0],
                      "%s: a variant without name/backend/summary", mk_op_name((mk_op)op));
            if (!list[i].name || !list[i].backend) continue;
            /* "<backend>.<variant>" */
            size_t bl = strlen(list[i].backend);
            MKT_CHECK(strncmp(list[i].name, list[i].backend, bl) == 0 && list[i].name[bl] == '.',
                      "variant %s is not named after its backend %s", list[i].name, list[i].backend);
            if (!strcmp(list[i].name, "ref.scalar") && !strcmp(list[i].backend, "ref")) refs++;
            for (int j = 0; j < i; j++)
                MKT_CHECK(strcmp(list[i].name, list[j].name) != 0, "%s listed twice for %s", list[i].name,
                          mk_op_name((mk_op)op));
        }
        MKT_CHECK(refs == 1, "op %s has %d ref.scalar variants", mk_op_name((mk_op)op), refs);
    }
    MKT_CHECK(sum == total, "per-op counts sum to %d, the whole list has %d", sum, total);
    /* a short array: only cap entries written, the total still counted */
    mk_kernel_info two[3];
    memset(two, 0x5A, sizeof two);
    mk_kernel_info sentinel;
    memcpy(&sentinel, &two[2], sizeof sentinel);
    int n = 0;
    MKT_OK(mk_kernel_list(MK_OP_COUNT, two, 2, &n));
    MKT_CHECK(n == total, "count with cap 2 is %d, want %d", n, total);
    MKT_CHECK(memcmp(&two[2], &sentinel, sizeof sentinel) == 0, "mk_kernel_list wrote past cap");
    MKT_CHECK(two[0].name && all[0].name && strcmp(two[0].name, all[0].name) == 0, "first entry differs with a small cap");
    free(all);
}

/* ------------------------------------------------------------ explain / set / last */

/* Valid add arguments on ctx (4x8 f32), and their buffers. */
typedef struct {
    mk_buffer *b[3];
    mk_tensor a, bb, out;
} add_args;

static add_args make_add(mk_context *c) {
    add_args x;
    int64_t shape[2] = {4, 8};
    float v[32];
    for (int i = 0; i < 32; i++) v[i] = (float)i * 0.5f;
    for (int i = 0; i < 3; i++) {
        x.b[i] = NULL;
        mk_buffer_alloc(c, sizeof v, &x.b[i]);
        mk_buffer_write(x.b[i], 0, v, sizeof v);
    }
    x.a = mk_tensor_make(x.b[0], 0, MK_F32, 2, shape);
    x.bb = mk_tensor_make(x.b[1], 0, MK_F32, 2, shape);
    x.out = mk_tensor_make(x.b[2], 0, MK_F32, 2, shape);
    return x;
}

static void free_add(add_args *x) {
    for (int i = 0; i < 3; i++) mk_buffer_free(x->b[i]);
}

static void test_explain_and_force(void) {
    mk_context *c = NULL;
    MKT_OK(mk_context_create("ref", &c));
    if (!c) return;
    char text[4096];
    for (int op = 0; op < MK_OP_COUNT; op++) {
        memset(text, 'x', sizeof text);
        MKT_OK(mk_explain(c, (mk_op)op, NULL, text, sizeof text));
        MKT_CHECK(memchr(text, 0, sizeof text) != NULL, "mk_explain text is not NUL-terminated");
        MKT_CHECK(strstr(text, mk_op_name((mk_op)op)) != NULL, "explain(%s) does not name the op: %s", mk_op_name((mk_op)op), text);
        MKT_CHECK(strstr(text, "ref.scalar") != NULL, "explain(%s) does not list ref.scalar", mk_op_name((mk_op)op));
        MKT_CHECK(strstr(text, "chosen: ref.scalar") != NULL, "explain(%s) chooses something else: %s",
                  mk_op_name((mk_op)op), text);
        MKT_CHECK(strstr(text, "no call arguments") != NULL, "explain without args does not say so: %s", text);
        MKT_CHECK(strstr(text, "(forced)") == NULL, "explain(%s): forced without a setting", mk_op_name((mk_op)op));
    }
    /* with arguments */
    add_args x = make_add(c);
    mk_op_args args = {.op = MK_OP_ADD};
    args.u.binary.a = &x.a, args.u.binary.b = &x.bb, args.u.binary.out = &x.out;
    MKT_OK(mk_explain(c, MK_OP_ADD, &args, text, sizeof text));
    MKT_CHECK(strstr(text, "chosen: ref.scalar") != NULL, "explain(add, args): %s", text);
    MKT_CHECK(strstr(text, "no call arguments") == NULL, "explain with args claims it has none: %s", text);
    /* explain does not run the op */
    float out[32];
    MKT_OK(mk_buffer_read(x.b[2], 0, out, sizeof out));
    MKT_CHECK(out[3] == 1.5f, "mk_explain ran the op (out[3] = %g)", out[3]);
    MKT_CHECK(mk_last_kernel(c, MK_OP_ADD) == NULL, "mk_last_kernel set by mk_explain");
    /* truncation: always NUL-terminated within n */
    char small[12];
    memset(small, 'q', sizeof small);
    MKT_OK(mk_explain(c, MK_OP_ADD, &args, small, 8));
    MKT_CHECK(memchr(small, 0, 8) != NULL && small[8] == 'q', "mk_explain with n = 8 overran or did not terminate");
    char one[2] = {'q', 'q'};
    MKT_OK(mk_explain(c, MK_OP_ADD, NULL, one, 1));
    MKT_CHECK(one[0] == 0 && one[1] == 'q', "mk_explain with n = 1");

    /* mk_last_kernel after a call */
    MKT_OK(mk_add(c, &x.a, &x.bb, &x.out));
    const char *k = mk_last_kernel(c, MK_OP_ADD);
    MKT_CHECK(k && strcmp(k, "ref.scalar") == 0, "mk_last_kernel(add) = %s", k ? k : "NULL");
    MKT_CHECK(mk_last_kernel(c, MK_OP_GEMM) == NULL, "mk_last_kernel(gemm) set by an add");
    /* a failing call does not change it */
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "a is NULL", mk_add(c, NULL, &x.bb, &x.out));
    k = mk_last_kernel(c, MK_OP_ADD);
    MKT_CHECK(k && strcmp(k, "ref.scalar") == 0, "mk_last_kernel(add) after a failure = %s", k ? k : "NULL");

    /* forcing */
    MKT_FAILS(MK_ERR_NOT_FOUND, "nosuch.kernel", mk_set_kernel(c, MK_OP_ADD, "nosuch.kernel"));
    MKT_FAILS(MK_ERR_NOT_FOUND, "ref.scalarx", mk_set_kernel(c, MK_OP_ADD, "ref.scalarx"));
    MKT_FAILS(MK_ERR_NOT_FOUND, "\"\"", mk_set_kernel(c, MK_OP_ADD, ""));
    MKT_OK(mk_explain(c, MK_OP_ADD, NULL, text, sizeof text));
    MKT_CHECK(strstr(text, "(forced)") == NULL, "a failed mk_set_kernel forced something: %s", text);
    MKT_OK(mk_set_kernel(c, MK_OP_ADD, "ref.scalar"));
    MKT_OK(mk_explain(c, MK_OP_ADD, NULL, text, sizeof text));
    MKT_CHECK(strstr(text, "chosen: ref.scalar (forced)") != NULL, "explain after mk_set_kernel: %s", text);
    MKT_OK(mk_explain(c, MK_OP_GEMM, NULL, text, sizeof text));
    MKT_CHECK(strstr(text, "(forced)") == NULL, "forcing add forced gemm: %s", text);
    MKT_OK(mk_add(c, &x.a, &x.bb, &x.out));
    k = mk_last_kernel(c, MK_OP_ADD);
    MKT_CHECK(k && strcmp(k, "ref.scalar") == 0, "forced add ran %s", k ? k : "NULL");
    MKT_OK(mk_set_kernel(c, MK_OP_ADD, NULL));
    MKT_OK(mk_explain(c, MK_OP_ADD, NULL, text, sizeof text));
    MKT_CHECK(strstr(text, "(forced)") == NULL && strstr(text, "chosen: ref.scalar") != NULL,
              "explain after the reset: %s", text);
    /* another context is not affected by a setting */
    mk_context *c2 = NULL;
    MKT_OK(mk_set_kernel(c, MK_OP_RMSNORM, "ref.scalar"));
    MKT_OK(mk_context_create("ref", &c2));
    if (c2) {
        MKT_OK(mk_explain(c2, MK_OP_RMSNORM, NULL, text, sizeof text));
        MKT_CHECK(strstr(text, "(forced)") == NULL, "mk_set_kernel leaked into another context: %s", text);
        mk_context_destroy(c2);
    }
    /* variants of a backend other than the context's cannot be forced on it */
    int total = 0;
    mk_kernel_list(MK_OP_COUNT, NULL, 0, &total);
    mk_kernel_info *all = calloc((size_t)total + 1, sizeof *all);
    mk_kernel_list(MK_OP_COUNT, all, total, &total);
    for (int i = 0; i < total; i++)
        if (strcmp(all[i].backend, "ref") != 0)
            MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "name", mk_set_kernel(c, all[i].op, all[i].name));
    free(all);
    free_add(&x);
    mk_context_destroy(c);
}

/* ------------------------------------------------------------ MEDKERN_KERNELS */

static void test_env_override(void) {
    mk_context *c = NULL;
    char text[4096];
    setenv("MEDKERN_KERNELS", "add=ref.scalar,rope=ref.scalar", 1);
    MKT_OK(mk_context_create("ref", &c));
    if (c) {
        MKT_OK(mk_explain(c, MK_OP_ADD, NULL, text, sizeof text));
        MKT_CHECK(strstr(text, "chosen: ref.scalar (forced)") != NULL, "MEDKERN_KERNELS did not force add: %s", text);
        MKT_OK(mk_explain(c, MK_OP_ROPE, NULL, text, sizeof text));
        MKT_CHECK(strstr(text, "(forced)") != NULL, "MEDKERN_KERNELS did not force rope: %s", text);
        MKT_OK(mk_explain(c, MK_OP_GEMM, NULL, text, sizeof text));
        MKT_CHECK(strstr(text, "(forced)") == NULL, "MEDKERN_KERNELS forced gemm: %s", text);
        add_args x = make_add(c);
        MKT_OK(mk_add(c, &x.a, &x.bb, &x.out));
        const char *k = mk_last_kernel(c, MK_OP_ADD);
        MKT_CHECK(k && strcmp(k, "ref.scalar") == 0, "forced add ran %s", k ? k : "NULL");
        free_add(&x);
        /* mk_set_kernel(NULL) undoes the environment's choice */
        MKT_OK(mk_set_kernel(c, MK_OP_ADD, NULL));
        MKT_OK(mk_explain(c, MK_OP_ADD, NULL, text, sizeof text));
        MKT_CHECK(strstr(text, "(forced)") == NULL, "reset after MEDKERN_KERNELS: %s", text);
        mk_context_destroy(c);
    }
    /* empty: nothing forced; a backend this build lacks: ignored */
    setenv("MEDKERN_KERNELS", "", 1);
    c = NULL;
    MKT_OK(mk_context_create("ref", &c));
    mk_context_destroy(c);
    setenv("MEDKERN_KERNELS", "add=zzbackend.fast", 1);
    c = NULL;
    MKT_OK(mk_context_create("ref", &c));
    if (c) {
        MKT_OK(mk_explain(c, MK_OP_ADD, NULL, text, sizeof text));
        MKT_CHECK(strstr(text, "(forced)") == NULL, "a variant of a missing backend forced something: %s", text);
        mk_context_destroy(c);
    }
    /* malformed values fail context creation and name the variable */
    const char *bad[] = {"add", "add=", "=ref.scalar", "nosuch=ref.scalar", "add=ref.nosuch",
                         "add=ref.scalar,gemm", "add=ref.scalar,rmsnorm=ref.bogus", "ADD=ref.scalar",
                         "add:ref.scalar", "add=scalar", "add=.scalar", "add=ref.", "add=ref"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("MEDKERN_KERNELS", bad[i], 1);
        c = (mk_context *)(uintptr_t)1;
        mk_status s = mk_context_create("ref", &c);
        mkt_checks++;
        if (s != MK_ERR_INVALID_ARGUMENT || !strstr(mk_last_error(), "MEDKERN_KERNELS"))
            mkt_fail_at(__FILE__, __LINE__, "MEDKERN_KERNELS=\"%s\": %s (%s), want MK_ERR_INVALID_ARGUMENT naming MEDKERN_KERNELS",
                        bad[i], mk_status_string(s), mk_last_error());
        MKT_CHECK(c == NULL, "MEDKERN_KERNELS=\"%s\": *out is not NULL after a failure", bad[i]);
        if (s == MK_OK) mk_context_destroy(c);
    }
    unsetenv("MEDKERN_KERNELS");
    c = NULL;
    MKT_OK(mk_context_create("ref", &c));
    mk_context_destroy(c);
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "dispatch");
    unsetenv("MEDKERN_KERNELS");
    test_concurrent_first_use(); /* first: nothing of medkern has run yet */
    test_devices();
    test_names();
    test_kernel_list();
    test_explain_and_force();
    test_env_override();
    return mkt_finish();
}
