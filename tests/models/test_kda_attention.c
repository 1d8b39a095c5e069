/* The KDA seed's layer (dvk_kda_attention_*) against mohsinm-dev/kda-attention's KDAAttention,
 * run by scripts/gen_kda_attention_fixtures.py on two tiny random configurations
 * (tests/fixtures/kda_attention_tiny: D = 32, 4 heads of 8; kda_attention_odd: D = 20, 3 heads
 * of 6; B = 2, T = 19): the package's scan (both rule modes, with and without a state), its
 * step token by token, two segments, a scan continuing from a non-zero S, 16-bit matrices, a
 * state saved mid-sequence and restored, out_proj=False, a dry run, and the errors of missing,
 * extra and wrongly shaped tensors and of bad calls. */
#include "harness.h"

#include "deltavk_models.h"
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Relative RMS errors allowed: fp32 (the package's float32 against ours: ~5e-7 measured),
 * 16-bit matrices (their rounding through six products and the recurrence). */
#define TOL_F32 1e-5
#define TOL_F16 5e-3
#define TOL_BF16 3e-2

enum { B = 2, T = 19, SPLIT = 7 };

typedef struct fixture {
    const char *name;
    uint32_t D, H, DH;
    char path[512], io_path[512];
    float *x, *y, *S, *y_step, *S0, *y_s0, *S_s0;
    dvk_kda_attention *layer;
} fixture;

static fixture fixtures[2] = {
    {.name = "tiny", .D = 32, .H = 4, .DH = 8},
    {.name = "odd", .D = 20, .H = 3, .DH = 6},
};
enum { N_FIXTURES = 2 };
#define TINY (&fixtures[0])

static const char *tmpdir(void)
{
    const char *d = getenv("DVK_TEST_TMPDIR");
    return d ? d : "/tmp";
}

static void tmp_path(char *buf, size_t len, const char *what)
{
    snprintf(buf, len, "%s/test_kda_attention_%ld_%s", tmpdir(), (long)getpid(), what);
}

static size_t y_numel(const fixture *f) { return (size_t)B * T * f->D; }
static size_t s_numel(const fixture *f) { return (size_t)B * f->H * f->DH * f->DH; }

static float *read_all(dvk_weights *w, const char *name, uint64_t numel)
{
    dvk_weights_entry e;
    if (dvk_weights_find(w, name, &e) != DVK_SUCCESS || e.numel != numel)
        return NULL;
    float *data = malloc((size_t)numel * sizeof *data);
    if (dvk_weights_read(w, name, DVK_DTYPE_F32, data, (size_t)numel * sizeof *data) !=
        DVK_SUCCESS) {
        free(data);
        return NULL;
    }
    return data;
}

static int load_fixture(fixture *f)
{
    snprintf(f->path, sizeof f->path, "%s/kda_attention_%s.safetensors", DVK_FIXTURE_DIR,
             f->name);
    snprintf(f->io_path, sizeof f->io_path, "%s/kda_attention_%s_io.safetensors",
             DVK_FIXTURE_DIR, f->name);
    dvk_weights *w = NULL;
    if (dvk_weights_load(NULL, f->io_path, NULL, &w) != DVK_SUCCESS) {
        fprintf(stderr, "%s\n", dvk_last_error());
        return -1;
    }
    f->x = read_all(w, "x", y_numel(f));
    f->y = read_all(w, "y", y_numel(f));
    f->y_step = read_all(w, "y_step", y_numel(f));
    f->y_s0 = read_all(w, "y_s0", y_numel(f));
    f->S = read_all(w, "S", s_numel(f));
    f->S0 = read_all(w, "S0", s_numel(f));
    f->S_s0 = read_all(w, "S_s0", s_numel(f));
    dvk_weights_destroy(w);
    if (!f->x || !f->y || !f->y_step || !f->y_s0 || !f->S || !f->S0 || !f->S_s0) {
        fprintf(stderr, "%s: not the tensors this test expects\n", f->io_path);
        return -1;
    }
    if (dvk_kda_attention_load(harness_ctx, f->path, NULL, &f->layer) != DVK_SUCCESS) {
        fprintf(stderr, "%s\n", dvk_last_error());
        return -1;
    }
    return 0;
}

static int group_setup(void **state)
{
    if (harness_group_setup(state) != 0)
        return -1;
    for (uint32_t i = 0; i < N_FIXTURES; ++i)
        if (load_fixture(&fixtures[i]) != 0)
            return -1;
    return 0;
}

static int group_teardown(void **state)
{
    for (uint32_t i = 0; i < N_FIXTURES; ++i) {
        fixture *f = &fixtures[i];
        dvk_kda_attention_destroy(f->layer);
        float *p[] = {f->x, f->y, f->S, f->y_step, f->S0, f->y_s0, f->S_s0};
        for (size_t j = 0; j < sizeof p / sizeof p[0]; ++j)
            free(p[j]);
    }
    return harness_group_teardown(state);
}

static void check_close(const fixture *f, const char *what, const float *ref, const float *got,
                        size_t n, double tol)
{
    char label[224];
    snprintf(label, sizeof label, "%s: %s", f->name, what);
    double *r = malloc(n * sizeof *r);
    for (size_t i = 0; i < n; ++i)
        r[i] = ref[i];
    harness_check("kda_attention", label, r, got, n, tol);
    free(r);
}

static void check_S(const fixture *f, const char *what, const float *ref,
                    const dvk_kda_attention_state *st, double tol)
{
    char label[160];
    snprintf(label, sizeof label, "%s: final S", what);
    float *S = harness_download(dvk_kda_attention_state_tensor(st));
    check_close(f, label, ref, S, s_numel(f), tol);
    free(S);
}

/* Tokens [t0, t0 + n) of x, as [B, n, D]. */
static float *x_slice(const fixture *f, uint32_t t0, uint32_t n)
{
    float *s = malloc((size_t)B * n * f->D * sizeof *s);
    for (uint32_t b = 0; b < B; ++b)
        memcpy(s + (size_t)b * n * f->D, f->x + ((size_t)b * T + t0) * f->D,
               (size_t)n * f->D * sizeof *s);
    return s;
}

/* The layer over tokens [t0, t0 + n) (as [B, n, D], or [B, D] with two_d), continuing st (may
 * be NULL); the output put into y_all [B, T, Dy] at t0. */
static void run(const fixture *f, const dvk_kda_attention *l, dvk_kda_attention_state *st,
                uint32_t t0, uint32_t n, bool two_d, dvk_mode mode, float *y_all)
{
    const uint32_t Dy = dvk_kda_attention_layer_info(l)->out_proj ? f->D : f->H * f->DH;
    const uint64_t sx3[3] = {B, n, f->D}, sy3[3] = {B, n, Dy}, sx2[2] = {B, f->D},
                   sy2[2] = {B, Dy};
    float *xs = x_slice(f, t0, n);
    dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, two_d ? 2 : 3, two_d ? sx2 : sx3, xs);
    dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, two_d ? 2 : 3, two_d ? sy2 : sy3);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_kda_attention_forward(cmd, l,
                                       &(dvk_kda_attention_forward_desc){
                                           .x = tx, .y = ty, .state = st, .mode = mode}));
    harness_run(cmd);
    float *ys = harness_download(ty);
    for (uint32_t b = 0; b < B; ++b)
        memcpy(y_all + ((size_t)b * T + t0) * Dy, ys + (size_t)b * n * Dy,
               (size_t)n * Dy * sizeof *y_all);
    free(ys);
    free(xs);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tx);
    dvk_tensor_destroy(ty);
}

