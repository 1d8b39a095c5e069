#version 450
// Chunked KDA and generalized delta rule, stage 2 of 3: the state, sequential over the chunks of
// a sequence. One workgroup per (value tile of BV columns, head, sequence) keeps h [K x BV] in
// shared memory, in fp32, and for each chunk in order, with G the per-channel cumulative decay
// and G_C its value at the chunk's last token:
//   writes h (the state at the chunk's start)                                -> h_chunks
//   KDA:  U' = U - W h                                 (overwrites U in place) -> u
//         h  = exp(G_C) ⊙ h + (exp(G_C - G) ⊙ K)^T U'
//   DPLR: R  = W h + U   (the low-rank reads a_t^T S_{t-1})  (overwrites U)   -> u
//         h  = exp(G_C) ⊙ h + (exp(G_C - G) ⊙ B)^T R + (exp(G_C - G) ⊙ K)^T V
// and finally writes h as the final state. A long sequence is split over several dispatches of
// at most c_count chunks, the state written by one and read by the next (the host binds them).
// See chunk_prepare.comp for W and U.
//
// Preconditions (src/ops/dplr/chunk.c): BV in {8, 16, 32} and a multiple of GN; KT a multiple
// of GN and of GM = WG/GN; C a multiple of GM.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "chunk_state.h"

layout(constant_id = DPLR_CHUNK_STATE_SPEC_C) const uint C = 64;
layout(constant_id = DPLR_CHUNK_STATE_SPEC_K) const uint K = 128;
layout(constant_id = DPLR_CHUNK_STATE_SPEC_V) const uint V = 128;
layout(constant_id = DPLR_CHUNK_STATE_SPEC_BV) const uint BV = 32; // state columns per workgroup
layout(constant_id = DPLR_CHUNK_STATE_SPEC_KT) const uint KT = 32; // rows of K staged at a time
layout(constant_id = DPLR_CHUNK_STATE_SPEC_DPLR) const bool DPLR = false;
layout(constant_id = DPLR_CHUNK_STATE_SPEC_USE_H0) const bool USE_H0 = false;
layout(constant_id = DPLR_CHUNK_STATE_SPEC_STORE_HT) const bool STORE_HT = false;
layout(constant_id = DPLR_CHUNK_STATE_SPEC_WG) const uint WG = 256;
layout(constant_id = DPLR_CHUNK_STATE_SPEC_GN) const uint GN = 16;
layout(constant_id = DPLR_CHUNK_STATE_SPEC_RWKV7) const bool RWKV7 = false;
layout(local_size_x_id = DPLR_CHUNK_STATE_SPEC_WG) in;

#include "io.glsl"
#include "block_mma.glsl"

