/* The operators the dvk tool knows, and loading their inputs (from a file or at random).
 * A new operator is one entry in `ops` below plus its make_outputs / record / cost. */
#include "dvk_tool.h"
#include "tensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deltavk_reference.h"

/* ---- tensors ---------------------------------------------------------------------------- */

/* Uploads float data into a new tensor of `dtype` (converting to fp16 if asked). Unlike
 * tool_tensor_from it converts to nothing else: a bf16 tensor refuses the floats for their
 * size, which is how bench --dtype bf16 reports today that the operators take no bf16. */
static dvk_status upload_floats(dvk_context *ctx, dvk_dtype dtype, uint32_t ndim,
                                const uint64_t *shape, const float *data, dvk_tensor **out)
{
    dvk_status st = tool_tensor_from(ctx, dtype, ndim, shape, NULL, out);
    if (st != DVK_SUCCESS)
        return st;
    const size_t n = dvk_tensor_numel(*out);
    if (dtype == DVK_DTYPE_F16) {
        uint16_t *h = malloc(n * sizeof *h);
        if (!h) {
            fprintf(stderr, "dvk: out of host memory for %zu values\n", n);
            return DVK_ERROR_OUT_OF_HOST_MEMORY;
        }
        for (size_t i = 0; i < n; ++i)
            h[i] = dvk_f32_to_f16(data[i]);
        st = dvk_tensor_upload(*out, h, n * sizeof *h);
        free(h);
    } else {
        st = dvk_tensor_upload(*out, data, n * sizeof *data);
    }
    return st;
}

void tool_free_inputs(tool_inputs *in)
{
    if (in->weights) { /* the tensors are the file's */
        dvk_weights_destroy(in->weights);
    } else {
        for (int i = 0; i < SLOT_COUNT; ++i)
            dvk_tensor_destroy(in->t[i]);
        dvk_tensor_destroy(in->h0);
        dvk_tensor_destroy(in->z0);
    }
    free(in->cu_seqlens);
    memset(in, 0, sizeof *in);
}

void tool_free_outputs(tool_outputs *out)
{
    dvk_tensor_destroy(out->o);
    dvk_tensor_destroy(out->ht);
    dvk_tensor_destroy(out->z);
    memset(out, 0, sizeof *out);
}

/* ---- the delta-rule family ------------------------------------------------------------------ */

#define Q(in) ((in)->t[SLOT_Q])
#define KEY(in) ((in)->t[SLOT_K])
#define VAL(in) ((in)->t[SLOT_V])

static uint32_t num_seqs(const tool_inputs *in)
{
    return in->cu_seqlens ? in->num_seqs : (uint32_t)dvk_tensor_dim(KEY(in), 0);
}

/* o has v's shape, or [B,T,H,K] with the key read-out; the state [N,HV,K,V]. */
static dvk_status family_outputs(dvk_context *ctx, const tool_inputs *in, bool with_state,
                                 bool key_readout, tool_outputs *out)
{
    const dvk_tensor *v = VAL(in);
    const uint64_t so[4] = {dvk_tensor_dim(v, 0), dvk_tensor_dim(v, 1), dvk_tensor_dim(v, 2),
                            key_readout ? dvk_tensor_dim(KEY(in), 3) : dvk_tensor_dim(v, 3)};
    dvk_status st = tool_tensor_from(ctx, dvk_tensor_dtype(v), 4, so, NULL, &out->o);
    if (st == DVK_SUCCESS && with_state) {
        const uint64_t ss[4] = {num_seqs(in), dvk_tensor_dim(v, 2), dvk_tensor_dim(KEY(in), 3),
                                dvk_tensor_dim(v, 3)};
        st = tool_tensor_from(ctx, DVK_DTYPE_F32, 4, ss, NULL, &out->ht);
    }
    return st;
}

static dvk_status delta_outputs(dvk_context *ctx, const tool_inputs *in, const tool_opts *opts,
                                bool with_state, tool_outputs *out)
{
    (void)opts;
    return family_outputs(ctx, in, with_state, false, out);
}

static dvk_status dplr_outputs(dvk_context *ctx, const tool_inputs *in, const tool_opts *opts,
                               bool with_state, tool_outputs *out)
{
    return family_outputs(ctx, in, with_state, opts->readout == DVK_READOUT_KEY, out);
}

static dvk_delta_rule_desc delta_desc(const tool_inputs *in, const tool_outputs *out,
                                      const tool_opts *opts)
{
    return (dvk_delta_rule_desc){
        .q = Q(in), .k = KEY(in), .v = VAL(in), .beta = in->t[SLOT_BETA], .g = in->t[SLOT_G],
        .o = out->o, .initial_state = in->h0, .final_state = out->ht, .scale = in->scale,
        .mode = opts->mode, .cu_seqlens = in->cu_seqlens,
        .num_seqs = in->cu_seqlens ? in->num_seqs : 0, .l2norm_qk = opts->l2norm_qk,
        .chunk_size = opts->chunk_size,
    };
}

static dvk_status delta_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                               const tool_opts *opts)
{
    const dvk_delta_rule_desc d = delta_desc(in, out, opts);
    return dvk_delta_rule(cmd, &d);
}

static dvk_status gated_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                               const tool_opts *opts)
{
    const dvk_delta_rule_desc d = delta_desc(in, out, opts);
    return dvk_gated_delta_rule(cmd, &d);
}

static dvk_status kda_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                             const tool_opts *opts)
{
    return dvk_kda(cmd, &(dvk_kda_desc){
        .q = Q(in), .k = KEY(in), .v = VAL(in), .g = in->t[SLOT_G], .beta = in->t[SLOT_BETA],
        .o = out->o, .initial_state = in->h0, .final_state = out->ht, .scale = in->scale,
        .mode = opts->mode, .cu_seqlens = in->cu_seqlens,
        .num_seqs = in->cu_seqlens ? in->num_seqs : 0, .l2norm_qk = opts->l2norm_qk,
        .chunk_size = opts->chunk_size, .gate_in_kernel = opts->gate_in_kernel,
        .A_log = opts->gate_in_kernel ? in->t[SLOT_A_LOG] : NULL,
        .dt_bias = opts->gate_in_kernel ? in->t[SLOT_DT_BIAS] : NULL,
        .beta_sigmoid = opts->beta_sigmoid});
}

