/* RWKV-7 end to end on rwkv.cpp's tiny model (tests/fixtures/tiny-rwkv7), against the fixture of
 * scripts/rwkv7_reference.py (an independent PyTorch implementation, float64): the logits at
 * every position of a 300-byte prompt, and its 64 greedy tokens. Also: a prompt in one call
 * (chunked and recurrent) equals it token by token; greedy decoding on the device (argmax fed
 * back as the next token); state saved and restored, or copied, continues as the uninterrupted
 * session; fp16 and bf16 weights; the same model from safetensors (made here from the .bin, in
 * PyTorch's layout) gives identical logits; malformed and mismatched files, and bad calls, give
 * errors. */
#include "harness.h"

#include "deltavk_models.h"
#include "deltavk_nn.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MODEL_PATH DVK_FIXTURE_DIR "/tiny-rwkv7/tiny-rwkv-7v0-834K-FP32.bin"
#define FIXTURE_PATH DVK_FIXTURE_DIR "/rwkv7_tiny_reference.safetensors"

enum { V = 256, C = 64, L = 12, N_GREEDY = 64 };

/* Loaded once by the group setup. */
static unsigned char *bin_bytes;
static size_t bin_size;
static int32_t *prompt;
static uint32_t n_prompt;
static float *ref_logits; /* [n_prompt, V] */
static int32_t greedy[N_GREEDY];
static dvk_rwkv7_model *model; /* fp32, from the .bin */

static const char *tmpdir(void)
{
    const char *d = getenv("DVK_TEST_TMPDIR");
    return d ? d : "/tmp";
}

static void tmp_path(char *buf, size_t len, const char *what)
{
    snprintf(buf, len, "%s/test_rwkv7_%ld_%s", tmpdir(), (long)getpid(), what);
}

static double rel_err_f(const char *label, const float *ref, const float *got, size_t n)
{
    double *r = malloc(n * sizeof *r);
    for (size_t i = 0; i < n; ++i)
        r[i] = ref[i];
    const double e = harness_rel_err(label, r, got, n);
    free(r);
    return e;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; ++i)
        m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

/* ---- the .bin, read here independently of the library (a valid file is assumed) ------------- */

typedef struct rec {
    size_t off;  /* the record's first byte */
    size_t data; /* its data's first byte */
    size_t end;
    int32_t ndim, type;
    int32_t dims[4]; /* the file's order */
    char name[96];
} rec;

