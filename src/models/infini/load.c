/* Loading the Infini-attention layer and the Infini-Transformer from safetensors under
 * infini-transformer-pytorch 0.0.2's state_dict names and shapes.
 *
 * The file is read on the host (dvk_weights without a device): the sizes come from the shapes
 * first, then every parameter is asked for by name, checked, read as fp32, converted and
 * uploaded, so a missing one, a wrongly shaped one and (after all are taken) an extra one are
 * each an error naming it. */
#include "models/infini/infini.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMORY_LABEL "(memory)"

typedef struct loader {
    dvk_context *ctx;
    const char *label;
    const char *prefix;
    dvk_weights *w;
    dvk_dtype dtype; /* the matrices' */
} loader;

/* prefix + a + b into buf. */
static const char *full_name(const loader *L, const char *a, const char *b, char *buf,
                             size_t len)
{
    snprintf(buf, len, "%s%s%s", L->prefix, a, b);
    return buf;
}

static dvk_status find(const loader *L, const char *full, dvk_weights_entry *e)
{
    if (dvk_weights_find(L->w, full, e) != DVK_SUCCESS)
        return dvk_set_error(DVK_ERROR_NOT_FOUND, "%s: tensor '%s' is missing", L->label, full);
    return DVK_SUCCESS;
}

static dvk_status wrong_shape(const loader *L, const dvk_weights_entry *e, const char *expected)
{
    char a[96];
    return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "%s: tensor '%s': shape %s, expected %s",
                         L->label, e->name, dvk__md_dims_str(e->ndim, e->shape, a, sizeof a),
                         expected);
}

/* Entry a+b (under the prefix) checked against `shape` (ndim dims; UINT64_MAX: any size,
 * then written back), read as fp32 into a new array (NULL out: only checked and marked). */
static dvk_status take(const loader *L, const char *a, const char *b, uint32_t ndim,
                       uint64_t *shape, float **out)
{
    if (out)
        *out = NULL;
    char full[320];
    dvk_weights_entry e;
    MD_TRY(find(L, full_name(L, a, b, full, sizeof full), &e));
    bool ok = e.ndim == ndim;
    for (uint32_t i = 0; ok && i < ndim; ++i)
        ok = e.shape[i] > 0 && e.shape[i] <= UINT32_MAX &&
             (shape[i] == UINT64_MAX || e.shape[i] == shape[i]);
    if (!ok) {
        char want[96];
        size_t n = (size_t)snprintf(want, sizeof want, "[");
        for (uint32_t i = 0; i < ndim && n < sizeof want; ++i)
            n += (size_t)(shape[i] == UINT64_MAX
                              ? snprintf(want + n, sizeof want - n, "%s*", i ? "," : "")
                              : snprintf(want + n, sizeof want - n, "%s%llu", i ? "," : "",
                                         (unsigned long long)shape[i]));
        if (n < sizeof want)
            snprintf(want + n, sizeof want - n, "]");
        return wrong_shape(L, &e, want);
    }
    for (uint32_t i = 0; i < ndim; ++i)
        shape[i] = e.shape[i];
    MD_TRY(dvk_weights_get(L->w, e.name, NULL)); /* marks it used */
    if (!out)
        return DVK_SUCCESS;
    float *data = malloc((size_t)e.numel * sizeof *data);
    if (!data)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    const dvk_status st =
        dvk_weights_read(L->w, e.name, DVK_DTYPE_F32, data, (size_t)e.numel * sizeof *data);
    if (st != DVK_SUCCESS) {
        free(data);
        return st;
    }
    *out = data;
    return DVK_SUCCESS;
}

/* Entry a+b of `shape` uploaded as `dtype` into *out. */
static dvk_status take_tensor(const loader *L, const char *a, const char *b, dvk_dtype dtype,
                              uint32_t ndim, const uint64_t *shape, dvk_tensor **out)
{
    uint64_t s[4];
    memcpy(s, shape, ndim * sizeof *s);
    float *data = NULL;
    MD_TRY(take(L, a, b, ndim, s, &data));
    const dvk_status st = dvk__md_tensor_from_f32(L->ctx, dtype, ndim, s, data, out);
    free(data);
    return st;
}

