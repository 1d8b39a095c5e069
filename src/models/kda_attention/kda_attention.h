/* The KDA seed's layer (mohsinm-dev/kda-attention's KDAAttention) inside deltavk_models: the
 * loaded layer and its state (load.c, state.c) and the forward pass (forward.c), on deltavk_nn's
 * products and activations and dvk_kda. */
#ifndef DVK_MODELS_KDA_ATTENTION_H
#define DVK_MODELS_KDA_ATTENTION_H

#include "models/models.h"

/* The package's parameters as they are: matrices in the load dtype, biases fp32. w_o and b_o
 * are NULL for a layer made with out_proj=False. */
struct dvk_kda_attention {
    dvk_context *ctx;
    dvk_kda_attention_info info;
    dvk_tensor *w_q, *b_q, *w_k, *b_k, *w_v, *b_v; /* [H·dh, D], [H·dh] */
    dvk_tensor *w_alpha, *b_alpha;                 /* [H·dh, D], [H·dh] */
    dvk_tensor *w_beta, *b_beta;                   /* [H, D], [H] */
    dvk_tensor *w_o, *b_o;                         /* [D, H·dh], [D] */
};

struct dvk_kda_attention_state {
    const dvk_kda_attention *layer;
    uint32_t batch;
    dvk_tensor *S; /* [batch, H, dh, dh] fp32 */
};

#endif
