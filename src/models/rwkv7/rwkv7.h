/* RWKV-7 inside deltavk_models: the loaded model and sessions (load.c, forward.c, session.c),
 * and the reader of rwkv.cpp's .bin files (bin.c). */
#ifndef DVK_MODELS_RWKV7_H
#define DVK_MODELS_RWKV7_H

#include "models/models.h"

/* One block's parameters, in the layouts the forward pass uses: matrices in Linear layout
 * [out, in], vectors [C], the six token-shift mixes [6, C] (r, w, k, v, a, g). */
typedef struct rwkv7_block {
    dvk_tensor *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    dvk_tensor *x_mix;                  /* [6, C] */
    dvk_tensor *w0, *w1, *w2;           /* [C], [D_w, C], [C, D_w] */
    dvk_tensor *a0, *a1, *a2;
    dvk_tensor *v0, *v1, *v2;           /* NULL in block 0 */
    dvk_tensor *g1, *g2;
    dvk_tensor *k_k, *k_a, *r_k;        /* [C] */
    dvk_tensor *wr, *wk, *wv, *wo;      /* [C, C] */
    dvk_tensor *lnx_w, *lnx_b;          /* [C] */
    dvk_tensor *ffn_x_k;                /* [C] */
    dvk_tensor *ffn_key, *ffn_value;    /* [F, C], [C, F] */
} rwkv7_block;

struct dvk_rwkv7_model {
    dvk_context *ctx;
    dvk_rwkv7_info info;
    dvk_weights *weights;   /* safetensors: the file's tensors (it owns them), else NULL */
    dvk_tensor **owned;     /* tensors and views made here, destroyed newest first */
    uint32_t n_owned, cap_owned;
    dvk_tensor *emb, *ln0_w, *ln0_b, *ln_out_w, *ln_out_b, *head;
    rwkv7_block *blocks;
};

struct dvk_rwkv7_session {
    dvk_rwkv7_model *model;
    dvk_tensor **state;  /* 3 per layer: att shift [1,C], wkv [1,H,N,N], ffn shift [1,C] */
    dvk_cmd *cmd;        /* dvk_rwkv7_eval's recording, made on first use */
};

/* ---- the models level's own kernels (kernels.c, shaders/models/rwkv7/) ----------------------
 * Every tensor fp32; token tensors [.., C] contiguous, seen as rows of head_size channels
 * (row = token·heads + head); k_k, k_a, r_k, ln_w, ln_b [C]. */

/* Before dvk_rwkv7, in place: w ← −e^{−0.5}·σ(w); alpha ← σ(alpha); kappa = per-head
 * F.normalize(k ⊙ k_k); k ← k ⊙ (1 + (alpha − 1) ⊙ k_a); with v set (blocks after the first)
 * v ← v + (v_first − v) ⊙ σ(v_gate). */
typedef struct rwkv7_prepare_args {
    dvk_tensor *k, *w, *alpha, *kappa, *v;
    const dvk_tensor *v_first, *v_gate, *k_k, *k_a;
    uint32_t heads, head_size;
} rwkv7_prepare_args;

dvk_status dvk__rwkv7_prepare(dvk_cmd *cmd, const rwkv7_prepare_args *args);

/* After dvk_rwkv7, in place on o: o ← (GroupNorm_head(o; ln_w, ln_b, eps) + (Σ_head r ⊙ k ⊙ r_k)
 * · v) ⊙ g. */
typedef struct rwkv7_output_args {
    dvk_tensor *o;
    const dvk_tensor *r, *k, *v, *g, *r_k, *ln_w, *ln_b;
    uint32_t heads, head_size;
    float eps;
} rwkv7_output_args;

dvk_status dvk__rwkv7_output(dvk_cmd *cmd, const rwkv7_output_args *args);

/* ---- rwkv.cpp's .bin ------------------------------------------------------------------------ */

#define RWKV7_BIN_MAGIC 0x67676d66
#define RWKV7_BIN_MAX_DIMS 4
#define RWKV7_BIN_MAX_KEY 1024

/* One record of a .bin: its shape in PyTorch's order (the file's reversed). */
typedef struct rwkv7_bin_record {
    char *name;
    uint32_t type; /* 0 fp32, 1 fp16 */
    uint32_t ndim;
    uint64_t shape[RWKV7_BIN_MAX_DIMS];
    uint64_t numel;
    const unsigned char *data;
    bool used;
} rwkv7_bin_record;

typedef struct rwkv7_bin {
    int32_t version, n_vocab, n_embed, n_layer, data_type;
    rwkv7_bin_record *rec;
    uint32_t count;
} rwkv7_bin;

/* Parses a whole file in memory (records point into `bytes`, which must outlive the index).
 * DVK_ERROR_FORMAT for a malformed file, DVK_ERROR_UNSUPPORTED for a quantized record; the
 * message names `label` and the record. */
dvk_status dvk__rwkv7_bin_parse(const unsigned char *bytes, size_t size, const char *label,
                                rwkv7_bin *out);
void dvk__rwkv7_bin_free(rwkv7_bin *bin);
/* The record called `name`, or NULL. */
rwkv7_bin_record *dvk__rwkv7_bin_find(const rwkv7_bin *bin, const char *name);
/* Reads a record's values as floats (its numel of them) into dst. */
void dvk__rwkv7_bin_read(const rwkv7_bin_record *r, float *dst);

#endif
