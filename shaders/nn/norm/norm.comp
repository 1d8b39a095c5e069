#version 450
// The norms of deltavk_nn.h along the last dimension: LayerNorm and GroupNorm (KIND_LAYER),
// RMSNorm (KIND_RMS) and L2 normalisation (KIND_L2), with optional weight, bias and SiLU gate,
// tensors of any float dtype (dtype.glsl), sums in fp32.
//
// Work: a team of TS invocations owns one segment of `len` elements (a row; a group of a row
// for GroupNorm); the workgroup's WG / TS teams take consecutive segments. With E > 0 every
// invocation keeps its E elements (lane, lane + TS, ...) in registers, so x is read once; with
// E = 0 (rows longer than WG · NORM_MAX_E) each pass reads x again from memory (the cache).
//
// Numerics: the mean is taken of x − x[0] (the segment's first element, a shift close to the
// data: x − x[0] is exact for values of one binade, so a row like 1000 + small noise keeps its
// noise instead of losing it to the rounding of a sum near 1000·len), and the variance is a
// second pass over the deviations (never E[x²] − E[x]²).
//
// Reductions: NORM_SUBGROUP builds use subgroup shuffles (a butterfly inside the subgroup, then
// shared memory across the subgroups of a team spanning several); the plain build reduces in
// shared memory. Shuffles rather than subgroupAdd: more drivers have them (lavapipe does, so
// the tests run this path) and they compile to the same instructions. In the subgroup build,
// f = gl_SubgroupID · gl_SubgroupSize + gl_SubgroupInvocationID places an invocation in its
// team, so no particular layout of subgroups in the workgroup is assumed, only that they are
// full (WG, a power of two of at least 128, is a multiple of every subgroup size).
//
// y may alias x or the gate: every element is read and written by the same invocation, its
// reads first (and the shift, read by the whole team, is read before lane 0 writes it).
#extension GL_GOOGLE_include_directive : require
#ifdef NORM_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
#include "dtype.glsl"
#include "norm.h"
#include "../common/act.glsl"

layout(local_size_x_id = NORM_SPEC_WG) in;
layout(constant_id = NORM_SPEC_TS) const uint TS = 32;
layout(constant_id = NORM_SPEC_E) const uint E = 1;
layout(constant_id = NORM_SPEC_KIND) const uint KIND = NORM_KIND_LAYER;
layout(constant_id = NORM_SPEC_EPS_MODE) const uint EPS_MODE = NORM_EPS_INSIDE;
layout(constant_id = NORM_SPEC_HAS_W) const uint HAS_W = 0;
layout(constant_id = NORM_SPEC_HAS_B) const uint HAS_B = 0;
layout(constant_id = NORM_SPEC_HAS_G) const uint HAS_G = 0;
layout(constant_id = NORM_SPEC_X_DT) const uint X_DT = DVK_DT_F32;
layout(constant_id = NORM_SPEC_W_DT) const uint W_DT = DVK_DT_F32;
layout(constant_id = NORM_SPEC_B_DT) const uint B_DT = DVK_DT_F32;
layout(constant_id = NORM_SPEC_G_DT) const uint G_DT = DVK_DT_F32;
layout(constant_id = NORM_SPEC_Y_DT) const uint Y_DT = DVK_DT_F32;

DVK_TENSOR_IN(NORM_BIND_X, x)
DVK_TENSOR_IN(NORM_BIND_W, w)
DVK_TENSOR_IN(NORM_BIND_B, b)
DVK_TENSOR_IN(NORM_BIND_G, g)
DVK_TENSOR_OUT(NORM_BIND_Y, y)

const uint WG = gl_WorkGroupSize.x;
shared float red[WG];

// Sum of v over the team (every invocation of the workgroup calls it: it has barriers).
float team_sum(float v, uint f, uint lane)
{
    if (TS == 1)
        return v;
#ifdef NORM_SUBGROUP
    // A butterfly over the team's part of the subgroup (xor masks below TS stay inside the
    // aligned cluster of TS invocations). The subgroup size is fixed for the dispatch, so the
    // loop and the branch are uniform.
    const uint span = min(TS, gl_SubgroupSize);
    for (uint m = 1; m < span; m <<= 1)
        v += subgroupShuffleXor(v, m);
    if (TS <= gl_SubgroupSize)
        return v;
    if (gl_SubgroupInvocationID == 0)
        red[gl_SubgroupID] = v;
    barrier();
    const uint per = TS / gl_SubgroupSize, first = (f / TS) * per;
    float t = 0.0;
    for (uint i = 0; i < per; ++i)
        t += red[first + i];
    barrier(); // red is reused by the next call
    return t;
#else
    red[f] = v;
    barrier();
    for (uint h = TS / 2; h > 0; h >>= 1) {
        if (lane < h)
            red[f] += red[f + h];
        barrier();
    }
    const float t = red[f - lane];
    barrier();
    return t;
#endif
}

