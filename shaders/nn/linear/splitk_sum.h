/* Interface of splitk_sum.comp: y = Σ_s part[s] + bias (+ y with ACCUM), the epilogue of gemv
 * when K is split into S slices; one output element per invocation. */
#ifndef DVK_NN_LINEAR_SPLITK_SUM_H
#define DVK_NN_LINEAR_SPLITK_SUM_H

#include "linear.h"

#define SPLITK_SPEC_S 7 /* number of K slices */
#define SPLITK_SPECS 8
#define SPLITK_LOCAL 256

DVK_PUSH_BEGIN(linear_splitk_push)
    uint32_t total; /* G·M·N: elements of y, and the stride of part's slices */
    uint32_t MN;    /* M·N: elements of one group */
    uint32_t N;
    uint32_t bias_stride;
DVK_PUSH_END(linear_splitk_push)

#endif
