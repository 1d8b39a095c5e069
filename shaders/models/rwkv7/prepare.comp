#version 450
// RWKV-7 before the recurrence, one (token, head) row per workgroup (see rwkv7.h):
//   w ← scale·σ(w);  α ← σ(α);  κ̂ = (k ⊙ k_k) / max(‖k ⊙ k_k‖, 1e-12) over the head;
//   k ← k ⊙ (1 + (α − 1) ⊙ k_a);  VRES: v ← v + (v_first − v) ⊙ σ(v_gate).
// Each invocation reads its elements before writing them (in place).
#extension GL_GOOGLE_include_directive : require
#define RWKV7_PREPARE
#include "common.glsl"

layout(constant_id = RWKV7_PREP_SPEC_VRES) const uint VRES = 0;

layout(std430, binding = RWKV7_PREP_BIND_K) buffer K_ { float k[]; };
layout(std430, binding = RWKV7_PREP_BIND_W) buffer W_ { float w[]; };
layout(std430, binding = RWKV7_PREP_BIND_A) buffer A_ { float a[]; };
layout(std430, binding = RWKV7_PREP_BIND_KAPPA) writeonly buffer Kappa_ { float kappa[]; };
layout(std430, binding = RWKV7_PREP_BIND_V) buffer V_ { float v[]; };
layout(std430, binding = RWKV7_PREP_BIND_VFIRST) readonly buffer VFirst_ { float v_first[]; };
layout(std430, binding = RWKV7_PREP_BIND_VGATE) readonly buffer VGate_ { float v_gate[]; };
layout(std430, binding = RWKV7_PREP_BIND_KK) readonly buffer KK_ { float k_k[]; };
layout(std430, binding = RWKV7_PREP_BIND_KA) readonly buffer KA_ { float k_a[]; };


void main()
{
    const uint row = rwkv7_row();
    if (row >= pc.rows) // uniform over the workgroup: no barrier is skipped by some only
        return;
    const uint lid = gl_LocalInvocationID.x, head = row % pc.heads;
    float kk[RWKV7_MAX_PER];
    float ss = 0.0;
    for (uint j = 0; j < RWKV7_MAX_PER; ++j) {
        const uint i = lid + j * RWKV7_LOCAL;
        kk[j] = 0.0;
        if (i >= pc.n)
            continue;
        const uint at = row * pc.n + i, p = head * pc.n + i;
        const float kv = k[at], av = rwkv7_sigmoid(a[at]);
        a[at] = av;
        w[at] = pc.decay_scale * rwkv7_sigmoid(w[at]);
        kk[j] = kv * k_k[p];
        ss += kk[j] * kk[j];
        k[at] = kv * (1.0 + (av - 1.0) * k_a[p]);
        if (VRES != 0) {
            const float vv = v[at];
            v[at] = vv + (v_first[at] - vv) * rwkv7_sigmoid(v_gate[at]);
        }
    }
    const float inv = 1.0 / max(sqrt(rwkv7_sum(ss)), 1e-12);
    for (uint j = 0; j < RWKV7_MAX_PER; ++j) {
        const uint i = lid + j * RWKV7_LOCAL;
        if (i < pc.n)
            kappa[row * pc.n + i] = kk[j] * inv;
    }
}
