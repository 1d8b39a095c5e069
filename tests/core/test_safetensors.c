/* Tests for the safetensors writer in tools/common (the tool's --out, and the tests' files).
 * What it writes is read back with the library's reader in host-only mode (dvk_weights with no
 * context: no device is needed), and the bytes themselves are checked where the layout is
 * promised. The reader's own cases are in test_weights.c. Temporary files go to
 * $DVK_TEST_TMPDIR (else /tmp) and are removed. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
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

/* Whole file as bytes. */
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

/* A saved file: its bytes, where its data start, and the library's host-only view of it. */
typedef struct saved {
    unsigned char *raw;
    size_t len;
    size_t data; /* offset of the data buffer: 8 + header length */
    dvk_weights *w;
} saved;

/* Saves w, checks the layout promises (data 8-byte aligned, header padded with spaces after
 * one JSON object), and reads the file back with dvk_weights_load (no context). */
static saved save_and_read(const dvk_st_writer *w)
{
    char path[512];
    tmp_path(path, sizeof path);
    char err[256] = "";
    assert_int_equal(dvk_st_writer_save(w, path, err, sizeof err), DVK_SUCCESS);

    saved s = {0};
    s.raw = slurp(path, &s.len);
    assert_true(s.len >= 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | s.raw[i];
    assert_int_equal(n % 8, 0);
    assert_true(8 + n <= s.len);
    assert_int_equal(s.raw[8], '{');
    size_t end = 8 + (size_t)n;
    while (end > 8 && s.raw[end - 1] == ' ')
        --end;
    assert_int_equal(s.raw[end - 1], '}');
    assert_true(8 + n - end < 8); /* padding only up to the alignment */
    s.data = 8 + (size_t)n;

    if (dvk_weights_load(NULL, path, NULL, &s.w) != DVK_SUCCESS)
        fail_msg("reading back: %s", dvk_last_error());
    assert_int_equal(remove(path), 0);
    return s;
}

static void saved_free(saved *s)
{
    dvk_weights_destroy(s->w);
    free(s->raw);
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

/* The entry's name, dtype and shape as the reader sees them. */
static void expect_entry(const dvk_weights *w, const char *name, dvk_st_dtype dtype,
                         uint32_t ndim, const uint64_t *shape)
{
    dvk_weights_entry e;
    if (dvk_weights_find(w, name, &e) != DVK_SUCCESS)
        fail_msg("%s", dvk_last_error());
    assert_string_equal(e.name, name);
    assert_string_equal(e.file_dtype, dvk_st_dtype_name(dtype));
    assert_int_equal(e.ndim, ndim);
    for (uint32_t d = 0; d < ndim; ++d)
        assert_int_equal(e.shape[d], shape[d]);
    assert_int_equal(e.numel, shape_numel(ndim, shape));
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

/* One file per dtype holding every shape above; state points at the dtype. The data are packed
 * in insertion order right after the header. */
static void test_round_trip_dtype(void **state)
{
    const dvk_st_dtype dtype = *(const dvk_st_dtype *)*state;
    const size_t size = dvk_st_dtype_size(dtype);
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);

    unsigned char *data[SHAPE_COUNT];
    size_t nbytes[SHAPE_COUNT];
    char names[SHAPE_COUNT][32];
    for (size_t i = 0; i < SHAPE_COUNT; ++i) {
        const shape_case *s = &round_trip_shapes[i];
        nbytes[i] = (size_t)shape_numel(s->ndim, s->shape) * size;
        data[i] = malloc(nbytes[i] ? nbytes[i] : 1);
        assert_non_null(data[i]);
        fill_pattern(data[i], nbytes[i], (uint32_t)(i + 100 * dtype));
        snprintf(names[i], sizeof names[i], "%s.t%zu", dvk_st_dtype_name(dtype), i);
        assert_int_equal(dvk_st_writer_add(w, names[i], dtype, s->ndim, s->shape, data[i]),
                         DVK_SUCCESS);
    }
    saved f = save_and_read(w);
    dvk_st_writer_destroy(w);

    assert_int_equal(dvk_weights_count(f.w), SHAPE_COUNT);
    size_t offset = f.data;
    for (size_t i = 0; i < SHAPE_COUNT; ++i) {
        const shape_case *s = &round_trip_shapes[i];
        /* header order is insertion order */
        assert_string_equal(dvk_weights_name(f.w, (uint32_t)i), names[i]);
        expect_entry(f.w, names[i], dtype, s->ndim, s->shape);
        assert_true(offset + nbytes[i] <= f.len);
        if (nbytes[i] > 0)
            assert_memory_equal(f.raw + offset, data[i], nbytes[i]);
        offset += nbytes[i];
        free(data[i]);
    }
    assert_int_equal(offset, f.len); /* nothing after the last tensor */
    assert_null(dvk_weights_name(f.w, SHAPE_COUNT));
    saved_free(&f);
}

static const dvk_st_dtype dtype_f32 = DVK_ST_F32, dtype_f16 = DVK_ST_F16,
                          dtype_bf16 = DVK_ST_BF16, dtype_f64 = DVK_ST_F64,
                          dtype_i32 = DVK_ST_I32, dtype_i64 = DVK_ST_I64, dtype_i16 = DVK_ST_I16,
                          dtype_i8 = DVK_ST_I8, dtype_u8 = DVK_ST_U8, dtype_bool = DVK_ST_BOOL;

static void test_metadata_round_trip(void **state)
{
    (void)state;
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    static const char *const kv[][2] = {
        {"format", "pt"},
        {"note", "line1\nline2 \"quoted\" back\\slash\ttab \x01 \x1f"},
        {"unicode \xce\xb4", "delta rule \xe2\x9c\x93 \xf0\x9f\x98\x80"},
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
    saved f = save_and_read(w);
    dvk_st_writer_destroy(w);

    assert_string_equal(dvk_weights_metadata(f.w, "format"), "np");
    for (size_t i = 1; i < n; ++i)
        assert_string_equal(dvk_weights_metadata(f.w, kv[i][0]), kv[i][1]);
    assert_null(dvk_weights_metadata(f.w, "absent"));
    assert_null(dvk_weights_metadata(f.w, NULL));
    /* The metadata block is not a tensor. */
    assert_int_equal(dvk_weights_count(f.w), 1);
    assert_int_equal(dvk_weights_find(f.w, "__metadata__", &(dvk_weights_entry){0}),
                     DVK_ERROR_NOT_FOUND);
    saved_free(&f);
}

/* A file with nothing in it is still a valid file. */
static void test_empty_writer(void **state)
{
    (void)state;
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    saved f = save_and_read(w);
    dvk_st_writer_destroy(w);
    assert_int_equal(dvk_weights_count(f.w), 0);
    assert_null(dvk_weights_name(f.w, 0));
    assert_null(dvk_weights_metadata(f.w, "x"));
    assert_int_equal(f.len, 16); /* "{}" padded to 8 */
    saved_free(&f);
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
    saved f = save_and_read(w);
    dvk_st_writer_destroy(w);

    const char json[] = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  ";
    const size_t json_len = sizeof json - 1; /* 54 bytes of JSON + 2 spaces = 56 */
    assert_int_equal(json_len % 8, 0);
    assert_int_equal(f.len, 8 + json_len + 8);
    const unsigned char len_bytes[8] = {(unsigned char)json_len, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(f.raw, len_bytes, 8);
    assert_memory_equal(f.raw + 8, json, json_len);
    assert_memory_equal(f.raw + 8 + json_len, x, sizeof x);
    saved_free(&f);

    /* metadata first, then tensors in insertion order; large integers as plain digits */
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    const uint64_t big[2] = {(uint64_t)1 << 52, 0};
    assert_int_equal(dvk_st_writer_add(w, "e", DVK_ST_U8, 2, big, NULL), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "x", DVK_ST_F32, 1, &two, x), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_set_metadata(w, "k", "v"), DVK_SUCCESS);
    f = save_and_read(w);
    dvk_st_writer_destroy(w);
    const char json2[] = "{\"__metadata__\":{\"k\":\"v\"},"
                         "\"e\":{\"dtype\":\"U8\",\"shape\":[4503599627370496,0],"
                         "\"data_offsets\":[0,0]},"
                         "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    assert_memory_equal(f.raw + 8, json2, sizeof json2 - 1);
    saved_free(&f);
}

/* Names the JSON has to escape, and non-ASCII ones, come back unchanged. */
static void test_names_escaped(void **state)
{
    (void)state;
    static const char *const names[] = {
        "layers.0.attn.q_proj.weight", "with \"quotes\" and \\ and /", "tab\tnew\nline\r\b\f",
        "ctrl \x01\x1f\x7f", "\xc3\xbcnicode \xe2\x88\x86 \xf0\x9f\x98\x80", "", "z", "a",
    };
    const size_t n = sizeof names / sizeof names[0];
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    for (size_t i = 0; i < n; ++i) {
        const int32_t v = (int32_t)i;
        assert_int_equal(dvk_st_writer_add(w, names[i], DVK_ST_I32, 0, NULL, &v), DVK_SUCCESS);
    }
    saved f = save_and_read(w);
    dvk_st_writer_destroy(w);
    assert_int_equal(dvk_weights_count(f.w), n);
    for (size_t i = 0; i < n; ++i) {
        assert_string_equal(dvk_weights_name(f.w, (uint32_t)i), names[i]);
        int32_t v = -1;
        assert_int_equal(dvk_weights_read(f.w, names[i], DVK_DTYPE_I32, &v, sizeof v),
                         DVK_SUCCESS);
        assert_int_equal(v, (int32_t)i);
    }
    saved_free(&f);
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
    assert_null(strchr(err, '\n'));
    dvk_st_writer_destroy(w);
    dvk_st_writer_destroy(NULL);
}

/* ---------------------------------------------------------------------------------------------
 * Safe output: nothing that existed is lost when a save fails */

/* A fresh directory under the test temp dir; the caller removes it (rm_dir). */
static void tmp_dir(char *out, size_t len)
{
    const char *dir = getenv("DVK_TEST_TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    const int n = snprintf(out, len, "%s/dvk_st_dir_XXXXXX", dir);
    assert_true(n > 0 && (size_t)n < len);
    assert_non_null(mkdtemp(out));
}

/* The number of entries of `dir` other than . and .. (a failed save must leave none of its
 * own). */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void expect_text(const char *path, const char *text)
{
    size_t n = 0;
    unsigned char *b = slurp(path, &n);
    assert_int_equal(n, strlen(text));
    assert_memory_equal(b, text, n);
    free(b);
}

/* A writer of one 64 KiB tensor. */
static dvk_st_writer *big_writer(void)
{
    static unsigned char bytes[1 << 16];
    fill_pattern(bytes, sizeof bytes, 7);
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    const uint64_t n = sizeof bytes;
    assert_int_equal(dvk_st_writer_add(w, "x", DVK_ST_U8, 1, &n, bytes), DVK_SUCCESS);
    return w;
}

/* A disk that fills up mid-write (a file-size limit: writes past it fail with EFBIG): the
 * existing output keeps its old bytes, and the save leaves no file of its own behind. */
static void test_failed_save_keeps_existing_file(void **state)
{
    (void)state;
    char dir[512], path[600];
    tmp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/out.safetensors", dir);
    write_text(path, "the previous contents");
    dvk_st_writer *w = big_writer();

    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of the signal */
    const struct rlimit small = {.rlim_cur = 4096, .rlim_max = old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    char err[256] = "";
    const dvk_status st = dvk_st_writer_save(w, path, err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);

    assert_int_equal(st, DVK_ERROR_IO);
    assert_non_null(strstr(err, "out.safetensors"));
    expect_text(path, "the previous contents");
    assert_int_equal(dir_entries(dir), 1);

    /* the same save with room succeeds and replaces the file */
    assert_int_equal(dvk_st_writer_save(w, path, err, sizeof err), DVK_SUCCESS);
    dvk_weights *r = NULL;
    assert_int_equal(dvk_weights_load(NULL, path, NULL, &r), DVK_SUCCESS);
    assert_int_equal(dvk_weights_count(r), 1);
    dvk_weights_destroy(r);
    assert_int_equal(dir_entries(dir), 1);
    dvk_st_writer_destroy(w);
    assert_int_equal(remove(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* Targets that cannot be written or must not be replaced: an error, and nothing changed. */
static void test_save_refuses_and_keeps(void **state)
{
    (void)state;
    char dir[512], path[600], sub[600];
    tmp_dir(dir, sizeof dir);
    dvk_st_writer *w = big_writer();
    char err[256] = "";

    /* an existing output in a directory where no new file can be made: it cannot be replaced
     * safely, so it is not touched at all (root may write anywhere: checked only as a user) */
    snprintf(path, sizeof path, "%s/out.safetensors", dir);
    write_text(path, "kept");
    if (geteuid() != 0) {
        assert_int_equal(chmod(dir, 0555), 0);
        assert_int_equal(dvk_st_writer_save(w, path, err, sizeof err), DVK_ERROR_IO);
        assert_int_equal(chmod(dir, 0755), 0);
        expect_text(path, "kept");
        assert_int_equal(dir_entries(dir), 1);
        /* a read-only file in a writable directory: rename could replace it, but is not let */
        assert_int_equal(chmod(path, 0444), 0);
        assert_int_equal(dvk_st_writer_save(w, path, err, sizeof err), DVK_ERROR_IO);
        assert_non_null(strstr(err, "not writable"));
        expect_text(path, "kept");
        assert_int_equal(chmod(path, 0644), 0);
    }
    /* a directory, and a device, are not replaced by a file */
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(dvk_st_writer_save(w, sub, err, sizeof err), DVK_ERROR_IO);
    assert_non_null(strstr(err, "not a regular file"));
    struct stat sb;
    assert_int_equal(stat(sub, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(rmdir(sub), 0);
    assert_int_equal(dvk_st_writer_save(w, "/dev/null", err, sizeof err), DVK_ERROR_IO);
    assert_int_equal(stat("/dev/null", &sb), 0);
    assert_true(S_ISCHR(sb.st_mode));
    /* a path under a file (not a directory) */
    snprintf(sub, sizeof sub, "%s/out.safetensors/x", dir);
    assert_int_equal(dvk_st_writer_save(w, sub, err, sizeof err), DVK_ERROR_IO);
    expect_text(path, "kept");
    assert_int_equal(dir_entries(dir), 1);

    /* a symbolic link: the file it names is replaced, the link stays, permissions are kept */
    char link[600];
    snprintf(link, sizeof link, "%s/link.safetensors", dir);
    assert_int_equal(symlink("out.safetensors", link), 0);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(dvk_st_writer_save(w, link, err, sizeof err), DVK_SUCCESS);
    assert_int_equal(lstat(link, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    assert_true(sb.st_size > (1 << 16));
    assert_int_equal(dir_entries(dir), 2);

    dvk_st_writer_destroy(w);
    assert_int_equal(remove(link), 0);
    assert_int_equal(remove(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* An output that names an input, however it is spelled, is refused. */
static void test_check_output(void **state)
{
    (void)state;
    char dir[512], in[600], other[600], hard[600], soft[600], spelled[700];
    tmp_dir(dir, sizeof dir);
    snprintf(in, sizeof in, "%s/in.safetensors", dir);
    snprintf(other, sizeof other, "%s/other.safetensors", dir);
    snprintf(hard, sizeof hard, "%s/hard.safetensors", dir);
    snprintf(soft, sizeof soft, "%s/soft.safetensors", dir);
    snprintf(spelled, sizeof spelled, "%s/./../%s/in.safetensors", dir, strrchr(dir, '/') + 1);
    write_text(in, "input");
    write_text(other, "other");
    assert_int_equal(link(in, hard), 0);
    assert_int_equal(symlink("in.safetensors", soft), 0);
    char err[256] = "";
    const char *same[] = {in, hard, soft, spelled};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; ++i) {
        err[0] = '\0';
        if (dvk_st_check_output(same[i], in, err, sizeof err) != DVK_ERROR_INVALID_ARGUMENT)
            fail_msg("%s was not seen to be %s", same[i], in);
        assert_non_null(strstr(err, "the same file"));
    }
    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing.safetensors", dir);
    assert_int_equal(dvk_st_check_output(other, in, err, sizeof err), DVK_SUCCESS);
    assert_int_equal(dvk_st_check_output(missing, in, err, sizeof err), DVK_SUCCESS);
    assert_int_equal(dvk_st_check_output(NULL, in, err, sizeof err), DVK_SUCCESS);
    expect_text(in, "input");
    const char *all[] = {in, other, hard, soft};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        assert_int_equal(remove(all[i]), 0);
    assert_int_equal(rmdir(dir), 0);
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
        cmocka_unit_test(test_metadata_round_trip),
        cmocka_unit_test(test_empty_writer),
        cmocka_unit_test(test_writer_exact_bytes),
        cmocka_unit_test(test_names_escaped),
        cmocka_unit_test(test_dtype_names_and_sizes),
        cmocka_unit_test(test_writer_rejects),
        cmocka_unit_test(test_failed_save_keeps_existing_file),
        cmocka_unit_test(test_save_refuses_and_keeps),
        cmocka_unit_test(test_check_output),
    };
    return cmocka_run_group_tests_name("safetensors writer", tests, NULL, NULL);
}
