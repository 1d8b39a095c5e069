/* Interface of decode.comp: the delta-rule family's single-pass decode step, one token per
 * sequence (host side: src/ops/common/recurrent.c). */
#ifndef DVK_SHADERS_OPS_DELTA_RULE_DECODE_H
#define DVK_SHADERS_OPS_DELTA_RULE_DECODE_H

#include "../../common/interface.h"

#define DELTA_RULE_DECODE_SPEC_K 0
#define DELTA_RULE_DECODE_SPEC_V 1
#define DELTA_RULE_DECODE_SPEC_BV 2 /* value columns per workgroup */
#define DELTA_RULE_DECODE_SPEC_USE_G 3
#define DELTA_RULE_DECODE_SPEC_USE_H0 4
#define DELTA_RULE_DECODE_SPEC_STORE_HT 5
#define DELTA_RULE_DECODE_SPEC_L2NORM 6
#define DELTA_RULE_DECODE_SPEC_WG 7
#define DELTA_RULE_DECODE_SPEC_GATE_CH 8
#define DELTA_RULE_DECODE_SPEC_DPLR 9
#define DELTA_RULE_DECODE_SPEC_GATE_ACT 10
#define DELTA_RULE_DECODE_SPEC_BETA_SIGMOID 11
#define DELTA_RULE_DECODE_SPEC_RWKV7 12
#define DELTA_RULE_DECODE_SPEC_USE_DT_BIAS 13
#define DELTA_RULE_DECODE_SPECS 14

#define DELTA_RULE_DECODE_BIND_Q 0
#define DELTA_RULE_DECODE_BIND_K 1
#define DELTA_RULE_DECODE_BIND_V 2
#define DELTA_RULE_DECODE_BIND_BETA 3     /* beta; a, or kappa with RWKV7 (DPLR) */
#define DELTA_RULE_DECODE_BIND_G 4
#define DELTA_RULE_DECODE_BIND_H0 5       /* fp32, read as vec4 */
#define DELTA_RULE_DECODE_BIND_HT 6       /* fp32, written as vec4 */
#define DELTA_RULE_DECODE_BIND_O 7
#define DELTA_RULE_DECODE_BIND_B 8        /* b, or alpha with RWKV7 (DPLR) */
#define DELTA_RULE_DECODE_BIND_A_LOG 9    /* fp32 (GATE_ACT) */
#define DELTA_RULE_DECODE_BIND_DT_BIAS 10 /* fp32 (USE_DT_BIAS) */
#define DELTA_RULE_DECODE_BINDINGS 11

DVK_PUSH_BEGIN(delta_rule_decode_push)
    uint32_t H;
    uint32_t HV;
    float scale;
DVK_PUSH_END(delta_rule_decode_push)

#endif
