/* dvk_add, dvk_mul, dvk_lerp, dvk_gated_residual and dvk_glu against their references in
 * double: odd shapes, every broadcast form (trailing dimensions, leading 1s, one element, the
 * whole shape), fp32, fp16 and bf16 tensors (mixed), in place on each operand that may be y,
 * lerp weights on both sides of 0.5 and outside [0, 1], every GLU layout, a grid past the
 * device's workgroup count, bad input. */
#include "harness.h"

#include "deltavk_nn.h"
#include "deltavk_nn_reference.h"

#include <stdio.h>
#include <stdlib.h>

#define F32 DVK_DTYPE_F32
#define F16 DVK_DTYPE_F16
#define BF16 DVK_DTYPE_BF16

enum { ADD, MUL, LERP, GATED };
static const char *const op_names[] = {"add", "mul", "lerp", "gated_residual"};

/* Largest relative RMS error per output dtype (printed with DVK_TEST_VERBOSE). */
static double max_err[3];

static void check(const char *name, const double *ref, const float *y, size_t n, dvk_dtype dt)
{
    const double e = dvk_ref_rel_rms_error(ref, y, n);
    const int di = dt == F32 ? 0 : dt == F16 ? 1 : 2;
    if (e > max_err[di])
        max_err[di] = e;
    harness_check(name, "y", ref, y, n, di == 0 ? 1e-5 : 5e-3);
}

static float *random_data(harness_rng *rng, size_t n, float lo, float hi, dvk_dtype dt)
{
    float *v = malloc(n * sizeof *v);
    harness_fill_uniform(rng, v, n, lo, hi);
    harness_round_to(dt, v, n);
    return v;
}

/* ---- add, mul, lerp, gated_residual ------------------------------------------------------ */

typedef struct arith_case {
    int op;
    dvk_act act;             /* gated_residual */
    dvk_dtype dt[4];         /* a, b, c (lerp weight / gate), y */
    uint64_t shape[3];       /* a and y */
    uint32_t bc_nd;          /* the broadcast operand's shape (b for add / mul, else c) */
    uint64_t bc_shape[3];
    int in_place;            /* 0: no; 1: y = a; 2: y = b; 3: y = c */
} arith_case;

static const arith_case arith_cases[] = {
    {ADD, 0, {F32, F32, F32, F32}, {3, 5, 7}, 1, {7}, 0},
    {ADD, 0, {F32, F32, F32, F32}, {3, 5, 7}, 2, {5, 7}, 1},
    {ADD, 0, {F32, F32, F32, F32}, {3, 5, 7}, 3, {3, 5, 7}, 2},
    {ADD, 0, {F16, BF16, F32, F32}, {2, 9, 33}, 3, {1, 1, 33}, 0},
    {ADD, 0, {BF16, BF16, F32, BF16}, {1, 1, 1001}, 1, {1}, 1},
    {MUL, 0, {F32, F32, F32, F32}, {4, 3, 11}, 1, {1}, 0},
    {MUL, 0, {F16, F16, F32, F16}, {2, 17, 19}, 2, {17, 19}, 1},
    {MUL, 0, {F32, F16, F32, BF16}, {1, 5, 257}, 3, {1, 5, 257}, 2},
    {LERP, 0, {F32, F32, F32, F32}, {3, 7, 13}, 1, {13}, 0},
    {LERP, 0, {F32, F32, F32, F32}, {3, 7, 13}, 3, {3, 7, 13}, 3},
    {LERP, 0, {F16, F16, BF16, F16}, {2, 6, 31}, 2, {1, 31}, 1},
    {LERP, 0, {BF16, F32, F32, F32}, {5, 1, 64}, 1, {64}, 2},
    {GATED, DVK_ACT_DEFAULT, {F32, F32, F32, F32}, {3, 5, 9}, 3, {3, 5, 9}, 0},
    {GATED, DVK_ACT_IDENTITY, {F32, F32, F32, F32}, {2, 4, 50}, 1, {50}, 1},
    {GATED, DVK_ACT_SILU, {F16, F32, BF16, F16}, {2, 3, 77}, 2, {3, 77}, 2},
    {GATED, DVK_ACT_SIGMOID, {BF16, BF16, BF16, BF16}, {1, 9, 45}, 3, {1, 9, 45}, 3},
};

