/* The building blocks of deltavk_nn.h in the dvk tool: `dvk run FUNCTION` and `dvk bench
 * FUNCTION`, named after PyTorch's functional API, inputs under its argument names (`input`,
 * `weight`, `bias`, ...) and the output `y`. A new function is one entry in `fns` below with
 * its tensors, random inputs for bench, outputs and record. */
#include "dvk_tool.h"
#include "tensors.h"

#include "deltavk_nn_reference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FN_MAX 8

/* A function's tensors: inputs in the order of tool_fn.in, then outputs in that of .out. */
typedef struct fn_io {
    dvk_tensor *in[FN_MAX];
    dvk_tensor *out[FN_MAX];
} fn_io;

struct tool_fn {
    const char *name;
    const char *summary;
    /* Input names (a trailing '?': optional) and output names ('?': written when present:
     * made by make_outputs only when it applies). */
    const char *in[FN_MAX];
    const char *out[FN_MAX];
    const char *bench; /* what bench's shape options mean */
    dvk_act act;       /* the activation functions: their dvk_act */
    /* bench: random inputs of the shape options. */
    dvk_status (*random)(dvk_context *ctx, const tool_fn *fn, const tool_opts *o, fn_io *io);
    /* The outputs for these inputs. */
    dvk_status (*outputs)(dvk_context *ctx, const tool_fn *fn, const tool_opts *o, fn_io *io);
    dvk_status (*record)(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o, const fn_io *io);
    /* Floating-point operations of one call (NULL: none counted). */
    double (*flops)(const tool_fn *fn, const tool_opts *o, const fn_io *io);
    /* Runs the C reference once on the inputs (downloaded) and returns its wall time in
     * milliseconds, or a negative value (NULL: no reference in the tool). */
    double (*reference_ms)(const tool_fn *fn, const tool_opts *o, const fn_io *io);
};

/* ---- tensors ----------------------------------------------------------------------------- */

/* A tensor of uniform values in [lo, hi). */
static dvk_status random_tensor(dvk_context *ctx, dvk_dtype dtype, uint32_t ndim,
                                const uint64_t *shape, float lo, float hi, uint64_t seed,
                                dvk_tensor **out)
{
    /* the device tensor first: a shape too large for the device is refused before any host
     * memory is sized by it (its element count is checked for overflow by both) */
    dvk_status st = tool_tensor_from(ctx, dtype, ndim, shape, NULL, out);
    if (st != DVK_SUCCESS)
        return st;
    const size_t n = dvk_tensor_numel(*out);
    float *x = malloc(n * sizeof *x);
    if (!x)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; ++i)
        x[i] = lo + (hi - lo) * tool_rng_uniform(&s);
    st = tool_tensor_fill(*out, x);
    free(x);
    return st;
}

static dvk_dtype io_dtype(const tool_opts *o) { return o->dtype ? o->dtype : DVK_DTYPE_F32; }
static dvk_dtype w_dtype(const tool_opts *o) { return o->wdtype ? o->wdtype : io_dtype(o); }

/* The shape of t with its last dimension replaced by `last`, into shape; returns ndim. */
static uint32_t with_last(const dvk_tensor *t, uint64_t last, uint64_t *shape)
{
    const uint32_t nd = dvk_tensor_ndim(t) ? dvk_tensor_ndim(t) : 1;
    for (uint32_t i = 0; i < nd; ++i)
        shape[i] = dvk_tensor_dim(t, i) ? dvk_tensor_dim(t, i) : 1;
    shape[nd - 1] = last;
    return nd;
}

static uint32_t shape_of(const dvk_tensor *t, uint64_t *shape)
{
    const uint32_t nd = dvk_tensor_ndim(t);
    for (uint32_t i = 0; i < nd; ++i)
        shape[i] = dvk_tensor_dim(t, i);
    return nd;
}

/* An output like tensor t (shape, and dtype unless given). */
static dvk_status like(dvk_context *ctx, const dvk_tensor *t, dvk_dtype dtype, dvk_tensor **out)
{
    uint64_t shape[DVK_MAX_DIMS];
    const uint32_t nd = shape_of(t, shape);
    return tool_tensor_from(ctx, dtype ? dtype : dvk_tensor_dtype(t), nd, shape, NULL, out);
}

/* ---- shared entries ------------------------------------------------------------------- */

/* bench: input [M, N] of --dtype. */
static dvk_status random_rows(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                              fn_io *io)
{
    (void)fn;
    return random_tensor(ctx, io_dtype(o), 2, (uint64_t[]){o->M, o->N}, -3.0f, 3.0f, 1,
                         &io->in[0]);
}

/* y like the first input. */
static dvk_status outputs_like_input(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                                     fn_io *io)
{
    (void)fn, (void)o;
    return like(ctx, io->in[0], 0, &io->out[0]);
}

/* ---- linear ------------------------------------------------------------------------------ */

static dvk_status linear_random(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                                fn_io *io)
{
    (void)fn;
    const float r = 1.0f / sqrtf((float)o->K);
    dvk_status st = random_tensor(ctx, io_dtype(o), 2, (uint64_t[]){o->M, o->K}, -1.0f, 1.0f, 1,
                                  &io->in[0]);
    if (st == DVK_SUCCESS)
        st = random_tensor(ctx, w_dtype(o), 2, (uint64_t[]){o->N, o->K}, -r, r, 2, &io->in[1]);
    if (st == DVK_SUCCESS && !o->no_bias)
        st = random_tensor(ctx, w_dtype(o), 1, (uint64_t[]){o->N}, -r, r, 3, &io->in[2]);
    return st;
}

static dvk_status linear_outputs(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                                 fn_io *io)
{
    (void)fn, (void)o;
    const dvk_tensor *w = io->in[1];
    const uint32_t wd = dvk_tensor_ndim(w);
    uint64_t shape[DVK_MAX_DIMS];
    const uint32_t nd = with_last(io->in[0], wd >= 2 ? dvk_tensor_dim(w, wd - 2) : 1, shape);
    return tool_tensor_from(ctx, dvk_tensor_dtype(io->in[0]), nd, shape, NULL, &io->out[0]);
}

