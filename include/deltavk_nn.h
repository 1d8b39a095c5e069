/*
 * deltavk_nn.h — the building blocks of networks, on any Vulkan GPU (level 2 of deltavk).
 *
 * OVERVIEW
 * ========
 * deltavk has three levels, each built only on the public API of the one below, the way
 * sokol's utility headers sit on sokol_gfx:
 *   deltavk.h          the core (context, tensors, recording) and the sequence mixers (ops);
 *   deltavk_nn.h       this file: matrix multiply, norms, activations, token shift, causal
 *                      convolution, embedding, softmax and sampling (library deltavk_nn);
 *   deltavk_models.h   architectures, weights and sessions with state (library
 *                      deltavk_models).
 * Every function here records one kernel (or a few) into a dvk_cmd, as an operator does, with
 * the barriers it needs; nothing runs until the recording is submitted. Their kernels are
 * dvk_kernel objects of deltavk.h and their temporaries come from the dvk_cmd's scratch arena,
 * so deltavk_nn does nothing a caller could not do with deltavk.h alone.
 *
 * Names follow PyTorch's functional API (torch.nn.functional): dvk_linear is F.linear,
 * dvk_layer_norm F.layer_norm, and the dvk tool runs each under that name
 * (`dvk run linear --in IN.safetensors --out OUT.safetensors`).
 *
 * CONVENTIONS
 * ===========
 *   rows      Functions that act along the last dimension (norms, softmax, linear) see a tensor
 *             as [rows, C]: C is its last dimension and rows the product of the others.
 *   dtypes    Activations and weights may each be fp32, fp16 or bf16 (DVK_DTYPE_F32, _F16,
 *             _BF16), independently, unless a function says otherwise; arithmetic is fp32.
 *             Any 16-bit tensor needs dvk_device_info.fp16_storage (16-bit storage; bf16 is
 *             read through it and widened by a shift). Outputs are rounded to their dtype once
 *             (bf16: to nearest even). Token ids and sampled tokens are int32.
 *   broadcast Where a function says "broadcast", an input may have the shape of the output's
 *             trailing dimensions ([C] against [B,T,C], [T,C] against [B,T,C]) or the output's
 *             whole shape: element i of the output reads element i mod numel of that input.
 *   aliasing  An output may be the same tensor as an input only where a function says so
 *             (elementwise functions: y may be an input, in place). Otherwise outputs and
 *             inputs must not overlap: the kernels read and write in parallel.
 *   errors    As in deltavk.h: every function returns a dvk_status and dvk_last_error() says
 *             which tensor was wrong and how ("weight: shape [64,32], expected [64,48]").
 *   defaults  Zero means "default" in every desc field, as in deltavk.h.
 *
 * C references of every function are in deltavk_nn_reference.h (library
 * deltavk_nn_reference, no Vulkan).
 */
#ifndef DELTAVK_NN_H
#define DELTAVK_NN_H

#include "deltavk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* DVK_NN_API marks the functions libdeltavk_nn exports. The library is compiled with
 * DVK_NN_BUILDING and hidden visibility (-fvisibility=hidden), so nothing else leaves the shared
 * library. On Windows a program using the DLL defines DVK_SHARED (the CMake package and the shared
 * targets do) to import them. */
#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(DVK_SHARED) && defined(DVK_NN_BUILDING)
#define DVK_NN_API __declspec(dllexport)
#elif defined(DVK_SHARED)
#define DVK_NN_API __declspec(dllimport)
#else
#define DVK_NN_API
#endif
#elif defined(DVK_NN_BUILDING) && (defined(__GNUC__) || defined(__clang__))
#define DVK_NN_API __attribute__((visibility("default")))
#else
#define DVK_NN_API
#endif

/* ---------------------------------------------------------------------------------------------
 * Activations
 * ------------------------------------------------------------------------------------------- */

typedef enum dvk_act {
    DVK_ACT_DEFAULT = 0,       /* the function's default, written beside it */
    DVK_ACT_IDENTITY = 1,      /* x */
    DVK_ACT_GELU = 2,          /* x·Φ(x) = x/2·(1 + erf(x/√2)): PyTorch's F.gelu default */
    DVK_ACT_GELU_TANH = 3,     /* x/2·(1 + tanh(√(2/π)(x + 0.044715x³))): approximate='tanh' */
    DVK_ACT_SILU = 4,          /* x·σ(x) */
    DVK_ACT_RELU = 5,          /* max(x, 0) */
    DVK_ACT_RELU_SQUARED = 6,  /* max(x, 0)² (RWKV's channel mix) */
    DVK_ACT_SIGMOID = 7,       /* σ(x) = 1/(1 + e^−x) */
    DVK_ACT_TANH = 8,
    DVK_ACT_SOFTPLUS = 9,      /* log(1 + e^x), and x for x > 20 (PyTorch's threshold) */
    DVK_ACT_ELU1 = 10,         /* elu(x) + 1: x + 1 for x > 0, e^x otherwise (linear attention) */
    DVK_ACT_LOGSIGMOID = 11,   /* log σ(x) = −softplus(−x) (gates in log space) */
    DVK_ACT_EXP = 12,          /* e^x */
    DVK_ACT_COUNT_
} dvk_act;

