/* Tests for the safetensors reader and writer in tools/common. Malformed files are judged by
 * status code only, never by message text, so messages can be reworded freely. Temporary files
 * go to $DVK_TEST_TMPDIR (else /tmp) and are removed. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safetensors.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers */

/* Creates an empty file with a unique name under the test temp dir; the caller removes it. */
static void tmp_path(char *out, size_t len)
{
    const char *dir = getenv("DVK_TEST_TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    const int n = snprintf(out, len, "%s/dvk_st_test_XXXXXX", dir);
    assert_true(n > 0 && (size_t)n < len);
    const int fd = mkstemp(out);
    assert_true(fd >= 0);
    close(fd);
}

/* Raw file bytes: 8-byte little-endian header length, the header as given, then data_len data
 * bytes of a simple pattern. header_len_field lets a test lie about the length. */
static unsigned char *build_raw(uint64_t header_len_field, const char *json, size_t json_len,
                                size_t data_len, size_t *out_len)
{
    const size_t len = 8 + json_len + data_len;
    unsigned char *b = malloc(len);
    assert_non_null(b);
    for (int i = 0; i < 8; ++i)
        b[i] = (unsigned char)(header_len_field >> (8 * i));
    memcpy(b + 8, json, json_len);
    for (size_t i = 0; i < data_len; ++i)
        b[8 + json_len + i] = (unsigned char)(i * 7 + 1);
    *out_len = len;
    return b;
}

static unsigned char *build_file(const char *json, size_t data_len, size_t *out_len)
{
    return build_raw(strlen(json), json, strlen(json), data_len, out_len);
}

/* Parses and frees; checks the failure contract (no object, a message) on the way. */
static dvk_status parse_status(const void *bytes, size_t len)
{
    char err[256] = "";
    dvk_st_file *f = (dvk_st_file *)&err; /* anything non-NULL, to see it reset */
    const dvk_status st = dvk_st_parse(bytes, len, &f, err, sizeof err);
    if (st == DVK_SUCCESS) {
        assert_non_null(f);
        dvk_st_free(f);
    } else {
        assert_null(f);
        assert_true(err[0] != '\0');
        assert_null(strchr(err, '\n'));
    }
    return st;
}

/* Whole file as bytes, for tests that look at what the writer produced. */
static unsigned char *slurp(const char *path, size_t *out_len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    const long n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *out_len = (size_t)n;
    return b;
}

static void spill(const char *path, const void *bytes, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* Saves w, checks the layout promises (data 8-byte aligned, header padded with spaces), and
 * reads the file back with dvk_st_read. The file bytes are returned if raw_out is given. */
static dvk_st_file *save_and_read(const dvk_st_writer *w, unsigned char **raw_out,
                                  size_t *raw_len)
{
    char path[512];
    tmp_path(path, sizeof path);
    char err[256] = "";
    assert_int_equal(dvk_st_writer_save(w, path, err, sizeof err), DVK_SUCCESS);

    size_t len;
    unsigned char *raw = slurp(path, &len);
    assert_true(len >= 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | raw[i];
    assert_int_equal(n % 8, 0);
    assert_true(8 + n <= len);
    assert_int_equal(raw[8], '{');

    dvk_st_file *f = NULL;
    assert_int_equal(dvk_st_read(path, &f, err, sizeof err), DVK_SUCCESS);
    assert_non_null(f);
    assert_int_equal(remove(path), 0);
    if (raw_out) {
        *raw_out = raw;
        *raw_len = len;
    } else {
        free(raw);
    }
    return f;
}

/* Deterministic bytes that differ per tensor. */
static void fill_pattern(unsigned char *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; ++i) {
        x = x * 1664525u + 1013904223u;
        p[i] = (unsigned char)(x >> 24);
    }
}

static uint64_t shape_numel(uint32_t ndim, const uint64_t *shape)
{
    uint64_t n = 1;
    for (uint32_t i = 0; i < ndim; ++i)
        n *= shape[i];
    return n;
}

static void expect_tensor(const dvk_st_tensor *t, const char *name, dvk_st_dtype dtype,
                          uint32_t ndim, const uint64_t *shape, const void *data)
{
    assert_non_null(t);
    assert_string_equal(t->name, name);
    assert_int_equal(t->dtype, dtype);
    assert_int_equal(t->ndim, ndim);
    for (uint32_t d = 0; d < ndim; ++d)
        assert_int_equal(t->shape[d], shape[d]);
    const uint64_t numel = shape_numel(ndim, shape);
    assert_int_equal(t->numel, numel);
    assert_int_equal(t->nbytes, numel * dvk_st_dtype_size(dtype));
    if (t->nbytes > 0)
        assert_memory_equal(t->data, data, (size_t)t->nbytes);
}

/* ---------------------------------------------------------------------------------------------
 * Round trips */

typedef struct shape_case {
    uint32_t ndim;
    uint64_t shape[DVK_ST_MAX_DIMS];
} shape_case;

/* Scalar, empty, odd and full-rank shapes. */
static const shape_case round_trip_shapes[] = {
    {0, {0}},          {1, {1}},          {1, {7}},
    {2, {3, 5}},       {3, {2, 3, 4}},    {2, {0, 3}},
    {4, {1, 2, 1, 3}}, {8, {1, 2, 1, 2, 1, 2, 1, 3}},
};
#define SHAPE_COUNT (sizeof round_trip_shapes / sizeof round_trip_shapes[0])

/* One file per dtype holding every shape above; state points at the dtype. */
static void test_round_trip_dtype(void **state)
{
    const dvk_st_dtype dtype = *(const dvk_st_dtype *)*state;
    const size_t size = dvk_st_dtype_size(dtype);
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);

    unsigned char *data[SHAPE_COUNT];
    char names[SHAPE_COUNT][32];
    for (size_t i = 0; i < SHAPE_COUNT; ++i) {
        const shape_case *s = &round_trip_shapes[i];
        const size_t nbytes = (size_t)shape_numel(s->ndim, s->shape) * size;
        data[i] = malloc(nbytes ? nbytes : 1);
        assert_non_null(data[i]);
        fill_pattern(data[i], nbytes, (uint32_t)(i + 100 * dtype));
        snprintf(names[i], sizeof names[i], "%s.t%zu", dvk_st_dtype_name(dtype), i);
        assert_int_equal(dvk_st_writer_add(w, names[i], dtype, s->ndim, s->shape, data[i]),
                         DVK_SUCCESS);
    }
    dvk_st_file *f = save_and_read(w, NULL, NULL);
    dvk_st_writer_destroy(w);

    assert_int_equal(dvk_st_count(f), SHAPE_COUNT);
    for (size_t i = 0; i < SHAPE_COUNT; ++i) {
        const shape_case *s = &round_trip_shapes[i];
        /* Header order is insertion order, and find agrees with get. */
        expect_tensor(dvk_st_get(f, i), names[i], dtype, s->ndim, s->shape, data[i]);
        assert_ptr_equal(dvk_st_find(f, names[i]), dvk_st_get(f, i));
        free(data[i]);
    }
    assert_null(dvk_st_get(f, SHAPE_COUNT));
    assert_null(dvk_st_find(f, "absent"));
    dvk_st_free(f);
}

static const dvk_st_dtype dtype_f32 = DVK_ST_F32, dtype_f16 = DVK_ST_F16,
                          dtype_bf16 = DVK_ST_BF16, dtype_f64 = DVK_ST_F64,
                          dtype_i32 = DVK_ST_I32, dtype_i64 = DVK_ST_I64, dtype_i16 = DVK_ST_I16,
                          dtype_i8 = DVK_ST_I8, dtype_u8 = DVK_ST_U8, dtype_bool = DVK_ST_BOOL;

/* A scalar is ndim 0 with numel 1, and its value survives. */
static void test_scalar(void **state)
{
    (void)state;
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    const double pi = 3.141592653589793;
    const int64_t big = -1234567890123;
    assert_int_equal(dvk_st_writer_add(w, "pi", DVK_ST_F64, 0, NULL, &pi), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "big", DVK_ST_I64, 0, NULL, &big), DVK_SUCCESS);
    dvk_st_file *f = save_and_read(w, NULL, NULL);
    dvk_st_writer_destroy(w);

    const dvk_st_tensor *t = dvk_st_find(f, "pi");
    assert_non_null(t);
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->numel, 1);
    assert_int_equal(t->nbytes, 8);
    float fv;
    dvk_st_to_f32(t, &fv);
    assert_true(fv == (float)pi);
    int64_t iv = 0;
    t = dvk_st_find(f, "big");
    assert_non_null(t);
    assert_int_equal(t->ndim, 0);
    assert_int_equal(dvk_st_to_i64(t, &iv), DVK_SUCCESS);
    assert_true(iv == big);
    dvk_st_free(f);
}

