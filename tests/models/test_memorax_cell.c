/* memorax's LinearAttentionCell (dvk_linear_attention_cell_*) against memorax 1.0.1 itself,
 * run through its own Memoroid scan by scripts/gen_memorax_cell_fixtures.py on two tiny random
 * cells (tests/fixtures/memorax_cell_tiny: C = 32, 2 heads of 16; memorax_cell_odd: C = 21, 3
 * heads of 5; B = 2, T = 37, episode starts in both rows, a non-zero initial carry): one call
 * (both mixer modes) from the initial carry and from zeros, token by token, in segments, the
 * done flags' effect, a carry saved mid-sequence and restored, the carry in memorax's layouts,
 * 16-bit matrices, a prefix, a dry run, and the errors of missing, extra and wrongly shaped
 * tensors and of bad calls. */
#include "harness.h"

#include "deltavk_models.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Relative RMS errors allowed: fp32 (memorax's float32 associative scan against our sums:
 * ~2e-7 measured), 16-bit matrices (their rounding through four products: fp16 ~3e-4,
 * bf16 ~3e-3 measured). */
#define TOL_F32 1e-5
#define TOL_F16 5e-3
#define TOL_BF16 1e-2

enum { B = 2, T = 37, SPLIT = 16 };

typedef struct fixture {
    const char *name;
    uint32_t C, H, D;
    char path[512], io_path[512];
    float *x, *done;
    float *S0, *z0;          /* the initial carry, key-major [B,H,D,D] and [B,H,D] */
    float *y, *S, *z;        /* the whole sequence from it: output and final carry */
    float *y_seg, *S_seg, *z_seg; /* two Memoroid calls, [0, SPLIT) and [SPLIT, T) */
    float *y_zero, *S_zero, *z_zero; /* one call without an initial carry */
    dvk_linear_attention_cell *layer;
} fixture;

static fixture fixtures[2] = {
    {.name = "tiny", .C = 32, .H = 2, .D = 16},
    {.name = "odd", .C = 21, .H = 3, .D = 5},
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
    snprintf(buf, len, "%s/test_memorax_cell_%ld_%s", tmpdir(), (long)getpid(), what);
}

static size_t y_numel(const fixture *f) { return (size_t)B * T * f->C; }
static size_t s_numel(const fixture *f) { return (size_t)B * f->H * f->D * f->D; }
static size_t z_numel(const fixture *f) { return (size_t)B * f->H * f->D; }

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

/* memorax's state [B,1,H,V,K] (value-major) as ours, [B,H,K,V]. */
static float *read_state(const fixture *f, dvk_weights *w, const char *name)
{
    float *m = read_all(w, name, s_numel(f));
    if (!m)
        return NULL;
    float *s = malloc(s_numel(f) * sizeof *s);
    const size_t D = f->D;
    for (size_t bh = 0; bh < (size_t)B * f->H; ++bh)
        for (size_t v = 0; v < D; ++v)
            for (size_t k = 0; k < D; ++k)
                s[(bh * D + k) * D + v] = m[(bh * D + v) * D + k];
    free(m);
    return s;
}

