/* safetensors reader and writer. See safetensors.h for the format and the choices made. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reference implementation refuses headers above this size; a bigger length field is far
 * more likely corruption than a real header, and we would otherwise try to parse it. */
#define DVK_ST_MAX_HEADER_BYTES 100000000u
/* cJSON keeps numbers as double, which holds every integer below 2^53 exactly. Shapes and
 * offsets at or above it are refused, on read and on write. */
#define DVK_ST_JSON_INT_LIMIT ((uint64_t)1 << 53)
#define DVK_ST_METADATA_KEY "__metadata__"
/* Start size for reading a file whose size cannot be asked in advance. */
#define DVK_ST_READ_CHUNK ((size_t)1 << 16)
/* A size hint above this is not believed (ftell on a directory can report 2^63 - 1). */
#define DVK_ST_MAX_SIZE_HINT ((uint64_t)1 << 40)
/* Tensor names in error messages are cut to 80 bytes, which is plenty to recognise one. */
#define DVK_ST_NAME_IN_MSG "%.80s"

#if defined(__GNUC__)
#define DVK_ST_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define DVK_ST_PRINTF(fmt_index, first_arg)
#endif

typedef struct dvk_st_kv {
    char *key;
    char *value;
} dvk_st_kv;

struct dvk_st_file {
    unsigned char *bytes;          /* the whole file; tensors point into it */
    size_t len;
    dvk_st_tensor *tensors;        /* header order; names are owned */
    size_t count;
    const dvk_st_tensor **by_name; /* sorted by name, for dvk_st_find */
    dvk_st_kv *meta;               /* sorted by key, for dvk_st_metadata */
    size_t meta_count;
};

/* What the header parser needs besides the file being filled in. */
typedef struct dvk_st_parse_ctx {
    dvk_st_file *f;
    const unsigned char *data; /* start of the data buffer, right after the header */
    uint64_t data_len;
    char *err;
    size_t err_len;
} dvk_st_parse_ctx;

typedef struct dvk_st_wtensor {
    char *name;
    dvk_st_dtype dtype;
    uint32_t ndim;
    uint64_t shape[DVK_ST_MAX_DIMS];
    unsigned char *data; /* NULL when nbytes is 0 */
    uint64_t nbytes;
} dvk_st_wtensor;

struct dvk_st_writer {
    dvk_st_wtensor *tensors; /* insertion order = header order = data order */
    size_t count, cap;
    dvk_st_kv *meta;
    size_t meta_count, meta_cap;
    uint64_t total_bytes; /* data buffer size so far; stays below DVK_ST_JSON_INT_LIMIT */
};

/* ---------------------------------------------------------------------------------------------
 * Small helpers */

/* Messages are promised to be one line, but names from a file may hold escaped newlines and
 * other control characters. */
static void dvk_st_one_line(char *s)
{
    for (; *s; ++s)
        if ((unsigned char)*s < 0x20 || *s == 0x7F)
            *s = '?';
}

DVK_ST_PRINTF(4, 5)
static dvk_status dvk_st_fail(char *err, size_t err_len, dvk_status status, const char *fmt, ...)
{
    if (err && err_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
        dvk_st_one_line(err);
    }
    return status;
}

static char *dvk_st_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

/* The format says the header is UTF-8 and cJSON does not check; names taken from a bad header
 * would otherwise reach terminals and other tools as garbage. Rejects overlong forms,
 * surrogates and code points above U+10FFFF, as the Unicode standard requires. */
static bool dvk_st_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const unsigned char lead = s[i];
        size_t extra;
        uint32_t cp, min;
        if (lead < 0x80) {
            ++i;
            continue;
        } else if ((lead & 0xE0) == 0xC0) {
            extra = 1, cp = lead & 0x1F, min = 0x80;
        } else if ((lead & 0xF0) == 0xE0) {
            extra = 2, cp = lead & 0x0F, min = 0x800;
        } else if ((lead & 0xF8) == 0xF0) {
            extra = 3, cp = lead & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; ++k) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += extra + 1;
    }
    return true;
}

static bool dvk_st_json_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* JSON allows no control bytes outside its four whitespace characters (inside strings they must
 * be escaped), but cJSON skips every byte <= 0x20 as whitespace, NUL included, and would take
 * "{\0}" for "{}". Returns the offset of the first such byte, or n if there is none. */
static size_t dvk_st_find_control_byte(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if (s[i] < 0x20 && !dvk_st_json_space(s[i]))
            return i;
    return n;
}

/* cJSON stores every number as a double, so "2.5", "-1" and "1e300" all arrive as numbers.
 * Accepts only integral values in [0, 2^53), where the double is exactly what was written. */
static bool dvk_st_json_u64(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item))
        return false;
    const double d = item->valuedouble;
    /* Written so that NaN fails too; cJSON turns 1e999 into infinity, which the bound stops. */
    if (!(d >= 0.0 && d < (double)DVK_ST_JSON_INT_LIMIT))
        return false;
    const uint64_t u = (uint64_t)d;
    if ((double)u != d)
        return false;
    *out = u;
    return true;
}

