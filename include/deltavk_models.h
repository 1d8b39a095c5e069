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
 * Models: RWKV-7 "Goose" (x070).
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

#if defined(DVK_SHARED) && defined(DVK_BUILDING)
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

#ifdef __cplusplus
}
#endif

#endif /* DELTAVK_MODELS_H */
