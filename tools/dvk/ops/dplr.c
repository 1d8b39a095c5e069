/* dvk's dplr (the generalized delta rule, with the key read-out of Memodo): dvk_dplr; its cost
 * is the DPLR update's (common.c). */
#include "common.h"

#include "deltavk_reference.h"

static const tool_input dplr_inputs[] = {
    {"q", SLOT_Q, KIND_QUERY, 0},  {"k", SLOT_K, KIND_KEY, 0},
    {"v", SLOT_V, KIND_VALUE, 0},  {"a", SLOT_A, KIND_DPLR_A, 0},
    {"b", SLOT_B, KIND_DPLR_B, 0}, {"gk", SLOT_G, KIND_GATE_RWKV, 0},
    {NULL, 0, 0, 0},
};

static dvk_status dplr_outputs(dvk_context *ctx, const tool_inputs *in, const tool_opts *opts,
                               bool with_state, tool_outputs *out)
{
    return op_family_outputs(ctx, in, with_state, opts->readout == DVK_READOUT_KEY, out);
}

static dvk_status dplr_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                              const tool_opts *opts)
{
    return dvk_dplr(cmd, &(dvk_dplr_desc){
        .q = Q(in), .k = KEY(in), .v = VAL(in), .a = in->t[SLOT_A], .b = in->t[SLOT_B],
        .gk = in->t[SLOT_G], .o = out->o, .initial_state = in->h0, .final_state = out->ht,
        .scale = in->scale, .mode = opts->mode, .cu_seqlens = in->cu_seqlens,
        .num_seqs = in->cu_seqlens ? in->num_seqs : 0, .chunk_size = opts->chunk_size,
        .readout = opts->readout});
}

static double dplr_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    const bool key = opts->readout == DVK_READOUT_KEY;
    const size_t od = key ? dvk_tensor_dim(KEY(in), 3) : dvk_tensor_dim(VAL(in), 3);
    op_host h = op_host_copy(in, (size_t)dvk_tensor_dim(VAL(in), 2) * od);
    double ms = -1.0;
    if (h.ok) {
        const dvk_ref_dplr_args a = {
            .B = h.B, .T = h.T, .H = h.H, .K = h.K, .V = h.V, .q = h.t[SLOT_Q],
            .k = h.t[SLOT_K], .v = h.t[SLOT_V], .a = h.t[SLOT_A], .b = h.t[SLOT_B],
            .gk = h.t[SLOT_G], .h0 = h.h0, .cu_seqlens = in->cu_seqlens,
            .num_seqs = (int)in->num_seqs, .readout_key = key, .scale = in->scale, .o = h.o,
            .ht = h.ht,
        };
        TIME_REFERENCE(ms, dvk_ref_dplr(&a));
    }
    op_host_free(&h);
    return ms;
}

const tool_op op_dplr = {
    .name = "dplr",
    .summary = "generalized delta rule (q, k, v, a, b, gk; --readout key for Memodo)",
    .inputs = dplr_inputs, .state = STATE_S, .varlen = true, .make_outputs = dplr_outputs,
    .record = dplr_record, .cost = op_dplr_cost, .reference_ms = dplr_reference_ms,
};
