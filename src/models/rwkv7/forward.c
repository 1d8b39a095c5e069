/* RWKV-7's forward pass recorded into a dvk_cmd (dvk_rwkv7_forward): deltavk_nn's building
 * blocks, the dvk_rwkv7 operator and the two kernels of this level (kernels.c), block by block
 * as deltavk_models.h writes the model. Every intermediate is a scratch tensor of the recording,
 * taken inside a mark that is released at the end of its block (and of its pass), so a forward
 * through L blocks uses one block's scratch.
 *
 * Per block: LayerNorm, one token shift for the six mixes, the r, k, v projections, the four
 * low-rank pairs (linear, activation, linear with the bias w0, a0 or v0), then dvk__rwkv7_prepare
 * (the decay, α, κ̂, the key update, the value residual), dvk_rwkv7, dvk__rwkv7_output (ln_x, the
 * per-head r⊙k⊙r_k bonus, the gate) and W_o accumulated into x; the channel mix is LayerNorm,
 * token shift, linear, relu², linear accumulated into x: 26 dispatches (25 in block 0). The
 * glue in the two kernels composes from building blocks too (sigmoids, a multiply by a [1]
 * constant, lerps, l2_norm, group_norm and a product with an [N, N] matrix of ones for the
 * per-head sum), but that is fifteen dispatches where the kernels are two, and decoding the
 * tiny model on lavapipe ran at 38 tokens/s composed, 70 with the kernels. Views give the
 * [1, T, H, N] shapes dvk_rwkv7 takes. */
#include "models/rwkv7/rwkv7.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_TOKENS 512

typedef struct fwd {
    dvk_cmd *cmd;
    dvk_rwkv7_session *s;
    const dvk_rwkv7_model *m;
    md_views views;
    dvk_mode mode;
    uint32_t chunk_size;
} fwd;

static dvk_status scratch3(fwd *f, uint64_t n, uint64_t c, dvk_tensor **out)
{
    const uint64_t shape[3] = {1, n, c};
    return dvk__md_scratch(f->cmd, DVK_DTYPE_F32, 3, shape, out);
}

/* The [1, n, H, N] view of a [1, n, C] tensor. */
static dvk_status heads(fwd *f, dvk_tensor *t, uint64_t n, dvk_tensor **out)
{
    const uint64_t shape[4] = {1, n, f->m->info.n_head, f->m->info.head_size};
    return dvk__md_view(&f->views, t, 0, 4, shape, out);
}

static dvk_status linear(fwd *f, const dvk_tensor *x, const dvk_tensor *w, const dvk_tensor *b,
                         dvk_tensor *y, bool accumulate)
{
    return dvk_linear(f->cmd, &(dvk_linear_desc){.x = x, .weight = w, .bias = b, .y = y,
                                                  .accumulate = accumulate});
}

static dvk_status act(fwd *f, dvk_tensor *x, dvk_act a)
{
    return dvk_activation(f->cmd, &(dvk_activation_desc){.x = x, .y = x, .act = a});
}

