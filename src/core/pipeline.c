/* Compute pipelines: built lazily from the embedded SPIR-V, one per (blob, specialization),
 * cached in the context, and backed by a VkPipelineCache that can persist on disk. */
#include "core/internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

/* A cached pipeline. The key's code pointer identifies the SPIR-V (library kernels are keyed by
 * their table entry's code, so both ways of naming one kernel meet in one entry). */
struct dvk_pipeline_entry {
    dvk_pipeline_key key;
    dvk_pipeline pipeline;
    char name[64];
};

/* Descriptor-set and pipeline layouts depend only on the binding count and push size. */
struct dvk_layout_entry {
    uint32_t binding_count;
    uint32_t push_size;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
};

bool dvk__kernel_available(dvk_ops_kernel kernel)
{
    return kernel > DVK_OPS_K_NONE && kernel < DVK_OPS_K_COUNT &&
           (dvk_ops_kernel_table[kernel].code || dvk_ops_kernel_table[kernel].code_khr);
}

/* Fills in the code of a library kernel (and checks it was built), leaving kernel = NONE so
 * keys compare by code. A cooperative-matrix kernel takes its build for the context's
 * extension and subgroup size. */
static dvk_status resolve(const dvk_context *ctx, const dvk_pipeline_key *in,
                          dvk_pipeline_key *out)
{
    *out = *in;
    if (in->kernel == DVK_OPS_K_NONE) {
        if (!in->code || in->code_size == 0 || in->code_size % 4)
            return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                             "kernel %s: SPIR-V code is NULL or not a whole number of words",
                             in->name ? in->name : "kernel");
        return DVK_SUCCESS;
    }
    if (in->kernel < DVK_OPS_K_NONE || in->kernel >= DVK_OPS_K_COUNT)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "kernel id %d out of range", (int)in->kernel);
    const dvk_ops_kernel_blob *b = &dvk_ops_kernel_table[in->kernel];
    const bool khr = b->coopmat && ctx->info.cooperative_matrix_path == DVK_COOPMAT_KHR;
    const uint32_t *code = khr ? b->code_khr : b->code;
    if (!code)
        return dvk__fail(DVK_ERROR_UNSUPPORTED,
                         "kernel %s%s is not in this build (its GLSL compiler lacked an "
                         "extension)",
                         b->name, khr ? " (KHR cooperative matrices)" : "");
    out->kernel = DVK_OPS_K_NONE;
    out->code = code;
    out->code_size = khr ? b->size_khr : b->size;
    out->name = b->name;
    if (b->coopmat)
        out->subgroup_size = ctx->info.cooperative_matrix_subgroup_size;
    return DVK_SUCCESS;
}

static bool key_equal(const dvk_pipeline_key *a, const dvk_pipeline_key *b)
{
    return a->code == b->code && a->code_size == b->code_size &&
           a->subgroup_size == b->subgroup_size &&
           a->binding_count == b->binding_count && a->push_size == b->push_size &&
           a->spec_count == b->spec_count &&
           memcmp(a->spec, b->spec, a->spec_count * sizeof a->spec[0]) == 0;
}

/* Called with ctx->lock held. */
static dvk_status get_layout(dvk_context *ctx, uint32_t bindings, uint32_t push_size,
                             const dvk_layout_entry **out)
{
    for (uint32_t i = 0; i < ctx->layout_count; ++i) {
        if (ctx->layouts[i].binding_count == bindings && ctx->layouts[i].push_size == push_size) {
            *out = &ctx->layouts[i];
            return DVK_SUCCESS;
        }
    }
    DVK_TRY(dvk__grow(&ctx->alloc, (void **)&ctx->layouts, &ctx->layout_cap, ctx->layout_count + 1,
                      sizeof *ctx->layouts));
    dvk_layout_entry e = {.binding_count = bindings, .push_size = push_size};
    VkDescriptorSetLayoutBinding b[DVK_MAX_BINDINGS];
    for (uint32_t i = 0; i < bindings; ++i)
        b[i] = (VkDescriptorSetLayoutBinding){
            .binding = i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    const VkDescriptorSetLayoutCreateInfo dsl = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = bindings,
        .pBindings = b,
    };
    DVK_VK_TRY(ctx->vk.vkCreateDescriptorSetLayout(ctx->device, &dsl, ctx->vk_alloc,
                                                   &e.set_layout));
    const VkPushConstantRange range = {
        .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        .offset = 0,
        .size = push_size,
    };
    const VkPipelineLayoutCreateInfo pl = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &e.set_layout,
        .pushConstantRangeCount = push_size ? 1 : 0,
        .pPushConstantRanges = &range,
    };
    VkResult r = ctx->vk.vkCreatePipelineLayout(ctx->device, &pl, ctx->vk_alloc, &e.layout);
    if (r != VK_SUCCESS) {
        ctx->vk.vkDestroyDescriptorSetLayout(ctx->device, e.set_layout, ctx->vk_alloc);
        return dvk__fail_vk(r, "vkCreatePipelineLayout");
    }
    ctx->layouts[ctx->layout_count] = e;
    *out = &ctx->layouts[ctx->layout_count++];
    return DVK_SUCCESS;
}