static uint64_t dvk_st_load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

/* ---------------------------------------------------------------------------------------------
 * dtypes */

/* Indexed by dvk_st_dtype; the names are the ones the format uses. */
static const struct {
    const char *name;
    size_t size;
} dvk_st_dtype_table[] = {
    [DVK_ST_F64] = {"F64", 8}, [DVK_ST_F32] = {"F32", 4}, [DVK_ST_F16] = {"F16", 2},
    [DVK_ST_BF16] = {"BF16", 2}, [DVK_ST_I64] = {"I64", 8}, [DVK_ST_I32] = {"I32", 4},
    [DVK_ST_I16] = {"I16", 2}, [DVK_ST_I8] = {"I8", 1}, [DVK_ST_U8] = {"U8", 1},
    [DVK_ST_BOOL] = {"BOOL", 1},
};
#define DVK_ST_DTYPE_COUNT (sizeof dvk_st_dtype_table / sizeof dvk_st_dtype_table[0])

static bool dvk_st_dtype_valid(dvk_st_dtype d)
{
    /* Compared as unsigned so that a negative value cast to the enum fails as well. */
    return (unsigned)d < DVK_ST_DTYPE_COUNT;
}

const char *dvk_st_dtype_name(dvk_st_dtype d)
{
    return dvk_st_dtype_valid(d) ? dvk_st_dtype_table[d].name : "invalid";
}

size_t dvk_st_dtype_size(dvk_st_dtype d)
{
    return dvk_st_dtype_valid(d) ? dvk_st_dtype_table[d].size : 0;
}

static bool dvk_st_dtype_from_name(const char *name, dvk_st_dtype *out)
{
    for (size_t i = 0; i < DVK_ST_DTYPE_COUNT; ++i) {
        if (strcmp(name, dvk_st_dtype_table[i].name) == 0) {
            *out = (dvk_st_dtype)i;
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * Reading: the header, one piece at a time */

static dvk_status dvk_st_parse_shape(dvk_st_parse_ctx *c, const cJSON *shape, dvk_st_tensor *t)
{
    if (!cJSON_IsArray(shape))
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                           "tensor \"" DVK_ST_NAME_IN_MSG
                           "\": \"shape\" is missing or not an array",
                           t->name);
    t->ndim = 0;
    t->numel = 1;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape)
    {
        if (t->ndim == DVK_ST_MAX_DIMS)
            return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                               "tensor \"" DVK_ST_NAME_IN_MSG "\": more than %d dimensions",
                               t->name, DVK_ST_MAX_DIMS);
        uint64_t d;
        if (!dvk_st_json_u64(dim, &d))
            return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                               "tensor \"" DVK_ST_NAME_IN_MSG "\": shape entry %" PRIu32
                               " is not an integer in [0, 2^53)",
                               t->name, t->ndim);
        if (d != 0 && t->numel > UINT64_MAX / d)
            return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                               "tensor \"" DVK_ST_NAME_IN_MSG "\": element count overflows",
                               t->name);
        t->shape[t->ndim++] = d;
        t->numel *= d;
    }
    return DVK_SUCCESS;
}

/* Needs dtype and numel already set: the byte range must hold exactly numel elements. */
static dvk_status dvk_st_parse_offsets(dvk_st_parse_ctx *c, const cJSON *offsets,
                                       dvk_st_tensor *t)
{
    uint64_t begin, end;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !dvk_st_json_u64(offsets->child, &begin) || !dvk_st_json_u64(offsets->child->next, &end))
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                           "tensor \"" DVK_ST_NAME_IN_MSG
                           "\": \"data_offsets\" is not two integers in [0, 2^53)",
                           t->name);
    if (begin > end)
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                           "tensor \"" DVK_ST_NAME_IN_MSG "\": data_offsets begin %" PRIu64
                           " is after end %" PRIu64,
                           t->name, begin, end);
    if (end > c->data_len)
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                           "tensor \"" DVK_ST_NAME_IN_MSG "\": data ends at %" PRIu64
                           " but the data buffer holds only %" PRIu64 " bytes (truncated file?)",
                           t->name, end, c->data_len);
    const uint64_t size = dvk_st_dtype_size(t->dtype);
    if (t->numel > UINT64_MAX / size)
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                           "tensor \"" DVK_ST_NAME_IN_MSG "\": byte size overflows", t->name);
    if (t->numel * size != end - begin)
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                           "tensor \"" DVK_ST_NAME_IN_MSG "\": data_offsets span %" PRIu64
                           " bytes but %" PRIu64 " %s elements take %" PRIu64,
                           t->name, end - begin, t->numel, dvk_st_dtype_name(t->dtype),
                           t->numel * size);
    t->data = c->data + begin;
    t->nbytes = end - begin;
    return DVK_SUCCESS;
}

