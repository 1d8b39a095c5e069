/* dvk_weights: the library's safetensors reader and its device tensors.
 *
 * Malformed files (every case the tool's old reader was tested with, and the cases of our own
 * JSON parser: escapes, surrogates, NUL in names, integers) are judged by status code, with the
 * failure contract checked on the way (no object, a one-line message). Where naming the tensor
 * is the requirement (missing, extra, wrongly shaped, out-of-range tensors) the message is
 * checked to contain the name. Device loads are checked bit for bit after download, on the
 * unified-memory path and on the staged path (forced with DVK_WEIGHTS_STAGED=1, in small
 * batches). Temporary files go to $DVK_TEST_TMPDIR (else /tmp) and are removed. */
#include "harness.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * Helpers */

static const char *tmp_dir(void)
{
    const char *dir = getenv("DVK_TEST_TMPDIR");
    return dir && *dir ? dir : "/tmp";
}

/* Creates an empty file with a unique name under the test temp dir; the caller removes it. */
static void tmp_path(char *out, size_t len)
{
    const int n = snprintf(out, len, "%s/dvk_weights_test_XXXXXX", tmp_dir());
    assert_true(n > 0 && (size_t)n < len);
    const int fd = mkstemp(out);
    assert_true(fd >= 0);
    close(fd);
}

