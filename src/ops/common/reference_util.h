/* Helpers shared by the plain-C references (src/ops/<op>/reference.c). Header-only: the
 * reference library links no other deltavk code. */
#ifndef DVK_REFERENCE_UTIL_H
#define DVK_REFERENCE_UTIL_H

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* malloc of a * b elements of `size` bytes, or NULL when that product overflows (the sizes
 * come from the caller's ints: 8 * K * V wraps for K, V near 2^31). */
static inline void *dvk_ref__alloc(size_t size, size_t a, size_t b)
{
    if (size == 0 || (b != 0 && a > SIZE_MAX / size / b))
        return NULL;
    return malloc(size * a * b);
}

/* x / sqrt(sum x^2 + 1e-6), as fla's use_qk_l2norm_in_kernel; or a plain copy. */
static inline void dvk_ref__load(const float *x, int n, bool l2norm, double *out)
{
    double inv = 1.0;
    if (l2norm) {
        double ss = 0.0;
        for (int i = 0; i < n; ++i)
            ss += (double)x[i] * x[i];
        inv = 1.0 / sqrt(ss + 1e-6);
    }
    for (int i = 0; i < n; ++i)
        out[i] = x[i] * inv;
}

/* Checks a batch description: B sequences of T tokens, or with cu_seqlens B = 1 and num_seqs
 * packed sequences. Returns the number of sequences, or -1. */
static inline int dvk_ref__sequences(int B, int T, const int *cu_seqlens, int num_seqs)
{
    if (B < 1 || T < 1)
        return -1;
    if (!cu_seqlens) /* token indices n * T + t are ints */
        return B > INT_MAX / T ? -1 : B;
    if (B != 1 || num_seqs < 1 || cu_seqlens[0] != 0 || cu_seqlens[num_seqs] != T)
        return -1;
    for (int i = 0; i < num_seqs; ++i)
        if (cu_seqlens[i + 1] < cu_seqlens[i])
            return -1;
    return num_seqs;
}

/* Tokens [*bos, *eos) of sequence n. */
static inline void dvk_ref__bounds(int T, const int *cu_seqlens, int n, int *bos, int *eos)
{
    *bos = cu_seqlens ? cu_seqlens[n] : n * T;
    *eos = cu_seqlens ? cu_seqlens[n + 1] : (n + 1) * T;
}

/* softplus with PyTorch's threshold (x above 20 is returned as is). */
static inline double dvk_ref__softplus(double x)
{
    return x > 20.0 ? x : log1p(exp(x));
}

#endif
