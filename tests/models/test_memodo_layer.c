/* Memodo's layer (dvk_memodo_*) against PyPI memodo 1.0.0's MemodoLayer on two small random
 * layers made by scripts/gen_memodo_fixtures.py (tests/fixtures/memodo_layer_tiny.safetensors:
 * C = 64, heads [16, 16], lerp and gating feats 16, B = 2, T = 37; memodo_layer_odd: C = 40,
 * heads [12, 7, 20], lerp 9, gating 11, B = 1, T = 23): the package's wiring (its output, both
 * layouts, and its final states) and the README's, in one call (recurrent and chunked), token
 * by token and in two segments with the state carried, and fp16 and bf16 matrices. On the first: a
 * state saved mid-sequence and restored into a new state object continuing as the
 * uninterrupted run, a state file in the package's layouts, use_residual=False, a prefix, a
 * dry run, and the errors of missing, extra and wrongly shaped tensors and of bad calls. */
#include "harness.h"

#include "deltavk_models.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURE_PATH DVK_FIXTURE_DIR "/memodo_layer_tiny.safetensors"
#define FIXTURE_ODD_PATH DVK_FIXTURE_DIR "/memodo_layer_odd.safetensors"

/* Relative RMS errors allowed: fp32 against PyTorch's float32 (measured below 1e-6), 16-bit
 * matrices (their rounding, 2^-11 (fp16) or 2^-8 (bf16) per weight; in the package's wiring
 * each head's error feeds the next one's projections: up to 9e-4 (fp16) and 2.5e-2 (bf16,
 * the odd layer's third head) measured). */
#define TOL_F32 1e-5
#define TOL_F16 5e-3
#define TOL_BF16 5e-2

enum { MAX_W = 64, MAX_L = 3 };

typedef struct host_tensor {
    char name[64];
    uint32_t ndim;
    uint64_t shape[DVK_WEIGHTS_MAX_DIMS];
    uint64_t numel;
    float *data;
} host_tensor;

/* A fixture's tensors: the weights (the layer's state_dict), the input and what the package
 * gave. States are held in deltavk's layouts: [B, C] and per head [B, 1, F, F] key-major (the
 * package's M transposed). */
typedef struct fixture {
    const char *name, *path;
    uint32_t B, T, C, L, F[MAX_L], split;
    host_tensor w[MAX_W];
    uint32_t n_w;
    float *x, *y_tm, *y, *y_readme; /* y_tm [T, B, C] as the package returns it; y batch-major */
    float *st[MAX_L + 1], *st_readme[MAX_L + 1];
    char weights_path[512];
    dvk_memodo_layer *layer; /* fp32 */
} fixture;

static fixture fixtures[2] = {
    {.name = "tiny", .path = FIXTURE_PATH, .B = 2, .T = 37, .C = 64, .L = 2, .F = {16, 16},
     .split = 20},
    {.name = "odd", .path = FIXTURE_ODD_PATH, .B = 1, .T = 23, .C = 40, .L = 3,
     .F = {12, 7, 20}, .split = 9},
};
enum { N_FIXTURES = sizeof fixtures / sizeof fixtures[0] };
#define TINY (&fixtures[0])

static const char *tmpdir(void)
{
    const char *d = getenv("DVK_TEST_TMPDIR");
    return d ? d : "/tmp";
}

static void tmp_path(char *buf, size_t len, const char *what)
{
    snprintf(buf, len, "%s/test_memodo_layer_%ld_%s", tmpdir(), (long)getpid(), what);
}

static void check_close(const char *what, const float *ref, const float *got, size_t n, double tol)
{
    double *r = malloc(n * sizeof *r);
    for (size_t i = 0; i < n; ++i)
        r[i] = ref[i];
    harness_check("memodo", what, r, got, n, tol);
    free(r);
}

static int read_host(dvk_weights *w, const char *name, host_tensor *out)
{
    dvk_weights_entry e;
    if (dvk_weights_find(w, name, &e) != DVK_SUCCESS)
        return -1;
    snprintf(out->name, sizeof out->name, "%s", name);
    out->ndim = e.ndim;
    memcpy(out->shape, e.shape, sizeof e.shape);
    out->numel = e.numel;
    out->data = malloc((size_t)e.numel * sizeof *out->data);
    return dvk_weights_read(w, name, DVK_DTYPE_F32, out->data,
                            (size_t)e.numel * sizeof *out->data) == DVK_SUCCESS
               ? 0
               : -1;
}

static size_t state_numel(const fixture *f, uint32_t i)
{
    return i == 0 ? (size_t)f->B * f->C : (size_t)f->B * f->F[i - 1] * f->F[i - 1];
}

