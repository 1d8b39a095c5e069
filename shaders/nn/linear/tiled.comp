#version 450
// dvk_linear on fp32 FMA tiles (every device): a workgroup computes a BM x BN tile of y, each
// invocation a TM x TN block of it (rows ty·TM .., columns tx·TN ..; TM, TN multiples of 4).
// x and the weight pass through shared memory as fp32 in steps of BK columns of K, stored
// k-major ([k][row], rows padded by one vec4 so that the transposing stores spread over the
// banks) and read as vec4s: a block's TM/4 + TN/4 loads per k feed TM·TN products (lavapipe
// turns every shared-memory load into one access per SIMD lane, whatever its width). Two
// buffers, the next step's global loads issued into registers before the current step's
// products, one barrier per step.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "dtype.glsl"
#include "tiled.h"
#include "linear.glsl"

layout(constant_id = TL_SPEC_BM) const uint BM = 64;
layout(constant_id = TL_SPEC_BN) const uint BN = 64;
layout(constant_id = TL_SPEC_BK) const uint BK = 16;
layout(constant_id = TL_SPEC_TM) const uint TM = 4;
layout(constant_id = TL_SPEC_TN) const uint TN = 4;

DVK_TENSOR_IN(LINEAR_BIND_X, x)
DVK_TENSOR_IN(LINEAR_BIND_W, w)
DVK_TENSOR_INOUT(LINEAR_BIND_Y, y)

const uint TXN = BN / TN, TYN = BM / TM; // invocations along n and along m (WG = TXN · TYN)
const uint XS4 = BM / 4 + 1, WS4 = BN / 4 + 1; // padded vec4 rows of the k-major tiles
const uint XL = (BM * BK + WG - 1) / WG, WL = (BN * BK + WG - 1) / WG; // loads per invocation
shared vec4 xs[2 * BK * XS4];
shared vec4 ws[2 * BK * WS4];

void main()
{
    const uint lid = gl_LocalInvocationID.x, tx = lid % TXN, ty = lid / TXN;
    const uint pid = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    const uint tm = pid / pc.tiles_n, tn = pid % pc.tiles_n, g = gl_WorkGroupID.z;
    if (tm >= pc.tiles_m) // the folded grid's spare workgroups (the whole workgroup leaves)
        return;
    const uint m0 = tm * BM, n0 = tn * BN;
    const uint xbase = g * pc.M, wbase = g * pc.N; // first rows of this group
    const uint nsteps = (pc.K + BK - 1) / BK;

    float xr[XL], wr[WL];
    // consecutive invocations on consecutive k of a row: coalesced global reads
#define TL_LOAD(step)                                                                              \
    [[unroll]] for (uint e = 0; e < XL; ++e) {                                                     \
        const uint v = lid + e * WG, r = v / BK, k = (step) * BK + v % BK;                         \
        xr[e] = 0.0;                                                                               \
        if (v < BM * BK && m0 + r < pc.M && k < pc.K)                                              \
            xr[e] = DVK_LOAD(x, X_DT, (xbase + m0 + r) * pc.K + k);                                \
    }                                                                                              \
    [[unroll]] for (uint e = 0; e < WL; ++e) {                                                     \
        const uint v = lid + e * WG, r = v / BK, k = (step) * BK + v % BK;                         \
        wr[e] = 0.0;                                                                               \
        if (v < BN * BK && n0 + r < pc.N && k < pc.K)                                              \
            wr[e] = DVK_LOAD(w, W_DT, (wbase + n0 + r) * pc.K + k);                                \
    }
#define TL_PUT(buf)                                                                                \
    [[unroll]] for (uint e = 0; e < XL; ++e) {                                                     \
        const uint v = lid + e * WG;                                                               \
        if (v < BM * BK)                                                                           \
            xs[((buf) * BK + v % BK) * XS4 + v / BK / 4][(v / BK) % 4] = xr[e];                    \
    }                                                                                              \
    [[unroll]] for (uint e = 0; e < WL; ++e) {                                                     \
        const uint v = lid + e * WG;                                                               \
        if (v < BN * BK)                                                                           \
            ws[((buf) * BK + v % BK) * WS4 + v / BK / 4][(v / BK) % 4] = wr[e];                    \
    }

    float acc[TM * TN];
    [[unroll]] for (uint i = 0; i < TM * TN; ++i)
        acc[i] = 0.0;

    TL_LOAD(0)
    TL_PUT(0)
    barrier();
    for (uint t = 0; t < nsteps; ++t) {
        const uint cur = t % 2;
        if (t + 1 < nsteps) {
            TL_LOAD(t + 1)
        }
        [[unroll]] for (uint k = 0; k < BK; ++k) {
            vec4 a[TM / 4], b[TN / 4];
            [[unroll]] for (uint i = 0; i < TM / 4; ++i)
                a[i] = xs[(cur * BK + k) * XS4 + ty * (TM / 4) + i];
            [[unroll]] for (uint j = 0; j < TN / 4; ++j)
                b[j] = ws[(cur * BK + k) * WS4 + tx * (TN / 4) + j];
            [[unroll]] for (uint i = 0; i < TM; ++i)
                [[unroll]] for (uint j = 0; j < TN; ++j)
                    acc[i * TN + j] = fma(a[i / 4][i % 4], b[j / 4][j % 4], acc[i * TN + j]);
        }
        if (t + 1 < nsteps) {
            TL_PUT(1 - cur)
        }
        barrier();
    }

    [[unroll]] for (uint i = 0; i < TM; ++i) {
        const uint m = m0 + ty * TM + i;
        [[unroll]] for (uint j = 0; j < TN; ++j) {
            const uint n = n0 + tx * TN + j;
            if (m < pc.M && n < pc.N) {
                const uint yi = (xbase + m) * pc.N + n;
                float v = linear_add_bias(acc[i * TN + j], g, pc.bias_stride, n);
                if (ACCUM != 0)
                    v += DVK_LOAD(y, Y_DT, yi);
                DVK_STORE(y, Y_DT, yi, v);
            }
        }
    }
}
