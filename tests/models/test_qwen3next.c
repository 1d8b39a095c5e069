/* Qwen3-Next's Gated DeltaNet layer (dvk_qwen3_next_gdn_*) against transformers'
 * Qwen3NextGatedDeltaNet on two tiny random configurations made by
 * scripts/gen_qwen3next_fixtures.py (tests/fixtures/qwen3next_gdn_tiny.safetensors: D = 64, 2
 * key heads and 4 value heads of 16, conv kernel 4, B = 2, T = 37; qwen3next_gdn_odd: D = 40, 3
 * key heads of 8 and 3 value heads of 12, kernel 3, B = 1, T = 23): the output and both final
 * states of one call (recurrent and chunked), token by token and in two segments with the
 * state carried, fp16 and bf16 projections. On the first: a state saved mid-sequence and
 * restored into a new state object continuing as the uninterrupted run, loading from a model's
 * file through a prefix, a dry run, and the errors of missing, extra and wrongly shaped tensors
 * and of bad calls. */
#include "harness.h"

#include "deltavk_models.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURE_PATH DVK_FIXTURE_DIR "/qwen3next_gdn_tiny.safetensors"
#define FIXTURE_ODD_PATH DVK_FIXTURE_DIR "/qwen3next_gdn_odd.safetensors"

/* Relative RMS errors allowed: fp32 against transformers (its float32 chunked rule, our
 * recurrent or chunked one: ~5e-7 measured), and with 16-bit projections (their rounding,
 * 2^-11 (fp16) or 2^-8 (bf16) relative per weight, through three products: ~6e-4 and ~5e-3
 * measured). */
#define TOL_F32 1e-5
#define TOL_F16 2e-3
#define TOL_BF16 1.5e-2

static const char *const weight_names[] = {"in_proj_qkvz.weight", "in_proj_ba.weight",
                                           "conv1d.weight",       "dt_bias",
                                           "A_log",               "norm.weight",
                                           "out_proj.weight"};
enum { N_WEIGHTS = sizeof weight_names / sizeof weight_names[0] };

typedef struct host_tensor {
    uint32_t ndim;
    uint64_t shape[DVK_WEIGHTS_MAX_DIMS];
    uint64_t numel;
    float *data;
} host_tensor;

/* One fixture of scripts/gen_qwen3next_fixtures.py and the layer loaded from its weights. */
typedef struct fixture {
    const char *name, *path;
    uint32_t B, T, D, H, K, HV, V, W, CD, split;
    host_tensor weights[N_WEIGHTS];
    float *x, *y_ref, *y_seg_ref, *y_tok_ref, *rec_ref, *conv_ref; /* conv_ref as ours */
    char weights_path[512];
    dvk_qwen3_next_gdn *layer; /* fp32 */
} fixture;

/* tiny: D 64, 2 key heads and 4 value heads of 16, W 4, B 2, T 37 (split 20);
 * odd: D 40, 3 key heads of 8, 3 value heads of 12, W 3, B 1, T 23 (split 9). */
static fixture fixtures[2] = {
    {.name = "tiny", .path = FIXTURE_PATH, .B = 2, .T = 37, .D = 64, .H = 2, .K = 16, .HV = 4,
     .V = 16, .W = 4, .CD = 128, .split = 20},
    {.name = "odd", .path = FIXTURE_ODD_PATH, .B = 1, .T = 23, .D = 40, .H = 3, .K = 8,
     .HV = 3, .V = 12, .W = 3, .CD = 84, .split = 9},
};
enum { N_FIXTURES = sizeof fixtures / sizeof fixtures[0] };

/* The tiny fixture's sizes, for the tests of errors. */
enum { B = 2, T = 37, D = 64, HV = 4, K = 16, V = 16, W = 4, CD = 128 };
#define TINY (&fixtures[0])

static const char *tmpdir(void)
{
    const char *d = getenv("DVK_TEST_TMPDIR");
    return d ? d : "/tmp";
}