/* [B, F, F] -> each matrix transposed, in place. */
static void transpose_ff(float *m, uint32_t B, uint32_t F)
{
    for (uint32_t b = 0; b < B; ++b, m += (size_t)F * F)
        for (uint32_t r = 0; r < F; ++r)
            for (uint32_t c = r + 1; c < F; ++c) {
                const float t = m[r * F + c];
                m[r * F + c] = m[c * F + r];
                m[c * F + r] = t;
            }
}

/* A weights file: the fixture's parameters under `prefix`, with `skip` left out, `bad` given
 * the shape `bad_shape` (zeros) and `extra` added. */
typedef struct file_edit {
    const char *prefix;
    const char *skip;
    const char *skip_prefix; /* every tensor whose name starts with it left out */
    const char *bad;
    uint32_t bad_ndim;
    uint64_t bad_shape[4];
    const char *extra;
} file_edit;

static void write_weights(const fixture *f, const char *path, const file_edit *ed)
{
    dvk_st_writer *wr = NULL;
    CHECK_OK(dvk_st_writer_create(&wr));
    char name[256];
    for (uint32_t i = 0; i < f->n_w; ++i) {
        const host_tensor *h = &f->w[i];
        if ((ed->skip && strcmp(ed->skip, h->name) == 0) ||
            (ed->skip_prefix && strncmp(ed->skip_prefix, h->name, strlen(ed->skip_prefix)) == 0))
            continue;
        snprintf(name, sizeof name, "%s%s", ed->prefix ? ed->prefix : "", h->name);
        if (ed->bad && strcmp(ed->bad, h->name) == 0) {
            uint64_t n = 1;
            for (uint32_t d = 0; d < ed->bad_ndim; ++d)
                n *= ed->bad_shape[d];
            float *zeros = calloc((size_t)n, sizeof *zeros);
            CHECK_OK(dvk_st_writer_add(wr, name, DVK_ST_F32, ed->bad_ndim, ed->bad_shape, zeros));
            free(zeros);
            continue;
        }
        CHECK_OK(dvk_st_writer_add(wr, name, DVK_ST_F32, h->ndim, h->shape, h->data));
    }
    if (ed->extra) {
        const uint64_t shape[1] = {3};
        const float vals[3] = {1, 2, 3};
        CHECK_OK(dvk_st_writer_add(wr, ed->extra, DVK_ST_F32, 1, shape, vals));
    }
    char err[256];
    CHECK_OK(dvk_st_writer_save(wr, path, err, sizeof err));
    dvk_st_writer_destroy(wr);
}

/* Is `name` one of the fixture's data (not a parameter)? */
static bool is_data(const char *name)
{
    return strcmp(name, "x") == 0 || strcmp(name, "y") == 0 || strcmp(name, "y_readme") == 0 ||
           strncmp(name, "state.", 6) == 0 || strncmp(name, "readme_state.", 13) == 0;
}

static int load_fixture(fixture *f)
{
    dvk_weights *w = NULL;
    if (dvk_weights_load(NULL, f->path, NULL, &w) != DVK_SUCCESS) {
        fprintf(stderr, "%s\n", dvk_last_error());
        return -1;
    }
    for (uint32_t i = 0; i < dvk_weights_count(w); ++i) {
        const char *name = dvk_weights_name(w, i);
        if (is_data(name))
            continue;
        if (f->n_w == MAX_W || read_host(w, name, &f->w[f->n_w++]) != 0)
            return -1;
    }
    host_tensor t;
    const size_t n = (size_t)f->B * f->T * f->C;
    if (read_host(w, "x", &t) != 0 || t.numel != n)
        return -1;
    f->x = t.data;
    if (read_host(w, "y", &t) != 0 || t.numel != n || t.shape[0] != f->T)
        return -1;
    f->y_tm = t.data;
    if (read_host(w, "y_readme", &t) != 0 || t.numel != n)
        return -1;
    f->y_readme = t.data;
    f->y = malloc(n * sizeof *f->y);
    for (uint32_t b = 0; b < f->B; ++b)
        for (uint32_t s = 0; s < f->T; ++s)
            memcpy(f->y + ((size_t)b * f->T + s) * f->C, f->y_tm + ((size_t)s * f->B + b) * f->C,
                   f->C * sizeof *f->y);
    for (uint32_t i = 0; i <= f->L; ++i) {
        char name[64];
        for (int r = 0; r < 2; ++r) {
            snprintf(name, sizeof name, "%sstate.%u", r ? "readme_" : "", i);
            if (read_host(w, name, &t) != 0 || t.numel != state_numel(f, i))
                return -1;
            if (i > 0)
                transpose_ff(t.data, f->B, f->F[i - 1]);
            (r ? f->st_readme : f->st)[i] = t.data;
        }
    }
    dvk_weights_destroy(w);
    snprintf(f->weights_path, sizeof f->weights_path, "%s/test_memodo_layer_%ld_%s.safetensors",
             tmpdir(), (long)getpid(), f->name);
    write_weights(f, f->weights_path, &(file_edit){0});
    if (dvk_memodo_load(harness_ctx, f->weights_path, NULL, &f->layer) != DVK_SUCCESS) {
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
        dvk_memodo_destroy(f->layer);
        remove(f->weights_path);
        for (uint32_t j = 0; j < f->n_w; ++j)
            free(f->w[j].data);
        free(f->x);
        free(f->y_tm);
        free(f->y);
        free(f->y_readme);
        for (uint32_t j = 0; j <= f->L; ++j) {
            free(f->st[j]);
            free(f->st_readme[j]);
        }
    }
    return harness_group_teardown(state);
}

