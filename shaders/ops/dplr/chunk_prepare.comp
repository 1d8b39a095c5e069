#version 450
// Chunked KDA and generalized delta rule, stage 1 of 3: everything inside one chunk that does
// not need the state. One workgroup per (chunk, head). With G the per-channel cumulative log
// decay inside the chunk (gate_cumsum.comp), G^- the same one token earlier (0 at the chunk's
// start), gamma = exp(G) and Gram_<(x, y; GR) the strictly lower decayed Gram matrix of
// decay_gram.glsl:
//
// KDA (DPLR = false), the delta rule with S' = Diag(exp(g_t)) S:
//   A = diag(beta) Gram_<(k, k; G);  L = (I + A)^-1
//   W = L (beta gamma ⊙ K)    -> w     U = L (beta ⊙ V)    -> u
// generalized rule (DPLR = true), S_t = Diag(exp(gk_t)) S + b_t (a_t^T S) + k_t v_t^T: the
// low-rank reads w_t = a_t^T S_{t-1} of the chunk solve (I - A_ab) Wr = (exp(G^-) ⊙ A) h + A_ak V,
//   A_ab = Gram_<(a, b; G^-),  A_ak = Gram_<(a, k; G^-),  L = (I - A_ab)^-1
//   W = L (exp(G^-) ⊙ A)      -> w     U = (L A_ak) V      -> u
// so that Wr = W h + U once the state h at the chunk's start is known (chunk_state.comp).
//
// Preconditions (src/ops/dplr/chunk.c): C in {16, 32, 64}; KT a multiple of GN; C % GM == 0
// with GM = WG / GN; g_cum rows of the chunk written by gate_cumsum.comp.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "chunk_prepare.h"

layout(constant_id = DPLR_CHUNK_PREPARE_SPEC_C) const uint C = 64;
layout(constant_id = DPLR_CHUNK_PREPARE_SPEC_K) const uint K = 128;
layout(constant_id = DPLR_CHUNK_PREPARE_SPEC_V) const uint V = 128;
layout(constant_id = DPLR_CHUNK_PREPARE_SPEC_KT) const uint KT = 16;
layout(constant_id = DPLR_CHUNK_PREPARE_SPEC_DPLR) const bool DPLR = false;
layout(constant_id = DPLR_CHUNK_PREPARE_SPEC_WG) const uint WG = 256;
layout(constant_id = DPLR_CHUNK_PREPARE_SPEC_GN) const uint GN = 16;
layout(constant_id = DPLR_CHUNK_PREPARE_SPEC_BETA_SIGMOID) const bool BETA_SIGMOID = false;
layout(constant_id = DPLR_CHUNK_PREPARE_SPEC_RWKV7) const bool RWKV7 = false;
layout(local_size_x_id = DPLR_CHUNK_PREPARE_SPEC_WG) in;

#include "io.glsl"
#include "block_mma.glsl"

layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_K) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_V) readonly buffer Vb { IO_T v[]; };
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_BETA) readonly buffer Beta { IO_T beta[]; };
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_B) readonly buffer Bb { IO_T b_in[]; };
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_G_CUM) readonly buffer Gc { float g_cum[]; };
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_W) writeonly buffer Wb { float w[]; };
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_U) writeonly buffer Ub { float u[]; };
layout(std430, binding = DPLR_CHUNK_PREPARE_BIND_TABLE)
    readonly buffer Table { int chunk_table[]; };

// Shared memory: while the Gram matrices accumulate, staged slices (phase 1); afterwards the
// triangular solve and the W, U products (phase 2) reuse the same words.
const uint XS = KT + 1, CS = C * XS, LS = C + 1;
const uint NB_ = C / 16;
// phase 1: raw x (k, or a), G, [raw b, raw k,] scaled columns, scaled row copies
const uint XR_OFF = 0, GA_OFF = CS, YR_OFF = 2 * CS, ZR_OFF = 3 * CS;
const uint YT_OFF = (DPLR ? 4 : 2) * CS, ZT_OFF = YT_OFF + CS;
const uint XT_OFF = YT_OFF + (DPLR ? 2 : 1) * CS;
const uint P1_SIZE = XT_OFF + (NB_ - 1) * CS;
// phase 2: A^T and L, solver scratch, [L A_ak,] a staged slice
const uint TRI_OFF = 0, TT_OFF = C * LS, M2_OFF = TT_OFF + (NB_ - 1) * 256;
const uint SL_OFF = M2_OFF + (DPLR ? C * LS : 0);
const uint P2_SIZE = SL_OFF + CS;
const uint BETA_OFF = P1_SIZE > P2_SIZE ? P1_SIZE : P2_SIZE; // spec-constant max()
shared float smem[BETA_OFF + C];

