/* The generalized (diagonal-plus-low-rank) delta rule and its RWKV-7 entry on the device
 * against the C references in double (dvk_ref_dplr, dvk_ref_rwkv7): output and final state,
 * recurrent and chunked, both read-out axes, over shapes, dtypes, gate strengths, varlen; a growing state
 * computed faithfully and an overflowing one reported; bad input. */
#include "harness.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum ab_kind {
    AB_RWKV7 = 0, /* RWKV-7's form a = -kappa, b = kappa * alpha: kappa unit, alpha in (0, 1)
                   * (stable); through dvk_rwkv7, kappa and alpha themselves */
    AB_RANDOM,    /* a, b ~ N(0, 0.2^2) */
    AB_GROW,      /* a = b = 0.35 n, one unit vector n: the state grows 1.1225x per token */
} ab_kind;

typedef struct dplr_case {
    const char *name;
    int B, T, H, K, V;
    dvk_dtype dtype;
    bool h0, ht;
    float g_lo, g_hi;  /* gk range, uniform (0, 0 = RWKV-7's -exp(-0.5) sigmoid(normal)) */
    ab_kind ab;
    bool key;          /* DVK_READOUT_KEY */
    bool rwkv7;        /* through dvk_rwkv7 (kappa, alpha), scale 1 */
    float scale;
    int num_seqs;
    int lens[8];
} dplr_case;

#define SHAPE(b, t, h, k, v) .B = b, .T = t, .H = h, .K = k, .V = v
#define F32 .dtype = DVK_DTYPE_F32
#define F16 .dtype = DVK_DTYPE_F16
#define STATES .h0 = true, .ht = true

static const dplr_case cases[] = {
    {"tiny K1 V1", SHAPE(1, 3, 1, 1, 1), F32, STATES},
    {"odd K48 V40", SHAPE(2, 37, 3, 48, 40), F32, STATES},
    {"K64 V64 no h0, T 70", SHAPE(1, 70, 2, 64, 64), F32, .ht = true},
    {"K128 V128 T 100", SHAPE(1, 100, 2, 128, 128), F32, STATES},
    {"K256 V256", SHAPE(1, 33, 1, 256, 256), F32, STATES},
    {"K100 V48 random a b, no states", SHAPE(3, 21, 2, 100, 48), F32, .ab = AB_RANDOM},
    {"K3 V200 random a b", SHAPE(1, 19, 2, 3, 200), F32, STATES, .ab = AB_RANDOM},
    {"strong decay gk in [-20,0)", SHAPE(1, 90, 2, 64, 64), F32, STATES, .g_lo = -20.0f},
    {"weak decay gk in [-1e-4,0)", SHAPE(1, 80, 1, 64, 32), F32, STATES, .g_lo = -1e-4f},
    {"varlen 5,70,1,20", SHAPE(1, 96, 2, 32, 48), F32, STATES, .num_seqs = 4,
     .lens = {5, 70, 1, 20}},
    {"fp16 K64 V100", SHAPE(2, 50, 2, 64, 100), F16, STATES},
    {"fp16 K128 V128 random a b", SHAPE(1, 130, 2, 128, 128), F16, STATES, .ab = AB_RANDOM},
    {"rwkv7 entry K64 V64", SHAPE(2, 75, 2, 64, 64), F32, STATES, .rwkv7 = true},
    {"rwkv7 entry fp16 varlen", SHAPE(1, 83, 2, 64, 32), F16, STATES, .rwkv7 = true,
     .num_seqs = 3, .lens = {40, 3, 40}},
    {"key read-out K64 V64 (Memodo)", SHAPE(1, 70, 2, 64, 64), F32, STATES, .key = true,
     .ab = AB_RANDOM, .scale = 1.0f},
    {"key read-out K48 V40", SHAPE(2, 37, 1, 48, 40), F32, STATES, .key = true},
    {"key read-out K32 V200 (value tiles summed)", SHAPE(1, 40, 1, 32, 200), F32, STATES,
     .key = true, .ab = AB_RANDOM},
    {"key read-out varlen fp16", SHAPE(1, 60, 2, 64, 64), F16, STATES, .key = true,
     .num_seqs = 2, .lens = {17, 43}},
    {"growing state (no clamping)", SHAPE(1, 120, 1, 32, 32), F32, STATES, .ab = AB_GROW,
     .g_lo = -1e-3f},
    {"decode T1 K128", SHAPE(3, 1, 4, 128, 128), F32, STATES},
    {"decode rwkv7 fp16", SHAPE(4, 1, 2, 64, 64), F16, STATES, .rwkv7 = true},
    {"decode V6 (recurrent kernel)", SHAPE(3, 1, 2, 20, 6), F32, STATES, .ab = AB_RANDOM},
    {"decode key read-out", SHAPE(2, 1, 2, 64, 64), F32, STATES, .key = true},
    /* fp16 RWKV-7 with K, V multiples of 16 and 32: the tensor-core kernels where offered */
    {"rwkv7 fp16 K128 V128 T 200", SHAPE(1, 200, 2, 128, 128), F16, STATES, .rwkv7 = true},
    {"rwkv7 fp16 strong decay w in [-20,0)", SHAPE(2, 100, 2, 64, 64), F16, STATES,
     .rwkv7 = true, .g_lo = -20.0f},
    {"rwkv7 fp16 K16 V64 varlen 1,64,65,3", SHAPE(1, 133, 2, 16, 64), F16, STATES,
     .rwkv7 = true, .num_seqs = 4, .lens = {1, 64, 65, 3}},
    {"rwkv7 fp16 K256 V96", SHAPE(1, 70, 1, 256, 96), F16, STATES, .rwkv7 = true},
};