static dvk_status dplr_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                              const tool_opts *opts)
{
    return dvk_dplr(cmd, &(dvk_dplr_desc){
        .q = Q(in), .k = KEY(in), .v = VAL(in), .a = in->t[SLOT_A], .b = in->t[SLOT_B],
        .gk = in->t[SLOT_G], .o = out->o, .initial_state = in->h0, .final_state = out->ht,
        .scale = in->scale, .mode = opts->mode, .cu_seqlens = in->cu_seqlens,
        .num_seqs = in->cu_seqlens ? in->num_seqs : 0, .chunk_size = opts->chunk_size,
        .readout = opts->readout});
}

static dvk_status rwkv7_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                               const tool_opts *opts)
{
    return dvk_rwkv7(cmd, &(dvk_rwkv7_desc){
        .r = Q(in), .w = in->t[SLOT_G], .k = KEY(in), .v = VAL(in), .kappa = in->t[SLOT_A],
        .alpha = in->t[SLOT_B], .o = out->o, .initial_state = in->h0, .final_state = out->ht,
        .scale = in->scale, .mode = opts->mode, .cu_seqlens = in->cu_seqlens,
        .num_seqs = in->cu_seqlens ? in->num_seqs : 0, .chunk_size = opts->chunk_size});
}

/* ---- linear attention, softmax attention, Infini-attention ---------------------------------- */

/* o like v; with a state, ht [N,H,K,V] and the normaliser z [N,H,K] (linear_attn; for
 * infini_attn N = B and K, V are D, DV). */
static dvk_status linear_outputs(dvk_context *ctx, const tool_inputs *in, const tool_opts *opts,
                                 bool with_state, tool_outputs *out)
{
    (void)opts;
    dvk_status st = family_outputs(ctx, in, with_state, false, out);
    if (st == DVK_SUCCESS && with_state) {
        const uint64_t sz[3] = {num_seqs(in), dvk_tensor_dim(KEY(in), 2),
                                dvk_tensor_dim(KEY(in), 3)};
        st = tool_tensor_from(ctx, DVK_DTYPE_F32, 3, sz, NULL, &out->z);
    }
    return st;
}

static dvk_status softmax_outputs(dvk_context *ctx, const tool_inputs *in, const tool_opts *opts,
                                  bool with_state, tool_outputs *out)
{
    (void)opts, (void)with_state; /* no state */
    return family_outputs(ctx, in, false, false, out);
}

static dvk_status linear_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                                const tool_opts *opts)
{
    return dvk_linear_attn(cmd, &(dvk_linear_attn_desc){
        .q = Q(in), .k = KEY(in), .v = VAL(in), .done = in->t[SLOT_DONE], .o = out->o,
        .initial_state = in->h0, .initial_z = in->z0, .final_state = out->ht,
        .final_z = out->z, .scale = in->scale, .mode = opts->mode,
        .cu_seqlens = in->cu_seqlens, .num_seqs = in->cu_seqlens ? in->num_seqs : 0,
        .feature_map = opts->feature_map, .normalize = !opts->no_normalize, .eps = opts->eps,
        .eps_add = opts->eps_add, .chunk_size = opts->chunk_size});
}

static dvk_status softmax_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                                 const tool_opts *opts)
{
    return dvk_softmax_attn(cmd, &(dvk_softmax_attn_desc){
        .q = Q(in), .k = KEY(in), .v = VAL(in), .o = out->o, .scale = in->scale,
        .segment = opts->segment});
}

static dvk_status infini_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                                const tool_opts *opts)
{
    return dvk_infini_attn(cmd, &(dvk_infini_attn_desc){
        .q = Q(in), .k = KEY(in), .v = VAL(in), .gate = in->t[SLOT_GATE], .o = out->o,
        .memory = in->h0, .memory_z = in->z0, .final_memory = out->ht, .final_z = out->z,
        .scale = in->scale, .rope = !opts->no_rope, .rope_theta = opts->rope_theta,
        .delta_rule = opts->delta_rule, .eps = opts->eps});
}

/* rope: y has x's shape and dtype; x is in the slot of q. */
static dvk_status rope_outputs(dvk_context *ctx, const tool_inputs *in, const tool_opts *opts,
                               bool with_state, tool_outputs *out)
{
    (void)opts, (void)with_state; /* no state */
    const dvk_tensor *x = Q(in);
    const uint64_t s[4] = {dvk_tensor_dim(x, 0), dvk_tensor_dim(x, 1), dvk_tensor_dim(x, 2),
                           dvk_tensor_dim(x, 3)};
    return tool_tensor_from(ctx, dvk_tensor_dtype(x), 4, s, NULL, &out->o);
}

static dvk_status rope_record(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                              const tool_opts *opts)
{
    if (opts->rope_offset > INT32_MAX) {
        fprintf(stderr, "dvk: --offset %u is beyond 2^31 - 1\n", opts->rope_offset);
        return DVK_ERROR_INVALID_ARGUMENT;
    }
    return dvk_rope(cmd, &(dvk_rope_desc){
        .x = Q(in), .y = out->o, .rotary_dim = opts->rotary_dim, .theta = opts->rope_theta,
        .offset = (int32_t)opts->rope_offset, .scale = in->scale});
}

static double bytes_of(const dvk_tensor *t) { return t ? (double)dvk_tensor_bytes(t) : 0.0; }

/* The recurrent form's arithmetic per token and value head, in units of K*V: the delta rule
 * 6 (S'ᵀk, k uᵀ, Sᵀq), a decay 1 more; the DPLR update 9 (aᵀS, the decay, b wᵀ, k vᵀ, the
 * read-out). (The chunked form does more arithmetic for the same result; this counts the
 * problem, so rates compare across modes.) Bytes: every input read once, outputs written once. */
static void family_cost(const tool_inputs *in, const tool_outputs *out, double per_kv,
                        double *flops, double *bytes)
{
    const double tokens = (double)dvk_tensor_dim(VAL(in), 0) * dvk_tensor_dim(VAL(in), 1);
    const double HV = (double)dvk_tensor_dim(VAL(in), 2), K = (double)dvk_tensor_dim(KEY(in), 3),
                 V = (double)dvk_tensor_dim(VAL(in), 3);
    *flops = tokens * HV * K * V * per_kv;
    *bytes = bytes_of(in->h0) + bytes_of(in->z0) + bytes_of(out->o) + bytes_of(out->ht) +
             bytes_of(out->z);
    for (int i = 0; i < SLOT_COUNT; ++i)
        *bytes += bytes_of(in->t[i]);
}

