#version 450
// Infini-attention's memory update on CPU devices (lavapipe), where other devices run linear
// attention's chunk_state.comp: per batch row and head, over the segment's T tokens,
//   M' = M + Σ_t φ(k'_t) v_t^T,   z' = z + Σ_t φ(k'_t)      (φ = elu + 1; from zeros without
//                                                             USE_MEM)
// laid out as shaders/ops/delta_rule/recurrent_cpu.comp explains for llvmpipe: a workgroup is
// one subgroup; each lane owns CPL adjacent value columns with their rows of M in registers;
// each token's φ(k') is loaded once per subgroup (a vec4 per lane, cpu_lanes.glsl) and entry i
// handed to every lane by a shuffle. The value tile 0 workgroup also carries z, in the same
// slots as the keys, and is the only one to read or write it, so z may be updated in place.
// No shared memory, no barrier.
//
// Preconditions (src/ops/infini_attn/infini_attn.c): WG = LANES = the subgroup size; CPL 1, 2
// or 4 dividing DV; 1 <= D, DV <= 256; the subgroup shuffle.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "update_cpu.h"

layout(constant_id = INFINI_ATTN_UPDATE_CPU_SPEC_D) const uint D = 128;
layout(constant_id = INFINI_ATTN_UPDATE_CPU_SPEC_DV) const uint DV = 128;
layout(constant_id = INFINI_ATTN_UPDATE_CPU_SPEC_LANES) const uint LANES = 8;
layout(constant_id = INFINI_ATTN_UPDATE_CPU_SPEC_CPL) const uint CPL = 1;
layout(constant_id = INFINI_ATTN_UPDATE_CPU_SPEC_USE_MEM) const bool USE_MEM = false;
layout(local_size_x_id = INFINI_ATTN_UPDATE_CPU_SPEC_LANES) in;

const bool ELU1 = true, NORMALIZE = true, EPS_ADD = false;

#include "io.glsl"
#include "../linear_attn/feature.glsl"
#include "cpu_lanes.glsl"

layout(std430, binding = INFINI_ATTN_UPDATE_CPU_BIND_K) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = INFINI_ATTN_UPDATE_CPU_BIND_V) readonly buffer Vb { IO_T v[]; };
layout(std430, binding = INFINI_ATTN_UPDATE_CPU_BIND_MEM) readonly buffer M { float mem[]; };
layout(std430, binding = INFINI_ATTN_UPDATE_CPU_BIND_MEM_Z) readonly buffer Z { float mem_z[]; };
layout(std430, binding = INFINI_ATTN_UPDATE_CPU_BIND_OUT) writeonly buffer MO { float mem_out[]; };
layout(std430, binding = INFINI_ATTN_UPDATE_CPU_BIND_OUT_Z) writeonly buffer ZO { float z_out[]; };
#ifdef DVK_IO_F16
#define IO4_T f16vec4
#else
#define IO4_T vec4
#endif
layout(std430, binding = INFINI_ATTN_UPDATE_CPU_BIND_K) readonly buffer K4 { IO4_T k4[]; };
layout(std430, binding = INFINI_ATTN_UPDATE_CPU_BIND_MEM_Z) readonly buffer Z4 { vec4 mem_z4[]; };

void main()
{
    const uint lane = gl_SubgroupInvocationID;
    const uint vt = gl_WorkGroupID.x, h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
    const uint col0 = (vt * LANES + lane) * CPL; // this lane's first column
    // (constant when DV fills whole tiles: a load under a condition costs llvmpipe more)
    const bool col_ok = DV % (LANES * CPL) == 0 || col0 < DV;
    const uint m_base = (b * pc.H + h) * D * DV, z_base = (b * pc.H + h) * D;
    const bool carries_z = vt == 0;

    float m[D * CPL]; // m[i * CPL + c] = M[i][col0 + c]
    [[unroll]] for (uint i = 0; i < D; ++i)
        [[unroll]] for (uint c = 0; c < CPL; ++c)
            m[i * CPL + c] = USE_MEM && col_ok ? mem[m_base + i * DV + col0 + c] : 0.0;
    float zc[CPU_SLOTS(D)], kc[CPU_SLOTS(D)], vc[CPL];
    if (USE_MEM && carries_z) {
        CPU_LOAD_ROW(zc, mem_z, mem_z4, z_base, D, cpu_same)
    } else {
        [[unroll]] for (uint s = 0; s < CPU_SLOTS(D); ++s)
            zc[s] = 0.0;
    }

    for (uint t = 0; t < pc.T; ++t) {
        const uint row = (b * pc.T + t) * pc.H + h;
        CPU_LOAD_ROW(kc, k, k4, row * D, D, feature)
        [[unroll]] for (uint c = 0; c < CPL; ++c)
            vc[c] = col_ok ? float(v[row * DV + col0 + c]) : 0.0;
        [[unroll]] for (uint i = 0; i < D; ++i) {
            const float ki = CPU_ENTRY(kc, i, D);
            [[unroll]] for (uint c = 0; c < CPL; ++c)
                m[i * CPL + c] += ki * vc[c];
        }
        [[unroll]] for (uint s = 0; s < CPU_SLOTS(D); ++s)
            zc[s] += kc[s];
    }

    if (col_ok) {
        [[unroll]] for (uint i = 0; i < D; ++i)
            [[unroll]] for (uint c = 0; c < CPL; ++c)
                mem_out[m_base + i * DV + col0 + c] = m[i * CPL + c];
    }
    if (carries_z) {
        [[unroll]] for (uint s = 0; s < CPU_SLOTS(D); ++s) {
            const uint i = CPU_SLOT_ENTRY(s, D);
            if (D % (CPU_W(D) * LANES) == 0 || i < D)
                z_out[z_base + i] = zc[s];
        }
    }
}
