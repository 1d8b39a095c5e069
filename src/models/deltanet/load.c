/* Loading the DeltaNet seed's modules from safetensors under their PyTorch names and shapes.
 *
 * The file is read on the host (dvk_weights without a device). The kind of module comes from
 * the names (layers.0.q_linear.weight: TransformerDeltaNet; deltanet.q_linear.weight:
 * TransformerBlock; q_linear.weight: DeltaNet) unless desc.kind says it; d from q_linear's
 * shape, F from ffn.2's, the depth from the layers present. Every parameter is asked for by
 * name, so a missing one, a wrongly shaped one and (after all are taken) an extra one are each
 * an error naming it. */
#include "models/deltanet/deltanet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMORY_LABEL "(memory)"

typedef struct loader {
    dvk_context *ctx;
    const char *label;
    const char *prefix;
    dvk_weights *w;
    dvk_deltanet *m;
} loader;

static bool has(const loader *L, const char *name)
{
    char full[256];
    dvk_weights_entry e;
    snprintf(full, sizeof full, "%s%s", L->prefix, name);
    return dvk_weights_find(L->w, full, &e) == DVK_SUCCESS;
}

/* Checks entry `name` (under the prefix) against `shape` and uploads it as `dtype`. */
static dvk_status take(const loader *L, const char *name, uint32_t ndim, const uint64_t *shape,
                       dvk_dtype dtype, dvk_tensor **out)
{
    char full[256], a[96], b[96];
    snprintf(full, sizeof full, "%s%s", L->prefix, name);
    dvk_weights_entry e;
    if (dvk_weights_find(L->w, full, &e) != DVK_SUCCESS)
        return dvk_set_error(DVK_ERROR_NOT_FOUND, "%s: tensor '%s' is missing", L->label, full);
    bool ok = e.ndim == ndim;
    for (uint32_t i = 0; ok && i < ndim; ++i)
        ok = e.shape[i] == shape[i];
    if (!ok)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "%s: tensor '%s': shape %s, expected %s",
                             L->label, full, dvk__md_dims_str(e.ndim, e.shape, a, sizeof a),
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

/* One DeltaNet module under `base` ("", "deltanet." or "layers.<i>."). */
static dvk_status take_attn(const loader *L, const char *base, dn_attn *a)
{
    const uint64_t d = L->m->info.d_model;
    const dvk_dtype mt = L->m->info.dtype, f32 = DVK_DTYPE_F32;
    const uint64_t s_mat[2] = {d, d}, s_vec[1] = {d}, s_conv[3] = {d, d, 3};
    const uint64_t s_beta_w[2] = {1, d}, s_beta_b[1] = {1};
    static const char *const qkv[3] = {"q", "k", "v"};
    char n[192];
    for (int i = 0; i < 3; ++i) {
        snprintf(n, sizeof n, "%s%s_linear.weight", base, qkv[i]);
        MD_TRY(take(L, n, 2, s_mat, mt, &a->w[i]));
        snprintf(n, sizeof n, "%s%s_linear.bias", base, qkv[i]);
        MD_TRY(take(L, n, 1, s_vec, f32, &a->b[i]));
        snprintf(n, sizeof n, "%s%s_conv.weight", base, qkv[i]);
        MD_TRY(take(L, n, 3, s_conv, mt, &a->cw[i]));
        snprintf(n, sizeof n, "%s%s_conv.bias", base, qkv[i]);
        MD_TRY(take(L, n, 1, s_vec, f32, &a->cb[i]));
    }
    snprintf(n, sizeof n, "%sbeta_linear.weight", base);
    MD_TRY(take(L, n, 2, s_beta_w, f32, &a->w_beta));
    snprintf(n, sizeof n, "%sbeta_linear.bias", base);
    MD_TRY(take(L, n, 1, s_beta_b, f32, &a->b_beta));
    snprintf(n, sizeof n, "%srms_norm.scale", base);
    MD_TRY(take(L, n, 1, s_vec, f32, &a->norm));
    snprintf(n, sizeof n, "%soutput_linear.weight", base);
    MD_TRY(take(L, n, 2, s_mat, mt, &a->w_out));
    snprintf(n, sizeof n, "%soutput_linear.bias", base);
    return take(L, n, 1, s_vec, f32, &a->b_out);
}

/* The kind, d, F and the depth from the names and shapes. */
static dvk_status read_sizes(loader *L, dvk_deltanet_kind kind)
{
    dvk_deltanet_info *in = &L->m->info;
    if (kind == DVK_DELTANET_AUTO)
        kind = has(L, "layers.0.q_linear.weight")   ? DVK_DELTANET_MODEL
               : has(L, "deltanet.q_linear.weight") ? DVK_DELTANET_BLOCK
               : has(L, "q_linear.weight")          ? DVK_DELTANET_LAYER
                                                    : DVK_DELTANET_AUTO;
    if (kind == DVK_DELTANET_AUTO)
        return dvk_set_error(DVK_ERROR_NOT_FOUND,
                             "%s: no tensor '%sq_linear.weight' (DeltaNet), "
                             "'%sdeltanet.q_linear.weight' (TransformerBlock) or "
                             "'%slayers.0.q_linear.weight' (TransformerDeltaNet)",
                             L->label, L->prefix, L->prefix, L->prefix);
    in->kind = kind;
    const char *first = kind == DVK_DELTANET_MODEL   ? "layers.0.q_linear.weight"
                        : kind == DVK_DELTANET_BLOCK ? "deltanet.q_linear.weight"
                                                     : "q_linear.weight";
    char full[256], a[96];
    snprintf(full, sizeof full, "%s%s", L->prefix, first);
    dvk_weights_entry e;
    if (dvk_weights_find(L->w, full, &e) != DVK_SUCCESS)
        return dvk_set_error(DVK_ERROR_NOT_FOUND, "%s: tensor '%s' is missing", L->label, full);
    if (e.ndim != 2 || e.shape[0] != e.shape[1] || e.shape[0] == 0)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                             "%s: tensor '%s': shape %s, expected [d,d]", L->label, full,
                             dvk__md_dims_str(e.ndim, e.shape, a, sizeof a));
    if (e.shape[0] > 256)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED,
                             "%s: d_model %llu: the seed's single head makes the delta rule's "
                             "key and value size d, and dvk_delta_rule takes at most 256",
                             L->label, (unsigned long long)e.shape[0]);
    in->d_model = (uint32_t)e.shape[0];
    in->num_layers = 1;
    if (kind == DVK_DELTANET_MODEL) {
        char n[64];
        for (;;) {
            snprintf(n, sizeof n, "layers.%u.q_linear.weight", in->num_layers);
            if (!has(L, n))
                break;
            ++in->num_layers;
        }
    }
    in->lookahead = in->num_layers;
    if (kind == DVK_DELTANET_BLOCK) {
        snprintf(full, sizeof full, "%sffn.2.weight", L->prefix);
        if (dvk_weights_find(L->w, full, &e) != DVK_SUCCESS)
            return dvk_set_error(DVK_ERROR_NOT_FOUND, "%s: tensor '%s' is missing", L->label,
                                 full);
        if (e.ndim != 2 || e.shape[0] != in->d_model || e.shape[1] == 0 ||
            e.shape[1] > UINT32_MAX / 2)
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                                 "%s: tensor '%s': shape %s, expected [%u,F]", L->label, full,
                                 dvk__md_dims_str(e.ndim, e.shape, a, sizeof a), in->d_model);
        in->ff_hidden_dim = (uint32_t)e.shape[1];
    }
    return DVK_SUCCESS;
}