static void delta_cost(const tool_inputs *in, const tool_outputs *out, const tool_opts *opts,
                       double *flops, double *bytes)
{
    (void)opts;
    family_cost(in, out, in->t[SLOT_G] ? 7.0 : 6.0, flops, bytes);
}

static void dplr_cost(const tool_inputs *in, const tool_outputs *out, const tool_opts *opts,
                      double *flops, double *bytes)
{
    (void)opts;
    family_cost(in, out, 9.0, flops, bytes);
}

/* Linear attention: 4 (φ(k) vᵀ into the state, Sᵀq'); the normaliser's O(K) per token is left
 * out. The chunked form does more, as for the delta rules. */
static void linear_cost(const tool_inputs *in, const tool_outputs *out, const tool_opts *opts,
                        double *flops, double *bytes)
{
    (void)opts;
    family_cost(in, out, 4.0, flops, bytes);
}

/* Causal (query, key) pairs of one head of one row: T tokens in segments of `segment`. */
static double causal_pairs(double T, double segment)
{
    const double L = segment > 0 && segment < T ? segment : T;
    const double full = floor(T / L), rest = T - full * L;
    return full * L * (L + 1) / 2 + rest * (rest + 1) / 2;
}

/* Softmax attention: 2 (D + DV) per causal pair (q·k, then p v), FlashAttention's count: the
 * exponentials and the online softmax's rescaling are left out. */
static void softmax_cost(const tool_inputs *in, const tool_outputs *out, const tool_opts *opts,
                         double *flops, double *bytes)
{
    family_cost(in, out, 0.0, flops, bytes);
    const double BH = (double)dvk_tensor_dim(KEY(in), 0) * dvk_tensor_dim(KEY(in), 2);
    const double D = (double)dvk_tensor_dim(KEY(in), 3), DV = (double)dvk_tensor_dim(VAL(in), 3);
    *flops = BH * causal_pairs((double)dvk_tensor_dim(KEY(in), 1), opts->segment) * 2 * (D + DV);
}

/* Infini-attention: the segment's softmax attention, then per token 2 D DV for each of the
 * retrieval (with a past memory), the delta rule's correction (with one) and the memory
 * update (when the final memory is stored). The rotations are left out. */
static void infini_cost(const tool_inputs *in, const tool_outputs *out, const tool_opts *opts,
                        double *flops, double *bytes)
{
    const double per_dv = 2.0 * ((in->h0 ? 1 : 0) + (in->h0 && out->ht && opts->delta_rule) +
                                 (out->ht ? 1 : 0));
    family_cost(in, out, per_dv, flops, bytes);
    const double BH = (double)dvk_tensor_dim(KEY(in), 0) * dvk_tensor_dim(KEY(in), 2);
    const double D = (double)dvk_tensor_dim(KEY(in), 3), DV = (double)dvk_tensor_dim(VAL(in), 3);
    *flops += BH * causal_pairs((double)dvk_tensor_dim(KEY(in), 1), 0) * 2 * (D + DV);
}

/* rope: per rotated pair 6 (four products, two sums) and the scale on each element; x read
 * and y written once. */
static void rope_cost(const tool_inputs *in, const tool_outputs *out, const tool_opts *opts,
                      double *flops, double *bytes)
{
    const double D = (double)dvk_tensor_dim(Q(in), 3);
    const double rows = (double)dvk_tensor_numel(Q(in)) / D;
    const double rot = opts->rotary_dim ? opts->rotary_dim : D - fmod(D, 2.0);
    *flops = rows * (3.0 * rot + D);
    *bytes = bytes_of(Q(in)) + bytes_of(out->o);
}

/* A tensor's contents as floats (malloc'd), or NULL (no tensor, or the download failed). */
static float *download_floats(const dvk_tensor *t)
{
    float *x = NULL;
    if (t)
        tool_download_floats(t, &x);
    return x;
}

/* The inputs as host floats, for the C reference. */
typedef struct host_inputs {
    float *t[SLOT_COUNT], *h0, *z0;
    int B, T, H, HV, K, V, N;
    double *o, *ht, *zt;
    bool ok;
} host_inputs;

static host_inputs host_copy(const tool_inputs *in, size_t o_per_token)
{
    host_inputs h = {.ok = true};
    h.B = (int)dvk_tensor_dim(KEY(in), 0), h.T = (int)dvk_tensor_dim(KEY(in), 1);
    h.H = (int)dvk_tensor_dim(KEY(in), 2), h.K = (int)dvk_tensor_dim(KEY(in), 3);
    h.HV = (int)dvk_tensor_dim(VAL(in), 2), h.V = (int)dvk_tensor_dim(VAL(in), 3);
    h.N = in->cu_seqlens ? (int)in->num_seqs : h.B;
    for (int i = 0; i < SLOT_COUNT; ++i) {
        h.t[i] = download_floats(in->t[i]);
        h.ok &= !in->t[i] || h.t[i];
    }
    h.h0 = download_floats(in->h0);
    h.ok &= !in->h0 || h.h0;
    h.z0 = download_floats(in->z0);
    h.ok &= !in->z0 || h.z0;
    h.o = malloc(sizeof(double) * (size_t)h.B * h.T * o_per_token);
    h.ht = malloc(sizeof(double) * (size_t)h.N * h.HV * h.K * h.V);
    h.zt = malloc(sizeof(double) * (size_t)h.N * h.H * h.K);
    h.ok &= h.o && h.ht && h.zt;
    return h;
}

static void host_free(host_inputs *h)
{
    for (int i = 0; i < SLOT_COUNT; ++i)
        free(h->t[i]);
    free(h->h0), free(h->z0), free(h->o), free(h->ht), free(h->zt);
}

/* Runs `call`, a C reference returning 0 on success, and sets ms to its wall time in
 * milliseconds (ms is left as it was when the call fails). */
#define TIME_REFERENCE(ms, call)                                                                  \
    do {                                                                                          \
        struct timespec t0_, t1_;                                                                 \
        clock_gettime(CLOCK_MONOTONIC, &t0_);                                                     \
        const int rc_ = (call);                                                                   \
        clock_gettime(CLOCK_MONOTONIC, &t1_);                                                     \
        if (rc_ == 0)                                                                             \
            (ms) = tool_elapsed_ms(&t0_, &t1_);                                                   \
    } while (0)

