#version 450
// Causal softmax attention inside segments, one pass over the keys with an online softmax
// (flash attention's recurrence, in fp32 FMA). One workgroup per (block of BQ queries, head,
// batch row). The queries, scaled, stay in shared memory; the keys of their segments are
// visited BK at a time, up to the block's last query:
//   S = Q K_blk^T                        (over slices of DS features of K, block_mma.glsl)
//   masked: keys after the query, or before the start of the query's segment
//   m' = max(m, rowmax S);  P = exp(S - m');  l = l exp(m - m') + rowsum P
//   O  = O exp(m - m') + P V_blk
// and finally o = O / l. Each row's max and sum are taken by the GN invocations holding its
// logits (a partial each, combined per row from shared memory) rather than by one invocation
// per row looping over the block while the rest wait; l gets a block's sum one block late,
// when it is rescaled anyway. Logits enter exp() only after their row maximum is subtracted, so
// nothing overflows however large they are; masked entries carry a finite sentinel (no inf
// arithmetic, which some drivers' fast paths mishandle).
//
// Preconditions (src/ops/softmax_attn/softmax_attn.c): GN divides BK; GM = WG / GN divides BQ;
// WG >= BQ; DVP = DV rounded up to GN; DP = D rounded up to DS; 1 <= D, DV <= 256.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "softmax_attn.h"

layout(constant_id = SOFTMAX_ATTN_SPEC_D) const uint D = 128;
layout(constant_id = SOFTMAX_ATTN_SPEC_DV) const uint DV = 128;
layout(constant_id = SOFTMAX_ATTN_SPEC_BQ) const uint BQ = 32;
layout(constant_id = SOFTMAX_ATTN_SPEC_BK) const uint BK = 32;
layout(constant_id = SOFTMAX_ATTN_SPEC_WG) const uint WG = 256;
layout(constant_id = SOFTMAX_ATTN_SPEC_GN) const uint GN = 16;
layout(constant_id = SOFTMAX_ATTN_SPEC_DS) const uint DS = 32;
layout(local_size_x_id = SOFTMAX_ATTN_SPEC_WG) in;

#include "io.glsl"
#include "block_mma.glsl"

layout(std430, binding = SOFTMAX_ATTN_BIND_Q) readonly buffer Q { IO_T q[]; };
layout(std430, binding = SOFTMAX_ATTN_BIND_K) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = SOFTMAX_ATTN_BIND_V) readonly buffer Vb { IO_T v[]; };
layout(std430, binding = SOFTMAX_ATTN_BIND_O) writeonly buffer O { IO_T o[]; };
// k and v also in units of 4 elements, one load each, when D and DV are multiples of 4
#ifdef DVK_IO_F16
#define UNIT_T uvec2
vec4 unit_vec4(uvec2 x) { return vec4(unpackHalf2x16(x.x), unpackHalf2x16(x.y)); }
#else
#define UNIT_T vec4
vec4 unit_vec4(vec4 x) { return x; }
#endif
layout(std430, binding = SOFTMAX_ATTN_BIND_K) readonly buffer Ku { UNIT_T k_u[]; };
layout(std430, binding = SOFTMAX_ATTN_BIND_V) readonly buffer Vu { UNIT_T v_u[]; };
const bool UNITS = (D | DV | DS) % 4 == 0;

const uint DP = (D + DS - 1) / DS * DS;
const uint DVP = (DV + GN - 1) / GN * GN;
const uint QS = DP + 1, XS = DS + 1, PS = BK + 1;
const uint TM = BQ / GM, TNS = BK / GN, TNO = DVP / GN;
const uint X_FLOATS = BK * XS > BK * DVP ? BK * XS : BK * DVP; // a K slice, then the V block
shared float s_q[BQ * QS];
shared float s_x[X_FLOATS];
shared float s_p[BQ * PS];
shared float s_m[BQ], s_l[BQ], s_alpha[BQ];
shared float s_pmax[BQ * GN], s_psum[BQ * GN]; // per-invocation partials of each row