/* Every dtype in one file: I8/U8/BOOL tensors of odd length put later tensors at odd offsets,
 * so the conversions must cope with unaligned data. */
static void test_mixed_unaligned(void **state)
{
    (void)state;
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    const int8_t i8[3] = {-1, 2, -3};
    const float f32[3] = {1.5f, -2.25f, 1e-3f};
    const uint8_t u8[1] = {250};
    const double f64[2] = {-0.125, 1e10};
    const int32_t i32[3] = {7, -8, 9};
    const uint64_t three = 3, one = 1, two = 2;
    assert_int_equal(dvk_st_writer_add(w, "i8", DVK_ST_I8, 1, &three, i8), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "f32", DVK_ST_F32, 1, &three, f32), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "u8", DVK_ST_U8, 1, &one, u8), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "f64", DVK_ST_F64, 1, &two, f64), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "i32", DVK_ST_I32, 1, &three, i32), DVK_SUCCESS);
    dvk_st_file *f = save_and_read(w, NULL, NULL);
    dvk_st_writer_destroy(w);

    float out[3];
    dvk_st_to_f32(dvk_st_find(f, "f32"), out);
    for (int i = 0; i < 3; ++i)
        assert_true(out[i] == f32[i]);
    dvk_st_to_f32(dvk_st_find(f, "f64"), out);
    assert_true(out[0] == -0.125f && out[1] == 1e10f);
    int64_t iv[3];
    assert_int_equal(dvk_st_to_i64(dvk_st_find(f, "i32"), iv), DVK_SUCCESS);
    assert_true(iv[0] == 7 && iv[1] == -8 && iv[2] == 9);
    assert_int_equal(dvk_st_to_i64(dvk_st_find(f, "u8"), iv), DVK_SUCCESS);
    assert_true(iv[0] == 250);
    dvk_st_free(f);
}

