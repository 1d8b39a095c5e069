/* dvk_softmax, dvk_argmax and dvk_sample on the device against their references in double:
 * rows of 1 to 262147 (past the 151936 of Qwen's vocabulary), every float dtype, temperature,
 * log-softmax in place; argmax's ties, NaN and −inf; sampling's kept set and token against
 * dvk_ref_sample_row with the same uniform number (away from cut-offs and cumulative
 * boundaries, where fp32 and double may round apart), token frequencies over thousands of
 * draws against the kept, renormalised probabilities, ties kept at a cut-off, top_k = 1 as
 * argmax, the hash's uniformity and C/GLSL agreement; bad input. */
#include "harness.h"

#include "deltavk_nn.h"
#include "deltavk_nn_reference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F32 DVK_DTYPE_F32
#define F16 DVK_DTYPE_F16
#define BF16 DVK_DTYPE_BF16

static float *random_logits(uint64_t seed, size_t n, float stddev, dvk_dtype dt)
{
    harness_rng rng = harness_rng_make(seed);
    float *v = malloc(n * sizeof *v);
    harness_fill_normal(&rng, v, n, stddev);
    harness_round_to(dt, v, n);
    return v;
}

/* ---- softmax ---------------------------------------------------------------------------- */

typedef struct softmax_case {
    size_t rows, n;
    dvk_dtype x_dt, y_dt;
    float temperature;
    bool log, in_place, neg_inf;
} softmax_case;

static const softmax_case softmax_cases[] = {
    {3, 1, F32, F32, 0.0f, false, false, false},
    {5, 1000, F32, F32, 0.7f, false, false, true},
    {4, 4097, F32, F32, 0.0f, true, false, false},
    {1, 262147, F32, F32, 2.0f, true, true, false},
    {2, 151936, F32, F32, 1.0f, false, true, false},
    {2, 70001, F16, F32, 1.0f, false, false, true},
    {3, 513, BF16, BF16, 1.5f, false, true, false},
    {2, 300, F32, F16, 0.0f, true, false, false},
    {2, 77, F16, F16, 0.0f, false, true, true},
};

static void test_softmax(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < sizeof softmax_cases / sizeof softmax_cases[0]; ++ci) {
        const softmax_case *c = &softmax_cases[ci];
        if (!harness_have_dtype("case", c->x_dt) || !harness_have_dtype("case", c->y_dt))
            continue;
        const size_t n = c->rows * c->n;
        float *x = random_logits(ci, n, 3.0f, c->x_dt);
        if (c->neg_inf) /* masked entries */
            for (size_t i = 1; i < n; i += 7)
                x[i] = -INFINITY;
        double *ref = malloc(n * sizeof *ref);
        dvk_ref_softmax(x, c->rows, c->n, c->temperature, c->log, ref);
        const uint64_t shape[2] = {c->rows, c->n};
        dvk_tensor *tx = harness_tensor(c->x_dt, 2, shape, x);
        dvk_tensor *ty = c->in_place ? tx : harness_tensor_poisoned(c->y_dt, 2, shape);
        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_OK(dvk_softmax(cmd, &(dvk_softmax_desc){.x = tx, .y = ty,
                                                      .temperature = c->temperature,
                                                      .log = c->log}));
        harness_run(cmd);
        float *y = harness_download(ty);
        char name[96];
        snprintf(name, sizeof name, "softmax%s %zux%zu %s->%s T=%g", c->log ? " log" : "",
                 c->rows, c->n, dvk_dtype_name(c->x_dt),
                 dvk_dtype_name(c->in_place ? c->x_dt : c->y_dt), (double)c->temperature);
        harness_check(name, "y", ref, y, n,
                      (c->in_place ? c->x_dt : c->y_dt) == F32 ? 1e-5 : 5e-3);
        dvk_cmd_destroy(cmd);
        if (ty != tx)
            dvk_tensor_destroy(ty);
        dvk_tensor_destroy(tx);
        free(x), free(ref), free(y);
    }
}

