#version 450
// dvk_linear for M <= 16 rows per group (the decode step): y = x Wᵀ + b with the weight read
// once, at memory bandwidth. A workgroup owns RWG = (WG / LANES) · RPT weight rows and one K
// slice of KS columns. Each row group of LANES invocations walks its RPT rows along the slice
// in vectors of VW weight elements (16-byte loads for fp16 / bf16 rows when K is a multiple
// of 8, 4 floats for fp32), consecutive invocations on consecutive vectors (coalesced):
// UNROLL · RPT loads per step, each step's loads issued before the previous step's products,
// and the first step's before x's slice (MR rows, fp32) is copied to shared memory, so the
// weight stream never waits. VW divides K, so every row starts on a vector boundary whatever
// its index (K odd: VW = 1). The LANES partial sums of each (row, x row) meet in shared memory
// by a tree; with several K slices they are fp32 partials for splitk_sum.comp. With XDIRECT, x
// is read from memory where it is used (4 elements per load; x is small, so the L1 cache holds
// it) instead of through shared memory, which then serves the sums only.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "dtype.glsl"
#include "gemv.h"
#include "linear.glsl"

layout(constant_id = GV_SPEC_MR) const uint MR = 1;
layout(constant_id = GV_SPEC_LANES) const uint LANES = 32;
layout(constant_id = GV_SPEC_RPT) const uint RPT = 1;
layout(constant_id = GV_SPEC_VW) const uint VW = 4;
layout(constant_id = GV_SPEC_KS) const uint KS = 1024;
layout(constant_id = GV_SPEC_UNROLL) const uint UNROLL = 1;
layout(constant_id = GV_SPEC_XS4) const uint XS4 = 256;
layout(constant_id = GV_SPEC_PARTIAL) const uint PARTIAL = 0;
layout(constant_id = GV_SPEC_XV4) const uint XV4 = 0;
layout(constant_id = GV_SPEC_KC) const uint KC = 1024;
layout(constant_id = GV_SPEC_XDIRECT) const uint XDIRECT = 0;

DVK_TENSOR_IN(LINEAR_BIND_X, x)
// x 4 elements at a time (fp32: 16 bytes, 16-bit: 8 bytes)
layout(std430, binding = LINEAR_BIND_X) readonly buffer XV4_ { uvec4 x4[]; };
layout(std430, binding = LINEAR_BIND_X) readonly buffer XV2_ { uvec2 x2[]; };
DVK_TENSOR_IN(LINEAR_BIND_W, w)
// the weight's raw bits, 16, 8 and 4 bytes at a time
layout(std430, binding = LINEAR_BIND_W) readonly buffer WV4_ { uvec4 w4[]; };
layout(std430, binding = LINEAR_BIND_W) readonly buffer WV2_ { uvec2 w2[]; };
layout(std430, binding = LINEAR_BIND_W) readonly buffer WV1_ { uint w1[]; };
DVK_TENSOR_INOUT(LINEAR_BIND_Y, y)
// the slices' partial sums
layout(std430, binding = LINEAR_BIND_PART) writeonly buffer Part_ { float part[]; };

const uint RG = WG / LANES;       // row groups
const uint RWG = RG * RPT;        // weight rows per workgroup
const uint MQ = (MR + 3) / 4;     // vec4s of one invocation's sums for one weight row
const uint ES = W_DT == DVK_DT_F32 ? 4 : 2; // bytes per weight element

// x's slice in chunks of KC columns (fp32, [2][MR][KC] when the slice has several chunks,
// zeros past K), then the reduction's records
shared vec4 xs4[XS4];

// The raw bits of VW weight elements from element e (a multiple of VW).
uvec4 load_w(uint e)
{
    if (VW * ES == 16)
        return w4[e / VW];
    if (VW * ES == 8)
        return uvec4(w2[e / VW], 0u, 0u);
    if (VW * ES == 4)
        return uvec4(w1[e / VW], 0u, 0u, 0u);
#ifndef DVK_F32_ONLY
    return uvec4(uint(w_u16[e]), 0u, 0u, 0u);
#else
    return uvec4(0u);
#endif
}

// Element i (< VW) of a load_w result as fp32.
float w_elem(uvec4 r, uint i)
{
    if (W_DT == DVK_DT_F32)
        return uintBitsToFloat(r[i]);
    const uint bits = (r[i / 2] >> (16 * (i % 2))) & 0xffffu;
    if (W_DT == DVK_DT_F16)
        return unpackHalf2x16(bits).x;
    return uintBitsToFloat(bits << 16);
}

