/* streaming — an RWKV-7 model fed a stream of text in pieces, its state saved to a file in the
 * middle of the stream, and a second process that picks the stream up from that file.
 *
 * A recurrent model's whole memory of the past is its state: a few fixed-size tensors per
 * layer. Saving them (dvk_rwkv7_session_save) and restoring them in another process
 * (dvk_rwkv7_session_restore) must continue the sequence exactly as if it had never stopped.
 * This sample shows it and checks it:
 *
 *   streaming --save F     feeds the first part of the text in pieces of irregular sizes (as
 *                          text arrives from a socket or a user typing), then saves the
 *                          session's state to F and exits;
 *   streaming --resume F   restores F into a new session, feeds the rest of the text in the
 *                          same pieces and generates a greedy continuation. Beside it, a second
 *                          session that never stopped reads the whole text in the same pieces.
 *                          The two must agree bit for bit: the restored state against the
 *                          uninterrupted one at the split, then the logits after every piece of
 *                          the rest and of every generated token, and the tokens themselves.
 *   streaming              both steps, one after the other, each with its own context
 *                          (state file streaming_state.safetensors in the current directory).
 *
 * Both steps must be given the same --text, --split and --piece (the resume step finds out
 * when they were not: the restored state then differs from the uninterrupted one).
 *
 * Usage: streaming [--save F | --resume F] [--model M] [--text FILE] [--split BYTES]
 *                  [--piece MAX] [--tokens N] [--device N|NAME] [--validate]
 * Exit status 0 when the resumed run matched the uninterrupted one (and, with --validate, the
 * validation layer said nothing); 1 otherwise; 2 for a usage error. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deltavk.h"
#include "deltavk_models.h"

static const char default_model[] = "tests/fixtures/tiny-rwkv7/tiny-rwkv-7v0-834K-FP32.bin";
static const char default_state[] = "streaming_state.safetensors";

/* The stream when no --text is given. */
static const char default_text[] =
    "Once upon a time, there was a little girl named Lily. She liked to play in the garden with "
    "her dog, Max. One day, Lily saw a big red ball under a tree. She ran to get it, but Max got "
    "there first. Lily laughed and said, \"Max, you are so fast!\" Max wagged his tail and gave "
    "her the ball. They played all afternoon until the sun went down. Then Lily's mom called "
    "them in for dinner. Lily was happy. She said, \"Thank you, Max, for the best day ever.\" "
    "The next morning, Lily woke up early. She looked out of the window and saw";

/* On failure: say which call failed and why, and go to the clean-up (never abort). */
#define CHECK(call)                                                                              \
    do {                                                                                         \
        dvk_status st_ = (call);                                                                 \
        if (st_ != DVK_SUCCESS) {                                                                \
            fprintf(stderr, "streaming: %s failed: %s: %s\n", #call, dvk_status_string(st_),     \
                    dvk_last_error());                                                           \
            goto done;                                                                           \
        }                                                                                        \
    } while (0)

typedef struct options {
    const char *model, *device, *text_path, *save, *resume;
    uint32_t split, max_piece, tokens;
    bool split_given, validate;
} options;

/* The text as token ids (the tiny model's vocabulary is the 256 byte values). */
typedef struct stream {
    int32_t *ids;
    uint32_t n;
} stream;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The size of the piece that starts at byte `offset`: irregular (1 to max_piece bytes) but a
 * function of the offset alone, so every run cuts the text at the same places. */
static uint32_t piece_size(uint32_t offset, uint32_t max_piece)
{
    uint64_t x = (uint64_t)offset * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    x ^= x >> 29, x *= 0xBF58476D1CE4E5B9ull, x ^= x >> 32;
    return 1 + (uint32_t)(x % max_piece);
}

/* Feeds ids [from, to) to the session piece by piece; each piece is one dvk_rwkv7_eval, its
 * last token's logits left in `logits`. With `trace`, every piece's logits are appended to
 * trace (V floats a piece). Counts pieces in *pieces. */
