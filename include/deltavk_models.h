/*
 * deltavk_models.h — whole models on any Vulkan GPU (level 3 of deltavk).
 *
 * OVERVIEW
 * ========
 * deltavk has three levels, each built only on the public API of the one below:
 *   deltavk.h          the core (context, tensors, recording) and the sequence mixers (ops);
 *   deltavk_nn.h       the building blocks (matrix multiply, norms, token shift, sampling);
 *   deltavk_models.h   this file: architectures, their weights and sessions with state
 *                      (library deltavk_models).
 * A model is loaded once and shared, read-only, by any number of sessions. A session is one
 * sequence: it owns the recurrent state (every layer's matrix state and token-shift carries)
 * as tensors the caller can read, write, save to a file and restore. Running a session records
 * the whole forward pass into a dvk_cmd, layer by layer, each layer's temporaries in the
 * recording's scratch arena inside a mark released at the layer's end, so the memory a forward
 * needs does not grow with depth.
 *
 * Models: RWKV-7 "Goose" (x070). Layers: Qwen3-Next's Gated DeltaNet (transformers'
 * Qwen3NextGatedDeltaNet) and Memodo's layer (PyPI memodo's MemodoLayer), each with its own
 * state object (no session: a layer is one part of a model whose other parts the caller runs).
 *
 * A COMPLETE EXAMPLE (greedy continuation of a prompt; error handling shortened)
 * =================
 *     dvk_context *ctx;             dvk_context_create(NULL, &ctx);
 *     dvk_rwkv7_model *model;       dvk_rwkv7_load(ctx, "model.bin", NULL, &model);
 *     dvk_rwkv7_session *s;         dvk_rwkv7_session_create(model, &s);
 *     const uint32_t V = dvk_rwkv7_model_info(model)->n_vocab;
 *     float *logits = malloc(V * sizeof *logits);
 *     int32_t prompt[] = {'T', 'h', 'e'};
 *     dvk_rwkv7_eval(s, prompt, 3, logits, V);        // prefill: logits of the last token
 *     for (int i = 0; i < 64; ++i) {
 *         int32_t next = 0;                           // argmax (or dvk_sample on the device)
 *         for (uint32_t j = 1; j < V; ++j)
 *             if (logits[j] > logits[next]) next = (int32_t)j;
 *         putchar(next);
 *         dvk_rwkv7_eval(s, &next, 1, logits, V);     // one decode step
 *     }
 *     dvk_rwkv7_session_destroy(s); dvk_rwkv7_destroy(model); dvk_context_destroy(ctx);
 * dvk_rwkv7_forward records the same work into the caller's dvk_cmd instead, so the logits
 * can stay on the device and feed dvk_argmax / dvk_sample in the same submission (the dvk
 * tool's `generate` does that).
 *
 * ERRORS, OWNERSHIP, THREADING
 * ============================
 * As deltavk.h: every call returns a dvk_status and dvk_last_error() names what was wrong (a
 * file's tensor: "blocks.3.att.w1: shape [64,32], expected [32,64] (model.bin)"); nothing
 * aborts. Destroy sessions before their model and models before their context; destroy
 * functions accept NULL. A model may be used by several threads at once (recording sessions
 * into different dvk_cmds); one session is used by one thread at a time.
 */
#ifndef DELTAVK_MODELS_H
#define DELTAVK_MODELS_H

#include "deltavk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* DVK_MODELS_API marks the functions libdeltavk_models exports. The library is compiled with
 * DVK_MODELS_BUILDING and hidden visibility (-fvisibility=hidden), so nothing else leaves the
 * shared library. On Windows a program using the DLL defines DVK_SHARED (the CMake package and the
 * shared targets do) to import them. */
#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(DVK_SHARED) && defined(DVK_MODELS_BUILDING)
#define DVK_MODELS_API __declspec(dllexport)
#elif defined(DVK_SHARED)
#define DVK_MODELS_API __declspec(dllimport)
#else
#define DVK_MODELS_API
#endif
#elif defined(DVK_MODELS_BUILDING) && (defined(__GNUC__) || defined(__clang__))
#define DVK_MODELS_API __attribute__((visibility("default")))
#else
#define DVK_MODELS_API
#endif

/* The file a model comes from. */
typedef enum dvk_model_format {
    /* By the file's first bytes: rwkv.cpp's magic means its .bin, anything else is read as
     * safetensors. */
    DVK_MODEL_FORMAT_AUTO = 0,
    /* rwkv.cpp's .bin (its docs/FILE_FORMAT.md): a header of six little-endian int32 (magic
     * 0x67676d66, version 100 or 101, n_vocab, n_embed, n_layer, data type), then until the end
     * of the file one record per parameter: int32 dim_count (1 to 4), key_length (1 to 1024),
     * data_type (0 fp32, 1 fp16; rwkv.cpp's quantized types are DVK_ERROR_UNSUPPORTED),
     * dim_count int32 dimensions (positive; the reverse of PyTorch's order), the key (UTF-8) and
     * the data, row-major in PyTorch's order. */
    DVK_MODEL_FORMAT_RWKV_CPP = 1,
    /* safetensors with the names and layouts of PyTorch's state_dict (read by dvk_weights). */
    DVK_MODEL_FORMAT_SAFETENSORS = 2,
} dvk_model_format;