static void spill(const char *path, const void *bytes, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
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

/* Loads host-only from memory and destroys; checks the failure contract (no object, a one-line
 * message) on the way. */
static dvk_status load_status(const void *bytes, size_t len)
{
    dvk_weights *w = (dvk_weights *)&len; /* anything non-NULL, to see it reset */
    const dvk_status st = dvk_weights_load_memory(NULL, bytes, len, NULL, &w);
    if (st == DVK_SUCCESS) {
        assert_non_null(w);
        dvk_weights_destroy(w);
    } else {
        assert_null(w);
        assert_true(dvk_last_error()[0] != '\0');
        assert_null(strchr(dvk_last_error(), '\n'));
    }
    return st;
}

/* The writer's file of w, at a temporary path (removed by the caller). */
static void save_tmp(const dvk_st_writer *w, char *path, size_t len)
{
    tmp_path(path, len);
    char err[256] = "";
    if (dvk_st_writer_save(w, path, err, sizeof err) != DVK_SUCCESS)
        fail_msg("%s", err);
}

/* Loads the writer's file (through a temporary file) on the harness device, or host-only. */
static dvk_status load_written(const dvk_st_writer *w, dvk_context *ctx,
                               const dvk_weights_desc *desc, dvk_weights **out)
{
    char path[512];
    save_tmp(w, path, sizeof path);
    const dvk_status st = dvk_weights_load(ctx, path, desc, out);
    assert_int_equal(remove(path), 0);
    return st;
}

static void expect_message_names(const char *what)
{
    if (!strstr(dvk_last_error(), what))
        fail_msg("the message \"%s\" does not name '%s'", dvk_last_error(), what);
}

/* Downloads a tensor's bytes (malloc'd). */
static void *download(const dvk_tensor *t)
{
    void *p = malloc((size_t)dvk_tensor_bytes(t) + 1);
    assert_non_null(p);
    CHECK_OK(dvk_tensor_download(t, p, (size_t)dvk_tensor_bytes(t)));
    return p;
}

/* ---------------------------------------------------------------------------------------------
 * Malformed and accepted headers (host-only loads from memory) */

static void test_too_short(void **state)
{
    (void)state;
    const unsigned char seven[7] = {0};
    assert_int_equal(load_status(NULL, 0), DVK_ERROR_FORMAT);
    assert_int_equal(load_status(seven, 0), DVK_ERROR_FORMAT); /* empty buffer */
    for (size_t n = 1; n <= 7; ++n)
        assert_int_equal(load_status(seven, n), DVK_ERROR_FORMAT);
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
        if (load_status(b, len) != DVK_ERROR_FORMAT)
            fail_msg("%s: not refused", cases[i].what);
        free(b);
    }
    /* A length that takes in data bytes after the object: the length is blamed, not the text
     * (issue 17: it was reported as "not valid UTF-8"). */
    static const char obj[] = "{\"q\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    unsigned char bytes[8 + sizeof obj + 8];
    const size_t n = sizeof obj - 1;
    for (int i = 0; i < 8; ++i)
        bytes[i] = (unsigned char)((uint64_t)(n + 6) >> (8 * i));
    memcpy(bytes + 8, obj, n);
    const unsigned char data[8] = {0x00, 0x00, 0xc0, 0x3f, 0xff, 0xfe, 0x80, 0x90}; /* 1.5f */
    memcpy(bytes + 8 + n, data, sizeof data);
    assert_int_equal(load_status(bytes, 8 + n + sizeof data), DVK_ERROR_FORMAT);
    expect_message_names("the length field is wrong");
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
        {"NUL inside a name", "{\"a\0b\":1}", 9},
        {"control byte inside a string", "{\"a\x01\":1}", 8},
        {"raw newline inside a string", "{\"a\n\":1}", 8},
        {"form feed as whitespace", "{\f}", 3},
        {"vertical tab as whitespace", "{\v}", 3},
        {"invalid UTF-8 in a key", "{\"\xff\":1}", 7},
        {"overlong UTF-8", "{\"\xc0\xaf\":1}", 8},
        {"UTF-8 surrogate", "{\"\xed\xa0\x80\":1}", 9},
        {"code point past U+10FFFF", "{\"\xf4\x90\x80\x80\":1}", 10},
        {"cut UTF-8 sequence at the end", "{}\xe2\x9c", 4},
        {"byte order mark", "\xef\xbb\xbf{}", 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        size_t len;
        unsigned char *b = build_raw(cases[i].len, cases[i].bytes, cases[i].len, 0, &len);
        if (load_status(b, len) != DVK_ERROR_FORMAT)
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
#define OK_ "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"
static const json_case malformed[] = {
    /* the cases of the tool's old reader */
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
    /* integers are digits only: the old reader took 1e1 for 10 */
    {"integral exponent form", T_("\"dtype\":\"U8\",\"shape\":[1e1],\"data_offsets\":[0,10]"),
     10},
    {"integral fraction form", T_("\"dtype\":\"U8\",\"shape\":[2.0],\"data_offsets\":[0,2]"), 2},
    {"minus zero", T_("\"dtype\":\"U8\",\"shape\":[-0],\"data_offsets\":[0,0]"), 0},
    {"plus sign", T_("\"dtype\":\"U8\",\"shape\":[+2],\"data_offsets\":[0,2]"), 2},
    {"leading zero", T_("\"dtype\":\"U8\",\"shape\":[02],\"data_offsets\":[0,2]"), 2},
    {"true in shape", T_("\"dtype\":\"U8\",\"shape\":[true],\"data_offsets\":[0,1]"), 1},
    {"offset of 2^64", T_("\"dtype\":\"U8\",\"shape\":[0],"
                          "\"data_offsets\":[18446744073709551616,18446744073709551616]"), 0},
    {"offset of 2^64 - 1 past the data", T_("\"dtype\":\"U8\",\"shape\":[0],"
                                            "\"data_offsets\":[18446744073709551615,"
                                            "18446744073709551615]"), 0},
    /* our parser: names, escapes, surrogates, syntax */
    {"NUL in a name (\\u0000)",
     "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8},
    {"name that is only NUL", "{\"\\u0000\":{" OK_ "}}", 8},
    {"NUL in a metadata key", "{\"__metadata__\":{\"k\\u0000\":\"v\"}}", 0},
    {"NUL in a metadata value", "{\"__metadata__\":{\"k\":\"v\\u0000\"}}", 0},
    {"NUL in the dtype", T_("\"dtype\":\"F32\\u0000\",\"shape\":[2],\"data_offsets\":[0,8]"), 8},
    {"lone high surrogate", "{\"\\ud800\":{" OK_ "}}", 8},
    {"lone low surrogate", "{\"\\udc00\":{" OK_ "}}", 8},
    {"high surrogate then a letter", "{\"\\ud800\\u0041\":{" OK_ "}}", 8},
    {"high surrogate then text", "{\"\\ud800x\":{" OK_ "}}", 8},
    {"reversed surrogate pair", "{\"\\ude00\\ud83d\":{" OK_ "}}", 8},
    {"short \\u escape", "{\"\\u12\":{" OK_ "}}", 8},
    {"non-hex \\u escape", "{\"\\u12g4\":{" OK_ "}}", 8},
    {"unknown escape", "{\"\\x41\":{" OK_ "}}", 8},
    {"single-quoted name", "{'a':{" OK_ "}}", 8},
    {"unquoted name", "{a:{" OK_ "}}", 8},
    {"string not closed", "{\"a", 0},
    {"escape at the end", "{\"a\\", 0},
    {"trailing comma in the object", "{\"a\":{" OK_ "},}", 8},
    {"trailing comma in an entry", T_(OK_ ","), 8},
    {"trailing comma in shape", T_("\"dtype\":\"F32\",\"shape\":[2,],\"data_offsets\":[0,8]"), 8},
    {"missing colon", "{\"a\" {" OK_ "}}", 8},
    {"missing comma", T_("\"dtype\":\"F32\" \"shape\":[2],\"data_offsets\":[0,8]"), 8},
    {"comment", "{/* c */\"a\":{" OK_ "}}", 8},
    {"field twice", T_(OK_ ",\"dtype\":\"F32\""), 8},
    {"shape twice", T_(OK_ ",\"shape\":[2]"), 8},
    {"NaN in an unknown field", T_(OK_ ",\"x\":NaN"), 8},
    {"bad number in an unknown field", T_(OK_ ",\"x\":1.e5"), 8},
    {"bad literal in an unknown field", T_(OK_ ",\"x\":tru"), 8},
    {"unclosed array in an unknown field", T_(OK_ ",\"x\":[1,2"), 8},
    {"65 levels of nesting",
     T_(OK_ ",\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
     8},
};

static void test_malformed_json(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; ++i) {
        size_t len;
        unsigned char *b = build_file(malformed[i].json, malformed[i].data_len, &len);
        const dvk_status st = load_status(b, len);
        if (st != DVK_ERROR_FORMAT)
            fail_msg("%s: got status %d, want DVK_ERROR_FORMAT", malformed[i].what, (int)st);
        free(b);
    }
}

/* Files the format allows, including the choices documented in deltavk.h. */
static const json_case accepted[] = {
    {"plain", T_(OK_), 8},
    {"padded with spaces", T_(OK_) "     ", 8},
    {"padded with other whitespace", T_(OK_) " \n\t\r ", 8},
    {"leading whitespace", " \n" T_(OK_), 8},
    {"pretty-printed",
     "{\n  \"a\": {\n    \"dtype\": \"F32\",\n    \"shape\": [ 2 ],\n"
     "    \"data_offsets\": [ 0, 8 ]\n  }\n}\n",
     8},
    {"empty object", "{}", 0},
    {"empty object with data after it", "{}", 16},
    {"unknown field ignored", T_(OK_ ",\"extra\":[1,{}]"), 8},
    {"unknown fields of every kind",
     T_("\"x\":{\"a\":[true,false,null,-1.5e-3,0,\"s\\n\\u00e9\"],\"b\":{}}," OK_
        ",\"y\":-0.0E+2"),
     8},
    {"64 levels of nesting",
     T_(OK_ ",\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
     8},
    {"fields in another order", T_("\"data_offsets\":[0,8],\"shape\":[2],\"dtype\":\"F32\""), 8},
    {"scalar", T_("\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]"), 4},
    {"zero-size tensor", T_("\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[8,8]"), 8},
    {"zero-size tensor at the very end",
     T_("\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]"), 0},
    {"zero-size tensors sharing an offset",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
     "\"b\":{\"dtype\":\"I8\",\"shape\":[0],\"data_offsets\":[4,4]},"
     "\"c\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     4},
    {"exact integers past 2^53 (no elements)",
     T_("\"dtype\":\"U8\",\"shape\":[9007199254740993,18446744073709551615,0],"
        "\"data_offsets\":[0,0]"),
     0},
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
    {"empty metadata", "{\"__metadata__\":{}}", 0},
    {"null metadata", "{\"__metadata__\":null}", 0},
    {"eight dimensions",
     T_("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]"), 8},
    {"escaped names", "{\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC\\ud83d\\ude00\":{" OK_ "}}",
     8},
    {"empty name", "{\"\":{" OK_ "}}", 8},
    {"name that looks like metadata", "{\"__metadata__ \":{" OK_ "}}", 8},
    {"raw UTF-8 and DEL in a name", "{\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f\":{" OK_ "}}", 8},
    {"every dtype",
     "{\"f64\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
     "\"f16\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[8,10]},"
     "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[10,12]},"
     "\"i64\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[12,20]},"
     "\"i16\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[20,22]},"
     "\"i8\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[22,23]},"
     "\"u8\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[23,24]},"
     "\"b\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[24,25]}}",
     25},
};
#undef T_
#undef OK_

static void test_accepted_json(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; ++i) {
        size_t len;
        unsigned char *b = build_file(accepted[i].json, accepted[i].data_len, &len);
        const dvk_status st = load_status(b, len);
        if (st != DVK_SUCCESS)
            fail_msg("%s: got status %d, want DVK_SUCCESS (%s)", accepted[i].what, (int)st,
                     dvk_last_error());
        free(b);
    }
}

/* Escapes decode to the right bytes, and lookups find the decoded names. */
static void test_escaped_names(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = build_file(
        "{\"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC\\ud83d\\ude00\":"
        "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
        2, &len);
    dvk_weights *w = NULL;
    CHECK_OK(dvk_weights_load_memory(NULL, b, len, NULL, &w));
    free(b);
    const char *want = "q\"\\/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    assert_int_equal(dvk_weights_count(w), 2);
    assert_string_equal(dvk_weights_name(w, 0), want);
    assert_string_equal(dvk_weights_name(w, 1), "");
    int32_t v = 0;
    CHECK_OK(dvk_weights_read(w, want, DVK_DTYPE_I32, &v, sizeof v));
    assert_int_equal(v, 1); /* the pattern's byte 0 */
    CHECK_OK(dvk_weights_read(w, "", DVK_DTYPE_I32, &v, sizeof v));
    assert_int_equal(v, 8);
    dvk_weights_destroy(w);
}

/* A NUL in a name is refused with a message that says so. */
static void test_nul_in_name(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = build_file(
        "{\"layer\\u0000.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
        &len);
    assert_int_equal(load_status(b, len), DVK_ERROR_FORMAT);
    expect_message_names("NUL");
    /* the whole name, its NUL as the header writes it (it was once shown as 'layer') */
    expect_message_names("'layer\\u0000.weight'");
    free(b);
}

/* Duplicates and overlaps: refused, naming the tensors. */
static void test_duplicates_and_overlaps(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b =
        build_file("{\"w.dup\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                   "\"w.dup\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                   8, &len);
    assert_int_equal(load_status(b, len), DVK_ERROR_FORMAT);
    expect_message_names("w.dup");
    free(b);
    b = build_file("{\"first\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                   "\"third\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"second\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[11,13]}}",
                   13, &len);
    assert_int_equal(load_status(b, len), DVK_ERROR_FORMAT);
    expect_message_names("first");
    expect_message_names("second");
    free(b);
}

/* Offsets are relative to the data buffer, and reads take the right bytes. */
static void test_offsets_point_into_data(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = build_file("{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[5,7]},"
                                  "\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[1,4]}}",
                                  8, &len);
    dvk_weights *w = NULL;
    CHECK_OK(dvk_weights_load_memory(NULL, b, len, NULL, &w));
    free(b); /* load_memory copied the bytes */
    assert_int_equal(dvk_weights_count(w), 2);
    assert_string_equal(dvk_weights_name(w, 0), "b");
    assert_string_equal(dvk_weights_name(w, 1), "a");
    int32_t v[3];
    CHECK_OK(dvk_weights_read(w, "a", DVK_DTYPE_I32, v, sizeof v));
    assert_true(v[0] == 1 * 7 + 1 && v[1] == 2 * 7 + 1 && v[2] == 3 * 7 + 1);
    CHECK_OK(dvk_weights_read(w, "b", DVK_DTYPE_I32, v, 2 * sizeof *v));
    assert_true(v[0] == 5 * 7 + 1 && v[1] == 6 * 7 + 1);
    dvk_weights_destroy(w);
}

/* A file the writer made, with metadata, three dtypes and a scalar. */
static unsigned char *small_file(size_t *len)
{
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
    char path[512];
    save_tmp(w, path, sizeof path);
    dvk_st_writer_destroy(w);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static unsigned char buf[4096];
    *len = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    assert_int_equal(remove(path), 0);
    unsigned char *copy = malloc(*len);
    assert_non_null(copy);
    memcpy(copy, buf, *len);
    return copy;
}

/* Every proper prefix of a valid file is refused, without crashing or reading out of bounds
 * (the sanitizers watch the second part). */
static void test_every_truncation(void **state)
{
    (void)state;
    size_t len;
    unsigned char *raw = small_file(&len);
    for (size_t n = 0; n < len; ++n) {
        /* An exact-size heap copy, so that any over-read trips AddressSanitizer. */
        unsigned char *prefix = malloc(n ? n : 1);
        assert_non_null(prefix);
        memcpy(prefix, raw, n);
        if (load_status(prefix, n) == DVK_SUCCESS)
            fail_msg("prefix of %zu of %zu bytes was accepted", n, len);
        free(prefix);
    }
    assert_int_equal(load_status(raw, len), DVK_SUCCESS);

    /* The same through a (mapped) file, once: the message names the file. */
    char path[512];
    tmp_path(path, sizeof path);
    spill(path, raw, len - 1);
    dvk_weights *w = (dvk_weights *)&len;
    assert_int_equal(dvk_weights_load(NULL, path, NULL, &w), DVK_ERROR_FORMAT);
    assert_null(w);
    expect_message_names(path);
    assert_int_equal(remove(path), 0);
    free(raw);
}

static void test_io_errors(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path);
    assert_int_equal(remove(path), 0); /* a name that surely does not exist */
    dvk_weights *w = (dvk_weights *)&w;
    assert_int_equal(dvk_weights_load(NULL, path, NULL, &w), DVK_ERROR_IO);
    assert_null(w);
    expect_message_names(path);

    /* A directory opens, but is not a file. */
    assert_int_equal(dvk_weights_load(NULL, tmp_dir(), NULL, &w), DVK_ERROR_IO);
    assert_null(w);
    assert_int_equal(dvk_weights_load(harness_ctx, tmp_dir(), NULL, &w), DVK_ERROR_IO);
    /* /dev/zero would map as endless zeros: a header length of 0, then anything. */
    if (access("/dev/zero", R_OK) == 0) {
        assert_int_equal(dvk_weights_load(NULL, "/dev/zero", NULL, &w), DVK_ERROR_IO);
        assert_null(w);
        expect_message_names("/dev/zero");
    }
    /* A FIFO: opening it for reading waited for a writer, forever (issue 17: only regular
     * files are read). The alarm turns a hang into a failure. */
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s/dvk_weights_fifo_%d", tmp_dir(), (int)getpid());
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(20);
    assert_int_equal(dvk_weights_load(NULL, fifo, NULL, &w), DVK_ERROR_IO);
    alarm(0);
    assert_null(w);
    expect_message_names("not a regular file");
    assert_int_equal(unlink(fifo), 0);
    /* An empty file is a file, too short to hold the header length. */
    tmp_path(path, sizeof path);
    assert_int_equal(dvk_weights_load(NULL, path, NULL, &w), DVK_ERROR_FORMAT);
    assert_int_equal(remove(path), 0);
}

static void test_null_handles(void **state)
{
    (void)state;
    dvk_weights_destroy(NULL);
    assert_int_equal(dvk_weights_count(NULL), 0);
    assert_null(dvk_weights_name(NULL, 0));
    assert_null(dvk_weights_metadata(NULL, "x"));
    dvk_weights_entry e;
    assert_int_equal(dvk_weights_find(NULL, "x", &e), DVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(dvk_weights_get(NULL, "x", NULL), DVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(dvk_weights_check_all_used(NULL), DVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(dvk_weights_read(NULL, "x", DVK_DTYPE_F32, NULL, 0),
                     DVK_ERROR_INVALID_ARGUMENT);
    const unsigned char eight[8] = {0};
    assert_int_equal(dvk_weights_load_memory(NULL, eight, 8, NULL, NULL),
                     DVK_ERROR_INVALID_ARGUMENT);
    dvk_weights *w = (dvk_weights *)&w;
    assert_int_equal(dvk_weights_load_memory(NULL, NULL, 8, NULL, &w), DVK_ERROR_INVALID_ARGUMENT);
    assert_null(w);
    assert_int_equal(dvk_weights_load(NULL, NULL, NULL, &w), DVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(dvk_weights_load(NULL, "unused.safetensors", NULL, NULL),
                     DVK_ERROR_INVALID_ARGUMENT);
    /* a bad desc */
    size_t len;
    unsigned char *raw = small_file(&len);
    const dvk_weights_desc bad = {.dtype = DVK_DTYPE_I32};
    assert_int_equal(dvk_weights_load_memory(NULL, raw, len, &bad, &w),
                     DVK_ERROR_INVALID_ARGUMENT);
    const dvk_weights_desc worse = {.dtype = (dvk_dtype)77};
    assert_int_equal(dvk_weights_load_memory(harness_ctx, raw, len, &worse, &w),
                     DVK_ERROR_INVALID_ARGUMENT);
    assert_null(w);
    CHECK_OK(dvk_weights_load_memory(NULL, raw, len, NULL, &w));
    assert_int_equal(dvk_weights_find(w, NULL, &e), DVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(dvk_weights_find(w, "a", NULL), DVK_ERROR_INVALID_ARGUMENT);
    assert_null(dvk_weights_metadata(w, NULL));
    assert_string_equal(dvk_weights_metadata(w, "format"), "pt");
    float f[3];
    assert_int_equal(dvk_weights_read(w, "a", DVK_DTYPE_F32, NULL, sizeof f),
                     DVK_ERROR_INVALID_ARGUMENT);
    assert_int_equal(dvk_weights_read(w, "a", DVK_DTYPE_F32, f, sizeof f - 4),
                     DVK_ERROR_SHAPE_MISMATCH);
    assert_int_equal(dvk_weights_read(w, "a", DVK_DTYPE_F16, f, 6), DVK_ERROR_UNSUPPORTED_DTYPE);
    assert_int_equal(dvk_weights_read(w, "absent", DVK_DTYPE_F32, f, sizeof f),
                     DVK_ERROR_NOT_FOUND);
    dvk_weights_destroy(w);
    free(raw);
}

/* ---------------------------------------------------------------------------------------------
 * Reading values on the host */

typedef struct half_case {
    uint16_t bits;
    float value; /* NAN means "any NaN" */
} half_case;

/* Writes 16-bit patterns as one tensor and reads them as f32; compares bit for bit so that -0
 * is told from +0. */
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
    dvk_weights *f = NULL;
    CHECK_OK(load_written(w, NULL, NULL, &f));
    dvk_st_writer_destroy(w);

    float out[32];
    CHECK_OK(dvk_weights_read(f, "h", DVK_DTYPE_F32, out, n * sizeof *out));
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
    /* read as int32: only the integral ones fit; 0.5 (or a NaN, an infinity) does not */
    int32_t iv[32];
    CHECK_STATUS(dvk_weights_read(f, "h", DVK_DTYPE_I32, iv, n * sizeof *iv), DVK_ERROR_FORMAT);
    expect_message_names("'h'");
    dvk_weights_destroy(f);
}

static void test_read_f16(void **state)
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

static void test_read_bf16(void **state)
{
    (void)state;
    static const half_case cases[] = {
        {0x0000, 0.0f},
        {0x8000, -0.0f},
        {0x3F80, 1.0f},
        {0xC040, -3.0f},
        {0x4049, 3.140625f},
        {0x3F81, 1.0078125f},
        {0x3F00, 0.5f},
        {0x7F7F, 3.38953139e38f},        /* largest finite */
        {0x0080, 1.17549435e-38f},       /* smallest normal, 2^-126 */
        {0x0001, 9.18354962e-41f},       /* smallest subnormal, 2^-133 */
        {0x7F80, INFINITY},
        {0xFF80, -INFINITY},
        {0x7FC0, NAN},
    };
    check_half_cases(DVK_ST_BF16, cases, sizeof cases / sizeof cases[0]);
}

/* Integer and bool dtypes read as f32 and as i32, at their extremes; I64 past int32 is refused
 * as i32 (naming the tensor), and floats holding integers read as i32. */
static void test_read_integers(void **state)
{
    (void)state;
    const int8_t i8[] = {INT8_MIN, -1, 0, INT8_MAX};
    const uint8_t u8[] = {0, 1, 200, UINT8_MAX};
    const int16_t i16[] = {INT16_MIN, -2, 3, INT16_MAX};
    const int32_t i32[] = {INT32_MIN, -5, 16777217, INT32_MAX};
    const int64_t i64[] = {INT32_MIN, -3, (int64_t)1 << 30, INT32_MAX};
    const int64_t i64_big[] = {0, -3, (int64_t)1 << 40, INT64_MAX};
    const int64_t i64_small[] = {0, (int64_t)INT32_MIN - 1, 0, 0};
    const uint8_t b[] = {0, 1, 0, 2}; /* any nonzero byte is true */
    const double f64[] = {-7.0, 0.0, 2147483647.0, -2147483648.0};
    const float f32_frac[] = {1.0f, 2.5f, 3.0f, 4.0f};
    const float f32_big[] = {1.0f, 2147483648.0f, 3.0f, 4.0f};
    const struct {
        const char *name;
        dvk_st_dtype dtype;
        const void *data;
        int64_t want[4];
        bool fits; /* readable as i32 */
    } cases[] = {
        {"i8", DVK_ST_I8, i8, {INT8_MIN, -1, 0, INT8_MAX}, true},
        {"u8", DVK_ST_U8, u8, {0, 1, 200, UINT8_MAX}, true},
        {"i16", DVK_ST_I16, i16, {INT16_MIN, -2, 3, INT16_MAX}, true},
        {"i32", DVK_ST_I32, i32, {INT32_MIN, -5, 16777217, INT32_MAX}, true},
        {"i64", DVK_ST_I64, i64, {INT32_MIN, -3, (int64_t)1 << 30, INT32_MAX}, true},
        {"i64 big", DVK_ST_I64, i64_big, {0, -3, (int64_t)1 << 40, INT64_MAX}, false},
        {"i64 small", DVK_ST_I64, i64_small, {0, (int64_t)INT32_MIN - 1, 0, 0}, false},
        {"bool", DVK_ST_BOOL, b, {0, 1, 0, 1}, true},
        {"f64", DVK_ST_F64, f64, {-7, 0, INT32_MAX, INT32_MIN}, true},
        {"f32 frac", DVK_ST_F32, f32_frac, {1, 2, 3, 4}, false},
        {"f32 big", DVK_ST_F32, f32_big, {1, 2147483648ll, 3, 4}, false},
    };
    const size_t n = sizeof cases / sizeof cases[0];
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    const uint64_t four = 4;
    for (size_t i = 0; i < n; ++i)
        assert_int_equal(dvk_st_writer_add(w, cases[i].name, cases[i].dtype, 1, &four,
                                           cases[i].data),
                         DVK_SUCCESS);
    dvk_weights *f = NULL;
    CHECK_OK(load_written(w, NULL, NULL, &f));
    dvk_st_writer_destroy(w);

    for (size_t i = 0; i < n; ++i) {
        int32_t iv[4];
        float fv[4];
        CHECK_OK(dvk_weights_read(f, cases[i].name, DVK_DTYPE_F32, fv, sizeof fv));
        if (cases[i].dtype != DVK_ST_F32)
            for (int j = 0; j < 4; ++j)
                assert_true(fv[j] == (float)cases[i].want[j]);
        if (!cases[i].fits) {
            CHECK_STATUS(dvk_weights_read(f, cases[i].name, DVK_DTYPE_I32, iv, sizeof iv),
                         DVK_ERROR_FORMAT);
            expect_message_names(cases[i].name);
            continue;
        }
        CHECK_OK(dvk_weights_read(f, cases[i].name, DVK_DTYPE_I32, iv, sizeof iv));
        for (int j = 0; j < 4; ++j)
            assert_true(iv[j] == cases[i].want[j]);
        dvk_weights_entry e;
        CHECK_OK(dvk_weights_find(f, cases[i].name, &e));
        assert_int_equal(e.dtype, cases[i].dtype == DVK_ST_F64 ? DVK_DTYPE_F32 : DVK_DTYPE_I32);
    }
    dvk_weights_destroy(f);
}

/* Every dtype in one file: I8/U8/BOOL tensors of odd length put later tensors at odd offsets,
 * so the conversions must cope with unaligned data, on the host and on the device. A scalar
 * is 0 dimensions and one element. */
static void test_unaligned_and_scalars(void **state)
{
    (void)state;
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    const int8_t i8[3] = {-1, 2, -3};
    const float f32[3] = {1.5f, -2.25f, 1e-3f};
    const uint8_t u8[1] = {250};
    const double f64[2] = {-0.125, 1e10};
    const int32_t i32[3] = {7, -8, 9};
    const uint16_t h[3] = {0x3C00, 0xC000, 0x3555};
    const double pi = 3.141592653589793;
    const int64_t big = -1234567890;
    const uint64_t three = 3, one = 1, two = 2;
    assert_int_equal(dvk_st_writer_add(w, "i8", DVK_ST_I8, 1, &three, i8), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "f32", DVK_ST_F32, 1, &three, f32), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "u8", DVK_ST_U8, 1, &one, u8), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "f64", DVK_ST_F64, 1, &two, f64), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "i32", DVK_ST_I32, 1, &three, i32), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "u8b", DVK_ST_U8, 1, &one, u8), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "h", DVK_ST_F16, 1, &three, h), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "pi", DVK_ST_F64, 0, NULL, &pi), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "big", DVK_ST_I64, 0, NULL, &big), DVK_SUCCESS);
    char path[512];
    save_tmp(w, path, sizeof path);
    dvk_st_writer_destroy(w);

    for (int device = 0; device < 2; ++device) {
        dvk_weights *f = NULL;
        CHECK_OK(dvk_weights_load(device ? harness_ctx : NULL, path, NULL, &f));
        float out[3];
        CHECK_OK(dvk_weights_read(f, "f32", DVK_DTYPE_F32, out, sizeof out));
        for (int i = 0; i < 3; ++i)
            assert_true(out[i] == f32[i]);
        CHECK_OK(dvk_weights_read(f, "f64", DVK_DTYPE_F32, out, 2 * sizeof *out));
        assert_true(out[0] == -0.125f && out[1] == 1e10f);
        CHECK_OK(dvk_weights_read(f, "h", DVK_DTYPE_F32, out, sizeof out));
        assert_true(out[0] == 1.0f && out[1] == -2.0f && out[2] == 0.333251953125f);
        int32_t iv[3];
        CHECK_OK(dvk_weights_read(f, "i32", DVK_DTYPE_I32, iv, sizeof iv));
        assert_true(iv[0] == 7 && iv[1] == -8 && iv[2] == 9);
        CHECK_OK(dvk_weights_read(f, "u8", DVK_DTYPE_I32, iv, sizeof *iv));
        assert_true(iv[0] == 250);
        dvk_weights_entry e;
        CHECK_OK(dvk_weights_find(f, "pi", &e));
        assert_int_equal(e.ndim, 0);
        assert_int_equal(e.numel, 1);
        assert_string_equal(e.file_dtype, "F64");
        assert_int_equal(e.dtype, DVK_DTYPE_F32);
        assert_int_equal(e.loaded, device);
        if (device) { /* the same values on the device */
            const struct {
                const char *name;
                dvk_dtype dtype;
                const void *want;
                size_t bytes;
            } t[] = {
                {"f32", DVK_DTYPE_F32, f32, sizeof f32},
                {"i32", DVK_DTYPE_I32, i32, sizeof i32},
                {"i8", DVK_DTYPE_I32, (const int32_t[]){-1, 2, -3}, 12},
                {"u8b", DVK_DTYPE_I32, (const int32_t[]){250}, 4},
                {"f64", DVK_DTYPE_F32, (const float[]){-0.125f, 1e10f}, 8},
                {"pi", DVK_DTYPE_F32, (const float[]){(float)pi}, 4},
                {"big", DVK_DTYPE_I32, (const int32_t[]){(int32_t)big}, 4},
                {"h", DVK_DTYPE_F16, h, sizeof h},
            };
            for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i) {
                dvk_tensor *x = NULL;
                CHECK_OK(dvk_weights_get(f, t[i].name, &x));
                dvk_dtype want = t[i].dtype;
                if (want == DVK_DTYPE_F16 && !dvk_context_device_info(harness_ctx)->fp16_storage)
                    continue; /* f32 there: checked in test_load_dtypes */
                assert_int_equal(dvk_tensor_dtype(x), want);
                assert_int_equal(dvk_tensor_bytes(x), t[i].bytes);
                void *got = download(x);
                assert_memory_equal(got, t[i].want, t[i].bytes);
                free(got);
            }
            dvk_tensor *x = NULL;
            CHECK_OK(dvk_weights_get(f, "pi", &x));
            assert_int_equal(dvk_tensor_ndim(x), 0);
            assert_int_equal(dvk_tensor_numel(x), 1);
        }
        dvk_weights_destroy(f);
    }
    assert_int_equal(remove(path), 0);
}

