/* Shared checks and kernel lookup of the nn level (see nn.h). */
#include "nn/nn.h"

#include "shaders/common/interface.h"
#include "shaders/nn/common/act.h"

#include <stdio.h>

dvk_status dvk__nn_begin(const dvk_cmd *cmd, const void *desc, dvk_context **out_ctx)
{
    if (!cmd)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "cmd is NULL");
    if (!desc)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "desc is NULL");
    *out_ctx = dvk_cmd_context(cmd);
    return DVK_SUCCESS;
}

uint32_t dvk__nn_dt(dvk_dtype dtype)
{
    switch (dtype) {
    case DVK_DTYPE_F16:
        return DVK_DT_F16;
    case DVK_DTYPE_BF16:
        return DVK_DT_BF16;
    case DVK_DTYPE_I32:
        return DVK_DT_I32;
    default:
        return DVK_DT_F32;
    }
}

bool dvk__nn_is_float(dvk_dtype dtype)
{
    return dtype == DVK_DTYPE_F32 || dtype == DVK_DTYPE_F16 || dtype == DVK_DTYPE_BF16;
}

const char *dvk__nn_shape_str(const dvk_tensor *t, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (uint32_t i = 0; i < dvk_tensor_ndim(t) && n < len; ++i)
        n += (size_t)snprintf(buf + n, len - n, "%s%llu", i ? "," : "",
                              (unsigned long long)dvk_tensor_dim(t, i));
    if (n < len)
        snprintf(buf + n, len - n, "]");
    return buf;
}

static dvk_status check_present(dvk_context *ctx, const char *name, const dvk_tensor *t)
{
    if (!t)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", name);
    if (dvk_tensor_context(t) != ctx)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s belongs to another context", name);
    return DVK_SUCCESS;
}

dvk_status dvk__nn_check_float(dvk_context *ctx, const char *name, const dvk_tensor *t)
{
    NN_TRY(check_present(ctx, name, t));
    const dvk_dtype dt = dvk_tensor_dtype(t);
    if (!dvk__nn_is_float(dt))
        return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE, "%s: dtype %s, expected f32, f16 or bf16",
                             name, dvk_dtype_name(dt));
    if (dt != DVK_DTYPE_F32 && !dvk_context_device_info(ctx)->fp16_storage)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE,
                             "%s: %s tensors need storageBuffer16BitAccess, which %s lacks", name,
                             dvk_dtype_name(dt), dvk_context_device_info(ctx)->name);
    return DVK_SUCCESS;
}

dvk_status dvk__nn_check_i32(dvk_context *ctx, const char *name, const dvk_tensor *t)
{
    NN_TRY(check_present(ctx, name, t));
    if (dvk_tensor_dtype(t) != DVK_DTYPE_I32)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE, "%s: dtype %s, expected i32", name,
                             dvk_dtype_name(dvk_tensor_dtype(t)));
    return DVK_SUCCESS;
}

dvk_status dvk__nn_check_same_shape(const char *name, const dvk_tensor *t, const char *like_name,
                                    const dvk_tensor *like)
{
    bool same = dvk_tensor_ndim(t) == dvk_tensor_ndim(like);
    for (uint32_t i = 0; same && i < dvk_tensor_ndim(t); ++i)
        same = dvk_tensor_dim(t, i) == dvk_tensor_dim(like, i);
    if (same)
        return DVK_SUCCESS;
    char a[96], b[96];
    return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "%s: shape %s, expected %s's %s", name,
                         dvk__nn_shape_str(t, a, sizeof a), like_name,
                         dvk__nn_shape_str(like, b, sizeof b));
}

dvk_status dvk__nn_check_broadcast(const char *name, const dvk_tensor *b, const char *y_name,
                                   const dvk_tensor *y)
{
    uint32_t nb = dvk_tensor_ndim(b);
    while (nb > 0 && dvk_tensor_dim(b, dvk_tensor_ndim(b) - nb) == 1)
        --nb; /* leading 1s */
    const uint32_t ny = dvk_tensor_ndim(y), lead = dvk_tensor_ndim(b) - nb;
    bool ok = nb <= ny;
    for (uint32_t i = 0; ok && i < nb; ++i)
        ok = dvk_tensor_dim(b, lead + i) == dvk_tensor_dim(y, ny - nb + i);
    if (ok)
        return DVK_SUCCESS;
    char a[96], c[96];
    return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                         "%s: shape %s does not broadcast against %s %s (it must equal %s's "
                         "trailing dimensions)",
                         name, dvk__nn_shape_str(b, a, sizeof a), y_name,
                         dvk__nn_shape_str(y, c, sizeof c), y_name);
}

dvk_status dvk__nn_check_alias(const char *y_name, const dvk_tensor *y, const char *x_name,
                               const dvk_tensor *x, bool same_ok)
{
    if (!x || !y)
        return DVK_SUCCESS;
    VkBuffer bx, by;
    VkDeviceSize ox, oy;
    dvk_tensor_vk_buffer(x, &bx, &ox);
    dvk_tensor_vk_buffer(y, &by, &oy);
    const uint64_t sx = dvk_tensor_numel(x) * dvk_dtype_size(dvk_tensor_dtype(x));
    const uint64_t sy = dvk_tensor_numel(y) * dvk_dtype_size(dvk_tensor_dtype(y));
    if (bx != by || ox + sx <= oy || oy + sy <= ox)
        return DVK_SUCCESS;
    if (same_ok && ox == oy && sx == sy)
        return DVK_SUCCESS;
    return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s overlaps %s%s", y_name, x_name,
                         same_ok ? " without being the same tensor" : "");
}