static void tmp_path(char *buf, size_t len, const char *what)
{
    snprintf(buf, len, "%s/test_qwen3next_%ld_%s", tmpdir(), (long)getpid(), what);
}

static void check_close(const char *what, const float *ref, const float *got, size_t n, double tol)
{
    double *r = malloc(n * sizeof *r);
    for (size_t i = 0; i < n; ++i)
        r[i] = ref[i];
    harness_check("qwen3_next_gdn", what, r, got, n, tol);
    free(r);
}

static int read_host(dvk_weights *w, const char *name, host_tensor *out)
{
    dvk_weights_entry e;
    if (dvk_weights_find(w, name, &e) != DVK_SUCCESS)
        return -1;
    out->ndim = e.ndim;
    memcpy(out->shape, e.shape, sizeof e.shape);
    out->numel = e.numel;
    out->data = malloc((size_t)e.numel * sizeof *out->data);
    return dvk_weights_read(w, name, DVK_DTYPE_F32, out->data,
                            (size_t)e.numel * sizeof *out->data) == DVK_SUCCESS
               ? 0
               : -1;
}

/* A weights file: the fixture's parameters under `prefix`, with `skip` left out, `bad` given
 * the shape `bad_shape` (same numel or not: the data are zeros then) and `extra` added. */
