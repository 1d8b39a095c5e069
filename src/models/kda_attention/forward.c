/* KDAAttention's forward pass recorded into a dvk_cmd (dvk_kda_attention_forward): five
 * products (q, k, v, the α logits, the β logits), log σ and softplus in place, dvk_kda with
 * scale 1 and the state carried in place, and w_o; as deltavk_models.h writes the layer. */
#include "models/kda_attention/kda_attention.h"

#include <stdlib.h>

/* x [B, T, D] or [B, D] (one token, as the package's step), y the same with w_o's width. */
static dvk_status check(const dvk_kda_attention *m, const dvk_kda_attention_forward_desc *d,
                        uint64_t *B, uint64_t *T)
{
    if (!d->x || !d->y)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "desc.%s is NULL", d->x ? "y" : "x");
    const dvk_kda_attention_info *in = &m->info;
    const uint64_t D = in->d_model,
                   DO = in->out_proj ? in->d_model : (uint64_t)in->n_heads * in->d_head;
    const dvk_tensor *t[2] = {d->x, d->y};
    const char *names[2] = {"x", "y"};
    uint32_t x_nd = 0;
    for (int i = 0; i < 2; ++i) {
        if (dvk_tensor_dtype(t[i]) != DVK_DTYPE_F32)
            return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE, "%s: dtype %s, expected f32",
                                 names[i], dvk_dtype_name(dvk_tensor_dtype(t[i])));
        const uint32_t nd = dvk_tensor_ndim(t[i]);
        const uint64_t s[4] = {dvk_tensor_dim(t[i], 0), dvk_tensor_dim(t[i], 1),
                               dvk_tensor_dim(t[i], 2), dvk_tensor_dim(t[i], 3)};
        const uint64_t width = i == 0 ? D : DO;
        char a[96];
        if (i == 0) {
            if (!((nd == 3 && s[2] == D) || (nd == 2 && s[1] == D)))
                return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                     "x: shape %s, expected [B,T,%llu] or [B,%llu]",
                                     dvk__md_dims_str(nd, s, a, sizeof a),
                                     (unsigned long long)D, (unsigned long long)D);
            x_nd = nd;
            *B = s[0];
            *T = nd == 3 ? s[1] : 1;
        } else if (nd != x_nd || s[0] != *B || (nd == 3 && s[1] != *T) || s[nd - 1] != width) {
            if (x_nd == 3)
                return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                     "y: shape %s, expected [%llu,%llu,%llu]",
                                     dvk__md_dims_str(nd, s, a, sizeof a),
                                     (unsigned long long)*B, (unsigned long long)*T,
                                     (unsigned long long)width);
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "y: shape %s, expected [%llu,%llu]",
                                 dvk__md_dims_str(nd, s, a, sizeof a), (unsigned long long)*B,
                                 (unsigned long long)width);
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
    uint64_t B, T, H, DH;
    uint32_t x_nd; /* 3: x is [B, T, D]; 2: [B, D] */
} fwd;

/* A scratch [B, T, H, c] (c = DH, or 1 for a per-head value: [B, T, H]). */
static dvk_status scratch(fwd *f, uint64_t c, dvk_tensor **out)
{
    const uint64_t shape[4] = {f->B, f->T, f->H, c};
    return dvk__md_scratch(f->cmd, DVK_DTYPE_F32, c == 1 ? 3 : 4, shape, out);
}

/* The same memory with x's leading dimensions and n last ([B, T, n] or [B, n]): what
 * dvk_linear reads and writes beside x. */
static dvk_status rows(fwd *f, dvk_tensor *t, uint64_t n, dvk_tensor **out)
{
    const uint64_t shape[3] = {f->B, f->x_nd == 3 ? f->T : n, n};
    return dvk__md_view(&f->views, t, 0, f->x_nd, shape, out);
}

