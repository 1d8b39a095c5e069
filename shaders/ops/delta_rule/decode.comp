#version 450
// The delta-rule family, one token per sequence (the decode step): a single pass over the
// state, which is read once and written once — the whole cost of a decode step.
//
//   delta rule, gated (USE_G: one decay per head) or KDA (GATE_CH: one per key channel):
//     S' = D S;   kv = S'^T k;   qs = S'^T q;   u = beta (v - kv)
//     o  = scale (qs + u (k . q))          (= S_new^T (scale q), since S_new = S' + k u^T)
//     S_new = S' + k u^T
//   generalized rule (DPLR: dvk_dplr, dvk_rwkv7), D = Diag(exp(gk)):
//     w = S^T a;   qs = (D S)^T q
//     o = scale (qs + w (b . q) + v (k . q))   (= S_new^T (scale q))
//     S_new = D S + b w^T + k v^T
//
// Options as recurrent.comp: GATE_ACT (KDA's gate from A_log and dt_bias), BETA_SIGMOID, RWKV7
// (a = -kappa, b = kappa * alpha from the a and b bindings), L2NORM.
//
// One workgroup per (value tile of BV columns, value head, sequence). Invocation (rg, cg) owns
// columns 4cg .. 4cg+3 of the tile and rows rg, rg+RG, ...: a vec4 per row, so 8 neighbouring
// invocations read one 128-byte row. The sums over rows go through shared memory (no subgroup
// operations needed).
//
// Preconditions (src/ops/common/recurrent.c): V % 4 == 0 (vec4 rows); BV % 4 == 0;
// WG = RG * BV/4, a power of two; 1 <= K <= 256; H = HV with DPLR.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "decode.h"

layout(constant_id = DELTA_RULE_DECODE_SPEC_K) const uint K = 128;
layout(constant_id = DELTA_RULE_DECODE_SPEC_V) const uint V = 128;
layout(constant_id = DELTA_RULE_DECODE_SPEC_BV) const uint BV = 32; // value columns per workgroup
layout(constant_id = DELTA_RULE_DECODE_SPEC_USE_G) const bool USE_G = false;
layout(constant_id = DELTA_RULE_DECODE_SPEC_USE_H0) const bool USE_H0 = false;
layout(constant_id = DELTA_RULE_DECODE_SPEC_STORE_HT) const bool STORE_HT = false;
layout(constant_id = DELTA_RULE_DECODE_SPEC_L2NORM) const bool L2NORM = false;
layout(constant_id = DELTA_RULE_DECODE_SPEC_WG) const uint WG = 128;
layout(constant_id = DELTA_RULE_DECODE_SPEC_GATE_CH) const bool GATE_CH = false;
layout(constant_id = DELTA_RULE_DECODE_SPEC_DPLR) const bool DPLR = false;
layout(constant_id = DELTA_RULE_DECODE_SPEC_GATE_ACT) const bool GATE_ACT = false;
layout(constant_id = DELTA_RULE_DECODE_SPEC_BETA_SIGMOID) const bool BETA_SIGMOID = false;
layout(constant_id = DELTA_RULE_DECODE_SPEC_RWKV7) const bool RWKV7 = false;
layout(constant_id = DELTA_RULE_DECODE_SPEC_USE_DT_BIAS) const bool USE_DT_BIAS = false;
layout(local_size_x_id = DELTA_RULE_DECODE_SPEC_WG) in;

const uint CG = BV / 4;               // column groups
const uint RG = WG / CG;              // row groups
const uint RPT = (K + RG - 1) / RG;   // rows per invocation

#include "io.glsl"

layout(std430, binding = DELTA_RULE_DECODE_BIND_Q) readonly buffer Q { IO_T q[]; };
layout(std430, binding = DELTA_RULE_DECODE_BIND_K) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = DELTA_RULE_DECODE_BIND_V) readonly buffer Vb { IO_T v[]; };
layout(std430, binding = DELTA_RULE_DECODE_BIND_BETA) readonly buffer Beta { IO_T beta[]; };
layout(std430, binding = DELTA_RULE_DECODE_BIND_G) readonly buffer G { IO_T g[]; };
layout(std430, binding = DELTA_RULE_DECODE_BIND_H0) readonly buffer H0 { vec4 h0[]; };
layout(std430, binding = DELTA_RULE_DECODE_BIND_HT) writeonly buffer HT { vec4 ht[]; };
layout(std430, binding = DELTA_RULE_DECODE_BIND_O) writeonly buffer O { IO_T o[]; };
layout(std430, binding = DELTA_RULE_DECODE_BIND_B) readonly buffer Bb { IO_T b_in[]; };
layout(std430, binding = DELTA_RULE_DECODE_BIND_A_LOG) readonly buffer ALog { float A_log[]; };
layout(std430, binding = DELTA_RULE_DECODE_BIND_DT_BIAS)
    readonly buffer DtBias { float dt_bias[]; };

shared float s_q[K];
shared float s_k[K];
shared float s_d[GATE_CH || DPLR ? K : 1]; // per-channel decay factors
shared float s_a[DPLR ? K : 1];
shared float s_b[DPLR ? K : 1];
shared vec4 s_red[2 * WG];     // partial column sums of every invocation
shared vec4 s_tot[2 * CG];     // their sums over row groups
shared float s_scalars[4];     // k . q; the norm factors of q and k (L2NORM); b . q (DPLR)

