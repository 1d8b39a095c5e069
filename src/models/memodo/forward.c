/* Memodo's layer recorded into a dvk_cmd (dvk_memodo_forward), in either wiring of
 * deltavk_models.h: LayerNorm, TokenLerp (dvk_token_lerp), the heads (six products, logσ, the
 * generalized delta rule with the key read-out, O), the gate and the gated residual, all
 * building blocks of deltavk_nn and dvk_dplr. Every intermediate is a scratch tensor of the
 * recording, released before the call returns. */
#include "models/memodo/memodo.h"

#include <stdlib.h>

/* x [B, T, C] and y ([B, T, C], or [T, B, C] with time_major_y), fp32. */
static dvk_status check(const dvk_memodo_layer *m, const dvk_memodo_forward_desc *d, uint64_t *B,
                        uint64_t *T)
{
    if (!d->x || !d->y)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "desc.%s is NULL", d->x ? "y" : "x");
    if (d->wiring != DVK_MEMODO_WIRING_PACKAGE && d->wiring != DVK_MEMODO_WIRING_README)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "desc.wiring %d is not a wiring",
                             (int)d->wiring);
    const uint64_t C = m->info.num_channels;
    const dvk_tensor *t[2] = {d->x, d->y};
    const char *names[2] = {"x", "y"};
    for (int i = 0; i < 2; ++i) {
        if (dvk_tensor_dtype(t[i]) != DVK_DTYPE_F32)
            return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE, "%s: dtype %s, expected f32",
                                 names[i], dvk_dtype_name(dvk_tensor_dtype(t[i])));
        const uint32_t nd = dvk_tensor_ndim(t[i]);
        const uint64_t shape[DVK_MAX_DIMS] = {dvk_tensor_dim(t[i], 0), dvk_tensor_dim(t[i], 1),
                                              dvk_tensor_dim(t[i], 2), dvk_tensor_dim(t[i], 3)};
        char a[96];
        if (i == 0) {
            if (nd != 3 || shape[2] != C || shape[0] == 0 || shape[1] == 0)
                return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                     "x: shape %s, expected [B,T,%llu]",
                                     dvk__md_dims_str(nd, shape, a, sizeof a),
                                     (unsigned long long)C);
            *B = shape[0];
            *T = shape[1];
            continue;
        }
        const uint64_t d0 = d->time_major_y ? *T : *B, d1 = d->time_major_y ? *B : *T;
        if (nd != 3 || shape[0] != d0 || shape[1] != d1 || shape[2] != C)
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                 "y: shape %s, expected [%llu,%llu,%llu]%s",
                                 dvk__md_dims_str(nd, shape, a, sizeof a), (unsigned long long)d0,
                                 (unsigned long long)d1, (unsigned long long)C,
                                 d->time_major_y ? " (time-major: [T,B,C])" : "");
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
    const dvk_memodo_layer *m;
    const dvk_memodo_forward_desc *d;
    md_views views;
    uint64_t B, T;
} fwd;

/* A scratch tensor [B, T, n]. */
static dvk_status rows(fwd *f, uint64_t n, dvk_tensor **out)
{
    const uint64_t shape[3] = {f->B, f->T, n};
    return dvk__md_scratch(f->cmd, DVK_DTYPE_F32, 3, shape, out);
}

/* A scratch tensor [B, T, 1, F] (one head of dvk_dplr) and its [B, T, F] view. */
static dvk_status head_rows(fwd *f, uint64_t F, dvk_tensor **t4, dvk_tensor **t3)
{
    const uint64_t s4[4] = {f->B, f->T, 1, F}, s3[3] = {f->B, f->T, F};
    MD_TRY(dvk__md_scratch(f->cmd, DVK_DTYPE_F32, 4, s4, t4));
    return dvk__md_view(&f->views, *t4, 0, 3, s3, t3);
}

static dvk_status linear(fwd *f, const dvk_tensor *x, const dvk_tensor *w, const dvk_tensor *b,
                         dvk_tensor *y, bool accumulate)
{
    return dvk_linear(f->cmd, &(dvk_linear_desc){.x = x, .weight = w, .bias = b, .y = y,
                                                 .accumulate = accumulate});
}

/* y = v (a [C] vector) in every row: zeros, plus v broadcast. */
static dvk_status broadcast(fwd *f, const dvk_tensor *v, dvk_tensor *y)
{
    MD_TRY(dvk_cmd_fill_zero(f->cmd, y));
    return dvk_add(f->cmd, &(dvk_binary_desc){.a = y, .b = v, .y = y});
}

