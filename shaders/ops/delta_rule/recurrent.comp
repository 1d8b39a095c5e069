#version 450
// The delta-rule family, token by token (decode, short sequences). Per sequence and value head,
// state S [K x V] (row = key channel, column = value channel):
//
//   delta rule and its gated forms (DPLR = false):
//     S' = exp(g_t) S_{t-1}                    (USE_G: one log decay per head; dvk_gated_delta_rule)
//     S' = Diag(exp(g_t)) S_{t-1}              (GATE_CH: one per key channel; dvk_kda)
//     u  = beta_t (v_t - S'^T k_t);   S_t = S' + k_t u^T
//   generalized, diagonal plus low rank (DPLR = true; dvk_dplr, dvk_rwkv7):
//     w  = S_{t-1}^T a_t;             S_t = Diag(exp(gk_t)) S_{t-1} + b_t w^T + k_t v_t^T
//   read-out:
//     o_t = S_t^T (scale q_t)          (q has K entries; the usual one)
//     o_t = S_t (scale q_t)            (KEY_READOUT: q has V entries, o has K; Memodo)
//
// Options: GATE_ACT computes KDA's gate in the kernel, g <- -exp(A_log[hv]) softplus(g +
// dt_bias[hv, i]) (dt_bias only with USE_DT_BIAS); BETA_SIGMOID uses sigmoid(beta); RWKV7
// reads RWKV-7's kappa and alpha from the a and b bindings and forms a = -kappa,
// b = kappa * alpha; L2NORM normalises q and k.
//
// Preconditions (checked by src/ops/common/recurrent.c):
//   q, k [*, H, K] (q [*, H, V] with KEY_READOUT);  v [*, HV, V];  o [*, HV, V] (or K);
//   beta, g [*, HV] (g [*, HV, K] with GATE_CH);  a, b [*, H, K] with H = HV;
//   h0, ht [N, HV, K, V] fp32; HV a multiple of H (value head hv reads q/k head hv / (HV/H));
//   1 <= K, V <= 256; KS a power of two (and <= the subgroup size with DVK_SUBGROUP_REDUCE).
//
// A long sequence is split over several dispatches of at most t_count tokens each, the state
// written by one and read by the next (the host binds them): every dispatch stays short.
//
// Work split: one workgroup per (value tile of BV columns, value head, sequence). Each column of
// the tile belongs to KS adjacent invocations, each holding R = ceil(K/KS) rows of it in
// registers (rows ks, ks+KS, ...). Sums over a column (S^T k, S^T a, S^T q) are partial sums over
// those rows, added across the KS invocations. The key read-out sums along rows instead, across
// the tile's columns, through shared memory; with several value tiles each workgroup writes its
// part (PARTIAL_OUT) and a second pass (sum_tiles.comp) adds them. Tokens are staged TB at a
// time in shared memory so inputs are read from memory once per workgroup, coalesced.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "recurrent.h"

layout(constant_id = DELTA_RULE_RECURRENT_SPEC_K) const uint K = 128;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_V) const uint V = 128;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_BV) const uint BV = 32;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_KS) const uint KS = 4;   // invocations per column
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_TB) const uint TB = 16;  // tokens staged per step
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_USE_G) const bool USE_G = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_USE_H0) const bool USE_H0 = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_STORE_HT) const bool STORE_HT = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_VARLEN) const bool VARLEN = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_L2NORM) const bool L2NORM = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_WG) const uint WG = 128; // = BV * KS
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_GATE_CH) const bool GATE_CH = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_DPLR) const bool DPLR = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_KEY_READOUT) const bool KEY_READOUT = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_GATE_ACT) const bool GATE_ACT = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_BETA_SIGMOID) const bool BETA_SIGMOID = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_RWKV7) const bool RWKV7 = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_PARTIAL_OUT) const bool PARTIAL_OUT = false;
layout(constant_id = DELTA_RULE_RECURRENT_SPEC_USE_DT_BIAS) const bool USE_DT_BIAS = false;
layout(local_size_x_id = DELTA_RULE_RECURRENT_SPEC_WG) in;

const uint R = (K + KS - 1) / KS; // state rows per invocation
const uint KP = R * KS;           // K padded to whole rows per invocation

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

const uint QD = KEY_READOUT ? BV : KP; // staged q entries per token
const uint OD = KEY_READOUT ? KP : BV; // staged o entries per token
shared float s_q[TB * QD];
shared float s_k[TB * KP];
shared float s_gk[GATE_CH || DPLR ? TB * KP : 1]; // per-channel decay factors exp(g)
shared float s_a[DPLR ? TB * KP : 1];
shared float s_b[DPLR ? TB * KP : 1];
shared float s_v[TB * BV];
shared float s_o[TB * OD];
shared float s_beta[TB];
shared float s_decay[TB];
shared float s_qnorm[TB];
shared float s_knorm[TB];
shared float s_part[KEY_READOUT ? KP * BV : 1]; // key read-out: S[i][c] q_c before the row sums
#ifndef DVK_SUBGROUP_REDUCE
shared float red_buf[WG];
#endif

#include "reduce.glsl"

