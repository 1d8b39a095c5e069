/* safetensors writer for the dvk tool and the tests. See safetensors.h. (Reading is the
 * library's: dvk_weights in deltavk.h.) */
/* realpath (following an output that is a symbolic link) is an X/Open function. */
#define _XOPEN_SOURCE 700

#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Shapes and offsets stay below 2^53, so that readers that keep JSON numbers as doubles (as
 * JavaScript's and many others do) read them exactly. */
#define DVK_ST_JSON_INT_LIMIT ((uint64_t)1 << 53)
#define DVK_ST_METADATA_KEY "__metadata__"

#if defined(__GNUC__)
#define DVK_ST_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define DVK_ST_PRINTF(fmt_index, first_arg)
#endif

typedef struct dvk_st_kv {
    char *key;
    char *value;
} dvk_st_kv;

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

/* Messages are one line, but paths may hold control characters. */
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

/* Names and metadata must be UTF-8 (the format says so, and readers check): overlong forms,
 * surrogates and code points above U+10FFFF are refused. */
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

/* The header JSON, written by hand: a growing buffer that remembers running out of memory. */
typedef struct dvk_st_text {
    char *p;
    size_t len, cap;
    bool failed;
} dvk_st_text;

static void dvk_st_put(dvk_st_text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (n > t->cap - t->len) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap - t->len < n) {
            if (cap > SIZE_MAX / 2) {
                t->failed = true;
                return;
            }
            cap *= 2;
        }
        char *grown = realloc(t->p, cap);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->p = grown;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
}

static void dvk_st_puts(dvk_st_text *t, const char *s) { dvk_st_put(t, s, strlen(s)); }

/* A JSON string: quotes, backslashes and control characters escaped; UTF-8 (checked when the
 * string was added) written as it is. */
static void dvk_st_put_string(dvk_st_text *t, const char *s)
{
    dvk_st_puts(t, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; ++p) {
        char esc[8];
        switch (*p) {
        case '"': dvk_st_puts(t, "\\\""); break;
        case '\\': dvk_st_puts(t, "\\\\"); break;
        case '\b': dvk_st_puts(t, "\\b"); break;
        case '\f': dvk_st_puts(t, "\\f"); break;
        case '\n': dvk_st_puts(t, "\\n"); break;
        case '\r': dvk_st_puts(t, "\\r"); break;
        case '\t': dvk_st_puts(t, "\\t"); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", (unsigned)*p);
                dvk_st_puts(t, esc);
            } else {
                dvk_st_put(t, (const char *)p, 1);
            }
        }
    }
    dvk_st_puts(t, "\"");
}

/* Integers as plain digits, which every reader takes as an integer. */
static void dvk_st_put_u64(dvk_st_text *t, uint64_t v)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRIu64, v);
    dvk_st_puts(t, text);
}

static void dvk_st_put_tensor(dvk_st_text *t, const dvk_st_wtensor *w, uint64_t begin)
{
    dvk_st_put_string(t, w->name);
    dvk_st_puts(t, ":{\"dtype\":");
    dvk_st_put_string(t, dvk_st_dtype_name(w->dtype));
    dvk_st_puts(t, ",\"shape\":[");
    for (uint32_t i = 0; i < w->ndim; ++i) {
        if (i)
            dvk_st_puts(t, ",");
        dvk_st_put_u64(t, w->shape[i]);
    }
    dvk_st_puts(t, "],\"data_offsets\":[");
    dvk_st_put_u64(t, begin);
    dvk_st_puts(t, ",");
    dvk_st_put_u64(t, begin + w->nbytes);
    dvk_st_puts(t, "]}");
}

/* The header JSON, padded with spaces to a multiple of 8 bytes so that the data buffer, which
 * follows the 8-byte length, starts 8-byte aligned. Metadata first, as the reference writer
 * does, then tensors in insertion order; no whitespace inside. */