/* "gelu", "silu", ...; "invalid" for a value out of range. */
DVK_NN_API const char *dvk_act_name(dvk_act act);

/* y = act(x), elementwise. x and y have the same number of elements (any shapes), y may be x.
 * act must be set (DVK_ACT_DEFAULT is DVK_ERROR_INVALID_ARGUMENT). */
typedef struct dvk_activation_desc {
    const dvk_tensor *x;
    dvk_tensor *y;
    dvk_act act;
} dvk_activation_desc;

DVK_NN_API dvk_status dvk_activation(dvk_cmd *cmd, const dvk_activation_desc *desc);

/* ---------------------------------------------------------------------------------------------
 * Elementwise arithmetic
 *
 * Every tensor fp32, fp16 or bf16, each its own; arithmetic in fp32, y rounded once. y may be
 * any of the inputs (the same tensor: in place); an output that overlaps an input without
 * being it is DVK_ERROR_INVALID_ARGUMENT. At most 2^32 − 1 elements (else
 * DVK_ERROR_LIMIT_EXCEEDED). One kernel, one element per invocation.
 * ------------------------------------------------------------------------------------------- */

/* y = a + b.  a and y the same shape; b broadcast. */
typedef struct dvk_binary_desc {
    const dvk_tensor *a;
    const dvk_tensor *b;
    dvk_tensor *y;
} dvk_binary_desc;

DVK_NN_API dvk_status dvk_add(dvk_cmd *cmd, const dvk_binary_desc *desc);
/* y = a ⊙ b.  a and y the same shape; b broadcast. */
DVK_NN_API dvk_status dvk_mul(dvk_cmd *cmd, const dvk_binary_desc *desc);

/* y = a + (b − a) ⊙ weight (torch.lerp). a, b and y the same shape; weight broadcast. In
 * PyTorch's form: a + w(b − a) where |w| < 0.5, b − (b − a)(1 − w) elsewhere, so weights 0 and
 * 1 give a and b exactly. */
typedef struct dvk_lerp_desc {
    const dvk_tensor *a;
    const dvk_tensor *b;
    const dvk_tensor *weight;
    dvk_tensor *y;
} dvk_lerp_desc;

DVK_NN_API dvk_status dvk_lerp(dvk_cmd *cmd, const dvk_lerp_desc *desc);

/* Gated residual: y = residual + x ⊙ act(gate) (act default: sigmoid), the output gate of
 * Memodo's layer, of RWKV-7's time mix (with identity, the gate already formed) and of gated
 * attention. residual, x and y the same shape; gate broadcast. */
typedef struct dvk_gated_residual_desc {
    const dvk_tensor *residual;
    const dvk_tensor *x;
    const dvk_tensor *gate;
    dvk_tensor *y;
    dvk_act act;
} dvk_gated_residual_desc;

DVK_NN_API dvk_status dvk_gated_residual(dvk_cmd *cmd, const dvk_gated_residual_desc *desc);

/*
 * Gated linear units: y = value ⊙ act(gate).
 *   gate NULL:  x is [..., 2N] and is split in halves along its last dimension: value is the
 *               first half and gate the second (F.glu, GEGLU's `x, gates = x.chunk(2)`), or
 *               the other way round with gate_first (fused gate_up projections: SwiGLU).
 *   gate set:   x is the value [..., N] and gate is [..., N] (separate projections);
 *               gate_first must be false.
 * y is [..., N] (x's leading dimensions). act default: sigmoid (F.glu); DVK_ACT_GELU gives
 * GEGLU, DVK_ACT_SILU SwiGLU. Dtypes each their own, as above. y must not overlap x or gate
 * (DVK_ERROR_INVALID_ARGUMENT).
 */
typedef struct dvk_glu_desc {
    const dvk_tensor *x;
    const dvk_tensor *gate;
    dvk_tensor *y;
    dvk_act act;
    bool gate_first;
} dvk_glu_desc;

DVK_NN_API dvk_status dvk_glu(dvk_cmd *cmd, const dvk_glu_desc *desc);

/* ---------------------------------------------------------------------------------------------
 * Matrix multiply
 * ------------------------------------------------------------------------------------------- */

