/* Plain-C reference of causal softmax attention inside segments, in double: every row's
 * logits are formed in full, their maximum subtracted, then normalised. See
 * deltavk_reference.h. */
#include "deltavk_reference.h"

#include "../common/reference_util.h"

#include <math.h>
#include <stdlib.h>

int dvk_ref_softmax_attn(const dvk_ref_softmax_attn_args *a)
{
    if (!a || !a->q || !a->k || !a->v || !a->o || a->B < 1 || a->T < 1 || a->H < 1 ||
        a->D < 1 || a->DV < 1 || a->segment < 0)
        return -1;
    const int T = a->T, H = a->H, D = a->D, DV = a->DV;
    const int seg = a->segment ? a->segment : T;
    const double scale = a->scale != 0.0f ? (double)a->scale : 1.0 / sqrt((double)D);
    double *p = dvk_ref__alloc(sizeof(double), (size_t)T, 1);
    if (!p)
        return -1;
    for (int b = 0; b < a->B; ++b)
        for (int h = 0; h < H; ++h)
            for (int t = 0; t < T; ++t) {
                const int j0 = t / seg * seg;
                const float *q = a->q + (((size_t)b * T + t) * H + h) * D;
                double m = -INFINITY;
                for (int j = j0; j <= t; ++j) {
                    const float *k = a->k + (((size_t)b * T + j) * H + h) * D;
                    double s = 0.0;
                    for (int i = 0; i < D; ++i)
                        s += (double)q[i] * k[i];
                    p[j] = s * scale;
                    m = fmax(m, p[j]);
                }
                double sum = 0.0;
                for (int j = j0; j <= t; ++j) {
                    p[j] = exp(p[j] - m);
                    sum += p[j];
                }
                double *o = a->o + (((size_t)b * T + t) * H + h) * DV;
                for (int c = 0; c < DV; ++c) {
                    double acc = 0.0;
                    for (int j = j0; j <= t; ++j)
                        acc += p[j] * a->v[(((size_t)b * T + j) * H + h) * DV + c];
                    o[c] = acc / sum;
                }
            }
    free(p);
    return 0;
}
