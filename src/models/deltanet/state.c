/* The DeltaNet seed's streaming state: per DeltaNet module the q, k, v conv carries, the
 * previous input token and S, plus the host's position; and state files (written by
 * dvk__md_st_write, read back through dvk_weights without a device). */
#include "models/deltanet/deltanet.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_FORMAT "deltavk-deltanet-state"
#define STATE_VERSION "1"

enum { N_PARTS = 5 };
static const char *const part_names[N_PARTS] = {"conv_q", "conv_k", "conv_v", "x_prev",
                                                "recurrent_state"};

static dvk_tensor **part(dn_attn_state *a, int p)
{
    return p < 3 ? &a->conv[p] : p == 3 ? &a->x_prev : &a->S;
}

static uint32_t part_shape(const dvk_deltanet_state *s, int p, uint64_t shape[4])
{
    const uint64_t d = s->layer->info.d_model;
    shape[0] = s->batch;
    if (p < 3) {
        shape[1] = 2;
        shape[2] = d;
        return 3;
    }
    shape[1] = 1;
    shape[2] = d;
    if (p == 3)
        return 3;
    shape[3] = d;
    return 4;
}

void dvk_deltanet_state_destroy(dvk_deltanet_state *s)
{
    if (!s)
        return;
    if (s->attn)
        for (uint32_t i = 0; i < s->layer->info.num_layers; ++i)
            for (int p = 0; p < N_PARTS; ++p)
                dvk_tensor_destroy(*part(&s->attn[i], p));
    free(s->attn);
    free(s);
}

dvk_status dvk_deltanet_state_create(const dvk_deltanet *layer, uint32_t batch,
                                     dvk_deltanet_state **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_state is NULL");
    *out = NULL;
    if (!layer)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "layer is NULL");
    if (batch == 0)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "batch is 0");
    dvk_deltanet_state *s = calloc(1, sizeof *s);
    if (!s)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    s->layer = layer;
    s->batch = batch;
    s->attn = calloc(layer->info.num_layers, sizeof *s->attn);
    dvk_status st = s->attn ? DVK_SUCCESS
                            : dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t i = 0; st == DVK_SUCCESS && i < layer->info.num_layers; ++i)
        for (int p = 0; st == DVK_SUCCESS && p < N_PARTS; ++p) {
            dvk_tensor_desc td = {.dtype = DVK_DTYPE_F32};
            td.ndim = part_shape(s, p, td.shape);
            st = dvk_tensor_create(layer->ctx, &td, part(&s->attn[i], p));
        }
    if (st == DVK_SUCCESS)
        st = dvk_deltanet_state_reset(s);
    if (st != DVK_SUCCESS) {
        dvk_deltanet_state_destroy(s);
        return st;
    }
    *out = s;
    return DVK_SUCCESS;
}

dvk_tensor *dvk_deltanet_state_tensor(const dvk_deltanet_state *s, uint32_t module,
                                      dvk_deltanet_state_part p)
{
    if (!s || module >= s->layer->info.num_layers || (unsigned)p >= N_PARTS)
        return NULL;
    return *part(&s->attn[module], (int)p);
}

uint64_t dvk_deltanet_state_position(const dvk_deltanet_state *s)
{
    return s ? s->position : 0;
}

dvk_status dvk_deltanet_state_reset(dvk_deltanet_state *s)
{
    if (!s)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "state is NULL");
    dvk_cmd *cmd = NULL;
    MD_TRY(dvk_cmd_create(s->layer->ctx, NULL, &cmd));
    dvk_status st = DVK_SUCCESS;
    for (uint32_t i = 0; st == DVK_SUCCESS && i < s->layer->info.num_layers; ++i)
        for (int p = 0; st == DVK_SUCCESS && p < N_PARTS; ++p)
            st = dvk_cmd_fill_zero(cmd, *part(&s->attn[i], p));
    if (st == DVK_SUCCESS)
        st = dvk_cmd_submit(cmd);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_wait(cmd, 0);
    dvk_cmd_destroy(cmd);
    if (st == DVK_SUCCESS) {
        s->position = 0;
        s->flushed = false;
    }
    return st;
}

/* Elements of every state tensor together. */
static uint64_t total(const dvk_deltanet_state *s)
{
    uint64_t n = 0;
    for (int p = 0; p < N_PARTS; ++p)
        n += dvk_tensor_numel(*part(&s->attn[0], p));
    return n * s->layer->info.num_layers;
}

