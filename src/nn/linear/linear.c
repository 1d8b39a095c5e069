/* dvk_linear: y = x Wᵀ + b (shaders/nn/linear/). Three paths, chosen here:
 *   gemv      M <= 16 rows per group (decode): the weight streamed once, x staged in shared
 *             memory (whole, or chunk by chunk); K also split over several workgroups (fp32
 *             partials in scratch, summed by splitk_sum) so that x's slice fits whole (GPUs)
 *             or the weight's rows alone give too few workgroups;
 *   tiled_cm  tensor cores, when the device and the operands allow (cm_usable);
 *   tiled     fp32 FMA tiles otherwise.
 * Developer switches, read at every call, let the paths and shapes be compared on a device:
 * DVK_LINEAR_CONFIG (a tensor-core configuration of cm_configs[], or "fma"),
 * DVK_LINEAR_DECODE ("off", or "RPT,SPLITS[,LANES[,WG[,UNROLL]]]" for gemv), DVK_LINEAR_DIAG
 * (tiled_cm's ablations, for timing) and, for tests,
 * DVK_LINEAR_CM_EMULATE (tiled_cm's tiling with emulated matrix operations); deltavk_nn.h
 * documents them. */
#include "nn/nn.h"

#include "shaders/nn/linear/cpu.h"
#include "shaders/nn/linear/gemv.h"
#include "shaders/nn/linear/splitk_sum.h"
#include "shaders/nn/linear/tiled.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A call after its checks: x [G, M, K], weight [G, N, K], y [G, M, N]. */
typedef struct linear_problem {
    const dvk_tensor *x, *w, *bias;
    dvk_tensor *y;
    uint32_t G, M, N, K;
    uint32_t bias_stride; /* 0: one [N] bias; N: a [G, N] bias */
    bool accumulate;
} linear_problem;

static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static uint32_t floor_pow2(uint32_t x)
{
    uint32_t p = 1;
    while (p <= x / 2)
        p *= 2;
    return p;
}
static uint32_t ceil_pow2(uint32_t x)
{
    uint32_t p = 1;
    while (p < x)
        p *= 2;
    return p;
}
static uint64_t div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
static bool is16(const dvk_tensor *t) { return dvk_dtype_size(dvk_tensor_dtype(t)) == 2; }

/* ---- checks ---------------------------------------------------------------------------------- */

/* True when the byte ranges of a and b share a byte of one VkBuffer. */
static bool overlaps(const dvk_tensor *a, const dvk_tensor *b)
{
    VkBuffer ba, bb;
    VkDeviceSize oa, ob;
    dvk_tensor_vk_buffer(a, &ba, &oa);
    dvk_tensor_vk_buffer(b, &bb, &ob);
    return ba == bb && oa < ob + dvk_tensor_bytes(b) && ob < oa + dvk_tensor_bytes(a);
}

static dvk_status check_elements(const char *name, const dvk_tensor *t)
{
    if (dvk_tensor_numel(t) > UINT32_MAX)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED, "%s: %llu elements, at most 2^32 - 1",
                             name, (unsigned long long)dvk_tensor_numel(t));
    return DVK_SUCCESS;
}

static dvk_status check(dvk_context *ctx, const dvk_linear_desc *d, linear_problem *p)
{
    NN_TRY(dvk__nn_check_float(ctx, "x", d->x));
    NN_TRY(dvk__nn_check_float(ctx, "weight", d->weight));
    NN_TRY(dvk__nn_check_float(ctx, "y", d->y));
    if (d->bias)
        NN_TRY(dvk__nn_check_float(ctx, "bias", d->bias));
    if (dvk_tensor_dtype(d->y) != dvk_tensor_dtype(d->x))
        return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE, "y: dtype %s, expected x's %s",
                             dvk_dtype_name(dvk_tensor_dtype(d->y)),
                             dvk_dtype_name(dvk_tensor_dtype(d->x)));
    char a[96], b[96];
    const uint32_t wn = dvk_tensor_ndim(d->weight), xn = dvk_tensor_ndim(d->x);
    if (wn != 2 && wn != 3)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                             "weight: shape %s, expected [N,K] or [G,N,K]",
                             dvk__nn_shape_str(d->weight, a, sizeof a));
    const uint64_t G = wn == 3 ? dvk_tensor_dim(d->weight, 0) : 1;
    const uint64_t N = dvk_tensor_dim(d->weight, wn - 2), K = dvk_tensor_dim(d->weight, wn - 1);
    if (xn == 0 || dvk_tensor_dim(d->x, xn - 1) != K)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                             "x: shape %s, its last dimension must be weight %s's K = %llu",
                             dvk__nn_shape_str(d->x, a, sizeof a),
                             dvk__nn_shape_str(d->weight, b, sizeof b),
                             (unsigned long long)K);
    if (wn == 3 && (xn < 2 || dvk_tensor_dim(d->x, 0) != G))
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                             "x: shape %s, expected [G=%llu,...,K] for the batched weight %s",
                             dvk__nn_shape_str(d->x, a, sizeof a), (unsigned long long)G,
                             dvk__nn_shape_str(d->weight, b, sizeof b));
    bool y_ok = dvk_tensor_ndim(d->y) == xn && dvk_tensor_dim(d->y, xn - 1) == N;
    for (uint32_t i = 0; y_ok && i + 1 < xn; ++i)
        y_ok = dvk_tensor_dim(d->y, i) == dvk_tensor_dim(d->x, i);
    if (!y_ok)
        return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH,
                             "y: shape %s, expected x %s with its last dimension N = %llu",
                             dvk__nn_shape_str(d->y, a, sizeof a),
                             dvk__nn_shape_str(d->x, b, sizeof b),
                             (unsigned long long)N);
    uint32_t bias_stride = 0;
    if (d->bias) {
        const uint32_t bn = dvk_tensor_ndim(d->bias);
        const bool one = bn == 1 && dvk_tensor_dim(d->bias, 0) == N;
        const bool per_group = wn == 3 && bn == 2 && dvk_tensor_dim(d->bias, 0) == G &&
                               dvk_tensor_dim(d->bias, 1) == N;
        if (!one && !per_group)
            return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "bias: shape %s, expected [N=%llu]%s",
                                 dvk__nn_shape_str(d->bias, a, sizeof a), (unsigned long long)N,
                                 wn == 3 ? " or [G,N]" : "");
        bias_stride = per_group ? (uint32_t)N : 0;
    }
    NN_TRY(check_elements("x", d->x));
    NN_TRY(check_elements("weight", d->weight));
    NN_TRY(check_elements("y", d->y));
    const dvk_tensor *ins[3] = {d->x, d->weight, d->bias};
    const char *names[3] = {"x", "weight", "bias"};
    for (int i = 0; i < 3; ++i)
        if (ins[i] && overlaps(d->y, ins[i]))
            return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                                 "y overlaps %s: the output must not share memory with an input",
                                 names[i]);
    *p = (linear_problem){
        .x = d->x,
        .w = d->weight,
        .bias = d->bias,
        .y = d->y,
        .G = (uint32_t)G,
        .M = (uint32_t)(dvk_tensor_numel(d->x) / K / G),
        .N = (uint32_t)N,
        .K = (uint32_t)K,
        .bias_stride = bias_stride,
        .accumulate = d->accumulate,
    };
    return DVK_SUCCESS;
}

