/* Host-side helpers the dvk tool's operators (ops/) and building blocks (nn.c) share: random
 * numbers, tensors made from floats and read back as floats, and wall time. */
#ifndef DVK_TOOL_TENSORS_H
#define DVK_TOOL_TENSORS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "deltavk.h"

/* xorshift64*: the next number of the stream `s` (a non-zero state). */
uint64_t tool_rng_next(uint64_t *s);
/* Uniform in [0, 1), on a grid of 2^-24. */
float tool_rng_uniform(uint64_t *s);

/* A new tensor of `dtype` and shape, filled from `data` (floats; int32 tensors take them
 * truncated), or left unset when data is NULL. */
dvk_status tool_tensor_from(dvk_context *ctx, dvk_dtype dtype, uint32_t ndim,
                            const uint64_t *shape, const float *data, dvk_tensor **out);
/* The element count of a shape into *out, the product checked: DVK_ERROR_LIMIT_EXCEEDED (the
 * message set, naming the shape) when it, or its host copy as doubles, would not fit a size_t.
 * Call it before any host buffer of the shape is sized. */
dvk_status tool_shape_numel(uint32_t ndim, const uint64_t *shape, size_t *out);
/* Uploads floats (as many as t has elements) into t, converted to its dtype. */
dvk_status tool_tensor_fill(dvk_tensor *t, const float *data);
/* Downloads any tensor as floats (malloc'd) into *out (NULL on failure). */
dvk_status tool_download_floats(const dvk_tensor *t, float **out);

/* --dtype f16 rounds each value of a file to fp16, and a finite value past its range (65504;
 * from 65520 up) becomes inf: the run would go on with infinities the file does not hold.
 * Reads entry `name` of w back as f32; with `f16`, counts such values: TOOL_FAIL with a message
 * naming the input, the count and the largest, else TOOL_OK (also when there is no such
 * entry). Clears *all_finite (when not NULL) if the entry holds an inf or a NaN. */
int tool_check_input_values(dvk_weights *w, const char *name, bool f16, bool *all_finite);

/* An output that holds inf or NaN when every input was finite overflowed where the device
 * computed (fp16 above all: 65504 is its largest value). Counts the non-finite values of
 * `data` (f32 or f16, as `dtype`; other dtypes pass): TOOL_FAIL with a message naming the
 * output, the count and the first one's index, else TOOL_OK. */
int tool_check_output_values(const char *name, dvk_dtype dtype, uint32_t ndim,
                             const uint64_t *shape, const void *data);

/* Milliseconds from t0 to t1 (CLOCK_MONOTONIC readings). */
double tool_elapsed_ms(const struct timespec *t0, const struct timespec *t1);

#endif
