/* Kimi Delta Attention on the device against the C reference in double (dvk_ref_kda): output
 * and final state, recurrent and chunked, over shapes, dtypes, gate strengths, the in-kernel
 * gate, varlen, grouped heads; streaming; bad input. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct kda_case {
    const char *name;
    int B, T, H, HV, K, V;
    dvk_dtype dtype;
    bool h0, ht, l2norm;
    float g_lo, g_hi;   /* gate range, uniform (0, 0 = logsigmoid of a normal) */
    bool gate_in_kernel, dt_bias, beta_sigmoid;
    float scale;
    int num_seqs;       /* > 0: variable-length batch with these lengths */
    int lens[8];
} kda_case;

#define SHAPE(b, t, h, hv, k, v) .B = b, .T = t, .H = h, .HV = hv, .K = k, .V = v
#define F32 .dtype = DVK_DTYPE_F32
#define F16 .dtype = DVK_DTYPE_F16
#define STATES .h0 = true, .ht = true

static const kda_case cases[] = {
    {"tiny K1 V1", SHAPE(1, 3, 1, 1, 1, 1), F32, STATES},
    {"odd K48 V40", SHAPE(2, 37, 3, 3, 48, 40), F32, STATES},
    {"K64 V64 no h0, T 70", SHAPE(1, 70, 2, 2, 64, 64), F32, .ht = true},
    {"K128 V128 T 100", SHAPE(1, 100, 2, 2, 128, 128), F32, STATES},
    {"K256 V256", SHAPE(1, 33, 1, 1, 256, 256), F32, STATES},
    {"K100 V48 no states", SHAPE(3, 21, 2, 2, 100, 48), F32},
    {"K3 V200", SHAPE(1, 19, 2, 2, 3, 200), F32, STATES},
    {"strong decay g in [-20,0)", SHAPE(1, 90, 2, 2, 64, 64), F32, STATES, .g_lo = -20.0f},
    {"weak decay g in [-1e-4,0)", SHAPE(1, 80, 1, 1, 64, 32), F32, STATES, .g_lo = -1e-4f},
    {"mixed decay g in [-5,0)", SHAPE(2, 75, 1, 1, 32, 48), F32, STATES, .g_lo = -5.0f},
    {"gate in kernel with dt_bias, beta sigmoid", SHAPE(1, 50, 2, 2, 64, 64), F32, STATES,
     .gate_in_kernel = true, .dt_bias = true, .beta_sigmoid = true},
    {"gate in kernel without dt_bias", SHAPE(2, 41, 1, 1, 32, 32), F32, STATES,
     .gate_in_kernel = true},
    {"grouped heads H2 HV4", SHAPE(1, 45, 2, 4, 64, 32), F32, STATES},
    {"varlen 5,70,1,20", SHAPE(1, 96, 2, 2, 32, 48), F32, STATES, .num_seqs = 4,
     .lens = {5, 70, 1, 20}},
    {"varlen with empty sequences", SHAPE(1, 9, 1, 1, 16, 24), F32, STATES, .num_seqs = 4,
     .lens = {0, 8, 1, 0}},
    {"l2norm in kernel, scale 1", SHAPE(2, 25, 2, 2, 64, 64), F32, STATES, .l2norm = true,
     .scale = 1.0f},
    {"fp16 K64 V100", SHAPE(2, 50, 2, 2, 64, 100), F16, STATES},
    {"fp16 K128 V128 gate in kernel", SHAPE(1, 130, 2, 2, 128, 128), F16, STATES,
     .gate_in_kernel = true, .dt_bias = true, .beta_sigmoid = true},
    {"fp16 strong decay grouped heads", SHAPE(1, 66, 1, 2, 64, 64), F16, STATES,
     .g_lo = -20.0f},
    /* fp16 with K, V multiples of 16 and 32: the tensor-core output stage where there is one */
    {"fp16 varlen 5,70,1,20", SHAPE(1, 96, 2, 2, 32, 64), F16, STATES, .num_seqs = 4,
     .lens = {5, 70, 1, 20}},
    {"fp16 K48 V32 weak decay, T 128", SHAPE(2, 128, 1, 1, 48, 32), F16, STATES, .g_lo = -1e-4f},
    {"fp16 K16 V32 varlen with empty sequences", SHAPE(1, 9, 1, 1, 16, 32), F16, STATES,
     .num_seqs = 4, .lens = {0, 8, 1, 0}},
    {"fp16 K256 V256 l2norm in kernel", SHAPE(1, 70, 1, 1, 256, 256), F16, STATES,
     .l2norm = true},
    {"decode T1 K128", SHAPE(3, 1, 4, 4, 128, 128), F32, STATES},
    {"decode gate in kernel l2norm grouped", SHAPE(2, 1, 2, 4, 64, 36), F32, STATES,
     .gate_in_kernel = true, .dt_bias = true, .beta_sigmoid = true, .l2norm = true},
    {"decode V6 (recurrent kernel)", SHAPE(3, 1, 2, 2, 20, 6), F32, STATES},
    {"decode fp16 K256 V256", SHAPE(2, 1, 1, 1, 256, 256), F16, STATES},
};