/* Logs how long the driver took to build a pipeline and what its compiler reports of it
 * (registers, spills, ...) where it can. */
static void log_statistics(dvk_context *ctx, const dvk_pipeline_key *key, VkPipeline pipeline,
                           double build_ms)
{
    const VkPipelineExecutableInfoKHR exe = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR,
        .pipeline = pipeline,
        .executableIndex = 0,
    };
    VkPipelineExecutableStatisticKHR stats[32];
    uint32_t n = 32;
    for (uint32_t i = 0; i < n; ++i)
        stats[i] = (VkPipelineExecutableStatisticKHR){
            .sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR};
    if (!ctx->pipeline_stats || !ctx->vk.vkGetPipelineExecutableStatisticsKHR ||
        ctx->vk.vkGetPipelineExecutableStatisticsKHR(ctx->device, &exe, &n, stats) < 0)
        n = 0;
    char line[1024];
    size_t len = (size_t)snprintf(line, sizeof line, "pipeline %s [", key->name);
    for (uint32_t i = 0; i < key->spec_count && len < sizeof line; ++i)
        len += (size_t)snprintf(line + len, sizeof line - len, "%s%u", i ? "," : "", key->spec[i]);
    if (len < sizeof line)
        len += (size_t)snprintf(line + len, sizeof line - len, "] built in %.1f ms%s", build_ms,
                                n ? ":" : "");
    for (uint32_t i = 0; i < n && len < sizeof line; ++i) {
        const VkPipelineExecutableStatisticKHR *s = &stats[i];
        switch (s->format) {
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR:
            len += (size_t)snprintf(line + len, sizeof line - len, "%s %s=%llu", i ? "," : "",
                                    s->name, (unsigned long long)s->value.u64);
            break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR:
            len += (size_t)snprintf(line + len, sizeof line - len, "%s %s=%lld", i ? "," : "",
                                    s->name, (long long)s->value.i64);
            break;
        default:
            break;
        }
    }
    dvk__log(ctx, DVK_LOG_WARNING, "%s", line);
}

