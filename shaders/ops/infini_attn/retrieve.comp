#version 450
// Infini-attention's retrieval from the compressive memory (M [D x DV], z [D] per batch row and
// head), for a block of BT tokens and a tile of BV value columns per workgroup:
//   r_t = φ(x_t)^T M / max(φ(x_t)·z, eps)          (φ = elu + 1)
//   MIX:    out_t = in_t σ(gate_h) + r_t (1 − σ(gate_h))   (x = q', in = out = o: in place)
//   DELTA:  out_t = in_t − r_t                              (x = k', in = v: the delta rule's v)
// The product φ(X) M runs over slices of KT features staged in shared memory, on a GM x GN
// grid of invocations (block_mma.glsl).
//
// Preconditions (src/ops/infini_attn/infini_attn.c): GN divides BV; GM = WG / GN divides BT;
// WG >= BT; 1 <= D, DV <= 256.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "retrieve.h"

layout(constant_id = INFINI_ATTN_RETRIEVE_SPEC_D) const uint D = 128;
layout(constant_id = INFINI_ATTN_RETRIEVE_SPEC_DV) const uint DV = 128;
layout(constant_id = INFINI_ATTN_RETRIEVE_SPEC_BT) const uint BT = 64;
layout(constant_id = INFINI_ATTN_RETRIEVE_SPEC_BV) const uint BV = 64;
layout(constant_id = INFINI_ATTN_RETRIEVE_SPEC_KT) const uint KT = 32;
layout(constant_id = INFINI_ATTN_RETRIEVE_SPEC_WG) const uint WG = 256;
layout(constant_id = INFINI_ATTN_RETRIEVE_SPEC_GN) const uint GN = 16;
layout(constant_id = INFINI_ATTN_RETRIEVE_SPEC_DELTA) const bool DELTA = false;
layout(local_size_x_id = INFINI_ATTN_RETRIEVE_SPEC_WG) in;

const bool ELU1 = true, NORMALIZE = true, EPS_ADD = false;

#include "io.glsl"
#include "block_mma.glsl"
#include "../linear_attn/feature.glsl"

layout(std430, binding = INFINI_ATTN_RETRIEVE_BIND_X) readonly buffer X { IO_T x[]; };
layout(std430, binding = INFINI_ATTN_RETRIEVE_BIND_MEM) readonly buffer M { float mem[]; };
layout(std430, binding = INFINI_ATTN_RETRIEVE_BIND_MEM_Z) readonly buffer Z { float mem_z[]; };
layout(std430, binding = INFINI_ATTN_RETRIEVE_BIND_GATE) readonly buffer Gate { float gate[]; };
layout(std430, binding = INFINI_ATTN_RETRIEVE_BIND_IN) readonly buffer In { IO_T in_[]; };
layout(std430, binding = INFINI_ATTN_RETRIEVE_BIND_OUT) writeonly buffer Out { IO_T out_[]; };

const uint XS = KT + 1;
const uint TM = BT / GM, TN = BV / GN;
shared float s_x[BT * XS];
shared float s_m[KT * BV];
shared float s_z[KT];
shared float s_den[BT];

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint tr = lid / GN, tc = lid % GN;
    const uint t0 = gl_WorkGroupID.x * BT, h = gl_WorkGroupID.y;
    const uint b = gl_WorkGroupID.z / pc.vtiles, c0 = gl_WorkGroupID.z % pc.vtiles * BV;
    const uint nt = min(BT, pc.T - t0);
    const uint m_base = (b * pc.H + h) * D * DV, z_base = (b * pc.H + h) * D;

    float acc[TM * TN];
    [[unroll]] for (uint e = 0; e < TM * TN; ++e) acc[e] = 0.0;
    float den = 0.0;
    for (uint k0 = 0; k0 < D; k0 += KT) {
        barrier();
        for (uint idx = lid; idx < BT * KT; idx += WG) {
            const uint t = idx / KT, i = idx % KT;
            s_x[t * XS + i] = (t < nt && k0 + i < D)
                                  ? feature(float(x[((b * pc.T + t0 + t) * pc.H + h) * D + k0 + i]))
                                  : 0.0;
        }
        for (uint idx = lid; idx < KT * BV; idx += WG) {
            const uint i = idx / BV, c = idx % BV;
            s_m[idx] = (k0 + i < D && c0 + c < DV) ? mem[m_base + (k0 + i) * DV + c0 + c] : 0.0;
        }
        for (uint i = lid; i < KT; i += WG)
            s_z[i] = k0 + i < D ? mem_z[z_base + k0 + i] : 0.0;
        barrier();
#define XA(row, kk) s_x[(row) * XS + (kk)]
#define MB(col, kk) s_m[(kk) * BV + (col)]
        BLOCK_MMA(acc, TM, TN, KT, XA, MB)
#undef MB
        if (lid < BT) {
            for (uint i = 0; i < KT; ++i)
                den += XA(lid, i) * s_z[i];
        }
#undef XA
    }
    if (lid < BT)
        s_den[lid] = max(den, pc.eps);
    barrier();
    const float sg = 1.0 / (1.0 + exp(-gate[h]));
    [[unroll]] for (uint x = 0; x < TM; ++x) {
        const uint t = tr + GM * x;
        if (t >= nt)
            continue;
        const float inv = 1.0 / s_den[t];
        [[unroll]] for (uint y = 0; y < TN; ++y) {
            const uint c = c0 + tc + GN * y;
            if (c >= DV)
                continue;
            const uint e = ((b * pc.T + t0 + t) * pc.H + h) * DV + c;
            const float r = acc[x * TN + y] * inv;
            const float a = float(in_[e]);
            out_[e] = IO_T(DELTA ? a - r : a * sg + r * (1.0 - sg));
        }
    }
}
