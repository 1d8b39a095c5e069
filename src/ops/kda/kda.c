/* Host side of Kimi Delta Attention: argument checks, then the shared kernels — token by token
 * (src/ops/common/recurrent.c) or chunked with per-channel decays (src/ops/dplr/chunk.c, which
 * runs KDA as the special case of the generalized rule it is, without the extra work). */
#include "ops/dplr/chunk.h"

#include "ops/common/recurrent.h"

#include <math.h>
#include <string.h>

static dvk_status validate(dvk_cmd *cmd, const dvk_kda_desc *d, dvk__rec *r)
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
    DVK_TRY(dvk__check_tensor(ctx, "g", d->g, 4, (uint64_t[]){r->B, r->T, r->HV, r->K},
                              r->dtype));
    DVK_TRY(dvk__check_tensor(ctx, "beta", d->beta, 3, (uint64_t[]){r->B, r->T, r->HV},
                              r->dtype));
    DVK_TRY(dvk__check_tensor(ctx, "o", d->o, 4, d->v->shape, r->dtype));
    if (d->gate_in_kernel) {
        DVK_TRY(dvk__check_tensor(ctx, "A_log", d->A_log, 1, (uint64_t[]){r->HV},
                                  DVK_DTYPE_F32));
        if (d->dt_bias) {
            const bool flat = d->dt_bias->ndim == 1;
            DVK_TRY(dvk__check_tensor(ctx, "dt_bias", d->dt_bias, flat ? 1 : 2,
                                      flat ? (uint64_t[]){(uint64_t)r->HV * r->K}
                                           : (uint64_t[]){r->HV, r->K},
                                      DVK_DTYPE_F32));
        }
    } else if (d->A_log || d->dt_bias) {
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "A_log or dt_bias is set but gate_in_kernel is false");
    }
    r->gate = DVK__GATE_CHANNEL;
    r->gate_act = d->gate_in_kernel;
    r->beta_sigmoid = d->beta_sigmoid;
    r->l2norm_qk = d->l2norm_qk;
    r->mode = d->mode;
    r->chunk_size = d->chunk_size;
    r->cu_seqlens = d->cu_seqlens;
    r->q = d->q;
    r->k = d->k;
    r->v = d->v;
    r->g = d->g;
    r->beta = d->beta;
    r->A_log = d->A_log;
    r->dt_bias = d->dt_bias;
    r->o = d->o;
    r->h0 = d->initial_state;
    r->ht = d->final_state;
    return dvk__rec_check(ctx, r, d->num_seqs, d->scale, 1.0f / sqrtf((float)r->K));
}

dvk_status dvk_kda(dvk_cmd *cmd, const dvk_kda_desc *desc)
{
    dvk__rec r;
    DVK_TRY(validate(cmd, desc, &r));
    if (dvk__channel_use_chunk(dvk__cmd_context(cmd), &r))
        return dvk__record_channel_chunk(cmd, &r);
    return dvk__record_recurrent(cmd, &r);
}
