/* Interface of chunk_prepare.comp and chunk_prepare_cm.comp, stage 1 of the chunked KDA and
 * generalized (DPLR) delta rule (host side: src/ops/dplr/chunk.c). Both stages use these
 * bindings (KH and BH only on cooperative matrices) and push constants; each has its own
 * specialization constants (the cooperative-matrix stage's: _CM_SPEC_). */
#ifndef DVK_SHADERS_OPS_DPLR_CHUNK_PREPARE_H
#define DVK_SHADERS_OPS_DPLR_CHUNK_PREPARE_H

#include "../../common/interface.h"

/* what chunk_prepare_cm.comp is written for: key channels per Gram step, and its
 * workgroup (8 subgroups of 32) */
#define DPLR_CHUNK_PREPARE_CM_KT_STEP 16
#define DPLR_CHUNK_PREPARE_CM_WORKGROUP 256

/* specialization constants of chunk_prepare.comp */
#define DPLR_CHUNK_PREPARE_SPEC_C 0
#define DPLR_CHUNK_PREPARE_SPEC_K 1
#define DPLR_CHUNK_PREPARE_SPEC_V 2
#define DPLR_CHUNK_PREPARE_SPEC_KT 3 /* key channels staged per slice */
#define DPLR_CHUNK_PREPARE_SPEC_DPLR 4
#define DPLR_CHUNK_PREPARE_SPEC_WG 5
#define DPLR_CHUNK_PREPARE_SPEC_GN 6 /* columns of the invocation grid */
#define DPLR_CHUNK_PREPARE_SPEC_BETA_SIGMOID 7
#define DPLR_CHUNK_PREPARE_SPEC_RWKV7 8
#define DPLR_CHUNK_PREPARE_SPECS 9

/* specialization constants of chunk_prepare_cm.comp */
#define DPLR_CHUNK_PREPARE_CM_SPEC_C 0
#define DPLR_CHUNK_PREPARE_CM_SPEC_K 1
#define DPLR_CHUNK_PREPARE_CM_SPEC_V 2
#define DPLR_CHUNK_PREPARE_CM_SPEC_KT 3
#define DPLR_CHUNK_PREPARE_CM_SPEC_WG 4
#define DPLR_CHUNK_PREPARE_CM_SPEC_BETA_SIGMOID 5
#define DPLR_CHUNK_PREPARE_CM_SPEC_DPLR 6
#define DPLR_CHUNK_PREPARE_CM_SPEC_RWKV7 7
#define DPLR_CHUNK_PREPARE_CM_SPECS 8

#define DPLR_CHUNK_PREPARE_BIND_K 0
#define DPLR_CHUNK_PREPARE_BIND_V 1
#define DPLR_CHUNK_PREPARE_BIND_BETA 2  /* beta (KDA); a, or kappa with RWKV7 (DPLR) */
#define DPLR_CHUNK_PREPARE_BIND_B 3     /* b, or alpha with RWKV7 (DPLR) */
#define DPLR_CHUNK_PREPARE_BIND_G_CUM 4 /* fp32 */
#define DPLR_CHUNK_PREPARE_BIND_W 5     /* fp32 (fp16 on cooperative matrices) */
#define DPLR_CHUNK_PREPARE_BIND_U 6     /* fp32 */
#define DPLR_CHUNK_PREPARE_BIND_TABLE 7 /* int32, 2 per chunk: first token, length */
/* chunk_prepare_cm.comp only: exp(G_C - G) ⊙ K and (DPLR) ⊙ B in fp16, for chunk_state_cm */
#define DPLR_CHUNK_PREPARE_BIND_KH 8
#define DPLR_CHUNK_PREPARE_BIND_BH 9
#define DPLR_CHUNK_PREPARE_BINDINGS 8     /* of chunk_prepare.comp */
#define DPLR_CHUNK_PREPARE_CM_BINDINGS 10 /* of chunk_prepare_cm.comp */

DVK_PUSH_BEGIN(dplr_chunk_prepare_push)
    uint32_t H;
    uint32_t HV;
DVK_PUSH_END(dplr_chunk_prepare_push)

#endif