static int32_t rd32(const unsigned char *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static void wr32(unsigned char *p, int32_t v) { memcpy(p, &v, 4); }

static rec *parse_records(const unsigned char *b, size_t size, uint32_t *count)
{
    rec *r = NULL;
    uint32_t n = 0;
    for (size_t off = 24; off < size; ++n) {
        r = realloc(r, (n + 1) * sizeof *r);
        rec *x = &r[n];
        x->off = off;
        x->ndim = rd32(b + off);
        const int32_t klen = rd32(b + off + 4);
        x->type = rd32(b + off + 8);
        size_t numel = 1;
        for (int32_t d = 0; d < x->ndim; ++d) {
            x->dims[d] = rd32(b + off + 12 + 4 * (size_t)d);
            numel *= (size_t)x->dims[d];
        }
        const size_t key = off + 12 + 4 * (size_t)x->ndim;
        memcpy(x->name, b + key, (size_t)klen);
        x->name[klen] = '\0';
        x->data = key + (size_t)klen;
        x->end = x->data + numel * (x->type == 0 ? 4 : 2);
        off = x->end;
    }
    *count = n;
    return r;
}

static bool ends_with(const char *s, const char *suffix)
{
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The .bin converted to safetensors with PyTorch's names and layouts (what
 * scripts/rwkv7_to_safetensors.py writes): x_rwkvag split into x_r .. x_g [1,1,C], the
 * low-rank matrices transposed back. `skip` leaves one tensor out, `extra` adds one, `bad`
 * writes that tensor with a wrong shape, `keep_bin_layout` writes the low-rank matrices as the
 * .bin stores them. */
typedef struct st_opts {
    const char *skip, *extra, *bad;
    bool keep_bin_layout;
} st_opts;

static void write_safetensors(const char *path, st_opts o)
{
    uint32_t n;
    rec *r = parse_records(bin_bytes, bin_size, &n);
    dvk_st_writer *w;
    CHECK_OK(dvk_st_writer_create(&w));
    static const char *const mix[6] = {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g"};
    static const char *const lora[8] = {".att.w1", ".att.w2", ".att.a1", ".att.a2",
                                        ".att.v1", ".att.v2", ".att.g1", ".att.g2"};
    for (uint32_t i = 0; i < n; ++i) {
        const rec *x = &r[i];
        assert_int_equal(x->type, 0);
        uint64_t shape[4], numel = 1;
        for (int32_t d = 0; d < x->ndim; ++d) {
            shape[d] = (uint64_t)x->dims[x->ndim - 1 - d];
            numel *= shape[d];
        }
        float *aligned = malloc(numel * sizeof *aligned); /* records start at any byte */
        memcpy(aligned, bin_bytes + x->data, numel * sizeof *aligned);
        const float *data = aligned;
        float *copy = NULL;
        if (ends_with(x->name, ".att.x_rwkvag")) {
            char name[128];
            const uint64_t s3[3] = {1, 1, C};
            for (int m = 0; m < 6; ++m) {
                snprintf(name, sizeof name, "%.*s%s",
                         (int)(strlen(x->name) - strlen("x_rwkvag")), x->name, mix[m]);
                if (o.skip && strcmp(o.skip, name) == 0)
                    continue;
                CHECK_OK(dvk_st_writer_add(w, name, DVK_ST_F32, 3, s3, data + m * C));
            }
            free(aligned);
            continue;
        }
        if (o.skip && strcmp(o.skip, x->name) == 0) {
            free(aligned);
            continue;
        }
        bool is_lora = false;
        for (int k = 0; k < 8; ++k)
            is_lora |= ends_with(x->name, lora[k]);
        if (is_lora && !o.keep_bin_layout) { /* stored [out, in]: back to PyTorch's [in, out] */
            const uint64_t rows = shape[0], cols = shape[1];
            copy = malloc(rows * cols * sizeof *copy);
            for (uint64_t a = 0; a < rows; ++a)
                for (uint64_t b = 0; b < cols; ++b)
                    copy[b * rows + a] = data[a * cols + b];
            shape[0] = cols;
            shape[1] = rows;
            data = copy;
        }
        uint32_t nd = (uint32_t)x->ndim;
        if (o.bad && strcmp(o.bad, x->name) == 0) { /* same data, a wrong shape */
            shape[0] *= shape[1];
            nd = 1;
        }
        CHECK_OK(dvk_st_writer_add(w, x->name, DVK_ST_F32, nd, shape, data));
        free(copy);
        free(aligned);
    }
    if (o.extra) {
        const float z[C] = {0};
        const uint64_t s1[1] = {C};
        CHECK_OK(dvk_st_writer_add(w, o.extra, DVK_ST_F32, 1, s1, z));
    }
    char err[256];
    CHECK_OK(dvk_st_writer_save(w, path, err, sizeof err));
    dvk_st_writer_destroy(w);
    free(r);
}

/* ---- setup ---------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    if (harness_group_setup(state) != 0)
        return -1;
    FILE *f = fopen(MODEL_PATH, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", MODEL_PATH);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    bin_size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    bin_bytes = malloc(bin_size);
    const size_t got = fread(bin_bytes, 1, bin_size, f);
    fclose(f);
    if (got != bin_size)
        return -1;

    dvk_weights *w = NULL;
    if (dvk_weights_load(NULL, FIXTURE_PATH, NULL, &w) != DVK_SUCCESS) {
        fprintf(stderr, "%s\n", dvk_last_error());
        return -1;
    }
    dvk_weights_entry e;
    if (dvk_weights_find(w, "prompt", &e) != DVK_SUCCESS)
        return -1;
    n_prompt = (uint32_t)e.numel;
    prompt = malloc(n_prompt * sizeof *prompt);
    ref_logits = malloc((size_t)n_prompt * V * sizeof *ref_logits);
    if (dvk_weights_read(w, "prompt", DVK_DTYPE_I32, prompt, n_prompt * sizeof *prompt) ||
        dvk_weights_read(w, "logits", DVK_DTYPE_F32, ref_logits,
                         (size_t)n_prompt * V * sizeof *ref_logits) ||
        dvk_weights_read(w, "greedy", DVK_DTYPE_I32, greedy, sizeof greedy)) {
        fprintf(stderr, "%s\n", dvk_last_error());
        return -1;
    }
    dvk_weights_destroy(w);
    if (dvk_rwkv7_load(harness_ctx, MODEL_PATH, NULL, &model) != DVK_SUCCESS) {
        fprintf(stderr, "%s\n", dvk_last_error());
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    dvk_rwkv7_destroy(model);
    free(bin_bytes);
    free(prompt);
    free(ref_logits);
    return harness_group_teardown(state);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_info(void **state)
{
    (void)state;
    const dvk_rwkv7_info *in = dvk_rwkv7_model_info(model);
    assert_int_equal(in->n_vocab, V);
    assert_int_equal(in->n_embd, C);
    assert_int_equal(in->n_layer, L);
    assert_int_equal(in->n_head, 1);
    assert_int_equal(in->head_size, 64);
    assert_int_equal(in->ffn_dim, 4 * C);
    assert_int_equal(in->decay_rank, 32);
    assert_int_equal(in->iclr_rank, 32);
    assert_int_equal(in->value_rank, 32);
    assert_int_equal(in->gate_rank, 32);
    assert_int_equal(in->dtype, DVK_DTYPE_F32);
    assert_int_equal(in->format, DVK_MODEL_FORMAT_RWKV_CPP);
}

/* Every position's logits of the prompt, in one call, against the reference. */
static float *prompt_logits(dvk_rwkv7_model *m, uint32_t n)
{
    dvk_rwkv7_session *s;
    CHECK_OK(dvk_rwkv7_session_create(m, &s));
    float *got = malloc((size_t)n * V * sizeof *got);
    CHECK_OK(dvk_rwkv7_eval(s, prompt, n, got, (size_t)n * V));
    dvk_rwkv7_session_destroy(s);
    return got;
}

static void test_logits_fp32(void **state)
{
    (void)state;
    float *got = prompt_logits(model, n_prompt);
    const double e = rel_err_f("fp32 weights: logits of every position", ref_logits, got,
                               (size_t)n_prompt * V);
    if (!(e <= 1e-4))
        fail_msg("fp32 logits: relative RMS error %.3e > 1e-4", e);
    /* The last position alone, too. Its head is a one-row product, which may take the decode
     * path and sum in another order than the many-row one (it does on NVIDIA): equal to
     * fp32 rounding, not bit for bit. */
    dvk_rwkv7_session *s;
    CHECK_OK(dvk_rwkv7_session_create(model, &s));
    float last[V];
    CHECK_OK(dvk_rwkv7_eval(s, prompt, n_prompt, last, V));
    const double e_last = rel_err_f("the last position alone against every position's last",
                                    got + (size_t)(n_prompt - 1) * V, last, V);
    if (!(e_last <= 1e-6))
        fail_msg("last position alone: relative RMS error %.3e > 1e-6", e_last);
    dvk_rwkv7_session_destroy(s);
    free(got);
}

/* fp16 and bf16 matrices. This model was trained in bf16: every weight is a bf16 value (the low
 * 16 bits of each fp32 are zero), so bf16 storage is exact and fp16 rounds only the weights
 * below fp16's normal range; both measured 2e-7 against the reference, as fp32 does. The
 * tolerance, 1e-5, would catch a dtype mix-up in the kernels; weights that are not bf16 values
 * would move the logits by ~1e-3 (fp16) or ~1e-2 (bf16). */
static void test_logits_16bit(void **state)
{
    (void)state;
    const struct {
        dvk_dtype dt;
        double tol;
    } cases[] = {{DVK_DTYPE_F16, 1e-5}, {DVK_DTYPE_BF16, 1e-5}};
    for (size_t i = 0; i < 2; ++i) {
        if (!harness_have_dtype("rwkv7 weights", cases[i].dt))
            continue;
        dvk_rwkv7_model *m;
        CHECK_OK(dvk_rwkv7_load(harness_ctx, MODEL_PATH,
                                &(dvk_rwkv7_load_desc){.dtype = cases[i].dt}, &m));
        assert_int_equal(dvk_rwkv7_model_info(m)->dtype, cases[i].dt);
        const uint32_t n = 128;
        float *got = prompt_logits(m, n);
        char label[64];
        snprintf(label, sizeof label, "%s weights: logits", dvk_dtype_name(cases[i].dt));
        const double e = rel_err_f(label, ref_logits, got, (size_t)n * V);
        if (!(e <= cases[i].tol))
            fail_msg("%s: relative RMS error %.3e > %.1e", label, e, cases[i].tol);
        free(got);
        dvk_rwkv7_destroy(m);
    }
}

/* One call over a prompt (chunked, and recurrent) equals the same prompt token by token:
 * logits and the whole state. */
static void test_prefill_equals_token_by_token(void **state)
{
    (void)state;
    const uint32_t n = 24; /* a chunk of 16 and a part of one */
    float *one = malloc((size_t)n * V * sizeof *one);
    float *steps = malloc((size_t)n * V * sizeof *steps);
    dvk_rwkv7_session *s_tok, *s_seq;
    CHECK_OK(dvk_rwkv7_session_create(model, &s_tok));
    CHECK_OK(dvk_rwkv7_session_create(model, &s_seq));
    { /* token by token (T = 1 per call), the calls recorded into one submission */
        dvk_cmd *cmd;
        dvk_tensor *all, *row;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 2, .shape = {n, V}},
                                   &all));
        for (uint32_t t = 0; t < n; ++t) {
            CHECK_OK(dvk_tensor_view(all, &(dvk_tensor_view_desc){.offset = (uint64_t)t * V,
                                                                  .ndim = 1, .shape = {V}},
                                     &row));
            CHECK_OK(dvk_rwkv7_forward(cmd, s_tok, &(dvk_rwkv7_forward_desc){
                                                       .tokens = prompt + t, .n_tokens = 1,
                                                       .logits = row}));
            dvk_tensor_destroy(row); /* the recorded work holds its buffer, not the view */
        }
        harness_run(cmd);
        CHECK_OK(dvk_tensor_download(all, steps, (size_t)n * V * sizeof *steps));
        dvk_tensor_destroy(all);
        dvk_cmd_destroy(cmd);
    }
    const dvk_mode modes[2] = {DVK_MODE_CHUNK, DVK_MODE_RECURRENT};
    const uint32_t max_tokens[2] = {0, 16}; /* the second in passes of 16 tokens */
    for (int mi = 0; mi < 2; ++mi) {
        CHECK_OK(dvk_rwkv7_session_reset(s_seq));
        dvk_cmd *cmd;
        dvk_tensor *logits;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 2, .shape = {n, V}},
                                   &logits));
        CHECK_OK(dvk_rwkv7_forward(cmd, s_seq, &(dvk_rwkv7_forward_desc){
                                                   .tokens = prompt, .n_tokens = n,
                                                   .logits = logits, .mode = modes[mi],
                                                   .chunk_size = mi == 0 ? 16 : 0,
                                                   .max_tokens = max_tokens[mi]}));
        harness_run(cmd);
        CHECK_OK(dvk_tensor_download(logits, one, (size_t)n * V * sizeof *one));
        char label[96];
        snprintf(label, sizeof label, "%s prompt vs token by token: logits",
                 mi == 0 ? "chunked" : "recurrent (passes of 16)");
        const double e = rel_err_f(label, steps, one, (size_t)n * V);
        if (!(e <= 2e-6))
            fail_msg("%s: %.3e", label, e);
        for (uint32_t l = 0; l < L; ++l) {
            for (int p = 0; p < 3; ++p) {
                const dvk_tensor *a = dvk_rwkv7_session_state(s_tok, l, (dvk_rwkv7_state_part)p);
                const dvk_tensor *b = dvk_rwkv7_session_state(s_seq, l, (dvk_rwkv7_state_part)p);
                float *sa = harness_download(a), *sb = harness_download(b);
                const double es = rel_err_f("state", sa, sb, dvk_tensor_numel(a));
                if (!(es <= 2e-6))
                    fail_msg("%s: layer %u state part %d differs by %.3e", label, l, p, es);
                free(sa);
                free(sb);
            }
        }
        dvk_tensor_destroy(logits);
        dvk_cmd_destroy(cmd);
    }
    /* and both agree with the reference */
    const double e = rel_err_f("token by token vs reference", ref_logits, steps, (size_t)n * V);
    assert_true(e <= 1e-4);
    dvk_rwkv7_session_destroy(s_tok);
    dvk_rwkv7_session_destroy(s_seq);
    free(one);
    free(steps);
}

