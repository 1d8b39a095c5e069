/* Loading memorax's LinearAttentionCell from safetensors under its Flax parameter paths joined
 * by '/' (the cell's subtree: query/kernel, key/kernel, value/kernel [C, H, D], RMSNorm_0/scale
 * [H·D], Dense_0/kernel [H·D, C], Dense_0/bias [C]). The sizes come from query/kernel. Every
 * parameter is asked for by name, so a missing one, a wrongly shaped one and (after all are
 * taken) an extra one are each an error naming it. Flax kernels are [in, out]; dvk_linear takes
 * [out, in], so the four matrices are transposed on the host before upload. */
#include "models/memorax/memorax.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMORY_LABEL "(memory)"
#define DEFAULT_EPS 1e-6f /* LinearAttentionCell.eps */

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

/* Checks entry `name` against `shape`, reads it as fp32 and uploads it as `dtype`: as it is
 * (transpose false), or, seen as a [rows, numel/rows] matrix, transposed. */
static dvk_status take(const loader *L, const char *name, uint32_t ndim, const uint64_t *shape,
                       bool transpose, dvk_dtype dtype, dvk_tensor **out)
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
    const size_t n = (size_t)e.numel;
    float *data = malloc(n * sizeof *data), *t = transpose ? malloc(n * sizeof *t) : NULL;
    if (!data || (transpose && !t)) {
        free(data);
        free(t);
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    dvk_status st = dvk_weights_read(L->w, e.name, DVK_DTYPE_F32, data, n * sizeof *data);
    if (st == DVK_SUCCESS && transpose) {
        const size_t rows = (size_t)shape[0], cols = n / rows;
        for (size_t r = 0; r < rows; ++r)
            for (size_t c = 0; c < cols; ++c)
                t[c * rows + r] = data[r * cols + c];
        const uint64_t ts[2] = {cols, rows};
        st = dvk__md_tensor_from_f32(L->ctx, dtype, 2, ts, t, out);
    } else if (st == DVK_SUCCESS) {
        st = dvk__md_tensor_from_f32(L->ctx, dtype, ndim, shape, data, out);
    }
    free(data);
    free(t);
    return st;
}

/* C, H and D from query/kernel [C, H, D]. */
static dvk_status read_sizes(const loader *L, dvk_linear_attention_cell_info *in)
{
    char a[96];
    dvk_weights_entry e;
    MD_TRY(find(L, "query/kernel", &e));
    if (e.ndim != 3 || e.shape[0] == 0 || e.shape[1] == 0 || e.shape[2] == 0 ||
        e.shape[0] > UINT32_MAX || e.shape[1] > UINT32_MAX || e.shape[2] > UINT32_MAX)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                             "%s: tensor '%s': shape %s, expected [C,H,D] (in_features, "
                             "num_heads, head_dim)",
                             L->label, e.name, dvk__md_dims_str(e.ndim, e.shape, a, sizeof a));
    in->d_model = (uint32_t)e.shape[0];
    in->n_heads = (uint32_t)e.shape[1];
    in->head_dim = (uint32_t)e.shape[2];
    if (in->head_dim > 256)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED,
                             "%s: head_dim %u: dvk_linear_attn takes head sizes up to 256",
                             L->label, in->head_dim);
    if ((uint64_t)in->n_heads * in->head_dim > UINT32_MAX / 2)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "%s: num_heads·head_dim is too large",
                             L->label);
    return DVK_SUCCESS;
}

static dvk_status make(const loader *L, dvk_linear_attention_cell *m)
{
    const dvk_linear_attention_cell_info *in = &m->info;
    const uint64_t C = in->d_model, H = in->n_heads, D = in->head_dim, HD = H * D;
    const dvk_dtype mt = in->dtype, f32 = DVK_DTYPE_F32;
    const uint64_t s_qkv[3] = {C, H, D}, s_norm[1] = {HD}, s_o[2] = {HD, C}, s_b[1] = {C};
    MD_TRY(take(L, "query/kernel", 3, s_qkv, true, mt, &m->w_q));
    MD_TRY(take(L, "key/kernel", 3, s_qkv, true, mt, &m->w_k));
    MD_TRY(take(L, "value/kernel", 3, s_qkv, true, mt, &m->w_v));
    MD_TRY(take(L, "RMSNorm_0/scale", 1, s_norm, false, f32, &m->norm));
    MD_TRY(take(L, "Dense_0/kernel", 2, s_o, true, mt, &m->w_o));
    MD_TRY(take(L, "Dense_0/bias", 1, s_b, false, f32, &m->b_o));
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

void dvk_linear_attention_cell_destroy(dvk_linear_attention_cell *m)
{
    if (!m)
        return;
    dvk_tensor *t[] = {m->w_q, m->w_k, m->w_v, m->norm, m->w_o, m->b_o};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i)
        dvk_tensor_destroy(t[i]);
    free(m);
}

const dvk_linear_attention_cell_info *
dvk_linear_attention_cell_layer_info(const dvk_linear_attention_cell *m)
{
    return m ? &m->info : NULL;
}

static dvk_status load(dvk_context *ctx, const char *path, const void *data, size_t size,
                       const dvk_linear_attention_cell_load_desc *desc,
                       dvk_linear_attention_cell **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_layer is NULL");
    *out = NULL;
    if (!ctx)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "context is NULL");
    const dvk_linear_attention_cell_load_desc def = {0};
    if (!desc)
        desc = &def;
    dvk_dtype dtype = desc->dtype ? desc->dtype : DVK_DTYPE_F32;
    if (dtype != DVK_DTYPE_F32 && dtype != DVK_DTYPE_F16 && dtype != DVK_DTYPE_BF16)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE,
                             "desc.dtype %s: the weights load as f32, f16 or bf16",
                             dvk_dtype_name(dtype));
    if (!(desc->eps >= 0.0f) || desc->eps > 1e30f) /* NaN fails the first test */
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "desc.eps %g: must be finite and >= 0 (0 = 1e-6)",
                             (double)desc->eps);
    if (dtype != DVK_DTYPE_F32 && !dvk_context_device_info(ctx)->fp16_storage)
        dtype = DVK_DTYPE_F32;
    dvk_linear_attention_cell *m = calloc(1, sizeof *m);
    if (!m)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->info.dtype = dtype;
    m->info.eps = desc->eps > 0.0f ? desc->eps : DEFAULT_EPS;
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
        dvk_linear_attention_cell_destroy(m);
        return st;
    }
    *out = m;
    return DVK_SUCCESS;
}

dvk_status dvk_linear_attention_cell_load(dvk_context *ctx, const char *path,
                                          const dvk_linear_attention_cell_load_desc *desc,
                                          dvk_linear_attention_cell **out)
{
    if (!path) {
        if (out)
            *out = NULL;
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "path is NULL");
    }
    return load(ctx, path, NULL, 0, desc, out);
}

dvk_status dvk_linear_attention_cell_load_memory(dvk_context *ctx, const void *data,
                                                 size_t size,
                                                 const dvk_linear_attention_cell_load_desc *desc,
                                                 dvk_linear_attention_cell **out)
{
    if (!data && size) {
        if (out)
            *out = NULL;
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "data is NULL");
    }
    static const unsigned char empty[1] = {0};
    return load(ctx, NULL, data ? data : empty, size, desc, out);
}
