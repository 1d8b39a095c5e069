/* dvk's infini_attn (one Infini-attention segment): dvk_infini_attn; outputs (o, the memory and
 * its normaliser) shared with linear_attn (common.c). */
#include "common.h"

#include <stdio.h>

#include "deltavk_reference.h"

static const tool_input infini_inputs[] = {
    {"q", SLOT_Q, KIND_NORMAL, 0}, {"k", SLOT_K, KIND_NORMAL, 0},
    {"v", SLOT_V, KIND_VALUE, 0},  {"gate", SLOT_GATE, KIND_HEAD_GATE, 0},
    {NULL, 0, 0, 0},
};

static dvk_status infini_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                                const tool_opts *opts)
{
    return dvk_infini_attn(cmd, &(dvk_infini_attn_desc){
        .q = Q(in), .k = KEY(in), .v = VAL(in), .gate = in->t[SLOT_GATE], .o = out->o,
        .memory = in->h0, .memory_z = in->z0, .final_memory = out->ht, .final_z = out->z,
        .scale = in->scale, .rope = !opts->no_rope, .rope_theta = opts->rope_theta,
        .delta_rule = opts->delta_rule, .eps = opts->eps});
}

/* Infini-attention: the segment's softmax attention, then per token 2 D DV for each of the
 * retrieval (with a past memory), the delta rule's correction (with one) and the memory
 * update (when the final memory is stored). The rotations are left out. */
static void infini_cost(const tool_inputs *in, const tool_outputs *out, const tool_opts *opts,
                        double *flops, double *bytes)
{
    const double per_dv = 2.0 * ((in->h0 ? 1 : 0) + (in->h0 && out->ht && opts->delta_rule) +
                                 (out->ht ? 1 : 0));
    op_family_cost(in, out, per_dv, flops, bytes);
    const double BH = (double)dvk_tensor_dim(KEY(in), 0) * dvk_tensor_dim(KEY(in), 2);
    const double D = (double)dvk_tensor_dim(KEY(in), 3), DV = (double)dvk_tensor_dim(VAL(in), 3);
    *flops += BH * op_causal_pairs((double)dvk_tensor_dim(KEY(in), 1), 0) * 2 * (D + DV);
}

static double infini_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    op_host h = op_host_copy(in, (size_t)dvk_tensor_dim(VAL(in), 2) * dvk_tensor_dim(VAL(in), 3));
    double ms = -1.0;
    if (h.ok) {
        const dvk_ref_infini_attn_args a = {
            .B = h.B, .T = h.T, .H = h.H, .D = h.K, .DV = h.V, .q = h.t[SLOT_Q],
            .k = h.t[SLOT_K], .v = h.t[SLOT_V], .gate = h.t[SLOT_GATE], .mem0 = h.h0,
            .z0 = h.z0, .delta_rule = opts->delta_rule, .rope = !opts->no_rope,
            .rope_theta = opts->rope_theta, .scale = in->scale, .eps = opts->eps, .o = h.o,
            .mem = h.ht, .z = h.zt,
        };
        TIME_REFERENCE(ms, dvk_ref_infini_attn(&a));
    }
    op_host_free(&h);
    return ms;
}

static void infini_describe(const tool_opts *o, bool json, char *buf, size_t len)
{
    const double theta = o->rope_theta != 0.0f ? o->rope_theta : 10000.0;
    const double eps = o->eps != 0.0f ? o->eps : 1e-10; /* the library's defaults */
    if (json)
        snprintf(buf, len, ", \"rope\": %s, \"rope_theta\": %g, \"delta_rule\": %s, "
                 "\"eps\": %g", o->no_rope ? "false" : "true", theta,
                 o->delta_rule ? "true" : "false", eps);
    else if (o->no_rope)
        snprintf(buf, len, ", no rope, %s memory update, eps %g",
                 o->delta_rule ? "delta-rule" : "linear", eps);
    else
        snprintf(buf, len, ", rope theta %g, %s memory update, eps %g", theta,
                 o->delta_rule ? "delta-rule" : "linear", eps);
}

const tool_op op_infini_attn = {
    .name = "infini_attn",
    .summary = "one Infini-attention segment (q, k, v, gate; past memory h0, z0 -> ht, z)",
    .inputs = infini_inputs, .state = STATE_S_Z, .varlen = false,
    .make_outputs = op_normaliser_outputs, .record = infini_record, .cost = infini_cost,
    .reference_ms = infini_reference_ms, .describe = infini_describe,
};
