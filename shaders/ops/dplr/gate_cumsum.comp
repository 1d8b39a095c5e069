#version 450
// Chunked KDA / generalized delta rule, pass 0: the cumulative log decay of every key channel
// inside each chunk,
//   G[t][i] = sum over s <= t (in the chunk) of g[s][i]
// with KDA's gate computed first when asked (GATE_ACT): g <- -exp(A_log[h]) softplus(g +
// dt_bias[h, i]). One workgroup per (chunk, head); invocation i walks channel i down the
// chunk, so every step reads and writes one contiguous row.
#extension GL_GOOGLE_include_directive : require
#include "gate_cumsum.h"

layout(constant_id = DPLR_GATE_CUMSUM_SPEC_K) const uint K = 128;
layout(constant_id = DPLR_GATE_CUMSUM_SPEC_GATE_ACT) const bool GATE_ACT = false;
layout(constant_id = DPLR_GATE_CUMSUM_SPEC_USE_DT_BIAS) const bool USE_DT_BIAS = false;
layout(constant_id = DPLR_GATE_CUMSUM_SPEC_WG) const uint WG = 128;
layout(local_size_x_id = DPLR_GATE_CUMSUM_SPEC_WG) in;

#include "io.glsl"
#include "softplus.glsl"

layout(std430, binding = DPLR_GATE_CUMSUM_BIND_G) readonly buffer G { IO_T g[]; };
layout(std430, binding = DPLR_GATE_CUMSUM_BIND_A_LOG) readonly buffer ALog { float A_log[]; };
layout(std430, binding = DPLR_GATE_CUMSUM_BIND_DT_BIAS) readonly buffer DtBias { float dt_bias[]; };
layout(std430, binding = DPLR_GATE_CUMSUM_BIND_G_CUM) writeonly buffer Gc { float g_cum[]; };
layout(std430, binding = DPLR_GATE_CUMSUM_BIND_TABLE) readonly buffer Table { int chunk_table[]; };

void main()
{
    const uint chunk = gl_WorkGroupID.x, hv = gl_WorkGroupID.y;
    const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);
    const float a_scale = GATE_ACT ? -exp(A_log[hv]) : 0.0;
    for (uint i = gl_LocalInvocationID.x; i < K; i += WG) {
        const float bias = (GATE_ACT && USE_DT_BIAS) ? dt_bias[hv * K + i] : 0.0;
        float acc = 0.0;
        for (uint t = 0; t < n; ++t) {
            const uint e = ((t0 + t) * pc.HV + hv) * K + i;
            float x = float(g[e]);
            if (GATE_ACT)
                x = a_scale * softplus(x + bias);
            acc += x;
            g_cum[e] = acc;
        }
    }
}
