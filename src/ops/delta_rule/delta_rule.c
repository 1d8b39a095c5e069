/* Host side of the delta rule and the gated delta rule: argument checks, the choice of kernel
 * variant from the device's limits, and the dispatches. Kernels: shaders/delta_rule/. */
#include "core/internal.h"

#include <math.h>
#include <string.h>

/* Everything the kernels need to know, after validation. */
typedef struct delta_problem {
    uint32_t B, T, H, HV, K, V, N;
    dvk_dtype dtype;
    float scale;
    bool gated;
} delta_problem;

static dvk_status validate(dvk_cmd *cmd, const dvk_delta_rule_desc *d, bool gated,
                           delta_problem *p)
{
    DVK_TRY(dvk__cmd_check_recording(cmd));
    if (!d)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "desc is NULL");
    const dvk_context *ctx = dvk__cmd_context(cmd);
    const uint64_t any = UINT64_MAX;
    DVK_TRY(dvk__check_tensor(ctx, "q", d->q, 4, (uint64_t[]){any, any, any, any},
                              DVK_DTYPE_DEFAULT));
    memset(p, 0, sizeof *p);
    p->B = (uint32_t)d->q->shape[0];
    p->T = (uint32_t)d->q->shape[1];
    p->H = (uint32_t)d->q->shape[2];
    p->K = (uint32_t)d->q->shape[3];
    p->dtype = d->q->dtype;
    p->gated = gated;
    if (d->q->shape[0] > UINT32_MAX || d->q->shape[1] > UINT32_MAX || d->q->shape[2] > UINT32_MAX)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "q: dimensions exceed 2^32");
    DVK_TRY(dvk__check_tensor(ctx, "k", d->k, 4, d->q->shape, p->dtype));
    DVK_TRY(dvk__check_tensor(ctx, "v", d->v, 4, (uint64_t[]){p->B, p->T, any, any}, p->dtype));
    p->HV = (uint32_t)d->v->shape[2];
    p->V = (uint32_t)d->v->shape[3];
    if (p->K < 1 || p->K > 256 || p->V < 1 || p->V > 256)
        return dvk__fail(DVK_ERROR_UNSUPPORTED, "K = %u and V = %u must be in [1, 256]", p->K,
                         p->V);
    if (p->HV % p->H != 0)
        return dvk__fail(DVK_ERROR_SHAPE_MISMATCH,
                         "v has %u heads, not a multiple of the %u heads of q and k", p->HV,
                         p->H);
    DVK_TRY(dvk__check_tensor(ctx, "beta", d->beta, 3, (uint64_t[]){p->B, p->T, p->HV},
                              p->dtype));
    DVK_TRY(dvk__check_tensor(ctx, "o", d->o, 4, d->v->shape, p->dtype));
    if (gated)
        DVK_TRY(dvk__check_tensor(ctx, "g", d->g, 3, (uint64_t[]){p->B, p->T, p->HV}, p->dtype));
    else if (d->g)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "g is set: use dvk_gated_delta_rule for the gated rule");
    if (p->dtype == DVK_DTYPE_F16 && !ctx->info.fp16_storage)
        return dvk__fail(DVK_ERROR_UNSUPPORTED_DTYPE,
                         "fp16 tensors need storageBuffer16BitAccess, which %s lacks",
                         ctx->info.name);

    p->N = p->B;
    if (d->cu_seqlens) {
        if (p->B != 1)
            return dvk__fail(DVK_ERROR_SHAPE_MISMATCH,
                             "with cu_seqlens the batch dimension must be 1 (it is %u)", p->B);
        if (d->num_seqs < 1)
            return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "cu_seqlens given with num_seqs = 0");
        if (d->cu_seqlens[0] != 0 || (uint32_t)d->cu_seqlens[d->num_seqs] != p->T)
            return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                             "cu_seqlens must start at 0 and end at T = %u (got %d .. %d)", p->T,
                             d->cu_seqlens[0], d->cu_seqlens[d->num_seqs]);
        for (uint32_t i = 0; i < d->num_seqs; ++i)
            if (d->cu_seqlens[i + 1] < d->cu_seqlens[i])
                return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                                 "cu_seqlens decreases at index %u (%d > %d)", i + 1,
                                 d->cu_seqlens[i], d->cu_seqlens[i + 1]);
        p->N = d->num_seqs;
    } else if (d->num_seqs) {
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "num_seqs is set but cu_seqlens is NULL");
    }
    const uint64_t state_shape[4] = {p->N, p->HV, p->K, p->V};
    if (d->initial_state)
        DVK_TRY(dvk__check_tensor(ctx, "initial_state", d->initial_state, 4, state_shape,
                                  DVK_DTYPE_F32));
    if (d->final_state)
        DVK_TRY(dvk__check_tensor(ctx, "final_state", d->final_state, 4, state_shape,
                                  DVK_DTYPE_F32));
    if (!isfinite(d->scale))
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "scale is not finite");
    p->scale = d->scale != 0.0f ? d->scale : 1.0f / sqrtf((float)p->K);
    if (d->mode != DVK_MODE_DEFAULT && d->mode != DVK_MODE_RECURRENT && d->mode != DVK_MODE_CHUNK)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "unknown mode %d", (int)d->mode);
    return DVK_SUCCESS;
}

/* ---- recurrent kernel ----------------------------------------------------------------------- */

