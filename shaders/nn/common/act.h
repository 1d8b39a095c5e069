/* Activation codes shared by the GLSL of every nn kernel that applies one and by the host
 * (src/nn/nn.c checks they equal deltavk_nn.h's dvk_act values). */
#ifndef DVK_NN_ACT_H
#define DVK_NN_ACT_H

#define DVK_ACT_CODE_IDENTITY 1u
#define DVK_ACT_CODE_GELU 2u
#define DVK_ACT_CODE_GELU_TANH 3u
#define DVK_ACT_CODE_SILU 4u
#define DVK_ACT_CODE_RELU 5u
#define DVK_ACT_CODE_RELU_SQUARED 6u
#define DVK_ACT_CODE_SIGMOID 7u
#define DVK_ACT_CODE_TANH 8u
#define DVK_ACT_CODE_SOFTPLUS 9u
#define DVK_ACT_CODE_ELU1 10u
#define DVK_ACT_CODE_LOGSIGMOID 11u
#define DVK_ACT_CODE_EXP 12u

#endif
