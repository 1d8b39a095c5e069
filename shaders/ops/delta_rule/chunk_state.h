/* Interface of chunk_state.comp and chunk_state_cm.comp, stage 2 of the chunked delta rule
 * (host side: src/ops/delta_rule/delta_rule.c). The cooperative-matrix stage has the same
 * bindings and push constants, and specialization constants of its own (_CM_SPEC_). */
#ifndef DVK_SHADERS_OPS_DELTA_RULE_CHUNK_STATE_H
#define DVK_SHADERS_OPS_DELTA_RULE_CHUNK_STATE_H

#include "../../common/interface.h"

/* specialization constants of chunk_state.comp */
#define DELTA_RULE_CHUNK_STATE_SPEC_C 0
#define DELTA_RULE_CHUNK_STATE_SPEC_K 1
#define DELTA_RULE_CHUNK_STATE_SPEC_V 2
#define DELTA_RULE_CHUNK_STATE_SPEC_BV 3 /* state columns per workgroup */
#define DELTA_RULE_CHUNK_STATE_SPEC_KT 4 /* rows of K staged at a time */
#define DELTA_RULE_CHUNK_STATE_SPEC_USE_G 5
#define DELTA_RULE_CHUNK_STATE_SPEC_USE_H0 6
#define DELTA_RULE_CHUNK_STATE_SPEC_STORE_HT 7
#define DELTA_RULE_CHUNK_STATE_SPEC_WG 8
#define DELTA_RULE_CHUNK_STATE_SPEC_GN 9 /* columns of the invocation grid */
#define DELTA_RULE_CHUNK_STATE_SPECS 10

/* specialization constants of chunk_state_cm.comp */
#define DELTA_RULE_CHUNK_STATE_CM_SPEC_C 0
#define DELTA_RULE_CHUNK_STATE_CM_SPEC_K 1
#define DELTA_RULE_CHUNK_STATE_CM_SPEC_V 2
#define DELTA_RULE_CHUNK_STATE_CM_SPEC_BV 3
#define DELTA_RULE_CHUNK_STATE_CM_SPEC_USE_G 4
#define DELTA_RULE_CHUNK_STATE_CM_SPEC_USE_H0 5
#define DELTA_RULE_CHUNK_STATE_CM_SPEC_STORE_HT 6
#define DELTA_RULE_CHUNK_STATE_CM_SPEC_WG 7
#define DELTA_RULE_CHUNK_STATE_CM_SPEC_XPAD 8 /* padding of the fp16 rows: CM_PAD, or 0 */
#define DELTA_RULE_CHUNK_STATE_CM_SPECS 9

#define DELTA_RULE_CHUNK_STATE_BIND_K 0
#define DELTA_RULE_CHUNK_STATE_BIND_W 1
#define DELTA_RULE_CHUNK_STATE_BIND_U 2        /* read, and rewritten in place as U' */
#define DELTA_RULE_CHUNK_STATE_BIND_G_CUM 3    /* fp32 */
#define DELTA_RULE_CHUNK_STATE_BIND_H0 4       /* fp32 */
#define DELTA_RULE_CHUNK_STATE_BIND_HT 5       /* fp32 */
#define DELTA_RULE_CHUNK_STATE_BIND_H_CHUNKS 6 /* the state at every chunk's start */
#define DELTA_RULE_CHUNK_STATE_BIND_TABLE 7    /* int32, 2 per chunk: first token, length */
#define DELTA_RULE_CHUNK_STATE_BIND_SEQ 8      /* int32 [N + 1]: each sequence's first chunk */
#define DELTA_RULE_CHUNK_STATE_BINDINGS 9

DVK_PUSH_BEGIN(delta_rule_chunk_state_push)
    uint32_t H;
    uint32_t HV;
    uint32_t c_begin; /* this dispatch runs chunks [c_begin, c_begin + c_count) of each sequence */
    uint32_t c_count;
DVK_PUSH_END(delta_rule_chunk_state_push)

#endif
