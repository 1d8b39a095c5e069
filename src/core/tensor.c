/* dvk_tensor: shape, dtype and a range of device memory (ours, the caller's, or a view of
 * another tensor's). */
#include "core/internal.h"

#include <stdio.h>
#include <string.h>

dvk_status dvk__tensor_describe(dvk_context *ctx, const dvk_tensor_desc *desc, dvk_tensor *t)
{
    const dvk_dtype dtype = desc->dtype == DVK_DTYPE_DEFAULT ? DVK_DTYPE_F32 : desc->dtype;
    if (dvk_dtype_size(dtype) == 0)
        return dvk__fail(DVK_ERROR_UNSUPPORTED_DTYPE,
                         "tensor dtype %d is not one of f32, f16, bf16, i32", (int)desc->dtype);
    if (desc->ndim > DVK_MAX_DIMS)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "tensor ndim %u exceeds %d", desc->ndim,
                         DVK_MAX_DIMS);
    uint64_t numel = 1;
    for (uint32_t i = 0; i < desc->ndim; ++i) {
        const uint64_t d = desc->shape[i];
        if (d == 0)
            return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "tensor dimension %u is 0", i);
        if (numel > UINT64_MAX / 8 / d)
            return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "tensor element count overflows");
        numel *= d;
    }
    const uint64_t bytes = numel * dvk_dtype_size(dtype);
    if (bytes > ctx->caps.info.max_storage_buffer_range)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                         "tensor of %llu bytes exceeds the device's maxStorageBufferRange (%llu)",
                         (unsigned long long)bytes,
                         (unsigned long long)ctx->caps.info.max_storage_buffer_range);
    *t = (dvk_tensor){.ctx = ctx, .dtype = dtype, .ndim = desc->ndim, .numel = numel,
                      .bytes = bytes};
    for (uint32_t i = 0; i < desc->ndim; ++i)
        t->shape[i] = desc->shape[i];
    return DVK_SUCCESS;
}

dvk_status dvk_tensor_create(dvk_context *ctx, const dvk_tensor_desc *desc, dvk_tensor **out)
{
    if (!out)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "out_tensor is NULL");
    *out = NULL;
    if (!ctx || !desc)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", ctx ? "desc" : "context");
    dvk_tensor d;
    DVK_TRY(dvk__tensor_describe(ctx, desc, &d));
    if (desc->buffer && desc->offset % ctx->caps.min_storage_offset_alignment != 0)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "wrapped buffer offset %llu is not a multiple of "
                         "minStorageBufferOffsetAlignment (%llu)",
                         (unsigned long long)desc->offset,
                         (unsigned long long)ctx->caps.min_storage_offset_alignment);

    dvk_tensor *t = dvk__alloc(&ctx->alloc, sizeof *t);
    if (!t)
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    *t = d;
    if (desc->buffer) {
        t->wrapped = true;
        t->buffer = desc->buffer;
        t->offset = desc->offset;
    } else {
        dvk_status st = dvk__mem_alloc(ctx, t->bytes, DVK_MEM_DEVICE, &t->mem);
        if (st != DVK_SUCCESS) {
            dvk__free(&ctx->alloc, t);
            return st;
        }
        t->buffer = t->mem.buffer;
        t->offset = t->mem.offset;
        t->mapped = t->mem.mapped;
    }
    *out = t;
    return DVK_SUCCESS;
}

/* The element count of a shape (a zero dimension or a count past 2^60 is an error). */
static dvk_status shape_numel(uint32_t ndim, const uint64_t *shape, uint64_t *out)
{
    if (ndim > DVK_MAX_DIMS)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "ndim %u exceeds %d", ndim, DVK_MAX_DIMS);
    uint64_t numel = 1;
    for (uint32_t i = 0; i < ndim; ++i) {
        if (shape[i] == 0)
            return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "dimension %u is 0", i);
        if (numel > (UINT64_MAX >> 4) / shape[i])
            return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "element count overflows");
        numel *= shape[i];
    }
    *out = numel;
    return DVK_SUCCESS;
}

