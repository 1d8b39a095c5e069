/* Host-side helpers of the dvk tool (tensors.h). */
#include "tensors.h"

#include "dvk_tool.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

uint64_t tool_rng_next(uint64_t *s)
{
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

float tool_rng_uniform(uint64_t *s)
{
    return (float)(tool_rng_next(s) >> 40) * (1.0f / 16777216.0f);
}

dvk_status tool_shape_numel(uint32_t ndim, const uint64_t *shape, size_t *out)
{
    /* doubles: the widest host copy the tool makes (the C references' outputs) */
    const uint64_t most = SIZE_MAX / sizeof(double);
    uint64_t n = 1;
    bool over = false;
    for (uint32_t i = 0; i < ndim; ++i) {
        if (shape[i] != 0 && n > most / shape[i])
            over = true;
        else
            n *= shape[i];
    }
    if (over) {
        char text[200];
        size_t k = (size_t)snprintf(text, sizeof text, "[");
        for (uint32_t i = 0; i < ndim && k < sizeof text; ++i)
            k += (size_t)snprintf(text + k, sizeof text - k, "%s%" PRIu64, i ? "," : "",
                                  shape[i]);
        if (k < sizeof text)
            snprintf(text + k, sizeof text - k, "]");
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED,
                             "shape %s has more elements than a host buffer can hold", text);
    }
    *out = (size_t)n;
    return DVK_SUCCESS;
}

dvk_status tool_tensor_fill(dvk_tensor *t, const float *data)
{
    const dvk_dtype dtype = dvk_tensor_dtype(t);
    const size_t n = dvk_tensor_numel(t), bytes = dvk_tensor_bytes(t);
    void *buf = malloc(bytes);
    if (!buf)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < n; ++i) {
        if (dtype == DVK_DTYPE_F16)
            ((uint16_t *)buf)[i] = dvk_f32_to_f16(data[i]);
        else if (dtype == DVK_DTYPE_BF16)
            ((uint16_t *)buf)[i] = dvk_f32_to_bf16(data[i]);
        else if (dtype == DVK_DTYPE_I32)
            ((int32_t *)buf)[i] = (int32_t)data[i];
        else
            ((float *)buf)[i] = data[i];
    }
    const dvk_status st = dvk_tensor_upload(t, buf, bytes);
    free(buf);
    return st;
}

dvk_status tool_tensor_from(dvk_context *ctx, dvk_dtype dtype, uint32_t ndim,
                            const uint64_t *shape, const float *data, dvk_tensor **out)
{
    dvk_tensor_desc d = {.dtype = dtype, .ndim = ndim};
    for (uint32_t i = 0; i < ndim; ++i)
        d.shape[i] = shape[i];
    size_t checked = 0;
    dvk_status st = tool_shape_numel(ndim, shape, &checked);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_create(ctx, &d, out);
    if (st != DVK_SUCCESS || !data)
        return st;
    return tool_tensor_fill(*out, data);
}

dvk_status tool_download_floats(const dvk_tensor *t, float **out)
{
    const size_t n = dvk_tensor_numel(t), bytes = dvk_tensor_bytes(t);
    const dvk_dtype dt = dvk_tensor_dtype(t);
    void *buf = malloc(bytes);
    float *f = malloc(n * sizeof *f);
    dvk_status st = buf && f ? dvk_tensor_download(t, buf, bytes)
                             : dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; st == DVK_SUCCESS && i < n; ++i)
        f[i] = dt == DVK_DTYPE_F16    ? dvk_f16_to_f32(((uint16_t *)buf)[i])
               : dt == DVK_DTYPE_BF16 ? dvk_bf16_to_f32(((uint16_t *)buf)[i])
               : dt == DVK_DTYPE_I32  ? (float)((int32_t *)buf)[i]
                                      : ((float *)buf)[i];
    free(buf);
    if (st != DVK_SUCCESS) {
        free(f);
        f = NULL;
    }
    *out = f;
    return st;
}

