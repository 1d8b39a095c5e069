/* The Infini-Transformer (dvk_infini_transformer_*) and its attention (dvk_infini_attention_*)
 * against infini-transformer-pytorch 0.0.2 run segment by segment on two tiny random models
 * made by scripts/gen_infini_fixtures.py (tests/fixtures/infini_lm_plain: dim 48, 2 blocks of
 * 2 heads of 16, vocabulary 64, B = 2, segments 8, 8, 8, 5; infini_lm_delta: the delta-rule
 * memory, dim 40, 3 heads of 8, FeedForward 53, vocabulary 50, segments 6, 6, 6, 3): every
 * segment's logits and the final memories, the segments in separate recordings and in one,
 * the whole sequence as one segment, the attention of block 1 on its own (loaded through a
 * prefix) with its state, the FeedForward of block 1 on its own, a state saved mid-sequence
 * and restored, fp16 and bf16 weights, a dry run, and the errors of missing, extra and
 * wrongly shaped tensors and of bad calls. */
#include "harness.h"

#include "deltavk_models.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Relative RMS errors allowed: fp32 against PyTorch's fp32 (~3e-7 measured), and with 16-bit
 * matrices (their rounding, 2^-11 (fp16) or 2^-8 (bf16) relative per weight, through two
 * blocks: ~5e-4 measured for fp16). */
#define TOL_F32 1e-5
#define TOL_F16 5e-3
#define TOL_BF16 2e-2

#define MAX_SEGMENTS 8
#define MAX_TENSORS 64

typedef struct host_tensor {
    char name[96];
    uint32_t ndim;
    uint64_t shape[DVK_WEIGHTS_MAX_DIMS];
    uint64_t numel;
    float *data;
} host_tensor;

typedef struct fixture {
    const char *name;
    bool delta;
    uint32_t B, T, C, H, D, V, F, depth, n_seg;
    uint32_t seg[MAX_SEGMENTS];
    char weights_path[512], io_path[512];
    host_tensor weights[MAX_TENSORS]; /* the state_dict, in the file's order */
    uint32_t n_weights;
    int32_t *tokens;                  /* [B, T] */
    float *logits, *logits_one;       /* [B, T, V] */
    float *attn1_x, *attn1_y;         /* [B, T, C] */
    float *ff1_x, *ff1_y;             /* [B, T, C] */
    float *kv[2], *norm[2];           /* the final memories of blocks 0 and 1 */
    dvk_infini_transformer *model;    /* fp32 */
} fixture;

static fixture fixtures[2] = {
    {.name = "infini_lm_plain", .delta = false, .B = 2, .T = 29, .C = 48, .H = 2, .D = 16,
     .V = 64, .F = 128, .depth = 2, .n_seg = 4, .seg = {8, 8, 8, 5}},
    {.name = "infini_lm_delta", .delta = true, .B = 2, .T = 21, .C = 40, .H = 3, .D = 8,
     .V = 50, .F = 53, .depth = 2, .n_seg = 4, .seg = {6, 6, 6, 3}},
};
enum { N_FIXTURES = sizeof fixtures / sizeof fixtures[0] };
#define PLAIN (&fixtures[0])

static const char *tmpdir(void)
{
    const char *d = getenv("DVK_TEST_TMPDIR");
    return d ? d : "/tmp";
}

static void tmp_path(char *buf, size_t len, const char *what)
{
    snprintf(buf, len, "%s/test_infini_%ld_%s", tmpdir(), (long)getpid(), what);
}

static void check_close(const char *what, const float *ref, const float *got, size_t n, double tol)
{
    double *r = malloc(n * sizeof *r);
    for (size_t i = 0; i < n; ++i)
        r[i] = ref[i];
    harness_check("infini", what, r, got, n, tol);
    free(r);
}

static float *read_f32(dvk_weights *w, const char *name, uint64_t want)
{
    dvk_weights_entry e;
    if (dvk_weights_find(w, name, &e) != DVK_SUCCESS || e.numel != want) {
        fprintf(stderr, "fixture tensor %s: missing or not %llu elements\n", name,
                (unsigned long long)want);
        return NULL;
    }
    float *d = malloc((size_t)want * sizeof *d);
    if (dvk_weights_read(w, name, DVK_DTYPE_F32, d, (size_t)want * sizeof *d) != DVK_SUCCESS) {
        free(d);
        return NULL;
    }
    return d;
}

