/*
 * deltavk_reference.h — plain-C references of deltavk's operators.
 *
 * The same mathematics as the GPU kernels, written as the textbook recurrence, token by token,
 * accumulating in double. They exist to check the kernels (the tests and the demo compare
 * against them) and as a readable statement of what each operator computes. They are slow on
 * purpose: no blocking, no vectorisation, nothing clever. They do not need Vulkan: link
 * deltavk_reference alone to use them.
 *
 * Layouts are those of deltavk.h: token tensors [B,T,H,D] row-major, states [B,H,K,V] key-major.
 * Inputs are float (what the GPU reads, after any fp16 rounding); outputs are double.
 */
#ifndef DELTAVK_REFERENCE_H
#define DELTAVK_REFERENCE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Delta rule and gated delta rule (see dvk_delta_rule in deltavk.h):
 *     S' = exp(g_t) S_{t−1} (gated);  u_t = beta_t (v_t − S'ᵀ k_t);  S_t = S' + k_t u_tᵀ;
 *     o_t = S_tᵀ (scale · q_t)
 * With cu_seqlens, B must be 1 and states are [num_seqs,HV,K,V]. */
typedef struct dvk_ref_delta_rule_args {
    int B, T, H, K, V;
    int HV;               /* value heads, a multiple of H (0 = H) */
    const float *q;       /* [B,T,H,K] */
    const float *k;       /* [B,T,H,K] */
    const float *v;       /* [B,T,HV,V] */
    const float *beta;    /* [B,T,HV] */
    const float *g;       /* [B,T,HV] log decay, or NULL for the ungated rule */
    const float *h0;      /* [N,HV,K,V] or NULL for zeros */
    const int *cu_seqlens; /* [num_seqs+1] or NULL */
    int num_seqs;
    int l2norm_qk;        /* q, k <- x / sqrt(sum x^2 + 1e-6) first */
    float scale;          /* 0 = K^-0.5 */
    double *o;            /* [B,T,HV,V] out */
    double *ht;           /* [N,HV,K,V] out, or NULL */
} dvk_ref_delta_rule_args;

/* Each returns 0, or -1 if the arguments are unusable (NULL required pointer, bad sizes or
 * offsets) or memory for the working state cannot be allocated. */
int dvk_ref_delta_rule(const dvk_ref_delta_rule_args *args);

/* Kimi Delta Attention (see dvk_kda in deltavk.h), per key channel i:
 *     S' = Diag(exp(g_t)) S_{t−1};  u_t = beta_t (v_t − S'ᵀ k_t);  S_t = S' + k_t u_tᵀ;
 *     o_t = S_tᵀ (scale · q_t)
 * With gate_in_kernel, g holds the raw gate and g' = −exp(A_log[hv]) · softplus(g + dt_bias);
 * with beta_sigmoid, beta holds logits. */
typedef struct dvk_ref_kda_args {
    int B, T, H, K, V;
    int HV;               /* value heads, a multiple of H (0 = H) */
    const float *q;       /* [B,T,H,K] */
    const float *k;       /* [B,T,H,K] */
    const float *v;       /* [B,T,HV,V] */
    const float *g;       /* [B,T,HV,K] */
    const float *beta;    /* [B,T,HV] */
    int gate_in_kernel;
    const float *A_log;   /* [HV], with gate_in_kernel */
    const float *dt_bias; /* [HV*K] or NULL */
    int beta_sigmoid;
    const float *h0;      /* [N,HV,K,V] or NULL */
    const int *cu_seqlens;
    int num_seqs;
    int l2norm_qk;
    float scale;          /* 0 = K^-0.5 */
    double *o;            /* [B,T,HV,V] out */
    double *ht;           /* [N,HV,K,V] out, or NULL */
} dvk_ref_kda_args;

int dvk_ref_kda(const dvk_ref_kda_args *args);

/* Generalized delta rule (see dvk_dplr in deltavk.h):
 *     S_t = Diag(exp(gk_t)) S_{t−1} + b_t (a_tᵀ S_{t−1}) + k_t v_tᵀ
 *     o_t = S_tᵀ (scale · q_t)   or, with readout_key, o_t = S_t (scale · q_t) */
typedef struct dvk_ref_dplr_args {
    int B, T, H, K, V;
    const float *q;       /* [B,T,H,K], or [B,T,H,V] with readout_key */
    const float *k;       /* [B,T,H,K] */
    const float *v;       /* [B,T,H,V] */
    const float *a;       /* [B,T,H,K] */
    const float *b;       /* [B,T,H,K] */
    const float *gk;      /* [B,T,H,K] log decay */
    const float *h0;      /* [N,H,K,V] or NULL */
    const int *cu_seqlens;
    int num_seqs;
    int readout_key;
    float scale;          /* 0 = K^-0.5 */
    double *o;            /* [B,T,H,V], or [B,T,H,K] with readout_key */
    double *ht;           /* [N,H,K,V] out, or NULL */
} dvk_ref_dplr_args;

int dvk_ref_dplr(const dvk_ref_dplr_args *args);

/* Relative RMS error ‖got − ref‖₂ / ‖ref‖₂ over n elements (‖got − ref‖₂ when ‖ref‖₂ = 0).
 * Returns +inf if any element of `got` is NaN or infinite. */
double dvk_ref_rel_rms_error(const double *ref, const float *got, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* DELTAVK_REFERENCE_H */
