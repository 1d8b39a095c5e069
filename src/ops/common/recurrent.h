/* The token-by-token form every rule of the delta-rule family shares (recurrent.c; kernels
 * shaders/ops/delta_rule/recurrent.comp, decode.comp and sum_tiles.comp): the delta rule, the
 * gated delta rule, KDA, the generalized (DPLR) rule and RWKV-7. */
#ifndef DVK_OPS_COMMON_RECURRENT_H
#define DVK_OPS_COMMON_RECURRENT_H

#include "ops/common/problem.h"

/* Records the token-by-token form: the decode kernel when every sequence is one token and the
 * variant allows it, the recurrent kernel otherwise. */
dvk_status dvk__record_recurrent(dvk_cmd *cmd, const dvk__rec *r);

#endif
