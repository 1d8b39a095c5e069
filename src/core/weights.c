/* dvk_weights: the tensors of a safetensors file, mapped, checked (safetensors.c), converted
 * and loaded onto the device, then found by name. */
#include "core/internal.h"
#include "core/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_BATCH_BYTES ((uint64_t)64 << 20)
#define MEMORY_LABEL "(memory)"
/* Names in messages (see dvk__sft_printable). */
#define NAME_CHARS 84

typedef struct weight {
    dvk_tensor *tensor; /* NULL when there is none */
    dvk_dtype dtype;    /* what the entry loads as */
    bool kept;          /* the filter kept it */
    bool used;
} weight;

struct dvk_weights {
    dvk_context *ctx; /* NULL: host only */
    dvk_allocator alloc;
    char *label;                /* the path, or MEMORY_LABEL */
    const unsigned char *bytes; /* the whole file */
    uint64_t size;
    void *map; /* the mapping of a file (bytes), or NULL */
    size_t map_size;
    void *copy; /* dvk_weights_load_memory's copy (bytes), or NULL */
    sft_header hdr;
    weight *w; /* one per entry, in header order */
};

/* ---- conversions ---------------------------------------------------------------------------- */

/* Element loads go through memcpy because an entry may start at any byte offset. */
static double load_float(sft_dtype d, const unsigned char *p)
{
    switch (d) {
    case SFT_F64: {
        double v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case SFT_F32: {
        float v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case SFT_F16: {
        uint16_t h;
        memcpy(&h, p, sizeof h);
        return dvk_f16_to_f32(h);
    }
    case SFT_BF16: {
        uint16_t h;
        memcpy(&h, p, sizeof h);
        return dvk_bf16_to_f32(h);
    }
    default:
        return 0.0;
    }
}

static int64_t load_int(sft_dtype d, const unsigned char *p)
{
    switch (d) {
    case SFT_I64: {
        int64_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case SFT_I32: {
        int32_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case SFT_I16: {
        int16_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case SFT_I8:
        return (int8_t)p[0];
    case SFT_U8:
        return p[0];
    case SFT_BOOL:
        return p[0] != 0;
    default:
        return 0;
    }
}

/* An element as f32: F64 rounds once to f32, as everything else that becomes f32 does. */
static float load_f32(sft_dtype d, const unsigned char *p)
{
    return dvk__sft_is_float(d) ? (float)load_float(d, p) : (float)load_int(d, p);
}

/* An element as int32 into *out, or false when it does not fit (or, for a float entry, is not
 * an integer). */
static bool load_i32(sft_dtype d, const unsigned char *p, int32_t *out)
{
    if (dvk__sft_is_float(d)) {
        const double v = load_float(d, p);
        /* Written so that NaN fails too. */
        if (!(v >= (double)INT32_MIN && v <= (double)INT32_MAX) || v != floor(v))
            return false;
        *out = (int32_t)v;
        return true;
    }
    const int64_t v = load_int(d, p);
    if (v < INT32_MIN || v > INT32_MAX)
        return false;
    *out = (int32_t)v;
    return true;
}

/* Converts an entry's `numel` elements at src into dst as `to`. For to = I32, *bad is set to
 * the first element that does not fit, and false is returned; everything else succeeds. */
static bool convert(sft_dtype from, const unsigned char *src, uint64_t numel, dvk_dtype to,
                    void *dst, uint64_t *bad)
{
    if (numel == 0) /* dst may be NULL */
        return true;
    const size_t in = dvk__sft_dtype_size(from);
    const bool same = (from == SFT_F32 && to == DVK_DTYPE_F32) ||
                      (from == SFT_F16 && to == DVK_DTYPE_F16) ||
                      (from == SFT_BF16 && to == DVK_DTYPE_BF16) ||
                      (from == SFT_I32 && to == DVK_DTYPE_I32);
    if (same) {
        memcpy(dst, src, (size_t)(numel * in));
        return true;
    }
    unsigned char *out = dst;
    for (uint64_t i = 0; i < numel; ++i) {
        const unsigned char *p = src + i * in;
        switch (to) {
        case DVK_DTYPE_F16: {
            const uint16_t h = dvk_f32_to_f16(load_f32(from, p));
            memcpy(out + i * 2, &h, 2);
            break;
        }
        case DVK_DTYPE_BF16: {
            const uint16_t h = dvk_f32_to_bf16(load_f32(from, p));
            memcpy(out + i * 2, &h, 2);
            break;
        }
        case DVK_DTYPE_I32: {
            int32_t v;
            if (!load_i32(from, p, &v)) {
                *bad = i;
                return false;
            }
            memcpy(out + i * 4, &v, 4);
            break;
        }
        default: {
            const float f = load_f32(from, p);
            memcpy(out + i * 4, &f, 4);
            break;
        }
        }
    }
    return true;
}

/* ---- lookups and messages ------------------------------------------------------------------- */

static const unsigned char *entry_data(const dvk_weights *w, const sft_entry *e)
{
    return w->bytes + w->hdr.data_offset + e->begin;
}

static const char *shown(const char *name, char *buf)
{
    return dvk__sft_printable(name, buf, NAME_CHARS);
}

static void shape_str(uint32_t ndim, const uint64_t *shape, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (uint32_t i = 0; i < ndim && n < len; ++i) {
        if (shape[i] == UINT64_MAX)
            n += (size_t)snprintf(buf + n, len - n, "%s*", i ? "," : "");
        else
            n += (size_t)snprintf(buf + n, len - n, "%s%" PRIu64, i ? "," : "", shape[i]);
    }
    if (n < len)
        snprintf(buf + n, len - n, "]");
}

/* The entry called `name`, or NOT_FOUND naming it and the file. */
static dvk_status lookup(const dvk_weights *w, const char *name, uint32_t *out)
{
    if (!w || !name)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", w ? "name" : "weights");
    const uint32_t i = dvk__sft_find(&w->hdr, name);
    if (i == UINT32_MAX) {
        char buf[NAME_CHARS];
        return dvk__fail(DVK_ERROR_NOT_FOUND, "%s has no tensor '%s'", w->label,
                         shown(name, buf));
    }
    *out = i;
    return DVK_SUCCESS;
}

/* ---- loading -------------------------------------------------------------------------------- */

static bool is_float_dtype(dvk_dtype d)
{
    return d == DVK_DTYPE_F32 || d == DVK_DTYPE_F16 || d == DVK_DTYPE_BF16;
}

/* Whether an entry can be a dvk_tensor. */
static bool loadable(const sft_entry *e) { return e->ndim <= DVK_MAX_DIMS && e->numel > 0; }

/* Decides which entries are loaded and as what. */
static dvk_status plan(dvk_weights *w, const dvk_weights_desc *desc)
{
    const bool fp16 = !w->ctx || w->ctx->info.fp16_storage;
    for (uint32_t i = 0; i < w->hdr.count; ++i) {
        const sft_entry *e = &w->hdr.entries[i];
        weight *x = &w->w[i];
        x->kept = !desc->filter || desc->filter(desc->user_data, e->name);
        if (!dvk__sft_is_float(e->dtype)) {
            x->dtype = DVK_DTYPE_I32;
            continue;
        }
        dvk_dtype d = desc->dtype;
        if (d == DVK_DTYPE_DEFAULT)
            d = e->dtype == SFT_F16 ? DVK_DTYPE_F16
                : e->dtype == SFT_BF16 ? DVK_DTYPE_BF16 : DVK_DTYPE_F32;
        if (x->kept && desc->tensor_dtype) {
            const dvk_dtype chosen = desc->tensor_dtype(desc->user_data, e->name, d);
            if (chosen != DVK_DTYPE_DEFAULT && !is_float_dtype(chosen)) {
                char buf[NAME_CHARS];
                return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                                 "%s: tensor '%s': tensor_dtype chose %s (%d), not f32, f16 or "
                                 "bf16",
                                 w->label, shown(e->name, buf), dvk_dtype_name(chosen),
                                 (int)chosen);
            }
            if (chosen != DVK_DTYPE_DEFAULT)
                d = chosen;
        }
        if (!fp16 && d != DVK_DTYPE_F32)
            d = DVK_DTYPE_F32;
        x->dtype = d;
    }
    return DVK_SUCCESS;
}

/* Integers that will not fit int32 are found before any tensor is made. Only I64 can hold
 * them. */
static dvk_status check_int_ranges(const dvk_weights *w)
{
    for (uint32_t i = 0; i < w->hdr.count; ++i) {
        const sft_entry *e = &w->hdr.entries[i];
        if (!w->w[i].kept || !loadable(e) || e->dtype != SFT_I64)
            continue;
        const unsigned char *p = entry_data(w, e);
        for (uint64_t j = 0; j < e->numel; ++j) {
            const int64_t v = load_int(SFT_I64, p + j * 8);
            if (v < INT32_MIN || v > INT32_MAX) {
                char buf[NAME_CHARS];
                return dvk__fail(DVK_ERROR_FORMAT,
                                 "%s: tensor '%s': element %" PRIu64 " is %" PRId64
                                 ", outside int32's range",
                                 w->label, shown(e->name, buf), j, v);
            }
        }
    }
    return DVK_SUCCESS;
}

/* Puts the file and the tensor's name in front of the current error. */
static dvk_status name_failure(const dvk_weights *w, const sft_entry *e, dvk_status st)
{
    char prefix[512], buf[NAME_CHARS];
    snprintf(prefix, sizeof prefix, "%s: tensor '%s': ", w->label, shown(e->name, buf));
    return dvk__fail_prefix(st, prefix);
}

static dvk_status create_tensors(dvk_weights *w)
{
    for (uint32_t i = 0; i < w->hdr.count; ++i) {
        const sft_entry *e = &w->hdr.entries[i];
        if (!w->w[i].kept || !loadable(e))
            continue;
        dvk_tensor_desc td = {.dtype = w->w[i].dtype, .ndim = e->ndim};
        for (uint32_t d = 0; d < e->ndim; ++d)
            td.shape[d] = e->shape[d];
        const dvk_status st = dvk_tensor_create(w->ctx, &td, &w->w[i].tensor);
        if (st != DVK_SUCCESS)
            return name_failure(w, e, st);
    }
    return DVK_SUCCESS;
}

static void convert_entry(const dvk_weights *w, uint32_t i, void *dst)
{
    const sft_entry *e = &w->hdr.entries[i];
    uint64_t bad = 0;
    /* Cannot fail: the only failure, an integer outside int32, was ruled out before. */
    (void)convert(e->dtype, entry_data(w, e), e->numel, w->w[i].dtype, dst, &bad);
}

static dvk_status submit_batch(dvk_cmd *cmd)
{
    DVK_TRY(dvk_cmd_submit(cmd));
    DVK_TRY(dvk_cmd_wait(cmd, 0));
    return dvk_cmd_reset(cmd);
}

/* Devices without unified memory: each tensor converted into staging memory, one submission
 * per batch of about batch_bytes. */
static dvk_status upload_staged(dvk_weights *w, uint64_t batch_bytes)
{
    dvk_cmd *cmd = NULL;
    DVK_TRY(dvk_cmd_create(w->ctx, NULL, &cmd));
    uint64_t pending = 0;
    dvk_status st = DVK_SUCCESS;
    for (uint32_t i = 0; i < w->hdr.count && st == DVK_SUCCESS; ++i) {
        dvk_tensor *t = w->w[i].tensor;
        if (!t)
            continue;
        if (pending > 0 && (t->bytes > batch_bytes || pending > batch_bytes - t->bytes)) {
            st = submit_batch(cmd);
            pending = 0;
            if (st != DVK_SUCCESS)
                break;
        }
        void *staging = NULL;
        st = dvk__cmd_upload_map(cmd, t, &staging);
        if (st != DVK_SUCCESS) {
            st = name_failure(w, &w->hdr.entries[i], st);
            break;
        }
        convert_entry(w, i, staging);
        pending += t->bytes;
    }
    if (st == DVK_SUCCESS && pending > 0) {
        st = dvk_cmd_submit(cmd);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_wait(cmd, 0);
    }
    dvk_cmd_destroy(cmd);
    return st;
}

static dvk_status upload(dvk_weights *w, const dvk_weights_desc *desc)
{
    const char *env = getenv("DVK_WEIGHTS_STAGED");
    const bool force_staged = env && strcmp(env, "1") == 0;
    bool all_mapped = true;
    for (uint32_t i = 0; i < w->hdr.count; ++i)
        if (w->w[i].tensor && !w->w[i].tensor->mapped)
            all_mapped = false;
    if (all_mapped && !force_staged) { /* unified memory: host-visible and coherent */
        for (uint32_t i = 0; i < w->hdr.count; ++i)
            if (w->w[i].tensor)
                convert_entry(w, i, w->w[i].tensor->mapped);
        return DVK_SUCCESS;
    }
    return upload_staged(w, desc->upload_batch_bytes ? desc->upload_batch_bytes
                                                     : DEFAULT_BATCH_BYTES);
}

static dvk_status load_checked(dvk_weights *w, const dvk_weights_desc *desc)
{
    if (desc->dtype != DVK_DTYPE_DEFAULT && !is_float_dtype(desc->dtype))
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "dvk_weights_desc.dtype is %s (%d), not f32, f16, bf16 or default",
                         dvk_dtype_name(desc->dtype), (int)desc->dtype);
    DVK_TRY(dvk__sft_parse(&w->alloc, w->bytes, w->size, w->label, &w->hdr));
    w->w = dvk__alloc(&w->alloc, (size_t)(w->hdr.count ? w->hdr.count : 1) * sizeof *w->w);
    if (!w->w)
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", w->label);
    DVK_TRY(plan(w, desc));
    if (!w->ctx)
        return DVK_SUCCESS;
    DVK_TRY(check_int_ranges(w));
    DVK_TRY(create_tensors(w));
    return upload(w, desc);
}

static dvk_status weights_new(dvk_context *ctx, const char *label, dvk_weights **out)
{
    const dvk_allocator alloc = dvk__allocator_or_default(ctx ? &ctx->alloc : NULL);
    dvk_weights *w = dvk__alloc(&alloc, sizeof *w);
    const size_t n = strlen(label) + 1;
    char *copy = dvk__alloc(&alloc, n);
    if (!w || !copy) {
        dvk__free(&alloc, w);
        dvk__free(&alloc, copy);
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    memcpy(copy, label, n);
    w->ctx = ctx;
    w->alloc = alloc;
    w->label = copy;
    w->hdr.alloc = alloc;
    *out = w;
    return DVK_SUCCESS;
}

static dvk_status finish(dvk_weights *w, const dvk_weights_desc *desc, dvk_weights **out)
{
    const dvk_weights_desc defaults = {0};
    const dvk_status st = load_checked(w, desc ? desc : &defaults);
    if (st != DVK_SUCCESS) {
        dvk_weights_destroy(w);
        return st;
    }
    *out = w;
    return DVK_SUCCESS;
}

/* Maps a regular file read-only. Sets w->bytes, size and map. */
static dvk_status map_file(dvk_weights *w, const char *path)
{
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever;
     * this way it opens at once and is refused below as not a regular file. */
    const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return dvk__fail(DVK_ERROR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        const int e = errno;
        close(fd);
        return dvk__fail(DVK_ERROR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    /* A directory, a device (/dev/zero maps as endless zeros) or a pipe has no fixed size to
     * check the header against. */
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return dvk__fail(DVK_ERROR_IO, "%s: not a regular file (%s)", path,
                         S_ISDIR(sb.st_mode) ? "a directory" : "a device, pipe or socket");
    }
    if (sb.st_size < 0 || (uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return dvk__fail(DVK_ERROR_IO, "%s: too large to map", path);
    }
    w->size = (uint64_t)sb.st_size;
    if (w->size == 0) { /* mmap refuses empty ranges; the parser refuses the empty file */
        close(fd);
        w->bytes = (const unsigned char *)"";
        return DVK_SUCCESS;
    }
    void *p = mmap(NULL, (size_t)w->size, PROT_READ, MAP_PRIVATE, fd, 0);
    const int e = errno;
    close(fd); /* the mapping keeps the file */
    if (p == MAP_FAILED)
        return dvk__fail(DVK_ERROR_IO, "%s: cannot map: %s", path, strerror(e));
    w->map = p;
    w->map_size = (size_t)w->size;
    w->bytes = p;
    return DVK_SUCCESS;
}

dvk_status dvk_weights_load(dvk_context *ctx, const char *path, const dvk_weights_desc *desc,
                            dvk_weights **out)
{
    if (!out)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "out_weights is NULL");
    *out = NULL;
    if (!path)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "path is NULL");
    dvk_weights *w = NULL;
    DVK_TRY(weights_new(ctx, path, &w));
    const dvk_status st = map_file(w, path);
    if (st != DVK_SUCCESS) {
        dvk_weights_destroy(w);
        return st;
    }
    return finish(w, desc, out);
}

dvk_status dvk_weights_load_memory(dvk_context *ctx, const void *data, size_t size,
                                   const dvk_weights_desc *desc, dvk_weights **out)
{
    if (!out)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "out_weights is NULL");
    *out = NULL;
    if (!data && size > 0)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "data is NULL");
    dvk_weights *w = NULL;
    DVK_TRY(weights_new(ctx, MEMORY_LABEL, &w));
    w->copy = dvk__alloc(&w->alloc, size ? size : 1);
    if (!w->copy) {
        dvk_weights_destroy(w);
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for a copy of %zu "
                         "bytes", size);
    }
    if (size > 0)
        memcpy(w->copy, data, size);
    w->bytes = w->copy;
    w->size = size;
    return finish(w, desc, out);
}

void dvk_weights_destroy(dvk_weights *w)
{
    if (!w)
        return;
    if (w->w)
        for (uint32_t i = 0; i < w->hdr.count; ++i)
            dvk_tensor_destroy(w->w[i].tensor);
    const dvk_allocator alloc = w->alloc;
    dvk__free(&alloc, w->w);
    dvk__sft_free(&w->hdr);
    if (w->map)
        munmap(w->map, w->map_size);
    dvk__free(&alloc, w->copy);
    dvk__free(&alloc, w->label);
    dvk__free(&alloc, w);
}

/* ---- queries -------------------------------------------------------------------------------- */

uint32_t dvk_weights_count(const dvk_weights *w) { return w ? w->hdr.count : 0; }

const char *dvk_weights_name(const dvk_weights *w, uint32_t i)
{
    return w && i < w->hdr.count ? w->hdr.entries[i].name : NULL;
}

dvk_status dvk_weights_find(const dvk_weights *w, const char *name, dvk_weights_entry *out)
{
    if (!out)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "out_entry is NULL");
    uint32_t i = 0;
    DVK_TRY(lookup(w, name, &i));
    const sft_entry *e = &w->hdr.entries[i];
    *out = (dvk_weights_entry){
        .name = e->name,
        .file_dtype = dvk__sft_dtype_name(e->dtype),
        .dtype = w->w[i].dtype,
        .ndim = e->ndim,
        .numel = e->numel,
        .loaded = w->w[i].tensor != NULL,
        .used = w->w[i].used,
    };
    for (uint32_t d = 0; d < e->ndim; ++d)
        out->shape[d] = e->shape[d];
    return DVK_SUCCESS;
}

