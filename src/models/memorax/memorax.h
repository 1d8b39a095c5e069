/* memorax's LinearAttentionCell inside deltavk_models: the loaded cell and its carry (load.c,
 * state.c) and the forward pass (forward.c), on deltavk_nn's products and RMSNorm and
 * dvk_linear_attn. */
#ifndef DVK_MODELS_MEMORAX_H
#define DVK_MODELS_MEMORAX_H

#include "models/models.h"

/* The cell's parameters, laid out for dvk_linear: the Flax kernels ([in, out]) transposed
 * once at load into PyTorch's [out, in], in the load dtype; the RMSNorm scale and the Dense
 * bias fp32. */
struct dvk_linear_attention_cell {
    dvk_context *ctx;
    dvk_linear_attention_cell_info info;
    dvk_tensor *w_q, *w_k, *w_v; /* [H·D, C]: query/key/value kernels [C, H, D] */
    dvk_tensor *norm;            /* [H·D]: RMSNorm_0/scale */
    dvk_tensor *w_o, *b_o;       /* [C, H·D], [C]: Dense_0/kernel [H·D, C], Dense_0/bias */
};

struct dvk_linear_attention_cell_state {
    const dvk_linear_attention_cell *layer;
    uint32_t batch;
    dvk_tensor *S; /* [batch, H, D, D] fp32, key-major (memorax's state transposed) */
    dvk_tensor *z; /* [batch, H, D] fp32 (memorax's normalizer) */
};

#endif
