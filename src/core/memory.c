/* Device memory: a few large VkDeviceMemory blocks, each bound to one VkBuffer, carved into
 * ranges. A tensor is (block buffer, offset, size), so a model with hundreds of small tensors
 * makes a handful of vkAllocateMemory calls, far under maxMemoryAllocationCount. */
#include "core/internal.h"

#include <string.h>

#define DVK_BLOCK_SIZE ((VkDeviceSize)64 << 20)

typedef struct dvk_free_range {
    VkDeviceSize offset;
    VkDeviceSize size;
} dvk_free_range;

struct dvk_mem_block {
    dvk_mem_block *next;
    VkDeviceMemory memory;
    VkBuffer buffer;
    VkDeviceSize size;
    VkDeviceSize used;
    void *mapped;
    bool dedicated;            /* made for one large allocation; freed when that is */
    dvk_free_range *free;      /* sorted by offset, never adjacent (coalesced) */
    uint32_t free_count, free_cap;
};

static VkDeviceSize align_up(VkDeviceSize x, VkDeviceSize a) { return (x + a - 1) / a * a; }

static VkDeviceSize alignment(const dvk_context *ctx) { return ctx->caps.info.tensor_alignment; }

/* Picks the memory type for a kind among `bits`: required flags must all be present; among
 * those, the most preferred flags win. */
static uint32_t pick_memory_type(const dvk_context *ctx, dvk_mem_kind kind, uint32_t bits)
{
    VkMemoryPropertyFlags required, preferred;
    if (kind == DVK_MEM_STAGING) {
        required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
        preferred = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    } else if (ctx->caps.info.unified_memory) {
        required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
        preferred = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    } else {
        required = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
        preferred = 0;
    }
    const VkPhysicalDeviceMemoryProperties *mp = &ctx->caps.memory;
    uint32_t best = UINT32_MAX;
    int best_score = -1;
    for (uint32_t i = 0; i < mp->memoryTypeCount; ++i) {
        if (!(bits & (1u << i)))
            continue;
        const VkMemoryPropertyFlags f = mp->memoryTypes[i].propertyFlags;
        if ((f & required) != required)
            continue;
        int score = (f & preferred) == preferred ? 2 : 0;
        /* Device memory that is also host-visible is scarce (BAR) on discrete GPUs. */
        if (kind == DVK_MEM_DEVICE && !ctx->caps.info.unified_memory &&
            !(f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
            score += 1;
        if (score > best_score) {
            best_score = score;
            best = i;
        }
    }
    return best;
}

static void block_destroy(dvk_context *ctx, dvk_mem_block *b)
{
    if (!b)
        return;
    if (b->buffer)
        ctx->vk.vkDestroyBuffer(ctx->device, b->buffer, ctx->vk_alloc);
    if (b->memory)
        ctx->vk.vkFreeMemory(ctx->device, b->memory, ctx->vk_alloc);
    dvk__free(&ctx->alloc, b->free);
    dvk__free(&ctx->alloc, b);
}

static dvk_status block_create(dvk_context *ctx, dvk_mem_kind kind, VkDeviceSize size,
                               bool dedicated, dvk_mem_block **out)
{
    dvk_mem_block *b = dvk__alloc(&ctx->alloc, sizeof *b);
    if (!b)
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    b->size = size;
    b->dedicated = dedicated;
    const VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                 VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = ctx->vk.vkCreateBuffer(ctx->device, &bi, ctx->vk_alloc, &b->buffer);
    if (r != VK_SUCCESS) {
        block_destroy(ctx, b);
        return dvk__fail_vk(r, "vkCreateBuffer");
    }
    VkMemoryRequirements req;
    ctx->vk.vkGetBufferMemoryRequirements(ctx->device, b->buffer, &req);
    uint32_t type = pick_memory_type(ctx, kind, req.memoryTypeBits);
    if (type == UINT32_MAX) {
        block_destroy(ctx, b);
        return dvk__fail(DVK_ERROR_UNSUPPORTED, "no suitable memory type for %s memory",
                         kind == DVK_MEM_STAGING ? "staging" : "tensor");
    }
    const VkMemoryAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = type,
    };
    r = ctx->vk.vkAllocateMemory(ctx->device, &ai, ctx->vk_alloc, &b->memory);
    if (r != VK_SUCCESS) {
        block_destroy(ctx, b);
        return dvk__fail_vk(r, "vkAllocateMemory");
    }
    r = ctx->vk.vkBindBufferMemory(ctx->device, b->buffer, b->memory, 0);
    if (r != VK_SUCCESS) {
        block_destroy(ctx, b);
        return dvk__fail_vk(r, "vkBindBufferMemory");
    }
    if (ctx->caps.memory.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        r = ctx->vk.vkMapMemory(ctx->device, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped);
        if (r != VK_SUCCESS) {
            block_destroy(ctx, b);
            return dvk__fail_vk(r, "vkMapMemory");
        }
    }
    dvk_status st = dvk__grow(&ctx->alloc, (void **)&b->free, &b->free_cap, 1, sizeof *b->free);
    if (st != DVK_SUCCESS) {
        block_destroy(ctx, b);
        return st;
    }
    b->free[0] = (dvk_free_range){0, size};
    b->free_count = 1;
    *out = b;
    return DVK_SUCCESS;
}

/* First fit within one block. */
static bool block_take(dvk_mem_block *b, VkDeviceSize size, VkDeviceSize align,
                       VkDeviceSize *out_offset)
{
    for (uint32_t i = 0; i < b->free_count; ++i) {
        dvk_free_range *f = &b->free[i];
        const VkDeviceSize start = align_up(f->offset, align);
        if (start + size > f->offset + f->size)
            continue;
        /* Alignment waste in front stays free only if our ranges are always aligned, which
         * they are (sizes are rounded to the alignment), so start == f->offset. */
        *out_offset = start;
        const VkDeviceSize end = start + size;
        f->size = f->offset + f->size - end;
        f->offset = end;
        if (f->size == 0) {
            memmove(f, f + 1, (b->free_count - i - 1) * sizeof *f);
            --b->free_count;
        }
        b->used += size;
        return true;
    }
    return false;
}

static dvk_status block_give(dvk_context *ctx, dvk_mem_block *b, VkDeviceSize offset,
                             VkDeviceSize size)
{
    uint32_t i = 0;
    while (i < b->free_count && b->free[i].offset < offset)
        ++i;
    const bool join_prev = i > 0 && b->free[i - 1].offset + b->free[i - 1].size == offset;
    const bool join_next = i < b->free_count && offset + size == b->free[i].offset;
    b->used -= size;
    if (join_prev && join_next) {
        b->free[i - 1].size += size + b->free[i].size;
        memmove(&b->free[i], &b->free[i + 1], (b->free_count - i - 1) * sizeof *b->free);
        --b->free_count;
    } else if (join_prev) {
        b->free[i - 1].size += size;
    } else if (join_next) {
        b->free[i].offset = offset;
        b->free[i].size += size;
    } else {
        DVK_TRY(dvk__grow(&ctx->alloc, (void **)&b->free, &b->free_cap, b->free_count + 1,
                          sizeof *b->free));
        memmove(&b->free[i + 1], &b->free[i], (b->free_count - i) * sizeof *b->free);
        b->free[i] = (dvk_free_range){offset, size};
        ++b->free_count;
    }
    return DVK_SUCCESS;
}

dvk_status dvk__mem_alloc(dvk_context *ctx, VkDeviceSize size, dvk_mem_kind kind, dvk_mem *out)
{
    memset(out, 0, sizeof *out);
    if (size == 0)
        size = 1;
    const VkDeviceSize align = alignment(ctx);
    const VkDeviceSize rounded = align_up(size, align);
    if (ctx->caps.max_memory_allocation_size && rounded > ctx->caps.max_memory_allocation_size)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                         "allocation of %llu bytes exceeds maxMemoryAllocationSize (%llu)",
                         (unsigned long long)rounded,
                         (unsigned long long)ctx->caps.max_memory_allocation_size);

    dvk__mutex_lock(&ctx->lock);
    dvk_status st = DVK_SUCCESS;
    dvk_mem_block *block = NULL;
    VkDeviceSize offset = 0;
    for (dvk_mem_block *b = ctx->pool.blocks[kind]; b && !block; b = b->next)
        if (!b->dedicated && block_take(b, rounded, align, &offset))
            block = b;
    if (!block) {
        /* Large requests get a block of their own so they do not strand a shared one. */
        const bool dedicated = rounded > DVK_BLOCK_SIZE / 2;
        st = block_create(ctx, kind, dedicated ? rounded : DVK_BLOCK_SIZE, dedicated, &block);
        if (st == DVK_SUCCESS) {
            block->next = ctx->pool.blocks[kind];
            ctx->pool.blocks[kind] = block;
            block_take(block, rounded, align, &offset);
        }
    }
    dvk__mutex_unlock(&ctx->lock);
    DVK_TRY(st);
    out->block = block;
    out->buffer = block->buffer;
    out->offset = offset;
    out->size = rounded;
    out->mapped = block->mapped ? (char *)block->mapped + offset : NULL;
    return DVK_SUCCESS;
}

