#version 450
// Adds the parts of an output that several workgroups computed over different value tiles
// (the key read-out of recurrent.comp): o[e] = sum over tiles of part[tile][e].
#extension GL_GOOGLE_include_directive : require
#include "sum_tiles.h"

layout(constant_id = DELTA_RULE_SUM_TILES_SPEC_TILES) const uint TILES = 2;
layout(local_size_x = DELTA_RULE_SUM_TILES_LOCAL) in;

#include "io.glsl"

layout(std430, binding = DELTA_RULE_SUM_TILES_BIND_PART) readonly buffer Part { float part[]; };
layout(std430, binding = DELTA_RULE_SUM_TILES_BIND_O) writeonly buffer O { IO_T o[]; };

void main()
{
    const uint e = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) *
                       DELTA_RULE_SUM_TILES_LOCAL +
                   gl_LocalInvocationID.x;
    if (e >= pc.count)
        return;
    float acc = 0.0;
    for (uint t = 0; t < TILES; ++t)
        acc += part[t * pc.count + e];
    o[e] = IO_T(acc);
}
