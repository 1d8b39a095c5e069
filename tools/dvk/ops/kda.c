/* dvk's kda (Kimi Delta Attention): dvk_kda; outputs and cost are the delta-rule family's
 * (common.c). */
#include "common.h"

#include "deltavk_reference.h"

static const tool_input kda_inputs[] = {
    {"q", SLOT_Q, KIND_QUERY, 0},       {"k", SLOT_K, KIND_KEY, 0},
    {"v", SLOT_V, KIND_VALUE, 0},       {"g", SLOT_G, KIND_GATE_CH, 0},
    {"beta", SLOT_BETA, KIND_BETA, 0},  {"A_log", SLOT_A_LOG, KIND_A_LOG, IN_GATE_IN_KERNEL},
    {"dt_bias", SLOT_DT_BIAS, KIND_DT_BIAS, IN_GATE_IN_KERNEL | IN_OPTIONAL},
    {NULL, 0, 0, 0},
};

static dvk_status kda_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                             const tool_opts *opts)
{
    return dvk_kda(cmd, &(dvk_kda_desc){
        .q = Q(in), .k = KEY(in), .v = VAL(in), .g = in->t[SLOT_G], .beta = in->t[SLOT_BETA],
        .o = out->o, .initial_state = in->h0, .final_state = out->ht, .scale = in->scale,
        .mode = opts->mode, .cu_seqlens = in->cu_seqlens,
        .num_seqs = in->cu_seqlens ? in->num_seqs : 0, .l2norm_qk = opts->l2norm_qk,
        .chunk_size = opts->chunk_size, .gate_in_kernel = opts->gate_in_kernel,
        .A_log = opts->gate_in_kernel ? in->t[SLOT_A_LOG] : NULL,
        .dt_bias = opts->gate_in_kernel ? in->t[SLOT_DT_BIAS] : NULL,
        .beta_sigmoid = opts->beta_sigmoid});
}

static double kda_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    op_host h = op_host_copy(in, (size_t)dvk_tensor_dim(VAL(in), 2) * dvk_tensor_dim(VAL(in), 3));
    double ms = -1.0;
    if (h.ok) {
        const dvk_ref_kda_args a = {
            .B = h.B, .T = h.T, .H = h.H, .HV = h.HV, .K = h.K, .V = h.V, .q = h.t[SLOT_Q],
            .k = h.t[SLOT_K], .v = h.t[SLOT_V], .g = h.t[SLOT_G], .beta = h.t[SLOT_BETA],
            .gate_in_kernel = opts->gate_in_kernel, .A_log = h.t[SLOT_A_LOG],
            .dt_bias = h.t[SLOT_DT_BIAS], .beta_sigmoid = opts->beta_sigmoid, .h0 = h.h0,
            .cu_seqlens = in->cu_seqlens, .num_seqs = (int)in->num_seqs,
            .l2norm_qk = opts->l2norm_qk, .scale = in->scale, .o = h.o, .ht = h.ht,
        };
        TIME_REFERENCE(ms, dvk_ref_kda(&a));
    }
    op_host_free(&h);
    return ms;
}

const tool_op op_kda = {
    .name = "kda",
    .summary = "Kimi Delta Attention (q, k, v, g, beta; A_log, dt_bias with --gate-in-kernel)",
    .inputs = kda_inputs, .state = STATE_S, .varlen = true, .make_outputs = op_delta_outputs,
    .record = kda_record, .cost = op_delta_cost, .reference_ms = kda_reference_ms,
};