/* Called with ctx->lock held; `key` is resolved (code set). */
static dvk_status build(dvk_context *ctx, const dvk_pipeline_key *key, const char *name,
                        dvk_pipeline *out)
{
    if (key->binding_count > DVK_MAX_BINDINGS || key->spec_count > DVK_MAX_SPEC ||
        key->push_size > DVK_MAX_PUSH)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "kernel %s: %u bindings, %u specialization constants, %u bytes of push "
                         "constants: at most %d, %d and %d",
                         name, key->binding_count, key->spec_count, key->push_size,
                         DVK_MAX_BINDINGS, DVK_MAX_SPEC, DVK_MAX_PUSH);
    if (key->push_size > ctx->caps.max_push_constants_size)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED,
                         "kernel %s needs %u bytes of push constants; the device has %u", name,
                         key->push_size, ctx->caps.max_push_constants_size);
    const dvk_layout_entry *layout = NULL;
    DVK_TRY(get_layout(ctx, key->binding_count, key->push_size, &layout));

    const VkShaderModuleCreateInfo smi = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = key->code_size,
        .pCode = key->code,
    };
    VkShaderModule module;
    DVK_VK_TRY(ctx->vk.vkCreateShaderModule(ctx->device, &smi, ctx->vk_alloc, &module));

    VkSpecializationMapEntry entries[DVK_MAX_SPEC];
    for (uint32_t i = 0; i < key->spec_count; ++i)
        entries[i] = (VkSpecializationMapEntry){
            .constantID = i,
            .offset = i * (uint32_t)sizeof(uint32_t),
            .size = sizeof(uint32_t),
        };
    const VkSpecializationInfo spec = {
        .mapEntryCount = key->spec_count,
        .pMapEntries = entries,
        .dataSize = key->spec_count * sizeof(uint32_t),
        .pData = key->spec,
    };
    const VkPipelineShaderStageRequiredSubgroupSizeCreateInfo sg_size = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO,
        .requiredSubgroupSize = key->subgroup_size,
    };
    const VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .flags = ctx->pipeline_stats ? VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR : 0,
        .stage =
            {
                .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .pNext = key->subgroup_size ? &sg_size : NULL,
                .flags = key->subgroup_size
                             ? VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT
                             : 0,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = module,
                .pName = "main",
                .pSpecializationInfo = key->spec_count ? &spec : NULL,
            },
        .layout = layout->layout,
    };
    VkPipeline pipeline;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    VkResult r = ctx->vk.vkCreateComputePipelines(ctx->device, ctx->pipeline_cache, 1, &ci,
                                                  ctx->vk_alloc, &pipeline);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ctx->vk.vkDestroyShaderModule(ctx->device, module, ctx->vk_alloc);
    if (r != VK_SUCCESS)
        return dvk__fail_vk(r, "vkCreateComputePipelines");
    if (ctx->pipeline_times)
        log_statistics(ctx, key, pipeline,
                       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    *out = (dvk_pipeline){
        .name = name,
        .pipeline = pipeline,
        .layout = layout->layout,
        .set_layout = layout->set_layout,
        .binding_count = key->binding_count,
        .push_size = key->push_size,
    };
    return DVK_SUCCESS;
}

dvk_status dvk__pipeline_get(dvk_context *ctx, const dvk_pipeline_key *key_in,
                             const dvk_pipeline **out)
{
    dvk_pipeline_key key;
    DVK_TRY(resolve(ctx, key_in, &key));
    dvk__mutex_lock(&ctx->lock);
    for (uint32_t i = 0; i < ctx->pipeline_count; ++i) {
        if (key_equal(&ctx->pipelines[i]->key, &key)) {
            *out = &ctx->pipelines[i]->pipeline;
            dvk__mutex_unlock(&ctx->lock);
            return DVK_SUCCESS;
        }
    }
    /* Entries are allocated one by one and never move: an operator may hold several pipeline
     * pointers while another thread adds more. */
    dvk_status st = dvk__grow(&ctx->alloc, (void **)&ctx->pipelines, &ctx->pipeline_cap,
                              ctx->pipeline_count + 1, sizeof *ctx->pipelines);
    dvk_pipeline_entry *e = NULL;
    if (st == DVK_SUCCESS) {
        e = dvk__alloc(&ctx->alloc, sizeof *e);
        if (!e)
            st = dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    if (st == DVK_SUCCESS) {
        snprintf(e->name, sizeof e->name, "%s", key.name ? key.name : "kernel");
        key.name = e->name;
        st = build(ctx, &key, e->name, &e->pipeline);
    }
    if (st == DVK_SUCCESS) {
        e->key = key;
        ctx->pipelines[ctx->pipeline_count++] = e;
        *out = &e->pipeline;
    } else {
        dvk__free(&ctx->alloc, e);
    }
    dvk__mutex_unlock(&ctx->lock);
    return st;
}

dvk_status dvk_kernel_get(dvk_context *ctx, const dvk_kernel_desc *desc, const dvk_kernel **out)
{
    if (!out)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "out_kernel is NULL");
    *out = NULL;
    if (!ctx || !desc)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", ctx ? "desc" : "context");
    if (desc->spec_count > DVK_MAX_SPEC || (desc->spec_count && !desc->spec))
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "kernel %s: %u specialization constants (at most %d, spec non-NULL)",
                         desc->name ? desc->name : "kernel", desc->spec_count, DVK_MAX_SPEC);
    const uint32_t sg = desc->required_subgroup_size;
    if (sg) {
        const dvk_device_info *hw = &ctx->caps.info;
        if (sg & (sg - 1))
            return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                             "kernel %s: required_subgroup_size %u is not a power of two",
                             desc->name ? desc->name : "kernel", sg);
        if (!ctx->enabled_subgroup_size_control || !ctx->caps.feat_full_subgroups ||
            !(ctx->caps.required_subgroup_stages & VK_SHADER_STAGE_COMPUTE_BIT) ||
            sg < hw->min_subgroup_size || sg > hw->max_subgroup_size)
            return dvk__fail(DVK_ERROR_UNSUPPORTED,
                             "kernel %s: required_subgroup_size %u: the context %s (subgroups "
                             "of %u to %u)",
                             desc->name ? desc->name : "kernel", sg,
                             ctx->enabled_subgroup_size_control && ctx->caps.feat_full_subgroups
                                 ? "cannot give that size"
                                 : "has no subgroup size control with full subgroups",
                             hw->min_subgroup_size, hw->max_subgroup_size);
    }
    dvk_pipeline_key key = {
        .kernel = DVK_OPS_K_NONE,
        .code = desc->spirv,
        .code_size = desc->spirv_size,
        .name = desc->name,
        .binding_count = desc->binding_count,
        .push_size = desc->push_size,
        .spec_count = desc->spec_count,
        .subgroup_size = sg,
    };
    for (uint32_t i = 0; i < desc->spec_count; ++i)
        key.spec[i] = desc->spec[i];
    return dvk__pipeline_get(ctx, &key, out);
}