/* ---- argmax ----------------------------------------------------------------------------- */

static void test_argmax(void **state)
{
    (void)state;
    const struct {
        size_t rows, n;
        dvk_dtype dt;
    } cases[] = {{4, 1, F32}, {8, 1000, F32}, {2, 262147, F32}, {6, 999, F16}, {6, 4001, BF16}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ++ci) {
        if (!harness_have_dtype("case", cases[ci].dt))
            continue;
        const size_t rows = cases[ci].rows, n = cases[ci].n;
        float *x = random_logits(ci + 50, rows * n, 2.0f, cases[ci].dt);
        for (size_t r = 0; r < rows && n > 10; ++r) {
            float *xr = x + r * n;
            switch (r % 4) {
            case 1: /* a tie: the first index wins */
                xr[n / 3] = 100.0f, xr[n / 5] = 100.0f, xr[n - 1] = 100.0f;
                break;
            case 2: /* NaN above every number: the first NaN */
                xr[n / 2] = NAN, xr[n / 4 + 1] = NAN, xr[n - 2] = 1000.0f;
                break;
            case 3: /* −inf everywhere but one small value near the end */
                for (size_t j = 0; j < n; ++j)
                    xr[j] = -INFINITY;
                xr[n - 3] = -1e30f;
                break;
            default:
                break;
            }
        }
        harness_round_to(cases[ci].dt, x, rows * n);
        int32_t *ref = malloc(rows * sizeof *ref);
        dvk_ref_argmax(x, rows, n, ref);
        const uint64_t shape[2] = {rows, n};
        dvk_tensor *tx = harness_tensor(cases[ci].dt, 2, shape, x);
        dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_I32, 1, shape);
        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_OK(dvk_argmax(cmd, &(dvk_argmax_desc){.x = tx, .y = ty}));
        harness_run(cmd);
        float *y = harness_download(ty);
        for (size_t r = 0; r < rows; ++r)
            if ((int32_t)y[r] != ref[r])
                fail_msg("argmax %zux%zu %s row %zu: %d, expected %d", rows, n,
                         dvk_dtype_name(cases[ci].dt), r, (int)y[r], (int)ref[r]);
        dvk_cmd_destroy(cmd);
        dvk_tensor_destroy(tx), dvk_tensor_destroy(ty);
        free(x), free(ref), free(y);
    }
}

/* ---- sampling against the reference ------------------------------------------------------ */

/* Tokens of dvk_sample for rows × n logits (uploaded as dt). */
static int32_t *device_sample(const float *logits, size_t rows, size_t n, dvk_dtype dt,
                              float temperature, uint32_t top_k, float top_p, uint64_t seed)
{
    const uint64_t shape[2] = {rows, n};
    dvk_tensor *tx = harness_tensor(dt, 2, shape, logits);
    dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_I32, 1, shape);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_sample(cmd, &(dvk_sample_desc){.logits = tx, .y = ty,
                                                 .temperature = temperature, .top_k = top_k,
                                                 .top_p = top_p, .seed = seed}));
    harness_run(cmd);
    float *y = harness_download(ty);
    int32_t *tok = malloc(rows * sizeof *tok);
    for (size_t r = 0; r < rows; ++r)
        tok[r] = (int32_t)y[r];
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tx), dvk_tensor_destroy(ty);
    free(y);
    return tok;
}

typedef struct sample_case {
    size_t rows, n;
    dvk_dtype dt;
    float temperature;
    uint32_t top_k;
    float top_p;
} sample_case;

static const sample_case sample_cases[] = {
    {16, 1000, F32, 0.0f, 0, 0.0f},
    {16, 1000, F32, 1.0f, 50, 0.0f},
    {16, 1000, F32, 1.0f, 0, 0.9f},
    {16, 1000, F32, 0.7f, 40, 0.8f},
    {7, 300, F32, 1.0f, 3, 0.0f},
    {5, 4099, F16, 1.3f, 0, 0.95f},
    {5, 4099, BF16, 0.5f, 100, 0.5f},
    {4, 33, F32, 2.0f, 1000, 1.5f},
    {4, 1, F32, 1.0f, 5, 0.5f},
    {3, 65536, BF16, 1.0f, 0, 0.9f},
    {1, 151936, F32, 1.0f, 0, 0.9f},
    {1, 262147, F32, 1.0f, 64, 0.95f},
};

