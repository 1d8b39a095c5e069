/* Interface of gemv.comp (dvk_linear with M <= 16 rows per group: the decode step). A workgroup
 * owns GV_WG / GV_LANES row groups of GV_RPT weight rows each (rows rg + j·row_groups) and one K
 * slice of GV_KS columns; the GV_LANES invocations of a row group walk the slice in vectors of
 * GV_VW weight elements and their sums meet in shared memory. With K split over several slices
 * (gl_NumWorkGroups.y > 1) the kernel writes fp32 partial sums, which splitk_sum.comp adds, or
 * (FUSED) the last workgroup of a row block adds them itself. */
#ifndef DVK_NN_LINEAR_GEMV_H
#define DVK_NN_LINEAR_GEMV_H

#include "linear.h"

#define GV_SPEC_MR 7       /* rows of x per group, 1..GV_MAX_ROWS */
#define GV_SPEC_LANES 8    /* invocations along K per row group (a power of two) */
#define GV_SPEC_RPT 9      /* weight rows per invocation */
#define GV_SPEC_VW 10      /* weight elements per load: 1, 2, 4 or 8 (16 bytes at most) */
#define GV_SPEC_KS 11      /* columns of a K slice: a multiple of 4 and of GV_VW */
#define GV_SPEC_UNROLL 12  /* vectors per weight row and step (loads issued a step ahead) */
#define GV_SPEC_XS4 13     /* vec4s of shared memory: >= MR·KC/4 (twice with several chunks)
                              and >= WG·ceil(MR/4) */
#define GV_SPEC_PARTIAL 14 /* 1: write fp32 partial sums of the slice, no epilogue */
#define GV_SPEC_XV4 15     /* 1: K % 4 == 0, x's slice is read 4 elements per load */
#define GV_SPEC_KC 16      /* columns of x in shared memory at a time: KS, or a multiple of
                              UNROLL·LANES·VW (and 4) staged into two buffers in turn */
#define GV_SPEC_XDIRECT 17 /* 1: x read straight from memory (through the L1 cache) where
                              it is used, not staged in shared memory: no x chunks, so no K
                              slices needed for x's sake (needs GV_VW >= 4 and K % 4 == 0) */
#define GV_SPECS 18
#define GV_MAX_ROWS 16

DVK_PUSH_BEGIN(linear_gemv_push)
    uint32_t N;
    uint32_t K;
    uint32_t G;           /* groups (gl_NumWorkGroups.z) */
    uint32_t bias_stride; /* 0 or N */
DVK_PUSH_END(linear_gemv_push)

#endif
