/* Delta rule and gated delta rule on the GPU against the C reference in double: output and
 * final state, over a table of shapes, dtypes and options; streaming; bad input. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct delta_case {
    const char *name;
    int B, T, H, HV, K, V;
    dvk_dtype dtype;
    bool h0, ht, gated, l2norm;
    float g_lo, g_hi;  /* gate range, uniform (0, 0 = logsigmoid of a normal) */
    float scale;
    int num_seqs;      /* > 0: variable-length batch with these lengths */
    int lens[8];
    dvk_mode mode;
} delta_case;

#define SHAPE(b, t, h, hv, k, v) .B = b, .T = t, .H = h, .HV = hv, .K = k, .V = v
#define F32 .dtype = DVK_DTYPE_F32
#define F16 .dtype = DVK_DTYPE_F16
#define STATES .h0 = true, .ht = true

static const delta_case cases[] = {
    {"tiny 1x1x1 K1 V1", SHAPE(1, 1, 1, 1, 1, 1), F32, STATES},
    {"odd K48 V40 (fla fixture shape)", SHAPE(2, 37, 3, 3, 48, 40), F32, STATES},
    {"K64 V64 no h0", SHAPE(1, 70, 2, 2, 64, 64), F32, .ht = true},
    {"K128 V128", SHAPE(2, 33, 2, 2, 128, 128), F32, STATES},
    {"K256 V256", SHAPE(1, 17, 1, 1, 256, 256), F32, STATES},
    {"K100 V48 no states", SHAPE(3, 5, 4, 4, 100, 48), F32},
    {"decode T1 K128", SHAPE(3, 1, 8, 8, 128, 128), F32, STATES},
    {"K3 V200", SHAPE(1, 9, 3, 3, 3, 200), F32, STATES},
    {"K200 V1", SHAPE(1, 23, 1, 1, 200, 1), F32, STATES},
    {"T not a multiple of the staging block", SHAPE(1, 67, 1, 1, 32, 32), F32, STATES},
    {"scale 1", SHAPE(1, 20, 2, 2, 16, 16), F32, STATES, .scale = 1.0f},
    {"fp16 K64 V100", SHAPE(2, 50, 2, 2, 64, 100), F16, STATES},
    {"fp16 K256 V32", SHAPE(1, 40, 1, 1, 256, 32), F16, .ht = true},
    {"fp16 decode", SHAPE(4, 1, 2, 2, 128, 128), F16, STATES},
    {"decode gated K100 V8", SHAPE(5, 1, 3, 3, 100, 8), F32, STATES, .gated = true},
    {"decode l2norm gated grouped heads", SHAPE(2, 1, 2, 4, 64, 36), F32, STATES, .gated = true,
     .l2norm = true},
    {"decode K256 V256 no h0", SHAPE(2, 1, 1, 1, 256, 256), F32, .ht = true},
    {"decode V6 (not a multiple of 4)", SHAPE(3, 1, 2, 2, 20, 6), F32, STATES},
    {"decode K3 V4 gated fp16", SHAPE(7, 1, 1, 1, 3, 4), F16, STATES, .gated = true},
    {"decode V24 (tile of 32, columns masked)", SHAPE(3, 1, 2, 2, 40, 24), F32, STATES},
    {"decode V12 gated", SHAPE(2, 1, 1, 1, 16, 12), F32, STATES, .gated = true},
    {"decode V28 fp16", SHAPE(2, 1, 2, 2, 32, 28), F16, STATES},
    {"gated K64", SHAPE(2, 45, 2, 2, 64, 64), F32, STATES, .gated = true},
    {"gated strong decay g in [-20,0)", SHAPE(1, 60, 2, 2, 128, 128), F32, STATES, .gated = true,
     .g_lo = -20.0f, .g_hi = 0.0f},
    {"gated weak decay g in [-1e-4,0)", SHAPE(1, 80, 1, 1, 64, 64), F32, STATES, .gated = true,
     .g_lo = -1e-4f, .g_hi = 0.0f},
    {"gated fp16", SHAPE(1, 60, 2, 2, 128, 96), F16, STATES, .gated = true},
    {"gated grouped heads H2 HV4", SHAPE(1, 30, 2, 4, 64, 32), F32, STATES, .gated = true},
    {"gated varlen 5,33,20", SHAPE(1, 58, 2, 2, 32, 48), F32, STATES, .gated = true,
     .num_seqs = 3, .lens = {5, 33, 20}},
    {"varlen with empty and 1-token sequences", SHAPE(1, 8, 1, 1, 16, 24), F32, STATES,
     .num_seqs = 4, .lens = {0, 7, 1, 0}},
    {"l2norm in kernel", SHAPE(2, 25, 2, 2, 64, 64), F32, STATES, .l2norm = true},
    {"l2norm gated fp16", SHAPE(1, 31, 2, 2, 128, 64), F16, STATES, .gated = true,
     .l2norm = true},
    /* K and V multiples of 16 with fp16: the cooperative-matrix kernels where the device has them */
    {"fp16 gated varlen grouped heads K64 V48", SHAPE(1, 150, 2, 4, 64, 48), F16, STATES,
     .gated = true, .num_seqs = 3, .lens = {70, 1, 79}},
    {"fp16 K128 V128 T not a multiple of 64", SHAPE(2, 200, 2, 2, 128, 128), F16, STATES},
    {"fp16 gated K128 V128 whole chunks only", SHAPE(2, 128, 2, 2, 128, 128), F16, STATES,
     .gated = true},
    {"fp16 gated K256 V64 strong decay", SHAPE(1, 130, 1, 1, 256, 64), F16, STATES,
     .gated = true, .g_lo = -20.0f, .g_hi = 0.0f},
};

