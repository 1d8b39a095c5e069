#version 450
// Chunked delta rule, stage 1 of 3, on cooperative matrices (fp16 tensors). Same function as
// chunk_prepare.comp: one workgroup per (chunk, value head),
//   A = strictly_lower(diag(beta) K K^T) ⊙ exp(G_t - G_j)   (K K^T on cooperative matrices)
//   L = (I + A)^-1                                           (fp32, tri_inverse.glsl)
//   W = (L diag(beta exp(G))) K,  U = (L diag(beta)) V       (the row scales of K and V are
//                                                             folded into L's columns)
// K and V pass through shared memory as a stream of slices of KT columns: K's slices for
// K K^T, K's again for W (not reloaded when K fits one slice), then V's for U. Each slice is
// loaded into registers, 16 bytes per load, while the one before it computes, so only the first
// load of a chunk waits on memory (loading each slice when it was needed cost 0.45 ms of the
// stage's 1.25 at 4,4096,16,128 on the H100). Rows past the chunk's end are zeros.
//
// Preconditions (src/ops/delta_rule/delta_rule.c): K, V multiples of 16; C a multiple of 16;
// KT a multiple of 16; (C/16)^2 a multiple of NSG; subgroups of 32.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "chunk_prepare.h"

layout(constant_id = DELTA_RULE_CHUNK_PREPARE_CM_SPEC_C) const uint C = 64;
layout(constant_id = DELTA_RULE_CHUNK_PREPARE_CM_SPEC_K) const uint K = 128;
layout(constant_id = DELTA_RULE_CHUNK_PREPARE_CM_SPEC_V) const uint V = 128;
layout(constant_id = DELTA_RULE_CHUNK_PREPARE_CM_SPEC_KT) const uint KT = 128;
layout(constant_id = DELTA_RULE_CHUNK_PREPARE_CM_SPEC_USE_G) const bool USE_G = false;
layout(constant_id = DELTA_RULE_CHUNK_PREPARE_CM_SPEC_WG) const uint WG = 256;
layout(local_size_x_id = DELTA_RULE_CHUNK_PREPARE_CM_SPEC_WG) in;

#include "io.glsl"
#include "coopmat.glsl"

// fp16 tensors are read and written 8 halves at a time, through uvec4 views
layout(std430, binding = DELTA_RULE_CHUNK_PREPARE_BIND_K) readonly buffer Kb4 { uvec4 k4[]; };
layout(std430, binding = DELTA_RULE_CHUNK_PREPARE_BIND_V) readonly buffer Vb4 { uvec4 v4[]; };
layout(std430, binding = DELTA_RULE_CHUNK_PREPARE_BIND_BETA) readonly buffer Beta { IO_T beta[]; };
layout(std430, binding = DELTA_RULE_CHUNK_PREPARE_BIND_G) readonly buffer Gb { IO_T g[]; };
layout(std430, binding = DELTA_RULE_CHUNK_PREPARE_BIND_W) writeonly buffer Wb4 { uvec4 w4[]; };
layout(std430, binding = DELTA_RULE_CHUNK_PREPARE_BIND_U) writeonly buffer Ub4 { uvec4 u4[]; };
layout(std430, binding = DELTA_RULE_CHUNK_PREPARE_BIND_G_CUM)
    writeonly buffer Gc { float g_cum[]; };
layout(std430, binding = DELTA_RULE_CHUNK_PREPARE_BIND_TABLE)
    readonly buffer Table { int chunk_table[]; };

const uint CB = C / 16, XB = KT / 16;
const uint TA = CB * CB / NSG;                 // blocks of A per subgroup
const uint TW = (CB * XB + NSG - 1) / NSG;     // blocks of a W or U slice per subgroup (at most)
const uint NK = (K + KT - 1) / KT, NV = (V + KT - 1) / KT;
const uint NKW = NK > 1 ? NK : 0;              // K slices loaded again for W
const uint NS = NK + NKW + NV;                 // slices in the stream

// fp16: [slice (an input slice, then its output) | L with its columns scaled]; rows padded by
// CM_PAD halves so that the rows of a 16 x 16 block load fall in different banks
const uint XS = KT + CM_PAD, LS = C + CM_PAD; // row strides
const uint X_OFF = 0, L_OFF = C * XS;
shared float16_t s16[C * XS + C * LS];
const uint MS = C + CM_PAD / 2; // row stride of s_m (tri_inverse.glsl: no bank conflicts)
shared float s_m[C * MS];      // A^T (upper triangle), then L (lower triangle)
shared float s_tt[(C / 16 - 1) * 256];
shared float s_g[C];
shared float s_b[C];

#define TRI(r, c) s_m[(r) * MS + (c)]
#define TT(e) s_tt[e]
#include "tri_inverse.glsl"

uint lid, t0, n, h, hv;
uvec4 pre[F16_REGS(C, KT)]; // the next slice of the stream
#define T_OK(t) ((t) < n)
#define K_ROW(t) (((t0 + (t)) * pc.H + h) * K)
#define W_ROW(t) (((t0 + (t)) * pc.HV + hv) * K)
#define V_ROW(t) (((t0 + (t)) * pc.HV + hv) * V)

// slice s of the stream: from K (true) or V, and its first column
bool slice_of_k(uint s) { return s < NK + NKW; }
uint slice_col(uint s)
{
    return (s < NK ? s : s < NK + NKW ? s - NK : s - NK - NKW) * KT;
}

