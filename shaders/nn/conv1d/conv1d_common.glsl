// What the conv1d kernels share: the bindings and the input read, which takes tokens before
// the sequence from the carried state (causal) or as zeros (and zeros past its end).
#ifndef DVK_CONV1D_COMMON_GLSL
#define DVK_CONV1D_COMMON_GLSL

#include "dtype.glsl"
#include "conv1d.h"
#include "../common/act.glsl"

layout(constant_id = CONV1D_SPEC_X_DT) const uint X_DT = DVK_DT_F32;
layout(constant_id = CONV1D_SPEC_W_DT) const uint W_DT = DVK_DT_F32;
layout(constant_id = CONV1D_SPEC_BIAS_DT) const uint BIAS_DT = DVK_DT_F32;
layout(constant_id = CONV1D_SPEC_Y_DT) const uint Y_DT = DVK_DT_F32;
layout(constant_id = CONV1D_SPEC_INIT_DT) const uint INIT_DT = DVK_DT_F32;
layout(constant_id = CONV1D_SPEC_FINAL_DT) const uint FINAL_DT = DVK_DT_F32;
layout(constant_id = CONV1D_SPEC_KW) const uint KW = 1;
layout(constant_id = CONV1D_SPEC_INIT) const uint INIT = CONV1D_INIT_ZERO;
layout(constant_id = CONV1D_SPEC_HAS_BIAS) const uint HAS_BIAS = 0;
layout(constant_id = CONV1D_SPEC_HAS_FINAL) const uint HAS_FINAL = 0;
layout(constant_id = CONV1D_SPEC_ACT) const uint ACT = DVK_ACT_CODE_IDENTITY;

DVK_TENSOR_IN(CONV1D_BIND_X, x)
DVK_TENSOR_IN(CONV1D_BIND_W, wt)
DVK_TENSOR_IN(CONV1D_BIND_BIAS, bias)
DVK_TENSOR_OUT(CONV1D_BIND_Y, y)
DVK_TENSOR_IN(CONV1D_BIND_INITIAL, init)
// Read-only where the kernel does not write the state (conv1d_gemm reads it in place): the
// validation layer's synchronization checks go by the declaration.
#ifdef CONV1D_WRITES_FINAL
DVK_TENSOR_INOUT(CONV1D_BIND_FINAL, fin)
#else
DVK_TENSOR_IN(CONV1D_BIND_FINAL, fin)
#endif

// The carried input of batch b, channel c, at state slot s (s = 0 the oldest of W-1).
float conv_state_in(uint b, uint s, uint c)
{
    const uint idx = (b * (KW - 1) + s) * pc.cin + c;
    if (INIT == CONV1D_INIT_BOUND)
        return DVK_LOAD(init, INIT_DT, idx);
    if (INIT == CONV1D_INIT_FINAL)
        return DVK_LOAD(fin, FINAL_DT, idx);
    return 0.0;
}

// x[b, tau, c] for any tau: before the sequence the carried state (state slot tau + W - 1:
// causal padding has P = W - 1) or zeros, past its end zeros.
float conv_in(uint b, int tau, uint c)
{
    if (tau < 0)
        return conv_state_in(b, uint(tau + int(KW) - 1), c);
    if (uint(tau) >= pc.t)
        return 0.0;
    return DVK_LOAD(x, X_DT, (b * pc.t + uint(tau)) * pc.cin + c);
}

#endif
