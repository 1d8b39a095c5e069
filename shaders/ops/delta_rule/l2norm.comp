#version 450
// Row-wise L2 normalisation, x / sqrt(sum x^2 + 1e-6) (fla's use_qk_l2norm_in_kernel), as a
// pass before the chunked kernels when the caller asks for normalised q and k. One workgroup
// of 64 invocations per row of D elements.
#extension GL_GOOGLE_include_directive : require
#include "l2norm.h"

layout(constant_id = DELTA_RULE_L2NORM_SPEC_D) const uint D = 128;
layout(local_size_x = DELTA_RULE_L2NORM_LOCAL) in;

#include "io.glsl"

layout(std430, binding = DELTA_RULE_L2NORM_BIND_X) readonly buffer X { IO_T x[]; };
layout(std430, binding = DELTA_RULE_L2NORM_BIND_Y) writeonly buffer Y { IO_T y[]; };

shared float partial[DELTA_RULE_L2NORM_LOCAL];

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= pc.rows) // the grid is rounded up to whole rows of 65535 workgroups
        return;
    float s = 0.0;
    for (uint i = lid; i < D; i += DELTA_RULE_L2NORM_LOCAL) {
        const float e = float(x[row * D + i]);
        s += e * e;
    }
    partial[lid] = s;
    barrier();
    for (uint w = DELTA_RULE_L2NORM_LOCAL / 2; w > 0; w >>= 1) {
        if (lid < w)
            partial[lid] += partial[lid + w];
        barrier();
    }
    const float inv = inversesqrt(partial[0] + 1e-6);
    for (uint i = lid; i < D; i += DELTA_RULE_L2NORM_LOCAL)
        y[row * D + i] = IO_T(float(x[row * D + i]) * inv);
}