/* Tokens [t0, t0 + n) of the fixture's x, as [B, n, C]. */
static float *x_slice(const fixture *f, uint32_t t0, uint32_t n)
{
    float *s = malloc((size_t)f->B * n * f->C * sizeof *s);
    for (uint32_t b = 0; b < f->B; ++b)
        memcpy(s + (size_t)b * n * f->C, f->x + ((size_t)b * f->T + t0) * f->C,
               (size_t)n * f->C * sizeof *s);
    return s;
}

typedef struct run_opts {
    dvk_memodo_wiring wiring;
    dvk_mode mode;
    bool time_major_y, no_residual;
} run_opts;

/* Layer l over tokens [t0, t0 + n) of x in one call, continuing `st` (may be NULL), the
 * output put into y_all ([B, T, C], or [T, B, C] with time_major_y). */
static void run(const fixture *f, const dvk_memodo_layer *l, dvk_memodo_state *st, uint32_t t0,
                uint32_t n, const run_opts *o, float *y_all)
{
    const uint64_t shape[3] = {f->B, n, f->C}, shape_tm[3] = {n, f->B, f->C};
    float *xs = x_slice(f, t0, n);
    dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, 3, shape, xs);
    dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, 3, o->time_major_y ? shape_tm : shape);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_memodo_forward(cmd, l,
                                &(dvk_memodo_forward_desc){.x = tx, .y = ty, .state = st,
                                                           .wiring = o->wiring, .mode = o->mode,
                                                           .time_major_y = o->time_major_y,
                                                           .no_residual = o->no_residual}));
    harness_run(cmd);
    float *ys = harness_download(ty);
    for (uint32_t b = 0; b < f->B; ++b)
        for (uint32_t s = 0; s < n; ++s) {
            const size_t dst = o->time_major_y ? ((size_t)(t0 + s) * f->B + b) * f->C
                                               : ((size_t)b * f->T + t0 + s) * f->C;
            const size_t src = o->time_major_y ? ((size_t)s * f->B + b) * f->C
                                               : ((size_t)b * n + s) * f->C;
            memcpy(y_all + dst, ys + src, f->C * sizeof *ys);
        }
    free(ys);
    free(xs);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tx);
    dvk_tensor_destroy(ty);
}

static size_t y_numel(const fixture *f) { return (size_t)f->B * f->T * f->C; }

static void check_y(const fixture *f, const char *what, const float *ref, const float *y,
                    double tol)
{
    char label[160];
    snprintf(label, sizeof label, "%s: %s", f->name, what);
    check_close(label, ref, y, y_numel(f), tol);
}

/* Every state tensor against the package's final states (`ref`, in deltavk's layouts). */
static void check_state(const fixture *f, const char *what, const dvk_memodo_state *st,
                        float *const *ref, double tol)
{
    char label[160];
    for (uint32_t i = 0; i <= f->L; ++i) {
        float *got = harness_download(dvk_memodo_state_tensor(st, i));
        snprintf(label, sizeof label, "%s: %s: state.%u", f->name, what, i);
        check_close(label, ref[i], got, state_numel(f, i), tol);
        free(got);
    }
}

static void test_info(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < N_FIXTURES; ++i) {
        const fixture *f = &fixtures[i];
        const dvk_memodo_info *in = dvk_memodo_layer_info(f->layer);
        assert_int_equal(in->num_channels, f->C);
        assert_int_equal(in->num_heads, f->L);
        for (uint32_t j = 0; j < f->L; ++j)
            assert_int_equal(in->attn_feats[j], f->F[j]);
        assert_int_equal(in->lerp_feats, i == 0 ? 16 : 9);
        assert_int_equal(in->gating_feats, i == 0 ? 16 : 11);
        assert_int_equal(in->dtype, DVK_DTYPE_F32);
        dvk_memodo_state *st = NULL;
        CHECK_OK(dvk_memodo_state_create(f->layer, f->B, &st));
        dvk_tensor *s0 = dvk_memodo_state_tensor(st, 0);
        assert_int_equal(dvk_tensor_ndim(s0), 2);
        assert_int_equal(dvk_tensor_dim(s0, 0), f->B);
        assert_int_equal(dvk_tensor_dim(s0, 1), f->C);
        for (uint32_t j = 0; j < f->L; ++j) {
            dvk_tensor *s = dvk_memodo_state_tensor(st, 1 + j);
            assert_int_equal(dvk_tensor_ndim(s), 4);
            assert_int_equal(dvk_tensor_dim(s, 1), 1);
            assert_int_equal(dvk_tensor_dim(s, 2), f->F[j]);
            assert_int_equal(dvk_tensor_dim(s, 3), f->F[j]);
        }
        assert_null(dvk_memodo_state_tensor(st, f->L + 1));
        dvk_memodo_state_destroy(st);
    }
    dvk_memodo_state_destroy(NULL);
    dvk_memodo_destroy(NULL);
}