// Where x's vec4 holding chunk columns 4j .. 4j + 3 of row m lies in buffer xb. With 8-element
// weight vectors an invocation reads x 8 columns at a time, as two vec4s: the first halves of
// all 8-column groups are stored together, then the second halves, so that the invocations
// along K read consecutive 16-byte words (no bank conflicts).
uint x_slot(uint xb, uint m, uint j)
{
    if (VW == 8)
        return xb * MR * KC / 4 + ((j % 2) * MR + m) * (KC / 8) + j / 2;
    return (xb * MR + m) * KC / 4 + j;
}

// The vec4 of x row m holding chunk columns xk + 4q .. (xk a multiple of VW) of the chunk in
// buffer xb: for VW >= 4 all four are the row's, for VW < 4 the VW of them from component
// xk % 4 on.
vec4 x_vec(uint xb, uint m, uint xk, uint q)
{
    return xs4[x_slot(xb, m, xk / 4 + q)];
}

// XDIRECT: x's elements i .. i + 3 (i a multiple of 4, all within x) from memory.
vec4 x_load4(uint i)
{
    if (X_DT == DVK_DT_F32)
        return uintBitsToFloat(x4[i / 4]);
    const uvec2 h = x2[i / 4];
    return X_DT == DVK_DT_F16 ? vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y))
                              : uintBitsToFloat(uvec4(h.x << 16, h.x & 0xffff0000u, h.y << 16,
                                                      h.y & 0xffff0000u));
}

// Chunk c of x's slice (columns k0 + c·KC ..) into buffer xb: 4 elements per load where K is a
// multiple of 4 (XV4), zeros past the slice.
void stage_x(uint c, uint xb, uint g, uint k0, uint klen)
{
    for (uint q = gl_LocalInvocationID.x; q < MR * KC / 4; q += WG) {
        const uint m = q / (KC / 4), k = c * KC + (q % (KC / 4)) * 4;
        const uint xi = (g * MR + m) * pc.K + k0 + k;
        vec4 v = vec4(0.0);
        if (XV4 != 0 && k + 4 <= klen) {
            if (X_DT == DVK_DT_F32) {
                v = uintBitsToFloat(x4[xi / 4]);
            } else {
                const uvec2 h = x2[xi / 4];
                v = X_DT == DVK_DT_F16 ? vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y))
                                       : uintBitsToFloat(uvec4(h.x << 16, h.x & 0xffff0000u,
                                                               h.y << 16, h.y & 0xffff0000u));
            }
        } else {
            [[unroll]] for (uint e = 0; e < 4; ++e)
                if (k + e < klen)
                    v[e] = DVK_LOAD(x, X_DT, xi + e);
        }
        xs4[x_slot(xb, m, (q % (KC / 4)))] = v;
    }
}

// y[g, m, n] = sum + bias (+ y)
void write_y(uint g, uint m, uint n, float sum)
{
    const uint yi = (g * MR + m) * pc.N + n;
    float out_v = linear_add_bias(sum, g, pc.bias_stride, n);
    if (ACCUM != 0)
        out_v += DVK_LOAD(y, Y_DT, yi);
    DVK_STORE(y, Y_DT, yi, out_v);
}

