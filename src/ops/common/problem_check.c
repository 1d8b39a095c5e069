/* The argument checks the recurrent-state operators share (problem.h): the leading tensor's
 * shape, and then sizes, fp16 support, cu_seqlens, the states, scale, mode and chunk size. */
#include "ops/common/problem.h"

#include "ops/common/alias.h"

#include <math.h>

dvk_status dvk__rec_check_lead(const dvk_context *ctx, const char *name, const dvk_tensor *t)
{
    const uint64_t any = UINT64_MAX;
    DVK_TRY(dvk__check_tensor(ctx, name, t, 4, (uint64_t[]){any, any, any, any},
                              DVK_DTYPE_DEFAULT));
    if (t->shape[0] > UINT32_MAX || t->shape[1] > UINT32_MAX || t->shape[2] > UINT32_MAX)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "%s: dimensions exceed 2^32", name);
    return DVK_SUCCESS;
}

/* The kernels read the inputs while they write o and the final state (alias.c); the one
 * exception is the state carried in place: final_state the same bytes as initial_state, as a
 * stream of calls does. The names are the operator's (RWKV-7's r, kappa, alpha, w). */
static dvk_status check_aliasing(const dvk__rec *r)
{
    const dvk__rec_names *n = &r->names;
    const dvk__alias_in in[] = {
        {n->q ? n->q : "q", r->q},        {"k", r->k},
        {"v", r->v},                      {"beta", r->beta},
        {n->g ? n->g : "g", r->g},        {n->a ? n->a : "a", r->a},
        {n->b ? n->b : "b", r->b},        {"A_log", r->A_log},
        {"dt_bias", r->dt_bias},          {"initial_state", r->h0},
    };
    const dvk__alias_out out[] = {{"o", r->o, NULL}, {"final_state", r->ht, r->h0}};
    return dvk__check_aliasing(in, sizeof in / sizeof in[0], out, sizeof out / sizeof out[0]);
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
    DVK_TRY(check_aliasing(r));
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