const float MASKED = -3.0e38;

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint tr = lid / GN, tc = lid % GN;
    const uint q0 = gl_WorkGroupID.x * BQ, h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
    const uint nq = min(BQ, pc.T - q0);
    const uint base = b * pc.T;

    for (uint idx = lid; idx < BQ * DP; idx += WG) {
        const uint t = idx / DP, i = idx % DP;
        s_q[t * QS + i] = (t < nq && i < D) ? pc.scale * float(q[((base + q0 + t) * pc.H + h) * D + i])
                                            : 0.0;
    }
    if (lid < BQ) {
        s_m[lid] = MASKED;
        s_l[lid] = 0.0;
    }
    for (uint idx = lid; idx < BQ * GN; idx += WG)
        s_psum[idx] = 0.0;
    float acco[TM * TNO];
    [[unroll]] for (uint e = 0; e < TM * TNO; ++e) acco[e] = 0.0;

    const uint kbegin = q0 / pc.segment * pc.segment, kend = q0 + nq;
    for (uint k0 = kbegin; k0 < kend; k0 += BK) {
        const uint nk = min(BK, kend - k0);
        float accs[TM * TNS];
        [[unroll]] for (uint e = 0; e < TM * TNS; ++e) accs[e] = 0.0;
        for (uint d0 = 0; d0 < DP; d0 += DS) {
            barrier(); // s_x and s_p are free
            if (UNITS) {
                for (uint u = lid; u < BK * DS / 4; u += WG) {
                    const uint j = u / (DS / 4), i = (u % (DS / 4)) * 4;
                    vec4 x = vec4(0.0);
                    if (j < nk && d0 + i < D)
                        x = unit_vec4(k_u[(((base + k0 + j) * pc.H + h) * D + d0 + i) / 4]);
                    [[unroll]] for (uint w = 0; w < 4; ++w) s_x[j * XS + i + w] = x[w];
                }
            } else {
                for (uint idx = lid; idx < BK * DS; idx += WG) {
                    const uint j = idx / DS, i = idx % DS;
                    s_x[j * XS + i] = (j < nk && d0 + i < D)
                                          ? float(k[((base + k0 + j) * pc.H + h) * D + d0 + i])
                                          : 0.0;
                }
            }
            barrier();
#define QA(row, kk) s_q[(row) * QS + d0 + (kk)]
#define KB(col, kk) s_x[(col) * XS + (kk)]
            BLOCK_MMA(accs, TM, TNS, DS, QA, KB)
#undef QA
#undef KB
        }
        // the logits, masked to each query's segment and causal past; each invocation's
        // partial row maxima
        [[unroll]] for (uint x = 0; x < TM; ++x) {
            const uint t = tr + GM * x, tok = q0 + t;
            const uint seg0 = tok / pc.segment * pc.segment;
            float mx = MASKED;
            [[unroll]] for (uint y = 0; y < TNS; ++y) {
                const uint j = tc + GN * y, key = k0 + j;
                const bool ok = t < nq && j < nk && key <= tok && key >= seg0;
                accs[x * TNS + y] = ok ? accs[x * TNS + y] : MASKED;
                mx = max(mx, accs[x * TNS + y]);
            }
            s_pmax[t * GN + tc] = mx;
        }
        barrier(); // the partials are complete; the K slice is dead
        if (lid < BQ) { // the row's new maximum; l takes the previous block's sum
            const float m_old = s_m[lid];
            float mx = MASKED, sum = 0.0;
            for (uint c = 0; c < GN; ++c) {
                mx = max(mx, s_pmax[lid * GN + c]);
                sum += s_psum[lid * GN + c];
            }
            const float m_new = max(m_old, mx);
            const float alpha = m_old > MASKED ? exp(m_old - m_new) : (m_new > MASKED ? 0.0 : 1.0);
            s_alpha[lid] = alpha;
            s_l[lid] = (s_l[lid] + sum) * alpha;
            s_m[lid] = m_new;
        }
        if (UNITS) {
            for (uint u = lid; u < BK * DVP / 4; u += WG) {
                const uint j = u / (DVP / 4), c = (u % (DVP / 4)) * 4;
                vec4 x = vec4(0.0);
                if (j < nk && c < DV)
                    x = unit_vec4(v_u[(((base + k0 + j) * pc.H + h) * DV + c) / 4]);
                [[unroll]] for (uint w = 0; w < 4; ++w) s_x[u * 4 + w] = x[w];
            }
        } else {
            for (uint idx = lid; idx < BK * DVP; idx += WG) {
                const uint j = idx / DVP, c = idx % DVP;
                s_x[idx] = (j < nk && c < DV) ? float(v[((base + k0 + j) * pc.H + h) * DV + c])
                                              : 0.0;
            }
        }
        barrier(); // s_m
        // P = exp(S - m) for this invocation's logits, and its partial row sums
        [[unroll]] for (uint x = 0; x < TM; ++x) {
            const uint t = tr + GM * x;
            const float m = s_m[t];
            float sum = 0.0;
            [[unroll]] for (uint y = 0; y < TNS; ++y) {
                const float sv = accs[x * TNS + y];
                const float p = sv > MASKED ? exp(sv - m) : 0.0;
                s_p[t * PS + tc + GN * y] = p;
                sum += p;
            }
            s_psum[t * GN + tc] = sum;
        }
        barrier(); // s_p
        [[unroll]] for (uint x = 0; x < TM; ++x) {
            const float alpha = s_alpha[tr + GM * x];
            [[unroll]] for (uint y = 0; y < TNO; ++y) acco[x * TNO + y] *= alpha;
        }
#define PA(row, kk) s_p[(row) * PS + (kk)]
#define VB(col, kk) s_x[(kk) * DVP + (col)]
        BLOCK_MMA(acco, TM, TNO, BK, PA, VB)
#undef PA
#undef VB
    }
    barrier(); // s_l and the last block's partial sums
    [[unroll]] for (uint x = 0; x < TM; ++x) {
        const uint t = tr + GM * x;
        if (t >= nq)
            continue;
        float l = s_l[t];
        for (uint c = 0; c < GN; ++c)
            l += s_psum[t * GN + c];
        const float inv = 1.0 / l;
        [[unroll]] for (uint y = 0; y < TNO; ++y) {
            const uint c = tc + GN * y;
            if (c < DV)
                o[((base + q0 + t) * pc.H + h) * DV + c] = IO_T(acco[x * TNO + y] * inv);
        }
    }
}
