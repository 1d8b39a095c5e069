/* The DeltaNet seed (aykutcayir34/DeltaNet: DeltaNet, TransformerBlock, TransformerDeltaNet)
 * inside deltavk_models: the loaded module and its streaming state (load.c, state.c) and the
 * forward pass (forward.c), all on deltavk_nn's building blocks and dvk_delta_rule. */
#ifndef DVK_MODELS_DELTANET_H
#define DVK_MODELS_DELTANET_H

#include "models/models.h"

/* One DeltaNet attention module: its Linear, Conv1d and RMSNorm parameters as the seed names
 * them (q_linear, q_conv, ..., rms_norm.scale, output_linear). Matrices (the five Linear
 * weights and the three conv weights) in the load dtype, vectors fp32. */
typedef struct dn_attn {
    dvk_tensor *w[3], *b[3];   /* q, k, v _linear [d,d], [d] */
    dvk_tensor *cw[3], *cb[3]; /* q, k, v _conv [d,d,3], [d] */
    dvk_tensor *w_beta, *b_beta; /* beta_linear [1,d], [1] */
    dvk_tensor *norm;            /* rms_norm.scale [d] */
    dvk_tensor *w_out, *b_out;   /* output_linear [d,d], [d] */
} dn_attn;

struct dvk_deltanet {
    dvk_context *ctx;
    dvk_deltanet_info info;
    dn_attn *attn; /* info.num_layers of them */
    /* TransformerBlock: norm1.scale, norm2.scale [d]; ffn.0 [2F,d], [2F]; ffn.2 [d,F], [d]. */
    dvk_tensor *norm1, *norm2, *ffn0_w, *ffn0_b, *ffn2_w, *ffn2_b;
    /* TransformerDeltaNet: final_rms_norm.scale [d]. */
    dvk_tensor *final_norm;
    /* [d,1,2] fp32, every channel (1, 0): a depthwise causal conv with it is the one-token
     * delay line of the streamed form (exact: 1·x[t−1] + 0·x[t]). */
    dvk_tensor *shift_w;
};

/* Per DeltaNet module of a state: the conv carries of q, k, v (the last two projected inputs,
 * [B,2,d]), the previous input token ([B,1,d]) and S ([B,1,d,d]). */
typedef struct dn_attn_state {
    dvk_tensor *conv[3], *x_prev, *S;
} dn_attn_state;

struct dvk_deltanet_state {
    const dvk_deltanet *layer;
    uint32_t batch;
    uint64_t position; /* tokens fed so far (recorded calls) */
    bool flushed;
    dn_attn_state *attn;
};

#endif
