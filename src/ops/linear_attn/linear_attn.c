/* Host side of normalised linear attention: argument checks, then token by token
 * (shaders/ops/linear_attn/recurrent.comp) or chunked in two passes (chunk_state.comp, sequential
 * over each sequence's chunks, after chunk_rho.comp when there are done flags; then
 * chunk_output.comp, or chunk_output_cm.comp on tensor cores, parallel over chunks). See
 * deltavk.h and docs/design.md. */
#include "ops/linear_attn/linear_attn.h"

#include "ops/common/alias.h"
#include "ops/common/binding.h"
#include "ops/common/device_fit.h"
#include "ops/common/state_carry.h"

#include "shaders/ops/linear_attn/chunk_output.h"
#include "shaders/ops/linear_attn/chunk_rho.h"
#include "shaders/ops/linear_attn/chunk_state.h"
#include "shaders/ops/linear_attn/normalizer.h"
#include "shaders/ops/linear_attn/recurrent.h"

#include <math.h>
#include <string.h>

static dvk_status validate(dvk_cmd *cmd, const dvk_linear_attn_desc *d, dvk__linear_attn *p)
{
    DVK_TRY(dvk__cmd_check_recording(cmd));
    if (!d)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "desc is NULL");
    const dvk_context *ctx = dvk__cmd_context(cmd);
    const uint64_t any = UINT64_MAX;
    DVK_TRY(dvk__rec_check_lead(ctx, "q", d->q));
    memset(p, 0, sizeof *p);
    dvk__rec *r = &p->r;
    r->B = (uint32_t)d->q->shape[0];
    r->T = (uint32_t)d->q->shape[1];
    r->H = r->HV = (uint32_t)d->q->shape[2];
    r->K = (uint32_t)d->q->shape[3];
    r->dtype = d->q->dtype;
    DVK_TRY(dvk__check_tensor(ctx, "k", d->k, 4, d->q->shape, r->dtype));
    DVK_TRY(dvk__check_tensor(ctx, "v", d->v, 4, (uint64_t[]){r->B, r->T, r->H, any}, r->dtype));
    r->V = (uint32_t)d->v->shape[3];
    DVK_TRY(dvk__check_tensor(ctx, "o", d->o, 4, d->v->shape, r->dtype));
    if (d->done)
        DVK_TRY(dvk__check_tensor(ctx, "done", d->done, 2, (uint64_t[]){r->B, r->T}, r->dtype));
    if (d->feature_map != DVK_FEATURE_IDENTITY && d->feature_map != DVK_FEATURE_ELU1)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "unknown feature_map %d",
                         (int)d->feature_map);
    if (!isfinite(d->eps) || d->eps < 0.0f)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "eps must be finite and >= 0 (got %g)",
                         (double)d->eps);
    r->mode = d->mode;
    r->chunk_size = d->chunk_size;
    r->cu_seqlens = d->cu_seqlens;
    r->q = d->q;
    r->k = d->k;
    r->v = d->v;
    r->o = d->o;
    r->h0 = d->initial_state;
    r->ht = d->final_state;
    DVK_TRY(dvk__rec_check(ctx, r, d->num_seqs, d->scale, 1.0f / sqrtf((float)r->K)));
    const uint64_t z_shape[3] = {r->N, r->H, r->K};
    if (d->initial_z)
        DVK_TRY(dvk__check_tensor(ctx, "initial_z", d->initial_z, 3, z_shape, DVK_DTYPE_F32));
    if (d->final_z)
        DVK_TRY(dvk__check_tensor(ctx, "final_z", d->final_z, 3, z_shape, DVK_DTYPE_F32));
    /* dvk__rec_check has checked the tensors of the state; the normaliser and done too */
    const dvk__alias_in in[] = {
        {"q", d->q}, {"k", d->k}, {"v", d->v}, {"done", d->done},
        {"initial_state", d->initial_state}, {"initial_z", d->initial_z},
    };
    const dvk__alias_out out[] = {{"o", d->o, NULL},
                                  {"final_state", d->final_state, d->initial_state},
                                  {"final_z", d->final_z, d->initial_z}};
    DVK_TRY(dvk__check_aliasing(in, sizeof in / sizeof in[0], out, sizeof out / sizeof out[0]));
    p->done = d->done;
    p->z0 = d->initial_z;
    p->zt = d->final_z;
    p->elu1 = d->feature_map == DVK_FEATURE_ELU1;
    p->normalize = d->normalize;
    p->eps = d->eps != 0.0f ? d->eps : 1e-6f;
    p->eps_add = d->eps_add;
    return DVK_SUCCESS;
}