/* Fills *t (whose name is already set) from one header entry. Unknown fields are ignored, as
 * the reference reader does. */
static dvk_status dvk_st_parse_tensor(dvk_st_parse_ctx *c, const cJSON *entry, dvk_st_tensor *t)
{
    if (!cJSON_IsObject(entry))
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                           "tensor \"" DVK_ST_NAME_IN_MSG "\": entry is not a JSON object",
                           t->name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    if (!cJSON_IsString(dtype) || !dtype->valuestring)
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                           "tensor \"" DVK_ST_NAME_IN_MSG
                           "\": \"dtype\" is missing or not a string",
                           t->name);
    if (!dvk_st_dtype_from_name(dtype->valuestring, &t->dtype))
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                           "tensor \"" DVK_ST_NAME_IN_MSG "\": dtype \"%.16s\" is not supported",
                           t->name, dtype->valuestring);
    dvk_status st = dvk_st_parse_shape(c, cJSON_GetObjectItemCaseSensitive(entry, "shape"), t);
    if (st != DVK_SUCCESS)
        return st;
    return dvk_st_parse_offsets(c, cJSON_GetObjectItemCaseSensitive(entry, "data_offsets"), t);
}

static int dvk_st_cmp_kv(const void *a, const void *b)
{
    return strcmp(((const dvk_st_kv *)a)->key, ((const dvk_st_kv *)b)->key);
}

/* bsearch comparator: a bare key against an entry. */
static int dvk_st_cmp_key_with_kv(const void *key, const void *kv)
{
    return strcmp((const char *)key, ((const dvk_st_kv *)kv)->key);
}

static dvk_status dvk_st_parse_metadata(dvk_st_parse_ctx *c, const cJSON *meta)
{
    dvk_st_file *f = c->f;
    /* The reference reader models the field as optional, so null means "no metadata". */
    if (cJSON_IsNull(meta))
        return DVK_SUCCESS;
    if (!cJSON_IsObject(meta))
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                           "\"" DVK_ST_METADATA_KEY "\" is not a JSON object");
    size_t n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, meta)
    {
        ++n;
    }
    f->meta = calloc(n ? n : 1, sizeof *f->meta);
    if (!f->meta)
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_OUT_OF_HOST_MEMORY,
                           "out of memory reading metadata");
    cJSON_ArrayForEach(item, meta)
    {
        if (!item->string || !cJSON_IsString(item) || !item->valuestring)
            return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                               "\"" DVK_ST_METADATA_KEY "\" value for \"" DVK_ST_NAME_IN_MSG
                               "\" is not a string",
                               item->string ? item->string : "");
        dvk_st_kv *kv = &f->meta[f->meta_count++];
        kv->key = dvk_st_strdup(item->string);
        kv->value = dvk_st_strdup(item->valuestring);
        if (!kv->key || !kv->value)
            return dvk_st_fail(c->err, c->err_len, DVK_ERROR_OUT_OF_HOST_MEMORY,
                               "out of memory reading metadata");
    }
    /* Sorted once so lookups are a binary search and duplicates sit side by side. */
    qsort(f->meta, f->meta_count, sizeof *f->meta, dvk_st_cmp_kv);
    for (size_t i = 1; i < f->meta_count; ++i)
        if (strcmp(f->meta[i - 1].key, f->meta[i].key) == 0)
            return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                               "duplicate metadata key \"" DVK_ST_NAME_IN_MSG "\"",
                               f->meta[i].key);
    return DVK_SUCCESS;
}

static int dvk_st_cmp_tensor_name(const void *a, const void *b)
{
    const dvk_st_tensor *ta = *(const dvk_st_tensor *const *)a;
    const dvk_st_tensor *tb = *(const dvk_st_tensor *const *)b;
    return strcmp(ta->name, tb->name);
}

/* JSON allows repeated keys and cJSON keeps them all; two tensors of one name would make
 * dvk_st_find ambiguous, so they are refused. */
static dvk_status dvk_st_index_names(dvk_st_parse_ctx *c)
{
    dvk_st_file *f = c->f;
    for (size_t i = 0; i < f->count; ++i)
        f->by_name[i] = &f->tensors[i];
    qsort(f->by_name, f->count, sizeof *f->by_name, dvk_st_cmp_tensor_name);
    for (size_t i = 1; i < f->count; ++i)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0)
            return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                               "duplicate tensor name \"" DVK_ST_NAME_IN_MSG "\"",
                               f->by_name[i]->name);
    return DVK_SUCCESS;
}

static int dvk_st_cmp_tensor_data(const void *a, const void *b)
{
    const unsigned char *pa = (*(const dvk_st_tensor *const *)a)->data;
    const unsigned char *pb = (*(const dvk_st_tensor *const *)b)->data;
    return (pa > pb) - (pa < pb);
}

