/* LinearAttentionCell's forward pass recorded into a dvk_cmd
 * (dvk_linear_attention_cell_forward): three products (query, key, value), dvk_linear_attn
 * (elu+1 on q and k, scale 1, the max-clamped normalised read, per-token episode starts, the
 * carry read and written in place), RMSNorm in place, and the output Dense; as
 * deltavk_models.h writes the cell. */
#include "models/memorax/memorax.h"

#include <stdlib.h>

#define RMS_EPS 1e-6f /* flax.linen.RMSNorm's default epsilon, which the cell keeps */

/* x [B, T, C] or [B, C]; y the same; done [B, T] or [B] (as x's leading dimensions). */
static dvk_status check(const dvk_linear_attention_cell *m,
                        const dvk_linear_attention_cell_forward_desc *d, uint64_t *B,
                        uint64_t *T)
{
    if (!d->x || !d->y)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "desc.%s is NULL", d->x ? "y" : "x");
    const uint64_t C = m->info.d_model;
    const dvk_tensor *t[3] = {d->x, d->y, d->done};
    const char *names[3] = {"x", "y", "done"};
    uint32_t x_nd = 0;
    for (int i = 0; i < 3; ++i) {
        if (!t[i])
            continue;
        if (dvk_tensor_dtype(t[i]) != DVK_DTYPE_F32)
            return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE, "%s: dtype %s, expected f32",
                                 names[i], dvk_dtype_name(dvk_tensor_dtype(t[i])));
        const uint32_t nd = dvk_tensor_ndim(t[i]);
        const uint64_t s[4] = {dvk_tensor_dim(t[i], 0), dvk_tensor_dim(t[i], 1),
                               dvk_tensor_dim(t[i], 2), dvk_tensor_dim(t[i], 3)};
        char a[96];
        if (i == 0) {
            if (!((nd == 3 && s[2] == C) || (nd == 2 && s[1] == C)))
                return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                     "x: shape %s, expected [B,T,%llu] or [B,%llu]",
                                     dvk__md_dims_str(nd, s, a, sizeof a),
                                     (unsigned long long)C, (unsigned long long)C);
            x_nd = nd;
            *B = s[0];
            *T = nd == 3 ? s[1] : 1;
        } else if (i == 1 &&
                   (nd != x_nd || s[0] != *B || (nd == 3 && s[1] != *T) || s[nd - 1] != C)) {
            if (x_nd == 3)
                return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                     "y: shape %s, expected [%llu,%llu,%llu]",
                                     dvk__md_dims_str(nd, s, a, sizeof a),
                                     (unsigned long long)*B, (unsigned long long)*T,
                                     (unsigned long long)C);
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "y: shape %s, expected [%llu,%llu]",
                                 dvk__md_dims_str(nd, s, a, sizeof a), (unsigned long long)*B,
                                 (unsigned long long)C);
        } else if (i == 2 && (nd != x_nd - 1 || s[0] != *B || (nd == 2 && s[1] != *T))) {
            if (x_nd == 3)
                return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                     "done: shape %s, expected [%llu,%llu]",
                                     dvk__md_dims_str(nd, s, a, sizeof a),
                                     (unsigned long long)*B, (unsigned long long)*T);
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "done: shape %s, expected [%llu]",
                                 dvk__md_dims_str(nd, s, a, sizeof a), (unsigned long long)*B);
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
    uint64_t B, T, H, D;
    uint32_t x_nd; /* 3: x is [B, T, C]; 2: [B, C] */
} fwd;

/* The same memory with x's leading dimensions and n last ([B, T, n] or [B, n]): what
 * dvk_linear and dvk_rms_norm read and write beside x. */
static dvk_status rows(fwd *f, dvk_tensor *t, uint64_t n, dvk_tensor **out)
{
    const uint64_t shape[3] = {f->B, f->x_nd == 3 ? f->T : n, n};
    return dvk__md_view(&f->views, t, 0, f->x_nd, shape, out);
}

