/* The DeltaNet seed's modules (dvk_deltanet_*) against the seed's own code, run by
 * scripts/gen_deltanet_fixtures.py on tiny random weights (d = 16, chunk size 8, B = 2):
 * DeltaNet, TransformerBlock (F = 24) and TransformerDeltaNet (2 layers), and an odd
 * TransformerDeltaNet (d = 12, 3 layers, chunk size 4, B = 1), each from its state_dict
 * (tests/fixtures/deltanet_<name>.safetensors) with inputs and outputs beside it
 * (deltanet_<name>_io.safetensors): at T = the chunk size against the seed as it is, at T = 21
 * (13) against the seed's modules with the token-by-token delta rule. Whole sequence in both
 * rule modes and with fp16/bf16 matrices; streamed in pieces of several lengths and token by
 * token, the outputs `lookahead` tokens late and the flush giving the last ones, the final S
 * against the reference's; a state saved mid-stream and restored; loading through a prefix and
 * as an explicit kind; a dry run; errors of missing, extra and wrongly shaped tensors and of bad
 * calls. */
#include "harness.h"

#include "deltavk_models.h"
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Relative RMS errors allowed: fp32 (the reference's float64 rule rounded to float32, ours in
 * fp32: ~3e-7 measured), 16-bit matrices (their rounding through the products and convs). */
#define TOL_F32 1e-5
#define TOL_F16 5e-3
#define TOL_BF16 3e-2

enum { MAX_LAYERS = 3 };

/* One module of scripts/gen_deltanet_fixtures.py: width D, the seed's chunk size C, B
 * sequences of T tokens (and B of C). */
typedef struct fixture {
    const char *kind_name;
    dvk_deltanet_kind kind;
    uint32_t layers, F, D, C, B, T;
    char path[512], io_path[512];
    float *x_chunk, *y_chunk, *x, *y, *states[MAX_LAYERS];
    dvk_deltanet *layer;
} fixture;

static fixture fixtures[4] = {
    {.kind_name = "layer", .kind = DVK_DELTANET_LAYER, .layers = 1, .D = 16, .C = 8, .B = 2,
     .T = 21},
    {.kind_name = "block", .kind = DVK_DELTANET_BLOCK, .layers = 1, .F = 24, .D = 16, .C = 8,
     .B = 2, .T = 21},
    {.kind_name = "model", .kind = DVK_DELTANET_MODEL, .layers = 2, .D = 16, .C = 8, .B = 2,
     .T = 21},
    {.kind_name = "odd", .kind = DVK_DELTANET_MODEL, .layers = 3, .D = 12, .C = 4, .B = 1,
     .T = 13},
};
enum { N_FIXTURES = 4 };
/* The model fixture's sizes, for the tests of one fixture. */
enum { D = 16, T = 21, B = 2 };
#define LAYER (&fixtures[0])
#define MODEL (&fixtures[2])

static const char *tmpdir(void)
{
    const char *d = getenv("DVK_TEST_TMPDIR");
    return d ? d : "/tmp";
}