/* The normaliser's carry: the same as the state's, with z [N,H,K] seen as [N,H,K,1]. */
static dvk_status z_carry_init(dvk_cmd *cmd, const dvk__linear_attn *p, uint32_t segments,
                               dvk__carry *c)
{
    dvk__rec zr = p->r;
    zr.V = 1;
    zr.h0 = p->z0;
    zr.ht = p->zt;
    return dvk__carry_init(cmd, &zr, segments, c);
}

/* ---- token by token -------------------------------------------------------------------------- */

static const dvk_ops_kernel recurrent_kernels[2][2] = {
    {DVK_OPS_K_LINEAR_ATTN_RECURRENT_F32_SH, DVK_OPS_K_LINEAR_ATTN_RECURRENT_F32_SG},
    {DVK_OPS_K_LINEAR_ATTN_RECURRENT_F16_SH, DVK_OPS_K_LINEAR_ATTN_RECURRENT_F16_SG},
};

/* recurrent_cpu.comp, by [fp16 io] */
static const dvk_ops_kernel recurrent_cpu_kernels[2] = {DVK_OPS_K_LINEAR_ATTN_RECURRENT_CPU_F32,
                                                        DVK_OPS_K_LINEAR_ATTN_RECURRENT_CPU_F16};

static dvk_status record_recurrent(dvk_cmd *cmd, const dvk__linear_attn *p)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    const dvk_device_info *info = &ctx->info;
    const dvk__rec *r = &p->r;
    /* each column over KS invocations holding at most 32 rows; narrower tiles for more
     * workgroups when few (sequence, head) pairs share the call */
    const uint32_t wg_max = dvk__workgroup_limit(info, 128);
    uint32_t ks = dvk__next_pow2((r->K + 31) / 32);
    uint32_t bv = dvk__min_u32(dvk__next_pow2(r->V), dvk__max_u32(1, wg_max / ks));
    while (bv > 8 && (uint64_t)r->N * r->H * dvk__ceil_div(r->V, bv) < 512)
        bv /= 2;
    while (bv * ks < 32 && ks < dvk__next_pow2(r->K) && ks < 32 && bv * ks * 2 <= wg_max)
        ks *= 2;
    /* CPU devices: recurrent_cpu.comp, one subgroup per workgroup, one column per lane */
    const dvk_ops_kernel cpu_kernel = recurrent_cpu_kernels[r->dtype == DVK_DTYPE_F16];
    const uint32_t lanes = dvk__cpu_lanes(ctx, cpu_kernel);
    if (lanes) { /* KS is the columns per lane there, as in the delta rule's CPU kernel */
        ks = dvk__cpu_columns(r->K, r->V);
        bv = lanes * ks;
    }
    const uint32_t wg = lanes ? lanes : bv * ks;
    const bool subgroup = info->subgroup_shuffle && ks <= info->min_subgroup_size &&
                          dvk__kernel_available(recurrent_kernels[r->dtype == DVK_DTYPE_F16][1]);
    const uint32_t kp = (uint32_t)dvk__ceil_div(r->K, ks) * ks;
    const uint32_t fixed = 4 * (subgroup ? 0 : wg);
    const uint32_t per_token = 4 * (2 * kp + 2 * bv + 1);
    if (info->max_shared_memory < fixed + per_token)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                         "linear attention: K = %u, V = %u need %u bytes of shared memory; the "
                         "device has %u",
                         r->K, r->V, fixed + per_token, info->max_shared_memory);
    const uint32_t tb = dvk__min_u32(32, (info->max_shared_memory - fixed) / per_token);

    const dvk_binding none = dvk__bind_dummy(cmd);
    dvk_binding cu = none;
    if (r->cu_seqlens)
        DVK_TRY(dvk__cmd_upload_scratch(cmd, r->cu_seqlens, sizeof(int32_t) * (r->N + 1), &cu));
    const uint32_t segments = (uint32_t)dvk__ceil_div(r->max_len, DVK__TOKENS_PER_DISPATCH);
    dvk__carry cs, cz;
    DVK_TRY(dvk__carry_init(cmd, r, segments, &cs));
    DVK_TRY(z_carry_init(cmd, p, segments, &cz));
    for (uint32_t i = 0; i < cs.segments; ++i) {
        dvk_binding s_in, s_out, z_in, z_out;
        bool use_s, store_s, use_z, store_z;
        dvk__carry_segment(&cs, i, &s_in, &use_s, &s_out, &store_s);
        dvk__carry_segment(&cz, i, &z_in, &use_z, &z_out, &store_z);
        const dvk_pipeline_key key = {
            .kernel = lanes ? cpu_kernel : recurrent_kernels[r->dtype == DVK_DTYPE_F16][subgroup],
            .binding_count = LINEAR_ATTN_RECURRENT_BINDINGS,
            .push_size = sizeof(linear_attn_recurrent_push),
            .spec_count = LINEAR_ATTN_RECURRENT_SPECS,
            .spec = {
                [LINEAR_ATTN_RECURRENT_SPEC_K] = r->K,
                [LINEAR_ATTN_RECURRENT_SPEC_V] = r->V,
                [LINEAR_ATTN_RECURRENT_SPEC_BV] = bv,
                [LINEAR_ATTN_RECURRENT_SPEC_KS] = ks,
                [LINEAR_ATTN_RECURRENT_SPEC_TB] = tb,
                [LINEAR_ATTN_RECURRENT_SPEC_USE_H0] = use_s,
                [LINEAR_ATTN_RECURRENT_SPEC_STORE_HT] = store_s,
                [LINEAR_ATTN_RECURRENT_SPEC_VARLEN] = r->cu_seqlens != NULL,
                [LINEAR_ATTN_RECURRENT_SPEC_WG] = wg,
                [LINEAR_ATTN_RECURRENT_SPEC_ELU1] = p->elu1,
                [LINEAR_ATTN_RECURRENT_SPEC_NORMALIZE] = p->normalize,
                [LINEAR_ATTN_RECURRENT_SPEC_EPS_ADD] = p->eps_add,
                [LINEAR_ATTN_RECURRENT_SPEC_USE_DONE] = p->done != NULL,
                [LINEAR_ATTN_RECURRENT_SPEC_USE_Z0] = use_z,
            },
        };
        const dvk_pipeline *pipe;
        DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
        const dvk_binding b[LINEAR_ATTN_RECURRENT_BINDINGS] = {
            [LINEAR_ATTN_RECURRENT_BIND_Q] = dvk__bind_read(r->q),
            [LINEAR_ATTN_RECURRENT_BIND_K] = dvk__bind_read(r->k),
            [LINEAR_ATTN_RECURRENT_BIND_V] = dvk__bind_read(r->v),
            [LINEAR_ATTN_RECURRENT_BIND_DONE] = p->done ? dvk__bind_read(p->done) : none,
            [LINEAR_ATTN_RECURRENT_BIND_H0] = s_in,
            [LINEAR_ATTN_RECURRENT_BIND_Z0] = z_in,
            [LINEAR_ATTN_RECURRENT_BIND_HT] = s_out,
            [LINEAR_ATTN_RECURRENT_BIND_O] = dvk__bind_write(r->o),
            [LINEAR_ATTN_RECURRENT_BIND_CU_SEQLENS] = cu,
        };
        const linear_attn_recurrent_push push = {
            .T = r->T,
            .H = r->H,
            .scale = r->scale,
            .eps = p->eps,
            .t_begin = i * DVK__TOKENS_PER_DISPATCH,
            .t_count = DVK__TOKENS_PER_DISPATCH,
        };
        DVK_TRY(dvk__cmd_dispatch(cmd, pipe, b, &push, (uint32_t)dvk__ceil_div(r->V, bv), r->H,
                                  r->N));
        if (!store_z)
            continue;
        /* the normaliser, after the kernel that read it */
        const uint32_t zwg = dvk__min_u32(dvk__next_pow2(r->K), wg_max);
        const dvk_pipeline_key zkey = {
            .kernel = r->dtype == DVK_DTYPE_F16 ? DVK_OPS_K_LINEAR_ATTN_NORMALIZER_F16
                                                : DVK_OPS_K_LINEAR_ATTN_NORMALIZER_F32,
            .binding_count = LINEAR_ATTN_NORMALIZER_BINDINGS,
            .push_size = sizeof(linear_attn_normalizer_push),
            .spec_count = LINEAR_ATTN_NORMALIZER_SPECS,
            .spec = {
                [LINEAR_ATTN_NORMALIZER_SPEC_K] = r->K,
                [LINEAR_ATTN_NORMALIZER_SPEC_VARLEN] = r->cu_seqlens != NULL,
                [LINEAR_ATTN_NORMALIZER_SPEC_WG] = zwg,
                [LINEAR_ATTN_NORMALIZER_SPEC_ELU1] = p->elu1,
                [LINEAR_ATTN_NORMALIZER_SPEC_USE_DONE] = p->done != NULL,
                [LINEAR_ATTN_NORMALIZER_SPEC_USE_Z0] = use_z,
            },
        };
        DVK_TRY(dvk__pipeline_get(ctx, &zkey, &pipe));
        const dvk_binding zb[LINEAR_ATTN_NORMALIZER_BINDINGS] = {
            [LINEAR_ATTN_NORMALIZER_BIND_K] = dvk__bind_read(r->k),
            [LINEAR_ATTN_NORMALIZER_BIND_DONE] = p->done ? dvk__bind_read(p->done) : none,
            [LINEAR_ATTN_NORMALIZER_BIND_Z0] = z_in,
            [LINEAR_ATTN_NORMALIZER_BIND_ZT] = z_out,
            [LINEAR_ATTN_NORMALIZER_BIND_CU_SEQLENS] = cu,
        };
        const linear_attn_normalizer_push zpush = {
            .T = r->T,
            .H = r->H,
            .t_begin = i * DVK__TOKENS_PER_DISPATCH,
            .t_count = DVK__TOKENS_PER_DISPATCH,
        };
        DVK_TRY(dvk__cmd_dispatch(cmd, pipe, zb, &zpush, r->H, r->N, 1));
    }
    return DVK_SUCCESS;
}

