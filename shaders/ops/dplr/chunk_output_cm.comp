#version 450
// Chunked KDA and generalized (DPLR) delta rule, stage 3 of 3, on cooperative matrices (fp16
// tensors). Same function as chunk_output.comp: one workgroup per (chunk, head, value tile of
// BV columns),
//   KDA:  O = scale ((exp(G) ⊙ Q) h + Gram_<=(q, k; G) U')
//   DPLR: O = scale ((exp(G) ⊙ Q) h + Gram_<=(q, b; G) R + Gram_<=(q, k; G) V)
// with G the per-channel cumulative decay, h the state at the chunk's start and U' (or R) as
// chunk_state.comp left it in u (h and U' in fp32, rounded to fp16 here). RWKV7: b = kappa ⊙
// alpha, formed here.
//
// A decayed Gram matrix P[t][j] = sum_c q_t[c] y_j[c] exp(G_t[c] - G_j[c]), j <= t, is split
// as decay_gram.glsl splits it, by sub-chunks of 16 tokens: a pair in sub-chunks p > q meets
// through the decay at the end of sub-chunk q, m = 16q + 15,
//   exp(G_t - G_j) = exp(G_t - G_m) exp(G_m - G_j)        (both factors <= 1)
// so those six 16 x 16 blocks are products of pre-scaled fp16 operands on cooperative matrices,
//   XT_q[t] = q_t exp(G_t - G_{16q+15})  (rows t of sub-chunks after q),
//   YT[j]   = y_j exp(G_{j|15} - G_j),
// while the four diagonal blocks take their exact exponents, one exp per term (shared by the
// two Gram matrices of DPLR), in fp32 FMAs. Every exponent is <= 0. Tokens past the chunk's end
// are zeros with the last token's G. P goes to shared memory in fp16 straight from the
// accumulators (the diagonal blocks' upper triangles zeroed).
//
// Each step stages KT key channels: q, k [, b] and G (and h's rows) are loaded into registers
// while the step before computes; U' (R) is loaded during the last step, V's tile after it.
// Shared rows are padded (CM_PAD) against bank conflicts.
//
// Preconditions (src/ops/dplr/chunk.c): fp16 q, k, o (b, v); C = 64; K, V multiples of 16; BV
// in {32, 64, 128} dividing V; KT = 16; WG = 256 (8 subgroups of 32).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "chunk_output.h"

layout(constant_id = DPLR_CHUNK_OUTPUT_CM_SPEC_C) const uint C = 64;
layout(constant_id = DPLR_CHUNK_OUTPUT_CM_SPEC_K) const uint K = 128;
layout(constant_id = DPLR_CHUNK_OUTPUT_CM_SPEC_V) const uint V = 128;
layout(constant_id = DPLR_CHUNK_OUTPUT_CM_SPEC_BV) const uint BV = 64;
layout(constant_id = DPLR_CHUNK_OUTPUT_CM_SPEC_KT) const uint KT = 16;
layout(constant_id = DPLR_CHUNK_OUTPUT_CM_SPEC_WG) const uint WG = 256;
layout(constant_id = DPLR_CHUNK_OUTPUT_CM_SPEC_DPLR) const bool DPLR = false;
layout(constant_id = DPLR_CHUNK_OUTPUT_CM_SPEC_RWKV7) const bool RWKV7 = false;
layout(local_size_x_id = DPLR_CHUNK_OUTPUT_CM_SPEC_WG) in;

#include "io.glsl"
#include "coopmat.glsl"

