#version 450
// The delta-rule family token by token, planned for CPU devices (lavapipe): the same operators,
// options, bindings and push constants as recurrent.comp (recurrent.h), the same results, laid
// out for how llvmpipe compiles a compute shader.
//
// llvmpipe runs a workgroup on one thread, its invocations as SIMD vectors of the subgroup's
// width (8 lanes with 256-bit AVX). A load or store whose address differs between lanes (shared
// memory included) becomes a loop of scalar accesses, one per lane; a barrier switches between
// coroutines. Arithmetic on values held in registers, and moving values between the lanes of
// one subgroup (a shuffle by a constant lane is a vector permute), are cheap. So here:
//   - one value column per lane (WG columns per workgroup, a multiple of the subgroup size
//     LANES; exactly one subgroup with the key read-out): the state's column S[:, col] lives in
//     registers, s[K], updated by vector FMAs; several subgroups per workgroup (there is no
//     barrier, so llvmpipe simply runs them one after the other) save the per-workgroup cost
//     where there are many small workgroups (decode steps of a batch);
//   - a token's key-sized vectors (k, q, the gates, a, b) are loaded once per subgroup, chunk c
//     of LANES entries by one load (lane l holds entry c*LANES + l), and each entry i is handed
//     to every lane by a shuffle from lane i % LANES of chunk i / LANES;
//   - sums over the column (S^T k, S^T a, S^T q) are per-lane loops; sums across the columns
//     (the key read-out) are subgroup additions;
//   - no shared memory and no barrier.
// The loops over K have constant trip counts once K is specialised, so the compiler unrolls them
// and s[] stays in registers (or on the stack, as a vector array).
//
// Work split: one workgroup per (value tile of WG columns, value head, sequence). With the
// key read-out and several value tiles, each tile writes its part (PARTIAL_OUT) and
// sum_tiles.comp adds them, as recurrent.comp does.
//
// Preconditions (checked by src/ops/common/recurrent.c): those of recurrent.comp, and
// LANES = the subgroup size (fixed), WG = BV a multiple of it (= LANES with KEY_READOUT),
// KS = 1; the subgroup shuffle and arithmetic.
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
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_LANES) const uint LANES = 8; // the subgroup size
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_GATE_CH) const bool GATE_CH = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_DPLR) const bool DPLR = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_KEY_READOUT) const bool KEY_READOUT = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_GATE_ACT) const bool GATE_ACT = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_BETA_SIGMOID) const bool BETA_SIGMOID = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_RWKV7) const bool RWKV7 = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_PARTIAL_OUT) const bool PARTIAL_OUT = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_USE_DT_BIAS) const bool USE_DT_BIAS = false;
layout(local_size_x_id = DELTA_RULE_RECURRENT_SPEC_WG) in;

const uint KC = (K + LANES - 1) / LANES; // chunks of a key-sized vector

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

#include "softplus.glsl"

// Entry i of a key-sized vector held as chunks (lane l of chunk c holds entry c * LANES + l).
#define ENTRY(chunks, i) subgroupShuffle(chunks[(i) / LANES], (i) % LANES)

