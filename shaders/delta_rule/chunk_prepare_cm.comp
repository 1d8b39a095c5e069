#version 450
// Chunked delta rule, stage 1 of 3, on cooperative matrices (fp16 tensors). Same function as
// chunk_prepare.comp: one workgroup per (chunk, value head),
//   A = strictly_lower(diag(beta) K K^T) ⊙ exp(G_t - G_j)   (K K^T on cooperative matrices)
//   L = (I + A)^-1                                           (fp32, tri_inverse.glsl)
//   W = (L diag(beta exp(G))) K,  U = (L diag(beta)) V       (the row scales of K and V are
//                                                             folded into L's columns)
// K and V go through shared memory in slices of KT columns, 16 bytes per load with all of an
// invocation's loads in flight (loading matrix blocks straight from memory, row by row with a
// stride of H*K halves, measured slower on the H100), zero-padded past the chunk's end.
//
// Preconditions (src/ops/delta_rule/delta_rule.c): K, V multiples of 16; C a multiple of 16;
// KT = 64; (C/16)^2 and (C/16)(KT/16) multiples of NSG; subgroups of 32.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint C = 64;
layout(constant_id = 1) const uint K = 128;
layout(constant_id = 2) const uint V = 128;
layout(constant_id = 3) const uint KT = 64;
layout(constant_id = 4) const bool USE_G = false;
layout(constant_id = 5) const uint WG = 256;
layout(local_size_x_id = 5) in;

#include "io.glsl"
#include "coopmat.glsl"

layout(push_constant) uniform Push {
    uint H;
    uint HV;
} pc;

// fp16 tensors are read and written 8 halves at a time, through uvec4 views
layout(std430, binding = 0) readonly buffer Kb4 { uvec4 k4[]; };
layout(std430, binding = 1) readonly buffer Vb4 { uvec4 v4[]; };
layout(std430, binding = 2) readonly buffer Beta { IO_T beta[]; };
layout(std430, binding = 3) readonly buffer Gb { IO_T g[]; };
layout(std430, binding = 4) writeonly buffer Wb4 { uvec4 w4[]; };
layout(std430, binding = 5) writeonly buffer Ub4 { uvec4 u4[]; };
layout(std430, binding = 6) writeonly buffer Gc { float g_cum[]; };
layout(std430, binding = 7) readonly buffer Table { int chunk_table[]; };

const uint CB = C / 16, XB = KT / 16;
const uint TA = CB * CB / NSG; // blocks of A per subgroup

// fp16: [L diag(beta exp(G)) | L diag(beta) | slice (an input slice, then its output)]
const uint LW_OFF = 0, LU_OFF = C * C, X_OFF = 2 * C * C;
shared float16_t s16[X_OFF + C * KT];
shared float s_m[C * C];       // A^T (upper triangle), then L (lower triangle)
shared float s_tt[(C / 16 - 1) * 256];
shared float s_g[C];
shared float s_b[C];

#define TRI(r, c) s_m[(r) * C + (c)]
#define TT(e) s_tt[e]
#include "tri_inverse.glsl"

void main()
{
    const uint lid = gl_LocalInvocationID.x, sg = gl_SubgroupID;
    const uint chunk = gl_WorkGroupID.x, hv = gl_WorkGroupID.y;
    const uint h = hv / (pc.HV / pc.H);
    const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);
