/* dvk layer NAME --weights W.safetensors --in X.safetensors --out Y.safetensors: runs one layer
 * of a model (the table in layers/layers.c) from its own weights over the inputs of a file,
 * whole or streamed, and writes its output and final states as dvk run writes its results.
 * Also the helpers the layers' files share (layers/layers.h). */
#include "layers/layers.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_usage_line(FILE *f)
{
    fprintf(f, "usage: dvk layer NAME --weights W.safetensors --in X.safetensors\n"
               "                 --out Y.safetensors [--stream N] [--dtype f32|f16|bf16]\n"
               "                 [the layer's options]\n"
               "       dvk layer NAME --weights W --in X [--out Y] --bench [--warmup N]\n"
               "                 [--iters N] [--repeat N] [--stages] [--json] [...]\n");
}

static void print_common_help(FILE *f)
{
    print_usage_line(f);
    fprintf(f,
            "\n"
            "Runs one layer of a model from its own weights (safetensors under the original\n"
            "package's parameter names and shapes; sizes are read from them) over the inputs\n"
            "of a file, named as the original forward() names its arguments, and writes its\n"
            "output y and its final states. Initial states left out of the file are zeros.\n"
            "\n"
            "options:\n"
            "  --weights FILE           the layer's parameters\n"
            "  --in FILE                its inputs (other tensors in the file are ignored)\n"
            "  --out FILE               the output and the final states, fp32 (written as\n"
            "                           dvk run writes: a failed write leaves no file; an inf\n"
            "                           or NaN out of finite inputs and weights is an error)\n"
            "  --stream N               feed N tokens per call, carrying the state between\n"
            "                           calls (default: the whole sequence in one call); the\n"
            "                           result is the same to fp32 rounding\n"
            "  --dtype f32|f16|bf16     storage of the weights' matrices (default f32;\n"
            "                           activations and states stay fp32)\n"
            "  --device N|NAME          device index or name substring (default: DVK_DEVICE,\n"
            "                           else the best device)\n"
            "  --validate               enable the Khronos validation layer (fails if it\n"
            "                           reports anything)\n"
            "  --small-profile          plan kernels for mobile-class limits\n"
            "\n"
            "timing (as dvk bench times an operator):\n"
            "  --bench                  after the run, time the layer's forward over the whole\n"
            "                           sequence of --in (x on the device in, y out, the state\n"
            "                           carried on from the run): the median GPU time of\n"
            "                           --iters runs after --warmup runs, from Vulkan\n"
            "                           timestamps; --out is then optional (not with --stream)\n"
            "  --warmup N --iters N     runs before timing (default 5) and timed (default 30)\n"
            "  --repeat N               N calls back to back per timed run (default: enough\n"
            "                           for 20 ms)\n"
            "  --stages                 also the median time of each kernel per call, the\n"
            "                           dispatches timed one by one (which kernels dominate)\n"
            "  --json                   one JSON object on one line of stdout: layer, dtype,\n"
            "                           input, shape, device, driver, profile, median_ms,\n"
            "                           min_ms, max_ms, iters, warmup, repeat (and stages, a\n"
            "                           list of {kernel, median_ms}); times are ms per call\n"
            "\n"
            "layers (dvk layer NAME --help shows one):\n");
}

void tool_help_layer(FILE *f)
{
    print_common_help(f);
    tool_print_layers(f, NULL);
}

static void print_shape(char *buf, size_t len, uint32_t ndim, const uint64_t *shape, bool star)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (uint32_t d = 0; d < ndim && n < len; ++d) {
        if (star && shape[d] == 0)
            n += (size_t)snprintf(buf + n, len - n, "%s*", d ? "," : "");
        else
            n += (size_t)snprintf(buf + n, len - n, "%s%llu", d ? "," : "",
                                  (unsigned long long)shape[d]);
    }
    if (n < len)
        snprintf(buf + n, len - n, "]");
}

/* ---- helpers of the layers' files (layers.h) ---------------------------------------------- */

/* The index of the layer's option `name`, or -1 (past TOOL_LAYER_MAX_OPTIONS none counts). */
static int option_index(const tool_layer *l, const char *name)
{
    for (int i = 0; l->options && i < TOOL_LAYER_MAX_OPTIONS && l->options[i].name; ++i)
        if (strcmp(l->options[i].name, name) == 0)
            return i;
    return -1;
}

const char *tool_layer_option_value(const tool_layer_args *args, const char *name)
{
    const int i = option_index(args->layer, name);
    return i < 0 ? NULL : args->values[i];
}