/* No writer shares bytes between tensors, and the reference reader refuses it, so a file that
 * does is corrupt or crafted; refusing it also means a tool may copy data out of one tensor
 * without touching another. Empty tensors own no bytes and cannot overlap. */
static dvk_status dvk_st_check_overlaps(dvk_st_parse_ctx *c)
{
    dvk_st_file *f = c->f;
    const dvk_st_tensor **order = malloc((f->count ? f->count : 1) * sizeof *order);
    if (!order)
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_OUT_OF_HOST_MEMORY,
                           "out of memory checking data offsets");
    size_t m = 0;
    for (size_t i = 0; i < f->count; ++i)
        if (f->tensors[i].nbytes > 0)
            order[m++] = &f->tensors[i];
    qsort(order, m, sizeof *order, dvk_st_cmp_tensor_data);
    dvk_status st = DVK_SUCCESS;
    /* Sorted by start, so only neighbours need comparing. */
    for (size_t i = 1; i < m && st == DVK_SUCCESS; ++i) {
        const dvk_st_tensor *prev = order[i - 1];
        const unsigned char *prev_end = (const unsigned char *)prev->data + prev->nbytes;
        if ((const unsigned char *)order[i]->data < prev_end)
            st = dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                             "tensors \"" DVK_ST_NAME_IN_MSG "\" and \"" DVK_ST_NAME_IN_MSG
                             "\" overlap",
                             prev->name, order[i]->name);
    }
    free(order);
    return st;
}

static dvk_status dvk_st_parse_entries(dvk_st_parse_ctx *c, const cJSON *root)
{
    dvk_st_file *f = c->f;
    size_t n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        ++n;
    }
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    f->by_name = calloc(n ? n : 1, sizeof *f->by_name);
    if (!f->tensors || !f->by_name)
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_OUT_OF_HOST_MEMORY,
                           "out of memory reading the header");
    bool seen_metadata = false;
    cJSON_ArrayForEach(item, root)
    {
        dvk_status item_st;
        if (!item->string)
            return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT, "header entry has no name");
        if (strcmp(item->string, DVK_ST_METADATA_KEY) == 0) {
            if (seen_metadata)
                return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                                   "\"" DVK_ST_METADATA_KEY "\" appears twice");
            seen_metadata = true;
            item_st = dvk_st_parse_metadata(c, item);
        } else {
            dvk_st_tensor *t = &f->tensors[f->count];
            t->name = dvk_st_strdup(item->string);
            if (!t->name)
                return dvk_st_fail(c->err, c->err_len, DVK_ERROR_OUT_OF_HOST_MEMORY,
                                   "out of memory reading the header");
            f->count++; /* counted now so dvk_st_free releases the name if the rest fails */
            item_st = dvk_st_parse_tensor(c, item, t);
        }
        if (item_st != DVK_SUCCESS)
            return item_st;
    }
    dvk_status st = dvk_st_index_names(c);
    if (st != DVK_SUCCESS)
        return st;
    return dvk_st_check_overlaps(c);
}

/* Parses the n header bytes at hdr. The text is copied with a terminating NUL so that neither
 * cJSON nor strtod inside it can read past the header. */
static dvk_status dvk_st_parse_header(dvk_st_parse_ctx *c, const unsigned char *hdr, size_t n)
{
    if (!dvk_st_utf8_valid(hdr, n))
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT, "header is not valid UTF-8");
    const size_t control = dvk_st_find_control_byte(hdr, n);
    if (control < n)
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                           "header has control byte 0x%02x at byte %zu", hdr[control], control);
    char *text = malloc(n + 1);
    if (!text)
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_OUT_OF_HOST_MEMORY,
                           "out of memory reading a %zu-byte header", n);
    memcpy(text, hdr, n);
    text[n] = '\0';

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (!root) {
        const size_t at = (end && end >= text && end <= text + n) ? (size_t)(end - text) : 0;
        free(text);
        return dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                           "header is not valid JSON (error near byte %zu)", at);
    }
    /* Writers pad the header with spaces to align the data; anything else after the JSON value
     * means the length field and the header disagree. */
    bool trailing_ok = end && end >= text && end <= text + n;
    for (const char *p = end; trailing_ok && p < text + n; ++p)
        trailing_ok = dvk_st_json_space((unsigned char)*p);
    free(text);

    dvk_status st;
    if (!trailing_ok)
        st = dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT,
                         "header has bytes other than whitespace after the JSON value");
    else if (!cJSON_IsObject(root))
        st = dvk_st_fail(c->err, c->err_len, DVK_ERROR_FORMAT, "header is not a JSON object");
    else
        st = dvk_st_parse_entries(c, root);
    cJSON_Delete(root);
    return st;
}

