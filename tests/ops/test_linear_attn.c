/* Normalised linear attention on the device against the C reference in double
 * (dvk_ref_linear_attn): output, final state and normaliser, recurrent and chunked, over shapes,
 * dtypes, feature maps, eps forms, episode resets (random, and on the first and last token of
 * chunks), varlen; chunked against recurrent; streaming; bad input. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum done_kind { DONE_NONE, DONE_RANDOM, DONE_EDGES, DONE_ALL } done_kind;

typedef struct la_case {
    const char *name;
    int B, T, H, K, V;
    dvk_dtype dtype;
    bool h0, z0, ht;
    bool elu1, unnormalized, eps_add;
    float eps, scale;
    float qk_mean, v_mean; /* large means: a state and logits beyond fp16's range */
    done_kind done;
    int num_seqs;
    int lens[8];
} la_case;

#define SHAPE(b, t, h, k, v) .B = b, .T = t, .H = h, .K = k, .V = v
#define F32 .dtype = DVK_DTYPE_F32
#define F16 .dtype = DVK_DTYPE_F16
#define STATES .h0 = true, .z0 = true, .ht = true

static const la_case cases[] = {
    {"tiny K1 V1", SHAPE(1, 3, 1, 1, 1), F32, STATES, .elu1 = true},
    {"odd K48 V40 elu1", SHAPE(2, 37, 3, 48, 40), F32, STATES, .elu1 = true},
    {"K64 V64 T 70 no h0", SHAPE(1, 70, 2, 64, 64), F32, .ht = true, .elu1 = true},
    {"K128 V128 T 200 done random", SHAPE(1, 200, 2, 128, 128), F32, STATES, .elu1 = true,
     .done = DONE_RANDOM},
    {"K256 V256", SHAPE(1, 33, 1, 256, 256), F32, STATES, .elu1 = true},
    {"K100 V48 done on chunk edges", SHAPE(2, 150, 2, 100, 48), F32, STATES, .elu1 = true,
     .done = DONE_EDGES},
    {"K3 V200 done everywhere", SHAPE(1, 40, 2, 3, 200), F32, STATES, .elu1 = true,
     .done = DONE_ALL},
    {"identity map, unnormalised, scale 1", SHAPE(2, 90, 2, 32, 48), F32, STATES,
     .unnormalized = true, .scale = 1.0f, .done = DONE_RANDOM},
    {"fla form: eps added 1e-10", SHAPE(1, 77, 2, 64, 64), F32, STATES, .elu1 = true,
     .eps_add = true, .eps = 1e-10f},
    {"memorax form: scale 1, eps 1e-6, done", SHAPE(3, 66, 1, 32, 32), F32, .ht = true,
     .elu1 = true, .scale = 1.0f, .done = DONE_EDGES},
    {"h0 without z0", SHAPE(1, 20, 2, 16, 24), F32, .h0 = true, .ht = true, .elu1 = true},
    {"varlen 5,70,1,20 with done", SHAPE(1, 96, 2, 32, 48), F32, STATES, .elu1 = true,
     .done = DONE_RANDOM, .num_seqs = 4, .lens = {5, 70, 1, 20}},
    {"varlen with empty sequences", SHAPE(1, 9, 1, 16, 24), F32, STATES, .elu1 = true,
     .num_seqs = 4, .lens = {0, 8, 1, 0}},
    {"fp16 K64 V100 done", SHAPE(2, 90, 2, 64, 100), F16, STATES, .elu1 = true,
     .done = DONE_EDGES},
    {"fp16 K128 V128", SHAPE(1, 130, 2, 128, 128), F16, STATES, .elu1 = true},
    {"decode T1 K128", SHAPE(3, 1, 4, 128, 128), F32, STATES, .elu1 = true},
    {"decode T1 done", SHAPE(2, 1, 2, 64, 36), F32, STATES, .elu1 = true, .done = DONE_ALL},
    /* fp16 with K and V multiples of 16: the tensor-core output pass where the device has one */
    {"fp16 K64 V48 done on chunk edges", SHAPE(2, 150, 2, 64, 48), F16, STATES, .elu1 = true,
     .done = DONE_EDGES},
    {"fp16 identity, unnormalised, scale 1, done", SHAPE(2, 90, 2, 32, 48), F16, STATES,
     .unnormalized = true, .scale = 1.0f, .done = DONE_RANDOM},
    {"fp16 state and logits past 65504", SHAPE(1, 300, 2, 64, 64), F16, STATES, .elu1 = true,
     .scale = 1.0f, .qk_mean = 40.0f, .v_mean = 100.0f},
    {"fp16 varlen 5,70,1,20 done", SHAPE(1, 96, 2, 32, 32), F16, STATES, .elu1 = true,
     .done = DONE_RANDOM, .num_seqs = 4, .lens = {5, 70, 1, 20}},
    /* K = 80: a last slice of 16 key channels on the tensor-core path */
    {"fp16 K80 V48 done on chunk edges", SHAPE(2, 100, 2, 80, 48), F16, STATES, .elu1 = true,
     .done = DONE_EDGES},
    /* K, V not multiples of 4: the state pass loads fp16 one element at a time */
    {"fp16 K6 V10", SHAPE(1, 50, 2, 6, 10), F16, STATES, .elu1 = true},
    /* 128 (sequence, head) pairs: state tiles of 32 columns, two per invocation */
    {"8 x 16 heads, K64 V64", SHAPE(8, 40, 16, 64, 64), F32, STATES, .elu1 = true,
     .done = DONE_RANDOM},
};

