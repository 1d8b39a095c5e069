#version 450
// y = act(x) elementwise, any float dtypes (dtype.glsl); y may alias x (each invocation reads
// its element before writing it).
#extension GL_GOOGLE_include_directive : require
#include "dtype.glsl"
#include "activation.h"
#include "../common/act.glsl"

layout(local_size_x = ACTIVATION_LOCAL) in;
layout(constant_id = ACTIVATION_SPEC_ACT) const uint ACT = DVK_ACT_CODE_IDENTITY;
layout(constant_id = ACTIVATION_SPEC_X_DT) const uint X_DT = DVK_DT_F32;
layout(constant_id = ACTIVATION_SPEC_Y_DT) const uint Y_DT = DVK_DT_F32;

DVK_TENSOR_IN(ACTIVATION_BIND_X, x)
DVK_TENSOR_OUT(ACTIVATION_BIND_Y, y)

void main()
{
    const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * ACTIVATION_LOCAL +
                   gl_LocalInvocationID.x;
    if (i >= pc.n)
        return;
    DVK_STORE(y, Y_DT, i, dvk_apply_act(ACT, DVK_LOAD(x, X_DT, i)));
}