static void tmp_path(char *buf, size_t len, const char *what)
{
    snprintf(buf, len, "%s/test_deltanet_%ld_%s", tmpdir(), (long)getpid(), what);
}

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
    snprintf(f->path, sizeof f->path, "%s/deltanet_%s.safetensors", DVK_FIXTURE_DIR,
             f->kind_name);
    snprintf(f->io_path, sizeof f->io_path, "%s/deltanet_%s_io.safetensors", DVK_FIXTURE_DIR,
             f->kind_name);
    dvk_weights *w = NULL;
    if (dvk_weights_load(NULL, f->io_path, NULL, &w) != DVK_SUCCESS) {
        fprintf(stderr, "%s\n", dvk_last_error());
        return -1;
    }
    const uint64_t n_chunk = (uint64_t)f->B * f->C * f->D, n_all = (uint64_t)f->B * f->T * f->D;
    f->x_chunk = read_all(w, "x_chunk", n_chunk);
    f->y_chunk = read_all(w, "y_chunk", n_chunk);
    f->x = read_all(w, "x", n_all);
    f->y = read_all(w, "y", n_all);
    bool ok = f->x_chunk && f->y_chunk && f->x && f->y;
    for (uint32_t i = 0; i < f->layers; ++i) {
        char name[32];
        snprintf(name, sizeof name, "state.%u", i);
        f->states[i] = read_all(w, name, (uint64_t)f->B * f->D * f->D);
        ok = ok && f->states[i];
    }
    dvk_weights_destroy(w);
    if (!ok) {
        fprintf(stderr, "%s: not the tensors this test expects\n", f->io_path);
        return -1;
    }
    if (dvk_deltanet_load(harness_ctx, f->path, NULL, &f->layer) != DVK_SUCCESS) {
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
        dvk_deltanet_destroy(f->layer);
        free(f->x_chunk);
        free(f->y_chunk);
        free(f->x);
        free(f->y);
        for (uint32_t j = 0; j < MAX_LAYERS; ++j)
            free(f->states[j]);
    }
    return harness_group_teardown(state);
}

static void check_close(const fixture *f, const char *what, const float *ref, const float *got,
                        size_t n, double tol)
{
    char label[160];
    snprintf(label, sizeof label, "%s: %s", f->kind_name, what);
    double *r = malloc(n * sizeof *r);
    for (size_t i = 0; i < n; ++i)
        r[i] = ref[i];
    harness_check("deltanet", label, r, got, n, tol);
    free(r);
}

/* One recorded and submitted forward: x [B, n, D] (NULL with flush) -> y [B, n_out, D]. */
static float *run(const fixture *f, const dvk_deltanet *l, dvk_deltanet_state *st,
                  const float *x, uint32_t n, uint32_t n_out, bool flush, dvk_mode mode)
{
    const uint64_t sx[3] = {f->B, n, f->D}, sy[3] = {f->B, n_out, f->D};
    dvk_tensor *tx = x ? harness_tensor(DVK_DTYPE_F32, 3, sx, x) : NULL;
    dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, 3, sy);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_deltanet_forward(cmd, l, &(dvk_deltanet_forward_desc){
                                              .x = tx, .y = ty, .state = st, .flush = flush,
                                              .mode = mode}));
    harness_run(cmd);
    float *y = harness_download(ty);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tx);
    dvk_tensor_destroy(ty);
    return y;
}

/* Tokens [t0, t0 + n) of the fixture's x [B, T, D]. */
static float *slice(const fixture *f, uint32_t t0, uint32_t n)
{
    const size_t D_ = f->D;
    float *s = malloc((size_t)f->B * n * D_ * sizeof *s);
    for (uint32_t b = 0; b < f->B; ++b)
        memcpy(s + (size_t)b * n * D_, f->x + ((size_t)b * f->T + t0) * D_,
               (size_t)n * D_ * sizeof *s);
    return s;
}

static size_t y_numel(const fixture *f) { return (size_t)f->B * f->T * f->D; }

/* Streams x in the given pieces then flushes; returns the outputs of tokens 0 .. T−1 put back
 * in order ([B, T, D]), checking that those before token 0 came out as zeros. */
static float *stream(const fixture *f, const dvk_deltanet *l, dvk_deltanet_state *st,
                     const uint32_t *pieces, uint32_t n_pieces, uint32_t t_start, dvk_mode mode)
{
    const uint32_t A = dvk_deltanet_layer_info(l)->lookahead, Dm = f->D;
    float *y = calloc(y_numel(f), sizeof *y);
    uint32_t at = t_start;
    for (uint32_t p = 0; p <= n_pieces; ++p) {
        const bool flush = p == n_pieces;
        const uint32_t n = flush ? A : pieces[p];
        float *xs = flush ? NULL : slice(f, at, n);
        float *ys = run(f, l, st, xs, n, n, flush, mode);
        const int64_t first = (int64_t)(flush ? f->T : at) - A;
        for (uint32_t b = 0; b < f->B; ++b)
            for (uint32_t i = 0; i < n; ++i) {
                const int64_t t = first + i;
                const float *src = ys + ((size_t)b * n + i) * Dm;
                if (t < 0) {
                    for (uint32_t c = 0; c < Dm; ++c)
                        assert_true(src[c] == 0.0f);
                } else {
                    memcpy(y + ((size_t)b * f->T + (size_t)t) * Dm, src, Dm * sizeof *y);
                }
            }
        free(xs);
        free(ys);
        if (!flush)
            at += n;
    }
    assert_int_equal(dvk_deltanet_state_position(st), f->T);
    return y;
}