static void fill_done(const la_case *c, harness_rng *rng, float *done)
{
    const size_t n = (size_t)c->B * c->T;
    for (size_t i = 0; i < n; ++i) {
        const int t = (int)(i % c->T);
        switch (c->done) {
        case DONE_NONE: done[i] = 0.0f; break;
        case DONE_RANDOM: done[i] = harness_uniform(rng) < 0.05f ? 1.0f : 0.0f; break;
        case DONE_ALL: done[i] = 1.0f; break;
        case DONE_EDGES: /* first and last tokens of chunks of 16, 32 and 64, and token 0 */
            done[i] = (t == 0 && i == 0) || t == 15 || t == 32 || t == 63 || t == 64 ||
                              t == 127 || t == 144
                          ? 1.0f
                          : 0.0f;
            break;
        }
    }
}

/* Runs one case in `mode`; returns the output (malloc'd) for comparisons between modes, or
 * NULL when the mode was skipped. */
static float *run_case(const la_case *c, dvk_mode mode, uint32_t chunk_size)
{
    harness_rng rng = harness_rng_make((uint64_t)(c - cases) + 707);
    const int N = c->num_seqs ? c->num_seqs : c->B;
    const size_t nq = (size_t)c->B * c->T * c->H * c->K, nv = (size_t)c->B * c->T * c->H * c->V;
    const size_t ns = (size_t)N * c->H * c->K * c->V, nz = (size_t)N * c->H * c->K;
    const size_t nd = (size_t)c->B * c->T;
    float *q = malloc(nq * 4), *k = malloc(nq * 4), *v = malloc(nv * 4), *done = malloc(nd * 4);
    float *h0 = malloc(ns * 4), *z0 = malloc(nz * 4);
    if (c->elu1) {
        harness_fill_normal(&rng, q, nq, 1.0f);
        harness_fill_normal(&rng, k, nq, 1.0f);
    } else { /* the identity map: positive features keep the normaliser away from zero */
        harness_fill_uniform(&rng, q, nq, 0.0f, 1.0f);
        harness_fill_uniform(&rng, k, nq, 0.0f, 1.0f);
    }
    harness_fill_normal(&rng, v, nv, 1.0f);
    for (size_t i = 0; i < nq; ++i)
        q[i] += c->qk_mean, k[i] += c->qk_mean;
    for (size_t i = 0; i < nv; ++i)
        v[i] += c->v_mean;
    harness_fill_normal(&rng, h0, ns, 0.5f);
    harness_fill_uniform(&rng, z0, nz, 0.0f, 2.0f);
    fill_done(c, &rng, done);
    if (c->dtype == DVK_DTYPE_F16) {
        harness_round_f16(q, nq);
        harness_round_f16(k, nq);
        harness_round_f16(v, nv);
    }
    int cu[9] = {0};
    for (int i = 0; i < c->num_seqs; ++i)
        cu[i + 1] = cu[i] + c->lens[i];
    if (c->num_seqs)
        assert_int_equal(cu[c->num_seqs], c->T);

    double *o_ref = malloc(nv * 8), *ht_ref = malloc(ns * 8), *zt_ref = malloc(nz * 8);
    assert_int_equal(dvk_ref_linear_attn(&(dvk_ref_linear_attn_args){
                         .B = c->B, .T = c->T, .H = c->H, .K = c->K, .V = c->V, .q = q, .k = k,
                         .v = v, .done = c->done ? done : NULL, .h0 = c->h0 ? h0 : NULL,
                         .z0 = c->z0 ? z0 : NULL, .cu_seqlens = c->num_seqs ? cu : NULL,
                         .num_seqs = c->num_seqs, .elu1 = c->elu1, .normalize = !c->unnormalized,
                         .eps = c->eps, .eps_add = c->eps_add, .scale = c->scale, .o = o_ref,
                         .ht = ht_ref, .zt = zt_ref}),
                     0);

    const uint64_t sq[4] = {c->B, c->T, c->H, c->K}, sv[4] = {c->B, c->T, c->H, c->V};
    const uint64_t ss[4] = {N, c->H, c->K, c->V}, sz[3] = {N, c->H, c->K};
    const uint64_t sd[2] = {c->B, c->T};
    dvk_tensor *tq = harness_tensor(c->dtype, 4, sq, q), *tk = harness_tensor(c->dtype, 4, sq, k);
    dvk_tensor *tv = harness_tensor(c->dtype, 4, sv, v);
    dvk_tensor *td = c->done ? harness_tensor(c->dtype, 2, sd, done) : NULL;
    dvk_tensor *th0 = c->h0 ? harness_tensor(DVK_DTYPE_F32, 4, ss, h0) : NULL;
    dvk_tensor *tz0 = c->z0 ? harness_tensor(DVK_DTYPE_F32, 3, sz, z0) : NULL;
    dvk_tensor *tht = c->ht ? harness_tensor_poisoned(DVK_DTYPE_F32, 4, ss) : NULL;
    dvk_tensor *tzt = c->ht ? harness_tensor_poisoned(DVK_DTYPE_F32, 3, sz) : NULL;
    dvk_tensor *to = harness_tensor_poisoned(c->dtype, 4, sv);

    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    const dvk_status st = dvk_linear_attn(cmd, &(dvk_linear_attn_desc){
        .q = tq, .k = tk, .v = tv, .done = td, .o = to, .initial_state = th0, .initial_z = tz0,
        .final_state = tht, .final_z = tzt, .scale = c->scale, .mode = mode,
        .cu_seqlens = c->num_seqs ? cu : NULL, .num_seqs = (uint32_t)c->num_seqs,
        .feature_map = c->elu1 ? DVK_FEATURE_ELU1 : DVK_FEATURE_IDENTITY,
        .normalize = !c->unnormalized, .eps = c->eps, .eps_add = c->eps_add,
        .chunk_size = chunk_size});
    const bool skip = st == DVK_ERROR_LIMIT_EXCEEDED && chunk_size != 0;
    float *o = NULL;
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
        o = harness_download(to);
        harness_check(name, "o", o_ref, o, nv, tol);
        if (c->ht) {
            float *ht = harness_download(tht), *zt = harness_download(tzt);
            harness_check(name, "ht", ht_ref, ht, ns, tol);
            harness_check(name, "z", zt_ref, zt, nz, tol);
            free(ht);
            free(zt);
        }
    }
    dvk_cmd_destroy(cmd);
    dvk_tensor *all[] = {tq, tk, tv, td, th0, tz0, tht, tzt, to};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        dvk_tensor_destroy(all[i]);
    free(q), free(k), free(v), free(done), free(h0), free(z0);
    free(o_ref), free(ht_ref), free(zt_ref);
    return o;
}

