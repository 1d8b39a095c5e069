/* dvk generate / dvk eval: an RWKV-7 model (deltavk_models.h) from a .bin or safetensors file.
 *   generate  prefills a prompt, then decodes token by token — each step one recording: the
 *             forward pass, then dvk_argmax or dvk_sample on the device, the token fed back as
 *             the next step's input — printing the text as it comes, then prefill and decode
 *             speeds (tokens per second, wall clock, submission and wait included).
 *   eval      writes the logits of the prompt's last token to a safetensors file.
 * Byte-level models (a vocabulary of 256) read and print text; others take --prompt-ids and
 * print token ids. */
#include "dvk_tool.h"

#include "deltavk_models.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct gen_opts {
    const char *model, *prompt, *prompt_ids, *out, *device;
    uint32_t tokens;
    bool greedy, validate, small_profile;
    float temperature, top_p;
    uint32_t top_k;
    uint64_t seed;
    dvk_dtype dtype;
    dvk_mode mode;
} gen_opts;

void tool_help_generate(FILE *f)
{
    fprintf(f,
            "usage: dvk generate --model M [--prompt P | --prompt-ids 1,2,3] [--tokens N]\n"
            "                    [--temperature T] [--top-p P] [--top-k K] [--seed S] |"
            " [--greedy]\n"
            "                    [--dtype f32|f16|bf16] [--mode recurrent|chunk]\n"
            "                    [--device N|NAME] [--validate] [--small-profile]\n"
            "\n"
            "Prefills the prompt into an RWKV-7 model (rwkv.cpp .bin or safetensors with\n"
            "PyTorch's names), then decodes token by token, printing the text as it comes on\n"
            "stdout (token ids unless the vocabulary is 256 bytes), then the prefill and\n"
            "decode speeds on stderr. When stdout is not a terminal, runs longer than a second\n"
            "show their progress on stderr. On a CPU device (lavapipe) the kernels run on the\n"
            "calling thread (LP_NUM_THREADS=0, unless it is set): a decode step is hundreds of\n"
            "tiny dispatches, cheaper run in place than handed to worker threads.\n"
            "\n"
            "options:\n"
            "  --model M          the model file (required)\n"
            "  --prompt P         the prompt's text, byte-level models (default a newline)\n"
            "  --prompt-ids IDS   the prompt's token ids, comma-separated\n"
            "  --tokens N         tokens to generate (default 64)\n"
            "  --greedy           the most likely token each step (dvk_argmax)\n"
            "  --temperature T    sampling temperature (default 1)\n"
            "  --top-p P          nucleus sampling's probability mass (default 0.9)\n"
            "  --top-k K          sample among the K most likely tokens (default 0: all)\n"
            "  --seed S           the sampler's seed, step s using S + s (default 0)\n"
            "  --dtype f32|f16|bf16  the matrices' dtype on the device (default f32)\n"
            "  --mode recurrent|chunk  the prefill's algorithm (decode steps are recurrent)\n"
            "  --device N|NAME    device index or name substring (default: DVK_DEVICE, else the\n"
            "                     best device)\n"
            "  --validate         enable the Khronos validation layer\n"
            "  --small-profile    plan kernels for mobile-class limits\n");
}

void tool_help_eval(FILE *f)
{
    fprintf(f,
            "usage: dvk eval --model M (--prompt P | --prompt-ids 1,2,3) --out O.safetensors\n"
            "                [--dtype f32|f16|bf16] [--device N|NAME] [--validate]\n"
            "                [--small-profile]\n"
            "\n"
            "Runs the prompt through an RWKV-7 model and writes the logits of its last token,\n"
            "`logits` [vocabulary] fp32, to a safetensors file (--out). The other options are\n"
            "generate's.\n");
}

static void gen_usage(FILE *f, const char *cmd)
{
    if (strcmp(cmd, "eval") == 0)
        tool_help_eval(f);
    else
        tool_help_generate(f);
}