/* x ← x + TimeMix(LN1(x)); v_first is block 0's v (written there, read by later blocks). */
static dvk_status time_mix(fwd *f, uint32_t l, dvk_tensor *x, dvk_tensor *v_first, uint64_t n)
{
    const dvk_rwkv7_model *m = f->m;
    const dvk_rwkv7_info *in = &m->info;
    const rwkv7_block *b = &m->blocks[l];
    const uint64_t C = in->n_embd;
    dvk_tensor **state = &f->s->state[3 * l];
    dvk_cmd *cmd = f->cmd;

    dvk_tensor *xa, *mix, *xm[6];
    MD_TRY(scratch3(f, n, C, &xa));
    MD_TRY(dvk_layer_norm(cmd, &(dvk_layer_norm_desc){.x = x, .weight = b->ln1_w,
                                                       .bias = b->ln1_b, .y = xa}));
    const uint64_t mix_shape[4] = {6, 1, n, C}, tok_shape[3] = {1, n, C};
    MD_TRY(dvk__md_scratch(cmd, DVK_DTYPE_F32, 4, mix_shape, &mix));
    MD_TRY(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = xa, .mix = b->x_mix,
                                                         .initial = state[0], .final = state[0],
                                                         .y = mix}));
    for (uint32_t i = 0; i < 6; ++i) /* x_r, x_w, x_k, x_v, x_a, x_g */
        MD_TRY(dvk__md_view(&f->views, mix, i * n * C, 3, tok_shape, &xm[i]));

    dvk_tensor *r, *k, *v, *w, *alpha, *g, *kap, *o, *h;
    MD_TRY(scratch3(f, n, C, &r));
    MD_TRY(linear(f, xm[0], b->wr, NULL, r, false));
    MD_TRY(scratch3(f, n, C, &k));
    MD_TRY(linear(f, xm[2], b->wk, NULL, k, false));
    if (l == 0)
        v = v_first;
    else
        MD_TRY(scratch3(f, n, C, &v));
    MD_TRY(linear(f, xm[3], b->wv, NULL, v, false));

    /* The pre-activations of w (w0 + W2 tanh(W1 x_w)), α (a0 + A2 A1 x_a) and the value
     * residual's gate (v0 + V2 V1 x_v), and g = G2 σ(G1 x_g). */
    MD_TRY(scratch3(f, n, in->decay_rank, &h));
    MD_TRY(linear(f, xm[1], b->w1, NULL, h, false));
    MD_TRY(act(f, h, DVK_ACT_TANH));
    MD_TRY(scratch3(f, n, C, &w));
    MD_TRY(linear(f, h, b->w2, b->w0, w, false));
    MD_TRY(scratch3(f, n, in->iclr_rank, &h));
    MD_TRY(linear(f, xm[4], b->a1, NULL, h, false));
    MD_TRY(scratch3(f, n, C, &alpha));
    MD_TRY(linear(f, h, b->a2, b->a0, alpha, false));
    dvk_tensor *vg = NULL;
    if (l > 0) {
        MD_TRY(scratch3(f, n, in->value_rank, &h));
        MD_TRY(linear(f, xm[3], b->v1, NULL, h, false));
        MD_TRY(scratch3(f, n, C, &vg));
        MD_TRY(linear(f, h, b->v2, b->v0, vg, false));
    }
    MD_TRY(scratch3(f, n, in->gate_rank, &h));
    MD_TRY(linear(f, xm[5], b->g1, NULL, h, false));
    MD_TRY(act(f, h, DVK_ACT_SIGMOID));
    MD_TRY(scratch3(f, n, C, &g));
    MD_TRY(linear(f, h, b->g2, NULL, g, false));

    /* w, α, κ̂, the key update and the value residual: one kernel (kernels.c). */
    MD_TRY(scratch3(f, n, C, &kap));
    MD_TRY(dvk__rwkv7_prepare(cmd, &(rwkv7_prepare_args){
                                  .k = k, .w = w, .alpha = alpha, .kappa = kap,
                                  .v = l > 0 ? v : NULL, .v_first = l > 0 ? v_first : NULL,
                                  .v_gate = vg, .k_k = b->k_k, .k_a = b->k_a,
                                  .heads = in->n_head, .head_size = in->head_size}));

    /* The wkv recurrence, the state carried in place. */
    dvk_tensor *r4, *w4, *k4, *v4, *a4, *o4, *kap4;
    MD_TRY(scratch3(f, n, C, &o));
    MD_TRY(heads(f, r, n, &r4));
    MD_TRY(heads(f, w, n, &w4));
    MD_TRY(heads(f, k, n, &k4));
    MD_TRY(heads(f, v, n, &v4));
    MD_TRY(heads(f, alpha, n, &a4));
    MD_TRY(heads(f, kap, n, &kap4));
    MD_TRY(heads(f, o, n, &o4));
    MD_TRY(dvk_rwkv7(cmd, &(dvk_rwkv7_desc){.r = r4, .w = w4, .k = k4, .v = v4, .kappa = kap4,
                                             .alpha = a4, .o = o4, .initial_state = state[1],
                                             .final_state = state[1], .scale = 1.0f,
                                             .mode = f->mode, .chunk_size = f->chunk_size}));

    /* ln_x, the per-head bonus and the gate: one kernel; then x += W_o o. */
    MD_TRY(dvk__rwkv7_output(cmd, &(rwkv7_output_args){.o = o, .r = r, .k = k, .v = v, .g = g,
                                                   .r_k = b->r_k, .ln_w = b->lnx_w,
                                                   .ln_b = b->lnx_b, .heads = in->n_head,
                                                   .head_size = in->head_size, .eps = 64e-5f}));
    return linear(f, o, b->wo, NULL, x, true);
}

