// Shared by the three stages of the chunked delta rule (chunk_prepare, chunk_state,
// chunk_output). The chunked form (the WY representation of Yang et al., "Parallelizing
// Linear Transformers with the Delta Rule over Sequence Length"; docs/design.md), per chunk
// of C tokens with the state h at
// its start, G the inclusive cumulative log decay inside the chunk (0 for the ungated rule) and
// gamma = exp(G):
//
//   A = strictly_lower(diag(beta) K K^T) ⊙ exp(G_t - G_j)     (t > j, so exponents are <= 0)
//   L = (I + A)^-1                                             (unit lower triangular)
//   W = L (beta gamma ⊙ K),   U = L (beta ⊙ V)                 [chunk_prepare]
//   U' = U - W h;   h <- gamma_C h + (exp(G_C - G) ⊙ K)^T U'    [chunk_state, sequential]
//   O = scale (gamma ⊙ (Q h) + (tril(Q K^T) ⊙ exp(G_t - G_j)) U')  [chunk_output]
//
// Chunks never cross sequences. The host describes them in a table: chunk c starts at packed
// token chunk_table[2c] and has chunk_table[2c+1] tokens (1..C); sequence n owns chunks
// seq_chunks[n] .. seq_chunks[n+1]-1, in order.
//
// The products are register-blocked in shared memory (block_mma.glsl).
#ifndef DVK_CHUNK_COMMON_GLSL
#define DVK_CHUNK_COMMON_GLSL

#include "block_mma.glsl"

#endif