static int load_fixture(fixture *f)
{
    snprintf(f->weights_path, sizeof f->weights_path, "%s/%s.safetensors", DVK_FIXTURE_DIR,
             f->name);
    snprintf(f->io_path, sizeof f->io_path, "%s/%s_io.safetensors", DVK_FIXTURE_DIR, f->name);
    dvk_weights *w = NULL;
    if (dvk_weights_load(NULL, f->weights_path, NULL, &w) != DVK_SUCCESS) {
        fprintf(stderr, "%s\n", dvk_last_error());
        return -1;
    }
    f->n_weights = dvk_weights_count(w);
    if (f->n_weights > MAX_TENSORS)
        return -1;
    for (uint32_t i = 0; i < f->n_weights; ++i) {
        host_tensor *h = &f->weights[i];
        dvk_weights_entry e;
        snprintf(h->name, sizeof h->name, "%s", dvk_weights_name(w, i));
        if (dvk_weights_find(w, h->name, &e) != DVK_SUCCESS)
            return -1;
        h->ndim = e.ndim;
        memcpy(h->shape, e.shape, sizeof e.shape);
        h->numel = e.numel;
        if (!(h->data = read_f32(w, h->name, e.numel)))
            return -1;
    }
    dvk_weights_destroy(w);

    if (dvk_weights_load(NULL, f->io_path, NULL, &w) != DVK_SUCCESS) {
        fprintf(stderr, "%s\n", dvk_last_error());
        return -1;
    }
    const uint64_t BT = (uint64_t)f->B * f->T;
    f->tokens = malloc((size_t)BT * sizeof *f->tokens);
    int32_t seg[MAX_SEGMENTS];
    if (dvk_weights_read(w, "tokens", DVK_DTYPE_I32, f->tokens, (size_t)BT * 4) != DVK_SUCCESS ||
        dvk_weights_read(w, "segments", DVK_DTYPE_I32, seg, f->n_seg * 4) != DVK_SUCCESS)
        return -1;
    for (uint32_t s = 0; s < f->n_seg; ++s)
        if ((uint32_t)seg[s] != f->seg[s])
            return -1;
    f->logits = read_f32(w, "logits", BT * f->V);
    f->logits_one = read_f32(w, "logits_one", BT * f->V);
    f->attn1_x = read_f32(w, "attn1_x", BT * f->C);
    f->attn1_y = read_f32(w, "attn1_y", BT * f->C);
    f->ff1_x = read_f32(w, "ff1_x", BT * f->C);
    f->ff1_y = read_f32(w, "ff1_y", BT * f->C);
    for (uint32_t l = 0; l < 2; ++l) {
        char name[64];
        snprintf(name, sizeof name, "memories.%u.kv", l);
        f->kv[l] = read_f32(w, name, (uint64_t)f->B * f->H * f->D * f->D);
        snprintf(name, sizeof name, "memories.%u.norm", l);
        f->norm[l] = read_f32(w, name, (uint64_t)f->B * f->H * f->D);
        if (!f->kv[l] || !f->norm[l])
            return -1;
    }
    dvk_weights_destroy(w);
    if (!f->logits || !f->logits_one || !f->attn1_x || !f->attn1_y || !f->ff1_x || !f->ff1_y)
        return -1;
    if (dvk_infini_transformer_load(harness_ctx, f->weights_path,
                                    &(dvk_infini_load_desc){.delta_rule = f->delta},
                                    &f->model) != DVK_SUCCESS) {
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
        dvk_infini_transformer_destroy(f->model);
        for (uint32_t j = 0; j < f->n_weights; ++j)
            free(f->weights[j].data);
        free(f->tokens);
        free(f->logits);
        free(f->logits_one);
        free(f->attn1_x);
        free(f->attn1_y);
        free(f->ff1_x);
        free(f->ff1_y);
        for (uint32_t l = 0; l < 2; ++l) {
            free(f->kv[l]);
            free(f->norm[l]);
        }
    }
    return harness_group_teardown(state);
}

/* Columns [t0, t0 + n) of a [B, T, W] array as [B, n, W] (malloc'd), and back. */
static void *slice(const void *src, uint32_t B, uint32_t T, size_t row_bytes, uint32_t t0,
                   uint32_t n)
{
    char *d = malloc((size_t)B * n * row_bytes);
    for (uint32_t b = 0; b < B; ++b)
        memcpy(d + (size_t)b * n * row_bytes, (const char *)src + ((size_t)b * T + t0) * row_bytes,
               (size_t)n * row_bytes);
    return d;
}

static void unslice(void *dst, const void *src, uint32_t B, uint32_t T, size_t row_bytes,
                    uint32_t t0, uint32_t n)
{
    for (uint32_t b = 0; b < B; ++b)
        memcpy((char *)dst + ((size_t)b * T + t0) * row_bytes,
               (const char *)src + (size_t)b * n * row_bytes, (size_t)n * row_bytes);
}

static size_t logits_numel(const fixture *f) { return (size_t)f->B * f->T * f->V; }

/* Records segment [t0, t0 + n) of the fixture's tokens into cmd (from the host, or with
 * `on_device` from an int32 tensor, kept in *ids_tensor until the run is done), its logits into
 * a new tensor (returned; the caller downloads it after the run). */
static dvk_tensor *record_segment_ex(const fixture *f, dvk_cmd *cmd,
                                     dvk_infini_transformer_session *s, uint32_t t0, uint32_t n,
                                     dvk_tensor **ids_tensor)
{
    const uint64_t shape[3] = {f->B, n, f->V};
    dvk_tensor *lg = harness_tensor_poisoned(DVK_DTYPE_F32, 3, shape);
    int32_t *ids = slice(f->tokens, f->B, f->T, sizeof(int32_t), t0, n);
    dvk_infini_transformer_forward_desc d = {.tokens = ids, .n_tokens = n, .logits = lg};
    if (ids_tensor) {
        const uint64_t s_ids[2] = {f->B, n};
        float *fl = malloc((size_t)f->B * n * sizeof *fl);
        for (size_t i = 0; i < (size_t)f->B * n; ++i)
            fl[i] = (float)ids[i];
        *ids_tensor = harness_tensor(DVK_DTYPE_I32, 2, s_ids, fl);
        free(fl);
        d.tokens = NULL;
        d.token_tensor = *ids_tensor;
    }
    CHECK_OK(dvk_infini_transformer_forward(cmd, s, &d));
    free(ids);
    return lg;
}

static dvk_tensor *record_segment(const fixture *f, dvk_cmd *cmd,
                                  dvk_infini_transformer_session *s, uint32_t t0, uint32_t n)
{
    return record_segment_ex(f, cmd, s, t0, n, NULL);
}