static void fill_case(const kda_case *c, harness_rng *rng, float *q, float *k, float *v, float *g,
                      float *beta, float *h0, float *A_log, float *dt_bias)
{
    const int HV = c->HV;
    const size_t nq = (size_t)c->B * c->T * c->H * c->K, nv = (size_t)c->B * c->T * HV * c->V;
    const size_t ng = (size_t)c->B * c->T * HV * c->K, nb = (size_t)c->B * c->T * HV;
    const int N = c->num_seqs ? c->num_seqs : c->B;
    harness_fill_normal(rng, q, nq, 1.0f);
    harness_fill_normal(rng, k, nq, 1.0f);
    if (!c->l2norm)
        harness_l2_normalize_rows(k, nq / c->K, c->K);
    harness_fill_normal(rng, v, nv, 1.0f);
    for (size_t i = 0; i < ng; ++i) {
        if (c->gate_in_kernel)
            g[i] = harness_normal(rng); /* raw */
        else if (c->g_lo != 0.0f || c->g_hi != 0.0f)
            g[i] = c->g_lo + (c->g_hi - c->g_lo) * harness_uniform(rng);
        else
            g[i] = -logf(1.0f + expf(-(harness_normal(rng) + 2.0f))); /* logsigmoid */
    }
    for (size_t i = 0; i < nb; ++i) {
        const float x = harness_normal(rng);
        beta[i] = c->beta_sigmoid ? x : 1.0f / (1.0f + expf(-x));
    }
    harness_fill_normal(rng, h0, (size_t)N * HV * c->K * c->V, 0.1f);
    harness_fill_normal(rng, A_log, (size_t)HV, 0.5f);
    harness_fill_normal(rng, dt_bias, (size_t)HV * c->K, 1.0f);
    if (c->dtype == DVK_DTYPE_F16) {
        harness_round_f16(q, nq);
        harness_round_f16(k, nq);
        harness_round_f16(v, nv);
        harness_round_f16(g, ng);
        harness_round_f16(beta, nb);
    }
}

