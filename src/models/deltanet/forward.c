/* The DeltaNet seed's forward pass recorded into a dvk_cmd (dvk_deltanet_forward), whole
 * sequence or streamed, on deltavk_nn's building blocks and dvk_delta_rule, as
 * deltavk_models.h writes the modules.
 *
 * Streamed, every DeltaNet module runs one token late: fed its input tokens p .. p+n−1, it
 * emits tokens p−1 .. p+n−2. Its convs run causally (kernel 3, the last two projected inputs
 * carried), which is the same-padded conv one token late; a depthwise causal conv of kernel 2
 * with weights (1, 0) delays the input by one token for β and the residual. Module i of a stack
 * is fed the stream of module i − 1, so its input tokens start at P − i (P the tokens fed so
 * far). Tokens out of the sequence (before token 0 while a stack fills, past the end during the
 * flush) are masked: their projected conv inputs are zeroed (the same padding's zeros) and
 * their β zeroed (they leave S alone); the caller's y gets zeros for tokens before token 0. */
#include "models/deltanet/deltanet.h"

#include <stdlib.h>

/* x and y fp32 [B, T, d]; with a state, B the state's batch. */
static dvk_status check(const dvk_deltanet *m, const dvk_deltanet_forward_desc *d, uint64_t *B,
                        uint64_t *T)
{
    const uint64_t D = m->info.d_model, A = m->info.lookahead;
    char a[96];
    if (d->state && d->state->layer != m)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "the state belongs to another layer");
    if (d->flush && !d->state)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "desc.flush ends a stream: it needs desc.state");
    if (d->state && d->state->flushed)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "the state's stream was flushed (ended): reset or restore it");
    if (d->flush && d->x)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "desc.x must be NULL with desc.flush (it feeds the end padding)");
    if ((!d->x && !d->flush) || !d->y)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "desc.%s is NULL", d->y ? "x" : "y");
    if (d->x) {
        const uint32_t nd = dvk_tensor_ndim(d->x);
        const uint64_t s[4] = {dvk_tensor_dim(d->x, 0), dvk_tensor_dim(d->x, 1),
                               dvk_tensor_dim(d->x, 2), dvk_tensor_dim(d->x, 3)};
        if (dvk_tensor_dtype(d->x) != DVK_DTYPE_F32)
            return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE, "x: dtype %s, expected f32",
                                 dvk_dtype_name(dvk_tensor_dtype(d->x)));
        if (nd != 3 || s[2] != D)
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "x: shape %s, expected [B,T,%llu]",
                                 dvk__md_dims_str(nd, s, a, sizeof a), (unsigned long long)D);
        *B = s[0];
        *T = s[1];
        if (d->state && *B != d->state->batch)
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                 "x: batch %llu, but the state holds %u sequences",
                                 (unsigned long long)*B, d->state->batch);
    } else {
        *B = d->state->batch;
        *T = A;
    }
    const uint32_t nd = dvk_tensor_ndim(d->y);
    const uint64_t s[4] = {dvk_tensor_dim(d->y, 0), dvk_tensor_dim(d->y, 1),
                           dvk_tensor_dim(d->y, 2), dvk_tensor_dim(d->y, 3)};
    if (dvk_tensor_dtype(d->y) != DVK_DTYPE_F32)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE, "y: dtype %s, expected f32",
                             dvk_dtype_name(dvk_tensor_dtype(d->y)));
    if (nd != 3 || s[0] != *B || s[1] != *T || s[2] != D)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "y: shape %s, expected [%llu,%llu,%llu]%s",
                             dvk__md_dims_str(nd, s, a, sizeof a), (unsigned long long)*B,
                             (unsigned long long)*T, (unsigned long long)D,
                             d->flush ? " (flush: T = lookahead)" : "");
    return DVK_SUCCESS;
}

typedef struct fwd {
    dvk_cmd *cmd;
    md_views views;
    const dvk_deltanet *m;
    uint64_t B, T, D;
    bool stream;
    int64_t pos; /* streamed: the stream's first token of this call (P) */
    int64_t end; /* streamed: the sequence's length (INT64_MAX until the flush) */
    float *host; /* mask staging (copied by dvk_cmd_upload) */
} fwd;

static dvk_status scratch(fwd *f, uint64_t c, dvk_tensor **out)
{
    const uint64_t shape[3] = {f->B, f->T, c};
    return dvk__md_scratch(f->cmd, DVK_DTYPE_F32, 3, shape, out);
}

static dvk_status view4(fwd *f, dvk_tensor *t, dvk_tensor **out)
{
    const uint64_t shape[4] = {f->B, f->T, 1, f->D};
    return dvk__md_view(&f->views, t, 0, 4, shape, out);
}

static bool in_seq(const fwd *f, int64_t t) { return t >= 0 && t < f->end; }

/* A mask [T, c] of ones where token first + t is in the sequence, zeros elsewhere; NULL (no
 * mask needed) when every token is. */
