/* dvk_cmd: recording dispatches and copies with the barriers they need, descriptor sets,
 * scratch memory, submission, and GPU timestamps. */
#include "core/internal.h"

#include <string.h>

typedef enum cmd_state {
    CMD_RECORDING,  /* accepts commands */
    CMD_EXECUTABLE, /* ended; may be submitted */
    CMD_PENDING,    /* submitted, not yet waited for */
} cmd_state;

typedef struct byte_range {
    VkBuffer buffer;
    VkDeviceSize begin, end;
} byte_range;

typedef struct pending_download {
    void *dst;
    const void *staging;
    size_t bytes;
} pending_download;

#define SETS_PER_POOL 64u

struct dvk_cmd {
    dvk_context *ctx;
    VkCommandPool pool;
    VkCommandBuffer cb;
    bool own_cb;
    /* dvk_cmd_desc.dry_run: calls check their arguments and build their pipelines, and
     * nothing is recorded, allocated or copied. */
    bool dry_run;
    VkFence fence;
    cmd_state state;
    bool submitted; /* submitted since the last reset (and so there is something to wait for) */

    VkDescriptorPool *dpools;
    uint32_t dpool_count, dpool_cap, dpool_current, sets_left;

    /* Since the last barrier: what was written and what was read. A new access that overlaps
     * a write (read-after-write, write-after-write) or writes over a read (write-after-read)
     * gets a barrier first. */
    byte_range *written, *read;
    uint32_t written_count, written_cap, read_count, read_cap;

    dvk_mem *held; /* staging memory, released on reset/destroy */
    uint32_t held_count, held_cap;

    /* The scratch arena: blocks handed out in order from (arena_block, arena_offset); marks
     * rewind that position. Blocks are kept across resets and freed on destroy. */
    dvk_mem *arena;
    uint32_t arena_count, arena_cap, arena_block;
    VkDeviceSize arena_offset;
    uint32_t epoch; /* counts resets: a mark from an earlier recording is refused */
    dvk_tensor **scratch; /* scratch tensors' host objects, freed on reset/destroy */
    uint32_t scratch_count, scratch_cap;
    pending_download *downloads;
    uint32_t download_count, download_cap;

    VkQueryPool queries;
    uint32_t ts_cap, ts_count;
    uint64_t *ts_values;
    bool ts_fetched;

    bool profile;                /* dvk_cmd_desc.profile_dispatches */
    const char **profile_names;  /* kernel of each profiled dispatch */
    uint32_t *profile_ts;        /* its first timestamp; the second follows */
    uint32_t profile_count, profile_cap, profile_ts_cap;
};

/* ---- recording state ---------------------------------------------------------------------- */

static dvk_status begin_recording(dvk_cmd *cmd)
{
    dvk_context *ctx = cmd->ctx;
    if (cmd->own_cb) {
        const VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
        DVK_VK_TRY(ctx->vk.vkBeginCommandBuffer(cmd->cb, &bi));
    }
    if (cmd->queries)
        ctx->vk.vkCmdResetQueryPool(cmd->cb, cmd->queries, 0, cmd->ts_cap);
    cmd->state = CMD_RECORDING;
    cmd->submitted = false;
    cmd->ts_count = 0;
    cmd->profile_count = 0;
    cmd->ts_fetched = false;
    return DVK_SUCCESS;
}

dvk_status dvk__cmd_check_recording(const dvk_cmd *cmd)
{
    if (!cmd)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "cmd is NULL");
    if (cmd->state != CMD_RECORDING)
        return dvk__fail(DVK_ERROR_INVALID_STATE,
                         "the dvk_cmd has been submitted; call dvk_cmd_reset() to record anew");
    return DVK_SUCCESS;
}

dvk_context *dvk__cmd_context(const dvk_cmd *cmd) { return cmd->ctx; }

dvk_context *dvk_cmd_context(const dvk_cmd *cmd) { return cmd ? cmd->ctx : NULL; }

