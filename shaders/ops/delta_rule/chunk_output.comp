#version 450
// Chunked delta rule, stage 3 of 3: the output, in parallel over chunks. One workgroup per
// (chunk, value head, value tile of BV columns):
//   P = tril(Q K^T) ⊙ exp(G_t - G_j)          (t >= j, so exponents are <= 0)
//   O = scale (exp(G) ⊙ (Q h) + P U')
// with h the state at the chunk's start (chunk_state) and U' the corrected values.
// See chunk_common.glsl for the whole algorithm.
//
// Preconditions (src/ops/delta_rule/delta_rule.c): BV in {16, 32, 64}; KT a multiple of 16;
// WG a multiple of 16 with C % (WG/16) == 0.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "chunk_output.h"

layout(constant_id = DELTA_RULE_CHUNK_OUTPUT_SPEC_C) const uint C = 64;
layout(constant_id = DELTA_RULE_CHUNK_OUTPUT_SPEC_K) const uint K = 128;
layout(constant_id = DELTA_RULE_CHUNK_OUTPUT_SPEC_V) const uint V = 128;
layout(constant_id = DELTA_RULE_CHUNK_OUTPUT_SPEC_BV) const uint BV = 64;
layout(constant_id = DELTA_RULE_CHUNK_OUTPUT_SPEC_KT) const uint KT = 32;
layout(constant_id = DELTA_RULE_CHUNK_OUTPUT_SPEC_USE_G) const bool USE_G = false;
layout(constant_id = DELTA_RULE_CHUNK_OUTPUT_SPEC_WG) const uint WG = 256;
layout(constant_id = DELTA_RULE_CHUNK_OUTPUT_SPEC_GN) const uint GN = 16;
layout(local_size_x_id = DELTA_RULE_CHUNK_OUTPUT_SPEC_WG) in;

#include "io.glsl"
#include "chunk_common.glsl"

layout(std430, binding = DELTA_RULE_CHUNK_OUTPUT_BIND_Q) readonly buffer Q { IO_T q[]; };
layout(std430, binding = DELTA_RULE_CHUNK_OUTPUT_BIND_K) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = DELTA_RULE_CHUNK_OUTPUT_BIND_U) readonly buffer Ub { IO_T u[]; };
layout(std430, binding = DELTA_RULE_CHUNK_OUTPUT_BIND_G_CUM) readonly buffer Gc { float g_cum[]; };
layout(std430, binding = DELTA_RULE_CHUNK_OUTPUT_BIND_H_CHUNKS)
    readonly buffer Hc { IO_T h_chunks[]; };
layout(std430, binding = DELTA_RULE_CHUNK_OUTPUT_BIND_O) writeonly buffer O { IO_T o[]; };
layout(std430, binding = DELTA_RULE_CHUNK_OUTPUT_BIND_TABLE)
    readonly buffer Table { int chunk_table[]; };

const uint XS = KT + 1, PS = C + 1;
// During the K loop: [Q slice | K slice | h slice]; afterwards: [P | U'].
const uint LOOP_SIZE = 2 * C * XS + KT * BV;
const uint TAIL_SIZE = C * PS + C * BV;
const uint G_OFF = LOOP_SIZE > TAIL_SIZE ? LOOP_SIZE : TAIL_SIZE; // spec-constant max()
shared float smem[G_OFF + C];

#define Q_AT(t, i) smem[(t) * XS + (i)]
#define K_AT(t, i) smem[C * XS + (t) * XS + (i)]
#define HS_AT(i, c) smem[2 * C * XS + (i) * BV + (c)]
#define P_AT(t, j) smem[(t) * PS + (j)]
#define U_AT(t, c) smem[C * PS + (t) * BV + (c)]

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint tr = lid / GN, tc = lid % GN;
    const uint chunk = gl_WorkGroupID.x, hv = gl_WorkGroupID.y, vt = gl_WorkGroupID.z;
    const uint h = hv / (pc.HV / pc.H);
    const uint c0 = vt * BV;
    const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);
    const uint hc_base = (chunk * pc.HV + hv) * K * V;

    for (uint t = lid; t < C; t += WG)
        smem[G_OFF + t] = (USE_G && t < n) ? g_cum[(t0 + t) * pc.HV + hv] : 0.0;

    const uint TM = C / GM, TNP = C / GN, TN = BV / GN;
    float acc_p[TM * TNP];
    float acc_o[TM * TN];
    [[unroll]] for (uint e = 0; e < TM * TNP; ++e) acc_p[e] = 0.0;
    [[unroll]] for (uint e = 0; e < TM * TN; ++e) acc_o[e] = 0.0;
    for (uint k0 = 0; k0 < K; k0 += KT) {
        for (uint idx = lid; idx < C * KT; idx += WG) {
            const uint t = idx / KT, i = idx % KT;
            const bool ok = t < n && k0 + i < K;
            const uint a = ((t0 + t) * pc.H + h) * K + k0 + i;
            Q_AT(t, i) = ok ? float(q[a]) : 0.0;
            K_AT(t, i) = ok ? float(k[a]) : 0.0;
        }
        for (uint idx = lid; idx < KT * BV; idx += WG) {
            const uint i = idx / BV, c = idx % BV;
            HS_AT(i, c) = (k0 + i < K && c0 + c < V) ? float(h_chunks[hc_base + (k0 + i) * V + c0 + c]) : 0.0;
        }
        barrier();
#define QA(row, kk) Q_AT(row, kk)
#define KB(col, kk) K_AT(col, kk)
#define HB(col, kk) HS_AT(kk, col)
        BLOCK_MMA(acc_p, TM, TNP, KT, QA, KB)
        BLOCK_MMA(acc_o, TM, TN, KT, QA, HB)
#undef QA
#undef KB
#undef HB
        barrier();
    }

    // P (masked, decayed) and U' into shared memory; Q h scaled by exp(G)
    [[unroll]] for (uint x = 0; x < TM; ++x) {
        const uint t = tr + GM * x;
        const float gt = smem[G_OFF + t];
        [[unroll]] for (uint y = 0; y < TNP; ++y) {
            const uint j = tc + GN * y;
            float p = 0.0;
            if (j <= t) {
                p = acc_p[x * TNP + y];
                if (USE_G)
                    p *= exp(gt - smem[G_OFF + j]);
            }
            P_AT(t, j) = p;
        }
        if (USE_G) {
            const float gamma = exp(gt);
            [[unroll]] for (uint y = 0; y < TN; ++y) acc_o[x * TN + y] *= gamma;
        }
    }
    for (uint idx = lid; idx < C * BV; idx += WG) {
        const uint t = idx / BV, c = idx % BV;
        U_AT(t, c) = (t < n && c0 + c < V) ? float(u[((t0 + t) * pc.HV + hv) * V + c0 + c]) : 0.0;
    }
    barrier();

#define PA(row, kk) P_AT(row, kk)
#define UB(col, kk) U_AT(kk, col)
    BLOCK_MMA(acc_o, TM, TN, C, PA, UB)
#undef PA
#undef UB

    [[unroll]] for (uint x = 0; x < TM; ++x) {
        const uint t = tr + GM * x;
        [[unroll]] for (uint y = 0; y < TN; ++y) {
            const uint c = c0 + tc + GN * y;
            if (t < n && c < V)
                o[((t0 + t) * pc.HV + hv) * V + c] = IO_T(pc.scale * acc_o[x * TN + y]);
        }
    }
}
