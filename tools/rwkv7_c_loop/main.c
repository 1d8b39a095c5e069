/* rwkv7_c_loop — greedy generation with an RWKV-7 model in plain single-threaded C (float32),
 * the baseline `dvk generate` is compared with on the CPU (docs/performance.md, "A whole model
 * on lavapipe"). It does what `dvk generate --greedy` does, step for step: the prompt's tokens
 * one at a time (logits of the last one only), the argmax, then each generated token fed back.
 * Text goes to stdout as it comes; the speeds (wall clock) to stderr, counted as dvk counts
 * them: prefill = the prompt and the first generated token, decode = every later token.
 *
 * Usage: rwkv7_c_loop [--model M] [--prompt P] [--tokens N] [--help]
 *   --model M    an rwkv.cpp .bin file, FP32 or FP16, byte-level vocabulary (default: the tiny
 *                model of tests/fixtures/tiny-rwkv7, relative to the current directory)
 *   --prompt P   the prompt's text (default the README's demo prompt)
 *   --tokens N   tokens to generate (default 64)
 * Exit status 0; 1 when the model cannot be read; 2 for a usage error. */
#include "rwkv7_c_loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char default_model[] = "tests/fixtures/tiny-rwkv7/tiny-rwkv-7v0-834K-FP32.bin";
static const char default_prompt[] = "Once upon a time, there was a little girl named Lily. She";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int usage(FILE *f, int status)
{
    fprintf(f, "usage: rwkv7_c_loop [--model M] [--prompt P] [--tokens N] [--help]\n");
    return status;
}

int main(int argc, char **argv)
{
    const char *model_path = default_model, *prompt = default_prompt;
    long tokens = 64;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return usage(stdout, 0);
        if (i + 1 >= argc)
            return usage(stderr, 2);
        if (strcmp(a, "--model") == 0) {
            model_path = argv[++i];
        } else if (strcmp(a, "--prompt") == 0) {
            prompt = argv[++i];
        } else if (strcmp(a, "--tokens") == 0) {
            char *end;
            tokens = strtol(argv[++i], &end, 10);
            if (*end || tokens < 1 || tokens > 1000000)
                return usage(stderr, 2);
        } else {
            return usage(stderr, 2);
        }
    }
    const size_t n_prompt = strlen(prompt);
    if (n_prompt == 0) {
        fprintf(stderr, "rwkv7_c_loop: the prompt is empty\n");
        return 2;
    }
    rwkv7c_model m;
    char err[512];
    if (rwkv7c_load(model_path, &m, err, sizeof err) != 0) {
        fprintf(stderr, "rwkv7_c_loop: %s\n", err);
        return 1;
    }
    if (m.n_vocab != 256) {
        fprintf(stderr, "rwkv7_c_loop: a vocabulary of %u tokens; only byte-level models\n",
                m.n_vocab);
        rwkv7c_free(&m);
        return 1;
    }
    rwkv7c_state s;
    float *logits = malloc(m.n_vocab * sizeof *logits);
    if (!logits || rwkv7c_state_init(&m, &s) != 0) {
        fprintf(stderr, "rwkv7_c_loop: out of memory\n");
        free(logits);
        rwkv7c_free(&m);
        return 1;
    }

    double t0 = now_s();
    for (size_t i = 0; i < n_prompt; ++i)
        rwkv7c_step(&m, &s, (unsigned char)prompt[i], i + 1 == n_prompt ? logits : NULL);
    int32_t next = rwkv7c_argmax(logits, m.n_vocab);
    const double t_prefill = now_s() - t0;
    putchar(next);
    fflush(stdout);
    double t_decode = 0;
    for (long step = 1; step < tokens; ++step) {
        t0 = now_s();
        rwkv7c_step(&m, &s, next, logits);
        next = rwkv7c_argmax(logits, m.n_vocab);
        t_decode += now_s() - t0;
        putchar(next);
        fflush(stdout);
    }
    putchar('\n');
    fflush(stdout);

    fprintf(stderr,
            "%s: %u layers, width %u, vocabulary %u, fp32, plain C on one thread\n"
            "prefill: %zu tokens in %.1f ms (%.1f tokens/s, the first generated token "
            "included)\n",
            model_path, m.n_layer, m.n_embd, m.n_vocab, n_prompt, 1e3 * t_prefill,
            t_prefill > 0 ? (double)n_prompt / t_prefill : 0.0);
    if (tokens > 1)
        fprintf(stderr, "decode: %ld tokens in %.1f ms (%.1f tokens/s)\n", tokens - 1,
                1e3 * t_decode, t_decode > 0 ? (double)(tokens - 1) / t_decode : 0.0);
    free(logits);
    rwkv7c_state_free(&s);
    rwkv7c_free(&m);
    return 0;
}