static void run_case(const delta_case *c, dvk_mode mode, uint32_t chunk_size)
{
    harness_rng rng = harness_rng_make((uint64_t)(c - cases) + 1);
    const int HV = c->HV ? c->HV : c->H;
    const int N = c->num_seqs ? c->num_seqs : c->B;
    const size_t nq = (size_t)c->B * c->T * c->H * c->K;
    const size_t nv = (size_t)c->B * c->T * HV * c->V;
    const size_t nb = (size_t)c->B * c->T * HV;
    const size_t ns = (size_t)N * HV * c->K * c->V;
    float *q = malloc(nq * 4), *k = malloc(nq * 4), *v = malloc(nv * 4);
    float *beta = malloc(nb * 4), *g = malloc(nb * 4), *h0 = malloc(ns * 4);
    harness_fill_normal(&rng, q, nq, 1.0f);
    harness_fill_normal(&rng, k, nq, 1.0f);
    if (!c->l2norm) /* the kernel normalises them itself in the l2norm cases */
        harness_l2_normalize_rows(k, nq / c->K, c->K);
    harness_fill_normal(&rng, v, nv, 1.0f);
    for (size_t i = 0; i < nb; ++i) {
        beta[i] = 1.0f / (1.0f + expf(-harness_normal(&rng)));
        if (c->g_lo != 0.0f || c->g_hi != 0.0f)
            g[i] = c->g_lo + (c->g_hi - c->g_lo) * harness_uniform(&rng);
        else
            g[i] = -logf(1.0f + expf(-harness_normal(&rng))); /* logsigmoid */
    }
    harness_fill_normal(&rng, h0, ns, 0.1f);
    if (c->dtype == DVK_DTYPE_F16) {
        harness_round_f16(q, nq);
        harness_round_f16(k, nq);
        harness_round_f16(v, nv);
        harness_round_f16(beta, nb);
        harness_round_f16(g, nb);
    }
    int cu[9] = {0};
    for (int i = 0; i < c->num_seqs; ++i)
        cu[i + 1] = cu[i] + c->lens[i];
    if (c->num_seqs)
        assert_int_equal(cu[c->num_seqs], c->T);

    double *o_ref = malloc(nv * sizeof(double)), *ht_ref = malloc(ns * sizeof(double));
    const dvk_ref_delta_rule_args ra = {
        .B = c->B, .T = c->T, .H = c->H, .HV = HV, .K = c->K, .V = c->V,
        .q = q, .k = k, .v = v, .beta = beta, .g = c->gated ? g : NULL,
        .h0 = c->h0 ? h0 : NULL,
        .cu_seqlens = c->num_seqs ? cu : NULL, .num_seqs = c->num_seqs,
        .l2norm_qk = c->l2norm, .scale = c->scale,
        .o = o_ref, .ht = ht_ref,
    };
    assert_int_equal(dvk_ref_delta_rule(&ra), 0);

    const uint64_t sq[4] = {c->B, c->T, c->H, c->K}, sv[4] = {c->B, c->T, HV, c->V};
    const uint64_t sb[3] = {c->B, c->T, HV}, ss[4] = {N, HV, c->K, c->V};
    dvk_tensor *tq = harness_tensor(c->dtype, 4, sq, q), *tk = harness_tensor(c->dtype, 4, sq, k);
    dvk_tensor *tv = harness_tensor(c->dtype, 4, sv, v);
    dvk_tensor *tb = harness_tensor(c->dtype, 3, sb, beta);
    dvk_tensor *tg = c->gated ? harness_tensor(c->dtype, 3, sb, g) : NULL;
    dvk_tensor *th0 = c->h0 ? harness_tensor(DVK_DTYPE_F32, 4, ss, h0) : NULL;
    dvk_tensor *tht = c->ht ? harness_tensor_poisoned(DVK_DTYPE_F32, 4, ss) : NULL;
    dvk_tensor *to = harness_tensor_poisoned(c->dtype, 4, sv);

    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    const dvk_delta_rule_desc d = {
        .q = tq, .k = tk, .v = tv, .beta = tb, .g = tg, .o = to,
        .initial_state = th0, .final_state = tht, .scale = c->scale, .mode = mode,
        .chunk_size = chunk_size,
        .cu_seqlens = c->num_seqs ? cu : NULL, .num_seqs = (uint32_t)c->num_seqs,
        .l2norm_qk = c->l2norm,
    };
    const dvk_status st = c->gated ? dvk_gated_delta_rule(cmd, &d) : dvk_delta_rule(cmd, &d);
    const bool skip = st == DVK_ERROR_LIMIT_EXCEEDED && chunk_size != 0;
    if (skip) /* an explicit chunk size this device's shared memory cannot hold */
        fprintf(stderr, "  skip %s [chunk %u]: %s\n", c->name, chunk_size, dvk_last_error());
    else
        CHECK_OK(st);
    if (!skip)
        harness_run(cmd);
    dvk_cmd_destroy(cmd);

    const double tol = c->dtype == DVK_DTYPE_F16 ? 5e-3 : 1e-5;
    char label[160], name[128];
    if (skip)
        goto cleanup;
    snprintf(name, sizeof name, "%s [%s%.0u]", c->name,
             mode == DVK_MODE_CHUNK ? "chunk " : "recurrent", chunk_size);
    float *o = harness_download(to);
    snprintf(label, sizeof label, "%s: o", name);
    const double eo = harness_rel_err(label, o_ref, o, nv);
    if (!(eo <= tol))
        fail_msg("%s: o rel rms %.3e > %.1e", name, eo, tol);
    if (c->ht) {
        float *ht = harness_download(tht);
        snprintf(label, sizeof label, "%s: ht", name);
        /* The recurrent kernel keeps the state in fp32 in every variant: fp16 cases only round
         * their inputs, which the reference saw too, so its state meets the fp32 bound. The
         * chunked fp16 path also stores its intermediates (W, U, per-chunk states) in fp16. */
        const double htol = (mode == DVK_MODE_CHUNK && c->dtype == DVK_DTYPE_F16) ? 5e-3 : 1e-5;
        const double eh = harness_rel_err(label, ht_ref, ht, ns);
        if (!(eh <= htol))
            fail_msg("%s: ht rel rms %.3e > %.0e", name, eh, htol);
        free(ht);
    }
    free(o);
cleanup:;
    dvk_tensor *all[] = {tq, tk, tv, tb, tg, th0, tht, to};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        dvk_tensor_destroy(all[i]);
    free(q), free(k), free(v), free(beta), free(g), free(h0), free(o_ref), free(ht_ref);
}