static int load_fixture(fixture *f)
{
    snprintf(f->path, sizeof f->path, "%s/memorax_cell_%s.safetensors", DVK_FIXTURE_DIR,
             f->name);
    snprintf(f->io_path, sizeof f->io_path, "%s/memorax_cell_%s_io.safetensors",
             DVK_FIXTURE_DIR, f->name);
    dvk_weights *w = NULL;
    if (dvk_weights_load(NULL, f->io_path, NULL, &w) != DVK_SUCCESS) {
        fprintf(stderr, "%s\n", dvk_last_error());
        return -1;
    }
    f->x = read_all(w, "x", y_numel(f));
    f->done = read_all(w, "done", (uint64_t)B * T);
    f->S0 = read_state(f, w, "initial_carry/state");
    f->z0 = read_all(w, "initial_carry/normalizer", z_numel(f));
    f->y = read_all(w, "y", y_numel(f));
    f->S = read_state(f, w, "carry/state");
    f->z = read_all(w, "carry/normalizer", z_numel(f));
    f->y_seg = read_all(w, "y_segments", y_numel(f));
    f->S_seg = read_state(f, w, "carry_segments/state");
    f->z_seg = read_all(w, "carry_segments/normalizer", z_numel(f));
    f->y_zero = read_all(w, "y_zero_carry", y_numel(f));
    f->S_zero = read_state(f, w, "carry_zero_carry/state");
    f->z_zero = read_all(w, "carry_zero_carry/normalizer", z_numel(f));
    dvk_weights_destroy(w);
    const float *all[] = {f->x,     f->done,  f->S0,     f->z0,     f->y,      f->S,     f->z,
                          f->y_seg, f->S_seg, f->z_seg, f->y_zero, f->S_zero, f->z_zero};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        if (!all[i]) {
            fprintf(stderr, "%s: not the tensors this test expects\n", f->io_path);
            return -1;
        }
    if (dvk_linear_attention_cell_load(harness_ctx, f->path, NULL, &f->layer) != DVK_SUCCESS) {
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
        dvk_linear_attention_cell_destroy(f->layer);
        float *p[] = {f->x,     f->done,  f->S0,     f->z0,     f->y,      f->S,     f->z,
                      f->y_seg, f->S_seg, f->z_seg, f->y_zero, f->S_zero, f->z_zero};
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
    harness_check("memorax_cell", label, r, got, n, tol);
    free(r);
}

/* The state's carry against the reference S (key-major) and z. */
static void check_carry(const fixture *f, const char *what, const float *S_ref,
                        const float *z_ref, const dvk_linear_attention_cell_state *st,
                        double tol)
{
    char label[160];
    float *S = harness_download(dvk_linear_attention_cell_state_tensor(st));
    float *z = harness_download(dvk_linear_attention_cell_state_normalizer(st));
    snprintf(label, sizeof label, "%s: final carry S", what);
    check_close(f, label, S_ref, S, s_numel(f), tol);
    snprintf(label, sizeof label, "%s: final carry z", what);
    check_close(f, label, z_ref, z, z_numel(f), tol);
    free(S);
    free(z);
}

static void set_carry(const fixture *f, dvk_linear_attention_cell_state *st)
{
    CHECK_OK(dvk_tensor_upload(dvk_linear_attention_cell_state_tensor(st), f->S0,
                               s_numel(f) * sizeof *f->S0));
    CHECK_OK(dvk_tensor_upload(dvk_linear_attention_cell_state_normalizer(st), f->z0,
                               z_numel(f) * sizeof *f->z0));
}

/* Tokens [t0, t0 + n) of a [B, T, c] array, as [B, n, c]. */
static float *slice(const float *a, uint32_t c, uint32_t t0, uint32_t n)
{
    float *s = malloc((size_t)B * n * c * sizeof *s);
    for (uint32_t b = 0; b < B; ++b)
        memcpy(s + (size_t)b * n * c, a + ((size_t)b * T + t0) * c, (size_t)n * c * sizeof *s);
    return s;
}

/* The cell over tokens [t0, t0 + n) (as [B, n, C], or [B, C] with two_d) with `done` (a
 * [B, T] array, or NULL), continuing st (may be NULL); the output put into y_all [B, T, C]. */
static void run_chunk(const fixture *f, const dvk_linear_attention_cell *l,
                      dvk_linear_attention_cell_state *st, const float *done, uint32_t t0,
                      uint32_t n, bool two_d, dvk_mode mode, uint32_t chunk_size, float *y_all)
{
    const uint64_t sx3[3] = {B, n, f->C}, sx2[2] = {B, f->C}, sd2[2] = {B, n}, sd1[1] = {B};
    float *xs = slice(f->x, f->C, t0, n);
    float *ds = done ? slice(done, 1, t0, n) : NULL;
    dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, two_d ? 2 : 3, two_d ? sx2 : sx3, xs);
    dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, two_d ? 2 : 3, two_d ? sx2 : sx3);
    dvk_tensor *td = ds ? harness_tensor(DVK_DTYPE_F32, two_d ? 1 : 2, two_d ? sd1 : sd2, ds)
                        : NULL;
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_linear_attention_cell_forward(
        cmd, l,
        &(dvk_linear_attention_cell_forward_desc){
            .x = tx, .done = td, .y = ty, .state = st, .mode = mode, .chunk_size = chunk_size}));
    harness_run(cmd);
    float *ys = harness_download(ty);
    for (uint32_t b = 0; b < B; ++b)
        memcpy(y_all + ((size_t)b * T + t0) * f->C, ys + (size_t)b * n * f->C,
               (size_t)n * f->C * sizeof *y_all);
    free(ys);
    free(xs);
    free(ds);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tx);
    dvk_tensor_destroy(ty);
    dvk_tensor_destroy(td);
}

