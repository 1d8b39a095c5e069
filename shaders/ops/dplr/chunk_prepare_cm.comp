#version 450
// Chunked KDA and generalized (DPLR) delta rule, stage 1 of 3, on cooperative matrices (fp16
// tensors). Same function as chunk_prepare.comp: one workgroup per (chunk, head),
// KDA (DPLR = false):
//   A = diag(beta) Gram_<(k, k; G);   L = (I + A)^-1          (fp32, tri_inverse.glsl)
//   W = (L diag(beta)) (exp(G) ⊙ K) -> w (fp16),   U = (L diag(beta)) V -> u (fp32)
//   K̂ = exp(G_C - G) ⊙ K -> kh (fp16; G_C the chunk's last token's G), for chunk_state_cm
// generalized rule (DPLR = true; RWKV7: a = -kappa, b = kappa ⊙ alpha formed here):
//   A_ab = Gram_<(a, b; G^-),  A_ak = Gram_<(a, k; G^-),  L = (I - A_ab)^-1
//   W = L (exp(G^-) ⊙ A) -> w (fp16),   U = (L A_ak) V -> u (fp32)
//   K̂, B̂ = exp(G_C - G) ⊙ K, B -> kh, bh (fp16)
// (G^- is G one token earlier, 0 at the chunk's start.) The strictly lower decayed Gram
// matrices are split as in chunk_output_cm.comp: their six off-diagonal 16 x 16 blocks are
// products of pre-scaled fp16 operands (both decay factors <= 1), their four diagonal blocks
// take exact exponents in fp32 FMAs (A_ab and A_ak share each exponent). K (and a, b) are
// staged KT channels per step, loaded a step ahead; then the W operand and V pass through
// shared memory in slices of 64 columns, each loaded while the slice before computes. Shared
// rows are padded. L A_ak is formed once, in fp16, as U's left factor.
//
// Preconditions (src/ops/dplr/chunk.c): fp16 k, v (a, b); C = 64; K, V multiples of 16;
// KT = 16; WG = 256 (8 subgroups of 32).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "chunk_prepare.h"

layout(constant_id = DPLR_CHUNK_PREPARE_CM_SPEC_C) const uint C = 64;
layout(constant_id = DPLR_CHUNK_PREPARE_CM_SPEC_K) const uint K = 128;
layout(constant_id = DPLR_CHUNK_PREPARE_CM_SPEC_V) const uint V = 128;
layout(constant_id = DPLR_CHUNK_PREPARE_CM_SPEC_KT) const uint KT = 16;
layout(constant_id = DPLR_CHUNK_PREPARE_CM_SPEC_WG) const uint WG = 256;
layout(constant_id = DPLR_CHUNK_PREPARE_CM_SPEC_BETA_SIGMOID) const bool BETA_SIGMOID = false;
layout(constant_id = DPLR_CHUNK_PREPARE_CM_SPEC_DPLR) const bool DPLR = false;
layout(constant_id = DPLR_CHUNK_PREPARE_CM_SPEC_RWKV7) const bool RWKV7 = false;
layout(local_size_x_id = DPLR_CHUNK_PREPARE_CM_SPEC_WG) in;

#include "io.glsl"
#include "coopmat.glsl"

// the binding numbers of chunk_prepare.comp, and the fp16 outputs for chunk_state_cm
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_K) readonly buffer Kb4 { uvec4 k4[]; };
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_V) readonly buffer Vb4 { uvec4 v4[]; };
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_BETA) readonly buffer Beta { IO_T beta[]; }; // KDA
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_BETA) readonly buffer Ab4 { uvec4 a4[]; }; // DPLR
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_B) readonly buffer Bb4 { uvec4 b4[]; };
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_G_CUM) readonly buffer Gc4 { vec4 g4[]; };
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_W) writeonly buffer Wb4 { uvec4 w4[]; };
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_U) writeonly buffer Ub4 { vec4 u4[]; };
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_TABLE)
    readonly buffer Table { int chunk_table[]; };
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_KH) writeonly buffer Kh4 { uvec4 kh4[]; };
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_BH) writeonly buffer Bh4 { uvec4 bh4[]; }; // DPLR