dvk_status dvk_deltanet_state_save(dvk_deltanet_state *s, const char *path)
{
    if (!s || !path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", s ? "path" : "state");
    const uint32_t L = s->layer->info.num_layers, n_t = L * N_PARTS;
    md_st_tensor *t = calloc(n_t, sizeof *t);
    char(*names)[48] = calloc(n_t, sizeof *names);
    float *buf = malloc((size_t)total(s) * sizeof *buf);
    dvk_status st = t && names && buf
                        ? DVK_SUCCESS
                        : dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    float *at = buf;
    for (uint32_t i = 0; st == DVK_SUCCESS && i < L; ++i)
        for (int p = 0; st == DVK_SUCCESS && p < N_PARTS; ++p) {
            md_st_tensor *e = &t[i * N_PARTS + p];
            snprintf(names[i * N_PARTS + p], sizeof names[0], "layers.%u.%s", i, part_names[p]);
            e->name = names[i * N_PARTS + p];
            e->ndim = part_shape(s, p, e->shape);
            const dvk_tensor *src = *part(&s->attn[i], p);
            const uint64_t n = dvk_tensor_numel(src);
            st = dvk_tensor_download(src, at, (size_t)n * sizeof *at);
            e->data = at;
            at += n;
        }
    if (st == DVK_SUCCESS) {
        char pos[32];
        snprintf(pos, sizeof pos, "%" PRIu64, s->position);
        const md_st_meta meta[] = {{"format", STATE_FORMAT},
                                   {"version", STATE_VERSION},
                                   {"position", pos},
                                   {"flushed", s->flushed ? "1" : "0"}};
        st = dvk__md_st_write(path, t, n_t, meta, 4);
    }
    free(t);
    free(names);
    free(buf);
    return st;
}

dvk_status dvk_deltanet_state_restore(dvk_deltanet_state *s, const char *path)
{
    if (!s || !path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", s ? "path" : "state");
    dvk_weights *w = NULL;
    MD_TRY(dvk_weights_load(NULL, path, NULL, &w));
    const char *format = dvk_weights_metadata(w, "format");
    const char *pos = dvk_weights_metadata(w, "position");
    const char *flushed = dvk_weights_metadata(w, "flushed");
    dvk_status st = DVK_SUCCESS;
    char *end = NULL;
    const unsigned long long position = pos ? strtoull(pos, &end, 10) : 0;
    if (!format || strcmp(format, STATE_FORMAT) != 0)
        st = dvk_set_error(DVK_ERROR_FORMAT,
                           "%s: not a DeltaNet state file (metadata format %s%s%s)", path,
                           format ? "'" : "", format ? format : "absent", format ? "'" : "");
    else if (!pos || !end || *end || !flushed || (strcmp(flushed, "0") && strcmp(flushed, "1")))
        st = dvk_set_error(DVK_ERROR_FORMAT,
                           "%s: metadata 'position' (a decimal count) or 'flushed' (0 or 1) is "
                           "missing or malformed",
                           path);
    const uint32_t L = s->layer->info.num_layers;
    float *buf = st == DVK_SUCCESS ? malloc((size_t)total(s) * sizeof *buf) : NULL;
    if (st == DVK_SUCCESS && !buf)
        st = dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    char name[48];
    for (uint32_t i = 0; st == DVK_SUCCESS && i < L; ++i)
        for (int p = 0; st == DVK_SUCCESS && p < N_PARTS; ++p) {
            uint64_t shape[4];
            const uint32_t nd = part_shape(s, p, shape);
            snprintf(name, sizeof name, "layers.%u.%s", i, part_names[p]);
            st = dvk_weights_expect(w, name, nd, shape, NULL);
        }
    if (st == DVK_SUCCESS)
        st = dvk_weights_check_all_used(w);
    float *at = buf;
    for (uint32_t i = 0; st == DVK_SUCCESS && i < L; ++i)
        for (int p = 0; st == DVK_SUCCESS && p < N_PARTS; ++p) {
            const uint64_t n = dvk_tensor_numel(*part(&s->attn[i], p));
            snprintf(name, sizeof name, "layers.%u.%s", i, part_names[p]);
            st = dvk_weights_read(w, name, DVK_DTYPE_F32, at, (size_t)n * sizeof *at);
            at += n;
        }
    at = buf;
    for (uint32_t i = 0; st == DVK_SUCCESS && i < L; ++i)
        for (int p = 0; st == DVK_SUCCESS && p < N_PARTS; ++p) {
            dvk_tensor *dst = *part(&s->attn[i], p);
            const uint64_t n = dvk_tensor_numel(dst);
            st = dvk_tensor_upload(dst, at, (size_t)n * sizeof *at);
            at += n;
        }
    if (st == DVK_SUCCESS) {
        s->position = position;
        s->flushed = strcmp(flushed, "1") == 0;
    }
    free(buf);
    dvk_weights_destroy(w);
    return st;
}
