#version 450
// Adds the parts of an output that several workgroups computed over different value tiles
// (the key read-out of recurrent.comp): o[e] = sum over tiles of part[tile][e].
#extension GL_GOOGLE_include_directive : require

layout(constant_id = 0) const uint TILES = 2;
layout(local_size_x = 256) in;

#include "io.glsl"

layout(push_constant) uniform Push {
    uint count; // elements of o
} pc;

layout(std430, binding = 0) readonly buffer Part { float part[]; };
layout(std430, binding = 1) writeonly buffer O { IO_T o[]; };

void main()
{
    const uint e = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * 256 +
                   gl_LocalInvocationID.x;
    if (e >= pc.count)
        return;
    float acc = 0.0;
    for (uint t = 0; t < TILES; ++t)
        acc += part[t * pc.count + e];
    o[e] = IO_T(acc);
}
