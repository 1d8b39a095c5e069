#version 450
// dvk_linear for few rows of x (the decode step) laid out for CPU devices (lavapipe): the same
// bindings, push constants and epilogue as cpu_gemm.comp (cpu.h), lanes along K instead of
// along the output columns.
//
// The weight is read once, so the cost is llvmpipe's per-lane load loop (one trip per lane and
// load, see cpu_gemm.comp) and how the memory system follows it. With lanes along the output
// columns the 8 lanes of a load read 8 rows (8·CPL streams of the weight at once, strided by
// a row); here the lanes of a load read 16 consecutive bytes each of one row (128 contiguous
// bytes with AVX2), a subgroup RPT rows at a time (RPT = CPL streams). So:
//   - a subgroup owns CPL consecutive weight rows; in each block of LANES·VW columns of K, lane
//     l loads VW elements (16 bytes) of each row from column kb + l·VW, and the same columns of
//     the TM rows of x (16 bytes per load, fp32 x with 16-bit weights in two);
//   - each lane keeps partial dot products acc[TM·CPL] in registers; at the end the lanes'
//     partials of each output are summed by shuffles from constant lanes (no subgroupAdd:
//     the device need not offer subgroup arithmetic), and lane r writes output row r.
// Rows of x past M and weight rows past N read the last row (not written); the last block's
// entries past K are zeros (loads clamped), so no load is conditional.
//
// Preconditions (src/nn/linear/linear.c): LANES = the subgroup size (fixed), WG a multiple of
// it; CPL <= LANES; VW divides K; TM·CPL within the register budget; the subgroup shuffle.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "dtype.glsl"
#include "cpu.h"
#include "linear.glsl"
#include "cpu.glsl"

const uint KB = LANES * VW;                              // columns of K per block
const uint XB = VW * XES > 16 ? 16 : VW * XES;           // bytes per x load
const uint XL = VW * XES / XB;                           // x loads per row and block
const uint XPL = XB / XES;                               // x elements per load

void main()
{
    const uint lane = gl_SubgroupInvocationID;
    const uint sg = gl_LocalInvocationID.x / LANES;
    const uint n0 = (gl_WorkGroupID.x * (WG / LANES) + sg) * CPL;
    const uint m0 = gl_WorkGroupID.y * TM, g = gl_WorkGroupID.z;
    const uint M = pc.M, N = pc.N, K = pc.K;

    uint wrow[CPL]; // first element of each weight row (past N: the last row)
    [[unroll]] for (uint r = 0; r < CPL; ++r)
        wrow[r] = (g * N + min(n0 + r, N - 1)) * K;
    uint xrow[TM]; // first element of each x row (past M: the last row)
    [[unroll]] for (uint m = 0; m < TM; ++m)
        xrow[m] = (g * M + min(m0 + m, M - 1)) * K;

    float acc[TM * CPL]; // acc[m * CPL + r]: this lane's part of x row m0 + m · weight row n0 + r
    [[unroll]] for (uint i = 0; i < TM * CPL; ++i)
        acc[i] = 0.0;

    // One block of KB columns from kb on; TAIL: the last, partial one.
#define LV_BLOCK(kb, TAIL)                                                                     \
    {                                                                                          \
        const uint k = (kb) + lane * VW;                                                       \
        const bool ok = !(TAIL) || k < K;                                                      \
        const uint kl = (TAIL) ? min(k, K - VW) : k;                                           \
        float xs[TM * VW];                                                                     \
        [[unroll]] for (uint m = 0; m < TM; ++m)                                               \
            [[unroll]] for (uint l = 0; l < XL; ++l) {                                         \
                const uvec4 r = RAW(x, XB, xrow[m] + kl + l * XPL, XES);                       \
                [[unroll]] for (uint e = 0; e < XPL; ++e)                                      \
                    xs[m * VW + l * XPL + e] = ok ? elem(r, e, X_DT) : 0.0;                    \
            }                                                                                  \
        [[unroll]] for (uint r = 0; r < CPL; ++r) {                                            \
            const uvec4 raw = RAW(w, VW * WES, wrow[r] + kl, WES);                             \
            [[unroll]] for (uint e = 0; e < VW; ++e) {                                         \
                const float wv = elem(raw, e, W_DT);                                           \
                [[unroll]] for (uint m = 0; m < TM; ++m)                                       \
                    acc[m * CPL + r] = fma(xs[m * VW + e], wv, acc[m * CPL + r]);              \
            }                                                                                  \
        }                                                                                      \
    }

    const uint full = K / KB * KB;
    for (uint kb = 0; kb < full; kb += KB)
        LV_BLOCK(kb, false)
    if (full < K)
        LV_BLOCK(full, true)

    // The sums over the lanes: lane r keeps row n0 + r's
    float out_v[TM];
    [[unroll]] for (uint m = 0; m < TM; ++m) {
        out_v[m] = 0.0;
        [[unroll]] for (uint r = 0; r < CPL; ++r) {
            float t = 0.0;
            [[unroll]] for (uint l = 0; l < LANES; ++l)
                t += subgroupShuffle(acc[m * CPL + r], l);
            out_v[m] = lane == r ? t : out_v[m];
        }
    }
    const uint n = n0 + lane;
    if (lane < CPL && n < N) {
        const float b = linear_add_bias(0.0, g, pc.bias_stride, n);
        [[unroll]] for (uint m = 0; m < TM; ++m) {
            if (m0 + m < M) {
                const uint yi = (g * M + m0 + m) * N + n;
                float v = out_v[m] + b;
                if (ACCUM != 0)
                    v += DVK_LOAD(y, Y_DT, yi);
                DVK_STORE(y, Y_DT, yi, v);
            }
        }
    }
}
