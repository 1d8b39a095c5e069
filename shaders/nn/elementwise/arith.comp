#version 450
// Elementwise arithmetic of two or three tensors (arith.h), any float dtypes (dtype.glsl), in
// fp32. y may be a, b or c (in place): each invocation reads its elements before writing its
// one, and an operand read at i mod its count is only ever the same tensor as y when that
// count is y's (the host checks overlaps).
#extension GL_GOOGLE_include_directive : require
#include "dtype.glsl"
#include "arith.h"
#include "../common/act.glsl"

layout(local_size_x_id = ARITH_SPEC_WG) in;
layout(constant_id = ARITH_SPEC_OP) const uint OP = ARITH_OP_ADD;
layout(constant_id = ARITH_SPEC_ACT) const uint ACT = DVK_ACT_CODE_SIGMOID;
layout(constant_id = ARITH_SPEC_A_DT) const uint A_DT = DVK_DT_F32;
layout(constant_id = ARITH_SPEC_B_DT) const uint B_DT = DVK_DT_F32;
layout(constant_id = ARITH_SPEC_C_DT) const uint C_DT = DVK_DT_F32;
layout(constant_id = ARITH_SPEC_Y_DT) const uint Y_DT = DVK_DT_F32;
layout(constant_id = ARITH_SPEC_B_WRAP) const uint B_WRAP = 0;
layout(constant_id = ARITH_SPEC_C_WRAP) const uint C_WRAP = 0;

DVK_TENSOR_IN(ARITH_BIND_A, a)
DVK_TENSOR_IN(ARITH_BIND_B, b)
DVK_TENSOR_IN(ARITH_BIND_C, c)
DVK_TENSOR_OUT(ARITH_BIND_Y, y)

void main()
{
    const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) *
                       gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (i >= pc.n)
        return;
    const float av = DVK_LOAD(a, A_DT, i);
    const float bv = DVK_LOAD(b, B_DT, B_WRAP != 0 ? i % pc.nb : i);
    float r;
    if (OP == ARITH_OP_ADD) {
        r = av + bv;
    } else if (OP == ARITH_OP_MUL) {
        r = av * bv;
    } else {
        const float cv = DVK_LOAD(c, C_DT, C_WRAP != 0 ? i % pc.nc : i);
        if (OP == ARITH_OP_LERP) // PyTorch's form: exact at both ends (weights 0 and 1)
            r = abs(cv) < 0.5 ? av + cv * (bv - av) : bv - (bv - av) * (1.0 - cv);
        else
            r = av + bv * dvk_apply_act(ACT, cv);
    }
    DVK_STORE(y, Y_DT, i, r);
}