static void test_sample_matches_reference(void **state)
{
    (void)state;
    size_t exact = 0, near = 0;
    for (size_t ci = 0; ci < sizeof sample_cases / sizeof sample_cases[0]; ++ci) {
        const sample_case *c = &sample_cases[ci];
        if (!harness_have_dtype("case", c->dt))
            continue;
        const uint64_t seed = 0x123456789abcull * (ci + 1);
        float *x = random_logits(ci + 200, c->rows * c->n, 2.5f, c->dt);
        int32_t *tok = device_sample(x, c->rows, c->n, c->dt, c->temperature, c->top_k, c->top_p,
                                     seed);
        double *p = malloc(c->n * sizeof *p);
        for (size_t r = 0; r < c->rows; ++r) {
            const float *xr = x + r * c->n;
            const double u = dvk_sample_uniform(seed, (uint32_t)r);
            assert_true(u == dvk_ref_sample_uniform(seed, (uint32_t)r));
            double cut, cut_lo, cut_hi;
            int32_t want;
            assert_int_equal(dvk_ref_sample_row(xr, c->n, c->temperature, c->top_k, c->top_p, u,
                                                p, &cut, &want),
                             0);
            /* the cut-off with top_p a little lower and higher: fp32 may round either way */
            const float p_lo = c->top_p * (1.0f - 3e-6f), p_hi = c->top_p * (1.0f + 3e-6f);
            dvk_ref_sample_row(xr, c->n, c->temperature, c->top_k, p_lo, u, NULL, &cut_hi, NULL);
            dvk_ref_sample_row(xr, c->n, c->temperature, c->top_k, c->top_p < 1.0f && p_hi >= 1.0f
                                                                          ? c->top_p : p_hi,
                               u, NULL, &cut_lo, NULL);
            const double lowest = fmin(cut, fmin(cut_lo, cut_hi));
            assert_in_range(tok[r], 0, c->n - 1);
            if (!(p[tok[r]] >= lowest * (1.0 - 1e-4)))
                fail_msg("sample case %zu row %zu: token %d (p %.9g) outside the kept set "
                         "(p >= %.9g)",
                         ci, r, (int)tok[r], p[tok[r]], cut);
            /* Near a boundary: a probability within 1e-4 of the cut-off (not tied with it), the
             * cut-off moving with top_p, or the target within 1e-5 of a running sum. */
            bool ambiguous = cut_lo != cut || cut_hi != cut;
            double total = 0.0;
            for (size_t j = 0; j < c->n; ++j) {
                ambiguous |= p[j] != cut && fabs(p[j] - cut) <= 1e-4 * cut;
                if (p[j] >= cut)
                    total += p[j];
            }
            double run = 0.0;
            for (size_t j = 0; j <= (size_t)want; ++j) {
                if (p[j] < cut)
                    continue;
                const double before = run;
                run += p[j];
                if (j == (size_t)want)
                    ambiguous |=
                        u * total - before < 1e-5 * total || run - u * total < 1e-5 * total;
            }
            if (ambiguous) {
                if (getenv("DVK_TEST_VERBOSE"))
                    fprintf(stderr,
                            "  sample case %zu row %zu near a boundary (cut-offs %.9g %.9g "
                            "%.9g)\n",
                            ci, r, cut, cut_lo, cut_hi);
                ++near;
                continue;
            }
            ++exact;
            if (tok[r] != want)
                fail_msg("sample case %zu (%zu x %zu %s T=%g k=%u p=%g) row %zu: token %d, the "
                         "reference draws %d (u %.8f)",
                         ci, c->rows, c->n, dvk_dtype_name(c->dt), (double)c->temperature,
                         c->top_k, (double)c->top_p, r, (int)tok[r], (int)want, u);
        }
        free(x), free(tok), free(p);
    }
    if (getenv("DVK_TEST_VERBOSE"))
        fprintf(stderr, "  sample: %zu rows equal to the reference, %zu near a boundary\n", exact,
                near);
    assert_true(exact >= 4 * near); /* most rows are checked exactly */
}