static void run_arith(const arith_case *c)
{
    const size_t n = c->shape[0] * c->shape[1] * c->shape[2];
    size_t nbc = 1;
    for (uint32_t i = 0; i < c->bc_nd; ++i)
        nbc *= c->bc_shape[i];
    const bool ternary = c->op == LERP || c->op == GATED;
    const dvk_act act = c->act == DVK_ACT_DEFAULT ? DVK_ACT_SIGMOID : c->act;
    const dvk_dtype y_dt = c->in_place ? c->dt[c->in_place - 1] : c->dt[3];
    static const char *const places[] = {"", " y=a", " y=b", " y=c"};
    char name[160];
    snprintf(name, sizeof name, "%s%s%s %s,%s%s%s->%s [%llu,%llu,%llu] bc %zu%s",
             op_names[c->op], c->op == GATED ? " " : "", c->op == GATED ? dvk_act_name(act) : "",
             dvk_dtype_name(c->dt[0]), dvk_dtype_name(c->dt[1]), ternary ? "," : "",
             ternary ? dvk_dtype_name(c->dt[2]) : "", dvk_dtype_name(y_dt),
             (unsigned long long)c->shape[0], (unsigned long long)c->shape[1],
             (unsigned long long)c->shape[2], nbc,
             places[c->in_place]);
    harness_rng rng = harness_rng_make(n * 3 + nbc + (uint64_t)c->op);
    const size_t nb = ternary ? n : nbc, ncc = ternary ? nbc : 0;
    float *a = random_data(&rng, n, -3.0f, 3.0f, c->dt[0]);
    float *b = random_data(&rng, nb, -3.0f, 3.0f, c->dt[1]);
    float *cc = ternary ? random_data(&rng, ncc, c->op == LERP ? -0.3f : -4.0f,
                                      c->op == LERP ? 1.3f : 4.0f, c->dt[2])
                        : NULL;
    double *ref = malloc(n * sizeof *ref);
    switch (c->op) {
    case ADD:
        dvk_ref_add(a, b, nb, ref, n);
        break;
    case MUL:
        dvk_ref_mul(a, b, nb, ref, n);
        break;
    case LERP:
        dvk_ref_lerp(a, b, cc, ncc, ref, n);
        break;
    default:
        dvk_ref_gated_residual(act, a, b, cc, ncc, ref, n);
    }

    dvk_tensor *ta = harness_tensor(c->dt[0], 3, c->shape, a);
    dvk_tensor *tb = ternary ? harness_tensor(c->dt[1], 3, c->shape, b)
                             : harness_tensor(c->dt[1], c->bc_nd, c->bc_shape, b);
    dvk_tensor *tc = ternary ? harness_tensor(c->dt[2], c->bc_nd, c->bc_shape, cc) : NULL;
    dvk_tensor *ty = c->in_place == 1   ? ta
                     : c->in_place == 2 ? tb
                     : c->in_place == 3 ? tc
                                        : harness_tensor_poisoned(c->dt[3], 3, c->shape);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    switch (c->op) {
    case ADD:
        CHECK_OK(dvk_add(cmd, &(dvk_binary_desc){.a = ta, .b = tb, .y = ty}));
        break;
    case MUL:
        CHECK_OK(dvk_mul(cmd, &(dvk_binary_desc){.a = ta, .b = tb, .y = ty}));
        break;
    case LERP:
        CHECK_OK(dvk_lerp(cmd, &(dvk_lerp_desc){.a = ta, .b = tb, .weight = tc, .y = ty}));
        break;
    default:
        CHECK_OK(dvk_gated_residual(cmd, &(dvk_gated_residual_desc){
                                              .residual = ta, .x = tb, .gate = tc, .y = ty,
                                              .act = c->act}));
    }
    harness_run(cmd);
    float *y = harness_download(ty);
    check(name, ref, y, n, y_dt);
    dvk_cmd_destroy(cmd);
    if (ty != ta && ty != tb && ty != tc)
        dvk_tensor_destroy(ty);
    dvk_tensor_destroy(ta), dvk_tensor_destroy(tb), dvk_tensor_destroy(tc);
    free(a), free(b), free(cc), free(y), free(ref);
}

static bool have_dtypes(const dvk_dtype *dt, int n)
{
    for (int i = 0; i < n; ++i)
        if (!harness_have_dtype("case", dt[i]))
            return false;
    return true;
}

static void test_arith(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof arith_cases / sizeof arith_cases[0]; ++i)
        if (have_dtypes(arith_cases[i].dt, 4))
            run_arith(&arith_cases[i]);
}

