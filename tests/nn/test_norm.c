/* dvk_layer_norm, dvk_group_norm, dvk_rms_norm and dvk_l2_norm against their references in
 * double: rows of 1 to 70,000 elements (every plan of the kernel: several rows per workgroup,
 * one row per workgroup in registers, long rows streamed), many and few rows, fp32, fp16 and
 * bf16 inputs, outputs and parameters (mixed), each optional tensor present and absent, each
 * eps mode, in place, rows far from zero (mean 1e3, standard deviation 1e-2: a variance taken
 * as E[x²] − E[x]² in fp32 fails these), rows of zeros (where eps decides), bad input. */
#include "harness.h"

#include "deltavk_nn.h"
#include "deltavk_nn_reference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { LAYER, GROUP, RMS, L2 };
static const char *const kind_names[] = {"layer_norm", "group_norm", "rms_norm", "l2_norm"};

typedef struct norm_case {
    int kind;
    dvk_dtype x_dt, y_dt, p_dt, g_dt; /* x, y, weight and bias, gate */
    uint64_t rows, c;
    uint32_t groups;
    bool weight, bias, gate, in_place;
    float eps;
    dvk_norm_eps eps_mode;
    float weight_offset;
    float mean, amp; /* x = mean + amp · N(0, 1) */
    bool zero_rows;  /* every third row all zeros */
} norm_case;

#define F32 DVK_DTYPE_F32
#define F16 DVK_DTYPE_F16
#define BF16 DVK_DTYPE_BF16

