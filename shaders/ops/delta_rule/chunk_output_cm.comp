#version 450
// Chunked delta rule, stage 3 of 3, on cooperative matrices (fp16 tensors). Same function as
// chunk_output.comp: one workgroup per (chunk, value head, value tile of BV columns),
//   P = tril(Q K^T) ⊙ exp(G_t - G_j);   O = scale (exp(G) ⊙ (Q h) + P U').
// The C x C tile P and the C x BV tile O are split into 16 x 16 blocks, TP and TO per subgroup.
// Q, K and h go through shared memory in steps of KT key channels; each step's slices are
// loaded into registers, 16 bytes per load, while the step before computes, and the last step
// loads U' (loading matrix blocks straight from memory, one step at a time, waited on memory in
// every step: 0.67 ms of 1.12 at 4,4096,16,128 on the H100). Rows past the chunk's end are
// zeros; O leaves through shared memory, 16 bytes per store, rows past the end not written.
//
// Preconditions (src/ops/delta_rule/delta_rule.c): K, V multiples of 16; BV in {16, 32, 64}
// dividing V; C a multiple of 16 with C >= BV, (C/16)^2 and (C/16)(BV/16) multiples of NSG;
// KT a multiple of 16; subgroups of 32.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "chunk_output.h"

layout(constant_id = DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_C) const uint C = 64;
layout(constant_id = DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_K) const uint K = 128;
layout(constant_id = DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_V) const uint V = 128;
layout(constant_id = DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_BV) const uint BV = 64;
layout(constant_id = DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_KT) const uint KT = 64;
layout(constant_id = DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_USE_G) const bool USE_G = false;
layout(constant_id = DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_WG) const uint WG = 256;
layout(local_size_x_id = DELTA_RULE_CHUNK_OUTPUT_CM_SPEC_WG) in;

#include "io.glsl"
#include "coopmat.glsl"

// fp16 tensors are read and written 8 halves at a time, through uvec4 views
layout(std430, binding = DELTA_RULE_CHUNK_OUTPUT_BIND_Q) readonly buffer Q4 { uvec4 q4[]; };
layout(std430, binding = DELTA_RULE_CHUNK_OUTPUT_BIND_K) readonly buffer Kb4 { uvec4 k4[]; };
layout(std430, binding = DELTA_RULE_CHUNK_OUTPUT_BIND_U) readonly buffer Ub4 { uvec4 u4[]; };
layout(std430, binding = DELTA_RULE_CHUNK_OUTPUT_BIND_G_CUM) readonly buffer Gc { float g_cum[]; };
layout(std430, binding = DELTA_RULE_CHUNK_OUTPUT_BIND_H_CHUNKS)
    readonly buffer Hc4 { uvec4 hc4[]; };
layout(std430, binding = DELTA_RULE_CHUNK_OUTPUT_BIND_O) writeonly buffer O4 { uvec4 o4[]; };
layout(std430, binding = DELTA_RULE_CHUNK_OUTPUT_BIND_TABLE)
    readonly buffer Table { int chunk_table[]; };

const uint CB = C / 16, VB = BV / 16, XB = KT / 16;
const uint TP = CB * CB / NSG; // P blocks per subgroup
const uint TO = CB * VB / NSG; // O blocks per subgroup
const uint NKS = (K + KT - 1) / KT;

// fp16. During the key steps: [Q slice | K slice | h slice]; afterwards: [P | U']. Rows are
// padded by CM_PAD halves so that the rows of a 16 x 16 block load fall in different banks.
const uint QSS = KT + CM_PAD, HSS = BV + CM_PAD, PSS = C + CM_PAD, USS = BV + CM_PAD; // row strides
const uint LOOP16 = 2 * C * QSS + KT * HSS, TAIL16 = C * PSS + C * USS;
const uint QS_OFF = 0, KS_OFF = C * QSS, HS_OFF = 2 * C * QSS, P_OFF = 0, U_OFF = C * PSS;
shared float16_t s16[LOOP16 > TAIL16 ? LOOP16 : TAIL16]; // spec-constant max()
const uint FSP = C + CM_PAD / 2, FSO = BV + CM_PAD / 2; // row strides of P and of O (Q h) in s_f32
shared float s_f32[C * FSP];                               // P as computed; Q h; O on its way out
shared float s_g[C];

void main()
{
    const uint lid = gl_LocalInvocationID.x, sg = gl_SubgroupID;
    const uint chunk = gl_WorkGroupID.x, hv = gl_WorkGroupID.y, vt = gl_WorkGroupID.z;
    const uint h = hv / (pc.HV / pc.H);
    const uint c0 = vt * BV;
    const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);
    const uint hc_base = (chunk * pc.HV + hv) * K * V;