static void test_info(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < N_FIXTURES; ++i) {
        const fixture *f = &fixtures[i];
        const dvk_kda_attention_info *in = dvk_kda_attention_layer_info(f->layer);
        assert_int_equal(in->d_model, f->D);
        assert_int_equal(in->n_heads, f->H);
        assert_int_equal(in->d_head, f->DH);
        assert_true(in->out_proj);
        assert_int_equal(in->dtype, DVK_DTYPE_F32);
        dvk_kda_attention_state *st = NULL;
        CHECK_OK(dvk_kda_attention_state_create(f->layer, B, &st));
        const dvk_tensor *S = dvk_kda_attention_state_tensor(st);
        assert_int_equal(dvk_tensor_ndim(S), 4);
        assert_int_equal(dvk_tensor_dim(S, 0), B);
        assert_int_equal(dvk_tensor_dim(S, 1), f->H);
        assert_int_equal(dvk_tensor_dim(S, 2), f->DH);
        assert_int_equal(dvk_tensor_dim(S, 3), f->DH);
        dvk_kda_attention_state_destroy(st);
    }
    dvk_kda_attention_state_destroy(NULL);
    dvk_kda_attention_destroy(NULL);
    assert_null(dvk_kda_attention_state_tensor(NULL));
}

/* The package's scan: one call, both rule modes; without a state; and from a non-zero S. */
static void test_scan(void **state)
{
    (void)state;
    const dvk_mode modes[2] = {DVK_MODE_RECURRENT, DVK_MODE_CHUNK};
    const char *names[2] = {"scan, recurrent", "scan, chunked"};
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        float *y = malloc(y_numel(f) * sizeof *y);
        dvk_kda_attention_state *st = NULL;
        CHECK_OK(dvk_kda_attention_state_create(f->layer, B, &st));
        for (int i = 0; i < 2; ++i) {
            CHECK_OK(dvk_kda_attention_state_reset(st));
            run(f, f->layer, st, 0, T, false, modes[i], y);
            check_close(f, names[i], f->y, y, y_numel(f), TOL_F32);
            check_S(f, names[i], f->S, st, TOL_F32);
        }
        run(f, f->layer, NULL, 0, T, false, DVK_MODE_DEFAULT, y);
        check_close(f, "scan, no state", f->y, y, y_numel(f), TOL_F32);
        for (int i = 0; i < 2; ++i) {
            CHECK_OK(dvk_tensor_upload(dvk_kda_attention_state_tensor(st), f->S0,
                                       s_numel(f) * sizeof *f->S0));
            run(f, f->layer, st, 0, T, false, modes[i], y);
            check_close(f, "scan from S0", f->y_s0, y, y_numel(f), TOL_F32);
            check_S(f, "scan from S0", f->S_s0, st, TOL_F32);
        }
        dvk_kda_attention_state_destroy(st);
        free(y);
    }
}

