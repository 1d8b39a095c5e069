#version 450
// Chunked linear attention, stage 1 of 2: the state through each sequence's chunks, in order.
// One workgroup per (value tile of BV columns, head, sequence) holds the tile S [K x BV] in
// registers (a GM x GN grid of invocations, each an (KP/GM) x (BV/GN) block; see
// block_mma.glsl), and the workgroups of tile 0 also hold the normaliser z [K]. For each chunk:
//   writes S and z as they are at the chunk's start            -> h_chunks, z_chunks
//   rho = the chunk's last token with done != 0 (if any): S = z = 0 and the tokens before rho
//         are skipped (their episode has ended)
//   S += φ(K)^T V,  z += Σ φ(k)  over the chunk's remaining tokens, staged TB at a time
// and finally writes S and z as the final state. A long sequence is split over several
// dispatches of at most c_count chunks, the state carried through memory (the host binds it).
// chunk_output.comp reads the per-chunk states.
//
// Preconditions (src/ops/linear_attn/linear_attn.c): GN divides BV; GM = WG / GN; KP = K
// rounded up to a multiple of GM; 1 <= K, V <= 256.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint C = 64;
layout(constant_id = 1) const uint K = 128;
layout(constant_id = 2) const uint V = 128;
layout(constant_id = 3) const uint BV = 64;
layout(constant_id = 4) const uint TB = 16;
layout(constant_id = 5) const uint WG = 256;
layout(constant_id = 6) const uint GN = 16;
layout(constant_id = 7) const bool ELU1 = false;
layout(constant_id = 8) const bool USE_DONE = false;
layout(constant_id = 9) const bool USE_H0 = false;
layout(constant_id = 10) const bool USE_Z0 = false;
layout(constant_id = 11) const bool STORE_HT = false;
layout(constant_id = 12) const bool STORE_ZT = false;
layout(constant_id = 13) const bool STORE_CHUNKS = true;
layout(local_size_x_id = 5) in;

const bool NORMALIZE = true; // (feature.glsl's denominator is unused here)
const bool EPS_ADD = false;

#include "io.glsl"
#include "block_mma.glsl"
#include "feature.glsl"

layout(push_constant) uniform Push {
    uint H;
    uint c_begin; // this dispatch runs chunks [c_begin, c_begin + c_count) of each sequence
    uint c_count;
} pc;

layout(std430, binding = 0) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = 1) readonly buffer Vb { IO_T v[]; };
layout(std430, binding = 2) readonly buffer Done { IO_T done[]; };
layout(std430, binding = 3) readonly buffer H0 { float h0[]; };
layout(std430, binding = 4) readonly buffer Z0 { float z0[]; };
layout(std430, binding = 5) writeonly buffer HT { float ht[]; };
layout(std430, binding = 6) writeonly buffer ZT { float zt[]; };
layout(std430, binding = 7) writeonly buffer Hc { float h_chunks[]; };
layout(std430, binding = 8) writeonly buffer Zc { float z_chunks[]; };
layout(std430, binding = 9) readonly buffer Table { int chunk_table[]; };
layout(std430, binding = 10) readonly buffer Seq { int seq_chunks[]; };

