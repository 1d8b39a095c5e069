// What RWKV-7's two kernels share: the row this workgroup owns and a sum over it in shared
// memory (no subgroup operations: every device, the small-device profile included).
#include "rwkv7.h"

layout(local_size_x = RWKV7_LOCAL) in;

shared float red[RWKV7_LOCAL];

// The row of this workgroup (workgroup counts folded into y past the x limit).
uint rwkv7_row() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

// The sum of every invocation's v (all invocations of the workgroup call it).
float rwkv7_sum(float v)
{
    const uint lid = gl_LocalInvocationID.x;
    barrier(); // red may still be read by a previous sum
    red[lid] = v;
    barrier();
    for (uint s = RWKV7_LOCAL / 2; s > 0; s >>= 1) {
        if (lid < s)
            red[lid] += red[lid + s];
        barrier();
    }
    return red[0];
}

float rwkv7_sigmoid(float x) { return 1.0 / (1.0 + exp(-x)); }
