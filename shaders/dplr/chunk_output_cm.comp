#version 450
// Chunked KDA, stage 3 of 3, on cooperative matrices (fp16 tensors). Same function as
// chunk_output.comp without DPLR: one workgroup per (chunk, head, value tile of BV columns),
//   O = scale ((exp(G) ⊙ Q) h + Gram_<=(q, k; G) U')
// with G the per-channel cumulative decay, h the state at the chunk's start and U' as
// chunk_state.comp left it in u (h and U' in fp32, rounded to fp16 here).
//
// The decayed Gram matrix P[t][j] = sum_c q_t[c] k_j[c] exp(G_t[c] - G_j[c]), j <= t, is split
// as decay_gram.glsl splits it, by sub-chunks of 16 tokens: a pair in sub-chunks p > q meets
// through the decay at the end of sub-chunk q, m = 16q + 15,
//   exp(G_t - G_j) = exp(G_t - G_m) exp(G_m - G_j)        (both factors <= 1)
// so those six 16 x 16 blocks are products of pre-scaled fp16 operands on cooperative matrices,
//   XT_q[t] = q_t exp(G_t - G_{16q+15})  (rows t of sub-chunks after q),
//   YT[j]   = k_j exp(G_{j|15} - G_j),
// while the four diagonal blocks take their exact exponents, one exp per term, in fp32 FMAs.
// Every exponent is <= 0. Tokens past the chunk's end are zeros with the last token's G.
//
// Each step stages KT key channels: q, k and G (and h's rows) are loaded into registers while
// the step before computes; U' is loaded during the last step. Shared rows are padded
// (CM_PAD) against bank conflicts.
//
// Preconditions (src/ops/dplr/chunk.c): fp16 q, k, o; C = 64; K, V multiples of 16; BV in
// {32, 64, 128} dividing V; KT = 16; WG = 256 (8 subgroups of 32).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint C = 64;
layout(constant_id = 1) const uint K = 128;
layout(constant_id = 2) const uint V = 128;
layout(constant_id = 3) const uint BV = 64;
layout(constant_id = 4) const uint KT = 16;
layout(constant_id = 5) const uint WG = 256;
layout(local_size_x_id = 5) in;

#include "io.glsl"
#include "coopmat.glsl"

layout(push_constant) uniform Push {
    uint H;
    uint HV;
    float scale;
} pc;

// the binding numbers of chunk_output.comp (a, b and v are not read here)
layout(std430, binding = 0) readonly buffer Q4 { uvec4 q4[]; };
layout(std430, binding = 1) readonly buffer Kb4 { uvec4 k4[]; };
layout(std430, binding = 5) readonly buffer Ub4 { vec4 u4[]; };
layout(std430, binding = 6) readonly buffer Gc4 { vec4 g4[]; };
layout(std430, binding = 7) readonly buffer Hc4 { vec4 hc4[]; };
layout(std430, binding = 8) writeonly buffer O4 { uvec4 o4[]; };
layout(std430, binding = 9) readonly buffer Table { int chunk_table[]; };

const uint CB = C / 16, VB = BV / 16;
const uint TO = CB * VB / NSG; // O blocks per subgroup
const uint NKS = K / KT;       // key steps

// fp16, during the key steps (row stride XS): raw q and k (the diagonal blocks), exp(G) ⊙ q,
// YT, and the rows of XT_0, XT_1, XT_2 (48 + 32 + 16 rows), then h's rows (stride HS).
// Afterwards: P (stride PS) and U' (stride US); then O (stride US).
const uint XS = KT + CM_PAD, HS = BV + CM_PAD, PS = C + CM_PAD, US = BV + CM_PAD;
const uint QR_OFF = 0, KR_OFF = C * XS, QG_OFF = 2 * C * XS, YT_OFF = 3 * C * XS;
const uint XT_OFF = 4 * C * XS; // XT_q's row t (t >= 16(q+1)): XT_OFF + xt_row(q, t) XS
const uint H_OFF = XT_OFF + 96 * XS;
const uint LOOP16 = H_OFF + KT * HS, TAIL16 = C * PS + C * US;
const uint P_OFF = 0, U_OFF = C * PS;
shared float16_t s16[LOOP16 > TAIL16 ? LOOP16 : TAIL16]; // spec-constant max()
const uint GS = KT + CM_PAD / 2, FS = C + CM_PAD / 2;     // fp32 row strides: G; P and O
shared float s_g[C * GS];
shared float s_f32[C * FS]; // P's blocks as computed