const uint CB = C / 16;
const uint NKS = K / KT; // Gram steps
const uint XW = 64;      // columns of a W or U slice
const uint NWS = (K + XW - 1) / XW, NUS = (V + XW - 1) / XW;

// fp16. Gram steps (row stride XS): raw k [a, b], the column operands YT (of k; DPLR: of b)
// [and YK, of k], the rows of XT_0, XT_1, XT_2 (48 + 32 + 16). KDA's row and column factor is
// k itself (AR_OFF = BR_OFF = KR_OFF). Afterwards: L (stride LS) [, A_ak then L A_ak] and a
// slice (stride SS).
const uint XS = KT + CM_PAD, LS = C + CM_PAD, SS = XW + CM_PAD;
const uint KR_OFF = 0, AR_OFF = DPLR ? C * XS : 0, BR_OFF = DPLR ? 2 * C * XS : 0;
const uint YT_OFF = (DPLR ? 3 : 1) * C * XS, YK_OFF = YT_OFF + C * XS;
const uint XT_OFF = (DPLR ? 5 : 2) * C * XS;
const uint L_OFF = 0, M_OFF = C * LS, S_OFF = (DPLR ? 2 : 1) * C * LS;
const uint P1_16 = XT_OFF + 96 * XS, P2_16 = S_OFF + C * SS;
shared float16_t s16[P1_16 > P2_16 ? P1_16 : P2_16]; // spec-constant max()
// fp32: G during the Gram steps (stride GS); then A^T / L (stride MS) and the solver's scratch;
// then a W or U slice on its way out (stride MS).
const uint GS = KT + CM_PAD / 2, MS = C + CM_PAD / 2;
const uint TT_OFF = C * MS;
shared float s_f32[TT_OFF + (C / 16 - 1) * 256];
shared float s_b[C]; // beta (KDA)

#define TRI(r, c) s_f32[(r) * MS + (c)]
#define TT(e) s_f32[TT_OFF + (e)]
#include "tri_inverse.glsl"

uint xt_row(uint q, uint t) { return (q == 0 ? 0 : q == 1 ? 48 : 80) + t - 16 * (q + 1); }

// G of channels c..c+3 of row t (shared, during a Gram step)
vec4 g_row4(uint t, uint c)
{
    return vec4(s_f32[t * GS + c], s_f32[t * GS + c + 1], s_f32[t * GS + c + 2],
                s_f32[t * GS + c + 3]);
}
vec4 half_row4(uint off, uint t, uint c)
{
    return vec4(s16[off + t * XS + c], s16[off + t * XS + c + 1], s16[off + t * XS + c + 2],
                s16[off + t * XS + c + 3]);
}

void main()
{
    const uint lid = gl_LocalInvocationID.x, sg = gl_SubgroupID;
    const uint chunk = gl_WorkGroupID.x, hv = gl_WorkGroupID.y;
    const uint h = hv / (pc.HV / pc.H);
    const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);
#define K_ROW(t) (((t0 + (t)) * pc.H + h) * K)
#define G_ROW(t) (((t0 + (t)) * pc.HV + hv) * K)

    // This invocation's part of a Gram step: k [a, b] 8 channels (lid < C * KT / 8); G and the
    // scaled operands 4 channels of row gt.
    const uint qt = lid / (KT / 8), qj = (lid % (KT / 8)) * 8;
    const uint gt = lid / (KT / 4), gj = (lid % (KT / 4)) * 4;
    uvec4 kr = uvec4(0), ar = uvec4(0), br = uvec4(0);
    vec4 gr = vec4(0.0);
