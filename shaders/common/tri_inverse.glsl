// L = (I + A)^-1 for a strictly lower triangular C x C matrix A (C a multiple of 16), in shared
// memory, by blocks of 16:
//   1. the C/16 diagonal blocks L_bb = (I + A_bb)^-1, by forward substitution, one column per
//      invocation (in registers), all blocks at once;
//   2. block row by block row, L_ij = -L_ii (sum over j <= m < i of A_im L_mj), i > j.
// Depth: 16 substitution steps, then 2 barriers per block row — instead of C dependent steps.
//
// Storage (one array, accessor TRI(r, c)): on entry TRI(j, i) holds A[i][j] for j < i (A
// transposed into the upper triangle); on exit TRI(i, j) holds L[i][j] for i > j. The diagonal
// is not touched (it is 1 in L) and the upper triangle still holds A^T. TT(e) is scratch of
// (C/16 - 1) * 256 floats. Needs C, WG and `lid`; every invocation calls it (it has barriers).
#ifndef DVK_TRI_INVERSE_GLSL
#define DVK_TRI_INVERSE_GLSL

// A[r][c] for c < r, and L[r][c] with its unit diagonal and zero upper triangle.
#define TRI_A(r, c) TRI(c, r)
#define TRI_L(r, c) ((r) == (c) ? 1.0 : ((r) > (c) ? TRI(r, c) : 0.0))

void tri_inverse(uint lid)
{
    const uint NB = C / 16;
    // 1. diagonal blocks: invocation j of a block holds column j of L_bb in registers,
    //    L[i][j] = -sum_{m<i} A[i][m] L[m][j] (L[j][j] = 1, zeros above), accumulated column
    //    of A by column of A: the 16 invocations of a block read the same A[i][m] (a broadcast,
    //    no bank conflict), and for each m the A[i][m] are consecutive in memory.
    for (uint col = lid; col < C; col += WG) {
        const uint base = col - col % 16, j = col % 16;
        float l[16];
        [[unroll]] for (uint i = 0; i < 16; ++i) l[i] = 0.0;
        [[unroll]] for (uint m = 0; m < 16; ++m) {
            l[m] = m > j ? -l[m] : (m == j ? 1.0 : 0.0); // row m of the column is final
            [[unroll]] for (uint i = m + 1; i < 16; ++i)
                l[i] += TRI_A(base + i, base + m) * l[m];
        }
        [[unroll]] for (uint i = 1; i < 16; ++i)
            if (i > j)
                TRI(base + i, base + j) = l[i];
    }
    barrier();
    // 2. the blocks below the diagonal, one block row at a time
    for (uint bi = 1; bi < NB; ++bi) {
        for (uint e = lid; e < bi * 256; e += WG) {
            const uint bj = e / 256, r = (e / 16) % 16, c = e % 16;
            const uint row = bi * 16 + r, col = bj * 16 + c;
            float s = 0.0;
            // m runs the same for every invocation (L[m][col] = 0 for m < col): A[row][m] is a
            // broadcast, not 16 rows of one bank
            for (uint m = bj * 16; m < bi * 16; ++m)
                s += TRI_A(row, m) * TRI_L(m, col);
            TT(e) = s;
        }
        barrier();
        for (uint e = lid; e < bi * 256; e += WG) {
            const uint bj = e / 256, r = (e / 16) % 16, c = e % 16;
            float s = TT(e); // the x = r term: L_ii has a unit diagonal
            for (uint x = 0; x < r; ++x)
                s += TRI(bi * 16 + r, bi * 16 + x) * TT(bj * 256 + x * 16 + c);
            TRI(bi * 16 + r, bj * 16 + c) = -s;
        }
        barrier();
    }
}

#endif