static void check_states(const fixture *f, const char *what, const dvk_deltanet_state *st,
                         double tol)
{
    for (uint32_t i = 0; i < f->layers; ++i) {
        float *S = harness_download(dvk_deltanet_state_tensor(st, i, DVK_DELTANET_RECURRENT));
        char label[128];
        snprintf(label, sizeof label, "%s: final S of module %u", what, i);
        check_close(f, label, f->states[i], S, (size_t)f->B * f->D * f->D, tol);
        free(S);
    }
}

static void test_info(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < N_FIXTURES; ++i) {
        const fixture *f = &fixtures[i];
        const dvk_deltanet_info *in = dvk_deltanet_layer_info(f->layer);
        assert_int_equal(in->kind, f->kind);
        assert_int_equal(in->d_model, f->D);
        assert_int_equal(in->num_layers, f->layers);
        assert_int_equal(in->lookahead, f->layers);
        assert_int_equal(in->ff_hidden_dim, f->F);
        assert_int_equal(in->dtype, DVK_DTYPE_F32);
        dvk_deltanet_state *st = NULL;
        CHECK_OK(dvk_deltanet_state_create(f->layer, f->B, &st));
        dvk_tensor *c = dvk_deltanet_state_tensor(st, 0, DVK_DELTANET_CONV_V);
        assert_int_equal(dvk_tensor_dim(c, 1), 2);
        assert_int_equal(dvk_tensor_dim(c, 2), f->D);
        dvk_tensor *s = dvk_deltanet_state_tensor(st, f->layers - 1, DVK_DELTANET_RECURRENT);
        assert_int_equal(dvk_tensor_ndim(s), 4);
        assert_int_equal(dvk_tensor_dim(s, 3), f->D);
        assert_null(dvk_deltanet_state_tensor(st, f->layers, DVK_DELTANET_CONV_Q));
        assert_null(dvk_deltanet_state_tensor(st, 0, (dvk_deltanet_state_part)5));
        dvk_deltanet_state_destroy(st);
    }
    dvk_deltanet_state_destroy(NULL);
    dvk_deltanet_destroy(NULL);
}

/* Whole sequences: at T = the chunk size as the seed's own code, at T = 21 (13) as the delta
 * rule token by token (the seed's chunked function cannot run there), in both rule modes. */
static void test_whole(void **state)
{
    (void)state;
    const dvk_mode modes[2] = {DVK_MODE_RECURRENT, DVK_MODE_CHUNK};
    const char *names[2] = {"recurrent", "chunked"};
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        for (int i = 0; i < 2; ++i) {
            char what[96];
            float *y = run(f, f->layer, NULL, f->x_chunk, f->C, f->C, false, modes[i]);
            snprintf(what, sizeof what, "T = chunk size, %s, vs the seed's chunk_delta_rule",
                     names[i]);
            check_close(f, what, f->y_chunk, y, (size_t)f->B * f->C * f->D, TOL_F32);
            free(y);
            y = run(f, f->layer, NULL, f->x, f->T, f->T, false, modes[i]);
            snprintf(what, sizeof what, "T = %u, %s, vs the token-by-token rule", f->T,
                     names[i]);
            check_close(f, what, f->y, y, y_numel(f), TOL_F32);
            free(y);
        }
    }
}

