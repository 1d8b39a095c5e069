// The activations of deltavk_nn.h (dvk_act), in fp32, for any kernel that applies one:
// dvk_apply_act(code, x) with a code of act.h (a specialization constant, so it folds).
#ifndef DVK_NN_ACT_GLSL
#define DVK_NN_ACT_GLSL

#include "act.h"

// erfc with a relative error below 1.2e-7 everywhere (Numerical Recipes' erfcc, a Chebyshev
// fit): GLSL has no erf, and GELU of negative inputs needs erfc's relative accuracy.
float dvk_erfc(float z)
{
    const float t = 1.0 / (1.0 + 0.5 * abs(z));
    const float r =
        t * exp(-z * z - 1.26551223 +
                t * (1.00002368 +
                     t * (0.37409196 +
                          t * (0.09678418 +
                               t * (-0.18628806 +
                                    t * (0.27886807 +
                                         t * (-1.13520398 +
                                              t * (1.48851587 +
                                                   t * (-0.82215223 + t * 0.17087277)))))))));
    return z >= 0.0 ? r : 2.0 - r;
}

// log(1 + u) for u >= 0, accurate for tiny u (where 1 + u rounds to 1).
float dvk_log1p(float u) { return u < 1e-4 ? u * (1.0 - u * (0.5 - u / 3.0)) : log(1.0 + u); }

// softplus with PyTorch's threshold: x past 20 is returned as is.
float dvk_softplus(float x) { return x > 20.0 ? x : max(x, 0.0) + dvk_log1p(exp(-abs(x))); }

float dvk_sigmoid(float x) { return 1.0 / (1.0 + exp(-x)); }

float dvk_apply_act(uint code, float x)
{
    switch (code) {
    case DVK_ACT_CODE_GELU:
        return 0.5 * x * dvk_erfc(-x * 0.70710678118654752);
    case DVK_ACT_CODE_GELU_TANH:
        return 0.5 * x * (1.0 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
    case DVK_ACT_CODE_SILU:
        return x * dvk_sigmoid(x);
    case DVK_ACT_CODE_RELU:
        return max(x, 0.0);
    case DVK_ACT_CODE_RELU_SQUARED: {
        const float r = max(x, 0.0);
        return r * r;
    }
    case DVK_ACT_CODE_SIGMOID:
        return dvk_sigmoid(x);
    case DVK_ACT_CODE_TANH:
        return tanh(x);
    case DVK_ACT_CODE_SOFTPLUS:
        return dvk_softplus(x);
    case DVK_ACT_CODE_ELU1:
        return x > 0.0 ? x + 1.0 : exp(x);
    case DVK_ACT_CODE_LOGSIGMOID:
        return -dvk_softplus(-x);
    case DVK_ACT_CODE_EXP:
        return exp(x);
    default:
        return x;
    }
}

#endif