/* One call over the sequence from the learned initial states: the package's output (in its
 * time-major layout and batch-major) and final states, in both modes; without a state; and
 * the README's wiring. */
static void test_whole(void **state)
{
    (void)state;
    const dvk_mode modes[2] = {DVK_MODE_RECURRENT, DVK_MODE_CHUNK};
    const char *names[2] = {"whole, recurrent", "whole, chunked"};
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        float *y = malloc(y_numel(f) * sizeof *y);
        for (int i = 0; i < 2; ++i) {
            dvk_memodo_state *st = NULL;
            CHECK_OK(dvk_memodo_state_create(f->layer, f->B, &st));
            run(f, f->layer, st, 0, f->T, &(run_opts){.mode = modes[i]}, y);
            check_y(f, names[i], f->y, y, TOL_F32);
            check_state(f, names[i], st, f->st, TOL_F32);
            dvk_memodo_state_destroy(st);

            CHECK_OK(dvk_memodo_state_create(f->layer, f->B, &st));
            run(f, f->layer, st, 0, f->T,
                &(run_opts){.wiring = DVK_MEMODO_WIRING_README, .mode = modes[i]}, y);
            check_y(f, "README wiring", f->y_readme, y, TOL_F32);
            check_state(f, "README wiring", st, f->st_readme, TOL_F32);
            dvk_memodo_state_destroy(st);
        }
        run(f, f->layer, NULL, 0, f->T, &(run_opts){.time_major_y = true}, y);
        check_y(f, "time-major, as the package returns it", f->y_tm, y, TOL_F32);
        run(f, f->layer, NULL, 0, f->T, &(run_opts){0}, y);
        check_y(f, "no state", f->y, y, TOL_F32);
        free(y);
    }
}

/* Token by token and in two segments, the state carried: as the package's one call (its own
 * streaming was checked against it by the script). */
static void test_streamed(void **state)
{
    (void)state;
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        float *y = malloc(y_numel(f) * sizeof *y);
        for (int w = 0; w < 2; ++w) {
            const dvk_memodo_wiring wiring = (dvk_memodo_wiring)w;
            const float *ref = w ? f->y_readme : f->y;
            float *const *ref_st = w ? f->st_readme : f->st;
            dvk_memodo_state *st = NULL;
            CHECK_OK(dvk_memodo_state_create(f->layer, f->B, &st));
            for (uint32_t t = 0; t < f->T; ++t)
                run(f, f->layer, st, t, 1, &(run_opts){.wiring = wiring}, y);
            check_y(f, w ? "README, token by token" : "token by token", ref, y, TOL_F32);
            check_state(f, w ? "README, token by token" : "token by token", st, ref_st,
                        TOL_F32);

            CHECK_OK(dvk_memodo_state_reset(st));
            const run_opts o = {.wiring = wiring, .mode = DVK_MODE_CHUNK};
            run(f, f->layer, st, 0, f->split, &o, y);
            run(f, f->layer, st, f->split, f->T - f->split, &o, y);
            check_y(f, w ? "README, two segments" : "two segments", ref, y, TOL_F32);
            check_state(f, w ? "README, two segments" : "two segments", st, ref_st, TOL_F32);
            dvk_memodo_state_destroy(st);
        }
        free(y);
    }
}

/* use_residual=False: the gated block alone, in x's layout (y − x of the package's). */
static void test_no_residual(void **state)
{
    (void)state;
    const fixture *f = TINY;
    float *y = malloc(y_numel(f) * sizeof *y);
    float *ref = malloc(y_numel(f) * sizeof *ref);
    for (size_t i = 0; i < y_numel(f); ++i)
        ref[i] = f->y[i] - f->x[i];
    run(f, f->layer, NULL, 0, f->T, &(run_opts){.no_residual = true}, y);
    check_y(f, "no residual", ref, y, TOL_F32);
    free(y);
    free(ref);
}