/* ---------------------------------------------------------------------------------------------
 * Device tensors */

/* Expected bits of `v` stored as `dtype`. */
static void store(dvk_dtype dtype, float v, unsigned char *dst)
{
    if (dtype == DVK_DTYPE_F16) {
        const uint16_t h = dvk_f32_to_f16(v);
        memcpy(dst, &h, 2);
    } else if (dtype == DVK_DTYPE_BF16) {
        const uint16_t h = dvk_f32_to_bf16(v);
        memcpy(dst, &h, 2);
    } else {
        memcpy(dst, &v, 4);
    }
}

/* Float entries of every float dtype loaded as the file has them and converted to each float
 * dtype: bf16 -> f32, f16 -> bf16, f32 -> f16, f64 -> anything; checked bit for bit against
 * the library's scalar conversions. Integers always become int32. */
static void test_load_dtypes(void **state)
{
    (void)state;
    enum { N = 37 };
    harness_rng rng = harness_rng_make(7);
    float v[N];
    harness_fill_normal(&rng, v, N, 3.0f);
    v[0] = 0.0f, v[1] = -0.0f, v[2] = 70000.0f, v[3] = 1e-6f, v[4] = -65504.0f;
    uint16_t f16[N], bf16[N];
    double f64[N];
    int64_t i64[N];
    uint8_t bools[N];
    for (int i = 0; i < N; ++i) {
        f16[i] = dvk_f32_to_f16(v[i]);
        bf16[i] = dvk_f32_to_bf16(v[i]);
        f64[i] = (double)v[i] * (1.0 + 1e-12); /* not an f32: rounds on the way */
        i64[i] = (int64_t)(v[i] * 1000.0f);
        bools[i] = (uint8_t)(i % 3);
    }
    const uint64_t shape[3] = {N, 1, 1}, shape2[2] = {1, N};
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "f32", DVK_ST_F32, 3, shape, v), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "f16", DVK_ST_F16, 2, shape2, f16), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "bf16", DVK_ST_BF16, 1, shape, bf16), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "f64", DVK_ST_F64, 1, shape, f64), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "i64", DVK_ST_I64, 1, shape, i64), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "bool", DVK_ST_BOOL, 1, shape, bools), DVK_SUCCESS);
    char path[512];
    save_tmp(w, path, sizeof path);
    dvk_st_writer_destroy(w);

    const bool fp16 = dvk_context_device_info(harness_ctx)->fp16_storage;
    const dvk_dtype targets[4] = {DVK_DTYPE_DEFAULT, DVK_DTYPE_F32, DVK_DTYPE_F16,
                                  DVK_DTYPE_BF16};
    for (int k = 0; k < 4; ++k) {
        dvk_weights *f = NULL;
        CHECK_OK(dvk_weights_load(harness_ctx, path, &(dvk_weights_desc){.dtype = targets[k]},
                                  &f));
        const struct {
            const char *name;
            dvk_dtype file; /* the dtype DEFAULT keeps */
        } floats[] = {{"f32", DVK_DTYPE_F32}, {"f16", DVK_DTYPE_F16}, {"bf16", DVK_DTYPE_BF16},
                      {"f64", DVK_DTYPE_F32}};
        for (int j = 0; j < 4; ++j) {
            dvk_dtype want = targets[k] ? targets[k] : floats[j].file;
            if (!fp16)
                want = DVK_DTYPE_F32; /* 16-bit tensors need 16-bit storage */
            dvk_tensor *t = NULL;
            CHECK_OK(dvk_weights_get(f, floats[j].name, &t));
            assert_int_equal(dvk_tensor_dtype(t), want);
            assert_int_equal(dvk_tensor_numel(t), N);
            dvk_weights_entry e;
            CHECK_OK(dvk_weights_find(f, floats[j].name, &e));
            assert_int_equal(e.dtype, want);
            assert_true(e.loaded && e.used);
            unsigned char *got = download(t), expect[N * 4];
            const size_t es = dvk_dtype_size(want);
            for (int i = 0; i < N; ++i) {
                /* what the file holds, as f32 (f64 rounds once to f32 first) */
                const float src = j == 0   ? v[i]
                                  : j == 1 ? dvk_f16_to_f32(f16[i])
                                  : j == 2 ? dvk_bf16_to_f32(bf16[i])
                                           : (float)f64[i];
                store(want, src, expect + i * es);
            }
            if (memcmp(got, expect, N * es) != 0)
                fail_msg("%s loaded as %s: bits differ", floats[j].name, dvk_dtype_name(want));
            free(got);
        }
        dvk_tensor *t = NULL;
        CHECK_OK(dvk_weights_get(f, "i64", &t));
        assert_int_equal(dvk_tensor_dtype(t), DVK_DTYPE_I32);
        int32_t *iv = download(t);
        for (int i = 0; i < N; ++i)
            assert_int_equal(iv[i], (int32_t)i64[i]);
        free(iv);
        CHECK_OK(dvk_weights_get(f, "bool", &t));
        assert_int_equal(dvk_tensor_dtype(t), DVK_DTYPE_I32);
        iv = download(t);
        for (int i = 0; i < N; ++i)
            assert_int_equal(iv[i], i % 3 != 0);
        free(iv);
        CHECK_OK(dvk_weights_check_all_used(f));
        dvk_weights_destroy(f);
    }
    assert_int_equal(remove(path), 0);
}

