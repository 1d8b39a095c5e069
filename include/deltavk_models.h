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
 * Models: RWKV-7 "Goose" (x070); the Infini-Transformer (infini-transformer-pytorch 0.0.2,
 * run segment by segment with its compressive memories in the session). Layers, each with its
 * own state object (no session: a layer is one part of a model whose other parts the caller
 * runs): Qwen3-Next's Gated DeltaNet (transformers' Qwen3NextGatedDeltaNet); the DeltaNet
 * seed's DeltaNet, TransformerBlock and TransformerDeltaNet (dvk_deltanet); the KDA seed's
 * KDAAttention (dvk_kda_attention); Infini-attention's CausalAttention and FeedForward
 * (dvk_infini_attention, dvk_infini_feed_forward); Memodo's layer (PyPI memodo's MemodoLayer,
 * dvk_memodo); memorax's LinearAttentionCell (dvk_linear_attention_cell).
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
 * Saving downloads the state (blocking) and writes the file (the library's own small writer)
 * safely: into a new file beside it, synced, then renamed over `path`; a failure is
 * DVK_ERROR_IO and leaves an existing file at `path` as it was. Restoring reads a file through
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
 * The DeltaNet seed (aykutcayir34/DeltaNet: DeltaNet, TransformerBlock, TransformerDeltaNet)
 * ------------------------------------------------------------------------------------------- */

/*
 * The modules of the DeltaNet seed's notebook (the version with TransformerDeltaNet), width d,
 * one head of size d, x [B, T, d]:
 *   DeltaNet (the attention):
 *     q, k, v = relu(Conv1d(d, d, 3, padding=1)(Linear(d, d)(x)))   each its own Linear and
 *                                         conv: a full (not depthwise), same-padded conv that
 *                                         sees the token before and the token after
 *     q ← q / (‖q‖₂ + 1e-6), k likewise;  β = σ(Linear(d, 1)(x))
 *     o = the delta rule (dvk_delta_rule, scale 1, S from zero):
 *         u_t = β_t (v_t − Sᵀ k_t);  S ← S + k_t u_tᵀ;  o_t = Sᵀ q_t
 *     y = Linear(d, d)(RMSNorm(o)),  RMSNorm(x) = x / (‖x‖₂/√d + 1e-8) · scale
 *   TransformerBlock(d, chunk, F), post-norm:  x ← norm1(x + DeltaNet(x));
 *     y = norm2(x + ffn.2(GLU(ffn.0(x)))),  GLU(h) = h[:F] · σ(h[F:])  (the seed calls it SwiGLU)
 *   TransformerDeltaNet(d, chunk, L):  x ← layers.i(x) + x for each of the L DeltaNet modules;
 *     y = final_rms_norm(x)
 * The seed computes the rule with its chunk_delta_rule, which is the delta rule only when T
 * equals its chunk size (it builds the UT transform over the whole sequence and solves only
 * chunk-size rows of it); deltavk computes the delta rule for every T, so the chunk size is not
 * a parameter here. At T = chunk size the two agree (within 2e-7 relative RMS:
 * tests/models/test_deltanet.c).
 * Parameters, under the modules' state_dict names (through desc.prefix for one out of a larger
 * file), read as the names say which module it is:
 *   DeltaNet          {q,k,v}_linear.weight [d,d], .bias [d]; {q,k,v}_conv.weight [d,d,3],
 *                     .bias [d]; beta_linear.weight [1,d], .bias [1]; rms_norm.scale [d];
 *                     output_linear.weight [d,d], .bias [d]
 *   TransformerBlock  deltanet.<DeltaNet's>; norm1.scale, norm2.scale [d]; ffn.0.weight [2F,d],
 *                     ffn.0.bias [2F]; ffn.2.weight [d,F], ffn.2.bias [d]
 *   TransformerDeltaNet  layers.<i>.<DeltaNet's> for i < L; final_rms_norm.scale [d]
 * A missing or wrongly shaped tensor is an error naming it (DVK_ERROR_NOT_FOUND,
 * DVK_ERROR_SHAPE_MISMATCH), as is an extra one (DVK_ERROR_FORMAT). d ≤ 256 (the rule's head
 * size; DVK_ERROR_UNSUPPORTED beyond).
 *
 * Streaming. The same-padded conv looks one token ahead, so a token's output depends on the
 * next token's input: one token ahead per DeltaNet module, L for TransformerDeltaNet
 * (dvk_deltanet_info.lookahead). deltavk offers both forms:
 *   whole sequence  no state: y[t] is the module's output for token t, T tokens in, T out,
 *                   the sequence ending at the call's last token (zero padding past it).
 *   streamed        a state: the tokens are fed in calls of any length and the outputs come
 *                   `lookahead` tokens late. The conv runs causally over the projected inputs
 *                   with their last two carried (its output for token t is then the
 *                   same-padded conv's for t − 1), the input of the token before is carried for
 *                   β and the residuals, and S is carried. The end of the sequence is a call
 *                   with flush set and no x: it runs `lookahead` steps with the zero padding
 *                   past the end and returns the last `lookahead` outputs. Every output then
 *                   equals the whole-sequence call's (to fp32 rounding: the same arithmetic).
 *                   It cannot equal the seed's own output for a sequence that has not ended:
 *                   the seed pads with a zero after the last token it has seen.
 */

typedef struct dvk_deltanet dvk_deltanet;
typedef struct dvk_deltanet_state dvk_deltanet_state;

typedef enum dvk_deltanet_kind {
    DVK_DELTANET_AUTO = 0,  /* from the names in the file */
    DVK_DELTANET_LAYER = 1, /* DeltaNet(d_model, chunk_size) */
    DVK_DELTANET_BLOCK = 2, /* TransformerBlock(d_model, chunk_size, ff_hidden_dim) */
    DVK_DELTANET_MODEL = 3, /* TransformerDeltaNet(d_model, chunk_size, num_layers) */
} dvk_deltanet_kind;

typedef struct dvk_deltanet_load_desc {
    /* Storage of the matrices (the Linear and conv weights): DVK_DTYPE_F32 (default), _F16 or
     * _BF16, converted once at load. Biases and norm scales stay fp32; activations and state
     * are fp32 always. Without fp16_storage, 16-bit requests load as fp32 (info.dtype). */
    dvk_dtype dtype;
    /* The parameters' names start with this (NULL or "" = none); tensors without it are
     * ignored. */
    const char *prefix;
    dvk_deltanet_kind kind; /* 0 = from the names */
} dvk_deltanet_load_desc;

typedef struct dvk_deltanet_info {
    dvk_deltanet_kind kind;
    uint32_t d_model;       /* d */
    uint32_t num_layers;    /* DeltaNet modules: L for TransformerDeltaNet, else 1 */
    uint32_t ff_hidden_dim; /* F (TransformerBlock; else 0) */
    uint32_t lookahead;     /* tokens the streamed outputs come late: num_layers */
    dvk_dtype dtype;        /* the matrices' storage */
} dvk_deltanet_info;

/* Loads a module from a safetensors file (read on the host, converted, uploaded; nothing of
 * the file is kept). desc may be NULL. */
DVK_MODELS_API dvk_status dvk_deltanet_load(dvk_context *context, const char *path,
                                            const dvk_deltanet_load_desc *desc,
                                            dvk_deltanet **out_layer);
/* The same from `size` bytes of safetensors in memory. Messages call it "(memory)". */
DVK_MODELS_API dvk_status dvk_deltanet_load_memory(dvk_context *context, const void *data,
                                                   size_t size,
                                                   const dvk_deltanet_load_desc *desc,
                                                   dvk_deltanet **out_layer);
/* NULL is a no-op. Its states must be destroyed first. */
DVK_MODELS_API void dvk_deltanet_destroy(dvk_deltanet *layer);
DVK_MODELS_API const dvk_deltanet_info *dvk_deltanet_layer_info(const dvk_deltanet *layer);

/*
 * The streaming state of `batch` sequences: per DeltaNet module i (0 for DeltaNet and
 * TransformerBlock), fp32 tensors, zero at creation:
 *   DVK_DELTANET_CONV_Q, _CONV_K, _CONV_V  [batch, 2, d]  the last two projected inputs of each
 *                              conv (Linear outputs, before the conv), oldest first
 *   DVK_DELTANET_X_PREV        [batch, 1, d]     the module's input at the token before
 *   DVK_DELTANET_RECURRENT     [batch, 1, d, d]  the rule's S, key-major
 * and, on the host, the number of tokens fed (dvk_deltanet_state_position; it counts the
 * recorded calls: record a call only if you submit it) and whether the stream was flushed.
 */
typedef enum dvk_deltanet_state_part {
    DVK_DELTANET_CONV_Q = 0,
    DVK_DELTANET_CONV_K = 1,
    DVK_DELTANET_CONV_V = 2,
    DVK_DELTANET_X_PREV = 3,
    DVK_DELTANET_RECURRENT = 4,
} dvk_deltanet_state_part;

DVK_MODELS_API dvk_status dvk_deltanet_state_create(const dvk_deltanet *layer, uint32_t batch,
                                                    dvk_deltanet_state **out_state);
/* NULL is a no-op. The GPU must be done with work recorded for it. */
DVK_MODELS_API void dvk_deltanet_state_destroy(dvk_deltanet_state *state);
/* NULL for a module or part out of range. */
DVK_MODELS_API dvk_tensor *dvk_deltanet_state_tensor(const dvk_deltanet_state *state,
                                                     uint32_t module,
                                                     dvk_deltanet_state_part part);
/* Tokens fed so far (flush steps not counted). */
DVK_MODELS_API uint64_t dvk_deltanet_state_position(const dvk_deltanet_state *state);
/* Zeroes every tensor and the position (blocking): new sequences. */
DVK_MODELS_API dvk_status dvk_deltanet_state_reset(dvk_deltanet_state *state);
/*
 * State files: safetensors with F32 tensors layers.<i>.conv_q, conv_k, conv_v [batch,2,d],
 * layers.<i>.x_prev [batch,1,d], layers.<i>.recurrent_state [batch,1,d,d]; metadata format =
 * "deltavk-deltanet-state", version = "1", position (decimal) and flushed ("0"/"1"). A file of
 * another shape, or with a missing, extra or wrongly shaped tensor, is an error naming it and
 * leaves the state as it was.
 */
DVK_MODELS_API dvk_status dvk_deltanet_state_save(dvk_deltanet_state *state, const char *path);
DVK_MODELS_API dvk_status dvk_deltanet_state_restore(dvk_deltanet_state *state,
                                                     const char *path);

/*
 * Records the module into cmd:
 *   state NULL   whole sequence: x [B, T, d] fp32, y [B, T, d] fp32 (not overlapping x).
 *   state set    streamed (see above), B = the state's batch:
 *                  flush false: x [B, n, d] are tokens P .. P+n−1 (P the state's position);
 *                    y [B, n, d] receives the outputs of tokens P−A .. P+n−1−A (A =
 *                    lookahead), zeros for those before token 0.
 *                  flush true: x NULL; y [B, A, d] receives the outputs of the last A tokens
 *                    (zeros for any before token 0). The stream is then ended: calls other than
 *                    a reset or restore are DVK_ERROR_INVALID_ARGUMENT.
 *                The state is updated in place when the recording runs (submit it once).
 *   mode, chunk_size  passed to dvk_delta_rule (0 = its choice).
 * Dispatches per DeltaNet module: three products and three convs (q, k, v), two L2 norms, β's
 * product and sigmoid, the rule, the RMSNorm and output product, the residual add; streamed
 * calls add the delay line and, in the first A calls and at the flush, mask multiplies (masks
 * uploaded with the recording). Scratch from cmd's arena, released before the call returns:
 * about (8d + 3F + 1)·4 bytes per token (and d·4 per token for a mask), plus the rule's own
 * (chunk mode).
 * On failure part of the work may be recorded: reset cmd rather than submit it.
 */
typedef struct dvk_deltanet_forward_desc {
    const dvk_tensor *x;
    dvk_tensor *y;
    dvk_deltanet_state *state;
    bool flush;
    dvk_mode mode;
    uint32_t chunk_size;
} dvk_deltanet_forward_desc;

DVK_MODELS_API dvk_status dvk_deltanet_forward(dvk_cmd *cmd, const dvk_deltanet *layer,
                                               const dvk_deltanet_forward_desc *desc);

/* ---------------------------------------------------------------------------------------------
 * The KDA seed: KDAAttention of mohsinm-dev/kda-attention
 * ------------------------------------------------------------------------------------------- */

/*
 * KDAAttention(d_model D, n_heads H, d_head dh = D/H, out_proj=True) as the package computes
 * it, per token, per head (no normalisation of q or k, no scale):
 *   q, k, v = w_q x, w_k x, w_v x              (Linear with bias, split into H heads of dh)
 *   α = σ(w_alpha x) ∈ (0,1)^dh per head;  β = softplus(w_beta x) ≥ 0 per head (unbounded)
 *   S ← (I − β k kᵀ) Diag(α) S + β k vᵀ;  o = Sᵀ q          (S [dh, dh], key-major)
 *   y = w_o o (Linear with bias; out_proj=False: y = o, the heads merged)
 * which is dvk_kda with g = log α (log σ, computed so; the decay e^g = α to fp32 rounding),
 * scale 1, the package's KDAState S as the initial and final state. The package's "scan"
 * mode is a call over [B, T, D]; its one-token step (and mode="recurrent") is a call over one
 * token, [B, 1, D] or [B, D], with the state carried: the same numbers (a stream of calls of
 * any lengths equals one call, to fp32 rounding).
 * Parameters, under the package's state_dict names (through desc.prefix for one out of a
 * larger file): w_q, w_k, w_v, w_alpha .weight [H·dh, D] and .bias [H·dh]; w_beta.weight
 * [H, D], .bias [H]; w_o.weight [D, H·dh], .bias [D] (both absent for out_proj=False, which
 * needs H·dh = D). H comes from w_beta, dh from w_q. A missing or wrongly shaped tensor is an
 * error naming it (DVK_ERROR_NOT_FOUND, DVK_ERROR_SHAPE_MISMATCH), as is an extra one
 * (DVK_ERROR_FORMAT). dh ≤ 256 (dvk_kda's). β is unbounded and k not normalised, so the state
 * can grow: the layer computes what the package computes, overflow included.
 */

typedef struct dvk_kda_attention dvk_kda_attention;
typedef struct dvk_kda_attention_state dvk_kda_attention_state;

typedef struct dvk_kda_attention_load_desc {
    /* Storage of the six matrices: DVK_DTYPE_F32 (default), _F16 or _BF16, converted once at
     * load. Biases stay fp32; activations and state fp32 always. Without fp16_storage, 16-bit
     * requests load as fp32 (info.dtype says what was used). */
    dvk_dtype dtype;
    /* The parameters' names start with this (NULL or "" = none); others are ignored. */
    const char *prefix;
} dvk_kda_attention_load_desc;

typedef struct dvk_kda_attention_info {
    uint32_t d_model; /* D */
    uint32_t n_heads; /* H */
    uint32_t d_head;  /* dh = d_k = d_v */
    bool out_proj;    /* w_o present (y has D columns; else H·dh) */
    dvk_dtype dtype;  /* the matrices' storage */
} dvk_kda_attention_info;

/* Loads the layer from a safetensors file (read on the host, converted, uploaded). desc may be
 * NULL. */
DVK_MODELS_API dvk_status dvk_kda_attention_load(dvk_context *context, const char *path,
                                                 const dvk_kda_attention_load_desc *desc,
                                                 dvk_kda_attention **out_layer);
/* The same from `size` bytes of safetensors in memory. Messages call it "(memory)". */
DVK_MODELS_API dvk_status dvk_kda_attention_load_memory(dvk_context *context, const void *data,
                                                        size_t size,
                                                        const dvk_kda_attention_load_desc *desc,
                                                        dvk_kda_attention **out_layer);
/* NULL is a no-op. Its states must be destroyed first. */
DVK_MODELS_API void dvk_kda_attention_destroy(dvk_kda_attention *layer);
DVK_MODELS_API const dvk_kda_attention_info *
dvk_kda_attention_layer_info(const dvk_kda_attention *layer);

/*
 * The state of `batch` sequences: S [batch, H, dh, dh] fp32, zero at creation (the package's
 * init_state; KDAState.S as it is). dvk_kda_attention_state_tensor returns it (owned by the
 * state: never destroy it); upload the package's S into it to continue from there.
 * State files: safetensors with one F32 tensor S [batch, H, dh, dh], metadata format =
 * "deltavk-kda-attention-state", version = "1". A file of another shape, or with a missing or
 * extra tensor, is an error naming it and leaves the state as it was.
 */
DVK_MODELS_API dvk_status dvk_kda_attention_state_create(const dvk_kda_attention *layer,
                                                         uint32_t batch,
                                                         dvk_kda_attention_state **out_state);
/* NULL is a no-op. The GPU must be done with work recorded for it. */
DVK_MODELS_API void dvk_kda_attention_state_destroy(dvk_kda_attention_state *state);
DVK_MODELS_API dvk_tensor *dvk_kda_attention_state_tensor(const dvk_kda_attention_state *state);
/* Zeroes S (blocking). */
DVK_MODELS_API dvk_status dvk_kda_attention_state_reset(dvk_kda_attention_state *state);
DVK_MODELS_API dvk_status dvk_kda_attention_state_save(dvk_kda_attention_state *state,
                                                       const char *path);
DVK_MODELS_API dvk_status dvk_kda_attention_state_restore(dvk_kda_attention_state *state,
                                                          const char *path);

/*
 * Records the layer into cmd:
 *   x      [B, T, D] fp32 (the package's scan), or [B, D] (one token: its step).
 *   y      [B, T, D] or [B, D] fp32 as x (H·dh columns without w_o); not overlapping x.
 *   state  NULL: S starts from zeros and nothing is kept. Otherwise S continues from it and is
 *          updated in place when the recording runs (submit it once).
 *   mode, chunk_size  passed to dvk_kda (0 = its choice: token by token on CPU devices and for
 *          T ≤ 64; chunked forms need the gate finite, which log σ of finite logits is).
 * Eight dispatches and the rule's: five products, log σ and softplus, w_o. Scratch
 * from cmd's arena, released before the call returns: (5·H·dh + H)·4 bytes per token, plus
 * dvk_kda's own (chunk mode). On failure part of the work may be recorded: reset cmd rather
 * than submit it.
 */
typedef struct dvk_kda_attention_forward_desc {
    const dvk_tensor *x;
    dvk_tensor *y;
    dvk_kda_attention_state *state;
    dvk_mode mode;
    uint32_t chunk_size;
} dvk_kda_attention_forward_desc;

DVK_MODELS_API dvk_status dvk_kda_attention_forward(dvk_cmd *cmd,
                                                    const dvk_kda_attention *layer,
                                                    const dvk_kda_attention_forward_desc *desc);

/* ---------------------------------------------------------------------------------------------
 * memorax's LinearAttentionCell (JAX/Flax)
 * ------------------------------------------------------------------------------------------- */

/*
 * LinearAttentionCell(head_dim D, num_heads H, eps) of memorax 1.0.1 (PyPI), run as memorax's
 * Memoroid runs it (Memoroid(cell).apply(params, x, mask, initial_carry)): per sequence, per
 * head, with φ(x) = elu(x) + 1 and no scale,
 *   q, k, v = x Wq, x Wk, x Wv                (DenseGeneral, no bias: [B, T, H, D])
 *   done_t ≠ 0: the carry into token t is dropped (S = 0, z = 0; the initial carry too)
 *   S_t = S_{t−1} + φ(k_t) v_tᵀ;  z_t = z_{t−1} + φ(k_t)        (S [D, D] key-major)
 *   o_t = S_tᵀ φ(q_t) / max(φ(q_t)·z_t, eps)  (eps = the cell's, 1e-6 by default)
 *   y_t = Dense(RMSNorm(o_t))                 (o_t [H·D], heads outermost; Flax's RMSNorm:
 *                                              o / sqrt(mean(o²) + 1e-6) ⊙ scale; Dense with
 *                                              bias, back to C = x's width)
 * which is dvk_linear_attn (DVK_FEATURE_ELU1, scale 1, normalize with the max clamp, done)
 * between dvk_linear and dvk_rms_norm. memorax sums the state with an associative scan (tree
 * order); this sums it token by token or by chunks: they agree to ~2e-7 relative RMS (tests).
 * A stream of calls of any lengths (one token each, or segments), the carry kept in a state
 * object, equals one call over the whole sequence, as two Memoroid calls handing the returned
 * carry to the next do.
 * Parameters, under the cell's Flax paths joined by '/' (flax.traverse_util.flatten_dict(
 * params, sep='/') of the cell's subtree; through desc.prefix for one inside a larger tree:
 * a Memoroid's own variables hold them under "params/cell/"):
 *   query/kernel, key/kernel, value/kernel  [C, H, D]
 *   RMSNorm_0/scale                         [H·D]
 *   Dense_0/kernel [H·D, C], Dense_0/bias   [C]
 * C, H and D come from query/kernel. A missing or wrongly shaped tensor is an error naming it
 * (DVK_ERROR_NOT_FOUND, DVK_ERROR_SHAPE_MISMATCH), as is an extra one (DVK_ERROR_FORMAT).
 * D ≤ 256 (dvk_linear_attn's). The cell's dtype option (computation in a 16-bit type) is not
 * modelled: activations and state are fp32, the weights' storage is desc.dtype.
 */

typedef struct dvk_linear_attention_cell dvk_linear_attention_cell;
typedef struct dvk_linear_attention_cell_state dvk_linear_attention_cell_state;

typedef struct dvk_linear_attention_cell_load_desc {
    /* Storage of the four matrices: DVK_DTYPE_F32 (default), _F16 or _BF16, converted once at
     * load. The RMSNorm scale and the Dense bias stay fp32; activations and state fp32
     * always. Without fp16_storage, 16-bit requests load as fp32 (info.dtype says what was
     * used). */
    dvk_dtype dtype;
    /* The parameters' names start with this (NULL or "" = none); others are ignored. */
    const char *prefix;
    /* The cell's `eps` attribute (the floor of the read's denominator), which the weights do
     * not hold: 0 = 1e-6, memorax's default; otherwise finite and > 0. */
    float eps;
} dvk_linear_attention_cell_load_desc;

typedef struct dvk_linear_attention_cell_info {
    uint32_t d_model;  /* C: x's and y's width (the Dense's features = x's last dimension) */
    uint32_t n_heads;  /* H: num_heads */
    uint32_t head_dim; /* D: head_dim (keys, queries and values alike) */
    float eps;         /* the denominator's floor in use */
    dvk_dtype dtype;   /* the matrices' storage */
} dvk_linear_attention_cell_info;

/* Loads the cell from a safetensors file (read on the host; the Flax kernels, [in, out],
 * transposed once for dvk_linear, converted and uploaded). desc may be NULL. */
DVK_MODELS_API dvk_status
dvk_linear_attention_cell_load(dvk_context *context, const char *path,
                               const dvk_linear_attention_cell_load_desc *desc,
                               dvk_linear_attention_cell **out_layer);
/* The same from `size` bytes of safetensors in memory. Messages call it "(memory)". */
DVK_MODELS_API dvk_status
dvk_linear_attention_cell_load_memory(dvk_context *context, const void *data, size_t size,
                                      const dvk_linear_attention_cell_load_desc *desc,
                                      dvk_linear_attention_cell **out_layer);
/* NULL is a no-op. Its states must be destroyed first. */
DVK_MODELS_API void dvk_linear_attention_cell_destroy(dvk_linear_attention_cell *layer);
DVK_MODELS_API const dvk_linear_attention_cell_info *
dvk_linear_attention_cell_layer_info(const dvk_linear_attention_cell *layer);

/*
 * The carry of `batch` sequences, zero at creation (the cell's initialize_carry):
 *   S [batch, H, D, D] fp32, key-major: S[b, h, k, v] = memorax's state[b, 0, h, v, k] (memorax
 *     keeps it value-major, from einsum('bthi,bthj->bthij', value, φ(key)); as K = V = D a
 *     forgotten transpose is not caught by shapes);
 *   z [batch, H, D] fp32: memorax's normalizer[b, 0, h, :].
 * dvk_linear_attention_cell_state_tensor / _normalizer return them (owned by the state: never
 * destroy them); upload a Memoroid carry (transposed as above) into them to continue from it,
 * or hand it to dvk_linear_attention_cell_state_set_carry, which transposes it.
 * State files: safetensors with F32 tensors S [batch, H, D, D] and z [batch, H, D] (key-major
 * as above), metadata format = "deltavk-linear-attention-cell-state", version = "1". A file of
 * another shape, or with a missing or extra tensor, is an error naming it and leaves the state
 * as it was.
 */
DVK_MODELS_API dvk_status
dvk_linear_attention_cell_state_create(const dvk_linear_attention_cell *layer, uint32_t batch,
                                       dvk_linear_attention_cell_state **out_state);
/* NULL is a no-op. The GPU must be done with work recorded for it. */
DVK_MODELS_API void dvk_linear_attention_cell_state_destroy(dvk_linear_attention_cell_state *state);
DVK_MODELS_API dvk_tensor *
dvk_linear_attention_cell_state_tensor(const dvk_linear_attention_cell_state *state);
DVK_MODELS_API dvk_tensor *
dvk_linear_attention_cell_state_normalizer(const dvk_linear_attention_cell_state *state);
/* Zeroes S and z (blocking). */
DVK_MODELS_API dvk_status
dvk_linear_attention_cell_state_reset(dvk_linear_attention_cell_state *state);
/* Blocking copies between the state and a Memoroid carry held on the host in memorax's own
 * layouts, fp32: `state` [batch, 1, H, D, D] value-major (the carry's first array) and
 * `normalizer` [batch, 1, H, D] (its second); the transpose is done here. The byte counts must
 * be those sizes (DVK_ERROR_SHAPE_MISMATCH otherwise). */
DVK_MODELS_API dvk_status
dvk_linear_attention_cell_state_set_carry(dvk_linear_attention_cell_state *state,
                                          const float *carry_state, size_t state_bytes,
                                          const float *carry_normalizer,
                                          size_t normalizer_bytes);
DVK_MODELS_API dvk_status
dvk_linear_attention_cell_state_get_carry(dvk_linear_attention_cell_state *state,
                                          float *carry_state, size_t state_bytes,
                                          float *carry_normalizer, size_t normalizer_bytes);
DVK_MODELS_API dvk_status
dvk_linear_attention_cell_state_save(dvk_linear_attention_cell_state *state, const char *path);
DVK_MODELS_API dvk_status
dvk_linear_attention_cell_state_restore(dvk_linear_attention_cell_state *state,
                                        const char *path);

/*
 * Records the cell into cmd:
 *   x      [B, T, C] fp32 (a Memoroid call over T tokens), or [B, C] (one token).
 *   done   [B, T] fp32 ([B] with a one-token x), optional (NULL = no episode starts): the
 *          Memoroid's `mask`; nonzero at token t = a new episode starts there.
 *   y      [B, T, C] or [B, C] fp32 as x; not overlapping x.
 *   state  NULL: the carry starts from zeros and nothing is kept. Otherwise it continues from
 *          S, z (the initial_carry) and they are updated in place to the carry Memoroid
 *          returns when the recording runs (submit it once).
 *   mode, chunk_size  passed to dvk_linear_attn (0 = its choice).
 * Recorded: three dvk_linear (q, k, v), dvk_linear_attn, dvk_rms_norm in place, dvk_linear
 * with bias. Scratch from cmd's arena, released before the call returns: q, k, v and the read,
 * 4·H·D fp32 per token, plus what those calls take (dvk_linear_attn's chunk states). On failure part of the work may be recorded: reset cmd
 * rather than submit it.
 */
typedef struct dvk_linear_attention_cell_forward_desc {
    const dvk_tensor *x;
    const dvk_tensor *done;
    dvk_tensor *y;
    dvk_linear_attention_cell_state *state;
    dvk_mode mode;
    uint32_t chunk_size;
} dvk_linear_attention_cell_forward_desc;

DVK_MODELS_API dvk_status
dvk_linear_attention_cell_forward(dvk_cmd *cmd, const dvk_linear_attention_cell *layer,
                                  const dvk_linear_attention_cell_forward_desc *desc);

/* ---------------------------------------------------------------------------------------------
 * Infini-attention and the Infini-Transformer (infini-transformer-pytorch 0.0.2)
 * ------------------------------------------------------------------------------------------- */

/*
 * infini-transformer-pytorch 0.0.2 (PyPI; Munkhdalai et al. 2024, "Leave No Context Behind"),
 * as its code computes it. One call is one segment, as one call of the package's forward is:
 * its rotary positions are 0..n−1, its softmax attention is causal inside it, and the
 * compressive memories come from the calls before (the package's past_memories). A long
 * sequence runs as consecutive calls, the memories carried in a state object. Width C, H heads
 * of size D, vocabulary V, FeedForward width F (the package's int(ff_mult·C·2/3)):
 *
 *   CausalAttention (dvk_infini_attention), on x [B, n, C]:
 *     h = F.normalize(x)·√C·γ                     (the package's RMSNorm, γ = norm.gamma)
 *     q, k, v = to_qkv h split as (qkv, head, D)  (bias-free)
 *     o = dvk_infini_attn(q, k, v, head_gates, memories; scale D^−½, rope, delta_rule): per
 *         head, with φ = elu + 1 of the scaled, rotated q and the rotated k,
 *           A = causal softmax attention inside the segment
 *           first segment (no memories yet):  o = A
 *           later segments:  o = σ(g_h) A + (1 − σ(g_h)) φ(q)ᵀM / max(φ(q)·z, 1e-10)
 *           delta rule (later segments):  v ← v − φ(k)ᵀM / max(φ(k)·z, 1e-10)
 *           M ← M + Σ φ(k) vᵀ,  z ← z + Σ φ(k)
 *     y = to_out o                                (bias-free)
 *   FeedForward (dvk_infini_feed_forward), on x: h = F.normalize(x)·√C·γ;  a ++ g = proj_in h;
 *     y = proj_out(a ⊙ gelu(g))  (exact GELU; both projections with bias)
 *   InfiniTransformer, on token ids [B, n]: x = token_emb[ids]; per block x ← x + attn(x),
 *     x ← x + ff(x); logits = to_logits(F.normalize(x)·√C·γ) (with bias).
 *
 * Parameters, under the package's state_dict names and shapes:
 *   the attention   norm.gamma [C]  to_qkv.weight [3HD, C]  to_out.weight [C, HD]
 *                   head_gates [H]  rotary_emb.freqs [D/2]
 *   the model       token_emb.weight [V, C]
 *                   layers.<i>.0.<the attention's names>          (i = 0 .. depth−1)
 *                   layers.<i>.1.norm.gamma [C]  layers.<i>.1.proj_in.weight [2F, C]
 *                   layers.<i>.1.proj_in.bias [2F]  layers.<i>.1.proj_out.weight [C, F]
 *                   layers.<i>.1.proj_out.bias [C]
 *                   norm.gamma [C]  to_logits.weight [V, C]  to_logits.bias [V]
 * C, H, D, V, F and the depth are read from the shapes (H from head_gates, D = rows of to_qkv
 * / 3H); whether the memory uses the delta rule is not in them (desc.delta_rule, the
 * package's use_mem_delta_rule). rotary_emb.freqs must be the package's default frequencies
 * θ^(−2i/D) (θ = 10000, or the θ they give; learned or custom ones are DVK_ERROR_UNSUPPORTED
 * naming the tensor). A missing or wrongly shaped tensor is an error naming it
 * (DVK_ERROR_NOT_FOUND, DVK_ERROR_SHAPE_MISMATCH), as is an extra one (DVK_ERROR_FORMAT; with
 * a prefix, only tensors under it count). Limits: D even, at most 256 (dvk_infini_attn's).
 */

typedef struct dvk_infini_attention dvk_infini_attention;
typedef struct dvk_infini_attention_state dvk_infini_attention_state;
typedef struct dvk_infini_transformer dvk_infini_transformer;
typedef struct dvk_infini_transformer_session dvk_infini_transformer_session;

typedef struct dvk_infini_load_desc {
    /* Storage of the matrices (to_qkv, to_out; for the model also token_emb, proj_in,
     * proj_out, to_logits): DVK_DTYPE_F32 (default), _F16 or _BF16, converted once at load
     * (round to nearest even). The gammas, gates and biases stay fp32; activations and
     * memories are fp32 always. On a device without fp16_storage, 16-bit requests load as
     * fp32 (the info's dtype says what was used). */
    dvk_dtype dtype;
    /* The parameters' names start with this (NULL or "" = none): the attention of block 1 of
     * a model's file is "layers.1.0.". Tensors without it are ignored. */
    const char *prefix;
    /* The memory update uses the delta rule (the package's use_mem_delta_rule). */
    bool delta_rule;
} dvk_infini_load_desc;

typedef struct dvk_infini_info {
    uint32_t dim;          /* C */
    uint32_t heads;        /* H */
    uint32_t dim_head;     /* D */
    uint32_t depth;        /* the model's blocks (1 for the attention alone) */
    uint32_t ff_dim;       /* F (0 for the attention alone) */
    uint32_t n_vocab;      /* V (0 for the attention alone) */
    float rope_theta;      /* θ of rotary_emb.freqs */
    bool delta_rule;
    dvk_dtype dtype;       /* the matrices' storage */
} dvk_infini_info;

/* The attention (CausalAttention) from a safetensors file, or from `size` bytes in memory
 * (copied; messages call it "(memory)"). desc may be NULL. */
DVK_MODELS_API dvk_status dvk_infini_attention_load(dvk_context *context, const char *path,
                                                    const dvk_infini_load_desc *desc,
                                                    dvk_infini_attention **out_layer);
DVK_MODELS_API dvk_status dvk_infini_attention_load_memory(dvk_context *context,
                                                           const void *data, size_t size,
                                                           const dvk_infini_load_desc *desc,
                                                           dvk_infini_attention **out_layer);
/* NULL is a no-op. Its states must be destroyed first. */
DVK_MODELS_API void dvk_infini_attention_destroy(dvk_infini_attention *layer);
DVK_MODELS_API const dvk_infini_info *
dvk_infini_attention_info(const dvk_infini_attention *layer);

/*
 * The memories of `batch` sequences (the package's past_memories), two fp32 tensors, zero at
 * creation, and the number of segments run so far:
 *   DVK_INFINI_MEMORY_KV    [batch, H, D, D]  M, key-major (the package's memories[0] as is)
 *   DVK_INFINI_MEMORY_NORM  [batch, H, D]     z (the package's memories[1])
 * With no segment run yet there are no memories: the next segment's output is the softmax
 * attention alone and it starts M and z afresh (the package's past_memories = None). The count
 * is kept on the host and advanced when a forward pass is recorded (submit every recording
 * made with the state, once, in order). Read or write the tensors between runs
 * (dvk_tensor_download / _upload); after writing memories into a fresh state, set the count
 * to 1 or more so that they are used.
 */
typedef enum dvk_infini_memory_part {
    DVK_INFINI_MEMORY_KV = 0,
    DVK_INFINI_MEMORY_NORM = 1,
} dvk_infini_memory_part;

DVK_MODELS_API dvk_status dvk_infini_attention_state_create(
    const dvk_infini_attention *layer, uint32_t batch, dvk_infini_attention_state **out_state);
/* NULL is a no-op. The GPU must be done with work recorded for it. */
DVK_MODELS_API void dvk_infini_attention_state_destroy(dvk_infini_attention_state *state);
/* NULL for a part out of range. */
DVK_MODELS_API dvk_tensor *dvk_infini_attention_state_tensor(
    const dvk_infini_attention_state *state, dvk_infini_memory_part part);
DVK_MODELS_API uint64_t dvk_infini_attention_state_segments(
    const dvk_infini_attention_state *state);
DVK_MODELS_API void dvk_infini_attention_state_set_segments(dvk_infini_attention_state *state,
                                                            uint64_t segments);
/* Zeroes the memories and the count (blocking): new sequences. */
DVK_MODELS_API dvk_status dvk_infini_attention_state_reset(dvk_infini_attention_state *state);
/*
 * State files: safetensors with F32 tensors memories.kv [batch, H, D, D] and memories.norm
 * [batch, H, D], metadata format = "deltavk-infini-attention-state", version = "1",
 * segments = the count in decimal. Saving downloads (blocking) and writes the file (beside
 * it, then renamed over it: a failed write is DVK_ERROR_IO and leaves it as it was). Restoring
 * a file of another shape or batch, or with a missing, extra or wrongly shaped tensor, is an
 * error naming it and leaves the state as it was.
 */
DVK_MODELS_API dvk_status dvk_infini_attention_state_save(dvk_infini_attention_state *state,
                                                          const char *path);
DVK_MODELS_API dvk_status dvk_infini_attention_state_restore(dvk_infini_attention_state *state,
                                                             const char *path);

/*
 * Records the attention over one segment into cmd:
 *   x      [B, n, C] fp32 (B = the state's batch); y [B, n, C] fp32, not overlapping x.
 *   state  NULL: a first segment, nothing kept. Otherwise the segment continues the state's
 *          sequences: their memories are read (from the second segment on), updated in place
 *          when the recording runs, and the count advanced.
 * Dispatches: the norm, three products (q, k, v), dvk_infini_attn, to_out. Scratch from cmd's
 * arena, released before the call returns: (C + 4HD)·4 bytes per token, plus
 * dvk_infini_attn's own. On failure part of the work may be recorded: reset cmd rather than
 * submit it.
 */
typedef struct dvk_infini_attention_forward_desc {
    const dvk_tensor *x;
    dvk_tensor *y;
    dvk_infini_attention_state *state;
} dvk_infini_attention_forward_desc;

DVK_MODELS_API dvk_status dvk_infini_attention_forward(
    dvk_cmd *cmd, const dvk_infini_attention *layer,
    const dvk_infini_attention_forward_desc *desc);

/* Runs x, host fp32 [B, n_tokens, C] row-major (B the state's batch), in segments of `segment`
 * tokens (0 = all in one segment; the last may be shorter), each a forward pass continuing the
 * state, submitted and waited for; writes y [B, n_tokens, C] (host). */
DVK_MODELS_API dvk_status dvk_infini_attention_eval(dvk_infini_attention_state *state,
                                                    const float *x, uint32_t n_tokens,
                                                    uint32_t segment, float *y);

/*
 * The FeedForward on its own (stateless): norm.gamma [C], proj_in.weight [2F, C],
 * proj_in.bias [2F], proj_out.weight [C, F], proj_out.bias [C] (a model's block i through the
 * prefix "layers.<i>.1."). Its info has dim, ff_dim and dtype set, the rest 0. forward: x, y fp32
 * [..., C] of the same shape, not overlapping; y = the FeedForward's output (the block adds
 * the residual); with accumulate, y += it (y may then be the residual stream, x another
 * tensor). Scratch: (C + 3F)·4 bytes per token.
 */
typedef struct dvk_infini_feed_forward dvk_infini_feed_forward;

DVK_MODELS_API dvk_status dvk_infini_feed_forward_load(dvk_context *context, const char *path,
                                                       const dvk_infini_load_desc *desc,
                                                       dvk_infini_feed_forward **out_layer);
DVK_MODELS_API void dvk_infini_feed_forward_destroy(dvk_infini_feed_forward *layer);
DVK_MODELS_API const dvk_infini_info *
dvk_infini_feed_forward_info(const dvk_infini_feed_forward *layer);

typedef struct dvk_infini_feed_forward_desc {
    const dvk_tensor *x;
    dvk_tensor *y;
    bool accumulate;
} dvk_infini_feed_forward_desc;

DVK_MODELS_API dvk_status dvk_infini_feed_forward_forward(
    dvk_cmd *cmd, const dvk_infini_feed_forward *layer, const dvk_infini_feed_forward_desc *desc);

/* The model (InfiniTransformer) from a safetensors file or bytes in memory. desc may be NULL;
 * desc.prefix applies to every name (e.g. "model."). */
DVK_MODELS_API dvk_status dvk_infini_transformer_load(dvk_context *context, const char *path,
                                                      const dvk_infini_load_desc *desc,
                                                      dvk_infini_transformer **out_model);
DVK_MODELS_API dvk_status dvk_infini_transformer_load_memory(dvk_context *context,
                                                             const void *data, size_t size,
                                                             const dvk_infini_load_desc *desc,
                                                             dvk_infini_transformer **out_model);
/* NULL is a no-op. Its sessions must be destroyed first. */
DVK_MODELS_API void dvk_infini_transformer_destroy(dvk_infini_transformer *model);
DVK_MODELS_API const dvk_infini_info *
dvk_infini_transformer_info(const dvk_infini_transformer *model);

/*
 * Sessions: `batch` sequences and the memories of every block (the package's list of
 * past_memories), as the attention's state: per block DVK_INFINI_MEMORY_KV [batch, H, D, D]
 * and DVK_INFINI_MEMORY_NORM [batch, H, D], and one count of segments run. State files:
 * memories.<i>.kv and memories.<i>.norm for every block i, metadata format =
 * "deltavk-infini-transformer-state", version = "1", segments; saving and restoring as the
 * attention's.
 */
DVK_MODELS_API dvk_status dvk_infini_transformer_session_create(
    const dvk_infini_transformer *model, uint32_t batch,
    dvk_infini_transformer_session **out_session);
DVK_MODELS_API void dvk_infini_transformer_session_destroy(
    dvk_infini_transformer_session *session);
/* A block's memory tensor (NULL for a block or part out of range). */
DVK_MODELS_API dvk_tensor *dvk_infini_transformer_session_state(
    const dvk_infini_transformer_session *session, uint32_t layer, dvk_infini_memory_part part);
DVK_MODELS_API uint64_t dvk_infini_transformer_session_segments(
    const dvk_infini_transformer_session *session);
DVK_MODELS_API void dvk_infini_transformer_session_set_segments(
    dvk_infini_transformer_session *session, uint64_t segments);
DVK_MODELS_API dvk_status dvk_infini_transformer_session_reset(
    dvk_infini_transformer_session *session);
DVK_MODELS_API dvk_status dvk_infini_transformer_session_save(
    dvk_infini_transformer_session *session, const char *path);
DVK_MODELS_API dvk_status dvk_infini_transformer_session_restore(
    dvk_infini_transformer_session *session, const char *path);

/*
 * Records the model over one segment of n tokens per sequence into cmd, continuing the
 * session (its memories read from the second segment on, updated in place when the
 * recording runs; the count advanced):
 *   tokens        host ids, [B, n] row-major (copied into the recording), each in [0, V)
 *                 (else DVK_ERROR_INVALID_ARGUMENT naming the position); or
 *   token_tensor  int32 ids on the device, [B, n]: not checked (an id out of range reads an
 *                 embedding of zeros). Exactly one of the two.
 *   n_tokens      n (≥ 1).
 *   logits        [B, n, V] fp32, or NULL (memories only).
 * Scratch from cmd's arena, released before the call returns: about (3C + 4HD + 3F)·4 bytes
 * per token, plus dvk_infini_attn's own.
 */
typedef struct dvk_infini_transformer_forward_desc {
    const int32_t *tokens;
    const dvk_tensor *token_tensor;
    uint32_t n_tokens;
    dvk_tensor *logits;
} dvk_infini_transformer_forward_desc;

DVK_MODELS_API dvk_status dvk_infini_transformer_forward(
    dvk_cmd *cmd, dvk_infini_transformer_session *session,
    const dvk_infini_transformer_forward_desc *desc);

/* Runs n_tokens host tokens per sequence (tokens [B, n_tokens] row-major) in segments of
 * `segment` tokens (0 = all in one segment; the last may be shorter), each a forward pass
 * submitted and waited for, and downloads the logits: logits_count = B·n_tokens·V for every
 * position's ([B, n_tokens, V] row-major), 0 with logits NULL for none. Anything else is
 * DVK_ERROR_INVALID_ARGUMENT. */
DVK_MODELS_API dvk_status dvk_infini_transformer_eval(dvk_infini_transformer_session *session,
                                                      const int32_t *tokens, uint32_t n_tokens,
                                                      uint32_t segment, float *logits,
                                                      size_t logits_count);

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