const uint KP = (K + GM - 1) / GM * GM;
const uint TM = KP / GM, TN = BV / GN;
const uint ZR = (KP + WG - 1) / WG; // normaliser rows per invocation
shared float s_k[TB * KP];
shared float s_v[TB * BV];
shared int s_rho;

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint tr = lid / GN, tc = lid % GN;
    const uint vt = gl_WorkGroupID.x, h = gl_WorkGroupID.y, seq = gl_WorkGroupID.z;
    const uint c0 = vt * BV;
    const bool with_z = vt == 0;
    const uint state_base = (seq * pc.H + h) * K * V, z_base = (seq * pc.H + h) * K;

    float acc[TM * TN];
    [[unroll]] for (uint x = 0; x < TM; ++x) {
        const uint i = tr + GM * x;
        [[unroll]] for (uint y = 0; y < TN; ++y) {
            const uint c = c0 + tc + GN * y;
            acc[x * TN + y] = (USE_H0 && i < K && c < V) ? h0[state_base + i * V + c] : 0.0;
        }
    }
    float z[ZR];
    [[unroll]] for (uint m = 0; m < ZR; ++m) {
        const uint i = lid + WG * m;
        z[m] = (USE_Z0 && with_z && i < K) ? z0[z_base + i] : 0.0;
    }

    const uint seq_first = uint(seq_chunks[seq]), seq_last = uint(seq_chunks[seq + 1]);
    const uint first = min(seq_first + pc.c_begin, seq_last);
    const uint last = min(first + pc.c_count, seq_last);
    for (uint chunk = first; chunk < last; ++chunk) {
        const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);

        if (STORE_CHUNKS) {
            const uint hc_base = (chunk * pc.H + h) * K * V;
            [[unroll]] for (uint x = 0; x < TM; ++x) {
                const uint i = tr + GM * x;
                [[unroll]] for (uint y = 0; y < TN; ++y) {
                    const uint c = c0 + tc + GN * y;
                    if (i < K && c < V)
                        h_chunks[hc_base + i * V + c] = acc[x * TN + y];
                }
            }
            [[unroll]] for (uint m = 0; m < ZR; ++m) {
                const uint i = lid + WG * m;
                if (with_z && i < K)
                    z_chunks[(chunk * pc.H + h) * K + i] = z[m];
            }
        }

        uint start = 0;
        if (USE_DONE) {
            if (lid == 0) {
                int rho = -1;
                for (uint t = 0; t < n; ++t)
                    if (float(done[t0 + t]) != 0.0)
                        rho = int(t);
                s_rho = rho;
            }
            barrier();
            const int rho = s_rho;
            if (rho >= 0) { // a new episode starts inside this chunk
                start = uint(rho);
                [[unroll]] for (uint e = 0; e < TM * TN; ++e) acc[e] = 0.0;
                [[unroll]] for (uint m = 0; m < ZR; ++m) z[m] = 0.0;
            }
        }

        for (uint j0 = start; j0 < n; j0 += TB) {
            const uint nt = min(TB, n - j0);
            barrier(); // the previous step's tiles have been read
            for (uint idx = lid; idx < TB * KP; idx += WG) {
                const uint j = idx / KP, i = idx % KP;
                s_k[idx] = (j < nt && i < K) ? feature(float(k[((t0 + j0 + j) * pc.H + h) * K + i]))
                                             : 0.0;
            }
            for (uint idx = lid; idx < TB * BV; idx += WG) {
                const uint j = idx / BV, c = c0 + idx % BV;
                s_v[idx] = (j < nt && c < V) ? float(v[((t0 + j0 + j) * pc.H + h) * V + c]) : 0.0;
            }
            barrier();
#define KA(row, kk) s_k[(kk) * KP + (row)]
#define VB(col, kk) s_v[(kk) * BV + (col)]
            BLOCK_MMA(acc, TM, TN, TB, KA, VB)
#undef KA
#undef VB
            if (with_z) {
                [[unroll]] for (uint m = 0; m < ZR; ++m) {
                    const uint i = lid + WG * m;
                    if (i < KP)
                        for (uint j = 0; j < TB; ++j)
                            z[m] += s_k[j * KP + i];
                }
            }
        }
        barrier(); // s_rho and the tiles are reused by the next chunk
    }

    [[unroll]] for (uint x = 0; x < TM; ++x) {
        const uint i = tr + GM * x;
        [[unroll]] for (uint y = 0; y < TN; ++y) {
            const uint c = c0 + tc + GN * y;
            if (STORE_HT && i < K && c < V)
                ht[state_base + i * V + c] = acc[x * TN + y];
        }
    }
    [[unroll]] for (uint m = 0; m < ZR; ++m) {
        const uint i = lid + WG * m;
        if (STORE_ZT && with_z && i < K)
            zt[z_base + i] = z[m];
    }
}
