#version 450
// Chunked KDA and generalized (DPLR) delta rule, stage 2 of 3, on cooperative matrices. Same
// function as chunk_state.comp: one workgroup per (value tile of BV columns, head, sequence)
// carries the state h [K x BV] through the sequence's chunks, in fp32 accumulator blocks held
// by the subgroups (TH blocks each), and for each chunk:
//   writes h at the chunk's start (fp32)                                    -> h_chunks
//   KDA:  U' = U - W h                    (W h with h rounded to fp16)       -> u, in place
//         h  = exp(G_C) ⊙ h + K̂^T U'      (exp(G_C): one decay per key channel, applied to
//                                           h's rows in shared memory; U' rounded to fp16)
//   DPLR: R  = W h + U   (the low-rank reads)                                -> u, in place
//         h  = exp(G_C) ⊙ h + B̂^T R + K̂^T V
// W, K̂ = exp(G_C - G) ⊙ K and B̂ = exp(G_C - G) ⊙ B come from chunk_prepare_cm.comp in fp16.
// The next chunk's tiles and exp(G_C) are loaded into registers while this chunk computes. A
// long sequence runs as several dispatches of c_count chunks; the host carries the state
// between them.
//
// Preconditions (src/ops/dplr/chunk.c): C = 64; K a multiple of 16; BV = 16 dividing V;
// WG <= 128 in subgroups of 32; (K/16)(BV/16) and (C/16)(BV/16) multiples of NSG.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "chunk_state.h"

layout(constant_id = DPLR_CHUNK_STATE_CM_SPEC_C) const uint C = 64;
layout(constant_id = DPLR_CHUNK_STATE_CM_SPEC_K) const uint K = 128;
layout(constant_id = DPLR_CHUNK_STATE_CM_SPEC_V) const uint V = 128;
layout(constant_id = DPLR_CHUNK_STATE_CM_SPEC_BV) const uint BV = 16;
layout(constant_id = DPLR_CHUNK_STATE_CM_SPEC_USE_H0) const bool USE_H0 = false;
layout(constant_id = DPLR_CHUNK_STATE_CM_SPEC_STORE_HT) const bool STORE_HT = false;
layout(constant_id = DPLR_CHUNK_STATE_CM_SPEC_WG) const uint WG = 128;
layout(constant_id = DPLR_CHUNK_STATE_CM_SPEC_DPLR) const bool DPLR = false;
layout(local_size_x_id = DPLR_CHUNK_STATE_CM_SPEC_WG) in;

#include "io.glsl"
#include "coopmat.glsl"