static dvk_status make(loader *L)
{
    dvk_deltanet *m = L->m;
    const dvk_deltanet_info *in = &m->info;
    const uint64_t d = in->d_model, F = in->ff_hidden_dim, s_vec[1] = {d};
    m->attn = calloc(in->num_layers, sizeof *m->attn);
    if (!m->attn)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (in->kind == DVK_DELTANET_LAYER)
        MD_TRY(take_attn(L, "", &m->attn[0]));
    if (in->kind == DVK_DELTANET_BLOCK) {
        const uint64_t s0w[2] = {2 * F, d}, s0b[1] = {2 * F}, s2w[2] = {d, F};
        MD_TRY(take_attn(L, "deltanet.", &m->attn[0]));
        MD_TRY(take(L, "norm1.scale", 1, s_vec, DVK_DTYPE_F32, &m->norm1));
        MD_TRY(take(L, "norm2.scale", 1, s_vec, DVK_DTYPE_F32, &m->norm2));
        MD_TRY(take(L, "ffn.0.weight", 2, s0w, in->dtype, &m->ffn0_w));
        MD_TRY(take(L, "ffn.0.bias", 1, s0b, DVK_DTYPE_F32, &m->ffn0_b));
        MD_TRY(take(L, "ffn.2.weight", 2, s2w, in->dtype, &m->ffn2_w));
        MD_TRY(take(L, "ffn.2.bias", 1, s_vec, DVK_DTYPE_F32, &m->ffn2_b));
    }
    if (in->kind == DVK_DELTANET_MODEL) {
        char base[32];
        for (uint32_t i = 0; i < in->num_layers; ++i) {
            snprintf(base, sizeof base, "layers.%u.", i);
            MD_TRY(take_attn(L, base, &m->attn[i]));
        }
        MD_TRY(take(L, "final_rms_norm.scale", 1, s_vec, DVK_DTYPE_F32, &m->final_norm));
    }
    /* Extra tensors: any under the prefix that no take() asked for. */
    const size_t plen = strlen(L->prefix);
    for (uint32_t i = 0; i < dvk_weights_count(L->w); ++i) {
        const char *name = dvk_weights_name(L->w, i);
        dvk_weights_entry e;
        if (strncmp(name, L->prefix, plen) != 0 ||
            dvk_weights_find(L->w, name, &e) != DVK_SUCCESS || e.used)
            continue;
        return dvk_set_error(DVK_ERROR_FORMAT, "%s: unexpected tensor '%s' (a %s)", L->label,
                             name,
                             in->kind == DVK_DELTANET_MODEL   ? "TransformerDeltaNet"
                             : in->kind == DVK_DELTANET_BLOCK ? "TransformerBlock"
                                                              : "DeltaNet");
    }
    float *sw = malloc((size_t)d * 2 * sizeof *sw);
    if (!sw)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint64_t c = 0; c < d; ++c) {
        sw[2 * c] = 1.0f;
        sw[2 * c + 1] = 0.0f;
    }
    const uint64_t s_shift[3] = {d, 1, 2};
    const dvk_status st = dvk__md_tensor_from_f32(L->ctx, DVK_DTYPE_F32, 3, s_shift, sw,
                                                  &m->shift_w);
    free(sw);
    return st;
}

