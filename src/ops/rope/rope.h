/* The rotary embedding as dvk_rope records it, and as Infini-attention reuses it. */
#ifndef DVK_OPS_ROPE_H
#define DVK_OPS_ROPE_H

#include "core/internal.h"

typedef struct dvk__rope {
    uint32_t B, T, H, D;
    uint32_t rotary_dim; /* even, <= D */
    float theta, scale;
    uint32_t offset;
    dvk_dtype dtype;
    dvk_binding x, y;
} dvk__rope;

dvk_status dvk__record_rope(dvk_cmd *cmd, const dvk__rope *r);

#endif
