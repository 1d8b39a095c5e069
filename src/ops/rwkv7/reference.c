/* Plain-C reference of RWKV-7's time mixing: the generalized delta rule's reference
 * (dvk_ref_dplr) with RWKV-7's inputs mapped onto it. See deltavk_reference.h. */
#include "deltavk_reference.h"

#include "../common/reference_util.h"

#include <stdlib.h>

int dvk_ref_rwkv7(const dvk_ref_rwkv7_args *p)
{
    if (!p || !p->kappa || !p->alpha || p->B < 1 || p->T < 1 || p->H < 1 || p->K < 1)
        return -1;
    /* a = -kappa and b = kappa * alpha, products in float as the kernels form them from the
     * float values they read */
    const size_t bt = (size_t)p->B * p->T, hk = (size_t)p->H * p->K;
    const size_t n = bt * hk;
    float *a = dvk_ref__alloc(sizeof(float), bt, hk), *b = dvk_ref__alloc(sizeof(float), bt, hk);
    int rc = -1;
    if (a && b) {
        for (size_t i = 0; i < n; ++i) {
            a[i] = -p->kappa[i];
            b[i] = p->kappa[i] * p->alpha[i];
        }
        rc = dvk_ref_dplr(&(dvk_ref_dplr_args){
            .B = p->B, .T = p->T, .H = p->H, .K = p->K, .V = p->V, .q = p->r, .k = p->k,
            .v = p->v, .a = a, .b = b, .gk = p->w, .h0 = p->h0, .cu_seqlens = p->cu_seqlens,
            .num_seqs = p->num_seqs, .scale = p->scale != 0.0f ? p->scale : 1.0f, .o = p->o,
            .ht = p->ht});
    }
    free(a);
    free(b);
    return rc;
}