/* The package's step, token by token ([B, D] in and out), and two segments. */
static void test_streamed(void **state)
{
    (void)state;
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        float *y = malloc(y_numel(f) * sizeof *y);
        dvk_kda_attention_state *st = NULL;
        CHECK_OK(dvk_kda_attention_state_create(f->layer, B, &st));
        for (uint32_t t = 0; t < T; ++t)
            run(f, f->layer, st, t, 1, true, DVK_MODE_DEFAULT, y);
        check_close(f, "step by step vs the package's step", f->y_step, y, y_numel(f),
                    TOL_F32);
        check_S(f, "step by step", f->S, st, TOL_F32);
        CHECK_OK(dvk_kda_attention_state_reset(st));
        run(f, f->layer, st, 0, SPLIT, false, DVK_MODE_CHUNK, y);
        run(f, f->layer, st, SPLIT, T - SPLIT, false, DVK_MODE_DEFAULT, y);
        check_close(f, "two segments vs the package's scan", f->y, y, y_numel(f), TOL_F32);
        check_S(f, "two segments", f->S, st, TOL_F32);
        dvk_kda_attention_state_destroy(st);
        free(y);
    }
}

/* S after SPLIT tokens saved and restored into a new state object: the continuation is the
 * uninterrupted scan. Bad files leave the state as it was. */
