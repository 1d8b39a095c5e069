#version 450
// Chunked linear attention with episode resets: for every chunk, the last of its tokens whose
// done flag is set, or -1. chunk_state.comp reads it once per chunk. One invocation per chunk.
#extension GL_GOOGLE_include_directive : require
#include "chunk_rho.h"

layout(local_size_x = LINEAR_ATTN_CHUNK_RHO_LOCAL) in;

#include "io.glsl"

layout(std430, binding = LINEAR_ATTN_CHUNK_RHO_BIND_DONE) readonly buffer Done { IO_T done[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_RHO_BIND_TABLE)
    readonly buffer Table { int chunk_table[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_RHO_BIND_RHO) writeonly buffer Rho { int chunk_rho[]; };

void main()
{
    const uint chunk = gl_GlobalInvocationID.x;
    if (chunk >= pc.chunks)
        return;
    const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);
    int rho = -1;
    for (uint t = 0; t < n; ++t)
        if (float(done[t0 + t]) != 0.0)
            rho = int(t);
    chunk_rho[chunk] = rho;
}
