/* The forward passes of the Infini-attention layer and of the Infini-Transformer, recorded into
 * a dvk_cmd from deltavk_nn's building blocks and dvk_infini_attn, as deltavk_models.h writes
 * them. Every intermediate is a scratch tensor of the recording, released before the call
 * returns (per block, for the model). */
#include "models/infini/infini.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The package's RMSNorm, F.normalize(x)·√C·γ = x / max(rms(x), 1e-12/√C) · γ. */
static dvk_status norm(dvk_cmd *cmd, const dvk_tensor *x, const dvk_tensor *gamma, dvk_tensor *y,
                       uint32_t C)
{
    return dvk_rms_norm(cmd, &(dvk_rms_norm_desc){.x = x, .weight = gamma, .y = y,
                                                   .eps = (float)(1e-12 / sqrt((double)C)),
                                                   .eps_mode = DVK_NORM_EPS_CLAMP});
}

static dvk_status scratch3(dvk_cmd *cmd, uint64_t B, uint64_t n, uint64_t c, dvk_tensor **out)
{
    const uint64_t shape[3] = {B, n, c};
    return dvk__md_scratch(cmd, DVK_DTYPE_F32, 3, shape, out);
}

dvk_status dvk__infini_attn_record(dvk_cmd *cmd, md_views *views, const infini_attn_call *c)
{
    const dvk_infini_info *in = c->info;
    const uint64_t B = dvk_tensor_dim(c->x, 0), n = dvk_tensor_dim(c->x, 1);
    const uint64_t C = in->dim, H = in->heads, D = in->dim_head, HD = H * D;
    dvk_tensor *h, *q, *k, *v, *o, *q4, *k4, *v4, *o4;
    MD_TRY(scratch3(cmd, B, n, C, &h));
    MD_TRY(norm(cmd, c->x, c->w->gamma, h, in->dim));
    MD_TRY(scratch3(cmd, B, n, HD, &q));
    MD_TRY(scratch3(cmd, B, n, HD, &k));
    MD_TRY(scratch3(cmd, B, n, HD, &v));
    MD_TRY(scratch3(cmd, B, n, HD, &o));
    MD_TRY(dvk_linear(cmd, &(dvk_linear_desc){.x = h, .weight = c->w->w_q, .y = q}));
    MD_TRY(dvk_linear(cmd, &(dvk_linear_desc){.x = h, .weight = c->w->w_k, .y = k}));
    MD_TRY(dvk_linear(cmd, &(dvk_linear_desc){.x = h, .weight = c->w->w_v, .y = v}));
    const uint64_t s4[4] = {B, n, H, D};
    MD_TRY(dvk__md_view(views, q, 0, 4, s4, &q4));
    MD_TRY(dvk__md_view(views, k, 0, 4, s4, &k4));
    MD_TRY(dvk__md_view(views, v, 0, 4, s4, &v4));
    MD_TRY(dvk__md_view(views, o, 0, 4, s4, &o4));
    const bool read = c->kv && c->has_memory;
    MD_TRY(dvk_infini_attn(cmd, &(dvk_infini_attn_desc){
                                    .q = q4, .k = k4, .v = v4, .gate = c->w->gates, .o = o4,
                                    .memory = read ? c->kv : NULL,
                                    .memory_z = read ? c->norm : NULL,
                                    .final_memory = c->kv, .final_z = c->norm,
                                    .rope = true, .rope_theta = in->rope_theta,
                                    .delta_rule = in->delta_rule}));
    return dvk_linear(cmd, &(dvk_linear_desc){.x = o, .weight = c->w->w_out, .y = c->y,
                                              .accumulate = c->accumulate});
}

