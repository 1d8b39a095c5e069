/* Reference of dvk_token_shift (deltavk_nn_reference.h). */
#include "deltavk_nn_reference.h"

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