/* Filters for the tests: keep the names that do not start with the prefix in user_data. */
static bool skip_prefix(void *user, const char *name)
{
    const char *prefix = user;
    return strncmp(name, prefix, strlen(prefix)) != 0;
}

/* An I64 value outside int32 fails the load before any tensor is made, naming the tensor; a
 * filter that leaves it out loads the rest; host-only it is listed and readable as f32. */
static void test_int_out_of_range(void **state)
{
    (void)state;
    const int64_t ok[2] = {1, -2}, bad[3] = {0, 1, (int64_t)INT32_MAX + 1};
    const uint64_t two = 2, three = 3;
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "ids.ok", DVK_ST_I64, 1, &two, ok), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "ids.too_big", DVK_ST_I64, 1, &three, bad),
                     DVK_SUCCESS);
    char path[512];
    save_tmp(w, path, sizeof path);
    dvk_st_writer_destroy(w);

    dvk_weights *f = (dvk_weights *)&f;
    CHECK_STATUS(dvk_weights_load(harness_ctx, path, NULL, &f), DVK_ERROR_FORMAT);
    assert_null(f);
    expect_message_names("ids.too_big");
    expect_message_names(path);

    CHECK_OK(dvk_weights_load(harness_ctx, path,
                              &(dvk_weights_desc){.filter = skip_prefix,
                                                  .user_data = (void *)"ids.too"},
                              &f));
    dvk_tensor *t = NULL;
    CHECK_OK(dvk_weights_get(f, "ids.ok", &t));
    int32_t *iv = download(t);
    assert_true(iv[0] == 1 && iv[1] == -2);
    free(iv);
    CHECK_STATUS(dvk_weights_get(f, "ids.too_big", &t), DVK_ERROR_NOT_FOUND);
    assert_null(t);
    float fv[3];
    CHECK_OK(dvk_weights_read(f, "ids.too_big", DVK_DTYPE_F32, fv, sizeof fv));
    assert_true(fv[2] == 2147483648.0f);
    CHECK_OK(dvk_weights_check_all_used(f)); /* the filtered entry is not reported */
    dvk_weights_destroy(f);

    CHECK_OK(dvk_weights_load(NULL, path, NULL, &f)); /* host only: nothing is converted */
    CHECK_STATUS(dvk_weights_read(f, "ids.too_big", DVK_DTYPE_I32, iv = (int32_t[3]){0},
                                  3 * sizeof *iv),
                 DVK_ERROR_FORMAT);
    expect_message_names("ids.too_big");
    dvk_weights_destroy(f);
    assert_int_equal(remove(path), 0);
}

