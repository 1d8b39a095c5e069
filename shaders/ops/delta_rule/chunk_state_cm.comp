#version 450
// Chunked delta rule, stage 2 of 3, on cooperative matrices (fp16 tensors). Same function as
// chunk_state.comp: one workgroup per (value tile of BV columns, value head, sequence) carries
// the state h [K x BV] through the sequence's chunks, in fp32 accumulator blocks held by the
// subgroups (TH blocks each):
//   writes h at the chunk's start (fp16)                                    -> h_chunks
//   U' = U - W h                                (W h with h rounded to fp16) -> u, in place
//   h  = exp(G_C) h + K^T (exp(G_C - G) ⊙ U')   (= (exp(G_C - G) ⊙ K)^T U')
// W and K go through shared memory, 16 bytes per load (loading matrix blocks straight from
// memory measured 2.7x slower here on the H100), zero-padded past the chunk's end. The next
// chunk's W, K, U and gates are loaded into registers while this chunk computes, so no step
// waits on memory: waiting on W, then U, then K made this pass latency-bound. A long sequence
// runs as several dispatches of c_count chunks; the host carries the state between them.
//
// Preconditions (src/ops/delta_rule/delta_rule.c): K, V multiples of 16; BV in {16, 32}
// dividing V; C a multiple of 16; (K/16)(BV/16) and (C/16)(BV/16) multiples of NSG;
// subgroups of 32.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "chunk_state.h"

layout(constant_id = DELTA_RULE_CHUNK_STATE_CM_SPEC_C) const uint C = 64;
layout(constant_id = DELTA_RULE_CHUNK_STATE_CM_SPEC_K) const uint K = 128;
layout(constant_id = DELTA_RULE_CHUNK_STATE_CM_SPEC_V) const uint V = 128;
layout(constant_id = DELTA_RULE_CHUNK_STATE_CM_SPEC_BV) const uint BV = 32;
layout(constant_id = DELTA_RULE_CHUNK_STATE_CM_SPEC_USE_G) const bool USE_G = false;
layout(constant_id = DELTA_RULE_CHUNK_STATE_CM_SPEC_USE_H0) const bool USE_H0 = false;
layout(constant_id = DELTA_RULE_CHUNK_STATE_CM_SPEC_STORE_HT) const bool STORE_HT = false;
layout(constant_id = DELTA_RULE_CHUNK_STATE_CM_SPEC_WG) const uint WG = 128;
layout(local_size_x_id = DELTA_RULE_CHUNK_STATE_CM_SPEC_WG) in;

#include "io.glsl"
#include "coopmat.glsl"

// the padding of the fp16 tiles' rows: CM_PAD, or 0 where that does not fit (K = 256 in 48 KiB)
layout(constant_id = DELTA_RULE_CHUNK_STATE_CM_SPEC_XPAD) const uint XPAD = CM_PAD;

// fp16 tensors are read and written 8 halves at a time, through uvec4 views
layout(std430, binding = DELTA_RULE_CHUNK_STATE_BIND_K) readonly buffer Kb4 { uvec4 k4[]; };
layout(std430, binding = DELTA_RULE_CHUNK_STATE_BIND_W) readonly buffer Wb4 { uvec4 w4[]; };
layout(std430, binding = DELTA_RULE_CHUNK_STATE_BIND_U) buffer Ub4 { uvec4 u4[]; };
layout(std430, binding = DELTA_RULE_CHUNK_STATE_BIND_G_CUM) readonly buffer Gc { float g_cum[]; };
layout(std430, binding = DELTA_RULE_CHUNK_STATE_BIND_H0) readonly buffer H0 { float h0[]; };
layout(std430, binding = DELTA_RULE_CHUNK_STATE_BIND_HT) writeonly buffer HT { float ht[]; };
layout(std430, binding = DELTA_RULE_CHUNK_STATE_BIND_H_CHUNKS)
    writeonly buffer Hc { IO_T h_chunks[]; };
layout(std430, binding = DELTA_RULE_CHUNK_STATE_BIND_TABLE)
    readonly buffer Table { int chunk_table[]; };
layout(std430, binding = DELTA_RULE_CHUNK_STATE_BIND_SEQ) readonly buffer Seq { int seq_chunks[]; };