static void test_save_restore(void **state)
{
    (void)state;
    const fixture *f = TINY;
    char path[512], bad[512];
    tmp_path(path, sizeof path, "state.safetensors");
    float *y = malloc(y_numel(f) * sizeof *y);
    dvk_kda_attention_state *a = NULL, *b = NULL, *other = NULL;
    CHECK_OK(dvk_kda_attention_state_create(f->layer, B, &a));
    run(f, f->layer, a, 0, SPLIT, false, DVK_MODE_DEFAULT, y);
    CHECK_OK(dvk_kda_attention_state_save(a, path));
    dvk_kda_attention_state_destroy(a);
    CHECK_OK(dvk_kda_attention_state_create(f->layer, B, &b));
    CHECK_OK(dvk_kda_attention_state_restore(b, path));
    run(f, f->layer, b, SPLIT, T - SPLIT, false, DVK_MODE_DEFAULT, y);
    check_close(f, "restored continuation", f->y, y, y_numel(f), TOL_F32);
    check_S(f, "restored continuation", f->S, b, TOL_F32);
    CHECK_OK(dvk_kda_attention_state_create(f->layer, 1, &other));
    CHECK_STATUS(dvk_kda_attention_state_restore(other, path), DVK_ERROR_SHAPE_MISMATCH);
    dvk_kda_attention_state_destroy(other);
    CHECK_OK(dvk_kda_attention_state_create(fixtures[1].layer, B, &other));
    CHECK_STATUS(dvk_kda_attention_state_restore(other, path), DVK_ERROR_SHAPE_MISMATCH);
    dvk_kda_attention_state_destroy(other);
    CHECK_STATUS(dvk_kda_attention_state_restore(b, f->path), DVK_ERROR_FORMAT);
    tmp_path(bad, sizeof bad, "nofile.safetensors");
    CHECK_STATUS(dvk_kda_attention_state_restore(b, bad), DVK_ERROR_IO);
    check_S(f, "after failed restores", f->S, b, TOL_F32);
    remove(path);
    dvk_kda_attention_state_destroy(b);
    free(y);
}

static void test_16bit(void **state)
{
    (void)state;
    const dvk_dtype dtypes[2] = {DVK_DTYPE_F16, DVK_DTYPE_BF16};
    const char *names[2] = {"fp16 matrices", "bf16 matrices"};
    const double tols[2] = {TOL_F16, TOL_BF16};
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        float *y = malloc(y_numel(f) * sizeof *y);
        for (int i = 0; i < 2; ++i) {
            if (!harness_have_dtype(names[i], dtypes[i]))
                continue;
            dvk_kda_attention *l = NULL;
            CHECK_OK(dvk_kda_attention_load(
                harness_ctx, f->path, &(dvk_kda_attention_load_desc){.dtype = dtypes[i]}, &l));
            assert_int_equal(dvk_kda_attention_layer_info(l)->dtype, dtypes[i]);
            dvk_kda_attention_state *st = NULL;
            CHECK_OK(dvk_kda_attention_state_create(l, B, &st));
            run(f, l, st, 0, T, false, DVK_MODE_DEFAULT, y);
            check_close(f, names[i], f->y, y, y_numel(f), tols[i]);
            check_S(f, names[i], f->S, st, tols[i]);
            dvk_kda_attention_state_destroy(st);
            dvk_kda_attention_destroy(l);
        }
        free(y);
    }
}

/* A weights file: a fixture's parameters under `prefix`, `skip` and `skip2` left out, `bad`
 * given shape bad_shape (zeros), `extra` added. */
typedef struct file_edit {
    const char *prefix, *skip, *skip2, *bad, *extra;
    uint32_t bad_ndim;
    uint64_t bad_shape[4];
} file_edit;

static bool is(const char *a, const char *b) { return a && strcmp(a, b) == 0; }

