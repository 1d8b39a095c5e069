/* Interface of rope.comp: the rotary embedding, one pair of features per invocation (host
 * side: src/ops/rope/rope.c). */
#ifndef DVK_SHADERS_OPS_ROPE_ROPE_H
#define DVK_SHADERS_OPS_ROPE_ROPE_H

#include "../../common/interface.h"

#define ROPE_LOCAL 256 /* invocations per workgroup */
/* The angle tables split a position p = ROPE_LO_POSITIONS P + r by angle addition: hi holds
 * the angles of the positions ROPE_LO_POSITIONS P, lo those of r = 0 .. ROPE_LO_POSITIONS - 1. */
#define ROPE_LO_POSITIONS 64

#define ROPE_SPEC_D 0
#define ROPE_SPEC_RD 1 /* rotated features, even, <= D */
#define ROPE_SPECS 2

#define ROPE_BIND_X 0
#define ROPE_BIND_Y 1  /* may be X */
#define ROPE_BIND_HI 2 /* fp32 (cos, sin) pairs [P - p_hi0, RD/2] */
#define ROPE_BIND_LO 3 /* fp32 (cos, sin) pairs [ROPE_LO_POSITIONS, RD/2] */
#define ROPE_BINDINGS 4

DVK_PUSH_BEGIN(rope_push)
    uint32_t rows;   /* B * T * H */
    uint32_t T;
    uint32_t H;
    uint32_t offset; /* position of token 0 */
    uint32_t p_hi0;  /* offset / ROPE_LO_POSITIONS: the first row of the hi table */
    float scale;
DVK_PUSH_END(rope_push)

#endif
