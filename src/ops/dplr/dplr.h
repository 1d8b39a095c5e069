/* The generalized (diagonal-plus-low-rank) delta rule's host entry, shared by dvk_dplr
 * (dplr.c) and dvk_rwkv7 (src/ops/rwkv7/rwkv7.c): the tensors of one call under the rule's
 * names, checked and recorded token by token (src/ops/common/recurrent.c) or chunked
 * (chunk.c). */
#ifndef DVK_OPS_DPLR_DPLR_H
#define DVK_OPS_DPLR_DPLR_H

#include "core/internal.h"

/* The tensors of one call, under the generalized rule's names; the *_name fields are the
 * caller's names for them, used in error messages. */
typedef struct dvk__dplr_args {
    const dvk_tensor *q, *k, *v, *a, *b, *gk;
    dvk_tensor *o;
    const char *q_name, *a_name, *b_name, *gk_name;
    const dvk_tensor *h0;
    dvk_tensor *ht;
    float scale, default_scale; /* default_scale < 0: K^-0.5 */
    dvk_mode mode;
    const int32_t *cu_seqlens;
    uint32_t num_seqs, chunk_size;
    dvk_readout readout;
    bool rwkv7; /* a and b hold RWKV-7's kappa and alpha: the kernels form -kappa, kappa*alpha */
} dvk__dplr_args;

/* Checks the call and records it. */
dvk_status dvk__dplr_record(dvk_cmd *cmd, const dvk__dplr_args *d);

#endif