typedef struct file_edit {
    const char *prefix;
    const char *skip;
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
    for (uint32_t i = 0; i < N_WEIGHTS; ++i) {
        if (ed->skip && strcmp(ed->skip, weight_names[i]) == 0)
            continue;
        snprintf(name, sizeof name, "%s%s", ed->prefix ? ed->prefix : "", weight_names[i]);
        const host_tensor *h = &f->weights[i];
        if (ed->bad && strcmp(ed->bad, weight_names[i]) == 0) {
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

static int load_fixture(fixture *f)
{
    dvk_weights *w = NULL;
    if (dvk_weights_load(NULL, f->path, NULL, &w) != DVK_SUCCESS) {
        fprintf(stderr, "%s\n", dvk_last_error());
        return -1;
    }
    for (uint32_t i = 0; i < N_WEIGHTS; ++i)
        if (read_host(w, weight_names[i], &f->weights[i]) != 0)
            return -1;
    host_tensor t[6];
    const char *names[6] = {"x", "y", "y_seg", "y_tok", "recurrent_state", "conv_state"};
    for (int i = 0; i < 6; ++i)
        if (read_host(w, names[i], &t[i]) != 0)
            return -1;
    dvk_weights_destroy(w);
    if (t[0].numel != (uint64_t)f->B * f->T * f->D ||
        t[4].numel != (uint64_t)f->B * f->HV * f->K * f->V ||
        t[5].numel != (uint64_t)f->B * f->CD * f->W) {
        fprintf(stderr, "%s: not the sizes this test expects\n", f->path);
        return -1;
    }
    f->x = t[0].data;
    f->y_ref = t[1].data;
    f->y_seg_ref = t[2].data;
    f->y_tok_ref = t[3].data;
    f->rec_ref = t[4].data;
    /* transformers' conv state [B, CD, W] (the last W inputs) -> ours [B, W-1, CD]. */
    const size_t nc = (size_t)f->B * (f->W - 1) * f->CD;
    f->conv_ref = malloc(nc * sizeof *f->conv_ref);
    for (uint32_t b = 0; b < f->B; ++b)
        for (uint32_t j = 0; j + 1 < f->W; ++j)
            for (uint32_t c = 0; c < f->CD; ++c)
                f->conv_ref[((size_t)b * (f->W - 1) + j) * f->CD + c] =
                    t[5].data[((size_t)b * f->CD + c) * f->W + j + 1];
    free(t[5].data);
    snprintf(f->weights_path, sizeof f->weights_path, "%s/test_qwen3next_%ld_%s.safetensors",
             tmpdir(), (long)getpid(), f->name);
    write_weights(f, f->weights_path, &(file_edit){0});
    /* head_k_dim: the odd fixture's key heads (8) differ from its value heads (12). */
    const dvk_qwen3_next_gdn_load_desc desc = {.head_k_dim = f->K == f->V ? 0 : f->K};
    if (dvk_qwen3_next_gdn_load(harness_ctx, f->weights_path, &desc, &f->layer) != DVK_SUCCESS) {
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
        dvk_qwen3_next_gdn_destroy(f->layer);
        remove(f->weights_path);
        for (uint32_t j = 0; j < N_WEIGHTS; ++j)
            free(f->weights[j].data);
        free(f->x);
        free(f->y_ref);
        free(f->y_seg_ref);
        free(f->y_tok_ref);
        free(f->rec_ref);
        free(f->conv_ref);
    }
    return harness_group_teardown(state);
}

/* Tokens [t0, t0 + n) of the fixture's x, as [B, n, D]. */
static float *x_slice(const fixture *f, uint32_t t0, uint32_t n)
{
    float *s = malloc((size_t)f->B * n * f->D * sizeof *s);
    for (uint32_t b = 0; b < f->B; ++b)
        memcpy(s + (size_t)b * n * f->D, f->x + ((size_t)b * f->T + t0) * f->D,
               (size_t)n * f->D * sizeof *s);
    return s;
}

/* Writes y_piece [B, n, D] into y_all [B, T, D] at token t0. */
static void y_put(const fixture *f, float *y_all, const float *y_piece, uint32_t t0, uint32_t n)
{
    for (uint32_t b = 0; b < f->B; ++b)
        memcpy(y_all + ((size_t)b * f->T + t0) * f->D, y_piece + (size_t)b * n * f->D,
               (size_t)n * f->D * sizeof *y_all);
}

/* Layer l over tokens [t0, t0 + n) of the fixture's x in one call, continuing `st` (may be
 * NULL), the output put into y_all. */
static void run(const fixture *f, const dvk_qwen3_next_gdn *l, dvk_qwen3_next_gdn_state *st,
                uint32_t t0, uint32_t n, dvk_mode mode, float *y_all)
{
    const uint64_t shape[3] = {f->B, n, f->D};
    float *xs = x_slice(f, t0, n);
    dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, 3, shape, xs);
    dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, 3, shape);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_qwen3_next_gdn_forward(
        cmd, l, &(dvk_qwen3_next_gdn_forward_desc){.x = tx, .y = ty, .state = st, .mode = mode}));
    harness_run(cmd);
    float *ys = harness_download(ty);
    y_put(f, y_all, ys, t0, n);
    free(ys);
    free(xs);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tx);
    dvk_tensor_destroy(ty);
}

static size_t y_numel(const fixture *f) { return (size_t)f->B * f->T * f->D; }

/* Checks y against ref, the label prefixed with the fixture's name. */
static void check_y(const fixture *f, const char *what, const float *ref, const float *y,
                    double tol)
{
    char label[128];
    snprintf(label, sizeof label, "%s: %s", f->name, what);
    check_close(label, ref, y, y_numel(f), tol);
}

/* Both state tensors against transformers' final states. */
static void check_state(const fixture *f, const char *what, const dvk_qwen3_next_gdn_state *st,
                        double tol)
{
    char label[128];
    float *rec =
        harness_download(dvk_qwen3_next_gdn_state_tensor(st, DVK_QWEN3_NEXT_GDN_RECURRENT));
    float *conv = harness_download(dvk_qwen3_next_gdn_state_tensor(st, DVK_QWEN3_NEXT_GDN_CONV));
    snprintf(label, sizeof label, "%s: %s: recurrent state", f->name, what);
    check_close(label, f->rec_ref, rec, (size_t)f->B * f->HV * f->K * f->V, tol);
    snprintf(label, sizeof label, "%s: %s: conv state", f->name, what);
    check_close(label, f->conv_ref, conv, (size_t)f->B * (f->W - 1) * f->CD, tol);
    free(rec);
    free(conv);
}

