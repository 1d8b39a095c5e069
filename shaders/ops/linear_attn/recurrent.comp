#version 450
// Normalised linear attention, token by token (decode, short sequences, CPU devices). Per
// sequence and head, state S [K x V] (row = key channel) and normaliser z [K]:
//   done_t != 0:  S = 0, z = 0            (token t starts a new episode)
//   S_t = S_{t-1} + φ(k_t) v_t^T;  z_t = z_{t-1} + φ(k_t);  q' = scale φ(q_t)
//   o_t = S_t^T q' / max(q'·z_t, eps)     (EPS_ADD: q'·z_t + eps; without NORMALIZE: S_t^T q')
//
// Work split as shaders/delta_rule/recurrent.comp: one workgroup per (value tile of BV columns,
// head, sequence); each column belongs to KS adjacent invocations holding R = ceil(K/KS) of its
// rows in registers, and each of them also holds the same R rows of z (the normaliser is
// computed again by every column: cheaper than sharing it). z is read, never written here:
// normalizer.comp writes it afterwards, so every workgroup sees the initial z even when the
// caller updates it in place. Tokens are staged TB at a time in shared memory. A long sequence
// is split over several dispatches of at most t_count tokens, the state and normaliser carried
// through memory (the host binds them).
//
// Preconditions (src/ops/linear_attn/linear_attn.c): q, k [*, H, K]; v, o [*, H, V];
// done [*] (one flag per packed token); h0, ht [N, H, K, V] and z0 [N, H, K] fp32;
// 1 <= K, V <= 256; KS a power of two (<= the subgroup size with DVK_SUBGROUP_REDUCE).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "recurrent.h"

layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_K) const uint K = 128;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_V) const uint V = 128;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_BV) const uint BV = 32;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_KS) const uint KS = 4;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_TB) const uint TB = 16;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_USE_H0) const bool USE_H0 = false;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_STORE_HT) const bool STORE_HT = false;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_VARLEN) const bool VARLEN = false;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_WG) const uint WG = 128; // = BV * KS
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_ELU1) const bool ELU1 = false;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_NORMALIZE) const bool NORMALIZE = true;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_EPS_ADD) const bool EPS_ADD = false;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_USE_DONE) const bool USE_DONE = false;
layout(constant_id = LINEAR_ATTN_RECURRENT_SPEC_USE_Z0) const bool USE_Z0 = false;
layout(local_size_x_id = LINEAR_ATTN_RECURRENT_SPEC_WG) in;

const uint R = (K + KS - 1) / KS;
const uint KP = R * KS;

#include "io.glsl"
#include "feature.glsl"

layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_Q) readonly buffer Q { IO_T q[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_K) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_V) readonly buffer Vb { IO_T v[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_DONE) readonly buffer Done { IO_T done[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_H0) readonly buffer H0 { float h0[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_Z0) readonly buffer Z0 { float z0[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_HT) writeonly buffer HT { float ht[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_O) writeonly buffer O { IO_T o[]; };
layout(std430, binding = LINEAR_ATTN_RECURRENT_BIND_CU_SEQLENS)
    readonly buffer CU { int cu_seqlens[]; };

shared float s_q[TB * KP];
shared float s_k[TB * KP];
shared float s_v[TB * BV];
shared float s_o[TB * BV];
shared bool s_reset[TB];
#ifndef DVK_SUBGROUP_REDUCE
shared float red_buf[WG];
#endif

#include "reduce.glsl"

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint col = lid / KS, ks = lid % KS;
    const uint vt = gl_WorkGroupID.x, h = gl_WorkGroupID.y, n = gl_WorkGroupID.z;
    const uint vcol = vt * BV + col;
    const bool col_ok = vcol < V;

    uint bos, len;
    if (VARLEN) {
        bos = uint(cu_seqlens[n]);
        len = uint(cu_seqlens[n + 1]) - bos;
    } else {
        bos = n * pc.T;
        len = pc.T;
    }
    const uint skip = min(len, pc.t_begin);
    bos += skip;
    len = min(len - skip, pc.t_count);

    const uint state_base = (n * pc.H + h) * K * V, z_base = (n * pc.H + h) * K;
    float s[R], z[R];
    [[unroll]] for (uint r = 0; r < R; ++r) {
        const uint i = ks + r * KS;
        s[r] = (USE_H0 && col_ok && i < K) ? h0[state_base + i * V + vcol] : 0.0;
        z[r] = (USE_Z0 && i < K) ? z0[z_base + i] : 0.0;
    }

    for (uint t0 = 0; t0 < len; t0 += TB) {
        const uint nt = min(TB, len - t0);
        barrier(); // the previous step's s_o has been written out
        for (uint idx = lid; idx < nt * KP; idx += WG) {
            const uint j = idx / KP, i = idx % KP;
            const uint a = ((bos + t0 + j) * pc.H + h) * K + i;
            s_q[idx] = i < K ? pc.scale * feature(float(q[a])) : 0.0;
            s_k[idx] = i < K ? feature(float(k[a])) : 0.0;
        }
        for (uint idx = lid; idx < nt * BV; idx += WG) {
            const uint j = idx / BV, c = vt * BV + idx % BV;
            s_v[idx] = c < V ? float(v[((bos + t0 + j) * pc.H + h) * V + c]) : 0.0;
        }
        if (USE_DONE) {
            for (uint j = lid; j < nt; j += WG)
                s_reset[j] = float(done[bos + t0 + j]) != 0.0;
        }
        barrier();

        for (uint j = 0; j < nt; ++j) {
            const uint row = j * KP + ks;
            if (USE_DONE && s_reset[j]) {
                [[unroll]] for (uint r = 0; r < R; ++r) {
                    s[r] = 0.0;
                    z[r] = 0.0;
                }
            }
            const float vc = col_ok ? s_v[j * BV + col] : 0.0;
            float qo = 0.0, qz = 0.0;
            [[unroll]] for (uint r = 0; r < R; ++r) {
                const float kf = s_k[row + r * KS], qf = s_q[row + r * KS];
                s[r] += kf * vc;
                z[r] += kf;
                qo += s[r] * qf;
                qz += z[r] * qf;
            }
            qo = cluster_sum(qo, lid);
            if (NORMALIZE)
                qz = cluster_sum(qz, lid);
            if (ks == 0 && col_ok)
                s_o[j * BV + col] = qo / denominator(qz, pc.eps);
        }
        barrier();
        for (uint idx = lid; idx < nt * BV; idx += WG) {
            const uint j = idx / BV, c = vt * BV + idx % BV;
            if (c < V)
                o[((bos + t0 + j) * pc.H + h) * V + c] = IO_T(s_o[idx]);
        }
    }

    [[unroll]] for (uint r = 0; r < R; ++r) {
        const uint i = ks + r * KS;
        if (STORE_HT && col_ok && i < K)
            ht[state_base + i * V + vcol] = s[r];
    }
}
