#version 450
// Normalised linear attention token by token, planned for CPU devices (lavapipe): the same
// mathematics, options, bindings and push constants as recurrent.comp (recurrent.h), laid out
// as shaders/ops/delta_rule/recurrent_cpu.comp explains: a workgroup is one subgroup of LANES
// invocations, one value column per lane with its state column s[K] in registers; a token's q
// and k are loaded once per subgroup in chunks of LANES entries and each entry handed to every
// lane by a shuffle; no shared memory, no barrier. The normaliser z (the same for every column)
// is held in chunks too (lane l of chunk c holds z[c * LANES + l]), so q'.z is one subgroup sum.
//
//   done_t != 0:  S = 0, z = 0
//   S_t = S_{t-1} + phi(k_t) v_t^T;  z_t = z_{t-1} + phi(k_t);  q' = scale phi(q_t)
//   o_t = S_t^T q' / max(q'.z_t, eps)     (EPS_ADD: q'.z_t + eps; without NORMALIZE: S_t^T q')
//
// z is read, never written here (normalizer.comp writes it afterwards), as in recurrent.comp.
// Preconditions (src/ops/linear_attn/linear_attn.c): those of recurrent.comp, and WG = BV = the
// subgroup size, KS = 1; the subgroup shuffle and arithmetic.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "recurrent.h"

layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_K) const uint K = 128;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_V) const uint V = 128;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_USE_H0) const bool USE_H0 = false;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_STORE_HT) const bool STORE_HT = false;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_VARLEN) const bool VARLEN = false;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_WG) const uint LANES = 8; // = the subgroup size
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_ELU1) const bool ELU1 = false;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_NORMALIZE) const bool NORMALIZE = true;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_EPS_ADD) const bool EPS_ADD = false;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_USE_DONE) const bool USE_DONE = false;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_USE_Z0) const bool USE_Z0 = false;
layout(local_size_x_id = LINEAR_ATTN_RECURRENT_SPEC_WG) in;

const uint KC = (K + LANES - 1) / LANES; // chunks of a key-sized vector

#include "io.glsl"
#include "feature.glsl"

layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_Q) readonly buffer Q { IO_T q[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_K) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_V) readonly buffer Vb { IO_T v[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_DONE) readonly buffer Done { IO_T done[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_H0) readonly buffer H0 { float h0[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_Z0) readonly buffer Z0 { float z0[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_HT) writeonly buffer HT { float ht[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_O) writeonly buffer O { IO_T o[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_CU_SEQLENS)
    readonly buffer CU { int cu_seqlens[]; };

// Entry i of a key-sized vector held as chunks (lane l of chunk c holds entry c * LANES + l).
#define ENTRY(chunks, i) subgroupShuffle(chunks[(i) / LANES], (i) % LANES)

void main()
{
    const uint lane = gl_SubgroupInvocationID;
    const uint vt = gl_WorkGroupID.x, h = gl_WorkGroupID.y, n = gl_WorkGroupID.z;
    const uint col = vt * LANES + lane;
    // (constant when V fills whole tiles: a load under a condition is slower)
    const bool col_ok = V % LANES == 0 || col < V;

    uint bos, len;
    if (VARLEN) {
        bos = uint(cu_seqlens[n]);
        len = uint(cu_seqlens[n + 1]) - bos;
    } else {
        bos = n * pc.T;
        len = pc.T;
    }
    const uint skip = min(len, pc.t_begin);
    bos += skip;
    len = min(len - skip, pc.t_count);

    const uint state_base = (n * pc.H + h) * K * V, z_base = (n * pc.H + h) * K;
    float s[K];
    [[unroll]] for (uint i = 0; i < K; ++i)
        s[i] = (USE_H0 && col_ok) ? h0[state_base + i * V + col] : 0.0;
    float zc[KC], kc[KC], qc[KC];
    [[unroll]] for (uint c = 0; c < KC; ++c) {
        const uint i = c * LANES + lane;
        zc[c] = (USE_Z0 && (K % LANES == 0 || i < K)) ? z0[z_base + i] : 0.0;
    }

    for (uint t = 0; t < len; ++t) {
        const uint tok = bos + t;
        if (USE_DONE && float(done[tok]) != 0.0) {
            [[unroll]] for (uint i = 0; i < K; ++i)
                s[i] = 0.0;
            [[unroll]] for (uint c = 0; c < KC; ++c)
                zc[c] = 0.0;
        }
        const uint key_base = (tok * pc.H + h) * K;
        float qz = 0.0;
        [[unroll]] for (uint c = 0; c < KC; ++c) {
            const uint i = c * LANES + lane;
            const bool ok = K % LANES == 0 || i < K;
            kc[c] = ok ? feature(float(k[key_base + i])) : 0.0;
            qc[c] = ok ? pc.scale * feature(float(q[key_base + i])) : 0.0;
            zc[c] += kc[c];
            qz += zc[c] * qc[c];
        }
        if (NORMALIZE)
            qz = subgroupAdd(qz);
        const uint val = (tok * pc.H + h) * V + col;
        const float vc = col_ok ? float(v[val]) : 0.0;
        float qo = 0.0;
        [[unroll]] for (uint i = 0; i < K; ++i) {
            s[i] += ENTRY(kc, i) * vc;
            qo += s[i] * ENTRY(qc, i);
        }
        if (col_ok)
            o[val] = IO_T(qo / denominator(qz, pc.eps));
    }

    if (STORE_HT && col_ok) {
        [[unroll]] for (uint i = 0; i < K; ++i)
            ht[state_base + i * V + col] = s[i];
    }
}