static dvk_status linear_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                                const fn_io *io)
{
    (void)fn;
    return dvk_linear(cmd, &(dvk_linear_desc){.x = io->in[0], .weight = io->in[1],
                                              .bias = io->in[2], .y = io->out[0],
                                              .accumulate = o->accumulate});
}

static double linear_flops(const tool_fn *fn, const tool_opts *o, const fn_io *io)
{
    (void)fn, (void)o; /* 2 M N K: numel(y) = M N (G M N batched), K = x's last dimension */
    const dvk_tensor *x = io->in[0];
    return 2.0 * (double)dvk_tensor_numel(io->out[0]) *
           (double)dvk_tensor_dim(x, dvk_tensor_ndim(x) - 1);
}

/* Times dvk_ref_linear on the (downloaded) inputs of an unbatched bench or run. */
static double linear_reference_ms(const tool_fn *fn, const tool_opts *o, const fn_io *io)
{
    (void)fn, (void)o;
    const dvk_tensor *x = io->in[0], *w = io->in[1];
    if (dvk_tensor_ndim(w) != 2)
        return -1.0;
    const size_t K = dvk_tensor_dim(w, 1), N = dvk_tensor_dim(w, 0);
    const size_t M = dvk_tensor_numel(x) / K;
    float *hx = NULL, *hw = NULL, *hb = NULL;
    double *y = malloc(M * N * sizeof *y), ms = -1.0;
    if (y && tool_download_floats(x, &hx) == DVK_SUCCESS &&
        tool_download_floats(w, &hw) == DVK_SUCCESS &&
        (!io->in[2] || tool_download_floats(io->in[2], &hb) == DVK_SUCCESS)) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        const int r = dvk_ref_linear(1, M, N, K, hx, hw, hb, 0, NULL, y);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = r == 0 ? tool_elapsed_ms(&t0, &t1) : -1.0;
    }
    free(hx), free(hw), free(hb), free(y);
    return ms;
}

/* ---- activations --------------------------------------------------------------------- */

static dvk_status act_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                             const fn_io *io)
{
    (void)o;
    return dvk_activation(cmd,
                          &(dvk_activation_desc){.x = io->in[0], .y = io->out[0], .act = fn->act});
}

static double act_reference_ms(const tool_fn *fn, const tool_opts *o, const fn_io *io)
{
    (void)o;
    float *x = NULL;
    if (tool_download_floats(io->in[0], &x) != DVK_SUCCESS)
        return -1.0;
    const size_t n = dvk_tensor_numel(io->in[0]);
    double *y = malloc(n * sizeof *y);
    double ms = -1.0;
    if (y) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        dvk_ref_activation(fn->act, x, y, n);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = tool_elapsed_ms(&t0, &t1);
    }
    free(x), free(y);
    return ms;
}

#define ACTIVATION(act_, summary_)                                                               \
    {                                                                                            \
        .name = NULL, .summary = summary_, .in = {"input"}, .out = {"y"},                        \
        .bench = "input [--M, --N]", .act = act_, .random = random_rows,                         \
        .outputs = outputs_like_input, .record = act_record, .reference_ms = act_reference_ms,  \
    }

/* ---- norms ---------------------------------------------------------------------------------- */

/* bench: input [M, N] of --dtype; weight and bias [N] of --wdtype (the norms' optional ones). */
static dvk_status norm_random(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                              fn_io *io)
{
    dvk_status st = random_rows(ctx, fn, o, io);
    for (int i = 1; st == DVK_SUCCESS && i < 3 && fn->in[i]; ++i)
        if (strcmp(fn->in[i], "gate?") != 0)
            st = random_tensor(ctx, w_dtype(o), 1, (uint64_t[]){o->N}, 0.5f, 1.5f, 10 + i,
                               &io->in[i]);
    return st;
}

static dvk_status layer_norm_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                                    const fn_io *io)
{
    (void)fn;
    return dvk_layer_norm(cmd, &(dvk_layer_norm_desc){.x = io->in[0], .weight = io->in[1],
                                                      .bias = io->in[2], .y = io->out[0],
                                                      .eps = o->eps});
}

static dvk_status rms_norm_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                                  const fn_io *io)
{
    (void)fn;
    return dvk_rms_norm(cmd, &(dvk_rms_norm_desc){.x = io->in[0], .weight = io->in[1],
                                                  .gate = io->in[2], .y = io->out[0],
                                                  .eps = o->eps, .eps_mode = o->eps_mode,
                                                  .weight_offset = o->weight_offset});
}

static dvk_status l2_norm_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                                 const fn_io *io)
{
    (void)fn;
    return dvk_l2_norm(cmd, &(dvk_l2_norm_desc){.x = io->in[0], .y = io->out[0], .eps = o->eps,
                                                .eps_mode = o->eps_mode});
}

static dvk_status group_norm_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                                    const fn_io *io)
{
    (void)fn;
    return dvk_group_norm(cmd, &(dvk_group_norm_desc){.x = io->in[0], .weight = io->in[1],
                                                      .bias = io->in[2], .y = io->out[0],
                                                      .groups = o->groups, .eps = o->eps});
}

/* ---- elementwise ----------------------------------------------------------------------------- */

static dvk_status binary_random(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                                fn_io *io)
{
    dvk_status st = random_rows(ctx, fn, o, io);
    if (st == DVK_SUCCESS)
        st = random_tensor(ctx, io_dtype(o), 1, (uint64_t[]){o->N}, -1.0f, 1.0f, 2, &io->in[1]);
    return st;
}

static dvk_status add_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                             const fn_io *io)
{
    (void)fn, (void)o;
    return dvk_add(cmd, &(dvk_binary_desc){.a = io->in[0], .b = io->in[1], .y = io->out[0]});
}

static dvk_status mul_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                             const fn_io *io)
{
    (void)fn, (void)o;
    return dvk_mul(cmd, &(dvk_binary_desc){.a = io->in[0], .b = io->in[1], .y = io->out[0]});
}

