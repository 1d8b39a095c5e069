// Sum over groups of KS adjacent invocations (KS a power of two, a specialization constant).
// Two implementations, chosen at build time because a module that merely declares the subgroup
// capability is invalid on devices without it:
//   DVK_SUBGROUP_REDUCE  subgroupClusteredAdd (needs the clustered subgroup operation, and
//                        KS <= the subgroup size; the host checks both);
//   otherwise            shared memory, two barriers per reduction.
// Before including: KS, WG (workgroup size) and a shared float array `red_buf[WG]` for the
// shared-memory variant. Every invocation of the workgroup must call it (uniform control flow).
#ifndef DVK_REDUCE_GLSL
#define DVK_REDUCE_GLSL

#ifdef DVK_SUBGROUP_REDUCE
#extension GL_KHR_shader_subgroup_clustered : require

float cluster_sum(float x, uint lid)
{
    // glslc wants a literal cluster size; the dead branches vanish at specialization.
    if (KS == 1) return x;
    if (KS == 2) return subgroupClusteredAdd(x, 2);
    if (KS == 4) return subgroupClusteredAdd(x, 4);
    if (KS == 8) return subgroupClusteredAdd(x, 8);
    if (KS == 16) return subgroupClusteredAdd(x, 16);
    return subgroupClusteredAdd(x, 32);
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
