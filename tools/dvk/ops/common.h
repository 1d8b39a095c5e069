/* What the dvk tool's operators share (common.c), private to tools/dvk/ops/: the slots of q, k
 * and v, the delta-rule family's outputs and costs, host copies of the inputs for the C
 * references and the timing of those, and each operator's `tool_op` entry (defined in the
 * operator's own file, listed in common.c's table). */
#ifndef DVK_TOOL_OPS_COMMON_H
#define DVK_TOOL_OPS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../dvk_tool.h"
#include "../tensors.h"

#define Q(in) ((in)->t[SLOT_Q])
#define KEY(in) ((in)->t[SLOT_K])
#define VAL(in) ((in)->t[SLOT_V])

/* The operators, one file each (tool_print_ops lists them in this order). */
extern const tool_op op_delta_rule, op_gated_delta_rule, op_kda, op_dplr, op_rwkv7,
    op_linear_attn, op_softmax_attn, op_infini_attn, op_rope;

/* ---- outputs ---------------------------------------------------------------------------- */

/* The number of sequences: cu_seqlens' count, else the batch. */
uint32_t op_num_seqs(const tool_inputs *in);
/* o has v's shape, or [B,T,H,K] with the key read-out; the state [N,HV,K,V]. */
dvk_status op_family_outputs(dvk_context *ctx, const tool_inputs *in, bool with_state,
                             bool key_readout, tool_outputs *out);
/* make_outputs of the delta rules, KDA and RWKV-7: op_family_outputs with v's read-out. */
dvk_status op_delta_outputs(dvk_context *ctx, const tool_inputs *in, const tool_opts *opts,
                            bool with_state, tool_outputs *out);
/* make_outputs of linear_attn and infini_attn: o like v; with a state, ht [N,H,K,V] and the
 * normaliser z [N,H,K] (for infini_attn N = B and K, V are D, DV). */
dvk_status op_normaliser_outputs(dvk_context *ctx, const tool_inputs *in, const tool_opts *opts,
                                 bool with_state, tool_outputs *out);

/* ---- costs (tool_op.cost) ------------------------------------------------------------------ */

/* A tensor's bytes, 0 for none. */
double op_bytes_of(const dvk_tensor *t);
/* The recurrent form's arithmetic per token and value head, in units of K*V: the delta rule
 * 6 (S'ᵀk, k uᵀ, Sᵀq), a decay 1 more; the DPLR update 9 (aᵀS, the decay, b wᵀ, k vᵀ, the
 * read-out). (The chunked form does more arithmetic for the same result; this counts the
 * problem, so rates compare across modes.) Bytes: every input read once, outputs written once. */
void op_family_cost(const tool_inputs *in, const tool_outputs *out, double per_kv,
                    double *flops, double *bytes);
/* The delta rules and KDA: 6 per K*V, 7 with a decay (g). */
void op_delta_cost(const tool_inputs *in, const tool_outputs *out, const tool_opts *opts,
                   double *flops, double *bytes);
/* dplr and rwkv7: 9 per K*V. */
void op_dplr_cost(const tool_inputs *in, const tool_outputs *out, const tool_opts *opts,
                  double *flops, double *bytes);
/* Causal (query, key) pairs of one head of one row: T tokens in segments of `segment`. */
double op_causal_pairs(double T, double segment);

/* ---- host copies for the C references (tool_op.reference_ms) ----------------------------- */

/* A tensor's contents as floats (malloc'd), or NULL (no tensor, or the download failed). */
float *op_download_floats(const dvk_tensor *t);

/* The inputs as host floats, for the C reference. */
typedef struct op_host {
    float *t[SLOT_COUNT], *h0, *z0;
    int B, T, H, HV, K, V, N;
    double *o, *ht, *zt;
    bool ok;
} op_host;

/* Downloads the inputs and allocates the outputs (o of o_per_token values per token, ht, zt);
 * ok is false when any of it failed. */
op_host op_host_copy(const tool_inputs *in, size_t o_per_token);
void op_host_free(op_host *h);

/* Runs `call`, a C reference returning 0 on success, and sets ms to its wall time in
 * milliseconds (ms is left as it was when the call fails). */
#define TIME_REFERENCE(ms, call)                                                                  \
    do {                                                                                          \
        struct timespec t0_, t1_;                                                                 \
        clock_gettime(CLOCK_MONOTONIC, &t0_);                                                     \
        const int rc_ = (call);                                                                   \
        clock_gettime(CLOCK_MONOTONIC, &t1_);                                                     \
        if (rc_ == 0)                                                                             \
            (ms) = tool_elapsed_ms(&t0_, &t1_);                                                   \
    } while (0)

#endif
