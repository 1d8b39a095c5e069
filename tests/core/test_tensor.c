/* Tensors: creation and its checks, upload/download in both dtypes, recorded copies, wrapping a
 * caller's buffer, many small tensors sharing memory blocks, fp16 conversions. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_create_and_query(void **state)
{
    (void)state;
    dvk_tensor *t = NULL;
    CHECK_OK(dvk_tensor_create(harness_ctx,
                               &(dvk_tensor_desc){.dtype = DVK_DTYPE_F16, .ndim = 3, .shape = {2, 3, 5}},
                               &t));
    assert_int_equal(dvk_tensor_dtype(t), DVK_DTYPE_F16);
    assert_int_equal(dvk_tensor_ndim(t), 3);
    assert_int_equal(dvk_tensor_dim(t, 2), 5);
    assert_int_equal(dvk_tensor_dim(t, 3), 0);
    assert_int_equal(dvk_tensor_numel(t), 30);
    assert_int_equal(dvk_tensor_bytes(t), 60);
    VkBuffer buf = VK_NULL_HANDLE;
    VkDeviceSize off = 1;
    dvk_tensor_vk_buffer(t, &buf, &off);
    assert_true(buf != VK_NULL_HANDLE);
    dvk_tensor_destroy(t);
    dvk_tensor_destroy(NULL);

    /* A scalar (ndim 0) holds one element; the default dtype is fp32. */
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){0}, &t));
    assert_int_equal(dvk_tensor_numel(t), 1);
    assert_int_equal(dvk_tensor_dtype(t), DVK_DTYPE_F32);
    const float x = 3.5f;
    float y = 0.0f;
    CHECK_OK(dvk_tensor_upload(t, &x, sizeof x));
    CHECK_OK(dvk_tensor_download(t, &y, sizeof y));
    assert_true(y == x);
    dvk_tensor_destroy(t);
    assert_int_equal(dvk_dtype_size(DVK_DTYPE_F16), 2);
    assert_int_equal(dvk_dtype_size((dvk_dtype)9), 0);
}

static void test_bad_create(void **state)
{
    (void)state;
    dvk_tensor *t = (dvk_tensor *)1;
    const dvk_tensor_desc ok = {.ndim = 1, .shape = {4}};
    CHECK_STATUS(dvk_tensor_create(NULL, &ok, &t), DVK_ERROR_INVALID_ARGUMENT);
    assert_null(t);
    CHECK_STATUS(dvk_tensor_create(harness_ctx, NULL, &t), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_tensor_create(harness_ctx, &ok, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 5, .shape = {1, 1, 1, 1}}, &t),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 2, .shape = {3, 0}}, &t),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.dtype = (dvk_dtype)7, .ndim = 1, .shape = {3}}, &t),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    /* Larger than one storage-buffer binding may be. */
    const uint64_t range = dvk_context_device_info(harness_ctx)->max_storage_buffer_range;
    CHECK_STATUS(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 2, .shape = {range / 4 + 1, 1}}, &t),
                 DVK_ERROR_LIMIT_EXCEEDED);
    CHECK_STATUS(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1u << 31, 1u << 31, 1u << 31, 8}}, &t),
                 DVK_ERROR_LIMIT_EXCEEDED);
    /* Shapes whose byte count wraps a 64-bit product to 0 (issue 17: bench's
     * --B 65536 --T 65536 --H 65536 --K 16384 --V 1 made a 0-byte host buffer), and a view and
     * a reshape of such shapes: refused, nothing made. */
    const dvk_tensor_desc wraps[] = {
        {.ndim = 4, .shape = {65536, 65536, 65536, 16384}},
        {.dtype = DVK_DTYPE_F16, .ndim = 2, .shape = {(uint64_t)1 << 32, (uint64_t)1 << 31}},
        {.ndim = 4, .shape = {UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX}},
        {.ndim = 2, .shape = {(uint64_t)1 << 62, 4}},
    };
    for (size_t i = 0; i < sizeof wraps / sizeof wraps[0]; ++i) {
        t = (dvk_tensor *)1;
        CHECK_STATUS(dvk_tensor_create(harness_ctx, &wraps[i], &t), DVK_ERROR_LIMIT_EXCEEDED);
        assert_null(t);
    }
    dvk_tensor *base = NULL, *v = (dvk_tensor *)1;
    CHECK_OK(dvk_tensor_create(harness_ctx, &ok, &base));
    CHECK_STATUS(dvk_tensor_view(base, &(dvk_tensor_view_desc){.ndim = 4,
                                                                .shape = {65536, 65536, 65536,
                                                                          16384}},
                                 &v),
                 DVK_ERROR_LIMIT_EXCEEDED);
    assert_null(v);
    const uint64_t wrap_to_4[2] = {((uint64_t)1 << 63) + 1, 4}; /* 4 modulo 2^64 */
    CHECK_STATUS(dvk_tensor_reshape(base, 2, wrap_to_4, &v), DVK_ERROR_LIMIT_EXCEEDED);
    assert_null(v);
    dvk_tensor_destroy(base);

    CHECK_OK(dvk_tensor_create(harness_ctx, &ok, &t));
    float four[4] = {1, 2, 3, 4}, five[5];
    CHECK_STATUS(dvk_tensor_upload(t, four, 12), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_tensor_upload(t, NULL, 16), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_tensor_upload(NULL, four, 16), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_tensor_download(t, five, sizeof five), DVK_ERROR_SHAPE_MISMATCH);
    dvk_tensor_destroy(t);
}

