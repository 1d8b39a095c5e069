/* RWKV-7's two kernels of the models level (src/models/rwkv7/kernels.c, private to
 * deltavk_models) against the C reference below, in double: odd head counts and sizes (N from 1
 * to 256, one channel or several per invocation), with and without the value residual, more
 * rows than one dispatch row of workgroups would need on the small profile. */
#include "harness.h"

#include "models/rwkv7/rwkv7.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* The reference of dvk__rwkv7_prepare: rows of N channels, head = row % H. */
static void ref_prepare(size_t rows, size_t H, size_t N, const float *k, const float *w,
                        const float *a, const float *v, const float *v_first, const float *vg,
                        const float *k_k, const float *k_a, double *k_out, double *w_out,
                        double *a_out, double *kappa, double *v_out)
{
    for (size_t r = 0; r < rows; ++r) {
        const size_t h = r % H;
        double ss = 0;
        for (size_t i = 0; i < N; ++i) {
            const size_t at = r * N + i, p = h * N + i;
            const double kk = (double)k[at] * k_k[p];
            ss += kk * kk;
            kappa[at] = kk;
            a_out[at] = sigmoid(a[at]);
            w_out[at] = -exp(-0.5) * sigmoid(w[at]);
            k_out[at] = k[at] * (1.0 + (a_out[at] - 1.0) * k_a[p]);
            if (v)
                v_out[at] = v[at] + ((double)v_first[at] - v[at]) * sigmoid(vg[at]);
        }
        const double norm = fmax(sqrt(ss), 1e-12);
        for (size_t i = 0; i < N; ++i)
            kappa[r * N + i] /= norm;
    }
}

/* The reference of dvk__rwkv7_output. */
static void ref_output(size_t rows, size_t H, size_t N, const float *o, const float *r,
                       const float *k, const float *v, const float *g, const float *r_k,
                       const float *ln_w, const float *ln_b, double eps, double *out)
{
    for (size_t row = 0; row < rows; ++row) {
        const size_t h = row % H;
        double mean = 0, var = 0, s = 0;
        for (size_t i = 0; i < N; ++i) {
            mean += o[row * N + i];
            s += (double)r[row * N + i] * k[row * N + i] * r_k[h * N + i];
        }
        mean /= (double)N;
        for (size_t i = 0; i < N; ++i)
            var += (o[row * N + i] - mean) * (o[row * N + i] - mean);
        var /= (double)N;
        for (size_t i = 0; i < N; ++i) {
            const size_t at = row * N + i, p = h * N + i;
            out[at] = ((o[at] - mean) / sqrt(var + eps) * ln_w[p] + ln_b[p] + s * v[at]) * g[at];
        }
    }
}

static float *rnd(harness_rng *rng, size_t n, float stddev)
{
    float *x = malloc(n * sizeof *x);
    harness_fill_normal(rng, x, n, stddev);
    return x;
}

static dvk_tensor *tensor_of(size_t n, const float *x)
{
    const uint64_t shape[1] = {n};
    return harness_tensor(DVK_DTYPE_F32, 1, shape, x);
}

static void check(const char *name, const char *what, const double *ref, dvk_tensor *t,
                  size_t n)
{
    float *got = harness_download(t);
    harness_check(name, what, ref, got, n, 1e-5);
    free(got);
}

typedef struct kcase {
    size_t T, H, N;
} kcase;

static const kcase cases[] = {{5, 3, 37}, {3, 2, 64}, {2, 1, 256}, {4, 5, 1}, {7, 2, 65},
                              {300, 1, 64}, {1, 4, 130}};