/* The specialization constants every linear kernel has (linear.h). */
static void common_spec(const linear_problem *p, uint32_t wg, uint32_t *spec)
{
    spec[LINEAR_SPEC_X_DT] = dvk__nn_dt(dvk_tensor_dtype(p->x));
    spec[LINEAR_SPEC_W_DT] = dvk__nn_dt(dvk_tensor_dtype(p->w));
    spec[LINEAR_SPEC_B_DT] = p->bias ? dvk__nn_dt(dvk_tensor_dtype(p->bias)) : DVK_DT_F32;
    spec[LINEAR_SPEC_Y_DT] = dvk__nn_dt(dvk_tensor_dtype(p->y));
    spec[LINEAR_SPEC_HAS_BIAS] = p->bias != NULL;
    spec[LINEAR_SPEC_ACCUM] = p->accumulate;
    spec[LINEAR_SPEC_WG] = wg;
}

/* The largest power-of-two workgroup of at most `cap` invocations the device runs. */
static uint32_t workgroup_size(const dvk_device_info *info, uint32_t cap)
{
    return floor_pow2(min_u32(cap, min_u32(info->max_workgroup_invocations,
                                           info->max_workgroup_size[0])));
}

static dvk_status check_groups(const dvk_context *ctx, uint64_t gx, uint64_t gy, uint64_t gz)
{
    const uint32_t *max = dvk_context_device_info(ctx)->max_workgroup_count;
    if (gx > max[0] || gy > max[1] || gz > max[2])
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED,
                             "linear: %llu x %llu x %llu workgroups exceed the device's "
                             "%u x %u x %u",
                             (unsigned long long)gx, (unsigned long long)gy,
                             (unsigned long long)gz, max[0], max[1], max[2]);
    return DVK_SUCCESS;
}

/* ---- gemv: M <= 16 -------------------------------------------------------------------------- */

typedef struct gemv_plan {
    uint32_t wg, lanes, rpt, vw, ks, kc, unroll, xs4, splits;
    bool xdirect; /* x read from memory where used, not staged in shared memory */
} gemv_plan;

/* DVK_LINEAR_DECODE, a developer's switch: unset, "" or "auto" = chosen here; "off" = no gemv
 * (M <= 16 runs on the tiles); "RPT,SPLITS[,LANES[,WG[,UNROLL[,XDIRECT]]]]" forces weight rows
 * per invocation (1, 2, 4 or 8), K slices, invocations along K (1 to 1024, at most WG; more
 * than a subgroup's meet in shared memory like the others), invocations per workgroup (32 to
 * 1024), weight vectors per row and step (1 to 16), powers of two but SPLITS, 0 = chosen here;
 * and XDIRECT = 1: x read from memory where it is used instead of staged in shared memory
 * (where K % 4 == 0 and the weight's vectors are 4+ elements; else ignored). */
typedef struct decode_switch {
    bool off;
    uint32_t rpt, splits, lanes, wg, unroll, xdirect;
} decode_switch;

static bool pow2_or_0(unsigned v, unsigned lo, unsigned hi)
{
    return v == 0 || (v >= lo && v <= hi && (v & (v - 1)) == 0);
}

static dvk_status read_decode_switch(decode_switch *sw)
{
    *sw = (decode_switch){0};
    const char *e = getenv("DVK_LINEAR_DECODE");
    if (!e || !*e || strcmp(e, "auto") == 0)
        return DVK_SUCCESS;
    if (strcmp(e, "off") == 0) {
        sw->off = true;
        return DVK_SUCCESS;
    }
    unsigned r = 0, s = 0, l = 0, w = 0, u = 0, x = 0;
    const int n = sscanf(e, "%u,%u,%u,%u,%u,%u", &r, &s, &l, &w, &u, &x);
    if (n < 2 || !pow2_or_0(r, 1, 8) || s > 65535 || !pow2_or_0(l, 1, 1024) ||
        !pow2_or_0(w, 32, 1024) || !pow2_or_0(u, 1, 16) || (l && w && l > w) || x > 1)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "DVK_LINEAR_DECODE=%s: expected off, auto or "
                             "RPT,SPLITS[,LANES[,WG[,UNROLL[,XDIRECT]]]] (RPT 1..8, SPLITS up to "
                             "65535, LANES 1..WG, WG 32..1024, UNROLL 1..16, powers of two but "
                             "SPLITS, 0 = automatic; XDIRECT 0 or 1)",
                             e);
    *sw = (decode_switch){
        .rpt = r, .splits = s, .lanes = l, .wg = w, .unroll = u, .xdirect = x};
    return DVK_SUCCESS;
}

