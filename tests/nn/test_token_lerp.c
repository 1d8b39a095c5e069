/* dvk_token_lerp (Memodo's TokenLerp) against dvk_ref_token_lerp in double: odd sizes, biases
 * present or not, a learned initial token shared by every row or one per row, x stored as fp32,
 * fp16 or bf16; streamed token by token with the state carried in place equals one call; the
 * scratch it takes is released (a loop of calls does not grow the arena); bad input. */
#include "harness.h"

#include "deltavk_nn.h"
#include "deltavk_nn_reference.h"

#include <stdio.h>
#include <stdlib.h>

enum { B = 2, T = 9, C = 13, F = 7 };

typedef struct weights {
    float premix[C], w1[F * C], b1[F], w2[C * F], b2[C], init[B * C];
    dvk_tensor *t_premix, *t_w1, *t_b1, *t_w2, *t_b2;
} weights;

static void make_weights(weights *w, harness_rng *rng)
{
    harness_fill_uniform(rng, w->premix, C, 0.0f, 1.0f);
    harness_fill_normal(rng, w->w1, F * C, 0.5f);
    harness_fill_normal(rng, w->b1, F, 0.5f);
    harness_fill_normal(rng, w->w2, C * F, 0.5f);
    harness_fill_normal(rng, w->b2, C, 0.5f);
    harness_fill_normal(rng, w->init, B * C, 1.0f);
    w->t_premix = harness_tensor(DVK_DTYPE_F32, 1, (uint64_t[]){C}, w->premix);
    w->t_w1 = harness_tensor(DVK_DTYPE_F32, 2, (uint64_t[]){F, C}, w->w1);
    w->t_b1 = harness_tensor(DVK_DTYPE_F32, 1, (uint64_t[]){F}, w->b1);
    w->t_w2 = harness_tensor(DVK_DTYPE_F32, 2, (uint64_t[]){C, F}, w->w2);
    w->t_b2 = harness_tensor(DVK_DTYPE_F32, 1, (uint64_t[]){C}, w->b2);
}

static void free_weights(weights *w)
{
    dvk_tensor_destroy(w->t_premix), dvk_tensor_destroy(w->t_w1), dvk_tensor_destroy(w->t_b1);
    dvk_tensor_destroy(w->t_w2), dvk_tensor_destroy(w->t_b2);
}

static void run_case(dvk_dtype dt, bool biases, bool per_row, bool streamed)
{
    char name[96];
    snprintf(name, sizeof name, "%s%s%s%s", dvk_dtype_name(dt), biases ? " biases" : "",
             per_row ? " per-row initial" : " shared initial", streamed ? " streamed" : "");
    harness_rng rng = harness_rng_make(11 + dt * 7 + biases * 3 + per_row);
    weights w;
    make_weights(&w, &rng);
    float x[B * T * C];
    harness_fill_normal(&rng, x, B * T * C, 1.0f);
    harness_round_to(dt, x, B * T * C);
    double y_ref[B * T * C], fin_ref[B * C];
    assert_int_equal(dvk_ref_token_lerp(x, B, T, C, F, w.premix, w.w1, biases ? w.b1 : NULL,
                                        w.w2, biases ? w.b2 : NULL, w.init, per_row, y_ref,
                                        fin_ref),
                     0);
    /* The state: [B, C] in and out in place (per row), or a shared [C] in and a [B, C] out. */
    dvk_tensor *state = harness_tensor(DVK_DTYPE_F32, per_row ? 2 : 1,
                                       per_row ? (uint64_t[]){B, C} : (uint64_t[]){C}, w.init);
    dvk_tensor *fin = per_row ? state : harness_tensor_poisoned(DVK_DTYPE_F32, 2,
                                                                (uint64_t[]){B, C});
    dvk_tensor *tx = harness_tensor(dt, 3, (uint64_t[]){B, T, C}, x);
    dvk_tensor *ty = harness_tensor_poisoned(dt, 3, (uint64_t[]){B, T, C});
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    const dvk_token_lerp_desc base = {.premix = w.t_premix, .w1 = w.t_w1,
                                      .b1 = biases ? w.t_b1 : NULL, .w2 = w.t_w2,
                                      .b2 = biases ? w.t_b2 : NULL};
    dvk_tensor *xs[T] = {0}, *ys[T] = {0};
    if (!streamed) {
        dvk_token_lerp_desc d = base;
        d.x = tx, d.y = ty, d.initial = state, d.final = fin;
        CHECK_OK(dvk_token_lerp(cmd, &d));
    } else {
        /* token by token: x[:, s] of every row as its own [B, 1, C] tensor; the carried token
         * in place in fin after the first step */
        for (int s = 0; s < T; ++s) {
            float xt[B * C];
            for (int b = 0; b < B; ++b)
                for (int c = 0; c < C; ++c)
                    xt[b * C + c] = x[(b * T + s) * C + c];
            xs[s] = harness_tensor(dt, 3, (uint64_t[]){B, 1, C}, xt);
            ys[s] = harness_tensor_poisoned(dt, 3, (uint64_t[]){B, 1, C});
            dvk_token_lerp_desc d = base;
            d.x = xs[s], d.y = ys[s], d.initial = s == 0 ? state : fin, d.final = fin;
            CHECK_OK(dvk_token_lerp(cmd, &d));
        }
    }
    harness_run(cmd);
    float *y = streamed ? NULL : harness_download(ty), *f = harness_download(fin);
    if (streamed) { /* gather the steps' outputs into ty's layout */
        float *all = malloc(sizeof(float) * B * T * C);
        for (int s = 0; s < T; ++s) {
            float *ysv = harness_download(ys[s]);
            for (int b = 0; b < B; ++b)
                for (int c = 0; c < C; ++c)
                    all[(b * T + s) * C + c] = ysv[b * C + c];
            free(ysv);
            dvk_tensor_destroy(xs[s]), dvk_tensor_destroy(ys[s]);
        }
        y = all;
    }
    const double tol = dt == DVK_DTYPE_F32 ? 1e-5 : 5e-3;
    harness_check(name, "y", y_ref, y, B * T * C, tol);
    harness_check(name, "final", fin_ref, f, B * C, 1e-6);
    free(y), free(f);
    dvk_cmd_destroy(cmd);
    if (fin != state)
        dvk_tensor_destroy(fin);
    dvk_tensor_destroy(state), dvk_tensor_destroy(tx), dvk_tensor_destroy(ty);
    free_weights(&w);
}