/* Segments [first, last) of the fixture, each its own recording, logits into `all`. */
static void run_segments(const fixture *f, dvk_infini_transformer_session *s, uint32_t first,
                         uint32_t last, float *all)
{
    uint32_t t0 = 0;
    for (uint32_t i = 0; i < first; ++i)
        t0 += f->seg[i];
    for (uint32_t i = first; i < last; ++i) {
        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        dvk_tensor *lg = record_segment(f, cmd, s, t0, f->seg[i]);
        harness_run(cmd);
        float *got = harness_download(lg);
        unslice(all, got, f->B, f->T, (size_t)f->V * sizeof(float), t0, f->seg[i]);
        free(got);
        dvk_tensor_destroy(lg);
        dvk_cmd_destroy(cmd);
        t0 += f->seg[i];
    }
}

static void check_logits(const fixture *f, const char *what, const float *ref, const float *got,
                         double tol)
{
    char label[160];
    snprintf(label, sizeof label, "%s: %s: logits", f->name, what);
    check_close(label, ref, got, logits_numel(f), tol);
}

static void check_memories(const fixture *f, const char *what,
                           const dvk_infini_transformer_session *s, double tol)
{
    for (uint32_t l = 0; l < f->depth; ++l) {
        char label[160];
        float *kv =
            harness_download(dvk_infini_transformer_session_state(s, l, DVK_INFINI_MEMORY_KV));
        float *nm =
            harness_download(dvk_infini_transformer_session_state(s, l, DVK_INFINI_MEMORY_NORM));
        snprintf(label, sizeof label, "%s: %s: block %u memory kv", f->name, what, l);
        check_close(label, f->kv[l], kv, (size_t)f->B * f->H * f->D * f->D, tol);
        snprintf(label, sizeof label, "%s: %s: block %u memory norm", f->name, what, l);
        check_close(label, f->norm[l], nm, (size_t)f->B * f->H * f->D, tol);
        free(kv);
        free(nm);
    }
}

static void test_info(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < N_FIXTURES; ++i) {
        const fixture *f = &fixtures[i];
        const dvk_infini_info *in = dvk_infini_transformer_info(f->model);
        assert_int_equal(in->dim, f->C);
        assert_int_equal(in->heads, f->H);
        assert_int_equal(in->dim_head, f->D);
        assert_int_equal(in->depth, f->depth);
        assert_int_equal(in->ff_dim, f->F);
        assert_int_equal(in->n_vocab, f->V);
        assert_true(in->rope_theta == 10000.0f);
        assert_int_equal(in->delta_rule, f->delta);
        assert_int_equal(in->dtype, DVK_DTYPE_F32);
        dvk_infini_transformer_session *s = NULL;
        CHECK_OK(dvk_infini_transformer_session_create(f->model, f->B, &s));
        assert_int_equal(dvk_infini_transformer_session_segments(s), 0);
        dvk_tensor *kv = dvk_infini_transformer_session_state(s, 1, DVK_INFINI_MEMORY_KV);
        assert_int_equal(dvk_tensor_ndim(kv), 4);
        assert_int_equal(dvk_tensor_dim(kv, 0), f->B);
        assert_int_equal(dvk_tensor_dim(kv, 1), f->H);
        assert_int_equal(dvk_tensor_dim(kv, 2), f->D);
        assert_int_equal(dvk_tensor_dim(kv, 3), f->D);
        assert_null(dvk_infini_transformer_session_state(s, f->depth, DVK_INFINI_MEMORY_KV));
        assert_null(dvk_infini_transformer_session_state(s, 0, (dvk_infini_memory_part)2));
        dvk_infini_transformer_session_destroy(s);
    }
    dvk_infini_transformer_session_destroy(NULL);
    dvk_infini_transformer_destroy(NULL);
    dvk_infini_attention_state_destroy(NULL);
    dvk_infini_attention_destroy(NULL);
}

/* Segment by segment, each its own recording and submission: every segment's logits and the
 * final memories as the package's; then all segments recorded into one dvk_cmd, the tokens
 * from the host and then from device tensors. */
static void test_segments(void **state)
{
    (void)state;
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        float *lg = malloc(logits_numel(f) * sizeof *lg);
        dvk_infini_transformer_session *s = NULL;
        CHECK_OK(dvk_infini_transformer_session_create(f->model, f->B, &s));
        run_segments(f, s, 0, f->n_seg, lg);
        assert_int_equal(dvk_infini_transformer_session_segments(s), f->n_seg);
        check_logits(f, "segment by segment", f->logits, lg, TOL_F32);
        check_memories(f, "segment by segment", s, TOL_F32);

        /* One recording of every segment. */
        for (int device_ids = 0; device_ids < 2; ++device_ids) {
            const char *what = device_ids ? "one recording, ids on the device" : "one recording";
            CHECK_OK(dvk_infini_transformer_session_reset(s));
            assert_int_equal(dvk_infini_transformer_session_segments(s), 0);
            dvk_cmd *cmd = NULL;
            CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
            dvk_tensor *t[MAX_SEGMENTS], *ids[MAX_SEGMENTS] = {NULL};
            uint32_t t0 = 0;
            for (uint32_t i = 0; i < f->n_seg; t0 += f->seg[i], ++i)
                t[i] = record_segment_ex(f, cmd, s, t0, f->seg[i], device_ids ? &ids[i] : NULL);
            harness_run(cmd);
            t0 = 0;
            for (uint32_t i = 0; i < f->n_seg; t0 += f->seg[i], ++i) {
                float *got = harness_download(t[i]);
                unslice(lg, got, f->B, f->T, (size_t)f->V * sizeof(float), t0, f->seg[i]);
                free(got);
                dvk_tensor_destroy(t[i]);
                dvk_tensor_destroy(ids[i]);
            }
            dvk_cmd_destroy(cmd);
            check_logits(f, what, f->logits, lg, TOL_F32);
            check_memories(f, what, s, TOL_F32);
        }
        dvk_infini_transformer_session_destroy(s);
        free(lg);
    }
}

