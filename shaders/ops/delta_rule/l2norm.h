/* Interface of l2norm.comp: the row-wise L2 normalisation before the chunked kernels
 * (l2norm_qk; host side: src/ops/common/l2norm.c). */
#ifndef DVK_SHADERS_OPS_DELTA_RULE_L2NORM_H
#define DVK_SHADERS_OPS_DELTA_RULE_L2NORM_H

#include "../../common/interface.h"

#define DELTA_RULE_L2NORM_LOCAL 64 /* invocations per workgroup: one row each */

#define DELTA_RULE_L2NORM_SPEC_D 0
#define DELTA_RULE_L2NORM_SPECS 1

#define DELTA_RULE_L2NORM_BIND_X 0
#define DELTA_RULE_L2NORM_BIND_Y 1
#define DELTA_RULE_L2NORM_BINDINGS 2

DVK_PUSH_BEGIN(delta_rule_l2norm_push)
    uint32_t rows;
DVK_PUSH_END(delta_rule_l2norm_push)

#endif