/* Entries a dvk_tensor cannot hold (more than 4 dimensions, no elements) are listed and
 * readable but have no device tensor. */
static void test_unloadable_entries(void **state)
{
    (void)state;
    const float x[6] = {1, 2, 3, 4, 5, 6};
    const uint64_t five_d[5] = {1, 2, 1, 3, 1}, empty[2] = {3, 0}, four_d[4] = {1, 2, 1, 3};
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "five_d", DVK_ST_F32, 5, five_d, x), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "empty", DVK_ST_F32, 2, empty, NULL), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "four_d", DVK_ST_F32, 4, four_d, x), DVK_SUCCESS);
    dvk_weights *f = NULL;
    CHECK_OK(load_written(w, harness_ctx, NULL, &f));
    dvk_st_writer_destroy(w);

    assert_int_equal(dvk_weights_count(f), 3);
    dvk_weights_entry e;
    CHECK_OK(dvk_weights_find(f, "five_d", &e));
    assert_int_equal(e.ndim, 5);
    assert_int_equal(e.shape[4], 1);
    assert_int_equal(e.numel, 6);
    assert_false(e.loaded);
    CHECK_OK(dvk_weights_find(f, "empty", &e));
    assert_int_equal(e.numel, 0);
    assert_false(e.loaded);
    CHECK_OK(dvk_weights_find(f, "four_d", &e));
    assert_true(e.loaded);

    dvk_tensor *t = (dvk_tensor *)&t;
    CHECK_STATUS(dvk_weights_get(f, "five_d", &t), DVK_ERROR_UNSUPPORTED);
    assert_null(t);
    expect_message_names("five_d");
    CHECK_STATUS(dvk_weights_expect(f, "empty", 2, (const uint64_t[]){3, 0}, &t),
                 DVK_ERROR_UNSUPPORTED);
    expect_message_names("empty");
    CHECK_STATUS(dvk_weights_check_all_used(f), DVK_ERROR_FORMAT); /* asking did not use them */
    float got[6];
    CHECK_OK(dvk_weights_read(f, "five_d", DVK_DTYPE_F32, got, sizeof got));
    assert_memory_equal(got, x, sizeof x);
    CHECK_OK(dvk_weights_read(f, "empty", DVK_DTYPE_F32, NULL, 0));
    /* acknowledged without a tensor */
    CHECK_OK(dvk_weights_expect(f, "five_d", 5, five_d, NULL));
    CHECK_OK(dvk_weights_get(f, "empty", NULL));
    CHECK_STATUS(dvk_weights_check_all_used(f), DVK_ERROR_FORMAT);
    expect_message_names("four_d");
    CHECK_OK(dvk_weights_expect(f, "four_d", 4, four_d, &t));
    assert_int_equal(dvk_tensor_ndim(t), 4);
    CHECK_OK(dvk_weights_check_all_used(f));
    dvk_weights_destroy(f);
}

