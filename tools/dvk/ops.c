/* The operators the dvk tool knows, and loading their inputs (from a file or at random).
 * A new operator is one entry in `ops` below plus its make_outputs / record / cost. */
#include "dvk_tool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deltavk_reference.h"

/* ---- tensors ---------------------------------------------------------------------------- */

static dvk_status make_tensor(dvk_context *ctx, dvk_dtype dtype, uint32_t ndim,
                              const uint64_t *shape, dvk_tensor **out)
{
    dvk_tensor_desc d = {.dtype = dtype, .ndim = ndim};
    for (uint32_t i = 0; i < ndim; ++i)
        d.shape[i] = shape[i];
    return dvk_tensor_create(ctx, &d, out);
}

/* Uploads float data into a new tensor of `dtype` (converting to fp16 if asked). */
static dvk_status upload_floats(dvk_context *ctx, dvk_dtype dtype, uint32_t ndim,
                                const uint64_t *shape, const float *data, dvk_tensor **out)
{
    dvk_status st = make_tensor(ctx, dtype, ndim, shape, out);
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
    dvk_tensor_destroy(in->q);
    dvk_tensor_destroy(in->k);
    dvk_tensor_destroy(in->v);
    dvk_tensor_destroy(in->beta);
    dvk_tensor_destroy(in->g);
    dvk_tensor_destroy(in->h0);
    free(in->cu_seqlens);
    memset(in, 0, sizeof *in);
}

void tool_free_outputs(tool_outputs *out)
{
    dvk_tensor_destroy(out->o);
    dvk_tensor_destroy(out->ht);
    memset(out, 0, sizeof *out);
}

/* ---- delta rule family ------------------------------------------------------------------ */

static uint32_t num_seqs(const tool_inputs *in)
{
    return in->cu_seqlens ? in->num_seqs : (uint32_t)dvk_tensor_dim(in->q, 0);
}

static dvk_status delta_outputs(dvk_context *ctx, const tool_inputs *in, bool with_state,
                                tool_outputs *out)
{
    const uint64_t so[4] = {dvk_tensor_dim(in->v, 0), dvk_tensor_dim(in->v, 1),
                            dvk_tensor_dim(in->v, 2), dvk_tensor_dim(in->v, 3)};
    dvk_status st = make_tensor(ctx, dvk_tensor_dtype(in->v), 4, so, &out->o);
    if (st == DVK_SUCCESS && with_state) {
        const uint64_t ss[4] = {num_seqs(in), dvk_tensor_dim(in->v, 2), dvk_tensor_dim(in->q, 3),
                                dvk_tensor_dim(in->v, 3)};
        st = make_tensor(ctx, DVK_DTYPE_F32, 4, ss, &out->ht);
    }
    return st;
}

