/* dvk_linear on the device against dvk_ref_linear in double: every path (CPU devices: the CPU
 * kernels, forced geometries included; M <= 16 rows: the
 * decode kernel, K split or not; larger M: FMA tiles, or tensor cores where the device has
 * them: the fp16 / bf16 cases with K and N multiples of 16 are written to take that path),
 * odd sizes, dtype pairs, bias or not, accumulate, batched weights, leading dimensions, a view
 * as input, the developer switches, and bad input by status. Prints the largest error per
 * output dtype and a small timing against the C reference. */
#include "harness.h"

#include "deltavk_nn.h"
#include "deltavk_nn_reference.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct lin_case {
    dvk_dtype x_dt, w_dt, b_dt; /* b_dt 0: no bias */
    uint32_t G;                 /* 0: unbatched weight [N,K]; else [G,N,K] */
    uint32_t nlead;             /* x's leading dimensions (after G) */
    uint64_t lead[3];
    uint64_t N, K;
    bool accumulate;
    bool bias_per_group; /* bias [G,N] */
    const char *decode;  /* DVK_LINEAR_DECODE for this case (NULL: unset) */
} lin_case;

#define F32 DVK_DTYPE_F32
#define F16 DVK_DTYPE_F16
#define BF16 DVK_DTYPE_BF16

static const lin_case cases[] = {
    /* fp32, decode rows (M <= 16) and tiles, odd sizes */
    {F32, F32, 0, 0, 1, {1}, 1, 1, false, false, NULL},
    {F32, F32, F32, 0, 1, {3}, 7, 33, false, false, NULL},
    {F32, F32, F32, 0, 1, {16}, 100, 257, true, false, NULL},
    {F32, F32, 0, 0, 1, {1}, 257, 1000, false, false, NULL},
    {F32, F32, F32, 0, 1, {17}, 33, 100, false, false, NULL},
    {F32, F32, 0, 0, 1, {100}, 257, 7, true, false, NULL},
    {F32, F32, F32, 0, 1, {257}, 3, 1, false, false, NULL},
    {F32, F32, F32, 0, 1, {130}, 65, 129, false, false, NULL},
    /* decode with K split into slices (partial sums + their sum), by default and forced, and
     * with several invocations along K (what GPUs run: their sums meet in a tree) */
    {F32, F32, F32, 0, 1, {16}, 37, 1000, false, false, NULL},
    {F32, F32, F32, 0, 1, {5}, 40, 203, true, false, "2,3,8"},
    {F16, F16, F16, 0, 1, {7}, 33, 520, false, false, "1,4,32"},
    {BF16, F32, 0, 0, 1, {2}, 19, 300, true, false, "4,2,16"},
    {F16, F16, 0, 0, 1, {16}, 100, 1000, false, false, "0,0,32"},
    {F32, F32, F32, 0, 1, {1}, 257, 1000, false, false, "8,0,4"},
    {F16, BF16, F16, 0, 1, {3}, 70, 33, false, false, "2,0,16"},
    {F32, F16, F32, 0, 1, {12}, 45, 64, true, false, "1,1,2"},
    {BF16, BF16, BF16, 2, 1, {9}, 40, 136, true, true, "2,2,8"},
    /* x staged in chunks through two buffers (its rows do not fit at once), and GPU shapes:
     * workgroups of 256 with 8 to 32 invocations along K */
    {F32, F32, F32, 0, 1, {16}, 37, 1000, true, false, "0,1"},
    {F16, F16, F16, 0, 1, {11}, 50, 2000, false, false, "2,1,16,128"},
    {F16, F16, 0, 0, 1, {1}, 300, 4096, false, false, "1,0,32,256"},
    {BF16, BF16, F32, 0, 1, {16}, 70, 1024, true, false, "4,0,8,256"},
    {F32, F32, F32, 0, 1, {4}, 33, 3000, false, false, "2,1,16,256"},
    /* invocations along K over several subgroups (their sums meet in shared memory), and the
     * weight vectors per step forced */
    {F16, F16, F16, 0, 1, {3}, 21, 4000, false, false, "1,2,64,256,2"},
    {BF16, BF16, 0, 0, 1, {8}, 10, 2056, true, false, "2,0,128,256,16"},
    {F16, F16, F32, 0, 1, {13}, 40, 1000, false, false, "4,4,8,256,1"},
    /* x read from memory where it is used (and, with K % 4 != 0, staged after all) */
    {F16, F16, F16, 0, 1, {5}, 37, 1024, true, false, "2,1,128,256,2,1"},
    {F32, F32, F32, 0, 1, {16}, 9, 520, false, false, "4,2,32,256,1,1"},
    {BF16, F16, 0, 0, 1, {1}, 70, 136, false, false, "1,0,0,0,0,1"},
    {F16, F16, BF16, 0, 1, {3}, 20, 66, false, false, "2,0,16,64,0,1"},
    /* 16-bit and mixed dtypes */
    {F16, F16, 0, 0, 1, {1}, 257, 1000, false, false, NULL},
    {F16, F16, F16, 0, 1, {5}, 64, 256, false, false, NULL},
    {F16, F16, 0, 0, 1, {3}, 33, 7, false, false, NULL}, /* K odd: element loads */
    {F16, F16, F32, 0, 1, {9}, 31, 66, true, false, NULL}, /* K = 2 mod 4 */
    {BF16, BF16, BF16, 0, 1, {7}, 33, 100, false, false, NULL},
    {F32, BF16, 0, 0, 1, {2}, 50, 129, false, false, NULL},
    {F32, BF16, F32, 0, 1, {40}, 50, 129, false, false, NULL},
    {F16, F32, 0, 0, 1, {9}, 31, 64, false, false, NULL},
    {F16, F32, BF16, 0, 1, {33}, 31, 64, true, false, NULL},
    {BF16, F16, F32, 0, 1, {20}, 45, 77, false, false, NULL},
    {F32, F16, F16, 0, 1, {3}, 17, 1, false, false, NULL},
    /* a 1-D x ([K] -> [N]), leading dimensions [B,T,K], batched weights [G,N,K] */
    {F32, F32, F32, 0, 0, {0}, 9, 13, false, false, NULL},
    {F16, BF16, 0, 0, 0, {0}, 40, 24, true, false, NULL},
    {F32, F32, F32, 0, 2, {2, 5}, 30, 40, false, false, NULL},
    {F16, F16, F16, 0, 2, {3, 11}, 30, 40, true, false, NULL},
    {F32, F32, F32, 3, 1, {4}, 21, 35, false, false, NULL},
    {F32, BF16, F32, 2, 2, {3, 7}, 19, 24, true, true, NULL},
    {BF16, BF16, 0, 3, 1, {1}, 33, 48, false, false, NULL},
    /* tensor-core shapes (16-bit x and weight, K and N multiples of 16): M small and odd,
     * M >= 128, several tiles and K steps, batched, bias, accumulate */
    {F16, F16, F16, 0, 1, {37}, 48, 64, false, false, NULL},
    {F16, F16, F32, 0, 1, {37}, 80, 48, true, false, NULL},
    {F16, F16, 0, 0, 1, {130}, 272, 96, false, false, NULL},
    {F16, F16, F16, 0, 2, {2, 100}, 144, 160, true, false, NULL},
    {BF16, BF16, BF16, 0, 1, {129}, 64, 80, false, false, NULL},
    {BF16, F16, F32, 2, 1, {70}, 32, 112, true, true, NULL},
    {F16, BF16, 0, 3, 1, {150}, 16, 16, false, false, NULL},
    {F16, F16, F16, 0, 1, {300}, 400, 208, false, false, NULL},
    /* decode rows with tensor-core shapes (tensor cores for 8 < M <= 16 where there are) */
    {F16, F16, F16, 0, 1, {9}, 64, 256, false, false, NULL},
    {BF16, BF16, F32, 0, 1, {16}, 128, 512, true, false, NULL},
    {F16, F16, 0, 2, 1, {1}, 32, 96, false, false, NULL},
    {F16, BF16, BF16, 3, 1, {12}, 48, 1024, true, true, NULL},
    /* the tiled paths for decode-sized rows */
    {F16, F16, F16, 0, 1, {5}, 48, 64, true, false, "off"},
    {F32, F32, F32, 0, 1, {3}, 10, 9, false, false, "off"},
};

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static double max_err[4]; /* per output dtype */