dvk_status dvk_cmd_create(dvk_context *ctx, const dvk_cmd_desc *desc_in, dvk_cmd **out)
{
    if (!out)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "out_cmd is NULL");
    *out = NULL;
    if (!ctx)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "context is NULL");
    const dvk_cmd_desc desc = desc_in ? *desc_in : (dvk_cmd_desc){0};
    dvk_cmd *cmd = dvk__alloc(&ctx->alloc, sizeof *cmd);
    if (!cmd)
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    cmd->ctx = ctx;
    cmd->dry_run = desc.dry_run;
    dvk_status st = DVK_SUCCESS;
    VkResult r = VK_SUCCESS;

    if (desc.dry_run) {
        /* No command buffer, fence or query pool: nothing will be recorded or submitted. */
        if (desc.command_buffer)
            st = dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                           "a dry run records nothing: command_buffer must be VK_NULL_HANDLE");
    } else if (desc.command_buffer) {
        cmd->cb = desc.command_buffer;
    } else {
        cmd->own_cb = true;
        const VkCommandPoolCreateInfo pi = {
            .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
            .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
            .queueFamilyIndex = ctx->queue_family,
        };
        r = ctx->vk.vkCreateCommandPool(ctx->device, &pi, ctx->vk_alloc, &cmd->pool);
        if (r != VK_SUCCESS)
            st = dvk__fail_vk(r, "vkCreateCommandPool");
        if (st == DVK_SUCCESS) {
            const VkCommandBufferAllocateInfo ai = {
                .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                .commandPool = cmd->pool,
                .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                .commandBufferCount = 1,
            };
            r = ctx->vk.vkAllocateCommandBuffers(ctx->device, &ai, &cmd->cb);
            if (r != VK_SUCCESS)
                st = dvk__fail_vk(r, "vkAllocateCommandBuffers");
        }
        if (st == DVK_SUCCESS) {
            const VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
            r = ctx->vk.vkCreateFence(ctx->device, &fi, ctx->vk_alloc, &cmd->fence);
            if (r != VK_SUCCESS)
                st = dvk__fail_vk(r, "vkCreateFence");
        }
    }
    cmd->profile = desc.profile_dispatches && !desc.dry_run;
    if (cmd->profile && !ctx->info.timestamps)
        st = dvk__fail(DVK_ERROR_UNSUPPORTED, "profile_dispatches: the queue cannot write timestamps");
    if (ctx->info.timestamps)
        cmd->ts_cap = desc.max_timestamps ? desc.max_timestamps : (cmd->profile ? 1024 : 64);
    if (st == DVK_SUCCESS && ctx->info.timestamps && !cmd->dry_run) {
        const VkQueryPoolCreateInfo qi = {
            .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
            .queryType = VK_QUERY_TYPE_TIMESTAMP,
            .queryCount = cmd->ts_cap,
        };
        r = ctx->vk.vkCreateQueryPool(ctx->device, &qi, ctx->vk_alloc, &cmd->queries);
        if (r != VK_SUCCESS)
            st = dvk__fail_vk(r, "vkCreateQueryPool");
        if (st == DVK_SUCCESS) {
            cmd->ts_values = dvk__alloc(&ctx->alloc, sizeof(uint64_t) * cmd->ts_cap);
            if (!cmd->ts_values)
                st = dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
    }
    if (st == DVK_SUCCESS)
        st = begin_recording(cmd);
    if (st != DVK_SUCCESS) {
        dvk_cmd_destroy(cmd);
        return st;
    }
    *out = cmd;
    return DVK_SUCCESS;
}

static void release_resources(dvk_cmd *cmd)
{
    for (uint32_t i = 0; i < cmd->held_count; ++i)
        dvk__mem_free(cmd->ctx, &cmd->held[i]);
    cmd->held_count = 0;
    for (uint32_t i = 0; i < cmd->scratch_count; ++i)
        dvk__free(&cmd->ctx->alloc, cmd->scratch[i]);
    cmd->scratch_count = 0;
    cmd->arena_block = 0;
    cmd->arena_offset = 0;
    ++cmd->epoch;
    cmd->download_count = 0;
    cmd->written_count = cmd->read_count = 0;
    for (uint32_t i = 0; i < cmd->dpool_count; ++i)
        cmd->ctx->vk.vkResetDescriptorPool(cmd->ctx->device, cmd->dpools[i], 0);
    cmd->dpool_current = 0;
    cmd->sets_left = cmd->dpool_count ? SETS_PER_POOL : 0;
}

void dvk_cmd_destroy(dvk_cmd *cmd)
{
    if (!cmd)
        return;
    dvk_context *ctx = cmd->ctx;
    if (cmd->state == CMD_PENDING) /* never free what the GPU may still read */
        ctx->vk.vkWaitForFences(ctx->device, 1, &cmd->fence, VK_TRUE, UINT64_MAX);
    release_resources(cmd);
    for (uint32_t i = 0; i < cmd->arena_count; ++i)
        dvk__mem_free(ctx, &cmd->arena[i]);
    for (uint32_t i = 0; i < cmd->dpool_count; ++i)
        ctx->vk.vkDestroyDescriptorPool(ctx->device, cmd->dpools[i], ctx->vk_alloc);
    if (cmd->queries)
        ctx->vk.vkDestroyQueryPool(ctx->device, cmd->queries, ctx->vk_alloc);
    if (cmd->fence)
        ctx->vk.vkDestroyFence(ctx->device, cmd->fence, ctx->vk_alloc);
    if (cmd->pool)
        ctx->vk.vkDestroyCommandPool(ctx->device, cmd->pool, ctx->vk_alloc);
    dvk__free(&ctx->alloc, cmd->dpools);
    dvk__free(&ctx->alloc, cmd->written);
    dvk__free(&ctx->alloc, cmd->read);
    dvk__free(&ctx->alloc, cmd->held);
    dvk__free(&ctx->alloc, cmd->arena);
    dvk__free(&ctx->alloc, cmd->scratch);
    dvk__free(&ctx->alloc, cmd->downloads);
    dvk__free(&ctx->alloc, cmd->ts_values);
    dvk__free(&ctx->alloc, cmd->profile_names);
    dvk__free(&ctx->alloc, cmd->profile_ts);
    dvk__free(&ctx->alloc, cmd);
}

