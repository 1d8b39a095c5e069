/* Plain-C reference of normalised linear attention, in double, token by token.
 * See deltavk_reference.h. */
#include "deltavk_reference.h"

#include "../common/reference_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double feature(double x, int elu1)
{
    return elu1 ? (x > 0.0 ? x + 1.0 : exp(x)) : x;
}

int dvk_ref_linear_attn(const dvk_ref_linear_attn_args *a)
{
    if (!a || !a->q || !a->k || !a->v || !a->o || a->H < 1 || a->K < 1 || a->V < 1)
        return -1;
    const int N = dvk_ref__sequences(a->B, a->T, a->cu_seqlens, a->num_seqs);
    if (N < 0)
        return -1;
    const int H = a->H, K = a->K, V = a->V;
    const double scale = a->scale != 0.0f ? (double)a->scale : 1.0 / sqrt((double)K);
    const double eps = a->eps != 0.0f ? (double)a->eps : 1e-6;
    double *S = dvk_ref__alloc(sizeof(double), (size_t)K, (size_t)V);
    double *z = dvk_ref__alloc(sizeof(double), (size_t)K, 1);
    double *qd = dvk_ref__alloc(sizeof(double), (size_t)K, 1);
    double *kd = dvk_ref__alloc(sizeof(double), (size_t)K, 1);
    if (!S || !z || !qd || !kd) {
        free(S);
        free(z);
        free(qd);
        free(kd);
        return -1;
    }
    for (int n = 0; n < N; ++n) {
        int bos, eos;
        dvk_ref__bounds(a->T, a->cu_seqlens, n, &bos, &eos);
        for (int h = 0; h < H; ++h) {
            const size_t s_off = ((size_t)n * H + h) * K * V, z_off = ((size_t)n * H + h) * K;
            for (size_t i = 0; i < (size_t)K * V; ++i)
                S[i] = a->h0 ? (double)a->h0[s_off + i] : 0.0;
            for (int i = 0; i < K; ++i)
                z[i] = a->z0 ? (double)a->z0[z_off + i] : 0.0;
            for (int t = bos; t < eos; ++t) {
                if (a->done && a->done[t] != 0.0f) { /* a new episode starts at t */
                    memset(S, 0, sizeof(double) * (size_t)K * V);
                    memset(z, 0, sizeof(double) * (size_t)K);
                }
                const size_t qk = ((size_t)t * H + h) * K, vo = ((size_t)t * H + h) * V;
                for (int i = 0; i < K; ++i) {
                    qd[i] = scale * feature(a->q[qk + i], a->elu1);
                    kd[i] = feature(a->k[qk + i], a->elu1);
                    z[i] += kd[i];
                }
                for (int i = 0; i < K; ++i)
                    for (int j = 0; j < V; ++j)
                        S[(size_t)i * V + j] += kd[i] * a->v[vo + j];
                double den = 1.0;
                if (a->normalize) {
                    double qz = 0.0;
                    for (int i = 0; i < K; ++i)
                        qz += qd[i] * z[i];
                    den = a->eps_add ? qz + eps : fmax(qz, eps);
                }
                for (int j = 0; j < V; ++j) {
                    double acc = 0.0;
                    for (int i = 0; i < K; ++i)
                        acc += S[(size_t)i * V + j] * qd[i];
                    a->o[vo + j] = acc / den;
                }
            }
            if (a->ht)
                memcpy(a->ht + s_off, S, sizeof(double) * (size_t)K * V);
            if (a->zt)
                memcpy(a->zt + z_off, z, sizeof(double) * (size_t)K);
        }
    }
    free(S);
    free(z);
    free(qd);
    free(kd);
    return 0;
}