static void set_env(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

static void run(const lin_case *c, const char *env, const char *value)
{
    const uint64_t G = c->G ? c->G : 1;
    uint64_t M = 1;
    for (uint32_t i = 0; i < c->nlead; ++i)
        M *= c->lead[i];
    const uint64_t N = c->N, K = c->K;
    char name[200];
    snprintf(name, sizeof name, "x %s w %s b %s G=%u M=%llu N=%llu K=%llu%s%s%s%s%s%s%s",
             dvk_dtype_name(c->x_dt), dvk_dtype_name(c->w_dt),
             c->b_dt ? dvk_dtype_name(c->b_dt) : "-", c->G, (unsigned long long)M,
             (unsigned long long)N, (unsigned long long)K, c->accumulate ? " acc" : "",
             c->decode ? " decode=" : "", c->decode ? c->decode : "", env ? " " : "",
             env ? env : "", env ? "=" : "", env ? value : "");
    harness_rng rng = harness_rng_make(M * 1000003 + N * 1009 + K + G * 7);
    const size_t nx = G * M * K, nw = G * N * K, ny = G * M * N;
    const size_t nb = c->bias_per_group ? G * N : N;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(nb * sizeof *b);
    float *y0 = malloc(ny * sizeof *y0);
    harness_fill_normal(&rng, x, nx, 1.0f);
    harness_fill_normal(&rng, w, nw, 1.0f);
    harness_fill_normal(&rng, b, nb, 1.0f);
    harness_fill_normal(&rng, y0, ny, 1.0f);
    harness_round_to(c->x_dt, x, nx);
    harness_round_to(c->w_dt, w, nw);
    if (c->b_dt)
        harness_round_to(c->b_dt, b, nb);
    harness_round_to(c->x_dt, y0, ny);
    double *ref = malloc(ny * sizeof *ref);
    assert_int_equal(dvk_ref_linear(G, M, N, K, x, w, c->b_dt ? b : NULL,
                                    c->bias_per_group ? N : 0, c->accumulate ? y0 : NULL, ref),
                     0);

    uint64_t xs[4], ys[4], ws[3] = {G, N, K}, bs[2] = {G, N};
    uint32_t xn = 0;
    if (c->G)
        xs[xn++] = G;
    for (uint32_t i = 0; i < c->nlead; ++i)
        xs[xn++] = c->lead[i];
    memcpy(ys, xs, sizeof xs);
    xs[xn] = K;
    ys[xn] = N;
    ++xn;
    dvk_tensor *tx = harness_tensor(c->x_dt, xn, xs, x);
    dvk_tensor *tw = c->G ? harness_tensor(c->w_dt, 3, ws, w)
                          : harness_tensor(c->w_dt, 2, ws + 1, w);
    dvk_tensor *tb = NULL;
    if (c->b_dt)
        tb = c->bias_per_group ? harness_tensor(c->b_dt, 2, bs, b)
                               : harness_tensor(c->b_dt, 1, bs + 1, b);
    dvk_tensor *ty = c->accumulate ? harness_tensor(c->x_dt, xn, ys, y0)
                                   : harness_tensor_poisoned(c->x_dt, xn, ys);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    set_env("DVK_LINEAR_DECODE", c->decode);
    if (env)
        set_env(env, value);
    CHECK_OK(dvk_linear(cmd, &(dvk_linear_desc){
                                 .x = tx, .weight = tw, .bias = tb, .y = ty,
                                 .accumulate = c->accumulate}));
    set_env("DVK_LINEAR_DECODE", NULL);
    if (env)
        set_env(env, NULL);
    harness_run(cmd);
    float *y = harness_download(ty);
    const double tol = c->x_dt == F32 ? 1e-5 : 5e-3;
    harness_check(name, "y", ref, y, ny, tol);
    const double e = harness_rel_err(name, ref, y, ny);
    if (e > max_err[c->x_dt])
        max_err[c->x_dt] = e;
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tx), dvk_tensor_destroy(tw), dvk_tensor_destroy(tb), dvk_tensor_destroy(ty);
    free(x), free(w), free(b), free(y0), free(y), free(ref);
}

