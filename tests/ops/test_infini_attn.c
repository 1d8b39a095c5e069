/* One Infini-attention segment on the device against the C reference in double
 * (dvk_ref_infini_attn): without and with a past memory, the delta rule, rope on and off, odd
 * sizes, fp16; several segments with the memory carried in place; bad input. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ia_case {
    const char *name;
    int B, T, H, D, DV;
    bool memory, delta, rope;
    dvk_dtype dtype;
} ia_case;

static const ia_case cases[] = {
    {"first segment (no memory)", 2, 37, 2, 32, 32, false, false, true, DVK_DTYPE_F32},
    {"with memory", 2, 37, 2, 32, 48, true, false, true, DVK_DTYPE_F32},
    {"with memory, delta rule", 1, 70, 2, 64, 64, true, true, true, DVK_DTYPE_F32},
    {"no rope, odd DV", 1, 33, 3, 16, 20, true, true, false, DVK_DTYPE_F32},
    {"D128 T130", 1, 130, 2, 128, 128, true, true, true, DVK_DTYPE_F32},
    {"D256 DV100", 1, 20, 1, 256, 100, true, false, true, DVK_DTYPE_F32},
    {"fp16 D64 delta", 2, 50, 2, 64, 64, true, true, true, DVK_DTYPE_F16},
};

typedef struct inputs {
    float *q, *k, *v, *gate, *mem, *z;
} inputs;

static inputs make_inputs(const ia_case *c, harness_rng *rng)
{
    const size_t nq = (size_t)c->B * c->T * c->H * c->D, nv = (size_t)c->B * c->T * c->H * c->DV;
    const size_t nm = (size_t)c->B * c->H * c->D * c->DV, nz = (size_t)c->B * c->H * c->D;
    inputs in = {malloc(nq * 4), malloc(nq * 4), malloc(nv * 4), malloc((size_t)c->H * 4),
                 malloc(nm * 4), malloc(nz * 4)};
    harness_fill_normal(rng, in.q, nq, 1.5f);
    harness_fill_normal(rng, in.k, nq, 1.5f);
    harness_fill_normal(rng, in.v, nv, 1.0f);
    harness_fill_uniform(rng, in.gate, (size_t)c->H, -2.0f, 2.0f);
    harness_fill_normal(rng, in.mem, nm, 1.0f);
    harness_fill_uniform(rng, in.z, nz, 5.0f, 20.0f);
    if (c->dtype == DVK_DTYPE_F16) {
        harness_round_f16(in.q, nq);
        harness_round_f16(in.k, nq);
        harness_round_f16(in.v, nv);
    }
    return in;
}

static void free_inputs(inputs *in)
{
    free(in->q), free(in->k), free(in->v), free(in->gate), free(in->mem), free(in->z);
}

static void run_case(const ia_case *c)
{
    harness_rng rng = harness_rng_make((uint64_t)(c - cases) + 77);
    inputs in = make_inputs(c, &rng);
    const size_t nv = (size_t)c->B * c->T * c->H * c->DV;
    const size_t nm = (size_t)c->B * c->H * c->D * c->DV, nz = (size_t)c->B * c->H * c->D;
    double *o_ref = malloc(nv * 8), *m_ref = malloc(nm * 8), *z_ref = malloc(nz * 8);
    assert_int_equal(dvk_ref_infini_attn(&(dvk_ref_infini_attn_args){
                         .B = c->B, .T = c->T, .H = c->H, .D = c->D, .DV = c->DV, .q = in.q,
                         .k = in.k, .v = in.v, .gate = in.gate,
                         .mem0 = c->memory ? in.mem : NULL, .z0 = c->memory ? in.z : NULL,
                         .delta_rule = c->delta, .rope = c->rope, .o = o_ref, .mem = m_ref,
                         .z = z_ref}),
                     0);
    const uint64_t sq[4] = {c->B, c->T, c->H, c->D}, sv[4] = {c->B, c->T, c->H, c->DV};
    const uint64_t sm[4] = {c->B, c->H, c->D, c->DV}, sz[3] = {c->B, c->H, c->D};
    dvk_tensor *tq = harness_tensor(c->dtype, 4, sq, in.q);
    dvk_tensor *tk = harness_tensor(c->dtype, 4, sq, in.k);
    dvk_tensor *tv = harness_tensor(c->dtype, 4, sv, in.v);
    dvk_tensor *tg = harness_tensor(DVK_DTYPE_F32, 1, (uint64_t[]){c->H}, in.gate);
    dvk_tensor *tm = c->memory ? harness_tensor(DVK_DTYPE_F32, 4, sm, in.mem) : NULL;
    dvk_tensor *tz = c->memory ? harness_tensor(DVK_DTYPE_F32, 3, sz, in.z) : NULL;
    dvk_tensor *tmo = harness_tensor_poisoned(DVK_DTYPE_F32, 4, sm);
    dvk_tensor *tzo = harness_tensor_poisoned(DVK_DTYPE_F32, 3, sz);
    dvk_tensor *to = harness_tensor_poisoned(c->dtype, 4, sv);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_infini_attn(cmd, &(dvk_infini_attn_desc){
        .q = tq, .k = tk, .v = tv, .gate = tg, .o = to, .memory = tm, .memory_z = tz,
        .final_memory = tmo, .final_z = tzo, .rope = c->rope, .delta_rule = c->delta}));
    harness_run(cmd);
    const double tol = c->dtype == DVK_DTYPE_F16 ? 5e-3 : 1e-5;
    float *o = harness_download(to), *m = harness_download(tmo), *z = harness_download(tzo);
    harness_check(c->name, "o", o_ref, o, nv, tol);
    harness_check(c->name, "memory", m_ref, m, nm, tol);
    harness_check(c->name, "z", z_ref, z, nz, tol);
    dvk_cmd_destroy(cmd);
    dvk_tensor *all[] = {tq, tk, tv, tg, tm, tz, tmo, tzo, to};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        dvk_tensor_destroy(all[i]);
    free(o), free(m), free(z), free(o_ref), free(m_ref), free(z_ref);
    free_inputs(&in);
}

static void test_table(void **state)
{
    (void)state;
    const bool f16 = dvk_context_device_info(harness_ctx)->fp16_storage;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        if (cases[i].dtype == DVK_DTYPE_F16 && !f16)
            continue;
        run_case(&cases[i]);
    }
}

/* Four segments, the memory created by the first and then updated in place, against the
 * reference chained segment by segment. */