static void test_roundtrip_dtypes(void **state)
{
    (void)state;
    harness_rng rng = harness_rng_make(3);
    const uint64_t shapes[][4] = {{1}, {3}, {7, 5}, {2, 3, 4, 5}, {1, 1, 1, 1}, {100, 33}};
    const uint32_t ndims[] = {1, 1, 2, 4, 4, 2};
    for (size_t s = 0; s < 6; ++s) {
        const dvk_dtype dtypes[] = {DVK_DTYPE_F32, DVK_DTYPE_F16, DVK_DTYPE_BF16, DVK_DTYPE_I32};
        for (int d = 0; d < 4; ++d) {
            size_t n = 1;
            for (uint32_t i = 0; i < ndims[s]; ++i)
                n *= shapes[s][i];
            float *x = malloc(n * 4);
            harness_fill_normal(&rng, x, n, 10.0f);
            harness_round_to(dtypes[d], x, n);
            if (dtypes[d] == DVK_DTYPE_I32)
                for (size_t i = 0; i < n; ++i)
                    x[i] = (float)(int)x[i];
            dvk_tensor *t = harness_tensor(dtypes[d], ndims[s], shapes[s], x);
            assert_int_equal(dvk_tensor_bytes(t), n * dvk_dtype_size(dtypes[d]));
            float *y = harness_download(t);
            assert_memory_equal(x, y, n * 4);
            free(x), free(y);
            dvk_tensor_destroy(t);
        }
    }
}

/* Uploads, a zero fill and downloads recorded in one submission, in order. */
static void test_recorded_copies(void **state)
{
    (void)state;
    enum { N = 1000 };
    float a[N], b[N], out_a[N], out_b[N];
    for (int i = 0; i < N; ++i)
        a[i] = (float)i, b[i] = -1.0f;
    dvk_tensor *ta = NULL, *tb = NULL, *th = NULL;
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 1, .shape = {N}}, &ta));
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 1, .shape = {N}}, &tb));
    CHECK_OK(dvk_tensor_create(harness_ctx,
                               &(dvk_tensor_desc){.dtype = DVK_DTYPE_F16, .ndim = 1, .shape = {3}},
                               &th));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_cmd_upload(cmd, ta, a, sizeof a));
    CHECK_OK(dvk_cmd_upload(cmd, tb, b, sizeof b));
    CHECK_OK(dvk_cmd_fill_zero(cmd, tb)); /* after the upload: zeros win */
    CHECK_OK(dvk_cmd_fill_zero(cmd, th)); /* 6 bytes: padded to whole words inside our block */
    CHECK_OK(dvk_cmd_download(cmd, ta, out_a, sizeof out_a));
    CHECK_OK(dvk_cmd_download(cmd, tb, out_b, sizeof out_b));
    memset(out_a, 0xff, sizeof out_a);
    harness_run(cmd);
    assert_memory_equal(a, out_a, sizeof a);
    for (int i = 0; i < N; ++i)
        assert_true(out_b[i] == 0.0f);
    uint16_t h[3] = {1, 1, 1};
    CHECK_OK(dvk_tensor_download(th, h, sizeof h));
    assert_true(h[0] == 0 && h[1] == 0 && h[2] == 0);
    CHECK_STATUS(dvk_cmd_upload(cmd, ta, a, sizeof a), DVK_ERROR_INVALID_STATE);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(ta), dvk_tensor_destroy(tb), dvk_tensor_destroy(th);
}

