/* The chunked form of KDA and of the generalized (DPLR) delta rule: the plan (chunk size, slice
 * widths and workgroup shapes that fit the device's shared memory) and the four passes:
 *   gate_cumsum    per-channel cumulative decay inside each chunk       (parallel over chunks)
 *   chunk_prepare  the intra-chunk solve: W and U                       (parallel over chunks)
 *   chunk_state    the state through each sequence's chunks             (sequential)
 *   chunk_output   the outputs (chunk_output_key for the key read-out)  (parallel over chunks)
 * Kernels: shaders/ops/dplr/. The mathematics: docs/design.md and the kernels' headers. */
#include "ops/dplr/chunk.h"

#include "ops/common/binding.h"
#include "ops/common/chunk_tables.h"
#include "ops/common/device_fit.h"
#include "ops/common/l2norm.h"
#include "ops/common/state_carry.h"

#include "shaders/ops/dplr/chunk_output.h"
#include "shaders/ops/dplr/chunk_output_key.h"
#include "shaders/ops/dplr/chunk_prepare.h"
#include "shaders/ops/dplr/chunk_state.h"
#include "shaders/ops/dplr/gate_cumsum.h"

#include <string.h>

enum { K_GATE, K_PREPARE, K_STATE, K_OUTPUT, K_OUTPUT_KEY, K_COUNT };
static const dvk_ops_kernel kernels[K_COUNT][2] = {
    {DVK_OPS_K_DPLR_GATE_CUMSUM_F32, DVK_OPS_K_DPLR_GATE_CUMSUM_F16},
    {DVK_OPS_K_DPLR_CHUNK_PREPARE_F32, DVK_OPS_K_DPLR_CHUNK_PREPARE_F16},
    {DVK_OPS_K_DPLR_CHUNK_STATE_F32, DVK_OPS_K_DPLR_CHUNK_STATE_F16},
    {DVK_OPS_K_DPLR_CHUNK_OUTPUT_F32, DVK_OPS_K_DPLR_CHUNK_OUTPUT_F16},
    {DVK_OPS_K_DPLR_CHUNK_OUTPUT_KEY_F32, DVK_OPS_K_DPLR_CHUNK_OUTPUT_KEY_F16},
};

#define KERNEL_PREPARE_CM DVK_OPS_K_DPLR_CHUNK_PREPARE_CM_F16
#define KERNEL_STATE_CM DVK_OPS_K_DPLR_CHUNK_STATE_CM_F16
#define KERNEL_OUTPUT_CM DVK_OPS_K_DPLR_CHUNK_OUTPUT_CM_F16

typedef struct grid {
    uint32_t WG, GN; /* invocations, and the columns of their grid (GM = WG / GN rows) */
} grid;

typedef struct channel_plan {
    uint32_t C;
    uint32_t KT_prep, KT_state, KT_out;
    grid prep, state, out;
    uint32_t BV_state, BV_out;
    uint32_t BK_key; /* key read-out: output rows (key channels) per workgroup */
    bool cm;         /* prepare and state on cooperative matrices (W, K̂ [, B̂] in fp16) */
    uint32_t BV_cm;  /* the output on cooperative matrices: its value tile, or 0 */
} channel_plan;

/* Shared memory of each kernel, in floats, as the shaders lay it out. */
static uint32_t prepare_floats(uint32_t C, uint32_t KT, bool dplr)
{
    const uint32_t CS = C * (KT + 1), NB = C / 16;
    const uint32_t p1 = (dplr ? 6 : 3) * CS + (NB - 1) * CS;
    const uint32_t p2 = C * (C + 1) + (NB - 1) * 256 + (dplr ? C * (C + 1) : 0) + CS;
    return dvk__max_u32(p1, p2) + C;
}
static uint32_t state_floats(uint32_t C, uint32_t K, uint32_t KT, uint32_t BV, bool dplr)
{
    const uint32_t KP = (uint32_t)dvk__ceil_div(K, KT) * KT, nx = dplr ? 2 : 1;
    return KP * BV + nx * C * (KT + 1) + nx * C * BV;
}
static uint32_t output_floats(uint32_t C, uint32_t KT, uint32_t BV, bool dplr)
{
    const uint32_t CS = C * (KT + 1), NB = C / 16;
    const uint32_t loop = (dplr ? 7 : 5) * CS + (NB - 1) * CS + KT * BV;
    return dvk__max_u32(loop, C * (C + 1) + C * BV);
}
static uint32_t output_key_floats(uint32_t C, uint32_t VT, uint32_t BK)
{
    const uint32_t loop = 3 * C * (VT + 1) + BK * (VT + 1);
    const uint32_t tail = 2 * C * (C + 1) + 3 * C * (BK + 1);
    return dvk__max_u32(loop, tail);
}

