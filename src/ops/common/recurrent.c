/* The token-by-token form every rule of the delta-rule family shares (recurrent.h): the
 * recurrent kernel (shaders/ops/delta_rule/recurrent.comp, with sum_tiles.comp after it for the
 * key read-out over several value tiles) and the single-pass decode kernel (decode.comp). */
#include "ops/common/recurrent.h"

#include "ops/common/binding.h"
#include "ops/common/device_fit.h"
#include "ops/common/state_carry.h"

#include "shaders/ops/delta_rule/decode.h"
#include "shaders/ops/delta_rule/recurrent.h"
#include "shaders/ops/delta_rule/sum_tiles.h"

/* ---- recurrent kernel ----------------------------------------------------------------------- */

/* SPIR-V variants of the recurrent kernel, by [fp16 io][subgroup reduction]. */
static const dvk_ops_kernel recurrent_kernels[2][2] = {
    {DVK_OPS_K_DELTA_RULE_RECURRENT_F32_SH, DVK_OPS_K_DELTA_RULE_RECURRENT_F32_SG},
    {DVK_OPS_K_DELTA_RULE_RECURRENT_F16_SH, DVK_OPS_K_DELTA_RULE_RECURRENT_F16_SG},
};
/* recurrent_cpu.comp, by [fp16 io] */
static const dvk_ops_kernel recurrent_cpu_kernels[2] = {DVK_OPS_K_DELTA_RULE_RECURRENT_CPU_F32,
                                                        DVK_OPS_K_DELTA_RULE_RECURRENT_CPU_F16};

typedef struct recurrent_plan {
    uint32_t KS, BV, TB, WG;
    bool subgroup;
    /* recurrent_cpu.comp when not 0: subgroups of `lanes`, `cpl` columns per lane,
     * BV = WG * cpl, KS = 1 */
    uint32_t lanes, cpl;
} recurrent_plan;

static uint32_t cpu_lanes(const dvk_context *ctx, const dvk__rec *r)
{
    return dvk__cpu_lanes(ctx, recurrent_cpu_kernels[r->dtype == DVK_DTYPE_F16]);
}

/* Shared memory of recurrent.comp, in bytes, as it lays it out. */
static uint32_t recurrent_fixed_bytes(const dvk__rec *r, const recurrent_plan *p, uint32_t kp)
{
    uint32_t f = p->subgroup ? 0 : p->WG;           /* red_buf */
    if (r->key_readout)
        f += kp * p->BV;                            /* s_part */
    return 4 * (f + 3);                             /* + the 1-float placeholders */
}
static uint32_t recurrent_token_bytes(const dvk__rec *r, const recurrent_plan *p, uint32_t kp)
{
    const uint32_t per_k = 1 + (r->gate == DVK__GATE_CHANNEL || r->dplr) + 2 * r->dplr;
    const uint32_t qo = r->key_readout ? p->BV + kp : kp + p->BV; /* s_q + s_o */
    return 4 * (per_k * kp + qo + p->BV + 4);
}

/* Sizes the recurrent kernel for this device: each column's state split over KS invocations
 * so that each holds at most 32 rows in registers, 64–128 invocations per workgroup, and as
 * many tokens staged in shared memory as fit. */