/* The attention's sizes (C, H, D, θ) from the entries under prefix + `a`. */
static dvk_status attn_sizes(const loader *L, const char *a, dvk_infini_info *in)
{
    uint64_t s[2] = {UINT64_MAX, UINT64_MAX};
    MD_TRY(take(L, a, "norm.gamma", 1, s, NULL));
    in->dim = (uint32_t)s[0];
    s[0] = UINT64_MAX;
    MD_TRY(take(L, a, "head_gates", 1, s, NULL));
    in->heads = (uint32_t)s[0];
    s[0] = UINT64_MAX;
    s[1] = in->dim;
    MD_TRY(take(L, a, "to_qkv.weight", 2, s, NULL));
    if (s[0] % (3 * (uint64_t)in->heads)) {
        char full[320], want[96];
        dvk_weights_entry e;
        MD_TRY(find(L, full_name(L, a, "to_qkv.weight", full, sizeof full), &e));
        snprintf(want, sizeof want, "[3*%u*D,%u] (3 x heads x dim_head, dim)", in->heads,
                 in->dim);
        return wrong_shape(L, &e, want);
    }
    in->dim_head = (uint32_t)(s[0] / (3 * (uint64_t)in->heads));
    if (in->dim_head % 2 || in->dim_head > 256)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED,
                             "%s: dim_head %u: dvk_infini_attn rotates heads of an even size "
                             "up to 256",
                             L->label, in->dim_head);
    /* rotary_emb.freqs: the package's 1 / θ^(arange(0, D, 2) / D) in fp32, θ = 10000 or the
     * one its second frequency gives. */
    s[0] = in->dim_head / 2;
    float *f = NULL;
    MD_TRY(take(L, a, "rotary_emb.freqs", 1, s, &f));
    const uint32_t n = in->dim_head / 2;
    double theta = 10000.0;
    for (int attempt = 0; attempt < 2; ++attempt) {
        bool ok = true;
        for (uint32_t i = 0; ok && i < n; ++i) {
            const float want = 1.0f / powf((float)theta, (float)(2 * i) / (float)in->dim_head);
            ok = fabsf(f[i] - want) <= 1e-6f * fabsf(want);
        }
        if (ok) {
            in->rope_theta = (float)theta;
            free(f);
            return DVK_SUCCESS;
        }
        if (n < 2 || !(f[1] > 0.0f && f[1] < 1.0f))
            break;
        theta = round(pow((double)f[1], -(double)in->dim_head / 2.0) * 1e3) / 1e3;
    }
    free(f);
    char full[320];
    return dvk_set_error(DVK_ERROR_UNSUPPORTED,
                         "%s: tensor '%s' is not the default rotary frequencies "
                         "theta^(-2i/%u) (learned or custom frequencies are not supported)",
                         L->label, full_name(L, a, "rotary_emb.freqs", full, sizeof full),
                         in->dim_head);
}

/* The attention's parameters under prefix + `a`, of the sizes in `in`. */
static dvk_status attn_make(const loader *L, const char *a, const dvk_infini_info *in,
                            infini_attn_weights *w)
{
    const uint64_t C = in->dim, H = in->heads, HD = (uint64_t)in->heads * in->dim_head;
    const uint64_t s_c[1] = {C}, s_h[1] = {H}, s_f[1] = {in->dim_head / 2};
    MD_TRY(take_tensor(L, a, "norm.gamma", DVK_DTYPE_F32, 1, s_c, &w->gamma));
    MD_TRY(take_tensor(L, a, "head_gates", DVK_DTYPE_F32, 1, s_h, &w->gates));
    uint64_t s_f_any[1] = {s_f[0]};
    MD_TRY(take(L, a, "rotary_emb.freqs", 1, s_f_any, NULL)); /* checked by attn_sizes */
    uint64_t s_qkv[2] = {3 * HD, C};
    float *qkv = NULL;
    MD_TRY(take(L, a, "to_qkv.weight", 2, s_qkv, &qkv));
    /* Rows (qkv, h, d): q of every head, then k, then v. */
    const uint64_t s_part[2] = {HD, C};
    dvk_status st = dvk__md_tensor_from_f32(L->ctx, L->dtype, 2, s_part, qkv, &w->w_q);
    if (st == DVK_SUCCESS)
        st = dvk__md_tensor_from_f32(L->ctx, L->dtype, 2, s_part, qkv + HD * C, &w->w_k);
    if (st == DVK_SUCCESS)
        st = dvk__md_tensor_from_f32(L->ctx, L->dtype, 2, s_part, qkv + 2 * HD * C, &w->w_v);
    free(qkv);
    MD_TRY(st);
    const uint64_t s_out[2] = {C, HD};
    return take_tensor(L, a, "to_out.weight", L->dtype, 2, s_out, &w->w_out);
}