static void test_info(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < N_FIXTURES; ++i) {
        const fixture *f = &fixtures[i];
        const dvk_qwen3_next_gdn_info *in = dvk_qwen3_next_gdn_layer_info(f->layer);
        assert_int_equal(in->hidden_size, f->D);
        assert_int_equal(in->num_k_heads, f->H);
        assert_int_equal(in->head_k_dim, f->K);
        assert_int_equal(in->num_v_heads, f->HV);
        assert_int_equal(in->head_v_dim, f->V);
        assert_int_equal(in->conv_kernel, f->W);
        assert_int_equal(in->conv_dim, f->CD);
        assert_int_equal(in->dtype, DVK_DTYPE_F32);
        assert_true(in->norm_eps == 1e-6f);
        dvk_qwen3_next_gdn_state *st = NULL;
        CHECK_OK(dvk_qwen3_next_gdn_state_create(f->layer, f->B, &st));
        dvk_tensor *c = dvk_qwen3_next_gdn_state_tensor(st, DVK_QWEN3_NEXT_GDN_CONV);
        dvk_tensor *r = dvk_qwen3_next_gdn_state_tensor(st, DVK_QWEN3_NEXT_GDN_RECURRENT);
        assert_int_equal(dvk_tensor_ndim(c), 3);
        assert_int_equal(dvk_tensor_dim(c, 0), f->B);
        assert_int_equal(dvk_tensor_dim(c, 1), f->W - 1);
        assert_int_equal(dvk_tensor_dim(c, 2), f->CD);
        assert_int_equal(dvk_tensor_ndim(r), 4);
        assert_int_equal(dvk_tensor_dim(r, 1), f->HV);
        assert_int_equal(dvk_tensor_dim(r, 2), f->K);
        assert_int_equal(dvk_tensor_dim(r, 3), f->V);
        assert_null(dvk_qwen3_next_gdn_state_tensor(st, (dvk_qwen3_next_gdn_state_part)2));
        dvk_qwen3_next_gdn_state_destroy(st);
    }
    dvk_qwen3_next_gdn_state_destroy(NULL);
    dvk_qwen3_next_gdn_destroy(NULL);
}

/* One call over the sequence: output and final states as transformers', in both modes, and
 * without a state (zeros in, nothing kept). */
static void test_whole(void **state)
{
    (void)state;
    const dvk_mode modes[2] = {DVK_MODE_RECURRENT, DVK_MODE_CHUNK};
    const char *names[2] = {"whole, recurrent", "whole, chunked"};
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        float *y = malloc(y_numel(f) * sizeof *y);
        for (int i = 0; i < 2; ++i) {
            dvk_qwen3_next_gdn_state *st = NULL;
            CHECK_OK(dvk_qwen3_next_gdn_state_create(f->layer, f->B, &st));
            run(f, f->layer, st, 0, f->T, modes[i], y);
            check_y(f, names[i], f->y_ref, y, TOL_F32);
            check_state(f, names[i], st, TOL_F32);
            dvk_qwen3_next_gdn_state_destroy(st);
        }
        run(f, f->layer, NULL, 0, f->T, DVK_MODE_DEFAULT, y);
        check_y(f, "whole, no state", f->y_ref, y, TOL_F32);
        free(y);
    }
}

/* Token by token (the decode kernel) and in two segments, the state carried: as
 * transformers' decode path and its two-call prefill, and as our one call. */