static void test_metadata_round_trip(void **state)
{
    (void)state;
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    static const char *const kv[][2] = {
        {"format", "pt"},
        {"note", "line1\nline2 \"quoted\" back\\slash\ttab"},
        {"unicode \xce\xb4", "delta rule \xe2\x9c\x93"},
        {"", "empty key"},
        {"empty value", ""},
    };
    const size_t n = sizeof kv / sizeof kv[0];
    for (size_t i = 0; i < n; ++i)
        assert_int_equal(dvk_st_writer_set_metadata(w, kv[i][0], kv[i][1]), DVK_SUCCESS);
    /* Setting a key again replaces its value. */
    assert_int_equal(dvk_st_writer_set_metadata(w, "format", "np"), DVK_SUCCESS);
    const float x = 1.0f;
    const uint64_t one = 1;
    assert_int_equal(dvk_st_writer_add(w, "x", DVK_ST_F32, 1, &one, &x), DVK_SUCCESS);
    dvk_st_file *f = save_and_read(w, NULL, NULL);
    dvk_st_writer_destroy(w);

    assert_string_equal(dvk_st_metadata(f, "format"), "np");
    for (size_t i = 1; i < n; ++i)
        assert_string_equal(dvk_st_metadata(f, kv[i][0]), kv[i][1]);
    assert_null(dvk_st_metadata(f, "absent"));
    assert_null(dvk_st_metadata(f, NULL));
    /* The metadata block is not a tensor. */
    assert_int_equal(dvk_st_count(f), 1);
    assert_null(dvk_st_find(f, "__metadata__"));
    dvk_st_free(f);
}

/* A file with nothing in it is still a valid file. */
static void test_empty_writer(void **state)
{
    (void)state;
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    dvk_st_file *f = save_and_read(w, NULL, NULL);
    dvk_st_writer_destroy(w);
    assert_int_equal(dvk_st_count(f), 0);
    assert_null(dvk_st_get(f, 0));
    assert_null(dvk_st_find(f, "x"));
    assert_null(dvk_st_metadata(f, "x"));
    dvk_st_free(f);
}

