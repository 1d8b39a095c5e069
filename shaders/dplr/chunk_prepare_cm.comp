#version 450
// Chunked KDA, stage 1 of 3, on cooperative matrices (fp16 tensors). Same function as
// chunk_prepare.comp without DPLR: one workgroup per (chunk, head),
//   A = diag(beta) Gram_<(k, k; G);   L = (I + A)^-1          (fp32, tri_inverse.glsl)
//   W = (L diag(beta)) (exp(G) ⊙ K) -> w (fp16),   U = (L diag(beta)) V -> u (fp32)
//   K̂ = exp(G_C - G) ⊙ K -> kh (fp16; G_C the chunk's last token's G), for chunk_state_cm
// The strictly lower decayed Gram matrix is split as in chunk_output_cm.comp: its six
// off-diagonal 16 x 16 blocks are products of pre-scaled fp16 operands (both decay factors
// <= 1), its four diagonal blocks take exact exponents in fp32 FMAs. K is staged KT channels
// per step, loaded a step ahead; then exp(G) ⊙ K and V pass through shared memory in slices
// of 64 columns, each loaded while the slice before computes. Shared rows are padded.
//
// Preconditions (src/ops/dplr/chunk.c): fp16 k, v; C = 64; K, V multiples of 16; KT = 16;
// WG = 256 (8 subgroups of 32).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint C = 64;
layout(constant_id = 1) const uint K = 128;
layout(constant_id = 2) const uint V = 128;
layout(constant_id = 3) const uint KT = 16;
layout(constant_id = 4) const uint WG = 256;
layout(constant_id = 5) const bool BETA_SIGMOID = false;
layout(local_size_x_id = 4) in;

#include "io.glsl"
#include "coopmat.glsl"

layout(push_constant) uniform Push {
    uint H;
    uint HV;
} pc;

// the binding numbers of chunk_prepare.comp (b is not read here)
layout(std430, binding = 0) readonly buffer Kb4 { uvec4 k4[]; };
layout(std430, binding = 1) readonly buffer Vb4 { uvec4 v4[]; };
layout(std430, binding = 2) readonly buffer Beta { IO_T beta[]; };
layout(std430, binding = 4) readonly buffer Gc4 { vec4 g4[]; };
layout(std430, binding = 5) writeonly buffer Wb4 { uvec4 w4[]; };
layout(std430, binding = 6) writeonly buffer Ub4 { vec4 u4[]; };
layout(std430, binding = 7) readonly buffer Table { int chunk_table[]; };
layout(std430, binding = 8) writeonly buffer Kh4 { uvec4 kh4[]; };

const uint CB = C / 16;
const uint NKS = K / KT; // Gram steps
const uint XW = 64;      // columns of a W or U slice
const uint NWS = (K + XW - 1) / XW, NUS = (V + XW - 1) / XW;

// fp16. Gram steps (row stride XS): raw k, YT, the rows of XT_0, XT_1, XT_2 (48 + 32 + 16).
// Afterwards: L diag(beta) (stride LS) and a slice (stride SS).
const uint XS = KT + CM_PAD, LS = C + CM_PAD, SS = XW + CM_PAD;
const uint KR_OFF = 0, YT_OFF = C * XS, XT_OFF = 2 * C * XS;
const uint L_OFF = 0, S_OFF = C * LS;
const uint P1_16 = XT_OFF + 96 * XS, P2_16 = S_OFF + C * SS;
shared float16_t s16[P1_16 > P2_16 ? P1_16 : P2_16]; // spec-constant max()
// fp32: G during the Gram steps (stride GS); then A^T / L (stride MS) and the solver's scratch;
// then a W or U slice on its way out (stride MS).
const uint GS = KT + CM_PAD / 2, MS = C + CM_PAD / 2;
const uint TT_OFF = C * MS;
shared float s_f32[TT_OFF + (C / 16 - 1) * 256];
shared float s_b[C];

#define TRI(r, c) s_f32[(r) * MS + (c)]
#define TT(e) s_f32[TT_OFF + (e)]
#include "tri_inverse.glsl"

uint xt_row(uint q, uint t) { return (q == 0 ? 0 : q == 1 ? 48 : 80) + t - 16 * (q + 1); }

void main()
{
    const uint lid = gl_LocalInvocationID.x, sg = gl_SubgroupID;
    const uint chunk = gl_WorkGroupID.x, hv = gl_WorkGroupID.y;
    const uint h = hv / (pc.HV / pc.H);
    const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);