/* dvk_infini_transformer_eval: the whole sequence as one segment (the package called once on
 * it), and in the fixture's segments. */
static void test_eval(void **state)
{
    (void)state;
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        float *lg = malloc(logits_numel(f) * sizeof *lg);
        dvk_infini_transformer_session *s = NULL;
        CHECK_OK(dvk_infini_transformer_session_create(f->model, f->B, &s));
        CHECK_OK(dvk_infini_transformer_eval(s, f->tokens, f->T, 0, lg, logits_numel(f)));
        check_logits(f, "one segment", f->logits_one, lg, TOL_F32);
        CHECK_OK(dvk_infini_transformer_session_reset(s));
        CHECK_OK(dvk_infini_transformer_eval(s, f->tokens, f->T, f->seg[0], lg, logits_numel(f)));
        check_logits(f, "eval in segments", f->logits, lg, TOL_F32);
        check_memories(f, "eval in segments", s, TOL_F32);
        CHECK_STATUS(dvk_infini_transformer_eval(s, f->tokens, f->T, 0, lg, 7),
                     DVK_ERROR_INVALID_ARGUMENT);
        dvk_infini_transformer_session_destroy(s);
        free(lg);
    }
}

/* The attention of block 1 on its own, loaded through its prefix, segment by segment with a
 * state: its outputs and its final memories as the package's. */
static void test_attention(void **state)
{
    (void)state;
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        dvk_infini_attention *a = NULL;
        CHECK_OK(dvk_infini_attention_load(
            harness_ctx, f->weights_path,
            &(dvk_infini_load_desc){.prefix = "layers.1.0.", .delta_rule = f->delta}, &a));
        const dvk_infini_info *in = dvk_infini_attention_info(a);
        assert_int_equal(in->dim, f->C);
        assert_int_equal(in->heads, f->H);
        assert_int_equal(in->dim_head, f->D);
        assert_int_equal(in->depth, 1);
        assert_int_equal(in->n_vocab, 0);
        dvk_infini_attention_state *st = NULL;
        CHECK_OK(dvk_infini_attention_state_create(a, f->B, &st));
        const size_t ny = (size_t)f->B * f->T * f->C;
        float *y = malloc(ny * sizeof *y);
        uint32_t t0 = 0;
        for (uint32_t i = 0; i < f->n_seg; t0 += f->seg[i], ++i) {
            const uint32_t n = f->seg[i];
            const uint64_t shape[3] = {f->B, n, f->C};
            float *xs = slice(f->attn1_x, f->B, f->T, f->C * sizeof(float), t0, n);
            dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, 3, shape, xs);
            dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, 3, shape);
            dvk_cmd *cmd = NULL;
            CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
            CHECK_OK(dvk_infini_attention_forward(
                cmd, a, &(dvk_infini_attention_forward_desc){.x = tx, .y = ty, .state = st}));
            harness_run(cmd);
            float *ys = harness_download(ty);
            unslice(y, ys, f->B, f->T, f->C * sizeof(float), t0, n);
            free(ys);
            free(xs);
            dvk_cmd_destroy(cmd);
            dvk_tensor_destroy(tx);
            dvk_tensor_destroy(ty);
        }
        char label[160];
        snprintf(label, sizeof label, "%s: attention of block 1: y", f->name);
        check_close(label, f->attn1_y, y, ny, TOL_F32);
        assert_int_equal(dvk_infini_attention_state_segments(st), f->n_seg);
        float *kv = harness_download(dvk_infini_attention_state_tensor(st, DVK_INFINI_MEMORY_KV));
        float *nm = harness_download(dvk_infini_attention_state_tensor(st, DVK_INFINI_MEMORY_NORM));
        snprintf(label, sizeof label, "%s: attention of block 1: memory kv", f->name);
        check_close(label, f->kv[1], kv, (size_t)f->B * f->H * f->D * f->D, TOL_F32);
        snprintf(label, sizeof label, "%s: attention of block 1: memory norm", f->name);
        check_close(label, f->norm[1], nm, (size_t)f->B * f->H * f->D, TOL_F32);
        assert_null(dvk_infini_attention_state_tensor(st, (dvk_infini_memory_part)2));

        /* Without a state: a first segment (no memory read, nothing kept). */
        {
            const uint32_t n = f->seg[0];
            const uint64_t shape[3] = {f->B, n, f->C};
            float *xs = slice(f->attn1_x, f->B, f->T, f->C * sizeof(float), 0, n);
            float *ref = slice(f->attn1_y, f->B, f->T, f->C * sizeof(float), 0, n);
            dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, 3, shape, xs);
            dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, 3, shape);
            dvk_cmd *cmd = NULL;
            CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
            CHECK_OK(dvk_infini_attention_forward(
                cmd, a, &(dvk_infini_attention_forward_desc){.x = tx, .y = ty}));
            harness_run(cmd);
            float *ys = harness_download(ty);
            snprintf(label, sizeof label, "%s: attention of block 1, no state: y", f->name);
            check_close(label, ref, ys, (size_t)f->B * n * f->C, TOL_F32);
            free(ys);
            free(ref);
            free(xs);
            dvk_cmd_destroy(cmd);
            dvk_tensor_destroy(tx);
            dvk_tensor_destroy(ty);
        }

        /* dvk_infini_attention_eval over the whole input in the fixture's segments. */
        CHECK_OK(dvk_infini_attention_state_reset(st));
        memset(y, 0, ny * sizeof *y);
        CHECK_OK(dvk_infini_attention_eval(st, f->attn1_x, f->T, f->seg[0], y));
        snprintf(label, sizeof label, "%s: attention of block 1, eval in segments: y", f->name);
        check_close(label, f->attn1_y, y, ny, TOL_F32);
        assert_int_equal(dvk_infini_attention_state_segments(st), f->n_seg);

        /* Saved and restored into a new state: the same memories and count. */
        char path[512];
        tmp_path(path, sizeof path, "attn_state.safetensors");
        CHECK_OK(dvk_infini_attention_state_save(st, path));
        dvk_infini_attention_state *st2 = NULL;
        CHECK_OK(dvk_infini_attention_state_create(a, f->B, &st2));
        CHECK_OK(dvk_infini_attention_state_restore(st2, path));
        assert_int_equal(dvk_infini_attention_state_segments(st2), f->n_seg);
        float *kv2 = harness_download(dvk_infini_attention_state_tensor(st2, DVK_INFINI_MEMORY_KV));
        assert_memory_equal(kv, kv2, (size_t)f->B * f->H * f->D * f->D * sizeof *kv);
        /* Not a model's session file; not a state of batch 1. */
        dvk_infini_attention_state *one = NULL;
        CHECK_OK(dvk_infini_attention_state_create(a, 1, &one));
        CHECK_STATUS(dvk_infini_attention_state_restore(one, path), DVK_ERROR_SHAPE_MISMATCH);
        CHECK_STATUS(dvk_infini_attention_state_restore(st2, f->io_path), DVK_ERROR_FORMAT);
        dvk_infini_attention_state_destroy(one);
        CHECK_OK(dvk_infini_attention_state_reset(st2));
        assert_int_equal(dvk_infini_attention_state_segments(st2), 0);
        remove(path);
        free(kv2);
        free(kv);
        free(nm);
        free(y);
        dvk_infini_attention_state_destroy(st2);
        dvk_infini_attention_state_destroy(st);
        dvk_infini_attention_destroy(a);
    }
}

