/* Host side of the delta rule and the gated delta rule: argument checks, the choice of kernel
 * variant from the device's limits, and the dispatches. Kernels: shaders/delta_rule/. */
#include "core/internal.h"

#include <math.h>
#include <string.h>

/* The largest workgroup a kernel may plan for: `cap`, the device's limits, and the profile's. */
static uint32_t workgroup_limit(const dvk_device_info *info, uint32_t cap)
{
    return dvk__min_u32(dvk__min_u32(cap, info->max_workgroup_invocations),
                        info->max_workgroup_size[0]);
}

/* Everything the kernels need to know, after validation. */
typedef struct delta_problem {
    uint32_t B, T, H, HV, K, V, N;
    dvk_dtype dtype;
    float scale;
    bool gated;
    uint32_t max_len; /* longest sequence */
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
    p->max_len = d->cu_seqlens ? 0 : p->T; /* with cu_seqlens: the longest sequence, below */
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
        for (uint32_t i = 0; i < d->num_seqs; ++i)
            p->max_len = dvk__max_u32(p->max_len, (uint32_t)(d->cu_seqlens[i + 1] - d->cu_seqlens[i]));
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
    if (d->chunk_size != 0 && d->chunk_size != 16 && d->chunk_size != 32 && d->chunk_size != 64)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "chunk_size %u is not 0, 16, 32 or 64",
                         d->chunk_size);
    return DVK_SUCCESS;
}

/* ---- long sequences: several dispatches, the state carried between them ---------------------- */

/* Each dispatch of a sequential pass runs at most this many tokens (recurrent kernel) or chunks
 * (chunked state pass) of every sequence; a longer sequence takes several dispatches, the state
 * going through memory between them. Short dispatches stay clear of drivers' watchdogs (a GPU
 * reset on Windows after 2 s), and lavapipe (Mesa 22.3.6) computes wrong results in workgroups
 * that loop far longer than this: seen from about 2 900 tokens and 560 chunks in one workgroup,
 * while the H100's driver computes the same dispatches correctly. Each extra dispatch costs one
 * read and one write of the state. */
#define RECURRENT_TOKENS_PER_DISPATCH 1024u
#define STATE_CHUNKS_PER_DISPATCH 64u

typedef struct state_carry {
    uint32_t segments;
    dvk_binding h0, ht, carry; /* carry: between segments (final_state, or scratch) */
    bool has_h0, has_ht;
} state_carry;

static dvk_status carry_init(dvk_cmd *cmd, const dvk_delta_rule_desc *d, const delta_problem *p,
                             uint32_t segments, state_carry *c)
{
    memset(c, 0, sizeof *c);
    const dvk_binding none = dvk__bind_dummy(cmd);
    c->segments = segments ? segments : 1;
    c->has_h0 = d->initial_state != NULL;
    c->has_ht = d->final_state != NULL;
    c->h0 = c->has_h0 ? dvk__bind_read(d->initial_state) : none;
    c->ht = c->has_ht ? dvk__bind_write(d->final_state) : none;
    c->carry = none;
    if (c->segments > 1) {
        if (c->has_ht)
            c->carry = c->ht;
        else
            DVK_TRY(dvk__cmd_scratch(cmd, (uint64_t)p->N * p->HV * p->K * p->V * 4, &c->carry));
    }
    return DVK_SUCCESS;
}

/* The state bindings of segment i: where it reads the state from and writes it to. */
static void carry_segment(const state_carry *c, uint32_t i, dvk_binding *in, bool *use_in,
                          dvk_binding *out, bool *store_out)
{
    *use_in = i > 0 || c->has_h0;
    *in = i == 0 ? c->h0 : c->carry;
    in->write = false;
    *store_out = i + 1 < c->segments || c->has_ht;
    *out = i + 1 < c->segments ? c->carry : c->ht;
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
    const uint32_t wg_max = workgroup_limit(info, 128);
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
    uint32_t t_begin, t_count;
} recurrent_push;

