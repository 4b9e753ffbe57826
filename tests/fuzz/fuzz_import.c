/* Fuzzes the weight importers (mk_import_gptq, mk_import_awq, mk_import_gguf): the first
   bytes pick the importer, n, k, group size and flags (small), the rest fill the input
   arrays, sized as medkern.h documents them for the chosen shape. Every call must return
   MK_OK or MK_ERR_INVALID_ARGUMENT; a failing import must leave its outputs untouched,
   and a successful one must hand out data that mk_qweight_create accepts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_bytes.h"
#include "medkern/medkern.h"

static mk_context *ctx;

static void die(const char *what, mk_status s) {
    fprintf(stderr, "fuzz_import: %s: %s (%s)\n", what, mk_status_string(s), mk_last_error());
    abort();
}

/* A host array of exactly `bytes` (at least 1, so that it is never NULL), filled from b. */
static void *array(const fz_bytes *b, size_t bytes, size_t *pos) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) abort();
    fz_fill(b, p, bytes ? bytes : 1, pos);
    return p;
}

static const int groups[16] = {32, 64, 128, 32, 64, 128, 32, 128, 0, -1, 16, 256, 8, 96, 48, -128};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ctx && mk_context_create("ref", &ctx) != MK_OK) abort();
    fz_bytes b = {data, size};
    uint8_t kind = fz_u8(&b), flags = fz_u8(&b);
    int64_t n = (int64_t)(fz_u8(&b) % 80) - 8;          /* -8..71 */
    int64_t k = (int64_t)(fz_u16(&b) % 1100) - 40;      /* -40..1059 */
    int group = groups[fz_u8(&b) % 16];
    int8_t bytes_delta = (int8_t)fz_u8(&b);
    uint8_t gidx_mode = flags & 3, null_mask = (flags >> 2) & 7;
    int symmetric = (flags >> 5) & 1;
    if (!(flags & 0x40)) null_mask = 0; /* NULL arrays only now and then */

    /* documented sizes for this (n, k, group): still computed when they are invalid */
    const size_t N = n > 0 ? (size_t)n : 0, K = k > 0 ? (size_t)k : 0;
    const size_t G = group > 0 ? K / (size_t)group : 1;
    size_t pos = 0;
    mk_qweight_desc desc, desc0;
    mk_qweight_data out, out0;
    memset(&desc0, 0xA5, sizeof desc0);
    memset(&out0, 0xA5, sizeof out0);
    desc = desc0;
    out = out0;
    mk_status s;
    void *a0 = NULL, *a1 = NULL, *a2 = NULL;
    int32_t *gidx = NULL;

    switch (kind % 3) {
    case 0: { /* GPTQ: qweight [k/8, n], qzeros [k/g, n/8], scales [k/g, n], g_idx [k] */
        a0 = array(&b, K / 8 * N * 4, &pos);
        a1 = array(&b, G * (N / 8) * 4, &pos);
        a2 = array(&b, G * N * 2, &pos);
        if (gidx_mode) {
            gidx = array(&b, K * 4, &pos);
            if (gidx_mode >= 2 && group > 0) {
                for (size_t i = 0; i < K; i++) gidx[i] = (int32_t)(i / (size_t)group);
                if (gidx_mode == 3) /* act-order: shuffle the group ids with the input bytes */
                    for (size_t i = K; i > 1; i--) {
                        size_t j = (size_t)(fz_u16(&b)) % i;
                        int32_t t = gidx[i - 1];
                        gidx[i - 1] = gidx[j];
                        gidx[j] = t;
                    }
            }
        }
        mk_gptq_tensors in = {null_mask & 1 ? NULL : a0, null_mask & 2 ? NULL : a1,
                              null_mask & 4 ? NULL : a2, gidx, n, k, group, symmetric};
        s = mk_import_gptq(&in, &desc, &out);
        break;
    }
    case 1: { /* AWQ: qweight [k, n/8], qzeros [k/g, n/8], scales [k/g, n] */
        a0 = array(&b, K * (N / 8) * 4, &pos);
        a1 = array(&b, G * (N / 8) * 4, &pos);
        a2 = array(&b, G * N * 2, &pos);
        mk_awq_tensors in = {null_mask & 1 ? NULL : a0, null_mask & 2 ? NULL : a1,
                             null_mask & 4 ? NULL : a2, n, k, group};
        s = mk_import_awq(&in, &desc, &out);
        break;
    }
    default: { /* GGUF: n rows of k/32 blocks of 18 (Q4_0) or 34 (Q8_0) bytes */
        static const int types[8] = {MK_GGUF_Q4_0, MK_GGUF_Q8_0, MK_GGUF_Q4_0, MK_GGUF_Q8_0,
                                     MK_GGUF_Q4_0, MK_GGUF_Q8_0, 0, 3};
        int type = types[(kind >> 2) & 7];
        size_t bb = type == MK_GGUF_Q8_0 ? 34 : 18, need = N * (K / 32) * bb;
        /* mostly the exact byte count, sometimes off by a little */
        size_t bytes = (flags & 0x80) ? (size_t)((int64_t)need + bytes_delta % 40 > 0
                                                     ? (int64_t)need + bytes_delta % 40 : 0)
                                      : need;
        a0 = array(&b, bytes, &pos);
        s = mk_import_gguf((mk_gguf_type)type, null_mask & 1 ? NULL : a0, bytes, n, k, &desc, &out);
        break;
    }
    }

    if (s == MK_OK) {
        mk_qweight *qw = NULL;
        mk_status c = mk_qweight_create(ctx, &desc, &out, &qw);
        if (c != MK_OK) die("mk_qweight_create rejected an imported weight", c);
        mk_qweight_destroy(qw);
        mk_qweight_data_free(&out);
    } else if (s == MK_ERR_INVALID_ARGUMENT) {
        if (memcmp(&desc, &desc0, sizeof desc) || memcmp(&out, &out0, sizeof out))
            die("a failing import wrote its outputs", s);
    } else {
        die("an importer returned neither MK_OK nor MK_ERR_INVALID_ARGUMENT", s);
    }
    free(a0);
    free(a1);
    free(a2);
    free(gidx);
    return 0;
}