static dvk_status plan_recurrent(const dvk_context *ctx, const dvk__rec *r, recurrent_plan *plan)
{
    const dvk_device_info *info = &ctx->info;
    const uint32_t lanes = cpu_lanes(ctx, r);
    if (lanes) {
        /* Columns per lane; several subgroups per workgroup while at least 16 workgroups
         * remain for lavapipe's threads (each workgroup has a fixed cost, which dominates
         * the decode step of a batch); one subgroup with the key read-out, whose sums run
         * across a subgroup's lanes. */
        const uint32_t cpl = dvk__cpu_columns(r->K, r->V); /* read as one vector */
        uint32_t wg = lanes;
        const uint32_t v_lanes = (uint32_t)dvk__ceil_div(r->V, lanes * cpl) * lanes;
        while (!r->key_readout && wg * 2 <= dvk__min_u32(v_lanes, 64) &&
               wg * 2 <= dvk__workgroup_limit(info, 1024) &&
               (uint64_t)r->N * r->HV * dvk__ceil_div(r->V, wg * 2 * cpl) >= 16)
            wg *= 2;
        *plan = (recurrent_plan){
            .KS = 1, .BV = wg * cpl, .TB = 1, .WG = wg, .lanes = lanes, .cpl = cpl};
        return DVK_SUCCESS;
    }
    const uint32_t wg_max = dvk__workgroup_limit(info, 128);
    uint32_t ks = dvk__next_pow2((r->K + 31) / 32);
    uint32_t bv = dvk__min_u32(dvk__next_pow2(r->V), dvk__max_u32(1, wg_max / ks));
    /* Few heads and long sequences: narrower tiles give more workgroups to run in parallel
     * (not with the key read-out, whose tiles then need a second pass). */
    while (!r->key_readout && bv > 8 && (uint64_t)r->N * r->HV * dvk__ceil_div(r->V, bv) < 512)
        bv /= 2;
    /* Tiny V: put more invocations on each column rather than leave the workgroup tiny. */
    while (bv * ks < 32 && ks < dvk__next_pow2(r->K) && ks < 32 && bv * ks * 2 <= wg_max)
        ks *= 2;
    plan->KS = ks;
    plan->BV = bv;
    plan->WG = ks * bv;
    plan->subgroup = info->subgroup_shuffle && ks <= info->min_subgroup_size &&
                     dvk__kernel_available(recurrent_kernels[r->dtype == DVK_DTYPE_F16][1]);

    const uint32_t kp = dvk__ceil_div(r->K, ks) * ks;
    uint32_t fixed = recurrent_fixed_bytes(r, plan, kp);
    uint32_t per_token = recurrent_token_bytes(r, plan, kp);
    /* The key read-out's row sums need the tile [K x BV] in shared memory: narrower tiles on
     * small devices (their parts are then added by a second pass). */
    while (r->key_readout && plan->BV > 4 && info->max_shared_memory < fixed + 2 * per_token) {
        plan->BV /= 2;
        plan->WG = ks * plan->BV;
        fixed = recurrent_fixed_bytes(r, plan, kp);
        per_token = recurrent_token_bytes(r, plan, kp);
    }
    if (info->max_shared_memory < fixed + per_token)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                         "recurrent kernel: K = %u, V = %u need %u bytes of shared memory; the "
                         "device has %u",
                         r->K, r->V, fixed + per_token, info->max_shared_memory);
    plan->TB = dvk__min_u32(32, (info->max_shared_memory - fixed) / per_token);
    return DVK_SUCCESS;
}

/* The bindings the rule gives both kernels: beta, or (DPLR) a in its place and b. */
static void rule_bindings(const dvk_cmd *cmd, const dvk__rec *r, dvk_binding *beta,
                          dvk_binding *b)
{
    const dvk_binding none = dvk__bind_dummy(cmd);
    *beta = dvk__bind_read(r->dplr ? r->a : r->beta);
    *b = r->dplr ? dvk__bind_read(r->b) : none;
}

