#version 450
// The epilogue of gemv.comp when K is split into S slices: y = Σ_s part[s] + bias (+ y),
// one output element per invocation (the slices summed in order, in fp32).
#extension GL_GOOGLE_include_directive : require
#include "dtype.glsl"
#include "splitk_sum.h"
#include "linear.glsl"

layout(constant_id = SPLITK_SPEC_S) const uint S = 2;

DVK_TENSOR_INOUT(LINEAR_BIND_Y, y)
layout(std430, binding = LINEAR_BIND_PART) readonly buffer Part_ { float part[]; };

void main()
{
    const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * WG +
                   gl_LocalInvocationID.x;
    if (i >= pc.total)
        return;
    float sum = 0.0;
    for (uint s = 0; s < S; ++s)
        sum += part[s * pc.total + i];
    float v = linear_add_bias(sum, i / pc.MN, pc.bias_stride, i % pc.N);
    if (ACCUM != 0)
        v += DVK_LOAD(y, Y_DT, i);
    DVK_STORE(y, Y_DT, i, v);
}