/* lerp's ends are exact (PyTorch's two-sided form): weight 0 gives a, weight 1 gives b. */
static void test_lerp_ends(void **state)
{
    (void)state;
    const uint64_t n = 6, two = 2;
    const float a[6] = {1e8f, -3.0f, 0.1f, 1e8f, -3.0f, 0.1f};
    const float b[6] = {1.0f, 7.0f, -0.3f, 1.0f, 7.0f, -0.3f};
    const float w[2] = {0.0f, 1.0f};
    const uint64_t shape[2] = {3, 2};
    dvk_tensor *ta = harness_tensor(F32, 1, &n, a), *tb = harness_tensor(F32, 1, &n, b);
    dvk_tensor *tw = harness_tensor(F32, 1, &two, w), *ty = harness_tensor_poisoned(F32, 2, shape);
    dvk_tensor *ta2 = NULL, *tb2 = NULL;
    CHECK_OK(dvk_tensor_reshape(ta, 2, shape, &ta2));
    CHECK_OK(dvk_tensor_reshape(tb, 2, shape, &tb2));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_lerp(cmd, &(dvk_lerp_desc){.a = ta2, .b = tb2, .weight = tw, .y = ty}));
    harness_run(cmd);
    float *y = harness_download(ty);
    for (size_t i = 0; i < n; ++i)
        assert_true(y[i] == (i % 2 ? b[i] : a[i]));
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(ta2), dvk_tensor_destroy(tb2);
    dvk_tensor_destroy(ta), dvk_tensor_destroy(tb), dvk_tensor_destroy(tw), dvk_tensor_destroy(ty);
    free(y);
}

/* More elements than one row of workgroups covers (the grid folds into y): a zero-filled fp16
 * a plus a broadcast b, in place, must hold b[i mod nb] everywhere (unwritten elements stay 0;
 * b has no zeros). */
static void test_large_grid(void **state)
{
    (void)state;
    if (!harness_have_dtype("large grid", F16))
        return;
    const uint32_t max_x = dvk_context_device_info(harness_ctx)->max_workgroup_count[0];
    const uint64_t nb = 4099, rows = (uint64_t)max_x * 256 / nb + 2, n = rows * nb;
    if (n > 20000000) {
        printf("large grid: skipped (%u workgroups along x)\n", max_x);
        return;
    }
    float *b = malloc(nb * sizeof *b);
    for (uint64_t i = 0; i < nb; ++i)
        b[i] = (float)(i % 37) - 18.5f;
    dvk_tensor *ta = NULL, *tb = harness_tensor(F16, 1, &nb, b);
    CHECK_OK(dvk_tensor_create(harness_ctx,
                               &(dvk_tensor_desc){.dtype = F16, .ndim = 2, .shape = {rows, nb}},
                               &ta));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_cmd_fill_zero(cmd, ta));
    CHECK_OK(dvk_add(cmd, &(dvk_binary_desc){.a = ta, .b = tb, .y = ta}));
    harness_run(cmd);
    uint16_t *y = malloc(n * sizeof *y);
    CHECK_OK(dvk_tensor_download(ta, y, n * sizeof *y));
    size_t bad = 0;
    for (uint64_t i = 0; i < n; ++i)
        bad += y[i] != dvk_f32_to_f16(b[i % nb]);
    assert_int_equal(bad, 0);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(ta), dvk_tensor_destroy(tb);
    free(b), free(y);
}

/* ---- glu ---------------------------------------------------------------------------------- */

typedef struct glu_case {
    dvk_act act;
    dvk_dtype x_dt, g_dt, y_dt;
    uint64_t lead[2], n; /* y [lead0, lead1, n] */
    int layout;          /* 0: halves, value first; 1: halves, gate first; 2: separate gate */
} glu_case;

static const glu_case glu_cases[] = {
    {DVK_ACT_DEFAULT, F32, F32, F32, {3, 5}, 7, 0},
    {DVK_ACT_GELU, F32, F32, F32, {2, 9}, 33, 0},
    {DVK_ACT_SILU, F32, F32, F32, {1, 11}, 128, 1},
    {DVK_ACT_SILU, F16, F16, F16, {2, 3}, 65, 1},
    {DVK_ACT_GELU, BF16, F32, BF16, {1, 7}, 31, 0},
    {DVK_ACT_GELU_TANH, F32, F16, F32, {2, 5}, 17, 2},
    {DVK_ACT_SIGMOID, BF16, F16, F32, {1, 1}, 1, 2},
    {DVK_ACT_SILU, F16, BF16, F16, {4, 4}, 100, 2},
    {DVK_ACT_RELU_SQUARED, F32, F32, BF16, {3, 1}, 9, 1},
};