/* x ← x + ChannelMix(LN2(x)) */
static dvk_status channel_mix(fwd *f, uint32_t l, dvk_tensor *x, uint64_t n)
{
    const rwkv7_block *b = &f->m->blocks[l];
    dvk_tensor *state = f->s->state[3 * l + 2];
    dvk_tensor *c, *ck, *h;
    MD_TRY(scratch3(f, n, f->m->info.n_embd, &c));
    MD_TRY(dvk_layer_norm(f->cmd, &(dvk_layer_norm_desc){.x = x, .weight = b->ln2_w,
                                                          .bias = b->ln2_b, .y = c}));
    MD_TRY(scratch3(f, n, f->m->info.n_embd, &ck));
    MD_TRY(dvk_token_shift(f->cmd, &(dvk_token_shift_desc){.x = c, .mix = b->ffn_x_k,
                                                            .initial = state, .final = state,
                                                            .y = ck}));
    MD_TRY(scratch3(f, n, f->m->info.ffn_dim, &h));
    MD_TRY(linear(f, ck, b->ffn_key, NULL, h, false));
    MD_TRY(act(f, h, DVK_ACT_RELU_SQUARED));
    return linear(f, h, b->ffn_value, NULL, x, true);
}

/* One pass over tokens [start, start + n): ids is [1, n] int32. */
static dvk_status pass(fwd *f, dvk_tensor *ids, uint64_t start, uint64_t n, dvk_tensor *logits,
                       bool all, bool last)
{
    const dvk_rwkv7_model *m = f->m;
    const uint64_t C = m->info.n_embd, V = m->info.n_vocab;
    dvk_tensor *x, *v_first;
    MD_TRY(scratch3(f, n, C, &x));
    MD_TRY(scratch3(f, n, C, &v_first));
    MD_TRY(dvk_embedding(f->cmd, &(dvk_embedding_desc){.indices = ids, .weight = m->emb, .y = x}));
    MD_TRY(dvk_layer_norm(f->cmd, &(dvk_layer_norm_desc){.x = x, .weight = m->ln0_w,
                                                          .bias = m->ln0_b, .y = x}));
    for (uint32_t l = 0; l < m->info.n_layer; ++l) {
        const dvk_scratch_mark mark = dvk_cmd_scratch_mark(f->cmd);
        MD_TRY(time_mix(f, l, x, v_first, n));
        MD_TRY(channel_mix(f, l, x, n));
        MD_TRY(dvk_cmd_scratch_release(f->cmd, mark));
        dvk__md_views_clear(&f->views); /* the block's views (their work is recorded) */
    }
    if (!logits || (!all && !last))
        return DVK_SUCCESS;
    dvk_tensor *xs = x, *y = logits;
    if (all) {
        const uint64_t shape[3] = {1, n, V};
        MD_TRY(dvk__md_view(&f->views, logits, start * V, 3, shape, &y));
    } else {
        const uint64_t sx[2] = {1, C}, sy[2] = {1, V};
        MD_TRY(dvk__md_view(&f->views, x, (n - 1) * C, 2, sx, &xs));
        MD_TRY(dvk__md_view(&f->views, logits, 0, 2, sy, &y));
    }
    MD_TRY(dvk_layer_norm(f->cmd, &(dvk_layer_norm_desc){.x = xs, .weight = m->ln_out_w,
                                                          .bias = m->ln_out_b, .y = xs}));
    return linear(f, xs, m->head, NULL, y, false);
}