static bool have_dtype(const delta_case *c)
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

/* The chunked form with the device's chunk size, and every chunk size on a few cases (a chunk
 * size the device's shared memory cannot hold is refused with LIMIT_EXCEEDED: skipped). */
static void test_chunk_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        if (have_dtype(&cases[i]))
            run_case(&cases[i], DVK_MODE_CHUNK, 0);
    const size_t some[] = {1, 4, 5, 9, 14, 16, 18, 19, 20, 21, 22};
    for (size_t i = 0; i < sizeof some / sizeof some[0]; ++i) {
        for (uint32_t cs = 16; cs <= 64; cs *= 2) {
            const delta_case *c = &cases[some[i]];
            if (!have_dtype(c))
                continue;
            run_case(c, DVK_MODE_CHUNK, cs);
        }
    }
}

/* A prefill followed by decode steps, the state carried in place across calls, equals one
 * call over the whole sequence (and the reference). */
static void test_streaming_equals_one_call(void **state)
{
    (void)state;
    enum { B = 2, T = 48, H = 2, K = 64, V = 48, PREFILL = 29 };
    harness_rng rng = harness_rng_make(77);
    float *q = malloc(sizeof(float) * B * T * H * K), *k = malloc(sizeof(float) * B * T * H * K);
    float *v = malloc(sizeof(float) * B * T * H * V), *beta = malloc(sizeof(float) * B * T * H);
    float *g = malloc(sizeof(float) * B * T * H);
    harness_fill_normal(&rng, q, (size_t)B * T * H * K, 1.0f);
    harness_fill_normal(&rng, k, (size_t)B * T * H * K, 1.0f);
    harness_l2_normalize_rows(k, (size_t)B * T * H, K);
    harness_fill_normal(&rng, v, (size_t)B * T * H * V, 1.0f);
    harness_fill_uniform(&rng, beta, (size_t)B * T * H, 0.1f, 0.9f);
    harness_fill_uniform(&rng, g, (size_t)B * T * H, -0.5f, 0.0f);
    double *o_ref = malloc(sizeof(double) * B * T * H * V);
    double *ht_ref = malloc(sizeof(double) * B * H * K * V);
    const dvk_ref_delta_rule_args ra = {.B = B, .T = T, .H = H, .K = K, .V = V, .q = q, .k = k,
                                        .v = v, .beta = beta, .g = g, .o = o_ref, .ht = ht_ref};
    assert_int_equal(dvk_ref_delta_rule(&ra), 0);

    /* Per-step tensors for one token (or the prefill chunk) of every batch row. */
    dvk_tensor *state_t = NULL;
    CHECK_OK(dvk_tensor_create(harness_ctx,
                               &(dvk_tensor_desc){.ndim = 4, .shape = {B, H, K, V}}, &state_t));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_cmd_fill_zero(cmd, state_t));
    harness_run(cmd);

    float *o_all = malloc(sizeof(float) * B * T * H * V);
    for (int t0 = 0; t0 < T;) {
        const int n = t0 == 0 ? PREFILL : 1;
        const uint64_t sq[4] = {B, n, H, K}, sv[4] = {B, n, H, V}, sb[3] = {B, n, H};
        float *xq = malloc(sizeof(float) * B * n * H * K), *xk = malloc(sizeof(float) * B * n * H * K);
        float *xv = malloc(sizeof(float) * B * n * H * V), *xb = malloc(sizeof(float) * B * n * H);
        float *xg = malloc(sizeof(float) * B * n * H);
        for (int b = 0; b < B; ++b) { /* slice tokens [t0, t0+n) of row b */
            memcpy(xq + (size_t)b * n * H * K, q + ((size_t)b * T + t0) * H * K, sizeof(float) * n * H * K);
            memcpy(xk + (size_t)b * n * H * K, k + ((size_t)b * T + t0) * H * K, sizeof(float) * n * H * K);
            memcpy(xv + (size_t)b * n * H * V, v + ((size_t)b * T + t0) * H * V, sizeof(float) * n * H * V);
            memcpy(xb + (size_t)b * n * H, beta + ((size_t)b * T + t0) * H, sizeof(float) * n * H);
            memcpy(xg + (size_t)b * n * H, g + ((size_t)b * T + t0) * H, sizeof(float) * n * H);
        }
        dvk_tensor *tq = harness_tensor(DVK_DTYPE_F32, 4, sq, xq);
        dvk_tensor *tk = harness_tensor(DVK_DTYPE_F32, 4, sq, xk);
        dvk_tensor *tv = harness_tensor(DVK_DTYPE_F32, 4, sv, xv);
        dvk_tensor *tb = harness_tensor(DVK_DTYPE_F32, 3, sb, xb);
        dvk_tensor *tg = harness_tensor(DVK_DTYPE_F32, 3, sb, xg);
        dvk_tensor *to = harness_tensor_poisoned(DVK_DTYPE_F32, 4, sv);
        CHECK_OK(dvk_cmd_reset(cmd));
        CHECK_OK(dvk_gated_delta_rule(cmd, &(dvk_delta_rule_desc){
            .q = tq, .k = tk, .v = tv, .beta = tb, .g = tg, .o = to,
            .initial_state = state_t, .final_state = state_t}));
        harness_run(cmd);
        float *o = harness_download(to);
        for (int b = 0; b < B; ++b)
            memcpy(o_all + ((size_t)b * T + t0) * H * V, o + (size_t)b * n * H * V,
                   sizeof(float) * n * H * V);
        free(o);
        dvk_tensor *all[] = {tq, tk, tv, tb, tg, to};
        for (size_t i = 0; i < 6; ++i)
            dvk_tensor_destroy(all[i]);
        free(xq), free(xk), free(xv), free(xb), free(xg);
        t0 += n;
    }
    float *ht = harness_download(state_t);
    assert_true(harness_rel_err("streaming: o", o_ref, o_all, (size_t)B * T * H * V) <= 1e-5);
    assert_true(harness_rel_err("streaming: ht", ht_ref, ht, (size_t)B * H * K * V) <= 1e-5);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(state_t);
    free(ht), free(o_all), free(q), free(k), free(v), free(beta), free(g), free(o_ref),
        free(ht_ref);
}

