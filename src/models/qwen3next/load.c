/* Loading the Gated DeltaNet layer from safetensors under transformers' names and shapes.
 *
 * The file is read on the host (dvk_weights without a device): the sizes come from the shapes
 * first, then every parameter is checked, read as fp32, reordered where the forward pass wants
 * another layout (the interleaved projections) and uploaded. Every name the layer takes is
 * asked for by name, so a missing one, a wrongly shaped one and (after all are taken) an extra
 * one are each an error naming it. */
#include "models/qwen3next/qwen3next.h"

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
    dvk_qwen3_next_gdn *layer;
} loader;

static const char *full_name(const loader *L, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", L->prefix, name);
    return buf;
}

/* The entry `name` (under the prefix): DVK_ERROR_NOT_FOUND naming it when absent. */
static dvk_status find(const loader *L, const char *name, dvk_weights_entry *e)
{
    char full[256];
    if (dvk_weights_find(L->w, full_name(L, name, full, sizeof full), e) != DVK_SUCCESS)
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

/* Checks entry `name` against `shape` (ndim dims) and reads it as fp32 into a new array. */
static dvk_status take(const loader *L, const char *name, uint32_t ndim, const uint64_t *shape,
                       float **out)
{
    *out = NULL;
    dvk_weights_entry e;
    MD_TRY(find(L, name, &e));
    bool ok = e.ndim == ndim;
    for (uint32_t i = 0; ok && i < ndim; ++i)
        ok = e.shape[i] == shape[i];
    if (!ok) {
        char want[96];
        return wrong_shape(L, &e, dvk__md_dims_str(ndim, shape, want, sizeof want));
    }
    MD_TRY(dvk_weights_get(L->w, e.name, NULL)); /* marks it used */
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

/* A dimension of a 1-, 2- or 3-D entry, checking its rank and the sizes given (UINT64_MAX:
 * any); `expected` describes the shape wanted. */
static dvk_status size_of(const loader *L, const char *name, uint32_t ndim, const uint64_t *want,
                          const char *expected, dvk_weights_entry *e)
{
    MD_TRY(find(L, name, e));
    bool ok = e->ndim == ndim;
    for (uint32_t i = 0; ok && i < ndim; ++i)
        ok = e->shape[i] > 0 && e->shape[i] <= UINT32_MAX &&
             (want[i] == UINT64_MAX || e->shape[i] == want[i]);
    return ok ? DVK_SUCCESS : wrong_shape(L, e, expected);
}

/* The layer's sizes from the shapes (and desc's head_k_dim). */
static dvk_status read_sizes(loader *L, uint32_t head_k_dim)
{
    dvk_qwen3_next_gdn_info *in = &L->layer->info;
    const uint64_t any = UINT64_MAX;
    dvk_weights_entry e;
    char want[128];
    MD_TRY(size_of(L, "norm.weight", 1, &any, "[V] (the value head size)", &e));
    in->head_v_dim = (uint32_t)e.shape[0];
    MD_TRY(size_of(L, "A_log", 1, &any, "[HV] (the value heads)", &e));
    in->num_v_heads = (uint32_t)e.shape[0];
    const uint64_t value_dim = (uint64_t)in->num_v_heads * in->head_v_dim;
    const uint64_t out_shape[2] = {any, value_dim};
    snprintf(want, sizeof want, "[D,%llu] (hidden size, HV*V)", (unsigned long long)value_dim);
    MD_TRY(size_of(L, "out_proj.weight", 2, out_shape, want, &e));
    in->hidden_size = (uint32_t)e.shape[0];
    const uint64_t conv_shape[3] = {any, 1, any};
    MD_TRY(size_of(L, "conv1d.weight", 3, conv_shape, "[conv_dim,1,W] (depthwise)", &e));
    if (e.shape[0] <= value_dim || (e.shape[0] - value_dim) % 2 || e.shape[2] < 2) {
        snprintf(want, sizeof want, "[2*H*K + %llu,1,W] with W >= 2 (HV*V = %llu)",
                 (unsigned long long)value_dim, (unsigned long long)value_dim);
        return wrong_shape(L, &e, want);
    }
    in->conv_dim = (uint32_t)e.shape[0];
    in->conv_kernel = (uint32_t)e.shape[2];
    const uint32_t key_dim = (uint32_t)((e.shape[0] - value_dim) / 2);
    in->head_k_dim = head_k_dim ? head_k_dim : in->head_v_dim;
    if (key_dim % in->head_k_dim || in->num_v_heads % (key_dim / in->head_k_dim))
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                             "%s: the key width %u (from conv1d.weight) is not a number of key "
                             "heads of %u (head_k_dim%s) that divides the %u value heads",
                             L->label, key_dim, in->head_k_dim,
                             head_k_dim ? "" : " = head_v_dim: set desc.head_k_dim",
                             in->num_v_heads);
    in->num_k_heads = key_dim / in->head_k_dim;
    if (in->head_k_dim > 256 || in->head_v_dim > 256)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED,
                             "%s: head sizes K = %u, V = %u: dvk_gated_delta_rule takes at most "
                             "256",
                             L->label, in->head_k_dim, in->head_v_dim);
    return DVK_SUCCESS;
}

