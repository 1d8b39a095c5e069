/* The plain-C RWKV-7 baseline (tools/rwkv7_c_loop), so that the figure docs/performance.md
 * compares `dvk generate` with stays the model's: its logits at every position of the fixture's
 * 300-byte prompt against scripts/rwkv7_reference.py's float64 ones and its 64 greedy tokens
 * against the reference's; then the program and `dvk generate --greedy` (on the default device)
 * continue a short prompt with the same tokens. */
#include "rwkv7_c_loop.h"

#include "deltavk.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define MODEL_PATH DVK_FIXTURE_DIR "/tiny-rwkv7/tiny-rwkv-7v0-834K-FP32.bin"
#define FIXTURE_PATH DVK_FIXTURE_DIR "/rwkv7_tiny_reference.safetensors"

enum { N_GREEDY = 64, N_SHORT = 32 };

static rwkv7c_model model;
static int32_t *prompt;
static uint32_t n_prompt;
static float *ref_logits; /* [n_prompt, V] */
static int32_t greedy[N_GREEDY];

static int group_setup(void **state)
{
    (void)state;
    char err[512];
    if (rwkv7c_load(MODEL_PATH, &model, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    dvk_weights *w = NULL;
    dvk_weights_entry e;
    if (dvk_weights_load(NULL, FIXTURE_PATH, NULL, &w) != DVK_SUCCESS ||
        dvk_weights_find(w, "prompt", &e) != DVK_SUCCESS) {
        fprintf(stderr, "%s\n", dvk_last_error());
        dvk_weights_destroy(w);
        return -1;
    }
    n_prompt = (uint32_t)e.numel;
    prompt = malloc(n_prompt * sizeof *prompt);
    ref_logits = malloc((size_t)n_prompt * model.n_vocab * sizeof *ref_logits);
    dvk_status st = prompt && ref_logits ? DVK_SUCCESS : DVK_ERROR_OUT_OF_HOST_MEMORY;
    if (st == DVK_SUCCESS)
        st = dvk_weights_read(w, "prompt", DVK_DTYPE_I32, prompt, n_prompt * sizeof *prompt);
    if (st == DVK_SUCCESS)
        st = dvk_weights_read(w, "logits", DVK_DTYPE_F32, ref_logits,
                              (size_t)n_prompt * model.n_vocab * sizeof *ref_logits);
    if (st == DVK_SUCCESS)
        st = dvk_weights_read(w, "greedy", DVK_DTYPE_I32, greedy, sizeof greedy);
    dvk_weights_destroy(w);
    if (st != DVK_SUCCESS) {
        fprintf(stderr, "%s: %s\n", FIXTURE_PATH, dvk_last_error());
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    rwkv7c_free(&model);
    free(prompt);
    free(ref_logits);
    return 0;
}

/* Relative RMS error of got against ref. */
static double rel_rms(const float *ref, const float *got, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; ++i) {
        const double d = (double)got[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

/* The logits at every prompt position, then the greedy continuation, as the reference's. */
static void test_reference(void **state)
{
    (void)state;
    const uint32_t V = model.n_vocab;
    assert_int_equal(V, 256);
    rwkv7c_state s;
    assert_int_equal(rwkv7c_state_init(&model, &s), 0);
    float *logits = malloc((size_t)n_prompt * V * sizeof *logits);
    assert_non_null(logits);
    for (uint32_t t = 0; t < n_prompt; ++t)
        rwkv7c_step(&model, &s, prompt[t], logits + (size_t)t * V);
    const double e = rel_rms(ref_logits, logits, (size_t)n_prompt * V);
    if (getenv("DVK_TEST_VERBOSE"))
        fprintf(stderr, "  plain C, %u positions: rel rms %.3e\n", n_prompt, e);
    if (!(e <= 1e-6))
        fail_msg("logits: rel rms %.3e against the float64 reference", e);
    int32_t next = rwkv7c_argmax(logits + (size_t)(n_prompt - 1) * V, V);
    for (int i = 0; i < N_GREEDY; ++i) {
        if (next != greedy[i])
            fail_msg("greedy token %d: %d, the reference's %d", i, (int)next, (int)greedy[i]);
        rwkv7c_step(&model, &s, next, logits);
        next = rwkv7c_argmax(logits, V);
    }
    free(logits);
    rwkv7c_state_free(&s);
}

/* Runs `cmd` through the shell with stdout to `out`; returns the exit status (-1: a signal). */
static int run(const char *cmd, const char *out)
{
    char line[4096];
    snprintf(line, sizeof line, "%s >'%s' 2>'%s.err'", cmd, out, out);
    const int st = system(line);
    return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

static size_t read_text(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    const size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n;
}

/* The program and dvk generate --greedy: the same continuation of a short prompt. */
static void test_same_as_dvk_generate(void **state)
{
    (void)state;
    const char *tmpdir = getenv("DVK_TEST_TMPDIR") ? getenv("DVK_TEST_TMPDIR") : "/tmp";
    const char *dvk = getenv("DVK_TOOL_PATH") ? getenv("DVK_TOOL_PATH") : DVK_TOOL_PATH;
    const char *text = "Once upon a time";
    char cmd[2048], out_c[512], out_dvk[512], a[256], b[256];
    snprintf(out_c, sizeof out_c, "%s/test_rwkv7_c_loop_%ld_c.txt", tmpdir, (long)getpid());
    snprintf(out_dvk, sizeof out_dvk, "%s/test_rwkv7_c_loop_%ld_dvk.txt", tmpdir,
             (long)getpid());
    snprintf(cmd, sizeof cmd, "'%s' --model '%s' --prompt '%s' --tokens %d", RWKV7_C_LOOP_PATH,
             MODEL_PATH, text, N_SHORT);
    assert_int_equal(run(cmd, out_c), 0);
    snprintf(cmd, sizeof cmd, "'%s' generate --model '%s' --prompt '%s' --tokens %d --greedy",
             dvk, MODEL_PATH, text, N_SHORT);
    assert_int_equal(run(cmd, out_dvk), 0);
    const size_t na = read_text(out_c, a, sizeof a), nb = read_text(out_dvk, b, sizeof b);
    assert_int_equal(na, N_SHORT + 1); /* the tokens and a newline */
    assert_int_equal(nb, N_SHORT + 1);
    for (int i = 0; i < N_SHORT; ++i)
        if (a[i] != b[i])
            fail_msg("token %d: plain C %d, dvk generate %d", i, (unsigned char)a[i],
                     (unsigned char)b[i]);
    const char *files[] = {out_c, out_dvk};
    for (int i = 0; i < 2; ++i) {
        char err[600];
        snprintf(err, sizeof err, "%s.err", files[i]);
        remove(files[i]);
        remove(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_same_as_dvk_generate),
    };
    if (getenv("DVK_TEST_FILTER")) /* a glob of test names: only those run */
        cmocka_set_test_filter(getenv("DVK_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