static const norm_case cases[] = {
    /* LayerNorm: every plan (c = 1 and 3: one invocation per row; 64: 16 rows per workgroup;
     * 1000: a row per workgroup in registers; 4097, 20000, 70000: long rows, streamed in the
     * small profile or both), with and without the affine parameters. */
    {LAYER, F32, F32, F32, F32, 37, 1, 0, true, true, false, false, 0, 0, 0, 0, 1, false},
    {LAYER, F32, F32, F32, F32, 29, 3, 0, true, false, false, false, 0, 0, 0, 0.5f, 2, false},
    {LAYER, F32, F32, F32, F32, 1001, 64, 0, true, true, false, false, 0, 0, 0, 0, 1, true},
    {LAYER, F32, F32, F32, F32, 7, 1000, 0, false, false, false, true, 0, 0, 0, 0, 3, false},
    {LAYER, F32, F32, F16, F32, 3, 4097, 0, true, true, false, false, 1e-3f, 0, 0, 0, 1, false},
    {LAYER, F32, F32, F32, F32, 2, 20000, 0, true, true, false, false, 0, 0, 0, 0, 1, false},
    {LAYER, F32, F32, F32, F32, 1, 70000, 0, false, true, false, true, 0, 0, 0, -2, 1, false},
    /* Far from zero: mean 1e3, deviations 1e-2, in registers and streamed. */
    {LAYER, F32, F32, F32, F32, 33, 1000, 0, true, true, false, false, 0, 0, 0, 1e3f, 1e-2f,
     false},
    {LAYER, F32, F32, F32, F32, 2, 20001, 0, false, false, false, false, 0, 0, 0, 1e3f, 1e-2f,
     false},
    {LAYER, F32, F32, F32, F32, 65, 67, 0, true, false, false, true, 0, 0, 0, -1e3f, 1e-2f,
     false},
    /* Every dtype, mixed. */
    {LAYER, F16, F16, F16, F32, 45, 255, 0, true, true, false, false, 0, 0, 0, 1, 2, false},
    {LAYER, BF16, BF16, BF16, F32, 19, 320, 0, true, true, false, true, 0, 0, 0, 0, 1, false},
    {LAYER, F16, F32, BF16, F32, 5, 96, 0, true, true, false, false, 0, 0, 0, 300, 4, false},
    {LAYER, F32, BF16, F32, F32, 9, 130, 0, true, false, false, false, 0, 0, 0, 0, 1, false},

    /* GroupNorm: RWKV-7's ln_x (groups = heads of 64, eps 64e-5), odd group sizes, one group. */
    {GROUP, F32, F32, F32, F32, 37, 320, 5, true, true, false, false, 64e-5f, 0, 0, 0, 1, true},
    {GROUP, F32, F32, F32, F32, 11, 21, 3, true, true, false, true, 0, 0, 0, 2, 1, false},
    {GROUP, F16, F16, F32, F32, 23, 384, 6, true, true, false, false, 64e-5f, 0, 0, 0, 1, false},
    {GROUP, BF16, F32, BF16, F32, 4, 770, 2, true, false, false, false, 0, 0, 0, 0, 1, false},
    {GROUP, F32, F32, F32, F32, 3, 9000, 1, false, true, false, false, 0, 0, 0, 1e3f, 1e-2f,
     false},
    {GROUP, F32, F32, F32, F32, 2, 4096 * 3, 3, true, true, false, false, 0, 0, 0, 0, 1, false},

    /* RMSNorm: each eps mode, weight (with Qwen3-Next's offset 1), the SiLU gate, dtypes. */
    {RMS, F32, F32, F32, F32, 41, 128, 0, true, false, false, false, 0, 0, 0, 0, 1, true},
    {RMS, F32, F32, F32, F32, 13, 77, 0, true, false, false, false, 1e-3f, DVK_NORM_EPS_CLAMP,
     0, 0, 1, true},
    {RMS, F32, F32, F32, F32, 13, 77, 0, true, false, false, false, 1e-8f, DVK_NORM_EPS_ADD, 0,
     0, 0.01f, true},
    {RMS, F32, F32, F32, F32, 7, 2048, 0, true, false, false, true, 0, 0, 1.0f, 0.5f, 1,
     false},
    {RMS, F32, F32, F32, F32, 50, 64, 0, true, false, true, false, 0, 0, 0, 0, 1, false},
    {RMS, F16, F16, F32, F16, 33, 128, 0, true, false, true, true, 0, 0, 1.0f, 0, 1, false},
    {RMS, BF16, BF16, BF16, BF16, 17, 256, 0, true, false, true, false, 0, 0, 0, 0, 1, false},
    {RMS, F32, F32, F32, F32, 3, 70000, 0, false, false, true, true, 0, DVK_NORM_EPS_ADD, 0, 0,
     1, false},
    {RMS, BF16, F32, F32, F32, 6, 5, 0, false, false, false, false, 0, 0, 0, 0, 1, false},

    /* L2: fla's default, F.normalize (CLAMP 1e-12), the DeltaNet seed's (ADD 1e-6). */
    {L2, F32, F32, F32, F32, 100, 128, 0, false, false, false, false, 0, 0, 0, 0, 1, true},
    {L2, F32, F32, F32, F32, 31, 33, 0, false, false, false, true, 1e-12f, DVK_NORM_EPS_CLAMP,
     0, 0, 1, true},
    {L2, F32, F32, F32, F32, 31, 33, 0, false, false, false, false, 0, DVK_NORM_EPS_ADD, 0, 0,
     1e-3f, true},
    {L2, F16, F16, F32, F32, 64, 64, 0, false, false, false, true, 0, 0, 0, 0, 1, false},
    {L2, BF16, F32, F32, F32, 5, 5000, 0, false, false, false, false, 0, 0, 0, 0, 1, false},
    {L2, F32, F16, F32, F32, 1, 1, 0, false, false, false, false, 0, 0, 0, 0, 1, false},
};

/* Largest relative RMS error seen per output dtype (printed at the end). */
static double max_err[3];

static int dt_index(dvk_dtype dt) { return dt == F32 ? 0 : dt == F16 ? 1 : 2; }

static float *random_tensor_data(harness_rng *rng, size_t n, float mean, float amp, dvk_dtype dt)
{
    float *v = malloc(n * sizeof *v);
    harness_fill_normal(rng, v, n, amp);
    for (size_t i = 0; i < n; ++i)
        v[i] += mean;
    harness_round_to(dt, v, n);
    return v;
}

static dvk_tensor *maybe_tensor(bool present, dvk_dtype dt, uint32_t nd, const uint64_t *shape,
                                const float *data)
{
    return present ? harness_tensor(dt, nd, shape, data) : NULL;
}