static void attn_free(infini_attn_weights *w)
{
    dvk_tensor_destroy(w->gamma);
    dvk_tensor_destroy(w->gates);
    dvk_tensor_destroy(w->w_q);
    dvk_tensor_destroy(w->w_k);
    dvk_tensor_destroy(w->w_v);
    dvk_tensor_destroy(w->w_out);
    memset(w, 0, sizeof *w);
}

static void ff_free(infini_ff_weights *w)
{
    dvk_tensor_destroy(w->gamma);
    dvk_tensor_destroy(w->w_in);
    dvk_tensor_destroy(w->b_in);
    dvk_tensor_destroy(w->w_out);
    dvk_tensor_destroy(w->b_out);
    memset(w, 0, sizeof *w);
}

/* A FeedForward's parameters under prefix + `a`, of the sizes in `in`. */
static dvk_status ff_make(const loader *L, const char *a, const dvk_infini_info *in,
                          infini_ff_weights *f)
{
    const uint64_t C = in->dim, F = in->ff_dim;
    const uint64_t s_c[1] = {C}, s_in[2] = {2 * F, C}, s_2f[1] = {2 * F}, s_out[2] = {C, F};
    MD_TRY(take_tensor(L, a, "norm.gamma", DVK_DTYPE_F32, 1, s_c, &f->gamma));
    MD_TRY(take_tensor(L, a, "proj_in.weight", L->dtype, 2, s_in, &f->w_in));
    MD_TRY(take_tensor(L, a, "proj_in.bias", DVK_DTYPE_F32, 1, s_2f, &f->b_in));
    MD_TRY(take_tensor(L, a, "proj_out.weight", L->dtype, 2, s_out, &f->w_out));
    return take_tensor(L, a, "proj_out.bias", DVK_DTYPE_F32, 1, s_c, &f->b_out);
}

/* Any tensor under the prefix that no take() asked for. */
static dvk_status check_extra(const loader *L)
{
    const size_t plen = strlen(L->prefix);
    for (uint32_t i = 0; i < dvk_weights_count(L->w); ++i) {
        const char *name = dvk_weights_name(L->w, i);
        dvk_weights_entry e;
        if (strncmp(name, L->prefix, plen) != 0 ||
            dvk_weights_find(L->w, name, &e) != DVK_SUCCESS || e.used)
            continue;
        return dvk_set_error(DVK_ERROR_FORMAT, "%s: unexpected tensor '%s'", L->label, name);
    }
    return DVK_SUCCESS;
}

/* desc's checks and defaults; opens the weights (path set, or bytes in memory). */
static dvk_status open_loader(dvk_context *ctx, const char *path, const void *data, size_t size,
                              const dvk_infini_load_desc *desc, loader *L, dvk_infini_info *in)
{
    if (!ctx)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "context is NULL");
    if (!path && !data && size)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "data is NULL");
    const dvk_infini_load_desc def = {0};
    if (!desc)
        desc = &def;
    dvk_dtype dtype = desc->dtype ? desc->dtype : DVK_DTYPE_F32;
    if (dtype != DVK_DTYPE_F32 && dtype != DVK_DTYPE_F16 && dtype != DVK_DTYPE_BF16)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE,
                             "desc.dtype %s: the weights load as f32, f16 or bf16",
                             dvk_dtype_name(dtype));
    if (dtype != DVK_DTYPE_F32 && !dvk_context_device_info(ctx)->fp16_storage)
        dtype = DVK_DTYPE_F32;
    in->dtype = dtype;
    in->delta_rule = desc->delta_rule;
    in->depth = 1;
    static const unsigned char empty[1] = {0};
    *L = (loader){.ctx = ctx, .label = path ? path : MEMORY_LABEL,
                  .prefix = desc->prefix ? desc->prefix : "", .dtype = dtype};
    return path ? dvk_weights_load(NULL, path, NULL, &L->w)
                : dvk_weights_load_memory(NULL, data ? data : empty, size, NULL, &L->w);
}

/* ---- the attention ---------------------------------------------------------------------- */

void dvk_infini_attention_destroy(dvk_infini_attention *m)
{
    if (!m)
        return;
    attn_free(&m->w);
    free(m);
}

const dvk_infini_info *dvk_infini_attention_info(const dvk_infini_attention *m)
{
    return m ? &m->info : NULL;
}

