/* The memories of the Infini-attention layer's state and of the Infini-Transformer's
 * sessions: per attention M [B, H, D, D] and z [B, H, D] fp32, and the count of segments run
 * (kept on the host: whether the next segment has memories to read). State files are written
 * by dvk__md_st_write and read back through dvk_weights without a device. */
#include "models/infini/infini.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_VERSION "1"

static void kv_shape(const infini_memories *m, uint64_t s[4])
{
    s[0] = m->batch;
    s[1] = m->info->heads;
    s[2] = m->info->dim_head;
    s[3] = m->info->dim_head;
}

static void norm_shape(const infini_memories *m, uint64_t s[3])
{
    s[0] = m->batch;
    s[1] = m->info->heads;
    s[2] = m->info->dim_head;
}

dvk_status dvk__infini_memories_init(infini_memories *m, dvk_context *ctx,
                                     const dvk_infini_info *info, uint32_t batch,
                                     uint32_t layers)
{
    *m = (infini_memories){.ctx = ctx, .info = info, .batch = batch, .layers = layers};
    m->kv = calloc(layers, sizeof *m->kv);
    m->norm = calloc(layers, sizeof *m->norm);
    if (!m->kv || !m->norm)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    dvk_tensor_desc dk = {.dtype = DVK_DTYPE_F32, .ndim = 4},
                    dn = {.dtype = DVK_DTYPE_F32, .ndim = 3};
    kv_shape(m, dk.shape);
    norm_shape(m, dn.shape);
    for (uint32_t l = 0; l < layers; ++l) {
        MD_TRY(dvk_tensor_create(ctx, &dk, &m->kv[l]));
        MD_TRY(dvk_tensor_create(ctx, &dn, &m->norm[l]));
    }
    return dvk__infini_memories_reset(m);
}

void dvk__infini_memories_free(infini_memories *m)
{
    for (uint32_t l = 0; l < m->layers; ++l) {
        if (m->kv)
            dvk_tensor_destroy(m->kv[l]);
        if (m->norm)
            dvk_tensor_destroy(m->norm[l]);
    }
    free(m->kv);
    free(m->norm);
    m->kv = m->norm = NULL;
}

dvk_status dvk__infini_memories_reset(infini_memories *m)
{
    dvk_cmd *cmd = NULL;
    MD_TRY(dvk_cmd_create(m->ctx, NULL, &cmd));
    dvk_status st = DVK_SUCCESS;
    for (uint32_t l = 0; st == DVK_SUCCESS && l < m->layers; ++l) {
        st = dvk_cmd_fill_zero(cmd, m->kv[l]);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_fill_zero(cmd, m->norm[l]);
    }
    if (st == DVK_SUCCESS)
        st = dvk_cmd_submit(cmd);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_wait(cmd, 0);
    dvk_cmd_destroy(cmd);
    if (st == DVK_SUCCESS)
        m->segments = 0;
    return st;
}

/* Tensor names: memories.kv / .norm for one attention, memories.<l>.kv / .norm for a model. */
static void names(const infini_memories *m, uint32_t l, char *kv, char *norm, size_t len)
{
    if (m->indexed) {
        snprintf(kv, len, "memories.%u.kv", l);
        snprintf(norm, len, "memories.%u.norm", l);
    } else {
        snprintf(kv, len, "memories.kv");
        snprintf(norm, len, "memories.norm");
    }
}

static void format_name(const char *kind, char *buf, size_t len)
{
    snprintf(buf, len, "deltavk-infini-%s-state", kind);
}

