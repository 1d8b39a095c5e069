#version 450
// RWKV-7 after the recurrence, one (token, head) row per workgroup (see rwkv7.h):
//   o ← ((o − mean) / sqrt(var + eps) · ln_w + ln_b + (Σ r ⊙ k ⊙ r_k) · v) ⊙ g
// with mean, the biased var and the sum over the head's N channels. The variance is taken
// of the deviations from the mean (two passes over registers), as GroupNorm's.
#extension GL_GOOGLE_include_directive : require
#define RWKV7_OUTPUT
#include "common.glsl"

layout(std430, binding = RWKV7_OUT_BIND_O) buffer O_ { float o[]; };
layout(std430, binding = RWKV7_OUT_BIND_R) readonly buffer R_ { float r[]; };
layout(std430, binding = RWKV7_OUT_BIND_K) readonly buffer K_ { float k[]; };
layout(std430, binding = RWKV7_OUT_BIND_V) readonly buffer V_ { float v[]; };
layout(std430, binding = RWKV7_OUT_BIND_G) readonly buffer G_ { float g[]; };
layout(std430, binding = RWKV7_OUT_BIND_RK) readonly buffer RK_ { float r_k[]; };
layout(std430, binding = RWKV7_OUT_BIND_LNW) readonly buffer LNW_ { float ln_w[]; };
layout(std430, binding = RWKV7_OUT_BIND_LNB) readonly buffer LNB_ { float ln_b[]; };


void main()
{
    const uint row = rwkv7_row();
    if (row >= pc.rows) // uniform over the workgroup
        return;
    const uint lid = gl_LocalInvocationID.x, head = row % pc.heads;
    float ov[RWKV7_MAX_PER];
    float sum = 0.0, bonus = 0.0;
    for (uint j = 0; j < RWKV7_MAX_PER; ++j) {
        const uint i = lid + j * RWKV7_LOCAL;
        ov[j] = 0.0;
        if (i >= pc.n)
            continue;
        const uint at = row * pc.n + i;
        ov[j] = o[at];
        sum += ov[j];
        bonus += r[at] * k[at] * r_k[head * pc.n + i];
    }
    const float mean = rwkv7_sum(sum) / float(pc.n);
    float dev = 0.0;
    for (uint j = 0; j < RWKV7_MAX_PER; ++j)
        if (lid + j * RWKV7_LOCAL < pc.n)
            dev += (ov[j] - mean) * (ov[j] - mean);
    const float inv = inversesqrt(rwkv7_sum(dev) / float(pc.n) + pc.eps);
    const float s = rwkv7_sum(bonus);
    for (uint j = 0; j < RWKV7_MAX_PER; ++j) {
        const uint i = lid + j * RWKV7_LOCAL;
        if (i >= pc.n)
            continue;
        const uint at = row * pc.n + i, p = head * pc.n + i;
        o[at] = ((ov[j] - mean) * inv * ln_w[p] + ln_b[p] + s * v[at]) * g[at];
    }
}
