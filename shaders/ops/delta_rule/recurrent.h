/* Interface of recurrent.comp: the delta-rule family token by token (dvk_delta_rule,
 * dvk_gated_delta_rule, dvk_kda, dvk_dplr and dvk_rwkv7 in recurrent mode; host side:
 * src/ops/common/recurrent.c). */
#ifndef DVK_SHADERS_OPS_DELTA_RULE_RECURRENT_H
#define DVK_SHADERS_OPS_DELTA_RULE_RECURRENT_H

#include "../../common/interface.h"

#define DELTA_RULE_RECURRENT_SPEC_K 0
#define DELTA_RULE_RECURRENT_SPEC_V 1
#define DELTA_RULE_RECURRENT_SPEC_BV 2  /* value columns per workgroup */
#define DELTA_RULE_RECURRENT_SPEC_KS 3  /* invocations per column */
#define DELTA_RULE_RECURRENT_SPEC_TB 4  /* tokens staged per step */
#define DELTA_RULE_RECURRENT_SPEC_USE_G 5
#define DELTA_RULE_RECURRENT_SPEC_USE_H0 6
#define DELTA_RULE_RECURRENT_SPEC_STORE_HT 7
#define DELTA_RULE_RECURRENT_SPEC_VARLEN 8
#define DELTA_RULE_RECURRENT_SPEC_L2NORM 9
#define DELTA_RULE_RECURRENT_SPEC_WG 10 /* = BV * KS */
#define DELTA_RULE_RECURRENT_SPEC_GATE_CH 11
#define DELTA_RULE_RECURRENT_SPEC_DPLR 12
#define DELTA_RULE_RECURRENT_SPEC_KEY_READOUT 13
#define DELTA_RULE_RECURRENT_SPEC_GATE_ACT 14
#define DELTA_RULE_RECURRENT_SPEC_BETA_SIGMOID 15
#define DELTA_RULE_RECURRENT_SPEC_RWKV7 16
#define DELTA_RULE_RECURRENT_SPEC_PARTIAL_OUT 17
#define DELTA_RULE_RECURRENT_SPEC_USE_DT_BIAS 18
#define DELTA_RULE_RECURRENT_SPEC_LANES 19 /* recurrent_cpu.comp: the subgroup size */
#define DELTA_RULE_RECURRENT_SPEC_CPL 20   /* recurrent_cpu.comp: value columns per lane */
#define DELTA_RULE_RECURRENT_SPECS 21

#define DELTA_RULE_RECURRENT_BIND_Q 0
#define DELTA_RULE_RECURRENT_BIND_K 1
#define DELTA_RULE_RECURRENT_BIND_V 2
#define DELTA_RULE_RECURRENT_BIND_BETA 3       /* beta; a, or kappa with RWKV7 (DPLR) */
#define DELTA_RULE_RECURRENT_BIND_G 4
#define DELTA_RULE_RECURRENT_BIND_H0 5         /* fp32 */
#define DELTA_RULE_RECURRENT_BIND_HT 6         /* fp32 */
#define DELTA_RULE_RECURRENT_BIND_O 7
#define DELTA_RULE_RECURRENT_BIND_CU_SEQLENS 8 /* int32 */
#define DELTA_RULE_RECURRENT_BIND_B 9          /* b, or alpha with RWKV7 (DPLR) */
#define DELTA_RULE_RECURRENT_BIND_A_LOG 10     /* fp32 (GATE_ACT) */
#define DELTA_RULE_RECURRENT_BIND_DT_BIAS 11   /* fp32 (USE_DT_BIAS) */
/* fp32 [tiles, tokens, HV, K]: the key read-out's parts (PARTIAL_OUT) */
#define DELTA_RULE_RECURRENT_BIND_PART 12
#define DELTA_RULE_RECURRENT_BINDINGS 13

DVK_PUSH_BEGIN(delta_rule_recurrent_push)
    uint32_t T;       /* tokens per sequence (ignored with VARLEN) */
    uint32_t H;       /* q/k heads */
    uint32_t HV;      /* value heads */
    float scale;
    uint32_t t_begin; /* this dispatch runs tokens [t_begin, t_begin + t_count) of each sequence */
    uint32_t t_count;
    uint32_t tokens;  /* B * T: the token count of one value tile's part (PARTIAL_OUT) */
DVK_PUSH_END(delta_rule_recurrent_push)

#endif
