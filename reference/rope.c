/* Reference rotary position embedding (rotate-half and interleaved; linear and Llama 3
   frequency scaling). Frequencies, angles, cos and sin in double. */
#include <math.h>

#include "mkref.h"

static const double mkref_pi = 3.14159265358979323846;

double mkref_rope_inv_freq(const mk_rope_params *p, int rotary_dim, int i) {
    double inv = pow((double)p->theta, -2.0 * (double)i / (double)rotary_dim);
    double factor = (double)p->factor;
    switch (p->scaling) {
    case MK_ROPE_SCALING_LINEAR:
        return inv / factor; /* the same as dividing the position by factor */
    case MK_ROPE_SCALING_LLAMA3: {
        double orig = (double)p->original_max_position;
        double lo = (double)p->low_freq_factor, hi = (double)p->high_freq_factor;
        double wavelen = 2.0 * mkref_pi / inv;
        double low_freq_wavelen = orig / lo, high_freq_wavelen = orig / hi;
        if (wavelen < high_freq_wavelen) return inv;
        if (wavelen > low_freq_wavelen) return inv / factor;
        double smooth = (orig / wavelen - lo) / (hi - lo);
        return (1.0 - smooth) * inv / factor + smooth * inv;
    }
    case MK_ROPE_SCALING_NONE:
    default:
        return inv;
    }
}

void mkref_rope(float *x, const int32_t *pos, int64_t T, int H, int D, const mk_rope_params *p) {
    int R = p->rotary_dim > 0 ? p->rotary_dim : D;
    int half = R / 2;
    for (int64_t t = 0; t < T; t++) {
        for (int i = 0; i < half; i++) {
            double angle = (double)pos[t] * mkref_rope_inv_freq(p, R, i);
            double c = cos(angle), s = sin(angle);
            /* element indices of pair i inside a head */
            int a = p->style == MK_ROPE_INTERLEAVED ? 2 * i : i;
            int b = p->style == MK_ROPE_INTERLEAVED ? 2 * i + 1 : i + half;
            for (int h = 0; h < H; h++) {
                float *xh = x + (t * H + h) * (int64_t)D;
                double x0 = (double)xh[a], x1 = (double)xh[b];
                xh[a] = (float)(x0 * c - x1 * s);
                xh[b] = (float)(x1 * c + x0 * s);
            }
        }
    }
}