/* Head j over h [B, T, C]: out = O o (accumulated into out with `accumulate`). */
static dvk_status head(fwd *f, uint32_t j, const dvk_tensor *h, dvk_tensor *out, bool accumulate)
{
    const memodo_head *hd = &f->m->heads[j];
    const uint64_t F = hd->F;
    dvk_cmd *cmd = f->cmd;
    const dvk_scratch_mark mark = dvk_cmd_scratch_mark(cmd);
    dvk_tensor *p4[MEMODO_PROJ], *p3[MEMODO_PROJ], *o4, *o3;
    for (int p = 0; p < MEMODO_PROJ; ++p) {
        MD_TRY(head_rows(f, F, &p4[p], &p3[p]));
        MD_TRY(linear(f, h, hd->w[p], hd->b[p], p3[p], false));
    }
    MD_TRY(dvk_activation(cmd, &(dvk_activation_desc){.x = p4[MEMODO_I], .y = p4[MEMODO_I],
                                                       .act = DVK_ACT_LOGSIGMOID}));
    dvk_tensor *state = f->d->state ? f->d->state->t[1 + j] : NULL;
    const dvk_tensor *initial = state;
    if (!state) { /* every sequence from the learned initial state, nothing kept */
        const uint64_t s[4] = {f->B, 1, F, F};
        dvk_tensor *init;
        MD_TRY(dvk__md_scratch(cmd, DVK_DTYPE_F32, 4, s, &init));
        MD_TRY(broadcast(f, hd->init_t, init));
        initial = init;
    }
    MD_TRY(head_rows(f, F, &o4, &o3));
    /* S = Mᵀ: k = d, v = c, q = select, gk = logσ(i), a, b/√F (B's weights), key read-out. */
    MD_TRY(dvk_dplr(cmd, &(dvk_dplr_desc){.q = p4[MEMODO_S], .k = p4[MEMODO_D],
                                           .v = p4[MEMODO_C], .a = p4[MEMODO_A],
                                           .b = p4[MEMODO_B], .gk = p4[MEMODO_I], .o = o4,
                                           .initial_state = initial, .final_state = state,
                                           .scale = 1.0f, .mode = f->d->mode,
                                           .chunk_size = f->d->chunk_size,
                                           .readout = DVK_READOUT_KEY}));
    MD_TRY(linear(f, o3, hd->w_o, NULL, out, accumulate));
    return dvk_cmd_scratch_release(cmd, mark);
}

/* gate = W2 gelu(W1 g + b1) + b2 (before its sigmoid) into z [B, T, C]. */
static dvk_status gate(fwd *f, const dvk_tensor *g, dvk_tensor *z)
{
    const dvk_memodo_layer *m = f->m;
    const dvk_scratch_mark mark = dvk_cmd_scratch_mark(f->cmd);
    dvk_tensor *hid;
    MD_TRY(rows(f, m->info.gating_feats, &hid));
    MD_TRY(linear(f, g, m->gate_w1, m->gate_b1, hid, false));
    MD_TRY(dvk_activation(f->cmd, &(dvk_activation_desc){.x = hid, .y = hid,
                                                          .act = DVK_ACT_GELU}));
    MD_TRY(linear(f, hid, m->gate_w2, m->gate_b2, z, false));
    return dvk_cmd_scratch_release(f->cmd, mark);
}

/* out (batch-major [B, T, C]) = x + h ⊙ σ(z), or h ⊙ σ(z) with no_residual. */
static dvk_status combine(fwd *f, const dvk_tensor *h, dvk_tensor *z, dvk_tensor *out)
{
    if (f->d->no_residual) {
        MD_TRY(dvk_activation(f->cmd, &(dvk_activation_desc){.x = z, .y = z,
                                                              .act = DVK_ACT_SIGMOID}));
        return dvk_mul(f->cmd, &(dvk_binary_desc){.a = h, .b = z, .y = out});
    }
    return dvk_gated_residual(f->cmd, &(dvk_gated_residual_desc){.residual = f->d->x, .x = h,
                                                                  .gate = z, .y = out,
                                                                  .act = DVK_ACT_SIGMOID});
}

/* y [T, B, C] from out [B, T, C]: a gather of rows (dvk_embedding), row t·B + b reading row
 * b·T + t. */