/* A grid GN wide with as many rows as allowed, at most `rows` (a power of two). */
static grid make_grid(uint32_t wg_max, uint32_t gn, uint32_t rows)
{
    const uint32_t gm = dvk__min_u32(dvk__floor_pow2(dvk__max_u32(1, wg_max / gn)), rows);
    return (grid){gm * gn, gn};
}

/* Tries chunk size C: fills the plan and returns true when all kernels fit. */
static bool plan_for(const dvk_context *ctx, const dvk__rec *r, uint32_t C, channel_plan *p)
{
    const dvk_device_info *info = &ctx->info;
    const uint32_t floats = info->max_shared_memory / 4;
    const uint32_t wg_max = dvk__floor_pow2(dvk__workgroup_limit(info, 256));
    if (wg_max < 16)
        return false;
    memset(p, 0, sizeof *p);
    p->C = C;
    /* prepare: C x C Gram blocks and C x KT slices on a grid min(16, KT) wide */
    for (uint32_t kt = 32; kt >= 8 && !p->KT_prep; kt /= 2) {
        const grid g = make_grid(wg_max, dvk__min_u32(16, kt), C);
        if (C % (g.WG / g.GN) == 0 && prepare_floats(C, kt, r->dplr) <= floats) {
            p->KT_prep = kt;
            p->prep = g;
        }
    }
    /* state: h [K x BV] in shared memory; the grid's rows divide KT and C */
    for (uint32_t bv = 32; bv >= 8 && !p->BV_state; bv /= 2) {
        for (uint32_t kt = 32; kt >= 8 && !p->BV_state; kt /= 2) {
            const grid g = make_grid(wg_max, dvk__min_u32(16, bv), dvk__min_u32(kt, C));
            if (kt % g.GN == 0 && state_floats(C, r->K, kt, bv, r->dplr) <= floats) {
                p->BV_state = bv;
                p->KT_state = kt;
                p->state = g;
            }
        }
    }
    if (r->key_readout) {
        for (uint32_t bk = 32; bk >= 16 && !p->BK_key; bk /= 2) {
            const grid g = make_grid(wg_max, 16, C);
            if (output_key_floats(C, 16, bk) <= floats) {
                p->BK_key = bk;
                p->KT_out = 16;
                p->out = g;
            }
        }
        return p->KT_prep && p->BV_state && p->BK_key;
    }
    /* output: Gram blocks on a grid 16 wide, BV a multiple of 16 */
    for (uint32_t bv = 64; bv >= 16 && !p->BV_out; bv /= 2) {
        for (uint32_t kt = 16; kt >= 8 && !p->BV_out; kt /= 2) {
            if (output_floats(C, kt, bv, r->dplr) <= floats) {
                p->BV_out = bv;
                p->KT_out = kt;
                p->out = make_grid(wg_max, 16, C);
            }
        }
    }
    /* On cooperative matrices (chunk_prepare_cm.comp, chunk_state_cm.comp,
     * chunk_output_cm.comp): fp16, chunks of 64; prepare and output with 256 invocations, the
     * state with up to 128 (subgroups that share its K/16 state blocks evenly) and value
     * tiles of 16, the output with tiles of 128, 64 or 32. Prepare and state go together (W,
     * K̂ and, for DPLR, B̂ pass between them in fp16). Shared memory in bytes as the shaders
     * lay it out (rows padded by 8 halves or 4 floats, Gram steps of 16 channels). */
    /* The generalized rule only through the RWKV-7 entry: the tensor-core stages round h to
     * fp16 for their products, and a general transition (Memodo's) may grow the state past
     * fp16's range, which the fp32 kernels follow faithfully; RWKV-7's stays bounded. */
    const bool cm = !r->key_readout && (!r->dplr || r->rwkv7) && C == 64 &&
                    dvk__coopmat_f16_usable(ctx, r);
    const uint32_t xs = 16 + 8, nd = r->dplr ? 1 : 0;
    const uint32_t prep_bytes =
        2 * dvk__max_u32(((2 + 3 * nd) * C + 96) * xs, (1 + nd) * C * (C + 8) + C * (64 + 8)) +
        4 * (C * (C + 4) + (C / 16 - 1) * 256 + C);
    const uint32_t state_bytes = 2 * (C * (r->K + 8) + (r->K + 2 * C) * (16 + 8)) +
                                 4 * ((r->K + C) * (16 + 4) + r->K);
    p->cm = cm && prep_bytes <= info->max_shared_memory &&
            state_bytes <= info->max_shared_memory && dvk__kernel_available(KERNEL_PREPARE_CM) &&
            dvk__kernel_available(KERNEL_STATE_CM);
    /* the output's widest value tile that divides V and fits (P is formed once per tile):
     * 128 at K = V = 128 in 48 KiB */
    for (uint32_t bv = 128; bv >= 32 && cm && !p->BV_cm; bv /= 2) {
        const uint32_t loop16 = ((4 + 2 * nd) * C + 96) * xs + 16 * (bv + 8);
        const uint32_t tail16 = C * (C + 8) + C * (bv + 8);
        const uint32_t out_bytes = 2 * dvk__max_u32(loop16, tail16) + 4 * C * 20;
        if (r->V % bv == 0 && out_bytes <= info->max_shared_memory &&
            dvk__kernel_available(KERNEL_OUTPUT_CM))
            p->BV_cm = bv;
    }
    return p->KT_prep && p->BV_state && p->BV_out;
}

