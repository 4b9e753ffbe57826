/* Reference elementwise ops, computed in double and stored to float. out may alias
   either input (each element is read before it is written). */
#include <math.h>

#include "mkref.h"

void mkref_silu_mul(const float *gate, const float *up, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) {
        double g = (double)gate[i];
        out[i] = (float)(g / (1.0 + exp(-g)) * (double)up[i]);
    }
}

void mkref_gelu_mul(const float *gate, const float *up, int64_t n, int approximate, float *out) {
    const double k_tanh = sqrt(2.0 / 3.14159265358979323846); /* sqrt(2/pi) */
    const double k_erf = 0.70710678118654752440;               /* 1/sqrt(2)  */
    for (int64_t i = 0; i < n; i++) {
        double g = (double)gate[i], act;
        if (approximate)
            act = 0.5 * g * (1.0 + tanh(k_tanh * (g + 0.044715 * g * g * g)));
        else
            act = 0.5 * g * (1.0 + erf(g * k_erf));
        out[i] = (float)(act * (double)up[i]);
    }
}

void mkref_add(const float *a, const float *b, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = (float)((double)a[i] + (double)b[i]);
}