layout(std430, binding = DPLR_CHUNK_STATE_BIND_K) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_A) readonly buffer Ab { IO_T a_in[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_B) readonly buffer Bb { IO_T b_in[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_V) readonly buffer Vb { IO_T v[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_W) readonly buffer Wb { float w[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_U) buffer Ub { float u[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_G_CUM) readonly buffer Gc { float g_cum[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_H0) readonly buffer H0 { float h0[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_HT) writeonly buffer HT { float ht[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_H_CHUNKS) writeonly buffer Hc { float h_chunks[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_TABLE) readonly buffer Table { int chunk_table[]; };
layout(std430, binding = DPLR_CHUNK_STATE_BIND_SEQ) readonly buffer Seq { int seq_chunks[]; };

const uint KP = (K + KT - 1) / KT * KT; // rows of h, padded with zeros to whole slices
const uint XS = KT + 1;
const uint NX = DPLR ? 2 : 1;           // staged slices: K̂ [and B̂]; tiles: U' [and V]
const uint H_OFF = 0, X_OFF = KP * BV, U_OFF = X_OFF + NX * C * XS;
shared float smem[U_OFF + NX * C * BV];

#define H_AT(i, c) smem[H_OFF + (i) * BV + (c)]
#define X_AT(s, t, i) smem[X_OFF + (s) * C * XS + (t) * XS + (i)]
#define U_AT(s, t, c) smem[U_OFF + (s) * C * BV + (t) * BV + (c)]

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint tr = lid / GN, tc = lid % GN;
    const uint vt = gl_WorkGroupID.x, hv = gl_WorkGroupID.y, seq = gl_WorkGroupID.z;
    const uint h = hv / (pc.HV / pc.H);
    const uint c0 = vt * BV;
    const uint state_base = (seq * pc.HV + hv) * K * V;

    for (uint idx = lid; idx < KP * BV; idx += WG) {
        const uint i = idx / BV, c = idx % BV;
        H_AT(i, c) = (USE_H0 && i < K && c0 + c < V) ? h0[state_base + i * V + c0 + c] : 0.0;
    }
    barrier();

    const uint TM = C / GM, TN = BV / GN, TK = KT / GM;
    const uint seq_first = uint(seq_chunks[seq]), seq_last = uint(seq_chunks[seq + 1]);
    const uint first = min(seq_first + pc.c_begin, seq_last);
    const uint last = min(first + pc.c_count, seq_last);
    for (uint chunk = first; chunk < last; ++chunk) {
        const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);

        // the state at the chunk's start, for chunk_output
        const uint hc_base = (chunk * pc.HV + hv) * K * V;
        for (uint idx = lid; idx < K * BV; idx += WG) {
            const uint i = idx / BV, c = idx % BV;
            if (c0 + c < V)
                h_chunks[hc_base + i * V + c0 + c] = H_AT(i, c);
        }

        // KDA: U' = U - W h;  DPLR: R = U + W h
        float acc[TM * TN];
        [[unroll]] for (uint e = 0; e < TM * TN; ++e) acc[e] = 0.0;
        for (uint k0 = 0; k0 < K; k0 += KT) {
            for (uint idx = lid; idx < C * KT; idx += WG) {
                const uint t = idx / KT, i = idx % KT;
                X_AT(0, t, i) = (t < n && k0 + i < K) ? w[((t0 + t) * pc.HV + hv) * K + k0 + i] : 0.0;
            }
            barrier();
#define WA(row, kk) X_AT(0, row, kk)
#define HB(col, kk) H_AT(k0 + (kk), col)
            BLOCK_MMA(acc, TM, TN, KT, WA, HB)
#undef WA
#undef HB
            barrier();
        }
        [[unroll]] for (uint x = 0; x < TM; ++x) {
            const uint t = tr + GM * x;
            [[unroll]] for (uint y = 0; y < TN; ++y) {
                const uint c = tc + GN * y;
                float r = 0.0, vv = 0.0;
                if (t < n && c0 + c < V) {
                    const uint e = ((t0 + t) * pc.HV + hv) * V + c0 + c;
                    r = u[e] + (DPLR ? acc[x * TN + y] : -acc[x * TN + y]);
                    u[e] = r;
                    if (DPLR)
                        vv = float(v[e]);
                }
                U_AT(0, t, c) = r;
                if (DPLR)
                    U_AT(1, t, c) = vv;
            }
        }
        barrier();

        // h = exp(G_C) ⊙ h + K̂^T U' (KDA) or B̂^T R + K̂^T V (DPLR), slice of rows by slice
        const uint last_g = ((t0 + n - 1) * pc.HV + hv) * K;
        for (uint k0 = 0; k0 < K; k0 += KT) {
            for (uint idx = lid; idx < C * KT; idx += WG) {
                const uint t = idx / KT, i = idx % KT, ch = k0 + i;
                float xk = 0.0, xb = 0.0;
                if (t < n && ch < K) {
                    const float d = exp(g_cum[last_g + ch] - g_cum[((t0 + t) * pc.HV + hv) * K + ch]);
                    const uint e = ((t0 + t) * pc.H + h) * K + ch;
                    xk = d * float(k[e]);
                    if (DPLR)
                        xb = d * (RWKV7 ? float(a_in[e]) * float(b_in[e]) : float(b_in[e]));
                }
                X_AT(0, t, i) = DPLR ? xb : xk;
                if (DPLR)
                    X_AT(1, t, i) = xk;
            }
            barrier();
            float acc2[TK * TN];
            [[unroll]] for (uint e = 0; e < TK * TN; ++e) acc2[e] = 0.0;
            [[unroll]] for (uint s = 0; s < NX; ++s) {
#define XA(row, kk) X_AT(s, kk, row)
#define UB(col, kk) U_AT(s, kk, col)
                BLOCK_MMA(acc2, TK, TN, C, XA, UB)
#undef XA
#undef UB
            }
            [[unroll]] for (uint x = 0; x < TK; ++x) {
                const uint i = k0 + tr + GM * x;
                const float decay = i < K ? exp(g_cum[last_g + i]) : 0.0;
                [[unroll]] for (uint y = 0; y < TN; ++y) {
                    const uint c = tc + GN * y;
                    H_AT(i, c) = decay * H_AT(i, c) + acc2[x * TN + y];
                }
            }
            barrier();
        }
    }

    if (STORE_HT) {
        for (uint idx = lid; idx < K * BV; idx += WG) {
            const uint i = idx / BV, c = idx % BV;
            if (c0 + c < V)
                ht[state_base + i * V + c0 + c] = H_AT(i, c);
        }
    }
}
