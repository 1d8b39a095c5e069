#version 450
// dvk_linear on tensor cores (VK_NV_cooperative_matrix, 16 x 16 x 16 fp16 blocks, fp32 sums):
// x and the weight 16-bit (bf16 converted to fp16 while staged), K and N multiples of 16,
// subgroups of exactly 32.
//
// A workgroup computes a BM x BN tile of y; subgroup sg = wm·(BN/WN) + wn computes the WM x WN
// warp tile at (wm·WM, wn·WN) as (WM/16)·(WN/16) fp32 accumulator blocks. K is walked in steps
// of BK: the step's x tile [BM][BK] and weight tile [BN][BK] (both K-contiguous, as in memory)
// are loaded 16 bytes per invocation-load into registers, converted to fp16 and stored to one
// of two shared buffers, rows padded by CM_PAD halves (a 16-row block load then touches every
// bank once). The weight tile is read as the column-major B operand (B(k, n) = W[n][k]), so
// no transpose is ever made. The loads of step t + STAGES − 1 are issued before the products
// of step t; one barrier per step. STAGES = 1 uses one buffer (half the shared memory, so a
// larger tile or BK fits): store, barrier, issue the next step's loads, products, barrier.
//
// The tile's outputs leave through shared memory: each subgroup stores one 16-row strip of its
// accumulators as fp32 (rows padded by 4 floats), then the workgroup adds the bias (and y with
// ACCUM), rounds once to y's dtype and writes 8 outputs per 16-byte store, consecutive
// invocations along a row of the whole tile. With PARTIAL, K is cut into slices of pc.ks
// columns (gl_WorkGroupID.z = group + G·slice) and the strips go out as fp32 partial sums,
// [slice, G, M, N], for splitk_sum.comp: the decode-shaped configuration (M <= 16) gets its
// workgroups that way.
//
// Shared memory is one uvec4 array: the products read fp16 blocks out of it and the epilogue
// stores fp32 blocks into it (SPV_NV_cooperative_matrix lets the pointer type differ from the
// matrix's; stride and offset are then in uvec4s: 8 halves, 4 floats).
// Preconditions (src/nn/linear/linear.c): BM % WM == 0, BN % WN == 0, WM, WN, BK multiples of
// 16; WG = 32·(BM/WM)·(BN/WN); K % 16 == 0 and N % 16 == 0 (so an 8-element vector is all in
// or all out of the matrix, and every row starts 16-byte aligned); SMEM4 holds the buffers
// and the epilogue's (WG/32)·16·(WN+4)/4 uvec4s.
// Built a second time with DVK_CM_EMULATE (linear/tiled_cm_emu): the matrix operations done by
// plain code, so that the tests check this tiling on devices without cooperative matrices.
// DIAG (CM_DIAG_* of tiled.h) leaves parts of the work out, for timing them (wrong results).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "dtype.glsl"
#include "tiled.h"
#include "linear.glsl"

layout(constant_id = CM_SPEC_BM) const uint BM = 128;
layout(constant_id = CM_SPEC_BN) const uint BN = 128;
layout(constant_id = CM_SPEC_BK) const uint BK = 32;
layout(constant_id = CM_SPEC_WM) const uint WM = 64;
layout(constant_id = CM_SPEC_WN) const uint WN = 32;
layout(constant_id = CM_SPEC_STAGES) const uint STAGES = 2;
layout(constant_id = CM_SPEC_SMEM4) const uint SMEM4 = 2 * 256 * 5;
layout(constant_id = CM_SPEC_GROUP_M) const uint GROUP_M = 8;
layout(constant_id = CM_SPEC_PARTIAL) const uint PARTIAL = 0;
layout(constant_id = CM_SPEC_DIAG) const uint DIAG = 0;

layout(std430, binding = LINEAR_BIND_X) readonly buffer X4_ { uvec4 x4[]; };
layout(std430, binding = LINEAR_BIND_W) readonly buffer W4_ { uvec4 w4[]; };
layout(std430, binding = LINEAR_BIND_Y) buffer Y4_ { uvec4 y4[]; };
// the slices' partial sums
layout(std430, binding = LINEAR_BIND_PART) writeonly buffer Part4_ { uvec4 part4[]; };