static dvk_delta_rule_desc delta_desc(const tool_inputs *in, const tool_outputs *out,
                                      const tool_opts *opts)
{
    return (dvk_delta_rule_desc){
        .q = in->q, .k = in->k, .v = in->v, .beta = in->beta, .g = in->g, .o = out->o,
        .initial_state = in->h0, .final_state = out->ht, .scale = in->scale,
        .mode = opts->mode, .cu_seqlens = in->cu_seqlens, .num_seqs = in->cu_seqlens ? in->num_seqs : 0,
        .l2norm_qk = opts->l2norm_qk,
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

static double bytes_of(const dvk_tensor *t) { return t ? (double)dvk_tensor_bytes(t) : 0.0; }

/* Recurrent form: per token and value head, S'ᵀk, k uᵀ and Sᵀq are 2KV flops each, the gate
 * KV more. (The chunked form does more arithmetic for the same result; this counts the
 * problem, so rates compare across modes.) */
static void delta_cost(const tool_inputs *in, const tool_outputs *out, const tool_opts *opts,
                       double *flops, double *bytes)
{
    (void)opts;
    const double tokens = (double)dvk_tensor_dim(in->v, 0) * dvk_tensor_dim(in->v, 1);
    const double HV = (double)dvk_tensor_dim(in->v, 2), K = (double)dvk_tensor_dim(in->q, 3),
                 V = (double)dvk_tensor_dim(in->v, 3);
    *flops = tokens * HV * K * V * (in->g ? 7.0 : 6.0);
    *bytes = bytes_of(in->q) + bytes_of(in->k) + bytes_of(in->v) + bytes_of(in->beta) +
             bytes_of(in->g) + bytes_of(in->h0) + bytes_of(out->o) + bytes_of(out->ht);
}

/* A tensor's contents as floats (malloc'd), or NULL. */
static float *download_floats(const dvk_tensor *t)
{
    if (!t)
        return NULL;
    const size_t n = dvk_tensor_numel(t);
    float *x = malloc(n * sizeof *x);
    if (!x)
        return NULL;
    if (dvk_tensor_dtype(t) == DVK_DTYPE_F16) {
        uint16_t *h = malloc(n * sizeof *h);
        if (!h || dvk_tensor_download(t, h, n * sizeof *h) != DVK_SUCCESS) {
            free(h), free(x);
            return NULL;
        }
        for (size_t i = 0; i < n; ++i)
            x[i] = dvk_f16_to_f32(h[i]);
        free(h);
    } else if (dvk_tensor_download(t, x, n * sizeof *x) != DVK_SUCCESS) {
        free(x);
        return NULL;
    }
    return x;
}

static double delta_reference_ms(const tool_inputs *in, const tool_opts *opts)
{
    const int B = (int)dvk_tensor_dim(in->q, 0), T = (int)dvk_tensor_dim(in->q, 1);
    const int H = (int)dvk_tensor_dim(in->q, 2), K = (int)dvk_tensor_dim(in->q, 3);
    const int HV = (int)dvk_tensor_dim(in->v, 2), V = (int)dvk_tensor_dim(in->v, 3);
    const int N = in->cu_seqlens ? (int)in->num_seqs : B;
    float *q = download_floats(in->q), *k = download_floats(in->k), *v = download_floats(in->v);
    float *beta = download_floats(in->beta), *g = download_floats(in->g);
    float *h0 = download_floats(in->h0);
    double *o = malloc(sizeof(double) * (size_t)B * T * HV * V);
    double *ht = malloc(sizeof(double) * (size_t)N * HV * K * V);
    double ms = -1.0;
    if (q && k && v && beta && o && ht && (g || !in->g)) {
        const dvk_ref_delta_rule_args a = {
            .B = B, .T = T, .H = H, .HV = HV, .K = K, .V = V, .q = q, .k = k, .v = v,
            .beta = beta, .g = g, .h0 = h0, .cu_seqlens = in->cu_seqlens,
            .num_seqs = (int)in->num_seqs, .l2norm_qk = opts->l2norm_qk, .scale = in->scale,
            .o = o, .ht = ht,
        };
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        const int rc = dvk_ref_delta_rule(&a);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (rc == 0)
            ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6;
    }
    free(q), free(k), free(v), free(beta), free(g), free(h0), free(o), free(ht);
    return ms;
}

static const char *const delta_inputs[] = {"q", "k", "v", "beta", NULL};
static const char *const gated_inputs[] = {"q", "k", "v", "beta", "g", NULL};

static const tool_op ops[] = {
    {"delta_rule", "DeltaNet delta rule (q, k, v, beta; h0, scale, cu_seqlens)", delta_inputs,
     delta_outputs, delta_record, delta_cost, delta_reference_ms},
    {"gated_delta_rule", "Gated DeltaNet (q, k, v, beta, g; h0, scale, cu_seqlens)",
     gated_inputs, delta_outputs, gated_record, delta_cost, delta_reference_ms},
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

static bool needs(const tool_op *op, const char *name)
{
    for (const char *const *n = op->inputs; *n; ++n)
        if (strcmp(*n, name) == 0)
            return true;
    return false;
}

/* ---- inputs from a file ----------------------------------------------------------------- */

/* Loads one named tensor as floats into a device tensor of `dtype`. */
static int load_one(dvk_context *ctx, const dvk_st_file *f, const char *name, dvk_dtype dtype,
                    dvk_tensor **out)
{
    const dvk_st_tensor *t = dvk_st_find(f, name);
    if (!t)
        return TOOL_OK;
    if (t->ndim < 1 || t->ndim > DVK_MAX_DIMS) {
        fprintf(stderr, "dvk: input %s has %u dimensions (1 to %d expected)\n", name, t->ndim,
                DVK_MAX_DIMS);
        return TOOL_FAIL;
    }
    if (t->dtype != DVK_ST_F64 && t->dtype != DVK_ST_F32 && t->dtype != DVK_ST_F16 &&
        t->dtype != DVK_ST_BF16) {
        fprintf(stderr, "dvk: input %s has dtype %s; a float dtype is expected\n", name,
                dvk_st_dtype_name(t->dtype));
        return TOOL_FAIL;
    }
    float *data = malloc((size_t)t->numel * sizeof *data);
    if (!data) {
        fprintf(stderr, "dvk: out of memory loading %s\n", name);
        return TOOL_FAIL;
    }
    dvk_st_to_f32(t, data);
    const dvk_status st = upload_floats(ctx, dtype, t->ndim, t->shape, data, out);
    free(data);
    if (st != DVK_SUCCESS) {
        char what[64];
        snprintf(what, sizeof what, "input %s", name);
        return tool_fail_status(what, st);
    }
    return TOOL_OK;
}

int tool_load_inputs(dvk_context *ctx, const tool_op *op, const dvk_st_file *f,
                     const tool_opts *opts, tool_inputs *in)
{
    memset(in, 0, sizeof *in);
    for (const char *const *n = op->inputs; *n; ++n) {
        if (!dvk_st_find(f, *n)) {
            fprintf(stderr, "dvk: %s needs an input tensor named \"%s\" in %s\n", op->name, *n,
                    opts->in);
            return TOOL_FAIL;
        }
    }
    const dvk_dtype dt = opts->dtype ? opts->dtype : DVK_DTYPE_F32;
    struct {
        const char *name;
        dvk_tensor **slot;
        dvk_dtype dtype;
    } slots[] = {
        {"q", &in->q, dt},       {"k", &in->k, dt}, {"v", &in->v, dt},
        {"beta", &in->beta, dt}, {"g", &in->g, dt}, {"h0", &in->h0, DVK_DTYPE_F32},
    };
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; ++i) {
        /* Tensors the operator does not take are ignored (a file may hold o, ht, ...). */
        if (!needs(op, slots[i].name) && strcmp(slots[i].name, "h0") != 0)
            continue;
        if (load_one(ctx, f, slots[i].name, slots[i].dtype, slots[i].slot) != TOOL_OK)
            return TOOL_FAIL;
    }
    const dvk_st_tensor *cu = dvk_st_find(f, "cu_seqlens");
    if (cu) {
        if (cu->ndim != 1 || cu->numel < 2 || cu->numel > UINT32_MAX) {
            fprintf(stderr, "dvk: cu_seqlens must be a 1-D tensor of at least 2 offsets\n");
            return TOOL_FAIL;
        }
        int64_t *tmp = malloc((size_t)cu->numel * sizeof *tmp);
        in->cu_seqlens = malloc((size_t)cu->numel * sizeof *in->cu_seqlens);
        if (!tmp || !in->cu_seqlens || dvk_st_to_i64(cu, tmp) != DVK_SUCCESS) {
            fprintf(stderr, "dvk: cu_seqlens must hold integers\n");
            free(tmp);
            return TOOL_FAIL;
        }
        for (uint64_t i = 0; i < cu->numel; ++i) {
            if (tmp[i] < 0 || tmp[i] > INT32_MAX) {
                fprintf(stderr, "dvk: cu_seqlens[%llu] = %lld is out of range\n",
                        (unsigned long long)i, (long long)tmp[i]);
                free(tmp);
                return TOOL_FAIL;
            }
            in->cu_seqlens[i] = (int32_t)tmp[i];
        }
        free(tmp);
        in->num_seqs = (uint32_t)(cu->numel - 1);
    }
    const dvk_st_tensor *sc = dvk_st_find(f, "scale");
    if (sc) {
        if (sc->numel != 1) {
            fprintf(stderr, "dvk: scale must hold one number\n");
            return TOOL_FAIL;
        }
        dvk_st_to_f32(sc, &in->scale);
    }
    if (opts->has_scale)
        in->scale = opts->scale;
    return TOOL_OK;
}

/* ---- random inputs ------------------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

static float rng_normal(uint64_t *s)
{
    const double u1 = ((rng_next(s) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    const double u2 = (rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static int random_tensor(dvk_context *ctx, const char *kind, dvk_dtype dtype, uint32_t ndim,
                         const uint64_t *shape, uint64_t *seed, dvk_tensor **out)
{
    size_t n = 1;
    for (uint32_t i = 0; i < ndim; ++i)
        n *= shape[i];
    float *x = malloc(n * sizeof *x);
    if (!x) {
        fprintf(stderr, "dvk: out of host memory for %zu random values\n", n);
        return TOOL_FAIL;
    }
    for (size_t i = 0; i < n; ++i) {
        const float z = rng_normal(seed);
        if (strcmp(kind, "beta") == 0)
            x[i] = 1.0f / (1.0f + expf(-z));
        else if (strcmp(kind, "g") == 0)
            x[i] = -log1pf(expf(-z)); /* log-sigmoid: a decay in (0, 1) */
        else if (strcmp(kind, "h0") == 0)
            x[i] = 0.1f * z;
        else
            x[i] = z;
    }
    if (strcmp(kind, "k") == 0) { /* L2-normalised keys keep the delta rule stable */
        const size_t len = shape[ndim - 1];
        for (size_t r = 0; r < n / len; ++r) {
            double ss = 0.0;
            for (size_t i = 0; i < len; ++i)
                ss += (double)x[r * len + i] * x[r * len + i];
            const float inv = (float)(1.0 / sqrt(ss));
            for (size_t i = 0; i < len; ++i)
                x[r * len + i] *= inv;
        }
    }
    const dvk_status st = upload_floats(ctx, dtype, ndim, shape, x, out);
    free(x);
    if (st != DVK_SUCCESS) {
        char what[64];
        snprintf(what, sizeof what, "random input %s", kind);
        return tool_fail_status(what, st);
    }
    return TOOL_OK;
}

