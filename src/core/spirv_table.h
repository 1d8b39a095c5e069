/* The SPIR-V blobs glslc built, embedded by cmake/embed_spirv.cmake into dvk_spirv.c. */
#ifndef DVK_SPIRV_TABLE_H
#define DVK_SPIRV_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dvk_spirv_blob {
    const char *name; /* "<family>/<stage>_<variant>", e.g. "delta_rule/recurrent_f16" */
    const uint32_t *code;
    size_t size; /* bytes */
} dvk_spirv_blob;

extern const dvk_spirv_blob dvk_spirv_blobs[];
extern const size_t dvk_spirv_blob_count;

#endif
