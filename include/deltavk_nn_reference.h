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

/* ---- token shift ------------------------------------------------------------------------- */

/* dvk_token_shift: x [B,T,C]; mix [M,C] (NULL: no y, M ignored); initial [B,C] (NULL = zeros).
 * y [M,B,T,C], delta [B,T,C] and final [B,C] are each optional (NULL = not computed). */
int dvk_ref_token_shift(const float *x, size_t B, size_t T, size_t C, const float *mix, size_t M,
                        const float *initial, double *y, double *delta, double *final);

/* dvk_token_lerp: x [B,T,C]; premix [C]; w1 [F,C], b1 [F] (NULL = 0); w2 [C,F], b2 [C] (NULL =
 * 0); initial [C] shared by every row (initial_per_row 0) or [B,C] (1), NULL = zeros;
 * y [B,T,C] and final [B,C] (NULL = not computed). */
int dvk_ref_token_lerp(const float *x, size_t B, size_t T, size_t C, size_t F,
                       const float *premix, const float *w1, const float *b1, const float *w2,
                       const float *b2, const float *initial, int initial_per_row, double *y,
                       double *final);

/* ---- convolution over time --------------------------------------------------------------- */

/* dvk_conv1d: x [B,T,Cin], weight [Cout, Cin/groups, W], bias [Cout] (NULL = none), groups
 * (0 = 1), padding a dvk_conv_padding, act a dvk_act (0 = identity); causal only: initial_state
 * [B, W-1, Cin] (NULL = zeros) and final_state (NULL = not computed). y [B,T,Cout]. */
int dvk_ref_conv1d(const float *x, size_t B, size_t T, size_t Cin, const float *weight,
                   size_t Cout, size_t W, size_t groups, const float *bias, int padding, int act,
                   const float *initial_state, double *y, double *final_state);

/* ---- embedding ----------------------------------------------------------------------------- */

/* dvk_embedding: y [n, C] = weight[indices[i]] ([V, C]), zeros for an index outside [0, V). */
void dvk_ref_embedding(const int32_t *indices, size_t n, const float *weight, size_t V, size_t C,
                       double *y);

/* ---- softmax, argmax, sampling ---------------------------------------------------------- */

/* dvk_softmax over rows of n: y = softmax(x / temperature) (temperature 0 = 1), or its log. */
void dvk_ref_softmax(const float *x, size_t rows, size_t n, float temperature, int log_softmax,
                     double *y);

/* dvk_argmax: y[r] = the first index of the maximum of row r, NaN above every number. */
void dvk_ref_argmax(const float *x, size_t rows, size_t n, int32_t *y);

/* dvk_sample for one row of n logits with the uniform number u in [0, 1): p = softmax(z / T)
 * (temperature 0 = 1); top_k (0 or >= n = all) keeps p >= the k-th largest p; top_p (0 or >= 1
 * = all) then keeps p >= the largest v whose mass {p >= v} reaches top_p of the kept mass; the
 * token is the first index whose running kept mass exceeds u times the kept mass (the last
 * kept index if rounding leaves none). Writes, where not NULL, p [n], the probability cut-off
 * (kept: p >= *cutoff) and the token. */
int dvk_ref_sample_row(const float *logits, size_t n, float temperature, uint32_t top_k,
                       float top_p, double u, double *p, double *cutoff, int32_t *token);

/* dvk_sample over rows of n: row r draws with u = the uniform number of (seed, r), the same as
 * dvk_sample_uniform (the hash of shaders/nn/sampling/sampling.h). */
int dvk_ref_sample(const float *logits, size_t rows, size_t n, float temperature, uint32_t top_k,
                   float top_p, uint64_t seed, int32_t *tokens);

/* dvk_sample_uniform without Vulkan. */
float dvk_ref_sample_uniform(uint64_t seed, uint32_t row);

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