static void test_segments(void **state)
{
    (void)state;
    const ia_case c = {"segments", 2, 29, 2, 32, 24, true, true, true, DVK_DTYPE_F32};
    const size_t nv = (size_t)c.B * c.T * c.H * c.DV;
    const size_t nm = (size_t)c.B * c.H * c.D * c.DV, nz = (size_t)c.B * c.H * c.D;
    const uint64_t sq[4] = {c.B, c.T, c.H, c.D}, sv[4] = {c.B, c.T, c.H, c.DV};
    const uint64_t sm[4] = {c.B, c.H, c.D, c.DV}, sz[3] = {c.B, c.H, c.D};
    dvk_tensor *tm = harness_tensor_poisoned(DVK_DTYPE_F32, 4, sm);
    dvk_tensor *tz = harness_tensor_poisoned(DVK_DTYPE_F32, 3, sz);
    double *o_ref = malloc(nv * 8), *m_ref = malloc(nm * 8), *z_ref = malloc(nz * 8);
    harness_rng rng = harness_rng_make(2024);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    for (int s = 0; s < 4; ++s) {
        inputs in = make_inputs(&c, &rng);
        /* the reference continues from the device's memory of the previous segment, so each
         * segment is checked on its own (errors do not compound across the chain) */
        float *m_dev = s ? harness_download(tm) : NULL, *z_dev = s ? harness_download(tz) : NULL;
        assert_int_equal(dvk_ref_infini_attn(&(dvk_ref_infini_attn_args){
                             .B = c.B, .T = c.T, .H = c.H, .D = c.D, .DV = c.DV, .q = in.q,
                             .k = in.k, .v = in.v, .gate = in.gate, .mem0 = m_dev, .z0 = z_dev,
                             .delta_rule = 1, .rope = 1, .o = o_ref, .mem = m_ref, .z = z_ref}),
                         0);
        dvk_tensor *tq = harness_tensor(c.dtype, 4, sq, in.q);
        dvk_tensor *tk = harness_tensor(c.dtype, 4, sq, in.k);
        dvk_tensor *tv = harness_tensor(c.dtype, 4, sv, in.v);
        dvk_tensor *tg = harness_tensor(DVK_DTYPE_F32, 1, (uint64_t[]){c.H}, in.gate);
        dvk_tensor *to = harness_tensor_poisoned(c.dtype, 4, sv);
        CHECK_OK(dvk_cmd_reset(cmd));
        CHECK_OK(dvk_infini_attn(cmd, &(dvk_infini_attn_desc){
            .q = tq, .k = tk, .v = tv, .gate = tg, .o = to, .memory = s ? tm : NULL,
            .memory_z = s ? tz : NULL, .final_memory = tm, .final_z = tz, .rope = true,
            .delta_rule = true}));
        harness_run(cmd);
        float *o = harness_download(to), *m = harness_download(tm), *z = harness_download(tz);
        char name[64];
        snprintf(name, sizeof name, "segment %d", s);
        harness_check(name, "o", o_ref, o, nv, 1e-5);
        harness_check(name, "memory", m_ref, m, nm, 1e-5);
        harness_check(name, "z", z_ref, z, nz, 1e-5);
        free(o), free(m), free(z), free(m_dev), free(z_dev);
        dvk_tensor_destroy(tq), dvk_tensor_destroy(tk), dvk_tensor_destroy(tv);
        dvk_tensor_destroy(tg), dvk_tensor_destroy(to);
        free_inputs(&in);
    }
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tm), dvk_tensor_destroy(tz);
    free(o_ref), free(m_ref), free(z_ref);
}