static dvk_status attention_load(dvk_context *ctx, const char *path, const void *data,
                                 size_t size, const dvk_infini_load_desc *desc,
                                 dvk_infini_attention **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_layer is NULL");
    *out = NULL;
    dvk_infini_attention *m = calloc(1, sizeof *m);
    if (!m)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    loader L = {0};
    dvk_status st = open_loader(ctx, path, data, size, desc, &L, &m->info);
    if (st == DVK_SUCCESS)
        st = attn_sizes(&L, "", &m->info);
    if (st == DVK_SUCCESS)
        st = attn_make(&L, "", &m->info, &m->w);
    if (st == DVK_SUCCESS)
        st = check_extra(&L);
    dvk_weights_destroy(L.w);
    if (st != DVK_SUCCESS) {
        dvk_infini_attention_destroy(m);
        return st;
    }
    *out = m;
    return DVK_SUCCESS;
}

dvk_status dvk_infini_attention_load(dvk_context *ctx, const char *path,
                                     const dvk_infini_load_desc *desc,
                                     dvk_infini_attention **out)
{
    if (!path) {
        if (out)
            *out = NULL;
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "path is NULL");
    }
    return attention_load(ctx, path, NULL, 0, desc, out);
}

dvk_status dvk_infini_attention_load_memory(dvk_context *ctx, const void *data, size_t size,
                                            const dvk_infini_load_desc *desc,
                                            dvk_infini_attention **out)
{
    return attention_load(ctx, NULL, data, size, desc, out);
}

/* ---- the FeedForward ---------------------------------------------------------------------- */

void dvk_infini_feed_forward_destroy(dvk_infini_feed_forward *m)
{
    if (!m)
        return;
    ff_free(&m->w);
    free(m);
}

const dvk_infini_info *dvk_infini_feed_forward_info(const dvk_infini_feed_forward *m)
{
    return m ? &m->info : NULL;
}

dvk_status dvk_infini_feed_forward_load(dvk_context *ctx, const char *path,
                                        const dvk_infini_load_desc *desc,
                                        dvk_infini_feed_forward **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_layer is NULL");
    *out = NULL;
    if (!path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "path is NULL");
    dvk_infini_feed_forward *m = calloc(1, sizeof *m);
    if (!m)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    loader L = {0};
    dvk_status st = open_loader(ctx, path, NULL, 0, desc, &L, &m->info);
    m->info.delta_rule = false;
    m->info.depth = 0;
    uint64_t s_c[1] = {UINT64_MAX}, s_out[2] = {UINT64_MAX, UINT64_MAX};
    if (st == DVK_SUCCESS)
        st = take(&L, "", "norm.gamma", 1, s_c, NULL);
    if (st == DVK_SUCCESS) {
        s_out[0] = s_c[0];
        st = take(&L, "", "proj_out.weight", 2, s_out, NULL);
    }
    if (st == DVK_SUCCESS) {
        m->info.dim = (uint32_t)s_c[0];
        m->info.ff_dim = (uint32_t)s_out[1];
        st = ff_make(&L, "", &m->info, &m->w);
    }
    if (st == DVK_SUCCESS)
        st = check_extra(&L);
    dvk_weights_destroy(L.w);
    if (st != DVK_SUCCESS) {
        dvk_infini_feed_forward_destroy(m);
        return st;
    }
    *out = m;
    return DVK_SUCCESS;
}

/* ---- the model -------------------------------------------------------------------------- */

void dvk_infini_transformer_destroy(dvk_infini_transformer *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; m->attn && i < m->info.depth; ++i)
        attn_free(&m->attn[i]);
    for (uint32_t i = 0; m->ff && i < m->info.depth; ++i)
        ff_free(&m->ff[i]);
    free(m->attn);
    free(m->ff);
    dvk_tensor_destroy(m->emb);
    dvk_tensor_destroy(m->gamma);
    dvk_tensor_destroy(m->w_logits);
    dvk_tensor_destroy(m->b_logits);
    free(m);
}

const dvk_infini_info *dvk_infini_transformer_info(const dvk_infini_transformer *m)
{
    return m ? &m->info : NULL;
}

/* Blocks layers.0 .. layers.<depth−1>: one more than the largest i of any "layers.<i>."
 * name under the prefix (so a block missing a tensor is an error naming that tensor). */