/* ---- chunked --------------------------------------------------------------------------------- */

enum { K_RHO, K_STATE, K_OUTPUT, K_COUNT };
/* [kernel][0 fp32, 1 fp16, 2 fp16 on cooperative matrices] */
static const dvk_ops_kernel chunk_kernels[K_COUNT][3] = {
    {DVK_OPS_K_LINEAR_ATTN_CHUNK_RHO_F32, DVK_OPS_K_LINEAR_ATTN_CHUNK_RHO_F16, DVK_OPS_K_NONE},
    {DVK_OPS_K_LINEAR_ATTN_CHUNK_STATE_F32, DVK_OPS_K_LINEAR_ATTN_CHUNK_STATE_F16, DVK_OPS_K_NONE},
    {DVK_OPS_K_LINEAR_ATTN_CHUNK_OUTPUT_F32, DVK_OPS_K_LINEAR_ATTN_CHUNK_OUTPUT_F16,
     DVK_OPS_K_LINEAR_ATTN_CHUNK_OUTPUT_CM_F16},
};

/* The output pass on cooperative matrices (chunk_output_cm.comp): fp16 tensors on a device
 * with the NV extension's fp16 blocks (dvk__coopmat_f16_usable). Returns false, leaving the FMA
 * kernel, when anything is missing. */