/* Takes ownership of bytes (freed on failure too). */
static dvk_status dvk_st_parse_owned(unsigned char *bytes, size_t len, dvk_st_file **out,
                                     char *err, size_t err_len)
{
    if (len < 8) {
        free(bytes);
        return dvk_st_fail(err, err_len, DVK_ERROR_FORMAT,
                           "file is %zu bytes, too short for the 8-byte header length", len);
    }
    const uint64_t n = dvk_st_load_le64(bytes);
    if (n > DVK_ST_MAX_HEADER_BYTES) {
        free(bytes);
        return dvk_st_fail(err, err_len, DVK_ERROR_FORMAT,
                           "header length %" PRIu64 " exceeds the limit of %u bytes", n,
                           DVK_ST_MAX_HEADER_BYTES);
    }
    if (n > len - 8) {
        free(bytes);
        return dvk_st_fail(err, err_len, DVK_ERROR_FORMAT,
                           "header length %" PRIu64 " runs past the end of the %zu-byte file", n,
                           len);
    }
    dvk_st_file *f = calloc(1, sizeof *f);
    if (!f) {
        free(bytes);
        return dvk_st_fail(err, err_len, DVK_ERROR_OUT_OF_HOST_MEMORY, "out of memory");
    }
    f->bytes = bytes;
    f->len = len;
    dvk_st_parse_ctx c = {
        .f = f,
        .data = bytes + 8 + n,
        .data_len = len - 8 - n,
        .err = err,
        .err_len = err_len,
    };
    dvk_status st = dvk_st_parse_header(&c, bytes + 8, (size_t)n);
    if (st != DVK_SUCCESS) {
        dvk_st_free(f);
        return st;
    }
    *out = f;
    return DVK_SUCCESS;
}

/* ---------------------------------------------------------------------------------------------
 * Reading: files and buffers */

/* The file's size if the stream can tell, else 0; the stream is left at its start. */
static uint64_t dvk_st_size_hint(FILE *fp)
{
    uint64_t hint = 0;
    if (fseek(fp, 0, SEEK_END) == 0) {
        const long pos = ftell(fp);
        if (pos > 0 && (uint64_t)pos < DVK_ST_MAX_SIZE_HINT && (uint64_t)pos < SIZE_MAX)
            hint = (uint64_t)pos;
    }
    clearerr(fp);
    rewind(fp);
    return hint;
}

/* Reads until end of file; the size hint only saves reallocations, so a file that changes size
 * while read is still read whole. */
static dvk_status dvk_st_read_all(const char *path, unsigned char **out, size_t *out_len,
                                  char *err, size_t err_len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return dvk_st_fail(err, err_len, DVK_ERROR_IO, "%s: cannot open: %s", path,
                           strerror(errno));
    /* One byte over the hint, so that reading a file of exactly that size meets end of file
     * without a reallocation. */
    size_t cap = (size_t)dvk_st_size_hint(fp) + 1;
    if (cap < DVK_ST_READ_CHUNK)
        cap = DVK_ST_READ_CHUNK;
    unsigned char *buf = malloc(cap);
    size_t len = 0;
    dvk_status st = buf ? DVK_SUCCESS : DVK_ERROR_OUT_OF_HOST_MEMORY;
    while (st == DVK_SUCCESS) {
        if (len == cap) {
            unsigned char *grown = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!grown) {
                st = DVK_ERROR_OUT_OF_HOST_MEMORY;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        const size_t want = cap - len;
        const size_t got = fread(buf + len, 1, want, fp);
        len += got;
        if (got < want) {
            if (ferror(fp))
                st = DVK_ERROR_IO;
            break;
        }
    }
    const int saved_errno = errno;
    fclose(fp); /* a read-only stream has nothing to lose on close */
    if (st != DVK_SUCCESS) {
        free(buf);
        if (st == DVK_ERROR_IO)
            return dvk_st_fail(err, err_len, st, "%s: read failed: %s", path,
                               strerror(saved_errno));
        return dvk_st_fail(err, err_len, st, "%s: out of memory reading the file", path);
    }
    *out = buf;
    *out_len = len;
    return DVK_SUCCESS;
}

dvk_status dvk_st_read(const char *path, dvk_st_file **out, char *err, size_t err_len)
{
    if (!out)
        return dvk_st_fail(err, err_len, DVK_ERROR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!path)
        return dvk_st_fail(err, err_len, DVK_ERROR_INVALID_ARGUMENT, "path is NULL");
    unsigned char *bytes = NULL;
    size_t len = 0;
    dvk_status st = dvk_st_read_all(path, &bytes, &len, err, err_len);
    if (st != DVK_SUCCESS)
        return st;
    st = dvk_st_parse_owned(bytes, len, out, err, err_len);
    if (st != DVK_SUCCESS && err && err_len > 0) {
        /* Name the file, since the parser's message cannot. */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err);
        snprintf(err, err_len, "%s: %s", path, msg);
        dvk_st_one_line(err);
    }
    return st;
}

