/* dvk_token_shift on the device against dvk_ref_token_shift: one mix ([C]) and RWKV-7's six
 * ([6,C]) in one pass, delta, every way of giving the carried token (none, [B,C], [C] broadcast,
 * in place), odd sizes, fp32/fp16/bf16 tensors (mixed); streamed token by token with the state
 * in place equals one call over the whole sequence, bit for bit; bad input. */
#include "harness.h"

#include "deltavk_nn.h"
#include "deltavk_nn_reference.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { INIT_NONE, INIT_BC, INIT_C, INIT_IN_PLACE };

typedef struct ts_case {
    size_t B, T, C, M; /* M = 0: a [C] mix; else [M,C] */
    dvk_dtype x_dt, mix_dt, y_dt, st_dt;
    int init;
    bool delta, final, no_y;
} ts_case;

static const ts_case cases[] = {
    {2, 5, 7, 0, DVK_DTYPE_F32, DVK_DTYPE_F32, DVK_DTYPE_F32, DVK_DTYPE_F32, INIT_BC, true, true,
     false},
    {3, 9, 131, 6, DVK_DTYPE_F32, DVK_DTYPE_F32, DVK_DTYPE_F32, DVK_DTYPE_F32, INIT_IN_PLACE, true,
     true, false},
    {1, 1, 33, 6, DVK_DTYPE_F32, DVK_DTYPE_F32, DVK_DTYPE_F32, DVK_DTYPE_F32, INIT_NONE, false,
     true, false},
    {2, 4, 65, 1, DVK_DTYPE_F32, DVK_DTYPE_F32, DVK_DTYPE_F32, DVK_DTYPE_F32, INIT_C, false, false,
     false},
    {3, 6, 17, 0, DVK_DTYPE_F32, DVK_DTYPE_F32, DVK_DTYPE_F32, DVK_DTYPE_F32, INIT_BC, true, false,
     true},
    {2, 7, 45, 6, DVK_DTYPE_F16, DVK_DTYPE_F16, DVK_DTYPE_F16, DVK_DTYPE_F16, INIT_IN_PLACE, true,
     true, false},
    {2, 3, 29, 6, DVK_DTYPE_BF16, DVK_DTYPE_F32, DVK_DTYPE_BF16, DVK_DTYPE_BF16, INIT_IN_PLACE,
     true, true, false},
    {1, 5, 31, 0, DVK_DTYPE_F16, DVK_DTYPE_BF16, DVK_DTYPE_F32, DVK_DTYPE_F32, INIT_BC, true, true,
     false},
    {2, 3, 19, 2, DVK_DTYPE_F32, DVK_DTYPE_F16, DVK_DTYPE_BF16, DVK_DTYPE_F16, INIT_BC, false, true,
     false},
};

static double tol_of(dvk_dtype dt) { return dt == DVK_DTYPE_F32 ? 1e-5 : 5e-3; }

static float *random_rounded(harness_rng *rng, size_t n, float lo, float hi, dvk_dtype dt)
{
    float *v = malloc(n * sizeof *v);
    harness_fill_uniform(rng, v, n, lo, hi);
    harness_round_to(dt, v, n);
    return v;
}