/* get and expect: the name (kept by the filter), then the shape when asked, then the tensor. */
static dvk_status get_checked(dvk_weights *w, const char *name, bool check_shape, uint32_t ndim,
                              const uint64_t *shape, dvk_tensor **out)
{
    if (out)
        *out = NULL;
    uint32_t i = 0;
    DVK_TRY(lookup(w, name, &i));
    const sft_entry *e = &w->hdr.entries[i];
    char buf[NAME_CHARS];
    if (!w->w[i].kept)
        return dvk__fail(DVK_ERROR_NOT_FOUND, "%s: tensor '%s' was left out by the filter",
                         w->label, shown(name, buf));
    if (check_shape) {
        bool same = e->ndim == ndim;
        for (uint32_t d = 0; same && d < ndim; ++d)
            same = shape[d] == UINT64_MAX || shape[d] == e->shape[d];
        if (!same) {
            char have[256], want[256];
            shape_str(e->ndim, e->shape, have, sizeof have);
            shape_str(ndim, shape, want, sizeof want);
            return dvk__fail(DVK_ERROR_SHAPE_MISMATCH, "%s: tensor '%s': shape %s, expected %s",
                             w->label, shown(name, buf), have, want);
        }
    }
    if (out) {
        if (!w->ctx)
            return dvk__fail(DVK_ERROR_INVALID_STATE,
                             "%s: tensor '%s': loaded without a context, so there are no device "
                             "tensors",
                             w->label, shown(name, buf));
        if (!w->w[i].tensor) {
            char have[256];
            shape_str(e->ndim, e->shape, have, sizeof have);
            return dvk__fail(DVK_ERROR_UNSUPPORTED,
                             "%s: tensor '%s' of shape %s has no device tensor (%s)", w->label,
                             shown(name, buf), have,
                             e->numel == 0 ? "no elements" : "more than 4 dimensions");
        }
        *out = w->w[i].tensor;
    }
    w->w[i].used = true;
    return DVK_SUCCESS;
}