/* ---------------------------------------------------------------------------------------------
 * RWKV-7 (x070)
 * ------------------------------------------------------------------------------------------- */

/*
 * The model, per token, width C = H·N, vectors as columns, W·x for each projection (PyTorch
 * Linear weights [out, in]); the reference is BlinkDL's RWKV-LM RWKV-v7 code and the `rwkv`
 * package's x070 (scripts/rwkv7_reference.py is ours, checked against both):
 *   x ← LN0(emb[token])
 *   per block: a = LN1(x); xx = a_prev − a; x_m = a + xx ⊙ μ_m for m in r, w, k, v, a, g
 *     r = W_r x_r;  k = W_k x_k;  v = W_v x_v
 *     w = −e^{−0.5}·σ(w0 + W_w2 tanh(W_w1 x_w))          (log decay)
 *     α = σ(a0 + W_a2 W_a1 x_a);  g = W_g2 σ(W_g1 x_g)
 *     κ̂ = per-head L2-normalise(k ⊙ k_k) (F.normalize, eps 1e-12)
 *     k ← k ⊙ (1 + (α − 1) ⊙ k_a)
 *     block 0: v_first = v;  later blocks: v ← v + (v_first − v) ⊙ σ(v0 + W_v2 W_v1 x_v)
 *     o = dvk_rwkv7(r, w, k, v, κ̂, α), scale 1, the session's state S carried
 *     o ← GroupNorm_H(o; ln_x, eps 64e-5) + ((r ⊙ k ⊙ r_k) summed per head) · v
 *     x ← x + W_o (o ⊙ g)
 *     c = LN2(x); xx = c_prev − c; x ← x + W_v' relu(W_k' (c + xx ⊙ μ_k))²
 *   logits = W_head LN_out(x).  LayerNorms: eps 1e-5.
 *
 * Parameters, under PyTorch's names and shapes (what a safetensors file holds; C the width, V
 * the vocabulary, H·N = C the heads and head size, F the channel mix's width, D_w, D_a, D_v,
 * D_g the ranks of the four low-rank pairs — all read from the file):
 *   emb.weight [V,C]   head.weight [V,C]   ln_out.weight, ln_out.bias [C]
 *   blocks.0.ln0.weight, blocks.0.ln0.bias [C]      (block 0 only)
 *   blocks.i.ln1.{weight,bias}, blocks.i.ln2.{weight,bias} [C]
 *   blocks.i.att.x_r, x_w, x_k, x_v, x_a, x_g [1,1,C]
 *   blocks.i.att.w0 [1,1,C]  w1 [C,D_w]  w2 [D_w,C]     (x @ w1 @ w2: not Linear layout)
 *   blocks.i.att.a0 [1,1,C]  a1 [C,D_a]  a2 [D_a,C]
 *   blocks.i.att.v0 [1,1,C]  v1 [C,D_v]  v2 [D_v,C]     (blocks 1 and later only)
 *   blocks.i.att.g1 [C,D_g]  g2 [D_g,C]
 *   blocks.i.att.k_k, k_a [1,1,C]   blocks.i.att.r_k [H,N]
 *   blocks.i.att.{receptance,key,value,output}.weight [C,C]
 *   blocks.i.att.ln_x.{weight,bias} [C]
 *   blocks.i.ffn.x_k [1,1,C]  ffn.key.weight [F,C]  ffn.value.weight [C,F]
 * The vectors stored [1,1,C] may also be [C] or [1,C]. rwkv.cpp's .bin differs in two ways
 * (its converter's, read from the file): the six μ are one tensor att.x_rwkvag [6,1,C]
 * (stacked r, w, k, v, a, g), and the low-rank matrices w1, w2, a1, a2, v1, v2, g1, g2 are
 * stored transposed (w1 [D_w,C], ...). Its records' shapes are given in reverse order, as
 * above. scripts/rwkv7_to_safetensors.py converts a .bin into the safetensors form.
 * A missing, extra or wrongly shaped parameter is an error naming it (DVK_ERROR_NOT_FOUND,
 * DVK_ERROR_FORMAT, DVK_ERROR_SHAPE_MISMATCH), as is a malformed file (DVK_ERROR_FORMAT: a
 * wrong magic or version, a truncated record, a duplicated key, sizes that disagree with the
 * header). The head size N is any the dvk_rwkv7 operator takes (1 to 256; RWKV-7 uses 64); a
 * forward pass also needs rows of C fp32 values to be a multiple of the device's
 * tensor_alignment in bytes (it views them; every C that is a multiple of 64 is, on every
 * device), else DVK_ERROR_UNSUPPORTED.
 */

