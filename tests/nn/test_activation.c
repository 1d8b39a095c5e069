/* dvk_activation on the device against dvk_ref_act in double: every activation on odd sizes,
 * fp32, fp16 and bf16 tensors (mixed input and output dtypes), in place, inputs wide enough to
 * reach each function's tails (softplus past its threshold, GELU's negative side); bad input. */
#include "harness.h"

#include "deltavk_nn.h"
#include "deltavk_nn_reference.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct act_case {
    dvk_dtype x_dt, y_dt;
    size_t n;
    float amp;
    bool in_place;
} act_case;

static const act_case cases[] = {
    {DVK_DTYPE_F32, DVK_DTYPE_F32, 1, 3.0f, false},
    {DVK_DTYPE_F32, DVK_DTYPE_F32, 1000, 8.0f, false},
    {DVK_DTYPE_F32, DVK_DTYPE_F32, 777, 30.0f, true},
    {DVK_DTYPE_F16, DVK_DTYPE_F16, 513, 6.0f, false},
    {DVK_DTYPE_BF16, DVK_DTYPE_BF16, 301, 6.0f, true},
    {DVK_DTYPE_F32, DVK_DTYPE_BF16, 255, 4.0f, false},
    {DVK_DTYPE_F16, DVK_DTYPE_F32, 97, 4.0f, false},
};

static void run(const act_case *c, dvk_act act)
{
    char name[96];
    snprintf(name, sizeof name, "%s %s->%s n=%zu%s", dvk_act_name(act), dvk_dtype_name(c->x_dt),
             dvk_dtype_name(c->y_dt), c->n, c->in_place ? " in place" : "");
    harness_rng rng = harness_rng_make(c->n * 31 + (uint64_t)act);
    float *x = malloc(c->n * sizeof *x);
    harness_fill_uniform(&rng, x, c->n, -c->amp, c->amp);
    if (act == DVK_ACT_EXP) /* keep e^x inside every dtype's range */
        for (size_t i = 0; i < c->n; ++i)
            x[i] *= 0.3f;
    harness_round_to(c->x_dt, x, c->n);
    double *ref = malloc(c->n * sizeof *ref);
    dvk_ref_activation(act, x, ref, c->n);

    const uint64_t shape[2] = {1, c->n};
    dvk_tensor *tx = harness_tensor(c->x_dt, 2, shape, x);
    dvk_tensor *ty = c->in_place ? tx : harness_tensor_poisoned(c->y_dt, 2, shape);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_activation(cmd, &(dvk_activation_desc){.x = tx, .y = ty, .act = act}));
    harness_run(cmd);
    float *y = harness_download(ty);
    const bool f32 = c->y_dt == DVK_DTYPE_F32;
    harness_check(name, "y", ref, y, c->n, f32 ? 1e-5 : 5e-3);
    dvk_cmd_destroy(cmd);
    if (ty != tx)
        dvk_tensor_destroy(ty);
    dvk_tensor_destroy(tx);
    free(x), free(y), free(ref);
}

static void test_every_activation(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        const act_case *c = &cases[i];
        if (!harness_have_dtype("case", c->x_dt) || !harness_have_dtype("case", c->y_dt))
            continue;
        for (int a = DVK_ACT_IDENTITY; a < DVK_ACT_COUNT_; ++a)
            run(c, (dvk_act)a);
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    dvk_tensor *x = harness_make(DVK_DTYPE_F32, 2, 3, 5, 0, 0);
    dvk_tensor *y = harness_make(DVK_DTYPE_F32, 2, 3, 4, 0, 0);
    dvk_tensor *ids = harness_make(DVK_DTYPE_I32, 1, 15, 0, 0, 0);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_STATUS(dvk_activation(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_activation(NULL, &(dvk_activation_desc){.x = x, .y = x, .act = DVK_ACT_GELU}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_activation(cmd, &(dvk_activation_desc){.x = x, .y = x}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_activation(cmd, &(dvk_activation_desc){.x = x, .y = x, .act = DVK_ACT_COUNT_}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_activation(cmd, &(dvk_activation_desc){.x = x, .y = y, .act = DVK_ACT_SILU}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_activation(cmd, &(dvk_activation_desc){.x = ids, .y = x, .act = DVK_ACT_SILU}),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_activation(cmd, &(dvk_activation_desc){.x = x, .act = DVK_ACT_SILU}),
                 DVK_ERROR_INVALID_ARGUMENT);
    assert_string_equal(dvk_act_name(DVK_ACT_RELU_SQUARED), "relu_squared");
    assert_string_equal(dvk_act_name((dvk_act)99), "invalid");
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(x), dvk_tensor_destroy(y), dvk_tensor_destroy(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_every_activation, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_input, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
