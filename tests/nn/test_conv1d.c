/* dvk_conv1d on the device against dvk_ref_conv1d: the depthwise kernel (W = 1..5 and 33, which
 * takes the general kernel), the grouped kernel (groups 1, 2, and Cin with two outputs per
 * channel; several tiles in tokens and channels), causal with a carried state (separate and in
 * place, also T < W − 1) and SAME padding with odd and even W, bias, activations, every dtype
 * (mixed); a sequence streamed in pieces of 1, 3 and the rest with the state in place equals
 * one call, bit for bit; bad input. */
#include "harness.h"

#include "deltavk_nn.h"
#include "deltavk_nn_reference.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_NONE, ST_SEPARATE, ST_IN_PLACE };

typedef struct conv_case {
    size_t B, T, Cin, Cout, W, groups;
    dvk_conv_padding padding;
    dvk_act act;
    bool bias;
    int state; /* ST_*: causal only */
    dvk_dtype x_dt, w_dt, y_dt, st_dt;
} conv_case;

#define F32 DVK_DTYPE_F32
#define F16 DVK_DTYPE_F16
#define BF16 DVK_DTYPE_BF16
#define CAUSAL DVK_CONV_CAUSAL
#define SAME DVK_CONV_SAME

static const conv_case cases[] = {
    /* depthwise, causal, W = 1..5 */
    {2, 11, 37, 37, 1, 37, CAUSAL, DVK_ACT_DEFAULT, true, ST_NONE, F32, F32, F32, F32},
    {2, 11, 37, 37, 2, 37, CAUSAL, DVK_ACT_SILU, false, ST_SEPARATE, F32, F32, F32, F32},
    {2, 11, 37, 37, 3, 37, CAUSAL, DVK_ACT_DEFAULT, true, ST_IN_PLACE, F32, F32, F32, F32},
    {3, 70, 37, 37, 4, 37, CAUSAL, DVK_ACT_SILU, false, ST_IN_PLACE, F32, F32, F32, F32},
    {2, 11, 37, 37, 5, 37, CAUSAL, DVK_ACT_DEFAULT, true, ST_SEPARATE, F32, F32, F32, F32},
    {2, 2, 9, 9, 5, 9, CAUSAL, DVK_ACT_DEFAULT, false, ST_IN_PLACE, F32, F32, F32, F32},
    {1, 40, 5, 5, 33, 5, CAUSAL, DVK_ACT_DEFAULT, true, ST_IN_PLACE, F32, F32, F32, F32},
    /* depthwise, same padding, odd and even W */
    {2, 13, 19, 19, 1, 19, SAME, DVK_ACT_DEFAULT, false, ST_NONE, F32, F32, F32, F32},
    {2, 13, 19, 19, 2, 19, SAME, DVK_ACT_DEFAULT, true, ST_NONE, F32, F32, F32, F32},
    {2, 13, 19, 19, 3, 19, SAME, DVK_ACT_RELU, false, ST_NONE, F32, F32, F32, F32},
    {2, 13, 19, 19, 4, 19, SAME, DVK_ACT_DEFAULT, true, ST_NONE, F32, F32, F32, F32},
    {2, 3, 19, 19, 5, 19, SAME, DVK_ACT_DEFAULT, false, ST_NONE, F32, F32, F32, F32},
    /* grouped kernel */
    {2, 45, 24, 80, 3, 1, CAUSAL, DVK_ACT_DEFAULT, true, ST_SEPARATE, F32, F32, F32, F32},
    {1, 37, 64, 64, 3, 1, SAME, DVK_ACT_RELU, true, ST_NONE, F32, F32, F32, F32},
    {2, 9, 10, 6, 4, 2, CAUSAL, DVK_ACT_DEFAULT, false, ST_IN_PLACE, F32, F32, F32, F32},
    {2, 3, 10, 6, 5, 2, CAUSAL, DVK_ACT_DEFAULT, true, ST_IN_PLACE, F32, F32, F32, F32},
    {2, 15, 8, 12, 2, 2, SAME, DVK_ACT_DEFAULT, true, ST_NONE, F32, F32, F32, F32},
    {2, 15, 8, 12, 4, 2, SAME, DVK_ACT_GELU, false, ST_NONE, F32, F32, F32, F32},
    {2, 7, 4, 8, 3, 4, CAUSAL, DVK_ACT_DEFAULT, true, ST_SEPARATE, F32, F32, F32, F32},
    /* 16-bit tensors */
    {2, 9, 33, 33, 4, 33, CAUSAL, DVK_ACT_SILU, false, ST_IN_PLACE, F16, F16, F16, F16},
    {2, 9, 33, 33, 4, 33, CAUSAL, DVK_ACT_SILU, true, ST_SEPARATE, BF16, BF16, BF16, F32},
    {1, 9, 21, 21, 3, 21, SAME, DVK_ACT_DEFAULT, true, ST_NONE, F32, BF16, F16, F32},
    {2, 17, 12, 20, 3, 1, CAUSAL, DVK_ACT_DEFAULT, true, ST_IN_PLACE, BF16, F16, F32, F16},
    {1, 21, 16, 16, 3, 1, SAME, DVK_ACT_DEFAULT, false, ST_NONE, F16, F16, F16, F32},
};

