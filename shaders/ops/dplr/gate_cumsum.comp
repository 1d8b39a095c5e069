#version 450
// Chunked KDA / generalized delta rule, pass 0: the cumulative log decay of every key channel
// inside each chunk,
//   G[t][i] = sum over s <= t (in the chunk) of g[s][i]
// with KDA's gate computed first when asked (GATE_ACT): g <- -exp(A_log[h]) softplus(g +
// dt_bias[h, i]). One workgroup per (chunk, head); invocation i walks channel i down the
// chunk, so every step reads and writes one contiguous row.
#extension GL_GOOGLE_include_directive : require

layout(constant_id = 0) const uint K = 128;
layout(constant_id = 1) const bool GATE_ACT = false;
layout(constant_id = 2) const bool USE_DT_BIAS = false;
layout(constant_id = 3) const uint WG = 128;
layout(local_size_x_id = 3) in;

#include "io.glsl"
#include "softplus.glsl"

layout(push_constant) uniform Push {
    uint HV;
} pc;

layout(std430, binding = 0) readonly buffer G { IO_T g[]; };
layout(std430, binding = 1) readonly buffer ALog { float A_log[]; };
layout(std430, binding = 2) readonly buffer DtBias { float dt_bias[]; };
layout(std430, binding = 3) writeonly buffer Gc { float g_cum[]; };
layout(std430, binding = 4) readonly buffer Table { int chunk_table[]; };

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