static void run(const norm_case *c)
{
    char name[160];
    snprintf(name, sizeof name, "%s %s->%s p=%s [%llu,%llu]/%u%s%s%s eps=%g/%d off=%g%s",
             kind_names[c->kind], dvk_dtype_name(c->x_dt), dvk_dtype_name(c->y_dt),
             dvk_dtype_name(c->p_dt), (unsigned long long)c->rows, (unsigned long long)c->c,
             c->groups, c->weight ? " w" : "", c->bias ? " b" : "", c->gate ? " gate" : "",
             (double)c->eps, (int)c->eps_mode, (double)c->weight_offset,
             c->in_place ? " in place" : "");
    const size_t n = c->rows * c->c;
    harness_rng rng = harness_rng_make(n * 7 + c->c * 13 + (uint64_t)c->kind);
    float *x = random_tensor_data(&rng, n, c->mean, c->amp, c->x_dt);
    if (c->zero_rows)
        for (size_t r = 0; r < c->rows; r += 3)
            for (size_t j = 0; j < c->c; ++j)
                x[r * c->c + j] = 0.0f;
    float *w = random_tensor_data(&rng, c->c, c->weight_offset != 0 ? 0.0f : 1.0f, 0.3f, c->p_dt);
    float *b = random_tensor_data(&rng, c->c, 0.0f, 0.5f, c->p_dt);
    float *g = random_tensor_data(&rng, n, 0.0f, 2.0f, c->g_dt);
    double *ref = malloc(n * sizeof *ref);
    int rc = -1;
    switch (c->kind) {
    case LAYER:
        rc = dvk_ref_layer_norm(x, c->weight ? w : NULL, c->bias ? b : NULL, ref, c->rows, c->c,
                                c->eps);
        break;
    case GROUP:
        rc = dvk_ref_group_norm(x, c->weight ? w : NULL, c->bias ? b : NULL, ref, c->rows, c->c,
                                c->groups, c->eps);
        break;
    case RMS:
        rc = dvk_ref_rms_norm(x, c->weight ? w : NULL, c->gate ? g : NULL, ref, c->rows, c->c,
                              c->eps, c->eps_mode, c->weight_offset);
        break;
    default:
        rc = dvk_ref_l2_norm(x, ref, c->rows, c->c, c->eps, c->eps_mode);
    }
    assert_int_equal(rc, 0);

    /* [rows, c] as [2, rows/2, c] when rows is even: the norms see any leading shape. */
    const uint64_t shape3[3] = {2, c->rows / 2, c->c}, shape2[2] = {c->rows, c->c};
    const bool three = c->rows % 2 == 0;
    const uint32_t nd = three ? 3 : 2;
    const uint64_t *shape = three ? shape3 : shape2;
    dvk_tensor *tx = harness_tensor(c->x_dt, nd, shape, x);
    dvk_tensor *ty = c->in_place ? tx : harness_tensor_poisoned(c->y_dt, nd, shape);
    dvk_tensor *tw = maybe_tensor(c->weight, c->p_dt, 1, &c->c, w);
    dvk_tensor *tb = maybe_tensor(c->bias, c->p_dt, 1, &c->c, b);
    dvk_tensor *tg = maybe_tensor(c->gate, c->g_dt, nd, shape, g);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    switch (c->kind) {
    case LAYER:
        CHECK_OK(dvk_layer_norm(cmd, &(dvk_layer_norm_desc){.x = tx, .weight = tw, .bias = tb,
                                                           .y = ty, .eps = c->eps}));
        break;
    case GROUP:
        CHECK_OK(dvk_group_norm(cmd, &(dvk_group_norm_desc){.x = tx, .weight = tw, .bias = tb,
                                                           .y = ty, .groups = c->groups,
                                                           .eps = c->eps}));
        break;
    case RMS:
        CHECK_OK(dvk_rms_norm(cmd, &(dvk_rms_norm_desc){.x = tx, .weight = tw, .gate = tg,
                                                       .y = ty, .eps = c->eps,
                                                       .eps_mode = c->eps_mode,
                                                       .weight_offset = c->weight_offset}));
        break;
    default:
        CHECK_OK(dvk_l2_norm(cmd, &(dvk_l2_norm_desc){.x = tx, .y = ty, .eps = c->eps,
                                                     .eps_mode = c->eps_mode}));
    }
    harness_run(cmd);
    float *y = harness_download(ty);
    const double e = dvk_ref_rel_rms_error(ref, y, n);
    const int di = dt_index(c->in_place ? c->x_dt : c->y_dt);
    if (e > max_err[di])
        max_err[di] = e;
    harness_check(name, "y", ref, y, n, di == 0 ? 1e-5 : 5e-3);
    dvk_cmd_destroy(cmd);
    if (ty != tx)
        dvk_tensor_destroy(ty);
    dvk_tensor_destroy(tx), dvk_tensor_destroy(tw), dvk_tensor_destroy(tb),
        dvk_tensor_destroy(tg);
    free(x), free(w), free(b), free(g), free(y), free(ref);
}