static void test_table(void **state)
{
    (void)state;
    const dvk_dtype dts[3] = {DVK_DTYPE_F32, DVK_DTYPE_F16, DVK_DTYPE_BF16};
    for (int d = 0; d < 3; ++d) {
        if (!harness_have_dtype("token_lerp", dts[d]))
            continue;
        run_case(dts[d], true, true, false);
        run_case(dts[d], false, false, false);
    }
    run_case(DVK_DTYPE_F32, true, true, true);
    run_case(DVK_DTYPE_F32, true, false, true);
}

/* Calls in a loop reuse the memory their temporaries took: the arena stops growing. */
static void test_scratch_released(void **state)
{
    (void)state;
    harness_rng rng = harness_rng_make(3);
    weights w;
    make_weights(&w, &rng);
    float x[B * T * C];
    harness_fill_normal(&rng, x, B * T * C, 1.0f);
    dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, 3, (uint64_t[]){B, T, C}, x);
    dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, 3, (uint64_t[]){B, T, C});
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    uint64_t first = 0;
    for (int i = 0; i < 5; ++i) {
        CHECK_OK(dvk_token_lerp(cmd, &(dvk_token_lerp_desc){.x = tx, .premix = w.t_premix,
                                                            .w1 = w.t_w1, .w2 = w.t_w2,
                                                            .y = ty}));
        if (i == 0)
            first = dvk_cmd_scratch_capacity(cmd);
    }
    assert_int_equal(dvk_cmd_scratch_capacity(cmd), first);
    harness_run(cmd);

    /* bad input */
    dvk_tensor *bad = harness_make(DVK_DTYPE_F32, 2, F, C + 1, 0, 0);
    CHECK_OK(dvk_cmd_reset(cmd));
    CHECK_STATUS(dvk_token_lerp(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_token_lerp(cmd, &(dvk_token_lerp_desc){.x = tx, .premix = w.t_premix,
                                                            .w1 = bad, .w2 = w.t_w2, .y = ty}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_token_lerp(cmd, &(dvk_token_lerp_desc){.x = tx, .premix = w.t_premix,
                                                            .w1 = w.t_w1, .w2 = w.t_w1, .y = ty}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_token_lerp(cmd, &(dvk_token_lerp_desc){.x = tx, .w1 = w.t_w1, .w2 = w.t_w2,
                                                            .y = ty}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_token_lerp(cmd, &(dvk_token_lerp_desc){.x = tx, .premix = w.t_premix,
                                                            .w1 = w.t_w1, .w2 = w.t_w2, .y = tx}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_token_lerp(cmd, &(dvk_token_lerp_desc){.x = tx, .premix = w.t_b1,
                                                            .w1 = w.t_w1, .w2 = w.t_w2, .y = ty}),
                 DVK_ERROR_SHAPE_MISMATCH);
    dvk_tensor_destroy(bad);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tx), dvk_tensor_destroy(ty);
    free_weights(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_table, harness_test_teardown),
        cmocka_unit_test_teardown(test_scratch_released, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
