/* dvk's rope (rotary embedding, interleaved pairs): dvk_rope; x in the slot of q, y in o. */
#include "common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "deltavk_reference.h"

static const tool_input rope_inputs[] = {
    {"x", SLOT_Q, KIND_NORMAL, 0}, {NULL, 0, 0, 0},
};

/* rope: y has x's shape and dtype; x is in the slot of q. */
static dvk_status rope_outputs(dvk_context *ctx, const tool_inputs *in, const tool_opts *opts,
                               bool with_state, tool_outputs *out)
{
    (void)opts, (void)with_state; /* no state */
    const dvk_tensor *x = Q(in);
    const uint64_t s[4] = {dvk_tensor_dim(x, 0), dvk_tensor_dim(x, 1), dvk_tensor_dim(x, 2),
                           dvk_tensor_dim(x, 3)};
    return tool_tensor_from(ctx, dvk_tensor_dtype(x), 4, s, NULL, &out->o);
}

static dvk_status rope_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                              const tool_opts *opts)
{
    /* (the option parser refuses an --offset past DVK_ROPE_MAX_POSITIONS) */
    return dvk_rope(cmd, &(dvk_rope_desc){
        .x = Q(in), .y = out->o, .rotary_dim = opts->rotary_dim, .theta = opts->rope_theta,
        .offset = (int32_t)opts->rope_offset, .scale = in->scale});
}

/* rope: per rotated pair 6 (four products, two sums) and the scale on each element; x read
 * and y written once. */
static void rope_cost(const tool_inputs *in, const tool_outputs *out, const tool_opts *opts,
                      double *flops, double *bytes)
{
    const double D = (double)dvk_tensor_dim(Q(in), 3);
    const double rows = (double)dvk_tensor_numel(Q(in)) / D;
    const double rot = opts->rotary_dim ? opts->rotary_dim : D - fmod(D, 2.0);
    *flops = rows * (3.0 * rot + D);
    *bytes = op_bytes_of(Q(in)) + op_bytes_of(out->o);
}

static double rope_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    const dvk_tensor *x = Q(in);
    float *xh = op_download_floats(x);
    double *y = malloc(sizeof(double) * dvk_tensor_numel(x));
    double ms = -1.0;
    if (xh && y) {
        const dvk_ref_rope_args a = {
            .B = (int)dvk_tensor_dim(x, 0), .T = (int)dvk_tensor_dim(x, 1),
            .H = (int)dvk_tensor_dim(x, 2), .D = (int)dvk_tensor_dim(x, 3), .x = xh,
            .rotary_dim = (int)opts->rotary_dim, .theta = opts->rope_theta,
            .offset = (int)opts->rope_offset, .scale = in->scale, .y = y,
        };
        TIME_REFERENCE(ms, dvk_ref_rope(&a));
    }
    free(xh);
    free(y);
    return ms;
}

static void rope_describe(const tool_opts *o, bool json, char *buf, size_t len)
{
    const double theta = o->rope_theta != 0.0f ? o->rope_theta : 10000.0;
    if (json)
        snprintf(buf, len, ", \"theta\": %g, \"offset\": %u, \"rotary_dim\": %u", theta,
                 o->rope_offset, o->rotary_dim);
    else if (o->rotary_dim)
        snprintf(buf, len, ", theta %g, offset %u, rotary dim %u", theta, o->rope_offset,
                 o->rotary_dim);
    else
        snprintf(buf, len, ", theta %g, offset %u, every pair rotated", theta, o->rope_offset);
}

const tool_op op_rope = {
    .name = "rope",
    .summary = "rotary embedding, interleaved pairs (x -> y; --rope-theta, --offset)",
    .inputs = rope_inputs, .state = STATE_NONE, .varlen = false, .make_outputs = rope_outputs,
    .record = rope_record, .cost = rope_cost, .reference_ms = rope_reference_ms,
    .describe = rope_describe, .out_name = "y",
};