/* The state after `split` tokens saved to a file and restored into a fresh state object: the
 * rest continues as the uninterrupted run. A file of the package's own final states (state.J
 * in its layouts, no metadata) restores to them. Bad files fail and leave the state as it
 * was. */
static void test_save_restore(void **state)
{
    (void)state;
    const fixture *f = TINY;
    char path[512], bad[512];
    tmp_path(path, sizeof path, "state.safetensors");
    float *y = malloc(y_numel(f) * sizeof *y);
    float *y_whole = malloc(y_numel(f) * sizeof *y_whole);
    dvk_memodo_state *a = NULL, *b = NULL, *one = NULL;
    const run_opts o = {.mode = DVK_MODE_RECURRENT};
    CHECK_OK(dvk_memodo_state_create(f->layer, f->B, &a));
    run(f, f->layer, a, 0, f->T, &o, y_whole);
    CHECK_OK(dvk_memodo_state_reset(a));
    run(f, f->layer, a, 0, f->split, &o, y);
    CHECK_OK(dvk_memodo_state_save(a, path));
    dvk_memodo_state_destroy(a);

    CHECK_OK(dvk_memodo_state_create(f->layer, f->B, &b));
    CHECK_OK(dvk_memodo_state_restore(b, path));
    run(f, f->layer, b, f->split, f->T - f->split, &o, y);
    check_y(f, "restored continuation vs uninterrupted", y_whole, y, 1e-7);
    check_state(f, "restored continuation", b, f->st, TOL_F32);

    /* The package's final states as a file of its own layouts. */
    dvk_st_writer *wr = NULL;
    CHECK_OK(dvk_st_writer_create(&wr));
    for (uint32_t i = 0; i <= f->L; ++i) {
        char name[32];
        snprintf(name, sizeof name, "state.%u", i);
        float *m = malloc(state_numel(f, i) * sizeof *m);
        memcpy(m, f->st[i], state_numel(f, i) * sizeof *m);
        uint64_t shape[3] = {f->B, f->C, 0};
        if (i > 0) {
            transpose_ff(m, f->B, f->F[i - 1]);
            shape[1] = shape[2] = f->F[i - 1];
        }
        CHECK_OK(dvk_st_writer_add(wr, name, DVK_ST_F32, i ? 3 : 2, shape, m));
        free(m);
    }
    char err[256];
    CHECK_OK(dvk_st_writer_save(wr, path, err, sizeof err));
    dvk_st_writer_destroy(wr);
    CHECK_OK(dvk_memodo_state_reset(b));
    CHECK_OK(dvk_memodo_state_restore(b, path));
    check_state(f, "restored from the package's layouts", b, f->st, 0);

    /* The same through host memory: download in the package's layouts gives its states, and
     * an upload of them (or of one sequence's, for every sequence) restores them. */
    CHECK_OK(dvk_memodo_state_reset(b));
    for (uint32_t i = 0; i <= f->L; ++i) {
        const size_t n = state_numel(f, i);
        float *m = malloc(n * sizeof *m), *got = malloc(n * sizeof *got);
        memcpy(m, f->st[i], n * sizeof *m);
        if (i > 0)
            transpose_ff(m, f->B, f->F[i - 1]);
        CHECK_OK(dvk_memodo_state_upload(b, i, m, n));
        CHECK_OK(dvk_memodo_state_download(b, i, got, n));
        assert_memory_equal(m, got, n * sizeof *m);
        CHECK_STATUS(dvk_memodo_state_download(b, i, got, n / f->B), DVK_ERROR_INVALID_ARGUMENT);
        CHECK_STATUS(dvk_memodo_state_upload(b, i, m, n + 1), DVK_ERROR_INVALID_ARGUMENT);
        free(m);
        free(got);
    }
    check_state(f, "uploaded in the package's layouts", b, f->st, 0);
    {
        const size_t n = state_numel(f, 1), seq = n / f->B;
        float *got = malloc(n * sizeof *got);
        CHECK_OK(dvk_memodo_state_upload(b, 1, f->st[1], seq)); /* one sequence's M */
        CHECK_OK(dvk_memodo_state_download(b, 1, got, n));
        for (uint32_t s = 0; s < f->B; ++s) /* every sequence has it */
            assert_memory_equal(got + (size_t)s * seq, f->st[1], seq * sizeof *got);
        float *dev = harness_download(dvk_memodo_state_tensor(b, 1)); /* the device's: Mᵀ */
        for (uint32_t r = 0; r < f->F[0]; ++r)
            for (uint32_t c = 0; c < f->F[0]; ++c)
                assert_true(dev[r * f->F[0] + c] == f->st[1][c * f->F[0] + r]);
        free(dev);
        CHECK_STATUS(dvk_memodo_state_download(b, f->L + 1, got, n), DVK_ERROR_INVALID_ARGUMENT);
        free(got);
    }
    CHECK_OK(dvk_memodo_state_restore(b, path));

    /* A state of batch 1 cannot take it; the fixture is not a state file (extra tensors);
     * nor is a missing file; nor can the odd layer's state. */
    CHECK_OK(dvk_memodo_state_create(f->layer, 1, &one));
    CHECK_STATUS(dvk_memodo_state_restore(one, path), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_memodo_state_restore(b, FIXTURE_PATH), DVK_ERROR_FORMAT);
    tmp_path(bad, sizeof bad, "nofile.safetensors");
    CHECK_STATUS(dvk_memodo_state_restore(b, bad), DVK_ERROR_IO);
    dvk_memodo_state *odd = NULL;
    CHECK_OK(dvk_memodo_state_create(fixtures[1].layer, f->B, &odd));
    CHECK_STATUS(dvk_memodo_state_restore(odd, path), DVK_ERROR_SHAPE_MISMATCH);
    dvk_memodo_state_destroy(odd);
    check_state(f, "after failed restores", b, f->st, 0);
    remove(path);
    dvk_memodo_state_destroy(one);
    dvk_memodo_state_destroy(b);
    free(y);
    free(y_whole);
}