static void test_streamed(void **state)
{
    (void)state;
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        float *y = malloc(y_numel(f) * sizeof *y);
        float *y_whole = malloc(y_numel(f) * sizeof *y_whole);
        dvk_qwen3_next_gdn_state *st = NULL;
        CHECK_OK(dvk_qwen3_next_gdn_state_create(f->layer, f->B, &st));
        run(f, f->layer, st, 0, f->T, DVK_MODE_RECURRENT, y_whole);
        CHECK_OK(dvk_qwen3_next_gdn_state_reset(st));
        for (uint32_t t = 0; t < f->T; ++t)
            run(f, f->layer, st, t, 1, DVK_MODE_DEFAULT, y);
        check_y(f, "token by token vs transformers' decode", f->y_tok_ref, y, TOL_F32);
        check_y(f, "token by token vs one call", y_whole, y, 5e-6);
        check_state(f, "token by token", st, TOL_F32);

        CHECK_OK(dvk_qwen3_next_gdn_state_reset(st));
        run(f, f->layer, st, 0, f->split, DVK_MODE_CHUNK, y);
        run(f, f->layer, st, f->split, f->T - f->split, DVK_MODE_CHUNK, y);
        check_y(f, "two segments vs transformers'", f->y_seg_ref, y, TOL_F32);
        check_state(f, "two segments", st, TOL_F32);
        dvk_qwen3_next_gdn_state_destroy(st);
        free(y);
        free(y_whole);
    }
}

/* The state after `split` tokens saved to a file and restored into a fresh state object: the
 * rest of the sequence continues as the uninterrupted run. Restoring a file of another batch,
 * or one that is not a state file, fails and leaves the state as it was. */
static void test_save_restore(void **state)
{
    (void)state;
    const fixture *f = TINY;
    char path[512], bad[512];
    tmp_path(path, sizeof path, "state.safetensors");
    float *y = malloc(y_numel(f) * sizeof *y);
    float *y_whole = malloc(y_numel(f) * sizeof *y_whole);
    dvk_qwen3_next_gdn_state *a = NULL, *b = NULL, *one = NULL;
    CHECK_OK(dvk_qwen3_next_gdn_state_create(f->layer, f->B, &a));
    run(f, f->layer, a, 0, f->T, DVK_MODE_RECURRENT, y_whole);
    CHECK_OK(dvk_qwen3_next_gdn_state_reset(a));
    run(f, f->layer, a, 0, f->split, DVK_MODE_RECURRENT, y);
    CHECK_OK(dvk_qwen3_next_gdn_state_save(a, path));
    dvk_qwen3_next_gdn_state_destroy(a);

    CHECK_OK(dvk_qwen3_next_gdn_state_create(f->layer, f->B, &b));
    CHECK_OK(dvk_qwen3_next_gdn_state_restore(b, path));
    run(f, f->layer, b, f->split, f->T - f->split, DVK_MODE_RECURRENT, y);
    check_y(f, "restored continuation vs uninterrupted", y_whole, y, 1e-7);
    check_state(f, "restored continuation", b, TOL_F32);

    /* A state of batch 1 cannot take it; the fixture is not a state file; nor is a missing
     * file. */
    CHECK_OK(dvk_qwen3_next_gdn_state_create(f->layer, 1, &one));
    CHECK_STATUS(dvk_qwen3_next_gdn_state_restore(one, path), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_qwen3_next_gdn_state_restore(b, FIXTURE_PATH), DVK_ERROR_FORMAT);
    tmp_path(bad, sizeof bad, "nofile.safetensors");
    CHECK_STATUS(dvk_qwen3_next_gdn_state_restore(b, bad), DVK_ERROR_IO);
    check_state(f, "after failed restores", b, TOL_F32);
    /* Nor can the other layer's state. */
    dvk_qwen3_next_gdn_state *odd = NULL;
    CHECK_OK(dvk_qwen3_next_gdn_state_create(fixtures[1].layer, f->B, &odd));
    CHECK_STATUS(dvk_qwen3_next_gdn_state_restore(odd, path), DVK_ERROR_SHAPE_MISMATCH);
    dvk_qwen3_next_gdn_state_destroy(odd);
    remove(path);
    dvk_qwen3_next_gdn_state_destroy(one);
    dvk_qwen3_next_gdn_state_destroy(b);
    free(y);
    free(y_whole);
}