static void write_weights(const char *src, const char *path, const file_edit *ed)
{
    dvk_weights *w = NULL;
    CHECK_OK(dvk_weights_load(NULL, src, NULL, &w));
    dvk_st_writer *wr = NULL;
    CHECK_OK(dvk_st_writer_create(&wr));
    char name[256];
    for (uint32_t i = 0; i < dvk_weights_count(w); ++i) {
        const char *n = dvk_weights_name(w, i);
        if (is(ed->skip, n) || is(ed->skip2, n))
            continue;
        snprintf(name, sizeof name, "%s%s", ed->prefix ? ed->prefix : "", n);
        dvk_weights_entry e;
        CHECK_OK(dvk_weights_find(w, n, &e));
        uint32_t nd = e.ndim;
        uint64_t shape[DVK_WEIGHTS_MAX_DIMS], numel = e.numel;
        memcpy(shape, e.shape, sizeof shape);
        if (is(ed->bad, n)) {
            nd = ed->bad_ndim;
            numel = 1;
            for (uint32_t d = 0; d < nd; ++d)
                numel *= shape[d] = ed->bad_shape[d];
        }
        float *data = calloc((size_t)numel, sizeof *data);
        if (!is(ed->bad, n))
            CHECK_OK(dvk_weights_read(w, n, DVK_DTYPE_F32, data, (size_t)numel * sizeof *data));
        CHECK_OK(dvk_st_writer_add(wr, name, DVK_ST_F32, nd, shape, data));
        free(data);
    }
    if (ed->extra) {
        const uint64_t shape[1] = {3};
        const float vals[3] = {1, 2, 3};
        CHECK_OK(dvk_st_writer_add(wr, ed->extra, DVK_ST_F32, 1, shape, vals));
    }
    char err[256];
    CHECK_OK(dvk_st_writer_save(wr, path, err, sizeof err));
    dvk_st_writer_destroy(wr);
    dvk_weights_destroy(w);
}

/* out_proj=False (no w_o): y is the heads merged; w_o applied here gives the package's y. And
 * a layer out of a larger file through a prefix. */
static void test_no_out_proj_and_prefix(void **state)
{
    (void)state;
    const fixture *f = TINY;
    char path[512];
    tmp_path(path, sizeof path, "noproj.safetensors");
    write_weights(f->path, path, &(file_edit){.skip = "w_o.weight", .skip2 = "w_o.bias"});
    dvk_kda_attention *l = NULL;
    CHECK_OK(dvk_kda_attention_load(harness_ctx, path, NULL, &l));
    assert_false(dvk_kda_attention_layer_info(l)->out_proj);
    const uint32_t HD = f->H * f->DH;
    float *o = malloc((size_t)B * T * HD * sizeof *o);
    run(f, l, NULL, 0, T, false, DVK_MODE_DEFAULT, o);
    dvk_kda_attention_destroy(l);
    dvk_weights *w = NULL;
    CHECK_OK(dvk_weights_load(NULL, f->path, NULL, &w));
    float *wo = malloc((size_t)f->D * HD * sizeof *wo), *bo = malloc(f->D * sizeof *bo);
    CHECK_OK(dvk_weights_read(w, "w_o.weight", DVK_DTYPE_F32, wo, (size_t)f->D * HD * 4));
    CHECK_OK(dvk_weights_read(w, "w_o.bias", DVK_DTYPE_F32, bo, (size_t)f->D * 4));
    dvk_weights_destroy(w);
    float *y = malloc(y_numel(f) * sizeof *y);
    for (size_t r = 0; r < (size_t)B * T; ++r)
        for (uint32_t j = 0; j < f->D; ++j) {
            double s = bo[j];
            for (uint32_t i = 0; i < HD; ++i)
                s += (double)wo[(size_t)j * HD + i] * o[r * HD + i];
            y[r * f->D + j] = (float)s;
        }
    check_close(f, "out_proj=False, then w_o", f->y, y, y_numel(f), TOL_F32);
    free(o);
    free(wo);
    free(bo);
    write_weights(f->path, path, &(file_edit){.prefix = "blocks.3.attn.", .extra = "emb"});
    CHECK_OK(dvk_kda_attention_load(
        harness_ctx, path, &(dvk_kda_attention_load_desc){.prefix = "blocks.3.attn."}, &l));
    run(f, l, NULL, 0, T, false, DVK_MODE_DEFAULT, y);
    check_close(f, "through a prefix", f->y, y, y_numel(f), TOL_F32);
    dvk_kda_attention_destroy(l);
    free(y);
    remove(path);
}