static dvk_status plan_gemv(const dvk_context *ctx, const linear_problem *p,
                            const decode_switch *sw, gemv_plan *g)
{
    const dvk_device_info *info = dvk_context_device_info(ctx);
    const uint32_t M = p->M, K = p->K;
    g->vw = 16 / (uint32_t)dvk_dtype_size(dvk_tensor_dtype(p->w));
    while (K % g->vw)
        g->vw /= 2; /* every row then starts on a whole vector */
    /* GPUs: workgroups of 256 whose L invocations along K (L = 32 / b) and RPT rows each are
     * chosen so that M <= RPT·b: an invocation reads 4·M bytes of x from shared memory per
     * weight element, reused for its RPT rows, and the b row groups of a subgroup read the
     * same x words (a broadcast), so shared memory serves 2·M / (RPT·b) bytes per weight byte,
     * at most 2: about 40 B/clk per SM of the ~128 when the weight streams at an H200's
     * 4.3 TB/s (19 B/clk per SM). M = 1: L = 32, RPT >= 1; M = 2: L = 16; M <= 4: L = 8;
     * M <= 8: L = 8, RPT >= 2; beyond: L = 8, RPT >= 4 (FMA-bound there: 2·M FMAs per weight
     * element; tensor cores serve 4 < M <= 16 where there are some). x's slice is staged
     * whole in 32 KiB (K/slices <= 8192 / M columns), so a workgroup never waits on its
     * chunks, and K is cut into slices until 256 workgroups (two per SM of a large GPU) stream
     * the weight: each costs partial sums and a second dispatch, but with few rows (N = 2048)
     * a workgroup per SM or fewer leaves the memory system idle (measured on the H200).
     * Short rows: fewer along K, more rows. CPUs (lavapipe runs a subgroup's invocations as
     * the lanes of SIMD instructions): one invocation per row, so that x's reads are the same
     * in every lane, workgroups of 64. */
    const bool cpu = info->type == DVK_DEVICE_TYPE_CPU;
    g->wg = sw->wg ? sw->wg : workgroup_size(info, cpu ? 64 : 256);
    if (g->wg > info->max_workgroup_invocations || g->wg > info->max_workgroup_size[0])
        return dvk_set_error(DVK_ERROR_UNSUPPORTED,
                             "DVK_LINEAR_DECODE: workgroups of %u exceed %s's", g->wg, info->name);
    /* 2 <= M <= 4 with long rows (measured on the H200, 2048 x 8192 fp16: 2.0-2.2 TB/s
     * against 1.0-1.2 for 8 or 16 lanes): 128 invocations along K reading x straight from
     * memory (XDIRECT), 4 rows each, no K slices */
    const bool wide = !cpu && M >= 2 && M <= 4 && g->vw >= 4 && K % 4 == 0 &&
                      K >= 4 * 128 * g->vw && !sw->lanes && !sw->rpt && !sw->splits;
    g->lanes = sw->lanes ? sw->lanes : cpu ? 1 : wide ? 128 : M == 1 ? 32 : M == 2 ? 16 : 8;
    while (!sw->lanes && g->lanes > 1 && (uint64_t)g->lanes * g->vw * 2 > K)
        g->lanes /= 2;
    g->lanes = min_u32(g->lanes, g->wg);
    const uint32_t rg = g->wg / g->lanes, mq = (M + 3) / 4;
    const uint32_t align = g->vw > 4 ? g->vw : 4;
    /* x in at most 32 KiB of shared memory (two or more workgroups per multiprocessor) */
    const uint32_t cap4 = min_u32(info->max_shared_memory, 32768) / 16; /* vec4s */
    if ((uint64_t)g->wg * mq > cap4)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED,
                             "linear: %u bytes of shared memory are too few",
                             info->max_shared_memory);
    /* Enough workgroups: 256 on GPUs (CPUs want a few: lavapipe runs one per core), found by
     * giving each invocation fewer rows, down to the shared-memory bound above; then by
     * cutting K into slices while a slice keeps 8 vectors per invocation and row. */
    /* (M = 1: 128 workgroups of 2+ rows per invocation beat 256 of one on the H200, 2.1
     * against 1.9 TB/s) */
    const uint64_t target_rows = cpu ? 4 : M == 1 ? 128 : 256, target_split = cpu ? 4 : 256;
    const uint32_t b = 32 / min_u32(g->lanes, 32);
    const uint32_t rpt_min = cpu ? 1 : min_u32(8, ceil_pow2((M + b - 1) / b)); /* M <= RPT·b */
    g->xdirect = (sw->xdirect || wide) && g->vw >= 4 && K % 4 == 0;
    uint32_t rpt = sw->rpt ? sw->rpt : rpt_min > 4 ? rpt_min : 4;
    uint32_t splits = sw->splits ? sw->splits : 1;
    if (wide)
        rpt = 4;
    if (!cpu && !g->xdirect && !sw->splits && (uint64_t)M * K > (uint64_t)cap4 * 4) /* x whole */
        splits = ceil_pow2((uint32_t)div_up((uint64_t)M * K, (uint64_t)cap4 * 4));
#define GEMV_GROUPS(r, s) (div_up(p->N, (uint64_t)rg * (r)) * (s) * p->G)
    while (!sw->rpt && rpt > rpt_min && GEMV_GROUPS(rpt, splits) < target_rows)
        rpt /= 2;
    while (!sw->splits && GEMV_GROUPS(rpt, splits) < target_split &&
           div_up(K, 2 * (uint64_t)splits) >= (uint64_t)g->lanes * g->vw * 8)
        splits *= 2;
#undef GEMV_GROUPS
    g->rpt = rpt;
    g->ks = (uint32_t)(div_up(div_up(K, splits), align) * align);
    g->splits = (uint32_t)div_up(K, g->ks); /* no empty slice */
    /* loads per step (RPT·UNROLL): 8 for M <= 8 on GPUs (4 for M <= 4 on CPUs), 4 beyond
     * (registers: the accumulators grow with M) */
    g->unroll = sw->unroll ? sw->unroll : wide ? 2 : (M <= (cpu ? 4u : 8u) ? 8 : 4) / rpt;
    g->unroll = g->unroll ? g->unroll : 1;
    const uint32_t per_lane = (uint32_t)div_up(div_up(g->ks, g->vw), g->lanes);
    g->unroll = min_u32(g->unroll, per_lane ? per_lane : 1);
    /* x's slice whole when it fits (or is not staged), else in chunks through two buffers; a
     * chunk is a whole number of steps (UNROLL·LANES·VW columns, a power of two) and of
     * vec4s */
    if (g->xdirect) {
        g->kc = g->ks;
        g->xs4 = g->wg * mq; /* the sums only */
        return DVK_SUCCESS;
    }
    if ((uint64_t)M * g->ks <= (uint64_t)cap4 * 4) {
        g->kc = g->ks;
    } else {
        for (;;) {
            const uint32_t step = g->unroll * g->lanes * g->vw, unit = step > 4 ? step : 4;
            g->kc = cap4 * 4 / (2 * M) / unit * unit;
            if (g->kc || g->unroll == 1)
                break;
            g->unroll /= 2;
        }
        if (!g->kc) { /* steps too wide for two buffers: slices that fit whole instead */
            g->ks = cap4 * 4 / M / align * align;
            g->splits = (uint32_t)div_up(K, g->ks);
            g->kc = g->ks;
        }
    }
    const uint64_t xs = (uint64_t)M * g->kc / 4 * (g->kc < g->ks ? 2 : 1);
    g->xs4 = (uint32_t)(xs > (uint64_t)g->wg * mq ? xs : (uint64_t)g->wg * mq);
    return DVK_SUCCESS;
}

