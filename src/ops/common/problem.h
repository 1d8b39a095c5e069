/* One call of a recurrent-state operator after validation — the delta rule, the gated delta
 * rule, KDA, the generalized (DPLR) rule, RWKV-7, linear attention and Infini-attention's memory
 * update all map their arguments onto it — with the checks they share (problem_check.c) and
 * the choice between the token-by-token and the chunked form (mode_choice.c). */
#ifndef DVK_OPS_COMMON_PROBLEM_H
#define DVK_OPS_COMMON_PROBLEM_H

#include "core/internal.h"

typedef enum dvk__gate {
    DVK__GATE_NONE = 0,
    DVK__GATE_HEAD = 1,    /* g [B,T,HV]: one log decay per token and head */
    DVK__GATE_CHANNEL = 2, /* g [B,T,HV,K]: one per key channel (KDA, DPLR) */
} dvk__gate;

/* The names an operator gives to the tensors of dvk__rec in its messages; NULL = the field's
 * own name (q, g, a, b). */
typedef struct dvk__rec_names {
    const char *q, *g, *a, *b;
} dvk__rec_names;

/* One call, validated. */
typedef struct dvk__rec {
    uint32_t B, T, H, HV, K, V;
    uint32_t N;       /* sequences */
    uint32_t max_len; /* longest sequence */
    dvk_dtype dtype;
    float scale;
    dvk__gate gate;
    bool dplr;         /* the generalized rule: a and b instead of beta */
    bool key_readout;  /* o = S q (DPLR only) */
    bool rwkv7;        /* the a and b tensors hold RWKV-7's kappa and alpha */
    bool gate_act;     /* KDA: g is the raw gate, with A_log and dt_bias */
    bool beta_sigmoid; /* KDA: beta holds logits */
    bool l2norm_qk;
    dvk_mode mode;
    uint32_t chunk_size;
    const int32_t *cu_seqlens;
    const dvk_tensor *q, *k, *v, *beta, *g, *a, *b, *A_log, *dt_bias;
    dvk_tensor *o;
    const dvk_tensor *h0;
    dvk_tensor *ht;
    dvk__rec_names names;
} dvk__rec;

/* ---- argument checks (problem_check.c) ------------------------------------------------------ */

/* Checks what every operator of the family shares, once the operator has checked its token
 * tensors and filled B, T, H, HV, K, V, dtype and the tensor pointers: K and V limits, fp16
 * support, cu_seqlens (sets N and max_len), the states' shapes, the scale (0 = default_scale),
 * mode and chunk_size. */
dvk_status dvk__rec_check(const dvk_context *ctx, dvk__rec *r, uint32_t num_seqs, float scale,
                          float default_scale);

/* The tensor a call takes B, T and its heads from (q, or k for DPLR): 4-D, a supported dtype,
 * its first three dimensions below 2^32. */
dvk_status dvk__rec_check_lead(const dvk_context *ctx, const char *name, const dvk_tensor *t);

/* ---- mode choice (mode_choice.c) ------------------------------------------------------------ */

/* Whether DVK_MODE_DEFAULT (or the caller's mode) picks the chunked form. KDA and DPLR ask
 * dvk__channel_use_chunk (src/ops/dplr/chunk.h), which refines it. */
bool dvk__rec_use_chunk(const dvk_context *ctx, const dvk__rec *r);

#endif
