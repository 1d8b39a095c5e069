/* Reference of dvk_conv1d (deltavk_nn_reference.h). */
#include "deltavk_nn.h"
#include "deltavk_nn_reference.h"

int dvk_ref_conv1d(const float *x, size_t B, size_t T, size_t Cin, const float *weight,
                   size_t Cout, size_t W, size_t groups, const float *bias, int padding, int act,
                   const float *initial_state, double *y, double *final_state)
{
    if (!groups)
        groups = 1;
    if (!x || !weight || !y || W == 0 || Cin % groups || Cout % groups ||
        (padding != DVK_CONV_CAUSAL && padding != DVK_CONV_SAME) ||
        (padding != DVK_CONV_CAUSAL && (initial_state || final_state)))
        return -1;
    const size_t cg = Cin / groups, og = Cout / groups;
    const long P = padding == DVK_CONV_CAUSAL ? (long)W - 1 : ((long)W - 1) / 2;
    /* input tau of (state ++ x): state slot tau + W - 1 before the sequence */
#define IN(b, tau, c)                                                                            \
    ((tau) >= (long)T ? 0.0                                                                      \
     : (tau) >= 0     ? (double)x[((b) * T + (size_t)(tau)) * Cin + (c)]                         \
     : initial_state  ? (double)initial_state[((b) * (W - 1) + (size_t)((tau) + (long)W - 1)) *  \
                                                  Cin + (c)]                                     \
                      : 0.0)
    for (size_t b = 0; b < B; ++b) {
        for (size_t t = 0; t < T; ++t) {
            for (size_t o = 0; o < Cout; ++o) {
                const size_t g = o / og;
                double acc = bias ? bias[o] : 0.0;
                for (size_t i = 0; i < cg; ++i)
                    for (size_t j = 0; j < W; ++j)
                        acc += (double)weight[(o * cg + i) * W + j] *
                               IN(b, (long)t + (long)j - P, g * cg + i);
                y[(b * T + t) * Cout + o] = dvk_ref_act(act ? act : DVK_ACT_IDENTITY, acc);
            }
        }
        for (size_t s = 0; final_state && s + 1 < W; ++s)
            for (size_t c = 0; c < Cin; ++c)
                final_state[(b * (W - 1) + s) * Cin + c] =
                    IN(b, (long)T - (long)W + 1 + (long)s, c);
    }
#undef IN
    return 0;
}
