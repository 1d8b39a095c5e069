/* Reference of the matrix multiply (deltavk_nn_reference.h). */
#include "deltavk_nn_reference.h"

int dvk_ref_linear(size_t G, size_t M, size_t N, size_t K, const float *x, const float *weight,
                   const float *bias, size_t bias_group_stride, const float *y_in, double *y)
{
    if (!x || !weight || !y || !G || !M || !N || !K)
        return -1;
    for (size_t g = 0; g < G; ++g)
        for (size_t m = 0; m < M; ++m) {
            const float *xr = x + (g * M + m) * K;
            for (size_t n = 0; n < N; ++n) {
                const float *wr = weight + (g * N + n) * K;
                double s = 0.0;
                for (size_t k = 0; k < K; ++k)
                    s += (double)xr[k] * (double)wr[k];
                if (bias)
                    s += bias[g * bias_group_stride + n];
                if (y_in)
                    s += y_in[(g * M + m) * N + n];
                y[(g * M + m) * N + n] = s;
            }
        }
    return 0;
}
