/* safetensors writer for the dvk tool (`dvk run --out`) and the tests.
 *
 * Format (https://huggingface.co/docs/safetensors): an 8-byte little-endian u64 N, then N bytes
 * of UTF-8 JSON, then the data buffer. The JSON is an object mapping each tensor name to
 *     {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
 * with offsets relative to the start of the data buffer, plus an optional "__metadata__" object
 * of string -> string.
 *
 * Files are read by the library: dvk_weights_load (deltavk.h), which also documents the rules a
 * header must follow. Files written here follow them, and more: the metadata come first, the
 * tensors follow in insertion order with their data packed in that order, the header is padded
 * with spaces so that the data start 8-byte aligned, and shapes and offsets stay below 2^53.
 *
 * Not thread-safe per object; separate writers may be used from separate threads. */
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

const char *dvk_st_dtype_name(dvk_st_dtype d); /* "F32" etc; "invalid" for a bad value */
size_t dvk_st_dtype_size(dvk_st_dtype d);      /* bytes per element; 0 for a bad value */

/* Builds a file in memory, then writes it in one go. */
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
/* Writes the file, safely: into a new file in the same directory, synced to the disk, then
 * renamed over `path` only when every byte is written (a link is followed: the file it names
 * is replaced, and keeps its permissions). DVK_ERROR_IO if anything fails, or if `path`
 * exists and is not a regular file; then the new file is removed and `path` (if it existed)
 * is left exactly as it was. err (if not NULL) receives a one-line message on failure. */
dvk_status dvk_st_writer_save(const dvk_st_writer *w, const char *path, char *err,
                              size_t err_len);
/* DVK_ERROR_INVALID_ARGUMENT, with a message in err, when the output path `out` names the
 * same file as the input `in` (the same device and inode: another spelling, a symbolic or a
 * hard link are caught); DVK_SUCCESS otherwise, also when either does not exist. A tool
 * calls it before any work, so that an output never replaces its own input. */
dvk_status dvk_st_check_output(const char *out, const char *in, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif

#endif /* DVK_TOOLS_SAFETENSORS_H */