static void test_norms(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        const norm_case *c = &cases[i];
        if (!harness_have_dtype("case", c->x_dt) || !harness_have_dtype("case", c->y_dt) ||
            !harness_have_dtype("case", c->p_dt) || !harness_have_dtype("case", c->g_dt))
            continue;
        run(c);
    }
    if (getenv("DVK_TEST_VERBOSE"))
        fprintf(stderr, "max rel rms: f32 %.3e, f16 %.3e, bf16 %.3e\n", max_err[0], max_err[1],
                max_err[2]);
}

/* Several norms recorded into one dvk_cmd, each reading the previous one's output: the
 * barriers between them, and RWKV-7's ln_x on a view of a wider tensor. */
static void test_chained(void **state)
{
    (void)state;
    const uint64_t rows = 10, c = 192, n = rows * c;
    harness_rng rng = harness_rng_make(5);
    float *x = random_tensor_data(&rng, n, 0.5f, 2.0f, F32);
    float *w = random_tensor_data(&rng, c, 1.0f, 0.2f, F32);
    double *r1 = malloc(n * sizeof *r1), *r2 = malloc(n * sizeof *r2);
    float *t = malloc(n * sizeof *t);
    dvk_ref_layer_norm(x, w, NULL, r1, rows, c, 0);
    for (size_t i = 0; i < n; ++i)
        t[i] = (float)r1[i];
    dvk_ref_group_norm(t, NULL, w, r2, rows, c, 3, 64e-5f);

    const uint64_t shape[2] = {rows, c};
    dvk_tensor *tx = harness_tensor(F32, 2, shape, x), *tw = harness_tensor(F32, 1, &c, w);
    dvk_tensor *ty = harness_tensor_poisoned(F32, 2, shape);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_layer_norm(cmd, &(dvk_layer_norm_desc){.x = tx, .weight = tw, .y = ty}));
    CHECK_OK(dvk_group_norm(cmd, &(dvk_group_norm_desc){.x = ty, .bias = tw, .y = ty,
                                                       .groups = 3, .eps = 64e-5f}));
    harness_run(cmd);
    float *y = harness_download(ty);
    harness_check("layer_norm then group_norm in place", "y", r2, y, n, 1e-5);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tx), dvk_tensor_destroy(tw), dvk_tensor_destroy(ty);
    free(x), free(w), free(r1), free(r2), free(t), free(y);
}

/* More rows than one row of workgroups covers (the grid folds into y): LayerNorm of rows of
 * one element is the bias, so every row of a zero-filled x normalised in place must hold it. */