static bool plan_output_coopmat(const dvk_context *ctx, const dvk__rec *r, uint32_t chunk_size,
                                dvk__linear_attn_plan *pl)
{
    if (!dvk__coopmat_f16_usable(ctx, r) || !ctx->info.subgroup_arithmetic ||
        !dvk__kernel_available(chunk_kernels[K_OUTPUT][2]))
        return false; /* (subgroupMax: the largest magnitudes for the fp16 scaling) */
    /* Chunks of 32 by default: on the H100 (4 x 4096 x 16 heads, K = V = 128) the call took
     * 1.42 ms with chunks of 32 against 1.59 ms with 64 (state pass 0.45 / 0.41 ms, this pass
     * 0.96 / 1.16 ms). Slices of 32 key channels: 64 measured slower (fewer workgroups fit). */
    const uint32_t C = chunk_size ? chunk_size : 32, KT = 32;
    /* The widest value tile up to 64 that divides V and fits (Q'K'^T is computed once per
     * tile). 128 measured slower: 1.01 against 0.95 ms at 4 x 4096 x 16, K = V = 128, chunks
     * of 32 (177 registers per invocation against 117). */
    uint32_t BV = 0, wg = 0;
    for (uint32_t bv = 64; bv >= 16 && !BV; bv /= 2) {
        if (r->V % bv)
            continue;
        const uint32_t w = 32 * dvk__subgroups_for((C / 16) * (C / 16), (C / 16) * (bv / 16), 8);
        /* rows padded by 8 halves (fp16) or 4 floats against bank conflicts */
        const uint32_t bytes =
            2 * dvk__max_u32(2 * C * (KT + 8) + KT * (bv + 8), C * (C + 8) + C * (bv + 8)) +
            4 * (C * (dvk__max_u32(C, bv) + 4) + w / 32 + w + C * KT / 8 + 2 * C);
        if (w % C == 0 && bytes <= ctx->info.max_shared_memory)
            BV = bv, wg = w;
    }
    if (!BV)
        return false;
    pl->coopmat = true;
    pl->C = C;
    pl->KT = KT;
    pl->BV_out = BV;
    pl->WG_out = wg;
    return true;
}

