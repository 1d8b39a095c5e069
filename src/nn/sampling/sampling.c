/* dvk_softmax, dvk_argmax and dvk_sample: one workgroup per row along the last dimension
 * (shaders/nn/sampling/). */
#include "nn/nn.h"

#include "shaders/nn/sampling/sampling.h"

#include <math.h>

/* What the three share: x checked, seen as [rows, N], both within 32 bits. */
static dvk_status check_rows(dvk_context *ctx, const char *name, const dvk_tensor *x,
                             uint64_t *rows, uint64_t *n)
{
    NN_TRY(dvk__nn_check_float(ctx, name, x));
    dvk__nn_rows_cols(x, rows, n);
    if (dvk_tensor_numel(x) > UINT32_MAX)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "%s: %llu elements, at most 2^32 - 1",
                             name, (unsigned long long)dvk_tensor_numel(x));
    return DVK_SUCCESS;
}

/* y: int32 holding one element per row (x's leading shape, or any shape of that size). */
static dvk_status check_row_out(dvk_context *ctx, const dvk_tensor *y, uint64_t rows,
                                const char *x_name, const dvk_tensor *x)
{
    NN_TRY(dvk__nn_check_i32(ctx, "y", y));
    NN_TRY(dvk__nn_check_alias("y", y, x_name, x, false));
    if (dvk_tensor_numel(y) == rows)
        return DVK_SUCCESS;
    char a[96], b[96];
    return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                         "y: shape %s, expected %llu elements (one per row of %s %s)",
                         dvk__nn_shape_str(y, a, sizeof a), (unsigned long long)rows, x_name,
                         dvk__nn_shape_str(x, b, sizeof b));
}

static dvk_status check_temperature(float temperature, float *scale)
{
    if (temperature == 0.0f)
        temperature = 1.0f;
    if (!(temperature > 0.0f) || isinf(temperature))
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "temperature %g: expected a positive finite number (0 = 1)",
                             (double)temperature);
    *scale = 1.0f / temperature;
    if (isinf(*scale))
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "temperature %g: its reciprocal overflows fp32", (double)temperature);
    return DVK_SUCCESS;
}

/* Short rows take small workgroups: their invocations would mostly wait at barriers. */
static uint32_t local_size(dvk_context *ctx, uint32_t n)
{
    if (n <= SAMPLING_SHORT_ROW)
        return SAMPLING_LOCAL_SHORT;
    return dvk_context_device_info(ctx)->max_workgroup_invocations >= SAMPLING_LOCAL_MAX
               ? SAMPLING_LOCAL_MAX
               : SAMPLING_LOCAL_MIN;
}

/* Records one row kernel: x at BIND_X, y (written) at BIND_Y, one workgroup per row. */
static dvk_status dispatch_rows(dvk_cmd *cmd, dvk_context *ctx, dvk_nn_kernel f32_id,
                                dvk_nn_kernel any_id, const dvk_tensor *x, const dvk_tensor *y,
                                uint32_t y_dt, uint32_t log, const sampling_push *pc)
{
    const dvk_tensor *ts[SAMPLING_BINDINGS] = {[SAMPLING_BIND_X] = x, [SAMPLING_BIND_Y] = y};
    const uint32_t spec[SAMPLING_SPECS] = {
        [SAMPLING_SPEC_LOCAL] = local_size(ctx, pc->n),
        [SAMPLING_SPEC_X_DT] = dvk__nn_dt(dvk_tensor_dtype(x)),
        [SAMPLING_SPEC_Y_DT] = y_dt,
        [SAMPLING_SPEC_LOG] = log,
    };
    const dvk_kernel *k;
    NN_TRY(dvk__nn_kernel(ctx, dvk__nn_variant(f32_id, any_id, ts, SAMPLING_BINDINGS),
                          SAMPLING_BINDINGS, sizeof *pc, SAMPLING_SPECS, spec, &k));
    dvk_dispatch_desc dd = {.kernel = k, .write_mask = 1u << SAMPLING_BIND_Y, .push = pc};
    dd.tensors[SAMPLING_BIND_X] = x;
    dd.tensors[SAMPLING_BIND_Y] = y;
    NN_TRY(dvk__nn_grid(ctx, pc->rows, 1, dd.groups));
    return dvk_cmd_dispatch(cmd, &dd);
}

dvk_status dvk_softmax(dvk_cmd *cmd, const dvk_softmax_desc *d)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    uint64_t rows, n;
    NN_TRY(check_rows(ctx, "x", d->x, &rows, &n));
    NN_TRY(dvk__nn_check_float(ctx, "y", d->y));
    NN_TRY(dvk__nn_check_same_shape("y", d->y, "x", d->x));
    NN_TRY(dvk__nn_check_alias("y", d->y, "x", d->x, true)); /* in place, or apart */
    float scale = 1.0f;
    NN_TRY(check_temperature(d->temperature, &scale));
    const sampling_push pc = {.rows = (uint32_t)rows, .n = (uint32_t)n, .scale = scale};
    return dispatch_rows(cmd, ctx, DVK_NN_K_SAMPLING_SOFTMAX_F32, DVK_NN_K_SAMPLING_SOFTMAX_ANY,
                         d->x, d->y, dvk__nn_dt(dvk_tensor_dtype(d->y)), d->log ? 1u : 0u, &pc);
}

dvk_status dvk_argmax(dvk_cmd *cmd, const dvk_argmax_desc *d)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    uint64_t rows, n;
    NN_TRY(check_rows(ctx, "x", d->x, &rows, &n));
    NN_TRY(check_row_out(ctx, d->y, rows, "x", d->x));
    const sampling_push pc = {.rows = (uint32_t)rows, .n = (uint32_t)n, .scale = 1.0f};
    return dispatch_rows(cmd, ctx, DVK_NN_K_SAMPLING_ARGMAX_F32, DVK_NN_K_SAMPLING_ARGMAX_ANY,
                         d->x, d->y, DVK_DT_I32, 0, &pc);
}

dvk_status dvk_sample(dvk_cmd *cmd, const dvk_sample_desc *d)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    uint64_t rows, n;
    NN_TRY(check_rows(ctx, "logits", d->logits, &rows, &n));
    NN_TRY(check_row_out(ctx, d->y, rows, "logits", d->logits));
    float scale = 1.0f;
    NN_TRY(check_temperature(d->temperature, &scale));
    if (!(d->top_p >= 0.0f)) /* also NaN */
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "top_p %g: expected 0 (all), a fraction in (0, 1), or >= 1 (all)",
                             (double)d->top_p);
    const sampling_push pc = {
        .rows = (uint32_t)rows,
        .n = (uint32_t)n,
        .scale = scale,
        .top_k = d->top_k >= n ? 0u : d->top_k,
        .top_p = d->top_p >= 1.0f ? 0.0f : d->top_p,
        .seed_lo = (uint32_t)d->seed,
        .seed_hi = (uint32_t)(d->seed >> 32),
    };
    return dispatch_rows(cmd, ctx, DVK_NN_K_SAMPLING_SAMPLE_F32, DVK_NN_K_SAMPLING_SAMPLE_ANY,
                         d->logits, d->y, DVK_DT_I32, 0, &pc);
}

float dvk_sample_uniform(uint64_t seed, uint32_t row)
{
    return (float)(dvk_sample_hash((uint32_t)seed, (uint32_t)(seed >> 32), row) >> 8) *
           (float)DVK_SAMPLE_U_SCALE;
}