static uint32_t count_blocks(const loader *L)
{
    const size_t plen = strlen(L->prefix);
    uint32_t n = 0;
    for (uint32_t i = 0; i < dvk_weights_count(L->w); ++i) {
        const char *name = dvk_weights_name(L->w, i);
        if (strncmp(name, L->prefix, plen) != 0 || strncmp(name + plen, "layers.", 7) != 0)
            continue;
        const char *p = name + plen + 7;
        unsigned long v = 0;
        bool digits = *p >= '0' && *p <= '9';
        while (*p >= '0' && *p <= '9' && v < 65536)
            v = v * 10 + (unsigned long)(*p++ - '0');
        if (digits && *p == '.' && v < 65536 && v + 1 > n)
            n = (uint32_t)v + 1;
    }
    return n;
}

static dvk_status model_make(const loader *L, dvk_infini_transformer *m)
{
    dvk_infini_info *in = &m->info;
    const uint32_t depth = count_blocks(L);
    MD_TRY(attn_sizes(L, "layers.0.0.", in)); /* names layers.0.0.* when depth is 0 */
    in->depth = depth;
    const uint64_t C = in->dim;
    uint64_t s_emb[2] = {UINT64_MAX, C};
    MD_TRY(take(L, "", "token_emb.weight", 2, s_emb, NULL));
    in->n_vocab = (uint32_t)s_emb[0];
    uint64_t s_ff[2] = {C, UINT64_MAX};
    MD_TRY(take(L, "layers.0.1.", "proj_out.weight", 2, s_ff, NULL));
    in->ff_dim = (uint32_t)s_ff[1];
    const uint64_t V = in->n_vocab;

    m->attn = calloc(depth, sizeof *m->attn);
    m->ff = calloc(depth, sizeof *m->ff);
    if (!m->attn || !m->ff)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    const uint64_t s_c[1] = {C};
    for (uint32_t i = 0; i < depth; ++i) {
        char a[32];
        dvk_infini_info li = *in;
        snprintf(a, sizeof a, "layers.%u.0.", i);
        MD_TRY(attn_sizes(L, a, &li));
        if (li.dim != in->dim || li.heads != in->heads || li.dim_head != in->dim_head ||
            li.rope_theta != in->rope_theta)
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                 "%s: block %u's attention (dim %u, %u heads of %u, theta %g) "
                                 "differs from block 0's (dim %u, %u heads of %u, theta %g)",
                                 L->label, i, li.dim, li.heads, li.dim_head,
                                 (double)li.rope_theta, in->dim, in->heads, in->dim_head,
                                 (double)in->rope_theta);
        MD_TRY(attn_make(L, a, in, &m->attn[i]));
        snprintf(a, sizeof a, "layers.%u.1.", i);
        MD_TRY(ff_make(L, a, in, &m->ff[i]));
    }
    const uint64_t s_vc[2] = {V, C}, s_v[1] = {V};
    MD_TRY(take_tensor(L, "", "token_emb.weight", L->dtype, 2, s_vc, &m->emb));
    MD_TRY(take_tensor(L, "", "norm.gamma", DVK_DTYPE_F32, 1, s_c, &m->gamma));
    MD_TRY(take_tensor(L, "", "to_logits.weight", L->dtype, 2, s_vc, &m->w_logits));
    MD_TRY(take_tensor(L, "", "to_logits.bias", DVK_DTYPE_F32, 1, s_v, &m->b_logits));
    return check_extra(L);
}

static dvk_status transformer_load(dvk_context *ctx, const char *path, const void *data,
                                   size_t size, const dvk_infini_load_desc *desc,
                                   dvk_infini_transformer **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_model is NULL");
    *out = NULL;
    dvk_infini_transformer *m = calloc(1, sizeof *m);
    if (!m)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    loader L = {0};
    dvk_status st = open_loader(ctx, path, data, size, desc, &L, &m->info);
    if (st == DVK_SUCCESS)
        st = model_make(&L, m);
    dvk_weights_destroy(L.w);
    if (st != DVK_SUCCESS) {
        dvk_infini_transformer_destroy(m);
        return st;
    }
    *out = m;
    return DVK_SUCCESS;
}

dvk_status dvk_infini_transformer_load(dvk_context *ctx, const char *path,
                                       const dvk_infini_load_desc *desc,
                                       dvk_infini_transformer **out)
{
    if (!path) {
        if (out)
            *out = NULL;
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "path is NULL");
    }
    return transformer_load(ctx, path, NULL, 0, desc, out);
}

dvk_status dvk_infini_transformer_load_memory(dvk_context *ctx, const void *data, size_t size,
                                              const dvk_infini_load_desc *desc,
                                              dvk_infini_transformer **out)
{
    return transformer_load(ctx, NULL, data, size, desc, out);
}
