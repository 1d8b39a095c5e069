#version 450
// The delta-rule family token by token, planned for CPU devices (lavapipe): the same operators,
// options, bindings and push constants as recurrent.comp (recurrent.h), the same results, laid
// out for how llvmpipe compiles a compute shader.
//
// llvmpipe runs a workgroup on one thread, its invocations as SIMD vectors of the subgroup's
// width (8 lanes with 256-bit AVX). A buffer load or store whose address is not provably the
// same for every lane becomes a loop over the lanes, each with a mask test and a bounds check
// (shared memory included) — some fifteen instructions per lane, where an FMA on a vector is
// one; a barrier switches between coroutines. Arithmetic on values held in registers, and moving
// values between the lanes of one subgroup, are cheap. So the layout minimises loop trips:
//   - each lane owns CPL adjacent value columns (1, 2 or 4, V a multiple of it), read and
//     written as one vector per lane, and their whole state rows s[K][CPL] (registers, or the
//     stack as vectors);
//     WG lanes per workgroup, a multiple of the subgroup size LANES (several subgroups: there is
//     no barrier, so llvmpipe runs them one after the other, saving the per-workgroup cost of
//     many small workgroups); exactly one subgroup with the key read-out;
//   - a token's key-sized vectors (k, q, the gates, a, b) are loaded once per subgroup, VW
//     entries per lane per load (a vec4 when K % 4 == 0): lane l of chunk c holds entries
//     (c*LANES + l)*VW .. +VW-1, and entry i reaches every lane by a shuffle from its lane;
//     each shuffled entry then serves the lane's CPL columns;
//   - the decay, S^T k and the update-then-read-out are two passes over s per token;
//   - sums over a column are per-lane loops; sums across columns (the key read-out) are
//     subgroup additions; no shared memory and no barrier.
// The loops over K and CPL have constant trip counts once specialised, so they unroll.
//
// Work split: one workgroup per (value tile of WG * CPL columns, value head, sequence). With
// the key read-out and several value tiles, each tile writes its part (PARTIAL_OUT) and
// sum_tiles.comp adds them, as recurrent.comp does.
//
// Preconditions (checked by src/ops/common/recurrent.c): those of recurrent.comp, and
// LANES = the subgroup size (fixed), WG a multiple of it (= LANES with KEY_READOUT), CPL 1, 2 or
// 4 dividing V, BV = WG * CPL, KS = 1; the subgroup shuffle and arithmetic.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "recurrent.h"

layout(constant_id = DELTA_RULE_RECURRENT_SPEC_K) const uint K = 128;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_V) const uint V = 128;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_USE_G) const bool USE_G = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_USE_H0) const bool USE_H0 = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_STORE_HT) const bool STORE_HT = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_VARLEN) const bool VARLEN = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_L2NORM) const bool L2NORM = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_WG) const uint WG = 8; // a multiple of LANES
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_GATE_CH) const bool GATE_CH = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_DPLR) const bool DPLR = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_KEY_READOUT) const bool KEY_READOUT = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_GATE_ACT) const bool GATE_ACT = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_BETA_SIGMOID) const bool BETA_SIGMOID = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_RWKV7) const bool RWKV7 = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_PARTIAL_OUT) const bool PARTIAL_OUT = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_USE_DT_BIAS) const bool USE_DT_BIAS = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_LANES) const uint LANES = 8; // the subgroup size
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_CPL) const uint CPL = 1; // columns per lane
layout(local_size_x_id = DELTA_RULE_RECURRENT_SPEC_WG) in;

#include "cpu_lanes.glsl"
const uint KSL = CPU_SLOTS(K);                    // slots per lane of a key-sized vector
const bool KFULL = K % (CPU_W(K) * LANES) == 0; // every slot holds an entry

#include "io.glsl"

