/* Interface of normalizer.comp: linear attention's normaliser z after the recurrent kernel
 * (host side: src/ops/linear_attn/linear_attn.c). */
#ifndef DVK_SHADERS_OPS_LINEAR_ATTN_NORMALIZER_H
#define DVK_SHADERS_OPS_LINEAR_ATTN_NORMALIZER_H

#include "../../common/interface.h"

#define LINEAR_ATTN_NORMALIZER_SPEC_K 0
#define LINEAR_ATTN_NORMALIZER_SPEC_VARLEN 1
#define LINEAR_ATTN_NORMALIZER_SPEC_WG 2
#define LINEAR_ATTN_NORMALIZER_SPEC_ELU1 3
#define LINEAR_ATTN_NORMALIZER_SPEC_USE_DONE 4
#define LINEAR_ATTN_NORMALIZER_SPEC_USE_Z0 5
#define LINEAR_ATTN_NORMALIZER_SPECS 6

#define LINEAR_ATTN_NORMALIZER_BIND_K 0
#define LINEAR_ATTN_NORMALIZER_BIND_DONE 1
#define LINEAR_ATTN_NORMALIZER_BIND_Z0 2         /* fp32 */
#define LINEAR_ATTN_NORMALIZER_BIND_ZT 3         /* fp32 */
#define LINEAR_ATTN_NORMALIZER_BIND_CU_SEQLENS 4 /* int32 */
#define LINEAR_ATTN_NORMALIZER_BINDINGS 5

DVK_PUSH_BEGIN(linear_attn_normalizer_push)
    uint32_t T;
    uint32_t H;
    uint32_t t_begin;
    uint32_t t_count;
DVK_PUSH_END(linear_attn_normalizer_push)

#endif
