/* Interface of token_shift.comp (dvk_token_shift): one invocation per element of x [B,T,C],
 * writing that element's M mixes, its delta and (at t = 0) the carried state. */
#ifndef DVK_NN_TOKEN_SHIFT_H
#define DVK_NN_TOKEN_SHIFT_H

#include "../../common/interface.h"

/* Vulkan's guaranteed minimum of maxComputeWorkGroupInvocations, so every device runs it. */
#define TOKEN_SHIFT_LOCAL 128

/* Where x_prev[0] comes from. In place (initial and final the same tensor) the state is bound
 * once, at BIND_FINAL, and read from there: the invocation that reads state[b,c] is the one
 * that then writes it, through the same binding, so the read happens first. */
#define TOKEN_SHIFT_INIT_ZERO 0u    /* no initial state: zeros */
#define TOKEN_SHIFT_INIT_BOUND 1u   /* initial at BIND_INITIAL, [B,C] */
#define TOKEN_SHIFT_INIT_BCAST 2u   /* initial at BIND_INITIAL, [C], every batch row */
#define TOKEN_SHIFT_INIT_FINAL 3u   /* in place: the state at BIND_FINAL */

#define TOKEN_SHIFT_SPEC_X_DT 0 /* DVK_DT_* of each tensor */
#define TOKEN_SHIFT_SPEC_MIX_DT 1
#define TOKEN_SHIFT_SPEC_INIT_DT 2
#define TOKEN_SHIFT_SPEC_Y_DT 3
#define TOKEN_SHIFT_SPEC_DELTA_DT 4
#define TOKEN_SHIFT_SPEC_FINAL_DT 5
#define TOKEN_SHIFT_SPEC_INIT 6      /* TOKEN_SHIFT_INIT_* */
#define TOKEN_SHIFT_SPEC_HAS_DELTA 7 /* 0 or 1 */
#define TOKEN_SHIFT_SPEC_HAS_FINAL 8 /* 0 or 1 */
#define TOKEN_SHIFT_SPECS 9

#define TOKEN_SHIFT_BIND_X 0
#define TOKEN_SHIFT_BIND_MIX 1
#define TOKEN_SHIFT_BIND_INITIAL 2
#define TOKEN_SHIFT_BIND_Y 3
#define TOKEN_SHIFT_BIND_DELTA 4
#define TOKEN_SHIFT_BIND_FINAL 5
#define TOKEN_SHIFT_BINDINGS 6

DVK_PUSH_BEGIN(token_shift_push)
    uint32_t n; /* B·T·C: elements of x */
    uint32_t c; /* C */
    uint32_t t; /* T */
    uint32_t m; /* rows of mix (0: no y) */
DVK_PUSH_END(token_shift_push)

#endif