void dvk__mem_free(dvk_context *ctx, dvk_mem *mem)
{
    if (!mem || !mem->block)
        return;
    dvk__mutex_lock(&ctx->lock);
    dvk_mem_block *b = mem->block;
    dvk_status st = block_give(ctx, b, mem->offset, mem->size);
    if (st != DVK_SUCCESS)
        dvk__log(ctx, DVK_LOG_WARNING, "leaking %llu bytes of device memory: %s",
                 (unsigned long long)mem->size, dvk_last_error());
    /* Release empty blocks, but keep one shared block of each kind for reuse. */
    if (b->used == 0) {
        for (int k = 0; k < DVK_MEM_KIND_COUNT; ++k) {
            dvk_mem_block **link = &ctx->pool.blocks[k];
            while (*link && *link != b)
                link = &(*link)->next;
            if (!*link)
                continue;
            bool keep = !b->dedicated;
            if (keep) { /* another empty shared block of this kind makes this one redundant */
                for (dvk_mem_block *o = ctx->pool.blocks[k]; o; o = o->next)
                    if (o != b && !o->dedicated && o->used == 0)
                        keep = false;
            }
            if (!keep) {
                *link = b->next;
                block_destroy(ctx, b);
            }
        }
    }
    dvk__mutex_unlock(&ctx->lock);
    memset(mem, 0, sizeof *mem);
}

void dvk__mem_pool_destroy(dvk_context *ctx)
{
    for (int k = 0; k < DVK_MEM_KIND_COUNT; ++k) {
        dvk_mem_block *b = ctx->pool.blocks[k];
        while (b) {
            dvk_mem_block *next = b->next;
            block_destroy(ctx, b);
            b = next;
        }
        ctx->pool.blocks[k] = NULL;
    }
}