/*
 * Linear layer (F.linear): y = x Wᵀ + b, the products summed in fp32.
 *   x       [..., K]: M = numel / K rows (a 1-D x is one row).
 *   weight  [N, K] (PyTorch's Linear layout: out_features × in_features), or [G, N, K] for a
 *           batched product: x is then [G, ..., K] and each of the G matrices multiplies its
 *           own M = numel / (G·K) rows of x (torch.bmm(x, weight.transpose(1, 2))).
 *   bias    [N], optional; with a batched weight also [G, N] (a bias per matrix).
 *   y       x's shape with N last: [..., N].
 *   accumulate  y += x Wᵀ + b instead of y = x Wᵀ + b (a residual add in the same pass; the
 *           sum is rounded to y's dtype once).
 * Dtypes: x and y fp32, fp16 or bf16, the same; weight and bias fp32, fp16 or bf16, each its
 * own. A LoRA-style low-rank projection x ↦ (x Aᵀ) Bᵀ is two calls.
 * y must not share memory with x, the weight or the bias (DVK_ERROR_INVALID_ARGUMENT).
 * Limits: x, the weight and y hold at most 2^32 − 1 elements each, and G is at most the
 * device's maxComputeWorkGroupCount[2] (65535 on most GPUs); DVK_ERROR_LIMIT_EXCEEDED beyond.
 * Paths, chosen per call (each sums in fp32; they differ only in rounding):
 *   CPU           on a CPU device (dvk_device_info.type DVK_DEVICE_TYPE_CPU: Mesa's lavapipe)
 *                 with subgroups of one fixed size and subgroup_shuffle — so not under the
 *                 small-device profile, which plans for a mobile GPU and takes the paths
 *                 below — every M runs on kernels laid out for how llvmpipe compiles a compute
 *                 shader (a workgroup on one thread, its invocations the lanes of SIMD
 *                 vectors, every load whose address differs between lanes a loop over them):
 *                 no shared memory, no barrier, 16-byte loads of weight rows (4 fp32 or 8
 *                 16-bit elements per lane and trip; narrower where K is not a multiple). For
 *                 M ≤ 2 (cpu_gemv) the lanes of a subgroup read 8 weight rows along K with x's
 *                 matching columns and sum their partial products by subgroup shuffles at the
 *                 end; beyond (cpu_gemm) each lane owns 4 output columns for 16 rows of x (or
 *                 the next power of two ≥ M) in 64 register accumulators, and x's entries,
 *                 loaded once per subgroup, reach every lane by subgroup shuffles. Several
 *                 subgroups per workgroup while 16 or more workgroups remain.
 *   decode        M ≤ 16 rows per matrix (decode steps, small batches; M ≤ 4 where the
 *                 tensor-core path below is available): the weight is read
 *                 once, 16 bytes per load when K is a multiple of 8 (16-bit weights) or 4
 *                 (fp32), narrower loads otherwise (one element when K is odd), each step's
 *                 loads issued before the previous step's products, each weight element
 *                 reused for the M rows of x from registers; x's rows pass through shared
 *                 memory as fp32 (for 2 ≤ M ≤ 4 on GPUs with long rows: read from memory where
 *                 used, through the cache), each value reused for several weight rows. On
 *                 GPUs K is cut into S slices so that x's slice fits in 32 KiB and the weight
 *                 is streamed by at least 256 workgroups (elsewhere x passes in chunks through
 *                 two buffers when its M·K·4 bytes exceed 32 KiB or the device's shared
 *                 memory, and K is cut when the rows give too few workgroups): the slices'
 *                 fp32 partial sums go to scratch memory (dvk_cmd_scratch_tensor, S·G·M·N
 *                 floats, held by the dvk_cmd) and a second dispatch adds them in slice
 *                 order, with the bias and y.
 *   tensor cores  M > 16 (and 4 < M ≤ 16 as decode: 16-row tiles, K cut into slices until
 *                 about 256 workgroups stream the weight, their fp32 partial sums in scratch
 *                 memory added as the decode path's are), x and the weight 16-bit, K and N
 *                 multiples of 16, on a context with a cooperative-matrix path
 *                 (dvk_device_info.cooperative_matrix_path NV or KHR: fp16 blocks, fp16
 *                 arithmetic, subgroups of 32), workgroups of 256
 *                 invocations and 30–40 KiB of shared memory (the configurations below need 128
 *                 to 512 and up to 42 KiB): fp16 products, fp32 sums (as the
 *                 hardware accumulates). bf16 operands are converted to fp16 on the way: exact
 *                 for magnitudes in [6.1e-5, 65504]; smaller ones lose bits (fp16 subnormals,
 *                 zero below 6e-8) and larger ones overflow to inf (the other paths have no such
 *                 limit).
 *   FMA tiles     everything else: fp32 products and sums, tiles of 128 × 128 (64 where M or N
 *                 is smaller, or the device's workgroups are) with 8 × 8 per invocation.
 * Accuracy (tests, against a double-precision product): fp32 below 1e-6 relative RMS error at
 * K ≤ 4096; 16-bit outputs are dominated by their final rounding (fp16 ~3e-4, bf16 ~2e-3).
 * Tuning switches for developers, read at every call: DVK_LINEAR_CONFIG = auto | fma | 0..10
 * forces the FMA tiles or one tensor-core tile configuration (0: 128×128 tiles, BK 32, warp
 * tiles 64×32, loads one K step ahead — the default where there are 128 to 255 such tiles;
 * 1: as 0 with loads two steps ahead; 2: 128×256, BK 16, warp tiles 64×64, two steps ahead;
 * 3: 64×128, BK 32, warp tiles 32×32 — the default for smaller products; 4: the decode
 * configuration, 16×128, BK 64, warp tiles 16×16, two steps ahead, K in slices — the default
 * for 4 < M ≤ 16, and forced for any M; 5: 128×256, BK 32, warp tiles 64×64, one shared
 * buffer (two barriers per step), loads one step ahead; 6: 128×128, BK 64, warp tiles 64×32,
 * one buffer; 7: 128×128, BK 32, 4 subgroups of 64×64, one step ahead; 8: decode-shaped as 4
 * with BK 128 through one buffer; 9: 128×256, BK 32, 16 subgroups of 64×32, one buffer — the default where there are
 * at least 256 tiles of 128×128;
 * 10: decode-shaped, 16×64, BK 256, 4 subgroups, one buffer; the decode-shaped ones (4, 8,
 * 10) serve M ≤ 16 only, the others M ≤ 16 only with DVK_LINEAR_DECODE=off, and "fma" M > 16);
 * a configuration the device cannot run is DVK_ERROR_UNSUPPORTED. DVK_LINEAR_DECODE = auto |
 * off | RPT,SPLITS[,LANES[,WG[,UNROLL[,XDIRECT]]]] turns the decode path off (M ≤ 16 then
 * runs on tiles) or forces its weight rows per invocation (1, 2, 4 or 8), K slices,
 * invocations along K (1 to WG), invocations per workgroup (32 to 1024) and weight vectors per
 * row and step (1 to 16; powers of two but SPLITS; 0 keeps the automatic choice), and with
 * XDIRECT = 1 reads x from memory where it is used instead of staging it in shared memory
 * (where K % 4 == 0 and the weight's loads hold 4+ elements). DVK_LINEAR_DIAG = bits
 * (diagnostics, for timing only: the results are wrong) leaves parts of the tensor-core
 * kernel's work out: 1 its K loop's global loads, 2 its shared-memory stores, 4 its operand
 * reads (done once, before the loop), 8 its operand reads and products, 16 its epilogue, 32
 * its barriers. DVK_LINEAR_CPU = auto | off | KIND,TM,CPL[,SG] turns the CPU path off (the
 * paths below then run on CPU devices too) or forces its kernel (gemv or gemm), rows of x per
 * workgroup (1 to 16), weight rows per lane (gemm, 1 to 8) or per subgroup (gemv, up to the
 * subgroup size) and subgroups per workgroup (1 to 16, 0 = automatic), powers of two; a
 * DVK_LINEAR_CONFIG, or a DVK_LINEAR_DECODE other than auto for M ≤ 16, also leaves it.
 * For tests, DVK_LINEAR_CM_EMULATE =
 * BM,BN,BK,WM,WN,STAGES[,SPLITS] runs the tensor-core tiling with that geometry (STAGES 1, 2
 * or 3; K in SPLITS slices, 0 = automatic) and its matrix operations done by plain code
 * (slowly), for any M, on any device with 16-bit storage.
 */