static dvk_status lerp_random(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                              fn_io *io)
{
    dvk_status st = random_rows(ctx, fn, o, io);
    if (st == DVK_SUCCESS)
        st = random_tensor(ctx, io_dtype(o), 2, (uint64_t[]){o->M, o->N}, -1.0f, 1.0f, 2,
                           &io->in[1]);
    if (st == DVK_SUCCESS)
        st = random_tensor(ctx, io_dtype(o), 1, (uint64_t[]){o->N}, 0.0f, 1.0f, 3, &io->in[2]);
    return st;
}

static dvk_status lerp_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                              const fn_io *io)
{
    (void)fn, (void)o;
    return dvk_lerp(cmd, &(dvk_lerp_desc){.a = io->in[0], .b = io->in[1], .weight = io->in[2],
                                          .y = io->out[0]});
}

static dvk_status gated_residual_random(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                                        fn_io *io)
{
    (void)fn;
    dvk_status st = DVK_SUCCESS;
    for (int i = 0; st == DVK_SUCCESS && i < 3; ++i)
        st = random_tensor(ctx, io_dtype(o), 2, (uint64_t[]){o->M, o->N}, -2.0f, 2.0f, 1 + i,
                           &io->in[i]);
    return st;
}

static dvk_status gated_residual_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                                        const fn_io *io)
{
    (void)fn;
    return dvk_gated_residual(cmd, &(dvk_gated_residual_desc){.residual = io->in[0],
                                                              .x = io->in[1], .gate = io->in[2],
                                                              .y = io->out[0], .act = o->act});
}

static dvk_status glu_random(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                             fn_io *io)
{
    (void)fn;
    return random_tensor(ctx, io_dtype(o), 2, (uint64_t[]){o->M, 2ull * o->N}, -3.0f, 3.0f, 1,
                         &io->in[0]);
}

/* y: x's shape with half its last dimension, or x's shape beside a separate gate. */
static dvk_status glu_outputs(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                              fn_io *io)
{
    (void)fn, (void)o;
    const dvk_tensor *x = io->in[0];
    const uint64_t last = dvk_tensor_dim(x, dvk_tensor_ndim(x) - 1);
    uint64_t shape[DVK_MAX_DIMS];
    const uint32_t nd = with_last(x, io->in[1] ? last : (last / 2 ? last / 2 : 1), shape);
    return tool_tensor_from(ctx, dvk_tensor_dtype(x), nd, shape, NULL, &io->out[0]);
}

static dvk_status glu_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                             const fn_io *io)
{
    (void)fn;
    return dvk_glu(cmd, &(dvk_glu_desc){.x = io->in[0], .gate = io->in[1], .y = io->out[0],
                                        .act = o->act, .gate_first = o->gate_first});
}

/* ---- token shift and convolution ------------------------------------------------------- */

/* The rows of x [B, T, C] and its channel count. */
static void btc(const dvk_tensor *x, uint64_t *B, uint64_t *C)
{
    const uint32_t nd = dvk_tensor_ndim(x);
    *C = nd ? dvk_tensor_dim(x, nd - 1) : 1;
    *B = nd >= 3 ? dvk_tensor_dim(x, 0) : 1;
}

static dvk_status token_shift_random(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                                     fn_io *io)
{
    (void)fn;
    dvk_status st = random_tensor(ctx, io_dtype(o), 3, (uint64_t[]){1, o->M, o->N}, -2.0f, 2.0f,
                                  1, &io->in[0]);
    if (st == DVK_SUCCESS)
        st = random_tensor(ctx, w_dtype(o), 2, (uint64_t[]){6, o->N}, 0.0f, 1.0f, 2, &io->in[1]);
    if (st == DVK_SUCCESS)
        st = random_tensor(ctx, io_dtype(o), 2, (uint64_t[]){1, o->N}, -2.0f, 2.0f, 3,
                           &io->in[2]);
    return st;
}

/* y [M,B,T,C] with a mix (M = its rows), delta like x, the final state [B, C]. */
static dvk_status token_shift_outputs(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                                      fn_io *io)
{
    (void)fn, (void)o;
    const dvk_tensor *x = io->in[0], *mix = io->in[1];
    uint64_t B, C, shape[DVK_MAX_DIMS];
    btc(x, &B, &C);
    const dvk_dtype dt = dvk_tensor_dtype(x);
    dvk_status st = DVK_SUCCESS;
    if (mix) {
        const uint32_t nd = shape_of(x, shape + 1);
        shape[0] = dvk_tensor_ndim(mix) >= 2 ? dvk_tensor_dim(mix, 0) : 1;
        st = nd < DVK_MAX_DIMS ? tool_tensor_from(ctx, dt, nd + 1, shape, NULL, &io->out[0])
                               : dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "input: [B,T,C] expected");
    }
    if (st == DVK_SUCCESS)
        st = like(ctx, x, 0, &io->out[1]);
    if (st == DVK_SUCCESS)
        st = tool_tensor_from(ctx, io->in[2] ? dvk_tensor_dtype(io->in[2]) : dt, 2,
                              (uint64_t[]){B, C}, NULL, &io->out[2]);
    return st;
}

static dvk_status token_shift_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                                     const fn_io *io)
{
    (void)fn, (void)o;
    return dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = io->in[0], .mix = io->in[1],
                                                        .initial = io->in[2], .y = io->out[0],
                                                        .delta = io->out[1],
                                                        .final = io->out[2]});
}

/* bench: x [1, M, N]; a depthwise weight [N, 1, W] (or [N, N/groups, W]); bias; state. */
static dvk_status conv1d_random(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                                fn_io *io)
{
    (void)fn;
    const uint64_t W = o->W ? o->W : 4, groups = o->groups ? o->groups : o->N;
    dvk_status st = random_tensor(ctx, io_dtype(o), 3, (uint64_t[]){1, o->M, o->N}, -2.0f, 2.0f,
                                  1, &io->in[0]);
    if (st == DVK_SUCCESS)
        st = random_tensor(ctx, w_dtype(o), 3, (uint64_t[]){o->N, o->N / groups, W}, -0.5f,
                           0.5f, 2, &io->in[1]);
    if (st == DVK_SUCCESS && !o->no_bias)
        st = random_tensor(ctx, w_dtype(o), 1, (uint64_t[]){o->N}, -0.5f, 0.5f, 3, &io->in[2]);
    if (st == DVK_SUCCESS && !o->same && W > 1)
        st = random_tensor(ctx, io_dtype(o), 3, (uint64_t[]){1, W - 1, o->N}, -2.0f, 2.0f, 4,
                           &io->in[3]);
    return st;
}