static dvk_status record_recurrent(dvk_cmd *cmd, const dvk_delta_rule_desc *d,
                                   const delta_problem *p)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    recurrent_plan plan = {0};
    DVK_TRY(plan_recurrent(ctx, p, &plan));
    dvk_binding cu = dvk__bind_dummy(cmd);
    if (d->cu_seqlens)
        DVK_TRY(dvk__cmd_upload_scratch(cmd, d->cu_seqlens, sizeof(int32_t) * (p->N + 1), &cu));
    state_carry carry;
    const uint32_t segments = (uint32_t)dvk__ceil_div(p->max_len, RECURRENT_TOKENS_PER_DISPATCH);
    DVK_TRY(carry_init(cmd, d, p, segments, &carry));
    const dvk_binding none = dvk__bind_dummy(cmd);

    for (uint32_t i = 0; i < carry.segments; ++i) {
        dvk_binding in, out;
        bool use_in, store_out;
        carry_segment(&carry, i, &in, &use_in, &out, &store_out);
        const dvk_pipeline_key key = {
            .spirv_name = recurrent_kernels[p->dtype == DVK_DTYPE_F16][plan.subgroup],
            .binding_count = 9,
            .push_size = sizeof(recurrent_push),
            .spec_count = 11,
            .spec = {p->K, p->V, plan.BV, plan.KS, plan.TB, p->gated, use_in, store_out,
                     d->cu_seqlens != NULL, d->l2norm_qk, plan.WG},
        };
        const dvk_pipeline *pipe;
        DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
        const dvk_binding b[9] = {
            dvk__bind_read(d->q), dvk__bind_read(d->k), dvk__bind_read(d->v),
            dvk__bind_read(d->beta), p->gated ? dvk__bind_read(d->g) : none, in, out,
            dvk__bind_write(d->o), cu,
        };
        const recurrent_push push = {p->T, p->H, p->HV, p->scale,
                                     i * RECURRENT_TOKENS_PER_DISPATCH,
                                     RECURRENT_TOKENS_PER_DISPATCH};
        DVK_TRY(dvk__cmd_dispatch(cmd, pipe, b, &push, (uint32_t)dvk__ceil_div(p->V, plan.BV),
                                  p->HV, p->N));
    }
    return DVK_SUCCESS;
}

/* ---- decode kernel (one token per sequence) ------------------------------------------------- */

static const char *const decode_kernels[2] = {"delta_rule/decode_f32", "delta_rule/decode_f16"};

/* The single-pass decode kernel applies when every sequence is one token and state rows can be
 * read as vec4s. */
static bool decode_applies(const dvk_delta_rule_desc *d, const delta_problem *p)
{
    return p->T == 1 && !d->cu_seqlens && p->V % 4 == 0 && d->mode != DVK_MODE_CHUNK;
}

typedef struct decode_push {
    uint32_t H, HV;
    float scale;
} decode_push;

static dvk_status record_decode(dvk_cmd *cmd, const dvk_delta_rule_desc *d, const delta_problem *p)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    const dvk_device_info *info = &ctx->info;
    /* A power-of-two tile (V % 4 == 0 makes it >= 4; columns past V are masked) and a
     * power-of-two workgroup (the dot products reduce as a tree): whole row groups. */
    const uint32_t bv = dvk__min_u32(32, dvk__next_pow2(p->V));
    const uint32_t wg = dvk__next_pow2(workgroup_limit(info, 128) + 1) / 2;
    if (wg < bv / 4)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "decode: %u invocations per workgroup is too few",
                         wg);
    const dvk_pipeline_key key = {
        .spirv_name = decode_kernels[p->dtype == DVK_DTYPE_F16],
        .binding_count = 8,
        .push_size = sizeof(decode_push),
        .spec_count = 8,
        .spec = {p->K, p->V, bv, p->gated, d->initial_state != NULL, d->final_state != NULL,
                 d->l2norm_qk, wg},
    };
    const dvk_pipeline *pipe;
    DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
    const dvk_binding none = dvk__bind_dummy(cmd);
    const dvk_binding b[8] = {
        dvk__bind_read(d->q), dvk__bind_read(d->k), dvk__bind_read(d->v), dvk__bind_read(d->beta),
        p->gated ? dvk__bind_read(d->g) : none,
        d->initial_state ? dvk__bind_read(d->initial_state) : none,
        d->final_state ? dvk__bind_write(d->final_state) : none, dvk__bind_write(d->o),
    };
    const decode_push push = {p->H, p->HV, p->scale};
    return dvk__cmd_dispatch(cmd, pipe, b, &push, (uint32_t)dvk__ceil_div(p->V, bv), p->HV, p->N);
}