void main()
{
    const uint lane = gl_SubgroupInvocationID;
    const uint vt = gl_WorkGroupID.x;
    const uint hv = gl_WorkGroupID.y;
    const uint n = gl_WorkGroupID.z;
    const uint h = hv / (pc.HV / pc.H);
    const uint col = vt * WG + gl_LocalInvocationID.x;
    // (constant when V fills whole tiles: a load under a condition is slower)
    const bool col_ok = V % WG == 0 || col < V;

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
    float s[K];
    [[unroll]] for (uint i = 0; i < K; ++i)
        s[i] = (USE_H0 && col_ok) ? h0[state_base + i * V + col] : 0.0;
    const float a_scale = GATE_ACT ? -exp(A_log[hv]) : 0.0;

    float kc[KC], qc[KC], gc[KC], ac[KC], bc[KC];
    for (uint t = 0; t < len; ++t) {
        const uint tok = bos + t;
        const uint key_base = (tok * pc.H + h) * K; // q, k (and a, b) of head h
        [[unroll]] for (uint c = 0; c < KC; ++c) {
            const uint i = c * LANES + lane;
            const bool ok = K % LANES == 0 || i < K; // (constant then: see col_ok)
            kc[c] = ok ? float(k[key_base + i]) : 0.0;
            if (!KEY_READOUT)
                qc[c] = ok ? float(q[key_base + i]) : 0.0;
            if (GATE_CH || DPLR) {
                float gv = ok ? float(g[(tok * pc.HV + hv) * K + i]) : 0.0;
                if (GATE_ACT)
                    gv = a_scale * softplus(gv + (USE_DT_BIAS && ok ? dt_bias[hv * K + i] : 0.0));
                gc[c] = exp(gv);
            }
            if (DPLR) {
                float av = ok ? float(beta[key_base + i]) : 0.0;
                float bv = ok ? float(b_in[key_base + i]) : 0.0;
                if (RWKV7) { // a = -kappa, b = kappa * alpha
                    bv *= av;
                    av = -av;
                }
                ac[c] = av;
                bc[c] = bv;
            }
        }
        if (L2NORM) { // q, k <- x / sqrt(sum x^2 + 1e-6), as fla's in-kernel l2norm
            float sq = 0.0, sk = 0.0;
            [[unroll]] for (uint c = 0; c < KC; ++c) {
                sq += qc[c] * qc[c];
                sk += kc[c] * kc[c];
            }
            const float nq = inversesqrt(subgroupAdd(sq) + 1e-6);
            const float nk = inversesqrt(subgroupAdd(sk) + 1e-6);
            [[unroll]] for (uint c = 0; c < KC; ++c) {
                qc[c] *= nq;
                kc[c] *= nk;
            }
        }
        const uint val = (tok * pc.HV + hv) * V + col;
        const float vc = col_ok ? float(v[val]) : 0.0;

        if (DPLR) {
            float w = 0.0; // S_{t-1}^T a
            [[unroll]] for (uint i = 0; i < K; ++i)
                w += s[i] * ENTRY(ac, i);
            [[unroll]] for (uint i = 0; i < K; ++i)
                s[i] = s[i] * ENTRY(gc, i) + ENTRY(bc, i) * w + ENTRY(kc, i) * vc;
        } else {
            const uint a = tok * pc.HV + hv;
            float bt = float(beta[a]);
            if (BETA_SIGMOID)
                bt = 1.0 / (1.0 + exp(-bt));
            if (USE_G) {
                const float d = exp(float(g[a]));
                [[unroll]] for (uint i = 0; i < K; ++i)
                    s[i] *= d;
            }
            if (GATE_CH) {
                [[unroll]] for (uint i = 0; i < K; ++i)
                    s[i] *= ENTRY(gc, i);
            }
            float kv = 0.0;
            [[unroll]] for (uint i = 0; i < K; ++i)
                kv += s[i] * ENTRY(kc, i);
            const float u = bt * (vc - kv);
            [[unroll]] for (uint i = 0; i < K; ++i)
                s[i] += ENTRY(kc, i) * u;
        }

        if (KEY_READOUT) { // o[i] = sum over the columns of S[i][c] q[c]
            const float qv = col_ok ? float(q[(tok * pc.H + h) * V + col]) : 0.0;
            float oc[KC];
            [[unroll]] for (uint c = 0; c < KC; ++c)
                oc[c] = 0.0;
            [[unroll]] for (uint i = 0; i < K; ++i) {
                const float tot = subgroupAdd(s[i] * qv);
                if (lane == i % LANES)
                    oc[i / LANES] = tot * pc.scale;
            }
            const uint out_base = (tok * pc.HV + hv) * K;
            [[unroll]] for (uint c = 0; c < KC; ++c) {
                const uint i = c * LANES + lane;
                if (i < K) {
                    if (PARTIAL_OUT)
                        o_part[vt * pc.tokens * pc.HV * K + out_base + i] = oc[c];
                    else
                        o[out_base + i] = IO_T(oc[c]);
                }
            }
        } else {
            float qo = 0.0;
            [[unroll]] for (uint i = 0; i < K; ++i)
                qo += s[i] * ENTRY(qc, i);
            if (col_ok)
                o[val] = IO_T(qo * pc.scale);
        }
    }

    if (STORE_HT && col_ok) {
        [[unroll]] for (uint i = 0; i < K; ++i)
            ht[state_base + i * V + col] = s[i];
    }
}