/* Pins the exact bytes, so a layout change (padding, key order, number printing) is seen. */
static void test_writer_exact_bytes(void **state)
{
    (void)state;
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    const float x[2] = {1.0f, 2.0f};
    const uint64_t two = 2;
    assert_int_equal(dvk_st_writer_add(w, "x", DVK_ST_F32, 1, &two, x), DVK_SUCCESS);
    unsigned char *raw;
    size_t len;
    dvk_st_file *f = save_and_read(w, &raw, &len);
    dvk_st_writer_destroy(w);
    dvk_st_free(f);

    const char json[] = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  ";
    const size_t json_len = sizeof json - 1; /* 54 bytes of JSON + 2 spaces = 56 */
    assert_int_equal(json_len % 8, 0);
    assert_int_equal(len, 8 + json_len + 8);
    const unsigned char len_bytes[8] = {(unsigned char)json_len, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(raw, len_bytes, 8);
    assert_memory_equal(raw + 8, json, json_len);
    assert_memory_equal(raw + 8 + json_len, x, sizeof x);
    free(raw);
}

/* Names the JSON has to escape, and non-ASCII ones, come back unchanged. */
static void test_names_escaped(void **state)
{
    (void)state;
    static const char *const names[] = {
        "layers.0.attn.q_proj.weight", "with \"quotes\" and \\", "tab\tnew\nline",
        "\xc3\xbcnicode \xe2\x88\x86", "", "z", "a",
    };
    const size_t n = sizeof names / sizeof names[0];
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    for (size_t i = 0; i < n; ++i) {
        const int32_t v = (int32_t)i;
        assert_int_equal(dvk_st_writer_add(w, names[i], DVK_ST_I32, 0, NULL, &v), DVK_SUCCESS);
    }
    dvk_st_file *f = save_and_read(w, NULL, NULL);
    dvk_st_writer_destroy(w);
    assert_int_equal(dvk_st_count(f), n);
    for (size_t i = 0; i < n; ++i) {
        assert_string_equal(dvk_st_get(f, i)->name, names[i]);
        const dvk_st_tensor *t = dvk_st_find(f, names[i]);
        assert_ptr_equal(t, dvk_st_get(f, i));
        int64_t v = -1;
        assert_int_equal(dvk_st_to_i64(t, &v), DVK_SUCCESS);
        assert_true(v == (int64_t)i);
    }
    dvk_st_free(f);
}

/* ---------------------------------------------------------------------------------------------
 * Conversions */

typedef struct half_case {
    uint16_t bits;
    float value; /* NAN means "any NaN" */
} half_case;

/* Writes the 16-bit patterns as one tensor, reads them back and converts; compares bit for
 * bit so that -0 is told from +0. */
static void check_half_cases(dvk_st_dtype dtype, const half_case *cases, size_t n)
{
    uint16_t bits[32];
    assert_true(n <= 32);
    for (size_t i = 0; i < n; ++i)
        bits[i] = cases[i].bits;
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    const uint64_t shape = n;
    assert_int_equal(dvk_st_writer_add(w, "h", dtype, 1, &shape, bits), DVK_SUCCESS);
    dvk_st_file *f = save_and_read(w, NULL, NULL);
    dvk_st_writer_destroy(w);

    float out[32];
    dvk_st_to_f32(dvk_st_find(f, "h"), out);
    for (size_t i = 0; i < n; ++i) {
        if (isnan(cases[i].value)) {
            assert_true(isnan(out[i]));
        } else {
            uint32_t got, want;
            memcpy(&got, &out[i], 4);
            memcpy(&want, &cases[i].value, 4);
            if (got != want)
                fail_msg("%s 0x%04x: got %.9g, want %.9g", dvk_st_dtype_name(dtype),
                         cases[i].bits, (double)out[i], (double)cases[i].value);
        }
    }
    int64_t iv[32];
    assert_int_equal(dvk_st_to_i64(dvk_st_find(f, "h"), iv), DVK_ERROR_UNSUPPORTED_DTYPE);
    dvk_st_free(f);
}

static void test_to_f32_f16(void **state)
{
    (void)state;
    static const half_case cases[] = {
        {0x0000, 0.0f},
        {0x8000, -0.0f},
        {0x3C00, 1.0f},
        {0xC000, -2.0f},
        {0x3800, 0.5f},
        {0x3555, 0.333251953125f},
        {0x7BFF, 65504.0f},
        {0x0400, 6.103515625e-05f},        /* smallest normal, 2^-14 */
        {0x0001, 5.9604644775390625e-08f}, /* smallest subnormal, 2^-24 */
        {0x03FF, 6.097555160522461e-05f},  /* largest subnormal */
        {0x7C00, INFINITY},
        {0xFC00, -INFINITY},
        {0x7E00, NAN},
    };
    check_half_cases(DVK_ST_F16, cases, sizeof cases / sizeof cases[0]);
}

static void test_to_f32_bf16(void **state)
{
    (void)state;
    static const half_case cases[] = {
        {0x0000, 0.0f},
        {0x8000, -0.0f},
        {0x3F80, 1.0f},
        {0xC040, -3.0f},
        {0x4049, 3.140625f},
        {0x3F81, 1.0078125f},
        {0x7F7F, 3.38953139e38f},        /* largest finite */
        {0x0080, 1.17549435e-38f},       /* smallest normal, 2^-126 */
        {0x0001, 9.18354962e-41f},       /* smallest subnormal, 2^-133 */
        {0x7F80, INFINITY},
        {0xFF80, -INFINITY},
        {0x7FC0, NAN},
    };
    check_half_cases(DVK_ST_BF16, cases, sizeof cases / sizeof cases[0]);
}

/* Integer and bool dtypes through both conversions, at their extremes. */
static void test_integer_conversions(void **state)
{
    (void)state;
    const int8_t i8[] = {INT8_MIN, -1, 0, INT8_MAX};
    const uint8_t u8[] = {0, 1, 200, UINT8_MAX};
    const int16_t i16[] = {INT16_MIN, -2, 3, INT16_MAX};
    const int32_t i32[] = {INT32_MIN, -5, 16777217, INT32_MAX};
    const int64_t i64[] = {INT64_MIN, -3, (int64_t)1 << 40, INT64_MAX};
    const uint8_t b[] = {0, 1, 0, 2}; /* any nonzero byte is true */
    const struct {
        const char *name;
        dvk_st_dtype dtype;
        const void *data;
        int64_t want[4];
    } cases[] = {
        {"i8", DVK_ST_I8, i8, {INT8_MIN, -1, 0, INT8_MAX}},
        {"u8", DVK_ST_U8, u8, {0, 1, 200, UINT8_MAX}},
        {"i16", DVK_ST_I16, i16, {INT16_MIN, -2, 3, INT16_MAX}},
        {"i32", DVK_ST_I32, i32, {INT32_MIN, -5, 16777217, INT32_MAX}},
        {"i64", DVK_ST_I64, i64, {INT64_MIN, -3, (int64_t)1 << 40, INT64_MAX}},
        {"bool", DVK_ST_BOOL, b, {0, 1, 0, 1}},
    };
    const size_t n = sizeof cases / sizeof cases[0];
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    const uint64_t four = 4;
    for (size_t i = 0; i < n; ++i)
        assert_int_equal(dvk_st_writer_add(w, cases[i].name, cases[i].dtype, 1, &four,
                                           cases[i].data),
                         DVK_SUCCESS);
    dvk_st_file *f = save_and_read(w, NULL, NULL);
    dvk_st_writer_destroy(w);

    for (size_t i = 0; i < n; ++i) {
        const dvk_st_tensor *t = dvk_st_find(f, cases[i].name);
        int64_t iv[4];
        float fv[4];
        assert_int_equal(dvk_st_to_i64(t, iv), DVK_SUCCESS);
        dvk_st_to_f32(t, fv);
        for (int j = 0; j < 4; ++j) {
            assert_true(iv[j] == cases[i].want[j]);
            assert_true(fv[j] == (float)cases[i].want[j]);
        }
    }
    int64_t iv[4];
    assert_int_equal(dvk_st_to_i64(NULL, iv), DVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(dvk_st_to_i64(dvk_st_find(f, "i8"), NULL), DVK_ERROR_INVALID_ARGUMENT);
    dvk_st_free(f);
}

/* to_i64 refuses every float dtype, whatever the data. */
static void test_to_i64_float_dtypes(void **state)
{
    (void)state;
    const dvk_st_dtype floats[] = {DVK_ST_F64, DVK_ST_F32, DVK_ST_F16, DVK_ST_BF16};
    const unsigned char zeros[8] = {0};
    for (size_t i = 0; i < 4; ++i) {
        const dvk_st_tensor t = {.name = "t", .dtype = floats[i], .numel = 1, .data = zeros,
                                 .nbytes = dvk_st_dtype_size(floats[i])};
        int64_t v;
        assert_int_equal(dvk_st_to_i64(&t, &v), DVK_ERROR_UNSUPPORTED_DTYPE);
    }
}

static void test_dtype_names_and_sizes(void **state)
{
    (void)state;
    const struct {
        dvk_st_dtype dtype;
        const char *name;
        size_t size;
    } cases[] = {
        {DVK_ST_F64, "F64", 8}, {DVK_ST_F32, "F32", 4}, {DVK_ST_F16, "F16", 2},
        {DVK_ST_BF16, "BF16", 2}, {DVK_ST_I64, "I64", 8}, {DVK_ST_I32, "I32", 4},
        {DVK_ST_I16, "I16", 2}, {DVK_ST_I8, "I8", 1}, {DVK_ST_U8, "U8", 1},
        {DVK_ST_BOOL, "BOOL", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        assert_string_equal(dvk_st_dtype_name(cases[i].dtype), cases[i].name);
        assert_int_equal(dvk_st_dtype_size(cases[i].dtype), cases[i].size);
    }
    assert_int_equal(dvk_st_dtype_size((dvk_st_dtype)99), 0);
    assert_int_equal(dvk_st_dtype_size((dvk_st_dtype)-1), 0);
    assert_string_equal(dvk_st_dtype_name((dvk_st_dtype)99), "invalid");
}

/* ---------------------------------------------------------------------------------------------
 * Malformed input */

static void test_too_short(void **state)
{
    (void)state;
    const unsigned char seven[7] = {0};
    assert_int_equal(parse_status(NULL, 0), DVK_ERROR_FORMAT);
    assert_int_equal(parse_status(seven, 0), DVK_ERROR_FORMAT); /* empty buffer */
    for (size_t n = 1; n <= 7; ++n)
        assert_int_equal(parse_status(seven, n), DVK_ERROR_FORMAT);
}

/* Cases whose header length field does not match the bytes. */
static void test_bad_header_length(void **state)
{
    (void)state;
    const char json[] = "{}      ";
    const struct {
        const char *what;
        uint64_t field;
    } cases[] = {
        {"zero-length header", 0},
        {"one past the file", sizeof json},
        {"far beyond the file", 1000},
        {"just over the 100 MB limit", 100000001},
        {"2^63", (uint64_t)1 << 63},
        {"all ones", UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        size_t len;
        unsigned char *b = build_raw(cases[i].field, json, sizeof json - 1, 0, &len);
        if (parse_status(b, len) != DVK_ERROR_FORMAT)
            fail_msg("%s: not refused", cases[i].what);
        free(b);
    }
}

/* Headers that are not proper JSON text of the right length. */
static void test_bad_header_bytes(void **state)
{
    (void)state;
    const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } cases[] = {
        {"NUL after the object", "{}\0     ", 8},
        {"NUL inside the object", "{\0}     ", 8},
        {"control byte inside a string", "{\"a\x01\":1}", 8},
        {"form feed as whitespace", "{\f}", 3},
        {"invalid UTF-8 in a key", "{\"\xff\":1}", 7},
        {"overlong UTF-8", "{\"\xc0\xaf\":1}", 8},
        {"UTF-8 surrogate", "{\"\xed\xa0\x80\":1}", 9},
        {"cut UTF-8 sequence at the end", "{}\xe2\x9c", 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        size_t len;
        unsigned char *b = build_raw(cases[i].len, cases[i].bytes, cases[i].len, 0, &len);
        if (parse_status(b, len) != DVK_ERROR_FORMAT)
            fail_msg("%s: not refused", cases[i].what);
        free(b);
    }
}

typedef struct json_case {
    const char *what;
    const char *json;
    size_t data_len; /* bytes of data after the header */
} json_case;

/* One F32 tensor of 2 elements is {"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}. */
#define T_(body) "{\"a\":{" body "}}"
static const json_case malformed[] = {
    {"invalid JSON", "{\"a\": {\"dtype\": \"F32\",", 8},
    {"bare word", "hello", 0},
    {"top-level array", "[1, 2]", 0},
    {"top-level string", "\"x\"", 0},
    {"top-level null", "null", 0},
    {"trailing garbage after the object", "{} x", 0},
    {"two objects", "{}{}", 0},
    {"tensor entry is a number", "{\"a\": 5}", 8},
    {"tensor entry is an array", "{\"a\": [\"F32\", [2], [0, 8]]}", 8},
    {"tensor entry is null", "{\"a\": null}", 8},
    {"missing dtype", T_("\"shape\":[2],\"data_offsets\":[0,8]"), 8},
    {"dtype not a string", T_("\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]"), 8},
    {"unknown dtype", T_("\"dtype\":\"F17\",\"shape\":[2],\"data_offsets\":[0,8]"), 8},
    {"lower-case dtype", T_("\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]"), 8},
    {"dtype outside our set", T_("\"dtype\":\"U16\",\"shape\":[4],\"data_offsets\":[0,8]"), 8},
    {"missing shape", T_("\"dtype\":\"F32\",\"data_offsets\":[0,8]"), 8},
    {"shape not an array", T_("\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]"), 8},
    {"negative shape", T_("\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]"), 8},
    {"fractional shape", T_("\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]"), 10},
    {"string in shape", T_("\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]"), 8},
    {"null in shape", T_("\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,8]"), 8},
    {"nested array in shape", T_("\"dtype\":\"F32\",\"shape\":[[2]],\"data_offsets\":[0,8]"), 8},
    {"shape of 2^53", T_("\"dtype\":\"U8\",\"shape\":[9007199254740992],\"data_offsets\":[0,8]"),
     8},
    {"shape of 1e999", T_("\"dtype\":\"U8\",\"shape\":[1e999],\"data_offsets\":[0,8]"), 8},
    {"nine dimensions",
     T_("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]"), 8},
    {"element count overflows 64 bits",
     T_("\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]"),
     8},
    {"byte count overflows 64 bits",
     T_("\"dtype\":\"F64\",\"shape\":[4294967296,536870912],\"data_offsets\":[0,8]"), 8},
    {"missing data_offsets", T_("\"dtype\":\"F32\",\"shape\":[2]"), 8},
    {"data_offsets not an array", T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":8"), 8},
    {"data_offsets with one entry", T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]"), 8},
    {"data_offsets with three entries",
     T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]"), 8},
    {"data_offsets negative", T_("\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[-1,-1]"), 8},
    {"data_offsets fractional",
     T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.5,8.5]"), 9},
    {"data_offsets strings", T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\"0\",\"8\"]"),
     8},
    {"begin after end", T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]"), 8},
    {"end beyond the data buffer", T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]"),
     8},
    {"truncated data", T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 7},
    {"no data at all", T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 0},
    {"offsets too short for the shape",
     T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]"), 8},
    {"offsets too long for the shape",
     T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]"), 12},
    {"scalar with empty range", T_("\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,0]"), 8},
    {"overlapping tensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12},
    {"same range twice",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     8},
    {"bad tensor whose name holds a newline", "{\"line\\nbreak\": 5}", 0},
    {"duplicate tensor name",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     8},
    {"metadata not an object", "{\"__metadata__\": [\"a\"]}", 0},
    {"metadata is a string", "{\"__metadata__\": \"a\"}", 0},
    {"metadata value a number", "{\"__metadata__\": {\"k\": 1}}", 0},
    {"metadata value null", "{\"__metadata__\": {\"k\": null}}", 0},
    {"metadata value an object", "{\"__metadata__\": {\"k\": {}}}", 0},
    {"duplicate metadata key", "{\"__metadata__\": {\"k\": \"1\", \"k\": \"2\"}}", 0},
    {"metadata twice", "{\"__metadata__\": {}, \"__metadata__\": {}}", 0},
};

static void test_malformed_json(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; ++i) {
        size_t len;
        unsigned char *b = build_file(malformed[i].json, malformed[i].data_len, &len);
        const dvk_status st = parse_status(b, len);
        if (st != DVK_ERROR_FORMAT)
            fail_msg("%s: got status %d, want DVK_ERROR_FORMAT", malformed[i].what, (int)st);
        free(b);
    }
}

/* Files the format allows, including the choices documented in safetensors.h. */
static const json_case accepted[] = {
    {"plain", T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 8},
    {"padded with spaces", T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]") "     ",
     8},
    {"padded with other whitespace",
     T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]") " \n\t\r ", 8},
    {"pretty-printed",
     "{\n  \"a\": {\n    \"dtype\": \"F32\",\n    \"shape\": [ 2 ],\n"
     "    \"data_offsets\": [ 0, 8 ]\n  }\n}\n",
     8},
    {"empty object", "{}", 0},
    {"empty object with data after it", "{}", 16},
    {"unknown field ignored",
     T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":[1,{}]"), 8},
    {"scalar", T_("\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]"), 4},
    {"zero-size tensor", T_("\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[8,8]"), 8},
    {"zero-size tensor at the very end",
     T_("\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]"), 0},
    {"zero-size tensors sharing an offset",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
     "\"b\":{\"dtype\":\"I8\",\"shape\":[0],\"data_offsets\":[4,4]},"
     "\"c\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     4},
    {"gap between tensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
     12},
    {"header order differs from data order",
     "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     8},
    {"odd offset", T_("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[3,7]"), 7},
    {"metadata", "{\"__metadata__\":{\"k\":\"v\",\"k2\":\"\"}}", 0},
    {"null metadata", "{\"__metadata__\":null}", 0},
    {"eight dimensions",
     T_("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]"), 8},
    {"integral exponent form", T_("\"dtype\":\"U8\",\"shape\":[1e1],\"data_offsets\":[0,10]"),
     10},
};
#undef T_

static void test_accepted_json(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; ++i) {
        size_t len;
        unsigned char *b = build_file(accepted[i].json, accepted[i].data_len, &len);
        const dvk_status st = parse_status(b, len);
        if (st != DVK_SUCCESS)
            fail_msg("%s: got status %d, want DVK_SUCCESS", accepted[i].what, (int)st);
        free(b);
    }
}