layout(std430, binding = DELTA_RULE_RECURRENT_BIND_Q) readonly buffer Q { IO_T q[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_K) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_V) readonly buffer Vb { IO_T v[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_BETA) readonly buffer Beta { IO_T beta[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_G) readonly buffer G { IO_T g[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_H0) readonly buffer H0 { float h0[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_HT) writeonly buffer HT { float ht[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_O) writeonly buffer O { IO_T o[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_CU_SEQLENS)
    readonly buffer CU { int cu_seqlens[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_B) readonly buffer Bb { IO_T b_in[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_A_LOG) readonly buffer ALog { float A_log[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_DT_BIAS)
    readonly buffer DtBias { float dt_bias[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_PART) writeonly buffer Part { float o_part[]; };

// The same buffers read and written 4 elements at a time (one loop trip per lane for 4).
#ifdef DVK_IO_F16
#define IO4_T f16vec4
#define IO2_T f16vec2
#else
#define IO4_T vec4
#define IO2_T vec2
#endif
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_Q) readonly buffer Q4 { IO4_T q4[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_K) readonly buffer K4 { IO4_T k4[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_V) readonly buffer V4 { IO4_T v4[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_BETA) readonly buffer Beta4 { IO4_T beta4[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_G) readonly buffer G4 { IO4_T g4[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_B) readonly buffer B4 { IO4_T b4[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_H0) readonly buffer H04 { vec4 h04[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_HT) writeonly buffer HT4 { vec4 ht4[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_O) writeonly buffer O4 { IO4_T o4[]; };
// and 2 at a time (CPL = 2)
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_Q) readonly buffer Q2 { IO2_T q2[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_V) readonly buffer V2 { IO2_T v2[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_H0) readonly buffer H02 { vec2 h02[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_HT) writeonly buffer HT2 { vec2 ht2[]; };
layout(std430, binding = DELTA_RULE_RECURRENT_BIND_O) writeonly buffer O2 { IO2_T o2[]; };

#include "softplus.glsl"

#define ENTRY(slots, i) CPU_ENTRY(slots, i, K)
#define LOAD_KEY(slots, buf, buf4, base) CPU_LOAD_ROW(slots, buf, buf4, base, K, cpu_same)

void main()
{
    const uint lane = gl_SubgroupInvocationID;
    const uint vt = gl_WorkGroupID.x;
    const uint hv = gl_WorkGroupID.y;
    const uint n = gl_WorkGroupID.z;
    const uint h = hv / (pc.HV / pc.H);
    const uint col0 = (vt * WG + gl_LocalInvocationID.x) * CPL; // this lane's first column
    // (constant when V fills whole tiles; with CPL = 4, V % 4 == 0 so all 4 columns exist)
    const bool col_ok = V % (WG * CPL) == 0 || col0 < V;

    uint bos, len;
    if (VARLEN) {
        bos = uint(cu_seqlens[n]);
        len = uint(cu_seqlens[n + 1]) - bos;
    } else {
        bos = n * pc.T;
        len = pc.T;
    }
    // Long sequences run as several dispatches (the host carries the state between them).
    const uint skip = min(len, pc.t_begin);
    bos += skip;
    len = min(len - skip, pc.t_count);

    const uint state_base = (n * pc.HV + hv) * K * V;
    float s[K * CPL]; // s[i * CPL + c] = S[i][col0 + c]
    [[unroll]] for (uint i = 0; i < K; ++i) {
        if (CPL == 4) {
            const vec4 x = (USE_H0 && col_ok) ? h04[(state_base + i * V + col0) / 4] : vec4(0.0);
            [[unroll]] for (uint c = 0; c < 4; ++c)
                s[i * CPL + c % CPL] = x[c];
        } else if (CPL == 2) {
            const vec2 x = (USE_H0 && col_ok) ? h02[(state_base + i * V + col0) / 2] : vec2(0.0);
            [[unroll]] for (uint c = 0; c < 2; ++c)
                s[i * CPL + c % CPL] = x[c];
        } else {
            s[i] = (USE_H0 && col_ok) ? h0[state_base + i * V + col0] : 0.0;
        }
    }
    const float a_scale = GATE_ACT ? -exp(A_log[hv]) : 0.0;

    float kc[KSL], qc[KSL], gc[KSL], ac[KSL], bc[KSL], vc[CPL], qo[CPL];
    for (uint t = 0; t < len; ++t) {
        const uint tok = bos + t;
        const uint key_base = (tok * pc.H + h) * K; // q, k (and a, b) of head h
        LOAD_KEY(kc, k, k4, key_base)
        if (!KEY_READOUT)
            LOAD_KEY(qc, q, q4, key_base)
        if (GATE_CH || DPLR) {
            LOAD_KEY(gc, g, g4, (tok * pc.HV + hv) * K)
            [[unroll]] for (uint x = 0; x < KSL; ++x) {
                float gv = gc[x];
                if (GATE_ACT) {
                    const uint i = CPU_SLOT_ENTRY(x, K);
                    const float bias = USE_DT_BIAS && (KFULL || i < K) ? dt_bias[hv * K + i] : 0.0;
                    gv = a_scale * softplus(gv + bias);
                }
                gc[x] = exp(gv);
            }
        }
        if (DPLR) {
            LOAD_KEY(ac, beta, beta4, key_base)
            LOAD_KEY(bc, b_in, b4, key_base)
            if (RWKV7) { // a = -kappa, b = kappa * alpha
                [[unroll]] for (uint x = 0; x < KSL; ++x) {
                    bc[x] *= ac[x];
                    ac[x] = -ac[x];
                }
            }
        }
        if (L2NORM) { // q, k <- x / sqrt(sum x^2 + 1e-6), as fla's in-kernel l2norm
            float sq = 0.0, sk = 0.0;
            [[unroll]] for (uint x = 0; x < KSL; ++x) {
                sq += qc[x] * qc[x];
                sk += kc[x] * kc[x];
            }
            const float nq = inversesqrt(subgroupAdd(sq) + 1e-6);
            const float nk = inversesqrt(subgroupAdd(sk) + 1e-6);
            [[unroll]] for (uint x = 0; x < KSL; ++x) {
                qc[x] *= nq;
                kc[x] *= nk;
            }
        }
        const uint val = (tok * pc.HV + hv) * V + col0; // this lane's values and outputs
        if (CPL == 4) {
            const vec4 x = col_ok ? vec4(v4[val / 4]) : vec4(0.0);
            [[unroll]] for (uint c = 0; c < 4; ++c)
                vc[c % CPL] = x[c];
        } else if (CPL == 2) {
            const vec2 x = col_ok ? vec2(v2[val / 2]) : vec2(0.0);
            [[unroll]] for (uint c = 0; c < 2; ++c)
                vc[c % CPL] = x[c];
        } else {
            vc[0] = col_ok ? float(v[val]) : 0.0;
        }
        [[unroll]] for (uint c = 0; c < CPL; ++c)
            qo[c] = 0.0;

        if (DPLR) {
            float w[CPL]; // S_{t-1}^T a
            [[unroll]] for (uint c = 0; c < CPL; ++c)
                w[c] = 0.0;
            [[unroll]] for (uint i = 0; i < K; ++i) {
                const float ai = ENTRY(ac, i);
                [[unroll]] for (uint c = 0; c < CPL; ++c)
                    w[c] += s[i * CPL + c] * ai;
            }
            [[unroll]] for (uint i = 0; i < K; ++i) {
                const float gi = ENTRY(gc, i), bi = ENTRY(bc, i), ki = ENTRY(kc, i);
                const float qi = KEY_READOUT ? 0.0 : ENTRY(qc, i);
                [[unroll]] for (uint c = 0; c < CPL; ++c) {
                    const float x = s[i * CPL + c] * gi + bi * w[c] + ki * vc[c];
                    s[i * CPL + c] = x;
                    qo[c] += x * qi;
                }
            }
        } else {
            const uint a = tok * pc.HV + hv;
            float bt = float(beta[a]);
            if (BETA_SIGMOID)
                bt = 1.0 / (1.0 + exp(-bt));
            const float d = USE_G ? exp(float(g[a])) : 1.0;
            float kv[CPL], u[CPL];
            [[unroll]] for (uint c = 0; c < CPL; ++c)
                kv[c] = 0.0;
            [[unroll]] for (uint i = 0; i < K; ++i) { // decay, then S'^T k
                const float ki = ENTRY(kc, i);
                const float di = GATE_CH ? d * ENTRY(gc, i) : d;
                [[unroll]] for (uint c = 0; c < CPL; ++c) {
                    if (USE_G || GATE_CH)
                        s[i * CPL + c] *= di;
                    kv[c] += s[i * CPL + c] * ki;
                }
            }
            [[unroll]] for (uint c = 0; c < CPL; ++c)
                u[c] = bt * (vc[c] - kv[c]);
            [[unroll]] for (uint i = 0; i < K; ++i) { // update, then S^T q
                const float ki = ENTRY(kc, i);
                const float qi = KEY_READOUT ? 0.0 : ENTRY(qc, i);
                [[unroll]] for (uint c = 0; c < CPL; ++c) {
                    const float x = s[i * CPL + c] + ki * u[c];
                    s[i * CPL + c] = x;
                    qo[c] += x * qi;
                }
            }
        }

        if (KEY_READOUT) { // o[i] = sum over the columns of S[i][c] q[c]
            float qv[CPL];
            const uint qa = (tok * pc.H + h) * V + col0;
            if (CPL == 4) {
                const vec4 x = col_ok ? vec4(q4[qa / 4]) : vec4(0.0);
                [[unroll]] for (uint c = 0; c < 4; ++c)
                    qv[c % CPL] = x[c];
            } else if (CPL == 2) {
                const vec2 x = col_ok ? vec2(q2[qa / 2]) : vec2(0.0);
                [[unroll]] for (uint c = 0; c < 2; ++c)
                    qv[c % CPL] = x[c];
            } else {
                qv[0] = col_ok ? float(q[qa]) : 0.0;
            }
            float oc[KSL];
            [[unroll]] for (uint x = 0; x < KSL; ++x)
                oc[x] = 0.0;
            [[unroll]] for (uint i = 0; i < K; ++i) {
                float part = 0.0;
                [[unroll]] for (uint c = 0; c < CPL; ++c)
                    part += s[i * CPL + c] * qv[c];
                const float tot = subgroupAdd(part);
                if (lane == (i / CPU_W(K)) % LANES) // the lane holding entry i keeps it
                    oc[(i / (CPU_W(K) * LANES)) * CPU_W(K) + i % CPU_W(K)] = tot * pc.scale;
            }
            const uint out_base = (tok * pc.HV + hv) * K;
            [[unroll]] for (uint x = 0; x < KSL; ++x) {
                const uint i = CPU_SLOT_ENTRY(x, K);
                if (KFULL || i < K) {
                    if (PARTIAL_OUT)
                        o_part[vt * pc.tokens * pc.HV * K + out_base + i] = oc[x];
                    else
                        o[out_base + i] = IO_T(oc[x]);
                }
            }
        } else if (col_ok) {
            if (CPL == 4) {
                vec4 x;
                [[unroll]] for (uint c = 0; c < 4; ++c)
                    x[c] = qo[c % CPL] * pc.scale; // (c % CPL = c: CPL is 4 here)
                o4[val / 4] = IO4_T(x);
            } else if (CPL == 2) {
                o2[val / 2] = IO2_T(vec2(qo[0], qo[1 % CPL]) * pc.scale);
            }
            else
                o[val] = IO_T(qo[0] * pc.scale);
        }
    }

    if (STORE_HT && col_ok) {
        [[unroll]] for (uint i = 0; i < K; ++i) {
            if (CPL == 4) {
                vec4 x;
                [[unroll]] for (uint c = 0; c < 4; ++c)
                    x[c] = s[i * CPL + c % CPL];
                ht4[(state_base + i * V + col0) / 4] = x;
            } else if (CPL == 2) {
                ht2[(state_base + i * V + col0) / 2] = vec2(s[i * CPL], s[i * CPL + 1 % CPL]);
            } else
                ht[state_base + i * V + col0] = s[i];
        }
    }
}