/* 16-bit projections (the conv, gates, norm and state stay fp32). */
static void test_16bit(void **state)
{
    (void)state;
    const dvk_dtype dtypes[2] = {DVK_DTYPE_F16, DVK_DTYPE_BF16};
    const char *names[2] = {"fp16 projections", "bf16 projections"};
    const double tols[2] = {TOL_F16, TOL_BF16};
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        float *y = malloc(y_numel(f) * sizeof *y);
        for (int i = 0; i < 2; ++i) {
            if (!harness_have_dtype(names[i], dtypes[i]))
                continue;
            dvk_qwen3_next_gdn *l16 = NULL;
            CHECK_OK(dvk_qwen3_next_gdn_load(
                harness_ctx, f->weights_path,
                &(dvk_qwen3_next_gdn_load_desc){.dtype = dtypes[i],
                                                .head_k_dim = f->K == f->V ? 0 : f->K},
                &l16));
            assert_int_equal(dvk_qwen3_next_gdn_layer_info(l16)->dtype, dtypes[i]);
            dvk_qwen3_next_gdn_state *st = NULL;
            CHECK_OK(dvk_qwen3_next_gdn_state_create(l16, f->B, &st));
            run(f, l16, st, 0, f->T, DVK_MODE_DEFAULT, y);
            check_y(f, names[i], f->y_ref, y, tols[i]);
            check_state(f, names[i], st, tols[i]);
            dvk_qwen3_next_gdn_state_destroy(st);
            dvk_qwen3_next_gdn_destroy(l16);
        }
        free(y);
    }
}

/* One layer of a model's file: the names under a prefix, other tensors ignored. */
static void test_prefix(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "model.safetensors");
    write_weights(TINY, path, &(file_edit){.prefix = "model.layers.0.linear_attn.",
                                     .extra = "model.embed_tokens.weight"});
    dvk_qwen3_next_gdn *l = NULL;
    CHECK_STATUS(dvk_qwen3_next_gdn_load(harness_ctx, path, NULL, &l), DVK_ERROR_NOT_FOUND);
    CHECK_OK(dvk_qwen3_next_gdn_load(
        harness_ctx, path,
        &(dvk_qwen3_next_gdn_load_desc){.prefix = "model.layers.0.linear_attn."}, &l));
    float *y = malloc((size_t)B * T * D * sizeof *y);
    run(TINY, l, NULL, 0, T, DVK_MODE_DEFAULT, y);
    check_y(TINY, "loaded through a prefix", TINY->y_ref, y, TOL_F32);
    free(y);
    dvk_qwen3_next_gdn_destroy(l);
    /* An extra tensor under the prefix is one. */
    write_weights(TINY, path, &(file_edit){.prefix = "model.layers.0.linear_attn.",
                                     .extra = "model.layers.0.linear_attn.q_norm.weight"});
    CHECK_STATUS(dvk_qwen3_next_gdn_load(
                     harness_ctx, path,
                     &(dvk_qwen3_next_gdn_load_desc){.prefix = "model.layers.0.linear_attn."}, &l),
                 DVK_ERROR_FORMAT);
    assert_null(l);
    remove(path);
}

static void expect_load(const file_edit *ed, const dvk_qwen3_next_gdn_load_desc *desc,
                        dvk_status want, const char *needle)
{
    char path[512];
    tmp_path(path, sizeof path, "bad.safetensors");
    write_weights(TINY, path, ed);
    dvk_qwen3_next_gdn *l = (dvk_qwen3_next_gdn *)1;
    CHECK_STATUS(dvk_qwen3_next_gdn_load(harness_ctx, path, desc, &l), want);
    assert_null(l);
    if (!strstr(dvk_last_error(), needle))
        fail_msg("error '%s' does not name '%s'", dvk_last_error(), needle);
    remove(path);
}