static void run(const fixture *f, const dvk_linear_attention_cell *l,
                dvk_linear_attention_cell_state *st, const float *done, uint32_t t0, uint32_t n,
                bool two_d, dvk_mode mode, float *y_all)
{
    run_chunk(f, l, st, done, t0, n, two_d, mode, 0, y_all);
}

static void test_info(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < N_FIXTURES; ++i) {
        const fixture *f = &fixtures[i];
        const dvk_linear_attention_cell_info *in =
            dvk_linear_attention_cell_layer_info(f->layer);
        assert_int_equal(in->d_model, f->C);
        assert_int_equal(in->n_heads, f->H);
        assert_int_equal(in->head_dim, f->D);
        assert_true(in->eps == 1e-6f);
        assert_int_equal(in->dtype, DVK_DTYPE_F32);
        dvk_linear_attention_cell_state *st = NULL;
        CHECK_OK(dvk_linear_attention_cell_state_create(f->layer, B, &st));
        const dvk_tensor *S = dvk_linear_attention_cell_state_tensor(st);
        const dvk_tensor *z = dvk_linear_attention_cell_state_normalizer(st);
        assert_int_equal(dvk_tensor_ndim(S), 4);
        assert_int_equal(dvk_tensor_dim(S, 0), B);
        assert_int_equal(dvk_tensor_dim(S, 1), f->H);
        assert_int_equal(dvk_tensor_dim(S, 2), f->D);
        assert_int_equal(dvk_tensor_dim(S, 3), f->D);
        assert_int_equal(dvk_tensor_ndim(z), 3);
        assert_int_equal(dvk_tensor_dim(z, 2), f->D);
        float *zs = harness_download(z);
        for (size_t j = 0; j < z_numel(f); ++j)
            assert_true(zs[j] == 0.0f);
        free(zs);
        dvk_linear_attention_cell_state_destroy(st);
    }
    dvk_linear_attention_cell_state_destroy(NULL);
    dvk_linear_attention_cell_destroy(NULL);
    assert_null(dvk_linear_attention_cell_state_tensor(NULL));
    assert_null(dvk_linear_attention_cell_state_normalizer(NULL));
    assert_null(dvk_linear_attention_cell_layer_info(NULL));
}

/* One Memoroid call: from the initial carry (recurrent; chunked, the default chunk and 16), from
 * zeros (a reset state, and no state at all). */
static void test_whole(void **state)
{
    (void)state;
    const dvk_mode modes[3] = {DVK_MODE_RECURRENT, DVK_MODE_CHUNK, DVK_MODE_CHUNK};
    const uint32_t chunks[3] = {0, 0, 16};
    const char *names[3] = {"one call, recurrent", "one call, chunked",
                            "one call, chunks of 16"};
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        float *y = malloc(y_numel(f) * sizeof *y);
        dvk_linear_attention_cell_state *st = NULL;
        CHECK_OK(dvk_linear_attention_cell_state_create(f->layer, B, &st));
        for (int i = 0; i < 3; ++i) {
            set_carry(f, st);
            run_chunk(f, f->layer, st, f->done, 0, T, false, modes[i], chunks[i], y);
            check_close(f, names[i], f->y, y, y_numel(f), TOL_F32);
            check_carry(f, names[i], f->S, f->z, st, TOL_F32);
        }
        CHECK_OK(dvk_linear_attention_cell_state_reset(st));
        run(f, f->layer, st, f->done, 0, T, false, DVK_MODE_DEFAULT, y);
        check_close(f, "one call from zeros", f->y_zero, y, y_numel(f), TOL_F32);
        check_carry(f, "one call from zeros", f->S_zero, f->z_zero, st, TOL_F32);
        run(f, f->layer, NULL, f->done, 0, T, false, DVK_MODE_DEFAULT, y);
        check_close(f, "one call, no state", f->y_zero, y, y_numel(f), TOL_F32);
        dvk_linear_attention_cell_state_destroy(st);
        free(y);
    }
}

/* Streamed: token by token ([B, C] in and out, done [B]), the package's two segments, and
 * uneven segments in both modes; each equals the package's one call. */