static bool have_dtype(const la_case *c)
{
    return harness_have_dtype(c->name, c->dtype);
}

static void test_recurrent_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        if (have_dtype(&cases[i]))
            free(run_case(&cases[i], DVK_MODE_RECURRENT, 0));
}

/* The chunked form with the device's chunk size, then every chunk size on the cases with
 * resets, each also against the recurrent kernel's output. */
static void test_chunk_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        if (have_dtype(&cases[i]))
            free(run_case(&cases[i], DVK_MODE_CHUNK, 0));
    const size_t some[] = {3, 5, 6, 7, 9, 11, 13, 17, 18, 19, 20, 21};
    for (size_t i = 0; i < sizeof some / sizeof some[0]; ++i) {
        const la_case *c = &cases[some[i]];
        if (!have_dtype(c))
            continue;
        float *rec = run_case(c, DVK_MODE_RECURRENT, 0);
        const size_t nv = (size_t)c->B * c->T * c->H * c->V;
        double *rd = malloc(nv * 8);
        for (size_t j = 0; j < nv; ++j)
            rd[j] = rec[j];
        for (uint32_t cs = 16; cs <= 64; cs *= 2) {
            float *o = run_case(c, DVK_MODE_CHUNK, cs);
            if (o) {
                char name[160];
                snprintf(name, sizeof name, "%s [chunk %u vs recurrent]", c->name, cs);
                harness_check(name, "o", rd, o, nv, c->dtype == DVK_DTYPE_F16 ? 2e-3 : 2e-6);
            }
            free(o);
        }
        free(rec);
        free(rd);
    }
}