/* Runs one case in `mode` (chunk_size 0 = the device's choice). */
static void run_case(const kda_case *c, dvk_mode mode, uint32_t chunk_size)
{
    harness_rng rng = harness_rng_make((uint64_t)(c - cases) + 101);
    const int HV = c->HV, N = c->num_seqs ? c->num_seqs : c->B;
    const size_t nq = (size_t)c->B * c->T * c->H * c->K, nv = (size_t)c->B * c->T * HV * c->V;
    const size_t ng = (size_t)c->B * c->T * HV * c->K, nb = (size_t)c->B * c->T * HV;
    const size_t ns = (size_t)N * HV * c->K * c->V;
    float *q = malloc(nq * 4), *k = malloc(nq * 4), *v = malloc(nv * 4), *g = malloc(ng * 4);
    float *beta = malloc(nb * 4), *h0 = malloc(ns * 4), *A_log = malloc((size_t)HV * 4);
    float *dt_bias = malloc((size_t)HV * c->K * 4);
    fill_case(c, &rng, q, k, v, g, beta, h0, A_log, dt_bias);
    int cu[9] = {0};
    for (int i = 0; i < c->num_seqs; ++i)
        cu[i + 1] = cu[i] + c->lens[i];
    if (c->num_seqs)
        assert_int_equal(cu[c->num_seqs], c->T);

    double *o_ref = malloc(nv * sizeof(double)), *ht_ref = malloc(ns * sizeof(double));
    assert_int_equal(dvk_ref_kda(&(dvk_ref_kda_args){
                         .B = c->B, .T = c->T, .H = c->H, .HV = HV, .K = c->K, .V = c->V,
                         .q = q, .k = k, .v = v, .g = g, .beta = beta,
                         .gate_in_kernel = c->gate_in_kernel, .A_log = A_log,
                         .dt_bias = c->dt_bias ? dt_bias : NULL, .beta_sigmoid = c->beta_sigmoid,
                         .h0 = c->h0 ? h0 : NULL, .cu_seqlens = c->num_seqs ? cu : NULL,
                         .num_seqs = c->num_seqs, .l2norm_qk = c->l2norm, .scale = c->scale,
                         .o = o_ref, .ht = ht_ref}),
                     0);

    const uint64_t sq[4] = {c->B, c->T, c->H, c->K}, sv[4] = {c->B, c->T, HV, c->V};
    const uint64_t sg[4] = {c->B, c->T, HV, c->K}, sb[3] = {c->B, c->T, HV};
    const uint64_t ss[4] = {N, HV, c->K, c->V}, sa[1] = {HV}, sd[2] = {HV, c->K};
    dvk_tensor *tq = harness_tensor(c->dtype, 4, sq, q), *tk = harness_tensor(c->dtype, 4, sq, k);
    dvk_tensor *tv = harness_tensor(c->dtype, 4, sv, v), *tg = harness_tensor(c->dtype, 4, sg, g);
    dvk_tensor *tb = harness_tensor(c->dtype, 3, sb, beta);
    dvk_tensor *ta = c->gate_in_kernel ? harness_tensor(DVK_DTYPE_F32, 1, sa, A_log) : NULL;
    dvk_tensor *td = c->dt_bias ? harness_tensor(DVK_DTYPE_F32, 2, sd, dt_bias) : NULL;
    dvk_tensor *th0 = c->h0 ? harness_tensor(DVK_DTYPE_F32, 4, ss, h0) : NULL;
    dvk_tensor *tht = c->ht ? harness_tensor_poisoned(DVK_DTYPE_F32, 4, ss) : NULL;
    dvk_tensor *to = harness_tensor_poisoned(c->dtype, 4, sv);

    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    const dvk_status st = dvk_kda(cmd, &(dvk_kda_desc){
        .q = tq, .k = tk, .v = tv, .g = tg, .beta = tb, .o = to, .initial_state = th0,
        .final_state = tht, .scale = c->scale, .mode = mode, .chunk_size = chunk_size,
        .cu_seqlens = c->num_seqs ? cu : NULL, .num_seqs = (uint32_t)c->num_seqs,
        .l2norm_qk = c->l2norm, .gate_in_kernel = c->gate_in_kernel, .A_log = ta,
        .dt_bias = td, .beta_sigmoid = c->beta_sigmoid});
    /* an explicit chunk size this device's shared memory cannot hold is refused: skipped */
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
        float *o = harness_download(to);
        harness_check(name, "o", o_ref, o, nv, tol);
        free(o);
        if (c->ht) {
            float *ht = harness_download(tht);
            harness_check(name, "ht", ht_ref, ht, ns, tol);
            free(ht);
        }
    }
    dvk_cmd_destroy(cmd);
    dvk_tensor *all[] = {tq, tk, tv, tg, tb, ta, td, th0, tht, to};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        dvk_tensor_destroy(all[i]);
    free(q), free(k), free(v), free(g), free(beta), free(h0), free(A_log), free(dt_bias);
    free(o_ref), free(ht_ref);
}

static bool have_dtype(const kda_case *c)
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

/* The chunked form with the device's chunk size, and every chunk size on a few cases. */
static void test_chunk_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        if (have_dtype(&cases[i]))
            run_case(&cases[i], DVK_MODE_CHUNK, 0);
    const size_t some[] = {1, 3, 7, 8, 10, 13, 17};
    for (size_t i = 0; i < sizeof some / sizeof some[0]; ++i)
        for (uint32_t cs = 16; cs <= 64; cs *= 2)
            if (have_dtype(&cases[some[i]]))
                run_case(&cases[some[i]], DVK_MODE_CHUNK, cs);
}

