// Register-blocked products in shared memory, for the portable (FMA) chunked kernels. A
// workgroup of WG invocations computes an M x N tile as a grid of GM x GN invocations (GN a
// specialization constant of each kernel; GM = WG / GN), each holding an (M/GM) x (N/GN) block
// whose rows are tr, tr+GM, ... and columns tc, tc+GN, ... — interleaved so that neighbouring
// invocations read neighbouring shared-memory words. Before including: WG and GN; in the
// kernel, tr = lid / GN and tc = lid % GN.
#ifndef DVK_BLOCK_MMA_GLSL
#define DVK_BLOCK_MMA_GLSL

const uint GM = WG / GN;

// acc[TM*TN] += sum over kk < KLEN of AT(row, kk) * BT(col, kk), rows tr + GM*x, cols tc + GN*y.
// AT and BT are macros reading shared memory.
#define BLOCK_MMA(acc, TM, TN, KLEN, AT, BT)                                                      \
    for (uint kk = 0; kk < (KLEN); ++kk) {                                                        \
        float a_[TM];                                                                             \
        float b_[TN];                                                                             \
        [[unroll]] for (uint x = 0; x < (TM); ++x) a_[x] = AT(tr + GM * x, kk);                   \
        [[unroll]] for (uint y = 0; y < (TN); ++y) b_[y] = BT(tc + GN * y, kk);                   \
        [[unroll]] for (uint x = 0; x < (TM); ++x)                                                \
            [[unroll]] for (uint y = 0; y < (TN); ++y) acc[x * (TN) + y] += a_[x] * b_[y];        \
    }

#endif