static dvk_status feed(dvk_rwkv7_session *s, const stream *text, uint32_t from, uint32_t to,
                       uint32_t max_piece, float *logits, uint32_t V, float *trace,
                       uint32_t *pieces)
{
    *pieces = 0;
    for (uint32_t at = from; at < to;) {
        uint32_t n = piece_size(at, max_piece);
        if (n > to - at)
            n = to - at;
        const dvk_status st = dvk_rwkv7_eval(s, text->ids + at, n, logits, V);
        if (st != DVK_SUCCESS)
            return st;
        if (trace)
            memcpy(trace + (size_t)*pieces * V, logits, (size_t)V * sizeof *logits);
        ++*pieces;
        at += n;
    }
    return DVK_SUCCESS;
}

static uint32_t count_pieces(uint32_t from, uint32_t to, uint32_t max_piece)
{
    uint32_t k = 0;
    for (uint32_t at = from; at < to; ++k) {
        const uint32_t n = piece_size(at, max_piece);
        at += n < to - at ? n : to - at;
    }
    return k;
}

static int32_t argmax(const float *x, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; ++i)
        if (x[i] > x[best])
            best = i;
    return (int32_t)best;
}

/* Greedy continuation: n tokens from the logits the stream left; each step's logits appended
 * to trace (V floats a step), the tokens to out. */
static dvk_status generate(dvk_rwkv7_session *s, float *logits, uint32_t V, uint32_t n,
                           int32_t *out, float *trace)
{
    for (uint32_t i = 0; i < n; ++i) {
        out[i] = argmax(logits, V);
        const dvk_status st = dvk_rwkv7_eval(s, &out[i], 1, logits, V);
        if (st != DVK_SUCCESS)
            return st;
        memcpy(trace + (size_t)i * V, logits, (size_t)V * sizeof *logits);
    }
    return DVK_SUCCESS;
}

static void print_text(const char *label, const int32_t *ids, uint32_t n)
{
    printf("%s\"", label);
    for (uint32_t i = 0; i < n; ++i) {
        const int c = ids[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c >= 32 && c < 127)
            putchar(c);
        else
            printf("\\x%02x", (unsigned)c);
    }
    printf("\"\n");
}

/* Compares two sessions' states tensor by tensor, bit for bit. Returns the number of
 * differing fp32 values (0 = identical), or -1 on failure. */
static long long compare_states(const dvk_rwkv7_session *a, const dvk_rwkv7_session *b,
                                uint32_t n_layer)
{
    long long differ = 0;
    for (uint32_t l = 0; l < n_layer && differ >= 0; ++l) {
        for (int part = DVK_RWKV7_ATT_SHIFT; part <= DVK_RWKV7_FFN_SHIFT && differ >= 0;
             ++part) {
            const dvk_tensor *ta = dvk_rwkv7_session_state(a, l, (dvk_rwkv7_state_part)part);
            const dvk_tensor *tb = dvk_rwkv7_session_state(b, l, (dvk_rwkv7_state_part)part);
            const size_t bytes = ta ? (size_t)dvk_tensor_bytes(ta) : 0;
            float *xa = malloc(bytes), *xb = malloc(bytes);
            dvk_status st = xa && xb ? DVK_SUCCESS : DVK_ERROR_OUT_OF_HOST_MEMORY;
            if (st == DVK_SUCCESS)
                st = dvk_tensor_download(ta, xa, bytes);
            if (st == DVK_SUCCESS)
                st = dvk_tensor_download(tb, xb, bytes);
            if (st != DVK_SUCCESS) {
                fprintf(stderr, "streaming: reading the state of layer %u: %s: %s\n", l,
                        dvk_status_string(st), dvk_last_error());
                differ = -1;
            } else {
                for (size_t i = 0; i < bytes / sizeof(float); ++i)
                    differ += memcmp(&xa[i], &xb[i], sizeof(float)) != 0;
            }
            free(xa);
            free(xb);
        }
    }
    return differ;
}

