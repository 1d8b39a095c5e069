/* Causal softmax attention inside segments on the device against the C reference in double
 * (dvk_ref_softmax_attn): shapes, head dims up to 256, segments shorter than, equal to and not
 * dividing T, fp16, large logits that would overflow a naive exp; bad input. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sa_case {
    const char *name;
    int B, T, H, D, DV, segment;
    dvk_dtype dtype;
    float scale, amp; /* amp: stddev of q and k (large = large logits) */
} sa_case;

static const sa_case cases[] = {
    {"tiny D1 DV1", 1, 3, 1, 1, 1, 0, DVK_DTYPE_F32, 0.0f, 1.0f},
    {"D32 DV48 whole sequence", 2, 37, 3, 32, 48, 0, DVK_DTYPE_F32, 0.0f, 1.0f},
    {"D64 T100 segments of 32", 1, 100, 2, 64, 64, 32, DVK_DTYPE_F32, 0.0f, 1.0f},
    {"D128 T150 segments of 50 (not dividing blocks)", 1, 150, 2, 128, 128, 50, DVK_DTYPE_F32,
     0.0f, 1.0f},
    {"D256 DV256", 1, 45, 1, 256, 256, 0, DVK_DTYPE_F32, 0.0f, 1.0f},
    {"D100 DV40 scale 1", 2, 29, 2, 100, 40, 7, DVK_DTYPE_F32, 1.0f, 0.3f},
    {"D3 DV200", 1, 19, 2, 3, 200, 0, DVK_DTYPE_F32, 0.0f, 1.0f},
    {"segment 1 (each token alone)", 1, 20, 1, 16, 16, 1, DVK_DTYPE_F32, 0.0f, 1.0f},
    {"large logits (|s| ~ 1e4)", 1, 70, 2, 64, 32, 0, DVK_DTYPE_F32, 0.0f, 30.0f},
    {"large logits, scale 100", 1, 40, 1, 16, 16, 0, DVK_DTYPE_F32, 100.0f, 5.0f},
    {"fp16 D64 DV100 segments of 40", 2, 90, 2, 64, 100, 40, DVK_DTYPE_F16, 0.0f, 1.0f},
    {"fp16 D128", 1, 130, 2, 128, 128, 0, DVK_DTYPE_F16, 0.0f, 1.0f},
};

static void run_case(const sa_case *c)
{
    harness_rng rng = harness_rng_make((uint64_t)(c - cases) + 31);
    const size_t nq = (size_t)c->B * c->T * c->H * c->D, nv = (size_t)c->B * c->T * c->H * c->DV;
    float *q = malloc(nq * 4), *k = malloc(nq * 4), *v = malloc(nv * 4);
    harness_fill_normal(&rng, q, nq, c->amp);
    harness_fill_normal(&rng, k, nq, c->amp);
    harness_fill_normal(&rng, v, nv, 1.0f);
    if (c->dtype == DVK_DTYPE_F16) {
        harness_round_f16(q, nq);
        harness_round_f16(k, nq);
        harness_round_f16(v, nv);
    }
    double *o_ref = malloc(nv * 8);
    assert_int_equal(dvk_ref_softmax_attn(&(dvk_ref_softmax_attn_args){
                         .B = c->B, .T = c->T, .H = c->H, .D = c->D, .DV = c->DV, .q = q, .k = k,
                         .v = v, .segment = c->segment, .scale = c->scale, .o = o_ref}),
                     0);
    const uint64_t sq[4] = {c->B, c->T, c->H, c->D}, sv[4] = {c->B, c->T, c->H, c->DV};
    dvk_tensor *tq = harness_tensor(c->dtype, 4, sq, q), *tk = harness_tensor(c->dtype, 4, sq, k);
    dvk_tensor *tv = harness_tensor(c->dtype, 4, sv, v);
    dvk_tensor *to = harness_tensor_poisoned(c->dtype, 4, sv);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_softmax_attn(cmd, &(dvk_softmax_attn_desc){.q = tq, .k = tk, .v = tv, .o = to,
                                                            .scale = c->scale,
                                                            .segment = (uint32_t)c->segment}));
    harness_run(cmd);
    float *o = harness_download(to);
    const double tol = c->dtype == DVK_DTYPE_F16 ? 5e-3 : 1e-5;
    const double e = harness_rel_err(c->name, o_ref, o, nv);
    if (!(e <= tol))
        fail_msg("%s: o rel rms %.3e > %.0e", c->name, e, tol);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tq), dvk_tensor_destroy(tk), dvk_tensor_destroy(tv), dvk_tensor_destroy(to);
    free(q), free(k), free(v), free(o), free(o_ref);
}

static void test_table(void **state)
{
    (void)state;
    const bool f16 = dvk_context_device_info(harness_ctx)->fp16_storage;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        if (cases[i].dtype == DVK_DTYPE_F16 && !f16) {
            fprintf(stderr, "  skip %s: no fp16 storage\n", cases[i].name);
            continue;
        }
        run_case(&cases[i]);
    }
}

/* A long segment (the Infini segment length) on a cheap shape. */
static void test_long_segment(void **state)
{
    (void)state;
    const sa_case c = {"T 2100, segment 2048", 1, 2100, 1, 16, 8, 2048, DVK_DTYPE_F32, 0.0f, 1.0f};
    run_case(&c);
}

