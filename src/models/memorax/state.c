/* LinearAttentionCell's carry for `batch` sequences: the state S (key-major) and the
 * normaliser z, and state files (written by dvk__md_st_write, read back through dvk_weights
 * without a device). */
#include "models/memorax/memorax.h"

#include <stdlib.h>
#include <string.h>

#define STATE_FORMAT "deltavk-linear-attention-cell-state"
#define STATE_VERSION "1"

static void s_shape(const dvk_linear_attention_cell_state *s, uint64_t shape[4])
{
    shape[0] = s->batch;
    shape[1] = s->layer->info.n_heads;
    shape[2] = shape[3] = s->layer->info.head_dim;
}

void dvk_linear_attention_cell_state_destroy(dvk_linear_attention_cell_state *s)
{
    if (!s)
        return;
    dvk_tensor_destroy(s->S);
    dvk_tensor_destroy(s->z);
    free(s);
}

dvk_status dvk_linear_attention_cell_state_create(const dvk_linear_attention_cell *layer,
                                                  uint32_t batch,
                                                  dvk_linear_attention_cell_state **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_state is NULL");
    *out = NULL;
    if (!layer)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "layer is NULL");
    if (batch == 0)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "batch is 0");
    dvk_linear_attention_cell_state *s = calloc(1, sizeof *s);
    if (!s)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    s->layer = layer;
    s->batch = batch;
    dvk_tensor_desc td = {.dtype = DVK_DTYPE_F32, .ndim = 4};
    s_shape(s, td.shape);
    dvk_status st = dvk_tensor_create(layer->ctx, &td, &s->S);
    if (st == DVK_SUCCESS) {
        td.ndim = 3;
        st = dvk_tensor_create(layer->ctx, &td, &s->z);
    }
    if (st == DVK_SUCCESS)
        st = dvk_linear_attention_cell_state_reset(s);
    if (st != DVK_SUCCESS) {
        dvk_linear_attention_cell_state_destroy(s);
        return st;
    }
    *out = s;
    return DVK_SUCCESS;
}

dvk_tensor *dvk_linear_attention_cell_state_tensor(const dvk_linear_attention_cell_state *s)
{
    return s ? s->S : NULL;
}

dvk_tensor *dvk_linear_attention_cell_state_normalizer(const dvk_linear_attention_cell_state *s)
{
    return s ? s->z : NULL;
}

dvk_status dvk_linear_attention_cell_state_reset(dvk_linear_attention_cell_state *s)
{
    if (!s)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "state is NULL");
    dvk_cmd *cmd = NULL;
    MD_TRY(dvk_cmd_create(s->layer->ctx, NULL, &cmd));
    dvk_status st = dvk_cmd_fill_zero(cmd, s->S);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_fill_zero(cmd, s->z);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_submit(cmd);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_wait(cmd, 0);
    dvk_cmd_destroy(cmd);
    return st;
}

