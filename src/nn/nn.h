/* Private helpers of the nn level (deltavk_nn). Everything here is built on deltavk.h's public
 * API alone: kernels through dvk_kernel_get / dvk_cmd_dispatch, errors through dvk_set_error,
 * temporaries through dvk_cmd_scratch_tensor. */
#ifndef DVK_NN_INTERNAL_H
#define DVK_NN_INTERNAL_H

#include "deltavk_nn.h"
#include "deltavk_nn_kernels.h" /* generated: the kernel ids of shaders/nn/<family>/shaders.cmake */

#include <stddef.h>
#include <stdint.h>

/* Propagates a failure: `NN_TRY(expr);` returns expr's status from the caller if not success. */
#define NN_TRY(expr)                                                                             \
    do {                                                                                         \
        dvk_status nn_try_status_ = (expr);                                                      \
        if (nn_try_status_ != DVK_SUCCESS)                                                       \
            return nn_try_status_;                                                               \
    } while (0)

/* The context of a recording, or an error when cmd or desc is NULL. */
dvk_status dvk__nn_begin(const dvk_cmd *cmd, const void *desc, dvk_context **out_ctx);

/* The shader dtype code (DVK_DT_* of shaders/common/interface.h) of a tensor dtype. */
uint32_t dvk__nn_dt(dvk_dtype dtype);
/* True for f32, f16 and bf16. */
bool dvk__nn_is_float(dvk_dtype dtype);

/* "[2,7,3]" into buf. */
const char *dvk__nn_shape_str(const dvk_tensor *t, char *buf, size_t len);

/* Checks that `t` (named `name`) is non-NULL, on ctx, and of a float dtype the device can
 * hold (16-bit dtypes need fp16_storage). */
dvk_status dvk__nn_check_float(dvk_context *ctx, const char *name, const dvk_tensor *t);
/* Checks that `t` is non-NULL, on ctx, int32. */
dvk_status dvk__nn_check_i32(dvk_context *ctx, const char *name, const dvk_tensor *t);
/* Checks that `t` has exactly the shape of `like` (named like_name in the message). */
dvk_status dvk__nn_check_same_shape(const char *name, const dvk_tensor *t, const char *like_name,
                                    const dvk_tensor *like);
/* Checks that `b` broadcasts against `y` (deltavk_nn.h's rule: b's shape, leading 1s
 * ignored, equals y's trailing dimensions). */
dvk_status dvk__nn_check_broadcast(const char *name, const dvk_tensor *b, const char *y_name,
                                   const dvk_tensor *y);
/* Checks that output `y` and input `x` (either may be NULL) share no bytes, or, with same_ok,
 * are exactly the same bytes (in place). A partial overlap is DVK_ERROR_INVALID_ARGUMENT: the
 * kernels read and write in parallel. */
dvk_status dvk__nn_check_alias(const char *y_name, const dvk_tensor *y, const char *x_name,
                               const dvk_tensor *x, bool same_ok);
/* dvk__nn_check_alias of output `y` against each of the n tensors `xs` (named `names`; NULLs
 * skipped), none of them allowed to be y itself. */
dvk_status dvk__nn_check_apart(const char *y_name, const dvk_tensor *y, uint32_t n,
                               const char *const *names, const dvk_tensor *const *xs);
/* Sees t as [rows, last]: last = its last dimension (1 for a scalar). */
void dvk__nn_rows_cols(const dvk_tensor *t, uint64_t *rows, uint64_t *cols);

/* One of deltavk_nn's kernels with its specialization constants. A variant this build's glslc
 * could not compile is DVK_ERROR_UNSUPPORTED. */
dvk_status dvk__nn_kernel(dvk_context *ctx, dvk_nn_kernel id, uint32_t binding_count,
                          uint32_t push_size, uint32_t spec_count, const uint32_t *spec,
                          const dvk_kernel **out);
/* True when the build has the SPIR-V of this kernel. */
bool dvk__nn_kernel_available(dvk_nn_kernel id);
/* A kernel's `_f32` variant when none of the n tensors (NULLs skipped) is 16-bit, else its
 * `_any` variant (dtypes by specialization constant; needs 16-bit storage). */
dvk_nn_kernel dvk__nn_variant(dvk_nn_kernel f32_id, dvk_nn_kernel any_id,
                              const dvk_tensor *const *ts, uint32_t n);
/* Checks an activation code (DVK_ACT_DEFAULT is replaced by `def` first); returns its shader
 * code through *code. */
dvk_status dvk__nn_act_code(const char *what, dvk_act act, dvk_act def, uint32_t *code);

/* Workgroup counts that cover `items` invocations in workgroups of `local` along x, folding
 * into y past the device's maximum count (kernels rebuild the index as
 * (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * local + local id).
 * DVK_ERROR_LIMIT_EXCEEDED when even that does not fit. */
dvk_status dvk__nn_grid(dvk_context *ctx, uint64_t items, uint32_t local, uint32_t groups[3]);

#endif
