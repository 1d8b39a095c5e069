/* The aliasing rule every operator of deltavk.h checks (deltavk.h, "Aliasing"): an output must
 * not share memory with an input or with another output, but where an output is named as the
 * in-place form of one input (the state carried in place, rope's y = x) and is exactly its
 * bytes. */
#ifndef DVK_OPS_COMMON_ALIAS_H
#define DVK_OPS_COMMON_ALIAS_H

#include "core/internal.h"

/* An input of a call, and an output with the input tensor it may be exactly (the same buffer,
 * offset and size: `in_place`, or NULL). A NULL `t` (an absent optional tensor) is skipped. */
typedef struct dvk__alias_in {
    const char *name;
    const dvk_tensor *t;
} dvk__alias_in;

typedef struct dvk__alias_out {
    const char *name;
    const dvk_tensor *t;
    const dvk_tensor *in_place;
} dvk__alias_out;

/* DVK_ERROR_INVALID_ARGUMENT, naming both tensors, when an output overlaps an input (other than
 * as its in-place form) or another output. Inputs may share memory with each other. */
dvk_status dvk__check_aliasing(const dvk__alias_in *in, size_t n_in, const dvk__alias_out *out,
                               size_t n_out);

#endif