dvk_status dvk_linear_attention_cell_state_save(dvk_linear_attention_cell_state *s,
                                                const char *path)
{
    if (!s || !path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", s ? "path" : "state");
    md_st_tensor t[2] = {{.name = "S", .ndim = 4}, {.name = "z", .ndim = 3}};
    s_shape(s, t[0].shape);
    s_shape(s, t[1].shape);
    const uint64_t nS = dvk_tensor_numel(s->S), nz = dvk_tensor_numel(s->z);
    float *buf = malloc((size_t)(nS + nz) * sizeof *buf);
    if (!buf)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    dvk_status st = dvk_tensor_download(s->S, buf, (size_t)nS * sizeof *buf);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_download(s->z, buf + nS, (size_t)nz * sizeof *buf);
    if (st == DVK_SUCCESS) {
        t[0].data = buf;
        t[1].data = buf + nS;
        const md_st_meta meta[] = {{"format", STATE_FORMAT}, {"version", STATE_VERSION}};
        st = dvk__md_st_write(path, t, 2, meta, 2);
    }
    free(buf);
    return st;
}

dvk_status dvk_linear_attention_cell_state_restore(dvk_linear_attention_cell_state *s,
                                                   const char *path)
{
    if (!s || !path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", s ? "path" : "state");
    dvk_weights *w = NULL;
    MD_TRY(dvk_weights_load(NULL, path, NULL, &w));
    const char *format = dvk_weights_metadata(w, "format");
    dvk_status st = DVK_SUCCESS;
    if (!format || strcmp(format, STATE_FORMAT) != 0)
        st = dvk_set_error(DVK_ERROR_FORMAT,
                           "%s: not a LinearAttentionCell state file (metadata format %s%s%s)",
                           path, format ? "'" : "", format ? format : "absent",
                           format ? "'" : "");
    uint64_t shape[4];
    s_shape(s, shape);
    const uint64_t nS = dvk_tensor_numel(s->S), nz = dvk_tensor_numel(s->z);
    float *buf = st == DVK_SUCCESS ? malloc((size_t)(nS + nz) * sizeof *buf) : NULL;
    if (st == DVK_SUCCESS && !buf)
        st = dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (st == DVK_SUCCESS)
        st = dvk_weights_expect(w, "S", 4, shape, NULL);
    if (st == DVK_SUCCESS)
        st = dvk_weights_expect(w, "z", 3, shape, NULL);
    if (st == DVK_SUCCESS)
        st = dvk_weights_check_all_used(w);
    if (st == DVK_SUCCESS)
        st = dvk_weights_read(w, "S", DVK_DTYPE_F32, buf, (size_t)nS * sizeof *buf);
    if (st == DVK_SUCCESS)
        st = dvk_weights_read(w, "z", DVK_DTYPE_F32, buf + nS, (size_t)nz * sizeof *buf);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_upload(s->S, buf, (size_t)nS * sizeof *buf);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_upload(s->z, buf + nS, (size_t)nz * sizeof *buf);
    free(buf);
    dvk_weights_destroy(w);
    return st;
}

/* memorax's state [batch, 1, H, V, K] ↔ ours [batch, H, K, V]: the transpose of each D×D. */
static void transpose_heads(const dvk_linear_attention_cell_state *s, const float *src,
                            float *dst)
{
    const size_t D = s->layer->info.head_dim, n = (size_t)s->batch * s->layer->info.n_heads;
    for (size_t m = 0; m < n; ++m)
        for (size_t i = 0; i < D; ++i)
            for (size_t j = 0; j < D; ++j)
                dst[(m * D + j) * D + i] = src[(m * D + i) * D + j];
}

static dvk_status carry_args(const dvk_linear_attention_cell_state *s, const void *state,
                             size_t state_bytes, const void *normalizer,
                             size_t normalizer_bytes)
{
    if (!s)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "state is NULL");
    if (!state || !normalizer)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "carry %s is NULL",
                             state ? "normalizer" : "state");
    const size_t nS = (size_t)dvk_tensor_numel(s->S), nz = (size_t)dvk_tensor_numel(s->z);
    const unsigned H = s->layer->info.n_heads, D = s->layer->info.head_dim;
    if (state_bytes != nS * sizeof(float))
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                             "carry state: %zu bytes, expected %zu ([%u,1,%u,%u,%u] fp32)",
                             state_bytes, nS * sizeof(float), s->batch, H, D, D);
    if (normalizer_bytes != nz * sizeof(float))
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                             "carry normalizer: %zu bytes, expected %zu ([%u,1,%u,%u] fp32)",
                             normalizer_bytes, nz * sizeof(float), s->batch, H, D);
    return DVK_SUCCESS;
}

dvk_status dvk_linear_attention_cell_state_set_carry(dvk_linear_attention_cell_state *s,
                                                     const float *state, size_t state_bytes,
                                                     const float *normalizer,
                                                     size_t normalizer_bytes)
{
    MD_TRY(carry_args(s, state, state_bytes, normalizer, normalizer_bytes));
    float *t = malloc(state_bytes);
    if (!t)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    transpose_heads(s, state, t);
    dvk_status st = dvk_tensor_upload(s->S, t, state_bytes);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_upload(s->z, normalizer, normalizer_bytes);
    free(t);
    return st;
}

dvk_status dvk_linear_attention_cell_state_get_carry(dvk_linear_attention_cell_state *s,
                                                     float *state, size_t state_bytes,
                                                     float *normalizer, size_t normalizer_bytes)
{
    MD_TRY(carry_args(s, state, state_bytes, normalizer, normalizer_bytes));
    float *t = malloc(state_bytes);
    if (!t)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    dvk_status st = dvk_tensor_download(s->S, t, state_bytes);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_download(s->z, normalizer, normalizer_bytes);
    if (st == DVK_SUCCESS)
        transpose_heads(s, t, state);
    free(t);
    return st;
}