uint32_t dvk_context_pipeline_count(const dvk_context *ctx)
{
    return ctx ? ctx->pipeline_count : 0;
}

/* ---- the on-disk pipeline cache ----------------------------------------------------------- */

/* The header every VkPipelineCache blob starts with (VK_PIPELINE_CACHE_HEADER_VERSION_ONE).
 * A blob from another driver or device is dropped here rather than handed to the driver. */
static bool cache_header_matches(const dvk_context *ctx, const unsigned char *data, size_t len)
{
    if (len < 32)
        return false;
    uint32_t header_size, version, vendor, device;
    memcpy(&header_size, data, 4);
    memcpy(&version, data + 4, 4);
    memcpy(&vendor, data + 8, 4);
    memcpy(&device, data + 12, 4);
    return header_size >= 32 && header_size <= len &&
           version == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
           vendor == ctx->caps.info.vendor_id && device == ctx->caps.info.device_id &&
           memcmp(data + 16, ctx->caps.pipeline_cache_uuid, VK_UUID_SIZE) == 0;
}

static unsigned char *read_file(const dvk_context *ctx, const char *path, size_t *len)
{
    *len = 0;
    /* Only a regular file is a cache: O_NONBLOCK so that a FIFO opens at once (instead of
     * waiting for a writer) and is passed over like a device. */
    const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat sb;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return NULL;
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return NULL;
    }
    unsigned char *data = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size > 0 && size < (1L << 30) && fseek(f, 0, SEEK_SET) == 0) {
        data = dvk__alloc(&ctx->alloc, (size_t)size);
        if (data && fread(data, 1, (size_t)size, f) != (size_t)size) {
            dvk__free(&ctx->alloc, data);
            data = NULL;
        }
    }
    fclose(f);
    *len = data ? (size_t)size : 0;
    return data;
}