/* The FeedForward of block 1 on its own (stateless: the whole input in one call), its output
 * alone and added to a residual. */
static void test_feed_forward(void **state)
{
    (void)state;
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        dvk_infini_feed_forward *ff = NULL;
        CHECK_OK(dvk_infini_feed_forward_load(harness_ctx, f->weights_path,
                                              &(dvk_infini_load_desc){.prefix = "layers.1.1."},
                                              &ff));
        const dvk_infini_info *in = dvk_infini_feed_forward_info(ff);
        assert_int_equal(in->dim, f->C);
        assert_int_equal(in->ff_dim, f->F);
        const uint64_t shape[3] = {f->B, f->T, f->C};
        const size_t n = (size_t)f->B * f->T * f->C;
        dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, 3, shape, f->ff1_x);
        dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, 3, shape);
        dvk_tensor *tr = harness_tensor(DVK_DTYPE_F32, 3, shape, f->ff1_x);
        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_OK(dvk_infini_feed_forward_forward(
            cmd, ff, &(dvk_infini_feed_forward_desc){.x = tx, .y = ty}));
        CHECK_OK(dvk_infini_feed_forward_forward(
            cmd, ff, &(dvk_infini_feed_forward_desc){.x = tx, .y = tr, .accumulate = true}));
        harness_run(cmd);
        char label[160];
        float *y = harness_download(ty);
        snprintf(label, sizeof label, "%s: feed-forward of block 1: y", f->name);
        check_close(label, f->ff1_y, y, n, TOL_F32);
        float *r = harness_download(tr);
        for (size_t i = 0; i < n; ++i)
            y[i] = f->ff1_x[i] + f->ff1_y[i];
        snprintf(label, sizeof label, "%s: feed-forward of block 1: x + y", f->name);
        check_close(label, y, r, n, TOL_F32);
        free(y);
        free(r);
        dvk_tensor *bad = harness_make(DVK_DTYPE_F32, 3, f->B, f->T, f->C + 1, 0);
        CHECK_STATUS(dvk_infini_feed_forward_forward(
                         cmd, ff, &(dvk_infini_feed_forward_desc){.x = bad, .y = ty}),
                     DVK_ERROR_SHAPE_MISMATCH);
        dvk_tensor_destroy(bad);
        dvk_cmd_destroy(cmd);
        dvk_tensor_destroy(tx);
        dvk_tensor_destroy(ty);
        dvk_tensor_destroy(tr);
        dvk_infini_feed_forward_destroy(ff);
    }
    dvk_infini_feed_forward *ff = NULL;
    CHECK_STATUS(dvk_infini_feed_forward_load(harness_ctx, PLAIN->weights_path,
                                              &(dvk_infini_load_desc){.prefix = "layers.1.0."},
                                              &ff),
                 DVK_ERROR_NOT_FOUND); /* an attention's names: no proj_out.weight */
    assert_null(ff);
    dvk_infini_feed_forward_destroy(NULL);
}

/* Two segments, the session saved; a new session restored from the file continues as the
 * uninterrupted run. Failed restores leave the session as it was. */
