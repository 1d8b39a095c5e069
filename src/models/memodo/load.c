/* Loading Memodo's layer from safetensors under the package's names and shapes.
 *
 * The file is read on the host (dvk_weights without a device): the sizes come from the shapes
 * first (C from norm.weight, the heads from deltanets.J.initial while they exist, F_l and F_g
 * from the first products of the token shift and the gate), then every parameter is checked by
 * name, read as fp32, converted and uploaded. Every name the layer takes is asked for by name,
 * so a missing one, a wrongly shaped one and (after all are taken) an extra one are each an
 * error naming it. */
#include "models/memodo/memodo.h"

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
    dvk_memodo_layer *layer;
} loader;

static const char *const proj_names[MEMODO_PROJ] = {"A", "B", "C", "D", "I", "select"};

static dvk_status find(const loader *L, const char *name, dvk_weights_entry *e)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", L->prefix, name);
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

/* Entry `name` checked against `shape` (ndim dims) and read as fp32 into a new array. */
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
    float *data = malloc((size_t)(e.numel ? e.numel : 1) * sizeof *data);
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

/* take() then upload as `dtype`; `scale` multiplies the values first (1: as stored). */
static dvk_status take_up(const loader *L, const char *name, uint32_t ndim, const uint64_t *shape,
                          dvk_dtype dtype, float scale, dvk_tensor **out)
{
    float *data;
    MD_TRY(take(L, name, ndim, shape, &data));
    uint64_t n = 1;
    for (uint32_t i = 0; i < ndim; ++i)
        n *= shape[i];
    if (scale != 1.0f)
        for (uint64_t i = 0; i < n; ++i)
            data[i] *= scale;
    const dvk_status st = dvk__md_tensor_from_f32(L->ctx, dtype, ndim, shape, data, out);
    free(data);
    return st;
}

/* The first dimension of a 1-D ([n]) or 2-D ([n, cols]) entry, checked. */
static dvk_status size_of(const loader *L, const char *name, uint32_t ndim, uint64_t cols,
                          const char *expected, uint32_t *n)
{
    dvk_weights_entry e;
    MD_TRY(find(L, name, &e));
    const bool ok = e.ndim == ndim && e.shape[0] > 0 && e.shape[0] <= UINT32_MAX &&
                    (ndim == 1 || e.shape[1] == cols);
    if (!ok)
        return wrong_shape(L, &e, expected);
    *n = (uint32_t)e.shape[0];
    return DVK_SUCCESS;
}

static dvk_status read_sizes(loader *L)
{
    dvk_memodo_info *in = &L->layer->info;
    char want[128];
    MD_TRY(size_of(L, "norm.weight", 1, 0, "[C] (num_channels)", &in->num_channels));
    const uint64_t C = in->num_channels;
    snprintf(want, sizeof want, "[F_l,%llu] (lerp_feats, num_channels)", (unsigned long long)C);
    MD_TRY(size_of(L, "token_lerp.decide.0.weight", 2, C, want, &in->lerp_feats));
    snprintf(want, sizeof want, "[F_g,%llu] (gating_feats, num_channels)", (unsigned long long)C);
    MD_TRY(size_of(L, "gating.0.weight", 2, C, want, &in->gating_feats));
    for (uint32_t j = 0;; ++j) {
        char name[64];
        snprintf(name, sizeof name, "deltanets.%u.initial", j);
        dvk_weights_entry e;
        char full[256];
        snprintf(full, sizeof full, "%s%s", L->prefix, name);
        if (dvk_weights_find(L->w, full, &e) != DVK_SUCCESS)
            break;
        if (j == DVK_MEMODO_MAX_HEADS)
            return dvk_set_error(DVK_ERROR_UNSUPPORTED, "%s: more than %d heads (%s)", L->label,
                                 DVK_MEMODO_MAX_HEADS, full);
        if (e.ndim != 2 || e.shape[0] != e.shape[1] || e.shape[0] == 0)
            return wrong_shape(L, &e, "[F,F] (the head's attn_feats)");
        if (e.shape[0] > 256)
            return dvk_set_error(DVK_ERROR_UNSUPPORTED,
                                 "%s: tensor '%s': %llu features, dvk_dplr takes at most 256",
                                 L->label, full, (unsigned long long)e.shape[0]);
        in->attn_feats[j] = (uint32_t)e.shape[0];
        in->num_heads = j + 1;
    }
    return DVK_SUCCESS;
}