#define K_ROW(t) (((t0 + (t)) * pc.H + h) * K)
#define G_ROW(t) (((t0 + (t)) * pc.HV + hv) * K)

    // This invocation's part of a Gram step: k 8 channels (lid < C * KT / 8); G and the scaled
    // operands 4 channels of row gt.
    const uint qt = lid / (KT / 8), qj = (lid % (KT / 8)) * 8;
    const uint gt = lid / (KT / 4), gj = (lid % (KT / 4)) * 4;
    uvec4 kr = uvec4(0);
    vec4 gr = vec4(0.0);
#define LOAD_STEP(k0)                                                                             \
    {                                                                                             \
        kr = uvec4(0);                                                                            \
        if (lid < C * KT / 8 && qt < n)                                                           \
            kr = k4[(K_ROW(qt) + (k0) + qj) / 8];                                                 \
        gr = g4[(G_ROW(min(gt, n - 1)) + (k0) + gj) / 4]; /* past the end: the last token's G */ \
    }
    LOAD_STEP(0)
    for (uint t = lid; t < C; t += WG) {
        float x = t < n ? float(beta[(t0 + t) * pc.HV + hv]) : 0.0;
        if (BETA_SIGMOID && t < n)
            x = 1.0 / (1.0 + exp(-x));
        s_b[t] = x;
    }

    // the diagonal blocks' entries (t, j), j < t, of this invocation: 4 blocks x 120
    const uint ND = (4 * 120 + WG - 1) / WG;
    float acc_d[ND];
    uint d_t[ND], d_j[ND];
    [[unroll]] for (uint e = 0; e < ND; ++e) {
        acc_d[e] = 0.0;
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

    // ---- the decayed Gram matrix, KT channels per step --------------------------------------
    for (uint step = 0; step < NKS; ++step) {
        if (lid < C * KT / 8) {
            [[unroll]] for (uint c = 0; c < 4; ++c) {
                const f16vec2 a = unpackFloat2x16(kr[c]);
                s16[KR_OFF + qt * XS + qj + 2 * c] = a.x;
                s16[KR_OFF + qt * XS + qj + 2 * c + 1] = a.y;
            }
        }
        [[unroll]] for (uint c = 0; c < 4; ++c) s_f32[gt * GS + gj + c] = gr[c];
        barrier();
        if (step + 1 < NKS)
            LOAD_STEP((step + 1) * KT)
        { // the scaled operands of row gt, channels gj..gj+3
            const vec4 g = vec4(s_f32[gt * GS + gj], s_f32[gt * GS + gj + 1],
                                s_f32[gt * GS + gj + 2], s_f32[gt * GS + gj + 3]);
            const uint te = gt | 15u; // the end of the row's sub-chunk
            const vec4 ge = vec4(s_f32[te * GS + gj], s_f32[te * GS + gj + 1],
                                 s_f32[te * GS + gj + 2], s_f32[te * GS + gj + 3]);
            const vec4 kv = vec4(s16[KR_OFF + gt * XS + gj], s16[KR_OFF + gt * XS + gj + 1],
                                 s16[KR_OFF + gt * XS + gj + 2], s16[KR_OFF + gt * XS + gj + 3]);
            const vec4 yt = kv * exp(ge - g);
            [[unroll]] for (uint c = 0; c < 4; ++c)
                s16[YT_OFF + gt * XS + gj + c] = float16_t(yt[c]);
            [[unroll]] for (uint q = 0; q < 3; ++q) {
                if (gt >= 16 * (q + 1)) {
                    const uint m = 16 * q + 15;
                    const vec4 gm = vec4(s_f32[m * GS + gj], s_f32[m * GS + gj + 1],
                                         s_f32[m * GS + gj + 2], s_f32[m * GS + gj + 3]);
                    const vec4 xt = kv * exp(g - gm);
                    [[unroll]] for (uint c = 0; c < 4; ++c)
                        s16[XT_OFF + xt_row(q, gt) * XS + gj + c] = float16_t(xt[c]);
                }
            }
        }
        barrier();
        [[unroll]] for (uint e = 0; e < ND; ++e) { // the diagonal blocks, exactly
            if (lid + WG * e < 4 * 120) {
                const uint t = d_t[e], j = d_j[e];
                float s = 0.0;
                [[unroll]] for (uint c = 0; c < KT; ++c)
                    s += float(s16[KR_OFF + t * XS + c]) * float(s16[KR_OFF + j * XS + c]) *
                         exp(s_f32[t * GS + c] - s_f32[j * GS + c]);
                acc_d[e] += s;
            }
        }
        [[unroll]] for (uint kk = 0; kk < KT / 16; ++kk) {
            if (sg < 6) {
                MAT16 a, b;
                coopMatLoadNV(a, s16, XT_OFF + xt_row(qb, 16 * pb) * XS + kk * 16, XS, false);
                coopMatLoadNV(b, s16, YT_OFF + 16 * qb * XS + kk * 16, XS, true); // YT^T
                acc_a = coopMatMulAddNV(a, b, acc_a);
            }
        }
        barrier();
    }

    // ---- W = L' (exp(G) ⊙ K), U = L' V, slices of XW columns, the first loaded now ----------
    // slice s: W's columns [s XW, ...) for s < NWS, then U's; this invocation's part: 8 columns
    // of a row (and, for W, their G as two vec4s)
    const uint NS = NWS + NUS, NR = (C * XW / 8 + WG - 1) / WG;
    uvec4 xr[NR];
    vec4 ga[NR], gb[NR], la[NR], lb[NR]; // G, and G_C, of the 8 columns
#define LOAD_SLICE(s)                                                                             \
    {                                                                                             \
        const bool is_w = (s) < NWS;                                                              \
        const uint c0_ = (is_w ? (s) : (s) - NWS) * XW, D_ = is_w ? K : V;                        \
        [[unroll]] for (uint e = 0; e < NR; ++e) {                                                \
            const uint x = lid + WG * e, t = x / (XW / 8), j = (x % (XW / 8)) * 8;                \
            xr[e] = uvec4(0);                                                                     \
            ga[e] = gb[e] = la[e] = lb[e] = vec4(0.0);                                            \
            if (x < C * XW / 8 && t < n && c0_ + j < D_) {                                        \
                if (is_w) {                                                                       \
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

    // ---- A = diag(beta) Gram, transposed into the upper triangle; L = (I + A)^-1 ------------
    // A[t][j] lands at TRI(j, t): block (pb, qb) transposed; then each entry times beta_t
    if (sg < 6)
        coopMatStoreNV(acc_a, s_f32, 16 * qb * MS + 16 * pb, MS, true);
    [[unroll]] for (uint e = 0; e < ND; ++e)
        if (lid + WG * e < 4 * 120)
            TRI(d_j[e], d_t[e]) = acc_d[e];
    barrier();
    for (uint idx = lid; idx < C * C; idx += WG) {
        const uint j = idx / C, t = idx % C;
        if (j < t)
            TRI(j, t) *= s_b[t];
    }
    barrier();
    tri_inverse(lid);
    for (uint idx = lid; idx < C * C; idx += WG) { // L diag(beta), fp16
        const uint r = idx / C, c = idx % C;
        s16[L_OFF + r * LS + c] = float16_t(TRI_L(r, c) * s_b[c]);
    }

    for (uint s = 0; s < NS; ++s) {
        const bool is_w = s < NWS;
        const uint c0 = (is_w ? s : s - NWS) * XW, D = is_w ? K : V;
        [[unroll]] for (uint e = 0; e < NR; ++e) {
            const uint x = lid + WG * e, t = x / (XW / 8), j = (x % (XW / 8)) * 8;
            if (x < C * XW / 8) {
                const vec4 lo = vec4(unpackFloat2x16(xr[e].x), unpackFloat2x16(xr[e].y));
                const vec4 hi = vec4(unpackFloat2x16(xr[e].z), unpackFloat2x16(xr[e].w));
                const vec4 a = is_w ? lo * exp(ga[e]) : lo, b = is_w ? hi * exp(gb[e]) : hi;
                if (is_w && t < n && c0 + j < D) // K̂, straight to memory
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
        barrier(); // (the first time: L' written, and every read of TRI done)
        if (s + 1 < NS)
            LOAD_SLICE(s + 1)
        const uint TW = CB * (XW / 16) / NSG;
        ACC32 acc[TW];
        [[unroll]] for (uint e = 0; e < TW; ++e) {
            const uint id = sg + NSG * e, rb = id / (XW / 16), cb = id % (XW / 16);
            acc[e] = ACC32(0.0);
            [[unroll]] for (uint kk = 0; kk <= rb; ++kk) { // L' is lower triangular
                MAT16 a, b;
                coopMatLoadNV(a, s16, L_OFF + rb * 16 * LS + kk * 16, LS, false);
                coopMatLoadNV(b, s16, S_OFF + kk * 16 * SS + cb * 16, SS, false);
                acc[e] = coopMatMulAddNV(a, b, acc[e]);
            }
            coopMatStoreNV(acc[e], s_f32, rb * 16 * MS + cb * 16, MS, false);
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