static bool have(const lin_case *c)
{
    unsigned wg = 0; /* a workgroup size forced through DVK_LINEAR_DECODE */
    if (c->decode && sscanf(c->decode, "%*u,%*u,%*u,%u", &wg) == 1 &&
        wg > dvk_context_device_info(harness_ctx)->max_workgroup_invocations) {
        fprintf(stderr, "  skip decode=%s: workgroups too large for this device\n", c->decode);
        return false;
    }
    return harness_have_dtype("case", c->x_dt) && harness_have_dtype("case", c->w_dt) &&
           (!c->b_dt || harness_have_dtype("case", c->b_dt));
}

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        if (have(&cases[i]))
            run(&cases[i], NULL, NULL);
    fprintf(stderr, "# largest rel rms: f32 %.2e, f16 %.2e, bf16 %.2e\n", max_err[F32],
            max_err[F16], max_err[BF16]);
}

static bool cm_shaped(const lin_case *c)
{
    return c->x_dt != F32 && c->w_dt != F32 && c->K % 16 == 0 && c->N % 16 == 0 && !c->decode;
}

/* Where the device has tensor cores: every configuration of the table, and the FMA tiles, on
 * the tensor-core shapes. */
static void test_configs(void **state)
{
    (void)state;
    if (!dvk_context_device_info(harness_ctx)->cooperative_matrix_nv_f16) {
        fprintf(stderr, "  skip configurations: no cooperative matrices\n");
        return;
    }
    static const char *const configs[] = {"0", "1", "2", "3", "4",  "5",
                                          "6", "7", "8", "9", "10", "fma"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        if (cm_shaped(&cases[i]))
            for (size_t j = 0; j < sizeof configs / sizeof configs[0]; ++j)
                run(&cases[i], "DVK_LINEAR_CONFIG", configs[j]);
}

/* tiled_cm's shared memory for a geometry (linear.c's cm_shared): its buffers' or its
 * epilogue's bytes, the larger. */
static uint32_t cm_shared_bytes(const uint32_t *q)
{
    const uint32_t buffers = (q[5] == 1 ? 1 : 2) * (q[0] + q[1]) * (q[2] + 8) * 2;
    const uint32_t epilogue = (q[0] / q[3]) * (q[1] / q[4]) * 16 * (q[4] + 4) * 4;
    return buffers > epilogue ? buffers : epilogue;
}

/* On every device: the tensor-core kernel's tiling (staging, one buffer with the loads a step
 * ahead, two buffers with them one or two steps ahead, warp tiles, tile order, K slices and
 * their sum, epilogue) with its matrix operations emulated, in geometries that cover the
 * table's warp tiles (64x32, 64x64, 32x32, 16x16; and 16x32), subgroup counts (1 to 16) and
 * stage counts and fit this device; the last field is the number of K slices (0: automatic). */
static void test_cm_emulated(void **state)
{
    (void)state;
    static const uint32_t geo[][7] = {
        {32, 32, 32, 16, 16, 3, 1},  {128, 64, 16, 64, 32, 3, 1},   {64, 128, 32, 32, 32, 2, 1},
        {16, 64, 32, 16, 16, 2, 3},  {16, 64, 64, 16, 16, 3, 0},    {64, 64, 32, 32, 32, 1, 1},
        {32, 64, 64, 16, 32, 1, 2},  {16, 64, 128, 16, 16, 1, 0},   {128, 128, 16, 64, 64, 2, 1},
        {64, 64, 16, 16, 16, 1, 1},
    };
    const dvk_device_info *info = dvk_context_device_info(harness_ctx);
    for (size_t g = 0; g < sizeof geo / sizeof geo[0]; ++g) {
        const uint32_t *q = geo[g];
        const uint32_t wg = 32 * (q[0] / q[3]) * (q[1] / q[4]);
        const uint32_t shared = cm_shared_bytes(q);
        char v[64];
        snprintf(v, sizeof v, "%u,%u,%u,%u,%u,%u,%u", q[0], q[1], q[2], q[3], q[4], q[5], q[6]);
        if (wg > info->max_workgroup_invocations || shared > info->max_shared_memory) {
            fprintf(stderr, "  skip emulated %s: too large for this device\n", v);
            continue;
        }
        /* the first geometry on every tensor-core shape, the others on a third of them each
         * (every pipeline costs lavapipe a compilation), the large product once */
        size_t k = 0;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
            const lin_case *c = &cases[i];
            if (!cm_shaped(c) || !have(c))
                continue;
            const bool big = c->lead[0] * c->N * c->K > 5000000;
            if (g == 0 || (!big && k % 3 == g % 3))
                run(c, "DVK_LINEAR_CM_EMULATE", v);
            ++k;
        }
    }
}

