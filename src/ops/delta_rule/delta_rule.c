/* Host side of the delta rule and the gated delta rule: argument checks, the chunked (WY)
 * form's plan and dispatches. The token-by-token kernels, shared with the rest of the family,
 * are recorded by src/ops/common/recurrent.c. Kernels: shaders/ops/delta_rule/. */
#include "ops/common/binding.h"
#include "ops/common/chunk_tables.h"
#include "ops/common/device_fit.h"
#include "ops/common/l2norm.h"
#include "ops/common/problem.h"
#include "ops/common/recurrent.h"
#include "ops/common/state_carry.h"

#include "shaders/ops/delta_rule/chunk_output.h"
#include "shaders/ops/delta_rule/chunk_prepare.h"
#include "shaders/ops/delta_rule/chunk_state.h"

#include <math.h>
#include <string.h>

static dvk_status validate(dvk_cmd *cmd, const dvk_delta_rule_desc *d, bool gated, dvk__rec *r)
{
    DVK_TRY(dvk__cmd_check_recording(cmd));
    if (!d)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "desc is NULL");
    const dvk_context *ctx = dvk__cmd_context(cmd);
    const uint64_t any = UINT64_MAX;
    DVK_TRY(dvk__rec_check_lead(ctx, "q", d->q));
    memset(r, 0, sizeof *r);
    r->B = (uint32_t)d->q->shape[0];
    r->T = (uint32_t)d->q->shape[1];
    r->H = (uint32_t)d->q->shape[2];
    r->K = (uint32_t)d->q->shape[3];
    r->dtype = d->q->dtype;
    DVK_TRY(dvk__check_tensor(ctx, "k", d->k, 4, d->q->shape, r->dtype));
    DVK_TRY(dvk__check_tensor(ctx, "v", d->v, 4, (uint64_t[]){r->B, r->T, any, any}, r->dtype));
    r->HV = (uint32_t)d->v->shape[2];
    r->V = (uint32_t)d->v->shape[3];
    if (r->HV % r->H != 0)
        return dvk__fail(DVK_ERROR_SHAPE_MISMATCH,
                         "v has %u heads, not a multiple of the %u heads of q and k", r->HV,
                         r->H);
    DVK_TRY(dvk__check_tensor(ctx, "beta", d->beta, 3, (uint64_t[]){r->B, r->T, r->HV},
                              r->dtype));
    DVK_TRY(dvk__check_tensor(ctx, "o", d->o, 4, d->v->shape, r->dtype));
    if (gated)
        DVK_TRY(dvk__check_tensor(ctx, "g", d->g, 3, (uint64_t[]){r->B, r->T, r->HV}, r->dtype));
    else if (d->g)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "g is set: use dvk_gated_delta_rule for the gated rule");
    r->gate = gated ? DVK__GATE_HEAD : DVK__GATE_NONE;
    r->l2norm_qk = d->l2norm_qk;
    r->mode = d->mode;
    r->chunk_size = d->chunk_size;
    r->cu_seqlens = d->cu_seqlens;
    r->q = d->q;
    r->k = d->k;
    r->v = d->v;
    r->beta = d->beta;
    r->g = gated ? d->g : NULL;
    r->o = d->o;
    r->h0 = d->initial_state;
    r->ht = d->final_state;
    return dvk__rec_check(ctx, r, d->num_seqs, d->scale, 1.0f / sqrtf((float)r->K));
}

/* ---- chunked kernels ------------------------------------------------------------------------ */

enum { STAGE_PREPARE, STAGE_STATE, STAGE_OUTPUT, STAGE_COUNT };
/* [stage][0 fp32, 1 fp16, 2 fp16 on cooperative matrices] */
static const dvk_ops_kernel chunk_kernels[STAGE_COUNT][3] = {
    {DVK_OPS_K_DELTA_RULE_CHUNK_PREPARE_F32, DVK_OPS_K_DELTA_RULE_CHUNK_PREPARE_F16,
     DVK_OPS_K_DELTA_RULE_CHUNK_PREPARE_CM_F16},
    {DVK_OPS_K_DELTA_RULE_CHUNK_STATE_F32, DVK_OPS_K_DELTA_RULE_CHUNK_STATE_F16,
     DVK_OPS_K_DELTA_RULE_CHUNK_STATE_CM_F16},
    {DVK_OPS_K_DELTA_RULE_CHUNK_OUTPUT_F32, DVK_OPS_K_DELTA_RULE_CHUNK_OUTPUT_F16,
     DVK_OPS_K_DELTA_RULE_CHUNK_OUTPUT_CM_F16},
};

