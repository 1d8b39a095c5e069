/* dvk_embedding: rows of a table by index (shaders/nn/embedding/embedding.comp). */
#include "nn/nn.h"

#include "shaders/nn/embedding/embedding.h"

dvk_status dvk_embedding(dvk_cmd *cmd, const dvk_embedding_desc *d)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    NN_TRY(dvk__nn_check_i32(ctx, "indices", d->indices));
    NN_TRY(dvk__nn_check_float(ctx, "weight", d->weight));
    NN_TRY(dvk__nn_check_float(ctx, "y", d->y));
    char a[96], b[96];
    if (dvk_tensor_ndim(d->weight) != 2)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "weight: shape %s, expected [V,C]",
                             dvk__nn_shape_str(d->weight, a, sizeof a));
    const uint64_t V = dvk_tensor_dim(d->weight, 0), C = dvk_tensor_dim(d->weight, 1);
    /* y is indices' shape with C appended. */
    const uint32_t ni = dvk_tensor_ndim(d->indices);
    bool ok = dvk_tensor_ndim(d->y) == ni + 1 && dvk_tensor_dim(d->y, ni) == C;
    for (uint32_t i = 0; ok && i < ni; ++i)
        ok = dvk_tensor_dim(d->y, i) == dvk_tensor_dim(d->indices, i);
    if (!ok) {
        if (ni + 1 > DVK_MAX_DIMS)
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                 "indices: shape %s has %u dimensions, at most %u (y adds C)",
                                 dvk__nn_shape_str(d->indices, a, sizeof a), ni, DVK_MAX_DIMS - 1);
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                             "y: shape %s, expected indices' shape %s with %llu (C) appended",
                             dvk__nn_shape_str(d->y, a, sizeof a),
                             dvk__nn_shape_str(d->indices, b, sizeof b), (unsigned long long)C);
    }
    NN_TRY(dvk__nn_check_alias("y", d->y, "indices", d->indices, false));
    NN_TRY(dvk__nn_check_alias("y", d->y, "weight", d->weight, false));
    const uint64_t n = dvk_tensor_numel(d->y);
    if (n > UINT32_MAX || V * C > UINT32_MAX)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "%s: %llu elements, at most 2^32 - 1",
                             n > UINT32_MAX ? "y" : "weight",
                             (unsigned long long)(n > UINT32_MAX ? n : V * C));
    const dvk_tensor *ts[EMBEDDING_BINDINGS] = {[EMBEDDING_BIND_INDICES] = d->indices,
                                                [EMBEDDING_BIND_W] = d->weight,
                                                [EMBEDDING_BIND_Y] = d->y};
    const uint32_t spec[EMBEDDING_SPECS] = {
        [EMBEDDING_SPEC_W_DT] = dvk__nn_dt(dvk_tensor_dtype(d->weight)),
        [EMBEDDING_SPEC_Y_DT] = dvk__nn_dt(dvk_tensor_dtype(d->y)),
    };
    const dvk_kernel *k;
    NN_TRY(dvk__nn_kernel(ctx,
                          dvk__nn_variant(DVK_NN_K_EMBEDDING_EMBEDDING_F32,
                                DVK_NN_K_EMBEDDING_EMBEDDING_ANY, ts, EMBEDDING_BINDINGS),
                          EMBEDDING_BINDINGS, sizeof(embedding_push), EMBEDDING_SPECS, spec, &k));
    const embedding_push pc = {.n = (uint32_t)n, .c = (uint32_t)C, .v = (uint32_t)V};
    dvk_dispatch_desc dd = {.kernel = k, .write_mask = 1u << EMBEDDING_BIND_Y, .push = &pc};
    for (uint32_t i = 0; i < EMBEDDING_BINDINGS; ++i)
        dd.tensors[i] = ts[i];
    NN_TRY(dvk__nn_grid(ctx, n, EMBEDDING_LOCAL, dd.groups));
    return dvk_cmd_dispatch(cmd, &dd);
}