/* DVK_LINEAR_DIAG (timing only: the results are wrong by design): every bit alone, and all
 * together, builds and runs the emulated tensor-core tiling without an error or a validation
 * message; unset, the same geometry is exact again. */
static void test_cm_diag(void **state)
{
    (void)state;
    static const lin_case c = {F16, F16, F16, 0, 1, {37}, 48, 96, false, false, NULL};
    /* each bit on one of the two buffer schemes (a pipeline each: lavapipe compiles slowly) */
    static const char *const geo[] = {"32,32,32,16,16,2,2", "32,32,32,16,16,1"};
    static const char *const bits[2][4] = {{"1", "4", "16", "63"}, {"2", "8", "32", "63"}};
    for (size_t g = 0; g < 2; ++g) {
        setenv("DVK_LINEAR_CM_EMULATE", geo[g], 1);
        for (size_t b = 0; b < 4; ++b) {
            if (g == 1 && b == 3)
                continue;
            const uint64_t xs[2] = {37, 96}, ws[2] = {48, 96}, ys[2] = {37, 48};
            dvk_tensor *tx = harness_make(F16, 2, xs[0], xs[1], 0, 0);
            dvk_tensor *tw = harness_make(F16, 2, ws[0], ws[1], 0, 0);
            dvk_tensor *ty = harness_make(F16, 2, ys[0], ys[1], 0, 0);
            dvk_cmd *cmd = NULL;
            CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
            setenv("DVK_LINEAR_DIAG", bits[g][b], 1);
            CHECK_OK(dvk_linear(cmd, &(dvk_linear_desc){.x = tx, .weight = tw, .y = ty}));
            unsetenv("DVK_LINEAR_DIAG");
            harness_run(cmd);
            dvk_cmd_destroy(cmd);
            dvk_tensor_destroy(tx), dvk_tensor_destroy(tw), dvk_tensor_destroy(ty);
        }
        run(&c, NULL, NULL); /* the switch unset: exact again */
        unsetenv("DVK_LINEAR_CM_EMULATE");
    }
}

/* K cut into slices whose fp32 partial sums a second dispatch adds (splitk_sum.comp): the
 * decode kernel with forced slice counts (odd ones, and slices of uneven length) and the
 * tensor-core tiling (emulated), against the reference. */
static void test_splitk(void **state)
{
    (void)state;
    static const lin_case cs[] = {
        {F16, F16, F16, 0, 1, {7}, 50, 1000, true, false, "2,5,8"},
        {F32, BF16, F32, 2, 1, {3}, 33, 640, false, true, "1,3,16,64"},
        {F16, F16, F16, 0, 1, {5}, 40, 600, true, false, "2,5,8"},
        {F16, F16, F32, 0, 1, {1}, 70, 1024, true, false, "1,7,32,128,2"},
        {F16, F16, F16, 0, 1, {13}, 33, 512, true, false, "4,2,8,64,1,1"},
        /* the GPUs' plan for 2 <= M <= 4 with long rows: 128 lanes (as many as the workgroup
         * has here), x read directly */
        {F16, F16, F16, 0, 1, {3}, 24, 4096, false, false, "4,1,128,0,2,1"},
        {BF16, BF16, F32, 0, 1, {2}, 17, 4104, true, false, "4,1,128,0,2,1"},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; ++i)
        run(&cs[i], NULL, NULL);
    /* the tensor-core tiling's slices (emulated) */
    static const lin_case tc[] = {
        {F16, F16, F16, 0, 1, {9}, 64, 256, true, false, NULL},
        {F16, F16, F16, 0, 1, {11}, 48, 320, true, false, NULL},
    };
    for (size_t i = 0; i < sizeof tc / sizeof tc[0]; ++i)
        run(&tc[i], "DVK_LINEAR_CM_EMULATE", "16,64,32,16,16,2,3");
}

/* The kernels laid out for CPU devices (cpu_gemv.comp, cpu_gemm.comp), which run every
 * dvk_linear of the table above on such a device (not under the small-device profile: no
 * subgroup shuffle there, so the suite's two profiles on lavapipe run both layouts), in forced
 * geometries (DVK_LINEAR_CPU=KIND,TM,CPL,SG): rows of x past M and columns past N in the last
 * workgroup, K past the last whole block, every weight vector width (16-byte loads of fp32 and
 * 16-bit rows, K odd or 2 mod 4: element and pair loads), several subgroups per workgroup. */
