#version 450
// Chunked delta rule, stage 1 of 3: everything inside one chunk that does not need the state.
// One workgroup per (chunk, value head):
//   G   = inclusive cumulative sum of g over the chunk (0 when ungated)       -> g_cum
//   A   = strictly_lower(diag(beta) K K^T) ⊙ exp(G_t - G_j)
//   L   = (I + A)^-1, by blocks of 16 (tri_inverse.glsl)
//   W   = L (beta exp(G) ⊙ K),  U = L (beta ⊙ V)                            -> w, u
// See chunk_common.glsl for the whole algorithm.
//
// Preconditions (src/ops/delta_rule/delta_rule.c): C in {16, 32, 64}; KT a multiple of GN
// (slices are zero-padded: K and V need not be multiples of KT); C % (WG/GN) == 0.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "chunk_prepare.h"

layout(constant_id = DELTA_RULE_CHUNK_PREPARE_SPEC_C) const uint C = 64;   // chunk size
layout(constant_id = DELTA_RULE_CHUNK_PREPARE_SPEC_K) const uint K = 128;
layout(constant_id = DELTA_RULE_CHUNK_PREPARE_SPEC_V) const uint V = 128;
layout(constant_id = DELTA_RULE_CHUNK_PREPARE_SPEC_KT) const uint KT = 32;
layout(constant_id = DELTA_RULE_CHUNK_PREPARE_SPEC_USE_G) const bool USE_G = false;
layout(constant_id = DELTA_RULE_CHUNK_PREPARE_SPEC_WG) const uint WG = 256;
layout(constant_id = DELTA_RULE_CHUNK_PREPARE_SPEC_GN) const uint GN = 16;
layout(local_size_x_id = DELTA_RULE_CHUNK_PREPARE_SPEC_WG) in;

#include "io.glsl"
#include "chunk_common.glsl"

layout(std430, binding = DELTA_RULE_CHUNK_PREPARE_BIND_K) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = DELTA_RULE_CHUNK_PREPARE_BIND_V) readonly buffer Vb { IO_T v[]; };
layout(std430, binding = DELTA_RULE_CHUNK_PREPARE_BIND_BETA) readonly buffer Beta { IO_T beta[]; };
layout(std430, binding = DELTA_RULE_CHUNK_PREPARE_BIND_G) readonly buffer Gb { IO_T g[]; };
layout(std430, binding = DELTA_RULE_CHUNK_PREPARE_BIND_W) writeonly buffer Wb { IO_T w[]; };
layout(std430, binding = DELTA_RULE_CHUNK_PREPARE_BIND_U) writeonly buffer Ub { IO_T u[]; };
layout(std430, binding = DELTA_RULE_CHUNK_PREPARE_BIND_G_CUM)
    writeonly buffer Gc { float g_cum[]; };
layout(std430, binding = DELTA_RULE_CHUNK_PREPARE_BIND_TABLE)
    readonly buffer Table { int chunk_table[]; };

const uint LS = C + 1;   // row stride of C x C matrices (padding avoids bank conflicts)
const uint XS = KT + 1;  // row stride of a staged slice
const uint X_OFF = C * LS, TT_OFF = X_OFF + C * XS, G_OFF = TT_OFF + (C / 16 - 1) * 256;
const uint B_OFF = G_OFF + C;
shared float smem[B_OFF + C]; // [A^T and L | slice | solver scratch | G | beta]

