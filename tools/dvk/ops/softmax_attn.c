/* dvk's softmax_attn (causal softmax attention in segments): dvk_softmax_attn. */
#include "common.h"

#include <stdio.h>

#include "deltavk_reference.h"

static const tool_input softmax_inputs[] = {
    {"q", SLOT_Q, KIND_NORMAL, 0}, {"k", SLOT_K, KIND_NORMAL, 0},
    {"v", SLOT_V, KIND_VALUE, 0},  {NULL, 0, 0, 0},
};

static dvk_status softmax_outputs(dvk_context *ctx, const tool_inputs *in, const tool_opts *opts,
                                  bool with_state, tool_outputs *out)
{
    (void)opts, (void)with_state; /* no state */
    return op_family_outputs(ctx, in, false, false, out);
}

static dvk_status softmax_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                                 const tool_opts *opts)
{
    return dvk_softmax_attn(cmd, &(dvk_softmax_attn_desc){
        .q = Q(in), .k = KEY(in), .v = VAL(in), .o = out->o, .scale = in->scale,
        .segment = opts->segment});
}

/* Softmax attention: 2 (D + DV) per causal pair (q·k, then p v), FlashAttention's count: the
 * exponentials and the online softmax's rescaling are left out. */
static void softmax_cost(const tool_inputs *in, const tool_outputs *out, const tool_opts *opts,
                         double *flops, double *bytes)
{
    op_family_cost(in, out, 0.0, flops, bytes);
    const double BH = (double)dvk_tensor_dim(KEY(in), 0) * dvk_tensor_dim(KEY(in), 2);
    const double D = (double)dvk_tensor_dim(KEY(in), 3), DV = (double)dvk_tensor_dim(VAL(in), 3);
    *flops = BH * op_causal_pairs((double)dvk_tensor_dim(KEY(in), 1), opts->segment) * 2 * (D + DV);
}

static double softmax_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    op_host h = op_host_copy(in, (size_t)dvk_tensor_dim(VAL(in), 2) * dvk_tensor_dim(VAL(in), 3));
    double ms = -1.0;
    if (h.ok) {
        const dvk_ref_softmax_attn_args a = {
            .B = h.B, .T = h.T, .H = h.H, .D = h.K, .DV = h.V, .q = h.t[SLOT_Q],
            .k = h.t[SLOT_K], .v = h.t[SLOT_V], .segment = (int)opts->segment,
            .scale = in->scale, .o = h.o,
        };
        TIME_REFERENCE(ms, dvk_ref_softmax_attn(&a));
    }
    op_host_free(&h);
    return ms;
}

static void softmax_describe(const tool_opts *o, bool json, char *buf, size_t len)
{
    if (json)
        snprintf(buf, len, ", \"segment\": %u", o->segment);
    else if (o->segment)
        snprintf(buf, len, ", segments of %u", o->segment);
    else
        snprintf(buf, len, ", one segment (plain causal)");
}

const tool_op op_softmax_attn = {
    .name = "softmax_attn",
    .summary = "causal softmax attention in segments (q, k, v; --segment N)",
    .inputs = softmax_inputs, .state = STATE_NONE, .varlen = false,
    .make_outputs = softmax_outputs, .record = softmax_record, .cost = softmax_cost,
    .reference_ms = softmax_reference_ms, .describe = softmax_describe,
};