/* y [B, T, Cout]; the final state like the initial one (causal, W > 1). */
static dvk_status conv1d_outputs(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                                 fn_io *io)
{
    (void)fn;
    const dvk_tensor *x = io->in[0], *w = io->in[1];
    uint64_t shape[DVK_MAX_DIMS];
    const uint32_t nd = with_last(x, dvk_tensor_dim(w, 0), shape);
    dvk_status st = tool_tensor_from(ctx, dvk_tensor_dtype(x), nd, shape, NULL, &io->out[0]);
    const uint64_t W = dvk_tensor_ndim(w) == 3 ? dvk_tensor_dim(w, 2) : 1;
    uint64_t B, C;
    btc(x, &B, &C);
    if (st == DVK_SUCCESS && !o->same && W > 1)
        st = tool_tensor_from(ctx, io->in[3] ? dvk_tensor_dtype(io->in[3]) : dvk_tensor_dtype(x),
                              3, (uint64_t[]){B, W - 1, C}, NULL, &io->out[1]);
    return st;
}

static dvk_status conv1d_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                                const fn_io *io)
{
    (void)fn;
    /* groups from the weight: [Cout, Cin/groups, W] */
    uint64_t B, Cin;
    btc(io->in[0], &B, &Cin);
    const uint64_t per = dvk_tensor_ndim(io->in[1]) == 3 ? dvk_tensor_dim(io->in[1], 1) : 0;
    const uint32_t groups = per && Cin % per == 0 ? (uint32_t)(Cin / per) : 1;
    return dvk_conv1d(cmd, &(dvk_conv1d_desc){.x = io->in[0], .weight = io->in[1],
                                              .bias = io->in[2], .y = io->out[0],
                                              .groups = groups,
                                              .padding = o->same ? DVK_CONV_SAME : DVK_CONV_CAUSAL,
                                              .initial_state = io->in[3],
                                              .final_state = io->out[1], .act = o->act});
}

static double conv1d_flops(const tool_fn *fn, const tool_opts *o, const fn_io *io)
{
    (void)fn, (void)o; /* 2 per weight element per output token */
    const dvk_tensor *x = io->in[0];
    const double tokens = (double)dvk_tensor_numel(x) /
                          (double)dvk_tensor_dim(x, dvk_tensor_ndim(x) - 1);
    return 2.0 * tokens * (double)dvk_tensor_numel(io->in[1]);
}

/* bench: x [1, M, N], premix [N], w1 [K, N], w2 [N, K] (K: the hidden width), biases. */
static dvk_status token_lerp_random(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                                    fn_io *io)
{
    (void)fn;
    const float r = 1.0f / sqrtf((float)o->N);
    dvk_status st = random_tensor(ctx, io_dtype(o), 3, (uint64_t[]){1, o->M, o->N}, -2.0f, 2.0f,
                                  1, &io->in[0]);
    if (st == DVK_SUCCESS)
        st = random_tensor(ctx, w_dtype(o), 1, (uint64_t[]){o->N}, 0.0f, 1.0f, 2, &io->in[1]);
    if (st == DVK_SUCCESS)
        st = random_tensor(ctx, w_dtype(o), 2, (uint64_t[]){o->K, o->N}, -r, r, 3, &io->in[2]);
    if (st == DVK_SUCCESS && !o->no_bias)
        st = random_tensor(ctx, w_dtype(o), 1, (uint64_t[]){o->K}, -r, r, 4, &io->in[3]);
    if (st == DVK_SUCCESS)
        st = random_tensor(ctx, w_dtype(o), 2, (uint64_t[]){o->N, o->K}, -r, r, 5, &io->in[4]);
    if (st == DVK_SUCCESS && !o->no_bias)
        st = random_tensor(ctx, w_dtype(o), 1, (uint64_t[]){o->N}, -r, r, 6, &io->in[5]);
    return st;
}

/* y like x; the carried token [B, C]. */
static dvk_status token_lerp_outputs(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                                     fn_io *io)
{
    (void)fn, (void)o;
    uint64_t B, C;
    btc(io->in[0], &B, &C);
    dvk_status st = like(ctx, io->in[0], 0, &io->out[0]);
    if (st == DVK_SUCCESS)
        st = tool_tensor_from(ctx, DVK_DTYPE_F32, 2, (uint64_t[]){B, C}, NULL, &io->out[1]);
    return st;
}

static dvk_status token_lerp_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                                    const fn_io *io)
{
    (void)fn, (void)o;
    return dvk_token_lerp(cmd, &(dvk_token_lerp_desc){.x = io->in[0], .premix = io->in[1],
                                                      .w1 = io->in[2], .b1 = io->in[3],
                                                      .w2 = io->in[4], .b2 = io->in[5],
                                                      .initial = io->in[6], .y = io->out[0],
                                                      .final = io->out[1]});
}

/* ---- embedding, softmax, argmax, sampling ----------------------------------------------- */

/* bench: M indices into a table [N, K]. */
static dvk_status embedding_random(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                                   fn_io *io)
{
    (void)fn;
    dvk_status st = random_tensor(ctx, DVK_DTYPE_I32, 1, (uint64_t[]){o->M}, 0.0f,
                                  (float)o->N - 0.5f, 1, &io->in[0]);
    if (st == DVK_SUCCESS)
        st = random_tensor(ctx, w_dtype(o), 2, (uint64_t[]){o->N, o->K}, -1.0f, 1.0f, 2,
                           &io->in[1]);
    return st;
}