typedef struct dvk_linear_desc {
    const dvk_tensor *x;
    const dvk_tensor *weight;
    const dvk_tensor *bias;
    dvk_tensor *y;
    bool accumulate;
} dvk_linear_desc;

DVK_NN_API dvk_status dvk_linear(dvk_cmd *cmd, const dvk_linear_desc *desc);

/* ---------------------------------------------------------------------------------------------
 * Normalisation (along the last dimension, C)
 * ------------------------------------------------------------------------------------------- */

/*
 * What the four norms share:
 *   x, y     [..., C], the same shape; y may be x (in place; a y overlapping x, or any
 *            other input, without being it is DVK_ERROR_INVALID_ARGUMENT). Each row of C is
 *            normalised on its own (GroupNorm: each group of a row).
 *   weight, bias  per channel: C elements with C last ([C], [1, C]); optional.
 *   dtypes   x, y, weight, bias and gate each fp32, fp16 or bf16; arithmetic in fp32, y
 *            rounded once.
 *   eps      0 = the function's default; otherwise a finite, normal float > 0 (≥ FLT_MIN: an
 *            eps of exactly 0 cannot be asked for, pass a tiny one). A row of zeros gives zeros
 *            (LayerNorm: the bias).
 *   numerics Sums in fp32, two passes: the mean is taken of x − x[row start] (x's first
 *            element of the row or group) and the variance of the deviations from it, so rows
 *            far from zero keep their precision (mean 1e3, standard deviation 1e-2: relative
 *            error ~1e-7 against a double reference; E[x²] − E[x]² would lose it all). RMS
 *            and L2 sum x² in fp32: rows of magnitudes beyond ~1e19 (bf16 can hold them)
 *            overflow it and give zeros.
 *   limits   x at most 2^32 − 1 elements (else DVK_ERROR_LIMIT_EXCEEDED); any C from 1.
 *   work     one kernel: short rows share a workgroup (C = 64: 16 rows per 256 invocations),
 *            a longer row gets a workgroup of up to 1024 invocations holding it in registers
 *            (C ≤ 16384; 2048 with 128 invocations per workgroup), and longer rows still are
 *            read from memory once per pass (two for RMS and L2, three for LayerNorm). Each
 *            row is one workgroup's work, so a few very long rows use few of a GPU's cores.
 *            Reductions use subgroup shuffles where dvk_device_info.subgroup_shuffle, shared
 *            memory otherwise.
 */