/* T = 65 536 tokens streamed through many calls — chunked segments of odd lengths and single
 * decode steps — with the state carried in place, equal one long call and the reference. */
static void test_long_stream(void **state)
{
    (void)state;
    enum { T = 65536, H = 2, K = 32, V = 32 };
    harness_rng rng = harness_rng_make(65536);
    const size_t nk = (size_t)T * H * K, nv = (size_t)T * H * V, nb = (size_t)T * H;
    float *q = malloc(nk * 4), *k = malloc(nk * 4), *v = malloc(nv * 4);
    float *beta = malloc(nb * 4), *g = malloc(nb * 4);
    harness_fill_normal(&rng, q, nk, 1.0f);
    harness_fill_normal(&rng, k, nk, 1.0f);
    harness_l2_normalize_rows(k, nb, K);
    harness_fill_normal(&rng, v, nv, 1.0f);
    harness_fill_uniform(&rng, beta, nb, 0.05f, 0.95f);
    harness_fill_uniform(&rng, g, nb, -0.1f, 0.0f);
    double *o_ref = malloc(nv * sizeof(double)), *ht_ref = malloc((size_t)H * K * V * sizeof(double));
    assert_int_equal(dvk_ref_delta_rule(&(dvk_ref_delta_rule_args){
                         .B = 1, .T = T, .H = H, .K = K, .V = V, .q = q, .k = k, .v = v,
                         .beta = beta, .g = g, .o = o_ref, .ht = ht_ref}),
                     0);

    /* One long call. */
    const uint64_t sq[4] = {1, T, H, K}, sv[4] = {1, T, H, V}, sb[3] = {1, T, H}, ss[4] = {1, H, K, V};
    dvk_tensor *tq = harness_tensor(DVK_DTYPE_F32, 4, sq, q), *tk = harness_tensor(DVK_DTYPE_F32, 4, sq, k);
    dvk_tensor *tv = harness_tensor(DVK_DTYPE_F32, 4, sv, v), *tb = harness_tensor(DVK_DTYPE_F32, 3, sb, beta);
    dvk_tensor *tg = harness_tensor(DVK_DTYPE_F32, 3, sb, g), *to = harness_tensor_poisoned(DVK_DTYPE_F32, 4, sv);
    dvk_tensor *tht = harness_tensor_poisoned(DVK_DTYPE_F32, 4, ss);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_gated_delta_rule(cmd, &(dvk_delta_rule_desc){.q = tq, .k = tk, .v = tv, .beta = tb,
                                                              .g = tg, .o = to, .final_state = tht,
                                                              .mode = DVK_MODE_CHUNK}));
    harness_run(cmd);
    float *o_long = harness_download(to), *ht_long = harness_download(tht);
    dvk_tensor *big[] = {tq, tk, tv, tb, tg, to, tht};
    for (size_t i = 0; i < 7; ++i)
        dvk_tensor_destroy(big[i]);

    /* Many calls. */
    dvk_tensor *st = NULL;
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, H, K, V}}, &st));
    CHECK_OK(dvk_cmd_reset(cmd));
    CHECK_OK(dvk_cmd_fill_zero(cmd, st));
    harness_run(cmd);
    float *o_many = malloc(nv * 4);
    int calls = 0;
    for (int t0 = 0; t0 < T; ++calls) {
        /* segments of 4099 tokens, then 3 single-token decode steps, repeating */
        const int n = calls % 4 == 0 ? (T - t0 < 4099 ? T - t0 : 4099) : 1;
        const uint64_t a[4] = {1, (uint64_t)n, H, K}, b[4] = {1, (uint64_t)n, H, V}, c[3] = {1, (uint64_t)n, H};
        dvk_tensor *xq = harness_tensor(DVK_DTYPE_F32, 4, a, q + (size_t)t0 * H * K);
        dvk_tensor *xk = harness_tensor(DVK_DTYPE_F32, 4, a, k + (size_t)t0 * H * K);
        dvk_tensor *xv = harness_tensor(DVK_DTYPE_F32, 4, b, v + (size_t)t0 * H * V);
        dvk_tensor *xb = harness_tensor(DVK_DTYPE_F32, 3, c, beta + (size_t)t0 * H);
        dvk_tensor *xg = harness_tensor(DVK_DTYPE_F32, 3, c, g + (size_t)t0 * H);
        dvk_tensor *xo = harness_tensor_poisoned(DVK_DTYPE_F32, 4, b);
        CHECK_OK(dvk_cmd_reset(cmd));
        CHECK_OK(dvk_gated_delta_rule(cmd, &(dvk_delta_rule_desc){
            .q = xq, .k = xk, .v = xv, .beta = xb, .g = xg, .o = xo, .initial_state = st,
            .final_state = st, .mode = n > 1 ? DVK_MODE_CHUNK : DVK_MODE_RECURRENT}));
        CHECK_OK(dvk_cmd_download(cmd, xo, o_many + (size_t)t0 * H * V, (size_t)n * H * V * 4));
        harness_run(cmd);
        dvk_tensor *x[] = {xq, xk, xv, xb, xg, xo};
        for (size_t i = 0; i < 6; ++i)
            dvk_tensor_destroy(x[i]);
        t0 += n;
    }
    float *ht_many = harness_download(st);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(st);

    assert_true(harness_rel_err("T=65536 one call: o", o_ref, o_long, nv) <= 1e-5);
    assert_true(harness_rel_err("T=65536 one call: ht", ht_ref, ht_long, (size_t)H * K * V) <= 1e-5);
    assert_true(harness_rel_err("T=65536 many calls: o", o_ref, o_many, nv) <= 1e-5);
    assert_true(harness_rel_err("T=65536 many calls: ht", ht_ref, ht_many, (size_t)H * K * V) <= 1e-5);
    /* and the two GPU runs agree with each other */
    double *od = malloc(nv * sizeof(double));
    for (size_t i = 0; i < nv; ++i)
        od[i] = o_long[i];
    assert_true(harness_rel_err("T=65536 many calls vs one call: o", od, o_many, nv) <= 1e-5);
    free(od);
    fprintf(stderr, "  T=65536 streamed in %d calls\n", calls);
    free(q), free(k), free(v), free(beta), free(g), free(o_ref), free(ht_ref);
    free(o_long), free(ht_long), free(o_many), free(ht_many);
}

