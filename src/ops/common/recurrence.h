/* What the operators of the delta-rule family share on the host (delta rule, gated delta rule,
 * KDA, the generalized DPLR rule and RWKV-7): one description of the problem after validation,
 * its common checks, and the kernels that serve them all — token by token (recurrent.comp),
 * the decode step (decode.comp) — plus the pieces of the chunked forms that do not depend on
 * the rule (chunk tables, L2 normalisation, the state carried between dispatches). */
#ifndef DVK_OPS_RECURRENCE_H
#define DVK_OPS_RECURRENCE_H

#include "core/internal.h"

typedef enum dvk__gate {
    DVK__GATE_NONE = 0,
    DVK__GATE_HEAD = 1,    /* g [B,T,HV]: one log decay per token and head */
    DVK__GATE_CHANNEL = 2, /* g [B,T,HV,K]: one per key channel (KDA, DPLR) */
} dvk__gate;

/* One call of a delta-rule-family operator, validated. */
typedef struct dvk__rec {
    uint32_t B, T, H, HV, K, V;
    uint32_t N;       /* sequences */
    uint32_t max_len; /* longest sequence */
    dvk_dtype dtype;
    float scale;
    dvk__gate gate;
    bool dplr;         /* the generalized rule: a and b instead of beta */
    bool key_readout;  /* o = S q (DPLR only) */
    bool rwkv7;        /* the a and b tensors hold RWKV-7's kappa and alpha */
    bool gate_act;     /* KDA: g is the raw gate, with A_log and dt_bias */
    bool beta_sigmoid; /* KDA: beta holds logits */
    bool l2norm_qk;
    dvk_mode mode;
    uint32_t chunk_size;
    const int32_t *cu_seqlens;
    const dvk_tensor *q, *k, *v, *beta, *g, *a, *b, *A_log, *dt_bias;
    dvk_tensor *o;
    const dvk_tensor *h0;
    dvk_tensor *ht;
} dvk__rec;

/* Checks what every operator of the family shares, once the operator has checked its token
 * tensors and filled B, T, H, HV, K, V, dtype and the tensor pointers: K and V limits, fp16
 * support, cu_seqlens (sets N and max_len), the states' shapes, the scale (0 = default_scale),
 * mode and chunk_size. */
dvk_status dvk__rec_check(const dvk_context *ctx, dvk__rec *r, uint32_t num_seqs, float scale,
                          float default_scale);

/* The tensor a call takes B, T and its heads from (q, or k for DPLR): 4-D, a supported dtype,
 * its first three dimensions below 2^32. */
dvk_status dvk__rec_check_lead(const dvk_context *ctx, const char *name, const dvk_tensor *t);

/* Whether DVK_MODE_DEFAULT (or the caller's mode) picks the chunked form. KDA and DPLR ask
 * dvk__channel_use_chunk (src/ops/dplr/chunk.h), which refines it. */
bool dvk__rec_use_chunk(const dvk_context *ctx, const dvk__rec *r);

/* Records the token-by-token form: the decode kernel when every sequence is one token and the
 * variant allows it, the recurrent kernel otherwise. */
dvk_status dvk__record_recurrent(dvk_cmd *cmd, const dvk__rec *r);

/* ---- pieces of the chunked forms ------------------------------------------------------------- */

/* The largest workgroup a kernel may plan for: `cap`, the device's limits, and the profile's. */
uint32_t dvk__workgroup_limit(const dvk_device_info *info, uint32_t cap);

/* The largest count of subgroups (most, most/2, ..., 1) dividing both block counts: how many
 * subgroups of 32 share a cooperative-matrix kernel's tiles evenly. */
uint32_t dvk__subgroups_for(uint32_t blocks_a, uint32_t blocks_b, uint32_t most);
/* Whether the fp16 cooperative-matrix kernels can run this problem on this device: fp16
 * tensors, K and V multiples of 16, VK_NV_cooperative_matrix with fp16 x fp16 + fp32 16x16x16
 * blocks, fp16 arithmetic, the Vulkan memory model, subgroups of exactly 32 and workgroups of
 * 256. Each kernel family checks its own shared memory and SPIR-V on top. */
bool dvk__coopmat_f16_usable(const dvk_context *ctx, const dvk__rec *r);

static inline dvk_binding dvk__as_input(dvk_binding b)
{
    b.write = false;
    return b;
}

/* Normalises the K-long rows of t into fresh scratch memory (the l2norm_qk option). */
dvk_status dvk__record_l2norm(dvk_cmd *cmd, const dvk__rec *r, const dvk_tensor *t,
                              dvk_binding *out);

/* The chunks of every sequence, in order; none crosses a sequence boundary. */
typedef struct dvk__chunk_tables {
    int32_t *chunks; /* 2 per chunk: first packed token, length */
    int32_t *seq;    /* N + 1 offsets into the chunks */
    uint32_t count;
    uint32_t max_chunks; /* of one sequence */
} dvk__chunk_tables;

dvk_status dvk__chunk_tables_build(const dvk_context *ctx, const dvk__rec *r, uint32_t C,
                                   dvk__chunk_tables *t);
void dvk__chunk_tables_free(const dvk_context *ctx, dvk__chunk_tables *t);
/* Uploads both tables into scratch memory. */
dvk_status dvk__chunk_tables_upload(dvk_cmd *cmd, const dvk__rec *r, const dvk__chunk_tables *t,
                                    dvk_binding *chunks, dvk_binding *seq);

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

dvk_status dvk__carry_init(dvk_cmd *cmd, const dvk__rec *r, uint32_t segments, dvk__carry *c);
/* The state bindings of segment i: where it reads the state from and writes it to. */
void dvk__carry_segment(const dvk__carry *c, uint32_t i, dvk_binding *in, bool *use_in,
                        dvk_binding *out, bool *store_out);

#endif
