/* Interface of chunk_output.comp and chunk_output_cm.comp, stage 3 of the chunked KDA and
 * generalized (DPLR) delta rule read along the value axis (host side: src/ops/dplr/chunk.c).
 * The cooperative-matrix stage has the same bindings and push constants, and specialization
 * constants of its own (_CM_SPEC_). */
#ifndef DVK_SHADERS_OPS_DPLR_CHUNK_OUTPUT_H
#define DVK_SHADERS_OPS_DPLR_CHUNK_OUTPUT_H

#include "../../common/interface.h"

/* what chunk_output_cm.comp is written for: key channels per step, and its workgroup
 * (8 subgroups of 32) */
#define DPLR_CHUNK_OUTPUT_CM_KT_STEP 16
#define DPLR_CHUNK_OUTPUT_CM_WORKGROUP 256

/* specialization constants of chunk_output.comp */
#define DPLR_CHUNK_OUTPUT_SPEC_C 0
#define DPLR_CHUNK_OUTPUT_SPEC_K 1
#define DPLR_CHUNK_OUTPUT_SPEC_V 2
#define DPLR_CHUNK_OUTPUT_SPEC_BV 3
#define DPLR_CHUNK_OUTPUT_SPEC_KT 4
#define DPLR_CHUNK_OUTPUT_SPEC_DPLR 5
#define DPLR_CHUNK_OUTPUT_SPEC_WG 6
#define DPLR_CHUNK_OUTPUT_SPEC_GN 7
#define DPLR_CHUNK_OUTPUT_SPEC_RWKV7 8
#define DPLR_CHUNK_OUTPUT_SPECS 9

/* specialization constants of chunk_output_cm.comp */
#define DPLR_CHUNK_OUTPUT_CM_SPEC_C 0
#define DPLR_CHUNK_OUTPUT_CM_SPEC_K 1
#define DPLR_CHUNK_OUTPUT_CM_SPEC_V 2
#define DPLR_CHUNK_OUTPUT_CM_SPEC_BV 3
#define DPLR_CHUNK_OUTPUT_CM_SPEC_KT 4
#define DPLR_CHUNK_OUTPUT_CM_SPEC_WG 5
#define DPLR_CHUNK_OUTPUT_CM_SPEC_DPLR 6
#define DPLR_CHUNK_OUTPUT_CM_SPEC_RWKV7 7
#define DPLR_CHUNK_OUTPUT_CM_SPECS 8

#define DPLR_CHUNK_OUTPUT_BIND_Q 0
#define DPLR_CHUNK_OUTPUT_BIND_K 1
#define DPLR_CHUNK_OUTPUT_BIND_A 2        /* kappa (RWKV7) */
#define DPLR_CHUNK_OUTPUT_BIND_B 3        /* b, or alpha with RWKV7 (DPLR) */
#define DPLR_CHUNK_OUTPUT_BIND_V 4
#define DPLR_CHUNK_OUTPUT_BIND_U 5        /* fp32: U' (KDA) or R (DPLR) */
#define DPLR_CHUNK_OUTPUT_BIND_G_CUM 6    /* fp32 */
#define DPLR_CHUNK_OUTPUT_BIND_H_CHUNKS 7 /* fp32 */
#define DPLR_CHUNK_OUTPUT_BIND_O 8
#define DPLR_CHUNK_OUTPUT_BIND_TABLE 9    /* int32, 2 per chunk: first token, length */
#define DPLR_CHUNK_OUTPUT_BINDINGS 10

DVK_PUSH_BEGIN(dplr_chunk_output_push)
    uint32_t H;
    uint32_t HV;
    float scale;
DVK_PUSH_END(dplr_chunk_output_push)

#endif
