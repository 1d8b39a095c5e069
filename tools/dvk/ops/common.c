/* What the dvk tool's operators share (common.h): freeing inputs and outputs, the delta-rule
 * family's outputs and costs, host copies for the C references, the table of operators, and
 * their inputs loaded from a file (through dvk_weights) or drawn at random. Each operator is a
 * file of its own beside this one (its inputs, make_outputs, record, cost, reference_ms,
 * describe and `tool_op` entry); a new one is such a file, an entry in `ops` below and a line
 * in CMakeLists.txt. */
#include "common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tensors ---------------------------------------------------------------------------- */

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

/* ---- outputs (common.h) ------------------------------------------------------------------ */

uint32_t op_num_seqs(const tool_inputs *in)
{
    return in->cu_seqlens ? in->num_seqs : (uint32_t)dvk_tensor_dim(KEY(in), 0);
}

dvk_status op_family_outputs(dvk_context *ctx, const tool_inputs *in, bool with_state,
                             bool key_readout, tool_outputs *out)
{
    const dvk_tensor *v = VAL(in);
    const uint64_t so[4] = {dvk_tensor_dim(v, 0), dvk_tensor_dim(v, 1), dvk_tensor_dim(v, 2),
                            key_readout ? dvk_tensor_dim(KEY(in), 3) : dvk_tensor_dim(v, 3)};
    dvk_status st = tool_tensor_from(ctx, dvk_tensor_dtype(v), 4, so, NULL, &out->o);
    if (st == DVK_SUCCESS && with_state) {
        const uint64_t ss[4] = {op_num_seqs(in), dvk_tensor_dim(v, 2),
                                dvk_tensor_dim(KEY(in), 3), dvk_tensor_dim(v, 3)};
        st = tool_tensor_from(ctx, DVK_DTYPE_F32, 4, ss, NULL, &out->ht);
    }
    return st;
}

dvk_status op_delta_outputs(dvk_context *ctx, const tool_inputs *in, const tool_opts *opts,
                            bool with_state, tool_outputs *out)
{
    (void)opts;
    return op_family_outputs(ctx, in, with_state, false, out);
}

dvk_status op_normaliser_outputs(dvk_context *ctx, const tool_inputs *in, const tool_opts *opts,
                                 bool with_state, tool_outputs *out)
{
    (void)opts;
    dvk_status st = op_family_outputs(ctx, in, with_state, false, out);
    if (st == DVK_SUCCESS && with_state) {
        const uint64_t sz[3] = {op_num_seqs(in), dvk_tensor_dim(KEY(in), 2),
                                dvk_tensor_dim(KEY(in), 3)};
        st = tool_tensor_from(ctx, DVK_DTYPE_F32, 3, sz, NULL, &out->z);
    }
    return st;
}

/* ---- costs (common.h) -------------------------------------------------------------------- */

double op_bytes_of(const dvk_tensor *t) { return t ? (double)dvk_tensor_bytes(t) : 0.0; }

void op_family_cost(const tool_inputs *in, const tool_outputs *out, double per_kv,
                    double *flops, double *bytes)
{
    const double tokens = (double)dvk_tensor_dim(VAL(in), 0) * dvk_tensor_dim(VAL(in), 1);
    const double HV = (double)dvk_tensor_dim(VAL(in), 2), K = (double)dvk_tensor_dim(KEY(in), 3),
                 V = (double)dvk_tensor_dim(VAL(in), 3);
    *flops = tokens * HV * K * V * per_kv;
    *bytes = op_bytes_of(in->h0) + op_bytes_of(in->z0) + op_bytes_of(out->o) +
             op_bytes_of(out->ht) + op_bytes_of(out->z);
    for (int i = 0; i < SLOT_COUNT; ++i)
        *bytes += op_bytes_of(in->t[i]);
}

void op_delta_cost(const tool_inputs *in, const tool_outputs *out, const tool_opts *opts,
                   double *flops, double *bytes)
{
    (void)opts;
    op_family_cost(in, out, in->t[SLOT_G] ? 7.0 : 6.0, flops, bytes);
}

