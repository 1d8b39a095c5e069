/* A caller's own kernels through the public API (dvk_kernel_get, dvk_cmd_dispatch): building,
 * caching, specialization and push constants, automatic barriers between dependent
 * dispatches; tensor views and reshapes bound as kernel arguments; scratch tensors and scratch
 * regions (reuse across a loop, invalidation, marks); a required subgroup size; bad input. The
 * kernels are compiled at build time (tests/core/kernels/) and embedded like the library's
 * own. */
#include "harness.h"

#include "test_kernel_kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct axpb_push {
    uint32_t n;
    float a;
} axpb_push;

static const dvk_kernel *axpb(float offset)
{
    uint32_t bits;
    memcpy(&bits, &offset, 4);
    const dvk_test_kernel_blob *b = &dvk_test_kernel_table[DVK_TEST_K_CORE_AXPB];
    const dvk_kernel *k = NULL;
    CHECK_OK(dvk_kernel_get(harness_ctx,
                            &(dvk_kernel_desc){.name = "test/axpb", .spirv = b->code,
                                               .spirv_size = b->size, .binding_count = 2,
                                               .push_size = sizeof(axpb_push), .spec_count = 1,
                                               .spec = &bits},
                            &k));
    return k;
}

static void dispatch_axpb(dvk_cmd *cmd, const dvk_kernel *k, const dvk_tensor *x, dvk_tensor *y,
                          float a)
{
    const axpb_push pc = {(uint32_t)dvk_tensor_numel(y), a};
    CHECK_OK(dvk_cmd_dispatch(cmd, &(dvk_dispatch_desc){
                                       .kernel = k,
                                       .tensors = {x, y},
                                       .write_mask = 2u,
                                       .push = &pc,
                                       .groups = {(pc.n + 63) / 64},
                                   }));
}

/* Three dependent dispatches (x -> y -> z -> x in place through a view) in one recording. */
static void test_custom_kernel_chain(void **state)
{
    (void)state;
    const uint32_t before = dvk_context_pipeline_count(harness_ctx);
    const dvk_kernel *k1 = axpb(1.0f), *k1again = axpb(1.0f), *k2 = axpb(-0.5f);
    assert_ptr_equal(k1, k1again); /* cached by code and specialization */
    assert_ptr_not_equal(k1, k2);
    assert_int_equal(dvk_context_pipeline_count(harness_ctx), before + 2);

    enum { N = 1000 };
    float *h = malloc(N * sizeof *h);
    harness_rng rng = harness_rng_make(5);
    harness_fill_normal(&rng, h, N, 1.0f);
    const uint64_t shape[1] = {N};
    dvk_tensor *x = harness_tensor(DVK_DTYPE_F32, 1, shape, h);
    dvk_tensor *y = harness_tensor_poisoned(DVK_DTYPE_F32, 1, shape);
    dvk_tensor *z = harness_tensor_poisoned(DVK_DTYPE_F32, 1, shape);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    dispatch_axpb(cmd, k1, x, y, 2.0f);  /* y = 2x + 1 */
    dispatch_axpb(cmd, k2, y, z, 3.0f);  /* z = 3y - 0.5 */
    dispatch_axpb(cmd, k1, z, z, 0.5f);  /* z = z/2 + 1, in place */
    harness_run(cmd);
    float *got = harness_download(z);
    double *ref = malloc(N * sizeof *ref);
    for (int i = 0; i < N; ++i)
        ref[i] = (3.0 * (2.0 * h[i] + 1.0) - 0.5) * 0.5 + 1.0;
    harness_check("chain", "z", ref, got, N, 1e-6);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(x), dvk_tensor_destroy(y), dvk_tensor_destroy(z);
    free(h), free(got), free(ref);
}

/* Views: two halves of one tensor written by separate dispatches, read back whole; a reshape
 * read by a kernel; bad views. */
