#version 450
// Grouped convolution over T as an implicit matrix product, per group g:
//     y[(b,t), o] = act(bias[o] + sum_k A[(b,t), k] Bm[k, o]),  k = j*Cg + i  (tap j, channel i)
//     A[(b,t), k] = x[b, t+j-P, g*Cg + i]   (state or zeros outside the sequence)
//     Bm[k, o]    = weight[o, i, j]
// A workgroup computes BM tokens (of the flattened B·T) x BN output channels of one group,
// staging BK reductions of A and Bm at a time in shared memory; each invocation holds a
// TM x TN block of sums. Tap-major k keeps a stage's A reads on adjacent channels.
#extension GL_GOOGLE_include_directive : require
#include "conv1d_common.glsl"

layout(local_size_x_id = CONV1D_SPEC_LOCAL) in;
layout(constant_id = CONV1D_SPEC_LOCAL) const uint LOCAL = 256;

const uint BM = CONV1D_BM, BN = CONV1D_BN, BK = CONV1D_BK;
const uint WN = 16;            // invocations along N (adjacent: coalesced stores of y)
const uint WM = LOCAL / WN;    // invocations along M: 16 or 8
const uint TN = BN / WN;       // 4
const uint TM = BM / WM;       // 4 or 8

// Padded by one so that a stage's column writes fall in different banks.
shared float As[BK][BM + 1];
shared float Bs[BK][BN + 1];

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint g = gl_WorkGroupID.y / pc.ntiles;
    const uint n0 = (gl_WorkGroupID.y % pc.ntiles) * BN; // inside the group
    const uint m0 = gl_WorkGroupID.x * BM;
    const uint rows = pc.b * pc.t, K = pc.cg * KW;
    const uint tn = lid % WN, tm = lid / WN;

    float acc[TM][TN];
    for (uint r = 0; r < TM; ++r)
        for (uint q = 0; q < TN; ++q)
            acc[r][q] = 0.0;

    for (uint k0 = 0; k0 < K; k0 += BK) {
        for (uint e = lid; e < BK * BM; e += LOCAL) {
            const uint kk = e % BK, mm = e / BK, row = m0 + mm, k = k0 + kk;
            float v = 0.0;
            if (row < rows && k < K) {
                const uint j = k / pc.cg, ci = k % pc.cg, b = row / pc.t, t = row % pc.t;
                v = conv_in(b, int(t + j) - int(pc.pad), g * pc.cg + ci);
            }
            As[kk][mm] = v;
        }
        for (uint e = lid; e < BK * BN; e += LOCAL) {
            const uint kk = e % BK, nn = e / BK, on = n0 + nn, k = k0 + kk;
            float v = 0.0;
            if (on < pc.og && k < K) {
                const uint j = k / pc.cg, ci = k % pc.cg;
                v = DVK_LOAD(wt, W_DT, ((g * pc.og + on) * pc.cg + ci) * KW + j);
            }
            Bs[kk][nn] = v;
        }
        barrier();
        for (uint kk = 0; kk < BK; ++kk) {
            float a[TM], bv[TN];
            for (uint r = 0; r < TM; ++r)
                a[r] = As[kk][tm + WM * r];
            for (uint q = 0; q < TN; ++q)
                bv[q] = Bs[kk][tn + WN * q];
            for (uint r = 0; r < TM; ++r)
                for (uint q = 0; q < TN; ++q)
                    acc[r][q] += a[r] * bv[q];
        }
        barrier();
    }

    for (uint q = 0; q < TN; ++q) {
        const uint on = n0 + tn + WN * q;
        if (on >= pc.og)
            continue;
        const uint o = g * pc.og + on;
        const float b0 = HAS_BIAS != 0 ? DVK_LOAD(bias, BIAS_DT, o) : 0.0;
        for (uint r = 0; r < TM; ++r) {
            const uint row = m0 + tm + WM * r;
            if (row < rows)
                DVK_STORE(y, Y_DT, row * pc.cout + o, dvk_apply_act(ACT, acc[r][q] + b0));
        }
    }
}