/* SPIR-V variants of the recurrent kernel, by [fp16 io][subgroup reduction]. Pipeline keys
 * keep the name pointer, so these are static strings. */
static const char *const recurrent_kernels[2][2] = {
    {"delta_rule/recurrent_f32_sh", "delta_rule/recurrent_f32_sg"},
    {"delta_rule/recurrent_f16_sh", "delta_rule/recurrent_f16_sg"},
};

typedef struct recurrent_plan {
    uint32_t KS, BV, TB, WG;
    bool subgroup;
} recurrent_plan;

/* Sizes the recurrent kernel for this device: each column's state split over KS invocations
 * so that each holds at most 32 rows in registers, 64–128 invocations per workgroup, and as
 * many tokens staged in shared memory as fit. */
static dvk_status plan_recurrent(const dvk_context *ctx, const delta_problem *p,
                                 recurrent_plan *plan)
{
    const dvk_device_info *info = &ctx->info;
    const uint32_t wg_max = dvk__min_u32(dvk__min_u32(128, info->max_workgroup_invocations),
                                         info->max_workgroup_size[0]);
    uint32_t ks = dvk__next_pow2((p->K + 31) / 32);
    uint32_t bv = dvk__min_u32(dvk__next_pow2(p->V), dvk__max_u32(1, wg_max / ks));
    /* Few heads and long sequences: narrower tiles give more workgroups to run in parallel. */
    while (bv > 8 && (uint64_t)p->N * p->HV * dvk__ceil_div(p->V, bv) < 512)
        bv /= 2;
    /* Tiny V: put more invocations on each column rather than leave the workgroup tiny. */
    while (bv * ks < 32 && ks < dvk__next_pow2(p->K) && ks < 32 && bv * ks * 2 <= wg_max)
        ks *= 2;
    plan->KS = ks;
    plan->BV = bv;
    plan->WG = ks * bv;

    plan->subgroup = info->subgroup_shuffle && ks <= info->min_subgroup_size &&
                     dvk__spirv_available(recurrent_kernels[p->dtype == DVK_DTYPE_F16][1]);

    const uint32_t kp = dvk__ceil_div(p->K, ks) * ks;
    const uint32_t per_token = 4 * (2 * kp + 2 * bv + 4);
    const uint32_t fixed = plan->subgroup ? 0 : 4 * plan->WG;
    if (info->max_shared_memory < fixed + per_token)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                         "delta rule: K = %u needs %u bytes of shared memory; the device has %u",
                         p->K, fixed + per_token, info->max_shared_memory);
    plan->TB = dvk__min_u32(32, (info->max_shared_memory - fixed) / per_token);
    return DVK_SUCCESS;
}

typedef struct recurrent_push {
    uint32_t T, H, HV;
    float scale;
} recurrent_push;

static dvk_status record_recurrent(dvk_cmd *cmd, const dvk_delta_rule_desc *d,
                                   const delta_problem *p)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    recurrent_plan plan = {0};
    DVK_TRY(plan_recurrent(ctx, p, &plan));

    dvk_pipeline_key key = {
        .spirv_name = recurrent_kernels[p->dtype == DVK_DTYPE_F16][plan.subgroup],
        .binding_count = 9,
        .push_size = sizeof(recurrent_push),
        .spec_count = 11,
        .spec = {p->K, p->V, plan.BV, plan.KS, plan.TB, p->gated, d->initial_state != NULL,
                 d->final_state != NULL, d->cu_seqlens != NULL, d->l2norm_qk, plan.WG},
    };
    const dvk_pipeline *pipe;
    DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));

    dvk_binding cu = dvk__bind_dummy(cmd);
    if (d->cu_seqlens)
        DVK_TRY(dvk__cmd_upload_scratch(cmd, d->cu_seqlens, sizeof(int32_t) * (p->N + 1), &cu));
    const dvk_binding none = dvk__bind_dummy(cmd);
    const dvk_binding b[9] = {
        dvk__bind_read(d->q),
        dvk__bind_read(d->k),
        dvk__bind_read(d->v),
        dvk__bind_read(d->beta),
        p->gated ? dvk__bind_read(d->g) : none,
        d->initial_state ? dvk__bind_read(d->initial_state) : none,
        d->final_state ? dvk__bind_write(d->final_state) : none,
        dvk__bind_write(d->o),
        cu,
    };
    const recurrent_push push = {p->T, p->H, p->HV, p->scale};
    return dvk__cmd_dispatch(cmd, pipe, b, &push, (uint32_t)dvk__ceil_div(p->V, plan.BV), p->HV,
                             p->N);
}

/* ---- entry points --------------------------------------------------------------------------- */

static dvk_status delta_rule_common(dvk_cmd *cmd, const dvk_delta_rule_desc *d, bool gated)
{
    delta_problem p;
    DVK_TRY(validate(cmd, d, gated, &p));
    if (d->mode == DVK_MODE_CHUNK)
        return dvk__fail(DVK_ERROR_UNSUPPORTED, "chunked mode is not implemented yet");
    return record_recurrent(cmd, d, &p);
}

dvk_status dvk_delta_rule(dvk_cmd *cmd, const dvk_delta_rule_desc *desc)
{
    return delta_rule_common(cmd, desc, false);
}

dvk_status dvk_gated_delta_rule(dvk_cmd *cmd, const dvk_delta_rule_desc *desc)
{
    return delta_rule_common(cmd, desc, true);
}
