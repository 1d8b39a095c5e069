/* Interface of the row kernels along the last dimension (dvk_softmax, dvk_argmax, dvk_sample):
 * one workgroup per row of N, looping over it, with shared-memory reductions (no subgroup
 * operations), so any N up to 2^32 - 1 and any device run them. And the uniform-number hash
 * of dvk_sample, written once for the GLSL and the C (dvk_sample_uniform, dvk_ref_sample). */
#ifndef DVK_NN_SAMPLING_H
#define DVK_NN_SAMPLING_H

#include "../../common/interface.h"

/* Invocations per workgroup: 256, or 128 where the device allows no more; 64 for rows of at
 * most SAMPLING_SHORT_ROW elements. A power of two, at least 4 * SAMPLE_PROBES. */
#define SAMPLING_LOCAL_MAX 256
#define SAMPLING_LOCAL_MIN 128
#define SAMPLING_LOCAL_SHORT 64
#define SAMPLING_SHORT_ROW 4096

/* dvk_sample's threshold search (sample.comp): each pass over the row splits the interval of
 * float bit patterns still in question into SAMPLE_PROBES buckets and gathers each bucket's
 * count, probability mass and extreme bit patterns; per-invocation partials are folded into
 * SAMPLE_COLS columns of shared memory (4 x 16 x 32 x 4 bytes = 8 KiB). */
#define SAMPLE_PROBES 16
#define SAMPLE_COLS 32

#define SAMPLING_SPEC_LOCAL 0
#define SAMPLING_SPEC_X_DT 1 /* DVK_DT_* of x / logits */
#define SAMPLING_SPEC_Y_DT 2 /* softmax: of y */
#define SAMPLING_SPEC_LOG 3  /* softmax: 1 = log-softmax */
#define SAMPLING_SPECS 4

#define SAMPLING_BIND_X 0
#define SAMPLING_BIND_Y 1
#define SAMPLING_BINDINGS 2

DVK_PUSH_BEGIN(sampling_push)
    uint32_t rows;
    uint32_t n;       /* N: the last dimension */
    float scale;      /* 1 / temperature */
    uint32_t top_k;   /* sample: 0 = no top-k cut (also when >= N) */
    float top_p;      /* sample: 0 = no nucleus cut; else in (0, 1) */
    uint32_t seed_lo; /* sample: the 64-bit seed in two halves (GLSL has no 64-bit integers */
    uint32_t seed_hi; /* without an extension) */
DVK_PUSH_END(sampling_push)

/* The counter-based hash of dvk_sample: 32 bits from (seed low, seed high, row), each step
 * MurmurHash3's 32-bit finaliser (a bijection with full avalanche), so neighbouring rows and
 * seeds give unrelated numbers. Identical in C and GLSL: unsigned 32-bit arithmetic wraps in
 * both. The uniform number is its top 24 bits over 2^24, exact in fp32: u in [0, 1). */
#if defined(__STDC__) || defined(__cplusplus)
#define DVK_SAMPLE_FN static inline uint32_t
#else
#define DVK_SAMPLE_FN uint
#endif

DVK_SAMPLE_FN dvk_sample_fmix(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

DVK_SAMPLE_FN dvk_sample_hash(uint32_t seed_lo, uint32_t seed_hi, uint32_t row)
{
    uint32_t h = dvk_sample_fmix(seed_hi ^ 0x9e3779b9u);
    h = dvk_sample_fmix(h ^ seed_lo);
    return dvk_sample_fmix(h ^ dvk_sample_fmix(row + 0x7f4a7c15u));
}

#define DVK_SAMPLE_U_SCALE (1.0 / 16777216.0) /* 2^-24 */

#endif
