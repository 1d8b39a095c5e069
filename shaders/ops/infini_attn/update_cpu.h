/* Interface of update_cpu.comp: Infini-attention's memory update on CPU devices (host side:
 * src/ops/infini_attn/infini_attn.c; elsewhere linear attention's chunk_state.comp runs it). */
#ifndef DVK_SHADERS_OPS_INFINI_ATTN_UPDATE_CPU_H
#define DVK_SHADERS_OPS_INFINI_ATTN_UPDATE_CPU_H

#include "../../common/interface.h"

#define INFINI_ATTN_UPDATE_CPU_SPEC_D 0
#define INFINI_ATTN_UPDATE_CPU_SPEC_DV 1
#define INFINI_ATTN_UPDATE_CPU_SPEC_LANES 2   /* the subgroup size = the workgroup */
#define INFINI_ATTN_UPDATE_CPU_SPEC_CPL 3     /* value columns per lane: 1, 2 or 4 */
#define INFINI_ATTN_UPDATE_CPU_SPEC_USE_MEM 4 /* add to a past memory (else from zeros) */
#define INFINI_ATTN_UPDATE_CPU_SPECS 5

#define INFINI_ATTN_UPDATE_CPU_BIND_K 0       /* the rotated k */
#define INFINI_ATTN_UPDATE_CPU_BIND_V 1       /* v, or the delta rule's v - r(k') */
#define INFINI_ATTN_UPDATE_CPU_BIND_MEM 2     /* fp32 [B,H,D,DV] */
#define INFINI_ATTN_UPDATE_CPU_BIND_MEM_Z 3   /* fp32 [B,H,D] */
#define INFINI_ATTN_UPDATE_CPU_BIND_OUT 4     /* fp32 [B,H,D,DV]; may be MEM */
#define INFINI_ATTN_UPDATE_CPU_BIND_OUT_Z 5   /* fp32 [B,H,D]; may be MEM_Z */
#define INFINI_ATTN_UPDATE_CPU_BINDINGS 6

DVK_PUSH_BEGIN(infini_attn_update_cpu_push)
    uint32_t T;
    uint32_t H;
DVK_PUSH_END(infini_attn_update_cpu_push)

#endif
