/* Host side shared by the delta-rule family: common checks, the token-by-token kernels
 * (shaders/delta_rule/recurrent.comp, decode.comp, sum_tiles.comp) and pieces of the chunked
 * forms. See recurrence.h. */
#include "ops/common/recurrence.h"

#include <math.h>
#include <string.h>

uint32_t dvk__workgroup_limit(const dvk_device_info *info, uint32_t cap)
{
    return dvk__min_u32(dvk__min_u32(cap, info->max_workgroup_invocations),
                        info->max_workgroup_size[0]);
}

uint32_t dvk__subgroups_for(uint32_t blocks_a, uint32_t blocks_b, uint32_t most)
{
    for (uint32_t n = most; n > 1; n /= 2)
        if (blocks_a % n == 0 && blocks_b % n == 0)
            return n;
    return 1;
}

bool dvk__coopmat_f16_usable(const dvk_context *ctx, const dvk__rec *r)
{
    const dvk_device_info *info = &ctx->info;
    return r->dtype == DVK_DTYPE_F16 && info->cooperative_matrix_nv &&
           ctx->caps.coopmat_nv_f16_16x16x16 && info->fp16_arithmetic &&
           ctx->caps.feat_memory_model && info->min_subgroup_size == 32 &&
           info->max_subgroup_size == 32 && r->K % 16 == 0 && r->V % 16 == 0 &&
           dvk__workgroup_limit(info, 256) >= 256;
}

/* ---- checks ---------------------------------------------------------------------------------- */

dvk_status dvk__rec_check_lead(const dvk_context *ctx, const char *name, const dvk_tensor *t)
{
    const uint64_t any = UINT64_MAX;
    DVK_TRY(dvk__check_tensor(ctx, name, t, 4, (uint64_t[]){any, any, any, any},
                              DVK_DTYPE_DEFAULT));
    if (t->shape[0] > UINT32_MAX || t->shape[1] > UINT32_MAX || t->shape[2] > UINT32_MAX)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "%s: dimensions exceed 2^32", name);
    return DVK_SUCCESS;
}

dvk_status dvk__rec_check(const dvk_context *ctx, dvk__rec *r, uint32_t num_seqs, float scale,
                          float default_scale)
{
    if (r->K < 1 || r->K > 256 || r->V < 1 || r->V > 256)
        return dvk__fail(DVK_ERROR_UNSUPPORTED, "K = %u and V = %u must be in [1, 256]", r->K,
                         r->V);
    if (r->dtype == DVK_DTYPE_F16 && !ctx->info.fp16_storage)
        return dvk__fail(DVK_ERROR_UNSUPPORTED_DTYPE,
                         "fp16 tensors need storageBuffer16BitAccess, which %s lacks",
                         ctx->info.name);
    const int32_t *cu = r->cu_seqlens;
    r->N = r->B;
    r->max_len = r->T;
    if (cu) {
        if (r->B != 1)
            return dvk__fail(DVK_ERROR_SHAPE_MISMATCH,
                             "with cu_seqlens the batch dimension must be 1 (it is %u)", r->B);
        if (num_seqs < 1)
            return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "cu_seqlens given with num_seqs = 0");
        if (cu[0] != 0 || cu[num_seqs] < 0 || (uint32_t)cu[num_seqs] != r->T)
            return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                             "cu_seqlens must start at 0 and end at T = %u (got %d .. %d)", r->T,
                             cu[0], cu[num_seqs]);
        r->N = num_seqs;
        r->max_len = 0;
        for (uint32_t i = 0; i < num_seqs; ++i) {
            if (cu[i + 1] < cu[i])
                return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                                 "cu_seqlens decreases at index %u (%d > %d)", i + 1, cu[i],
                                 cu[i + 1]);
            r->max_len = dvk__max_u32(r->max_len, (uint32_t)(cu[i + 1] - cu[i]));
        }
    } else if (num_seqs) {
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "num_seqs is set but cu_seqlens is NULL");
    }
    const uint64_t state_shape[4] = {r->N, r->HV, r->K, r->V};
    if (r->h0)
        DVK_TRY(dvk__check_tensor(ctx, "initial_state", r->h0, 4, state_shape, DVK_DTYPE_F32));
    if (r->ht)
        DVK_TRY(dvk__check_tensor(ctx, "final_state", r->ht, 4, state_shape, DVK_DTYPE_F32));
    if (!isfinite(scale))
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "scale is not finite");
    r->scale = scale != 0.0f ? scale : default_scale;
    if (r->mode != DVK_MODE_DEFAULT && r->mode != DVK_MODE_RECURRENT && r->mode != DVK_MODE_CHUNK)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "unknown mode %d", (int)r->mode);
    if (r->chunk_size != 0 && r->chunk_size != 16 && r->chunk_size != 32 && r->chunk_size != 64)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "chunk_size %u is not 0, 16, 32 or 64",
                         r->chunk_size);
    return DVK_SUCCESS;
}