double tool_elapsed_ms(const struct timespec *t0, const struct timespec *t1)
{
    return (double)(t1->tv_sec - t0->tv_sec) * 1e3 + (double)(t1->tv_nsec - t0->tv_nsec) * 1e-6;
}

int tool_check_input_values(dvk_weights *w, const char *name, bool f16, bool *all_finite)
{
    dvk_weights_entry entry;
    if (dvk_weights_find(w, name, &entry) != DVK_SUCCESS)
        return TOOL_OK;
    const dvk_weights_entry *e = &entry;
    if (e->dtype == DVK_DTYPE_I32)
        return TOOL_OK;
    if (e->numel > SIZE_MAX / sizeof(float))
        return TOOL_FAIL;
    float *x = malloc((size_t)e->numel * sizeof *x);
    if (!x) {
        fprintf(stderr, "dvk: out of host memory checking input %s\n", name);
        return TOOL_FAIL;
    }
    const dvk_status st = dvk_weights_read(w, name, DVK_DTYPE_F32, x,
                                           (size_t)e->numel * sizeof *x);
    uint64_t over = 0;
    float largest = 0.0f;
    bool finite = true;
    for (uint64_t i = 0; st == DVK_SUCCESS && i < e->numel; ++i) {
        if (!isfinite(x[i])) {
            finite = false;
        } else if (f16 && isinf(dvk_f16_to_f32(dvk_f32_to_f16(x[i])))) {
            ++over;
            largest = fabsf(x[i]) > largest ? fabsf(x[i]) : largest;
        }
    }
    free(x);
    if (st != DVK_SUCCESS)
        return tool_fail_status(name, st);
    if (over) {
        fprintf(stderr, "dvk: input %s: %llu value%s beyond fp16's range (65504; the largest "
                        "%g) would become inf with --dtype f16\n",
                name, (unsigned long long)over, over == 1 ? "" : "s", (double)largest);
        return TOOL_FAIL;
    }
    if (all_finite && !finite)
        *all_finite = false;
    return TOOL_OK;
}

int tool_check_output_values(const char *name, dvk_dtype dtype, uint32_t ndim,
                             const uint64_t *shape, const void *data)
{
    if (dtype != DVK_DTYPE_F32 && dtype != DVK_DTYPE_F16)
        return TOOL_OK;
    uint64_t numel = 1;
    for (uint32_t i = 0; i < ndim; ++i)
        numel *= shape[i];
    uint64_t bad = 0, first = 0;
    for (uint64_t i = 0; i < numel; ++i) {
        const float v = dtype == DVK_DTYPE_F16 ? dvk_f16_to_f32(((const uint16_t *)data)[i])
                                               : ((const float *)data)[i];
        if (!isfinite(v) && bad++ == 0)
            first = i;
    }
    if (!bad)
        return TOOL_OK;
    uint64_t idx[DVK_MAX_DIMS] = {0}; /* the first one's index */
    for (uint32_t d = ndim; d-- > 0;) {
        idx[d] = first % shape[d];
        first /= shape[d];
    }
    char at[128] = "";
    for (uint32_t d = 0, len = 0; d < ndim && d < DVK_MAX_DIMS; ++d)
        len += (uint32_t)snprintf(at + len, sizeof at - len, "%s%llu", d ? ", " : "",
                                  (unsigned long long)idx[d]);
    fprintf(stderr,
            "dvk: output %s: %llu value%s inf or NaN though every input is finite (the first at "
            "[%s]): %s; nothing was written\n",
            name, (unsigned long long)bad, bad == 1 ? " is" : "s are", at,
            dtype == DVK_DTYPE_F16 ? "it overflowed fp16 (largest 65504) where the device "
                                     "computed; run in f32 (without --dtype f16)"
                                   : "it overflowed where the device computed");
    return TOOL_FAIL;
}