typedef struct dvk_rwkv7_model dvk_rwkv7_model;
typedef struct dvk_rwkv7_session dvk_rwkv7_session;

typedef struct dvk_rwkv7_load_desc {
    /* Storage of the matrices (emb, head, the projections, the low-rank pairs, the channel
     * mix): DVK_DTYPE_F32 (default), _F16 or _BF16, converted once at load (round to nearest
     * even). The vectors (norms, μ, w0, a0, v0, k_k, k_a, r_k) stay fp32, as rwkv.cpp keeps
     * them. On a device without fp16_storage, 16-bit requests load as fp32
     * (dvk_rwkv7_info.dtype says what was used). Activations and state are fp32 always. */
    dvk_dtype dtype;
    dvk_model_format format; /* 0 = by content */
} dvk_rwkv7_load_desc;

typedef struct dvk_rwkv7_info {
    uint32_t n_vocab, n_embd, n_layer; /* V, C, L */
    uint32_t n_head, head_size;        /* H, N: C = H·N */
    uint32_t ffn_dim;                  /* F */
    uint32_t decay_rank, iclr_rank, value_rank, gate_rank; /* D_w, D_a, D_v (0 if L = 1), D_g */
    dvk_dtype dtype;                   /* the matrices' storage */
    dvk_model_format format;           /* the file's */
} dvk_rwkv7_info;

/* Loads a model from a file (mapped while it loads; nothing of it is kept). desc may be NULL. */
DVK_MODELS_API dvk_status dvk_rwkv7_load(dvk_context *context, const char *path,
                                         const dvk_rwkv7_load_desc *desc,
                                         dvk_rwkv7_model **out_model);
/* The same from `size` bytes in memory (not kept after the call). Messages call it
 * "(memory)". */
DVK_MODELS_API dvk_status dvk_rwkv7_load_memory(dvk_context *context, const void *data,
                                                size_t size, const dvk_rwkv7_load_desc *desc,
                                                dvk_rwkv7_model **out_model);
/* NULL is a no-op. Its sessions must be destroyed first. */
DVK_MODELS_API void dvk_rwkv7_destroy(dvk_rwkv7_model *model);
DVK_MODELS_API const dvk_rwkv7_info *dvk_rwkv7_model_info(const dvk_rwkv7_model *model);

/*
 * Sessions: one sequence and its state. The state is 3·L fp32 tensors, zero at creation:
 *   DVK_RWKV7_ATT_SHIFT  [1,C]      the last token's LN1 output (the time mix's token shift)
 *   DVK_RWKV7_WKV        [1,H,N,N]  the matrix state S, key-major as every state of deltavk.h
 *                                   (element [0,h,i,j] multiplies key i into value j: the
 *                                   transpose of the reference code's per-head state)
 *   DVK_RWKV7_FFN_SHIFT  [1,C]      the last token's LN2 output (the channel mix's shift)
 * dvk_rwkv7_session_state returns them (owned by the session: never destroy them); a caller
 * may read or write them between runs (dvk_tensor_download / dvk_tensor_upload).
 */
typedef enum dvk_rwkv7_state_part {
    DVK_RWKV7_ATT_SHIFT = 0,
    DVK_RWKV7_WKV = 1,
    DVK_RWKV7_FFN_SHIFT = 2,
} dvk_rwkv7_state_part;

DVK_MODELS_API dvk_status dvk_rwkv7_session_create(dvk_rwkv7_model *model,
                                                   dvk_rwkv7_session **out_session);
/* NULL is a no-op. The GPU must be done with work recorded for it. */
DVK_MODELS_API void dvk_rwkv7_session_destroy(dvk_rwkv7_session *session);
DVK_MODELS_API dvk_rwkv7_model *dvk_rwkv7_session_model(const dvk_rwkv7_session *session);
/* The state tensor of one layer (NULL for a layer or part out of range). */
DVK_MODELS_API dvk_tensor *dvk_rwkv7_session_state(const dvk_rwkv7_session *session,
                                                   uint32_t layer, dvk_rwkv7_state_part part);
/* Zeroes the state (blocking): the session starts a new sequence. */
DVK_MODELS_API dvk_status dvk_rwkv7_session_reset(dvk_rwkv7_session *session);
/* Copies src's state into dst (blocking); both of one model. */
DVK_MODELS_API dvk_status dvk_rwkv7_session_copy(dvk_rwkv7_session *dst,
                                                 const dvk_rwkv7_session *src);

/*
 * State files: safetensors with one F32 tensor per state tensor, named
 * blocks.<i>.att.shift [1,C], blocks.<i>.att.wkv [1,H,N,N] and blocks.<i>.ffn.shift [1,C],
 * and metadata format = "deltavk-rwkv7-state", version = "1", n_layer, n_embd, head_size.
 * Saving downloads the state (blocking) and writes the file (the library's own small writer;
 * a failed write removes the partial file: DVK_ERROR_IO). Restoring reads a file through
 * dvk_weights (host only) and uploads it; a file of another shape of model, or with a
 * missing, extra or wrongly shaped tensor, is an error naming it, and leaves the state as it
 * was.
 */