/* Streamed in pieces (token by token; 5 + 7 + the rest, with the recurrent and the chunked
 * rule; 2 + the rest) and flushed: every output as the whole sequence's, `lookahead` tokens
 * late, and the final S as the reference's. */
static void test_streamed(void **state)
{
    (void)state;
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        uint32_t ones[64];
        for (uint32_t t = 0; t < f->T; ++t)
            ones[t] = 1;
        const uint32_t three[3] = {5, 7, f->T - 12}, two[2] = {2, f->T - 2};
        const struct {
            const uint32_t *p;
            uint32_t n;
            const char *name;
            dvk_mode mode;
        } plans[4] = {{ones, f->T, "token by token", DVK_MODE_DEFAULT},
                      {three, 3, "5 + 7 + the rest", DVK_MODE_DEFAULT},
                      {two, 2, "2 + the rest", DVK_MODE_DEFAULT},
                      {three, 3, "5 + 7 + the rest, chunked rule", DVK_MODE_CHUNK}};
        dvk_deltanet_state *st = NULL;
        CHECK_OK(dvk_deltanet_state_create(f->layer, f->B, &st));
        for (int p = 0; p < 4; ++p) {
            CHECK_OK(dvk_deltanet_state_reset(st));
            float *y = stream(f, f->layer, st, plans[p].p, plans[p].n, 0, plans[p].mode);
            check_close(f, plans[p].name, f->y, y, y_numel(f), TOL_F32);
            check_states(f, plans[p].name, st, TOL_F32);
            free(y);
        }
        /* Ended: only a reset or restore continues. */
        float *x1 = slice(f, 0, 1);
        const uint64_t s1[3] = {f->B, 1, f->D};
        dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, 3, s1, x1);
        dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s1);
        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_STATUS(dvk_deltanet_forward(cmd, f->layer,
                                          &(dvk_deltanet_forward_desc){.x = tx, .y = ty,
                                                                       .state = st}),
                     DVK_ERROR_INVALID_ARGUMENT);
        dvk_cmd_destroy(cmd);
        dvk_tensor_destroy(tx);
        dvk_tensor_destroy(ty);
        free(x1);
        dvk_deltanet_state_destroy(st);
    }
}

/* Sequences as short as the lookahead or shorter: one token, and two, streamed and flushed (in
 * a stack every output of the first call is before token 0) give the whole calls' outputs. */
static void test_short_streams(void **state)
{
    (void)state;
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        const uint32_t A = dvk_deltanet_layer_info(f->layer)->lookahead, Dm = f->D;
        for (uint32_t n = 1; n <= 2; ++n) {
            float *xs = slice(f, 0, n);
            float *whole = run(f, f->layer, NULL, xs, n, n, false, DVK_MODE_DEFAULT);
            dvk_deltanet_state *st = NULL;
            CHECK_OK(dvk_deltanet_state_create(f->layer, f->B, &st));
            float *head = run(f, f->layer, st, xs, n, n, false, DVK_MODE_DEFAULT);
            float *tail = run(f, f->layer, st, NULL, A, A, true, DVK_MODE_DEFAULT);
            /* head holds tokens −A .. n−1−A, tail n−A .. n−1: gather tokens 0 .. n−1. */
            float *y = malloc((size_t)f->B * n * Dm * sizeof *y);
            for (uint32_t b = 0; b < f->B; ++b)
                for (uint32_t t = 0; t < n; ++t) {
                    const uint32_t ih = t + A, it = t + A - n;
                    const float *src = ih < n ? head + ((size_t)b * n + ih) * Dm
                                              : tail + ((size_t)b * A + it) * Dm;
                    memcpy(y + ((size_t)b * n + t) * Dm, src, Dm * sizeof *y);
                }
            for (size_t i = 0; A >= n && i < (size_t)f->B * n * Dm; ++i)
                assert_true(head[i] == 0.0f);
            char what[64];
            snprintf(what, sizeof what, "%u token(s) streamed and flushed", n);
            check_close(f, what, whole, y, (size_t)f->B * n * Dm, TOL_F32);
            dvk_deltanet_state_destroy(st);
            free(xs);
            free(whole);
            free(head);
            free(tail);
            free(y);
        }
    }
}