static dvk_status dvk_st_writer_header(const dvk_st_writer *w, char **out, size_t *out_len)
{
    dvk_st_text t = {0};
    dvk_st_puts(&t, "{");
    if (w->meta_count > 0) {
        dvk_st_put_string(&t, DVK_ST_METADATA_KEY);
        dvk_st_puts(&t, ":{");
        for (size_t i = 0; i < w->meta_count; ++i) {
            if (i)
                dvk_st_puts(&t, ",");
            dvk_st_put_string(&t, w->meta[i].key);
            dvk_st_puts(&t, ":");
            dvk_st_put_string(&t, w->meta[i].value);
        }
        dvk_st_puts(&t, "}");
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->count; ++i) {
        if (i || w->meta_count > 0)
            dvk_st_puts(&t, ",");
        dvk_st_put_tensor(&t, &w->tensors[i], offset);
        offset += w->tensors[i].nbytes;
    }
    dvk_st_puts(&t, "}");
    while (t.len % 8 != 0)
        dvk_st_puts(&t, " ");
    if (t.failed) {
        free(t.p);
        return DVK_ERROR_OUT_OF_HOST_MEMORY;
    }
    *out = t.p;
    *out_len = t.len;
    return DVK_SUCCESS;
}

/* Writes all n bytes (write may take fewer, or be interrupted). */
static bool dvk_st_write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        const ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = EIO;
            return false;
        }
        b += k;
        n -= (size_t)k;
    }
    return true;
}

/* Creates a new file beside `target` (same directory, so the rename that replaces the target
 * is atomic), named ".<name>.tmp<pid>.<n>". O_EXCL: never an existing file; mode 0666 less
 * the umask, as fopen would give. Returns the descriptor, or -1 with errno set. */
