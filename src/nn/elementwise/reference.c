/* References of the elementwise functions (deltavk_nn_reference.h). */
#include "deltavk_nn.h"
#include "deltavk_nn_reference.h"

#include <math.h>

static double softplus(double x) { return x > 20.0 ? x : fmax(x, 0.0) + log1p(exp(-fabs(x))); }

double dvk_ref_act(int act, double x)
{
    switch (act) {
    case DVK_ACT_GELU:
        return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case DVK_ACT_GELU_TANH:
        return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    case DVK_ACT_SILU:
        return x / (1.0 + exp(-x));
    case DVK_ACT_RELU:
        return x > 0.0 ? x : 0.0;
    case DVK_ACT_RELU_SQUARED:
        return x > 0.0 ? x * x : 0.0;
    case DVK_ACT_SIGMOID:
        return 1.0 / (1.0 + exp(-x));
    case DVK_ACT_TANH:
        return tanh(x);
    case DVK_ACT_SOFTPLUS:
        return softplus(x);
    case DVK_ACT_ELU1:
        return x > 0.0 ? x + 1.0 : exp(x);
    case DVK_ACT_LOGSIGMOID:
        return -softplus(-x);
    case DVK_ACT_EXP:
        return exp(x);
    default:
        return x;
    }
}

void dvk_ref_activation(int act, const float *x, double *y, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        y[i] = dvk_ref_act(act, x[i]);
}
