/* References of dvk_token_shift and dvk_token_lerp (deltavk_nn_reference.h). */
#include "deltavk_nn_reference.h"

#include <math.h>
#include <stdlib.h>

int dvk_ref_token_shift(const float *x, size_t B, size_t T, size_t C, const float *mix, size_t M,
                        const float *initial, double *y, double *delta, double *final)
{
    if (!x || (y && !mix))
        return -1;
    for (size_t b = 0; b < B; ++b) {
        for (size_t t = 0; t < T; ++t) {
            for (size_t c = 0; c < C; ++c) {
                const size_t i = (b * T + t) * C + c;
                const double prev = t > 0 ? x[i - C] : initial ? initial[b * C + c] : 0.0;
                const double d = prev - (double)x[i];
                if (delta)
                    delta[i] = d;
                for (size_t m = 0; y && m < M; ++m)
                    y[m * B * T * C + i] = x[i] + d * mix[m * C + c];
            }
        }
        for (size_t c = 0; final && c < C; ++c)
            final[b * C + c] = T         ? x[((b * T) + T - 1) * C + c]
                               : initial ? initial[b * C + c]
                                         : 0.0;
    }
    return 0;
}

int dvk_ref_token_lerp(const float *x, size_t B, size_t T, size_t C, size_t F,
                       const float *premix, const float *w1, const float *b1, const float *w2,
                       const float *b2, const float *initial, int initial_per_row, double *y,
                       double *final)
{
    if (!x || !premix || !w1 || !w2 || !y || B == 0 || T == 0 || C == 0 || F == 0)
        return -1;
    double *pm = malloc(C * sizeof *pm), *d = malloc(C * sizeof *d), *h = malloc(F * sizeof *h);
    if (!pm || !d || !h) {
        free(pm), free(d), free(h);
        return -1;
    }
    for (size_t b = 0; b < B; ++b) {
        for (size_t t = 0; t < T; ++t) {
            const float *xt = x + (b * T + t) * C;
            for (size_t c = 0; c < C; ++c) {
                const double prev = t > 0    ? x[(b * T + t - 1) * C + c]
                                    : initial ? initial[(initial_per_row ? b * C : 0) + c]
                                              : 0.0;
                d[c] = prev - xt[c];
                pm[c] = xt[c] + d[c] * premix[c];
            }
            for (size_t f = 0; f < F; ++f) { /* gelu(W1 pm + b1), the erf form */
                double s = b1 ? b1[f] : 0.0;
                for (size_t c = 0; c < C; ++c)
                    s += (double)w1[f * C + c] * pm[c];
                h[f] = 0.5 * s * (1.0 + erf(s / sqrt(2.0)));
            }
            for (size_t c = 0; c < C; ++c) { /* x + d σ(W2 h + b2) */
                double s = b2 ? b2[c] : 0.0;
                for (size_t f = 0; f < F; ++f)
                    s += (double)w2[c * F + f] * h[f];
                y[(b * T + t) * C + c] = xt[c] + d[c] / (1.0 + exp(-s));
            }
        }
        for (size_t c = 0; final && c < C; ++c)
            final[b * C + c] = x[(b * T + T - 1) * C + c];
    }
    free(pm), free(d), free(h);
    return 0;
}