dvk_status dvk_st_parse(const void *bytes, size_t len, dvk_st_file **out, char *err,
                        size_t err_len)
{
    if (!out)
        return dvk_st_fail(err, err_len, DVK_ERROR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!bytes && len > 0)
        return dvk_st_fail(err, err_len, DVK_ERROR_INVALID_ARGUMENT, "bytes is NULL");
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy)
        return dvk_st_fail(err, err_len, DVK_ERROR_OUT_OF_HOST_MEMORY, "out of memory");
    if (len > 0)
        memcpy(copy, bytes, len);
    return dvk_st_parse_owned(copy, len, out, err, err_len);
}

void dvk_st_free(dvk_st_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->count; ++i)
        free((char *)f->tensors[i].name);
    for (size_t i = 0; i < f->meta_count; ++i) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->tensors);
    free(f->by_name);
    free(f->meta);
    free(f->bytes);
    free(f);
}

/* ---------------------------------------------------------------------------------------------
 * Reading: queries and conversions */

size_t dvk_st_count(const dvk_st_file *f)
{
    return f ? f->count : 0;
}

const dvk_st_tensor *dvk_st_get(const dvk_st_file *f, size_t i)
{
    return f && i < f->count ? &f->tensors[i] : NULL;
}

const dvk_st_tensor *dvk_st_find(const dvk_st_file *f, const char *name)
{
    if (!f || !name || f->count == 0)
        return NULL;
    const dvk_st_tensor key = {.name = name};
    const dvk_st_tensor *key_ptr = &key;
    const dvk_st_tensor *const *hit =
        bsearch(&key_ptr, f->by_name, f->count, sizeof *f->by_name, dvk_st_cmp_tensor_name);
    return hit ? *hit : NULL;
}

const char *dvk_st_metadata(const dvk_st_file *f, const char *key)
{
    /* bsearch must not be given a NULL array, even an empty one. */
    if (!f || !key || f->meta_count == 0)
        return NULL;
    const dvk_st_kv *hit =
        bsearch(key, f->meta, f->meta_count, sizeof *f->meta, dvk_st_cmp_key_with_kv);
    return hit ? hit->value : NULL;
}

