/* References of dvk_softmax, dvk_argmax and dvk_sample (deltavk_nn_reference.h). */
#include "deltavk_nn_reference.h"

/* The hash dvk_sample uses, from the one file the kernels read too (this library has no
 * include path into shaders/, hence the relative path). */
#include "../../../shaders/nn/sampling/sampling.h"

#include <math.h>
#include <stdlib.h>

void dvk_ref_softmax(const float *x, size_t rows, size_t n, float temperature, int log_softmax,
                     double *y)
{
    const double T = temperature == 0.0f ? 1.0 : temperature;
    for (size_t r = 0; r < rows; ++r) {
        const float *xr = x + r * n;
        double m = -INFINITY, s = 0.0;
        for (size_t j = 0; j < n; ++j)
            m = fmax(m, xr[j] / T);
        for (size_t j = 0; j < n; ++j)
            s += exp(xr[j] / T - m);
        for (size_t j = 0; j < n; ++j)
            y[r * n + j] = log_softmax ? xr[j] / T - m - log(s) : exp(xr[j] / T - m) / s;
    }
}

void dvk_ref_argmax(const float *x, size_t rows, size_t n, int32_t *y)
{
    for (size_t r = 0; r < rows; ++r) {
        const float *xr = x + r * n;
        size_t best = 0;
        for (size_t j = 1; j < n; ++j) {
            if (isnan(xr[best]))
                break;
            if (isnan(xr[j]) || xr[j] > xr[best])
                best = j;
        }
        y[r] = (int32_t)best;
    }
}

static int descending(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

float dvk_ref_sample_uniform(uint64_t seed, uint32_t row)
{
    return (float)(dvk_sample_hash((uint32_t)seed, (uint32_t)(seed >> 32), row) >> 8) *
           (float)DVK_SAMPLE_U_SCALE;
}

int dvk_ref_sample_row(const float *logits, size_t n, float temperature, uint32_t top_k,
                       float top_p, double u, double *p_out, double *cutoff_out, int32_t *token)
{
    if (!logits || n == 0)
        return -1;
    double *p = p_out ? p_out : malloc(n * sizeof *p);
    double *sorted = malloc(n * sizeof *sorted);
    if (!p || !sorted) {
        if (!p_out)
            free(p);
        free(sorted);
        return -1;
    }
    const double T = temperature == 0.0f ? 1.0 : temperature;
    double m = -INFINITY, s = 0.0;
    for (size_t j = 0; j < n; ++j)
        if (logits[j] / T > m)
            m = logits[j] / T;
    for (size_t j = 0; j < n; ++j) {
        const double e = exp(logits[j] / T - m);
        p[j] = isnan(e) ? 0.0 : e;
        s += p[j];
    }
    for (size_t j = 0; j < n; ++j)
        p[j] /= s;

    /* top-k: p >= the k-th largest */
    for (size_t j = 0; j < n; ++j)
        sorted[j] = p[j];
    qsort(sorted, n, sizeof *sorted, descending);
    double cut = 0.0;
    size_t kept = n;
    if (top_k > 0 && top_k < n) {
        cut = sorted[top_k - 1];
        while (kept > 0 && sorted[kept - 1] < cut)
            --kept;
    }
    /* top-p on what is left: the largest v whose mass {p >= v} reaches top_p of it */
    if (top_p > 0.0f && top_p < 1.0f) {
        double mass = 0.0;
        for (size_t j = 0; j < kept; ++j)
            mass += sorted[j];
        const double target = (double)top_p * mass;
        double cum = 0.0;
        for (size_t j = 0; j < kept; ++j) {
            cum += sorted[j];
            if ((j + 1 == kept || sorted[j + 1] != sorted[j]) && cum >= target) {
                cut = sorted[j];
                break;
            }
        }
    }
    /* the draw */
    double total = 0.0;
    size_t last = 0;
    for (size_t j = 0; j < n; ++j)
        if (p[j] >= cut) {
            total += p[j];
            last = j;
        }
    const double target = u * total;
    double run = 0.0;
    size_t tok = last;
    for (size_t j = 0; j < n; ++j)
        if (p[j] >= cut) {
            run += p[j];
            if (run > target) {
                tok = j;
                break;
            }
        }
    if (cutoff_out)
        *cutoff_out = cut;
    if (token)
        *token = (int32_t)tok;
    if (!p_out)
        free(p);
    free(sorted);
    return 0;
}

int dvk_ref_sample(const float *logits, size_t rows, size_t n, float temperature, uint32_t top_k,
                   float top_p, uint64_t seed, int32_t *tokens)
{
    for (size_t r = 0; r < rows; ++r)
        if (dvk_ref_sample_row(logits + r * n, n, temperature, top_k, top_p,
                               dvk_ref_sample_uniform(seed, (uint32_t)r), NULL, NULL,
                               tokens + r) != 0)
            return -1;
    return 0;
}