static dvk_status load_head(loader *L, uint32_t j)
{
    dvk_memodo_layer *m = L->layer;
    memodo_head *h = &m->heads[j];
    const uint64_t C = m->info.num_channels, F = m->info.attn_feats[j];
    const dvk_dtype mt = m->info.dtype;
    h->F = (uint32_t)F;
    char name[64];
    const uint64_t s_w[2] = {F, C}, s_b[1] = {F}, s_o[2] = {C, F}, s_i[2] = {F, F};
    for (int p = 0; p < MEMODO_PROJ; ++p) {
        /* B·x/√F: the package divides (M a) bᵀ by √F (awk_safe); folded into B here. */
        const float scale = p == MEMODO_B ? 1.0f / sqrtf((float)F) : 1.0f;
        snprintf(name, sizeof name, "deltanets.%u.%s.weight", j, proj_names[p]);
        MD_TRY(take_up(L, name, 2, s_w, mt, scale, &h->w[p]));
        snprintf(name, sizeof name, "deltanets.%u.%s.bias", j, proj_names[p]);
        MD_TRY(take_up(L, name, 1, s_b, DVK_DTYPE_F32, scale, &h->b[p]));
    }
    snprintf(name, sizeof name, "deltanets.%u.O.weight", j);
    MD_TRY(take_up(L, name, 2, s_o, mt, 1.0f, &h->w_o));
    float *init;
    snprintf(name, sizeof name, "deltanets.%u.initial", j);
    MD_TRY(take(L, name, 2, s_i, &init));
    h->host_init_t = malloc((size_t)(F * F) * sizeof *h->host_init_t);
    if (!h->host_init_t) {
        free(init);
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (uint64_t r = 0; r < F; ++r)
        for (uint64_t c = 0; c < F; ++c)
            h->host_init_t[c * F + r] = init[r * F + c];
    free(init);
    return dvk__md_tensor_from_f32(L->ctx, DVK_DTYPE_F32, 2, s_i, h->host_init_t, &h->init_t);
}

static dvk_status make(loader *L)
{
    dvk_memodo_layer *m = L->layer;
    const uint64_t C = m->info.num_channels, Fl = m->info.lerp_feats, Fg = m->info.gating_feats;
    const dvk_dtype mt = m->info.dtype, f32 = DVK_DTYPE_F32;
    const uint64_t s_c[1] = {C}, s_fl[1] = {Fl}, s_fg[1] = {Fg};
    const uint64_t s_l1[2] = {Fl, C}, s_l2[2] = {C, Fl}, s_g1[2] = {Fg, C}, s_g2[2] = {C, Fg};
    MD_TRY(take_up(L, "norm.weight", 1, s_c, f32, 1, &m->norm_w));
    MD_TRY(take_up(L, "norm.bias", 1, s_c, f32, 1, &m->norm_b));
    MD_TRY(take(L, "token_lerp.initial", 1, s_c, &m->host_lerp_init));
    MD_TRY(dvk__md_tensor_from_f32(L->ctx, f32, 1, s_c, m->host_lerp_init, &m->lerp_init));
    MD_TRY(take_up(L, "token_lerp.premix", 1, s_c, f32, 1, &m->premix));
    MD_TRY(take_up(L, "token_lerp.decide.0.weight", 2, s_l1, mt, 1, &m->lerp_w1));
    MD_TRY(take_up(L, "token_lerp.decide.0.bias", 1, s_fl, f32, 1, &m->lerp_b1));
    MD_TRY(take_up(L, "token_lerp.decide.2.weight", 2, s_l2, mt, 1, &m->lerp_w2));
    MD_TRY(take_up(L, "token_lerp.decide.2.bias", 1, s_c, f32, 1, &m->lerp_b2));
    for (uint32_t j = 0; j < m->info.num_heads; ++j)
        MD_TRY(load_head(L, j));
    MD_TRY(take_up(L, "bias", 1, s_c, f32, 1, &m->bias));
    MD_TRY(take_up(L, "gating_res", 1, s_c, f32, 1, &m->gating_res));
    MD_TRY(take_up(L, "gating.0.weight", 2, s_g1, mt, 1, &m->gate_w1));
    MD_TRY(take_up(L, "gating.0.bias", 1, s_fg, f32, 1, &m->gate_b1));
    MD_TRY(take_up(L, "gating.2.weight", 2, s_g2, mt, 1, &m->gate_w2));
    MD_TRY(take_up(L, "gating.2.bias", 1, s_c, f32, 1, &m->gate_b2));
    /* Extra tensors: any under the prefix that no take() asked for. */
    const size_t plen = strlen(L->prefix);
    for (uint32_t i = 0; i < dvk_weights_count(L->w); ++i) {
        const char *name = dvk_weights_name(L->w, i);
        dvk_weights_entry e;
        if (strncmp(name, L->prefix, plen) != 0 ||
            dvk_weights_find(L->w, name, &e) != DVK_SUCCESS || e.used)
            continue;
        /* The heads are counted by their `initial`: a head's other tensors without it mean
         * that it is what is missing. */
        unsigned j;
        int at = 0;
        if (sscanf(name + plen, "deltanets.%u.%n", &j, &at) == 1 && at > 0 &&
            j == m->info.num_heads)
            return dvk_set_error(DVK_ERROR_NOT_FOUND,
                                 "%s: tensor '%sdeltanets.%u.initial' is missing (the file "
                                 "has '%s')",
                                 L->label, L->prefix, j, name);
        return dvk_set_error(DVK_ERROR_FORMAT, "%s: unexpected tensor '%s'", L->label, name);
    }
    return DVK_SUCCESS;
}

void dvk_memodo_destroy(dvk_memodo_layer *m)
{
    if (!m)
        return;
    dvk_tensor *t[] = {m->norm_w,  m->norm_b,  m->lerp_init, m->premix,     m->lerp_w1,
                       m->lerp_w2, m->lerp_b1, m->lerp_b2,   m->bias,       m->gating_res,
                       m->gate_w1, m->gate_w2, m->gate_b1,   m->gate_b2};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i)
        dvk_tensor_destroy(t[i]);
    for (uint32_t j = 0; j < DVK_MEMODO_MAX_HEADS; ++j) {
        memodo_head *h = &m->heads[j];
        for (int p = 0; p < MEMODO_PROJ; ++p) {
            dvk_tensor_destroy(h->w[p]);
            dvk_tensor_destroy(h->b[p]);
        }
        dvk_tensor_destroy(h->w_o);
        dvk_tensor_destroy(h->init_t);
        free(h->host_init_t);
    }
    free(m->host_lerp_init);
    free(m);
}