static void test_streamed(void **state)
{
    (void)state;
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        float *y = malloc(y_numel(f) * sizeof *y);
        dvk_linear_attention_cell_state *st = NULL;
        CHECK_OK(dvk_linear_attention_cell_state_create(f->layer, B, &st));
        set_carry(f, st);
        for (uint32_t t = 0; t < T; ++t)
            run(f, f->layer, st, f->done, t, 1, true, DVK_MODE_DEFAULT, y);
        check_close(f, "token by token", f->y, y, y_numel(f), TOL_F32);
        check_carry(f, "token by token", f->S, f->z, st, TOL_F32);
        set_carry(f, st);
        run(f, f->layer, st, f->done, 0, SPLIT, false, DVK_MODE_DEFAULT, y);
        run(f, f->layer, st, f->done, SPLIT, T - SPLIT, false, DVK_MODE_DEFAULT, y);
        check_close(f, "two segments vs the package's two calls", f->y_seg, y, y_numel(f),
                    TOL_F32);
        check_carry(f, "two segments", f->S_seg, f->z_seg, st, TOL_F32);
        check_close(f, "two segments vs its one call", f->y, y, y_numel(f), TOL_F32);
        const uint32_t cuts[] = {0, 1, 6, 9, 10, 11, 29, 31, T};
        for (int m = 0; m < 2; ++m) {
            set_carry(f, st);
            for (size_t i = 0; i + 1 < sizeof cuts / sizeof cuts[0]; ++i)
                run(f, f->layer, st, f->done, cuts[i], cuts[i + 1] - cuts[i], false,
                    m ? DVK_MODE_CHUNK : DVK_MODE_RECURRENT, y);
            check_close(f, m ? "uneven segments, chunked" : "uneven segments, recurrent", f->y,
                        y, y_numel(f), TOL_F32);
            check_carry(f, "uneven segments", f->S, f->z, st, TOL_F32);
        }
        dvk_linear_attention_cell_state_destroy(st);
        free(y);
    }
}

/* The done flags are read: without them the output moves far from the package's; with an
 * episode starting at token 0 of every row the initial carry makes no difference. */
static void test_done(void **state)
{
    (void)state;
    const fixture *f = TINY;
    float *y = malloc(y_numel(f) * sizeof *y), *y2 = malloc(y_numel(f) * sizeof *y2);
    dvk_linear_attention_cell_state *st = NULL;
    CHECK_OK(dvk_linear_attention_cell_state_create(f->layer, B, &st));
    set_carry(f, st);
    run(f, f->layer, st, NULL, 0, T, false, DVK_MODE_DEFAULT, y);
    double *r = malloc(y_numel(f) * sizeof *r);
    for (size_t i = 0; i < y_numel(f); ++i)
        r[i] = f->y[i];
    const double e = harness_rel_err("memorax_cell: no done flags", r, y, y_numel(f));
    if (!(e > 1e-2))
        fail_msg("the done flags changed the output by only %.2e", e);
    free(r);
    float *d0 = malloc((size_t)B * T * sizeof *d0);
    memcpy(d0, f->done, (size_t)B * T * sizeof *d0);
    for (uint32_t b = 0; b < B; ++b)
        d0[(size_t)b * T] = 1.0f;
    set_carry(f, st);
    run(f, f->layer, st, d0, 0, T, false, DVK_MODE_DEFAULT, y);
    run(f, f->layer, NULL, d0, 0, T, false, DVK_MODE_DEFAULT, y2);
    check_close(f, "done at t = 0: the initial carry is dropped", y2, y, y_numel(f), 1e-6);
    free(d0);
    dvk_linear_attention_cell_state_destroy(st);
    free(y);
    free(y2);
}

/* The carry after SPLIT tokens saved and restored into a new state object: the continuation
 * is the uninterrupted call. Bad files leave the state as it was. */