#define LOAD_STEP(k0)                                                                             \
    {                                                                                             \
        kr = ar = br = uvec4(0);                                                                  \
        if (lid < C * KT / 8 && qt < n) {                                                         \
            kr = k4[(K_ROW(qt) + (k0) + qj) / 8];                                                 \
            if (DPLR) {                                                                           \
                ar = a4[(K_ROW(qt) + (k0) + qj) / 8];                                             \
                br = b4[(K_ROW(qt) + (k0) + qj) / 8];                                             \
            }                                                                                     \
        }                                                                                         \
        gr = g4[(G_ROW(min(gt, n - 1)) + (k0) + gj) / 4]; /* past the end: the last token's G */ \
    }
    LOAD_STEP(0)
    if (!DPLR) {
        for (uint t = lid; t < C; t += WG) {
            float x = t < n ? float(beta[(t0 + t) * pc.HV + hv]) : 0.0;
            if (BETA_SIGMOID && t < n)
                x = 1.0 / (1.0 + exp(-x));
            s_b[t] = x;
        }
    }

    // the diagonal blocks' entries (t, j), j < t, of this invocation: 4 blocks x 120
    const uint ND = (4 * 120 + WG - 1) / WG;
    float acc_d[ND], acc_dk[ND]; // A (KDA) or A_ab; A_ak
    uint d_t[ND], d_j[ND];
    [[unroll]] for (uint e = 0; e < ND; ++e) {
        acc_d[e] = acc_dk[e] = 0.0;
        const uint x = min(lid + WG * e, 4 * 120 - 1), b = x / 120, r = x % 120;
        // r = i (i - 1) / 2 + j with 0 <= j < i < 16
        uint i = uint((sqrt(8.0 * float(r) + 1.0) + 1.0) * 0.5);
        if (i * (i - 1) / 2 > r) // guard the float square root
            --i;
        if ((i + 1) * i / 2 <= r)
            ++i;
        d_t[e] = 16 * b + i;
        d_j[e] = 16 * b + r - i * (i - 1) / 2;
    }
    const uint pb = sg < 3 ? sg + 1 : sg < 5 ? sg - 1 : 3; // (1,0) (2,0) (3,0) (2,1) (3,1) (3,2)
    const uint qb = sg < 3 ? 0 : sg < 5 ? 1 : 2;
    ACC32 acc_a = ACC32(0.0);
    ACC32 acc_k = ACC32(0.0);

    // ---- the decayed Gram matrices, KT channels per step ------------------------------------
    for (uint step = 0; step < NKS; ++step) {
        if (lid < C * KT / 8) {
            [[unroll]] for (uint c = 0; c < 4; ++c) {
                const vec2 kv = vec2(unpackFloat2x16(kr[c]));
                s16[KR_OFF + qt * XS + qj + 2 * c] = float16_t(kv.x);
                s16[KR_OFF + qt * XS + qj + 2 * c + 1] = float16_t(kv.y);
                if (DPLR) {
                    vec2 av = vec2(unpackFloat2x16(ar[c])), bv = vec2(unpackFloat2x16(br[c]));
                    if (RWKV7) {
                        bv *= av;
                        av = -av;
                    }
                    s16[AR_OFF + qt * XS + qj + 2 * c] = float16_t(av.x);
                    s16[AR_OFF + qt * XS + qj + 2 * c + 1] = float16_t(av.y);
                    s16[BR_OFF + qt * XS + qj + 2 * c] = float16_t(bv.x);
                    s16[BR_OFF + qt * XS + qj + 2 * c + 1] = float16_t(bv.y);
                }
            }
        }
        [[unroll]] for (uint c = 0; c < 4; ++c) s_f32[gt * GS + gj + c] = gr[c];
        barrier();
        const uint k0 = step * KT;
        if (step + 1 < NKS)
            LOAD_STEP(k0 + KT)
        { // the scaled operands of row gt, channels gj..gj+3
            const vec4 g = g_row4(gt, gj), ge = g_row4(gt | 15u, gj); // ge: its sub-chunk's end
            const vec4 kv = half_row4(KR_OFF, gt, gj), dc = exp(ge - g);
            const vec4 xv = DPLR ? half_row4(AR_OFF, gt, gj) : kv;
            const vec4 gx = DPLR ? g_row4(gt > 0 ? gt - 1 : 0, gj) : g; // G^- for DPLR's a
            const vec4 yt = (DPLR ? half_row4(BR_OFF, gt, gj) : kv) * dc;
            [[unroll]] for (uint c = 0; c < 4; ++c) {
                s16[YT_OFF + gt * XS + gj + c] = float16_t(yt[c]);
                if (DPLR)
                    s16[YK_OFF + gt * XS + gj + c] = float16_t(kv[c] * dc[c]);
            }
            [[unroll]] for (uint q = 0; q < 3; ++q) {
                if (gt >= 16 * (q + 1)) {
                    const vec4 xt = xv * exp(gx - g_row4(16 * q + 15, gj));
                    [[unroll]] for (uint c = 0; c < 4; ++c)
                        s16[XT_OFF + xt_row(q, gt) * XS + gj + c] = float16_t(xt[c]);
                }
            }
        }
        if (DPLR && lid < C * KT / 8 && qt < n) { // K̂ and B̂, 8 channels, straight to memory
            const vec4 d0 = exp(g_row4(n - 1, qj) - g_row4(qt, qj));
            const vec4 d1 = exp(g_row4(n - 1, qj + 4) - g_row4(qt, qj + 4));
            const vec4 k_lo = half_row4(KR_OFF, qt, qj) * d0;
            const vec4 k_hi = half_row4(KR_OFF, qt, qj + 4) * d1;
            const vec4 b_lo = half_row4(BR_OFF, qt, qj) * d0;
            const vec4 b_hi = half_row4(BR_OFF, qt, qj + 4) * d1;
            const uint e = (G_ROW(qt) + k0 + qj) / 8;
            kh4[e] = uvec4(packFloat2x16(f16vec2(k_lo.xy)), packFloat2x16(f16vec2(k_lo.zw)),
                           packFloat2x16(f16vec2(k_hi.xy)), packFloat2x16(f16vec2(k_hi.zw)));
            bh4[e] = uvec4(packFloat2x16(f16vec2(b_lo.xy)), packFloat2x16(f16vec2(b_lo.zw)),
                           packFloat2x16(f16vec2(b_hi.xy)), packFloat2x16(f16vec2(b_hi.zw)));
        }
        barrier();
        [[unroll]] for (uint e = 0; e < ND; ++e) { // the diagonal blocks, exactly
            if (lid + WG * e < 4 * 120) {
                const uint t = d_t[e], j = d_j[e], tx = DPLR ? t - 1 : t; // t >= 1 here
                float s = 0.0, sk = 0.0;
                [[unroll]] for (uint c = 0; c < KT; ++c) {
                    const float x = float(s16[AR_OFF + t * XS + c]) *
                                    exp(s_f32[tx * GS + c] - s_f32[j * GS + c]);
                    s += x * float(s16[BR_OFF + j * XS + c]);
                    if (DPLR)
                        sk += x * float(s16[KR_OFF + j * XS + c]);
                }
                acc_d[e] += s;
                acc_dk[e] += sk;
            }
        }
        [[unroll]] for (uint kk = 0; kk < KT / 16; ++kk) {
            if (sg < 6) {
                CM_A a;
                CM_B b;
                CM_LOAD(a, s16, XT_OFF + xt_row(qb, 16 * pb) * XS + kk * 16, XS, CM_ROWS);
                CM_LOAD(b, s16, YT_OFF + 16 * qb * XS + kk * 16, XS, CM_COLS); // YT^T
                acc_a = CM_MMA(a, b, acc_a);
                if (DPLR) {
                    CM_LOAD(b, s16, YK_OFF + 16 * qb * XS + kk * 16, XS, CM_COLS);
                    acc_k = CM_MMA(a, b, acc_k);
                }
            }
        }
        barrier();
    }

    // ---- W = L' (X), U = L' V or (L A_ak) V, slices of XW columns, the first loaded now -----
    // (X = exp(G) ⊙ K, L' = L diag(beta) for KDA; X = exp(G^-) ⊙ A, L' = L for DPLR.)
    // slice s: W's columns [s XW, ...) for s < NWS, then U's; this invocation's part: 8 columns
    // of a row (and, for W, their G as two vec4s; KDA: also G_C for K̂)
    const uint NS = NWS + NUS, NR = (C * XW / 8 + WG - 1) / WG;
    uvec4 xr[NR];
    vec4 ga[NR], gb[NR], la[NR], lb[NR];