/* Segments of a long sequence, chunked then token by token, the state and normaliser carried
 * in place, equal one reference pass (with resets inside the segments). */
static void test_streaming(void **state)
{
    (void)state;
    enum { B = 2, T = 300, H = 2, K = 32, V = 48 };
    const int cuts[] = {0, 130, 131, 200, 201, 300};
    harness_rng rng = harness_rng_make(99);
    const size_t nq = (size_t)B * T * H * K, nv = (size_t)B * T * H * V;
    float *q = malloc(nq * 4), *k = malloc(nq * 4), *v = malloc(nv * 4), *done = malloc(B * T * 4);
    harness_fill_normal(&rng, q, nq, 1.0f);
    harness_fill_normal(&rng, k, nq, 1.0f);
    harness_fill_normal(&rng, v, nv, 1.0f);
    for (int i = 0; i < B * T; ++i)
        done[i] = harness_uniform(&rng) < 0.02f ? 1.0f : 0.0f;
    double *o_ref = malloc(nv * 8), *ht_ref = malloc((size_t)B * H * K * V * 8);
    double *zt_ref = malloc((size_t)B * H * K * 8);
    assert_int_equal(dvk_ref_linear_attn(&(dvk_ref_linear_attn_args){
                         .B = B, .T = T, .H = H, .K = K, .V = V, .q = q, .k = k, .v = v,
                         .done = done, .elu1 = 1, .normalize = 1, .o = o_ref, .ht = ht_ref,
                         .zt = zt_ref}),
                     0);
    dvk_tensor *st = NULL, *sz = NULL;
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, H, K, V}},
                               &st));
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 3, .shape = {B, H, K}},
                               &sz));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_cmd_fill_zero(cmd, st));
    CHECK_OK(dvk_cmd_fill_zero(cmd, sz));
    harness_run(cmd);
    float *o_all = malloc(nv * 4);
    for (size_t s = 0; s + 1 < sizeof cuts / sizeof cuts[0]; ++s) {
        const int t0 = cuts[s], n = cuts[s + 1] - cuts[s];
        float *x[4];
        const size_t w[4] = {(size_t)H * K, (size_t)H * K, (size_t)H * V, 1};
        const float *src[4] = {q, k, v, done};
        for (int i = 0; i < 4; ++i) {
            x[i] = malloc(sizeof(float) * B * n * w[i]);
            for (int b = 0; b < B; ++b)
                memcpy(x[i] + (size_t)b * n * w[i], src[i] + ((size_t)b * T + t0) * w[i],
                       sizeof(float) * n * w[i]);
        }
        const uint64_t s4k[4] = {B, n, H, K}, s4v[4] = {B, n, H, V}, s2[2] = {B, n};
        dvk_tensor *tq = harness_tensor(DVK_DTYPE_F32, 4, s4k, x[0]);
        dvk_tensor *tk = harness_tensor(DVK_DTYPE_F32, 4, s4k, x[1]);
        dvk_tensor *tv = harness_tensor(DVK_DTYPE_F32, 4, s4v, x[2]);
        dvk_tensor *td = harness_tensor(DVK_DTYPE_F32, 2, s2, x[3]);
        dvk_tensor *to = harness_tensor_poisoned(DVK_DTYPE_F32, 4, s4v);
        CHECK_OK(dvk_cmd_reset(cmd));
        CHECK_OK(dvk_linear_attn(cmd, &(dvk_linear_attn_desc){
            .q = tq, .k = tk, .v = tv, .done = td, .o = to, .initial_state = st,
            .initial_z = sz, .final_state = st, .final_z = sz, .scale = 0.0f,
            .feature_map = DVK_FEATURE_ELU1, .normalize = true,
            .mode = n > 1 ? DVK_MODE_CHUNK : DVK_MODE_RECURRENT}));
        harness_run(cmd);
        float *o = harness_download(to);
        for (int b = 0; b < B; ++b)
            memcpy(o_all + ((size_t)b * T + t0) * H * V, o + (size_t)b * n * H * V,
                   sizeof(float) * n * H * V);
        free(o);
        dvk_tensor *all[] = {tq, tk, tv, td, to};
        for (size_t i = 0; i < 5; ++i)
            dvk_tensor_destroy(all[i]);
        for (int i = 0; i < 4; ++i)
            free(x[i]);
    }
    float *ht = harness_download(st), *zt = harness_download(sz);
    harness_check("linear_attn streaming", "o", o_ref, o_all, nv, 1e-5);
    harness_check("linear_attn streaming", "ht", ht_ref, ht, (size_t)B * H * K * V, 1e-5);
    harness_check("linear_attn streaming", "z", zt_ref, zt, (size_t)B * H * K, 1e-5);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(st), dvk_tensor_destroy(sz);
    free(ht), free(zt), free(o_all), free(q), free(k), free(v), free(done);
    free(o_ref), free(ht_ref), free(zt_ref);
}