/* A loader's errors: a missing, an extra and a wrongly shaped tensor, each named. */
static void test_expect_errors(void **state)
{
    (void)state;
    float x[24] = {0};
    const uint64_t emb[2] = {4, 6}, norm[1] = {6}, head[2] = {6, 4};
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "emb.weight", DVK_ST_F32, 2, emb, x), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "blocks.0.norm.weight", DVK_ST_F32, 1, norm, x),
                     DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "blocks.9.ffn.w", DVK_ST_F32, 2, head, x),
                     DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "head.weight", DVK_ST_F32, 2, head, x), DVK_SUCCESS);
    char path[512];
    save_tmp(w, path, sizeof path);
    dvk_st_writer_destroy(w);
    dvk_weights *f = NULL;
    CHECK_OK(dvk_weights_load(harness_ctx, path, NULL, &f));

    dvk_tensor *t = (dvk_tensor *)&t;
    /* missing */
    CHECK_STATUS(dvk_weights_get(f, "blocks.0.attn.q", &t), DVK_ERROR_NOT_FOUND);
    assert_null(t);
    expect_message_names("blocks.0.attn.q");
    expect_message_names(path);
    CHECK_STATUS(dvk_weights_expect(f, "lm_head", 2, head, &t), DVK_ERROR_NOT_FOUND);
    expect_message_names("lm_head");
    char long_name[300];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    memcpy(long_name, "\xce\xb4ong", 5);
    memcpy(long_name + 79, "\xe2\x88\x86", 3); /* cut inside it: the message keeps it whole */
    CHECK_STATUS(dvk_weights_get(f, long_name, &t), DVK_ERROR_NOT_FOUND);
    expect_message_names("\xce\xb4ongnnnn");
    expect_message_names("...");
    assert_null(strstr(dvk_last_error(), "\xe2\x88..."));
    /* wrongly shaped: other sizes, another rank; not marked used */
    CHECK_STATUS(dvk_weights_expect(f, "emb.weight", 2, (const uint64_t[]){4, 7}, &t),
                 DVK_ERROR_SHAPE_MISMATCH);
    assert_null(t);
    expect_message_names("emb.weight");
    expect_message_names("[4,6]");
    expect_message_names("[4,7]");
    CHECK_STATUS(dvk_weights_expect(f, "blocks.0.norm.weight", 2, (const uint64_t[]){1, 6}, &t),
                 DVK_ERROR_SHAPE_MISMATCH);
    expect_message_names("blocks.0.norm.weight");
    dvk_weights_entry e;
    CHECK_OK(dvk_weights_find(f, "emb.weight", &e));
    assert_false(e.used);
    /* bad arguments */
    CHECK_STATUS(dvk_weights_expect(f, "emb.weight", 9, (const uint64_t[9]){0}, &t),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_weights_expect(f, "emb.weight", 2, NULL, &t), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_weights_get(f, NULL, &t), DVK_ERROR_INVALID_ARGUMENT);

    /* right: exact and with a wildcard */
    CHECK_OK(dvk_weights_expect(f, "emb.weight", 2, emb, &t));
    assert_int_equal(dvk_tensor_dim(t, 1), 6);
    CHECK_OK(dvk_weights_expect(f, "blocks.0.norm.weight", 1, (const uint64_t[]){UINT64_MAX},
                                &t));
    CHECK_OK(dvk_weights_get(f, "head.weight", &t));
    dvk_tensor *again = NULL;
    CHECK_OK(dvk_weights_get(f, "head.weight", &again)); /* the same tensor each time */
    assert_ptr_equal(t, again);
    /* extra */
    CHECK_STATUS(dvk_weights_check_all_used(f), DVK_ERROR_FORMAT);
    expect_message_names("blocks.9.ffn.w");
    expect_message_names(path);
    CHECK_OK(dvk_weights_expect(f, "blocks.9.ffn.w", 2, head, NULL));
    CHECK_OK(dvk_weights_check_all_used(f));
    dvk_weights_destroy(f);
    assert_int_equal(remove(path), 0);
}

