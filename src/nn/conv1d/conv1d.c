/* dvk_conv1d: convolution over time, channels last (shaders/nn/conv1d/): the depthwise
 * kernel for groups = Cin = Cout, the implicit-GEMM kernel otherwise (then a small kernel moves
 * the carried state). */
#include "nn/nn.h"

#include "shaders/nn/conv1d/conv1d.h"

static dvk_status check_3d(const char *name, const dvk_tensor *t, uint64_t d0, uint64_t d1,
                           uint64_t d2)
{
    if (dvk_tensor_ndim(t) == 3 && dvk_tensor_dim(t, 0) == d0 && dvk_tensor_dim(t, 1) == d1 &&
        dvk_tensor_dim(t, 2) == d2)
        return DVK_SUCCESS;
    char a[96];
    return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "%s: shape %s, expected [%llu,%llu,%llu]", name,
                         dvk__nn_shape_str(t, a, sizeof a), (unsigned long long)d0,
                         (unsigned long long)d1, (unsigned long long)d2);
}

static dvk_status check_numel(const char *name, const dvk_tensor *t)
{
    if (!t || dvk_tensor_numel(t) <= UINT32_MAX)
        return DVK_SUCCESS;
    return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "%s: %llu elements, at most 2^32 - 1", name,
                         (unsigned long long)dvk_tensor_numel(t));
}

