/* Memodo's layer state: the token shift's carried token and each head's matrix state of
 * `batch` sequences, set to the learned initial states, and state files in the package's
 * layouts (written by dvk__md_st_write, read back through dvk_weights without a device). */
#include "models/memodo/memodo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_FORMAT "deltavk-memodo-state"
#define STATE_VERSION "1"

static uint32_t n_tensors(const dvk_memodo_state *s)
{
    return s->layer->info.num_heads + 1;
}

/* Floats of tensor i. */
static uint64_t numel(const dvk_memodo_state *s, uint32_t i)
{
    const uint64_t n = i == 0 ? s->layer->info.num_channels : s->layer->heads[i - 1].F;
    return (uint64_t)s->batch * (i == 0 ? n : n * n);
}

void dvk_memodo_state_destroy(dvk_memodo_state *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i <= DVK_MEMODO_MAX_HEADS; ++i)
        dvk_tensor_destroy(s->t[i]);
    free(s);
}

dvk_status dvk_memodo_state_create(const dvk_memodo_layer *layer, uint32_t batch,
                                   dvk_memodo_state **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_state is NULL");
    *out = NULL;
    if (!layer)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "layer is NULL");
    if (batch == 0)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "batch is 0");
    dvk_memodo_state *s = calloc(1, sizeof *s);
    if (!s)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    s->layer = layer;
    s->batch = batch;
    dvk_status st = DVK_SUCCESS;
    for (uint32_t i = 0; st == DVK_SUCCESS && i < n_tensors(s); ++i) {
        dvk_tensor_desc d = {.dtype = DVK_DTYPE_F32};
        if (i == 0) {
            d.ndim = 2;
            d.shape[0] = batch;
            d.shape[1] = layer->info.num_channels;
        } else {
            d.ndim = 4;
            d.shape[0] = batch;
            d.shape[1] = 1;
            d.shape[2] = d.shape[3] = layer->heads[i - 1].F;
        }
        st = dvk_tensor_create(layer->ctx, &d, &s->t[i]);
    }
    if (st == DVK_SUCCESS)
        st = dvk_memodo_state_reset(s);
    if (st != DVK_SUCCESS) {
        dvk_memodo_state_destroy(s);
        return st;
    }
    *out = s;
    return DVK_SUCCESS;
}

dvk_tensor *dvk_memodo_state_tensor(const dvk_memodo_state *s, uint32_t index)
{
    if (!s || index >= n_tensors(s))
        return NULL;
    return s->t[index];
}

/* Uploads `data` (all tensors' floats, in order) into the state. */
static dvk_status upload_all(dvk_memodo_state *s, const float *data)
{
    for (uint32_t i = 0; i < n_tensors(s); ++i) {
        const uint64_t n = numel(s, i);
        MD_TRY(dvk_tensor_upload(s->t[i], data, (size_t)n * sizeof *data));
        data += n;
    }
    return DVK_SUCCESS;
}

static uint64_t total(const dvk_memodo_state *s)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < n_tensors(s); ++i)
        n += numel(s, i);
    return n;
}

dvk_status dvk_memodo_state_reset(dvk_memodo_state *s)
{
    if (!s)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "state is NULL");
    const dvk_memodo_layer *m = s->layer;
    float *buf = malloc((size_t)total(s) * sizeof *buf), *p = buf;
    if (!buf)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < n_tensors(s); ++i) {
        const float *src = i == 0 ? m->host_lerp_init : m->heads[i - 1].host_init_t;
        const uint64_t n = numel(s, i) / s->batch;
        for (uint32_t b = 0; b < s->batch; ++b, p += n)
            memcpy(p, src, (size_t)n * sizeof *p);
    }
    const dvk_status st = upload_all(s, buf);
    free(buf);
    return st;
}

/* Transposes each [F, F] matrix of a head's [batch, F, F] block, in place (S = Mᵀ both ways). */
static void transpose_heads(const dvk_memodo_state *s, float *buf)
{
    buf += numel(s, 0);
    for (uint32_t i = 1; i < n_tensors(s); ++i) {
        const uint32_t F = s->layer->heads[i - 1].F;
        for (uint32_t b = 0; b < s->batch; ++b, buf += (size_t)F * F)
            for (uint32_t r = 0; r < F; ++r)
                for (uint32_t c = r + 1; c < F; ++c) {
                    const float t = buf[r * F + c];
                    buf[r * F + c] = buf[c * F + r];
                    buf[c * F + r] = t;
                }
    }
}

static void file_shape(const dvk_memodo_state *s, uint32_t i, uint32_t *ndim, uint64_t *shape)
{
    shape[0] = s->batch;
    if (i == 0) {
        *ndim = 2;
        shape[1] = s->layer->info.num_channels;
    } else {
        *ndim = 3;
        shape[1] = shape[2] = s->layer->heads[i - 1].F;
    }
}

