/* Plain-C reference of one Infini-attention segment, in double, written out step by step as
 * infini-transformer-pytorch 0.0.2's CausalAttention computes it (after its projections). See
 * deltavk_reference.h. */
#include "deltavk_reference.h"

#include "../common/reference_util.h"

#include "../rope/rope_freq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double elu1(double x) { return x > 0.0 ? x + 1.0 : exp(x); }

/* x [D] at position p -> y [D]: scale, then the interleaved rotation (or none). */
static void rotate(const float *x, int D, int p, int rope, float theta, double scale, double *y)
{
    for (int i = 0; i < D; ++i)
        y[i] = scale * x[i];
    if (!rope)
        return;
    for (int i = 0; i < D / 2; ++i) {
        const double ang = (double)p * dvk__rope_freq(theta, D, i);
        const double c = cos(ang), s = sin(ang), y0 = y[2 * i], y1 = y[2 * i + 1];
        y[2 * i] = y0 * c - y1 * s;
        y[2 * i + 1] = y1 * c + y0 * s;
    }
}

int dvk_ref_infini_attn(const dvk_ref_infini_attn_args *a)
{
    if (!a || !a->q || !a->k || !a->v || !a->gate || !a->o || a->B < 1 || a->T < 1 ||
        a->H < 1 || a->D < 1 || a->DV < 1 || (a->mem0 && !a->z0) || (a->rope && a->D % 2))
        return -1;
    const int T = a->T, H = a->H, D = a->D, DV = a->DV;
    const double scale = a->scale != 0.0f ? (double)a->scale : 1.0 / sqrt((double)D);
    const double eps = a->eps != 0.0f ? (double)a->eps : 1e-10;
    const float theta = a->rope_theta != 0.0f ? a->rope_theta : 10000.0f;
    double *qr = dvk_ref__alloc(sizeof(double), (size_t)T, (size_t)D);
    double *kr = dvk_ref__alloc(sizeof(double), (size_t)T, (size_t)D);
    double *vv = dvk_ref__alloc(sizeof(double), (size_t)T, (size_t)DV);
    double *p = dvk_ref__alloc(sizeof(double), (size_t)T, 1);
    double *M = dvk_ref__alloc(sizeof(double), (size_t)D, (size_t)DV);
    double *z = dvk_ref__alloc(sizeof(double), (size_t)D, 1);
    int rc = -1;
    if (!qr || !kr || !vv || !p || !M || !z)
        goto out;
    for (int b = 0; b < a->B; ++b)
        for (int h = 0; h < H; ++h) {
            const size_t m_off = ((size_t)b * H + h) * D * DV, z_off = ((size_t)b * H + h) * D;
            for (int t = 0; t < T; ++t) {
                const size_t qk = (((size_t)b * T + t) * H + h) * D;
                rotate(a->q + qk, D, t, a->rope, theta, scale, qr + (size_t)t * D);
                rotate(a->k + qk, D, t, a->rope, theta, 1.0, kr + (size_t)t * D);
                for (int c = 0; c < DV; ++c)
                    vv[(size_t)t * DV + c] = a->v[(((size_t)b * T + t) * H + h) * DV + c];
            }
            for (size_t i = 0; i < (size_t)D * DV; ++i)
                M[i] = a->mem0 ? (double)a->mem0[m_off + i] : 0.0;
            for (int i = 0; i < D; ++i)
                z[i] = a->mem0 ? (double)a->z0[z_off + i] : 0.0;
            const double sg = 1.0 / (1.0 + exp(-(double)a->gate[h]));
            for (int t = 0; t < T; ++t) {
                /* local causal softmax attention */
                double m = -INFINITY;
                for (int j = 0; j <= t; ++j) {
                    double s = 0.0;
                    for (int i = 0; i < D; ++i)
                        s += qr[(size_t)t * D + i] * kr[(size_t)j * D + i];
                    p[j] = s;
                    m = fmax(m, s);
                }
                double sum = 0.0;
                for (int j = 0; j <= t; ++j) {
                    p[j] = exp(p[j] - m);
                    sum += p[j];
                }
                double *o = a->o + (((size_t)b * T + t) * H + h) * DV;
                for (int c = 0; c < DV; ++c) {
                    double acc = 0.0;
                    for (int j = 0; j <= t; ++j)
                        acc += p[j] * vv[(size_t)j * DV + c];
                    o[c] = acc / sum;
                }
                if (!a->mem0)
                    continue;
                /* retrieval from the past memory, mixed in by the head's gate */
                double den = 0.0;
                for (int i = 0; i < D; ++i)
                    den += elu1(qr[(size_t)t * D + i]) * z[i];
                den = fmax(den, eps);
                for (int c = 0; c < DV; ++c) {
                    double acc = 0.0;
                    for (int i = 0; i < D; ++i)
                        acc += elu1(qr[(size_t)t * D + i]) * M[(size_t)i * DV + c];
                    o[c] = o[c] * sg + acc / den * (1.0 - sg);
                }
            }
            /* the memory update (delta rule: against the memory before this segment) */
            if (a->delta_rule && a->mem0) {
                for (int t = 0; t < T; ++t) {
                    double den = 0.0;
                    for (int i = 0; i < D; ++i)
                        den += elu1(kr[(size_t)t * D + i]) * z[i];
                    den = fmax(den, eps);
                    for (int c = 0; c < DV; ++c) {
                        double acc = 0.0;
                        for (int i = 0; i < D; ++i)
                            acc += elu1(kr[(size_t)t * D + i]) * M[(size_t)i * DV + c];
                        vv[(size_t)t * DV + c] -= acc / den;
                    }
                }
            }
            for (int t = 0; t < T; ++t)
                for (int i = 0; i < D; ++i) {
                    const double f = elu1(kr[(size_t)t * D + i]);
                    z[i] += f;
                    for (int c = 0; c < DV; ++c)
                        M[(size_t)i * DV + c] += f * vv[(size_t)t * DV + c];
                }
            if (a->mem)
                memcpy(a->mem + m_off, M, sizeof(double) * (size_t)D * DV);
            if (a->z)
                memcpy(a->z + z_off, z, sizeof(double) * (size_t)D);
        }
    rc = 0;
out:
    free(qr);
    free(kr);
    free(vv);
    free(p);
    free(M);
    free(z);
    return rc;
}