/* fp32 partial sums of K slices, [splits, G, M, N], in scratch memory. */
static dvk_status make_partials(dvk_cmd *cmd, const linear_problem *p, uint32_t splits,
                                dvk_tensor **part)
{
    const uint64_t n = (uint64_t)splits * p->G * p->M * p->N;
    if (n > UINT32_MAX)
        return dvk_set_error(DVK_ERROR_LIMIT_EXCEEDED,
                             "linear: %llu partial sums (K in %u slices) exceed 2^32 - 1",
                             (unsigned long long)n, splits);
    const dvk_tensor_desc pd = {.dtype = DVK_DTYPE_F32, .ndim = 1, .shape = {n}};
    return dvk_cmd_scratch_tensor(cmd, &pd, part);
}

/* y = Σ of the slices' partial sums + bias (+ y): splitk_sum.comp. */
static dvk_status record_splitk_sum(dvk_cmd *cmd, dvk_context *ctx, const linear_problem *p,
                                    const dvk_tensor *part, uint32_t splits)
{
    const uint32_t wg = workgroup_size(dvk_context_device_info(ctx), SPLITK_LOCAL);
    const dvk_tensor *ts[LINEAR_BINDINGS] = {
        [LINEAR_BIND_BIAS] = p->bias,
        [LINEAR_BIND_Y] = p->y,
        [LINEAR_BIND_PART] = part,
    };
    uint32_t spec[SPLITK_SPECS];
    common_spec(p, wg, spec);
    spec[SPLITK_SPEC_S] = splits;
    const uint32_t total = p->G * p->M * p->N;
    const dvk_tensor *dts[4] = {p->x, p->w, p->bias, p->y};
    const dvk_kernel *k;
    NN_TRY(dvk__nn_kernel(ctx,
                          dvk__nn_variant(DVK_NN_K_LINEAR_SPLITK_SUM_F32,
                                          DVK_NN_K_LINEAR_SPLITK_SUM_ANY, dts, 4),
                          LINEAR_BINDINGS, sizeof(linear_splitk_push), SPLITK_SPECS, spec, &k));
    const linear_splitk_push pc = {
        .total = total, .MN = p->M * p->N, .N = p->N, .bias_stride = p->bias_stride};
    dvk_dispatch_desc dd = {.kernel = k, .write_mask = 1u << LINEAR_BIND_Y, .push = &pc};
    for (uint32_t i = 0; i < LINEAR_BINDINGS; ++i)
        dd.tensors[i] = ts[i];
    NN_TRY(dvk__nn_grid(ctx, total, wg, dd.groups));
    return dvk_cmd_dispatch(cmd, &dd);
}

static dvk_status record_gemv(dvk_cmd *cmd, dvk_context *ctx, const linear_problem *p,
                              const gemv_plan *g)
{
    const uint32_t rows_per_wg = g->wg / g->lanes * g->rpt;
    const uint64_t gx = div_up(p->N, rows_per_wg);
    NN_TRY(check_groups(ctx, gx, g->splits, p->G));
    const bool split = g->splits > 1;
    dvk_tensor *part = NULL;
    if (split)
        NN_TRY(make_partials(cmd, p, g->splits, &part));
    const dvk_tensor *ts[LINEAR_BINDINGS] = {
        [LINEAR_BIND_X] = p->x,
        [LINEAR_BIND_W] = p->w,
        [LINEAR_BIND_BIAS] = p->bias,
        [LINEAR_BIND_Y] = split ? NULL : p->y,
        [LINEAR_BIND_PART] = part,
    };
    uint32_t spec[GV_SPECS];
    common_spec(p, g->wg, spec);
    spec[GV_SPEC_MR] = p->M;
    spec[GV_SPEC_LANES] = g->lanes;
    spec[GV_SPEC_RPT] = g->rpt;
    spec[GV_SPEC_VW] = g->vw;
    spec[GV_SPEC_KS] = g->ks;
    spec[GV_SPEC_UNROLL] = g->unroll;
    spec[GV_SPEC_XS4] = g->xs4;
    spec[GV_SPEC_PARTIAL] = split;
    spec[GV_SPEC_XV4] = p->K % 4 == 0;
    spec[GV_SPEC_KC] = g->kc;
    spec[GV_SPEC_XDIRECT] = g->xdirect;
    const dvk_kernel *k;
    NN_TRY(dvk__nn_kernel(ctx,
                          dvk__nn_variant(DVK_NN_K_LINEAR_GEMV_F32, DVK_NN_K_LINEAR_GEMV_ANY, ts,
                                          4),
                          LINEAR_BINDINGS, sizeof(linear_gemv_push), GV_SPECS, spec, &k));
    const linear_gemv_push pc = {
        .N = p->N, .K = p->K, .G = p->G, .bias_stride = p->bias_stride};
    dvk_dispatch_desc dd = {
        .kernel = k,
        /* Both outputs are writable in the shader: the one left unbound (the dummy) is
         * marked written too, so its accesses are ordered like a real tensor's. */
        .write_mask = 1u << LINEAR_BIND_PART | 1u << LINEAR_BIND_Y,
        .push = &pc,
        .groups = {(uint32_t)gx, g->splits, p->G},
    };
    for (uint32_t i = 0; i < LINEAR_BINDINGS; ++i)
        dd.tensors[i] = ts[i];
    NN_TRY(dvk_cmd_dispatch(cmd, &dd));
    if (!split)
        return DVK_SUCCESS;

    return record_splitk_sum(cmd, ctx, p, part, g->splits);
}

/* ---- tiles ---------------------------------------------------------------------------------- */

/*
 * The tensor-core configurations (tiled_cm.comp), for DVK_LINEAR_CONFIG=<index>. Shared memory
 * is 2·(BM+BN)·(BK+8)·2 bytes (STAGES 2 or 3) or half that (STAGES 1: one buffer), or the
 * epilogue's (WG/32)·16·(WN+4)·4 bytes where that is more. The decode-shaped ones (16-row
 * tiles) serve M <= 16 with K cut into slices; the others M > 16 (and M <= 16 with
 * DVK_LINEAR_DECODE=off).
 */
typedef struct cm_config {
    uint32_t bm, bn, bk, wm, wn, stages;
} cm_config;

