/* The L2-normalisation pre-pass of the chunked forms (l2norm.c; kernel
 * shaders/ops/delta_rule/l2norm.comp): the l2norm_qk option, applied before the chunked
 * kernels, which read q and k from its output (the token-by-token kernels normalise while they
 * stage q and k). */
#ifndef DVK_OPS_COMMON_L2NORM_H
#define DVK_OPS_COMMON_L2NORM_H

#include "ops/common/problem.h"

/* Normalises the K-long rows of t into fresh scratch memory, bound read-only in *out. */
dvk_status dvk__record_l2norm(dvk_cmd *cmd, const dvk__rec *r, const dvk_tensor *t,
                              dvk_binding *out);

#endif