#ifndef DVK_CM_EMULATE
#include "coopmat.glsl"
#define CM_WARP gl_SubgroupID
#define CM_ZERO ACC32(0.0)
#define CM_MATLOAD(mat, off, stride, layout) CM_LOAD(mat, smem, off, stride, layout)
#define CM_ACCSTORE(c, off, stride) CM_STORE(c, smem, off, stride, CM_ROWS)
#define CM_F16X2(v) packFloat2x16(f16vec2(v))
#else
const uint CM_PAD = 8;
#endif

// Every size below is arithmetic on the geometry, the invocation count included: WG (the
// pipeline's local size) equals NT, the host sees to it.
const uint WARPS_N = BN / WN, WARPS_M = BM / WM;
const uint NT = 32 * WARPS_M * WARPS_N;         // invocations
const uint NSUB = WARPS_M * WARPS_N;            // subgroups
const uint TI = WM / 16, TJ = WN / 16;          // accumulator blocks of a subgroup
const uint KV = BK / 8;                         // uvec4s of a tile row
const uint RS = (BK + CM_PAD) / 8;              // uvec4s of a padded shared row
const uint A_SIZE = BM * RS, BUF = (BM + BN) * RS; // a buffer: x tile, then the weight tile
const uint XL = (BM * KV + NT - 1) / NT, WL = (BN * KV + NT - 1) / NT; // loads per invocation
const uint ERS = (WN + CM_PAD / 2) / 4;         // uvec4s of a padded fp32 epilogue row
shared uvec4 smem[SMEM4];

#ifdef DVK_CM_EMULATE
// The same kernel with the cooperative-matrix operations done by plain code, for testing its
// tiling on devices without them (DVK_LINEAR_CM_EMULATE, src/nn/linear/linear.c): warps are
// groups of 32 consecutive invocations, lane l of a warp holds row l / 2, columns
// (l % 2)·8 .. +8 of an fp32 accumulator block, and an fp16 operand "load" records where the
// block lies in shared memory (the products read it there before the next barrier, as the
// kernel's loads do), with the element layout SPV_NV_cooperative_matrix defines: element
// (r, c) at halves 8·off + r·8·stride + c (row-major) or 8·off + c·8·stride + r (column-major).
struct cm_view {
    uint off, stride;
    bool col;
};
struct cm_acc {
    float v[8];
};
#define CM_A cm_view
#define CM_B cm_view
#define ACC32 cm_acc
#define CM_ROWS false
#define CM_COLS true
#define CM_WARP (gl_LocalInvocationID.x / 32)
#define CM_ZERO cm_acc(float[8](0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0))
#define CM_MATLOAD(mat, off_, stride_, col_) mat = cm_view(off_, stride_, col_)
#define CM_MMA(a, b, c) cm_mma(a, b, c)
#define CM_ACCSTORE(c, off, stride) cm_store(c, off, stride)
#define CM_F16X2(v) packHalf2x16(v)

float cm_elem(cm_view m, uint r, uint c)
{
    const uint h = 8 * m.off + (m.col ? c * 8 * m.stride + r : r * 8 * m.stride + c);
    return unpackHalf2x16(smem[h / 8][(h % 8) / 2] >> (16 * (h % 2))).x;
}
// The loop over k is kept rolled (the emulation exists to be compiled quickly, not to run
// fast); the one over e is unrolled, so that acc.v is never indexed by a variable (lavapipe
// gave wrong sums for that with 8 accumulator blocks per warp and long K).
cm_acc cm_mma(cm_view a, cm_view b, cm_acc acc)
{
    const uint lane = gl_LocalInvocationID.x % 32, r = lane / 2, c0 = (lane % 2) * 8;
    [[dont_unroll]] for (uint k = 0; k < 16; ++k) {
        const float av = cm_elem(a, r, k);
        [[unroll]] for (uint e = 0; e < 8; ++e)
            acc.v[e] = fma(av, cm_elem(b, k, c0 + e), acc.v[e]);
    }
    return acc;
}
void cm_store(cm_acc acc, uint off, uint stride)
{
    const uint lane = gl_LocalInvocationID.x % 32, r = lane / 2, c0 = (lane % 2) * 8;
    [[unroll]] for (uint e = 0; e < 8; ++e) {
        const uint f = 4 * (off + r * stride) + c0 + e;
        smem[f / 4][f % 4] = floatBitsToUint(acc.v[e]);
    }
}
#endif

// 8 16-bit values (fp16 or bf16 bits) as fp16 bits
uvec4 to_f16(uvec4 r, uint dt)
{
    if (dt == DVK_DT_BF16)
        [[unroll]] for (uint c = 0; c < 4; ++c)
            r[c] = CM_F16X2(vec2(uintBitsToFloat(r[c] << 16), uintBitsToFloat(r[c] & 0xffff0000u)));
    return r;
}

