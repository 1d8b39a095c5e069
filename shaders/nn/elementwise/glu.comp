#version 450
// Gated linear units (glu.h): y[r, j] = value[r, j] · act(gate[r, j]), with value and gate the
// two halves of x's row r (SPLIT) or the tensors x and g; any float dtypes, fp32 arithmetic.
#extension GL_GOOGLE_include_directive : require
#include "dtype.glsl"
#include "glu.h"
#include "../common/act.glsl"

layout(local_size_x_id = GLU_SPEC_WG) in;
layout(constant_id = GLU_SPEC_ACT) const uint ACT = DVK_ACT_CODE_SIGMOID;
layout(constant_id = GLU_SPEC_SPLIT) const uint SPLIT = 1;
layout(constant_id = GLU_SPEC_GATE_FIRST) const uint GATE_FIRST = 0;
layout(constant_id = GLU_SPEC_X_DT) const uint X_DT = DVK_DT_F32;
layout(constant_id = GLU_SPEC_G_DT) const uint G_DT = DVK_DT_F32;
layout(constant_id = GLU_SPEC_Y_DT) const uint Y_DT = DVK_DT_F32;

DVK_TENSOR_IN(GLU_BIND_X, x)
DVK_TENSOR_IN(GLU_BIND_G, g)
DVK_TENSOR_OUT(GLU_BIND_Y, y)

void main()
{
    const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) *
                       gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (i >= pc.n)
        return;
    float value, gate;
    if (SPLIT != 0) {
        const uint row = i / pc.cols, first = i + row * pc.cols; // row · 2N + j
        value = DVK_LOAD(x, X_DT, GATE_FIRST != 0 ? first + pc.cols : first);
        gate = DVK_LOAD(x, X_DT, GATE_FIRST != 0 ? first : first + pc.cols);
    } else {
        value = DVK_LOAD(x, X_DT, i);
        gate = DVK_LOAD(g, G_DT, i);
    }
    DVK_STORE(y, Y_DT, i, value * dvk_apply_act(ACT, gate));
}