// the binding numbers of chunk_output.comp
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_Q) readonly buffer Q4 { uvec4 q4[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_K) readonly buffer Kb4 { uvec4 k4[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_A) readonly buffer Ab4 { uvec4 a4[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_B) readonly buffer Bb4 { uvec4 b4[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_V) readonly buffer Vb4 { uvec4 v4[]; }; // DPLR
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_U) readonly buffer Ub4 { vec4 u4[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_G_CUM) readonly buffer Gc4 { vec4 g4[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_H_CHUNKS) readonly buffer Hc4 { vec4 hc4[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_O) writeonly buffer O4 { uvec4 o4[]; };
layout(std430, binding = DPLR_CHUNK_OUTPUT_BIND_TABLE) readonly buffer Table { int chunk_table[]; };

const uint CB = C / 16, VB = BV / 16;
const uint TO = CB * VB / NSG; // O blocks per subgroup
const uint NKS = K / KT;       // key steps

// fp16, during the key steps (row stride XS): raw q, k [and b] (the diagonal blocks), exp(G) ⊙
// q, YT of k [and of b], and the rows of XT_0, XT_1, XT_2 (48 + 32 + 16 rows), then h's rows
// (stride HS). Afterwards: P (stride PS) and a tile of U', R or V (stride US); then O (stride
// US).
const uint XS = KT + CM_PAD, HS = BV + CM_PAD, PS = C + CM_PAD, US = BV + CM_PAD;
const uint QR_OFF = 0, KR_OFF = C * XS, BR_OFF = 2 * C * XS; // BR: DPLR
const uint QG_OFF = (DPLR ? 3 : 2) * C * XS, YT_OFF = QG_OFF + C * XS, YB_OFF = YT_OFF + C * XS;
const uint XT_OFF = YT_OFF + (DPLR ? 2 : 1) * C * XS; // XT_q's row t: XT_OFF + xt_row(q, t) XS
const uint H_OFF = XT_OFF + 96 * XS;
const uint LOOP16 = H_OFF + KT * HS, TAIL16 = C * PS + C * US;
const uint P_OFF = 0, U_OFF = C * PS;
shared float16_t s16[LOOP16 > TAIL16 ? LOOP16 : TAIL16]; // spec-constant max()
const uint GS = KT + CM_PAD / 2; // fp32 row stride of G
shared float s_g[C * GS];

uint xt_row(uint q, uint t) { return (q == 0 ? 0 : q == 1 ? 48 : 80) + t - 16 * (q + 1); }

vec4 g_row4(uint t, uint c)
{
    return vec4(s_g[t * GS + c], s_g[t * GS + c + 1], s_g[t * GS + c + 2], s_g[t * GS + c + 3]);
}
vec4 half_row4(uint off, uint t, uint c)
{
    return vec4(s16[off + t * XS + c], s16[off + t * XS + c + 1], s16[off + t * XS + c + 2],
                s16[off + t * XS + c + 3]);
}

void main()
{
    const uint lid = gl_LocalInvocationID.x, sg = gl_SubgroupID;
    const uint chunk = gl_WorkGroupID.x, hv = gl_WorkGroupID.y, vt = gl_WorkGroupID.z;
    const uint h = hv / (pc.HV / pc.H);
    const uint c0 = vt * BV;
    const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);
    const uint hc_base = (chunk * pc.HV + hv) * K * V;
#define QK_ROW(t) (((t0 + (t)) * pc.H + h) * K)
#define V_ROW(t) (((t0 + (t)) * pc.HV + hv) * V)
#define IN_CHUNK(t) ((t) < n)

    // This invocation's part of a step: q, k [, b] 8 channels (lid < C * KT / 8), G and the
    // scaled operands 4 channels of row gt.
    const uint qt = lid / (KT / 8), qj = (lid % (KT / 8)) * 8;
    const uint gt = lid / (KT / 4), gj = (lid % (KT / 4)) * 4;
    const uint NH = (KT * BV / 4 + WG - 1) / WG; // vec4s of h per invocation
    uvec4 qr = uvec4(0), kr = uvec4(0), br = uvec4(0), ar = uvec4(0);
    vec4 gr = vec4(0.0);
    vec4 hr[NH];
#define LOAD_STEP(k0)                                                                             \
    {                                                                                             \
        qr = kr = br = ar = uvec4(0);                                                             \
        if (lid < C * KT / 8 && qt < n) {                                                         \
            qr = q4[(QK_ROW(qt) + (k0) + qj) / 8];                                                \
            kr = k4[(QK_ROW(qt) + (k0) + qj) / 8];                                                \
            if (DPLR)                                                                             \
                br = b4[(QK_ROW(qt) + (k0) + qj) / 8];                                            \
            if (RWKV7)                                                                            \
                ar = a4[(QK_ROW(qt) + (k0) + qj) / 8];                                            \
        }                                                                                         \
        /* past the end: the last token's G */                                                    \
        gr = g4[(((t0 + min(gt, n - 1)) * pc.HV + hv) * K + (k0) + gj) / 4];                      \
        [[unroll]] for (uint e = 0; e < NH; ++e) {                                                \
            const uint x = lid + WG * e, i = x / (BV / 4), c = (x % (BV / 4)) * 4;                \
            hr[e] = x < KT * BV / 4 ? hc4[(hc_base + ((k0) + i) * V + c0 + c) / 4] : vec4(0.0);   \
        }                                                                                         \
    }
    LOAD_STEP(0)

    // the diagonal blocks' entries (t, j), j <= t, of this invocation: 4 blocks x 136
    const uint ND = (4 * 136 + WG - 1) / WG;
    float acc_d[ND], acc_db[ND]; // Gram of k; of b (DPLR)
    uint d_t[ND], d_j[ND];
    [[unroll]] for (uint e = 0; e < ND; ++e) {
        acc_d[e] = acc_db[e] = 0.0;
        const uint x = min(lid + WG * e, 4 * 136 - 1), b = x / 136, r = x % 136;
        uint i = uint((sqrt(8.0 * float(r) + 1.0) - 1.0) * 0.5);
        if ((i + 1) * (i + 2) / 2 <= r) // guard the float square root
            ++i;
        if (i * (i + 1) / 2 > r)
            --i;
        d_t[e] = 16 * b + i;
        d_j[e] = 16 * b + r - i * (i + 1) / 2;
    }
    // off-diagonal P blocks: subgroup s < 6 owns block (p, q), p > q
    const uint pb = sg < 3 ? sg + 1 : sg < 5 ? sg - 1 : 3; // (1,0) (2,0) (3,0) (2,1) (3,1) (3,2)
    const uint qb = sg < 3 ? 0 : sg < 5 ? 1 : 2;
    ACC32 acc_p = ACC32(0.0);
    ACC32 acc_pb = ACC32(0.0);
    ACC32 acc_o[TO];
    [[unroll]] for (uint e = 0; e < TO; ++e) acc_o[e] = ACC32(0.0);
    vec4 ur[(C * BV / 4 + WG - 1) / WG];

    for (uint step = 0; step < NKS; ++step) {
        // raw q, k [, b], G and h's rows into shared memory
        if (lid < C * KT / 8) {
            [[unroll]] for (uint c = 0; c < 4; ++c) {
                const f16vec2 a = unpackFloat2x16(qr[c]), b = unpackFloat2x16(kr[c]);
                s16[QR_OFF + qt * XS + qj + 2 * c] = a.x;
                s16[QR_OFF + qt * XS + qj + 2 * c + 1] = a.y;
                s16[KR_OFF + qt * XS + qj + 2 * c] = b.x;
                s16[KR_OFF + qt * XS + qj + 2 * c + 1] = b.y;
                if (DPLR) {
                    vec2 bv = vec2(unpackFloat2x16(br[c]));
                    if (RWKV7)
                        bv *= vec2(unpackFloat2x16(ar[c]));
                    s16[BR_OFF + qt * XS + qj + 2 * c] = float16_t(bv.x);
                    s16[BR_OFF + qt * XS + qj + 2 * c + 1] = float16_t(bv.y);
                }
            }
        }
        [[unroll]] for (uint c = 0; c < 4; ++c) s_g[gt * GS + gj + c] = gr[c];
        [[unroll]] for (uint e = 0; e < NH; ++e) {
            const uint x = lid + WG * e, i = x / (BV / 4), c = (x % (BV / 4)) * 4;
            if (x < KT * BV / 4)
                [[unroll]] for (uint w = 0; w < 4; ++w)
                    s16[H_OFF + i * HS + c + w] = float16_t(hr[e][w]);
        }
        barrier();
        if (step + 1 < NKS) {
            LOAD_STEP((step + 1) * KT)
        } else {
            [[unroll]] for (uint e = 0; e < ur.length(); ++e) {
                const uint x = lid + WG * e, t = x / (BV / 4), c = (x % (BV / 4)) * 4;
                ur[e] = (x < C * BV / 4 && t < n) ? u4[(V_ROW(t) + c0 + c) / 4] : vec4(0.0);
            }
        }
        { // the scaled operands of row gt, channels gj..gj+3
            const vec4 g = g_row4(gt, gj), ge = g_row4(gt | 15u, gj); // ge: its sub-chunk's end
            const vec4 qv = half_row4(QR_OFF, gt, gj), dc = exp(ge - g);
            const vec4 qg = qv * exp(g), yt = half_row4(KR_OFF, gt, gj) * dc;
            const vec4 yb = DPLR ? half_row4(BR_OFF, gt, gj) * dc : vec4(0.0);
            [[unroll]] for (uint c = 0; c < 4; ++c) {
                s16[QG_OFF + gt * XS + gj + c] = float16_t(qg[c]);
                s16[YT_OFF + gt * XS + gj + c] = float16_t(yt[c]);
                if (DPLR)
                    s16[YB_OFF + gt * XS + gj + c] = float16_t(yb[c]);
            }
            [[unroll]] for (uint q = 0; q < 3; ++q) {
                if (gt >= 16 * (q + 1)) {
                    const vec4 xt = qv * exp(g - g_row4(16 * q + 15, gj));
                    [[unroll]] for (uint c = 0; c < 4; ++c)
                        s16[XT_OFF + xt_row(q, gt) * XS + gj + c] = float16_t(xt[c]);
                }
            }
        }
        barrier();
        // the diagonal blocks, exactly
        [[unroll]] for (uint e = 0; e < ND; ++e) {
            if (lid + WG * e < 4 * 136) {
                const uint t = d_t[e], j = d_j[e];
                float s = 0.0, sb = 0.0;
                [[unroll]] for (uint c = 0; c < KT; ++c) {
                    const float x = float(s16[QR_OFF + t * XS + c]) *
                                    exp(s_g[t * GS + c] - s_g[j * GS + c]);
                    s += x * float(s16[KR_OFF + j * XS + c]);
                    if (DPLR)
                        sb += x * float(s16[BR_OFF + j * XS + c]);
                }
                acc_d[e] += s;
                acc_db[e] += sb;
            }
        }
        // the off-diagonal blocks and (exp(G) ⊙ Q) h
        [[unroll]] for (uint kk = 0; kk < KT / 16; ++kk) {
            if (sg < 6) {
                CM_A a;
                CM_B b;
                CM_LOAD(a, s16, XT_OFF + xt_row(qb, 16 * pb) * XS + kk * 16, XS, CM_ROWS);
                CM_LOAD(b, s16, YT_OFF + 16 * qb * XS + kk * 16, XS, CM_COLS); // YT^T
                acc_p = CM_MMA(a, b, acc_p);
                if (DPLR) {
                    CM_LOAD(b, s16, YB_OFF + 16 * qb * XS + kk * 16, XS, CM_COLS);
                    acc_pb = CM_MMA(a, b, acc_pb);
                }
            }
            [[unroll]] for (uint e = 0; e < TO; ++e) {
                const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
                CM_A a;
                CM_B b;
                CM_LOAD(a, s16, QG_OFF + rb * 16 * XS + kk * 16, XS, CM_ROWS);
                CM_LOAD(b, s16, H_OFF + kk * 16 * HS + cb * 16, HS, CM_ROWS);
                acc_o[e] = CM_MMA(a, b, acc_o[e]);
            }
        }
        barrier();
    }

    // The intra-chunk products, P (fp16) times a tile (fp16) into O: DPLR first Gram_<=(q, b)
    // R, then Gram_<=(q, k) V; KDA Gram_<=(q, k) U'. V's tile is loaded now.
    uvec4 vr[F16_REGS(C, BV)];
    if (DPLR)
        LOAD_F16(vr, v4, C, IN_CHUNK, V_ROW, BV, V, c0)
    [[unroll]] for (uint pass = DPLR ? 0 : 1; pass < 2; ++pass) {
        if (pass == 0 || !DPLR) { // U' or R, fp32 rounded to fp16
            [[unroll]] for (uint e = 0; e < ur.length(); ++e) {
                const uint x = lid + WG * e, t = x / (BV / 4), c = (x % (BV / 4)) * 4;
                if (x < C * BV / 4)
                    [[unroll]] for (uint w = 0; w < 4; ++w)
                        s16[U_OFF + t * US + c + w] = float16_t(ur[e][w]);
            }
        } else {
            PUT_F16(s16, U_OFF, vr, C, BV, US)
        }
        // P: the off-diagonal blocks and the diagonal entries; zeros above the diagonal in the
        // diagonal blocks (the blocks above them are never read)
        if (sg < 6) {
            if (pass == 0)
                CM_STORE(ACC16(acc_pb), s16, P_OFF + 16 * pb * PS + 16 * qb, PS, CM_ROWS);
            else
                CM_STORE(ACC16(acc_p), s16, P_OFF + 16 * pb * PS + 16 * qb, PS, CM_ROWS);
        }
        [[unroll]] for (uint e = 0; e < ND; ++e)
            if (lid + WG * e < 4 * 136)
                s16[P_OFF + d_t[e] * PS + d_j[e]] = float16_t(pass == 0 ? acc_db[e] : acc_d[e]);
        [[unroll]] for (uint e = 0; e < 4 * 256 / WG; ++e) {
            const uint x = lid + WG * e, b = x / 256, r = (x / 16) % 16, c = x % 16;
            if (c > r)
                s16[P_OFF + (16 * b + r) * PS + 16 * b + c] = float16_t(0.0);
        }
        barrier();
        [[unroll]] for (uint e = 0; e < TO; ++e) {
            const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
            [[unroll]] for (uint kk = 0; kk < CB; ++kk) {
                if (kk <= rb) { // P is zero above the diagonal blocks
                    CM_A a;
                    CM_B b;
                    CM_LOAD(a, s16, P_OFF + rb * 16 * PS + kk * 16, PS, CM_ROWS);
                    CM_LOAD(b, s16, U_OFF + kk * 16 * US + cb * 16, US, CM_ROWS);
                    acc_o[e] = CM_MMA(a, b, acc_o[e]);
                }
            }
        }
        barrier(); // P and the tile read: next pass's, or O, rounded to fp16, replace them
    }
    [[unroll]] for (uint e = 0; e < TO; ++e) {
        const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
        CM_STORE(ACC16(acc_o[e] * pc.scale), s16, rb * 16 * US + cb * 16, US, CM_ROWS);
    }
    barrier();
    [[unroll]] for (uint e = 0; e < (C * BV / 8 + WG - 1) / WG; ++e) {
        const uint x = lid + e * WG;
        const uint t = x / (BV / 8), j = (x % (BV / 8)) * 8;
        if (x < C * BV / 8 && t < n) {
            const uint b = t * US + j;
            o4[(V_ROW(t) + c0 + j) / 8] = PACK8_F16(s16, b);
        }
    }
}