// 8 values of a 16-bit y (fp16 or bf16) as fp32, and back (rounded to nearest even)
void y_unpack(uvec4 r, inout float v[8])
{
    [[unroll]] for (uint c = 0; c < 4; ++c) {
        if (Y_DT == DVK_DT_F16) {
            const vec2 p = unpackHalf2x16(r[c]);
            v[2 * c] += p.x;
            v[2 * c + 1] += p.y;
        } else {
            v[2 * c] += uintBitsToFloat(r[c] << 16);
            v[2 * c + 1] += uintBitsToFloat(r[c] & 0xffff0000u);
        }
    }
}
uvec4 y_pack(float v[8])
{
    uvec4 r;
    [[unroll]] for (uint c = 0; c < 4; ++c)
        r[c] = Y_DT == DVK_DT_F16
                   ? CM_F16X2(vec2(v[2 * c], v[2 * c + 1]))
                   : dvk_bf16_bits(v[2 * c]) | (dvk_bf16_bits(v[2 * c + 1]) << 16);
    return r;
}

// y[g, m, n .. n + 7] = v (+ y with ACCUM), rounded once to y's dtype, one 16-byte store
void write_y8(uint g, uint m, uint n, float v[8])
{
    const uint yi = ((g * pc.M + m) * pc.N + n) / 8;
    if (ACCUM != 0)
        y_unpack(y4[yi], v);
    y4[yi] = y_pack(v);
}

