/* The choice between the token-by-token and the chunked form (problem.h). KDA and DPLR refine
 * it in dvk__channel_use_chunk (src/ops/dplr/chunk.c), by which kernels their chunked form
 * would run; docs/performance.md has the measurements behind both rules. */
#include "ops/common/problem.h"

bool dvk__rec_use_chunk(const dvk_context *ctx, const dvk__rec *r)
{
    if (r->mode != DVK_MODE_DEFAULT)
        return r->mode == DVK_MODE_CHUNK;
    /* The chunked form pays off once sequences span a few chunks — on GPUs. On a CPU device
     * (lavapipe) the recurrent kernel is faster at every length (measured 3x at T = 1024). */
    if (r->max_len <= 64 || ctx->info.type == DVK_DEVICE_TYPE_CPU)
        return false;
    return true; /* (decays per key channel refine this: dvk__channel_use_chunk) */
}
