/* bench_sweep — every sequence mixer over sequence lengths and batch sizes on one device, in
 * chunked and recurrent mode, beside causal softmax attention on the same axes; the results as
 * a CSV file and an SVG plot of time and throughput against length (the SVG written here, by
 * hand: no plotting library).
 *
 * For each operator, mode, batch B and length T: random inputs of [B,T,H,K] (values [B,T,H,V])
 * are uploaded, the operator is recorded once between two GPU timestamps, run once to warm up
 * (kernels are built when first recorded) and then --reps times; the median time is kept
 * (wall clock around submit and wait where the device has no timestamps). Throughput is
 * B·T tokens over that time. One more run, every dispatch profiled, names the kernels that ran
 * (the path the operator took: recurrent, the chunked stages, tensor cores or not).
 *
 * Usage: bench_sweep [--ops delta_rule,gated_delta_rule,kda,rwkv7,linear_attn,softmax_attn]
 *                    [--modes chunk,recurrent] [--T 64,128,...] [--B 1,4] [--H 4] [--K 64]
 *                    [--V 64] [--dtype f32|f16] [--reps 5] [--csv bench_sweep.csv]
 *                    [--svg bench_sweep.svg] [--device N|NAME] [--validate]
 * Defaults depend on the device: a CPU device (lavapipe) sweeps T = 64..512 and B = 1, 2 with
 * H = 4, K = V = 64; a GPU T = 256..8192 and B = 1, 4 with H = 16, K = V = 128.
 * Exit status 0 when every configuration ran (and, with --validate, the validation layer said
 * nothing), 1 otherwise, 2 for a usage error. */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deltavk.h"

enum { MAX_LIST = 32 };

typedef enum op_id {
    DELTA_RULE, GATED_DELTA_RULE, KDA, RWKV7, LINEAR_ATTN, SOFTMAX_ATTN, N_OPS
} op_id;
static const char *const op_names[N_OPS] = {"delta_rule", "gated_delta_rule", "kda",
                                            "rwkv7",      "linear_attn",      "softmax_attn"};
/* Line colours of the plot, one per operator. */
static const char *const op_colors[N_OPS] = {"#1f77b4", "#ff7f0e", "#2ca02c",
                                             "#d62728", "#9467bd", "#555555"};

/* Modes of the linear-time operators; softmax attention has one form, "full" (causal). */
typedef enum mode_id { MODE_CHUNK, MODE_RECURRENT, MODE_FULL, N_MODES } mode_id;
static const char *const mode_names[N_MODES] = {"chunk", "recurrent", "full"};
static const char *const mode_dash[N_MODES] = {"", "6,4", "2,3"};

typedef struct options {
    bool ops[N_OPS], modes[2];
    uint32_t T[MAX_LIST], nT, B[MAX_LIST], nB;
    uint32_t H, K, V, reps;
    dvk_dtype dtype;
    const char *csv, *svg, *device;
    bool validate;
} options;

typedef struct result {
    op_id op;
    mode_id mode;
    uint32_t B, T;
    double ms, tokens_per_s;
    bool ok;
    char kernels[256]; /* the kernels that ran, "+" between them: which path the call took */
} result;

/* The inputs of one configuration (those the operator uses; the rest stay NULL). */
typedef struct inputs {
    dvk_tensor *q, *k, *v, *beta, *g, *gk, *kappa, *alpha, *o, *state;
} inputs;