static bool cpu_kernels(void)
{
    const dvk_device_info *info = dvk_context_device_info(harness_ctx);
    return info->type == DVK_DEVICE_TYPE_CPU && info->subgroup_shuffle;
}

static void test_cpu_kernels(void **state)
{
    (void)state;
    if (!cpu_kernels()) {
        fprintf(stderr, "  skip the CPU kernels: not a CPU device, or the small profile\n");
        return;
    }
    static const struct {
        lin_case c;
        const char *plan;
    } cs[] = {
        {{F32, F32, F32, 0, 1, {1}, 37, 1000, false, false, NULL}, "gemv,1,8,2"},
        {{F32, F32, 0, 0, 1, {3}, 9, 101, true, false, NULL}, "gemv,4,4,1"},
        {{F16, F16, F16, 0, 1, {2}, 70, 264, false, false, NULL}, "gemv,2,8,4"},
        {{BF16, F32, 0, 0, 1, {1}, 33, 30, true, false, NULL}, "gemv,1,2,0"},
        {{F32, BF16, F32, 2, 1, {5}, 19, 72, false, true, NULL}, "gemv,8,8,0"},
        {{F16, F16, 0, 0, 1, {1}, 17, 7, false, false, NULL}, "gemv,1,8,1"},
        {{F32, F32, F32, 0, 1, {37}, 70, 100, false, false, NULL}, "gemm,16,4,2"},
        {{F32, F32, 0, 0, 1, {20}, 33, 129, true, false, NULL}, "gemm,8,8,1"},
        {{F16, F16, F16, 0, 1, {9}, 130, 200, false, false, NULL}, "gemm,4,2,4"},
        {{BF16, BF16, BF16, 3, 1, {17}, 21, 40, true, false, NULL}, "gemm,16,1,0"},
        {{F16, F32, F32, 0, 2, {2, 9}, 45, 66, false, false, NULL}, "gemm,2,4,2"},
        {{F32, F16, 0, 0, 1, {33}, 40, 5, false, false, NULL}, "gemm,16,4,0"},
        {{F32, F32, F32, 0, 1, {3}, 300, 64, false, false, NULL}, "gemm,1,4,16"},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; ++i)
        if (have(&cs[i].c))
            run(&cs[i].c, "DVK_LINEAR_CPU", cs[i].plan);
    /* the GPU kernels on demand, and bad values of the switch */
    static const lin_case gpu = {F32, F32, F32, 0, 1, {5}, 21, 40, true, false, NULL};
    run(&gpu, "DVK_LINEAR_CPU", "off");
    dvk_tensor *x = harness_make(F32, 2, 3, 5, 0, 0), *w = harness_make(F32, 2, 4, 5, 0, 0);
    dvk_tensor *y = harness_make(F32, 2, 3, 4, 0, 0);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    static const char *const bad[] = {"fast", "gemm,3,4", "gemm,4,16", "gemv,1,0", "gemx,1,1",
                                      "gemm,1,1,32", "gemv"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        setenv("DVK_LINEAR_CPU", bad[i], 1);
        CHECK_STATUS(dvk_linear(cmd, &(dvk_linear_desc){.x = x, .weight = w, .y = y}),
                     DVK_ERROR_INVALID_ARGUMENT);
    }
    unsetenv("DVK_LINEAR_CPU");
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(x), dvk_tensor_destroy(w), dvk_tensor_destroy(y);
}

/* The kernel of each dispatch (by its name in a profiled recording): on a CPU device
 * cpu_gemv for one or two rows of x and cpu_gemm beyond; elsewhere (and under the small-device
 * profile) gemv for M <= 16 and the tiles beyond. */
static void test_dispatch_planning(void **state)
{
    (void)state;
    if (!dvk_context_device_info(harness_ctx)->timestamps)
        return;
    const bool cpu = cpu_kernels();
    const bool cm = dvk_context_device_info(harness_ctx)->cooperative_matrix_nv_f16;
    /* (cpu_gemm only from 65536 weight elements: smaller products of many rows stay tiled) */
    static const struct {
        uint64_t M, N, K;
        const char *cpu, *other;
    } cs[] = {
        {1, 24, 40, "linear/cpu_gemv", "linear/gemv"},
        {2, 24, 40, "linear/cpu_gemv", "linear/gemv"},
        {3, 24, 40, "linear/gemv", "linear/gemv"},
        {40, 24, 40, "linear/tiled", "linear/tiled"},
        {3, 256, 256, "linear/cpu_gemm", "linear/gemv"},
        {40, 256, 256, "linear/cpu_gemm", "linear/tiled"},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; ++i) {
        const uint64_t M = cs[i].M, N = cs[i].N, K = cs[i].K;
        dvk_tensor *x = harness_make(F32, 2, M, K, 0, 0), *w = harness_make(F32, 2, N, K, 0, 0);
        dvk_tensor *y = harness_make(F32, 2, M, N, 0, 0);
        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, &(dvk_cmd_desc){.profile_dispatches = true}, &cmd));
        CHECK_OK(dvk_linear(cmd, &(dvk_linear_desc){.x = x, .weight = w, .y = y}));
        harness_run(cmd);
        assert_int_equal(dvk_cmd_profile_count(cmd), 1);
        const char *name = NULL;
        double ms = 0.0;
        CHECK_OK(dvk_cmd_profile_entry(cmd, 0, &name, &ms));
        const char *want = cpu ? cs[i].cpu : cs[i].other;
        if (!cm && strncmp(name, want, strlen(want)) != 0)
            fail_msg("M = %llu ran %s, expected %s*", (unsigned long long)M, name, want);
        dvk_cmd_destroy(cmd);
        dvk_tensor_destroy(x), dvk_tensor_destroy(w), dvk_tensor_destroy(y);
    }
}

