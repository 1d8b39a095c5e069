// Decayed Gram matrices of one chunk, accumulated over staged slices of KT key channels
// (chunk_prepare, chunk_output). For rows i and columns j of a chunk of C tokens:
//
//   M[i][j] += sum over the slice's channels c of x_i[c] y_j[c] exp(GR_i[c] - G_j[c])
//
// for j < i (STRICT) or j <= i, where G is the inclusive cumulative log decay inside the chunk
// and GR_i is G_i or, for the generalized rule's a-side, G_{i-1}. Included pairs have GR_i <=
// G_j, so the exponent is never positive — but it can be large and negative (g down to -20 per
// token over 64 tokens), so it may not be split into exp(GR_i) exp(-G_j): the second factor
// would overflow.
//
// Tokens are grouped in sub-chunks of 16. A pair in different sub-chunks p > q meets through
// the decay at the last token of sub-chunk q, m = 16q + 15 (j <= m < i):
//   exp(GR_i - G_j) = exp(GR_i - G_m) * exp(G_m - G_j)       both factors <= 1
// so those blocks are plain products of pre-scaled operands,
//   XT_q[i] = x_i exp(GR_i - G_m)      (one copy per column sub-chunk q below the row's)
//   YT[j]   = y_j exp(G_{m(j)} - G_j)  (m(j): the end of j's own sub-chunk)
// and only pairs inside one sub-chunk take their exact exponent, one exp per term. Tokens past
// the chunk's end are staged as zeros with the last token's G, so every exponent stays finite.
//
// Before including, define C, KT, WG, GM, GN (invocation grid, as chunk_common.glsl) and the
// accessors GA(t, c) (G), and per use the operand accessors passed to the macros.
#ifndef DVK_DECAY_GRAM_GLSL
#define DVK_DECAY_GRAM_GLSL

const uint NB = C / 16; // sub-chunks per chunk

// The column operand: YT(t, c) = YR(t, c) exp(G(end of t's sub-chunk) - G(t)).
#define DGRAM_SCALE_COLUMNS(YT, YR)                                                              \
    for (uint idx_ = lid; idx_ < C * KT; idx_ += WG) {                                           \
        const uint t_ = idx_ / KT, c_ = idx_ % KT;                                               \
        YT(t_, c_) = YR(t_, c_) * exp(GA(t_ | 15u, c_) - GA(t_, c_));                            \
    }

// The row operands: XT(q, t, c) = XR(t, c) exp(GROW(t, c) - G(16q + 15)) for the rows t of
// sub-chunks after q.
#define DGRAM_SCALE_ROWS(XT, XR, GROW)                                                           \
    for (uint idx_ = lid; idx_ < (NB - 1) * C * KT; idx_ += WG) {                                \
        const uint q_ = idx_ / (C * KT), t_ = (idx_ / KT) % C, c_ = idx_ % KT;                  \
        if (t_ >= 16 * (q_ + 1))                                                                 \
            XT(q_, t_, c_) = XR(t_, c_) * exp(GROW(t_, c_) - GA(16 * q_ + 15, c_));              \
    }

// acc[TM * TN] += this slice's part of M for the invocation's rows tr + GM x and columns
// tc + GN y.
#define DGRAM_ACCUMULATE(acc, TM, TN, STRICT, XR, YR, XT, YT, GROW)                              \
    for (uint kk_ = 0; kk_ < KT; ++kk_) {                                                        \
        [[unroll]] for (uint x_ = 0; x_ < (TM); ++x_) {                                          \
            const uint row_ = tr + GM * x_, p_ = row_ / 16;                                      \
            [[unroll]] for (uint y_ = 0; y_ < (TN); ++y_) {                                      \
                const uint col_ = tc + GN * y_, q_ = col_ / 16;                                  \
                if (p_ > q_)                                                                     \
                    acc[x_ * (TN) + y_] += XT(q_, row_, kk_) * YT(col_, kk_);                    \
                else if (p_ == q_ && ((STRICT) ? col_ < row_ : col_ <= row_))                    \
                    acc[x_ * (TN) + y_] += XR(row_, kk_) * YR(col_, kk_) *                       \
                                           exp(GROW(row_, kk_) - GA(col_, kk_));                 \
            }                                                                                    \
        }                                                                                        \
    }

#endif
