#version 450
// Chunked linear attention, stage 1 of 2: the state through each sequence's chunks, in order.
// One workgroup per (value tile of BV columns, head, sequence) holds the tile S [K x BV] in
// registers, a GM x GN grid of invocations each holding a block of TM consecutive rows and TN
// consecutive columns (read from shared memory as vec4s: three loads per token instead of
// TM + TN, which made this pass bound by shared-memory traffic), and a 1/NVT share of the
// normaliser z [K] (the tiles of a head split its rows). For each chunk:
//   writes S and z as they are at the chunk's start            -> h_chunks, z_chunks
//   rho = the chunk's last token with done != 0 (chunk_rho.comp), if any: S = z = 0, and the
//         tokens before rho count as zeros (their episode has ended)
//   S += φ(K)^T V,  z += Σ φ(k)  over the chunk's tokens, staged TB at a time
// and finally writes S and z as the final state. The steps of TB tokens run as one flat loop
// over the dispatch's chunks, and each step's loads of k and v are issued into registers
// before the previous step computes: the memory latency is hidden behind the arithmetic,
// where waiting for it at every step made this pass latency-bound. A long sequence is split
// over several dispatches of at most c_count chunks, the state carried through memory (the
// host binds it). chunk_output.comp reads the per-chunk states.
//
// Preconditions (src/ops/linear_attn/linear_attn.c): TB divides C; GN divides BV;
// GM = WG / GN; KP = K rounded up to a multiple of 4 GM; 1 <= K, V <= 256.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "chunk_state.h"

layout(constant_id = LINEAR_ATTN_CHUNK_STATE_SPEC_C) const uint C = 64;
layout(constant_id = LINEAR_ATTN_CHUNK_STATE_SPEC_K) const uint K = 128;
layout(constant_id = LINEAR_ATTN_CHUNK_STATE_SPEC_V) const uint V = 128;
layout(constant_id = LINEAR_ATTN_CHUNK_STATE_SPEC_BV) const uint BV = 64;
layout(constant_id = LINEAR_ATTN_CHUNK_STATE_SPEC_TB) const uint TB = 16;
layout(constant_id = LINEAR_ATTN_CHUNK_STATE_SPEC_WG) const uint WG = 256;
layout(constant_id = LINEAR_ATTN_CHUNK_STATE_SPEC_GN) const uint GN = 16;
layout(constant_id = LINEAR_ATTN_CHUNK_STATE_SPEC_ELU1) const bool ELU1 = false;
layout(constant_id = LINEAR_ATTN_CHUNK_STATE_SPEC_USE_DONE) const bool USE_DONE = false;
layout(constant_id = LINEAR_ATTN_CHUNK_STATE_SPEC_USE_H0) const bool USE_H0 = false;
layout(constant_id = LINEAR_ATTN_CHUNK_STATE_SPEC_USE_Z0) const bool USE_Z0 = false;
layout(constant_id = LINEAR_ATTN_CHUNK_STATE_SPEC_STORE_HT) const bool STORE_HT = false;
layout(constant_id = LINEAR_ATTN_CHUNK_STATE_SPEC_STORE_ZT) const bool STORE_ZT = false;
layout(constant_id = LINEAR_ATTN_CHUNK_STATE_SPEC_STORE_CHUNKS) const bool STORE_CHUNKS = true;
layout(local_size_x_id = LINEAR_ATTN_CHUNK_STATE_SPEC_WG) in;

const bool NORMALIZE = true; // (feature.glsl's denominator is unused here)
const bool EPS_ADD = false;

#include "io.glsl"
#include "feature.glsl"