/* Counts the floats of a and b that differ in their bits; the largest |a - b| to *max_diff. */
static size_t compare_floats(const float *a, const float *b, size_t n, double *max_diff)
{
    size_t differ = 0;
    for (size_t i = 0; i < n; ++i) {
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            ++differ;
            const double d = a[i] > b[i] ? (double)a[i] - b[i] : (double)b[i] - a[i];
            if (d > *max_diff || d != d)
                *max_diff = d;
        }
    }
    return differ;
}

static dvk_status open_model(const options *o, dvk_context **ctx, dvk_rwkv7_model **model)
{
    dvk_status st = dvk_context_create(
        &(dvk_context_desc){.device = o->device, .enable_validation = o->validate}, ctx);
    if (st == DVK_SUCCESS)
        st = dvk_rwkv7_load(*ctx, o->model, NULL, model);
    if (st == DVK_SUCCESS) {
        const dvk_rwkv7_info *in = dvk_rwkv7_model_info(*model);
        printf("model    %s: RWKV-7, %u layers, width %u, %s weights\n", o->model, in->n_layer,
               in->n_embd, dvk_dtype_name(in->dtype));
        const dvk_device_info *dev = dvk_context_device_info(*ctx);
        printf("device   %s, driver %s %s\n", dev->name, dev->driver_name, dev->driver_info);
    }
    return st;
}

/* With --validate: true when the validation layer reported nothing. */
static bool validation_clean(const options *o, const dvk_context *ctx)
{
    const uint64_t n = o->validate ? dvk_context_validation_message_count(ctx) : 0;
    if (n)
        fprintf(stderr, "streaming: the validation layer reported %" PRIu64 " messages\n", n);
    return n == 0;
}

/* Step 1: the first `split` bytes, then the state to the file. */
static int run_save(const options *o, const stream *text, const char *path)
{
    int rc = 1;
    dvk_context *ctx = NULL;
    dvk_rwkv7_model *model = NULL;
    dvk_rwkv7_session *s = NULL;
    float *logits = NULL;
    printf("-- step 1 (--save %s): the first %u of %u bytes, then the state to a file\n", path,
           o->split, text->n);
    CHECK(open_model(o, &ctx, &model));
    const uint32_t V = dvk_rwkv7_model_info(model)->n_vocab;
    logits = malloc((size_t)V * sizeof *logits);
    if (!logits) {
        fprintf(stderr, "streaming: out of memory\n");
        goto done;
    }
    CHECK(dvk_rwkv7_session_create(model, &s));
    uint32_t pieces = 0;
    const double t0 = now_s();
    CHECK(feed(s, text, 0, o->split, o->max_piece, logits, V, NULL, &pieces));
    const double dt = now_s() - t0;
    printf("stream   %u bytes in %u pieces of 1 to %u bytes: %.1f ms (%.0f tokens/s)\n",
           o->split, pieces, o->max_piece, 1e3 * dt, dt > 0 ? o->split / dt : 0.0);
    CHECK(dvk_rwkv7_session_save(s, path));
    printf("saved    the state after byte %u to %s\n", o->split, path);
    rc = validation_clean(o, ctx) ? 0 : 1;
done:
    free(logits);
    dvk_rwkv7_session_destroy(s);
    dvk_rwkv7_destroy(model);
    dvk_context_destroy(ctx);
    return rc;
}

