/* Private helpers of the models level (deltavk_models), built on the public APIs of deltavk.h
 * and deltavk_nn.h alone. */
#ifndef DVK_MODELS_INTERNAL_H
#define DVK_MODELS_INTERNAL_H

#include "deltavk_models.h"
#include "deltavk_nn.h"

#include <stddef.h>
#include <stdint.h>

/* `MD_TRY(expr);` returns expr's status from the caller if it is not DVK_SUCCESS. */
#define MD_TRY(expr)                                                                             \
    do {                                                                                         \
        dvk_status md_try_status_ = (expr);                                                      \
        if (md_try_status_ != DVK_SUCCESS)                                                       \
            return md_try_status_;                                                               \
    } while (0)

/* "[2,7,3]" into buf (dims given as an array). */
const char *dvk__md_dims_str(uint32_t ndim, const uint64_t *dims, char *buf, size_t len);

/* Views made while recording, destroyed together once the recording of a call is done (the
 * recorded work binds buffers, not these host objects). */
typedef struct md_views {
    dvk_tensor **v;
    uint32_t count, cap;
} md_views;

/* A view of `base` at element `offset` with the given shape, kept in `pool`. */
dvk_status dvk__md_view(md_views *pool, dvk_tensor *base, uint64_t offset, uint32_t ndim,
                        const uint64_t *shape, dvk_tensor **out);
/* Destroys every view of the pool (newest first) and empties it. */
void dvk__md_views_clear(md_views *pool);

/* A scratch tensor of the recording: fp32 (or `dtype`) with the given shape. */
dvk_status dvk__md_scratch(dvk_cmd *cmd, dvk_dtype dtype, uint32_t ndim, const uint64_t *shape,
                           dvk_tensor **out);

/* A device tensor holding `n` floats converted to `dtype` (f32, f16 or bf16). */
dvk_status dvk__md_tensor_from_f32(dvk_context *ctx, dvk_dtype dtype, uint32_t ndim,
                                   const uint64_t *shape, const float *data, dvk_tensor **out);

/* safetensors writer for state files: F32 tensors and string metadata, written into a new
 * file beside `path`, synced, and renamed over it (a link is followed); on failure
 * DVK_ERROR_IO, the new file removed and `path` left as it was. */
typedef struct md_st_tensor {
    const char *name;
    uint32_t ndim;
    uint64_t shape[DVK_MAX_DIMS];
    const float *data;
} md_st_tensor;

typedef struct md_st_meta {
    const char *key, *value;
} md_st_meta;

dvk_status dvk__md_st_write(const char *path, const md_st_tensor *tensors, uint32_t n_tensors,
                            const md_st_meta *meta, uint32_t n_meta);

#endif