static void test_prepare(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ++ci) {
        for (int vres = 0; vres < 2; ++vres) {
            const kcase *c = &cases[ci];
            const size_t rows = c->T * c->H, n = rows * c->N, C = c->H * c->N;
            char name[96];
            snprintf(name, sizeof name, "prepare T=%zu H=%zu N=%zu vres=%d", c->T, c->H, c->N,
                     vres);
            harness_rng rng = harness_rng_make(ci * 2 + (size_t)vres + 1);
            float *k = rnd(&rng, n, 1), *w = rnd(&rng, n, 2), *a = rnd(&rng, n, 2),
                  *v = rnd(&rng, n, 1), *vf = rnd(&rng, n, 1), *vg = rnd(&rng, n, 2),
                  *kk = rnd(&rng, C, 1), *ka = rnd(&rng, C, 1);
            double *rk = malloc(n * sizeof *rk), *rw = malloc(n * sizeof *rw),
                   *ra = malloc(n * sizeof *ra), *rkap = malloc(n * sizeof *rkap),
                   *rv = malloc(n * sizeof *rv);
            ref_prepare(rows, c->H, c->N, k, w, a, vres ? v : NULL, vf, vg, kk, ka, rk, rw, ra,
                        rkap, rv);
            dvk_tensor *tk = tensor_of(n, k), *tw = tensor_of(n, w), *ta = tensor_of(n, a),
                       *tv = tensor_of(n, v), *tvf = tensor_of(n, vf), *tvg = tensor_of(n, vg),
                       *tkk = tensor_of(C, kk), *tka = tensor_of(C, ka);
            const uint64_t shape[1] = {n};
            dvk_tensor *tkap = harness_tensor_poisoned(DVK_DTYPE_F32, 1, shape);
            dvk_cmd *cmd;
            CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
            CHECK_OK(dvk__rwkv7_prepare(cmd, &(rwkv7_prepare_args){
                                            .k = tk, .w = tw, .alpha = ta, .kappa = tkap,
                                            .v = vres ? tv : NULL, .v_first = vres ? tvf : NULL,
                                            .v_gate = vres ? tvg : NULL, .k_k = tkk,
                                            .k_a = tka, .heads = (uint32_t)c->H,
                                            .head_size = (uint32_t)c->N}));
            harness_run(cmd);
            check(name, "k", rk, tk, n);
            check(name, "w", rw, tw, n);
            check(name, "alpha", ra, ta, n);
            check(name, "kappa", rkap, tkap, n);
            if (vres) {
                check(name, "v", rv, tv, n);
            } else { /* untouched */
                float *got = harness_download(tv);
                assert_memory_equal(got, v, n * sizeof *v);
                free(got);
            }
            dvk_cmd_destroy(cmd);
            dvk_tensor *ts[] = {tk, tw, ta, tv, tvf, tvg, tkk, tka, tkap};
            for (size_t i = 0; i < sizeof ts / sizeof ts[0]; ++i)
                dvk_tensor_destroy(ts[i]);
            float *fs[] = {k, w, a, v, vf, vg, kk, ka};
            for (size_t i = 0; i < sizeof fs / sizeof fs[0]; ++i)
                free(fs[i]);
            free(rk), free(rw), free(ra), free(rkap), free(rv);
        }
    }
}

static void test_output(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ++ci) {
        const kcase *c = &cases[ci];
        const size_t rows = c->T * c->H, n = rows * c->N, C = c->H * c->N;
        char name[96];
        snprintf(name, sizeof name, "output T=%zu H=%zu N=%zu", c->T, c->H, c->N);
        harness_rng rng = harness_rng_make(100 + ci);
        float *o = rnd(&rng, n, 1), *r = rnd(&rng, n, 1), *k = rnd(&rng, n, 1),
              *v = rnd(&rng, n, 1), *g = rnd(&rng, n, 1), *r_k = rnd(&rng, C, 1),
              *lw = rnd(&rng, C, 1), *lb = rnd(&rng, C, 1);
        for (size_t i = 0; i < n; ++i) /* rows far from zero: the variance's two passes */
            o[i] = 100.0f + o[i];
        double *ref = malloc(n * sizeof *ref);
        ref_output(rows, c->H, c->N, o, r, k, v, g, r_k, lw, lb, 64e-5, ref);
        dvk_tensor *to = tensor_of(n, o), *tr = tensor_of(n, r), *tk = tensor_of(n, k),
                   *tv = tensor_of(n, v), *tg = tensor_of(n, g), *trk = tensor_of(C, r_k),
                   *tlw = tensor_of(C, lw), *tlb = tensor_of(C, lb);
        dvk_cmd *cmd;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_OK(dvk__rwkv7_output(cmd, &(rwkv7_output_args){
                                       .o = to, .r = tr, .k = tk, .v = tv, .g = tg, .r_k = trk,
                                       .ln_w = tlw, .ln_b = tlb, .heads = (uint32_t)c->H,
                                       .head_size = (uint32_t)c->N, .eps = 64e-5f}));
        harness_run(cmd);
        check(name, "o", ref, to, n);
        dvk_cmd_destroy(cmd);
        dvk_tensor *ts[] = {to, tr, tk, tv, tg, trk, tlw, tlb};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; ++i)
            dvk_tensor_destroy(ts[i]);
        float *fs[] = {o, r, k, v, g, r_k, lw, lb};
        for (size_t i = 0; i < sizeof fs / sizeof fs[0]; ++i)
            free(fs[i]);
        free(ref);
    }
}

static void test_limits(void **state)
{
    (void)state;
    dvk_tensor *t = harness_make(DVK_DTYPE_F32, 1, 257 * 2, 0, 0, 0);
    dvk_cmd *cmd;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_STATUS(dvk__rwkv7_output(cmd, &(rwkv7_output_args){.o = t, .r = t, .k = t, .v = t, .g = t,
                                                         .r_k = t, .ln_w = t, .ln_b = t,
                                                         .heads = 1, .head_size = 257}),
                 DVK_ERROR_LIMIT_EXCEEDED);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_prepare, harness_test_teardown),
        cmocka_unit_test_teardown(test_output, harness_test_teardown),
        cmocka_unit_test_teardown(test_limits, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
