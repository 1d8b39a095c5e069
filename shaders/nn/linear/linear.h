/* Interface of the matrix-multiply kernels of dvk_linear (src/nn/linear/linear.c):
 *   gemv.comp        rows M <= 16 (the decode step): the weight streamed once;
 *   splitk_sum.comp  the sum of gemv's K-split partial products, and the epilogue;
 *   tiled.comp       fp32 FMA tiles through shared memory (every device);
 *   tiled_cm.comp    tensor-core tiles (VK_NV_cooperative_matrix, 16-bit x and weight).
 * Every kernel computes, for batch group g = gl_WorkGroupID.z,
 *     y[g,m,n] = Σ_k x[g,m,k] · w[g,n,k] + bias[g·bias_stride + n]  (+ y[g,m,n] with ACCUM)
 * with x [G,M,K], w [G,N,K], y [G,M,N] row-major and contiguous. */
#ifndef DVK_NN_LINEAR_H
#define DVK_NN_LINEAR_H

#include "../../common/interface.h"

/* Bindings (all kernels; unused ones are bound to a dummy). */
#define LINEAR_BIND_X 0
#define LINEAR_BIND_W 1
#define LINEAR_BIND_BIAS 2
#define LINEAR_BIND_Y 3
#define LINEAR_BIND_PART 4 /* gemv's fp32 partial products [S,G,M,N] when K is split */
#define LINEAR_BINDINGS 5

/* Specialization constants every kernel has. */
#define LINEAR_SPEC_X_DT 0 /* DVK_DT_* */
#define LINEAR_SPEC_W_DT 1
#define LINEAR_SPEC_B_DT 2
#define LINEAR_SPEC_Y_DT 3
#define LINEAR_SPEC_HAS_BIAS 4 /* 0 / 1 */
#define LINEAR_SPEC_ACCUM 5    /* 0 / 1: y += ... */
#define LINEAR_SPEC_WG 6       /* invocations per workgroup (local_size_x) */
#define LINEAR_SPEC_COMMON 7

#endif