dvk_status dvk_cmd_reset(dvk_cmd *cmd)
{
    if (!cmd)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "cmd is NULL");
    dvk_context *ctx = cmd->ctx;
    if (cmd->state == CMD_PENDING)
        DVK_TRY(dvk_cmd_wait(cmd, 0));
    release_resources(cmd);
    if (cmd->own_cb)
        DVK_VK_TRY(ctx->vk.vkResetCommandBuffer(cmd->cb, 0));
    return begin_recording(cmd);
}

/* ---- barriers ------------------------------------------------------------------------------ */

static void record_barrier(dvk_cmd *cmd)
{
    const VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                         VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    const VkPipelineStageFlags stages =
        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    cmd->ctx->vk.vkCmdPipelineBarrier(cmd->cb, stages, stages, 0, 1, &mb, 0, NULL, 0, NULL);
    cmd->written_count = cmd->read_count = 0;
}

static bool overlaps(const byte_range *list, uint32_t n, const byte_range *r)
{
    for (uint32_t i = 0; i < n; ++i)
        if (list[i].buffer == r->buffer && list[i].begin < r->end && r->begin < list[i].end)
            return true;
    return false;
}

/* Barrier if needed, then remember these accesses. */
static dvk_status track(dvk_cmd *cmd, const dvk_binding *b, uint32_t n)
{
    bool hazard = false;
    for (uint32_t i = 0; i < n && !hazard; ++i) {
        const byte_range r = {b[i].buffer, b[i].offset, b[i].offset + b[i].range};
        hazard = overlaps(cmd->written, cmd->written_count, &r) ||
                 (b[i].write && overlaps(cmd->read, cmd->read_count, &r));
    }
    if (hazard)
        record_barrier(cmd);
    const dvk_allocator *a = &cmd->ctx->alloc;
    for (uint32_t i = 0; i < n; ++i) {
        const byte_range r = {b[i].buffer, b[i].offset, b[i].offset + b[i].range};
        if (b[i].write) {
            DVK_TRY(dvk__grow(a, (void **)&cmd->written, &cmd->written_cap,
                              cmd->written_count + 1, sizeof r));
            cmd->written[cmd->written_count++] = r;
        } else {
            DVK_TRY(dvk__grow(a, (void **)&cmd->read, &cmd->read_cap, cmd->read_count + 1,
                              sizeof r));
            cmd->read[cmd->read_count++] = r;
        }
    }
    return DVK_SUCCESS;
}

dvk_status dvk_cmd_barrier(dvk_cmd *cmd)
{
    DVK_TRY(dvk__cmd_check_recording(cmd));
    if (!cmd->dry_run)
        record_barrier(cmd);
    return DVK_SUCCESS;
}

/* ---- bindings and dispatch ---------------------------------------------------------------- */

dvk_binding dvk__bind_read(const dvk_tensor *t)
{
    return (dvk_binding){t->buffer, t->offset, t->bytes, false};
}

dvk_binding dvk__bind_write(const dvk_tensor *t)
{
    return (dvk_binding){t->buffer, t->offset, t->bytes, true};
}

dvk_binding dvk__bind_dummy(const dvk_cmd *cmd)
{
    const dvk_mem *d = &cmd->ctx->dummy;
    /* Marked as read: no kernel touches an unused binding, so it never needs a barrier. */
    return (dvk_binding){d->buffer, d->offset, d->size, false};
}

dvk_binding dvk__bind_dummy_write(const dvk_cmd *cmd)
{
    dvk_binding b = dvk__bind_dummy(cmd);
    b.write = true;
    return b;
}

static dvk_status hold(dvk_cmd *cmd, const dvk_mem *mem)
{
    dvk_status st = dvk__grow(&cmd->ctx->alloc, (void **)&cmd->held, &cmd->held_cap,
                              cmd->held_count + 1, sizeof *cmd->held);
    if (st != DVK_SUCCESS) {
        dvk_mem m = *mem;
        dvk__mem_free(cmd->ctx, &m);
        return st;
    }
    cmd->held[cmd->held_count++] = *mem;
    return DVK_SUCCESS;
}

/* ---- the scratch arena ------------------------------------------------------------------- */

#define ARENA_MIN_BLOCK ((VkDeviceSize)1 << 20)
#define ARENA_MAX_BLOCK ((VkDeviceSize)256 << 20)

/* Takes `bytes` from the arena: the first block at or after the current position with room
 * (blocks passed over stay unused until a mark rewinds to them), else a new block. */