static dvk_status record_tokens(dvk_cmd *cmd, const dvk__rec *r)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    recurrent_plan plan = {0};
    DVK_TRY(plan_recurrent(ctx, r, &plan));
    const dvk_binding none = dvk__bind_dummy(cmd);
    dvk_binding cu = none;
    if (r->cu_seqlens)
        DVK_TRY(dvk__cmd_upload_scratch(cmd, r->cu_seqlens, sizeof(int32_t) * (r->N + 1), &cu));
    dvk__carry carry;
    DVK_TRY(dvk__carry_init(cmd, r, (uint32_t)dvk__ceil_div(r->max_len, DVK__TOKENS_PER_DISPATCH),
                            &carry));
    const uint32_t tiles = (uint32_t)dvk__ceil_div(r->V, plan.BV);
    const bool partial = r->key_readout && tiles > 1;
    const uint64_t tokens = (uint64_t)r->B * r->T;
    /* the partial sums' binding is writable: unused, it is a dummy write (internal.h) */
    dvk_binding part = dvk__bind_dummy_write(cmd);
    if (partial) {
        if (tokens * r->HV * r->K > UINT32_MAX / tiles)
            return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "key read-out: the output is too large");
        DVK_TRY(dvk__cmd_scratch(cmd, tokens * r->HV * r->K * tiles * 4, &part));
    }
    dvk_binding beta, b_in;
    rule_bindings(cmd, r, &beta, &b_in);

    for (uint32_t i = 0; i < carry.segments; ++i) {
        dvk_binding in, out;
        bool use_in, store_out;
        dvk__carry_segment(&carry, i, &in, &use_in, &out, &store_out);
        const dvk_pipeline_key key = {
            .kernel = plan.lanes ? recurrent_cpu_kernels[r->dtype == DVK_DTYPE_F16]
                               : recurrent_kernels[r->dtype == DVK_DTYPE_F16][plan.subgroup],
            .binding_count = DELTA_RULE_RECURRENT_BINDINGS,
            .push_size = sizeof(delta_rule_recurrent_push),
            .spec_count = DELTA_RULE_RECURRENT_SPECS,
            .spec = {
                [DELTA_RULE_RECURRENT_SPEC_K] = r->K,
                [DELTA_RULE_RECURRENT_SPEC_V] = r->V,
                [DELTA_RULE_RECURRENT_SPEC_BV] = plan.BV,
                [DELTA_RULE_RECURRENT_SPEC_KS] = plan.KS,
                [DELTA_RULE_RECURRENT_SPEC_TB] = plan.TB,
                [DELTA_RULE_RECURRENT_SPEC_USE_G] = r->gate == DVK__GATE_HEAD,
                [DELTA_RULE_RECURRENT_SPEC_USE_H0] = use_in,
                [DELTA_RULE_RECURRENT_SPEC_STORE_HT] = store_out,
                [DELTA_RULE_RECURRENT_SPEC_VARLEN] = r->cu_seqlens != NULL,
                [DELTA_RULE_RECURRENT_SPEC_L2NORM] = r->l2norm_qk,
                [DELTA_RULE_RECURRENT_SPEC_WG] = plan.WG,
                [DELTA_RULE_RECURRENT_SPEC_GATE_CH] = r->gate == DVK__GATE_CHANNEL,
                [DELTA_RULE_RECURRENT_SPEC_DPLR] = r->dplr,
                [DELTA_RULE_RECURRENT_SPEC_KEY_READOUT] = r->key_readout,
                [DELTA_RULE_RECURRENT_SPEC_GATE_ACT] = r->gate_act,
                [DELTA_RULE_RECURRENT_SPEC_BETA_SIGMOID] = r->beta_sigmoid,
                [DELTA_RULE_RECURRENT_SPEC_RWKV7] = r->rwkv7,
                [DELTA_RULE_RECURRENT_SPEC_PARTIAL_OUT] = partial,
                [DELTA_RULE_RECURRENT_SPEC_USE_DT_BIAS] = r->dt_bias != NULL,
                [DELTA_RULE_RECURRENT_SPEC_LANES] = plan.lanes,
                [DELTA_RULE_RECURRENT_SPEC_CPL] = plan.cpl,
            },
        };
        const dvk_pipeline *pipe;
        DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
        const dvk_binding b[DELTA_RULE_RECURRENT_BINDINGS] = {
            [DELTA_RULE_RECURRENT_BIND_Q] = dvk__bind_read(r->q),
            [DELTA_RULE_RECURRENT_BIND_K] = dvk__bind_read(r->k),
            [DELTA_RULE_RECURRENT_BIND_V] = dvk__bind_read(r->v),
            [DELTA_RULE_RECURRENT_BIND_BETA] = beta,
            [DELTA_RULE_RECURRENT_BIND_G] = r->gate != DVK__GATE_NONE ? dvk__bind_read(r->g)
                                                                      : none,
            [DELTA_RULE_RECURRENT_BIND_H0] = in,
            [DELTA_RULE_RECURRENT_BIND_HT] = out,
            [DELTA_RULE_RECURRENT_BIND_O] = partial ? dvk__bind_dummy_write(cmd)
                                                    : dvk__bind_write(r->o),
            [DELTA_RULE_RECURRENT_BIND_CU_SEQLENS] = cu,
            [DELTA_RULE_RECURRENT_BIND_B] = b_in,
            [DELTA_RULE_RECURRENT_BIND_A_LOG] = r->gate_act ? dvk__bind_read(r->A_log) : none,
            [DELTA_RULE_RECURRENT_BIND_DT_BIAS] = r->gate_act && r->dt_bias
                                                      ? dvk__bind_read(r->dt_bias)
                                                      : none,
            [DELTA_RULE_RECURRENT_BIND_PART] = part,
        };
        const delta_rule_recurrent_push push = {
            .T = r->T,
            .H = r->H,
            .HV = r->HV,
            .scale = r->scale,
            .t_begin = i * DVK__TOKENS_PER_DISPATCH,
            .t_count = DVK__TOKENS_PER_DISPATCH,
            .tokens = (uint32_t)tokens,
        };
        DVK_TRY(dvk__cmd_dispatch(cmd, pipe, b, &push, tiles, r->HV, r->N));
    }
    if (!partial)
        return DVK_SUCCESS;

    /* the key read-out over several value tiles: add the tiles' parts */
    const dvk_pipeline_key key = {
        .kernel = r->dtype == DVK_DTYPE_F16 ? DVK_OPS_K_DELTA_RULE_SUM_TILES_F16
                                            : DVK_OPS_K_DELTA_RULE_SUM_TILES_F32,
        .binding_count = DELTA_RULE_SUM_TILES_BINDINGS,
        .push_size = sizeof(delta_rule_sum_tiles_push),
        .spec_count = DELTA_RULE_SUM_TILES_SPECS,
        .spec = {[DELTA_RULE_SUM_TILES_SPEC_TILES] = tiles},
    };
    const dvk_pipeline *pipe;
    DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
    const delta_rule_sum_tiles_push push = {.count = (uint32_t)(tokens * r->HV * r->K)};
    const uint32_t groups = (uint32_t)dvk__ceil_div(push.count, DELTA_RULE_SUM_TILES_LOCAL);
    const uint32_t gx = dvk__min_u32(groups, 65535), gy = (uint32_t)dvk__ceil_div(groups, gx);
    const dvk_binding b[DELTA_RULE_SUM_TILES_BINDINGS] = {
        [DELTA_RULE_SUM_TILES_BIND_PART] = dvk__as_input(part),
        [DELTA_RULE_SUM_TILES_BIND_O] = dvk__bind_write(r->o),
    };
    return dvk__cmd_dispatch(cmd, pipe, b, &push, gx, gy, 1);
}