static double delta_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    host_inputs h = host_copy(in, (size_t)dvk_tensor_dim(VAL(in), 2) * dvk_tensor_dim(VAL(in), 3));
    double ms = -1.0;
    if (h.ok) {
        const dvk_ref_delta_rule_args a = {
            .B = h.B, .T = h.T, .H = h.H, .HV = h.HV, .K = h.K, .V = h.V, .q = h.t[SLOT_Q],
            .k = h.t[SLOT_K], .v = h.t[SLOT_V], .beta = h.t[SLOT_BETA], .g = h.t[SLOT_G],
            .h0 = h.h0, .cu_seqlens = in->cu_seqlens, .num_seqs = (int)in->num_seqs,
            .l2norm_qk = opts->l2norm_qk, .scale = in->scale, .o = h.o, .ht = h.ht,
        };
        TIME_REFERENCE(ms, dvk_ref_delta_rule(&a));
    }
    host_free(&h);
    return ms;
}

static double kda_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    host_inputs h = host_copy(in, (size_t)dvk_tensor_dim(VAL(in), 2) * dvk_tensor_dim(VAL(in), 3));
    double ms = -1.0;
    if (h.ok) {
        const dvk_ref_kda_args a = {
            .B = h.B, .T = h.T, .H = h.H, .HV = h.HV, .K = h.K, .V = h.V, .q = h.t[SLOT_Q],
            .k = h.t[SLOT_K], .v = h.t[SLOT_V], .g = h.t[SLOT_G], .beta = h.t[SLOT_BETA],
            .gate_in_kernel = opts->gate_in_kernel, .A_log = h.t[SLOT_A_LOG],
            .dt_bias = h.t[SLOT_DT_BIAS], .beta_sigmoid = opts->beta_sigmoid, .h0 = h.h0,
            .cu_seqlens = in->cu_seqlens, .num_seqs = (int)in->num_seqs,
            .l2norm_qk = opts->l2norm_qk, .scale = in->scale, .o = h.o, .ht = h.ht,
        };
        TIME_REFERENCE(ms, dvk_ref_kda(&a));
    }
    host_free(&h);
    return ms;
}

/* dplr and rwkv7 (whose a and b slots hold kappa and alpha). */
static double dplr_reference(const tool_inputs *in, const tool_opts *opts, bool rwkv7)
{
    const bool key = !rwkv7 && opts->readout == DVK_READOUT_KEY;
    const size_t od = key ? dvk_tensor_dim(KEY(in), 3) : dvk_tensor_dim(VAL(in), 3);
    host_inputs h = host_copy(in, (size_t)dvk_tensor_dim(VAL(in), 2) * od);
    double ms = -1.0;
    if (h.ok && rwkv7) {
        const dvk_ref_rwkv7_args a = {
            .B = h.B, .T = h.T, .H = h.H, .K = h.K, .V = h.V, .r = h.t[SLOT_Q],
            .w = h.t[SLOT_G], .k = h.t[SLOT_K], .v = h.t[SLOT_V], .kappa = h.t[SLOT_A],
            .alpha = h.t[SLOT_B], .h0 = h.h0, .cu_seqlens = in->cu_seqlens,
            .num_seqs = (int)in->num_seqs, .scale = in->scale, .o = h.o, .ht = h.ht,
        };
        TIME_REFERENCE(ms, dvk_ref_rwkv7(&a));
    } else if (h.ok) {
        const dvk_ref_dplr_args a = {
            .B = h.B, .T = h.T, .H = h.H, .K = h.K, .V = h.V, .q = h.t[SLOT_Q],
            .k = h.t[SLOT_K], .v = h.t[SLOT_V], .a = h.t[SLOT_A], .b = h.t[SLOT_B],
            .gk = h.t[SLOT_G], .h0 = h.h0, .cu_seqlens = in->cu_seqlens,
            .num_seqs = (int)in->num_seqs, .readout_key = key, .scale = in->scale, .o = h.o,
            .ht = h.ht,
        };
        TIME_REFERENCE(ms, dvk_ref_dplr(&a));
    }
    host_free(&h);
    return ms;
}

static double dplr_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    return dplr_reference(in, opts, false);
}

static double rwkv7_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    return dplr_reference(in, opts, true);
}

static double linear_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    host_inputs h = host_copy(in, (size_t)dvk_tensor_dim(VAL(in), 2) * dvk_tensor_dim(VAL(in), 3));
    double ms = -1.0;
    if (h.ok) {
        const dvk_ref_linear_attn_args a = {
            .B = h.B, .T = h.T, .H = h.H, .K = h.K, .V = h.V, .q = h.t[SLOT_Q],
            .k = h.t[SLOT_K], .v = h.t[SLOT_V], .done = h.t[SLOT_DONE], .h0 = h.h0, .z0 = h.z0,
            .cu_seqlens = in->cu_seqlens, .num_seqs = (int)in->num_seqs,
            .elu1 = opts->feature_map == DVK_FEATURE_ELU1, .normalize = !opts->no_normalize,
            .eps = opts->eps, .eps_add = opts->eps_add, .scale = in->scale, .o = h.o,
            .ht = h.ht, .zt = h.zt,
        };
        TIME_REFERENCE(ms, dvk_ref_linear_attn(&a));
    }
    host_free(&h);
    return ms;
}

static double softmax_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    host_inputs h = host_copy(in, (size_t)dvk_tensor_dim(VAL(in), 2) * dvk_tensor_dim(VAL(in), 3));
    double ms = -1.0;
    if (h.ok) {
        const dvk_ref_softmax_attn_args a = {
            .B = h.B, .T = h.T, .H = h.H, .D = h.K, .DV = h.V, .q = h.t[SLOT_Q],
            .k = h.t[SLOT_K], .v = h.t[SLOT_V], .segment = (int)opts->segment,
            .scale = in->scale, .o = h.o,
        };
        TIME_REFERENCE(ms, dvk_ref_softmax_attn(&a));
    }
    host_free(&h);
    return ms;
}

static double infini_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    host_inputs h = host_copy(in, (size_t)dvk_tensor_dim(VAL(in), 2) * dvk_tensor_dim(VAL(in), 3));
    double ms = -1.0;
    if (h.ok) {
        const dvk_ref_infini_attn_args a = {
            .B = h.B, .T = h.T, .H = h.H, .D = h.K, .DV = h.V, .q = h.t[SLOT_Q],
            .k = h.t[SLOT_K], .v = h.t[SLOT_V], .gate = h.t[SLOT_GATE], .mem0 = h.h0,
            .z0 = h.z0, .delta_rule = opts->delta_rule, .rope = !opts->no_rope,
            .rope_theta = opts->rope_theta, .scale = in->scale, .eps = opts->eps, .o = h.o,
            .mem = h.ht, .z = h.zt,
        };
        TIME_REFERENCE(ms, dvk_ref_infini_attn(&a));
    }
    host_free(&h);
    return ms;
}