dvk_status dvk__pipeline_cache_init(dvk_context *ctx, const char *path)
{
    size_t len = 0;
    unsigned char *data = NULL;
    if (path) {
        const size_t n = strlen(path) + 1;
        ctx->pipeline_cache_path = dvk__alloc(&ctx->alloc, n);
        if (!ctx->pipeline_cache_path)
            return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        memcpy(ctx->pipeline_cache_path, path, n);
        data = read_file(ctx, path, &len);
        if (data && !cache_header_matches(ctx, data, len)) {
            dvk__log(ctx, DVK_LOG_WARNING,
                     "pipeline cache %s is from another device or driver, or damaged; ignored",
                     path);
            dvk__free(&ctx->alloc, data);
            data = NULL;
            len = 0;
        }
    }
    const VkPipelineCacheCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
        .initialDataSize = len,
        .pInitialData = data,
    };
    VkResult r = ctx->vk.vkCreatePipelineCache(ctx->device, &ci, ctx->vk_alloc,
                                               &ctx->pipeline_cache);
    if (r != VK_SUCCESS && data) { /* the driver refused the data: start empty */
        dvk__log(ctx, DVK_LOG_WARNING, "pipeline cache %s rejected by the driver; ignored", path);
        const VkPipelineCacheCreateInfo empty = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
        };
        r = ctx->vk.vkCreatePipelineCache(ctx->device, &empty, ctx->vk_alloc,
                                          &ctx->pipeline_cache);
    }
    dvk__free(&ctx->alloc, data);
    if (r != VK_SUCCESS)
        return dvk__fail_vk(r, "vkCreatePipelineCache");
    return DVK_SUCCESS;
}

dvk_status dvk_context_save_pipeline_cache(dvk_context *ctx)
{
    if (!ctx)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "context is NULL");
    if (!ctx->pipeline_cache_path)
        return dvk__fail(DVK_ERROR_INVALID_STATE, "the context was created without a "
                                                  "pipeline_cache_path");
    dvk__mutex_lock(&ctx->lock);
    size_t len = 0;
    VkResult r = ctx->vk.vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &len, NULL);
    unsigned char *data = r == VK_SUCCESS ? dvk__alloc(&ctx->alloc, len ? len : 1) : NULL;
    if (data)
        r = ctx->vk.vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &len, data);
    dvk__mutex_unlock(&ctx->lock);
    if (r != VK_SUCCESS) {
        dvk__free(&ctx->alloc, data);
        return dvk__fail_vk(r, "vkGetPipelineCacheData");
    }
    if (!data)
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");

    /* Write beside the target and rename, so a crash never leaves a half-written cache. */
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", ctx->pipeline_cache_path);
    dvk_status st = DVK_SUCCESS;
    if (n < 0 || (size_t)n >= sizeof tmp) {
        st = dvk__fail(DVK_ERROR_IO, "pipeline cache path too long");
    } else {
        FILE *f = fopen(tmp, "wb");
        if (!f) {
            st = dvk__fail(DVK_ERROR_IO, "cannot write %s", tmp);
        } else {
            const bool ok = fwrite(data, 1, len, f) == len;
            if (fclose(f) != 0 || !ok || rename(tmp, ctx->pipeline_cache_path) != 0) {
                remove(tmp);
                st = dvk__fail(DVK_ERROR_IO, "cannot write %s", ctx->pipeline_cache_path);
            }
        }
    }
    dvk__free(&ctx->alloc, data);
    return st;
}

void dvk__pipelines_destroy(dvk_context *ctx)
{
    if (ctx->pipeline_cache_path && ctx->pipeline_cache) {
        if (dvk_context_save_pipeline_cache(ctx) != DVK_SUCCESS)
            dvk__log(ctx, DVK_LOG_WARNING, "%s", dvk_last_error());
    }
    for (uint32_t i = 0; i < ctx->pipeline_count; ++i) {
        ctx->vk.vkDestroyPipeline(ctx->device, ctx->pipelines[i]->pipeline.pipeline,
                                  ctx->vk_alloc);
        dvk__free(&ctx->alloc, ctx->pipelines[i]);
    }
    for (uint32_t i = 0; i < ctx->layout_count; ++i) {
        ctx->vk.vkDestroyPipelineLayout(ctx->device, ctx->layouts[i].layout, ctx->vk_alloc);
        ctx->vk.vkDestroyDescriptorSetLayout(ctx->device, ctx->layouts[i].set_layout,
                                             ctx->vk_alloc);
    }
    if (ctx->pipeline_cache)
        ctx->vk.vkDestroyPipelineCache(ctx->device, ctx->pipeline_cache, ctx->vk_alloc);
    dvk__free(&ctx->alloc, ctx->pipelines);
    dvk__free(&ctx->alloc, ctx->layouts);
    dvk__free(&ctx->alloc, ctx->pipeline_cache_path);
    ctx->pipelines = NULL;
    ctx->layouts = NULL;
    ctx->pipeline_cache_path = NULL;
    ctx->pipeline_count = ctx->layout_count = 0;
}