/* Step 2: the file's state continued, beside a session that read the whole stream. */
static int run_resume(const options *o, const stream *text, const char *path)
{
    int rc = 1;
    dvk_context *ctx = NULL;
    dvk_rwkv7_model *model = NULL;
    dvk_rwkv7_session *resumed = NULL, *whole = NULL;
    float *logits_r = NULL, *logits_w = NULL, *trace_r = NULL, *trace_w = NULL;
    int32_t *gen_r = NULL, *gen_w = NULL;
    printf("-- step 2 (--resume %s): the rest of the stream from the saved state, beside a run "
           "that never stopped\n",
           path);
    CHECK(open_model(o, &ctx, &model));
    const dvk_rwkv7_info *in = dvk_rwkv7_model_info(model);
    const uint32_t V = in->n_vocab;
    const uint32_t rest = count_pieces(o->split, text->n, o->max_piece);
    const size_t steps = (size_t)rest + o->tokens; /* logits compared: each piece, each token */
    logits_r = malloc((size_t)V * sizeof(float));
    logits_w = malloc((size_t)V * sizeof(float));
    trace_r = malloc(steps * V * sizeof(float));
    trace_w = malloc(steps * V * sizeof(float));
    gen_r = malloc((o->tokens + 1) * sizeof(int32_t));
    gen_w = malloc((o->tokens + 1) * sizeof(int32_t));
    if (!logits_r || !logits_w || !trace_r || !trace_w || !gen_r || !gen_w) {
        fprintf(stderr, "streaming: out of memory\n");
        goto done;
    }
    CHECK(dvk_rwkv7_session_create(model, &resumed));
    CHECK(dvk_rwkv7_session_create(model, &whole));

    /* The process that saved the file is gone: everything it knew is in the file. */
    CHECK(dvk_rwkv7_session_restore(resumed, path));
    printf("restored the state of %s into a new session\n", path);

    /* The uninterrupted run reads the first part too, in the same pieces. */
    uint32_t pieces = 0;
    CHECK(feed(whole, text, 0, o->split, o->max_piece, logits_w, V, NULL, &pieces));
    const long long state_diff = compare_states(resumed, whole, in->n_layer);
    if (state_diff < 0)
        goto done;
    printf("check    state at byte %u, restored vs uninterrupted: %s\n", o->split,
           state_diff == 0 ? "bit-identical" : "DIFFERENT");
    if (state_diff != 0)
        fprintf(stderr, "streaming: %lld state values differ: was the file saved from this "
                        "stream, with the same --text, --split and --piece?\n",
                state_diff);

    /* The rest of the stream, then a greedy continuation, in both sessions. */
    double t0 = now_s();
    CHECK(feed(resumed, text, o->split, text->n, o->max_piece, logits_r, V, trace_r, &pieces));
    const double t_stream = now_s() - t0;
    t0 = now_s();
    CHECK(generate(resumed, logits_r, V, o->tokens, gen_r, trace_r + (size_t)rest * V));
    const double t_gen = now_s() - t0;
    CHECK(feed(whole, text, o->split, text->n, o->max_piece, logits_w, V, trace_w, &pieces));
    CHECK(generate(whole, logits_w, V, o->tokens, gen_w, trace_w + (size_t)rest * V));
    printf("stream   bytes %u to %u in %u pieces: %.1f ms (%.0f tokens/s)\n", o->split, text->n,
           rest, 1e3 * t_stream, t_stream > 0 ? (text->n - o->split) / t_stream : 0.0);
    printf("generate %u tokens, greedy: %.1f ms (%.1f tokens/s)\n", o->tokens, 1e3 * t_gen,
           t_gen > 0 ? o->tokens / t_gen : 0.0);
    print_text("text     ...", text->ids + (text->n > 60 ? text->n - 60 : 0),
               text->n > 60 ? 60 : text->n);
    print_text("resumed        -> ", gen_r, o->tokens);
    print_text("uninterrupted  -> ", gen_w, o->tokens);

    double max_diff = 0.0;
    const size_t logit_diff = compare_floats(trace_r, trace_w, steps * V, &max_diff);
    const bool same_tokens = memcmp(gen_r, gen_w, o->tokens * sizeof(int32_t)) == 0;
    printf("check    logits after %u pieces and %u tokens (%zu values): %s (max |diff| %.3g)\n",
           rest, o->tokens, steps * V, logit_diff == 0 ? "bit-identical" : "DIFFERENT",
           max_diff);
    printf("check    generated tokens: %s\n", same_tokens ? "identical" : "DIFFERENT");
    const bool ok = state_diff == 0 && logit_diff == 0 && same_tokens;
    printf("result   %s\n", ok ? "PASS: the resumed stream continued exactly as the "
                                 "uninterrupted one"
                               : "FAIL: the resumed stream differs from the uninterrupted one");
    if (!ok)
        fprintf(stderr, "streaming: differences that change from run to run mean that the "
                        "device's results are not reproducible: a bug to report\n");
    rc = ok && validation_clean(o, ctx) ? 0 : 1;
done:
    free(logits_r), free(logits_w), free(trace_r), free(trace_w), free(gen_r), free(gen_w);
    dvk_rwkv7_session_destroy(resumed);
    dvk_rwkv7_session_destroy(whole);
    dvk_rwkv7_destroy(model);
    dvk_context_destroy(ctx);
    return rc;
}

