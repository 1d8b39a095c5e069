/* Loading KDAAttention from safetensors under the package's names and shapes (its state_dict:
 * w_q, w_k, w_v, w_alpha, w_beta, w_o, each .weight and .bias). The sizes come from the shapes
 * (H from w_beta, H·d_head from w_q, D from w_q's columns); w_o is absent for out_proj=False.
 * Every parameter is asked for by name, so a missing one, a wrongly shaped one and (after all
 * are taken) an extra one are each an error naming it. */
#include "models/kda_attention/kda_attention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMORY_LABEL "(memory)"

typedef struct loader {
    dvk_context *ctx;
    const char *label;
    const char *prefix;
    dvk_weights *w;
} loader;

static const char *full_name(const loader *L, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", L->prefix, name);
    return buf;
}

static dvk_status find(const loader *L, const char *name, dvk_weights_entry *e)
{
    char full[256];
    if (dvk_weights_find(L->w, full_name(L, name, full, sizeof full), e) != DVK_SUCCESS)
        return dvk_set_error(DVK_ERROR_NOT_FOUND, "%s: tensor '%s' is missing", L->label, full);
    return DVK_SUCCESS;
}

/* Checks entry `name` against `shape` and uploads it as `dtype`. */
static dvk_status take(const loader *L, const char *name, uint32_t ndim, const uint64_t *shape,
                       dvk_dtype dtype, dvk_tensor **out)
{
    char a[96], b[96];
    dvk_weights_entry e;
    MD_TRY(find(L, name, &e));
    bool ok = e.ndim == ndim;
    for (uint32_t i = 0; ok && i < ndim; ++i)
        ok = e.shape[i] == shape[i];
    if (!ok)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "%s: tensor '%s': shape %s, expected %s",
                             L->label, e.name, dvk__md_dims_str(e.ndim, e.shape, a, sizeof a),
                             dvk__md_dims_str(ndim, shape, b, sizeof b));
    MD_TRY(dvk_weights_get(L->w, e.name, NULL)); /* marks it used */
    float *data = malloc((size_t)e.numel * sizeof *data);
    if (!data)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    dvk_status st =
        dvk_weights_read(L->w, e.name, DVK_DTYPE_F32, data, (size_t)e.numel * sizeof *data);
    if (st == DVK_SUCCESS)
        st = dvk__md_tensor_from_f32(L->ctx, dtype, ndim, shape, data, out);
    free(data);
    return st;
}

/* H, d_head and D from w_beta and w_q; whether w_o is there. */
static dvk_status read_sizes(const loader *L, dvk_kda_attention_info *in)
{
    char a[96];
    dvk_weights_entry e;
    MD_TRY(find(L, "w_beta.weight", &e));
    if (e.ndim != 2 || e.shape[0] == 0 || e.shape[1] == 0 || e.shape[1] > UINT32_MAX ||
        e.shape[0] > UINT32_MAX)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                             "%s: tensor '%s': shape %s, expected [H,D] (heads, d_model)",
                             L->label, e.name, dvk__md_dims_str(e.ndim, e.shape, a, sizeof a));
    in->n_heads = (uint32_t)e.shape[0];
    in->d_model = (uint32_t)e.shape[1];
    MD_TRY(find(L, "w_q.weight", &e));
    if (e.ndim != 2 || e.shape[1] != in->d_model || e.shape[0] % in->n_heads ||
        e.shape[0] == 0)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                             "%s: tensor '%s': shape %s, expected [%u*d_head,%u] (heads and "
                             "d_model from w_beta.weight)",
                             L->label, e.name, dvk__md_dims_str(e.ndim, e.shape, a, sizeof a),
                             in->n_heads, in->d_model);
    in->d_head = (uint32_t)(e.shape[0] / in->n_heads);
    if (in->d_head > 256)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED,
                             "%s: d_head %u: dvk_kda takes head sizes up to 256", L->label,
                             in->d_head);
    char full[256];
    in->out_proj =
        dvk_weights_find(L->w, full_name(L, "w_o.weight", full, sizeof full), &e) ==
            DVK_SUCCESS ||
        dvk_weights_find(L->w, full_name(L, "w_o.bias", full, sizeof full), &e) == DVK_SUCCESS;
    if (!in->out_proj && in->n_heads * in->d_head != in->d_model)
        return dvk_set_error(DVK_ERROR_NOT_FOUND,
                             "%s: tensor '%s' is missing (out_proj=False needs H*d_head = "
                             "d_model)",
                             L->label, full_name(L, "w_o.weight", full, sizeof full));
    return DVK_SUCCESS;
}