dvk_status dvk_tensor_view(dvk_tensor *base, const dvk_tensor_view_desc *desc, dvk_tensor **out)
{
    if (!out)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "out_view is NULL");
    *out = NULL;
    if (!base || !desc)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", base ? "desc" : "base");
    DVK_TRY(dvk__check_live("base", base));
    uint64_t numel = 0;
    DVK_TRY(shape_numel(desc->ndim, desc->shape, &numel));
    if (desc->offset > base->numel || numel > base->numel - desc->offset) {
        char have[96];
        return dvk__fail(DVK_ERROR_SHAPE_MISMATCH,
                         "view of %llu elements at offset %llu does not fit in base %s (%llu "
                         "elements)",
                         (unsigned long long)numel, (unsigned long long)desc->offset,
                         dvk__shape_str(base, have, sizeof have),
                         (unsigned long long)base->numel);
    }
    dvk_context *ctx = base->ctx;
    const size_t esize = dvk_dtype_size(base->dtype);
    const VkDeviceSize byte_offset = base->offset + desc->offset * esize;
    if (byte_offset % ctx->info.tensor_alignment != 0)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "view at element %llu starts at byte %llu of its buffer, which is not a "
                         "multiple of the device's tensor_alignment (%llu bytes)",
                         (unsigned long long)desc->offset, (unsigned long long)byte_offset,
                         (unsigned long long)ctx->info.tensor_alignment);
    dvk_tensor *t = dvk__alloc(&ctx->alloc, sizeof *t);
    if (!t)
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    t->ctx = ctx;
    t->dtype = base->dtype;
    t->ndim = desc->ndim;
    for (uint32_t i = 0; i < desc->ndim; ++i)
        t->shape[i] = desc->shape[i];
    t->numel = numel;
    t->bytes = numel * esize;
    t->buffer = base->buffer;
    t->offset = byte_offset;
    t->wrapped = true;
    t->view = true;
    t->mapped = base->mapped ? (char *)base->mapped + desc->offset * esize : NULL;
    *out = t;
    return DVK_SUCCESS;
}

dvk_status dvk_tensor_reshape(dvk_tensor *base, uint32_t ndim, const uint64_t *shape,
                              dvk_tensor **out)
{
    if (!out)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "out_view is NULL");
    *out = NULL;
    if (!base || (!shape && ndim))
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", base ? "shape" : "base");
    if (ndim > DVK_MAX_DIMS)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "ndim %u exceeds %d", ndim, DVK_MAX_DIMS);
    dvk_tensor_view_desc d = {.offset = 0, .ndim = ndim};
    for (uint32_t i = 0; i < ndim; ++i)
        d.shape[i] = shape[i];
    uint64_t numel = 0;
    DVK_TRY(shape_numel(ndim, shape, &numel));
    if (numel != base->numel) {
        char have[96];
        return dvk__fail(DVK_ERROR_SHAPE_MISMATCH,
                         "reshape of %s (%llu elements) to a shape of %llu elements",
                         dvk__shape_str(base, have, sizeof have), (unsigned long long)base->numel,
                         (unsigned long long)numel);
    }
    return dvk_tensor_view(base, &d, out);
}

bool dvk_tensor_is_view(const dvk_tensor *t) { return t && t->view; }

dvk_context *dvk_tensor_context(const dvk_tensor *t) { return t ? t->ctx : NULL; }

dvk_status dvk__check_live(const char *name, const dvk_tensor *t)
{
    if (t && t->released)
        return dvk__fail(DVK_ERROR_INVALID_STATE,
                         "%s is a scratch tensor whose region was released", name);
    return DVK_SUCCESS;
}

void dvk_tensor_destroy(dvk_tensor *t)
{
    if (!t || t->scratch) /* scratch tensors belong to their dvk_cmd */
        return;
    dvk_context *ctx = t->ctx;
    if (!t->wrapped)
        dvk__mem_free(ctx, &t->mem);
    dvk__free(&ctx->alloc, t);
}

static dvk_status check_copy(const dvk_tensor *t, const void *p, size_t bytes)
{
    if (!t || !p)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", t ? "host pointer" : "tensor");
    DVK_TRY(dvk__check_live("tensor", t));
    if (!t->buffer)
        return dvk__fail(DVK_ERROR_INVALID_STATE,
                         "tensor is a scratch tensor of a dry run: it has no memory");
    if (bytes != t->bytes)
        return dvk__fail(DVK_ERROR_SHAPE_MISMATCH, "copy of %zu bytes, but the tensor holds %llu",
                         bytes, (unsigned long long)t->bytes);
    return DVK_SUCCESS;
}

/* A blocking copy through the staging path: one recording, submitted and waited for.
 * Exactly one of src (upload) and dst (download) is given. */
