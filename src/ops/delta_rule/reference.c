/* Plain-C reference of the delta rule and the gated delta rule, in double.
 * See deltavk_reference.h. Written as the recurrence itself, one token at a time. */
#include "deltavk_reference.h"

#include "../common/reference_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One sequence of one value head: tokens [bos, eos), state S [K,V] updated in place. */
static void run_head(const dvk_ref_delta_rule_args *a, int hv, int bos, int eos, double scale,
                     double *S, double *u, double *qd, double *kd)
{
    const int H = a->H, HV = a->HV ? a->HV : a->H, K = a->K, V = a->V;
    const int h = hv / (HV / H);
    for (int t = bos; t < eos; ++t) {
        const float *q = a->q + ((size_t)t * H + h) * K;
        const float *k = a->k + ((size_t)t * H + h) * K;
        const float *v = a->v + ((size_t)t * HV + hv) * V;
        const double beta = a->beta[(size_t)t * HV + hv];
        double *o = a->o + ((size_t)t * HV + hv) * V;
        dvk_ref__load(q, K, a->l2norm_qk, qd);
        dvk_ref__load(k, K, a->l2norm_qk, kd);
        if (a->g) { /* S' = exp(g) S */
            const double decay = exp((double)a->g[(size_t)t * HV + hv]);
            for (size_t i = 0; i < (size_t)K * V; ++i)
                S[i] *= decay;
        }
        for (int j = 0; j < V; ++j) { /* u = beta (v - S'^T k) */
            double kv = 0.0;
            for (int i = 0; i < K; ++i)
                kv += S[(size_t)i * V + j] * kd[i];
            u[j] = beta * ((double)v[j] - kv);
        }
        for (int i = 0; i < K; ++i) /* S = S' + k u^T */
            for (int j = 0; j < V; ++j)
                S[(size_t)i * V + j] += kd[i] * u[j];
        for (int j = 0; j < V; ++j) { /* o = S^T (scale q) */
            double acc = 0.0;
            for (int i = 0; i < K; ++i)
                acc += S[(size_t)i * V + j] * (scale * qd[i]);
            o[j] = acc;
        }
    }
}

int dvk_ref_delta_rule(const dvk_ref_delta_rule_args *a)
{
    if (!a || !a->q || !a->k || !a->v || !a->beta || !a->o)
        return -1;
    const int HV = a->HV ? a->HV : a->H;
    if (a->H < 1 || a->K < 1 || a->V < 1 || HV % a->H != 0)
        return -1;
    const int N = dvk_ref__sequences(a->B, a->T, a->cu_seqlens, a->num_seqs);
    if (N < 0)
        return -1;
    const int K = a->K, V = a->V;
    const double scale = a->scale != 0.0f ? (double)a->scale : 1.0 / sqrt((double)K);

    double *S = dvk_ref__alloc(sizeof(double), (size_t)K, (size_t)V);
    double *u = dvk_ref__alloc(sizeof(double), (size_t)V, 1);
    double *qd = dvk_ref__alloc(sizeof(double), (size_t)K, 1);
    double *kd = dvk_ref__alloc(sizeof(double), (size_t)K, 1);
    if (!S || !u || !qd || !kd) {
        free(S);
        free(u);
        free(qd);
        free(kd);
        return -1;
    }
    for (int n = 0; n < N; ++n) {
        int bos, eos;
        dvk_ref__bounds(a->T, a->cu_seqlens, n, &bos, &eos);
        for (int hv = 0; hv < HV; ++hv) {
            const size_t state_off = ((size_t)n * HV + hv) * K * V;
            for (size_t i = 0; i < (size_t)K * V; ++i)
                S[i] = a->h0 ? (double)a->h0[state_off + i] : 0.0;
            run_head(a, hv, bos, eos, scale, S, u, qd, kd);
            if (a->ht)
                memcpy(a->ht + state_off, S, sizeof(double) * (size_t)K * V);
        }
    }
    free(S);
    free(u);
    free(qd);
    free(kd);
    return 0;
}

double dvk_ref_rel_rms_error(const double *ref, const float *got, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; ++i) {
        if (!isfinite(got[i]))
            return INFINITY;
        const double d = (double)got[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}
