#version 450
// Chunked linear attention, stage 2 of 2, on cooperative matrices (fp16 tensors): the same
// function as chunk_output.comp. One workgroup per (chunk, head, value tile of BV columns);
// with S0, z0 the state at the chunk's start (chunk_state.comp), Q' = scale φ(Q), K' = φ(K),
// rho_t the first token of t's episode inside the chunk (or none) and keep_t = (rho_t is none):
//   P[t][j] = q'_t·k'_j for rho_t <= j <= t, else 0
//   o_t = (keep_t S0^T q'_t + Σ_j P[t][j] v_j) / max(keep_t q'_t·z0 + Σ_j P[t][j], eps)
// The products Q'K'^T, Q'S0 and P V run on 16 x 16 x 16 blocks, fp16 operands and fp32
// sums. Linear attention's state has no decay and grows with the sequence, and P has no
// softmax to bound it, so neither fits fp16 as it is: each KT-row slice of S0, and P, are
// scaled by a power of two that brings their largest magnitude just under 2^15 before they
// are rounded to fp16, and the products are scaled back in fp32. The denominators are summed
// in fp32 from the unrounded values. Masks go through shared memory (a block's element
// positions are the driver's); the keep mask on Q'S0 too, when done flags are given.
//
// Preconditions (src/ops/linear_attn/linear_attn.c): K, V multiples of 16; BV in {16, 32, 64}
// dividing V; C in {16, 32, 64}; KT in {16, 32, 64}; NSG = WG / 32 divides (C/16)^2 and
// (C/16)(BV/16); WG a multiple of C; subgroups of 32.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "chunk_output.h"

layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_C) const uint C = 64;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_K) const uint K = 128;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_V) const uint V = 128;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_BV) const uint BV = 64;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_KT) const uint KT = 32;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_WG) const uint WG = 256;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_ELU1) const bool ELU1 = false;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_NORMALIZE) const bool NORMALIZE = true;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_EPS_ADD) const bool EPS_ADD = false;
layout(constant_id = LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_USE_DONE) const bool USE_DONE = false;
layout(local_size_x_id = LINEAR_ATTN_CHUNK_OUTPUT_CM_SPEC_WG) in;

#include "io.glsl"
#include "coopmat.glsl"
#include "feature.glsl"