/* Offsets are relative to the data buffer, and data points at the right bytes. */
static void test_offsets_point_into_data(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = build_file("{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[5,7]},"
                                  "\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[1,4]}}",
                                  8, &len);
    dvk_st_file *f = NULL;
    assert_int_equal(dvk_st_parse(b, len, &f, NULL, 0), DVK_SUCCESS);
    free(b); /* parse copied the buffer */
    assert_int_equal(dvk_st_count(f), 2);
    assert_string_equal(dvk_st_get(f, 0)->name, "b");
    assert_string_equal(dvk_st_get(f, 1)->name, "a");
    int64_t v[3];
    assert_int_equal(dvk_st_to_i64(dvk_st_find(f, "a"), v), DVK_SUCCESS);
    assert_true(v[0] == (uint8_t)(1 * 7 + 1) && v[1] == (uint8_t)(2 * 7 + 1) &&
                v[2] == (uint8_t)(3 * 7 + 1));
    assert_int_equal(dvk_st_to_i64(dvk_st_find(f, "b"), v), DVK_SUCCESS);
    assert_true(v[0] == (uint8_t)(5 * 7 + 1) && v[1] == (uint8_t)(6 * 7 + 1));
    dvk_st_free(f);
}

/* Every proper prefix of a valid file is refused, without crashing or reading out of bounds
 * (the sanitizers watch the second part). */