/* y [indices..., C] in --dtype (default: the weight's). */
static dvk_status embedding_outputs(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                                    fn_io *io)
{
    (void)fn;
    const dvk_tensor *ids = io->in[0], *w = io->in[1];
    uint64_t shape[DVK_MAX_DIMS];
    uint32_t nd = shape_of(ids, shape);
    if (nd >= DVK_MAX_DIMS)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "input: at most 3 dimensions");
    shape[nd++] = dvk_tensor_dim(w, dvk_tensor_ndim(w) - 1);
    return tool_tensor_from(ctx, o->dtype ? o->dtype : dvk_tensor_dtype(w), nd, shape, NULL,
                            &io->out[0]);
}

static dvk_status embedding_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                                   const fn_io *io)
{
    (void)fn, (void)o;
    return dvk_embedding(cmd, &(dvk_embedding_desc){.indices = io->in[0], .weight = io->in[1],
                                                    .y = io->out[0]});
}

static dvk_status softmax_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                                 const fn_io *io)
{
    return dvk_softmax(cmd, &(dvk_softmax_desc){.x = io->in[0], .y = io->out[0],
                                                .temperature = o->temperature,
                                                .log = o->log || fn->act == DVK_ACT_LOGSIGMOID});
}

/* int32 [rows]: x's leading shape. */
static dvk_status rows_i32_outputs(dvk_context *ctx, const tool_fn *fn, const tool_opts *o,
                                   fn_io *io)
{
    (void)fn, (void)o;
    const dvk_tensor *x = io->in[0];
    uint64_t shape[DVK_MAX_DIMS];
    uint32_t nd = shape_of(x, shape);
    if (nd > 1)
        --nd;
    else
        shape[0] = 1, nd = 1;
    return tool_tensor_from(ctx, DVK_DTYPE_I32, nd, shape, NULL, &io->out[0]);
}

static dvk_status argmax_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                                const fn_io *io)
{
    (void)fn, (void)o;
    return dvk_argmax(cmd, &(dvk_argmax_desc){.x = io->in[0], .y = io->out[0]});
}

static dvk_status sample_record(dvk_cmd *cmd, const tool_fn *fn, const tool_opts *o,
                                const fn_io *io)
{
    (void)fn;
    return dvk_sample(cmd, &(dvk_sample_desc){.logits = io->in[0], .y = io->out[0],
                                              .temperature = o->temperature, .top_k = o->top_k,
                                              .top_p = o->top_p, .seed = o->seed});
}

/* ---- the table ----------------------------------------------------------------------------- */

static const tool_fn fns[] = {
    {
        .name = "linear",
        .summary = "y = input weight^T + bias (F.linear; weight [N,K] or [G,N,K])",
        .in = {"input", "weight", "bias?"},
        .out = {"y"},
        .bench = "input [--M, --K], weight [--N, --K] of --wdtype, bias [--N] (--no-bias)",
        .random = linear_random,
        .outputs = linear_outputs,
        .record = linear_record,
        .flops = linear_flops,
        .reference_ms = linear_reference_ms,
    },
    {
        .name = "layer_norm",
        .summary = "F.layer_norm over the last dimension (--eps, default 1e-5)",
        .in = {"input", "weight?", "bias?"},
        .out = {"y"},
        .bench = "input [--M, --N], weight and bias [--N] of --wdtype",
        .random = norm_random,
        .outputs = outputs_like_input,
        .record = layer_norm_record,
    },
    {
        .name = "rms_norm",
        .summary = "RMSNorm (--eps, --eps-mode inside|clamp|add, --weight-offset; gate: * silu)",
        .in = {"input", "weight?", "gate?"},
        .out = {"y"},
        .bench = "input [--M, --N], weight [--N] of --wdtype",
        .random = norm_random,
        .outputs = outputs_like_input,
        .record = rms_norm_record,
    },
    {
        .name = "l2_norm",
        .summary = "input / ||input|| along the last dimension (--eps, --eps-mode)",
        .in = {"input"},
        .out = {"y"},
        .bench = "input [--M, --N]",
        .random = random_rows,
        .outputs = outputs_like_input,
        .record = l2_norm_record,
    },
    {
        .name = "group_norm",
        .summary = "GroupNorm of --groups groups over the last dimension (RWKV-7's ln_x)",
        .in = {"input", "weight?", "bias?"},
        .out = {"y"},
        .bench = "input [--M, --N], weight and bias [--N]; --groups divides --N",
        .random = norm_random,
        .outputs = outputs_like_input,
        .record = group_norm_record,
    },
    {
        .name = "add",
        .summary = "y = input + other (other broadcast)",
        .in = {"input", "other"},
        .out = {"y"},
        .bench = "input [--M, --N], other [--N]",
        .random = binary_random,
        .outputs = outputs_like_input,
        .record = add_record,
    },
    {
        .name = "mul",
        .summary = "y = input * other (other broadcast)",
        .in = {"input", "other"},
        .out = {"y"},
        .bench = "input [--M, --N], other [--N]",
        .random = binary_random,
        .outputs = outputs_like_input,
        .record = mul_record,
    },
    {
        .name = "lerp",
        .summary = "y = input + (end - input) * weight (torch.lerp; weight broadcast)",
        .in = {"input", "end", "weight"},
        .out = {"y"},
        .bench = "input, end [--M, --N], weight [--N]",
        .random = lerp_random,
        .outputs = outputs_like_input,
        .record = lerp_record,
    },
    {
        .name = "gated_residual",
        .summary = "y = residual + input * act(gate) (--act, default sigmoid; gate broadcast)",
        .in = {"residual", "input", "gate"},
        .out = {"y"},
        .bench = "residual, input, gate [--M, --N]",
        .random = gated_residual_random,
        .outputs = outputs_like_input,
        .record = gated_residual_record,
    },
    {
        .name = "glu",
        .summary = "y = value * act(gate), halves of input or a gate tensor (--act, default "
                   "sigmoid; --gate-first)",
        .in = {"input", "gate?"},
        .out = {"y"},
        .bench = "input [--M, 2 --N]",
        .random = glu_random,
        .outputs = glu_outputs,
        .record = glu_record,
    },
    {
        .name = "token_shift",
        .summary = "y_m = input + (shifted - input) * mix_m, delta = shifted - input; state: the "
                   "token before input[:, 0] in, input[:, T-1] out",
        .in = {"input", "mix?", "state?"},
        .out = {"y?", "delta", "state"},
        .bench = "input [1, --M, --N], mix [6, --N], state [1, --N]",
        .random = token_shift_random,
        .outputs = token_shift_outputs,
        .record = token_shift_record,
    },
    {
        .name = "token_lerp",
        .summary = "Memodo's TokenLerp: input + (shifted - input) * sigmoid(w2 gelu(w1 pm + b1) "
                   "+ b2), pm the premixed token; state: the carried token in and out",
        .in = {"input", "premix", "w1", "b1?", "w2", "b2?", "state?"},
        .out = {"y", "state"},
        .bench = "input [1, --M, --N], hidden width --K",
        .random = token_lerp_random,
        .outputs = token_lerp_outputs,
        .record = token_lerp_record,
    },
    {
        .name = "conv1d",
        .summary = "causal (--same: same-padded) convolution over T, channels last; groups from "
                   "the weight [Cout, Cin/groups, W]; state [B, W-1, Cin] in and out (--act)",
        .in = {"input", "weight", "bias?", "state?"},
        .out = {"y", "state?"},
        .bench = "input [1, --M, --N], weight [--N, --N/--groups, --W] (default depthwise, W 4)",
        .random = conv1d_random,
        .outputs = conv1d_outputs,
        .record = conv1d_record,
        .flops = conv1d_flops,
    },
    {
        .name = "embedding",
        .summary = "y = weight[input] (F.embedding; input int32, rows of zeros outside [0, V))",
        .in = {"input", "weight"},
        .out = {"y"},
        .bench = "input: --M indices into weight [--N, --K]",
        .random = embedding_random,
        .outputs = embedding_outputs,
        .record = embedding_record,
    },
    {
        .name = "softmax",
        .summary = "softmax along the last dimension (--temperature, --log)",
        .in = {"input"},
        .out = {"y"},
        .bench = "input [--M, --N]",
        .random = random_rows,
        .outputs = outputs_like_input,
        .record = softmax_record,
    },
    {
        .name = "log_softmax",
        .summary = "log of softmax along the last dimension (--temperature)",
        .in = {"input"},
        .out = {"y"},
        .bench = "input [--M, --N]",
        .act = DVK_ACT_LOGSIGMOID, /* marks the log form */
        .random = random_rows,
        .outputs = outputs_like_input,
        .record = softmax_record,
    },
    {
        .name = "argmax",
        .summary = "y = the first index of each row's maximum (int32)",
        .in = {"input"},
        .out = {"y"},
        .bench = "input [--M, --N]",
        .random = random_rows,
        .outputs = rows_i32_outputs,
        .record = argmax_record,
    },
    {
        .name = "sample",
        .summary = "one token per row of logits (--temperature, --top-k, --top-p, --seed)",
        .in = {"input"},
        .out = {"y"},
        .bench = "input [--M, --N] logits",
        .random = random_rows,
        .outputs = rows_i32_outputs,
        .record = sample_record,
    },
};

