/* Plain-C reference of Kimi Delta Attention, in double. See deltavk_reference.h. Written as
 * the recurrence itself, one token at a time: decay each key row, then the delta-rule write. */
#include "deltavk_reference.h"

#include "../common/reference_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct kda_work {
    double *S, *u, *q, *k, *decay;
} kda_work;

/* One sequence of one value head: tokens [bos, eos), state S [K,V] updated in place. */
static void run_head(const dvk_ref_kda_args *a, int hv, int bos, int eos, double scale,
                     const kda_work *w)
{
    const int H = a->H, HV = a->HV ? a->HV : a->H, K = a->K, V = a->V;
    const int h = hv / (HV / H);
    double *S = w->S;
    for (int t = bos; t < eos; ++t) {
        dvk_ref__load(a->q + ((size_t)t * H + h) * K, K, a->l2norm_qk, w->q);
        dvk_ref__load(a->k + ((size_t)t * H + h) * K, K, a->l2norm_qk, w->k);
        const float *v = a->v + ((size_t)t * HV + hv) * V;
        const float *g = a->g + ((size_t)t * HV + hv) * K;
        double beta = a->beta[(size_t)t * HV + hv];
        if (a->beta_sigmoid)
            beta = 1.0 / (1.0 + exp(-beta));
        for (int i = 0; i < K; ++i) {
            double gi = g[i];
            if (a->gate_in_kernel)
                gi = -exp((double)a->A_log[hv]) *
                     dvk_ref__softplus(gi + (a->dt_bias ? a->dt_bias[(size_t)hv * K + i] : 0.0));
            w->decay[i] = exp(gi);
        }
        for (int i = 0; i < K; ++i) /* S' = Diag(exp(g)) S */
            for (int j = 0; j < V; ++j)
                S[(size_t)i * V + j] *= w->decay[i];
        for (int j = 0; j < V; ++j) { /* u = beta (v - S'^T k) */
            double kv = 0.0;
            for (int i = 0; i < K; ++i)
                kv += S[(size_t)i * V + j] * w->k[i];
            w->u[j] = beta * ((double)v[j] - kv);
        }
        for (int i = 0; i < K; ++i) /* S = S' + k u^T */
            for (int j = 0; j < V; ++j)
                S[(size_t)i * V + j] += w->k[i] * w->u[j];
        double *o = a->o + ((size_t)t * HV + hv) * V;
        for (int j = 0; j < V; ++j) { /* o = S^T (scale q) */
            double acc = 0.0;
            for (int i = 0; i < K; ++i)
                acc += S[(size_t)i * V + j] * (scale * w->q[i]);
            o[j] = acc;
        }
    }
}

int dvk_ref_kda(const dvk_ref_kda_args *a)
{
    if (!a || !a->q || !a->k || !a->v || !a->g || !a->beta || !a->o ||
        (a->gate_in_kernel && !a->A_log))
        return -1;
    const int HV = a->HV ? a->HV : a->H;
    if (a->H < 1 || a->K < 1 || a->V < 1 || HV % a->H != 0)
        return -1;
    const int N = dvk_ref__sequences(a->B, a->T, a->cu_seqlens, a->num_seqs);
    if (N < 0)
        return -1;
    const int K = a->K, V = a->V;
    const double scale = a->scale != 0.0f ? (double)a->scale : 1.0 / sqrt((double)K);

    kda_work w = {
        .S = dvk_ref__alloc(sizeof(double), (size_t)K, (size_t)V),
        .u = dvk_ref__alloc(sizeof(double), (size_t)V, 1),
        .q = dvk_ref__alloc(sizeof(double), (size_t)K, 1),
        .k = dvk_ref__alloc(sizeof(double), (size_t)K, 1),
        .decay = dvk_ref__alloc(sizeof(double), (size_t)K, 1),
    };
    int rc = (w.S && w.u && w.q && w.k && w.decay) ? 0 : -1;
    for (int n = 0; n < N && rc == 0; ++n) {
        int bos, eos;
        dvk_ref__bounds(a->T, a->cu_seqlens, n, &bos, &eos);
        for (int hv = 0; hv < HV; ++hv) {
            const size_t state_off = ((size_t)n * HV + hv) * K * V;
            for (size_t i = 0; i < (size_t)K * V; ++i)
                w.S[i] = a->h0 ? (double)a->h0[state_off + i] : 0.0;
            run_head(a, hv, bos, eos, scale, &w);
            if (a->ht)
                memcpy(a->ht + state_off, w.S, sizeof(double) * (size_t)K * V);
        }
    }
    free(w.S);
    free(w.u);
    free(w.q);
    free(w.k);
    free(w.decay);
    return rc;
}