void op_dplr_cost(const tool_inputs *in, const tool_outputs *out, const tool_opts *opts,
                  double *flops, double *bytes)
{
    (void)opts;
    op_family_cost(in, out, 9.0, flops, bytes);
}

double op_causal_pairs(double T, double segment)
{
    const double L = segment > 0 && segment < T ? segment : T;
    const double full = floor(T / L), rest = T - full * L;
    return full * L * (L + 1) / 2 + rest * (rest + 1) / 2;
}

/* ---- host copies for the C references --------------------------------------------------- */

float *op_download_floats(const dvk_tensor *t)
{
    float *x = NULL;
    if (t)
        tool_download_floats(t, &x);
    return x;
}

op_host op_host_copy(const tool_inputs *in, size_t o_per_token)
{
    op_host h = {.ok = true};
    h.B = (int)dvk_tensor_dim(KEY(in), 0), h.T = (int)dvk_tensor_dim(KEY(in), 1);
    h.H = (int)dvk_tensor_dim(KEY(in), 2), h.K = (int)dvk_tensor_dim(KEY(in), 3);
    h.HV = (int)dvk_tensor_dim(VAL(in), 2), h.V = (int)dvk_tensor_dim(VAL(in), 3);
    h.N = in->cu_seqlens ? (int)in->num_seqs : h.B;
    for (int i = 0; i < SLOT_COUNT; ++i) {
        h.t[i] = op_download_floats(in->t[i]);
        h.ok &= !in->t[i] || h.t[i];
    }
    h.h0 = op_download_floats(in->h0);
    h.ok &= !in->h0 || h.h0;
    h.z0 = op_download_floats(in->z0);
    h.ok &= !in->z0 || h.z0;
    h.o = malloc(sizeof(double) * (size_t)h.B * h.T * o_per_token);
    h.ht = malloc(sizeof(double) * (size_t)h.N * h.HV * h.K * h.V);
    h.zt = malloc(sizeof(double) * (size_t)h.N * h.H * h.K);
    h.ok &= h.o && h.ht && h.zt;
    return h;
}

void op_host_free(op_host *h)
{
    for (int i = 0; i < SLOT_COUNT; ++i)
        free(h->t[i]);
    free(h->h0), free(h->z0), free(h->o), free(h->ht), free(h->zt);
}

/* ---- the table of operators ------------------------------------------------------------ */

static const tool_op *const ops[] = {
    &op_delta_rule,  &op_gated_delta_rule, &op_kda,          &op_dplr, &op_rwkv7,
    &op_linear_attn, &op_softmax_attn,     &op_infini_attn, &op_rope,
};

const tool_op *tool_find_op(const char *name)
{
    for (size_t i = 0; name && i < sizeof ops / sizeof ops[0]; ++i)
        if (strcmp(ops[i]->name, name) == 0)
            return ops[i];
    return NULL;
}

const tool_op *tool_find_op_or_explain(const char *name)
{
    const tool_op *op = tool_find_op(name);
    if (!op) {
        fprintf(stderr, "dvk: unknown operator \"%s\"; operators (dvk functions lists the "
                        "building blocks):\n",
                name);
        tool_print_ops(stderr);
    }
    return op;
}

void tool_print_ops(FILE *f)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; ++i)
        fprintf(f, "  %-20s %s\n", ops[i]->name, ops[i]->summary);
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

/* The dimensions an input of this kind has (random_tensor makes them so). */
static uint32_t kind_ndim(tool_kind kind)
{
    switch (kind) {
    case KIND_A_LOG:
    case KIND_DT_BIAS:
    case KIND_HEAD_GATE:
        return 1;
    case KIND_DONE:
        return 2;
    case KIND_BETA:
    case KIND_GATE_HEAD:
    case KIND_NORMALISER:
        return 3;
    default:
        return 4;
    }
}

/* The device tensor of input `name` (absent: *out stays NULL). Inputs must be float tensors
 * of `ndim` dimensions (the operator's layout: a tensor of other rank would be read with
 * sizes that are not its own); token tensors are in --dtype (default f32). */
