/* Interface of arith.comp (dvk_add, dvk_mul, dvk_lerp, dvk_gated_residual): y = op(a, b, c),
 * one element per invocation; b and c may be broadcast (element i reads i mod their count). */
#ifndef DVK_NN_ARITH_H
#define DVK_NN_ARITH_H

#include "../../common/interface.h"

#define ARITH_OP_ADD 0u   /* y = a + b */
#define ARITH_OP_MUL 1u   /* y = a ⊙ b */
#define ARITH_OP_LERP 2u  /* y = torch.lerp(a, b, c) */
#define ARITH_OP_GATED 3u /* y = a + b ⊙ act(c) */

#define ARITH_SPEC_WG 0     /* local_size_x */
#define ARITH_SPEC_OP 1     /* ARITH_OP_* */
#define ARITH_SPEC_ACT 2    /* DVK_ACT_CODE_* of act.h (ARITH_OP_GATED) */
#define ARITH_SPEC_A_DT 3   /* DVK_DT_* of each tensor */
#define ARITH_SPEC_B_DT 4
#define ARITH_SPEC_C_DT 5
#define ARITH_SPEC_Y_DT 6
#define ARITH_SPEC_B_WRAP 7 /* 1: b holds fewer elements than y (index i mod nb) */
#define ARITH_SPEC_C_WRAP 8
#define ARITH_SPECS 9

#define ARITH_BIND_A 0
#define ARITH_BIND_B 1
#define ARITH_BIND_C 2
#define ARITH_BIND_Y 3
#define ARITH_BINDINGS 4

DVK_PUSH_BEGIN(arith_push)
    uint32_t n;  /* elements of a and y */
    uint32_t nb; /* elements of b */
    uint32_t nc; /* elements of c (0: no c) */
DVK_PUSH_END(arith_push)

#endif