/* How calls are split into dispatches (counted with the per-dispatch profiler): a varlen batch
 * by its longest sequence, not its packed length; a long sequence in recurrent mode in pieces
 * of 1024 tokens. */
static uint32_t dispatches_of(const dvk_delta_rule_desc *d, const char *kernel_prefix)
{
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, &(dvk_cmd_desc){.profile_dispatches = true}, &cmd));
    CHECK_OK(dvk_delta_rule(cmd, d));
    harness_run(cmd);
    uint32_t n = 0;
    for (uint32_t i = 0; i < dvk_cmd_profile_count(cmd); ++i) {
        const char *name = NULL;
        double ms = 0.0;
        CHECK_OK(dvk_cmd_profile_entry(cmd, i, &name, &ms));
        if (strncmp(name, kernel_prefix, strlen(kernel_prefix)) != 0)
            fail_msg("dispatch %u ran %s, expected %s*", i, name, kernel_prefix);
        ++n;
    }
    dvk_cmd_destroy(cmd);
    return n;
}

static void test_dispatch_planning(void **state)
{
    (void)state;
    if (!dvk_context_device_info(harness_ctx)->timestamps)
        return;
    enum { T = 2500, K = 8, V = 8 };
    const uint64_t sk[4] = {1, T, 1, K}, sb[3] = {1, T, 1};
    float *x = calloc((size_t)T * K, sizeof *x);
    dvk_tensor *q = harness_tensor(DVK_DTYPE_F32, 4, sk, x), *v = harness_tensor(DVK_DTYPE_F32, 4, sk, x);
    dvk_tensor *b = harness_tensor(DVK_DTYPE_F32, 3, sb, x), *o = harness_tensor(DVK_DTYPE_F32, 4, sk, x);
    int32_t *cu = malloc(sizeof(int32_t) * (T + 1));
    for (int i = 0; i <= T; ++i)
        cu[i] = i;
    dvk_tensor *st = NULL;
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {T, 1, K, V}}, &st));
    /* 2500 one-token sequences: one recurrent dispatch, whatever the mode default */
    dvk_delta_rule_desc d = {.q = q, .k = q, .v = v, .beta = b, .o = o, .final_state = st,
                             .cu_seqlens = cu, .num_seqs = T};
    assert_int_equal(dispatches_of(&d, "delta_rule/recurrent"), 1);
    /* one sequence of 2500 tokens, recurrent: three dispatches of at most 1024 tokens */
    dvk_tensor *st1 = NULL;
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, 1, K, V}}, &st1));
    d = (dvk_delta_rule_desc){.q = q, .k = q, .v = v, .beta = b, .o = o, .final_state = st1,
                              .mode = DVK_MODE_RECURRENT};
    assert_int_equal(dispatches_of(&d, "delta_rule/recurrent"), 3);
    /* Which kernel: on a CPU device the CPU layout (recurrent_cpu.comp), also for the decode
     * step; under the small-device profile (no subgroup shuffle: a mobile GPU's plan) and on
     * GPUs the GPU kernels (recurrent.comp, decode.comp). Both profiles of the suite on
     * lavapipe therefore run both kernels (lavapipe has subgroupAdd, which the CPU layout also
     * needs). */
    const dvk_device_info *info = dvk_context_device_info(harness_ctx);
    const bool cpu = info->type == DVK_DEVICE_TYPE_CPU && info->subgroup_shuffle;
    d = (dvk_delta_rule_desc){.q = q, .k = q, .v = v, .beta = b, .o = o, .final_state = st1,
                              .mode = DVK_MODE_RECURRENT};
    assert_int_equal(dispatches_of(&d, cpu ? "delta_rule/recurrent_cpu" : "delta_rule/recurrent_f"),
                     3);
    const uint64_t s1[4] = {1, 1, 1, K};
    dvk_tensor *q1 = harness_tensor(DVK_DTYPE_F32, 4, s1, x);
    dvk_tensor *b1 = harness_tensor(DVK_DTYPE_F32, 3, s1, x);
    dvk_tensor *o1 = harness_tensor(DVK_DTYPE_F32, 4, s1, x);
    d = (dvk_delta_rule_desc){.q = q1, .k = q1, .v = q1, .beta = b1, .o = o1,
                              .final_state = st1};
    assert_int_equal(dispatches_of(&d, cpu ? "delta_rule/recurrent_cpu" : "delta_rule/decode"), 1);
    dvk_tensor_destroy(q1), dvk_tensor_destroy(b1), dvk_tensor_destroy(o1);
    dvk_tensor *all[] = {q, v, b, o, st, st1};
    for (size_t i = 0; i < 6; ++i)
        dvk_tensor_destroy(all[i]);
    free(x), free(cu);
}