DVK_MODELS_API dvk_status dvk_rwkv7_session_save(dvk_rwkv7_session *session, const char *path);
DVK_MODELS_API dvk_status dvk_rwkv7_session_restore(dvk_rwkv7_session *session,
                                                    const char *path);

/*
 * Records the forward pass of n_tokens tokens into cmd, continuing the session's sequence:
 * the state tensors are read and updated in place when the recording runs (submit it once;
 * replaying it would advance the state again).
 *   tokens        host token ids (copied into the recording), each in [0, V) (else
 *                 DVK_ERROR_INVALID_ARGUMENT naming the position); or
 *   token_tensor  int32 ids already on the device ([n_tokens] or any shape of that many;
 *                 dvk_argmax / dvk_sample's output): not checked (an id out of range reads an
 *                 embedding of zeros). Exactly one of the two.
 *   logits        NULL (prefill only), [n_tokens, V] (every position's logits), or [V] or
 *                 [1, V] (the last token's); fp32.
 *   mode, chunk_size  passed to dvk_rwkv7 (0 = its choice: recurrent for one token and on CPU
 *                 devices, chunked for long prompts on GPUs).
 *   max_tokens    tokens per pass (0 = 512): longer inputs run as several passes in the same
 *                 recording, so scratch memory is bounded by max_tokens, not n_tokens.
 * Scratch memory, from cmd's arena and released before the call returns (a mark per pass and
 * per layer): about (20 C + D_w + D_a + D_v + D_g + F)·4 bytes per token of a pass, plus
 * dvk_rwkv7's own (chunk mode).
 * On failure part of the work may be recorded: reset cmd rather than submit it.
 */
typedef struct dvk_rwkv7_forward_desc {
    const int32_t *tokens;
    const dvk_tensor *token_tensor;
    uint32_t n_tokens;
    dvk_tensor *logits;
    dvk_mode mode;
    uint32_t chunk_size;
    uint32_t max_tokens;
} dvk_rwkv7_forward_desc;

DVK_MODELS_API dvk_status dvk_rwkv7_forward(dvk_cmd *cmd, dvk_rwkv7_session *session,
                                            const dvk_rwkv7_forward_desc *desc);

/* Runs n_tokens host tokens (dvk_rwkv7_forward with the defaults, on a recording the session
 * keeps; blocking) and downloads logits: logits_count = V for the last token's, n_tokens·V for
 * every position's (row-major), 0 with logits NULL for none. Anything else is
 * DVK_ERROR_INVALID_ARGUMENT. */
DVK_MODELS_API dvk_status dvk_rwkv7_eval(dvk_rwkv7_session *session, const int32_t *tokens,
                                         uint32_t n_tokens, float *logits, size_t logits_count);

/* ---------------------------------------------------------------------------------------------
 * Qwen3-Next / Qwen3.5 Gated DeltaNet layer (transformers' Qwen3NextGatedDeltaNet)
 * ------------------------------------------------------------------------------------------- */

/*
 * The linear-attention layer of Qwen3-Next (and Qwen3.5), as transformers'
 * modeling_qwen3_next.py computes it, with H key heads of size K, HV value heads of size V (HV a
 * multiple of H; r = HV/H value heads share each key head), hidden size D, conv kernel W:
 *   qkvz = in_proj_qkvz x;  ba = in_proj_ba x      (bias-free Linear)
 *     the two projections interleave their outputs per key head h: qkvz is H blocks of
 *     [q_h (K), k_h (K), v_h (r·V), z_h (r·V)] and ba H blocks of [b_h (r), a_h (r)]
 *     (transformers' fix_query_key_value_ordering); value head h·r + j is the j-th of block h
 *   c = silu(conv1d_causal(q ++ k ++ v))   depthwise, kernel W, no bias, over the 2HK + HV·V
 *                                          channels q (heads in order), k, v; the last W−1
 *                                          inputs carried in the state
 *   β = σ(b);  g = −exp(A_log) · softplus(a + dt_bias)      (per value head; softplus with
 *                                          PyTorch's threshold 20)
 *   o = dvk_gated_delta_rule(q, k, v, β, g) with q and k L2-normalised in the kernel
 *       (x / sqrt(Σx² + 1e-6)), scale K^−½, value head j reading key head j / r
 *   o ← rms_norm(o; eps) · norm.weight · silu(z)   per value head (Qwen3NextRMSNormGated: the
 *                                          weight as stored, not 1 + weight)
 *   y = out_proj o
 * Parameters, under transformers' names and shapes (the layer's state_dict; a whole model's
 * checkpoint through desc.prefix, e.g. "model.layers.0.linear_attn."):
 *   in_proj_qkvz.weight [2HK + 2HV·V, D]   in_proj_ba.weight [2HV, D]
 *   conv1d.weight [2HK + HV·V, 1, W]       dt_bias [HV]   A_log [HV]
 *   norm.weight [V]                        out_proj.weight [D, HV·V]
 * D, HV, V, W and the key width HK are read from the shapes; how HK splits into heads is not
 * in them: desc.head_k_dim (0 = V, as in every released Qwen3-Next and Qwen3.5) gives K, and
 * H = HK / K must divide HV. A missing or wrongly shaped tensor is an error naming it
 * (DVK_ERROR_NOT_FOUND, DVK_ERROR_SHAPE_MISMATCH), as is an extra one (DVK_ERROR_FORMAT; with
 * a prefix, only tensors under it count). Limits: K, V ≤ 256 (dvk_gated_delta_rule's), W ≥ 2.
 * The projections are reordered once at load (rows of in_proj_qkvz into q, k, v and z, of
 * in_proj_ba into b and a), so the forward pass runs three plain products.
 */

