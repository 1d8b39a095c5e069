#version 450
// Chunked generalized delta rule read along the key axis (o_t = S_t (scale q_t), q_t with V
// entries, o_t with K: the Memodo head), stage 3 of 3. With h the state at the chunk's start,
// R the low-rank reads (chunk_state.comp) and G the per-channel cumulative decay, row i and key
// channel c of the chunk's output are
//
//   o_i[c] = scale (exp(G_i[c]) (h q_i)[c]
//                   + sum over j <= i of exp(G_i[c] - G_j[c]) (b_j[c] (R_j . q_i) + k_j[c] (v_j . q_i)))
//
// (S_i = Diag(exp(G_i)) h + sum over j <= i of Diag(exp(G_i - G_j)) (b_j R_j^T + k_j v_j^T)).
// The decay depends on the output channel here, so the sum over j runs elementwise with its
// exact exponent (never positive). One workgroup per (chunk, head, tile of BK key channels):
// first the products over V (R q, v q and h q) slice by slice, then the decayed sums.
//
// Preconditions (src/ops/dplr/chunk.c): BK a multiple of GN; C % GM == 0, GM = WG / GN.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "chunk_output_key.h"

layout(constant_id = DPLR_CHUNK_OUTPUT_KEY_SPEC_C) const uint C = 64;
layout(constant_id = DPLR_CHUNK_OUTPUT_KEY_SPEC_K) const uint K = 128;
layout(constant_id = DPLR_CHUNK_OUTPUT_KEY_SPEC_V) const uint V = 128;
layout(constant_id = DPLR_CHUNK_OUTPUT_KEY_SPEC_BK) const uint BK = 16;
layout(constant_id = DPLR_CHUNK_OUTPUT_KEY_SPEC_VT) const uint VT = 16;
layout(constant_id = DPLR_CHUNK_OUTPUT_KEY_SPEC_WG) const uint WG = 256;
layout(constant_id = DPLR_CHUNK_OUTPUT_KEY_SPEC_GN) const uint GN = 16;
layout(local_size_x_id = DPLR_CHUNK_OUTPUT_KEY_SPEC_WG) in;

#include "io.glsl"
#include "block_mma.glsl"