/* ---- chunked kernels ------------------------------------------------------------------------ */

enum { STAGE_PREPARE, STAGE_STATE, STAGE_OUTPUT, STAGE_L2NORM, STAGE_COUNT };
/* [stage][0 fp32, 1 fp16, 2 fp16 on cooperative matrices] */
static const char *const chunk_kernels[STAGE_COUNT][3] = {
    {"delta_rule/chunk_prepare_f32", "delta_rule/chunk_prepare_f16",
     "delta_rule/chunk_prepare_cm_f16"},
    {"delta_rule/chunk_state_f32", "delta_rule/chunk_state_f16", "delta_rule/chunk_state_cm_f16"},
    {"delta_rule/chunk_output_f32", "delta_rule/chunk_output_f16",
     "delta_rule/chunk_output_cm_f16"},
    {"delta_rule/l2norm_f32", "delta_rule/l2norm_f16", NULL},
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

/* The largest count of subgroups of 32 (8, 4, 2, 1) dividing both block counts. */
static uint32_t subgroups_for(uint32_t blocks_a, uint32_t blocks_b, uint32_t most)
{
    for (uint32_t n = most; n > 1; n /= 2)
        if (blocks_a % n == 0 && blocks_b % n == 0)
            return n;
    return 1;
}

/* The cooperative-matrix kernels (tensor cores): fp16 tensors, chunks of 64, K and V multiples
 * of 16, VK_NV_cooperative_matrix with fp16 x fp16 + fp32 16x16x16 blocks, subgroups of 32.
 * Returns false, leaving the portable kernels, when anything is missing. */
static bool plan_coopmat(const dvk_context *ctx, const delta_problem *p, uint32_t requested,
                         chunk_plan *plan)
{
    const dvk_device_info *info = &ctx->info;
    if (p->dtype != DVK_DTYPE_F16 || !info->cooperative_matrix_nv ||
        !ctx->caps.coopmat_nv_f16_16x16x16 || !info->fp16_arithmetic ||
        !ctx->caps.feat_memory_model ||
        info->min_subgroup_size != 32 || info->max_subgroup_size != 32 || p->K % 16 ||
        p->V % 16 || (requested && requested != 64) || workgroup_limit(info, 256) < 256)
        return false;
    for (int s = 0; s < 3; ++s)
        if (!dvk__spirv_available(chunk_kernels[s][2]))
            return false;
    const uint32_t C = 64, CB = C / 16, KT_prep = 64, KT_out = 16;
    /* Full chunks read and write whole blocks in place: the tiles must divide V. */
    const uint32_t BV_out = p->V % 64 == 0 ? 64 : p->V % 32 == 0 ? 32 : 16;
    const uint32_t bv_state = p->V % 32 == 0 && p->K <= 128 ? 32 : 16;
    /* shared memory of each kernel, in bytes, as the shaders lay it out */
    const uint32_t prep = 2 * (2 * C * C + C * KT_prep) + 4 * (C * C + (C / 16 - 1) * 256 + 2 * C);
    const uint32_t state = 2 * (C * p->K + p->K * bv_state + C * bv_state) +
                           4 * (C * bv_state + C);
    const uint32_t out = 2 * dvk__max_u32(2 * C * KT_out + KT_out * BV_out, C * C + C * BV_out) +
                         4 * (C * dvk__max_u32(C, BV_out) + C);
    if (prep > info->max_shared_memory || state > info->max_shared_memory ||
        out > info->max_shared_memory)
        return false;
    plan->coopmat = true;
    plan->C = C;
    plan->cm_wg[0] = 32 * subgroups_for(CB * CB, CB * (KT_prep / 16), 8);
    plan->KT = KT_prep;
    plan->cm_wg[1] = 32 * subgroups_for((p->K / 16) * (bv_state / 16), CB * (bv_state / 16), 4);
    plan->cm_wg[2] = 32 * subgroups_for(CB * CB, CB * (BV_out / 16), 8);
    plan->cm_bv_state = bv_state;
    plan->BV_out = BV_out;
    return true;
}

/* The largest chunk (64, 32, 16, or the caller's) whose three stages fit the device's shared
 * memory, with 256 invocations per workgroup (fewer on small devices). */
static dvk_status plan_chunk(const dvk_context *ctx, const delta_problem *p, uint32_t requested,
                             chunk_plan *plan)
{
    const dvk_device_info *info = &ctx->info;
    const uint32_t floats = info->max_shared_memory / 4;
    uint32_t wg = workgroup_limit(info, 256) & ~15u; /* invocations as (wg/16) x 16 */
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
                if (state_floats(C, p->K, KT, bv) <= floats && KT % (wg / dvk__min_u32(16, bv)) == 0 &&
                    C % (wg / dvk__min_u32(16, bv)) == 0)
                    bvs = bv;
            for (uint32_t bv = 64; bv >= 16 && !bvo; bv /= 2)
                if (output_floats(C, KT, bv) <= floats)
                    bvo = bv;
            if (bvs && bvo) {
                *plan = (chunk_plan){C, KT, wg, bvs, dvk__min_u32(16, bvs), bvo, false, {0}, 0};
                return DVK_SUCCESS;
            }
        }
    }
    return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                     "chunked mode: no chunk size%s fits K = %u in %u bytes of shared memory",
                     requested ? " (as requested)" : "", p->K, info->max_shared_memory);
}

