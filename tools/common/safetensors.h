/* safetensors reader and writer for the dvk tool and the tests.
 *
 * Format (https://huggingface.co/docs/safetensors): an 8-byte little-endian u64 N, then N bytes
 * of UTF-8 JSON, then the data buffer. The JSON is an object mapping each tensor name to
 *     {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
 * with offsets relative to the start of the data buffer, plus an optional "__metadata__" object
 * of string -> string.
 *
 * Reading copies the whole file into memory and validates every header entry before handing
 * anything back, so a dvk_st_tensor's data pointer is always inside the loaded bytes and
 * nbytes == numel * dvk_st_dtype_size(dtype). Choices where the format leaves room:
 *   - tensors are listed (dvk_st_get) in the order the header lists them;
 *   - overlapping byte ranges are rejected; gaps between tensors and bytes after the last one
 *     are accepted (the reference implementation rejects those too; nothing is lost by
 *     reading them, and files written here never have them);
 *   - duplicate tensor names or metadata keys are rejected;
 *   - the header may be padded with trailing JSON whitespace; anything else after the JSON
 *     value, invalid UTF-8, control bytes other than tab/CR/LF, or a header longer than
 *     100,000,000 bytes is rejected;
 *   - integers (shape, offsets) must be integral JSON numbers in [0, 2^53); cJSON keeps numbers
 *     as doubles, and above 2^53 a double no longer says which integer was written;
 *   - "__metadata__" must be an object of string values (null counts as no metadata);
 *     unknown fields in a tensor entry are ignored;
 *   - dtypes other than those in dvk_st_dtype (U16, U32, U64, F8_*, ...) are rejected.
 * A tensor's data pointer is only as aligned as the file makes it (files written here and by
 * the reference writer keep the data buffer 8-byte aligned, but an offset may be odd): read
 * elements with memcpy, or use dvk_st_to_f32 / dvk_st_to_i64.
 *
 * Not thread-safe per object; separate objects may be used from separate threads, except that
 * cJSON records its last parse error in a process-wide variable. */
#ifndef DVK_TOOLS_SAFETENSORS_H
#define DVK_TOOLS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "deltavk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dvk_st_dtype {
    DVK_ST_F64,
    DVK_ST_F32,
    DVK_ST_F16,
    DVK_ST_BF16,
    DVK_ST_I64,
    DVK_ST_I32,
    DVK_ST_I16,
    DVK_ST_I8,
    DVK_ST_U8,
    DVK_ST_BOOL
} dvk_st_dtype;

#define DVK_ST_MAX_DIMS 8

typedef struct dvk_st_tensor {
    const char *name;
    dvk_st_dtype dtype;
    uint32_t ndim;                   /* 0 = scalar */
    uint64_t shape[DVK_ST_MAX_DIMS]; /* entries past ndim are 0 */
    uint64_t numel;                  /* product of shape; 1 for a scalar */
    const void *data;                /* points into the file's loaded bytes; maybe unaligned */
    uint64_t nbytes;                 /* numel * dvk_st_dtype_size(dtype) */
} dvk_st_tensor;

typedef struct dvk_st_file dvk_st_file; /* opaque */

/* Reads and validates a whole file. On failure returns DVK_ERROR_IO for open/read errors,
 * DVK_ERROR_FORMAT for anything malformed, DVK_ERROR_OUT_OF_HOST_MEMORY, or
 * DVK_ERROR_INVALID_ARGUMENT for NULL path/out, sets *out to NULL, and writes a one-line human
 * message into err (if err != NULL and err_len > 0). */
dvk_status dvk_st_read(const char *path, dvk_st_file **out, char *err, size_t err_len);
/* Same from a memory buffer, which is copied (the caller may free it at once). */
dvk_status dvk_st_parse(const void *bytes, size_t len, dvk_st_file **out, char *err,
                        size_t err_len);
void dvk_st_free(dvk_st_file *f); /* NULL ok */

/* Tensors in header order. The pointers live as long as the file object. */
size_t dvk_st_count(const dvk_st_file *f);
const dvk_st_tensor *dvk_st_get(const dvk_st_file *f, size_t i);          /* NULL if i >= count */
const dvk_st_tensor *dvk_st_find(const dvk_st_file *f, const char *name); /* NULL if absent */
const char *dvk_st_metadata(const dvk_st_file *f, const char *key);       /* NULL if absent */

const char *dvk_st_dtype_name(dvk_st_dtype d); /* "F32" etc; "invalid" for a bad value */
size_t dvk_st_dtype_size(dvk_st_dtype d);      /* bytes per element; 0 for a bad value */

/* Converts all elements to float (F64/F32/F16/BF16/integers/bool; bool gives 0 or 1, any
 * nonzero byte counting as true). dst has t->numel floats. Large integers round. */
void dvk_st_to_f32(const dvk_st_tensor *t, float *dst);
/* Converts to int64 for integer/bool dtypes; DVK_ERROR_UNSUPPORTED_DTYPE for float dtypes,
 * DVK_ERROR_INVALID_ARGUMENT for NULL arguments. dst has t->numel entries. */
dvk_status dvk_st_to_i64(const dvk_st_tensor *t, int64_t *dst);

/* Builds a file in memory, then writes it in one go. Tensors are laid out in insertion order;
 * the header is padded with spaces so the data buffer starts 8-byte aligned. */
typedef struct dvk_st_writer dvk_st_writer;
dvk_status dvk_st_writer_create(dvk_st_writer **out);
void dvk_st_writer_destroy(dvk_st_writer *w); /* NULL ok */
/* Adds a tensor; name and data are copied (data holds numel * dtype_size bytes and may be NULL
 * when that is 0). DVK_ERROR_INVALID_ARGUMENT for a duplicate name, the reserved name
 * "__metadata__", a name that is not UTF-8, a bad dtype, ndim > DVK_ST_MAX_DIMS, or sizes that
 * overflow or reach 2^53 bytes in total. */
dvk_status dvk_st_writer_add(dvk_st_writer *w, const char *name, dvk_st_dtype dtype,
                             uint32_t ndim, const uint64_t *shape, const void *data);
/* Sets (or replaces) one metadata entry; both strings are copied and must be UTF-8. */
dvk_status dvk_st_writer_set_metadata(dvk_st_writer *w, const char *key, const char *value);
/* Writes the file. DVK_ERROR_IO if any write or the close fails; a partly written file is
 * removed. */
dvk_status dvk_st_writer_save(const dvk_st_writer *w, const char *path, char *err,
                              size_t err_len);

#ifdef __cplusplus
}
#endif

#endif /* DVK_TOOLS_SAFETENSORS_H */
