/* deltavk against fixtures computed by the original package, flash-linear-attention (fla 0.5.2,
 * on an H100; scripts/gen_fla_fixtures.py made them and records versions and seeds in each file).
 *
 * Each fixture is run through the library in every mode, and through the C reference; both must
 * agree with fla's o and ht within the fixture's tolerance. The tolerance follows fla's own
 * accuracy, measured against a float64 recurrence when the fixture was made: fla's recurrent
 * kernels and its fp32 chunk kernels with IEEE dots are ~1e-7 accurate; its default fp32 chunk
 * kernels use TF32 dots (~1e-3); its gated chunk kernel keeps a TF32 triangular solve (~5e-5);
 * bf16 inputs give ~3e-3. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    const char *file;
    bool gated;
    double tol; /* on o and ht, relative RMS against fla */
} fixture;

static const fixture fixtures[] = {
    {"delta_rule_recurrent_fla", false, 1e-5},
    {"delta_rule_recurrent_noh0_fla", false, 1e-5},
    {"delta_rule_chunk_ieee_fla", false, 1e-5},
    {"delta_rule_chunk_fla", false, 5e-3},      /* fla: 1.0e-3 vs float64 (TF32) */
    {"delta_rule_chunk_bf16_fla", false, 1e-2}, /* fla: 3.2e-3 vs float64 (bf16) */
    {"gated_delta_rule_recurrent_varlen_fla", true, 1e-5},
    {"gated_delta_rule_chunk_ieee_fla", true, 3e-4}, /* fla: 3.0e-5 / 7.4e-5 vs float64 */
    {"gated_delta_rule_chunk_fla", true, 5e-3},      /* fla: 1.2e-3 vs float64 (TF32) */
};

typedef struct loaded {
    dvk_weights *file; /* host only: the test makes its own tensors from the values */
    float *x[6];       /* q, k, v, beta, g, h0 */
    uint64_t shape[6][4];
    uint32_t ndim[6];
    int *cu;
    int num_seqs;
    float scale;
} loaded;

static const char *const names[6] = {"q", "k", "v", "beta", "g", "h0"};

/* Entry `name` as floats (malloc'd), its shape into e. */
static float *read_f32(dvk_weights *file, const char *name, dvk_weights_entry *e)
{
    CHECK_OK(dvk_weights_find(file, name, e));
    float *x = malloc((size_t)(e->numel ? e->numel : 1) * sizeof *x);
    assert_non_null(x);
    CHECK_OK(dvk_weights_read(file, name, DVK_DTYPE_F32, x, (size_t)e->numel * sizeof *x));
    return x;
}

static void load(const fixture *f, loaded *l)
{
    memset(l, 0, sizeof *l);
    char path[1024];
    /* DVK_FIXTURE_DIR in the environment overrides the build's path (tests run elsewhere). */
    const char *dir = getenv("DVK_FIXTURE_DIR") ? getenv("DVK_FIXTURE_DIR") : DVK_FIXTURE_DIR;
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, f->file);
    CHECK_OK(dvk_weights_load(NULL, path, NULL, &l->file));
    dvk_weights_entry e;
    for (int i = 0; i < 6; ++i) {
        if (dvk_weights_find(l->file, names[i], &e) != DVK_SUCCESS)
            continue;
        assert_true(e.ndim <= 4);
        l->x[i] = read_f32(l->file, names[i], &e);
        l->ndim[i] = e.ndim;
        for (uint32_t d = 0; d < e.ndim; ++d)
            l->shape[i][d] = e.shape[d];
    }
    if (dvk_weights_find(l->file, "cu_seqlens", &e) == DVK_SUCCESS) {
        l->cu = malloc((size_t)e.numel * sizeof *l->cu);
        CHECK_OK(dvk_weights_read(l->file, "cu_seqlens", DVK_DTYPE_I32, l->cu,
                                  (size_t)e.numel * sizeof *l->cu));
        l->num_seqs = (int)e.numel - 1;
    }
    CHECK_OK(dvk_weights_read(l->file, "scale", DVK_DTYPE_F32, &l->scale, sizeof l->scale));
}

static void unload(loaded *l)
{
    for (int i = 0; i < 6; ++i)
        free(l->x[i]);
    free(l->cu);
    dvk_weights_destroy(l->file);
}

static float *expected(const loaded *l, const char *name, size_t *n)
{
    dvk_weights_entry e;
    float *x = read_f32(l->file, name, &e);
    *n = (size_t)e.numel;
    return x;
}

static double rel_err_f(const float *got, const float *ref, size_t n)
{
    double *r = malloc(n * sizeof *r);
    for (size_t i = 0; i < n; ++i)
        r[i] = ref[i];
    const double e = dvk_ref_rel_rms_error(r, got, n);
    free(r);
    return e;
}