/* Two operators in one recording, the second reading the first's output: the recording must
 * put a barrier between them (the validation layer's synchronization checks would see a
 * missing one, and the numbers would be wrong). */
static void test_chained_ops_in_one_recording(void **state)
{
    (void)state;
    enum { T = 20, H = 2, K = 32, V = 32 };
    harness_rng rng = harness_rng_make(5);
    float q[T * H * K], k[T * H * K], v[T * H * V], beta[T * H];
    harness_fill_normal(&rng, q, T * H * K, 1.0f);
    harness_fill_normal(&rng, k, T * H * K, 1.0f);
    harness_l2_normalize_rows(k, T * H, K);
    harness_fill_normal(&rng, v, T * H * V, 1.0f);
    harness_fill_uniform(&rng, beta, T * H, 0.2f, 0.8f);
    const uint64_t s4[4] = {1, T, H, K}, s3[3] = {1, T, H};
    dvk_tensor *tq = harness_tensor(DVK_DTYPE_F32, 4, s4, q), *tk = harness_tensor(DVK_DTYPE_F32, 4, s4, k);
    dvk_tensor *tv = harness_tensor(DVK_DTYPE_F32, 4, s4, v), *tb = harness_tensor(DVK_DTYPE_F32, 3, s3, beta);
    dvk_tensor *o1 = harness_tensor_poisoned(DVK_DTYPE_F32, 4, s4);
    dvk_tensor *o2 = harness_tensor_poisoned(DVK_DTYPE_F32, 4, s4);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_delta_rule(cmd, &(dvk_delta_rule_desc){.q = tq, .k = tk, .v = tv, .beta = tb, .o = o1}));
    CHECK_OK(dvk_delta_rule(cmd, &(dvk_delta_rule_desc){.q = tq, .k = tk, .v = o1, .beta = tb, .o = o2}));
    harness_run(cmd);
    dvk_cmd_destroy(cmd);

    double r1[T * H * V], r2[T * H * V];
    float o1f[T * H * V];
    dvk_ref_delta_rule(&(dvk_ref_delta_rule_args){.B = 1, .T = T, .H = H, .K = K, .V = V, .q = q,
                                                  .k = k, .v = v, .beta = beta, .o = r1});
    for (int i = 0; i < T * H * V; ++i)
        o1f[i] = (float)r1[i];
    dvk_ref_delta_rule(&(dvk_ref_delta_rule_args){.B = 1, .T = T, .H = H, .K = K, .V = V, .q = q,
                                                  .k = k, .v = o1f, .beta = beta, .o = r2});
    float *got = harness_download(o2);
    assert_true(harness_rel_err("chained: o2", r2, got, T * H * V) <= 1e-5);
    free(got);
    dvk_tensor *all[] = {tq, tk, tv, tb, o1, o2};
    for (size_t i = 0; i < 6; ++i)
        dvk_tensor_destroy(all[i]);
}

#undef F32
#undef F16

