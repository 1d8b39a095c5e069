#version 450
// Normalised linear attention token by token, planned for CPU devices (lavapipe): the same
// mathematics, options, bindings and push constants as recurrent.comp (recurrent.h), laid out
// as shaders/ops/delta_rule/recurrent_cpu.comp explains: a workgroup is one subgroup of LANES
// invocations, CPL adjacent value columns per lane (read and written as one vector) with their
// state rows s[K][CPL] in registers; a token's q and k are loaded once per subgroup, VW entries
// per lane per load (a vec4 when K % 4 == 0), and each entry handed to every lane by a shuffle;
// no shared memory, no barrier. The normaliser z (the same for every column) is held in the
// same slots (lane l of load c holds z[(c * LANES + l) * VW ..]), so q'.z is one subgroup sum.
//
//   done_t != 0:  S = 0, z = 0
//   S_t = S_{t-1} + phi(k_t) v_t^T;  z_t = z_{t-1} + phi(k_t);  q' = scale phi(q_t)
//   o_t = S_t^T q' / max(q'.z_t, eps)     (EPS_ADD: q'.z_t + eps; without NORMALIZE: S_t^T q')
//
// z is read, never written here (normalizer.comp writes it afterwards), as in recurrent.comp.
// Preconditions (src/ops/linear_attn/linear_attn.c): those of recurrent.comp, and WG = the
// subgroup size, KS (here: columns per lane, CPL) 1, 2 or 4 dividing V, BV = WG * CPL; the
// subgroup shuffle and arithmetic.
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
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_KS) const uint CPL = 1;   // columns per lane
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_ELU1) const bool ELU1 = false;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_NORMALIZE) const bool NORMALIZE = true;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_EPS_ADD) const bool EPS_ADD = false;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_USE_DONE) const bool USE_DONE = false;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_USE_Z0) const bool USE_Z0 = false;
layout(local_size_x_id = LINEAR_ATTN_RECURRENT_SPEC_WG) in;

#include "cpu_lanes.glsl"
const uint KSL = CPU_SLOTS(K); // slots per lane of a key-sized vector

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
// The same buffers 4 (or 2) elements at a time: one loop trip per lane for several.
#ifdef DVK_IO_F16
#define IO4_T f16vec4
#define IO2_T f16vec2
#else
#define IO4_T vec4
#define IO2_T vec2
#endif
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_Q) readonly buffer Q4 { IO4_T q4[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_K) readonly buffer K4 { IO4_T k4[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_Z0) readonly buffer Z04 { vec4 z04[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_V) readonly buffer V4 { IO4_T v4[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_O) writeonly buffer O4 { IO4_T o4[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_H0) readonly buffer H04 { vec4 h04[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_HT) writeonly buffer HT4 { vec4 ht4[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_V) readonly buffer V2 { IO2_T v2[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_O) writeonly buffer O2 { IO2_T o2[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_H0) readonly buffer H02 { vec2 h02[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_HT) writeonly buffer HT2 { vec2 ht2[]; };

#define ENTRY(slots, i) CPU_ENTRY(slots, i, K)
#define LOAD_KEY(slots, buf, buf4, base, conv) CPU_LOAD_ROW(slots, buf, buf4, base, K, conv)

float query(float x) { return pc.scale * feature(x); }

void main()
{
    const uint lane = gl_SubgroupInvocationID;
    const uint vt = gl_WorkGroupID.x, h = gl_WorkGroupID.y, n = gl_WorkGroupID.z;
    const uint col0 = (vt * LANES + lane) * CPL; // this lane's first column
    // (constant when V fills whole tiles: a load under a condition is slower)
    const bool col_ok = V % (LANES * CPL) == 0 || col0 < V;

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
    float s[K * CPL]; // s[i * CPL + c] = S[i][col0 + c]
    [[unroll]] for (uint i = 0; i < K; ++i) {
        const uint a = (state_base + i * V + col0) / CPL;
        if (CPL == 4) {
            const vec4 x = (USE_H0 && col_ok) ? h04[a] : vec4(0.0);
            [[unroll]] for (uint c = 0; c < 4; ++c)
                s[i * CPL + c % CPL] = x[c];
        } else if (CPL == 2) {
            const vec2 x = (USE_H0 && col_ok) ? h02[a] : vec2(0.0);
            [[unroll]] for (uint c = 0; c < 2; ++c)
                s[i * CPL + c % CPL] = x[c];
        } else {
            s[i] = (USE_H0 && col_ok) ? h0[a] : 0.0;
        }
    }
    float zc[KSL], kc[KSL], qc[KSL], vc[CPL];
    if (USE_Z0) {
        LOAD_KEY(zc, z0, z04, z_base, cpu_same)
    } else {
        [[unroll]] for (uint x = 0; x < KSL; ++x)
            zc[x] = 0.0;
    }

    for (uint t = 0; t < len; ++t) {
        const uint tok = bos + t;
        if (USE_DONE && float(done[tok]) != 0.0) {
            [[unroll]] for (uint i = 0; i < K * CPL; ++i)
                s[i] = 0.0;
            [[unroll]] for (uint x = 0; x < KSL; ++x)
                zc[x] = 0.0;
        }
        const uint key_base = (tok * pc.H + h) * K;
        LOAD_KEY(kc, k, k4, key_base, feature)
        LOAD_KEY(qc, q, q4, key_base, query)
        float qz = 0.0;
        [[unroll]] for (uint x = 0; x < KSL; ++x) {
            zc[x] += kc[x];
            qz += zc[x] * qc[x];
        }
        if (NORMALIZE)
            qz = subgroupAdd(qz);
        const uint val = (tok * pc.H + h) * V + col0;
        if (CPL == 4) {
            const vec4 x = col_ok ? vec4(v4[val / 4]) : vec4(0.0);
            [[unroll]] for (uint c = 0; c < 4; ++c)
                vc[c % CPL] = x[c];
        } else if (CPL == 2) {
            const vec2 x = col_ok ? vec2(v2[val / 2]) : vec2(0.0);
            [[unroll]] for (uint c = 0; c < 2; ++c)
                vc[c % CPL] = x[c];
        } else {
            vc[0] = col_ok ? float(v[val]) : 0.0;
        }
        vec4 qo = vec4(0.0);
        [[unroll]] for (uint i = 0; i < K; ++i) {
            const float ki = ENTRY(kc, i), qi = ENTRY(qc, i);
            [[unroll]] for (uint c = 0; c < CPL; ++c) {
                const float x = s[i * CPL + c] + ki * vc[c];
                s[i * CPL + c] = x;
                qo[c] += x * qi;
            }
        }
        qo /= denominator(qz, pc.eps);
        if (col_ok) {
            if (CPL == 4)
                o4[val / 4] = IO4_T(qo);
            else if (CPL == 2)
                o2[val / 2] = IO2_T(qo.xy);
            else
                o[val] = IO_T(qo.x);
        }
    }

    if (STORE_HT && col_ok) {
        [[unroll]] for (uint i = 0; i < K; ++i) {
            const uint a = (state_base + i * V + col0) / CPL;
            if (CPL == 4) {
                vec4 x;
                [[unroll]] for (uint c = 0; c < 4; ++c)
                    x[c] = s[i * CPL + c % CPL];
                ht4[a] = x;
            } else if (CPL == 2) {
                ht2[a] = vec2(s[i * CPL], s[i * CPL + 1 % CPL]);
            } else {
                ht[a] = s[i];
            }
        }
    }
}