/* ---- sampling statistics ----------------------------------------------------------------- */

/* R identical rows drawn in one call (each row its own uniform number): token frequencies
 * against the kept, renormalised reference probabilities, by chi-square. Deterministic: fixed
 * logits and seed. */
static void check_frequencies(const float *row, size_t n, float temperature, uint32_t top_k,
                              float top_p, uint64_t seed)
{
    const size_t R = 2048;
    float *x = malloc(R * n * sizeof *x);
    for (size_t r = 0; r < R; ++r)
        memcpy(x + r * n, row, n * sizeof *x);
    int32_t *tok = device_sample(x, R, n, F32, temperature, top_k, top_p, seed);
    double *p = malloc(n * sizeof *p), cut;
    assert_int_equal(dvk_ref_sample_row(row, n, temperature, top_k, top_p, 0.5, p, &cut, NULL), 0);
    double kept = 0.0;
    size_t df = 0;
    for (size_t j = 0; j < n; ++j)
        if (p[j] >= cut)
            kept += p[j], ++df;
    size_t *count = calloc(n, sizeof *count);
    for (size_t r = 0; r < R; ++r)
        ++count[tok[r]];
    double chi2 = 0.0;
    for (size_t j = 0; j < n; ++j) {
        if (p[j] < cut) {
            assert_int_equal(count[j], 0); /* never a token outside the kept set */
            continue;
        }
        const double e = (double)R * p[j] / kept;
        chi2 += ((double)count[j] - e) * ((double)count[j] - e) / e;
    }
    df -= 1;
    /* about the 1e-4 tail of chi-square with df degrees of freedom */
    const double bound = (double)df + 5.0 * sqrt(2.0 * (double)df) + 6.0;
    if (getenv("DVK_TEST_VERBOSE"))
        fprintf(stderr, "  frequencies k=%u p=%g T=%g: chi2 %.2f, df %zu, bound %.1f\n", top_k,
                (double)top_p, (double)temperature, chi2, df, bound);
    if (!(chi2 < bound))
        fail_msg("token frequencies: chi2 %.2f with %zu degrees of freedom", chi2, df);
    free(x), free(tok), free(p), free(count);
}

static void test_sample_frequencies(void **state)
{
    (void)state;
    const float row[12] = {1.0f, 2.5f, 0.3f,  -1.0f, 2.0f, 1.7f,
                           0.0f, 3.0f, -2.0f, 1.2f,  2.2f, 0.8f};
    check_frequencies(row, 12, 1.0f, 8, 0.9f, 42);
    check_frequencies(row, 12, 1.5f, 0, 0.0f, 7);
    check_frequencies(row, 12, 0.8f, 5, 0.0f, 0xfeedface12345678ull);
    check_frequencies(row, 12, 1.0f, 0, 0.75f, 1);
}

/* Tied probabilities at the cut-off are all kept. */
static void test_sample_ties_kept(void **state)
{
    (void)state;
    const size_t R = 1024, n = 10;
    const float row[10] = {1.0f, 5.0f, 0.0f, 5.0f, 5.0f, -1.0f, 2.0f, 5.0f, 0.5f, 1.0f};
    float *x = malloc(R * n * sizeof *x);
    for (size_t r = 0; r < R; ++r)
        memcpy(x + r * n, row, sizeof row);
    /* top_k = 2 cuts inside the four tied 5s; top_p = 0.3 is reached inside them too */
    const struct {
        uint32_t k;
        float p;
    } cuts[2] = {{2, 0.0f}, {0, 0.3f}};
    for (int c = 0; c < 2; ++c) {
        int32_t *tok = device_sample(x, R, n, F32, 1.0f, cuts[c].k, cuts[c].p, 99 + (uint64_t)c);
        size_t count[10] = {0};
        for (size_t r = 0; r < R; ++r)
            ++count[tok[r]];
        for (size_t j = 0; j < n; ++j) {
            if (row[j] == 5.0f)
                assert_in_range(count[j], R / 4 - R / 16, R / 4 + R / 16);
            else
                assert_int_equal(count[j], 0);
        }
        free(tok);
    }
    free(x);
}

