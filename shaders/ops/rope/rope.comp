#version 450
// Rotary embedding with interleaved pairs: for the token at position p and pair i < RD/2,
//   y[2i] = scale (x[2i] cos a - x[2i+1] sin a),  y[2i+1] = scale (x[2i+1] cos a + x[2i] sin a)
// with a = p f_i, and y = scale x past RD. The host tabulates cos and sin in double, split by
// angle addition so the tables stay small: a = (64 P) f_i + r f_i with p = 64 P + r,
//   hi[P - P0][i] = (cos, sin)(64 P f_i),  lo[r][i] = (cos, sin)(r f_i)
// and the kernel combines them (four products): no driver sin/cos, whose accuracy Vulkan
// leaves loose for large angles. One invocation per pair (or lone feature) of every row.
#extension GL_GOOGLE_include_directive : require
#include "rope.h"

layout(constant_id = ROPE_SPEC_D) const uint D = 128;
layout(constant_id = ROPE_SPEC_RD) const uint RD = 128; // rotated features, even, <= D
layout(local_size_x = ROPE_LOCAL) in;

#include "io.glsl"

layout(std430, binding = ROPE_BIND_X) readonly buffer X { IO_T x[]; };
layout(std430, binding = ROPE_BIND_Y) writeonly buffer Y { IO_T y[]; };
layout(std430, binding = ROPE_BIND_HI) readonly buffer Hi { vec2 hi[]; };
layout(std430, binding = ROPE_BIND_LO) readonly buffer Lo { vec2 lo[]; };

const uint PAIRS = (D + 1) / 2;

void main()
{
    const uint gid = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * ROPE_LOCAL +
                     gl_LocalInvocationID.x;
    if (gid >= pc.rows * PAIRS)
        return;
    const uint row = gid / PAIRS, i = gid % PAIRS;
    const uint t = (row / pc.H) % pc.T;
    const uint base = row * D + 2 * i;
    const float x0 = float(x[base]);
    if (2 * i + 1 >= D) { // odd D: the last feature alone (never rotated: RD is even)
        y[base] = IO_T(pc.scale * x0);
        return;
    }
    const float x1 = float(x[base + 1]);
    if (2 * i >= RD) {
        y[base] = IO_T(pc.scale * x0);
        y[base + 1] = IO_T(pc.scale * x1);
        return;
    }
    const uint p = pc.offset + t;
    const vec2 a = hi[(p / ROPE_LO_POSITIONS - pc.p_hi0) * (RD / 2) + i];
    const vec2 b = lo[(p % ROPE_LO_POSITIONS) * (RD / 2) + i];
    const float c = a.x * b.x - a.y * b.y, s = a.y * b.x + a.x * b.y;
    y[base] = IO_T(pc.scale * (x0 * c - x1 * s));
    y[base + 1] = IO_T(pc.scale * (x1 * c + x0 * s));
}