static void expect_load(const fixture *f, const file_edit *ed, dvk_status want,
                        const char *needle)
{
    char path[512];
    tmp_path(path, sizeof path, "bad.safetensors");
    write_weights(f->path, path, ed);
    dvk_kda_attention *l = (dvk_kda_attention *)1;
    CHECK_STATUS(dvk_kda_attention_load(harness_ctx, path, NULL, &l), want);
    assert_null(l);
    if (!strstr(dvk_last_error(), needle))
        fail_msg("error '%s' does not name '%s'", dvk_last_error(), needle);
    remove(path);
}

static void test_bad_weights(void **state)
{
    (void)state;
    const char *names[] = {"w_q.weight", "w_q.bias",      "w_k.weight",     "w_k.bias",
                           "w_v.weight", "w_v.bias",      "w_alpha.weight", "w_alpha.bias",
                           "w_beta.weight", "w_beta.bias", "w_o.bias"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i)
        expect_load(TINY, &(file_edit){.skip = names[i]}, DVK_ERROR_NOT_FOUND, names[i]);
    expect_load(TINY, &(file_edit){.skip = "w_o.weight"}, DVK_ERROR_NOT_FOUND, "w_o.weight");
    /* The odd layer (H·dh = 18 != D = 20) cannot be out_proj=False. */
    expect_load(&fixtures[1], &(file_edit){.skip = "w_o.weight", .skip2 = "w_o.bias"},
                DVK_ERROR_NOT_FOUND, "w_o.weight");
    expect_load(TINY, &(file_edit){.extra = "w_g.weight"}, DVK_ERROR_FORMAT, "w_g.weight");
    expect_load(TINY, &(file_edit){.bad = "w_alpha.weight", .bad_ndim = 2, .bad_shape = {4, 32}},
                DVK_ERROR_SHAPE_MISMATCH, "w_alpha.weight");
    expect_load(TINY, &(file_edit){.bad = "w_q.weight", .bad_ndim = 2, .bad_shape = {30, 32}},
                DVK_ERROR_SHAPE_MISMATCH, "w_q.weight");
    expect_load(TINY, &(file_edit){.bad = "w_beta.bias", .bad_ndim = 1, .bad_shape = {5}},
                DVK_ERROR_SHAPE_MISMATCH, "w_beta.bias");
    expect_load(TINY, &(file_edit){.bad = "w_o.weight", .bad_ndim = 2, .bad_shape = {32, 33}},
                DVK_ERROR_SHAPE_MISMATCH, "w_o.weight");
    dvk_kda_attention *l = NULL;
    CHECK_STATUS(dvk_kda_attention_load(harness_ctx, TINY->path,
                                        &(dvk_kda_attention_load_desc){.dtype = DVK_DTYPE_I32},
                                        &l),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_kda_attention_load(NULL, TINY->path, NULL, &l), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_kda_attention_load(harness_ctx, NULL, NULL, &l),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_kda_attention_load_memory(harness_ctx, "garbage", 7, NULL, &l),
                 DVK_ERROR_FORMAT);
}

