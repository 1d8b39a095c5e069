/* Memodo's layer inside deltavk_models: the loaded layer and its state (load.c, state.c) and
 * the forward pass (forward.c), on the public APIs of deltavk.h and deltavk_nn.h alone. */
#ifndef DVK_MODELS_MEMODO_H
#define DVK_MODELS_MEMODO_H

#include "models/models.h"

/* One DeltanetHead: six projections [F, C] with biases [F] (B's both divided by √F at load,
 * the package's awk_safe), O [C, F], and the learned initial state transposed into
 * dvk_dplr's key-major form. */
typedef struct memodo_head {
    uint32_t F;
    dvk_tensor *w[6], *b[6];  /* A, B, C, D, I, select: the load dtype; biases fp32 */
    dvk_tensor *w_o;          /* [C, F], the load dtype */
    dvk_tensor *init_t;       /* [F, F] fp32: initialᵀ */
    float *host_init_t;       /* the same on the host (state create and reset) */
} memodo_head;

enum { MEMODO_A, MEMODO_B, MEMODO_C, MEMODO_D, MEMODO_I, MEMODO_S, MEMODO_PROJ };

struct dvk_memodo_layer {
    dvk_context *ctx;
    dvk_memodo_info info;
    dvk_tensor *norm_w, *norm_b;            /* [C] fp32 */
    dvk_tensor *lerp_init, *premix;         /* [C] fp32 */
    float *host_lerp_init;                  /* [C] */
    dvk_tensor *lerp_w1, *lerp_w2;          /* [F_l, C], [C, F_l] */
    dvk_tensor *lerp_b1, *lerp_b2;          /* fp32 */
    dvk_tensor *bias, *gating_res;          /* [C] fp32 */
    dvk_tensor *gate_w1, *gate_w2;          /* [F_g, C], [C, F_g] */
    dvk_tensor *gate_b1, *gate_b2;          /* fp32 */
    memodo_head heads[DVK_MEMODO_MAX_HEADS];
};

struct dvk_memodo_state {
    const dvk_memodo_layer *layer;
    uint32_t batch;
    dvk_tensor *t[DVK_MEMODO_MAX_HEADS + 1]; /* [batch, C], then [batch, 1, F_j, F_j] */
};

#endif