/* A scratch [B, T, H, D] and x's product with w into it. */
static dvk_status project(fwd *f, const dvk_tensor *x, const dvk_tensor *w, dvk_tensor **out)
{
    const uint64_t shape[4] = {f->B, f->T, f->H, f->D};
    dvk_tensor *r;
    MD_TRY(dvk__md_scratch(f->cmd, DVK_DTYPE_F32, 4, shape, out));
    MD_TRY(rows(f, *out, f->H * f->D, &r));
    return dvk_linear(f->cmd, &(dvk_linear_desc){.x = x, .weight = w, .y = r});
}

static dvk_status record(fwd *f, const dvk_linear_attention_cell *m,
                         const dvk_linear_attention_cell_forward_desc *d)
{
    dvk_tensor *q, *k, *v, *o, *o_rows, *done = NULL;
    MD_TRY(project(f, d->x, m->w_q, &q));
    MD_TRY(project(f, d->x, m->w_k, &k));
    MD_TRY(project(f, d->x, m->w_v, &v));
    const uint64_t s_o[4] = {f->B, f->T, f->H, f->D};
    MD_TRY(dvk__md_scratch(f->cmd, DVK_DTYPE_F32, 4, s_o, &o));
    if (d->done) { /* [B, T] as dvk_linear_attn takes it (a [B] of one token viewed [B, 1]);
                    * the view is only read */
        const uint64_t s_done[2] = {f->B, f->T};
        MD_TRY(dvk__md_view(&f->views, (dvk_tensor *)d->done, 0, 2, s_done, &done));
    }
    dvk_tensor *S = d->state ? d->state->S : NULL, *z = d->state ? d->state->z : NULL;
    MD_TRY(dvk_linear_attn(f->cmd, &(dvk_linear_attn_desc){
                                       .q = q, .k = k, .v = v, .done = done, .o = o,
                                       .initial_state = S, .initial_z = z,
                                       .final_state = S, .final_z = z, .scale = 1.0f,
                                       .mode = d->mode, .feature_map = DVK_FEATURE_ELU1,
                                       .normalize = true, .eps = m->info.eps,
                                       .chunk_size = d->chunk_size}));
    MD_TRY(rows(f, o, f->H * f->D, &o_rows));
    MD_TRY(dvk_rms_norm(f->cmd, &(dvk_rms_norm_desc){.x = o_rows, .weight = m->norm,
                                                      .y = o_rows, .eps = RMS_EPS}));
    return dvk_linear(f->cmd, &(dvk_linear_desc){.x = o_rows, .weight = m->w_o, .bias = m->b_o,
                                                  .y = d->y});
}

dvk_status dvk_linear_attention_cell_forward(dvk_cmd *cmd, const dvk_linear_attention_cell *m,
                                             const dvk_linear_attention_cell_forward_desc *d)
{
    if (!cmd || !m || !d)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL",
                             !cmd ? "cmd" : !m ? "layer" : "desc");
    if (dvk_cmd_context(cmd) != m->ctx)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "cmd belongs to another context than the layer");
    fwd f = {.cmd = cmd, .H = m->info.n_heads, .D = m->info.head_dim};
    MD_TRY(check(m, d, &f.B, &f.T));
    f.x_nd = dvk_tensor_ndim(d->x);
    if (f.B * f.T * f.H * f.D > UINT32_MAX || f.B * f.T * m->info.d_model > UINT32_MAX)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "x: %llu tokens are too many",
                             (unsigned long long)(f.B * f.T));
    const dvk_scratch_mark mark = dvk_cmd_scratch_mark(cmd);
    dvk_status st = record(&f, m, d);
    dvk__md_views_clear(&f.views);
    free(f.views.v);
    const dvk_status rs = dvk_cmd_scratch_release(cmd, mark);
    return st != DVK_SUCCESS ? st : rs;
}
