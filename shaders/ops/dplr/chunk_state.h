/* Interface of chunk_state.comp and chunk_state_cm.comp, stage 2 of the chunked KDA and
 * generalized (DPLR) delta rule (host side: src/ops/dplr/chunk.c). Both stages use these
 * bindings and push constants (on cooperative matrices K holds K̂ and B holds B̂ from
 * chunk_prepare_cm, and A is not read); each has its own specialization constants (the
 * cooperative-matrix stage's: _CM_SPEC_). */
#ifndef DVK_SHADERS_OPS_DPLR_CHUNK_STATE_H
#define DVK_SHADERS_OPS_DPLR_CHUNK_STATE_H

#include "../../common/interface.h"

#define DPLR_CHUNK_STATE_CM_BV 16 /* the value tile chunk_state_cm.comp is written for */

/* specialization constants of chunk_state.comp */
#define DPLR_CHUNK_STATE_SPEC_C 0
#define DPLR_CHUNK_STATE_SPEC_K 1
#define DPLR_CHUNK_STATE_SPEC_V 2
#define DPLR_CHUNK_STATE_SPEC_BV 3 /* state columns per workgroup */
#define DPLR_CHUNK_STATE_SPEC_KT 4 /* rows of K staged at a time */
#define DPLR_CHUNK_STATE_SPEC_DPLR 5
#define DPLR_CHUNK_STATE_SPEC_USE_H0 6
#define DPLR_CHUNK_STATE_SPEC_STORE_HT 7
#define DPLR_CHUNK_STATE_SPEC_WG 8
#define DPLR_CHUNK_STATE_SPEC_GN 9
#define DPLR_CHUNK_STATE_SPEC_RWKV7 10
#define DPLR_CHUNK_STATE_SPECS 11

/* specialization constants of chunk_state_cm.comp */
#define DPLR_CHUNK_STATE_CM_SPEC_C 0
#define DPLR_CHUNK_STATE_CM_SPEC_K 1
#define DPLR_CHUNK_STATE_CM_SPEC_V 2
#define DPLR_CHUNK_STATE_CM_SPEC_BV 3
#define DPLR_CHUNK_STATE_CM_SPEC_USE_H0 4
#define DPLR_CHUNK_STATE_CM_SPEC_STORE_HT 5
#define DPLR_CHUNK_STATE_CM_SPEC_WG 6
#define DPLR_CHUNK_STATE_CM_SPEC_DPLR 7
#define DPLR_CHUNK_STATE_CM_SPECS 8

#define DPLR_CHUNK_STATE_BIND_K 0
#define DPLR_CHUNK_STATE_BIND_A 1        /* a, or kappa with RWKV7 (DPLR) */
#define DPLR_CHUNK_STATE_BIND_B 2        /* b, or alpha with RWKV7 (DPLR) */
#define DPLR_CHUNK_STATE_BIND_V 3
#define DPLR_CHUNK_STATE_BIND_W 4
#define DPLR_CHUNK_STATE_BIND_U 5        /* read, and rewritten in place as U' (KDA) or R (DPLR) */
#define DPLR_CHUNK_STATE_BIND_G_CUM 6    /* fp32 */
#define DPLR_CHUNK_STATE_BIND_H0 7       /* fp32 */
#define DPLR_CHUNK_STATE_BIND_HT 8       /* fp32 */
#define DPLR_CHUNK_STATE_BIND_H_CHUNKS 9 /* fp32: the state at every chunk's start */
#define DPLR_CHUNK_STATE_BIND_TABLE 10   /* int32, 2 per chunk: first token, length */
#define DPLR_CHUNK_STATE_BIND_SEQ 11     /* int32 [N + 1]: each sequence's first chunk */
#define DPLR_CHUNK_STATE_BINDINGS 12

DVK_PUSH_BEGIN(dplr_chunk_state_push)
    uint32_t H;
    uint32_t HV;
    uint32_t c_begin; /* this dispatch runs chunks [c_begin, c_begin + c_count) of each sequence */
    uint32_t c_count;
DVK_PUSH_END(dplr_chunk_state_push)

#endif
