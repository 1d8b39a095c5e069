/* Interface of RWKV-7's two kernels of the models level (deltavk_models): the glue around
 * dvk_rwkv7 that has no building block of its own, one workgroup per (token, head) row of N
 * channels (N <= RWKV7_LOCAL * RWKV7_MAX_PER), every tensor fp32. Host side:
 * src/models/rwkv7/kernels.c; C reference: tests/models/test_rwkv7_kernels.c.
 *   prepare.comp  before the recurrence: w ← scale·σ(w), α ← σ(α), κ̂ = per-head
 *                 F.normalize(k ⊙ k_k), k ← k ⊙ (1 + (α − 1) ⊙ k_a), and with VRES
 *                 v ← v + (v_first − v) ⊙ σ(v_gate).
 *   output.comp   after it: o ← (GroupNorm_head(o)·ln_w + ln_b + (Σ_head r⊙k⊙r_k)·v) ⊙ g. */
#ifndef DVK_MODELS_RWKV7_KERNELS_H
#define DVK_MODELS_RWKV7_KERNELS_H

#include "../../common/interface.h"

#define RWKV7_LOCAL 64  /* invocations per row */
#define RWKV7_MAX_PER 4 /* channels per invocation: N <= 256 */

#define RWKV7_PREP_SPEC_VRES 0
#define RWKV7_PREP_SPECS 1

#define RWKV7_PREP_BIND_K 0      /* [rows, N] in/out: k, then the updated k */
#define RWKV7_PREP_BIND_W 1      /* in/out: w0 + W2 tanh(W1 x_w), then the log decay */
#define RWKV7_PREP_BIND_A 2      /* in/out: a0 + A2 A1 x_a, then α */
#define RWKV7_PREP_BIND_KAPPA 3  /* out: κ̂ */
#define RWKV7_PREP_BIND_V 4      /* in/out with VRES: v */
#define RWKV7_PREP_BIND_VFIRST 5 /* with VRES: block 0's v */
#define RWKV7_PREP_BIND_VGATE 6  /* with VRES: v0 + V2 V1 x_v */
#define RWKV7_PREP_BIND_KK 7     /* [C]: k_k */
#define RWKV7_PREP_BIND_KA 8     /* [C]: k_a */
#define RWKV7_PREP_BINDINGS 9

/* Each shader defines RWKV7_PREPARE or RWKV7_OUTPUT first and sees its own push block (a
 * shader has one); C sees both. */
#if !defined(RWKV7_OUTPUT)
DVK_PUSH_BEGIN(rwkv7_prep_push)
    uint32_t rows;     /* tokens × heads */
    uint32_t n;        /* head size N */
    uint32_t heads;    /* H */
    float decay_scale; /* −e^{−0.5} */
DVK_PUSH_END(rwkv7_prep_push)
#endif

#define RWKV7_OUT_BIND_O 0   /* [rows, N] in/out: the recurrence's output, then the gated one */
#define RWKV7_OUT_BIND_R 1
#define RWKV7_OUT_BIND_K 2   /* the updated k */
#define RWKV7_OUT_BIND_V 3
#define RWKV7_OUT_BIND_G 4
#define RWKV7_OUT_BIND_RK 5  /* [C]: r_k */
#define RWKV7_OUT_BIND_LNW 6 /* [C]: ln_x.weight */
#define RWKV7_OUT_BIND_LNB 7 /* [C]: ln_x.bias */
#define RWKV7_OUT_BINDINGS 8

#if !defined(RWKV7_PREPARE)
DVK_PUSH_BEGIN(rwkv7_out_push)
    uint32_t rows;
    uint32_t n;
    uint32_t heads;
    float eps; /* GroupNorm's: 64e-5 */
DVK_PUSH_END(rwkv7_out_push)
#endif

#endif