static void test_whole_sequence(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ++ci) {
        const ts_case *c = &cases[ci];
        if (!harness_have_dtype("case", c->x_dt) || !harness_have_dtype("case", c->mix_dt) ||
            !harness_have_dtype("case", c->y_dt) || !harness_have_dtype("case", c->st_dt))
            continue;
        char name[128];
        snprintf(name, sizeof name, "B=%zu T=%zu C=%zu M=%zu x %s y %s init %d", c->B, c->T, c->C,
                 c->M, dvk_dtype_name(c->x_dt), dvk_dtype_name(c->y_dt), c->init);
        const size_t B = c->B, T = c->T, C = c->C, M = c->M ? c->M : 1, n = B * T * C;
        harness_rng rng = harness_rng_make(ci + 100);
        float *x = random_rounded(&rng, n, -2.0f, 2.0f, c->x_dt);
        float *mix = random_rounded(&rng, M * C, 0.0f, 1.0f, c->mix_dt);
        float *init = random_rounded(&rng, B * C, -2.0f, 2.0f, c->st_dt);
        if (c->init == INIT_C) /* one [C] row for every batch row */
            for (size_t i = C; i < B * C; ++i)
                init[i] = init[i % C];
        double *ry = malloc(M * n * sizeof *ry), *rd = malloc(n * sizeof *rd),
               *rf = malloc(B * C * sizeof *rf);
        assert_int_equal(dvk_ref_token_shift(x, B, T, C, mix, M, c->init == INIT_NONE ? NULL : init,
                                             ry, rd, rf),
                         0);

        const uint64_t xs[3] = {B, T, C}, ys[4] = {M, B, T, C}, ms[2] = {M, C}, ss[2] = {B, C};
        dvk_tensor *tx = harness_tensor(c->x_dt, 3, xs, x);
        dvk_tensor *tmix = c->M ? harness_tensor(c->mix_dt, 2, ms, mix)
                                : harness_tensor(c->mix_dt, 1, &ms[1], mix);
        dvk_tensor *ty = c->no_y ? NULL
                         : c->M  ? harness_tensor_poisoned(c->y_dt, 4, ys)
                                 : harness_tensor_poisoned(c->y_dt, 3, xs);
        dvk_tensor *td = c->delta ? harness_tensor_poisoned(c->y_dt, 3, xs) : NULL;
        dvk_tensor *tinit = NULL, *tfin = NULL;
        if (c->init == INIT_BC || c->init == INIT_IN_PLACE)
            tinit = harness_tensor(c->st_dt, 2, ss, init);
        else if (c->init == INIT_C)
            tinit = harness_tensor(c->st_dt, 1, &ss[1], init);
        if (c->init == INIT_IN_PLACE)
            tfin = tinit;
        else if (c->final)
            tfin = harness_tensor_poisoned(c->st_dt, 2, ss);

        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_OK(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = tx,
                                                               .mix = c->no_y ? NULL : tmix,
                                                               .initial = tinit,
                                                               .y = ty,
                                                               .delta = td,
                                                               .final = tfin}));
        harness_run(cmd);
        if (ty) {
            float *y = harness_download(ty);
            harness_check(name, "y", ry, y, M * n, tol_of(c->y_dt));
            free(y);
        }
        if (td) {
            float *dl = harness_download(td);
            harness_check(name, "delta", rd, dl, n, tol_of(c->y_dt));
            free(dl);
        }
        if (tfin) {
            float *f = harness_download(tfin);
            harness_check(name, "final", rf, f, B * C, tol_of(c->st_dt));
            float *want = malloc(B * C * sizeof *want); /* a copy, rounded once: exact */
            for (size_t i = 0; i < B * C; ++i)
                want[i] = (float)rf[i];
            harness_round_to(c->st_dt, want, B * C);
            assert_memory_equal(f, want, B * C * sizeof *f);
            free(want);
            free(f);
        }
        dvk_cmd_destroy(cmd);
        if (tfin != tinit)
            dvk_tensor_destroy(tfin);
        dvk_tensor_destroy(tinit), dvk_tensor_destroy(td), dvk_tensor_destroy(ty);
        dvk_tensor_destroy(tmix), dvk_tensor_destroy(tx);
        free(x), free(mix), free(init), free(ry), free(rd), free(rf);
    }
}