static int parse_float(const char *flag, const char *s, float *out)
{
    char *end = NULL;
    const float v = strtof(s, &end);
    if (*s == '\0' || *end != '\0' || !isfinite(v) || v < 0.0f) {
        fprintf(stderr, "dvk: %s needs a finite number >= 0, got \"%s\"\n", flag, s);
        return TOOL_USAGE;
    }
    *out = v;
    return TOOL_OK;
}

static int parse_u64(const char *flag, const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    const unsigned long long v = strtoull(s, &end, 0);
    if (*s == '\0' || *s == '-' || *end != '\0' || errno) {
        fprintf(stderr, "dvk: %s needs a non-negative integer, got \"%s\"\n", flag, s);
        return TOOL_USAGE;
    }
    *out = v;
    return TOOL_OK;
}

static int parse_gen(int argc, char **argv, gen_opts *o)
{
    *o = (gen_opts){.tokens = 64, .temperature = 1.0f, .top_p = 0.9f};
    bool sampling_flag = false;
    for (int i = 2; i < argc; ++i) {
        char name[64];
        const char *inline_val = NULL;
        const char *a = tool_arg_split(argv[i], name, sizeof name, &inline_val);
        if (inline_val && (strcmp(a, "--greedy") == 0 || strcmp(a, "--validate") == 0 ||
                           strcmp(a, "--small-profile") == 0)) {
            fprintf(stderr, "dvk: %s takes no value\n", a);
            return TOOL_USAGE;
        }
        if (strcmp(a, "--greedy") == 0) {
            o->greedy = true;
            continue;
        }
        if (strcmp(a, "--validate") == 0) {
            o->validate = true;
            continue;
        }
        if (strcmp(a, "--small-profile") == 0) {
            o->small_profile = true;
            continue;
        }
        if (tool_is_help(a)) {
            gen_usage(stdout, argv[1]);
            return TOOL_HELP;
        }
        if (!inline_val && i + 1 >= argc) {
            fprintf(stderr, "dvk: %s: unknown option or missing value\n", a);
            return TOOL_USAGE;
        }
        const char *v = inline_val ? inline_val : argv[++i];
        uint64_t u = 0;
        if (strcmp(a, "--model") == 0) {
            o->model = v;
        } else if (strcmp(a, "--prompt") == 0) {
            o->prompt = v;
        } else if (strcmp(a, "--prompt-ids") == 0) {
            o->prompt_ids = v;
        } else if (strcmp(a, "--out") == 0) {
            o->out = v;
        } else if (strcmp(a, "--device") == 0) {
            o->device = v;
        } else if (strcmp(a, "--tokens") == 0) {
            if (parse_u64(a, v, &u) || u > 1000000) {
                fprintf(stderr, "dvk: --tokens must be at most 1000000\n");
                return TOOL_USAGE;
            }
            o->tokens = (uint32_t)u;
        } else if (strcmp(a, "--top-k") == 0) {
            if (parse_u64(a, v, &u) || u > UINT32_MAX)
                return TOOL_USAGE;
            o->top_k = (uint32_t)u;
            sampling_flag = true;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_u64(a, v, &o->seed))
                return TOOL_USAGE;
            sampling_flag = true;
        } else if (strcmp(a, "--temperature") == 0 || strcmp(a, "--top-p") == 0) {
            if (parse_float(a, v, a[2] == 't' && a[3] == 'e' ? &o->temperature : &o->top_p))
                return TOOL_USAGE;
            sampling_flag = true;
        } else if (strcmp(a, "--dtype") == 0) {
            o->dtype = strcmp(v, "f32") == 0    ? DVK_DTYPE_F32
                       : strcmp(v, "f16") == 0  ? DVK_DTYPE_F16
                       : strcmp(v, "bf16") == 0 ? DVK_DTYPE_BF16
                                                : DVK_DTYPE_I32;
            if (o->dtype == DVK_DTYPE_I32) {
                fprintf(stderr, "dvk: --dtype must be f32, f16 or bf16\n");
                return TOOL_USAGE;
            }
        } else if (strcmp(a, "--mode") == 0) {
            if (strcmp(v, "recurrent") == 0)
                o->mode = DVK_MODE_RECURRENT;
            else if (strcmp(v, "chunk") == 0)
                o->mode = DVK_MODE_CHUNK;
            else {
                fprintf(stderr, "dvk: --mode must be recurrent or chunk\n");
                return TOOL_USAGE;
            }
        } else {
            fprintf(stderr, "dvk: unknown option %s\n", a);
            return TOOL_USAGE;
        }
    }
    if (!o->model) {
        fprintf(stderr, "dvk: --model is required\n");
        return TOOL_USAGE;
    }
    if (o->greedy && sampling_flag) {
        fprintf(stderr, "dvk: --greedy excludes --temperature, --top-p, --top-k and --seed\n");
        return TOOL_USAGE;
    }
    if (o->prompt && o->prompt_ids) {
        fprintf(stderr, "dvk: give --prompt or --prompt-ids, not both\n");
        return TOOL_USAGE;
    }
    if (o->temperature == 0.0f) {
        fprintf(stderr, "dvk: --temperature must be positive (--greedy for argmax)\n");
        return TOOL_USAGE;
    }
    return TOOL_OK;
}