int tool_layer_option_u32(const tool_layer_args *args, const char *name, uint32_t *out)
{
    const char *s = tool_layer_option_value(args, name);
    if (!s)
        return TOOL_OK;
    char *end = NULL;
    errno = 0;
    const unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *s == '-' || *end != '\0' || errno || v == 0 || v > UINT32_MAX) {
        fprintf(stderr, "dvk: %s needs an integer >= 1, got \"%s\"\n", name, s);
        return TOOL_USAGE;
    }
    *out = (uint32_t)v;
    return TOOL_OK;
}

int tool_layer_option_positive(const tool_layer_args *args, const char *name, float *out)
{
    const char *s = tool_layer_option_value(args, name);
    if (!s)
        return TOOL_OK;
    char *end = NULL;
    const float v = strtof(s, &end);
    if (*s == '\0' || *end != '\0' || !isfinite(v) || v <= 0.0f) {
        fprintf(stderr, "dvk: %s needs a finite number > 0, got \"%s\"\n", name, s);
        return TOOL_USAGE;
    }
    *out = v;
    return TOOL_OK;
}

static const tool_layer_tensor *input_entry(const tool_layer *l, const char *name)
{
    for (size_t i = 0; l->inputs[i].name; ++i)
        if (strcmp(l->inputs[i].name, name) == 0)
            return &l->inputs[i];
    return NULL;
}

int tool_layer_read(const tool_layer_args *args, const char *name, uint32_t ndim,
                    uint64_t *shape, float **out)
{
    *out = NULL;
    const tool_layer *l = args->layer;
    const tool_layer_tensor *t = input_entry(l, name);
    const char *sym = t ? t->shape : "";
    char want[128], got[128];
    print_shape(want, sizeof want, ndim, shape, true);
    dvk_weights_entry e;
    if (dvk_weights_find(args->inputs, name, &e) != DVK_SUCCESS) {
        if (t && (t->flags & TOOL_LAYER_OPTIONAL))
            return TOOL_OK;
        fprintf(stderr, "dvk: %s: no input '%s' %s = %s in %s\n", l->name, name, sym, want,
                args->in);
        return TOOL_FAIL;
    }
    bool ok = e.ndim == ndim;
    for (uint32_t d = 0; ok && d < ndim; ++d)
        ok = shape[d] == 0 || shape[d] == e.shape[d];
    print_shape(got, sizeof got, e.ndim, e.shape, false);
    if (!ok) {
        fprintf(stderr, "dvk: %s: input '%s' in %s has shape %s, expected %s = %s\n", l->name,
                name, args->in, got, sym, want);
        return TOOL_FAIL;
    }
    if (e.numel == 0) {
        fprintf(stderr, "dvk: %s: input '%s' in %s is empty (shape %s)\n", l->name, name,
                args->in, got);
        return TOOL_FAIL;
    }
    for (uint32_t d = 0; d < ndim; ++d)
        shape[d] = e.shape[d];
    float *data = malloc((size_t)e.numel * sizeof *data);
    if (!data) {
        fprintf(stderr, "dvk: out of host memory for input '%s'\n", name);
        return TOOL_FAIL;
    }
    const dvk_status st =
        dvk_weights_read(args->inputs, name, DVK_DTYPE_F32, data, (size_t)e.numel * sizeof *data);
    if (st != DVK_SUCCESS) {
        free(data);
        return tool_fail_status(name, st);
    }
    *out = data;
    return TOOL_OK;
}

/* Every value of --in and --weights is finite (set before the layer runs). */
static bool layer_inputs_finite;

bool tool_layer_inputs_finite(void) { return layer_inputs_finite; }

/* Clears *finite if a tensor of `file` holds an inf or a NaN (host-only reading). */
static int scan_finite(const char *file, dvk_weights *already, bool *finite)
{
    dvk_weights *w = already;
    if (!w) {
        const dvk_status st = dvk_weights_load(NULL, file, NULL, &w);
        if (st != DVK_SUCCESS)
            return tool_fail_status(file, st);
    }
    int rc = TOOL_OK;
    for (uint32_t i = 0; rc == TOOL_OK && *finite && i < dvk_weights_count(w); ++i)
        rc = tool_check_input_values(w, dvk_weights_name(w, i), false, finite);
    if (!already)
        dvk_weights_destroy(w);
    return rc;
}