static tool_fn act_fns[DVK_ACT_COUNT_];

/* The activation entries, named by dvk_act_name. */
static void init_act_fns(void)
{
    static const struct {
        dvk_act act;
        const char *summary;
    } acts[] = {
        {DVK_ACT_GELU, "y = gelu(input), the erf form (F.gelu)"},
        {DVK_ACT_GELU_TANH, "y = gelu(input, approximate='tanh')"},
        {DVK_ACT_SILU, "y = input * sigmoid(input) (F.silu)"},
        {DVK_ACT_RELU, "y = max(input, 0)"},
        {DVK_ACT_RELU_SQUARED, "y = max(input, 0)^2"},
        {DVK_ACT_SIGMOID, "y = 1 / (1 + exp(-input))"},
        {DVK_ACT_TANH, "y = tanh(input)"},
        {DVK_ACT_SOFTPLUS, "y = log(1 + exp(input)), input past 20 as is (F.softplus)"},
        {DVK_ACT_ELU1, "y = elu(input) + 1"},
        {DVK_ACT_LOGSIGMOID, "y = log(sigmoid(input)) (F.logsigmoid)"},
        {DVK_ACT_EXP, "y = exp(input)"},
        {DVK_ACT_IDENTITY, "y = input (a copy, converting dtypes)"},
    };
    if (act_fns[0].name)
        return;
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; ++i) {
        act_fns[i] = (tool_fn)ACTIVATION(acts[i].act, acts[i].summary);
        act_fns[i].name = dvk_act_name(acts[i].act);
    }
}

const tool_fn *tool_find_fn(const char *name)
{
    init_act_fns();
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; ++i)
        if (strcmp(fns[i].name, name) == 0)
            return &fns[i];
    for (size_t i = 0; i < DVK_ACT_COUNT_ && act_fns[i].name; ++i)
        if (strcmp(act_fns[i].name, name) == 0)
            return &act_fns[i];
    return NULL;
}

static void print_fn(FILE *f, const tool_fn *fn)
{
    char in[256] = "", out[128] = "";
    for (int i = 0; i < FN_MAX && fn->in[i]; ++i)
        snprintf(in + strlen(in), sizeof in - strlen(in), "%s%s", i ? " " : "", fn->in[i]);
    for (int i = 0; i < FN_MAX && fn->out[i]; ++i)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", i ? " " : "", fn->out[i]);
    fprintf(f, "  %-16s %s\n  %-16s   reads %s; writes %s\n", fn->name, fn->summary, "", in,
            out);
}

void tool_print_fns(FILE *f)
{
    init_act_fns();
    fprintf(f, "functions (deltavk_nn.h; a trailing ? marks an optional tensor):\n");
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; ++i)
        print_fn(f, &fns[i]);
    for (size_t i = 0; i < DVK_ACT_COUNT_ && act_fns[i].name; ++i)
        print_fn(f, &act_fns[i]);
}