static void test_bad_input(void **state)
{
    (void)state;
    const dvk_dtype F32 = DVK_DTYPE_F32;
    dvk_tensor *q = harness_make(F32, 4, 2, 5, 2, 16), *k = harness_make(F32, 4, 2, 5, 2, 16);
    dvk_tensor *v = harness_make(F32, 4, 2, 5, 2, 8), *beta = harness_make(F32, 3, 2, 5, 2, 0);
    dvk_tensor *o = harness_make(F32, 4, 2, 5, 2, 8), *g = harness_make(F32, 3, 2, 5, 2, 0);
    dvk_tensor *s = harness_make(F32, 4, 2, 2, 16, 8);
    dvk_tensor *k_bad = harness_make(F32, 4, 2, 5, 2, 15), *beta_bad = harness_make(F32, 3, 2, 5, 3, 0);
    dvk_tensor *s_bad = harness_make(F32, 4, 2, 2, 8, 16), *v3 = harness_make(F32, 4, 2, 5, 3, 8);
    dvk_tensor *q_big = harness_make(F32, 4, 1, 2, 1, 257), *v_big = harness_make(F32, 4, 1, 2, 1, 8);
    dvk_tensor *b_big = harness_make(F32, 3, 1, 2, 1, 0), *o_big = harness_make(F32, 4, 1, 2, 1, 8);
    dvk_tensor *s_f16 = harness_make(DVK_DTYPE_F16, 4, 2, 2, 16, 8);
    dvk_tensor *v_f16 = harness_make(DVK_DTYPE_F16, 4, 2, 5, 2, 8);
    const dvk_delta_rule_desc good = {.q = q, .k = k, .v = v, .beta = beta, .o = o,
                                      .initial_state = s, .final_state = s};
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    dvk_delta_rule_desc d;

    CHECK_STATUS(dvk_delta_rule(NULL, &good), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_delta_rule(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.q = NULL;
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.beta = NULL;
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.o = NULL;
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.k = k_bad;
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = good, d.beta = beta_bad;
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = good, d.initial_state = s_bad;
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = good, d.final_state = s_f16;
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_UNSUPPORTED_DTYPE);
    d = good, d.v = v_f16;
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_UNSUPPORTED_DTYPE);
    d = good, d.v = v3; /* 3 value heads for 2 key heads */
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = (dvk_delta_rule_desc){.q = q_big, .k = q_big, .v = v_big, .beta = b_big, .o = o_big};
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_UNSUPPORTED);
    d = good, d.g = g;
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_gated_delta_rule(cmd, &good), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.scale = NAN;
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.mode = (dvk_mode)42;
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    const int32_t cu_ok[3] = {0, 2, 5}, cu_end[3] = {0, 2, 4}, cu_dec[3] = {0, 3, 2};
    d = good, d.cu_seqlens = cu_ok, d.num_seqs = 2; /* B = 2: varlen needs B = 1 */
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = good, d.num_seqs = 2;
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    {
        dvk_tensor *q1 = harness_make(F32, 4, 1, 5, 2, 16), *v1 = harness_make(F32, 4, 1, 5, 2, 8);
        dvk_tensor *b1 = harness_make(F32, 3, 1, 5, 2, 0), *o1 = harness_make(F32, 4, 1, 5, 2, 8);
        dvk_tensor *s2 = harness_make(F32, 4, 2, 2, 16, 8);
        d = (dvk_delta_rule_desc){.q = q1, .k = q1, .v = v1, .beta = b1, .o = o1,
                                  .initial_state = s2, .cu_seqlens = cu_end, .num_seqs = 2};
        CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
        d.cu_seqlens = cu_dec;
        CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
        d.cu_seqlens = cu_ok;
        CHECK_OK(dvk_delta_rule(cmd, &d)); /* and the good one records */
        d.initial_state = s; /* state for N = B = 2, here also 2 sequences: fine */
        CHECK_OK(dvk_delta_rule(cmd, &d));
        dvk_tensor_destroy(q1), dvk_tensor_destroy(v1), dvk_tensor_destroy(b1);
        dvk_tensor_destroy(o1), dvk_tensor_destroy(s2);
    }
    /* Outputs that share memory with an input (issue 17: o equal to q was accepted, and the
     * kernels race): refused; the state in place (final_state = initial_state) is fine. In a
     * recording of its own, which is run. */
    {
        dvk_cmd *cmd2 = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd2));
        dvk_tensor *o_q = harness_make(F32, 4, 2, 5, 2, 16); /* K = V: o may take q's shape */
        dvk_tensor *qv = NULL, *h_a = NULL, *h_b = NULL;
        CHECK_OK(dvk_tensor_view(q, &(dvk_tensor_view_desc){.ndim = 4, .shape = {2, 5, 2, 8}},
                                 &qv)); /* q's first half, shaped as o */
        /* two states in one buffer, the second starting half-way into the first */
        dvk_tensor *two = harness_make(F32, 4, 3, 2, 16, 8);
        CHECK_OK(dvk_tensor_view(two, &(dvk_tensor_view_desc){.ndim = 4, .shape = {2, 2, 16, 8}},
                                 &h_a));
        CHECK_OK(dvk_tensor_view(two, &(dvk_tensor_view_desc){.ndim = 4, .shape = {2, 2, 16, 8},
                                                              .offset = 2 * 16 * 8},
                                 &h_b));
        const dvk_delta_rule_desc same_kv = {.q = o_q, .k = o_q, .v = o_q, .beta = beta,
                                             .o = o_q};
        CHECK_STATUS(dvk_delta_rule(cmd2, &same_kv), DVK_ERROR_INVALID_ARGUMENT);
        d = good, d.o = qv;
        CHECK_STATUS(dvk_delta_rule(cmd2, &d), DVK_ERROR_INVALID_ARGUMENT);
        if (!strstr(dvk_last_error(), "o shares memory with q"))
            fail_msg("the message \"%s\" does not name o and q", dvk_last_error());
        d = good, d.mode = DVK_MODE_CHUNK, d.o = qv;
        CHECK_STATUS(dvk_delta_rule(cmd2, &d), DVK_ERROR_INVALID_ARGUMENT);
        d = good, d.initial_state = h_a, d.final_state = h_b; /* overlapping, not the same */
        CHECK_STATUS(dvk_delta_rule(cmd2, &d), DVK_ERROR_INVALID_ARGUMENT);
        d = good, d.initial_state = h_a, d.final_state = h_a; /* the state in place: fine */
        CHECK_OK(dvk_delta_rule(cmd2, &d));
        d = good, d.initial_state = NULL, d.final_state = h_b; /* apart from the inputs */
        CHECK_OK(dvk_delta_rule(cmd2, &d));
        harness_run(cmd2);
        dvk_cmd_destroy(cmd2);
        dvk_tensor_destroy(qv), dvk_tensor_destroy(h_a), dvk_tensor_destroy(h_b);
        dvk_tensor_destroy(o_q), dvk_tensor_destroy(two);
    }
    /* Nothing can be recorded into a submitted recording. */
    harness_run(cmd);
    CHECK_STATUS(dvk_delta_rule(cmd, &good), DVK_ERROR_INVALID_STATE);
    dvk_cmd_destroy(cmd);
    dvk_tensor *all[] = {q, k, v, beta, o, g, s, k_bad, beta_bad, s_bad, v3, q_big, v_big, b_big,
                         o_big, s_f16, v_f16};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        dvk_tensor_destroy(all[i]);
}

