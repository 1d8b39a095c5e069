/* Interface of chunk_output_key.comp, stage 3 of the chunked generalized delta rule read
 * along the key axis (DVK_READOUT_KEY; host side: src/ops/dplr/chunk.c). */
#ifndef DVK_SHADERS_OPS_DPLR_CHUNK_OUTPUT_KEY_H
#define DVK_SHADERS_OPS_DPLR_CHUNK_OUTPUT_KEY_H

#include "../../common/interface.h"

#define DPLR_CHUNK_OUTPUT_KEY_SPEC_C 0
#define DPLR_CHUNK_OUTPUT_KEY_SPEC_K 1
#define DPLR_CHUNK_OUTPUT_KEY_SPEC_V 2
#define DPLR_CHUNK_OUTPUT_KEY_SPEC_BK 3 /* output channels per workgroup */
#define DPLR_CHUNK_OUTPUT_KEY_SPEC_VT 4 /* value channels staged per slice */
#define DPLR_CHUNK_OUTPUT_KEY_SPEC_WG 5
#define DPLR_CHUNK_OUTPUT_KEY_SPEC_GN 6
#define DPLR_CHUNK_OUTPUT_KEY_SPECS 7

#define DPLR_CHUNK_OUTPUT_KEY_BIND_Q 0        /* [B,T,H,V] */
#define DPLR_CHUNK_OUTPUT_KEY_BIND_K 1
#define DPLR_CHUNK_OUTPUT_KEY_BIND_B 2
#define DPLR_CHUNK_OUTPUT_KEY_BIND_V 3
#define DPLR_CHUNK_OUTPUT_KEY_BIND_U 4        /* fp32: R */
#define DPLR_CHUNK_OUTPUT_KEY_BIND_G_CUM 5    /* fp32 */
#define DPLR_CHUNK_OUTPUT_KEY_BIND_H_CHUNKS 6 /* fp32 */
#define DPLR_CHUNK_OUTPUT_KEY_BIND_O 7        /* [B,T,H,K] */
#define DPLR_CHUNK_OUTPUT_KEY_BIND_TABLE 8    /* int32, 2 per chunk: first token, length */
#define DPLR_CHUNK_OUTPUT_KEY_BINDINGS 9

DVK_PUSH_BEGIN(dplr_chunk_output_key_push)
    uint32_t H;
    uint32_t HV;
    float scale;
DVK_PUSH_END(dplr_chunk_output_key_push)

#endif
