#version 450
// Chunked delta rule, stage 3 of 3, on cooperative matrices (fp16 tensors). Same function as
// chunk_output.comp: one workgroup per (chunk, value head, value tile of BV columns),
//   P = tril(Q K^T) ⊙ exp(G_t - G_j);   O = scale (exp(G) ⊙ (Q h) + P U').
// The C x C tile P and the C x BV tile O are split into 16 x 16 blocks, TP and TO per subgroup.
// A full chunk takes Q, K, h and U' straight from memory and writes O straight back; the last,
// shorter chunk of a sequence goes through shared memory with zero padding. Only P's mask and
// decays, and the gate's row scale on Q h, pass through shared memory in every chunk.
//
// Preconditions (src/ops/delta_rule/delta_rule.c): K, V multiples of 16; BV in {16, 32, 64}
// dividing V, BV <= C; C a multiple of 16 with (C/16)^2 and (C/16)(BV/16) multiples of NSG;
// KT = 16; subgroups of 32.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint C = 64;
layout(constant_id = 1) const uint K = 128;
layout(constant_id = 2) const uint V = 128;
layout(constant_id = 3) const uint BV = 64;
layout(constant_id = 4) const uint KT = 16;
layout(constant_id = 5) const bool USE_G = false;
layout(constant_id = 6) const uint WG = 256;
layout(local_size_x_id = 6) in;

#include "io.glsl"
#include "coopmat.glsl"

layout(push_constant) uniform Push {
    uint H;
    uint HV;
    float scale;
} pc;

// Each fp16 tensor is seen twice: as halves (matrix loads and stores) and as uvec4s.
layout(std430, binding = 0) readonly buffer Q { float16_t q[]; };
layout(std430, binding = 0) readonly buffer Q4 { uvec4 q4[]; };
layout(std430, binding = 1) readonly buffer Kb { float16_t k[]; };
layout(std430, binding = 1) readonly buffer Kb4 { uvec4 k4[]; };
layout(std430, binding = 2) readonly buffer Ub { float16_t u[]; };
layout(std430, binding = 2) readonly buffer Ub4 { uvec4 u4[]; };
layout(std430, binding = 3) readonly buffer Gc { float g_cum[]; };
layout(std430, binding = 4) readonly buffer Hc { float16_t h_chunks[]; };
layout(std430, binding = 4) readonly buffer Hc4 { uvec4 hc4[]; };
layout(std430, binding = 5) writeonly buffer O { float16_t o[]; };
layout(std430, binding = 5) writeonly buffer O4 { uvec4 o4[]; };
layout(std430, binding = 6) readonly buffer Table { int chunk_table[]; };

const uint CB = C / 16, VB = BV / 16;
const uint TP = CB * CB / NSG; // P blocks per subgroup
const uint TO = CB * VB / NSG; // O blocks per subgroup

// fp16. Padded path during the K loop: [Q slice | K slice | h slice]; afterwards, always:
// [P | U' (padded path)]. The two uses never overlap in time.
const uint LOOP16 = 2 * C * KT + KT * BV, TAIL16 = C * C + C * BV;
const uint P_OFF = 0, U_OFF = C * C, QS_OFF = 0, KS_OFF = C * KT, HS_OFF = 2 * C * KT;
shared float16_t s16[LOOP16 > TAIL16 ? LOOP16 : TAIL16]; // spec-constant max()
shared float s_f32[C * (C > BV ? C : BV)];               // P as computed; Q h; O on its way out
shared float s_g[C];