static dvk_binding as_input(dvk_binding b)
{
    b.write = false;
    return b;
}

/* Normalises the rows of t into fresh scratch memory (the l2norm_qk option). */
static dvk_status record_l2norm(dvk_cmd *cmd, const delta_problem *p, const dvk_tensor *t,
                                dvk_binding *out)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    DVK_TRY(dvk__cmd_scratch(cmd, t->bytes, out));
    const dvk_pipeline_key key = {
        .spirv_name = chunk_kernels[STAGE_L2NORM][p->dtype == DVK_DTYPE_F16],
        .binding_count = 2,
        .push_size = sizeof(uint32_t),
        .spec_count = 1,
        .spec = {p->K},
    };
    const dvk_pipeline *pipe;
    DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
    const uint32_t rows = (uint32_t)(t->numel / p->K);
    const uint32_t gx = dvk__min_u32(rows, 65535), gy = (uint32_t)dvk__ceil_div(rows, gx);
    const dvk_binding b[2] = {dvk__bind_read(t), *out};
    DVK_TRY(dvk__cmd_dispatch(cmd, pipe, b, &rows, gx, gy, 1));
    *out = as_input(*out);
    return DVK_SUCCESS;
}

typedef struct chunk_tables {
    int32_t *chunks; /* 2 per chunk: first packed token, length */
    int32_t *seq;    /* N + 1 offsets into the chunks */
    uint32_t count;
} chunk_tables;

/* The chunks of every sequence, in order; none crosses a sequence boundary. */
static dvk_status build_tables(const dvk_context *ctx, const dvk_delta_rule_desc *d,
                               const delta_problem *p, uint32_t C, chunk_tables *t)
{
    uint64_t count = 0;
    for (uint32_t n = 0; n < p->N; ++n) {
        const uint32_t len = d->cu_seqlens ? (uint32_t)(d->cu_seqlens[n + 1] - d->cu_seqlens[n]) : p->T;
        count += dvk__ceil_div(len, C);
    }
    if (count > (1u << 30))
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "too many chunks (%llu)", (unsigned long long)count);
    t->count = (uint32_t)count;
    t->chunks = dvk__alloc(&ctx->alloc, sizeof(int32_t) * 2 * (count ? count : 1));
    t->seq = dvk__alloc(&ctx->alloc, sizeof(int32_t) * (p->N + 1));
    if (!t->chunks || !t->seq)
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    uint32_t c = 0;
    for (uint32_t n = 0; n < p->N; ++n) {
        const uint32_t bos = d->cu_seqlens ? (uint32_t)d->cu_seqlens[n] : n * p->T;
        const uint32_t eos = d->cu_seqlens ? (uint32_t)d->cu_seqlens[n + 1] : (n + 1) * p->T;
        t->seq[n] = (int32_t)c;
        for (uint32_t s = bos; s < eos; s += C, ++c) {
            t->chunks[2 * c] = (int32_t)s;
            t->chunks[2 * c + 1] = (int32_t)dvk__min_u32(C, eos - s);
        }
    }
    t->seq[p->N] = (int32_t)c;
    return DVK_SUCCESS;
}

typedef struct heads_push {
    uint32_t H, HV;
} heads_push;

