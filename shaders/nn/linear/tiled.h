/* Interface of tiled.comp (fp32 FMA tiles) and tiled_cm.comp (tensor cores). Both cover y with
 * BM x BN tiles, one workgroup each, numbered along x (folded into y past the device's count)
 * and by group along z.
 * tiled.comp:    TM x TN outputs per invocation (rows ty·TM + i, columns tx·TN + j; TM and TN
 *                multiples of 4), k in steps of BK through double-buffered shared memory;
 *                WG = BM·BN/(TM·TN).
 * tiled_cm.comp: warp tiles WM x WN (WG = 32·(BM/WM)·(BN/WN)), k in steps of BK through two
 *                shared buffers, the global loads issued STAGES − 1 steps ahead (2 or 3); tiles
 *                visited in groups of GROUP_M tile rows so that a group's weight tiles stay in
 *                L2 while its rows of x are read; optionally K cut into slices along z, whose
 *                partial sums splitk_sum.comp adds (the decode-shaped configuration). */
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
#define CM_SPECS 15

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