/* A tensor over the caller's buffer (here, another tensor's) sees the same memory. */
static void test_wrap_buffer(void **state)
{
    (void)state;
    enum { N = 256 };
    dvk_tensor *owner = NULL, *view = NULL;
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 1, .shape = {N}}, &owner));
    VkBuffer buf;
    VkDeviceSize off;
    dvk_tensor_vk_buffer(owner, &buf, &off);
    CHECK_OK(dvk_tensor_create(harness_ctx,
                               &(dvk_tensor_desc){.ndim = 2, .shape = {16, 16}, .buffer = buf, .offset = off},
                               &view));
    float x[N], y[N];
    for (int i = 0; i < N; ++i)
        x[i] = (float)(i * 3);
    CHECK_OK(dvk_tensor_upload(view, x, sizeof x));
    CHECK_OK(dvk_tensor_download(owner, y, sizeof y));
    assert_memory_equal(x, y, sizeof x);
    dvk_tensor_destroy(view); /* never frees the caller's memory */
    CHECK_OK(dvk_tensor_download(owner, y, sizeof y));
    assert_memory_equal(x, y, sizeof x);
    /* An offset that a storage-buffer binding cannot start at. */
    dvk_tensor *bad = (dvk_tensor *)1;
    CHECK_STATUS(dvk_tensor_create(harness_ctx,
                                   &(dvk_tensor_desc){.ndim = 1, .shape = {4}, .buffer = buf, .offset = off + 1},
                                   &bad),
                 DVK_ERROR_INVALID_ARGUMENT);
    assert_null(bad);
    dvk_tensor_destroy(owner);
}

/* Many small tensors share blocks; freeing some and allocating others keeps every tensor's
 * contents intact (the suballocator neither overlaps nor loses ranges). */
static void test_many_small_tensors(void **state)
{
    (void)state;
    enum { COUNT = 600 };
    dvk_tensor **t = calloc(COUNT, sizeof *t);
    harness_rng rng = harness_rng_make(9);
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < COUNT; ++i) {
            if (t[i] && harness_uniform(&rng) < 0.5f)
                continue;
            dvk_tensor_destroy(t[i]);
            const uint64_t n = 1 + (uint64_t)(harness_uniform(&rng) * 300);
            CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 1, .shape = {n}}, &t[i]));
            float *x = malloc(n * 4);
            for (uint64_t e = 0; e < n; ++e)
                x[e] = (float)(i * 1000 + (int)e);
            CHECK_OK(dvk_tensor_upload(t[i], x, n * 4));
            free(x);
        }
    }
    for (int i = 0; i < COUNT; ++i) {
        const uint64_t n = dvk_tensor_numel(t[i]);
        float *y = harness_download(t[i]);
        for (uint64_t e = 0; e < n; ++e)
            assert_true(y[e] == (float)(i * 1000 + (int)e));
        free(y);
        dvk_tensor_destroy(t[i]);
    }
    free(t);
    /* A large tensor gets a block of its own and round-trips too. */
    dvk_tensor *big = NULL;
    const uint64_t n = 40u << 20 >> 2; /* 40 MiB */
    CHECK_OK(dvk_tensor_create(harness_ctx, &(dvk_tensor_desc){.ndim = 1, .shape = {n}}, &big));
    float *x = malloc(n * 4);
    for (uint64_t e = 0; e < n; ++e)
        x[e] = (float)(e % 65521);
    CHECK_OK(dvk_tensor_upload(big, x, n * 4));
    float *y = harness_download(big);
    assert_memory_equal(x, y, n * 4);
    free(x), free(y);
    dvk_tensor_destroy(big);
}