void main()
{
    const uint lid = gl_LocalInvocationID.x, sg = gl_SubgroupID;
    const uint chunk = gl_WorkGroupID.x, hv = gl_WorkGroupID.y, vt = gl_WorkGroupID.z;
    const uint h = hv / (pc.HV / pc.H);
    const uint c0 = vt * BV;
    const uint t0 = uint(chunk_table[2 * chunk]), n = uint(chunk_table[2 * chunk + 1]);
    const bool full = n == C;
    const uint hc_base = (chunk * pc.HV + hv) * K * V;
    const uint KS = pc.H * K, VS = pc.HV * V; // row strides of q, k and of u, o
#define T_OK(t) ((t) < n)
#define ALL_OK(t) true
#define QK_ROW(t) (((t0 + (t)) * pc.H + h) * K)
#define U_ROW(t) (((t0 + (t)) * pc.HV + hv) * V)

    for (uint t = lid; t < C; t += WG)
        s_g[t] = (USE_G && t < n) ? g_cum[(t0 + t) * pc.HV + hv] : 0.0;

    ACC32 acc_p[TP];
    ACC32 acc_o[TO];
    [[unroll]] for (uint e = 0; e < TP; ++e) acc_p[e] = ACC32(0.0);
    [[unroll]] for (uint e = 0; e < TO; ++e) acc_o[e] = ACC32(0.0);

    if (full) {
        // Not unrolled: unrolled, the driver kept every block load of the loop live (254
        // registers, one workgroup per SM on the H100).
        for (uint kk = 0; kk < K / 16; ++kk) {
            [[unroll]] for (uint e = 0; e < TP; ++e) {
                const uint id = sg + NSG * e, rb = id / CB, cb = id % CB;
                MAT16 a, b;
                coopMatLoadNV(a, q, QK_ROW(rb * 16) + kk * 16, KS, false);
                coopMatLoadNV(b, k, QK_ROW(cb * 16) + kk * 16, KS, true); // K^T
                acc_p[e] = coopMatMulAddNV(a, b, acc_p[e]);
            }
            [[unroll]] for (uint e = 0; e < TO; ++e) {
                const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
                MAT16 a, b;
                coopMatLoadNV(a, q, QK_ROW(rb * 16) + kk * 16, KS, false);
                coopMatLoadNV(b, h_chunks, hc_base + kk * 16 * V + c0 + cb * 16, V, false);
                acc_o[e] = coopMatMulAddNV(a, b, acc_o[e]);
            }
        }
    } else {
#define H_ROW(i) (hc_base + (k0 + (i)) * V)
        for (uint k0 = 0; k0 < K; k0 += KT) {
            STAGE_F16(s16, QS_OFF, q4, C, T_OK, QK_ROW, KT, K, k0, ONE)
            STAGE_F16(s16, KS_OFF, k4, C, T_OK, QK_ROW, KT, K, k0, ONE)
            STAGE_F16(s16, HS_OFF, hc4, KT, ALL_OK, H_ROW, BV, V, c0, ONE)
            barrier();
            [[unroll]] for (uint e = 0; e < TP; ++e) {
                const uint id = sg + NSG * e, rb = id / CB, cb = id % CB;
                MAT16 a, b;
                coopMatLoadNV(a, s16, QS_OFF + rb * 16 * KT, KT, false);
                coopMatLoadNV(b, s16, KS_OFF + cb * 16 * KT, KT, true); // K^T
                acc_p[e] = coopMatMulAddNV(a, b, acc_p[e]);
            }
            [[unroll]] for (uint e = 0; e < TO; ++e) {
                const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
                MAT16 a, b;
                coopMatLoadNV(a, s16, QS_OFF + rb * 16 * KT, KT, false);
                coopMatLoadNV(b, s16, HS_OFF + cb * 16, BV, false);
                acc_o[e] = coopMatMulAddNV(a, b, acc_o[e]);
            }
            barrier();
        }
    }

    // P: mask the upper triangle, apply the relative decays, round to fp16
    [[unroll]] for (uint e = 0; e < TP; ++e) {
        const uint id = sg + NSG * e, rb = id / CB, cb = id % CB;
        coopMatStoreNV(acc_p[e], s_f32, rb * 16 * C + cb * 16, C, false);
    }
    barrier();
    for (uint idx = lid; idx < C * C; idx += WG) {
        const uint t = idx / C, j = idx % C;
        float p = 0.0;
        if (j <= t) {
            p = s_f32[idx];
            if (USE_G)
                p *= exp(s_g[t] - s_g[j]);
        }
        s16[P_OFF + idx] = float16_t(p);
    }
    if (!full)
        STAGE_F16(s16, U_OFF, u4, C, T_OK, U_ROW, BV, V, c0, ONE)
    barrier();
    if (USE_G) { // exp(G) ⊙ (Q h): the row scale, through shared memory
        [[unroll]] for (uint e = 0; e < TO; ++e) {
            const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
            coopMatStoreNV(acc_o[e], s_f32, rb * 16 * BV + cb * 16, BV, false);
        }
        barrier();
        for (uint idx = lid; idx < C * BV; idx += WG)
            s_f32[idx] *= exp(s_g[idx / BV]);
        barrier();
        [[unroll]] for (uint e = 0; e < TO; ++e) {
            const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
            coopMatLoadNV(acc_o[e], s_f32, rb * 16 * BV + cb * 16, BV, false);
        }
        barrier();
    }

    [[unroll]] for (uint e = 0; e < TO; ++e) {
        const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
        [[unroll]] for (uint kk = 0; kk < CB; ++kk) {
            MAT16 a, b;
            coopMatLoadNV(a, s16, P_OFF + rb * 16 * C + kk * 16, C, false);
            if (full)
                coopMatLoadNV(b, u, U_ROW(kk * 16) + c0 + cb * 16, VS, false);
            else
                coopMatLoadNV(b, s16, U_OFF + kk * 16 * BV + cb * 16, BV, false);
            acc_o[e] = coopMatMulAddNV(a, b, acc_o[e]);
        }
        acc_o[e] = acc_o[e] * pc.scale;
        if (full)
            coopMatStoreNV(MAT16(acc_o[e]), o, U_ROW(rb * 16) + c0 + cb * 16, VS, false);
        else
            coopMatStoreNV(acc_o[e], s_f32, rb * 16 * BV + cb * 16, BV, false);
    }
    if (!full) {
        barrier();
        [[unroll]] for (uint e = 0; e < (C * BV / 8 + WG - 1) / WG; ++e) {
            const uint v8 = lid + e * WG;
            const uint t = v8 / (BV / 8), j = (v8 % (BV / 8)) * 8;
            if (v8 < C * BV / 8 && t < n && c0 + j < V) {
                const uint b = t * BV + j;
                o4[(U_ROW(t) + c0 + j) / 8] = uvec4(
                    packFloat2x16(f16vec2(s_f32[b], s_f32[b + 1])),
                    packFloat2x16(f16vec2(s_f32[b + 2], s_f32[b + 3])),
                    packFloat2x16(f16vec2(s_f32[b + 4], s_f32[b + 5])),
                    packFloat2x16(f16vec2(s_f32[b + 6], s_f32[b + 7])));
            }
        }
    }
}