static void test_many_rows(void **state)
{
    (void)state;
    if (!harness_have_dtype("many rows", F16))
        return;
    const uint32_t max_x = dvk_context_device_info(harness_ctx)->max_workgroup_count[0];
    const uint64_t rows = (uint64_t)max_x * 256 + 777, one = 1;
    if (rows > 20000000) {
        printf("many rows: skipped (%u workgroups along x)\n", max_x);
        return;
    }
    const float bias = 0.375f;
    dvk_tensor *tx = NULL, *tb = harness_tensor(F32, 1, &one, &bias);
    CHECK_OK(dvk_tensor_create(harness_ctx,
                               &(dvk_tensor_desc){.dtype = F16, .ndim = 2, .shape = {rows, 1}},
                               &tx));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_cmd_fill_zero(cmd, tx));
    CHECK_OK(dvk_layer_norm(cmd, &(dvk_layer_norm_desc){.x = tx, .bias = tb, .y = tx}));
    harness_run(cmd);
    uint16_t *y = malloc(rows * sizeof *y);
    CHECK_OK(dvk_tensor_download(tx, y, rows * sizeof *y));
    const uint16_t want = dvk_f32_to_f16(bias);
    size_t bad = 0;
    for (uint64_t r = 0; r < rows; ++r)
        bad += y[r] != want;
    assert_int_equal(bad, 0);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tx), dvk_tensor_destroy(tb);
    free(y);
}

