/* Interface of chunk_prepare.comp and chunk_prepare_cm.comp, stage 1 of the chunked delta
 * rule (host side: src/ops/delta_rule/delta_rule.c). The cooperative-matrix stage has the
 * same bindings and push constants, and specialization constants of its own (_CM_SPEC_). */
#ifndef DVK_SHADERS_OPS_DELTA_RULE_CHUNK_PREPARE_H
#define DVK_SHADERS_OPS_DELTA_RULE_CHUNK_PREPARE_H

#include "../../common/interface.h"

/* specialization constants of chunk_prepare.comp */
#define DELTA_RULE_CHUNK_PREPARE_SPEC_C 0  /* chunk size */
#define DELTA_RULE_CHUNK_PREPARE_SPEC_K 1
#define DELTA_RULE_CHUNK_PREPARE_SPEC_V 2
#define DELTA_RULE_CHUNK_PREPARE_SPEC_KT 3 /* columns of K or V staged at a time */
#define DELTA_RULE_CHUNK_PREPARE_SPEC_USE_G 4
#define DELTA_RULE_CHUNK_PREPARE_SPEC_WG 5
#define DELTA_RULE_CHUNK_PREPARE_SPEC_GN 6 /* columns of the invocation grid */
#define DELTA_RULE_CHUNK_PREPARE_SPECS 7

/* specialization constants of chunk_prepare_cm.comp */
#define DELTA_RULE_CHUNK_PREPARE_CM_SPEC_C 0
#define DELTA_RULE_CHUNK_PREPARE_CM_SPEC_K 1
#define DELTA_RULE_CHUNK_PREPARE_CM_SPEC_V 2
#define DELTA_RULE_CHUNK_PREPARE_CM_SPEC_KT 3
#define DELTA_RULE_CHUNK_PREPARE_CM_SPEC_USE_G 4
#define DELTA_RULE_CHUNK_PREPARE_CM_SPEC_WG 5
#define DELTA_RULE_CHUNK_PREPARE_CM_SPECS 6

#define DELTA_RULE_CHUNK_PREPARE_BIND_K 0
#define DELTA_RULE_CHUNK_PREPARE_BIND_V 1
#define DELTA_RULE_CHUNK_PREPARE_BIND_BETA 2
#define DELTA_RULE_CHUNK_PREPARE_BIND_G 3
#define DELTA_RULE_CHUNK_PREPARE_BIND_W 4
#define DELTA_RULE_CHUNK_PREPARE_BIND_U 5
#define DELTA_RULE_CHUNK_PREPARE_BIND_G_CUM 6 /* fp32 [B,T,HV] */
#define DELTA_RULE_CHUNK_PREPARE_BIND_TABLE 7 /* int32, 2 per chunk: first token, length */
#define DELTA_RULE_CHUNK_PREPARE_BINDINGS 8

DVK_PUSH_BEGIN(delta_rule_chunk_prepare_push)
    uint32_t H;
    uint32_t HV;
DVK_PUSH_END(delta_rule_chunk_prepare_push)

#endif
