#version 450
// Token shift (RWKV's time shift): with x_prev[t] = x[t-1] and x_prev[0] the carried token,
// delta = x_prev - x and y_m = x + delta * mix_m for each of the M rows of mix. One invocation
// per element of x [B,T,C]; the invocations at t = 0 also move x[:, T-1] into the carried
// state (see token_shift.h for why the in-place state is race-free).
#extension GL_GOOGLE_include_directive : require
#include "dtype.glsl"
#include "token_shift.h"

layout(local_size_x = TOKEN_SHIFT_LOCAL) in;
layout(constant_id = TOKEN_SHIFT_SPEC_X_DT) const uint X_DT = DVK_DT_F32;
layout(constant_id = TOKEN_SHIFT_SPEC_MIX_DT) const uint MIX_DT = DVK_DT_F32;
layout(constant_id = TOKEN_SHIFT_SPEC_INIT_DT) const uint INIT_DT = DVK_DT_F32;
layout(constant_id = TOKEN_SHIFT_SPEC_Y_DT) const uint Y_DT = DVK_DT_F32;
layout(constant_id = TOKEN_SHIFT_SPEC_DELTA_DT) const uint DELTA_DT = DVK_DT_F32;
layout(constant_id = TOKEN_SHIFT_SPEC_FINAL_DT) const uint FINAL_DT = DVK_DT_F32;
layout(constant_id = TOKEN_SHIFT_SPEC_INIT) const uint INIT = TOKEN_SHIFT_INIT_ZERO;
layout(constant_id = TOKEN_SHIFT_SPEC_HAS_DELTA) const uint HAS_DELTA = 0;
layout(constant_id = TOKEN_SHIFT_SPEC_HAS_FINAL) const uint HAS_FINAL = 0;

DVK_TENSOR_IN(TOKEN_SHIFT_BIND_X, x)
DVK_TENSOR_IN(TOKEN_SHIFT_BIND_MIX, mixw)
DVK_TENSOR_IN(TOKEN_SHIFT_BIND_INITIAL, init)
DVK_TENSOR_OUT(TOKEN_SHIFT_BIND_Y, y)
DVK_TENSOR_OUT(TOKEN_SHIFT_BIND_DELTA, delta)
DVK_TENSOR_INOUT(TOKEN_SHIFT_BIND_FINAL, fin)

void main()
{
    const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * TOKEN_SHIFT_LOCAL +
                   gl_LocalInvocationID.x;
    if (i >= pc.n)
        return;
    const uint c = i % pc.c, bt = i / pc.c, t = bt % pc.t, b = bt / pc.t;
    const float xv = DVK_LOAD(x, X_DT, i);
    float prev = 0.0;
    if (t > 0)
        prev = DVK_LOAD(x, X_DT, i - pc.c);
    else if (INIT == TOKEN_SHIFT_INIT_BOUND)
        prev = DVK_LOAD(init, INIT_DT, b * pc.c + c);
    else if (INIT == TOKEN_SHIFT_INIT_BCAST)
        prev = DVK_LOAD(init, INIT_DT, c);
    else if (INIT == TOKEN_SHIFT_INIT_FINAL)
        prev = DVK_LOAD(fin, FINAL_DT, b * pc.c + c);
    // The state's only reader and writer for (b, c): read above, written here.
    if (HAS_FINAL != 0 && t == 0)
        DVK_STORE(fin, FINAL_DT, b * pc.c + c, DVK_LOAD(x, X_DT, i + (pc.t - 1) * pc.c));
    const float d = prev - xv;
    if (HAS_DELTA != 0)
        DVK_STORE(delta, DELTA_DT, i, d);
    for (uint m = 0; m < pc.m; ++m)
        DVK_STORE(y, Y_DT, m * pc.n + i, xv + d * DVK_LOAD(mixw, MIX_DT, m * pc.c + c));
}