static void test_sample_top_k_1_is_argmax(void **state)
{
    (void)state;
    const size_t rows = 16, n = 5001;
    for (int t = 0; t < 2; ++t) {
        const dvk_dtype dt = t ? F16 : F32;
        if (!harness_have_dtype("top_k 1", dt))
            continue;
        float *x = random_logits(300 + (uint64_t)t, rows * n, 3.0f, dt);
        int32_t *tok = device_sample(x, rows, n, dt, 0.9f, 1, 0.5f, 5);
        int32_t *am = malloc(rows * sizeof *am);
        dvk_ref_argmax(x, rows, n, am);
        /* ties would be kept together: check there are none at the maximum */
        for (size_t r = 0; r < rows; ++r) {
            size_t at_max = 0;
            for (size_t j = 0; j < n; ++j)
                at_max += x[r * n + j] == x[r * n + (size_t)am[r]];
            if (at_max == 1)
                assert_int_equal(tok[r], am[r]);
        }
        free(x), free(tok), free(am);
    }
}

/* dvk_sample_uniform: the same as the reference's, in [0, 1), and uniform over seeds and rows. */
static void test_uniform_numbers(void **state)
{
    (void)state;
    const size_t N = 65536, bins = 64;
    for (int over_rows = 0; over_rows < 2; ++over_rows) {
        size_t count[64] = {0};
        double mean = 0.0;
        for (size_t i = 0; i < N; ++i) {
            const uint64_t seed = over_rows ? 12345 : (uint64_t)i * 0x100000001ull;
            const uint32_t row = over_rows ? (uint32_t)i : 3;
            const float u = dvk_sample_uniform(seed, row);
            assert_true(u == dvk_ref_sample_uniform(seed, row));
            assert_true(u >= 0.0f && u < 1.0f);
            ++count[(size_t)(u * (float)bins)];
            mean += u;
        }
        double chi2 = 0.0;
        const double e = (double)N / (double)bins;
        for (size_t b = 0; b < bins; ++b)
            chi2 += ((double)count[b] - e) * ((double)count[b] - e) / e;
        assert_true(chi2 < 63.0 + 5.0 * sqrt(126.0) + 6.0);
        assert_true(fabs(mean / (double)N - 0.5) < 0.01);
    }
    /* the seed's high half matters */
    assert_true(dvk_sample_uniform(1, 0) != dvk_sample_uniform(1 + (1ull << 32), 0));
}

