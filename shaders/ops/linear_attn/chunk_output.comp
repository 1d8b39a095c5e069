#version 450
// Chunked linear attention, stage 2 of 2: the outputs, in parallel over chunks. One workgroup
// per (chunk, head, value tile of BV columns). With S0, z0 the state at the chunk's start
// (chunk_state.comp), Q' = scale φ(Q), K' = φ(K), and for each token t of the chunk rho_t its
// episode's first token inside the chunk (the last j <= t with done != 0), or none:
//   keep_t = (rho_t is none)                  (the state before the chunk belongs to t's episode)
//   P[t][j] = q'_t·k'_j  for rho_t <= j <= t, 0 otherwise
//   o_t = (keep_t S0^T q'_t + Σ_j P[t][j] v_j) / max(keep_t q'_t·z0 + Σ_j P[t][j], eps)
// (EPS_ADD: denominator + eps; without NORMALIZE no denominator). The products Q'K'^T and
// Q'S0 are accumulated over slices of KT key channels staged in shared memory, on a GM x GN
// grid of invocations (block_mma.glsl); then P goes through shared memory for P V.
//
// Preconditions (src/ops/linear_attn/linear_attn.c): GN divides C and BV; GM = WG / GN divides
// C; WG >= C; 1 <= K, V <= 256.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "chunk_output.h"

layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_SPEC_C) const uint C = 64;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_SPEC_K) const uint K = 128;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_SPEC_V) const uint V = 128;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_SPEC_BV) const uint BV = 64;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_SPEC_KT) const uint KT = 32;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_SPEC_WG) const uint WG = 256;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_SPEC_GN) const uint GN = 16;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_SPEC_ELU1) const bool ELU1 = false;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_SPEC_NORMALIZE) const bool NORMALIZE = true;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_SPEC_EPS_ADD) const bool EPS_ADD = false;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_SPEC_USE_DONE) const bool USE_DONE = false;
layout(local_size_x_id = LINEAR_ATTN_CHUNK_OUTPUT_SPEC_WG) in;

#include "io.glsl"
#include "block_mma.glsl"
#include "feature.glsl"

layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_Q) readonly buffer Q { IO_T q[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_K) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_V) readonly buffer Vb { IO_T v[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_DONE) readonly buffer Done { IO_T done[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_H_CHUNKS)
    readonly buffer Hc { float h_chunks[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_Z_CHUNKS)
    readonly buffer Zc { float z_chunks[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_O) writeonly buffer O { IO_T o[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_TABLE)
    readonly buffer Table { int chunk_table[]; };

const uint XS = KT + 1, PS = C + 1;
const uint TM = C / GM, TNP = C / GN, TNO = BV / GN;
// loop over key slices: Q' and K' slices [C x KT], S0 slice [KT x BV], z0 slice [KT]
const uint Q_OFF = 0, K_OFF = C * XS, S_OFF = 2 * C * XS, Z_OFF = S_OFF + KT * BV;
const uint LOOP_FLOATS = Z_OFF + KT;
// then P [C x C] and V [C x BV]
const uint P_OFF = 0, V_OFF = C * PS;
const uint TAIL_FLOATS = V_OFF + C * BV;
shared float smem[LOOP_FLOATS > TAIL_FLOATS ? LOOP_FLOATS : TAIL_FLOATS];
shared int s_rho[C];
shared float s_den[C];
// the denominator's parts, summed by one invocation per row at the end: q'·z0 over NQ slices
// of each key slice, and the row sums of P over the GN columns of the grid
const uint NQ = WG / C;
shared float s_qz[NQ * C];
shared float s_psum[C * GN];

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint tr = lid / GN, tc = lid % GN;
    const uint chunk = gl_WorkGroupID.x, h = gl_WorkGroupID.y, vt = gl_WorkGroupID.z;
    const uint c0 = vt * BV;
    const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);
    const uint hc_base = (chunk * pc.H + h) * K * V, zc_base = (chunk * pc.H + h) * K;

    if (lid < C) {
        int rho = -1;
        if (USE_DONE && lid < n) {
            for (int j = int(lid); j >= 0; --j) {
                if (float(done[t0 + uint(j)]) != 0.0) {
                    rho = j;
                    break;
                }
            }
        }
        s_rho[lid] = rho;
    }

    float accp[TM * TNP], acco[TM * TNO];
    [[unroll]] for (uint e = 0; e < TM * TNP; ++e) accp[e] = 0.0;
    [[unroll]] for (uint e = 0; e < TM * TNO; ++e) acco[e] = 0.0;
    float qz = 0.0;

    for (uint k0 = 0; k0 < K; k0 += KT) {
        barrier(); // the previous slice has been read
        for (uint idx = lid; idx < C * KT; idx += WG) {
            const uint t = idx / KT, i = idx % KT;
            float qv = 0.0, kv = 0.0;
            if (t < n && k0 + i < K) {
                const uint a = ((t0 + t) * pc.H + h) * K + k0 + i;
                qv = pc.scale * feature(float(q[a]));
                kv = feature(float(k[a]));
            }
            smem[Q_OFF + t * XS + i] = qv;
            smem[K_OFF + t * XS + i] = kv;
        }
        for (uint idx = lid; idx < KT * BV; idx += WG) {
            const uint i = idx / BV, c = idx % BV;
            smem[S_OFF + idx] = (k0 + i < K && c0 + c < V) ? h_chunks[hc_base + (k0 + i) * V + c0 + c]
                                                           : 0.0;
        }
        for (uint i = lid; i < KT; i += WG)
            smem[Z_OFF + i] = k0 + i < K ? z_chunks[zc_base + k0 + i] : 0.0;
        barrier();
#define QA(row, kk) smem[Q_OFF + (row) * XS + (kk)]
#define KB(col, kk) smem[K_OFF + (col) * XS + (kk)]
#define SB(col, kk) smem[S_OFF + (kk) * BV + (col)]
        BLOCK_MMA(accp, TM, TNP, KT, QA, KB)
        BLOCK_MMA(acco, TM, TNO, KT, QA, SB)
#undef KB
#undef SB
        if (NORMALIZE && KT % NQ == 0) { // every invocation: row lid % C, a part of the slice
            const uint t = lid % C, part = lid / C, w = KT / NQ;
            for (uint i = part * w; i < part * w + w; ++i)
                qz += QA(t, i) * smem[Z_OFF + i];
        } else if (NORMALIZE && lid < C) {
            for (uint i = 0; i < KT; ++i)
                qz += QA(lid, i) * smem[Z_OFF + i];
        }
#undef QA
    }
    barrier(); // the loop's tiles are dead: P and V take their place

    // mask P to each token's episode and the causal past; drop S0 where the episode began here
    if (NORMALIZE)
        s_qz[lid % C + C * (lid / C)] = (KT % NQ == 0 || lid < C) ? qz : 0.0;
    [[unroll]] for (uint x = 0; x < TM; ++x) {
        const uint t = tr + GM * x;
        const int rho = s_rho[t];
        float psum = 0.0;
        [[unroll]] for (uint y = 0; y < TNP; ++y) {
            const uint j = tc + GN * y;
            const bool in_episode = j <= t && j < n && int(j) >= rho;
            const float p = in_episode ? accp[x * TNP + y] : 0.0;
            smem[P_OFF + t * PS + j] = p;
            psum += p;
        }
        if (NORMALIZE)
            s_psum[t * GN + tc] = psum;
        if (rho >= 0) {
            [[unroll]] for (uint y = 0; y < TNO; ++y) acco[x * TNO + y] = 0.0;
        }
    }
    for (uint idx = lid; idx < C * BV; idx += WG) {
        const uint t = idx / BV, c = idx % BV;
        smem[V_OFF + idx] = (t < n && c0 + c < V) ? float(v[((t0 + t) * pc.H + h) * V + c0 + c])
                                                  : 0.0;
    }
    barrier();
    if (NORMALIZE && lid < C) {
        float qz0 = 0.0, den = 0.0;
        for (uint part = 0; part < NQ; ++part)
            qz0 += s_qz[lid + C * part];
        for (uint c = 0; c < GN; ++c)
            den += s_psum[lid * GN + c];
        s_den[lid] = denominator(den + (s_rho[lid] < 0 ? qz0 : 0.0), pc.eps);
    }
#define PA(row, kk) smem[P_OFF + (row) * PS + (kk)]
#define VB(col, kk) smem[V_OFF + (kk) * BV + (col)]
    BLOCK_MMA(acco, TM, TNO, C, PA, VB)
#undef PA
#undef VB
    barrier(); // s_den
    [[unroll]] for (uint x = 0; x < TM; ++x) {
        const uint t = tr + GM * x;
        if (t >= n)
            continue;
        const float inv = NORMALIZE ? 1.0 / s_den[t] : 1.0;
        [[unroll]] for (uint y = 0; y < TNO; ++y) {
            const uint c = c0 + tc + GN * y;
            if (c < V)
                o[((t0 + t) * pc.H + h) * V + c] = IO_T(acco[x * TNO + y] * inv);
        }
    }
}
