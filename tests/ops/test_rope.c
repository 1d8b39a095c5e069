/* The rotary embedding on the device against the C reference in double (dvk_ref_rope): head
 * dims, partial rotation, odd D, large position offsets (the angle reduction), scale, fp16, in
 * place; bad input. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rope_case {
    const char *name;
    int B, T, H, D, rotary_dim, offset;
    float theta, scale;
    dvk_dtype dtype;
    bool in_place;
} rope_case;

static const rope_case cases[] = {
    {"D32 offset 0", 2, 23, 2, 32, 0, 0, 0.0f, 0.0f, DVK_DTYPE_F32, false},
    {"D128 offset 5 scale", 1, 70, 3, 128, 0, 5, 0.0f, 0.125f, DVK_DTYPE_F32, false},
    {"partial rotation 16 of 32", 2, 9, 1, 32, 16, 3, 0.0f, 0.0f, DVK_DTYPE_F32, false},
    {"odd D 33, rotary 32", 1, 11, 2, 33, 0, 0, 500.0f, 0.0f, DVK_DTYPE_F32, false},
    {"large offset 1e6 (angles ~1e6 rad)", 1, 130, 1, 64, 0, 1000000, 0.0f, 0.0f, DVK_DTYPE_F32,
     false},
    {"D256 in place", 1, 40, 2, 256, 0, 63, 0.0f, 0.0f, DVK_DTYPE_F32, true},
    {"fp16 D64", 2, 50, 2, 64, 0, 7, 0.0f, 0.0f, DVK_DTYPE_F16, false},
};

static void run_case(const rope_case *c)
{
    harness_rng rng = harness_rng_make((uint64_t)(c - cases) + 5);
    const size_t n = (size_t)c->B * c->T * c->H * c->D;
    float *x = malloc(n * 4);
    harness_fill_normal(&rng, x, n, 1.0f);
    if (c->dtype == DVK_DTYPE_F16)
        harness_round_f16(x, n);
    double *y_ref = malloc(n * 8);
    assert_int_equal(dvk_ref_rope(&(dvk_ref_rope_args){.B = c->B, .T = c->T, .H = c->H,
                                                       .D = c->D, .x = x,
                                                       .rotary_dim = c->rotary_dim,
                                                       .theta = c->theta, .offset = c->offset,
                                                       .scale = c->scale, .y = y_ref}),
                     0);
    const uint64_t s[4] = {c->B, c->T, c->H, c->D};
    dvk_tensor *tx = harness_tensor(c->dtype, 4, s, x);
    dvk_tensor *ty = c->in_place ? tx : harness_tensor_poisoned(c->dtype, 4, s);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_rope(cmd, &(dvk_rope_desc){.x = tx, .y = ty, .rotary_dim = (uint32_t)c->rotary_dim,
                                            .theta = c->theta, .offset = c->offset,
                                            .scale = c->scale}));
    harness_run(cmd);
    float *y = harness_download(ty);
    const double tol = c->dtype == DVK_DTYPE_F16 ? 5e-3 : 1e-6;
    const double e = harness_rel_err(c->name, y_ref, y, n);
    if (!(e <= tol))
        fail_msg("%s: y rel rms %.3e > %.0e", c->name, e, tol);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tx);
    if (!c->in_place)
        dvk_tensor_destroy(ty);
    free(x), free(y), free(y_ref);
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

static void test_bad_input(void **state)
{
    (void)state;
    dvk_tensor *x = NULL, *y = NULL;
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, 5, 2, 16}},
                               &x));
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, 5, 2, 8}},
                               &y));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_STATUS(dvk_rope(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_rope(cmd, &(dvk_rope_desc){.x = x, .y = y}), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_rope(cmd, &(dvk_rope_desc){.x = x, .y = x, .rotary_dim = 7}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_rope(cmd, &(dvk_rope_desc){.x = x, .y = x, .rotary_dim = 18}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_rope(cmd, &(dvk_rope_desc){.x = x, .y = x, .offset = -1}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_rope(cmd, &(dvk_rope_desc){.x = x, .y = x, .theta = -2.0f}),
                 DVK_ERROR_INVALID_ARGUMENT);
    /* y in place (x itself) or apart; a y that starts an alignment unit into x would rotate
     * pairs another invocation already rotated (issue 17): refused, naming both. */
    dvk_tensor *pool = harness_make(DVK_DTYPE_F32, 1, 4096, 0, 0, 0);
    dvk_tensor *px = harness_view(pool, 0, 4, 1, 5, 2, 16);
    dvk_tensor *py = harness_view(pool, 1, 4, 1, 5, 2, 16);
    CHECK_STATUS(dvk_rope(cmd, &(dvk_rope_desc){.x = px, .y = py}), DVK_ERROR_INVALID_ARGUMENT);
    if (!strstr(dvk_last_error(), "y shares memory with x"))
        fail_msg("the message \"%s\" does not name y and x", dvk_last_error());
    CHECK_STATUS(dvk_rope(cmd, &(dvk_rope_desc){.x = py, .y = px}), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_OK(dvk_rope(cmd, &(dvk_rope_desc){.x = px, .y = px}));
    CHECK_OK(dvk_rope(cmd, &(dvk_rope_desc){.x = px, .y = x}));
    dvk_tensor_destroy(px), dvk_tensor_destroy(py), dvk_tensor_destroy(pool);
    /* The operators take f32 and f16 tensors only: bf16 and int32 are refused, not misread. */
    const dvk_dtype other[2] = {DVK_DTYPE_BF16, DVK_DTYPE_I32};
    for (int i = 0; i < 2; ++i) {
        dvk_tensor *t = harness_make(other[i], 4, 1, 5, 2, 16);
        CHECK_STATUS(dvk_rope(cmd, &(dvk_rope_desc){.x = t, .y = t}), DVK_ERROR_UNSUPPORTED_DTYPE);
        dvk_tensor_destroy(t);
    }
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(x), dvk_tensor_destroy(y);
}

