/* Interface of chunk_rho.comp: each chunk's last episode reset, for the chunked linear
 * attention's state pass (host side: src/ops/linear_attn/linear_attn.c). */
#ifndef DVK_SHADERS_OPS_LINEAR_ATTN_CHUNK_RHO_H
#define DVK_SHADERS_OPS_LINEAR_ATTN_CHUNK_RHO_H

#include "../../common/interface.h"

#define LINEAR_ATTN_CHUNK_RHO_LOCAL 64 /* invocations per workgroup: one chunk each */

#define LINEAR_ATTN_CHUNK_RHO_SPECS 0 /* no specialization constants */

#define LINEAR_ATTN_CHUNK_RHO_BIND_DONE 0
#define LINEAR_ATTN_CHUNK_RHO_BIND_TABLE 1 /* int32, 2 per chunk: first token, length */
#define LINEAR_ATTN_CHUNK_RHO_BIND_RHO 2   /* int32 per chunk */
#define LINEAR_ATTN_CHUNK_RHO_BINDINGS 3

DVK_PUSH_BEGIN(linear_attn_chunk_rho_push)
    uint32_t chunks;
DVK_PUSH_END(linear_attn_chunk_rho_push)

#endif