dvk_status dvk__nn_check_apart(const char *y_name, const dvk_tensor *y, uint32_t n,
                               const char *const *names, const dvk_tensor *const *xs)
{
    for (uint32_t i = 0; i < n; ++i)
        NN_TRY(dvk__nn_check_alias(y_name, y, names[i], xs[i], false));
    return DVK_SUCCESS;
}

void dvk__nn_rows_cols(const dvk_tensor *t, uint64_t *rows, uint64_t *cols)
{
    const uint32_t nd = dvk_tensor_ndim(t);
    *cols = nd ? dvk_tensor_dim(t, nd - 1) : 1;
    *rows = dvk_tensor_numel(t) / *cols;
}

bool dvk__nn_kernel_available(dvk_nn_kernel id)
{
    return id > DVK_NN_K_NONE && id < DVK_NN_K_COUNT &&
           (dvk_nn_kernel_table[id].code || dvk_nn_kernel_table[id].code_khr);
}

dvk_status dvk__nn_kernel(dvk_context *ctx, dvk_nn_kernel id, uint32_t binding_count,
                          uint32_t push_size, uint32_t spec_count, const uint32_t *spec,
                          const dvk_kernel **out)
{
    if (id <= DVK_NN_K_NONE || id >= DVK_NN_K_COUNT)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "nn kernel id %d out of range", (int)id);
    const dvk_nn_kernel_blob *b = &dvk_nn_kernel_table[id];
    /* A cooperative-matrix kernel: its build for the context's extension and subgroups. */
    const dvk_device_info *info = dvk_context_device_info(ctx);
    const bool khr = b->coopmat && info->cooperative_matrix_path == DVK_COOPMAT_KHR;
    const uint32_t *code = khr ? b->code_khr : b->code;
    if (!code)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED,
                             "kernel %s%s is not in this build (its GLSL compiler lacked an "
                             "extension)",
                             b->name, khr ? " (KHR cooperative matrices)" : "");
    const dvk_kernel_desc kd = {
        .name = b->name,
        .spirv = code,
        .spirv_size = khr ? b->size_khr : b->size,
        .binding_count = binding_count,
        .push_size = push_size,
        .spec_count = spec_count,
        .spec = spec,
        .required_subgroup_size = b->coopmat ? info->cooperative_matrix_subgroup_size : 0,
    };
    return dvk_kernel_get(ctx, &kd, out);
}

dvk_status dvk__nn_grid(dvk_context *ctx, uint64_t items, uint32_t local, uint32_t groups[3])
{
    const uint32_t *max = dvk_context_device_info(ctx)->max_workgroup_count;
    const uint64_t n = (items + local - 1) / local;
    const uint64_t gx = n < max[0] ? n : max[0];
    const uint64_t gy = gx ? (n + gx - 1) / gx : 0;
    if (gy > max[1])
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED,
                             "%llu work items exceed what one dispatch can cover",
                             (unsigned long long)items);
    groups[0] = (uint32_t)gx;
    groups[1] = (uint32_t)(gy ? gy : 1);
    groups[2] = 1;
    return DVK_SUCCESS;
}

dvk_nn_kernel dvk__nn_variant(dvk_nn_kernel f32_id, dvk_nn_kernel any_id,
                              const dvk_tensor *const *ts, uint32_t n)
{
    for (uint32_t i = 0; i < n; ++i)
        if (ts[i] && dvk_dtype_size(dvk_tensor_dtype(ts[i])) == 2)
            return any_id;
    return f32_id;
}

/* The shader's codes are deltavk_nn.h's enum values. */
_Static_assert(DVK_ACT_CODE_IDENTITY == DVK_ACT_IDENTITY && DVK_ACT_CODE_GELU == DVK_ACT_GELU &&
                   DVK_ACT_CODE_GELU_TANH == DVK_ACT_GELU_TANH &&
                   DVK_ACT_CODE_SILU == DVK_ACT_SILU && DVK_ACT_CODE_RELU == DVK_ACT_RELU &&
                   DVK_ACT_CODE_RELU_SQUARED == DVK_ACT_RELU_SQUARED &&
                   DVK_ACT_CODE_SIGMOID == DVK_ACT_SIGMOID && DVK_ACT_CODE_TANH == DVK_ACT_TANH &&
                   DVK_ACT_CODE_SOFTPLUS == DVK_ACT_SOFTPLUS && DVK_ACT_CODE_ELU1 == DVK_ACT_ELU1 &&
                   DVK_ACT_CODE_LOGSIGMOID == DVK_ACT_LOGSIGMOID &&
                   DVK_ACT_CODE_EXP == DVK_ACT_EXP && DVK_ACT_COUNT_ == 13,
               "act.h codes must equal dvk_act");

static const char *const act_names[DVK_ACT_COUNT_] = {
    "default", "identity", "gelu", "gelu_tanh", "silu", "relu", "relu_squared",
    "sigmoid", "tanh", "softplus", "elu1", "logsigmoid", "exp",
};

const char *dvk_act_name(dvk_act act)
{
    return act >= 0 && act < DVK_ACT_COUNT_ ? act_names[act] : "invalid";
}

dvk_status dvk__nn_act_code(const char *what, dvk_act act, dvk_act def, uint32_t *code)
{
    if (act == DVK_ACT_DEFAULT)
        act = def;
    if (act <= DVK_ACT_DEFAULT || act >= DVK_ACT_COUNT_)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s: activation %d is not a dvk_act",
                             what, (int)act);
    *code = (uint32_t)act;
    return DVK_SUCCESS;
}