/* Greedy decoding on the device: each step's argmax is the next step's token_tensor, equal to
 * the reference's 64 tokens. The steps are recorded 16 to a submission (the argmax written by
 * one step is read by the next in the same recording). */
static void test_greedy(void **state)
{
    (void)state;
    dvk_rwkv7_session *s;
    CHECK_OK(dvk_rwkv7_session_create(model, &s));
    dvk_tensor *logits, *tok;
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 1, .shape = {V}},
                               &logits));
    CHECK_OK(dvk_tensor_create(
        harness_ctx, &(dvk_tensor_desc){.dtype = DVK_DTYPE_I32, .ndim = 1, .shape = {1}}, &tok));
    dvk_cmd *cmd;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    int32_t got[N_GREEDY];
    for (int i = 0; i < N_GREEDY; ++i) {
        if (i == 0)
            CHECK_OK(dvk_rwkv7_forward(cmd, s, &(dvk_rwkv7_forward_desc){
                                                   .tokens = prompt, .n_tokens = n_prompt,
                                                   .logits = logits}));
        else
            CHECK_OK(dvk_rwkv7_forward(cmd, s, &(dvk_rwkv7_forward_desc){
                                                   .token_tensor = tok, .n_tokens = 1,
                                                   .logits = logits}));
        CHECK_OK(dvk_argmax(cmd, &(dvk_argmax_desc){.x = logits, .y = tok}));
        CHECK_OK(dvk_cmd_download(cmd, tok, &got[i], sizeof got[i]));
        if (i % 16 == 15) {
            harness_run(cmd);
            CHECK_OK(dvk_cmd_reset(cmd));
        }
    }
    for (int i = 0; i < N_GREEDY; ++i)
        if (got[i] != greedy[i])
            fail_msg("greedy token %d: %d, the reference's %d", i, got[i], greedy[i]);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(logits);
    dvk_tensor_destroy(tok);
    dvk_rwkv7_session_destroy(s);
}