/* Token by token, the state carried in place, against one call over the sequence. */
static void stream_case(size_t B, size_t T, size_t C, size_t M, dvk_dtype dt)
{
    if (!harness_have_dtype("stream", dt))
        return;
    const size_t n = B * T * C;
    harness_rng rng = harness_rng_make(B * 1000 + T * 10 + M);
    float *x = random_rounded(&rng, n, -2.0f, 2.0f, dt);
    float *mix = random_rounded(&rng, M * C, 0.0f, 1.0f, dt);
    float *init = random_rounded(&rng, B * C, -2.0f, 2.0f, dt);
    const uint64_t xs[3] = {B, T, C}, ys[4] = {M, B, T, C}, ms[2] = {M, C}, ss[2] = {B, C};
    const uint64_t xs1[3] = {B, 1, C}, ys1[4] = {M, B, 1, C};

    /* whole */
    dvk_tensor *tx = harness_tensor(dt, 3, xs, x), *tmix = harness_tensor(dt, 2, ms, mix);
    dvk_tensor *ty = harness_tensor_poisoned(dt, 4, ys), *td = harness_tensor_poisoned(dt, 3, xs);
    dvk_tensor *ts0 = harness_tensor(dt, 2, ss, init), *tf0 = harness_tensor_poisoned(dt, 2, ss);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = tx, .mix = tmix, .initial = ts0,
                                                           .y = ty, .delta = td, .final = tf0}));

    /* streamed: T calls in one recording, the state in place */
    dvk_tensor *st = harness_tensor(dt, 2, ss, init);
    dvk_tensor **sx = calloc(T, sizeof *sx), **sy = calloc(T, sizeof *sy),
               **sd = calloc(T, sizeof *sd);
    float *xt = malloc(B * C * sizeof *xt);
    for (size_t t = 0; t < T; ++t) {
        for (size_t b = 0; b < B; ++b)
            memcpy(xt + b * C, x + (b * T + t) * C, C * sizeof *xt);
        sx[t] = harness_tensor(dt, 3, xs1, xt);
        sy[t] = harness_tensor_poisoned(dt, 4, ys1);
        sd[t] = harness_tensor_poisoned(dt, 3, xs1);
        CHECK_OK(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = sx[t], .mix = tmix,
                                                               .initial = st, .y = sy[t],
                                                               .delta = sd[t], .final = st}));
    }
    harness_run(cmd);

    float *y = harness_download(ty), *dl = harness_download(td), *f0 = harness_download(tf0),
          *f1 = harness_download(st);
    for (size_t t = 0; t < T; ++t) {
        float *yt = harness_download(sy[t]), *dt1 = harness_download(sd[t]);
        for (size_t m = 0; m < M; ++m)
            for (size_t b = 0; b < B; ++b)
                for (size_t c = 0; c < C; ++c)
                    assert_true(yt[(m * B + b) * C + c] == y[((m * B + b) * T + t) * C + c]);
        for (size_t b = 0; b < B; ++b)
            for (size_t c = 0; c < C; ++c)
                assert_true(dt1[b * C + c] == dl[(b * T + t) * C + c]);
        free(yt), free(dt1);
        dvk_tensor_destroy(sx[t]), dvk_tensor_destroy(sy[t]), dvk_tensor_destroy(sd[t]);
    }
    assert_memory_equal(f0, f1, B * C * sizeof *f0);

    double *ry = malloc(M * n * sizeof *ry);
    assert_int_equal(dvk_ref_token_shift(x, B, T, C, mix, M, init, ry, NULL, NULL), 0);
    char name[96];
    snprintf(name, sizeof name, "stream B=%zu T=%zu C=%zu M=%zu %s", B, T, C, M,
             dvk_dtype_name(dt));
    harness_check(name, "y", ry, y, M * n, tol_of(dt));

    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(st), dvk_tensor_destroy(tf0), dvk_tensor_destroy(ts0);
    dvk_tensor_destroy(td), dvk_tensor_destroy(ty), dvk_tensor_destroy(tmix),
        dvk_tensor_destroy(tx);
    free(sx), free(sy), free(sd), free(xt), free(x), free(mix), free(init), free(ry);
    free(y), free(dl), free(f0), free(f1);
}

static void test_streamed_equals_whole(void **state)
{
    (void)state;
    stream_case(2, 6, 37, 1, DVK_DTYPE_F32);
    stream_case(3, 5, 129, 6, DVK_DTYPE_F32);
    stream_case(2, 4, 23, 6, DVK_DTYPE_F16);
    stream_case(1, 4, 23, 6, DVK_DTYPE_BF16);
}

/* Calls that leave out different optional tensors, recorded together (the bindings of absent
 * tensors must not look like hazards to the validation layer's synchronization checks). */
static void test_optional_tensors_in_one_recording(void **state)
{
    (void)state;
    const size_t B = 2, T = 3, C = 5, n = B * T * C;
    harness_rng rng = harness_rng_make(77);
    float *x = random_rounded(&rng, n, -1.0f, 1.0f, DVK_DTYPE_F32);
    float *mix = random_rounded(&rng, C, 0.0f, 1.0f, DVK_DTYPE_F32);
    float *init = random_rounded(&rng, B * C, -1.0f, 1.0f, DVK_DTYPE_F32);
    const uint64_t xs[3] = {B, T, C}, ss[2] = {B, C};
    dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, 3, xs, x);
    dvk_tensor *tmix = harness_tensor(DVK_DTYPE_F32, 1, &xs[2], mix);
    dvk_tensor *tinit = harness_tensor(DVK_DTYPE_F32, 2, ss, init);
    dvk_tensor *st = harness_tensor(DVK_DTYPE_F32, 2, ss, init);
    dvk_tensor *d0 = harness_tensor_poisoned(DVK_DTYPE_F32, 3, xs);
    dvk_tensor *y1 = harness_tensor_poisoned(DVK_DTYPE_F32, 3, xs);
    dvk_tensor *d2 = harness_tensor_poisoned(DVK_DTYPE_F32, 3, xs);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = tx, .delta = d0}));
    CHECK_OK(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = tx, .mix = tmix, .initial = tinit,
                                                           .y = y1}));
    CHECK_OK(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = tx, .initial = st, .delta = d2,
                                                           .final = st}));
    harness_run(cmd);
    double *rd0 = malloc(n * sizeof *rd0), *ry1 = malloc(n * sizeof *ry1),
           *rd2 = malloc(n * sizeof *rd2);
    dvk_ref_token_shift(x, B, T, C, NULL, 0, NULL, NULL, rd0, NULL);
    dvk_ref_token_shift(x, B, T, C, mix, 1, init, ry1, NULL, NULL);
    dvk_ref_token_shift(x, B, T, C, NULL, 0, init, NULL, rd2, NULL);
    float *g0 = harness_download(d0), *g1 = harness_download(y1), *g2 = harness_download(d2);
    harness_check("optional", "delta (no state)", rd0, g0, n, 1e-5);
    harness_check("optional", "y (no final)", ry1, g1, n, 1e-5);
    harness_check("optional", "delta (in place)", rd2, g2, n, 1e-5);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tx), dvk_tensor_destroy(tmix), dvk_tensor_destroy(tinit);
    dvk_tensor_destroy(st), dvk_tensor_destroy(d0), dvk_tensor_destroy(y1);
    dvk_tensor_destroy(d2);
    free(x), free(mix), free(init), free(rd0), free(ry1), free(rd2), free(g0), free(g1),
        free(g2);
}