static int dvk_st_create_temp(const char *target, char *tmp, size_t tmp_len)
{
    const char *slash = strrchr(target, '/');
    const int dir_len = slash ? (int)(slash - target) + 1 : 0;
    const char *base = slash ? slash + 1 : target;
    for (unsigned attempt = 0; attempt < 100; ++attempt) {
        const int n = snprintf(tmp, tmp_len, "%.*s.%s.tmp%ld.%u", dir_len, target, base,
                               (long)getpid(), attempt);
        if (n < 0 || (size_t)n >= tmp_len) {
            errno = ENAMETOOLONG;
            return -1;
        }
        const int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

/* The rename is durable once the directory's entry is: best effort (some file systems refuse
 * fsync on a directory, and the data are safe either way). */
static void dvk_st_sync_dir(const char *target)
{
    const char *slash = strrchr(target, '/');
    char dir[4096] = ".";
    if (slash) {
        const size_t n = slash == target ? 1 : (size_t)(slash - target);
        if (n >= sizeof dir)
            return;
        memcpy(dir, target, n);
        dir[n] = '\0';
    }
    const int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* The file that will be replaced: `path`, or what it links to; an existing target must be a
 * regular file (replacing /dev/null or a directory is never what was meant). *mode: the
 * existing file's permissions, or -1. */
static dvk_status dvk_st_resolve_target(const char *path, char **target, int *mode, char *err,
                                        size_t err_len)
{
    *target = NULL;
    *mode = -1;
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        if (errno != ENOENT)
            return dvk_st_fail(err, err_len, DVK_ERROR_IO, "%s: cannot stat: %s", path,
                               strerror(errno));
        *target = dvk_st_strdup(path);
        return *target ? DVK_SUCCESS
                       : dvk_st_fail(err, err_len, DVK_ERROR_OUT_OF_HOST_MEMORY,
                                     "%s: out of memory", path);
    }
    if (S_ISLNK(sb.st_mode)) { /* write where the link points; the link stays a link */
        *target = realpath(path, NULL);
        if (!*target)
            return dvk_st_fail(err, err_len, DVK_ERROR_IO, "%s: cannot follow the link: %s",
                               path, strerror(errno));
        if (stat(*target, &sb) != 0)
            sb.st_mode = S_IFREG | 0666;
    } else {
        *target = dvk_st_strdup(path);
        if (!*target)
            return dvk_st_fail(err, err_len, DVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of memory",
                               path);
    }
    if (!S_ISREG(sb.st_mode)) {
        free(*target);
        *target = NULL;
        return dvk_st_fail(err, err_len, DVK_ERROR_IO,
                           "%s: exists and is not a regular file (%s); not replaced", path,
                           S_ISDIR(sb.st_mode) ? "a directory" : "a device, pipe or socket");
    }
    /* rename() would replace a read-only file too (only the directory's permission counts);
     * a file its owner made read-only is refused, as writing it in place would be. */
    if (access(*target, W_OK) != 0) {
        const int e = errno;
        free(*target);
        *target = NULL;
        return dvk_st_fail(err, err_len, DVK_ERROR_IO, "%s: not writable: %s; not replaced",
                           path, strerror(e));
    }
    *mode = (int)(sb.st_mode & 07777);
    return DVK_SUCCESS;
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
    char *target = NULL;
    int mode = -1;
    st = dvk_st_resolve_target(path, &target, &mode, err, err_len);
    const size_t tmp_len = target ? strlen(target) + 64 : 0;
    char *tmp = target ? malloc(tmp_len) : NULL;
    if (st == DVK_SUCCESS && !tmp)
        st = dvk_st_fail(err, err_len, DVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of memory", path);
    const int fd = st == DVK_SUCCESS ? dvk_st_create_temp(target, tmp, tmp_len) : -1;
    if (st == DVK_SUCCESS && fd < 0)
        st = dvk_st_fail(err, err_len, DVK_ERROR_IO, "%s: cannot create a file beside it: %s",
                         path, strerror(errno));
    if (st == DVK_SUCCESS) {
        /* Spelled out byte by byte: the format fixes little-endian whatever the host is. */
        unsigned char len_bytes[8];
        for (int i = 0; i < 8; ++i)
            len_bytes[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
        bool ok = (mode < 0 || fchmod(fd, (mode_t)mode) == 0) &&
                  dvk_st_write_all(fd, len_bytes, sizeof len_bytes) &&
                  dvk_st_write_all(fd, header, header_len);
        for (size_t i = 0; ok && i < w->count; ++i)
            ok = dvk_st_write_all(fd, w->tensors[i].data, (size_t)w->tensors[i].nbytes);
        /* On the disk before the name points at it: a crash leaves the old file or the new
         * one, never a truncated one. A full disk may only show up here or at close. */
        ok = ok && fsync(fd) == 0;
        int saved_errno = errno;
        if (close(fd) != 0 && ok) {
            ok = false;
            saved_errno = errno;
        }
        if (ok && rename(tmp, target) != 0) {
            ok = false;
            saved_errno = errno;
        }
        if (ok) {
            dvk_st_sync_dir(target);
        } else {
            /* Only our own file goes: whatever `path` held before is as it was. */
            unlink(tmp);
            st = dvk_st_fail(err, err_len, DVK_ERROR_IO, "%s: write failed: %s (left as it was)",
                             path, strerror(saved_errno));
        }
    }
    free(tmp);
    free(target);
    free(header);
    return st;
}

/* One file under two names (another spelling, a link, a hard link): the same device and
 * inode. */
static bool dvk_st_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

dvk_status dvk_st_check_output(const char *out, const char *in, char *err, size_t err_len)
{
    if (!out || !in || !dvk_st_same_file(out, in))
        return DVK_SUCCESS;
    return dvk_st_fail(err, err_len, DVK_ERROR_INVALID_ARGUMENT,
                       "--out %s is the input %s (the same file): it would be replaced by the "
                       "outputs; choose another path",
                       out, in);
}