layout(std430, binding = LINEAR_ATTN_CHUNK_STATE_BIND_K) readonly buffer Kb { IO_T k[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_STATE_BIND_V) readonly buffer Vb { IO_T v[]; };
// k and v also in units of 4 elements, one load each, when K and V are multiples of 4
#ifdef DVK_IO_F16
#define UNIT_T uvec2
vec4 unit_vec4(uvec2 x) { return vec4(unpackHalf2x16(x.x), unpackHalf2x16(x.y)); }
#else
#define UNIT_T vec4
vec4 unit_vec4(vec4 x) { return x; }
#endif
layout(std430, binding = LINEAR_ATTN_CHUNK_STATE_BIND_K) readonly buffer Ku { UNIT_T k_u[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_STATE_BIND_V) readonly buffer Vu { UNIT_T v_u[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_STATE_BIND_RHO) readonly buffer Rho { int chunk_rho[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_STATE_BIND_H0) readonly buffer H0 { float h0[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_STATE_BIND_Z0) readonly buffer Z0 { float z0[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_STATE_BIND_HT) writeonly buffer HT { float ht[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_STATE_BIND_ZT) writeonly buffer ZT { float zt[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_STATE_BIND_H_CHUNKS)
    writeonly buffer Hc { float h_chunks[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_STATE_BIND_H_CHUNKS)
    writeonly buffer Hc2 { vec2 h_chunks2[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_STATE_BIND_Z_CHUNKS)
    writeonly buffer Zc { float z_chunks[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_STATE_BIND_TABLE)
    readonly buffer Table { int chunk_table[]; };
layout(std430, binding = LINEAR_ATTN_CHUNK_STATE_BIND_SEQ)
    readonly buffer Seq { int seq_chunks[]; };

const uint GM = WG / GN;
const uint KP = (K + 4 * GM - 1) / (4 * GM) * (4 * GM);
const uint TM = KP / GM, TN = BV / GN;         // TM a multiple of 4
const uint NVT = (V + BV - 1) / BV;            // value tiles of a head
const uint ZSPAN = (K + NVT - 1) / NVT;        // normaliser rows of each tile
const uint ZR = (ZSPAN + WG - 1) / WG;         // normaliser rows per invocation
const uint NKR = (TB * KP + WG - 1) / WG;      // k values staged per invocation and step
const uint NVR = (TB * BV + WG - 1) / WG;      // v values
const uint SPC = C / TB;                       // steps per chunk
const bool UNITS = (K | V) % 4 == 0;            // k and v staged 4 elements per load
const bool PAIRS = (TN | V) % 2 == 0;          // states stored two columns per store
const uint NKU = (TB * KP / 4 + WG - 1) / WG;  // units of k staged per invocation and step
const uint NVU = (TB * BV / 4 + WG - 1) / WG;  // units of v
shared vec4 s_k4[TB * KP / 4]; // φ(k) of token j at j KP + i
shared vec4 s_v4[(TB * BV + 3) / 4];

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint tr = lid / GN, tc = lid % GN;
    const uint vt = gl_WorkGroupID.x, h = gl_WorkGroupID.y, seq = gl_WorkGroupID.z;
    const uint c0 = vt * BV;
    const uint z0row = vt * ZSPAN; // this tile's normaliser rows: [z0row, z0row + ZSPAN)
#define Z_ROW(m) (z0row + lid + WG * (m))
#define Z_OK(m) (lid + WG * (m) < ZSPAN && Z_ROW(m) < K)
    const uint state_base = (seq * pc.H + h) * K * V, z_base = (seq * pc.H + h) * K;

    float acc[TM * TN];
    [[unroll]] for (uint x = 0; x < TM; ++x) {
        const uint i = tr * TM + x;
        [[unroll]] for (uint y = 0; y < TN; ++y) {
            const uint c = c0 + tc * TN + y;
            acc[x * TN + y] = (USE_H0 && i < K && c < V) ? h0[state_base + i * V + c] : 0.0;
        }
    }
    float z[ZR];
    [[unroll]] for (uint m = 0; m < ZR; ++m)
        z[m] = (USE_Z0 && Z_OK(m)) ? z0[z_base + Z_ROW(m)] : 0.0;

    const uint seq_first = uint(seq_chunks[seq]), seq_last = uint(seq_chunks[seq + 1]);
    const uint first = min(seq_first + pc.c_begin, seq_last);
    const uint last = min(first + pc.c_count, seq_last);
    const uint steps = (last - first) * SPC;
    // The sequence's first token and its end: chunk c starts at bos + (c - seq_first) C.
    uint bos = 0, eos = 0;
    if (steps > 0) {
        bos = uint(chunk_table[2 * seq_first]);
        eos = uint(chunk_table[2 * (seq_last - 1)]) + uint(chunk_table[2 * (seq_last - 1) + 1]);
    }

    // Step s covers tokens [j0, j0 + TB) of chunk first + s / SPC. Its values in registers:
    // raw, zero outside the sequence; the feature map and the episode mask come when they
    // are written to shared memory.
    float kr[NKR], vr[NVR];
    UNIT_T ku[NKU], vu[NVU];
    int rho_r = -1;
    uint nt_r = 0; // the step's tokens inside the sequence
#define LOAD_STEP(s)                                                                              \
    {                                                                                             \
        const uint chunk_ = first + (s) / SPC;                                                    \
        const uint tj_ = bos + (chunk_ - seq_first) * C + ((s) % SPC) * TB;                       \
        nt_r = tj_ < eos ? min(TB, eos - tj_) : 0;                                                \
        if (UNITS) {                                                                              \
            [[unroll]] for (uint m = 0; m < NKU; ++m) {                                           \
                const uint u = lid + WG * m, j = u / (KP / 4), i = (u % (KP / 4)) * 4;            \
                ku[m] = UNIT_T(0);                                                                \
                if (u < TB * KP / 4 && tj_ + j < eos && i < K)                                    \
                    ku[m] = k_u[(((tj_ + j) * pc.H + h) * K + i) / 4];                            \
            }                                                                                     \
            [[unroll]] for (uint m = 0; m < NVU; ++m) {                                           \
                const uint u = lid + WG * m, j = u / (BV / 4), c = c0 + (u % (BV / 4)) * 4;       \
                vu[m] = UNIT_T(0);                                                                \
                if (u < TB * BV / 4 && tj_ + j < eos && c < V)                                    \
                    vu[m] = v_u[(((tj_ + j) * pc.H + h) * V + c) / 4];                            \
            }                                                                                     \
        } else {                                                                                  \
        [[unroll]] for (uint m = 0; m < NKR; ++m) {                                               \
            const uint idx = lid + WG * m, j = idx / KP, i = idx % KP;                            \
            kr[m] = 0.0;                                                                    \
            if (idx < TB * KP && tj_ + j < eos && i < K)                                          \
                kr[m] = float(k[((tj_ + j) * pc.H + h) * K + i]);                                     \
        }                                                                                         \
        [[unroll]] for (uint m = 0; m < NVR; ++m) {                                               \
            const uint idx = lid + WG * m, j = idx / BV, c = c0 + idx % BV;                       \
            vr[m] = 0.0;                                                                    \
            if (idx < TB * BV && tj_ + j < eos && c < V)                                          \
                vr[m] = float(v[((tj_ + j) * pc.H + h) * V + c]);                                     \
        }                                                                                         \
        }                                                                                         \
        if (USE_DONE)                                                                             \
            rho_r = chunk_rho[chunk_];                                                            \
    }
    if (steps > 0)
        LOAD_STEP(0)

    for (uint s = 0; s < steps; ++s) {
        const uint chunk = first + s / SPC, j0 = (s % SPC) * TB;
        const int rho = rho_r;
        const uint nt = nt_r;
        barrier(); // the previous step's tiles have been read
        if (UNITS) {
            [[unroll]] for (uint m = 0; m < NKU; ++m) {
                const uint u = lid + WG * m, j = u / (KP / 4), i = (u % (KP / 4)) * 4;
                if (u < TB * KP / 4) {
                    const vec4 x = unit_vec4(ku[m]);
                    const bool ok = i < K && j < nt && int(j0 + j) >= rho;
                    s_k4[u] = ok ? vec4(feature(x.x), feature(x.y), feature(x.z), feature(x.w))
                                 : vec4(0.0);
                }
            }
            [[unroll]] for (uint m = 0; m < NVU; ++m) {
                const uint u = lid + WG * m;
                if (u < TB * BV / 4)
                    s_v4[u] = unit_vec4(vu[m]);
            }
        } else {
            [[unroll]] for (uint m = 0; m < NKR; ++m) {
                const uint idx = lid + WG * m, j = idx / KP, i = idx % KP;
                if (idx < TB * KP)
                    s_k4[idx / 4][idx % 4] =
                        (i < K && j < nt && int(j0 + j) >= rho) ? feature(kr[m]) : 0.0;
            }
            [[unroll]] for (uint m = 0; m < NVR; ++m) {
                const uint idx = lid + WG * m;
                if (idx < TB * BV)
                    s_v4[idx / 4][idx % 4] = vr[m];
            }
        }
        if (j0 == 0) { // the chunk's start
            if (STORE_CHUNKS) {
                const uint hc_base = (chunk * pc.H + h) * K * V;
                [[unroll]] for (uint x = 0; x < TM; ++x) {
                    const uint i = tr * TM + x;
                    if (PAIRS) { // column pairs, one store each
                        [[unroll]] for (uint y = 0; y < TN; y += 2) {
                            const uint c = c0 + tc * TN + y;
                            if (i < K && c < V)
                                h_chunks2[(hc_base + i * V + c) / 2] =
                                    vec2(acc[x * TN + y], acc[x * TN + y + 1]);
                        }
                    } else {
                        [[unroll]] for (uint y = 0; y < TN; ++y) {
                            const uint c = c0 + tc * TN + y;
                            if (i < K && c < V)
                                h_chunks[hc_base + i * V + c] = acc[x * TN + y];
                        }
                    }
                }
                [[unroll]] for (uint m = 0; m < ZR; ++m)
                    if (Z_OK(m))
                        z_chunks[(chunk * pc.H + h) * K + Z_ROW(m)] = z[m];
            }
            if (USE_DONE && rho >= 0) { // a new episode starts inside this chunk
                [[unroll]] for (uint e = 0; e < TM * TN; ++e) acc[e] = 0.0;
                [[unroll]] for (uint m = 0; m < ZR; ++m) z[m] = 0.0;
            }
        }
        barrier();
        if (s + 1 < steps)
            LOAD_STEP(s + 1)
        // acc += φ(K)^T V over the step's tokens
        for (uint j = 0; j < TB; ++j) {
            float a[TM], b[TN];
            [[unroll]] for (uint x4 = 0; x4 < TM / 4; ++x4) {
                const vec4 t = s_k4[j * (KP / 4) + tr * (TM / 4) + x4];
                a[4 * x4] = t.x, a[4 * x4 + 1] = t.y, a[4 * x4 + 2] = t.z, a[4 * x4 + 3] = t.w;
            }
            [[unroll]] for (uint y = 0; y < TN; ++y) {
                const uint e = j * BV + tc * TN + y;
                b[y] = s_v4[e / 4][e % 4];
            }
            [[unroll]] for (uint x = 0; x < TM; ++x)
                [[unroll]] for (uint y = 0; y < TN; ++y) acc[x * TN + y] += a[x] * b[y];
        }
        [[unroll]] for (uint m = 0; m < ZR; ++m) {
            if (Z_OK(m)) {
                const uint i = Z_ROW(m);
                for (uint j = 0; j < TB; ++j)
                    z[m] += s_k4[(j * KP + i) / 4][i % 4];
            }
        }
    }

    [[unroll]] for (uint x = 0; x < TM; ++x) {
        const uint i = tr * TM + x;
        [[unroll]] for (uint y = 0; y < TN; ++y) {
            const uint c = c0 + tc * TN + y;
            if (STORE_HT && i < K && c < V)
                ht[state_base + i * V + c] = acc[x * TN + y];
        }
    }
    [[unroll]] for (uint m = 0; m < ZR; ++m)
        if (STORE_ZT && Z_OK(m))
            zt[z_base + Z_ROW(m)] = z[m];
}
