/* What the device lets an operator's kernels plan for (device_fit.h). */
#include "ops/common/device_fit.h"

uint32_t dvk__workgroup_limit(const dvk_device_info *info, uint32_t cap)
{
    return dvk__min_u32(dvk__min_u32(cap, info->max_workgroup_invocations),
                        info->max_workgroup_size[0]);
}

bool dvk__coopmat_f16_usable(const dvk_context *ctx, const dvk__rec *r)
{
    const dvk_device_info *info = &ctx->info;
    return r->dtype == DVK_DTYPE_F16 && info->cooperative_matrix_path != DVK_COOPMAT_NONE &&
           r->K % 16 == 0 && r->V % 16 == 0 && dvk__workgroup_limit(info, 256) >= 256;
}

uint32_t dvk__cpu_lanes(const dvk_context *ctx, dvk_ops_kernel kernel)
{
    const dvk_device_info *hw = &ctx->caps.info;
    const bool ok = ctx->info.type == DVK_DEVICE_TYPE_CPU && ctx->info.subgroup_shuffle &&
                    ctx->caps.subgroup_add_shuffle &&
                    hw->min_subgroup_size == hw->max_subgroup_size && hw->subgroup_size >= 4 &&
                    hw->subgroup_size <= 64 &&
                    hw->subgroup_size <= dvk__workgroup_limit(&ctx->info, 1024) &&
                    dvk__kernel_available(kernel);
    return ok ? hw->subgroup_size : 0;
}

uint32_t dvk__cpu_columns(uint32_t K, uint32_t V)
{
    uint32_t cpl = 4;
    while (cpl > 1 && (V % cpl != 0 || K * cpl > 256))
        cpl /= 2;
    return cpl;
}

uint32_t dvk__subgroups_for(uint32_t blocks_a, uint32_t blocks_b, uint32_t most)
{
    for (uint32_t n = most; n > 1; n /= 2)
        if (blocks_a % n == 0 && blocks_b % n == 0)
            return n;
    return 1;
}
