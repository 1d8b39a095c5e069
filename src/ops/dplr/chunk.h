/* The chunked form of the rules with a decay per key channel — KDA and the generalized (DPLR)
 * delta rule — shared by src/ops/kda/kda.c and src/ops/dplr/dplr.c. Kernels: shaders/dplr/. */
#ifndef DVK_OPS_DPLR_CHUNK_H
#define DVK_OPS_DPLR_CHUNK_H

#include "ops/common/recurrence.h"

/* Records the chunked form of a validated KDA (gate = DVK__GATE_CHANNEL, !dplr) or DPLR
 * problem. */
dvk_status dvk__record_channel_chunk(dvk_cmd *cmd, const dvk__rec *r);

/* Whether the chunked form of this problem runs its prepare and state stages on tensor cores
 * (KDA with fp16 tensors on a device with the NV cooperative-matrix extension). */
bool dvk__channel_chunk_on_tensor_cores(const dvk_context *ctx, const dvk__rec *r);

#endif
