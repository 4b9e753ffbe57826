/* Quantized weights: canonical host arrays, packing through the backend, importers. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mkref.h"

mk_status mk_qweight_data_alloc(const mk_qweight_desc *desc, int with_zeros, int with_perm,
                                mk_qweight_data *out) {
    if (!out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out is NULL");
    memset(out, 0, sizeof *out);
    mk_status s = mk__validate_qweight(desc, NULL);
    if (s != MK_OK) return s;
    if (with_zeros && desc->format != MK_QW4)
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "with_zeros is set but only QW4 has zero points");
    out->q = mk__malloc(mkref_qweight_q_bytes(desc));
    out->scales = mk__malloc(mkref_qweight_scale_bytes(desc));
    if (with_zeros) {
        mk_qweight_desc asym = *desc;
        asym.asymmetric = 1;
        out->zeros = mk__malloc(mkref_qweight_zero_bytes(&asym));
    }
    if (with_perm) out->k_perm = mk__malloc((size_t)desc->k * sizeof(int32_t));
    if (!out->q || !out->scales || (with_zeros && !out->zeros) || (with_perm && !out->k_perm)) {
        mk_qweight_data_free(out);
        return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the weight arrays");
    }
    return MK_OK;
}

void mk_qweight_data_free(mk_qweight_data *d) {
    if (!d) return;
    mk__free(d->q);
    mk__free(d->scales);
    mk__free(d->zeros);
    mk__free(d->k_perm);
    memset(d, 0, sizeof *d);
}

mk_status mk_qweight_create(mk_context *ctx, const mk_qweight_desc *desc, const mk_qweight_data *data,
                            mk_qweight **out) {
    if (!out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!ctx) return mk__fail(MK_ERR_INVALID_ARGUMENT, "ctx is NULL");
    if (!data) return mk__fail(MK_ERR_INVALID_ARGUMENT, "data is NULL");
    mk_status s = mk__validate_qweight(desc, data);
    if (s != MK_OK) return s;
    if ((s = mk__alive(ctx)) != MK_OK) return s;
    mk_qweight *qw = mk__calloc(1, sizeof *qw);
    if (!qw) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the weight");
    qw->ctx = ctx;
    qw->desc = *desc;
    qw->has_zeros = data->zeros != NULL;
    qw->has_perm = data->k_perm != NULL;
    if ((s = mk__device_result(ctx, ctx->backend->qweight_create(ctx, qw, data))) != MK_OK) {
        mk__free(qw);
        return s;
    }
    *out = qw;
    return MK_OK;
}

void mk_qweight_destroy(mk_qweight *qw) {
    if (!qw) return;
    qw->ctx->backend->qweight_destroy(qw);
    mk__free(qw);
}

mk_status mk_qweight_get_desc(const mk_qweight *qw, mk_qweight_desc *out) {
    if (!qw) return mk__fail(MK_ERR_INVALID_ARGUMENT, "qw is NULL");
    if (!out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = qw->desc;
    return MK_OK;
}

mk_status mk_qweight_read(const mk_qweight *qw, mk_qweight_data *out) {
    if (!qw) return mk__fail(MK_ERR_INVALID_ARGUMENT, "qw is NULL");
    if (!out || !out->q || !out->scales) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out arrays are NULL");
    if (qw->has_zeros && !out->zeros) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out->zeros is NULL but the weight has zero points");
    if (qw->has_perm && !out->k_perm) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out->k_perm is NULL but the weight has a K permutation");
    mk_status s = mk__alive(qw->ctx);
    return s != MK_OK ? s : mk__device_result(qw->ctx, qw->ctx->backend->qweight_read(qw, out));
}

/* ---- importers */

/* Hands the results out only on success: a failing import writes nothing. */
static mk_status import_finish(mk_status s, const char *msg, const mk_qweight_desc *desc,
                               mk_qweight_data *data, mk_qweight_desc *desc_out,
                               mk_qweight_data *data_out) {
    if (s != MK_OK) {
        mk_qweight_data_free(data);
        if (!msg[0] && s == MK_ERR_OUT_OF_MEMORY) msg = "out of host memory importing the weight";
        return mk__fail(s, "%s", msg);
    }
    *desc_out = *desc;
    *data_out = *data;
    return MK_OK;
}

