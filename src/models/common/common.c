/* Shared helpers of the models level (see models.h): views kept for one recording, scratch and
 * host-converted tensors, and the small safetensors writer of state files. */
#include "models/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *dvk__md_dims_str(uint32_t ndim, const uint64_t *dims, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (uint32_t i = 0; i < ndim && n < len; ++i)
        n += (size_t)snprintf(buf + n, len - n, "%s%llu", i ? "," : "",
                              (unsigned long long)dims[i]);
    if (n < len)
        snprintf(buf + n, len - n, "]");
    return buf;
}

dvk_status dvk__md_view(md_views *pool, dvk_tensor *base, uint64_t offset, uint32_t ndim,
                        const uint64_t *shape, dvk_tensor **out)
{
    if (pool->count == pool->cap) {
        const uint32_t cap = pool->cap ? 2 * pool->cap : 32;
        dvk_tensor **v = realloc(pool->v, cap * sizeof *v);
        if (!v)
            return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        pool->v = v;
        pool->cap = cap;
    }
    dvk_tensor_view_desc d = {.offset = offset, .ndim = ndim};
    for (uint32_t i = 0; i < ndim; ++i)
        d.shape[i] = shape[i];
    MD_TRY(dvk_tensor_view(base, &d, out));
    pool->v[pool->count++] = *out;
    return DVK_SUCCESS;
}

void dvk__md_views_clear(md_views *pool)
{
    while (pool->count)
        dvk_tensor_destroy(pool->v[--pool->count]);
}

dvk_status dvk__md_scratch(dvk_cmd *cmd, dvk_dtype dtype, uint32_t ndim, const uint64_t *shape,
                           dvk_tensor **out)
{
    dvk_tensor_desc d = {.dtype = dtype, .ndim = ndim};
    for (uint32_t i = 0; i < ndim; ++i)
        d.shape[i] = shape[i];
    return dvk_cmd_scratch_tensor(cmd, &d, out);
}

dvk_status dvk__md_tensor_from_f32(dvk_context *ctx, dvk_dtype dtype, uint32_t ndim,
                                   const uint64_t *shape, const float *data, dvk_tensor **out)
{
    *out = NULL;
    dvk_tensor_desc d = {.dtype = dtype, .ndim = ndim};
    uint64_t n = 1;
    for (uint32_t i = 0; i < ndim; ++i) {
        d.shape[i] = shape[i];
        n *= shape[i];
    }
    dvk_tensor *t = NULL;
    MD_TRY(dvk_tensor_create(ctx, &d, &t));
    dvk_status st = DVK_SUCCESS;
    if (dtype == DVK_DTYPE_F32 || dtype == DVK_DTYPE_DEFAULT) {
        st = dvk_tensor_upload(t, data, (size_t)n * sizeof(float));
    } else {
        uint16_t *h = malloc((size_t)n * sizeof *h);
        if (!h) {
            st = dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        } else {
            for (uint64_t i = 0; i < n; ++i)
                h[i] = dtype == DVK_DTYPE_F16 ? dvk_f32_to_f16(data[i]) : dvk_f32_to_bf16(data[i]);
            st = dvk_tensor_upload(t, h, (size_t)n * sizeof *h);
            free(h);
        }
    }
    if (st != DVK_SUCCESS) {
        dvk_tensor_destroy(t);
        return st;
    }
    *out = t;
    return DVK_SUCCESS;
}

/* ---- the state files' safetensors writer ---------------------------------------------------- */

/* A growing string. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* A JSON string: quotes, backslashes and control bytes escaped; other bytes as they are (the
 * caller's strings are UTF-8). */
static void sb_json(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; ++s) {
        const unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)&c, 1);
        }
    }
    sb_put(b, "\"", 1);
}

dvk_status dvk__md_st_write(const char *path, const md_st_tensor *tensors, uint32_t n_tensors,
                            const md_st_meta *meta, uint32_t n_meta)
{
    if (!path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "path is NULL");
    sbuf h = {0};
    char num[64];
    sb_str(&h, "{");
    if (n_meta) {
        sb_str(&h, "\"__metadata__\":{");
        for (uint32_t i = 0; i < n_meta; ++i) {
            if (i)
                sb_str(&h, ",");
            sb_json(&h, meta[i].key);
            sb_str(&h, ":");
            sb_json(&h, meta[i].value);
        }
        sb_str(&h, "}");
    }
    uint64_t offset = 0;
    for (uint32_t i = 0; i < n_tensors; ++i) {
        uint64_t n = 1;
        if (i || n_meta)
            sb_str(&h, ",");
        sb_json(&h, tensors[i].name);
        sb_str(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (uint32_t d = 0; d < tensors[i].ndim; ++d) {
            snprintf(num, sizeof num, "%s%llu", d ? "," : "",
                     (unsigned long long)tensors[i].shape[d]);
            sb_str(&h, num);
            n *= tensors[i].shape[d];
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                 (unsigned long long)(offset + 4 * n));
        sb_str(&h, num);
        offset += 4 * n;
    }
    sb_str(&h, "}");
    while (!h.failed && (h.len + 8) % 8) /* the data start 8-byte aligned */
        sb_str(&h, " ");
    if (h.failed) {
        free(h.p);
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(h.p);
        return dvk_set_error(DVK_ERROR_IO, "cannot create %s", path);
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; ++i)
        len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    bool ok = fwrite(len8, 1, 8, f) == 8 && fwrite(h.p, 1, h.len, f) == h.len;
    for (uint32_t i = 0; ok && i < n_tensors; ++i) {
        uint64_t n = 1;
        for (uint32_t d = 0; d < tensors[i].ndim; ++d)
            n *= tensors[i].shape[d];
        ok = fwrite(tensors[i].data, sizeof(float), (size_t)n, f) == (size_t)n;
    }
    ok = fclose(f) == 0 && ok;
    free(h.p);
    if (!ok) {
        remove(path);
        return dvk_set_error(DVK_ERROR_IO, "writing %s failed", path);
    }
    return DVK_SUCCESS;
}
