/*
 * Deterministic random numbers for tests, benchmarks and the reference model:
 * splitmix64 expands the seed into the state of xoshiro256** (Blackman and Vigna).
 * Integer arithmetic only up to the final conversions, so every machine sees the
 * same stream for the same seed.
 */
#include <math.h>

#include "mkref.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }

void mkref_rng_seed(mkref_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t mkref_rng_u64(mkref_rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double mkref_rng_uniform(mkref_rng *r) {
    return (double)(mkref_rng_u64(r) >> 11) * 0x1.0p-53; /* 53 random bits, [0, 1) */
}

double mkref_rng_normal(mkref_rng *r) {
    /* Box-Muller, one value per call (the state holds no spare). u1 in (0, 1]. */
    double u1 = 1.0 - mkref_rng_uniform(r);
    double u2 = mkref_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

int64_t mkref_rng_range(mkref_rng *r, int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1u; /* 0 means the whole 64-bit range */
    if (span == 0) return (int64_t)mkref_rng_u64(r);
    /* rejection of the incomplete top interval keeps every value equally likely */
    uint64_t reject_below = ((uint64_t)0 - span) % span;
    uint64_t v;
    do v = mkref_rng_u64(r);
    while (v < reject_below);
    return (int64_t)((uint64_t)lo + v % span);
}