static const cm_config cm_configs[] = {
    /* 0: the default for large products: 128x128 tiles, warp tiles 64x32 (8 blocks of
     *    accumulators), BK 32, loads one step ahead; 40 KiB. */
    {128, 128, 32, 64, 32, 2},
    /* 1: as 0 with the loads two steps ahead (more latency hidden, 16 more registers). */
    {128, 128, 32, 64, 32, 3},
    /* 2: 128x256 tiles, warp tiles 64x64 (16 blocks: the fewest shared-memory reads per
     *    product), BK 16, loads two steps ahead; 36 KiB. */
    {128, 256, 16, 64, 64, 3},
    /* 3: 64x128 tiles, warp tiles 32x32, BK 32, loads one step ahead: twice the workgroups
     *    of 0, for products with few 128x128 tiles; 30 KiB. */
    {64, 128, 32, 32, 32, 2},
    /* 4: decode-shaped (M <= 16): 16x128 tiles, one 16x16 block per subgroup, BK 64, loads
     *    two steps ahead, K cut into slices until ~256 workgroups stream the weight (their
     *    partial sums added by splitk_sum); the default for 4 < M <= 16; 40.5 KiB. */
    {16, 128, 64, 16, 16, 3},
    /* 5: 128x256 tiles, warp tiles 64x64, BK 32 through one buffer (two barriers per step,
     *    twice the products per barrier of 0 and 2), loads one step ahead; 34 KiB (the
     *    epilogue's). The fewest bytes loaded per product (L2 to SM: 85 FLOP/B). */
    {128, 256, 32, 64, 64, 1},
    /* 6: 128x128 tiles, warp tiles 64x32, BK 64 through one buffer: twice 0's products per
     *    step and per barrier, 8 loads in flight per invocation; 36 KiB. */
    {128, 128, 64, 64, 32, 1},
    /* 7: 128x128 tiles of 4 subgroups (128 invocations), warp tiles 64x64, BK 32, loads one
     *    step ahead; 40 KiB: two workgroups per SM, whose barriers do not stall each other. */
    {128, 128, 32, 64, 64, 2},
    /* 8: decode-shaped as 4 with BK 128 through one buffer: 32 KiB of weight per step, 8 loads
     *    in flight per invocation, half the barriers per byte; 39 KiB. */
    {16, 128, 128, 16, 16, 1},
    /* 9: 128x256 tiles of 16 subgroups (512 invocations), warp tiles 64x32, BK 32 through one
     *    buffer: 5's bytes per product with twice the subgroups to hide latency; 36 KiB. */
    {128, 256, 32, 64, 32, 1},
    /* 10: decode-shaped, 16x64 tiles of 4 subgroups, BK 256 through one buffer: each weight
     *    row read 512 contiguous bytes per step (config 4 reads 128: scattered for DRAM), 20
     *    loads in flight per invocation; 41 KiB. */
    {16, 64, 256, 16, 16, 1},
};
#define CM_DECODE 4
#define CM_CONFIGS (sizeof cm_configs / sizeof cm_configs[0])
#define CM_GROUP_M 8

static bool cm_decode_shaped(const cm_config *c) { return c->bm == 16; }
static uint32_t cm_wg(const cm_config *c) { return 32 * (c->bm / c->wm) * (c->bn / c->wn); }
/* Bytes of shared memory: the step buffers' or the epilogue's, the larger (tiled_cm's SMEM4). */
static uint32_t cm_shared(const cm_config *c)
{
    const uint32_t buffers = (c->stages == 1 ? 1 : 2) * (c->bm + c->bn) * (c->bk + 8) * 2;
    const uint32_t epilogue = cm_wg(c) / 32 * 16 * (c->wn + 4) * 4;
    return buffers > epilogue ? buffers : epilogue;
}

/* Whether configuration c runs on this device (its workgroup and shared memory). */
static bool cm_fits(const dvk_device_info *info, const cm_config *c)
{
    const uint32_t wg = cm_wg(c);
    return wg <= info->max_workgroup_invocations && wg <= info->max_workgroup_size[0] &&
           cm_shared(c) <= info->max_shared_memory;
}

/* Tensor cores: the context's cooperative-matrix path (NV or KHR: fp16 blocks, fp16
 * arithmetic, subgroups of 32), 16-bit x and weight, K and N multiples of 16. */
static bool cm_usable(const dvk_context *ctx, const linear_problem *p)
{
    const dvk_device_info *info = dvk_context_device_info(ctx);
    return info->cooperative_matrix_path != DVK_COOPMAT_NONE && is16(p->x) && is16(p->w) &&
           p->K % 16 == 0 && p->N % 16 == 0 &&
           dvk__nn_kernel_available(DVK_NN_K_LINEAR_TILED_CM);
}

/* DVK_LINEAR_CONFIG: -1 = automatic, -2 = "fma" (the FMA tiles), else an index. */
static dvk_status config_switch(int *out)
{
    *out = -1;
    const char *e = getenv("DVK_LINEAR_CONFIG");
    if (!e || !*e || strcmp(e, "auto") == 0)
        return DVK_SUCCESS;
    if (strcmp(e, "fma") == 0) {
        *out = -2;
        return DVK_SUCCESS;
    }
    char *end;
    const long v = strtol(e, &end, 10);
    if (*end || v < 0 || v >= (long)CM_CONFIGS)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "DVK_LINEAR_CONFIG=%s: expected auto, fma or 0..%u", e,
                             (unsigned)CM_CONFIGS - 1);
    *out = (int)v;
    return DVK_SUCCESS;
}

/* DVK_LINEAR_DIAG: CM_DIAG_* bits (tiled.h) that leave parts of tiled_cm's work out, for
 * timing them; the results are then wrong. */
static dvk_status diag_switch(uint32_t *out)
{
    *out = 0;
    const char *e = getenv("DVK_LINEAR_DIAG");
    if (!e || !*e)
        return DVK_SUCCESS;
    char *end;
    const long v = strtol(e, &end, 0);
    if (*end || v < 0 || v > (long)CM_DIAG_ALL)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "DVK_LINEAR_DIAG=%s: expected bits of 0..%u", e, CM_DIAG_ALL);
    *out = (uint32_t)v;
    return DVK_SUCCESS;
}

/* One tiled dispatch; with part (tiled_cm only) its K slices of ks columns write fp32
 * partial sums there instead of y. */