/* 16-bit matrices (vectors, initial states, activations and states stay fp32). */
static void test_16bit(void **state)
{
    (void)state;
    const dvk_dtype dtypes[2] = {DVK_DTYPE_F16, DVK_DTYPE_BF16};
    const char *names[2][2] = {{"fp16", "fp16, README wiring"},
                               {"bf16", "bf16, README wiring"}};
    const double tols[2] = {TOL_F16, TOL_BF16};
    for (int k = 0; k < 2; ++k) {
        if (!harness_have_dtype(names[k][0], dtypes[k]))
            continue;
        for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
            const fixture *f = &fixtures[fi];
            float *y = malloc(y_numel(f) * sizeof *y);
            dvk_memodo_layer *l16 = NULL;
            CHECK_OK(dvk_memodo_load(harness_ctx, f->weights_path,
                                     &(dvk_memodo_load_desc){.dtype = dtypes[k]}, &l16));
            assert_int_equal(dvk_memodo_layer_info(l16)->dtype, dtypes[k]);
            for (int w = 0; w < 2; ++w) {
                dvk_memodo_state *st = NULL;
                CHECK_OK(dvk_memodo_state_create(l16, f->B, &st));
                run(f, l16, st, 0, f->T, &(run_opts){.wiring = (dvk_memodo_wiring)w}, y);
                check_y(f, names[k][w], w ? f->y_readme : f->y, y, tols[k]);
                check_state(f, names[k][w], st, w ? f->st_readme : f->st, tols[k]);
                dvk_memodo_state_destroy(st);
            }
            dvk_memodo_destroy(l16);
            free(y);
        }
    }
}

/* One layer of a model's file: the names under a prefix, other tensors ignored. */
static void test_prefix(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "model.safetensors");
    write_weights(TINY, path, &(file_edit){.prefix = "blocks.3.mix.", .extra = "head.weight"});
    dvk_memodo_layer *l = NULL;
    CHECK_STATUS(dvk_memodo_load(harness_ctx, path, NULL, &l), DVK_ERROR_NOT_FOUND);
    CHECK_OK(dvk_memodo_load(harness_ctx, path,
                             &(dvk_memodo_load_desc){.prefix = "blocks.3.mix."}, &l));
    float *y = malloc(y_numel(TINY) * sizeof *y);
    run(TINY, l, NULL, 0, TINY->T, &(run_opts){0}, y);
    check_y(TINY, "loaded through a prefix", TINY->y, y, TOL_F32);
    free(y);
    dvk_memodo_destroy(l);
    remove(path);
}

/* A layer without heads (attn_feats=[]): loads, has one state tensor, and runs (h = bias). */
static void test_no_heads(void **state)
{
    (void)state;
    const fixture *f = TINY;
    char path[512];
    tmp_path(path, sizeof path, "noheads.safetensors");
    write_weights(f, path, &(file_edit){.skip_prefix = "deltanets."});
    dvk_memodo_layer *l = NULL;
    CHECK_OK(dvk_memodo_load(harness_ctx, path, NULL, &l));
    remove(path);
    assert_int_equal(dvk_memodo_layer_info(l)->num_heads, 0);
    dvk_memodo_state *st = NULL;
    CHECK_OK(dvk_memodo_state_create(l, f->B, &st));
    assert_non_null(dvk_memodo_state_tensor(st, 0));
    assert_null(dvk_memodo_state_tensor(st, 1));
    float *y = malloc(y_numel(f) * sizeof *y);
    for (int w = 0; w < 2; ++w) {
        run(f, l, st, 0, f->T, &(run_opts){.wiring = (dvk_memodo_wiring)w}, y);
        for (size_t i = 0; i < y_numel(f); ++i)
            assert_true(isfinite(y[i]));
    }
    free(y);
    dvk_memodo_state_destroy(st);
    dvk_memodo_destroy(l);
}