/* x and y as views into larger tensors (x at an aligned offset, y in the middle of another). */
static void test_views(void **state)
{
    (void)state;
    const uint64_t M = 6, N = 24, K = 40;
    const dvk_device_info *info = dvk_context_device_info(harness_ctx);
    const uint64_t off = info->tensor_alignment / 4; /* elements of fp32 */
    harness_rng rng = harness_rng_make(99);
    const size_t nbase = off + M * K + 5;
    float *base = malloc(nbase * sizeof *base), *w = malloc(N * K * sizeof *w);
    harness_fill_normal(&rng, base, nbase, 1.0f);
    harness_fill_normal(&rng, w, N * K, 1.0f);
    double *ref = malloc(M * N * sizeof *ref);
    dvk_ref_linear(1, M, N, K, base + off, w, NULL, 0, NULL, ref);
    dvk_tensor *tbase = harness_tensor(F32, 1, (uint64_t[]){nbase}, base);
    dvk_tensor *tw = harness_tensor(F32, 2, (uint64_t[]){N, K}, w);
    dvk_tensor *ybase = harness_tensor_poisoned(F32, 1, (uint64_t[]){2 * off + M * N});
    dvk_tensor *xv = NULL, *yv = NULL;
    const dvk_tensor_view_desc xd = {.offset = off, .ndim = 2, .shape = {M, K}};
    const dvk_tensor_view_desc yd = {.offset = off, .ndim = 2, .shape = {M, N}};
    CHECK_OK(dvk_tensor_view(tbase, &xd, &xv));
    CHECK_OK(dvk_tensor_view(ybase, &yd, &yv));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_linear(cmd, &(dvk_linear_desc){.x = xv, .weight = tw, .y = yv}));
    harness_run(cmd);
    float *y = harness_download(yv);
    harness_check("views", "y", ref, y, M * N, 1e-5);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(xv), dvk_tensor_destroy(yv);
    dvk_tensor_destroy(tbase), dvk_tensor_destroy(tw), dvk_tensor_destroy(ybase);
    free(base), free(w), free(ref), free(y);
}