typedef struct dplr_data {
    float *q, *k, *v, *a, *b, *kappa, *alpha, *gk, *h0;
    size_t nq, nk, nv, no, ns;
} dplr_data;

static void fill_case(const dplr_case *c, harness_rng *rng, dplr_data *d)
{
    const int N = c->num_seqs ? c->num_seqs : c->B;
    const size_t rows = (size_t)c->B * c->T * c->H;
    d->nk = rows * c->K;
    d->nv = rows * c->V;
    d->nq = c->key ? d->nv : d->nk;
    d->no = c->key ? d->nk : d->nv;
    d->ns = (size_t)N * c->H * c->K * c->V;
    d->q = malloc(d->nq * 4), d->k = malloc(d->nk * 4), d->v = malloc(d->nv * 4);
    d->a = malloc(d->nk * 4), d->b = malloc(d->nk * 4), d->gk = malloc(d->nk * 4);
    d->kappa = malloc(d->nk * 4), d->alpha = malloc(d->nk * 4), d->h0 = malloc(d->ns * 4);
    harness_fill_normal(rng, d->q, d->nq, 1.0f);
    harness_fill_normal(rng, d->k, d->nk, 1.0f);
    harness_l2_normalize_rows(d->k, rows, c->K);
    harness_fill_normal(rng, d->v, d->nv, 1.0f);
    harness_fill_normal(rng, d->kappa, d->nk, 1.0f);
    harness_l2_normalize_rows(d->kappa, rows, c->K);
    harness_fill_uniform(rng, d->alpha, d->nk, 0.0f, 1.0f);
    for (size_t i = 0; i < d->nk; ++i) {
        if (c->g_lo != 0.0f || c->g_hi != 0.0f)
            d->gk[i] = c->g_lo + (c->g_hi - c->g_lo) * harness_uniform(rng);
        else /* RWKV-7: -exp(-0.5) sigmoid(w), in (-0.6065, 0) */
            d->gk[i] = -expf(-0.5f) / (1.0f + expf(-harness_normal(rng)));
    }
    if (c->dtype == DVK_DTYPE_F16) { /* what the device sees */
        float *all[] = {d->q, d->k, d->v, d->kappa, d->alpha, d->gk};
        const size_t len[] = {d->nq, d->nk, d->nv, d->nk, d->nk, d->nk};
        for (int i = 0; i < 6; ++i)
            harness_round_f16(all[i], len[i]);
    }
    if (c->ab == AB_RWKV7) { /* inputs of RWKV-7's form for dvk_dplr */
        for (size_t i = 0; i < d->nk; ++i) {
            d->a[i] = -d->kappa[i];
            d->b[i] = d->kappa[i] * d->alpha[i];
        }
    } else if (c->ab == AB_RANDOM) {
        harness_fill_normal(rng, d->a, d->nk, 0.2f);
        harness_fill_normal(rng, d->b, d->nk, 0.2f);
    } else { /* along n, the transition I + b a^T multiplies by 1 + 0.35^2 */
        float n[256];
        harness_fill_normal(rng, n, (size_t)c->K, 1.0f);
        harness_l2_normalize_rows(n, 1, c->K);
        for (size_t i = 0; i < d->nk; ++i)
            d->b[i] = d->a[i] = 0.35f * n[i % c->K];
    }
    if (c->dtype == DVK_DTYPE_F16 && !c->rwkv7) { /* a and b are dvk_dplr's inputs */
        harness_round_f16(d->a, d->nk);
        harness_round_f16(d->b, d->nk);
    }
    harness_fill_normal(rng, d->h0, d->ns, 0.1f);
}

