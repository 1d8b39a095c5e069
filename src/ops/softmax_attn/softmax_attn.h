/* Causal softmax attention inside segments, as dvk_softmax_attn records it and as
 * Infini-attention (src/ops/infini_attn/) reuses it on its rotated q and k. */
#ifndef DVK_OPS_SOFTMAX_ATTN_H
#define DVK_OPS_SOFTMAX_ATTN_H

#include "core/internal.h"

typedef struct dvk__softmax_attn {
    uint32_t B, T, H, D, DV;
    uint32_t segment; /* 1..T */
    float scale;
    dvk_dtype dtype;
    dvk_binding q, k, v, o;
} dvk__softmax_attn;

dvk_status dvk__record_softmax_attn(dvk_cmd *cmd, const dvk__softmax_attn *a);

#endif