int tool_layer_write(dvk_st_writer *w, const char *name, uint32_t ndim, const uint64_t *shape,
                     const float *data)
{
    if (layer_inputs_finite &&
        tool_check_output_values(name, DVK_DTYPE_F32, ndim, shape, data) != TOOL_OK)
        return TOOL_FAIL;
    const dvk_status st = dvk_st_writer_add(w, name, DVK_ST_F32, ndim, shape, data);
    return st == DVK_SUCCESS ? TOOL_OK : tool_fail_status(name, st);
}

void tool_layer_take(const float *whole, uint64_t B, uint64_t T, uint64_t row, uint64_t t0,
                     uint64_t n, float *piece)
{
    for (uint64_t b = 0; b < B; ++b)
        memcpy(piece + b * n * row, whole + (b * T + t0) * row, (size_t)(n * row) * sizeof *piece);
}

void tool_layer_put(const float *piece, uint64_t B, uint64_t T, uint64_t row, uint64_t t0,
                    uint64_t n, float *whole)
{
    for (uint64_t b = 0; b < B; ++b)
        memcpy(whole + (b * T + t0) * row, piece + b * n * row, (size_t)(n * row) * sizeof *piece);
}

static const char *dtype_name(dvk_dtype d)
{
    return d == DVK_DTYPE_F16 ? "f16" : d == DVK_DTYPE_BF16 ? "bf16" : "f32";
}

int tool_layer_bench(const tool_layer_args *args, tool_record_fn record, void *user)
{
    if (!args->bench)
        return TOOL_OK;
    const tool_layer *l = args->layer;
    tool_opts *opts = args->bench;
    tool_timing t = {0};
    const int rc = tool_time(args->ctx, opts, l->name, record, user, &t);
    if (rc != TOOL_OK) {
        tool_timing_free(&t);
        return rc;
    }
    /* The shape is the first input's (x, or tokens), as the file holds it. */
    const char *input = l->inputs[0].name;
    dvk_weights_entry e = {0};
    char shape[128] = "[]";
    if (dvk_weights_find(args->inputs, input, &e) == DVK_SUCCESS)
        print_shape(shape, sizeof shape, e.ndim, e.shape, false);
    const dvk_device_info *info = dvk_context_device_info(args->ctx);
    const char *dtype = dtype_name(args->dtype);
    if (opts->json) {
        printf("{\"layer\": \"%s\", \"dtype\": \"%s\", \"input\": \"%s\", \"shape\": %s, "
               "\"device\": ",
               l->name, dtype, input, shape);
        tool_json_string(stdout, info->name);
        printf(", \"driver\": ");
        tool_json_string(stdout, info->driver_info);
        printf(", \"profile\": \"%s\", \"median_ms\": %.6f, \"min_ms\": %.6f, \"max_ms\": %.6f, "
               "\"iters\": %u, \"warmup\": %u, \"repeat\": %u",
               opts->small_profile ? "small" : "device", t.median, t.min, t.max, opts->iters,
               opts->warmup, opts->repeat);
    } else {
        printf("%s (weights %s) %s %s on %s\n", l->name, dtype, input, shape, info->name);
        printf("  median %.4f ms  (min %.4f, max %.4f, %u runs after %u warm-up%s)\n", t.median,
               t.min, t.max, opts->iters, opts->warmup,
               opts->repeat > 1 ? ", per call of a back-to-back batch" : "");
    }
    if (opts->stages) {
        if (!opts->json) {
            double sum = 0.0;
            for (uint32_t k = 0; k < t.stage_count; ++k)
                sum += t.stage_median[k];
            printf("  per kernel, summed over its dispatches in a call (total %.4f ms):\n", sum);
        }
        tool_print_stages(&t, opts->json);
    }
    if (opts->json)
        printf("}\n");
    fflush(stdout);
    tool_timing_free(&t);
    return TOOL_OK;
}

/* ---- the command -------------------------------------------------------------------------- */

static bool any_help(int argc, char **argv, int first)
{
    for (int i = first; i < argc; ++i)
        if (tool_is_help(argv[i]))
            return true;
    return false;
}

static int unknown_layer(const char *name)
{
    fprintf(stderr, "dvk: unknown layer \"%s\"; the layers:\n", name);
    tool_print_layer_names(stderr);
    return TOOL_USAGE;
}

