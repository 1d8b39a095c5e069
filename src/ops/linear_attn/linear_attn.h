/* Linear attention's host pieces that Infini-attention reuses (src/ops/infini_attn/): the
 * validated problem, the chunked plan, and the state pass over a sequence's chunks. */
#ifndef DVK_OPS_LINEAR_ATTN_H
#define DVK_OPS_LINEAR_ATTN_H

#include "ops/common/chunk_tables.h"
#include "ops/common/problem.h"

typedef struct dvk__linear_attn {
    dvk__rec r; /* B, T, H (= HV), K, V, N, scale, mode, chunk_size, q, k, v, o, h0, ht */
    const dvk_tensor *done, *z0;
    dvk_tensor *zt;
    bool elu1, normalize, eps_add;
    float eps;
} dvk__linear_attn;

typedef struct dvk__linear_attn_plan {
    uint32_t C, WG, GN;
    uint32_t BV_state, TB; /* chunk_state.comp */
    uint32_t BV_out, KT;   /* chunk_output.comp */
    bool coopmat;          /* chunk_output_cm.comp (tensor cores), WG_out invocations */
    uint32_t WG_out;
} dvk__linear_attn_plan;

dvk_status dvk__linear_attn_make_plan(const dvk_context *ctx, const dvk__rec *r,
                                      uint32_t chunk_size, dvk__linear_attn_plan *pl);

/* Records chunk_state.comp over every sequence's chunks: the state (p->r.h0, p->z0 -> p->r.ht,
 * p->zt) updated by k and v (bindings, so callers may pass scratch), and, when hc and zc are
 * not NULL, the state at every chunk's start written to them. */
dvk_status dvk__linear_attn_record_state(dvk_cmd *cmd, const dvk__linear_attn *p,
                                         const dvk__linear_attn_plan *pl,
                                         const dvk__chunk_tables *tab, dvk_binding k,
                                         dvk_binding v, dvk_binding table, dvk_binding seq,
                                         const dvk_binding *hc, const dvk_binding *zc);

#endif