static void check(const char *what, const fixture *f, const char *tensor, const float *got,
                  const float *ref, size_t n)
{
    char label[160];
    snprintf(label, sizeof label, "%s %s: %s", f->file, what, tensor);
    double *r = malloc(n * sizeof *r);
    for (size_t i = 0; i < n; ++i)
        r[i] = ref[i];
    const double e = harness_rel_err(label, r, got, n);
    free(r);
    if (!(e <= f->tol))
        fail_msg("%s: rel rms %.3e > %.1e", label, e, f->tol);
}

static void run_fixture(const fixture *f, dvk_mode mode)
{
    loaded l;
    load(f, &l);
    size_t no = 0, nh = 0;
    float *o_fla = expected(&l, "o", &no), *ht_fla = expected(&l, "ht", &nh);

    dvk_tensor *t[6] = {0};
    for (int i = 0; i < 6; ++i)
        if (l.x[i] && (i != 4 || f->gated))
            t[i] = harness_tensor(DVK_DTYPE_F32, l.ndim[i], l.shape[i], l.x[i]);
    dvk_tensor *to = harness_tensor_poisoned(DVK_DTYPE_F32, 4, l.shape[2]);
    const uint64_t hs[4] = {l.num_seqs ? (uint64_t)l.num_seqs : l.shape[0][0], l.shape[2][2],
                            l.shape[0][3], l.shape[2][3]};
    dvk_tensor *tht = harness_tensor_poisoned(DVK_DTYPE_F32, 4, hs);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    const dvk_delta_rule_desc d = {
        .q = t[0], .k = t[1], .v = t[2], .beta = t[3], .g = t[4], .o = to,
        .initial_state = t[5], .final_state = tht, .scale = l.scale, .mode = mode,
        .cu_seqlens = l.cu, .num_seqs = (uint32_t)l.num_seqs,
    };
    CHECK_OK(f->gated ? dvk_gated_delta_rule(cmd, &d) : dvk_delta_rule(cmd, &d));
    harness_run(cmd);
    dvk_cmd_destroy(cmd);
    float *o = harness_download(to), *ht = harness_download(tht);
    const char *what = mode == DVK_MODE_CHUNK ? "chunk" : "recurrent";
    check(what, f, "o", o, o_fla, no);
    check(what, f, "ht", ht, ht_fla, nh);
    free(o), free(ht);
    for (int i = 0; i < 6; ++i)
        dvk_tensor_destroy(t[i]);
    dvk_tensor_destroy(to), dvk_tensor_destroy(tht);
    free(o_fla), free(ht_fla);
    unload(&l);
}

static void test_library_matches_fla(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; ++i) {
        run_fixture(&fixtures[i], DVK_MODE_RECURRENT);
        run_fixture(&fixtures[i], DVK_MODE_CHUNK);
    }
}

/* The C reference, too, reproduces fla: the two are independent statements of the same math. */
static void test_reference_matches_fla(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; ++i) {
        const fixture *f = &fixtures[i];
        loaded l;
        load(f, &l);
        size_t no = 0, nh = 0;
        float *o_fla = expected(&l, "o", &no), *ht_fla = expected(&l, "ht", &nh);
        double *o = malloc(no * sizeof *o), *ht = malloc(nh * sizeof *ht);
        const dvk_ref_delta_rule_args a = {
            .B = (int)l.shape[0][0], .T = (int)l.shape[0][1], .H = (int)l.shape[0][2],
            .HV = (int)l.shape[2][2], .K = (int)l.shape[0][3], .V = (int)l.shape[2][3],
            .q = l.x[0], .k = l.x[1], .v = l.x[2], .beta = l.x[3], .g = f->gated ? l.x[4] : NULL,
            .h0 = l.x[5], .cu_seqlens = l.cu, .num_seqs = l.num_seqs, .scale = l.scale,
            .o = o, .ht = ht,
        };
        assert_int_equal(dvk_ref_delta_rule(&a), 0);
        float *of = malloc(no * sizeof *of), *hf = malloc(nh * sizeof *hf);
        for (size_t e = 0; e < no; ++e)
            of[e] = (float)o[e];
        for (size_t e = 0; e < nh; ++e)
            hf[e] = (float)ht[e];
        const double eo = rel_err_f(of, o_fla, no), eh = rel_err_f(hf, ht_fla, nh);
        if (!(eo <= f->tol && eh <= f->tol))
            fail_msg("%s: C reference vs fla: o %.3e, ht %.3e (tol %.1e)", f->file, eo, eh, f->tol);
        free(o), free(ht), free(of), free(hf), free(o_fla), free(ht_fla);
        unload(&l);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_library_matches_fla, harness_test_teardown),
        cmocka_unit_test_teardown(test_reference_matches_fla, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