static dvk_status plan_chunk(const dvk_context *ctx, const dvk__rec *r, channel_plan *p)
{
    const uint32_t sizes[3] = {64, 32, 16};
    for (int i = 0; i < 3; ++i) {
        const uint32_t C = r->chunk_size ? r->chunk_size : sizes[i];
        if (plan_for(ctx, r, C, p))
            return DVK_SUCCESS;
        if (r->chunk_size)
            break;
    }
    return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                     "chunked mode: no chunk size%s fits K = %u, V = %u in %u bytes of shared "
                     "memory",
                     r->chunk_size ? " (as requested)" : "", r->K, r->V,
                     ctx->info.max_shared_memory);
}

static dvk_status record_passes(dvk_cmd *cmd, const dvk__rec *r, const channel_plan *p,
                                const dvk__chunk_tables *tab)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    const int f16 = r->dtype == DVK_DTYPE_F16;
    const uint64_t tokens = (uint64_t)r->B * r->T;
    const dvk_binding none = dvk__bind_dummy(cmd);
    const dvk_pipeline *pipe;

    dvk_binding table, seq;
    DVK_TRY(dvk__chunk_tables_upload(cmd, r, tab, &table, &seq));
    dvk_binding q = dvk__bind_read(r->q), k = dvk__bind_read(r->k);
    if (r->l2norm_qk) {
        DVK_TRY(dvk__record_l2norm(cmd, r, r->q, &q));
        DVK_TRY(dvk__record_l2norm(cmd, r, r->k, &k));
    }
    /* a (or kappa) and b (or alpha) for the generalized rule; beta for KDA */
    const dvk_binding a = r->dplr ? dvk__bind_read(r->a) : none;
    const dvk_binding b = r->dplr ? dvk__bind_read(r->b) : none;
    const dvk_binding v = dvk__bind_read(r->v);
    dvk_binding gcum, w, u, hc;
    DVK_TRY(dvk__cmd_scratch(cmd, tokens * r->HV * r->K * 4, &gcum));
    /* K̂ = exp(G_C - G) ⊙ K and (DPLR) B̂, fp16, from the tensor-core prepare */
    dvk_binding kh = none, bh = none;
    DVK_TRY(dvk__cmd_scratch(cmd, tokens * r->HV * r->K * (p->cm ? 2 : 4), &w));
    if (p->cm)
        DVK_TRY(dvk__cmd_scratch(cmd, tokens * r->HV * r->K * 2, &kh));
    if (p->cm && r->dplr)
        DVK_TRY(dvk__cmd_scratch(cmd, tokens * r->HV * r->K * 2, &bh));
    DVK_TRY(dvk__cmd_scratch(cmd, tokens * r->HV * r->V * 4, &u));
    DVK_TRY(dvk__cmd_scratch(cmd, (uint64_t)tab->count * r->HV * r->K * r->V * 4, &hc));

    /* 0. the cumulative gate */
    const uint32_t wg_gate = dvk__min_u32(dvk__next_pow2(r->K),
                                          dvk__floor_pow2(dvk__workgroup_limit(&ctx->info, 128)));
    const dvk_pipeline_key k0 = {
        .kernel = kernels[K_GATE][f16],
        .binding_count = DPLR_GATE_CUMSUM_BINDINGS,
        .push_size = sizeof(dplr_gate_cumsum_push),
        .spec_count = DPLR_GATE_CUMSUM_SPECS,
        .spec = {
            [DPLR_GATE_CUMSUM_SPEC_K] = r->K,
            [DPLR_GATE_CUMSUM_SPEC_GATE_ACT] = r->gate_act,
            [DPLR_GATE_CUMSUM_SPEC_USE_DT_BIAS] = r->dt_bias != NULL,
            [DPLR_GATE_CUMSUM_SPEC_WG] = wg_gate,
        },
    };
    DVK_TRY(dvk__pipeline_get(ctx, &k0, &pipe));
    const dvk_binding b0[DPLR_GATE_CUMSUM_BINDINGS] = {
        [DPLR_GATE_CUMSUM_BIND_G] = dvk__bind_read(r->g),
        [DPLR_GATE_CUMSUM_BIND_A_LOG] = r->gate_act ? dvk__bind_read(r->A_log) : none,
        [DPLR_GATE_CUMSUM_BIND_DT_BIAS] = r->gate_act && r->dt_bias ? dvk__bind_read(r->dt_bias)
                                                                   : none,
        [DPLR_GATE_CUMSUM_BIND_G_CUM] = gcum,
        [DPLR_GATE_CUMSUM_BIND_TABLE] = table,
    };
    const dplr_gate_cumsum_push gp = {.HV = r->HV};
    DVK_TRY(dvk__cmd_dispatch(cmd, pipe, b0, &gp, tab->count, r->HV, 1));
    gcum = dvk__as_input(gcum);

    /* 1. inside each chunk: W and U */
    const dvk_pipeline_key k1 = p->cm ? (dvk_pipeline_key){
        .kernel = KERNEL_PREPARE_CM,
        .binding_count = DPLR_CHUNK_PREPARE_CM_BINDINGS,
        .push_size = sizeof(dplr_chunk_prepare_push),
        .spec_count = DPLR_CHUNK_PREPARE_CM_SPECS,
        .spec = {
            [DPLR_CHUNK_PREPARE_CM_SPEC_C] = p->C,
            [DPLR_CHUNK_PREPARE_CM_SPEC_K] = r->K,
            [DPLR_CHUNK_PREPARE_CM_SPEC_V] = r->V,
            [DPLR_CHUNK_PREPARE_CM_SPEC_KT] = DPLR_CHUNK_PREPARE_CM_KT_STEP,
            [DPLR_CHUNK_PREPARE_CM_SPEC_WG] = DPLR_CHUNK_PREPARE_CM_WORKGROUP,
            [DPLR_CHUNK_PREPARE_CM_SPEC_BETA_SIGMOID] = r->beta_sigmoid,
            [DPLR_CHUNK_PREPARE_CM_SPEC_DPLR] = r->dplr,
            [DPLR_CHUNK_PREPARE_CM_SPEC_RWKV7] = r->rwkv7,
        },
    } : (dvk_pipeline_key){
        .kernel = kernels[K_PREPARE][f16],
        .binding_count = DPLR_CHUNK_PREPARE_BINDINGS,
        .push_size = sizeof(dplr_chunk_prepare_push),
        .spec_count = DPLR_CHUNK_PREPARE_SPECS,
        .spec = {
            [DPLR_CHUNK_PREPARE_SPEC_C] = p->C,
            [DPLR_CHUNK_PREPARE_SPEC_K] = r->K,
            [DPLR_CHUNK_PREPARE_SPEC_V] = r->V,
            [DPLR_CHUNK_PREPARE_SPEC_KT] = p->KT_prep,
            [DPLR_CHUNK_PREPARE_SPEC_DPLR] = r->dplr,
            [DPLR_CHUNK_PREPARE_SPEC_WG] = p->prep.WG,
            [DPLR_CHUNK_PREPARE_SPEC_GN] = p->prep.GN,
            [DPLR_CHUNK_PREPARE_SPEC_BETA_SIGMOID] = r->beta_sigmoid,
            [DPLR_CHUNK_PREPARE_SPEC_RWKV7] = r->rwkv7,
        },
    };
    DVK_TRY(dvk__pipeline_get(ctx, &k1, &pipe));
    /* (the FMA kernel's key takes the first DPLR_CHUNK_PREPARE_BINDINGS) */
    const dvk_binding b1[DPLR_CHUNK_PREPARE_CM_BINDINGS] = {
        [DPLR_CHUNK_PREPARE_BIND_K] = k,
        [DPLR_CHUNK_PREPARE_BIND_V] = v,
        [DPLR_CHUNK_PREPARE_BIND_BETA] = r->dplr ? a : dvk__bind_read(r->beta),
        [DPLR_CHUNK_PREPARE_BIND_B] = b,
        [DPLR_CHUNK_PREPARE_BIND_G_CUM] = gcum,
        [DPLR_CHUNK_PREPARE_BIND_W] = w,
        [DPLR_CHUNK_PREPARE_BIND_U] = u,
        [DPLR_CHUNK_PREPARE_BIND_TABLE] = table,
        [DPLR_CHUNK_PREPARE_BIND_KH] = kh,
        [DPLR_CHUNK_PREPARE_BIND_BH] = bh,
    };
    const dplr_chunk_prepare_push pp = {.H = r->H, .HV = r->HV};
    DVK_TRY(dvk__cmd_dispatch(cmd, pipe, b1, &pp, tab->count, r->HV, 1));
    if (p->cm)
        kh = dvk__as_input(kh);
    if (p->cm && r->dplr)
        bh = dvk__as_input(bh);

    /* 2. the state through each sequence's chunks, in dispatches of bounded length */
    dvk__carry carry;
    DVK_TRY(dvk__carry_init(
        cmd, r, (uint32_t)dvk__ceil_div(tab->max_chunks, DVK__CHUNKS_PER_DISPATCH), &carry));
    for (uint32_t i = 0; i < carry.segments; ++i) {
        dvk_binding in, out;
        bool use_in, store_out;
        dvk__carry_segment(&carry, i, &in, &use_in, &out, &store_out);
        const dvk_pipeline_key k2 = p->cm ? (dvk_pipeline_key){
            .kernel = KERNEL_STATE_CM,
            .binding_count = DPLR_CHUNK_STATE_BINDINGS,
            .push_size = sizeof(dplr_chunk_state_push),
            .spec_count = DPLR_CHUNK_STATE_CM_SPECS,
            .spec = {
                [DPLR_CHUNK_STATE_CM_SPEC_C] = p->C,
                [DPLR_CHUNK_STATE_CM_SPEC_K] = r->K,
                [DPLR_CHUNK_STATE_CM_SPEC_V] = r->V,
                [DPLR_CHUNK_STATE_CM_SPEC_BV] = DPLR_CHUNK_STATE_CM_BV,
                [DPLR_CHUNK_STATE_CM_SPEC_USE_H0] = use_in,
                [DPLR_CHUNK_STATE_CM_SPEC_STORE_HT] = store_out,
                [DPLR_CHUNK_STATE_CM_SPEC_WG] = 32 * dvk__subgroups_for(r->K / 16, p->C / 16, 4),
                [DPLR_CHUNK_STATE_CM_SPEC_DPLR] = r->dplr,
            },
        } : (dvk_pipeline_key){
            .kernel = kernels[K_STATE][f16],
            .binding_count = DPLR_CHUNK_STATE_BINDINGS,
            .push_size = sizeof(dplr_chunk_state_push),
            .spec_count = DPLR_CHUNK_STATE_SPECS,
            .spec = {
                [DPLR_CHUNK_STATE_SPEC_C] = p->C,
                [DPLR_CHUNK_STATE_SPEC_K] = r->K,
                [DPLR_CHUNK_STATE_SPEC_V] = r->V,
                [DPLR_CHUNK_STATE_SPEC_BV] = p->BV_state,
                [DPLR_CHUNK_STATE_SPEC_KT] = p->KT_state,
                [DPLR_CHUNK_STATE_SPEC_DPLR] = r->dplr,
                [DPLR_CHUNK_STATE_SPEC_USE_H0] = use_in,
                [DPLR_CHUNK_STATE_SPEC_STORE_HT] = store_out,
                [DPLR_CHUNK_STATE_SPEC_WG] = p->state.WG,
                [DPLR_CHUNK_STATE_SPEC_GN] = p->state.GN,
                [DPLR_CHUNK_STATE_SPEC_RWKV7] = r->rwkv7,
            },
        };
        DVK_TRY(dvk__pipeline_get(ctx, &k2, &pipe));
        /* the tensor-core kernel reads K̂ where the others read k, and B̂ where they read b */
        const dvk_binding b2[DPLR_CHUNK_STATE_BINDINGS] = {
            [DPLR_CHUNK_STATE_BIND_K] = p->cm ? kh : k,
            [DPLR_CHUNK_STATE_BIND_A] = a,
            [DPLR_CHUNK_STATE_BIND_B] = p->cm && r->dplr ? bh : b,
            [DPLR_CHUNK_STATE_BIND_V] = v,
            [DPLR_CHUNK_STATE_BIND_W] = dvk__as_input(w),
            /* read, and rewritten in place as U' (KDA) or the low-rank reads (DPLR) */
            [DPLR_CHUNK_STATE_BIND_U] = u,
            [DPLR_CHUNK_STATE_BIND_G_CUM] = gcum,
            [DPLR_CHUNK_STATE_BIND_H0] = in,
            [DPLR_CHUNK_STATE_BIND_HT] = out,
            [DPLR_CHUNK_STATE_BIND_H_CHUNKS] = hc,
            [DPLR_CHUNK_STATE_BIND_TABLE] = table,
            [DPLR_CHUNK_STATE_BIND_SEQ] = seq,
        };
        const dplr_chunk_state_push sp = {
            .H = r->H,
            .HV = r->HV,
            .c_begin = i * DVK__CHUNKS_PER_DISPATCH,
            .c_count = DVK__CHUNKS_PER_DISPATCH,
        };
        const uint32_t bv = p->cm ? DPLR_CHUNK_STATE_CM_BV : p->BV_state;
        DVK_TRY(dvk__cmd_dispatch(cmd, pipe, b2, &sp, (uint32_t)dvk__ceil_div(r->V, bv), r->HV,
                                  r->N));
    }

    /* 3. the outputs of every chunk */
    if (r->key_readout) {
        const dvk_pipeline_key k3 = {
            .kernel = kernels[K_OUTPUT_KEY][f16],
            .binding_count = DPLR_CHUNK_OUTPUT_KEY_BINDINGS,
            .push_size = sizeof(dplr_chunk_output_key_push),
            .spec_count = DPLR_CHUNK_OUTPUT_KEY_SPECS,
            .spec = {
                [DPLR_CHUNK_OUTPUT_KEY_SPEC_C] = p->C,
                [DPLR_CHUNK_OUTPUT_KEY_SPEC_K] = r->K,
                [DPLR_CHUNK_OUTPUT_KEY_SPEC_V] = r->V,
                [DPLR_CHUNK_OUTPUT_KEY_SPEC_BK] = p->BK_key,
                [DPLR_CHUNK_OUTPUT_KEY_SPEC_VT] = p->KT_out,
                [DPLR_CHUNK_OUTPUT_KEY_SPEC_WG] = p->out.WG,
                [DPLR_CHUNK_OUTPUT_KEY_SPEC_GN] = p->out.GN,
            },
        };
        DVK_TRY(dvk__pipeline_get(ctx, &k3, &pipe));
        const dvk_binding b3[DPLR_CHUNK_OUTPUT_KEY_BINDINGS] = {
            [DPLR_CHUNK_OUTPUT_KEY_BIND_Q] = q,
            [DPLR_CHUNK_OUTPUT_KEY_BIND_K] = k,
            [DPLR_CHUNK_OUTPUT_KEY_BIND_B] = b,
            [DPLR_CHUNK_OUTPUT_KEY_BIND_V] = v,
            [DPLR_CHUNK_OUTPUT_KEY_BIND_U] = dvk__as_input(u),
            [DPLR_CHUNK_OUTPUT_KEY_BIND_G_CUM] = gcum,
            [DPLR_CHUNK_OUTPUT_KEY_BIND_H_CHUNKS] = dvk__as_input(hc),
            [DPLR_CHUNK_OUTPUT_KEY_BIND_O] = dvk__bind_write(r->o),
            [DPLR_CHUNK_OUTPUT_KEY_BIND_TABLE] = table,
        };
        const dplr_chunk_output_key_push op = {.H = r->H, .HV = r->HV, .scale = r->scale};
        return dvk__cmd_dispatch(cmd, pipe, b3, &op, tab->count, r->HV,
                                 (uint32_t)dvk__ceil_div(r->K, p->BK_key));
    }
    const dvk_pipeline_key k3 = p->BV_cm ? (dvk_pipeline_key){
        .kernel = KERNEL_OUTPUT_CM,
        .binding_count = DPLR_CHUNK_OUTPUT_BINDINGS,
        .push_size = sizeof(dplr_chunk_output_push),
        .spec_count = DPLR_CHUNK_OUTPUT_CM_SPECS,
        .spec = {
            [DPLR_CHUNK_OUTPUT_CM_SPEC_C] = p->C,
            [DPLR_CHUNK_OUTPUT_CM_SPEC_K] = r->K,
            [DPLR_CHUNK_OUTPUT_CM_SPEC_V] = r->V,
            [DPLR_CHUNK_OUTPUT_CM_SPEC_BV] = p->BV_cm,
            [DPLR_CHUNK_OUTPUT_CM_SPEC_KT] = DPLR_CHUNK_OUTPUT_CM_KT_STEP,
            [DPLR_CHUNK_OUTPUT_CM_SPEC_WG] = DPLR_CHUNK_OUTPUT_CM_WORKGROUP,
            [DPLR_CHUNK_OUTPUT_CM_SPEC_DPLR] = r->dplr,
            [DPLR_CHUNK_OUTPUT_CM_SPEC_RWKV7] = r->rwkv7,
        },
    } : (dvk_pipeline_key){
        .kernel = kernels[K_OUTPUT][f16],
        .binding_count = DPLR_CHUNK_OUTPUT_BINDINGS,
        .push_size = sizeof(dplr_chunk_output_push),
        .spec_count = DPLR_CHUNK_OUTPUT_SPECS,
        .spec = {
            [DPLR_CHUNK_OUTPUT_SPEC_C] = p->C,
            [DPLR_CHUNK_OUTPUT_SPEC_K] = r->K,
            [DPLR_CHUNK_OUTPUT_SPEC_V] = r->V,
            [DPLR_CHUNK_OUTPUT_SPEC_BV] = p->BV_out,
            [DPLR_CHUNK_OUTPUT_SPEC_KT] = p->KT_out,
            [DPLR_CHUNK_OUTPUT_SPEC_DPLR] = r->dplr,
            [DPLR_CHUNK_OUTPUT_SPEC_WG] = p->out.WG,
            [DPLR_CHUNK_OUTPUT_SPEC_GN] = p->out.GN,
            [DPLR_CHUNK_OUTPUT_SPEC_RWKV7] = r->rwkv7,
        },
    };
    DVK_TRY(dvk__pipeline_get(ctx, &k3, &pipe));
    const dvk_binding b3[DPLR_CHUNK_OUTPUT_BINDINGS] = {
        [DPLR_CHUNK_OUTPUT_BIND_Q] = q,
        [DPLR_CHUNK_OUTPUT_BIND_K] = k,
        [DPLR_CHUNK_OUTPUT_BIND_A] = a,
        [DPLR_CHUNK_OUTPUT_BIND_B] = b,
        [DPLR_CHUNK_OUTPUT_BIND_V] = v,
        [DPLR_CHUNK_OUTPUT_BIND_U] = dvk__as_input(u),
        [DPLR_CHUNK_OUTPUT_BIND_G_CUM] = gcum,
        [DPLR_CHUNK_OUTPUT_BIND_H_CHUNKS] = dvk__as_input(hc),
        [DPLR_CHUNK_OUTPUT_BIND_O] = dvk__bind_write(r->o),
        [DPLR_CHUNK_OUTPUT_BIND_TABLE] = table,
    };
    const dplr_chunk_output_push op = {.H = r->H, .HV = r->HV, .scale = r->scale};
    const uint32_t bv = p->BV_cm ? p->BV_cm : p->BV_out;
    return dvk__cmd_dispatch(cmd, pipe, b3, &op, tab->count, r->HV,
                             (uint32_t)dvk__ceil_div(r->V, bv));
}