layout(std430, binding = DPLR_CHUNK_OUTPUT_KEY_BIND_Q) readonly buffer Q { IO_T q[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_KEY_BIND_K) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_KEY_BIND_B) readonly buffer Bb { IO_T b_in[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_KEY_BIND_V) readonly buffer Vb { IO_T v[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_KEY_BIND_U) readonly buffer Ub { float u[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_KEY_BIND_G_CUM) readonly buffer Gc { float g_cum[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_KEY_BIND_H_CHUNKS)
    readonly buffer Hc { float h_chunks[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_KEY_BIND_O) writeonly buffer O { IO_T o[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_KEY_BIND_TABLE)
    readonly buffer Table { int chunk_table[]; };

const uint XS = VT + 1, PS = C + 1, TS = BK + 1;
// V loop: q, R, v slices [C x VT] and an h slice [BK x VT]; afterwards: R q and v q [C x C],
// and b, k, G for the tile's channels [C x BK].
const uint LOOP_SIZE = 3 * C * XS + BK * XS;
const uint TAIL_SIZE = 2 * C * PS + 3 * C * TS;
shared float smem[LOOP_SIZE > TAIL_SIZE ? LOOP_SIZE : TAIL_SIZE];

#define QS(t, c) smem[(t) * XS + (c)]
#define RS(t, c) smem[C * XS + (t) * XS + (c)]
#define VS(t, c) smem[2 * C * XS + (t) * XS + (c)]
#define HS(i, c) smem[3 * C * XS + (i) * XS + (c)]
#define AL(i, j) smem[(i) * PS + (j)]
#define NU(i, j) smem[C * PS + (i) * PS + (j)]
#define BT(t, c) smem[2 * C * PS + (t) * TS + (c)]
#define KT(t, c) smem[2 * C * PS + C * TS + (t) * TS + (c)]
#define GT(t, c) smem[2 * C * PS + 2 * C * TS + (t) * TS + (c)]

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint tr = lid / GN, tc = lid % GN;
    const uint chunk = gl_WorkGroupID.x, hv = gl_WorkGroupID.y, kt = gl_WorkGroupID.z;
    const uint h = hv / (pc.HV / pc.H);
    const uint k0 = kt * BK;
    const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);
    const uint hc_base = (chunk * pc.HV + hv) * K * V;

    const uint TM = C / GM, TNP = C / GN, TNK = BK / GN;
    float acc_al[TM * TNP], acc_nu[TM * TNP], acc_hq[TM * TNK];
    [[unroll]] for (uint e = 0; e < TM * TNP; ++e) {
        acc_al[e] = 0.0;
        acc_nu[e] = 0.0;
    }
    [[unroll]] for (uint e = 0; e < TM * TNK; ++e) acc_hq[e] = 0.0;
    for (uint v0 = 0; v0 < V; v0 += VT) {
        for (uint idx = lid; idx < C * VT; idx += WG) {
            const uint t = idx / VT, i = idx % VT;
            const bool ok = t < n && v0 + i < V;
            const uint e = ((t0 + t) * pc.HV + hv) * V + v0 + i;
            QS(t, i) = ok ? float(q[((t0 + t) * pc.H + h) * V + v0 + i]) : 0.0;
            RS(t, i) = ok ? u[e] : 0.0;
            VS(t, i) = ok ? float(v[e]) : 0.0;
        }
        for (uint idx = lid; idx < BK * VT; idx += WG) {
            const uint c = idx / VT, i = idx % VT;
            HS(c, i) = (k0 + c < K && v0 + i < V) ? h_chunks[hc_base + (k0 + c) * V + v0 + i] : 0.0;
        }
        barrier();
#define QA(row, kk) QS(row, kk)
#define RB(col, kk) RS(col, kk)
#define VB(col, kk) VS(col, kk)
#define HB(col, kk) HS(col, kk)
        BLOCK_MMA(acc_al, TM, TNP, VT, QA, RB)
        BLOCK_MMA(acc_nu, TM, TNP, VT, QA, VB)
        BLOCK_MMA(acc_hq, TM, TNK, VT, QA, HB)
#undef QA
#undef RB
#undef VB
#undef HB
        barrier();
    }

    [[unroll]] for (uint x = 0; x < TM; ++x) {
        const uint i = tr + GM * x;
        [[unroll]] for (uint y = 0; y < TNP; ++y) {
            const uint j = tc + GN * y;
            AL(i, j) = j <= i ? acc_al[x * TNP + y] : 0.0;
            NU(i, j) = j <= i ? acc_nu[x * TNP + y] : 0.0;
        }
    }
    for (uint idx = lid; idx < C * BK; idx += WG) {
        const uint t = idx / BK, c = idx % BK, ch = k0 + c;
        const bool ok = t < n && ch < K;
        const uint e = ((t0 + t) * pc.H + h) * K + ch;
        BT(t, c) = ok ? float(b_in[e]) : 0.0;
        KT(t, c) = ok ? float(k[e]) : 0.0;
        GT(t, c) = ch < K ? g_cum[((t0 + min(t, n - 1)) * pc.HV + hv) * K + ch] : 0.0;
    }
    barrier();

    [[unroll]] for (uint x = 0; x < TM; ++x) {
        const uint i = tr + GM * x;
        [[unroll]] for (uint y = 0; y < TNK; ++y) {
            const uint c = tc + GN * y;
            const float gi = GT(i, c);
            float acc = exp(gi) * acc_hq[x * TNK + y];
            for (uint j = 0; j <= i; ++j)
                acc += exp(gi - GT(j, c)) * (BT(j, c) * AL(i, j) + KT(j, c) * NU(i, j));
            if (i < n && k0 + c < K)
                o[((t0 + i) * pc.HV + hv) * K + k0 + c] = IO_T(pc.scale * acc);
        }
    }
}
