/* The Gated DeltaNet layer's forward pass recorded into a dvk_cmd (dvk_qwen3_next_gdn_forward):
 * three products, the conv with its SiLU (deltavk_nn), this level's prepare kernel (the split
 * into q, k, v and the gates), dvk_gated_delta_rule with q and k L2-normalised in its kernel,
 * the gated RMSNorm and out_proj, as deltavk_models.h writes the layer. Every intermediate is
 * a scratch tensor of the recording, released before the call returns. */
#include "models/qwen3next/qwen3next.h"

#include <stdlib.h>

/* x and y: fp32 [B, T, D], B the state's batch when there is a state. */
static dvk_status check(const dvk_qwen3_next_gdn *m, const dvk_qwen3_next_gdn_forward_desc *d,
                        uint64_t *B, uint64_t *T)
{
    if (!d->x || !d->y)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "desc.%s is NULL", d->x ? "y" : "x");
    const uint64_t D = m->info.hidden_size;
    const dvk_tensor *t[2] = {d->x, d->y};
    const char *names[2] = {"x", "y"};
    for (int i = 0; i < 2; ++i) {
        if (dvk_tensor_dtype(t[i]) != DVK_DTYPE_F32)
            return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE, "%s: dtype %s, expected f32",
                                 names[i], dvk_dtype_name(dvk_tensor_dtype(t[i])));
        const uint32_t nd = dvk_tensor_ndim(t[i]);
        const uint64_t shape[DVK_MAX_DIMS] = {dvk_tensor_dim(t[i], 0), dvk_tensor_dim(t[i], 1),
                                              dvk_tensor_dim(t[i], 2), dvk_tensor_dim(t[i], 3)};
        const bool ok = nd == 3 && shape[2] == D &&
                        (i == 0 || (shape[0] == *B && shape[1] == *T));
        if (!ok) {
            char a[96];
            if (i == 0)
                return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                     "x: shape %s, expected [B,T,%llu]",
                                     dvk__md_dims_str(nd, shape, a, sizeof a),
                                     (unsigned long long)D);
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "y: shape %s, expected [%llu,%llu,%llu]",
                                 dvk__md_dims_str(nd, shape, a, sizeof a), (unsigned long long)*B,
                                 (unsigned long long)*T, (unsigned long long)D);
        }
        if (i == 0) {
            *B = shape[0];
            *T = shape[1];
        }
    }
    if (d->state && d->state->layer != m)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "the state belongs to another layer");
    if (d->state && d->state->batch != *B)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                             "x: batch %llu, but the state holds %u sequences",
                             (unsigned long long)*B, d->state->batch);
    return DVK_SUCCESS;
}

typedef struct fwd {
    dvk_cmd *cmd;
    md_views views;
    uint64_t B, T;
} fwd;

static dvk_status scratch(fwd *f, uint32_t ndim, const uint64_t *tail, dvk_tensor **out)
{
    uint64_t shape[DVK_MAX_DIMS] = {f->B, f->T};
    for (uint32_t i = 0; i < ndim; ++i)
        shape[2 + i] = tail[i];
    return dvk__md_scratch(f->cmd, DVK_DTYPE_F32, 2 + ndim, shape, out);
}

static dvk_status linear(fwd *f, const dvk_tensor *x, const dvk_tensor *w, dvk_tensor *y)
{
    return dvk_linear(f->cmd, &(dvk_linear_desc){.x = x, .weight = w, .y = y});
}