/* x and y: fp32 [B, n, C] (one segment), B the state's batch when there is a state. */
static dvk_status check_xy(const dvk_infini_attention *m,
                           const dvk_infini_attention_forward_desc *d)
{
    if (!d->x || !d->y)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "desc.%s is NULL", d->x ? "y" : "x");
    const uint64_t C = m->info.dim;
    const dvk_tensor *t[2] = {d->x, d->y};
    const char *names[2] = {"x", "y"};
    uint64_t B = 0, n = 0;
    for (int i = 0; i < 2; ++i) {
        if (dvk_tensor_dtype(t[i]) != DVK_DTYPE_F32)
            return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE, "%s: dtype %s, expected f32",
                                 names[i], dvk_dtype_name(dvk_tensor_dtype(t[i])));
        const uint32_t nd = dvk_tensor_ndim(t[i]);
        const uint64_t shape[DVK_MAX_DIMS] = {dvk_tensor_dim(t[i], 0), dvk_tensor_dim(t[i], 1),
                                              dvk_tensor_dim(t[i], 2), dvk_tensor_dim(t[i], 3)};
        if (i == 0) {
            B = shape[0];
            n = shape[1];
        }
        if (nd != 3 || shape[2] != C || shape[0] != B || shape[1] != n) {
            char a[96];
            if (i == 0)
                return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "x: shape %s, expected [B,n,%llu]",
                                     dvk__md_dims_str(nd, shape, a, sizeof a),
                                     (unsigned long long)C);
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "y: shape %s, expected [%llu,%llu,%llu]",
                                 dvk__md_dims_str(nd, shape, a, sizeof a), (unsigned long long)B,
                                 (unsigned long long)n, (unsigned long long)C);
        }
    }
    if (d->state && d->state->layer != m)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "the state belongs to another layer");
    if (d->state && d->state->mem.batch != B)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                             "x: batch %llu, but the state holds %u sequences",
                             (unsigned long long)B, d->state->mem.batch);
    return DVK_SUCCESS;
}

dvk_status dvk_infini_attention_forward(dvk_cmd *cmd, const dvk_infini_attention *m,
                                        const dvk_infini_attention_forward_desc *d)
{
    if (!cmd || !m || !d)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL",
                             !cmd ? "cmd" : !m ? "layer" : "desc");
    if (dvk_cmd_context(cmd) != m->ctx)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "cmd belongs to another context than the layer");
    MD_TRY(check_xy(m, d));
    infini_memories *mem = d->state ? &d->state->mem : NULL;
    const infini_attn_call c = {.info = &m->info, .w = &m->w, .x = d->x, .y = d->y,
                                .kv = mem ? mem->kv[0] : NULL, .norm = mem ? mem->norm[0] : NULL,
                                .has_memory = mem && mem->segments > 0};
    md_views views = {0};
    const dvk_scratch_mark mark = dvk_cmd_scratch_mark(cmd);
    dvk_status st = dvk__infini_attn_record(cmd, &views, &c);
    dvk__md_views_clear(&views);
    free(views.v);
    const dvk_status rs = dvk_cmd_scratch_release(cmd, mark);
    if (st == DVK_SUCCESS)
        st = rs;
    if (st == DVK_SUCCESS && mem)
        ++mem->segments;
    return st;
}

/* ---- the model ------------------------------------------------------------------------------ */