static void free_data(dplr_data *d)
{
    free(d->q), free(d->k), free(d->v), free(d->a), free(d->b), free(d->gk);
    free(d->kappa), free(d->alpha), free(d->h0);
}

static double rms(const double *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; ++i)
        s += x[i] * x[i];
    return sqrt(s / (double)n);
}

/* Records the case's operator into cmd: dvk_rwkv7 or dvk_dplr. */
static dvk_status record(dvk_cmd *cmd, const dplr_case *c, dvk_tensor *const *t, const int *cu,
                         dvk_mode mode, uint32_t chunk_size)
{
    /* t: q k v a b gk kappa alpha h0 ht o */
    if (c->rwkv7)
        return dvk_rwkv7(cmd, &(dvk_rwkv7_desc){
            .r = t[0], .w = t[5], .k = t[1], .v = t[2], .kappa = t[6], .alpha = t[7],
            .o = t[10], .initial_state = t[8], .final_state = t[9], .scale = c->scale,
            .mode = mode, .chunk_size = chunk_size, .cu_seqlens = c->num_seqs ? cu : NULL,
            .num_seqs = (uint32_t)c->num_seqs});
    return dvk_dplr(cmd, &(dvk_dplr_desc){
        .q = t[0], .k = t[1], .v = t[2], .a = t[3], .b = t[4], .gk = t[5], .o = t[10],
        .initial_state = t[8], .final_state = t[9], .scale = c->scale, .mode = mode,
        .chunk_size = chunk_size, .cu_seqlens = c->num_seqs ? cu : NULL,
        .num_seqs = (uint32_t)c->num_seqs,
        .readout = c->key ? DVK_READOUT_KEY : DVK_READOUT_VALUE});
}

static void run_case(const dplr_case *c, dvk_mode mode, uint32_t chunk_size)
{
    harness_rng rng = harness_rng_make((uint64_t)(c - cases) + 301);
    dplr_data d;
    fill_case(c, &rng, &d);
    int cu[9] = {0};
    for (int i = 0; i < c->num_seqs; ++i)
        cu[i + 1] = cu[i] + c->lens[i];
    if (c->num_seqs)
        assert_int_equal(cu[c->num_seqs], c->T);
    const int N = c->num_seqs ? c->num_seqs : c->B;
    double *o_ref = malloc(d.no * sizeof(double)), *ht_ref = malloc(d.ns * sizeof(double));
    if (c->rwkv7)
        assert_int_equal(dvk_ref_rwkv7(&(dvk_ref_rwkv7_args){
                             .B = c->B, .T = c->T, .H = c->H, .K = c->K, .V = c->V, .r = d.q,
                             .w = d.gk, .k = d.k, .v = d.v, .kappa = d.kappa, .alpha = d.alpha,
                             .h0 = c->h0 ? d.h0 : NULL, .cu_seqlens = c->num_seqs ? cu : NULL,
                             .num_seqs = c->num_seqs, .scale = c->scale, .o = o_ref,
                             .ht = ht_ref}),
                         0);
    else
        assert_int_equal(dvk_ref_dplr(&(dvk_ref_dplr_args){
                             .B = c->B, .T = c->T, .H = c->H, .K = c->K, .V = c->V, .q = d.q,
                             .k = d.k, .v = d.v, .a = d.a, .b = d.b, .gk = d.gk,
                             .h0 = c->h0 ? d.h0 : NULL, .cu_seqlens = c->num_seqs ? cu : NULL,
                             .num_seqs = c->num_seqs, .readout_key = c->key, .scale = c->scale,
                             .o = o_ref, .ht = ht_ref}),
                         0);

    const uint64_t sk[4] = {c->B, c->T, c->H, c->K}, sv[4] = {c->B, c->T, c->H, c->V};
    const uint64_t ss[4] = {N, c->H, c->K, c->V};
    dvk_tensor *t[11] = {
        harness_tensor(c->dtype, 4, c->key ? sv : sk, d.q), harness_tensor(c->dtype, 4, sk, d.k),
        harness_tensor(c->dtype, 4, sv, d.v), harness_tensor(c->dtype, 4, sk, d.a),
        harness_tensor(c->dtype, 4, sk, d.b), harness_tensor(c->dtype, 4, sk, d.gk),
        harness_tensor(c->dtype, 4, sk, d.kappa), harness_tensor(c->dtype, 4, sk, d.alpha),
        c->h0 ? harness_tensor(DVK_DTYPE_F32, 4, ss, d.h0) : NULL,
        c->ht ? harness_tensor_poisoned(DVK_DTYPE_F32, 4, ss) : NULL,
        harness_tensor_poisoned(c->dtype, 4, c->key ? sk : sv),
    };
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    const dvk_status st = record(cmd, c, t, cu, mode, chunk_size);
    const bool skip = st == DVK_ERROR_LIMIT_EXCEEDED && chunk_size != 0;
    if (skip)
        fprintf(stderr, "  skip %s [chunk %u]: %s\n", c->name, chunk_size, dvk_last_error());
    else
        CHECK_OK(st);
    if (!skip) {
        harness_run(cmd);
        char name[160];
        snprintf(name, sizeof name, "%s [%s%.0u]", c->name,
                 mode == DVK_MODE_CHUNK ? "chunk " : "recurrent", chunk_size);
        const double tol = c->dtype == DVK_DTYPE_F16 ? 5e-3 : 1e-5;
        float *o = harness_download(t[10]);
        harness_check(name, "o", o_ref, o, d.no, tol);
        free(o);
        if (c->ht) {
            float *ht = harness_download(t[9]);
            harness_check(name, "ht", ht_ref, ht, d.ns, tol);
            free(ht);
        }
        if (c->ab == AB_GROW) { /* it did grow, and was neither clamped nor lost */
            const double growth = rms(ht_ref, d.ns) / 0.1;
            if (getenv("DVK_TEST_VERBOSE"))
                fprintf(stderr, "  %s: the state grew %.1ex\n", name, growth);
            if (!(growth > 1e3))
                fail_msg("%s: the state grew only %.1fx", name, growth);
        }
    }
    dvk_cmd_destroy(cmd);
    for (int i = 0; i < 11; ++i)
        dvk_tensor_destroy(t[i]);
    free_data(&d);
    free(o_ref), free(ht_ref);
}