/* The stack's state after 9 tokens saved and restored into a new state object: the rest of
 * the stream continues as the uninterrupted one. Bad files leave the state as it was. */
static void test_save_restore(void **state)
{
    (void)state;
    const fixture *f = MODEL;
    char path[512], bad[512];
    tmp_path(path, sizeof path, "state.safetensors");
    dvk_deltanet_state *a = NULL, *b = NULL, *other = NULL;
    CHECK_OK(dvk_deltanet_state_create(f->layer, B, &a));
    float *head = slice(f, 0, 9);
    float *y_head = run(f, f->layer, a, head, 9, 9, false, DVK_MODE_DEFAULT);
    CHECK_OK(dvk_deltanet_state_save(a, path));
    dvk_deltanet_state_destroy(a);
    CHECK_OK(dvk_deltanet_state_create(f->layer, B, &b));
    CHECK_OK(dvk_deltanet_state_restore(b, path));
    assert_int_equal(dvk_deltanet_state_position(b), 9);
    const uint32_t rest[1] = {T - 9};
    float *y = stream(f, f->layer, b, rest, 1, 9, DVK_MODE_DEFAULT);
    /* Outputs of tokens 7 .. 20 came after the restore; 0 .. 6 before it. */
    for (uint32_t bb = 0; bb < B; ++bb)
        for (uint32_t t = 0; t + 2 < 9; ++t)
            memcpy(y + ((size_t)bb * T + t) * D, y_head + ((size_t)bb * 9 + t + 2) * D,
                   D * sizeof *y);
    check_close(f, "restored continuation", f->y, y, y_numel(f), TOL_F32);
    check_states(f, "restored continuation", b, TOL_F32);

    CHECK_OK(dvk_deltanet_state_create(f->layer, 1, &other));
    CHECK_STATUS(dvk_deltanet_state_restore(other, path), DVK_ERROR_SHAPE_MISMATCH);
    dvk_deltanet_state_destroy(other);
    CHECK_OK(dvk_deltanet_state_create(LAYER->layer, B, &other));
    CHECK_STATUS(dvk_deltanet_state_restore(other, path), DVK_ERROR_FORMAT); /* extra tensors */
    dvk_deltanet_state_destroy(other);
    CHECK_STATUS(dvk_deltanet_state_restore(b, f->path), DVK_ERROR_FORMAT);
    tmp_path(bad, sizeof bad, "nofile.safetensors");
    CHECK_STATUS(dvk_deltanet_state_restore(b, bad), DVK_ERROR_IO);
    check_states(f, "after failed restores", b, TOL_F32);
    assert_int_equal(dvk_deltanet_state_position(b), T);
    remove(path);
    dvk_deltanet_state_destroy(b);
    free(head);
    free(y_head);
    free(y);
}

/* 16-bit matrices, whole and streamed. */
static void test_16bit(void **state)
{
    (void)state;
    const dvk_dtype dtypes[2] = {DVK_DTYPE_F16, DVK_DTYPE_BF16};
    const char *names[2] = {"fp16 matrices", "bf16 matrices"};
    const double tols[2] = {TOL_F16, TOL_BF16};
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        const uint32_t pieces[2] = {6, f->T - 6};
        for (int i = 0; i < 2; ++i) {
            if (!harness_have_dtype(names[i], dtypes[i]))
                continue;
            dvk_deltanet *l = NULL;
            CHECK_OK(dvk_deltanet_load(harness_ctx, f->path,
                                       &(dvk_deltanet_load_desc){.dtype = dtypes[i]}, &l));
            assert_int_equal(dvk_deltanet_layer_info(l)->dtype, dtypes[i]);
            float *y = run(f, l, NULL, f->x, f->T, f->T, false, DVK_MODE_DEFAULT);
            check_close(f, names[i], f->y, y, y_numel(f), tols[i]);
            free(y);
            dvk_deltanet_state *st = NULL;
            CHECK_OK(dvk_deltanet_state_create(l, f->B, &st));
            y = stream(f, l, st, pieces, 2, 0, DVK_MODE_DEFAULT);
            check_close(f, names[i], f->y, y, y_numel(f), tols[i]);
            free(y);
            dvk_deltanet_state_destroy(st);
            dvk_deltanet_destroy(l);
        }
    }
}