static dvk_status record_tiles(dvk_cmd *cmd, dvk_context *ctx, const linear_problem *p,
                               dvk_nn_kernel id, uint32_t bm, uint32_t bn, const uint32_t *spec,
                               uint32_t spec_count, const dvk_tensor *part, uint32_t ks)
{
    const uint64_t tiles_m = div_up(p->M, bm), tiles_n = div_up(p->N, bn);
    const uint32_t splits = part ? (uint32_t)div_up(p->K, ks) : 1;
    const dvk_tensor *ts[LINEAR_BINDINGS] = {
        [LINEAR_BIND_X] = p->x,
        [LINEAR_BIND_W] = p->w,
        [LINEAR_BIND_BIAS] = p->bias,
        [LINEAR_BIND_Y] = part ? NULL : p->y,
        [LINEAR_BIND_PART] = part,
    };
    const dvk_kernel *k;
    NN_TRY(dvk__nn_kernel(ctx, id, LINEAR_BINDINGS, sizeof(linear_tiled_push), spec_count,
                          spec, &k));
    const linear_tiled_push pc = {
        .M = p->M,
        .N = p->N,
        .K = p->K,
        .bias_stride = p->bias_stride,
        .tiles_m = (uint32_t)tiles_m,
        .tiles_n = (uint32_t)tiles_n,
        .G = p->G,
        .ks = part ? ks : p->K,
    };
    /* Both y and the partial sums are writable in the tensor-core kernel: the one left empty
     * binds the dummy buffer, which must be tracked as written too (dvk_cmd_dispatch). */
    dvk_dispatch_desc dd = {
        .kernel = k, .write_mask = 1u << LINEAR_BIND_PART | 1u << LINEAR_BIND_Y, .push = &pc};
    for (uint32_t i = 0; i < LINEAR_BINDINGS; ++i)
        dd.tensors[i] = ts[i];
    NN_TRY(dvk__nn_grid(ctx, tiles_m * tiles_n, 1, dd.groups));
    const uint64_t gz = (uint64_t)p->G * splits;
    NN_TRY(check_groups(ctx, dd.groups[0], dd.groups[1], gz));
    dd.groups[2] = (uint32_t)gz;
    return dvk_cmd_dispatch(cmd, &dd);
}

static dvk_status record_fma(dvk_cmd *cmd, dvk_context *ctx, const linear_problem *p)
{
    const dvk_device_info *info = dvk_context_device_info(ctx);
    /* 8 x 8 outputs per invocation (64 products per 4 vec4 loads of shared memory), in tiles
     * of 128 (or 64 where M or N is small, or the workgroup would be too large) */
    const uint32_t tm = 8, tn = 8, max_wg = workgroup_size(info, 256);
    const uint32_t bm = p->M >= 128 && 128 * 64 / tm / tn <= max_wg ? 128 : 64;
    uint32_t bn = p->N >= 128 ? 128 : 64;
    if (bm * bn / (tm * tn) > max_wg)
        bn = 64;
    const uint32_t wg = bm * bn / (tm * tn);
    /* k steps: 4 columns on CPUs (measured best on lavapipe), 8 on GPUs (fewer barriers) */
    uint32_t bk = info->type == DVK_DEVICE_TYPE_CPU ? 4 : 8;
    while (bk > 1 && 2 * bk * (bm + 4 + bn + 4) * 4 > info->max_shared_memory)
        bk /= 2;
    uint32_t spec[TL_SPECS];
    common_spec(p, wg, spec);
    spec[TL_SPEC_BM] = bm;
    spec[TL_SPEC_BN] = bn;
    spec[TL_SPEC_BK] = bk;
    spec[TL_SPEC_TM] = tm;
    spec[TL_SPEC_TN] = tn;
    const dvk_tensor *ts[4] = {p->x, p->w, p->bias, p->y};
    return record_tiles(cmd, ctx, p,
                        dvk__nn_variant(DVK_NN_K_LINEAR_TILED_F32, DVK_NN_K_LINEAR_TILED_ANY, ts,
                                        4),
                        bm, bn, spec, TL_SPECS, NULL, 0);
}

/* DVK_LINEAR_CM_EMULATE = "BM,BN,BK,WM,WN,STAGES[,SPLITS]", a switch for tests: the
 * tensor-core kernel with that geometry (K in SPLITS slices, 0 = automatic, default 1) and its
 * matrix operations done by plain code (tiled_cm_emu), so that its tiling runs on devices
 * without cooperative matrices, whatever M. *out->bm == 0: unset. */
static dvk_status emulate_switch(cm_config *out, uint32_t *splits)
{
    *out = (cm_config){0};
    *splits = 1;
    const char *e = getenv("DVK_LINEAR_CM_EMULATE");
    if (!e || !*e)
        return DVK_SUCCESS;
    cm_config c;
    unsigned sp = 1;
    const int n = sscanf(e, "%u,%u,%u,%u,%u,%u,%u", &c.bm, &c.bn, &c.bk, &c.wm, &c.wn, &c.stages,
                         &sp);
    if (n < 6 || sp > 65535 ||
        !c.wm || !c.wn || c.wm % 16 || c.wn % 16 || c.bk % 16 || !c.bk || c.bm % c.wm ||
        c.bn % c.wn || c.stages < 1 || c.stages > 3)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "DVK_LINEAR_CM_EMULATE=%s: expected BM,BN,BK,WM,WN,STAGES[,SPLITS] "
                             "(WM, WN, BK multiples of 16 dividing BM, BN; STAGES 1, 2 or 3)",
                             e);
    *out = c;
    *splits = sp;
    return DVK_SUCCESS;
}

/* The tensor-core tiles of configuration c, K in `splits` slices of whole BK steps (1: none;
 * 0: as many as bring the workgroups to about 256, each slice keeping 2+ steps). */
static dvk_status record_cm(dvk_cmd *cmd, dvk_context *ctx, const linear_problem *p,
                            const cm_config *c, dvk_nn_kernel id, uint32_t splits)
{
    uint32_t diag;
    NN_TRY(diag_switch(&diag));
    const uint64_t tiles = div_up(p->M, c->bm) * div_up(p->N, c->bn) * p->G;
    const uint64_t steps = div_up(p->K, c->bk);
    if (!splits)
        for (splits = 1; tiles * splits < 256 && steps / (2 * splits) >= 2;)
            splits *= 2;
    const uint32_t ks = (uint32_t)(div_up(steps, splits) * c->bk);
    splits = (uint32_t)div_up(p->K, ks); /* no empty slice */
    dvk_tensor *part = NULL;
    if (splits > 1)
        NN_TRY(make_partials(cmd, p, splits, &part));
    uint32_t spec[CM_SPECS];
    common_spec(p, cm_wg(c), spec);
    spec[CM_SPEC_BM] = c->bm;
    spec[CM_SPEC_BN] = c->bn;
    spec[CM_SPEC_BK] = c->bk;
    spec[CM_SPEC_WM] = c->wm;
    spec[CM_SPEC_WN] = c->wn;
    spec[CM_SPEC_STAGES] = c->stages;
    spec[CM_SPEC_GROUP_M] = CM_GROUP_M;
    spec[CM_SPEC_PARTIAL] = part != NULL;
    spec[CM_SPEC_DIAG] = diag;
    spec[CM_SPEC_SMEM4] = cm_shared(c) / 16;
    NN_TRY(record_tiles(cmd, ctx, p, id, c->bm, c->bn, spec, CM_SPECS, part, ks));
    return part ? record_splitk_sum(cmd, ctx, p, part, splits) : DVK_SUCCESS;
}

/* ---- CPU devices ---------------------------------------------------------------------------- */