/* Independent calls in one recording, with absent optional tensors (no states, no gate):
 * the kernels' unused writable bindings point at the context's dummy buffer, and
 * synchronization validation counts a writable binding as written, so the next dispatch that
 * binds the dummy must come after a barrier (it found hazards in test_bad_input's recording
 * when it did not). Any validation message fails the test (harness teardown). */
static void test_independent_calls_one_recording(void **state)
{
    (void)state;
    const dvk_dtype F32 = DVK_DTYPE_F32;
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    dvk_tensor *t[6][6];
    for (int c = 0; c < 6; ++c) {
        t[c][0] = harness_make(F32, 4, 1, 5, 2, 16); /* q, k */
        t[c][1] = harness_make(F32, 4, 1, 5, 2, 8);  /* v */
        t[c][2] = harness_make(F32, 3, 1, 5, 2, 0);  /* beta */
        t[c][3] = harness_make(F32, 4, 1, 5, 2, 8);  /* o */
        t[c][4] = harness_make(F32, 4, 1, 2, 16, 8); /* a state */
        t[c][5] = harness_make(F32, 3, 1, 5, 2, 0);  /* g */
        /* token by token, then chunked; the gated rule once in each */
        const dvk_delta_rule_desc d = {.q = t[c][0], .k = t[c][0], .v = t[c][1],
                                       .beta = t[c][2], .o = t[c][3],
                                       .final_state = c % 3 == 1 ? t[c][4] : NULL,
                                       .g = c % 3 == 2 ? t[c][5] : NULL,
                                       .mode = c < 3 ? DVK_MODE_RECURRENT : DVK_MODE_CHUNK};
        CHECK_OK(d.g ? dvk_gated_delta_rule(cmd, &d) : dvk_delta_rule(cmd, &d));
    }
    harness_run(cmd);
    dvk_cmd_destroy(cmd);
    for (int c = 0; c < 6; ++c)
        for (int i = 0; i < 6; ++i)
            dvk_tensor_destroy(t[c][i]);
}

/* The C reference refuses sizes whose token indices (ints) would overflow, before it reads
 * anything (issue 17: sizes checked everywhere; it used to index with n * T past INT_MAX). */
static void test_reference_refuses_overflowing_sizes(void **state)
{
    (void)state;
    float x[4] = {0};
    double o[4];
    dvk_ref_delta_rule_args a = {.B = 65536, .T = 65536, .H = 1, .K = 1, .V = 1, .q = x,
                                 .k = x, .v = x, .beta = x, .o = o};
    assert_int_equal(dvk_ref_delta_rule(&a), -1);
    a.B = 1, a.T = 1, a.K = 1073807362, a.V = 2147352580; /* 8 K V wraps to 64 bytes */
    assert_int_equal(dvk_ref_delta_rule(&a), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_recurrent_table, harness_test_teardown),
        cmocka_unit_test_teardown(test_chunk_table, harness_test_teardown),
        cmocka_unit_test_teardown(test_streaming_equals_one_call, harness_test_teardown),
        cmocka_unit_test_teardown(test_long_stream, harness_test_teardown),
        cmocka_unit_test_teardown(test_dispatch_planning, harness_test_teardown),
        cmocka_unit_test_teardown(test_chained_ops_in_one_recording, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_input, harness_test_teardown),
        cmocka_unit_test_teardown(test_independent_calls_one_recording, harness_test_teardown),
        cmocka_unit_test(test_reference_refuses_overflowing_sizes),
    };
    if (getenv("DVK_TEST_FILTER")) /* a glob of test names: only those run */
        cmocka_set_test_filter(getenv("DVK_TEST_FILTER"));
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