dvk_status dvk_weights_get(dvk_weights *w, const char *name, dvk_tensor **out)
{
    return get_checked(w, name, false, 0, NULL, out);
}

dvk_status dvk_weights_expect(dvk_weights *w, const char *name, uint32_t ndim,
                              const uint64_t *shape, dvk_tensor **out)
{
    if (out)
        *out = NULL;
    if (ndim > DVK_WEIGHTS_MAX_DIMS || (ndim > 0 && !shape))
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         ndim > DVK_WEIGHTS_MAX_DIMS ? "expected ndim %u exceeds %d"
                                                     : "shape is NULL for ndim %u (max %d)",
                         ndim, DVK_WEIGHTS_MAX_DIMS);
    return get_checked(w, name, true, ndim, shape, out);
}

dvk_status dvk_weights_check_all_used(const dvk_weights *w)
{
    if (!w)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "weights is NULL");
    for (uint32_t i = 0; i < w->hdr.count; ++i) {
        if (w->w[i].kept && !w->w[i].used) {
            char buf[NAME_CHARS];
            return dvk__fail(DVK_ERROR_FORMAT, "unexpected tensor '%s' in %s",
                             shown(w->hdr.entries[i].name, buf), w->label);
        }
    }
    return DVK_SUCCESS;
}

