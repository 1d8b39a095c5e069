/* Interface of tiled.comp (fp32 FMA tiles) and tiled_cm.comp (tensor cores). Both cover y with
 * BM x BN tiles, one workgroup each, numbered along x (folded into y past the device's count)
 * and by group along z.
 * tiled.comp:    TM x TN outputs per invocation (rows ty·TM + i, columns tx·TN + j; TM and TN
 *                multiples of 4), k in steps of BK through double-buffered shared memory;
 *                WG = BM·BN/(TM·TN).
 * tiled_cm.comp: warp tiles WM x WN (WG = 32·(BM/WM)·(BN/WN)), k in steps of BK through two
 *                shared buffers, the global loads issued STAGES − 1 steps ahead (STAGES 2 or
 *                3), or through one buffer with the loads one step ahead (STAGES 1: two
 *                barriers per step, half the shared memory, so twice the tile or BK); tiles
 *                visited in groups of GROUP_M tile rows so that a group's weight tiles stay in
 *                L2 while its rows of x are read; optionally K cut into slices along z, whose
 *                partial sums splitk_sum.comp adds (the decode-shaped configurations). */
#ifndef DVK_NN_LINEAR_TILED_H
#define DVK_NN_LINEAR_TILED_H

#include "linear.h"

#define TL_SPEC_BM 7
#define TL_SPEC_BN 8
#define TL_SPEC_BK 9
#define TL_SPEC_TM 10
#define TL_SPEC_TN 11
#define TL_SPECS 12

#define CM_SPEC_BM 7
#define CM_SPEC_BN 8
#define CM_SPEC_BK 9
#define CM_SPEC_WM 10
#define CM_SPEC_WN 11
#define CM_SPEC_STAGES 12
#define CM_SPEC_GROUP_M 13
#define CM_SPEC_PARTIAL 14 /* 1: K cut into slices (gl_WorkGroupID.z = g + G·slice); the tile's
                              fp32 sums go to part [S,G,M,N] for splitk_sum.comp */
#define CM_SPEC_DIAG 15   /* CM_DIAG_* bits: parts of the work left out, for timing only */
#define CM_SPEC_SMEM4 16  /* uvec4s of shared memory: the buffers' and the epilogue's, the larger */
#define CM_SPECS 17

/* Diagnostic bits (DVK_LINEAR_DIAG): each removes one part of tiled_cm's work so that a timing
 * shows what that part costs. The results are wrong with any bit set. */
#define CM_DIAG_NOGLOBAL 1u /* the K loop loads nothing from memory (the first step's tiles are
                               stored again at every step) */
#define CM_DIAG_NOSTORE 2u  /* the K loop stores nothing to shared memory (its loads are still
                               waited for where the stores would be) */
#define CM_DIAG_NOFRAG 4u   /* the products reuse operands read from shared memory once, before
                               the loop */
#define CM_DIAG_NOMATH 8u   /* no operand reads and no products in the K loop */
#define CM_DIAG_NOEPI 16u   /* no epilogue (the sums are kept, but never written) */
#define CM_DIAG_NOSYNC 32u  /* no barriers in the K loop (races: timing only) */
#define CM_DIAG_ALL 63u

DVK_PUSH_BEGIN(linear_tiled_push)
    uint32_t M; /* rows of x per group */
    uint32_t N;
    uint32_t K;
    uint32_t bias_stride; /* 0 or N */
    uint32_t tiles_m;     /* ceil(M / BM) */
    uint32_t tiles_n;     /* ceil(N / BN) */
    uint32_t G;           /* groups */
    uint32_t ks;          /* tiled_cm: K columns per slice (a multiple of BK; K when whole) */
DVK_PUSH_END(linear_tiled_push)

#endif
