/* Interface of chunk_output.comp and chunk_output_cm.comp, stage 3 of the chunked delta
 * rule (host side: src/ops/delta_rule/delta_rule.c). The cooperative-matrix stage has the
 * same bindings and push constants, and specialization constants of its own (_CM_SPEC_). */
#ifndef DVK_SHADERS_OPS_DELTA_RULE_CHUNK_OUTPUT_H
#define DVK_SHADERS_OPS_DELTA_RULE_CHUNK_OUTPUT_H

#include "../../common/interface.h"

/* specialization constants of chunk_output.comp */
#define DELTA_RULE_CHUNK_OUTPUT_SPEC_C 0
#define DELTA_RULE_CHUNK_OUTPUT_SPEC_K 1
#define DELTA_RULE_CHUNK_OUTPUT_SPEC_V 2
#define DELTA_RULE_CHUNK_OUTPUT_SPEC_BV 3
#define DELTA_RULE_CHUNK_OUTPUT_SPEC_KT 4
#define DELTA_RULE_CHUNK_OUTPUT_SPEC_USE_G 5
#define DELTA_RULE_CHUNK_OUTPUT_SPEC_WG 6
#define DELTA_RULE_CHUNK_OUTPUT_SPEC_GN 7 /* columns of the invocation grid */
#define DELTA_RULE_CHUNK_OUTPUT_SPECS 8

/* specialization constants of chunk_output_cm.comp */
#define DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_C 0
#define DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_K 1
#define DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_V 2
#define DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_BV 3
#define DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_KT 4
#define DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_USE_G 5
#define DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_WG 6
#define DELTA_RULE_CHUNK_OUTPUT_CM_SPECS 7

#define DELTA_RULE_CHUNK_OUTPUT_BIND_Q 0
#define DELTA_RULE_CHUNK_OUTPUT_BIND_K 1
#define DELTA_RULE_CHUNK_OUTPUT_BIND_U 2     /* U' */
#define DELTA_RULE_CHUNK_OUTPUT_BIND_G_CUM 3 /* fp32 */
#define DELTA_RULE_CHUNK_OUTPUT_BIND_H_CHUNKS 4
#define DELTA_RULE_CHUNK_OUTPUT_BIND_O 5
#define DELTA_RULE_CHUNK_OUTPUT_BIND_TABLE 6 /* int32, 2 per chunk: first token, length */
#define DELTA_RULE_CHUNK_OUTPUT_BINDINGS 7

DVK_PUSH_BEGIN(delta_rule_chunk_output_push)
    uint32_t H;
    uint32_t HV;
    float scale;
DVK_PUSH_END(delta_rule_chunk_output_push)

#endif
