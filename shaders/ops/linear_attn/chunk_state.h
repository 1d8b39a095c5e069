/* Interface of chunk_state.comp, stage 1 of the chunked linear attention: the state through
 * each sequence's chunks (host side: src/ops/linear_attn/linear_attn.c; Infini-attention's
 * memory update runs it too). */
#ifndef DVK_SHADERS_OPS_LINEAR_ATTN_CHUNK_STATE_H
#define DVK_SHADERS_OPS_LINEAR_ATTN_CHUNK_STATE_H

#include "../../common/interface.h"

#define LINEAR_ATTN_CHUNK_STATE_SPEC_C 0
#define LINEAR_ATTN_CHUNK_STATE_SPEC_K 1
#define LINEAR_ATTN_CHUNK_STATE_SPEC_V 2
#define LINEAR_ATTN_CHUNK_STATE_SPEC_BV 3
#define LINEAR_ATTN_CHUNK_STATE_SPEC_TB 4
#define LINEAR_ATTN_CHUNK_STATE_SPEC_WG 5
#define LINEAR_ATTN_CHUNK_STATE_SPEC_GN 6
#define LINEAR_ATTN_CHUNK_STATE_SPEC_ELU1 7
#define LINEAR_ATTN_CHUNK_STATE_SPEC_USE_DONE 8
#define LINEAR_ATTN_CHUNK_STATE_SPEC_USE_H0 9
#define LINEAR_ATTN_CHUNK_STATE_SPEC_USE_Z0 10
#define LINEAR_ATTN_CHUNK_STATE_SPEC_STORE_HT 11
#define LINEAR_ATTN_CHUNK_STATE_SPEC_STORE_ZT 12
#define LINEAR_ATTN_CHUNK_STATE_SPEC_STORE_CHUNKS 13
#define LINEAR_ATTN_CHUNK_STATE_SPECS 14

#define LINEAR_ATTN_CHUNK_STATE_BIND_K 0
#define LINEAR_ATTN_CHUNK_STATE_BIND_V 1
#define LINEAR_ATTN_CHUNK_STATE_BIND_RHO 2      /* int32 per chunk (USE_DONE) */
#define LINEAR_ATTN_CHUNK_STATE_BIND_H0 3       /* fp32 */
#define LINEAR_ATTN_CHUNK_STATE_BIND_Z0 4       /* fp32 */
#define LINEAR_ATTN_CHUNK_STATE_BIND_HT 5       /* fp32 */
#define LINEAR_ATTN_CHUNK_STATE_BIND_ZT 6       /* fp32 */
#define LINEAR_ATTN_CHUNK_STATE_BIND_H_CHUNKS 7 /* fp32: the state at every chunk's start */
#define LINEAR_ATTN_CHUNK_STATE_BIND_Z_CHUNKS 8 /* fp32: the normaliser at every chunk's start */
#define LINEAR_ATTN_CHUNK_STATE_BIND_TABLE 9    /* int32, 2 per chunk: first token, length */
#define LINEAR_ATTN_CHUNK_STATE_BIND_SEQ 10     /* int32 [N + 1]: each sequence's first chunk */
#define LINEAR_ATTN_CHUNK_STATE_BINDINGS 11

DVK_PUSH_BEGIN(linear_attn_chunk_state_push)
    uint32_t H;
    uint32_t c_begin; /* this dispatch runs chunks [c_begin, c_begin + c_count) of each sequence */
    uint32_t c_count;
DVK_PUSH_END(linear_attn_chunk_state_push)

#endif