dvk_status dvk__infini_memories_save(const infini_memories *m, const char *kind,
                                     const char *path)
{
    const uint64_t nk = (uint64_t)m->batch * m->info->heads * m->info->dim_head *
                        m->info->dim_head,
                   nn = (uint64_t)m->batch * m->info->heads * m->info->dim_head;
    const size_t per = (size_t)(nk + nn);
    md_st_tensor *t = calloc(2 * (size_t)m->layers, sizeof *t);
    char (*nm)[64] = calloc(2 * (size_t)m->layers, sizeof *nm);
    float *buf = malloc(per * m->layers * sizeof *buf);
    dvk_status st = DVK_SUCCESS;
    if (!t || !nm || !buf)
        st = dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t l = 0; st == DVK_SUCCESS && l < m->layers; ++l) {
        float *kv = buf + per * l, *norm = kv + nk;
        st = dvk_tensor_download(m->kv[l], kv, (size_t)nk * sizeof *kv);
        if (st == DVK_SUCCESS)
            st = dvk_tensor_download(m->norm[l], norm, (size_t)nn * sizeof *norm);
        names(m, l, nm[2 * l], nm[2 * l + 1], sizeof nm[0]);
        t[2 * l] = (md_st_tensor){.name = nm[2 * l], .ndim = 4, .data = kv};
        kv_shape(m, t[2 * l].shape);
        t[2 * l + 1] = (md_st_tensor){.name = nm[2 * l + 1], .ndim = 3, .data = norm};
        norm_shape(m, t[2 * l + 1].shape);
    }
    if (st == DVK_SUCCESS) {
        char format[64], segments[32];
        format_name(kind, format, sizeof format);
        snprintf(segments, sizeof segments, "%" PRIu64, m->segments);
        const md_st_meta meta[] = {{"format", format},
                                   {"version", STATE_VERSION},
                                   {"segments", segments}};
        st = dvk__md_st_write(path, t, 2 * m->layers, meta, 3);
    }
    free(t);
    free(nm);
    free(buf);
    return st;
}

dvk_status dvk__infini_memories_restore(infini_memories *m, const char *kind, const char *path)
{
    dvk_weights *w = NULL;
    MD_TRY(dvk_weights_load(NULL, path, NULL, &w));
    char want[64];
    format_name(kind, want, sizeof want);
    const char *format = dvk_weights_metadata(w, "format");
    const char *segs = dvk_weights_metadata(w, "segments");
    dvk_status st = DVK_SUCCESS;
    if (!format || strcmp(format, want) != 0)
        st = dvk_set_error(DVK_ERROR_FORMAT,
                           "%s: not an Infini-%s state file (metadata format %s%s%s)", path,
                           kind, format ? "'" : "", format ? format : "absent",
                           format ? "'" : "");
    uint64_t segments = 0;
    if (st == DVK_SUCCESS) {
        char *end = NULL;
        segments = segs && *segs ? strtoull(segs, &end, 10) : 0;
        if (!segs || !*segs || *end)
            st = dvk_set_error(DVK_ERROR_FORMAT, "%s: metadata 'segments' %s%s%s is not a count",
                               path, segs ? "'" : "", segs ? segs : "absent", segs ? "'" : "");
    }
    uint64_t sk[4], sn[3];
    kv_shape(m, sk);
    norm_shape(m, sn);
    const uint64_t nk = sk[0] * sk[1] * sk[2] * sk[3], nn = sn[0] * sn[1] * sn[2];
    const size_t per = (size_t)(nk + nn);
    float *buf = st == DVK_SUCCESS ? malloc(per * m->layers * sizeof *buf) : NULL;
    if (st == DVK_SUCCESS && !buf)
        st = dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    char kvn[64], normn[64];
    for (uint32_t l = 0; st == DVK_SUCCESS && l < m->layers; ++l) {
        names(m, l, kvn, normn, sizeof kvn);
        st = dvk_weights_expect(w, kvn, 4, sk, NULL);
        if (st == DVK_SUCCESS)
            st = dvk_weights_expect(w, normn, 3, sn, NULL);
        if (st == DVK_SUCCESS)
            st = dvk_weights_read(w, kvn, DVK_DTYPE_F32, buf + per * l,
                                  (size_t)nk * sizeof *buf);
        if (st == DVK_SUCCESS)
            st = dvk_weights_read(w, normn, DVK_DTYPE_F32, buf + per * l + nk,
                                  (size_t)nn * sizeof *buf);
    }
    if (st == DVK_SUCCESS)
        st = dvk_weights_check_all_used(w);
    for (uint32_t l = 0; st == DVK_SUCCESS && l < m->layers; ++l) {
        st = dvk_tensor_upload(m->kv[l], buf + per * l, (size_t)nk * sizeof *buf);
        if (st == DVK_SUCCESS)
            st = dvk_tensor_upload(m->norm[l], buf + per * l + nk, (size_t)nn * sizeof *buf);
    }
    if (st == DVK_SUCCESS)
        m->segments = segments;
    free(buf);
    dvk_weights_destroy(w);
    return st;
}

/* ---- the attention's state ---------------------------------------------------------------- */

