#version 450
// Depthwise convolution over T: y[b,t,c] = act(bias[c] + sum_j w[c,j] x[b, t+j-P, c]). One
// invocation per (b, tile of DW_TILE tokens, c): channels adjacent across invocations (loads
// coalesce), the window slides through registers so each input is read once per tile.
// Causal with a carried state: tile 0 of (b, c) is the only invocation that reads
// state[b,:,c] (later tiles start at t >= DW_TILE >= W-1), and it gathers the new state before
// writing it at the end, so initial and final may be one tensor.
#extension GL_GOOGLE_include_directive : require
#define CONV1D_WRITES_FINAL 1
#include "conv1d_common.glsl"

layout(local_size_x = CONV1D_DW_LOCAL) in;

void main()
{
    const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * CONV1D_DW_LOCAL +
                   gl_LocalInvocationID.x;
    if (i >= pc.items)
        return;
    const uint c = i % pc.cin, r = i / pc.cin, tile = r % pc.ntiles, b = r / pc.ntiles;
    const uint t0 = tile * CONV1D_DW_TILE, t1 = min(t0 + CONV1D_DW_TILE, pc.t);

    // The new state of (b, c), gathered before anything is written: slot s holds the input at
    // T + s of the sequence (state ++ x), which is x[T - (W-1) + s] or an older state slot.
    float next[KW];
    if (HAS_FINAL != 0 && tile == 0) {
        for (uint s = 0; s + 1 < KW; ++s) {
            const int tau = int(pc.t) - int(KW - 1) + int(s);
            next[s] = conv_in(b, tau, c);
        }
    }

    float w[KW], win[KW];
    for (uint j = 0; j < KW; ++j)
        w[j] = DVK_LOAD(wt, W_DT, c * KW + j);
    const float b0 = HAS_BIAS != 0 ? DVK_LOAD(bias, BIAS_DT, c) : 0.0;
    const int base = int(t0) - int(pc.pad);
    for (uint j = 0; j + 1 < KW; ++j)
        win[j] = conv_in(b, base + int(j), c);
    for (uint t = t0; t < t1; ++t) {
        win[KW - 1] = conv_in(b, int(t) - int(pc.pad) + int(KW - 1), c);
        float acc = b0;
        for (uint j = 0; j < KW; ++j)
            acc += w[j] * win[j];
        DVK_STORE(y, Y_DT, (b * pc.t + t) * pc.cin + c, dvk_apply_act(ACT, acc));
        for (uint j = 0; j + 1 < KW; ++j)
            win[j] = win[j + 1];
    }

    if (HAS_FINAL != 0 && tile == 0)
        for (uint s = 0; s + 1 < KW; ++s)
            DVK_STORE(fin, FINAL_DT, (b * (KW - 1) + s) * pc.cin + c, next[s]);
}
