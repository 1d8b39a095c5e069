/* Plain-C reference of the rotary embedding (interleaved pairs), in double from the same fp32
 * frequencies as the kernel (src/ops/rope/rope_freq.h). See deltavk_reference.h. */
#include "deltavk_reference.h"

#include "rope_freq.h"

#include <math.h>

int dvk_ref_rope(const dvk_ref_rope_args *a)
{
    if (!a || !a->x || !a->y || a->B < 1 || a->T < 1 || a->H < 1 || a->D < 1)
        return -1;
    const int D = a->D, rd = a->rotary_dim ? a->rotary_dim : D - D % 2;
    if (rd < 0 || rd > D || rd % 2 != 0)
        return -1;
    const float theta = a->theta != 0.0f ? a->theta : 10000.0f;
    const double scale = a->scale != 0.0f ? (double)a->scale : 1.0;
    for (int b = 0; b < a->B; ++b)
        for (int t = 0; t < a->T; ++t)
            for (int h = 0; h < a->H; ++h) {
                const size_t off = (((size_t)b * a->T + t) * a->H + h) * D;
                const float *x = a->x + off;
                double *y = a->y + off;
                for (int i = 0; i < rd / 2; ++i) {
                    const double ang =
                        (double)(a->offset + t) * dvk__rope_freq(theta, rd, i);
                    const double c = cos(ang), s = sin(ang);
                    const double x0 = x[2 * i], x1 = x[2 * i + 1];
                    y[2 * i] = scale * (x0 * c - x1 * s);
                    y[2 * i + 1] = scale * (x1 * c + x0 * s);
                }
                for (int i = rd; i < D; ++i)
                    y[i] = scale * x[i];
            }
    return 0;
}