static dvk_status arena_take(dvk_cmd *cmd, VkDeviceSize bytes, VkBuffer *buffer,
                             VkDeviceSize *offset, void **mapped)
{
    dvk_context *ctx = cmd->ctx;
    const VkDeviceSize align = ctx->caps.info.tensor_alignment;
    const VkDeviceSize size = (bytes + align - 1) / align * align;
    if (cmd->dry_run) {
        /* No memory: ranges of one unbounded block that is never bound, handed out, and taken
         * back by marks, as a real recording's are. So scratch tensors overlap exactly when
         * they would in the real recording, and the callers' alias checks agree with it. */
        const VkDeviceSize at = (cmd->arena_offset + align - 1) / align * align;
        cmd->arena_offset = at + size;
        *buffer = VK_NULL_HANDLE;
        *offset = at;
        *mapped = NULL;
        return DVK_SUCCESS;
    }
    for (uint32_t i = cmd->arena_block; i < cmd->arena_count; ++i) {
        const VkDeviceSize at =
            i == cmd->arena_block ? (cmd->arena_offset + align - 1) / align * align : 0;
        if (at <= cmd->arena[i].size && size <= cmd->arena[i].size - at) {
            cmd->arena_block = i;
            cmd->arena_offset = at + size;
            *buffer = cmd->arena[i].buffer;
            *offset = cmd->arena[i].offset + at;
            *mapped = cmd->arena[i].mapped ? (char *)cmd->arena[i].mapped + at : NULL;
            return DVK_SUCCESS;
        }
    }
    /* A new block: as large as all before it (so few blocks serve a long recording), within
     * [1 MiB, 256 MiB], and never smaller than the request. */
    VkDeviceSize total = 0;
    for (uint32_t i = 0; i < cmd->arena_count; ++i)
        total += cmd->arena[i].size;
    VkDeviceSize block = total < ARENA_MIN_BLOCK ? ARENA_MIN_BLOCK : total;
    if (block > ARENA_MAX_BLOCK)
        block = ARENA_MAX_BLOCK;
    if (block < size)
        block = size;
    DVK_TRY(dvk__grow(&ctx->alloc, (void **)&cmd->arena, &cmd->arena_cap, cmd->arena_count + 1,
                      sizeof *cmd->arena));
    dvk_mem mem;
    DVK_TRY(dvk__mem_alloc(ctx, block, DVK_MEM_DEVICE, &mem));
    cmd->arena[cmd->arena_count] = mem;
    cmd->arena_block = cmd->arena_count++;
    cmd->arena_offset = size;
    *buffer = mem.buffer;
    *offset = mem.offset;
    *mapped = mem.mapped;
    return DVK_SUCCESS;
}

dvk_status dvk__cmd_scratch(dvk_cmd *cmd, VkDeviceSize bytes, dvk_binding *out)
{
    dvk_context *ctx = cmd->ctx;
    if (bytes > ctx->caps.info.max_storage_buffer_range)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                         "scratch buffer of %llu bytes exceeds maxStorageBufferRange (%llu)",
                         (unsigned long long)bytes,
                         (unsigned long long)ctx->caps.info.max_storage_buffer_range);
    VkBuffer buffer;
    VkDeviceSize offset;
    void *mapped;
    DVK_TRY(arena_take(cmd, bytes ? bytes : 4, &buffer, &offset, &mapped));
    *out = (dvk_binding){buffer, offset, bytes ? bytes : 4, true};
    return DVK_SUCCESS;
}

dvk_status dvk_cmd_scratch_tensor(dvk_cmd *cmd, const dvk_tensor_desc *desc, dvk_tensor **out)
{
    if (!out)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "out_tensor is NULL");
    *out = NULL;
    DVK_TRY(dvk__cmd_check_recording(cmd));
    if (!desc)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "desc is NULL");
    if (desc->buffer)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "a scratch tensor cannot wrap a buffer (desc.buffer is set)");
    dvk_context *ctx = cmd->ctx;
    dvk_tensor d;
    DVK_TRY(dvk__tensor_describe(ctx, desc, &d));
    DVK_TRY(dvk__grow(&ctx->alloc, (void **)&cmd->scratch, &cmd->scratch_cap,
                      cmd->scratch_count + 1, sizeof *cmd->scratch));
    dvk_tensor *t = dvk__alloc(&ctx->alloc, sizeof *t);
    if (!t)
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    *t = d;
    dvk_status st = arena_take(cmd, t->bytes, &t->buffer, &t->offset, &t->mapped);
    if (st != DVK_SUCCESS) {
        dvk__free(&ctx->alloc, t);
        return st;
    }
    t->wrapped = true;
    t->scratch = true;
    cmd->scratch[cmd->scratch_count++] = t;
    *out = t;
    return DVK_SUCCESS;
}

dvk_scratch_mark dvk_cmd_scratch_mark(const dvk_cmd *cmd)
{
    if (!cmd)
        return (dvk_scratch_mark){0};
    return (dvk_scratch_mark){.offset_ = cmd->arena_offset, .block_ = cmd->arena_block,
                              .tensors_ = cmd->scratch_count, .epoch_ = cmd->epoch};
}

dvk_status dvk_cmd_scratch_release(dvk_cmd *cmd, dvk_scratch_mark mark)
{
    DVK_TRY(dvk__cmd_check_recording(cmd));
    if (mark.epoch_ != cmd->epoch || mark.tensors_ > cmd->scratch_count ||
        mark.block_ > cmd->arena_block ||
        (mark.block_ == cmd->arena_block && mark.offset_ > cmd->arena_offset))
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "scratch mark is not from this recording, or lies past the arena's "
                         "position (release inner marks before outer ones)");
    cmd->arena_block = mark.block_;
    cmd->arena_offset = mark.offset_;
    for (uint32_t i = mark.tensors_; i < cmd->scratch_count; ++i)
        cmd->scratch[i]->released = true;
    return DVK_SUCCESS;
}