static void expect_load(const file_edit *ed, dvk_status want, const char *needle)
{
    char path[512];
    tmp_path(path, sizeof path, "bad.safetensors");
    write_weights(TINY, path, ed);
    dvk_memodo_layer *l = (dvk_memodo_layer *)1;
    CHECK_STATUS(dvk_memodo_load(harness_ctx, path, NULL, &l), want);
    assert_null(l);
    if (!strstr(dvk_last_error(), needle))
        fail_msg("error '%s' does not name '%s'", dvk_last_error(), needle);
    remove(path);
}

/* Missing, extra and wrongly shaped tensors are errors naming them. */
static void test_bad_weights(void **state)
{
    (void)state;
    const fixture *f = TINY;
    /* Every parameter missing in turn (the last head's: the file is then a valid layer of one
     * head, with the rest of that head extra, or missing its `initial`). */
    for (uint32_t i = 0; i < f->n_w; ++i) {
        const char *name = f->w[i].name;
        if (strncmp(name, "deltanets.1.", 12) == 0)
            continue;
        expect_load(&(file_edit){.skip = name}, DVK_ERROR_NOT_FOUND, name);
    }
    expect_load(&(file_edit){.skip = "deltanets.1.initial"}, DVK_ERROR_NOT_FOUND,
                "deltanets.1.initial");
    expect_load(&(file_edit){.skip = "deltanets.1.O.weight"}, DVK_ERROR_NOT_FOUND,
                "deltanets.1.O.weight");
    expect_load(&(file_edit){.extra = "deltanets.0.E.weight"}, DVK_ERROR_FORMAT,
                "deltanets.0.E.weight");
    expect_load(&(file_edit){.extra = "deltanets.2.A.weight"}, DVK_ERROR_NOT_FOUND,
                "deltanets.2.initial");
    expect_load(&(file_edit){.bad = "deltanets.1.B.weight", .bad_ndim = 2, .bad_shape = {16, 63}},
                DVK_ERROR_SHAPE_MISMATCH, "deltanets.1.B.weight");
    expect_load(&(file_edit){.bad = "deltanets.0.initial", .bad_ndim = 2, .bad_shape = {16, 8}},
                DVK_ERROR_SHAPE_MISMATCH, "deltanets.0.initial");
    expect_load(&(file_edit){.bad = "deltanets.0.O.weight", .bad_ndim = 2, .bad_shape = {16, 64}},
                DVK_ERROR_SHAPE_MISMATCH, "deltanets.0.O.weight");
    expect_load(&(file_edit){.bad = "gating.2.weight", .bad_ndim = 2, .bad_shape = {64, 15}},
                DVK_ERROR_SHAPE_MISMATCH, "gating.2.weight");
    expect_load(&(file_edit){.bad = "token_lerp.premix", .bad_ndim = 2, .bad_shape = {1, 64}},
                DVK_ERROR_SHAPE_MISMATCH, "token_lerp.premix");
    expect_load(&(file_edit){.bad = "norm.weight", .bad_ndim = 2, .bad_shape = {1, 64}},
                DVK_ERROR_SHAPE_MISMATCH, "norm.weight");
    dvk_memodo_layer *l = NULL;
    CHECK_STATUS(dvk_memodo_load(harness_ctx, f->weights_path,
                                 &(dvk_memodo_load_desc){.dtype = DVK_DTYPE_I32}, &l),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_memodo_load(NULL, f->weights_path, NULL, &l), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_memodo_load(harness_ctx, NULL, NULL, &l), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_memodo_load_memory(harness_ctx, "garbage", 7, NULL, &l), DVK_ERROR_FORMAT);
}

/* A dry run (pipelines prepared, nothing recorded) of a prefill and a decode step in both
 * wirings, then the real passes: they build no pipeline the dry run did not. */
