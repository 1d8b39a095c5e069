/* infini-transformer-pytorch 0.0.2 inside deltavk_models: the attention and the whole model
 * loaded (load.c), their memories (state.c) and the forward passes (forward.c), all on the
 * public APIs of deltavk.h (dvk_infini_attn) and deltavk_nn.h. */
#ifndef DVK_MODELS_INFINI_H
#define DVK_MODELS_INFINI_H

#include "models/models.h"

/* One CausalAttention's parameters: to_qkv's rows cut into its three thirds, so that each
 * product writes a contiguous [.., H, D] tensor. */
typedef struct infini_attn_weights {
    dvk_tensor *gamma;            /* [C] fp32 */
    dvk_tensor *gates;            /* [H] fp32 */
    dvk_tensor *w_q, *w_k, *w_v;  /* [HD, C], the load dtype */
    dvk_tensor *w_out;            /* [C, HD], the load dtype */
} infini_attn_weights;

/* One FeedForward's. */
typedef struct infini_ff_weights {
    dvk_tensor *gamma;            /* [C] fp32 */
    dvk_tensor *w_in, *b_in;      /* [2F, C] the load dtype, [2F] fp32 */
    dvk_tensor *w_out, *b_out;    /* [C, F] the load dtype, [C] fp32 */
} infini_ff_weights;

struct dvk_infini_attention {
    dvk_context *ctx;
    dvk_infini_info info;
    infini_attn_weights w;
};

struct dvk_infini_feed_forward {
    dvk_context *ctx;
    dvk_infini_info info;
    infini_ff_weights w;
};

struct dvk_infini_transformer {
    dvk_context *ctx;
    dvk_infini_info info;
    dvk_tensor *emb;              /* [V, C], the load dtype */
    infini_attn_weights *attn;    /* [depth] */
    infini_ff_weights *ff;        /* [depth] */
    dvk_tensor *gamma;            /* [C] fp32 */
    dvk_tensor *w_logits;         /* [V, C], the load dtype */
    dvk_tensor *b_logits;         /* [V] fp32 */
};

/* Memories of `batch` sequences for `layers` attentions, and the segments run. */
typedef struct infini_memories {
    dvk_context *ctx;
    const dvk_infini_info *info;
    uint32_t batch, layers;
    dvk_tensor **kv, **norm;      /* [layers]: [batch, H, D, D] and [batch, H, D] fp32 */
    uint64_t segments;
    bool indexed; /* state files name the tensors memories.<l>.kv (a model's) */
} infini_memories;

struct dvk_infini_attention_state {
    const dvk_infini_attention *layer;
    infini_memories mem;
    dvk_cmd *cmd; /* dvk_infini_attention_eval's, made on first use */
};

struct dvk_infini_transformer_session {
    const dvk_infini_transformer *model;
    infini_memories mem;
    dvk_cmd *cmd; /* dvk_infini_transformer_eval's, made on first use */
};

dvk_status dvk__infini_memories_init(infini_memories *m, dvk_context *ctx,
                                     const dvk_infini_info *info, uint32_t batch,
                                     uint32_t layers);
void dvk__infini_memories_free(infini_memories *m);
dvk_status dvk__infini_memories_reset(infini_memories *m);
/* `kind` names the file's owner in messages and metadata ("attention" or "transformer"); the
 * tensors are memories.kv / memories.norm for one layer and memories.<i>.kv / .norm else. */
dvk_status dvk__infini_memories_save(const infini_memories *m, const char *kind,
                                     const char *path);
dvk_status dvk__infini_memories_restore(infini_memories *m, const char *kind, const char *path);

/* Records one attention over x [B, n, C] into y [B, n, C] (y += with accumulate), the
 * memories (kv, norm) read when `has_memory` and written when set. */
typedef struct infini_attn_call {
    const dvk_infini_info *info;
    const infini_attn_weights *w;
    const dvk_tensor *x;
    dvk_tensor *y;
    bool accumulate;
    dvk_tensor *kv, *norm; /* NULL: no memory kept */
    bool has_memory;
} infini_attn_call;

dvk_status dvk__infini_attn_record(dvk_cmd *cmd, md_views *views, const infini_attn_call *c);

/* Records one FeedForward over x [..., C] into y (y += with accumulate). */
dvk_status dvk__infini_ff_record(dvk_cmd *cmd, const dvk_infini_info *info,
                                 const infini_ff_weights *w, const dvk_tensor *x, dvk_tensor *y,
                                 bool accumulate);

#endif