void load_slice(uint s)
{
    if (s >= NS)
        return;
    const uint c0 = slice_col(s);
    if (slice_of_k(s))
        LOAD_F16(pre, k4, C, T_OK, K_ROW, KT, K, c0)
    else
        LOAD_F16(pre, v4, C, T_OK, V_ROW, KT, V, c0)
}

// L with column c scaled by beta_c (and exp(G_c) for W), rounded to fp16
void scaled_l(bool for_w)
{
    for (uint idx = lid; idx < C * C; idx += WG) {
        const uint r = idx / C, c = idx % C;
        const float l = TRI_L(r, c) * s_b[c];
        s16[L_OFF + r * LS + c] = float16_t(for_w && USE_G ? l * exp(s_g[c]) : l);
    }
}

// (scaled L) x the slice in shared memory, columns [c0, c0 + KT) of W (K slices) or U; the
// result replaces the slice and goes out 16 bytes per store.
void product_out(bool to_w, uint c0)
{
    const uint sg = gl_SubgroupID;
    const uint D = to_w ? K : V;
    ACC32 acc[TW];
    [[unroll]] for (uint e = 0; e < TW; ++e) acc[e] = ACC32(0.0);
    // Not unrolled over kk: unrolled, the driver hoists every block load (167 registers, one
    // workgroup per SM on the H100).
    [[dont_unroll]] for (uint kk = 0; kk < CB; ++kk) {
        [[unroll]] for (uint e = 0; e < TW; ++e) {
            const uint id = sg + NSG * e, rb = id / XB, cb = id % XB;
            if (id < CB * XB) {
                CM_A a;
                CM_B b;
                CM_LOAD(a, s16, L_OFF + rb * 16 * LS + kk * 16, LS, CM_ROWS);
                CM_LOAD(b, s16, X_OFF + kk * 16 * XS + cb * 16, XS, CM_ROWS);
                acc[e] = CM_MMA(a, b, acc[e]);
            }
        }
    }
    barrier(); // every subgroup is done reading the slice: the results replace it
    [[unroll]] for (uint e = 0; e < TW; ++e) {
        const uint id = sg + NSG * e, rb = id / XB, cb = id % XB;
        if (id < CB * XB)
            CM_STORE(ACC16(acc[e]), s16, X_OFF + rb * 16 * XS + cb * 16, XS, CM_ROWS);
    }
    barrier();
    [[unroll]] for (uint e = 0; e < (C * KT / 8 + WG - 1) / WG; ++e) {
        const uint v8 = lid + e * WG;
        const uint t = v8 / (KT / 8), j = (v8 % (KT / 8)) * 8;
        if (v8 < C * KT / 8 && t < n && c0 + j < D) {
            const uint b = X_OFF + t * XS + j;
            const uvec4 x = PACK8_F16(s16, b);
            if (to_w)
                w4[(W_ROW(t) + c0 + j) / 8] = x;
            else
                u4[(V_ROW(t) + c0 + j) / 8] = x;
        }
    }
    barrier();
}

void main()
{
    lid = gl_LocalInvocationID.x;
    const uint sg = gl_SubgroupID;
    const uint chunk = gl_WorkGroupID.x;
    hv = gl_WorkGroupID.y;
    h = hv / (pc.HV / pc.H);
    t0 = uint(chunk_table[2 * chunk]);
    n = uint(chunk_table[2 * chunk + 1]);

    load_slice(0);
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

    // ---- A = K K^T, over K's slices -------------------------------------------------------------
    ACC32 acc_a[TA];
    [[unroll]] for (uint e = 0; e < TA; ++e) acc_a[e] = ACC32(0.0);
    uint s = 0;
    for (; s < NK; ++s) {
        PUT_F16(s16, X_OFF, pre, C, KT, XS)
        barrier();
        load_slice(s + 1);
        [[dont_unroll]] for (uint kk = 0; kk < XB; ++kk) {
            [[unroll]] for (uint e = 0; e < TA; ++e) {
                const uint id = sg + NSG * e, rb = id / CB, cb = id % CB;
                CM_A a;
                CM_B b;
                CM_LOAD(a, s16, X_OFF + rb * 16 * XS + kk * 16, XS, CM_ROWS);
                CM_LOAD(b, s16, X_OFF + cb * 16 * XS + kk * 16, XS, CM_COLS);
                acc_a[e] = CM_MMA(a, b, acc_a[e]);
            }
        }
        if (NK > 1)
            barrier();
    }
    // transposed into s_m: A[t][j] lands at TRI(j, t)
    [[unroll]] for (uint e = 0; e < TA; ++e) {
        const uint id = sg + NSG * e, rb = id / CB, cb = id % CB;
        CM_STORE(acc_a[e], s_m, cb * 16 * MS + rb * 16, MS, CM_COLS);
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

    // ---- L = (I + A)^-1, then W = L' K and U = L'' V --------------------------------------------
    tri_inverse(lid);
    scaled_l(true);
    barrier();
    if (NK == 1) { // K is still in place
        product_out(true, 0);
    } else {
        for (uint i = 0; i < NK; ++i, ++s) {
            PUT_F16(s16, X_OFF, pre, C, KT, XS)
            barrier();
            load_slice(s + 1);
            product_out(true, i * KT);
        }
    }
    scaled_l(false);
    for (uint i = 0; i < NV; ++i, ++s) {
        PUT_F16(s16, X_OFF, pre, C, KT, XS)
        barrier();
        load_slice(s + 1);
        product_out(false, i * KT);
    }
}