const char *dvk_weights_metadata(const dvk_weights *w, const char *key)
{
    return w && key ? dvk__sft_metadata(&w->hdr, key) : NULL;
}

dvk_status dvk_weights_read(const dvk_weights *w, const char *name, dvk_dtype dtype, void *dst,
                            size_t bytes)
{
    uint32_t i = 0;
    DVK_TRY(lookup(w, name, &i));
    const sft_entry *e = &w->hdr.entries[i];
    char buf[NAME_CHARS];
    if (dtype != DVK_DTYPE_F32 && dtype != DVK_DTYPE_I32)
        return dvk__fail(DVK_ERROR_UNSUPPORTED_DTYPE,
                         "%s: tensor '%s': read as %s, but only f32 and i32 are offered",
                         w->label, shown(name, buf), dvk_dtype_name(dtype));
    if (e->numel > SIZE_MAX / 4 || bytes != e->numel * 4)
        return dvk__fail(DVK_ERROR_SHAPE_MISMATCH,
                         "%s: tensor '%s': read of %zu bytes, but its %" PRIu64
                         " elements take %" PRIu64 " as %s",
                         w->label, shown(name, buf), bytes, e->numel, e->numel * 4,
                         dvk_dtype_name(dtype));
    if (bytes > 0 && !dst)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "dst is NULL");
    uint64_t bad = 0;
    if (!convert(e->dtype, entry_data(w, e), e->numel, dtype, dst, &bad)) {
        const unsigned char *p = entry_data(w, e) + bad * dvk__sft_dtype_size(e->dtype);
        if (dvk__sft_is_float(e->dtype))
            return dvk__fail(DVK_ERROR_FORMAT,
                             "%s: tensor '%s': element %" PRIu64 " is %.17g, not an integer "
                             "that int32 holds",
                             w->label, shown(name, buf), bad, load_float(e->dtype, p));
        return dvk__fail(DVK_ERROR_FORMAT,
                         "%s: tensor '%s': element %" PRIu64 " is %" PRId64
                         ", outside int32's range",
                         w->label, shown(name, buf), bad, load_int(e->dtype, p));
    }
    return DVK_SUCCESS;
}
