/* dvk bench OP --B --T --H --K --V: median GPU time of one operator call on random inputs,
 * measured with Vulkan timestamps around the dispatches, after warm-up runs. tool_time() is
 * the measurement itself, shared with the building blocks' bench (nn.c). */
#include "dvk_tool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Per-kernel times of one run, summed over that kernel's dispatches. */
#define MAX_KERNELS TOOL_MAX_STAGES
/* The query pool of a --stages run: room for 100 calls of an operator, or a few of a layer. */
#define TOOL_STAGE_TIMESTAMPS 16384
typedef struct kernel_times {
    const char *name[MAX_KERNELS];
    double *ms[MAX_KERNELS]; /* one entry per timed run */
    uint32_t count;
} kernel_times;

static void add_stage_times(kernel_times *kt, const dvk_cmd *cmd, uint32_t run, uint32_t runs)
{
    double sum[MAX_KERNELS] = {0};
    for (uint32_t i = 0; i < dvk_cmd_profile_count(cmd); ++i) {
        const char *name = NULL;
        double ms = 0.0;
        if (dvk_cmd_profile_entry(cmd, i, &name, &ms) != DVK_SUCCESS)
            continue;
        uint32_t k = 0;
        while (k < kt->count && strcmp(kt->name[k], name) != 0)
            ++k;
        if (k == kt->count) {
            if (kt->count == MAX_KERNELS)
                continue;
            kt->name[k] = name;
            kt->ms[k] = calloc(runs, sizeof(double));
            ++kt->count;
        }
        sum[k] += ms;
    }
    for (uint32_t k = 0; k < kt->count; ++k)
        if (kt->ms[k])
            kt->ms[k][run] = sum[k];
}

static const char *mode_name(dvk_mode m)
{
    return m == DVK_MODE_CHUNK ? "chunk" : m == DVK_MODE_RECURRENT ? "recurrent" : "default";
}

void tool_timing_free(tool_timing *t)
{
    free(t->times);
    for (uint32_t k = 0; k < t->stage_count; ++k)
        free(t->stage_ms[k]);
    memset(t, 0, sizeof *t);
}