static void test_bad_input(void **state)
{
    (void)state;
    dvk_tensor *x = harness_make(F32, 2, 3, 6, 0, 0);
    dvk_tensor *y4 = harness_make(F32, 2, 3, 4, 0, 0);
    dvk_tensor *w6 = harness_make(F32, 1, 6, 0, 0, 0);
    dvk_tensor *w5 = harness_make(F32, 1, 5, 0, 0, 0);
    dvk_tensor *w16 = harness_make(F32, 2, 1, 6, 0, 0);
    dvk_tensor *w23 = harness_make(F32, 2, 2, 3, 0, 0);
    dvk_tensor *ids = harness_make(DVK_DTYPE_I32, 2, 3, 6, 0, 0);
    dvk_tensor *g = harness_make(F32, 2, 6, 3, 0, 0);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));

    CHECK_STATUS(dvk_layer_norm(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_layer_norm(NULL, &(dvk_layer_norm_desc){.x = x, .y = x}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_layer_norm(cmd, &(dvk_layer_norm_desc){.x = x}), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_layer_norm(cmd, &(dvk_layer_norm_desc){.y = x}), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_layer_norm(cmd, &(dvk_layer_norm_desc){.x = x, .y = y4}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_layer_norm(cmd, &(dvk_layer_norm_desc){.x = ids, .y = x}),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_layer_norm(cmd, &(dvk_layer_norm_desc){.x = x, .y = x, .weight = w5}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_layer_norm(cmd, &(dvk_layer_norm_desc){.x = x, .y = x, .bias = w23}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_layer_norm(cmd, &(dvk_layer_norm_desc){.x = x, .y = x, .eps = -1.0f}),
                 DVK_ERROR_INVALID_ARGUMENT);
    /* [1, C] parameters are accepted. */
    CHECK_OK(dvk_layer_norm(cmd, &(dvk_layer_norm_desc){.x = x, .y = x, .weight = w16}));

    CHECK_STATUS(dvk_group_norm(cmd, &(dvk_group_norm_desc){.x = x, .y = x, .groups = 4}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_group_norm(cmd, &(dvk_group_norm_desc){.x = x, .y = x, .weight = w5,
                                                           .groups = 3}),
                 DVK_ERROR_SHAPE_MISMATCH);

    CHECK_STATUS(dvk_rms_norm(cmd, &(dvk_rms_norm_desc){.x = x, .y = x, .gate = g}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_rms_norm(cmd, &(dvk_rms_norm_desc){.x = x, .y = x, .gate = ids}),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_rms_norm(cmd, &(dvk_rms_norm_desc){.x = x, .y = x, .eps_mode = 3}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_rms_norm(cmd, &(dvk_rms_norm_desc){.x = x, .y = x, .weight_offset = 1}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_rms_norm(cmd, &(dvk_rms_norm_desc){.x = x, .y = x, .weight = w6,
                                                       .eps = INFINITY}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_l2_norm(cmd, &(dvk_l2_norm_desc){.x = x, .y = x, .eps = 1e-40f}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_l2_norm(cmd, &(dvk_l2_norm_desc){.x = x, .y = x, .eps_mode = -1}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_l2_norm(cmd, &(dvk_l2_norm_desc){.x = x, .y = y4}),
                 DVK_ERROR_SHAPE_MISMATCH);

    assert_int_equal(dvk_ref_group_norm(NULL, NULL, NULL, NULL, 1, 6, 4, 0), -1);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(x), dvk_tensor_destroy(y4), dvk_tensor_destroy(w6),
        dvk_tensor_destroy(w5), dvk_tensor_destroy(w16), dvk_tensor_destroy(w23),
        dvk_tensor_destroy(ids), dvk_tensor_destroy(g);
}

/* Independent calls in one recording give the bits each gives recorded alone, with no
 * validation message: LayerNorm with weight and bias, LayerNorm with neither in place,
 * RMSNorm with a gate, RMSNorm without a weight on long rows. */
enum { NORM_CALLS = 4 };
static const int norm_shape[NORM_CALLS][2] = {{4, 24}, {3, 100}, {5, 16}, {2, 3000}};

typedef struct norm_calls {
    dvk_tensor *t[NORM_CALLS][5]; /* x, weight, bias or gate, y */
} norm_calls;

static void norm_make(void *user)
{
    norm_calls *s = user;
    harness_rng rng = harness_rng_make(33);
    const dvk_dtype F = DVK_DTYPE_F32;
    for (int c = 0; c < NORM_CALLS; ++c) {
        const int R = norm_shape[c][0], C = norm_shape[c][1];
        dvk_tensor **t = s->t[c];
        t[0] = harness_random(&rng, F, -2.0f, 2.0f, 2, R, C, 0, 0);
        t[1] = c == 0 || c == 2 ? harness_random(&rng, F, 0.5f, 1.5f, 1, C, 0, 0, 0) : NULL;
        t[2] = c == 0 ? harness_random(&rng, F, -1.0f, 1.0f, 1, C, 0, 0, 0) : NULL;
        t[3] = c == 2 ? harness_random(&rng, F, -1.0f, 1.0f, 2, R, C, 0, 0) : NULL;
        t[4] = c == 1 ? NULL : harness_tensor_poisoned(F, 2, (uint64_t[]){R, C});
    }
}

static dvk_status norm_record(void *user, dvk_cmd *cmd, int c)
{
    dvk_tensor **t = ((norm_calls *)user)->t[c];
    if (c < 2)
        return dvk_layer_norm(cmd, &(dvk_layer_norm_desc){.x = t[0], .weight = t[1],
                                                          .bias = t[2],
                                                          .y = c == 1 ? t[0] : t[4]});
    const dvk_norm_eps mode = c == 3 ? DVK_NORM_EPS_ADD : DVK_NORM_EPS_INSIDE;
    return dvk_rms_norm(cmd, &(dvk_rms_norm_desc){.x = t[0], .weight = t[1], .gate = t[3],
                                                  .y = t[4], .eps_mode = mode});
}

static void norm_outputs(void *user, int c, const dvk_tensor *out[HARNESS_MAX_OUTPUTS])
{
    dvk_tensor **t = ((norm_calls *)user)->t[c];
    out[0] = c == 1 ? t[0] : t[4];
}

static void norm_destroy(void *user)
{
    norm_calls *s = user;
    for (int c = 0; c < NORM_CALLS; ++c)
        for (int i = 0; i < 5; ++i)
            dvk_tensor_destroy(s->t[c][i]);
}

static void test_independent_calls_one_recording(void **state)
{
    (void)state;
    norm_calls s;
    harness_one_recording(&(harness_calls){"norms", NORM_CALLS, &s, norm_make, norm_record,
                                           norm_outputs, norm_destroy});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_norms, harness_test_teardown),
        cmocka_unit_test_teardown(test_chained, harness_test_teardown),
        cmocka_unit_test_teardown(test_many_rows, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_input, harness_test_teardown),
        cmocka_unit_test_teardown(test_independent_calls_one_recording, harness_test_teardown),
    };
    if (getenv("DVK_TEST_FILTER")) /* a glob of test names: only those run */
        cmocka_set_test_filter(getenv("DVK_TEST_FILTER"));
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