static double tol_of(dvk_dtype dt) { return dt == F32 ? 1e-5 : 5e-3; }

static float *random_rounded(harness_rng *rng, size_t n, float stddev, dvk_dtype dt)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    harness_fill_normal(rng, v, n, stddev);
    harness_round_to(dt, v, n);
    return v;
}

static void test_whole_sequence(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ++ci) {
        const conv_case *c = &cases[ci];
        if (!harness_have_dtype("case", c->x_dt) || !harness_have_dtype("case", c->w_dt) ||
            !harness_have_dtype("case", c->y_dt) || !harness_have_dtype("case", c->st_dt))
            continue;
        char name[128];
        snprintf(name, sizeof name, "B=%zu T=%zu %zu->%zu W=%zu g=%zu %s %s/%s/%s st %d", c->B,
                 c->T, c->Cin, c->Cout, c->W, c->groups, c->padding == CAUSAL ? "causal" : "same",
                 dvk_dtype_name(c->x_dt), dvk_dtype_name(c->w_dt), dvk_dtype_name(c->y_dt),
                 c->state);
        const size_t B = c->B, T = c->T, W = c->W, cg = c->Cin / c->groups;
        const size_t nx = B * T * c->Cin, ny = B * T * c->Cout, nw = c->Cout * cg * W,
                     ns = B * (W - 1) * c->Cin;
        harness_rng rng = harness_rng_make(ci + 1);
        float *x = random_rounded(&rng, nx, 1.0f, c->x_dt);
        float *w = random_rounded(&rng, nw, 1.0f / (float)(cg * W), c->w_dt);
        float *bias = random_rounded(&rng, c->Cout, 0.5f, c->w_dt);
        float *init = random_rounded(&rng, ns, 1.0f, c->st_dt);
        double *ry = malloc(ny * sizeof *ry), *rs = malloc((ns ? ns : 1) * sizeof *rs);
        assert_int_equal(dvk_ref_conv1d(x, B, T, c->Cin, w, c->Cout, W, c->groups,
                                        c->bias ? bias : NULL, c->padding, c->act,
                                        c->state ? init : NULL, ry, c->state ? rs : NULL),
                         0);

        const uint64_t xs[3] = {B, T, c->Cin}, ys[3] = {B, T, c->Cout}, ws[3] = {c->Cout, cg, W},
                       ss[3] = {B, W - 1, c->Cin};
        dvk_tensor *tx = harness_tensor(c->x_dt, 3, xs, x), *tw = harness_tensor(c->w_dt, 3, ws, w);
        dvk_tensor *tb = c->bias ? harness_tensor(c->w_dt, 1, &ws[0], bias) : NULL;
        dvk_tensor *ty = harness_tensor_poisoned(c->y_dt, 3, ys);
        dvk_tensor *ti = c->state ? harness_tensor(c->st_dt, 3, ss, init) : NULL;
        dvk_tensor *tf = c->state == ST_IN_PLACE ? ti
                         : c->state           ? harness_tensor_poisoned(c->st_dt, 3, ss)
                                              : NULL;
        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_OK(dvk_conv1d(cmd, &(dvk_conv1d_desc){.x = tx,
                                                    .weight = tw,
                                                    .bias = tb,
                                                    .y = ty,
                                                    .groups = (uint32_t)c->groups,
                                                    .padding = c->padding,
                                                    .initial_state = ti,
                                                    .final_state = tf,
                                                    .act = c->act}));
        harness_run(cmd);
        float *y = harness_download(ty);
        harness_check(name, "y", ry, y, ny, tol_of(c->y_dt));
        if (tf) {
            float *f = harness_download(tf), *want = malloc(ns * sizeof *want);
            for (size_t i = 0; i < ns; ++i)
                want[i] = (float)rs[i];
            harness_round_to(c->st_dt, want, ns); /* a copy of inputs: exact */
            assert_memory_equal(f, want, ns * sizeof *f);
            free(f), free(want);
        }
        dvk_cmd_destroy(cmd);
        if (tf != ti)
            dvk_tensor_destroy(tf);
        dvk_tensor_destroy(ti), dvk_tensor_destroy(ty), dvk_tensor_destroy(tb);
        dvk_tensor_destroy(tw), dvk_tensor_destroy(tx);
        free(x), free(w), free(bias), free(init), free(ry), free(rs), free(y);
    }
}