/* How eps enters a norm n (the RMS or the L2 norm of a row): y = x · f(n). */
typedef enum dvk_norm_eps {
    DVK_NORM_EPS_INSIDE = 0, /* f = 1/sqrt(n² + eps): torch RMSNorm, Flax RMSNorm, fla l2norm */
    DVK_NORM_EPS_CLAMP = 1,  /* f = 1/max(n, eps): F.normalize */
    DVK_NORM_EPS_ADD = 2,    /* f = 1/(n + eps): the DeltaNet seed's norms */
} dvk_norm_eps;

/* LayerNorm (F.layer_norm over the last dimension): y = (x − mean) / sqrt(var + eps) ⊙ weight
 * + bias, var the biased variance (divided by C). weight and bias [C], each optional (1 and 0).
 * eps 0 = 1e-5. y may be x. */
typedef struct dvk_layer_norm_desc {
    const dvk_tensor *x;
    const dvk_tensor *weight;
    const dvk_tensor *bias;
    dvk_tensor *y;
    float eps;
} dvk_layer_norm_desc;

DVK_NN_API dvk_status dvk_layer_norm(dvk_cmd *cmd, const dvk_layer_norm_desc *desc);

/*
 * RMSNorm: y = x · f(rms) ⊙ (weight_offset + weight) [⊙ silu(gate)], rms = sqrt(mean(x²)).
 *   weight       [C], optional (1).
 *   eps, eps_mode  eps 0 = 1e-6; eps_mode: dvk_norm_eps (default INSIDE).
 *   weight_offset  added to the weight (Qwen3-Next's norms use 1 + weight); 0 = none. Needs a
 *                weight (DVK_ERROR_INVALID_ARGUMENT without one).
 *   gate         the shape of x, optional: the normalised, weighted x is multiplied by
 *                silu(gate) — norm first, then the gate (Qwen3-Next's gated output norm,
 *                transformers' Qwen3NextRMSNormGated, fla's FusedRMSNormGated). All in fp32, as
 *                fla's kernel; transformers' module rounds the normalised x to x's dtype before
 *                the weight, one rounding this does not make.
 * The seeds' variants: torch/Flax RMSNorm = INSIDE (Flax eps 1e-6); F.normalize(x)·√C·γ =
 * CLAMP with eps = 1e-12/√C; the DeltaNet seed's x/(‖x‖/√C + 1e-8)·w = ADD with eps 1e-8.
 * y may be x or gate.
 */
typedef struct dvk_rms_norm_desc {
    const dvk_tensor *x;
    const dvk_tensor *weight;
    const dvk_tensor *gate;
    dvk_tensor *y;
    float eps;
    dvk_norm_eps eps_mode;
    float weight_offset;
} dvk_rms_norm_desc;

DVK_NN_API dvk_status dvk_rms_norm(dvk_cmd *cmd, const dvk_rms_norm_desc *desc);