bool dvk__rec_use_chunk(const dvk_context *ctx, const dvk__rec *r)
{
    if (r->mode != DVK_MODE_DEFAULT)
        return r->mode == DVK_MODE_CHUNK;
    /* The chunked form pays off once sequences span a few chunks — on GPUs. On a CPU device
     * (lavapipe) the recurrent kernel is faster at every length (measured 3x at T = 1024). */
    if (r->max_len <= 64 || ctx->info.type == DVK_DEVICE_TYPE_CPU)
        return false;
    return true; /* (decays per key channel refine this: dvk__channel_use_chunk) */
}

/* ---- the state carried between dispatches --------------------------------------------------- */

dvk_status dvk__carry_init(dvk_cmd *cmd, const dvk__rec *r, uint32_t segments, dvk__carry *c)
{
    memset(c, 0, sizeof *c);
    const dvk_binding none = dvk__bind_dummy(cmd);
    c->segments = segments ? segments : 1;
    c->has_h0 = r->h0 != NULL;
    c->has_ht = r->ht != NULL;
    c->h0 = c->has_h0 ? dvk__bind_read(r->h0) : none;
    c->ht = c->has_ht ? dvk__bind_write(r->ht) : none;
    c->carry = none;
    if (c->segments > 1) {
        if (c->has_ht)
            c->carry = c->ht;
        else
            DVK_TRY(dvk__cmd_scratch(cmd, (uint64_t)r->N * r->HV * r->K * r->V * 4, &c->carry));
    }
    return DVK_SUCCESS;
}

