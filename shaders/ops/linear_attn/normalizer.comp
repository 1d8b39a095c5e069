#version 450
// Linear attention's normaliser token by token, after recurrent.comp (which reads z but never
// writes it, so that every value tile may read the initial normaliser even when the caller
// updates it in place): one workgroup per (head, sequence), one invocation per key channel,
//   done_t != 0: z = 0;   z += φ(k_t)
// over this dispatch's tokens of the sequence (the same split as recurrent.comp).
#extension GL_GOOGLE_include_directive : require
#include "normalizer.h"

layout(constant_id = LINEAR_ATTN_NORMALIZER_SPEC_K) const uint K = 128;
layout(constant_id = LINEAR_ATTN_NORMALIZER_SPEC_VARLEN) const bool VARLEN = false;
layout(constant_id = LINEAR_ATTN_NORMALIZER_SPEC_WG) const uint WG = 128;
layout(constant_id = LINEAR_ATTN_NORMALIZER_SPEC_ELU1) const bool ELU1 = false;
layout(constant_id = LINEAR_ATTN_NORMALIZER_SPEC_USE_DONE) const bool USE_DONE = false;
layout(constant_id = LINEAR_ATTN_NORMALIZER_SPEC_USE_Z0) const bool USE_Z0 = false;
layout(local_size_x_id = LINEAR_ATTN_NORMALIZER_SPEC_WG) in;

const bool NORMALIZE = true, EPS_ADD = false;

#include "io.glsl"
#include "feature.glsl"

layout(std430, binding = LINEAR_ATTN_NORMALIZER_BIND_K) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = LINEAR_ATTN_NORMALIZER_BIND_DONE) readonly buffer Done { IO_T done[]; };
layout(std430, binding = LINEAR_ATTN_NORMALIZER_BIND_Z0) readonly buffer Z0 { float z0[]; };
layout(std430, binding = LINEAR_ATTN_NORMALIZER_BIND_ZT) writeonly buffer ZT { float zt[]; };
layout(std430, binding = LINEAR_ATTN_NORMALIZER_BIND_CU_SEQLENS)
    readonly buffer CU { int cu_seqlens[]; };

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
