/* Host side of the rotary embedding (shaders/ops/rope/rope.comp): the cos/sin tables, computed
 * in double and split by angle addition (every 64th position, and 64 offsets:
 * ROPE_LO_POSITIONS), then one elementwise dispatch. See deltavk.h. */
#include "ops/rope/rope.h"

#include "ops/common/alias.h"
#include "ops/rope/rope_freq.h"

#include "shaders/ops/rope/rope.h"

#include <math.h>
#include <string.h>

dvk_status dvk__rope_tables(dvk_cmd *cmd, const dvk__rope *r, dvk__rope_tab *tab)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    const uint32_t half = r->rotary_dim / 2 ? r->rotary_dim / 2 : 1;
    const uint32_t step = ROPE_LO_POSITIONS;
    const uint32_t p_hi0 = r->offset / step, p_hi1 = (r->offset + r->T - 1) / step;
    const uint32_t n_hi = p_hi1 - p_hi0 + 1;
    const size_t hi_floats = (size_t)2 * n_hi * half, lo_floats = (size_t)2 * step * half;
    float *hi = dvk__alloc(&ctx->alloc, sizeof(float) * hi_floats);
    float *lo = dvk__alloc(&ctx->alloc, sizeof(float) * lo_floats);
    if (!hi || !lo) {
        dvk__free(&ctx->alloc, hi);
        dvk__free(&ctx->alloc, lo);
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (uint32_t i = 0; i < r->rotary_dim / 2; ++i) {
        const double f = dvk__rope_freq(r->theta, (int)r->rotary_dim, (int)i);
        for (uint32_t P = 0; P < n_hi; ++P) {
            const double a = (double)step * (double)(p_hi0 + P) * f;
            hi[2 * ((size_t)P * half + i)] = (float)cos(a);
            hi[2 * ((size_t)P * half + i) + 1] = (float)sin(a);
        }
        for (uint32_t p = 0; p < step; ++p) {
            lo[2 * ((size_t)p * half + i)] = (float)cos(p * f);
            lo[2 * ((size_t)p * half + i) + 1] = (float)sin(p * f);
        }
    }
    dvk_status st = dvk__cmd_upload_scratch(cmd, hi, sizeof(float) * hi_floats, &tab->hi);
    if (st == DVK_SUCCESS)
        st = dvk__cmd_upload_scratch(cmd, lo, sizeof(float) * lo_floats, &tab->lo);
    dvk__free(&ctx->alloc, hi);
    dvk__free(&ctx->alloc, lo);
    tab->p_hi0 = p_hi0;
    return st;
}

dvk_status dvk__record_rope_with(dvk_cmd *cmd, const dvk__rope *r, const dvk__rope_tab *tab)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    const dvk_pipeline_key key = {
        .kernel = r->dtype == DVK_DTYPE_F16 ? DVK_OPS_K_ROPE_ROPE_F16 : DVK_OPS_K_ROPE_ROPE_F32,
        .binding_count = ROPE_BINDINGS,
        .push_size = sizeof(rope_push),
        .spec_count = ROPE_SPECS,
        .spec = {[ROPE_SPEC_D] = r->D, [ROPE_SPEC_RD] = r->rotary_dim},
    };
    const dvk_pipeline *pipe;
    DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
    const uint64_t rows = (uint64_t)r->B * r->T * r->H;
    const uint64_t items = rows * ((r->D + 1) / 2);
    const uint64_t groups = dvk__ceil_div(items, ROPE_LOCAL);
    const uint32_t gx = (uint32_t)(groups < 65535 ? groups : 65535);
    const uint32_t gy = (uint32_t)dvk__ceil_div(groups, gx);
    const dvk_binding b[ROPE_BINDINGS] = {
        [ROPE_BIND_X] = r->x,
        [ROPE_BIND_Y] = r->y,
        [ROPE_BIND_HI] = tab->hi,
        [ROPE_BIND_LO] = tab->lo,
    };
    const rope_push pc = {
        .rows = (uint32_t)rows,
        .T = r->T,
        .H = r->H,
        .offset = r->offset,
        .p_hi0 = tab->p_hi0,
        .scale = r->scale,
    };
    return dvk__cmd_dispatch(cmd, pipe, b, &pc, gx, gy, 1);
}

dvk_status dvk__record_rope(dvk_cmd *cmd, const dvk__rope *r)
{
    dvk__rope_tab tab;
    DVK_TRY(dvk__rope_tables(cmd, r, &tab));
    return dvk__record_rope_with(cmd, r, &tab);
}

dvk_status dvk_rope(dvk_cmd *cmd, const dvk_rope_desc *d)
{
    DVK_TRY(dvk__cmd_check_recording(cmd));
    if (!d)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "desc is NULL");
    const dvk_context *ctx = dvk__cmd_context(cmd);
    const uint64_t any = UINT64_MAX;
    DVK_TRY(dvk__check_tensor(ctx, "x", d->x, 4, (uint64_t[]){any, any, any, any},
                              DVK_DTYPE_DEFAULT));
    DVK_TRY(dvk__check_tensor(ctx, "y", d->y, 4, d->x->shape, d->x->dtype));
    /* in place, or apart: a y that overlaps x otherwise rotates pairs already rotated */
    const dvk__alias_in in[] = {{"x", d->x}};
    const dvk__alias_out out[] = {{"y", d->y, d->x}};
    DVK_TRY(dvk__check_aliasing(in, 1, out, 1));
    const uint64_t *s = d->x->shape;
    if (s[0] * s[1] * s[2] * ((s[3] + 1) / 2) > UINT32_MAX || s[3] > 65536)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "x is too large for one dispatch");
    dvk__rope r = {
        .B = (uint32_t)s[0], .T = (uint32_t)s[1], .H = (uint32_t)s[2], .D = (uint32_t)s[3],
        .dtype = d->x->dtype,
    };
    r.rotary_dim = d->rotary_dim ? d->rotary_dim : r.D - r.D % 2;
    if (r.rotary_dim % 2 || r.rotary_dim > r.D)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "rotary_dim %u must be even and <= D = %u",
                         d->rotary_dim, r.D);
    if (d->offset < 0 || (uint64_t)d->offset + r.T > DVK_ROPE_MAX_POSITIONS)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "offset %d must be in [0, 2^30 - T]",
                         (int)d->offset);
    if (!isfinite(d->theta) || d->theta < 0.0f || !isfinite(d->scale))
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "theta and scale must be finite, theta >= 0");
    if (r.dtype == DVK_DTYPE_F16 && !ctx->info.fp16_storage)
        return dvk__fail(DVK_ERROR_UNSUPPORTED_DTYPE,
                         "fp16 tensors need storageBuffer16BitAccess, which %s lacks",
                         ctx->info.name);
    r.theta = d->theta != 0.0f ? d->theta : 10000.0f;
    r.scale = d->scale != 0.0f ? d->scale : 1.0f;
    r.offset = (uint32_t)d->offset;
    r.x = dvk__bind_read(d->x);
    r.y = dvk__bind_write(d->y);
    return dvk__record_rope(cmd, &r);
}