void dvk__carry_segment(const dvk__carry *c, uint32_t i, dvk_binding *in, bool *use_in,
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
static const dvk_ops_kernel recurrent_kernels[2][2] = {
    {DVK_OPS_K_DELTA_RULE_RECURRENT_F32_SH, DVK_OPS_K_DELTA_RULE_RECURRENT_F32_SG},
    {DVK_OPS_K_DELTA_RULE_RECURRENT_F16_SH, DVK_OPS_K_DELTA_RULE_RECURRENT_F16_SG},
};

typedef struct recurrent_plan {
    uint32_t KS, BV, TB, WG;
    bool subgroup;
} recurrent_plan;

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

typedef struct recurrent_push {
    uint32_t T, H, HV;
    float scale;
    uint32_t t_begin, t_count;
    uint32_t tokens;
} recurrent_push;

/* Bindings 3 and 9 of the kernels: beta and (DPLR) a in 3, b in 9. */
static void rule_bindings(const dvk_cmd *cmd, const dvk__rec *r, dvk_binding *b3, dvk_binding *b9)
{
    const dvk_binding none = dvk__bind_dummy(cmd);
    *b3 = dvk__bind_read(r->dplr ? r->a : r->beta);
    *b9 = r->dplr ? dvk__bind_read(r->b) : none;
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
    dvk_binding part = none;
    if (partial) {
        if (tokens * r->HV * r->K > UINT32_MAX / tiles)
            return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "key read-out: the output is too large");
        DVK_TRY(dvk__cmd_scratch(cmd, tokens * r->HV * r->K * tiles * 4, &part));
    }
    dvk_binding b3, b9;
    rule_bindings(cmd, r, &b3, &b9);

    for (uint32_t i = 0; i < carry.segments; ++i) {
        dvk_binding in, out;
        bool use_in, store_out;
        dvk__carry_segment(&carry, i, &in, &use_in, &out, &store_out);
        const dvk_pipeline_key key = {
            .kernel = recurrent_kernels[r->dtype == DVK_DTYPE_F16][plan.subgroup],
            .binding_count = 13,
            .push_size = sizeof(recurrent_push),
            .spec_count = 19,
            .spec = {r->K, r->V, plan.BV, plan.KS, plan.TB, r->gate == DVK__GATE_HEAD, use_in,
                     store_out, r->cu_seqlens != NULL, r->l2norm_qk, plan.WG,
                     r->gate == DVK__GATE_CHANNEL, r->dplr, r->key_readout, r->gate_act,
                     r->beta_sigmoid, r->rwkv7, partial, r->dt_bias != NULL},
        };
        const dvk_pipeline *pipe;
        DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
        const dvk_binding b[13] = {
            dvk__bind_read(r->q), dvk__bind_read(r->k), dvk__bind_read(r->v), b3,
            r->gate != DVK__GATE_NONE ? dvk__bind_read(r->g) : none, in, out,
            partial ? none : dvk__bind_write(r->o), cu, b9,
            r->gate_act ? dvk__bind_read(r->A_log) : none,
            r->gate_act && r->dt_bias ? dvk__bind_read(r->dt_bias) : none, part,
        };
        const recurrent_push push = {r->T, r->H, r->HV, r->scale,
                                     i * DVK__TOKENS_PER_DISPATCH, DVK__TOKENS_PER_DISPATCH,
                                     (uint32_t)tokens};
        DVK_TRY(dvk__cmd_dispatch(cmd, pipe, b, &push, tiles, r->HV, r->N));
    }
    if (!partial)
        return DVK_SUCCESS;

    /* the key read-out over several value tiles: add the tiles' parts */
    const dvk_pipeline_key key = {
        .kernel = r->dtype == DVK_DTYPE_F16 ? DVK_OPS_K_DELTA_RULE_SUM_TILES_F16
                                                : DVK_OPS_K_DELTA_RULE_SUM_TILES_F32,
        .binding_count = 2,
        .push_size = sizeof(uint32_t),
        .spec_count = 1,
        .spec = {tiles},
    };
    const dvk_pipeline *pipe;
    DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
    const uint32_t count = (uint32_t)(tokens * r->HV * r->K);
    const uint32_t groups = (uint32_t)dvk__ceil_div(count, 256);
    const uint32_t gx = dvk__min_u32(groups, 65535), gy = (uint32_t)dvk__ceil_div(groups, gx);
    const dvk_binding b[2] = {dvk__as_input(part), dvk__bind_write(r->o)};
    return dvk__cmd_dispatch(cmd, pipe, b, &count, gx, gy, 1);
}

/* ---- decode kernel (one token per sequence) ------------------------------------------------- */

static const dvk_ops_kernel decode_kernels[2] = {DVK_OPS_K_DELTA_RULE_DECODE_F32, DVK_OPS_K_DELTA_RULE_DECODE_F16};

/* The single-pass decode kernel applies when every sequence is one token, state rows can be
 * read as vec4s, and the output is read along the value axis. */
static bool decode_applies(const dvk__rec *r)
{
    return r->T == 1 && !r->cu_seqlens && r->V % 4 == 0 && !r->key_readout &&
           r->mode != DVK_MODE_CHUNK;
}

typedef struct decode_push {
    uint32_t H, HV;
    float scale;
} decode_push;