static bool have_dtype(const dplr_case *c)
{
    return harness_have_dtype(c->name, c->dtype);
}

static void test_recurrent_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        if (have_dtype(&cases[i]))
            run_case(&cases[i], DVK_MODE_RECURRENT, 0);
}

static void test_chunk_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        if (have_dtype(&cases[i]))
            run_case(&cases[i], DVK_MODE_CHUNK, 0);
    const size_t some[] = {1, 3, 7, 12, 14};
    for (size_t i = 0; i < sizeof some / sizeof some[0]; ++i)
        for (uint32_t cs = 16; cs <= 64; cs *= 2)
            if (have_dtype(&cases[some[i]]))
                run_case(&cases[some[i]], DVK_MODE_CHUNK, cs);
}

/* A state that overflows fp32 (a = b = 3 n for one unit vector n: x10 per token along n) is
 * reported as inf or NaN in both modes, never clamped to a finite value; the tokens before the
 * overflow are right. */
static void test_overflow_reported(void **state)
{
    (void)state;
    enum { T = 60, K = 16, V = 16, EARLY = 10 };
    harness_rng rng = harness_rng_make(99);
    float q[T * K], k[T * K], v[T * V], a[T * K], gk[T * K];
    harness_fill_normal(&rng, q, T * K, 1.0f);
    harness_fill_normal(&rng, k, T * K, 1.0f);
    harness_l2_normalize_rows(k, T, K);
    harness_fill_normal(&rng, v, T * V, 1.0f);
    float n[K];
    harness_fill_normal(&rng, n, K, 1.0f);
    harness_l2_normalize_rows(n, 1, K);
    for (int i = 0; i < T * K; ++i) {
        a[i] = 3.0f * n[i % K];
        gk[i] = -0.01f;
    }
    double o_ref[T * V], ht_ref[K * V];
    assert_int_equal(dvk_ref_dplr(&(dvk_ref_dplr_args){.B = 1, .T = T, .H = 1, .K = K, .V = V,
                                                       .q = q, .k = k, .v = v, .a = a, .b = a,
                                                       .gk = gk, .o = o_ref, .ht = ht_ref}),
                     0);
    assert_true(rms(ht_ref, K * V) > 1e40); /* past FLT_MAX */
    const uint64_t s[4] = {1, T, 1, K}, ss[4] = {1, 1, K, V};
    dvk_tensor *tq = harness_tensor(DVK_DTYPE_F32, 4, s, q), *tk = harness_tensor(DVK_DTYPE_F32, 4, s, k);
    dvk_tensor *tv = harness_tensor(DVK_DTYPE_F32, 4, s, v), *ta = harness_tensor(DVK_DTYPE_F32, 4, s, a);
    dvk_tensor *tg = harness_tensor(DVK_DTYPE_F32, 4, s, gk);
    for (int m = 0; m < 2; ++m) {
        dvk_tensor *to = harness_tensor_poisoned(DVK_DTYPE_F32, 4, s);
        dvk_tensor *ht = harness_tensor_poisoned(DVK_DTYPE_F32, 4, ss);
        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_OK(dvk_dplr(cmd, &(dvk_dplr_desc){.q = tq, .k = tk, .v = tv, .a = ta, .b = ta,
                                                .gk = tg, .o = to, .final_state = ht,
                                                .mode = m ? DVK_MODE_CHUNK : DVK_MODE_RECURRENT,
                                                .chunk_size = m ? 16 : 0}));
        harness_run(cmd);
        dvk_cmd_destroy(cmd);
        float *o = harness_download(to), *h = harness_download(ht);
        harness_check(m ? "overflow [chunk]" : "overflow [recurrent]", "first tokens", o_ref, o,
              EARLY * V, 1e-5);
        size_t bad = 0;
        for (int i = 0; i < K * V; ++i)
            bad += !isfinite(h[i]);
        if (bad == 0)
            fail_msg("overflow [%s]: a state of rms %.1e came back finite", m ? "chunk" : "recurrent",
                     rms(ht_ref, K * V));
        free(o), free(h);
        dvk_tensor_destroy(to), dvk_tensor_destroy(ht);
    }
    dvk_tensor_destroy(tq), dvk_tensor_destroy(tk), dvk_tensor_destroy(tv);
    dvk_tensor_destroy(ta), dvk_tensor_destroy(tg);
}