/* Host only: no device tensors, but names, shapes, metadata, values and the loader's checks. */
static void test_host_only(void **state)
{
    (void)state;
    size_t len;
    unsigned char *raw = small_file(&len);
    char path[512];
    tmp_path(path, sizeof path);
    spill(path, raw, len);
    free(raw);
    dvk_weights *f = NULL;
    CHECK_OK(dvk_weights_load(NULL, path, &(dvk_weights_desc){.dtype = DVK_DTYPE_BF16}, &f));
    assert_int_equal(remove(path), 0); /* the mapping keeps the file */
    assert_int_equal(dvk_weights_count(f), 3);
    assert_string_equal(dvk_weights_metadata(f, "format"), "pt");
    dvk_weights_entry e;
    CHECK_OK(dvk_weights_find(f, "h", &e));
    assert_string_equal(e.file_dtype, "F16");
    assert_int_equal(e.dtype, DVK_DTYPE_BF16); /* what a device load would make */
    assert_int_equal(e.ndim, 2);
    assert_false(e.loaded);
    CHECK_OK(dvk_weights_find(f, "s", &e));
    assert_int_equal(e.dtype, DVK_DTYPE_I32);
    dvk_tensor *t = (dvk_tensor *)&t;
    CHECK_STATUS(dvk_weights_get(f, "a", &t), DVK_ERROR_INVALID_STATE);
    assert_null(t);
    expect_message_names("'a'");
    CHECK_STATUS(dvk_weights_check_all_used(f), DVK_ERROR_FORMAT);
    CHECK_OK(dvk_weights_expect(f, "a", 1, (const uint64_t[]){3}, NULL));
    CHECK_STATUS(dvk_weights_expect(f, "h", 2, (const uint64_t[]){5, 2}, NULL),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_OK(dvk_weights_expect(f, "h", 2, (const uint64_t[]){5, 1}, NULL));
    CHECK_STATUS(dvk_weights_check_all_used(f), DVK_ERROR_FORMAT);
    expect_message_names("'s'");
    CHECK_OK(dvk_weights_get(f, "s", NULL));
    CHECK_OK(dvk_weights_check_all_used(f));
    float a[3];
    CHECK_OK(dvk_weights_read(f, "a", DVK_DTYPE_F32, a, sizeof a));
    assert_true(a[0] == 1 && a[1] == 2 && a[2] == 3);
    int32_t s = 0;
    CHECK_OK(dvk_weights_read(f, "s", DVK_DTYPE_I32, &s, sizeof s));
    assert_int_equal(s, 42);
    dvk_weights_destroy(f);
}

/* The per-tensor dtype choice: norms stay f32 while the rest loads as f16 (bf16 where there is
 * no 16-bit storage: f32). A choice that is not a float dtype is refused. */
static dvk_dtype norms_in_f32(void *user, const char *name, dvk_dtype chosen)
{
    int *calls = user;
    ++*calls;
    if (strstr(name, "bad"))
        return DVK_DTYPE_I32;
    return strstr(name, "norm") ? DVK_DTYPE_F32 : chosen == DVK_DTYPE_F16 ? DVK_DTYPE_DEFAULT
                                                                          : DVK_DTYPE_BF16;
}

static void test_tensor_dtype_choice(void **state)
{
    (void)state;
    const float x[4] = {1, 2, 3, 4};
    const int32_t ids[2] = {5, 6};
    const uint64_t four = 4, two = 2;
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "norm.weight", DVK_ST_F32, 1, &four, x), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "proj.weight", DVK_ST_F32, 1, &four, x), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "ids", DVK_ST_I32, 1, &two, ids), DVK_SUCCESS);
    char path[512];
    save_tmp(w, path, sizeof path);
    dvk_st_writer_destroy(w);

    int calls = 0;
    dvk_weights *f = NULL;
    CHECK_OK(dvk_weights_load(harness_ctx, path,
                              &(dvk_weights_desc){.dtype = DVK_DTYPE_F16,
                                                  .tensor_dtype = norms_in_f32,
                                                  .user_data = &calls},
                              &f));
    assert_int_equal(calls, 2); /* float entries only */
    const bool fp16 = dvk_context_device_info(harness_ctx)->fp16_storage;
    dvk_tensor *t = NULL;
    CHECK_OK(dvk_weights_get(f, "norm.weight", &t));
    assert_int_equal(dvk_tensor_dtype(t), DVK_DTYPE_F32);
    CHECK_OK(dvk_weights_get(f, "proj.weight", &t));
    assert_int_equal(dvk_tensor_dtype(t), fp16 ? DVK_DTYPE_F16 : DVK_DTYPE_F32);
    CHECK_OK(dvk_weights_get(f, "ids", &t));
    assert_int_equal(dvk_tensor_dtype(t), DVK_DTYPE_I32);
    dvk_weights_destroy(f);

    CHECK_OK(dvk_weights_load(harness_ctx, path,
                              &(dvk_weights_desc){.tensor_dtype = norms_in_f32,
                                                  .user_data = &calls},
                              &f));
    CHECK_OK(dvk_weights_get(f, "proj.weight", &t));
    assert_int_equal(dvk_tensor_dtype(t), fp16 ? DVK_DTYPE_BF16 : DVK_DTYPE_F32);
    dvk_weights_destroy(f);
    assert_int_equal(remove(path), 0);

    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    assert_int_equal(dvk_st_writer_add(w, "bad.weight", DVK_ST_F32, 1, &four, x), DVK_SUCCESS);
    CHECK_STATUS(load_written(w, harness_ctx,
                              &(dvk_weights_desc){.tensor_dtype = norms_in_f32,
                                                  .user_data = &calls},
                              &f),
                 DVK_ERROR_INVALID_ARGUMENT);
    expect_message_names("bad.weight");
    dvk_st_writer_destroy(w);
}

