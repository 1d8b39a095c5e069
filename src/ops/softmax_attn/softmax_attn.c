/* Host side of causal softmax attention inside segments (shaders/ops/softmax_attn/): argument
 * checks, the block sizes that fit the device, one dispatch. See deltavk.h. */
#include "ops/softmax_attn/softmax_attn.h"

#include "ops/common/alias.h"
#include "ops/common/device_fit.h"

#include "shaders/ops/softmax_attn/softmax_attn.h"

#include <math.h>
#include <string.h>

static const dvk_ops_kernel kernels[2] = {DVK_OPS_K_SOFTMAX_ATTN_SOFTMAX_ATTN_F32,
                                          DVK_OPS_K_SOFTMAX_ATTN_SOFTMAX_ATTN_F16};

/* softmax_attn_cpu.comp (CPU devices: one subgroup per workgroup, one query per lane) */
static const dvk_ops_kernel cpu_kernels[2] = {DVK_OPS_K_SOFTMAX_ATTN_SOFTMAX_ATTN_CPU_F32,
                                              DVK_OPS_K_SOFTMAX_ATTN_SOFTMAX_ATTN_CPU_F16};

typedef struct plan {
    uint32_t BQ, BK, WG, GN, DS;
} plan;

static uint32_t shared_bytes(uint32_t D, uint32_t DV, const plan *p)
{
    const uint32_t dp = (D + p->DS - 1) / p->DS * p->DS;
    const uint32_t dvp = (DV + p->GN - 1) / p->GN * p->GN;
    const uint32_t x = p->BK * (p->DS + 1) > p->BK * dvp ? p->BK * (p->DS + 1) : p->BK * dvp;
    return 4 * (p->BQ * (dp + 1) + x + p->BQ * (p->BK + 1) + 3 * p->BQ);
}

static dvk_status make_plan(const dvk_context *ctx, uint32_t D, uint32_t DV, plan *out)
{
    const dvk_device_info *info = &ctx->info;
    const uint32_t wg_limit = dvk__workgroup_limit(info, 256);
    /* the widest workgroup, then the most queries per block, then the longest key blocks;
     * small devices end up with narrow grids (GN = 8) and blocks of 4 queries */
    for (uint32_t wg = 256; wg >= 32; wg /= 2) {
        if (wg > wg_limit)
            continue;
        for (uint32_t gn = 16; gn >= 8; gn /= 2)
            for (uint32_t bq = 32; bq >= 4; bq /= 2) {
                if (bq < wg / gn || bq > wg)
                    continue;
                for (uint32_t bk = 32; bk >= gn; bk /= 2) {
                    const plan p = {bq, bk, wg, gn, D <= 16 ? 16 : 32};
                    if (shared_bytes(D, DV, &p) <= info->max_shared_memory) {
                        *out = p;
                        return DVK_SUCCESS;
                    }
                }
            }
    }
    return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                     "softmax attention: D = %u, DV = %u do not fit %u bytes of shared memory", D,
                     DV, info->max_shared_memory);
}

