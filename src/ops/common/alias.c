/* The shared aliasing check of the operators (alias.h). */
#include "ops/common/alias.h"

static bool overlap(const dvk_tensor *x, const dvk_tensor *y)
{
    return x && y && x->buffer == y->buffer && x->offset < y->offset + y->bytes &&
           y->offset < x->offset + x->bytes;
}

static bool same_bytes(const dvk_tensor *x, const dvk_tensor *y)
{
    return x->buffer == y->buffer && x->offset == y->offset && x->bytes == y->bytes;
}

/* The kernels read the inputs while they write the outputs, in parallel and (in the chunked
 * forms) over several passes: an output sharing bytes with an input would be read after it was
 * written, and two outputs sharing bytes are written in no defined order. */
dvk_status dvk__check_aliasing(const dvk__alias_in *in, size_t n_in, const dvk__alias_out *out,
                               size_t n_out)
{
    for (size_t j = 0; j < n_out; ++j) {
        for (size_t i = 0; i < n_in; ++i) {
            if (!overlap(out[j].t, in[i].t))
                continue;
            if (out[j].in_place && out[j].in_place == in[i].t && same_bytes(out[j].t, in[i].t))
                continue;
            if (out[j].in_place && out[j].in_place == in[i].t)
                return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                                 "%s shares memory with %s without being the same bytes (in "
                                 "place it must be %s itself)",
                                 out[j].name, in[i].name, in[i].name);
            const char *own = NULL; /* the name of the input it may be in place */
            for (size_t k = 0; k < n_in && out[j].in_place && !own; ++k)
                if (in[k].t == out[j].in_place)
                    own = in[k].name;
            if (own)
                return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                                 "%s shares memory with %s: outputs must not overlap the inputs "
                                 "(only %s may be %s itself)",
                                 out[j].name, in[i].name, out[j].name, own);
            return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                             "%s shares memory with %s: outputs must not overlap the inputs",
                             out[j].name, in[i].name);
        }
        for (size_t i = 0; i < j; ++i)
            if (overlap(out[j].t, out[i].t))
                return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                                 "%s shares memory with %s: outputs must not overlap each other",
                                 out[j].name, out[i].name);
    }
    return DVK_SUCCESS;
}
