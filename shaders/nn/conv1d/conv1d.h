/* Interface of the conv1d kernels (dvk_conv1d): convolution over T, channels last.
 *   conv1d_dw.comp     depthwise (groups = Cin = Cout, W <= CONV1D_DW_MAX_W): one invocation
 *                      per (batch, tile of CONV1D_DW_TILE tokens, channel), the window in
 *                      registers; in causal mode the tile-0 invocation of (b, c) also moves the
 *                      carried state, race-free in place (it alone reads and writes state[b,:,c]).
 *   conv1d_gemm.comp   any groups: an implicit matrix product per group, tiles of
 *                      CONV1D_BM tokens x CONV1D_BN output channels over a reduction of
 *                      CONV1D_BK (tap, input channel) pairs at a time in shared memory.
 *   conv1d_state.comp  the carried state after conv1d_gemm, one invocation per (b, c) moving
 *                      its W-1 values oldest first (so in place each is read before written).
 * x [B,T,Cin], weight [Cout, Cin/groups, W], bias [Cout], y [B,T,Cout], state [B, W-1, Cin]. */
#ifndef DVK_NN_CONV1D_H
#define DVK_NN_CONV1D_H

#include "../../common/interface.h"

#define CONV1D_DW_LOCAL 128
/* Tokens per invocation; >= CONV1D_DW_MAX_W keeps every read of the state in tile 0. */
#define CONV1D_DW_TILE 32
#define CONV1D_DW_MAX_W 32

#define CONV1D_BM 64  /* tokens per workgroup tile (of the flattened B·T) */
#define CONV1D_BN 64  /* output channels per tile (inside one group) */
#define CONV1D_BK 16  /* reduction depth per shared-memory stage */
/* 128 invocations, each summing 8 tokens x 4 channels (8 + 4 shared loads per 32 FMAs). */
#define CONV1D_GEMM_LOCAL 128

#define CONV1D_STATE_LOCAL 128

/* Where the carried state is read from (as token_shift.h: in place it is bound once). */
#define CONV1D_INIT_ZERO 0u   /* zeros (and SAME padding: zeros past both ends) */
#define CONV1D_INIT_BOUND 1u  /* initial state at BIND_INITIAL */
#define CONV1D_INIT_FINAL 2u  /* in place: at BIND_FINAL */

#define CONV1D_SPEC_X_DT 0
#define CONV1D_SPEC_W_DT 1
#define CONV1D_SPEC_BIAS_DT 2
#define CONV1D_SPEC_Y_DT 3
#define CONV1D_SPEC_INIT_DT 4
#define CONV1D_SPEC_FINAL_DT 5
#define CONV1D_SPEC_KW 6        /* kernel width W */
#define CONV1D_SPEC_INIT 7      /* CONV1D_INIT_* */
#define CONV1D_SPEC_HAS_BIAS 8
#define CONV1D_SPEC_HAS_FINAL 9 /* conv1d_dw: also move the state */
#define CONV1D_SPEC_ACT 10      /* DVK_ACT_CODE_* */
#define CONV1D_SPECS 11

#define CONV1D_BIND_X 0
#define CONV1D_BIND_W 1
#define CONV1D_BIND_BIAS 2
#define CONV1D_BIND_Y 3
#define CONV1D_BIND_INITIAL 4
#define CONV1D_BIND_FINAL 5
#define CONV1D_BINDINGS 6

DVK_PUSH_BEGIN(conv1d_push)
    uint32_t items;  /* conv1d_dw: B·tiles·C invocations; conv1d_state: B·Cin */
    uint32_t b;      /* B */
    uint32_t t;      /* T */
    uint32_t cin;    /* Cin */
    uint32_t cout;   /* Cout */
    uint32_t cg;     /* Cin / groups: input channels per group */
    uint32_t og;     /* Cout / groups: output channels per group */
    uint32_t ntiles; /* conv1d_dw: token tiles per sequence; conv1d_gemm: BN-tiles per group */
    uint32_t pad;    /* P: inputs before t that y[t] sees (W-1 causal, (W-1)/2 same) */
DVK_PUSH_END(conv1d_push)

#endif