static dvk_status check_desc(const dvk_rwkv7_session *s, const dvk_rwkv7_forward_desc *d,
                             bool *all)
{
    const dvk_rwkv7_info *in = &s->model->info;
    if (d->n_tokens == 0)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "n_tokens is 0");
    if ((d->tokens != NULL) == (d->token_tensor != NULL))
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "give exactly one of tokens and token_tensor");
    if (d->tokens) {
        for (uint32_t i = 0; i < d->n_tokens; ++i)
            if (d->tokens[i] < 0 || (uint32_t)d->tokens[i] >= in->n_vocab)
                return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                                     "tokens[%u] = %d is outside the vocabulary [0, %u)", i,
                                     (int)d->tokens[i], in->n_vocab);
    } else {
        if (dvk_tensor_dtype(d->token_tensor) != DVK_DTYPE_I32 ||
            dvk_tensor_numel(d->token_tensor) != d->n_tokens)
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                 "token_tensor: %s of %llu elements, expected i32 of %u",
                                 dvk_dtype_name(dvk_tensor_dtype(d->token_tensor)),
                                 (unsigned long long)dvk_tensor_numel(d->token_tensor),
                                 d->n_tokens);
    }
    *all = false;
    if (d->logits) {
        const dvk_tensor *t = d->logits;
        const uint32_t nd = dvk_tensor_ndim(t);
        if (dvk_tensor_dtype(t) != DVK_DTYPE_F32)
            return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE, "logits: dtype %s, expected f32",
                                 dvk_dtype_name(dvk_tensor_dtype(t)));
        const bool last = (nd == 1 && dvk_tensor_dim(t, 0) == in->n_vocab) ||
                          (nd == 2 && dvk_tensor_dim(t, 0) == 1 &&
                           dvk_tensor_dim(t, 1) == in->n_vocab);
        *all = nd == 2 && dvk_tensor_dim(t, 0) == d->n_tokens &&
               dvk_tensor_dim(t, 1) == in->n_vocab;
        if (!last && !*all) {
            char a[96];
            const uint64_t shape[DVK_MAX_DIMS] = {dvk_tensor_dim(t, 0), dvk_tensor_dim(t, 1),
                                                  dvk_tensor_dim(t, 2), dvk_tensor_dim(t, 3)};
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                 "logits: shape %s, expected [%u,%u] (every token) or [%u] (the "
                                 "last)",
                                 dvk__md_dims_str(nd, shape, a, sizeof a), d->n_tokens, in->n_vocab,
                                 in->n_vocab);
        }
    }
    return DVK_SUCCESS;
}

dvk_status dvk_rwkv7_forward(dvk_cmd *cmd, dvk_rwkv7_session *s, const dvk_rwkv7_forward_desc *d)
{
    if (!cmd || !s || !d)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL",
                             !cmd ? "cmd" : !s ? "session" : "desc");
    const dvk_rwkv7_model *m = s->model;
    if (dvk_cmd_context(cmd) != m->ctx)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "cmd belongs to another context than the model");
    bool all = false;
    MD_TRY(check_desc(s, d, &all));
    const uint64_t align = dvk_context_device_info(m->ctx)->tensor_alignment;
    if ((uint64_t)m->info.n_embd * 4 % align != 0)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED,
                             "n_embd %u: its rows of %u bytes are not a multiple of the device's "
                             "tensor alignment (%llu bytes), which views of them need",
                             m->info.n_embd, m->info.n_embd * 4, (unsigned long long)align);
    /* Passes start at multiples of align/4 tokens, so views of the ids and of the logits at a
     * pass's first token are aligned. */
    const uint64_t q = align / 4;
    uint64_t per = d->max_tokens ? d->max_tokens : DEFAULT_MAX_TOKENS;
    if (per < d->n_tokens)
        per = (per + q - 1) / q * q;

    fwd f = {.cmd = cmd, .s = s, .m = m, .mode = d->mode, .chunk_size = d->chunk_size};
    const dvk_scratch_mark outer = dvk_cmd_scratch_mark(cmd);
    dvk_status st = DVK_SUCCESS;
    dvk_tensor *ids = (dvk_tensor *)d->token_tensor; /* read only: viewed, never written */
    if (d->tokens) {
        const uint64_t shape[1] = {d->n_tokens};
        st = dvk__md_scratch(cmd, DVK_DTYPE_I32, 1, shape, &ids);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_upload(cmd, ids, d->tokens, (size_t)d->n_tokens * sizeof(int32_t));
    }
    for (uint64_t start = 0; st == DVK_SUCCESS && start < d->n_tokens; start += per) {
        const uint64_t n = d->n_tokens - start < per ? d->n_tokens - start : per;
        const uint64_t shape[2] = {1, n};
        const dvk_scratch_mark mark = dvk_cmd_scratch_mark(cmd);
        dvk_tensor *piece = NULL;
        st = dvk__md_view(&f.views, ids, start, 2, shape, &piece);
        if (st == DVK_SUCCESS)
            st = pass(&f, piece, start, n, d->logits, all, start + n == d->n_tokens);
        dvk__md_views_clear(&f.views);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_scratch_release(cmd, mark);
    }
    dvk__md_views_clear(&f.views);
    free(f.views.v);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_scratch_release(cmd, outer);
    return st;
}
