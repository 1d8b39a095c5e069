#version 450
// Chunked KDA and generalized delta rule, stage 3 of 3: the output, in parallel over chunks.
// One workgroup per (chunk, head, value tile of BV columns), with h the state at the chunk's
// start (chunk_state.comp), G the per-channel cumulative decay and Gram_<= the inclusive
// decayed Gram matrix of decay_gram.glsl:
//   KDA:  O = scale ((exp(G) ⊙ Q) h + Gram_<=(q, k; G) U')
//   DPLR: O = scale ((exp(G) ⊙ Q) h + Gram_<=(q, b; G) R + Gram_<=(q, k; G) V)
// with U' (KDA) or R (DPLR, the low-rank reads) as chunk_state.comp left them in u.
//
// Preconditions (src/ops/dplr/chunk.c): BV a multiple of 16 = GN; C % GM == 0 with
// GM = WG / GN.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "chunk_output.h"

layout(constant_id = DPLR_CHUNK_OUTPUT_SPEC_C) const uint C = 64;
layout(constant_id = DPLR_CHUNK_OUTPUT_SPEC_K) const uint K = 128;
layout(constant_id = DPLR_CHUNK_OUTPUT_SPEC_V) const uint V = 128;
layout(constant_id = DPLR_CHUNK_OUTPUT_SPEC_BV) const uint BV = 64;
layout(constant_id = DPLR_CHUNK_OUTPUT_SPEC_KT) const uint KT = 16;
layout(constant_id = DPLR_CHUNK_OUTPUT_SPEC_DPLR) const bool DPLR = false;
layout(constant_id = DPLR_CHUNK_OUTPUT_SPEC_WG) const uint WG = 256;
layout(constant_id = DPLR_CHUNK_OUTPUT_SPEC_GN) const uint GN = 16;
layout(constant_id = DPLR_CHUNK_OUTPUT_SPEC_RWKV7) const bool RWKV7 = false;
layout(local_size_x_id = DPLR_CHUNK_OUTPUT_SPEC_WG) in;

#include "io.glsl"
#include "block_mma.glsl"

layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_Q) readonly buffer Q { IO_T q[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_K) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_A) readonly buffer Ab { IO_T a_in[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_B) readonly buffer Bb { IO_T b_in[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_V) readonly buffer Vb { IO_T v[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_U) readonly buffer Ub { float u[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_G_CUM) readonly buffer Gc { float g_cum[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_H_CHUNKS) readonly buffer Hc { float h_chunks[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_O) writeonly buffer O { IO_T o[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_TABLE) readonly buffer Table { int chunk_table[]; };

const uint XS = KT + 1, CS = C * XS, PS = C + 1;
const uint NB_ = C / 16;
// During the K loop: raw q, k, [b,] G, exp(G) ⊙ q, scaled columns of k [and b], scaled row
// copies of q, and a slice of h. Afterwards: one Gram matrix and one tile of V columns at a
// time.
const uint QR_OFF = 0, KR_OFF = CS, GA_OFF = 2 * CS, QG_OFF = 3 * CS, KT_OFF = 4 * CS;
const uint BR_OFF = 5 * CS, BT_OFF = 6 * CS;
const uint QT_OFF = (DPLR ? 7 : 5) * CS;
const uint HS_OFF = QT_OFF + (NB_ - 1) * CS;
const uint LOOP_SIZE = HS_OFF + KT * BV;
const uint TAIL_SIZE = C * PS + C * BV;
shared float smem[LOOP_SIZE > TAIL_SIZE ? LOOP_SIZE : TAIL_SIZE];

#define QR(t, c) smem[QR_OFF + (t) * XS + (c)]
#define KR(t, c) smem[KR_OFF + (t) * XS + (c)]
#define GA(t, c) smem[GA_OFF + (t) * XS + (c)]
#define QG(t, c) smem[QG_OFF + (t) * XS + (c)]
#define KTS(t, c) smem[KT_OFF + (t) * XS + (c)]
#define BR(t, c) smem[BR_OFF + (t) * XS + (c)]
#define BTS(t, c) smem[BT_OFF + (t) * XS + (c)]
#define QT(qb, t, c) smem[QT_OFF + (qb) * CS + (t) * XS + (c)]
#define HS(i, c) smem[HS_OFF + (i) * BV + (c)]
#define P_AT(t, j) smem[(t) * PS + (j)]
#define X_AT(t, c) smem[C * PS + (t) * BV + (c)]
#define GID(t, c) GA(t, c)

#include "decay_gram.glsl"

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint tr = lid / GN, tc = lid % GN;
    const uint chunk = gl_WorkGroupID.x, hv = gl_WorkGroupID.y, vt = gl_WorkGroupID.z;
    const uint h = hv / (pc.HV / pc.H);
    const uint c0 = vt * BV;
    const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);
    const uint hc_base = (chunk * pc.HV + hv) * K * V;

    const uint TM = C / GM, TNP = C / GN, TN = BV / GN;
    float acc_k[TM * TNP], acc_b[TM * TNP], acc_o[TM * TN];
    [[unroll]] for (uint e = 0; e < TM * TNP; ++e) {
        acc_k[e] = 0.0;
        acc_b[e] = 0.0;
    }
    [[unroll]] for (uint e = 0; e < TM * TN; ++e) acc_o[e] = 0.0;
    for (uint k0 = 0; k0 < K; k0 += KT) {
        for (uint idx = lid; idx < C * KT; idx += WG) {
            const uint t = idx / KT, i = idx % KT, ch = k0 + i;
            const bool ok = t < n && ch < K;
            const uint tg = min(t, n - 1); // past the end: the last token's G
            const float gv = ch < K ? g_cum[((t0 + tg) * pc.HV + hv) * K + ch] : 0.0;
            const uint e = ((t0 + t) * pc.H + h) * K + ch;
            const float qv = ok ? float(q[e]) : 0.0;
            QR(t, i) = qv;
            KR(t, i) = ok ? float(k[e]) : 0.0;
            GA(t, i) = gv;
            QG(t, i) = qv * exp(gv);
            if (DPLR) {
                float bv = 0.0;
                if (ok)
                    bv = RWKV7 ? float(a_in[e]) * float(b_in[e]) : float(b_in[e]);
                BR(t, i) = bv;
            }
        }
        for (uint idx = lid; idx < KT * BV; idx += WG) {
            const uint i = idx / BV, c = idx % BV;
            HS(i, c) = (k0 + i < K && c0 + c < V) ? h_chunks[hc_base + (k0 + i) * V + c0 + c] : 0.0;
        }
        barrier();
        DGRAM_SCALE_COLUMNS(KTS, KR)
        if (DPLR) {
            DGRAM_SCALE_COLUMNS(BTS, BR)
        }
        DGRAM_SCALE_ROWS(QT, QR, GID)
        barrier();
        DGRAM_ACCUMULATE(acc_k, TM, TNP, false, QR, KR, QT, KTS, GID)
        if (DPLR) {
            DGRAM_ACCUMULATE(acc_b, TM, TNP, false, QR, BR, QT, BTS, GID)
        }
#define QA(row, kk) QG(row, kk)
#define HB(col, kk) HS(kk, col)
        BLOCK_MMA(acc_o, TM, TN, KT, QA, HB)
#undef QA
#undef HB
        barrier();
    }

    // O += Gram(q, k) X with X = U' (KDA) or V (DPLR); then (DPLR) O += Gram(q, b) R.
    for (uint step = 0; step < (DPLR ? 2 : 1); ++step) {
        const bool with_b = step == 1;
        [[unroll]] for (uint x = 0; x < TM; ++x)
            [[unroll]] for (uint y = 0; y < TNP; ++y)
                P_AT(tr + GM * x, tc + GN * y) = with_b ? acc_b[x * TNP + y] : acc_k[x * TNP + y];
        for (uint idx = lid; idx < C * BV; idx += WG) {
            const uint t = idx / BV, c = idx % BV;
            float x = 0.0;
            if (t < n && c0 + c < V) {
                const uint e = ((t0 + t) * pc.HV + hv) * V + c0 + c;
                x = (DPLR && !with_b) ? float(v[e]) : u[e];
            }
            X_AT(t, c) = x;
        }
        barrier();
#define PA(row, kk) P_AT(row, kk)
#define XB(col, kk) X_AT(kk, col)
        BLOCK_MMA(acc_o, TM, TN, C, PA, XB)
#undef PA
#undef XB
        barrier();
    }

    [[unroll]] for (uint x = 0; x < TM; ++x) {
        const uint t = tr + GM * x;
        [[unroll]] for (uint y = 0; y < TN; ++y) {
            const uint c = c0 + tc + GN * y;
            if (t < n && c < V)
                o[((t0 + t) * pc.HV + hv) * V + c] = IO_T(pc.scale * acc_o[x * TN + y]);
        }
    }
}