static void test_save_restore(void **state)
{
    (void)state;
    for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
        const fixture *f = &fixtures[fi];
        char path[512];
        tmp_path(path, sizeof path, "session.safetensors");
        float *lg = malloc(logits_numel(f) * sizeof *lg);
        dvk_infini_transformer_session *a = NULL, *b = NULL;
        CHECK_OK(dvk_infini_transformer_session_create(f->model, f->B, &a));
        run_segments(f, a, 0, 2, lg);
        CHECK_OK(dvk_infini_transformer_session_save(a, path));
        dvk_infini_transformer_session_destroy(a);
        CHECK_OK(dvk_infini_transformer_session_create(f->model, f->B, &b));
        CHECK_OK(dvk_infini_transformer_session_restore(b, path));
        assert_int_equal(dvk_infini_transformer_session_segments(b), 2);
        run_segments(f, b, 2, f->n_seg, lg);
        check_logits(f, "restored continuation", f->logits, lg, TOL_F32);
        check_memories(f, "restored continuation", b, TOL_F32);
        /* The memories written into a fresh session's tensors, the count set by hand (what a
         * caller holding the package's past_memories does): the same continuation. */
        dvk_infini_transformer_session *c = NULL;
        CHECK_OK(dvk_infini_transformer_session_create(f->model, f->B, &c));
        CHECK_OK(dvk_infini_transformer_session_create(f->model, f->B, &a));
        run_segments(f, a, 0, 2, lg);
        for (uint32_t l = 0; l < f->depth; ++l)
            for (int part = 0; part < 2; ++part) {
                const dvk_infini_memory_part p = (dvk_infini_memory_part)part;
                dvk_tensor *src = dvk_infini_transformer_session_state(a, l, p);
                float *h = harness_download(src);
                CHECK_OK(dvk_tensor_upload(dvk_infini_transformer_session_state(c, l, p), h,
                                           (size_t)dvk_tensor_bytes(src)));
                free(h);
            }
        dvk_infini_transformer_session_destroy(a);
        dvk_infini_transformer_session_set_segments(c, 2);
        run_segments(f, c, 2, f->n_seg, lg);
        check_logits(f, "memories uploaded, count set", f->logits, lg, TOL_F32);
        dvk_infini_transformer_session_destroy(c);

        /* The other model's session file, a fixture, and no file at all. */
        const fixture *o = &fixtures[1 - fi];
        CHECK_STATUS(dvk_infini_transformer_session_restore(b, f->io_path), DVK_ERROR_FORMAT);
        char other[512], none[512];
        tmp_path(other, sizeof other, "other.safetensors");
        dvk_infini_transformer_session *so = NULL;
        CHECK_OK(dvk_infini_transformer_session_create(o->model, o->B, &so));
        CHECK_OK(dvk_infini_transformer_session_save(so, other));
        CHECK_STATUS(dvk_infini_transformer_session_restore(b, other), DVK_ERROR_SHAPE_MISMATCH);
        tmp_path(none, sizeof none, "nofile.safetensors");
        CHECK_STATUS(dvk_infini_transformer_session_restore(b, none), DVK_ERROR_IO);
        check_memories(f, "after failed restores", b, TOL_F32);
        assert_int_equal(dvk_infini_transformer_session_segments(b), f->n_seg);
        dvk_infini_transformer_session_destroy(so);
        dvk_infini_transformer_session_destroy(b);
        remove(path);
        remove(other);
        free(lg);
    }
}

/* fp16 and bf16 matrices (the gammas, gates, biases and memories stay fp32). */
static void test_16bit(void **state)
{
    (void)state;
    const dvk_dtype dtypes[2] = {DVK_DTYPE_F16, DVK_DTYPE_BF16};
    const char *names[2] = {"fp16 weights", "bf16 weights"};
    const double tols[2] = {TOL_F16, TOL_BF16};
    for (int d = 0; d < 2; ++d) {
        if (!harness_have_dtype(names[d], dtypes[d]))
            continue;
        for (uint32_t fi = 0; fi < N_FIXTURES; ++fi) {
            const fixture *f = &fixtures[fi];
            dvk_infini_transformer *m = NULL;
            CHECK_OK(dvk_infini_transformer_load(
                harness_ctx, f->weights_path,
                &(dvk_infini_load_desc){.dtype = dtypes[d], .delta_rule = f->delta}, &m));
            assert_int_equal(dvk_infini_transformer_info(m)->dtype, dtypes[d]);
            float *lg = malloc(logits_numel(f) * sizeof *lg);
            dvk_infini_transformer_session *s = NULL;
            CHECK_OK(dvk_infini_transformer_session_create(m, f->B, &s));
            run_segments(f, s, 0, f->n_seg, lg);
            check_logits(f, names[d], f->logits, lg, tols[d]);
            check_memories(f, names[d], s, tols[d]);
            dvk_infini_transformer_session_destroy(s);
            dvk_infini_transformer_destroy(m);
            free(lg);
        }
    }
}

/* A weights file: the plain fixture's state_dict with `skip` left out, `bad` given the shape
 * bad_shape (zeros), `extra` added and `freqs_scale` multiplying every rotary_emb.freqs. */
typedef struct file_edit {
    const char *skip;
    const char *bad;
    uint32_t bad_ndim;
    uint64_t bad_shape[4];
    const char *extra;
    float freqs_scale;
} file_edit;