/* x [B,T,C] -> rows [t0, t1) of every batch, [B, t1-t0, C]. */
static float *slice_t(const float *x, size_t B, size_t T, size_t C, size_t t0, size_t t1)
{
    float *s = malloc(B * (t1 - t0) * C * sizeof *s);
    for (size_t b = 0; b < B; ++b)
        memcpy(s + b * (t1 - t0) * C, x + (b * T + t0) * C, (t1 - t0) * C * sizeof *s);
    return s;
}

/* Pieces of 1, 3 and the rest, the state in place, against one call (bit for bit) and the
 * reference. */
static void stream_case(size_t B, size_t T, size_t Cin, size_t Cout, size_t W, size_t groups,
                        dvk_act act, dvk_dtype dt)
{
    if (!harness_have_dtype("stream", dt))
        return;
    const size_t cg = Cin / groups, nx = B * T * Cin, ny = B * T * Cout, nw = Cout * cg * W,
                 ns = B * (W - 1) * Cin;
    harness_rng rng = harness_rng_make(W * 100 + groups);
    float *x = random_rounded(&rng, nx, 1.0f, dt);
    float *w = random_rounded(&rng, nw, 1.0f / (float)(cg * W), dt);
    float *bias = random_rounded(&rng, Cout, 0.5f, dt);
    float *init = random_rounded(&rng, ns, 1.0f, dt);
    const uint64_t xs[3] = {B, T, Cin}, ys[3] = {B, T, Cout}, ws[3] = {Cout, cg, W},
                   ss[3] = {B, W - 1, Cin};
    dvk_tensor *tx = harness_tensor(dt, 3, xs, x), *tw = harness_tensor(dt, 3, ws, w);
    dvk_tensor *tb = harness_tensor(dt, 1, &ws[0], bias);
    dvk_tensor *ty = harness_tensor_poisoned(dt, 3, ys);
    dvk_tensor *ti = W > 1 ? harness_tensor(dt, 3, ss, init) : NULL;
    dvk_tensor *tf = W > 1 ? harness_tensor_poisoned(dt, 3, ss) : NULL;
    dvk_tensor *st = W > 1 ? harness_tensor(dt, 3, ss, init) : NULL;
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    const dvk_conv1d_desc whole = {.x = tx, .weight = tw, .bias = tb, .y = ty,
                                   .groups = (uint32_t)groups, .initial_state = ti,
                                   .final_state = tf, .act = act};
    CHECK_OK(dvk_conv1d(cmd, &whole));
    const size_t cuts[4] = {0, 1, 4, T};
    dvk_tensor *px[3], *py[3];
    for (int p = 0; p < 3; ++p) {
        const size_t tp = cuts[p + 1] - cuts[p];
        float *xp = slice_t(x, B, T, Cin, cuts[p], cuts[p + 1]);
        const uint64_t pxs[3] = {B, tp, Cin}, pys[3] = {B, tp, Cout};
        px[p] = harness_tensor(dt, 3, pxs, xp);
        py[p] = harness_tensor_poisoned(dt, 3, pys);
        dvk_conv1d_desc piece = whole;
        piece.x = px[p];
        piece.y = py[p];
        piece.initial_state = st;
        piece.final_state = st;
        CHECK_OK(dvk_conv1d(cmd, &piece));
        free(xp);
    }
    harness_run(cmd);
    float *y = harness_download(ty);
    for (int p = 0; p < 3; ++p) {
        float *yp = harness_download(py[p]), *want = slice_t(y, B, T, Cout, cuts[p], cuts[p + 1]);
        assert_memory_equal(yp, want, B * (cuts[p + 1] - cuts[p]) * Cout * sizeof *yp);
        free(yp), free(want);
        dvk_tensor_destroy(px[p]), dvk_tensor_destroy(py[p]);
    }
    if (W > 1) {
        float *f0 = harness_download(tf), *f1 = harness_download(st);
        assert_memory_equal(f0, f1, ns * sizeof *f0);
        free(f0), free(f1);
    }
    double *ry = malloc(ny * sizeof *ry);
    assert_int_equal(dvk_ref_conv1d(x, B, T, Cin, w, Cout, W, groups, bias, CAUSAL, act,
                                    W > 1 ? init : NULL, ry, NULL),
                     0);
    char name[96];
    snprintf(name, sizeof name, "stream B=%zu T=%zu %zu->%zu W=%zu g=%zu %s", B, T, Cin, Cout, W,
             groups, dvk_dtype_name(dt));
    harness_check(name, "y", ry, y, ny, tol_of(dt));
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(st), dvk_tensor_destroy(tf), dvk_tensor_destroy(ti);
    dvk_tensor_destroy(ty), dvk_tensor_destroy(tb), dvk_tensor_destroy(tw),
        dvk_tensor_destroy(tx);
    free(x), free(w), free(bias), free(init), free(ry), free(y);
}