typedef struct chunk_plan {
    uint32_t C;        /* chunk size */
    uint32_t KT;       /* columns staged per slice */
    uint32_t WG;       /* invocations per workgroup */
    uint32_t BV_state; /* state columns per workgroup of chunk_state */
    uint32_t GN_state; /* columns of chunk_state's invocation grid: min(16, BV_state) */
    uint32_t BV_out;   /* output columns per workgroup of chunk_output */
    bool coopmat;      /* the cooperative-matrix kernels, with the sizes below */
    uint32_t cm_wg[3]; /* invocations per workgroup of prepare, state, output */
    uint32_t cm_bv_state;
    uint32_t cm_kt_out;     /* key channels per step of the output kernel */
    uint32_t cm_state_xpad; /* padding of the state kernel's fp16 rows, in halves */
} chunk_plan;

/* Shared memory of each stage, in floats, as the shaders lay it out. */
static uint32_t prepare_floats(uint32_t C, uint32_t KT)
{
    return C * (C + 1) + C * (KT + 1) + (C / 16 - 1) * 256 + 2 * C;
}
static uint32_t state_floats(uint32_t C, uint32_t K, uint32_t KT, uint32_t BV)
{
    return (uint32_t)dvk__ceil_div(K, KT) * KT * BV + C * (KT + 1) + C * BV + C;
}
static uint32_t output_floats(uint32_t C, uint32_t KT, uint32_t BV)
{
    return dvk__max_u32(2 * C * (KT + 1) + KT * BV, C * (C + 1) + C * BV) + C;
}

/* The cooperative-matrix kernels (tensor cores): fp16 tensors, chunks of 64, K and V multiples
 * of 16, VK_NV_cooperative_matrix with fp16 x fp16 + fp32 16x16x16 blocks, subgroups of 32.
 * Returns false, leaving the portable kernels, when anything is missing. */
static bool plan_coopmat(const dvk_context *ctx, const dvk__rec *p, uint32_t requested,
                         chunk_plan *plan)
{
    const dvk_device_info *info = &ctx->info;
    if (!dvk__coopmat_f16_usable(ctx, p) || (requested && requested != 64))
        return false;
    for (int s = 0; s < 3; ++s)
        if (!dvk__kernel_available(chunk_kernels[s][2]))
            return false;
    const uint32_t C = 64, CB = C / 16, KT_out = dvk__min_u32(64, p->K);
    /* prepare streams K and V through shared memory in slices of KT_prep columns: K in one
     * slice when it fits (no reload for W), else 128- or 64-column slices */
    uint32_t KT_prep = dvk__max_u32(p->K, p->V) <= 64 ? 64 : 128;
    /* value tiles that divide V */
    const uint32_t BV_out = p->V % 64 == 0 ? 64 : p->V % 32 == 0 ? 32 : 16;
    const uint32_t bv_state = p->V % 32 == 0 && p->K <= 128 ? 32 : 16;
    /* shared memory of each kernel, in bytes, as the shaders lay it out */
#define PREP_BYTES(KT)                                                                             \
    (2 * (C * (C + 8) + C * ((KT) + 8)) + 4 * (C * (C + 4) + (C / 16 - 1) * 256 + 2 * C))
    if (PREP_BYTES(KT_prep) > info->max_shared_memory)
        KT_prep = 64;
    const uint32_t prep = PREP_BYTES(KT_prep);
#undef PREP_BYTES
    /* rows of fp16 tiles padded by 8 halves (fp32 tiles by 4 floats) against bank conflicts */
#define STATE_BYTES(XPAD)                                                                          \
    (2 * (C * (p->K + (XPAD)) + (p->K + C) * (bv_state + (XPAD))) + 4 * (C * bv_state + C))
    const uint32_t state_xpad = STATE_BYTES(8) <= info->max_shared_memory ? 8 : 0;
    const uint32_t state = STATE_BYTES(state_xpad);
#undef STATE_BYTES
    const uint32_t out = 2 * dvk__max_u32(2 * C * (KT_out + 8) + KT_out * (BV_out + 8),
                                          C * (C + 8) + C * (BV_out + 8)) +
                         4 * (C * (C + 4) + C);
    if (prep > info->max_shared_memory || state > info->max_shared_memory ||
        out > info->max_shared_memory)
        return false;
    plan->coopmat = true;
    plan->C = C;
    plan->cm_wg[0] = 32 * dvk__subgroups_for(CB * CB, CB * CB, 8);
    plan->KT = KT_prep;
    plan->cm_wg[1] =
        32 * dvk__subgroups_for((p->K / 16) * (bv_state / 16), CB * (bv_state / 16), 4);
    plan->cm_wg[2] = 32 * dvk__subgroups_for(CB * CB, CB * (BV_out / 16), 8);
    plan->cm_bv_state = bv_state;
    plan->BV_out = BV_out;
    plan->cm_kt_out = KT_out;
    plan->cm_state_xpad = state_xpad;
    return true;
}