int tool_time(dvk_context *ctx, tool_opts *opts, const char *name, tool_record_fn record,
              void *user, tool_timing *out)
{
    memset(out, 0, sizeof *out);
    const dvk_device_info *info = dvk_context_device_info(ctx);
    if (!info->timestamps) {
        fprintf(stderr, "dvk: %s cannot write GPU timestamps; nothing to measure with\n",
                info->name);
        return TOOL_FAIL;
    }
    dvk_cmd *cmd = NULL;
    out->times = calloc(opts->iters, sizeof *out->times);
    uint32_t t0 = 0, t1 = 0;
    dvk_status st = DVK_SUCCESS;
    kernel_times stages = {0};
    int rc = TOOL_OK;
    if (!out->times) {
        fprintf(stderr, "dvk: out of host memory\n");
        return TOOL_FAIL;
    }
    st = dvk_cmd_create(ctx,
                        &(dvk_cmd_desc){.profile_dispatches = opts->stages,
                                        .max_timestamps = opts->stages ? TOOL_STAGE_TIMESTAMPS : 0},
                        &cmd);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_timestamp(cmd, &t0);
    for (uint32_t r = 0; st == DVK_SUCCESS && r < (opts->repeat ? opts->repeat : 1); ++r)
        st = record(cmd, user);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_timestamp(cmd, &t1);
    if (st != DVK_SUCCESS)
        rc = tool_fail_status(name, st);
    /* --repeat 0 (the default): enough calls per timed run that a run lasts 20 ms. A GPU just
     * out of idle runs slower for its first milliseconds (clocks and power ramping up); single
     * short calls measure that ramp, and Triton's do_bench, which fla's figures come from,
     * times back-to-back launches. */
    if (rc == TOOL_OK && opts->repeat == 0) {
        double probe = 0.0;
        for (uint32_t i = 0; st == DVK_SUCCESS && i < 3; ++i) {
            st = dvk_cmd_submit(cmd);
            if (st == DVK_SUCCESS)
                st = dvk_cmd_wait(cmd, 0);
            if (st == DVK_SUCCESS)
                st = dvk_cmd_elapsed_ms(cmd, t0, t1, &probe);
        }
        if (st != DVK_SUCCESS)
            rc = tool_fail_status(name, st);
        opts->repeat = probe > 0.0 ? (uint32_t)(20.0 / probe) + 1 : 1;
        /* --stages times every dispatch, two timestamps each: keep a batch's within the query
         * pool (a layer's call has dozens of dispatches, an operator's a few) */
        const uint32_t per_call = dvk_cmd_profile_count(cmd) ? dvk_cmd_profile_count(cmd) : 1;
        uint32_t most = opts->stages ? (TOOL_STAGE_TIMESTAMPS - 2) / (2 * per_call) : 1000;
        if (opts->stages && most > 100)
            most = 100;
        if (most == 0)
            most = 1;
        if (opts->repeat > most)
            opts->repeat = most;
        if (rc == TOOL_OK && opts->repeat > 1) {
            st = dvk_cmd_reset(cmd);
            if (st == DVK_SUCCESS)
                st = dvk_cmd_timestamp(cmd, &t0);
            for (uint32_t r = 0; st == DVK_SUCCESS && r < opts->repeat; ++r)
                st = record(cmd, user);
            if (st == DVK_SUCCESS)
                st = dvk_cmd_timestamp(cmd, &t1);
            if (st != DVK_SUCCESS)
                rc = tool_fail_status(name, st);
        }
    }
    /* The same recording is replayed: every run reads the same inputs and (re)writes the
     * same outputs, so each run does the full work. */
    tool_progress progress;
    char what[96];
    snprintf(what, sizeof what, "bench %s", name);
    tool_progress_start(&progress, what);
    for (uint32_t i = 0; rc == TOOL_OK && i < opts->warmup + opts->iters; ++i) {
        st = dvk_cmd_submit(cmd);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_wait(cmd, 0);
        double ms = 0.0;
        if (st == DVK_SUCCESS)
            st = dvk_cmd_elapsed_ms(cmd, t0, t1, &ms);
        if (st != DVK_SUCCESS) {
            rc = tool_fail_status(name, st);
            break;
        }
        if (i >= opts->warmup)
            out->times[i - opts->warmup] = ms / opts->repeat;
        if (i >= opts->warmup && opts->stages)
            add_stage_times(&stages, cmd, i - opts->warmup, opts->iters);
        tool_progress_update(&progress, "run %u/%u", i + 1, opts->warmup + opts->iters);
    }
    tool_progress_end(&progress);
    if (rc == TOOL_OK && opts->validate && dvk_context_validation_message_count(ctx)) {
        fprintf(stderr, "dvk: the validation layer reported %llu messages\n",
                (unsigned long long)dvk_context_validation_message_count(ctx));
        rc = TOOL_FAIL;
    }
    if (rc == TOOL_OK) {
        const uint32_t n = opts->iters;
        qsort(out->times, n, sizeof *out->times, cmp_double);
        out->median = n % 2 ? out->times[n / 2] : 0.5 * (out->times[n / 2 - 1] + out->times[n / 2]);
        out->min = out->times[0];
        out->max = out->times[n - 1];
        for (uint32_t k = 0; k < stages.count; ++k) {
            out->stage_name[k] = stages.name[k];
            out->stage_ms[k] = stages.ms[k];
            if (stages.ms[k]) {
                qsort(stages.ms[k], n, sizeof(double), cmp_double);
                out->stage_median[k] = stages.ms[k][n / 2] / opts->repeat; /* per call */
            }
        }
        out->stage_count = stages.count;
    } else {
        for (uint32_t k = 0; k < stages.count; ++k)
            free(stages.ms[k]);
    }
    dvk_cmd_destroy(cmd);
    return rc;
}

void tool_print_stages(const tool_timing *t, bool json)
{
    if (json)
        printf(", \"stages\": [");
    bool first = true;
    for (uint32_t k = 0; k < t->stage_count; ++k) {
        if (!t->stage_ms[k])
            continue; /* its allocation failed: no times to show */
        if (json) {
            printf("%s{\"kernel\": ", first ? "" : ", ");
            tool_json_string(stdout, t->stage_name[k]);
            printf(", \"median_ms\": %.6f}", t->stage_median[k]);
            first = false;
        } else {
            printf("    %-36s %.4f ms\n", t->stage_name[k], t->stage_median[k]);
        }
    }
    if (json)
        printf("]");
}

typedef struct op_run {
    const tool_op *op;
    const tool_inputs *in;
    const tool_outputs *out;
    const tool_opts *opts;
} op_run;

static dvk_status record_op(dvk_cmd *cmd, void *user)
{
    const op_run *r = user;
    return r->op->record(cmd, r->in, r->out, r->opts);
}

static double run_op_reference(void *user)
{
    const op_run *r = user;
    return r->op->reference_ms(r->in, r->opts);
}

