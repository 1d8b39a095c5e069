/* Interface of chunk_output.comp and chunk_output_cm.comp, stage 2 of the chunked linear
 * attention (host side: src/ops/linear_attn/linear_attn.c). The cooperative-matrix stage has
 * the same bindings and push constants, and specialization constants of its own
 * (_CM_SPEC_). */
#ifndef DVK_SHADERS_OPS_LINEAR_ATTN_CHUNK_OUTPUT_H
#define DVK_SHADERS_OPS_LINEAR_ATTN_CHUNK_OUTPUT_H

#include "../../common/interface.h"

/* specialization constants of chunk_output.comp */
#define LINEAR_ATTN_CHUNK_OUTPUT_SPEC_C 0
#define LINEAR_ATTN_CHUNK_OUTPUT_SPEC_K 1
#define LINEAR_ATTN_CHUNK_OUTPUT_SPEC_V 2
#define LINEAR_ATTN_CHUNK_OUTPUT_SPEC_BV 3
#define LINEAR_ATTN_CHUNK_OUTPUT_SPEC_KT 4
#define LINEAR_ATTN_CHUNK_OUTPUT_SPEC_WG 5
#define LINEAR_ATTN_CHUNK_OUTPUT_SPEC_GN 6
#define LINEAR_ATTN_CHUNK_OUTPUT_SPEC_ELU1 7
#define LINEAR_ATTN_CHUNK_OUTPUT_SPEC_NORMALIZE 8
#define LINEAR_ATTN_CHUNK_OUTPUT_SPEC_EPS_ADD 9
#define LINEAR_ATTN_CHUNK_OUTPUT_SPEC_USE_DONE 10
#define LINEAR_ATTN_CHUNK_OUTPUT_SPECS 11

/* specialization constants of chunk_output_cm.comp */
#define LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_C 0
#define LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_K 1
#define LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_V 2
#define LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_BV 3
#define LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_KT 4
#define LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_WG 5
#define LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_ELU1 6
#define LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_NORMALIZE 7
#define LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_EPS_ADD 8
#define LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_USE_DONE 9
#define LINEAR_ATTN_CHUNK_OUTPUT_CM_SPECS 10

#define LINEAR_ATTN_CHUNK_OUTPUT_BIND_Q 0
#define LINEAR_ATTN_CHUNK_OUTPUT_BIND_K 1
#define LINEAR_ATTN_CHUNK_OUTPUT_BIND_V 2
#define LINEAR_ATTN_CHUNK_OUTPUT_BIND_DONE 3
#define LINEAR_ATTN_CHUNK_OUTPUT_BIND_H_CHUNKS 4 /* fp32 */
#define LINEAR_ATTN_CHUNK_OUTPUT_BIND_Z_CHUNKS 5 /* fp32 */
#define LINEAR_ATTN_CHUNK_OUTPUT_BIND_O 6
#define LINEAR_ATTN_CHUNK_OUTPUT_BIND_TABLE 7    /* int32, 2 per chunk: first token, length */
#define LINEAR_ATTN_CHUNK_OUTPUT_BINDINGS 8

DVK_PUSH_BEGIN(linear_attn_chunk_output_push)
    uint32_t H;
    float scale;
    float eps;
DVK_PUSH_END(linear_attn_chunk_output_push)

#endif