/* Independent calls in one recording give the bits each gives recorded alone, with no
 * validation message: y apart, y = x in place (part of the features rotated, an offset),
 * another theta and scale (issue 17: only the recurrent operators had this test). */
typedef struct rope_calls {
    dvk_tensor *x[3], *y[3];
} rope_calls;

static void rope_make(void *user)
{
    rope_calls *s = user;
    harness_rng rng = harness_rng_make(3);
    for (int c = 0; c < 3; ++c) {
        s->x[c] = harness_random(&rng, DVK_DTYPE_F32, -1.0f, 1.0f, 4, 2, 5 + c, 2, 16);
        s->y[c] = c == 1 ? NULL
                         : harness_tensor_poisoned(DVK_DTYPE_F32, 4,
                                                   (uint64_t[]){2, 5 + (uint64_t)c, 2, 16});
    }
}

static dvk_status rope_record(void *user, dvk_cmd *cmd, int c)
{
    rope_calls *s = user;
    return dvk_rope(cmd, &(dvk_rope_desc){.x = s->x[c], .y = c == 1 ? s->x[c] : s->y[c],
                                          .rotary_dim = c == 1 ? 8 : 0, .offset = 7 * c,
                                          .theta = c == 2 ? 500.0f : 0.0f,
                                          .scale = c == 2 ? 2.0f : 0.0f});
}

static void rope_outputs(void *user, int c, const dvk_tensor *out[HARNESS_MAX_OUTPUTS])
{
    rope_calls *s = user;
    out[0] = c == 1 ? s->x[c] : s->y[c];
}

static void rope_destroy(void *user)
{
    rope_calls *s = user;
    for (int c = 0; c < 3; ++c)
        dvk_tensor_destroy(s->x[c]), dvk_tensor_destroy(s->y[c]);
}

static void test_independent_calls_one_recording(void **state)
{
    (void)state;
    rope_calls s;
    harness_one_recording(&(harness_calls){"rope", 3, &s, rope_make, rope_record, rope_outputs,
                                           rope_destroy});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_table, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_input, harness_test_teardown),
        cmocka_unit_test_teardown(test_independent_calls_one_recording, harness_test_teardown),
    };
    if (getenv("DVK_TEST_FILTER")) /* a glob of test names: only those run */
        cmocka_set_test_filter(getenv("DVK_TEST_FILTER"));
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
