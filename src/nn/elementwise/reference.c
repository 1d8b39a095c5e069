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

void dvk_ref_add(const float *a, const float *b, size_t nb, double *y, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        y[i] = (double)a[i] + b[i % nb];
}

void dvk_ref_mul(const float *a, const float *b, size_t nb, double *y, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        y[i] = (double)a[i] * b[i % nb];
}

void dvk_ref_lerp(const float *a, const float *b, const float *weight, size_t nw, double *y,
                  size_t n)
{
    for (size_t i = 0; i < n; ++i)
        y[i] = a[i] + (double)weight[i % nw] * ((double)b[i] - a[i]);
}

void dvk_ref_gated_residual(int act, const float *residual, const float *x, const float *gate,
                            size_t ng, double *y, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        y[i] = residual[i] + x[i] * dvk_ref_act(act, gate[i % ng]);
}

void dvk_ref_glu(int act, const float *x, const float *gate, int gate_first, double *y,
                 size_t rows, size_t n)
{
    for (size_t r = 0; r < rows; ++r)
        for (size_t j = 0; j < n; ++j) {
            double v, g;
            if (gate) {
                v = x[r * n + j];
                g = gate[r * n + j];
            } else {
                const float *xr = x + r * 2 * n;
                v = gate_first ? xr[n + j] : xr[j];
                g = gate_first ? xr[j] : xr[n + j];
            }
            y[r * n + j] = v * dvk_ref_act(act, g);
        }
}
