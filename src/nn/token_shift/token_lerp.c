/* dvk_token_lerp: Memodo's data-dependent token shift, a layer helper composed of the nn
 * functions (token shift, two linears, GELU, gated residual) with its temporaries in the
 * dvk_cmd's scratch arena, released when it returns. */
#include "nn/nn.h"

/* A [B, T, n] fp32 scratch tensor. */
static dvk_status scratch(dvk_cmd *cmd, uint64_t B, uint64_t T, uint64_t n, dvk_tensor **out)
{
    return dvk_cmd_scratch_tensor(cmd, &(dvk_tensor_desc){.ndim = 3, .shape = {B, T, n}}, out);
}

static dvk_status check_matrix(dvk_context *ctx, const char *name, const dvk_tensor *t,
                               uint64_t rows, uint64_t cols)
{
    NN_TRY(dvk__nn_check_float(ctx, name, t));
    if (dvk_tensor_ndim(t) == 2 && dvk_tensor_dim(t, 0) == rows && dvk_tensor_dim(t, 1) == cols)
        return DVK_SUCCESS;
    char a[96];
    return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "%s: shape %s, expected [%llu,%llu]", name,
                         dvk__nn_shape_str(t, a, sizeof a), (unsigned long long)rows,
                         (unsigned long long)cols);
}

static dvk_status check_vector(dvk_context *ctx, const char *name, const dvk_tensor *t,
                               uint64_t n)
{
    if (!t)
        return DVK_SUCCESS;
    NN_TRY(dvk__nn_check_float(ctx, name, t));
    if (dvk_tensor_ndim(t) == 1 && dvk_tensor_dim(t, 0) == n)
        return DVK_SUCCESS;
    char a[96];
    return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "%s: shape %s, expected [%llu]", name,
                         dvk__nn_shape_str(t, a, sizeof a), (unsigned long long)n);
}

static dvk_status record(dvk_cmd *cmd, const dvk_token_lerp_desc *d, uint64_t B, uint64_t T,
                         uint64_t C, uint64_t F)
{
    dvk_tensor *pm, *delta, *h, *g;
    NN_TRY(scratch(cmd, B, T, C, &pm));
    NN_TRY(scratch(cmd, B, T, C, &delta));
    NN_TRY(scratch(cmd, B, T, F, &h));
    NN_TRY(scratch(cmd, B, T, C, &g));
    /* pm = x + (xf − x)·premix, delta = xf − x, and the carried token */
    NN_TRY(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = d->x, .mix = d->premix,
                                                        .initial = d->initial, .y = pm,
                                                        .delta = delta, .final = d->final}));
    /* decide(pm) = σ(W2 gelu(W1 pm + b1) + b2); the σ is the gated residual's */
    NN_TRY(dvk_linear(cmd, &(dvk_linear_desc){.x = pm, .weight = d->w1, .bias = d->b1, .y = h}));
    NN_TRY(dvk_activation(cmd, &(dvk_activation_desc){.x = h, .y = h, .act = DVK_ACT_GELU}));
    NN_TRY(dvk_linear(cmd, &(dvk_linear_desc){.x = h, .weight = d->w2, .bias = d->b2, .y = g}));
    /* y = x + (xf − x)·σ(decide) */
    return dvk_gated_residual(cmd, &(dvk_gated_residual_desc){.residual = d->x, .x = delta,
                                                              .gate = g, .y = d->y,
                                                              .act = DVK_ACT_SIGMOID});
}

dvk_status dvk_token_lerp(dvk_cmd *cmd, const dvk_token_lerp_desc *d)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    NN_TRY(dvk__nn_check_float(ctx, "x", d->x));
    char a[96];
    if (dvk_tensor_ndim(d->x) != 3)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "x: shape %s, expected [B,T,C]",
                             dvk__nn_shape_str(d->x, a, sizeof a));
    const uint64_t B = dvk_tensor_dim(d->x, 0), T = dvk_tensor_dim(d->x, 1),
                   C = dvk_tensor_dim(d->x, 2);
    NN_TRY(check_vector(ctx, "premix", d->premix, C));
    if (!d->premix || !d->w1 || !d->w2)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL",
                             !d->premix ? "premix" : !d->w1 ? "w1" : "w2");
    NN_TRY(dvk__nn_check_float(ctx, "w1", d->w1));
    if (dvk_tensor_ndim(d->w1) != 2)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "w1: shape %s, expected [F,%llu]",
                             dvk__nn_shape_str(d->w1, a, sizeof a), (unsigned long long)C);
    const uint64_t F = dvk_tensor_dim(d->w1, 0);
    NN_TRY(check_matrix(ctx, "w1", d->w1, F, C));
    NN_TRY(check_matrix(ctx, "w2", d->w2, C, F));
    NN_TRY(check_vector(ctx, "b1", d->b1, F));
    NN_TRY(check_vector(ctx, "b2", d->b2, C));
    NN_TRY(dvk__nn_check_float(ctx, "y", d->y));
    NN_TRY(dvk__nn_check_same_shape("y", d->y, "x", d->x));
    /* y apart from every input and the state; final apart from the inputs, or initial itself */
    const char *const names[] = {"x", "premix", "w1", "b1", "w2", "b2", "initial", "final"};
    const dvk_tensor *const others[] = {d->x,  d->premix, d->w1,      d->b1,
                                        d->w2, d->b2,     d->initial, d->final};
    NN_TRY(dvk__nn_check_apart("y", d->y, 8, names, others));
    NN_TRY(dvk__nn_check_apart("final", d->final, 6, names, others));
    if (d->final != d->initial) /* the same tensor carries the state in place */
        NN_TRY(dvk__nn_check_alias("final", d->final, "initial", d->initial, false));
    /* The temporaries live in a region of the recording's arena, released on return: the
     * work recorded here still uses them, and later work reuses the memory after barriers. */
    const dvk_scratch_mark mark = dvk_cmd_scratch_mark(cmd);
    const dvk_status st = record(cmd, d, B, T, C, F);
    const dvk_status rel = dvk_cmd_scratch_release(cmd, mark);
    return st != DVK_SUCCESS ? st : rel;
}