static double rope_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    const dvk_tensor *x = Q(in);
    float *xh = download_floats(x);
    double *y = malloc(sizeof(double) * dvk_tensor_numel(x));
    double ms = -1.0;
    if (xh && y) {
        const dvk_ref_rope_args a = {
            .B = (int)dvk_tensor_dim(x, 0), .T = (int)dvk_tensor_dim(x, 1),
            .H = (int)dvk_tensor_dim(x, 2), .D = (int)dvk_tensor_dim(x, 3), .x = xh,
            .rotary_dim = (int)opts->rotary_dim, .theta = opts->rope_theta,
            .offset = (int)opts->rope_offset, .scale = in->scale, .y = y,
        };
        TIME_REFERENCE(ms, dvk_ref_rope(&a));
    }
    free(xh);
    free(y);
    return ms;
}

/* ---- bench's report of the operators' own options ------------------------------------------ */

static void linear_describe(const tool_opts *o, bool json, char *buf, size_t len)
{
    const char *fm = o->feature_map == DVK_FEATURE_ELU1 ? "elu1" : "identity";
    const double eps = o->eps != 0.0f ? o->eps : 1e-6; /* the library's default */
    if (json)
        snprintf(buf, len, ", \"feature_map\": \"%s\", \"normalize\": %s, \"eps\": %g, "
                 "\"eps_add\": %s", fm, o->no_normalize ? "false" : "true", eps,
                 o->eps_add ? "true" : "false");
    else if (o->no_normalize)
        snprintf(buf, len, ", feature map %s, not normalised", fm);
    else
        snprintf(buf, len, ", feature map %s, normalised (%s eps %g)", fm,
                 o->eps_add ? "q'.z +" : "max with", eps);
}

static void softmax_describe(const tool_opts *o, bool json, char *buf, size_t len)
{
    if (json)
        snprintf(buf, len, ", \"segment\": %u", o->segment);
    else if (o->segment)
        snprintf(buf, len, ", segments of %u", o->segment);
    else
        snprintf(buf, len, ", one segment (plain causal)");
}

static void infini_describe(const tool_opts *o, bool json, char *buf, size_t len)
{
    const double theta = o->rope_theta != 0.0f ? o->rope_theta : 10000.0;
    const double eps = o->eps != 0.0f ? o->eps : 1e-10; /* the library's defaults */
    if (json)
        snprintf(buf, len, ", \"rope\": %s, \"rope_theta\": %g, \"delta_rule\": %s, "
                 "\"eps\": %g", o->no_rope ? "false" : "true", theta,
                 o->delta_rule ? "true" : "false", eps);
    else if (o->no_rope)
        snprintf(buf, len, ", no rope, %s memory update, eps %g",
                 o->delta_rule ? "delta-rule" : "linear", eps);
    else
        snprintf(buf, len, ", rope theta %g, %s memory update, eps %g", theta,
                 o->delta_rule ? "delta-rule" : "linear", eps);
}

static void rope_describe(const tool_opts *o, bool json, char *buf, size_t len)
{
    const double theta = o->rope_theta != 0.0f ? o->rope_theta : 10000.0;
    if (json)
        snprintf(buf, len, ", \"theta\": %g, \"offset\": %u, \"rotary_dim\": %u", theta,
                 o->rope_offset, o->rotary_dim);
    else if (o->rotary_dim)
        snprintf(buf, len, ", theta %g, offset %u, rotary dim %u", theta, o->rope_offset,
                 o->rotary_dim);
    else
        snprintf(buf, len, ", theta %g, offset %u, every pair rotated", theta, o->rope_offset);
}

static const tool_input delta_inputs[] = {
    {"q", SLOT_Q, KIND_QUERY, 0}, {"k", SLOT_K, KIND_KEY, 0},
    {"v", SLOT_V, KIND_VALUE, 0}, {"beta", SLOT_BETA, KIND_BETA, 0}, {NULL, 0, 0, 0},
};
static const tool_input gated_inputs[] = {
    {"q", SLOT_Q, KIND_QUERY, 0},       {"k", SLOT_K, KIND_KEY, 0},
    {"v", SLOT_V, KIND_VALUE, 0},       {"beta", SLOT_BETA, KIND_BETA, 0},
    {"g", SLOT_G, KIND_GATE_HEAD, 0},   {NULL, 0, 0, 0},
};
static const tool_input kda_inputs[] = {
    {"q", SLOT_Q, KIND_QUERY, 0},       {"k", SLOT_K, KIND_KEY, 0},
    {"v", SLOT_V, KIND_VALUE, 0},       {"g", SLOT_G, KIND_GATE_CH, 0},
    {"beta", SLOT_BETA, KIND_BETA, 0},  {"A_log", SLOT_A_LOG, KIND_A_LOG, IN_GATE_IN_KERNEL},
    {"dt_bias", SLOT_DT_BIAS, KIND_DT_BIAS, IN_GATE_IN_KERNEL | IN_OPTIONAL},
    {NULL, 0, 0, 0},
};
static const tool_input dplr_inputs[] = {
    {"q", SLOT_Q, KIND_QUERY, 0},  {"k", SLOT_K, KIND_KEY, 0},
    {"v", SLOT_V, KIND_VALUE, 0},  {"a", SLOT_A, KIND_DPLR_A, 0},
    {"b", SLOT_B, KIND_DPLR_B, 0}, {"gk", SLOT_G, KIND_GATE_RWKV, 0},
    {NULL, 0, 0, 0},
};
static const tool_input rwkv7_inputs[] = {
    {"r", SLOT_Q, KIND_QUERY, 0},   {"w", SLOT_G, KIND_GATE_RWKV, 0},
    {"k", SLOT_K, KIND_KEY, 0},     {"v", SLOT_V, KIND_VALUE, 0},
    {"kk", SLOT_A, KIND_KAPPA, 0},  {"a", SLOT_B, KIND_ALPHA, 0},
    {NULL, 0, 0, 0},
};
static const tool_input linear_inputs[] = {
    {"q", SLOT_Q, KIND_FEATURE, 0}, {"k", SLOT_K, KIND_FEATURE, 0},
    {"v", SLOT_V, KIND_VALUE, 0},   {"done", SLOT_DONE, KIND_DONE, IN_OPTIONAL},
    {NULL, 0, 0, 0},
};
static const tool_input softmax_inputs[] = {
    {"q", SLOT_Q, KIND_NORMAL, 0}, {"k", SLOT_K, KIND_NORMAL, 0},
    {"v", SLOT_V, KIND_VALUE, 0},  {NULL, 0, 0, 0},
};
static const tool_input rope_inputs[] = {
    {"x", SLOT_Q, KIND_NORMAL, 0}, {NULL, 0, 0, 0},
};
static const tool_input infini_inputs[] = {
    {"q", SLOT_Q, KIND_NORMAL, 0}, {"k", SLOT_K, KIND_NORMAL, 0},
    {"v", SLOT_V, KIND_VALUE, 0},  {"gate", SLOT_GATE, KIND_HEAD_GATE, 0},
    {NULL, 0, 0, 0},
};