static dvk_status mask(fwd *f, int64_t first, uint64_t c, dvk_tensor **out)
{
    *out = NULL;
    bool all = true;
    for (uint64_t t = 0; t < f->T; ++t)
        all = all && in_seq(f, first + (int64_t)t);
    if (all)
        return DVK_SUCCESS;
    const uint64_t shape[2] = {f->T, c};
    MD_TRY(dvk__md_scratch(f->cmd, DVK_DTYPE_F32, 2, shape, out));
    free(f->host);
    f->host = malloc((size_t)(f->T * c) * sizeof *f->host);
    if (!f->host)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint64_t t = 0; t < f->T; ++t)
        for (uint64_t j = 0; j < c; ++j)
            f->host[t * c + j] = in_seq(f, first + (int64_t)t) ? 1.0f : 0.0f;
    return dvk_cmd_upload(f->cmd, *out, f->host, (size_t)(f->T * c) * sizeof *f->host);
}

static dvk_status rms(fwd *f, const dvk_tensor *x, const dvk_tensor *w, dvk_tensor *y)
{
    return dvk_rms_norm(f->cmd, &(dvk_rms_norm_desc){.x = x, .weight = w, .y = y, .eps = 1e-8f,
                                                      .eps_mode = DVK_NORM_EPS_ADD});
}

/* One DeltaNet module over x (its input tokens start at `first` when streamed): out =
 * DeltaNet(x) at its output tokens, and *xs the input at those tokens (x itself for a whole
 * sequence, x one token late streamed) for the residual. */
static dvk_status attn(fwd *f, const dn_attn *a, dn_attn_state *s, int64_t first,
                       const dvk_deltanet_forward_desc *d, const dvk_tensor *x, dvk_tensor *out,
                       const dvk_tensor **xs)
{
    dvk_cmd *cmd = f->cmd;
    const uint64_t D = f->D, one = 1;
    dvk_tensor *in_mask = NULL, *out_mask = NULL;
    if (f->stream) {
        MD_TRY(mask(f, first, D, &in_mask));
        MD_TRY(mask(f, first - 1, 1, &out_mask));
    }
    dvk_tensor *pre, *qkv[3];
    MD_TRY(scratch(f, D, &pre));
    for (int i = 0; i < 3; ++i) {
        MD_TRY(scratch(f, D, &qkv[i]));
        MD_TRY(dvk_linear(cmd, &(dvk_linear_desc){.x = x, .weight = a->w[i], .bias = a->b[i],
                                                   .y = pre}));
        if (in_mask)
            MD_TRY(dvk_mul(cmd, &(dvk_binary_desc){.a = pre, .b = in_mask, .y = pre}));
        MD_TRY(dvk_conv1d(cmd, &(dvk_conv1d_desc){
                                   .x = pre, .weight = a->cw[i], .bias = a->cb[i], .y = qkv[i],
                                   .groups = 1,
                                   .padding = f->stream ? DVK_CONV_CAUSAL : DVK_CONV_SAME,
                                   .initial_state = s ? s->conv[i] : NULL,
                                   .final_state = s ? s->conv[i] : NULL,
                                   .act = DVK_ACT_RELU}));
        if (i < 2)
            MD_TRY(dvk_l2_norm(cmd, &(dvk_l2_norm_desc){.x = qkv[i], .y = qkv[i], .eps = 1e-6f,
                                                         .eps_mode = DVK_NORM_EPS_ADD}));
    }
    *xs = x;
    if (f->stream) {
        dvk_tensor *shifted;
        MD_TRY(scratch(f, D, &shifted));
        MD_TRY(dvk_conv1d(cmd, &(dvk_conv1d_desc){.x = x, .weight = f->m->shift_w, .y = shifted,
                                                   .groups = (uint32_t)D,
                                                   .padding = DVK_CONV_CAUSAL,
                                                   .initial_state = s->x_prev,
                                                   .final_state = s->x_prev}));
        *xs = shifted;
    }
    dvk_tensor *beta;
    MD_TRY(scratch(f, one, &beta));
    MD_TRY(dvk_linear(cmd, &(dvk_linear_desc){.x = *xs, .weight = a->w_beta, .bias = a->b_beta,
                                               .y = beta}));
    MD_TRY(dvk_activation(cmd, &(dvk_activation_desc){.x = beta, .y = beta,
                                                       .act = DVK_ACT_SIGMOID}));
    if (out_mask)
        MD_TRY(dvk_mul(cmd, &(dvk_binary_desc){.a = beta, .b = out_mask, .y = beta}));
    dvk_tensor *q4, *k4, *v4, *o4, *o;
    MD_TRY(scratch(f, D, &o));
    MD_TRY(view4(f, qkv[0], &q4));
    MD_TRY(view4(f, qkv[1], &k4));
    MD_TRY(view4(f, qkv[2], &v4));
    MD_TRY(view4(f, o, &o4));
    MD_TRY(dvk_delta_rule(cmd, &(dvk_delta_rule_desc){.q = q4, .k = k4, .v = v4, .beta = beta,
                                                       .o = o4, .scale = 1.0f,
                                                       .initial_state = s ? s->S : NULL,
                                                       .final_state = s ? s->S : NULL,
                                                       .mode = d->mode,
                                                       .chunk_size = d->chunk_size}));
    MD_TRY(rms(f, o, a->norm, o));
    return dvk_linear(cmd, &(dvk_linear_desc){.x = o, .weight = a->w_out, .bias = a->b_out,
                                               .y = out});
}