typedef struct state_push {
    uint32_t H, HV;
    uint32_t c_begin, c_count;
} state_push;

typedef struct output_push {
    uint32_t H, HV;
    float scale;
} output_push;

static dvk_status record_chunk_stages(dvk_cmd *cmd, const dvk_delta_rule_desc *d,
                                     const delta_problem *p, const chunk_plan *plan,
                                     const chunk_tables *tab)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    const bool f16 = p->dtype == DVK_DTYPE_F16;
    const uint64_t esize = dvk_dtype_size(p->dtype);
    const uint64_t tokens = (uint64_t)p->B * p->T;
    const dvk_binding none = dvk__bind_dummy(cmd);

    dvk_binding table, seq;
    DVK_TRY(dvk__cmd_upload_scratch(cmd, tab->chunks, sizeof(int32_t) * 2 * tab->count, &table));
    DVK_TRY(dvk__cmd_upload_scratch(cmd, tab->seq, sizeof(int32_t) * (p->N + 1), &seq));

    dvk_binding q = dvk__bind_read(d->q), k = dvk__bind_read(d->k);
    if (d->l2norm_qk) {
        DVK_TRY(record_l2norm(cmd, p, d->q, &q));
        DVK_TRY(record_l2norm(cmd, p, d->k, &k));
    }
    dvk_binding w, u, gcum = none, hc;
    DVK_TRY(dvk__cmd_scratch(cmd, tokens * p->HV * p->K * esize, &w));
    DVK_TRY(dvk__cmd_scratch(cmd, tokens * p->HV * p->V * esize, &u));
    if (p->gated)
        DVK_TRY(dvk__cmd_scratch(cmd, tokens * p->HV * 4, &gcum));
    DVK_TRY(dvk__cmd_scratch(cmd, (uint64_t)tab->count * p->HV * p->K * p->V * esize, &hc));
    const heads_push heads = {p->H, p->HV};

    /* 1. inside each chunk: W, U (and the cumulative gate) */
    const int kv = plan->coopmat ? 2 : f16; /* which variant of each stage */
    const dvk_pipeline_key kp = plan->coopmat ? (dvk_pipeline_key){
        .spirv_name = chunk_kernels[STAGE_PREPARE][kv],
        .binding_count = 8,
        .push_size = sizeof heads,
        .spec_count = 6,
        .spec = {plan->C, p->K, p->V, plan->KT, p->gated, plan->cm_wg[0]},
    } : (dvk_pipeline_key){
        .spirv_name = chunk_kernels[STAGE_PREPARE][kv],
        .binding_count = 8,
        .push_size = sizeof heads,
        .spec_count = 7,
        .spec = {plan->C, p->K, p->V, plan->KT, p->gated, plan->WG, 16},
    };
    const dvk_pipeline *pipe;
    DVK_TRY(dvk__pipeline_get(ctx, &kp, &pipe));
    const dvk_binding b1[8] = {k, dvk__bind_read(d->v), dvk__bind_read(d->beta),
                               p->gated ? dvk__bind_read(d->g) : none, w, u, gcum, table};
    DVK_TRY(dvk__cmd_dispatch(cmd, pipe, b1, &heads, tab->count, p->HV, 1));

    /* 2. the state through each sequence's chunks, in dispatches of bounded length */
    uint32_t max_chunks = 0;
    for (uint32_t n = 0; n < p->N; ++n)
        max_chunks = dvk__max_u32(max_chunks, (uint32_t)(tab->seq[n + 1] - tab->seq[n]));
    state_carry carry;
    DVK_TRY(carry_init(cmd, d, p, (uint32_t)dvk__ceil_div(max_chunks, STATE_CHUNKS_PER_DISPATCH),
                       &carry));
    for (uint32_t i = 0; i < carry.segments; ++i) {
        dvk_binding in, out;
        bool use_in, store_out;
        carry_segment(&carry, i, &in, &use_in, &out, &store_out);
        const dvk_pipeline_key ks = plan->coopmat ? (dvk_pipeline_key){
            .spirv_name = chunk_kernels[STAGE_STATE][kv],
            .binding_count = 9,
            .push_size = sizeof(state_push),
            .spec_count = 8,
            .spec = {plan->C, p->K, p->V, plan->cm_bv_state, p->gated, use_in, store_out,
                     plan->cm_wg[1]},
        } : (dvk_pipeline_key){
            .spirv_name = chunk_kernels[STAGE_STATE][kv],
            .binding_count = 9,
            .push_size = sizeof(state_push),
            .spec_count = 10,
            .spec = {plan->C, p->K, p->V, plan->BV_state, plan->KT, p->gated, use_in, store_out,
                     plan->WG, plan->GN_state},
        };
        DVK_TRY(dvk__pipeline_get(ctx, &ks, &pipe));
        /* u is read, and rewritten in place as U' */
        const dvk_binding b2[9] = {k, as_input(w), u, as_input(gcum), in, out, hc, table, seq};
        const state_push sp = {p->H, p->HV, i * STATE_CHUNKS_PER_DISPATCH, STATE_CHUNKS_PER_DISPATCH};
        const uint32_t bv = plan->coopmat ? plan->cm_bv_state : plan->BV_state;
        DVK_TRY(dvk__cmd_dispatch(cmd, pipe, b2, &sp, (uint32_t)dvk__ceil_div(p->V, bv), p->HV,
                                  p->N));
    }

    /* 3. the outputs of every chunk */
    const dvk_pipeline_key ko = plan->coopmat ? (dvk_pipeline_key){
        .spirv_name = chunk_kernels[STAGE_OUTPUT][kv],
        .binding_count = 7,
        .push_size = sizeof(output_push),
        .spec_count = 7,
        .spec = {plan->C, p->K, p->V, plan->BV_out, 16, p->gated, plan->cm_wg[2]},
    } : (dvk_pipeline_key){
        .spirv_name = chunk_kernels[STAGE_OUTPUT][kv],
        .binding_count = 7,
        .push_size = sizeof(output_push),
        .spec_count = 8,
        .spec = {plan->C, p->K, p->V, plan->BV_out, plan->KT, p->gated, plan->WG, 16},
    };
    DVK_TRY(dvk__pipeline_get(ctx, &ko, &pipe));
    const output_push op = {p->H, p->HV, p->scale};
    const dvk_binding b3[7] = {q, k, as_input(u), as_input(gcum), as_input(hc),
                               dvk__bind_write(d->o), table};
    return dvk__cmd_dispatch(cmd, pipe, b3, &op, tab->count, p->HV,
                             (uint32_t)dvk__ceil_div(p->V, plan->BV_out));
}