typedef struct dvk_qwen3_next_gdn dvk_qwen3_next_gdn;
typedef struct dvk_qwen3_next_gdn_state dvk_qwen3_next_gdn_state;

typedef struct dvk_qwen3_next_gdn_load_desc {
    /* Storage of the three projections: DVK_DTYPE_F32 (default), _F16 or _BF16, converted
     * once at load (round to nearest even). conv1d.weight, A_log, dt_bias and norm.weight stay
     * fp32; activations and state are fp32 always. On a device without fp16_storage, 16-bit
     * requests load as fp32 (dvk_qwen3_next_gdn_info.dtype says what was used). */
    dvk_dtype dtype;
    /* The parameters' names start with this (NULL or "" = none): one layer out of a model's
     * file. Tensors without it are ignored. */
    const char *prefix;
    uint32_t head_k_dim; /* K (0 = the value head size V, read from norm.weight) */
    float norm_eps;      /* the gated RMSNorm's eps, config.rms_norm_eps (0 = 1e-6) */
} dvk_qwen3_next_gdn_load_desc;

typedef struct dvk_qwen3_next_gdn_info {
    uint32_t hidden_size;                /* D */
    uint32_t num_k_heads, head_k_dim;    /* H, K */
    uint32_t num_v_heads, head_v_dim;    /* HV, V */
    uint32_t conv_kernel;                /* W */
    uint32_t conv_dim;                   /* 2HK + HV·V */
    float norm_eps;
    dvk_dtype dtype;                     /* the projections' storage */
} dvk_qwen3_next_gdn_info;

/* Loads the layer from a safetensors file (read on the host, converted, uploaded; nothing of
 * the file is kept). desc may be NULL. */
DVK_MODELS_API dvk_status dvk_qwen3_next_gdn_load(dvk_context *context, const char *path,
                                                  const dvk_qwen3_next_gdn_load_desc *desc,
                                                  dvk_qwen3_next_gdn **out_layer);
/* The same from `size` bytes of safetensors in memory (copied). Messages call it "(memory)". */
DVK_MODELS_API dvk_status dvk_qwen3_next_gdn_load_memory(dvk_context *context, const void *data,
                                                         size_t size,
                                                         const dvk_qwen3_next_gdn_load_desc *desc,
                                                         dvk_qwen3_next_gdn **out_layer);
/* NULL is a no-op. Its states must be destroyed first. */
DVK_MODELS_API void dvk_qwen3_next_gdn_destroy(dvk_qwen3_next_gdn *layer);
DVK_MODELS_API const dvk_qwen3_next_gdn_info *
dvk_qwen3_next_gdn_layer_info(const dvk_qwen3_next_gdn *layer);

/*
 * The carried state of `batch` sequences, two fp32 tensors, zero at creation:
 *   DVK_QWEN3_NEXT_GDN_CONV       [batch, W−1, conv_dim]  the conv's last W−1 inputs (before the
 *                                 conv and its SiLU), oldest first, channels q, k, v as above.
 *                                 transformers' cache keeps [batch, conv_dim, W], the last W
 *                                 inputs: ours is its [:, :, 1:] transposed.
 *   DVK_QWEN3_NEXT_GDN_RECURRENT  [batch, HV, K, V]  the rule's S, key-major (transformers'
 *                                 recurrent state, as it is)
 * dvk_qwen3_next_gdn_state_tensor returns them (owned by the state: never destroy them); read or
 * write them between runs (dvk_tensor_download / dvk_tensor_upload).
 */
typedef enum dvk_qwen3_next_gdn_state_part {
    DVK_QWEN3_NEXT_GDN_CONV = 0,
    DVK_QWEN3_NEXT_GDN_RECURRENT = 1,
} dvk_qwen3_next_gdn_state_part;

DVK_MODELS_API dvk_status dvk_qwen3_next_gdn_state_create(const dvk_qwen3_next_gdn *layer,
                                                          uint32_t batch,
                                                          dvk_qwen3_next_gdn_state **out_state);