/* The largest chunk (64, 32, 16, or the caller's) whose three stages fit the device's shared
 * memory, with 256 invocations per workgroup (fewer on small devices). */
static dvk_status plan_chunk(const dvk_context *ctx, const dvk__rec *p, uint32_t requested,
                             chunk_plan *plan)
{
    const dvk_device_info *info = &ctx->info;
    const uint32_t floats = info->max_shared_memory / 4;
    uint32_t wg = dvk__workgroup_limit(info, 256) & ~15u; /* invocations as (wg/16) x 16 */
    if (wg < 16)
        return dvk__fail(DVK_ERROR_UNSUPPORTED, "chunked mode needs 16 invocations per workgroup");
    if (plan_coopmat(ctx, p, requested, plan))
        return DVK_SUCCESS;
    const uint32_t sizes[3] = {64, 32, 16};
    for (int i = 0; i < 3; ++i) {
        const uint32_t C = requested ? requested : sizes[i];
        if (requested && i > 0)
            break;
        if (C % (wg / 16) != 0)
            continue;
        for (uint32_t KT = 32; KT >= 16; KT /= 2) {
            if (KT % (wg / 16) != 0 || prepare_floats(C, KT) > floats)
                continue;
            uint32_t bvs = 0, bvo = 0;
            /* 8-column state tiles (a grid 8 invocations wide) let K = 256 fit 16 KiB */
            for (uint32_t bv = 32; bv >= 8 && !bvs; bv /= 2)
                if (state_floats(C, p->K, KT, bv) <= floats &&
                    KT % (wg / dvk__min_u32(16, bv)) == 0 && C % (wg / dvk__min_u32(16, bv)) == 0)
                    bvs = bv;
            for (uint32_t bv = 64; bv >= 16 && !bvo; bv /= 2)
                if (output_floats(C, KT, bv) <= floats)
                    bvo = bv;
            if (bvs && bvo) {
                *plan = (chunk_plan){.C = C, .KT = KT, .WG = wg, .BV_state = bvs,
                                     .GN_state = dvk__min_u32(16, bvs), .BV_out = bvo};
                return DVK_SUCCESS;
            }
        }
    }
    return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                     "chunked mode: no chunk size%s fits K = %u in %u bytes of shared memory",
                     requested ? " (as requested)" : "", p->K, info->max_shared_memory);
}