typedef enum fill_kind {
    FILL_SIGNED,    /* uniform in (-1, 1): queries, values */
    FILL_KEY,       /* uniform scaled to a norm of about 1 over K: keys, RWKV-7's kappa */
    FILL_UNIT,      /* uniform in (0.1, 0.9): beta, RWKV-7's alpha */
    FILL_DECAY,     /* a log decay in (-0.31, -0.01): the gates */
} fill_kind;

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static float uniform01(void)
{
    rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
    return (float)((rng_state * 0x2545F4914F6CDD1Dull) >> 40) / 16777216.0f;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void report(const char *what, dvk_status st)
{
    fprintf(stderr, "bench_sweep: %s: %s: %s\n", what, dvk_status_string(st), dvk_last_error());
}

/* A tensor of `ndim` dims filled on the host as `kind` says and uploaded in `dtype`. */
static dvk_status make_input(dvk_context *ctx, dvk_dtype dtype, uint32_t ndim,
                             const uint64_t *shape, fill_kind kind, uint32_t K, dvk_tensor **out)
{
    dvk_tensor_desc desc = {.dtype = dtype, .ndim = ndim};
    size_t n = 1;
    for (uint32_t i = 0; i < ndim; ++i)
        desc.shape[i] = shape[i], n *= shape[i];
    dvk_status st = dvk_tensor_create(ctx, &desc, out);
    if (st != DVK_SUCCESS)
        return st;
    const size_t esize = dvk_dtype_size(dtype);
    unsigned char *host = malloc(n * esize);
    if (!host)
        return DVK_ERROR_OUT_OF_HOST_MEMORY;
    const float key_scale = sqrtf(3.0f / (float)K);
    for (size_t i = 0; i < n; ++i) {
        const float u = uniform01();
        float x = 2.0f * u - 1.0f;
        if (kind == FILL_KEY)
            x *= key_scale;
        else if (kind == FILL_UNIT)
            x = 0.1f + 0.8f * u;
        else if (kind == FILL_DECAY)
            x = -0.01f - 0.3f * u;
        if (dtype == DVK_DTYPE_F16) {
            const uint16_t h = dvk_f32_to_f16(x);
            memcpy(host + i * esize, &h, esize);
        } else {
            memcpy(host + i * esize, &x, esize);
        }
    }
    st = dvk_tensor_upload(*out, host, n * esize);
    free(host);
    return st;
}

static void destroy_inputs(inputs *in)
{
    dvk_tensor *all[] = {in->q,     in->k,     in->v, in->beta, in->g,
                         in->gk,    in->kappa, in->alpha, in->o, in->state};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        dvk_tensor_destroy(all[i]);
    *in = (inputs){0};
}

/* The tensors operator `op` reads and writes, for batch B and length T. */
static dvk_status make_inputs(dvk_context *ctx, const options *o, op_id op, uint32_t B,
                              uint32_t T, inputs *in)
{
    const uint32_t H = o->H, K = o->K, V = o->V;
    const uint64_t qk[4] = {B, T, H, K}, vv[4] = {B, T, H, V}, bt[3] = {B, T, H};
    const dvk_dtype d = o->dtype;
    dvk_status s = make_input(ctx, d, 4, qk, FILL_SIGNED, K, &in->q);
    if (s == DVK_SUCCESS)
        s = make_input(ctx, d, 4, qk, op == SOFTMAX_ATTN ? FILL_SIGNED : FILL_KEY, K, &in->k);
    if (s == DVK_SUCCESS)
        s = make_input(ctx, d, 4, vv, FILL_SIGNED, K, &in->v);
    if (s == DVK_SUCCESS)
        s = dvk_tensor_create(ctx, &(dvk_tensor_desc){.dtype = d, .ndim = 4,
                                                      .shape = {B, T, H, V}}, &in->o);
    if (s == DVK_SUCCESS && op != SOFTMAX_ATTN)
        s = dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, H, K, V}},
                              &in->state);
    if (s == DVK_SUCCESS && (op == DELTA_RULE || op == GATED_DELTA_RULE || op == KDA))
        s = make_input(ctx, d, 3, bt, FILL_UNIT, K, &in->beta);
    if (s == DVK_SUCCESS && op == GATED_DELTA_RULE)
        s = make_input(ctx, d, 3, bt, FILL_DECAY, K, &in->g);
    if (s == DVK_SUCCESS && (op == KDA || op == RWKV7))
        s = make_input(ctx, d, 4, qk, FILL_DECAY, K, &in->gk);
    if (s == DVK_SUCCESS && op == RWKV7)
        s = make_input(ctx, d, 4, qk, FILL_KEY, K, &in->kappa);
    if (s == DVK_SUCCESS && op == RWKV7)
        s = make_input(ctx, d, 4, qk, FILL_UNIT, K, &in->alpha);
    return s;
}

