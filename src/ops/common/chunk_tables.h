/* The chunks of a chunked form's call (chunk_tables.c): every sequence cut into chunks of C
 * tokens, none crossing a sequence boundary, described to the kernels by two small tables. */
#ifndef DVK_OPS_COMMON_CHUNK_TABLES_H
#define DVK_OPS_COMMON_CHUNK_TABLES_H

#include "ops/common/problem.h"

/* The chunks of every sequence, in order; none crosses a sequence boundary. */
typedef struct dvk__chunk_tables {
    int32_t *chunks; /* 2 per chunk: first packed token, length */
    int32_t *seq;    /* N + 1 offsets into the chunks */
    uint32_t count;
    uint32_t max_chunks; /* of one sequence */
} dvk__chunk_tables;

dvk_status dvk__chunk_tables_build(const dvk_context *ctx, const dvk__rec *r, uint32_t C,
                                   dvk__chunk_tables *t);
void dvk__chunk_tables_free(const dvk_context *ctx, dvk__chunk_tables *t);
/* Uploads both tables into scratch memory. */
dvk_status dvk__chunk_tables_upload(dvk_cmd *cmd, const dvk__rec *r, const dvk__chunk_tables *t,
                                    dvk_binding *chunks, dvk_binding *seq);

#endif