static dvk_status record_chunk_stages(dvk_cmd *cmd, const dvk__rec *p, const chunk_plan *plan,
                                     const dvk__chunk_tables *tab)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    const bool f16 = p->dtype == DVK_DTYPE_F16;
    const uint64_t esize = dvk_dtype_size(p->dtype);
    const uint64_t tokens = (uint64_t)p->B * p->T;
    const dvk_binding none = dvk__bind_dummy(cmd);

    dvk_binding table, seq;
    DVK_TRY(dvk__chunk_tables_upload(cmd, p, tab, &table, &seq));

    const bool gated = p->gate == DVK__GATE_HEAD;
    dvk_binding q = dvk__bind_read(p->q), k = dvk__bind_read(p->k);
    if (p->l2norm_qk) {
        DVK_TRY(dvk__record_l2norm(cmd, p, p->q, &q));
        DVK_TRY(dvk__record_l2norm(cmd, p, p->k, &k));
    }
    dvk_binding w, u, gcum = none, hc;
    DVK_TRY(dvk__cmd_scratch(cmd, tokens * p->HV * p->K * esize, &w));
    DVK_TRY(dvk__cmd_scratch(cmd, tokens * p->HV * p->V * esize, &u));
    if (gated)
        DVK_TRY(dvk__cmd_scratch(cmd, tokens * p->HV * 4, &gcum));
    DVK_TRY(dvk__cmd_scratch(cmd, (uint64_t)tab->count * p->HV * p->K * p->V * esize, &hc));

    /* 1. inside each chunk: W, U (and the cumulative gate) */
    const int kv = plan->coopmat ? 2 : f16; /* which variant of each stage */
    const dvk_pipeline_key kp = plan->coopmat ? (dvk_pipeline_key){
        .kernel = chunk_kernels[STAGE_PREPARE][kv],
        .binding_count = DELTA_RULE_CHUNK_PREPARE_BINDINGS,
        .push_size = sizeof(delta_rule_chunk_prepare_push),
        .spec_count = DELTA_RULE_CHUNK_PREPARE_CM_SPECS,
        .spec = {
            [DELTA_RULE_CHUNK_PREPARE_CM_SPEC_C] = plan->C,
            [DELTA_RULE_CHUNK_PREPARE_CM_SPEC_K] = p->K,
            [DELTA_RULE_CHUNK_PREPARE_CM_SPEC_V] = p->V,
            [DELTA_RULE_CHUNK_PREPARE_CM_SPEC_KT] = plan->KT,
            [DELTA_RULE_CHUNK_PREPARE_CM_SPEC_USE_G] = gated,
            [DELTA_RULE_CHUNK_PREPARE_CM_SPEC_WG] = plan->cm_wg[0],
        },
    } : (dvk_pipeline_key){
        .kernel = chunk_kernels[STAGE_PREPARE][kv],
        .binding_count = DELTA_RULE_CHUNK_PREPARE_BINDINGS,
        .push_size = sizeof(delta_rule_chunk_prepare_push),
        .spec_count = DELTA_RULE_CHUNK_PREPARE_SPECS,
        .spec = {
            [DELTA_RULE_CHUNK_PREPARE_SPEC_C] = plan->C,
            [DELTA_RULE_CHUNK_PREPARE_SPEC_K] = p->K,
            [DELTA_RULE_CHUNK_PREPARE_SPEC_V] = p->V,
            [DELTA_RULE_CHUNK_PREPARE_SPEC_KT] = plan->KT,
            [DELTA_RULE_CHUNK_PREPARE_SPEC_USE_G] = gated,
            [DELTA_RULE_CHUNK_PREPARE_SPEC_WG] = plan->WG,
            [DELTA_RULE_CHUNK_PREPARE_SPEC_GN] = 16,
        },
    };
    const dvk_pipeline *pipe;
    DVK_TRY(dvk__pipeline_get(ctx, &kp, &pipe));
    const dvk_binding b1[DELTA_RULE_CHUNK_PREPARE_BINDINGS] = {
        [DELTA_RULE_CHUNK_PREPARE_BIND_K] = k,
        [DELTA_RULE_CHUNK_PREPARE_BIND_V] = dvk__bind_read(p->v),
        [DELTA_RULE_CHUNK_PREPARE_BIND_BETA] = dvk__bind_read(p->beta),
        [DELTA_RULE_CHUNK_PREPARE_BIND_G] = gated ? dvk__bind_read(p->g) : none,
        [DELTA_RULE_CHUNK_PREPARE_BIND_W] = w,
        [DELTA_RULE_CHUNK_PREPARE_BIND_U] = u,
        [DELTA_RULE_CHUNK_PREPARE_BIND_G_CUM] = gcum,
        [DELTA_RULE_CHUNK_PREPARE_BIND_TABLE] = table,
    };
    const delta_rule_chunk_prepare_push pp = {.H = p->H, .HV = p->HV};
    DVK_TRY(dvk__cmd_dispatch(cmd, pipe, b1, &pp, tab->count, p->HV, 1));

    /* 2. the state through each sequence's chunks, in dispatches of bounded length */
    dvk__carry carry;
    DVK_TRY(dvk__carry_init(
        cmd, p, (uint32_t)dvk__ceil_div(tab->max_chunks, DVK__CHUNKS_PER_DISPATCH), &carry));
    for (uint32_t i = 0; i < carry.segments; ++i) {
        dvk_binding in, out;
        bool use_in, store_out;
        dvk__carry_segment(&carry, i, &in, &use_in, &out, &store_out);
        const dvk_pipeline_key ks = plan->coopmat ? (dvk_pipeline_key){
            .kernel = chunk_kernels[STAGE_STATE][kv],
            .binding_count = DELTA_RULE_CHUNK_STATE_BINDINGS,
            .push_size = sizeof(delta_rule_chunk_state_push),
            .spec_count = DELTA_RULE_CHUNK_STATE_CM_SPECS,
            .spec = {
                [DELTA_RULE_CHUNK_STATE_CM_SPEC_C] = plan->C,
                [DELTA_RULE_CHUNK_STATE_CM_SPEC_K] = p->K,
                [DELTA_RULE_CHUNK_STATE_CM_SPEC_V] = p->V,
                [DELTA_RULE_CHUNK_STATE_CM_SPEC_BV] = plan->cm_bv_state,
                [DELTA_RULE_CHUNK_STATE_CM_SPEC_USE_G] = gated,
                [DELTA_RULE_CHUNK_STATE_CM_SPEC_USE_H0] = use_in,
                [DELTA_RULE_CHUNK_STATE_CM_SPEC_STORE_HT] = store_out,
                [DELTA_RULE_CHUNK_STATE_CM_SPEC_WG] = plan->cm_wg[1],
                [DELTA_RULE_CHUNK_STATE_CM_SPEC_XPAD] = plan->cm_state_xpad,
            },
        } : (dvk_pipeline_key){
            .kernel = chunk_kernels[STAGE_STATE][kv],
            .binding_count = DELTA_RULE_CHUNK_STATE_BINDINGS,
            .push_size = sizeof(delta_rule_chunk_state_push),
            .spec_count = DELTA_RULE_CHUNK_STATE_SPECS,
            .spec = {
                [DELTA_RULE_CHUNK_STATE_SPEC_C] = plan->C,
                [DELTA_RULE_CHUNK_STATE_SPEC_K] = p->K,
                [DELTA_RULE_CHUNK_STATE_SPEC_V] = p->V,
                [DELTA_RULE_CHUNK_STATE_SPEC_BV] = plan->BV_state,
                [DELTA_RULE_CHUNK_STATE_SPEC_KT] = plan->KT,
                [DELTA_RULE_CHUNK_STATE_SPEC_USE_G] = gated,
                [DELTA_RULE_CHUNK_STATE_SPEC_USE_H0] = use_in,
                [DELTA_RULE_CHUNK_STATE_SPEC_STORE_HT] = store_out,
                [DELTA_RULE_CHUNK_STATE_SPEC_WG] = plan->WG,
                [DELTA_RULE_CHUNK_STATE_SPEC_GN] = plan->GN_state,
            },
        };
        DVK_TRY(dvk__pipeline_get(ctx, &ks, &pipe));
        const dvk_binding b2[DELTA_RULE_CHUNK_STATE_BINDINGS] = {
            [DELTA_RULE_CHUNK_STATE_BIND_K] = k,
            [DELTA_RULE_CHUNK_STATE_BIND_W] = dvk__as_input(w),
            [DELTA_RULE_CHUNK_STATE_BIND_U] = u, /* read, and rewritten in place as U' */
            [DELTA_RULE_CHUNK_STATE_BIND_G_CUM] = dvk__as_input(gcum),
            [DELTA_RULE_CHUNK_STATE_BIND_H0] = in,
            [DELTA_RULE_CHUNK_STATE_BIND_HT] = out,
            [DELTA_RULE_CHUNK_STATE_BIND_H_CHUNKS] = hc,
            [DELTA_RULE_CHUNK_STATE_BIND_TABLE] = table,
            [DELTA_RULE_CHUNK_STATE_BIND_SEQ] = seq,
        };
        const delta_rule_chunk_state_push sp = {
            .H = p->H,
            .HV = p->HV,
            .c_begin = i * DVK__CHUNKS_PER_DISPATCH,
            .c_count = DVK__CHUNKS_PER_DISPATCH,
        };
        const uint32_t bv = plan->coopmat ? plan->cm_bv_state : plan->BV_state;
        DVK_TRY(dvk__cmd_dispatch(cmd, pipe, b2, &sp, (uint32_t)dvk__ceil_div(p->V, bv), p->HV,
                                  p->N));
    }

    /* 3. the outputs of every chunk */
    const dvk_pipeline_key ko = plan->coopmat ? (dvk_pipeline_key){
        .kernel = chunk_kernels[STAGE_OUTPUT][kv],
        .binding_count = DELTA_RULE_CHUNK_OUTPUT_BINDINGS,
        .push_size = sizeof(delta_rule_chunk_output_push),
        .spec_count = DELTA_RULE_CHUNK_OUTPUT_CM_SPECS,
        .spec = {
            [DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_C] = plan->C,
            [DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_K] = p->K,
            [DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_V] = p->V,
            [DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_BV] = plan->BV_out,
            [DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_KT] = plan->cm_kt_out,
            [DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_USE_G] = gated,
            [DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_WG] = plan->cm_wg[2],
        },
    } : (dvk_pipeline_key){
        .kernel = chunk_kernels[STAGE_OUTPUT][kv],
        .binding_count = DELTA_RULE_CHUNK_OUTPUT_BINDINGS,
        .push_size = sizeof(delta_rule_chunk_output_push),
        .spec_count = DELTA_RULE_CHUNK_OUTPUT_SPECS,
        .spec = {
            [DELTA_RULE_CHUNK_OUTPUT_SPEC_C] = plan->C,
            [DELTA_RULE_CHUNK_OUTPUT_SPEC_K] = p->K,
            [DELTA_RULE_CHUNK_OUTPUT_SPEC_V] = p->V,
            [DELTA_RULE_CHUNK_OUTPUT_SPEC_BV] = plan->BV_out,
            [DELTA_RULE_CHUNK_OUTPUT_SPEC_KT] = plan->KT,
            [DELTA_RULE_CHUNK_OUTPUT_SPEC_USE_G] = gated,
            [DELTA_RULE_CHUNK_OUTPUT_SPEC_WG] = plan->WG,
            [DELTA_RULE_CHUNK_OUTPUT_SPEC_GN] = 16,
        },
    };
    DVK_TRY(dvk__pipeline_get(ctx, &ko, &pipe));
    const delta_rule_chunk_output_push op = {.H = p->H, .HV = p->HV, .scale = p->scale};
    const dvk_binding b3[DELTA_RULE_CHUNK_OUTPUT_BINDINGS] = {
        [DELTA_RULE_CHUNK_OUTPUT_BIND_Q] = q,
        [DELTA_RULE_CHUNK_OUTPUT_BIND_K] = k,
        [DELTA_RULE_CHUNK_OUTPUT_BIND_U] = dvk__as_input(u),
        [DELTA_RULE_CHUNK_OUTPUT_BIND_G_CUM] = dvk__as_input(gcum),
        [DELTA_RULE_CHUNK_OUTPUT_BIND_H_CHUNKS] = dvk__as_input(hc),
        [DELTA_RULE_CHUNK_OUTPUT_BIND_O] = dvk__bind_write(p->o),
        [DELTA_RULE_CHUNK_OUTPUT_BIND_TABLE] = table,
    };
    return dvk__cmd_dispatch(cmd, pipe, b3, &op, tab->count, p->HV,
                             (uint32_t)dvk__ceil_div(p->V, plan->BV_out));
}