static void test_views(void **state)
{
    (void)state;
    const dvk_device_info *info = dvk_context_device_info(harness_ctx);
    const uint64_t align = info->tensor_alignment / 4; /* in floats */
    const uint64_t half = 8 * align, n = 2 * half;
    float *h = malloc(n * sizeof *h);
    for (uint64_t i = 0; i < n; ++i)
        h[i] = (float)i;
    const uint64_t shape[1] = {n};
    dvk_tensor *src = harness_tensor(DVK_DTYPE_F32, 1, shape, h);
    dvk_tensor *dst = harness_tensor_poisoned(DVK_DTYPE_F32, 1, shape);
    dvk_tensor *lo = NULL, *hi = NULL, *src2d = NULL, *dst_hi = NULL;
    CHECK_OK(dvk_tensor_view(dst, &(dvk_tensor_view_desc){.offset = 0, .ndim = 1, .shape = {half}},
                             &lo));
    CHECK_OK(dvk_tensor_view(dst, &(dvk_tensor_view_desc){.offset = half, .ndim = 2,
                                                          .shape = {2, half / 2}},
                             &hi));
    CHECK_OK(dvk_tensor_view(src, &(dvk_tensor_view_desc){.offset = half, .ndim = 1,
                                                          .shape = {half}},
                             &dst_hi));
    CHECK_OK(dvk_tensor_reshape(src, 2, (uint64_t[]){2, half}, &src2d));
    assert_true(dvk_tensor_is_view(lo) && dvk_tensor_is_view(src2d) && !dvk_tensor_is_view(src));
    assert_int_equal(dvk_tensor_numel(hi), half);
    assert_int_equal(dvk_tensor_dim(src2d, 1), half);

    const dvk_kernel *k = axpb(0.0f);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    dispatch_axpb(cmd, k, src, lo, 1.0f);     /* lo = src[0:half] (its first half elements) */
    dispatch_axpb(cmd, k, dst_hi, hi, -1.0f); /* hi = -src[half:] */
    harness_run(cmd);
    float *got = harness_download(dst);
    for (uint64_t i = 0; i < n; ++i)
        assert_float_equal(got[i], i < half ? (float)i : -(float)i, 0.0f);
    free(got);

    /* Download through a view: its own elements only. */
    float *part = harness_download(dst_hi);
    for (uint64_t i = 0; i < half; ++i)
        assert_float_equal(part[i], (float)(half + i), 0.0f);
    free(part);

    dvk_tensor *bad = NULL;
    CHECK_STATUS(dvk_tensor_view(src, &(dvk_tensor_view_desc){.offset = half + 1, .ndim = 1,
                                                              .shape = {half}},
                                 &bad),
                 DVK_ERROR_SHAPE_MISMATCH); /* past the end */
    CHECK_STATUS(dvk_tensor_view(src, &(dvk_tensor_view_desc){.offset = 1, .ndim = 1,
                                                              .shape = {4}},
                                 &bad),
                 DVK_ERROR_INVALID_ARGUMENT); /* misaligned */
    CHECK_STATUS(dvk_tensor_view(src, &(dvk_tensor_view_desc){.ndim = 2, .shape = {0, 4}}, &bad),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_tensor_reshape(src, 2, (uint64_t[]){3, half}, &bad), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_tensor_view(NULL, &(dvk_tensor_view_desc){.ndim = 1, .shape = {1}}, &bad),
                 DVK_ERROR_INVALID_ARGUMENT);
    assert_null(bad);

    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(lo), dvk_tensor_destroy(hi), dvk_tensor_destroy(dst_hi);
    dvk_tensor_destroy(src2d);
    dvk_tensor_destroy(src), dvk_tensor_destroy(dst);
    free(h);
}

/* An L-layer loop: each layer's temporaries in a region released at the layer's end. The
 * arena stops growing after the first layer, the results are right although every layer
 * reuses the same memory, and a released scratch tensor is refused. */