/* Element loads go through memcpy because a tensor may start at any byte offset. */
static float dvk_st_bf16_to_f32(uint16_t h)
{
    const uint32_t bits = (uint32_t)h << 16; /* bf16 is the top half of an f32 */
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* One integer or bool element as int64. Only called for those dtypes. */
static int64_t dvk_st_load_int(dvk_st_dtype dtype, const unsigned char *p)
{
    switch (dtype) {
    case DVK_ST_I64: {
        int64_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case DVK_ST_I32: {
        int32_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case DVK_ST_I16: {
        int16_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case DVK_ST_I8:
        return (int8_t)p[0];
    case DVK_ST_U8:
        return p[0];
    case DVK_ST_BOOL:
        return p[0] != 0;
    default:
        return 0;
    }
}

static float dvk_st_load_f32(dvk_st_dtype dtype, const unsigned char *p)
{
    switch (dtype) {
    case DVK_ST_F64: {
        double v;
        memcpy(&v, p, sizeof v);
        return (float)v;
    }
    case DVK_ST_F32: {
        float v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case DVK_ST_F16: {
        uint16_t h;
        memcpy(&h, p, sizeof h);
        return dvk_f16_to_f32(h);
    }
    case DVK_ST_BF16: {
        uint16_t h;
        memcpy(&h, p, sizeof h);
        return dvk_st_bf16_to_f32(h);
    }
    default:
        return (float)dvk_st_load_int(dtype, p);
    }
}

void dvk_st_to_f32(const dvk_st_tensor *t, float *dst)
{
    if (!t || !dst || !dvk_st_dtype_valid(t->dtype))
        return;
    const unsigned char *p = t->data;
    const size_t size = dvk_st_dtype_size(t->dtype);
    for (uint64_t i = 0; i < t->numel; ++i)
        dst[i] = dvk_st_load_f32(t->dtype, p + i * size);
}

dvk_status dvk_st_to_i64(const dvk_st_tensor *t, int64_t *dst)
{
    if (!t || !dst || !dvk_st_dtype_valid(t->dtype))
        return DVK_ERROR_INVALID_ARGUMENT;
    switch (t->dtype) {
    case DVK_ST_F64:
    case DVK_ST_F32:
    case DVK_ST_F16:
    case DVK_ST_BF16:
        return DVK_ERROR_UNSUPPORTED_DTYPE;
    default:
        break;
    }
    const unsigned char *p = t->data;
    const size_t size = dvk_st_dtype_size(t->dtype);
    for (uint64_t i = 0; i < t->numel; ++i)
        dst[i] = dvk_st_load_int(t->dtype, p + i * size);
    return DVK_SUCCESS;
}

/* ---------------------------------------------------------------------------------------------
 * Writing */

dvk_status dvk_st_writer_create(dvk_st_writer **out)
{
    if (!out)
        return DVK_ERROR_INVALID_ARGUMENT;
    *out = calloc(1, sizeof **out);
    return *out ? DVK_SUCCESS : DVK_ERROR_OUT_OF_HOST_MEMORY;
}

void dvk_st_writer_destroy(dvk_st_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->count; ++i) {
        free(w->tensors[i].name);
        free(w->tensors[i].data);
    }
    for (size_t i = 0; i < w->meta_count; ++i) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->tensors);
    free(w->meta);
    free(w);
}

static bool dvk_st_utf8_string(const char *s)
{
    return dvk_st_utf8_valid((const unsigned char *)s, strlen(s));
}

/* Byte size of a tensor, refusing shapes whose sizes the reader would refuse. */
static dvk_status dvk_st_writer_nbytes(dvk_st_dtype dtype, uint32_t ndim, const uint64_t *shape,
                                       uint64_t *out)
{
    uint64_t numel = 1;
    for (uint32_t i = 0; i < ndim; ++i) {
        if (shape[i] >= DVK_ST_JSON_INT_LIMIT)
            return DVK_ERROR_INVALID_ARGUMENT;
        if (shape[i] != 0 && numel > UINT64_MAX / shape[i])
            return DVK_ERROR_INVALID_ARGUMENT;
        numel *= shape[i];
    }
    const uint64_t size = dvk_st_dtype_size(dtype);
    if (numel > UINT64_MAX / size)
        return DVK_ERROR_INVALID_ARGUMENT;
    *out = numel * size;
    return DVK_SUCCESS;
}

dvk_status dvk_st_writer_add(dvk_st_writer *w, const char *name, dvk_st_dtype dtype,
                             uint32_t ndim, const uint64_t *shape, const void *data)
{
    if (!w || !name || !dvk_st_dtype_valid(dtype) || ndim > DVK_ST_MAX_DIMS ||
        (ndim > 0 && !shape))
        return DVK_ERROR_INVALID_ARGUMENT;
    if (strcmp(name, DVK_ST_METADATA_KEY) == 0 || !dvk_st_utf8_string(name))
        return DVK_ERROR_INVALID_ARGUMENT;
    uint64_t nbytes;
    dvk_status st = dvk_st_writer_nbytes(dtype, ndim, shape, &nbytes);
    if (st != DVK_SUCCESS)
        return st;
    /* The end offset must stay below 2^53 for the header to be read back exactly. */
    if (nbytes >= DVK_ST_JSON_INT_LIMIT - w->total_bytes || nbytes > SIZE_MAX ||
        (nbytes > 0 && !data))
        return DVK_ERROR_INVALID_ARGUMENT;
    /* Linear, but writers hold at most thousands of tensors. */
    for (size_t i = 0; i < w->count; ++i)
        if (strcmp(w->tensors[i].name, name) == 0)
            return DVK_ERROR_INVALID_ARGUMENT;

    if (w->count == w->cap) {
        const size_t cap = w->cap ? w->cap * 2 : 8;
        dvk_st_wtensor *grown = realloc(w->tensors, cap * sizeof *grown);
        if (!grown)
            return DVK_ERROR_OUT_OF_HOST_MEMORY;
        w->tensors = grown;
        w->cap = cap;
    }
    dvk_st_wtensor t = {.dtype = dtype, .ndim = ndim, .nbytes = nbytes};
    for (uint32_t i = 0; i < ndim; ++i)
        t.shape[i] = shape[i];
    t.name = dvk_st_strdup(name);
    t.data = nbytes > 0 ? malloc((size_t)nbytes) : NULL;
    if (!t.name || (nbytes > 0 && !t.data)) {
        free(t.name);
        free(t.data);
        return DVK_ERROR_OUT_OF_HOST_MEMORY;
    }
    if (nbytes > 0)
        memcpy(t.data, data, (size_t)nbytes);
    w->tensors[w->count++] = t;
    w->total_bytes += nbytes;
    return DVK_SUCCESS;
}

dvk_status dvk_st_writer_set_metadata(dvk_st_writer *w, const char *key, const char *value)
{
    if (!w || !key || !value || !dvk_st_utf8_string(key) || !dvk_st_utf8_string(value))
        return DVK_ERROR_INVALID_ARGUMENT;
    char *value_copy = dvk_st_strdup(value);
    if (!value_copy)
        return DVK_ERROR_OUT_OF_HOST_MEMORY;
    for (size_t i = 0; i < w->meta_count; ++i) {
        if (strcmp(w->meta[i].key, key) == 0) {
            free(w->meta[i].value);
            w->meta[i].value = value_copy;
            return DVK_SUCCESS;
        }
    }
    if (w->meta_count == w->meta_cap) {
        const size_t cap = w->meta_cap ? w->meta_cap * 2 : 4;
        dvk_st_kv *grown = realloc(w->meta, cap * sizeof *grown);
        if (!grown) {
            free(value_copy);
            return DVK_ERROR_OUT_OF_HOST_MEMORY;
        }
        w->meta = grown;
        w->meta_cap = cap;
    }
    char *key_copy = dvk_st_strdup(key);
    if (!key_copy) {
        free(value_copy);
        return DVK_ERROR_OUT_OF_HOST_MEMORY;
    }
    w->meta[w->meta_count++] = (dvk_st_kv){.key = key_copy, .value = value_copy};
    return DVK_SUCCESS;
}

/* Appends an integer as raw JSON text: cJSON would print a double, which turns 10^15 into
 * "1e+15", and readers that want an integer refuse that. */
static bool dvk_st_json_add_u64(cJSON *array, uint64_t v)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRIu64, v);
    cJSON *item = cJSON_CreateRaw(text);
    if (!item)
        return false;
    if (!cJSON_AddItemToArray(array, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static bool dvk_st_json_add_tensor(cJSON *root, const dvk_st_wtensor *t, uint64_t begin)
{
    cJSON *entry = cJSON_AddObjectToObject(root, t->name);
    if (!entry || !cJSON_AddStringToObject(entry, "dtype", dvk_st_dtype_name(t->dtype)))
        return false;
    cJSON *shape = cJSON_AddArrayToObject(entry, "shape");
    if (!shape)
        return false;
    for (uint32_t i = 0; i < t->ndim; ++i)
        if (!dvk_st_json_add_u64(shape, t->shape[i]))
            return false;
    cJSON *offsets = cJSON_AddArrayToObject(entry, "data_offsets");
    return offsets && dvk_st_json_add_u64(offsets, begin) &&
           dvk_st_json_add_u64(offsets, begin + t->nbytes);
}

/* The header JSON, padded with spaces to a multiple of 8 bytes so that the data buffer, which
 * follows the 8-byte length, starts 8-byte aligned. Metadata first, as the reference writer
 * does, then tensors in insertion order. */
static dvk_status dvk_st_writer_header(const dvk_st_writer *w, char **out, size_t *out_len)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok && w->meta_count > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, DVK_ST_METADATA_KEY);
        ok = meta != NULL;
        for (size_t i = 0; ok && i < w->meta_count; ++i)
            ok = cJSON_AddStringToObject(meta, w->meta[i].key, w->meta[i].value) != NULL;
    }
    uint64_t offset = 0;
    for (size_t i = 0; ok && i < w->count; ++i) {
        ok = dvk_st_json_add_tensor(root, &w->tensors[i], offset);
        offset += w->tensors[i].nbytes;
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json)
        return DVK_ERROR_OUT_OF_HOST_MEMORY;

    const size_t len = strlen(json);
    const size_t padded = (len + 7) / 8 * 8;
    char *header = malloc(padded);
    if (!header) {
        cJSON_free(json);
        return DVK_ERROR_OUT_OF_HOST_MEMORY;
    }
    memcpy(header, json, len);
    memset(header + len, ' ', padded - len);
    cJSON_free(json);
    *out = header;
    *out_len = padded;
    return DVK_SUCCESS;
}

static bool dvk_st_write_bytes(FILE *fp, const void *p, size_t n)
{
    return n == 0 || fwrite(p, 1, n, fp) == n;
}

dvk_status dvk_st_writer_save(const dvk_st_writer *w, const char *path, char *err,
                              size_t err_len)
{
    if (!w || !path)
        return dvk_st_fail(err, err_len, DVK_ERROR_INVALID_ARGUMENT, "writer or path is NULL");
    char *header;
    size_t header_len;
    dvk_status st = dvk_st_writer_header(w, &header, &header_len);
    if (st != DVK_SUCCESS)
        return dvk_st_fail(err, err_len, st, "%s: out of memory building the header", path);

    FILE *fp = fopen(path, "wb");
    if (!fp) {
        const int saved_errno = errno;
        free(header);
        return dvk_st_fail(err, err_len, DVK_ERROR_IO, "%s: cannot create: %s", path,
                           strerror(saved_errno));
    }
    /* Spelled out byte by byte: the format fixes little-endian whatever the host is. */
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; ++i)
        len_bytes[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    bool ok = dvk_st_write_bytes(fp, len_bytes, sizeof len_bytes) &&
              dvk_st_write_bytes(fp, header, header_len);
    for (size_t i = 0; ok && i < w->count; ++i)
        ok = dvk_st_write_bytes(fp, w->tensors[i].data, (size_t)w->tensors[i].nbytes);
    free(header);
    int saved_errno = errno;
    /* fclose flushes, so a full disk may only show up here. */
    if (fclose(fp) != 0 && ok) {
        ok = false;
        saved_errno = errno;
    }
    if (!ok) {
        /* A partial file would later read as "truncated", hiding the real cause. */
        remove(path);
        return dvk_st_fail(err, err_len, DVK_ERROR_IO, "%s: write failed: %s", path,
                           strerror(saved_errno));
    }
    return DVK_SUCCESS;
}