static void test_bad_input(void **state)
{
    (void)state;
    const dvk_dtype F = DVK_DTYPE_F32;
    dvk_tensor *q = NULL, *v = NULL, *g = NULL, *g_bad = NULL, *m = NULL, *z = NULL, *q_odd = NULL;
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, 5, 2, 16}},
                               &q));
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, 5, 2, 8}},
                               &v));
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 1, .shape = {2}}, &g));
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.dtype = F, .ndim = 1,
                                                               .shape = {3}}, &g_bad));
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, 2, 16, 8}},
                               &m));
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 3, .shape = {1, 2, 16}},
                               &z));
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, 5, 2, 15}},
                               &q_odd));
    dvk_tensor *o = harness_make(F, 4, 1, 5, 2, 8);
    const dvk_infini_attn_desc good = {.q = q, .k = q, .v = v, .gate = g, .o = o, .memory = m,
                                       .memory_z = z, .final_memory = m, .final_z = z,
                                       .rope = true};
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    dvk_infini_attn_desc d;
    CHECK_STATUS(dvk_infini_attn(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.gate = NULL;
    CHECK_STATUS(dvk_infini_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.gate = g_bad;
    CHECK_STATUS(dvk_infini_attn(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = good, d.memory_z = NULL;
    CHECK_STATUS(dvk_infini_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.final_z = NULL;
    CHECK_STATUS(dvk_infini_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.memory = v;
    CHECK_STATUS(dvk_infini_attn(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = good, d.q = q_odd, d.k = q_odd, d.memory = NULL, d.memory_z = NULL;
    d.final_memory = NULL, d.final_z = NULL;
    CHECK_STATUS(dvk_infini_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT); /* rope, odd D */
    d = good, d.eps = -1.0f;
    CHECK_STATUS(dvk_infini_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    /* Outputs sharing memory with an input or each other (issue 17: o = v was accepted, and
     * the attention reads v while it writes o): refused, naming both. The memory updated in
     * place (good) is fine; one starting an alignment unit into the old one is not. */
    dvk_tensor *pool = harness_make(F, 1, 4096, 0, 0, 0);
    dvk_tensor *pm0 = harness_view(pool, 0, 4, 1, 2, 16, 8);
    dvk_tensor *pm1 = harness_view(pool, 1, 4, 1, 2, 16, 8);
    dvk_tensor *pz1 = harness_view(pool, 1, 3, 1, 2, 16, 0);
    d = good, d.o = v;
    CHECK_STATUS(dvk_infini_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    if (!strstr(dvk_last_error(), "o shares memory with v"))
        fail_msg("the message \"%s\" does not name o and v", dvk_last_error());
    d = good, d.memory = pm0, d.final_memory = pm1;
    CHECK_STATUS(dvk_infini_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.memory_z = pz1, d.final_memory = pm0; /* final_memory over the old z */
    CHECK_STATUS(dvk_infini_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.final_memory = pm0, d.final_z = pz1; /* the new z inside the new memory */
    CHECK_STATUS(dvk_infini_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.memory = pm0, d.final_memory = pm0; /* in place, in the pool: fine */
    CHECK_OK(dvk_infini_attn(cmd, &d));
    CHECK_OK(dvk_infini_attn(cmd, &good));
    harness_run(cmd);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(pm0), dvk_tensor_destroy(pm1), dvk_tensor_destroy(pz1);
    dvk_tensor *all[] = {q, v, g, g_bad, m, z, q_odd, o, pool};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        dvk_tensor_destroy(all[i]);
}

/* Independent calls in one recording give the bits each gives recorded alone, with no
 * validation message: the first segment storing a memory, a memory updated in place with the
 * delta rule, a memory read and not stored (no rope), and neither (issue 17: only the recurrent
 * operators had this test). */
enum { IA_CALLS = 4 };
typedef struct ia_calls {
    dvk_tensor *t[IA_CALLS][9]; /* q, k, v, gate, o, memory, memory_z, final_memory, final_z */
} ia_calls;

static void ia_make(void *user)
{
    ia_calls *s = user;
    harness_rng rng = harness_rng_make(9);
    const dvk_dtype F = DVK_DTYPE_F32;
    for (int c = 0; c < IA_CALLS; ++c) {
        dvk_tensor **t = s->t[c];
        memset(t, 0, sizeof s->t[c]);
        for (int i = 0; i < 2; ++i)
            t[i] = harness_random(&rng, F, -1.0f, 1.0f, 4, 1, 6, 2, 16);
        t[2] = harness_random(&rng, F, -1.0f, 1.0f, 4, 1, 6, 2, 8);
        t[3] = harness_random(&rng, F, -2.0f, 2.0f, 1, 2, 0, 0, 0);
        t[4] = harness_tensor_poisoned(F, 4, (uint64_t[]){1, 6, 2, 8});
        if (c == 1 || c == 2) { /* a past memory: z positive, as φ = elu + 1 sums */
            t[5] = harness_random(&rng, F, -0.5f, 0.5f, 4, 1, 2, 16, 8);
            t[6] = harness_random(&rng, F, 1.0f, 2.0f, 3, 1, 2, 16, 0);
        }
        if (c == 0) {
            t[7] = harness_tensor_poisoned(F, 4, (uint64_t[]){1, 2, 16, 8});
            t[8] = harness_tensor_poisoned(F, 3, (uint64_t[]){1, 2, 16});
        }
    }
}

static dvk_status ia_record(void *user, dvk_cmd *cmd, int c)
{
    dvk_tensor **t = ((ia_calls *)user)->t[c];
    return dvk_infini_attn(cmd, &(dvk_infini_attn_desc){
                                    .q = t[0], .k = t[1], .v = t[2], .gate = t[3], .o = t[4],
                                    .memory = t[5], .memory_z = t[6],
                                    .final_memory = c == 1 ? t[5] : t[7],
                                    .final_z = c == 1 ? t[6] : t[8], .rope = c != 2,
                                    .delta_rule = c == 1});
}

static void ia_outputs(void *user, int c, const dvk_tensor *out[HARNESS_MAX_OUTPUTS])
{
    dvk_tensor **t = ((ia_calls *)user)->t[c];
    out[0] = t[4];
    out[1] = c == 1 ? t[5] : t[7];
    out[2] = c == 1 ? t[6] : t[8];
}

static void ia_destroy(void *user)
{
    ia_calls *s = user;
    for (int c = 0; c < IA_CALLS; ++c)
        for (int i = 0; i < 9; ++i)
            dvk_tensor_destroy(s->t[c][i]);
}

static void test_independent_calls_one_recording(void **state)
{
    (void)state;
    ia_calls s;
    harness_one_recording(&(harness_calls){"infini_attn", IA_CALLS, &s, ia_make, ia_record,
                                           ia_outputs, ia_destroy});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_table, harness_test_teardown),
        cmocka_unit_test_teardown(test_segments, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_input, harness_test_teardown),
        cmocka_unit_test_teardown(test_independent_calls_one_recording, harness_test_teardown),
    };
    if (getenv("DVK_TEST_FILTER")) /* a glob of test names: only those run */
        cmocka_set_test_filter(getenv("DVK_TEST_FILTER"));
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
