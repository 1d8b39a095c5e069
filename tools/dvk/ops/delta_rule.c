/* dvk's delta_rule and gated_delta_rule (DeltaNet, Gated DeltaNet): dvk_delta_rule and
 * dvk_gated_delta_rule; outputs and cost are the delta-rule family's (common.c). */
#include "common.h"

#include "deltavk_reference.h"

static const tool_input delta_inputs[] = {
    {"q", SLOT_Q, KIND_QUERY, 0}, {"k", SLOT_K, KIND_KEY, 0},
    {"v", SLOT_V, KIND_VALUE, 0}, {"beta", SLOT_BETA, KIND_BETA, 0}, {NULL, 0, 0, 0},
};
static const tool_input gated_inputs[] = {
    {"q", SLOT_Q, KIND_QUERY, 0},       {"k", SLOT_K, KIND_KEY, 0},
    {"v", SLOT_V, KIND_VALUE, 0},       {"beta", SLOT_BETA, KIND_BETA, 0},
    {"g", SLOT_G, KIND_GATE_HEAD, 0},   {NULL, 0, 0, 0},
};

static dvk_delta_rule_desc delta_desc(const tool_inputs *in, const tool_outputs *out,
                                      const tool_opts *opts)
{
    return (dvk_delta_rule_desc){
        .q = Q(in), .k = KEY(in), .v = VAL(in), .beta = in->t[SLOT_BETA], .g = in->t[SLOT_G],
        .o = out->o, .initial_state = in->h0, .final_state = out->ht, .scale = in->scale,
        .mode = opts->mode, .cu_seqlens = in->cu_seqlens,
        .num_seqs = in->cu_seqlens ? in->num_seqs : 0, .l2norm_qk = opts->l2norm_qk,
        .chunk_size = opts->chunk_size,
    };
}

static dvk_status delta_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                               const tool_opts *opts)
{
    const dvk_delta_rule_desc d = delta_desc(in, out, opts);
    return dvk_delta_rule(cmd, &d);
}

static dvk_status gated_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                               const tool_opts *opts)
{
    const dvk_delta_rule_desc d = delta_desc(in, out, opts);
    return dvk_gated_delta_rule(cmd, &d);
}

static double delta_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    op_host h = op_host_copy(in, (size_t)dvk_tensor_dim(VAL(in), 2) * dvk_tensor_dim(VAL(in), 3));
    double ms = -1.0;
    if (h.ok) {
        const dvk_ref_delta_rule_args a = {
            .B = h.B, .T = h.T, .H = h.H, .HV = h.HV, .K = h.K, .V = h.V, .q = h.t[SLOT_Q],
            .k = h.t[SLOT_K], .v = h.t[SLOT_V], .beta = h.t[SLOT_BETA], .g = h.t[SLOT_G],
            .h0 = h.h0, .cu_seqlens = in->cu_seqlens, .num_seqs = (int)in->num_seqs,
            .l2norm_qk = opts->l2norm_qk, .scale = in->scale, .o = h.o, .ht = h.ht,
        };
        TIME_REFERENCE(ms, dvk_ref_delta_rule(&a));
    }
    op_host_free(&h);
    return ms;
}

const tool_op op_delta_rule = {
    .name = "delta_rule", .summary = "DeltaNet delta rule (q, k, v, beta)",
    .inputs = delta_inputs, .state = STATE_S, .varlen = true, .make_outputs = op_delta_outputs,
    .record = delta_record, .cost = op_delta_cost, .reference_ms = delta_reference_ms,
};

const tool_op op_gated_delta_rule = {
    .name = "gated_delta_rule", .summary = "Gated DeltaNet (q, k, v, beta, g)",
    .inputs = gated_inputs, .state = STATE_S, .varlen = true, .make_outputs = op_delta_outputs,
    .record = gated_record, .cost = op_delta_cost, .reference_ms = delta_reference_ms,
};
