/*
 * deltavk_nn_reference.h — plain-C references of deltavk_nn's building blocks.
 *
 * The same mathematics as the kernels of deltavk_nn.h, written plainly and accumulated in
 * double, to check the kernels (the tests compare against them) and to state what each
 * function computes. No Vulkan: link deltavk_nn_reference alone to use them. Inputs are float
 * (what a kernel reads, after any fp16/bf16 rounding), outputs double; layouts and names are
 * those of deltavk_nn.h. Functions returning int give 0, or -1 for unusable arguments (NULL
 * required pointers, bad sizes) or when memory for a temporary cannot be allocated.
 */
#ifndef DELTAVK_NN_REFERENCE_H
#define DELTAVK_NN_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- activations and elementwise -------------------------------------------------------- */

/* act(x) for a dvk_act value (DVK_ACT_IDENTITY ... DVK_ACT_EXP), in double with libm's erf,
 * tanh, exp and log1p; an unknown act returns x. */
double dvk_ref_act(int act, double x);

/* y[i] = act(x[i]) for n elements. */
void dvk_ref_activation(int act, const float *x, double *y, size_t n);

/* ---- matrix multiply --------------------------------------------------------------------- */

/* dvk_linear: for each of G groups (G = 1 for an unbatched weight),
 *     y[g,m,n] = Σ_k x[g,m,k] · weight[g,n,k] + bias[g·bias_group_stride + n] + y_in[g,m,n]
 * with x [G, M, K], weight [G, N, K] (PyTorch's Linear layout per group), bias NULL (0) or
 * indexed as shown (bias_group_stride 0: one [N] bias for every group; N: a [G, N] bias),
 * y_in NULL (0) or the previous y (dvk_linear's accumulate), y [G, M, N], summed in double. */
int dvk_ref_linear(size_t G, size_t M, size_t N, size_t K, const float *x, const float *weight,
                   const float *bias, size_t bias_group_stride, const float *y_in, double *y);

#ifdef __cplusplus
}
#endif

#endif /* DELTAVK_NN_REFERENCE_H */