/* The text of --text (its bytes), or the default passage. */
static int read_text(const char *path, stream *out)
{
    unsigned char *bytes = NULL;
    size_t n = 0;
    if (!path) {
        n = sizeof default_text - 1;
        bytes = malloc(n);
        if (bytes)
            memcpy(bytes, default_text, n);
    } else {
        FILE *f = fopen(path, "rb");
        if (!f) {
            fprintf(stderr, "streaming: cannot open %s\n", path);
            return 1;
        }
        size_t cap = 0;
        for (;;) {
            if (n == cap) {
                cap = cap ? 2 * cap : 4096;
                unsigned char *grown = realloc(bytes, cap);
                if (!grown)
                    break;
                bytes = grown;
            }
            const size_t got = fread(bytes + n, 1, cap - n, f);
            n += got;
            if (got == 0)
                break;
        }
        fclose(f);
    }
    out->ids = bytes && n ? malloc(n * sizeof *out->ids) : NULL;
    if (!out->ids || n > UINT32_MAX) {
        fprintf(stderr, "streaming: %s\n", n ? "out of memory" : "the text is empty");
        free(bytes);
        return 1;
    }
    for (size_t i = 0; i < n; ++i)
        out->ids[i] = bytes[i];
    out->n = (uint32_t)n;
    free(bytes);
    return 0;
}

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--save F | --resume F] [--model M] [--text FILE] [--split BYTES]\n"
            "       [--piece MAX] [--tokens N] [--device N|NAME] [--validate]\n",
            argv0);
    return 2;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress and errors in order, even through a pipe */
    options o = {.model = default_model, .max_piece = 24, .tokens = 32};
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--validate") == 0) {
            o.validate = true;
            continue;
        }
        if (!v)
            return usage(argv[0]);
        ++i;
        if (strcmp(a, "--save") == 0)
            o.save = v;
        else if (strcmp(a, "--resume") == 0)
            o.resume = v;
        else if (strcmp(a, "--model") == 0)
            o.model = v;
        else if (strcmp(a, "--text") == 0)
            o.text_path = v;
        else if (strcmp(a, "--device") == 0)
            o.device = v;
        else if (strcmp(a, "--split") == 0)
            o.split = (uint32_t)strtoul(v, NULL, 10), o.split_given = true;
        else if (strcmp(a, "--piece") == 0)
            o.max_piece = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--tokens") == 0)
            o.tokens = (uint32_t)strtoul(v, NULL, 10);
        else
            return usage(argv[0]);
    }
    if (o.save && o.resume) {
        fprintf(stderr, "streaming: --save and --resume are two runs: give one of them\n");
        return 2;
    }
    if (o.max_piece < 1 || o.tokens > 100000) {
        fprintf(stderr, "streaming: --piece must be at least 1, --tokens at most 100000\n");
        return 2;
    }
    stream text = {0};
    if (read_text(o.text_path, &text) != 0)
        return 1;
    if (!o.split_given)
        o.split = text.n / 2;
    if (o.split < 1 || o.split >= text.n) {
        fprintf(stderr, "streaming: --split must be between 1 and %u (the text's bytes - 1)\n",
                text.n - 1);
        free(text.ids);
        return 2;
    }
    printf("deltavk streaming sample: a %u-byte text in pieces, the state saved after byte %u\n",
           text.n, o.split);
    int rc;
    if (o.save)
        rc = run_save(&o, &text, o.save);
    else if (o.resume)
        rc = run_resume(&o, &text, o.resume);
    else {
        rc = run_save(&o, &text, default_state);
        if (rc == 0)
            rc = run_resume(&o, &text, default_state);
    }
    free(text.ids);
    return rc;
}