#include "softplus.glsl"

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
    const float a_scale = GATE_ACT ? -exp(A_log[hv]) : 0.0;

    for (uint t0 = 0; t0 < len; t0 += TB) {
        const uint nt = min(TB, len - t0);
        barrier(); // the previous step's s_o has been written out

        // Only the nt tokens that exist (a decode step stages one); rows are padded to KP with
        // zeros so the per-invocation loops need no bounds checks.
        for (uint idx = lid; idx < nt * KP; idx += WG) {
            const uint j = idx / KP, i = idx % KP;
            const uint tok = bos + t0 + j;
            float kv = 0.0, gv = 0.0, av = 0.0, bv = 0.0;
            if (i < K) {
                const uint a = (tok * pc.H + h) * K + i;
                kv = float(k[a]);
                if (!KEY_READOUT)
                    s_q[idx] = float(q[a]);
                if (GATE_CH || DPLR) {
                    gv = float(g[(tok * pc.HV + hv) * K + i]);
                    if (GATE_ACT)
                        gv = a_scale * softplus(gv + (USE_DT_BIAS ? dt_bias[hv * K + i] : 0.0));
                }
                if (DPLR) {
                    av = float(beta[a]);
                    bv = float(b_in[a]);
                    if (RWKV7) { // a = -kappa, b = kappa * alpha
                        bv *= av;
                        av = -av;
                    }
                }
            } else if (!KEY_READOUT) {
                s_q[idx] = 0.0;
            }
            s_k[idx] = kv;
            if (GATE_CH || DPLR)
                s_gk[idx] = exp(gv);
            if (DPLR) {
                s_a[idx] = av;
                s_b[idx] = bv;
            }
        }
        for (uint idx = lid; idx < nt * BV; idx += WG) {
            const uint j = idx / BV, c = vt * BV + idx % BV;
            s_v[idx] = c < V ? float(v[((bos + t0 + j) * pc.HV + hv) * V + c]) : 0.0;
            if (KEY_READOUT)
                s_q[idx] = c < V ? float(q[((bos + t0 + j) * pc.H + h) * V + c]) : 0.0;
        }
        if (!DPLR) {
            for (uint j = lid; j < nt; j += WG) {
                const uint a = (bos + t0 + j) * pc.HV + hv;
                const float x = float(beta[a]);
                s_beta[j] = BETA_SIGMOID ? 1.0 / (1.0 + exp(-x)) : x;
                s_decay[j] = USE_G ? exp(float(g[a])) : 1.0;
            }
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
            const float vc = s_v[j * BV + min(col, BV - 1)];
            if (DPLR) {
                float w = 0.0; // S_{t-1}^T a
                [[unroll]] for (uint r = 0; r < R; ++r)
                    w += s[r] * s_a[row + r * KS];
                w = cluster_sum(w, lid);
                [[unroll]] for (uint r = 0; r < R; ++r) {
                    const uint e = row + r * KS;
                    s[r] = s[r] * s_gk[e] + s_b[e] * w + s_k[e] * vc;
                }
            } else {
                if (USE_G) {
                    const float d = s_decay[j];
                    [[unroll]] for (uint r = 0; r < R; ++r)
                        s[r] *= d;
                }
                if (GATE_CH) {
                    [[unroll]] for (uint r = 0; r < R; ++r)
                        s[r] *= s_gk[row + r * KS];
                }
                float kv = 0.0;
                [[unroll]] for (uint r = 0; r < R; ++r)
                    kv += s[r] * s_k[row + r * KS];
                kv = cluster_sum(kv, lid);
                const float u = col_ok ? s_beta[j] * (vc - kv) : 0.0;
                [[unroll]] for (uint r = 0; r < R; ++r)
                    s[r] += s_k[row + r * KS] * u;
            }
            if (KEY_READOUT) { // o[i] = sum over the tile's columns of S[i][c] q[c]
                const float qc = col_ok ? s_q[j * BV + col] : 0.0;
                if (col < BV) {
                    [[unroll]] for (uint r = 0; r < R; ++r)
                        s_part[(ks + r * KS) * BV + col] = s[r] * qc;
                }
                barrier();
                for (uint i = lid; i < KP; i += WG) {
                    float acc = 0.0;
                    for (uint c = 0; c < BV; ++c)
                        acc += s_part[i * BV + c];
                    s_o[j * KP + i] = acc * pc.scale;
                }
                barrier();
            } else {
                float qo = 0.0;
                [[unroll]] for (uint r = 0; r < R; ++r)
                    qo += s[r] * s_q[row + r * KS];
                qo = cluster_sum(qo, lid);
                if (ks == 0 && col_ok)
                    s_o[j * BV + col] = qo * pc.scale;
            }
        }
        barrier();

        if (KEY_READOUT) {
            for (uint idx = lid; idx < nt * KP; idx += WG) {
                const uint j = idx / KP, i = idx % KP;
                const uint a = ((bos + t0 + j) * pc.HV + hv) * K + i;
                if (i < K) {
                    if (PARTIAL_OUT)
                        o_part[vt * pc.tokens * pc.HV * K + a] = s_o[idx];
                    else
                        o[a] = IO_T(s_o[idx]);
                }
            }
        } else {
            for (uint idx = lid; idx < nt * BV; idx += WG) {
                const uint j = idx / BV, c = vt * BV + idx % BV;
                if (c < V)
                    o[((bos + t0 + j) * pc.HV + hv) * V + c] = IO_T(s_o[idx]);
            }
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