// Each fp16 tensor is seen twice: as halves (matrix loads) and as uvec4s.
layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_Q) readonly buffer Q4 { uvec4 q4[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_K) readonly buffer Kb4 { uvec4 k4[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_V) readonly buffer Vb { float16_t v[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_V) readonly buffer Vb4 { uvec4 v4[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_DONE)
    readonly buffer Done { float16_t done[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_H_CHUNKS)
    readonly buffer Hc4 { vec4 hc4[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_Z_CHUNKS)
    readonly buffer Zc4 { vec4 zc4[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_O) writeonly buffer O4 { uvec4 o4[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_OUTPUT_BIND_TABLE)
    readonly buffer Table { int chunk_table[]; };

const uint CB = C / 16, VB = BV / 16;
const uint TP = CB * CB / NSG; // P blocks per subgroup
const uint TO = CB * VB / NSG; // O blocks per subgroup
const uint RP = WG / C;        // invocations per row of P in the masking pass
const uint NQ8 = C * KT / 8;   // groups of 8 in a Q' or K' slice
const uint EQ = (NQ8 + WG - 1) / WG;
const uint NS4 = KT * BV / 4;  // vec4s in an S0 slice
const uint ES = (NS4 + WG - 1) / WG;

// fp16. During the K loop: [Q' slice | K' slice | S0 slice, scaled]; afterwards:
// [P, scaled | V (last, shorter chunk only)]. The two uses never overlap in time. Rows are
// padded (CM_PAD, coopmat.glsl) so that the rows of a block load fall in different banks.
const uint QS = KT + CM_PAD, SS = BV + CM_PAD, PS = C + CM_PAD; // fp16 row strides
const uint FP = C + CM_PAD / 2, FO = BV + CM_PAD / 2;           // fp32 row strides: P, O
const uint Q_OFF = 0, K_OFF = C * QS, S_OFF = 2 * C * QS, P_OFF = 0, V_OFF = C * PS;
const uint LOOP16 = 2 * C * QS + KT * SS, TAIL16 = C * PS + C * SS;
shared float16_t s16[LOOP16 > TAIL16 ? LOOP16 : TAIL16]; // spec-constant max()
shared float s_f32[C * (FP > FO ? FP : FO)];             // P unrounded; O on its way out
shared float s_red[NSG];
shared float s_part[WG];   // row sums of P, RP parts per row
shared float s_qz[NQ8];    // q'·z0, KT/8 parts per row
shared int s_rho[C];
shared float s_den[C];

// The power of two e for which m 2^-e lies in [2^14, 2^15) (m > 0), clamped so that 2^±e
// stays a normal fp32 number.
int scale_exponent(float m)
{
    int ex;
    frexp(m, ex); // m < 2^ex
    return clamp(ex - 15, -100, 100);
}

// The largest of every invocation's m, through s_red; needs a barrier() between the two.
void max_put(float m)
{
    m = subgroupMax(m);
    if (subgroupElect())
        s_red[gl_SubgroupID] = m;
}
float max_get()
{
    float m = 0.0;
    [[unroll]] for (uint i = 0; i < NSG; ++i) m = max(m, s_red[i]);
    return m;
}

void main()
{
    const uint lid = gl_LocalInvocationID.x, sg = gl_SubgroupID;
    const uint chunk = gl_WorkGroupID.x, h = gl_WorkGroupID.y, vt = gl_WorkGroupID.z;
    const uint c0 = vt * BV;
    const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);
    const bool full = n == C;
    const uint hc_base = (chunk * pc.H + h) * K * V, zc_base = (chunk * pc.H + h) * K;
    const uint VS = pc.H * V; // row stride of v and o
#define QK_ROW(t) (((t0 + (t)) * pc.H + h) * K)
#define V_ROW(t) (((t0 + (t)) * pc.H + h) * V)
#define T_OK(t) ((t) < n)

    if (lid < C) {
        int rho = -1;
        if (USE_DONE && lid < n) {
            for (int j = int(lid); j >= 0; --j) {
                if (float(done[t0 + uint(j)]) != 0.0) {
                    rho = j;
                    break;
                }
            }
        }
        s_rho[lid] = rho;
    }

    ACC32 acc_p[TP];
    ACC32 acc_o[TO];
    [[unroll]] for (uint e = 0; e < TP; ++e) acc_p[e] = ACC32(0.0);
    [[unroll]] for (uint e = 0; e < TO; ++e) acc_o[e] = ACC32(0.0);
    float qz[EQ];
    [[unroll]] for (uint e = 0; e < EQ; ++e) qz[e] = 0.0;

    // Slice k0's S0 rows, Q and K columns and z0 entries, in registers: loaded while the
    // previous slice's products run.
    vec4 sr[ES];
    uvec4 qa[EQ], ka[EQ];
    vec4 za[EQ], zb[EQ];
#define LOAD_SLICE(k0)                                                                            \
    {                                                                                             \
        [[unroll]] for (uint e = 0; e < ES; ++e) {                                                \
            const uint x = lid + WG * e, i = x / (BV / 4), c = (x % (BV / 4)) * 4;                \
            sr[e] = vec4(0.0);                                                                    \
            if (x < NS4 && (k0) + i < K)                                                          \
                sr[e] = hc4[(hc_base + ((k0) + i) * V + c0 + c) / 4];                             \
        }                                                                                         \
        [[unroll]] for (uint e = 0; e < EQ; ++e) {                                                \
            const uint x = lid + WG * e, t = x / (KT / 8), j = (x % (KT / 8)) * 8;                \
            const bool ok = x < NQ8 && t < n && (k0) + j < K;                                     \
            qa[e] = ok ? q4[(QK_ROW(t) + (k0) + j) / 8] : uvec4(0);                               \
            ka[e] = ok ? k4[(QK_ROW(t) + (k0) + j) / 8] : uvec4(0);                               \
            za[e] = (NORMALIZE && ok) ? zc4[(zc_base + (k0) + j) / 4] : vec4(0.0);                \
            zb[e] = (NORMALIZE && ok) ? zc4[(zc_base + (k0) + j + 4) / 4] : vec4(0.0);            \
        }                                                                                         \
    }
    LOAD_SLICE(0)
    for (uint k0 = 0; k0 < K; k0 += KT) {
        // S0's largest magnitude in the slice
        float m = 0.0;
        [[unroll]] for (uint e = 0; e < ES; ++e) {
            const vec4 a = abs(sr[e]);
            m = max(m, max(max(a.x, a.y), max(a.z, a.w)));
        }
        max_put(m);
        // Q' and K' slices, rounded to fp16; the partial q'·z0 in fp32
        [[unroll]] for (uint e = 0; e < EQ; ++e) {
            const uint x = lid + WG * e, t = x / (KT / 8), j = (x % (KT / 8)) * 8;
            if (x < NQ8) {
                const bool ok = t < n && k0 + j < K;
                [[unroll]] for (uint c = 0; c < 4; ++c) {
                    const vec2 qp = vec2(unpackFloat2x16(qa[e][c]));
                    const vec2 kp = vec2(unpackFloat2x16(ka[e][c]));
                    const float q0 = ok ? pc.scale * feature(qp.x) : 0.0;
                    const float q1 = ok ? pc.scale * feature(qp.y) : 0.0;
                    s16[Q_OFF + t * QS + j + 2 * c] = float16_t(q0);
                    s16[Q_OFF + t * QS + j + 2 * c + 1] = float16_t(q1);
                    s16[K_OFF + t * QS + j + 2 * c] = float16_t(ok ? feature(kp.x) : 0.0);
                    s16[K_OFF + t * QS + j + 2 * c + 1] = float16_t(ok ? feature(kp.y) : 0.0);
                    const vec2 zz = c < 2 ? (c == 0 ? za[e].xy : za[e].zw)
                                          : (c == 2 ? zb[e].xy : zb[e].zw);
                    qz[e] += q0 * zz.x + q1 * zz.y;
                }
            }
        }
        barrier(); // s_red
        const int es = scale_exponent(max_get());
        const float down = exp2(float(-es));
        [[unroll]] for (uint e = 0; e < ES; ++e) {
            const uint x = lid + WG * e, i = x / (BV / 4), c = (x % (BV / 4)) * 4;
            if (x < NS4) {
                const vec4 s = sr[e] * down;
                [[unroll]] for (uint w = 0; w < 4; ++w) s16[S_OFF + i * SS + c + w] = float16_t(s[w]);
            }
        }
        barrier();
        if (k0 + KT < K)
            LOAD_SLICE(k0 + KT)
        [[unroll]] for (uint e = 0; e < TP; ++e) {
            const uint id = sg + NSG * e, rb = id / CB, cb = id % CB;
            if (cb <= rb) { // blocks above the diagonal are masked whole
                [[unroll]] for (uint kk = 0; kk < KT / 16; ++kk) {
                    CM_A a;
                    CM_B b;
                    CM_LOAD(a, s16, Q_OFF + rb * 16 * QS + kk * 16, QS, CM_ROWS);
                    CM_LOAD(b, s16, K_OFF + cb * 16 * QS + kk * 16, QS, CM_COLS); // K'^T
                    acc_p[e] = CM_MMA(a, b, acc_p[e]);
                }
            }
        }
        const float up = exp2(float(es));
        [[unroll]] for (uint e = 0; e < TO; ++e) {
            const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
            ACC32 part = ACC32(0.0);
            [[unroll]] for (uint kk = 0; kk < KT / 16; ++kk) {
                CM_A a;
                CM_B b;
                CM_LOAD(a, s16, Q_OFF + rb * 16 * QS + kk * 16, QS, CM_ROWS);
                CM_LOAD(b, s16, S_OFF + kk * 16 * SS + cb * 16, SS, CM_ROWS);
                part = CM_MMA(a, b, part);
            }
            acc_o[e] = acc_o[e] + part * up;
        }
        barrier(); // the slices have been read
    }
    [[unroll]] for (uint e = 0; e < EQ; ++e)
        if (lid + WG * e < NQ8)
            s_qz[lid + WG * e] = qz[e];

    // P: the episode mask, row sums and the largest magnitude in fp32, then scaled to fp16
    [[unroll]] for (uint e = 0; e < TP; ++e) {
        const uint id = sg + NSG * e, rb = id / CB, cb = id % CB;
        CM_STORE(acc_p[e], s_f32, rb * 16 * FP + cb * 16, FP, CM_ROWS);
    }
    barrier();
#define IN_EPISODE(t, j) ((j) <= (t) && (j) < n && int(j) >= s_rho[t])
    { // row t's columns part, part + RP, ..., in an order skewed by row: no bank conflicts
        const uint t = lid / RP, part = lid % RP;
        float psum = 0.0, m = 0.0;
        [[unroll]] for (uint y = 0; y < C / RP; ++y) {
            const uint j = part + RP * ((y + t) % (C / RP));
            const float p = IN_EPISODE(t, j) ? s_f32[t * FP + j] : 0.0;
            psum += p;
            m = max(m, abs(p));
        }
        s_part[lid] = psum;
        max_put(m);
    }
    barrier();
    const int ep = scale_exponent(max_get());
    {
        const float down = exp2(float(-ep));
        for (uint x = lid; x < C * C; x += WG) {
            const uint t = x / C, j = x % C;
            s16[P_OFF + t * PS + j] = float16_t(IN_EPISODE(t, j) ? s_f32[t * FP + j] * down : 0.0);
        }
    }
    if (!full)
        STAGE_F16(s16, V_OFF, v4, C, T_OK, V_ROW, BV, V, c0, ONE, SS)
    if (NORMALIZE && lid < C) {
        float den = 0.0, qz0 = 0.0;
        [[unroll]] for (uint part = 0; part < RP; ++part) den += s_part[lid * RP + part];
        [[unroll]] for (uint part = 0; part < KT / 8; ++part) qz0 += s_qz[lid * (KT / 8) + part];
        s_den[lid] = denominator(den + (s_rho[lid] < 0 ? qz0 : 0.0), pc.eps);
    }
    barrier();
    if (USE_DONE) { // drop S0's term from the rows whose episode began in this chunk
        [[unroll]] for (uint e = 0; e < TO; ++e) {
            const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
            CM_STORE(acc_o[e], s_f32, rb * 16 * FO + cb * 16, FO, CM_ROWS);
        }
        barrier();
        for (uint x = lid; x < C * BV; x += WG)
            if (s_rho[x / BV] >= 0)
                s_f32[(x / BV) * FO + x % BV] = 0.0;
        barrier();
        [[unroll]] for (uint e = 0; e < TO; ++e) {
            const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
            CM_LOAD(acc_o[e], s_f32, rb * 16 * FO + cb * 16, FO, CM_ROWS);
        }
        barrier();
    }

    // O = Q'S0 + P V, P's scale taken out and put back around the product
    const float pdown = exp2(float(-ep)), pup = exp2(float(ep));
    [[unroll]] for (uint e = 0; e < TO; ++e) {
        const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
        acc_o[e] = acc_o[e] * pdown;
        [[unroll]] for (uint kk = 0; kk < CB; ++kk) {
            if (kk <= rb) { // P is zero above the diagonal blocks
                CM_A a;
                CM_B b;
                CM_LOAD(a, s16, P_OFF + rb * 16 * PS + kk * 16, PS, CM_ROWS);
                if (full)
                    CM_LOAD(b, v, V_ROW(kk * 16) + c0 + cb * 16, VS, CM_ROWS);
                else
                    CM_LOAD(b, s16, V_OFF + kk * 16 * SS + cb * 16, SS, CM_ROWS);
                acc_o[e] = CM_MMA(a, b, acc_o[e]);
            }
        }
        acc_o[e] = acc_o[e] * pup;
        CM_STORE(acc_o[e], s_f32, rb * 16 * FO + cb * 16, FO, CM_ROWS);
    }
    barrier();
    [[unroll]] for (uint e = 0; e < (C * BV / 8 + WG - 1) / WG; ++e) {
        const uint x = lid + e * WG;
        const uint t = x / (BV / 8), j = (x % (BV / 8)) * 8;
        if (x < C * BV / 8 && t < n) {
            const float inv = NORMALIZE ? 1.0 / s_den[t] : 1.0;
            const uint b = t * FO + j;
            o4[(V_ROW(t) + c0 + j) / 8] = uvec4(
                packFloat2x16(f16vec2(vec2(s_f32[b], s_f32[b + 1]) * inv)),
                packFloat2x16(f16vec2(vec2(s_f32[b + 2], s_f32[b + 3]) * inv)),
                packFloat2x16(f16vec2(vec2(s_f32[b + 4], s_f32[b + 5]) * inv)),
                packFloat2x16(f16vec2(vec2(s_f32[b + 6], s_f32[b + 7]) * inv)));
        }
    }
}
