/* Host side of RWKV-7's two kernels of the models level (shaders/models/rwkv7/): the glue before
 * and after dvk_rwkv7 in one dispatch each, instead of nine and six building blocks. Private to
 * deltavk_models (rwkv7.h); tests/models/test_rwkv7_kernels.c checks them against a C
 * reference on odd sizes. */
#include "models/rwkv7/rwkv7.h"

#include "deltavk_models_kernels.h" /* generated: DVK_MODELS_K_* */
#include "shaders/models/rwkv7/rwkv7.h"

#include <math.h>

static dvk_status kernel(dvk_context *ctx, dvk_models_kernel id, uint32_t bindings,
                         uint32_t push_size, uint32_t spec_count, const uint32_t *spec,
                         const dvk_kernel **out)
{
    const dvk_models_kernel_blob *b = &dvk_models_kernel_table[id];
    if (!b->code)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED, "kernel %s is not in this build", b->name);
    const dvk_kernel_desc kd = {.name = b->name, .spirv = b->code, .spirv_size = b->size,
                                .binding_count = bindings, .push_size = push_size,
                                .spec_count = spec_count, .spec = spec};
    return dvk_kernel_get(ctx, &kd, out);
}

/* rows = numel / n, each an fp32 [.., N] tensor of rows·N elements; one workgroup per row. */
static dvk_status rows_of(dvk_context *ctx, const dvk_tensor *t, uint32_t n, uint32_t *rows,
                          uint32_t groups[3])
{
    const uint64_t numel = dvk_tensor_numel(t);
    if (n == 0 || n > RWKV7_LOCAL * RWKV7_MAX_PER || numel % n || numel > UINT32_MAX)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED,
                             "rwkv7 kernels: %llu elements in rows of %u (rows of at most %u, "
                             "2^32 - 1 elements)",
                             (unsigned long long)numel, n, RWKV7_LOCAL * RWKV7_MAX_PER);
    const uint64_t r = numel / n;
    const uint32_t *max = dvk_context_device_info(ctx)->max_workgroup_count;
    const uint64_t gx = r < max[0] ? r : max[0], gy = (r + gx - 1) / gx;
    if (gy > max[1])
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "rwkv7 kernels: %llu rows",
                             (unsigned long long)r);
    *rows = (uint32_t)r;
    groups[0] = (uint32_t)gx;
    groups[1] = (uint32_t)gy;
    groups[2] = 1;
    return DVK_SUCCESS;
}

dvk_status dvk__rwkv7_prepare(dvk_cmd *cmd, const rwkv7_prepare_args *p)
{
    dvk_context *ctx = dvk_cmd_context(cmd);
    const uint32_t spec[RWKV7_PREP_SPECS] = {[RWKV7_PREP_SPEC_VRES] = p->v != NULL};
    const dvk_kernel *k;
    MD_TRY(kernel(ctx, DVK_MODELS_K_RWKV7_PREPARE_F32, RWKV7_PREP_BINDINGS,
                  sizeof(rwkv7_prep_push), RWKV7_PREP_SPECS, spec, &k));
    rwkv7_prep_push pc = {.n = p->head_size, .heads = p->heads, .decay_scale = -expf(-0.5f)};
    dvk_dispatch_desc d = {
        .kernel = k,
        .tensors = {[RWKV7_PREP_BIND_K] = p->k, [RWKV7_PREP_BIND_W] = p->w,
                    [RWKV7_PREP_BIND_A] = p->alpha, [RWKV7_PREP_BIND_KAPPA] = p->kappa,
                    [RWKV7_PREP_BIND_V] = p->v, [RWKV7_PREP_BIND_VFIRST] = p->v_first,
                    [RWKV7_PREP_BIND_VGATE] = p->v_gate, [RWKV7_PREP_BIND_KK] = p->k_k,
                    [RWKV7_PREP_BIND_KA] = p->k_a},
        /* v is writable in the shader whether bound or not (the dummy then) */
        .write_mask = 1u << RWKV7_PREP_BIND_K | 1u << RWKV7_PREP_BIND_W |
                      1u << RWKV7_PREP_BIND_A | 1u << RWKV7_PREP_BIND_KAPPA |
                      1u << RWKV7_PREP_BIND_V,
        .push = &pc,
    };
    MD_TRY(rows_of(ctx, p->k, p->head_size, &pc.rows, d.groups));
    return dvk_cmd_dispatch(cmd, &d);
}

dvk_status dvk__rwkv7_output(dvk_cmd *cmd, const rwkv7_output_args *p)
{
    dvk_context *ctx = dvk_cmd_context(cmd);
    const dvk_kernel *k;
    MD_TRY(kernel(ctx, DVK_MODELS_K_RWKV7_OUTPUT_F32, RWKV7_OUT_BINDINGS, sizeof(rwkv7_out_push),
                  0, NULL, &k));
    rwkv7_out_push pc = {.n = p->head_size, .heads = p->heads, .eps = p->eps};
    dvk_dispatch_desc d = {
        .kernel = k,
        .tensors = {[RWKV7_OUT_BIND_O] = p->o, [RWKV7_OUT_BIND_R] = p->r,
                    [RWKV7_OUT_BIND_K] = p->k, [RWKV7_OUT_BIND_V] = p->v,
                    [RWKV7_OUT_BIND_G] = p->g, [RWKV7_OUT_BIND_RK] = p->r_k,
                    [RWKV7_OUT_BIND_LNW] = p->ln_w, [RWKV7_OUT_BIND_LNB] = p->ln_b},
        .write_mask = 1u << RWKV7_OUT_BIND_O,
        .push = &pc,
    };
    MD_TRY(rows_of(ctx, p->o, p->head_size, &pc.rows, d.groups));
    return dvk_cmd_dispatch(cmd, &d);
}
