/* The chunks of a chunked form's call (chunk_tables.h). */
#include "ops/common/chunk_tables.h"

#include <string.h>

dvk_status dvk__chunk_tables_build(const dvk_context *ctx, const dvk__rec *r, uint32_t C,
                                   dvk__chunk_tables *t)
{
    memset(t, 0, sizeof *t);
    uint64_t count = 0;
    for (uint32_t n = 0; n < r->N; ++n) {
        const uint32_t len =
            r->cu_seqlens ? (uint32_t)(r->cu_seqlens[n + 1] - r->cu_seqlens[n]) : r->T;
        count += dvk__ceil_div(len, C);
    }
    if (count > (1u << 30))
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "too many chunks (%llu)",
                         (unsigned long long)count);
    t->count = (uint32_t)count;
    t->chunks = dvk__alloc(&ctx->alloc, sizeof(int32_t) * 2 * (count ? count : 1));
    t->seq = dvk__alloc(&ctx->alloc, sizeof(int32_t) * (r->N + 1));
    if (!t->chunks || !t->seq) {
        dvk__chunk_tables_free(ctx, t);
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    uint32_t c = 0;
    for (uint32_t n = 0; n < r->N; ++n) {
        const uint32_t bos = r->cu_seqlens ? (uint32_t)r->cu_seqlens[n] : n * r->T;
        const uint32_t eos = r->cu_seqlens ? (uint32_t)r->cu_seqlens[n + 1] : (n + 1) * r->T;
        t->seq[n] = (int32_t)c;
        for (uint32_t s = bos; s < eos; s += C, ++c) {
            t->chunks[2 * c] = (int32_t)s;
            t->chunks[2 * c + 1] = (int32_t)dvk__min_u32(C, eos - s);
        }
        t->max_chunks = dvk__max_u32(t->max_chunks, c - (uint32_t)t->seq[n]);
    }
    t->seq[r->N] = (int32_t)c;
    return DVK_SUCCESS;
}

void dvk__chunk_tables_free(const dvk_context *ctx, dvk__chunk_tables *t)
{
    dvk__free(&ctx->alloc, t->chunks);
    dvk__free(&ctx->alloc, t->seq);
    t->chunks = NULL;
    t->seq = NULL;
}

dvk_status dvk__chunk_tables_upload(dvk_cmd *cmd, const dvk__rec *r, const dvk__chunk_tables *t,
                                    dvk_binding *chunks, dvk_binding *seq)
{
    DVK_TRY(dvk__cmd_upload_scratch(cmd, t->chunks, sizeof(int32_t) * 2 * t->count, chunks));
    return dvk__cmd_upload_scratch(cmd, t->seq, sizeof(int32_t) * (r->N + 1), seq);
}
