#version 450
// Causal softmax attention inside segments, planned for CPU devices (lavapipe): the same
// mathematics, bindings and push constants as softmax_attn.comp (softmax_attn.h), laid out as
// shaders/ops/delta_rule/recurrent_cpu.comp explains for llvmpipe: a workgroup is one subgroup
// of LANES invocations and each lane is one query, holding its scaled q [D] and its output
// accumulator [DV] in registers. The keys of the block's segments are visited KB at a time up
// to the block's last query; each key's row (and then its value row) is loaded once per
// subgroup, 4 entries per lane per load when the width allows, and entry i handed to every lane
// by a shuffle:
//   s_j = q . k_j  (masked: after the query, or before the start of the query's segment)
//   m' = max(m, max_j s_j);  p_j = exp(s_j - m');  l = l exp(m - m') + sum_j p_j
//   O  = O exp(m - m') + sum_j p_j v_j
// and finally o = O / l. No shared memory, no barrier. Logits enter exp() only after the row
// maximum is subtracted; masked ones carry a finite sentinel, as in softmax_attn.comp.
//
// Preconditions (src/ops/softmax_attn/softmax_attn.c): WG = the subgroup size (one subgroup
// per workgroup, one query per lane); 1 <= D, DV <= 256; the subgroup shuffle.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "softmax_attn.h"

layout(constant_id = SOFTMAX_ATTN_SPEC_D) const uint D = 128;
layout(constant_id = SOFTMAX_ATTN_SPEC_DV) const uint DV = 128;
layout(constant_id = SOFTMAX_ATTN_SPEC_WG) const uint LANES = 8; // = the subgroup size
layout(local_size_x_id = SOFTMAX_ATTN_SPEC_WG) in;

#include "io.glsl"

layout(std430, binding = SOFTMAX_ATTN_BIND_Q) readonly buffer Q { IO_T q[]; };
layout(std430, binding = SOFTMAX_ATTN_BIND_K) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = SOFTMAX_ATTN_BIND_V) readonly buffer Vb { IO_T v[]; };
layout(std430, binding = SOFTMAX_ATTN_BIND_O) writeonly buffer O { IO_T o[]; };

#include "cpu_lanes.glsl"
const float MASKED = -3.0e38;
// Keys per block (the online softmax rescales once per block): LANES, fewer for wide heads, as
// the unrolled block's size sets llvmpipe's compile time (D = DV = 256: 9.6 s with 8 keys, 6 s
// with 2).
const uint KB = D + DV <= 128 ? LANES : (D + DV <= 256 ? LANES / 2 : LANES / 4); // (LANES >= 4)

#ifdef DVK_IO_F16
#define IO4_T f16vec4
#else
#define IO4_T vec4
#endif
layout(std430, binding = SOFTMAX_ATTN_BIND_K) readonly buffer K4 { IO4_T k4[]; };
layout(std430, binding = SOFTMAX_ATTN_BIND_V) readonly buffer V4 { IO4_T v4[]; };

void main()
{
    const uint lane = gl_SubgroupInvocationID;
    const uint q0 = gl_WorkGroupID.x * LANES, h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
    const uint base = b * pc.T;
    const uint kend = min(q0 + LANES, pc.T);   // keys [kbegin, kend) serve the block
    const uint tok = min(q0 + lane, kend - 1); // (a lane past T repeats the last query)
    const uint seg0 = tok / pc.segment * pc.segment;

    float qr[D], acc[DV];
    [[unroll]] for (uint i = 0; i < D; ++i)
        qr[i] = pc.scale * float(q[((base + tok) * pc.H + h) * D + i]);
    [[unroll]] for (uint e = 0; e < DV; ++e)
        acc[e] = 0.0;
    float m = MASKED, l = 0.0;

    const uint kbegin = q0 / pc.segment * pc.segment;
    float kc[CPU_SLOTS(D)], vc[CPU_SLOTS(DV)], p[KB];
    for (uint k0 = kbegin; k0 < kend; k0 += KB) {
        float mx = MASKED;
        [[unroll]] for (uint j = 0; j < KB; ++j) {
            const uint key = min(k0 + j, kend - 1); // (keys past the block's end are masked)
            CPU_LOAD_ROW(kc, k, k4, ((base + key) * pc.H + h) * D, D, cpu_same)
            float s = 0.0;
            [[unroll]] for (uint i = 0; i < D; ++i)
                s += qr[i] * CPU_ENTRY(kc, i, D);
            const bool ok = k0 + j < kend && k0 + j <= tok && k0 + j >= seg0;
            p[j] = ok ? s : MASKED;
            mx = max(mx, p[j]);
        }
        const float m_new = max(m, mx);
        const float alpha = m > MASKED ? exp(m - m_new) : (m_new > MASKED ? 0.0 : 1.0);
        float sum = 0.0;
        [[unroll]] for (uint j = 0; j < KB; ++j) {
            p[j] = p[j] > MASKED ? exp(p[j] - m_new) : 0.0;
            sum += p[j];
        }
        l = l * alpha + sum;
        m = m_new;
        [[unroll]] for (uint e = 0; e < DV; ++e)
            acc[e] *= alpha;
        [[unroll]] for (uint j = 0; j < KB; ++j) {
            const uint key = min(k0 + j, kend - 1);
            CPU_LOAD_ROW(vc, v, v4, ((base + key) * pc.H + h) * DV, DV, cpu_same)
            [[unroll]] for (uint e = 0; e < DV; ++e)
                acc[e] += p[j] * CPU_ENTRY(vc, e, DV);
        }
    }

    if (q0 + lane < pc.T) {
        const float inv = 1.0 / l;
        [[unroll]] for (uint e = 0; e < DV; ++e)
            o[((base + tok) * pc.H + h) * DV + e] = IO_T(acc[e] * inv);
    }
}