/* Shared memory of chunk_output.comp, in bytes. */
static uint32_t output_bytes(uint32_t C, uint32_t KT, uint32_t BV)
{
    const uint32_t loop = 2 * C * (KT + 1) + KT * BV + KT;
    const uint32_t tail = C * (C + 1) + C * BV;
    return 4 * ((loop > tail ? loop : tail) + 2 * C + 256 + C * 16); /* + s_qz, s_psum */
}

/* The FMA output pass (chunk_output.comp): the chunk size and the largest tiles that fit the
 * device's shared memory, with wg invocations. Chunks of 32 by default: on the H100 (4 x 4096
 * x 16 heads, K = V = 128) the whole call took 2.68 / 2.28 / 8.53 ms with chunks of 16 / 32 /
 * 64; at 64 this pass (7.7 ms) is far slower than its arithmetic explains (docs/performance.md).
 * Leaves pl->C zero when nothing fits. */
static void plan_output_fma(const dvk_context *ctx, uint32_t chunk_size, uint32_t wg,
                            dvk__linear_attn_plan *pl)
{
    const uint32_t sizes[3] = {32, 16, 64}, gm = wg / 16;
    for (int s = 0; s < 3 && !pl->C; ++s) {
        const uint32_t C = chunk_size ? chunk_size : sizes[s];
        if (C < gm || wg < C) {
            if (chunk_size)
                break;
            continue;
        }
        for (uint32_t bvo = 64; bvo >= 16 && !pl->C; bvo /= 2)
            for (uint32_t kt = 32; kt >= 8 && !pl->C; kt /= 2)
                if (output_bytes(C, kt, bvo) <= ctx->info.max_shared_memory) {
                    pl->C = C;
                    pl->BV_out = bvo;
                    pl->KT = kt;
                    pl->WG_out = wg;
                }
        if (chunk_size)
            break;
    }
}

dvk_status dvk__linear_attn_make_plan(const dvk_context *ctx, const dvk__rec *r,
                                      uint32_t chunk_size, dvk__linear_attn_plan *pl)
{
    const dvk_device_info *info = &ctx->info;
    const uint32_t wg = dvk__floor_pow2(dvk__workgroup_limit(info, 256));
    memset(pl, 0, sizeof *pl);
    if (wg < 64)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                         "linear attention (chunked): needs 64 invocations per workgroup");
    pl->WG = wg;
    pl->GN = 16;
    const uint32_t gm = wg / 16;
    /* state pass: the tile [K x BV] in registers, at most 32 floats per invocation; BV
     * narrower when few (sequence, head) pairs would leave the GPU idle */
    const uint32_t kp = (uint32_t)dvk__ceil_div(r->K, 4 * gm) * 4 * gm; /* as the shader */
    uint32_t bv = 64;
    while (bv > 16 && (kp * bv / wg > 32 || (uint64_t)r->N * r->H * dvk__ceil_div(r->V, bv) < 256))
        bv /= 2;
    pl->BV_state = bv;
    pl->TB = 32;
    while (pl->TB > 2 && 4 * pl->TB * (kp + bv) > info->max_shared_memory)
        pl->TB /= 2;
    if (4 * pl->TB * (kp + bv) > info->max_shared_memory)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                         "linear attention (chunked): K = %u does not fit %u bytes of shared "
                         "memory", r->K, info->max_shared_memory);
    if (!plan_output_coopmat(ctx, r, chunk_size, pl))
        plan_output_fma(ctx, chunk_size, wg, pl);
    if (!pl->C)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                         "linear attention: no chunk size%s fits %u bytes of shared memory with "
                         "%u invocations per workgroup",
                         chunk_size ? " (as requested)" : "", info->max_shared_memory, wg);
    pl->TB = dvk__min_u32(pl->TB, pl->C); /* both powers of 2: TB divides C */
    return DVK_SUCCESS;
}