static dvk_status project(fwd *f, const dvk_tensor *x, const dvk_tensor *w, const dvk_tensor *b,
                          uint64_t c, dvk_act act, dvk_tensor **out)
{
    dvk_tensor *r;
    MD_TRY(scratch(f, c, out));
    MD_TRY(rows(f, *out, f->H * c, &r));
    MD_TRY(dvk_linear(f->cmd, &(dvk_linear_desc){.x = x, .weight = w, .bias = b, .y = r}));
    if (act != DVK_ACT_DEFAULT)
        MD_TRY(dvk_activation(f->cmd, &(dvk_activation_desc){.x = r, .y = r, .act = act}));
    return DVK_SUCCESS;
}

static dvk_status record(fwd *f, const dvk_kda_attention *m,
                         const dvk_kda_attention_forward_desc *d)
{
    const dvk_kda_attention_info *in = &m->info;
    const dvk_tensor *x = d->x;
    dvk_tensor *q, *k, *v, *g, *beta, *o;
    MD_TRY(project(f, x, m->w_q, m->b_q, f->DH, DVK_ACT_DEFAULT, &q));
    MD_TRY(project(f, x, m->w_k, m->b_k, f->DH, DVK_ACT_DEFAULT, &k));
    MD_TRY(project(f, x, m->w_v, m->b_v, f->DH, DVK_ACT_DEFAULT, &v));
    /* α = σ(·) as the log decay g = log σ(·); β = softplus(·). */
    MD_TRY(project(f, x, m->w_alpha, m->b_alpha, f->DH, DVK_ACT_LOGSIGMOID, &g));
    MD_TRY(project(f, x, m->w_beta, m->b_beta, 1, DVK_ACT_SOFTPLUS, &beta));
    if (in->out_proj) {
        MD_TRY(scratch(f, f->DH, &o));
    } else { /* Identity: the heads merged are y */
        const uint64_t s_o[4] = {f->B, f->T, f->H, f->DH};
        MD_TRY(dvk__md_view(&f->views, d->y, 0, 4, s_o, &o));
    }
    dvk_tensor *S = d->state ? d->state->S : NULL;
    MD_TRY(dvk_kda(f->cmd, &(dvk_kda_desc){.q = q, .k = k, .v = v, .g = g, .beta = beta, .o = o,
                                            .initial_state = S, .final_state = S,
                                            .scale = 1.0f, .mode = d->mode,
                                            .chunk_size = d->chunk_size}));
    if (!in->out_proj)
        return DVK_SUCCESS;
    dvk_tensor *o_rows;
    MD_TRY(rows(f, o, f->H * f->DH, &o_rows));
    return dvk_linear(f->cmd, &(dvk_linear_desc){.x = o_rows, .weight = m->w_o, .bias = m->b_o,
                                                  .y = d->y});
}

dvk_status dvk_kda_attention_forward(dvk_cmd *cmd, const dvk_kda_attention *m,
                                     const dvk_kda_attention_forward_desc *d)
{
    if (!cmd || !m || !d)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL",
                             !cmd ? "cmd" : !m ? "layer" : "desc");
    if (dvk_cmd_context(cmd) != m->ctx)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "cmd belongs to another context than the layer");
    fwd f = {.cmd = cmd, .H = m->info.n_heads, .DH = m->info.d_head};
    MD_TRY(check(m, d, &f.B, &f.T));
    f.x_nd = dvk_tensor_ndim(d->x);
    if (f.B * f.T * f.H * f.DH > UINT32_MAX || f.B * f.T * m->info.d_model > UINT32_MAX)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "x: %llu tokens are too many",
                             (unsigned long long)(f.B * f.T));
    const dvk_scratch_mark mark = dvk_cmd_scratch_mark(cmd);
    dvk_status st = record(&f, m, d);
    dvk__md_views_clear(&f.views);
    free(f.views.v);
    const dvk_status rs = dvk_cmd_scratch_release(cmd, mark);
    return st != DVK_SUCCESS ? st : rs;
}