static dvk_status copy_through_staging(const dvk_tensor *t, const void *src, void *dst,
                                       size_t bytes)
{
    dvk_cmd *cmd = NULL;
    DVK_TRY(dvk_cmd_create(t->ctx, NULL, &cmd));
    dvk_status st = src ? dvk_cmd_upload(cmd, (dvk_tensor *)t, src, bytes)
                        : dvk_cmd_download(cmd, t, dst, bytes);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_submit(cmd);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_wait(cmd, 0);
    dvk_cmd_destroy(cmd);
    return st;
}

dvk_status dvk_tensor_upload(dvk_tensor *t, const void *src, size_t bytes)
{
    DVK_TRY(check_copy(t, src, bytes));
    if (t->mapped) { /* unified memory: the tensor is host-visible and coherent */
        memcpy(t->mapped, src, bytes);
        return DVK_SUCCESS;
    }
    return copy_through_staging(t, src, NULL, bytes);
}

dvk_status dvk_tensor_download(const dvk_tensor *t, void *dst, size_t bytes)
{
    DVK_TRY(check_copy(t, dst, bytes));
    if (t->mapped) {
        memcpy(dst, t->mapped, bytes);
        return DVK_SUCCESS;
    }
    return copy_through_staging(t, NULL, dst, bytes);
}

dvk_dtype dvk_tensor_dtype(const dvk_tensor *t) { return t ? t->dtype : DVK_DTYPE_DEFAULT; }
uint32_t dvk_tensor_ndim(const dvk_tensor *t) { return t ? t->ndim : 0; }
uint64_t dvk_tensor_dim(const dvk_tensor *t, uint32_t i)
{
    return t && i < t->ndim ? t->shape[i] : 0;
}
uint64_t dvk_tensor_numel(const dvk_tensor *t) { return t ? t->numel : 0; }
uint64_t dvk_tensor_bytes(const dvk_tensor *t) { return t ? t->bytes : 0; }

void dvk_tensor_vk_buffer(const dvk_tensor *t, VkBuffer *buffer, VkDeviceSize *offset)
{
    if (buffer)
        *buffer = t ? t->buffer : VK_NULL_HANDLE;
    if (offset)
        *offset = t ? t->offset : 0;
}

/* ---- argument checks shared by the operators ---------------------------------------------- */

const char *dvk__shape_str(const dvk_tensor *t, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (uint32_t i = 0; i < t->ndim && n < len; ++i)
        n += (size_t)snprintf(buf + n, len - n, "%s%llu", i ? "," : "",
                              (unsigned long long)t->shape[i]);
    if (n < len)
        snprintf(buf + n, len - n, "]");
    return buf;
}

dvk_status dvk__check_tensor(const dvk_context *ctx, const char *name, const dvk_tensor *t,
                             uint32_t ndim, const uint64_t *shape, dvk_dtype dtype)
{
    if (!t)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", name);
    if (t->ctx != ctx)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "%s belongs to another context", name);
    DVK_TRY(dvk__check_live(name, t));
    char have[96];
    bool ok = t->ndim == ndim;
    for (uint32_t i = 0; ok && i < ndim; ++i)
        ok = shape[i] == UINT64_MAX || shape[i] == t->shape[i];
    if (!ok) {
        char want[96];
        size_t n = (size_t)snprintf(want, sizeof want, "[");
        for (uint32_t i = 0; i < ndim && n < sizeof want; ++i) {
            if (shape[i] == UINT64_MAX)
                n += (size_t)snprintf(want + n, sizeof want - n, "%s*", i ? "," : "");
            else
                n += (size_t)snprintf(want + n, sizeof want - n, "%s%llu", i ? "," : "",
                                      (unsigned long long)shape[i]);
        }
        if (n < sizeof want)
            snprintf(want + n, sizeof want - n, "]");
        return dvk__fail(DVK_ERROR_SHAPE_MISMATCH, "%s: shape %s, expected %s", name,
                         dvk__shape_str(t, have, sizeof have), want);
    }
    if (dtype == DVK_DTYPE_DEFAULT && t->dtype != DVK_DTYPE_F32 && t->dtype != DVK_DTYPE_F16)
        return dvk__fail(DVK_ERROR_UNSUPPORTED_DTYPE, "%s: dtype %s, expected f32 or f16", name,
                         dvk_dtype_name(t->dtype));
    if (dtype != DVK_DTYPE_DEFAULT && t->dtype != dtype)
        return dvk__fail(DVK_ERROR_UNSUPPORTED_DTYPE, "%s: dtype %s, expected %s", name,
                         dvk_dtype_name(t->dtype), dvk_dtype_name(dtype));
    return DVK_SUCCESS;
}
