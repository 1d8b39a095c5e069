/* The library's safetensors header parser (private; dvk_weights in weights.c is its user).
 *
 * A file is an 8-byte little-endian length N, N bytes of UTF-8 JSON (the header), then the data
 * buffer. dvk__sft_parse checks the whole header strictly — the rules are written in deltavk.h
 * above dvk_weights_desc — with a JSON parser of its own (RFC 8259, nothing accepted beyond it),
 * and gives back every tensor entry with its byte range already checked against the data
 * buffer and against every other entry. It reads only the header: the data are the caller's. */
#ifndef DVK_CORE_SAFETENSORS_H
#define DVK_CORE_SAFETENSORS_H

#include "deltavk.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A bigger length field is far more likely a corrupt or foreign file than a real header (the
 * reference implementation refuses the same). */
#define DVK_SFT_MAX_HEADER_BYTES 100000000u
/* Dimensions an entry may have (the file may list tensors beyond what a dvk_tensor holds). */
#define DVK_SFT_MAX_DIMS 8
/* Nesting of JSON arrays and objects, counting the header object as 1 (unknown fields of an
 * entry may hold any JSON value; this bounds the parser's recursion). */
#define DVK_SFT_MAX_DEPTH 64

/* The element types of the format that deltavk reads. */
typedef enum sft_dtype {
    SFT_F64,
    SFT_F32,
    SFT_F16,
    SFT_BF16,
    SFT_I64,
    SFT_I32,
    SFT_I16,
    SFT_I8,
    SFT_U8,
    SFT_BOOL,
    SFT_DTYPE_COUNT
} sft_dtype;

typedef struct sft_entry {
    const char *name; /* UTF-8, NUL-terminated, no NUL inside; in the header's string arena */
    sft_dtype dtype;
    uint32_t ndim;
    uint64_t shape[DVK_SFT_MAX_DIMS];
    uint64_t numel;  /* product of shape; 1 for 0 dimensions */
    uint64_t begin;  /* byte range in the data buffer; end - begin = numel * dtype size */
    uint64_t end;
} sft_entry;

typedef struct sft_meta {
    const char *key;
    const char *value;
} sft_meta;

typedef struct sft_header {
    dvk_allocator alloc;
    sft_entry *entries;  /* header order */
    uint32_t count, cap;
    const sft_entry **by_name; /* the entries sorted by name */
    sft_meta *meta;      /* sorted by key */
    uint32_t meta_count, meta_cap;
    char *strings;       /* the decoded strings (names, metadata) */
    uint64_t data_offset; /* where the data buffer starts in the file: 8 + N */
    uint64_t data_size;
} sft_header;

/* Parses and checks the header of the `size` bytes at `bytes` (the whole file, data included:
 * only the header is read, and the data size is what the ranges are checked against). On
 * failure returns DVK_ERROR_FORMAT (or OUT_OF_HOST_MEMORY) with a one-line message that starts
 * with `label` (the file's name), and leaves *out empty. */
dvk_status dvk__sft_parse(const dvk_allocator *alloc, const unsigned char *bytes, uint64_t size,
                          const char *label, sft_header *out);
void dvk__sft_free(sft_header *h);

/* The index of entry `name`, or UINT32_MAX. */
uint32_t dvk__sft_find(const sft_header *h, const char *name);
/* A metadata value, or NULL. */
const char *dvk__sft_metadata(const sft_header *h, const char *key);

/* "F32", "BF16", ... as the format names them. */
const char *dvk__sft_dtype_name(sft_dtype dtype);
size_t dvk__sft_dtype_size(sft_dtype dtype);
static inline bool dvk__sft_is_float(sft_dtype d)
{
    return d == SFT_F64 || d == SFT_F32 || d == SFT_F16 || d == SFT_BF16;
}

/* Copies a string into buf (at most len - 1 bytes, cut with "..." when longer) with control
 * characters replaced by '?': names from a file go into one-line messages. */
const char *dvk__sft_printable(const char *s, char *buf, size_t len);

#endif