dvk_status dvk__linear_attn_record_state(dvk_cmd *cmd, const dvk__linear_attn *p,
                                         const dvk__linear_attn_plan *pl,
                                         const dvk__chunk_tables *tab, dvk_binding k,
                                         dvk_binding v, dvk_binding table, dvk_binding seq,
                                         const dvk_binding *hc, const dvk_binding *zc)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    const dvk__rec *r = &p->r;
    const dvk_binding none = dvk__bind_dummy(cmd);
    dvk_binding rho = none;
    if (p->done && tab->count) { /* each chunk's last reset, for the state pass */
        DVK_TRY(dvk__cmd_scratch(cmd, (uint64_t)tab->count * sizeof(int32_t), &rho));
        const dvk_pipeline_key rkey = {
            .kernel = chunk_kernels[K_RHO][r->dtype == DVK_DTYPE_F16],
            .binding_count = LINEAR_ATTN_CHUNK_RHO_BINDINGS,
            .push_size = sizeof(linear_attn_chunk_rho_push),
            .spec_count = LINEAR_ATTN_CHUNK_RHO_SPECS,
        };
        const dvk_pipeline *rpipe;
        DVK_TRY(dvk__pipeline_get(ctx, &rkey, &rpipe));
        const dvk_binding rb[LINEAR_ATTN_CHUNK_RHO_BINDINGS] = {
            [LINEAR_ATTN_CHUNK_RHO_BIND_DONE] = dvk__bind_read(p->done),
            [LINEAR_ATTN_CHUNK_RHO_BIND_TABLE] = table,
            [LINEAR_ATTN_CHUNK_RHO_BIND_RHO] = rho,
        };
        const linear_attn_chunk_rho_push rpush = {.chunks = tab->count};
        DVK_TRY(dvk__cmd_dispatch(
            cmd, rpipe, rb, &rpush,
            (uint32_t)dvk__ceil_div(tab->count, LINEAR_ATTN_CHUNK_RHO_LOCAL), 1, 1));
        rho = dvk__as_input(rho);
    }
    const uint32_t segments = (uint32_t)dvk__ceil_div(tab->max_chunks, DVK__CHUNKS_PER_DISPATCH);
    dvk__carry cs, cz;
    DVK_TRY(dvk__carry_init(cmd, r, segments, &cs));
    DVK_TRY(z_carry_init(cmd, p, segments, &cz));
    for (uint32_t i = 0; i < cs.segments; ++i) {
        dvk_binding s_in, s_out, z_in, z_out;
        bool use_s, store_s, use_z, store_z;
        dvk__carry_segment(&cs, i, &s_in, &use_s, &s_out, &store_s);
        dvk__carry_segment(&cz, i, &z_in, &use_z, &z_out, &store_z);
        const dvk_pipeline_key key = {
            .kernel = chunk_kernels[K_STATE][r->dtype == DVK_DTYPE_F16],
            .binding_count = LINEAR_ATTN_CHUNK_STATE_BINDINGS,
            .push_size = sizeof(linear_attn_chunk_state_push),
            .spec_count = LINEAR_ATTN_CHUNK_STATE_SPECS,
            .spec = {
                [LINEAR_ATTN_CHUNK_STATE_SPEC_C] = pl->C,
                [LINEAR_ATTN_CHUNK_STATE_SPEC_K] = r->K,
                [LINEAR_ATTN_CHUNK_STATE_SPEC_V] = r->V,
                [LINEAR_ATTN_CHUNK_STATE_SPEC_BV] = pl->BV_state,
                [LINEAR_ATTN_CHUNK_STATE_SPEC_TB] = pl->TB,
                [LINEAR_ATTN_CHUNK_STATE_SPEC_WG] = pl->WG,
                [LINEAR_ATTN_CHUNK_STATE_SPEC_GN] = pl->GN,
                [LINEAR_ATTN_CHUNK_STATE_SPEC_ELU1] = p->elu1,
                [LINEAR_ATTN_CHUNK_STATE_SPEC_USE_DONE] = p->done != NULL,
                [LINEAR_ATTN_CHUNK_STATE_SPEC_USE_H0] = use_s,
                [LINEAR_ATTN_CHUNK_STATE_SPEC_USE_Z0] = use_z,
                [LINEAR_ATTN_CHUNK_STATE_SPEC_STORE_HT] = store_s,
                [LINEAR_ATTN_CHUNK_STATE_SPEC_STORE_ZT] = store_z,
                [LINEAR_ATTN_CHUNK_STATE_SPEC_STORE_CHUNKS] = hc != NULL,
            },
        };
        const dvk_pipeline *pipe;
        DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
        const dvk_binding b[LINEAR_ATTN_CHUNK_STATE_BINDINGS] = {
            [LINEAR_ATTN_CHUNK_STATE_BIND_K] = k,
            [LINEAR_ATTN_CHUNK_STATE_BIND_V] = v,
            [LINEAR_ATTN_CHUNK_STATE_BIND_RHO] = rho,
            [LINEAR_ATTN_CHUNK_STATE_BIND_H0] = s_in,
            [LINEAR_ATTN_CHUNK_STATE_BIND_Z0] = z_in,
            [LINEAR_ATTN_CHUNK_STATE_BIND_HT] = s_out,
            [LINEAR_ATTN_CHUNK_STATE_BIND_ZT] = z_out,
            [LINEAR_ATTN_CHUNK_STATE_BIND_H_CHUNKS] = hc ? *hc : none,
            [LINEAR_ATTN_CHUNK_STATE_BIND_Z_CHUNKS] = zc ? *zc : none,
            [LINEAR_ATTN_CHUNK_STATE_BIND_TABLE] = table,
            [LINEAR_ATTN_CHUNK_STATE_BIND_SEQ] = seq,
        };
        const linear_attn_chunk_state_push push = {
            .H = r->H,
            .c_begin = i * DVK__CHUNKS_PER_DISPATCH,
            .c_count = DVK__CHUNKS_PER_DISPATCH,
        };
        DVK_TRY(dvk__cmd_dispatch(cmd, pipe, b, &push,
                                  (uint32_t)dvk__ceil_div(r->V, pl->BV_state), r->H, r->N));
    }
    return DVK_SUCCESS;
}

