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

/* The cos/sin tables of a call (they depend on T, offset, rotary_dim and theta only), uploaded
 * into scratch memory; several rotations of the same positions may share them. */
typedef struct dvk__rope_tab {
    dvk_binding hi, lo;
    uint32_t p_hi0;
} dvk__rope_tab;

dvk_status dvk__rope_tables(dvk_cmd *cmd, const dvk__rope *r, dvk__rope_tab *tab);
dvk_status dvk__record_rope_with(dvk_cmd *cmd, const dvk__rope *r, const dvk__rope_tab *tab);
/* Both: the tables, then the rotation. */
dvk_status dvk__record_rope(dvk_cmd *cmd, const dvk__rope *r);

#endif