/* ---- decode kernel (one token per sequence) ------------------------------------------------- */

static const dvk_ops_kernel decode_kernels[2] = {DVK_OPS_K_DELTA_RULE_DECODE_F32,
                                                 DVK_OPS_K_DELTA_RULE_DECODE_F16};

/* The single-pass decode kernel applies when every sequence is one token, state rows can be
 * read as vec4s, and the output is read along the value axis. */
static bool decode_applies(const dvk__rec *r)
{
    return r->T == 1 && !r->cu_seqlens && r->V % 4 == 0 && !r->key_readout &&
           r->mode != DVK_MODE_CHUNK;
}

static dvk_status record_decode(dvk_cmd *cmd, const dvk__rec *r)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    const dvk_device_info *info = &ctx->info;
    /* A power-of-two tile (V % 4 == 0 makes it >= 4; columns past V are masked) and a
     * power-of-two workgroup (the dot products reduce as a tree): whole row groups. */
    const uint32_t bv = dvk__min_u32(32, dvk__next_pow2(r->V));
    const uint32_t wg = dvk__next_pow2(dvk__workgroup_limit(info, 128) + 1) / 2;
    if (wg < bv / 4)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                         "decode: %u invocations per workgroup is too few", wg);
    const dvk_pipeline_key key = {
        .kernel = decode_kernels[r->dtype == DVK_DTYPE_F16],
        .binding_count = DELTA_RULE_DECODE_BINDINGS,
        .push_size = sizeof(delta_rule_decode_push),
        .spec_count = DELTA_RULE_DECODE_SPECS,
        .spec = {
            [DELTA_RULE_DECODE_SPEC_K] = r->K,
            [DELTA_RULE_DECODE_SPEC_V] = r->V,
            [DELTA_RULE_DECODE_SPEC_BV] = bv,
            [DELTA_RULE_DECODE_SPEC_USE_G] = r->gate == DVK__GATE_HEAD,
            [DELTA_RULE_DECODE_SPEC_USE_H0] = r->h0 != NULL,
            [DELTA_RULE_DECODE_SPEC_STORE_HT] = r->ht != NULL,
            [DELTA_RULE_DECODE_SPEC_L2NORM] = r->l2norm_qk,
            [DELTA_RULE_DECODE_SPEC_WG] = wg,
            [DELTA_RULE_DECODE_SPEC_GATE_CH] = r->gate == DVK__GATE_CHANNEL,
            [DELTA_RULE_DECODE_SPEC_DPLR] = r->dplr,
            [DELTA_RULE_DECODE_SPEC_GATE_ACT] = r->gate_act,
            [DELTA_RULE_DECODE_SPEC_BETA_SIGMOID] = r->beta_sigmoid,
            [DELTA_RULE_DECODE_SPEC_RWKV7] = r->rwkv7,
            [DELTA_RULE_DECODE_SPEC_USE_DT_BIAS] = r->dt_bias != NULL,
        },
    };
    const dvk_pipeline *pipe;
    DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
    const dvk_binding none = dvk__bind_dummy(cmd);
    dvk_binding beta, b_in;
    rule_bindings(cmd, r, &beta, &b_in);
    const dvk_binding b[DELTA_RULE_DECODE_BINDINGS] = {
        [DELTA_RULE_DECODE_BIND_Q] = dvk__bind_read(r->q),
        [DELTA_RULE_DECODE_BIND_K] = dvk__bind_read(r->k),
        [DELTA_RULE_DECODE_BIND_V] = dvk__bind_read(r->v),
        [DELTA_RULE_DECODE_BIND_BETA] = beta,
        [DELTA_RULE_DECODE_BIND_G] = r->gate != DVK__GATE_NONE ? dvk__bind_read(r->g) : none,
        [DELTA_RULE_DECODE_BIND_H0] = r->h0 ? dvk__bind_read(r->h0) : none,
        [DELTA_RULE_DECODE_BIND_HT] = r->ht ? dvk__bind_write(r->ht) : dvk__bind_dummy_write(cmd),
        [DELTA_RULE_DECODE_BIND_O] = dvk__bind_write(r->o),
        [DELTA_RULE_DECODE_BIND_B] = b_in,
        [DELTA_RULE_DECODE_BIND_A_LOG] = r->gate_act ? dvk__bind_read(r->A_log) : none,
        [DELTA_RULE_DECODE_BIND_DT_BIAS] = r->gate_act && r->dt_bias ? dvk__bind_read(r->dt_bias)
                                                                    : none,
    };
    const delta_rule_decode_push push = {.H = r->H, .HV = r->HV, .scale = r->scale};
    return dvk__cmd_dispatch(cmd, pipe, b, &push, (uint32_t)dvk__ceil_div(r->V, bv), r->HV, r->N);
}

dvk_status dvk__record_recurrent(dvk_cmd *cmd, const dvk__rec *r)
{
    /* (On CPU devices the token-by-token layout is also the faster decode step.) */
    const bool decode = decode_applies(r) && !cpu_lanes(dvk__cmd_context(cmd), r);
    return decode ? record_decode(cmd, r) : record_tokens(cmd, r);
}