/* Saving the state after part of the prompt and restoring it into a fresh session continues
 * exactly as the uninterrupted session; so does a copied session. */
static void test_state_save_restore(void **state)
{
    (void)state;
    const uint32_t first = 24, rest = 16;
    dvk_rwkv7_session *a, *b, *c;
    CHECK_OK(dvk_rwkv7_session_create(model, &a));
    CHECK_OK(dvk_rwkv7_session_create(model, &b));
    CHECK_OK(dvk_rwkv7_session_create(model, &c));
    CHECK_OK(dvk_rwkv7_eval(a, prompt, first, NULL, 0));
    char path[512];
    tmp_path(path, sizeof path, "state.safetensors");
    CHECK_OK(dvk_rwkv7_session_save(a, path));
    CHECK_OK(dvk_rwkv7_session_copy(c, a));
    float *la = malloc((size_t)rest * V * sizeof *la), *lb = malloc((size_t)rest * V * sizeof *lb),
          *lc = malloc((size_t)rest * V * sizeof *lc);
    CHECK_OK(dvk_rwkv7_eval(a, prompt + first, rest, la, (size_t)rest * V));
    CHECK_OK(dvk_rwkv7_eval(b, prompt, 5, NULL, 0)); /* some other state, overwritten */
    CHECK_OK(dvk_rwkv7_session_restore(b, path));
    CHECK_OK(dvk_rwkv7_eval(b, prompt + first, rest, lb, (size_t)rest * V));
    CHECK_OK(dvk_rwkv7_eval(c, prompt + first, rest, lc, (size_t)rest * V));
    assert_true(max_abs_diff(la, lb, (size_t)rest * V) == 0.0);
    assert_true(max_abs_diff(la, lc, (size_t)rest * V) == 0.0);
    assert_true(rel_err_f("restored state vs reference", ref_logits + (size_t)first * V, lb,
                          (size_t)rest * V) <= 1e-4);
    /* The file is a safetensors file of the documented tensors. */
    dvk_weights *w;
    CHECK_OK(dvk_weights_load(NULL, path, NULL, &w));
    assert_int_equal(dvk_weights_count(w), 3 * L);
    assert_string_equal(dvk_weights_metadata(w, "format"), "deltavk-rwkv7-state");
    dvk_weights_entry e;
    CHECK_OK(dvk_weights_find(w, "blocks.11.att.wkv", &e));
    assert_int_equal(e.ndim, 4);
    assert_int_equal(e.shape[1], 1);
    assert_int_equal(e.shape[2], 64);
    dvk_weights_destroy(w);
    /* Reset: back to the start of a sequence. */
    CHECK_OK(dvk_rwkv7_session_reset(b));
    CHECK_OK(dvk_rwkv7_eval(b, prompt, 3, lb, (size_t)3 * V));
    assert_true(rel_err_f("after reset", ref_logits, lb, (size_t)3 * V) <= 1e-4);
    remove(path);
    free(la);
    free(lb);
    free(lc);
    dvk_rwkv7_session_destroy(a);
    dvk_rwkv7_session_destroy(b);
    dvk_rwkv7_session_destroy(c);
}

/* A save that fails midway (a file-size limit standing in for a full disk) leaves the file
 * that was there, and no file of its own (issue 17: it was truncated, then removed). */