static dvk_status record_chunk(dvk_cmd *cmd, const dvk__rec *p)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    chunk_plan plan = {0};
    DVK_TRY(plan_chunk(ctx, p, p->chunk_size, &plan));
    dvk__chunk_tables tab;
    DVK_TRY(dvk__chunk_tables_build(ctx, p, plan.C, &tab));
    const dvk_status st = record_chunk_stages(cmd, p, &plan, &tab);
    dvk__chunk_tables_free(ctx, &tab);
    return st;
}

/* ---- entry points --------------------------------------------------------------------------- */

static dvk_status delta_rule_common(dvk_cmd *cmd, const dvk_delta_rule_desc *d, bool gated)
{
    dvk__rec r;
    DVK_TRY(validate(cmd, d, gated, &r));
    if (dvk__rec_use_chunk(dvk__cmd_context(cmd), &r))
        return record_chunk(cmd, &r);
    return dvk__record_recurrent(cmd, &r);
}

dvk_status dvk_delta_rule(dvk_cmd *cmd, const dvk_delta_rule_desc *desc)
{
    return delta_rule_common(cmd, desc, false);
}

dvk_status dvk_gated_delta_rule(dvk_cmd *cmd, const dvk_delta_rule_desc *desc)
{
    return delta_rule_common(cmd, desc, true);
}
