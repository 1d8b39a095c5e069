/* dvk_add, dvk_mul, dvk_lerp, dvk_gated_residual: elementwise arithmetic with a broadcast
 * operand (shaders/nn/elementwise/arith.comp). */
#include "nn/nn.h"

#include "shaders/nn/elementwise/arith.h"

/* One call of the kernel, y = op(a, b, c), with the public names of a, b and c for messages.
 * The broadcast operand is b for add and mul, c for lerp and gated_residual. */
typedef struct arith_call {
    uint32_t op, act;
    const dvk_tensor *a, *b, *c;
    dvk_tensor *y;
    const char *a_name, *b_name, *c_name;
} arith_call;

static dvk_status record_arith(dvk_cmd *cmd, dvk_context *ctx, const arith_call *k)
{
    const bool ternary = k->op == ARITH_OP_LERP || k->op == ARITH_OP_GATED;
    NN_TRY(dvk__nn_check_float(ctx, k->a_name, k->a));
    NN_TRY(dvk__nn_check_float(ctx, k->b_name, k->b));
    if (ternary)
        NN_TRY(dvk__nn_check_float(ctx, k->c_name, k->c));
    NN_TRY(dvk__nn_check_float(ctx, "y", k->y));
    NN_TRY(dvk__nn_check_same_shape("y", k->y, k->a_name, k->a));
    /* The operand read at i mod its count: b of add and mul, c of the ternary ops. */
    if (ternary) {
        NN_TRY(dvk__nn_check_same_shape(k->b_name, k->b, k->a_name, k->a));
        NN_TRY(dvk__nn_check_broadcast(k->c_name, k->c, "y", k->y));
    } else {
        NN_TRY(dvk__nn_check_broadcast(k->b_name, k->b, "y", k->y));
    }
    NN_TRY(dvk__nn_check_alias("y", k->y, k->a_name, k->a, true));
    NN_TRY(dvk__nn_check_alias("y", k->y, k->b_name, k->b, true));
    NN_TRY(dvk__nn_check_alias("y", k->y, k->c_name, ternary ? k->c : NULL, true));
    const uint64_t n = dvk_tensor_numel(k->y);
    if (n > UINT32_MAX)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "y: %llu elements, at most 2^32 - 1",
                             (unsigned long long)n);
    const uint64_t nb = dvk_tensor_numel(k->b), nc = ternary ? dvk_tensor_numel(k->c) : 0;

    const dvk_device_info *info = dvk_context_device_info(ctx);
    const uint32_t wg = info->max_workgroup_invocations < 256 ? 128 : 256;
    const dvk_tensor *ts[ARITH_BINDINGS] = {
        [ARITH_BIND_A] = k->a,
        [ARITH_BIND_B] = k->b,
        [ARITH_BIND_C] = ternary ? k->c : NULL,
        [ARITH_BIND_Y] = k->y,
    };
    const uint32_t spec[ARITH_SPECS] = {
        [ARITH_SPEC_WG] = wg,
        [ARITH_SPEC_OP] = k->op,
        [ARITH_SPEC_ACT] = k->act,
        [ARITH_SPEC_A_DT] = dvk__nn_dt(dvk_tensor_dtype(k->a)),
        [ARITH_SPEC_B_DT] = dvk__nn_dt(dvk_tensor_dtype(k->b)),
        [ARITH_SPEC_C_DT] = ternary ? dvk__nn_dt(dvk_tensor_dtype(k->c)) : 0,
        [ARITH_SPEC_Y_DT] = dvk__nn_dt(dvk_tensor_dtype(k->y)),
        [ARITH_SPEC_B_WRAP] = nb != n,
        [ARITH_SPEC_C_WRAP] = ternary && nc != n,
    };
    const dvk_kernel *kern;
    NN_TRY(dvk__nn_kernel(ctx,
                          dvk__nn_variant(DVK_NN_K_ELEMENTWISE_ARITH_F32,
                                          DVK_NN_K_ELEMENTWISE_ARITH_ANY, ts, ARITH_BINDINGS),
                          ARITH_BINDINGS, sizeof(arith_push), ARITH_SPECS, spec, &kern));
    const arith_push pc = {.n = (uint32_t)n, .nb = (uint32_t)nb, .nc = (uint32_t)nc};
    dvk_dispatch_desc dd = {.kernel = kern, .write_mask = 1u << ARITH_BIND_Y, .push = &pc};
    for (uint32_t i = 0; i < ARITH_BINDINGS; ++i)
        dd.tensors[i] = ts[i];
    NN_TRY(dvk__nn_grid(ctx, n, wg, dd.groups));
    return dvk_cmd_dispatch(cmd, &dd);
}

static dvk_status binary(dvk_cmd *cmd, const dvk_binary_desc *d, uint32_t op)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    const arith_call k = {.op = op, .a = d->a, .b = d->b, .y = d->y, .a_name = "a",
                          .b_name = "b", .c_name = "c"};
    return record_arith(cmd, ctx, &k);
}

dvk_status dvk_add(dvk_cmd *cmd, const dvk_binary_desc *desc)
{
    return binary(cmd, desc, ARITH_OP_ADD);
}

dvk_status dvk_mul(dvk_cmd *cmd, const dvk_binary_desc *desc)
{
    return binary(cmd, desc, ARITH_OP_MUL);
}

dvk_status dvk_lerp(dvk_cmd *cmd, const dvk_lerp_desc *d)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    const arith_call k = {.op = ARITH_OP_LERP, .a = d->a, .b = d->b, .c = d->weight, .y = d->y,
                          .a_name = "a", .b_name = "b", .c_name = "weight"};
    return record_arith(cmd, ctx, &k);
}

dvk_status dvk_gated_residual(dvk_cmd *cmd, const dvk_gated_residual_desc *d)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    uint32_t act;
    NN_TRY(dvk__nn_act_code("act", d->act, DVK_ACT_SIGMOID, &act));
    const arith_call k = {.op = ARITH_OP_GATED, .act = act, .a = d->residual, .b = d->x,
                          .c = d->gate, .y = d->y, .a_name = "residual", .b_name = "x",
                          .c_name = "gate"};
    return record_arith(cmd, ctx, &k);
}
