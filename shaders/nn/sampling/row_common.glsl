// What the row kernels share: one workgroup per row (rows folded into the y dimension of the
// grid), the logits read scaled by 1/temperature, and shared-memory reductions.
#ifndef DVK_ROW_COMMON_GLSL
#define DVK_ROW_COMMON_GLSL

#include "dtype.glsl"
#include "sampling.h"

layout(local_size_x_id = SAMPLING_SPEC_LOCAL) in;
layout(constant_id = SAMPLING_SPEC_LOCAL) const uint LOCAL = SAMPLING_LOCAL_MAX;
layout(constant_id = SAMPLING_SPEC_X_DT) const uint X_DT = DVK_DT_F32;

DVK_TENSOR_IN(SAMPLING_BIND_X, x)

#define NEG_INF uintBitsToFloat(0xff800000u)

uint row_index() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

// Element j of the row starting at base, divided by the temperature. `precise`: the product is
// rounded on its own wherever it is used, so the maximum found from it and the e = exp(z - m)
// computed from it agree (a compiler that fused z·scale − m into one FMA would give the maximum
// element an e just above 1, outside every search interval; NVIDIA's did).
float row_load(uint base, uint j)
{
    precise float v = DVK_LOAD(x, X_DT, base + j) * pc.scale;
    return v;
}

bool is_nan(float v) { return (floatBitsToUint(v) & 0x7fffffffu) > 0x7f800000u; }

shared float red_f[SAMPLING_LOCAL_MAX];
shared float red_g[SAMPLING_LOCAL_MAX];
shared uint red_u[SAMPLING_LOCAL_MAX];

// Maximum over the workgroup (NaN never wins: the comparisons are ordered).
float wg_max(float v)
{
    const uint lid = gl_LocalInvocationID.x;
    red_f[lid] = v;
    barrier();
    for (uint s = LOCAL / 2; s > 0; s >>= 1) {
        if (lid < s && red_f[lid + s] > red_f[lid])
            red_f[lid] = red_f[lid + s];
        barrier();
    }
    const float r = red_f[0];
    barrier(); // red_f is reused by the next reduction
    return r;
}

#endif