/* A weights file: the layer fixture's parameters under `prefix`, `skip` left out, `bad` given
 * shape bad_shape (zeros), `extra` added. */
typedef struct file_edit {
    const char *prefix, *skip, *bad, *extra;
    uint32_t bad_ndim;
    uint64_t bad_shape[4];
} file_edit;

static void write_weights(const char *src, const char *path, const file_edit *ed)
{
    dvk_weights *w = NULL;
    CHECK_OK(dvk_weights_load(NULL, src, NULL, &w));
    dvk_st_writer *wr = NULL;
    CHECK_OK(dvk_st_writer_create(&wr));
    char name[256];
    for (uint32_t i = 0; i < dvk_weights_count(w); ++i) {
        const char *n = dvk_weights_name(w, i);
        if (ed->skip && strcmp(ed->skip, n) == 0)
            continue;
        snprintf(name, sizeof name, "%s%s", ed->prefix ? ed->prefix : "", n);
        dvk_weights_entry e;
        CHECK_OK(dvk_weights_find(w, n, &e));
        uint32_t nd = e.ndim;
        uint64_t shape[DVK_WEIGHTS_MAX_DIMS], numel = e.numel;
        memcpy(shape, e.shape, sizeof shape);
        if (ed->bad && strcmp(ed->bad, n) == 0) {
            nd = ed->bad_ndim;
            numel = 1;
            for (uint32_t d = 0; d < nd; ++d)
                numel *= shape[d] = ed->bad_shape[d];
        }
        float *data = calloc((size_t)numel, sizeof *data);
        if (!(ed->bad && strcmp(ed->bad, n) == 0))
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

static void expect_load(const char *src, const file_edit *ed, const dvk_deltanet_load_desc *desc,
                        dvk_status want, const char *needle)
{
    char path[512];
    tmp_path(path, sizeof path, "bad.safetensors");
    write_weights(src, path, ed);
    dvk_deltanet *l = (dvk_deltanet *)1;
    CHECK_STATUS(dvk_deltanet_load(harness_ctx, path, desc, &l), want);
    assert_null(l);
    if (!strstr(dvk_last_error(), needle))
        fail_msg("error '%s' does not name '%s'", dvk_last_error(), needle);
    remove(path);
}

/* A module out of a larger file through a prefix; the kind given explicitly. */
static void test_prefix(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "prefixed.safetensors");
    write_weights(MODEL->path, path, &(file_edit){.prefix = "encoder.", .extra = "head.weight"});
    dvk_deltanet *l = NULL;
    CHECK_OK(dvk_deltanet_load(harness_ctx, path,
                               &(dvk_deltanet_load_desc){.prefix = "encoder.",
                                                         .kind = DVK_DELTANET_MODEL},
                               &l));
    float *y = run(MODEL, l, NULL, MODEL->x, T, T, false, DVK_MODE_DEFAULT);
    check_close(MODEL, "through a prefix", MODEL->y, y, y_numel(MODEL), TOL_F32);
    free(y);
    dvk_deltanet_destroy(l);
    remove(path);
    /* The block's file read as a plain DeltaNet: its names are not there. */
    CHECK_STATUS(dvk_deltanet_load(harness_ctx, fixtures[1].path,
                                   &(dvk_deltanet_load_desc){.kind = DVK_DELTANET_LAYER}, &l),
                 DVK_ERROR_NOT_FOUND);
    assert_null(l);
}

static void test_bad_weights(void **state)
{
    (void)state;
    const char *names[] = {"q_linear.weight", "k_conv.bias", "v_conv.weight",
                           "beta_linear.bias", "rms_norm.scale", "output_linear.weight"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i)
        expect_load(LAYER->path, &(file_edit){.skip = names[i]}, NULL, DVK_ERROR_NOT_FOUND,
                    names[i]);
    expect_load(fixtures[1].path, &(file_edit){.skip = "ffn.0.bias"}, NULL, DVK_ERROR_NOT_FOUND,
                "ffn.0.bias");
    expect_load(MODEL->path, &(file_edit){.skip = "final_rms_norm.scale"}, NULL,
                DVK_ERROR_NOT_FOUND, "final_rms_norm.scale");
    expect_load(MODEL->path, &(file_edit){.skip = "layers.1.k_linear.bias"}, NULL,
                DVK_ERROR_NOT_FOUND, "layers.1.k_linear.bias");
    expect_load(LAYER->path, &(file_edit){.extra = "q_norm.weight"}, NULL, DVK_ERROR_FORMAT,
                "q_norm.weight");
    expect_load(LAYER->path,
                &(file_edit){.bad = "k_conv.weight", .bad_ndim = 3, .bad_shape = {D, 1, 3}},
                NULL, DVK_ERROR_SHAPE_MISMATCH, "k_conv.weight");
    expect_load(LAYER->path,
                &(file_edit){.bad = "beta_linear.weight", .bad_ndim = 2, .bad_shape = {2, D}},
                NULL, DVK_ERROR_SHAPE_MISMATCH, "beta_linear.weight");
    expect_load(LAYER->path,
                &(file_edit){.bad = "q_linear.weight", .bad_ndim = 2, .bad_shape = {D, D + 1}},
                NULL, DVK_ERROR_SHAPE_MISMATCH, "q_linear.weight");
    expect_load(fixtures[1].path,
                &(file_edit){.bad = "ffn.0.weight", .bad_ndim = 2, .bad_shape = {47, D}}, NULL,
                DVK_ERROR_SHAPE_MISMATCH, "ffn.0.weight");
    expect_load(LAYER->path, &(file_edit){.skip = "q_linear.weight"}, NULL, DVK_ERROR_NOT_FOUND,
                "q_linear.weight");
    dvk_deltanet *l = NULL;
    CHECK_STATUS(dvk_deltanet_load(harness_ctx, LAYER->path,
                                   &(dvk_deltanet_load_desc){.dtype = DVK_DTYPE_I32}, &l),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_deltanet_load(NULL, LAYER->path, NULL, &l), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_deltanet_load(harness_ctx, NULL, NULL, &l), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_deltanet_load_memory(harness_ctx, "garbage", 7, NULL, &l),
                 DVK_ERROR_FORMAT);
}

/* A dry run of a whole call and a streamed one prepares every pipeline the real ones use. */
static void test_dry_run(void **state)
{
    (void)state;
    const fixture *f = MODEL;
    const uint64_t s[3] = {B, T, D};
    dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, 3, s, f->x);
    dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s);
    dvk_tensor *ty2 = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s);
    dvk_deltanet_state *st = NULL;
    CHECK_OK(dvk_deltanet_state_create(f->layer, B, &st));
    const dvk_deltanet_forward_desc whole = {.x = tx, .y = ty};
    const dvk_deltanet_forward_desc streamed = {.x = tx, .y = ty2, .state = st};
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, &(dvk_cmd_desc){.dry_run = true}, &cmd));
    CHECK_OK(dvk_deltanet_forward(cmd, f->layer, &whole));
    CHECK_OK(dvk_deltanet_forward(cmd, f->layer, &streamed));
    const uint32_t prepared = dvk_context_pipeline_count(harness_ctx);
    dvk_cmd_destroy(cmd);
    CHECK_OK(dvk_deltanet_state_reset(st));
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_deltanet_forward(cmd, f->layer, &whole));
    CHECK_OK(dvk_deltanet_forward(cmd, f->layer, &streamed));
    harness_run(cmd);
    assert_int_equal(dvk_context_pipeline_count(harness_ctx), prepared);
    float *y = harness_download(ty);
    check_close(f, "after a dry run", f->y, y, y_numel(f), TOL_F32);
    free(y);
    dvk_cmd_destroy(cmd);
    dvk_deltanet_state_destroy(st);
    dvk_tensor_destroy(tx);
    dvk_tensor_destroy(ty);
    dvk_tensor_destroy(ty2);
}