static void run_glu(const glu_case *c)
{
    const dvk_act act = c->act == DVK_ACT_DEFAULT ? DVK_ACT_SIGMOID : c->act;
    static const char *const layouts[] = {"halves", "halves gate first", "separate gate"};
    char name[160];
    snprintf(name, sizeof name, "glu %s %s %s%s%s->%s [%llu,%llu,%llu]", dvk_act_name(act),
             layouts[c->layout], dvk_dtype_name(c->x_dt), c->layout == 2 ? "," : "",
             c->layout == 2 ? dvk_dtype_name(c->g_dt) : "", dvk_dtype_name(c->y_dt),
             (unsigned long long)c->lead[0], (unsigned long long)c->lead[1],
             (unsigned long long)c->n);
    const size_t rows = c->lead[0] * c->lead[1], n = rows * c->n;
    const bool split = c->layout != 2;
    harness_rng rng = harness_rng_make(n + (uint64_t)act * 5 + (uint64_t)c->layout);
    float *x = random_data(&rng, split ? 2 * n : n, -4.0f, 4.0f, c->x_dt);
    float *g = split ? NULL : random_data(&rng, n, -4.0f, 4.0f, c->g_dt);
    double *ref = malloc(n * sizeof *ref);
    dvk_ref_glu(act, x, g, c->layout == 1, ref, rows, c->n);

    const uint64_t ys[3] = {c->lead[0], c->lead[1], c->n};
    const uint64_t xs[3] = {c->lead[0], c->lead[1], split ? 2 * c->n : c->n};
    dvk_tensor *tx = harness_tensor(c->x_dt, 3, xs, x);
    dvk_tensor *tg = split ? NULL : harness_tensor(c->g_dt, 3, ys, g);
    dvk_tensor *ty = harness_tensor_poisoned(c->y_dt, 3, ys);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_glu(cmd, &(dvk_glu_desc){.x = tx, .gate = tg, .y = ty, .act = c->act,
                                          .gate_first = c->layout == 1}));
    harness_run(cmd);
    float *y = harness_download(ty);
    check(name, ref, y, n, c->y_dt);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tx), dvk_tensor_destroy(tg), dvk_tensor_destroy(ty);
    free(x), free(g), free(y), free(ref);
}

static void test_glu(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof glu_cases / sizeof glu_cases[0]; ++i) {
        const glu_case *c = &glu_cases[i];
        const dvk_dtype dts[3] = {c->x_dt, c->layout == 2 ? c->g_dt : F32, c->y_dt};
        if (have_dtypes(dts, 3))
            run_glu(c);
    }
    if (getenv("DVK_TEST_VERBOSE"))
        fprintf(stderr, "max rel rms: f32 %.3e, f16 %.3e, bf16 %.3e\n", max_err[0], max_err[1],
                max_err[2]);
}

/* ---- bad input ---------------------------------------------------------------------------- */

