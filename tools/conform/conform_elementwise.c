/*
 * Conformance cases of the elementwise ops: silu_mul, gelu_mul (erf and tanh forms) and
 * add. Random rows x n shapes in F32/F16/BF16, inputs as strided views (padded rows),
 * add in place (out is a). One case per dtype with NaN and Inf inputs where the
 * reference defines the result: a NaN operand gives NaN; add: +-Inf operands, Inf - Inf
 * = NaN, finite sums that overflow the dtype become Inf when stored; silu_mul/gelu_mul:
 * up = +-Inf with a gate of magnitude 0.5..4 gives +-Inf, gate = +Inf gives +-Inf.
 */
#include <math.h>
#include <string.h>

#include "conform_internal.h"

static const mk_dtype kTypes[3] = {MK_F32, MK_F16, MK_BF16};

/* quick: f32, f16, bf16, a strided/in-place case, a NaN/Inf case; full: 12 + 3 */
static int count(mkcf_mode mode) { return mode == MKCF_FULL ? 15 : 5; }

typedef struct {
    mk_op op;
    int approximate;
    mk_tensor a, b, out;
} binary_call;

static mk_status launch(mkcf_case *c, void *arg) {
    binary_call *k = arg;
    switch (k->op) {
    case MK_OP_SILU_MUL: return mk_silu_mul(c->ctx, &k->a, &k->b, &k->out);
    case MK_OP_GELU_MUL: return mk_gelu_mul(c->ctx, &k->a, &k->b, k->approximate, &k->out);
    default: return mk_add(c->ctx, &k->a, &k->b, &k->out);
    }
}

static void reference(const binary_call *k, const float *a, const float *b, int64_t n, float *out) {
    if (k->op == MK_OP_SILU_MUL) mkref_silu_mul(a, b, n, out);
    else if (k->op == MK_OP_GELU_MUL) mkref_gelu_mul(a, b, n, k->approximate, out);
    else mkref_add(a, b, n, out);
}

/* Largest finite value of t, times 0.75 and rounded through t: two of them overflow. */
static float big(mk_dtype t) {
    float m = t == MK_F16 ? 65504.0f : t == MK_BF16 ? 3.3895314e38f : 3.4028235e38f;
    return mkref_round_to(t, 0.75f * m);
}

/* Puts NaN/Inf (and overflowing) operands at about one element in six. */
static void add_specials(mkcf_case *c, mk_op op, mk_dtype t, float *a, float *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (mkref_rng_range(&c->rng, 0, 5) != 0) continue;
        int kind = (int)mkref_rng_range(&c->rng, 0, 5);
        float sign = (mkref_rng_u64(&c->rng) & 1) ? -1.0f : 1.0f;
        if (kind == 0) a[i] = NAN;
        else if (kind == 1) b[i] = -NAN;
        else if (op == MK_OP_ADD) {
            if (kind == 2) a[i] = sign * INFINITY;
            else if (kind == 3) a[i] = INFINITY, b[i] = -INFINITY;    /* NaN */
            else if (kind == 4) a[i] = b[i] = sign * big(t);          /* overflows to Inf */
            else b[i] = sign * INFINITY;
        } else {
            if (kind == 2 || kind == 3) { /* silu/gelu(g) of a moderate g times +-Inf */
                a[i] = mkref_round_to(t, (float)(0.5 + 3.5 * mkref_rng_uniform(&c->rng)));
                b[i] = sign * INFINITY;
            } else if (kind == 4) {
                a[i] = INFINITY; /* silu(+Inf) = gelu(+Inf) = +Inf */
            } else {
                a[i] = NAN, b[i] = sign * INFINITY;
            }
        }
    }
}

static void run_binary(mkcf_case *c, mk_op op) {
    static const int rows_q[] = {1, 3, 7, 33}, rows_f[] = {1, 2, 7, 33, 100, 257};
    static const int cols_q[] = {1, 13, 64, 80, 96, 128, 256, 1000};
    static const int cols_f[] = {1, 7, 13, 64, 80, 96, 128, 256, 1000, 4096};
    const int full = c->mode == MKCF_FULL, n_cases = count(c->mode), i = c->index;
    const int special = i >= n_cases - (full ? 3 : 1);
    const mk_dtype t = kTypes[special ? (full ? i % 3 : 1) : i % 3];
    binary_call k = {op, 0, {0}, {0}, {0}};
    k.approximate = op == MK_OP_GELU_MUL && (i & 1);
    int64_t rows = full ? MKCF_PICK(c, rows_f) : MKCF_PICK(c, rows_q);
    int64_t n = full ? MKCF_PICK(c, cols_f) : MKCF_PICK(c, cols_q);
    if (rows * n > 300000) rows = 300000 / n;
    /* quick case 3 and every fourth full case: strided inputs (and add in place) */
    int strided = full ? (i % 4 == 3) : (i == 3);
    int64_t pad_a = strided ? mkref_rng_range(&c->rng, 1, 17) : 0, pad_b = strided ? 2 : 0;
    int in_place = strided && op == MK_OP_ADD;
    if (in_place) pad_a = 0; /* out is contiguous, so is a */
    size_t total = (size_t)(rows * n);
    float *a = mkcf_random(c, t, total, 2.0f, 4.0f), *b = mkcf_random(c, t, total, 1.0f, 4.0f);
    if (special) {
        add_specials(c, op, t, a, b, total);
        mkcf_round(t, a, total), mkcf_round(t, b, total);
    }
    float *ref = mkcf_host(c, total * sizeof *ref), *out = mkcf_host(c, total * sizeof *out);
    reference(&k, a, b, (int64_t)total, ref);
    mkcf_round(t, ref, total);
    mkcf_describe(c, "%s%s %s rows=%lld n=%lld%s%s%s", mk_op_name(op),
                 op == MK_OP_GELU_MUL ? (k.approximate ? "(tanh)" : "(erf)") : "", mk_dtype_name(t),
                 (long long)rows, (long long)n, strided ? " strided inputs" : "", in_place ? " in place (out = a)" : "",
                 special ? " with NaN/Inf inputs" : "");
    int64_t shape[2] = {rows, n}, sa[2] = {n + pad_a, 1}, sb[2] = {n + pad_b, 1};
    k.a = mkcf_upload_view(c, "a", t, 2, shape, sa, a);
    k.b = mkcf_upload_view(c, "b", t, 2, shape, sb, b);
    if (in_place) {
        k.out = k.a;
        mkcf_mark_output(mkcf_buf_of(c, &k.out), &k.out, 0);
    } else {
        k.out = mkcf_output(c, "out", t, 2, shape);
    }
    if (!mkcf_exec(c, launch, &k)) return;
    mkcf_read(c, &k.out, out);
    mkcf_check(c, "out", out, ref, total, mkcf_tol(t));
}

static void run_silu(mkcf_case *c) { run_binary(c, MK_OP_SILU_MUL); }
static void run_gelu(mkcf_case *c) { run_binary(c, MK_OP_GELU_MUL); }
static void run_add(mkcf_case *c) { run_binary(c, MK_OP_ADD); }

const mkcf_suite mkcf_suite_silu_mul = {MK_OP_SILU_MUL, 0, count, run_silu};
const mkcf_suite mkcf_suite_gelu_mul = {MK_OP_GELU_MUL, 0, count, run_gelu};
const mkcf_suite mkcf_suite_add = {MK_OP_ADD, 0, count, run_add};