void tool_help_bench(FILE *f)
{
    fprintf(f,
            "usage: dvk bench OP --B N --T N --H N --K N --V N [options]\n"
            "       dvk bench FUNCTION --M N --N N [--K N] [options]\n"
            "\n"
            "The median GPU time of one call of an operator (dvk ops) or building block (dvk\n"
            "functions) on random inputs, from Vulkan timestamps around its dispatches, after\n"
            "warm-up runs. Runs longer than a second show their progress on stderr.\n"
            "\n"
            "shape:\n"
            "  --B --T --H --K --V N    operators (--HV N: value heads, default H; the attention\n"
            "                           operators' D is --K, DV --V; infini_attn's T is one\n"
            "                           segment; rope's D is --K)\n"
            "  --M --N [--K] N          functions: rows, columns or outputs, and inner size\n"
            "                           (default --N); --W N: conv1d's kernel width (default 4);\n"
            "                           dvk bench FUNCTION prints what they mean for it\n"
            "options of bench:\n"
            "  --warmup N --iters N     runs before timing (default 5) and timed (default 30)\n"
            "  --repeat N               N calls back to back per timed run, time per call\n"
            "                           reported (default: enough for 20 ms, so the GPU's\n"
            "                           clocks settle, as Triton's do_bench does)\n"
            "  --no-state               operators: no initial or final state (infini_attn: the\n"
            "                           first segment, no memory stored)\n"
            "  --wdtype f32|f16|bf16    functions: the weights' dtype (default --dtype)\n"
            "  --no-bias                functions: no bias\n"
            "  --rotate N               functions: N copies of the inputs used in turn (at most\n"
            "                           16), so weights that fit in a cache come from memory\n"
            "  --reference              also the time of the plain-C reference (double, one\n"
            "                           thread) on the same inputs\n"
            "  --stages                 also the median time of each kernel (dispatches timed\n"
            "                           one by one)\n"
            "  --json                   one JSON object on one line of stdout instead of text,\n"
            "                           with the keys\n"
            "                           of operators: op, mode, dtype, B, T, H, HV, K, V, state,\n"
            "                           the operator's own options (softmax_attn: segment;\n"
            "                           linear_attn: feature_map, normalize, eps, eps_add;\n"
            "                           infini_attn: rope, rope_theta, delta_rule, eps; rope:\n"
            "                           theta, offset, rotary_dim), device, driver, profile,\n"
            "                           median_ms, min_ms, max_ms, iters, repeat, bytes, flops,\n"
            "                           gb_per_s, tflop_per_s;\n"
            "                           of functions: function, dtype, wdtype, M, N, K, device,\n"
            "                           driver, profile, median_ms, min_ms, max_ms, iters,\n"
            "                           repeat, rotate, bytes, flops, gb_per_s, tflop_per_s;\n"
            "                           with --reference also reference_ms (null: it could not\n"
            "                           run), with --stages also stages, a list of objects\n"
            "                           {kernel, median_ms}. Times are ms per call, bytes the\n"
            "                           fewest a call must move.\n");
    tool_help_op_options(f);
    tool_help_fn_options(f);
}

