/* RWKV-7 sessions: the state tensors of one sequence, blocking helpers (reset, copy, eval), and
 * state files (written by dvk__md_st_write, read back through dvk_weights without a device). */
#include "models/rwkv7/rwkv7.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_FORMAT "deltavk-rwkv7-state"
#define STATE_VERSION "1"

static const char *const part_names[3] = {"att.shift", "att.wkv", "ffn.shift"};

/* The shape of state part p (0, 1, 2). */
static uint32_t part_shape(const dvk_rwkv7_info *in, uint32_t p, uint64_t shape[DVK_MAX_DIMS])
{
    if (p == 1) {
        shape[0] = 1;
        shape[1] = in->n_head;
        shape[2] = in->head_size;
        shape[3] = in->head_size;
        return 4;
    }
    shape[0] = 1;
    shape[1] = in->n_embd;
    return 2;
}

static uint64_t part_numel(const dvk_rwkv7_info *in, uint32_t p)
{
    uint64_t shape[DVK_MAX_DIMS], n = 1;
    const uint32_t nd = part_shape(in, p, shape);
    for (uint32_t i = 0; i < nd; ++i)
        n *= shape[i];
    return n;
}

void dvk_rwkv7_session_destroy(dvk_rwkv7_session *s)
{
    if (!s)
        return;
    dvk_cmd_destroy(s->cmd);
    if (s->state)
        for (uint32_t i = 0; i < 3 * s->model->info.n_layer; ++i)
            dvk_tensor_destroy(s->state[i]);
    free(s->state);
    free(s);
}

dvk_status dvk_rwkv7_session_create(dvk_rwkv7_model *model, dvk_rwkv7_session **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_session is NULL");
    *out = NULL;
    if (!model)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "model is NULL");
    dvk_rwkv7_session *s = calloc(1, sizeof *s);
    if (!s)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    s->model = model;
    const uint32_t n = 3 * model->info.n_layer;
    s->state = calloc(n, sizeof *s->state);
    dvk_status st = s->state ? DVK_SUCCESS
                             : dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t i = 0; st == DVK_SUCCESS && i < n; ++i) {
        dvk_tensor_desc d = {.dtype = DVK_DTYPE_F32};
        d.ndim = part_shape(&model->info, i % 3, d.shape);
        st = dvk_tensor_create(model->ctx, &d, &s->state[i]);
    }
    if (st == DVK_SUCCESS)
        st = dvk_rwkv7_session_reset(s);
    if (st != DVK_SUCCESS) {
        dvk_rwkv7_session_destroy(s);
        return st;
    }
    *out = s;
    return DVK_SUCCESS;
}

dvk_rwkv7_model *dvk_rwkv7_session_model(const dvk_rwkv7_session *s)
{
    return s ? s->model : NULL;
}

dvk_tensor *dvk_rwkv7_session_state(const dvk_rwkv7_session *s, uint32_t layer,
                                    dvk_rwkv7_state_part part)
{
    if (!s || layer >= s->model->info.n_layer || part < 0 || part > DVK_RWKV7_FFN_SHIFT)
        return NULL;
    return s->state[3 * layer + (uint32_t)part];
}

/* The session's own recording, reset and ready. */
static dvk_status own_cmd(dvk_rwkv7_session *s)
{
    if (!s->cmd)
        return dvk_cmd_create(s->model->ctx, NULL, &s->cmd);
    return dvk_cmd_reset(s->cmd);
}

static dvk_status run_own_cmd(dvk_rwkv7_session *s)
{
    MD_TRY(dvk_cmd_submit(s->cmd));
    return dvk_cmd_wait(s->cmd, 0);
}

dvk_status dvk_rwkv7_session_reset(dvk_rwkv7_session *s)
{
    if (!s)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "session is NULL");
    MD_TRY(own_cmd(s));
    for (uint32_t i = 0; i < 3 * s->model->info.n_layer; ++i)
        MD_TRY(dvk_cmd_fill_zero(s->cmd, s->state[i]));
    return run_own_cmd(s);
}

/* Every state tensor of s downloaded into one host array (part order, layer by layer). */
static dvk_status download_all(const dvk_rwkv7_session *s, float **out, uint64_t *out_n)
{
    const dvk_rwkv7_info *in = &s->model->info;
    uint64_t total = 0;
    for (uint32_t p = 0; p < 3; ++p)
        total += part_numel(in, p);
    total *= in->n_layer;
    float *buf = malloc((size_t)total * sizeof *buf);
    if (!buf)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    uint64_t at = 0;
    for (uint32_t i = 0; i < 3 * in->n_layer; ++i) {
        const uint64_t n = part_numel(in, i % 3);
        const dvk_status st = dvk_tensor_download(s->state[i], buf + at, (size_t)n * sizeof *buf);
        if (st != DVK_SUCCESS) {
            free(buf);
            return st;
        }
        at += n;
    }
    *out = buf;
    *out_n = total;
    return DVK_SUCCESS;
}

static dvk_status upload_all(dvk_rwkv7_session *s, const float *buf)
{
    const dvk_rwkv7_info *in = &s->model->info;
    uint64_t at = 0;
    for (uint32_t i = 0; i < 3 * in->n_layer; ++i) {
        const uint64_t n = part_numel(in, i % 3);
        MD_TRY(dvk_tensor_upload(s->state[i], buf + at, (size_t)n * sizeof *buf));
        at += n;
    }
    return DVK_SUCCESS;
}