static dvk_status record_decode(dvk_cmd *cmd, const dvk__rec *r)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    const dvk_device_info *info = &ctx->info;
    /* A power-of-two tile (V % 4 == 0 makes it >= 4; columns past V are masked) and a
     * power-of-two workgroup (the dot products reduce as a tree): whole row groups. */
    const uint32_t bv = dvk__min_u32(32, dvk__next_pow2(r->V));
    const uint32_t wg = dvk__next_pow2(dvk__workgroup_limit(info, 128) + 1) / 2;
    if (wg < bv / 4)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "decode: %u invocations per workgroup is too few",
                         wg);
    const dvk_pipeline_key key = {
        .kernel = decode_kernels[r->dtype == DVK_DTYPE_F16],
        .binding_count = 11,
        .push_size = sizeof(decode_push),
        .spec_count = 14,
        .spec = {r->K, r->V, bv, r->gate == DVK__GATE_HEAD, r->h0 != NULL, r->ht != NULL,
                 r->l2norm_qk, wg, r->gate == DVK__GATE_CHANNEL, r->dplr, r->gate_act,
                 r->beta_sigmoid, r->rwkv7, r->dt_bias != NULL},
    };
    const dvk_pipeline *pipe;
    DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
    const dvk_binding none = dvk__bind_dummy(cmd);
    dvk_binding b3, b9;
    rule_bindings(cmd, r, &b3, &b9);
    const dvk_binding b[11] = {
        dvk__bind_read(r->q), dvk__bind_read(r->k), dvk__bind_read(r->v), b3,
        r->gate != DVK__GATE_NONE ? dvk__bind_read(r->g) : none,
        r->h0 ? dvk__bind_read(r->h0) : none, r->ht ? dvk__bind_write(r->ht) : none,
        dvk__bind_write(r->o), b9, r->gate_act ? dvk__bind_read(r->A_log) : none,
        r->gate_act && r->dt_bias ? dvk__bind_read(r->dt_bias) : none,
    };
    const decode_push push = {r->H, r->HV, r->scale};
    return dvk__cmd_dispatch(cmd, pipe, b, &push, (uint32_t)dvk__ceil_div(r->V, bv), r->HV, r->N);
}

dvk_status dvk__record_recurrent(dvk_cmd *cmd, const dvk__rec *r)
{
    return decode_applies(r) ? record_decode(cmd, r) : record_tokens(cmd, r);
}

/* ---- pieces of the chunked forms -------------------------------------------------------------- */

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

dvk_status dvk__chunk_tables_build(const dvk_context *ctx, const dvk__rec *r, uint32_t C,
                                   dvk__chunk_tables *t)
{
    memset(t, 0, sizeof *t);
    uint64_t count = 0;
    for (uint32_t n = 0; n < r->N; ++n) {
        const uint32_t len =
            r->cu_seqlens ? (uint32_t)(r->cu_seqlens[n + 1] - r->cu_seqlens[n]) : r->T;
        count += dvk__ceil_div(len, C);
    }
    if (count > (1u << 30))
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "too many chunks (%llu)",
                         (unsigned long long)count);
    t->count = (uint32_t)count;
    t->chunks = dvk__alloc(&ctx->alloc, sizeof(int32_t) * 2 * (count ? count : 1));
    t->seq = dvk__alloc(&ctx->alloc, sizeof(int32_t) * (r->N + 1));
    if (!t->chunks || !t->seq) {
        dvk__chunk_tables_free(ctx, t);
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    uint32_t c = 0;
    for (uint32_t n = 0; n < r->N; ++n) {
        const uint32_t bos = r->cu_seqlens ? (uint32_t)r->cu_seqlens[n] : n * r->T;
        const uint32_t eos = r->cu_seqlens ? (uint32_t)r->cu_seqlens[n + 1] : (n + 1) * r->T;
        t->seq[n] = (int32_t)c;
        for (uint32_t s = bos; s < eos; s += C, ++c) {
            t->chunks[2 * c] = (int32_t)s;
            t->chunks[2 * c + 1] = (int32_t)dvk__min_u32(C, eos - s);
        }
        t->max_chunks = dvk__max_u32(t->max_chunks, c - (uint32_t)t->seq[n]);
    }
    t->seq[r->N] = (int32_t)c;
    return DVK_SUCCESS;
}

void dvk__chunk_tables_free(const dvk_context *ctx, dvk__chunk_tables *t)
{
    dvk__free(&ctx->alloc, t->chunks);
    dvk__free(&ctx->alloc, t->seq);
    t->chunks = NULL;
    t->seq = NULL;
}

dvk_status dvk__chunk_tables_upload(dvk_cmd *cmd, const dvk__rec *r, const dvk__chunk_tables *t,
                                    dvk_binding *chunks, dvk_binding *seq)
{
    DVK_TRY(dvk__cmd_upload_scratch(cmd, t->chunks, sizeof(int32_t) * 2 * t->count, chunks));
    return dvk__cmd_upload_scratch(cmd, t->seq, sizeof(int32_t) * (r->N + 1), seq);
}
