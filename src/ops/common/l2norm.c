/* The L2-normalisation pre-pass of the chunked forms (l2norm.h). */
#include "ops/common/l2norm.h"

#include "ops/common/binding.h"

#include "shaders/ops/delta_rule/l2norm.h"

dvk_status dvk__record_l2norm(dvk_cmd *cmd, const dvk__rec *r, const dvk_tensor *t,
                              dvk_binding *out)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    DVK_TRY(dvk__cmd_scratch(cmd, t->bytes, out));
    const dvk_pipeline_key key = {
        .kernel = r->dtype == DVK_DTYPE_F16 ? DVK_OPS_K_DELTA_RULE_L2NORM_F16
                                            : DVK_OPS_K_DELTA_RULE_L2NORM_F32,
        .binding_count = DELTA_RULE_L2NORM_BINDINGS,
        .push_size = sizeof(delta_rule_l2norm_push),
        .spec_count = DELTA_RULE_L2NORM_SPECS,
        .spec = {[DELTA_RULE_L2NORM_SPEC_D] = r->K},
    };
    const dvk_pipeline *pipe;
    DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
    /* one workgroup per row, on a grid of at most 65535 columns */
    const delta_rule_l2norm_push push = {.rows = (uint32_t)(t->numel / r->K)};
    const uint32_t gx = dvk__min_u32(push.rows, 65535);
    const uint32_t gy = (uint32_t)dvk__ceil_div(push.rows, gx);
    const dvk_binding b[DELTA_RULE_L2NORM_BINDINGS] = {
        [DELTA_RULE_L2NORM_BIND_X] = dvk__bind_read(t),
        [DELTA_RULE_L2NORM_BIND_Y] = *out,
    };
    DVK_TRY(dvk__cmd_dispatch(cmd, pipe, b, &push, gx, gy, 1));
    *out = dvk__as_input(*out);
    return DVK_SUCCESS;
}