static void test_scratch_regions(void **state)
{
    (void)state;
    enum { N = 4096, LAYERS = 6 };
    float *h = malloc(N * sizeof *h);
    harness_rng rng = harness_rng_make(9);
    harness_fill_normal(&rng, h, N, 1.0f);
    const uint64_t shape[1] = {N};
    dvk_tensor *x = harness_tensor(DVK_DTYPE_F32, 1, shape, h);
    const dvk_kernel *k = axpb(0.25f);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    uint64_t capacity_after_first = 0;
    dvk_tensor *kept = NULL;
    for (int l = 0; l < LAYERS; ++l) {
        const dvk_scratch_mark mark = dvk_cmd_scratch_mark(cmd);
        dvk_tensor *t1 = NULL, *t2 = NULL;
        CHECK_OK(dvk_cmd_scratch_tensor(cmd, &(dvk_tensor_desc){.ndim = 1, .shape = {N}}, &t1));
        CHECK_OK(dvk_cmd_scratch_tensor(cmd, &(dvk_tensor_desc){.ndim = 1, .shape = {N}}, &t2));
        dispatch_axpb(cmd, k, x, t1, 2.0f);  /* t1 = 2x + 1/4 */
        dispatch_axpb(cmd, k, t1, t2, 0.5f); /* t2 = t1/2 + 1/4 = x + 3/8 */
        dispatch_axpb(cmd, k, t2, x, 1.0f);  /* x = t2 + 1/4 = x + 5/8 */
        if (l == 0) {
            kept = t1;
            capacity_after_first = dvk_cmd_scratch_capacity(cmd);
        }
        dvk_tensor_destroy(t2); /* a no-op for scratch tensors */
        CHECK_OK(dvk_cmd_scratch_release(cmd, mark));
    }
    assert_true(capacity_after_first > 0);
    assert_int_equal(dvk_cmd_scratch_capacity(cmd), capacity_after_first);
    /* The first layer's tensor was released: using it again is refused. */
    CHECK_STATUS(dvk_cmd_dispatch(cmd, &(dvk_dispatch_desc){.kernel = k, .tensors = {x, kept},
                                                            .write_mask = 2u,
                                                            .push = &(axpb_push){N, 1.0f},
                                                            .groups = {1}}),
                 DVK_ERROR_INVALID_STATE);
    CHECK_STATUS(dvk_cmd_fill_zero(cmd, kept), DVK_ERROR_INVALID_STATE);
    harness_run(cmd);
    float *got = harness_download(x);
    double *ref = malloc(N * sizeof *ref);
    for (int i = 0; i < N; ++i)
        ref[i] = h[i] + 0.625 * LAYERS;
    harness_check("layers", "x", ref, got, N, 1e-6);

    /* Marks: nested release order, and a mark from before a reset. */
    CHECK_OK(dvk_cmd_reset(cmd));
    assert_int_equal(dvk_cmd_scratch_capacity(cmd), capacity_after_first); /* blocks kept */
    const dvk_scratch_mark outer = dvk_cmd_scratch_mark(cmd);
    dvk_tensor *a = NULL;
    CHECK_OK(dvk_cmd_scratch_tensor(cmd, &(dvk_tensor_desc){.ndim = 1, .shape = {10}}, &a));
    const dvk_scratch_mark inner = dvk_cmd_scratch_mark(cmd);
    CHECK_OK(dvk_cmd_scratch_release(cmd, outer));
    CHECK_STATUS(dvk_cmd_scratch_release(cmd, inner), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_OK(dvk_cmd_reset(cmd));
    CHECK_STATUS(dvk_cmd_scratch_release(cmd, outer), DVK_ERROR_INVALID_ARGUMENT);
    dvk_tensor *bad = NULL;
    CHECK_STATUS(dvk_cmd_scratch_tensor(cmd, &(dvk_tensor_desc){.ndim = 1, .shape = {0}}, &bad),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_cmd_scratch_tensor(cmd, NULL, &bad), DVK_ERROR_INVALID_ARGUMENT);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(x);
    free(h), free(got), free(ref);
}

static void test_bad_kernels(void **state)
{
    (void)state;
    const dvk_test_kernel_blob *b = &dvk_test_kernel_table[DVK_TEST_K_CORE_AXPB];
    const dvk_kernel *k = NULL;
    CHECK_STATUS(dvk_kernel_get(harness_ctx, NULL, &k), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_kernel_get(harness_ctx, &(dvk_kernel_desc){.spirv = NULL}, &k),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_kernel_get(harness_ctx, &(dvk_kernel_desc){.spirv = b->code,
                                                                .spirv_size = 6},
                                &k),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_kernel_get(harness_ctx, &(dvk_kernel_desc){.spirv = b->code,
                                                                .spirv_size = b->size,
                                                                .binding_count = 17},
                                &k),
                 DVK_ERROR_INVALID_ARGUMENT);
    assert_null(k);
    k = axpb(0.0f);
    dvk_tensor *t = harness_make(DVK_DTYPE_F32, 1, 64, 0, 0, 0);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_STATUS(dvk_cmd_dispatch(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_cmd_dispatch(cmd, &(dvk_dispatch_desc){.kernel = k, .tensors = {t, t}}),
                 DVK_ERROR_INVALID_ARGUMENT); /* push constants missing */
    const uint32_t too_many = dvk_context_device_info(harness_ctx)->max_workgroup_count[0];
    CHECK_STATUS(dvk_cmd_dispatch(cmd, &(dvk_dispatch_desc){.kernel = k, .tensors = {t, t},
                                                            .push = &(axpb_push){64, 1.0f},
                                                            .groups = {too_many + 1u}}),
                 DVK_ERROR_LIMIT_EXCEEDED);
    CHECK_OK(dvk_cmd_dispatch(cmd, &(dvk_dispatch_desc){.kernel = k, .tensors = {t, t},
                                                        .write_mask = 2u,
                                                        .push = &(axpb_push){64, 1.0f},
                                                        .groups = {0}})); /* nothing */
    assert_int_equal(dvk_set_error(DVK_ERROR_FORMAT, "layer %d: %s", 3, "bad"), DVK_ERROR_FORMAT);
    assert_string_equal(dvk_last_error(), "layer 3: bad");
    assert_ptr_equal(dvk_cmd_context(cmd), harness_ctx);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(t);
}

/* The subgroup size of each invocation of the subgroup_size kernel with `required` (0: the
 * device's choice), and whether every subgroup was full; the status of dvk_kernel_get. */
static dvk_status run_subgroup_size(uint32_t required, uint32_t *size, bool *full)
{
    const dvk_test_kernel_blob *b = &dvk_test_kernel_table[DVK_TEST_K_CORE_SUBGROUP_SIZE];
    const dvk_kernel *k = NULL;
    const dvk_status st = dvk_kernel_get(
        harness_ctx,
        &(dvk_kernel_desc){.name = "test/subgroup_size", .spirv = b->code, .spirv_size = b->size,
                           .binding_count = 1, .required_subgroup_size = required},
        &k);
    if (st != DVK_SUCCESS)
        return st;
    enum { N = 4 * 64 };
    dvk_tensor *y = harness_make(DVK_DTYPE_I32, 1, 2 * N, 0, 0, 0);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_cmd_dispatch(cmd, &(dvk_dispatch_desc){.kernel = k, .tensors = {y},
                                                        .write_mask = 1u, .groups = {N / 64}}));
    harness_run(cmd);
    uint32_t got[2 * N];
    CHECK_OK(dvk_tensor_download(y, got, sizeof got));
    *size = got[0];
    *full = true;
    for (int i = 0; i < N; ++i) {
        assert_int_equal(got[2 * i], got[0]);
        *full = *full && got[2 * i + 1] == 1u;
    }
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(y);
    return DVK_SUCCESS;
}

/* dvk_kernel_desc.required_subgroup_size: each size the device offers is the one the kernel
 * runs with, in full subgroups (on Vulkan 1.3, where subgroup size control is core); sizes
 * that are not powers of two, or outside the device's range, are refused. */
static void test_required_subgroup_size(void **state)
{
    (void)state;
    const dvk_device_info *info = dvk_context_device_info(harness_ctx);
    uint32_t size = 0;
    bool full = false;
    CHECK_OK(run_subgroup_size(0, &size, &full));
    assert_int_equal(size, info->subgroup_size);
    for (uint32_t sg = info->min_subgroup_size; sg <= info->max_subgroup_size && sg <= 64;
         sg *= 2) {
        const dvk_status st = run_subgroup_size(sg, &size, &full);
        if (info->api_version >= VK_API_VERSION_1_3)
            CHECK_OK(st);
        else if (st == DVK_ERROR_UNSUPPORTED)
            continue;
        assert_int_equal(size, sg);
        assert_true(full);
    }
    CHECK_STATUS(run_subgroup_size(3, &size, &full), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(run_subgroup_size(2 * info->max_subgroup_size, &size, &full),
                 DVK_ERROR_UNSUPPORTED);
    if (info->min_subgroup_size > 1)
        CHECK_STATUS(run_subgroup_size(info->min_subgroup_size / 2, &size, &full),
                     DVK_ERROR_UNSUPPORTED);
}

/* Synchronization validation is on in every test context (the library enables it with
 * validation): a dispatch that writes y, its write left out of write_mask (so the library sees
 * a read and records no barrier), then a download of y (a transfer read) must be reported as
 * a read-after-write hazard. If this fails, the suite's "no validation messages" no longer
 * includes the synchronization checks. (Layer 1.3.239 did not report two dispatches writing
 * the same bytes through the same binding, so a transfer is what shows it.) */
static void test_sync_validation_is_on(void **state)
{
    (void)state;
    harness_accept_validation_messages(); /* none expected before; counted from here */
    fprintf(stderr, "# a hazard provoked on purpose: a SYNC-HAZARD-READ-AFTER-WRITE expected\n");
    const dvk_kernel *k = axpb(0.0f);
    dvk_tensor *x = NULL, *y = NULL;
    const dvk_tensor_desc d = {.ndim = 1, .shape = {256}};
    CHECK_OK(dvk_tensor_create(harness_ctx, &d, &x));
    CHECK_OK(dvk_tensor_create(harness_ctx, &d, &y));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    const axpb_push pc = {256, 2.0f};
    CHECK_OK(dvk_cmd_dispatch(cmd, &(dvk_dispatch_desc){.kernel = k, .tensors = {x, y},
                                                        .write_mask = 0u, .push = &pc,
                                                        .groups = {4}}));
    float out[256];
    CHECK_OK(dvk_cmd_download(cmd, y, out, sizeof out));
    CHECK_OK(dvk_cmd_submit(cmd));
    CHECK_OK(dvk_cmd_wait(cmd, 0));
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(x);
    dvk_tensor_destroy(y);
    const uint64_t n = harness_accept_validation_messages();
    if (n == 0)
        fail_msg("a read-after-write hazard was not reported: synchronization validation is off");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_custom_kernel_chain, harness_test_teardown),
        cmocka_unit_test_teardown(test_views, harness_test_teardown),
        cmocka_unit_test_teardown(test_scratch_regions, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_kernels, harness_test_teardown),
        cmocka_unit_test_teardown(test_required_subgroup_size, harness_test_teardown),
        cmocka_unit_test_teardown(test_sync_validation_is_on, harness_test_teardown),
    };
    if (getenv("DVK_TEST_FILTER")) /* a glob of test names: only those run */
        cmocka_set_test_filter(getenv("DVK_TEST_FILTER"));
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