static void write_weights(const fixture *f, const char *path, const file_edit *ed)
{
    dvk_st_writer *wr = NULL;
    CHECK_OK(dvk_st_writer_create(&wr));
    for (uint32_t i = 0; i < f->n_weights; ++i) {
        const host_tensor *h = &f->weights[i];
        if (ed->skip && strcmp(ed->skip, h->name) == 0)
            continue;
        if (ed->bad && strcmp(ed->bad, h->name) == 0) {
            uint64_t n = 1;
            for (uint32_t d = 0; d < ed->bad_ndim; ++d)
                n *= ed->bad_shape[d];
            float *zeros = calloc((size_t)n, sizeof *zeros);
            CHECK_OK(dvk_st_writer_add(wr, h->name, DVK_ST_F32, ed->bad_ndim, ed->bad_shape,
                                       zeros));
            free(zeros);
            continue;
        }
        const float *data = h->data;
        float *scaled = NULL;
        if (ed->freqs_scale != 0 && strstr(h->name, "rotary_emb.freqs")) {
            scaled = malloc((size_t)h->numel * sizeof *scaled);
            for (uint64_t j = 0; j < h->numel; ++j)
                scaled[j] = h->data[j] * ed->freqs_scale;
            data = scaled;
        }
        CHECK_OK(dvk_st_writer_add(wr, h->name, DVK_ST_F32, h->ndim, h->shape, data));
        free(scaled);
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

static void expect_load(const file_edit *ed, dvk_status want, const char *needle)
{
    char path[512];
    tmp_path(path, sizeof path, "bad.safetensors");
    write_weights(PLAIN, path, ed);
    dvk_infini_transformer *m = (dvk_infini_transformer *)1;
    CHECK_STATUS(dvk_infini_transformer_load(harness_ctx, path, NULL, &m), want);
    assert_null(m);
    if (!strstr(dvk_last_error(), needle))
        fail_msg("error '%s' does not name '%s'", dvk_last_error(), needle);
    remove(path);
}

/* Missing, extra and wrongly shaped tensors are errors naming them. */
static void test_bad_weights(void **state)
{
    (void)state;
    const fixture *f = PLAIN;
    for (uint32_t i = 0; i < f->n_weights; ++i)
        expect_load(&(file_edit){.skip = f->weights[i].name}, DVK_ERROR_NOT_FOUND,
                    f->weights[i].name);
    expect_load(&(file_edit){.extra = "layers.0.0.to_q.weight"}, DVK_ERROR_FORMAT,
                "layers.0.0.to_q.weight");
    expect_load(&(file_edit){.extra = "layers.2.1.norm.gamma"}, DVK_ERROR_NOT_FOUND,
                "layers.2.0.norm.gamma");
    expect_load(&(file_edit){.bad = "layers.1.0.to_qkv.weight", .bad_ndim = 2,
                             .bad_shape = {95, 48}},
                DVK_ERROR_SHAPE_MISMATCH, "layers.1.0.to_qkv.weight");
    expect_load(&(file_edit){.bad = "layers.1.0.head_gates", .bad_ndim = 1, .bad_shape = {4}},
                DVK_ERROR_SHAPE_MISMATCH, "layers.1.0.");
    expect_load(&(file_edit){.bad = "layers.0.1.proj_in.weight", .bad_ndim = 2,
                             .bad_shape = {256, 47}},
                DVK_ERROR_SHAPE_MISMATCH, "layers.0.1.proj_in.weight");
    expect_load(&(file_edit){.bad = "layers.1.1.proj_out.bias", .bad_ndim = 2,
                             .bad_shape = {1, 48}},
                DVK_ERROR_SHAPE_MISMATCH, "layers.1.1.proj_out.bias");
    expect_load(&(file_edit){.bad = "to_logits.weight", .bad_ndim = 2, .bad_shape = {63, 48}},
                DVK_ERROR_SHAPE_MISMATCH, "to_logits.weight");
    expect_load(&(file_edit){.bad = "layers.0.0.rotary_emb.freqs", .bad_ndim = 1,
                             .bad_shape = {9}},
                DVK_ERROR_SHAPE_MISMATCH, "layers.0.0.rotary_emb.freqs");
    /* Frequencies that are no θ^(−2i/D) (all scaled by 0.9). */
    expect_load(&(file_edit){.freqs_scale = 0.9f}, DVK_ERROR_UNSUPPORTED,
                "layers.0.0.rotary_emb.freqs");

    /* The attention wants its own names: the model's file without a prefix has none of
     * head_gates; with the prefix of a block it is one. */
    dvk_infini_attention *a = NULL;
    CHECK_STATUS(dvk_infini_attention_load(harness_ctx, f->weights_path, NULL, &a),
                 DVK_ERROR_NOT_FOUND);
    assert_null(a);
    CHECK_OK(dvk_infini_attention_load(harness_ctx, f->weights_path,
                                       &(dvk_infini_load_desc){.prefix = "layers.0.0."}, &a));
    dvk_infini_attention_destroy(a);
    CHECK_STATUS(dvk_infini_attention_load(harness_ctx, f->weights_path,
                                           &(dvk_infini_load_desc){.prefix = "layers.0."}, &a),
                 DVK_ERROR_NOT_FOUND);
    dvk_infini_transformer *m = NULL;
    CHECK_STATUS(dvk_infini_transformer_load(harness_ctx, f->weights_path,
                                             &(dvk_infini_load_desc){.dtype = DVK_DTYPE_I32}, &m),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_infini_transformer_load(NULL, f->weights_path, NULL, &m),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_infini_transformer_load(harness_ctx, NULL, NULL, &m),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_infini_transformer_load_memory(harness_ctx, "garbage", 7, NULL, &m),
                 DVK_ERROR_FORMAT);
    assert_null(m);
}

/* A dry run (pipelines prepared, nothing recorded) of a first and a later segment, then the
 * real passes: they build no pipeline the dry run did not. */
static void test_dry_run(void **state)
{
    (void)state;
    const fixture *f = PLAIN;
    dvk_infini_transformer_session *s = NULL;
    CHECK_OK(dvk_infini_transformer_session_create(f->model, f->B, &s));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, &(dvk_cmd_desc){.dry_run = true}, &cmd));
    dvk_tensor *t0 = record_segment(f, cmd, s, 0, f->seg[0]);
    dvk_tensor *t1 = record_segment(f, cmd, s, f->seg[0], f->seg[1]);
    const uint32_t prepared = dvk_context_pipeline_count(harness_ctx);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(t0);
    dvk_tensor_destroy(t1);
    dvk_infini_transformer_session_destroy(s);
    CHECK_OK(dvk_infini_transformer_session_create(f->model, f->B, &s));
    float *lg = malloc(logits_numel(f) * sizeof *lg);
    run_segments(f, s, 0, f->n_seg, lg);
    assert_int_equal(dvk_context_pipeline_count(harness_ctx), prepared);
    check_logits(f, "after a dry run", f->logits, lg, TOL_F32);
    free(lg);
    dvk_infini_transformer_session_destroy(s);
}