/* Records the operator; every linear-time one also writes its final state, as in serving. */
static dvk_status record_op(dvk_cmd *cmd, op_id op, mode_id m, const inputs *in)
{
    const dvk_mode mode = m == MODE_CHUNK ? DVK_MODE_CHUNK : DVK_MODE_RECURRENT;
    switch (op) {
    case DELTA_RULE:
    case GATED_DELTA_RULE: {
        const dvk_delta_rule_desc d = {.q = in->q, .k = in->k, .v = in->v, .beta = in->beta,
                                       .g = in->g, .o = in->o, .final_state = in->state,
                                       .mode = mode};
        return op == DELTA_RULE ? dvk_delta_rule(cmd, &d) : dvk_gated_delta_rule(cmd, &d);
    }
    case KDA:
        return dvk_kda(cmd, &(dvk_kda_desc){.q = in->q, .k = in->k, .v = in->v, .g = in->gk,
                                            .beta = in->beta, .o = in->o,
                                            .final_state = in->state, .mode = mode});
    case RWKV7:
        return dvk_rwkv7(cmd, &(dvk_rwkv7_desc){.r = in->q, .w = in->gk, .k = in->k, .v = in->v,
                                                .kappa = in->kappa, .alpha = in->alpha,
                                                .o = in->o, .final_state = in->state,
                                                .mode = mode});
    case LINEAR_ATTN:
        return dvk_linear_attn(cmd, &(dvk_linear_attn_desc){
                                        .q = in->q, .k = in->k, .v = in->v, .o = in->o,
                                        .final_state = in->state, .mode = mode,
                                        .feature_map = DVK_FEATURE_ELU1, .normalize = true});
    case SOFTMAX_ATTN:
        return dvk_softmax_attn(cmd, &(dvk_softmax_attn_desc){.q = in->q, .k = in->k,
                                                              .v = in->v, .o = in->o});
    default:
        return DVK_ERROR_INVALID_ARGUMENT;
    }
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The kernels the operator runs, in order and each once, "+" between them ("delta_rule/
 * chunk_prepare_f32+..."), from one more run with every dispatch profiled. Empty where the
 * device has no timestamps (profiling needs them). */
static dvk_status kernel_names(dvk_context *ctx, op_id op, mode_id mode, const inputs *in,
                               char *out, size_t cap)
{
    out[0] = '\0';
    if (!dvk_context_device_info(ctx)->timestamps)
        return DVK_SUCCESS;
    dvk_cmd *cmd = NULL;
    dvk_status st = dvk_cmd_create(ctx, &(dvk_cmd_desc){.profile_dispatches = true}, &cmd);
    if (st == DVK_SUCCESS)
        st = record_op(cmd, op, mode, in);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_submit(cmd);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_wait(cmd, 0);
    for (uint32_t i = 0; st == DVK_SUCCESS && i < dvk_cmd_profile_count(cmd); ++i) {
        const char *name = NULL;
        double ms = 0.0;
        st = dvk_cmd_profile_entry(cmd, i, &name, &ms);
        if (st != DVK_SUCCESS || strstr(out, name)) /* each kernel once */
            continue;
        const size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s", len ? "+" : "", name);
    }
    dvk_cmd_destroy(cmd);
    return st;
}

/* Times one configuration: the median over o->reps runs, in ms, to *ms; the kernels that ran
 * to `kernels`. */
static dvk_status time_config(dvk_context *ctx, const options *o, op_id op, mode_id mode,
                              uint32_t B, uint32_t T, double *ms, char *kernels, size_t cap)
{
    inputs in = {0};
    dvk_cmd *cmd = NULL;
    double *times = malloc(o->reps * sizeof *times);
    const bool ts = dvk_context_device_info(ctx)->timestamps;
    uint32_t t0 = 0, t1 = 0;
    dvk_status st = times ? make_inputs(ctx, o, op, B, T, &in) : DVK_ERROR_OUT_OF_HOST_MEMORY;
    if (st == DVK_SUCCESS)
        st = dvk_cmd_create(ctx, NULL, &cmd);
    if (st == DVK_SUCCESS && ts)
        st = dvk_cmd_timestamp(cmd, &t0);
    if (st == DVK_SUCCESS)
        st = record_op(cmd, op, mode, &in);
    if (st == DVK_SUCCESS && ts)
        st = dvk_cmd_timestamp(cmd, &t1);
    /* One warm-up run, then the timed ones (a recorded dvk_cmd replays the same work). */
    for (uint32_t r = 0; st == DVK_SUCCESS && r <= o->reps; ++r) {
        const double w0 = now_ms();
        st = dvk_cmd_submit(cmd);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_wait(cmd, 0);
        const double wall = now_ms() - w0;
        if (st == DVK_SUCCESS && r > 0) {
            times[r - 1] = wall;
            if (ts)
                st = dvk_cmd_elapsed_ms(cmd, t0, t1, &times[r - 1]);
        }
    }
    if (st == DVK_SUCCESS) {
        qsort(times, o->reps, sizeof *times, cmp_double);
        *ms = o->reps % 2 ? times[o->reps / 2]
                          : 0.5 * (times[o->reps / 2 - 1] + times[o->reps / 2]);
        st = kernel_names(ctx, op, mode, &in, kernels, cap);
    }
    dvk_cmd_destroy(cmd);
    destroy_inputs(&in);
    free(times);
    return st;
}

/* ---- the SVG plot ------------------------------------------------------------------------ */

enum { PANEL_W = 440, PANEL_H = 280, MARGIN_L = 72, MARGIN_R = 16, MARGIN_T = 34,
       MARGIN_B = 46, LEGEND_W = 190, TITLE_H = 44 };

static void svg_text_escaped(FILE *f, const char *s)
{
    for (; *s; ++s) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

/* A decade for an axis label: 0.01, 0.1, 1, 10, 100, 1000, then 1e4, 1e5 ... */
static void svg_tick_label(char *buf, size_t n, double v)
{
    if (v >= 1e-2 && v < 1e4)
        snprintf(buf, n, "%g", v);
    else
        snprintf(buf, n, "1e%d", (int)lround(log10(v)));
}

/* One panel at (x0, y0): `value` (0 = ms, 1 = tokens/s) against T, log-log, for batch B. */
static void svg_panel(FILE *f, const options *o, const result *res, size_t nres, uint32_t B,
                      int which, double x0, double y0)
{
    const double pw = PANEL_W - MARGIN_L - MARGIN_R, ph = PANEL_H - MARGIN_T - MARGIN_B;
    const double px = x0 + MARGIN_L, py = y0 + MARGIN_T;
    double lo = INFINITY, hi = 0.0;
    for (size_t i = 0; i < nres; ++i) {
        const double v = which == 0 ? res[i].ms : res[i].tokens_per_s;
        if (res[i].B == B && res[i].ok && v > 0 && isfinite(v)) {
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    }
    if (!(hi > 0)) /* nothing ran at this batch size */
        lo = 1.0, hi = 10.0;
    double ylo = floor(log10(lo)), yhi = ceil(log10(hi));
    if (yhi <= ylo)
        yhi = ylo + 1;
    double xlo = log2(o->T[0]), xhi = log2(o->T[o->nT - 1]);
    if (xhi <= xlo)
        xlo -= 1, xhi += 1;
#define SX(t) (px + (log2(t) - xlo) / (xhi - xlo) * pw)
#define SY(v) (py + ph - (log10(v) - ylo) / (yhi - ylo) * ph)
    fprintf(f, "<g>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff\" "
               "stroke=\"#999\"/>\n",
            px, py, pw, ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-weight=\"bold\">%s, "
               "B = %u</text>\n",
            px + pw / 2, y0 + 20, which == 0 ? "time (ms)" : "throughput (tokens/s)", B);
    char label[32];
    for (double e = ylo; e <= yhi + 1e-9; e += 1) { /* a grid line per decade */
        const double y = SY(pow(10, e));
        svg_tick_label(label, sizeof label, pow(10, e));
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                px, y, px + pw, y, px - 6, y + 4, label);
    }
    for (uint32_t i = 0; i < o->nT; ++i) { /* a grid line per length swept */
        const double x = SX(o->T[i]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%u</text>\n",
                x, py, x, py + ph, x, py + ph + 16, o->T[i]);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">sequence length T</text>\n",
            px + pw / 2, py + ph + 36);
    /* One line per (operator, mode): its points in T order (results are in that order). */
    for (int op = 0; op < N_OPS; ++op) {
        for (int m = 0; m < N_MODES; ++m) {
            int n = 0;
            for (size_t i = 0; i < nres; ++i)
                n += res[i].op == (op_id)op && res[i].mode == (mode_id)m && res[i].B == B &&
                     res[i].ok;
            if (n == 0)
                continue;
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s%s%s "
                       "points=\"",
                    op_colors[op], *mode_dash[m] ? " stroke-dasharray=\"" : "", mode_dash[m],
                    *mode_dash[m] ? "\"" : "");
            for (size_t i = 0; i < nres; ++i) {
                const result *r = &res[i];
                if (r->op == (op_id)op && r->mode == (mode_id)m && r->B == B && r->ok)
                    fprintf(f, "%.1f,%.1f ", SX(r->T), SY(which == 0 ? r->ms : r->tokens_per_s));
            }
            fprintf(f, "\"><title>%s %s</title></polyline>\n", op_names[op], mode_names[m]);
            for (size_t i = 0; i < nres; ++i) {
                const result *r = &res[i];
                if (r->op == (op_id)op && r->mode == (mode_id)m && r->B == B && r->ok)
                    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                            SX(r->T), SY(which == 0 ? r->ms : r->tokens_per_s), op_colors[op]);
            }
        }
    }
    fprintf(f, "</g>\n");
#undef SX
#undef SY
}

static bool write_svg(const char *path, const options *o, const result *res, size_t nres,
                      const char *device)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_sweep: cannot write %s\n", path);
        return false;
    }
    const int width = 2 * PANEL_W + LEGEND_W, height = TITLE_H + (int)o->nB * PANEL_H;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"#fafafa\"/>\n",
            width, height, width, height);
    fprintf(f, "<text x=\"%d\" y=\"26\" font-size=\"16\" font-weight=\"bold\">deltavk "
               "bench_sweep on ",
            MARGIN_L);
    svg_text_escaped(f, device);
    fprintf(f, ": H = %u, K = %u, V = %u, %s, median of %u</text>\n", o->H, o->K, o->V,
            dvk_dtype_name(o->dtype), o->reps);
    for (uint32_t b = 0; b < o->nB; ++b)
        for (int which = 0; which < 2; ++which)
            svg_panel(f, o, res, nres, o->B[b], which, which * PANEL_W,
                      TITLE_H + b * PANEL_H);
    /* The legend: a colour per operator, a dash per mode. */
    const double lx = 2 * PANEL_W + 10;
    double ly = TITLE_H + MARGIN_T + 4;
    fprintf(f, "<g>\n");
    for (int op = 0; op < N_OPS; ++op) {
        if (!o->ops[op])
            continue;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"3\"/><text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                lx, ly, lx + 28, ly, op_colors[op], lx + 36, ly + 4, op_names[op]);
        ly += 20;
    }
    ly += 10;
    for (int m = 0; m < N_MODES; ++m) {
        if (m < 2 && !o->modes[m])
            continue;
        if (m == MODE_FULL && !o->ops[SOFTMAX_ATTN])
            continue;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\" "
                   "stroke-width=\"2\"%s%s%s/><text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                lx, ly, lx + 28, ly, *mode_dash[m] ? " stroke-dasharray=\"" : "", mode_dash[m],
                *mode_dash[m] ? "\"" : "", lx + 36, ly + 4,
                m == MODE_FULL ? "full (softmax attention)" : mode_names[m]);
        ly += 20;
    }
    fprintf(f, "</g>\n</svg>\n");
    const bool ok = fclose(f) == 0;
    if (!ok)
        fprintf(stderr, "bench_sweep: cannot write %s\n", path);
    return ok;
}