static const tool_op ops[] = {
    {"delta_rule", "DeltaNet delta rule (q, k, v, beta)", delta_inputs, STATE_S, true,
     delta_outputs, delta_record, delta_cost, delta_reference_ms, NULL, NULL},
    {"gated_delta_rule", "Gated DeltaNet (q, k, v, beta, g)", gated_inputs, STATE_S, true,
     delta_outputs, gated_record, delta_cost, delta_reference_ms, NULL, NULL},
    {"kda", "Kimi Delta Attention (q, k, v, g, beta; A_log, dt_bias with --gate-in-kernel)",
     kda_inputs, STATE_S, true, delta_outputs, kda_record, delta_cost, kda_reference_ms, NULL,
     NULL},
    {"dplr", "generalized delta rule (q, k, v, a, b, gk; --readout key for Memodo)",
     dplr_inputs, STATE_S, true, dplr_outputs, dplr_record, dplr_cost, dplr_reference_ms,
     NULL, NULL},
    {"rwkv7", "RWKV-7 time mixing (r, w, k, v, kk, a: a = -kk, b = kk*a)", rwkv7_inputs,
     STATE_S, true, delta_outputs, rwkv7_record, dplr_cost, rwkv7_reference_ms, NULL, NULL},
    {"linear_attn", "normalised linear attention (q, k, v, optional done; h0, z0 -> ht, z)",
     linear_inputs, STATE_S_Z, true, linear_outputs, linear_record, linear_cost,
     linear_reference_ms, linear_describe, NULL},
    {"softmax_attn", "causal softmax attention in segments (q, k, v; --segment N)",
     softmax_inputs, STATE_NONE, false, softmax_outputs, softmax_record, softmax_cost,
     softmax_reference_ms, softmax_describe, NULL},
    {"infini_attn", "one Infini-attention segment (q, k, v, gate; past memory h0, z0 -> ht, z)",
     infini_inputs, STATE_S_Z, false, linear_outputs, infini_record, infini_cost,
     infini_reference_ms, infini_describe, NULL},
    {"rope", "rotary embedding, interleaved pairs (x -> y; --rope-theta, --offset)",
     rope_inputs, STATE_NONE, false, rope_outputs, rope_record, rope_cost, rope_reference_ms,
     rope_describe, "y"},
};

const tool_op *tool_find_op(const char *name)
{
    for (size_t i = 0; name && i < sizeof ops / sizeof ops[0]; ++i)
        if (strcmp(ops[i].name, name) == 0)
            return &ops[i];
    return NULL;
}

const tool_op *tool_find_op_or_explain(const char *name)
{
    const tool_op *op = tool_find_op(name);
    if (!op) {
        fprintf(stderr, "dvk: unknown operator \"%s\"; operators:\n", name);
        tool_print_ops();
    }
    return op;
}

void tool_print_ops(void)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; ++i)
        printf("  %-20s %s\n", ops[i].name, ops[i].summary);
}

/* Whether this run of the operator takes input `in` (the gate parameters only with
 * --gate-in-kernel). */
static bool takes(const tool_input *in, const tool_opts *opts)
{
    return !(in->flags & IN_GATE_IN_KERNEL) || opts->gate_in_kernel;
}

/* ---- inputs from a file ----------------------------------------------------------------- */

static dvk_dtype slot_dtype(tool_slot slot, const tool_opts *opts)
{
    if (slot == SLOT_A_LOG || slot == SLOT_DT_BIAS || slot == SLOT_GATE)
        return DVK_DTYPE_F32;
    return opts->dtype ? opts->dtype : DVK_DTYPE_F32;
}

/* What the file's loader asks of the operator: which tensors go to the device, and which of
 * them stay fp32 whatever --dtype says (states, the gate parameters). */
typedef struct load_plan {
    const tool_op *op;
    const tool_opts *opts;
} load_plan;

/* The operator's input called `name` that this run takes, or NULL. */
static const tool_input *input_named(const load_plan *p, const char *name)
{
    for (const tool_input *i = p->op->inputs; i->name; ++i)
        if (takes(i, p->opts) && strcmp(i->name, name) == 0)
            return i;
    return NULL;
}

static bool is_state(const load_plan *p, const char *name)
{
    return (p->op->state != STATE_NONE && strcmp(name, "h0") == 0) ||
           (p->op->state == STATE_S_Z && strcmp(name, "z0") == 0);
}

/* Only the inputs go to the device: a file may hold more (o, ht, ...), and cu_seqlens and
 * scale are read on the host. */
static bool load_filter(void *user, const char *name)
{
    const load_plan *p = user;
    return input_named(p, name) || is_state(p, name);
}

static dvk_dtype load_dtype(void *user, const char *name, dvk_dtype chosen)
{
    (void)chosen;
    const load_plan *p = user;
    const tool_input *i = input_named(p, name);
    return i ? slot_dtype(i->slot, p->opts) : DVK_DTYPE_F32; /* states: fp32 */
}

/* The device tensor of input `name` (absent: *out stays NULL). Inputs must be float tensors
 * of 1 to 4 dimensions; token tensors are in --dtype (default f32). */