dvk_status dvk_conv1d(dvk_cmd *cmd, const dvk_conv1d_desc *d)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    NN_TRY(dvk__nn_check_float(ctx, "x", d->x));
    NN_TRY(dvk__nn_check_float(ctx, "weight", d->weight));
    NN_TRY(dvk__nn_check_float(ctx, "y", d->y));
    char a[96];
    if (dvk_tensor_ndim(d->x) != 3)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "x: shape %s, expected [B,T,Cin]",
                             dvk__nn_shape_str(d->x, a, sizeof a));
    if (dvk_tensor_ndim(d->weight) != 3)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                             "weight: shape %s, expected [Cout,Cin/groups,W]",
                             dvk__nn_shape_str(d->weight, a, sizeof a));
    const uint64_t B = dvk_tensor_dim(d->x, 0), T = dvk_tensor_dim(d->x, 1),
                   Cin = dvk_tensor_dim(d->x, 2), Cout = dvk_tensor_dim(d->weight, 0),
                   W = dvk_tensor_dim(d->weight, 2);
    const uint64_t G = d->groups ? d->groups : 1;
    if (Cin % G || Cout % G)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "groups %llu must divide Cin (%llu) and Cout (%llu)",
                             (unsigned long long)G, (unsigned long long)Cin,
                             (unsigned long long)Cout);
    NN_TRY(check_3d("weight", d->weight, Cout, Cin / G, W));
    NN_TRY(check_3d("y", d->y, B, T, Cout));
    if (d->bias) {
        NN_TRY(dvk__nn_check_float(ctx, "bias", d->bias));
        if (dvk_tensor_ndim(d->bias) != 1 || dvk_tensor_dim(d->bias, 0) != Cout)
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "bias: shape %s, expected [%llu]",
                                 dvk__nn_shape_str(d->bias, a, sizeof a), (unsigned long long)Cout);
    }
    if (d->padding != DVK_CONV_CAUSAL && d->padding != DVK_CONV_SAME)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "padding %d is not a dvk_conv_padding",
                             (int)d->padding);
    uint32_t act;
    NN_TRY(dvk__nn_act_code("act", d->act, DVK_ACT_IDENTITY, &act));
    uint32_t init = CONV1D_INIT_ZERO;
    if (d->initial_state || d->final_state) {
        if (d->padding != DVK_CONV_CAUSAL)
            return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                                 "initial_state/final_state: only causal padding carries a state");
        if (W == 1)
            return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                                 "initial_state/final_state: a kernel of width 1 carries no state");
    }
    if (d->final_state) {
        NN_TRY(dvk__nn_check_float(ctx, "final_state", d->final_state));
        NN_TRY(check_3d("final_state", d->final_state, B, W - 1, Cin));
    }
    if (d->initial_state) {
        NN_TRY(dvk__nn_check_float(ctx, "initial_state", d->initial_state));
        NN_TRY(check_3d("initial_state", d->initial_state, B, W - 1, Cin));
        init = d->initial_state == d->final_state ? CONV1D_INIT_FINAL : CONV1D_INIT_BOUND;
    }
    /* y apart from every input and the state; final_state apart from the inputs, or
     * initial_state itself (the state carried in place) */
    const char *const names[] = {"x", "weight", "bias", "initial_state", "final_state"};
    const dvk_tensor *const others[] = {d->x, d->weight, d->bias, d->initial_state,
                                        d->final_state};
    NN_TRY(dvk__nn_check_apart("y", d->y, 5, names, others));
    NN_TRY(dvk__nn_check_apart("final_state", d->final_state, 3, names, others));
    if (d->final_state != d->initial_state)
        NN_TRY(dvk__nn_check_alias("final_state", d->final_state, "initial_state",
                                   d->initial_state, false));
    NN_TRY(check_numel("x", d->x));
    NN_TRY(check_numel("y", d->y));
    NN_TRY(check_numel("weight", d->weight));
    NN_TRY(check_numel("initial_state", d->initial_state));
    NN_TRY(check_numel("final_state", d->final_state));

    const bool depthwise = G == Cin && Cin == Cout && W <= CONV1D_DW_MAX_W;
    const dvk_tensor *ts[CONV1D_BINDINGS] = {
        [CONV1D_BIND_X] = d->x,
        [CONV1D_BIND_W] = d->weight,
        [CONV1D_BIND_BIAS] = d->bias,
        [CONV1D_BIND_Y] = d->y,
        [CONV1D_BIND_INITIAL] = init == CONV1D_INIT_BOUND ? d->initial_state : NULL,
        /* the state kernel (or the depthwise kernel) writes it; in place it is also read */
        [CONV1D_BIND_FINAL] = d->final_state,
    };
    const uint32_t dt_of[CONV1D_BINDINGS] = {
        [CONV1D_BIND_X] = CONV1D_SPEC_X_DT,         [CONV1D_BIND_W] = CONV1D_SPEC_W_DT,
        [CONV1D_BIND_BIAS] = CONV1D_SPEC_BIAS_DT,   [CONV1D_BIND_Y] = CONV1D_SPEC_Y_DT,
        [CONV1D_BIND_INITIAL] = CONV1D_SPEC_INIT_DT, [CONV1D_BIND_FINAL] = CONV1D_SPEC_FINAL_DT,
    };
    const dvk_device_info *info = dvk_context_device_info(ctx);
    uint32_t spec[CONV1D_SPECS] = {
        [CONV1D_SPEC_KW] = (uint32_t)W,
        [CONV1D_SPEC_INIT] = init,
        [CONV1D_SPEC_HAS_BIAS] = d->bias != NULL,
        [CONV1D_SPEC_HAS_FINAL] = d->final_state != NULL,
        [CONV1D_SPEC_ACT] = act,
    };
    for (uint32_t i = 0; i < CONV1D_BINDINGS; ++i)
        spec[dt_of[i]] = ts[i] ? dvk__nn_dt(dvk_tensor_dtype(ts[i])) : DVK_DT_F32;
    conv1d_push pc = {
        .b = (uint32_t)B,
        .t = (uint32_t)T,
        .cin = (uint32_t)Cin,
        .cout = (uint32_t)Cout,
        .cg = (uint32_t)(Cin / G),
        .og = (uint32_t)(Cout / G),
        .pad = (uint32_t)(d->padding == DVK_CONV_CAUSAL ? W - 1 : (W - 1) / 2),
    };
    const dvk_kernel *k;
    dvk_dispatch_desc dd = {.push = &pc};
    for (uint32_t i = 0; i < CONV1D_BINDINGS; ++i)
        dd.tensors[i] = ts[i];

    if (depthwise) {
        const uint64_t tiles = (T + CONV1D_DW_TILE - 1) / CONV1D_DW_TILE, items = B * tiles * Cin;
        if (items > UINT32_MAX)
            return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "x: %llu work items, at most 2^32 - 1",
                                 (unsigned long long)items);
        pc.items = (uint32_t)items;
        pc.ntiles = (uint32_t)tiles;
        NN_TRY(dvk__nn_kernel(ctx,
                              dvk__nn_variant(DVK_NN_K_CONV1D_CONV1D_DW_F32,
                                              DVK_NN_K_CONV1D_CONV1D_DW_ANY, ts, CONV1D_BINDINGS),
                              CONV1D_BINDINGS, sizeof pc, CONV1D_SPECS, spec, &k));
        dd.kernel = k;
        dd.write_mask = 1u << CONV1D_BIND_Y | 1u << CONV1D_BIND_FINAL;
        /* The kernel declares the state writable: with none, bind y there (written anyway)
         * rather than the shared dummy buffer, which other dispatches may read. */
        if (!d->final_state)
            dd.tensors[CONV1D_BIND_FINAL] = d->y;
        NN_TRY(dvk__nn_grid(ctx, items, CONV1D_DW_LOCAL, dd.groups));
        return dvk_cmd_dispatch(cmd, &dd);
    }

    /* The product: tiles of BM tokens x BN channels of a group. In place the state is read
     * from the final binding; out of place that binding waits for the state kernel. */
    const uint64_t mtiles = (B * T + CONV1D_BM - 1) / CONV1D_BM,
                   ntiles = (Cout / G + CONV1D_BN - 1) / CONV1D_BN;
    if (mtiles > info->max_workgroup_count[0] || G * ntiles > info->max_workgroup_count[1])
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED,
                             "x: %llu tokens x %llu channel tiles exceed one dispatch's workgroups",
                             (unsigned long long)(B * T), (unsigned long long)(G * ntiles));
    pc.ntiles = (uint32_t)ntiles;
    NN_TRY(dvk__nn_kernel(ctx,
                          dvk__nn_variant(DVK_NN_K_CONV1D_CONV1D_GEMM_F32,
                                          DVK_NN_K_CONV1D_CONV1D_GEMM_ANY, ts, CONV1D_BINDINGS),
                          CONV1D_BINDINGS, sizeof pc, CONV1D_SPECS, spec, &k));
    dd.kernel = k;
    dd.write_mask = 1u << CONV1D_BIND_Y;
    if (init != CONV1D_INIT_FINAL)
        dd.tensors[CONV1D_BIND_FINAL] = NULL;
    dd.groups[0] = (uint32_t)mtiles;
    dd.groups[1] = (uint32_t)(G * ntiles);
    NN_TRY(dvk_cmd_dispatch(cmd, &dd));
    if (!d->final_state)
        return DVK_SUCCESS;

    /* The state, after the product has read the old one (deltavk orders the two: this
     * dispatch writes what that one read). */
    pc.items = (uint32_t)(B * Cin);
    NN_TRY(dvk__nn_kernel(ctx,
                          dvk__nn_variant(DVK_NN_K_CONV1D_CONV1D_STATE_F32,
                                DVK_NN_K_CONV1D_CONV1D_STATE_ANY, ts, CONV1D_BINDINGS),
                          CONV1D_BINDINGS, sizeof pc, CONV1D_SPECS, spec, &k));
    dvk_dispatch_desc ds = {.kernel = k, .write_mask = 1u << CONV1D_BIND_FINAL, .push = &pc};
    ds.tensors[CONV1D_BIND_X] = d->x;
    ds.tensors[CONV1D_BIND_INITIAL] = ts[CONV1D_BIND_INITIAL];
    ds.tensors[CONV1D_BIND_FINAL] = d->final_state;
    NN_TRY(dvk__nn_grid(ctx, pc.items, CONV1D_STATE_LOCAL, ds.groups));
    return dvk_cmd_dispatch(cmd, &ds);
}