dvk_status dvk_memodo_state_save(dvk_memodo_state *s, const char *path)
{
    if (!s || !path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", s ? "path" : "state");
    const uint32_t n = n_tensors(s);
    float *buf = malloc((size_t)total(s) * sizeof *buf);
    md_st_tensor *t = calloc(n, sizeof *t);
    char(*names)[24] = calloc(n, sizeof *names);
    dvk_status st = buf && t && names ? DVK_SUCCESS
                                      : dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY,
                                                      "out of host memory");
    float *p = buf;
    for (uint32_t i = 0; st == DVK_SUCCESS && i < n; ++i) {
        st = dvk_tensor_download(s->t[i], p, (size_t)numel(s, i) * sizeof *p);
        snprintf(names[i], sizeof names[i], "state.%u", i);
        t[i].name = names[i];
        t[i].data = p;
        file_shape(s, i, &t[i].ndim, t[i].shape);
        p += numel(s, i);
    }
    if (st == DVK_SUCCESS) {
        transpose_heads(s, buf);
        const md_st_meta meta[] = {{"format", STATE_FORMAT}, {"version", STATE_VERSION}};
        st = dvk__md_st_write(path, t, n, meta, 2);
    }
    free(buf);
    free(t);
    free(names);
    return st;
}

dvk_status dvk_memodo_state_restore(dvk_memodo_state *s, const char *path)
{
    if (!s || !path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", s ? "path" : "state");
    dvk_weights *w = NULL;
    MD_TRY(dvk_weights_load(NULL, path, NULL, &w));
    const char *format = dvk_weights_metadata(w, "format");
    dvk_status st = DVK_SUCCESS;
    if (format && strcmp(format, STATE_FORMAT) != 0)
        st = dvk_set_error(DVK_ERROR_FORMAT,
                           "%s: not a Memodo layer state file (metadata format '%s')", path,
                           format);
    const uint32_t n = n_tensors(s);
    float *buf = st == DVK_SUCCESS ? malloc((size_t)total(s) * sizeof *buf) : NULL;
    if (st == DVK_SUCCESS && !buf)
        st = dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    char name[24];
    for (uint32_t i = 0; st == DVK_SUCCESS && i < n; ++i) {
        uint32_t ndim;
        uint64_t shape[3];
        file_shape(s, i, &ndim, shape);
        snprintf(name, sizeof name, "state.%u", i);
        st = dvk_weights_expect(w, name, ndim, shape, NULL);
    }
    if (st == DVK_SUCCESS)
        st = dvk_weights_check_all_used(w);
    float *p = buf;
    for (uint32_t i = 0; st == DVK_SUCCESS && i < n; ++i) {
        snprintf(name, sizeof name, "state.%u", i);
        st = dvk_weights_read(w, name, DVK_DTYPE_F32, p, (size_t)numel(s, i) * sizeof *p);
        p += numel(s, i);
    }
    if (st == DVK_SUCCESS) {
        transpose_heads(s, buf);
        st = upload_all(s, buf);
    }
    free(buf);
    dvk_weights_destroy(w);
    return st;
}

/* Floats of one sequence's part of tensor `index`. */
static size_t per_seq(const dvk_memodo_state *s, uint32_t index)
{
    return (size_t)(numel(s, index) / s->batch);
}

static dvk_status check_io(const dvk_memodo_state *s, uint32_t index, const void *p,
                           size_t count, bool upload)
{
    if (!s || !p)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL",
                             s ? (upload ? "src" : "dst") : "state");
    if (index >= n_tensors(s))
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "state index %u: the layer has %u state tensors", index,
                             n_tensors(s));
    const size_t all = (size_t)numel(s, index), one = per_seq(s, index);
    if (count != all && !(upload && count == one))
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "state.%u: %zu floats, expected %zu%s", index, count, all,
                             upload ? " (or one sequence's)" : "");
    return DVK_SUCCESS;
}

/* M <-> S = Mᵀ for each of `n` [F, F] matrices, from src into dst (not overlapping). */
static void transpose_into(float *dst, const float *src, uint32_t F, size_t n)
{
    for (size_t b = 0; b < n; ++b, dst += (size_t)F * F, src += (size_t)F * F)
        for (uint32_t r = 0; r < F; ++r)
            for (uint32_t c = 0; c < F; ++c)
                dst[(size_t)c * F + r] = src[(size_t)r * F + c];
}

dvk_status dvk_memodo_state_download(const dvk_memodo_state *s, uint32_t index, float *dst,
                                     size_t count)
{
    MD_TRY(check_io(s, index, dst, count, false));
    if (index == 0)
        return dvk_tensor_download(s->t[0], dst, count * sizeof *dst);
    float *buf = malloc(count * sizeof *buf);
    if (!buf)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    const dvk_status st = dvk_tensor_download(s->t[index], buf, count * sizeof *buf);
    if (st == DVK_SUCCESS)
        transpose_into(dst, buf, s->layer->heads[index - 1].F, s->batch);
    free(buf);
    return st;
}

dvk_status dvk_memodo_state_upload(dvk_memodo_state *s, uint32_t index, const float *src,
                                   size_t count)
{
    MD_TRY(check_io(s, index, src, count, true));
    const size_t all = (size_t)numel(s, index), one = per_seq(s, index);
    float *buf = malloc(all * sizeof *buf);
    if (!buf)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t b = 0; b < all / one; ++b) {
        const float *from = count == one ? src : src + b * one;
        if (index == 0)
            memcpy(buf + b * one, from, one * sizeof *buf);
        else
            transpose_into(buf + b * one, from, s->layer->heads[index - 1].F, 1);
    }
    const dvk_status st = dvk_tensor_upload(s->t[index], buf, all * sizeof *buf);
    free(buf);
    return st;
}
