// Sum over groups of KS adjacent invocations (KS a power of two, a specialization constant).
// Two implementations, chosen at build time because a module that merely declares the subgroup
// capability is invalid on devices without it:
//   DVK_SUBGROUP_REDUCE  a butterfly of subgroupShuffleXor (needs the shuffle subgroup
//                        operation, and KS <= the subgroup size; the host checks both). Shuffle
//                        rather than subgroupClusteredAdd: more drivers have it (lavapipe does,
//                        so CI runs this path), and it compiles to the same instructions.
//   otherwise            shared memory, two barriers per reduction.
// The shuffle variant assumes invocation i of the workgroup is invocation i % subgroupSize of
// its subgroup, as drivers lay out one-dimensional workgroups (Vulkan does not promise it
// without full subgroups; the shared-memory variant assumes nothing).
// Before including: KS, WG (workgroup size) and a shared float array `red_buf[WG]` for the
// shared-memory variant. Every invocation of the workgroup must call it (uniform control flow).
#ifndef DVK_REDUCE_GLSL
#define DVK_REDUCE_GLSL

#ifdef DVK_SUBGROUP_REDUCE
#extension GL_KHR_shader_subgroup_shuffle : require

float cluster_sum(float x, uint lid)
{
    for (uint m = 1; m < KS; m <<= 1)
        x += subgroupShuffleXor(x, m);
    return x;
}

#else

float cluster_sum(float x, uint lid)
{
    if (KS == 1) return x;
    red_buf[lid] = x;
    barrier();
    const uint first = lid - lid % KS;
    float s = 0.0;
    for (uint i = 0; i < KS; ++i)
        s += red_buf[first + i];
    barrier(); // red_buf is reused by the next call
    return s;
}

#endif
#endif
