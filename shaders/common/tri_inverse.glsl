// L = (I + A)^-1 for a strictly lower triangular C x C matrix A (C a multiple of 16), in shared
// memory, by blocks of 16:
//   1. the C/16 diagonal blocks L_bb = (I + A_bb)^-1, by forward substitution, one column per
//      invocation (in registers), all blocks at once;
//   2. block row by block row, L_ij = -L_ii (sum over j <= m < i of A_im L_mj), i > j.
// Depth: 16 substitution steps, then 2 barriers per block row — instead of C dependent steps.
// Every access pattern here is free of bank conflicts when TRI's row stride is C + 1 or C + 4.
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
    // 2. the blocks below the diagonal, one block row at a time; each invocation computes 4
    //    consecutive columns of a row, every loop runs the same for the invocations of a
    //    subgroup, and A[row][m] / L_ii[r][x] are read for 4 products each.
    for (uint bi = 1; bi < NB; ++bi) {
        // TT[bj][r][c] = sum over bj*16 <= m < bi*16 of A[row][m] L[m][col]
        for (uint e = lid; e < bi * 64; e += WG) {
            const uint bj = e / 64, r = (e / 4) % 16, c = (e % 4) * 4;
            const uint row = bi * 16 + r, col = bj * 16 + c;
            const uvec4 cq = uvec4(c) + uvec4(0, 1, 2, 3);
            vec4 s = vec4(0.0);
            [[unroll]] for (uint x = 0; x < 16; ++x) { // L_jj: unit diagonal, zeros above
                const uint m = bj * 16 + x;
                const vec4 l = vec4(TRI(m, col), TRI(m, col + 1), TRI(m, col + 2), TRI(m, col + 3));
                s += TRI_A(row, m) *
                     mix(vec4(equal(uvec4(x), cq)), l, greaterThan(uvec4(x), cq)); // a select
            }
            for (uint mb = bj + 1; mb < bi; ++mb)
                [[unroll]] for (uint x = 0; x < 16; ++x) {
                    const uint m = mb * 16 + x;
                    s += TRI_A(row, m) *
                         vec4(TRI(m, col), TRI(m, col + 1), TRI(m, col + 2), TRI(m, col + 3));
                }
            const uint t = bj * 256 + r * 16 + c;
            TT(t) = s.x;
            TT(t + 1) = s.y;
            TT(t + 2) = s.z;
            TT(t + 3) = s.w;
        }
        barrier();
        // L_ij = -L_ii TT[bj]
        for (uint e = lid; e < bi * 64; e += WG) {
            const uint bj = e / 64, r = (e / 4) % 16, c = (e % 4) * 4;
            const uint t = bj * 256 + r * 16 + c;
            vec4 s = vec4(TT(t), TT(t + 1), TT(t + 2), TT(t + 3)); // x = r: the unit diagonal
            [[unroll]] for (uint x = 0; x < 15; ++x) {
                const float l = x < r ? TRI(bi * 16 + r, bi * 16 + x) : 0.0;
                const uint u = bj * 256 + x * 16 + c;
                s += l * vec4(TT(u), TT(u + 1), TT(u + 2), TT(u + 3));
            }
            const uint row = bi * 16 + r, col = bj * 16 + c;
            TRI(row, col) = -s.x;
            TRI(row, col + 1) = -s.y;
            TRI(row, col + 2) = -s.z;
            TRI(row, col + 3) = -s.w;
        }
        barrier();
    }
}

#endif