/* Missing, extra and wrongly shaped tensors are errors naming them. */
static void test_bad_weights(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < N_WEIGHTS; ++i)
        expect_load(&(file_edit){.skip = weight_names[i]}, NULL, DVK_ERROR_NOT_FOUND,
                    weight_names[i]);
    expect_load(&(file_edit){.extra = "q_norm.weight"}, NULL, DVK_ERROR_FORMAT, "q_norm.weight");
    expect_load(&(file_edit){.bad = "in_proj_ba.weight", .bad_ndim = 2, .bad_shape = {7, D}},
                NULL, DVK_ERROR_SHAPE_MISMATCH, "in_proj_ba.weight");
    expect_load(&(file_edit){.bad = "in_proj_qkvz.weight", .bad_ndim = 2,
                             .bad_shape = {D, 2 * 32 + 2 * 64}},
                NULL, DVK_ERROR_SHAPE_MISMATCH, "in_proj_qkvz.weight");
    expect_load(&(file_edit){.bad = "conv1d.weight", .bad_ndim = 2, .bad_shape = {CD, W}}, NULL,
                DVK_ERROR_SHAPE_MISMATCH, "conv1d.weight");
    expect_load(&(file_edit){.bad = "dt_bias", .bad_ndim = 1, .bad_shape = {HV + 1}}, NULL,
                DVK_ERROR_SHAPE_MISMATCH, "dt_bias");
    expect_load(&(file_edit){.bad = "out_proj.weight", .bad_ndim = 2, .bad_shape = {D, D + 1}},
                NULL, DVK_ERROR_SHAPE_MISMATCH, "out_proj.weight");
    expect_load(&(file_edit){.bad = "norm.weight", .bad_ndim = 2, .bad_shape = {1, V}}, NULL,
                DVK_ERROR_SHAPE_MISMATCH, "norm.weight");
    /* Key heads of 12 do not tile the key width 32. */
    expect_load(&(file_edit){0}, &(dvk_qwen3_next_gdn_load_desc){.head_k_dim = 12},
                DVK_ERROR_SHAPE_MISMATCH, "head_k_dim");
    /* head_k_dim 32: one key head of 32 (4 value heads on it), a valid other layer whose
     * q/k/v split differs from the fixture's. */
    dvk_qwen3_next_gdn *l = NULL;
    CHECK_OK(dvk_qwen3_next_gdn_load(harness_ctx, TINY->weights_path,
                                     &(dvk_qwen3_next_gdn_load_desc){.head_k_dim = 32}, &l));
    assert_int_equal(dvk_qwen3_next_gdn_layer_info(l)->num_k_heads, 1);
    dvk_qwen3_next_gdn_destroy(l);
    CHECK_STATUS(dvk_qwen3_next_gdn_load(harness_ctx, TINY->weights_path,
                                         &(dvk_qwen3_next_gdn_load_desc){.dtype = DVK_DTYPE_I32},
                                         &l),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_qwen3_next_gdn_load(NULL, TINY->weights_path, NULL, &l),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_qwen3_next_gdn_load(harness_ctx, NULL, NULL, &l),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_qwen3_next_gdn_load_memory(harness_ctx, "garbage", 7, NULL, &l),
                 DVK_ERROR_FORMAT);
}

/* A dry run (pipelines prepared, nothing recorded) of a prefill and a decode step, then the
 * real passes: they build no pipeline the dry run did not. */