void main()
{
    const uint lid = gl_LocalInvocationID.x, sg = CM_WARP;
    const uint wm = sg / WARPS_N, wn = sg % WARPS_N;
    const uint g = gl_WorkGroupID.z % pc.G, slice = gl_WorkGroupID.z / pc.G;

    // tile (tm, tn): GROUP_M tile rows at a time, down each column of tiles
    const uint pid = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (pid >= pc.tiles_m * pc.tiles_n) // the folded grid's spare workgroups
        return;
    const uint in_group = GROUP_M * pc.tiles_n;
    const uint first_m = (pid / in_group) * GROUP_M;
    const uint group_rows = min(pc.tiles_m - first_m, GROUP_M);
    const uint tm = first_m + (pid % in_group) % group_rows;
    const uint tn = (pid % in_group) / group_rows;
    const uint m0 = tm * BM, n0 = tn * BN;
    const uint xbase = g * pc.M, wbase = g * pc.N; // first rows of this group
    // this workgroup's K columns: [kbeg, kend), whole BK steps but at K's end
    const uint kbeg = slice * pc.ks, kend = min(pc.K, kbeg + pc.ks);
    const uint nsteps = (kend - kbeg + BK - 1) / BK;

    uvec4 xr0[XL], wr0[WL], xr1[XL], wr1[WL];
    // Step `step`'s tiles into registers: invocation-load v is row v / KV, columns
    // (v % KV)·8 .. +8 of the step (consecutive invocations along a row: coalesced).
#define TILE_LOAD(xr, wr, step)                                                                    \
    {                                                                                              \
        const uint k0_ = kbeg + (step) * BK;                                                       \
        const bool step_ok_ = (step) < nsteps;                                                     \
        [[unroll]] for (uint e_ = 0; e_ < XL; ++e_) {                                              \
            const uint v_ = lid + e_ * NT, row_ = v_ / KV, k_ = k0_ + (v_ % KV) * 8;               \
            xr[e_] = uvec4(0);                                                                     \
            if (v_ < BM * KV && step_ok_ && m0 + row_ < pc.M && k_ < kend)                         \
                xr[e_] = x4[((xbase + m0 + row_) * pc.K + k_) / 8];                                \
        }                                                                                          \
        [[unroll]] for (uint e_ = 0; e_ < WL; ++e_) {                                              \
            const uint v_ = lid + e_ * NT, row_ = v_ / KV, k_ = k0_ + (v_ % KV) * 8;               \
            wr[e_] = uvec4(0);                                                                     \
            if (v_ < BN * KV && step_ok_ && n0 + row_ < pc.N && k_ < kend)                         \
                wr[e_] = w4[((wbase + n0 + row_) * pc.K + k_) / 8];                                \
        }                                                                                          \
    }
    // Registers into shared buffer `buf` as fp16, rows padded to RS uvec4s.
#define CM_PUT(xr, wr, buf)                                                                        \
    {                                                                                              \
        [[unroll]] for (uint e_ = 0; e_ < XL; ++e_) {                                              \
            const uint v_ = lid + e_ * NT;                                                         \
            if (v_ < BM * KV)                                                                      \
                smem[(buf) * BUF + (v_ / KV) * RS + v_ % KV] = to_f16(xr[e_], X_DT);               \
        }                                                                                          \
        [[unroll]] for (uint e_ = 0; e_ < WL; ++e_) {                                              \
            const uint v_ = lid + e_ * NT;                                                         \
            if (v_ < BN * KV)                                                                      \
                smem[(buf) * BUF + A_SIZE + (v_ / KV) * RS + v_ % KV] = to_f16(wr[e_], W_DT);      \
        }                                                                                          \
    }
    // The operand blocks of sub-step kk of the step in buffer `buf`.
#define CM_FRAGS(a, b, buf, kk)                                                                    \
    {                                                                                              \
        [[unroll]] for (uint i_ = 0; i_ < TI; ++i_)                                                \
            CM_MATLOAD(a[i_], (buf) * BUF + (wm * WM + i_ * 16) * RS + (kk) * 2, RS, CM_ROWS);     \
        [[unroll]] for (uint j_ = 0; j_ < TJ; ++j_)                                                \
            CM_MATLOAD(b[j_], (buf) * BUF + A_SIZE + (wn * WN + j_ * 16) * RS + (kk) * 2, RS,      \
                       CM_COLS);                                                                   \
    }
#define CM_PRODUCTS(a, b)                                                                          \
    [[unroll]] for (uint i_ = 0; i_ < TI; ++i_)                                                    \
        [[unroll]] for (uint j_ = 0; j_ < TJ; ++j_)                                                \
            acc[i_ * TJ + j_] = CM_MMA(a[i_], b[j_], acc[i_ * TJ + j_]);
    // The products of the step in shared buffer `buf` (with CM_DIAG_NOFRAG, of the operands
    // read once before the loop; with CM_DIAG_NOMATH, none).
#define CM_COMPUTE(buf)                                                                            \
    if ((DIAG & CM_DIAG_NOMATH) == 0u) {                                                           \
        [[unroll]] for (uint kk = 0; kk < BK / 16; ++kk) {                                         \
            if ((DIAG & CM_DIAG_NOFRAG) != 0u) {                                                   \
                CM_PRODUCTS(ah, bh)                                                                \
            } else {                                                                               \
                CM_A a[TI];                                                                        \
                CM_B b[TJ];                                                                        \
                CM_FRAGS(a, b, buf, kk)                                                            \
                CM_PRODUCTS(a, b)                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
    // The K loop's loads, stores and barriers, each of which a diagnostic bit can leave out.
    // Without the stores the loaded words are folded into `sink` where they would be stored
    // (so the loads are still waited for there), and sink is written under a condition that
    // never holds (G >= 1), which keeps them.
#define LOOP_LOAD(xr, wr, step)                                                                    \
    if ((DIAG & CM_DIAG_NOGLOBAL) == 0u)                                                           \
        TILE_LOAD(xr, wr, step)
#define LOOP_PUT(xr, wr, buf)                                                                      \
    if ((DIAG & CM_DIAG_NOSTORE) == 0u) {                                                          \
        CM_PUT(xr, wr, buf)                                                                        \
    } else {                                                                                       \
        [[unroll]] for (uint e_ = 0; e_ < XL; ++e_)                                                \
            sink ^= xr[e_].x ^ xr[e_].y ^ xr[e_].z ^ xr[e_].w;                                     \
        [[unroll]] for (uint e_ = 0; e_ < WL; ++e_)                                                \
            sink ^= wr[e_].x ^ wr[e_].y ^ wr[e_].z ^ wr[e_].w;                                     \
    }
#define LOOP_BARRIER()                                                                             \
    if ((DIAG & CM_DIAG_NOSYNC) == 0u)                                                             \
        barrier();

    ACC32 acc[TI * TJ];
    [[unroll]] for (uint i = 0; i < TI * TJ; ++i)
        acc[i] = CM_ZERO;
    uint sink = 0u;

    TILE_LOAD(xr0, wr0, 0u)
    CM_PUT(xr0, wr0, 0u)
    if (STAGES == 3)
        TILE_LOAD(xr1, wr1, 1u)
    barrier();
    CM_A ah[TI]; // CM_DIAG_NOFRAG: the operands of the first step's first sub-step
    CM_B bh[TJ];
    if ((DIAG & CM_DIAG_NOFRAG) != 0u)
        CM_FRAGS(ah, bh, 0u, 0u)
    if (STAGES == 1) {
        // One buffer: the products of step t run while step t + 1's loads are in flight, and
        // their barrier frees the buffer for step t + 1's stores. The first step's stores and
        // barrier were made above.
        for (uint t = 0; t < nsteps; ++t) {
            if (t > 0) {
                LOOP_PUT(xr0, wr0, 0u)
                LOOP_BARRIER()
            }
            LOOP_LOAD(xr0, wr0, t + 1)
            CM_COMPUTE(0u)
            LOOP_BARRIER()
        }
    } else {
        // Two steps per iteration, so that each register set is named statically: buffer 0
        // holds the even steps, buffer 1 the odd ones. With STAGES == 2 one register set
        // carries step t + 1; with 3, set 0 carries the even steps and set 1 the odd ones, two
        // steps ahead.
        for (uint t = 0; t < nsteps; t += 2) {
            if (STAGES == 3) {
                LOOP_LOAD(xr0, wr0, t + 2)
                CM_COMPUTE(0u)
                if (t + 1 < nsteps)
                    LOOP_PUT(xr1, wr1, 1u)
            } else {
                LOOP_LOAD(xr0, wr0, t + 1)
                CM_COMPUTE(0u)
                if (t + 1 < nsteps)
                    LOOP_PUT(xr0, wr0, 1u)
            }
            LOOP_BARRIER()
            if (t + 1 >= nsteps)
                break;
            if (STAGES == 3) {
                LOOP_LOAD(xr1, wr1, t + 3)
                CM_COMPUTE(1u)
                if (t + 2 < nsteps)
                    LOOP_PUT(xr0, wr0, 0u)
            } else {
                LOOP_LOAD(xr0, wr0, t + 2)
                CM_COMPUTE(1u)
                if (t + 2 < nsteps)
                    LOOP_PUT(xr0, wr0, 0u)
            }
            LOOP_BARRIER()
        }
    }
    if ((DIAG & CM_DIAG_NOSYNC) != 0u)
        barrier(); // the epilogue's stores must not race the last products
    if ((DIAG & CM_DIAG_NOSTORE) != 0u && pc.G == 0u)
        y4[0] = uvec4(sink);
    // CM_DIAG_NOEPI: only under a condition that never holds (G >= 1), so the sums are kept
    if ((DIAG & CM_DIAG_NOEPI) != 0u && pc.G != 0u)
        return;

    // Epilogue, one 16-row strip of every warp tile at a time (the loop ended on a barrier:
    // the buffers are free). Item it of a strip: c8 (8 columns) fastest, then the subgroup
    // along n, so consecutive invocations write one row of the whole tile.
    const uint ITEMS = NSUB * 16 * (WN / 8);
    [[unroll]] for (uint i = 0; i < TI; ++i) {
        [[unroll]] for (uint j = 0; j < TJ; ++j)
            CM_ACCSTORE(acc[i * TJ + j], sg * 16 * ERS + j * 4, ERS);
        barrier();
        for (uint it = lid; it < ITEMS; it += NT) {
            const uint c8 = it % (WN / 8), sn = (it / (WN / 8)) % WARPS_N;
            const uint sm = (it / (WN / 8 * WARPS_N)) % WARPS_M, r = it / (WN / 8 * NSUB);
            const uint m = m0 + sm * WM + i * 16 + r, n = n0 + sn * WN + c8 * 8;
            if (m < pc.M && n < pc.N) {
                const uint src = (sm * WARPS_N + sn) * 16 * ERS + r * ERS + c8 * 2;
                const uvec4 lo = smem[src], hi = smem[src + 1];
                if (PARTIAL != 0) { // fp32 sums of this K slice, for splitk_sum.comp
                    const uint pi = (((slice * pc.G + g) * pc.M + m) * pc.N + n) / 4;
                    part4[pi] = lo;
                    part4[pi + 1] = hi;
                    continue;
                }
                float v[8];
                [[unroll]] for (uint c = 0; c < 4; ++c) {
                    v[c] = linear_add_bias(uintBitsToFloat(lo[c]), g, pc.bias_stride, n + c);
                    v[c + 4] = linear_add_bias(uintBitsToFloat(hi[c]), g, pc.bias_stride,
                                               n + c + 4);
                }
                write_y8(g, m, n, v);
            }
        }
        barrier();
    }
}