/* Parses argv[3..) into args (its layer already set) and the context's options. */
static int parse(int argc, char **argv, tool_layer_args *args, tool_opts *ctx_opts,
                 tool_opts *bench)
{
    const tool_layer *l = args->layer;
    bool bench_given = false, timing_given = false;
    for (int i = 3; i < argc; ++i) {
        char name[64];
        const char *inline_val = NULL;
        const char *a = tool_arg_split(argv[i], name, sizeof name, &inline_val);
        const char *val = inline_val ? inline_val : i + 1 < argc ? argv[i + 1] : NULL;
        const int taken = inline_val ? 0 : 1;
        const int li = option_index(l, a);
        const bool common_switch = li < 0 && (strcmp(a, "--validate") == 0 ||
                                              strcmp(a, "--small-profile") == 0 ||
                                              strcmp(a, "--bench") == 0 ||
                                              strcmp(a, "--stages") == 0 ||
                                              strcmp(a, "--json") == 0);
        if (common_switch || (li >= 0 && !l->options[li].arg)) {
            if (inline_val) {
                fprintf(stderr, "dvk: %s takes no value\n", a);
                return TOOL_USAGE;
            }
            if (li >= 0)
                args->values[li] = "";
            else if (strcmp(a, "--validate") == 0)
                ctx_opts->validate = true;
            else if (strcmp(a, "--small-profile") == 0)
                ctx_opts->small_profile = true;
            else if (strcmp(a, "--bench") == 0)
                bench_given = true;
            else if (strcmp(a, "--stages") == 0)
                bench->stages = timing_given = true;
            else
                bench->json = timing_given = true;
            continue;
        }
        uint32_t *count = NULL; /* --warmup, --iters, --repeat */
        if (li < 0 && strcmp(a, "--warmup") == 0)
            count = &bench->warmup;
        else if (li < 0 && strcmp(a, "--iters") == 0)
            count = &bench->iters;
        else if (li < 0 && strcmp(a, "--repeat") == 0)
            count = &bench->repeat;
        if (count) {
            char *end = NULL;
            errno = 0;
            const unsigned long v = val ? strtoul(val, &end, 10) : 0;
            const bool zero_ok = count == &bench->warmup;
            if (!val || *val == '\0' || *val == '-' || *end != '\0' || errno ||
                (v == 0 && !zero_ok) || v > 100000) {
                fprintf(stderr, "dvk: %s needs a count %s 100000, got \"%s\"\n", a,
                        zero_ok ? "from 0 to" : "from 1 to", val ? val : "");
                return TOOL_USAGE;
            }
            *count = (uint32_t)v;
            timing_given = true;
            i += taken;
            continue;
        }
        const bool valued = li >= 0 || strcmp(a, "--weights") == 0 || strcmp(a, "--in") == 0 ||
                            strcmp(a, "--out") == 0 || strcmp(a, "--stream") == 0 ||
                            strcmp(a, "--dtype") == 0 || strcmp(a, "--device") == 0;
        if (!valued) {
            if (a[0] == '-')
                fprintf(stderr, "dvk: unknown option %s for layer %s (dvk layer %s --help lists "
                                "its options)\n",
                        a, l->name, l->name);
            else
                fprintf(stderr, "dvk: unexpected argument %s\n", a);
            return TOOL_USAGE;
        }
        if (!val) {
            fprintf(stderr, "dvk: %s needs a value\n", a);
            return TOOL_USAGE;
        }
        i += taken;
        if (li >= 0) {
            args->values[li] = val;
        } else if (strcmp(a, "--weights") == 0) {
            args->weights = val;
        } else if (strcmp(a, "--in") == 0) {
            args->in = val;
        } else if (strcmp(a, "--out") == 0) {
            args->out = val;
        } else if (strcmp(a, "--device") == 0) {
            ctx_opts->device = val;
        } else if (strcmp(a, "--dtype") == 0) {
            if (strcmp(val, "f32") == 0)
                args->dtype = DVK_DTYPE_F32;
            else if (strcmp(val, "f16") == 0)
                args->dtype = DVK_DTYPE_F16;
            else if (strcmp(val, "bf16") == 0)
                args->dtype = DVK_DTYPE_BF16;
            else {
                fprintf(stderr, "dvk: --dtype must be f32, f16 or bf16, got \"%s\"\n", val);
                return TOOL_USAGE;
            }
        } else { /* --stream */
            char *end = NULL;
            errno = 0;
            const unsigned long v = strtoul(val, &end, 10);
            if (*val == '\0' || *val == '-' || *end != '\0' || errno || v == 0 ||
                v > UINT32_MAX) {
                fprintf(stderr, "dvk: --stream needs a number of %s per call >= 1, got \"%s\"\n",
                        l->stream_unit ? l->stream_unit : "tokens", val);
                return TOOL_USAGE;
            }
            args->stream = (uint32_t)v;
        }
    }
    if (timing_given && !bench_given) {
        fprintf(stderr, "dvk: --warmup, --iters, --repeat, --stages and --json go with --bench\n");
        return TOOL_USAGE;
    }
    if (bench_given && args->stream) {
        fprintf(stderr, "dvk: --bench times the whole sequence in one call: leave out --stream\n");
        return TOOL_USAGE;
    }
    if (!args->weights || !args->in || (!args->out && !bench_given)) {
        fprintf(stderr, "dvk: layer %s needs%s%s%s\n", l->name, args->weights ? "" : " --weights",
                args->in ? "" : " --in", args->out || bench_given ? "" : " --out");
        print_usage_line(stderr);
        return TOOL_USAGE;
    }
    if (bench_given) {
        bench->validate = ctx_opts->validate;
        bench->small_profile = ctx_opts->small_profile;
        args->bench = bench;
    }
    return TOOL_OK;
}

