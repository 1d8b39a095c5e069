#version 450
// Delta rule and gated delta rule, token by token (decode, short sequences).
//
//   S' = exp(g_t) S_{t-1}            (gated only; USE_G)
//   u  = beta_t (v_t - S'^T k_t)
//   S_t = S' + k_t u^T
//   o_t = S_t^T (scale q_t)
//
// Preconditions (checked by src/ops/delta_rule/delta_rule.c):
//   q, k [*, H, K];  v, o [*, HV, V];  beta, g [*, HV];  h0, ht [N, HV, K, V] fp32;
//   HV a multiple of H (grouped value heads: value head hv reads q/k head hv / (HV/H));
//   1 <= K, V <= 256; KS a power of two (and <= the subgroup size with DVK_SUBGROUP_REDUCE).
//
// A long sequence is split over several dispatches of at most t_count tokens each, the state
// written by one and read by the next (the host binds them): every dispatch stays short.
//
// Work split: one workgroup per (value tile of BV columns, value head, sequence). Each column of
// the tile belongs to KS adjacent invocations, each holding R = ceil(K/KS) rows of it in
// registers (rows ks, ks+KS, ...). The two dot products per token (S^T k and S^T q) are partial
// sums over those rows, added across the KS invocations. Tokens are staged TB at a time in
// shared memory so q, k, v are read from memory once per workgroup, coalesced.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint K = 128;
layout(constant_id = 1) const uint V = 128;
layout(constant_id = 2) const uint BV = 32;    // value columns per workgroup
layout(constant_id = 3) const uint KS = 4;     // invocations per column
layout(constant_id = 4) const uint TB = 16;    // tokens staged per step
layout(constant_id = 5) const bool USE_G = false;
layout(constant_id = 6) const bool USE_H0 = false;
layout(constant_id = 7) const bool STORE_HT = false;
layout(constant_id = 8) const bool VARLEN = false;
layout(constant_id = 9) const bool L2NORM = false;
layout(constant_id = 10) const uint WG = 128;  // = BV * KS
layout(local_size_x_id = 10) in;

const uint R = (K + KS - 1) / KS; // state rows per invocation
const uint KP = R * KS;           // K padded to whole rows per invocation

#include "io.glsl"

layout(push_constant) uniform Push {
    uint T;       // tokens per sequence (ignored with VARLEN)
    uint H;       // q/k heads
    uint HV;      // value heads
    float scale;
    uint t_begin; // this dispatch runs tokens [t_begin, t_begin + t_count) of each sequence
    uint t_count;
} pc;

layout(std430, binding = 0) readonly buffer Q { IO_T q[]; };
layout(std430, binding = 1) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = 2) readonly buffer Vb { IO_T v[]; };
layout(std430, binding = 3) readonly buffer Beta { IO_T beta[]; };
layout(std430, binding = 4) readonly buffer G { IO_T g[]; };
layout(std430, binding = 5) readonly buffer H0 { float h0[]; };
layout(std430, binding = 6) writeonly buffer HT { float ht[]; };
layout(std430, binding = 7) writeonly buffer O { IO_T o[]; };
layout(std430, binding = 8) readonly buffer CU { int cu_seqlens[]; };

shared float s_q[TB * KP];
shared float s_k[TB * KP];
shared float s_v[TB * BV];
shared float s_o[TB * BV];
shared float s_beta[TB];
shared float s_decay[TB];
shared float s_qnorm[TB];
shared float s_knorm[TB];
#ifndef DVK_SUBGROUP_REDUCE
shared float red_buf[WG];
#endif

