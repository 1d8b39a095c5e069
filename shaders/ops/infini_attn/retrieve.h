/* Interface of retrieve.comp and retrieve_cpu.comp: Infini-attention's retrieval from the
 * compressive memory (host side: src/ops/infini_attn/infini_attn.c). */
#ifndef DVK_SHADERS_OPS_INFINI_ATTN_RETRIEVE_H
#define DVK_SHADERS_OPS_INFINI_ATTN_RETRIEVE_H

#include "../../common/interface.h"

#define INFINI_ATTN_RETRIEVE_SPEC_D 0
#define INFINI_ATTN_RETRIEVE_SPEC_DV 1
#define INFINI_ATTN_RETRIEVE_SPEC_BT 2
#define INFINI_ATTN_RETRIEVE_SPEC_BV 3
#define INFINI_ATTN_RETRIEVE_SPEC_KT 4
#define INFINI_ATTN_RETRIEVE_SPEC_WG 5
#define INFINI_ATTN_RETRIEVE_SPEC_GN 6
#define INFINI_ATTN_RETRIEVE_SPEC_DELTA 7
#define INFINI_ATTN_RETRIEVE_SPEC_LANES 8 /* retrieve_cpu.comp: the subgroup size = WG */
#define INFINI_ATTN_RETRIEVE_SPEC_CPL 9   /* retrieve_cpu.comp: value columns per lane */
#define INFINI_ATTN_RETRIEVE_SPECS 10

#define INFINI_ATTN_RETRIEVE_BIND_X 0     /* the rotated q (or k, with DELTA) */
#define INFINI_ATTN_RETRIEVE_BIND_MEM 1   /* fp32 [B,H,D,DV] */
#define INFINI_ATTN_RETRIEVE_BIND_MEM_Z 2 /* fp32 [B,H,D] */
#define INFINI_ATTN_RETRIEVE_BIND_GATE 3  /* fp32 [H] */
#define INFINI_ATTN_RETRIEVE_BIND_IN 4
#define INFINI_ATTN_RETRIEVE_BIND_OUT 5   /* may be IN */
#define INFINI_ATTN_RETRIEVE_BINDINGS 6

DVK_PUSH_BEGIN(infini_attn_retrieve_push)
    uint32_t T;
    uint32_t H;
    uint32_t vtiles;
    float eps;
DVK_PUSH_END(infini_attn_retrieve_push)

#endif