/* NULL is a no-op. The GPU must be done with work recorded for it. */
DVK_MODELS_API void dvk_qwen3_next_gdn_state_destroy(dvk_qwen3_next_gdn_state *state);
/* NULL for a part out of range. */
DVK_MODELS_API dvk_tensor *dvk_qwen3_next_gdn_state_tensor(const dvk_qwen3_next_gdn_state *state,
                                                           dvk_qwen3_next_gdn_state_part part);
/* Zeroes both tensors (blocking): new sequences. */
DVK_MODELS_API dvk_status dvk_qwen3_next_gdn_state_reset(dvk_qwen3_next_gdn_state *state);
/*
 * State files: safetensors with F32 tensors conv_state [batch, W−1, conv_dim] and
 * recurrent_state [batch, HV, K, V], metadata format = "deltavk-qwen3-next-gdn-state",
 * version = "1". Saving downloads (blocking) and writes the file (a failed write removes it:
 * DVK_ERROR_IO). Restoring a file of another layer shape or batch, or with a missing, extra or
 * wrongly shaped tensor, is an error naming it and leaves the state as it was.
 */
DVK_MODELS_API dvk_status dvk_qwen3_next_gdn_state_save(dvk_qwen3_next_gdn_state *state,
                                                        const char *path);
DVK_MODELS_API dvk_status dvk_qwen3_next_gdn_state_restore(dvk_qwen3_next_gdn_state *state,
                                                           const char *path);

/*
 * Records the layer over x into cmd:
 *   x      [B, T, D] fp32 (B = the state's batch); y [B, T, D] fp32, not overlapping x.
 *   state  NULL: the sequences start from zeros and nothing is kept. Otherwise they continue
 *          from it and it is updated in place when the recording runs (submit it once).
 *          Streaming a sequence in pieces (token by token: T = 1) gives what one call gives,
 *          to fp32 rounding (the conv and the carried state are exact; the recurrence's
 *          chunked and token-by-token forms differ by ~1e-6 relative).
 *   mode, chunk_size  passed to dvk_gated_delta_rule (0 = its choice: token by token on CPU
 *          devices and for T ≤ 64, chunked for longer T on GPUs).
 * Eight dispatches (and the rule's): three products (q, k, v; z; b, a), the conv with its
 * SiLU, one kernel of this level that splits the conv's output into q, k, v and forms β and g,
 * the rule, the gated RMSNorm and out_proj. Scratch from cmd's arena, released before the call
 * returns: (3·conv_dim + 2·HV·V + 4·HV)·4 bytes per token, plus the rule's own (chunk mode).
 * On failure part of the work may be recorded: reset cmd rather than submit it.
 */
typedef struct dvk_qwen3_next_gdn_forward_desc {
    const dvk_tensor *x;
    dvk_tensor *y;
    dvk_qwen3_next_gdn_state *state;
    dvk_mode mode;
    uint32_t chunk_size;
} dvk_qwen3_next_gdn_forward_desc;

DVK_MODELS_API dvk_status dvk_qwen3_next_gdn_forward(dvk_cmd *cmd,
                                                     const dvk_qwen3_next_gdn *layer,
                                                     const dvk_qwen3_next_gdn_forward_desc *desc);

/* ---------------------------------------------------------------------------------------------
 * Memodo layer (PyPI memodo 1.0.0, MemodoLayer)
 * ------------------------------------------------------------------------------------------- */