static void test_every_truncation(void **state)
{
    (void)state;
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_set_metadata(w, "format", "pt"), DVK_SUCCESS);
    const float a[3] = {1, 2, 3};
    const uint16_t h[5] = {0x3C00, 0x4000, 0, 0x8000, 0x7BFF};
    const int64_t s = 42;
    const uint64_t three = 3, shape_h[2] = {5, 1};
    assert_int_equal(dvk_st_writer_add(w, "a", DVK_ST_F32, 1, &three, a), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "h", DVK_ST_F16, 2, shape_h, h), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "s", DVK_ST_I64, 0, NULL, &s), DVK_SUCCESS);
    unsigned char *raw;
    size_t len;
    dvk_st_file *f = save_and_read(w, &raw, &len);
    dvk_st_writer_destroy(w);
    dvk_st_free(f);

    for (size_t n = 0; n < len; ++n) {
        /* An exact-size heap copy, so that any over-read trips AddressSanitizer. */
        unsigned char *prefix = malloc(n ? n : 1);
        assert_non_null(prefix);
        memcpy(prefix, raw, n);
        if (parse_status(prefix, n) == DVK_SUCCESS)
            fail_msg("prefix of %zu of %zu bytes was accepted", n, len);
        free(prefix);
    }
    assert_int_equal(parse_status(raw, len), DVK_SUCCESS);

    /* The same through a file, once. */
    char path[512];
    tmp_path(path, sizeof path);
    spill(path, raw, len - 1);
    char err[256] = "";
    f = (dvk_st_file *)&err;
    assert_int_equal(dvk_st_read(path, &f, err, sizeof err), DVK_ERROR_FORMAT);
    assert_null(f);
    assert_non_null(strstr(err, path)); /* read names the file */
    assert_int_equal(remove(path), 0);
    free(raw);
}