int cmd_layer(int argc, char **argv)
{
    if (argc < 3 || argv[2][0] == '-') {
        if (any_help(argc, argv, 2)) {
            tool_help_layer(stdout);
            return TOOL_OK;
        }
        if (argc >= 3)
            fprintf(stderr, "dvk: the layer's name comes first: dvk layer NAME ...\n");
        print_usage_line(stderr);
        fprintf(stderr, "layers (dvk layer --help: their inputs, outputs and options):\n");
        tool_print_layer_names(stderr);
        return TOOL_USAGE;
    }
    const tool_layer *l = tool_find_layer(argv[2]);
    if (!l)
        return unknown_layer(argv[2]);
    if (any_help(argc, argv, 3)) {
        print_common_help(stdout);
        tool_print_layers(stdout, l);
        return TOOL_OK;
    }
    tool_layer_args args = {.layer = l};
    tool_opts ctx_opts = {0}, bench = {.warmup = 5, .iters = 30, .repeat = 0};
    int rc = parse(argc, argv, &args, &ctx_opts, &bench);
    if (rc != TOOL_OK)
        return rc;

    void *layer = NULL;
    dvk_st_writer *w = NULL;
    dvk_status st = dvk_weights_load(NULL, args.in, NULL, &args.inputs); /* host only */
    if (st != DVK_SUCCESS)
        rc = tool_fail_status("--in", st);
    layer_inputs_finite = true;
    if (rc == TOOL_OK && args.out)
        rc = scan_finite(args.in, args.inputs, &layer_inputs_finite);
    if (rc == TOOL_OK && args.out && layer_inputs_finite)
        rc = scan_finite(args.weights, NULL, &layer_inputs_finite);
    if (rc == TOOL_OK)
        rc = tool_context(&ctx_opts, &args.ctx);
    if (rc == TOOL_OK)
        rc = l->load(&args, &layer);
    if (rc == TOOL_OK) {
        st = dvk_st_writer_create(&w);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("writer", st);
    }
    if (rc == TOOL_OK)
        rc = l->run(layer, &args, w);
    if (rc == TOOL_OK && ctx_opts.validate && dvk_context_validation_message_count(args.ctx)) {
        fprintf(stderr, "dvk: the validation layer reported %llu messages\n",
                (unsigned long long)dvk_context_validation_message_count(args.ctx));
        rc = TOOL_FAIL;
    }
    if (rc == TOOL_OK && args.out) {
        char stream[32], err[512];
        snprintf(stream, sizeof stream, "%u", args.stream);
        dvk_st_writer_set_metadata(w, "producer", "dvk layer");
        dvk_st_writer_set_metadata(w, "layer", l->name);
        dvk_st_writer_set_metadata(w, "device", dvk_context_device_info(args.ctx)->name);
        dvk_st_writer_set_metadata(w, "stream", args.stream ? stream : "whole");
        dvk_st_writer_set_metadata(w, "weights_dtype", args.dtype == DVK_DTYPE_F16    ? "f16"
                                                       : args.dtype == DVK_DTYPE_BF16 ? "bf16"
                                                                                      : "f32");
        st = dvk_st_writer_save(w, args.out, err, sizeof err);
        if (st != DVK_SUCCESS) {
            fprintf(stderr, "dvk: %s\n", err);
            rc = TOOL_FAIL;
        }
    }
    dvk_st_writer_destroy(w);
    if (layer)
        l->destroy(layer);
    dvk_weights_destroy(args.inputs);
    dvk_context_destroy(args.ctx);
    return rc;
}