mk_status mk_import_gptq(const mk_gptq_tensors *in, mk_qweight_desc *desc_out, mk_qweight_data *data_out) {
    if (!in) return mk__fail(MK_ERR_INVALID_ARGUMENT, "in is NULL");
    if (!desc_out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "desc_out is NULL");
    if (!data_out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "data_out is NULL");
    if (!in->qweight) return mk__fail(MK_ERR_INVALID_ARGUMENT, "in->qweight is NULL");
    if (!in->scales) return mk__fail(MK_ERR_INVALID_ARGUMENT, "in->scales is NULL");
    if (!in->symmetric && !in->qzeros) return mk__fail(MK_ERR_INVALID_ARGUMENT, "in->qzeros is NULL (asymmetric GPTQ)");
    if (in->k < 8 || in->k % 8) return mk__fail(MK_ERR_INVALID_ARGUMENT, "in->k (%lld) must be a positive multiple of 8", (long long)in->k);
    /* the reference importer needs n % 8 == 0 even when symmetric (qzeros packs 8 outputs
       per int32 in every GPTQ checkpoint) */
    if (in->n < 8 || in->n % 8)
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "in->n (%lld) must be a positive multiple of 8", (long long)in->n);
    int needs_perm = 0;
    char msg[256] = "";
    mk_qweight_desc desc;
    mk_qweight_data data;
    mk_status s = mkref_gptq_desc(in, &desc, &needs_perm);
    if (s != MK_OK)
        return mk__fail(s, "in: group_size (%d), k (%lld) and g_idx do not describe a GPTQ weight",
                        in->group_size, (long long)in->k);
    if ((s = mk__validate_qweight(&desc, NULL)) != MK_OK) return s;
    if ((s = mk_qweight_data_alloc(&desc, desc.asymmetric, needs_perm, &data)) != MK_OK) return s;
    return import_finish(mkref_import_gptq(in, &desc, &data, msg, sizeof msg), msg, &desc, &data,
                         desc_out, data_out);
}

mk_status mk_import_awq(const mk_awq_tensors *in, mk_qweight_desc *desc_out, mk_qweight_data *data_out) {
    if (!in) return mk__fail(MK_ERR_INVALID_ARGUMENT, "in is NULL");
    if (!desc_out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "desc_out is NULL");
    if (!data_out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "data_out is NULL");
    if (!in->qweight || !in->qzeros || !in->scales)
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "in->qweight, in->qzeros and in->scales must all be set");
    if (in->n < 8 || in->n % 8) return mk__fail(MK_ERR_INVALID_ARGUMENT, "in->n (%lld) must be a positive multiple of 8", (long long)in->n);
    mk_qweight_desc desc = {MK_QW4, in->n, in->k, in->group_size, 1};
    mk_qweight_data data;
    mk_status s = mk__validate_qweight(&desc, NULL);
    if (s != MK_OK) return s;
    if ((s = mk_qweight_data_alloc(&desc, 1, 0, &data)) != MK_OK) return s;
    char msg[256] = "";
    return import_finish(mkref_import_awq(in, &desc, &data, msg, sizeof msg), msg, &desc, &data,
                         desc_out, data_out);
}

mk_status mk_import_gguf(mk_gguf_type type, const void *blocks, size_t bytes, int64_t n, int64_t k,
                         mk_qweight_desc *desc_out, mk_qweight_data *data_out) {
    if (!blocks) return mk__fail(MK_ERR_INVALID_ARGUMENT, "blocks is NULL");
    if (!desc_out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "desc_out is NULL");
    if (!data_out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "data_out is NULL");
    size_t block_bytes;
    mk_qweight_desc desc;
    mk_qweight_data data;
    if (type == MK_GGUF_Q4_0) {
        desc = (mk_qweight_desc){MK_QW4, n, k, 32, 0};
        block_bytes = 18;
    } else if (type == MK_GGUF_Q8_0) {
        desc = (mk_qweight_desc){MK_QW8, n, k, 32, 0};
        block_bytes = 34;
    } else {
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "type (%d) is not Q4_0 or Q8_0", (int)type);
    }
    if (n < 1 || k < 32 || k % 32)
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "n (%lld) must be >= 1 and k (%lld) a positive multiple of 32", (long long)n, (long long)k);
    mk_status s = mk__validate_qweight(&desc, NULL);
    if (s != MK_OK) return s;
    size_t need = (size_t)n * (size_t)(k / 32) * block_bytes;
    if (bytes != need)
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "bytes is %zu but %lld x %lld needs %zu", bytes,
                        (long long)n, (long long)k, need);
    if ((s = mk_qweight_data_alloc(&desc, 0, 0, &data)) != MK_OK) return s;
    char msg[256] = "";
    return import_finish(mkref_import_gguf(type, blocks, &desc, &data, msg, sizeof msg), msg, &desc,
                         &data, desc_out, data_out);
}