static void test_streamed_equals_whole(void **state)
{
    (void)state;
    for (size_t W = 1; W <= 5; ++W)
        stream_case(2, 11, 37, 37, W, 37, W == 4 ? DVK_ACT_SILU : DVK_ACT_DEFAULT, F32);
    stream_case(2, 9, 24, 40, 3, 1, DVK_ACT_DEFAULT, F32);
    stream_case(2, 10, 10, 6, 5, 2, DVK_ACT_RELU, F32);
    stream_case(1, 7, 12, 12, 2, 12, DVK_ACT_SILU, F16);
    stream_case(2, 8, 6, 4, 3, 2, DVK_ACT_DEFAULT, BF16);
}

static void test_bad_input(void **state)
{
    (void)state;
    dvk_tensor *x = harness_make(F32, 3, 2, 5, 6, 0);
    dvk_tensor *x2 = harness_make(F32, 2, 5, 6, 0, 0);
    dvk_tensor *w = harness_make(F32, 3, 6, 1, 4, 0);  /* depthwise, W = 4 */
    dvk_tensor *w1 = harness_make(F32, 3, 6, 1, 1, 0); /* W = 1 */
    dvk_tensor *wg = harness_make(F32, 3, 6, 3, 4, 0); /* groups = 2 */
    dvk_tensor *y = harness_make(F32, 3, 2, 5, 6, 0);
    dvk_tensor *y_bad = harness_make(F32, 3, 2, 4, 6, 0);
    dvk_tensor *b_bad = harness_make(F32, 1, 5, 0, 0, 0);
    dvk_tensor *st = harness_make(F32, 3, 2, 3, 6, 0);
    dvk_tensor *st_bad = harness_make(F32, 3, 2, 4, 6, 0);
    dvk_tensor *ids = harness_make(DVK_DTYPE_I32, 3, 2, 5, 6, 0);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    const dvk_conv1d_desc ok = {.x = x, .weight = w, .y = y, .groups = 6};
    dvk_conv1d_desc d;
    CHECK_STATUS(dvk_conv1d(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_conv1d(NULL, &ok), DVK_ERROR_INVALID_ARGUMENT);
    d = ok, d.weight = NULL;
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = ok, d.x = x2;
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = ok, d.x = ids;
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_UNSUPPORTED_DTYPE);
    d = ok, d.groups = 4; /* does not divide 6 */
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = ok, d.groups = 2; /* weight is [6,1,4], groups 2 needs [6,3,4] */
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = ok, d.weight = wg; /* groups 6 needs [6,1,4] */
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = ok, d.y = y_bad;
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = ok, d.bias = b_bad;
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = ok, d.padding = (dvk_conv_padding)7;
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = ok, d.act = DVK_ACT_COUNT_;
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = ok, d.initial_state = st_bad;
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = ok, d.final_state = st_bad;
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_SHAPE_MISMATCH);
    d = ok, d.final_state = st, d.padding = DVK_CONV_SAME; /* only causal carries a state */
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = ok, d.weight = w1, d.initial_state = st; /* W = 1: no state */
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = ok, d.initial_state = st, d.final_state = st;
    CHECK_OK(dvk_conv1d(cmd, &d));
    /* outputs overlapping inputs or each other: refused (the state only as the same tensor) */
    dvk_tensor *st_alias = NULL, *x_head = NULL;
    CHECK_OK(dvk_tensor_reshape(st, 3, (const uint64_t[]){2, 3, 6}, &st_alias));
    CHECK_OK(dvk_tensor_view(x, &(dvk_tensor_view_desc){.ndim = 3, .shape = {2, 3, 6}}, &x_head));
    d = ok, d.y = x;
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = ok, d.y = y, d.bias = NULL, d.initial_state = st, d.final_state = st_alias;
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = ok, d.final_state = x_head; /* the state written over x */
    CHECK_STATUS(dvk_conv1d(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    d = ok, d.final_state = st, d.weight = w, d.y = y, d.initial_state = x_head;
    CHECK_OK(dvk_conv1d(cmd, &d)); /* reading the state from x's bytes is fine */
    dvk_tensor_destroy(st_alias), dvk_tensor_destroy(x_head);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(x), dvk_tensor_destroy(x2), dvk_tensor_destroy(w);
    dvk_tensor_destroy(w1), dvk_tensor_destroy(wg), dvk_tensor_destroy(y);
    dvk_tensor_destroy(y_bad), dvk_tensor_destroy(b_bad), dvk_tensor_destroy(st);
    dvk_tensor_destroy(st_bad), dvk_tensor_destroy(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_whole_sequence, harness_test_teardown),
        cmocka_unit_test_teardown(test_streamed_equals_whole, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_input, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
