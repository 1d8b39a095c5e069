/*
 * deltavk_reference.h — plain-C references of deltavk's operators.
 *
 * The same mathematics as the GPU kernels, written as the textbook recurrence, token by token,
 * accumulating in double. They exist to check the kernels (the tests and the samples compare
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

/* RWKV-7's time mixing (see dvk_rwkv7 in deltavk.h): dvk_ref_dplr with RWKV-7's inputs,
 *     q = r,  gk = w,  a = −kappa,  b = kappa ⊙ alpha  (formed in float, as the kernels do)
 * read along the value axis. The one place the C references map RWKV-7 onto the rule. */
typedef struct dvk_ref_rwkv7_args {
    int B, T, H, K, V;
    const float *r;       /* [B,T,H,K] */
    const float *w;       /* [B,T,H,K] log decay */
    const float *k;       /* [B,T,H,K] */
    const float *v;       /* [B,T,H,V] */
    const float *kappa;   /* [B,T,H,K] RWKV-7's normalised key "kk" */
    const float *alpha;   /* [B,T,H,K] its in-context learning rate "a" */
    const float *h0;      /* [N,H,K,V] or NULL */
    const int *cu_seqlens;
    int num_seqs;
    float scale;          /* 0 = 1 (RWKV-7's) */
    double *o;            /* [B,T,H,V] out */
    double *ht;           /* [N,H,K,V] out, or NULL */
} dvk_ref_rwkv7_args;

int dvk_ref_rwkv7(const dvk_ref_rwkv7_args *args);

/* Normalised linear attention (see dvk_linear_attn in deltavk.h), with φ the feature map:
 *     S_t = S_{t−1} + φ(k_t) v_tᵀ;  z_t = z_{t−1} + φ(k_t);  q' = scale · φ(q_t)
 *     o_t = S_tᵀ q' / max(q'·z_t, eps)   (eps_add: q'·z_t + eps; normalize = 0: S_tᵀ q')
 * done[b,t] != 0 empties S and z before token t (a new episode starts at t). */
typedef struct dvk_ref_linear_attn_args {
    int B, T, H, K, V;
    const float *q;        /* [B,T,H,K] */
    const float *k;        /* [B,T,H,K] */
    const float *v;        /* [B,T,H,V] */
    const float *done;     /* [B,T] or NULL */
    const float *h0;       /* [N,H,K,V] or NULL */
    const float *z0;       /* [N,H,K] or NULL */
    const int *cu_seqlens;
    int num_seqs;
    int elu1;              /* φ(x) = elu(x) + 1; otherwise φ(x) = x */
    int normalize;
    float eps;             /* 0 = 1e-6 */
    int eps_add;
    float scale;           /* 0 = K^-0.5 */
    double *o;             /* [B,T,H,V] out */
    double *ht;            /* [N,H,K,V] out, or NULL */
    double *zt;            /* [N,H,K] out, or NULL */
} dvk_ref_linear_attn_args;

int dvk_ref_linear_attn(const dvk_ref_linear_attn_args *args);

/* Causal softmax attention inside segments of `segment` tokens (0 = the whole sequence):
 *     o_t = Σ_j softmax_j(scale · q_t·k_j) v_j over j in [start of t's segment, t]. */
typedef struct dvk_ref_softmax_attn_args {
    int B, T, H, D, DV;
    const float *q;        /* [B,T,H,D] */
    const float *k;        /* [B,T,H,D] */
    const float *v;        /* [B,T,H,DV] */
    int segment;
    float scale;           /* 0 = D^-0.5 */
    double *o;             /* [B,T,H,DV] out */
} dvk_ref_softmax_attn_args;

int dvk_ref_softmax_attn(const dvk_ref_softmax_attn_args *args);

/* Rotary embedding with interleaved pairs (see dvk_rope in deltavk.h): for token t at position
 * p = offset + t and pair i < rotary_dim/2, with f_i = fp32(theta^(−2i/rotary_dim)) and the
 * angle a = p · f_i (exact):
 *     y[2i] = x[2i] cos a − x[2i+1] sin a;  y[2i+1] = x[2i+1] cos a + x[2i] sin a
 * and y = scale · x past rotary_dim. */
typedef struct dvk_ref_rope_args {
    int B, T, H, D;
    const float *x;        /* [B,T,H,D] */
    int rotary_dim;        /* even, <= D; 0 = D (D − 1 when D is odd) */
    float theta;           /* 0 = 10000 */
    int offset;
    float scale;           /* multiplies the result; 0 = 1 */
    double *y;             /* [B,T,H,D] out */
} dvk_ref_rope_args;

int dvk_ref_rope(const dvk_ref_rope_args *args);

/* One segment of Infini-attention (see dvk_infini_attn in deltavk.h), per batch row b and head:
 *     q' = rope(scale · q), k' = rope(k)  (positions 0..T−1; no rotation when rope = 0)
 *     A  = causal softmax attention of q', k', v (scale 1 on q'·k')
 *     with a past memory (M, z):  r = φ(q')ᵀ M / max(φ(q')·z, eps);
 *                                 o = σ(gate_h) A + (1 − σ(gate_h)) r;  otherwise o = A
 *     delta_rule:  v ← v − φ(k')ᵀ M / max(φ(k')·z, eps)  (with a past memory)
 *     M ← M + Σ_t φ(k'_t) v_tᵀ;  z ← z + Σ_t φ(k'_t)       (φ = elu + 1) */
typedef struct dvk_ref_infini_attn_args {
    int B, T, H, D, DV;
    const float *q;        /* [B,T,H,D] */
    const float *k;        /* [B,T,H,D] */
    const float *v;        /* [B,T,H,DV] */
    const float *gate;     /* [H] logits */
    const float *mem0;     /* [B,H,D,DV] or NULL: no past memory */
    const float *z0;       /* [B,H,D], with mem0 */
    int delta_rule;
    int rope;
    float rope_theta;      /* 0 = 10000 */
    float scale;           /* 0 = D^-0.5 */
    float eps;             /* 0 = 1e-10 */
    double *o;             /* [B,T,H,DV] out */
    double *mem;           /* [B,H,D,DV] out, or NULL */
    double *z;             /* [B,H,D] out, or NULL */
} dvk_ref_infini_attn_args;

int dvk_ref_infini_attn(const dvk_ref_infini_attn_args *args);

/* Relative RMS error ‖got − ref‖₂ / ‖ref‖₂ over n elements (‖got − ref‖₂ when ‖ref‖₂ = 0).
 * Returns +inf if any element of `got` is NaN or infinite. */
double dvk_ref_rel_rms_error(const double *ref, const float *got, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* DELTAVK_REFERENCE_H */