uint xt_row(uint q, uint t) { return (q == 0 ? 0 : q == 1 ? 48 : 80) + t - 16 * (q + 1); }

void main()
{
    const uint lid = gl_LocalInvocationID.x, sg = gl_SubgroupID;
    const uint chunk = gl_WorkGroupID.x, hv = gl_WorkGroupID.y, vt = gl_WorkGroupID.z;
    const uint h = hv / (pc.HV / pc.H);
    const uint c0 = vt * BV;
    const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);
    const uint hc_base = (chunk * pc.HV + hv) * K * V;
#define QK_ROW(t) (((t0 + (t)) * pc.H + h) * K)

    // This invocation's part of a step: q and k 8 channels (lid < C * KT / 8), G and the
    // scaled operands 4 channels of row gt.
    const uint qt = lid / (KT / 8), qj = (lid % (KT / 8)) * 8;
    const uint gt = lid / (KT / 4), gj = (lid % (KT / 4)) * 4;
    const uint NH = (KT * BV / 4 + WG - 1) / WG; // vec4s of h per invocation
    uvec4 qr = uvec4(0), kr = uvec4(0);
    vec4 gr = vec4(0.0);
    vec4 hr[NH];
#define LOAD_STEP(k0)                                                                             \
    {                                                                                             \
        qr = uvec4(0);                                                                            \
        kr = uvec4(0);                                                                            \
        if (lid < C * KT / 8 && qt < n) {                                                         \
            qr = q4[(QK_ROW(qt) + (k0) + qj) / 8];                                                \
            kr = k4[(QK_ROW(qt) + (k0) + qj) / 8];                                                \
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
    float acc_d[ND];
    uint d_t[ND], d_j[ND];
    [[unroll]] for (uint e = 0; e < ND; ++e) {
        acc_d[e] = 0.0;
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
    ACC32 acc_o[TO];
    [[unroll]] for (uint e = 0; e < TO; ++e) acc_o[e] = ACC32(0.0);
    vec4 ur[(C * BV / 4 + WG - 1) / WG];

    for (uint step = 0; step < NKS; ++step) {
        // raw q, k, G and h's rows into shared memory
        if (lid < C * KT / 8) {
            [[unroll]] for (uint c = 0; c < 4; ++c) {
                const f16vec2 a = unpackFloat2x16(qr[c]), b = unpackFloat2x16(kr[c]);
                s16[QR_OFF + qt * XS + qj + 2 * c] = a.x;
                s16[QR_OFF + qt * XS + qj + 2 * c + 1] = a.y;
                s16[KR_OFF + qt * XS + qj + 2 * c] = b.x;
                s16[KR_OFF + qt * XS + qj + 2 * c + 1] = b.y;
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
                ur[e] = (x < C * BV / 4 && t < n) ? u4[(((t0 + t) * pc.HV + hv) * V + c0 + c) / 4]
                                                  : vec4(0.0);
            }
        }
        // the scaled operands of row gt, channels gj..gj+3
        {
            const vec4 g = vec4(s_g[gt * GS + gj], s_g[gt * GS + gj + 1], s_g[gt * GS + gj + 2],
                                s_g[gt * GS + gj + 3]);
            const uint te = gt | 15u; // the end of the row's sub-chunk
            const vec4 ge = vec4(s_g[te * GS + gj], s_g[te * GS + gj + 1], s_g[te * GS + gj + 2],
                                 s_g[te * GS + gj + 3]);
            const vec4 qv = vec4(s16[QR_OFF + gt * XS + gj], s16[QR_OFF + gt * XS + gj + 1],
                                 s16[QR_OFF + gt * XS + gj + 2], s16[QR_OFF + gt * XS + gj + 3]);
            const vec4 kv = vec4(s16[KR_OFF + gt * XS + gj], s16[KR_OFF + gt * XS + gj + 1],
                                 s16[KR_OFF + gt * XS + gj + 2], s16[KR_OFF + gt * XS + gj + 3]);
            const vec4 qg = qv * exp(g), yt = kv * exp(ge - g);
            [[unroll]] for (uint c = 0; c < 4; ++c) {
                s16[QG_OFF + gt * XS + gj + c] = float16_t(qg[c]);
                s16[YT_OFF + gt * XS + gj + c] = float16_t(yt[c]);
            }
            [[unroll]] for (uint q = 0; q < 3; ++q) {
                if (gt >= 16 * (q + 1)) {
                    const uint m = 16 * q + 15;
                    const vec4 gm = vec4(s_g[m * GS + gj], s_g[m * GS + gj + 1],
                                         s_g[m * GS + gj + 2], s_g[m * GS + gj + 3]);
                    const vec4 xt = qv * exp(g - gm);
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
                float s = 0.0;
                [[unroll]] for (uint c = 0; c < KT; ++c)
                    s += float(s16[QR_OFF + t * XS + c]) * float(s16[KR_OFF + j * XS + c]) *
                         exp(s_g[t * GS + c] - s_g[j * GS + c]);
                acc_d[e] += s;
            }
        }
        // the off-diagonal blocks and (exp(G) ⊙ Q) h
        [[unroll]] for (uint kk = 0; kk < KT / 16; ++kk) {
            if (sg < 6) {
                MAT16 a, b;
                coopMatLoadNV(a, s16, XT_OFF + xt_row(qb, 16 * pb) * XS + kk * 16, XS, false);
                coopMatLoadNV(b, s16, YT_OFF + 16 * qb * XS + kk * 16, XS, true); // YT^T
                acc_p = coopMatMulAddNV(a, b, acc_p);
            }
            [[unroll]] for (uint e = 0; e < TO; ++e) {
                const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
                MAT16 a, b;
                coopMatLoadNV(a, s16, QG_OFF + rb * 16 * XS + kk * 16, XS, false);
                coopMatLoadNV(b, s16, H_OFF + kk * 16 * HS + cb * 16, HS, false);
                acc_o[e] = coopMatMulAddNV(a, b, acc_o[e]);
            }
        }
        barrier();
    }

    // P: the off-diagonal blocks and the diagonal entries in fp32, then masked and rounded
    if (sg < 6)
        coopMatStoreNV(acc_p, s_f32, 16 * pb * FS + 16 * qb, FS, false);
    [[unroll]] for (uint e = 0; e < ND; ++e)
        if (lid + WG * e < 4 * 136)
            s_f32[d_t[e] * FS + d_j[e]] = acc_d[e];
    [[unroll]] for (uint e = 0; e < ur.length(); ++e) {
        const uint x = lid + WG * e, t = x / (BV / 4), c = (x % (BV / 4)) * 4;
        if (x < C * BV / 4)
            [[unroll]] for (uint w = 0; w < 4; ++w)
                s16[U_OFF + t * US + c + w] = float16_t(ur[e][w]);
    }
    barrier();
    for (uint idx = lid; idx < C * C; idx += WG) {
        const uint t = idx / C, j = idx % C;
        s16[P_OFF + t * PS + j] = float16_t(j <= t ? s_f32[t * FS + j] : 0.0);
    }
    barrier();
    [[unroll]] for (uint e = 0; e < TO; ++e) {
        const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
        [[unroll]] for (uint kk = 0; kk < CB; ++kk) {
            if (kk <= rb) { // P is zero above the diagonal blocks
                MAT16 a, b;
                coopMatLoadNV(a, s16, P_OFF + rb * 16 * PS + kk * 16, PS, false);
                coopMatLoadNV(b, s16, U_OFF + kk * 16 * US + cb * 16, US, false);
                acc_o[e] = coopMatMulAddNV(a, b, acc_o[e]);
            }
        }
    }
    barrier(); // P and U' read: O, rounded to fp16, replaces them (row stride US)
    [[unroll]] for (uint e = 0; e < TO; ++e) {
        const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
        coopMatStoreNV(MAT16(acc_o[e] * pc.scale), s16, rb * 16 * US + cb * 16, US, false);
    }
    barrier();
    [[unroll]] for (uint e = 0; e < (C * BV / 8 + WG - 1) / WG; ++e) {
        const uint x = lid + e * WG;
        const uint t = x / (BV / 8), j = (x % (BV / 8)) * 8;
        if (x < C * BV / 8 && t < n) {
            const uint b = t * US + j;
            o4[(((t0 + t) * pc.HV + hv) * V + c0 + j) / 8] = PACK8_F16(s16, b);
        }
    }
}
