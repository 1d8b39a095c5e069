/* dvk_glu: gated linear units (shaders/nn/elementwise/glu.comp). */
#include "nn/nn.h"

#include "shaders/nn/elementwise/glu.h"

dvk_status dvk_glu(dvk_cmd *cmd, const dvk_glu_desc *d)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    NN_TRY(dvk__nn_check_float(ctx, "x", d->x));
    NN_TRY(dvk__nn_check_float(ctx, "y", d->y));
    uint32_t act;
    NN_TRY(dvk__nn_act_code("act", d->act, DVK_ACT_SIGMOID, &act));
    uint64_t rows, cols;
    dvk__nn_rows_cols(d->x, &rows, &cols);
    char a[96], b[96];
    if (d->gate) {
        NN_TRY(dvk__nn_check_float(ctx, "gate", d->gate));
        NN_TRY(dvk__nn_check_same_shape("gate", d->gate, "x", d->x));
        NN_TRY(dvk__nn_check_same_shape("y", d->y, "x", d->x));
        if (d->gate_first)
            return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                                 "gate_first: only for x holding both halves (gate NULL)");
    } else {
        if (cols % 2 != 0)
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                 "x: shape %s, its last dimension must be even (two halves)",
                                 dvk__nn_shape_str(d->x, a, sizeof a));
        const uint32_t nd = dvk_tensor_ndim(d->x);
        bool ok = dvk_tensor_ndim(d->y) == nd && dvk_tensor_dim(d->y, nd - 1) == cols / 2;
        for (uint32_t i = 0; ok && i + 1 < nd; ++i)
            ok = dvk_tensor_dim(d->y, i) == dvk_tensor_dim(d->x, i);
        if (!ok)
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                 "y: shape %s, expected x's %s with the last dimension halved",
                                 dvk__nn_shape_str(d->y, a, sizeof a),
                                 dvk__nn_shape_str(d->x, b, sizeof b));
        cols /= 2;
    }
    NN_TRY(dvk__nn_check_alias("y", d->y, "x", d->x, false));
    NN_TRY(dvk__nn_check_alias("y", d->y, "gate", d->gate, false));
    if (dvk_tensor_numel(d->x) > UINT32_MAX)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "x: %llu elements, at most 2^32 - 1",
                             (unsigned long long)dvk_tensor_numel(d->x));
    const uint64_t n = dvk_tensor_numel(d->y);

    const dvk_device_info *info = dvk_context_device_info(ctx);
    const uint32_t wg = info->max_workgroup_invocations < 256 ? 128 : 256;
    const dvk_tensor *ts[GLU_BINDINGS] = {
        [GLU_BIND_X] = d->x, [GLU_BIND_G] = d->gate, [GLU_BIND_Y] = d->y};
    const uint32_t spec[GLU_SPECS] = {
        [GLU_SPEC_WG] = wg,
        [GLU_SPEC_ACT] = act,
        [GLU_SPEC_SPLIT] = d->gate == NULL,
        [GLU_SPEC_GATE_FIRST] = d->gate_first,
        [GLU_SPEC_X_DT] = dvk__nn_dt(dvk_tensor_dtype(d->x)),
        [GLU_SPEC_G_DT] = d->gate ? dvk__nn_dt(dvk_tensor_dtype(d->gate)) : 0,
        [GLU_SPEC_Y_DT] = dvk__nn_dt(dvk_tensor_dtype(d->y)),
    };
    const dvk_kernel *k;
    NN_TRY(dvk__nn_kernel(ctx,
                          dvk__nn_variant(DVK_NN_K_ELEMENTWISE_GLU_F32,
                                          DVK_NN_K_ELEMENTWISE_GLU_ANY, ts, GLU_BINDINGS),
                          GLU_BINDINGS, sizeof(glu_push), GLU_SPECS, spec, &k));
    const glu_push pc = {.n = (uint32_t)n, .cols = (uint32_t)cols};
    dvk_dispatch_desc dd = {.kernel = k, .write_mask = 1u << GLU_BIND_Y, .push = &pc};
    for (uint32_t i = 0; i < GLU_BINDINGS; ++i)
        dd.tensors[i] = ts[i];
    NN_TRY(dvk__nn_grid(ctx, n, wg, dd.groups));
    return dvk_cmd_dispatch(cmd, &dd);
}