/* A prefill (chunked) then decode steps, the state carried in place, equal the reference. */
static void test_streaming(void **state)
{
    (void)state;
    enum { B = 2, T = 150, H = 2, K = 64, V = 32, PREFILL = 131 };
    const kda_case c = {"stream", SHAPE(B, T, H, H, K, V), F32, .gate_in_kernel = true,
                        .dt_bias = true, .beta_sigmoid = true};
    harness_rng rng = harness_rng_make(4242);
    const size_t nq = (size_t)B * T * H * K, nv = (size_t)B * T * H * V, nb = (size_t)B * T * H;
    float *q = malloc(nq * 4), *k = malloc(nq * 4), *v = malloc(nv * 4), *g = malloc(nq * 4);
    float *beta = malloc(nb * 4), *h0 = malloc((size_t)B * H * K * V * 4), A_log[H], dt[H * K];
    fill_case(&c, &rng, q, k, v, g, beta, h0, A_log, dt);
    double *o_ref = malloc(nv * sizeof(double)), *ht_ref = malloc((size_t)B * H * K * V * 8);
    assert_int_equal(dvk_ref_kda(&(dvk_ref_kda_args){
                         .B = B, .T = T, .H = H, .K = K, .V = V, .q = q, .k = k, .v = v, .g = g,
                         .beta = beta, .gate_in_kernel = 1, .A_log = A_log, .dt_bias = dt,
                         .beta_sigmoid = 1, .o = o_ref, .ht = ht_ref}),
                     0);
    dvk_tensor *st = NULL, *ta = harness_tensor(DVK_DTYPE_F32, 1, (uint64_t[]){H}, A_log);
    dvk_tensor *td = harness_tensor(DVK_DTYPE_F32, 1, (uint64_t[]){H * K}, dt); /* flat form */
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, H, K, V}},
                               &st));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_cmd_fill_zero(cmd, st));
    harness_run(cmd);
    float *o_all = malloc(nv * 4);
    for (int t0 = 0; t0 < T;) {
        const int n = t0 == 0 ? PREFILL : 1;
        float *x[5];
        const size_t w[5] = {(size_t)H * K, (size_t)H * K, (size_t)H * V, (size_t)H * K, H};
        const float *src[5] = {q, k, v, g, beta};
        for (int i = 0; i < 5; ++i) {
            x[i] = malloc(sizeof(float) * B * n * w[i]);
            for (int b = 0; b < B; ++b)
                memcpy(x[i] + (size_t)b * n * w[i], src[i] + ((size_t)b * T + t0) * w[i],
                       sizeof(float) * n * w[i]);
        }
        const uint64_t s4k[4] = {B, n, H, K}, s4v[4] = {B, n, H, V}, s3[3] = {B, n, H};
        dvk_tensor *tq = harness_tensor(DVK_DTYPE_F32, 4, s4k, x[0]);
        dvk_tensor *tk = harness_tensor(DVK_DTYPE_F32, 4, s4k, x[1]);
        dvk_tensor *tv = harness_tensor(DVK_DTYPE_F32, 4, s4v, x[2]);
        dvk_tensor *tg = harness_tensor(DVK_DTYPE_F32, 4, s4k, x[3]);
        dvk_tensor *tb = harness_tensor(DVK_DTYPE_F32, 3, s3, x[4]);
        dvk_tensor *to = harness_tensor_poisoned(DVK_DTYPE_F32, 4, s4v);
        CHECK_OK(dvk_cmd_reset(cmd));
        CHECK_OK(dvk_kda(cmd, &(dvk_kda_desc){
            .q = tq, .k = tk, .v = tv, .g = tg, .beta = tb, .o = to, .initial_state = st,
            .final_state = st, .gate_in_kernel = true, .A_log = ta, .dt_bias = td,
            .beta_sigmoid = true, .mode = n > 1 ? DVK_MODE_CHUNK : DVK_MODE_RECURRENT}));
        harness_run(cmd);
        float *o = harness_download(to);
        for (int b = 0; b < B; ++b)
            memcpy(o_all + ((size_t)b * T + t0) * H * V, o + (size_t)b * n * H * V,
                   sizeof(float) * n * H * V);
        free(o);
        dvk_tensor *all[] = {tq, tk, tv, tg, tb, to};
        for (size_t i = 0; i < 6; ++i)
            dvk_tensor_destroy(all[i]);
        for (int i = 0; i < 5; ++i)
            free(x[i]);
        t0 += n;
    }
    float *ht = harness_download(st);
    harness_check("kda streaming", "o", o_ref, o_all, nv, 1e-5);
    harness_check("kda streaming", "ht", ht_ref, ht, (size_t)B * H * K * V, 1e-5);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(st), dvk_tensor_destroy(ta), dvk_tensor_destroy(td);
    free(ht), free(o_all), free(q), free(k), free(v), free(g), free(beta), free(h0);
    free(o_ref), free(ht_ref);
}

