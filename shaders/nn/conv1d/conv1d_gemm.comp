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

layout(local_size_x = CONV1D_GEMM_LOCAL) in;
const uint LOCAL = CONV1D_GEMM_LOCAL;

const uint BM = CONV1D_BM, BN = CONV1D_BN, BK = CONV1D_BK;
const uint WN = 16;            // invocations along N (adjacent: coalesced stores of y)
const uint WM = LOCAL / WN;    // invocations along M: 8
const uint TN = BN / WN;       // 4
const uint TM = BM / WM;       // 8
const uint RSTEP = LOCAL / BK; // staging: rows apart of one invocation's loads
const uint LA = BM / RSTEP, LB = BN / RSTEP;

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

    // Staging: this invocation always fills reduction slot kk of rows r0, r0 + RSTEP, ... of
    // both tiles, so what those rows need (batch, time, weight row) is worked out once, and
    // the slot's (tap j, channel ci) advances by BK per stage without a division per element.
    const uint kk = lid % BK, r0 = lid / BK;
    uint xrow[LA];
    int xt[LA];
    bool xok[LA];
    for (uint i = 0; i < LA; ++i) {
        const uint row = m0 + r0 + i * RSTEP;
        xok[i] = row < rows;
        xrow[i] = row / pc.t;                         // batch
        xt[i] = int(row % pc.t) - int(pc.pad);        // time of tap 0
    }
    uint wrow[LB];
    bool wok[LB];
    for (uint i = 0; i < LB; ++i) {
        const uint on = n0 + r0 + i * RSTEP;
        wok[i] = on < pc.og;
        wrow[i] = (g * pc.og + on) * pc.cg * KW;
    }
    const uint cbase = g * pc.cg;
    uint j = kk / pc.cg, ci = kk % pc.cg;

    for (uint k0 = 0; k0 < K; k0 += BK) {
        const bool kok = k0 + kk < K;
        for (uint i = 0; i < LA; ++i)
            As[kk][r0 + i * RSTEP] =
                xok[i] && kok ? conv_in(xrow[i], xt[i] + int(j), cbase + ci) : 0.0;
        for (uint i = 0; i < LB; ++i)
            Bs[kk][r0 + i * RSTEP] =
                wok[i] && kok ? DVK_LOAD(wt, W_DT, wrow[i] + ci * KW + j) : 0.0;
        ci += BK;
        j += ci / pc.cg;
        ci %= pc.cg;
        barrier();
        for (uint kc = 0; kc < BK; ++kc) {
            float a[TM], bv[TN];
            for (uint r = 0; r < TM; ++r)
                a[r] = As[kc][tm + WM * r];
            for (uint q = 0; q < TN; ++q)
                bv[q] = Bs[kc][tn + WN * q];
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