/* L2 normalisation: y = x · f(‖x‖₂). eps 0 = 1e-6; with the default eps_mode (INSIDE) this is
 * fla's l2norm, x / sqrt(Σx² + 1e-6). F.normalize is CLAMP with eps 1e-12; the DeltaNet seed's
 * x/(‖x‖ + 1e-6) is ADD with eps 1e-6. y may be x. */
typedef struct dvk_l2_norm_desc {
    const dvk_tensor *x;
    dvk_tensor *y;
    float eps;
    dvk_norm_eps eps_mode;
} dvk_l2_norm_desc;

DVK_NN_API dvk_status dvk_l2_norm(dvk_cmd *cmd, const dvk_l2_norm_desc *desc);

/* GroupNorm over the last dimension: each row's C channels form `groups` groups of C/groups
 * consecutive channels, each normalised as LayerNorm would, then y = ⊙ weight + bias per
 * channel ([C] each, optional). This is nn.GroupNorm(groups, C) applied to [rows, C] (RWKV-7's
 * ln_x: groups = heads, eps 64e-5). groups must divide C (0 = 1; otherwise
 * DVK_ERROR_INVALID_ARGUMENT). eps 0 = 1e-5. y may be x. */
typedef struct dvk_group_norm_desc {
    const dvk_tensor *x;
    const dvk_tensor *weight;
    const dvk_tensor *bias;
    dvk_tensor *y;
    uint32_t groups;
    float eps;
} dvk_group_norm_desc;

DVK_NN_API dvk_status dvk_group_norm(dvk_cmd *cmd, const dvk_group_norm_desc *desc);

/* ---------------------------------------------------------------------------------------------
 * Token shift (RWKV's time shift; Memodo's TokenLerp)
 * ------------------------------------------------------------------------------------------- */

/*
 * Token shift: with x_prev[t] = x[t−1] and x_prev[0] = the carried token,
 *     delta[t] = x_prev[t] − x[t]                      (RWKV's "xx")
 *     y_m[t]   = x[t] + delta[t] ⊙ mix_m              (one output per row m of mix)
 *   x        [B, T, C].
 *   mix      [C] or [M, C] (RWKV-7's six μ stacked as [6, C]): all M outputs in one pass.
 *            NULL = no y.
 *   y        [B, T, C] for a [C] mix, [M, B, T, C] for [M, C] (also [B, T, C] when M = 1).
 *   delta    [B, T, C], optional.
 *   initial  [B, C], the token before x[:, 0] (the carried state), or [C] for every batch row
 *            (Memodo's learned initial token); NULL = zeros.
 *   final    [B, C], receives x[:, T−1] (a copy, rounded to final's dtype) for the next call;
 *            may be the same tensor as initial: the state carried in place (race-free: the
 *            invocation that reads a state element is the one that then writes it).
 *            NULL = not stored.
 * At least one of y and delta; mix and y come together. Each tensor fp32, fp16 or bf16, its own
 * dtype; y is x + delta·mix in fp32, rounded once. y and delta must not overlap the inputs or
 * the state. Streaming token by token (T = 1 per call, initial = final) gives, bit for bit,
 * what one call over the whole sequence gives. M·B·T·C above 2^32 − 1 is
 * DVK_ERROR_LIMIT_EXCEEDED.
 */
typedef struct dvk_token_shift_desc {
    const dvk_tensor *x;
    const dvk_tensor *mix;
    const dvk_tensor *initial;
    dvk_tensor *y;
    dvk_tensor *delta;
    dvk_tensor *final;
} dvk_token_shift_desc;

DVK_NN_API dvk_status dvk_token_shift(dvk_cmd *cmd, const dvk_token_shift_desc *desc);

/*
 * Memodo's data-dependent token shift, TokenLerp (PyPI memodo 1.0.0; DESIGN.md §2):
 *     xf[t] = x[t−1] (xf[0] = initial);  pm = x + (xf − x) ⊙ premix
 *     y = x + (xf − x) ⊙ σ(W2 gelu(W1 pm + b1) + b2)
 *   x [B, T, C]; premix [C]; w1 [F, C], b1 [F]; w2 [C, F], b2 [C] (biases optional; PyTorch's
 *   Linear layout); initial / final as dvk_token_shift (Memodo's learned initial token is
 *   passed as initial [C], shared by every batch row; final may be initial: carried in
 *   place); y [B, T, C], which must not overlap the inputs or the state.
 * A layer helper: one dvk_token_shift, two dvk_linear, a GELU and a dvk_gated_residual, with
 * pm, xf − x and the hidden activations as fp32 temporaries in the dvk_cmd's scratch arena
 * (released for reuse when it returns). Streamed token by token with the state carried, it
 * gives what one call over the sequence gives. Dtypes as those functions take them.
 */