static void test_bad_input(void **state)
{
    (void)state;
    dvk_tensor *x = harness_make(F32, 2, 3, 5, 0, 0);
    dvk_tensor *w = harness_make(F32, 2, 4, 5, 0, 0);
    dvk_tensor *y = harness_make(F32, 2, 3, 4, 0, 0);
    dvk_tensor *b = harness_make(F32, 1, 4, 0, 0, 0);
    dvk_tensor *b5 = harness_make(F32, 1, 5, 0, 0, 0);
    dvk_tensor *y5 = harness_make(F32, 2, 3, 5, 0, 0);
    dvk_tensor *w1 = harness_make(F32, 1, 5, 0, 0, 0);
    dvk_tensor *wg = harness_make(F32, 3, 2, 4, 5, 0);
    dvk_tensor *xg = harness_make(F32, 3, 3, 1, 5, 0);
    dvk_tensor *ids = harness_make(DVK_DTYPE_I32, 2, 3, 5, 0, 0);
    dvk_tensor *sq = harness_make(F32, 2, 5, 5, 0, 0);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
#define LIN(...) dvk_linear(cmd, &(dvk_linear_desc){__VA_ARGS__})
    CHECK_STATUS(dvk_linear(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_linear(NULL, &(dvk_linear_desc){.x = x, .weight = w, .y = y}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(LIN(.weight = w, .y = y), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(LIN(.x = x, .y = y), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(LIN(.x = x, .weight = w), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(LIN(.x = ids, .weight = w, .y = y), DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(LIN(.x = x, .weight = w, .bias = ids, .y = y), DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(LIN(.x = x, .weight = w1, .y = y), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(LIN(.x = x, .weight = sq, .y = y), DVK_ERROR_SHAPE_MISMATCH); /* y: N = 5 */
    CHECK_STATUS(LIN(.x = y, .weight = w, .y = y5), DVK_ERROR_SHAPE_MISMATCH); /* x: K = 4 */
    CHECK_STATUS(LIN(.x = x, .weight = w, .y = y5), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(LIN(.x = x, .weight = w, .bias = b5, .y = y), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(LIN(.x = x, .weight = wg, .y = y), DVK_ERROR_SHAPE_MISMATCH); /* x not [2,..] */
    CHECK_STATUS(LIN(.x = xg, .weight = wg, .y = y), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(LIN(.x = sq, .weight = sq, .y = sq), DVK_ERROR_INVALID_ARGUMENT); /* y is x */
    CHECK_STATUS(LIN(.x = x, .weight = sq, .y = y5, .bias = b5), DVK_SUCCESS);
    CHECK_STATUS(LIN(.x = x, .weight = w, .bias = b, .y = y), DVK_SUCCESS);
    if (dvk_context_device_info(harness_ctx)->fp16_storage) {
        dvk_tensor *y16 = harness_make(F16, 2, 3, 4, 0, 0);
        CHECK_STATUS(LIN(.x = x, .weight = w, .y = y16), DVK_ERROR_UNSUPPORTED_DTYPE);
        dvk_tensor_destroy(y16);
    }
    /* y overlapping the weight through a view */
    dvk_tensor *wy = harness_make(F32, 1, 64 + 12, 0, 0, 0);
    dvk_tensor *wv = NULL, *yv = NULL;
    CHECK_OK(dvk_tensor_view(wy, &(dvk_tensor_view_desc){.ndim = 2, .shape = {4, 5}}, &wv));
    CHECK_OK(dvk_tensor_view(wy, &(dvk_tensor_view_desc){.ndim = 2, .shape = {3, 4}}, &yv));
    CHECK_STATUS(LIN(.x = x, .weight = wv, .y = yv), DVK_ERROR_INVALID_ARGUMENT);
    /* more groups than a dispatch can hold (gemv and tiles) */
    const uint32_t gmax = dvk_context_device_info(harness_ctx)->max_workgroup_count[2];
    assert_true(gmax < (1u << 20)); /* 65535 on every device we know */
    dvk_tensor *wbig = harness_make(F32, 3, (uint64_t)gmax + 1, 1, 1, 0);
    dvk_tensor *xbig = harness_make(F32, 3, (uint64_t)gmax + 1, 1, 1, 0);
    dvk_tensor *ybig = harness_make(F32, 3, (uint64_t)gmax + 1, 1, 1, 0);
    CHECK_STATUS(LIN(.x = xbig, .weight = wbig, .y = ybig), DVK_ERROR_LIMIT_EXCEEDED);
    setenv("DVK_LINEAR_DECODE", "off", 1);
    CHECK_STATUS(LIN(.x = xbig, .weight = wbig, .y = ybig), DVK_ERROR_LIMIT_EXCEEDED);
    /* the developer switches */
    setenv("DVK_LINEAR_DECODE", "3,1", 1);
    CHECK_STATUS(LIN(.x = x, .weight = w, .y = y), DVK_ERROR_INVALID_ARGUMENT);
    setenv("DVK_LINEAR_DECODE", "fast", 1);
    CHECK_STATUS(LIN(.x = x, .weight = w, .y = y), DVK_ERROR_INVALID_ARGUMENT);
    unsetenv("DVK_LINEAR_DECODE");
    setenv("DVK_LINEAR_DECODE", "1,0,64,32", 1); /* LANES > WG */
    CHECK_STATUS(LIN(.x = x, .weight = w, .y = y), DVK_ERROR_INVALID_ARGUMENT);
    setenv("DVK_LINEAR_DECODE", "1,0,8,256,3", 1); /* UNROLL not a power of two */
    CHECK_STATUS(LIN(.x = x, .weight = w, .y = y), DVK_ERROR_INVALID_ARGUMENT);
    setenv("DVK_LINEAR_DECODE", "1,0,8,256,2,2", 1); /* XDIRECT 0 or 1 */
    CHECK_STATUS(LIN(.x = x, .weight = w, .y = y), DVK_ERROR_INVALID_ARGUMENT);
    unsetenv("DVK_LINEAR_DECODE");
    setenv("DVK_LINEAR_CONFIG", "99", 1);
    CHECK_STATUS(LIN(.x = x, .weight = w, .y = y), DVK_ERROR_INVALID_ARGUMENT);
    unsetenv("DVK_LINEAR_CONFIG");
    if (dvk_context_device_info(harness_ctx)->fp16_storage) {
        dvk_tensor *x16 = harness_make(F16, 2, 3, 16, 0, 0);
        dvk_tensor *w16 = harness_make(F16, 2, 16, 16, 0, 0);
        dvk_tensor *y16 = harness_make(F16, 2, 3, 16, 0, 0);
        setenv("DVK_LINEAR_CM_EMULATE", "16,16,16,16,16,1", 1);
        setenv("DVK_LINEAR_DIAG", "64", 1);
        CHECK_STATUS(LIN(.x = x16, .weight = w16, .y = y16), DVK_ERROR_INVALID_ARGUMENT);
        setenv("DVK_LINEAR_DIAG", "many", 1);
        CHECK_STATUS(LIN(.x = x16, .weight = w16, .y = y16), DVK_ERROR_INVALID_ARGUMENT);
        unsetenv("DVK_LINEAR_DIAG");
        setenv("DVK_LINEAR_CM_EMULATE", "16,16,16,16,16,4", 1); /* STAGES 1..3 */
        CHECK_STATUS(LIN(.x = x16, .weight = w16, .y = y16), DVK_ERROR_INVALID_ARGUMENT);
        unsetenv("DVK_LINEAR_CM_EMULATE");
        dvk_tensor_destroy(x16), dvk_tensor_destroy(w16), dvk_tensor_destroy(y16);
    }
#undef LIN
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(wv), dvk_tensor_destroy(yv), dvk_tensor_destroy(wy);
    dvk_tensor_destroy(wbig), dvk_tensor_destroy(xbig), dvk_tensor_destroy(ybig);
    dvk_tensor *all[] = {x, w, y, b, b5, y5, w1, wg, xg, ids, sq};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        dvk_tensor_destroy(all[i]);
}


/* M = N = K = 256 fp32 (the FMA tiles) and a 16-row decode product, timed on the device (GPU
 * timestamps where there are some, else the wall clock of submit + wait) against the C
 * reference. Informative only. */
static void test_timing(void **state)
{
    (void)state;
    static const uint64_t shapes[][3] = {{256, 256, 256}, {16, 1024, 1024}};
    for (size_t s = 0; s < 2; ++s) {
        const uint64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        harness_rng rng = harness_rng_make(5);
        float *x = malloc(M * K * sizeof *x), *w = malloc(N * K * sizeof *w);
        harness_fill_normal(&rng, x, M * K, 1.0f);
        harness_fill_normal(&rng, w, N * K, 1.0f);
        double *ref = malloc(M * N * sizeof *ref);
        double t0 = now_ms();
        dvk_ref_linear(1, M, N, K, x, w, NULL, 0, NULL, ref);
        const double ref_ms = now_ms() - t0;
        dvk_tensor *tx = harness_tensor(F32, 2, (uint64_t[]){M, K}, x);
        dvk_tensor *tw = harness_tensor(F32, 2, (uint64_t[]){N, K}, w);
        dvk_tensor *ty = harness_tensor_poisoned(F32, 2, (uint64_t[]){M, N});
        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_OK(dvk_linear(cmd, &(dvk_linear_desc){.x = tx, .weight = tw, .y = ty}));
        harness_run(cmd); /* builds the pipeline */
        double best = 1e30;
        for (int r = 0; r < 5; ++r) {
            t0 = now_ms();
            harness_run(cmd);
            const double ms = now_ms() - t0;
            best = ms < best ? ms : best;
        }
        float *y = harness_download(ty);
        harness_check("timing", "y", ref, y, M * N, 1e-5);
        fprintf(stderr, "# linear fp32 M=%llu N=%llu K=%llu: device %.2f ms (best of 5, submit "
                        "to wait), C reference (double) %.2f ms\n",
                (unsigned long long)M, (unsigned long long)N, (unsigned long long)K, best,
                ref_ms);
        dvk_cmd_destroy(cmd);
        dvk_tensor_destroy(tx), dvk_tensor_destroy(tw), dvk_tensor_destroy(ty);
        free(x), free(w), free(ref), free(y);
    }
}

/* Independent calls in one recording give the bits each gives recorded alone, with no
 * validation message: with a bias, without (one row: the decode-shaped kernel), accumulating
 * into y, and long rows (K split, summed by a second dispatch). */
enum { LIN_CALLS = 4 };
static const int lin_shape[LIN_CALLS][3] = {{3, 16, 8}, {1, 40, 24}, {5, 12, 6}, {2, 2048, 8}};

typedef struct lin_calls {
    dvk_tensor *t[LIN_CALLS][4]; /* x, weight, bias, y */
} lin_calls;

static void lin_make(void *user)
{
    lin_calls *s = user;
    harness_rng rng = harness_rng_make(21);
    const dvk_dtype F = DVK_DTYPE_F32;
    for (int c = 0; c < LIN_CALLS; ++c) {
        const int M = lin_shape[c][0], K = lin_shape[c][1], N = lin_shape[c][2];
        dvk_tensor **t = s->t[c];
        t[0] = harness_random(&rng, F, -1.0f, 1.0f, 2, M, K, 0, 0);
        t[1] = harness_random(&rng, F, -1.0f, 1.0f, 2, N, K, 0, 0);
        t[2] = c == 0 ? harness_random(&rng, F, -1.0f, 1.0f, 1, N, 0, 0, 0) : NULL;
        t[3] = c == 2 ? harness_random(&rng, F, -1.0f, 1.0f, 2, M, N, 0, 0)
                      : harness_tensor_poisoned(F, 2, (uint64_t[]){M, N});
    }
}

static dvk_status lin_record(void *user, dvk_cmd *cmd, int c)
{
    dvk_tensor **t = ((lin_calls *)user)->t[c];
    return dvk_linear(cmd, &(dvk_linear_desc){.x = t[0], .weight = t[1], .bias = t[2],
                                              .y = t[3], .accumulate = c == 2});
}

static void lin_outputs(void *user, int c, const dvk_tensor *out[HARNESS_MAX_OUTPUTS])
{
    out[0] = ((lin_calls *)user)->t[c][3];
}

static void lin_destroy(void *user)
{
    lin_calls *s = user;
    for (int c = 0; c < LIN_CALLS; ++c)
        for (int i = 0; i < 4; ++i)
            dvk_tensor_destroy(s->t[c][i]);
}

static void test_independent_calls_one_recording(void **state)
{
    (void)state;
    lin_calls s;
    harness_one_recording(&(harness_calls){"linear", LIN_CALLS, &s, lin_make, lin_record,
                                           lin_outputs, lin_destroy});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_cases, harness_test_teardown),
        cmocka_unit_test_teardown(test_configs, harness_test_teardown),
        cmocka_unit_test_teardown(test_cm_emulated, harness_test_teardown),
        cmocka_unit_test_teardown(test_cm_diag, harness_test_teardown),
        cmocka_unit_test_teardown(test_splitk, harness_test_teardown),
        cmocka_unit_test_teardown(test_cpu_kernels, harness_test_teardown),
        cmocka_unit_test_teardown(test_dispatch_planning, harness_test_teardown),
        cmocka_unit_test_teardown(test_views, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_input, harness_test_teardown),
        cmocka_unit_test_teardown(test_independent_calls_one_recording, harness_test_teardown),
        cmocka_unit_test_teardown(test_timing, harness_test_teardown),
    };
    if (getenv("DVK_TEST_FILTER")) /* a glob of test names: only those run */
        cmocka_set_test_filter(getenv("DVK_TEST_FILTER"));
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