/* Rows of x up to which cpu_gemv.comp runs on CPU devices, cpu_gemm.comp beyond */
#define CPU_GEMV_ROWS 2
/* Weight elements (N x K) from which cpu_gemm.comp runs; the tiled kernel below that */
#define CPU_GEMM_MIN_WEIGHTS 65536u

typedef struct cpu_plan {
    bool gemv;                       /* cpu_gemv.comp (lanes along K), else cpu_gemm.comp */
    uint32_t lanes, tm, cpl, vw, sg; /* sg: subgroups per workgroup */
} cpu_plan;

/* DVK_LINEAR_CPU, a developer's switch: unset, "" or "auto" = chosen here; "off" = the GPU
 * kernels on a CPU device too; "KIND,TM,CPL[,SG]" forces the kernel (gemv or gemm), its rows
 * of x per workgroup (1 to 16), weight rows per lane (gemm, 1 to 8) or per subgroup (gemv, 1 to
 * the subgroup size) and subgroups per workgroup (1 to 16, 0 = chosen here), powers of two.
 * *off is set for "off"; forced->tm == 0: automatic. */
static dvk_status cpu_switch(bool *off, cpu_plan *forced)
{
    *off = false;
    *forced = (cpu_plan){0};
    const char *e = getenv("DVK_LINEAR_CPU");
    if (!e || !*e || strcmp(e, "auto") == 0)
        return DVK_SUCCESS;
    if (strcmp(e, "off") == 0) {
        *off = true;
        return DVK_SUCCESS;
    }
    char kind[8] = {0};
    unsigned tm = 0, cpl = 0, sg = 0;
    const int n = sscanf(e, "%5[a-z],%u,%u,%u", kind, &tm, &cpl, &sg);
    const bool gemv = strcmp(kind, "gemv") == 0;
    if (n < 3 || (!gemv && strcmp(kind, "gemm") != 0) || !tm || !cpl || !pow2_or_0(tm, 1, 16) ||
        !pow2_or_0(cpl, 1, gemv ? 64 : 8) || !pow2_or_0(sg, 1, 16))
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT,
                             "DVK_LINEAR_CPU=%s: expected off, auto or KIND,TM,CPL[,SG] (KIND "
                             "gemv or gemm, TM 1..16, CPL 1..8 (gemv: up to the subgroup "
                             "size), SG 1..16 or 0 = automatic; powers of two)",
                             e);
    *forced = (cpu_plan){.gemv = gemv, .tm = tm, .cpl = cpl, .sg = sg};
    return DVK_SUCCESS;
}

/* The subgroup size the CPU kernels plan for, or 0 when they do not apply: a CPU device (not
 * under the small-device profile, which plans for a mobile GPU and offers no subgroup shuffle)
 * whose subgroups have one fixed size, with the shuffle, and the kernels' variants built. */
static uint32_t cpu_lanes(const dvk_context *ctx, const linear_problem *p)
{
    const dvk_device_info *info = dvk_context_device_info(ctx);
    const dvk_tensor *ts[4] = {p->x, p->w, p->bias, p->y};
    const uint32_t lanes = info->subgroup_size;
    const bool ok = info->type == DVK_DEVICE_TYPE_CPU && info->subgroup_shuffle &&
                    info->min_subgroup_size == info->max_subgroup_size &&
                    info->min_subgroup_size == lanes && lanes >= 4 && lanes <= 64 &&
                    lanes <= info->max_workgroup_invocations &&
                    lanes <= info->max_workgroup_size[0] &&
                    dvk__nn_kernel_available(dvk__nn_variant(DVK_NN_K_LINEAR_CPU_GEMM_F32,
                                                             DVK_NN_K_LINEAR_CPU_GEMM_ANY, ts,
                                                             4)) &&
                    dvk__nn_kernel_available(dvk__nn_variant(DVK_NN_K_LINEAR_CPU_GEMV_F32,
                                                             DVK_NN_K_LINEAR_CPU_GEMV_ANY, ts,
                                                             4));
    return ok ? lanes : 0;
}

static void plan_cpu(const dvk_context *ctx, const linear_problem *p, uint32_t lanes,
                     const cpu_plan *forced, cpu_plan *c)
{
    const dvk_device_info *info = dvk_context_device_info(ctx);
    c->lanes = lanes;
    /* 16-byte weight loads (one trip of llvmpipe's per-lane loop brings 4 or 8 elements) where
     * every row starts on one */
    c->vw = 16 / (uint32_t)dvk_dtype_size(dvk_tensor_dtype(p->w));
    while (p->K % c->vw)
        c->vw /= 2;
    /* Few rows of x: the weight streamed once along K, 8 rows per subgroup (cpu_gemv). More:
     * each weight element used TM times, each x entry CPL times (cpu_gemm): 16 rows and 4
     * columns per lane (64 accumulators, 64 x entries, 16-32 weight elements in registers);
     * fewer rows when M is smaller (a power of two: fewer pipelines, and the spare rows cost
     * arithmetic, not loads). */
    c->gemv = forced->tm ? forced->gemv : p->M <= CPU_GEMV_ROWS;
    c->tm = forced->tm ? forced->tm : p->M >= 16 ? 16 : ceil_pow2(p->M);
    c->cpl = forced->cpl ? forced->cpl : c->gemv ? 8 : 4;
    c->cpl = c->gemv ? min_u32(c->cpl, lanes) : c->cpl;
    /* Subgroups per workgroup: llvmpipe runs a workgroup's subgroups one after the other on one
     * thread, which saves the fixed cost of each workgroup; as many as leave 16 workgroups
     * (several per thread, so that the threads finish together), at most 8. */
    const uint64_t cols = div_up(p->N, (uint64_t)(c->gemv ? 1 : lanes) * c->cpl);
    const uint64_t rest = div_up(p->M, c->tm) * p->G;
    const uint32_t wg_cap = min_u32(info->max_workgroup_invocations, info->max_workgroup_size[0]);
    c->sg = forced->sg;
    if (!c->sg)
        for (c->sg = 8; c->sg > 1 && div_up(cols, c->sg) * rest < 16; c->sg /= 2)
            ;
    while (c->sg > 1 && c->sg * lanes > wg_cap)
        c->sg /= 2;
}