typedef struct dvk_token_lerp_desc {
    const dvk_tensor *x;
    const dvk_tensor *premix;
    const dvk_tensor *w1;
    const dvk_tensor *b1;
    const dvk_tensor *w2;
    const dvk_tensor *b2;
    const dvk_tensor *initial;
    dvk_tensor *y;
    dvk_tensor *final;
} dvk_token_lerp_desc;

DVK_NN_API dvk_status dvk_token_lerp(dvk_cmd *cmd, const dvk_token_lerp_desc *desc);

/* ---------------------------------------------------------------------------------------------
 * Convolution over time
 * ------------------------------------------------------------------------------------------- */

typedef enum dvk_conv_padding {
    /* P = W−1: y[t] sees x[t−W+1 .. t] (tokens before the call from the carried state). */
    DVK_CONV_CAUSAL = 0,
    /* P = ⌊(W−1)/2⌋: y[t] sees x[t−P .. t+W−1−P], zeros past either end: PyTorch's
     * padding='same' (the extra pad of an even W goes on the right), which for odd W is
     * padding=(W−1)/2. */
    DVK_CONV_SAME = 1,
} dvk_conv_padding;

/*
 * 1-D convolution over the T axis, channels last (nn.Conv1d with the input transposed):
 *     y[b,t,o] = act(bias[o] + Σ_{j<W} Σ_{i<Cg} weight[o,i,j] · x[b, t+j−P, g·Cg + i])
 * with Cg = Cin/groups and g = o / (Cout/groups), the group of output channel o.
 *   x        [B, T, Cin]; y [B, T, Cout].
 *   weight   [Cout, Cin/groups, W] (nn.Conv1d's layout); bias [Cout], optional.
 *   groups   0 = 1; must divide Cin and Cout. Cin = Cout = groups is the depthwise convolution
 *            (Qwen3-Next's and Mamba's short convolution, kernel 4); groups = 1 is the full
 *            convolution (the DeltaNet seed's Conv1d(d, d, 3, padding=1), with DVK_CONV_SAME).
 *   padding  DVK_CONV_CAUSAL (default) or DVK_CONV_SAME.
 *   initial_state, final_state  causal only, W ≥ 2: the last W−1 inputs before x,
 *            [B, W−1, Cin] (oldest first; NULL = zeros), and where to store the last W−1
 *            inputs of (initial_state ++ x) after it (NULL = not stored; when T < W−1 part of
 *            it comes from initial_state). final_state may be the same tensor as initial_state
 *            (race-free: each carried element is read before it is overwritten). Streaming a
 *            sequence in pieces this way gives, bit for bit, what one call gives.
 *   act      applied to the output (DVK_ACT_DEFAULT = identity; Qwen3-Next: DVK_ACT_SILU).
 * Each tensor fp32, fp16 or bf16, its own dtype; sums in fp32, y rounded once. y must not
 * overlap the inputs or the state.
 * Paths: depthwise with W ≤ 32: one invocation per channel and 32 tokens, the window in
 * registers (memory-bound). Otherwise an implicit matrix product per group in tiles of 64
 * tokens × 64 output channels of one group (fp32 FMAs from shared memory), then a small kernel
 * for the state: tiles are mostly idle when Cout/groups is far below 64 (a depthwise kernel
 * wider than 32): correct, but slower. Any tensor of 2^32 elements or more, or more tiles than
 * one dispatch's workgroup counts (B·T/64 and groups·⌈Cout/groups/64⌉), is
 * DVK_ERROR_LIMIT_EXCEEDED.
 */
typedef struct dvk_conv1d_desc {
    const dvk_tensor *x;
    const dvk_tensor *weight;
    const dvk_tensor *bias;
    dvk_tensor *y;
    uint32_t groups;
    dvk_conv_padding padding;
    const dvk_tensor *initial_state;
    dvk_tensor *final_state;
    dvk_act act;
} dvk_conv1d_desc;

DVK_NN_API dvk_status dvk_conv1d(dvk_cmd *cmd, const dvk_conv1d_desc *desc);

/* ---------------------------------------------------------------------------------------------
 * Embedding, softmax, sampling
 * ------------------------------------------------------------------------------------------- */

/* Embedding lookup (F.embedding): y[..., :] = weight[indices[...], :].
 * indices int32 of any shape of up to 3 dimensions (0: one index); weight [V, C]; y the shape of
 * indices with C appended. weight and y fp32, fp16 or bf16, each its own (a row is converted,
 * rounded once). An index outside [0, V) gives a row of zeros (a kernel cannot stop the
 * recording: check ids on the host). V·C and the elements of y above 2^32 − 1 are
 * DVK_ERROR_LIMIT_EXCEEDED. y must not overlap the weight or the indices. */
