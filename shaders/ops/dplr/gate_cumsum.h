/* Interface of gate_cumsum.comp, pass 0 of the chunked KDA and generalized (DPLR) delta rule:
 * the per-channel cumulative log decay inside each chunk (host side: src/ops/dplr/chunk.c). */
#ifndef DVK_SHADERS_OPS_DPLR_GATE_CUMSUM_H
#define DVK_SHADERS_OPS_DPLR_GATE_CUMSUM_H

#include "../../common/interface.h"

#define DPLR_GATE_CUMSUM_SPEC_K 0
#define DPLR_GATE_CUMSUM_SPEC_GATE_ACT 1
#define DPLR_GATE_CUMSUM_SPEC_USE_DT_BIAS 2
#define DPLR_GATE_CUMSUM_SPEC_WG 3
#define DPLR_GATE_CUMSUM_SPECS 4

#define DPLR_GATE_CUMSUM_BIND_G 0
#define DPLR_GATE_CUMSUM_BIND_A_LOG 1   /* fp32 (GATE_ACT) */
#define DPLR_GATE_CUMSUM_BIND_DT_BIAS 2 /* fp32 (USE_DT_BIAS) */
#define DPLR_GATE_CUMSUM_BIND_G_CUM 3   /* fp32 [B,T,HV,K] */
#define DPLR_GATE_CUMSUM_BIND_TABLE 4   /* int32, 2 per chunk: first token, length */
#define DPLR_GATE_CUMSUM_BINDINGS 5

DVK_PUSH_BEGIN(dplr_gate_cumsum_push)
    uint32_t HV;
DVK_PUSH_END(dplr_gate_cumsum_push)

#endif
