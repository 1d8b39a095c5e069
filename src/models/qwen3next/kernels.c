/* Host side of the Gated DeltaNet layer's kernel of the models level
 * (shaders/models/qwen3next/prepare.comp): the split of the conv's output into q, k, v and the
 * gates β and g, in one dispatch where building blocks would take a copy per part and four
 * elementwise passes. */
#include "models/qwen3next/qwen3next.h"

#include "deltavk_models_kernels.h" /* generated: DVK_MODELS_K_* */
#include "shaders/models/qwen3next/qwen3next.h"

dvk_status dvk__qwen3next_prepare(dvk_cmd *cmd, const qwen3next_prepare_args *p)
{
    dvk_context *ctx = dvk_cmd_context(cmd);
    const dvk_models_kernel_blob *b = &dvk_models_kernel_table[DVK_MODELS_K_QWEN3NEXT_PREPARE_F32];
    if (!b->code)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED, "kernel %s is not in this build", b->name);
    const dvk_kernel_desc kd = {.name = b->name, .spirv = b->code, .spirv_size = b->size,
                                .binding_count = QWEN3NEXT_PREP_BINDINGS,
                                .push_size = sizeof(qwen3next_prep_push)};
    const dvk_kernel *k;
    MD_TRY(dvk_kernel_get(ctx, &kd, &k));
    const uint64_t total = (uint64_t)p->rows * (p->conv_dim + p->hv);
    const uint64_t groups = (total + QWEN3NEXT_LOCAL - 1) / QWEN3NEXT_LOCAL;
    const uint32_t *max = dvk_context_device_info(ctx)->max_workgroup_count;
    const uint64_t gx = groups < max[0] ? groups : max[0], gy = gx ? (groups + gx - 1) / gx : 0;
    if (total > UINT32_MAX || gy > max[1])
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED,
                             "qwen3_next_gdn: %u tokens of %u channels are too many for one "
                             "dispatch (2^32 - 1 elements)",
                             p->rows, p->conv_dim + p->hv);
    qwen3next_prep_push pc = {.rows = p->rows, .key_dim = p->key_dim, .conv_dim = p->conv_dim,
                              .hv = p->hv, .total = (uint32_t)total};
    const dvk_dispatch_desc d = {
        .kernel = k,
        .tensors = {[QWEN3NEXT_PREP_BIND_C] = p->c, [QWEN3NEXT_PREP_BIND_BA] = p->ba,
                    [QWEN3NEXT_PREP_BIND_NEG_A] = p->neg_a,
                    [QWEN3NEXT_PREP_BIND_DT_BIAS] = p->dt_bias, [QWEN3NEXT_PREP_BIND_Q] = p->q,
                    [QWEN3NEXT_PREP_BIND_K] = p->k, [QWEN3NEXT_PREP_BIND_V] = p->v,
                    [QWEN3NEXT_PREP_BIND_BETA] = p->beta, [QWEN3NEXT_PREP_BIND_G] = p->g},
        .write_mask = 1u << QWEN3NEXT_PREP_BIND_Q | 1u << QWEN3NEXT_PREP_BIND_K |
                      1u << QWEN3NEXT_PREP_BIND_V | 1u << QWEN3NEXT_PREP_BIND_BETA |
                      1u << QWEN3NEXT_PREP_BIND_G,
        .groups = {(uint32_t)gx, (uint32_t)gy, 1},
        .push = &pc,
    };
    return dvk_cmd_dispatch(cmd, &d);
}