static void test_bad_input(void **state)
{
    (void)state;
    dvk_tensor *q = NULL, *v = NULL, *big = NULL, *vbad = NULL;
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, 5, 2, 16}},
                               &q));
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, 5, 2, 8}},
                               &v));
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, 5, 2, 300}},
                               &big));
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, 4, 2, 8}},
                               &vbad));
    dvk_tensor *o = harness_make(DVK_DTYPE_F32, 4, 1, 5, 2, 8);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    const dvk_softmax_attn_desc good = {.q = q, .k = q, .v = v, .o = o};
    dvk_softmax_attn_desc d;
    CHECK_STATUS(dvk_softmax_attn(NULL, &good), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_softmax_attn(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.k = NULL;
    CHECK_STATUS(dvk_softmax_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.v = vbad;
    CHECK_STATUS(dvk_softmax_attn(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = good, d.v = big, d.o = big;
    CHECK_STATUS(dvk_softmax_attn(cmd, &d), DVK_ERROR_UNSUPPORTED);
    d = good, d.scale = INFINITY;
    CHECK_STATUS(dvk_softmax_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    /* An output sharing memory with an input (issue 17: o = v was accepted, and every
     * workgroup reads v while others write o): refused, naming both. In one pool, o starting
     * one alignment unit into k. */
    dvk_tensor *pool = harness_make(DVK_DTYPE_F32, 1, 4096, 0, 0, 0);
    dvk_tensor *pk = harness_view(pool, 0, 4, 1, 5, 2, 16);
    dvk_tensor *po = harness_view(pool, 1, 4, 1, 5, 2, 8);
    d = good, d.o = v;
    CHECK_STATUS(dvk_softmax_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    if (!strstr(dvk_last_error(), "o shares memory with v"))
        fail_msg("the message \"%s\" does not name o and v", dvk_last_error());
    d = good, d.k = pk, d.o = po;
    CHECK_STATUS(dvk_softmax_attn(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = good, d.k = pk; /* k in the pool, o apart: fine */
    CHECK_OK(dvk_softmax_attn(cmd, &d));
    CHECK_OK(dvk_softmax_attn(cmd, &good));
    harness_run(cmd);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(pk), dvk_tensor_destroy(po), dvk_tensor_destroy(pool);
    dvk_tensor_destroy(q), dvk_tensor_destroy(v), dvk_tensor_destroy(big);
    dvk_tensor_destroy(vbad), dvk_tensor_destroy(o);
}

/* Independent calls in one recording (shapes, segments and scales of their own) give the bits
 * each gives recorded alone, with no validation message (issue 17: only the recurrent
 * operators had this test). */
typedef struct sa_calls {
    dvk_tensor *t[3][4]; /* q, k, v, o */
} sa_calls;

static const int sa_shape[3][6] = {{1, 9, 2, 16, 8, 0}, {2, 5, 1, 8, 16, 2}, {1, 7, 3, 4, 4, 3}};

static void sa_make(void *user)
{
    sa_calls *s = user;
    harness_rng rng = harness_rng_make(5);
    for (int c = 0; c < 3; ++c) {
        const int *z = sa_shape[c];
        s->t[c][0] = harness_random(&rng, DVK_DTYPE_F32, -1.0f, 1.0f, 4, z[0], z[1], z[2], z[3]);
        s->t[c][1] = harness_random(&rng, DVK_DTYPE_F32, -1.0f, 1.0f, 4, z[0], z[1], z[2], z[3]);
        s->t[c][2] = harness_random(&rng, DVK_DTYPE_F32, -1.0f, 1.0f, 4, z[0], z[1], z[2], z[4]);
        s->t[c][3] = harness_tensor_poisoned(DVK_DTYPE_F32, 4,
                                             (uint64_t[]){z[0], z[1], z[2], z[4]});
    }
}

static dvk_status sa_record(void *user, dvk_cmd *cmd, int c)
{
    sa_calls *s = user;
    return dvk_softmax_attn(cmd, &(dvk_softmax_attn_desc){
                                     .q = s->t[c][0], .k = s->t[c][1], .v = s->t[c][2],
                                     .o = s->t[c][3], .segment = (uint32_t)sa_shape[c][5],
                                     .scale = c == 2 ? 0.5f : 0.0f});
}

static void sa_outputs(void *user, int c, const dvk_tensor *out[HARNESS_MAX_OUTPUTS])
{
    out[0] = ((sa_calls *)user)->t[c][3];
}

static void sa_destroy(void *user)
{
    sa_calls *s = user;
    for (int c = 0; c < 3; ++c)
        for (int i = 0; i < 4; ++i)
            dvk_tensor_destroy(s->t[c][i]);
}

static void test_independent_calls_one_recording(void **state)
{
    (void)state;
    sa_calls s;
    harness_one_recording(&(harness_calls){"softmax_attn", 3, &s, sa_make, sa_record,
                                           sa_outputs, sa_destroy});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_table, harness_test_teardown),
        cmocka_unit_test_teardown(test_long_segment, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_input, harness_test_teardown),
        cmocka_unit_test_teardown(test_independent_calls_one_recording, harness_test_teardown),
    };
    if (getenv("DVK_TEST_FILTER")) /* a glob of test names: only those run */
        cmocka_set_test_filter(getenv("DVK_TEST_FILTER"));
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