static void test_save_restore(void **state)
{
    (void)state;
    const fixture *f = TINY;
    char path[512], bad[512];
    tmp_path(path, sizeof path, "state.safetensors");
    float *y = malloc(y_numel(f) * sizeof *y);
    dvk_linear_attention_cell_state *a = NULL, *b = NULL, *other = NULL;
    CHECK_OK(dvk_linear_attention_cell_state_create(f->layer, B, &a));
    set_carry(f, a);
    run(f, f->layer, a, f->done, 0, SPLIT, false, DVK_MODE_DEFAULT, y);
    CHECK_OK(dvk_linear_attention_cell_state_save(a, path));
    dvk_linear_attention_cell_state_destroy(a);
    CHECK_OK(dvk_linear_attention_cell_state_create(f->layer, B, &b));
    CHECK_OK(dvk_linear_attention_cell_state_restore(b, path));
    run(f, f->layer, b, f->done, SPLIT, T - SPLIT, false, DVK_MODE_DEFAULT, y);
    check_close(f, "restored continuation", f->y, y, y_numel(f), TOL_F32);
    check_carry(f, "restored continuation", f->S, f->z, b, TOL_F32);
    CHECK_OK(dvk_linear_attention_cell_state_create(f->layer, 1, &other));
    CHECK_STATUS(dvk_linear_attention_cell_state_restore(other, path), DVK_ERROR_SHAPE_MISMATCH);
    dvk_linear_attention_cell_state_destroy(other);
    CHECK_OK(dvk_linear_attention_cell_state_create(fixtures[1].layer, B, &other));
    CHECK_STATUS(dvk_linear_attention_cell_state_restore(other, path), DVK_ERROR_SHAPE_MISMATCH);
    dvk_linear_attention_cell_state_destroy(other);
    CHECK_STATUS(dvk_linear_attention_cell_state_restore(b, f->path), DVK_ERROR_FORMAT);
    tmp_path(bad, sizeof bad, "nofile.safetensors");
    CHECK_STATUS(dvk_linear_attention_cell_state_restore(b, bad), DVK_ERROR_IO);
    CHECK_STATUS(dvk_linear_attention_cell_state_save(b, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_linear_attention_cell_state_restore(NULL, path),
                 DVK_ERROR_INVALID_ARGUMENT);
    check_carry(f, "after failed restores", f->S, f->z, b, TOL_F32);
    remove(path);
    dvk_linear_attention_cell_state_destroy(b);
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
            dvk_linear_attention_cell *l = NULL;
            CHECK_OK(dvk_linear_attention_cell_load(
                harness_ctx, f->path, &(dvk_linear_attention_cell_load_desc){.dtype = dtypes[i]},
                &l));
            assert_int_equal(dvk_linear_attention_cell_layer_info(l)->dtype, dtypes[i]);
            dvk_linear_attention_cell_state *st = NULL;
            CHECK_OK(dvk_linear_attention_cell_state_create(l, B, &st));
            set_carry(f, st);
            run(f, l, st, f->done, 0, T, false, DVK_MODE_DEFAULT, y);
            check_close(f, names[i], f->y, y, y_numel(f), tols[i]);
            check_carry(f, names[i], f->S, f->z, st, tols[i]);
            dvk_linear_attention_cell_state_destroy(st);
            dvk_linear_attention_cell_destroy(l);
        }
        free(y);
    }
}

/* The carry in memorax's own layouts: set from the package's initial carry, read back as the
 * package's final one; wrong sizes and NULLs are errors. */
static void test_carry_layout(void **state)
{
    (void)state;
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        dvk_weights *w = NULL;
        CHECK_OK(dvk_weights_load(NULL, f->io_path, NULL, &w));
        float *S0 = read_all(w, "initial_carry/state", s_numel(f));
        float *z0 = read_all(w, "initial_carry/normalizer", z_numel(f));
        float *S = read_all(w, "carry/state", s_numel(f));
        dvk_weights_destroy(w);
        assert_non_null(S0);
        assert_non_null(z0);
        assert_non_null(S);
        const size_t sb = s_numel(f) * sizeof(float), zb = z_numel(f) * sizeof(float);
        float *y = malloc(y_numel(f) * sizeof *y), *S_got = malloc(sb), *z_got = malloc(zb);
        dvk_linear_attention_cell_state *st = NULL;
        CHECK_OK(dvk_linear_attention_cell_state_create(f->layer, B, &st));
        CHECK_OK(dvk_linear_attention_cell_state_set_carry(st, S0, sb, z0, zb));
        run(f, f->layer, st, f->done, 0, T, false, DVK_MODE_DEFAULT, y);
        check_close(f, "from set_carry", f->y, y, y_numel(f), TOL_F32);
        check_carry(f, "from set_carry", f->S, f->z, st, TOL_F32);
        CHECK_OK(dvk_linear_attention_cell_state_get_carry(st, S_got, sb, z_got, zb));
        check_close(f, "get_carry: state, memorax's layout", S, S_got, s_numel(f), TOL_F32);
        check_close(f, "get_carry: normalizer", f->z, z_got, z_numel(f), TOL_F32);
        CHECK_STATUS(dvk_linear_attention_cell_state_set_carry(st, S0, sb - 4, z0, zb),
                     DVK_ERROR_SHAPE_MISMATCH);
        CHECK_STATUS(dvk_linear_attention_cell_state_get_carry(st, S_got, sb, z_got, zb + 4),
                     DVK_ERROR_SHAPE_MISMATCH);
        CHECK_STATUS(dvk_linear_attention_cell_state_set_carry(st, NULL, sb, z0, zb),
                     DVK_ERROR_INVALID_ARGUMENT);
        CHECK_STATUS(dvk_linear_attention_cell_state_get_carry(NULL, S_got, sb, z_got, zb),
                     DVK_ERROR_INVALID_ARGUMENT);
        check_carry(f, "after failed set_carry", f->S, f->z, st, TOL_F32);
        dvk_linear_attention_cell_state_destroy(st);
        free(S0);
        free(z0);
        free(S);
        free(y);
        free(S_got);
        free(z_got);
    }
}