dvk_status dvk__record_softmax_attn(dvk_cmd *cmd, const dvk__softmax_attn *a)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    plan p = {0};
    const dvk_ops_kernel cpu_kernel = cpu_kernels[a->dtype == DVK_DTYPE_F16];
    const uint32_t lanes = dvk__cpu_lanes(ctx, cpu_kernel);
    if (lanes) /* blocks of one query per lane; the other sizes are unused */
        p = (plan){.BQ = lanes, .BK = lanes, .WG = lanes, .GN = 1, .DS = 1};
    else
        DVK_TRY(make_plan(ctx, a->D, a->DV, &p));
    const dvk_pipeline_key key = {
        .kernel = lanes ? cpu_kernel : kernels[a->dtype == DVK_DTYPE_F16],
        .binding_count = SOFTMAX_ATTN_BINDINGS,
        .push_size = sizeof(softmax_attn_push),
        .spec_count = SOFTMAX_ATTN_SPECS,
        .spec = {
            [SOFTMAX_ATTN_SPEC_D] = a->D,
            [SOFTMAX_ATTN_SPEC_DV] = a->DV,
            [SOFTMAX_ATTN_SPEC_BQ] = p.BQ,
            [SOFTMAX_ATTN_SPEC_BK] = p.BK,
            [SOFTMAX_ATTN_SPEC_WG] = p.WG,
            [SOFTMAX_ATTN_SPEC_GN] = p.GN,
            [SOFTMAX_ATTN_SPEC_DS] = p.DS,
        },
    };
    const dvk_pipeline *pipe;
    DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
    const dvk_binding b[SOFTMAX_ATTN_BINDINGS] = {
        [SOFTMAX_ATTN_BIND_Q] = a->q,
        [SOFTMAX_ATTN_BIND_K] = a->k,
        [SOFTMAX_ATTN_BIND_V] = a->v,
        [SOFTMAX_ATTN_BIND_O] = a->o,
    };
    const softmax_attn_push pc = {.T = a->T, .H = a->H, .segment = a->segment, .scale = a->scale};
    return dvk__cmd_dispatch(cmd, pipe, b, &pc, (uint32_t)dvk__ceil_div(a->T, p.BQ), a->H, a->B);
}

dvk_status dvk_softmax_attn(dvk_cmd *cmd, const dvk_softmax_attn_desc *d)
{
    DVK_TRY(dvk__cmd_check_recording(cmd));
    if (!d)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "desc is NULL");
    const dvk_context *ctx = dvk__cmd_context(cmd);
    const uint64_t any = UINT64_MAX;
    DVK_TRY(dvk__check_tensor(ctx, "q", d->q, 4, (uint64_t[]){any, any, any, any},
                              DVK_DTYPE_DEFAULT));
    const uint64_t *s = d->q->shape;
    if (s[0] > 65535 || s[1] > UINT32_MAX || s[2] > 65535)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "q: batch and heads must be < 65536");
    dvk__softmax_attn a = {
        .B = (uint32_t)s[0], .T = (uint32_t)s[1], .H = (uint32_t)s[2], .D = (uint32_t)s[3],
        .dtype = d->q->dtype,
    };
    DVK_TRY(dvk__check_tensor(ctx, "k", d->k, 4, s, a.dtype));
    DVK_TRY(dvk__check_tensor(ctx, "v", d->v, 4, (uint64_t[]){a.B, a.T, a.H, any}, a.dtype));
    a.DV = (uint32_t)d->v->shape[3];
    DVK_TRY(dvk__check_tensor(ctx, "o", d->o, 4, d->v->shape, a.dtype));
    if (a.D > 256 || a.DV > 256)
        return dvk__fail(DVK_ERROR_UNSUPPORTED, "D = %u and DV = %u must be in [1, 256]", a.D,
                         a.DV);
    if (a.dtype == DVK_DTYPE_F16 && !ctx->info.fp16_storage)
        return dvk__fail(DVK_ERROR_UNSUPPORTED_DTYPE,
                         "fp16 tensors need storageBuffer16BitAccess, which %s lacks",
                         ctx->info.name);
    const dvk__alias_in in[] = {{"q", d->q}, {"k", d->k}, {"v", d->v}};
    const dvk__alias_out out[] = {{"o", d->o, NULL}};
    DVK_TRY(dvk__check_aliasing(in, 3, out, 1));
    if (!isfinite(d->scale))
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "scale is not finite");
    if ((uint64_t)dvk__ceil_div(a.T, 8) > 0xFFFFFFFFu)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "T is too long");
    a.scale = d->scale != 0.0f ? d->scale : 1.0f / sqrtf((float)a.D);
    a.segment = d->segment && d->segment < a.T ? d->segment : a.T;
    a.q = dvk__bind_read(d->q);
    a.k = dvk__bind_read(d->k);
    a.v = dvk__bind_read(d->v);
    a.o = dvk__bind_write(d->o);
    return dvk__record_softmax_attn(cmd, &a);
}