// the binding numbers of chunk_state.comp (binding 0 holds K̂, binding 2 B̂; a is not read)
layout(std430, binding = DPLR_CHUNK_STATE_BIND_K) readonly buffer Kh4 { uvec4 kh4[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_B) readonly buffer Bh4 { uvec4 bh4[]; }; // DPLR
layout(std430, binding = DPLR_CHUNK_STATE_BIND_V) readonly buffer Vb4 { uvec4 v4[]; };  // DPLR
layout(std430, binding = DPLR_CHUNK_STATE_BIND_W) readonly buffer Wb4 { uvec4 w4[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_U) buffer Ub4 { vec4 u4[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_G_CUM) readonly buffer Gc { float g_cum[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_H0) readonly buffer H0 { float h0[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_HT) writeonly buffer HT { float ht[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_H_CHUNKS) writeonly buffer Hc4 { vec4 hc4[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_TABLE) readonly buffer Table { int chunk_table[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_SEQ) readonly buffer Seq { int seq_chunks[]; };

const uint KB = K / 16, VB = BV / 16, CB = C / 16;
const uint TH = KB * VB / NSG; // state blocks per subgroup
const uint TU = CB * VB / NSG; // U' blocks per subgroup

const uint XS = K + CM_PAD, HS = BV + CM_PAD, FS = BV + CM_PAD / 2; // row strides
shared float16_t s_x[C * XS];  // W, then K̂ (KDA) or B̂ and K̂ (DPLR)
shared float16_t s_h[K * HS];  // h rounded to fp16 (the operand of W h)
shared float16_t s_u[C * HS];  // U' (KDA) or R (DPLR) rounded to fp16
shared float16_t s_v[C * HS];  // V's tile (DPLR)
shared float s_hf[K * FS];     // h in fp32: written out, decayed, reloaded
shared float s_wh[C * FS + K]; // W h in fp32; then this chunk's exp(G_C)

void main()
{
    const uint lid = gl_LocalInvocationID.x, sg = gl_SubgroupID;
    const uint vt = gl_WorkGroupID.x, hv = gl_WorkGroupID.y, seq = gl_WorkGroupID.z;
    const uint c0 = vt * BV;
    const uint state_base = (seq * pc.HV + hv) * K * V;

    ACC32 hb[TH];
    [[unroll]] for (uint e = 0; e < TH; ++e) {
        const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
        if (USE_H0)
            CM_LOAD(hb[e], h0, state_base + rb * 16 * V + c0 + cb * 16, V, CM_ROWS);
        else
            hb[e] = ACC32(0.0);
    }

    const uint seq_first = uint(seq_chunks[seq]), seq_last = uint(seq_chunks[seq + 1]);
    const uint first = min(seq_first + pc.c_begin, seq_last);
    const uint last = min(first + pc.c_count, seq_last);
    uint bos = 0, eos = 0; // chunk c of the sequence starts at bos + (c - seq_first) C
    if (first < last) {
        bos = uint(chunk_table[2 * seq_first]);
        eos = uint(chunk_table[2 * (seq_last - 1)]) + uint(chunk_table[2 * (seq_last - 1) + 1]);
    }

    // The next chunk's tiles, in registers: W, X2 (KDA: K̂; DPLR: B̂) and X3 (DPLR: K̂) [C x K],
    // U's [C x BV] tile (and V's, DPLR), exp(G_C)
    const uint NU = (C * BV / 4 + WG - 1) / WG, ND = (K + WG - 1) / WG;
    uvec4 wr[F16_REGS(C, K)], x2r[F16_REGS(C, K)], x3r[F16_REGS(C, K)], vr[F16_REGS(C, BV)];
    vec4 ur[NU];
    float dr[ND];
    uint pt0 = 0, pn = 0; // the prefetched chunk's first token and length
#define P_OK(t) ((t) < pn)
#define P_ROW(t) (((pt0 + (t)) * pc.HV + hv) * K)
#define P_VROW(t) (((pt0 + (t)) * pc.HV + hv) * V)
#define PREFETCH_W(chunk_)                                                                        \
    {                                                                                             \
        pt0 = bos + ((chunk_) - seq_first) * C;                                                   \
        pn = min(C, eos - pt0);                                                                   \
        LOAD_F16(wr, w4, C, P_OK, P_ROW, K, K, 0)                                                 \
        [[unroll]] for (uint m = 0; m < NU; ++m) {                                                \
            const uint x = lid + m * WG, t = x / (BV / 4), j = (x % (BV / 4)) * 4;                \
            ur[m] = vec4(0.0);                                                                    \
            if (x < C * BV / 4 && t < pn)                                                         \
                ur[m] = u4[(P_VROW(t) + c0 + j) / 4];                                             \
        }                                                                                         \
        if (DPLR)                                                                                 \
            LOAD_F16(vr, v4, C, P_OK, P_VROW, BV, V, c0)                                          \
    }
#define PREFETCH_X2()                                                                             \
    {                                                                                             \
        if (DPLR)                                                                                 \
            LOAD_F16(x2r, bh4, C, P_OK, P_ROW, K, K, 0)                                           \
        else                                                                                      \
            LOAD_F16(x2r, kh4, C, P_OK, P_ROW, K, K, 0)                                           \
        [[unroll]] for (uint m = 0; m < ND; ++m) {                                                \
            const uint i = lid + WG * m;                                                          \
            dr[m] = i < K ? exp(g_cum[P_ROW(pn - 1) + i]) : 0.0;                                  \
        }                                                                                         \
    }
#define PREFETCH_X3() LOAD_F16(x3r, kh4, C, P_OK, P_ROW, K, K, 0)
    if (first < last) {
        PREFETCH_W(first)
        PREFETCH_X2()
        if (DPLR)
            PREFETCH_X3()
    }

    for (uint chunk = first; chunk < last; ++chunk) {
        const uint t0 = pt0, n = pn;
        const uint hc_base = (chunk * pc.HV + hv) * K * V;

        // the state at the chunk's start: fp32 to shared memory, then to h_chunks and, as
        // fp16, to the W h operand
        [[unroll]] for (uint e = 0; e < TH; ++e) {
            const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
            CM_STORE(hb[e], s_hf, rb * 16 * FS + cb * 16, FS, CM_ROWS);
        }
        PUT_F16(s_x, 0, wr, C, K, XS)
        if (DPLR)
            PUT_F16(s_v, 0, vr, C, BV, HS)
        [[unroll]] for (uint m = 0; m < ND; ++m) // this chunk's decays, into s_wh's tail
            if (lid + WG * m < K)
                s_wh[C * FS + lid + WG * m] = dr[m];
        vec4 u_cur[NU];
        [[unroll]] for (uint m = 0; m < NU; ++m) u_cur[m] = ur[m];
        barrier();
        if (chunk + 1 < last)
            PREFETCH_W(chunk + 1) // (pt0, pn now the next chunk's; t0, n this one's)
        for (uint x = lid; x < K * BV / 4; x += WG) {
            const uint i = x / (BV / 4), j = (x % (BV / 4)) * 4;
            const vec4 hv4 = vec4(s_hf[i * FS + j], s_hf[i * FS + j + 1], s_hf[i * FS + j + 2],
                                  s_hf[i * FS + j + 3]);
            hc4[(hc_base + i * V + c0 + j) / 4] = hv4;
            [[unroll]] for (uint c = 0; c < 4; ++c) s_h[i * HS + j + c] = float16_t(hv4[c]);
        }
        barrier();

        // W h
        [[unroll]] for (uint e = 0; e < TU; ++e) {
            const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
            ACC32 acc = ACC32(0.0);
            [[unroll]] for (uint kk = 0; kk < KB; ++kk) {
                CM_A a;
                CM_B b;
                CM_LOAD(a, s_x, rb * 16 * XS + kk * 16, XS, CM_ROWS);
                CM_LOAD(b, s_h, kk * 16 * HS + cb * 16, HS, CM_ROWS);
                acc = CM_MMA(a, b, acc);
            }
            CM_STORE(acc, s_wh, rb * 16 * FS + cb * 16, FS, CM_ROWS);
        }
        barrier();

        // U' = U - W h (KDA) or R = U + W h (DPLR) to memory and, as fp16, to the update's
        // operand; K̂ (KDA) or B̂ (DPLR) staged; h decayed
        [[unroll]] for (uint e = 0; e < NU; ++e) {
            const uint x = lid + e * WG, t = x / (BV / 4), j = (x % (BV / 4)) * 4;
            if (x < C * BV / 4) {
                vec4 up = vec4(0.0);
                if (t < n) {
                    const vec4 wh = vec4(s_wh[t * FS + j], s_wh[t * FS + j + 1],
                                         s_wh[t * FS + j + 2], s_wh[t * FS + j + 3]);
                    up = DPLR ? u_cur[e] + wh : u_cur[e] - wh;
                    u4[(((t0 + t) * pc.HV + hv) * V + c0 + j) / 4] = up;
                }
                [[unroll]] for (uint c = 0; c < 4; ++c) s_u[t * HS + j + c] = float16_t(up[c]);
            }
        }
        for (uint x = lid; x < K * BV; x += WG) {
            const uint i = x / BV, j = x % BV;
            s_hf[i * FS + j] *= s_wh[C * FS + i];
        }
        PUT_F16(s_x, 0, x2r, C, K, XS)
        barrier();
        if (chunk + 1 < last)
            PREFETCH_X2()

        // h = exp(G_C) ⊙ h + X2^T (U' or R)
        [[unroll]] for (uint e = 0; e < TH; ++e) {
            const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
            CM_LOAD(hb[e], s_hf, rb * 16 * FS + cb * 16, FS, CM_ROWS);
            [[unroll]] for (uint kk = 0; kk < CB; ++kk) {
                CM_A a;
                CM_B b;
                CM_LOAD(a, s_x, kk * 16 * XS + rb * 16, XS, CM_COLS); // X2^T
                CM_LOAD(b, s_u, kk * 16 * HS + cb * 16, HS, CM_ROWS);
                hb[e] = CM_MMA(a, b, hb[e]);
            }
        }
        barrier();
        if (DPLR) { // h += K̂^T V
            PUT_F16(s_x, 0, x3r, C, K, XS)
            barrier();
            if (chunk + 1 < last)
                PREFETCH_X3()
            [[unroll]] for (uint e = 0; e < TH; ++e) {
                const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
                [[unroll]] for (uint kk = 0; kk < CB; ++kk) {
                    CM_A a;
                    CM_B b;
                    CM_LOAD(a, s_x, kk * 16 * XS + rb * 16, XS, CM_COLS); // K̂^T
                    CM_LOAD(b, s_v, kk * 16 * HS + cb * 16, HS, CM_ROWS);
                    hb[e] = CM_MMA(a, b, hb[e]);
                }
            }
            barrier();
        }
    }

    if (STORE_HT) {
        [[unroll]] for (uint e = 0; e < TH; ++e) {
            const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
            CM_STORE(hb[e], ht, state_base + rb * 16 * V + c0 + cb * 16, V, CM_ROWS);
        }
    }
}