static void test_bad_calls(void **state)
{
    (void)state;
    const dvk_deltanet *l = MODEL->layer;
    const uint64_t s_ok[3] = {B, 5, D}, s_bad[3] = {B, 5, D + 1}, s_b1[3] = {1, 5, D},
                   s_two[3] = {B, 2, D}, s_one[3] = {B, 1, D};
    dvk_tensor *x_ok = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_ok);
    dvk_tensor *y_ok = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_ok);
    dvk_tensor *x_bad = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_bad);
    dvk_tensor *x_b1 = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_b1);
    dvk_tensor *y_b1 = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_b1);
    dvk_tensor *y_two = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_two);
    dvk_tensor *y_one = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_one);
    dvk_deltanet_state *st = NULL, *other = NULL;
    CHECK_OK(dvk_deltanet_state_create(l, B, &st));
    CHECK_OK(dvk_deltanet_state_create(LAYER->layer, B, &other));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    typedef dvk_deltanet_forward_desc fd;
    CHECK_STATUS(dvk_deltanet_forward(cmd, l, &(fd){.x = x_bad, .y = y_ok}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_deltanet_forward(cmd, l, &(fd){.x = x_ok, .y = y_b1}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_deltanet_forward(cmd, l, &(fd){.x = x_b1, .y = y_b1, .state = st}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_deltanet_forward(cmd, l, &(fd){.x = x_ok, .y = y_ok, .state = other}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_deltanet_forward(cmd, l, &(fd){.y = y_two, .flush = true}),
                 DVK_ERROR_INVALID_ARGUMENT); /* flush without a state */
    CHECK_STATUS(dvk_deltanet_forward(cmd, l, &(fd){.x = x_ok, .y = y_two, .state = st,
                                                    .flush = true}),
                 DVK_ERROR_INVALID_ARGUMENT); /* flush with x */
    CHECK_STATUS(dvk_deltanet_forward(cmd, l, &(fd){.y = y_one, .state = st, .flush = true}),
                 DVK_ERROR_SHAPE_MISMATCH); /* the stack's lookahead is 2 */
    CHECK_STATUS(dvk_deltanet_forward(cmd, l, &(fd){.x = x_ok}), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_deltanet_forward(cmd, NULL, &(fd){.x = x_ok, .y = y_ok}),
                 DVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(dvk_deltanet_state_position(st), 0);
    dvk_deltanet_state *none = NULL;
    CHECK_STATUS(dvk_deltanet_state_create(l, 0, &none), DVK_ERROR_INVALID_ARGUMENT);
    assert_null(none);
    dvk_cmd_destroy(cmd);
    dvk_deltanet_state_destroy(st);
    dvk_deltanet_state_destroy(other);
    dvk_tensor *t[] = {x_ok, y_ok, x_bad, x_b1, y_b1, y_two, y_one};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i)
        dvk_tensor_destroy(t[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_info, harness_test_teardown),
        cmocka_unit_test_teardown(test_whole, harness_test_teardown),
        cmocka_unit_test_teardown(test_streamed, harness_test_teardown),
        cmocka_unit_test_teardown(test_short_streams, harness_test_teardown),
        cmocka_unit_test_teardown(test_save_restore, harness_test_teardown),
        cmocka_unit_test_teardown(test_16bit, harness_test_teardown),
        cmocka_unit_test_teardown(test_prefix, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_weights, harness_test_teardown),
        cmocka_unit_test_teardown(test_dry_run, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_calls, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