bool dvk__channel_use_chunk(const dvk_context *ctx, const dvk__rec *r)
{
    if (!dvk__rec_use_chunk(ctx, r))
        return false;
    if (r->mode != DVK_MODE_DEFAULT)
        return true;
    /* The stages on tensor cores beat the recurrent kernel at every length past a chunk: KDA
     * 2.15 against 11.2 ms and RWKV-7 3.02 against 13.2 ms at 4 x 4096 x 16 heads, fp16, on
     * the H100. (They need chunks of 64, the first size plan_chunk tries.) */
    channel_plan plan;
    if (plan_for(ctx, r, r->chunk_size ? r->chunk_size : 64, &plan) && plan.cm)
        return true;
    /* On the fp32 FMA kernels (H100, K = V = 128) the chunked form loses to the recurrent
     * kernel when many (sequence, head) pairs keep it busy — 4 x 16 pairs at T = 4096: RWKV-7
     * 21.8 ms chunked against 13.2 ms recurrent, KDA 14.0 against 11.2 — and wins when few do
     * — 1 x 16 at T = 16384: KDA 18.4 against 30.0, RWKV-7 28.2 against 35.3. */
    return (uint64_t)r->N * r->HV < 64;
}

dvk_status dvk__record_channel_chunk(dvk_cmd *cmd, const dvk__rec *r)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    channel_plan plan;
    DVK_TRY(plan_chunk(ctx, r, &plan));
    dvk__chunk_tables tab;
    DVK_TRY(dvk__chunk_tables_build(ctx, r, plan.C, &tab));
    const dvk_status st = record_passes(cmd, r, &plan, &tab);
    dvk__chunk_tables_free(ctx, &tab);
    return st;
}
