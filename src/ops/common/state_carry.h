/* The recurrent state carried between the dispatches of a sequential pass (state_carry.c):
 * the token-by-token kernels and the chunked forms' state passes run a long sequence as
 * several short dispatches, the state going through memory between them. */
#ifndef DVK_OPS_COMMON_STATE_CARRY_H
#define DVK_OPS_COMMON_STATE_CARRY_H

#include "ops/common/problem.h"

/* Each dispatch of a sequential pass runs at most this many tokens (recurrent kernel) or chunks
 * (chunked state passes) of every sequence; a longer sequence takes several dispatches, the
 * state going through memory between them. Short dispatches stay clear of drivers' watchdogs
 * (a GPU reset on Windows after 2 s), and lavapipe (Mesa 22.3.6) computes wrong results in
 * workgroups that loop far longer than this: seen from about 2 900 tokens and 560 chunks in one
 * workgroup, while the H100's driver computes the same dispatches correctly. Each extra
 * dispatch costs one read and one write of the state. */
#define DVK__TOKENS_PER_DISPATCH 1024u
#define DVK__CHUNKS_PER_DISPATCH 64u

typedef struct dvk__carry {
    uint32_t segments;
    dvk_binding h0, ht, carry; /* carry: between segments (final_state, or scratch) */
    bool has_h0, has_ht;
} dvk__carry;

/* `segments` dispatches (0 counts as 1) carrying r's state, [N, HV, K, V] fp32: from
 * r->h0 (if any) to r->ht (if any), through r->ht or scratch memory in between. */
dvk_status dvk__carry_init(dvk_cmd *cmd, const dvk__rec *r, uint32_t segments, dvk__carry *c);
/* The state bindings of segment i: where it reads the state from and writes it to. */
void dvk__carry_segment(const dvk__carry *c, uint32_t i, dvk_binding *in, bool *use_in,
                        dvk_binding *out, bool *store_out);

#endif
