/* Interface of softmax_attn.comp: causal softmax attention inside segments (host side:
 * src/ops/softmax_attn/softmax_attn.c). */
#ifndef DVK_SHADERS_OPS_SOFTMAX_ATTN_SOFTMAX_ATTN_H
#define DVK_SHADERS_OPS_SOFTMAX_ATTN_SOFTMAX_ATTN_H

#include "../../common/interface.h"

#define SOFTMAX_ATTN_SPEC_D 0
#define SOFTMAX_ATTN_SPEC_DV 1
#define SOFTMAX_ATTN_SPEC_BQ 2
#define SOFTMAX_ATTN_SPEC_BK 3
#define SOFTMAX_ATTN_SPEC_WG 4
#define SOFTMAX_ATTN_SPEC_GN 5
#define SOFTMAX_ATTN_SPEC_DS 6
#define SOFTMAX_ATTN_SPECS 7

#define SOFTMAX_ATTN_BIND_Q 0
#define SOFTMAX_ATTN_BIND_K 1
#define SOFTMAX_ATTN_BIND_V 2
#define SOFTMAX_ATTN_BIND_O 3
#define SOFTMAX_ATTN_BINDINGS 4

DVK_PUSH_BEGIN(softmax_attn_push)
    uint32_t T;
    uint32_t H;
    uint32_t segment; /* >= 1 */
    float scale;
DVK_PUSH_END(softmax_attn_push)

#endif
