#version 450
// The carried state after a causal convolution: final[b,s,c] = input T + s of (state ++ x),
// for s = 0 .. W-2 (oldest first). One invocation per (b, c) walks s upward: in place, slot s
// reads slot T + s > s, which this invocation has not yet overwritten.
#extension GL_GOOGLE_include_directive : require
#define CONV1D_WRITES_FINAL 1
#include "conv1d_common.glsl"

layout(local_size_x = CONV1D_STATE_LOCAL) in;

void main()
{
    const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) *
                       CONV1D_STATE_LOCAL + gl_LocalInvocationID.x;
    if (i >= pc.items)
        return;
    const uint c = i % pc.cin, b = i / pc.cin;
    for (uint s = 0; s + 1 < KW; ++s) {
        const float v = conv_in(b, int(pc.t) - int(KW - 1) + int(s), c);
        DVK_STORE(fin, FINAL_DT, (b * (KW - 1) + s) * pc.cin + c, v);
    }
}
