/* rwkv7_c_loop — RWKV-7 (x070) in plain single-threaded C, float32, one token at a time: the
 * baseline a straightforward C port gives, for comparing `dvk generate` on lavapipe against
 * (issue 16). Loops only: no SIMD intrinsics, no threads, no BLAS, built with the project's
 * flags. It reads rwkv.cpp's .bin files (FP32 or FP16 records) on its own and is no part of
 * the libraries; the forward pass is the one include/deltavk_models.h writes (RWKV-7, x070),
 * which src/models/rwkv7/forward.c records on the device.
 *
 * Usage from C:
 *   rwkv7c_model m;  rwkv7c_state s;  char err[256];
 *   rwkv7c_load(path, &m, err, sizeof err);   rwkv7c_state_init(&m, &s);
 *   for each token: rwkv7c_step(&m, &s, token, logits_or_NULL);
 *   rwkv7c_state_free(&s);  rwkv7c_free(&m);
 * Both init functions return 0 on success, -1 on failure (load: the reason in err). */
#ifndef RWKV7_C_LOOP_H
#define RWKV7_C_LOOP_H

#include <stddef.h>
#include <stdint.h>

/* One block's parameters, each a pointer into the model's arena. Matrices are row-major
 * [out, in] (PyTorch Linear layout; rwkv.cpp stores the low-rank ones so too). */
typedef struct rwkv7c_block {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    const float *mix; /* [6, C]: μ of r, w, k, v, a, g */
    const float *w0, *w1, *w2;   /* decay: [C], [Dw, C], [C, Dw] */
    const float *a0, *a1, *a2;   /* in-context learning rate α: [C], [Da, C], [C, Da] */
    const float *v0, *v1, *v2;   /* value residual (blocks after the first): [C], [Dv, C], .. */
    const float *g1, *g2;        /* gate: [Dg, C], [C, Dg] */
    const float *k_k, *k_a, *r_k;
    const float *wr, *wk, *wv, *wo; /* [C, C] */
    const float *lnx_w, *lnx_b;
    const float *ffn_x_k;
    const float *ffn_key, *ffn_value; /* [F, C], [C, F] */
} rwkv7c_block;

typedef struct rwkv7c_model {
    uint32_t n_vocab, n_embd, n_layer, n_head, head_size;
    uint32_t decay_rank, iclr_rank, value_rank, gate_rank, ffn_dim;
    const float *emb, *ln0_w, *ln0_b, *ln_out_w, *ln_out_b, *head;
    rwkv7c_block *blocks;
    float *arena; /* every parameter as float32 */
} rwkv7c_model;

/* The recurrent state (per layer: the two token-shift carries and the heads' N x N matrices,
 * value-major) and the scratch vectors of one step. */
typedef struct rwkv7c_state {
    float *att_prev, *ffn_prev; /* [L, C] */
    float *wkv;                 /* [L, H, N, N] */
    float *x, *xa, *xm, *r, *k, *v, *v_first, *w, *alpha, *vgate, *g, *kappa, *o, *h, *f;
} rwkv7c_state;

int rwkv7c_load(const char *path, rwkv7c_model *m, char *err, size_t err_len);
void rwkv7c_free(rwkv7c_model *m);
int rwkv7c_state_init(const rwkv7c_model *m, rwkv7c_state *s); /* the zero state */
void rwkv7c_state_free(rwkv7c_state *s);
/* Advances the state by one token; writes the next token's logits [n_vocab] when logits is not
 * NULL (a prompt's tokens before its last need none, as in dvk_rwkv7_forward). */
void rwkv7c_step(const rwkv7c_model *m, rwkv7c_state *s, int32_t token, float *logits);
/* The index of the largest logit, the first of equal ones. */
int32_t rwkv7c_argmax(const float *logits, uint32_t n);

#endif
