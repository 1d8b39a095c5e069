/* The chunked form of the rules with a decay per key channel — KDA and the generalized (DPLR)
 * delta rule — shared by src/ops/kda/kda.c and src/ops/dplr/dplr.c. Kernels: shaders/ops/dplr/. */
#ifndef DVK_OPS_DPLR_CHUNK_H
#define DVK_OPS_DPLR_CHUNK_H

#include "ops/common/problem.h"

/* Records the chunked form of a validated KDA (gate = DVK__GATE_CHANNEL, !dplr) or DPLR
 * problem. */
dvk_status dvk__record_channel_chunk(dvk_cmd *cmd, const dvk__rec *r);

/* Whether the caller's mode, or DVK_MODE_DEFAULT, picks the chunked form for a KDA or DPLR
 * problem: dvk__rec_use_chunk's rule, refined by which kernels the chunked form would run. */
bool dvk__channel_use_chunk(const dvk_context *ctx, const dvk__rec *r);

#endif