static dvk_status upload(loader *L, dvk_dtype dtype, uint32_t ndim, const uint64_t *shape,
                         const float *data, dvk_tensor **out)
{
    return dvk__md_tensor_from_f32(L->ctx, dtype, ndim, shape, data, out);
}

/* Every parameter, checked, reordered and uploaded. */
static dvk_status make(loader *L)
{
    dvk_qwen3_next_gdn *m = L->layer;
    const dvk_qwen3_next_gdn_info *in = &m->info;
    const uint64_t D = in->hidden_size, H = in->num_k_heads, K = in->head_k_dim;
    const uint64_t HV = in->num_v_heads, V = in->head_v_dim, r = HV / H;
    const uint64_t HK = H * K, VD = HV * V, CD = in->conv_dim;
    const dvk_dtype mt = in->dtype;
    float *qkvz = NULL, *ba = NULL, *conv = NULL, *dt = NULL, *alog = NULL, *nw = NULL,
          *out = NULL, *a = NULL, *b = NULL;
    dvk_status st;
    {
        const uint64_t s_qkvz[2] = {2 * HK + 2 * VD, D}, s_ba[2] = {2 * HV, D};
        const uint64_t s_conv[3] = {CD, 1, in->conv_kernel}, s_hv[1] = {HV}, s_v[1] = {V};
        const uint64_t s_out[2] = {D, VD};
        st = take(L, "in_proj_qkvz.weight", 2, s_qkvz, &qkvz);
        if (st == DVK_SUCCESS)
            st = take(L, "in_proj_ba.weight", 2, s_ba, &ba);
        if (st == DVK_SUCCESS)
            st = take(L, "conv1d.weight", 3, s_conv, &conv);
        if (st == DVK_SUCCESS)
            st = take(L, "dt_bias", 1, s_hv, &dt);
        if (st == DVK_SUCCESS)
            st = take(L, "A_log", 1, s_hv, &alog);
        if (st == DVK_SUCCESS)
            st = take(L, "norm.weight", 1, s_v, &nw);
        if (st == DVK_SUCCESS)
            st = take(L, "out_proj.weight", 2, s_out, &out);
    }
    /* Extra tensors: any under the prefix that no take() asked for. */
    if (st == DVK_SUCCESS) {
        const size_t plen = strlen(L->prefix);
        for (uint32_t i = 0; i < dvk_weights_count(L->w); ++i) {
            const char *name = dvk_weights_name(L->w, i);
            dvk_weights_entry e;
            if (strncmp(name, L->prefix, plen) != 0 ||
                dvk_weights_find(L->w, name, &e) != DVK_SUCCESS || e.used)
                continue;
            st = dvk_set_error(DVK_ERROR_FORMAT, "%s: unexpected tensor '%s'", L->label, name);
            break;
        }
    }
    if (st == DVK_SUCCESS) {
        a = malloc((size_t)((CD > 2 * HV ? CD : 2 * HV) * D) * sizeof *a);
        b = malloc((size_t)((VD > HV ? VD : HV) * D) * sizeof *b);
        if (!a || !b)
            st = dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    if (st == DVK_SUCCESS) {
        /* in_proj_qkvz: key head h's block of rows [q_h K][k_h K][v_h rV][z_h rV] goes to
         * w_qkv rows h·K (q), HK + h·K (k), 2HK + h·rV (v) and w_z rows h·rV (z). */
        const uint64_t block = 2 * K + 2 * r * V;
        for (uint64_t h = 0; h < H; ++h) {
            const float *src = qkvz + h * block * D;
            memcpy(a + (h * K) * D, src, (size_t)(K * D) * sizeof *a);
            memcpy(a + (HK + h * K) * D, src + K * D, (size_t)(K * D) * sizeof *a);
            memcpy(a + (2 * HK + h * r * V) * D, src + 2 * K * D,
                   (size_t)(r * V * D) * sizeof *a);
            memcpy(b + (h * r * V) * D, src + (2 * K + r * V) * D,
                   (size_t)(r * V * D) * sizeof *b);
        }
        const uint64_t s_qkv[2] = {CD, D}, s_z[2] = {VD, D};
        st = upload(L, mt, 2, s_qkv, a, &m->w_qkv);
        if (st == DVK_SUCCESS)
            st = upload(L, mt, 2, s_z, b, &m->w_z);
    }
    if (st == DVK_SUCCESS) {
        /* in_proj_ba: key head h's rows [b_h r][a_h r] go to rows h·r (b) and HV + h·r (a). */
        for (uint64_t h = 0; h < H; ++h) {
            memcpy(a + (h * r) * D, ba + (2 * h * r) * D, (size_t)(r * D) * sizeof *a);
            memcpy(a + (HV + h * r) * D, ba + (2 * h * r + r) * D, (size_t)(r * D) * sizeof *a);
        }
        const uint64_t s_ba[2] = {2 * HV, D};
        st = upload(L, mt, 2, s_ba, a, &m->w_ba);
    }
    if (st == DVK_SUCCESS) {
        const uint64_t s_conv[3] = {CD, 1, in->conv_kernel};
        st = upload(L, DVK_DTYPE_F32, 3, s_conv, conv, &m->conv_w);
    }
    if (st == DVK_SUCCESS) {
        for (uint64_t h = 0; h < HV; ++h) /* as transformers: −exp in fp32 */
            alog[h] = -expf(alog[h]);
        const uint64_t s_hv[1] = {HV};
        st = upload(L, DVK_DTYPE_F32, 1, s_hv, alog, &m->neg_a);
        if (st == DVK_SUCCESS)
            st = upload(L, DVK_DTYPE_F32, 1, s_hv, dt, &m->dt_bias);
    }
    if (st == DVK_SUCCESS) {
        const uint64_t s_v[1] = {V}, s_out[2] = {D, VD};
        st = upload(L, DVK_DTYPE_F32, 1, s_v, nw, &m->norm_w);
        if (st == DVK_SUCCESS)
            st = upload(L, mt, 2, s_out, out, &m->w_out);
    }
    free(qkvz);
    free(ba);
    free(conv);
    free(dt);
    free(alog);
    free(nw);
    free(out);
    free(a);
    free(b);
    return st;
}

void dvk_qwen3_next_gdn_destroy(dvk_qwen3_next_gdn *m)
{
    if (!m)
        return;
    dvk_tensor_destroy(m->w_qkv);
    dvk_tensor_destroy(m->w_z);
    dvk_tensor_destroy(m->w_ba);
    dvk_tensor_destroy(m->conv_w);
    dvk_tensor_destroy(m->neg_a);
    dvk_tensor_destroy(m->dt_bias);
    dvk_tensor_destroy(m->norm_w);
    dvk_tensor_destroy(m->w_out);
    free(m);
}

const dvk_qwen3_next_gdn_info *dvk_qwen3_next_gdn_layer_info(const dvk_qwen3_next_gdn *m)
{
    return m ? &m->info : NULL;
}

/* Loads from a file (path set) or from bytes in memory. */
static dvk_status load(dvk_context *ctx, const char *path, const void *data, size_t size,
                       const dvk_qwen3_next_gdn_load_desc *desc, dvk_qwen3_next_gdn **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_layer is NULL");
    *out = NULL;
    if (!ctx)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "context is NULL");
    const dvk_qwen3_next_gdn_load_desc def = {0};
    if (!desc)
        desc = &def;
    dvk_dtype dtype = desc->dtype ? desc->dtype : DVK_DTYPE_F32;
    if (dtype != DVK_DTYPE_F32 && dtype != DVK_DTYPE_F16 && dtype != DVK_DTYPE_BF16)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE,
                             "desc.dtype %s: the weights load as f32, f16 or bf16",
                             dvk_dtype_name(dtype));
    if (dtype != DVK_DTYPE_F32 && !dvk_context_device_info(ctx)->fp16_storage)
        dtype = DVK_DTYPE_F32;
    if (!(desc->norm_eps >= 0) || isinf(desc->norm_eps))
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "desc.norm_eps %g is not >= 0",
                             (double)desc->norm_eps);
    if (desc->head_k_dim > 256)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "desc.head_k_dim %u is above 256",
                             desc->head_k_dim);
    dvk_qwen3_next_gdn *m = calloc(1, sizeof *m);
    if (!m)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->info.dtype = dtype;
    m->info.norm_eps = desc->norm_eps > 0 ? desc->norm_eps : 1e-6f;
    loader L = {.ctx = ctx, .label = path ? path : MEMORY_LABEL,
                .prefix = desc->prefix ? desc->prefix : "", .layer = m};
    dvk_status st = path ? dvk_weights_load(NULL, path, NULL, &L.w)
                         : dvk_weights_load_memory(NULL, data, size, NULL, &L.w);
    if (st == DVK_SUCCESS)
        st = read_sizes(&L, desc->head_k_dim);
    if (st == DVK_SUCCESS)
        st = make(&L);
    dvk_weights_destroy(L.w);
    if (st != DVK_SUCCESS) {
        dvk_qwen3_next_gdn_destroy(m);
        return st;
    }
    *out = m;
    return DVK_SUCCESS;
}

dvk_status dvk_qwen3_next_gdn_load(dvk_context *ctx, const char *path,
                                   const dvk_qwen3_next_gdn_load_desc *desc,
                                   dvk_qwen3_next_gdn **out)
{
    if (!path) {
        if (out)
            *out = NULL;
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "path is NULL");
    }
    return load(ctx, path, NULL, 0, desc, out);
}

dvk_status dvk_qwen3_next_gdn_load_memory(dvk_context *ctx, const void *data, size_t size,
                                          const dvk_qwen3_next_gdn_load_desc *desc,
                                          dvk_qwen3_next_gdn **out)
{
    if (!data && size) {
        if (out)
            *out = NULL;
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "data is NULL");
    }
    static const unsigned char empty[1] = {0};
    return load(ctx, NULL, data ? data : empty, size, desc, out);
}