/* A weights file: a fixture's parameters under `prefix`, `skip` left out, `bad` given shape
 * bad_shape (zeros), `extra` added. */
typedef struct file_edit {
    const char *prefix, *skip, *bad, *extra;
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
        if (is(ed->skip, n))
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

/* The cell inside a Memoroid's variables (params/cell/...) beside other modules' parameters,
 * loaded through a prefix; and from memory. */
static void test_prefix_and_memory(void **state)
{
    (void)state;
    const fixture *f = TINY;
    char path[512];
    tmp_path(path, sizeof path, "prefixed.safetensors");
    write_weights(f->path, path,
                  &(file_edit){.prefix = "params/cell/", .extra = "params/Dense_0/kernel"});
    dvk_linear_attention_cell *l = NULL;
    CHECK_OK(dvk_linear_attention_cell_load(
        harness_ctx, path, &(dvk_linear_attention_cell_load_desc){.prefix = "params/cell/"},
        &l));
    float *y = malloc(y_numel(f) * sizeof *y);
    dvk_linear_attention_cell_state *st = NULL;
    CHECK_OK(dvk_linear_attention_cell_state_create(l, B, &st));
    set_carry(f, st);
    run(f, l, st, f->done, 0, T, false, DVK_MODE_DEFAULT, y);
    check_close(f, "through a prefix", f->y, y, y_numel(f), TOL_F32);
    dvk_linear_attention_cell_state_destroy(st);
    dvk_linear_attention_cell_destroy(l);
    /* Without the prefix the names are not the cell's. */
    CHECK_STATUS(dvk_linear_attention_cell_load(harness_ctx, path, NULL, &l),
                 DVK_ERROR_NOT_FOUND);
    assert_null(l);
    remove(path);
    FILE *fp = fopen(f->path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    const long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    void *bytes = malloc((size_t)size);
    assert_int_equal(fread(bytes, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    CHECK_OK(dvk_linear_attention_cell_load_memory(harness_ctx, bytes, (size_t)size, NULL, &l));
    free(bytes);
    run(f, l, NULL, f->done, 0, T, false, DVK_MODE_DEFAULT, y);
    check_close(f, "from memory", f->y_zero, y, y_numel(f), TOL_F32);
    dvk_linear_attention_cell_destroy(l);
    free(y);
}

static void expect_load(const fixture *f, const file_edit *ed, dvk_status want,
                        const char *needle)
{
    char path[512];
    tmp_path(path, sizeof path, "bad.safetensors");
    write_weights(f->path, path, ed);
    dvk_linear_attention_cell *l = (dvk_linear_attention_cell *)1;
    CHECK_STATUS(dvk_linear_attention_cell_load(harness_ctx, path, NULL, &l), want);
    assert_null(l);
    if (!strstr(dvk_last_error(), needle))
        fail_msg("error '%s' does not name '%s'", dvk_last_error(), needle);
    remove(path);
}

static void test_bad_weights(void **state)
{
    (void)state;
    const char *names[] = {"query/kernel",    "key/kernel",     "value/kernel",
                           "RMSNorm_0/scale", "Dense_0/kernel", "Dense_0/bias"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i)
        expect_load(TINY, &(file_edit){.skip = names[i]}, DVK_ERROR_NOT_FOUND, names[i]);
    expect_load(TINY, &(file_edit){.extra = "RMSNorm_1/scale"}, DVK_ERROR_FORMAT,
                "RMSNorm_1/scale");
    expect_load(TINY, &(file_edit){.bad = "query/kernel", .bad_ndim = 2, .bad_shape = {32, 32}},
                DVK_ERROR_SHAPE_MISMATCH, "query/kernel");
    expect_load(TINY, &(file_edit){.bad = "key/kernel", .bad_ndim = 3, .bad_shape = {32, 16, 2}},
                DVK_ERROR_SHAPE_MISMATCH, "key/kernel");
    expect_load(TINY, &(file_edit){.bad = "value/kernel", .bad_ndim = 3,
                                   .bad_shape = {31, 2, 16}},
                DVK_ERROR_SHAPE_MISMATCH, "value/kernel");
    expect_load(TINY, &(file_edit){.bad = "RMSNorm_0/scale", .bad_ndim = 1, .bad_shape = {16}},
                DVK_ERROR_SHAPE_MISMATCH, "RMSNorm_0/scale");
    /* A kernel of the wrong width; and PyTorch's [out, in] in place of Flax's [in, out],
     * which shapes can tell where C != H·D (the odd cell). */
    expect_load(TINY, &(file_edit){.bad = "Dense_0/kernel", .bad_ndim = 2, .bad_shape = {32, 33}},
                DVK_ERROR_SHAPE_MISMATCH, "Dense_0/kernel");
    expect_load(&fixtures[1],
                &(file_edit){.bad = "Dense_0/kernel", .bad_ndim = 2, .bad_shape = {21, 15}},
                DVK_ERROR_SHAPE_MISMATCH, "Dense_0/kernel");
    expect_load(TINY, &(file_edit){.bad = "Dense_0/bias", .bad_ndim = 1, .bad_shape = {33}},
                DVK_ERROR_SHAPE_MISMATCH, "Dense_0/bias");
    dvk_linear_attention_cell *l = NULL;
    CHECK_STATUS(dvk_linear_attention_cell_load(
                     harness_ctx, TINY->path,
                     &(dvk_linear_attention_cell_load_desc){.dtype = DVK_DTYPE_I32}, &l),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_linear_attention_cell_load(
                     harness_ctx, TINY->path,
                     &(dvk_linear_attention_cell_load_desc){.eps = -1.0f}, &l),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_linear_attention_cell_load(
                     harness_ctx, TINY->path,
                     &(dvk_linear_attention_cell_load_desc){.eps = NAN}, &l),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_OK(dvk_linear_attention_cell_load(
        harness_ctx, TINY->path, &(dvk_linear_attention_cell_load_desc){.eps = 1e-3f}, &l));
    assert_true(dvk_linear_attention_cell_layer_info(l)->eps == 1e-3f);
    dvk_linear_attention_cell_destroy(l);
    CHECK_STATUS(dvk_linear_attention_cell_load(NULL, TINY->path, NULL, &l),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_linear_attention_cell_load(harness_ctx, NULL, NULL, &l),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_linear_attention_cell_load_memory(harness_ctx, "garbage", 7, NULL, &l),
                 DVK_ERROR_FORMAT);
}

/* A dry run of a whole call and a one-token call prepares every pipeline the real ones use. */
static void test_dry_run(void **state)
{
    (void)state;
    const fixture *f = TINY;
    const uint64_t s_all[3] = {B, T, 32}, s_one[2] = {B, 32}, s_d[2] = {B, T}, s_d1[1] = {B};
    dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, 3, s_all, f->x);
    dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_all);
    dvk_tensor *td = harness_tensor(DVK_DTYPE_F32, 2, s_d, f->done);
    dvk_tensor *tx1 = harness_tensor(DVK_DTYPE_F32, 2, s_one, f->x);
    dvk_tensor *ty1 = harness_tensor_poisoned(DVK_DTYPE_F32, 2, s_one);
    dvk_tensor *td1 = harness_tensor(DVK_DTYPE_F32, 1, s_d1, f->done);
    dvk_linear_attention_cell_state *st = NULL;
    CHECK_OK(dvk_linear_attention_cell_state_create(f->layer, B, &st));
    set_carry(f, st);
    typedef dvk_linear_attention_cell_forward_desc fd;
    const fd whole = {.x = tx, .done = td, .y = ty, .state = st},
             step = {.x = tx1, .done = td1, .y = ty1, .state = st};
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, &(dvk_cmd_desc){.dry_run = true}, &cmd));
    CHECK_OK(dvk_linear_attention_cell_forward(cmd, f->layer, &whole));
    CHECK_OK(dvk_linear_attention_cell_forward(cmd, f->layer, &step));
    const uint32_t prepared = dvk_context_pipeline_count(harness_ctx);
    dvk_cmd_destroy(cmd);
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_linear_attention_cell_forward(cmd, f->layer, &whole));
    CHECK_OK(dvk_linear_attention_cell_forward(cmd, f->layer, &step));
    harness_run(cmd);
    assert_int_equal(dvk_context_pipeline_count(harness_ctx), prepared);
    float *y = harness_download(ty);
    check_close(f, "after a dry run", f->y, y, y_numel(f), TOL_F32);
    free(y);
    dvk_cmd_destroy(cmd);
    dvk_linear_attention_cell_state_destroy(st);
    dvk_tensor *t[] = {tx, ty, td, tx1, ty1, td1};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i)
        dvk_tensor_destroy(t[i]);
}