static int take_input(dvk_weights *w, const char *name, dvk_dtype want, dvk_tensor **out)
{
    dvk_weights_entry e;
    if (dvk_weights_find(w, name, &e) != DVK_SUCCESS)
        return TOOL_OK;
    if (e.ndim < 1 || e.ndim > DVK_MAX_DIMS) {
        fprintf(stderr, "dvk: input %s has %u dimensions (1 to %d expected)\n", name, e.ndim,
                DVK_MAX_DIMS);
        return TOOL_FAIL;
    }
    if (e.dtype == DVK_DTYPE_I32) {
        fprintf(stderr, "dvk: input %s has dtype %s; a float dtype is expected\n", name,
                e.file_dtype);
        return TOOL_FAIL;
    }
    if (e.numel == 0) {
        fprintf(stderr, "dvk: input %s has no elements\n", name);
        return TOOL_FAIL;
    }
    char what[64];
    snprintf(what, sizeof what, "input %s", name);
    const dvk_status st = dvk_weights_get(w, name, out);
    if (st != DVK_SUCCESS)
        return tool_fail_status(what, st);
    /* without 16-bit storage the library loads f16 as f32; the operator was asked for f16 */
    if (dvk_tensor_dtype(*out) != want)
        return tool_fail_status(what, dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE,
                                                    "the device cannot hold %s tensors",
                                                    dvk_dtype_name(want)));
    return TOOL_OK;
}

/* cu_seqlens: a 1-D integer tensor of at least 2 offsets, each in [0, 2^31). */
static int read_cu_seqlens(dvk_weights *w, const tool_op *op, const tool_opts *opts,
                           tool_inputs *in)
{
    dvk_weights_entry e;
    if (dvk_weights_find(w, "cu_seqlens", &e) != DVK_SUCCESS)
        return TOOL_OK;
    /* ignoring it would run the batch as one sequence: a different result, not a subset */
    if (!op->varlen) {
        fprintf(stderr, "dvk: %s takes no cu_seqlens (variable-length batches), but %s has one\n",
                op->name, opts->in);
        return TOOL_FAIL;
    }
    if (e.ndim != 1 || e.numel < 2 || e.numel > UINT32_MAX) {
        fprintf(stderr, "dvk: cu_seqlens must be a 1-D tensor of at least 2 offsets\n");
        return TOOL_FAIL;
    }
    if (e.dtype != DVK_DTYPE_I32) {
        fprintf(stderr, "dvk: cu_seqlens must hold integers\n");
        return TOOL_FAIL;
    }
    in->cu_seqlens = malloc((size_t)e.numel * sizeof *in->cu_seqlens);
    if (!in->cu_seqlens) {
        fprintf(stderr, "dvk: out of memory reading cu_seqlens\n");
        return TOOL_FAIL;
    }
    const dvk_status st = dvk_weights_read(w, "cu_seqlens", DVK_DTYPE_I32, in->cu_seqlens,
                                           (size_t)e.numel * sizeof *in->cu_seqlens);
    if (st != DVK_SUCCESS) /* a value past int32 */
        return tool_fail_status("cu_seqlens", st);
    for (uint64_t i = 0; i < e.numel; ++i) {
        if (in->cu_seqlens[i] < 0) {
            fprintf(stderr, "dvk: cu_seqlens[%llu] = %lld is out of range\n",
                    (unsigned long long)i, (long long)in->cu_seqlens[i]);
            return TOOL_FAIL;
        }
    }
    in->num_seqs = (uint32_t)(e.numel - 1);
    return TOOL_OK;
}

int tool_load_inputs(dvk_context *ctx, const tool_op *op, const tool_opts *opts, tool_inputs *in)
{
    memset(in, 0, sizeof *in);
    load_plan plan = {op, opts};
    const dvk_weights_desc desc = {
        .dtype = opts->dtype ? opts->dtype : DVK_DTYPE_F32,
        .filter = load_filter,
        .tensor_dtype = load_dtype,
        .user_data = &plan,
    };
    if (dvk_weights_load(ctx, opts->in, &desc, &in->weights) != DVK_SUCCESS) {
        fprintf(stderr, "dvk: %s\n", dvk_last_error());
        return TOOL_FAIL;
    }
    dvk_weights *w = in->weights;
    for (const tool_input *i = op->inputs; i->name; ++i) {
        if (!takes(i, opts))
            continue;
        if (dvk_weights_find(w, i->name, &(dvk_weights_entry){0}) != DVK_SUCCESS) {
            if (i->flags & IN_OPTIONAL)
                continue;
            fprintf(stderr, "dvk: %s needs an input tensor named \"%s\" in %s\n", op->name,
                    i->name, opts->in);
            return TOOL_FAIL;
        }
        if (take_input(w, i->name, slot_dtype(i->slot, opts), &in->t[i->slot]) != TOOL_OK)
            return TOOL_FAIL;
    }
    /* States: absent = zeros (Infini-attention: no past memory, the first segment). */
    if (op->state != STATE_NONE && take_input(w, "h0", DVK_DTYPE_F32, &in->h0) != TOOL_OK)
        return TOOL_FAIL;
    if (op->state == STATE_S_Z && take_input(w, "z0", DVK_DTYPE_F32, &in->z0) != TOOL_OK)
        return TOOL_FAIL;
    if (read_cu_seqlens(w, op, opts, in) != TOOL_OK)
        return TOOL_FAIL;
    dvk_weights_entry sc;
    if (dvk_weights_find(w, "scale", &sc) == DVK_SUCCESS) {
        if (sc.numel != 1) {
            fprintf(stderr, "dvk: scale must hold one number\n");
            return TOOL_FAIL;
        }
        const dvk_status st = dvk_weights_read(w, "scale", DVK_DTYPE_F32, &in->scale,
                                               sizeof in->scale);
        if (st != DVK_SUCCESS)
            return tool_fail_status("scale", st);
    }
    if (opts->has_scale)
        in->scale = opts->scale;
    return TOOL_OK;
}

/* ---- random inputs ------------------------------------------------------------------------ */