uint64_t dvk_cmd_scratch_capacity(const dvk_cmd *cmd)
{
    uint64_t total = 0;
    for (uint32_t i = 0; cmd && i < cmd->arena_count; ++i)
        total += cmd->arena[i].size;
    return total;
}

static dvk_status allocate_set(dvk_cmd *cmd, VkDescriptorSetLayout layout, VkDescriptorSet *out)
{
    dvk_context *ctx = cmd->ctx;
    if (cmd->sets_left == 0) {
        if (cmd->dpool_count > 0 && cmd->dpool_current + 1 < cmd->dpool_count) {
            ++cmd->dpool_current; /* a pool kept from before a reset */
        } else {
            DVK_TRY(dvk__grow(&ctx->alloc, (void **)&cmd->dpools, &cmd->dpool_cap,
                              cmd->dpool_count + 1, sizeof *cmd->dpools));
            const VkDescriptorPoolSize size = {
                .type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                .descriptorCount = SETS_PER_POOL * DVK_MAX_BINDINGS,
            };
            const VkDescriptorPoolCreateInfo pi = {
                .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                .maxSets = SETS_PER_POOL,
                .poolSizeCount = 1,
                .pPoolSizes = &size,
            };
            DVK_VK_TRY(ctx->vk.vkCreateDescriptorPool(ctx->device, &pi, ctx->vk_alloc,
                                                      &cmd->dpools[cmd->dpool_count]));
            cmd->dpool_current = cmd->dpool_count++;
        }
        cmd->sets_left = SETS_PER_POOL;
    }
    const VkDescriptorSetAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = cmd->dpools[cmd->dpool_current],
        .descriptorSetCount = 1,
        .pSetLayouts = &layout,
    };
    DVK_VK_TRY(ctx->vk.vkAllocateDescriptorSets(ctx->device, &ai, out));
    --cmd->sets_left;
    return DVK_SUCCESS;
}

dvk_status dvk__cmd_dispatch(dvk_cmd *cmd, const dvk_pipeline *p, const dvk_binding *bindings,
                             const void *push, uint32_t gx, uint32_t gy, uint32_t gz)
{
    DVK_TRY(dvk__cmd_check_recording(cmd));
    dvk_context *ctx = cmd->ctx;
    const uint32_t *max = ctx->caps.info.max_workgroup_count;
    if (gx > max[0] || gy > max[1] || gz > max[2])
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                         "dispatch of %u x %u x %u workgroups exceeds the device's maximum "
                         "%u x %u x %u",
                         gx, gy, gz, max[0], max[1], max[2]);
    if (gx == 0 || gy == 0 || gz == 0 || cmd->dry_run) /* a dry run: `p` is built, that is all */
        return DVK_SUCCESS;
    for (uint32_t i = 0; i < p->binding_count; ++i)
        if (!bindings[i].buffer)
            return dvk__fail(DVK_ERROR_INVALID_STATE,
                             "kernel %s: binding %u is a scratch tensor of a dry run (it has no "
                             "memory)",
                             p->name, i);
    DVK_TRY(track(cmd, bindings, p->binding_count));

    VkDescriptorSet set;
    DVK_TRY(allocate_set(cmd, p->set_layout, &set));
    VkDescriptorBufferInfo infos[DVK_MAX_BINDINGS];
    VkWriteDescriptorSet writes[DVK_MAX_BINDINGS];
    for (uint32_t i = 0; i < p->binding_count; ++i) {
        infos[i] = (VkDescriptorBufferInfo){bindings[i].buffer, bindings[i].offset,
                                            bindings[i].range};
        writes[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set,
            .dstBinding = i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &infos[i],
        };
    }
    ctx->vk.vkUpdateDescriptorSets(ctx->device, p->binding_count, writes, 0, NULL);
    ctx->vk.vkCmdBindPipeline(cmd->cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    ctx->vk.vkCmdBindDescriptorSets(cmd->cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set,
                                    0, NULL);
    if (p->push_size)
        ctx->vk.vkCmdPushConstants(cmd->cb, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                                   p->push_size, push);
    uint32_t t0 = 0, t1 = 0;
    if (cmd->profile) {
        DVK_TRY(dvk__grow(&ctx->alloc, (void **)&cmd->profile_names, &cmd->profile_cap,
                          cmd->profile_count + 1, sizeof *cmd->profile_names));
        DVK_TRY(dvk__grow(&ctx->alloc, (void **)&cmd->profile_ts, &cmd->profile_ts_cap,
                          cmd->profile_count + 1, sizeof *cmd->profile_ts));
        DVK_TRY(dvk_cmd_timestamp(cmd, &t0));
    }
    ctx->vk.vkCmdDispatch(cmd->cb, gx, gy, gz);
    if (cmd->profile) {
        DVK_TRY(dvk_cmd_timestamp(cmd, &t1));
        cmd->profile_names[cmd->profile_count] = p->name;
        cmd->profile_ts[cmd->profile_count++] = t0;
    }
    return DVK_SUCCESS;
}