void main()
{
    const uint lid = gl_LocalInvocationID.x, lane = lid % LANES, rg = lid / LANES;
    const uint n0 = gl_WorkGroupID.x * RWG, s = gl_WorkGroupID.y, g = gl_WorkGroupID.z;
    const uint k0 = s * KS, klen = min(KS, pc.K - k0);

    float acc[MR * RPT]; // acc[m * RPT + j]: x row m · weight row n0 + rg + j·RG
    [[unroll]] for (uint i = 0; i < MR * RPT; ++i)
        acc[i] = 0.0;
    uint wrow[RPT]; // first element of each weight row's slice
    bool wok[RPT];
    [[unroll]] for (uint j = 0; j < RPT; ++j) {
        const uint n = n0 + rg + j * RG;
        wok[j] = n < pc.N;
        wrow[j] = (g * pc.N + n) * pc.K + k0;
    }
    const uint nv = klen / VW; // vectors per row in this slice (VW divides K and KS)

    // The weight vectors of one step: UNROLL per row from vector vv on (stride LANES), zeros
    // past the slice or the rows.
#define GV_LOAD(raw, vv)                                                                           \
    [[unroll]] for (uint u = 0; u < UNROLL; ++u)                                                   \
        [[unroll]] for (uint j = 0; j < RPT; ++j) {                                                \
            raw[u * RPT + j] = uvec4(0);                                                           \
            if (wok[j] && (vv) + u * LANES < nv)                                                   \
                raw[u * RPT + j] = load_w(wrow[j] + ((vv) + u * LANES) * VW);                      \
        }
    // Their products with x, read from shared memory a vec4 at a time (lavapipe makes one
    // access per SIMD lane of every load, whatever its width).
#define GV_MATH(raw, vv)                                                                           \
    [[unroll]] for (uint u = 0; u < UNROLL; ++u) {                                                 \
        if ((vv) + u * LANES < nv) {                                                               \
            const uint xk = ((vv) + u * LANES) * VW - ch * KC; /* in chunk ch */                   \
            float wf[RPT * VW];                                                                    \
            [[unroll]] for (uint j = 0; j < RPT; ++j)                                              \
                [[unroll]] for (uint e = 0; e < VW; ++e)                                           \
                    wf[j * VW + e] = w_elem(raw[u * RPT + j], e);                                  \
            [[unroll]] for (uint m = 0; m < MR; ++m)                                               \
                [[unroll]] for (uint q = 0; q < (VW + 3) / 4; ++q) {                               \
                    const vec4 xq = XDIRECT != 0                                                   \
                                        ? x_load4((g * MR + m) * pc.K + k0 + xk + 4 * q)           \
                                        : x_vec(ch % 2, m, xk, q);                                 \
                    [[unroll]] for (uint c = 0; c < 4; ++c)                                        \
                        if (4 * q + c < VW) {                                                      \
                            const float xv = VW >= 4 ? xq[c] : xq[xk % 4 + c];                     \
                            [[unroll]] for (uint j = 0; j < RPT; ++j)                              \
                                acc[m * RPT + j] =                                                 \
                                    fma(wf[j * VW + 4 * q + c], xv, acc[m * RPT + j]);             \
                        }                                                                          \
                }                                                                                  \
        }                                                                                          \
    }

    // The first step's weights are requested before x is staged, so that the weight stream
    // starts at once; every later step's loads are issued before the products of the one
    // before (two register sets).
    uvec4 cur[UNROLL * RPT], nxt[UNROLL * RPT];
    GV_LOAD(cur, lane)

    // x's slice chunk by chunk, the next chunk staged into the other buffer while this one's
    // products run (a chunk is a whole number of steps, so v runs on across chunks and the
    // next step's weights are always in flight)
    const uint nchunks = (klen + KC - 1) / KC, kcv = KC / VW;
    if (XDIRECT == 0)
        stage_x(0, 0, g, k0, klen);
    barrier();
    for (uint ch = 0; ch < nchunks; ++ch) {
        if (XDIRECT == 0 && ch + 1 < nchunks)
            stage_x(ch + 1, (ch + 1) % 2, g, k0, klen);
        for (uint v = ch * kcv + lane; v < min((ch + 1) * kcv, nv); v += UNROLL * LANES) {
            GV_LOAD(nxt, v + UNROLL * LANES)
            GV_MATH(cur, v)
            [[unroll]] for (uint i = 0; i < UNROLL * RPT; ++i)
                cur[i] = nxt[i];
        }
        barrier();
    }

    // Sum the LANES invocations of each row group, one weight row at a time: a tree over lanes
    // in shared memory (xs4 is free: the chunk loop ended on a barrier).
    [[unroll]] for (uint j = 0; j < RPT; ++j) {
        if (j > 0)
            barrier();
        [[unroll]] for (uint q = 0; q < MQ; ++q) {
            vec4 t = vec4(0.0);
            [[unroll]] for (uint c = 0; c < 4; ++c)
                if (4 * q + c < MR)
                    t[c] = acc[(4 * q + c) * RPT + j];
            xs4[lid * MQ + q] = t;
        }
        barrier();
        for (uint h = LANES / 2; h > 0; h /= 2) {
            if (lane < h)
                [[unroll]] for (uint q = 0; q < MQ; ++q)
                    xs4[lid * MQ + q] += xs4[(lid + h) * MQ + q];
            barrier();
        }
        for (uint o = lid; o < RG * MR; o += WG) {
            const uint r = o % RG, m = o / RG, n = n0 + r + j * RG;
            if (n < pc.N) {
                const float sum = xs4[r * LANES * MQ + m / 4][m % 4];
                if (PARTIAL != 0)
                    part[((s * pc.G + g) * MR + m) * pc.N + n] = sum;
                else
                    write_y(g, m, n, sum);
            }
        }
    }
}
