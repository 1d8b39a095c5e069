/* Qwen3-Next's Gated DeltaNet layer inside deltavk_models: the loaded layer and its state
 * (load.c, state.c), the forward pass (forward.c) and the one kernel of this level it needs
 * (kernels.c, shaders/models/qwen3next/). */
#ifndef DVK_MODELS_QWEN3NEXT_H
#define DVK_MODELS_QWEN3NEXT_H

#include "models/models.h"

/* The parameters in the forward pass's layouts: in_proj_qkvz's rows regrouped into w_qkv
 * [conv_dim, D] (q of every key head, then k, then v: the conv's channel order) and w_z
 * [HV·V, D]; in_proj_ba's into w_ba [2HV, D] (b of every value head, then a). */
struct dvk_qwen3_next_gdn {
    dvk_context *ctx;
    dvk_qwen3_next_gdn_info info;
    dvk_tensor *w_qkv, *w_z, *w_ba; /* the load dtype */
    dvk_tensor *conv_w;             /* [conv_dim, 1, W] fp32 */
    dvk_tensor *neg_a;              /* [HV] fp32: −exp(A_log) */
    dvk_tensor *dt_bias;            /* [HV] fp32 */
    dvk_tensor *norm_w;             /* [V] fp32 */
    dvk_tensor *w_out;              /* [D, HV·V], the load dtype */
};

struct dvk_qwen3_next_gdn_state {
    const dvk_qwen3_next_gdn *layer;
    uint32_t batch;
    dvk_tensor *conv;      /* [batch, W−1, conv_dim] */
    dvk_tensor *recurrent; /* [batch, HV, K, V] */
};

/* Between the conv and the rule, one dispatch: c [rows, conv_dim] split into q, k [rows, HK]
 * and v [rows, HV·V]; ba [rows, 2HV] into beta = σ(b) and g = neg_a·softplus(a + dt_bias)
 * [rows, HV]. Every tensor fp32. */
typedef struct qwen3next_prepare_args {
    const dvk_tensor *c, *ba, *neg_a, *dt_bias;
    dvk_tensor *q, *k, *v, *beta, *g;
    uint32_t rows, key_dim, conv_dim, hv;
} qwen3next_prepare_args;

dvk_status dvk__qwen3next_prepare(dvk_cmd *cmd, const qwen3next_prepare_args *args);

#endif