static void test_read_io_errors(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path);
    assert_int_equal(remove(path), 0); /* a name that surely does not exist */
    char err[256] = "";
    dvk_st_file *f = (dvk_st_file *)&err;
    assert_int_equal(dvk_st_read(path, &f, err, sizeof err), DVK_ERROR_IO);
    assert_null(f);
    assert_true(err[0] != '\0');

    /* A directory opens on some systems but cannot be read. */
    const char *dir = getenv("DVK_TEST_TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    assert_int_equal(dvk_st_read(dir, &f, NULL, 0), DVK_ERROR_IO);
    assert_null(f);
}

/* ---------------------------------------------------------------------------------------------
 * Argument checking */

static void test_writer_rejects(void **state)
{
    (void)state;
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(NULL), DVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    const float x[4] = {0};
    const uint64_t two = 2, nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    const uint64_t too_big[1] = {(uint64_t)1 << 53}, almost[1] = {((uint64_t)1 << 53) - 1};
    const uint64_t overflow[3] = {(uint64_t)1 << 30, (uint64_t)1 << 30, (uint64_t)1 << 30};
    const uint64_t zero = 0;
    assert_int_equal(dvk_st_writer_add(w, "x", DVK_ST_F32, 1, &two, x), DVK_SUCCESS);

    const struct {
        const char *what;
        dvk_status got;
    } cases[] = {
        {"NULL writer", dvk_st_writer_add(NULL, "y", DVK_ST_F32, 1, &two, x)},
        {"NULL name", dvk_st_writer_add(w, NULL, DVK_ST_F32, 1, &two, x)},
        {"duplicate name", dvk_st_writer_add(w, "x", DVK_ST_F32, 1, &two, x)},
        {"reserved name", dvk_st_writer_add(w, "__metadata__", DVK_ST_F32, 1, &two, x)},
        {"name not UTF-8", dvk_st_writer_add(w, "bad\xff", DVK_ST_F32, 1, &two, x)},
        {"bad dtype", dvk_st_writer_add(w, "y", (dvk_st_dtype)99, 1, &two, x)},
        {"nine dims", dvk_st_writer_add(w, "y", DVK_ST_F32, 9, nine, x)},
        {"NULL shape", dvk_st_writer_add(w, "y", DVK_ST_F32, 1, NULL, x)},
        {"NULL data", dvk_st_writer_add(w, "y", DVK_ST_F32, 1, &two, NULL)},
        {"dim of 2^53", dvk_st_writer_add(w, "y", DVK_ST_U8, 1, too_big, x)},
        {"2^90 elements", dvk_st_writer_add(w, "y", DVK_ST_U8, 3, overflow, x)},
        {"data past 2^53 in total", dvk_st_writer_add(w, "y", DVK_ST_U8, 1, almost, x)},
        {"NULL metadata writer", dvk_st_writer_set_metadata(NULL, "k", "v")},
        {"NULL metadata key", dvk_st_writer_set_metadata(w, NULL, "v")},
        {"NULL metadata value", dvk_st_writer_set_metadata(w, "k", NULL)},
        {"metadata value not UTF-8", dvk_st_writer_set_metadata(w, "k", "\xc3")},
        {"NULL save path", dvk_st_writer_save(w, NULL, NULL, 0)},
        {"NULL save writer", dvk_st_writer_save(NULL, "unused.safetensors", NULL, 0)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        if (cases[i].got != DVK_ERROR_INVALID_ARGUMENT)
            fail_msg("%s: got status %d", cases[i].what, (int)cases[i].got);

    /* No data is needed when there are no bytes. */
    assert_int_equal(dvk_st_writer_add(w, "empty", DVK_ST_F32, 1, &zero, NULL), DVK_SUCCESS);

    char err[256] = "";
    assert_int_equal(dvk_st_writer_save(w, "/nonexistent-dir-dvk/x.safetensors", err, sizeof err),
                     DVK_ERROR_IO);
    assert_true(err[0] != '\0');
    dvk_st_writer_destroy(w);
}

static void test_null_handles(void **state)
{
    (void)state;
    dvk_st_free(NULL);
    dvk_st_writer_destroy(NULL);
    assert_int_equal(dvk_st_count(NULL), 0);
    assert_null(dvk_st_get(NULL, 0));
    assert_null(dvk_st_find(NULL, "x"));
    assert_null(dvk_st_metadata(NULL, "x"));
    dvk_st_to_f32(NULL, NULL);
    const unsigned char eight[8] = {0};
    assert_int_equal(dvk_st_parse(eight, 8, NULL, NULL, 0), DVK_ERROR_INVALID_ARGUMENT);
    dvk_st_file *f = (dvk_st_file *)&f;
    assert_int_equal(dvk_st_parse(NULL, 8, &f, NULL, 0), DVK_ERROR_INVALID_ARGUMENT);
    assert_null(f);
    assert_int_equal(dvk_st_read(NULL, &f, NULL, 0), DVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(dvk_st_read("unused.safetensors", NULL, NULL, 0), DVK_ERROR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_round_trip_dtype, (void *)&dtype_f32),
        cmocka_unit_test_prestate(test_round_trip_dtype, (void *)&dtype_f16),
        cmocka_unit_test_prestate(test_round_trip_dtype, (void *)&dtype_bf16),
        cmocka_unit_test_prestate(test_round_trip_dtype, (void *)&dtype_f64),
        cmocka_unit_test_prestate(test_round_trip_dtype, (void *)&dtype_i32),
        cmocka_unit_test_prestate(test_round_trip_dtype, (void *)&dtype_i64),
        cmocka_unit_test_prestate(test_round_trip_dtype, (void *)&dtype_i16),
        cmocka_unit_test_prestate(test_round_trip_dtype, (void *)&dtype_i8),
        cmocka_unit_test_prestate(test_round_trip_dtype, (void *)&dtype_u8),
        cmocka_unit_test_prestate(test_round_trip_dtype, (void *)&dtype_bool),
        cmocka_unit_test(test_scalar),
        cmocka_unit_test(test_mixed_unaligned),
        cmocka_unit_test(test_metadata_round_trip),
        cmocka_unit_test(test_empty_writer),
        cmocka_unit_test(test_writer_exact_bytes),
        cmocka_unit_test(test_names_escaped),
        cmocka_unit_test(test_to_f32_f16),
        cmocka_unit_test(test_to_f32_bf16),
        cmocka_unit_test(test_integer_conversions),
        cmocka_unit_test(test_to_i64_float_dtypes),
        cmocka_unit_test(test_dtype_names_and_sizes),
        cmocka_unit_test(test_too_short),
        cmocka_unit_test(test_bad_header_length),
        cmocka_unit_test(test_bad_header_bytes),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_accepted_json),
        cmocka_unit_test(test_offsets_point_into_data),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_read_io_errors),
        cmocka_unit_test(test_writer_rejects),
        cmocka_unit_test(test_null_handles),
    };
    return cmocka_run_group_tests_name("safetensors", tests, NULL, NULL);
}
