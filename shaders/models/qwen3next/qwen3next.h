/* Interface of the Gated DeltaNet layer's kernel of the models level (deltavk_models), between
 * the conv and dvk_gated_delta_rule: one invocation per element of a token's conv_dim + HV
 * outputs, every tensor fp32. Host side: src/models/qwen3next/kernels.c.
 *   prepare.comp  c [rows, conv_dim] (the conv's output, channels q, k, v) is split into
 *                 q [rows, HK], k [rows, HK] and v [rows, HV·V]; ba [rows, 2HV] (b then a,
 *                 as the loader orders them) gives β = σ(b) and
 *                 g = neg_a[h] · softplus(a + dt_bias[h]), neg_a = −exp(A_log) (made at load),
 *                 into beta and g [rows, HV]. */
#ifndef DVK_MODELS_QWEN3NEXT_KERNELS_H
#define DVK_MODELS_QWEN3NEXT_KERNELS_H

#include "../../common/interface.h"

#define QWEN3NEXT_LOCAL 64 /* invocations per workgroup */

#define QWEN3NEXT_PREP_BIND_C 0      /* [rows, conv_dim] */
#define QWEN3NEXT_PREP_BIND_BA 1     /* [rows, 2HV] */
#define QWEN3NEXT_PREP_BIND_NEG_A 2  /* [HV]: −exp(A_log) */
#define QWEN3NEXT_PREP_BIND_DT_BIAS 3 /* [HV] */
#define QWEN3NEXT_PREP_BIND_Q 4      /* out [rows, HK] */
#define QWEN3NEXT_PREP_BIND_K 5      /* out [rows, HK] */
#define QWEN3NEXT_PREP_BIND_V 6      /* out [rows, HV·V] */
#define QWEN3NEXT_PREP_BIND_BETA 7   /* out [rows, HV] */
#define QWEN3NEXT_PREP_BIND_G 8      /* out [rows, HV] */
#define QWEN3NEXT_PREP_BINDINGS 9

DVK_PUSH_BEGIN(qwen3next_prep_push)
    uint32_t rows;     /* tokens (B·T) */
    uint32_t key_dim;  /* HK */
    uint32_t conv_dim; /* 2HK + HV·V */
    uint32_t hv;       /* HV */
    uint32_t total;    /* rows · (conv_dim + HV) */
DVK_PUSH_END(qwen3next_prep_push)

#endif