/* ---- options ------------------------------------------------------------------------------ */

static bool parse_list(const char *s, uint32_t *out, uint32_t *n)
{
    *n = 0;
    while (*s) {
        char *end = NULL;
        const unsigned long v = strtoul(s, &end, 10);
        if (end == s || v < 1 || v > (1ul << 24) || *n == MAX_LIST || (*end && *end != ','))
            return false;
        out[(*n)++] = (uint32_t)v;
        s = *end ? end + 1 : end;
    }
    /* ascending and without repeats, for the plot's lines */
    for (uint32_t i = 1; i < *n; ++i)
        for (uint32_t j = i; j > 0 && out[j - 1] > out[j]; --j) {
            const uint32_t t = out[j];
            out[j] = out[j - 1], out[j - 1] = t;
        }
    uint32_t k = 0;
    for (uint32_t i = 0; i < *n; ++i)
        if (k == 0 || out[i] != out[k - 1])
            out[k++] = out[i];
    *n = k;
    return k > 0;
}

/* A comma-separated list of names from `names` into the flags `on`. */
static bool parse_names(const char *s, const char *const *names, int count, bool *on)
{
    for (int i = 0; i < count; ++i)
        on[i] = false;
    while (*s) {
        const size_t len = strcspn(s, ",");
        int found = -1;
        for (int i = 0; i < count; ++i)
            if (strlen(names[i]) == len && strncmp(s, names[i], len) == 0)
                found = i;
        if (found < 0)
            return false;
        on[found] = true;
        s += len + (s[len] == ',');
    }
    return true;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: bench_sweep [--ops delta_rule,gated_delta_rule,kda,rwkv7,linear_attn,"
            "softmax_attn]\n"
            "                   [--modes chunk,recurrent] [--T 64,128,...] [--B 1,4] [--H N]\n"
            "                   [--K N] [--V N] [--dtype f32|f16] [--reps N] [--csv F] [--svg F]\n"
            "                   [--device N|NAME] [--validate]\n");
    return 2;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress and errors in order, even through a pipe */
    options o = {.reps = 5, .csv = "bench_sweep.csv", .svg = "bench_sweep.svg"};
    for (int i = 0; i < N_OPS; ++i)
        o.ops[i] = true;
    o.modes[MODE_CHUNK] = o.modes[MODE_RECURRENT] = true;
    bool have_T = false, have_B = false;
    uint32_t H = 0, K = 0, V = 0;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if (strcmp(a, "--validate") == 0) {
            o.validate = true;
            continue;
        }
        if (i + 1 >= argc)
            return usage();
        const char *v = argv[++i];
        bool ok = true;
        if (strcmp(a, "--ops") == 0)
            ok = parse_names(v, op_names, N_OPS, o.ops);
        else if (strcmp(a, "--modes") == 0)
            ok = parse_names(v, mode_names, 2, o.modes);
        else if (strcmp(a, "--T") == 0)
            ok = have_T = parse_list(v, o.T, &o.nT);
        else if (strcmp(a, "--B") == 0)
            ok = have_B = parse_list(v, o.B, &o.nB);
        else if (strcmp(a, "--H") == 0 || strcmp(a, "--K") == 0 || strcmp(a, "--V") == 0) {
            uint32_t x[MAX_LIST], n = 0;
            ok = parse_list(v, x, &n) && n == 1 && (a[2] == 'H' || x[0] <= 256); /* K, V <= 256 */
            if (ok)
                *(a[2] == 'H' ? &H : a[2] == 'K' ? &K : &V) = x[0];
        } else if (strcmp(a, "--reps") == 0) {
            uint32_t x[MAX_LIST], n = 0;
            ok = parse_list(v, x, &n) && n == 1 && x[0] <= 1000;
            if (ok)
                o.reps = x[0];
        } else if (strcmp(a, "--dtype") == 0) {
            o.dtype = strcmp(v, "f32") == 0 ? DVK_DTYPE_F32
                      : strcmp(v, "f16") == 0 ? DVK_DTYPE_F16 : DVK_DTYPE_I32;
            ok = o.dtype != DVK_DTYPE_I32;
        } else if (strcmp(a, "--csv") == 0)
            o.csv = v;
        else if (strcmp(a, "--svg") == 0)
            o.svg = v;
        else if (strcmp(a, "--device") == 0)
            o.device = v;
        else
            ok = false;
        if (!ok) {
            fprintf(stderr, "bench_sweep: bad option %s %s\n", a, v);
            return usage();
        }
    }
    if (!o.dtype)
        o.dtype = DVK_DTYPE_F32;

    int rc = 1;
    dvk_context *ctx = NULL;
    result *res = NULL;
    FILE *csv = NULL;
    dvk_status st = dvk_context_create(
        &(dvk_context_desc){.device = o.device, .enable_validation = o.validate}, &ctx);
    if (st != DVK_SUCCESS) {
        report("dvk_context_create", st);
        goto done;
    }
    const dvk_device_info *info = dvk_context_device_info(ctx);
    const bool cpu = info->type == DVK_DEVICE_TYPE_CPU;
    if (!have_T) {
        static const uint32_t cpu_T[] = {64, 128, 256, 512};
        static const uint32_t gpu_T[] = {256, 512, 1024, 2048, 4096, 8192};
        o.nT = cpu ? 4 : 6;
        memcpy(o.T, cpu ? cpu_T : gpu_T, o.nT * sizeof o.T[0]);
    }
    if (!have_B) {
        o.nB = 2;
        o.B[0] = 1, o.B[1] = cpu ? 2 : 4;
    }
    o.H = H ? H : cpu ? 4 : 16;
    o.K = K ? K : cpu ? 64 : 128;
    o.V = V ? V : cpu ? 64 : 128;
    if (o.dtype == DVK_DTYPE_F16 && !info->fp16_storage) {
        fprintf(stderr, "bench_sweep: %s cannot store fp16 tensors: use --dtype f32\n",
                info->name);
        goto done;
    }

    size_t cap = (size_t)N_OPS * N_MODES * o.nB * o.nT, nres = 0, failed = 0;
    res = calloc(cap, sizeof *res);
    csv = fopen(o.csv, "w");
    if (!res || !csv) {
        fprintf(stderr, "bench_sweep: %s\n", res ? "cannot write the CSV file" : "out of memory");
        goto done;
    }
    fprintf(csv, "op,mode,dtype,B,T,H,K,V,ms,tokens_per_s,timer,status,kernels\n");
    printf("deltavk bench_sweep on %s (%s): H=%u K=%u V=%u %s, median of %u runs (%s)\n",
           info->name, info->driver_name, o.H, o.K, o.V, dvk_dtype_name(o.dtype), o.reps,
           info->timestamps ? "GPU timestamps" : "wall clock");
    printf("%-17s %-10s %5s %7s %12s %14s\n", "op", "mode", "B", "T", "ms", "tokens/s");
    for (int op = 0; op < N_OPS; ++op) {
        for (int m = 0; m < N_MODES; ++m) {
            if (!o.ops[op] || (op == SOFTMAX_ATTN) != (m == MODE_FULL) ||
                (m != MODE_FULL && !o.modes[m]))
                continue;
            for (uint32_t b = 0; b < o.nB; ++b) {
                for (uint32_t t = 0; t < o.nT; ++t) {
                    result *r = &res[nres++];
                    *r = (result){.op = (op_id)op, .mode = (mode_id)m, .B = o.B[b], .T = o.T[t]};
                    st = time_config(ctx, &o, r->op, r->mode, r->B, r->T, &r->ms, r->kernels,
                                     sizeof r->kernels);
                    r->ok = st == DVK_SUCCESS;
                    if (r->ok) {
                        r->tokens_per_s = r->ms > 0 ? r->B * (double)r->T / (r->ms * 1e-3) : 0;
                        printf("%-17s %-10s %5u %7u %12.4f %14.0f\n", op_names[op],
                               mode_names[m], r->B, r->T, r->ms, r->tokens_per_s);
                    } else {
                        char what[96];
                        snprintf(what, sizeof what, "%s %s B=%u T=%u", op_names[op],
                                 mode_names[m], r->B, r->T);
                        report(what, st);
                        ++failed;
                    }
                    fprintf(csv, "%s,%s,%s,%u,%u,%u,%u,%u,%.6g,%.6g,%s,%s,%s\n", op_names[op],
                            mode_names[m], dvk_dtype_name(o.dtype), r->B, r->T, o.H, o.K, o.V,
                            r->ok ? r->ms : 0.0, r->ok ? r->tokens_per_s : 0.0,
                            info->timestamps ? "gpu" : "wall",
                            r->ok ? "ok" : dvk_status_string(st), r->kernels);
                    fflush(stdout);
                }
            }
        }
    }
    const bool csv_ok = fclose(csv) == 0;
    csv = NULL;
    if (!csv_ok)
        fprintf(stderr, "bench_sweep: cannot write %s\n", o.csv);
    const bool svg_ok = write_svg(o.svg, &o, res, nres, info->name);
    printf("wrote %s (%zu rows) and %s\n", o.csv, nres, o.svg);
    if (failed)
        fprintf(stderr, "bench_sweep: %zu of %zu configurations failed\n", failed, nres);
    const uint64_t msgs = o.validate ? dvk_context_validation_message_count(ctx) : 0;
    if (msgs)
        fprintf(stderr, "bench_sweep: the validation layer reported %" PRIu64 " messages\n",
                msgs);
    rc = csv_ok && svg_ok && failed == 0 && msgs == 0 ? 0 : 1;
done:
    if (csv)
        fclose(csv);
    free(res);
    dvk_context_destroy(ctx);
    return rc;
}