#define T_OK(t) ((t) < n)
#define K_ROW(t) (((t0 + (t)) * pc.H + h) * K)
#define W_ROW(t) (((t0 + (t)) * pc.HV + hv) * K)
#define V_ROW(t) (((t0 + (t)) * pc.HV + hv) * V)

    for (uint t = lid; t < C; t += WG) {
        const uint a = (t0 + t) * pc.HV + hv;
        s_b[t] = t < n ? float(beta[a]) : 0.0;
        s_g[t] = (USE_G && t < n) ? float(g[a]) : 0.0;
    }
    barrier();
    if (USE_G) {
        if (lid == 0) {
            float acc = 0.0;
            for (uint t = 0; t < C; ++t) {
                acc += s_g[t];
                s_g[t] = acc;
            }
        }
        barrier();
        for (uint t = lid; t < n; t += WG)
            g_cum[(t0 + t) * pc.HV + hv] = s_g[t];
    }

    // ---- A = K K^T ----------------------------------------------------------------------------
    ACC32 acc_a[TA];
    [[unroll]] for (uint e = 0; e < TA; ++e) acc_a[e] = ACC32(0.0);
    for (uint k0 = 0; k0 < K; k0 += KT) {
        STAGE_F16(s16, X_OFF, k4, C, T_OK, K_ROW, KT, K, k0, ONE)
        barrier();
        [[unroll]] for (uint e = 0; e < TA; ++e) {
            const uint id = sg + NSG * e, rb = id / CB, cb = id % CB;
            [[unroll]] for (uint kk = 0; kk < XB; ++kk) {
                MAT16 a, b;
                coopMatLoadNV(a, s16, X_OFF + rb * 16 * KT + kk * 16, KT, false);
                coopMatLoadNV(b, s16, X_OFF + cb * 16 * KT + kk * 16, KT, true);
                acc_a[e] = coopMatMulAddNV(a, b, acc_a[e]);
            }
        }
        barrier();
    }
    // transposed into s_m: A[t][j] lands at TRI(j, t)
    [[unroll]] for (uint e = 0; e < TA; ++e) {
        const uint id = sg + NSG * e, rb = id / CB, cb = id % CB;
        coopMatStoreNV(acc_a[e], s_m, cb * 16 * C + rb * 16, C, true);
    }
    barrier();
    for (uint idx = lid; idx < C * C; idx += WG) {
        const uint j = idx / C, t = idx % C;
        if (j < t) {
            float a = s_b[t] * TRI(j, t);
            if (USE_G)
                a *= exp(s_g[t] - s_g[j]);
            TRI(j, t) = a;
        }
    }
    barrier();

    // ---- L = (I + A)^-1; its columns scaled, in fp16 ------------------------------------------
    tri_inverse(lid);
    for (uint idx = lid; idx < C * C; idx += WG) {
        const uint r = idx / C, c = idx % C;
        const float l = TRI_L(r, c) * s_b[c];
        s16[LW_OFF + idx] = float16_t(USE_G ? l * exp(s_g[c]) : l);
        s16[LU_OFF + idx] = float16_t(l);
    }
    barrier();

    // ---- W = L' K, U = L'' V --------------------------------------------------------------------
    const uint TW = CB * XB / NSG; // blocks of a slice per subgroup
    for (uint pass = 0; pass < 2; ++pass) {
        const uint D = pass == 0 ? K : V;
        for (uint c0 = 0; c0 < D; c0 += KT) {
            if (pass == 0)
                STAGE_F16(s16, X_OFF, k4, C, T_OK, K_ROW, KT, K, c0, ONE)
            else
                STAGE_F16(s16, X_OFF, v4, C, T_OK, V_ROW, KT, V, c0, ONE)
            barrier();
            MAT16 res[TW];
            [[unroll]] for (uint e = 0; e < TW; ++e) {
                const uint id = sg + NSG * e, rb = id / XB, cb = id % XB;
                ACC32 acc = ACC32(0.0);
                [[unroll]] for (uint kk = 0; kk < CB; ++kk) {
                    MAT16 a, b;
                    coopMatLoadNV(a, s16, (pass == 0 ? LW_OFF : LU_OFF) + rb * 16 * C + kk * 16,
                                  C, false);
                    coopMatLoadNV(b, s16, X_OFF + kk * 16 * KT + cb * 16, KT, false);
                    acc = coopMatMulAddNV(a, b, acc);
                }
                res[e] = MAT16(acc);
            }
            barrier(); // every subgroup is done reading the slice: the results replace it
            [[unroll]] for (uint e = 0; e < TW; ++e) {
                const uint id = sg + NSG * e, rb = id / XB, cb = id % XB;
                coopMatStoreNV(res[e], s16, X_OFF + rb * 16 * KT + cb * 16, KT, false);
            }
            barrier();
            [[unroll]] for (uint e = 0; e < (C * KT / 8 + WG - 1) / WG; ++e) {
                const uint v8 = lid + e * WG;
                const uint t = v8 / (KT / 8), j = (v8 % (KT / 8)) * 8;
                if (v8 < C * KT / 8 && t < n && c0 + j < D) {
                    const uint b = X_OFF + t * KT + j;
                    const uvec4 x = uvec4(packFloat2x16(f16vec2(s16[b], s16[b + 1])),
                                          packFloat2x16(f16vec2(s16[b + 2], s16[b + 3])),
                                          packFloat2x16(f16vec2(s16[b + 4], s16[b + 5])),
                                          packFloat2x16(f16vec2(s16[b + 6], s16[b + 7])));
                    if (pass == 0)
                        w4[(W_ROW(t) + c0 + j) / 8] = x;
                    else
                        u4[(V_ROW(t) + c0 + j) / 8] = x;
                }
            }
            barrier();
        }
    }
}
