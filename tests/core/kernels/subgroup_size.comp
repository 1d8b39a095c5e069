#version 450
// For tests/core/test_kernel.c's required subgroup size: every invocation writes the size of
// its subgroup, and 1 where its subgroup is full (all of gl_SubgroupSize invocations active).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
layout(local_size_x = 64) in;
layout(std430, binding = 0) writeonly buffer Y { uint y[]; };

void main()
{
    const uint i = gl_GlobalInvocationID.x;
    const uint lanes = subgroupBallotBitCount(subgroupBallot(true));
    y[2 * i] = gl_SubgroupSize;
    y[2 * i + 1] = lanes == gl_SubgroupSize ? 1u : 0u;
}
