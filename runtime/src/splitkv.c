/*
 * The split-KV partition of decode (flash-decoding), one rule for every backend with the
 * backend's numbers as parameters (mk_splitkv_params in backend.h).
 *
 * groups work-groups per split (sequences x head groups) run at once; the rule adds
 * splits until the device has per_unit work-groups per compute unit, but never makes a
 * split shorter than min_chunk keys (the merge would cost more than the split saves)
 * and never more than max_splits. The partition is made for the power-of-two bucket of
 * max_keys, so decode steps whose longest context stays in one bucket keep their grid
 * and workspace.
 */
#include "internal.h"

static int64_t pow2_at_least(int64_t x) {
    int64_t p = 1;
    while (p < x) p *= 2;
    return p;
}

void mk__splitkv_partition(const mk_splitkv_params *p, int64_t groups, int64_t max_keys, mk_work *w) {
    const int64_t tile = p->tile > 0 ? p->tile : 1;
    const int64_t min_chunk = p->min_chunk > tile ? p->min_chunk : tile;
    const int64_t bucket = pow2_at_least(max_keys < 1 ? 1 : max_keys);
    const int64_t target = (int64_t)(p->compute_units > 0 ? p->compute_units : 1) * (p->per_unit > 0 ? p->per_unit : 1);
    const int64_t base = groups > 0 ? groups : 1;
    int64_t s = (target + base - 1) / base;
    const int64_t by_len = (bucket + min_chunk - 1) / min_chunk;
    if (s > by_len) s = by_len;
    if (s > p->max_splits) s = p->max_splits;
    if (s < 1) s = 1;
    int64_t c = (bucket + s - 1) / s;
    c = (c + tile - 1) / tile * tile;
    w->chunk = (int)c;
    w->splits = (int)((bucket + c - 1) / c);
}

size_t mk__splitkv_workspace_bytes(int64_t B, int64_t Hq, int64_t D, int splits) {
    if (splits <= 1) return 0;
    return (size_t)B * (size_t)Hq * (size_t)splits * ((size_t)D + 2) * sizeof(float);
}