static float rng_normal(uint64_t *s)
{
    const double u1 = ((tool_rng_next(s) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    const double u2 = (tool_rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void l2_normalize_rows(float *x, size_t n, size_t len)
{
    for (size_t r = 0; r < n / len; ++r) {
        double ss = 0.0;
        for (size_t i = 0; i < len; ++i)
            ss += (double)x[r * len + i] * x[r * len + i];
        const float inv = (float)(1.0 / sqrt(ss));
        for (size_t i = 0; i < len; ++i)
            x[r * len + i] *= inv;
    }
}

/* Fills x[n] (rows of `len`) with random values of `kind`. */
static void random_values(tool_kind kind, const tool_opts *o, float *x, size_t n, size_t len,
                          uint64_t *seed)
{
    /* kappa is drawn from its own fixed seed, so a and b of the same call share it */
    uint64_t kappa_seed = 0x6b617070ull;
    switch (kind) {
    case KIND_KEY:
    case KIND_KAPPA:
        for (size_t i = 0; i < n; ++i)
            x[i] = rng_normal(seed);
        l2_normalize_rows(x, n, len);
        break;
    case KIND_BETA:
        for (size_t i = 0; i < n; ++i) {
            const float z = rng_normal(seed);
            x[i] = o->beta_sigmoid ? z : 1.0f / (1.0f + expf(-z));
        }
        break;
    case KIND_GATE_HEAD:
        for (size_t i = 0; i < n; ++i)
            x[i] = -log1pf(expf(-rng_normal(seed))); /* log-sigmoid: a decay in (0, 1) */
        break;
    case KIND_GATE_CH:
        for (size_t i = 0; i < n; ++i) {
            const float z = rng_normal(seed);
            x[i] = o->gate_in_kernel ? z : -log1pf(expf(-(z + 2.0f)));
        }
        break;
    case KIND_GATE_RWKV:
        for (size_t i = 0; i < n; ++i)
            x[i] = -expf(-0.5f) / (1.0f + expf(-rng_normal(seed)));
        break;
    case KIND_DPLR_A:
    case KIND_DPLR_B:
        for (size_t i = 0; i < n; ++i)
            x[i] = rng_normal(&kappa_seed);
        l2_normalize_rows(x, n, len);
        for (size_t i = 0; i < n; ++i)
            x[i] = kind == KIND_DPLR_A ? -x[i] : x[i] * tool_rng_uniform(seed);
        break;
    case KIND_ALPHA:
        for (size_t i = 0; i < n; ++i)
            x[i] = tool_rng_uniform(seed);
        break;
    case KIND_A_LOG:
        for (size_t i = 0; i < n; ++i)
            x[i] = 0.5f * rng_normal(seed);
        break;
    case KIND_FEATURE:
        /* with the identity map the caller has applied its own: positive features, as elu + 1
         * makes them, so the normaliser q'.z stays positive */
        for (size_t i = 0; i < n; ++i) {
            const float z = rng_normal(seed);
            x[i] = o->feature_map == DVK_FEATURE_ELU1 ? z : z > 0.0f ? z + 1.0f : expf(z);
        }
        break;
    case KIND_DONE: /* about one episode start in 256 tokens */
        for (size_t i = 0; i < n; ++i)
            x[i] = tool_rng_uniform(seed) < 1.0f / 256.0f ? 1.0f : 0.0f;
        break;
    case KIND_QUERY:
    case KIND_VALUE:
    case KIND_DT_BIAS:
    case KIND_NORMAL:
    case KIND_HEAD_GATE:
    default:
        for (size_t i = 0; i < n; ++i)
            x[i] = rng_normal(seed);
        break;
    }
}

static int random_tensor(dvk_context *ctx, const tool_input *in, const tool_opts *o,
                         uint64_t *seed, dvk_tensor **out)
{
    const uint32_t HV = o->HV ? o->HV : o->H;
    uint64_t shape[4] = {o->B, o->T, o->H, o->K};
    uint32_t ndim = 4;
    if (in->kind == KIND_QUERY && o->readout == DVK_READOUT_KEY)
        shape[3] = o->V;
    else if (in->kind == KIND_VALUE)
        shape[2] = HV, shape[3] = o->V;
    else if (in->kind == KIND_BETA || in->kind == KIND_GATE_HEAD)
        shape[2] = HV, ndim = 3;
    else if (in->kind == KIND_GATE_CH)
        shape[2] = HV;
    else if (in->kind == KIND_A_LOG)
        shape[0] = HV, ndim = 1;
    else if (in->kind == KIND_DT_BIAS)
        shape[0] = (uint64_t)HV * o->K, ndim = 1;
    else if (in->kind == KIND_DONE)
        ndim = 2;
    else if (in->kind == KIND_HEAD_GATE)
        shape[0] = o->H, ndim = 1;
    size_t n = 1;
    for (uint32_t i = 0; i < ndim; ++i)
        n *= shape[i];
    float *x = malloc(n * sizeof *x);
    if (!x) {
        fprintf(stderr, "dvk: out of host memory for %zu random values\n", n);
        return TOOL_FAIL;
    }
    random_values(in->kind, o, x, n, shape[ndim - 1], seed);
    const dvk_status st = upload_floats(ctx, slot_dtype(in->slot, o), ndim, shape, x, out);
    free(x);
    if (st != DVK_SUCCESS) {
        char what[64];
        snprintf(what, sizeof what, "random input %s", in->name);
        return tool_fail_status(what, st);
    }
    return TOOL_OK;
}

int tool_random_inputs(dvk_context *ctx, const tool_op *op, const tool_opts *o, bool with_state,
                       tool_inputs *in)
{
    memset(in, 0, sizeof *in);
    uint64_t seed = 0x5eed5eedull;
    int rc = TOOL_OK;
    /* optional inputs (done) are left out: bench measures the plain form */
    for (const tool_input *i = op->inputs; i->name && rc == TOOL_OK; ++i)
        if (takes(i, o) && !(i->flags & IN_OPTIONAL))
            rc = random_tensor(ctx, i, o, &seed, &in->t[i->slot]);
    if (with_state && op->state != STATE_NONE && rc == TOOL_OK) {
        const uint32_t HV = o->HV ? o->HV : o->H;
        const uint64_t ss[4] = {o->B, HV, o->K, o->V};
        float *x = malloc(sizeof(float) * o->B * HV * o->K * o->V);
        if (!x)
            return TOOL_FAIL;
        for (size_t i = 0; i < (size_t)o->B * HV * o->K * o->V; ++i)
            x[i] = 0.1f * rng_normal(&seed);
        dvk_status st = upload_floats(ctx, DVK_DTYPE_F32, 4, ss, x, &in->h0);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("random h0", st);
        if (rc == TOOL_OK && op->state == STATE_S_Z) {
            /* a normaliser sums positive features: positive */
            for (size_t i = 0; i < (size_t)o->B * HV * o->K; ++i)
                x[i] = 1.0f + tool_rng_uniform(&seed);
            st = upload_floats(ctx, DVK_DTYPE_F32, 3, ss, x, &in->z0);
            if (st != DVK_SUCCESS)
                rc = tool_fail_status("random z0", st);
        }
        free(x);
    }
    in->scale = o->has_scale ? o->scale : 0.0f;
    return rc;
}