static void test_bad_input(void **state)
{
    (void)state;
    const dvk_dtype F = DVK_DTYPE_F32;
    dvk_tensor *q = harness_make(F, 4, 2, 5, 2, 16), *v = harness_make(F, 4, 2, 5, 2, 8);
    dvk_tensor *o = harness_make(F, 4, 2, 5, 2, 8), *s = harness_make(F, 4, 2, 2, 16, 8);
    dvk_tensor *z = harness_make(F, 3, 2, 2, 16, 0), *z_bad = harness_make(F, 3, 2, 2, 8, 0);
    dvk_tensor *done = harness_make(F, 2, 2, 5, 0, 0), *done_bad = harness_make(F, 2, 2, 4, 0, 0);
    dvk_tensor *done_f16 = harness_make(DVK_DTYPE_F16, 2, 2, 5, 0, 0);
    const dvk_linear_attn_desc good = {.q = q, .k = q, .v = v, .done = done, .o = o,
                                       .initial_state = s, .initial_z = z, .final_state = s,
                                       .final_z = z, .feature_map = DVK_FEATURE_ELU1,
                                       .normalize = true};
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    dvk_linear_attn_desc d;
    CHECK_STATUS(dvk_linear_attn(NULL, &good), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_linear_attn(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.v = NULL;
    CHECK_STATUS(dvk_linear_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.done = done_bad;
    CHECK_STATUS(dvk_linear_attn(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = good, d.done = done_f16;
    CHECK_STATUS(dvk_linear_attn(cmd, &d), DVK_ERROR_UNSUPPORTED_DTYPE);
    d = good, d.initial_z = z_bad;
    CHECK_STATUS(dvk_linear_attn(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = good, d.final_z = z_bad;
    CHECK_STATUS(dvk_linear_attn(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = good, d.eps = -1.0f;
    CHECK_STATUS(dvk_linear_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.eps = NAN;
    CHECK_STATUS(dvk_linear_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.feature_map = (dvk_feature_map)7;
    CHECK_STATUS(dvk_linear_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.chunk_size = 48;
    CHECK_STATUS(dvk_linear_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.mode = (dvk_mode)9;
    CHECK_STATUS(dvk_linear_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    /* The normalisers and done follow the rule of the other tensors (issue 17: they were not
     * checked): an output overlapping them, or each other, is refused, naming both; z updated
     * in place (good) is fine. Views of one pool, the second an alignment unit in. */
    dvk_tensor *pool = harness_make(F, 1, 4096, 0, 0, 0);
    dvk_tensor *po = harness_view(pool, 0, 4, 2, 5, 2, 8);
    dvk_tensor *pdone = harness_view(pool, 1, 2, 2, 5, 0, 0);
    dvk_tensor *pz0 = harness_view(pool, 0, 3, 2, 2, 16, 0);
    dvk_tensor *pz1 = harness_view(pool, 1, 3, 2, 2, 16, 0);
    d = good, d.o = po, d.done = pdone;
    CHECK_STATUS(dvk_linear_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    if (!strstr(dvk_last_error(), "o shares memory with done"))
        fail_msg("the message \"%s\" does not name o and done", dvk_last_error());
    d = good, d.initial_z = pz0, d.final_z = pz1;
    CHECK_STATUS(dvk_linear_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.o = po, d.final_z = pz1;
    CHECK_STATUS(dvk_linear_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.initial_z = pz1, d.final_state = NULL, d.final_z = NULL, d.o = po;
    CHECK_STATUS(dvk_linear_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.initial_z = pz0, d.final_z = pz0; /* in place, in the pool: fine */
    CHECK_OK(dvk_linear_attn(cmd, &d));
    CHECK_OK(dvk_linear_attn(cmd, &good));
    d = good, d.mode = DVK_MODE_CHUNK;
    CHECK_OK(dvk_linear_attn(cmd, &d));
    harness_run(cmd);
    CHECK_STATUS(dvk_linear_attn(cmd, &good), DVK_ERROR_INVALID_STATE);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(po), dvk_tensor_destroy(pdone), dvk_tensor_destroy(pz0);
    dvk_tensor_destroy(pz1);
    dvk_tensor *all[] = {q, v, o, s, z, z_bad, done, done_bad, done_f16, pool};
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
    dvk_tensor *t[4][5];
    for (int c = 0; c < 4; ++c) {
        t[c][0] = harness_make(F, 4, 1, 40, 2, 16); /* q, k */
        t[c][1] = harness_make(F, 4, 1, 40, 2, 8);  /* v */
        t[c][2] = harness_make(F, 4, 1, 40, 2, 8);  /* o */
        t[c][3] = harness_make(F, 4, 1, 2, 16, 8);  /* a state */
        t[c][4] = harness_make(F, 3, 1, 2, 16, 0);  /* a normaliser */
        const dvk_linear_attn_desc d = {.q = t[c][0], .k = t[c][0], .v = t[c][1],
                                        .o = t[c][2],
                                        .final_state = c % 2 ? t[c][3] : NULL,
                                        .final_z = c % 2 ? t[c][4] : NULL,
                                        .mode = c < 2 ? DVK_MODE_RECURRENT : DVK_MODE_CHUNK};
        CHECK_OK(dvk_linear_attn(cmd, &d));
    }
    harness_run(cmd);
    dvk_cmd_destroy(cmd);
    for (int c = 0; c < 4; ++c)
        for (int i = 0; i < 5; ++i)
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
    if (getenv("DVK_TEST_FILTER")) /* a glob of test names: only those run */
        cmocka_set_test_filter(getenv("DVK_TEST_FILTER"));
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