static dvk_status make(const loader *L, dvk_kda_attention *m)
{
    const dvk_kda_attention_info *in = &m->info;
    const uint64_t D = in->d_model, H = in->n_heads, HD = (uint64_t)H * in->d_head;
    const dvk_dtype mt = in->dtype, f32 = DVK_DTYPE_F32;
    const uint64_t s_w[2] = {HD, D}, s_b[1] = {HD}, s_bw[2] = {H, D}, s_bb[1] = {H};
    const uint64_t s_ow[2] = {D, HD}, s_ob[1] = {D};
    MD_TRY(take(L, "w_q.weight", 2, s_w, mt, &m->w_q));
    MD_TRY(take(L, "w_q.bias", 1, s_b, f32, &m->b_q));
    MD_TRY(take(L, "w_k.weight", 2, s_w, mt, &m->w_k));
    MD_TRY(take(L, "w_k.bias", 1, s_b, f32, &m->b_k));
    MD_TRY(take(L, "w_v.weight", 2, s_w, mt, &m->w_v));
    MD_TRY(take(L, "w_v.bias", 1, s_b, f32, &m->b_v));
    MD_TRY(take(L, "w_alpha.weight", 2, s_w, mt, &m->w_alpha));
    MD_TRY(take(L, "w_alpha.bias", 1, s_b, f32, &m->b_alpha));
    MD_TRY(take(L, "w_beta.weight", 2, s_bw, mt, &m->w_beta));
    MD_TRY(take(L, "w_beta.bias", 1, s_bb, f32, &m->b_beta));
    if (in->out_proj) {
        MD_TRY(take(L, "w_o.weight", 2, s_ow, mt, &m->w_o));
        MD_TRY(take(L, "w_o.bias", 1, s_ob, f32, &m->b_o));
    }
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

void dvk_kda_attention_destroy(dvk_kda_attention *m)
{
    if (!m)
        return;
    dvk_tensor *t[] = {m->w_q, m->b_q, m->w_k, m->b_k, m->w_v, m->b_v,
                       m->w_alpha, m->b_alpha, m->w_beta, m->b_beta, m->w_o, m->b_o};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i)
        dvk_tensor_destroy(t[i]);
    free(m);
}

const dvk_kda_attention_info *dvk_kda_attention_layer_info(const dvk_kda_attention *m)
{
    return m ? &m->info : NULL;
}

static dvk_status load(dvk_context *ctx, const char *path, const void *data, size_t size,
                       const dvk_kda_attention_load_desc *desc, dvk_kda_attention **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_layer is NULL");
    *out = NULL;
    if (!ctx)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "context is NULL");
    const dvk_kda_attention_load_desc def = {0};
    if (!desc)
        desc = &def;
    dvk_dtype dtype = desc->dtype ? desc->dtype : DVK_DTYPE_F32;
    if (dtype != DVK_DTYPE_F32 && dtype != DVK_DTYPE_F16 && dtype != DVK_DTYPE_BF16)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE,
                             "desc.dtype %s: the weights load as f32, f16 or bf16",
                             dvk_dtype_name(dtype));
    if (dtype != DVK_DTYPE_F32 && !dvk_context_device_info(ctx)->fp16_storage)
        dtype = DVK_DTYPE_F32;
    dvk_kda_attention *m = calloc(1, sizeof *m);
    if (!m)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->info.dtype = dtype;
    loader L = {.ctx = ctx, .label = path ? path : MEMORY_LABEL,
                .prefix = desc->prefix ? desc->prefix : ""};
    dvk_status st = path ? dvk_weights_load(NULL, path, NULL, &L.w)
                         : dvk_weights_load_memory(NULL, data, size, NULL, &L.w);
    if (st == DVK_SUCCESS)
        st = read_sizes(&L, &m->info);
    if (st == DVK_SUCCESS)
        st = make(&L, m);
    dvk_weights_destroy(L.w);
    if (st != DVK_SUCCESS) {
        dvk_kda_attention_destroy(m);
        return st;
    }
    *out = m;
    return DVK_SUCCESS;
}

dvk_status dvk_kda_attention_load(dvk_context *ctx, const char *path,
                                  const dvk_kda_attention_load_desc *desc,
                                  dvk_kda_attention **out)
{
    if (!path) {
        if (out)
            *out = NULL;
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "path is NULL");
    }
    return load(ctx, path, NULL, 0, desc, out);
}

dvk_status dvk_kda_attention_load_memory(dvk_context *ctx, const void *data, size_t size,
                                         const dvk_kda_attention_load_desc *desc,
                                         dvk_kda_attention **out)
{
    if (!data && size) {
        if (out)
            *out = NULL;
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "data is NULL");
    }
    static const unsigned char empty[1] = {0};
    return load(ctx, NULL, data ? data : empty, size, desc, out);
}