#define LOAD_SLICE(s)                                                                             \
    {                                                                                             \
        const bool is_w = (s) < NWS;                                                              \
        const uint c0_ = (is_w ? (s) : (s) - NWS) * XW, D_ = is_w ? K : V;                        \
        [[unroll]] for (uint e = 0; e < NR; ++e) {                                                \
            const uint x = lid + WG * e, t = x / (XW / 8), j = (x % (XW / 8)) * 8;                \
            xr[e] = uvec4(0);                                                                     \
            ga[e] = gb[e] = la[e] = lb[e] = vec4(0.0);                                            \
            if (x < C * XW / 8 && t < n && c0_ + j < D_) {                                        \
                if (is_w && DPLR) {                                                               \
                    xr[e] = a4[(K_ROW(t) + c0_ + j) / 8];                                         \
                    if (t > 0) { /* G^- */                                                        \
                        ga[e] = g4[(G_ROW(t - 1) + c0_ + j) / 4];                                 \
                        gb[e] = g4[(G_ROW(t - 1) + c0_ + j + 4) / 4];                             \
                    }                                                                             \
                } else if (is_w) {                                                                \
                    xr[e] = k4[(K_ROW(t) + c0_ + j) / 8];                                         \
                    ga[e] = g4[(G_ROW(t) + c0_ + j) / 4];                                         \
                    gb[e] = g4[(G_ROW(t) + c0_ + j + 4) / 4];                                     \
                    la[e] = g4[(G_ROW(n - 1) + c0_ + j) / 4];                                     \
                    lb[e] = g4[(G_ROW(n - 1) + c0_ + j + 4) / 4];                                 \
                } else {                                                                          \
                    xr[e] = v4[(((t0 + t) * pc.HV + hv) * V + c0_ + j) / 8];                      \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    }
    LOAD_SLICE(0)

    // ---- A transposed into the upper triangle (KDA: diag(beta) Gram; DPLR: -A_ab); ---------
    // ---- DPLR's A_ak in fp16; L = (I + A)^-1 --------------------------------------------------
    // A[t][j] lands at TRI(j, t): block (pb, qb) transposed; then each entry times beta_t or -1
    if (sg < 6)
        CM_STORE(acc_a, s_f32, 16 * qb * MS + 16 * pb, MS, CM_COLS);
    [[unroll]] for (uint e = 0; e < ND; ++e)
        if (lid + WG * e < 4 * 120)
            TRI(d_j[e], d_t[e]) = acc_d[e];
    if (DPLR) { // A_ak (strictly lower) at M_OFF: blocks, diagonal entries, zeros
        if (sg < 6)
            CM_STORE(ACC16(acc_k), s16, M_OFF + 16 * pb * LS + 16 * qb, LS, CM_ROWS);
        [[unroll]] for (uint e = 0; e < ND; ++e)
            if (lid + WG * e < 4 * 120)
                s16[M_OFF + d_t[e] * LS + d_j[e]] = float16_t(acc_dk[e]);
        for (uint idx = lid; idx < C * C; idx += WG) {
            const uint r = idx / C, c = idx % C;
            if (c / 16 > r / 16 || (c / 16 == r / 16 && c >= r))
                s16[M_OFF + r * LS + c] = float16_t(0.0);
        }
    }
    barrier();
    for (uint idx = lid; idx < C * C; idx += WG) {
        const uint j = idx / C, t = idx % C;
        if (j < t)
            TRI(j, t) *= DPLR ? -1.0 : s_b[t];
    }
    barrier();
    tri_inverse(lid);
    for (uint idx = lid; idx < C * C; idx += WG) { // L' = L diag(beta) (KDA) or L, fp16
        const uint r = idx / C, c = idx % C;
        s16[L_OFF + r * LS + c] = float16_t(DPLR ? TRI_L(r, c) : TRI_L(r, c) * s_b[c]);
    }
    if (DPLR) { // L A_ak replaces A_ak: block (rb, cb) = sum over cb <= kk <= rb
        barrier();
        const uint TM2 = CB * CB / NSG;
        ACC32 m2[TM2];
        [[unroll]] for (uint e = 0; e < TM2; ++e) {
            const uint id = sg + NSG * e, rb = id / CB, cb = id % CB;
            m2[e] = ACC32(0.0);
            [[unroll]] for (uint kk = 0; kk < CB; ++kk) {
                if (kk >= cb && kk <= rb) {
                    CM_A a;
                    CM_B b;
                    CM_LOAD(a, s16, L_OFF + rb * 16 * LS + kk * 16, LS, CM_ROWS);
                    CM_LOAD(b, s16, M_OFF + kk * 16 * LS + cb * 16, LS, CM_ROWS);
                    m2[e] = CM_MMA(a, b, m2[e]);
                }
            }
        }
        barrier();
        [[unroll]] for (uint e = 0; e < TM2; ++e) {
            const uint id = sg + NSG * e, rb = id / CB, cb = id % CB;
            CM_STORE(ACC16(m2[e]), s16, M_OFF + rb * 16 * LS + cb * 16, LS, CM_ROWS);
        }
    }

    for (uint s = 0; s < NS; ++s) {
        const bool is_w = s < NWS;
        const uint c0 = (is_w ? s : s - NWS) * XW, D = is_w ? K : V;
        [[unroll]] for (uint e = 0; e < NR; ++e) {
            const uint x = lid + WG * e, t = x / (XW / 8), j = (x % (XW / 8)) * 8;
            if (x < C * XW / 8) {
                vec4 lo = vec4(unpackFloat2x16(xr[e].x), unpackFloat2x16(xr[e].y));
                vec4 hi = vec4(unpackFloat2x16(xr[e].z), unpackFloat2x16(xr[e].w));
                if (RWKV7 && is_w) { // a = -kappa
                    lo = -lo;
                    hi = -hi;
                }
                const vec4 a = is_w ? lo * exp(ga[e]) : lo, b = is_w ? hi * exp(gb[e]) : hi;
                if (!DPLR && is_w && t < n && c0 + j < D) // K̂, straight to memory
                    kh4[(G_ROW(t) + c0 + j) / 8] =
                        uvec4(packFloat2x16(f16vec2((lo * exp(la[e] - ga[e])).xy)),
                              packFloat2x16(f16vec2((lo * exp(la[e] - ga[e])).zw)),
                              packFloat2x16(f16vec2((hi * exp(lb[e] - gb[e])).xy)),
                              packFloat2x16(f16vec2((hi * exp(lb[e] - gb[e])).zw)));
                [[unroll]] for (uint c = 0; c < 4; ++c) {
                    s16[S_OFF + t * SS + j + c] = float16_t(a[c]);
                    s16[S_OFF + t * SS + j + 4 + c] = float16_t(b[c]);
                }
            }
        }
        barrier(); // (the first time: L' [and L A_ak] written, and every read of TRI done)
        if (s + 1 < NS)
            LOAD_SLICE(s + 1)
        const uint TW = CB * (XW / 16) / NSG;
        const uint LEFT = DPLR && !is_w ? M_OFF : L_OFF; // U = (L A_ak) V for DPLR
        ACC32 acc[TW];
        [[unroll]] for (uint e = 0; e < TW; ++e) {
            const uint id = sg + NSG * e, rb = id / (XW / 16), cb = id % (XW / 16);
            acc[e] = ACC32(0.0);
            [[unroll]] for (uint kk = 0; kk <= rb; ++kk) { // both left factors lower triangular
                CM_A a;
                CM_B b;
                CM_LOAD(a, s16, LEFT + rb * 16 * LS + kk * 16, LS, CM_ROWS);
                CM_LOAD(b, s16, S_OFF + kk * 16 * SS + cb * 16, SS, CM_ROWS);
                acc[e] = CM_MMA(a, b, acc[e]);
            }
            CM_STORE(acc[e], s_f32, rb * 16 * MS + cb * 16, MS, CM_ROWS);
        }
        barrier();
        if (is_w) { // W in fp16, 8 columns per store
            [[unroll]] for (uint e = 0; e < (C * XW / 8 + WG - 1) / WG; ++e) {
                const uint x = lid + WG * e, t = x / (XW / 8), j = (x % (XW / 8)) * 8;
                if (x < C * XW / 8 && t < n && c0 + j < D) {
                    const uint b = t * MS + j;
                    w4[(G_ROW(t) + c0 + j) / 8] = PACK8_F16(s_f32, b);
                }
            }
        } else { // U in fp32
            [[unroll]] for (uint e = 0; e < (C * XW / 4 + WG - 1) / WG; ++e) {
                const uint x = lid + WG * e, t = x / (XW / 4), j = (x % (XW / 4)) * 4;
                if (x < C * XW / 4 && t < n && c0 + j < D)
                    u4[(((t0 + t) * pc.HV + hv) * V + c0 + j) / 4] =
                        vec4(s_f32[t * MS + j], s_f32[t * MS + j + 1], s_f32[t * MS + j + 2],
                             s_f32[t * MS + j + 3]);
            }
        }
        barrier();
    }
}
