#version 450
// dvk_linear laid out for CPU devices (lavapipe): y = x Wᵀ + b, every M, the same bindings and
// epilogue as the other kernels (linear.h), planned for how llvmpipe compiles a compute shader.
//
// llvmpipe runs a workgroup on one thread, its invocations as SIMD vectors of the subgroup's
// width (8 lanes with AVX2). A buffer load whose address is not a constant or a push constant
// becomes a loop over the lanes (a mask test, a bounds check and an insert per lane), one trip
// per lane whatever the width of the load, so a 16-byte load per lane brings 4 to 8 elements
// for the price of one; a load under a condition costs more; shared memory is no faster.
// Arithmetic on registers, and subgroupShuffle by a lane index that is constant once the loops
// are unrolled, are cheap. So:
//   - each lane owns CPL output columns n = n0 + j·LANES + lane (weight rows: the lane reads
//     VW of its row's elements per load, 16 bytes for fp32 and 16-bit rows alike, so the loads
//     bring 4 or 8 elements per trip), for TM rows of x at once (the workgroup's row block):
//     every weight element loaded is used TM times from registers;
//   - x's rows are loaded once per subgroup, XV consecutive entries per lane per load (a
//     block of LANES·XV columns of K), and entry k reaches every lane by
//     subgroupShuffle(xs[m][k % XV], k / XV), then serves the lane's CPL columns;
//   - the accumulators acc[TM·CPL] stay in registers; no shared memory, no barrier, no
//     reduction across lanes. A workgroup has WG / LANES subgroups, each its own columns
//     (without barriers llvmpipe runs them one after the other: fewer, larger workgroups).
// Rows past M and columns past N read the last row or column (their results are not
// written), and the last K block's entries past K are zeros, so no load is conditional.
//
// Preconditions (src/nn/linear/linear.c): LANES = the subgroup size (fixed), WG a multiple of
// it; VW divides K (every row starts on a whole vector), XV = min(VW, 4); TM·CPL and
// TM·XV within the register budget; the subgroup shuffle.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "dtype.glsl"
#include "cpu.h"
#include "linear.glsl"
#include "cpu.glsl"

const uint XV = VW < 4 ? VW : 4; // x entries per lane per load
const uint KB = LANES * XV;      // columns of K per block
const uint WPB = KB / VW;        // weight loads per row and block

void main()
{
    const uint lane = gl_SubgroupInvocationID;
    const uint sg = gl_LocalInvocationID.x / LANES;
    const uint n0 = (gl_WorkGroupID.x * (WG / LANES) + sg) * LANES * CPL;
    const uint m0 = gl_WorkGroupID.y * TM, g = gl_WorkGroupID.z;
    const uint M = pc.M, N = pc.N, K = pc.K;

    uint wrow[CPL]; // first element of each of the lane's weight rows (past N: the last row)
    [[unroll]] for (uint j = 0; j < CPL; ++j)
        wrow[j] = (g * N + min(n0 + j * LANES + lane, N - 1)) * K;
    uint xrow[TM]; // first element of each x row (past M: the last row)
    [[unroll]] for (uint m = 0; m < TM; ++m)
        xrow[m] = (g * M + min(m0 + m, M - 1)) * K;

    float acc[TM * CPL]; // acc[m * CPL + j]: x row m0 + m · weight row of column j
    [[unroll]] for (uint i = 0; i < TM * CPL; ++i)
        acc[i] = 0.0;

    // One block of KB columns from kb on; TAIL: the last, partial one (entries past K are
    // zeros, their loads clamped to the row's last vector).
#define LC_BLOCK(kb, TAIL)                                                                     \
    {                                                                                          \
        float xs[TM * XV];                                                                     \
        const uint xk = (kb) + lane * XV;                                                      \
        const bool xok = !(TAIL) || xk < K;                                                    \
        [[unroll]] for (uint m = 0; m < TM; ++m) {                                             \
            const uvec4 r = RAW(x, XV * XES, xrow[m] + ((TAIL) ? min(xk, K - XV) : xk), XES);  \
            [[unroll]] for (uint e = 0; e < XV; ++e)                                           \
                xs[m * XV + e] = xok ? elem(r, e, X_DT) : 0.0;                                 \
        }                                                                                      \
        [[unroll]] for (uint s = 0; s < WPB; ++s) {                                            \
            const uint wk = (kb) + s * VW;                                                     \
            float wf[CPL * VW];                                                                \
            [[unroll]] for (uint j = 0; j < CPL; ++j) {                                        \
                const uvec4 r = RAW(w, VW * WES, wrow[j] + ((TAIL) ? min(wk, K - VW) : wk),    \
                                    WES);                                                      \
                [[unroll]] for (uint e = 0; e < VW; ++e)                                       \
                    wf[j * VW + e] = !(TAIL) || wk < K ? elem(r, e, W_DT) : 0.0;               \
            }                                                                                  \
            [[unroll]] for (uint e = 0; e < VW; ++e) {                                         \
                const uint k = s * VW + e; /* in the block: lane k / XV, slot k % XV */        \
                [[unroll]] for (uint m = 0; m < TM; ++m) {                                     \
                    const float xv = subgroupShuffle(xs[m * XV + k % XV], k / XV);             \
                    [[unroll]] for (uint j = 0; j < CPL; ++j)                                  \
                        acc[m * CPL + j] = fma(xv, wf[j * VW + e], acc[m * CPL + j]);          \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }

    const uint full = K / KB * KB;
    for (uint kb = 0; kb < full; kb += KB)
        LC_BLOCK(kb, false)
    if (full < K)
        LC_BLOCK(full, true)

    [[unroll]] for (uint j = 0; j < CPL; ++j) {
        const uint n = n0 + j * LANES + lane;
        if (n < N) {
            const float b = linear_add_bias(0.0, g, pc.bias_stride, n);
            [[unroll]] for (uint m = 0; m < TM; ++m) {
                if (m0 + m < M) {
                    const uint yi = (g * M + m0 + m) * N + n;
                    float v = acc[m * CPL + j] + b;
                    if (ACCUM != 0)
                        v += DVK_LOAD(y, Y_DT, yi);
                    DVK_STORE(y, Y_DT, yi, v);
                }
            }
        }
    }
}