static void test_bad_input(void **state)
{
    (void)state;
    dvk_tensor *x = harness_make(F32, 3, 2, 3, 4, 0);    /* [2,3,4] */
    dvk_tensor *x2 = harness_make(F32, 3, 2, 3, 4, 0);
    dvk_tensor *v3 = harness_make(F32, 1, 3, 0, 0, 0);   /* [3]: not x's trailing dims */
    dvk_tensor *v34 = harness_make(F32, 2, 3, 4, 0, 0);  /* [3,4] */
    dvk_tensor *big = harness_make(F32, 4, 5, 2, 3, 4);  /* [5,2,3,4]: more than x */
    dvk_tensor *y2 = harness_make(F32, 3, 2, 3, 2, 0);   /* [2,3,2] */
    dvk_tensor *y5 = harness_make(F32, 3, 2, 3, 5, 0);
    dvk_tensor *odd = harness_make(F32, 2, 3, 5, 0, 0);
    dvk_tensor *y25 = harness_make(F32, 2, 3, 2, 0, 0);
    dvk_tensor *ids = harness_make(DVK_DTYPE_I32, 3, 2, 3, 4, 0);
    dvk_tensor *x3 = harness_make(F32, 3, 2, 3, 4, 0);
    dvk_tensor *half = NULL;
    CHECK_OK(dvk_tensor_view(x, &(dvk_tensor_view_desc){.ndim = 1, .shape = {12}}, &half));
    /* Two [2,3,40] views of one buffer, the second starting one alignment unit later. */
    dvk_tensor *mem = harness_make(F32, 1, 1024, 0, 0, 0), *v40 = harness_make(F32, 1, 40, 0, 0, 0);
    dvk_tensor *first = NULL, *shifted = NULL;
    const uint64_t off = dvk_context_device_info(harness_ctx)->tensor_alignment / 4;
    CHECK_OK(dvk_tensor_view(mem, &(dvk_tensor_view_desc){.ndim = 3, .shape = {2, 3, 40}},
                             &first));
    if (off < 240)
        CHECK_OK(dvk_tensor_view(mem, &(dvk_tensor_view_desc){.offset = off, .ndim = 3,
                                                              .shape = {2, 3, 40}},
                                 &shifted));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));

    CHECK_STATUS(dvk_add(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_add(NULL, &(dvk_binary_desc){.a = x, .b = x, .y = x}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_add(cmd, &(dvk_binary_desc){.a = x, .y = x}), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_mul(cmd, &(dvk_binary_desc){.a = x, .b = v3, .y = x2}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_mul(cmd, &(dvk_binary_desc){.a = x, .b = big, .y = x2}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_add(cmd, &(dvk_binary_desc){.a = x, .b = v34, .y = y5}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_add(cmd, &(dvk_binary_desc){.a = ids, .b = v34, .y = x}),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    /* y overlapping an input without being it: a race, refused. */
    if (shifted)
        CHECK_STATUS(dvk_add(cmd, &(dvk_binary_desc){.a = first, .b = v40, .y = shifted}),
                     DVK_ERROR_INVALID_ARGUMENT);
    CHECK_OK(dvk_add(cmd, &(dvk_binary_desc){.a = x, .b = v34, .y = x}));

    CHECK_STATUS(dvk_lerp(cmd, &(dvk_lerp_desc){.a = x, .b = v34, .weight = v34, .y = x2}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_lerp(cmd, &(dvk_lerp_desc){.a = x, .b = x2, .y = x2}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_lerp(cmd, &(dvk_lerp_desc){.a = x, .b = x2, .weight = v3, .y = x2}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_gated_residual(cmd, &(dvk_gated_residual_desc){
                                             .residual = x, .x = x2, .gate = v34, .y = x,
                                             .act = DVK_ACT_COUNT_}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_gated_residual(cmd, &(dvk_gated_residual_desc){
                                             .residual = x, .x = v34, .gate = v34, .y = x}),
                 DVK_ERROR_SHAPE_MISMATCH);

    CHECK_STATUS(dvk_glu(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_glu(cmd, &(dvk_glu_desc){.x = odd, .y = y25}), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_glu(cmd, &(dvk_glu_desc){.x = x, .y = x2}), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_glu(cmd, &(dvk_glu_desc){.x = x, .y = y5}), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_glu(cmd, &(dvk_glu_desc){.x = x, .gate = y2, .y = x2}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_glu(cmd, &(dvk_glu_desc){.x = x, .gate = x2, .y = x2}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_glu(cmd, &(dvk_glu_desc){.x = x, .gate = v34, .y = x2}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_glu(cmd, &(dvk_glu_desc){.x = x, .gate = x2, .y = y5}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_glu(cmd, &(dvk_glu_desc){.x = x, .gate = x2, .y = x3, .gate_first = true}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_glu(cmd, &(dvk_glu_desc){.x = x, .y = y2, .act = (dvk_act)-1}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_glu(cmd, &(dvk_glu_desc){.x = ids, .y = y2}), DVK_ERROR_UNSUPPORTED_DTYPE);
    /* y inside x (the first half of its memory, as a [2,3,2] view) is refused. */
    dvk_tensor *inside = NULL;
    const uint64_t s232[3] = {2, 3, 2};
    CHECK_OK(dvk_tensor_reshape(half, 3, s232, &inside));
    CHECK_STATUS(dvk_glu(cmd, &(dvk_glu_desc){.x = x, .y = inside}), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_OK(dvk_glu(cmd, &(dvk_glu_desc){.x = x, .y = y2}));

    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(inside), dvk_tensor_destroy(half), dvk_tensor_destroy(shifted),
        dvk_tensor_destroy(first), dvk_tensor_destroy(mem), dvk_tensor_destroy(v40),
        dvk_tensor_destroy(x3);
    dvk_tensor_destroy(x), dvk_tensor_destroy(x2), dvk_tensor_destroy(v3),
        dvk_tensor_destroy(v34), dvk_tensor_destroy(big), dvk_tensor_destroy(y2),
        dvk_tensor_destroy(y5), dvk_tensor_destroy(odd), dvk_tensor_destroy(y25),
        dvk_tensor_destroy(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_arith, harness_test_teardown),
        cmocka_unit_test_teardown(test_lerp_ends, harness_test_teardown),
        cmocka_unit_test_teardown(test_large_grid, harness_test_teardown),
        cmocka_unit_test_teardown(test_glu, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_input, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
