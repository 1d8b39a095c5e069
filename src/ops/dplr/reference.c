/* Plain-C reference of the generalized (diagonal-plus-low-rank) delta rule, in double. See
 * deltavk_reference.h. Written as the recurrence itself, one token at a time:
 *     S_t = Diag(exp(gk_t)) S_{t-1} + b_t (a_t^T S_{t-1}) + k_t v_t^T,
 * read along the value axis (o = S^T q) or the key axis (o = S q). */
#include "deltavk_reference.h"

#include "../common/reference_util.h"

#include <stdlib.h>
#include <string.h>

/* One sequence of one head: tokens [bos, eos), state S [K,V] updated in place; w [V]. */
static void run_head(const dvk_ref_dplr_args *p, int h, int bos, int eos, double scale, double *S,
                     double *w)
{
    const int H = p->H, K = p->K, V = p->V;
    const int QD = p->readout_key ? V : K; /* length of q; o has the other one */
    const int OD = p->readout_key ? K : V;
    for (int t = bos; t < eos; ++t) {
        const size_t kk = ((size_t)t * H + h) * K;
        const float *q = p->q + ((size_t)t * H + h) * QD;
        const float *v = p->v + ((size_t)t * H + h) * V;
        for (int j = 0; j < V; ++j) { /* w = S_{t-1}^T a */
            double acc = 0.0;
            for (int i = 0; i < K; ++i)
                acc += (double)p->a[kk + i] * S[(size_t)i * V + j];
            w[j] = acc;
        }
        for (int i = 0; i < K; ++i) {
            const double decay = exp((double)p->gk[kk + i]);
            const double bi = p->b[kk + i], ki = p->k[kk + i];
            for (int j = 0; j < V; ++j) {
                double *s = &S[(size_t)i * V + j];
                *s = decay * *s + bi * w[j] + ki * (double)v[j];
            }
        }
        double *o = p->o + ((size_t)t * H + h) * OD;
        if (p->readout_key) { /* o = S (scale q) */
            for (int i = 0; i < K; ++i) {
                double acc = 0.0;
                for (int j = 0; j < V; ++j)
                    acc += S[(size_t)i * V + j] * (double)q[j];
                o[i] = scale * acc;
            }
        } else { /* o = S^T (scale q) */
            for (int j = 0; j < V; ++j) {
                double acc = 0.0;
                for (int i = 0; i < K; ++i)
                    acc += S[(size_t)i * V + j] * (double)q[i];
                o[j] = scale * acc;
            }
        }
    }
}

int dvk_ref_dplr(const dvk_ref_dplr_args *p)
{
    if (!p || !p->q || !p->k || !p->v || !p->a || !p->b || !p->gk || !p->o)
        return -1;
    if (p->H < 1 || p->K < 1 || p->V < 1)
        return -1;
    const int N = dvk_ref__sequences(p->B, p->T, p->cu_seqlens, p->num_seqs);
    if (N < 0)
        return -1;
    const int K = p->K, V = p->V;
    const double scale = p->scale != 0.0f ? (double)p->scale : 1.0 / sqrt((double)K);
    double *S = dvk_ref__alloc(sizeof(double), (size_t)K, (size_t)V);
    double *w = dvk_ref__alloc(sizeof(double), (size_t)V, 1);
    int rc = (S && w) ? 0 : -1;
    for (int n = 0; n < N && rc == 0; ++n) {
        int bos, eos;
        dvk_ref__bounds(p->T, p->cu_seqlens, n, &bos, &eos);
        for (int h = 0; h < p->H; ++h) {
            const size_t state_off = ((size_t)n * p->H + h) * K * V;
            for (size_t i = 0; i < (size_t)K * V; ++i)
                S[i] = p->h0 ? (double)p->h0[state_off + i] : 0.0;
            run_head(p, h, bos, eos, scale, S, w);
            if (p->ht)
                memcpy(p->ht + state_off, S, sizeof(double) * (size_t)K * V);
        }
    }
    free(S);
    free(w);
    return rc;
}