#include "softplus.glsl"

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint cg = lid % CG, rg = lid / CG;
    const uint vt = gl_WorkGroupID.x, hv = gl_WorkGroupID.y, n = gl_WorkGroupID.z;
    const uint h = hv / (pc.HV / pc.H);
    const uint col = vt * BV + 4 * cg;    // first of this invocation's 4 columns
    const bool col_ok = col < V;          // V % 4 == 0: all four or none
    const uint a = n * pc.HV + hv;
    const uint state_base = a * K * V;  // in floats; a multiple of 4

    // The state loads go first: their latency overlaps everything up to the partial sums.
    vec4 s[RPT];
    [[unroll]] for (uint r = 0; r < RPT; ++r) {
        const uint i = rg + RG * r;
        s[r] = (USE_H0 && col_ok && i < K) ? h0[(state_base + i * V + col) / 4] : vec4(0.0);
    }
    const float decay = USE_G ? exp(float(g[a])) : 1.0;

    for (uint i = lid; i < K; i += WG) {
        const uint e = (n * pc.H + h) * K + i;
        s_q[i] = float(q[e]);
        s_k[i] = float(k[e]);
        if (GATE_CH || DPLR) {
            float gv = float(g[a * K + i]);
            if (GATE_ACT)
                gv = -exp(A_log[hv]) * softplus(gv + (USE_DT_BIAS ? dt_bias[hv * K + i] : 0.0));
            s_d[i] = exp(gv);
        }
        if (DPLR) {
            float av = float(beta[e]), bv = float(b_in[e]);
            if (RWKV7) { // a = -kappa, b = kappa * alpha
                bv *= av;
                av = -av;
            }
            s_a[i] = av;
            s_b[i] = bv;
        }
    }
    barrier();
    // k.q, q.q, k.k and b.q: partial sums, then a tree over the workgroup
    vec4 dots = vec4(0.0);
    for (uint i = lid; i < K; i += WG)
        dots += vec4(s_k[i] * s_q[i], s_q[i] * s_q[i], s_k[i] * s_k[i],
                     DPLR ? s_b[i] * s_q[i] : 0.0);
    s_red[lid] = dots;
    barrier();
    for (uint w = WG / 2; w > 0; w >>= 1) {
        if (lid < w)
            s_red[lid] += s_red[lid + w];
        barrier();
    }
    if (lid == 0) {
        const vec4 d = s_red[0];
        // with L2NORM, q and k <- x / sqrt(sum x^2 + 1e-6), as fla's in-kernel l2norm
        const float rq = L2NORM ? inversesqrt(d.y + 1e-6) : 1.0;
        const float rk = L2NORM ? inversesqrt(d.z + 1e-6) : 1.0;
        s_scalars[0] = d.x * rq * rk;
        s_scalars[1] = rq;
        s_scalars[2] = rk;
        s_scalars[3] = d.w;
    }
    barrier();
    if (L2NORM) {
        for (uint i = lid; i < K; i += WG) {
            s_q[i] *= s_scalars[1];
            s_k[i] *= s_scalars[2];
        }
        barrier();
    }

    // pk: S'^T k (delta forms) or S^T a (DPLR, before the decay); pq: (D S)^T q
    vec4 pk = vec4(0.0), pq = vec4(0.0);
    [[unroll]] for (uint r = 0; r < RPT; ++r) {
        const uint i = rg + RG * r;
        if (i < K) {
            if (DPLR)
                pk += s[r] * s_a[i];
            if (USE_G)
                s[r] *= decay;
            if (GATE_CH || DPLR)
                s[r] *= s_d[i];
            if (!DPLR)
                pk += s[r] * s_k[i];
            pq += s[r] * s_q[i];
        }
    }
    s_red[lid] = pk;
    s_red[WG + lid] = pq;
    barrier();
    if (lid < 2 * CG) { // column group lid % CG of the k (lid < CG) or q sums
        const uint which = lid / CG, c = lid % CG;
        vec4 t = vec4(0.0);
        for (uint j = 0; j < RG; ++j)
            t += s_red[which * WG + j * CG + c];
        s_tot[lid] = t;
    }
    barrier();

    const vec4 pk_tot = s_tot[cg], qs = s_tot[CG + cg];
    vec4 u = vec4(0.0), vv = vec4(0.0);
    if (col_ok) {
        vv = vec4(float(v[a * V + col]), float(v[a * V + col + 1]), float(v[a * V + col + 2]),
                  float(v[a * V + col + 3]));
        vec4 out_o;
        if (DPLR) {
            u = pk_tot; // w
            out_o = pc.scale * (qs + u * s_scalars[3] + vv * s_scalars[0]);
        } else {
            const float bt = float(beta[a]);
            u = (BETA_SIGMOID ? 1.0 / (1.0 + exp(-bt)) : bt) * (vv - pk_tot);
            out_o = pc.scale * (qs + u * s_scalars[0]);
        }
        if (rg == 0) {
            [[unroll]] for (uint e = 0; e < 4; ++e)
                o[a * V + col + e] = IO_T(out_o[e]);
        }
    }
    if (STORE_HT && col_ok) {
        [[unroll]] for (uint r = 0; r < RPT; ++r) {
            const uint i = rg + RG * r;
            if (i < K) {
                const vec4 upd = DPLR ? s_b[i] * u + s_k[i] * vv : s_k[i] * u;
                ht[(state_base + i * V + col) / 4] = s[r] + upd;
            }
        }
    }
}
