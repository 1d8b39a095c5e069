#version 450
// Softmax along the last dimension: y = exp(x/T - m) / sum, or x/T - m - log(sum). One
// workgroup per row: a pass finds the maximum and the sum of exponentials together (each
// invocation rescales its running sum when its maximum grows), a tree combines the
// invocations, and a second pass writes y. y may be x: each element is read, then written by
// the same invocation.
#extension GL_GOOGLE_include_directive : require
#include "row_common.glsl"

layout(constant_id = SAMPLING_SPEC_Y_DT) const uint Y_DT = DVK_DT_F32;
layout(constant_id = SAMPLING_SPEC_LOG) const uint LOG = 0;

DVK_TENSOR_OUT(SAMPLING_BIND_Y, y)

// s1 e^{m1} + s2 e^{m2} as s e^{m}; a part whose maximum is -inf holds nothing.
void combine(inout float m1, inout float s1, float m2, float s2)
{
    const float m = max(m1, m2);
    s1 = (m1 == NEG_INF ? 0.0 : s1 * exp(m1 - m)) + (m2 == NEG_INF ? 0.0 : s2 * exp(m2 - m));
    m1 = m;
}

void main()
{
    const uint row = row_index();
    if (row >= pc.rows)
        return; // the whole workgroup
    const uint lid = gl_LocalInvocationID.x, base = row * pc.n;
    float m = NEG_INF, s = 0.0;
    for (uint j = lid; j < pc.n; j += LOCAL) {
        const float v = row_load(base, j);
        if (v > m) {
            s = s * exp(m - v) + 1.0;
            m = v;
        } else if (v != NEG_INF) {
            s += exp(v - m); // NaN propagates through here
        }
    }
    red_f[lid] = m;
    red_g[lid] = s;
    barrier();
    for (uint h = LOCAL / 2; h > 0; h >>= 1) {
        if (lid < h) {
            float m1 = red_f[lid], s1 = red_g[lid];
            combine(m1, s1, red_f[lid + h], red_g[lid + h]);
            red_f[lid] = m1;
            red_g[lid] = s1;
        }
        barrier();
    }
    m = red_f[0];
    s = red_g[0];
    const float inv = 1.0 / s, log_s = log(s);
    for (uint j = lid; j < pc.n; j += LOCAL) {
        const float v = row_load(base, j) - m;
        DVK_STORE(y, Y_DT, base + j, LOG != 0 ? v - log_s : exp(v) * inv);
    }
}