static dvk_status record(fwd *f, const dvk_deltanet_forward_desc *d)
{
    const dvk_deltanet *m = f->m;
    const dvk_deltanet_info *in = &m->info;
    dvk_cmd *cmd = f->cmd;
    dvk_deltanet_state *st = d->state;
    const dvk_tensor *x = d->x;
    if (!x) { /* the flush: inputs past the end, masked (zeros for tidiness) */
        dvk_tensor *z;
        MD_TRY(scratch(f, f->D, &z));
        MD_TRY(dvk_cmd_fill_zero(cmd, z));
        x = z;
    }
    const dvk_tensor *xs;
    dvk_tensor *h;
    if (in->kind == DVK_DELTANET_BLOCK) {
        dvk_tensor *a, *g, *h0;
        const uint64_t F = in->ff_hidden_dim, F2 = 2 * F;
        MD_TRY(scratch(f, f->D, &a));
        MD_TRY(attn(f, &m->attn[0], st ? &st->attn[0] : NULL, f->pos, d, x, a, &xs));
        MD_TRY(dvk_add(cmd, &(dvk_binary_desc){.a = a, .b = xs, .y = a}));
        MD_TRY(rms(f, a, m->norm1, a));
        MD_TRY(scratch(f, F2, &h0));
        MD_TRY(scratch(f, F, &g));
        MD_TRY(dvk_linear(cmd, &(dvk_linear_desc){.x = a, .weight = m->ffn0_w,
                                                   .bias = m->ffn0_b, .y = h0}));
        MD_TRY(dvk_glu(cmd, &(dvk_glu_desc){.x = h0, .y = g}));
        MD_TRY(dvk_linear(cmd, &(dvk_linear_desc){.x = g, .weight = m->ffn2_w,
                                                   .bias = m->ffn2_b, .y = a,
                                                   .accumulate = true}));
        MD_TRY(rms(f, a, m->norm2, d->y));
    } else {
        for (uint32_t i = 0; i < in->num_layers; ++i) {
            const bool last = i + 1 == in->num_layers;
            if (last && in->kind == DVK_DELTANET_LAYER)
                h = d->y;
            else
                MD_TRY(scratch(f, f->D, &h));
            MD_TRY(attn(f, &m->attn[i], st ? &st->attn[i] : NULL, f->pos - (int64_t)i, d, x, h,
                        &xs));
            if (in->kind == DVK_DELTANET_MODEL) {
                MD_TRY(dvk_add(cmd, &(dvk_binary_desc){.a = h, .b = xs, .y = h}));
                if (last)
                    MD_TRY(rms(f, h, m->final_norm, d->y));
            }
            x = h;
        }
    }
    if (f->stream) { /* zeros for the tokens before token 0 */
        const int64_t first_out = f->pos - (int64_t)in->lookahead;
        dvk_tensor *y_mask = NULL;
        const int64_t saved_end = f->end;
        f->end = INT64_MAX;
        const dvk_status s = mask(f, first_out, f->D, &y_mask);
        f->end = saved_end;
        MD_TRY(s);
        if (y_mask)
            MD_TRY(dvk_mul(cmd, &(dvk_binary_desc){.a = d->y, .b = y_mask, .y = d->y}));
    }
    return DVK_SUCCESS;
}

dvk_status dvk_deltanet_forward(dvk_cmd *cmd, const dvk_deltanet *m,
                                const dvk_deltanet_forward_desc *d)
{
    if (!cmd || !m || !d)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL",
                             !cmd ? "cmd" : !m ? "layer" : "desc");
    if (dvk_cmd_context(cmd) != m->ctx)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "cmd belongs to another context than the layer");
    fwd f = {.cmd = cmd, .m = m, .D = m->info.d_model, .stream = d->state != NULL,
             .end = INT64_MAX};
    MD_TRY(check(m, d, &f.B, &f.T));
    if (f.B * f.T > UINT32_MAX || f.B * f.T * (2 * (uint64_t)m->info.ff_hidden_dim + f.D) >
                                      UINT32_MAX)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "x: %llu tokens are too many",
                             (unsigned long long)(f.B * f.T));
    if (d->state) {
        f.pos = (int64_t)d->state->position;
        if (d->flush)
            f.end = f.pos;
    }
    const dvk_scratch_mark mark = dvk_cmd_scratch_mark(cmd);
    dvk_status st = record(&f, d);
    dvk__md_views_clear(&f.views);
    free(f.views.v);
    free(f.host);
    const dvk_status rs = dvk_cmd_scratch_release(cmd, mark);
    if (st == DVK_SUCCESS && rs == DVK_SUCCESS && d->state) {
        if (d->flush)
            d->state->flushed = true;
        else
            d->state->position += f.T;
    }
    return st != DVK_SUCCESS ? st : rs;
}