const uint KB = K / 16, VB = BV / 16, CB = C / 16;
const uint TH = KB * VB / NSG; // state blocks per subgroup
const uint TU = CB * VB / NSG; // U' blocks per subgroup

// fp16 rows are padded by XPAD halves so that the rows of a 16 x 16 block load fall in
// different banks
const uint XS = K + XPAD, HS = BV + XPAD; // row strides of s_x, and of s_h and s_u
shared float16_t s_x[C * XS];  // W, then K
shared float16_t s_h[K * HS];  // h rounded to fp16 (the operand of W h)
shared float16_t s_u[C * HS];  // exp(G_C - G) ⊙ U' (fp16), the operand of the state update
shared float s_wh[C * BV];     // W h in fp32
shared float s_g[C];

void main()
{
    const uint lid = gl_LocalInvocationID.x, sg = gl_SubgroupID;
    const uint vt = gl_WorkGroupID.x, hv = gl_WorkGroupID.y, seq = gl_WorkGroupID.z;
    const uint h = hv / (pc.HV / pc.H);
    const uint c0 = vt * BV;
    const uint state_base = (seq * pc.HV + hv) * K * V;

    ACC32 hb[TH];
    [[unroll]] for (uint e = 0; e < TH; ++e) {
        const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
        if (USE_H0)
            CM_LOAD(hb[e], h0, state_base + rb * 16 * V + c0 + cb * 16, V, CM_ROWS);
        else
            hb[e] = ACC32(0.0);
    }

    const uint seq_first = uint(seq_chunks[seq]), seq_last = uint(seq_chunks[seq + 1]);
    const uint first = min(seq_first + pc.c_begin, seq_last);
    const uint last = min(first + pc.c_count, seq_last);
    // chunk c of the sequence starts at bos + (c - seq_first) C and ends by eos
    uint bos = 0, eos = 0;
    if (first < last) {
        bos = uint(chunk_table[2 * seq_first]);
        eos = uint(chunk_table[2 * (seq_last - 1)]) + uint(chunk_table[2 * (seq_last - 1) + 1]);
    }

    // The next chunk's tiles, in registers: W and K [C x K], U's [C x BV] tile, the gates
    const uint NU = (C * BV / 8 + WG - 1) / WG, NG = (C + WG - 1) / WG;
    uvec4 wr[F16_REGS(C, K)], kr[F16_REGS(C, K)], ur[NU];
    float gr[NG];
    uint pt0 = 0, pn = 0; // the prefetched chunk's first token and length
#define P_OK(t) ((t) < pn)
#define PW_ROW(t) (((pt0 + (t)) * pc.HV + hv) * K)
#define PK_ROW(t) (((pt0 + (t)) * pc.H + h) * K)
#define PREFETCH_W_G(chunk_)                                                                      \
    {                                                                                             \
        pt0 = bos + ((chunk_) - seq_first) * C;                                                   \
        pn = min(C, eos - pt0);                                                                   \
        LOAD_F16(wr, w4, C, P_OK, PW_ROW, K, K, 0)                                                \
        [[unroll]] for (uint m = 0; m < NG; ++m) {                                                \
            const uint t = lid + WG * m;                                                          \
            gr[m] = (USE_G && t < pn) ? g_cum[(pt0 + t) * pc.HV + hv] : 0.0;                      \
        }                                                                                         \
    }
#define PREFETCH_K_U()                                                                            \
    {                                                                                             \
        LOAD_F16(kr, k4, C, P_OK, PK_ROW, K, K, 0)                                                \
        [[unroll]] for (uint m = 0; m < NU; ++m) {                                                \
            const uint v8 = lid + m * WG, t = v8 / (BV / 8), j = (v8 % (BV / 8)) * 8;             \
            ur[m] = uvec4(0);                                                                     \
            if (v8 < C * BV / 8 && t < pn)                                                        \
                ur[m] = u4[(((pt0 + t) * pc.HV + hv) * V + c0 + j) / 8];                          \
        }                                                                                         \
    }
    if (first < last) {
        PREFETCH_W_G(first)
        PREFETCH_K_U()
    }

    for (uint chunk = first; chunk < last; ++chunk) {
        const uint t0 = pt0, n = pn;
        const uint hc_base = (chunk * pc.HV + hv) * K * V;

        // the state at the chunk's start: to h_chunks and, as fp16, to the W h operand
        [[unroll]] for (uint e = 0; e < TH; ++e) {
            const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
            const ACC16 h16 = ACC16(hb[e]);
            CM_STORE(h16, s_h, rb * 16 * HS + cb * 16, HS, CM_ROWS);
            CM_STORE(h16, h_chunks, hc_base + rb * 16 * V + c0 + cb * 16, V, CM_ROWS);
        }
        [[unroll]] for (uint m = 0; m < NG; ++m)
            if (lid + WG * m < C)
                s_g[lid + WG * m] = gr[m];
        PUT_F16(s_x, 0, wr, C, K, XS)
        barrier();
        if (chunk + 1 < last)
            PREFETCH_W_G(chunk + 1) // (pt0, pn now the next chunk's; t0, n this one's)

        // W h
        [[unroll]] for (uint e = 0; e < TU; ++e) {
            const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
            ACC32 acc = ACC32(0.0);
            [[unroll]] for (uint kk = 0; kk < KB; ++kk) {
                CM_A a;
                CM_B b;
                CM_LOAD(a, s_x, rb * 16 * XS + kk * 16, XS, CM_ROWS);
                CM_LOAD(b, s_h, kk * 16 * HS + cb * 16, HS, CM_ROWS);
                acc = CM_MMA(a, b, acc);
            }
            CM_STORE(acc, s_wh, rb * 16 * BV + cb * 16, BV, CM_ROWS);
        }
        barrier();

        // U' = U - W h to memory; exp(G_C - G) ⊙ U' to the operand of the update; K staged
        const float g_last = USE_G ? s_g[n - 1] : 0.0;
        [[unroll]] for (uint e = 0; e < NU; ++e) {
            const uint v8 = lid + e * WG;
            const uint t = v8 / (BV / 8), j = (v8 % (BV / 8)) * 8;
            if (v8 < C * BV / 8) {
                vec2 up[4] = vec2[4](vec2(0.0), vec2(0.0), vec2(0.0), vec2(0.0));
                if (t < n) {
                    [[unroll]] for (uint c = 0; c < 4; ++c)
                        up[c] = vec2(unpackFloat2x16(ur[e][c])) -
                                vec2(s_wh[t * BV + j + 2 * c], s_wh[t * BV + j + 2 * c + 1]);
                    u4[(((t0 + t) * pc.HV + hv) * V + c0 + j) / 8] =
                        uvec4(packFloat2x16(f16vec2(up[0])), packFloat2x16(f16vec2(up[1])),
                              packFloat2x16(f16vec2(up[2])), packFloat2x16(f16vec2(up[3])));
                }
                const float d = USE_G ? exp(g_last - s_g[t]) : 1.0;
                [[unroll]] for (uint c = 0; c < 4; ++c) {
                    s_u[t * HS + j + 2 * c] = float16_t(up[c].x * d);
                    s_u[t * HS + j + 2 * c + 1] = float16_t(up[c].y * d);
                }
            }
        }
        PUT_F16(s_x, 0, kr, C, K, XS)
        barrier();
        if (chunk + 1 < last)
            PREFETCH_K_U()

        // h = exp(G_C) h + K^T (exp(G_C - G) ⊙ U')
        const float decay = USE_G ? exp(g_last) : 1.0;
        [[unroll]] for (uint e = 0; e < TH; ++e) {
            const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
            if (USE_G)
                hb[e] = hb[e] * decay;
            [[unroll]] for (uint kk = 0; kk < CB; ++kk) {
                CM_A a;
                CM_B b;
                CM_LOAD(a, s_x, kk * 16 * XS + rb * 16, XS, CM_COLS); // K^T
                CM_LOAD(b, s_u, kk * 16 * HS + cb * 16, HS, CM_ROWS);
                hb[e] = CM_MMA(a, b, hb[e]);
            }
        }
        barrier();
    }

    if (STORE_HT) {
        [[unroll]] for (uint e = 0; e < TH; ++e) {
            const uint id = sg + NSG * e, rb = id / VB, cb = id % VB;
            CM_STORE(hb[e], ht, state_base + rb * 16 * V + c0 + cb * 16, V, CM_ROWS);
        }
    }
}
