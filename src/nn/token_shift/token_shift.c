/* dvk_token_shift: RWKV's time shift with M mixes in one pass
 * (shaders/nn/token_shift/token_shift.comp). */
#include "nn/nn.h"

#include "shaders/nn/token_shift/token_shift.h"

/* Checks that t is [d0, d1] (named name). */
static dvk_status check_2d(const char *name, const dvk_tensor *t, uint64_t d0, uint64_t d1)
{
    if (dvk_tensor_ndim(t) == 2 && dvk_tensor_dim(t, 0) == d0 && dvk_tensor_dim(t, 1) == d1)
        return DVK_SUCCESS;
    char a[96];
    return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "%s: shape %s, expected [%llu,%llu]", name,
                         dvk__nn_shape_str(t, a, sizeof a), (unsigned long long)d0,
                         (unsigned long long)d1);
}

dvk_status dvk_token_shift(dvk_cmd *cmd, const dvk_token_shift_desc *d)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    NN_TRY(dvk__nn_check_float(ctx, "x", d->x));
    char a[96], b2[96];
    if (dvk_tensor_ndim(d->x) != 3)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "x: shape %s, expected [B,T,C]",
                             dvk__nn_shape_str(d->x, a, sizeof a));
    const uint64_t B = dvk_tensor_dim(d->x, 0), T = dvk_tensor_dim(d->x, 1),
                   C = dvk_tensor_dim(d->x, 2), n = B * T * C;
    if (!d->y && !d->delta)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "y and delta are both NULL: nothing to do");
    if ((d->mix != NULL) != (d->y != NULL))
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL but %s is set",
                             d->mix ? "y" : "mix", d->mix ? "mix" : "y");
    uint64_t M = 0;
    if (d->mix) {
        NN_TRY(dvk__nn_check_float(ctx, "mix", d->mix));
        NN_TRY(dvk__nn_check_float(ctx, "y", d->y));
        const uint32_t nd = dvk_tensor_ndim(d->mix);
        if ((nd != 1 && nd != 2) || dvk_tensor_dim(d->mix, nd - 1) != C)
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                 "mix: shape %s, expected [%llu] or [M,%llu]",
                                 dvk__nn_shape_str(d->mix, a, sizeof a), (unsigned long long)C,
                                 (unsigned long long)C);
        M = nd == 2 ? dvk_tensor_dim(d->mix, 0) : 1;
        /* y is [M,B,T,C]; for one mix also [B,T,C]. */
        bool ok = dvk_tensor_ndim(d->y) == 4 && dvk_tensor_dim(d->y, 0) == M &&
                  dvk_tensor_dim(d->y, 1) == B && dvk_tensor_dim(d->y, 2) == T &&
                  dvk_tensor_dim(d->y, 3) == C;
        if (!ok && M == 1)
            ok = dvk__nn_check_same_shape("y", d->y, "x", d->x) == DVK_SUCCESS;
        if (!ok)
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                 "y: shape %s, expected [%llu,%llu,%llu,%llu]%s",
                                 dvk__nn_shape_str(d->y, a, sizeof a), (unsigned long long)M,
                                 (unsigned long long)B, (unsigned long long)T,
                                 (unsigned long long)C, M == 1 ? " or x's shape" : "");
    }
    if (d->delta) {
        NN_TRY(dvk__nn_check_float(ctx, "delta", d->delta));
        NN_TRY(dvk__nn_check_same_shape("delta", d->delta, "x", d->x));
    }
    uint32_t init = TOKEN_SHIFT_INIT_ZERO;
    if (d->final) {
        NN_TRY(dvk__nn_check_float(ctx, "final", d->final));
        NN_TRY(check_2d("final", d->final, B, C));
    }
    if (d->initial) {
        NN_TRY(dvk__nn_check_float(ctx, "initial", d->initial));
        if (d->initial == d->final) {
            init = TOKEN_SHIFT_INIT_FINAL;
        } else if (dvk_tensor_ndim(d->initial) == 1 && dvk_tensor_dim(d->initial, 0) == C) {
            init = TOKEN_SHIFT_INIT_BCAST;
        } else {
            if (check_2d("initial", d->initial, B, C) != DVK_SUCCESS)
                return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                     "initial: shape %s, expected [%llu,%llu] or [%llu]",
                                     dvk__nn_shape_str(d->initial, b2, sizeof b2),
                                     (unsigned long long)B, (unsigned long long)C,
                                     (unsigned long long)C);
            init = TOKEN_SHIFT_INIT_BOUND;
        }
    }
    /* y and delta apart from everything else; final apart from the inputs, or initial itself */
    const char *const names[] = {"x", "mix", "initial", "final", "delta"};
    const dvk_tensor *const others[] = {d->x, d->mix, d->initial, d->final, d->delta};
    NN_TRY(dvk__nn_check_apart("y", d->y, 5, names, others));
    NN_TRY(dvk__nn_check_apart("delta", d->delta, 4, names, others));
    NN_TRY(dvk__nn_check_apart("final", d->final, 2, names, others));
    if (d->final != d->initial) /* the same tensor carries the state in place */
        NN_TRY(dvk__nn_check_alias("final", d->final, "initial", d->initial, false));
    if (n > UINT32_MAX || M * n > UINT32_MAX)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED,
                             "%s: %llu elements, at most 2^32 - 1", M * n > n ? "y" : "x",
                             (unsigned long long)(M > 1 ? M * n : n));

    const dvk_tensor *ts[TOKEN_SHIFT_BINDINGS] = {
        [TOKEN_SHIFT_BIND_X] = d->x,
        [TOKEN_SHIFT_BIND_MIX] = d->mix,
        [TOKEN_SHIFT_BIND_INITIAL] = init == TOKEN_SHIFT_INIT_FINAL ? NULL : d->initial,
        [TOKEN_SHIFT_BIND_Y] = d->y,
        [TOKEN_SHIFT_BIND_DELTA] = d->delta,
        [TOKEN_SHIFT_BIND_FINAL] = d->final,
    };
    uint32_t spec[TOKEN_SHIFT_SPECS] = {
        [TOKEN_SHIFT_SPEC_INIT] = init,
        [TOKEN_SHIFT_SPEC_HAS_DELTA] = d->delta != NULL,
        [TOKEN_SHIFT_SPEC_HAS_FINAL] = d->final != NULL,
    };
    static const uint32_t dt_spec[TOKEN_SHIFT_BINDINGS] = {
        [TOKEN_SHIFT_BIND_X] = TOKEN_SHIFT_SPEC_X_DT,
        [TOKEN_SHIFT_BIND_MIX] = TOKEN_SHIFT_SPEC_MIX_DT,
        [TOKEN_SHIFT_BIND_INITIAL] = TOKEN_SHIFT_SPEC_INIT_DT,
        [TOKEN_SHIFT_BIND_Y] = TOKEN_SHIFT_SPEC_Y_DT,
        [TOKEN_SHIFT_BIND_DELTA] = TOKEN_SHIFT_SPEC_DELTA_DT,
        [TOKEN_SHIFT_BIND_FINAL] = TOKEN_SHIFT_SPEC_FINAL_DT,
    };
    for (uint32_t i = 0; i < TOKEN_SHIFT_BINDINGS; ++i)
        spec[dt_spec[i]] = ts[i] ? dvk__nn_dt(dvk_tensor_dtype(ts[i])) : DVK_DT_F32;
    const dvk_kernel *k;
    NN_TRY(dvk__nn_kernel(ctx,
                          dvk__nn_variant(DVK_NN_K_TOKEN_SHIFT_TOKEN_SHIFT_F32,
                                DVK_NN_K_TOKEN_SHIFT_TOKEN_SHIFT_ANY, ts, TOKEN_SHIFT_BINDINGS),
                          TOKEN_SHIFT_BINDINGS, sizeof(token_shift_push), TOKEN_SHIFT_SPECS, spec,
                          &k));
    const token_shift_push pc = {.n = (uint32_t)n, .c = (uint32_t)C, .t = (uint32_t)T,
                                 .m = (uint32_t)M};
    dvk_dispatch_desc dd = {
        .kernel = k,
        .write_mask = 1u << TOKEN_SHIFT_BIND_Y | 1u << TOKEN_SHIFT_BIND_DELTA |
                      1u << TOKEN_SHIFT_BIND_FINAL,
        .push = &pc,
    };
    for (uint32_t i = 0; i < TOKEN_SHIFT_BINDINGS; ++i)
        dd.tensors[i] = ts[i];
    /* An absent output's binding gets an output that is present (written anyway), not the
     * shared dummy buffer: the kernel declares it writable, and the validation layer's
     * synchronization checks would see the dummy as written and other dispatches' reads of it
     * as hazards. */
    const dvk_tensor *present = d->y ? d->y : d->delta;
    for (uint32_t i = TOKEN_SHIFT_BIND_Y; i <= TOKEN_SHIFT_BIND_FINAL; ++i)
        if (!dd.tensors[i])
            dd.tensors[i] = present;
    NN_TRY(dvk__nn_grid(ctx, n, TOKEN_SHIFT_LOCAL, dd.groups));
    return dvk_cmd_dispatch(cmd, &dd);
}
