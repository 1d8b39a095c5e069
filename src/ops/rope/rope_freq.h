/* The rotary frequencies, shared by the rope kernels' host code and the C reference so both use
 * the very same fp32 values: f_i = theta^(−2i/rotary_dim), computed in double and rounded once
 * (rotary-embedding-torch computes them in fp32; the two differ by at most an ulp). The angle
 * of pair i at position p is then p · f_i, exactly (in double). */
#ifndef DVK_ROPE_FREQ_H
#define DVK_ROPE_FREQ_H

#include <math.h>

static inline float dvk__rope_freq(float theta, int rotary_dim, int i)
{
    return (float)pow((double)theta, -2.0 * (double)i / (double)rotary_dim);
}

#endif
