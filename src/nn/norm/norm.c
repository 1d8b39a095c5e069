/* dvk_layer_norm, dvk_rms_norm, dvk_l2_norm, dvk_group_norm: one kernel
 * (shaders/nn/norm/norm.comp) that normalises segments of a row, planned here from the
 * segment length and the device's limits. */
#include "nn/nn.h"

#include "shaders/nn/norm/norm.h"

#include <float.h>
#include <math.h>

_Static_assert(NORM_EPS_INSIDE == DVK_NORM_EPS_INSIDE && NORM_EPS_CLAMP == DVK_NORM_EPS_CLAMP &&
                   NORM_EPS_ADD == DVK_NORM_EPS_ADD,
               "norm.h eps codes must equal dvk_norm_eps");

/* One call of the kernel, after the public function's own checks. */
typedef struct norm_call {
    const dvk_tensor *x, *weight, *bias, *gate;
    dvk_tensor *y;
    uint32_t kind, eps_mode, groups;
    float eps, weight_offset;
} norm_call;

static uint32_t floor_pow2(uint32_t v)
{
    uint32_t p = 1;
    while (p <= v / 2)
        p *= 2;
    return p;
}

static uint32_t ceil_pow2(uint64_t v)
{
    uint32_t p = 1;
    while (p < v)
        p *= 2;
    return p;
}

/* A per-channel vector of C elements: any shape holding C elements with C last ([C], [1,C]). */
static dvk_status check_channels(dvk_context *ctx, const char *name, const dvk_tensor *t,
                                 uint64_t c)
{
    NN_TRY(dvk__nn_check_float(ctx, name, t));
    const uint32_t nd = dvk_tensor_ndim(t);
    if (dvk_tensor_numel(t) == c && nd > 0 && dvk_tensor_dim(t, nd - 1) == c)
        return DVK_SUCCESS;
    char a[96];
    return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "%s: shape %s, expected [%llu] (x's last "
                         "dimension)",
                         name, dvk__nn_shape_str(t, a, sizeof a), (unsigned long long)c);
}

static dvk_status check_eps(float eps)
{
    /* A subnormal eps may be flushed to zero on the device, and a row of zeros would then
     * give 0 · inf = NaN instead of zeros. */
    if (!(eps >= 0.0f) || isinf(eps) || (eps != 0.0f && eps < FLT_MIN))
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "eps: %g, expected 0 (the default) or a normal float > 0",
                             (double)eps);
    return DVK_SUCCESS;
}

static dvk_status check_eps_mode(dvk_norm_eps mode)
{
    if (mode != DVK_NORM_EPS_INSIDE && mode != DVK_NORM_EPS_CLAMP && mode != DVK_NORM_EPS_ADD)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "eps_mode: %d is not a dvk_norm_eps",
                             (int)mode);
    return DVK_SUCCESS;
}

