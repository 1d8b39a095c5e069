/* Interface of cpu.comp (dvk_linear on CPU devices, every M): a workgroup covers TM rows of x
 * (gl_WorkGroupID.y) and (WG / LANES) · LANES · CPL output columns (gl_WorkGroupID.x), group g
 * along z; in each subgroup lane l owns columns n0 + j·LANES + l (j < CPL). */
#ifndef DVK_NN_LINEAR_CPU_H
#define DVK_NN_LINEAR_CPU_H

#include "linear.h"

#define LC_SPEC_LANES 7 /* the subgroup size (fixed on the device) */
#define LC_SPEC_TM 8    /* rows of x per workgroup */
#define LC_SPEC_CPL 9   /* output columns (weight rows) per lane */
#define LC_SPEC_VW 10   /* weight elements per load: 1, 2, 4, or 8 (16-bit); divides K */
#define LC_SPECS 11

DVK_PUSH_BEGIN(linear_cpu_push)
    uint32_t M; /* rows of x per group */
    uint32_t N;
    uint32_t K;
    uint32_t bias_stride; /* 0 or N */
DVK_PUSH_END(linear_cpu_push)

#endif
