/*
 * bench_memory: the memory ceilings the op benchmarks are compared with.
 *   host_read/threads:N/MiB:S       STREAM-like read bandwidth of the host: a sum over an
 *                                   array of S MiB (at least 4x the last-level cache in the
 *                                   full set), N threads each bound to its own core
 *   device_bw_probe/mk_add_f32/...  device bandwidth through the op mk_add on F32 tensors
 *                                   (no public device-to-device copy exists): out = a + b,
 *                                   bytes = 3 * n * 4
 *   h2d_write/MiB:S, d2h_read/MiB:S blocking mk_buffer_write / mk_buffer_read (host timer)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkbench.h"

#define MiB ((size_t)1 << 20)

/* ---------------------------------------------------------------- host read */

typedef struct {
    int threads;
    size_t bytes;
} host_case;

static void bench_host_read(mkb_state *st, const void *arg) {
    const host_case *c = arg;
    mkb_host_read(st, c->threads, c->bytes);
}

/* ---------------------------------------------------------------- device */

typedef struct {
    size_t bytes; /* per array / per transfer */
} dev_case;

static void bench_add_probe(mkb_state *st, const void *arg) {
    const dev_case *c = arg;
    size_t n = c->bytes / 4;
    if (!mkb_fits(st, (double)n, 3.0 * (double)c->bytes)) return;
    mk_context *ctx = mkb_context();
    mk_buffer *b[3] = {0};
    for (int i = 0; i < 3; i++)
        if (!(b[i] = mkb_random_buffer(st, MK_F32, n, 1, (uint64_t)i + 1))) goto done;
    int64_t shape[1] = {(int64_t)n};
    mk_tensor a = mk_tensor_make(b[0], 0, MK_F32, 1, shape);
    mk_tensor x = mk_tensor_make(b[1], 0, MK_F32, 1, shape);
    mk_tensor out = mk_tensor_make(b[2], 0, MK_F32, 1, shape);
    if (!mkb_check(st, mk_add(ctx, &a, &x, &out), "mk_add")) goto done;
    mkb_set_op(st, MK_OP_ADD);
    mkb_set_bytes(st, 3.0 * (double)n * 4);
    mkb_label(st, "bandwidth probe: out = a + b (f32)");
    while (mkb_next(st)) mkb_check(st, mk_add(ctx, &a, &x, &out), "mk_add");
done:
    mk_synchronize(ctx);
    for (int i = 0; i < 3; i++) mk_buffer_free(b[i]);
}

static void bench_transfer(mkb_state *st, const void *arg, int to_device) {
    const dev_case *c = arg;
    mk_buffer *b = NULL;
    void *host = aligned_alloc(64, c->bytes);
    if (!host) {
        mkb_fail(st, "out of host memory");
        return;
    }
    memset(host, 1, c->bytes);
    if (mkb_check(st, mk_buffer_alloc(mkb_context(), c->bytes, &b), "mk_buffer_alloc") &&
        mkb_check(st, mk_buffer_write(b, 0, host, c->bytes), "mk_buffer_write")) {
        mkb_set_bytes(st, (double)c->bytes);
        mkb_label(st, "blocking, pageable host memory");
        while (mkb_next(st)) {
            if (to_device) mkb_check(st, mk_buffer_write(b, 0, host, c->bytes), "mk_buffer_write");
            else mkb_check(st, mk_buffer_read(b, 0, host, c->bytes), "mk_buffer_read");
        }
    }
    mk_buffer_free(b);
    free(host);
}

static void bench_h2d(mkb_state *st, const void *arg) { bench_transfer(st, arg, 1); }
static void bench_d2h(mkb_state *st, const void *arg) { bench_transfer(st, arg, 0); }

/* ---------------------------------------------------------------- registration */

static size_t round_mib(size_t bytes) { return (bytes + MiB - 1) / MiB * MiB; }

static void reg(void) {
    char name[96];
    size_t big = mkb_host_read_bytes(1), host_bytes = mkb_host_read_bytes(mkb_full());
    int cores = mkb_host_cores(), counts[3] = {1, 2, cores};
    for (int i = 0; i < 3; i++) {
        if (counts[i] > cores || counts[i] > 64 || (i == 2 && cores <= 2)) continue;
        host_case hc = {counts[i], host_bytes};
        snprintf(name, sizeof name, "host_read/threads:%d/MiB:%zu", hc.threads, host_bytes / MiB);
        mkb_register(name, bench_host_read, &hc, sizeof hc, MKB_HOST_TIMER);
    }

    /* in cache (4 MiB per array) and out of it (a third of the host array's size each) */
    size_t sizes[2] = {4 * MiB, round_mib(big / 3)};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && !mkb_full()) continue;
        dev_case dc = {sizes[i]};
        snprintf(name, sizeof name, "device_bw_probe/mk_add_f32/MiB:%zu", sizes[i] / MiB);
        mkb_register(name, bench_add_probe, &dc, sizeof dc, 0);
    }
    dev_case tc = {mkb_full() ? 256 * MiB : 16 * MiB};
    snprintf(name, sizeof name, "h2d_write/MiB:%zu", tc.bytes / MiB);
    mkb_register(name, bench_h2d, &tc, sizeof tc, MKB_HOST_TIMER);
    snprintf(name, sizeof name, "d2h_read/MiB:%zu", tc.bytes / MiB);
    mkb_register(name, bench_d2h, &tc, sizeof tc, MKB_HOST_TIMER);
}

int main(int argc, char **argv) {
    int rc = mkb_main(argc, argv, reg);
    mkb_host_read_release();
    return rc;
}