static void test_dry_run(void **state)
{
    (void)state;
    const uint64_t s_all[3] = {B, T, D}, s_one[3] = {B, 1, D};
    dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, 3, s_all, TINY->x);
    dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_all);
    float *x1 = x_slice(TINY, 0, 1);
    dvk_tensor *tx1 = harness_tensor(DVK_DTYPE_F32, 3, s_one, x1);
    dvk_tensor *ty1 = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_one);
    dvk_qwen3_next_gdn_state *st = NULL;
    CHECK_OK(dvk_qwen3_next_gdn_state_create(TINY->layer, B, &st));
    typedef dvk_qwen3_next_gdn_forward_desc fd;
    const fd prefill = {.x = tx, .y = ty, .state = st, .mode = DVK_MODE_CHUNK};
    const fd decode = {.x = tx1, .y = ty1, .state = st};
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, &(dvk_cmd_desc){.dry_run = true}, &cmd));
    CHECK_OK(dvk_qwen3_next_gdn_forward(cmd, TINY->layer, &prefill));
    CHECK_OK(dvk_qwen3_next_gdn_forward(cmd, TINY->layer, &decode));
    const uint32_t prepared = dvk_context_pipeline_count(harness_ctx);
    dvk_cmd_destroy(cmd);
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_qwen3_next_gdn_forward(cmd, TINY->layer, &prefill));
    CHECK_OK(dvk_qwen3_next_gdn_forward(cmd, TINY->layer, &decode));
    harness_run(cmd);
    assert_int_equal(dvk_context_pipeline_count(harness_ctx), prepared);
    float *y = harness_download(ty);
    check_y(TINY, "after a dry run", TINY->y_ref, y, TOL_F32);
    free(y);
    y = harness_download(ty1);
    for (int i = 0; i < B * D; ++i)
        assert_true(y[i] == y[i]); /* computed: no NaN left of the poison */
    free(y);
    free(x1);
    dvk_cmd_destroy(cmd);
    dvk_qwen3_next_gdn_state_destroy(st);
    dvk_tensor_destroy(tx);
    dvk_tensor_destroy(ty);
    dvk_tensor_destroy(tx1);
    dvk_tensor_destroy(ty1);
}

static void test_bad_calls(void **state)
{
    (void)state;
    const uint64_t s_ok[3] = {B, 5, D}, s_bad[3] = {B, 5, D + 1}, s_b1[3] = {1, 5, D};
    dvk_tensor *x_ok = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_ok);
    dvk_tensor *y_ok = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_ok);
    dvk_tensor *x_bad = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_bad);
    dvk_tensor *x_b1 = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_b1);
    dvk_tensor *y_b1 = harness_tensor_poisoned(DVK_DTYPE_F32, 3, s_b1);
    dvk_qwen3_next_gdn_state *st = NULL;
    CHECK_OK(dvk_qwen3_next_gdn_state_create(TINY->layer, B, &st));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    typedef dvk_qwen3_next_gdn_forward_desc fd;
    CHECK_STATUS(dvk_qwen3_next_gdn_forward(cmd, TINY->layer, &(fd){.x = x_bad, .y = y_ok}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_qwen3_next_gdn_forward(cmd, TINY->layer, &(fd){.x = x_ok, .y = y_b1}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(
        dvk_qwen3_next_gdn_forward(cmd, TINY->layer, &(fd){.x = x_b1, .y = y_b1, .state = st}),
        DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_qwen3_next_gdn_forward(cmd, TINY->layer, &(fd){.x = x_ok}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_qwen3_next_gdn_forward(cmd, NULL, &(fd){.x = x_ok, .y = y_ok}),
                 DVK_ERROR_INVALID_ARGUMENT);
    dvk_qwen3_next_gdn_state_destroy(st);
    CHECK_STATUS(dvk_qwen3_next_gdn_state_create(TINY->layer, 0, &st), DVK_ERROR_INVALID_ARGUMENT);
    assert_null(st);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(x_ok);
    dvk_tensor_destroy(y_ok);
    dvk_tensor_destroy(x_bad);
    dvk_tensor_destroy(x_b1);
    dvk_tensor_destroy(y_b1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_info, harness_test_teardown),
        cmocka_unit_test_teardown(test_whole, harness_test_teardown),
        cmocka_unit_test_teardown(test_streamed, harness_test_teardown),
        cmocka_unit_test_teardown(test_save_restore, harness_test_teardown),
        cmocka_unit_test_teardown(test_16bit, harness_test_teardown),
        cmocka_unit_test_teardown(test_prefix, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_weights, harness_test_teardown),
        cmocka_unit_test_teardown(test_dry_run, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_calls, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