int cmd_bench(int argc, char **argv)
{
    tool_opts opts = {.warmup = 5, .iters = 30, .repeat = 0};
    const int parsed = tool_parse_opts(argc, argv, 2, &opts);
    if (parsed == TOOL_HELP) {
        tool_help_bench(stdout);
        return TOOL_OK;
    }
    if (parsed != TOOL_OK)
        return TOOL_USAGE;
    if (opts.op && tool_find_fn(opts.op))
        return tool_bench_fn(tool_find_fn(opts.op), &opts);
    if (!opts.op || !opts.B || !opts.T || !opts.H || !opts.K || !opts.V || !opts.iters) {
        fprintf(stderr, "usage: dvk bench OP --B N --T N --H N --K N --V N [--HV N] "
                        "[--dtype f32|f16] [--mode recurrent|chunk] [--warmup N] [--iters N] "
                        "[--no-state] [--json] [--device N] (dvk bench --help: every option)\n"
                        "       dvk bench FUNCTION --M N --N N [--K N] ... (dvk functions)\n"
                        "operators:\n");
        tool_print_ops(stderr);
        return TOOL_USAGE;
    }
    const tool_op *op = tool_find_op_or_explain(opts.op);
    if (!op)
        return TOOL_USAGE;
    dvk_context *ctx = NULL;
    int rc = tool_context(&opts, &ctx);
    if (rc != TOOL_OK)
        return rc;
    const dvk_device_info *info = dvk_context_device_info(ctx);
    const bool with_state = !opts.no_state;
    tool_inputs in = {0};
    tool_outputs out = {0};
    tool_timing timing = {0};
    rc = tool_random_inputs(ctx, op, &opts, with_state, &in);
    if (rc == TOOL_OK) {
        const dvk_status st = op->make_outputs(ctx, &in, &opts, with_state, &out);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status(op->name, st);
    }
    op_run run = {op, &in, &out, &opts};
    if (rc == TOOL_OK)
        rc = tool_time(ctx, &opts, op->name, record_op, &run, &timing);
    if (rc == TOOL_OK) {
        const double median = timing.median;
        double flops = 0.0, bytes = 0.0;
        op->cost(&in, &out, &opts, &flops, &bytes);
        const double gbps = median > 0.0 ? bytes / (median * 1e-3) * 1e-9 : 0.0;
        const double tflops = median > 0.0 ? flops / (median * 1e-3) * 1e-12 : 0.0;
        const uint32_t HV = opts.HV ? opts.HV : opts.H;
        const char *dtype = dvk_dtype_name(opts.dtype ? opts.dtype : DVK_DTYPE_F32);
        const bool has_state = in.h0 != NULL; /* softmax_attn has none */
        char extra[256] = "";
        if (op->describe)
            op->describe(&opts, opts.json, extra, sizeof extra);
        if (opts.json) {
            printf("{\"op\": \"%s\", \"mode\": \"%s\", \"dtype\": \"%s\", \"B\": %u, \"T\": %u, "
                   "\"H\": %u, \"HV\": %u, \"K\": %u, \"V\": %u, \"state\": %s%s, \"device\": ",
                   op->name, mode_name(opts.mode), dtype, opts.B, opts.T, opts.H, HV, opts.K, opts.V,
                   has_state ? "true" : "false", extra);
            tool_json_string(stdout, info->name);
            printf(", \"driver\": ");
            tool_json_string(stdout, info->driver_info);
            printf(", \"profile\": \"%s\", \"median_ms\": %.6f, \"min_ms\": %.6f, "
                   "\"max_ms\": %.6f, \"iters\": %u, \"repeat\": %u, \"bytes\": %.0f, "
                   "\"flops\": %.0f, \"gb_per_s\": %.3f, \"tflop_per_s\": %.4f",
                   opts.small_profile ? "small" : "device", median, timing.min, timing.max,
                   opts.iters, opts.repeat, bytes, flops, gbps, tflops);
        } else {
            const char *state = !has_state ? ""
                                : op->state == STATE_S_Z ? ", with h0, z0 and ht, z"
                                                         : ", with h0 and ht";
            printf("%s (%s, %s) B=%u T=%u H=%u HV=%u K=%u V=%u%s%s on %s\n", op->name,
                   mode_name(opts.mode), dtype, opts.B, opts.T, opts.H, HV, opts.K, opts.V,
                   state, extra, info->name);
            printf("  median %.4f ms  (min %.4f, max %.4f, %u runs after %u warm-up%s)\n",
                   median, timing.min, timing.max, opts.iters, opts.warmup,
                   opts.repeat > 1 ? ", per call of a back-to-back batch" : "");
            printf("  %.1f GB/s of %.1f MB moved, %.3f TFLOP/s of %.3g FLOP\n", gbps, bytes * 1e-6,
                   tflops, flops);
        }
        if (opts.reference) {
            op_run ref = {op, &in, &out, &opts};
            tool_print_reference(op->name, run_op_reference, &ref, median, opts.json);
        }
        if (opts.stages)
            tool_print_stages(&timing, opts.json);
        if (opts.json)
            printf("}\n");
    }
    tool_timing_free(&timing);
    tool_free_outputs(&out);
    tool_free_inputs(&in);
    dvk_context_destroy(ctx);
    return rc;
}

void tool_print_reference(const char *name, double (*run)(void *user), void *user,
                          double median_ms, bool json)
{
    /* The reference is one call that may take minutes at a large shape (double precision, one
     * thread): say what is running before it starts. */
    fflush(stdout); /* the results so far first, where both go to one terminal */
    fprintf(stderr, "bench %s: timing the C reference (double, one thread)\n", name);
    const double ref_ms = run(user);
    if (json) {
        if (ref_ms >= 0.0)
            printf(", \"reference_ms\": %.3f", ref_ms);
        else
            printf(", \"reference_ms\": null");
    } else if (ref_ms >= 0.0) {
        printf("  C reference (double, one thread): %.3f ms (the device's median is %.2fx that)\n",
               ref_ms, median_ms / ref_ms);
    } else {
        printf("  C reference: could not run\n");
    }
}