/* Many tensors, of odd sizes and both float dtypes: through the unified-memory path (lavapipe)
 * and the staged path in batches (forced, with a batch of 4 KiB: many submissions, and one
 * tensor larger than a batch), from a file and from memory. */
static void test_many_tensors(void **state)
{
    (void)state;
    enum { COUNT = 300, BIG = 3000 };
    static float data[COUNT][64];
    static float big[BIG];
    harness_rng rng = harness_rng_make(11);
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    char name[COUNT][32];
    for (int i = 0; i < COUNT; ++i) {
        const uint64_t shape[2] = {(uint64_t)(1 + i % 7), (uint64_t)(1 + i % 9)};
        harness_fill_normal(&rng, data[i], 64, 1.0f);
        snprintf(name[i], sizeof name[i], "layers.%d.w", i);
        if (i % 3 == 1) {
            uint16_t h[64];
            for (int j = 0; j < 64; ++j)
                h[j] = dvk_f32_to_f16(data[i][j]);
            assert_int_equal(dvk_st_writer_add(w, name[i], DVK_ST_F16, 2, shape, h),
                             DVK_SUCCESS);
        } else {
            assert_int_equal(dvk_st_writer_add(w, name[i], DVK_ST_F32, 2, shape, data[i]),
                             DVK_SUCCESS);
        }
        if (i == COUNT / 2) {
            harness_fill_normal(&rng, big, BIG, 1.0f);
            assert_int_equal(dvk_st_writer_add(w, "big", DVK_ST_F32, 1,
                                               (const uint64_t[]){BIG}, big),
                             DVK_SUCCESS);
        }
    }
    char path[512];
    save_tmp(w, path, sizeof path);
    dvk_st_writer_destroy(w);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    const size_t len = (size_t)ftell(fp);
    rewind(fp);
    unsigned char *bytes = malloc(len);
    assert_non_null(bytes);
    assert_int_equal(fread(bytes, 1, len, fp), len);
    fclose(fp);

    for (int run = 0; run < 3; ++run) {
        const bool staged = run > 0;
        if (staged)
            setenv("DVK_WEIGHTS_STAGED", "1", 1);
        dvk_weights *f = NULL;
        const dvk_weights_desc desc = {.dtype = DVK_DTYPE_F32,
                                       .upload_batch_bytes = staged ? 4096 : 0};
        if (run == 2) { /* from memory, the source gone at once */
            unsigned char *copy = malloc(len);
            assert_non_null(copy);
            memcpy(copy, bytes, len);
            CHECK_OK(dvk_weights_load_memory(harness_ctx, copy, len, &desc, &f));
            memset(copy, 0xff, len);
            free(copy);
        } else {
            CHECK_OK(dvk_weights_load(harness_ctx, path, &desc, &f));
        }
        unsetenv("DVK_WEIGHTS_STAGED");
        assert_int_equal(dvk_weights_count(f), COUNT + 1);
        for (int i = 0; i < COUNT; ++i) {
            dvk_tensor *t = NULL;
            const uint64_t shape[2] = {(uint64_t)(1 + i % 7), (uint64_t)(1 + i % 9)};
            CHECK_OK(dvk_weights_expect(f, name[i], 2, shape, &t));
            assert_int_equal(dvk_tensor_dtype(t), DVK_DTYPE_F32);
            float *got = download(t);
            const size_t n = (size_t)(shape[0] * shape[1]);
            for (size_t j = 0; j < n; ++j) {
                const float want =
                    i % 3 == 1 ? dvk_f16_to_f32(dvk_f32_to_f16(data[i][j])) : data[i][j];
                if (got[j] != want)
                    fail_msg("run %d: %s[%zu] = %g, want %g", run, name[i], j, (double)got[j],
                             (double)want);
            }
            free(got);
        }
        dvk_tensor *t = NULL;
        CHECK_OK(dvk_weights_expect(f, "big", 1, (const uint64_t[]){BIG}, &t));
        float *got = download(t);
        assert_memory_equal(got, big, sizeof big);
        free(got);
        CHECK_OK(dvk_weights_check_all_used(f));
        dvk_weights_destroy(f);
    }
    free(bytes);
    assert_int_equal(remove(path), 0);
}

/* load_memory: the same as a file, and its messages call the file "(memory)". */
static void test_load_memory(void **state)
{
    (void)state;
    size_t len;
    unsigned char *raw = small_file(&len);
    dvk_weights *f = NULL;
    CHECK_OK(dvk_weights_load_memory(harness_ctx, raw, len, NULL, &f));
    memset(raw, 0, len); /* the library has its own copy */
    free(raw);
    dvk_tensor *t = NULL;
    CHECK_OK(dvk_weights_expect(f, "a", 1, (const uint64_t[]){3}, &t));
    float *a = download(t);
    assert_true(a[0] == 1 && a[1] == 2 && a[2] == 3);
    free(a);
    CHECK_STATUS(dvk_weights_get(f, "nothere", &t), DVK_ERROR_NOT_FOUND);
    expect_message_names("(memory)");
    expect_message_names("nothere");
    assert_string_equal(dvk_weights_metadata(f, "format"), "pt");
    dvk_weights_destroy(f);
    /* an empty buffer is a malformed file, not a bad argument */
    CHECK_STATUS(dvk_weights_load_memory(harness_ctx, NULL, 0, NULL, &f), DVK_ERROR_FORMAT);
}

#define T(f) cmocka_unit_test_teardown(f, harness_test_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_too_short),
        T(test_bad_header_length),
        T(test_bad_header_bytes),
        T(test_malformed_json),
        T(test_accepted_json),
        T(test_escaped_names),
        T(test_nul_in_name),
        T(test_duplicates_and_overlaps),
        T(test_offsets_point_into_data),
        T(test_every_truncation),
        T(test_io_errors),
        T(test_null_handles),
        T(test_read_f16),
        T(test_read_bf16),
        T(test_read_integers),
        T(test_unaligned_and_scalars),
        T(test_load_dtypes),
        T(test_int_out_of_range),
        T(test_unloadable_entries),
        T(test_expect_errors),
        T(test_host_only),
        T(test_tensor_dtype_choice),
        T(test_many_tensors),
        T(test_load_memory),
    };
    if (getenv("DVK_TEST_FILTER")) /* a glob of test names: only those run */
        cmocka_set_test_filter(getenv("DVK_TEST_FILTER"));
    return cmocka_run_group_tests_name("weights", tests, harness_group_setup,
                                       harness_group_teardown);
}