/* Checks what every norm shares (x, y, the optional tensors) and records the kernel. */
static dvk_status record_norm(dvk_cmd *cmd, dvk_context *ctx, const norm_call *c)
{
    NN_TRY(dvk__nn_check_float(ctx, "x", c->x));
    NN_TRY(dvk__nn_check_float(ctx, "y", c->y));
    NN_TRY(dvk__nn_check_same_shape("y", c->y, "x", c->x));
    uint64_t rows, cols;
    dvk__nn_rows_cols(c->x, &rows, &cols);
    if (c->weight)
        NN_TRY(check_channels(ctx, "weight", c->weight, cols));
    if (c->bias)
        NN_TRY(check_channels(ctx, "bias", c->bias, cols));
    if (c->gate) {
        NN_TRY(dvk__nn_check_float(ctx, "gate", c->gate));
        NN_TRY(dvk__nn_check_same_shape("gate", c->gate, "x", c->x));
    }
    NN_TRY(dvk__nn_check_alias("y", c->y, "x", c->x, true));
    NN_TRY(dvk__nn_check_alias("y", c->y, "gate", c->gate, true));
    NN_TRY(dvk__nn_check_alias("y", c->y, "weight", c->weight, false));
    NN_TRY(dvk__nn_check_alias("y", c->y, "bias", c->bias, false));
    if (c->groups == 0 || cols % c->groups != 0)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "groups: %u does not divide x's last dimension %llu", c->groups,
                             (unsigned long long)cols);
    const uint64_t numel = dvk_tensor_numel(c->x);
    if (numel > UINT32_MAX)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "x: %llu elements, at most 2^32 - 1",
                             (unsigned long long)numel);
    if (numel == 0)
        return DVK_SUCCESS;

    /* The plan: TS invocations per segment, about 4 elements each, up to the workgroup size;
     * short segments share a workgroup of `base` invocations. Segments too long for
     * NORM_MAX_E elements per invocation are streamed (E = 0). */
    const dvk_device_info *info = dvk_context_device_info(ctx);
    uint32_t max_wg = info->max_workgroup_invocations < info->max_workgroup_size[0]
                          ? info->max_workgroup_invocations
                          : info->max_workgroup_size[0];
    max_wg = floor_pow2(max_wg < NORM_MAX_WG ? max_wg : NORM_MAX_WG);
    const uint32_t base = max_wg < 256 ? max_wg : 256;
    const uint64_t len = cols / c->groups, segs = rows * c->groups;
    uint32_t ts = ceil_pow2((len + 3) / 4);
    if (ts > max_wg)
        ts = max_wg;
    const uint64_t e = (len + ts - 1) / ts;
    const uint32_t wg = ts > base ? ts : base;

    const dvk_tensor *ts_[NORM_BINDINGS] = {
        [NORM_BIND_X] = c->x,    [NORM_BIND_W] = c->weight, [NORM_BIND_B] = c->bias,
        [NORM_BIND_G] = c->gate, [NORM_BIND_Y] = c->y,
    };
    const uint32_t spec[NORM_SPECS] = {
        [NORM_SPEC_WG] = wg,
        [NORM_SPEC_TS] = ts,
        [NORM_SPEC_E] = e <= NORM_MAX_E ? (uint32_t)e : 0,
        [NORM_SPEC_KIND] = c->kind,
        [NORM_SPEC_EPS_MODE] = c->eps_mode,
        [NORM_SPEC_HAS_W] = c->weight != NULL,
        [NORM_SPEC_HAS_B] = c->bias != NULL,
        [NORM_SPEC_HAS_G] = c->gate != NULL,
        [NORM_SPEC_X_DT] = dvk__nn_dt(dvk_tensor_dtype(c->x)),
        [NORM_SPEC_W_DT] = c->weight ? dvk__nn_dt(dvk_tensor_dtype(c->weight)) : 0,
        [NORM_SPEC_B_DT] = c->bias ? dvk__nn_dt(dvk_tensor_dtype(c->bias)) : 0,
        [NORM_SPEC_G_DT] = c->gate ? dvk__nn_dt(dvk_tensor_dtype(c->gate)) : 0,
        [NORM_SPEC_Y_DT] = dvk__nn_dt(dvk_tensor_dtype(c->y)),
    };
    const bool sg = info->subgroup_shuffle;
    const dvk_nn_kernel id =
        dvk__nn_variant(sg ? DVK_NN_K_NORM_NORM_F32_SG : DVK_NN_K_NORM_NORM_F32_SH,
                        sg ? DVK_NN_K_NORM_NORM_ANY_SG : DVK_NN_K_NORM_NORM_ANY_SH, ts_, NORM_BINDINGS);
    const dvk_kernel *k;
    NN_TRY(dvk__nn_kernel(ctx, id, NORM_BINDINGS, sizeof(norm_push), NORM_SPECS, spec, &k));
    const norm_push pc = {
        .len = (uint32_t)len,
        .segs = (uint32_t)segs,
        .groups = c->groups,
        .eps = c->eps,
        .weight_offset = c->weight_offset,
    };
    dvk_dispatch_desc dd = {.kernel = k, .write_mask = 1u << NORM_BIND_Y, .push = &pc};
    for (uint32_t i = 0; i < NORM_BINDINGS; ++i)
        dd.tensors[i] = ts_[i];
    NN_TRY(dvk__nn_grid(ctx, segs, wg / ts, dd.groups));
    return dvk_cmd_dispatch(cmd, &dd);
}

dvk_status dvk_layer_norm(dvk_cmd *cmd, const dvk_layer_norm_desc *d)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    NN_TRY(check_eps(d->eps));
    const norm_call c = {
        .x = d->x, .weight = d->weight, .bias = d->bias, .y = d->y,
        .kind = NORM_KIND_LAYER, .eps_mode = NORM_EPS_INSIDE, .groups = 1,
        .eps = d->eps != 0.0f ? d->eps : 1e-5f,
    };
    return record_norm(cmd, ctx, &c);
}

dvk_status dvk_group_norm(dvk_cmd *cmd, const dvk_group_norm_desc *d)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    NN_TRY(check_eps(d->eps));
    const norm_call c = {
        .x = d->x, .weight = d->weight, .bias = d->bias, .y = d->y,
        .kind = NORM_KIND_LAYER, .eps_mode = NORM_EPS_INSIDE,
        .groups = d->groups ? d->groups : 1,
        .eps = d->eps != 0.0f ? d->eps : 1e-5f,
    };
    return record_norm(cmd, ctx, &c);
}

dvk_status dvk_rms_norm(dvk_cmd *cmd, const dvk_rms_norm_desc *d)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    NN_TRY(check_eps(d->eps));
    NN_TRY(check_eps_mode(d->eps_mode));
    if (!isfinite(d->weight_offset))
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "weight_offset: %g is not finite",
                             (double)d->weight_offset);
    if (d->weight_offset != 0.0f && !d->weight)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "weight_offset: %g given without a weight", (double)d->weight_offset);
    const norm_call c = {
        .x = d->x, .weight = d->weight, .gate = d->gate, .y = d->y,
        .kind = NORM_KIND_RMS, .eps_mode = (uint32_t)d->eps_mode, .groups = 1,
        .eps = d->eps != 0.0f ? d->eps : 1e-6f,
        .weight_offset = d->weight_offset,
    };
    return record_norm(cmd, ctx, &c);
}

dvk_status dvk_l2_norm(dvk_cmd *cmd, const dvk_l2_norm_desc *d)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    NN_TRY(check_eps(d->eps));
    NN_TRY(check_eps_mode(d->eps_mode));
    const norm_call c = {
        .x = d->x, .y = d->y,
        .kind = NORM_KIND_L2, .eps_mode = (uint32_t)d->eps_mode, .groups = 1,
        .eps = d->eps != 0.0f ? d->eps : 1e-6f,
    };
    return record_norm(cmd, ctx, &c);
}