static void test_bad_input(void **state)
{
    (void)state;
    dvk_tensor *x = harness_make(DVK_DTYPE_F32, 3, 2, 3, 5, 0);
    dvk_tensor *x2 = harness_make(DVK_DTYPE_F32, 2, 3, 5, 0, 0);
    dvk_tensor *mix = harness_make(DVK_DTYPE_F32, 2, 6, 5, 0, 0);
    dvk_tensor *mix_bad = harness_make(DVK_DTYPE_F32, 2, 6, 4, 0, 0);
    dvk_tensor *y6 = harness_make(DVK_DTYPE_F32, 4, 6, 2, 3, 5);
    dvk_tensor *y = harness_make(DVK_DTYPE_F32, 3, 2, 3, 5, 0);
    dvk_tensor *st = harness_make(DVK_DTYPE_F32, 2, 2, 5, 0, 0);
    dvk_tensor *st_bad = harness_make(DVK_DTYPE_F32, 2, 3, 5, 0, 0);
    dvk_tensor *ids = harness_make(DVK_DTYPE_I32, 3, 2, 3, 5, 0);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_STATUS(dvk_token_shift(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_token_shift(NULL, &(dvk_token_shift_desc){.x = x, .delta = y}),
                 DVK_ERROR_INVALID_ARGUMENT);
    /* nothing to compute; y without mix */
    CHECK_STATUS(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = x}), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = x, .y = y}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = x2, .delta = y}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = x, .mix = mix, .y = y}),
                 DVK_ERROR_SHAPE_MISMATCH); /* six mixes need [6,B,T,C] */
    CHECK_STATUS(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = x, .mix = mix_bad, .y = y6}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = x, .delta = x2}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(
        dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = x, .delta = y, .initial = st_bad}),
        DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = x, .delta = y, .final = st_bad}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = ids, .delta = y}),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = x, .delta = ids}),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_OK(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = x, .mix = mix, .y = y6,
                                                          .initial = st, .final = st}));
    /* outputs overlapping inputs or each other: refused (the state only as the same tensor) */
    dvk_tensor *st_alias = NULL, *y_row = NULL;
    CHECK_OK(dvk_tensor_reshape(st, 2, (const uint64_t[]){2, 5}, &st_alias));
    CHECK_OK(dvk_tensor_view(y, &(dvk_tensor_view_desc){.ndim = 2, .shape = {2, 5}}, &y_row));
    CHECK_STATUS(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = x, .delta = x}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = x, .delta = y, .initial = st,
                                                              .final = st_alias}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_token_shift(cmd, &(dvk_token_shift_desc){.x = x, .delta = y, .final = y_row}),
                 DVK_ERROR_INVALID_ARGUMENT);
    dvk_tensor_destroy(st_alias), dvk_tensor_destroy(y_row);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(x), dvk_tensor_destroy(x2), dvk_tensor_destroy(mix);
    dvk_tensor_destroy(mix_bad), dvk_tensor_destroy(y6), dvk_tensor_destroy(y);
    dvk_tensor_destroy(st), dvk_tensor_destroy(st_bad), dvk_tensor_destroy(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_whole_sequence, harness_test_teardown),
        cmocka_unit_test_teardown(test_streamed_equals_whole, harness_test_teardown),
        cmocka_unit_test_teardown(test_optional_tensors_in_one_recording,
                                  harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_input, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