#define T_OK(t) ((t) < n)
#define QK_ROW(t) (((t0 + (t)) * pc.H + h) * K)
#define U_ROW(t) (((t0 + (t)) * pc.HV + hv) * V)
#define H_ROW(i) (hc_base + (k0 + (i)) * V)
#define H_OK(i) (k0 + (i) < K) // h has K rows; a last step's rows past K are zeros

    uvec4 q_pre[F16_REGS(C, KT)], k_pre[F16_REGS(C, KT)], h_pre[F16_REGS(KT, BV)];
    uvec4 u_pre[F16_REGS(C, BV)];
    {
        const uint k0 = 0;
        LOAD_F16(q_pre, q4, C, T_OK, QK_ROW, KT, K, k0)
        LOAD_F16(k_pre, k4, C, T_OK, QK_ROW, KT, K, k0)
        LOAD_F16(h_pre, hc4, KT, H_OK, H_ROW, BV, V, c0)
    }
    for (uint t = lid; t < C; t += WG)
        s_g[t] = (USE_G && t < n) ? g_cum[(t0 + t) * pc.HV + hv] : 0.0;

    ACC32 acc_p[TP];
    ACC32 acc_o[TO];
    [[unroll]] for (uint e = 0; e < TP; ++e) acc_p[e] = ACC32(0.0);
    [[unroll]] for (uint e = 0; e < TO; ++e) acc_o[e] = ACC32(0.0);

    for (uint step = 0; step < NKS; ++step) {
        PUT_F16(s16, QS_OFF, q_pre, C, KT, QSS)
        PUT_F16(s16, KS_OFF, k_pre, C, KT, QSS)
        PUT_F16(s16, HS_OFF, h_pre, KT, BV, HSS)
        barrier();
        if (step + 1 < NKS) {
            const uint k0 = (step + 1) * KT;
            LOAD_F16(q_pre, q4, C, T_OK, QK_ROW, KT, K, k0)
            LOAD_F16(k_pre, k4, C, T_OK, QK_ROW, KT, K, k0)
            LOAD_F16(h_pre, hc4, KT, H_OK, H_ROW, BV, V, c0)
        } else {
            LOAD_F16(u_pre, u4, C, T_OK, U_ROW, BV, V, c0)
        }
        // not unrolled: unrolled, the driver hoists every block load (138 registers)
        [[dont_unroll]] for (uint kk = 0; kk < XB; ++kk) {
            [[unroll]] for (uint e = 0; e < TP; ++e) {
                const uint id = sg + NSG * e, rb = id / CB, cb = id % CB;
                CM_A a;
                CM_B b;
                CM_LOAD(a, s16, QS_OFF + rb * 16 * QSS + kk * 16, QSS, CM_ROWS);
                CM_LOAD(b, s16, KS_OFF + cb * 16 * QSS + kk * 16, QSS, CM_COLS); // K^T
                acc_p[e] = CM_MMA(a, b, acc_p[e]);
            }
            [[unroll]] for (uint e = 0; e < TO; ++e) {
                const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
                CM_A a;
                CM_B b;
                CM_LOAD(a, s16, QS_OFF + rb * 16 * QSS + kk * 16, QSS, CM_ROWS);
                CM_LOAD(b, s16, HS_OFF + kk * 16 * HSS + cb * 16, HSS, CM_ROWS);
                acc_o[e] = CM_MMA(a, b, acc_o[e]);
            }
        }
        barrier();
    }

    // P: mask the upper triangle, apply the relative decays, round to fp16
    [[unroll]] for (uint e = 0; e < TP; ++e) {
        const uint id = sg + NSG * e, rb = id / CB, cb = id % CB;
        CM_STORE(acc_p[e], s_f32, rb * 16 * FSP + cb * 16, FSP, CM_ROWS);
    }
    PUT_F16(s16, U_OFF, u_pre, C, BV, USS)
    barrier();
    for (uint idx = lid; idx < C * C; idx += WG) {
        const uint t = idx / C, j = idx % C;
        float p = 0.0;
        if (j <= t) {
            p = s_f32[t * FSP + j];
            if (USE_G)
                p *= exp(s_g[t] - s_g[j]);
        }
        s16[P_OFF + t * PSS + j] = float16_t(p);
    }
    barrier();
    if (USE_G) { // exp(G) ⊙ (Q h): the row scale, through shared memory
        [[unroll]] for (uint e = 0; e < TO; ++e) {
            const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
            CM_STORE(acc_o[e], s_f32, rb * 16 * FSO + cb * 16, FSO, CM_ROWS);
        }
        barrier();
        for (uint idx = lid; idx < C * BV; idx += WG)
            s_f32[(idx / BV) * FSO + idx % BV] *= exp(s_g[idx / BV]);
        barrier();
        [[unroll]] for (uint e = 0; e < TO; ++e) {
            const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
            CM_LOAD(acc_o[e], s_f32, rb * 16 * FSO + cb * 16, FSO, CM_ROWS);
        }
        barrier();
    }

    [[unroll]] for (uint e = 0; e < TO; ++e) {
        const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
        [[unroll]] for (uint kk = 0; kk < CB; ++kk) {
            CM_A a;
            CM_B b;
            CM_LOAD(a, s16, P_OFF + rb * 16 * PSS + kk * 16, PSS, CM_ROWS);
            CM_LOAD(b, s16, U_OFF + kk * 16 * USS + cb * 16, USS, CM_ROWS);
            acc_o[e] = CM_MMA(a, b, acc_o[e]);
        }
        acc_o[e] = acc_o[e] * pc.scale;
        CM_STORE(acc_o[e], s_f32, rb * 16 * FSO + cb * 16, FSO, CM_ROWS);
    }
    barrier();
    [[unroll]] for (uint e = 0; e < (C * BV / 8 + WG - 1) / WG; ++e) {
        const uint v8 = lid + e * WG;
        const uint t = v8 / (BV / 8), j = (v8 % (BV / 8)) * 8;
        if (v8 < C * BV / 8 && t < n) {
            const uint b = t * FSO + j;
            o4[(U_ROW(t) + c0 + j) / 8] = PACK8_F16(s_f32, b);
        }
    }
}
