/* The L2-normalisation pre-pass of the chunked forms (l2norm.h). */
#include "ops/common/l2norm.h"

#include "ops/common/binding.h"

dvk_status dvk__record_l2norm(dvk_cmd *cmd, const dvk__rec *r, const dvk_tensor *t,
                              dvk_binding *out)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    DVK_TRY(dvk__cmd_scratch(cmd, t->bytes, out));
    const dvk_pipeline_key key = {
        .kernel = r->dtype == DVK_DTYPE_F16 ? DVK_OPS_K_DELTA_RULE_L2NORM_F16 : DVK_OPS_K_DELTA_RULE_L2NORM_F32,
        .binding_count = 2,
        .push_size = sizeof(uint32_t),
        .spec_count = 1,
        .spec = {r->K},
    };
    const dvk_pipeline *pipe;
    DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
    const uint32_t rows = (uint32_t)(t->numel / r->K);
    const uint32_t gx = dvk__min_u32(rows, 65535), gy = (uint32_t)dvk__ceil_div(rows, gx);
    const dvk_binding b[2] = {dvk__bind_read(t), *out};
    DVK_TRY(dvk__cmd_dispatch(cmd, pipe, b, &rows, gx, gy, 1));
    *out = dvk__as_input(*out);
    return DVK_SUCCESS;
}