dvk_status dvk_cmd_dispatch(dvk_cmd *cmd, const dvk_dispatch_desc *desc)
{
    DVK_TRY(dvk__cmd_check_recording(cmd));
    if (!desc || !desc->kernel)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", desc ? "kernel" : "desc");
    const dvk_pipeline *p = desc->kernel;
    if (p->push_size && !desc->push)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "kernel %s takes %u bytes of push constants, but push is NULL", p->name,
                         p->push_size);
    dvk_binding b[DVK_MAX_BINDINGS];
    for (uint32_t i = 0; i < p->binding_count; ++i) {
        const dvk_tensor *t = desc->tensors[i];
        if (!t) {
            /* A writable binding left empty is tracked as a write to the dummy, so later
             * dispatches that bind it are ordered after this one (synchronization validation
             * sees a writable binding as written, whatever the kernel does). */
            b[i] = dvk__bind_dummy(cmd);
            b[i].write = desc->write_mask >> i & 1u;
            continue;
        }
        if (t->ctx != cmd->ctx)
            return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                             "kernel %s: binding %u belongs to another context", p->name, i);
        if (t->released)
            return dvk__fail(DVK_ERROR_INVALID_STATE,
                             "kernel %s: binding %u is a scratch tensor whose region was "
                             "released",
                             p->name, i);
        b[i] = desc->write_mask >> i & 1u ? dvk__bind_write(t) : dvk__bind_read(t);
    }
    return dvk__cmd_dispatch(cmd, p, b, desc->push, desc->groups[0],
                             desc->groups[1] ? desc->groups[1] : 1,
                             desc->groups[2] ? desc->groups[2] : 1);
}

/* ---- copies --------------------------------------------------------------------------------- */

static dvk_status check_copy_args(const dvk_cmd *cmd, const dvk_tensor *t, const void *p,
                                  size_t bytes)
{
    DVK_TRY(dvk__cmd_check_recording(cmd));
    if (!t || !p)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", t ? "host pointer" : "tensor");
    if (t->ctx != cmd->ctx)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "tensor belongs to another context");
    DVK_TRY(dvk__check_live("tensor", t));
    if (!t->buffer && !cmd->dry_run)
        return dvk__fail(DVK_ERROR_INVALID_STATE,
                         "tensor is a scratch tensor of a dry run: it has no memory");
    if (bytes != t->bytes)
        return dvk__fail(DVK_ERROR_SHAPE_MISMATCH, "copy of %zu bytes, but the tensor holds %llu",
                         bytes, (unsigned long long)t->bytes);
    return DVK_SUCCESS;
}

/* Records a copy of the whole tensor from fresh staging memory, whose host pointer it returns
 * for the caller to fill before the recording is submitted. */
static dvk_status upload_from_staging(dvk_cmd *cmd, dvk_tensor *t, void **out)
{
    dvk_context *ctx = cmd->ctx;
    dvk_mem staging;
    DVK_TRY(dvk__mem_alloc(ctx, t->bytes, DVK_MEM_STAGING, &staging));
    DVK_TRY(hold(cmd, &staging));
    const dvk_binding b = dvk__bind_write(t);
    DVK_TRY(track(cmd, &b, 1));
    const VkBufferCopy region = {staging.offset, t->offset, t->bytes};
    ctx->vk.vkCmdCopyBuffer(cmd->cb, staging.buffer, t->buffer, 1, &region);
    *out = staging.mapped;
    return DVK_SUCCESS;
}

dvk_status dvk_cmd_upload(dvk_cmd *cmd, dvk_tensor *t, const void *src, size_t bytes)
{
    DVK_TRY(check_copy_args(cmd, t, src, bytes));
    if (cmd->dry_run)
        return DVK_SUCCESS;
    void *staging;
    DVK_TRY(upload_from_staging(cmd, t, &staging));
    memcpy(staging, src, bytes);
    return DVK_SUCCESS;
}

dvk_status dvk__cmd_upload_map(dvk_cmd *cmd, dvk_tensor *t, void **out)
{
    DVK_TRY(dvk__cmd_check_recording(cmd));
    if (!t || !out || t->ctx != cmd->ctx)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "upload of a NULL or foreign tensor");
    DVK_TRY(dvk__check_live("tensor", t));
    if (cmd->dry_run)
        return dvk__fail(DVK_ERROR_INVALID_STATE, "a dry run has no staging memory to map");
    return upload_from_staging(cmd, t, out);
}

dvk_status dvk__cmd_upload_scratch(dvk_cmd *cmd, const void *data, size_t bytes,
                                  dvk_binding *out)
{
    DVK_TRY(dvk__cmd_check_recording(cmd));
    dvk_binding dst;
    DVK_TRY(dvk__cmd_scratch(cmd, bytes, &dst));
    if (cmd->dry_run) {
        *out = dst;
        out->write = false;
        return DVK_SUCCESS;
    }
    dvk_mem staging;
    DVK_TRY(dvk__mem_alloc(cmd->ctx, bytes, DVK_MEM_STAGING, &staging));
    DVK_TRY(hold(cmd, &staging));
    memcpy(staging.mapped, data, bytes);
    DVK_TRY(track(cmd, &dst, 1));
    const VkBufferCopy region = {staging.offset, dst.offset, bytes};
    cmd->ctx->vk.vkCmdCopyBuffer(cmd->cb, staging.buffer, dst.buffer, 1, &region);
    *out = dst;
    out->write = false;
    return DVK_SUCCESS;
}

