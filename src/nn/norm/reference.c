/* References of the norms (deltavk_nn_reference.h): two passes in double per segment. */
#include "deltavk_nn.h"
#include "deltavk_nn_reference.h"

#include <math.h>

/* 1 / f(n) of dvk_norm_eps, from n². */
static double norm_scale(double n2, double eps, int mode)
{
    switch (mode) {
    case DVK_NORM_EPS_CLAMP:
        return 1.0 / fmax(sqrt(n2), eps);
    case DVK_NORM_EPS_ADD:
        return 1.0 / (sqrt(n2) + eps);
    default:
        return 1.0 / sqrt(n2 + eps);
    }
}

static double silu(double v) { return v / (1.0 + exp(-v)); }

/* Centres and scales each of the rows·groups segments of c/groups elements. */
static void centred(const float *x, const float *weight, const float *bias, double *y,
                    size_t rows, size_t c, size_t groups, double eps)
{
    const size_t len = c / groups;
    for (size_t s = 0; s < rows * groups; ++s) {
        const float *xs = x + s * len;
        double mean = 0.0, var = 0.0;
        for (size_t j = 0; j < len; ++j)
            mean += xs[j];
        mean /= (double)len;
        for (size_t j = 0; j < len; ++j)
            var += (xs[j] - mean) * (xs[j] - mean);
        var /= (double)len;
        const double r = 1.0 / sqrt(var + eps);
        const size_t ch = (s % groups) * len;
        for (size_t j = 0; j < len; ++j) {
            double v = (xs[j] - mean) * r;
            if (weight)
                v *= weight[ch + j];
            if (bias)
                v += bias[ch + j];
            y[s * len + j] = v;
        }
    }
}

int dvk_ref_layer_norm(const float *x, const float *weight, const float *bias, double *y,
                       size_t rows, size_t c, float eps)
{
    if (!x || !y || c == 0)
        return -1;
    centred(x, weight, bias, y, rows, c, 1, eps != 0.0f ? eps : 1e-5f);
    return 0;
}

int dvk_ref_group_norm(const float *x, const float *weight, const float *bias, double *y,
                       size_t rows, size_t c, size_t groups, float eps)
{
    if (groups == 0)
        groups = 1;
    if (!x || !y || c == 0 || c % groups != 0)
        return -1;
    centred(x, weight, bias, y, rows, c, groups, eps != 0.0f ? eps : 1e-5f);
    return 0;
}

int dvk_ref_rms_norm(const float *x, const float *weight, const float *gate, double *y,
                     size_t rows, size_t c, float eps, int eps_mode, float weight_offset)
{
    if (!x || !y || c == 0)
        return -1;
    const double e = eps != 0.0f ? eps : 1e-6f;
    for (size_t r = 0; r < rows; ++r) {
        const float *xr = x + r * c;
        double ss = 0.0;
        for (size_t j = 0; j < c; ++j)
            ss += (double)xr[j] * xr[j];
        const double f = norm_scale(ss / (double)c, e, eps_mode);
        for (size_t j = 0; j < c; ++j) {
            double v = xr[j] * f;
            if (weight)
                v *= (double)weight_offset + weight[j];
            if (gate)
                v *= silu(gate[r * c + j]);
            y[r * c + j] = v;
        }
    }
    return 0;
}

int dvk_ref_l2_norm(const float *x, double *y, size_t rows, size_t c, float eps, int eps_mode)
{
    if (!x || !y || c == 0)
        return -1;
    const double e = eps != 0.0f ? eps : 1e-6f;
    for (size_t r = 0; r < rows; ++r) {
        const float *xr = x + r * c;
        double ss = 0.0;
        for (size_t j = 0; j < c; ++j)
            ss += (double)xr[j] * xr[j];
        const double f = norm_scale(ss, e, eps_mode);
        for (size_t j = 0; j < c; ++j)
            y[r * c + j] = xr[j] * f;
    }
    return 0;
}