static dvk_status record_chunk(dvk_cmd *cmd, const dvk__linear_attn *p)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    const dvk__rec *r = &p->r;
    dvk__linear_attn_plan pl;
    DVK_TRY(dvk__linear_attn_make_plan(ctx, r, r->chunk_size, &pl));
    dvk__chunk_tables tab;
    DVK_TRY(dvk__chunk_tables_build(ctx, r, pl.C, &tab));
    dvk_status st;
    dvk_binding table, seq, hc, zc;
    if ((st = dvk__chunk_tables_upload(cmd, r, &tab, &table, &seq)) != DVK_SUCCESS)
        goto out;
    const uint64_t chunks = tab.count ? tab.count : 1;
    if ((st = dvk__cmd_scratch(cmd, chunks * r->H * r->K * r->V * 4, &hc)) != DVK_SUCCESS ||
        (st = dvk__cmd_scratch(cmd, chunks * r->H * r->K * 4, &zc)) != DVK_SUCCESS)
        goto out;
    const dvk_binding q = dvk__bind_read(r->q), k = dvk__bind_read(r->k),
                      v = dvk__bind_read(r->v);
    st = dvk__linear_attn_record_state(cmd, p, &pl, &tab, k, v, table, seq, &hc, &zc);
    if (st != DVK_SUCCESS || tab.count == 0)
        goto out;
    const dvk_pipeline_key key = pl.coopmat ? (dvk_pipeline_key){
        .kernel = chunk_kernels[K_OUTPUT][2],
        .binding_count = LINEAR_ATTN_CHUNK_OUTPUT_BINDINGS,
        .push_size = sizeof(linear_attn_chunk_output_push),
        .spec_count = LINEAR_ATTN_CHUNK_OUTPUT_CM_SPECS,
        .spec = {
            [LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_C] = pl.C,
            [LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_K] = r->K,
            [LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_V] = r->V,
            [LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_BV] = pl.BV_out,
            [LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_KT] = pl.KT,
            [LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_WG] = pl.WG_out,
            [LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_ELU1] = p->elu1,
            [LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_NORMALIZE] = p->normalize,
            [LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_EPS_ADD] = p->eps_add,
            [LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_USE_DONE] = p->done != NULL,
        },
    } : (dvk_pipeline_key){
        .kernel = chunk_kernels[K_OUTPUT][r->dtype == DVK_DTYPE_F16],
        .binding_count = LINEAR_ATTN_CHUNK_OUTPUT_BINDINGS,
        .push_size = sizeof(linear_attn_chunk_output_push),
        .spec_count = LINEAR_ATTN_CHUNK_OUTPUT_SPECS,
        .spec = {
            [LINEAR_ATTN_CHUNK_OUTPUT_SPEC_C] = pl.C,
            [LINEAR_ATTN_CHUNK_OUTPUT_SPEC_K] = r->K,
            [LINEAR_ATTN_CHUNK_OUTPUT_SPEC_V] = r->V,
            [LINEAR_ATTN_CHUNK_OUTPUT_SPEC_BV] = pl.BV_out,
            [LINEAR_ATTN_CHUNK_OUTPUT_SPEC_KT] = pl.KT,
            [LINEAR_ATTN_CHUNK_OUTPUT_SPEC_WG] = pl.WG,
            [LINEAR_ATTN_CHUNK_OUTPUT_SPEC_GN] = pl.GN,
            [LINEAR_ATTN_CHUNK_OUTPUT_SPEC_ELU1] = p->elu1,
            [LINEAR_ATTN_CHUNK_OUTPUT_SPEC_NORMALIZE] = p->normalize,
            [LINEAR_ATTN_CHUNK_OUTPUT_SPEC_EPS_ADD] = p->eps_add,
            [LINEAR_ATTN_CHUNK_OUTPUT_SPEC_USE_DONE] = p->done != NULL,
        },
    };
    const dvk_pipeline *pipe;
    if ((st = dvk__pipeline_get(ctx, &key, &pipe)) != DVK_SUCCESS)
        goto out;
    const dvk_binding none = dvk__bind_dummy(cmd);
    const dvk_binding b[LINEAR_ATTN_CHUNK_OUTPUT_BINDINGS] = {
        [LINEAR_ATTN_CHUNK_OUTPUT_BIND_Q] = q,
        [LINEAR_ATTN_CHUNK_OUTPUT_BIND_K] = k,
        [LINEAR_ATTN_CHUNK_OUTPUT_BIND_V] = v,
        [LINEAR_ATTN_CHUNK_OUTPUT_BIND_DONE] = p->done ? dvk__bind_read(p->done) : none,
        [LINEAR_ATTN_CHUNK_OUTPUT_BIND_H_CHUNKS] = dvk__as_input(hc),
        [LINEAR_ATTN_CHUNK_OUTPUT_BIND_Z_CHUNKS] = dvk__as_input(zc),
        [LINEAR_ATTN_CHUNK_OUTPUT_BIND_O] = dvk__bind_write(r->o),
        [LINEAR_ATTN_CHUNK_OUTPUT_BIND_TABLE] = table,
    };
    const linear_attn_chunk_output_push push = {.H = r->H, .scale = r->scale, .eps = p->eps};
    st = dvk__cmd_dispatch(cmd, pipe, b, &push, tab.count, r->H,
                           (uint32_t)dvk__ceil_div(r->V, pl.BV_out));
out:
    dvk__chunk_tables_free(ctx, &tab);
    return st;
}

dvk_status dvk_linear_attn(dvk_cmd *cmd, const dvk_linear_attn_desc *desc)
{
    dvk__linear_attn p;
    DVK_TRY(validate(cmd, desc, &p));
    if (dvk__rec_use_chunk(dvk__cmd_context(cmd), &p.r))
        return record_chunk(cmd, &p);
    return record_recurrent(cmd, &p);
}