static void test_state_save_keeps_file_on_failure(void **state)
{
    (void)state;
    dvk_rwkv7_session *s;
    CHECK_OK(dvk_rwkv7_session_create(model, &s));
    char path[512];
    tmp_path(path, sizeof path, "kept_state.safetensors");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("previous", f);
    assert_int_equal(fclose(f), 0);
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of the signal */
    const struct rlimit small = {.rlim_cur = 4096, .rlim_max = old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    const dvk_status st = dvk_rwkv7_session_save(s, path);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(st, DVK_ERROR_IO);
    char got[32] = "";
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(got, 1, sizeof got - 1, f), 8);
    fclose(f);
    assert_string_equal(got, "previous");
    /* a directory is not replaced; a good save replaces the file */
    char dir[600];
    snprintf(dir, sizeof dir, "%s.d", path);
    assert_int_equal(mkdir(dir, 0755), 0);
    CHECK_STATUS(dvk_rwkv7_session_save(s, dir), DVK_ERROR_IO);
    assert_int_equal(rmdir(dir), 0);
    CHECK_OK(dvk_rwkv7_session_save(s, path));
    CHECK_OK(dvk_rwkv7_session_restore(s, path));
    remove(path);
    dvk_rwkv7_session_destroy(s);
}

static void test_safetensors_equals_bin(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "model.safetensors");
    write_safetensors(path, (st_opts){0});
    dvk_rwkv7_model *m;
    CHECK_OK(dvk_rwkv7_load(harness_ctx, path, NULL, &m));
    assert_int_equal(dvk_rwkv7_model_info(m)->format, DVK_MODEL_FORMAT_SAFETENSORS);
    assert_int_equal(dvk_rwkv7_model_info(m)->n_layer, L);
    const uint32_t n = 24;
    float *a = prompt_logits(model, n), *b = prompt_logits(m, n);
    assert_true(max_abs_diff(a, b, (size_t)n * V) == 0.0);
    free(a);
    free(b);
    dvk_rwkv7_destroy(m);
    /* fp16 from safetensors equals fp16 from the .bin */
    if (harness_have_dtype("rwkv7 safetensors", DVK_DTYPE_F16)) {
        dvk_rwkv7_model *m1, *m2;
        const dvk_rwkv7_load_desc d = {.dtype = DVK_DTYPE_F16};
        CHECK_OK(dvk_rwkv7_load(harness_ctx, path, &d, &m1));
        CHECK_OK(dvk_rwkv7_load(harness_ctx, MODEL_PATH, &d, &m2));
        a = prompt_logits(m1, 16);
        b = prompt_logits(m2, 16);
        assert_true(max_abs_diff(a, b, (size_t)16 * V) == 0.0);
        free(a);
        free(b);
        dvk_rwkv7_destroy(m1);
        dvk_rwkv7_destroy(m2);
    }
    remove(path);
}

static void test_safetensors_mismatches(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "bad.safetensors");
    const struct {
        st_opts o;
        dvk_status want;
    } cases[] = {
        {{.skip = "blocks.3.att.k_a"}, DVK_ERROR_NOT_FOUND},
        {{.skip = "blocks.5.att.x_g"}, DVK_ERROR_NOT_FOUND},
        {{.skip = "head.weight"}, DVK_ERROR_NOT_FOUND},
        {{.extra = "blocks.2.att.extra"}, DVK_ERROR_FORMAT},
        {{.extra = "blocks.0.att.v0"}, DVK_ERROR_FORMAT}, /* block 0 has no value residual */
        {{.bad = "blocks.7.ffn.key.weight"}, DVK_ERROR_SHAPE_MISMATCH},
        {{.bad = "blocks.4.att.w2"}, DVK_ERROR_SHAPE_MISMATCH},
        {{.keep_bin_layout = true}, DVK_ERROR_SHAPE_MISMATCH}, /* w1 [32,64] where [64,32] */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        write_safetensors(path, cases[i].o);
        dvk_rwkv7_model *m = (dvk_rwkv7_model *)&m;
        CHECK_STATUS(dvk_rwkv7_load(harness_ctx, path, NULL, &m), cases[i].want);
        assert_null(m);
        if (getenv("DVK_TEST_VERBOSE"))
            fprintf(stderr, "  %s\n", dvk_last_error());
    }
    remove(path);
}

/* A loading that must fail (not crash), with one of the allowed statuses. */
static void expect_load_fails(const unsigned char *b, size_t size, const char *what)
{
    dvk_rwkv7_model *m = NULL;
    const dvk_status st = dvk_rwkv7_load_memory(harness_ctx, b, size, NULL, &m);
    if (st == DVK_SUCCESS)
        fail_msg("%s: loaded", what);
    if (st != DVK_ERROR_FORMAT && st != DVK_ERROR_NOT_FOUND && st != DVK_ERROR_SHAPE_MISMATCH &&
        st != DVK_ERROR_UNSUPPORTED)
        fail_msg("%s: %s (%s)", what, dvk_status_string(st), dvk_last_error());
    assert_null(m);
}