static void test_dry_run(void **state)
{
    (void)state;
    const fixture *f = TINY;
    const uint64_t s_all[3] = {f->B, f->T, f->C}, s_one[3] = {f->B, 1, f->C};
    const uint64_t s_tm[3] = {f->T, f->B, f->C};
    dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, 3, s_all, f->x);
    dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_tm);
    float *x1 = x_slice(f, 0, 1);
    dvk_tensor *tx1 = harness_tensor(DVK_DTYPE_F32, 3, s_one, x1);
    dvk_tensor *ty1 = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_one);
    dvk_memodo_state *st = NULL;
    CHECK_OK(dvk_memodo_state_create(f->layer, f->B, &st));
    typedef dvk_memodo_forward_desc fd;
    const fd prefill = {.x = tx, .y = ty, .state = st, .mode = DVK_MODE_CHUNK,
                        .time_major_y = true};
    const fd decode = {.x = tx1, .y = ty1, .state = st, .wiring = DVK_MEMODO_WIRING_README};
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, &(dvk_cmd_desc){.dry_run = true}, &cmd));
    CHECK_OK(dvk_memodo_forward(cmd, f->layer, &prefill));
    CHECK_OK(dvk_memodo_forward(cmd, f->layer, &decode));
    const uint32_t prepared = dvk_context_pipeline_count(harness_ctx);
    dvk_cmd_destroy(cmd);
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_memodo_forward(cmd, f->layer, &prefill));
    CHECK_OK(dvk_memodo_forward(cmd, f->layer, &decode));
    harness_run(cmd);
    assert_int_equal(dvk_context_pipeline_count(harness_ctx), prepared);
    float *y = harness_download(ty);
    check_y(f, "after a dry run", f->y_tm, y, TOL_F32);
    free(y);
    y = harness_download(ty1);
    for (size_t i = 0; i < (size_t)f->B * f->C; ++i)
        assert_true(y[i] == y[i]); /* computed: no NaN left of the poison */
    free(y);
    free(x1);
    dvk_cmd_destroy(cmd);
    dvk_memodo_state_destroy(st);
    dvk_tensor_destroy(tx);
    dvk_tensor_destroy(ty);
    dvk_tensor_destroy(tx1);
    dvk_tensor_destroy(ty1);
}

static void test_bad_calls(void **state)
{
    (void)state;
    const fixture *f = TINY;
    const uint64_t s_ok[3] = {f->B, 5, f->C}, s_bad[3] = {f->B, 5, f->C + 1};
    const uint64_t s_b1[3] = {1, 5, f->C}, s_tm[3] = {5, f->B, f->C};
    dvk_tensor *x_ok = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_ok);
    dvk_tensor *y_ok = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_ok);
    dvk_tensor *y_tm = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_tm);
    dvk_tensor *x_bad = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_bad);
    dvk_tensor *x_b1 = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_b1);
    dvk_tensor *y_b1 = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_b1);
    dvk_tensor *x_h = harness_tensor_poisoned(DVK_DTYPE_F16, 3, s_ok);
    dvk_memodo_state *st = NULL, *st_odd = NULL;
    CHECK_OK(dvk_memodo_state_create(f->layer, f->B, &st));
    CHECK_OK(dvk_memodo_state_create(fixtures[1].layer, f->B, &st_odd));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    typedef dvk_memodo_forward_desc fd;
    const dvk_memodo_layer *l = f->layer;
    CHECK_STATUS(dvk_memodo_forward(cmd, l, &(fd){.x = x_bad, .y = y_ok}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_memodo_forward(cmd, l, &(fd){.x = x_ok, .y = y_b1}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_memodo_forward(cmd, l, &(fd){.x = x_ok, .y = y_ok, .time_major_y = true}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_memodo_forward(cmd, l, &(fd){.x = x_ok, .y = y_tm}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_memodo_forward(cmd, l, &(fd){.x = x_b1, .y = y_b1, .state = st}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_memodo_forward(cmd, l, &(fd){.x = x_ok, .y = y_ok, .state = st_odd}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_memodo_forward(cmd, l, &(fd){.x = x_h, .y = y_ok}),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_memodo_forward(cmd, l, &(fd){.x = x_ok, .y = y_ok,
                                                  .wiring = (dvk_memodo_wiring)7}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_memodo_forward(cmd, l, &(fd){.x = x_ok}), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_memodo_forward(cmd, NULL, &(fd){.x = x_ok, .y = y_ok}),
                 DVK_ERROR_INVALID_ARGUMENT);
    dvk_memodo_state_destroy(st);
    dvk_memodo_state_destroy(st_odd);
    CHECK_STATUS(dvk_memodo_state_create(l, 0, &st), DVK_ERROR_INVALID_ARGUMENT);
    assert_null(st);
    dvk_cmd_destroy(cmd);
    dvk_tensor *t[] = {x_ok, y_ok, y_tm, x_bad, x_b1, y_b1, x_h};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i)
        dvk_tensor_destroy(t[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_info, harness_test_teardown),
        cmocka_unit_test_teardown(test_whole, harness_test_teardown),
        cmocka_unit_test_teardown(test_streamed, harness_test_teardown),
        cmocka_unit_test_teardown(test_no_residual, harness_test_teardown),
        cmocka_unit_test_teardown(test_save_restore, harness_test_teardown),
        cmocka_unit_test_teardown(test_16bit, harness_test_teardown),
        cmocka_unit_test_teardown(test_prefix, harness_test_teardown),
        cmocka_unit_test_teardown(test_no_heads, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_weights, harness_test_teardown),
        cmocka_unit_test_teardown(test_dry_run, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_calls, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