static dvk_status to_time_major(fwd *f, dvk_tensor *out)
{
    const uint64_t n = f->B * f->T, C = f->m->info.num_channels;
    int32_t *idx = malloc((size_t)n * sizeof *idx);
    if (!idx)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint64_t t = 0; t < f->T; ++t)
        for (uint64_t b = 0; b < f->B; ++b)
            idx[t * f->B + b] = (int32_t)(b * f->T + t);
    const uint64_t s_idx[2] = {f->T, f->B}, s_rows[2] = {n, C};
    dvk_tensor *indices, *table;
    dvk_status st = dvk__md_scratch(f->cmd, DVK_DTYPE_I32, 2, s_idx, &indices);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_upload(f->cmd, indices, idx, (size_t)n * sizeof *idx);
    free(idx);
    MD_TRY(st);
    MD_TRY(dvk__md_view(&f->views, out, 0, 2, s_rows, &table));
    return dvk_embedding(f->cmd, &(dvk_embedding_desc){.indices = indices, .weight = table,
                                                        .y = f->d->y});
}

static dvk_status record(fwd *f)
{
    const dvk_memodo_layer *m = f->m;
    const dvk_memodo_forward_desc *d = f->d;
    const uint64_t C = m->info.num_channels;
    dvk_cmd *cmd = f->cmd;
    dvk_tensor *shift = d->state ? d->state->t[0] : NULL;

    /* xn = LN(x); xl = TokenLerp(xn), the carried token read and written in place. */
    dvk_tensor *xn, *xl, *h, *z, *out;
    MD_TRY(rows(f, C, &xn));
    MD_TRY(dvk_layer_norm(cmd, &(dvk_layer_norm_desc){.x = d->x, .weight = m->norm_w,
                                                       .bias = m->norm_b, .y = xn,
                                                       .eps = 1e-5f}));
    MD_TRY(rows(f, C, &xl));
    MD_TRY(dvk_token_lerp(cmd, &(dvk_token_lerp_desc){
                                   .x = xn, .premix = m->premix, .w1 = m->lerp_w1,
                                   .b1 = m->lerp_b1, .w2 = m->lerp_w2, .b2 = m->lerp_b2,
                                   .initial = shift ? shift : m->lerp_init, .y = xl,
                                   .final = shift}));
    MD_TRY(rows(f, C, &h));
    MD_TRY(broadcast(f, m->bias, h));
    MD_TRY(rows(f, C, &z));
    if (d->wiring == DVK_MEMODO_WIRING_PACKAGE) {
        /* The chain fed from `bias`: h = O_j(head_j(h)), through two buffers. */
        dvk_tensor *other;
        MD_TRY(rows(f, C, &other));
        for (uint32_t j = 0; j < m->info.num_heads; ++j) {
            MD_TRY(head(f, j, h, other, false));
            dvk_tensor *t = h;
            h = other;
            other = t;
        }
        /* The gate reads h + xl ⊙ gating_res (formed in xl, which is not needed after). */
        MD_TRY(dvk_gated_residual(cmd, &(dvk_gated_residual_desc){
                                            .residual = h, .x = xl, .gate = m->gating_res,
                                            .y = xl, .act = DVK_ACT_IDENTITY}));
        MD_TRY(gate(f, xl, z));
    } else {
        /* block = bias + Σ_j O_j(head_j(xl)); the gate reads LN(x). */
        for (uint32_t j = 0; j < m->info.num_heads; ++j)
            MD_TRY(head(f, j, xl, h, true));
        MD_TRY(gate(f, xn, z));
    }
    if (!d->time_major_y)
        return combine(f, h, z, d->y);
    MD_TRY(rows(f, C, &out));
    MD_TRY(combine(f, h, z, out));
    return to_time_major(f, out);
}

dvk_status dvk_memodo_forward(dvk_cmd *cmd, const dvk_memodo_layer *m,
                              const dvk_memodo_forward_desc *d)
{
    if (!cmd || !m || !d)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL",
                             !cmd ? "cmd" : !m ? "layer" : "desc");
    if (dvk_cmd_context(cmd) != m->ctx)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "cmd belongs to another context than the layer");
    fwd f = {.cmd = cmd, .m = m, .d = d};
    MD_TRY(check(m, d, &f.B, &f.T));
    if (f.B * f.T > INT32_MAX)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "x: %llu tokens",
                             (unsigned long long)(f.B * f.T));
    const dvk_scratch_mark mark = dvk_cmd_scratch_mark(cmd);
    dvk_status st = record(&f);
    dvk__md_views_clear(&f.views);
    free(f.views.v);
    const dvk_status rs = dvk_cmd_scratch_release(cmd, mark);
    return st != DVK_SUCCESS ? st : rs;
}