static void test_bad_calls(void **state)
{
    (void)state;
    const fixture *f = PLAIN;
    dvk_infini_transformer_session *s = NULL;
    CHECK_OK(dvk_infini_transformer_session_create(f->model, f->B, &s));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    typedef dvk_infini_transformer_forward_desc fd;
    int32_t ids[2 * 3] = {1, 2, 3, 4, 5, 64};
    dvk_tensor *lg = harness_make(DVK_DTYPE_F32, 3, f->B, 3, f->V, 0);
    dvk_tensor *lg_bad = harness_make(DVK_DTYPE_F32, 3, f->B, 3, f->V + 1, 0);
    CHECK_STATUS(dvk_infini_transformer_forward(cmd, s, &(fd){.tokens = ids, .n_tokens = 3}),
                 DVK_ERROR_INVALID_ARGUMENT); /* 64 is out of the vocabulary */
    ids[5] = 6;
    CHECK_STATUS(dvk_infini_transformer_forward(
                     cmd, s, &(fd){.tokens = ids, .n_tokens = 3, .logits = lg_bad}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_infini_transformer_forward(cmd, s, &(fd){.n_tokens = 3, .logits = lg}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_infini_transformer_forward(cmd, s, &(fd){.tokens = ids, .logits = lg}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_infini_transformer_forward(cmd, NULL, &(fd){.tokens = ids, .n_tokens = 3}),
                 DVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(dvk_infini_transformer_session_segments(s), 0);
    dvk_infini_transformer_session *none = NULL;
    CHECK_STATUS(dvk_infini_transformer_session_create(f->model, 0, &none),
                 DVK_ERROR_INVALID_ARGUMENT);
    assert_null(none);

    /* The attention: x of another width, y of another batch, a state of another batch. */
    dvk_infini_attention *a = NULL;
    CHECK_OK(dvk_infini_attention_load(harness_ctx, f->weights_path,
                                       &(dvk_infini_load_desc){.prefix = "layers.0.0."}, &a));
    dvk_infini_attention_state *st = NULL;
    CHECK_OK(dvk_infini_attention_state_create(a, f->B, &st));
    dvk_tensor *x = harness_make(DVK_DTYPE_F32, 3, f->B, 5, f->C, 0);
    dvk_tensor *y = harness_make(DVK_DTYPE_F32, 3, f->B, 5, f->C, 0);
    dvk_tensor *x_bad = harness_make(DVK_DTYPE_F32, 3, f->B, 5, f->C + 1, 0);
    dvk_tensor *x1 = harness_make(DVK_DTYPE_F32, 3, 1, 5, f->C, 0);
    dvk_tensor *y1 = harness_make(DVK_DTYPE_F32, 3, 1, 5, f->C, 0);
    typedef dvk_infini_attention_forward_desc ad;
    CHECK_STATUS(dvk_infini_attention_forward(cmd, a, &(ad){.x = x_bad, .y = y}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_infini_attention_forward(cmd, a, &(ad){.x = x, .y = y1}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_infini_attention_forward(cmd, a, &(ad){.x = x1, .y = y1, .state = st}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_infini_attention_forward(cmd, a, &(ad){.x = x}), DVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(dvk_infini_attention_state_segments(st), 0);
    CHECK_STATUS(dvk_infini_attention_state_create(a, 0, &st), DVK_ERROR_INVALID_ARGUMENT);
    assert_null(st);
    dvk_infini_attention_destroy(a);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(lg);
    dvk_tensor_destroy(lg_bad);
    dvk_tensor_destroy(x);
    dvk_tensor_destroy(y);
    dvk_tensor_destroy(x_bad);
    dvk_tensor_destroy(x1);
    dvk_tensor_destroy(y1);
    dvk_infini_transformer_session_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_info, harness_test_teardown),
        cmocka_unit_test_teardown(test_segments, harness_test_teardown),
        cmocka_unit_test_teardown(test_eval, harness_test_teardown),
        cmocka_unit_test_teardown(test_attention, harness_test_teardown),
        cmocka_unit_test_teardown(test_feed_forward, harness_test_teardown),
        cmocka_unit_test_teardown(test_save_restore, harness_test_teardown),
        cmocka_unit_test_teardown(test_16bit, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_weights, harness_test_teardown),
        cmocka_unit_test_teardown(test_dry_run, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_calls, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