/* The tokens and logits of desc, against the session: B rows of n. */
static dvk_status check_lm(const dvk_infini_transformer_session *s,
                           const dvk_infini_transformer_forward_desc *d)
{
    const dvk_infini_info *in = &s->model->info;
    const uint64_t B = s->mem.batch, n = d->n_tokens, V = in->n_vocab;
    if (n == 0)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "n_tokens is 0");
    if ((d->tokens != NULL) == (d->token_tensor != NULL))
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "give exactly one of tokens and token_tensor");
    if (d->tokens) {
        for (uint64_t i = 0; i < B * n; ++i)
            if (d->tokens[i] < 0 || (uint32_t)d->tokens[i] >= V)
                return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                                     "tokens[%llu][%llu] = %d is outside the vocabulary [0, %u)",
                                     (unsigned long long)(i / n), (unsigned long long)(i % n),
                                     (int)d->tokens[i], in->n_vocab);
    } else {
        const dvk_tensor *t = d->token_tensor;
        if (dvk_tensor_dtype(t) != DVK_DTYPE_I32 || dvk_tensor_ndim(t) != 2 ||
            dvk_tensor_dim(t, 0) != B || dvk_tensor_dim(t, 1) != n)
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                 "token_tensor: %s with %u dimensions, expected i32 [%llu,%llu]",
                                 dvk_dtype_name(dvk_tensor_dtype(t)), dvk_tensor_ndim(t),
                                 (unsigned long long)B, (unsigned long long)n);
    }
    if (d->logits) {
        const dvk_tensor *t = d->logits;
        const uint32_t nd = dvk_tensor_ndim(t);
        const uint64_t shape[DVK_MAX_DIMS] = {dvk_tensor_dim(t, 0), dvk_tensor_dim(t, 1),
                                              dvk_tensor_dim(t, 2), dvk_tensor_dim(t, 3)};
        if (dvk_tensor_dtype(t) != DVK_DTYPE_F32 || nd != 3 || shape[0] != B || shape[1] != n ||
            shape[2] != V) {
            char a[96];
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                 "logits: %s %s, expected f32 [%llu,%llu,%llu]",
                                 dvk_dtype_name(dvk_tensor_dtype(t)),
                                 dvk__md_dims_str(nd, shape, a, sizeof a), (unsigned long long)B,
                                 (unsigned long long)n, (unsigned long long)V);
        }
    }
    if (B * n * (in->ff_dim > in->n_vocab ? 2 * in->ff_dim : in->n_vocab) > UINT32_MAX)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "%llu tokens are too many for one segment",
                             (unsigned long long)(B * n));
    return DVK_SUCCESS;
}

/* x: [..., C]; the temporaries take its leading dimensions. */
dvk_status dvk__infini_ff_record(dvk_cmd *cmd, const dvk_infini_info *in,
                                 const infini_ff_weights *w, const dvk_tensor *x, dvk_tensor *y,
                                 bool accumulate)
{
    const uint32_t nd = dvk_tensor_ndim(x);
    uint64_t shape[DVK_MAX_DIMS];
    for (uint32_t i = 0; i < nd; ++i)
        shape[i] = dvk_tensor_dim(x, i);
    dvk_tensor *h, *p, *g;
    MD_TRY(dvk__md_scratch(cmd, DVK_DTYPE_F32, nd, shape, &h));
    shape[nd - 1] = 2 * (uint64_t)in->ff_dim;
    MD_TRY(dvk__md_scratch(cmd, DVK_DTYPE_F32, nd, shape, &p));
    shape[nd - 1] = in->ff_dim;
    MD_TRY(dvk__md_scratch(cmd, DVK_DTYPE_F32, nd, shape, &g));
    MD_TRY(norm(cmd, x, w->gamma, h, in->dim));
    MD_TRY(dvk_linear(cmd, &(dvk_linear_desc){.x = h, .weight = w->w_in, .bias = w->b_in, .y = p}));
    /* x, gates = chunk(2): the value first, the gate second; gelu(gates) · x. */
    MD_TRY(dvk_glu(cmd, &(dvk_glu_desc){.x = p, .y = g, .act = DVK_ACT_GELU}));
    return dvk_linear(cmd, &(dvk_linear_desc){.x = g, .weight = w->w_out, .bias = w->b_out,
                                              .y = y, .accumulate = accumulate});
}

dvk_status dvk_infini_feed_forward_forward(dvk_cmd *cmd, const dvk_infini_feed_forward *m,
                                           const dvk_infini_feed_forward_desc *d)
{
    if (!cmd || !m || !d)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL",
                             !cmd ? "cmd" : !m ? "layer" : "desc");
    if (!d->x || !d->y)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "desc.%s is NULL", d->x ? "y" : "x");
    if (dvk_cmd_context(cmd) != m->ctx)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "cmd belongs to another context than the layer");
    const uint32_t nd = dvk_tensor_ndim(d->x);
    bool same = nd == dvk_tensor_ndim(d->y);
    for (uint32_t i = 0; same && i < nd; ++i)
        same = dvk_tensor_dim(d->x, i) == dvk_tensor_dim(d->y, i);
    if (dvk_tensor_dtype(d->x) != DVK_DTYPE_F32 || dvk_tensor_dtype(d->y) != DVK_DTYPE_F32)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE, "x and y must be f32");
    if (nd < 1 || dvk_tensor_dim(d->x, nd - 1) != m->info.dim || !same)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                             "x and y: expected the same shape [..., %u]", m->info.dim);
    const dvk_scratch_mark mark = dvk_cmd_scratch_mark(cmd);
    const dvk_status st = dvk__infini_ff_record(cmd, &m->info, &m->w, d->x, d->y, d->accumulate);
    const dvk_status rs = dvk_cmd_scratch_release(cmd, mark);
    return st != DVK_SUCCESS ? st : rs;
}