// 1 / f(n) as dvk_norm_eps says, from n² (a mean or a sum of squares).
float norm_scale(float n2, float eps)
{
    if (EPS_MODE == NORM_EPS_CLAMP)
        return 1.0 / max(sqrt(n2), eps);
    if (EPS_MODE == NORM_EPS_ADD)
        return 1.0 / (sqrt(n2) + eps);
    return inversesqrt(n2 + eps);
}

// The output of element j of the segment at `base` (channel ch), from its normalised value.
void store(uint base, uint ch, uint j, float v)
{
    if (HAS_W != 0)
        v *= pc.weight_offset + DVK_LOAD(w, W_DT, ch + j);
    if (HAS_B != 0)
        v += DVK_LOAD(b, B_DT, ch + j);
    if (HAS_G != 0)
        v *= dvk_apply_act(DVK_ACT_CODE_SILU, DVK_LOAD(g, G_DT, base + j));
    DVK_STORE(y, Y_DT, base + j, v);
}

void main()
{
#ifdef NORM_SUBGROUP
    const uint f = gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
#else
    const uint f = gl_LocalInvocationID.x;
#endif
    const uint lane = f % TS;
    const uint wg = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    const uint seg = wg * (WG / TS) + f / TS;
    // Teams past the last segment still take part in the reductions' barriers.
    const bool live = seg < pc.segs;
    const uint len = pc.len;
    const uint base = live ? seg * len : 0;
    const uint ch = live ? (seg % pc.groups) * len : 0;
    const float n = float(len);
    // The shift x[base] is overwritten by the team's lane 0 when y is x. Every lane reads it
    // before a barrier of team_sum and lane 0 writes it after, except for teams inside one
    // subgroup, which have no barrier: there lane 0 reads it and passes it on by shuffle.
    float shift = 0.0;
    if (KIND == NORM_KIND_LAYER) {
#ifdef NORM_SUBGROUP
        if (TS <= gl_SubgroupSize) {
            const float mine = live && lane == 0 ? DVK_LOAD(x, X_DT, base) : 0.0;
            shift = subgroupShuffle(mine, gl_SubgroupInvocationID - lane);
        } else
#endif
            shift = live ? DVK_LOAD(x, X_DT, base) : 0.0;
    }

    if (E > 0) {
        float v[NORM_MAX_E];
        float s = 0.0;
        for (uint k = 0; k < E; ++k) {
            const uint j = k * TS + lane;
            v[k] = live && j < len ? DVK_LOAD(x, X_DT, base + j) - shift : 0.0;
            s += KIND == NORM_KIND_LAYER ? v[k] : v[k] * v[k];
        }
        s = team_sum(s, f, lane);
        float scale;
        if (KIND == NORM_KIND_LAYER) {
            const float mean = s / n;
            float s2 = 0.0;
            for (uint k = 0; k < E; ++k) {
                const uint j = k * TS + lane;
                v[k] = j < len ? v[k] - mean : 0.0;
                s2 += v[k] * v[k];
            }
            scale = inversesqrt(team_sum(s2, f, lane) / n + pc.eps);
        } else {
            scale = norm_scale(KIND == NORM_KIND_RMS ? s / n : s, pc.eps);
        }
        if (!live)
            return;
        for (uint k = 0; k < E; ++k) {
            const uint j = k * TS + lane;
            if (j < len)
                store(base, ch, j, v[k] * scale);
        }
        return;
    }

    // Long rows: one pass per sum, x read from memory each time.
    float s = 0.0;
    if (live)
        for (uint j = lane; j < len; j += TS) {
            const float v = DVK_LOAD(x, X_DT, base + j) - shift;
            s += KIND == NORM_KIND_LAYER ? v : v * v;
        }
    s = team_sum(s, f, lane);
    float mean = 0.0, scale;
    if (KIND == NORM_KIND_LAYER) {
        mean = s / n;
        float s2 = 0.0;
        if (live)
            for (uint j = lane; j < len; j += TS) {
                const float d = (DVK_LOAD(x, X_DT, base + j) - shift) - mean;
                s2 += d * d;
            }
        scale = inversesqrt(team_sum(s2, f, lane) / n + pc.eps);
    } else {
        scale = norm_scale(KIND == NORM_KIND_RMS ? s / n : s, pc.eps);
    }
    if (!live)
        return;
    for (uint j = lane; j < len; j += TS)
        store(base, ch, j, ((DVK_LOAD(x, X_DT, base + j) - shift) - mean) * scale);
}