/* A dry run of a scan and a step prepares every pipeline the real ones use. */
static void test_dry_run(void **state)
{
    (void)state;
    const fixture *f = TINY;
    const uint64_t s_all[3] = {B, T, 32}, s_one[2] = {B, 32};
    dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, 3, s_all, f->x);
    dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_all);
    dvk_tensor *tx1 = harness_tensor(DVK_DTYPE_F32, 2, s_one, f->x);
    dvk_tensor *ty1 = harness_tensor_poisoned(DVK_DTYPE_F32, 2, s_one);
    dvk_kda_attention_state *st = NULL;
    CHECK_OK(dvk_kda_attention_state_create(f->layer, B, &st));
    typedef dvk_kda_attention_forward_desc fd;
    const fd scan = {.x = tx, .y = ty, .state = st}, step = {.x = tx1, .y = ty1, .state = st};
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, &(dvk_cmd_desc){.dry_run = true}, &cmd));
    CHECK_OK(dvk_kda_attention_forward(cmd, f->layer, &scan));
    CHECK_OK(dvk_kda_attention_forward(cmd, f->layer, &step));
    const uint32_t prepared = dvk_context_pipeline_count(harness_ctx);
    dvk_cmd_destroy(cmd);
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_kda_attention_forward(cmd, f->layer, &scan));
    CHECK_OK(dvk_kda_attention_forward(cmd, f->layer, &step));
    harness_run(cmd);
    assert_int_equal(dvk_context_pipeline_count(harness_ctx), prepared);
    float *y = harness_download(ty);
    check_close(f, "after a dry run", f->y, y, y_numel(f), TOL_F32);
    free(y);
    dvk_cmd_destroy(cmd);
    dvk_kda_attention_state_destroy(st);
    dvk_tensor_destroy(tx);
    dvk_tensor_destroy(ty);
    dvk_tensor_destroy(tx1);
    dvk_tensor_destroy(ty1);
}

static void test_bad_calls(void **state)
{
    (void)state;
    const dvk_kda_attention *l = TINY->layer;
    const uint64_t s_ok[3] = {B, 5, 32}, s_bad[3] = {B, 5, 31}, s_b1[3] = {1, 5, 32},
                   s_2d[2] = {B, 32};
    dvk_tensor *x_ok = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_ok);
    dvk_tensor *y_ok = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_ok);
    dvk_tensor *x_bad = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_bad);
    dvk_tensor *x_b1 = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_b1);
    dvk_tensor *y_b1 = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_b1);
    dvk_tensor *y_2d = harness_tensor_poisoned(DVK_DTYPE_F32, 2, s_2d);
    dvk_kda_attention_state *st = NULL, *other = NULL;
    CHECK_OK(dvk_kda_attention_state_create(l, B, &st));
    CHECK_OK(dvk_kda_attention_state_create(fixtures[1].layer, B, &other));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    typedef dvk_kda_attention_forward_desc fd;
    CHECK_STATUS(dvk_kda_attention_forward(cmd, l, &(fd){.x = x_bad, .y = y_ok}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_kda_attention_forward(cmd, l, &(fd){.x = x_ok, .y = y_b1}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_kda_attention_forward(cmd, l, &(fd){.x = x_ok, .y = y_2d}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_kda_attention_forward(cmd, l, &(fd){.x = x_b1, .y = y_b1, .state = st}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_kda_attention_forward(cmd, l, &(fd){.x = x_ok, .y = y_ok, .state = other}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_kda_attention_forward(cmd, l, &(fd){.x = x_ok}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_kda_attention_forward(cmd, NULL, &(fd){.x = x_ok, .y = y_ok}),
                 DVK_ERROR_INVALID_ARGUMENT);
    dvk_kda_attention_state *none = NULL;
    CHECK_STATUS(dvk_kda_attention_state_create(l, 0, &none), DVK_ERROR_INVALID_ARGUMENT);
    assert_null(none);
    dvk_cmd_destroy(cmd);
    dvk_kda_attention_state_destroy(st);
    dvk_kda_attention_state_destroy(other);
    dvk_tensor *t[] = {x_ok, y_ok, x_bad, x_b1, y_b1, y_2d};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i)
        dvk_tensor_destroy(t[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_info, harness_test_teardown),
        cmocka_unit_test_teardown(test_scan, harness_test_teardown),
        cmocka_unit_test_teardown(test_streamed, harness_test_teardown),
        cmocka_unit_test_teardown(test_save_restore, harness_test_teardown),
        cmocka_unit_test_teardown(test_16bit, harness_test_teardown),
        cmocka_unit_test_teardown(test_no_out_proj_and_prefix, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_weights, harness_test_teardown),
        cmocka_unit_test_teardown(test_dry_run, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_calls, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