int tool_random_inputs(dvk_context *ctx, const tool_op *op, const tool_opts *o, bool with_state,
                       tool_inputs *in)
{
    memset(in, 0, sizeof *in);
    const uint32_t HV = o->HV ? o->HV : o->H;
    const dvk_dtype dt = o->dtype ? o->dtype : DVK_DTYPE_F32;
    const uint64_t sq[4] = {o->B, o->T, o->H, o->K}, sv[4] = {o->B, o->T, HV, o->V};
    const uint64_t sb[3] = {o->B, o->T, HV}, ss[4] = {o->B, HV, o->K, o->V};
    uint64_t seed = 0x5eed5eedull;
    int rc = TOOL_OK;
    if (needs(op, "q"))
        rc |= random_tensor(ctx, "q", dt, 4, sq, &seed, &in->q);
    if (needs(op, "k"))
        rc |= random_tensor(ctx, "k", dt, 4, sq, &seed, &in->k);
    if (needs(op, "v"))
        rc |= random_tensor(ctx, "v", dt, 4, sv, &seed, &in->v);
    if (needs(op, "beta"))
        rc |= random_tensor(ctx, "beta", dt, 3, sb, &seed, &in->beta);
    if (needs(op, "g"))
        rc |= random_tensor(ctx, "g", dt, 3, sb, &seed, &in->g);
    if (with_state)
        rc |= random_tensor(ctx, "h0", DVK_DTYPE_F32, 4, ss, &seed, &in->h0);
    in->scale = o->has_scale ? o->scale : 0.0f;
    return rc ? TOOL_FAIL : TOOL_OK;
}
