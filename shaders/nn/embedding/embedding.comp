#version 450
// y[r, c] = weight[indices[r], c]; an index outside [0, V) gives zeros. One invocation per
// element of y, adjacent invocations on adjacent channels of one row (coalesced).
#extension GL_GOOGLE_include_directive : require
#include "dtype.glsl"
#include "embedding.h"

layout(local_size_x = EMBEDDING_LOCAL) in;
layout(constant_id = EMBEDDING_SPEC_W_DT) const uint W_DT = DVK_DT_F32;
layout(constant_id = EMBEDDING_SPEC_Y_DT) const uint Y_DT = DVK_DT_F32;

DVK_TENSOR_IN(EMBEDDING_BIND_INDICES, ids)
DVK_TENSOR_IN(EMBEDDING_BIND_W, wt)
DVK_TENSOR_OUT(EMBEDDING_BIND_Y, y)

void main()
{
    const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * EMBEDDING_LOCAL +
                   gl_LocalInvocationID.x;
    if (i >= pc.n)
        return;
    const uint c = i % pc.c;
    const int id = DVK_LOAD_I32(ids, i / pc.c);
    float v = 0.0;
    if (id >= 0 && uint(id) < pc.v)
        v = DVK_LOAD(wt, W_DT, uint(id) * pc.c + c);
    DVK_STORE(y, Y_DT, i, v);
}