static dvk_status record_cpu(dvk_cmd *cmd, dvk_context *ctx, const linear_problem *p,
                             const cpu_plan *c)
{
    const uint64_t gx = div_up(p->N, (uint64_t)c->sg * (c->gemv ? 1 : c->lanes) * c->cpl);
    const uint64_t gy = div_up(p->M, c->tm);
    NN_TRY(check_groups(ctx, gx, gy, p->G));
    uint32_t spec[LC_SPECS];
    common_spec(p, c->sg * c->lanes, spec);
    spec[LC_SPEC_LANES] = c->lanes;
    spec[LC_SPEC_TM] = c->tm;
    spec[LC_SPEC_CPL] = c->cpl;
    spec[LC_SPEC_VW] = c->vw;
    const dvk_tensor *ts[LINEAR_BINDINGS] = {
        [LINEAR_BIND_X] = p->x,
        [LINEAR_BIND_W] = p->w,
        [LINEAR_BIND_BIAS] = p->bias,
        [LINEAR_BIND_Y] = p->y,
    };
    const dvk_kernel *k;
    const dvk_nn_kernel id =
        c->gemv
            ? dvk__nn_variant(DVK_NN_K_LINEAR_CPU_GEMV_F32, DVK_NN_K_LINEAR_CPU_GEMV_ANY, ts, 4)
            : dvk__nn_variant(DVK_NN_K_LINEAR_CPU_GEMM_F32, DVK_NN_K_LINEAR_CPU_GEMM_ANY, ts, 4);
    NN_TRY(dvk__nn_kernel(ctx, id, LINEAR_BINDINGS, sizeof(linear_cpu_push), LC_SPECS, spec, &k));
    const linear_cpu_push pc = {.M = p->M, .N = p->N, .K = p->K, .bias_stride = p->bias_stride};
    dvk_dispatch_desc dd = {
        .kernel = k,
        .write_mask = 1u << LINEAR_BIND_Y,
        .push = &pc,
        .groups = {(uint32_t)gx, (uint32_t)gy, p->G},
    };
    for (uint32_t i = 0; i < LINEAR_BINDINGS; ++i)
        dd.tensors[i] = ts[i];
    return dvk_cmd_dispatch(cmd, &dd);
}

/* ---- dvk_linear ----------------------------------------------------------------------------- */

dvk_status dvk_linear(dvk_cmd *cmd, const dvk_linear_desc *d)
{
    dvk_context *ctx;
    NN_TRY(dvk__nn_begin(cmd, d, &ctx));
    linear_problem p;
    NN_TRY(check(ctx, d, &p));
    decode_switch sw;
    int config;
    NN_TRY(read_decode_switch(&sw));
    NN_TRY(config_switch(&config));

    const dvk_device_info *info = dvk_context_device_info(ctx);
    cm_config emu;
    uint32_t emu_splits;
    NN_TRY(emulate_switch(&emu, &emu_splits));
    if (emu.bm && is16(p.x) && is16(p.w) && p.K % 16 == 0 && p.N % 16 == 0) {
        if (!cm_fits(info, &emu))
            return dvk_set_error(DVK_ERROR_UNSUPPORTED,
                                 "DVK_LINEAR_CM_EMULATE: %u invocations or %u bytes of shared "
                                 "memory exceed %s's limits",
                                 cm_wg(&emu), cm_shared(&emu), info->name);
        return record_cm(cmd, ctx, &p, &emu, DVK_NN_K_LINEAR_TILED_CM_EMU, emu_splits);
    }
    /* CPU devices: cpu.comp for every M, unless a switch asks for the other kernels */
    bool cpu_off;
    cpu_plan forced;
    NN_TRY(cpu_switch(&cpu_off, &forced));
    const bool decode_forced = sw.off || sw.rpt || sw.splits || sw.lanes || sw.wg || sw.unroll ||
                               sw.xdirect;
    const bool others = cpu_off || config != -1 || (decode_forced && p.M <= GV_MAX_ROWS);
    /* (Products of small weights with many rows stay on the tiled kernel, which ran the tiny
     * RWKV-7's prefill, N x K of 64 x 64 to 256 x 64, 1.4x faster on lavapipe.) */
    const bool small_gemm = p.M > CPU_GEMV_ROWS && p.N * p.K < CPU_GEMM_MIN_WEIGHTS &&
                            !forced.tm;
    const uint32_t lanes = others || small_gemm ? 0 : cpu_lanes(ctx, &p);
    if (lanes) {
        cpu_plan c;
        plan_cpu(ctx, &p, lanes, &forced, &c);
        return record_cpu(cmd, ctx, &p, &c);
    }
    const bool cm = config != -2 && cm_usable(ctx, &p);
    if (cm && config >= 0 && !cm_fits(info, &cm_configs[config]))
        return dvk_set_error(DVK_ERROR_UNSUPPORTED,
                             "DVK_LINEAR_CONFIG=%d: its %u invocations or %u bytes of shared "
                             "memory exceed %s's limits",
                             config, cm_wg(&cm_configs[config]), cm_shared(&cm_configs[config]),
                             info->name);

    if (!sw.off && p.M <= GV_MAX_ROWS) {
        /* decode rows: tensor cores for 4 < M <= 16 (the FMA kernel's products would outweigh
         * its memory stream: on the H200, 2048 x 8192 fp16, M = 8, 1.2 TB/s against 1.5 for
         * configuration 4, which takes as long for 8 rows as for 16) or when a decode-shaped
         * configuration is asked for, else the FMA kernel */
        const int dc = config >= 0 && cm_decode_shaped(&cm_configs[config]) ? config
                       : config < 0 && p.M > 4                             ? CM_DECODE
                                                                           : -1;
        if (cm && dc >= 0 && cm_fits(info, &cm_configs[dc]))
            return record_cm(cmd, ctx, &p, &cm_configs[dc], DVK_NN_K_LINEAR_TILED_CM, 0);
        gemv_plan g = {0};
        NN_TRY(plan_gemv(ctx, &p, &sw, &g));
        return record_gemv(cmd, ctx, &p, &g);
    }
    if (cm) {
        if (config >= 0)
            return record_cm(cmd, ctx, &p, &cm_configs[config], DVK_NN_K_LINEAR_TILED_CM,
                             cm_decode_shaped(&cm_configs[config]) ? 0 : 1);
        /* 128 x 256 tiles of 16 subgroups (configuration 9, the fastest on the H200: 179-183
         * TFLOP/s against 138-156 for 0 and 1) when there are enough of them to fill a large
         * GPU, else 128 x 128 (0), else 64 x 128 (3) */
        const uint64_t big = div_up(p.M, 128) * div_up(p.N, 128) * p.G;
        const cm_config *c = &cm_configs[big >= 256 && cm_fits(info, &cm_configs[9]) ? 9
                                         : big >= 128                              ? 0
                                                                                   : 3];
        if (cm_fits(info, c))
            return record_cm(cmd, ctx, &p, c, DVK_NN_K_LINEAR_TILED_CM, 1);
    }
    return record_fma(cmd, ctx, &p);
}