dvk_status dvk_rwkv7_session_copy(dvk_rwkv7_session *dst, const dvk_rwkv7_session *src)
{
    if (!dst || !src)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", dst ? "src" : "dst");
    if (dst->model != src->model)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "the sessions belong to different models");
    if (dst == src)
        return DVK_SUCCESS;
    float *buf;
    uint64_t n;
    MD_TRY(download_all(src, &buf, &n));
    const dvk_status st = upload_all(dst, buf);
    free(buf);
    return st;
}

dvk_status dvk_rwkv7_session_save(dvk_rwkv7_session *s, const char *path)
{
    if (!s || !path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", s ? "path" : "session");
    const dvk_rwkv7_info *in = &s->model->info;
    float *buf;
    uint64_t total;
    MD_TRY(download_all(s, &buf, &total));
    const uint32_t n = 3 * in->n_layer;
    md_st_tensor *t = calloc(n, sizeof *t);
    char *names = calloc(n, 48);
    dvk_status st = DVK_SUCCESS;
    if (!t || !names) {
        st = dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    } else {
        uint64_t at = 0;
        for (uint32_t i = 0; i < n; ++i) {
            snprintf(names + 48 * (size_t)i, 48, "blocks.%u.%s", i / 3, part_names[i % 3]);
            t[i].name = names + 48 * (size_t)i;
            t[i].ndim = part_shape(in, i % 3, t[i].shape);
            t[i].data = buf + at;
            at += part_numel(in, i % 3);
        }
        char nl[16], ne[16], hs[16];
        snprintf(nl, sizeof nl, "%u", in->n_layer);
        snprintf(ne, sizeof ne, "%u", in->n_embd);
        snprintf(hs, sizeof hs, "%u", in->head_size);
        const md_st_meta meta[] = {{"format", STATE_FORMAT}, {"version", STATE_VERSION},
                                   {"n_layer", nl},          {"n_embd", ne},
                                   {"head_size", hs}};
        st = dvk__md_st_write(path, t, n, meta, sizeof meta / sizeof meta[0]);
    }
    free(names);
    free(t);
    free(buf);
    return st;
}

dvk_status dvk_rwkv7_session_restore(dvk_rwkv7_session *s, const char *path)
{
    if (!s || !path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", s ? "path" : "session");
    const dvk_rwkv7_info *in = &s->model->info;
    dvk_weights *w = NULL;
    MD_TRY(dvk_weights_load(NULL, path, NULL, &w));
    const char *format = dvk_weights_metadata(w, "format");
    dvk_status st = DVK_SUCCESS;
    if (!format || strcmp(format, STATE_FORMAT) != 0)
        st = dvk_set_error(DVK_ERROR_FORMAT,
                           "%s: not an RWKV-7 state file (metadata format %s%s%s)", path,
                           format ? "'" : "", format ? format : "absent", format ? "'" : "");
    uint64_t total = 0;
    for (uint32_t p = 0; p < 3; ++p)
        total += part_numel(in, p);
    total *= in->n_layer;
    float *buf = st == DVK_SUCCESS ? malloc((size_t)total * sizeof *buf) : NULL;
    if (st == DVK_SUCCESS && !buf)
        st = dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    uint64_t at = 0;
    for (uint32_t i = 0; st == DVK_SUCCESS && i < 3 * in->n_layer; ++i) {
        char name[48];
        snprintf(name, sizeof name, "blocks.%u.%s", i / 3, part_names[i % 3]);
        uint64_t shape[DVK_MAX_DIMS];
        const uint32_t nd = part_shape(in, i % 3, shape);
        const uint64_t n = part_numel(in, i % 3);
        st = dvk_weights_expect(w, name, nd, shape, NULL);
        if (st == DVK_SUCCESS)
            st = dvk_weights_read(w, name, DVK_DTYPE_F32, buf + at, (size_t)n * sizeof *buf);
        at += n;
    }
    if (st == DVK_SUCCESS)
        st = dvk_weights_check_all_used(w);
    if (st == DVK_SUCCESS)
        st = upload_all(s, buf);
    free(buf);
    dvk_weights_destroy(w);
    return st;
}

dvk_status dvk_rwkv7_eval(dvk_rwkv7_session *s, const int32_t *tokens, uint32_t n_tokens,
                          float *logits, size_t logits_count)
{
    if (!s)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "session is NULL");
    const uint64_t V = s->model->info.n_vocab;
    const bool last = logits_count == V, all = logits_count == (uint64_t)n_tokens * V;
    if ((logits_count != 0 && !last && !all) || (logits_count != 0) != (logits != NULL))
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "logits_count %zu with logits %s: expected %llu (the last token), "
                             "%llu (every token) or 0 with NULL",
                             logits_count, logits ? "set" : "NULL", (unsigned long long)V,
                             (unsigned long long)n_tokens * V);
    MD_TRY(own_cmd(s));
    dvk_tensor *t = NULL;
    if (logits_count) {
        const uint64_t shape[2] = {last ? 1 : n_tokens, V};
        MD_TRY(dvk__md_scratch(s->cmd, DVK_DTYPE_F32, 2, shape, &t));
    }
    MD_TRY(dvk_rwkv7_forward(s->cmd, s, &(dvk_rwkv7_forward_desc){.tokens = tokens,
                                                                   .n_tokens = n_tokens,
                                                                   .logits = t}));
    if (t)
        MD_TRY(dvk_cmd_download(s->cmd, t, logits, logits_count * sizeof *logits));
    return run_own_cmd(s);
}