static dvk_status record(fwd *f, const dvk_qwen3_next_gdn *m,
                         const dvk_qwen3_next_gdn_forward_desc *d)
{
    const dvk_qwen3_next_gdn_info *in = &m->info;
    const uint64_t H = in->num_k_heads, K = in->head_k_dim, HV = in->num_v_heads,
                   V = in->head_v_dim, CD = in->conv_dim, VD = HV * V;
    dvk_cmd *cmd = f->cmd;
    dvk_tensor *conv_state = d->state ? d->state->conv : NULL;
    dvk_tensor *rec_state = d->state ? d->state->recurrent : NULL;

    /* The projections: q ++ k ++ v (the conv's channels), z, b ++ a. */
    dvk_tensor *pre, *c, *z, *ba;
    MD_TRY(scratch(f, 1, &CD, &pre));
    MD_TRY(linear(f, d->x, m->w_qkv, pre));
    MD_TRY(scratch(f, 1, &VD, &z));
    MD_TRY(linear(f, d->x, m->w_z, z));
    const uint64_t two_hv = 2 * HV;
    MD_TRY(scratch(f, 1, &two_hv, &ba));
    MD_TRY(linear(f, d->x, m->w_ba, ba));

    /* The causal depthwise conv with its SiLU, the last W−1 inputs carried in place. */
    MD_TRY(scratch(f, 1, &CD, &c));
    MD_TRY(dvk_conv1d(cmd, &(dvk_conv1d_desc){.x = pre, .weight = m->conv_w, .y = c,
                                               .groups = (uint32_t)CD,
                                               .padding = DVK_CONV_CAUSAL,
                                               .initial_state = conv_state,
                                               .final_state = conv_state,
                                               .act = DVK_ACT_SILU}));

    /* q, k, v apart; β and g. */
    dvk_tensor *q, *k, *v, *beta, *g, *o;
    const uint64_t s_qk[2] = {H, K}, s_v[2] = {HV, V};
    MD_TRY(scratch(f, 2, s_qk, &q));
    MD_TRY(scratch(f, 2, s_qk, &k));
    MD_TRY(scratch(f, 2, s_v, &v));
    MD_TRY(scratch(f, 1, &HV, &beta));
    MD_TRY(scratch(f, 1, &HV, &g));
    MD_TRY(dvk__qwen3next_prepare(cmd, &(qwen3next_prepare_args){
                                      .c = c, .ba = ba, .neg_a = m->neg_a, .dt_bias = m->dt_bias,
                                      .q = q, .k = k, .v = v, .beta = beta, .g = g,
                                      .rows = (uint32_t)(f->B * f->T),
                                      .key_dim = (uint32_t)(H * K), .conv_dim = (uint32_t)CD,
                                      .hv = (uint32_t)HV}));

    /* The gated delta rule, the state carried in place. */
    MD_TRY(scratch(f, 2, s_v, &o));
    MD_TRY(dvk_gated_delta_rule(cmd, &(dvk_delta_rule_desc){
                                         .q = q, .k = k, .v = v, .beta = beta, .g = g, .o = o,
                                         .initial_state = rec_state, .final_state = rec_state,
                                         .mode = d->mode, .chunk_size = d->chunk_size,
                                         .l2norm_qk = true}));

    /* rms_norm(o)·w·silu(z) per value head, in place; then y = out_proj o. */
    dvk_tensor *z4, *o3;
    const uint64_t shape4[4] = {f->B, f->T, HV, V}, shape3[3] = {f->B, f->T, VD};
    MD_TRY(dvk__md_view(&f->views, z, 0, 4, shape4, &z4));
    MD_TRY(dvk_rms_norm(cmd, &(dvk_rms_norm_desc){.x = o, .weight = m->norm_w, .gate = z4,
                                                   .y = o, .eps = in->norm_eps}));
    MD_TRY(dvk__md_view(&f->views, o, 0, 3, shape3, &o3));
    return linear(f, o3, m->w_out, d->y);
}

dvk_status dvk_qwen3_next_gdn_forward(dvk_cmd *cmd, const dvk_qwen3_next_gdn *m,
                                      const dvk_qwen3_next_gdn_forward_desc *d)
{
    if (!cmd || !m || !d)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL",
                             !cmd ? "cmd" : !m ? "layer" : "desc");
    if (dvk_cmd_context(cmd) != m->ctx)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "cmd belongs to another context than the layer");
    fwd f = {.cmd = cmd};
    MD_TRY(check(m, d, &f.B, &f.T));
    if (f.B * f.T > UINT32_MAX)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "x: %llu tokens",
                             (unsigned long long)(f.B * f.T));
    const dvk_scratch_mark mark = dvk_cmd_scratch_mark(cmd);
    dvk_status st = record(&f, m, d);
    dvk__md_views_clear(&f.views);
    free(f.views.v);
    const dvk_status rs = dvk_cmd_scratch_release(cmd, mark);
    return st != DVK_SUCCESS ? st : rs;
}