const dvk_memodo_info *dvk_memodo_layer_info(const dvk_memodo_layer *m)
{
    return m ? &m->info : NULL;
}

static dvk_status load(dvk_context *ctx, const char *path, const void *data, size_t size,
                       const dvk_memodo_load_desc *desc, dvk_memodo_layer **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_layer is NULL");
    *out = NULL;
    if (!ctx)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "context is NULL");
    const dvk_memodo_load_desc def = {0};
    if (!desc)
        desc = &def;
    dvk_dtype dtype = desc->dtype ? desc->dtype : DVK_DTYPE_F32;
    if (dtype != DVK_DTYPE_F32 && dtype != DVK_DTYPE_F16 && dtype != DVK_DTYPE_BF16)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE,
                             "desc.dtype %s: the weights load as f32, f16 or bf16",
                             dvk_dtype_name(dtype));
    if (dtype != DVK_DTYPE_F32 && !dvk_context_device_info(ctx)->fp16_storage)
        dtype = DVK_DTYPE_F32;
    dvk_memodo_layer *m = calloc(1, sizeof *m);
    if (!m)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->info.dtype = dtype;
    loader L = {.ctx = ctx, .label = path ? path : MEMORY_LABEL,
                .prefix = desc->prefix ? desc->prefix : "", .layer = m};
    dvk_status st = path ? dvk_weights_load(NULL, path, NULL, &L.w)
                         : dvk_weights_load_memory(NULL, data, size, NULL, &L.w);
    if (st == DVK_SUCCESS)
        st = read_sizes(&L);
    if (st == DVK_SUCCESS)
        st = make(&L);
    dvk_weights_destroy(L.w);
    if (st != DVK_SUCCESS) {
        dvk_memodo_destroy(m);
        return st;
    }
    *out = m;
    return DVK_SUCCESS;
}

dvk_status dvk_memodo_load(dvk_context *ctx, const char *path, const dvk_memodo_load_desc *desc,
                           dvk_memodo_layer **out)
{
    if (!path) {
        if (out)
            *out = NULL;
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "path is NULL");
    }
    return load(ctx, path, NULL, 0, desc, out);
}

dvk_status dvk_memodo_load_memory(dvk_context *ctx, const void *data, size_t size,
                                  const dvk_memodo_load_desc *desc, dvk_memodo_layer **out)
{
    if (!data && size) {
        if (out)
            *out = NULL;
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "data is NULL");
    }
    static const unsigned char empty[1] = {0};
    return load(ctx, NULL, data ? data : empty, size, desc, out);
}