dvk_status dvk_cmd_download(dvk_cmd *cmd, const dvk_tensor *t, void *dst, size_t bytes)
{
    DVK_TRY(check_copy_args(cmd, t, dst, bytes));
    if (cmd->dry_run) /* `dst` is never written */
        return DVK_SUCCESS;
    if (!cmd->own_cb)
        return dvk__fail(DVK_ERROR_INVALID_STATE,
                         "dvk_cmd_download needs deltavk's own command buffer (it copies the "
                         "data out in dvk_cmd_wait)");
    dvk_context *ctx = cmd->ctx;
    dvk_mem staging;
    DVK_TRY(dvk__mem_alloc(ctx, bytes, DVK_MEM_STAGING, &staging));
    DVK_TRY(hold(cmd, &staging));
    DVK_TRY(dvk__grow(&ctx->alloc, (void **)&cmd->downloads, &cmd->download_cap,
                      cmd->download_count + 1, sizeof *cmd->downloads));
    const dvk_binding b = dvk__bind_read(t);
    DVK_TRY(track(cmd, &b, 1));
    const VkBufferCopy region = {t->offset, staging.offset, bytes};
    ctx->vk.vkCmdCopyBuffer(cmd->cb, t->buffer, staging.buffer, 1, &region);
    cmd->downloads[cmd->download_count++] = (pending_download){dst, staging.mapped, bytes};
    return DVK_SUCCESS;
}

dvk_status dvk_cmd_fill_zero(dvk_cmd *cmd, dvk_tensor *t)
{
    DVK_TRY(dvk__cmd_check_recording(cmd));
    if (!t)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "tensor is NULL");
    if (t->ctx != cmd->ctx)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "tensor belongs to another context");
    DVK_TRY(dvk__check_live("tensor", t));
    if (!t->buffer && !cmd->dry_run)
        return dvk__fail(DVK_ERROR_INVALID_STATE,
                         "tensor is a scratch tensor of a dry run: it has no memory");
    /* vkCmdFillBuffer writes whole 4-byte words. Our own allocations (scratch too) are padded;
     * a wrapped buffer or a view may not be. */
    VkDeviceSize size = t->bytes;
    if (t->wrapped && !t->scratch && (size % 4 || t->offset % 4))
        return dvk__fail(DVK_ERROR_UNSUPPORTED, "fill_zero of a wrapped tensor needs its size "
                                                "and offset to be multiples of 4 bytes");
    if (cmd->dry_run)
        return DVK_SUCCESS;
    size = (size + 3) & ~(VkDeviceSize)3;
    const dvk_binding b = {t->buffer, t->offset, size, true};
    DVK_TRY(track(cmd, &b, 1));
    cmd->ctx->vk.vkCmdFillBuffer(cmd->cb, t->buffer, t->offset, size, 0);
    return DVK_SUCCESS;
}

/* ---- submission ------------------------------------------------------------------------------ */

dvk_status dvk_cmd_submit(dvk_cmd *cmd)
{
    if (!cmd)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "cmd is NULL");
    dvk_context *ctx = cmd->ctx;
    if (cmd->dry_run)
        return dvk__fail(DVK_ERROR_INVALID_STATE, "a dry run recorded nothing to submit");
    if (!cmd->own_cb)
        return dvk__fail(DVK_ERROR_INVALID_STATE,
                         "this dvk_cmd records into the caller's command buffer: submit it "
                         "yourself");
    if (cmd->state == CMD_PENDING)
        return dvk__fail(DVK_ERROR_INVALID_STATE, "already submitted: call dvk_cmd_wait() first");
    if (cmd->state == CMD_RECORDING) {
        /* Everything written becomes visible to the host once the fence signals: downloads'
         * staging copies, and tensors that unified-memory devices read back with memcpy. */
        const VkMemoryBarrier mb = {
            .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
            .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_SHADER_WRITE_BIT,
            .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
        };
        ctx->vk.vkCmdPipelineBarrier(cmd->cb,
                                     VK_PIPELINE_STAGE_TRANSFER_BIT |
                                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                     VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
        DVK_VK_TRY(ctx->vk.vkEndCommandBuffer(cmd->cb));
        cmd->state = CMD_EXECUTABLE;
    }
    DVK_VK_TRY(ctx->vk.vkResetFences(ctx->device, 1, &cmd->fence));
    DVK_TRY(dvk__queue_submit(ctx, cmd->cb, cmd->fence));
    cmd->state = CMD_PENDING;
    cmd->submitted = true;
    cmd->ts_fetched = false;
    return DVK_SUCCESS;
}

static dvk_status fetch_timestamps(dvk_cmd *cmd, bool wait)
{
    if (cmd->ts_fetched || cmd->ts_count == 0)
        return DVK_SUCCESS;
    dvk_context *ctx = cmd->ctx;
    const VkResult r = ctx->vk.vkGetQueryPoolResults(
        ctx->device, cmd->queries, 0, cmd->ts_count, sizeof(uint64_t) * cmd->ts_count,
        cmd->ts_values, sizeof(uint64_t),
        VK_QUERY_RESULT_64_BIT | (wait ? VK_QUERY_RESULT_WAIT_BIT : 0));
    if (r == VK_NOT_READY)
        return dvk__fail(DVK_ERROR_INVALID_STATE, "the timestamps are not written yet");
    if (r != VK_SUCCESS)
        return dvk__fail_vk(r, "vkGetQueryPoolResults");
    cmd->ts_fetched = true;
    return DVK_SUCCESS;
}

