/* dvk_activation: y = act(x) elementwise (shaders/nn/elementwise/activation.comp). */
#include "nn/nn.h"

#include "shaders/nn/elementwise/activation.h"

dvk_status dvk_activation(dvk_cmd *cmd, const dvk_activation_desc *d)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    NN_TRY(dvk__nn_check_float(ctx, "x", d->x));
    NN_TRY(dvk__nn_check_float(ctx, "y", d->y));
    NN_TRY(dvk__nn_check_alias("y", d->y, "x", d->x, true));
    if (d->act == DVK_ACT_DEFAULT)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "act: choose an activation");
    uint32_t act;
    NN_TRY(dvk__nn_act_code("act", d->act, DVK_ACT_DEFAULT, &act));
    const uint64_t n = dvk_tensor_numel(d->x);
    if (dvk_tensor_numel(d->y) != n) {
        char a[96], b[96];
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "y: shape %s holds %llu elements, x %s %llu",
                             dvk__nn_shape_str(d->y, a, sizeof a),
                             (unsigned long long)dvk_tensor_numel(d->y),
                             dvk__nn_shape_str(d->x, b, sizeof b), (unsigned long long)n);
    }
    if (n > UINT32_MAX)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "x: %llu elements, at most 2^32 - 1",
                             (unsigned long long)n);
    const dvk_tensor *ts[ACTIVATION_BINDINGS] = {[ACTIVATION_BIND_X] = d->x,
                                                 [ACTIVATION_BIND_Y] = d->y};
    const uint32_t spec[ACTIVATION_SPECS] = {
        [ACTIVATION_SPEC_ACT] = act,
        [ACTIVATION_SPEC_X_DT] = dvk__nn_dt(dvk_tensor_dtype(d->x)),
        [ACTIVATION_SPEC_Y_DT] = dvk__nn_dt(dvk_tensor_dtype(d->y)),
    };
    const dvk_kernel *k;
    NN_TRY(dvk__nn_kernel(ctx,
                          dvk__nn_variant(DVK_NN_K_ELEMENTWISE_ACTIVATION_F32,
                                DVK_NN_K_ELEMENTWISE_ACTIVATION_ANY, ts, ACTIVATION_BINDINGS),
                          ACTIVATION_BINDINGS, sizeof(activation_push), ACTIVATION_SPECS, spec, &k));
    const activation_push pc = {.n = (uint32_t)n};
    dvk_dispatch_desc dd = {.kernel = k, .write_mask = 1u << ACTIVATION_BIND_Y, .push = &pc};
    for (uint32_t i = 0; i < ACTIVATION_BINDINGS; ++i)
        dd.tensors[i] = ts[i];
    NN_TRY(dvk__nn_grid(ctx, n, ACTIVATION_LOCAL, dd.groups));
    return dvk_cmd_dispatch(cmd, &dd);
}
