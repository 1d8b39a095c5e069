/* dvk bench OP --B --T --H --K --V: median GPU time of one operator call on random inputs,
 * measured with Vulkan timestamps around the dispatches, after warm-up runs. tool_time() is
 * the measurement itself, shared with the building blocks' bench (nn.c). */
#include "dvk_tool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Per-kernel times of one run, summed over that kernel's dispatches. */
#define MAX_KERNELS TOOL_MAX_STAGES
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
                                        .max_timestamps = opts->stages ? 8192 : 0},
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
        /* --stages times every dispatch: keep the timestamps within the query pool */
        const uint32_t most = opts->stages ? 100 : 1000;
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
    const double start = now_s();
    bool progress = false;
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
        /* Runs longer than a second show their progress on a terminal. */
        if (!progress && isatty(STDERR_FILENO) && now_s() - start > 1.0 &&
            i + 1 < opts->warmup + opts->iters)
            progress = true;
        if (progress)
            fprintf(stderr, "\rbench %s: run %u/%u", name, i + 1, opts->warmup + opts->iters);
    }
    if (progress)
        fprintf(stderr, "\n");
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
    for (uint32_t k = 0; k < t->stage_count; ++k) {
        if (!t->stage_ms[k])
            continue; /* its allocation failed: no times to show */
        if (json)
            printf("{\"kernel\": \"%s\", \"median_ms\": %.6f}\n", t->stage_name[k],
                   t->stage_median[k]);
        else
            printf("    %-36s %.4f ms\n", t->stage_name[k], t->stage_median[k]);
    }
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

int cmd_bench(int argc, char **argv)
{
    tool_opts opts = {.warmup = 5, .iters = 30, .repeat = 0};
    if (tool_parse_opts(argc, argv, 2, &opts) != TOOL_OK)
        return TOOL_USAGE;
    if (opts.op && tool_find_fn(opts.op))
        return tool_bench_fn(tool_find_fn(opts.op), &opts);
    if (!opts.op || !opts.B || !opts.T || !opts.H || !opts.K || !opts.V || !opts.iters) {
        fprintf(stderr, "usage: dvk bench OP --B N --T N --H N --K N --V N [--HV N] "
                        "[--dtype f32|f16] [--mode recurrent|chunk] [--warmup N] [--iters N] "
                        "[--no-state] [--json] [--device N] (dvk --help: every option)\n"
                        "       dvk bench FUNCTION --M N --N N [--K N] ... (dvk functions)\n"
                        "operators:\n");
        tool_print_ops();
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
        const double gbps = bytes / (median * 1e-3) * 1e-9;
        const double tflops = flops / (median * 1e-3) * 1e-12;
        const uint32_t HV = opts.HV ? opts.HV : opts.H;
        const char *dtype = dvk_dtype_name(opts.dtype ? opts.dtype : DVK_DTYPE_F32);
        const bool has_state = in.h0 != NULL; /* softmax_attn has none */
        char extra[256] = "";
        if (op->describe)
            op->describe(&opts, opts.json, extra, sizeof extra);
        if (opts.json) {
            printf("{\"op\": \"%s\", \"mode\": \"%s\", \"dtype\": \"%s\", \"B\": %u, \"T\": %u, "
                   "\"H\": %u, \"HV\": %u, \"K\": %u, \"V\": %u, \"state\": %s%s, "
                   "\"device\": \"%s\", \"driver\": \"%s\", \"profile\": \"%s\", "
                   "\"median_ms\": %.6f, \"min_ms\": %.6f, \"max_ms\": %.6f, \"iters\": %u, "
                   "\"repeat\": %u, "
                   "\"bytes\": %.0f, \"flops\": %.0f, \"gb_per_s\": %.3f, \"tflop_per_s\": %.4f}\n",
                   op->name, mode_name(opts.mode), dtype, opts.B, opts.T, opts.H, HV, opts.K, opts.V,
                   has_state ? "true" : "false", extra, info->name, info->driver_info,
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
        if (opts.reference)
            tool_print_reference(op->reference_ms(&in, &opts), median, opts.json);
        tool_print_stages(&timing, opts.json);
    }
    tool_timing_free(&timing);
    tool_free_outputs(&out);
    tool_free_inputs(&in);
    dvk_context_destroy(ctx);
    return rc;
}

void tool_print_reference(double ref_ms, double median_ms, bool json)
{
    if (json)
        printf("{\"reference_ms\": %.3f}\n", ref_ms);
    else if (ref_ms >= 0.0)
        printf("  C reference (double, one thread): %.3f ms (the device's median is %.2fx that)\n",
               ref_ms, median_ms / ref_ms);
    else
        printf("  C reference: could not run\n");
}