typedef struct dvk_embedding_desc {
    const dvk_tensor *indices;
    const dvk_tensor *weight;
    dvk_tensor *y;
} dvk_embedding_desc;

DVK_NN_API dvk_status dvk_embedding(dvk_cmd *cmd, const dvk_embedding_desc *desc);

/* Softmax along the last dimension: y = exp(x/temperature − m) / Σ_j exp(x_j/temperature − m)
 * with m the row's maximum of x/temperature, or with log its logarithm, x/temperature − m −
 * log Σ (F.log_softmax). x [..., N] and y the same shape, fp32, fp16 or bf16 each; arithmetic
 * fp32 (relative RMS error about 2e-7 at N = 151936). temperature 0 = 1; it must be positive and
 * finite, with a finite reciprocal. y may be x (in place). One workgroup per row walks it, so
 * rows of any length (numel below 2^32). −∞ entries give 0 (log: −∞); a row of only −∞ gives
 * NaN, as PyTorch's does. */
typedef struct dvk_softmax_desc {
    const dvk_tensor *x;
    dvk_tensor *y;
    float temperature;
    bool log;
} dvk_softmax_desc;

DVK_NN_API dvk_status dvk_softmax(dvk_cmd *cmd, const dvk_softmax_desc *desc);

/* argmax along the last dimension (torch.argmax): x [..., N] (fp32, fp16 or bf16) -> y int32
 * with one element per row (x's leading shape, or any shape of that many elements): the first
 * index of the maximum. NaN counts as above every number (the first NaN wins), as in
 * torch.argmax. */
typedef struct dvk_argmax_desc {
    const dvk_tensor *x;
    dvk_tensor *y;
} dvk_argmax_desc;

DVK_NN_API dvk_status dvk_argmax(dvk_cmd *cmd, const dvk_argmax_desc *desc);

/*
 * Sampling one token per row: logits [..., N] (fp32, fp16 or bf16) -> y int32 with one element
 * per row (the leading shape, or any shape of that many elements). For each row:
 *   1. p = softmax(logits / temperature) (temperature 0 = 1; positive and finite).
 *   2. top_k (0 or ≥ N = all): keep the tokens with p ≥ the k-th largest p.
 *   3. top_p (0 or ≥ 1 = all; negative or NaN is an error): of what is left, keep the tokens
 *      with p ≥ v for the largest v whose kept mass {p ≥ v} reaches top_p times the mass left
 *      after step 2: the smallest set of the most probable whose renormalised mass reaches
 *      top_p (Hugging Face's TopKLogitsWarper then TopPLogitsWarper; the most probable token
 *      is always kept).
 *   4. Draw: u = dvk_sample_uniform(seed, row); the token is the first index, in vocabulary
 *      order, whose running sum of kept probabilities exceeds u times the kept mass (the last
 *      kept index should rounding leave none).
 * Tokens whose probability ties a cut-off are all kept, so a top_k cut can keep more than k
 * tokens when probabilities are exactly equal (and top_k = 1 is argmax only without a tie at
 * the maximum; for greedy decoding call dvk_argmax). The same logits, seed and device give
 * the same token on every run, and the token dvk_ref_sample draws in double unless u falls
 * within fp32 rounding (~1e-6 of the mass) of a cumulative boundary, or a cut-off's mass of
 * top_p. Logits must be finite or −∞ (−∞ is never drawn); with NaN or +∞ in a row the token
 * is unspecified (but in [0, N)). Pass a new seed per step (e.g. base seed + step index).
 * logits are not modified. Cost: one workgroup per row, no sorting: the cut-offs are found by
 * searching the bit patterns of the probabilities (fp32, non-negative, ordered as their bits),
 * 16 buckets per pass over the row, each bucket narrowed to the values inside it; typically
 * 3–5 passes per cut-off for N ≈ 150000, plus one for the maximum and two for the draw.
 */
typedef struct dvk_sample_desc {
    const dvk_tensor *logits;
    dvk_tensor *y;
    float temperature;
    uint32_t top_k;
    float top_p;
    uint64_t seed;
} dvk_sample_desc;

DVK_NN_API dvk_status dvk_sample(dvk_cmd *cmd, const dvk_sample_desc *desc);

/* The uniform number in [0, 1) that dvk_sample draws for (seed, row): 24 bits of a
 * counter-based hash of the seed's two 32-bit halves and the row (MurmurHash3's finaliser
 * chained over them), over 2^24 — the same in the kernels, here and in dvk_ref_sample. */
DVK_NN_API float dvk_sample_uniform(uint64_t seed, uint32_t row);

#ifdef __cplusplus
}
#endif

#endif /* DELTAVK_NN_H */