dvk_status dvk_cmd_wait(dvk_cmd *cmd, uint64_t timeout_ns)
{
    if (!cmd)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "cmd is NULL");
    if (cmd->dry_run)
        return dvk__fail(DVK_ERROR_INVALID_STATE, "a dry run is never submitted");
    if (!cmd->own_cb)
        return dvk__fail(DVK_ERROR_INVALID_STATE,
                         "this dvk_cmd records into the caller's command buffer: wait on your "
                         "own fence");
    if (cmd->state == CMD_RECORDING || !cmd->submitted)
        return dvk__fail(DVK_ERROR_INVALID_STATE, "nothing submitted: call dvk_cmd_submit()");
    if (cmd->state == CMD_EXECUTABLE)
        return DVK_SUCCESS; /* already waited for */
    dvk_context *ctx = cmd->ctx;
    const VkResult r = ctx->vk.vkWaitForFences(ctx->device, 1, &cmd->fence, VK_TRUE,
                                               timeout_ns ? timeout_ns : UINT64_MAX);
    if (r == VK_TIMEOUT)
        return dvk__fail(DVK_ERROR_TIMEOUT, "the GPU work did not finish within %llu ns",
                         (unsigned long long)timeout_ns);
    if (r != VK_SUCCESS)
        return dvk__fail_vk(r, "vkWaitForFences");
    cmd->state = CMD_EXECUTABLE;
    for (uint32_t i = 0; i < cmd->download_count; ++i)
        memcpy(cmd->downloads[i].dst, cmd->downloads[i].staging, cmd->downloads[i].bytes);
    return fetch_timestamps(cmd, true);
}

/* ---- timestamps ---------------------------------------------------------------------------- */

dvk_status dvk_cmd_timestamp(dvk_cmd *cmd, uint32_t *out_index)
{
    DVK_TRY(dvk__cmd_check_recording(cmd));
    if (!out_index)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "out_index is NULL");
    if (!cmd->queries && !(cmd->dry_run && cmd->ts_cap))
        return dvk__fail(DVK_ERROR_UNSUPPORTED, "the device's queue cannot write timestamps");
    if (cmd->ts_count >= cmd->ts_cap)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                         "more than %u timestamps (raise dvk_cmd_desc.max_timestamps)",
                         cmd->ts_cap);
    if (cmd->dry_run) {
        *out_index = cmd->ts_count++;
        return DVK_SUCCESS;
    }
    cmd->ctx->vk.vkCmdWriteTimestamp(cmd->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, cmd->queries,
                                     cmd->ts_count);
    *out_index = cmd->ts_count++;
    return DVK_SUCCESS;
}

dvk_status dvk_cmd_elapsed_ms(const dvk_cmd *cmd_in, uint32_t begin, uint32_t end,
                              double *out_ms)
{
    if (!cmd_in || !out_ms)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", cmd_in ? "out_ms" : "cmd");
    dvk_cmd *cmd = (dvk_cmd *)cmd_in; /* fetching results lazily is not a visible change */
    if (cmd->dry_run)
        return dvk__fail(DVK_ERROR_INVALID_STATE, "a dry run has no timestamps to read");
    if (begin >= cmd->ts_count || end >= cmd->ts_count || end < begin)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "timestamps %u..%u: indices out of range or out of order (have %u)",
                         begin, end, cmd->ts_count);
    if (cmd->state == CMD_RECORDING && cmd->own_cb)
        return dvk__fail(DVK_ERROR_INVALID_STATE, "not submitted yet");
    if (cmd->state == CMD_PENDING)
        return dvk__fail(DVK_ERROR_INVALID_STATE, "call dvk_cmd_wait() first");
    DVK_TRY(fetch_timestamps(cmd, false));
    /* The counter has timestamp_valid_bits bits and may wrap between the two. */
    const uint32_t bits = cmd->ctx->caps.timestamp_valid_bits;
    const uint64_t mask = bits >= 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1;
    const uint64_t ticks = (cmd->ts_values[end] - cmd->ts_values[begin]) & mask;
    *out_ms = (double)ticks * cmd->ctx->info.timestamp_period_ns * 1e-6;
    return DVK_SUCCESS;
}

uint32_t dvk_cmd_profile_count(const dvk_cmd *cmd) { return cmd ? cmd->profile_count : 0; }

dvk_status dvk_cmd_profile_entry(const dvk_cmd *cmd, uint32_t i, const char **out_kernel,
                                 double *out_ms)
{
    if (!cmd || !out_kernel || !out_ms)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "NULL argument");
    if (i >= cmd->profile_count)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "profile entry %u of %u", i,
                         cmd->profile_count);
    *out_kernel = cmd->profile_names[i];
    return dvk_cmd_elapsed_ms(cmd, cmd->profile_ts[i], cmd->profile_ts[i] + 1, out_ms);
}