static dvk_status record_chunk(dvk_cmd *cmd, const dvk_delta_rule_desc *d, const delta_problem *p)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    chunk_plan plan = {0};
    DVK_TRY(plan_chunk(ctx, p, d->chunk_size, &plan));
    chunk_tables tab = {0};
    dvk_status st = build_tables(ctx, d, p, plan.C, &tab);
    if (st == DVK_SUCCESS)
        st = record_chunk_stages(cmd, d, p, &plan, &tab);
    dvk__free(&ctx->alloc, tab.chunks);
    dvk__free(&ctx->alloc, tab.seq);
    return st;
}

/* ---- entry points --------------------------------------------------------------------------- */

static dvk_status delta_rule_common(dvk_cmd *cmd, const dvk_delta_rule_desc *d, bool gated)
{
    delta_problem p;
    DVK_TRY(validate(cmd, d, gated, &p));
    /* The chunked form pays off once sequences span a few chunks — on GPUs. On a CPU device
     * (lavapipe) the recurrent kernel is faster at every length (measured 3x at T = 1024). */
    const dvk_context *ctx = dvk__cmd_context(cmd);
    const bool chunk = d->mode == DVK_MODE_CHUNK ||
                       (d->mode == DVK_MODE_DEFAULT && p.max_len > 64 &&
                        ctx->info.type != DVK_DEVICE_TYPE_CPU);
    if (chunk)
        return record_chunk(cmd, d, &p);
    return decode_applies(d, &p) ? record_decode(cmd, d, &p) : record_recurrent(cmd, d, &p);
}

dvk_status dvk_delta_rule(dvk_cmd *cmd, const dvk_delta_rule_desc *desc)
{
    return delta_rule_common(cmd, desc, false);
}

dvk_status dvk_gated_delta_rule(dvk_cmd *cmd, const dvk_delta_rule_desc *desc)
{
    return delta_rule_common(cmd, desc, true);
}