void tool_help_fn_options(FILE *f)
{
    fprintf(f,
            "options of functions (dvk functions lists them and their tensors):\n"
            "  --dtype f32|f16|bf16     dtype of the inputs and outputs (run: the file's\n"
            "                           tensors are converted to it; default f32)\n"
            "  --device N|NAME, --validate, --small-profile   as for operators\n"
            "  --act NAME               glu, gated_residual, conv1d: the activation (one of\n"
            "                           the activation functions' names)\n"
            "  --eps X                  norms: epsilon\n"
            "  --eps-mode inside|clamp|add\n"
            "                           norms: where epsilon goes\n"
            "  --weight-offset X        rms_norm: y = x_hat * (offset + weight)\n"
            "  --groups N               group_norm, conv1d: groups\n"
            "  --accumulate             linear: y += x W^T + b (run reads y from the file)\n"
            "  --gate-first             glu: the gate is the first half\n"
            "  --same                   conv1d: same padding (default causal)\n"
            "  --log                    softmax: log_softmax\n"
            "  --temperature T --top-p P --top-k K --seed S\n"
            "                           sample: the sampling parameters\n");
}

/* ---- run and bench ------------------------------------------------------------------------ */

static void free_io(fn_io *io)
{
    for (int i = 0; i < FN_MAX; ++i) {
        dvk_tensor_destroy(io->in[i]);
        dvk_tensor_destroy(io->out[i]);
    }
    memset(io, 0, sizeof *io);
}

static size_t name_len(const char *n) { return strcspn(n, "?"); }

/* Downloads a tensor and adds it to the writer under `name`, keeping its dtype. */
static int add_output(dvk_st_writer *w, const char *name, size_t len, const dvk_tensor *t,
                      bool check)
{
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)len, name);
    uint64_t shape[DVK_MAX_DIMS];
    const uint32_t nd = shape_of(t, shape);
    const size_t bytes = dvk_tensor_bytes(t);
    void *data = malloc(bytes);
    if (!data)
        return tool_fail_status(key, dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of memory"));
    const dvk_dtype dt = dvk_tensor_dtype(t);
    const dvk_st_dtype sd = dt == DVK_DTYPE_F16    ? DVK_ST_F16
                            : dt == DVK_DTYPE_BF16 ? DVK_ST_BF16
                            : dt == DVK_DTYPE_I32  ? DVK_ST_I32
                                                   : DVK_ST_F32;
    dvk_status st = dvk_tensor_download(t, data, bytes);
    if (st == DVK_SUCCESS && check &&
        tool_check_output_values(key, dt, nd, shape, data) != TOOL_OK) {
        free(data);
        return TOOL_FAIL;
    }
    if (st == DVK_SUCCESS)
        st = dvk_st_writer_add(w, key, sd, nd, shape, data);
    free(data);
    return st == DVK_SUCCESS ? TOOL_OK : tool_fail_status(key, st);
}

int tool_run_fn(const tool_fn *fn, tool_opts *opts)
{
    if (!opts->in || !opts->out) {
        fprintf(stderr, "usage: dvk run %s --in IN.safetensors --out OUT.safetensors "
                        "[--dtype f32|f16|bf16] [--device N] ... (dvk run --help: every "
                        "option)\n",
                fn->name);
        print_fn(stderr, fn);
        return TOOL_USAGE;
    }
    char err[512];
    if (dvk_st_check_output(opts->out, opts->in, err, sizeof err) != DVK_SUCCESS) {
        fprintf(stderr, "dvk: %s\n", err);
        return TOOL_USAGE;
    }
    dvk_context *ctx = NULL;
    int rc = tool_context(opts, &ctx);
    if (rc != TOOL_OK)
        return rc;
    dvk_weights *w = NULL;
    fn_io io = {0};
    dvk_cmd *cmd = NULL;
    bool all_finite = true; /* every input's values: then an inf or NaN out is an overflow */
    dvk_status st = dvk_weights_load(ctx, opts->in, &(dvk_weights_desc){.dtype = opts->dtype}, &w);
    if (st != DVK_SUCCESS)
        rc = tool_fail_status(opts->in, st);
    /* The inputs, found by name: views of the loaded tensors, so free_io can destroy them. */
    for (int i = 0; rc == TOOL_OK && i < FN_MAX && fn->in[i]; ++i) {
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)name_len(fn->in[i]), fn->in[i]);
        const bool optional = fn->in[i][name_len(fn->in[i])] == '?';
        dvk_tensor *t = NULL;
        st = dvk_weights_get(w, key, &t);
        if (st == DVK_ERROR_NOT_FOUND && optional)
            continue;
        if (st == DVK_SUCCESS &&
            tool_check_input_values(w, key, dvk_tensor_dtype(t) == DVK_DTYPE_F16,
                                    &all_finite) != TOOL_OK) {
            rc = TOOL_FAIL;
            break;
        }
        if (st == DVK_SUCCESS) {
            uint64_t shape[DVK_MAX_DIMS];
            const uint32_t nd = shape_of(t, shape);
            st = dvk_tensor_reshape(t, nd, shape, &io.in[i]);
        }
        if (st != DVK_SUCCESS)
            rc = tool_fail_status(fn->name, st);
    }
    if (rc == TOOL_OK) {
        st = fn->outputs(ctx, fn, opts, &io);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_create(ctx, NULL, &cmd);
        if (st == DVK_SUCCESS)
            st = fn->record(cmd, fn, opts, &io);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_submit(cmd);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_wait(cmd, 0);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status(fn->name, st);
    }
    if (rc == TOOL_OK && opts->validate && dvk_context_validation_message_count(ctx)) {
        fprintf(stderr, "dvk: the validation layer reported %llu messages\n",
                (unsigned long long)dvk_context_validation_message_count(ctx));
        rc = TOOL_FAIL;
    }
    if (rc == TOOL_OK) {
        dvk_st_writer *wr = NULL;
        st = dvk_st_writer_create(&wr);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("writer", st);
        for (int i = 0; rc == TOOL_OK && i < FN_MAX && fn->out[i]; ++i)
            if (io.out[i])
                rc = add_output(wr, fn->out[i], name_len(fn->out[i]), io.out[i], all_finite);
        if (rc == TOOL_OK) {
            dvk_st_writer_set_metadata(wr, "producer", "dvk run");
            dvk_st_writer_set_metadata(wr, "function", fn->name);
            dvk_st_writer_set_metadata(wr, "device", dvk_context_device_info(ctx)->name);
            st = dvk_st_writer_save(wr, opts->out, err, sizeof err);
            if (st != DVK_SUCCESS) {
                fprintf(stderr, "dvk: %s\n", err);
                rc = TOOL_FAIL;
            }
        }
        dvk_st_writer_destroy(wr);
    }
    dvk_cmd_destroy(cmd);
    free_io(&io);
    dvk_weights_destroy(w);
    dvk_context_destroy(ctx);
    return rc;
}