static dvk_status lm_record(dvk_cmd *cmd, dvk_infini_transformer_session *s,
                            const dvk_infini_transformer_forward_desc *d, md_views *views)
{
    const dvk_infini_transformer *m = s->model;
    const dvk_infini_info *in = &m->info;
    const uint64_t B = s->mem.batch, n = d->n_tokens;
    dvk_tensor *ids = (dvk_tensor *)d->token_tensor; /* read only */
    if (d->tokens) {
        const uint64_t shape[2] = {B, n};
        MD_TRY(dvk__md_scratch(cmd, DVK_DTYPE_I32, 2, shape, &ids));
        MD_TRY(dvk_cmd_upload(cmd, ids, d->tokens, (size_t)(B * n) * sizeof(int32_t)));
    }
    dvk_tensor *x;
    MD_TRY(scratch3(cmd, B, n, in->dim, &x));
    MD_TRY(dvk_embedding(cmd, &(dvk_embedding_desc){.indices = ids, .weight = m->emb, .y = x}));
    for (uint32_t l = 0; l < in->depth; ++l) {
        const dvk_scratch_mark mark = dvk_cmd_scratch_mark(cmd);
        const infini_attn_call c = {.info = in, .w = &m->attn[l], .x = x, .y = x,
                                    .accumulate = true, .kv = s->mem.kv[l],
                                    .norm = s->mem.norm[l], .has_memory = s->mem.segments > 0};
        MD_TRY(dvk__infini_attn_record(cmd, views, &c));
        MD_TRY(dvk__infini_ff_record(cmd, in, &m->ff[l], x, x, true));
        MD_TRY(dvk_cmd_scratch_release(cmd, mark));
        dvk__md_views_clear(views); /* the block's views (their work is recorded) */
    }
    if (!d->logits)
        return DVK_SUCCESS;
    MD_TRY(norm(cmd, x, m->gamma, x, in->dim));
    return dvk_linear(cmd, &(dvk_linear_desc){.x = x, .weight = m->w_logits, .bias = m->b_logits,
                                              .y = d->logits});
}

dvk_status dvk_infini_transformer_forward(dvk_cmd *cmd, dvk_infini_transformer_session *s,
                                          const dvk_infini_transformer_forward_desc *d)
{
    if (!cmd || !s || !d)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL",
                             !cmd ? "cmd" : !s ? "session" : "desc");
    if (dvk_cmd_context(cmd) != s->model->ctx)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "cmd belongs to another context than the model");
    MD_TRY(check_lm(s, d));
    md_views views = {0};
    const dvk_scratch_mark mark = dvk_cmd_scratch_mark(cmd);
    dvk_status st = lm_record(cmd, s, d, &views);
    dvk__md_views_clear(&views);
    free(views.v);
    const dvk_status rs = dvk_cmd_scratch_release(cmd, mark);
    if (st == DVK_SUCCESS)
        st = rs;
    if (st == DVK_SUCCESS)
        ++s->mem.segments;
    return st;
}