static void test_bad_input(void **state)
{
    (void)state;
    dvk_tensor *x = harness_make(F32, 2, 3, 10, 0, 0);
    dvk_tensor *x_bad = harness_make(F32, 2, 3, 11, 0, 0);
    dvk_tensor *ids = harness_make(DVK_DTYPE_I32, 2, 3, 10, 0, 0);
    dvk_tensor *tok = harness_make(DVK_DTYPE_I32, 1, 3, 0, 0, 0);
    dvk_tensor *tok_bad = harness_make(DVK_DTYPE_I32, 1, 4, 0, 0, 0);
    dvk_tensor *ftok = harness_make(F32, 1, 3, 0, 0, 0);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_STATUS(dvk_softmax(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_softmax(NULL, &(dvk_softmax_desc){.x = x, .y = x}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_softmax(cmd, &(dvk_softmax_desc){.x = x}), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_softmax(cmd, &(dvk_softmax_desc){.x = x, .y = x_bad}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_softmax(cmd, &(dvk_softmax_desc){.x = ids, .y = x}),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_softmax(cmd, &(dvk_softmax_desc){.x = x, .y = x, .temperature = -1.0f}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_softmax(cmd, &(dvk_softmax_desc){.x = x, .y = x, .temperature = NAN}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_softmax(cmd, &(dvk_softmax_desc){.x = x, .y = x, .temperature = INFINITY}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_softmax(cmd, &(dvk_softmax_desc){.x = x, .y = x, .temperature = 1e-40f}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_argmax(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_argmax(cmd, &(dvk_argmax_desc){.x = x, .y = ftok}),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_argmax(cmd, &(dvk_argmax_desc){.x = x, .y = tok_bad}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_argmax(cmd, &(dvk_argmax_desc){.x = ids, .y = tok}),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_sample(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_sample(cmd, &(dvk_sample_desc){.logits = x}), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_sample(cmd, &(dvk_sample_desc){.logits = x, .y = ftok}),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_sample(cmd, &(dvk_sample_desc){.logits = x, .y = tok_bad}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_sample(cmd, &(dvk_sample_desc){.logits = ids, .y = tok}),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_sample(cmd, &(dvk_sample_desc){.logits = x, .y = tok, .temperature = -2.0f}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_sample(cmd, &(dvk_sample_desc){.logits = x, .y = tok, .top_p = -0.5f}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_sample(cmd, &(dvk_sample_desc){.logits = x, .y = tok, .top_p = NAN}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_OK(dvk_sample(cmd, &(dvk_sample_desc){.logits = x, .y = tok, .top_k = 3, .top_p = 0.5f}));
    CHECK_OK(dvk_argmax(cmd, &(dvk_argmax_desc){.x = x, .y = tok}));
    /* y (int32) on x's bytes, through the caller's buffer: refused; softmax in place is fine */
    VkBuffer xb;
    VkDeviceSize xo;
    dvk_tensor_vk_buffer(x, &xb, &xo);
    dvk_tensor *tok_on_x = NULL;
    CHECK_OK(dvk_tensor_create(harness_ctx,
                               &(dvk_tensor_desc){.dtype = DVK_DTYPE_I32, .ndim = 1, .shape = {3},
                                                  .buffer = xb, .offset = xo},
                               &tok_on_x));
    CHECK_STATUS(dvk_argmax(cmd, &(dvk_argmax_desc){.x = x, .y = tok_on_x}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_sample(cmd, &(dvk_sample_desc){.logits = x, .y = tok_on_x}),
                 DVK_ERROR_INVALID_ARGUMENT);
    dvk_tensor *x_part = NULL;
    CHECK_OK(dvk_tensor_view(x, &(dvk_tensor_view_desc){.offset = 4, .ndim = 2, .shape = {2, 10}},
                             &x_part));
    dvk_tensor *x_head = NULL;
    CHECK_OK(dvk_tensor_view(x, &(dvk_tensor_view_desc){.ndim = 2, .shape = {2, 10}}, &x_head));
    CHECK_STATUS(dvk_softmax(cmd, &(dvk_softmax_desc){.x = x_head, .y = x_part}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_OK(dvk_softmax(cmd, &(dvk_softmax_desc){.x = x, .y = x}));
    dvk_tensor_destroy(tok_on_x), dvk_tensor_destroy(x_part), dvk_tensor_destroy(x_head);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(x), dvk_tensor_destroy(x_bad), dvk_tensor_destroy(ids);
    dvk_tensor_destroy(tok), dvk_tensor_destroy(tok_bad), dvk_tensor_destroy(ftok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_softmax, harness_test_teardown),
        cmocka_unit_test_teardown(test_argmax, harness_test_teardown),
        cmocka_unit_test_teardown(test_sample_matches_reference, harness_test_teardown),
        cmocka_unit_test_teardown(test_sample_frequencies, harness_test_teardown),
        cmocka_unit_test_teardown(test_sample_ties_kept, harness_test_teardown),
        cmocka_unit_test_teardown(test_sample_top_k_1_is_argmax, harness_test_teardown),
        cmocka_unit_test_teardown(test_uniform_numbers, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_input, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
