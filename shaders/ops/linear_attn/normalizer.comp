#version 450
// Linear attention's normaliser token by token, after recurrent.comp (which reads z but never
// writes it, so that every value tile may read the initial normaliser even when the caller
// updates it in place): one workgroup per (head, sequence), one invocation per key channel,
//   done_t != 0: z = 0;   z += φ(k_t)
// over this dispatch's tokens of the sequence (the same split as recurrent.comp).
#extension GL_GOOGLE_include_directive : require

layout(constant_id = 0) const uint K = 128;
layout(constant_id = 1) const bool VARLEN = false;
layout(constant_id = 2) const uint WG = 128;
layout(constant_id = 3) const bool ELU1 = false;
layout(constant_id = 4) const bool USE_DONE = false;
layout(constant_id = 5) const bool USE_Z0 = false;
layout(local_size_x_id = 2) in;

const bool NORMALIZE = true, EPS_ADD = false;

#include "io.glsl"
#include "feature.glsl"

layout(push_constant) uniform Push {
    uint T;
    uint H;
    uint t_begin;
    uint t_count;
} pc;

layout(std430, binding = 0) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = 1) readonly buffer Done { IO_T done[]; };
layout(std430, binding = 2) readonly buffer Z0 { float z0[]; };
layout(std430, binding = 3) writeonly buffer ZT { float zt[]; };
layout(std430, binding = 4) readonly buffer CU { int cu_seqlens[]; };

void main()
{
    const uint h = gl_WorkGroupID.x, n = gl_WorkGroupID.y;
    uint bos, len;
    if (VARLEN) {
        bos = uint(cu_seqlens[n]);
        len = uint(cu_seqlens[n + 1]) - bos;
    } else {
        bos = n * pc.T;
        len = pc.T;
    }
    const uint skip = min(len, pc.t_begin);
    bos += skip;
    len = min(len - skip, pc.t_count);
    const uint z_base = (n * pc.H + h) * K;
    for (uint i = gl_LocalInvocationID.x; i < K; i += WG) {
        float z = USE_Z0 ? z0[z_base + i] : 0.0;
        for (uint t = 0; t < len; ++t) {
            if (USE_DONE && float(done[bos + t]) != 0.0)
                z = 0.0;
            z += feature(float(k[((bos + t) * pc.H + h) * K + i]));
        }
        zt[z_base + i] = z;
    }
}