#include "reduce.glsl"

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint col = lid / KS;
    const uint ks = lid % KS;
    const uint vt = gl_WorkGroupID.x;
    const uint hv = gl_WorkGroupID.y;
    const uint n = gl_WorkGroupID.z;
    const uint h = hv / (pc.HV / pc.H);
    const uint vcol = vt * BV + col;
    const bool col_ok = col < BV && vcol < V;

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
    float s[R];
    [[unroll]] for (uint r = 0; r < R; ++r) {
        const uint i = ks + r * KS;
        s[r] = (USE_H0 && col_ok && i < K) ? h0[state_base + i * V + vcol] : 0.0;
    }

    for (uint t0 = 0; t0 < len; t0 += TB) {
        const uint nt = min(TB, len - t0);
        barrier(); // the previous step's s_o has been written out

        // Only the nt tokens that exist (a decode step stages one); rows are padded to KP with
        // zeros so the per-invocation loops need no bounds checks.
        for (uint idx = lid; idx < nt * KP; idx += WG) {
            const uint j = idx / KP, i = idx % KP;
            float qv = 0.0, kv = 0.0;
            if (i < K) {
                const uint a = ((bos + t0 + j) * pc.H + h) * K + i;
                qv = float(q[a]);
                kv = float(k[a]);
            }
            s_q[idx] = qv;
            s_k[idx] = kv;
        }
        for (uint idx = lid; idx < nt * BV; idx += WG) {
            const uint j = idx / BV, c = vt * BV + idx % BV;
            s_v[idx] = c < V ? float(v[((bos + t0 + j) * pc.HV + hv) * V + c]) : 0.0;
        }
        for (uint j = lid; j < nt; j += WG) {
            const uint a = (bos + t0 + j) * pc.HV + hv;
            s_beta[j] = float(beta[a]);
            s_decay[j] = USE_G ? exp(float(g[a])) : 1.0;
        }
        barrier();

        if (L2NORM) { // q, k <- x / sqrt(sum x^2 + 1e-6), as fla's in-kernel l2norm
            for (uint j = lid; j < nt; j += WG) {
                float sq = 0.0, sk = 0.0;
                for (uint i = 0; i < K; ++i) {
                    sq += s_q[j * KP + i] * s_q[j * KP + i];
                    sk += s_k[j * KP + i] * s_k[j * KP + i];
                }
                s_qnorm[j] = inversesqrt(sq + 1e-6);
                s_knorm[j] = inversesqrt(sk + 1e-6);
            }
            barrier();
            for (uint idx = lid; idx < nt * KP; idx += WG) {
                s_q[idx] *= s_qnorm[idx / KP];
                s_k[idx] *= s_knorm[idx / KP];
            }
            barrier();
        }

        for (uint j = 0; j < nt; ++j) {
            const uint row = j * KP + ks;
            if (USE_G) {
                const float d = s_decay[j];
                [[unroll]] for (uint r = 0; r < R; ++r)
                    s[r] *= d;
            }
            float kv = 0.0;
            [[unroll]] for (uint r = 0; r < R; ++r)
                kv += s[r] * s_k[row + r * KS];
            kv = cluster_sum(kv, lid);
            const float u = col_ok ? s_beta[j] * (s_v[j * BV + min(col, BV - 1)] - kv) : 0.0;
            float qo = 0.0;
            [[unroll]] for (uint r = 0; r < R; ++r) {
                s[r] += s_k[row + r * KS] * u;
                qo += s[r] * s_q[row + r * KS];
            }
            qo = cluster_sum(qo, lid);
            if (ks == 0 && col_ok)
                s_o[j * BV + col] = qo * pc.scale;
        }
        barrier();

        for (uint idx = lid; idx < nt * BV; idx += WG) {
            const uint j = idx / BV, c = vt * BV + idx % BV;
            if (c < V)
                o[((bos + t0 + j) * pc.HV + hv) * V + c] = IO_T(s_o[idx]);
        }
    }

    if (STORE_HT && col_ok) {
        [[unroll]] for (uint r = 0; r < R; ++r) {
            const uint i = ks + r * KS;
            if (i < K)
                ht[state_base + i * V + vcol] = s[r];
        }
    }
}