static void test_f16_conversion(void **state)
{
    (void)state;
    const struct {
        float f;
        uint16_t h;
    } exact[] = {
        {0.0f, 0x0000}, {-0.0f, 0x8000}, {1.0f, 0x3c00}, {-2.0f, 0xc000}, {65504.0f, 0x7bff},
        {6.103515625e-05f, 0x0400},          /* smallest normal */
        {5.960464477539063e-08f, 0x0001},    /* smallest subnormal */
        {0.333251953125f, 0x3555}, {INFINITY, 0x7c00}, {-INFINITY, 0xfc00},
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; ++i) {
        assert_int_equal(dvk_f32_to_f16(exact[i].f), exact[i].h);
        const float back = dvk_f16_to_f32(exact[i].h);
        assert_memory_equal(&back, &exact[i].f, sizeof back);
    }
    assert_int_equal(dvk_f32_to_f16(1.0f + 1.0f / 2048.0f), 0x3c00); /* tie: to even */
    assert_int_equal(dvk_f32_to_f16(1.0f + 3.0f / 2048.0f), 0x3c02); /* tie: to even (up) */
    assert_int_equal(dvk_f32_to_f16(65520.0f), 0x7c00);              /* rounds to infinity */
    assert_int_equal(dvk_f32_to_f16(1e-9f), 0x0000);
    assert_true(isnan(dvk_f16_to_f32(dvk_f32_to_f16(NAN))));
    /* Every finite half survives a round trip through float. */
    for (uint32_t h = 0; h < 0x10000; ++h) {
        if ((h & 0x7c00) == 0x7c00)
            continue;
        assert_int_equal(dvk_f32_to_f16(dvk_f16_to_f32((uint16_t)h)), h);
    }
}

static void test_bf16_conversion(void **state)
{
    (void)state;
    const struct {
        float f;
        uint16_t b;
    } exact[] = {
        {0.0f, 0x0000}, {-0.0f, 0x8000}, {1.0f, 0x3f80}, {-2.0f, 0xc000},
        {3.3895313892515355e38f, 0x7f7f}, /* largest finite */
        {1.1754943508222875e-38f, 0x0080}, /* smallest normal */
        {9.183549615799121e-41f, 0x0001},  /* smallest subnormal */
        {INFINITY, 0x7f80}, {-INFINITY, 0xff80},
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; ++i) {
        assert_int_equal(dvk_f32_to_bf16(exact[i].f), exact[i].b);
        const float back = dvk_bf16_to_f32(exact[i].b);
        assert_memory_equal(&back, &exact[i].f, sizeof back);
    }
    assert_int_equal(dvk_f32_to_bf16(1.0f + 1.0f / 256.0f), 0x3f80); /* tie: to even */
    assert_int_equal(dvk_f32_to_bf16(1.0f + 3.0f / 256.0f), 0x3f82); /* tie: to even (up) */
    assert_int_equal(dvk_f32_to_bf16(1.0f + 1.5f / 256.0f), 0x3f81); /* above the tie */
    assert_int_equal(dvk_f32_to_bf16(3.4e38f), 0x7f80);              /* rounds to infinity */
    assert_true(isnan(dvk_bf16_to_f32(dvk_f32_to_bf16(NAN))));
    for (uint32_t b = 0; b < 0x10000; ++b) {
        if ((b & 0x7f80) == 0x7f80)
            continue;
        assert_int_equal(dvk_f32_to_bf16(dvk_bf16_to_f32((uint16_t)b)), b);
    }
    assert_int_equal(dvk_dtype_size(DVK_DTYPE_BF16), 2);
    assert_int_equal(dvk_dtype_size(DVK_DTYPE_I32), 4);
    assert_string_equal(dvk_dtype_name(DVK_DTYPE_BF16), "bf16");
    assert_string_equal(dvk_dtype_name(DVK_DTYPE_I32), "i32");
    assert_int_equal(dvk_dtype_size((dvk_dtype)9), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_create_and_query, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_create, harness_test_teardown),
        cmocka_unit_test_teardown(test_roundtrip_dtypes, harness_test_teardown),
        cmocka_unit_test_teardown(test_recorded_copies, harness_test_teardown),
        cmocka_unit_test_teardown(test_wrap_buffer, harness_test_teardown),
        cmocka_unit_test_teardown(test_many_small_tensors, harness_test_teardown),
        cmocka_unit_test_teardown(test_f16_conversion, harness_test_teardown),
        cmocka_unit_test_teardown(test_bf16_conversion, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