static void destroy_attn(dn_attn *a)
{
    for (int i = 0; i < 3; ++i) {
        dvk_tensor_destroy(a->w[i]);
        dvk_tensor_destroy(a->b[i]);
        dvk_tensor_destroy(a->cw[i]);
        dvk_tensor_destroy(a->cb[i]);
    }
    dvk_tensor_destroy(a->w_beta);
    dvk_tensor_destroy(a->b_beta);
    dvk_tensor_destroy(a->norm);
    dvk_tensor_destroy(a->w_out);
    dvk_tensor_destroy(a->b_out);
}

void dvk_deltanet_destroy(dvk_deltanet *m)
{
    if (!m)
        return;
    if (m->attn)
        for (uint32_t i = 0; i < m->info.num_layers; ++i)
            destroy_attn(&m->attn[i]);
    free(m->attn);
    dvk_tensor *t[] = {m->norm1,  m->norm2,  m->ffn0_w,     m->ffn0_b,
                       m->ffn2_w, m->ffn2_b, m->final_norm, m->shift_w};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i)
        dvk_tensor_destroy(t[i]);
    free(m);
}

const dvk_deltanet_info *dvk_deltanet_layer_info(const dvk_deltanet *m)
{
    return m ? &m->info : NULL;
}

static dvk_status load(dvk_context *ctx, const char *path, const void *data, size_t size,
                       const dvk_deltanet_load_desc *desc, dvk_deltanet **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_layer is NULL");
    *out = NULL;
    if (!ctx)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "context is NULL");
    const dvk_deltanet_load_desc def = {0};
    if (!desc)
        desc = &def;
    dvk_dtype dtype = desc->dtype ? desc->dtype : DVK_DTYPE_F32;
    if (dtype != DVK_DTYPE_F32 && dtype != DVK_DTYPE_F16 && dtype != DVK_DTYPE_BF16)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE,
                             "desc.dtype %s: the weights load as f32, f16 or bf16",
                             dvk_dtype_name(dtype));
    if ((unsigned)desc->kind > DVK_DELTANET_MODEL)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "desc.kind %d is not a kind",
                             (int)desc->kind);
    if (dtype != DVK_DTYPE_F32 && !dvk_context_device_info(ctx)->fp16_storage)
        dtype = DVK_DTYPE_F32;
    dvk_deltanet *m = calloc(1, sizeof *m);
    if (!m)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->info.dtype = dtype;
    loader L = {.ctx = ctx, .label = path ? path : MEMORY_LABEL,
                .prefix = desc->prefix ? desc->prefix : "", .m = m};
    dvk_status st = path ? dvk_weights_load(NULL, path, NULL, &L.w)
                         : dvk_weights_load_memory(NULL, data, size, NULL, &L.w);
    if (st == DVK_SUCCESS)
        st = read_sizes(&L, desc->kind);
    if (st == DVK_SUCCESS)
        st = make(&L);
    dvk_weights_destroy(L.w);
    if (st != DVK_SUCCESS) {
        dvk_deltanet_destroy(m);
        return st;
    }
    *out = m;
    return DVK_SUCCESS;
}

dvk_status dvk_deltanet_load(dvk_context *ctx, const char *path,
                             const dvk_deltanet_load_desc *desc, dvk_deltanet **out)
{
    if (!path) {
        if (out)
            *out = NULL;
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "path is NULL");
    }
    return load(ctx, path, NULL, 0, desc, out);
}

dvk_status dvk_deltanet_load_memory(dvk_context *ctx, const void *data, size_t size,
                                    const dvk_deltanet_load_desc *desc, dvk_deltanet **out)
{
    if (!data && size) {
        if (out)
            *out = NULL;
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "data is NULL");
    }
    static const unsigned char empty[1] = {0};
    return load(ctx, NULL, data ? data : empty, size, desc, out);
}