dvk_status dvk_infini_transformer_eval(dvk_infini_transformer_session *s, const int32_t *tokens,
                                       uint32_t n_tokens, uint32_t segment, float *logits,
                                       size_t logits_count)
{
    if (!s || !tokens)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", s ? "tokens" : "session");
    const uint64_t B = s->mem.batch, T = n_tokens, V = s->model->info.n_vocab;
    if (T == 0)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "n_tokens is 0");
    if ((logits_count != 0 && logits_count != B * T * V) || (logits_count != 0) != (logits != NULL))
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "logits_count %zu with logits %s: expected %llu (B x n_tokens x V) "
                             "or 0 with NULL",
                             logits_count, logits ? "set" : "NULL",
                             (unsigned long long)(B * T * V));
    const uint64_t seg = segment ? segment : T;
    int32_t *ids = malloc((size_t)(B * seg) * sizeof *ids);
    float *part = logits ? malloc((size_t)(B * seg * V) * sizeof *part) : NULL;
    dvk_status st = DVK_SUCCESS;
    if (!ids || (logits && !part))
        st = dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (st == DVK_SUCCESS && !s->cmd)
        st = dvk_cmd_create(s->model->ctx, NULL, &s->cmd);
    for (uint64_t t0 = 0; st == DVK_SUCCESS && t0 < T; t0 += seg) {
        const uint64_t n = T - t0 < seg ? T - t0 : seg;
        for (uint64_t b = 0; b < B; ++b)
            memcpy(ids + b * n, tokens + b * T + t0, (size_t)n * sizeof *ids);
        st = dvk_cmd_reset(s->cmd);
        dvk_tensor *t = NULL;
        if (st == DVK_SUCCESS && logits) {
            const uint64_t shape[3] = {B, n, V};
            st = dvk__md_scratch(s->cmd, DVK_DTYPE_F32, 3, shape, &t);
        }
        if (st == DVK_SUCCESS)
            st = dvk_infini_transformer_forward(
                s->cmd, s,
                &(dvk_infini_transformer_forward_desc){.tokens = ids, .n_tokens = (uint32_t)n,
                                                       .logits = t});
        if (st == DVK_SUCCESS && t)
            st = dvk_cmd_download(s->cmd, t, part, (size_t)(B * n * V) * sizeof *part);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_submit(s->cmd);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_wait(s->cmd, 0);
        for (uint64_t b = 0; st == DVK_SUCCESS && logits && b < B; ++b)
            memcpy(logits + (b * T + t0) * V, part + b * n * V, (size_t)(n * V) * sizeof *part);
    }
    free(ids);
    free(part);
    return st;
}

dvk_status dvk_infini_attention_eval(dvk_infini_attention_state *s, const float *x,
                                     uint32_t n_tokens, uint32_t segment, float *y)
{
    if (!s || !x || !y)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL",
                             !s ? "state" : !x ? "x" : "y");
    if (n_tokens == 0)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "n_tokens is 0");
    const dvk_infini_attention *m = s->layer;
    const uint64_t B = s->mem.batch, T = n_tokens, C = m->info.dim;
    const uint64_t seg = segment ? segment : T;
    float *part = malloc((size_t)(B * (seg < T ? seg : T) * C) * sizeof *part);
    if (!part)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    dvk_status st = DVK_SUCCESS;
    if (!s->cmd)
        st = dvk_cmd_create(m->ctx, NULL, &s->cmd);
    for (uint64_t t0 = 0; st == DVK_SUCCESS && t0 < T; t0 += seg) {
        const uint64_t n = T - t0 < seg ? T - t0 : seg;
        for (uint64_t b = 0; b < B; ++b)
            memcpy(part + b * n * C, x + (b * T + t0) * C, (size_t)(n * C) * sizeof *part);
        st = dvk_cmd_reset(s->cmd);
        dvk_tensor *tx = NULL, *ty = NULL;
        if (st == DVK_SUCCESS)
            st = scratch3(s->cmd, B, n, C, &tx);
        if (st == DVK_SUCCESS)
            st = scratch3(s->cmd, B, n, C, &ty);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_upload(s->cmd, tx, part, (size_t)(B * n * C) * sizeof *part);
        if (st == DVK_SUCCESS)
            st = dvk_infini_attention_forward(
                s->cmd, m, &(dvk_infini_attention_forward_desc){.x = tx, .y = ty, .state = s});
        if (st == DVK_SUCCESS)
            st = dvk_cmd_download(s->cmd, ty, part, (size_t)(B * n * C) * sizeof *part);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_submit(s->cmd);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_wait(s->cmd, 0);
        for (uint64_t b = 0; st == DVK_SUCCESS && b < B; ++b)
            memcpy(y + (b * T + t0) * C, part + b * n * C, (size_t)(n * C) * sizeof *part);
    }
    free(part);
    return st;
}
