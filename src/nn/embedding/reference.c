/* Reference of dvk_embedding (deltavk_nn_reference.h). */
#include "deltavk_nn_reference.h"

void dvk_ref_embedding(const int32_t *indices, size_t n, const float *weight, size_t V, size_t C,
                       double *y)
{
    for (size_t r = 0; r < n; ++r) {
        const int32_t id = indices[r];
        for (size_t c = 0; c < C; ++c)
            y[r * C + c] = id >= 0 && (size_t)id < V ? weight[(size_t)id * C + c] : 0.0;
    }
}