static void test_bad_input(void **state)
{
    (void)state;
    const dvk_dtype F = DVK_DTYPE_F32;
    dvk_tensor *k = harness_make(F, 4, 2, 5, 2, 16), *v = harness_make(F, 4, 2, 5, 2, 8);
    dvk_tensor *o = harness_make(F, 4, 2, 5, 2, 8), *s = harness_make(F, 4, 2, 2, 16, 8);
    dvk_tensor *o_key = harness_make(F, 4, 2, 5, 2, 16), *v3 = harness_make(F, 4, 2, 5, 3, 8);
    dvk_tensor *g3 = harness_make(F, 3, 2, 5, 2, 0), *k_f16 = harness_make(DVK_DTYPE_F16, 4, 2, 5, 2, 16);
    const dvk_dplr_desc good = {.q = k, .k = k, .v = v, .a = k, .b = k, .gk = k, .o = o,
                                .initial_state = s, .final_state = s};
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    dvk_dplr_desc d;
    CHECK_STATUS(dvk_dplr(NULL, &good), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_dplr(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_rwkv7(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.a = NULL;
    CHECK_STATUS(dvk_dplr(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.gk = g3; /* one decay per head is not this rule's */
    CHECK_STATUS(dvk_dplr(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = good, d.v = v3;  /* grouped value heads are not supported here */
    CHECK_STATUS(dvk_dplr(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = good, d.b = k_f16;
    CHECK_STATUS(dvk_dplr(cmd, &d), DVK_ERROR_UNSUPPORTED_DTYPE);
    d = good, d.readout = DVK_READOUT_KEY; /* q must have V entries, o K */
    CHECK_STATUS(dvk_dplr(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = good, d.readout = DVK_READOUT_KEY, d.q = v, d.o = o_key;
    CHECK_OK(dvk_dplr(cmd, &d));
    d = good, d.readout = (dvk_readout)7;
    CHECK_STATUS(dvk_dplr(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.mode = DVK_MODE_CHUNK;
    CHECK_OK(dvk_dplr(cmd, &d));
    /* a k of the wrong length or the wrong number of tokens is named as k (issue 17: the
     * message blamed a, or v, which were right) */
    dvk_tensor *k15 = harness_make(F, 4, 2, 5, 2, 15), *k4 = harness_make(F, 4, 2, 4, 2, 16);
    dvk_tensor *bad_k[2] = {k15, k4};
    for (int i = 0; i < 2; ++i) {
        d = good, d.k = bad_k[i];
        CHECK_STATUS(dvk_dplr(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
        if (strncmp(dvk_last_error(), "k: ", 3) != 0)
            fail_msg("dplr with a wrong k: \"%s\" does not name k", dvk_last_error());
        CHECK_STATUS(dvk_rwkv7(cmd, &(dvk_rwkv7_desc){.r = k, .w = k, .k = bad_k[i], .v = v,
                                                      .kappa = k, .alpha = k, .o = o}),
                     DVK_ERROR_SHAPE_MISMATCH);
        if (strncmp(dvk_last_error(), "k: ", 3) != 0)
            fail_msg("rwkv7 with a wrong k: \"%s\" does not name k", dvk_last_error());
    }
    dvk_tensor_destroy(k15);
    dvk_tensor_destroy(k4);
    CHECK_STATUS(dvk_rwkv7(cmd, &(dvk_rwkv7_desc){.r = k, .w = k, .k = k, .v = v, .kappa = k,
                                                  .o = o}),
                 DVK_ERROR_INVALID_ARGUMENT); /* alpha missing */
    CHECK_OK(dvk_rwkv7(cmd, &(dvk_rwkv7_desc){.r = k, .w = k, .k = k, .v = v, .kappa = k,
                                              .alpha = k, .o = o}));
    /* an output over an input is named with RWKV-7's names (it said a, the DPLR name) */
    dvk_tensor *kap = harness_make(F, 4, 2, 5, 2, 16); /* K = V = 16: o may be kappa's shape */
    CHECK_STATUS(dvk_rwkv7(cmd, &(dvk_rwkv7_desc){.r = k, .w = k, .k = k, .v = o_key,
                                                  .kappa = kap, .alpha = k, .o = kap}),
                 DVK_ERROR_INVALID_ARGUMENT);
    dvk_tensor_destroy(kap);
    if (!strstr(dvk_last_error(), "o shares memory with kappa"))
        fail_msg("rwkv7 with o = kappa: \"%s\" does not name kappa", dvk_last_error());
    harness_run(cmd);
    CHECK_STATUS(dvk_dplr(cmd, &good), DVK_ERROR_INVALID_STATE);
    dvk_cmd_destroy(cmd);
    dvk_tensor *all[] = {k, v, o, s, o_key, v3, g3, k_f16};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        dvk_tensor_destroy(all[i]);
}

/* Independent calls in one recording, without states, token by token and chunked (as
 * test_delta_rule's): unused writable bindings must be ordered like writes, or
 * synchronization validation reports hazards on the dummy buffer (harness teardown fails on
 * any message). */
static void test_independent_calls_one_recording(void **state)
{
    (void)state;
    const dvk_dtype F = DVK_DTYPE_F32;
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    dvk_tensor *t[4][4];
    for (int c = 0; c < 4; ++c) {
        t[c][0] = harness_make(F, 4, 1, 20, 2, 16); /* q, k, a, b, gk */
        t[c][1] = harness_make(F, 4, 1, 20, 2, 8);  /* v */
        t[c][2] = harness_make(F, 4, 1, 20, 2, 8);  /* o */
        t[c][3] = harness_make(F, 4, 1, 2, 16, 8);  /* a state */
        const dvk_dplr_desc d = {.q = t[c][0], .k = t[c][0], .v = t[c][1], .a = t[c][0],
                                 .b = t[c][0], .gk = t[c][0], .o = t[c][2],
                                 .final_state = c % 2 ? t[c][3] : NULL,
                                 .mode = c < 2 ? DVK_MODE_RECURRENT : DVK_MODE_CHUNK};
        CHECK_OK(dvk_dplr(cmd, &d));
    }
    harness_run(cmd);
    dvk_cmd_destroy(cmd);
    for (int c = 0; c < 4; ++c)
        for (int i = 0; i < 4; ++i)
            dvk_tensor_destroy(t[c][i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_recurrent_table, harness_test_teardown),
        cmocka_unit_test_teardown(test_chunk_table, harness_test_teardown),
        cmocka_unit_test_teardown(test_overflow_reported, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_input, harness_test_teardown),
        cmocka_unit_test_teardown(test_independent_calls_one_recording, harness_test_teardown),
    };
    if (getenv("DVK_TEST_FILTER")) /* a glob of test names: only those run */
        cmocka_set_test_filter(getenv("DVK_TEST_FILTER"));
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