static void test_malformed_bin(void **state)
{
    (void)state;
    uint32_t n;
    rec *r = parse_records(bin_bytes, bin_size, &n);
    unsigned char *b = malloc(bin_size + 64);
    char what[160];
    const bool verbose = getenv("DVK_TEST_VERBOSE") != NULL;

    /* Truncated anywhere: inside the header, at and around every record boundary, inside
     * every record's header and key, in the middle of its data. */
    for (size_t cut = 0; cut < 24; ++cut)
        expect_load_fails(bin_bytes, cut, "header cut");
    for (uint32_t i = 0; i < n; ++i) {
        const size_t cuts[] = {r[i].off, r[i].off + 5, r[i].off + 12, r[i].data - 3,
                               r[i].data + 1, (r[i].data + r[i].end) / 2, r[i].end - 1};
        for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; ++k) {
            snprintf(what, sizeof what, "cut at byte %zu of record %s", cuts[k], r[i].name);
            expect_load_fails(bin_bytes, cuts[k], what);
        }
    }

    /* Header fields. */
    const struct {
        size_t at;
        int32_t value;
        dvk_status want;
    } fields[] = {
        {0, 0x67676d67, DVK_ERROR_FORMAT},     /* magic */
        {4, 102, DVK_ERROR_FORMAT},            /* version */
        {8, 255, DVK_ERROR_SHAPE_MISMATCH},    /* n_vocab disagrees with emb */
        {12, 0, DVK_ERROR_FORMAT},             /* n_embed */
        {16, -3, DVK_ERROR_FORMAT},            /* n_layer */
        {16, 13, DVK_ERROR_NOT_FOUND},         /* a layer more than the file holds */
        {16, 11, DVK_ERROR_FORMAT},            /* one less: block 11's tensors are extra */
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; ++i) {
        memcpy(b, bin_bytes, bin_size);
        wr32(b + fields[i].at, fields[i].value);
        dvk_rwkv7_model *m = NULL;
        CHECK_STATUS(dvk_rwkv7_load_memory(harness_ctx, b, bin_size, NULL, &m), fields[i].want);
        if (verbose)
            fprintf(stderr, "  %s\n", dvk_last_error());
    }

    /* Records: find one by name and edit it. */
    const rec *w1 = NULL, *ln2 = NULL;
    for (uint32_t i = 0; i < n; ++i) {
        if (strcmp(r[i].name, "blocks.4.att.w1") == 0)
            w1 = &r[i];
        if (strcmp(r[i].name, "blocks.6.ln2.weight") == 0)
            ln2 = &r[i];
    }
    assert_non_null(w1);
    assert_non_null(ln2);
    struct {
        const char *what;
        size_t at;
        int32_t value;
        dvk_status want;
    } edits[] = {
        {"5 dimensions", w1->off, 5, DVK_ERROR_FORMAT},
        {"0 dimensions", w1->off, 0, DVK_ERROR_FORMAT},
        {"key of 0 bytes", w1->off + 4, 0, DVK_ERROR_FORMAT},
        {"key of 2^31-1 bytes", w1->off + 4, 0x7fffffff, DVK_ERROR_FORMAT},
        {"quantized type", w1->off + 8, 7, DVK_ERROR_UNSUPPORTED},
        {"unknown type", w1->off + 8, 99, DVK_ERROR_FORMAT},
        {"negative dimension", w1->off + 12, -64, DVK_ERROR_FORMAT},
        {"huge dimension", w1->off + 12, 0x7fffffff, DVK_ERROR_FORMAT},
        {"transposed shape", w1->off + 12, 32, DVK_ERROR_SHAPE_MISMATCH}, /* with the next */
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; ++i) {
        memcpy(b, bin_bytes, bin_size);
        wr32(b + edits[i].at, edits[i].value);
        if (strcmp(edits[i].what, "transposed shape") == 0)
            wr32(b + edits[i].at + 4, 64); /* [64,32] stored as [32,64]: same bytes */
        dvk_rwkv7_model *m = NULL;
        const dvk_status st = dvk_rwkv7_load_memory(harness_ctx, b, bin_size, NULL, &m);
        if (st != edits[i].want)
            fail_msg("%s: %s (%s), expected %s", edits[i].what, dvk_status_string(st),
                     dvk_last_error(), dvk_status_string(edits[i].want));
        if (verbose)
            fprintf(stderr, "  %s: %s\n", edits[i].what, dvk_last_error());
    }
    /* A duplicated key: blocks.6.ln2.weight renamed blocks.6.ln1.weight (same length). */
    memcpy(b, bin_bytes, bin_size);
    b[ln2->data - strlen("2.weight")] = '1';
    expect_load_fails(b, bin_size, "duplicate key");
    /* A key with a NUL byte. */
    memcpy(b, bin_bytes, bin_size);
    b[ln2->data - 2] = '\0';
    expect_load_fails(b, bin_size, "NUL in a key");
    /* An extra record at the end. */
    memcpy(b, bin_bytes, bin_size);
    const char extra[] = "blocks.0.att.x_extra";
    size_t at = bin_size;
    wr32(b + at, 1);
    wr32(b + at + 4, (int32_t)strlen(extra));
    wr32(b + at + 8, 0);
    wr32(b + at + 12, 4);
    memcpy(b + at + 16, extra, strlen(extra));
    at += 16 + strlen(extra);
    memset(b + at, 0, 16);
    CHECK_STATUS(dvk_rwkv7_load_memory(harness_ctx, b, at + 16, NULL, &(dvk_rwkv7_model *){0}),
                 DVK_ERROR_FORMAT);

    /* Random bytes in record headers (structure, not data): errors or, rarely, a valid file;
     * never a crash. */
    harness_rng rng = harness_rng_make(7);
    for (int k = 0; k < 300; ++k) {
        const rec *x = &r[(uint32_t)(harness_uniform(&rng) * (float)n) % n];
        memcpy(b, bin_bytes, bin_size);
        const size_t span = x->data - x->off;
        const size_t pos = x->off + (size_t)(harness_uniform(&rng) * (float)span) % span;
        b[pos] = (unsigned char)(harness_uniform(&rng) * 256.0f);
        dvk_rwkv7_model *m = NULL;
        const dvk_status st = dvk_rwkv7_load_memory(harness_ctx, b, bin_size, NULL, &m);
        assert_true(st == DVK_SUCCESS || m == NULL);
        dvk_rwkv7_destroy(m);
    }
    /* Other files: empty, a safetensors file that is no model, a directory. */
    expect_load_fails(bin_bytes, 0, "empty");
    CHECK_STATUS(dvk_rwkv7_load(harness_ctx, DVK_FIXTURE_DIR, NULL, &(dvk_rwkv7_model *){0}),
                 DVK_ERROR_IO);
    CHECK_STATUS(dvk_rwkv7_load(harness_ctx, FIXTURE_PATH, NULL, &(dvk_rwkv7_model *){0}),
                 DVK_ERROR_NOT_FOUND);
    CHECK_STATUS(dvk_rwkv7_load(harness_ctx, FIXTURE_PATH,
                                &(dvk_rwkv7_load_desc){.format = DVK_MODEL_FORMAT_RWKV_CPP},
                                &(dvk_rwkv7_model *){0}),
                 DVK_ERROR_FORMAT);
    free(b);
    free(r);
}

