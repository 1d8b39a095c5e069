/* Shared helpers of the models level (see models.h): views kept for one recording, scratch and
 * host-converted tensors, and the small safetensors writer of state files. */
/* realpath (a state file that is a symbolic link: the file it names is replaced) is X/Open. */
#define _XOPEN_SOURCE 700

#include "models/models.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Writes all n bytes (write may take fewer, or be interrupted). */
static bool write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        const ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = EIO;
            return false;
        }
        b += k;
        n -= (size_t)k;
    }
    return true;
}

/* A new file beside the file `path` names (a link followed), for a rename over it once
 * written: an existing target must be a regular file. Returns the descriptor with *target and
 * *tmp (malloc'd), or -1 with *st set. */
static int open_beside(const char *path, char **target, char **tmp, dvk_status *st)
{
    struct stat sb;
    const bool exists = stat(path, &sb) == 0;
    if (exists && !S_ISREG(sb.st_mode)) {
        *st = dvk_set_error(DVK_ERROR_IO, "%s exists and is not a regular file; not replaced",
                            path);
        return -1;
    }
    /* rename() would replace a read-only file too: refused, as writing it in place would be */
    if (exists && access(path, W_OK) != 0) {
        *st = dvk_set_error(DVK_ERROR_IO, "%s is not writable: %s; not replaced", path,
                            strerror(errno));
        return -1;
    }
    *target = exists ? realpath(path, NULL) : NULL;
    if (!*target) {
        const size_t n = strlen(path) + 1;
        *target = malloc(n);
        if (*target)
            memcpy(*target, path, n);
    }
    const size_t len = *target ? strlen(*target) + 64 : 0;
    *tmp = *target ? malloc(len) : NULL;
    if (!*tmp) {
        free(*target);
        *st = dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        return -1;
    }
    const char *slash = strrchr(*target, '/');
    const int dir_len = slash ? (int)(slash - *target) + 1 : 0;
    for (unsigned attempt = 0; attempt < 100; ++attempt) {
        snprintf(*tmp, len, "%.*s.%s.tmp%ld.%u", dir_len, *target,
                 slash ? slash + 1 : *target, (long)getpid(), attempt);
        const int fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            if (exists)
                (void)fchmod(fd, sb.st_mode & 07777);
            return fd;
        }
        if (errno != EEXIST)
            break;
    }
    *st = dvk_set_error(DVK_ERROR_IO, "cannot create %s (a file beside it): %s", path,
                        strerror(errno));
    free(*tmp);
    free(*target);
    return -1;
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
    dvk_status st = DVK_SUCCESS;
    char *target = NULL, *tmp = NULL;
    const int fd = open_beside(path, &target, &tmp, &st);
    if (fd < 0) {
        free(h.p);
        return st;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; ++i)
        len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    bool ok = write_all(fd, len8, 8) && write_all(fd, h.p, h.len);
    for (uint32_t i = 0; ok && i < n_tensors; ++i) {
        uint64_t n = 1;
        for (uint32_t d = 0; d < tensors[i].ndim; ++d)
            n *= tensors[i].shape[d];
        ok = write_all(fd, tensors[i].data, (size_t)n * sizeof(float));
    }
    /* synced before the name points at it: the old file or the new one, never half of one */
    ok = ok && fsync(fd) == 0;
    int err = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (ok && rename(tmp, target) != 0) {
        ok = false;
        err = errno;
    }
    free(h.p);
    if (!ok) {
        unlink(tmp);
        st = dvk_set_error(DVK_ERROR_IO, "writing %s failed: %s (left as it was)", path,
                           strerror(err));
    }
    free(tmp);
    free(target);
    return st;
}