/* The prompt's token ids (malloc'd): --prompt-ids, or --prompt's bytes (default "\n"). */
static int prompt_tokens(const gen_opts *o, uint32_t n_vocab, int32_t **out, uint32_t *n)
{
    if (o->prompt_ids) {
        const size_t cap = strlen(o->prompt_ids) / 2 + 1;
        int32_t *ids = malloc(cap * sizeof *ids);
        uint32_t k = 0;
        const char *p = o->prompt_ids;
        while (ids && *p) {
            char *end = NULL;
            errno = 0;
            const long v = strtol(p, &end, 10);
            if (end == p || errno || v < 0 || v >= (long)n_vocab || k == cap ||
                (*end != ',' && *end != '\0')) {
                fprintf(stderr, "dvk: --prompt-ids: expected ids in [0, %u) separated by commas\n",
                        n_vocab);
                free(ids);
                return TOOL_USAGE;
            }
            ids[k++] = (int32_t)v;
            p = *end == ',' ? end + 1 : end;
        }
        if (!ids || k == 0) {
            free(ids);
            fprintf(stderr, "dvk: --prompt-ids is empty\n");
            return TOOL_USAGE;
        }
        *out = ids;
        *n = k;
        return TOOL_OK;
    }
    const char *text = o->prompt && *o->prompt ? o->prompt : "\n";
    if (n_vocab != 256 && o->prompt) {
        fprintf(stderr, "dvk: this model's vocabulary has %u tokens, not 256 bytes: give "
                        "--prompt-ids\n",
                n_vocab);
        return TOOL_USAGE;
    }
    const size_t len = strlen(text);
    int32_t *ids = malloc(len * sizeof *ids);
    if (!ids)
        return TOOL_FAIL;
    for (size_t i = 0; i < len; ++i)
        ids[i] = (unsigned char)text[i];
    *out = ids;
    *n = (uint32_t)len;
    return TOOL_OK;
}

static int open_model(const gen_opts *o, dvk_context **ctx, dvk_rwkv7_model **model)
{
    const dvk_context_desc cd = {.device = o->device, .enable_validation = o->validate,
                                 .small_device_profile = o->small_profile};
    dvk_status st = dvk_context_create(&cd, ctx);
    if (st != DVK_SUCCESS)
        return tool_fail_status("cannot create a Vulkan context", st);
    /* On a CPU device (lavapipe) a decode step is some 300 dispatches of tiny work, and handing
     * each to lavapipe's worker threads costs more than the work: with LP_NUM_THREADS=0 the
     * calling thread runs them (decode of the tiny model 4x faster on 2 cores; prefill the
     * same). Unless the user set it, the context is made again with it (lavapipe reads it
     * when a Vulkan instance enumerates its devices). */
    if (dvk_context_device_info(*ctx)->type == DVK_DEVICE_TYPE_CPU && !getenv("LP_NUM_THREADS") &&
        setenv("LP_NUM_THREADS", "0", 0) == 0) {
        dvk_context_destroy(*ctx);
        *ctx = NULL;
        st = dvk_context_create(&cd, ctx);
        if (st != DVK_SUCCESS)
            return tool_fail_status("cannot create a Vulkan context", st);
    }
    st = dvk_rwkv7_load(*ctx, o->model, &(dvk_rwkv7_load_desc){.dtype = o->dtype}, model);
    if (st != DVK_SUCCESS)
        return tool_fail_status("cannot load the model", st);
    return TOOL_OK;
}