/*
 * Memodo's layer, with C channels (num_channels), L heads of F_j features (attn_feats), the
 * token shift's hidden width F_l (lerp_feats) and the gate's F_g (gating_feats). Its parts:
 *   LN         nn.LayerNorm(C), eps 1e-5
 *   TokenLerp  dvk_token_lerp: xf[t] = x[t−1] (xf[0] = the carried token, or the learned
 *              token_lerp.initial); pm = x + (xf − x)⊙premix;
 *              x' = x + (xf − x)⊙σ(W2 gelu(W1 pm + b1) + b2)
 *   head j     a, b, c, d, i, s = A h, B h, C h, D h, I h, select h (Linear with bias; h the
 *              head's input), its F×F state M (learned initial `initial`):
 *                M ← M diag(σ(i)) + (M a) bᵀ/√F + c dᵀ;  o = Mᵀ s;  out = O o (no bias)
 *              — dvk_dplr with S = Mᵀ, k = d, v = c, q = s, gk = logσ(i), b/√F (folded into
 *              B's weight and bias at load), scale 1 and DVK_READOUT_KEY
 *   gating     σ(W2 gelu(W1 · + b1) + b2)
 * and two wirings of them (dvk_memodo_wiring):
 *   DVK_MEMODO_WIRING_PACKAGE (default): MemodoLayer.forward as the package computes it
 *     x' = TokenLerp(LN(x));  h = bias (broadcast);  for each head: h = head_j(h)
 *     y = x + h ⊙ gating(h + x'⊙gating_res)
 *     The heads are chained and fed from `bias`: x never reaches them (their output is the same
 *     for every input), and the package returns y time-major, [T, B, C], for a batch-major x
 *     (use_residual=True with the default time_dim=-2): desc.time_major_y gives that layout.
 *     use_residual=False (y = h ⊙ gating(...), in x's layout) is desc.no_residual.
 *   DVK_MEMODO_WIRING_README: what the package's README describes, on the same parameters
 *     xn = LN(x);  x' = TokenLerp(xn);  block = bias + Σ_j head_j(x')   (every head reads x')
 *     y = x + block ⊙ gating(xn)                                       (R + Block(x)·σ(…LN(R)…))
 *     The README writes silu in the gate and in the token shift, and no biases; the modules
 *     (and so both wirings here) use GELU and their biases. gating_res is not used.
 *     scripts/gen_memodo_fixtures.py composes this wiring from the package's own modules.
 * Parameters, under the package's names and shapes (MemodoLayer's state_dict; a model's file
 * through desc.prefix):
 *   norm.weight, norm.bias [C]     bias [C]     gating_res [C]
 *   token_lerp.initial, token_lerp.premix [C]
 *   token_lerp.decide.0.weight [F_l, C], .bias [F_l];  token_lerp.decide.2.weight [C, F_l],
 *     .bias [C]
 *   deltanets.J.initial [F, F];  deltanets.J.{A,B,C,D,I,select}.weight [F, C], .bias [F];
 *     deltanets.J.O.weight [C, F]                          (J = 0 .. L−1, F = F_J)
 *   gating.0.weight [F_g, C], .bias [F_g];  gating.2.weight [C, F_g], .bias [C]
 * C, L (the heads deltanets.0, 1, ... present), each F_J, F_l and F_g are read from the shapes.
 * A missing or wrongly shaped tensor is an error naming it (DVK_ERROR_NOT_FOUND,
 * DVK_ERROR_SHAPE_MISMATCH), as is an extra one (DVK_ERROR_FORMAT; with a prefix, only tensors
 * under it count). Limits: 1 ≤ F ≤ 256 (dvk_dplr's), L ≤ DVK_MEMODO_MAX_HEADS (L = 0 is
 * allowed: h = bias).
 * The head's transition is not bounded (the package clamps nothing): a state that grows past
 * fp32's range gives inf, as in PyTorch.
 */

typedef struct dvk_memodo_layer dvk_memodo_layer;
typedef struct dvk_memodo_state dvk_memodo_state;

#define DVK_MEMODO_MAX_HEADS 64

typedef enum dvk_memodo_wiring {
    DVK_MEMODO_WIRING_PACKAGE = 0, /* the package's forward (default) */
    DVK_MEMODO_WIRING_README = 1,  /* the README's description */
} dvk_memodo_wiring;

typedef struct dvk_memodo_load_desc {
    /* Storage of the matrices (the token shift's and the gate's Linear weights, the heads'
     * projections and O): DVK_DTYPE_F32 (default), _F16 or _BF16, converted once at load
     * (round to nearest even). Biases, norms, premix, gating_res, bias and the learned initial
     * states stay fp32; activations and states are fp32 always. On a device without
     * fp16_storage, 16-bit requests load as fp32 (dvk_memodo_info.dtype says what was used). */
    dvk_dtype dtype;
    /* The parameters' names start with this (NULL or "" = none). Tensors without it are
     * ignored. */
    const char *prefix;
} dvk_memodo_load_desc;

typedef struct dvk_memodo_info {
    uint32_t num_channels;                       /* C */
    uint32_t num_heads;                          /* L */
    uint32_t attn_feats[DVK_MEMODO_MAX_HEADS];   /* F_j, j < L */
    uint32_t lerp_feats, gating_feats;           /* F_l, F_g */
    dvk_dtype dtype;                             /* the matrices' storage */
} dvk_memodo_info;

/* Loads the layer from a safetensors file (read on the host, converted, uploaded; nothing of
 * the file is kept). desc may be NULL. */
DVK_MODELS_API dvk_status dvk_memodo_load(dvk_context *context, const char *path,
                                          const dvk_memodo_load_desc *desc,
                                          dvk_memodo_layer **out_layer);
/* The same from `size` bytes of safetensors in memory. Messages call it "(memory)". */
DVK_MODELS_API dvk_status dvk_memodo_load_memory(dvk_context *context, const void *data,
                                                 size_t size, const dvk_memodo_load_desc *desc,
                                                 dvk_memodo_layer **out_layer);
/* NULL is a no-op. Its states must be destroyed first. */
DVK_MODELS_API void dvk_memodo_destroy(dvk_memodo_layer *layer);
DVK_MODELS_API const dvk_memodo_info *dvk_memodo_layer_info(const dvk_memodo_layer *layer);