dvk_status dvk_infini_attention_state_create(const dvk_infini_attention *layer, uint32_t batch,
                                             dvk_infini_attention_state **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_state is NULL");
    *out = NULL;
    if (!layer)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "layer is NULL");
    if (batch == 0)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "batch is 0");
    dvk_infini_attention_state *s = calloc(1, sizeof *s);
    if (!s)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    s->layer = layer;
    const dvk_status st = dvk__infini_memories_init(&s->mem, layer->ctx, &layer->info, batch, 1);
    if (st != DVK_SUCCESS) {
        dvk_infini_attention_state_destroy(s);
        return st;
    }
    *out = s;
    return DVK_SUCCESS;
}

void dvk_infini_attention_state_destroy(dvk_infini_attention_state *s)
{
    if (!s)
        return;
    dvk_cmd_destroy(s->cmd);
    dvk__infini_memories_free(&s->mem);
    free(s);
}

dvk_tensor *dvk_infini_attention_state_tensor(const dvk_infini_attention_state *s,
                                              dvk_infini_memory_part part)
{
    if (!s)
        return NULL;
    return part == DVK_INFINI_MEMORY_KV     ? s->mem.kv[0]
           : part == DVK_INFINI_MEMORY_NORM ? s->mem.norm[0]
                                            : NULL;
}

uint64_t dvk_infini_attention_state_segments(const dvk_infini_attention_state *s)
{
    return s ? s->mem.segments : 0;
}

void dvk_infini_attention_state_set_segments(dvk_infini_attention_state *s, uint64_t segments)
{
    if (s)
        s->mem.segments = segments;
}

dvk_status dvk_infini_attention_state_reset(dvk_infini_attention_state *s)
{
    if (!s)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "state is NULL");
    return dvk__infini_memories_reset(&s->mem);
}

dvk_status dvk_infini_attention_state_save(dvk_infini_attention_state *s, const char *path)
{
    if (!s || !path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", s ? "path" : "state");
    return dvk__infini_memories_save(&s->mem, "attention", path);
}

dvk_status dvk_infini_attention_state_restore(dvk_infini_attention_state *s, const char *path)
{
    if (!s || !path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", s ? "path" : "state");
    return dvk__infini_memories_restore(&s->mem, "attention", path);
}

/* ---- the model's sessions ----------------------------------------------------------------- */

dvk_status dvk_infini_transformer_session_create(const dvk_infini_transformer *model,
                                                 uint32_t batch,
                                                 dvk_infini_transformer_session **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_session is NULL");
    *out = NULL;
    if (!model)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "model is NULL");
    if (batch == 0)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "batch is 0");
    dvk_infini_transformer_session *s = calloc(1, sizeof *s);
    if (!s)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    s->model = model;
    const dvk_status st = dvk__infini_memories_init(&s->mem, model->ctx, &model->info, batch,
                                                    model->info.depth);
    s->mem.indexed = true;
    if (st != DVK_SUCCESS) {
        dvk_infini_transformer_session_destroy(s);
        return st;
    }
    *out = s;
    return DVK_SUCCESS;
}

void dvk_infini_transformer_session_destroy(dvk_infini_transformer_session *s)
{
    if (!s)
        return;
    dvk_cmd_destroy(s->cmd);
    dvk__infini_memories_free(&s->mem);
    free(s);
}

dvk_tensor *dvk_infini_transformer_session_state(const dvk_infini_transformer_session *s,
                                                 uint32_t layer, dvk_infini_memory_part part)
{
    if (!s || layer >= s->mem.layers)
        return NULL;
    return part == DVK_INFINI_MEMORY_KV     ? s->mem.kv[layer]
           : part == DVK_INFINI_MEMORY_NORM ? s->mem.norm[layer]
                                            : NULL;
}

uint64_t dvk_infini_transformer_session_segments(const dvk_infini_transformer_session *s)
{
    return s ? s->mem.segments : 0;
}

void dvk_infini_transformer_session_set_segments(dvk_infini_transformer_session *s,
                                                 uint64_t segments)
{
    if (s)
        s->mem.segments = segments;
}

dvk_status dvk_infini_transformer_session_reset(dvk_infini_transformer_session *s)
{
    if (!s)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "session is NULL");
    return dvk__infini_memories_reset(&s->mem);
}

dvk_status dvk_infini_transformer_session_save(dvk_infini_transformer_session *s,
                                               const char *path)
{
    if (!s || !path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", s ? "path" : "session");
    return dvk__infini_memories_save(&s->mem, "transformer", path);
}

dvk_status dvk_infini_transformer_session_restore(dvk_infini_transformer_session *s,
                                                  const char *path)
{
    if (!s || !path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", s ? "path" : "session");
    return dvk__infini_memories_restore(&s->mem, "transformer", path);
}
