/* Host side of the generalized (diagonal-plus-low-rank) delta rule (dplr.h): argument checks,
 * then the shared kernels — token by token (src/ops/common/recurrent.c) or chunked (chunk.c).
 * RWKV-7's entry, src/ops/rwkv7/rwkv7.c, maps its inputs onto the same call. */
#include "ops/dplr/dplr.h"

#include "ops/common/recurrent.h"
#include "ops/dplr/chunk.h"

#include <math.h>
#include <string.h>

static bool same_shape(const dvk_tensor *x, const dvk_tensor *y)
{
    bool same = x->ndim == y->ndim;
    for (uint32_t i = 0; same && i < x->ndim; ++i)
        same = x->shape[i] == y->shape[i];
    return same;
}

static dvk_status validate(dvk_cmd *cmd, const dvk__dplr_args *d, dvk__rec *r)
{
    DVK_TRY(dvk__cmd_check_recording(cmd));
    const dvk_context *ctx = dvk__cmd_context(cmd);
    const uint64_t any = UINT64_MAX;
    DVK_TRY(dvk__rec_check_lead(ctx, "k", d->k));
    if (d->readout != DVK_READOUT_VALUE && d->readout != DVK_READOUT_KEY)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "unknown readout %d", (int)d->readout);
    memset(r, 0, sizeof *r);
    r->B = (uint32_t)d->k->shape[0];
    r->T = (uint32_t)d->k->shape[1];
    r->H = r->HV = (uint32_t)d->k->shape[2];
    r->K = (uint32_t)d->k->shape[3];
    r->dtype = d->k->dtype;
    /* The checks take their sizes from k; when k alone differs from the three tensors that
     * must have its shape (and agree among themselves), the message names k rather than the
     * first tensor compared with it (v or a, which were right). */
    if (d->a && d->b && d->gk && same_shape(d->a, d->b) && same_shape(d->a, d->gk) &&
        !same_shape(d->a, d->k)) {
        char have[96], want[96];
        return dvk__fail(DVK_ERROR_SHAPE_MISMATCH, "k: shape %s, but %s, %s and %s have shape %s",
                         dvk__shape_str(d->k, have, sizeof have), d->a_name, d->b_name,
                         d->gk_name, dvk__shape_str(d->a, want, sizeof want));
    }
    DVK_TRY(dvk__check_tensor(ctx, "v", d->v, 4, (uint64_t[]){r->B, r->T, r->H, any}, r->dtype));
    r->V = (uint32_t)d->v->shape[3];
    DVK_TRY(dvk__check_tensor(ctx, d->a_name, d->a, 4, d->k->shape, r->dtype));
    DVK_TRY(dvk__check_tensor(ctx, d->b_name, d->b, 4, d->k->shape, r->dtype));
    DVK_TRY(dvk__check_tensor(ctx, d->gk_name, d->gk, 4, d->k->shape, r->dtype));
    const bool key = d->readout == DVK_READOUT_KEY;
    const uint64_t qd = key ? r->V : r->K, od = key ? r->K : r->V;
    DVK_TRY(dvk__check_tensor(ctx, d->q_name, d->q, 4, (uint64_t[]){r->B, r->T, r->H, qd},
                              r->dtype));
    DVK_TRY(dvk__check_tensor(ctx, "o", d->o, 4, (uint64_t[]){r->B, r->T, r->H, od}, r->dtype));
    r->gate = DVK__GATE_CHANNEL;
    r->dplr = true;
    r->key_readout = key;
    r->rwkv7 = d->rwkv7;
    r->mode = d->mode;
    r->chunk_size = d->chunk_size;
    r->cu_seqlens = d->cu_seqlens;
    r->q = d->q;
    r->k = d->k;
    r->v = d->v;
    r->a = d->a;
    r->b = d->b;
    r->g = d->gk;
    r->o = d->o;
    r->h0 = d->h0;
    r->ht = d->ht;
    r->names = (dvk__rec_names){.q = d->q_name, .g = d->gk_name, .a = d->a_name, .b = d->b_name};
    const float def = d->default_scale < 0.0f ? 1.0f / sqrtf((float)r->K) : d->default_scale;
    return dvk__rec_check(ctx, r, d->num_seqs, d->scale, def);
}

dvk_status dvk__dplr_record(dvk_cmd *cmd, const dvk__dplr_args *d)
{
    dvk__rec r;
    DVK_TRY(validate(cmd, d, &r));
    if (dvk__channel_use_chunk(dvk__cmd_context(cmd), &r))
        return dvk__record_channel_chunk(cmd, &r);
    return dvk__record_recurrent(cmd, &r);
}

dvk_status dvk_dplr(dvk_cmd *cmd, const dvk_dplr_desc *d)
{
    if (!d) {
        DVK_TRY(dvk__cmd_check_recording(cmd));
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "desc is NULL");
    }
    const dvk__dplr_args args = {
        .q = d->q, .k = d->k, .v = d->v, .a = d->a, .b = d->b, .gk = d->gk, .o = d->o,
        .q_name = "q", .a_name = "a", .b_name = "b", .gk_name = "gk",
        .h0 = d->initial_state, .ht = d->final_state, .scale = d->scale, .default_scale = -1.0f,
        .mode = d->mode, .cu_seqlens = d->cu_seqlens, .num_seqs = d->num_seqs,
        .chunk_size = d->chunk_size, .readout = d->readout,
    };
    return dvk__dplr_record(cmd, &args);
}