static void emit(uint32_t n_vocab, int32_t token, bool first)
{
    if (n_vocab == 256)
        putchar(token);
    else
        printf("%s%d", first ? "" : " ", (int)token);
    fflush(stdout);
}

int cmd_generate(int argc, char **argv)
{
    gen_opts o;
    int rc = parse_gen(argc, argv, &o);
    if (rc != TOOL_OK) {
        if (rc == TOOL_USAGE)
            gen_usage(stderr, argv[1]);
        return rc < 0 ? TOOL_OK : rc;
    }
    if (o.tokens == 0) {
        fprintf(stderr, "dvk: --tokens must be at least 1\n");
        return TOOL_USAGE;
    }
    dvk_context *ctx = NULL;
    dvk_rwkv7_model *model = NULL;
    dvk_rwkv7_session *s = NULL;
    dvk_cmd *cmd = NULL;
    dvk_tensor *logits = NULL, *tok = NULL;
    int32_t *ids = NULL;
    uint32_t n_ids = 0;
    rc = open_model(&o, &ctx, &model);
    const uint32_t V = model ? dvk_rwkv7_model_info(model)->n_vocab : 0;
    if (rc == TOOL_OK)
        rc = prompt_tokens(&o, V, &ids, &n_ids);
    dvk_status st = DVK_SUCCESS;
    const char *what = "";
    if (rc == TOOL_OK) {
        what = "setting up";
        st = dvk_rwkv7_session_create(model, &s);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_create(ctx, NULL, &cmd);
        if (st == DVK_SUCCESS)
            st = dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 1, .shape = {V}}, &logits);
        if (st == DVK_SUCCESS)
            st = dvk_tensor_create(
                ctx, &(dvk_tensor_desc){.dtype = DVK_DTYPE_I32, .ndim = 1, .shape = {1}}, &tok);
    }
    double t_prefill = 0, t_decode = 0;
    uint32_t decoded = 0;
    /* On a terminal the text itself shows how far it is (and a progress line would break
     * into it); with stdout piped, progress goes to stderr. */
    const bool show_progress = !isatty(STDOUT_FILENO);
    tool_progress progress;
    tool_progress_start(&progress, "generate");
    for (uint32_t step = 0; rc == TOOL_OK && st == DVK_SUCCESS && step < o.tokens; ++step) {
        const double t0 = tool_now_s();
        int32_t next = 0;
        what = step == 0 ? "prefill" : "decode";
        dvk_rwkv7_forward_desc fd = {.n_tokens = 1, .logits = logits};
        if (step == 0) { /* --mode is the prefill's: decode steps take the decode kernel */
            fd.tokens = ids;
            fd.n_tokens = n_ids;
            fd.mode = o.mode;
        } else {
            fd.token_tensor = tok;
        }
        st = dvk_rwkv7_forward(cmd, s, &fd);
        if (st == DVK_SUCCESS)
            st = o.greedy ? dvk_argmax(cmd, &(dvk_argmax_desc){.x = logits, .y = tok})
                          : dvk_sample(cmd, &(dvk_sample_desc){.logits = logits, .y = tok,
                                                               .temperature = o.temperature,
                                                               .top_p = o.top_p,
                                                               .top_k = o.top_k,
                                                               .seed = o.seed + step});
        if (st == DVK_SUCCESS)
            st = dvk_cmd_download(cmd, tok, &next, sizeof next);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_submit(cmd);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_wait(cmd, 0);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_reset(cmd);
        if (st != DVK_SUCCESS)
            break;
        const double dt = tool_now_s() - t0;
        if (step == 0) {
            t_prefill = dt;
        } else {
            t_decode += dt;
            ++decoded;
        }
        emit(V, next, step == 0);
        if (show_progress)
            tool_progress_update(&progress, "token %u/%u", step + 1, o.tokens);
    }
    tool_progress_end(&progress);
    if (rc == TOOL_OK && st != DVK_SUCCESS)
        rc = tool_fail_status(what, st);
    if (rc == TOOL_OK) {
        putchar('\n');
        fflush(stdout);
        const dvk_rwkv7_info *in = dvk_rwkv7_model_info(model);
        fprintf(stderr,
                "%s: %u layers, width %u, vocabulary %u, %s weights, on %s\n"
                "prefill: %u tokens in %.1f ms (%.1f tokens/s, the first sampled token "
                "included)\n",
                o.model, in->n_layer, in->n_embd, in->n_vocab, dvk_dtype_name(in->dtype),
                dvk_context_device_info(ctx)->name, n_ids, 1e3 * t_prefill,
                t_prefill > 0 ? n_ids / t_prefill : 0.0);
        if (decoded)
            fprintf(stderr, "decode: %u tokens in %.1f ms (%.1f tokens/s)\n", decoded,
                    1e3 * t_decode, decoded / t_decode);
    }
    free(ids);
    dvk_tensor_destroy(logits);
    dvk_tensor_destroy(tok);
    dvk_cmd_destroy(cmd);
    dvk_rwkv7_session_destroy(s);
    dvk_rwkv7_destroy(model);
    dvk_context_destroy(ctx);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    gen_opts o;
    int rc = parse_gen(argc, argv, &o);
    if (rc == TOOL_OK && !o.out) {
        fprintf(stderr, "dvk: --out is required\n");
        rc = TOOL_USAGE;
    }
    char err[256] = "";
    if (rc == TOOL_OK && dvk_st_check_output(o.out, o.model, err, sizeof err) != DVK_SUCCESS) {
        fprintf(stderr, "dvk: %s\n", err);
        return TOOL_USAGE;
    }
    if (rc != TOOL_OK) {
        if (rc == TOOL_USAGE)
            gen_usage(stderr, argv[1]);
        return rc < 0 ? TOOL_OK : rc;
    }
    dvk_context *ctx = NULL;
    dvk_rwkv7_model *model = NULL;
    dvk_rwkv7_session *s = NULL;
    int32_t *ids = NULL;
    uint32_t n_ids = 0;
    float *logits = NULL;
    rc = open_model(&o, &ctx, &model);
    const uint32_t V = model ? dvk_rwkv7_model_info(model)->n_vocab : 0;
    if (rc == TOOL_OK)
        rc = prompt_tokens(&o, V, &ids, &n_ids);
    if (rc == TOOL_OK) {
        logits = malloc(V * sizeof *logits);
        dvk_status st = logits ? dvk_rwkv7_session_create(model, &s) : DVK_ERROR_OUT_OF_HOST_MEMORY;
        if (st == DVK_SUCCESS)
            st = dvk_rwkv7_eval(s, ids, n_ids, logits, V);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("eval", st);
    }
    if (rc == TOOL_OK) {
        dvk_st_writer *w = NULL;
        const uint64_t shape[1] = {V};
        dvk_status st = dvk_st_writer_create(&w);
        if (st == DVK_SUCCESS)
            st = dvk_st_writer_add(w, "logits", DVK_ST_F32, 1, shape, logits);
        if (st == DVK_SUCCESS)
            st = dvk_st_writer_set_metadata(w, "model", o.model);
        if (st == DVK_SUCCESS)
            st = dvk_st_writer_save(w, o.out, err, sizeof err);
        dvk_st_writer_destroy(w);
        if (st != DVK_SUCCESS) {
            fprintf(stderr, "dvk: cannot write %s: %s\n", o.out, err);
            rc = TOOL_FAIL;
        }
    }
    free(ids);
    free(logits);
    dvk_rwkv7_session_destroy(s);
    dvk_rwkv7_destroy(model);
    dvk_context_destroy(ctx);
    return rc;
}
