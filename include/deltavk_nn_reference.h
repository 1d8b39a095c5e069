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

/* Elementwise arithmetic over n elements; the broadcast operand (b, weight, gate) holds nb,
 * nw or ng elements and element i reads its element i mod that count (deltavk_nn.h's rule).
 * dvk_gated_residual's and dvk_glu's act must be resolved (no DVK_ACT_DEFAULT). */
void dvk_ref_add(const float *a, const float *b, size_t nb, double *y, size_t n);
void dvk_ref_mul(const float *a, const float *b, size_t nb, double *y, size_t n);
void dvk_ref_lerp(const float *a, const float *b, const float *weight, size_t nw, double *y,
                  size_t n);
void dvk_ref_gated_residual(int act, const float *residual, const float *x, const float *gate,
                            size_t ng, double *y, size_t n);
/* y [rows, n] = value ⊙ act(gate): with gate NULL, x is [rows, 2n] and value is each row's first
 * half (the second with gate_first); otherwise x and gate are [rows, n]. */
void dvk_ref_glu(int act, const float *x, const float *gate, int gate_first, double *y,
                 size_t rows, size_t n);

/* ---- normalisation (x [rows, c]; weight, bias [c] and gate [rows, c] may be NULL) --------
 * eps 0 means each function's default, as in its desc; eps_mode is a dvk_norm_eps value. */

/* LayerNorm with the biased variance (deltavk_nn.h's dvk_layer_norm). */
int dvk_ref_layer_norm(const float *x, const float *weight, const float *bias, double *y,
                       size_t rows, size_t c, float eps);
/* GroupNorm: `groups` (0 = 1, must divide c) groups of c/groups consecutive channels. */
int dvk_ref_group_norm(const float *x, const float *weight, const float *bias, double *y,
                       size_t rows, size_t c, size_t groups, float eps);
/* RMSNorm: x · f(rms) ⊙ (weight_offset + weight) ⊙ silu(gate). */
int dvk_ref_rms_norm(const float *x, const float *weight, const float *gate, double *y,
                     size_t rows, size_t c, float eps, int eps_mode, float weight_offset);
/* L2 normalisation of each row. */
int dvk_ref_l2_norm(const float *x, double *y, size_t rows, size_t c, float eps, int eps_mode);

#ifdef __cplusplus
}
#endif

#endif /* DELTAVK_NN_REFERENCE_H */