static void test_bad_calls(void **state)
{
    (void)state;
    const dvk_linear_attention_cell *l = TINY->layer;
    dvk_tensor *x_ok = harness_make(DVK_DTYPE_F32, 3, B, 5, 32, 0);
    dvk_tensor *y_ok = harness_make(DVK_DTYPE_F32, 3, B, 5, 32, 0);
    dvk_tensor *x_bad = harness_make(DVK_DTYPE_F32, 3, B, 5, 31, 0);
    dvk_tensor *x_b1 = harness_make(DVK_DTYPE_F32, 3, 1, 5, 32, 0);
    dvk_tensor *y_b1 = harness_make(DVK_DTYPE_F32, 3, 1, 5, 32, 0);
    dvk_tensor *y_2d = harness_make(DVK_DTYPE_F32, 2, B, 32, 0, 0);
    dvk_tensor *x_f16 = harness_make(DVK_DTYPE_F16, 3, B, 5, 32, 0);
    dvk_tensor *d_ok = harness_make(DVK_DTYPE_F32, 2, B, 5, 0, 0);
    dvk_tensor *d_bad = harness_make(DVK_DTYPE_F32, 2, B, 4, 0, 0);
    dvk_tensor *d_1d = harness_make(DVK_DTYPE_F32, 1, B, 0, 0, 0);
    dvk_tensor *d_i32 = harness_make(DVK_DTYPE_I32, 2, B, 5, 0, 0);
    dvk_linear_attention_cell_state *st = NULL, *other = NULL;
    CHECK_OK(dvk_linear_attention_cell_state_create(l, B, &st));
    CHECK_OK(dvk_linear_attention_cell_state_create(fixtures[1].layer, B, &other));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    typedef dvk_linear_attention_cell_forward_desc fd;
#define FWD(...) dvk_linear_attention_cell_forward(cmd, l, &(fd){__VA_ARGS__})
    CHECK_STATUS(FWD(.x = x_bad, .y = y_ok), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(FWD(.x = x_ok, .y = y_b1), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(FWD(.x = x_ok, .y = y_2d), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(FWD(.x = x_f16, .y = y_ok), DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(FWD(.x = x_ok, .y = y_ok, .done = d_bad), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(FWD(.x = x_ok, .y = y_ok, .done = d_1d), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(FWD(.x = x_ok, .y = y_ok, .done = d_i32), DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(FWD(.x = x_b1, .y = y_b1, .state = st), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(FWD(.x = x_ok, .y = y_ok, .state = other), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(FWD(.x = x_ok), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_OK(FWD(.x = x_ok, .y = y_ok, .done = d_ok, .state = st));
#undef FWD
    CHECK_STATUS(dvk_linear_attention_cell_forward(cmd, NULL, &(fd){.x = x_ok, .y = y_ok}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_linear_attention_cell_forward(cmd, l, NULL), DVK_ERROR_INVALID_ARGUMENT);
    dvk_linear_attention_cell_state *none = (dvk_linear_attention_cell_state *)1;
    CHECK_STATUS(dvk_linear_attention_cell_state_create(l, 0, &none), DVK_ERROR_INVALID_ARGUMENT);
    assert_null(none);
    CHECK_STATUS(dvk_linear_attention_cell_state_reset(NULL), DVK_ERROR_INVALID_ARGUMENT);
    dvk_cmd_destroy(cmd);
    dvk_linear_attention_cell_state_destroy(st);
    dvk_linear_attention_cell_state_destroy(other);
    dvk_tensor *t[] = {x_ok, y_ok, x_bad, x_b1, y_b1, y_2d, x_f16, d_ok, d_bad, d_1d, d_i32};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i)
        dvk_tensor_destroy(t[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_info, harness_test_teardown),
        cmocka_unit_test_teardown(test_whole, harness_test_teardown),
        cmocka_unit_test_teardown(test_streamed, harness_test_teardown),
        cmocka_unit_test_teardown(test_done, harness_test_teardown),
        cmocka_unit_test_teardown(test_save_restore, harness_test_teardown),
        cmocka_unit_test_teardown(test_16bit, harness_test_teardown),
        cmocka_unit_test_teardown(test_carry_layout, harness_test_teardown),
        cmocka_unit_test_teardown(test_prefix_and_memory, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_weights, harness_test_teardown),
        cmocka_unit_test_teardown(test_dry_run, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_calls, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
