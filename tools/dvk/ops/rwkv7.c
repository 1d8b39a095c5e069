/* dvk's rwkv7 (RWKV-7 time mixing, a DPLR update whose a and b slots hold kappa and alpha):
 * dvk_rwkv7; outputs and cost are the delta-rule family's (common.c). */
#include "common.h"

#include "deltavk_reference.h"

static const tool_input rwkv7_inputs[] = {
    {"r", SLOT_Q, KIND_QUERY, 0},   {"w", SLOT_G, KIND_GATE_RWKV, 0},
    {"k", SLOT_K, KIND_KEY, 0},     {"v", SLOT_V, KIND_VALUE, 0},
    {"kk", SLOT_A, KIND_KAPPA, 0},  {"a", SLOT_B, KIND_ALPHA, 0},
    {NULL, 0, 0, 0},
};

static dvk_status rwkv7_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                               const tool_opts *opts)
{
    return dvk_rwkv7(cmd, &(dvk_rwkv7_desc){
        .r = Q(in), .w = in->t[SLOT_G], .k = KEY(in), .v = VAL(in), .kappa = in->t[SLOT_A],
        .alpha = in->t[SLOT_B], .o = out->o, .initial_state = in->h0, .final_state = out->ht,
        .scale = in->scale, .mode = opts->mode, .cu_seqlens = in->cu_seqlens,
        .num_seqs = in->cu_seqlens ? in->num_seqs : 0, .chunk_size = opts->chunk_size});
}

static double rwkv7_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    (void)opts;
    op_host h = op_host_copy(in, (size_t)dvk_tensor_dim(VAL(in), 2) * dvk_tensor_dim(VAL(in), 3));
    double ms = -1.0;
    if (h.ok) {
        const dvk_ref_rwkv7_args a = {
            .B = h.B, .T = h.T, .H = h.H, .K = h.K, .V = h.V, .r = h.t[SLOT_Q],
            .w = h.t[SLOT_G], .k = h.t[SLOT_K], .v = h.t[SLOT_V], .kappa = h.t[SLOT_A],
            .alpha = h.t[SLOT_B], .h0 = h.h0, .cu_seqlens = in->cu_seqlens,
            .num_seqs = (int)in->num_seqs, .scale = in->scale, .o = h.o, .ht = h.ht,
        };
        TIME_REFERENCE(ms, dvk_ref_rwkv7(&a));
    }
    op_host_free(&h);
    return ms;
}

const tool_op op_rwkv7 = {
    .name = "rwkv7", .summary = "RWKV-7 time mixing (r, w, k, v, kk, a: a = -kk, b = kk*a)",
    .inputs = rwkv7_inputs, .state = STATE_S, .varlen = true, .make_outputs = op_delta_outputs,
    .record = rwkv7_record, .cost = op_dplr_cost, .reference_ms = rwkv7_reference_ms,
};