#define ROTATE_MAX 16

/* With --rotate N, successive calls use N copies of the inputs in turn, so a bench whose
 * inputs fit in the GPU's cache (a decode-shaped matmul's weights) reads them from memory. */
typedef struct fn_run {
    const tool_fn *fn;
    const tool_opts *opts;
    fn_io *io;
    uint32_t copies, next;
} fn_run;

static dvk_status record_fn(dvk_cmd *cmd, void *user)
{
    fn_run *r = user;
    const fn_io *io = &r->io[r->next++ % r->copies];
    return r->fn->record(cmd, r->fn, r->opts, io);
}

typedef struct fn_reference {
    const tool_fn *fn;
    const tool_opts *opts;
    const fn_io *io;
} fn_reference;

static double run_fn_reference(void *user)
{
    const fn_reference *r = user;
    return r->fn->reference_ms ? r->fn->reference_ms(r->fn, r->opts, r->io) : -1.0;
}

int tool_bench_fn(const tool_fn *fn, tool_opts *opts)
{
    if (!opts->M || !opts->N || !opts->iters) {
        fprintf(stderr, "usage: dvk bench %s --M N --N N [--K N] [--dtype f32|f16|bf16] "
                        "[--wdtype ...] [--iters N] [--json] [--reference] (dvk bench --help: "
                        "every option)\n  shapes: %s\n",
                fn->name, fn->bench);
        return TOOL_USAGE;
    }
    if (!opts->K)
        opts->K = opts->N;
    const uint32_t copies = opts->rotate ? opts->rotate : 1;
    if (copies > ROTATE_MAX) {
        fprintf(stderr, "dvk: --rotate takes at most %d copies\n", ROTATE_MAX);
        return TOOL_USAGE;
    }
    dvk_context *ctx = NULL;
    int rc = tool_context(opts, &ctx);
    if (rc != TOOL_OK)
        return rc;
    fn_io all[ROTATE_MAX] = {0}, *io0 = &all[0];
    tool_timing timing = {0};
    dvk_status st = DVK_SUCCESS;
    for (uint32_t c = 0; st == DVK_SUCCESS && c < copies; ++c) {
        st = fn->random(ctx, fn, opts, &all[c]);
        if (st == DVK_SUCCESS)
            st = fn->outputs(ctx, fn, opts, &all[c]);
    }
    if (st != DVK_SUCCESS)
        rc = tool_fail_status(fn->name, st);
    fn_run run = {fn, opts, all, copies, 0};
    if (rc == TOOL_OK)
        rc = tool_time(ctx, opts, fn->name, record_fn, &run, &timing);
    if (rc == TOOL_OK) {
        const dvk_device_info *info = dvk_context_device_info(ctx);
        double bytes = 0.0;
        for (int i = 0; i < FN_MAX; ++i) {
            bytes += io0->in[i] ? (double)dvk_tensor_bytes(io0->in[i]) : 0.0;
            bytes += io0->out[i] ? (double)dvk_tensor_bytes(io0->out[i]) : 0.0;
        }
        const double flops = fn->flops ? fn->flops(fn, opts, io0) : 0.0;
        const double s = timing.median * 1e-3;
        const double gbps = s > 0.0 ? bytes / s * 1e-9 : 0.0;
        const double tflops = s > 0.0 ? flops / s * 1e-12 : 0.0;
        if (opts->json) {
            printf("{\"function\": \"%s\", \"dtype\": \"%s\", \"wdtype\": \"%s\", \"M\": %u, "
                   "\"N\": %u, \"K\": %u, \"device\": ",
                   fn->name, dvk_dtype_name(io_dtype(opts)), dvk_dtype_name(w_dtype(opts)),
                   opts->M, opts->N, opts->K);
            tool_json_string(stdout, info->name);
            printf(", \"driver\": ");
            tool_json_string(stdout, info->driver_info);
            printf(", \"profile\": \"%s\", \"median_ms\": %.6f, \"min_ms\": %.6f, "
                   "\"max_ms\": %.6f, \"iters\": %u, \"repeat\": %u, \"rotate\": %u, "
                   "\"bytes\": %.0f, \"flops\": %.0f, \"gb_per_s\": %.3f, "
                   "\"tflop_per_s\": %.4f",
                   opts->small_profile ? "small" : "device", timing.median, timing.min,
                   timing.max, opts->iters, opts->repeat, copies, bytes, flops, gbps, tflops);
        } else {
            printf("%s (%s, weights %s) M=%u N=%u K=%u on %s\n", fn->name,
                   dvk_dtype_name(io_dtype(opts)), dvk_dtype_name(w_dtype(opts)), opts->M,
                   opts->N, opts->K, info->name);
            printf("  median %.4f ms  (min %.4f, max %.4f, %u runs after %u warm-up%s)\n",
                   timing.median, timing.min, timing.max, opts->iters, opts->warmup,
                   opts->repeat > 1 ? ", per call of a back-to-back batch" : "");
            printf("  %.1f GB/s of %.1f MB moved, %.3f TFLOP/s of %.3g FLOP\n", gbps,
                   bytes * 1e-6, tflops, flops);
        }
        if (opts->reference) {
            fn_reference ref = {fn, opts, io0};
            tool_print_reference(fn->name, run_fn_reference, &ref, timing.median, opts->json);
        }
        if (opts->stages)
            tool_print_stages(&timing, opts->json);
        if (opts->json)
            printf("}\n");
    }
    tool_timing_free(&timing);
    for (uint32_t c = 0; c < copies; ++c)
        free_io(&all[c]);
    dvk_context_destroy(ctx);
    return rc;
}
