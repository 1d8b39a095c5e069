/* dvk's linear_attn (normalised linear attention): dvk_linear_attn; outputs (o, ht and the
 * normaliser z) shared with infini_attn (common.c). */
#include "common.h"

#include <stdio.h>

#include "deltavk_reference.h"

static const tool_input linear_inputs[] = {
    {"q", SLOT_Q, KIND_FEATURE, 0}, {"k", SLOT_K, KIND_FEATURE, 0},
    {"v", SLOT_V, KIND_VALUE, 0},   {"done", SLOT_DONE, KIND_DONE, IN_OPTIONAL},
    {NULL, 0, 0, 0},
};

static dvk_status linear_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                                const tool_opts *opts)
{
    return dvk_linear_attn(cmd, &(dvk_linear_attn_desc){
        .q = Q(in), .k = KEY(in), .v = VAL(in), .done = in->t[SLOT_DONE], .o = out->o,
        .initial_state = in->h0, .initial_z = in->z0, .final_state = out->ht,
        .final_z = out->z, .scale = in->scale, .mode = opts->mode,
        .cu_seqlens = in->cu_seqlens, .num_seqs = in->cu_seqlens ? in->num_seqs : 0,
        .feature_map = opts->feature_map, .normalize = !opts->no_normalize, .eps = opts->eps,
        .eps_add = opts->eps_add, .chunk_size = opts->chunk_size});
}

/* Linear attention: 4 (φ(k) vᵀ into the state, Sᵀq'); the normaliser's O(K) per token is left
 * out. The chunked form does more, as for the delta rules. */
static void linear_cost(const tool_inputs *in, const tool_outputs *out, const tool_opts *opts,
                        double *flops, double *bytes)
{
    (void)opts;
    op_family_cost(in, out, 4.0, flops, bytes);
}

static double linear_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    op_host h = op_host_copy(in, (size_t)dvk_tensor_dim(VAL(in), 2) * dvk_tensor_dim(VAL(in), 3));
    double ms = -1.0;
    if (h.ok) {
        const dvk_ref_linear_attn_args a = {
            .B = h.B, .T = h.T, .H = h.H, .K = h.K, .V = h.V, .q = h.t[SLOT_Q],
            .k = h.t[SLOT_K], .v = h.t[SLOT_V], .done = h.t[SLOT_DONE], .h0 = h.h0, .z0 = h.z0,
            .cu_seqlens = in->cu_seqlens, .num_seqs = (int)in->num_seqs,
            .elu1 = opts->feature_map == DVK_FEATURE_ELU1, .normalize = !opts->no_normalize,
            .eps = opts->eps, .eps_add = opts->eps_add, .scale = in->scale, .o = h.o,
            .ht = h.ht, .zt = h.zt,
        };
        TIME_REFERENCE(ms, dvk_ref_linear_attn(&a));
    }
    op_host_free(&h);
    return ms;
}

static void linear_describe(const tool_opts *o, bool json, char *buf, size_t len)
{
    const char *fm = o->feature_map == DVK_FEATURE_ELU1 ? "elu1" : "identity";
    const double eps = o->eps != 0.0f ? o->eps : 1e-6; /* the library's default */
    if (json)
        snprintf(buf, len, ", \"feature_map\": \"%s\", \"normalize\": %s, \"eps\": %g, "
                 "\"eps_add\": %s", fm, o->no_normalize ? "false" : "true", eps,
                 o->eps_add ? "true" : "false");
    else if (o->no_normalize)
        snprintf(buf, len, ", feature map %s, not normalised", fm);
    else
        snprintf(buf, len, ", feature map %s, normalised (%s eps %g)", fm,
                 o->eps_add ? "q'.z +" : "max with", eps);
}

const tool_op op_linear_attn = {
    .name = "linear_attn",
    .summary = "normalised linear attention (q, k, v, optional done; h0, z0 -> ht, z)",
    .inputs = linear_inputs, .state = STATE_S_Z, .varlen = true,
    .make_outputs = op_normaliser_outputs, .record = linear_record, .cost = linear_cost,
    .reference_ms = linear_reference_ms, .describe = linear_describe,
};