#define L_AT(t, m) smem[(t) * LS + (m)]
#define X_AT(m, c) smem[X_OFF + (m) * XS + (c)]
#define X_ROW(t, i) smem[X_OFF + (t) * XS + (i)]
#define TRI(r, c) smem[(r) * LS + (c)]
#define TT(e) smem[TT_OFF + (e)]
#include "tri_inverse.glsl"

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint tr = lid / GN, tc = lid % GN;
    const uint chunk = gl_WorkGroupID.x, hv = gl_WorkGroupID.y;
    const uint h = hv / (pc.HV / pc.H);
    const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);

    for (uint t = lid; t < C; t += WG) {
        const uint a = (t0 + t) * pc.HV + hv;
        smem[B_OFF + t] = t < n ? float(beta[a]) : 0.0;
        smem[G_OFF + t] = (USE_G && t < n) ? float(g[a]) : 0.0;
    }
    barrier();
    if (USE_G) { // C <= 64 additions: one invocation is quickest
        if (lid == 0) {
            float acc = 0.0;
            for (uint t = 0; t < C; ++t) {
                acc += smem[G_OFF + t];
                smem[G_OFF + t] = acc;
            }
        }
        barrier();
        for (uint t = lid; t < n; t += WG)
            g_cum[(t0 + t) * pc.HV + hv] = smem[G_OFF + t];
    }

    // ---- A = K K^T, accumulated over slices of K --------------------------------------------
    const uint TM = C / GM, TNA = C / GN;
    float acc_a[TM * TNA];
    [[unroll]] for (uint e = 0; e < TM * TNA; ++e) acc_a[e] = 0.0;
    for (uint k0 = 0; k0 < K; k0 += KT) {
        for (uint idx = lid; idx < C * KT; idx += WG) {
            const uint t = idx / KT, i = idx % KT;
            X_ROW(t, i) = (t < n && k0 + i < K) ? float(k[((t0 + t) * pc.H + h) * K + k0 + i]) : 0.0;
        }
        barrier();
#define KA(row, kk) X_ROW(row, kk)
        BLOCK_MMA(acc_a, TM, TNA, KT, KA, KA)
#undef KA
        barrier();
    }
    // A, transposed into the upper triangle (A[t][j] at TRI(j, t), j < t)
    [[unroll]] for (uint x = 0; x < TM; ++x) {
        const uint t = tr + GM * x;
        [[unroll]] for (uint y = 0; y < TNA; ++y) {
            const uint j = tc + GN * y;
            if (j < t) {
                float a = smem[B_OFF + t] * acc_a[x * TNA + y];
                if (USE_G)
                    a *= exp(smem[G_OFF + t] - smem[G_OFF + j]);
                TRI(j, t) = a;
            }
        }
    }
    barrier();

    // ---- L = (I + A)^-1 into the lower triangle; then the whole array is L ------------------
    tri_inverse(lid);
    for (uint idx = lid; idx < C * C; idx += WG) {
        const uint r = idx / C, c = idx % C;
        if (r <= c)
            L_AT(r, c) = r == c ? 1.0 : 0.0;
    }
    barrier();

    // ---- W = L (beta gamma ⊙ K), U = L (beta ⊙ V), slice by slice ---------------------------
    const uint TN = KT / GN;
    for (uint pass = 0; pass < 2; ++pass) {
        const uint D = pass == 0 ? K : V;
        for (uint c0 = 0; c0 < D; c0 += KT) {
            for (uint idx = lid; idx < C * KT; idx += WG) {
                const uint t = idx / KT, i = idx % KT;
                float x = 0.0;
                if (t < n && c0 + i < D) {
                    float scale = smem[B_OFF + t];
                    if (pass == 0) {
                        if (USE_G)
                            scale *= exp(smem[G_OFF + t]);
                        x = float(k[((t0 + t) * pc.H + h) * K + c0 + i]);
                    } else {
                        x = float(v[((t0 + t) * pc.HV + hv) * V + c0 + i]);
                    }
                    x *= scale;
                }
                X_ROW(t, i) = x;
            }
            barrier();
            float acc[TM * TN];
            [[unroll]] for (uint e = 0; e < TM * TN; ++e) acc[e] = 0.0;
#define LA(row, m) L_AT(row, m)
#define XB(col, m) X_AT(m, col)
            BLOCK_MMA(acc, TM, TN, C, LA, XB)
#undef LA
#undef XB
            [[unroll]] for (uint x = 0; x < TM; ++x) {
                const uint t = tr + GM * x;
                [[unroll]] for (uint y = 0; y < TN; ++y) {
                    const uint c = c0 + tc + GN * y;
                    if (t < n && c < D) {
                        if (pass == 0)
                            w[((t0 + t) * pc.HV + hv) * K + c] = IO_T(acc[x * TN + y]);
                        else
                            u[((t0 + t) * pc.HV + hv) * V + c] = IO_T(acc[x * TN + y]);
                    }
                }
            }
            barrier();
        }
    }
}