static void test_bad_calls(void **state)
{
    (void)state;
    dvk_rwkv7_session *s;
    CHECK_OK(dvk_rwkv7_session_create(model, &s));
    dvk_cmd *cmd;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    const int32_t bad_tok[2] = {65, 256};
    const int32_t ok_tok[2] = {65, 66};
    dvk_tensor *wrong, *ids_f32, *l16 = NULL;
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 2, .shape = {3, V}},
                               &wrong));
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 1, .shape = {2}},
                               &ids_f32));
    CHECK_STATUS(dvk_rwkv7_forward(cmd, s, &(dvk_rwkv7_forward_desc){.tokens = bad_tok,
                                                                      .n_tokens = 2}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_rwkv7_forward(cmd, s, &(dvk_rwkv7_forward_desc){.tokens = ok_tok}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_rwkv7_forward(cmd, s, &(dvk_rwkv7_forward_desc){.tokens = ok_tok,
                                                                      .token_tensor = ids_f32,
                                                                      .n_tokens = 2}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_rwkv7_forward(cmd, s, &(dvk_rwkv7_forward_desc){.token_tensor = ids_f32,
                                                                      .n_tokens = 2}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_rwkv7_forward(cmd, s, &(dvk_rwkv7_forward_desc){.tokens = ok_tok,
                                                                      .n_tokens = 2,
                                                                      .logits = wrong}),
                 DVK_ERROR_SHAPE_MISMATCH);
    if (dvk_context_device_info(harness_ctx)->fp16_storage) {
        CHECK_OK(dvk_tensor_create(
            harness_ctx, &(dvk_tensor_desc){.dtype = DVK_DTYPE_F16, .ndim = 1, .shape = {V}},
            &l16));
        CHECK_STATUS(dvk_rwkv7_forward(cmd, s, &(dvk_rwkv7_forward_desc){.tokens = ok_tok,
                                                                          .n_tokens = 2,
                                                                          .logits = l16}),
                     DVK_ERROR_UNSUPPORTED_DTYPE);
    }
    CHECK_STATUS(dvk_rwkv7_forward(NULL, s, &(dvk_rwkv7_forward_desc){.tokens = ok_tok,
                                                                       .n_tokens = 2}),
                 DVK_ERROR_INVALID_ARGUMENT);
    float logits[V];
    CHECK_STATUS(dvk_rwkv7_eval(s, ok_tok, 2, logits, V + 1), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_rwkv7_eval(s, ok_tok, 2, NULL, V), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_rwkv7_eval(s, bad_tok, 2, logits, V), DVK_ERROR_INVALID_ARGUMENT);
    /* The session still works after the failed calls. */
    CHECK_OK(dvk_rwkv7_eval(s, prompt, 2, logits, V));
    assert_true(rel_err_f("after failed calls", ref_logits + V, logits, V) <= 1e-4);
    assert_null(dvk_rwkv7_session_state(s, L, DVK_RWKV7_WKV));
    assert_null(dvk_rwkv7_session_state(s, 0, (dvk_rwkv7_state_part)3));
    assert_non_null(dvk_rwkv7_session_state(s, L - 1, DVK_RWKV7_FFN_SHIFT));

    /* State files: not a state file, a missing tensor, a wrong shape. */
    CHECK_STATUS(dvk_rwkv7_session_restore(s, FIXTURE_PATH), DVK_ERROR_FORMAT);
    CHECK_STATUS(dvk_rwkv7_session_restore(s, MODEL_PATH), DVK_ERROR_FORMAT);
    char path[512];
    tmp_path(path, sizeof path, "badstate.safetensors");
    dvk_st_writer *w;
    float zeros[64 * 64] = {0};
    CHECK_OK(dvk_st_writer_create(&w));
    CHECK_OK(dvk_st_writer_set_metadata(w, "format", "deltavk-rwkv7-state"));
    for (uint32_t l = 0; l < L; ++l) {
        char name[64];
        const uint64_t s2[2] = {1, C}, s4[4] = {1, 1, 64, l == 3 ? 32 : 64};
        snprintf(name, sizeof name, "blocks.%u.att.shift", l);
        CHECK_OK(dvk_st_writer_add(w, name, DVK_ST_F32, 2, s2, zeros));
        snprintf(name, sizeof name, "blocks.%u.att.wkv", l);
        CHECK_OK(dvk_st_writer_add(w, name, DVK_ST_F32, 4, s4, zeros));
        snprintf(name, sizeof name, "blocks.%u.ffn.shift", l);
        if (l != 9)
            CHECK_OK(dvk_st_writer_add(w, name, DVK_ST_F32, 2, s2, zeros));
    }
    char err[256];
    CHECK_OK(dvk_st_writer_save(w, path, err, sizeof err));
    dvk_st_writer_destroy(w);
    CHECK_STATUS(dvk_rwkv7_session_restore(s, path), DVK_ERROR_SHAPE_MISMATCH);
    remove(path);
    CHECK_STATUS(dvk_rwkv7_session_save(s, "/nonexistent-dir/state.safetensors"), DVK_ERROR_IO);
    /* a FIFO is not a model file: refused at once (opening it waited for a writer) */
    {
        char fifo[512];
        tmp_path(fifo, sizeof fifo, "model.fifo");
        unlink(fifo);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        dvk_rwkv7_model *m = NULL;
        alarm(20);
        CHECK_STATUS(dvk_rwkv7_load(harness_ctx, fifo, NULL, &m), DVK_ERROR_IO);
        alarm(0);
        assert_null(m);
        unlink(fifo);
    }

    CHECK_STATUS(dvk_rwkv7_load(harness_ctx, MODEL_PATH,
                                &(dvk_rwkv7_load_desc){.dtype = DVK_DTYPE_I32},
                                &(dvk_rwkv7_model *){0}),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_rwkv7_load(harness_ctx, "/nonexistent.bin", NULL, &(dvk_rwkv7_model *){0}),
                 DVK_ERROR_IO);
    CHECK_STATUS(dvk_rwkv7_session_create(NULL, &(dvk_rwkv7_session *){0}),
                 DVK_ERROR_INVALID_ARGUMENT);
    dvk_rwkv7_destroy(NULL);
    dvk_rwkv7_session_destroy(NULL);
    dvk_tensor_destroy(wrong);
    dvk_tensor_destroy(ids_f32);
    dvk_tensor_destroy(l16);
    dvk_cmd_destroy(cmd);
    dvk_rwkv7_session_destroy(s);
}

#ifdef DVK_TOOL_PATH
/* Runs `dvk <args>` with stdout to `out` (and stderr to out.err); returns the exit status, or
 * -1 when it did not exit normally. */
static int run_dvk(const char *args, const char *out)
{
    char cmd[4096];
    const char *tool = getenv("DVK_TOOL_PATH") ? getenv("DVK_TOOL_PATH") : DVK_TOOL_PATH;
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s.err'", tool, args, out, out);
    const int st = system(cmd);
    return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

/* dvk generate --greedy prints the reference's tokens; dvk eval writes the last logits. */
static void test_tool(void **state)
{
    (void)state;
    setenv("ASAN_OPTIONS", "exitcode=86", 1);
    setenv("UBSAN_OPTIONS", "halt_on_error=1:exitcode=87", 1);
    char *text = malloc(n_prompt + 1), args[2048], out[512];
    for (uint32_t i = 0; i < n_prompt; ++i)
        text[i] = (char)prompt[i];
    text[n_prompt] = '\0';
    assert_null(strchr(text, '\'')); /* quoted for the shell below */
    tmp_path(out, sizeof out, "generate.txt");
    snprintf(args, sizeof args, "generate --model '%s' --prompt '%s' --tokens 8 --greedy%s",
             MODEL_PATH, text, harness_small_profile() ? " --small-profile" : "");
    assert_int_equal(run_dvk(args, out), 0);
    FILE *f = fopen(out, "rb");
    assert_non_null(f);
    char got[16] = {0};
    assert_int_equal(fread(got, 1, 9, f), 9); /* 8 tokens and a newline */
    fclose(f);
    for (int i = 0; i < 8; ++i)
        assert_int_equal((unsigned char)got[i], greedy[i]);
    remove(out);
    char err[600];
    snprintf(err, sizeof err, "%s.err", out);
    remove(err);

    char st_path[512];
    tmp_path(st_path, sizeof st_path, "eval.safetensors");
    snprintf(args, sizeof args, "eval --model '%s' --prompt '%s' --out '%s'", MODEL_PATH, text,
             st_path);
    tmp_path(out, sizeof out, "eval.txt");
    assert_int_equal(run_dvk(args, out), 0);
    dvk_weights *w;
    CHECK_OK(dvk_weights_load(NULL, st_path, NULL, &w));
    float logits[V];
    CHECK_OK(dvk_weights_read(w, "logits", DVK_DTYPE_F32, logits, sizeof logits));
    dvk_weights_destroy(w);
    assert_true(rel_err_f("dvk eval", ref_logits + (size_t)(n_prompt - 1) * V, logits, V) <=
                1e-4);
    /* Wrong use: exit status 2; a file that is no model: 1. */
    assert_int_equal(run_dvk("generate --prompt x", out), 2);
    assert_int_equal(run_dvk("generate --model m --greedy --seed 3", out), 2);
    snprintf(args, sizeof args, "eval --model '%s' --prompt x --out '%s'", FIXTURE_PATH, st_path);
    assert_int_equal(run_dvk(args, out), 1);
    remove(st_path);
    remove(out);
    snprintf(err, sizeof err, "%s.err", out);
    remove(err);
    free(text);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_info, harness_test_teardown),
        cmocka_unit_test_teardown(test_logits_fp32, harness_test_teardown),
        cmocka_unit_test_teardown(test_logits_16bit, harness_test_teardown),
        cmocka_unit_test_teardown(test_prefill_equals_token_by_token, harness_test_teardown),
        cmocka_unit_test_teardown(test_greedy, harness_test_teardown),
        cmocka_unit_test_teardown(test_state_save_restore, harness_test_teardown),
        cmocka_unit_test_teardown(test_state_save_keeps_file_on_failure, harness_test_teardown),
        cmocka_unit_test_teardown(test_safetensors_equals_bin, harness_test_teardown),
        cmocka_unit_test_teardown(test_safetensors_mismatches, harness_test_teardown),
        cmocka_unit_test_teardown(test_malformed_bin, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_calls, harness_test_teardown),
#ifdef DVK_TOOL_PATH
        cmocka_unit_test_teardown(test_tool, harness_test_teardown),
#endif
    };
    if (getenv("DVK_TEST_FILTER")) /* a glob of test names: only those run */
        cmocka_set_test_filter(getenv("DVK_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