#define XR(t, c) smem[XR_OFF + (t) * XS + (c)]
#define GA(t, c) smem[GA_OFF + (t) * XS + (c)]
#define YR(t, c) smem[YR_OFF + (t) * XS + (c)]
#define ZR(t, c) smem[ZR_OFF + (t) * XS + (c)]
#define YT(t, c) smem[YT_OFF + (t) * XS + (c)]
#define ZT(t, c) smem[ZT_OFF + (t) * XS + (c)]
#define XT(q, t, c) smem[XT_OFF + (q) * CS + (t) * XS + (c)]
// the row side's cumulative decay: G for KDA, G^- (one token earlier) for the a-side of DPLR
#define GROW(t, c) (DPLR ? ((t) > 0 ? GA((t) - 1, c) : 0.0) : GA(t, c))
#define TRI(r, c) smem[TRI_OFF + (r) * LS + (c)]
#define TT(e) smem[TT_OFF + (e)]
#define M2(r, c) smem[M2_OFF + (r) * LS + (c)]
#define SL(t, c) smem[SL_OFF + (t) * XS + (c)]

#include "decay_gram.glsl"
#include "tri_inverse.glsl"

// The generalized rule's a and b at element e of a [B,T,H,K] tensor (RWKV-7: formed from
// kappa and alpha).
void load_ab(uint e, out float a, out float b)
{
    a = float(beta[e]);
    b = float(b_in[e]);
    if (RWKV7) {
        b *= a;
        a = -a;
    }
}

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint tr = lid / GN, tc = lid % GN;
    const uint chunk = gl_WorkGroupID.x, hv = gl_WorkGroupID.y;
    const uint h = hv / (pc.HV / pc.H);
    const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);

    if (!DPLR) {
        for (uint t = lid; t < C; t += WG) {
            float x = t < n ? float(beta[(t0 + t) * pc.HV + hv]) : 0.0;
            if (BETA_SIGMOID && t < n)
                x = 1.0 / (1.0 + exp(-x));
            smem[BETA_OFF + t] = x;
        }
    }

    // ---- the decayed Gram matrices, slice by slice of key channels --------------------------
    const uint TM = C / GM, TNA = C / GN;
    float acc1[TM * TNA], acc2[TM * TNA];
    [[unroll]] for (uint e = 0; e < TM * TNA; ++e) {
        acc1[e] = 0.0;
        acc2[e] = 0.0;
    }
    for (uint k0 = 0; k0 < K; k0 += KT) {
        for (uint idx = lid; idx < C * KT; idx += WG) {
            const uint t = idx / KT, i = idx % KT, ch = k0 + i;
            const bool ok = t < n && ch < K;
            const uint tg = min(t, n - 1); // past the end: the last token's G (no more decay)
            GA(t, i) = ch < K ? g_cum[((t0 + tg) * pc.HV + hv) * K + ch] : 0.0;
            const uint e = ((t0 + t) * pc.H + h) * K + ch;
            const float kv = ok ? float(k[e]) : 0.0;
            if (DPLR) {
                float av = 0.0, bv = 0.0;
                if (ok)
                    load_ab(e, av, bv);
                XR(t, i) = av;
                YR(t, i) = bv;
                ZR(t, i) = kv;
            } else {
                XR(t, i) = kv;
            }
        }
        barrier();
        if (DPLR) {
            DGRAM_SCALE_COLUMNS(YT, YR)
            DGRAM_SCALE_COLUMNS(ZT, ZR)
        } else {
            DGRAM_SCALE_COLUMNS(YT, XR)
        }
        DGRAM_SCALE_ROWS(XT, XR, GROW)
        barrier();
        if (DPLR) {
            DGRAM_ACCUMULATE(acc1, TM, TNA, true, XR, YR, XT, YT, GROW)
            DGRAM_ACCUMULATE(acc2, TM, TNA, true, XR, ZR, XT, ZT, GROW)
        } else {
            DGRAM_ACCUMULATE(acc1, TM, TNA, true, XR, XR, XT, YT, GROW)
        }
        barrier();
    }

    // A (KDA: diag(beta) Gram; DPLR: -A_ab) transposed into the upper triangle for
    // tri_inverse; DPLR keeps A_ak aside.
    [[unroll]] for (uint x = 0; x < TM; ++x) {
        const uint t = tr + GM * x;
        [[unroll]] for (uint y = 0; y < TNA; ++y) {
            const uint j = tc + GN * y;
            if (j < t)
                TRI(j, t) = DPLR ? -acc1[x * TNA + y] : smem[BETA_OFF + t] * acc1[x * TNA + y];
            if (DPLR)
                M2(t, j) = j < t ? acc2[x * TNA + y] : 0.0;
        }
    }
    barrier();

    // ---- L = (I + A)^-1 into the lower triangle; then the whole array is L ------------------
    tri_inverse(lid);
    for (uint idx = lid; idx < C * C; idx += WG) {
        const uint r = idx / C, c = idx % C;
        if (r <= c)
            TRI(r, c) = r == c ? 1.0 : 0.0;
    }
    barrier();

    if (DPLR) { // M2 = L A_ak
        float accm[TM * TNA];
        [[unroll]] for (uint e = 0; e < TM * TNA; ++e) accm[e] = 0.0;
#define LA(row, m) TRI(row, m)
#define AKB(col, m) M2(m, col)
        BLOCK_MMA(accm, TM, TNA, C, LA, AKB)
#undef AKB
        barrier();
        [[unroll]] for (uint x = 0; x < TM; ++x)
            [[unroll]] for (uint y = 0; y < TNA; ++y)
                M2(tr + GM * x, tc + GN * y) = accm[x * TNA + y];
        barrier();
#undef LA
    }

    // ---- W (pass 0, K columns) and U (pass 1, V columns), slice by slice ---------------------
    const uint TN = KT / GN;
    for (uint pass = 0; pass < 2; ++pass) {
        const uint D = pass == 0 ? K : V;
        for (uint c0 = 0; c0 < D; c0 += KT) {
            for (uint idx = lid; idx < C * KT; idx += WG) {
                const uint t = idx / KT, i = idx % KT, ch = c0 + i;
                float x = 0.0;
                if (t < n && ch < D) {
                    const uint tok = t0 + t;
                    if (pass == 0) {
                        const uint e = (tok * pc.H + h) * K + ch;
                        const uint ge = (tok * pc.HV + hv) * K + ch;
                        if (DPLR) { // exp(G^-) ⊙ a
                            float av, bv;
                            load_ab(e, av, bv);
                            x = t > 0 ? av * exp(g_cum[ge - pc.HV * K]) : av;
                        } else {    // beta gamma ⊙ k
                            x = smem[BETA_OFF + t] * float(k[e]) * exp(g_cum[ge]);
                        }
                    } else {
                        x = float(v[(tok * pc.HV + hv) * V + ch]);
                        if (!DPLR)
                            x *= smem[BETA_OFF + t];
                    }
                }
                SL(t, i) = x;
            }
            barrier();
            float acc[TM * TN];
            [[unroll]] for (uint e = 0; e < TM * TN; ++e) acc[e] = 0.0;
#define XB(col, m) SL(m, col)
            if (DPLR && pass == 1) {
#define MA(row, m) M2(row, m)
                BLOCK_MMA(acc, TM, TN, C, MA, XB)
#undef MA
            } else {
#define LA(row, m) TRI(row, m)
                BLOCK_MMA(acc, TM, TN, C, LA, XB)
#undef LA
            }
#undef XB
            [[unroll]] for (uint x = 0; x < TM; ++x) {
                const uint t = tr + GM * x;
                [[unroll]] for (uint y = 0; y < TN; ++y) {
                    const uint c = c0 + tc + GN * y;
                    if (t < n && c < D) {
                        if (pass == 0)
                            w[((t0 + t) * pc.HV + hv) * K + c] = acc[x * TN + y];
                        else
                            u[((t0 + t) * pc.HV + hv) * V + c] = acc[x * TN + y];
                    }
                }
            }
            barrier();
        }
    }
}