/*
 * The carried state of `batch` sequences: L + 1 fp32 tensors, numbered as the package's state
 * list (forward's `state` argument and second result):
 *   0        [batch, C]         the token shift's carried token (the last token's LN output)
 *   1 + j    [batch, 1, F, F]   head j's matrix state, key-major as dvk_dplr's: S = Mᵀ, the
 *                               transpose of the package's M (state[1 + j] there, [batch, F, F])
 * Created (and reset) to the learned initial states, as the package starts a sequence with
 * state=None: token_lerp.initial and each head's `initial`, for every sequence.
 * dvk_memodo_state_tensor returns them (owned by the state: never destroy them; NULL for an
 * index past L); read or write them between runs (dvk_tensor_download / dvk_tensor_upload).
 */
DVK_MODELS_API dvk_status dvk_memodo_state_create(const dvk_memodo_layer *layer, uint32_t batch,
                                                  dvk_memodo_state **out_state);
/* NULL is a no-op. The GPU must be done with work recorded for it. */
DVK_MODELS_API void dvk_memodo_state_destroy(dvk_memodo_state *state);
DVK_MODELS_API dvk_tensor *dvk_memodo_state_tensor(const dvk_memodo_state *state,
                                                   uint32_t index);
/* Sets every sequence back to the learned initial states (blocking). */
DVK_MODELS_API dvk_status dvk_memodo_state_reset(dvk_memodo_state *state);
/*
 * State files: safetensors in the package's layouts, F32 tensors state.0 [batch, C] and
 * state.1 .. state.L [batch, F, F] (M itself, not its transpose: what the package's forward
 * returns), metadata format = "deltavk-memodo-state", version = "1". Saving downloads
 * (blocking) and writes the file (a failed write removes it: DVK_ERROR_IO). Restoring a file
 * of another layer shape or batch, or with a missing, extra or wrongly shaped tensor, is an
 * error naming it and leaves the state as it was. A file without the metadata (state.J
 * tensors written by PyTorch, say) is accepted.
 */
DVK_MODELS_API dvk_status dvk_memodo_state_save(dvk_memodo_state *state, const char *path);
DVK_MODELS_API dvk_status dvk_memodo_state_restore(dvk_memodo_state *state, const char *path);
/*
 * One state tensor to or from host memory in the package's layout (blocking): index 0 is
 * [batch, C]; index 1 + j is head j's M, [batch, F, F] (transposed on the way to and from the
 * device's key-major S). `count` floats: the whole tensor, or for an upload also one
 * sequence's (C or F·F: the same for every sequence, as the package's learned initial states
 * are). Another count, or an index past L, is DVK_ERROR_INVALID_ARGUMENT. For tools that carry
 * states in their own files (`dvk layer memodo` reads and writes them as state.0 .. state.L).
 */
DVK_MODELS_API dvk_status dvk_memodo_state_download(const dvk_memodo_state *state, uint32_t index,
                                                    float *dst, size_t count);
DVK_MODELS_API dvk_status dvk_memodo_state_upload(dvk_memodo_state *state, uint32_t index,
                                                  const float *src, size_t count);

/*
 * Records the layer over x into cmd:
 *   x       [B, T, C] fp32, batch-major (B = the state's batch; the package's default
 *           time_dim=-2. With time_dim=0 its input is [T, B, C]: transpose it first).
 *   y       fp32, not overlapping x: [B, T, C], or [T, B, C] with time_major_y (the
 *           package's own output layout).
 *   state   NULL: every sequence starts from the learned initial states and nothing is kept.
 *           Otherwise they continue from it and it is updated in place when the recording
 *           runs (submit it once). Streaming a sequence in pieces (token by token: T = 1)
 *           gives what one call gives, to fp32 rounding.
 *   wiring  DVK_MEMODO_WIRING_PACKAGE (default) or _README, as above.
 *   no_residual  the package's use_residual=False: y = the gated block without x.
 *   mode, chunk_size  passed to dvk_dplr (0 = its choice: token by token on CPU devices and
 *           for T ≤ 64). Chunk mode needs finite gates, which logσ(i) is.
 * Dispatches: LayerNorm, the token shift (dvk_token_lerp: five), per head six products, a
 * logσ, dvk_dplr and O, then the gate's two products and GELU and the gated residual (plus a
 * gather for time_major_y). Scratch from cmd's arena, released before the call returns: about
 * (6 C + F_l + F_g + 7 max F_j)·4 bytes per token, plus B·F_j²·4 per head without a state and
 * dvk_dplr's own (chunk mode). On failure part of the work may be recorded: reset cmd rather
 * than submit it.
 */
typedef struct dvk_memodo_forward_desc {
    const dvk_tensor *x;
    dvk_tensor *y;
    dvk_memodo_state *state;
    dvk_memodo_wiring wiring;
    bool time_major_y;
    bool no_residual;
    dvk_mode mode;
    uint32_t chunk_size;
} dvk_memodo_forward_desc;

DVK_MODELS_API dvk_status dvk_memodo_forward(dvk_cmd *cmd, const dvk_memodo_layer *layer,
                                             const dvk_memodo_forward_desc *desc);

#ifdef __cplusplus
}
#endif

#endif /* DELTAVK_MODELS_H */
