/* Interface of recurrent.comp: normalised linear attention token by token (host side:
 * src/ops/linear_attn/linear_attn.c). */
#ifndef DVK_SHADERS_OPS_LINEAR_ATTN_RECURRENT_H
#define DVK_SHADERS_OPS_LINEAR_ATTN_RECURRENT_H

#include "../../common/interface.h"

#define LINEAR_ATTN_RECURRENT_SPEC_K 0
#define LINEAR_ATTN_RECURRENT_SPEC_V 1
#define LINEAR_ATTN_RECURRENT_SPEC_BV 2
#define LINEAR_ATTN_RECURRENT_SPEC_KS 3
#define LINEAR_ATTN_RECURRENT_SPEC_TB 4
#define LINEAR_ATTN_RECURRENT_SPEC_USE_H0 5
#define LINEAR_ATTN_RECURRENT_SPEC_STORE_HT 6
#define LINEAR_ATTN_RECURRENT_SPEC_VARLEN 7
#define LINEAR_ATTN_RECURRENT_SPEC_WG 8 /* = BV * KS */
#define LINEAR_ATTN_RECURRENT_SPEC_ELU1 9
#define LINEAR_ATTN_RECURRENT_SPEC_NORMALIZE 10
#define LINEAR_ATTN_RECURRENT_SPEC_EPS_ADD 11
#define LINEAR_ATTN_RECURRENT_SPEC_USE_DONE 12
#define LINEAR_ATTN_RECURRENT_SPEC_USE_Z0 13
#define LINEAR_ATTN_RECURRENT_SPECS 14

#define LINEAR_ATTN_RECURRENT_BIND_Q 0
#define LINEAR_ATTN_RECURRENT_BIND_K 1
#define LINEAR_ATTN_RECURRENT_BIND_V 2
#define LINEAR_ATTN_RECURRENT_BIND_DONE 3
#define LINEAR_ATTN_RECURRENT_BIND_H0 4         /* fp32 */
#define LINEAR_ATTN_RECURRENT_BIND_Z0 5         /* fp32 */
#define LINEAR_ATTN_RECURRENT_BIND_HT 6         /* fp32 */
#define LINEAR_ATTN_RECURRENT_BIND_O 7
#define LINEAR_ATTN_RECURRENT_BIND_CU_SEQLENS 8 /* int32 */
#define LINEAR_ATTN_RECURRENT_BINDINGS 9

DVK_PUSH_BEGIN(linear_attn_recurrent_push)
    uint32_t T;
    uint32_t H;
    float scale;
    float eps;
    uint32_t t_begin; /* this dispatch runs tokens [t_begin, t_begin + t_count) of each sequence */
    uint32_t t_count;
DVK_PUSH_END(linear_attn_recurrent_push)

#endif
