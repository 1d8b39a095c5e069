#version 450
// Infini-attention's retrieval from the compressive memory on CPU devices (lavapipe): the same
// mathematics, bindings and push constants as retrieve.comp (retrieve.h), laid out as
// shaders/ops/delta_rule/recurrent_cpu.comp explains for llvmpipe. A workgroup is one subgroup;
// each lane owns CPL adjacent value columns and holds their rows of the memory, M[:, cols], in
// registers, read once; then for each of the workgroup's BT tokens, φ(x_t) is loaded once per
// subgroup (a vec4 per lane, shaders/common/cpu_lanes.glsl), and
//   r_t = φ(x_t)^T M / max(φ(x_t)·z, eps)        (φ = elu + 1; φ(x_t)·z one subgroup sum)
//   MIX:    out_t = in_t σ(gate_h) + r_t (1 − σ(gate_h))   (x = q', in = out = o: in place)
//   DELTA:  out_t = in_t − r_t                              (x = k', in = v: the delta rule's v)
// No shared memory, no barrier.
//
// Preconditions (src/ops/infini_attn/infini_attn.c): WG = LANES = the subgroup size; CPL 1, 2
// or 4 dividing DV, BV = LANES * CPL; 1 <= D, DV <= 256; the subgroup shuffle and arithmetic.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "retrieve.h"

layout(constant_id = INFINI_ATTN_RETRIEVE_SPEC_D) const uint D = 128;
layout(constant_id = INFINI_ATTN_RETRIEVE_SPEC_DV) const uint DV = 128;
layout(constant_id = INFINI_ATTN_RETRIEVE_SPEC_BT) const uint BT = 64; // tokens per workgroup
layout(constant_id = INFINI_ATTN_RETRIEVE_SPEC_DELTA) const bool DELTA = false;
layout(constant_id = INFINI_ATTN_RETRIEVE_SPEC_LANES) const uint LANES = 8;
layout(constant_id = INFINI_ATTN_RETRIEVE_SPEC_CPL) const uint CPL = 1;
layout(local_size_x_id = INFINI_ATTN_RETRIEVE_SPEC_LANES) in;

const bool ELU1 = true, NORMALIZE = true, EPS_ADD = false;

#include "io.glsl"
#include "../linear_attn/feature.glsl"
#include "cpu_lanes.glsl"

layout(std430, binding = INFINI_ATTN_RETRIEVE_BIND_X) readonly buffer X { IO_T x[]; };
layout(std430, binding = INFINI_ATTN_RETRIEVE_BIND_MEM) readonly buffer M { float mem[]; };
layout(std430, binding = INFINI_ATTN_RETRIEVE_BIND_MEM_Z) readonly buffer Z { float mem_z[]; };
layout(std430, binding = INFINI_ATTN_RETRIEVE_BIND_GATE) readonly buffer Gate { float gate[]; };
layout(std430, binding = INFINI_ATTN_RETRIEVE_BIND_IN) readonly buffer In { IO_T in_[]; };
layout(std430, binding = INFINI_ATTN_RETRIEVE_BIND_OUT) writeonly buffer Out { IO_T out_[]; };
#ifdef DVK_IO_F16
#define IO4_T f16vec4
#else
#define IO4_T vec4
#endif
layout(std430, binding = INFINI_ATTN_RETRIEVE_BIND_X) readonly buffer X4 { IO4_T x4[]; };
layout(std430, binding = INFINI_ATTN_RETRIEVE_BIND_MEM_Z) readonly buffer Z4 { vec4 mem_z4[]; };

void main()
{
    const uint lane = gl_SubgroupInvocationID;
    const uint t0 = gl_WorkGroupID.x * BT, h = gl_WorkGroupID.y;
    const uint b = gl_WorkGroupID.z / pc.vtiles, vt = gl_WorkGroupID.z % pc.vtiles;
    const uint col0 = (vt * LANES + lane) * CPL; // this lane's first column
    // (constant when DV fills whole tiles: a load under a condition costs llvmpipe more)
    const bool col_ok = DV % (LANES * CPL) == 0 || col0 < DV;
    const uint m_base = (b * pc.H + h) * D * DV, z_base = (b * pc.H + h) * D;

    float m[D * CPL]; // m[i * CPL + c] = M[i][col0 + c]
    [[unroll]] for (uint i = 0; i < D; ++i)
        [[unroll]] for (uint c = 0; c < CPL; ++c)
            m[i * CPL + c] = col_ok ? mem[m_base + i * DV + col0 + c] : 0.0;
    float zc[CPU_SLOTS(D)], xc[CPU_SLOTS(D)];
    CPU_LOAD_ROW(zc, mem_z, mem_z4, z_base, D, cpu_same)
    const float sg = 1.0 / (1.0 + exp(-gate[h]));

    const uint nt = min(BT, pc.T - t0);
    for (uint t = 0; t < nt; ++t) {
        const uint row = (b * pc.T + t0 + t) * pc.H + h;
        CPU_LOAD_ROW(xc, x, x4, row * D, D, feature)
        float den = 0.0;
        [[unroll]] for (uint s = 0; s < CPU_SLOTS(D); ++s)
            den += xc[s] * zc[s];
        const float inv = 1.0 / max(subgroupAdd(den), pc.eps);
        float r[CPL];
        [[unroll]] for (uint c = 0; c < CPL; ++c)
            r[c] = 0.0;
        [[unroll]] for (uint i = 0; i < D; ++i) {
            const float xi = CPU_ENTRY(xc, i, D);
            [[unroll]] for (uint c = 0; c < CPL; ++c)
                r[c] += xi * m[i * CPL + c];
        }
        if (col_ok) {
            [[unroll]] for (uint c = 0; c < CPL; ++c) {
                const uint e = row * DV + col0 + c;
                const float a = float(in_[e]);
                const float rc = r[c] * inv;
                out_[e] = IO_T(DELTA ? a - rc : a * sg + rc * (1.0 - sg));
            }
        }
    }
}