static int take_input(dvk_weights *w, const char *name, uint32_t ndim, dvk_dtype want,
                      bool *all_finite,
                      dvk_tensor **out)
{
    dvk_weights_entry e;
    if (dvk_weights_find(w, name, &e) != DVK_SUCCESS)
        return TOOL_OK;
    if (e.ndim != ndim) {
        fprintf(stderr, "dvk: input %s has %u dimension%s; this operator takes it with %u\n",
                name, e.ndim, e.ndim == 1 ? "" : "s", ndim);
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
    return tool_check_input_values(w, name, want == DVK_DTYPE_F16, all_finite);
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
    in->all_finite = true;
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
        if (take_input(w, i->name, kind_ndim(i->kind), slot_dtype(i->slot, opts),
                       &in->all_finite, &in->t[i->slot]) != TOOL_OK)
            return TOOL_FAIL;
    }
    /* States: absent = zeros (Infini-attention: no past memory, the first segment). */
    if (op->state != STATE_NONE &&
        take_input(w, "h0", kind_ndim(KIND_STATE), DVK_DTYPE_F32, &in->all_finite,
                   &in->h0) != TOOL_OK)
        return TOOL_FAIL;
    if (op->state == STATE_S_Z &&
        take_input(w, "z0", kind_ndim(KIND_NORMALISER), DVK_DTYPE_F32, &in->all_finite,
                   &in->z0) != TOOL_OK)
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
        in->all_finite = in->all_finite && isfinite(in->scale);
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
    case KIND_STATE:
        for (size_t i = 0; i < n; ++i)
            x[i] = 0.1f * rng_normal(seed);
        break;
    case KIND_NORMALISER: /* a normaliser sums positive features: positive */
        for (size_t i = 0; i < n; ++i)
            x[i] = 1.0f + tool_rng_uniform(seed);
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

/* Uploads floats into tensor t (converting to fp16 if it is fp16). Unlike tool_tensor_from
 * it converts to nothing else: a bf16 tensor refuses the floats for their size, which is how
 * bench --dtype bf16 reports today that the operators take no bf16. */
static dvk_status upload_floats(dvk_tensor *t, const float *data)
{
    const size_t n = dvk_tensor_numel(t);
    if (dvk_tensor_dtype(t) != DVK_DTYPE_F16)
        return dvk_tensor_upload(t, data, n * sizeof *data);
    uint16_t *h = malloc(n * sizeof *h);
    if (!h)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for %zu values",
                             n);
    for (size_t i = 0; i < n; ++i)
        h[i] = dvk_f32_to_f16(data[i]);
    const dvk_status st = dvk_tensor_upload(t, h, n * sizeof *h);
    free(h);
    return st;
}

/* A new tensor of random values: the device tensor is made first, so that a shape too large
 * for the device (or whose size overflows) is refused before any host memory is sized by it. */
static dvk_status random_upload(dvk_context *ctx, dvk_dtype dtype, uint32_t ndim,
                                const uint64_t *shape, tool_kind kind, const tool_opts *o,
                                uint64_t *seed, dvk_tensor **out)
{
    dvk_status st = tool_tensor_from(ctx, dtype, ndim, shape, NULL, out);
    if (st != DVK_SUCCESS)
        return st;
    const size_t n = dvk_tensor_numel(*out);
    float *x = malloc(n * sizeof *x);
    if (!x)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY,
                             "out of host memory for %zu random values", n);
    random_values(kind, o, x, n, shape[ndim - 1], seed);
    st = upload_floats(*out, x);
    free(x);
    return st;
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
    const dvk_status st =
        random_upload(ctx, slot_dtype(in->slot, o), ndim, shape, in->kind, o, seed, out);
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
        dvk_status st = random_upload(ctx, DVK_DTYPE_F32, 4, ss, KIND_STATE, o, &seed, &in->h0);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("random h0", st);
        if (rc == TOOL_OK && op->state == STATE_S_Z) {
            st = random_upload(ctx, DVK_DTYPE_F32, 3, ss, KIND_NORMALISER, o, &seed, &in->z0);
            if (st != DVK_SUCCESS)
                rc = tool_fail_status("random z0", st);
        }
    }
    in->scale = o->has_scale ? o->scale : 0.0f;
    return rc;
}