static void test_bad_input(void **state)
{
    (void)state;
    const dvk_dtype F = DVK_DTYPE_F32;
    dvk_tensor *q = harness_make(F, 4, 2, 5, 2, 16), *v = harness_make(F, 4, 2, 5, 2, 8);
    dvk_tensor *g = harness_make(F, 4, 2, 5, 2, 16), *beta = harness_make(F, 3, 2, 5, 2, 0);
    dvk_tensor *o = harness_make(F, 4, 2, 5, 2, 8), *s = harness_make(F, 4, 2, 2, 16, 8);
    dvk_tensor *g_head = harness_make(F, 3, 2, 5, 2, 0), *A_log = harness_make(F, 1, 2, 0, 0, 0);
    dvk_tensor *A_bad = harness_make(F, 1, 3, 0, 0, 0), *dt = harness_make(F, 1, 32, 0, 0, 0);
    dvk_tensor *dt_bad = harness_make(F, 2, 2, 8, 0, 0), *A_f16 = harness_make(DVK_DTYPE_F16, 1, 2, 0, 0, 0);
    const dvk_kda_desc good = {.q = q, .k = q, .v = v, .g = g, .beta = beta, .o = o,
                               .initial_state = s, .final_state = s};
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    dvk_kda_desc d;
    CHECK_STATUS(dvk_kda(NULL, &good), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_kda(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.g = NULL;
    CHECK_STATUS(dvk_kda(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.g = g_head; /* a per-head gate is dvk_gated_delta_rule's */
    CHECK_STATUS(dvk_kda(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = good, d.gate_in_kernel = true; /* A_log missing */
    CHECK_STATUS(dvk_kda(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.gate_in_kernel = true, d.A_log = A_bad;
    CHECK_STATUS(dvk_kda(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = good, d.gate_in_kernel = true, d.A_log = A_f16;
    CHECK_STATUS(dvk_kda(cmd, &d), DVK_ERROR_UNSUPPORTED_DTYPE);
    d = good, d.gate_in_kernel = true, d.A_log = A_log, d.dt_bias = dt_bad;
    CHECK_STATUS(dvk_kda(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = good, d.A_log = A_log; /* without gate_in_kernel */
    CHECK_STATUS(dvk_kda(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.chunk_size = 48;
    CHECK_STATUS(dvk_kda(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.gate_in_kernel = true, d.A_log = A_log, d.dt_bias = dt;
    CHECK_OK(dvk_kda(cmd, &d));
    d.mode = DVK_MODE_CHUNK;
    CHECK_OK(dvk_kda(cmd, &d));
    harness_run(cmd);
    CHECK_STATUS(dvk_kda(cmd, &good), DVK_ERROR_INVALID_STATE);
    dvk_cmd_destroy(cmd);
    dvk_tensor *all[] = {q, v, g, beta, o, s, g_head, A_log, A_bad, dt, dt_bad, A_f16};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        dvk_tensor_destroy(all[i]);
}

/* Independent calls in one recording, with and without states, token by token and chunked
 * (as test_delta_rule's): unused writable bindings must be ordered like writes, or
 * synchronization validation reports hazards on the dummy buffer (harness teardown fails on
 * any message). */
static void test_independent_calls_one_recording(void **state)
{
    (void)state;
    const dvk_dtype F = DVK_DTYPE_F32;
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    dvk_tensor *t[4][6];
    for (int c = 0; c < 4; ++c) {
        t[c][0] = harness_make(F, 4, 1, 40, 2, 16); /* q, k */
        t[c][1] = harness_make(F, 4, 1, 40, 2, 8);  /* v */
        t[c][2] = harness_make(F, 4, 1, 40, 2, 16); /* g */
        t[c][3] = harness_make(F, 3, 1, 40, 2, 0);  /* beta */
        t[c][4] = harness_make(F, 4, 1, 40, 2, 8);  /* o */
        t[c][5] = harness_make(F, 4, 1, 2, 16, 8);  /* a state */
        const dvk_kda_desc d = {.q = t[c][0], .k = t[c][0], .v = t[c][1], .g = t[c][2],
                                .beta = t[c][3], .o = t[c][4],
                                .final_state = c % 2 ? t[c][5] : NULL,
                                .mode = c < 2 ? DVK_MODE_RECURRENT : DVK_MODE_CHUNK};
        CHECK_OK(dvk_kda(cmd, &d));
    }
    harness_run(cmd);
    dvk_cmd_destroy(cmd);
    for (int c = 0; c < 4; ++c)
        for (int i = 0; i < 6; ++i)
            dvk_tensor_destroy(t[c][i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_recurrent_table, harness_test_teardown),
        cmocka_unit_test_teardown(test_chunk_table, harness_test_teardown),
        cmocka_unit_test_teardown(test_streaming, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_input, harness_test_teardown),
        cmocka_unit_test_teardown(test_independent_calls_one_recording, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
